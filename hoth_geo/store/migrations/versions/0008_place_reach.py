"""Reports placed at a gazetteer place get the radius the place has.

Until this revision every report placed at a named place was stated as within 30 m of the place's point,
whatever the place: a doorway and a park alike. From this revision a gazetteer built from police.uk
states each landmark's radius as the distance from its map point to the nearest other map point, at
least 30 m (``hoth_geo.intake.gazetteer.landmark_radii``, stored in the places layer as ``radius_m``);
this migration gives the same radius to the reports already stored there:

- ``place_name`` reports, and reports an analyst placed at a place in Review (``analyst`` with a place and
  the 30 m a place was stated at), whose place the gazetteer of the database's area measures, are stated
  at its radius when that is wider. A place the gazetteer does not measure (a demo venue, an analyst's
  place, a gazetteer built before this revision) keeps its 30 m, and no radius is made narrower.

Reports placed by coordinates and linked to a place keep their own radius. The radii are read from the
gazetteer's places layer as the app reads it (they were measured when it was built); the data version is
bumped when a report changed, so running app processes read the reports again.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_OLD_RADIUS_M = 30.0  # what a report at a place was stated at before this revision
_BATCH = 50_000

log = logging.getLogger("alembic.runtime.migration")


def _place_radii(conn) -> dict[str, float]:
    """place_id -> radius for the places of the database's area that carry one (empty when none)."""
    from hoth_geo.intake import area

    try:
        in_use = area.current_area(conn.engine.url.render_as_string(hide_password=False))
        places = area.gazetteer_for(in_use).places
    except (area.AreaError, OSError, ValueError) as exc:
        log.warning("place radii left at 30 m: the area's gazetteer could not be read (%s)", exc)
        return {}
    if "radius_m" not in places.columns:
        return {}
    radius = pd.to_numeric(places["radius_m"], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(radius) & (radius > _OLD_RADIUS_M)
    ids = places["place_id"].to_numpy(dtype=object)[ok]
    return dict(zip([str(i) for i in ids], radius[ok].tolist(), strict=True))


def upgrade() -> None:
    conn = op.get_bind()
    select = sa.text(
        "SELECT id, place_id, precision_m FROM reports WHERE id > :after AND place_id IS NOT NULL"
        " AND (geocode_method = 'place_name' OR (geocode_method = 'analyst' AND precision_m = :old))"
        " ORDER BY id LIMIT :n"
    )
    if conn.execute(select, {"after": 0, "old": _OLD_RADIUS_M, "n": 1}).first() is None:
        return  # no report to state again: the gazetteer is not read
    radii = _place_radii(conn)
    if not radii:
        return
    update = sa.text("UPDATE reports SET precision_m = :precision_m WHERE id = :id")
    after, n_changed = 0, 0
    # In batches by id, so the memory it takes does not grow with the number of reports.
    while rows := conn.execute(select, {"after": after, "old": _OLD_RADIUS_M, "n": _BATCH}).all():
        updates = []
        for r in rows:
            radius = radii.get(str(r.place_id))
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
    """Nothing to undo in the schema; the radii stated before were too narrow and are not put back."""
