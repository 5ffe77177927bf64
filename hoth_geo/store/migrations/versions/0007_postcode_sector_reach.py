"""Reports placed at a postcode sector or district get a radius that holds every address in it.

Until this revision a report that named only a sector ('DH1 4') or a district ('DL12') was stated as
within the 95th percentile distance of the sector's units from their centroid. That leaves one unit in
twenty, and the addresses around every unit, outside the stated radius, though the report may be at any
of them. From this revision the gazetteer states a sector's or district's radius as the farthest any of
its units reaches: the unit's distance from the centroid plus the unit's own radius
(``hoth_geo.intake.gazetteer.centroids``); this migration does the same to the reports already stored:

- ``postcode_sector`` and ``postcode_district`` reports whose sector or district the gazetteer of the
  database's area holds are stated at its radius when that is wider than the one stored; a sector the
  gazetteer no longer holds (the area changed since) keeps its radius, and no radius is made narrower.

Centroids do not move (the mean of the units' points, as before), and such reports are never linked to a
place, so only the radius changes. The radii are worked out here, not read from the geocoder, so that
later changes to it do not change what this revision does; which units the area holds is read as the app
reads it (clipped to the area's boundary where the area says so). The data version is bumped when a
report changed, so running app processes read the reports again.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd
import sqlalchemy as sa
from alembic import op
from scipy.spatial import cKDTree

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_FLOOR_M = 100.0  # no unit, sector or district is stated tighter
_NEIGHBOURS = 32  # units looked at around each one (more than share one building's point)
_EARTH_RADIUS_M = 6_371_008.8
_BATCH = 50_000
_SECTOR = re.compile(r"^([A-Z]{1,2}[0-9][0-9A-Z]?) ?([0-9])$")
_DISTRICT = re.compile(r"^[A-Z]{1,2}[0-9][0-9A-Z]?$")

log = logging.getLogger("alembic.runtime.migration")


def _unit_radii(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """The distance from each unit's point to the nearest other unit's point more than a metre away, at
    least the floor (equirectangular metres about the units' mean latitude), as revision 0006 states it."""
    out = np.full(len(lat), _FLOOR_M)
    if len(lat) < 2:
        return out
    lat0 = np.radians(np.mean(lat))
    xy = np.column_stack(
        [np.radians(lon) * _EARTH_RADIUS_M * np.cos(lat0), np.radians(lat) * _EARTH_RADIUS_M]
    )
    tree = cKDTree(xy)
    gap = tree.query(xy, k=2)[0][:, 1]
    shared = np.flatnonzero(gap <= 1.0)
    if len(shared):
        near = tree.query(xy[shared], k=min(_NEIGHBOURS, len(lat)))[0]
        apart = np.where(near > 1.0, near, np.inf).min(axis=1)
        gap[shared] = np.where(np.isfinite(apart), apart, 0.0)
    return np.maximum(np.round(gap), _FLOOR_M)


def _reach(keys: np.ndarray, lat: np.ndarray, lon: np.ndarray, radius: np.ndarray) -> dict[str, float]:
    """Key -> the farthest any of its units reaches from the mean of their points, at least the floor."""
    units = pd.DataFrame({"key": keys, "lat": lat, "lon": lon, "radius": radius})
    centre = units.groupby("key")[["lat", "lon"]].mean().rename(columns={"lat": "lat_c", "lon": "lon_c"})
    joined = units.join(centre, on="key")
    lat_c = joined["lat_c"].to_numpy()
    dy = np.radians(joined["lat"].to_numpy() - lat_c) * _EARTH_RADIUS_M
    dx = (
        np.radians(joined["lon"].to_numpy() - joined["lon_c"].to_numpy())
        * _EARTH_RADIUS_M
        * np.cos(np.radians(lat_c))
    )
    joined["reach"] = np.hypot(dx, dy) + joined["radius"].to_numpy()
    out = np.maximum(joined.groupby("key")["reach"].max(), _FLOOR_M).round(0)
    return {str(k): float(v) for k, v in out.items()}


def _sector_and_district_radii(conn) -> tuple[dict[str, float], dict[str, float]]:
    """(sector -> radius, district -> radius) for the units the database's area holds (empty when it has
    none to read)."""
    from hoth_geo.intake import area
    from hoth_geo.intake.gazetteer import load_gazetteer

    try:
        in_use = area.current_area(conn.engine.url.render_as_string(hide_password=False))
        # Every unit of the area's gazetteer bounds its neighbours' reach (clipped or not), as the
        # geocoder measures units; the sectors are made of the units the area's geocoder holds.
        whole = load_gazetteer(in_use.gazetteer_dir).postcodes
        held = set(area.gazetteer_for(in_use).postcodes["postcode"])
    except (area.AreaError, OSError, ValueError) as exc:
        log.warning("postcode sector radii left as stored: the area's gazetteer could not be read (%s)", exc)
        return {}, {}
    lat = whole["latitude"].to_numpy(dtype=float)
    lon = whole["longitude"].to_numpy(dtype=float)
    ok = np.isfinite(lat) & np.isfinite(lon)
    postcode = whole["postcode"].to_numpy(dtype=object)[ok]
    lat, lon, radius = lat[ok], lon[ok], _unit_radii(lat[ok], lon[ok])
    keep = np.array([p in held for p in postcode], dtype=bool)
    postcode, lat, lon, radius = postcode[keep], lat[keep], lon[keep], radius[keep]
    if not len(postcode):
        return {}, {}
    outward = np.array([p.split(" ")[0] for p in postcode], dtype=object)
    sector = np.array([p[:-2] for p in postcode], dtype=object)  # 'DH1 4AB' -> 'DH1 4'
    return _reach(sector, lat, lon, radius), _reach(outward, lat, lon, radius)


def _key(method: str, postcode: str) -> str | None:
    text = postcode.strip().upper()
    if method == "postcode_sector":
        m = _SECTOR.match(text)
        return f"{m.group(1)} {m.group(2)}" if m else None
    return text if _DISTRICT.match(text) else None


def upgrade() -> None:
    conn = op.get_bind()
    select = sa.text(
        "SELECT id, geocode_method, postcode, precision_m FROM reports WHERE id > :after"
        " AND geocode_method IN ('postcode_sector', 'postcode_district') AND postcode IS NOT NULL"
        " ORDER BY id LIMIT :n"
    )
    if conn.execute(select, {"after": 0, "n": 1}).first() is None:
        return  # no report to state again: the gazetteer is not read
    sectors, districts = _sector_and_district_radii(conn)
    if not sectors:
        return
    update = sa.text("UPDATE reports SET precision_m = :precision_m WHERE id = :id")
    after, n_changed = 0, 0
    # In batches by id, so the memory it takes does not grow with the number of reports.
    while rows := conn.execute(select, {"after": after, "n": _BATCH}).all():
        updates = []
        for r in rows:
            key = _key(r.geocode_method, str(r.postcode))
            radius = (sectors if r.geocode_method == "postcode_sector" else districts).get(key)
            if radius is not None and (r.precision_m is None or radius > float(r.precision_m)):
                updates.append({"id": int(r.id), "precision_m": radius})
        if updates:
            conn.execute(update, updates)
        n_changed += len(updates)
        after = rows[-1].id
    if n_changed:
        conn.execute(
            sa.text("UPDATE data_version SET version = version + 1, rewrites = rewrites + 1 WHERE id = 1")
        )


def downgrade() -> None:
    """Nothing to undo in the schema; the radii stated before left addresses outside and are not put back."""
