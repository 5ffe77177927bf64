"""Reports placed by coordinates get the radius their coordinates really have.

Until this revision a report given as latitude/longitude was stated as within 10 m however few decimals
it had (54.77, -1.57 is a box about 1.1 by 0.6 km), and a grid reference with trailing zeros was placed
at the south-west corner of the square it names with the square's side as radius (the far corner lay
outside it). From this revision the geocoder states the radius from the decimals and places a grid
reference at its square's centre (``hoth_geo.intake.geocode``); this migration does the same to the
reports already stored:

- ``coordinates_wgs84`` stated at 10 m (all of them, before this revision): ``precision_m`` from the
  decimals of the stored latitude and longitude, which cannot show decimals written as trailing zeros
  (54.7700 is stored as 54.77), so the radius errs wide;
- ``coordinates_bng``: the point moved to the centre of the square its easting and northing name, with
  its H3 cell, and ``precision_m`` half the square's diagonal;
- either: a place linked to the point (the nearest place of its type within 150 m) is unlinked when the
  new radius is wider than those 150 m, as the geocoder no longer links such points.

The computation is written out here (all but the H3 cell), not imported from the geocoder, so that
later changes to the geocoder do not change what this revision does. Values already right are left
alone; the data version is bumped when a report changed, so running app processes read the reports
again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import numpy as np
import sqlalchemy as sa
from alembic import op
from pyproj import Transformer

from hoth_geo.hexes import latlng_to_cells

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_FLOOR_M = 10.0  # the radius of a device's or a map click's point
_LINK_MAX_M = 150.0  # settings.PLACE_LINK_MAX_M at this revision
_FINE_H3_RES = 11  # settings.FINE_H3_RES at this revision
_METRES_PER_DEGREE = 111_320.0
_MAX_DECIMALS = 7
_BATCH = 50_000


def _decimals(values: np.ndarray) -> np.ndarray:
    out = np.full(len(values), _MAX_DECIMALS)
    finite = np.isfinite(values)
    for d in range(_MAX_DECIMALS - 1, -1, -1):
        out[finite & (np.round(values, d) == values)] = d
    return out


def _wgs84_radius(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    north = 10.0 ** -_decimals(lat) * _METRES_PER_DEGREE
    east = 10.0 ** -_decimals(lon) * _METRES_PER_DEGREE * np.cos(np.radians(np.clip(lat, -90, 90)))
    return np.maximum(np.hypot(north, east), _FLOOR_M)


def _grid_square(east: np.ndarray, north: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    whole = (east == np.floor(east)) & (north == np.floor(north))
    ei = np.where(whole, np.abs(east), 1).astype(np.int64)
    ni = np.where(whole, np.abs(north), 1).astype(np.int64)
    side = np.ones(len(east))
    for step in (10, 100, 1_000, 10_000):
        side = np.where(whole & (ei % step == 0) & (ni % step == 0), float(step), side)
    shift = np.where(side >= 10, side / 2, 0.0)
    return east + shift, north + shift, np.maximum(side * np.sqrt(2) / 2, _FLOOR_M)


def _changed(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    return ~np.isclose(old, new, rtol=0, atol=1e-9) | (np.isnan(old) != np.isnan(new))


def upgrade() -> None:
    conn = op.get_bind()
    select = sa.text(
        "SELECT id, geocode_method, latitude, longitude, easting, northing, precision_m, h3, place_id"
        " FROM reports WHERE id > :after AND geocode_method IN ('coordinates_wgs84', 'coordinates_bng')"
        " AND latitude IS NOT NULL AND longitude IS NOT NULL ORDER BY id LIMIT :n"
    )
    update = sa.text(
        "UPDATE reports SET latitude = :latitude, longitude = :longitude, precision_m = :precision_m,"
        " h3 = :h3, place_id = :place_id WHERE id = :id"
    )
    after, n_changed = 0, 0
    # In batches by id, so the memory it takes does not grow with the number of reports.
    while rows := conn.execute(select, {"after": after, "n": _BATCH}).all():
        updates = _corrected(rows)
        if updates:
            conn.execute(update, updates)
        n_changed += len(updates)
        after = rows[-1].id
    if n_changed:
        conn.execute(
            sa.text("UPDATE data_version SET version = version + 1, rewrites = rewrites + 1 WHERE id = 1")
        )


def _corrected(rows) -> list[dict]:
    """The new values of the rows (reports placed by coordinates) that change."""
    ids = np.array([r.id for r in rows], dtype=np.int64)
    grid = np.array([r.geocode_method == "coordinates_bng" for r in rows])
    lat = np.array([r.latitude for r in rows], dtype=float)
    lon = np.array([r.longitude for r in rows], dtype=float)
    east = np.array([np.nan if r.easting is None else r.easting for r in rows], dtype=float)
    north = np.array([np.nan if r.northing is None else r.northing for r in rows], dtype=float)
    old_radius = np.array([np.nan if r.precision_m is None else r.precision_m for r in rows], dtype=float)
    cells = np.array([r.h3 for r in rows], dtype=np.int64)
    place_id = np.array([r.place_id for r in rows], dtype=object)

    new_lat, new_lon, new_cells = lat.copy(), lon.copy(), cells.copy()
    # The geocoder before this revision stated 10 m for every coordinate, and one after it states
    # 10 m only for five or more decimals as written: a row at 10 m gets the radius its stored number
    # allows (which cannot see decimals written as trailing zeros, so it errs wide); any other radius
    # was stated from the decimals as written and stays. A point never gets a smaller radius.
    radius = np.where(old_radius == _FLOOR_M, np.fmax(_wgs84_radius(lat, lon), _FLOOR_M), old_radius)
    on_grid = grid & np.isfinite(east) & np.isfinite(north)
    if on_grid.any():
        e, n, radius[on_grid] = _grid_square(east[on_grid], north[on_grid])
        new_lon[on_grid], new_lat[on_grid] = Transformer.from_crs(27700, 4326, always_xy=True).transform(e, n)
        moved = np.flatnonzero(on_grid)[
            _changed(lat[on_grid], new_lat[on_grid]) | _changed(lon[on_grid], new_lon[on_grid])
        ]
        new_cells[moved] = latlng_to_cells(new_lat[moved], new_lon[moved], _FINE_H3_RES)
    radius[grid & ~on_grid] = old_radius[grid & ~on_grid]  # no grid reference stored: nothing to go on
    unlink = (radius > _LINK_MAX_M) & np.array([p is not None for p in place_id])
    new_place = np.where(unlink, None, place_id)
    changed = (
        _changed(old_radius, radius)
        | _changed(lat, new_lat)
        | _changed(lon, new_lon)
        | (cells != new_cells)
        | unlink
    )
    return [
        {
            "id": int(ids[i]),
            "latitude": float(new_lat[i]),
            "longitude": float(new_lon[i]),
            "precision_m": float(radius[i]),
            "h3": int(new_cells[i]),
            "place_id": new_place[i],
        }
        for i in np.flatnonzero(changed)
    ]


def downgrade() -> None:
    """Nothing to undo in the schema; the radii stated before were wrong and are not put back."""
