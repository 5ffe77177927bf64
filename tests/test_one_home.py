"""Rules that used to be written twice and drifted apart: each now has one home, and these tests pin
the behaviour a user saw go wrong while there were two copies."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from hoth_geo import aggregate, gazetteer, pipeline, schema, store


@pytest.fixture()
def sqlite_engine(tmp_path):
    engine = store.connect(f"sqlite:///{tmp_path / 'store.db'}")
    yield engine
    engine.dispose()


def _policeuk_rows(shared_data: Path, n: int) -> tuple[list[str], list[dict[str, str]]]:
    path = shared_data / "policeuk_durham" / "2018-10-durham-street.csv"
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = [r for r in reader if r["Latitude"]][:n]
        return list(reader.fieldnames or []), rows


# --- a. one police.uk landmark table ---------------------------------------------------------------


@pytest.mark.shared
def test_policeuk_hotel_crime_is_a_hotel_in_the_context_layer_and_the_gazetteer(
    shared_data, sqlite_engine, tmp_path
):
    header, rows = _policeuk_rows(shared_data, 12)
    # police.uk names landmark map points by type; other forces' files carry hotels and airports.
    for r in rows[:3]:
        r["Location"] = "On or near Hotel/Motel"
    rows[3]["Location"] = "On or near hotel/motel"  # the lookup ignores case
    rows[4]["Location"] = "On or near Airport/Airfield"
    path = tmp_path / "2018-10-west-midlands-street.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)

    summary = pipeline.import_file(sqlite_engine, path)
    assert summary.format == "policeuk" and summary.n_accepted == len(rows)
    context = store.load_context(sqlite_engine)
    hotels = aggregate.aggregate_context(context, 8, aggregate.ReportFilter(place_types=("hotel",)))
    assert int(hotels["count"].sum()) == 4
    hubs = aggregate.aggregate_context(context, 8, aggregate.ReportFilter(place_types=("transport_hub",)))
    assert int(hubs["count"].sum()) == 1

    parsed = gazetteer.parse_policeuk_location(context["location_text"].map(lambda t: f"On or near {t}"))
    by_text = dict(zip(context["location_text"], parsed["place_type"], strict=True))
    assert by_text["Hotel/Motel"] == "hotel"
    assert by_text["Airport/Airfield"] == "transport_hub"
    # The two layers agree on every row: a landmark's type, or a street for the context layer.
    agrees = parsed["place_type"].fillna("residential_street").to_numpy() == context["place_type"].to_numpy()
    assert agrees.all()


def test_every_landmark_type_maps_into_the_place_vocabulary():
    assert set(schema.POLICEUK_LANDMARK_TYPES.values()) <= set(schema.PLACE_TYPES)
    assert gazetteer.POLICEUK_LANDMARK_TYPES is schema.POLICEUK_LANDMARK_TYPES
