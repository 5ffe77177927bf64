"""Imports end to end: real police.uk files and sharing-form exports through store and aggregation."""

from __future__ import annotations

import csv
from pathlib import Path

import h3
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from hoth_geo import selection, store
from hoth_geo.access import audit
from hoth_geo.analysis import aggregate
from hoth_geo.intake import pipeline, review
from hoth_geo.intake.files import ImportRefused
from hoth_geo.intake.gazetteer import bng_to_wgs84
from hoth_geo.schema import TEMPLATE_COLUMNS


@pytest.fixture()
def engine(db_url):
    """An empty store, once on SQLite and once on PostgreSQL."""
    engine = store.connect(db_url)
    yield engine
    engine.dispose()


def _table_counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()
            for t in (store.imports, store.reports, store.quarantine, store.police_context)
        }


def test_policeuk_file_imports_as_context_and_reconciles(engine, shared_data):
    path = shared_data / "policeuk_durham" / "2018-10-durham-street.csv"
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    summary = pipeline.import_file(engine, path)
    assert summary.format == "policeuk"
    assert summary.n_read == len(rows)
    assert summary.reconciles and summary.n_accepted > 0.95 * len(rows)
    counts = _table_counts(engine)
    assert counts["reports"] == 0, "police.uk data must never become partnership reports"
    assert counts["police_context"] == summary.n_accepted
    assert counts["quarantine"] == summary.n_quarantined

    # Independent check: count one busy res-8 hexagon straight from the file with h3. A report's
    # coarse hexagon is the H3 parent of its fine cell (so counts nest exactly across resolutions).
    context = store.load_context(engine)
    table = aggregate.aggregate_context(context, 8)
    top_cell = h3.int_to_str(int(table["h3"].iloc[0]))
    direct = sum(
        1
        for r in rows
        if r["Latitude"]
        and h3.cell_to_parent(h3.latlng_to_cell(float(r["Latitude"]), float(r["Longitude"]), 11), 8)
        == top_cell
    )
    assert table["count"].iloc[0] == direct

    again = pipeline.import_file(engine, path)
    # Rows outside the area are never stored, so a re-import skips them again rather than calling them
    # duplicates.
    assert again.n_accepted == 0 and again.n_quarantined == 0
    assert again.n_duplicates + again.n_out_of_area == len(rows)
    assert again.n_out_of_area == summary.n_out_of_area
    assert again.already_imported
    assert _table_counts(engine)["police_context"] == counts["police_context"]


def _write_form(path: Path, rows: list[dict]) -> Path:
    frame = pd.DataFrame([{c: r.get(c, "") for c in TEMPLATE_COLUMNS} for r in rows])
    frame.to_csv(path, index=False)
    return path


FORM_ROWS = [
    {
        "Source reference": "T-1",
        "Date observed": "03/04/2025",
        "Time observed": "21:30",
        "Reporting agency": "Test School (synthetic)",
        "Agency type": "school",
        "Latitude": "54.7761",
        "Longitude": "-1.5733",
        "Place type": "takeaway",
        "Concerns": "CCE; drugs",
    },
    {
        "Source reference": "T-2",
        "Date observed": "04/04/2025",
        "Reporting agency": "Test Housing (synthetic)",
        "Agency type": "housing",
        "Postcode": "dh1 1ab",
        "Concerns": "cse",
    },
    {
        "Source reference": "T-3",
        "Date observed": "05/04/2025",
        "Reporting agency": "Test Health (synthetic)",
        "Agency type": "health",
        "Easting": "430316",
        "Northing": "543630",
        "Concerns": "missing",
    },
    {
        "Source reference": "T-4",
        "Date observed": "06/04/2025",
        "Reporting agency": "Test Health (synthetic)",
        "Agency type": "health",
        "Setting": "Online",
        "Concerns": "online harm",
    },
    {
        "Source reference": "T-5",
        "Date observed": "07/04/2025",
        "Reporting agency": "Test Health (synthetic)",
        "Agency type": "health",
        "Postcode": "DH1 7ZZ",
        "Concerns": "cce",
    },
    {
        "Source reference": "T-6",
        "Date observed": "08/04/2025",
        "Reporting agency": "Test Health (synthetic)",
        "Agency type": "health",
        "Location": "somewhere near the shops",
        "Concerns": "cce",
    },
    {
        "Source reference": "T-7",
        "Date observed": "09/04/2025",
        "Reporting agency": "Test Health (synthetic)",
        "Agency type": "health",
        "Latitude": "154.2",
        "Longitude": "-1.57",
        "Concerns": "cce",
    },
]


def test_sharing_form_import_reconciles_and_quarantines_with_reasons(engine, tmp_path):
    path = _write_form(tmp_path / "form.csv", FORM_ROWS)
    summary = pipeline.import_file(engine, path)
    assert (summary.n_read, summary.n_accepted, summary.n_quarantined, summary.n_duplicates) == (7, 4, 3, 0)
    reports = store.load_reports(engine)
    methods = dict(
        zip(
            store.report_details(engine, reports["id"])["source_ref"],
            store.report_details(engine, reports["id"])["geocode_method"],
            strict=True,
        )
    )
    assert methods == {
        "T-1": "coordinates_wgs84",
        "T-2": "postcode",
        "T-3": "coordinates_bng",
        "T-4": "online",
    }
    q = store.load_quarantine(engine).set_index("row_number")
    assert "postcode 'DH1 7ZZ' is not a postcode in County Durham and Darlington" in q.loc[6, "reason"]
    assert q.loc[7, "reason"].startswith("row 7: needs a location")
    assert "154.2" in q.loc[8, "reason"] and "row 8" in q.loc[8, "reason"]
    assert selection.online_count(reports) == 1
    assert aggregate.aggregate_hexes(reports, 8)["count"].sum() == 3  # the online report is not mapped


def test_a_setting_that_names_an_online_platform_is_online_and_never_mapped(engine, tmp_path):
    """A school's report of contact on Snapchat, with the school's postcode, is an online concern: it is
    counted as online and not drawn at the school. A setting that says neither online nor in person is
    read as in person, and the import says which words it read that way."""
    base = {"Date observed": "03/04/2025", "Reporting agency": "Test School (synthetic)", "Concerns": "cse"}
    rows = [
        {**base, "Source reference": "S-1", "Setting": "Online - Snapchat", "Postcode": "DH1 1AB"},
        {**base, "Source reference": "S-2", "Setting": "Instagram DMs", "Postcode": "DH1 1AB"},
        {**base, "Source reference": "S-3", "Setting": "Online and in person", "Postcode": "DH1 1AB"},
        {**base, "Source reference": "S-4", "Setting": "Not online", "Postcode": "DH1 1AB"},
        {**base, "Source reference": "S-5", "Setting": "Park", "Postcode": "DH1 1AB"},
        {**base, "Source reference": "S-6", "Setting": "Phone call", "Postcode": "DH1 1AB"},
        {**base, "Source reference": "S-7", "Place type": "Snapchat", "Postcode": "DH1 1AB"},
    ]
    summary = pipeline.import_file(engine, _write_form(tmp_path / "settings.csv", rows))
    assert (summary.n_accepted, summary.n_quarantined) == (7, 0)
    reports = store.load_reports(engine)
    details = store.report_details(engine, reports["id"]).set_index("source_ref")
    online = details["geocode_method"] == "online"
    assert sorted(details.index[online]) == ["S-1", "S-2", "S-7"]
    assert details.loc["S-7", "place_type"] == "online", "a platform named as the place type"
    assert details.loc[["S-3", "S-4", "S-5", "S-6"], "geocode_method"].eq("postcode").all()
    assert selection.online_count(reports) == 3
    assert aggregate.aggregate_hexes(reports, 8)["count"].sum() == 4
    assert list(summary.warnings) == [
        "1 row had a setting that says neither online nor in person; read as in person (an online report"
        ' among them can be marked online in Review): "Phone call" (1 row)'
    ]


def test_os_grid_references_are_located_as_the_square_they_name(engine, tmp_path):
    """An OS grid reference in its own column, in the easting column or as the whole location text is
    placed at the centre of the square it names, within the square's half-diagonal; one that is not a
    reference is quarantined naming the row, the column and the value, and a postcode sector in the
    location text is not mistaken for a 10 km square."""
    path = tmp_path / "grid.csv"
    path.write_text(
        "Source reference,Date observed,Reporting agency,Location,Easting,Northing,Grid ref,Concerns\n"
        "G-1,03/04/2025,Test Outreach (synthetic),,,,NZ 2737 4209,cse\n"
        "G-2,04/04/2025,Test Outreach (synthetic),,NZ27374209,,,cse\n"
        "G-3,05/04/2025,Test Outreach (synthetic),NZ 27 42,,,,cse\n"
        "G-4,06/04/2025,Test Outreach (synthetic),,,,NZ 275 42,cse\n"
        "G-5,07/04/2025,Test Outreach (synthetic),DH1 4,,,,cse\n"
        "G-6,08/04/2025,Test Outreach (synthetic),,427370,542090,NZ 2900 4400,cse\n",
        encoding="utf-8",
    )
    summary = pipeline.import_file(engine, path)
    assert (summary.n_read, summary.n_accepted, summary.n_quarantined) == (6, 4, 2)
    reports = store.load_reports(engine)
    stored = store.report_details(engine, reports["id"]).set_index("source_ref")
    assert stored["geocode_method"].eq("coordinates_bng").all()
    assert stored.loc["G-1", ["easting", "northing"]].tolist() == [427370.0, 542090.0]
    assert stored.loc["G-2", ["easting", "northing"]].tolist() == [427370.0, 542090.0]
    assert stored.loc["G-1", "precision_m"] == pytest.approx(10.0)
    # A 4-figure reference is a kilometre square: the report is anywhere in it, so it is placed at the
    # square's centre with the half-diagonal as its radius, not at the corner the digits name.
    lon, lat = bng_to_wgs84([427500.0], [542500.0])
    assert stored.loc["G-3", ["latitude", "longitude"]].tolist() == pytest.approx([lat[0], lon[0]])
    assert stored.loc["G-3", "precision_m"] == pytest.approx(707.1, abs=0.1)
    reasons = store.load_quarantine(engine).set_index("row_number")["reason"]
    assert reasons[5].startswith('row 5: grid reference "NZ 275 42" is not an OS grid reference')
    assert reasons[6].startswith("row 6: needs a location"), "'DH1 4' is a postcode sector, not a square"
    assert stored.loc["G-6", ["easting", "northing"]].tolist() == [427370.0, 542090.0]
    assert (
        "1 row gives a grid reference that does not contain its easting/northing; the easting/northing"
        " were used, check row 7"
    ) in summary.warnings


@pytest.mark.parametrize("chunk_rows", [50_000, 2], ids=["one chunk", "chunks of two rows"])
def test_a_grid_reference_that_puts_a_row_elsewhere_than_its_latitude_longitude_is_said(
    engine, tmp_path, chunk_rows
):
    """A row giving latitude/longitude and also a grid reference or easting/northing is placed by its
    latitude/longitude. When the other puts it farther away than both locations' radii together, the
    row gives two places: the report's location note says how far apart and which was used, and the
    import's warnings name the rows, added up across chunks. Two that agree within their radii are not
    flagged (a 10 m grid reference beside the device's point it was read from)."""
    from hoth_geo.intake.gazetteer import wgs84_to_bng

    lat, lon = 54.77630, -1.57540
    east, north = (float(v[0]) for v in wgs84_to_bng([lon], [lat]))
    same_square = f"NZ {int(east) % 100_000 // 10:04d} {int(north) % 100_000 // 10:04d}"
    path = tmp_path / "two-places.csv"
    path.write_text(
        "Source reference,Date observed,Reporting agency,Latitude,Longitude,Easting,Northing,Grid ref,Concerns\n"
        f"T-1,03/04/2025,Test Outreach (synthetic),{lat},{lon},,,{same_square},cse\n"
        f"T-2,03/04/2025,Test Outreach (synthetic),{lat},{lon},,,NZ 2737 4209,cse\n"
        f"T-3,03/04/2025,Test Outreach (synthetic),{lat},{lon},{east + 2500:.0f},{north:.0f},,cse\n"
        f"T-4,03/04/2025,Test Outreach (synthetic),{lat},{lon},{east:.0f},{north:.0f},,cse\n"
    )
    summary = pipeline.import_file(engine, path, chunk_rows=chunk_rows)
    assert summary.n_accepted == 4
    assert list(summary.warnings) == [
        "2 rows give a grid reference or easting/northing that lies away from its latitude/longitude; the"
        " latitude/longitude were used, check rows 3, 4"
    ]
    with engine.connect() as conn:
        stored = pd.read_sql("SELECT source_ref, latitude, longitude, geocode_note FROM reports", conn)
    stored = stored.set_index("source_ref")
    assert stored[["latitude", "longitude"]].to_numpy().tolist() == [[lat, lon]] * 4, "placed by lat/lon"
    assert stored.loc[["T-1", "T-4"], "geocode_note"].isna().all()
    apart_m = float(np.hypot(east - 427375, north - 542095))
    assert stored.loc["T-2", "geocode_note"] == (
        f"the grid reference or easting/northing given too (427370, 542090) lie {apart_m:.0f} m from the"
        " latitude/longitude, which were used: check which is right"
    )
    assert " lie 2.5 km from the latitude/longitude" in stored.loc["T-3", "geocode_note"]


def test_a_latitude_longitude_in_the_location_text_that_disagrees_with_the_columns_is_said(engine, tmp_path):
    """A row giving latitude/longitude columns and, in its location text, another latitude and
    longitude (a pasted map pin) is placed by the columns; when the two lie farther apart than both
    radii together, the location note and the warnings say so. The same point written with fewer
    decimals, or longitude first, agrees."""
    lat, lon = 54.77630, -1.57540
    path = tmp_path / "pins.csv"
    path.write_text(
        "Source reference,Date observed,Reporting agency,Location,Latitude,Longitude,Concerns\n"
        f'P-1,03/04/2025,Test Outreach (synthetic),"54.776, -1.575",{lat},{lon},cse\n'
        f'P-2,03/04/2025,Test Outreach (synthetic),"-1.5754, 54.7763",{lat},{lon},cse\n'
        f'P-3,03/04/2025,Test Outreach (synthetic),"54.70000, -1.60000",{lat},{lon},cse\n'
        f"P-4,03/04/2025,Test Outreach (synthetic),the bus station,{lat},{lon},cse\n"
    )
    summary = pipeline.import_file(engine, path)
    assert summary.n_accepted == 4
    assert list(summary.warnings) == [
        "1 row gives a latitude/longitude in the location text that lies away from its latitude/longitude"
        " columns; the columns were used, check row 4"
    ]
    with engine.connect() as conn:
        stored = pd.read_sql("SELECT source_ref, latitude, geocode_note FROM reports", conn).set_index(
            "source_ref"
        )
    assert (stored["latitude"] == lat).all(), "placed by the columns"
    assert stored.loc[["P-1", "P-2", "P-4"], "geocode_note"].isna().all()
    assert stored.loc["P-3", "geocode_note"].startswith(
        "the latitude/longitude in the location text (54.70000, -1.60000) lies 8.6 km from the"
        " latitude/longitude given, which were used"
    )


def test_a_corrected_row_sent_again_closes_the_entry_its_first_version_left(engine, tmp_path):
    """A partner's row quarantined for a mistyped time (25:30), and another waiting in Review for a
    location, are sent again corrected under the same agency and source reference: the reports are
    stored and the two entries leave Review, superseded by them (not left open for ever). A row without
    a source reference has no identity beyond its file, so nothing in another file supersedes it."""
    base = {"Reporting agency": "Test School (synthetic)", "Date observed": "03/04/2025", "Concerns": "cse"}
    first = [
        {**base, "Source reference": "SC-1", "Time observed": "25:30", "Postcode": "DH1 1AB"},
        {**base, "Source reference": "SC-2", "Location": "the usual place (synthetic)"},
        {**base, "Source reference": "", "Time observed": "13pm", "Postcode": "DH1 1AB"},
    ]
    summary = pipeline.import_file(engine, _write_form(tmp_path / "first.csv", first))
    assert (summary.n_accepted, summary.n_quarantined) == (0, 3)
    assert len(review.needs_location(engine)) == 1
    assert review.needs_a_corrected_file(engine)[1] == 2
    corrected = [
        {**first[0], "Time observed": "15:30"},
        {**first[1], "Postcode": "DH1 1AB"},
        {**first[2], "Time observed": "19:00"},
    ]
    again = pipeline.import_file(engine, _write_form(tmp_path / "corrected.csv", corrected))
    assert (again.n_accepted, again.n_quarantined, again.n_superseded) == (3, 0, 2)
    assert "2 rows quarantined earlier now stored corrected (their entries closed)" in (again.describe())
    entries = store.load_quarantine(engine, status=None).set_index("row_number")
    stored = again.rows.set_index("row_number")["report_id"]
    assert entries.loc[[2, 3], "status"].tolist() == ["superseded", "superseded"]
    assert entries.loc[[2, 3], "resolved_report_id"].tolist() == [stored[2], stored[3]]
    assert entries.loc[4, "status"] == "open", "no reference: the file's own row, not superseded"
    assert review.needs_location(engine).empty and review.needs_a_corrected_file(engine)[1] == 1
    with pytest.raises(ValueError, match="already superseded"):  # nothing left to locate twice
        review.resolve_with_location(engine, int(entries.loc[3, "id"]), 54.7761, -1.5733, actor="a")
    assert again.rows.set_index("row_number").loc[2, "detail"].startswith("supersedes quarantine entry")
    assert store.counts(engine)["quarantine_open"] == 1
    log = audit.load_audit(engine)
    assert '"superseded_quarantine":2' in log.iloc[-1]["details"].replace(" ", "")
    assert audit.verify_chain(engine).ok
    # Sending either version once more adds nothing and reopens nothing.
    for name in ("first.csv", "corrected.csv"):
        repeat = pipeline.import_file(engine, tmp_path / name)
        assert (repeat.n_accepted, repeat.n_quarantined, repeat.n_superseded) == (0, 0, 0)
    assert store.load_quarantine(engine)["row_number"].tolist() == [4]


@pytest.mark.parametrize("chunk_rows", [50_000, 2], ids=["one chunk", "chunks of two rows"])
def test_a_later_row_of_the_same_file_stored_corrected_closes_the_earlier_rows_entry(
    engine, tmp_path, chunk_rows
):
    """A partner's export holds a record twice: first with a time mistyped (25:30), then corrected
    further down the file. The corrected row is stored and the first row's entry leaves Review,
    superseded by it, whether or not the two rows are read in the same chunk. A row of the same record
    *after* the stored one that cannot be read is a later version, and stays open for an analyst."""
    base = {"Reporting agency": "Test School (synthetic)", "Date observed": "03/04/2025", "Concerns": "cse"}
    rows = [
        {**base, "Source reference": "SC-1", "Time observed": "25:30", "Postcode": "DH1 1AB"},
        {**base, "Source reference": "SC-2", "Time observed": "16:00", "Postcode": "DH1 1AB"},
        {**base, "Source reference": "SC-3", "Time observed": "17:00", "Postcode": "DH1 1AB"},
        {**base, "Source reference": "SC-1", "Time observed": "15:30", "Postcode": "DH1 1AB"},
        {**base, "Source reference": "SC-2", "Time observed": "7.75pm", "Postcode": "DH1 1AB"},
    ]
    summary = pipeline.import_file(engine, _write_form(tmp_path / "export.csv", rows), chunk_rows=chunk_rows)
    assert (summary.n_accepted, summary.n_quarantined, summary.n_superseded) == (3, 2, 1)
    assert "1 row quarantined earlier now stored corrected (its entry closed)" in summary.describe()
    entries = store.load_quarantine(engine, status=None).set_index("row_number")
    outcome = summary.rows.set_index("row_number")
    assert entries.loc[2, "status"] == "superseded"
    assert entries.loc[2, "resolved_report_id"] == outcome.loc[5, "report_id"]
    assert entries.loc[6, "status"] == "open", "a later version that could not be read waits in Review"
    assert outcome.loc[2, "outcome"] == "quarantined"
    assert outcome.loc[2, "detail"].endswith(
        f"; superseded by row 5 of this file, stored corrected as report {outcome.loc[5, 'report_id']}"
    )
    assert (
        outcome.loc[5, "detail"] == f"supersedes quarantine entry {entries.loc[2, 'id']} (row 2 of this file)"
    )
    assert store.counts(engine)["quarantine_open"] == 1
    assert review.needs_a_corrected_file(engine)[1] == 1
    # The same file again adds nothing and reopens nothing.
    again = pipeline.import_file(engine, tmp_path / "export.csv", chunk_rows=chunk_rows)
    assert (again.n_accepted, again.n_quarantined, again.n_superseded) == (0, 0, 0)
    assert store.load_quarantine(engine)["row_number"].tolist() == [6]


def test_a_time_of_day_in_words_is_stored_kept_and_compared(engine, tmp_path):
    """A school writes "after school" for the time: the report is stored (on the map, counted on the
    Time page as time unknown) with the words kept; the same file again adds nothing, and the report
    sent again with the time given is a changed resubmission whose acceptance replaces the words."""
    from hoth_geo.intake import identity

    base = {"Reporting agency": "Test School (synthetic)", "Date observed": "03/04/2025", "Concerns": "cse"}
    first = [{**base, "Source reference": "TW-1", "Time observed": "after school", "Postcode": "DH1 1AB"}]
    summary = pipeline.import_file(engine, _write_form(tmp_path / "words.csv", first))
    assert (summary.n_accepted, summary.n_quarantined) == (1, 0)
    assert any('"after school" (1 row)' in w for w in summary.warnings)
    (report_id,) = summary.rows["report_id"].tolist()
    stored = store.report_details(engine, [report_id], ["time_known", "time_text", "observed_at"]).iloc[0]
    assert (bool(stored["time_known"]), stored["time_text"]) == (False, "after school")
    assert pd.Timestamp(stored["observed_at"]) == pd.Timestamp("2025-04-03")
    again = pipeline.import_file(engine, tmp_path / "words.csv")
    assert (again.n_accepted, again.n_duplicates, again.n_resubmitted) == (0, 1, 0)
    timed = pipeline.import_file(
        engine, _write_form(tmp_path / "timed.csv", [{**first[0], "Time observed": "15:40"}])
    )
    assert timed.n_resubmitted == 1
    (resub_id,) = timed.rows["resubmission_id"].dropna().astype(int).tolist()
    assert set(identity.accept_resubmission(engine, resub_id, actor="analyst.test")) >= {
        "observed_at",
        "time_known",
        "time_text",
    }
    stored = store.report_details(engine, [report_id], ["time_known", "time_text", "observed_at"]).iloc[0]
    assert (bool(stored["time_known"]), stored["time_text"]) == (True, None)
    assert pd.Timestamp(stored["observed_at"]) == pd.Timestamp("2025-04-03 15:40")


def test_the_same_file_imported_again_closes_entries_of_rows_it_now_stores(engine, tmp_path):
    """A row without a source reference is its file and row. It waited in Review because its place was
    not known; once the place is known, importing the same file again stores the row and closes the
    entry it left (the same identity), instead of storing it beside an entry left open for ever."""
    from hoth_geo.store.tables import places

    row = {
        "Reporting agency": "Test Outreach (synthetic)",
        "Date observed": "03/04/2025",
        "Place name": "Riverside Youth Shelter (synthetic)",
        "Concerns": "cse",
    }
    path = _write_form(tmp_path / "outreach.csv", [row])
    first = pipeline.import_file(engine, path)
    assert first.n_quarantined == 1 and "Riverside Youth Shelter" in first.rows["detail"].iloc[0]
    with engine.begin() as conn:
        conn.execute(
            places.insert(),
            {
                "place_id": "analyst:riverside-shelter",
                "name": "Riverside Youth Shelter (synthetic)",
                "place_type": "park",
                "latitude": 54.7761,
                "longitude": -1.5733,
                "source": "analyst",
            },
        )
    again = pipeline.import_file(engine, path)
    assert (again.n_accepted, again.n_quarantined, again.n_superseded) == (1, 0, 1)
    (entry,) = store.load_quarantine(engine, status=None).itertuples()
    assert (entry.status, entry.resolved_report_id) == ("superseded", again.rows["report_id"].iloc[0])
    assert store.counts(engine)["quarantine_open"] == 0


def test_a_resubmission_without_a_date_received_is_shown_and_accepted(engine, tmp_path):
    """Most exports leave Date received blank. A changed resubmission of such a report lists only what
    changed (not a blank date read as "NaT") and is accepted: here a report first sent as in person at
    the school's postcode, then as online, becomes an online report, on no map. A payload stored before
    2026-12-05, which holds "NaT" for the blank date, is accepted as well."""
    from hoth_geo.intake import identity

    base = {
        "Reporting agency": "Test School (synthetic)",
        "Date observed": "03/04/2025",
        "Postcode": "DH1 1AB",
    }
    first = [
        {**base, "Source reference": "RS-1", "Setting": "In person", "Concerns": "cse"},
        {**base, "Source reference": "RS-2", "Setting": "In person", "Concerns": "cse"},
    ]
    second = [{**first[0], "Setting": "Online - Snapchat"}, {**first[1], "Concerns": "cce"}]
    pipeline.import_file(engine, _write_form(tmp_path / "first.csv", first))
    assert pipeline.import_file(engine, _write_form(tmp_path / "second.csv", second)).n_resubmitted == 2
    waiting = identity.load_resubmissions(engine).set_index("source_ref")["id"]
    with engine.begin() as conn:  # RS-2's payload as it was written before the fix
        payload = conn.execute(
            sa.select(store.resubmissions.c.payload).where(store.resubmissions.c.id == int(waiting["RS-2"]))
        ).scalar()
        conn.execute(
            sa.update(store.resubmissions)
            .where(store.resubmissions.c.id == int(waiting["RS-2"]))
            .values(payload=payload.replace('"date_received": null', '"date_received": "NaT"'))
        )
    online = identity.resubmission_differences(engine, int(waiting["RS-1"]))["field"].tolist()
    assert "online" in online and "date_received" not in online
    assert identity.resubmission_differences(engine, int(waiting["RS-2"]))["field"].tolist() == ["concerns"]
    for ref in ("RS-1", "RS-2"):
        identity.accept_resubmission(engine, int(waiting[ref]), actor="analyst.one")
    reports = store.load_reports(engine)
    stored = store.report_details(engine, reports["id"]).set_index("source_ref")
    assert stored.loc["RS-1", "geocode_method"] == "online" and pd.isna(stored.loc["RS-1", "latitude"])
    assert stored.loc["RS-2", "concerns"] == "cce" and pd.isna(stored.loc["RS-2", "date_received"])
    assert selection.online_count(reports) == 1
    assert aggregate.aggregate_hexes(reports, 8)["count"].sum() == 1


def test_a_latitude_and_longitude_pasted_into_the_location_are_the_rows_coordinates(engine, tmp_path):
    """A point copied from a map app into the location field is located as coordinates, as precise as
    its decimals (two decimals: over a kilometre), swapped back when given longitude first; a house
    number range is not mistaken for one, and coordinates of the row's own win."""
    path = tmp_path / "pasted.csv"
    path.write_text(
        "Source reference,Date observed,Reporting agency,Location,Latitude,Longitude,Concerns\n"
        'P-1,03/04/2025,Test Outreach (synthetic),"54.77630, -1.57540",,,cse\n'
        'P-2,04/04/2025,Test Outreach (synthetic),"(54.78, -1.58)",,,cse\n'
        'P-3,05/04/2025,Test Outreach (synthetic),"-1.57540, 54.77630",,,cse\n'
        'P-4,06/04/2025,Test Outreach (synthetic),"12, 14 the back lane",,,cse\n'
        'P-5,07/04/2025,Test Outreach (synthetic),"54.77630, -1.57540",54.7,-1.5,cse\n',
        encoding="utf-8",
    )
    summary = pipeline.import_file(engine, path)
    assert (summary.n_accepted, summary.n_quarantined) == (4, 1)
    stored = store.report_details(engine, store.load_reports(engine)["id"]).set_index("source_ref")
    assert stored["geocode_method"].eq("coordinates_wgs84").all()
    assert stored.loc["P-1", ["latitude", "longitude", "precision_m"]].tolist() == [54.7763, -1.5754, 10.0]
    assert stored.loc["P-1", "location_text"] == "54.77630, -1.57540", "the text stays as written"
    assert stored.loc["P-2", "precision_m"] > 1_000
    assert stored.loc["P-3", ["latitude", "longitude"]].tolist() == [54.7763, -1.5754]
    assert stored.loc["P-5", ["latitude", "longitude"]].tolist() == [54.7, -1.5]
    (reason,) = store.load_quarantine(engine)["reason"]
    assert reason.startswith("row 5: street 'Back Lane' is in 6 localities")  # read as a street


def test_degrees_minutes_and_seconds_are_read_as_precisely_as_they_were_written(engine, tmp_path):
    """54°46'34.7"N is a point to a tenth of a second (3 m): located within the 13 m radius of four
    decimals. Whole minutes are a box of 1.9 by 1.1 km: stated no narrower than that (one decimal,
    12.8 km). A hemisphere letter that is not a latitude's is not guessed at."""
    path = tmp_path / "dms.csv"
    path.write_text(
        "Source reference,Date observed,Reporting agency,Latitude,Longitude,Concerns\n"
        'M-1,03/04/2025,Test Outreach (synthetic),"54°46\'34.7""N","1°34\'31.4""W",cse\n'
        "M-2,04/04/2025,Test Outreach (synthetic),N54 46.578,W1 34.524,cse\n"
        "M-3,05/04/2025,Test Outreach (synthetic),54°46'N,1°34'W,cse\n"
        'M-4,06/04/2025,Test Outreach (synthetic),"54°46\'34.7""E","1°34\'31.4""W",cse\n',
        encoding="utf-8",
    )
    summary = pipeline.import_file(engine, path)
    assert (summary.n_accepted, summary.n_quarantined) == (3, 1)
    stored = store.report_details(engine, store.load_reports(engine)["id"]).set_index("source_ref")
    for ref in ("M-1", "M-2"):
        assert stored.loc[ref, ["latitude", "longitude"]].tolist() == [54.7763, -1.5754]
        assert stored.loc[ref, "precision_m"] == pytest.approx(12.85, abs=0.01)
    assert stored.loc["M-3", ["latitude", "longitude"]].tolist() == [54.8, -1.6]
    assert stored.loc["M-3", "precision_m"] > 2_100, "never narrower than a minute of arc"
    (reason,) = store.load_quarantine(engine)["reason"]
    assert reason == (
        'row 5: latitude "54°46\'34.7"E" is not a number (a latitude is N or S: E and W are a longitude\'s)'
    )


def test_reimport_adds_nothing_even_for_quarantined_rows(engine, tmp_path):
    path = _write_form(tmp_path / "form.csv", FORM_ROWS)
    pipeline.import_file(engine, path)
    before = _table_counts(engine)
    again = pipeline.import_file(engine, path)
    assert (again.n_accepted, again.n_quarantined, again.n_duplicates) == (0, 0, 7)
    after = _table_counts(engine)
    assert after["reports"] == before["reports"] and after["quarantine"] == before["quarantine"]
    # The same reports under new file bytes (re-saved, reordered) are duplicates by source reference.
    shuffled = _write_form(tmp_path / "resaved.csv", list(reversed(FORM_ROWS)))
    third = pipeline.import_file(engine, shuffled)
    assert third.n_accepted == 0 and third.n_duplicates == 7


def test_one_import_is_one_transaction(engine, tmp_path, monkeypatch):
    path = _write_form(tmp_path / "form.csv", FORM_ROWS)

    def explode(*_args, **_kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(store, "insert_quarantine", explode)
    with pytest.raises(OSError, match="simulated"):
        pipeline.import_file(engine, path)
    assert _table_counts(engine) == {"imports": 0, "reports": 0, "quarantine": 0, "police_context": 0}
    monkeypatch.undo()
    assert pipeline.import_file(engine, path).n_accepted == 4


def test_a_file_without_dates_is_refused_and_nothing_is_stored(engine, tmp_path):
    path = tmp_path / "nodates.csv"
    path.write_text("Postcode,Concerns\nDH1 1AB,cce\n", encoding="utf-8")
    with pytest.raises(ImportRefused, match="date"):
        pipeline.import_file(engine, path)
    assert _table_counts(engine)["imports"] == 0


def test_analyst_resolution_moves_a_row_into_the_data(engine, tmp_path):
    from hoth_geo.intake.geocode import locate_manually

    pipeline.import_file(engine, _write_form(tmp_path / "form.csv", FORM_ROWS))
    q = store.load_quarantine(engine)
    entry = q[q["reason"].str.contains("needs a location")].iloc[0]
    payload, import_id = store.quarantine_payload(engine, int(entry["id"]))
    row = pd.DataFrame([payload])
    for c in ("observed_at", "date_received"):
        row[c] = pd.to_datetime(row[c])
    located = locate_manually(row, 54.7761, -1.5733)
    with engine.begin() as conn:
        review.resolve_quarantined(
            conn, int(entry["id"]), located, import_id=import_id, resolved_by="analyst"
        )
    reports = store.load_reports(engine)
    assert len(reports) == 5 and (reports["geocode_method"] == "analyst").sum() == 1
    assert int(entry["id"]) not in store.load_quarantine(engine)["id"].tolist()
    assert np.isin(int(entry["id"]), store.load_quarantine(engine, status="resolved")["id"]).all()


def test_partial_postcodes_place_reports_coarsely(engine, tmp_path):
    rows = [
        {
            "Date observed": "03/04/2025",
            "Reporting agency": "Test School (synthetic)",
            "Postcode": "DH1",
            "Concerns": "cce",
        },
        {
            "Date observed": "04/04/2025",
            "Reporting agency": "Test School (synthetic)",
            "Postcode": "dh1 4",
            "Concerns": "cce",
        },
    ]
    summary = pipeline.import_file(engine, _write_form(tmp_path / "partial.csv", rows))
    assert summary.n_accepted == 2
    details = store.report_details(engine, store.load_reports(engine)["id"]).set_index("postcode")
    assert details.loc["DH1", "geocode_method"] == "postcode_district"
    assert details.loc["DH1 4", "geocode_method"] == "postcode_sector"
    assert details.loc["DH1", "precision_m"] > 1000


def test_imports_and_resolutions_are_in_the_audit_chain(engine, tmp_path):
    from hoth_geo.access import audit
    from hoth_geo.intake.geocode import locate_manually

    pipeline.import_file(engine, _write_form(tmp_path / "form.csv", FORM_ROWS), imported_by="analyst.one")
    entry = store.load_quarantine(engine).query("reason.str.contains('needs a location')").iloc[0]
    payload, import_id = store.quarantine_payload(engine, int(entry["id"]))
    row = pd.DataFrame([payload]).assign(
        observed_at=lambda t: pd.to_datetime(t["observed_at"]),
        date_received=lambda t: pd.to_datetime(t["date_received"]),
    )
    with engine.begin() as conn:
        review.resolve_quarantined(
            conn,
            int(entry["id"]),
            locate_manually(row, 54.7761, -1.5733),
            import_id=import_id,
            resolved_by="analyst.one",
        )
    log = audit.load_audit(engine)
    assert list(log["event"]) == ["import", "quarantine_resolved"]
    assert log["actor"].tolist() == ["analyst.one", "analyst.one"]
    assert audit.verify_chain(engine).ok
