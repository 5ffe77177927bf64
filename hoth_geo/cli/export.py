"""`hoth-geo export`: maps, briefing packs and data files for one audience, recorded in the export log.

``register(app)`` adds the command to the main command line. The work is done by the library's
``export_prep.prepare_export`` (the bytes) and ``export_prep.record`` (one row in the export log), the
same two functions the app's Export page uses; this module only reads the options, loads the data and
writes the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hoth_geo import settings
from hoth_geo.cli.area import AreaOption
from hoth_geo.cli.options import (
    AgencyOption,
    AgencyTypeOption,
    ConcernOption,
    DbOption,
    FromOption,
    GradingInformationOption,
    GradingSourceOption,
    IndicatorOption,
    PlaceTypeOption,
    ToOption,
    actor,
    fail,
)
from hoth_geo.cli.options import filters as _filters
from hoth_geo.deliver.export_prep import KINDS, MAP_TYPES, prepare_export, record

__all__ = ["register"]


# --- The command ---------------------------------------------------------------------------------------------


# The same options as hoth_geo.cli (defined here so cli.py can import this module without a cycle).
def export(
    ctx: typer.Context,
    kind: Annotated[str, typer.Option("--kind", help=f"what to export: {', '.join(KINDS)}")],
    audience: Annotated[str, typer.Option("--audience", help="who receives it: police, partner or public")],
    out: Annotated[Path, typer.Option("--out", help="output file; its suffix must suit --kind")],
    res: Annotated[
        int, typer.Option("--res", help="H3 resolution (coarsened to what the audience may see)")
    ] = settings.DEFAULT_MAP_RES,
    map_type: Annotated[
        str, typer.Option("--map", help="map-* kinds: count, gistar (hot/cold spots) or emerging")
    ] = "count",
    crs: Annotated[
        str, typer.Option("--crs", help="gpkg/csv/xlsx: EPSG:4326 or EPSG:27700 (GeoJSON is always 4326)")
    ] = "EPSG:4326",
    marking: Annotated[
        str | None, typer.Option("--marking", help="protective marking (default: the audience's)")
    ] = None,
    k: Annotated[
        int | None,
        typer.Option("--k", help="small-number threshold: counts 1..k-1 shown as '<k' (default 5)"),
    ] = None,
    date_from: FromOption = None,
    date_to: ToOption = None,
    place_type: PlaceTypeOption = None,
    concern: ConcernOption = None,
    indicator: IndicatorOption = None,
    agency: AgencyOption = None,
    agency_type: AgencyTypeOption = None,
    grading_source: GradingSourceOption = None,
    grading_information: GradingInformationOption = None,
    area: AreaOption = None,
    db: DbOption = None,
) -> None:
    """Export a map, a briefing pack or the hexagon table for one audience; recorded in the export log."""
    from hoth_geo import store
    from hoth_geo.access import privacy
    from hoth_geo.cli.area import apply_area, within_override
    from hoth_geo.intake import pipeline

    if kind not in KINDS:
        fail(f"--kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if audience not in privacy.AUDIENCES:
        fail(f"--audience must be one of {', '.join(privacy.AUDIENCES)}, got {audience!r}")
    if out.suffix.lower() not in KINDS[kind]:
        fail(f"--out must end in {' or '.join(KINDS[kind])} for --kind {kind}, got {out.name!r}")
    if map_type not in MAP_TYPES:
        fail(f"--map must be one of {', '.join(MAP_TYPES)}, got {map_type!r}")
    if crs not in ("EPSG:4326", "EPSG:27700"):
        fail(f"--crs must be EPSG:4326 or EPSG:27700, got {crs!r}")
    if kind == "geojson" and crs != "EPSG:4326":
        fail(f"--crs {crs} is not possible for GeoJSON, which is always EPSG:4326 (RFC 7946)")
    if not 0 <= res <= settings.FINE_H3_RES:
        fail(f"--res must be an H3 resolution 0..{settings.FINE_H3_RES}, got {res!r}")
    if k is not None and k < 2:
        fail(f"--k must be a whole number of at least 2, got {k!r}")
    if marking is not None and not marking.strip():
        fail(f"--marking must be a non-empty text, got {marking!r}")
    policy = privacy.policy_for(audience, k=k, marking=marking)
    f = _filters(ctx.params)  # the filter options above, by name
    engine = store.connect(db)
    # The grid, outline and title follow the database's area (or --area for this run).
    used_area = apply_area(db, area)
    reports = store.load_reports(engine)
    if used_area.clip_gazetteer:
        reports = within_override(reports, used_area)
    places = pipeline.all_places(engine) if kind in ("briefing", "gpkg", "map-html") else None
    demo = store.counts(engine)["demo_reports"] > 0
    try:
        prepared = prepare_export(
            reports,
            places,
            kind=kind,
            policy=policy,
            res=res,
            filters=f,
            map_type=map_type,
            crs=crs,
            demo=demo,
        )
    except privacy.NotAllowed as exc:
        fail(str(exc))
    except ValueError as exc:  # includes TooFewReports: the selection cannot give this export
        fail(str(exc), code=1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(prepared.data)
    export_id = record(engine, prepared, policy=policy, filters=f, exported_by=actor(), filename=out.name)
    typer.echo(f"wrote {kind} ({len(prepared.data):,} bytes) to {out}")
    typer.echo(
        f"audience: {audience} (marking {policy.marking}; counts 1..{policy.k - 1} shown as '{policy.small}')"
        if policy.suppresses
        else f"audience: {audience} (marking {policy.marking}; exact counts)"
    )
    typer.echo(f"resolution: H3 {prepared.res}" + (f" ({prepared.note})" if prepared.note else ""))
    used_filters = privacy.partner_filters(f, policy)  # whole months for partners and the public
    typer.echo(f"filters: {used_filters.describe() if used_filters is not None else 'all reports'}")
    typer.echo(f"recorded in the export log as #{export_id}")


def register(app: typer.Typer) -> None:
    """Add the `export` command to ``app`` (once: a second call changes nothing)."""
    if any(getattr(c, "name", None) == "export" for c in app.registered_commands):
        return
    app.command("export")(export)
