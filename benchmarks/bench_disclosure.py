"""Cost of the disclosure path: record keys, keyed hexagon counts and a partner hexagon table.

Run: .venv/bin/python benchmarks/bench_disclosure.py [--sizes 100000 1000000] [--repeat 3]
Prints plain-text figures (median of --repeat runs). Goals (2-core machine): the record keys of 1M
reports in < 3 s the first time after a data change and < 50 ms after that (they are cached per data
set), and the partner view of the hexagon table no more than 1 s slower than the police view at 1M
reports, so the partner map redraws on a filter change as quickly as the police map.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from hoth_geo.access import privacy
from hoth_geo.deliver.exports import shareable_hexes

GOAL_KEYS_FIRST_S = 3.0
GOAL_KEYS_CACHED_S = 0.05
GOAL_PARTNER_EXTRA_S = 1.0


def synthetic_reports(n: int, seed: int = 1) -> pd.DataFrame:
    """n analysis-frame rows scattered over County Durham, with the columns the hexagon table reads."""
    from hoth_geo.hexes import latlng_to_cells

    rng = np.random.default_rng(seed)
    lat = rng.uniform(54.45, 54.9, n)
    lon = rng.uniform(-2.2, -1.25, n)
    return pd.DataFrame(
        {
            "id": np.arange(1, n + 1, dtype=np.int64),
            "observed_at": pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 600, n), unit="D"),
            "online": rng.random(n) < 0.08,
            "h3": latlng_to_cells(lat, lon, 11),
            "place_id": pd.Categorical([None] * n),
            "place_type": pd.Categorical(rng.choice(["park", "hotel", "shop"], n)),
            "agency": pd.Categorical(["Synthetic agency"] * n),
            "agency_type": pd.Categorical(["police"] * n),
            "grading_source": pd.Categorical(["2"] * n),
            "grading_information": pd.Categorical(["B"] * n),
            "concerns_mask": rng.integers(1, 64, n),
        }
    )


def timed(fn: Callable, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault(privacy.DISCLOSURE_KEY_ENV, "benchmark key")
    partner, police = privacy.policy_for("partner"), privacy.policy_for("police")
    for n in args.sizes:
        reports = synthetic_reports(n)
        start = time.perf_counter()
        privacy.record_keys(reports)
        first = time.perf_counter() - start
        cached = timed(lambda r=reports: privacy.record_keys(r), args.repeat)
        police_s = timed(lambda r=reports: shareable_hexes(r, 8, None, police), args.repeat)
        partner_s = timed(lambda r=reports: shareable_hexes(r, 8, None, partner), args.repeat)
        print(f"{n:>9,} reports")
        print(f"  record keys, first after a data change: {first:8.2f} s   (goal < {GOAL_KEYS_FIRST_S} s)")
        print(
            f"  record keys, cached:                    {cached * 1000:8.1f} ms  (goal < {GOAL_KEYS_CACHED_S * 1000:.0f} ms)"
        )
        print(f"  hexagon table, police (exact):          {police_s:8.2f} s")
        print(
            f"  hexagon table, partner (disclosed):     {partner_s:8.2f} s   "
            f"(+{partner_s - police_s:.2f} s; goal < +{GOAL_PARTNER_EXTRA_S} s)"
        )


if __name__ == "__main__":
    main()
