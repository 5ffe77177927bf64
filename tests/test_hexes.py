"""H3 utilities: vectorised parents against h3 itself, coordinate order, polygon fill."""

from __future__ import annotations

import re
from pathlib import Path

import h3
import h3.api.basic_int as h3i
import numpy as np
import pytest
import shapely
from shapely.geometry import Point

from hoth_geo import hexes as hx
from hoth_geo import settings

FINE = settings.FINE_H3_RES


def _global_points(n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Points uniform over the sphere (uniform in sin(lat)), so every base cell is likely hit."""
    rng = np.random.default_rng(seed)
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    lng = rng.uniform(-180, 180, n)
    return lat, lng


@pytest.fixture(scope="module")
def fine_cells() -> np.ndarray:
    lat, lng = _global_points(120_000)
    spread = hx.latlng_to_cells(lat, lng, FINE)
    # Cells at and around all 12 pentagons: pentagon-centred cells skip a digit, so they are the
    # cases a bit-twiddling parent is most likely to get wrong.
    around_pentagons = [
        child for pent in h3i.get_pentagons(8) for child in h3i.cell_to_children(pent, FINE)
    ] + list(h3i.get_pentagons(FINE))
    cells = np.concatenate([spread, np.asarray(around_pentagons, dtype=np.int64)])
    assert len(np.unique(spread >> 45 & 0x7F)) > 100  # many base cells represented
    return cells


def test_latlng_to_cells_matches_h3_and_maps_nan_to_zero():
    lat, lng = _global_points(2_000, seed=3)
    lat[5], lng[9] = np.nan, np.nan
    cells = hx.latlng_to_cells(lat, lng, 9)
    assert cells.dtype == np.int64
    assert cells[5] == 0 and cells[9] == 0
    for i in range(0, 2_000, 97):
        if i not in (5, 9):
            assert cells[i] == h3i.latlng_to_cell(lat[i], lng[i], 9)


def test_latlng_to_cells_rejects_bad_arguments():
    with pytest.raises(ValueError, match="res"):
        hx.latlng_to_cells(np.array([54.7]), np.array([-1.6]), 16)
    with pytest.raises(ValueError, match="lat and lng"):
        hx.latlng_to_cells(np.array([54.7, 54.8]), np.array([-1.6]), 9)
    with pytest.raises(ValueError, match="lat must lie"):
        hx.latlng_to_cells(np.array([154.7]), np.array([-1.6]), 9)


def test_cells_to_parent_matches_h3_at_every_coarser_resolution(fine_cells):
    assert len(fine_cells) >= 100_000
    as_list = fine_cells.tolist()
    for res in range(0, FINE):
        expected = np.fromiter(
            (h3i.cell_to_parent(c, res) for c in as_list), dtype=np.int64, count=len(as_list)
        )
        got = hx.cells_to_parent(fine_cells, res)
        mismatch = np.flatnonzero(got != expected)
        assert mismatch.size == 0, f"res {res}: first mismatch for cell {as_list[mismatch[0]]}"


def test_cells_to_parent_keeps_zero_and_identity():
    c = h3i.latlng_to_cell(54.7, -1.6, FINE)
    got = hx.cells_to_parent(np.array([c, 0, c], dtype=np.int64), FINE)
    assert got.tolist() == [c, 0, c]
    assert hx.cells_to_parent(np.array([], dtype=np.int64), 5).shape == (0,)


def test_cells_to_parent_rejects_finer_resolution_and_bad_values():
    c = h3i.latlng_to_cell(54.7, -1.6, 8)
    with pytest.raises(ValueError, match="res=9 is finer"):
        hx.cells_to_parent(np.array([c]), 9)
    with pytest.raises(ValueError, match="res must be"):
        hx.cells_to_parent(np.array([c]), -1)
    with pytest.raises(ValueError, match="res must be"):
        hx.cells_to_parent(np.array([c]), 16)
    with pytest.raises(ValueError, match="cells must hold H3 cell"):
        hx.cells_to_parent(np.array([12345]), 5)
    with pytest.raises(ValueError, match="cells must hold int64"):
        hx.cells_to_parent(np.array([1.5]), 5)


def test_cell_resolutions():
    cells = np.array([h3i.latlng_to_cell(54.7, -1.6, r) for r in (0, 7, 15)] + [0], dtype=np.int64)
    assert hx.cell_resolutions(cells).tolist() == [0, 7, 15, -1]


def test_cell_boundaries_are_lng_lat_and_contain_the_centre():
    lat, lng = 54.7, -1.6
    cell = h3i.latlng_to_cell(lat, lng, 9)
    (ring,) = hx.cell_boundaries(np.array([cell]))
    assert ring.shape == (6, 2)
    poly = shapely.Polygon(ring)
    assert poly.is_valid
    c_lat, c_lng = h3i.cell_to_latlng(cell)
    assert poly.contains(Point(c_lng, c_lat))
    assert poly.contains(Point(lng, lat))
    # (lng, lat) order: x is near -1.6, y near 54.7.
    assert np.allclose(ring[:, 0], lng, atol=0.01) and np.allclose(ring[:, 1], lat, atol=0.01)


def test_pentagon_boundaries_have_five_or_distortion_vertices():
    (even,) = hx.cell_boundaries(np.array([h3i.get_pentagons(8)[0]]))
    assert len(even) == 5
    # Odd (Class III) resolutions cross icosahedron edges: h3 adds distortion vertices.
    (odd,) = hx.cell_boundaries(np.array([h3i.get_pentagons(9)[0]]))
    assert len(odd) == 10
    assert shapely.Polygon(odd).is_valid


def test_cell_boundaries_rejects_zero():
    with pytest.raises(ValueError, match="cells must not contain 0"):
        hx.cell_boundaries(np.array([0]))


def test_cell_centres():
    cell = h3i.latlng_to_cell(54.7, -1.6, 10)
    lat, lng = hx.cell_centres(np.array([cell, 0]))
    assert (lat[0], lng[0]) == pytest.approx(h3i.cell_to_latlng(cell))
    assert np.isnan(lat[1]) and np.isnan(lng[1])


def test_hex_frame_geometry_and_columns():
    cells = np.array(sorted(h3i.grid_disk(h3i.latlng_to_cell(54.7, -1.6, 8), 2)), dtype=np.int64)
    gdf = hx.hex_frame(cells, count=np.arange(len(cells)))
    assert gdf.crs.to_epsg() == 4326
    assert list(gdf.columns) == ["h3", "count", "geometry"]
    assert gdf["h3"].dtype == np.int64
    assert gdf.geometry.is_valid.all()
    lat, lng = hx.cell_centres(cells)
    assert shapely.contains(gdf.geometry.values, shapely.points(lng, lat)).all()
    # Neighbouring hexagons tile: they touch but do not overlap.
    a, b = gdf.geometry.iloc[0], gdf.geometry.iloc[1]
    assert a.intersection(b).area < 1e-12
    area_km2 = gdf.to_crs(27700).geometry.area.mean() / 1e6
    true_km2 = np.mean([h3i.cell_area(c, unit="km^2") for c in cells.tolist()])
    assert area_km2 == pytest.approx(true_km2, rel=0.01)


def test_hex_frame_rejects_mismatched_columns():
    cells = np.array([h3i.latlng_to_cell(54.7, -1.6, 8)])
    with pytest.raises(ValueError, match="column 'count' has 2 values for 1 cells"):
        hx.hex_frame(cells, count=[1, 2])
    with pytest.raises(ValueError, match="'geometry' is reserved"):
        hx.hex_frame(cells, geometry=[1])


def test_polygon_to_cells_fills_a_small_square():
    square = shapely.box(-1.62, 54.69, -1.58, 54.71)  # (lng, lat), about 2.6 km x 2.2 km
    res = 9
    cells = hx.polygon_to_cells(square, res)
    assert cells.dtype == np.int64 and len(cells) == len(np.unique(cells))
    lat, lng = hx.cell_centres(cells)
    assert square.contains(shapely.points(lng, lat)).all()
    # Every cell whose centre is inside is included: sample the square densely and compare.
    gx, gy = np.meshgrid(np.linspace(-1.62, -1.58, 120), np.linspace(54.69, 54.71, 120))
    sampled = np.unique(hx.latlng_to_cells(gy.ravel(), gx.ravel(), res))
    s_lat, s_lng = hx.cell_centres(sampled)
    inside = sampled[square.contains(shapely.points(s_lng, s_lat))]
    assert set(inside.tolist()) <= set(cells.tolist())
    square_km2 = 2.574 * 2.224  # 0.04 deg of longitude at 54.7N by 0.02 deg of latitude
    expected_n = square_km2 / h3i.cell_area(int(cells[0]), unit="km^2")
    assert len(cells) == pytest.approx(expected_n, rel=0.1)


def test_polygon_to_cells_rejects_projected_coordinates_and_non_polygons():
    # British National Grid metres instead of degrees.
    with pytest.raises(ValueError, match="WGS84"):
        hx.polygon_to_cells(shapely.box(420_000, 540_000, 425_000, 545_000), 9)
    with pytest.raises(ValueError, match="polygon must be a shapely Polygon"):
        hx.polygon_to_cells(Point(0, 0), 9)
    assert hx.polygon_to_cells(shapely.Polygon(), 9).size == 0


def test_area_and_edge_helpers():
    assert hx.cell_area_km2(8) == pytest.approx(0.737, rel=0.01)
    assert hx.edge_length_m(8) == pytest.approx(531.4, rel=0.01)
    assert hx.cell_area_km2(7) > hx.cell_area_km2(8)
    with pytest.raises(ValueError, match="res"):
        hx.edge_length_m(20)


# --- The one wrapper: conversions and parsing -----------------------------------------------------------


def test_cell_strings_round_trip_and_no_cell_is_blank():
    cell = h3.str_to_int(h3.latlng_to_cell(54.7761, -1.5733, 8))
    assert hx.cell_to_str(cell) == h3.int_to_str(cell)
    assert hx.cells_to_str(np.array([cell, 0], dtype=np.int64)) == [h3.int_to_str(cell), ""]
    assert hx.str_to_cell(h3.int_to_str(cell)) == cell
    assert hx.latlng_to_cell(54.7761, -1.5733, 8) == cell


@pytest.mark.parametrize("typed", ["zz", "", "8819464e2dffff", "0", "ffffffffffffffff"])
def test_a_typed_cell_id_that_is_not_a_cell_is_refused_by_name(typed):
    with pytest.raises(ValueError, match=r"target must be an H3 cell id"):
        hx.parse_cell(typed, 8, name="target")


def test_a_typed_cell_id_is_read_in_any_case_and_widened_to_the_resolution_asked():
    fine = h3.latlng_to_cell(54.7761, -1.5733, 12)  # finer than the stored resolution 11
    parent = h3.str_to_int(h3.cell_to_parent(fine, 8))
    assert hx.parse_cell(f"  {fine.upper()} ", 8) == parent
    coarse = h3.cell_to_parent(fine, 6)
    assert hx.parse_cell(coarse, 8) == h3.str_to_int(coarse)  # a coarser cell is kept whole
    assert hx.cell_resolution(hx.parse_cell(coarse, 8)) == 6
    assert hx.parse_cell(fine) == h3.str_to_int(fine)


def test_neighbourhoods_and_areas_agree_with_h3():
    cell = h3.str_to_int(h3.latlng_to_cell(54.7761, -1.5733, 9))
    assert sorted(hx.grid_disk(cell, 2).tolist()) == sorted(
        h3.str_to_int(c) for c in h3.grid_disk(h3.int_to_str(cell), 2)
    )
    disk = hx.grid_disk(cell, 1)
    ij = hx.local_ij(cell, disk)
    assert ij.shape == (7, 2) and len({tuple(r) for r in ij.tolist()}) == 7
    far = h3.str_to_int(h3.latlng_to_cell(-33.9, 151.2, 9))
    with pytest.raises(ValueError, match="local IJ"):
        hx.local_ij(cell, np.array([far]))
    assert hx.cell_areas_km2(np.array([cell])) == pytest.approx(
        h3.cell_area(h3.int_to_str(cell), unit="km^2")
    )
    assert hx.cell_parent(cell, 7) == h3.str_to_int(h3.cell_to_parent(h3.int_to_str(cell), 7))
    poly = hx.cell_polygons(np.array([cell]))[0]
    assert poly.contains(Point(-1.5733, 54.7761))


def test_only_the_hexes_module_talks_to_h3():
    import hoth_geo

    package = Path(hoth_geo.__file__).parent
    importing = sorted(
        str(p.relative_to(package))
        for p in package.rglob("*.py")
        if re.search(r"^\s*(import h3|from h3)", p.read_text(encoding="utf-8"), re.M)
    )
    assert importing == ["hexes.py"]
