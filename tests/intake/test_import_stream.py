"""A file imported in chunks is stored and accounted for exactly as if it were read at once, in one
transaction: duplicates, resubmissions and possible duplicates that span chunks, quarantine, warnings,
row numbers and the audit entry all come out the same, and a failure in a later chunk stores nothing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from conftest import BACKENDS

from hoth_geo import store
from hoth_geo.access import audit
from hoth_geo.intake import files, import_stream, pipeline
from hoth_geo.schema import TEMPLATE_COLUMNS

TODAY = date(2026, 11, 1)
SCHOOL = "Stream School (synthetic)"


def _row(ref: str, day: int, **cells: str) -> dict[str, str]:
    base = {
        "Source reference": ref,
        "Date observed": f"{day:02d}/04/2025",
        "Reporting agency": SCHOOL,
        "Agency type": "school",
        "Concerns": "cce",
    }
    return {**base, **cells}


# Every kind of row, spread so that most pairs that refer to each other sit in different chunks when
# the chunk is three rows (the file's rows are 2..N+1: row r is ROWS[r - 2]).
ROWS = [
    _row("S-1", 1, Latitude="54.7761", Longitude="-1.5733", **{"Place type": "takeaway"}),  # row 2
    _row("S-2", 2, Postcode="DH1 1AB", **{"Place type": "chicken shop"}),  # row 3: a place type not listed
    _row("S-3", 3, Easting="430316", Northing="543630"),  # row 4
    _row("S-4", 4, Setting="Online", Concerns="online harm"),  # row 5
    _row("S-5", 5, Postcode="DH1 7ZZ"),  # row 6: quarantined (no such postcode)
    _row("S-1", 1, Latitude="54.7761", Longitude="-1.5733", **{"Place type": "takeaway"}),  # row 7: = row 2
    _row(
        "S-2", 2, Postcode="DH1 1AB", Narrative="Seen again, more detail.", **{"Place type": "chicken shop"}
    ),  # row 8: changed row 3
    # row 9: re-keyed with a new reference, same content as row 4 (possible duplicate of its report)
    _row("S-3b", 3, Easting="430316", Northing="543630"),
    {c: "" for c in ("Source reference", "Date observed")},  # row 10: empty row
    _row("S-5", 5, Postcode="DH1 7ZZ"),  # row 11: the same quarantined row again (row 6)
    _row("", 6, Location="somewhere near the shops"),  # row 12: no reference, no location
    _row("S-6", 7, Latitude="154.2", Longitude="-1.57"),  # row 13: latitude out of range
    _row("S-7", 8, **{"Date observed": "", "Date received": "09/04/2025", "Postcode": "DH1 1AB"}),  # row 14
    _row("S-8", 9, Postcode="XX", Latitude="54.7761", Longitude="-1.5733"),  # row 15: bad postcode ignored
    _row("", 10, Postcode="DH1 1AB", Concerns="cce; loitering"),  # row 16: no reference (file + row identity)
    _row("S-9", 11, Latitude="54.7761", Longitude="-1.5733", Narrative='Quoted "text", with\na line break'),
    _row("S-5", 12, Postcode="DH1 1AB"),  # row 18: same reference as quarantined row 6, now placeable
]


def _write(path: Path, rows: list[dict], *, blank_line_at: int | None = None, tail: str = "") -> Path:
    frame = pd.DataFrame([{c: r.get(c, "") for c in TEMPLATE_COLUMNS} for r in rows])
    text = frame.to_csv(index=False, lineterminator="\n")
    if blank_line_at is not None:
        lines = text.split("\n")
        # A blank line where the record at row ``blank_line_at`` would start (no quoted breaks before it).
        lines.insert(blank_line_at - 1, "")
        text = "\n".join(lines)
    path.write_text(text + tail, encoding="utf-8")
    return path


def _stored(engine) -> dict[str, pd.DataFrame]:
    """Everything an import writes, in a form that compares between two databases."""
    out = {}
    with engine.connect() as conn:
        for table in (
            store.imports,
            store.reports,
            store.quarantine,
            store.duplicate_flags,
            store.resubmissions,
        ):
            drop = {"imported_at", "flagged_at", "received_at"}
            cols = [c for c in table.c if c.name not in drop]
            frame = pd.DataFrame(conn.execute(sa.select(*cols).order_by(table.c.id)).all())
            out[table.name] = frame
    return out


def _assert_same_import(a: store.ImportSummary, b: store.ImportSummary, engine_a, engine_b) -> None:
    for field in (
        "n_read",
        "n_accepted",
        "n_quarantined",
        "n_duplicates",
        "n_resubmitted",
        "n_possible_duplicates",
        "already_imported",
        "warnings",
    ):
        assert getattr(a, field) == getattr(b, field), field
    pd.testing.assert_frame_equal(a.rows, b.rows)
    stored_a, stored_b = _stored(engine_a), _stored(engine_b)
    for name in stored_a:
        pd.testing.assert_frame_equal(stored_a[name], stored_b[name], obj=name)


@pytest.fixture(params=BACKENDS)
def two_engines(request, databases):
    """Two empty databases on the same backend: one imports whole, the other in chunks."""
    urls = [databases.new(request.param, name) for name in ("whole", "chunked")]
    engines = [store.connect(u) for u in urls]
    yield engines
    for e, u in zip(engines, urls, strict=True):
        e.dispose()
        databases.drop(u)


def test_chunked_import_equals_the_whole_file_import(two_engines, tmp_path, monkeypatch):
    whole_db, chunked_db = two_engines
    path = _write(tmp_path / "partner.csv", ROWS)
    whole = pipeline.import_file(whole_db, path, today=TODAY)

    # The streaming reader reads this file: the whole-file reader is never needed.
    def no_whole_read(*_a, **_k):
        raise AssertionError("read whole")

    monkeypatch.setattr(files, "read_table", no_whole_read)
    seen: list[tuple[float, str]] = []
    chunked = pipeline.import_file(
        chunked_db, path, today=TODAY, chunk_rows=3, progress=lambda f, m: seen.append((f, m))
    )
    _assert_same_import(whole, chunked, whole_db, chunked_db)

    # The rows refer to each other across chunks exactly as in one read.
    rows = chunked.rows.set_index("row_number")
    assert rows.loc[7, "outcome"] == "duplicate" and rows.loc[7, "duplicate_of_row"] == 2
    assert rows.loc[8, "outcome"] == "resubmission" and rows.loc[8, "report_id"] == rows.loc[3, "report_id"]
    assert rows.loc[9, "outcome"] == "possible_duplicate"
    assert rows.loc[9, "resembles_report_id"] == rows.loc[4, "report_id"]
    assert (
        rows.loc[11, "outcome"] == "duplicate"
        and rows.loc[11, "quarantine_id"] == rows.loc[6, "quarantine_id"]
    )
    assert rows.loc[10, "outcome"] == "quarantined" and "row 10: empty row" in rows.loc[10, "detail"]
    assert rows.loc[13, "detail"].startswith("row 13:")
    assert chunked.reconciles and chunked.n_read == len(ROWS)
    assert any("no date observed" in w for w in chunked.warnings)
    # Terms not in the vocabularies are named once for the file, their rows added up over the chunks.
    assert chunked.warnings[-2:] == (
        '2 rows had a place type that is not a listed place type; read as "Other / unknown": "chicken shop" (2 rows)',
        '1 row had concern terms that are not a listed concern; read as "Other": "loitering" (1 row)',
    )
    # Progress after each chunk of three rows, rising to done.
    fractions = [f for f, _ in seen]
    assert len([m for _, m in seen if m.startswith("storing reports")]) == 6
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_reimporting_in_chunks_adds_nothing(db_url, tmp_path):
    engine = store.connect(db_url)
    path = _write(tmp_path / "partner.csv", ROWS)
    first = pipeline.import_file(engine, path, today=TODAY, chunk_rows=4)
    again = pipeline.import_file(engine, path, today=TODAY, chunk_rows=5)
    assert first.n_accepted > 0
    assert (again.n_accepted, again.n_quarantined, again.n_resubmitted) == (0, 0, 0)
    assert again.n_duplicates == again.n_read == len(ROWS)
    assert again.already_imported
    engine.dispose()


def test_a_failure_in_a_later_chunk_stores_nothing(db_url, tmp_path, monkeypatch):
    engine = store.connect(db_url)
    path = _write(tmp_path / "partner.csv", ROWS)
    real_insert = store.insert_reports
    calls = []

    def fail_on_third_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full (simulated)")
        return real_insert(*args, **kwargs)

    monkeypatch.setattr(store, "insert_reports", fail_on_third_chunk)
    with pytest.raises(OSError, match="simulated"):
        pipeline.import_file(engine, path, today=TODAY, chunk_rows=3)
    assert len(calls) == 3  # two chunks were written before the failure
    with engine.connect() as conn:
        for table in (
            store.imports,
            store.reports,
            store.quarantine,
            store.duplicate_flags,
            store.resubmissions,
        ):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0, table.name
        imports_audited = sa.select(sa.func.count()).where(audit.audit_log.c.event == "import")
        assert conn.execute(imports_audited).scalar() == 0
    monkeypatch.undo()
    assert pipeline.import_file(engine, path, today=TODAY, chunk_rows=3).reconciles
    engine.dispose()


@pytest.mark.parametrize(
    ("blank_line_at", "tail"),
    [
        (7, ""),  # an interior blank line: the file is read whole (it is a row, quarantined as empty)
        (None, ",,,,\n,,,\n\n\n"),  # blank records and line breaks after the last row are padding
    ],
)
def test_unusual_files_give_the_same_import_in_chunks(tmp_path, blank_line_at, tail):
    path = _write(tmp_path / "odd.csv", ROWS, blank_line_at=blank_line_at, tail=tail)
    whole_db = store.connect(f"sqlite:///{tmp_path / 'whole.sqlite'}")
    chunked_db = store.connect(f"sqlite:///{tmp_path / 'chunked.sqlite'}")
    whole = pipeline.import_file(whole_db, path, today=TODAY)
    chunked = pipeline.import_file(chunked_db, path, today=TODAY, chunk_rows=2)
    _assert_same_import(whole, chunked, whole_db, chunked_db)
    n_rows = len(ROWS) + (1 if blank_line_at else 0)
    assert chunked.n_read == n_rows
    if blank_line_at:
        assert chunked.rows.set_index("row_number").loc[blank_line_at, "detail"].endswith("empty row")


def test_stream_chunks_are_the_whole_file_frame(tmp_path):
    """The streaming reader hands out the frame ``read_table`` builds, cut into chunks, each
    numbering its rows as the file's rows (here the header is on line 3, below two blank lines, and an
    unnamed empty column is left out as the whole-file reader leaves it out)."""
    frame = pd.DataFrame([{c: r.get(c, "") for c in TEMPLATE_COLUMNS} for r in ROWS])
    frame.insert(1, "", "")
    frame.insert(3, "Reporting agency ", "a repeated header")
    path = tmp_path / "partner.csv"
    path.write_text("\r\n\r\n" + frame.to_csv(index=False, lineterminator="\r\n"), encoding="utf-8")
    whole = files.read_table(path)
    stream = import_stream.open_csv(path, path.name)
    assert stream is not None
    chunks = list(stream.chunks(4))
    assert [c.attrs["header_row"] for c in chunks] == [3 + 4 * i for i in range(len(chunks))]
    joined = pd.concat(chunks, ignore_index=True)
    pd.testing.assert_frame_equal(joined, whole)
    assert chunks[0].attrs["warnings"] == whole.attrs["warnings"]
    assert "duplicate column headers ignored" in whole.attrs["warnings"][0]


def test_files_the_stream_cannot_read_go_to_the_whole_file_reader(tmp_path):
    # A Windows-1252 byte far below the start: found only while streaming, and the file is then read
    # whole, which reads that byte as Windows-1252 and says so.
    latin = tmp_path / "latin.csv"
    body = "".join(f"S-{i},01/04/2025,DH1 1AB,outside\n" for i in range(12_000))
    latin.write_bytes(
        ("Source reference,Date observed,Postcode,Location\n" + body).encode()
        + "S-x,01/04/2025,,Café\n".encode("cp1252")
    )
    stream = import_stream.open_csv(latin, latin.name)
    assert stream is not None
    with pytest.raises(import_stream.StreamUnsuitable):
        list(stream.chunks(5_000))
    engine = store.connect(f"sqlite:///{tmp_path / 'latin.sqlite'}")
    summary = pipeline.import_file(engine, latin, today=TODAY, chunk_rows=5_000)
    assert summary.n_read == 12_001 and summary.reconciles
    assert any("read it as Windows-1252" in w for w in summary.warnings)
    assert summary.rows.set_index("row_number").loc[12_002, "outcome"] == "quarantined"
    assert import_stream.open_csv(b"PK\x03\x04rest", "book.xlsx") is None
    assert import_stream.open_csv(b"\xff\xfeD\x00a\x00", "u16.csv") is None


def test_classifying_in_chunks_equals_classifying_at_once():
    """Rows repeating, resubmitting or resembling rows of earlier chunks (and stored reports)."""
    import numpy as np

    from hoth_geo.intake import identity

    rng = np.random.default_rng(7)
    n = 3_000
    rows = pd.DataFrame(
        {
            "row_number": np.arange(2, n + 2),
            "identity": [f"r:{k}" for k in rng.integers(0, 800, n)],
            "fingerprint": [f"c{k}" for k in rng.integers(0, 500, n)],
            "revision": rng.choice(["", "2|B|P|", "1|A|P|"], n),  # re-graded now and then
        }
    )
    stored = pd.DataFrame(
        {
            "id": np.arange(1, 101),
            "identity": [f"r:{k}" for k in range(0, 1000, 10)],
            "fingerprint": [f"c{k}" for k in rng.integers(0, 500, 100)],
            "revision": "",
            "merged_into": pd.array([None] * 90 + list(range(1, 11)), dtype="Int64"),
        }
    )
    seen = pd.DataFrame(
        {"report_id": [1, 2], "fingerprint": ["c1", "c2"], "revision": ["", ""], "resubmission_id": [5, 6]}
    )
    at_once = identity.classify_reports(rows, stored, seen)
    classifier = identity.ReportClassifier(stored, seen)
    in_chunks = pd.concat(
        [classifier.classify(rows.iloc[lo : lo + 257]) for lo in range(0, n, 257)], ignore_index=True
    )
    pd.testing.assert_frame_equal(in_chunks, at_once)
    assert set(at_once["status"]) == {"new", "duplicate", "resubmission"}
    assert at_once["resembles_row"].notna().any() and at_once["resembles_report_id"].notna().any()


def test_earlier_chunks_are_remembered_exactly_when_key_hashes_share_their_first_half(monkeypatch):
    """The rows of earlier chunks are searched by the first 64 bits of their key hashes; keys that share
    those bits (forced here: only 16 distinct first halves) are still told apart by the rest."""
    import numpy as np

    from hoth_geo.intake import identity

    real_hashes = identity._key_hashes

    def crowded_hashes(values):
        hashes = real_hashes(values)
        hashes[:, 0] &= np.uint64(0xF)
        return hashes

    monkeypatch.setattr(identity, "_key_hashes", crowded_hashes)
    rng = np.random.default_rng(11)
    n = 2_000
    rows = pd.DataFrame(
        {
            "row_number": np.arange(2, n + 2),
            "identity": [f"r:{k}" for k in rng.integers(0, 600, n)],
            "fingerprint": [f"c{k}" for k in rng.integers(0, 400, n)],
            "revision": "",
        }
    )
    stored = pd.DataFrame(
        {
            "id": pd.Series([], dtype="int64"),
            "identity": pd.Series([], dtype=object),
            "fingerprint": pd.Series([], dtype=object),
            "revision": pd.Series([], dtype=object),
            "merged_into": pd.array([], dtype="Int64"),
        }
    )
    seen = pd.DataFrame({"report_id": [], "fingerprint": [], "revision": [], "resubmission_id": []})
    with pytest.raises(ValueError, match="rows is missing column 'revision'"):
        identity.ReportClassifier(stored, seen).classify(rows.drop(columns="revision"))
    at_once = identity.classify_reports(rows, stored, seen)
    classifier = identity.ReportClassifier(stored, seen)
    in_chunks = pd.concat(
        [classifier.classify(rows.iloc[lo : lo + 131]) for lo in range(0, n, 131)], ignore_index=True
    )
    pd.testing.assert_frame_equal(in_chunks, at_once)
    assert (at_once["status"] == "duplicate").any() and (at_once["status"] == "resubmission").any()
