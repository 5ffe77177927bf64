"""Stored reports stated again from a rebuilt gazetteer.

A report found by a postcode, a place name or a street is stored with the radius the area's gazetteer
measured of that postcode, place or street when it was imported. A gazetteer rebuilt later (a newer
Code-Point release, more police.uk months, OpenStreetMap outlines) may measure it wider:
``widen_stored_radii`` gives such reports the wider radius, so no report claims to be more precise than
the gazetteer in use says its place is. A radius is never made narrower (what the report was stated as
when it arrived stays the least it claims), and a report's point never moves: a street the rebuilt
gazetteer puts elsewhere along its length widens its reports to cover where it is now
(``geocode.StatedRadius``). Reports found by coordinates or an analyst keep their radius: nothing in the
gazetteer says more about them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from hoth_geo import store
from hoth_geo.access import audit
from hoth_geo.intake import geocode, pipeline
from hoth_geo.intake.gazetteer import Gazetteer

__all__ = [
    "Widened",
    "widen_stored_radii",
    "restated_since",
]

_BATCH = 50_000  # reports read at a time, so memory does not grow with the table
rep = store.reports


@dataclass(frozen=True)
class Widened:
    """What ``widen_stored_radii`` did: the reports it read again and, by method, how many it widened."""

    n_checked: int
    widened: dict[str, int]
    n_not_in_gazetteer: int  # postcode, place or street the gazetteer no longer holds: radius kept

    @property
    def n_widened(self) -> int:
        return sum(self.widened.values())

    def describe(self) -> list[str]:
        lines = [
            f"{self.n_checked:,} stored reports found by a postcode, a place name or a street read again"
        ]
        if self.n_widened:
            by = ", ".join(f"{n:,} by {m.replace('_', ' ')}" for m, n in sorted(self.widened.items()))
            lines.append(f"{self.n_widened:,} stated wider, as the gazetteer now measures them ({by})")
        else:
            lines.append("none is stated narrower than the gazetteer now measures it")
        if self.n_not_in_gazetteer:
            lines.append(
                f"{self.n_not_in_gazetteer:,} name a postcode, place or street the gazetteer no longer holds"
                " there: their radius is kept"
            )
        return lines


def widen_stored_radii(engine: Engine, gazetteer: Gazetteer | None = None, *, actor: str | None) -> Widened:
    """State every stored report found by a postcode, a place name or a street at least as wide as
    ``gazetteer`` (default: the area's) measures that postcode, place or street today. One transaction,
    read in batches by id; the data version is bumped when a report changed (app processes read the
    reports again), and one ``reports_restated`` audit entry records the counts."""
    gaz = gazetteer or pipeline.area_gazetteer(engine)
    extra_places = pipeline.places_in_area(store.load_places(engine), gaz)
    select = (
        sa.select(
            rep.c.id,
            rep.c.geocode_method,
            rep.c.postcode,
            rep.c.place_id,
            rep.c.precision_m,
            rep.c.place_name,  # a street's report: the text its street was found in, and its point
            rep.c.location_text,
            rep.c.latitude,
            rep.c.longitude,
        )
        .where(rep.c.geocode_method.in_(geocode.RESTATABLE_METHODS), rep.c.id > sa.bindparam("after"))
        .order_by(rep.c.id)
        .limit(_BATCH)
    )
    update = rep.update().where(rep.c.id == sa.bindparam("rid")).values(precision_m=sa.bindparam("radius"))
    stated_radius = geocode.StatedRadius(gaz, extra_places)
    checked, missing, widened = 0, 0, {}
    with engine.begin() as conn:
        store.take_lock(conn)  # first, as every writing transaction does
        after = 0
        while not (batch := pd.read_sql(select, conn, params={"after": after})).empty:
            after = int(batch["id"].iloc[-1])
            checked += len(batch)
            stated = stated_radius(batch)
            stored = batch["precision_m"].to_numpy(dtype=float)
            missing += int(np.isnan(stated).sum())
            wider = np.isfinite(stated) & ~(stored >= stated)  # a blank stored radius is widened too
            if not wider.any():
                continue
            conn.execute(
                update,
                [
                    {"rid": int(i), "radius": float(r)}
                    for i, r in zip(batch["id"].to_numpy()[wider], stated[wider], strict=True)
                ],
            )
            for method, n in batch.loc[wider, "geocode_method"].value_counts().items():
                widened[method] = widened.get(method, 0) + int(n)
        result = Widened(n_checked=checked, widened=widened, n_not_in_gazetteer=missing)
        if result.n_widened:
            store.bump_data_version(conn)
        audit.record(
            conn,
            "reports_restated",
            actor=actor,
            target=getattr(gaz, "area_name", None),
            details={"checked": checked, "widened": widened, "not_in_gazetteer": missing},
        )
    return result


def restated_since(engine: Engine, since) -> bool:
    """Whether ``widen_stored_radii`` ran since ``since`` (UTC, e.g. the gazetteer's build time)."""
    return not audit.load_audit(engine, since=since, event="reports_restated").empty
