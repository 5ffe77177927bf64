"""`hoth-geo area ...`: set the partnership's study area and build its gazetteer; and the shared
``--area FILE`` / ``--source`` options of the analysis commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from hoth_geo.cli.options import DbOption, actor, fail

__all__ = [
    "AreaOption",
    "SourceOption",
    "analysis_frame",
    "apply_area",
    "within_override",
    "register",
]

AreaOption = Annotated[
    Path | None,
    typer.Option(
        "--area",
        help="boundary file (GeoJSON, GeoPackage or zipped Shapefile) to use instead of the configured "
        "area for this run",
    ),
]
SourceOption = Annotated[str, typer.Option("--source", help="reports (partnership) or context (police.uk)")]

area_app = typer.Typer(
    help="The partnership's study area: set it from a boundary file, build its gazetteer, show it.",
    no_args_is_help=True,
)


def apply_area(db: str | None, area_file: Path | None):
    """The area for this run (the --area file, else the database's configured area), made the one
    every default uses; exits naming the file when it cannot be read."""
    from hoth_geo import settings
    from hoth_geo.intake import area as area_mod

    try:
        chosen = (
            area_mod.boundary_override(area_file, db_url=settings.database_url(db))
            if area_file is not None
            else area_mod.current_area(settings.database_url(db))
        )
    except area_mod.AreaError as exc:
        fail(str(exc))
    # A command-line process runs one command: its area becomes the process default (tests that run
    # several commands in one process reset it between tests, see tests/conftest.py).
    area_mod.use(chosen)
    return chosen


def analysis_frame(engine, source: str, area=None) -> pd.DataFrame:
    """The partnership reports, or the police.uk context layer in the same analysis layout.

    With an ``--area`` override, only rows inside that boundary are analysed (the run is about that
    area), and how many were left out is printed.
    """
    from hoth_geo import store
    from hoth_geo.intake.context_frame import context_as_reports

    if source not in ("reports", "context"):
        fail(f"--source must be reports or context, got {source!r}")
    if source == "reports":
        frame = store.load_reports(engine)
    else:
        frame = context_as_reports(store.load_context(engine))
    if area is not None and area.clip_gazetteer:
        frame = within_override(frame, area)
    return frame


def within_override(frame: pd.DataFrame, area) -> pd.DataFrame:
    """Rows of ``frame`` whose point lies inside an --area boundary; online reports are kept (they are
    counted, never mapped)."""
    from hoth_geo.intake.area import inside_area

    has_point = frame["latitude"].notna().to_numpy()
    inside = inside_area(area.boundary, frame["latitude"].to_numpy(float), frame["longitude"].to_numpy(float))
    keep = inside | ~has_point
    left_out = int((~keep).sum())
    if left_out:
        typer.echo(
            f"{left_out:,} of {len(frame):,} rows lie outside {area.name} (--area) and are left out", err=True
        )
    return frame[keep].reset_index(drop=True)


class _Progress:
    def __init__(self) -> None:
        self.last = ""

    def __call__(self, fraction: float, message: str) -> None:
        if message != self.last:
            typer.echo(f"  [{fraction:4.0%}] {message}", err=True)
            self.last = message


@area_app.command("set")
def set_command(
    boundary: Annotated[
        Path,
        typer.Option(
            "--boundary", help="GeoJSON, GeoPackage or zipped Shapefile; any CRS; polygons dissolved"
        ),
    ],
    name: Annotated[str, typer.Option("--name", help="the area's name, shown on every page and export")],
    db: DbOption = None,
) -> None:
    """Make BOUNDARY the study area. Its gazetteer starts empty: build it with `area build-gazetteer`."""
    from hoth_geo import settings, store
    from hoth_geo.intake import area as area_mod

    url = settings.database_url(db)
    engine = store.connect(url)
    try:
        result = area_mod.set_area(boundary, name, db_url=url, engine=engine, actor=actor())
    except area_mod.AreaError as exc:
        fail(str(exc))
    for line in result.messages():
        typer.echo(line)
    typer.echo(f"stored in {result.area.gazetteer_dir.parent}")


@area_app.command("build-gazetteer")
def build_command(
    codepoint: Annotated[
        list[Path],
        typer.Option(
            "--codepoint", help="OS Code-Point Open: the GB zip as downloaded, or its unzipped folder"
        ),
    ],
    policeuk: Annotated[
        list[Path] | None, typer.Option("--policeuk", help="police.uk street-level crime CSV (repeatable)")
    ] = None,
    osm: Annotated[
        list[Path] | None,
        typer.Option(
            "--osm", help="OpenStreetMap: .osm.pbf extract, GeoJSON, GeoPackage or CSV (repeatable)"
        ),
    ] = None,
    open_names: Annotated[
        list[Path] | None,
        typer.Option("--open-names", help="OS Open Names CSV zip as downloaded (optional: named roads)"),
    ] = None,
    localities: Annotated[
        Path | None,
        typer.Option("--localities", help="named polygons (e.g. ONS wards) for place localities"),
    ] = None,
    buffer_m: Annotated[
        float,
        typer.Option("--buffer-m", min=0, max=20_000, help="keep postcodes this far beyond the boundary"),
    ] = 2_000.0,
    db: DbOption = None,
) -> None:
    """Build the configured area's gazetteer from official-format downloads (replaces any earlier one)."""
    from hoth_geo import settings
    from hoth_geo.intake import area as area_mod
    from hoth_geo.intake.area_gazetteer import build_gazetteer_for_area, describe_report

    for p in [
        *codepoint,
        *(policeuk or []),
        *(osm or []),
        *(open_names or []),
        *([localities] if localities else []),
    ]:
        if not p.exists():
            fail(f"no such file: {p}")
    current = area_mod.current_area(settings.database_url(db))
    if current.shipped:
        fail(
            f"the area in use is the shipped {current.name}; set your own first: "
            "hoth-geo area set --boundary FILE --name NAME"
        )
    typer.echo(f"building the gazetteer for {current.name}")
    try:
        report = build_gazetteer_for_area(
            current,
            codepoint=codepoint,
            policeuk=policeuk or [],
            osm=osm or [],
            open_names=open_names or [],
            localities_path=localities,
            buffer_m=buffer_m,
            progress=_Progress(),
        )
    except (ValueError, OSError) as exc:
        fail(str(exc), code=1)
    from hoth_geo import store
    from hoth_geo.access import audit
    from hoth_geo.intake import review

    engine = store.connect(db)
    audit.record(
        engine,
        "area_gazetteer_built",
        actor=actor(),
        target=current.name,
        details={"area_id": current.area_id, "layers": report["layers"], "sources": report["sources"]},
    )
    for line in describe_report(report):
        typer.echo(line)
    waiting = int(review.imports_waiting(engine)["n"].sum())
    if waiting:
        typer.echo(
            f"{waiting:,} {'row waits' if waiting == 1 else 'rows wait'} for a location in Review:"
            " `hoth-geo area locate-again` tries them with the new gazetteer"
        )
    if store.data_version(engine).n_reports:
        typer.echo(
            "stored reports keep the radii they were stored with: `hoth-geo area restate-radii` widens"
            " those whose postcode, place or street the new gazetteer measures wider"
        )


@area_app.command("restate-radii")
def restate_radii_command(db: DbOption = None) -> None:
    """After the gazetteer was rebuilt: state each stored report found by a postcode, a place name or a
    street at least as wide as the gazetteer now measures it (never narrower; points stay)."""
    from hoth_geo import store
    from hoth_geo.intake import restate

    for line in restate.widen_stored_radii(store.connect(db), actor=actor()).describe():
        typer.echo(line)


@area_app.command("locate-again")
def locate_again_command(
    import_id: Annotated[
        int | None, typer.Option("--import", help="only the rows of this import (its id)", min=1)
    ] = None,
    db: DbOption = None,
) -> None:
    """Try the rows that wait for a location in Review again with the area's gazetteer (after it was
    built or rebuilt): those it now locates are stored as an import would store them."""
    from hoth_geo import store
    from hoth_geo.intake import review

    result = review.locate_again(store.connect(db), actor=actor(), import_id=import_id)
    for line in result.describe():
        typer.echo(line)
    for r in result.located.head(10).itertuples():
        typer.echo(
            f"  {r.filename} row {r.row_number}: report {r.report_id}, by {r.geocode_method.replace('_', ' ')}"
            f" (within {r.precision_m:,.0f} m)"
        )
    if len(result.located) > 10:
        typer.echo(f"  ... and {len(result.located) - 10:,} more")


@area_app.command("show")
def show_command(db: DbOption = None) -> None:
    """Show the area in use: name, size, where it is stored, its gazetteer and how it was built."""
    from hoth_geo import settings
    from hoth_geo.intake import area as area_mod
    from hoth_geo.intake.area_gazetteer import describe_report

    try:
        current = area_mod.current_area(settings.database_url(db))
    except area_mod.AreaError as exc:
        fail(str(exc), code=1)
    typer.echo(
        f"area: {current.name} (id {current.area_id}{', shipped demo area' if current.shipped else ''})"
    )
    typer.echo(
        f"size: {current.area_km2():,.0f} km²; bounds {[round(v, 4) for v in current.boundary.bounds]}"
    )
    if current.set_at:
        typer.echo(f"set: {current.set_at} by {current.set_by or 'unknown'} from {current.source}")
    gaz = area_mod.gazetteer_for(current)
    typer.echo(
        f"gazetteer: {len(gaz.postcodes):,} postcodes, {len(gaz.places):,} places, {len(gaz.streets):,} streets"
        f" ({current.gazetteer_dir})"
    )
    report = current.build_report()
    if report:
        for line in describe_report(report)[:-1]:
            typer.echo(f"  {line}")


@area_app.command("use-shipped")
def use_shipped_command(db: DbOption = None) -> None:
    """Go back to the shipped County Durham and Darlington area (the demo's)."""
    from hoth_geo import settings
    from hoth_geo.intake import area as area_mod

    shipped = area_mod.use_shipped_area(settings.database_url(db))
    typer.echo(f"study area set to {shipped.name} (shipped)")


def register(app: typer.Typer) -> None:
    """Add the `area` command group to ``app`` (once)."""
    if any(getattr(g, "name", None) == "area" for g in app.registered_groups):
        return
    app.add_typer(area_app, name="area")
