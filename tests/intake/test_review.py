"""Review's rows that need a location: how a row reads, who reads its narrative, the filters, and the
resolve / undo transactions (hoth_geo.intake.review), then the page itself in AppTest: nothing preselected, a
confirm step before anything is saved, and undo."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import sqlalchemy as sa
from forms import LOCATED, OUTREACH, PETROL, as_quarantined_before_0010, write_form

from hoth_geo import selection, store
from hoth_geo.access import audit, auth
from hoth_geo.access.privacy import NotAllowed
from hoth_geo.analysis import aggregate
from hoth_geo.deliver import maps
from hoth_geo.intake import identity, pipeline, review
from hoth_geo.intake.gazetteer import load_gazetteer

DURHAM = (54.7761, -1.5733)  # Durham city centre, inside the shipped area


@pytest.fixture()
def engine(tmp_path):
    return store.connect(f"sqlite:///{tmp_path / 'review.sqlite'}")


def _user(role: str) -> auth.User:
    if role == "admin":
        return auth.User(id=None, username="admin.one", display_name=None, role=None, is_admin=True)
    return auth.User(id=None, username=f"{role}.one", display_name=None, role=role, is_admin=False)


def _open_rows(engine) -> pd.DataFrame:
    return review.needs_location(engine)


def _events(engine) -> list[str]:
    return audit.load_audit(engine)["event"].tolist()


def _grid(at, column: str) -> pd.DataFrame:
    """The first data grid of the page with ``column``: the rows waiting ('Why it needs a location'), a
    row's candidate places ('Place'), the other quarantined rows ('File')."""
    return next(f.value for f in at.dataframe if column in f.value.columns)


def test_a_row_reads_as_a_person_would_read_it(engine, tmp_path):
    pipeline.import_file(engine, write_form(tmp_path / "outreach.csv", [OUTREACH]))
    row = _open_rows(engine).iloc[0]
    payload, _ = store.quarantine_payload(engine, int(row["id"]))
    shown = dict(review.readable(payload))
    assert shown["Date observed"] == "Sat 14 Jun 2025, 21:15"
    assert shown["Agency"] == "Youth Outreach (synthetic) (Community / voluntary)"
    assert shown["Location text"] == "the usual place behind the shops"
    assert shown["Place name"] == shown["Postcode"] == "not given"
    assert shown["Concerns"].startswith("Child criminal exploitation")
    assert not any("synthetic) seen" in v for v in shown.values()), "no narrative without the role check"
    assert "None" not in shown.values() and "vcs" not in str(shown)
    assert review.plain_reason(row["reason"]).startswith("needs a location: no coordinates")


def test_the_narrative_is_read_only_by_roles_allowed_it_and_the_read_is_audited(engine, tmp_path):
    pipeline.import_file(engine, write_form(tmp_path / "outreach.csv", [OUTREACH]))
    qid = int(_open_rows(engine).iloc[0]["id"])
    text = review.read_narrative(engine, qid, _user("analyst"))
    assert text == OUTREACH["Narrative"]
    last = audit.load_audit(engine).iloc[-1]
    assert (last["event"], last["actor"], last["target"]) == (
        "narrative_viewed",
        "analyst.one",
        f"quarantine:{qid}",
    )
    n = len(_events(engine))
    for role in ("partner", "contributor", "admin"):
        with pytest.raises(NotAllowed, match="may not read narratives"):
            review.read_narrative(engine, qid, _user(role))
    assert len(_events(engine)) == n, "a refused read records no narrative view"


def test_the_candidates_are_the_places_the_reason_names(engine, tmp_path):
    pipeline.import_file(engine, write_form(tmp_path / "petrol.csv", [PETROL]))
    row = _open_rows(engine).iloc[0]
    assert "nearest names: Petrol station, Crook (Crook)" in row["reason"]
    payload, _ = store.quarantine_payload(engine, int(row["id"]))
    found = review.place_candidates(payload, row["reason"], pipeline.all_places(engine))
    assert not found.empty
    assert set(found["name"]) == {"Petrol station, Crook", "Petrol station, Pelton", "Petrol station, Tudhoe"}
    assert found["place_id"].is_unique
    assert review.place_candidates(
        {"place_name": None}, "needs a location", pipeline.all_places(engine)
    ).empty


STATION_ROAD_TAKEAWAYS = {
    ("Station Road Takeaway (demo)", "Seaham"),
    ("Station Road Takeaway (demo)", "West Auckland"),
}


def _named(found: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(found["name"], found["locality"], strict=True))


def test_an_ambiguous_name_offers_its_matches_and_no_unrelated_stations(demo_store):
    # The demo's rows naming its two venues of one name: the reason lists both, and a name with
    # 'station' in it must not be padded with the area's bus and filling stations.
    rows = review.needs_location(demo_store.engine)
    rows = rows[rows["place_name"].fillna("").str.startswith("Station Road Takeaway")]
    assert not rows.empty
    for row in rows.itertuples():
        payload, _ = store.quarantine_payload(demo_store.engine, int(row.id))
        assert "matches 2 places" in row.reason
        found = review.place_candidates(payload, row.reason, demo_store.places)
        assert _named(found) == STATION_ROAD_TAKEAWAYS
        assert len(found) == 2 and found["place_id"].is_unique


@pytest.mark.parametrize(
    ("place_name", "expected"),
    [
        ("Station Rd Takeway", STATION_ROAD_TAKEAWAYS),  # a slip in a name of generic words only
        ("Saddler Street taxi rank", {("Taxi rank, Saddler Street, Durham (demo)", "Elvet and Gilesgate")}),
        ("Darlington bus station", {("Bus station, Darlington town centre (demo)", "Central")}),
        ("Kebab house Victoria Road", {("Kebab house, Victoria Road strip (demo)", "Central")}),
        ("Hotel A", {("Hotel A, Durham (demo)", "Elvet and Gilesgate")}),
        ("Station Hotel", set()),  # no such place: better none than every station and every hotel
        ("the station", set()),
    ],
)
def test_candidates_match_the_distinctive_part_of_the_name(demo_store, place_name, expected):
    found = review.place_candidates({"place_name": place_name}, "needs a location", demo_store.places)
    assert _named(found) == expected
    generic_only = demo_store.places[review.plausible_candidates(place_name, demo_store.places)]
    assert _named(generic_only) == expected


def test_a_shared_generic_word_is_never_enough(demo_store):
    places = demo_store.places
    stations = places[places["name"].str.contains("station", case=False)]
    assert stations["name"].str.contains("Filling station").any()
    for name in ("Station Road Takeaway", "Bus station", "Blackhalls park", "Victoria Road chicken shop"):
        plausible = stations[review.plausible_candidates(name, stations)]
        assert not plausible["name"].str.contains("Filling station").any(), name
    park = places[review.plausible_candidates("Blackhals park", places)]  # a slip in the distinctive word
    assert set(park["locality"]) == {"Blackhalls"} and park["name"].str.contains("park", case=False).all()


def test_filters_by_import_and_demo_newest_first(engine, tmp_path):
    pipeline.import_file(engine, write_form(tmp_path / "old.csv", [OUTREACH]), is_demo=True)
    pipeline.import_file(engine, write_form(tmp_path / "new.csv", [PETROL, OUTREACH]))
    rows = _open_rows(engine)
    assert rows["filename"].tolist() == ["new.csv", "new.csv", "old.csv"], "new rows come before demo rows"
    assert rows["is_demo"].tolist() == [False, False, True]
    real = review.needs_location(engine, include_demo=False)
    assert real["filename"].tolist() == ["new.csv", "new.csv"]
    waiting = review.imports_waiting(engine)
    assert waiting["filename"].tolist() == ["new.csv", "old.csv"] and waiting["n"].tolist() == [2, 1]
    old_id = int(waiting.loc[waiting["filename"] == "old.csv", "id"].iloc[0])
    assert review.needs_location(engine, import_id=old_id)["filename"].tolist() == ["old.csv"]
    assert review.needs_location(engine, import_id=old_id, include_demo=False).empty


def test_a_row_located_at_a_rural_postcode_is_stored_as_wide_as_the_unit(engine, tmp_path):
    pipeline.import_file(engine, write_form(tmp_path / "outreach.csv", [OUTREACH]))
    qid = int(_open_rows(engine).iloc[0]["id"])
    pc, lat, lon, radius = review.postcode_location("DL12 0PB", load_gazetteer().postcodes)
    report_id = review.resolve_with_location(engine, qid, lat, lon, actor="analyst.one", precision_m=radius)
    stored = store.report_details(engine, [report_id]).iloc[0]
    assert (stored["geocode_method"], stored["precision_m"]) == ("analyst", 3566.0)
    # Somewhere within 3.6 km: counted in hexagons of 3.7 km sides (resolution 6), never in 530 m ones (8).
    reports = store.load_reports(engine)
    this = (reports["id"] == report_id).to_numpy()
    assert selection.located(reports, 6)[this].all()
    assert not selection.located(reports, 8)[this].any()


def test_resolve_then_undo_in_audited_transactions(engine, tmp_path):
    pipeline.import_file(engine, write_form(tmp_path / "outreach.csv", [OUTREACH]))
    qid = int(_open_rows(engine).iloc[0]["id"])
    before = len(store.load_reports(engine))

    report_id = review.resolve_with_location(engine, qid, *DURHAM, actor="analyst.one")
    reports = store.load_reports(engine)
    assert len(reports) == before + 1
    stored = store.report_details(engine, [report_id]).iloc[0]
    assert (stored["latitude"], stored["longitude"], stored["geocode_method"]) == (*DURHAM, "analyst")
    assert stored["narrative"] == OUTREACH["Narrative"]
    assert _open_rows(engine).empty
    entry = store.load_quarantine(engine, status="resolved").iloc[0]
    assert (entry["resolved_report_id"], entry["resolved_by"]) == (report_id, "analyst.one")
    last = review.last_resolution(engine, resolved_by="analyst.one")
    assert last is not None and (last.quarantine_id, last.report_id) == (qid, report_id)
    assert review.last_resolution(engine, resolved_by="someone.else") is None

    with pytest.raises(ValueError, match=f"quarantine entry {qid} is already resolved"):
        review.resolve_with_location(engine, qid, *DURHAM, actor="analyst.two")

    review.undo_resolution(engine, qid, actor="analyst.one")
    assert len(store.load_reports(engine)) == before
    assert store.report_details(engine, [report_id]).empty
    reopened = _open_rows(engine)
    assert reopened["id"].tolist() == [qid]
    assert store.load_quarantine(engine, status="open").iloc[0]["resolved_report_id"] is None
    assert review.last_resolution(engine) is None
    log = audit.load_audit(engine)
    assert log["event"].tolist()[-2:] == ["quarantine_resolved", "quarantine_unresolved"]
    undo = log.iloc[-1]
    assert (undo["actor"], undo["target"]) == ("analyst.one", f"quarantine:{qid}")
    assert f'"report_id":{report_id}' in undo["details"].replace(" ", "")
    assert audit.verify_chain(engine).ok

    with pytest.raises(ValueError, match="already undone"):
        review.undo_resolution(engine, qid, actor="analyst.one")
    assert _events(engine)[-1] == "quarantine_unresolved" and len(store.load_reports(engine)) == before

    # The reopened row can be located again.
    review.resolve_with_location(engine, qid, *DURHAM, actor="analyst.one")
    assert len(store.load_reports(engine)) == before + 1 and _open_rows(engine).empty


GROUP_CHAT = dict(
    OUTREACH,
    **{"Source reference": "YO-77", "Location": "a group chat the children share", "Setting": "group chat"},
)


def test_a_row_that_happened_online_is_marked_online_counted_and_never_mapped(engine, tmp_path):
    """A setting the import cannot read as online ("group chat") is read as in person and named in the
    import's warnings; with no place, the row waits in Review. The analyst marks it online: counted as
    online, drawn on no map, and undone like a location."""
    path = write_form(tmp_path / "chat.csv", [GROUP_CHAT])
    summary = pipeline.import_file(engine, path)
    assert any('"group chat" (1 row)' in w for w in summary.warnings), "the unread setting is named"
    qid = int(_open_rows(engine)["id"].iloc[0])
    payload, _ = store.quarantine_payload(engine, qid)
    shown = dict(review.readable(payload, review.setting_as_written(engine, qid)))
    assert shown["Setting"] == "group chat", "the analyst sees the setting as the partner wrote it"

    report_id = review.resolve_as_online(engine, qid, actor="analyst.one")
    reports = store.load_reports(engine)
    assert selection.online_count(reports) == 1
    assert aggregate.aggregate_hexes(reports, 8).empty, "an online report is drawn on no map"
    details = store.report_details(engine, [report_id]).iloc[0]
    assert (details["geocode_method"], details["place_type"]) == ("online", "online")
    assert pd.isna(details["latitude"]) and details["location_text"] == GROUP_CHAT["Location"]
    assert details["geocode_note"] == "marked online by an analyst in Review"
    last = review.last_resolution(engine, resolved_by="analyst.one")
    assert last is not None and "marked online (not mapped)" in last.describe()
    assert '"method":"online"' in audit.load_audit(engine).iloc[-1]["details"].replace(" ", "")
    assert _open_rows(engine).empty

    again = pipeline.import_file(engine, write_form(tmp_path / "resaved.csv", [GROUP_CHAT]))
    assert (again.n_accepted, again.n_quarantined, again.n_duplicates) == (0, 0, 1), "sent again: nothing new"

    review.undo_resolution(engine, qid, actor="analyst.one")
    assert selection.online_count(store.load_reports(engine)) == 0
    assert _open_rows(engine)["id"].tolist() == [qid]
    assert audit.verify_chain(engine).ok


def test_a_row_set_aside_leaves_review_with_its_reason_and_can_be_restored(engine, tmp_path):
    """A row that will never be corrected (sent in error) is set aside: kept, out of Review's lists and
    the open count, the reason in the audit log; restored, it is open again. Nothing is deleted."""
    pipeline.import_file(engine, write_form(tmp_path / "outreach.csv", [OUTREACH]))
    qid = int(_open_rows(engine).iloc[0]["id"])
    with pytest.raises(ValueError, match="why: say why"):
        review.set_aside(engine, qid, why="  ", actor="analyst.one")
    review.set_aside(engine, qid, why="sent in error by the project (synthetic)", actor="analyst.one")
    assert _open_rows(engine).empty and store.counts(engine)["quarantine_open"] == 0
    aside = review.set_aside_rows(engine)
    assert aside["id"].tolist() == [qid] and aside["resolved_by"].tolist() == ["analyst.one"]
    last = audit.load_audit(engine).iloc[-1]
    assert (last["event"], last["target"]) == ("quarantine_set_aside", f"quarantine:{qid}")
    assert "sent in error by the project" in last["details"]
    assert store.load_reports(engine).empty, "nothing is stored"
    with pytest.raises(ValueError, match="not open"):
        review.set_aside(engine, qid, why="again", actor="analyst.two")
    with pytest.raises(ValueError, match="already set_aside"):
        review.resolve_with_location(engine, qid, *DURHAM, actor="analyst.two")

    review.restore(engine, qid, actor="analyst.two")
    assert _open_rows(engine)["id"].tolist() == [qid] and store.counts(engine)["quarantine_open"] == 1
    assert review.set_aside_rows(engine).empty
    assert _events(engine)[-1] == "quarantine_restored" and audit.verify_chain(engine).ok
    with pytest.raises(ValueError, match="not set aside"):
        review.restore(engine, qid, actor="analyst.two")


# A latitude typed with its decimal point one place late: plain to an analyst, refused by the import.
SLIPPED = dict(
    OUTREACH,
    **{"Source reference": "OR-17", "Location": "", "Latitude": "548.02165", "Longitude": "-1.57540"},
)


def test_a_value_the_import_refused_is_corrected_in_review_stored_audited_and_undone(engine, tmp_path):
    """The analyst corrects the latitude an import refused: the row is read again as an import reads it
    (a correction that is still no latitude, or puts the row outside the area, is refused with the
    reason and nothing changes), then stored with the corrected value and the radius its decimals
    give. The entry keeps the row as the partner sent it, the audit entry names the cell, the partner's
    text and the analyst's, and the correction is undone like a location."""
    pipeline.import_file(engine, write_form(tmp_path / "outreach.csv", [SLIPPED]))
    other, n_other = review.needs_a_corrected_file(engine)
    assert n_other == 1 and other["reason"].iloc[0] == "row 2: latitude 548.02165 out of range (-90 to 90)"
    qid = int(other["id"].iloc[0])
    cells = review.correctable_cells(engine, qid)
    assert cells.iloc[0].tolist() == ["Latitude", "548.02165", True], "the value at fault comes first"
    assert set(cells["header"]) >= {"Longitude", "Date observed", "Time observed", "Postcode"}
    assert not {"Narrative", "Reporting agency", "Source reference"} & set(cells["header"])

    for corrections, refusal in [
        ({"Latitude": " 548.02165 "}, "nothing was corrected"),
        ({"Narrative": "rewritten"}, "'Narrative' is not a column this row can be corrected in"),
        ({"Latitude": "5480.2165"}, "would still be quarantined: latitude 5480.2165 out of range"),
        ({"Latitude": "64.802165"}, "cannot be located: coordinates 64.80217, -1.57540 lie outside"),
    ]:
        with pytest.raises(ValueError, match=refusal):
            review.store_corrected(engine, qid, corrections, actor="analyst.one")
    assert review.needs_a_corrected_file(engine)[1] == 1 and store.load_reports(engine).empty

    report_id = review.store_corrected(engine, qid, {"Latitude": "54.802165"}, actor="analyst.one")
    report = store.report_details(engine, [report_id]).iloc[0]
    assert (report["latitude"], report["longitude"], report["source_ref"]) == (54.802165, -1.5754, "OR-17")
    assert report["geocode_method"] == "coordinates_wgs84" and report["precision_m"] < 15
    entry = store.load_quarantine(engine, status=None).set_index("id").loc[qid]
    assert (entry["status"], entry["resolved_report_id"]) == ("resolved", report_id)
    assert '"548.02165"' in entry["raw"], "the row as the partner sent it is kept"
    last = audit.load_audit(engine).iloc[-1]
    assert (last["event"], last["actor"], last["target"]) == (
        "quarantine_resolved",
        "analyst.one",
        f"quarantine:{qid}",
    )
    assert json.loads(last["details"])["corrected"] == {"Latitude": {"from": "548.02165", "to": "54.802165"}}
    resolution = review.last_resolution(engine, resolved_by="analyst.one")
    assert resolution.corrected and "corrected and stored" in resolution.describe()
    assert store.counts(engine)["quarantine_open"] == 0

    review.undo_resolution(engine, qid, actor="analyst.one")
    assert store.load_reports(engine).empty and review.needs_a_corrected_file(engine)[1] == 1
    assert audit.verify_chain(engine).ok
    # A row that reads cleanly and only needs a location is located, not corrected.
    pipeline.import_file(engine, write_form(tmp_path / "petrol.csv", [PETROL]))
    locatable = int(review.needs_location(engine)["id"].iloc[0])
    with pytest.raises(ValueError, match="needs a location: locate it instead"):
        review.store_corrected(engine, locatable, {"Postcode": "DH1 1AB"}, actor="analyst.one")


def test_a_row_of_a_semicolon_separated_file_is_corrected_with_its_comma_decimals(engine, tmp_path):
    """A semicolon-separated export writes its decimals with a comma, and the import record keeps the
    separator, so a corrected row is read again as the import read it: the analyst corrects the
    latitude in the file's own way and the longitude beside it keeps its comma."""
    from hoth_geo.schema import TEMPLATE_COLUMNS

    row = dict(SLIPPED, **{"Source reference": "OR-18", "Latitude": "548,02165", "Longitude": "-1,57540"})
    semicolons = tmp_path / "semicolons.csv"
    pd.DataFrame([{c: row.get(c, "") for c in TEMPLATE_COLUMNS}]).to_csv(semicolons, sep=";", index=False)
    pipeline.import_file(engine, semicolons)
    pipeline.import_file(engine, write_form(tmp_path / "commas.csv", [LOCATED]))
    assert store.load_imports(engine)["delimiter"].tolist() == [";", ","]
    other, _ = review.needs_a_corrected_file(engine)
    assert other["reason"].iloc[0] == "row 2: latitude 548,02165 out of range (-90 to 90)"
    report_id = review.store_corrected(
        engine, int(other["id"].iloc[0]), {"Latitude": "54,802165"}, actor="a.one"
    )
    report = store.report_details(engine, [report_id]).iloc[0]
    assert (report["latitude"], report["longitude"], report["source_ref"]) == (54.802165, -1.5754, "OR-18")


def _review_page(tmp_path, monkeypatch, filename: str, rows: list[dict]):
    """Review as an analyst opens it, on a new database holding one imported file: (engine, the id of
    the file's first quarantined row, the page)."""
    from apptest_support import app_as, ensure_user

    url = f"sqlite:///{tmp_path / 'page.sqlite'}"
    monkeypatch.setenv("HOTH_GEO_DB", url)
    engine = store.connect(url)
    pipeline.import_file(engine, write_form(tmp_path / filename, rows))
    qid = int(store.load_quarantine(engine)["id"].iloc[0])
    return engine, qid, app_as(ensure_user(url, "analyst"), "review").run()


def test_review_page_corrects_a_value_after_a_confirmation(tmp_path, monkeypatch):
    from apptest_support import as_read

    engine, qid, at = _review_page(tmp_path, monkeypatch, "outreach.csv", [SLIPPED])
    at.selectbox(key="rv_fix_row").select(qid).run()
    assert as_read(at.text_input(key=f"rv_fix_{qid}_0").label)[0] == "Latitude (as sent: 548.02165)"
    at.text_input(key=f"rv_fix_{qid}_0").input("54.802165").run()
    at.button(key="rv_fix").click().run()
    assert store.load_reports(engine).empty, "nothing is stored before the confirmation"
    assert any("Latitude: 54.802165" in as_read(w.value)[0] for w in at.warning)
    at.button(key="rv_confirm").click().run()
    assert not at.exception, at.exception
    said = [as_read(s.value)[0] for s in at.success]
    assert any(s.startswith("Corrected and stored: outreach.csv row 2 is report") for s in said), said
    assert len(store.load_reports(engine)) == 1 and review.needs_a_corrected_file(engine)[1] == 0
    at.button(key="rv_undo").click().run()
    assert any("row 2 waits for a correction again" in as_read(s.value)[0] for s in at.success)
    assert store.load_reports(engine).empty


def test_review_page_sets_a_row_aside_and_restores_it(tmp_path, monkeypatch):
    from apptest_support import as_read

    engine, qid, at = _review_page(tmp_path, monkeypatch, "petrol.csv", [PETROL])
    assert at.button(key="rv_aside").disabled, "nothing chosen, no reason: nothing to do"
    at.selectbox(key="rv_aside_row").select(qid).run()
    at.text_input(key="rv_aside_why").input("a test row (synthetic)").run()
    at.button(key="rv_aside").click().run()
    assert not at.exception, at.exception
    said = [as_read(s.value)[0] for s in at.success]
    assert any(s.startswith("Set aside: petrol.csv row 2.") for s in said), said
    assert review.needs_location(engine).empty
    at.selectbox(key="rv_restore_row").select(qid).run()
    at.button(key="rv_restore").click().run()
    assert any("Restored: petrol.csv row 2 is back in Review." in as_read(s.value)[0] for s in at.success)
    assert review.needs_location(engine)["id"].tolist() == [qid]


def test_undo_of_a_row_resolved_to_a_report_stored_meanwhile_keeps_that_report(engine, tmp_path):
    first = dict(OUTREACH, **{"Source reference": "YO-7"})
    pipeline.import_file(engine, write_form(tmp_path / "first.csv", [first]))
    qid = int(_open_rows(engine).iloc[0]["id"])
    as_quarantined_before_0010(engine)
    # The agency sends the same report again, now with a postcode: stored under the same identity.
    pipeline.import_file(engine, write_form(tmp_path / "second.csv", [dict(first, Postcode="DH1 1AB")]))
    (stored_id,) = store.load_reports(engine)["id"].tolist()

    assert review.resolve_with_location(engine, qid, *DURHAM, actor="analyst.one") == stored_id
    assert len(identity.load_resubmissions(engine)) == 1, (
        "the located row differs: it waits as a resubmission"
    )
    review.undo_resolution(engine, qid, actor="analyst.one")
    assert store.load_reports(engine)["id"].tolist() == [stored_id], "the report stored meanwhile stays"
    assert identity.load_resubmissions(engine).empty
    assert _open_rows(engine)["id"].tolist() == [qid]


def test_undo_is_refused_once_the_resubmission_it_left_was_decided(engine, tmp_path):
    first = dict(OUTREACH, **{"Source reference": "YO-8"})
    pipeline.import_file(engine, write_form(tmp_path / "first.csv", [first]))
    qid = int(_open_rows(engine).iloc[0]["id"])
    as_quarantined_before_0010(engine)
    pipeline.import_file(engine, write_form(tmp_path / "second.csv", [dict(first, Postcode="DH1 1AB")]))
    review.resolve_with_location(engine, qid, *DURHAM, actor="analyst.one")
    (resubmission_id,) = identity.load_resubmissions(engine)["id"].tolist()
    identity.reject_resubmission(engine, int(resubmission_id), actor="analyst.two")
    with pytest.raises(ValueError, match="the resubmission it left on report .* was already rejected"):
        review.undo_resolution(engine, qid, actor="analyst.one")
    assert _open_rows(engine).empty and _events(engine)[-1] == "resubmission_rejected"


def test_undo_is_refused_once_other_decisions_rest_on_the_report(engine, tmp_path):
    pipeline.import_file(engine, write_form(tmp_path / "a.csv", [OUTREACH]))
    qid = int(_open_rows(engine).iloc[0]["id"])
    report_id = review.resolve_with_location(engine, qid, *DURHAM, actor="analyst.one")
    # Another report is merged into it (as Review's possible-duplicates section does).
    pipeline.import_file(engine, write_form(tmp_path / "b.csv", [LOCATED]))
    other = int(store.load_reports(engine).query("id != @report_id")["id"].iloc[0])
    with engine.begin() as conn:
        conn.execute(store.reports.update().where(store.reports.c.id == other).values(merged_into=report_id))
    with pytest.raises(ValueError, match=f"report {report_id} is in use .other reports are merged into it"):
        review.undo_resolution(engine, qid, actor="analyst.one")
    with engine.connect() as conn:
        assert conn.execute(sa.select(store.reports.c.id).where(store.reports.c.id == report_id)).scalar()
    assert _open_rows(engine).empty, "a refused undo changes nothing"


def test_the_map_for_picking_a_point_has_no_empty_legend():
    html = maps.standalone_html(maps.blank_map())
    assert "No reports to show" not in html
    empty = pd.DataFrame({"h3": pd.Series(dtype="int64"), "count": pd.Series(dtype="int64")})
    assert "No reports to show" in maps.standalone_html(maps.build_hex_map(empty))


# --- The page ------------------------------------------------------------------------------------------


def test_review_page_needs_a_choice_and_a_confirmation_and_can_undo(tmp_path, monkeypatch):
    from apptest_support import app_as, ensure_user

    from hoth_geo.ui.text import md_escape

    url = f"sqlite:///{tmp_path / 'page.sqlite'}"
    monkeypatch.setenv("HOTH_GEO_DB", url)
    engine = store.connect(url)
    pipeline.import_file(engine, write_form(tmp_path / "old.csv", [OUTREACH]), is_demo=True)
    pipeline.import_file(engine, write_form(tmp_path / "petrol.csv", [PETROL]))
    analyst = ensure_user(url, "analyst")
    n_reports = len(store.load_reports(engine))

    at = app_as(analyst, "review").run()
    assert not at.exception, at.exception
    row = at.selectbox(key="rv_row")
    assert row.value is None, "no row is preselected"
    assert not [b for b in at.button if b.key in ("rv_save", "rv_confirm")]
    overview = _grid(at, "Why it needs a location")
    # The newest import first: the petrol station (given by name), then the outreach row (by its text).
    assert overview["Location given"].tolist() == ["Petrol station", OUTREACH["Location"]]
    assert overview["Observed"].tolist() == ["15 Jun 2025", "14 Jun 2025"]
    assert [o.split(" row ")[0] for o in at.selectbox(key="rv_row").options] == ["petrol.csv", "old.csv"]
    at.checkbox(key="rv_not_demo").check().run()
    assert _grid(at, "Why it needs a location")["Location given"].tolist() == ["Petrol station"]

    qid = int(review.needs_location(engine, include_demo=False)["id"].iloc[0])
    at.selectbox(key="rv_row").select(qid).run()
    assert not at.exception, at.exception
    # The card names the file (escaped as Markdown: a file name is the uploader's text) and the row.
    assert f"{md_escape('petrol.csv')}, row 2" in [c.value for c in at.caption]
    shown = at.table[0].value
    assert shown.loc["Date observed"].iloc[0] == "Sun 15 Jun 2025, 21:15"
    assert shown.loc["Place name"].iloc[0] == "Petrol station"
    assert any("Petrol station" in e.value and "nearest names" in e.value for e in at.error)
    assert not any(OUTREACH["Narrative"] in t.value for t in at.text_area)
    at.button(key="rv_narrative").click().run()
    assert at.text_area[0].value == OUTREACH["Narrative"]
    assert _events(engine)[-1] == "narrative_viewed"
    candidates = _grid(at, "Place")
    assert "Petrol station, Crook" in candidates["Place"].tolist()

    place = review.place_candidates(
        store.quarantine_payload(engine, qid)[0],
        review.needs_location(engine)["reason"].iloc[0],
        pipeline.all_places(engine),
    ).iloc[0]
    assert at.selectbox(key="rv_place").value is None, "no place is preselected"
    at.selectbox(key="rv_place").select(place["place_id"]).run()
    at.button(key="rv_save").click().run()
    assert not at.exception, at.exception
    assert len(store.load_reports(engine)) == n_reports, "Save location alone stores nothing"
    assert any("Confirm:" in w.value and "row 2 will be stored as a report" in w.value for w in at.warning)
    at.button(key="rv_confirm").click().run()
    assert not at.exception, at.exception
    assert len(store.load_reports(engine)) == n_reports + 1
    assert any("Located:" in s.value and "row 2 is report" in s.value for s in at.success), (
        "the confirmation survives the rerun"
    )
    assert any("Nothing waits for a location" in s.value for s in at.success), "no real row is left"
    stored = store.report_details(engine, [review.last_resolution(engine).report_id]).iloc[0]
    assert stored["place_id"] == place["place_id"]

    assert any("The last location you gave" in i.value for i in at.info)
    at.button(key="rv_undo").click().run()
    assert not at.exception, at.exception
    assert len(store.load_reports(engine)) == n_reports
    assert any("Undone" in s.value for s in at.success)
    assert review.needs_location(engine, include_demo=False)["id"].tolist() == [qid]
    assert not [b for b in at.button if b.key == "rv_undo"], "nothing left to undo"
    assert {"quarantine_resolved", "quarantine_unresolved"} <= set(_events(engine))


def test_postcode_location_reads_the_postcode_as_typed_with_its_units_radius():
    units = load_gazetteer().postcodes
    # A terrace in Durham City (the floor), and a farm unit in upper Teesdale whose nearest other unit
    # is 3.6 km away: the analyst's choice is stated as wide as the unit is.
    pc, lat, lon, radius = review.postcode_location("dh13aa", units)
    assert (pc, round(lat, 4), round(lon, 4), radius) == ("DH1 3AA", 54.7763, -1.5743, 100.0)
    pc, lat, lon, radius = review.postcode_location("  DL12   0PB ", units)
    assert (pc, round(lat, 4), round(lon, 4), radius) == ("DL12 0PB", 54.5824, -2.2063, 3566.0)
    assert review.postcode_location("SW1A 1AA", units) is None  # a postcode, not in the gazetteer
    assert review.postcode_location("the park", units) is None  # not a postcode at all


def test_review_page_states_a_rural_postcode_as_wide_as_its_unit(tmp_path, monkeypatch):
    from apptest_support import as_read

    engine, qid, at = _review_page(tmp_path, monkeypatch, "petrol.csv", [PETROL])
    at.selectbox(key="rv_row").select(qid).run()
    at.radio(key="rv_how").set_value("a postcode").run()
    at.text_input(key="rv_postcode").input("dl12 0pb").run()
    at.button(key="rv_save").click().run()
    assert not at.exception, at.exception
    assert any("at postcode DL12 0PB (within 3,566 m)" in as_read(w.value)[0] for w in at.warning)
    at.button(key="rv_confirm").click().run()
    report_id = int(store.load_quarantine(engine, status="resolved")["resolved_report_id"].iloc[0])
    stored = store.report_details(engine, [report_id]).iloc[0]
    assert (stored["geocode_method"], stored["precision_m"]) == ("analyst", 3566.0)


def test_review_page_locates_a_row_by_an_os_grid_reference_as_wide_as_its_square(tmp_path, monkeypatch):
    from apptest_support import as_read

    from hoth_geo.intake import geocode

    engine, qid, at = _review_page(tmp_path, monkeypatch, "petrol.csv", [PETROL])
    at.selectbox(key="rv_row").select(qid).run()
    at.radio(key="rv_how").set_value("a grid reference").run()
    at.text_input(key="rv_grid_ref").input("NZ 275 42").run()
    assert any("is not an OS grid reference" in as_read(w.value)[0] for w in at.warning)
    assert not [b for b in at.button if b.key == "rv_save"], "nothing to save"
    at.text_input(key="rv_grid_ref").input("nz 27 42").run()
    at.button(key="rv_save").click().run()
    assert not at.exception, at.exception
    assert any("at grid reference NZ 27 42 (within 707 m)" in as_read(w.value)[0] for w in at.warning)
    at.button(key="rv_confirm").click().run()
    report_id = int(store.load_quarantine(engine, status="resolved")["resolved_report_id"].iloc[0])
    stored = store.report_details(engine, [report_id]).iloc[0]
    _written, lat, lon, radius = geocode.grid_reference_location("NZ 27 42")
    assert (stored["geocode_method"], stored["precision_m"]) == ("analyst", pytest.approx(radius))
    assert (stored["latitude"], stored["longitude"]) == pytest.approx((lat, lon))


def test_review_page_marks_a_row_online_after_a_confirmation(tmp_path, monkeypatch):
    from apptest_support import as_read

    engine, qid, at = _review_page(tmp_path, monkeypatch, "chat.csv", [GROUP_CHAT])
    at.selectbox(key="rv_row").select(qid).run()
    at.radio(key="rv_how").set_value("saying it was online (not mapped)").run()
    assert not at.exception, at.exception
    at.button(key="rv_online").click().run()
    assert store.load_reports(engine).empty, "the button alone stores nothing"
    assert any("will be stored as an online report" in w.value for w in at.warning)
    at.button(key="rv_confirm").click().run()
    assert not at.exception, at.exception
    said = [as_read(s.value)[0] for s in at.success]
    assert any(s.startswith("Marked online: chat.csv row 2 is report") for s in said), said
    assert selection.online_count(store.load_reports(engine)) == 1
    offered = [as_read(i.value)[0] for i in at.info]
    assert any("chat.csv row 2" in i and "marked online (not mapped)" in i for i in offered), offered


def test_a_backlog_is_listed_a_screenful_at_a_time_with_its_full_count(tmp_path, monkeypatch):
    from apptest_support import app_as, ensure_user

    from hoth_geo.ui.pages.review import ROWS_LISTED

    url = f"sqlite:///{tmp_path / 'backlog.sqlite'}"
    monkeypatch.setenv("HOTH_GEO_DB", url)
    engine = store.connect(url)
    n = ROWS_LISTED + 120
    rows = [dict(OUTREACH, **{"Source reference": f"B-{i:04d}"}) for i in range(n)]
    pipeline.import_file(engine, write_form(tmp_path / "backlog.csv", rows))
    unreadable = [dict(OUTREACH, **{"Source reference": "X-1", "Date observed": "the 45th of Smarch"})]
    pipeline.import_file(engine, write_form(tmp_path / "unreadable.csv", unreadable))
    at = app_as(ensure_user(url, "analyst"), "review").run()
    assert not at.exception, at.exception
    assert len(_grid(at, "Why it needs a location")) == ROWS_LISTED
    assert len(at.selectbox(key="rv_row").options) == ROWS_LISTED
    said = " ".join(c.value for c in at.caption)
    assert f"{n:,} rows need a location here" in said
    assert "1 row needs a correction" in said
    assert _grid(at, "File")["File"].tolist() == ["unreadable.csv"]
    pages = at.selectbox(key="rv_page")
    assert pages.options == [f"1–{ROWS_LISTED:,} of {n:,}", f"{ROWS_LISTED + 1:,}–{n:,} of {n:,}"]

    # The rows after the first screenful are reached without resolving the ones before them.
    first_screen = set(at.selectbox(key="rv_row").options)
    pages.select(ROWS_LISTED).run()
    assert not at.exception, at.exception
    assert len(_grid(at, "Why it needs a location")) == 120
    rest = at.selectbox(key="rv_row").options
    assert len(rest) == 120 and not first_screen & set(rest)
    last = review.needs_location(engine).iloc[-1]
    assert last["row_number"] == n + 1 and rest[-1].startswith(f"backlog.csv row {n + 1}:")
    at.selectbox(key="rv_row").select(int(last["id"])).run()
    assert not at.exception, at.exception
    card = [c.value.replace("\\", "") for c in at.caption]  # as Markdown shows it, escapes undone
    assert any(f"backlog.csv, row {n + 1:,}" in c for c in card), "the file's last row, in its card"


def test_rows_waiting_are_counted_by_agency_and_what_each_lacks(db_url, tmp_path):
    """On SQLite and PostgreSQL: the agencies whose rows wait in Review, most first, and what is missing."""
    engine = store.connect(db_url)
    school = "Hillside Academy (synthetic)"
    rows = [
        # The outreach team: a location text nobody can place, twice; a name the gazetteer lacks; nothing at all.
        dict(OUTREACH, **{"Source reference": "O-1"}),
        dict(OUTREACH, **{"Source reference": "O-2", "Date observed": "13/06/2025"}),
        dict(OUTREACH, **{"Source reference": "O-3", "Location": "", "Place name": "Synthetic Nowhere Lido"}),
        dict(OUTREACH, **{"Source reference": "O-4", "Location": ""}),
        # The school: a postcode outside the area.
        dict(
            OUTREACH,
            **{"Source reference": "S-1", "Reporting agency": school, "Location": "", "Postcode": "SW1A 1AA"},
        ),
        # Located: not waiting.
        dict(LOCATED, **{"Source reference": "L-1"}),
    ]
    pipeline.import_file(engine, write_form(tmp_path / "mixed.csv", rows))
    table = review.waiting_by_agency(engine)
    assert table["agency"].tolist() == ["Youth Outreach (synthetic)", school]
    outreach, by_school = table.iloc[0], table.iloc[1]
    assert outreach["rows"] == 4 and by_school["rows"] == 1
    assert list(table.columns)[:2] == ["agency", "rows"]
    assert outreach["Street not placed"] == 2
    assert outreach["Place name not placed"] == 1
    assert outreach["No location"] == 1
    assert by_school["Postcode not in area"] == 1 and outreach["Postcode not in area"] == 0
    assert int(table["rows"].sum()) == len(review.needs_location(engine))
    # One import's view, and none once they are located or set aside.
    assert review.waiting_by_agency(engine, import_id=999).empty
    for entry in review.needs_location(engine).itertuples():
        review.set_aside(engine, int(entry.id), why="synthetic test", actor="analyst.one")
    assert review.waiting_by_agency(engine).empty


def test_review_page_says_whose_rows_wait_and_what_they_lack(tmp_path, monkeypatch):
    _engine, _qid, at = _review_page(tmp_path, monkeypatch, "petrol.csv", [PETROL, OUTREACH])
    assert not at.exception, at.exception
    (by_agency,) = [
        f.value for f in at.dataframe if "Agency" in f.value.columns and "Rows" in f.value.columns
    ]
    assert by_agency.to_dict("records") == [
        {
            "Agency": "Youth Outreach (synthetic)",
            "Rows": 2,
            "Place name not placed": 1,
            "Street not placed": 1,
        }
    ]
