"""Hexagon maps: classes, compact encoding, escaping, offline assets, and drawing in Chromium."""

from __future__ import annotations

import itertools
import re

import branca.colormap
import folium
import folium.plugins
import h3.api.basic_int as h3i
import numpy as np
import pandas as pd
import pytest

from hoth_geo import hexes as hx
from hoth_geo import selection, settings
from hoth_geo.analysis import aggregate
from hoth_geo.deliver import maps

HOSTILE_IMG = "<img src=x onerror=alert(1)>"
HOSTILE_SCRIPT = "</script><script>alert(1)</script>"


def _hexes(n: int, res: int = 9, seed: int = 1) -> pd.DataFrame:
    centre = h3i.latlng_to_cell(54.7, -1.6, res)
    k = 1
    while 3 * k * (k + 1) + 1 < n:
        k += 1
    cells = np.array(sorted(h3i.grid_disk(centre, k)), dtype=np.int64)[:n]
    rng = np.random.default_rng(seed)
    counts = rng.negative_binomial(1, 0.3, n) + 1
    return pd.DataFrame({"h3": cells, "count": counts, "top_place": ["Park"] * n})


def _places() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": [HOSTILE_IMG, HOSTILE_SCRIPT, "Market Place"],
            "place_type": ["hotel", "takeaway", "park"],
            "latitude": [54.70, 54.71, 54.69],
            "longitude": [-1.60, -1.59, -1.61],
            "count": [30, 12, 4],
        }
    )


# --- classes -------------------------------------------------------------------------------------


def _ssd(groups) -> float:
    return sum(float(((g - g.mean()) ** 2).sum()) for g in groups if len(g))


def test_classify_finds_the_optimal_natural_breaks():
    rng = np.random.default_rng(4)
    values = np.sort(rng.choice([1, 2, 3, 5, 8, 9, 14, 20, 21, 40, 41, 90], size=200))
    idx, classes = maps.classify(values, k=4, method="jenks")
    got = _ssd([values[idx == c] for c in range(4)])
    uniq = np.unique(values)
    best = min(
        _ssd(np.split(values, np.searchsorted(values, [uniq[a], uniq[b], uniq[c]], side="left")))
        for a, b, c in itertools.combinations(range(1, len(uniq)), 3)
    )
    assert got == pytest.approx(best)
    assert len(classes.upper) == 4 and list(classes.upper) == sorted(classes.upper)


def test_classify_assigns_every_value_inside_its_class_range():
    rng = np.random.default_rng(5)
    values = rng.lognormal(1, 1.2, 5_000)  # many distinct values: exercises the grouping path
    idx, classes = maps.classify(values)
    assert len(classes.upper) == 5
    assert sum(classes.counts) == len(values)
    for c in range(5):
        in_class = values[idx == c]
        assert in_class.min() == classes.lower[c] and in_class.max() == classes.upper[c]
    assert classes.colors == maps.PALETTE


def test_classify_with_few_distinct_values_gives_one_class_each():
    idx, classes = maps.classify([1, 1, 1, 2, 2, 7])
    assert classes.labels == ("1", "2", "7")
    assert classes.counts == (3, 2, 1)
    assert idx.tolist() == [0, 0, 0, 1, 1, 2]
    assert len(set(classes.colors)) == 3


def test_classify_labels_integer_ranges():
    values = np.array([1] * 50 + [2] * 20 + [3, 4, 5] * 5 + [9, 10, 12, 30, 31, 33])
    _, classes = maps.classify(values, method="jenks")
    assert classes.labels[0] == "1"
    assert all(re.fullmatch(r"\d+(–\d+)?", lab) for lab in classes.labels)
    assert classes.labels[-1].endswith("33")


def _skewed_counts(seed: int = 3) -> np.ndarray:
    """Counts shaped like a real hexagon map: most hexagons with a report or two, a heavy tail."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.geometric(0.45, 800), rng.integers(20, 60, 30), [120, 190, 250, 501]])


def test_head_tail_breaks_split_at_the_mean_of_the_head_each_time():
    values = _skewed_counts()
    idx, classes = maps.classify(values)
    # Reference: each break is the mean of the values above the previous break.
    expected, part = [], values.astype(float)
    while len(expected) < 4:
        head = part[part > part.mean()]
        if not len(head) or len(head) / len(part) > 0.4:
            break
        expected.append(part.mean())
        part = head
    assert len(classes.upper) == len(expected) + 1
    for c, brk in enumerate(expected):
        assert values[idx == c].max() <= brk < values[idx == c + 1].min()
    # The hottest hexagons get classes of their own instead of sharing one with hundreds.
    assert classes.counts[-1] <= 4
    assert classes.counts[0] > 0.5 * len(values)
    assert classes.labels[-1].endswith("501")


def test_head_tail_breaks_fall_back_to_natural_breaks_without_a_heavy_tail():
    values = np.arange(1, 101)  # uniform: half the values lie above the mean
    _, headtail = maps.classify(values)
    _, jenks = maps.classify(values, method="jenks")
    assert headtail == jenks


def test_classify_rejects_bad_arguments():
    with pytest.raises(ValueError, match="k must be"):
        maps.classify([1, 2], k=0)
    with pytest.raises(ValueError, match="k must be"):
        maps.classify([1, 2], k=6)
    with pytest.raises(ValueError, match="values must be finite"):
        maps.classify([1, np.nan])
    with pytest.raises(ValueError, match="palette colours"):
        maps.classify([1, 2], palette=("red", "#ffffff"))
    with pytest.raises(ValueError, match="method"):
        maps.classify([1, 2], method="quantiles")


# --- building and encoding -----------------------------------------------------------------------


def _decode_rings(html: str) -> list[list[list[tuple[float, float]]]]:
    """Decode the rings payload the way the browser script does."""
    match = re.search(r'\{"rings":(\[\[.*?\]\])', html)
    assert match, "no rings payload in the HTML"
    import json

    out = []
    for arr in json.loads(match.group(1)):
        rings, lat, lng, i = [], 0, 0, 0
        while i < len(arr):
            n = arr[i]
            i += 1
            ring = []
            for _ in range(n):
                lat += arr[i]
                lng += arr[i + 1]
                i += 2
                ring.append((lat / maps.COORD_SCALE, lng / maps.COORD_SCALE))
            rings.append(ring)
        out.append(rings)
    return out


def test_compact_geometry_decodes_to_the_h3_boundaries():
    df = _hexes(300)
    html = maps.standalone_html(maps.build_hex_map(df))
    idx, classes = maps.classify(df["count"])
    decoded = _decode_rings(html)
    assert [len(r) for r in decoded] == list(classes.counts)
    # Hexagons are sent by class, then cell id: rebuild that order and compare every vertex.
    order = np.lexsort((df["h3"].to_numpy(), idx))
    flat = [ring for rings in decoded for ring in rings]
    for ring, cell in zip(flat, df["h3"].to_numpy()[order], strict=True):
        expected = np.array(h3i.cell_to_boundary(int(cell)))
        assert np.abs(np.array(ring) - expected).max() <= 0.5 / maps.COORD_SCALE + 1e-12


def test_standalone_html_has_no_external_urls():
    html = maps.standalone_html(maps.build_hex_map(_hexes(500), places=_places()))
    assert not re.search(r"<script[^>]*\bsrc=", html, flags=re.I)
    assert not re.search(r"<link[^>]*\bhref=", html, flags=re.I)
    # Outside the vendored Leaflet source (whose only URLs are its home page, which the map's
    # attribution does not use, and the SVG namespace) and CSS comments, there is no URL at all.
    leaflet_js = (settings.STATIC_DIR / "leaflet" / "leaflet.js").read_text(encoding="utf-8")
    assert leaflet_js in html
    rest = re.sub(r"/\*.*?\*/", "", html.replace(leaflet_js, ""), flags=re.S)
    assert re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", rest, flags=re.I) == []
    text = re.sub(r"data:[a-z/]+;base64,[A-Za-z0-9+/=]+", "", rest).lower()
    for name in ("cdn", "jquery", "bootstrap", "font-awesome", "fontawesome", "awesome-markers"):
        assert name not in text, name
    # Leaflet is inline, its CSS images embedded.
    assert "url(images/" not in html and "data:image/png;base64," in html


def test_hostile_text_only_appears_escaped():
    df = _hexes(200)
    df["top_place"] = [HOSTILE_IMG, HOSTILE_SCRIPT] * 100  # few distinct values: sent as a lookup
    df["note"] = [f"{HOSTILE_SCRIPT}{HOSTILE_IMG} {i}" for i in range(200)]  # all distinct: one per hex
    m = maps.build_hex_map(
        df,
        tooltip_cols={"top_place": HOSTILE_SCRIPT, "note": "Note"},
        places=_places(),
        legend_title=HOSTILE_IMG,
    )
    html = maps.standalone_html(m)
    assert HOSTILE_IMG not in html and HOSTILE_SCRIPT not in html
    assert "<img" not in html.lower()
    assert "alert(1)</script>" not in html
    # Same number of <script> elements as a map without hostile text: nothing broke out.
    benign = maps.standalone_html(maps.build_hex_map(_hexes(200), tooltip_cols=["top_place"]))
    assert html.count("<script") == benign.count("<script")
    # The escaped form is there, so the text is shown, not dropped.
    assert "\\u0026lt;img src=x onerror=alert(1)\\u0026gt;" in html
    assert "\\u0026lt;/script\\u0026gt;\\u0026lt;script\\u0026gt;" in html


# Template syntax in a street, place or location name: evaluated on the server if the page's render ran
# it (its value, 49, or the process's environment would reach the browser); malformed, it broke the page.
JINJA_EVAL = "{{ 7*7 }} Street"
JINJA_BROKEN = "Mill Lane {% if %}"


def test_template_syntax_in_the_data_is_shown_as_text_never_run():
    from streamlit_folium import _get_header, _get_html, _get_map_string

    df = _hexes(40)
    df["where"] = [JINJA_EVAL, JINJA_BROKEN] * 20
    places = _places().assign(name=[JINJA_EVAL, JINJA_BROKEN, "{{ config }}"])
    m = maps.build_hex_map(df, tooltip_cols={"where": "Where"}, places=places)
    html = maps.standalone_html(m)
    assert "{{ 7*7 }} Street" in html and "Mill Lane {% if %}" in html and "{{ config }}" in html
    assert "49 Street" not in html
    # The app's path (st_folium renders the page, then reads its parts) shows the same text.
    served = maps.prepare_for_streamlit(m)
    served.get_root().render()
    served.render()
    parts = _get_html(served) + _get_header(served) + _get_map_string(served)
    assert "{{ 7*7 }} Street" in parts and "49 Street" not in parts


def test_template_syntax_in_a_tile_files_attribution_is_shown_as_text_never_run(tmp_path):
    import sqlite3

    from streamlit_folium import _get_header, _get_html, _get_map_string
    from tiles import make_mbtiles

    from hoth_geo.deliver import basemap as basemaps

    # A tile file's own metadata names its credit; the file comes from outside the system.
    path = make_mbtiles(tmp_path / "area.mbtiles", (54.5, -1.9, 54.9, -1.4), range(8, 10))
    with sqlite3.connect(path) as con:
        con.execute(
            "UPDATE metadata SET value = ? WHERE name = 'attribution'",
            (f"Tiles {JINJA_EVAL} {JINJA_BROKEN}",),
        )
    basemap = basemaps.from_tile_file(path)
    for m in (maps.location_map(54.77, -1.57, 14, basemap=basemap), maps.build_hex_map(_hexes(20))):
        served = maps.prepare_for_streamlit(m, basemap=basemap)
        served.get_root().render()
        served.render()
        parts = _get_html(served) + _get_header(served) + _get_map_string(served)
        assert f"Tiles {JINJA_EVAL} {JINJA_BROKEN}" in parts and "49 Street" not in parts
        assert re.search(r"tile_layer_\w+\.addTo\(map_\w+\)", parts)  # the base map is still drawn


def test_ten_thousand_hexes_fit_in_one_and_a_half_megabytes():
    df = _hexes(10_000)
    html = maps.standalone_html(
        maps.build_hex_map(df, tooltip_cols={"top_place": "Top place"}, places=_places())
    )
    assert len(html.encode("utf-8")) < 1_500_000


def test_legend_lists_every_class_with_its_range_and_colour():
    df = _hexes(2_000)
    _, classes = maps.classify(df["count"])
    html = maps.standalone_html(maps.build_hex_map(df, legend_title="Reports per hexagon"))
    payload = re.search(r'"classes":(\[.*?\])', html).group(1)
    import json

    listed = json.loads(payload)
    assert [c["label"] for c in listed] == list(classes.labels)
    assert [c["color"] for c in listed] == list(classes.colors)
    assert [c["n"] for c in listed] == list(classes.counts)
    assert "Reports per hexagon" in html
    assert "hoth-legend" in html


def test_build_hex_map_fits_the_data_and_drops_cdn_assets():
    m = maps.build_hex_map(_hexes(100))
    (south, west), (north, east) = m.get_bounds()
    assert south < 54.7 < north and west < -1.6 < east
    assert [name for name, _ in m.default_js] == ["leaflet"]
    assert all(url.startswith("data:") for _, url in m.default_js + m.default_css)
    assert m.options["prefer_canvas"] is True
    assert not any(isinstance(ch, folium.TileLayer) for ch in m._children.values())


def test_build_hex_map_handles_no_data():
    empty = pd.DataFrame({"h3": pd.Series(dtype=np.int64), "count": pd.Series(dtype=np.int64)})
    html = maps.standalone_html(maps.build_hex_map(empty))
    assert "No reports to show" in html


def test_build_hex_map_names_bad_arguments():
    df = _hexes(10)
    with pytest.raises(ValueError, match="no column 'reports'"):
        maps.build_hex_map(df, value_col="reports")
    with pytest.raises(ValueError, match="value_col 'top_place' must be numeric"):
        maps.build_hex_map(df, value_col="top_place")
    with pytest.raises(ValueError, match="value_col 'count' has missing"):
        maps.build_hex_map(df.assign(count=np.where(np.arange(10) == 3, np.nan, 1.0)))
    with pytest.raises(ValueError, match="must be unique"):
        maps.build_hex_map(pd.concat([df, df.head(1)]))
    with pytest.raises(ValueError, match="contains 0"):
        maps.build_hex_map(pd.concat([df, pd.DataFrame({"h3": [0], "count": [1], "top_place": ["x"]})]))
    with pytest.raises(ValueError, match="tiles_attribution"):
        maps.build_hex_map(df, tiles="http://tiles.example/{z}/{x}/{y}.png")
    with pytest.raises(ValueError, match="places is missing column"):
        maps.build_hex_map(df, places=pd.DataFrame({"name": ["a"]}))


def test_configured_tiles_are_added():
    m = maps.build_hex_map(_hexes(10), tiles="/tiles/{z}/{x}/{y}.png", tiles_attribution="Local tiles")
    assert any(isinstance(ch, folium.TileLayer) for ch in m._children.values())


def test_top_places_only():
    places = pd.concat([_places()] * 30, ignore_index=True)
    m = maps.build_hex_map(_hexes(10), places=places, max_places=5)
    html = maps.standalone_html(m)
    assert len(re.findall(r"\[54\.\d+,-1\.\d+,\d+(\.\d)?,", html)) == 5


# --- Streamlit preparation and standalone output ---------------------------------------------------


def test_prepare_for_streamlit_points_at_served_leaflet_and_leaves_input_alone():
    m = maps.build_hex_map(_hexes(50))
    before = list(m.default_js)
    served = maps.prepare_for_streamlit(m)
    assert served.default_js == [("leaflet", "../../app/static/leaflet/leaflet.js")]
    assert served.default_css == [("leaflet_css", "../../app/static/leaflet/leaflet.css")]
    assert m.default_js == before
    assert (settings.STATIC_DIR / "leaflet" / "leaflet.js").is_file()
    absolute = maps.prepare_for_streamlit(m, "/hoth/app/static/")
    assert absolute.default_js == [("leaflet", "/hoth/app/static/leaflet/leaflet.js")]
    inline = maps.prepare_for_streamlit(m, None)
    assert inline.default_js[0][1].startswith("data:text/javascript;base64,")


def test_prepare_for_streamlit_refuses_external_assets():
    m = maps.build_hex_map(_hexes(50))
    with pytest.raises(ValueError, match="static_url_prefix"):
        maps.prepare_for_streamlit(m, "https://cdn.example.org/static")
    m.add_child(folium.plugins.MarkerCluster())
    with pytest.raises(ValueError, match="external asset 'https://"):
        maps.prepare_for_streamlit(m)
    with_colormap = maps.build_hex_map(_hexes(50))
    with_colormap.add_child(branca.colormap.LinearColormap(["#000000", "#ffffff"]))
    with pytest.raises(ValueError, match="d3"):
        maps.standalone_html(with_colormap)


def test_standalone_html_strips_folium_defaults_from_a_plain_map():
    html = maps.standalone_html(folium.Map(tiles=None))
    assert "jquery" not in html.lower() and "bootstrap" not in html.lower()
    assert not re.search(r"<script[^>]*\bsrc=", html)


def test_vendored_leaflet_can_be_inlined():
    for name in ("leaflet.js", "leaflet.css"):
        text = (settings.STATIC_DIR / "leaflet" / name).read_text(encoding="utf-8").lower()
        assert "</script" not in text and "</style" not in text
    assert (settings.STATIC_DIR / "leaflet" / "LICENSE").is_file()


def test_clicked_cell():
    cell = maps.clicked_cell({"last_clicked": {"lat": 54.7, "lng": -1.6}}, 8)
    assert cell == h3i.latlng_to_cell(54.7, -1.6, 8)
    assert maps.clicked_cell({"last_clicked": {"lat": 54.7, "lng": 358.4}}, 8) == cell
    assert maps.clicked_cell({"last_clicked": None}, 8) is None
    assert maps.clicked_cell(None, 8) is None
    with pytest.raises(ValueError, match="res"):
        maps.clicked_cell({"last_clicked": {"lat": 54.7, "lng": -1.6}}, 99)


# --- in a real browser ------------------------------------------------------------------------------


@pytest.mark.browser
def test_standalone_map_draws_every_hexagon_on_canvas(chromium, tmp_path):
    df = _hexes(3_000)
    df["top_place"] = [HOSTILE_IMG] * len(df)
    m = maps.build_hex_map(df, tooltip_cols={"top_place": "Top place"}, places=_places())
    path = tmp_path / "map.html"
    path.write_text(maps.standalone_html(m), encoding="utf-8")

    page = chromium.new_page(viewport={"width": 900, "height": 700})
    problems, requests = [], []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda err: problems.append(str(err)))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri())
    page.wait_for_function(f"() => window.{m.get_name()} && window.{m.get_name()}._hothLayers")
    # The canvas repaints on the next animation frames (after fitBounds); let them pass.
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    page.wait_for_timeout(200)

    info = page.evaluate(
        f"""() => {{
        const map = window.{m.get_name()};
        const polygons = map._hothLayers.hexes.getLayers().length;
        const markers = map._hothLayers.places.getLayers().length;
        const canvas = document.querySelector('.leaflet-overlay-pane canvas');
        const ctx = canvas.getContext('2d');
        const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
        let painted = 0, samples = 0;
        for (let i = 3; i < px.length; i += 4 * 97) {{ samples++; if (px[i] > 0) painted++; }}
        return {{polygons, markers, painted: painted / samples, svgPaths: document.querySelectorAll('.leaflet-overlay-pane path').length,
                legend: document.querySelector('.hoth-legend').innerText}};
    }}"""
    )
    assert info["polygons"] == len(df)
    assert info["markers"] == 3
    assert info["svgPaths"] == 0
    assert info["painted"] > 0.1  # share of canvas pixels painted (hexagons fill ~16%)
    _, classes = maps.classify(df["count"])
    for label in classes.labels:
        assert label in info["legend"]

    # A click on a hexagon reaches the map (what st_folium reports as last_clicked) with a point
    # that resolves to that hexagon.
    cell = int(df["h3"].iloc[len(df) // 2])
    lat, lng = h3i.cell_to_latlng(cell)
    point = page.evaluate(
        f"""([lat, lng]) => {{
        const map = window.{m.get_name()};
        window.__clicks = [];
        map.on('click', e => window.__clicks.push([e.latlng.lat, e.latlng.lng]));
        const p = map.latLngToContainerPoint([lat, lng]);
        const r = map.getContainer().getBoundingClientRect();
        return [r.left + p.x, r.top + p.y];
    }}""",
        [lat, lng],
    )
    page.mouse.move(*point)
    page.wait_for_timeout(100)
    page.mouse.click(*point)
    clicks = page.evaluate("() => window.__clicks")
    assert len(clicks) == 1
    assert h3i.latlng_to_cell(clicks[0][0], clicks[0][1], 9) == cell
    tooltip = page.inner_text(".leaflet-tooltip:not(.hoth-town)")
    assert HOSTILE_IMG in tooltip  # shown as text, not interpreted
    assert page.evaluate("() => document.querySelectorAll('.leaflet-tooltip img').length") == 0

    assert page.evaluate("() => document.querySelectorAll('.leaflet-control-attribution a').length") == 0
    assert problems == []
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    page.close()


@pytest.mark.browser
def test_hottest_hexagons_are_visible_and_unobscured_at_the_first_zoom(chromium, demo_store, tmp_path):
    """The default county-wide map of the demo set: the top classes are marked so that they are seen
    at the fitted zoom, nothing (labels, legend, place rings) covers them, and town labels never
    overlap one another."""
    from io import BytesIO

    from PIL import Image

    table = aggregate.aggregate_hexes(demo_store.reports, 8, selection.ReportFilter())
    m = maps.build_hex_map(table, height=620)
    path = tmp_path / "map.html"
    path.write_text(maps.standalone_html(m), encoding="utf-8")
    idx, classes = maps.classify(table["count"])
    is_top = idx >= len(classes.upper) - 2
    top = table[is_top]
    assert 1 <= len(top) <= 10

    page = chromium.new_page(viewport={"width": 1000, "height": 660})
    page.goto(path.as_uri())
    page.wait_for_function(f"() => window.{m.get_name()} && window.{m.get_name()}._hothLayers")
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    page.wait_for_timeout(300)
    lat, lng = hx.cell_centres(top["h3"].to_numpy())
    info = page.evaluate(
        f"""(points) => {{
        const map = window.{m.get_name()};
        const box = map.getContainer().getBoundingClientRect();
        const xy = points.map(([la, ln]) => {{
            const p = map.latLngToContainerPoint([la, ln]);
            return [box.left + p.x, box.top + p.y, p.x >= 0 && p.y >= 0 && p.x <= box.width && p.y <= box.height];
        }});
        const ring = map._hothLayers.hexes.getLayers()[0].getLatLngs()[0];
        const hexPx = map.latLngToLayerPoint(ring[0]).distanceTo(map.latLngToLayerPoint(ring[3]));
        const labels = [...document.querySelectorAll('.hoth-town')]
            .filter(el => el.style.visibility !== 'hidden').map(el => el.getBoundingClientRect());
        let overlaps = 0;
        for (let i = 0; i < labels.length; i++) for (let j = i + 1; j < labels.length; j++) {{
            const a = labels[i], b = labels[j];
            if (a.left < b.right && a.right > b.left && a.top < b.bottom && a.bottom > b.top) overlaps++;
        }}
        const legend = document.querySelector('.hoth-legend').getBoundingClientRect();
        return {{xy, hexPx, dotsShown: map.hasLayer(map._hothLayers.top),
                 dots: map._hothLayers.top.getLayers().length, labels: labels.length, overlaps,
                 legend: [legend.left, legend.top, legend.right, legend.bottom]}};
    }}""",
        [[float(a), float(b)] for a, b in zip(lat, lng, strict=True)],
    )
    assert info["hexPx"] < 12  # county zoom: a resolution-8 hexagon is a few pixels across
    assert info["dotsShown"] and info["dots"] == len(top)
    assert info["labels"] >= 5 and info["overlaps"] == 0
    shot = Image.open(BytesIO(page.screenshot())).convert("RGB")
    shot.save(tmp_path / "county.png")
    left, upper, right, lower = info["legend"]
    for (x, y, inside), c in zip(info["xy"], idx[is_top], strict=True):
        assert inside
        assert not (left <= x <= right and upper <= y <= lower)  # not under the legend
        # What is drawn at the hot spot is its own class colour: no label or ring covers it.
        want = tuple(int(classes.colors[c][i : i + 2], 16) for i in (1, 3, 5))
        got = shot.getpixel((round(x), round(y)))
        assert max(abs(a - b) for a, b in zip(got, want, strict=True)) <= 12, (got, want)

    # Zoomed in on the hottest hexagon, the hexagon itself is big enough and the dots go.
    page.evaluate(
        f"([la, ln]) => {{ window.{m.get_name()}.setView([la, ln], 15, {{animate: false}}); }}",
        [lat[0], lng[0]],
    )
    page.wait_for_timeout(200)
    assert not page.evaluate(f"() => window.{m.get_name()}.hasLayer(window.{m.get_name()}._hothLayers.top)")


def test_gistar_hot_hexagons_without_reports_are_told_apart():
    classes = pd.Series(["hot_99", "hot_99", "hot_95", "cold_90", "not_significant"], index=[5, 6, 7, 8, 9])
    counts = pd.Series([12, 0, 0, 0, 3], index=[5, 6, 7, 8, 9])
    got = maps.gistar_map_classes(classes, counts)
    assert got.tolist() == ["hot_99", "hot_neighbour", "hot_neighbour", "cold_90", "not_significant"]
    assert "no reports here" in maps.GISTAR_CATEGORIES["hot_neighbour"][0]
    assert maps.GISTAR_CATEGORIES["hot_99"][0].startswith("Hot spot with reports")


def test_p_values_read_as_a_person_reads_them():
    assert [maps.format_p(p) for p in (4.7e-111, 0.0009999, 0.001, 0.0432, float("nan"))] == [
        "< 0.001",
        "< 0.001",
        "0.001",
        "0.043",
        "–",
    ]
