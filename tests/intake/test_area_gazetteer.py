"""A gazetteer for any area (hoth_geo.intake.area_gazetteer) from the open sources a partnership can
download: OSM extracts in every format read the same places, and OS Open Names roads become streets."""

from __future__ import annotations

import json
import zipfile

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from hoth_geo.intake import area as area_mod
from hoth_geo.intake.area_gazetteer import osm_for_area, read_osm_any, read_osm_gpkg

pytestmark = pytest.mark.shared


def test_osm_pbf_and_gpkg_give_the_same_places_as_geojson(tmp_path, shared_data):
    import osmium

    geojson = shared_data / "osm_isleofman" / "food-and-drink.overpass.geojson"
    features = read_osm_any([geojson])
    nodes = features[features["osm_type"] == "node"].reset_index(drop=True)
    pbf = tmp_path / "iom.osm.pbf"
    with osmium.SimpleWriter(str(pbf)) as writer:
        for row in nodes.itertuples():
            writer.add_node(
                osmium.osm.mutable.Node(
                    id=int(row.osm_id), location=(row.longitude, row.latitude), tags=dict(row.tags)
                )
            )
    gpd.GeoDataFrame(
        {"osm_id": "node/" + nodes["osm_id"], "amenity": [t.get("amenity") for t in nodes["tags"]]}
        | {"name": [t.get("name") for t in nodes["tags"]]},
        geometry=gpd.points_from_xy(nodes["longitude"], nodes["latitude"]),
        crs="EPSG:4326",
    ).to_crs("EPSG:27700").to_file(tmp_path / "iom.gpkg", driver="GPKG")

    isle = shapely.box(-4.9, 54.0, -4.3, 54.45)
    area = area_mod.Area("isle-of-man", "Isle of Man", isle, tmp_path / "none")
    loc = gpd.GeoDataFrame({"ward_name": ["Isle of Man"]}, geometry=[isle], crs="EPSG:4326")
    empty_pc = pd.DataFrame(columns=["postcode", "latitude", "longitude"])
    from_geojson = osm_for_area([geojson], area, loc, empty_pc)[0]
    from_pbf, _streets, report = osm_for_area([pbf], area, loc, empty_pc)
    node_places = from_geojson[from_geojson["place_id"].str.startswith("osm:node/")]
    assert len(node_places) > 50
    pd.testing.assert_frame_equal(
        from_pbf.reset_index(drop=True), node_places.reset_index(drop=True), check_exact=False, atol=1e-6
    )
    assert report.read == len(nodes) and report.kept >= len(node_places)
    from_gpkg = read_osm_gpkg(tmp_path / "iom.gpkg")
    assert sorted(from_gpkg["osm_id"]) == sorted(nodes["osm_id"])
    assert np.allclose(
        from_gpkg.sort_values("osm_id")["latitude"].to_numpy(),
        nodes.sort_values("osm_id")["latitude"].to_numpy(),
    )


def test_open_names_roads_become_streets_and_far_squares_are_not_read(tmp_path, area_files, shared_data):
    """An OS Open Names zip in the published layout (Doc/ header file, one header-less CSV per 10 km
    square), holding real Darlington road points from police.uk, one populated place, and a square in
    Cornwall that must not even be opened."""
    from hoth_geo.intake.area_gazetteer import OPEN_NAMES_COLUMNS, grid_square_origin, streets_from_open_names
    from hoth_geo.intake.gazetteer import parse_policeuk_location, wgs84_to_bng

    boundary = area_mod.read_area_boundary(area_files["gpkg"])
    area = area_mod.Area("darlington-test", "Darlington", boundary, tmp_path / "gaz")
    crimes = pd.read_csv(shared_data / "policeuk_durham" / "2019-01-durham-street.csv").dropna(
        subset=["Latitude"]
    )
    parsed = parse_policeuk_location(crimes["Location"])
    roads = crimes[(parsed["kind"] == "street").to_numpy()].assign(street=parsed["street"])
    roads = roads.drop_duplicates("street")
    in_darlington = roads["LSOA name"].str.startswith("Darlington").to_numpy()
    roads = pd.concat([roads[in_darlington].head(300), roads[~in_darlington].head(100)])
    e, n = wgs84_to_bng(roads["Longitude"].to_numpy(), roads["Latitude"].to_numpy())
    squares: dict[str, list[list[str]]] = {}
    letters = "ABCDEFGHJKLMNOPQRSTUVWXYZ"
    for name, x, y in zip(roads["street"], e, n, strict=True):
        ref = next(
            f"{a}{b}{int(x % 100_000 // 10_000)}{int(y % 100_000 // 10_000)}"
            for a in "HNOST"
            for b in letters
            if grid_square_origin(f"{a}{b}00") == (x // 100_000 * 100_000, y // 100_000 * 100_000)
        )
        row = dict.fromkeys(OPEN_NAMES_COLUMNS, "")
        row |= {"NAME1": name, "TYPE": "transportNetwork", "LOCAL_TYPE": "Named Road"}
        row |= {"GEOMETRY_X": f"{x:.0f}", "GEOMETRY_Y": f"{y:.0f}", "POPULATED_PLACE": "Somewhere"}
        squares.setdefault(ref, []).append(list(row.values()))
    town = dict.fromkeys(OPEN_NAMES_COLUMNS, "") | {
        "NAME1": "Darlington",
        "TYPE": "populatedPlace",
        "LOCAL_TYPE": "Town",
        "GEOMETRY_X": "428900",
        "GEOMETRY_Y": "514500",
    }
    squares["NZ21"] = [*squares.get("NZ21", []), list(town.values())]
    zpath = tmp_path / "opname_csv_gb.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("Doc/OS_Open_Names_Header.csv", ",".join(OPEN_NAMES_COLUMNS) + "\n")
        for ref, rows in squares.items():
            zf.writestr(f"Data/{ref}.csv", pd.DataFrame(rows).to_csv(header=False, index=False))
        zf.writestr("Data/SW42.csv", "not,even,csv\n\x00")  # Cornwall: never opened
    loc = gpd.read_file(area_files["wards"]).rename(columns={"WD13NM": "ward_name"})[
        ["ward_name", "geometry"]
    ]
    streets, report = streets_from_open_names([zpath], area, loc)
    inside = shapely.contains_xy(boundary, roads["Longitude"].to_numpy(), roads["Latitude"].to_numpy())
    bx0, by0, bx1, by1 = gpd.GeoSeries([boundary], crs="EPSG:4326").to_crs("EPSG:27700").total_bounds
    touching = [
        ref
        for ref in squares
        if not (
            grid_square_origin(ref)[0] > bx1
            or grid_square_origin(ref)[0] + 10_000 < bx0
            or grid_square_origin(ref)[1] > by1
            or grid_square_origin(ref)[1] + 10_000 < by0
        )
    ]
    assert sorted(report.files) == sorted(f"Data/{ref}.csv" for ref in touching)
    n_read = sum(len(squares[ref]) for ref in touching)
    assert report.read == n_read and inside.sum() > 20
    assert report.skipped["not a named road (places, road numbers, postcodes, ...)"] == 1
    assert report.kept == inside.sum()
    assert report.skipped.get("outside Darlington", 0) == n_read - 1 - inside.sum()
    assert "Data/SW42.csv" not in report.files
    assert set(streets["locality"]) <= set(loc["ward_name"])
    assert set(streets["street"]) == set(roads["street"][inside])


def test_a_multipolygon_relation_is_a_place_inside_its_outline(tmp_path, shared_data):
    """A real Isle of Man outline, mapped as OSM maps a park or a school in parts: a multipolygon
    relation with the tags, its ring split between two untagged ways. The place is put inside the
    outline and reaches its farthest corner; the member ways are not places of their own."""
    import osmium
    from osmium.osm import mutable
    from pyproj import Geod

    geojson = shared_data / "osm_isleofman" / "food-and-drink.overpass.geojson"
    features = json.loads(geojson.read_text(encoding="utf-8"))["features"]
    rings = [
        f
        for f in features
        if f["geometry"]["type"] == "LineString"
        and f["geometry"]["coordinates"][0] == f["geometry"]["coordinates"][-1]
    ]
    ring = max(rings, key=lambda f: len(f["geometry"]["coordinates"]))
    way_id = int(ring["id"])
    coords = [tuple(c) for c in ring["geometry"]["coordinates"][:-1]]
    assert len(coords) >= 6
    tags = {k: str(v) for k, v in ring["properties"].items() if v not in (None, "")}
    assert "amenity" in tags and "name" in tags

    pbf = tmp_path / "relation.osm.pbf"
    half = len(coords) // 2
    node_ids = list(range(1, len(coords) + 1))
    with osmium.SimpleWriter(str(pbf)) as writer:
        for nid, (lon, lat) in zip(node_ids, coords, strict=True):
            writer.add_node(mutable.Node(id=nid, location=(lon, lat)))
        writer.add_way(mutable.Way(id=101, nodes=node_ids[: half + 1]))
        writer.add_way(mutable.Way(id=102, nodes=[*node_ids[half:], node_ids[0]]))
        # The same outline as one closed way (as it really is mapped): read once, as a way.
        writer.add_way(mutable.Way(id=way_id, nodes=[*node_ids, node_ids[0]], tags=tags))
        writer.add_relation(
            mutable.Relation(
                id=9001,
                members=[("w", 101, "outer"), ("w", 102, "outer")],
                tags={"type": "multipolygon", **tags},
            )
        )

    found = read_osm_any([pbf]).set_index("osm_type")

    assert sorted(found.index) == ["relation", "way"], "member ways are not places; a way is read once"
    assert found.loc["way", "osm_id"] == str(way_id)
    got = found.loc["relation"]
    assert got["osm_id"] == "9001"
    assert got["tags"] == tags
    outline = shapely.Polygon(coords)
    assert outline.contains(shapely.Point(got["longitude"], got["latitude"]))
    lons, lats = zip(*coords, strict=True)
    farthest = Geod(ellps="WGS84").inv(
        [got["longitude"]] * len(coords), [got["latitude"]] * len(coords), lons, lats
    )[2]
    assert got["radius_m"] == pytest.approx(max(farthest), abs=0.01)

    isle = shapely.box(-4.9, 54.0, -4.3, 54.45)
    area = area_mod.Area("isle-of-man", "Isle of Man", isle, tmp_path / "none")
    loc = gpd.GeoDataFrame({"ward_name": ["Isle of Man"]}, geometry=[isle], crs="EPSG:4326")
    empty_pc = pd.DataFrame(columns=["postcode", "latitude", "longitude"])
    places = osm_for_area([pbf], area, loc, empty_pc)[0]
    assert sorted(places["place_id"]) == ["osm:relation/9001", f"osm:way/{way_id}"]
