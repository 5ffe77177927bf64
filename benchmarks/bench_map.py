"""Size and build time of hexagon maps around County Durham (54.7, -1.6).

For 1k, 10k and 50k hexagons: time to build the folium map, time to render the standalone
HTML, and its size; and, for comparison, a plain folium.GeoJson layer of the same hexagons with a
style_function (skip with --no-baseline). Run with `python benchmarks/bench_map.py`.
"""

from __future__ import annotations

import sys
import time

import folium
import h3.api.basic_int as h3i
import numpy as np
import pandas as pd

from hoth_geo import hexes as hx
from hoth_geo.deliver import maps

CENTRE = (54.7, -1.6)
RES = 9  # ~0.1 km² hexagons: 50k of them cover about 5,000 km²


def hexes_around(n: int, res: int = RES, seed: int = 0) -> pd.DataFrame:
    centre = h3i.latlng_to_cell(*CENTRE, res)
    k = 1
    while 3 * k * (k + 1) + 1 < n:
        k += 1
    cells = np.array(sorted(h3i.grid_disk(centre, k)), dtype=np.int64)[:n]
    rng = np.random.default_rng(seed)
    kinds = np.array(["Park / open space", "Hotel / B&B", "Takeaway / fast food", "Taxi rank / taxi office"])
    return pd.DataFrame(
        {
            "h3": cells,
            "count": rng.negative_binomial(1, 0.3, n) + 1,
            "top_place_type": kinds[rng.integers(0, len(kinds), n)],
        }
    )


def places_around(n: int = 25, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "name": [f"Place {i}" for i in range(n)],
            "place_type": rng.choice(["park", "hotel", "takeaway", "taxi"], n),
            "latitude": CENTRE[0] + rng.normal(0, 0.05, n),
            "longitude": CENTRE[1] + rng.normal(0, 0.08, n),
            "count": rng.integers(1, 60, n),
        }
    )


def geojson_baseline(df: pd.DataFrame) -> tuple[float, int]:
    t = time.perf_counter()
    gdf = hx.hex_frame(df["h3"].to_numpy(), count=df["count"].to_numpy())
    m = folium.Map(location=CENTRE, zoom_start=10, tiles=None, prefer_canvas=True)
    _, classes = maps.classify(df["count"])
    upper = classes.upper

    def style(feature):
        i = int(np.searchsorted(upper, feature["properties"]["count"]))
        return {"fillColor": classes.colors[i], "color": "#666", "weight": 0.5, "fillOpacity": 0.7}

    folium.GeoJson(gdf, style_function=style, tooltip=folium.GeoJsonTooltip(["count"])).add_to(m)
    html = m.get_root().render()
    return time.perf_counter() - t, len(html.encode("utf-8"))


def main(baseline: bool = True) -> None:
    places = places_around()
    print(f"hexagons at H3 res {RES} around {CENTRE}; 25 place markers; best of 3 runs")
    header = f"{'hexes':>7} {'build s':>8} {'html s':>8} {'total s':>8} {'HTML MB':>8} {'bytes/hex':>10}"
    if baseline:
        header += f" {'GeoJson s':>10} {'GeoJson MB':>11}"
    print(header)
    for n in (1_000, 10_000, 50_000):
        df = hexes_around(n)
        best = (float("inf"), float("inf"), 0)
        for _ in range(3):
            t0 = time.perf_counter()
            m = maps.build_hex_map(
                df, tooltip_cols={"top_place_type": "Most reported place type"}, places=places
            )
            t1 = time.perf_counter()
            page = maps.standalone_html(m)
            t2 = time.perf_counter()
            if t2 - t0 < best[0] + best[1]:
                best = (t1 - t0, t2 - t1, len(page.encode("utf-8")))
        build, render, size = best
        line = (
            f"{n:>7,} {build:>8.3f} {render:>8.3f} {build + render:>8.3f} "
            f"{size / 1e6:>8.2f} {size / n:>10.0f}"
        )
        if baseline and n <= 10_000:
            secs, gj_size = geojson_baseline(df)
            line += f" {secs:>10.2f} {gj_size / 1e6:>11.2f}"
        print(line)


if __name__ == "__main__":
    main(baseline="--no-baseline" not in sys.argv[1:])
