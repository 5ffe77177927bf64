"""Schema migrations (Alembic): every database of this project is brought to the current schema.

The tables declared on ``hoth_geo.store.metadata`` (with those of ``audit`` and ``auth``) are the current
schema; ``versions/`` holds the steps from each earlier schema to the next, starting from 0001, the schema
as it was before migrations existed.

* A new, empty database is created from the metadata in one step and stamped at the newest revision
  (``create_new``): the same result as replaying every migration (a test compares the two), without the
  replay.
* ``upgrade`` (``hoth-geo db upgrade``) brings an older database to the newest revision. A database made
  before migrations existed (the tables, no ``alembic_version``) is adopted at 0001 first: 0001 creates
  only the tables it lacks, as ``store.connect`` used to.
* ``store.connect`` refuses a database at an older revision with a message naming ``hoth-geo db
  upgrade``: upgrading is a deliberate step (after a backup, with every app instance stopped), never a
  side effect of starting one of several app instances.

On PostgreSQL the schema changes take a transaction-scoped advisory lock, so two processes starting on
one new database, or two upgrades, queue instead of colliding; and the DDL is transactional, so a failed
upgrade leaves the database as it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from hoth_geo.store.tables import metadata

__all__ = [
    "MIGRATIONS_DIR",
    "VERSION_TABLE",
    "MARKER_TABLE",
    "SchemaOutOfDate",
    "target_metadata",
    "head_revision",
    "current_revision",
    "SchemaState",
    "schema_state",
    "ensure_current",
    "known_revisions",
    "create_new",
    "upgrade",
    "stamp",
    "differences",
    "history",
    "draft_revision",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent
VERSION_TABLE = "alembic_version"
# A table every database of this project has had since the first version.
MARKER_TABLE = "reports"
# pg_advisory_xact_lock key for schema changes (any constant; this is "hothgeo" in ASCII).
_SCHEMA_LOCK_KEY = 0x686F746867656F


class SchemaOutOfDate(RuntimeError):
    """The database's schema is not the one this version of hoth-geo uses (the message names the fix)."""


def target_metadata() -> sa.MetaData:
    """The current schema: every table, declared in hoth_geo.store.tables."""
    return metadata


def _config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@cache
def head_revision() -> str:
    """The newest revision in versions/."""
    heads = ScriptDirectory.from_config(_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"migrations must form one line, found heads {heads}")
    return heads[0]


def current_revision(conn: Connection) -> str | None:
    """The Alembic revision the database is at, or None when it is not versioned."""
    return MigrationContext.configure(conn).get_current_revision()


@dataclass(frozen=True)
class SchemaState:
    """Where a database's schema stands: its revision and whether the project's tables exist."""

    revision: str | None  # from alembic_version; None when not versioned
    has_tables: bool  # the project's tables exist

    @property
    def empty(self) -> bool:
        return self.revision is None and not self.has_tables

    @property
    def unversioned(self) -> bool:
        """Made before migrations existed: tables, but no alembic_version."""
        return self.revision is None and self.has_tables

    @property
    def current(self) -> bool:
        return self.revision == head_revision()


def schema_state(conn: Connection) -> SchemaState:
    """The ``SchemaState`` of the database ``conn`` is connected to."""
    inspector = sa.inspect(conn)
    return SchemaState(current_revision(conn), inspector.has_table(MARKER_TABLE))


def _lock(conn: Connection) -> None:
    """Serialise schema changes: the first statement of the transaction that makes them."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
    elif conn.dialect.name == "sqlite":
        # The driver starts no transaction before DDL: take SQLite's write lock now, so the DDL and the
        # version stamp commit together and a second process waits (busy timeout) instead of colliding.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def ensure_current(engine: Engine) -> None:
    """Create the schema in an empty database; refuse a database at another revision (see module doc)."""
    target_metadata()  # every table declared, whichever modules the caller has imported so far
    with engine.connect() as conn:
        state = schema_state(conn)
    if state.current:
        return
    if state.empty:
        with engine.begin() as conn:
            _lock(conn)
            if schema_state(conn).empty:  # another process may have created it while we waited
                create_new(conn)
        return
    url = engine.url.render_as_string(hide_password=True)
    if state.unversioned:
        found = "a schema made before migrations existed"
    elif state.revision in known_revisions():
        found = f"schema revision {state.revision}"
    else:
        raise SchemaOutOfDate(
            f"database {url} has schema revision {state.revision}, which this version of hoth-geo does not "
            f"know (its newest is {head_revision()}): it was upgraded by a newer hoth-geo; run that version"
        )
    raise SchemaOutOfDate(
        f"database {url} has {found}; this version of hoth-geo needs revision {head_revision()}. "
        f"Back it up, then run: hoth-geo db upgrade --db '{url}'"
    )


@cache
def known_revisions() -> frozenset[str]:
    """Every revision this version of hoth-geo knows how to upgrade from or to."""
    return frozenset(s.revision for s in ScriptDirectory.from_config(_config()).walk_revisions())


def create_new(conn: Connection) -> None:
    """The current schema in an empty database, stamped at the newest revision."""
    target_metadata().create_all(conn)
    command.stamp(_config(conn), "head")


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the database to ``revision``. Returns the revisions (before, after); before is None for a
    database that was empty or made before migrations existed."""
    with engine.begin() as conn:
        _lock(conn)
        before = current_revision(conn)
        command.upgrade(_config(conn), revision)
        after = current_revision(conn)
    return before, after


def stamp(engine: Engine, revision: str) -> None:
    """Record ``revision`` without changing the schema (for a database whose schema is known to match)."""
    with engine.begin() as conn:
        _lock(conn)
        command.stamp(_config(conn), revision)


def differences(engine: Engine) -> list:
    """What differs between the database's schema and the current metadata (empty when they match)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, target_metadata())


def history() -> list[tuple[str, str | None, str]]:
    """(revision, down revision, message) from the oldest to the newest."""
    scripts = list(ScriptDirectory.from_config(_config()).walk_revisions())
    return [(s.revision, s.down_revision, s.doc) for s in reversed(scripts)]


def draft_revision(engine: Engine, message: str, rev_id: str) -> Path:
    """Write autogenerate's draft of a new migration: from the schema of ``engine``'s database (at the
    newest revision) to the current metadata. Returns its path; read and complete it before committing."""
    with engine.begin() as conn:
        script = command.revision(_config(conn), message=message, autogenerate=True, rev_id=rev_id)
    return Path(script.path)
