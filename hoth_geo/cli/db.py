"""`hoth-geo db`: the database schema (Alembic migrations, see hoth_geo/migrations).

``register(app)`` adds the group to the main command line.
"""

from __future__ import annotations

from typing import Annotated

import typer

from hoth_geo.cli.options import DbOption, fail

__all__ = [
    "register",
]

db_app = typer.Typer(help="The database schema: status and upgrades.", no_args_is_help=True)


def _engine(db: str | None):
    from hoth_geo import store

    return store.open_engine(db)


def _describe(revision: str | None) -> str:
    return revision or "none"


@db_app.command()
def upgrade(
    db: DbOption = None,
    to: Annotated[str, typer.Option("--to", help="target revision (default: the newest)")] = "head",
) -> None:
    """Bring the database to the current schema (back it up and stop the app instances first).

    A database made before migrations existed is adopted at revision 0001, then upgraded. An empty
    database gets the whole schema.
    """
    from alembic.util import CommandError

    from hoth_geo.store import migrations

    engine = _engine(db)
    url = engine.url.render_as_string(hide_password=True)
    with engine.connect() as conn:
        state = migrations.schema_state(conn)
    if state.revision is not None and state.revision not in migrations.known_revisions():
        fail(
            f"database {url} is at revision {state.revision}, which this version of hoth-geo does not know "
            f"(newest: {migrations.head_revision()}); it was upgraded by a newer version",
            code=1,
        )
    if state.unversioned:
        typer.echo(f"{url}: made before schema migrations; adopting it at revision 0001")
    try:
        before, after = migrations.upgrade(engine, to)
    except CommandError as exc:
        fail(str(exc))
    if before == after:
        typer.echo(f"{url}: already at revision {_describe(after)}; nothing to do")
    else:
        typer.echo(f"{url}: upgraded from revision {_describe(before)} to {_describe(after)}")
    engine.dispose()


@db_app.command()
def status(db: DbOption = None) -> None:
    """The database's schema revision and the newest this version of hoth-geo knows. Exit 1 when behind."""
    from hoth_geo.store import migrations

    engine = _engine(db)
    url = engine.url.render_as_string(hide_password=True)
    with engine.connect() as conn:
        state = migrations.schema_state(conn)
    head = migrations.head_revision()
    if state.empty:
        typer.echo(f"{url}: empty (the schema is created on first use); newest revision {head}")
    elif state.unversioned:
        typer.echo(f"{url}: made before schema migrations; run `hoth-geo db upgrade` (newest: {head})")
    else:
        typer.echo(f"{url}: revision {state.revision}; newest {head}")
    for revision, _down, message in migrations.history():
        typer.echo(f"  {revision}  {message}")
    engine.dispose()
    if not (state.current or state.empty):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the ``hoth-geo db`` commands to ``app``."""
    app.add_typer(db_app, name="db")
