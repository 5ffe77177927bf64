"""Hostile and malformed files, each imported end to end with pipeline.import_file into a fresh DB.

Every case ends one of three ways: imported (rows stored or quarantined with reasons), or refused
with a clear ImportRefused message and nothing stored. Whatever happens, counts reconcile, the
database agrees with the import record, and importing the same file again adds nothing.
The corpus is built by tests/hostile/corpus.py; see docs/hostile-input.md.
"""

from __future__ import annotations

import io
import json
import time
import tracemalloc
import zipfile
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from hostile import corpus

from hoth_geo import store
from hoth_geo.intake import files, parsers, pipeline
from hoth_geo.intake.files import ImportRefused
from hoth_geo.intake.gazetteer import load_gazetteer
from hoth_geo.schema import TEMPLATE_COLUMNS

TODAY = date(2025, 6, 30)
HOSTILE = Path(__file__).resolve().parents[1] / "hostile"
TABLES = (store.imports, store.reports, store.quarantine, store.police_context)


@pytest.fixture(scope="module")
def gaz():
    return load_gazetteer()


@pytest.fixture()
def engine(tmp_path):
    return store.connect(f"sqlite:///{tmp_path / 'hostile.sqlite'}")


def table_counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar() for t in TABLES}


def assert_db_consistent(engine) -> None:
    """Each imports row's counts equal the rows that point at it, and all tables still exist."""
    names = set(sa.inspect(engine).get_table_names())
    assert {t.name for t in TABLES} <= names
    with engine.connect() as conn:
        for imp in conn.execute(sa.select(store.imports)).mappings():
            n_rep = conn.execute(
                sa.select(sa.func.count()).where(store.reports.c.import_id == imp["id"])
            ).scalar()
            n_ctx = conn.execute(
                sa.select(sa.func.count()).where(store.police_context.c.import_id == imp["id"])
            ).scalar()
            n_q = conn.execute(
                sa.select(sa.func.count()).where(store.quarantine.c.import_id == imp["id"])
            ).scalar()
            assert imp["n_accepted"] == n_rep + n_ctx, dict(imp)
            assert imp["n_quarantined"] == n_q, dict(imp)
            assert imp["n_read"] == imp["n_accepted"] + imp["n_quarantined"] + imp["n_duplicates"]


def import_and_check(engine, gaz, data: bytes, filename: str) -> store.ImportSummary:
    summary = pipeline.import_file(engine, data, filename, gazetteer=gaz, today=TODAY)
    assert summary.n_read == summary.n_accepted + summary.n_quarantined + summary.n_duplicates
    assert summary.reconciles
    assert_db_consistent(engine)
    before = table_counts(engine)
    again = pipeline.import_file(engine, data, filename, gazetteer=gaz, today=TODAY)
    assert (again.n_accepted, again.n_quarantined, again.n_duplicates) == (0, 0, summary.n_read)
    after = table_counts(engine)
    for t in ("reports", "quarantine", "police_context"):
        assert after[t] == before[t], f"re-import added {t}"
    assert_db_consistent(engine)
    return summary


def assert_refused(engine, gaz, data: bytes, filename: str, pattern: str) -> str:
    with pytest.raises(ImportRefused, match=pattern) as exc:
        pipeline.import_file(engine, data, filename, gazetteer=gaz, today=TODAY)
    assert f'"{filename}"' in exc.value.message, "the message names the file"
    assert table_counts(engine) == {t.name: 0 for t in TABLES}
    return exc.value.message


def quarantine_by_row(engine) -> pd.DataFrame:
    return store.load_quarantine(engine).set_index("row_number")


def stored_reports(engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(sa.select(store.reports), conn).set_index("row_number")


# (n_read, n_accepted, n_quarantined) for files that import, a message pattern for refused ones.
EXPECTED: dict[str, tuple[int, int, int] | str] = {
    "latin1.csv": (2, 2, 0),
    "utf8_one_bad_byte.csv": (4, 4, 0),
    "mixed_encodings.csv": (2, 2, 0),
    "utf16_bom_tab.txt": (2, 2, 0),
    "utf16_no_bom.txt": (2, 2, 0),
    "utf8_bom_semicolon.csv": (2, 2, 0),
    "tab_separated.tsv": (3, 3, 0),
    "quoted_newlines.csv": (3, 3, 0),
    "unclosed_quote.csv": r"row 3: a cell opens with a double quote .* never closed",
    "empty.csv": r"is empty$",
    "whitespace_only.csv": r"is empty$",
    "header_only.csv": (0, 0, 0),
    "duplicate_columns.csv": (2, 2, 0),
    "bad_coordinates.csv": (9, 2, 7),
    "implausible_dates.csv": (4, 1, 3),
    "shared_place_names.csv": (7, 5, 2),
    "payloads.csv": (len(TEMPLATE_COLUMNS) * len(corpus.PAYLOADS), 132, 121),
    "notes_sheet_first.xlsx": (3, 3, 0),
    "truncated.xlsx": r"is not a valid XLSX workbook \(damaged or truncated\)",
    "csv_named.xlsx": r"is not a valid XLSX workbook",
    "random_bytes.csv": r"is not a text \(CSV\) file or an XLSX workbook",
    "random_bytes_no_nul.csv": r"is not a text \(CSV\) file or an XLSX workbook",
    "pk_garbage.xlsx": r"is not a valid XLSX workbook",
    "far_cell.xlsx": r'sheet "Reports" is too large to import: more than [\d,]+ cells',
    "stale_dimension.xlsx": (5, 5, 0),
    "entity_expansion.xlsx": r'sheet "Reports" cannot be read .*damaged',
}


def test_every_committed_fixture_has_an_expectation():
    assert set(EXPECTED) == {f.filename for f in corpus.FIXTURES}


@pytest.mark.parametrize(
    # Workbooks carry save timestamps, so only text fixtures can be compared byte for byte; the
    # workbooks' content is checked by importing them.
    "fixture",
    [f for f in corpus.FIXTURES if not f.filename.endswith(".xlsx")],
    ids=lambda f: f.filename,
)
def test_committed_text_fixtures_match_their_builders(fixture):
    assert (HOSTILE / fixture.filename).read_bytes() == fixture.build(), (
        "run `python -m tests.hostile.corpus` to refresh"
    )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file_imports_or_is_refused_cleanly(name, engine, gaz):
    data = (HOSTILE / name).read_bytes()
    expected = EXPECTED[name]
    if isinstance(expected, str):
        assert_refused(engine, gaz, data, name, expected)
        return
    s = import_and_check(engine, gaz, data, name)
    assert (s.n_read, s.n_accepted, s.n_quarantined, s.n_duplicates) == (*expected, 0)
    q = store.load_quarantine(engine)
    # Every quarantine reason names its row and, unless the row is blank, a field and its value.
    for r in q.itertuples():
        assert r.reason.startswith(f"row {r.row_number}: "), r.reason
        assert r.field, r.reason
        assert json.loads(r.raw), "the original row is kept as JSON"


# --- encodings ----------------------------------------------------------------------------------------


def narratives(engine) -> dict[str, str]:
    rep = stored_reports(engine)
    return dict(zip(rep["source_ref"], rep["narrative"], strict=True))


def test_windows_1252_pound_and_accents_survive(engine, gaz):
    s = import_and_check(engine, gaz, corpus.latin1(), "latin1.csv")
    assert narratives(engine)["HX-000001"] == "Paid £20 at the café; señor and naïve"
    assert any("Windows-1252" in w for w in s.warnings)


def test_one_invalid_byte_does_not_garble_the_rest_of_a_utf8_file(engine, gaz):
    s = import_and_check(engine, gaz, corpus.utf8_one_bad_byte(), "bad_byte.csv")
    got = narratives(engine)
    # Before the fix the whole file was read as Windows-1252 and every 'é' became 'Ã©'.
    assert got["HX-000001"] == "Café visit 1, £1"
    assert got["HX-000003"] == "Café visit 3, £3"
    assert got["HX-000002"] == "Caféÿ visit 2, £2"  # the one stray byte 0xFF, read as Windows-1252
    (warning,) = [w for w in s.warnings if "UTF-8 except" in w]
    assert "1 byte(s) on line(s) 3" in warning


def test_utf8_rows_and_windows_1252_rows_in_one_file_both_read_right(engine, gaz):
    import_and_check(engine, gaz, corpus.mixed_encodings(), "mixed.csv")
    assert narratives(engine) == {"HX-000001": "UTF-8 row: café £5", "HX-000002": "1252 row: café £6"}


@pytest.mark.parametrize("build", [corpus.utf16_bom_tab, corpus.utf16_no_bom])
def test_utf16_with_or_without_bom(build, engine, gaz):
    import_and_check(engine, gaz, build(), "unicode.txt")
    assert len(stored_reports(engine)) == 2
    if build is corpus.utf16_bom_tab:
        assert narratives(engine)["HX-000001"] == "Ünïcödé café"


def test_semicolon_file_with_bom_reads_decimal_commas(engine, gaz):
    import_and_check(engine, gaz, corpus.utf8_bom_semicolon(), "semi.csv")
    rep = stored_reports(engine).set_index("source_ref")
    assert rep.loc["HX-000001", "latitude"] == pytest.approx(corpus.LAT)
    assert "Source reference" in files.read_table(corpus.utf8_bom_semicolon(), "semi.csv").columns


def test_quoted_newlines_stay_inside_their_cells(engine, gaz):
    import_and_check(engine, gaz, corpus.quoted_newlines(), "nl.csv")
    rep = stored_reports(engine).set_index("source_ref")
    assert rep.loc["HX-000001", "narrative"] == "Line one\nline two, with a comma\nline three"
    assert rep.loc["HX-000002", "location_text"] == 'Behind the "Old" shops,\nnear the bus stop'


def test_unclosed_quote_is_refused_instead_of_swallowing_rows(engine, gaz):
    # Before the fix: 1 row read (rows 3-5 became one cell of row 3), i.e. three reports lost.
    msg = assert_refused(engine, gaz, corpus.unclosed_quote(), "q.csv", "never closed")
    assert "row 3" in msg and "nothing was imported" in msg


def test_duplicate_columns_use_the_first_and_say_so(engine, gaz):
    s = import_and_check(engine, gaz, corpus.duplicate_columns(), "dup.csv")
    rep = stored_reports(engine)
    assert set(rep["postcode"]) == {"DH1 1AB"} and "second narrative" not in set(rep["narrative"])
    assert any('"Postcode", "Narrative"' in w for w in s.warnings)


def test_a_very_long_field_is_cut_with_a_warning_naming_row_and_column(engine, gaz):
    s = import_and_check(engine, gaz, corpus.long_field_csv(), "long.csv")
    assert s.n_accepted == 3
    rep = stored_reports(engine).set_index("source_ref")
    assert len(rep.loc["HX-000002", "narrative"]) == parsers.MAX_TEXT_CHARS
    assert rep.loc["HX-000002", "narrative"].startswith('Synthetic, "quoted" text\nacross lines.')
    assert any('row 3 "Narrative" (1,048,576 characters)' in w for w in s.warnings)


# --- coordinates and dates ----------------------------------------------------------------------------


def test_nan_inf_blank_coordinates_count_as_missing_and_grid_refs_move_across(engine, gaz):
    s = import_and_check(engine, gaz, corpus.bad_coordinates(), "coords.csv")
    q = quarantine_by_row(engine)
    for row in (2, 3, 4, 5, 6):  # nan, inf/-inf, blank, N/A, NaN/Infinity: never a number
        assert "needs a location" in q.loc[row, "reason"]
    assert q.loc[8, "reason"] == "row 8: latitude 154.2 out of range (-90 to 90)"
    assert q.loc[8, "field"] == "latitude" and q.loc[8, "value"] == "154.2"
    assert q.loc[9, "reason"] == "row 9: longitude -1.57 given without a latitude"
    rep = stored_reports(engine)
    assert rep.loc[7, "geocode_method"] == "coordinates_bng"
    assert (rep.loc[7, "easting"], rep.loc[7, "northing"]) == (corpus.EASTING, corpus.NORTHING)
    assert rep.loc[10, "geocode_method"] == "postcode"
    assert any("British National Grid" in w for w in s.warnings)


def test_future_and_pre_2000_dates_are_quarantined_and_year_2999_does_not_crash(engine, gaz):
    # Before the fix '01/01/2999' raised OutOfBoundsDatetime and the whole import crashed.
    import_and_check(engine, gaz, corpus.implausible_dates(), "dates.csv")
    q = quarantine_by_row(engine)
    assert q.loc[2, "reason"] == 'row 2: date observed "01/07/2025" is in the future'
    assert "before 2000-01-01" in q.loc[3, "reason"] and '"31/12/1999"' in q.loc[3, "reason"]
    assert '"01/01/2999" is in the future' in q.loc[4, "reason"]
    assert '"01/01/1900" is before 2000-01-01' in q.loc[4, "reason"]
    assert stored_reports(engine).index.tolist() == [5]


# --- injection payloads -------------------------------------------------------------------------------

VERBATIM = {
    "Source reference": "source_ref",
    "Reporting agency": "agency",
    "Location": "location_text",
    "Place name": "place_name",
    "Narrative": "narrative",
    "Child reference": "child_ref",
}
# Vocabulary columns: an unknown term maps to a key ('other'), or for indicators is dropped.
MAPPED = {"Agency type": ("agency_type", "other"), "Place type": ("place_type", "other")}
MAPPED_MULTI = {"Concerns": ("concerns", "other"), "Indicators": ("indicators", "")}
PARSED = {
    "Date received": "date_received",
    "Date observed": "date_observed",
    "Time observed": "time_observed",
    "Latitude": "latitude",
    "Longitude": "longitude",
    "Easting": "easting",
    "Northing": "northing",
    "Location accuracy (m)": "location_accuracy",
    "Source grading": "grading_source",
    "Information grading": "grading_information",
    "Handling code": "grading_handling",
}


def test_place_names_shared_by_several_places_are_never_guessed(engine, gaz):
    """Narrowing a shared name by town, district and type to some of its places once aborted the
    whole import. Now the name never picks one of them: a row with a postcode district is placed at
    the district (coarse, and said so), one without goes to Review naming the candidates."""
    import_and_check(engine, gaz, corpus.shared_place_names(), "shared.csv")
    rep = stored_reports(engine)
    for row, n in ((2, 3), (3, 5), (5, 2)):
        assert rep.loc[row, "geocode_method"] == "postcode_district"
        assert rep.loc[row, "precision_m"] > 1000
        assert f"matches {n} places" in rep.loc[row, "geocode_note"]
    assert rep.loc[6, "geocode_method"] == rep.loc[7, "geocode_method"] == "place_name"
    q = store.load_quarantine(engine).set_index("row_number")
    assert set(q.index) == {4, 8}
    assert q.loc[4, "reason"].startswith("row 4: place name 'Parking area, Central' matches 8 places")
    assert q.loc[8, "reason"].startswith(
        "row 8: place name 'Petrol station, Chilton' is not in the gazetteer"
    )
    assert "Petrol station, Pelton" in q.loc[8, "reason"]  # the near name is shown, never chosen


def test_payloads_in_every_text_field_are_data_never_code(engine, gaz):
    data = corpus.payloads()
    s = import_and_check(engine, gaz, data, "payloads.csv")
    rep = stored_reports(engine)
    q = quarantine_by_row(engine)
    n = len(corpus.PAYLOADS)
    covered = set()
    for k, row in enumerate(corpus.payload_rows()):
        col = TEMPLATE_COLUMNS[k // n]
        payload = corpus.PAYLOADS[k % n]
        expected_text = payload.strip()  # outer whitespace (the tab / CR prefixes) is trimmed
        row_number = k + 2
        assert row[col] == payload
        covered.add(col)
        if col in VERBATIM:
            assert rep.loc[row_number, VERBATIM[col]] == expected_text, (col, payload)
        elif col in MAPPED or col in MAPPED_MULTI:
            field, key = {**MAPPED, **MAPPED_MULTI}[col]
            got = rep.loc[row_number, field]
            assert (got or "") == key, (col, payload, got)
        elif col in PARSED:
            assert row_number in q.index, (col, payload)
            assert q.loc[row_number, "field"] == PARSED[col]
            assert q.loc[row_number, "value"] == expected_text
            assert f'"{expected_text}"' in q.loc[row_number, "reason"]
            assert json.loads(q.loc[row_number, "raw"])[col] == payload  # the file's cell, untouched
        elif col == "Postcode":
            # Not a postcode, and the row has coordinates: stored without one, with a warning.
            assert rep.loc[row_number, "postcode"] is None
        elif col == "Setting":
            assert not rep.loc[row_number, "online"]
        else:
            pytest.fail(f"column {col} has no expectation")
    assert covered == set(TEMPLATE_COLUMNS)
    assert any("not a valid UK postcode" in w for w in s.warnings)
    # Nothing was executed: the tables are intact and hold exactly what was counted.
    assert table_counts(engine)["reports"] == s.n_accepted


def test_sql_payloads_reach_the_database_as_values(engine, gaz):
    rows = [corpus.base_row(1, **{"Source reference": "'; DROP TABLE reports; --", "Narrative": "1 OR 1=1"})]
    import_and_check(engine, gaz, corpus.csv_text(rows).encode(), "sql.csv")
    rep = stored_reports(engine)
    assert rep["source_ref"].tolist() == ["'; DROP TABLE reports; --"]
    assert rep["narrative"].tolist() == ["1 OR 1=1"]


# --- file names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../../etc/passwd.csv", "..\\..\\x.xlsx"])
def test_traversal_file_names_write_nothing_to_disk(name, engine, gaz, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if "hostile.sqlite" not in p.name)
    if name.endswith(".xlsx"):
        data = corpus.xlsx_bytes({"Reports": corpus.template_grid([corpus.base_row(1)])})
    else:
        data = corpus.csv_text([corpus.base_row(1)]).encode()
    s = pipeline.import_file(engine, data, name, gazetteer=gaz, today=TODAY)
    assert s.n_accepted == 1
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if "hostile.sqlite" not in p.name)
    assert after == before
    # Refusal messages speak of the plain name, never the path the uploader sent.
    with pytest.raises(ImportRefused) as exc:
        pipeline.import_file(engine, b"", name, gazetteer=gaz, today=TODAY)
    assert ".." not in exc.value.message


@pytest.mark.parametrize("name", ["../../etc/passwd.csv", "..\\..\\x.xlsx"])
def test_stored_file_name_is_not_a_path(name, engine, gaz):
    rows = [corpus.base_row(1)]
    data = (
        corpus.xlsx_bytes({"Reports": corpus.template_grid(rows)})
        if name.endswith(".xlsx")
        else corpus.csv_text(rows).encode()
    )
    s = pipeline.import_file(engine, data, name, gazetteer=gaz, today=TODAY)
    stored = store.load_imports(engine)["filename"].tolist()
    assert stored == [files.safe_filename(name)] and s.filename == files.safe_filename(name)


# --- size limits -------------------------------------------------------------------------------------


def test_upload_over_max_bytes_is_refused_naming_size_and_limit(engine, gaz, tmp_path):
    data = corpus.csv_text([corpus.base_row(i) for i in range(3000)]).encode()  # about 0.7 MB
    path = tmp_path / "big.csv"
    path.write_bytes(data)
    for source in (data, path):
        with pytest.raises(ImportRefused) as exc:
            pipeline.import_file(engine, source, "big.csv", gazetteer=gaz, max_bytes=500_000)
        msg = exc.value.message
        assert f"{len(data) / 1e6:.1f} MB" in msg and "0.5 MB" in msg and '"big.csv"' in msg
    assert table_counts(engine)["imports"] == 0
    assert pipeline.import_file(engine, path, gazetteer=gaz, today=TODAY, max_bytes=len(data)).reconciles


def test_oversized_path_is_refused_before_it_is_read(engine, gaz, tmp_path, monkeypatch):
    path = tmp_path / "huge.csv"
    path.write_bytes(b"x" * 2_000_000)

    def refuse_read(self):
        raise AssertionError(f"{self} was read in full before its size was checked")

    monkeypatch.setattr(Path, "read_bytes", refuse_read)
    with pytest.raises(ImportRefused, match="over the upload limit"):
        pipeline.import_file(engine, path, gazetteer=gaz, max_bytes=1_000_000)


def test_zip_bomb_is_refused_quickly_without_inflating(engine, gaz):
    bomb = corpus.zip_bomb_xlsx(400 * 1024 * 1024)
    assert len(bomb) < 1_000_000  # small on disk, 400 MB inflated
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        msg = assert_refused(engine, gaz, bomb, "bomb.xlsx", r"looks like a zip bomb")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - t0 < 10
    assert peak < 50_000_000, f"peak {peak / 1e6:.0f} MB while refusing a zip bomb"
    assert '"sheet1.xml"' in msg and "419,430,400 bytes" in msg and "limit 200" in msg


def test_unzipped_size_limit_is_configurable(engine, gaz, monkeypatch):
    ok = corpus.notes_sheet_first()
    total = sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(ok)).infolist())
    monkeypatch.setattr(files, "MAX_XLSX_UNZIPPED_BYTES", total - 1)
    assert_refused(engine, gaz, ok, "ok.xlsx", r"would unpack to \d+ MB, over the 0 MB limit")
    monkeypatch.setattr(files, "MAX_XLSX_UNZIPPED_BYTES", total)
    assert import_and_check(engine, gaz, ok, "ok.xlsx").n_accepted == 3


def test_ratio_limit_is_configurable_and_a_high_limit_still_bounds_total_size(engine, gaz, monkeypatch):
    bomb = corpus.zip_bomb_xlsx(64 * 1024 * 1024)
    monkeypatch.setattr(files, "MAX_ZIP_RATIO", 10_000)
    monkeypatch.setattr(files, "MAX_XLSX_UNZIPPED_BYTES", 32 * 1024 * 1024)
    assert_refused(engine, gaz, bomb, "bomb.xlsx", r"would unpack to 67 MB, over the 34 MB limit")


def test_zip_directory_that_understates_a_size_is_refused(engine, gaz):
    # The directory claims 2,000 bytes for a 64 MB sheet; zipfile's CRC check catches the lie.
    t0 = time.perf_counter()
    assert_refused(
        engine, gaz, corpus.forged_size_bomb_xlsx(), "forged.xlsx", r"XLSX workbook|cannot be read"
    )
    assert time.perf_counter() - t0 < 10


def test_stale_dimension_tag_no_longer_drops_rows(engine, gaz):
    # openpyxl trusts <dimension ref="A1:V2"/>: before the fix only 1 of 5 rows was read, silently.
    s = import_and_check(engine, gaz, corpus.stale_dimension_xlsx(5), "stale.xlsx")
    assert s.n_read == 5


def test_stray_far_cell_is_refused_quickly(engine, gaz):
    t0 = time.perf_counter()
    assert_refused(engine, gaz, corpus.far_cell_xlsx(), "far.xlsx", r"too large to import")
    assert time.perf_counter() - t0 < 30


def test_data_on_second_sheet_after_notes(engine, gaz):
    import_and_check(engine, gaz, corpus.notes_sheet_first(), "notes.xlsx")
    frame = files.read_table(corpus.notes_sheet_first(), "notes.xlsx")
    assert frame.attrs["sheet"] == "Reports"
    assert stored_reports(engine).index.tolist() == [2, 3, 4]


# --- a big file -------------------------------------------------------------------------------------


def test_200k_rows_import_and_reconcile(engine, gaz, tmp_path):
    path = corpus.write_big_csv(tmp_path / "big.csv", 200_000)
    t0 = time.perf_counter()
    s = pipeline.import_file(engine, path, gazetteer=gaz, today=TODAY)
    elapsed = time.perf_counter() - t0
    print(f"\n200,000-row import: {elapsed:.1f} s ({path.stat().st_size / 1e6:.0f} MB)")
    assert (s.n_read, s.n_accepted, s.n_quarantined, s.n_duplicates) == (200_000, 200_000, 0, 0)
    assert_db_consistent(engine)
    assert table_counts(engine)["reports"] == 200_000
    assert elapsed < 120, "a 200,000-row file must import in well under the request timeout"


# --- oversized shapes: refused from the header or the zip directory, before any parsing --------------


def test_million_column_csv_header_is_refused_naming_columns_and_limits(engine, gaz):
    # Before the limits this took minutes and gigabytes and was accepted.
    msg = assert_refused(engine, gaz, corpus.wide_header_csv(1_000_000), "wide.csv", r"header row")
    assert "about 1,000,000 columns" in msg
    assert f"{files.MAX_HEADER_CHARS:,} characters" in msg and f"{files.MAX_COLUMNS:,} columns" in msg


def test_csv_header_just_over_the_column_limit_is_refused_and_at_the_limit_imports(engine, gaz, monkeypatch):
    monkeypatch.setattr(files, "MAX_COLUMNS", len(TEMPLATE_COLUMNS) - 1)
    data = corpus.csv_text([corpus.base_row(1)]).encode()
    msg = assert_refused(
        engine,
        gaz,
        data,
        "t.csv",
        rf"row 1 \(the header\) has {len(TEMPLATE_COLUMNS)} columns, over the limit of {len(TEMPLATE_COLUMNS) - 1}",
    )
    assert "nothing was imported" in msg
    monkeypatch.setattr(files, "MAX_COLUMNS", len(TEMPLATE_COLUMNS))
    assert import_and_check(engine, gaz, data, "t.csv").n_accepted == 1


def test_one_enormous_data_row_is_refused_naming_the_row(engine, gaz):
    assert_refused(
        engine,
        gaz,
        corpus.ragged_wide_row_csv(100_000),
        "ragged.csv",
        r'"ragged.csv" row 3 has 100,000 columns, over the limit of 500',
    )


def test_workbook_of_a_hundred_sheets_is_refused_from_its_directory(engine, gaz, monkeypatch):
    data = corpus.many_sheets_xlsx(100, 1_000_000)

    def no_parsing(*args, **kwargs):
        raise AssertionError("the workbook was opened for parsing before its sheet count was checked")

    monkeypatch.setattr(files, "_load_workbook_without_size_scan", no_parsing)
    assert_refused(engine, gaz, data, "sheets.xlsx", r"has 100 worksheets, over the limit of 50")


def test_sheets_without_a_header_are_scanned_only_at_the_top(engine, gaz, monkeypatch):
    # Ten filler sheets of about 1 MB, then one real data sheet: only the first rows of each filler
    # sheet may be read (the fix for 53 s of parsing sheets that were never going to be used).
    filler = corpus.many_sheets_xlsx(1, 1_000_000)
    filler_xml = zipfile.ZipFile(io.BytesIO(filler)).read("xl/worksheets/sheet1.xml")
    data_rows = [
        list(TEMPLATE_COLUMNS),
        *[[r[c] for c in TEMPLATE_COLUMNS] for r in map(corpus.base_row, (1, 2))],
    ]
    data_xml = corpus._sheet_xml(data_rows, f"A1:V{len(data_rows)}")
    workbook = corpus._workbook_with_sheets([filler_xml] * 10 + [data_xml])
    rows_read = 0
    original = files._iter_sheet_rows

    def counting(ws, name):
        nonlocal rows_read
        for row in original(ws, name):
            rows_read += 1
            yield row

    monkeypatch.setattr(files, "_iter_sheet_rows", counting)
    s = import_and_check(engine, gaz, workbook, "many.xlsx")
    assert s.n_accepted == 2
    assert rows_read < 10 * (files._HEADER_SCAN_ROWS + 1) * 2 + 20


@pytest.mark.parametrize("dimension", [True, False], ids=["declared", "no-dimension-tag"])
def test_million_cell_sheet_is_refused_before_its_cells_are_parsed(engine, gaz, dimension):
    data = corpus.million_cell_xlsx(1_000, 1_000, dimension=dimension)
    if dimension:
        # Refused from the sheet's own <dimension> tag: the sheet is never parsed.
        msg = assert_refused(
            engine, gaz, data, "cells.xlsx", r'sheet "Sheet 1" declares 1,000 columns \(A1:ALL1000\)'
        )
    else:
        # No tag: refused at the first row, not after reading a million cells.
        msg = assert_refused(engine, gaz, data, "cells.xlsx", r'sheet "Sheet 1" row 1 has 1,000 columns')
    assert "over the limit of 500" in msg


def test_declared_cell_count_over_the_limit_is_refused(engine, gaz, monkeypatch):
    monkeypatch.setattr(files, "MAX_XLSX_CELLS", 999_999)
    data = corpus.million_cell_xlsx(2_000, 500)
    assert_refused(
        engine, gaz, data, "cells.xlsx", r"declares 1,000,000 cells \(A1:SF2000\), more than 999,999 cells"
    )
