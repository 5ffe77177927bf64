"""Static hexagon maps for meeting-room screens and print: PNG (16:9) or PDF, made offline.

``render_map`` draws one classed hexagon map (report counts, Gi* hot/cold spot classes or emerging
hot spot categories) with everything a map needs to be passed on safely: the protective marking in
the header and the footer, a title and a subtitle (dates and filters), a legend, a true scale bar, a
north arrow, town labels, the generation time, the data attributions and, for the synthetic demo set,
a 'SYNTHETIC DEMO DATA' watermark. The building blocks (``page_frame``, ``draw_map_panel``) are shared
with the briefing pack (``hoth_geo.deliver.briefing``).

Why these choices:

* **Projection.** Hexagons are drawn in a local transverse Mercator projection centred on the map
  (scale factor 1 on its central meridian), so a kilometre on the scale bar is a kilometre on the
  ground anywhere in the map (within 0.01 % over a county). Grid north is true north at the centre.
* **Sharing policy.** Every figure comes from the policy's view of the data: count maps go through
  ``privacy.disclose_counts`` (suppression, then cell-key perturbation, with the keys of the frame's
  ``cell_key`` column from ``privacy.hex_counts``) before they are classed, so for partner and public
  audiences every count from 1 to k-1 falls in one 'fewer than k' class and the other classes start
  at k or more. The resolution is checked with ``privacy.check_resolution``.
* **Untrusted text.** Titles, filters and names come from reports and users. Text is drawn with
  mathtext parsing and TeX switched off (``text.parse_math`` / ``text.usetex`` False), so a '$' in a
  place name is just a character; control characters are removed and long strings are cut.
* **No pyplot, no GUI.** Figures are built as ``matplotlib.figure.Figure`` objects and saved with the
  Agg and PDF canvases directly, so the global backend of the app or a notebook is left alone.
* **No network.** Nothing here fetches anything. Basemap tiles are drawn only from local files: the
  configured basemap when it is an MBTiles/PMTiles file (``hoth_geo.deliver.basemap``), or a tile folder
  (``tiles=`` or ``$HOTH_GEO_TILE_DIR``). A tile-server basemap is for the browser only; with none, a
  map shows the outlines and town labels as before. The basemap's attribution is printed on the map.
"""

from __future__ import annotations

import html
import io
import math
import re
import textwrap
import unicodedata
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import matplotlib
import matplotlib.patheffects as pe
import numpy as np
import pandas as pd
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrow, Rectangle
from PIL import Image
from pyproj import Transformer

from hoth_geo import hexes as hx
from hoth_geo import settings
from hoth_geo.access import privacy
from hoth_geo.analysis.hotspots import CLASSES as GISTAR_CLASSES
from hoth_geo.analysis.temporal import EMERGING_CATEGORIES as EMERGING_KEYS
from hoth_geo.deliver import basemap as basemaps
from hoth_geo.deliver.maps import (
    EMERGING_CATEGORIES,
    GISTAR_CATEGORIES,
    SUPPRESSED_KEY,
    disclosed_count_classes,
    town_labels,
)
from hoth_geo.deliver.maps import SUPPRESSED_COLOUR as SHARED_SUPPRESSED_COLOUR
from hoth_geo.local_time import local_now
from hoth_geo.validation import check_choice

__all__ = [
    "KINDS",
    "BOUNDARY_LAYERS",
    "PAGE_SIZES_IN",
    "ATTRIBUTIONS",
    "MapLayer",
    "plain",
    "text_rc",
    "resolve_policy",
    "map_layer",
    "attribution_lines",
    "TileSource",
    "tile_source",
    "boundary_frame",
    "town_positions",
    "page_frame",
    "draw_map_panel",
    "draw_inset",
    "mark_cells",
    "render_map",
    "render_map_to",
]

KINDS = ("count", "gistar", "emerging")
BOUNDARY_LAYERS = ("study_area", "wards", "lsoa")
# Paper sizes in inches (ISO A sizes), landscape as meetings print them.
PAGE_SIZES_IN: dict[str, tuple[float, float]] = {
    "A4-landscape": (11.69, 8.27),
    "A3-landscape": (16.54, 11.69),
}
# A 16:9 screen image is laid out on a 7.5-inch-high canvas whatever its pixel size, so the text
# has the same proportions on a 1280x720 projector as on a 3840x2160 panel (1080 px -> 144 dpi).
_SCREEN_HEIGHT_IN = 7.5

DEFAULT_VALUE_COLUMNS = {"count": "count", "gistar": "class", "emerging": "category"}

# Colours outside the class palettes, so a suppressed or background hexagon is never mistaken for data.
# The single 'fewer than k' class of partner/public count maps: a neutral light grey with a grey
# hatch, so it reads as "counted but not shown" and never stands out more than the lightest real
# class (emphasis follows the counts). The legend draws its swatch hatched the same way.
SUPPRESSED_COLOUR = SHARED_SUPPRESSED_COLOUR  # maps.SUPPRESSED_COLOUR: the web map uses it too
SUPPRESSED_HATCH = "///"
SUPPRESSED_HATCH_COLOUR = "#c8c8c8"
NOT_SIGNIFICANT_COLOUR = "#e6e6e6"
NO_PATTERN_COLOUR = "#e6e6e6"
MARKING_COLOUR = "#b00020"
_INK = "#222222"
_MUTED = "#555555"

# Short forms of the statements in data/ATTRIBUTION.md, one per source a map draws on.
ATTRIBUTIONS: dict[str, str] = {
    "boundaries": (
        "Boundaries: contains Ordnance Survey and Office for National Statistics data © Crown copyright "
        "and database right 2016, Open Government Licence v3.0; GeoJSON conversion © Martin Chorley, CC-BY 4.0."
    ),
    "postcodes": (
        "Postcodes and town positions: contains OS data © Crown copyright and database right 2025; "
        "Royal Mail data © Royal Mail copyright and database right 2025; National Statistics data "
        "© Crown copyright and database right 2025."
    ),
    "policeuk": (
        "Landmark places (data.police.uk): contains public sector information licensed under the "
        "Open Government Licence v3.0."
    ),
    "osm": "Places and basemap: © OpenStreetMap contributors (ODbL 1.0).",
}

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")


# --- Text -------------------------------------------------------------------------------------------


def plain(value, max_len: int = 200) -> str:
    """Untrusted text made safe to draw: one line, no control or bidi-override characters, cut to
    ``max_len`` with an ellipsis. '$' is kept as is: ``text_rc`` turns mathtext off, so it is literal
    (escaping it as '\\$' would print the backslash once parsing is off)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = unicodedata.normalize("NFC", str(value))
    text = _CONTROL.sub(" ", text)
    text = " ".join(text.split())
    if len(text) > max_len:
        text = text[: max_len - 1].rstrip() + "…"
    return text


@contextmanager
def text_rc():
    """matplotlib settings every hoth-geo figure is built and saved under.

    Mathtext and TeX are off so data can never be parsed as markup; PDF fonts are embedded as TrueType
    (Type 42) so ``pdftotext`` and screen readers get the text back.
    """
    with matplotlib.rc_context(
        {
            "text.usetex": False,
            "text.parse_math": False,
            "pdf.fonttype": 42,
            "font.family": "DejaVu Sans",
            "axes.unicode_minus": False,
            "hatch.linewidth": 0.8,
        }
    ):
        yield


def resolve_policy(policy) -> privacy.SharingPolicy:
    """A SharingPolicy, or an audience name ('police', 'partner', 'public') turned into its default one."""
    if isinstance(policy, str):
        return privacy.policy_for(policy)
    if isinstance(policy, privacy.SharingPolicy):
        return policy
    raise ValueError(
        f"policy must be a privacy.SharingPolicy or an audience name, got {type(policy).__name__}: {policy!r}"
    )


# --- Layers -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MapLayer:
    """What a hexagon map draws: cells, one colour each, and the legend in drawing order."""

    kind: str
    res: int
    cells: np.ndarray  # int64 H3 cells, background classes first so data draws on top
    colours: np.ndarray  # '#rrggbb' per cell
    legend: tuple[tuple[str, str, int], ...]  # (colour, label, hexagons), top to bottom
    legend_title: str
    notes: tuple[str, ...]  # short lines under the legend (suppression, what a hexagon is)
    hatched: tuple[str, ...] = ()  # colours drawn with the suppressed-class hatch (map and legend)


def _count_layer(frame: pd.DataFrame, col: str, policy) -> tuple[list, list, list, list[str]]:
    # The default totals rule assumes the map's grand total is known (it is on the briefing cover),
    # so a lone small hexagon cannot be recovered by subtraction either.
    # Partner and public counts go through the one disclosure path, with the cells' keys
    # (privacy.hex_counts gives them as the 'cell_key' column).
    keys = frame["cell_key"].to_numpy() if "cell_key" in frame.columns else None
    suppressed = privacy.disclose_counts(frame[["h3", col]].copy(), [col], policy, keys=keys).table
    values = suppressed[col].tolist()
    cells = suppressed["h3"].to_numpy(dtype=np.int64)
    # The classes every map of shared counts uses (the web map's too): head/tail breaks over the
    # numbers shown, one quiet class for the marks.
    try:
        keys, categories = disclosed_count_classes(values, policy.k)
    except ValueError as exc:
        raise ValueError(f"hexes[{col!r}] must hold non-negative counts: {exc}") from None
    key_arr = np.array([k if k is not None else "" for k in keys], dtype=object)
    colours = np.empty(len(cells), dtype=object)
    legend: list[tuple[str, str, int]] = []
    notes: list[str] = []
    for key, (label, colour) in reversed(list(categories.items())):  # legend top down
        sel = key_arr == key
        colours[sel] = colour
        if key == SUPPRESSED_KEY:
            label = f"{label}, grey hatch"
        else:
            label = f"{label} reports"
        legend.append((colour, label, int(sel.sum())))
    txt_idx = np.flatnonzero(key_arr == SUPPRESSED_KEY)
    num_idx = np.flatnonzero((key_arr != SUPPRESSED_KEY) & (key_arr != ""))  # a zero is no hexagon
    if policy.audience != "police":
        notes.append(
            f"Counts of 1 to {policy.k - 1} are not shown: those hexagons share one '<{policy.k}' class "
            f"({policy.audience} sharing policy)."
        )
    order = np.concatenate([txt_idx, num_idx])
    return cells[order], colours[order], legend, notes


def _category_layer(frame: pd.DataFrame, col: str, kind: str) -> tuple[list, list, list, list[str]]:
    if kind == "gistar":
        known, categories, background = GISTAR_CLASSES, GISTAR_CATEGORIES, "not_significant"
        bg_label, bg_colour = "Not significant", NOT_SIGNIFICANT_COLOUR
    else:
        known, categories, background = EMERGING_KEYS, EMERGING_CATEGORIES, "no_pattern"
        bg_label, bg_colour = "No pattern detected", NO_PATTERN_COLOUR
    keys = frame[col].astype(object).to_numpy()
    bad = [v for v in pd.unique(keys) if v not in known]
    if bad:
        raise ValueError(f"hexes[{col!r}] must hold {kind} classes ({', '.join(known)}), got {bad[0]!r}")
    cells = frame["h3"].to_numpy(dtype=np.int64)
    colours = np.empty(len(cells), dtype=object)
    legend: list[tuple[str, str, int]] = []
    bg = keys == background
    colours[bg] = bg_colour
    order = [np.flatnonzero(bg)]
    # Legend top to bottom from the strongest hot class, as the categories' own order runs upwards.
    for key in reversed(list(categories)):
        sel = keys == key
        if sel.any():
            label, colour = categories[key]
            colours[sel] = colour
            legend.append((colour, label, int(sel.sum())))
            order.append(np.flatnonzero(sel))
    if bg.any():
        legend.append((bg_colour, bg_label, int(bg.sum())))
    order_idx = np.concatenate(order) if order else np.zeros(0, dtype=np.int64)
    return cells[order_idx], colours[order_idx], legend, []


def map_layer(hexes: pd.DataFrame, *, kind: str, policy, value_col: str | None = None) -> MapLayer:
    """The classed layer of ``hexes`` (columns h3 and the value column) under ``policy``.

    kind 'count': report counts, suppressed for the policy and classed by natural breaks (maps.classify)
    over the counts that may be shown; kind 'gistar': ``hotspots.hotspots`` classes; kind 'emerging':
    ``temporal.emerging_hotspots`` categories. Default value columns: count, class, category.
    """
    check_choice(kind, "kind", KINDS)
    policy = resolve_policy(policy)
    if not isinstance(hexes, pd.DataFrame):
        raise ValueError(f"hexes must be a DataFrame with an 'h3' column, got {type(hexes).__name__}")
    col = value_col or DEFAULT_VALUE_COLUMNS[kind]
    missing = [c for c in ("h3", col) if c not in hexes.columns]
    if missing:
        raise ValueError(
            f"hexes is missing column {missing[0]!r} (columns: {', '.join(map(str, hexes.columns))})"
        )
    frame = hexes[hexes["h3"].to_numpy() != 0]
    cells = frame["h3"].to_numpy()
    if cells.size and not np.issubdtype(cells.dtype, np.integer):
        raise ValueError(f"hexes['h3'] must hold int64 H3 cells, got dtype {cells.dtype}")
    resolutions = np.unique(hx.cell_resolutions(cells.astype(np.int64))) if cells.size else np.array([])
    if resolutions.size > 1:
        raise ValueError(f"hexes['h3'] must hold cells of one resolution, got {resolutions.tolist()}")
    res = int(resolutions[0]) if resolutions.size else settings.DEFAULT_MAP_RES
    used = privacy.check_resolution(res, policy)
    coarsened = privacy.resolution_note(res, policy)
    if used != res:
        if kind != "count" or used > res:
            # Classes cannot be merged into a coarser hexagon: the statistic must be recomputed.
            raise privacy.NotAllowed(
                f"hexes: {kind} at H3 resolution {res} is not the resolution {policy.audience} maps use "
                f"({policy.coarsest_res}); compute it at resolution {used}"
            )
        # Counts add up: the finer hexagons are merged into their parents before suppression.
        # Cell keys add up the same way (modulo 256), so a parent gets the key of all its records.
        parents = hx.cells_to_parent(frame["h3"].to_numpy(dtype=np.int64), used)
        merged = pd.DataFrame({"h3": parents, col: pd.to_numeric(frame[col], errors="raise")})
        if "cell_key" in frame.columns:
            merged["cell_key"] = frame["cell_key"].to_numpy(dtype=np.int64)
        frame = merged.groupby("h3", as_index=False, sort=True).sum()
        if "cell_key" in frame.columns:
            frame["cell_key"] = frame["cell_key"] % privacy.CELL_KEY_MODULUS
        res = used
    if kind == "count":
        out_cells, colours, legend, notes = _count_layer(frame, col, policy)
        title = "Reports per hexagon"
    else:
        out_cells, colours, legend, notes = _category_layer(frame, col, kind)
        title = "Hot and cold spots (Gi*)" if kind == "gistar" else "Emerging hot spot categories"
    area = hx.cell_area_km2(res)
    notes = [*notes, f"Hexagons: H3 resolution {res}, about {area:.2g} km² each."]
    if coarsened:
        notes.append(coarsened)
    return MapLayer(
        kind=kind,
        res=res,
        cells=np.asarray(out_cells, dtype=np.int64),
        colours=np.asarray(colours, dtype=object),
        legend=tuple(legend),
        legend_title=title,
        notes=tuple(notes),
        hatched=(SUPPRESSED_COLOUR,) if kind == "count" and SUPPRESSED_COLOUR in set(colours) else (),
    )


# --- Geography --------------------------------------------------------------------------------------


@lru_cache(maxsize=16)
def _to_local(lat0: float, lng0: float) -> Transformer:
    local = f"+proj=tmerc +lat_0={lat0} +lon_0={lng0} +k=1 +x_0=0 +y_0=0 +ellps=WGS84 +units=m"
    return Transformer.from_crs("EPSG:4326", local, always_xy=True)


def _area_key() -> str:
    """The id of the study area in use (outlines and town labels follow it)."""
    from hoth_geo.intake.area import in_use

    return in_use().area_id


def boundary_frame(name: str) -> gpd.GeoDataFrame | None:
    """A boundary layer ('study_area', 'wards', 'lsoa') of the area in use; None when it has none
    (a partnership's own area has its outline only)."""
    return _boundary_frame(name, _area_key())


@lru_cache(maxsize=16)
def _boundary_frame(name: str, area_id: str) -> gpd.GeoDataFrame | None:
    from hoth_geo.intake.area import in_use

    current = in_use()
    if not current.shipped:
        if name != "study_area":
            return None
        return gpd.GeoDataFrame({"name": [current.name]}, geometry=[current.boundary], crs="EPSG:4326")
    path = settings.BOUNDARIES_DIR / f"{name}.geojson"
    if not path.is_file():
        return None
    return gpd.read_file(path).to_crs("EPSG:4326")


def _projected_lines(name: str, lat0: float, lng0: float) -> list[np.ndarray]:
    """Outline rings of a boundary layer in local metres (cached: the county outline is reused a lot)."""
    return _projected_lines_of(name, _area_key(), lat0, lng0)


@lru_cache(maxsize=16)
def _projected_lines_of(name: str, _area_id: str, lat0: float, lng0: float) -> list[np.ndarray]:
    frame = boundary_frame(name)
    if frame is None:
        return []
    import shapely

    tr = _to_local(lat0, lng0)
    rings = []
    for geom in frame.geometry:
        for poly in shapely.get_parts(geom):
            for ring in [poly.exterior, *poly.interiors]:
                xy = np.asarray(ring.coords)
                x, y = tr.transform(xy[:, 0], xy[:, 1])
                rings.append(np.column_stack([x, y]))
    return rings


def town_positions() -> tuple[tuple[str, float, float], ...]:
    """(town, lat, lng) for the labelled towns, the same labels as the web map (``maps.town_labels``)."""
    return tuple((str(t.name), float(t.latitude), float(t.longitude)) for t in town_labels().itertuples())


def _lnglat_extent(layer: MapLayer, extent: str) -> tuple[float, float, float, float]:
    if extent == "area":
        frame = boundary_frame("study_area")
        if frame is not None:
            return tuple(float(v) for v in frame.total_bounds)
    if layer.cells.size:
        lat, lng = hx.cell_centres(layer.cells)
        pad = hx.edge_length_m(layer.res) * 2 / 111_000
        return (
            float(lng.min()) - pad,
            float(lat.min()) - pad,
            float(lng.max()) + pad,
            float(lat.max()) + pad,
        )
    frame = boundary_frame("study_area")
    if frame is not None:
        return tuple(float(v) for v in frame.total_bounds)
    return (-2.4, 54.4, -1.2, 55.0)  # County Durham, only for an empty map with no boundary files


def attribution_lines(
    *, boundaries: str | None, towns: bool, osm: bool = False, tiles: bool | TileSource | None = False
) -> list[str]:
    """The attribution statements for what a map shows (see data/ATTRIBUTION.md). ``tiles``: the
    basemap drawn (a ``TileSource`` adds its own credit; True, a bare tile folder, OpenStreetMap's)."""
    lines = []
    if boundaries is not None:
        lines.append(ATTRIBUTIONS["boundaries"])
    if towns:
        lines.append(ATTRIBUTIONS["postcodes"])
    # Report locations are geocoded against the gazetteer (police.uk landmarks), so it always applies.
    lines.append(ATTRIBUTIONS["policeuk"])
    credit = tiles.attribution if isinstance(tiles, TileSource) else ""
    if credit:
        lines.append(f"Basemap: {credit}")
    if osm or (tiles and not credit):
        lines.append(ATTRIBUTIONS["osm"])
    return lines


# --- Basemap tiles (optional, local only) -------------------------------------------------------------


@dataclass(frozen=True)
class TileSource:
    """Where a static map reads its basemap tiles: a local MBTiles/PMTiles basemap or an XYZ folder.
    ``read(z, x, y)`` gives one tile's image bytes in web (XYZ) numbering, or None where there is none."""

    read: Callable[[int, int, int], bytes | None]
    min_zoom: int
    max_zoom: int
    attribution: str  # plain text; '' for a bare tile folder (taken to be OpenStreetMap)
    name: str


def _from_basemap(basemap: basemaps.Basemap) -> TileSource | None:
    # A tile server is fetched by each browser; a file for print is made offline, so it draws none.
    if basemap.source not in ("mbtiles", "pmtiles"):
        return None
    if not Path(basemap.path).is_file():
        raise basemaps.BasemapError(
            f"the configured basemap file {basemap.path} is missing: restore it, or change or clear the "
            "basemap (Basemap page or 'hoth-geo basemap')"
        )
    return TileSource(
        read=lambda z, x, y: basemaps.read_tile(basemap, z, x, y),
        min_zoom=basemap.min_zoom,
        max_zoom=basemap.max_zoom,
        attribution=plain(html.unescape(basemap.attribution), 200),
        name=basemap.name,
    )


def _from_folder(folder: Path) -> TileSource | None:
    zooms = sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit())
    if not zooms:
        return None

    def read(z: int, x: int, y: int) -> bytes | None:
        path = folder / str(z) / str(x) / f"{y}.png"
        return path.read_bytes() if path.is_file() else None

    return TileSource(read=read, min_zoom=zooms[0], max_zoom=zooms[-1], attribution="", name=folder.name)


def tile_source(tiles=None) -> TileSource | None:
    """The basemap a static map draws, or None for none.

    ``tiles``: None (default) for ``$HOTH_GEO_TILE_DIR`` if set, else the configured basemap
    (``basemap.load()``) when it is a local MBTiles/PMTiles file; False for none; a ``basemap.Basemap``;
    a ``TileSource``; or the path of an .mbtiles/.pmtiles file or of an XYZ folder ({z}/{x}/{y}.png).
    A tile server (``url``) basemap is not drawn: nothing here goes on the network."""
    if tiles is False:
        return None
    if isinstance(tiles, TileSource):
        return tiles
    if isinstance(tiles, basemaps.Basemap):
        return _from_basemap(tiles)
    if tiles is None:
        tiles = settings.env("HOTH_GEO_TILE_DIR") or None
        if tiles is None:
            return _from_basemap(basemaps.load())
    path = Path(tiles)
    if path.is_dir():
        return _from_folder(path)
    if path.is_file() and path.suffix.lower() in (".mbtiles", ".pmtiles"):
        return _from_basemap(basemaps.from_tile_file(path))
    raise ValueError(
        f"tiles: {str(path)!r} is neither a local tile folder nor an .mbtiles/.pmtiles file that exists"
    )


_WEB_MERCATOR_M_PER_PX_Z0 = 156_543.033_928  # metres per pixel of a 256-px tile at zoom 0, equator
_MAX_TILES = 400  # per drawing; a map that would need more uses a coarser zoom


@lru_cache(maxsize=16)
def _to_lnglat(lat0: float, lng0: float) -> Transformer:
    local = f"+proj=tmerc +lat_0={lat0} +lon_0={lng0} +k=1 +x_0=0 +y_0=0 +ellps=WGS84 +units=m"
    return Transformer.from_crs(local, "EPSG:4326", always_xy=True)


def _draw_tiles(
    ax, source: TileSource, limits, centre: tuple[float, float], size_px: tuple[int, int]
) -> bool:
    """Draw the basemap under the hexagons, filling the axes ``limits`` ((x0, x1), (y0, y1) in the
    local metres of the tmerc projection centred on ``centre`` (lat, lng)) at ``size_px`` pixels.

    The tiles are Web Mercator: they are read at the zoom whose pixels are nearest the output's,
    stitched into one mosaic, and each output pixel is sampled (bilinear) at its own longitude and
    latitude, so streets sit under the right hexagons at every corner of a county map (placing tiles
    by their corners would be out by over 100 m there). Returns whether any tile was drawn."""
    (x0, x1), (y0, y1) = limits
    w, h = (max(int(v), 2) for v in size_px)
    lat0, lng0 = centre
    # Output pixel centres -> lng/lat, on a coarse grid (the projection is smooth) then interpolated.
    step = 8
    gx = np.linspace(x0, x1, max(w // step, 2) + 1)
    gy = np.linspace(y1, y0, max(h // step, 2) + 1)
    GX, GY = np.meshgrid(gx, gy)
    glng, glat = _to_lnglat(lat0, lng0).transform(GX, GY)
    m_per_px = (x1 - x0) / w
    ideal = math.log2(_WEB_MERCATOR_M_PER_PX_Z0 * math.cos(math.radians(lat0)) / m_per_px)
    zoom = int(np.clip(round(ideal), source.min_zoom, source.max_zoom))

    def world(z):
        n = 256 * 2**z
        wx = (glng + 180.0) / 360.0 * n
        wy = (1.0 - np.arcsinh(np.tan(np.radians(glat))) / math.pi) / 2.0 * n
        return wx, wy

    wx, wy = world(zoom)
    while zoom > source.min_zoom:
        ntiles = (int(wx.max() // 256) - int(wx.min() // 256) + 1) * (
            int(wy.max() // 256) - int(wy.min() // 256) + 1
        )
        if ntiles <= _MAX_TILES:
            break
        zoom -= 1
        wx, wy = world(zoom)
    tx0, tx1 = int(wx.min() // 256), int(wx.max() // 256)
    ty0, ty1 = int(wy.min() // 256), int(wy.max() // 256)
    if (tx1 - tx0 + 1) * (ty1 - ty0 + 1) > _MAX_TILES * 4:
        return False
    mosaic = np.zeros(((ty1 - ty0 + 1) * 256, (tx1 - tx0 + 1) * 256, 4), dtype=np.float32)
    drawn = False
    for tx in range(tx0, tx1 + 1):
        for ty in range(ty0, ty1 + 1):
            if not (0 <= tx < 2**zoom and 0 <= ty < 2**zoom):
                continue
            data = source.read(zoom, tx, ty)
            if not data:
                continue
            try:
                tile = Image.open(io.BytesIO(data)).convert("RGBA")
            except (OSError, ValueError):
                continue  # an unreadable tile is left blank rather than stopping the map
            if tile.size != (256, 256):
                tile = tile.resize((256, 256), Image.Resampling.BILINEAR)
            r, c = (ty - ty0) * 256, (tx - tx0) * 256
            mosaic[r : r + 256, c : c + 256] = np.asarray(tile, dtype=np.float32) / 255.0
            drawn = True
    if not drawn:
        return False
    # Every output pixel's position in the mosaic: the coarse grid interpolated to full size.
    from scipy.ndimage import map_coordinates

    rows = np.linspace(0, GX.shape[0] - 1, h)
    cols = np.linspace(0, GX.shape[1] - 1, w)
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    mx = map_coordinates(wx - tx0 * 256 - 0.5, [rr, cc], order=1)
    my = map_coordinates(wy - ty0 * 256 - 0.5, [rr, cc], order=1)
    out = np.empty((h, w, 4), dtype=np.float32)
    for band in range(4):
        out[..., band] = map_coordinates(mosaic[..., band], [my, mx], order=1, mode="constant", cval=0.0)
    ax.imshow(
        np.clip(out, 0, 1),
        extent=(x0, x1, y0, y1),
        origin="upper",
        interpolation="nearest",
        zorder=0,
        resample=False,
    )
    return True


def _draw_tile_attribution(ax, source: TileSource) -> None:
    """The basemap's credit in the map's lower right corner, as a web map shows it."""
    if not source.attribution:
        return
    ax.text(
        0.995,
        0.006,
        plain(source.attribution, 120),
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize=6.5,
        color=_INK,
        bbox={"boxstyle": "square,pad=0.25", "facecolor": "white", "edgecolor": "none", "alpha": 0.8},
        zorder=9,
    )


# --- Drawing ----------------------------------------------------------------------------------------


def _nice_length(target_m: float) -> float:
    exp = 10 ** math.floor(math.log10(target_m))
    for m in (5, 2, 1):
        if m * exp <= target_m:
            return m * exp
    return exp


def _halo_text(ax, x, y, text, **kw):
    """Text with a white halo that stays real text in a PDF.

    A path effect turns the glyphs into outlines, which ``pdftotext`` and screen readers cannot read,
    so the halo is a stroked copy drawn underneath and the visible text is drawn plainly on top.
    """
    zorder = kw.pop("zorder", 7)
    under = {**kw, "color": "white"}
    ax.text(x, y, text, zorder=zorder, path_effects=[pe.Stroke(linewidth=2.6, foreground="white")], **under)
    return ax.text(x, y, text, zorder=zorder + 0.1, **kw)


def _scale_bar(ax, *, compact: bool = False) -> None:
    """A two-segment scale bar in the lower left, in true metres (the axes are in local metres);
    ``compact`` (small insets) labels only its length, so the numbers cannot run into each other."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    length = _nice_length((x1 - x0) * 0.2)
    left = x0 + (x1 - x0) * 0.03
    bottom = y0 + (y1 - y0) * 0.04
    h = (y1 - y0) * 0.012
    half = length / 2
    for i, colour in enumerate(("#333333", "#ffffff", "#333333", "#ffffff")):
        ax.add_patch(
            Rectangle(
                (left + i * half / 2, bottom),
                half / 2,
                h,
                facecolor=colour,
                edgecolor="#333333",
                lw=0.6,
                zorder=6,
            )
        )
    unit, div = ("km", 1000) if length >= 1000 else ("m", 1)
    marks = ((length, length),) if compact else ((0, 0), (half, half), (length, length))
    for pos, value in marks:
        label = f"{value / div:g}" + (f" {unit}" if pos == length else "")
        _halo_text(
            ax,
            left + pos,
            bottom + h * 1.6,
            label,
            ha="center",
            va="bottom",
            fontsize=7.5,
            color=_INK,
            zorder=7,
        )


def _north_arrow(ax) -> None:
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    x = x1 - (x1 - x0) * 0.04
    y = y1 - (y1 - y0) * 0.16
    length = (y1 - y0) * 0.08
    ax.add_patch(
        FancyArrow(
            x,
            y,
            0,
            length,
            width=(x1 - x0) * 0.006,
            head_width=(x1 - x0) * 0.02,
            head_length=length * 0.45,
            length_includes_head=True,
            color="#333333",
            zorder=7,
        )
    )
    _halo_text(
        ax,
        x,
        y + length * 1.08,
        "N",
        ha="center",
        va="bottom",
        fontsize=10,
        fontweight="bold",
        color=_INK,
        zorder=7,
    )


def page_frame(
    fig: Figure,
    *,
    title: str,
    subtitle: str = "",
    marking: str,
    generated_at: datetime | None = None,
    demo: bool = False,
    page_text: str | None = None,
    footer_note: str = "",
    attributions: Sequence[str] = (),
) -> tuple[float, float, float, float]:
    """Header (title, subtitle, marking) and footer (marking, generated time, page, attributions) on
    ``fig``; returns the content area (left, bottom, width, height) in figure fractions.

    The marking is drawn at the top right and centred in the footer, so it survives cropping and
    is seen on every printed page.
    """
    wi, hi = fig.get_size_inches()
    pad_x = 0.35 / wi
    marking_text = plain(marking, 60).upper() or "OFFICIAL"
    generated = (generated_at or local_now()).strftime("%d %b %Y %H:%M")  # the partnership's clock

    # Header.
    top = 1 - 0.22 / hi
    fig.text(
        1 - pad_x,
        top,
        marking_text,
        ha="right",
        va="top",
        fontsize=11,
        fontweight="bold",
        color="white",
        bbox={"boxstyle": "square,pad=0.35", "facecolor": MARKING_COLOUR, "edgecolor": "none"},
    )
    title_width_chars = int((wi - 3.6) * 72 / (15 * 0.6))
    fig.text(
        pad_x,
        top,
        plain(title, 160)[: max(title_width_chars, 20)],
        ha="left",
        va="top",
        fontsize=15,
        fontweight="bold",
        color=_INK,
    )
    sub_lines = textwrap.wrap(plain(subtitle, 400), width=max(int((wi - 0.7) * 72 / (9 * 0.55)), 30))[:2]
    y = top - 0.36 / hi
    for line in sub_lines:
        fig.text(pad_x, y, line, ha="left", va="top", fontsize=9, color=_MUTED)
        y -= 0.17 / hi
    if demo:
        fig.text(
            1 - pad_x,
            top - 0.36 / hi,
            settings.DEMO_LABEL + " - not real reports",
            ha="right",
            va="top",
            fontsize=9,
            fontweight="bold",
            color=MARKING_COLOUR,
        )
    if demo:
        y = min(y, top - 0.53 / hi)  # below the demo line, which sits under the marking
    header_bottom = y - 0.06 / hi
    fig.add_artist(
        matplotlib.lines.Line2D(
            [pad_x, 1 - pad_x],
            [header_bottom, header_bottom],
            color="#bbbbbb",
            lw=0.8,
            transform=fig.transFigure,
        )
    )

    # Footer, bottom up: marking line, then attributions above it.
    foot = 0.2 / hi
    fig.text(
        0.5,
        foot,
        marking_text,
        ha="center",
        va="bottom",
        fontsize=10,
        fontweight="bold",
        color=MARKING_COLOUR,
    )
    left_text = f"Generated {generated} by hoth-geo"
    if footer_note:
        left_text += "  |  " + plain(footer_note, 120)
    fig.text(pad_x, foot, left_text, ha="left", va="bottom", fontsize=7, color=_MUTED)
    if page_text:
        fig.text(1 - pad_x, foot, page_text, ha="right", va="bottom", fontsize=8, color=_INK)
    y = foot + 0.22 / hi
    wrap = max(int((wi - 0.7) * 72 / (6 * 0.52)), 40)
    lines = [ln for a in attributions for ln in textwrap.wrap(plain(a, 600), width=wrap)]
    for line in reversed(lines):
        fig.text(pad_x, y, line, ha="left", va="bottom", fontsize=6, color=_MUTED)
        y += 0.11 / hi
    content_bottom = y + 0.08 / hi
    return (pad_x, content_bottom, 1 - 2 * pad_x, header_bottom - 0.08 / hi - content_bottom)


def _legend_panel(ax, layer: MapLayer, extra_notes: Sequence[str]) -> None:
    """Legend entries and notes written top down in points, so spacing does not depend on the panel size."""
    ax.set_axis_off()
    bbox = ax.get_window_extent().transformed(ax.figure.dpi_scale_trans.inverted())
    height_pt = max(bbox.height * 72, 1)
    width_pt = max(bbox.width * 72, 1)
    y = height_pt

    def at(y_pt: float) -> float:
        return y_pt / height_pt

    y -= 12
    ax.text(
        0,
        at(y),
        layer.legend_title,
        fontsize=10.5,
        fontweight="bold",
        va="center",
        color=_INK,
        transform=ax.transAxes,
    )
    y -= 8
    sw_w, sw_h, row = 16, 11, 16
    wrap = max(int((width_pt - sw_w - 8) / (8.5 * 0.55)), 12)
    if not layer.legend:
        y -= row
        ax.text(
            0,
            at(y),
            "No hexagons to show for this selection.",
            fontsize=8.5,
            va="center",
            color=_MUTED,
            transform=ax.transAxes,
        )
    for colour, label, n in layer.legend:
        y -= row
        ax.add_patch(
            Rectangle(
                (0, at(y) - sw_h / 2 / height_pt),
                sw_w / width_pt,
                sw_h / height_pt,
                transform=ax.transAxes,
                facecolor=colour,
                edgecolor="#666666",
                hatch=SUPPRESSED_HATCH if colour in layer.hatched else None,
                hatchcolor=SUPPRESSED_HATCH_COLOUR,
                lw=0.5,
            )
        )
        text = f"{plain(label, 80)}  ({n:,})"
        parts = textwrap.wrap(text, width=wrap)
        ax.text(
            (sw_w + 6) / width_pt,
            at(y),
            parts[0],
            fontsize=8.5,
            va="center",
            color=_INK,
            transform=ax.transAxes,
        )
        for extra in parts[1:]:
            y -= 11
            ax.text(
                (sw_w + 6) / width_pt,
                at(y),
                extra,
                fontsize=8.5,
                va="center",
                color=_INK,
                transform=ax.transAxes,
            )
    y -= 6
    ax.text(
        0,
        at(y - 6),
        "(n) = hexagons in the class",
        fontsize=7,
        va="center",
        color=_MUTED,
        transform=ax.transAxes,
    )
    y -= 14
    note_wrap = max(int(width_pt / (7.5 * 0.52)), 16)
    for note in [*layer.notes, *extra_notes]:
        y -= 6
        for line in textwrap.wrap(plain(note, 400), width=note_wrap):
            y -= 10
            if y < 6:
                return
            ax.text(0, at(y), line, fontsize=7.5, va="center", color=_MUTED, transform=ax.transAxes)


def _cell_verts(cells: np.ndarray, tr: Transformer) -> list[np.ndarray]:
    rings = hx.cell_boundaries(cells)
    sizes = [len(r) for r in rings]
    allxy = np.concatenate(rings)
    x, y = tr.transform(allxy[:, 0], allxy[:, 1])
    return np.split(np.column_stack([x, y]), np.cumsum(sizes)[:-1])


TILE_FILL_ALPHA = 0.7  # hexagon opacity over a basemap (the web map's is 0.72)


def _draw_cells(
    ax, layer: MapLayer, tr: Transformer, keep: np.ndarray, tiles_drawn: bool, *, seams: str | None = None
) -> None:
    """The layer's hexagons (those where ``keep``) in their class colours; hatched classes hatched.
    ``seams``: an edge colour that shows each hexagon apart (insets), else edges in the face colour.
    Over basemap tiles the hexagons are translucent (as on the web map), more so with seams, so the
    streets show through."""
    if not keep.any():
        return
    alpha = (0.55 if seams else TILE_FILL_ALPHA) if tiles_drawn else 1.0
    cells = layer.cells[keep]
    colours = np.asarray(layer.colours, dtype=object)[keep]
    verts = _cell_verts(cells, tr)
    hatched = np.isin(colours, list(layer.hatched)) if layer.hatched else np.zeros(len(cells), dtype=bool)
    plain_idx = np.flatnonzero(~hatched)
    if plain_idx.size:
        shown = list(colours[plain_idx])
        edges = seams or shown
        # Not antialiased: every interior pixel is exactly the class colour (legible, testable), and
        # an edge in the face colour closes the hairline seams PDF viewers show between polygons.
        ax.add_collection(
            PolyCollection(
                [verts[i] for i in plain_idx],
                facecolors=shown,
                edgecolors=edges,
                linewidths=0.8 if seams else 0.25,
                antialiased=False,
                alpha=alpha,
                zorder=2,
            )
        )
    hatch_idx = np.flatnonzero(hatched)
    if hatch_idx.size:
        # Drawn first in the layer order (beneath the data classes) and as quiet as the lightest class.
        ax.add_collection(
            PolyCollection(
                [verts[i] for i in hatch_idx],
                facecolors=list(colours[hatch_idx]),
                edgecolors=list(colours[hatch_idx]),
                hatch=SUPPRESSED_HATCH,
                hatchcolor=SUPPRESSED_HATCH_COLOUR,
                linewidths=0.25,
                antialiased=False,
                alpha=alpha,
                zorder=1.9,
            )
        )


def draw_map_panel(
    fig: Figure,
    rect: tuple[float, float, float, float],
    layer: MapLayer,
    *,
    boundaries: str | None = "wards",
    towns: bool = True,
    north_arrow: bool = True,
    demo: bool = False,
    extent: str = "area",
    legend_width_in: float = 3.0,
    extra_notes: Sequence[str] = (),
    tiles=None,
) -> bool:
    """The map (hexagons, outlines, towns, scale bar, north arrow) and its legend inside ``rect``
    (figure fractions); returns whether basemap tiles were drawn. ``tiles``: see ``tile_source``."""
    if boundaries is not None:
        check_choice(boundaries, "boundaries", BOUNDARY_LAYERS)
    check_choice(extent, "extent", ("area", "data"))
    source = tile_source(tiles)
    left, bottom, width, height = rect
    wi, _ = fig.get_size_inches()
    legend_w = legend_width_in / wi
    gap = 0.2 / wi
    map_ax = fig.add_axes((left, bottom, width - legend_w - gap, height))
    legend_ax = fig.add_axes((left + width - legend_w, bottom, legend_w, height))

    w, s, e, n = _lnglat_extent(layer, extent)
    lat0, lng0 = round((s + n) / 2, 3), round((w + e) / 2, 3)
    tr = _to_local(lat0, lng0)
    xs, ys = tr.transform([w, e, w, e], [s, s, n, n])
    xmin, xmax, ymin, ymax = min(xs), max(xs), min(ys), max(ys)
    # Widen the extent (never crop it) to the panel's shape, so the map fills the panel at 1:1 aspect.
    box_w, box_h = (width - legend_w - gap) * wi, height * fig.get_size_inches()[1]
    span_x, span_y = (xmax - xmin) * 1.06, (ymax - ymin) * 1.06
    if span_x / span_y < box_w / box_h:
        span_x = span_y * box_w / box_h
    else:
        span_y = span_x * box_h / box_w
    cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
    limits = ((cx - span_x / 2, cx + span_x / 2), (cy - span_y / 2, cy + span_y / 2))
    map_ax.set_xlim(*limits[0])
    map_ax.set_ylim(*limits[1])
    map_ax.set_aspect("equal", adjustable="box")
    map_ax.set_xticks([])
    map_ax.set_yticks([])
    for spine in map_ax.spines.values():
        spine.set_edgecolor("#999999")
        spine.set_linewidth(0.6)
    map_ax.set_facecolor("#ffffff")
    map_ax._hoth_to_local = tr  # for mark_cells

    tiles_drawn = False
    if source is not None:
        dpi = max(fig.dpi, _RASTER_DPI)
        tiles_drawn = _draw_tiles(map_ax, source, limits, (lat0, lng0), (box_w * dpi, box_h * dpi))
        if tiles_drawn:
            _draw_tile_attribution(map_ax, source)

    _draw_cells(map_ax, layer, tr, np.ones(len(layer.cells), dtype=bool), tiles_drawn)
    if boundaries is not None:
        if boundaries != "study_area":
            inner = _projected_lines(boundaries, lat0, lng0)
            for ring in inner:
                map_ax.plot(ring[:, 0], ring[:, 1], color="#8c8c8c", lw=0.35, zorder=3)
        for ring in _projected_lines("study_area", lat0, lng0):
            map_ax.plot(ring[:, 0], ring[:, 1], color="#333333", lw=1.0, zorder=4)
    # plot() may have widened the limits: restore the chosen extent.
    map_ax.set_xlim(*limits[0])
    map_ax.set_ylim(*limits[1])
    if towns:
        x0, x1 = map_ax.get_xlim()
        y0, y1 = map_ax.get_ylim()
        # Labels that would overlap one already placed are left out (towns come most important
        # first), as the web map does at each zoom. Sizes are estimated from the font: 8 pt bold.
        pt_per_m = box_w * 72 / (x1 - x0)
        placed: list[tuple[float, float, float, float]] = []
        for town, lat, lng in town_positions():
            tx, ty = tr.transform(lng, lat)
            if not (x0 < tx < x1 and y0 < ty < y1):
                continue
            name = plain(town, 40)
            half_w = len(name) * 8 * 0.33 / pt_per_m + 2 / pt_per_m
            bottom_y = ty + (y1 - y0) * 0.008
            box = (tx - half_w, bottom_y - 2 / pt_per_m, tx + half_w, bottom_y + 11 / pt_per_m)
            if any(box[0] < q[2] and box[2] > q[0] and box[1] < q[3] and box[3] > q[1] for q in placed):
                continue
            placed.append(box)
            map_ax.plot([tx], [ty], marker="o", ms=2.2, color="#222222", zorder=8)
            _halo_text(
                map_ax,
                tx,
                bottom_y,
                name,
                ha="center",
                va="bottom",
                fontsize=8,
                fontweight="bold",
                color="#222222",
                zorder=8,
            )
    _scale_bar(map_ax)
    if north_arrow:
        _north_arrow(map_ax)
    if demo:
        map_ax.text(
            0.5,
            0.5,
            settings.DEMO_LABEL,
            transform=map_ax.transAxes,
            ha="center",
            va="center",
            rotation=28,
            fontsize=34,
            fontweight="bold",
            color="#b00020",
            alpha=0.13,
            zorder=9,
        )
    _legend_panel(legend_ax, layer, extra_notes)
    return tiles_drawn


_RASTER_DPI = 150  # the basemap's pixels per inch in a PDF (a PNG uses its own, finer or not)
INSET_HALF_SPAN_EDGES = 2.6  # half the inset's width, in hexagon edge lengths: the hexagon and its ring


def draw_inset(
    fig: Figure,
    rect: tuple[float, float, float, float],
    layer: MapLayer,
    focus_cell: int,
    *,
    label: str = "",
    caption: str = "",
    boundaries: str | None = "wards",
    tiles=None,
) -> bool:
    """A zoomed view of one hexagon of ``layer`` (and its neighbours) inside ``rect``: the same cells
    in the same colours as the main map, the focus hexagon outlined, a scale bar, the ``label`` in the
    corner (e.g. 'A', also placed on the main map) and the ``caption`` (its streets) wrapped under it.
    Only what the layer holds is drawn, so an inset never shows more than its map. Returns whether
    basemap tiles were drawn."""
    source = tile_source(tiles)
    left, bottom, width, height = rect
    wi, hi = fig.get_size_inches()
    caption_lines = textwrap.wrap(plain(caption, 300), width=max(int(width * wi * 72 / (8 * 0.55)), 12))[:3]
    cap_h = (0.05 + 0.15 * len(caption_lines)) / hi
    ax = fig.add_axes((left, bottom + cap_h, width, height - cap_h))
    focus = np.int64(focus_cell)
    lat0_, lng0_ = hx.cell_centres(np.array([focus], dtype=np.int64))
    lat0, lng0 = round(float(lat0_[0]), 4), round(float(lng0_[0]), 4)
    tr = _to_local(lat0, lng0)
    half = hx.edge_length_m(layer.res) * INSET_HALF_SPAN_EDGES
    box_w, box_h = width * wi, (height - cap_h) * hi
    half_x, half_y = (half * box_w / box_h, half) if box_w > box_h else (half, half * box_h / box_w)
    ax.set_xlim(-half_x, half_x)
    ax.set_ylim(-half_y, half_y)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_facecolor("#ffffff")
    for spine in ax.spines.values():
        spine.set_edgecolor("#333333")
        spine.set_linewidth(0.8)
    tiles_drawn = False
    if source is not None:
        dpi = max(fig.dpi, _RASTER_DPI)
        limits = ((-half_x, half_x), (-half_y, half_y))
        tiles_drawn = _draw_tiles(ax, source, limits, (lat0, lng0), (box_w * dpi, box_h * dpi))
    if layer.cells.size:
        lat, lng = hx.cell_centres(layer.cells)
        x, y = tr.transform(lng, lat)
        reach = max(half_x, half_y) + 2 * hx.edge_length_m(layer.res)
        near = (np.abs(x) < reach) & (np.abs(y) < reach)
        _draw_cells(ax, layer, tr, near, tiles_drawn, seams="#ffffff")
    outline = _cell_verts(np.array([focus], dtype=np.int64), tr)[0]
    ax.plot(*np.vstack([outline, outline[:1]]).T, color="#111111", lw=1.6, zorder=5)
    if boundaries is not None:
        layers = ["study_area"] if boundaries == "study_area" else [boundaries, "study_area"]
        for name in layers:
            for ring in _projected_lines(name, lat0, lng0):
                ax.plot(
                    ring[:, 0],
                    ring[:, 1],
                    color="#8c8c8c" if name != "study_area" else "#333333",
                    lw=0.5 if name != "study_area" else 1.0,
                    zorder=3,
                )
    ax.set_xlim(-half_x, half_x)
    ax.set_ylim(-half_y, half_y)
    _scale_bar(ax, compact=True)
    if label:
        ax.text(
            0.03,
            0.96,
            plain(label, 4),
            transform=ax.transAxes,
            ha="left",
            va="top",
            fontsize=11,
            fontweight="bold",
            color="white",
            bbox={"boxstyle": "square,pad=0.25", "facecolor": "#111111", "edgecolor": "none"},
            zorder=9,
        )
    y = bottom + cap_h - 0.04 / hi
    for line in caption_lines:
        fig.text(left, y, line, ha="left", va="top", fontsize=8, color=_INK)
        y -= 0.15 / hi
    return tiles_drawn


def mark_cells(fig: Figure, map_ax, cells: Sequence[int], labels: Sequence[str]) -> None:
    """Letters beside hexagons on a map drawn by ``draw_map_panel`` (which stores its projection on the
    axes), so each inset can be found on the main map."""
    tr = getattr(map_ax, "_hoth_to_local", None)
    if tr is None or not len(cells):
        return
    lat, lng = hx.cell_centres(np.asarray(cells, dtype=np.int64))
    x, y = tr.transform(lng, lat)
    x0, x1 = map_ax.get_xlim()
    for xi, yi, text in zip(x, y, labels, strict=True):
        map_ax.annotate(
            plain(text, 4),
            (xi, yi),
            # Below and to the right: town labels sit above their towns, where hot spots often are.
            xytext=(xi + (x1 - x0) * 0.04, yi - (x1 - x0) * 0.035),
            fontsize=9,
            fontweight="bold",
            color="white",
            ha="center",
            va="center",
            bbox={"boxstyle": "square,pad=0.2", "facecolor": "#111111", "edgecolor": "none"},
            arrowprops={"arrowstyle": "-", "color": "#111111", "lw": 0.9},
            zorder=10,
        )


def _figure(fmt: str, size_px, page: str) -> tuple[Figure, float]:
    if fmt == "png":
        if (
            not isinstance(size_px, tuple | list)
            or len(size_px) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in size_px)
            or not all(320 <= v <= 8000 for v in size_px)
        ):
            raise ValueError(
                f"size_px must be (width, height) in whole pixels, each 320..8000, got {size_px!r}"
            )
        w, h = size_px
        dpi = min(w, h) / _SCREEN_HEIGHT_IN
        return Figure(figsize=(w / dpi, h / dpi), dpi=dpi), dpi
    check_choice(page, "page", tuple(PAGE_SIZES_IN))
    return Figure(figsize=PAGE_SIZES_IN[page], dpi=100), 100


def render_map(
    hexes: pd.DataFrame,
    *,
    kind: str = "count",
    policy,
    title: str,
    subtitle: str = "",
    value_col: str | None = None,
    fmt: str = "png",
    size_px: tuple[int, int] = (1920, 1080),
    page: str = "A4-landscape",
    boundaries: str | None = "wards",
    towns: bool = True,
    north_arrow: bool = True,
    extent: str = "area",
    demo: bool = False,
    generated_at: datetime | None = None,
    osm: bool = False,
    tiles=None,
) -> bytes:
    """One hexagon map as PNG or PDF bytes.

    - ``hexes``: columns ``h3`` (int64 cells, one resolution) and the value column (``value_col``,
      default 'count' / 'class' / 'category' for kind 'count' / 'gistar' / 'emerging').
    - ``policy``: a ``privacy.SharingPolicy`` (or an audience name): its marking is printed in the
      header and footer, count maps are suppressed by it, and the resolution is checked against it.
    - ``subtitle``: the date range and filters, as ``ReportFilter.describe()`` gives them.
    - ``fmt`` 'png' is ``size_px`` exactly (16:9 1920x1080 by default, for a meeting-room screen);
      'pdf' is one ``page`` ('A4-landscape' or 'A3-landscape').
    - ``boundaries``: outlines from data/boundaries ('study_area', 'wards', 'lsoa') or None;
      the study-area outline is drawn with wards and LSOAs too.
    - ``extent``: 'area' (the whole study area) or 'data' (the hexagons drawn).
    - ``demo``: the reports are the synthetic demo set: watermark and header line.
    - ``osm``: places from OpenStreetMap were used (adds its attribution).
    - ``tiles``: the basemap (see ``tile_source``); by default the configured basemap when it is a
      local MBTiles/PMTiles file (or ``$HOTH_GEO_TILE_DIR``), else none; False for none.
    """
    check_choice(fmt, "fmt", ("png", "pdf"))
    policy = resolve_policy(policy)
    if not isinstance(title, str) or not title.strip():
        raise ValueError(f"title must be a non-empty string, got {title!r}")
    with text_rc():
        layer = map_layer(hexes, kind=kind, policy=policy, value_col=value_col)
        fig, dpi = _figure(fmt, size_px, page)
        source = tile_source(tiles)
        attributions = attribution_lines(boundaries=boundaries, towns=towns, osm=osm, tiles=source)
        rect = page_frame(
            fig,
            title=title,
            subtitle=subtitle,
            marking=policy.marking,
            generated_at=generated_at,
            demo=demo,
            footer_note=f"Audience: {policy.audience}",
            attributions=attributions,
        )
        draw_map_panel(
            fig,
            rect,
            layer,
            boundaries=boundaries,
            towns=towns,
            north_arrow=north_arrow,
            demo=demo,
            extent=extent,
            tiles=source if source is not None else False,
        )
        buf = io.BytesIO()
        if fmt == "png":
            fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": "hoth-geo"})
        else:
            with PdfPages(
                buf, metadata={"Title": plain(title), "Subject": policy.marking, "Creator": "hoth-geo"}
            ) as pdf:
                pdf.savefig(fig)
        return buf.getvalue()


def render_map_to(path: str | Path, hexes: pd.DataFrame, **kwargs) -> Path:
    """``render_map`` written to ``path``; the format follows the suffix (.png or .pdf) unless ``fmt`` is given."""
    p = Path(path)
    fmt = kwargs.pop("fmt", None) or p.suffix.lower().lstrip(".")
    if fmt not in ("png", "pdf"):
        raise ValueError(f"path must end in .png or .pdf (or pass fmt), got {str(p)!r}")
    data = render_map(hexes, fmt=fmt, **kwargs)
    p.write_bytes(data)
    return p
