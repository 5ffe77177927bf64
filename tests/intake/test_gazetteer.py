"""The gazetteer: postcode handling, the police.uk and OSM readers, the builds and the shipped files."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow.feather
import pytest
import shapely
from factories import canonical_rows
from pyproj import Transformer
from shapely.geometry import Point, box

from hoth_geo import schema, settings
from hoth_geo.intake import gazetteer as gz

IOM_FILES = (
    "food-and-drink.overpass.geojson",
    "food-and-drink.csv",
    "shops.csv",
    "tourism.csv",
    "fuel.csv",
)


def _km(lat1, lon1, lat2, lon2) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


# --- postcodes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("DH1 1AB", "DH1 1AB"),
        ("dh11ab", "DH1 1AB"),
        ("  dl3   0aa ", "DL3 0AA"),
        ("TS101AA", "TS10 1AA"),
        ("ts10\t1aa", "TS10 1AA"),
        ("SW1A1AA", "SW1A 1AA"),
        ("w1a 0ax", "W1A 0AX"),
        ("M1 1AE", "M1 1AE"),
        ("GIR0AA", "GIR 0AA"),
        ("", None),
        ("DH1", None),
        ("DH1 1A", None),
        ("DH1 1ABC", None),
        ("1DH 1AB", None),
        ("DH1-1AB", None),
        ("Durham", None),
        (None, None),
        (float("nan"), None),
        (12345, None),
    ],
)
def test_normalise_postcode_cases(raw, expected):
    assert gz.normalise_postcode(pd.Series([raw], dtype=object)).iloc[0] == expected


def test_normalise_postcode_keeps_index_and_accepts_lists():
    s = pd.Series(["dh11ab", "nope", None], index=[10, 20, 30], dtype=object)
    out = gz.normalise_postcode(s)
    assert list(out.index) == [10, 20, 30]
    assert out.tolist() == ["DH1 1AB", None, None]
    assert gz.normalise_postcode(["dl1 1aa", "x"]).tolist() == ["DL1 1AA", None]


def test_sector_and_district_scalar_and_vectorised():
    assert gz.postcode_sector("dh11ab") == "DH1 1"
    assert gz.postcode_district("dh11ab") == "DH1"
    assert gz.postcode_sector("TS101AA") == "TS10 1"
    assert gz.postcode_district("SW1A 1AA") == "SW1A"
    assert gz.postcode_sector("rubbish") is None
    assert gz.postcode_district(None) is None
    s = pd.Series(["DL14 7XX", "bad", "dh9 0aa"], index=[5, 6, 7])
    assert gz.postcode_sector(s).tolist() == ["DL14 7", None, "DH9 0"]
    assert gz.postcode_district(s).tolist() == ["DL14", None, "DH9"]
    assert list(gz.postcode_district(s).index) == [5, 6, 7]


# --- Code-Point Open ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def codepoint_raw(shared_data):
    d = shared_data / "codepoint_open"
    return gz.read_codepoint([d / f"{a}.csv" for a in ("dh", "dl", "sr", "ts")])


@pytest.fixture(scope="module")
def durham_postcodes(codepoint_raw):
    return gz.postcodes_from_codepoint(codepoint_raw, lad_codes=gz.DURHAM_LAD_CODES)


def test_codepoint_headers_come_from_the_headers_file(shared_data, codepoint_raw):
    headers = gz.read_codepoint_headers(shared_data / "codepoint_open" / gz.CODEPOINT_HEADERS_FILE)
    assert headers == list(gz.CODEPOINT_DEFAULT_COLUMNS)
    assert list(codepoint_raw.columns) == headers


def test_bng_to_wgs84_matches_an_independent_transform(durham_postcodes, codepoint_raw):
    row = codepoint_raw[codepoint_raw["Postcode"] == "DH1 1AB"].iloc[0]
    e, n = float(row["Eastings"]), float(row["Northings"])
    lon_ref, lat_ref = Transformer.from_crs(27700, 4326, always_xy=True).transform(e, n)
    got = durham_postcodes.set_index("postcode").loc["DH1 1AB"]
    assert got["easting"] == e and got["northing"] == n
    assert got["latitude"] == pytest.approx(lat_ref, abs=1e-6)
    assert got["longitude"] == pytest.approx(lon_ref, abs=1e-6)
    # Durham City, not somewhere a swapped axis or wrong CRS would put it.
    assert _km(got["latitude"], got["longitude"], 54.776, -1.575) < 5
    assert durham_postcodes["latitude"].between(54.4, 55.0).all()
    assert durham_postcodes["longitude"].between(-2.4, -1.2).all()


def test_quality_90_postcodes_at_the_origin_are_dropped(codepoint_raw):
    all_pc = gz.postcodes_from_codepoint(codepoint_raw)
    q90 = codepoint_raw[codepoint_raw["Positional_quality_indicator"] == "90"]
    assert len(q90) == 179  # as documented for this extract
    assert (q90["Eastings"].astype(int) == 0).all()
    assert not set(gz.normalise_postcode(q90["Postcode"])) & set(all_pc["postcode"])
    assert (all_pc["easting"] > 0).all() and (all_pc["northing"] > 0).all()
    assert all_pc["latitude"].between(54.0, 55.5).all()
    assert len(all_pc) == len(codepoint_raw) - len(q90)


def test_durham_postcodes_are_durham_and_darlington_only(durham_postcodes):
    assert tuple(durham_postcodes.columns) == schema.GAZETTEER_POSTCODE_COLUMNS
    assert set(durham_postcodes["lad_code"]) == set(gz.DURHAM_LAD_CODES)
    assert durham_postcodes["postcode"].is_unique
    assert {"DH1 1AB", "DL1 1AA"} <= set(durham_postcodes["postcode"])
    # Sunderland's SR1 and Middlesbrough's TS1 belong to other authorities.
    assert not durham_postcodes["postcode"].str.startswith(("SR1 ", "TS1 ")).any()


def test_postcodes_from_codepoint_names_the_missing_column():
    with pytest.raises(ValueError, match="Admin_district_code"):
        gz.postcodes_from_codepoint(
            pd.DataFrame({"Postcode": ["DH1 1AB"]}).assign(
                Positional_quality_indicator="10", Eastings="1", Northings="1"
            )
        )


# --- police.uk ------------------------------------------------------------------------------------

# Street-type words: a 'On or near' value ending in one of these is a street, not a landmark type.
_STREET_WORDS = re.compile(
    r"\b(?:street|road|lane|avenue|close|terrace|drive|way|court|crescent|grove|place|gardens|view|row|"
    r"walk|square|green|hill|bank|estate|mews|rise|gate|vale|field|fields|wynd|parade|chare|garth|"
    r"yard|side|park|approach|market|villas|bridge|end|embankment)$|^[ABM]\d+(?:\(M\))?$",
    re.I,
)
# Real street names in these files that recur at 5+ map points without a street-type word.
_PLAIN_STREET_NAMES = {
    "Broadway",
    "Kingsway",
    "Oakwood",
    "Parkside",
    "Queensway",
    "The Copse",
    "The Meadows",
    "The Oval",
    "Woodlands",
}


@pytest.fixture(scope="module")
def policeuk_all(shared_data):
    return gz.read_policeuk(sorted(shared_data.glob("policeuk_*/*.csv")))


def test_every_policeuk_landmark_type_in_the_real_files_is_mapped(policeuk_all):
    df = policeuk_all.dropna(subset=["Latitude"])
    x = df["Location"].str.replace(r"^On or near ", "", regex=True)
    points = (
        pd.DataFrame({"x": x, "lat": df["Latitude"], "lon": df["Longitude"]})
        .drop_duplicates()
        .groupby("x")
        .size()
    )
    # Landmark types are generic, so they recur at many map points; or they carry a '/'.
    generic = points[(points >= 5) & ~points.index.str.contains(_STREET_WORDS)].index
    slashed = points[points.index.str.contains("/")].index
    candidates = (set(generic) - _PLAIN_STREET_NAMES) | set(slashed)
    unmapped = sorted(c for c in candidates if c not in gz.POLICEUK_LANDMARK_TYPES)
    assert unmapped == []
    found = candidates & set(gz.POLICEUK_LANDMARK_TYPES)
    assert {"Supermarket", "Parking Area", "Bus/Coach Station", "Park/Open Space", "Nightclub"} <= found
    assert set(gz.POLICEUK_LANDMARK_TYPES.values()) <= set(schema.PLACE_TYPES)
    parsed = gz.parse_policeuk_location(policeuk_all["Location"])
    assert set(parsed.loc[parsed["kind"] == "landmark", "place_type"]) <= set(schema.PLACE_TYPES)


def test_parse_policeuk_location_splits_streets_and_landmarks():
    loc = pd.Series(
        [
            "On or near Supermarket",
            "On or near Bus/Coach Station",
            "On or near Salter'S Lane",
            "On or near A167",
            "On or near Front Street",
            "No Location",
            None,
            "on or near park/open space",
        ],
        index=range(100, 108),
    )
    p = gz.parse_policeuk_location(loc)
    assert list(p.index) == list(range(100, 108))
    assert p["kind"].tolist() == [
        "landmark",
        "landmark",
        "street",
        "street",
        "street",
        None,
        None,
        "landmark",
    ]
    assert p["place_type"].tolist() == ["shop", "transport_hub", None, None, None, None, None, "park"]
    assert p["landmark_type"].iloc[7] == "Park/Open Space"
    assert p["street"].tolist()[2:5] == ["Salter's Lane", "A167", "Front Street"]


@pytest.fixture(scope="module")
def durham_wards(shared_data):
    d = shared_data / "boundaries_martinjc"
    return gz.wards_frame(
        gz.read_boundary_features([d / f"electoral_eng_wards_by_lad_{c}.json" for c in gz.DURHAM_LAD_CODES])
    )


@pytest.fixture(scope="module")
def durham_layers(shared_data, durham_wards, durham_postcodes):
    crimes = gz.read_policeuk(sorted((shared_data / "policeuk_durham").glob("*.csv")))
    return crimes, *gz.policeuk_layers(crimes, durham_wards, durham_postcodes)


def test_policeuk_layers_keep_only_located_points_in_the_study_area(durham_layers, durham_wards):
    crimes, places, streets = durham_layers
    assert tuple(places.columns) == (*schema.GAZETTEER_PLACE_COLUMNS, "radius_m")
    assert tuple(streets.columns) == schema.GAZETTEER_STREET_COLUMNS
    area = shapely.union_all(durham_wards.geometry.values).buffer(0.002)
    for df in (places, streets):
        assert shapely.contains_xy(area, df["longitude"], df["latitude"]).all()
        assert df["locality"].notna().all()
        assert set(df["locality"]) <= set(durham_wards["ward_name"])
    # The far-away rows (e.g. Barking) exist in the input and are gone from the output.
    far = crimes[crimes["Longitude"] > -1.0]
    assert len(far) > 0
    assert not streets["street"].isin(far["Location"].str.replace("On or near ", "")).all()
    assert (places["longitude"] < -1.2).all() and (streets["longitude"] < -1.2).all()


def test_landmark_radii_reach_the_nearest_other_map_point(durham_layers):
    """Each landmark's radius is the distance from its map point to the nearest other distinct point of
    the police.uk files (at least 30 m), measured here on the British National Grid from the raw rows,
    not in the equirectangular metres the radii are worked out in."""
    crimes, places, _ = durham_layers
    points = (
        crimes[["Latitude", "Longitude"]]
        .apply(pd.to_numeric, errors="coerce")
        .dropna()
        .round(6)
        .drop_duplicates()
    )
    to_bng = Transformer.from_crs(4326, 27700, always_xy=True)
    pe, pn = to_bng.transform(points["Longitude"].to_numpy(), points["Latitude"].to_numpy())
    le, ln = to_bng.transform(places["longitude"].to_numpy(), places["latitude"].to_numpy())
    gap = np.hypot(le[:, None] - pe[None, :], ln[:, None] - pn[None, :])
    nearest = np.where(gap > 1.0, gap, np.inf).min(axis=1)
    expected = np.maximum(nearest, gz.PLACE_MIN_RADIUS_M)
    # 0.5 % for the two ways of measuring, 1 m for rounding.
    assert np.allclose(places["radius_m"], expected, rtol=0.005, atol=1.0)
    assert (places["radius_m"] >= gz.PLACE_MIN_RADIUS_M).all()
    # A town-centre shop is tens of metres across, playing fields and parks hundreds.
    by_type = places.groupby("place_type")["radius_m"].median()
    assert by_type["shop"] < 100 < by_type["leisure"] < by_type["park"]


def test_the_shipped_places_carry_their_radius_and_the_geocoder_states_it():
    gaz = gz.load_gazetteer()
    places = gaz.places
    assert places["radius_m"].notna().all() and (places["radius_m"] >= 30).all()
    # The widest park whose name no other place shares, so the name alone places a report there.
    unique = places["name"].map(places["name"].value_counts()) == 1
    park = places[(places["place_type"] == "park") & unique].nlargest(1, "radius_m").iloc[0]
    assert park["radius_m"] > 300
    from hoth_geo.intake.geocode import geocode

    rows = canonical_rows([{"place_name": park["name"], "postcode": park["postcode_district"]}])
    located = geocode(rows, gaz).located
    assert located["place_id"].tolist() == [park["place_id"]]
    assert located["precision_m"].tolist() == [park["radius_m"]]


def test_policeuk_landmarks_have_generic_names_and_stable_ids(durham_layers, durham_wards, durham_postcodes):
    crimes, places, _ = durham_layers
    assert places["place_id"].str.fullmatch(r"pu:[0-9a-f]{12}").all()
    assert places["place_id"].is_unique
    assert (places["source"] == "policeuk_landmark").all()
    labels = {k.casefold() for k in gz.POLICEUK_LANDMARK_TYPES}
    for name, locality in zip(places["name"], places["locality"], strict=True):
        kind, _, where = name.partition(", ")
        assert kind.casefold() in labels and where == locality
    assert places["postcode_district"].str.fullmatch(r"(DH|DL|SR|TS)\d{1,2}").all()
    again, _ = gz.policeuk_layers(crimes.iloc[::-1], durham_wards, durham_postcodes)
    assert again["place_id"].tolist() == places["place_id"].tolist()
    assert {"car_park", "shop", "leisure", "petrol_station", "transport_hub", "park"} <= set(
        places["place_type"]
    )


def test_streets_are_parsed_from_on_or_near_strings(durham_layers):
    _, _, streets = durham_layers
    assert not streets["street"].str.startswith("On or near").any()
    assert not streets["street"].isin(list(gz.POLICEUK_LANDMARK_TYPES)).any()
    assert not streets["street"].str.contains(r"\w'S\b").any()
    front = streets[streets["street"] == "Front Street"]
    assert front["locality"].nunique() > 20  # a street name repeated across many villages
    assert (streets["n_points"] >= 1).all() and streets["n_points"].sum() > len(streets)
    assert not streets.duplicated(["street", "locality"]).any()


# --- OpenStreetMap --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"amenity": "fast_food"}, "takeaway"),
        ({"amenity": "cafe"}, "takeaway"),
        ({"amenity": "restaurant"}, None),
        ({"amenity": "restaurant", "takeaway": "only"}, "takeaway"),
        ({"tourism": "guest_house"}, "hotel"),
        ({"tourism": "hostel"}, "hotel"),
        ({"tourism": "information"}, None),
        ({"leisure": "playground"}, "park"),
        ({"amenity": "taxi"}, "taxi"),
        ({"shop": "convenience"}, "shop"),
        ({"shop": "mall"}, "shopping_centre"),
        ({"shop": "department_store"}, "shopping_centre"),
        ({"shop": "vacant"}, None),
        ({"amenity": "university"}, "school"),
        ({"railway": "station"}, "transport_hub"),
        ({"public_transport": "station"}, "transport_hub"),
        ({"amenity": "bus_station"}, "transport_hub"),
        ({"amenity": "parking"}, "car_park"),
        ({"amenity": "nightclub"}, "licensed_premises"),
        ({"leisure": "pitch"}, "leisure"),
        ({"amenity": "fuel", "shop": "convenience"}, "petrol_station"),
        ({"amenity": "doctors"}, "health"),
        ({"amenity": "bench"}, None),
        ({"name": "Somewhere"}, None),
        ({}, None),
        ({"amenity": "FAST_FOOD "}, "takeaway"),
    ],
)
def test_osm_place_type(tags, expected):
    assert gz.osm_place_type(tags) == expected


@pytest.fixture(scope="module")
def iom_paths(shared_data):
    return [shared_data / "osm_isleofman" / f for f in IOM_FILES]


def test_osm_readers_on_the_isle_of_man_sample(iom_paths):
    csv = gz.read_osm_csv(iom_paths[1])
    geo = gz.read_osm_geojson(iom_paths[0])
    assert len(csv) == len(geo) == 362
    # Bare numeric Overpass ids are typed from geometry; they must agree with the CSV's osm_type.
    assert set(zip(geo["osm_type"], geo["osm_id"], strict=True)) == set(
        zip(csv["osm_type"], csv["osm_id"], strict=True)
    )
    merged = geo.merge(csv, on=["osm_type", "osm_id"], suffixes=("_g", "_c"))
    nodes = merged[merged["osm_type"] == "node"]
    assert np.allclose(nodes["latitude_g"], nodes["latitude_c"], atol=1e-5)
    ways = merged[merged["osm_type"] == "way"]
    assert np.allclose(ways["latitude_g"], ways["latitude_c"], atol=5e-4)  # outline centroids
    ff = csv[[t.get("amenity") == "fast_food" for t in csv["tags"]]]
    assert len(ff) > 0 and gz.osm_place_type(ff["tags"].iloc[0]) == "takeaway"


def test_places_from_osm_on_the_isle_of_man_sample(iom_paths):
    places = gz.places_from_osm(iom_paths)
    assert tuple(places.columns) == (*schema.GAZETTEER_PLACE_COLUMNS, "radius_m")
    counts = places["place_type"].value_counts()
    for t in ("takeaway", "hotel", "shop", "petrol_station", "licensed_premises"):
        assert counts.get(t, 0) > 0, t
    assert places["place_id"].is_unique  # the CSV and GeoJSON of food-and-drink overlap entirely
    assert places["place_id"].str.fullmatch(r"osm:(node|way|relation)/\d+").all()
    assert (places["source"] == "osm").all()
    assert places["latitude"].between(54.0, 54.45).all() and places["longitude"].between(-4.85, -4.3).all()
    fuel = places[places["place_type"] == "petrol_station"]
    assert len(fuel) >= 19
    assert places["postcode_district"].dropna().str.startswith("IM").all()


def test_an_osm_outline_is_stated_as_far_as_it_reaches_and_a_point_is_not_measured(iom_paths):
    """A place drawn as an outline (a way) reaches its farthest corner from the point it is put at,
    measured here on the British National Grid from the GeoJSON's own coordinates, at least 30 m; a
    node says nothing of its size and leaves the radius to the geocoder's default."""
    geojson = next(p for p in iom_paths if p.suffix == ".geojson")
    places = gz.places_from_osm([geojson]).set_index("place_id")
    ways = places[places.index.str.startswith("osm:way/")]
    assert len(ways) > 50 and places.loc[places.index.str.startswith("osm:node/"), "radius_m"].isna().all()
    to_bng = Transformer.from_crs(4326, 27700, always_xy=True)
    checked = 0
    for feature in json.loads(geojson.read_text(encoding="utf-8"))["features"]:
        place_id = f"osm:way/{feature['id']}"
        if feature["geometry"]["type"] == "Point" or place_id not in ways.index:
            continue
        corners = np.array(feature["geometry"]["coordinates"], dtype=float).reshape(-1, 2)
        ce, cn = to_bng.transform(corners[:, 0], corners[:, 1])
        pe, pn = to_bng.transform(ways.loc[place_id, "longitude"], ways.loc[place_id, "latitude"])
        farthest = np.hypot(ce - pe, cn - pn).max()
        # 1 % and 1 m: the grid's scale on the island, and the point's six decimals.
        assert ways.loc[place_id, "radius_m"] == pytest.approx(max(farthest, 30), rel=0.01, abs=1.0)
        checked += 1
    assert checked == len(ways)
    assert (ways["radius_m"] > 30).any()


def test_build_area_gazetteer_round_trips(iom_paths, shared_data, tmp_path):
    cp = [shared_data / "codepoint_open" / "dl.csv"]
    out = tmp_path / "iom"
    counts = gz.build_area_gazetteer(iom_paths, cp, out, lad_codes=["E06000005"])
    g = gz.load_gazetteer(out)
    assert counts == {"postcodes": len(g.postcodes), "places": len(g.places), "streets": len(g.streets)}
    assert counts["places"] > 500 and counts["streets"] > 100
    assert set(g.postcodes["lad_code"]) == {"E06000005"}
    assert g.study_area is None
    # Darlington postcodes are far from the island: no place borrows a DL district.
    assert not g.places["postcode_district"].dropna().str.startswith("DL").any()
    assert g.districts["district"].str.startswith("DL").all()
    assert gz.load_gazetteer(out) is g  # cached per directory
    assert sorted(p.name for p in out.iterdir()) == ["places.arrow", "postcodes.arrow", "streets.arrow"]
    written = pyarrow.feather.read_table(out / "places.arrow").to_pandas()
    assert written["latitude"].dtype == np.float64

    def as_objects(df):
        return df.astype(object).where(df.notna(), None).reset_index(drop=True)

    pd.testing.assert_frame_equal(as_objects(written), as_objects(g.places))


def test_build_area_gazetteer_clips_to_a_boundary(iom_paths, shared_data, tmp_path):
    douglas = box(-4.52, 54.13, -4.45, 54.18)
    boundary = tmp_path / "douglas.geojson"
    boundary.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [{"type": "Feature", "properties": {}, "geometry": douglas.__geo_interface__}],
            }
        )
    )
    out = tmp_path / "douglas"
    counts = gz.build_area_gazetteer(iom_paths, [shared_data / "codepoint_open" / "dh.csv"], out, boundary)
    g = gz.load_gazetteer(out)
    assert counts["postcodes"] == 0  # Durham postcodes lie outside Douglas
    assert 100 < counts["places"] < len(gz.places_from_osm(iom_paths))
    assert g.study_area is not None and g.study_area.equals_exact(douglas, 1e-6)
    assert shapely.contains_xy(douglas, g.places["longitude"], g.places["latitude"]).all()


def test_write_gazetteer_names_the_bad_row(tmp_path):
    bad = pd.DataFrame(
        [
            ["x:1", "A", "park", 54.7, -1.5, None, None, "user"],
            ["x:2", "B", "nightspot", 54.7, -1.5, None, None, "user"],
        ],
        columns=schema.GAZETTEER_PLACE_COLUMNS,
    )
    with pytest.raises(ValueError, match=r"row 1 .*'nightspot'"):
        gz.write_gazetteer({"places": bad}, tmp_path)
    with pytest.raises(ValueError, match="missing columns.*n_points"):
        gz.write_gazetteer({"streets": pd.DataFrame({"street": ["A"]})}, tmp_path)
    with pytest.raises(ValueError, match="unknown layer"):
        gz.write_gazetteer({"roads": pd.DataFrame()}, tmp_path)


def test_centroids_radius_reaches_the_farthest_units_addresses():
    pcs = pd.DataFrame(
        {
            "postcode": [f"DH1 1A{c}" for c in "ABDEFGHJLN"] + ["DH1 2AA"],
            "latitude": [54.77 + 0.001 * i for i in range(10)] + [54.9],
            "longitude": [-1.57] * 11,
        }
    )
    sec = gz.centroids(pcs, "sector").set_index("sector")
    assert sec.loc["DH1 1", "n_postcodes"] == 10
    assert sec.loc["DH1 1", "latitude"] == pytest.approx(54.7745)
    # The end units lie 0.0045 degrees of latitude (500 m) from the centroid, and their addresses reach
    # a further 100 m (the floor, with no radius given): every address of the sector is inside.
    end_unit_m = 0.0045 * 6_371_008.8 * np.pi / 180
    assert sec.loc["DH1 1", "radius_m"] == pytest.approx(end_unit_m + 100, abs=0.5)
    assert sec.loc["DH1 2", "radius_m"] == 100  # the floor for a lone unit
    dist = gz.centroids(pcs, "district")
    assert dist["district"].tolist() == ["DH1"] and dist["n_postcodes"].iloc[0] == 11
    with pytest.raises(ValueError, match="level"):
        gz.centroids(pcs, "area")

    # A unit's own radius (a farm unit reaching 3 km) widens its sector by as much.
    wide = gz.centroids(pcs.assign(radius_m=[100.0] * 9 + [3_000.0, 100.0]), "sector").set_index("sector")
    assert wide.loc["DH1 1", "radius_m"] == pytest.approx(end_unit_m + 3_000, abs=0.5)


def test_shipped_sectors_hold_every_units_reach():
    """In the shipped gazetteer, every unit's point plus its radius lies within its sector's and its
    district's stated radius, measured on Code-Point's own grid (eastings and northings), not the
    equirectangular metres the radii are worked out in."""
    gaz = gz.load_gazetteer()
    units = gaz.postcodes
    to_bng = Transformer.from_crs(4326, 27700, always_xy=True)
    for level, table, key in (
        ("sector", gaz.sectors, gz.postcode_sector(units["postcode"])),
        ("district", gaz.districts, gz.postcode_district(units["postcode"])),
    ):
        centres = table.set_index(level).reindex(key)
        ce, cn = to_bng.transform(centres["longitude"].to_numpy(), centres["latitude"].to_numpy())
        reach = np.hypot(units["easting"] - ce, units["northing"] - cn) + units["radius_m"]
        # 0.5 % for the two ways of measuring (the grid's scale factor is within 0.04 % here), 2 m
        # for the centroid's six decimals.
        assert (reach <= centres["radius_m"].to_numpy() * 1.005 + 2).all(), level
        # And no wider than it must be: the farthest unit's addresses reach the stated radius.
        farthest = reach.groupby(key.to_numpy()).max()
        assert (farthest >= table.set_index(level)["radius_m"].reindex(farthest.index) * 0.995 - 2).all()


def test_unit_radii_reach_the_nearest_unit_at_another_point():
    # Metres north of a point at 54.5 N, as degrees of latitude (111.2 km a degree).
    north = [0.0, 0.0, 0.0, 50.0, 2_000.0, 2_600.0]
    pcs = pd.DataFrame(
        {
            "postcode": ["DL12 1AA", "DL12 1AB", "DL12 1AD", "DL12 1AE", "DL12 2AA", "DL12 2AB"],
            "latitude": [54.5 + m / 111_195.0 for m in north],
            "longitude": [-2.0] * 6,
        }
    )
    radii = gz.unit_radii(pcs)
    # Three units sharing one building's point and a neighbour 50 m away: the 100 m floor, not 0 m.
    assert radii[:4].tolist() == [100.0] * 4
    # Two farm units 600 m apart and 1.95 km from the village: each reaches the other.
    assert radii[4:] == pytest.approx([600.0, 600.0], abs=1.0)
    assert gz.unit_radii(pcs.iloc[:1]).tolist() == [100.0]  # a unit alone: nothing to measure against


def test_a_gazetteer_built_as_parquet_is_still_read_and_replaced_when_built_again(tmp_path):
    # Gazetteers built before the layers became Arrow files are parquet files in the area's folder.
    shipped = gz.load_gazetteer()
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    for name in ("postcodes", "places", "streets"):
        getattr(shipped, name).to_parquet(earlier / f"{name}.parquet", index=False)
    read = gz.load_gazetteer(earlier)
    for name in ("postcodes", "places", "streets", "sectors", "districts"):
        pd.testing.assert_frame_equal(getattr(read, name), getattr(shipped, name))
    gz.write_gazetteer({"places": shipped.places}, earlier)
    assert sorted(p.name for p in earlier.iterdir()) == ["places.arrow", "postcodes.arrow", "streets.arrow"]
    rebuilt = gz.load_gazetteer(earlier)
    pd.testing.assert_frame_equal(rebuilt.places, shipped.places)
    assert rebuilt.postcodes.empty  # a layer not given is written empty, not left from the parquet


def test_loading_the_gazetteer_does_not_load_the_parquet_library():
    # The app loads the gazetteer in every process; Arrow's parquet and dataset libraries would add
    # ~45 MB to each process's resident memory.
    probe = (
        "import sys; from hoth_geo.intake.gazetteer import load_gazetteer; g = load_gazetteer(); "
        "assert len(g.postcodes) > 0; "
        "print(sorted(m for m in sys.modules if m.startswith('pyarrow') and ('parquet' in m or 'dataset' in m)))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- the shipped files ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped():
    if gz.layer_path(settings.GAZETTEER_DIR, "postcodes") is None:
        pytest.fail(f"shipped gazetteer missing in {settings.GAZETTEER_DIR}: run scripts/build_gazetteer.py")
    return gz.load_gazetteer()


def test_shipped_gazetteer_has_the_contract_columns(shipped):
    # The file holds the contract's columns; each unit's radius is worked out as it loads (``unit_radii``).
    assert tuple(shipped.postcodes.columns) == (*schema.GAZETTEER_POSTCODE_COLUMNS, "radius_m")
    # and each police.uk landmark's radius was measured when the gazetteer was built (``landmark_radii``).
    assert tuple(shipped.places.columns) == (*schema.GAZETTEER_PLACE_COLUMNS, "radius_m")
    assert tuple(shipped.streets.columns) == schema.GAZETTEER_STREET_COLUMNS
    assert len(shipped.postcodes) > 15_000 and len(shipped.places) > 300 and len(shipped.streets) > 3_000
    assert set(shipped.places["place_type"]) <= set(schema.PLACE_TYPES)
    for df in (shipped.postcodes, shipped.places, shipped.streets):
        assert df["latitude"].dtype == np.float64 and df["longitude"].dtype == np.float64


def test_shipped_layers_lie_inside_the_study_area(shipped):
    area = shipped.study_area
    assert area is not None and area.is_valid
    assert area.equals(gz.load_study_area())
    # Postcode centroids can sit a little outside the generalised, simplified boundary.
    margin = area.buffer(0.01)
    for name in ("places", "streets"):
        df = getattr(shipped, name)
        assert shapely.contains_xy(area.buffer(0.002), df["longitude"], df["latitude"]).all(), name
    inside = shapely.contains_xy(margin, shipped.postcodes["longitude"], shipped.postcodes["latitude"])
    assert inside.mean() > 0.999
    assert area.contains(Point(-1.5755, 54.7753))  # Durham Cathedral
    assert area.contains(Point(-1.5536, 54.5236))  # Darlington town centre
    assert not area.contains(Point(-1.6178, 54.9783))  # Newcastle
    assert not area.contains(Point(-1.3822, 54.9069))  # Sunderland


def test_shipped_sector_and_district_centroids_are_sane(shipped):
    d = shipped.districts.set_index("district")
    assert tuple(shipped.districts.columns) == (
        "district",
        "latitude",
        "longitude",
        "n_postcodes",
        "radius_m",
    )
    assert tuple(shipped.sectors.columns) == ("sector", "latitude", "longitude", "n_postcodes", "radius_m")
    assert _km(d.loc["DH1", "latitude"], d.loc["DH1", "longitude"], 54.77, -1.57) < 3
    assert _km(d.loc["DL1", "latitude"], d.loc["DL1", "longitude"], 54.53, -1.54) < 4
    assert d["n_postcodes"].sum() == len(shipped.postcodes)
    assert shipped.sectors["n_postcodes"].sum() == len(shipped.postcodes)
    big = shipped.sectors[shipped.sectors["n_postcodes"] >= 50]
    # A town's sector reaches a few kilometres; the widest is DL16 7 (Spennymoor), 21 km, because
    # Code-Point puts one of its units, DL16 7QB, near Lanchester.
    assert 1_000 < big["radius_m"].median() < 6_000
    assert big["radius_m"].max() < 25_000
    assert (shipped.sectors["radius_m"] >= 100).all()
    assert shipped.sectors["sector"].str.split(" ").str[0].isin(d.index).all()


def test_shipped_boundaries_are_small_wgs84_and_named():
    for name, key in (("study_area", "name"), ("wards", "ward_name"), ("lsoa", "lsoa_code")):
        path = settings.BOUNDARIES_DIR / f"{name}.geojson"
        assert path.stat().st_size < 400_000, name
        doc = json.loads(path.read_text())
        assert all(f["properties"].get(key) for f in doc["features"])
        minx, miny, maxx, maxy = shapely.union_all(
            [shapely.geometry.shape(f["geometry"]) for f in doc["features"]]
        ).bounds
        assert -2.5 < minx < maxx < -1.1 and 54.4 < miny < maxy < 55.0
    wards = json.loads((settings.BOUNDARIES_DIR / "wards.geojson").read_text())["features"]
    assert len(wards) == 87 and any(f["properties"]["ward_name"] == "Elvet and Gilesgate" for f in wards)
