"""Which columns a file has (hoth_geo.intake.headers): header synonyms and format detection."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from intake_results import DATA, REPO, TODAY

from hoth_geo.intake.files import read_table
from hoth_geo.intake.headers import (
    POLICEUK_KEYS,
    detect_format,
    duplicate_mapping_warnings,
    header_key,
    map_columns,
)
from hoth_geo.intake.sharing_form import normalise_sharing_form


def test_bom_is_stripped_and_header_synonyms_map():
    frame = read_table(DATA / "bom_synonyms.csv")
    assert frame.columns[0] == "URN"
    r = normalise_sharing_form(frame, today=TODAY)
    assert r.column_map == {
        "source_ref": "URN",
        "date_observed": "Date seen",
        "time_observed": "Time",
        "agency": "Organisation",
        "agency_type": "Sector",
        "location_text": "Address",
        "place_name": "Premises",
        "place_type": "Type of place",
        "postcode": "PostCode",
        "latitude": "Lat",
        "longitude": "Lng",
        "concerns": "Category",
        "indicators": "Signs",
        "grading": "Grading",
        "narrative": "Description",
        "child_ref": "Child ID",
    }
    a, b = r.rows.iloc[0], r.rows.iloc[1]
    assert a["observed_at"] == pd.Timestamp("2025-04-03 21:30")  # '9.30pm' in its own column
    assert a["place_type"] == "hotel" and a["agency_type"] == "health"
    assert a["concerns"] == "cce|cse" and a["indicators"] == "unexplained_ae"
    assert (a["grading_source"], a["grading_information"], a["grading_handling"]) == ("1", "A", "P")
    assert b["observed_at"] == pd.Timestamp("2025-04-03 08:15") and bool(b["time_known"])
    assert b["place_type"] == "taxi" and b["agency_type"] == "taxi_licensing"
    assert (b["grading_source"], b["grading_information"], b["grading_handling"]) == ("2", "B", "C")
    assert np.isnan(b["latitude"])


@pytest.mark.parametrize(
    "header, field",
    [
        ("Postcode", "postcode"),
        ("post code", "postcode"),
        ("PostCode", "postcode"),
        ("Post_Code", "postcode"),
        ("Lat", "latitude"),
        ("Latitude", "latitude"),
        ("Lng", "longitude"),
        ("Lon", "longitude"),
        ("Long", "longitude"),
        ("X", "easting"),
        ("Grid ref easting", "easting"),
        ("Y", "northing"),
        ("Date of incident", "date_observed"),
        ("Incident date", "date_observed"),
        ("Date observed (DD/MM/YYYY)*", "date_observed"),
        ("Date seen", "date_observed"),
        ("Ref", "source_ref"),
        ("Reference", "source_ref"),
        ("Source ref", "source_ref"),
        ("URN", "source_ref"),
        ("Agency", "agency"),
        ("Reporting agency", "agency"),
        ("Organisation", "agency"),
        ("Concern", "concerns"),
        ("Concern type", "concerns"),
        ("Category", "concerns"),
        ("  SOURCE   GRADING ", "grading_source"),
        ("Handling code", "grading_handling"),
    ],
)
def test_map_columns_synonyms(header, field):
    assert map_columns([header]) == {field: header}


def test_map_columns_ignores_unknown_headers():
    assert map_columns(["Officer notes", "Date observed"]) == {"date_observed": "Date observed"}


def test_detect_format():
    police = pd.DataFrame(columns=list(read_table(REPO / "data" / "template.csv").columns))
    assert detect_format(police) == "sharing_form"
    header = "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,Crime type,Last outcome category,Context"
    assert detect_format(read_table(header.encode() + b"\n", "p.csv")) == "policeuk"


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("Date observed (DD/MM/YYYY)*", "dateobserved"),
        ("  Crime ID ", "crimeid"),
        ("Drugs & alcohol [tick]", "drugsandalcohol"),
        ("LSOA_code", "lsoacode"),
    ],
)
def test_a_header_is_matched_by_its_letters_and_digits_alone(header, key):
    assert header_key(header) == key


def test_a_second_column_meaning_the_same_field_is_named_in_a_warning():
    headers = ["Ref", "Postcode", "Post code", "Post_Code"]
    column_map = map_columns(headers)
    assert column_map["postcode"] == "Postcode"
    assert duplicate_mapping_warnings(headers, column_map) == [
        "columns 'Post code', 'Post_Code' also mean 'postcode'; used \"Postcode\" and ignored them"
    ]
    assert duplicate_mapping_warnings(["Ref", "Postcode"], map_columns(["Ref", "Postcode"])) == []


@pytest.mark.shared
def test_every_police_uk_street_file_is_detected_whatever_the_force(shared_data):
    paths = sorted(shared_data.glob("policeuk_*/*-street.csv"))
    assert len(paths) > 5 and {p.parent.name for p in paths} == {"policeuk_durham", "policeuk_neighbours"}
    for path in paths:
        header = path.open(encoding="utf-8").readline()
        assert detect_format(read_table(header.encode(), path.name)) == "policeuk", path.name
        assert POLICEUK_KEYS <= {header_key(h) for h in header.strip().split(",")}
