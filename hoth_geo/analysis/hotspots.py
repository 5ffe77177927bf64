"""Hotspot analytics on H3 hexagons: the study-area grid, Getis-Ord Gi* with FDR, and a smoothed
intensity (kernel density) layer.

Everything here is a pure function of DataFrames and arrays. The two expensive, data-independent
steps are cached: the study-area grid per (area, resolution) and the Gi* neighbour graph per
(grid, k), so a filter change only recomputes the statistic (a sparse matrix-vector product).

See docs/hotspots.md for the method, the class rule and references.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from scipy import sparse
from scipy.spatial import cKDTree
from scipy.special import ndtr
from shapely.geometry import MultiPolygon, Polygon

from hoth_geo import hexes, settings
from hoth_geo.errors import DataConditionError, InvalidInput, TooFewReports
from hoth_geo.hexes import (
    cell_centres,
    cell_resolutions,
    cells_to_parent,
    edge_length_m,
    latlng_to_cells,
    polygon_to_cells,
)
from hoth_geo.selection import ReportFilter, filter_mask, located
from hoth_geo.validation import check_grid

__all__ = [
    "CLASSES",
    "CONFIDENCE_LEVELS",
    "MIN_REPORTS",
    "HOTSPOT_COLUMNS",
    "TooFewReports",
    "GiResult",
    "DensityResult",
    "count_grid",
    "density",
    "read_boundary",
    "study_area_grid",
    "neighbour_graph",
    "gi_star",
    "benjamini_hochberg",
    "hotspots",
    "default_bandwidth_m",
    "kernel_density",
]

# Fewer located reports than this and a hotspot map says more about chance than about places.
MIN_REPORTS = 30

# (confidence level, significance level a) from the strictest down; the class names follow ArcGIS.
CONFIDENCE_LEVELS: tuple[tuple[int, float], ...] = ((99, 0.01), (95, 0.05), (90, 0.10))
CLASSES: tuple[str, ...] = (
    "hot_99",
    "hot_95",
    "hot_90",
    "cold_99",
    "cold_95",
    "cold_90",
    "not_significant",
)
HOTSPOT_COLUMNS: tuple[str, ...] = ("h3", "count", "z", "p", "p_fdr", "class", "n_neighbours")


@dataclass(frozen=True)
class GiResult:
    """Getis-Ord Gi* hot and cold spots on a grid (``gi_star``, ``hotspots``).

    - ``table``: one row per grid cell, sorted by h3 (columns: see ``gi_star``);
    - ``warning``: a sentence for the reader, or None: the permutation caveat
      (``permutation_fdr_warning``) and, from ``hotspots``, the grid's warning (``study_area_grid``);
    - ``n_reports``: the reports analysed (the sum of the counts, rounded);
    - ``res``, ``k``, ``fdr``, ``permutations``: the settings the table was computed with.
    """

    table: pd.DataFrame
    warning: str | None
    n_reports: int
    res: int
    k: int
    fdr: bool
    permutations: int | None


@dataclass(frozen=True)
class DensityResult:
    """A kernel density surface on a grid (``kernel_density``, ``density``).

    - ``table``: columns h3 (every grid cell, sorted), density (reports per km²) and, from
      ``density``, count (reports in the cell) before it;
    - ``bandwidth_m``: the kernel radius used, in metres (given, or ``default_bandwidth_m``);
    - ``res``: the grid's H3 resolution;
    - ``warning``: the grid's warning from ``count_grid`` (``density`` only), or None.
    """

    table: pd.DataFrame
    bandwidth_m: float
    res: int
    warning: str | None = None


# A points-only grid is the convex hull of the reports grown by this much (and by at least two hex
# edges), so reports on the hull still have a ring of cells around them to be compared with.
HULL_BUFFER_M = 1_000.0

_GRID_CACHE: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()
_GRAPH_CACHE: OrderedDict[tuple[str, int], sparse.csr_matrix] = OrderedDict()
_CACHE_SIZE = 16


# --- Small helpers ----------------------------------------------------------------------------------


def _cache_put(cache: OrderedDict, key, value) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > _CACHE_SIZE:
        cache.popitem(last=False)


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _readonly(arr: np.ndarray) -> np.ndarray:
    # Cached arrays are shared between callers; a write would silently corrupt later results.
    arr.setflags(write=False)
    return arr


@lru_cache(maxsize=32)
def _local_metres(lat0: float, lng0: float) -> tuple[Transformer, Transformer]:
    """(WGS84 -> metres, metres -> WGS84) on an azimuthal equidistant projection centred on (lat0, lng0).

    Distances from the centre are exact and other distances are within 0.1 % out to ~100 km; unlike
    British National Grid this works for any deployment area.
    """
    local = f"+proj=aeqd +lat_0={lat0:.4f} +lon_0={lng0:.4f} +units=m +ellps=WGS84"
    return (
        Transformer.from_crs("EPSG:4326", local, always_xy=True),
        Transformer.from_crs(local, "EPSG:4326", always_xy=True),
    )


def _project(lat: np.ndarray, lng: np.ndarray, lat0: float, lng0: float) -> np.ndarray:
    # Rounding the centre lets nearby calls share one cached transformer.
    x, y = _local_metres(round(lat0, 4), round(lng0, 4))[0].transform(lng, lat)
    return np.column_stack([x, y])


def _counts_on_grid(counts: pd.DataFrame, grid: np.ndarray, res: int) -> np.ndarray:
    """The count of every grid cell (0 where counts has no row), validating ``counts``."""
    if not isinstance(counts, pd.DataFrame) or not {"h3", "count"} <= set(counts.columns):
        got = list(counts.columns) if isinstance(counts, pd.DataFrame) else type(counts).__name__
        raise ValueError(f"counts must be a DataFrame with columns 'h3' and 'count', got {got}")
    cells = counts["h3"].to_numpy()
    values = counts["count"].to_numpy()
    if cells.size and not np.issubdtype(cells.dtype, np.integer):
        raise ValueError(f"counts['h3'] must hold int64 H3 cells, got dtype {cells.dtype}")
    if values.size and not np.issubdtype(values.dtype, np.number):
        raise ValueError(f"counts['count'] must be numeric, got dtype {values.dtype}")
    values = values.astype(np.float64)
    if values.size and (~np.isfinite(values) | (values < 0)).any():
        bad = values[~np.isfinite(values) | (values < 0)][0]
        raise ValueError(f"counts['count'] must be finite and non-negative, got {float(bad)!r}")
    cells = cells.astype(np.int64)
    if cells.size:
        cres = cell_resolutions(cells)
        if (cres != res).any():
            raise ValueError(
                f"counts['h3'] must be cells at the grid resolution {res}, got resolution "
                f"{int(cres[cres != res][0])} (cell {int(cells[cres != res][0])})"
            )
    dup = pd.Index(cells).duplicated()
    if dup.any():
        raise ValueError(f"counts['h3'] must not repeat a cell, got {int(cells[dup][0])} twice")
    idx = np.searchsorted(grid, cells)
    idx_c = np.minimum(idx, len(grid) - 1)
    outside = grid[idx_c] != cells
    if outside.any():
        raise ValueError(
            f"counts['h3'] has {int(outside.sum())} cells outside grid_cells (first {int(cells[outside][0])}): "
            "build the grid with study_area_grid(..., points=...) so data cells are added"
        )
    x = np.zeros(len(grid), dtype=np.float64)
    x[idx] = values
    return x


# --- Study area -------------------------------------------------------------------------------------


def _polygonal(geom) -> Polygon | MultiPolygon:
    """The polygon parts of a geometry (collections from unions can carry stray lines/points)."""
    if isinstance(geom, Polygon | MultiPolygon):
        return geom
    parts = [g for g in shapely.get_parts(geom) if isinstance(g, Polygon | MultiPolygon)]
    return shapely.union_all(parts) if parts else Polygon()


def read_boundary(path: str | Path, *, layer: str | int | None = None) -> Polygon | MultiPolygon:
    """A user-supplied study area: the union of every polygon feature in a GeoJSON or GeoPackage file,
    reprojected to WGS84 (lng, lat).

    A file without a CRS is taken as WGS84 only when its coordinates look like degrees; otherwise it
    is refused, because guessing a projected CRS would put the study area in the wrong place.
    """
    p = Path(path)
    if not p.is_file():
        raise InvalidInput(f"path: boundary file {str(p)!r} does not exist")
    try:
        gdf = gpd.read_file(p, layer=layer) if layer is not None else gpd.read_file(p)
    except Exception as exc:  # pyogrio raises several types; the user needs the file named either way
        raise InvalidInput(f"path: could not read boundary file {str(p)!r}: {exc}") from exc
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    if gdf.empty:
        raise InvalidInput(f"path: boundary file {str(p)!r} has no geometries")
    if gdf.crs is None:
        minx, miny, maxx, maxy = gdf.total_bounds
        if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
            raise InvalidInput(
                f"path: boundary file {str(p)!r} has no CRS and its coordinates {gdf.total_bounds.tolist()} "
                "are not longitude/latitude degrees; save it with a CRS"
            )
        gdf = gdf.set_crs("EPSG:4326")
    else:
        gdf = gdf.to_crs("EPSG:4326")
    area = _polygonal(shapely.union_all(shapely.make_valid(gdf.geometry.to_numpy())))
    if area.is_empty:
        raise InvalidInput(f"path: boundary file {str(p)!r} holds no polygons (only points or lines)")
    return area


def _default_area() -> Polygon | MultiPolygon | None:
    """The deployment's study area (``hoth_geo.intake.area.in_use``): the area an administrator set, else
    the shipped County Durham and Darlington boundary."""
    from hoth_geo.intake import area as area_mod

    try:
        return area_mod.in_use().boundary
    except FileNotFoundError:
        return None


def _default_area_name() -> str:
    from hoth_geo.intake import area as area_mod

    try:
        return area_mod.in_use().name
    except FileNotFoundError:
        return "the study area"


def _overlaps(cells: np.ndarray, area: Polygon | MultiPolygon) -> np.ndarray:
    """True for each cell whose hexagon overlaps ``area``."""
    cells = np.asarray(cells, dtype=np.int64)
    if not len(cells):
        return np.zeros(0, dtype=bool)
    shapely.prepare(area)
    return shapely.intersects(area, hexes.cell_polygons(cells))


def _fine_of(points) -> np.ndarray:
    """The points as H3 cells at the finest resolution given (for counting reports per cell)."""
    arr = np.asarray(points)
    if arr.ndim == 1:
        fine = arr.astype(np.int64)
        return fine[fine != 0]
    lng, lat = arr[:, 0].astype(np.float64), arr[:, 1].astype(np.float64)
    ok = np.isfinite(lat) & np.isfinite(lng)
    return latlng_to_cells(lat[ok], lng[ok], 15)


def _area_cells(area: Polygon | MultiPolygon, res: int) -> np.ndarray:
    key = (_digest(shapely.to_wkb(area, hex=False)), res)
    hit = _GRID_CACHE.get(key)
    if hit is None:
        hit = _readonly(polygon_to_cells(area, res))
        _cache_put(_GRID_CACHE, key, hit)
    else:
        _GRID_CACHE.move_to_end(key)
    return hit


def _point_cells(points, res: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cells at res, lat, lng) of the points: H3 cells of any finer-or-equal resolution, or an
    (n, 2) float array of (lng, lat). Missing points (cell 0 or NaN) are dropped."""
    arr = np.asarray(points)
    if arr.ndim == 1 and (arr.size == 0 or np.issubdtype(arr.dtype, np.integer)):
        fine = arr.astype(np.int64)
        fine = fine[fine != 0]
        cells = cells_to_parent(fine, res)
        # Centres of the finest given cells stand in for the points (res 11: within ~25 m).
        lat, lng = cell_centres(np.unique(fine))
        return np.unique(cells), lat, lng
    if arr.ndim == 2 and arr.shape[1] == 2 and np.issubdtype(arr.dtype, np.number):
        lng, lat = arr[:, 0].astype(np.float64), arr[:, 1].astype(np.float64)
        ok = np.isfinite(lat) & np.isfinite(lng)
        lat, lng = lat[ok], lng[ok]
        return np.unique(latlng_to_cells(lat, lng, res)), lat, lng
    raise ValueError(
        "points must be a 1-D array of int64 H3 cells or an (n, 2) array of (lng, lat), "
        f"got shape {arr.shape} and dtype {arr.dtype}"
    )


def _hull_area(lat: np.ndarray, lng: np.ndarray, buffer_m: float) -> Polygon | MultiPolygon:
    lat0, lng0 = float(np.mean(lat)), float(np.mean(lng))
    xy = _project(lat, lng, lat0, lng0)
    hull = shapely.convex_hull(shapely.multipoints(xy)).buffer(buffer_m)
    back = _local_metres(round(lat0, 4), round(lng0, 4))[1]
    return shapely.transform(hull, lambda c: np.column_stack(back.transform(c[:, 0], c[:, 1])))


def study_area_grid(
    res: int,
    area: Polygon | MultiPolygon | str | Path | None = None,
    *,
    points=None,
    area_name: str | None = None,
) -> tuple[np.ndarray, str | None]:
    """Every H3 cell at ``res`` of the study area, plus any data cell outside it; and a warning for
    the app (None when there is nothing to say).

    ``area``: a WGS84 (Multi)Polygon, or a path to a GeoJSON/GeoPackage read with ``read_boundary``;
    default the deployment's shipped study area (County Durham + Darlington). When there is no area
    at all, the grid is the convex hull of ``points`` buffered by max(1 km, two hex edges), and the
    warning says so. ``points``: the located reports, as int64 H3 cells (any resolution at or finer
    than ``res``) or an (n, 2) array of (lng, lat); their cells outside the area are added so no
    report is dropped from the analysis.

    Grids are cached per (area, res); the returned array is sorted, unique and read-only.
    """
    if isinstance(res, bool) or not isinstance(res, int | np.integer) or not 0 <= int(res) <= 15:
        raise ValueError(f"res must be an integer H3 resolution 0..15, got {res!r}")
    res = int(res)
    if isinstance(area, str | Path):
        area = read_boundary(area)
    elif area is not None and not isinstance(area, Polygon | MultiPolygon):
        raise ValueError(
            f"area must be a shapely (Multi)Polygon in WGS84 or a file path, got {type(area).__name__}"
        )
    area_label = area_name or "the study area"
    if area is None:
        area = _default_area()
        area_label = area_name or _default_area_name()
    pcells = lat = lng = None
    if points is not None:
        pcells, lat, lng = _point_cells(points, res)
    warnings: list[str] = []
    if area is None:
        if pcells is None or lat.size == 0:
            raise DataConditionError(
                "area: no study area boundary is available and no points were given to outline one; "
                "supply a boundary file (GeoJSON or GeoPackage) or the report locations"
            )
        buffer_m = max(HULL_BUFFER_M, 2 * edge_length_m(res))
        area = _polygonal(_hull_area(lat, lng, buffer_m))
        warnings.append(
            f"No study area boundary is available, so the grid is the area around the {lat.size:,} "
            f"report locations (their convex hull plus {buffer_m / 1000:.1f} km). Hotspots are relative "
            "to that area only; load a boundary file for a reliable analysis."
        )
    grid = _area_cells(area, res)
    if pcells is not None and pcells.size:
        extra = np.setdiff1d(pcells, grid, assume_unique=True)
        if extra.size:
            grid = _readonly(np.union1d(grid, extra))
            # The grid holds the hexagons whose centre is in the area. A hexagon straddling the
            # boundary with its centre just outside is still part of the area: adding it when it
            # holds reports is expected and says nothing. Only hexagons wholly outside are worth a
            # warning (reports accepted within the import's buffer, or kept from an earlier area).
            beyond = extra[~_overlaps(extra, area)]
            if beyond.size:
                n_beyond = int(np.isin(cells_to_parent(_fine_of(points), res), beyond).sum())
                warnings.append(
                    f"{beyond.size:,} hexagon(s) with reports lie outside the study area"
                    + (f" ({area_label})" if area_label != "the study area" else "")
                    + f", holding {n_beyond:,} report(s) (points accepted within "
                    f"{settings.STUDY_AREA_BUFFER_M / 1000:g} km of the boundary, or stored before the area "
                    "was changed); they were added to the grid so that no report is left out."
                )
    return grid, (" ".join(warnings) or None)


# --- Neighbour graph --------------------------------------------------------------------------------


def _disk_offsets(k: int) -> np.ndarray:
    """(di, dj) of every cell within grid distance k in H3 local IJ coordinates, (0, 0) included.

    In H3's IJ system the six neighbours are ±(1, 0), ±(0, 1), ±(1, 1), so the grid distance of an
    offset is max(|di|, |dj|, |di - dj|).
    """
    r = np.arange(-k, k + 1)
    di, dj = np.meshgrid(r, r, indexing="ij")
    di, dj = di.ravel(), dj.ravel()
    keep = np.maximum(np.maximum(np.abs(di), np.abs(dj)), np.abs(di - dj)) <= k
    return np.column_stack([di[keep], dj[keep]])


def _graph_from_disks(grid: np.ndarray, k: int) -> sparse.csr_matrix:
    """Reference construction: one h3 grid_disk call per cell (~4 µs each at k=1)."""
    disks = [hexes.grid_disk(c, k) for c in grid.tolist()]
    lengths = np.fromiter((len(d) for d in disks), dtype=np.int64, count=len(disks))
    flat = np.concatenate(disks) if disks else np.zeros(0, dtype=np.int64)
    rows = np.repeat(np.arange(len(grid)), lengths)
    pos = np.minimum(np.searchsorted(grid, flat), len(grid) - 1)
    inside = grid[pos] == flat
    return _csr(rows[inside], pos[inside], len(grid))


def _graph_from_ij(grid: np.ndarray, k: int) -> sparse.csr_matrix | None:
    """Vectorised construction from H3 local IJ coordinates; None when IJ cannot be trusted here.

    One cell_to_local_ij call per cell (~0.35 µs, ten times cheaper than grid_disk), then all
    neighbour lookups are integer arithmetic and one searchsorted. Local IJ is undefined far from
    the origin and distorted around the twelve pentagons, so any failure, any pentagon base cell, or
    any disagreement with grid_disk on a sample of cells sends the caller to the reference method.
    """
    # One representative cell per base cell (bits 45-51 of the index).
    _, first = np.unique((grid >> np.int64(45)) & np.int64(0x7F), return_index=True)
    if any(hexes.is_pentagon(hexes.cell_parent(int(c), 0)) for c in grid[first]):
        return None
    origin = int(grid[len(grid) // 2])
    try:
        ij = hexes.local_ij(origin, grid)
    except ValueError:  # cells too far from the origin or across pentagon distortion
        return None
    i0, j0 = ij[:, 0].min() - k, ij[:, 1].min() - k
    height = int(ij[:, 1].max() - j0 + k + 1)
    key = (ij[:, 0] - i0) * height + (ij[:, 1] - j0)
    order = np.argsort(key, kind="stable")
    skey = key[order]
    if (np.diff(skey) == 0).any():
        return None
    offsets = _disk_offsets(k)
    nkey = key[:, None] + (offsets[:, 0] * height + offsets[:, 1])[None, :]
    pos = np.minimum(np.searchsorted(skey, nkey), len(skey) - 1)
    found = skey[pos] == nkey
    rows = np.broadcast_to(np.arange(len(grid))[:, None], nkey.shape)[found]
    cols = order[pos[found]]
    graph = _csr(rows, cols, len(grid))
    # Spot check against h3 itself: a cheap guard against any IJ inconsistency in unusual areas.
    rng = np.random.default_rng(len(grid))
    for i in rng.choice(len(grid), size=min(32, len(grid)), replace=False).tolist():
        disk = hexes.grid_disk(int(grid[i]), k)
        pos = np.minimum(np.searchsorted(grid, disk), len(grid) - 1)
        expected = np.sort(pos[grid[pos] == disk])
        if not np.array_equal(graph.indices[graph.indptr[i] : graph.indptr[i + 1]], expected):
            return None
    return graph


def _csr(rows: np.ndarray, cols: np.ndarray, n: int) -> sparse.csr_matrix:
    m = sparse.csr_matrix((np.ones(len(rows), dtype=np.float64), (rows, cols)), shape=(n, n))
    m.sort_indices()
    return m


def neighbour_graph(grid_cells: np.ndarray, k: int = 1) -> sparse.csr_matrix:
    """Binary Gi* weights over the grid: w_ij = 1 when cell j is within k rings of cell i (i itself
    included), restricted to the grid. Rows and columns follow the sorted unique ``grid_cells``.

    Cached per (grid, k); the returned matrix is shared, so treat it as read-only.
    """
    grid, _ = check_grid(grid_cells)
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive integer number of rings, got {k!r}")
    k = int(k)
    key = (_digest(grid.tobytes()), k)
    hit = _GRAPH_CACHE.get(key)
    if hit is not None:
        _GRAPH_CACHE.move_to_end(key)
        return hit
    graph = _graph_from_ij(grid, k)
    if graph is None:
        graph = _graph_from_disks(grid, k)
    _cache_put(_GRAPH_CACHE, key, graph)
    return graph


# --- Gi* --------------------------------------------------------------------------------------------


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg (1995) adjusted p-values: min over j >= i of p_(j) * n / j, capped at 1."""
    p = np.asarray(p, dtype=np.float64)
    n = p.size
    if n == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    scaled = p[order] * n / np.arange(1, n + 1)
    adjusted = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    out = np.empty(n)
    out[order] = adjusted
    return out


def permutations_needed(n_cells: int, alpha: float) -> int:
    """The fewest permutations whose smallest attainable two-sided pseudo p, 2 / (P + 1), can pass
    Benjamini-Hochberg at level ``alpha`` on its own (rank 1 of ``n_cells``): P = 2 n / alpha - 1."""
    return int(np.ceil(2.0 * n_cells / alpha)) - 1


def permutation_fdr_warning(n_cells: int, permutations: int | None, fdr: bool) -> str | None:
    """A warning when permutation p-values are too coarse for FDR over ``n_cells`` cells, else None.

    With P permutations no pseudo p is below 2 / (P + 1). Benjamini-Hochberg over n cells passes the
    k smallest p-values only when p_(k) <= k a / n, so at that floor a cell can be called significant
    only together with at least ceil(n p_min / a) others: on a county grid (thousands of cells) and
    99 or 999 permutations, hot spots can vanish by construction rather than because there are none.
    """
    if permutations is None or not fdr:
        return None
    p_min = 2.0 / (int(permutations) + 1)
    loosest = max(a for _conf, a in CONFIDENCE_LEVELS)
    if p_min * n_cells <= loosest:
        return None
    k_min = int(np.ceil(p_min * n_cells / loosest))
    return (
        f"With {int(permutations):,} permutations the smallest attainable p is {p_min:.4g}; with the "
        f"false discovery rate over {n_cells:,} cells a cell can be significant (90 %) only if at least "
        f"{k_min:,} cells all reach that p, so real hot and cold spots can be missed by construction. "
        f"Use at least {permutations_needed(n_cells, loosest):,} permutations "
        f"({permutations_needed(n_cells, 0.01):,} for the 99 % class), the analytical p-values "
        "(no permutations), or no FDR."
    )


def _classify(z: np.ndarray, p_test: np.ndarray) -> np.ndarray:
    """Class per cell from the sign of z and the strictest level a with p_test <= a."""
    out = np.full(z.shape, "not_significant", dtype=object)
    # Loosest level first so stricter levels overwrite.
    for conf, a in CONFIDENCE_LEVELS[::-1]:
        sig = p_test <= a
        out[sig & (z > 0)] = f"hot_{conf}"
        out[sig & (z < 0)] = f"cold_{conf}"
    return out


def _gi_star_z(graph: sparse.csr_matrix, x: np.ndarray) -> np.ndarray:
    """Getis-Ord Gi* z-scores for binary weights with the self weight on the diagonal."""
    n = x.size
    xbar = x.mean()
    s = np.sqrt(max((x * x).mean() - xbar * xbar, 0.0))
    w_i = np.diff(graph.indptr).astype(np.float64)  # row sums W_i; also S1_i since weights are 0/1
    lag = graph @ x
    var_part = (n * w_i - w_i * w_i) / (n - 1)
    z = np.zeros(n)
    # s == 0 (every cell equal) or W_i == n (the neighbourhood is the whole grid) leaves z undefined:
    # nothing can stand out, so those cells get z = 0 (p = 1) rather than NaN.
    ok = (s > 0) & (var_part > 0)
    z[ok] = (lag[ok] - xbar * w_i[ok]) / (s * np.sqrt(var_part[ok]))
    return z


def _draw_others(rng: np.random.Generator, focal: np.ndarray, n: int, perms: int, m: int) -> np.ndarray:
    """(m, len(focal), perms) indices into 0..n-1: for each (cell, permutation), m distinct cells,
    never the focal one. Slot-major so each slot is one contiguous vector."""
    shape = (len(focal), perms)
    if m == 0:
        return np.zeros((0, *shape), dtype=np.int64)
    if m * 4 > n - 1:
        # Small grids: rejection would be slow, so take the first m of a random ordering.
        keys = rng.random((*shape, n - 1))
        r = np.argsort(keys, axis=-1)[..., :m]
        r = np.moveaxis(r, -1, 0)
    else:
        r = rng.integers(0, n - 1, size=(m, *shape))
        # Draws that repeat a cell are redrawn (rare: about m^2 / 2n of them). For short rows,
        # pairwise slot comparisons beat sorting along a short axis by an order of magnitude.
        while True:
            if m <= 8:
                dup = np.zeros(shape, dtype=bool)
                for a in range(m):
                    for b in range(a + 1, m):
                        dup |= r[a] == r[b]
            else:
                s = np.sort(r, axis=0)
                dup = (s[1:] == s[:-1]).any(axis=0)
            n_dup = int(dup.sum())
            if not n_dup:
                break
            r[:, dup] = rng.integers(0, n - 1, size=(m, n_dup))
    # Values 0..n-2 map onto every cell except the focal one.
    return r + (r >= focal[None, :, None])


def _permutation_p(graph: sparse.csr_matrix, x: np.ndarray, permutations: int, seed: int) -> np.ndarray:
    """Two-sided conditional-randomisation pseudo p-values for Gi* with binary weights.

    For each cell, x_i stays in place and the other W_i - 1 slots of its neighbourhood take values
    drawn without replacement from the other n - 1 cells, independently per cell and permutation.
    With binary weights, comparing the neighbourhood sums is the same as comparing Gi* (the
    denominator sum(x) does not change under the permutation).
    """
    n = x.size
    rng = np.random.default_rng(seed)
    w_i = np.diff(graph.indptr)
    observed = graph @ x
    larger = np.zeros(n, dtype=np.int64)
    smaller = np.zeros(n, dtype=np.int64)
    # Cells are processed grouped by neighbourhood size, in blocks of ~4M draws to bound memory.
    for w in np.unique(w_i).tolist():
        cells = np.flatnonzero(w_i == w)
        m = w - 1
        block = max(1, 4_000_000 // (permutations * max(m, 1)))
        for start in range(0, len(cells), block):
            focal = cells[start : start + block]
            sims = np.repeat(x[focal][:, None], permutations, axis=1)
            for slot in _draw_others(rng, focal, n, permutations, m):
                sims += x[slot]
            obs = observed[focal][:, None]
            # The sums add the same values in another order than the sparse product, so a tolerance
            # keeps equal neighbourhoods tied when counts are not whole numbers.
            tol = 1e-9 * np.maximum(np.abs(obs), 1.0)
            larger[focal] = (sims >= obs - tol).sum(axis=1)
            smaller[focal] = (sims <= obs + tol).sum(axis=1)
    # Fold as esda does (count the tail the observed value lies in), but count ties in both tails:
    # with counts, ties are common and esda's strict lower tail would make an all-zero neighbourhood
    # look extreme. Doubling gives a two-sided pseudo p comparable with the analytical p.
    extreme = np.minimum(larger, smaller)
    return np.minimum(2.0 * (extreme + 1) / (permutations + 1), 1.0)


def gi_star(
    counts: pd.DataFrame,
    grid_cells: np.ndarray,
    *,
    k: int = 1,
    fdr: bool = True,
    permutations: int | None = None,
    seed: int = 0,
    min_reports: int = MIN_REPORTS,
) -> GiResult:
    """Getis-Ord Gi* hot and cold spots of report counts over every cell of a grid.

    ``counts``: columns h3 (int64 cells at the grid resolution, each within ``grid_cells``) and count
    (non-negative); grid cells without a row count as 0. Weights are binary over the k-ring of each
    cell, the cell itself included, restricted to the grid.

    Returns a ``GiResult`` whose table has one row per grid cell (sorted by h3) with: count, z
    (Gi* z-score), p (two-sided analytical p from the normal approximation), p_fdr
    (Benjamini-Hochberg adjusted p of the p used for the classes; equal to that p when ``fdr`` is
    False), class (hot_99 ... not_significant, by p_fdr <= 0.01 / 0.05 / 0.10 and the sign of z) and
    n_neighbours (grid cells within k rings, the cell itself excluded). With ``permutations``, a p_sim column holds two-sided conditional
    permutation pseudo p-values (seeded by ``seed``) and the classes use them instead of p. Its
    warning is the permutation caveat (``permutation_fdr_warning``) or None.

    Raises TooFewReports when counts sum to fewer than ``min_reports``.
    """
    if isinstance(min_reports, bool) or not isinstance(min_reports, int | np.integer) or min_reports < 0:
        raise ValueError(f"min_reports must be a non-negative integer, got {min_reports!r}")
    if permutations is not None and (
        isinstance(permutations, bool) or not isinstance(permutations, int | np.integer) or permutations < 1
    ):
        raise ValueError(f"permutations must be a positive integer or None, got {permutations!r}")
    grid, res = check_grid(grid_cells)
    x = _counts_on_grid(counts, grid, res)
    total = x.sum()
    if total < min_reports:
        raise TooFewReports(int(round(total)), min_reports, res)
    if grid.size < 3:
        raise DataConditionError(f"grid_cells must hold at least 3 cells for Gi*, got {grid.size}")
    graph = neighbour_graph(grid, k)
    z = _gi_star_z(graph, x)
    p = 2.0 * ndtr(-np.abs(z))
    out = pd.DataFrame({"h3": grid, "count": x, "z": z, "p": p})
    p_test = p
    if permutations is not None:
        out["p_sim"] = p_test = _permutation_p(graph, x, int(permutations), int(seed))
    p_fdr = benjamini_hochberg(p_test) if fdr else p_test.copy()
    out["p_fdr"] = p_fdr
    out["class"] = _classify(z, p_fdr)
    out["n_neighbours"] = np.diff(graph.indptr).astype(np.int64) - 1
    if np.array_equal(x, np.round(x)):
        out["count"] = x.astype(np.int64)
    return GiResult(
        table=out,
        warning=permutation_fdr_warning(grid.size, permutations, fdr),
        n_reports=int(round(total)),
        res=res,
        k=int(k),
        fdr=bool(fdr),
        permutations=permutations,
    )


def hotspots(
    reports: pd.DataFrame,
    res: int,
    filters: ReportFilter | None = None,
    *,
    k: int = 1,
    area: Polygon | MultiPolygon | str | Path | None = None,
    fdr: bool = True,
    permutations: int | None = None,
    seed: int = 0,
    min_reports: int = MIN_REPORTS,
    area_name: str | None = None,
) -> GiResult:
    """Gi* hotspots of the located reports matching ``filters`` over the whole study-area grid at
    ``res`` (cells with no report included as zeros), as a ``GiResult`` (table columns as
    ``gi_star``).

    Its ``warning`` joins the permutation caveat and the grid's warning (None when there is
    neither); ``n_reports`` is the number of located reports analysed. Raises TooFewReports first,
    before any grid is built, when the selection is too small.
    """
    n = int((filter_mask(reports, filters) & located(reports, res)).sum())
    if n < min_reports:
        raise TooFewReports(n, min_reports, res)
    counts, grid, warning = count_grid(reports, res, filters, area=area, area_name=area_name)
    out = gi_star(
        counts,
        grid,
        k=k,
        fdr=fdr,
        permutations=permutations,
        seed=seed,
        min_reports=min_reports,
    )
    notes = [w for w in (out.warning, warning) if w]
    return dataclasses.replace(out, warning=" ".join(notes) or None, n_reports=n)


def count_grid(
    reports: pd.DataFrame,
    res: int,
    filters: ReportFilter | None = None,
    *,
    area: Polygon | MultiPolygon | str | Path | None = None,
    area_name: str | None = None,
) -> tuple[pd.DataFrame, np.ndarray, str | None]:
    """The located reports matching ``filters`` per cell at ``res`` (a frame of h3, count) and the
    grid every hexagon analysis runs on: each cell of ``area`` (default the deployment's area) plus
    the cell of each matching report outside it (``study_area_grid``), with the grid's warning.

    One construction for Gi* (``hotspots``), emerging hot spots and kernel density, in the app and
    on the command line alike."""
    keep = filter_mask(reports, filters) & located(reports, res)
    fine = reports["h3"].to_numpy()[keep]
    uniq, count = np.unique(cells_to_parent(fine, res), return_counts=True)
    grid, warning = study_area_grid(res, area, points=fine, area_name=area_name)
    return pd.DataFrame({"h3": uniq.astype(np.int64), "count": count.astype(np.int64)}), grid, warning


def density(
    reports: pd.DataFrame,
    res: int,
    filters: ReportFilter | None = None,
    *,
    area: Polygon | MultiPolygon | str | Path | None = None,
    area_name: str | None = None,
    bandwidth_m: float | None = None,
) -> DensityResult:
    """Kernel density of the located reports matching ``filters`` on the grid at ``res``
    (``count_grid``: ``area``, default the deployment's, plus the hexagons of reports outside it).

    A ``DensityResult`` whose table has columns h3 (every grid cell, sorted), count (reports in the
    cell, 0 where none) and density (reports per square kilometre, ``kernel_density`` with
    ``bandwidth_m`` or its default, ``default_bandwidth_m``); its warning is ``count_grid``'s.
    """
    counts, grid, warning = count_grid(reports, res, filters, area=area, area_name=area_name)
    if bandwidth_m is None:
        bandwidth_m = default_bandwidth_m(counts)
    out = kernel_density(counts, grid, bandwidth_m=bandwidth_m)
    table = out.table
    table.insert(
        1, "count", counts.set_index("h3")["count"].reindex(table["h3"]).fillna(0).to_numpy(np.int64)
    )
    return dataclasses.replace(out, warning=warning)


# --- Smoothed intensity ------------------------------------------------------------------------------


def _centres_m(cells: np.ndarray, lat0: float, lng0: float) -> np.ndarray:
    lat, lng = cell_centres(cells)
    return _project(lat, lng, lat0, lng0)


def default_bandwidth_m(counts: pd.DataFrame) -> float:
    """Default kernel radius in metres: the spatial Silverman rule (as ArcGIS Kernel Density uses),
    floored at two hex centre spacings.

    h = 0.9 * min(SD, sqrt(1 / ln 2) * Dm) * n^(-1/5), with n the number of reports, SD the standard
    distance and Dm the median distance of the reports (at their hex centres) from their mean centre.
    The floor keeps the kernel wider than the hexagons it is summed over, so the density is smooth
    and its total stays close to the number of reports.
    """
    if not isinstance(counts, pd.DataFrame) or not {"h3", "count"} <= set(counts.columns):
        raise ValueError("counts must be a DataFrame with columns 'h3' and 'count'")
    sub = counts[counts["count"].to_numpy() > 0]
    if sub.empty:
        raise DataConditionError("counts must hold at least one cell with a positive count")
    cells, res = check_grid(sub["h3"].to_numpy(), name="counts['h3']")
    w = sub.groupby("h3")["count"].sum().reindex(cells).to_numpy(dtype=np.float64)
    lat, lng = cell_centres(cells)
    xy = _project(lat, lng, float(np.average(lat, weights=w)), float(np.average(lng, weights=w)))
    n = w.sum()
    centre = np.average(xy, axis=0, weights=w)
    d = np.hypot(*(xy - centre).T)
    sd = np.sqrt(np.average(d * d, weights=w))
    order = np.argsort(d)
    cum = np.cumsum(w[order])
    dm = d[order][np.searchsorted(cum, 0.5 * n)]
    rule = 0.9 * min(sd, np.sqrt(1.0 / np.log(2.0)) * dm) * n ** (-0.2)
    floor = 2.0 * np.sqrt(3.0) * edge_length_m(res)  # centre spacing of neighbouring hexes = sqrt(3) * edge
    return float(max(rule, floor))


def kernel_density(
    counts: pd.DataFrame, grid_cells: np.ndarray, *, bandwidth_m: float | None = None
) -> DensityResult:
    """Smoothed report intensity on every grid cell, in reports per km².

    Each cell's count sits at its hex centre and spreads with the quartic (biweight) kernel
    K(d) = 3 / (pi h²) * (1 - d²/h²)² for d < h, 0 beyond, evaluated at every grid cell's centre;
    distances are in metres on a local azimuthal equidistant projection. ``bandwidth_m`` (h)
    defaults to ``default_bandwidth_m(counts)``. Returns a ``DensityResult`` (table columns h3,
    sorted, and density; the bandwidth used; the grid's resolution).
    """
    grid, res = check_grid(grid_cells)
    x = _counts_on_grid(counts, grid, res)
    if bandwidth_m is None:
        bandwidth_m = default_bandwidth_m(pd.DataFrame({"h3": grid, "count": x}))
    if isinstance(bandwidth_m, bool) or not np.isfinite(bandwidth_m) or bandwidth_m <= 0:
        raise ValueError(f"bandwidth_m must be a positive number of metres, got {bandwidth_m!r}")
    h = float(bandwidth_m)
    density = np.zeros(len(grid))
    src = np.flatnonzero(x > 0)
    if src.size:
        lat, lng = cell_centres(grid)
        xy = _project(lat, lng, float(np.mean(lat)), float(np.mean(lng)))
        # Every (grid cell, source cell) pair within h, zero distances (a source's own cell) included.
        pairs = cKDTree(xy).sparse_distance_matrix(cKDTree(xy[src]), h, output_type="ndarray")
        u = pairs["v"] / h
        kern = 3.0 / (np.pi * h * h) * (1.0 - u * u) ** 2
        per_m2 = np.bincount(pairs["i"], weights=kern * x[src][pairs["j"]], minlength=len(grid))
        density = per_m2 * 1e6
    return DensityResult(table=pd.DataFrame({"h3": grid, "density": density}), bandwidth_m=h, res=res)
