"""The planted demo patterns come out of the real import, geocoding and aggregation path."""

from __future__ import annotations

import json
from datetime import date, timedelta

import h3
import pytest

from hoth_geo import selection, settings, store
from hoth_geo.analysis import aggregate
from hoth_geo.analysis.places import place_ranking
from hoth_geo.intake import pipeline
from hoth_geo.selection import ReportFilter


@pytest.fixture(scope="module")
def truth() -> dict:
    return json.loads((settings.DEMO_DIR / "planted_truth.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    engine = store.connect(f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.sqlite'}")
    summary = pipeline.load_demo_data(engine)
    return engine, summary, store.load_reports(engine), pipeline.all_places(engine)


def test_demo_import_reconciles_and_quarantines_the_messy_rows(demo, truth):
    _engine, summary, reports, _places = demo
    assert summary.n_read == truth["n_reports"]
    assert summary.reconciles and summary.n_duplicates == 0
    messy = sum(v for k, v in truth["kinds"].items() if k.startswith("messy_"))
    assert summary.n_quarantined == messy
    assert reports["is_demo"].all()


def test_town_centre_cluster_is_the_top_hexagon(demo, truth):
    _engine, _summary, reports, _places = demo
    table = aggregate.aggregate_hexes(reports, truth["h3_resolution"])
    top = h3.int_to_str(int(table["h3"].iloc[0]))
    assert top == truth["town_centre_cluster"]["expected_top_cell_res8"]
    assert table["count"].iloc[0] > 1.5 * table["count"].iloc[1]


def test_park_appears_only_in_the_last_six_months(demo, truth):
    _engine, _summary, reports, _places = demo
    park_cell = h3.str_to_int(truth["emerging_park"]["h3_res8"])
    start = date.fromisoformat(truth["emerging_park"]["window_start"])
    before = aggregate.aggregate_hexes(reports, 8, ReportFilter(date_to=start - timedelta(days=1)))
    after = aggregate.aggregate_hexes(reports, 8, ReportFilter(date_from=start))
    n_before = before.loc[before["h3"] == park_cell, "count"].sum()
    n_after = after.loc[after["h3"] == park_cell, "count"].sum()
    assert n_after >= 150 and n_before <= 5
    assert park_cell in after["h3"].head(5).tolist()


def test_planted_hotel_tops_the_hotel_ranking(demo, truth):
    _engine, _summary, reports, places = demo
    ranked = place_ranking(reports, places, ReportFilter(concerns=("cse",)), place_types=("hotel",))
    assert ranked["place_id"].iloc[0] == truth["hotel_cse"]["hotel"]["place_id"]
    assert ranked["reports"].iloc[0] >= 3 * ranked["reports"].iloc[1]


def test_taxi_rank_concerns_are_at_night(demo, truth):
    _engine, _summary, reports, _places = demo
    rank_ids = [r["place_id"] for r in truth["taxi_ranks"]["ranks"]]
    at_ranks = reports[reports["place_id"].isin(rank_ids) & reports["time_known"]]
    hours = at_ranks["observed_at"].dt.hour
    assert len(at_ranks) > 50
    assert ((hours >= 22) | (hours < 4)).mean() > 0.9


def test_online_reports_are_counted_not_mapped(demo, truth):
    _engine, _summary, reports, _places = demo
    assert selection.online_count(reports) == truth["online"]["count"]
    assert (reports.loc[reports["online"], "h3"] == 0).all()
