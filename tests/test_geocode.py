"""The geocoding cascade on the shipped County Durham gazetteer."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pytest
from factories import canonical_rows
from pyproj import Transformer

from hoth_geo import settings
from hoth_geo.gazetteer import load_gazetteer
from hoth_geo.geocode import geocode, grid_precision_m, link_to_places

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
    assert reason.startswith("row 2:") and "51.50720" in reason and "outside the study area" in reason


def test_bng_easting_northing_is_converted_with_pyproj(gaz):
    result = geocode(canonical_rows([{"easting": 430316.0, "northing": 543630.0}]), gaz)
    row = _one(result, 2)
    lon, lat = Transformer.from_crs(27700, 4326, always_xy=True).transform(430316.0, 543630.0)
    assert row["geocode_method"] == "coordinates_bng"
    assert row["latitude"] == pytest.approx(lat, abs=1e-9) and row["longitude"] == pytest.approx(
        lon, abs=1e-9
    )
    assert row["latitude"] == pytest.approx(DH1_1AB[0], abs=1e-5)


def test_grid_precision_follows_trailing_zeros():
    assert list(
        grid_precision_m(
            np.array([430316, 430310, 430300, 431000]), np.array([543637, 543630, 543600, 544000])
        )
    ) == [
        10.0,
        10.0,
        100.0,
        1000.0,
    ]


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
        "row 5: postcode sector 'DH1 7' is not in the study area: check the postcode, or locate the report"
        " in Review"
    )
    # Not placed at the DH1 1 sector centroid: an unknown unit lies outside the area (or is mistyped).
    assert q.loc[6, "reason"].startswith("row 6: postcode 'DH1 1ZZ' is not a postcode in the study area")
    assert q.loc[6, "field"] == "postcode" and q.loc[6, "value"] == "DH1 1ZZ"


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
