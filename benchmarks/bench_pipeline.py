"""Import + geocode throughput, aggregation after a filter change, and map size/build time.

Run: .venv/bin/python benchmarks/bench_pipeline.py [--sizes 100000 1000000]
Prints plain-text figures; goals (2-core machine): import of coordinate/postcode rows > 50,000 rows/s,
aggregation after a filter change < 100 ms at 1M reports, a 10,000-hex map < 1.5 MB built in < 1.5 s.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from hoth_geo import aggregate, maps, pipeline, store
from hoth_geo.aggregate import ReportFilter
from hoth_geo.gazetteer import load_gazetteer
from hoth_geo.schema import CONCERNS, PLACE_TYPES, TEMPLATE_COLUMNS


def synthetic_form(n: int, seed: int = 1) -> bytes:
    """n sharing-form rows: half WGS84 coordinates near real postcodes, half postcode-only."""
    rng = np.random.default_rng(seed)
    gaz = load_gazetteer()
    pcs = gaz.postcodes.sample(n, replace=True, random_state=seed).reset_index(drop=True)
    coords = rng.random(n) < 0.5
    days = pd.Timestamp("2024-11-01") + pd.to_timedelta(rng.integers(0, 730, n), unit="D")
    frame = pd.DataFrame({c: "" for c in TEMPLATE_COLUMNS}, index=range(n))
    frame["Source reference"] = [f"BENCH-{i:07d}" for i in range(n)]
    frame["Date observed"] = days.strftime("%d/%m/%Y")
    frame["Time observed"] = [
        f"{h:02d}:{m:02d}" for h, m in zip(rng.integers(0, 24, n), rng.integers(0, 60, n), strict=True)
    ]
    frame["Reporting agency"] = rng.choice(
        ["Bench School (synthetic)", "Bench Youth Service", "Bench Health"], n
    )
    frame["Agency type"] = rng.choice(["school", "youth_service", "health"], n)
    frame["Place type"] = rng.choice(list(PLACE_TYPES)[:13], n)
    frame["Concerns"] = rng.choice(list(CONCERNS)[:6], n)
    lat = pcs["latitude"].to_numpy() + rng.normal(0, 0.0005, n)
    lon = pcs["longitude"].to_numpy() + rng.normal(0, 0.0008, n)
    frame.loc[coords, "Latitude"] = np.round(lat[coords], 6).astype(str)
    frame.loc[coords, "Longitude"] = np.round(lon[coords], 6).astype(str)
    frame.loc[~coords, "Postcode"] = pcs.loc[~coords, "postcode"]
    frame["Narrative"] = "Synthetic benchmark row."
    return frame.to_csv(index=False).encode("utf-8")


def bench_import(n: int, workdir: Path):
    data = synthetic_form(n)
    engine = store.connect(f"sqlite:///{workdir / f'bench_{n}.sqlite'}")
    gaz = load_gazetteer()
    t0 = time.perf_counter()
    summary = pipeline.import_file(engine, data, f"bench_{n}.csv", gazetteer=gaz, today=date(2026, 11, 1))
    elapsed = time.perf_counter() - t0
    assert summary.reconciles
    print(
        f"import+geocode+store {n:>9,} rows: {elapsed:6.2f} s  = {n / elapsed:>9,.0f} rows/s "
        f"(accepted {summary.n_accepted:,}, quarantined {summary.n_quarantined:,})"
    )
    t0 = time.perf_counter()
    reports = store.load_reports(engine)
    print(f"load analysis frame      {n:>9,} rows: {time.perf_counter() - t0:6.2f} s")
    return reports


def bench_aggregate(reports: pd.DataFrame) -> None:
    filters = [
        ReportFilter(),
        ReportFilter(concerns=("cce", "cse")),
        ReportFilter(
            date_from=date(2025, 6, 1), date_to=date(2026, 3, 31), place_types=("park", "takeaway", "hotel")
        ),
        ReportFilter(agency_types=("school",), concerns=("drugs_alcohol",)),
    ]
    for res in (8, 10):
        times = []
        for f in filters * 3:
            t0 = time.perf_counter()
            table = aggregate.aggregate_hexes(reports, res, f)
            times.append(time.perf_counter() - t0)
        print(
            f"aggregate {len(reports):>9,} reports at res {res:>2}: median {statistics.median(times) * 1000:6.1f} ms, "
            f"max {max(times) * 1000:6.1f} ms ({len(table):,} hexes for the last filter)"
        )
        t0 = time.perf_counter()
        aggregate.aggregate_hexes(reports, res, filters[1], breakdowns=False)
        print(f"   counts only: {(time.perf_counter() - t0) * 1000:6.1f} ms")


def bench_map(reports: pd.DataFrame) -> None:
    for res in (8, 9, 10):
        table = aggregate.aggregate_hexes(reports, res)
        table = table.head(10_000)
        t0 = time.perf_counter()
        m = maps.build_hex_map(table, legend_title="Reports per hexagon")
        html = m.get_root().render()
        elapsed = time.perf_counter() - t0
        print(
            f"map of {len(table):>6,} hexes (res {res}): {len(html) / 1e6:5.2f} MB HTML, built in {elapsed:5.2f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            reports = bench_import(n, Path(tmp))
            bench_aggregate(reports)
            bench_map(reports)


if __name__ == "__main__":
    main()
