"""Reports placed at a postcode unit get the radius the unit really has.

Until this revision every report geocoded to a full postcode was stated as within 100 m of the unit's
point. Code-Point Open gives a unit one point and no extent: a terrace's unit is that small, but a farm
unit in the dales reaches kilometres. From this revision the gazetteer states each unit's radius as the
distance to the nearest other unit's point, at least 100 m (``hoth_geo.intake.gazetteer.unit_radii``);
this migration does the same to the reports already stored:

- ``postcode`` reports stated at 100 m (all of them, before this revision) whose postcode is a unit of the
  gazetteer of the database's area get that unit's radius; one whose unit is no longer in the gazetteer
  (the area changed since) keeps its 100 m.

Reports an analyst located in Review keep theirs (the stored row does not say whether a postcode or a map
click placed them). The radius is worked out here, not read from the geocoder, so that later changes to
it do not change what this revision does; the gazetteer's postcode units are read as the app reads
them. Values already right are left alone; the data version is bumped when a report changed, so running
app processes read the reports again.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import logging

import numpy as np
import sqlalchemy as sa
from alembic import op
from scipy.spatial import cKDTree

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_OLD_RADIUS_M = 100.0  # what every postcode report was stated at before this revision
_FLOOR_M = 100.0
_NEIGHBOURS = 32  # units looked at around each one (more than share one building's point)
_EARTH_RADIUS_M = 6_371_008.8
_BATCH = 50_000

log = logging.getLogger("alembic.runtime.migration")


def _unit_radii(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """The distance from each unit's point to the nearest other unit's point more than a metre away, at
    least the floor (equirectangular metres about the units' mean latitude)."""
    out = np.full(len(lat), _FLOOR_M)
    if len(lat) < 2:
        return out
    lat0 = np.radians(np.mean(lat))
    xy = np.column_stack(
        [np.radians(lon) * _EARTH_RADIUS_M * np.cos(lat0), np.radians(lat) * _EARTH_RADIUS_M]
    )
    tree = cKDTree(xy)
    gap = tree.query(xy, k=2)[0][:, 1]
    shared = np.flatnonzero(gap <= 1.0)  # units sharing a point look further for one elsewhere
    if len(shared):
        near = tree.query(xy[shared], k=min(_NEIGHBOURS, len(lat)))[0]
        apart = np.where(near > 1.0, near, np.inf).min(axis=1)
        gap[shared] = np.where(np.isfinite(apart), apart, 0.0)
    return np.maximum(np.round(gap), _FLOOR_M)


def _units(conn) -> dict[str, float]:
    """Postcode -> radius for the units of the database's area (empty when it has none to read)."""
    from hoth_geo.intake import area
    from hoth_geo.intake.gazetteer import load_gazetteer

    try:
        in_use = area.current_area(conn.engine.url.render_as_string(hide_password=False))
        # The area's whole gazetteer, as the geocoder measures units: neighbours outside a clipped
        # area's boundary still bound a unit's reach.
        postcodes = load_gazetteer(in_use.gazetteer_dir).postcodes
    except (area.AreaError, OSError, ValueError) as exc:
        log.warning("postcode radii left at 100 m: the area's gazetteer could not be read (%s)", exc)
        return {}
    lat = postcodes["latitude"].to_numpy(dtype=float)
    lon = postcodes["longitude"].to_numpy(dtype=float)
    ok = np.isfinite(lat) & np.isfinite(lon)
    radii = _unit_radii(lat[ok], lon[ok])
    return dict(zip(postcodes["postcode"].to_numpy(dtype=object)[ok].tolist(), radii.tolist(), strict=True))


def upgrade() -> None:
    conn = op.get_bind()
    select = sa.text(
        "SELECT id, postcode FROM reports WHERE id > :after AND geocode_method = 'postcode'"
        " AND precision_m = :old AND postcode IS NOT NULL ORDER BY id LIMIT :n"
    )
    first = conn.execute(select, {"after": 0, "old": _OLD_RADIUS_M, "n": 1}).first()
    if first is None:
        return  # no report to state again: the gazetteer is not read
    units = _units(conn)
    if not units:
        return
    update = sa.text("UPDATE reports SET precision_m = :precision_m WHERE id = :id")
    after, n_changed = 0, 0
    # In batches by id, so the memory it takes does not grow with the number of reports.
    while rows := conn.execute(select, {"after": after, "old": _OLD_RADIUS_M, "n": _BATCH}).all():
        updates = []
        for r in rows:
            radius = units.get(str(r.postcode).strip().upper())
            if radius is not None and radius != _OLD_RADIUS_M:
                updates.append({"id": int(r.id), "precision_m": float(radius)})
        if updates:
            conn.execute(update, updates)
        n_changed += len(updates)
        after = rows[-1].id
    if n_changed:
        conn.execute(
            sa.text("UPDATE data_version SET version = version + 1, rewrites = rewrites + 1 WHERE id = 1")
        )


def downgrade() -> None:
    """Nothing to undo in the schema; the radii stated before were too narrow and are not put back."""
