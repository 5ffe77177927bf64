"""H3 hexagon utilities: points to cells, cells to coarser parents, cells to polygons.

Cells travel through hoth-geo as int64 H3 indexes (0 means "no cell", e.g. an online report).
Each report stores one cell at ``settings.FINE_H3_RES``; the map resolutions are derived from it
with ``cells_to_parent``, which works on whole arrays at once.

This module is the one place that talks to the h3 library: conversions between the int64 form and
the hex-string form people copy and paste (``cell_to_str``, ``cells_to_str``, ``str_to_cell``), the
parsing of a cell id someone typed (``parse_cell``), single-cell lookups (``latlng_to_cell``,
``cell_parent``, ``cell_resolution``), neighbourhoods (``grid_disk``, ``local_ij``) and geometry.

Coordinate order: h3 speaks (lat, lng); shapely, GeoJSON and geopandas speak (lng, lat).
``cell_boundaries`` is the one place that converts h3 output to (lng, lat). Inputs go in as
separate ``lat`` / ``lng`` arrays or as shapely geometries (read through ``__geo_interface__``),
so no other function here reorders coordinates.
"""

from __future__ import annotations

import geopandas as gpd
import h3.api.basic_int as h3i
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

__all__ = [
    "cell_to_str",
    "cells_to_str",
    "str_to_cell",
    "parse_cell",
    "latlng_to_cell",
    "cell_parent",
    "cell_resolution",
    "grid_disk",
    "local_ij",
    "is_pentagon",
    "cell_polygons",
    "cell_areas_km2",
    "latlng_to_cells",
    "cells_to_parent",
    "cell_resolutions",
    "cell_centres",
    "cell_boundaries",
    "hex_frame",
    "polygon_to_cells",
    "cell_area_km2",
    "edge_length_m",
]

MAX_RES = 15

# H3 index layout (64 bits): bit 63 reserved, 62-59 mode (1 = cell), 58-56 reserved, 55-52
# resolution, 51-45 base cell, then fifteen 3-bit digits (digit 1 at bits 44-42 ... digit 15 at
# bits 2-0). Digits finer than the cell's resolution hold 7.
_MODE_SHIFT = 59
_RES_SHIFT = 52
_RES_MASK = np.int64(0xF << _RES_SHIFT)
_MODE_CELL = 1


def check_res(res: int, name: str = "res") -> int:
    if isinstance(res, bool) or not isinstance(res, int | np.integer) or not 0 <= int(res) <= MAX_RES:
        raise ValueError(f"{name} must be an integer H3 resolution 0..{MAX_RES}, got {res!r}")
    return int(res)


def _as_cells(cells, name: str = "cells") -> np.ndarray:
    arr = np.asarray(cells)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of H3 cells, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold int64 H3 cells, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def latlng_to_cells(lat: np.ndarray, lng: np.ndarray, res: int) -> np.ndarray:
    """The H3 cell (int64) containing each point; 0 where lat or lng is missing (NaN)."""
    res = check_res(res)
    lat_a = np.asarray(lat, dtype=np.float64)
    lng_a = np.asarray(lng, dtype=np.float64)
    if lat_a.shape != lng_a.shape or lat_a.ndim != 1:
        raise ValueError(
            f"lat and lng must be 1-D arrays of the same length, got {lat_a.shape} and {lng_a.shape}"
        )
    out = np.zeros(lat_a.shape, dtype=np.int64)
    ok = np.isfinite(lat_a) & np.isfinite(lng_a)
    bad_lat = ok & (np.abs(lat_a) > 90)
    if bad_lat.any():
        raise ValueError(f"lat must lie within -90..90, got {lat_a[bad_lat][0]!r}")
    to_cell = h3i.latlng_to_cell
    idx = np.flatnonzero(ok)
    # h3 has no array API; a plain loop over Python floats is the fastest route (~0.7M points/s).
    out[idx] = [to_cell(a, b, res) for a, b in zip(lat_a[idx].tolist(), lng_a[idx].tolist(), strict=True)]
    return out


def cell_resolutions(cells: np.ndarray) -> np.ndarray:
    """Resolution of each cell (int8); -1 for 0 (no cell). Raises ValueError for non-cell values."""
    arr = _as_cells(cells)
    present = arr != 0
    mode = (arr >> _MODE_SHIFT) & 0xF
    bad = present & ((mode != _MODE_CELL) | (arr < 0))
    if bad.any():
        raise ValueError(f"cells must hold H3 cell indexes, got {int(arr[bad][0])!r}")
    res = ((arr & _RES_MASK) >> _RES_SHIFT).astype(np.int8)
    res[~present] = -1
    return res


def cells_to_parent(cells: np.ndarray, res: int) -> np.ndarray:
    """The ancestor of each cell at resolution ``res``, by bit manipulation on the whole array.

    Setting the resolution field to ``res`` and every digit finer than ``res`` to 7 is exactly what
    H3's cellToParent does, pentagons included. 0 (no cell) stays 0. A cell already at ``res`` is
    its own parent.
    """
    res = check_res(res)
    arr = _as_cells(cells)
    cell_res = cell_resolutions(arr)
    too_coarse = (cell_res >= 0) & (cell_res < res)
    if too_coarse.any():
        i = int(np.flatnonzero(too_coarse)[0])
        raise ValueError(
            f"res={res} is finer than cell {int(arr[i])} at resolution {int(cell_res[i])}: "
            "a parent must be at the same or a coarser resolution"
        )
    digits_below = np.int64((1 << (3 * (MAX_RES - res))) - 1)
    parent = (arr & ~_RES_MASK) | np.int64(res << _RES_SHIFT) | digits_below
    return np.where(arr == 0, np.int64(0), parent)


def cell_centres(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lat, lng) arrays of cell centres; NaN for 0 (no cell)."""
    arr = _as_cells(cells)
    lat = np.full(arr.shape, np.nan)
    lng = np.full(arr.shape, np.nan)
    idx = np.flatnonzero(arr)
    if idx.size:
        pts = np.array([h3i.cell_to_latlng(c) for c in arr[idx].tolist()], dtype=np.float64)
        lat[idx] = pts[:, 0]
        lng[idx] = pts[:, 1]
    return lat, lng


def cell_boundaries(cells: np.ndarray) -> list[np.ndarray]:
    """Each cell's boundary as an (n, 2) float array of (lng, lat) vertices, ring not closed.

    Hexagons have 6 vertices, pentagons 5; cells crossing an icosahedron edge have extra
    distortion vertices (up to 10), so the rings are returned as a list rather than one array.
    This is the single place where h3's (lat, lng) order becomes (lng, lat).
    """
    arr = _as_cells(cells)
    if (arr == 0).any():
        raise ValueError("cells must not contain 0 (no cell): a boundary needs a real cell")
    cell_resolutions(arr)  # validates every value is a cell
    return [np.array(h3i.cell_to_boundary(c), dtype=np.float64)[:, ::-1] for c in arr.tolist()]


def _polygons(rings: list[np.ndarray]) -> np.ndarray:
    """shapely Polygons from rings, built in bulk per vertex count (almost all have 6)."""
    out = np.empty(len(rings), dtype=object)
    sizes = np.fromiter((len(r) for r in rings), dtype=np.int64, count=len(rings))
    for n in np.unique(sizes):
        idx = np.flatnonzero(sizes == n)
        coords = np.stack([rings[i] for i in idx])
        out[idx] = shapely.polygons(coords)
    return out


def hex_frame(cells: np.ndarray, **columns) -> gpd.GeoDataFrame:
    """A GeoDataFrame (EPSG:4326) with an ``h3`` column, any extra columns, and hexagon polygons."""
    arr = _as_cells(cells)
    for name, values in columns.items():
        if name in ("h3", "geometry"):
            raise ValueError(f"column name {name!r} is reserved in hex_frame")
        if len(values) != len(arr):
            raise ValueError(f"column {name!r} has {len(values)} values for {len(arr)} cells")
    data = {"h3": arr, **{k: np.asarray(v) for k, v in columns.items()}}
    geometry = _polygons(cell_boundaries(arr))
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geometry, crs="EPSG:4326"), crs="EPSG:4326")


def polygon_to_cells(polygon: BaseGeometry, res: int) -> np.ndarray:
    """Every cell at ``res`` whose centre lies inside a (multi)polygon given in WGS84 (lng, lat).

    Used to fill a study area, so cells with no reports can be shown or counted as zero.
    """
    res = check_res(res)
    if not isinstance(polygon, shapely.Polygon | shapely.MultiPolygon):
        raise ValueError(f"polygon must be a shapely Polygon or MultiPolygon, got {type(polygon).__name__}")
    if polygon.is_empty:
        return np.zeros(0, dtype=np.int64)
    minx, miny, maxx, maxy = polygon.bounds
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise ValueError(f"polygon must be in WGS84 (lng, lat) degrees, got bounds {polygon.bounds!r}")
    # geo_to_cells reads __geo_interface__, which is (lng, lat) like shapely: no reordering here.
    cells = h3i.geo_to_cells(polygon, res)
    return np.sort(np.asarray(cells, dtype=np.int64))


def cell_area_km2(res: int) -> float:
    """Average area of a hexagon at ``res`` in km², for legends."""
    return float(h3i.average_hexagon_area(check_res(res), unit="km^2"))


def edge_length_m(res: int) -> float:
    """Average hexagon edge length at ``res`` in metres, for legends."""
    return float(h3i.average_hexagon_edge_length(check_res(res), unit="m"))


# --- One cell at a time, and the hex-string form ---------------------------------------------------


def cell_to_str(cell) -> str:
    """The hex-string form of an int64 cell ('8819464e2dfffff'); '' for 0 (no cell)."""
    c = int(cell)
    return h3i.int_to_str(c) if c else ""


def cells_to_str(cells) -> list[str]:
    """``cell_to_str`` of each cell, for tables and files people read ('' for 0)."""
    to_str = h3i.int_to_str
    return [to_str(c) if c else "" for c in (int(c) for c in cells)]


def str_to_cell(text: str, name: str = "cell") -> int:
    """The int64 form of a hex-string cell id; raises ValueError naming ``name`` when it is not one."""
    try:
        valid = isinstance(text, str) and h3i.is_valid_cell(h3i.str_to_int(text))
    except (ValueError, TypeError):
        valid = False
    if not valid:
        raise ValueError(f"{name} must be an H3 cell id such as 8819464e2dfffff, got {text!r}")
    return int(h3i.str_to_int(text))


def parse_cell(text: str, res: int | None = None, *, name: str = "cell") -> int:
    """A cell id as someone typed or pasted it (any case, surrounding space), as int64.

    With ``res``, a finer cell is widened to its parent at ``res``; a coarser one is kept whole
    (``cell_resolution`` tells the caller which). Raises ValueError for anything not a cell id.
    """
    cell = str_to_cell(str(text).strip().lower() if text is not None else text, name)
    if res is not None and cell_resolution(cell) > check_res(res):
        cell = cell_parent(cell, res)
    return cell


def latlng_to_cell(lat: float, lng: float, res: int) -> int:
    """The cell (int64) at ``res`` containing one point."""
    return int(h3i.latlng_to_cell(float(lat), float(lng), check_res(res)))


def cell_parent(cell: int, res: int) -> int:
    """The ancestor of one cell at ``res`` (see ``cells_to_parent``)."""
    return int(cells_to_parent(np.array([int(cell)], dtype=np.int64), res)[0])


def cell_resolution(cell: int) -> int:
    """The resolution of one cell; raises ValueError when it is not a cell."""
    if int(cell) == 0:
        raise ValueError("cell must be an H3 cell, got 0 (no cell)")
    return int(cell_resolutions(np.array([int(cell)], dtype=np.int64))[0])


def grid_disk(cell: int, k: int) -> np.ndarray:
    """The cells (int64, unsorted) within grid distance ``k`` of ``cell``, the cell included."""
    return np.asarray(h3i.grid_disk(int(cell), int(k)), dtype=np.int64)


def local_ij(origin: int, cells: np.ndarray) -> np.ndarray:
    """(n, 2) int64 local IJ coordinates of ``cells`` around ``origin``. Raises ValueError where h3
    cannot give them (a cell too far from the origin or across a pentagon's distortion)."""
    to_ij = h3i.cell_to_local_ij
    try:
        return np.array([to_ij(int(origin), c) for c in _as_cells(cells).tolist()], dtype=np.int64).reshape(
            -1, 2
        )
    except Exception as exc:  # h3 raises its own error classes for these cases
        raise ValueError(f"local IJ coordinates are undefined here: {exc}") from exc


def is_pentagon(cell: int) -> bool:
    """True for the twelve pentagon cells of each resolution."""
    return bool(h3i.is_pentagon(int(cell)))


def cell_polygons(cells: np.ndarray) -> np.ndarray:
    """Each cell's hexagon as a shapely Polygon in (lng, lat), as an object array."""
    return _polygons(cell_boundaries(cells))


def cell_areas_km2(cells: np.ndarray) -> np.ndarray:
    """Exact area of each H3 cell in km² (cells at one resolution differ by up to a few per cent)."""
    return np.array([h3i.cell_area(c, unit="km^2") for c in _as_cells(cells).tolist()], dtype=np.float64)
