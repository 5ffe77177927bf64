"""Rules that used to be written twice and drifted apart: each now has one home, and these tests pin
the behaviour a user saw go wrong while there were two copies."""

from __future__ import annotations

import csv
import html
import json
from pathlib import Path

import pandas as pd
import pytest

from hoth_geo import schema, store
from hoth_geo.analysis import aggregate, places
from hoth_geo.analysis.places import place_ranking
from hoth_geo.intake import gazetteer, pipeline
from hoth_geo.schema import TEMPLATE_COLUMNS
from hoth_geo.selection import ReportFilter, filter_mask


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
    hotels = aggregate.aggregate_context(context, 8, ReportFilter(place_types=("hotel",)))
    assert int(hotels["count"].sum()) == 4
    hubs = aggregate.aggregate_context(context, 8, ReportFilter(place_types=("transport_hub",)))
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


# --- b. a matched place's type is the report's place type when the partner gave none -------------


def test_report_matched_to_a_hotel_with_no_type_given_is_under_the_hotel_filter(sqlite_engine, tmp_path):
    hotel = pd.DataFrame(
        {
            "place_id": ["test:hotel-1"],
            "name": ["Wearside Lodge Hotel (synthetic)"],
            "place_type": ["hotel"],
            "latitude": [54.7760],
            "longitude": [-1.5750],
            "locality": ["Elvet and Gilesgate"],
            "postcode_district": ["DH1"],
            "source": ["analyst"],
        }
    )
    with sqlite_engine.begin() as conn:
        store.upsert_places(conn, hotel)
    common = {"Date observed": "03/04/2025", "Concerns": "CSE", "Agency type": "school"}
    rows = [
        # The partner named the hotel but left the place type blank.
        {**common, "Source reference": "T-1", "Reporting agency": "Test School (synthetic)",
         "Place name": "Wearside Lodge Hotel (synthetic)", "Place type": ""},
        # A partner's own type is kept even where the named place is of another type.
        {**common, "Source reference": "T-2", "Reporting agency": "Test Youth (synthetic)",
         "Place name": "Wearside Lodge Hotel (synthetic)", "Place type": "car park"},
    ]  # fmt: skip
    path = tmp_path / "form.csv"
    pd.DataFrame([{c: r.get(c, "") for c in TEMPLATE_COLUMNS} for r in rows]).to_csv(path, index=False)
    summary = pipeline.import_file(sqlite_engine, path)
    assert summary.n_accepted == 2, summary

    reports = store.load_reports(sqlite_engine)
    assert (reports["place_id"] == "test:hotel-1").all()
    hotel_filter = ReportFilter(place_types=("hotel",))
    selected = reports[filter_mask(reports, hotel_filter)]
    assert len(selected) == 1
    assert set(reports["place_type"].astype(str)) == {"hotel", "car_park"}
    # The hotel's own count under the Hotel filter is the reports the filter selects.
    places = pipeline.all_places(sqlite_engine)
    ranked = place_ranking(reports, places, hotel_filter)
    assert ranked.loc[ranked["place_id"] == "test:hotel-1", "reports"].tolist() == [1]


# --- c. one place ranking, one top-places function ----------------------------------------------------


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory):
    from typer.testing import CliRunner

    from hoth_geo.cli import app

    url = f"sqlite:///{tmp_path_factory.mktemp('one_home') / 'demo.sqlite'}"
    result = CliRunner().invoke(app, ["demo", "--db", url])
    assert result.exit_code == 0, result.output
    return url


def _marked_places(page: str) -> list[tuple[str, str]]:
    """(name, count) of each place marker in a map page's data payload, in payload order."""
    start = page.index('"places":') + len('"places":')
    rows, _end = json.JSONDecoder().raw_decode(page[start:].lstrip())
    return [(html.unescape(r[3]), r[5]) for r in rows]


@pytest.fixture(scope="module")
def demo_db_with_a_deleted_place(demo_db, tmp_path_factory):
    """The demo store after the most-reported stored place was deleted: its reports stay linked to it,
    but it can no longer be placed on a map."""
    import sqlite3

    import sqlalchemy as sa

    path = tmp_path_factory.mktemp("one_home_deleted") / "demo.sqlite"
    # The backup API copies what the write-ahead log holds too (a file copy would miss it).
    with sqlite3.connect(sa.make_url(demo_db).database) as source, sqlite3.connect(path) as target:
        source.backup(target)
    url = f"sqlite:///{path}"
    engine = store.connect(url)
    ranked = places.place_ranking(store.load_reports(engine), pipeline.all_places(engine))
    stored = set(store.load_places(engine)["place_id"])
    top_stored = next(p for p in ranked["place_id"] if p in stored)
    with engine.begin() as conn:
        conn.execute(store.places.delete().where(store.places.c.place_id == top_stored))
    engine.dispose()
    return url


@pytest.mark.parametrize("deleted", [False, True], ids=["as-loaded", "place-deleted"])
@pytest.mark.parametrize(
    "selection",
    [[], ["--from", "2026-05-01", "--concern", "cse"], ["--place-type", "takeaway"]],
    ids=["all", "recent-cse", "takeaways"],
)
def test_cli_map_and_police_map_export_mark_the_same_top_places(request, tmp_path, selection, deleted):
    demo_db = request.getfixturevalue("demo_db_with_a_deleted_place" if deleted else "demo_db")
    from typer.testing import CliRunner

    from hoth_geo.cli import app

    runner = CliRunner()
    cli_map, export_map = tmp_path / "cli.html", tmp_path / "export.html"
    result = runner.invoke(app, ["map", "--res", "8", *selection, "--out", str(cli_map), "--db", demo_db])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app,
        ["export", "--kind", "map-html", "--audience", "police", "--res", "8", *selection]
        + ["--out", str(export_map), "--db", demo_db],
    )
    assert result.exit_code == 0, result.output
    marked = _marked_places(cli_map.read_text(encoding="utf-8"))
    assert len(marked) == places.TOP_PLACES_ON_MAP
    assert marked == _marked_places(export_map.read_text(encoding="utf-8"))
    # They are the places the ranking puts first, ties broken by place id.
    engine = store.connect(demo_db)
    reports, all_places = store.load_reports(engine), pipeline.all_places(engine)
    engine.dispose()
    ranked = places.with_coordinates(
        places.place_ranking(reports, all_places, _filter(selection)), all_places
    )
    assert [name for name, _n in marked] == ranked["name"].head(places.TOP_PLACES_ON_MAP).tolist()


def _filter(selection: list[str]) -> ReportFilter:
    from datetime import date

    opts = dict(zip(selection[::2], selection[1::2], strict=True))
    return ReportFilter(
        date_from=date.fromisoformat(opts["--from"]) if "--from" in opts else None,
        concerns=(opts["--concern"],) if "--concern" in opts else (),
        place_types=(opts["--place-type"],) if "--place-type" in opts else (),
    )


# --- e. one error hierarchy (the classes themselves: tests/test_errors.py) ---------------------------------


def test_conditions_of_the_data_and_of_what_a_person_gave_are_told_apart(tmp_path):
    from datetime import date

    from hoth_geo import errors
    from hoth_geo.access import privacy
    from hoth_geo.analysis import hotspots, temporal
    from hoth_geo.deliver.export_prep import disclosed_too_few

    reports = _synthetic_reports(40)
    nothing = ReportFilter(concerns=("radicalisation",))
    with pytest.raises(errors.DataConditionError, match="no located report matches"):
        temporal.emerging_hotspots(reports, 8, filters=nothing)
    with pytest.raises(errors.InvalidInput, match="overlap"):
        temporal.period_change(
            reports,
            8,
            before=(date(2025, 1, 1), date(2025, 3, 31)),
            after=(date(2025, 3, 1), date(2025, 5, 31)),
        )
    with pytest.raises(errors.InvalidInput, match="boundary file"):
        hotspots.read_boundary(tmp_path / "missing.geojson")
    with pytest.raises(errors.InvalidInput, match="reason must say why"):
        privacy.NamedPlacesRelease(reason="x", released_by="analyst1", role="analyst")
    with pytest.raises(errors.InvalidInput, match="marking"):
        privacy.policy_for("partner", marking=" ")
    policy = privacy.policy_for("partner")
    told = disclosed_too_few(errors.TooFewReports(3, 30), reports, None, policy)
    assert isinstance(told, errors.DataConditionError)
    assert str(told).startswith("hotspot analysis needs at least 30 located reports")
    # An argument error from a programming mistake stays a plain ValueError, not a message.
    with pytest.raises(ValueError) as raised:
        temporal.emerging_hotspots(reports, 99)
    assert not isinstance(raised.value, errors.HothGeoError)


def _synthetic_reports(n: int) -> pd.DataFrame:
    """An analysis frame (as ``store.load_reports``) of n synthetic located reports near Durham."""
    import numpy as np

    from hoth_geo import hexes, settings
    from hoth_geo.schema import CONCERNS, keys_to_mask

    rng = np.random.default_rng(5)
    lat = 54.776 + rng.normal(0, 0.01, n)
    lng = -1.575 + rng.normal(0, 0.01, n)
    return pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "observed_at": pd.to_datetime("2025-01-01") + pd.to_timedelta(rng.integers(0, 150, n), unit="D"),
            "time_known": np.ones(n, dtype=bool),
            "date_approximate": np.zeros(n, dtype=bool),
            "online": np.zeros(n, dtype=bool),
            "latitude": lat,
            "longitude": lng,
            "h3": hexes.latlng_to_cells(lat, lng, settings.FINE_H3_RES),
            "concerns_mask": keys_to_mask(["cce"] * n, CONCERNS),
            "indicators_mask": np.zeros(n, dtype=np.int64),
            "place_id": pd.Categorical([None] * n),
            "place_type": pd.Categorical(["park"] * n),
            "agency": pd.Categorical(["Test School (synthetic)"] * n),
            "agency_type": pd.Categorical(["school"] * n),
            "geocode_method": pd.Categorical(["coordinates_wgs84"] * n),
            "grading_source": pd.Categorical(["2"] * n),
            "grading_information": pd.Categorical(["B"] * n),
        }
    )


# --- f. one validation home (settings read only in settings: tests/test_settings.py) ----------------------


def test_a_time_zone_aware_date_is_its_own_calendar_day_for_every_window():
    import numpy as np

    from hoth_geo import validation
    from hoth_geo.analysis import patrol

    late_evening = pd.Timestamp("2025-03-03 23:30", tz="Europe/London")
    early_morning = pd.Timestamp("2025-06-03 00:30", tz="Europe/London")  # 23:30 UTC the day before
    assert validation.as_day(late_evening, "start") == pd.Timestamp("2025-03-03")
    assert validation.as_day(early_morning, "start") == pd.Timestamp("2025-06-03")
    # The patrol window and the time analysis read a day the same way (they used to differ by the
    # UTC offset for a time-zone-aware date).
    lo, hi = patrol.window_bounds((early_morning, early_morning))
    assert lo == np.datetime64("2025-06-03T00:00", "ns") and hi == np.datetime64("2025-06-04T00:00", "ns")
    with pytest.raises(ValueError, match="start must be a date"):
        validation.as_day("not a day", "start")


def test_grid_and_frame_checks_name_what_is_wrong():
    import numpy as np

    from hoth_geo import hexes, validation

    cell8 = hexes.latlng_to_cell(54.7761, -1.5733, 8)
    cell9 = hexes.latlng_to_cell(54.7761, -1.5733, 9)
    grid, res = validation.check_grid(np.array([cell8, cell8]))
    assert grid.tolist() == [cell8] and res == 8
    with pytest.raises(ValueError, match="grid_cells must all be at res=8, got a cell at resolution 9"):
        validation.check_grid(np.array([cell8, cell9]), 8)
    with pytest.raises(ValueError, match="must hold cells of one resolution"):
        validation.check_grid(np.array([cell8, cell9]))
    with pytest.raises(ValueError, match="must not contain 0"):
        validation.check_grid(np.array([0, cell8]))
    reports = _synthetic_reports(3)
    with pytest.raises(ValueError, match=r"places is missing column 'locality' \(expected the pipeline"):
        places.place_ranking(reports, pd.DataFrame({"place_id": [], "name": [], "place_type": []}))
    with pytest.raises(ValueError, match="reports must be the store.load_reports frame, got list"):
        validation.check_frames([], report_columns=("h3",))


# --- g. one KDE grid for the command line and the Hotspots page -------------------------------------------


def test_cli_kde_smooths_over_the_same_grid_as_the_page(demo_db, tmp_path):
    from shapely.geometry import box, mapping
    from typer.testing import CliRunner

    from hoth_geo import hexes
    from hoth_geo.analysis import hotspots
    from hoth_geo.cli import app

    durham_city = box(-1.62, 54.74, -1.52, 54.80)
    boundary = tmp_path / "durham-city.geojson"
    boundary.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [{"type": "Feature", "properties": {}, "geometry": mapping(durham_city)}],
            }
        ),
        encoding="utf-8",
    )
    out = tmp_path / "kde.csv"
    result = CliRunner().invoke(
        app,
        [
            "hotspots",
            "--method",
            "kde",
            "--res",
            "8",
            "--boundary",
            str(boundary),
            "--out",
            str(out),
            "--db",
            demo_db,
        ],
    )
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out)
    engine = store.connect(demo_db)
    reports = store.load_reports(engine)
    engine.dispose()
    # A --boundary run is about that area: the command line analyses the reports inside it.
    from hoth_geo.intake.area import inside_area

    has_point = reports["latitude"].notna().to_numpy()
    inside = inside_area(
        durham_city, reports["latitude"].to_numpy(float), reports["longitude"].to_numpy(float)
    )
    reports = reports[inside | ~has_point].reset_index(drop=True)
    counts, grid, _ = hotspots.count_grid(reports, 8, ReportFilter(), area=durham_city)
    expected = hotspots.kernel_density(counts, grid).table
    assert sorted(written["h3"]) == sorted(hexes.cells_to_str(grid))
    by_cell = dict(zip(hexes.cells_to_str(expected["h3"]), expected["density"], strict=True))
    assert written["density"].to_numpy() == pytest.approx([by_cell[c] for c in written["h3"]])
