"""Hexagon hotspot maps: data in, ``folium.Map`` out, fast to build and safe to show offline.

Why not a plain ``folium.GeoJson``: 10,000 hexagons as GeoJSON are ~5 MB of HTML, take ~5 s to
build, and a ``style_function`` writes a JS switch per feature that the browser chews on for tens
of seconds at 50,000. Instead ``build_hex_map`` sends one compact payload to a small script that
draws the polygons itself on Leaflet's canvas renderer:

* hexagons are grouped by colour class, and each class is one integer array of vertex
  coordinates in 1e-5 degree units (~1 m), each value the difference from the previous vertex,
  with the vertex count before each ring. Shared vertices round identically, so no hairline gaps.
* tooltips are built in the browser from per-hexagon value arrays, only when hovered.

Untrusted text (place names, tooltip values) is escaped twice over: ``html.escape`` on the server,
so the browser only ever receives inert text, and JSON with ``<``, ``>`` and ``&`` written as
``\\u003c`` etc., so nothing in the data can close the ``<script>`` element it travels in. Folium's
own ``Tooltip`` is not used for data: it interpolates text into a JS template literal unescaped.

Assets: maps never reference a CDN. ``build_hex_map`` embeds the vendored Leaflet
(``hoth_geo/static/leaflet``) as ``data:`` URIs, so a map works anywhere with no network (notebook,
saved file, Streamlit). ``standalone_html`` writes the same map as one self-contained page with
Leaflet inlined; ``prepare_for_streamlit`` points the map at Leaflet served by Streamlit's static
file serving instead, so the ~200 kB library is not resent with every rerun.
"""

from __future__ import annotations

import base64
import copy
import html
import json
import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

import branca.colormap
import folium
import folium.elements
import numpy as np
import pandas as pd
from branca.element import Element, MacroElement
from jinja2 import Template

from hoth_geo import hexes as hx
from hoth_geo import settings
from hoth_geo.schema import PLACE_TYPES

__all__ = [
    "PALETTE",
    "HexClasses",
    "classify",
    "build_hex_map",
    "standalone_html",
    "prepare_for_streamlit",
    "add_basemap",
    "clicked_cell",
    "leaflet_assets",
    "location_map",
    "nearest_town",
    "BLANK_MAP_ZOOM",
]

# ColorBrewer YlOrRd, 5 classes: sequential and marked colour-blind safe by ColorBrewer.
PALETTE: tuple[str, ...] = ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026")

COORD_SCALE = 100_000  # payload coordinates are integers in 1e-5 degrees (~1.1 m north-south)

# Only used to place an empty map when there is nothing to fit and no centre was given.
_FALLBACK_CENTER = (54.7, -1.6)  # County Durham
BLANK_MAP_ZOOM = 10  # and the zoom a map for picking a point opens at

_LEAFLET_DIR = settings.STATIC_DIR / "leaflet"
_LEAFLET_JS = "leaflet"  # asset names as folium uses them in default_js / default_css
_LEAFLET_CSS = "leaflet_css"
# folium.Map's default assets that nothing in these maps uses (jQuery, Bootstrap, Font Awesome,
# awesome-markers): dropped rather than vendored.
_FOLIUM_UNUSED_ASSETS = frozenset(
    {
        "jquery",
        "bootstrap",
        "awesome_markers",
        "bootstrap_css",
        "glyphicons_css",
        "awesome_markers_font_css",
        "awesome_markers_css",
        "awesome_rotate_css",
    }
)
_MIN_TOP_PX = 12  # on-screen size below which the top classes are marked with a dot
_HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_INLINE_MARK = "hoth-geo-inline:"  # placeholder URL standalone_html swaps for inline code


# --- Assets ------------------------------------------------------------------------------------


@cache
def _leaflet_js() -> str:
    return (_LEAFLET_DIR / "leaflet.js").read_text(encoding="utf-8")


@cache
def _leaflet_css_inlined() -> str:
    """leaflet.css with its few small images embedded, so it works from a data: URI or <style>."""
    css = (_LEAFLET_DIR / "leaflet.css").read_text(encoding="utf-8")

    def embed(match: re.Match) -> str:
        data = (_LEAFLET_DIR / "images" / match.group(1)).read_bytes()
        return f"url(data:image/png;base64,{base64.b64encode(data).decode('ascii')})"

    return re.sub(r"url\(images/([A-Za-z0-9_.-]+\.png)\)", embed, css)


@cache
def _data_uris() -> tuple[str, str]:
    js = base64.b64encode(_leaflet_js().encode("utf-8")).decode("ascii")
    css = base64.b64encode(_leaflet_css_inlined().encode("utf-8")).decode("ascii")
    return f"data:text/javascript;base64,{js}", f"data:text/css;base64,{css}"


def leaflet_assets(url_prefix: str | None = None) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(default_js, default_css) for a folium element: vendored Leaflet only.

    ``url_prefix`` None gives self-contained data: URIs; otherwise URLs under ``url_prefix``
    (which must hold ``leaflet/leaflet.js`` and ``leaflet/leaflet.css``, as ``hoth_geo/static`` does).
    """
    if url_prefix is None:
        js, css = _data_uris()
    else:
        base = url_prefix.rstrip("/")
        js, css = f"{base}/leaflet/leaflet.js", f"{base}/leaflet/leaflet.css"
    return [(_LEAFLET_JS, js)], [(_LEAFLET_CSS, css)]


# --- Safe encoding -------------------------------------------------------------------------------


def _safe_json(obj) -> str:
    """JSON that can sit inside <script>: no '<', '>', '&' or JS line separators appear raw."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _esc(value) -> str:
    return html.escape(str(value), quote=True)


def _number(x: float) -> int | float | None:
    if x is None or not math.isfinite(x):
        return None
    if float(x).is_integer() and abs(x) < 2**53:
        return int(x)
    return float(f"{x:.4g}")


def _tooltip_values(series: pd.Series) -> list | dict:
    """Per-hex tooltip values: numbers stay JSON numbers, everything else becomes escaped text.

    Returns one value per hexagon, or for repetitive text {"u": distinct values, "i": indexes}.
    """
    if pd.api.types.is_bool_dtype(series):
        texts = ["Yes" if v else "No" for v in series.tolist()]
    elif pd.api.types.is_integer_dtype(series) and not series.isna().any():
        return series.astype(np.int64).tolist()
    elif pd.api.types.is_numeric_dtype(series):
        return [_number(v) for v in series.astype(np.float64).tolist()]
    else:
        texts = [
            None if v is None or (isinstance(v, float) and math.isnan(v)) else _esc(v)
            for v in series.tolist()
        ]
    # Text columns usually repeat a few values (place types, areas): send each distinct value once
    # plus an index per hexagon, which shrinks a typical text column several times over.
    uniques = list(dict.fromkeys(texts))
    if len(uniques) * 2 <= len(texts):
        code = {u: i for i, u in enumerate(uniques)}
        return {"u": uniques, "i": [code[t] for t in texts]}
    return texts


# --- Classes -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HexClasses:
    """A classed colour scale: class i holds values in (upper[i-1], upper[i]]."""

    upper: tuple[float, ...]  # highest value in each class, ascending
    lower: tuple[float, ...]  # lowest value present in each class
    counts: tuple[int, ...]  # hexagons in each class
    colors: tuple[str, ...]
    labels: tuple[str, ...]  # 'lo–hi' value range of each class, as shown in the legend


def _fisher_jenks(values: np.ndarray, weights: np.ndarray, k: int) -> np.ndarray:
    """Optimal 1-D classes (least within-class squared deviation) over sorted distinct values.

    Returns the index of the last item in each class. Exact dynamic programme, vectorised per
    class over an (m+1)x(m+1) cost matrix; callers keep m small by grouping values first.
    """
    m = len(values)
    w = np.concatenate([[0.0], np.cumsum(weights)])
    s = np.concatenate([[0.0], np.cumsum(weights * values)])
    q = np.concatenate([[0.0], np.cumsum(weights * values * values)])
    i = np.arange(m + 1)[:, None]
    j = np.arange(m + 1)[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        ssd = (q[j] - q[i]) - (s[j] - s[i]) ** 2 / (w[j] - w[i])
    ssd = np.where(j > i, np.maximum(ssd, 0.0), np.inf)
    cost = ssd[0].copy()  # one class covering items [0, j)
    cost[0] = np.inf
    back = []
    for _ in range(1, k):
        total = cost[:, None] + ssd
        arg = np.argmin(total, axis=0)
        back.append(arg)
        cost = total[arg, np.arange(m + 1)]
    ends = [m]
    for arg in reversed(back):
        ends.append(int(arg[ends[-1]]))
    ends = sorted(set(ends) - {0})
    return np.asarray(ends) - 1


def _fmt(x: float) -> str:
    n = _number(x)
    return f"{n:,}" if isinstance(n, int) else f"{n:,.4g}"


def _head_tail_breaks(v: np.ndarray, k: int, max_head_share: float = 0.4) -> np.ndarray:
    """Head/tail breaks (Jiang 2013): split at the mean, keep splitting the part above it (the head)
    while the head is a minority of what was split. Returns the breaks (class i holds values in
    (break[i-1], break[i]]); empty when the values are not heavy-tailed."""
    breaks: list[float] = []
    part = v
    while len(breaks) < k - 1 and len(part) > 1:
        mean = float(part.mean())
        head = part[part > mean]
        if len(head) == 0 or len(head) / len(part) > max_head_share:
            break
        breaks.append(mean)
        part = head
    return np.asarray(breaks, dtype=np.float64)


CLASS_METHODS = ("headtail", "jenks")


def classify(
    values: Iterable[float], k: int = 5, palette: Sequence[str] = PALETTE, method: str = "headtail"
) -> tuple[np.ndarray, HexClasses]:
    """Class index (0 = lowest) per value, and the classes.

    ``method='headtail'`` (the default for every map and export): head/tail breaks, made for counts
    with a heavy tail (many hexagons with a report or two, a few with hundreds): each break is the
    mean of the values above the previous one, so the top classes hold the few hottest hexagons and
    stay distinct however far they stand out. Counts that are not heavy-tailed (the part above the
    mean is over 40 % of the values at the first split) fall back to natural breaks.

    ``method='jenks'``: natural breaks (Fisher-Jenks), chosen on the distinct values weighted by
    how often they occur. More than 400 distinct values are first grouped into 400 equal-frequency
    groups to keep the programme small.

    With at most ``k`` distinct values, each value is its own class.
    """
    if method not in CLASS_METHODS:
        raise ValueError(f"method must be one of {CLASS_METHODS}, got {method!r}")
    bad = [c for c in palette if not isinstance(c, str) or not _HEX_COLOR.match(c)]
    if bad:
        raise ValueError(f"palette colours must be '#rrggbb', got {bad[0]!r}")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= len(palette):
        raise ValueError(f"k must be an integer 1..{len(palette)} (the palette size), got {k!r}")
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {v.shape}")
    if not np.isfinite(v).all():
        raise ValueError(f"values must be finite numbers, got {v[~np.isfinite(v)][0]!r}")
    if v.size == 0:
        return np.zeros(0, dtype=np.int64), HexClasses((), (), (), (), ())
    uniq, freq = np.unique(v, return_counts=True)
    breaks = _head_tail_breaks(v, k) if method == "headtail" and len(uniq) > k else np.zeros(0)
    if len(uniq) <= k:
        upper = uniq
    elif len(breaks):
        # The highest value present at or below each break, then the maximum.
        pos = np.searchsorted(uniq, breaks, side="right") - 1
        upper = np.unique(np.concatenate([uniq[pos], uniq[-1:]]))
    else:
        if len(uniq) > 400:
            # Group into equal-frequency runs of distinct values; a group's mean stands for it.
            group = np.minimum((np.cumsum(freq) - freq) * 400 // v.size, 399)
            starts = np.flatnonzero(np.diff(group, prepend=-1))
            gw = np.add.reduceat(freq, starts).astype(np.float64)
            gv = np.add.reduceat(uniq * freq, starts) / gw
            group_max = uniq[np.concatenate([starts[1:], [len(uniq)]]) - 1]
            ends = _fisher_jenks(gv, gw, k)
            upper = group_max[ends]
        else:
            ends = _fisher_jenks(uniq, freq.astype(np.float64), k)
            upper = uniq[ends]
    idx = np.searchsorted(upper, v, side="left").astype(np.int64)
    n = len(upper)
    counts = np.bincount(idx, minlength=n)
    lower = np.full(n, np.inf)
    np.minimum.at(lower, idx, v)
    if n == 1:
        picks = [len(palette) // 2]
    else:
        picks = np.round(np.linspace(0, len(palette) - 1, n)).astype(int).tolist()
    colors = tuple(palette[p] for p in picks)
    labels = tuple(
        _fmt(lo) if lo == hi else f"{_fmt(lo)}–{_fmt(hi)}" for lo, hi in zip(lower, upper, strict=True)
    )
    return idx, HexClasses(
        upper=tuple(float(x) for x in upper),
        lower=tuple(float(x) for x in lower),
        counts=tuple(int(c) for c in counts),
        colors=colors,
        labels=labels,
    )


def _category_classes(
    keys: pd.Series, categories: Mapping[str, tuple[str, str]]
) -> tuple[np.ndarray, HexClasses]:
    """Class index per hexagon and legend entries for the categories present, in the mapping's order."""
    seen = set(keys.tolist())
    present = [k for k in categories if k in seen]  # a 17-category legend of zeros helps nobody
    order = {k: i for i, k in enumerate(present)}
    idx = keys.map(order).to_numpy(dtype=np.int64)
    counts = np.bincount(idx, minlength=len(present))
    return idx, HexClasses(
        upper=tuple(float(i) for i in range(len(present))),
        lower=tuple(float(i) for i in range(len(present))),
        counts=tuple(int(c) for c in counts),
        colors=tuple(categories[k][1] for k in present),
        labels=tuple(categories[k][0] for k in present),
    )


# --- Geometry payload ----------------------------------------------------------------------------


def _encode_rings(cells: np.ndarray, cls: np.ndarray, n_classes: int) -> tuple[list[str], np.ndarray]:
    """Per class, the JSON text of one delta-encoded integer array; plus [[s, w], [n, e]] bounds.

    ``cells`` must already be ordered by class. Layout per hexagon: vertex count, then (lat, lng)
    pairs, each the difference from the previous vertex in the class (the first from 0).
    """
    rings = hx.cell_boundaries(cells)  # (lng, lat)
    sizes = np.fromiter((len(r) for r in rings), dtype=np.int64, count=len(rings))
    coords = np.concatenate(rings)[:, ::-1] if rings else np.zeros((0, 2))  # -> (lat, lng)
    q = np.rint(coords * COORD_SCALE).astype(np.int64)
    bounds = (
        np.array([q.min(axis=0), q.max(axis=0)]) / COORD_SCALE if len(q) else np.array([[np.nan] * 2] * 2)
    )
    delta = np.diff(q, axis=0, prepend=np.zeros((1, 2), dtype=np.int64))
    hex_of_vertex = np.repeat(np.arange(len(cells)), sizes)
    first_vertex = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    class_start_hex = np.searchsorted(cls, np.arange(n_classes), side="left")
    starts = first_vertex[class_start_hex[class_start_hex < len(cells)]]
    delta[starts] = q[starts]  # each class decodes independently, from 0
    # Interleave: hexagon h's count goes before its vertices, so token = 2*vertex + h (+1, +2).
    tokens = np.empty(len(cells) + 2 * len(q), dtype=np.int64)
    tokens[2 * first_vertex + np.arange(len(cells))] = sizes
    pos = 2 * np.arange(len(q)) + hex_of_vertex + 1
    tokens[pos] = delta[:, 0]
    tokens[pos + 1] = delta[:, 1]
    hex_token_start = np.concatenate([2 * first_vertex + np.arange(len(cells)), [len(tokens)]])
    bounds_idx = np.concatenate([class_start_hex, [len(cells)]])
    out = []
    for c in range(n_classes):
        a, b = hex_token_start[bounds_idx[c]], hex_token_start[bounds_idx[c + 1]]
        out.append("[" + ",".join(map(str, tokens[a:b].tolist())) + "]")
    return out, bounds


# --- The map element -----------------------------------------------------------------------------

_HEX_LAYER_TEMPLATE = Template(
    """
{% macro header(this, kwargs) %}
<style>
.hoth-legend { background: rgba(255,255,255,0.92); padding: 6px 9px; border-radius: 4px;
  box-shadow: 0 1px 4px rgba(0,0,0,0.35); font: 12px/1.45 system-ui, sans-serif; color: #222; }
.hoth-legend-title { font-weight: 600; margin-bottom: 3px; }
.hoth-legend-row { white-space: nowrap; }
/* A map narrower than its legend (a phone): the legend keeps inside the map, its rows wrapping
   under their text rather than under the swatch. */
@media (max-width: 480px) {
  .hoth-legend { max-width: calc(100vw - 32px); box-sizing: border-box; font-size: 11px; }
  .hoth-legend-row { white-space: normal; padding-left: 20px; text-indent: -20px; }
}
.hoth-legend-swatch { display: inline-block; width: 14px; height: 14px; margin-right: 6px;
  vertical-align: -2px; border: 1px solid #666; }
.hoth-legend-place { border-radius: 50%; border: 2px solid #08306b; background: none; }
.hoth-legend-quiet { border: 1px dotted #9a9a9a; background-image:
  repeating-linear-gradient(45deg, transparent 0 3px, #c8c8c8 3px 4px); }
.hoth-legend-n { color: #666; }
.hoth-tip { font: 12px/1.4 system-ui, sans-serif; }
</style>
{% endmacro %}
{% macro script(this, kwargs) %}
(function (map, D) {
  // Every string in D was HTML-escaped on the server; it is only ever inserted as such.
  var S = D.scale, cols = D.cols, vals = D.vals, P = D.places;
  map.getContainer().style.background = D.background;
  if (map.attributionControl) { map.attributionControl.setPrefix("Leaflet"); }
  function tipHtml(i) {
    var out = "";
    for (var c = 0; c < cols.length; c++) {
      var col = vals[c], v = col.u ? col.u[col.i[i]] : col[i];
      out += '<div><span class="hoth-tip-label">' + cols[c] + ':</span> <b>' +
        (v === null ? "&ndash;" : String(v)) + "</b></div>";
    }
    return out;
  }
  function tip(html) {
    var el = document.createElement("div");
    el.className = "hoth-tip";
    el.innerHTML = html;
    return el;
  }
  var polys = [], dots = [], h = 0, topFrom = D.classes.length - D.emphasise;
  // Dots for the top classes draw in a pane of their own, above the town labels.
  var topPane = map.createPane("hothTop");
  topPane.style.zIndex = 620;
  topPane.style.pointerEvents = "none";
  var topRenderer = L.canvas({pane: "hothTop"});
  for (var c = 0; c < D.classes.length; c++) {
    var a = D.rings[c], lat = 0, lng = 0, i = 0;
    var style = {color: D.stroke, weight: D.weight, opacity: 0.7,
                 fillColor: D.classes[c].color, fillOpacity: D.fillOpacity};
    if (D.classes[c].quiet) {
      // A class that must not draw the eye ('<5'): a faint dotted edge on a pale grey.
      style = {color: "#9a9a9a", weight: 0.6, opacity: 0.6, dashArray: "2 3",
               fillColor: D.classes[c].color, fillOpacity: 0.5};
    }
    while (i < a.length) {
      var n = a[i++], ring = new Array(n), sy = 0, sx = 0;
      for (var v = 0; v < n; v++) {
        lat += a[i++]; lng += a[i++];
        ring[v] = L.latLng(lat / S, lng / S);
        sy += lat; sx += lng;
      }
      var p = L.polygon(ring, style);
      p._hothIndex = h++;
      polys.push(p);
      if (c >= topFrom) {
        // The top classes keep a minimum size on screen: at a zoom where their hexagon is a few
        // pixels across, a dot of the class colour marks it (it takes no clicks or hovers).
        dots.push(L.circleMarker([sy / n / S, sx / n / S], {radius: D.minPx / 2, color: "#1a1a1a",
          weight: 1.5, fillColor: D.classes[c].color, fillOpacity: 1, interactive: false,
          pane: "hothTop", renderer: topRenderer}));
      }
    }
  }
  // One tooltip on the group, content built on hover: 10,000 bound tooltips would cost memory
  // and start-up time. Clicks bubble on to the map, so map "click" (st_folium's last_clicked)
  // still fires when a hexagon is clicked.
  var hexLayer = L.featureGroup(polys);
  hexLayer.bindTooltip(function (layer) { return tip(tipHtml(layer._hothIndex)); }, {sticky: true});
  hexLayer.addTo(map);
  var dotLayer = L.layerGroup(dots);
  function hexPixels() {
    if (!polys.length) { return Infinity; }
    var ring = polys[polys.length - 1].getLatLngs()[0];
    return map.latLngToLayerPoint(ring[0]).distanceTo(map.latLngToLayerPoint(ring[3]));
  }
  function sizeDots() {
    var small = hexPixels() < D.minPx;
    if (small && !map.hasLayer(dotLayer)) { dotLayer.addTo(map); }
    if (!small && map.hasLayer(dotLayer)) { map.removeLayer(dotLayer); }
  }
  map.on("zoomend", sizeDots);
  setTimeout(sizeDots, 0);
  var marks = [];
  for (var j = 0; j < P.length; j++) {
    // Rings, not discs: a place marker never covers the colour of the hexagon it sits in.
    var m = L.circleMarker([P[j][0], P[j][1]], {radius: P[j][2], color: "#08306b", weight: 2,
                                                fill: true, fillOpacity: 0});
    m._hothPlace = j;
    marks.push(m);
  }
  var placeLayer = L.featureGroup(marks);
  placeLayer.bindTooltip(function (layer) {
    var q = P[layer._hothPlace];
    return tip("<div><b>" + q[3] + "</b></div><div>" + q[4] + "</div><div>" + D.placeCountLabel +
               ": <b>" + String(q[5]) + "</b></div>");
  }, {sticky: true});
  placeLayer.addTo(map);
  map._hothLayers = {hexes: hexLayer, places: placeLayer, top: dotLayer};
  var home = D.legendCorner || "bottomright", corner = home;  // corner: where the legend is now
  var legend = L.control({position: corner});
  legend.onAdd = function () {
    var div = L.DomUtil.create("div", "hoth-legend");
    var out = '<div class="hoth-legend-title">' + D.title + "</div>";
    for (var c = D.classes.length - 1; c >= 0; c--) {
      var k = D.classes[c];
      var swatch = k.quiet ? "hoth-legend-swatch hoth-legend-quiet" : "hoth-legend-swatch";
      out += '<div class="hoth-legend-row"><span class="' + swatch + '" style="background-color:' +
        k.color + '"></span>' + k.label + ' <span class="hoth-legend-n">(' + k.n + " " +
        (k.n === 1 ? D.unitOne : D.unitMany) + ")</span></div>";
    }
    if (!D.classes.length && D.emptyText) {
      out += '<div class="hoth-legend-row">' + D.emptyText + "</div>";
    }
    if (P.length) {
      out += '<div class="hoth-legend-row"><span class="hoth-legend-swatch hoth-legend-place"></span>' +
        D.placesLabel + "</div>";
    }
    div.innerHTML = out;
    return div;
  };
  // A map for picking a point (no classes, no places, no empty text) has nothing to explain.
  var hasLegend = !!(D.classes.length || P.length || D.emptyText);
  if (hasLegend) {
    legend.addTo(map);
    // Sizes are known once the frame is laid out, and change with it (a phone turned sideways).
    stackIfCrowded();
    setTimeout(stackIfCrowded, 0);
    map.on("resize", stackIfCrowded);
  }
  // The first view: the data fitted beside the legend, set at once (an animated fit started now
  // would make Leaflet drop any later change of view until it ends).
  if (D.fit) {
    var fitView = function () {
      if (hasLegend) { fitBesideLegend(legend.getContainer()); }
      else { map.fitBounds(D.fit, {maxZoom: D.fitMaxZoom || 18, animate: false}); }
    };
    fitView();
    setTimeout(fitView, 0);
    // The frame may still be taking its final size: fit again on a resize in the first seconds
    // (later, a resize keeps the view the user chose).
    var started = Date.now();
    map.on("resize", function () { if (Date.now() - started < 4000) { fitView(); } });
  }
  // A map too narrow for the legend beside the controls of the other corner on its edge (the scale bar
  // at the bottom, the zoom buttons at the top; a phone): the legend joins that corner, stacked with
  // its controls, so none hides another. It moves once, never back: in the other corner it would be
  // beside whatever sits in its first one (the attribution).
  function stackIfCrowded() {
    if (corner !== home) { return; }
    var right = corner.indexOf("right") >= 0;
    var other = right ? corner.replace("right", "left") : corner.replace("left", "right");
    var box = map.getContainer().querySelector(
      ".leaflet-" + other.replace(/(left|right)$/, "") + ".leaflet-" + (right ? "left" : "right"));
    var used = 0;
    for (var i = 0; box && i < box.children.length; i++) {
      used = Math.max(used, box.children[i].offsetWidth + 10);  // a control and its margin
    }
    if (used > 10 && legend.getContainer().offsetWidth + used + 30 > map.getSize().x) {
      corner = other;
      legend.setPosition(corner);
    }
  }
  // Fit the data leaving the legend's width (or height, whichever keeps the larger zoom) free on
  // its side of the map, so the legend sits beside the data, never on it.
  function fitBesideLegend(el) {
    var right = corner.indexOf("right") >= 0, bottom = corner.indexOf("bottom") >= 0;
    // The legend's corner holds it and any control stacked with it (the scale bar): keep that free,
    // with its margins and a gap. Sizes from layout, which is there even before the frame is shown.
    var box = el.parentNode, size = map.getSize();
    var b = L.latLngBounds(D.fit);
    var w = box.offsetWidth + 16, hgt = box.offsetHeight + 16;
    if (!(w > 16 && w < size.x * 0.8)) { w = 0; }
    if (!(hgt > 16 && hgt < size.y * 0.8)) { hgt = 0; }
    function pad(px, py) {
      return {maxZoom: D.fitMaxZoom || 18, animate: false,
              paddingTopLeft: [right ? 0 : px, bottom ? 0 : py],
              paddingBottomRight: [right ? px : 0, bottom ? py : 0]};
    }
    var za = map.getBoundsZoom(b, false, L.point(w, 0)), zd = map.getBoundsZoom(b, false, L.point(0, hgt));
    // A legend too wide to sit beside the data (a phone) sits below or above it, and the reverse.
    var sideways = w > 0 && (hgt === 0 || za >= zd);
    map.fitBounds(b, sideways ? pad(w, 0) : pad(0, hgt));
  }
})({{ this._parent.get_name() }}, {{ this.payload }});
{% endmacro %}
"""
)


class _Verbatim(Element):
    """Text a data layer rendered, put on the page as it is.

    branca wraps each macro's output in an ``Element``, whose constructor compiles the text as a Jinja
    template that the page's render then runs: text from the data ('{{ ... }}' in a street, place or
    location name) would be evaluated on the server, and the map's whole payload lexed as a template on
    every render (most of a map rerun's time, three renders per map in the app)."""

    def __init__(self, text: str):
        super().__init__()
        self._name = "Verbatim"
        self._text = text

    def render(self, **kwargs) -> str:
        return self._text


class _DataLayer(MacroElement):
    """A layer whose script carries data: rendered once, each part added to the page verbatim
    (``_Verbatim``) where ``MacroElement.render`` would compile it as a template."""

    def render(self, **kwargs) -> None:
        figure = self.get_root()
        macros = self._template.module.__dict__
        for part, target in (("header", figure.header), ("html", figure.html), ("script", figure.script)):
            if macros.get(part) is not None:
                target.add_child(_Verbatim(macros[part](self, kwargs)), name=self.get_name())
        for element in self._children.values():
            element.render(**kwargs)


class _BaseTiles(folium.TileLayer, _DataLayer):
    """folium's tile layer put on the page verbatim: the attribution comes from a tile file's own
    metadata or an administrator's text, and folium's render would run it as a template. folium's
    ``Layer.render`` still adds the layer to the map, then its ``super().render`` is _DataLayer's."""


class _HexLayer(_DataLayer):
    """Hexagons, place markers and legend drawn by one script from one pre-encoded payload."""

    _template = _HEX_LAYER_TEMPLATE

    def __init__(self, payload: str, bounds: list[list[float]] | None):
        super().__init__()
        self._name = "HexLayer"
        self.payload = payload  # safe JSON text, built by build_hex_map
        self._bounds = bounds

    def _get_self_bounds(self):
        return self._bounds or [[None, None], [None, None]]


# --- Reference outlines, town labels and the police context overlay -------------------------------

TOWNS_FILE = "towns.csv"  # in the area's boundaries folder: name, latitude, longitude, weight
_MAX_TOWNS = 20


def town_labels() -> pd.DataFrame:
    """Town labels for the area (name, latitude, longitude, weight), most important first.

    From ``towns.csv`` beside the area's boundaries when there is one (the shipped demo area has
    one, built by ``scripts/build_gazetteer.py``); otherwise the localities of the area's gazetteer
    streets with the most street points, each at the median of its points. Empty when neither
    exists: a map without labels is better than labels from somewhere else.
    """
    from hoth_geo.intake.area import in_use

    current = in_use()
    if current.shipped:
        return _town_labels_cached(str(settings.BOUNDARIES_DIR), str(settings.GAZETTEER_DIR)).copy()
    return _town_labels_cached(None, str(current.gazetteer_dir)).copy()


@cache
def _town_labels_cached(boundaries_dir: str | None, gazetteer_dir: str) -> pd.DataFrame:
    from pathlib import Path

    columns = ["name", "latitude", "longitude", "weight"]
    path = Path(boundaries_dir) / TOWNS_FILE if boundaries_dir else None
    if path is not None and path.is_file():
        towns = pd.read_csv(path)
        missing = set(columns) - set(towns.columns)
        if missing:
            raise ValueError(f"{path} is missing column(s) {sorted(missing)}; needs {columns}")
        towns = towns[columns].dropna()
    else:
        from hoth_geo.intake.gazetteer import load_gazetteer

        try:
            streets = load_gazetteer(gazetteer_dir).streets
        except (FileNotFoundError, ValueError):
            return pd.DataFrame(columns=columns)
        streets = streets.dropna(subset=["locality", "latitude", "longitude"])
        weight = streets["n_points"] if "n_points" in streets.columns else 1
        towns = (
            streets.assign(weight=weight)
            .groupby("locality")
            .agg(latitude=("latitude", "median"), longitude=("longitude", "median"), weight=("weight", "sum"))
            .reset_index()
            .rename(columns={"locality": "name"})
        )
    return (
        towns.sort_values(["weight", "name"], ascending=[False, True], kind="stable")
        .head(_MAX_TOWNS)
        .reset_index(drop=True)
    )


_REFERENCE_TEMPLATE = Template(
    """
{% macro header(this, kwargs) %}
<style>
.hoth-town { background: none; border: none; box-shadow: none; font: 600 12px system-ui, sans-serif;
  color: #333; text-shadow: 0 0 3px #fff, 0 0 3px #fff, 0 0 3px #fff; white-space: nowrap; }
.hoth-town:before { display: none; }
</style>
{% endmacro %}
{% macro script(this, kwargs) %}
(function (map, R) {
  // Outlines never take clicks or hovers: they are there to orient, not to be read.
  var pane = map.createPane("hothReference");
  pane.style.zIndex = 390;
  pane.style.pointerEvents = "none";
  L.geoJSON(R.wards, {pane: "hothReference", interactive: false,
    style: {color: "#9a9a9a", weight: 0.6, fill: false}}).addTo(map);
  L.geoJSON(R.area, {pane: "hothReference", interactive: false,
    style: {color: "#444", weight: 1.6, fill: false}}).addTo(map);
  // Town labels sit above the hexagons but beneath the dots that mark the top classes (a hot spot
  // is never hidden by a name); most important first, a label that would overlap one already shown
  // is hidden at that zoom.
  var labelPane = map.createPane("hothLabels");
  labelPane.style.zIndex = 450;
  labelPane.style.pointerEvents = "none";
  var labels = [];
  for (var i = 0; i < R.towns.length; i++) {
    var t = R.towns[i];
    // Above its town, not on it: the town centre is where a hot spot's dot often is.
    labels.push(L.tooltip({permanent: true, direction: "top", offset: [0, -5], className: "hoth-town",
                           interactive: false, pane: "hothLabels"})
      .setLatLng([t[0], t[1]]).setContent(t[2]).addTo(map));
  }
  function declutter() {
    var shown = [], box = map.getContainer().getBoundingClientRect();
    for (var i = 0; i < labels.length; i++) {
      // Placed afresh from its town: a view set while the frame was still taking its size can
      // leave a label where its town used to be.
      labels[i].update();
      var el = labels[i].getElement();
      if (!el) { continue; }
      el.style.visibility = "";
      var r = el.getBoundingClientRect(), clash = false;
      // A name cut by the map's edge ("ishop Auckland") is hidden rather than misread.
      var inside = r.left >= box.left && r.right <= box.right && r.top >= box.top && r.bottom <= box.bottom;
      for (var j = 0; j < shown.length && !clash; j++) {
        var q = shown[j];
        clash = r.left < q.right + 4 && r.right > q.left - 4 && r.top < q.bottom + 2 && r.bottom > q.top - 2;
      }
      if (clash || !inside) { el.style.visibility = "hidden"; } else { shown.push(r); }
    }
  }
  map.on("zoomend moveend resize viewreset", declutter);
  setTimeout(declutter, 0);
})({{ this._parent.get_name() }}, {{ this.payload }});
{% endmacro %}
"""
)

_CONTEXT_TEMPLATE = Template(
    """
{% macro script(this, kwargs) %}
(function (map, C) {
  var S = C.scale, a = C.rings, lat = 0, lng = 0, i = 0, h = 0, polys = [];
  var style = {color: "#1d3f8f", weight: 1.4, dashArray: "4 3", fill: false, opacity: 0.9};
  while (i < a.length) {
    var n = a[i++], ring = new Array(n);
    for (var v = 0; v < n; v++) { lat += a[i++]; lng += a[i++]; ring[v] = L.latLng(lat / S, lng / S); }
    var p = L.polygon(ring, style);
    p._hothIndex = h++;
    polys.push(p);
  }
  var layer = L.featureGroup(polys);
  layer.bindTooltip(function (l) {
    var el = document.createElement("div");
    el.className = "hoth-tip";
    el.textContent = C.label + ": " + String(C.counts[l._hothIndex]);
    return el;
  }, {sticky: true});
  layer.addTo(map);
  var legend = L.control({position: "bottomleft"});
  legend.onAdd = function () {
    var div = L.DomUtil.create("div", "hoth-legend");
    div.textContent = C.legend;
    div.style.borderLeft = "4px dashed #1d3f8f";
    return div;
  };
  legend.addTo(map);
})({{ this._parent.get_name() }}, {{ this.payload }});
{% endmacro %}
"""
)


class _ReferenceLayer(_DataLayer):
    _template = _REFERENCE_TEMPLATE

    def __init__(self, payload: str):
        super().__init__()
        self._name = "ReferenceLayer"
        self.payload = payload


class _ContextLayer(_DataLayer):
    _template = _CONTEXT_TEMPLATE

    def __init__(self, payload: str):
        super().__init__()
        self._name = "ContextLayer"
        self.payload = payload


def _rounded_geojson(gdf, dp: int = 4) -> dict:
    import shapely

    geoms = shapely.set_precision(gdf.geometry.values, 10**-dp)
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {}, "geometry": json.loads(shapely.to_geojson(g))}
            for g in geoms
        ],
    }


def _read_geojson(path):
    """A WGS84 GeoJSON file as a GeoDataFrame, parsed with json and shapely: reading it through GDAL
    (``gpd.read_file``) would load GDAL (~29 MB) into every app process for two small files."""
    import geopandas as gpd

    with open(path, encoding="utf-8") as fh:
        return gpd.GeoDataFrame.from_features(json.load(fh), crs="EPSG:4326")


def reference_payload() -> str:
    """Study-area and ward outlines (coordinates to 4 dp, ~10 m) and town labels, as safe JSON, for
    the area in use (a partnership's own area: its outline only)."""
    from hoth_geo.intake.area import in_use

    return _reference_payload(in_use().area_id)


@lru_cache(maxsize=4)
def _reference_payload(area_id: str) -> str:
    import geopandas as gpd

    from hoth_geo.intake.area import in_use

    area = wards = {"type": "FeatureCollection", "features": []}
    towns = [
        [round(float(t.latitude), 4), round(float(t.longitude), 4), _esc(t.name)]
        for t in town_labels().itertuples(index=False)
    ]
    current = in_use()
    if not current.shipped:
        outline = gpd.GeoDataFrame({"name": [current.name]}, geometry=[current.boundary], crs="EPSG:4326")
        return _safe_json({"area": _rounded_geojson(outline), "wards": wards, "towns": towns})
    if (settings.BOUNDARIES_DIR / "study_area.geojson").is_file():
        area = _rounded_geojson(_read_geojson(settings.BOUNDARIES_DIR / "study_area.geojson"))
    if (settings.BOUNDARIES_DIR / "wards.geojson").is_file():
        wards = _rounded_geojson(
            _read_geojson(settings.BOUNDARIES_DIR / "wards.geojson").boundary.to_frame("geometry")
        )
    return _safe_json({"area": area, "wards": wards, "towns": towns})


def _context_payload(context: pd.DataFrame) -> str:
    ordered = context.sort_values("h3", kind="stable")
    cells = ordered["h3"].to_numpy(dtype=np.int64)
    rings, _ = _encode_rings(cells, np.zeros(len(cells), dtype=np.int64), 1)
    meta = _safe_json(
        {
            "scale": COORD_SCALE,
            "counts": [int(c) for c in ordered["count"]],
            "label": "Recorded crime (police.uk context)",
            "legend": "Dashed outline: police.uk recorded crime (context, not partnership reports)",
        }
    )
    return '{"rings":' + rings[0] + "," + meta[1:]


def blank_map(center: tuple[float, float] | None = None, zoom: int | None = None) -> folium.Map:
    """A map with only the reference outlines and labels: for picking a location by clicking (no
    legend: there are no reports on it to explain)."""
    empty = pd.DataFrame({"h3": pd.Series(dtype=np.int64), "count": pd.Series(dtype=np.int64)})
    return build_hex_map(
        empty, center=center or _FALLBACK_CENTER, zoom=zoom or BLANK_MAP_ZOOM, empty_text=None
    )


def nearest_town(latitude: float, longitude: float) -> tuple[str, float, float, float] | None:
    """The town label (``town_labels``) nearest a point: (name, latitude, longitude, distance in km),
    or None when the area has no town labels."""
    towns = town_labels()
    if towns.empty:
        return None
    lat = np.radians(towns["latitude"].to_numpy(dtype=np.float64))
    lon = np.radians(towns["longitude"].to_numpy(dtype=np.float64))
    lat0, lon0 = math.radians(float(latitude)), math.radians(float(longitude))
    # Haversine on a 6371 km sphere: towns are a few to tens of kilometres apart.
    a = np.sin((lat - lat0) / 2) ** 2 + math.cos(lat0) * np.cos(lat) * np.sin((lon - lon0) / 2) ** 2
    km = 2 * 6371.0 * np.arcsin(np.sqrt(np.minimum(a, 1.0)))
    i = int(np.argmin(km))
    return (
        str(towns["name"].iloc[i]),
        float(towns["latitude"].iloc[i]),
        float(towns["longitude"].iloc[i]),
        float(km[i]),
    )


# Room around a point and its nearest town, so the town's label (drawn above its point) is not cut by
# the map's edge, where the reference layer would hide it: a share of the span, plus degrees.
_TOWN_MARGIN = 1.3
_TOWN_PAD_DEG = (0.002, 0.003)  # latitude, longitude: ~200 m


def location_map(latitude: float, longitude: float, zoom: int, *, basemap="configured") -> folium.Map:
    """A map of one point, for showing where a report will be placed (Share information, Review).

    With a basemap (``basemap``: the configured one by default, a ``Basemap``, or None for none) the
    point is centred at ``zoom``. Without one, a point alone at street zoom would sit on blank ground:
    the view is fitted instead round the point (kept at the centre) and the nearest town label, at
    most ``zoom``, so the area and ward outlines and a town name say where it is, as the main map
    shows places without tiles. The caller adds its marker and passes the map through
    ``prepare_for_streamlit`` with the same ``basemap``."""
    if basemap == "configured":
        from hoth_geo.deliver import basemap as basemaps

        basemap = basemaps.load()
    point = (float(latitude), float(longitude))
    town = nearest_town(*point)
    if (basemap is not None and basemap.configured) or town is None:
        return blank_map(center=point, zoom=zoom)
    half_lat = abs(town[1] - point[0]) * _TOWN_MARGIN + _TOWN_PAD_DEG[0]
    half_lon = abs(town[2] - point[1]) * _TOWN_MARGIN + _TOWN_PAD_DEG[1]
    around = [[point[0] - half_lat, point[1] - half_lon], [point[0] + half_lat, point[1] + half_lon]]
    empty = pd.DataFrame({"h3": pd.Series(dtype=np.int64), "count": pd.Series(dtype=np.int64)})
    return build_hex_map(empty, zoom=zoom, empty_text=None, fit_bounds=around)


# --- Builder -------------------------------------------------------------------------------------


def _place_payload(places: pd.DataFrame, max_places: int) -> tuple[list, np.ndarray | None]:
    needed = ("name", "place_type", "latitude", "longitude", "count")
    missing = [c for c in needed if c not in places.columns]
    if missing:
        raise ValueError(f"places is missing column(s) {', '.join(missing)}; needs {', '.join(needed)}")
    p = places.loc[places["latitude"].notna() & places["longitude"].notna()]
    p = p.sort_values("count", ascending=False, kind="stable").head(max_places)
    if p.empty:
        return [], None
    counts = p["count"].astype(np.float64).to_numpy()
    top = max(counts.max(), 1.0)
    # Area, not radius, proportional to count; 4..14 px keeps small places visible and big ones
    # from hiding the hexagons underneath.
    radius = 4 + 10 * np.sqrt(np.clip(counts, 0, None) / top)
    rows = []
    for (_, r), rad in zip(p.iterrows(), radius, strict=True):
        ptype = r["place_type"]
        label = PLACE_TYPES.get(ptype, ptype) if isinstance(ptype, str) else ""
        rows.append(
            [
                round(float(r["latitude"]), 5),
                round(float(r["longitude"]), 5),
                round(float(rad), 1),
                _esc(r["name"]) if isinstance(r["name"], str) else "",
                _esc(label),
                _number(float(r["count"])),
            ]
        )
    lat = p["latitude"].astype(np.float64).to_numpy()
    lng = p["longitude"].astype(np.float64).to_numpy()
    return rows, np.array([[lat.min(), lng.min()], [lat.max(), lng.max()]])


_LEGEND_CORNERS = ("bottomright", "topright", "bottomleft", "topleft")  # preferred first


def _emptiest_corner(cells: np.ndarray, cls: np.ndarray) -> str:
    """The corner of the fitted view where the legend hides the least: the one whose corner box (40 % of
    the width, 45 % of the height) holds the fewest hexagons, the higher classes weighing more."""
    if not len(cells):
        return _LEGEND_CORNERS[0]
    lat, lng = hx.cell_centres(cells)
    x = (lng - lng.min()) / max(float(np.ptp(lng)), 1e-9)
    y = (lat - lat.min()) / max(float(np.ptp(lat)), 1e-9)
    weight = (1.0 + cls.astype(np.float64)) ** 2
    right, left, top, bottom = x > 0.6, x < 0.4, y > 0.55, y < 0.45
    boxes = {
        "bottomright": right & bottom,
        "topright": right & top,
        "bottomleft": left & bottom,
        "topleft": left & top,
    }
    cost = {corner: float(weight[box].sum()) for corner, box in boxes.items()}
    return min(_LEGEND_CORNERS, key=lambda c: (cost[c], _LEGEND_CORNERS.index(c)))


def build_hex_map(
    hexes: pd.DataFrame,
    *,
    value_col: str = "count",
    value_label: str = "Reports",
    tooltip_cols: Sequence[str] | Mapping[str, str] = (),
    places: pd.DataFrame | None = None,
    legend_title: str = "Reports per hexagon",
    center: tuple[float, float] | None = None,
    zoom: int | None = None,
    tiles: str | None = None,
    tiles_attribution: str | None = None,
    n_classes: int = 5,
    max_places: int = 50,
    height: str | int = "100%",
    context: pd.DataFrame | None = None,
    reference: bool = True,
    categories: Mapping[str, tuple[str, str]] | None = None,
    emphasise_top: int | None = None,
    empty_text: str | None = "No reports to show",
    quiet: Collection[str] = (),
    fit_bounds: Sequence[Sequence[float]] | None = None,
) -> folium.Map:
    """A folium map of hexagons classed and coloured by ``value_col``, with optional place markers.

    ``hexes`` has an int64 ``h3`` column (one row per cell; pass only cells with data), the value
    column and any ``tooltip_cols`` (a list of column names, or a mapping column -> label).
    ``places`` has name, place_type, latitude, longitude, count; the ``max_places`` with the highest
    count are drawn as circle markers. With no ``center`` the map fits the data (``zoom`` then caps
    the fitted zoom). ``tiles`` is an optional tile URL template from configuration; by default
    there are none, so the map needs no network at all.

    ``context`` (h3, count) is the police.uk context layer, drawn as outlines over the hexagons so it
    never reads as partnership reports. With ``categories`` (key -> (label, colour), legend order
    bottom to top), ``value_col`` holds category keys instead of numbers (Gi* or emerging classes);
    rows whose key is not in ``categories`` are not drawn. The ``emphasise_top`` highest classes
    (default: 2 on a numeric map, none on a categorical one, whose last categories need not be the
    most important) keep a minimum on-screen size: a dot of their colour while their hexagons are
    under ~12 px across, so the hottest hexagons are visible at the first, fitted zoom. ``reference`` adds the study-area and ward outlines and town
    labels from the shipped boundaries, so a map without tiles still shows where things are.
    ``empty_text`` is the legend's line when there are no hexagons (None: no legend then).
    ``quiet``: category keys drawn so they never draw the eye (the partner map's '<k' class): a pale
    fill with a faint dotted edge, hatched in the legend. ``fit_bounds`` ([[south, west], [north,
    east]]): fit these instead of the hexagons drawn (the Gi* map fits the whole area). Once drawn, the
    view is fitted again with room for the legend, so the legend never covers a hexagon.
    """
    if not isinstance(hexes, pd.DataFrame):
        raise ValueError(f"hexes must be a pandas DataFrame, got {type(hexes).__name__}")
    if isinstance(tooltip_cols, Mapping):
        tip_cols = dict(tooltip_cols)
    else:
        tip_cols = {c: str(c).replace("_", " ").capitalize() for c in tooltip_cols}
    for col in ("h3", value_col, *tip_cols):
        if col not in hexes.columns:
            raise ValueError(f"hexes has no column {col!r}; columns are {list(hexes.columns)}")
    if categories is not None:
        hexes = hexes[hexes[value_col].isin(list(categories))]
    elif not pd.api.types.is_numeric_dtype(hexes[value_col]):
        raise ValueError(f"value_col {value_col!r} must be numeric, got dtype {hexes[value_col].dtype}")
    elif not np.isfinite(hexes[value_col].astype(np.float64)).all():
        raise ValueError(f"value_col {value_col!r} has missing or infinite values; fill or drop them first")
    if not pd.api.types.is_integer_dtype(hexes["h3"]):
        raise ValueError(f"hexes['h3'] must hold int64 H3 cells, got dtype {hexes['h3'].dtype}")
    if hexes["h3"].duplicated().any():
        dup = int(hexes.loc[hexes["h3"].duplicated(), "h3"].iloc[0])
        raise ValueError(f"hexes['h3'] must be unique (aggregate first); {dup} appears more than once")
    if (hexes["h3"] == 0).any():
        raise ValueError("hexes['h3'] contains 0 (no cell); drop unlocated rows before mapping")
    if isinstance(max_places, bool) or not isinstance(max_places, int) or max_places < 0:
        raise ValueError(f"max_places must be a non-negative integer, got {max_places!r}")
    emphasise = (0 if categories is not None else 2) if emphasise_top is None else emphasise_top
    if isinstance(emphasise, bool) or not isinstance(emphasise, int) or emphasise < 0:
        raise ValueError(f"emphasise_top must be a non-negative integer, got {emphasise_top!r}")
    if tiles is not None and not tiles_attribution:
        raise ValueError(
            f"tiles_attribution is required with tiles={tiles!r} (tile providers require credit)"
        )

    if categories is not None:
        cls, classes = _category_classes(hexes[value_col], categories)
        present = set(hexes[value_col].tolist())
        class_keys = [k for k in categories if k in present]
    else:
        cls, classes = classify(hexes[value_col].astype(np.float64).to_numpy(), k=n_classes)
        class_keys = [""] * len(classes.upper)
    quiet_keys = set(quiet)
    order = np.lexsort((hexes["h3"].to_numpy(), cls))  # by class, then cell id (spatially local)
    cells = hexes["h3"].to_numpy(dtype=np.int64)[order]
    ring_json, hex_bounds = _encode_rings(cells, cls[order], len(classes.upper))
    ordered = hexes.iloc[order]
    col_labels = [_esc(value_label)] + [_esc(label) for label in tip_cols.values()]
    shown = ordered[value_col]
    if categories is not None:
        shown = shown.map({k: label for k, (label, _colour) in categories.items()})
    col_values = [_tooltip_values(shown)] + [_tooltip_values(ordered[c]) for c in tip_cols]

    place_rows, place_bounds = ([], None) if places is None else _place_payload(places, max_places)

    # Fit the hexagons; place markers only when there are none (places are context, and a far place
    # must not pull the view back out to the whole area).
    boxes = [hex_bounds] if len(cells) else [b for b in (place_bounds,) if b is not None]
    if fit_bounds is not None:  # e.g. the whole study area, for a map whose classes are not all drawn
        boxes = [np.asarray(fit_bounds, dtype=np.float64)]
    bounds = None
    if boxes:
        stacked = np.vstack(boxes)
        bounds = [
            [float(stacked[:, 0].min()), float(stacked[:, 1].min())],
            [float(stacked[:, 0].max()), float(stacked[:, 1].max())],
        ]

    meta = {
        "scale": COORD_SCALE,
        "classes": [
            {"color": col, "label": _esc(lab), "n": n, **({"quiet": True} if key in quiet_keys else {})}
            for col, lab, n, key in zip(
                classes.colors, classes.labels, classes.counts, class_keys, strict=True
            )
        ],
        "cols": col_labels,
        "vals": col_values,
        "places": place_rows,
        "title": _esc(legend_title),
        "unitOne": "hexagon",
        "unitMany": "hexagons",
        "emptyText": _esc(empty_text) if empty_text else "",
        "placesLabel": "Most-reported places",
        "placeCountLabel": _esc(value_label),
        "stroke": "#6b6b6b",
        "weight": 0.6,
        "fillOpacity": 0.72,
        "background": "#f3f3f0",
        "emphasise": min(emphasise, len(classes.upper)),
        "legendCorner": _emptiest_corner(cells, cls[order]),
        "fit": bounds if center is None else None,
        "fitMaxZoom": zoom,
        "minPx": _MIN_TOP_PX,
    }
    meta_json = _safe_json(meta)
    payload = '{"rings":[' + ",".join(ring_json) + "]," + meta_json[1:]

    m = folium.Map(
        location=list(center) if center is not None else list(_FALLBACK_CENTER),
        zoom_start=zoom if zoom is not None else BLANK_MAP_ZOOM,
        # Quarter zoom steps: the fitted view fills the map instead of leaving up to half of it empty.
        zoom_snap=0.25,
        zoom_delta=0.5,
        tiles=None,
        prefer_canvas=True,
        control_scale=True,
        height=height,
    )
    js, css = leaflet_assets(None)
    m.default_js = js
    m.default_css = css
    if tiles is not None:
        _BaseTiles(tiles=tiles, attr=tiles_attribution, name="Base map").add_to(m)
    if reference:
        m.add_child(_ReferenceLayer(reference_payload()))
    m.add_child(_HexLayer(payload, bounds))
    if context is not None and not context.empty:
        m.add_child(_ContextLayer(_context_payload(context)))
    # With no center the hexagon layer's script fits the view (beside the legend), not folium.
    return m


# --- Output for a file and for Streamlit ---------------------------------------------------------


def _walk(element):
    yield element
    for child in getattr(element, "_children", {}).values():
        yield from _walk(child)


def _retarget_assets(m: folium.Map, leaflet_js: str, leaflet_css: str) -> folium.Map:
    """A copy of ``m`` whose Leaflet assets point at the given URLs, unused folium assets dropped.

    Raises ValueError if anything still needs an external (http, https or protocol-relative) file,
    since with no network it would fail, and in st_folium one failing script stops the whole map.
    """
    if not isinstance(m, folium.Map):
        raise ValueError(f"m must be a folium.Map, got {type(m).__name__}")
    out = copy.deepcopy(m)
    for el in _walk(out):
        if isinstance(el, branca.colormap.ColorMap):
            raise ValueError(f"m contains a branca colormap ({el.get_name()}), which loads d3 from a CDN")
        if not isinstance(el, folium.elements.JSCSSMixin):
            continue
        js, css = [], []
        for name, url in el.default_js:
            if name == _LEAFLET_JS:
                js.append((name, leaflet_js))
            elif name not in _FOLIUM_UNUSED_ASSETS or not isinstance(el, folium.Map):
                js.append((name, url))
        for name, url in el.default_css:
            if name == _LEAFLET_CSS:
                css.append((name, leaflet_css))
            elif name not in _FOLIUM_UNUSED_ASSETS or not isinstance(el, folium.Map):
                css.append((name, url))
        for _, url in js + css:
            if re.match(r"^(https?:)?//", url, flags=re.IGNORECASE):
                raise ValueError(
                    f"m needs the external asset {url!r} (from {el.get_name()}); maps must work offline"
                )
        el.default_js = js
        el.default_css = css
    return out


def standalone_html(m: folium.Map) -> str:
    """One self-contained HTML page for ``m``: Leaflet JS and CSS inline, no external URLs."""
    out = _retarget_assets(m, _INLINE_MARK + "js", _INLINE_MARK + "css")
    page = out.get_root().render()
    js_tag = f'<script src="{_INLINE_MARK}js"></script>'
    css_tag = f'<link rel="stylesheet" href="{_INLINE_MARK}css"/>'
    if js_tag not in page or css_tag not in page:
        raise ValueError("m did not render its Leaflet asset links; is it a folium.Map?")
    # The vendored files contain no '</script' or '</style' (checked in tests), so they can be
    # inlined as they are.
    page = page.replace(js_tag, "<script>\n" + _leaflet_js() + "\n</script>", 1)
    page = page.replace(css_tag, "<style>\n" + _leaflet_css_inlined() + "\n</style>", 1)
    return page


def add_basemap(m: folium.Map, basemap, served_prefix: str = "") -> folium.Map:
    """Add ``basemap`` (a ``hoth_geo.deliver.basemap.Basemap``) under the hexagons of ``m``, in place.

    A local tile file is drawn from the app's own ``/tiles`` route, found at ``served_prefix`` from
    the map's page; a map with its own tiles already, or without a configured basemap, is left
    alone. Tiles are drawn beyond the file's deepest zoom by enlarging its deepest tiles."""
    from hoth_geo.deliver import basemap as basemaps

    tiles = basemaps.leaflet_tiles(basemap, served_prefix)
    if tiles is None or any(isinstance(el, folium.TileLayer) for el in _walk(m)):
        return m
    url, attribution, min_zoom, max_zoom = tiles
    _BaseTiles(
        tiles=url,
        attr=attribution,
        name="Base map",
        min_zoom=min_zoom,
        max_native_zoom=max_zoom,
        max_zoom=max(max_zoom, 20),
    ).add_to(m)
    return m


def prepare_for_streamlit(
    m: folium.Map, static_url_prefix: str | None = "app/static", basemap="configured"
) -> folium.Map:
    """A copy of ``m`` ready for ``streamlit_folium.st_folium`` with no internet.

    ``basemap``: the configured one by default (``hoth_geo.deliver.basemap.load()``), a ``Basemap``, or None
    for none; a local tile file is served by the app at ``/tiles`` (see ``add_basemap``).

    st_folium loads each ``default_js`` / ``default_css`` URL into its component iframe and gives
    up on the map if any fails, so the copy lists only vendored Leaflet:

    * ``static_url_prefix="app/static"`` (default): Leaflet from Streamlit static file serving
      (``server.enableStaticServing = true`` and ``hoth_geo/static`` available as ``static/``
      beside the app script, served at ``/app/static/``). A relative prefix is resolved from the
      component iframe (``<base>/component/<name>/index.html``), so it is written as
      ``../../app/static``; this keeps working under ``server.baseUrlPath``. A prefix starting with
      '/' is used as an absolute path on the same server.
    * ``static_url_prefix=None``: Leaflet travels inside the map as data: URIs (~215 kB more per
      render), needing no server configuration at all.
    """
    if static_url_prefix is None:
        js, css = _data_uris()
    else:
        if not isinstance(static_url_prefix, str) or not static_url_prefix.strip("/"):
            raise ValueError(f"static_url_prefix must be a non-empty path or None, got {static_url_prefix!r}")
        if re.match(r"^([a-z][a-z0-9+.-]*:)?//", static_url_prefix, flags=re.IGNORECASE):
            raise ValueError(f"static_url_prefix must be a path on the app server, got {static_url_prefix!r}")
        base = static_url_prefix.rstrip("/")
        if not base.startswith("/"):
            base = "../../" + base.lstrip("./")
        (((_, js),), ((_, css),)) = leaflet_assets(base)
    out = _retarget_assets(m, js, css)
    if basemap == "configured":
        from hoth_geo.deliver import basemap as basemaps

        basemap = basemaps.load()
    if basemap is not None:
        # The component iframe is <base>/component/<name>/index.html: the app's routes are two up.
        add_basemap(out, basemap, served_prefix="../..")
    return out


def clicked_cell(st_folium_result: Mapping | None, res: int) -> int | None:
    """The H3 cell (int) at ``res`` under the user's last click, from st_folium's return value."""
    if not st_folium_result:
        return None
    click = st_folium_result.get("last_clicked")
    if not click:
        return None
    lat, lng = click.get("lat"), click.get("lng")
    if lat is None or lng is None:
        return None
    # Leaflet reports longitudes beyond +/-180 after panning across the antimeridian.
    lng = ((float(lng) + 180.0) % 360.0) - 180.0
    return hx.latlng_to_cell(float(lat), lng, hx.check_res(res))


# --- Category legends: key -> (label, colour), legend bottom to top ------------------------------

GISTAR_CATEGORIES: dict[str, tuple[str, str]] = {
    "cold_99": ("Cold spot, 99 % confidence", "#2166ac"),
    "cold_95": ("Cold spot, 95 % confidence", "#67a9cf"),
    "cold_90": ("Cold spot, 90 % confidence", "#d1e5f0"),
    # Gi* marks a hexagon hot when its neighbourhood is: an empty hexagon beside a busy one is
    # "hot" too. Officers read a hot hexagon as a place with reports, so those are told apart.
    "hot_neighbour": ("Beside a hot spot: no reports here", "#e7d4e8"),
    "hot_90": ("Hot spot with reports, 90 % confidence", "#fddbc7"),
    "hot_95": ("Hot spot with reports, 95 % confidence", "#ef8a62"),
    "hot_99": ("Hot spot with reports, 99 % confidence", "#b2182b"),
}


def gistar_map_classes(classes: pd.Series, counts: pd.Series) -> pd.Series:
    """Gi* classes as drawn: a hot-spot hexagon with no reports of its own is 'hot_neighbour'."""
    classes = pd.Series(classes, dtype=object).reset_index(drop=True)
    empty = pd.Series(counts).reset_index(drop=True).to_numpy() == 0
    hot = classes.str.startswith("hot_").to_numpy(dtype=bool)
    return classes.mask(pd.Series(hot & empty), "hot_neighbour")


def format_p(p) -> str:
    """A p-value as a reader needs it: '< 0.001' below one in a thousand, else three decimals."""
    p = float(p)
    if not np.isfinite(p):
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


_EMERGING_HOT = {
    "historical": "#d9d9d9",
    "oscillating": "#cab2d6",
    "sporadic": "#fdbf6f",
    "diminishing": "#fee0b6",
    "persistent": "#b15928",
    "intensifying": "#67000d",
    "consecutive": "#e31a1c",
    "new": "#ff7f00",
}
_EMERGING_COLD = {
    "historical": "#f0f0f0",
    "oscillating": "#9e9ac8",
    "sporadic": "#a6cee3",
    "diminishing": "#deebf7",
    "persistent": "#08519c",
    "intensifying": "#08306b",
    "consecutive": "#2171b5",
    "new": "#6baed6",
}
EMERGING_CATEGORIES: dict[str, tuple[str, str]] = {
    **{f"{k}_cold": (f"{k.capitalize()} cold spot", c) for k, c in _EMERGING_COLD.items()},
    **{f"{k}_hot": (f"{k.capitalize()} hot spot", c) for k, c in _EMERGING_HOT.items()},
}

CHANGE_CATEGORIES: dict[str, tuple[str, str]] = {
    "down": ("Significantly fewer reports", "#2166ac"),
    "up": ("Significantly more reports", "#b2182b"),
}


# Upper edges of the count bands above k, for partner and public interactive maps.
_BAND_EDGES = (10, 20, 50)
# Band colours: suppressed and withheld cells are outside the count palette, so they never read as data.
_SMALL_COLOUR = "#bcbddc"
_WITHHELD_COLOUR = "#d9d9d9"
_ZERO_COLOUR = "#f0f0f0"


# --- Count bands ------------------------------------------------------------------------------------------


def _band_edges(k: int) -> list[int]:
    return [k, *(e for e in _BAND_EDGES if e > k)]


def band_categories(k: int) -> dict[str, tuple[str, str]]:
    """Count bands for ``maps.build_hex_map(categories=...)``: key -> (label, colour), lowest first.

    '0' (no reports), '<k', the bands k..9, 10..19, 20..49 and 50+ (those at or below k left out), and
    '[c]' for a count withheld to protect a small number elsewhere (its true value is k or more, so
    putting it in a band would say something about it).
    """
    edges = _band_edges(k)
    out: dict[str, tuple[str, str]] = {
        "zero": ("No reports", _ZERO_COLOUR),
        "withheld": ("Withheld ([c]) to protect a small number", _WITHHELD_COLOUR),
        "small": (f"Fewer than {k} (<{k})", _SMALL_COLOUR),
    }
    picks = np.round(np.linspace(0, len(PALETTE) - 1, len(edges))).astype(int) if len(edges) > 1 else [2]
    for i, lo in enumerate(edges):
        hi = edges[i + 1] - 1 if i + 1 < len(edges) else None
        label = f"{lo}–{hi}" if hi is not None and hi > lo else (f"{lo}" if hi == lo else f"{lo}+")
        out[f"band_{lo}"] = (label, PALETTE[int(picks[i])])
    return out


def count_bands(values, k: int) -> tuple[list[str], list[str]]:
    """(band key, band label) per suppressed count ('<k', '[c]' or a number >= k, or 0)."""
    from hoth_geo.access.privacy import SECONDARY_MARK, is_suppressed

    cats = band_categories(k)
    edges = _band_edges(k)
    keys = []
    for v in values:
        if is_suppressed(v):
            keys.append("withheld" if v == SECONDARY_MARK else "small")
            continue
        n = int(v)
        if n == 0:
            keys.append("zero")
        elif n < k:  # never reached with a suppressed column; a guard so a raw count cannot leak
            keys.append("small")
        else:
            keys.append(f"band_{max(e for e in edges if e <= n)}")
    return keys, [cats[key][0] for key in keys]


# --- Classes of counts as shared ----------------------------------------------------------------------

# The one 'fewer than k' class of partner and public maps (web map, PNG, PDF, briefing): a neutral
# light grey, so it reads as "counted but not shown" and never stands out more than the lightest class.
SUPPRESSED_COLOUR = "#f2f2f2"
SUPPRESSED_KEY = "suppressed"


def disclosed_count_classes(values, k: int) -> tuple[list[str | None], dict[str, tuple[str, str]]]:
    """Classes of hexagon counts as an audience sees them, for every map of them alike.

    ``values`` are counts after ``privacy.disclose_counts``: numbers (for partners and the public
    already perturbed) or the marks '<k' / '[c]'. The numbers are classed by ``classify`` (head/tail
    breaks, as on police maps), so the classes are made from the shared numbers only and a legend never
    shows a count that was not shared; the marks are one quiet class, ``SUPPRESSED_KEY``, drawn beneath
    the lowest real class. Returns the class key per value (None for a count of 0: no hexagon) and
    key -> (label, colour), lowest first: the suppressed class, then 'c0', 'c1', ... up the counts.
    """
    from hoth_geo.access.privacy import SECONDARY_MARK, is_suppressed

    values = list(values)
    marked = [is_suppressed(v) for v in values]
    numbers = np.array([0.0 if m else float(v) for v, m in zip(values, marked, strict=True)])
    if (numbers < 0).any() or not np.isfinite(numbers).all():
        bad = next(v for v, x in zip(values, numbers, strict=True) if not x >= 0)
        raise ValueError(f"counts must be non-negative numbers or suppression marks, got {bad!r}")
    shown = np.flatnonzero([not m and x > 0 for m, x in zip(marked, numbers, strict=True)])
    keys: list[str | None] = [SUPPRESSED_KEY if m else None for m in marked]
    categories: dict[str, tuple[str, str]] = {}
    if any(marked):
        label = f"Fewer than {k} reports ('<{k}')"
        if any(v == SECONDARY_MARK for v, m in zip(values, marked, strict=True) if m):
            label = f"Fewer than {k}, or withheld to protect one"
        categories[SUPPRESSED_KEY] = (label, SUPPRESSED_COLOUR)
    if shown.size:
        idx, classes = classify(numbers[shown])
        for i, j in zip(shown, idx, strict=True):
            keys[i] = f"c{j}"
        for j, (label, colour) in enumerate(zip(classes.labels, classes.colors, strict=True)):
            categories[f"c{j}"] = (label, colour)
    return keys, categories


def shared_count_map(table: pd.DataFrame, k: int, **kwargs) -> folium.Map:
    """The web map of hexagon counts as an audience may see them (``table``: h3 and ``count`` after
    ``privacy.disclose_counts``, e.g. ``exports.shareable_hexes(...).table``), in the classes of its
    PNG and PDF (``disclosed_count_classes``): the tooltip gives the count as shared, the '<k' class
    is quiet. Other ``build_hex_map`` arguments (tooltip_cols, legend_title, ...) pass through."""
    keys, categories = disclosed_count_classes(table["count"], k)
    frame = table.assign(count_class=keys, count_shared=[str(v) for v in table["count"]])
    frame = frame[frame["count_class"].notna()]
    tips = {"count_shared": "Reports (as shared)", **dict(kwargs.pop("tooltip_cols", {}))}
    return build_hex_map(
        frame[["h3", "count_class", *tips]],
        value_col="count_class",
        value_label="Class",
        tooltip_cols=tips,
        categories=categories,
        quiet={SUPPRESSED_KEY},
        emphasise_top=kwargs.pop("emphasise_top", 2),
        **kwargs,
    )
