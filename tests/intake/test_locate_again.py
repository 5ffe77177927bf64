"""Rows that waited for a location, tried again once the area's gazetteer is built
(hoth_geo.intake.review.locate_again), on another partnership's area built from the shared open data:
a partnership sets its area, imports before it has built the gazetteer, builds it, and tries again."""

from __future__ import annotations

import csv
import json

import pandas as pd
import pytest
import sqlalchemy as sa
from forms import OUTREACH, as_quarantined_before_0010, write_form
from pyproj import Geod, Transformer

from hoth_geo import settings, store
from hoth_geo.access import audit
from hoth_geo.intake import area as area_mod
from hoth_geo.intake import geocode, pipeline, review
from hoth_geo.intake.area_gazetteer import build_gazetteer_for_area

pytestmark = pytest.mark.shared

AGENCY = "Youth Outreach (synthetic)"


def _row(ref: str, **given) -> dict:
    return {**OUTREACH, "Source reference": ref, "Location": "", **given}


FIRST_FILE = [
    _row("DA-1", **{"Postcode": "DL1 5AD"}),  # a Darlington unit
    _row("DA-2", **{"Postcode": "DL3 6"}),  # a Darlington sector
    _row("DA-3", **{"Location": "the usual place behind the shops"}),  # no place at all
    _row("DA-4", **{"Latitude": "54.0000", "Longitude": "-1.0000"}),  # coordinates near York
    _row("DA-5", **{"Postcode": "DH1 1AB"}),  # Durham City: not in Darlington
    _row("DA-6", **{"Place name": "Skinnergate chip shop"}),  # the gazetteer will have no places
    _row("DA-7", **{"Postcode": "DL3 7"}),  # sent again, changed, in a later file (below)
]


def _codepoint_point(shared_data, postcode: str) -> tuple[float, float]:
    """The unit's point as Code-Point Open gives it (British National Grid), in WGS84."""
    with open(shared_data / "codepoint_open" / "dl.csv", newline="") as fh:
        row = next(r for r in csv.reader(fh) if r[0] == postcode)
    lon, lat = Transformer.from_crs(27700, 4326, always_xy=True).transform(float(row[2]), float(row[3]))
    return lat, lon


@pytest.fixture()
def darlington(db_url, tmp_path, monkeypatch, area_files):
    """A Darlington partnership's database whose area is set but whose gazetteer is not built yet,
    with FIRST_FILE imported."""
    monkeypatch.setenv(settings.AREA_DIR_ENV, str(tmp_path / "areas"))
    engine = store.connect(db_url)
    area = area_mod.set_area(area_files["gpkg"], "Darlington", db_url=db_url, engine=engine).area
    summary = pipeline.import_file(engine, write_form(tmp_path / "before.csv", FIRST_FILE))
    assert (summary.n_accepted, summary.n_quarantined) == (0, len(FIRST_FILE))
    assert summary.warnings[0].startswith("the gazetteer of Darlington is not built yet")
    yield engine, area
    engine.dispose()


def _open(engine) -> pd.DataFrame:
    rows = review.needs_location(engine)
    return rows.assign(reason=rows["reason"].map(review.plain_reason)).set_index("row_number")


def test_before_the_gazetteer_is_built_a_postcode_is_said_not_looked_up(darlington):
    engine, _ = darlington
    reasons = _open(engine)["reason"]
    for row in (2, 3, 6, 8):
        assert "was not looked up: the gazetteer of Darlington has no postcodes yet" in reasons[row]
        assert "is not a postcode in" not in reasons[row], "an unbuilt gazetteer does not make it wrong"
    assert (
        "'Skinnergate chip shop' was not looked up: the gazetteer of Darlington has no places" in reasons[7]
    )
    assert reasons[5].startswith("coordinates 54.00000, -1.00000 lie outside Darlington")


def test_rows_are_located_again_with_the_built_gazetteer(darlington, tmp_path, shared_data, area_files):
    engine, area = darlington
    build_gazetteer_for_area(area, codepoint=[area_files["codepoint"]])
    gaz = area_mod.gazetteer_for(area)
    # Sent again after the gazetteer was built, with a corrected postcode: stored at once. The first
    # version's entry was quarantined before revision 0010 (no identity kept), so the corrected row
    # does not supersede it: locating it again resolves it to the report stored meanwhile.
    as_quarantined_before_0010(engine)
    later = pipeline.import_file(
        engine, write_form(tmp_path / "later.csv", [_row("DA-7", **{"Postcode": "DL3 7PF"})])
    )
    assert later.n_accepted == 1
    assert not any("not built yet" in w for w in later.warnings)
    n_reports = len(store.load_reports(engine))
    before = _open(engine)

    result = review.locate_again(engine, actor="analyst.one")

    located = result.located.set_index("row_number")
    assert set(located.index) == {2, 3, 8}
    assert located["filename"].eq("before.csv").all()
    assert located.loc[2, "geocode_method"] == "postcode"
    assert located.loc[3, "geocode_method"] == "postcode_sector"
    assert located.loc[8, "geocode_method"] == "postcode_sector"
    units = gaz.postcodes.set_index("postcode")
    assert located.loc[2, "precision_m"] == geocode.layer_radius_m(units.loc[["DL1 5AD"]], 0)[0]
    assert located.loc[3, "precision_m"] == gaz.sectors.set_index("sector").loc["DL3 6", "radius_m"]

    reports = store.load_reports(engine).set_index("id")
    # Two reports more, not three: DA-7 was stored meanwhile, and this row resolves to that report
    # with its different content left as a changed resubmission for an analyst to decide.
    assert len(reports) == n_reports + 2
    stored_first = reports.loc[located.loc[2, "report_id"]]
    lat, lon = _codepoint_point(shared_data, "DL1 5AD")
    assert Geod(ellps="WGS84").inv(lon, lat, stored_first["longitude"], stored_first["latitude"])[2] < 1.0
    with engine.connect() as conn:
        resub = conn.execute(sa.select(store.resubmissions)).one()
    assert resub.report_id == located.loc[8, "report_id"] and resub.status == "open"

    after = _open(engine)
    assert set(after.index) == {4, 5, 6, 7}
    assert after.loc[4, "reason"] == before.loc[4, "reason"], "no place: nothing new to say"
    assert after.loc[5, "reason"] == before.loc[5, "reason"], "coordinates are not tried"
    assert after.loc[6, "reason"].startswith("postcode 'DH1 1AB' is not a postcode in Darlington")
    assert "has no places yet" in after.loc[7, "reason"], "a Code-Point-only gazetteer has no places"
    assert (result.n_tried, result.n_still_open, result.n_with_coordinates) == (6, 3, 1)
    assert result.n_reason_changed == 1
    assert result.describe()[:3] == [
        "6 rows tried with the area's gazetteer",
        "3 located and stored (2 by postcode sector, 1 by postcode)",
        "3 still need a location in Review, 1 with a new reason",
    ]

    log = audit.load_audit(engine)
    # One entry for the run; the row resolved to the report stored meanwhile also gets its own.
    again = log[log["event"] == "quarantine_located_again"].iloc[-1]
    assert again["actor"] == "analyst.one"
    said = json.loads(again["details"])
    assert (said["area"], said["tried"], said["located"], said["still_open"]) == ("Darlington", 6, 3, 3)
    assert said["quarantine_ids"] == sorted(located["quarantine_id"].tolist())
    resolved = log[log["event"] == "quarantine_resolved"]
    assert [json.loads(d)["same_identity_as_report"] for d in resolved["details"]] == [
        located.loc[8, "report_id"]
    ]
    assert audit.verify_chain(engine).ok

    # Nothing new to find: a second run stores nothing and changes no reason.
    second = review.locate_again(engine, actor="analyst.one")
    assert second.located.empty and second.n_reason_changed == 0
    assert len(store.load_reports(engine)) == n_reports + 2

    # Each location can be undone as one given by hand.
    qid = int(located.loc[2, "quarantine_id"])
    review.undo_resolution(engine, qid, actor="analyst.one")
    assert 2 in _open(engine).index
    assert len(store.load_reports(engine)) == n_reports + 1


def test_only_the_chosen_import_is_tried(darlington, tmp_path, area_files):
    engine, area = darlington
    other = pipeline.import_file(
        engine, write_form(tmp_path / "other.csv", [_row("DB-1", **{"Postcode": "DL1 5AD"})])
    )
    assert other.n_quarantined == 1
    build_gazetteer_for_area(area, codepoint=[area_files["codepoint"]])
    ids = review.imports_waiting(engine).set_index("filename")["id"]

    result = review.locate_again(engine, actor="analyst.one", import_id=int(ids["other.csv"]))

    assert result.located["filename"].tolist() == ["other.csv"]
    assert result.n_tried == 1
    waiting = review.imports_waiting(engine).set_index("filename")["n"]
    assert "other.csv" not in waiting and waiting["before.csv"] == len(FIRST_FILE)

    # DA-1 says what DB-1 said under another reference: stored, and flagged as a possible duplicate
    # of DB-1's report for an analyst to decide (similar content is not identity).
    rest = review.locate_again(engine, actor="analyst.one").located.set_index("row_number")
    with engine.connect() as conn:
        flag = conn.execute(sa.select(store.duplicate_flags)).one()
    assert (flag.report_id, flag.resembles_report_id, flag.status) == (
        rest.loc[2, "report_id"],
        result.located["report_id"].iloc[0],
        "open",
    )


def test_review_page_tries_the_rows_shown_again(tmp_path, monkeypatch, area_files):
    from apptest_support import app_as, ensure_user

    from hoth_geo.ui.text import md_escape

    url = f"sqlite:///{tmp_path / 'page.sqlite'}"
    monkeypatch.setenv("HOTH_GEO_DB", url)
    engine = store.connect(url)
    area = area_mod.set_area(area_files["gpkg"], "Darlington", db_url=url, engine=engine).area
    pipeline.import_file(engine, write_form(tmp_path / "before.csv", FIRST_FILE))
    analyst = ensure_user(url, "analyst")
    imports = app_as(analyst, "import").run()
    assert any("The gazetteer of Darlington is not built yet" in w.value for w in imports.warning)
    at = app_as(analyst, "review").run()
    assert not at.exception, at.exception
    waiting = next(f.value for f in at.dataframe if "Why it needs a location" in f.value.columns)
    assert len(waiting) == len(FIRST_FILE)
    reasons = waiting["Why it needs a location"].tolist()
    assert sum("the gazetteer of Darlington has no postcodes yet" in r for r in reasons) == 4
    assert not [b for b in at.button if b.key == "rv_again"], "nothing to try until the gazetteer is built"

    build_gazetteer_for_area(area, codepoint=[area_files["codepoint"]])
    assert not any("not built yet" in w.value for w in imports.run().warning)
    at.run()
    assert any("after 7 of the rows here were imported" in i.value for i in at.info)
    at.button(key="rv_again").click().run()

    assert not at.exception, at.exception
    shown = " ".join(s.value for s in at.success)
    said = (
        "6 rows tried with the area's gazetteer; 3 located and stored (2 by postcode sector, 1 by postcode)"
    )
    assert md_escape(said) in shown
    assert md_escape("3 still need a location in Review, 1 with a new reason") in shown
    waiting = next(f.value for f in at.dataframe if "Why it needs a location" in f.value.columns)
    assert len(waiting) == 4, "three still wait, and the row with coordinates"
    assert len(store.load_reports(engine)) == 3
    assert any("The last location you gave" in i.value for i in at.info), "the last one can be undone"
    assert not [b for b in at.button if b.key == "rv_again"], "tried with this gazetteer already"
    assert not any("it may know their places now" in i.value for i in at.info)


def test_the_offer_follows_the_rows_tried_since_the_build(darlington, area_files):
    engine, area = darlington
    assert area.gazetteer_built_at() is None, "not built yet"
    assert area_mod.shipped_area().gazetteer_built_at() is None, "package data, older than any import"
    build_gazetteer_for_area(area, codepoint=[area_files["codepoint"]])
    built_at = area.gazetteer_built_at()
    assert abs(pd.Timestamp.now(tz="UTC").tz_localize(None) - built_at) < pd.Timedelta(minutes=1)
    first = int(review.imports_waiting(engine)["id"].iloc[0])
    assert not review.tried_again_since(engine, built_at)
    review.locate_again(engine, actor="analyst.one", include_demo=False)
    assert review.tried_again_since(engine, built_at, include_demo=False)
    assert not review.tried_again_since(engine, built_at), "demo rows were not tried"
    review.locate_again(engine, actor="analyst.one", import_id=first)
    assert review.tried_again_since(engine, built_at, import_id=first)
    assert not review.tried_again_since(engine, built_at, import_id=first + 1)


def test_a_row_an_analyst_locates_meanwhile_is_not_stored_twice(darlington, area_files, monkeypatch):
    engine, area = darlington
    build_gazetteer_for_area(area, codepoint=[area_files["codepoint"]])
    waiting = review.needs_location(engine).set_index("row_number")
    by_hand = int(waiting.loc[2, "id"])
    geocode_safely = geocode.geocode_safely

    def analyst_meanwhile(*args, **kwargs):
        # Between the run's reading of the rows and its storing them, an analyst locates row 2.
        result = geocode_safely(*args, **kwargs)
        if not review.needs_location(engine).query("id == @by_hand").empty:
            review.resolve_with_location(engine, by_hand, 54.5253, -1.5530, actor="analyst.two")
        return result

    monkeypatch.setattr(review.geocode, "geocode_safely", analyst_meanwhile)
    result = review.locate_again(engine, actor="analyst.one")

    assert result.n_resolved_meanwhile == 1
    assert by_hand not in result.located["quarantine_id"].tolist()
    reports = store.load_reports(engine)
    assert len(reports) == 1 + len(result.located), "row 2 is stored once, where the analyst put it"
    with engine.connect() as conn:
        entry = conn.execute(sa.select(store.quarantine).where(store.quarantine.c.id == by_hand)).one()
    assert entry.resolved_by == "analyst.two"
    assert result.describe()[-1] == "1 was located by someone else meanwhile"
