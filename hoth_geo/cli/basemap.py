"""`hoth-geo basemap ...`: show, set or clear the basemap drawn under every map (hoth_geo.deliver.basemap)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hoth_geo.cli.options import DbOption, actor, fail

__all__ = [
    "register",
]

basemap_app = typer.Typer(
    help="The basemap under the maps: none, a tile server, or a local MBTiles/PMTiles file.",
    no_args_is_help=True,
    add_completion=False,
)


def _record(db: str | None, event: str, basemap) -> None:
    from hoth_geo import store
    from hoth_geo.access import audit
    from hoth_geo.deliver import basemap as basemaps

    shown = basemaps.with_key_hidden(basemap)
    audit.record(
        store.connect(db),
        event,
        actor=actor(),
        target=shown.name or shown.source,
        details={"source": shown.source, "url": shown.url, "path": shown.path},
    )


@basemap_app.command("show")
def basemap_show() -> None:
    """Print the configured basemap (an API key is never printed)."""
    from hoth_geo.deliver import basemap as basemaps

    try:
        typer.echo(basemaps.load().describe())
    except basemaps.BasemapError as exc:
        fail(str(exc), 1)


@basemap_app.command("set")
def basemap_set(
    file: Annotated[
        Path | None, typer.Option("--file", help="a local .mbtiles or .pmtiles file of raster tiles")
    ] = None,
    preset: Annotated[str | None, typer.Option("--preset", help="os_maps_road or openstreetmap")] = None,
    url: Annotated[str | None, typer.Option("--url", help="a tile server template with {z}/{x}/{y}")] = None,
    attribution: Annotated[str, typer.Option("--attribution", help="credit shown on the map")] = "",
    key: Annotated[str, typer.Option("--key", help="API key for the tile server ({key} in its URL)")] = "",
    name: Annotated[str, typer.Option("--name", help="a name for the basemap")] = "",
    db: DbOption = None,
) -> None:
    """Configure the basemap: exactly one of --file, --preset or --url."""
    from hoth_geo.deliver import basemap as basemaps

    given = [o for o, v in (("--file", file), ("--preset", preset), ("--url", url)) if v is not None]
    if len(given) != 1:
        fail(f"give exactly one of --file, --preset or --url (got {', '.join(given) or 'none'})")
    try:
        if file is not None:
            basemap = basemaps.from_tile_file(file, attribution, name=name)
        elif preset is not None:
            basemap = basemaps.from_preset(preset, key=key)
        else:
            basemap = basemaps.from_url(url, attribution, name=name, key=key)
    except basemaps.BasemapError as exc:
        fail(str(exc))
    _record(db, "basemap_set", basemap)
    path = basemaps.save(basemap)
    typer.echo(f"basemap set: {basemap.describe()} (saved in {path})")


@basemap_app.command("clear")
def basemap_clear(db: DbOption = None) -> None:
    """Draw maps without a basemap again (area outlines and town labels only)."""
    from hoth_geo.deliver import basemap as basemaps

    _record(db, "basemap_cleared", basemaps.NO_BASEMAP)
    basemaps.save(basemaps.NO_BASEMAP)
    typer.echo("basemap cleared: maps show the area's outlines and town labels only")


def register(app: typer.Typer) -> None:
    """Add the ``hoth-geo basemap`` commands to ``app``."""
    app.add_typer(basemap_app, name="basemap")
