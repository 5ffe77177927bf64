"""Patrol-plan time on the demo data and on synthetic analysis frames; risky-place measures alongside.

Run: .venv/bin/python benchmarks/bench_patrol.py [--sizes 100000 1000000] [--repeat 5]
Prints plain-text figures (median of --repeat runs). Goals (2-core machine): a 10-slot plan at res 9 in
< 1 s at 1M reports, so the plan can be recomputed on every filter change; place ranking and the
concentration table < 1 s at 1M reports.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from hoth_geo import store
from hoth_geo.analysis import patrol, places
from hoth_geo.hexes import latlng_to_cells
from hoth_geo.intake import pipeline
from hoth_geo.intake.gazetteer import load_gazetteer
from hoth_geo.schema import CONCERNS, INDICATORS, PLACE_TYPES, keys_to_mask

GOAL_PLAN_S = 1.0
GOAL_PLACES_S = 1.0


def synthetic_reports(n: int, place_frame: pd.DataFrame, seed: int = 1) -> pd.DataFrame:
    """n analysis-frame rows: 40 % at gazetteer places (with a few busy ones), the rest scattered round
    real postcodes; 80 % with a time of day, evenings weighted; 8 % online."""
    rng = np.random.default_rng(seed)
    gaz = load_gazetteer()
    pcs = gaz.postcodes.sample(n, replace=True, random_state=seed).reset_index(drop=True)
    lat = pcs["latitude"].to_numpy() + rng.normal(0, 0.0005, n)
    lon = pcs["longitude"].to_numpy() + rng.normal(0, 0.0008, n)
    at_place = rng.random(n) < 0.4
    # Zipf-like choice of places so some are much busier than others, as in real reporting.
    weights = 1.0 / np.arange(1, len(place_frame) + 1)
    pick = rng.choice(len(place_frame), size=n, p=weights / weights.sum())
    lat = np.where(at_place, place_frame["latitude"].to_numpy()[pick] + rng.normal(0, 0.0001, n), lat)
    lon = np.where(at_place, place_frame["longitude"].to_numpy()[pick] + rng.normal(0, 0.0001, n), lon)
    online = rng.random(n) < 0.08
    cells = latlng_to_cells(lat, lon, 11)
    cells[online] = 0
    hours = np.where(rng.random(n) < 0.5, rng.integers(17, 24, n), rng.integers(0, 24, n))
    observed = (
        pd.Timestamp("2024-11-01")
        + pd.to_timedelta(rng.integers(0, 730, n), unit="D")
        + pd.to_timedelta(hours * 60 + rng.integers(0, 60, n), unit="m")
    )
    concerns = rng.choice(list(CONCERNS)[:6], n).astype(object)
    place_ids = np.where(at_place & ~online, place_frame["place_id"].to_numpy()[pick], None)
    place_types = np.where(
        at_place, place_frame["place_type"].to_numpy()[pick], rng.choice(list(PLACE_TYPES)[:13], n)
    )
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "observed_at": observed,
            "time_known": rng.random(n) < 0.8,
            "online": online,
            "h3": cells,
            "place_id": pd.Series(place_ids, dtype=object),
            "place_type": pd.Categorical(place_types),
            "agency": pd.Categorical(rng.choice(["Bench School", "Bench Youth Service", "Bench Health"], n)),
            "agency_type": pd.Categorical(rng.choice(["school", "youth_service", "health"], n)),
            "concerns": concerns,
            "concerns_mask": keys_to_mask(concerns, CONCERNS),
            "grading_source": pd.Categorical(rng.choice(["1", "2", "3"], n)),
            "grading_information": pd.Categorical(rng.choice(list("ABCDE"), n)),
            "indicators_mask": rng.integers(0, 1 << len(INDICATORS), n),
        }
    )


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    """Median wall time over ``repeat`` runs after one warm-up, and the last result."""
    result = fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def report(label: str, n: int, reports: pd.DataFrame, place_frame: pd.DataFrame, repeat: int) -> None:
    print(f"\n{label}: {n:,} reports, {len(place_frame):,} places")
    for res in (8, 9, 10):
        s, plan = timed(lambda res=res: patrol.patrol_plan(reports, place_frame, res=res), repeat)
        print(f"  patrol_plan res={res:<2} slots=10 slot_hours=2: {s * 1000:8.1f} ms  ({len(plan)} slots)")
    s, plan = timed(lambda: patrol.patrol_plan(reports, place_frame, slots=50, slot_hours=4), repeat)
    print(f"  patrol_plan res=9  slots=50 slot_hours=4: {s * 1000:8.1f} ms  ({len(plan)} slots)")
    s, table = timed(lambda: patrol.slot_scores(reports), repeat)
    print(f"  slot_scores res=9 (all candidates):      {s * 1000:8.1f} ms  ({len(table):,} candidate slots)")
    s, _ = timed(lambda: patrol.plan_to_csv(plan), repeat)
    print(f"  plan_to_csv (50 slots):                  {s * 1000:8.1f} ms")
    s_rank, ranking = timed(lambda: places.place_ranking(reports, place_frame), repeat)
    print(f"  place_ranking:                           {s_rank * 1000:8.1f} ms  ({len(ranking):,} places)")
    s_conc, _ = timed(lambda: places.concentration_curve(reports, place_frame), repeat)
    print(f"  concentration_curve:                     {s_conc * 1000:8.1f} ms")
    s_plan, _ = timed(lambda: patrol.patrol_plan(reports, place_frame), repeat)
    ok_plan = "meets" if s_plan < GOAL_PLAN_S else "MISSES"
    ok_places = "meets" if max(s_rank, s_conc) < GOAL_PLACES_S else "MISSES"
    print(
        f"  goal: plan < {GOAL_PLAN_S:.1f} s -> {ok_plan}; place measures < {GOAL_PLACES_S:.1f} s -> {ok_places}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        engine = store.connect(f"sqlite:///{tmp}/bench.sqlite")
        t0 = time.perf_counter()
        pipeline.load_demo_data(engine)
        demo_reports = store.load_reports(engine)
        demo_places = pipeline.all_places(engine)
        print(f"demo loaded in {time.perf_counter() - t0:.1f} s")
        report("demo", len(demo_reports), demo_reports, demo_places, args.repeat)

    place_frame = load_gazetteer().places
    for n in args.sizes:
        t0 = time.perf_counter()
        frame = synthetic_reports(n, place_frame)
        print(f"\nsynthetic frame of {n:,} built in {time.perf_counter() - t0:.1f} s")
        report("synthetic", n, frame, place_frame, args.repeat)


if __name__ == "__main__":
    main()
