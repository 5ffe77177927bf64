"""Gi* + FDR and kernel density timings on a real ~50,000-cell grid.

Run: .venv/bin/python benchmarks/bench_hotspots.py [--buffer-km 8] [--repeats 5] [--permutations 99]
The grid is County Durham + Darlington at H3 res 9 grown by a buffer (about 50,000 cells at 8 km).
Goal (2-core machine): Gi* + FDR < 200 ms in total, building the neighbour graph included.
Prints plain-text figures; esda's G_Local (analytical only, permutations=0) is timed on the same
data and weights for comparison.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd

from hoth_geo.analysis import hotspots as hs
from hoth_geo.hexes import polygon_to_cells
from hoth_geo.intake.gazetteer import load_study_area


def timed(fn, repeats: int) -> tuple[float, object]:
    """Median wall time in ms over ``repeats`` calls, and the last result."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), out


def bench_grid(buffer_km: float) -> np.ndarray:
    area = gpd.GeoSeries([load_study_area()], crs="EPSG:4326").to_crs("EPSG:27700")
    grown = area.buffer(buffer_km * 1000).to_crs("EPSG:4326").iloc[0]
    return polygon_to_cells(grown, 9)


def synthetic_counts(grid: np.ndarray, seed: int = 1) -> pd.DataFrame:
    """Reports on ~8 % of cells with a few planted clusters: sparse like real data."""
    rng = np.random.default_rng(seed)
    x = np.where(rng.random(len(grid)) < 0.08, rng.poisson(2.0, len(grid)), 0)
    for centre in rng.choice(len(grid), 20, replace=False):
        x[centre : centre + 30] += rng.poisson(6, 30)
    nz = x > 0
    return pd.DataFrame({"h3": grid[nz], "count": x[nz]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buffer-km", type=float, default=8.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--permutations", type=int, default=99)
    args = parser.parse_args()

    grid = bench_grid(args.buffer_km)
    counts = synthetic_counts(grid)
    print(
        f"grid: {len(grid):,} cells at res 9; {int(counts['count'].sum()):,} reports in {len(counts):,} cells"
    )

    # Phases one by one. The graph cache is cleared before each cold build.
    def cold_graph():
        hs._GRAPH_CACHE.clear()
        return hs.neighbour_graph(grid, 1)

    t_graph, graph = timed(cold_graph, args.repeats)
    t_graph_disk, _ = timed(lambda: hs._graph_from_disks(grid, 1), max(1, args.repeats // 2))
    t_graph_hit, _ = timed(lambda: hs.neighbour_graph(grid, 1), args.repeats)
    x = hs._counts_on_grid(counts, grid, 9)
    t_stat, z = timed(lambda: hs._gi_star_z(graph, x), args.repeats)
    p = 2 * hs.ndtr(-np.abs(z))
    t_fdr, p_fdr = timed(lambda: hs.benjamini_hochberg(p), args.repeats)
    t_class, _ = timed(lambda: hs._classify(z, p_fdr), args.repeats)

    def cold_total():
        hs._GRAPH_CACHE.clear()
        return hs.gi_star(counts, grid).table

    t_total_cold, out = timed(cold_total, args.repeats)
    t_total_warm, _ = timed(lambda: hs.gi_star(counts, grid), args.repeats)

    print("Gi* + FDR (median of", args.repeats, "runs, ms)")
    print(f"  neighbour graph, local IJ (cold)   {t_graph:8.1f}")
    print(f"  neighbour graph, grid_disk loop    {t_graph_disk:8.1f}   (reference method, not used)")
    print(f"  neighbour graph, cache hit         {t_graph_hit:8.1f}")
    print(f"  statistic (z, sparse mat-vec)      {t_stat:8.1f}")
    print(f"  FDR (Benjamini-Hochberg)           {t_fdr:8.1f}")
    print(f"  classes                            {t_class:8.1f}")
    print(f"  gi_star total, graph cold          {t_total_cold:8.1f}   goal < 200")
    print(f"  gi_star total, graph cached        {t_total_warm:8.1f}")
    print(f"  classes: {out['class'].value_counts().to_dict()}")

    import esda
    import libpysal

    neighbours = {
        i: [int(j) for j in graph.indices[graph.indptr[i] : graph.indptr[i + 1]] if j != i]
        for i in range(len(grid))
    }
    t0 = time.perf_counter()
    w = libpysal.weights.W(neighbours, silence_warnings=True)
    t_w = (time.perf_counter() - t0) * 1000

    def run_esda():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return esda.G_Local(x, w, transform="B", star=True, permutations=0)

    t_esda, ref = timed(run_esda, max(1, args.repeats // 2))
    print("esda G_Local(star=True, transform='B', permutations=0) on the same weights (ms)")
    print(f"  libpysal W from the neighbour dict {t_w:8.1f}   (once)")
    print(f"  G_Local statistic                  {t_esda:8.1f}")
    print(f"  max |z - esda Zs|                  {np.abs(ref.Zs - out['z'].to_numpy()).max():.2e}")

    if args.permutations:
        t_perm, _ = timed(lambda: hs.gi_star(counts, grid, permutations=args.permutations, seed=0), 1)
        print(f"permutation p-values, {args.permutations} permutations (ms)   {t_perm:8.1f}")

    hs_counts = counts
    t_bw, bw = timed(lambda: hs.default_bandwidth_m(hs_counts), args.repeats)
    t_kde, dens = timed(lambda: hs.kernel_density(hs_counts, grid, bandwidth_m=bw).table, args.repeats)
    t_kde2, _ = timed(lambda: hs.kernel_density(hs_counts, grid, bandwidth_m=2 * bw), args.repeats)
    print("kernel density (median, ms)")
    print(f"  default bandwidth ({bw:,.0f} m)        {t_bw:8.1f}")
    print(f"  KDE at default bandwidth           {t_kde:8.1f}")
    print(f"  KDE at twice the bandwidth         {t_kde2:8.1f}")
    print(f"  cells with density > 0             {(dens['density'] > 0).sum():,}")


if __name__ == "__main__":
    main()
