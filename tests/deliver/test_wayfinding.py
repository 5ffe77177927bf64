"""Hexagons described by their streets: what an officer reads instead of an H3 id."""

from __future__ import annotations

import h3.api.basic_int as h3i
import numpy as np
import pandas as pd
import pytest
import shapely

from hoth_geo import hexes as hx
from hoth_geo.deliver import maps, wayfinding
from hoth_geo.intake import area as areas
from hoth_geo.intake.gazetteer import load_gazetteer, write_gazetteer

# Synthetic streets of a made-up town, around one resolution-9 cell.
CELL = h3i.latlng_to_cell(53.4, -2.2, 9)
LAT, LNG = h3i.cell_to_latlng(CELL)


def _streets() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "street": ["Mill Lane", "Mill Lane", "Church Street", "Back Row", "Far Road"],
            "locality": ["Oldtown", "Oldtown", "Oldtown", "Newtown", "Elsewhere"],
            "latitude": [LAT, LAT + 0.0002, LAT - 0.0002, LAT + 0.0001, LAT + 0.5],
            "longitude": [LNG, LNG + 0.0002, LNG, LNG - 0.0002, LNG],
            "n_points": [3, 2, 4, 1, 9],
        }
    )


def test_a_hexagon_is_named_by_its_busiest_streets_and_their_locality():
    got = wayfinding.describe_cells([CELL], 9, _streets())
    # Mill Lane has 5 map points in the cell, Church Street 4, Back Row 1; Oldtown has most points.
    assert got.tolist() == ["Mill Lane / Church Street, Oldtown"]


def test_a_hexagon_without_streets_is_near_the_closest_one_within_reach():
    neighbour = next(c for c in h3i.grid_disk(CELL, 1) if c != CELL)
    far = h3i.latlng_to_cell(LAT - 0.3, LNG, 9)  # ~33 km away: nothing within reach
    got = wayfinding.describe_cells([neighbour, far], 9, _streets())
    assert got.iloc[0].startswith("near ")
    assert got.iloc[0].endswith(("Oldtown", "Newtown"))
    assert got.iloc[1] == ""  # never a street from far away


def test_places_name_a_hexagon_that_has_no_street_near_it():
    lonely = h3i.latlng_to_cell(LAT - 0.3, LNG, 9)
    plat, plng = h3i.cell_to_latlng(lonely)
    places = pd.DataFrame({"name": ["Picnic site, Moor"], "latitude": [plat], "longitude": [plng]})
    got = wayfinding.describe_cells([lonely, CELL], 9, _streets(), places)
    assert got.tolist() == ["near Picnic site, Moor", "Mill Lane / Church Street, Oldtown"]


def test_describe_cells_names_bad_arguments():
    with pytest.raises(ValueError, match="res"):
        wayfinding.describe_cells([CELL], 99, _streets())
    with pytest.raises(ValueError, match="street"):
        wayfinding.describe_cells([CELL], 9, _streets().drop(columns="street"))
    assert wayfinding.describe_cells([], 9, _streets()).tolist() == []


def test_every_hexagon_with_demo_reports_is_described_from_the_shipped_gazetteer(demo_store):
    gaz = load_gazetteer()
    cells = np.unique(hx.cells_to_parent(demo_store.reports.loc[demo_store.reports["h3"] != 0, "h3"], 8))
    got = wayfinding.describe_cells(cells, 8, gaz.streets, gaz.places)
    assert (got != "").mean() > 0.95
    # A described street lies inside its hexagon or within reach of it.
    streets = gaz.streets.set_index("street")
    for cell, text in zip(cells[:200], got[:200], strict=True):
        if not text:
            continue
        named = text.removeprefix("near ")
        first = named.split(" / ")[0].split(", ")[0]
        if first in streets.index:
            pts = streets.loc[[first]]
        else:  # no street within reach: the nearest place, by its full name
            pts = gaz.places[gaz.places["name"] == named]
        assert len(pts), text
        clat, clng = h3i.cell_to_latlng(int(cell))
        d = np.hypot((pts["latitude"] - clat) * 111_000, (pts["longitude"] - clng) * 111_000 * 0.58)
        assert d.min() <= (wayfinding.NEAR_EDGES + 1) * hx.edge_length_m(8)


def test_town_labels_come_from_the_area_data_not_the_code(tmp_path):
    shipped = maps.town_labels()
    assert "Darlington" in shipped["name"].tolist()
    # Another area with no towns file: labels are its gazetteer's localities, busiest first.
    gaz_dir = tmp_path / "gazetteer"
    gaz_dir.mkdir()
    gaz = load_gazetteer()
    write_gazetteer({"places": gaz.places.iloc[:0], "streets": _streets()}, gaz_dir)
    other_area = areas.Area(
        area_id="synthetic-other",
        name="Other area",
        boundary=shapely.box(-2.3, 53.3, -2.1, 53.5),
        gazetteer_dir=gaz_dir,
    )
    areas.use(other_area)
    try:
        other = maps.town_labels()
    finally:
        areas.use(None)
    assert other["name"].tolist() == ["Elsewhere", "Oldtown", "Newtown"]
    assert "Darlington" not in other["name"].tolist()
