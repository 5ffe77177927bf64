"""The geocoding cascade on the shipped County Durham gazetteer."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from types import SimpleNamespace

import h3
import numpy as np
import pandas as pd
import pytest
from factories import canonical_rows
from pyproj import Geod, Transformer

from hoth_geo import settings
from hoth_geo.intake.gazetteer import load_gazetteer
from hoth_geo.intake.geocode import (
    geocode,
    grid_square,
    link_to_places,
    map_click_radius_m,
    wgs84_precision_m,
)

DH1_1AB = (54.786659, -1.530113)  # Code-Point Open centroid, converted from BNG 430316, 543630


@pytest.fixture(scope="module")
def gaz():
    return load_gazetteer()


@pytest.fixture()
def venues():
    # Synthetic venues at points near Durham City and Darlington; two share a name in different towns.
    return pd.DataFrame(
        {
            "place_id": ["test:hotel-1", "test:takeaway-dur", "test:takeaway-dar"],
            "name": [
                "Wearside Lodge Hotel (demo)",
                "Station Road Takeaway (demo)",
                "Station Road Takeaway (demo)",
            ],
            "place_type": ["hotel", "takeaway", "takeaway"],
            "latitude": [54.7760, 54.7790, 54.5270],
            "longitude": [-1.5750, -1.5820, -1.5530],
            "locality": ["Elvet and Gilesgate", "Neville's Cross", "Central"],
            "postcode_district": ["DH1", "DH1", "DL1"],
            "source": ["demo", "demo", "demo"],
        }
    )


def _one(result, row_number):
    hit = result.located[result.located["row_number"] == row_number]
    assert len(hit) == 1, result.quarantine
    return hit.iloc[0]


def test_wgs84_coordinates_are_kept_and_swaps_corrected(gaz):
    rows = canonical_rows(
        [
            {"latitude": 54.7761, "longitude": -1.5733},
            {"latitude": -1.5733, "longitude": 54.7761},  # swapped in the file
        ]
    )
    result = geocode(rows, gaz)
    a, b = _one(result, 2), _one(result, 3)
    assert a["geocode_method"] == b["geocode_method"] == "coordinates_wgs84"
    assert (b["latitude"], b["longitude"]) == (54.7761, -1.5733)
    assert "swapped" in b["geocode_note"]
    assert a["h3"] == h3.str_to_int(h3.latlng_to_cell(54.7761, -1.5733, settings.FINE_H3_RES))


def test_points_outside_the_study_area_are_quarantined_with_row_and_value(gaz):
    result = geocode(canonical_rows([{"latitude": 51.5072, "longitude": -0.1276}]), gaz)
    assert result.located.empty
    reason = result.quarantine["reason"].iloc[0]
    assert (
        reason.startswith("row 2:")
        and "51.50720" in reason
        and "outside County Durham and Darlington" in reason
    )


def test_bng_easting_northing_is_converted_with_pyproj(gaz):
    result = geocode(canonical_rows([{"easting": 430316.0, "northing": 543630.0}]), gaz)
    row = _one(result, 2)
    lon, lat = Transformer.from_crs(27700, 4326, always_xy=True).transform(430316.0, 543630.0)
    assert row["geocode_method"] == "coordinates_bng"
    assert row["latitude"] == pytest.approx(lat, abs=1e-9) and row["longitude"] == pytest.approx(
        lon, abs=1e-9
    )
    assert row["latitude"] == pytest.approx(DH1_1AB[0], abs=1e-5)


def test_a_grid_reference_is_placed_at_the_centre_of_its_square_with_the_half_diagonal_as_radius():
    east, north, radius = grid_square(
        np.array([430316, 430310, 430300, 431000, 430000, 430300.5]),
        np.array([543637, 543630, 543600, 544000, 540000, 543600]),
    )
    # Metres (and a value with a fraction) are points; 10 m, 100 m, 1 km and 10 km squares are not.
    assert list(east) == [430316, 430315, 430350, 431500, 435000, 430300.5]
    assert list(north) == [543637, 543635, 543650, 544500, 545000, 543600]
    assert list(radius) == pytest.approx([10, 10, 70.71, 707.1, 7071.1, 10], abs=0.05)


def test_every_point_of_a_grid_square_lies_within_the_stated_radius():
    """The stated radius is the real one: the corners of the kilometre square a reference names are
    within it of the point the report is placed at (measured on the ground, from the WGS84 point)."""
    geod = Geod(ellps="WGS84")
    to_wgs84 = Transformer.from_crs(27700, 4326, always_xy=True)
    east, north, radius = grid_square(np.array([431000]), np.array([544000]))
    lon, lat = to_wgs84.transform(east[0], north[0])
    corners = [(431000, 544000), (432000, 544000), (431000, 545000), (432000, 545000)]
    far = max(geod.inv(lon, lat, *to_wgs84.transform(e, n))[2] for e, n in corners)
    assert 700 < far <= radius[0] * 1.001  # BNG's scale factor here is below 1.0004


@pytest.mark.parametrize(
    "lat, lon, low, high",
    [
        (54.77613, -1.57329, 10, 10),  # five decimals: a device or a map click
        (54.7761, -1.5733, 10, 13),  # four: 11 m by 6 m boxes
        (54.776, -1.573, 120, 130),
        (54.77, -1.57, 1_200, 1_300),  # two: 1.1 km by 0.6 km
        (54.8, -1.6, 12_000, 13_000),
    ],
)
def test_coordinates_are_as_precise_as_their_decimals(lat, lon, low, high):
    assert low <= wgs84_precision_m(np.array([lat]), np.array([lon]))[0] <= high


def test_a_rounded_coordinate_states_a_radius_that_holds_its_true_point(gaz):
    """A partner export that cuts coordinates to three decimals: the true point of each report is
    within the stated radius of where it is placed, whether the export rounded or cut the value short."""
    geod = Geod(ellps="WGS84")
    true_lat, true_lon = 54.776949, -1.575871
    written = [(round(true_lat, 3), round(true_lon, 3)), (54.776, -1.575)]  # rounded; cut short
    result = geocode(canonical_rows([{"latitude": la, "longitude": lo} for la, lo in written]), gaz)
    offsets = []
    for row_number in (2, 3):
        row = _one(result, row_number)
        offsets.append(geod.inv(row["longitude"], row["latitude"], true_lon, true_lat)[2])
        assert row["geocode_method"] == "coordinates_wgs84"
        assert offsets[-1] <= row["precision_m"] < 150
    assert offsets[1] > 100  # cut short: the true point is over 100 m from the written one


def test_postcode_cascade_unit_sector_district_and_unknown_units(gaz):
    rows = canonical_rows(
        [
            {"postcode": "DH1 1AB"},
            {"postcode": "DH1 4"},  # sector given on its own
            {"postcode": "DH1"},  # district only
            {"postcode": "DH1 7"},  # sector DH1 7 does not exist
            {"postcode": "DH1 1ZZ"},  # well-formed unit the area's gazetteer does not hold
        ]
    )
    result = geocode(rows, gaz)
    unit, sector, district = _one(result, 2), _one(result, 3), _one(result, 4)
    assert unit["geocode_method"] == "postcode"
    assert (unit["latitude"], unit["longitude"]) == pytest.approx(DH1_1AB, abs=1e-6)
    assert sector["geocode_method"] == "postcode_sector"
    assert district["geocode_method"] == "postcode_district"
    assert district["precision_m"] > sector["precision_m"] > unit["precision_m"]
    q = result.quarantine.set_index("row_number")
    assert q.loc[5, "reason"] == (
        "row 5: postcode sector 'DH1 7' is not in County Durham and Darlington: check the postcode, or locate the report"
        " in Review"
    )
    # Not placed at the DH1 1 sector centroid: an unknown unit lies outside the area (or is mistyped).
    assert q.loc[6, "reason"].startswith(
        "row 6: postcode 'DH1 1ZZ' is not a postcode in County Durham and Darlington"
    )
    assert q.loc[6, "field"] == "postcode" and q.loc[6, "value"] == "DH1 1ZZ"


def test_a_postcode_unit_is_stated_as_wide_as_the_gap_to_its_nearest_neighbour(gaz):
    """Code-Point Open gives a unit one point and no extent: a farm unit in upper Teesdale reaches about as
    far as the next unit's point, kilometres away; one on the edge of Durham City hundreds of metres; a
    terrace in the city is stated at the 100 m floor."""
    rows = canonical_rows([{"postcode": "DL12 0PB"}, {"postcode": "DH1 2SP"}, {"postcode": "DH1 3AA"}])
    result = geocode(rows, gaz)
    # The gap measured afresh on Code-Point's own grid (eastings and northings in metres).
    units = gaz.postcodes
    east, north = units["easting"].to_numpy(float), units["northing"].to_numpy(float)

    def gap_to_next_unit(postcode: str) -> float:
        me = (units["postcode"] == postcode).to_numpy()
        d = np.hypot(east - east[me][0], north - north[me][0])
        return float(d[d > 1].min())

    farm, edge, terrace = (_one(result, r) for r in (2, 3, 4))
    assert farm["geocode_method"] == edge["geocode_method"] == terrace["geocode_method"] == "postcode"
    assert farm["precision_m"] == pytest.approx(gap_to_next_unit("DL12 0PB"), rel=0.01)
    assert farm["precision_m"] > 3_000
    assert edge["precision_m"] == pytest.approx(gap_to_next_unit("DH1 2SP"), rel=0.01)
    assert 300 < edge["precision_m"] < 1_000
    assert gap_to_next_unit("DH1 3AA") < 100 and terrace["precision_m"] == 100.0


def test_place_names_match_fuzzily_and_ambiguity_is_not_guessed(gaz, venues):
    rows = canonical_rows(
        [
            {"place_name": "wearside lodge hotl"},  # typo and case
            {"place_name": "Station Road Takeaway"},  # two venues share this name
            {"place_name": "Station Road Takeaway", "postcode": "DL1 1AA"},  # district decides
            {
                "place_name": "Station Road Takeaway",
                "location_text": "outside, Neville's Cross",
            },  # locality decides
        ]
    )
    result = geocode(rows, gaz, venues)
    assert _one(result, 2)["place_id"] == "test:hotel-1"
    assert _one(result, 2)["geocode_method"] == "place_name"
    assert _one(result, 4)["place_id"] == "test:takeaway-dar"
    assert _one(result, 5)["place_id"] == "test:takeaway-dur"
    reason = result.quarantine.set_index("row_number").loc[3, "reason"]
    assert "matches 2 places" in reason and "add a postcode or the town" in reason


def test_street_in_location_text_and_needs_a_location(gaz):
    unique = gaz.streets.groupby("street")["street"].transform("size") == 1
    street = gaz.streets[unique & gaz.streets["street"].str.contains(" ")].iloc[0]
    rows = canonical_rows(
        [
            {"location_text": f"Group seen by the shops on {street['street']} late evening"},
            {"location_text": "somewhere near the shops"},
        ]
    )
    result = geocode(rows, gaz)
    row = _one(result, 2)
    assert row["geocode_method"] == "street"
    assert (row["latitude"], row["longitude"]) == (street["latitude"], street["longitude"])
    reason = result.quarantine.set_index("row_number").loc[3, "reason"]
    assert reason.startswith("row 3: needs a location")
    assert result.quarantine["payload"].notna().all()  # an analyst can resolve both kinds in Review


def test_online_reports_are_kept_but_never_located(gaz):
    result = geocode(canonical_rows([{"online": True, "latitude": 54.7761, "longitude": -1.5733}]), gaz)
    row = _one(result, 2)
    assert row["geocode_method"] == "online" and row["h3"] == 0
    assert np.isnan(row["latitude"])


def test_point_reports_link_to_the_nearest_place_of_their_type(gaz, venues):
    rows = canonical_rows(
        [
            {"latitude": 54.7763, "longitude": -1.5750, "place_type": "hotel"},  # ~33 m from the hotel
            {"latitude": 54.7800, "longitude": -1.5750, "place_type": "hotel"},  # ~440 m: too far
            {"latitude": 54.7763, "longitude": -1.5750, "place_type": "park"},  # wrong type
        ]
    )
    result = geocode(rows, gaz, venues)
    assert _one(result, 2)["place_id"] == "test:hotel-1"
    assert pd.isna(_one(result, 3)["place_id"])
    assert pd.isna(_one(result, 4)["place_id"])
    linked = link_to_places(result.located.assign(place_id=None), gaz, venues)
    assert linked["place_id"].iloc[0] == "test:hotel-1" and linked["place_id"].iloc[1:].isna().all()


def test_a_point_too_coarse_to_tell_one_place_from_another_is_not_linked(gaz, venues):
    """Two decimals of a degree put a report anywhere within about 1.3 km: the hotel beside the written
    point is one of many places it could mean, so the report is placed but not attributed to it."""
    rows = canonical_rows(
        [
            {"latitude": 54.78, "longitude": -1.57, "place_type": "hotel"},
            {"easting": 427000, "northing": 542000, "place_type": "hotel"},  # a kilometre square
        ]
    )
    near = venues.assign(latitude=54.7801, longitude=-1.5701)  # about 13 m from the written point
    result = geocode(rows, gaz, near)
    coarse = _one(result, 2)
    assert coarse["geocode_method"] == "coordinates_wgs84" and coarse["precision_m"] > 1_000
    assert pd.isna(coarse["place_id"])
    assert pd.isna(_one(result, 3)["place_id"]) and _one(result, 3)["precision_m"] > 700
    precise = geocode(
        canonical_rows([{"latitude": 54.78003, "longitude": -1.57004, "place_type": "hotel"}]), gaz, near
    )
    assert _one(precise, 2)["place_id"] == "test:hotel-1"


def test_every_row_is_located_or_quarantined_once(gaz, venues):
    rows = canonical_rows(
        [
            {"postcode": "DH1 1AB"},
            {"postcode": "ZZ9 9ZZ"},
            {"online": True},
            {"latitude": 54.7, "longitude": -1.6},
            {},
        ]
    )
    result = geocode(rows, gaz, venues)
    assert len(result.located) + len(result.quarantine) == len(rows)
    assert set(result.located["row_number"]).isdisjoint(result.quarantine["row_number"])


# --- Honest place and street matching (docs/geocoding.md) ----------------------------------------------


def _place(gaz, name):
    hit = gaz.places[gaz.places["name"] == name]
    assert len(hit) == 1, name
    return hit.iloc[0]


def _street(gaz, street, locality):
    hit = gaz.streets[(gaz.streets["street"] == street) & (gaz.streets["locality"] == locality)]
    assert len(hit) == 1, (street, locality)
    return hit.iloc[0]


def _reason(result, row_number):
    return result.quarantine.set_index("row_number").loc[row_number, "reason"]


def test_shared_name_narrowed_to_some_of_its_places_does_not_crash_and_is_not_guessed(gaz):
    # 'Parking area, Central' is eight places: Central and car park keep all, DL3 keeps three.
    rows = canonical_rows(
        [
            {
                "place_name": "Parking area, Central",
                "location_text": "Central",
                "place_type": "car_park",
                "postcode": "DL3",
            },
            {"place_name": "Parking area, Central", "location_text": "Central", "place_type": "car_park"},
        ]
    )
    result = geocode(rows, gaz)
    district = _one(result, 2)
    assert district["geocode_method"] == "postcode_district" and pd.isna(district["place_id"])
    assert "matches 3 places" in district["geocode_note"]
    assert "matches 8 places" in _reason(result, 3)


def test_a_locality_in_the_text_completes_or_constrains_a_place_name(gaz):
    coundon = _place(gaz, "Petrol station, Coundon")
    chilton = _place(gaz, "Supermarket, Chilton")
    rows = canonical_rows(
        [
            {"place_name": "Petrol station", "location_text": "on the forecourt, Coundon"},
            {"place_name": "Supermarket", "location_text": "outside, Chilton"},
            {"place_name": "Petrol station", "location_text": "outside, Chilton"},  # none in Chilton
        ]
    )
    result = geocode(rows, gaz)
    assert _one(result, 2)["place_id"] == coundon["place_id"]
    assert _one(result, 3)["place_id"] == chilton["place_id"]
    assert _reason(result, 4).startswith("row 4: place name 'Petrol station' is not in the gazetteer")


def test_a_name_not_in_the_gazetteer_goes_to_review_with_its_nearest_names(gaz):
    # There is no petrol station in Chilton; 'Petrol station, Pelton' (22 km away) is near in spelling.
    result = geocode(canonical_rows([{"place_name": "Petrol station, Chilton"}]), gaz)
    assert result.located.empty
    reason = _reason(result, 2)
    assert reason.startswith("row 2: place name 'Petrol station, Chilton' is not in the gazetteer")
    assert "Petrol station, Pelton (Pelton)" in reason
    assert result.quarantine["field"].iloc[0] == "place name"


def test_a_town_named_in_the_text_constrains_a_street_that_exists_in_one_other_town(gaz):
    aberdeen = _street(gaz, "Aberdeen Road", "Haughton North")  # the only Aberdeen Road
    rows = canonical_rows(
        [
            {"location_text": "near Aberdeen Road, Pelton"},
            {"location_text": "near Aberdeen Road, Haughton North"},
            {"location_text": "near Aberdeen Road"},
        ]
    )
    result = geocode(rows, gaz)
    assert _reason(result, 2) == (
        "row 2: street 'Aberdeen Road' is not known in Pelton (it is in Haughton North): check the street"
        " and town, or locate it in Review"
    )
    named, alone = _one(result, 3), _one(result, 4)
    assert (named["latitude"], named["longitude"]) == (aberdeen["latitude"], aberdeen["longitude"])
    assert named["geocode_confidence"] > alone["geocode_confidence"]  # the town confirmed it


def test_street_abbreviations_and_one_letter_typos_match_when_unique(gaz):
    aberdeen = _street(gaz, "Aberdeen Road", "Haughton North")
    stanley = _street(gaz, "Front Street", "Stanley")
    rows = canonical_rows(
        [
            {"location_text": "On or near Aberdeen Rd"},
            {"location_text": "seen near Abredeen Road"},  # letters swapped
            {"location_text": "seen near Aberdeen Raod"},  # typo in the street word
            {"location_text": "Front St, Stanley"},  # 27 Front Streets; the town decides
            {"location_text": "Front St"},  # no town: ambiguous
        ]
    )
    result = geocode(rows, gaz)
    for r in (2, 3, 4):
        row = _one(result, r)
        assert (row["latitude"], row["longitude"]) == (aberdeen["latitude"], aberdeen["longitude"])
    assert _one(result, 3)["geocode_confidence"] < _one(result, 2)["geocode_confidence"]
    front = _one(result, 5)
    assert (front["latitude"], front["longitude"]) == (stanley["latitude"], stanley["longitude"])
    assert "street 'Front Street' is in 27 localities" in _reason(result, 6)


def test_place_name_typos_match_only_when_one_place_is_that_close(gaz):
    coundon = _place(gaz, "Petrol station, Coundon")
    rows = canonical_rows(
        [
            {"place_name": "Petrol statoin, Coundon"},
            {"place_name": "PETROL STATION COUNDON"},
        ]
    )
    result = geocode(rows, gaz)
    typo, case = _one(result, 2), _one(result, 3)
    assert typo["place_id"] == case["place_id"] == coundon["place_id"]
    assert typo["geocode_confidence"] < 0.8 <= case["geocode_confidence"]


def test_an_exact_unique_name_is_not_flagged_because_a_near_name_exists_elsewhere(gaz):
    south = _place(gaz, "Sports/recreation area, Consett South")  # 'Consett North' is two edits away
    result = geocode(canonical_rows([{"place_name": "Sports/recreation area, Consett South"}]), gaz)
    row = _one(result, 2)
    assert row["place_id"] == south["place_id"] and row["geocode_confidence"] == 0.9


def test_street_words_are_not_read_as_localities(gaz):
    # 'North Road' and 'West Auckland' are wards; North Road is a street in 8 wards, West Auckland
    # Road in 4. Neither text says which, so both go to Review instead of to the ward.
    rows = canonical_rows(
        [
            {"location_text": "On or near North Road"},
            {"location_text": "On or near West Auckland Road"},
            {"location_text": "West Auckland Road, Cockerton West"},
        ]
    )
    result = geocode(rows, gaz)
    assert "street 'North Road' is in 8 localities" in _reason(result, 2)
    assert "street 'West Auckland Road' is in 4 localities" in _reason(result, 3)
    cockerton = _street(gaz, "West Auckland Road", "Cockerton West")
    row = _one(result, 4)
    assert (row["latitude"], row["longitude"]) == (cockerton["latitude"], cockerton["longitude"])


def test_a_postcode_held_outside_the_area_is_quarantined_naming_the_area(gaz):
    # A gazetteer may keep units around its area (a buffer); Newcastle's NE1 4ST is one of those here.
    outside = pd.DataFrame(
        {
            "postcode": ["NE1 4ST"],
            "latitude": [54.9738],
            "longitude": [-1.6132],
            "easting": [424900.0],
            "northing": [564100.0],
            "lad_code": ["E08000021"],
        }
    )
    wider = dataclasses.replace(gaz, postcodes=pd.concat([gaz.postcodes, outside], ignore_index=True))
    rows = canonical_rows([{"postcode": "NE1 4ST"}, {"postcode": "DH1 1AB"}])
    result = geocode(rows, wider)
    assert _reason(result, 2) == (
        "row 2: postcode 'NE1 4ST' lies outside County Durham and Darlington: check the postcode, or locate the report"
        " in Review"
    )
    assert _one(result, 3)["geocode_method"] == "postcode"
    named = SimpleNamespace(**{f.name: getattr(wider, f.name) for f in dataclasses.fields(wider)})
    named.area_name = "County Durham and Darlington"
    result = geocode(rows, named)
    assert "lies outside County Durham and Darlington" in _reason(result, 2)


def test_precision_is_the_measured_radius_of_what_was_matched(gaz):
    rows = canonical_rows(
        [{"postcode": "DH1 4"}, {"postcode": "DL3"}, {"location_text": "near Aberdeen Road"}]
    )
    result = geocode(rows, gaz)
    sectors = gaz.sectors.set_index("sector")["radius_m"]
    districts = gaz.districts.set_index("district")["radius_m"]
    assert _one(result, 2)["precision_m"] == sectors["DH1 4"]
    assert _one(result, 3)["precision_m"] == districts["DL3"]
    assert _one(result, 4)["precision_m"] == 300.0  # no street extent in this gazetteer: the default
    measured = dataclasses.replace(
        gaz, streets=gaz.streets.assign(radius_m=np.arange(len(gaz.streets)) + 50.0)
    )
    aberdeen = measured.streets[measured.streets["street"] == "Aberdeen Road"]["radius_m"].iloc[0]
    assert _one(geocode(rows, measured), 4)["precision_m"] == aberdeen


def test_a_row_the_geocoder_cannot_handle_is_quarantined_and_the_rest_are_kept(gaz, monkeypatch):
    import hoth_geo.intake.geocode as geocoding

    real = geocoding.geocode

    def fragile(rows, *args, **kwargs):
        if (rows["place_name"] == "boom").any():
            raise ValueError("Item wrong length 8 instead of 5")
        return real(rows, *args, **kwargs)

    monkeypatch.setattr(geocoding, "geocode", fragile)
    rows = canonical_rows(
        [{"postcode": "DH1 1AB"}] * 6 + [{"place_name": "boom"}] + [{"postcode": "DH1"}] * 5
    )
    result = geocoding.geocode_safely(rows, gaz)
    assert sorted(result.located["row_number"]) == [r for r in range(2, 14) if r != 8]
    q = result.quarantine.set_index("row_number")
    assert list(q.index) == [8]
    assert q.loc[8, "reason"] == (
        "row 8: the geocoder could not handle this row (ValueError: Item wrong length 8 instead of 5);"
        " locate it in Review"
    )
    assert json.loads(q.loc[8, "payload"])["place_name"] == "boom"


def test_quarantine_payloads_rebuild_the_canonical_row(gaz):
    rows = canonical_rows([{"location_text": 'line one\nline "two" \u00e9', "postcode": "ZZ9"}])
    payload = json.loads(geocode(rows, gaz).quarantine["payload"].iloc[0])
    assert payload["location_text"] == 'line one\nline "two" \u00e9'
    assert payload["observed_at"] == "2025-03-03T21:30:00" and payload["latitude"] is None
    assert payload["row_number"] == 2 and payload["online"] is False


def test_an_import_is_not_aborted_by_a_row_the_geocoder_cannot_handle(gaz, monkeypatch, tmp_path):
    import csv

    import hoth_geo.intake.geocode as geocoding
    from hoth_geo import store
    from hoth_geo.intake import pipeline
    from hoth_geo.schema import TEMPLATE_COLUMNS

    real = geocoding.geocode

    def fragile(rows, *args, **kwargs):
        if (rows["place_name"] == "Trips the geocoder").any():
            raise RuntimeError("unexpected input")
        return real(rows, *args, **kwargs)

    monkeypatch.setattr(geocoding, "geocode", fragile)
    path = tmp_path / "form.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(TEMPLATE_COLUMNS))
        writer.writeheader()
        for i, extra in enumerate(
            [{"Postcode": "DH1 1AB"}, {"Place name": "Trips the geocoder"}, {"Postcode": "DH1"}]
        ):
            writer.writerow(
                {
                    "Source reference": f"G-{i}",
                    "Date observed": "03/04/2025",
                    "Reporting agency": "Synthetic Youth Project",
                    "Agency type": "Youth service",
                    "Narrative": f"Synthetic narrative {i}.",
                    **extra,
                }
            )
    engine = store.connect(f"sqlite:///{tmp_path / 'g.sqlite'}")
    summary = pipeline.import_file(engine, path, gazetteer=gaz, today=date(2025, 6, 30))
    assert (summary.n_read, summary.n_accepted, summary.n_quarantined) == (3, 2, 1)
    q = store.load_quarantine(engine).set_index("row_number")
    assert q.loc[3, "reason"].startswith("row 3: the geocoder could not handle this row (RuntimeError")


def test_the_decimals_written_in_the_file_state_the_radius_not_the_number_they_became(gaz):
    """'54.7800' (four decimals) is stored as the number 54.78, which shows two: the radius comes from
    the file's text, where the normaliser counted the decimals, so the report is not stated as within
    1.3 km (nor left off resolution-8 maps) for the zeros its export wrote."""
    from hoth_geo.intake.ingest import ingest

    data = (
        b"Ref,Date observed,Latitude,Longitude\n"
        b"SYN-1,03/04/2025,54.7800,-1.5700\n"  # four decimals, two of them zeros
        b"SYN-2,03/04/2025,54.78,-1.57\n"  # two decimals
        b"SYN-3,03/04/2025,-1.5700,54.7800\n"  # swapped in the file: the decimals travel with the values
    )
    form = ingest(data, "decimals.csv", today=date(2026, 1, 1))
    assert form.coordinate_precision.loc[2, ["latitude", "longitude"]].tolist() == [4, 4]
    result = geocode(form.rows, gaz, coordinate_precision=form.coordinate_precision)
    four, two, swapped = (_one(result, r)["precision_m"] for r in (2, 3, 4))
    assert 12 < four < 14 and swapped == pytest.approx(four)
    assert two > 1_200
    # Without the file's text (a number alone), the radius errs wide.
    assert _one(geocode(form.rows, gaz), 2)["precision_m"] == pytest.approx(two)


def test_a_stated_location_accuracy_widens_a_points_radius_and_never_narrows_it(gaz):
    """A phone's accuracy (or a share-form click's) in its own column: coordinates and grid references are
    stated within the wider of it and what their digits allow; a postcode keeps its unit's radius; an
    accuracy that is not a distance sends the row to Review, naming the row, column and value."""
    from hoth_geo.intake.ingest import ingest

    unit = gaz.postcodes.set_index("postcode").loc["DH1 3AA"]
    data = (
        b"Ref,Date observed,Latitude,Longitude,Easting,Northing,Postcode,GPS accuracy\n"
        b"SYN-1,03/04/2025,54.776131,-1.573292,,,,250\n"  # six decimals (10 m), a phone's 250 m
        b"SYN-2,03/04/2025,54.78,-1.57,,,,20\n"  # two decimals (1.3 km) outweigh 20 m
        b"SYN-3,03/04/2025,,,427355,542452,,400\n"  # a 1 m grid reference, 400 m
        b"SYN-4,03/04/2025,,,,,DH1 3AA,5000\n"  # a postcode: the unit's own radius
        b"SYN-5,03/04/2025,54.776131,-1.573292,,,,about 20\n"
        b"SYN-6,03/04/2025,54.776131,-1.573292,,,,-5\n"
    )
    form = ingest(data, "accuracy.csv", today=date(2026, 1, 1))
    assert form.quarantine["reason"].tolist() == [
        'row 6: location accuracy "about 20" is not a number of metres',
        "row 7: location accuracy -5 out of range (0 to 100,000 m)",
    ]
    assert form.quarantine["field"].tolist() == ["location_accuracy"] * 2
    result = geocode(form.rows, gaz, coordinate_precision=form.coordinate_precision)
    phone, coarse, grid, postcode = (_one(result, r) for r in (2, 3, 4, 5))
    assert (phone["geocode_method"], phone["precision_m"]) == ("coordinates_wgs84", 250.0)
    assert coarse["precision_m"] > 1_200
    assert (grid["geocode_method"], grid["precision_m"]) == ("coordinates_bng", 400.0)
    assert (postcode["geocode_method"], postcode["precision_m"]) == ("postcode", unit["radius_m"])


@pytest.mark.parametrize(("latitude", "zoom"), [(54.77, 15), (54.77, 10), (51.5, 12), (57.1, 17)])
def test_a_map_click_is_stated_as_wide_as_ten_pixels_at_its_zoom(latitude, zoom):
    """Ten screen pixels measured on the ground: two points that far apart on the map's Web Mercator
    grid (256-pixel tiles), their distance taken on the ellipsoid."""
    to_mercator = Transformer.from_crs(4326, 3857, always_xy=True)
    to_wgs84 = Transformer.from_crs(3857, 4326, always_xy=True)
    x, y = to_mercator.transform(-1.57, latitude)
    pixel = 2 * np.pi * 6_378_137 / (256 * 2**zoom)
    lon2, lat2 = to_wgs84.transform(x + 10 * pixel, y)
    ground = Geod(ellps="WGS84").inv(-1.57, latitude, lon2, lat2)[2]
    assert map_click_radius_m(latitude, zoom) == pytest.approx(max(ground, 10), rel=0.01, abs=1)


def test_a_map_click_radius_grows_as_the_map_zooms_out_and_says_what_is_wrong():
    street, town, county = (map_click_radius_m(54.77, z) for z in (17, 14, 10))
    assert street == 10 < town < 100 < 800 < county < 1_000
    with pytest.raises(ValueError, match="zoom"):
        map_click_radius_m(54.77, float("nan"))
    with pytest.raises(ValueError, match="latitude"):
        map_click_radius_m(154.77, 12)
