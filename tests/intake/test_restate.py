"""Stored reports stated again after the area's gazetteer is rebuilt (hoth_geo.intake.restate), on
another partnership's area built from the shared open data: Darlington's gazetteer first built from five
police.uk months with no postcodes beyond its boundary, reports imported, then rebuilt from the latest
month alone (fewer map points: landmarks reach further) with a 10 km buffer (sectors at the boundary
reach further). A place or sector the new gazetteer measures wider widens its reports; none narrows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from forms import OUTREACH, write_form
from typer.testing import CliRunner

from hoth_geo import settings, store
from hoth_geo.access import audit
from hoth_geo.cli import app
from hoth_geo.intake import area as area_mod
from hoth_geo.intake import geocode, pipeline, restate
from hoth_geo.intake.area_gazetteer import build_gazetteer_for_area
from hoth_geo.schema import CANONICAL_COLUMNS

pytestmark = pytest.mark.shared


def _build(area, area_files, shared_data, months: int, buffer_m: float) -> None:
    policeuk = sorted((shared_data / "policeuk_durham").glob("*.csv"))[-months:]
    build_gazetteer_for_area(
        area,
        codepoint=[area_files["codepoint"]],
        policeuk=policeuk,
        localities_path=area_files["wards"],  # "Supermarket, Cockerton", not one of many in Darlington
        buffer_m=buffer_m,
    )


def _stored_then_rebuilt(db_url, tmp_path, area_files, shared_data):
    """Reports stored with the first gazetteer, then the gazetteer rebuilt: (engine, first, second,
    the reports as stored, the area)."""
    engine = store.connect(db_url)
    area = area_mod.set_area(area_files["gpkg"], "Darlington", db_url=db_url, engine=engine).area
    _build(area, area_files, shared_data, months=5, buffer_m=0)
    first = area_mod.gazetteer_for(area)
    # Every police.uk landmark the first gazetteer measured, and every Darlington sector, by name.
    places = first.places[first.places["place_id"].str.startswith("pu:")]
    sectors = first.sectors["sector"].tolist()
    rows = (
        [
            {**OUTREACH, "Source reference": f"P-{i}", "Location": "", "Place name": name}
            for i, name in enumerate(places["name"])
        ]
        + [
            {**OUTREACH, "Source reference": f"S-{i}", "Location": "", "Postcode": sector}
            for i, sector in enumerate(sectors)
        ]
        + [
            # Every street of the first gazetteer, in its locality ("Abbey Road, Sadberge and Whessoe").
            {**OUTREACH, "Source reference": f"T-{i}", "Location": f"{street}, {locality}"}
            for i, (street, locality) in enumerate(
                zip(first.streets["street"], first.streets["locality"], strict=True)
            )
        ]
    )
    pipeline.import_file(engine, write_form(tmp_path / "reports.csv", rows), gazetteer=first)
    _build(area, area_files, shared_data, months=1, buffer_m=10_000)
    second = area_mod.gazetteer_for(area)
    stored = store.report_details(engine, store.load_reports(engine)["id"].tolist())
    return engine, first, second, stored, area


@pytest.fixture()
def rebuilt(db_url, tmp_path, monkeypatch, area_files, shared_data):
    monkeypatch.setenv(settings.AREA_DIR_ENV, str(tmp_path / "areas"))
    scenario = _stored_then_rebuilt(db_url, tmp_path, area_files, shared_data)
    yield scenario
    scenario[0].dispose()


def test_reports_are_widened_to_what_the_rebuilt_gazetteer_measures(rebuilt, area_files, shared_data):
    engine, first, second, before, area = rebuilt
    at_place = before[before["geocode_method"] == "place_name"]
    at_sector = before[before["geocode_method"] == "postcode_sector"]
    assert len(at_place) > 10 and len(at_sector) > 10
    old_radius = first.places.set_index("place_id")["radius_m"]
    new_radius = second.places.set_index("place_id")["radius_m"]
    radius_then = old_radius.reindex(at_place["place_id"]).to_numpy()
    radius_now = new_radius.reindex(at_place["place_id"]).to_numpy()
    grew = radius_now > radius_then
    gone = np.isnan(radius_now)
    assert grew.any(), "with one month of map points, some landmarks' nearest other point is farther"
    new_reach = second.sectors.set_index("sector")["radius_m"]
    old_reach = first.sectors.set_index("sector")["radius_m"]
    sector_grew = (
        new_reach.reindex(at_sector["postcode"]).to_numpy()
        > old_reach.reindex(at_sector["postcode"]).to_numpy()
    )
    assert sector_grew.any(), "units beyond the boundary reach further"

    result = restate.widen_stored_radii(engine, actor="admin.one")

    after = store.report_details(engine, before["id"].tolist()).set_index("id").sort_index()
    was = before.set_index("id").sort_index()
    places_after = after.loc[at_place["id"], "precision_m"].to_numpy()
    stored_then = at_place["precision_m"].to_numpy()
    np.testing.assert_allclose(places_after[~gone], np.maximum(stored_then, radius_now)[~gone])
    assert (places_after[gone] == stored_then[gone]).all(), "a landmark no longer measured keeps its radius"
    sectors_after = after.loc[at_sector["id"], "precision_m"].to_numpy()
    np.testing.assert_allclose(
        sectors_after[sector_grew], new_reach.reindex(at_sector["postcode"]).to_numpy()[sector_grew]
    )
    for col in ("latitude", "longitude", "h3", "place_id"):  # points never move
        pd.testing.assert_series_equal(after[col], was[col], check_names=False)
    at_street = before[before["geocode_method"] == "street"]
    street_widened = (
        after.loc[at_street["id"], "precision_m"].to_numpy() > at_street["precision_m"].to_numpy()
    )
    assert result.widened == {
        "place_name": int(grew.sum()),
        "postcode_sector": int(sector_grew.sum()),
        "street": int(street_widened.sum()),
    }
    assert result.n_checked == len(at_place) + len(at_sector) + len(at_street)

    entry = audit.load_audit(engine, event="reports_restated").iloc[-1]
    assert json.loads(entry["details"])["widened"] == result.widened
    assert audit.verify_chain(engine).ok
    assert result.n_not_in_gazetteer >= int(gone.sum())
    # Read again with the same gazetteer: nothing is left to widen.
    assert restate.widen_stored_radii(engine, actor="admin.one").n_widened == 0
    # Rebuilt as it first was, the gazetteer measures them narrower again: no report narrows.
    widened = store.report_details(engine, before["id"].tolist()).set_index("id")["precision_m"].sort_index()
    _build(area, area_files, shared_data, months=5, buffer_m=0)
    assert restate.widen_stored_radii(engine, actor="admin.one").n_widened == 0
    again = store.report_details(engine, before["id"].tolist()).set_index("id")["precision_m"]
    pd.testing.assert_series_equal(again.sort_index(), widened)


def test_the_stated_radius_follows_the_cascade(rebuilt):
    """What StatedRadius says of a stored report is what geocoding the same row today states."""
    _engine, _first, second, before, _area = rebuilt
    rows = before[before["geocode_method"].isin(["place_name", "postcode_sector"])]
    stated = geocode.StatedRadius(second)(rows)
    # The stored rows as they came in: what they said, without the point geocoding gave them.
    given = rows[list(CANONICAL_COLUMNS)].assign(
        latitude=np.nan, longitude=np.nan, easting=np.nan, northing=np.nan
    )
    again = geocode.geocode(given, second).located
    by_row = rows.assign(stated=stated).merge(again, on="row_number", suffixes=("", "_again"))
    same = (by_row["geocode_method"] == by_row["geocode_method_again"]) & (
        by_row["place_id"].fillna("") == by_row["place_id_again"].fillna("")
    )
    assert same.sum() >= 20 and (by_row.loc[same, "geocode_method"] == "postcode_sector").any()
    np.testing.assert_allclose(by_row.loc[same, "stated"], by_row.loc[same, "precision_m_again"])


def test_a_street_is_stated_as_wide_as_the_rebuilt_gazetteer_puts_it(rebuilt):
    """A street report keeps its point; when the rebuilt gazetteer puts the street its text names
    elsewhere along it (fewer map points), the report's radius grows to cover the street as measured
    now, from where the report stands. Checked against geocoding the same rows again today."""
    engine, first, second, before, _area = rebuilt
    at_street = before[before["geocode_method"] == "street"].set_index("id").sort_index()
    assert len(at_street) > 300, "most of the first gazetteer's streets locate their reports"
    # With the gazetteer they were found in, every street report is stated as it was stored.
    np.testing.assert_allclose(
        geocode.StatedRadius(first)(at_street.reset_index()), at_street["precision_m"].to_numpy()
    )
    given = at_street.reset_index()[list(CANONICAL_COLUMNS)].assign(
        latitude=np.nan, longitude=np.nan, easting=np.nan, northing=np.nan
    )
    again = geocode.geocode(given, second).located.set_index("row_number")
    again = again.reindex(at_street["row_number"])
    still_street = (again["geocode_method"] == "street").to_numpy()
    apart = geocode._GEOD.inv(
        at_street["longitude"].to_numpy(),
        at_street["latitude"].to_numpy(),
        again["longitude"].to_numpy(),
        again["latitude"].to_numpy(),
    )[2]
    radius_now = again["precision_m"].to_numpy()
    stored = at_street["precision_m"].to_numpy()
    same_street = still_street & (apart <= stored + radius_now)
    moved = same_street & (apart > 1)
    assert moved.sum() >= 10, "one month of map points puts many streets elsewhere along them"
    assert (~still_street).sum() > 50, "streets with no crime in the last month are not in it"

    restate.widen_stored_radii(engine, actor="admin.one")

    after = store.report_details(engine, at_street.index.tolist()).set_index("id").sort_index()
    expected = np.where(same_street, np.maximum(stored, apart + radius_now), stored)
    np.testing.assert_allclose(after["precision_m"].to_numpy(), expected)
    assert (after["precision_m"].to_numpy()[moved] > stored[moved]).any()
    for col in ("latitude", "longitude", "h3"):  # the point stays where it was stored
        pd.testing.assert_series_equal(after[col], at_street[col], check_names=False)


def test_the_command_line_says_what_it_widened(rebuilt, db_url):  # noqa: ARG001 - the fixture's database
    out = CliRunner().invoke(app, ["area", "restate-radii", "--db", db_url])
    assert out.exit_code == 0, out.output
    assert "stored reports found by a postcode, a place name or a street read again" in out.output
    assert "stated wider, as the gazetteer now measures them (" in out.output


def test_the_area_page_offers_it_once_per_build(tmp_path, monkeypatch, area_files, shared_data):
    from apptest_support import app_as, ensure_user

    url = f"sqlite:///{tmp_path / 'page.sqlite'}"
    monkeypatch.setenv("HOTH_GEO_DB", url)
    engine, _first, _second, before, _area = _stored_then_rebuilt(url, tmp_path, area_files, shared_data)
    at = app_as(ensure_user(url, "admin"), "area").run()
    assert not at.exception, at.exception
    assert any(c.value.startswith("Built ") and c.value.endswith(" (UK time).") for c in at.caption)

    at.button(key="area_restate").click().run()

    assert not at.exception, at.exception
    said = " ".join(s.value for s in at.success)
    assert "stated wider, as the gazetteer now measures them" in said
    after = store.report_details(engine, before["id"].tolist())
    assert (after["precision_m"].to_numpy() >= before.set_index("id").loc[after["id"], "precision_m"]).all()
    assert audit.load_audit(engine, event="reports_restated")["actor"].tolist() == ["admin.test"]
    at.run()
    assert not [b for b in at.button if b.key == "area_restate"], "this build's radii were stated already"
