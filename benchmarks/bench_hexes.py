"""Throughput of the H3 helpers: vectorised cells_to_parent against a loop over h3, and
latlng_to_cells. Prints a plain-text table; run with `python benchmarks/bench_hexes.py [n]`."""

from __future__ import annotations

import sys
import time

import h3.api.basic_int as h3i
import numpy as np

from hoth_geo import hexes as hx
from hoth_geo import settings


def _best_of(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main(n: int = 1_000_000) -> None:
    rng = np.random.default_rng(0)
    # Points over County Durham's bounding box, as real reports would be.
    lat = rng.uniform(54.45, 54.95, n)
    lng = rng.uniform(-2.35, -1.2, n)
    fine = settings.FINE_H3_RES

    t_cells = _best_of(lambda: hx.latlng_to_cells(lat, lng, fine), repeat=1)
    cells = hx.latlng_to_cells(lat, lng, fine)
    as_list = cells.tolist()

    rows = [("latlng_to_cells", fine, n, t_cells)]
    for res in (6, 8, 10):
        t_vec = _best_of(lambda res=res: hx.cells_to_parent(cells, res))
        t_loop = _best_of(lambda res=res: [h3i.cell_to_parent(c, res) for c in as_list], repeat=1)
        rows.append(("cells_to_parent (numpy)", res, n, t_vec))
        rows.append(("h3.cell_to_parent loop", res, n, t_loop))

    print(f"{'operation':<26} {'res':>4} {'n':>10} {'seconds':>9} {'per second':>13}")
    for name, res, count, secs in rows:
        print(f"{name:<26} {res:>4} {count:>10,} {secs:>9.3f} {count / secs:>13,.0f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
