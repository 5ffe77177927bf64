"""A police.uk street file -> the police context frame (hoth_geo.intake.policeuk), on the real open data
in ../shared/data and on small hand-written files.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest
from intake_results import assert_reconciles

from hoth_geo import schema
from hoth_geo.intake.files import read_table
from hoth_geo.intake.headers import detect_format
from hoth_geo.intake.ingest import ingest
from hoth_geo.intake.policeuk import POLICEUK_COLUMNS, normalise_policeuk


def _data_rows(path: Path) -> int:
    with path.open(newline="", encoding="utf-8") as fh:
        return sum(1 for _ in csv.reader(fh)) - 1


@pytest.mark.shared
def test_real_policeuk_file_is_detected_and_normalised(shared_data):
    path = shared_data / "policeuk_durham" / "2018-10-durham-street.csv"
    frame = read_table(path)
    assert detect_format(frame) == "policeuk"
    r = normalise_policeuk(frame)
    assert r.kind == "policeuk"
    assert r.n_read == _data_rows(path) == 6611
    assert_reconciles(r)
    rows = r.rows
    assert list(rows.columns) == list(POLICEUK_COLUMNS)
    for col, dtype in POLICEUK_COLUMNS.items():
        assert str(rows[col].dtype) == dtype, col
    asb = rows[rows["crime_type"] == "Anti-social behaviour"]
    assert len(asb) == (frame["Crime type"] == "Anti-social behaviour").sum() > 1000
    assert asb["crime_id"].isna().all() and (asb["concern"] == "asb").all()
    assert rows["fingerprint"].is_unique
    assert (rows["month"] == pd.Timestamp("2018-10-01")).all()
    assert rows["latitude"].between(-90, 90).all() and rows["longitude"].between(-180, 180).all()
    assert set(rows["place_type"]) <= set(schema.PLACE_TYPES)
    assert set(rows["concern"]) <= set(schema.CONCERNS)
    first = rows.iloc[0]
    assert (first["row_number"], first["location_text"], first["place_type"]) == (
        2,
        "The Copse",
        "residential_street",
    )
    supermarket = rows[rows["location_text"] == "Supermarket"]
    assert len(supermarket) > 0 and (supermarket["place_type"] == "shop").all()
    assert (rows.loc[rows["crime_type"] == "Drugs", "concern"] == "drugs_alcohol").all()
    # Re-importing the same file gives the same fingerprints (idempotent storage).
    assert normalise_policeuk(read_table(path)).rows["fingerprint"].tolist() == rows["fingerprint"].tolist()
    # The police context layer never looks like partnership reports.
    assert "observed_at" not in rows.columns and "agency" not in rows.columns


@pytest.mark.shared
def test_real_policeuk_no_location_rows_are_quarantined(shared_data):
    path = shared_data / "policeuk_durham" / "2018-11-durham-street.csv"
    r = ingest(path)
    assert r.kind == "policeuk"
    assert r.n_read == _data_rows(path)
    assert_reconciles(r)
    assert len(r.quarantine) == 9
    assert r.quarantine["reason"].str.fullmatch(r'row \d+: no coordinates \(location "No Location"\)').all()
    assert json.loads(r.quarantine["raw"].iloc[0])["Location"] == "No Location"


def test_identical_asb_rows_are_all_kept_with_distinct_repeatable_fingerprints():
    header = "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,Crime type,Last outcome category,Context\n"
    asb = ",2019-01,Durham Constabulary,Durham Constabulary,-1.572,54.776,On or near Parking Area,E01020000,County Durham 000A,Anti-social behaviour,,\n"
    crime = "abc123,2019-01,Durham Constabulary,Durham Constabulary,-1.572,54.776,On or near Nightclub,E01020000,County Durham 000A,Drugs,Under investigation,\n"
    data = (header + asb + asb + asb + crime).encode()
    r1, r2 = ingest(data, "p.csv"), ingest(data, "p.csv")
    assert len(r1.rows) == 4
    fps = r1.rows["fingerprint"].tolist()
    assert len(set(fps)) == 4 and fps == r2.rows["fingerprint"].tolist()
    assert fps[3] == "abc123"
    assert r1.rows["place_type"].tolist() == ["car_park"] * 3 + ["licensed_premises"]
    assert r1.rows["concern"].tolist() == ["asb"] * 3 + ["drugs_alcohol"]


def test_policeuk_bad_month_and_coordinates_are_quarantined():
    header = "Crime ID,Month,Falls within,Longitude,Latitude,Location,LSOA code,Crime type\n"
    data = (
        header
        + "a1,2019-13,Durham,-1.5,54.7,On or near X,E1,Drugs\n"
        + "a2,2019-01,Durham,-1.5,95,On or near X,E1,Drugs\n"
    ).encode()
    r = ingest(data, "p.csv")
    assert r.quarantine["reason"].tolist() == [
        'row 2: month "2019-13" is not a YYYY-MM month',
        "row 3: latitude 95 out of range (-90 to 90)",
    ]
