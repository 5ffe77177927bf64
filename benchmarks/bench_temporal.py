"""Emerging hot spot analysis on 10,000 real H3 cells x 24 monthly steps of synthetic Poisson counts.

Run: .venv/bin/python benchmarks/bench_temporal.py [--cells 10000] [--steps 24] [--repeat 3]
Prints plain-text timings (median of --repeat runs) for each stage: cube build from the report frame,
the neighbour graph, Gi* for all steps (one sparse product), Mann-Kendall on every cell's z series,
the classification, and the whole emerging_hotspots call; then period change and a time profile on
the same reports. Goal (2-core machine): the whole analysis in under 2 s, so a filter change in the
app can re-run it.
"""

from __future__ import annotations

import argparse
import statistics
import time

import h3.api.basic_int as h3i
import numpy as np
import pandas as pd

from hoth_geo.analysis import hotspots, temporal
from hoth_geo.hexes import cell_centres

RES = 9


def real_grid(n_cells: int) -> np.ndarray:
    """The n_cells study-area cells at RES nearest the middle of the study area (a contiguous block)."""
    grid, _ = hotspots.study_area_grid(RES)
    if grid.size < n_cells:
        raise SystemExit(f"the study area has only {grid.size} cells at res {RES}; ask for fewer")
    lat, lng = cell_centres(grid)
    d = (lat - lat.mean()) ** 2 + ((lng - lng.mean()) * np.cos(np.radians(lat.mean()))) ** 2
    return np.sort(grid[np.argsort(d)[:n_cells]])


def synthetic_reports(grid: np.ndarray, n_steps: int, seed: int = 1) -> pd.DataFrame:
    """Poisson counts per (cell, month) with a smooth spatial rate, expanded to one row per report."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(0.5, 0.8, grid.size)  # most cells quiet, a few busy
    counts = rng.poisson(rate[:, None], (grid.size, n_steps))
    starts = pd.date_range("2024-11-01", periods=n_steps, freq="MS")
    cell_idx, step_idx = np.nonzero(counts)
    reps = counts[cell_idx, step_idx]
    cell_idx, step_idx = np.repeat(cell_idx, reps), np.repeat(step_idx, reps)
    fine = np.array([h3i.cell_to_center_child(int(c), 11) for c in grid.tolist()], dtype=np.int64)
    n = cell_idx.size
    when = starts.to_numpy()[step_idx] + rng.integers(0, 28 * 24 * 60, n).astype("timedelta64[m]")
    return pd.DataFrame(
        {
            "observed_at": when,
            "time_known": rng.random(n) < 0.85,
            "time_in_words": np.zeros(n, dtype=bool),
            "date_approximate": rng.random(n) < 0.03,
            "online": np.zeros(n, dtype=bool),
            "h3": fine[cell_idx],
            "place_id": pd.Series([None] * n, dtype=object),
        }
    )


def timed(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=10_000)
    ap.add_argument("--steps", type=int, default=24)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    grid = real_grid(args.cells)
    reports = synthetic_reports(grid, args.steps)
    print(
        f"grid: {grid.size:,} res-{RES} cells; {args.steps} monthly steps; {len(reports):,} synthetic reports"
    )
    r = args.repeat

    t_cube, cube = timed(lambda: temporal.space_time_cube(reports, RES, "MS", grid_cells=grid), r)
    # The graph is cached inside hotspots after the first call, so time the first (cold) build once.
    t0 = time.perf_counter()
    graph = hotspots.neighbour_graph(cube.cells, 1)
    t_graph = time.perf_counter() - t0
    t_gi, gi = timed(lambda: temporal.gi_star_steps(cube.counts, graph), r)
    t_mk, mk = timed(lambda: temporal.mann_kendall(gi.z), r)
    t_cls, cats = timed(lambda: temporal.classify_emerging(gi.z, gi.p_fdr, mk.p, mk.s), r)
    t_all, out = timed(lambda: temporal.emerging_hotspots(reports, RES, step="MS", grid_cells=grid).table, r)
    half = pd.Timestamp("2024-11-01") + pd.DateOffset(months=args.steps // 2)
    before = ("2024-11-01", (half - pd.Timedelta(days=1)).date())
    after = (half.date(), (half + pd.DateOffset(months=args.steps // 2) - pd.Timedelta(days=1)).date())
    t_pc, pc = timed(lambda: temporal.period_change(reports, RES, before=before, after=after).table, r)
    t_prof, _ = timed(lambda: temporal.time_profile(reports), r)

    print(
        f"cube build (reports -> {cube.counts.shape[0]:,} x {cube.counts.shape[1]}): {t_cube * 1000:8.1f} ms"
    )
    print(f"neighbour graph (k=1, first build):          {t_graph * 1000:8.1f} ms")
    print(f"Gi* all steps (sparse W @ X, BH per step):   {t_gi * 1000:8.1f} ms")
    print(f"Mann-Kendall on {gi.z.shape[0]:,} z series:            {t_mk * 1000:8.1f} ms")
    print(f"classification:                             {t_cls * 1000:8.1f} ms")
    print(f"emerging_hotspots end to end (graph cached): {t_all * 1000:8.1f} ms  (goal < 2000 ms)")
    print(f"period_change ({len(pc):,} cells tested):        {t_pc * 1000:8.1f} ms")
    print(f"time_profile (7 x 24 table):                {t_prof * 1000:8.1f} ms")
    counts = pd.Series(cats).value_counts()
    print("categories: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    assert (out["category"].to_numpy() == cats).all()


if __name__ == "__main__":
    main()
