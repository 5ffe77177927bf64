"""Alembic environment: migrations run on the connection hoth_geo.store.migrations hands over (or a URL)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from hoth_geo.store.migrations import target_metadata

config = context.config


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata(),
        # SQLite cannot alter columns in place: autogenerate writes batch operations (copy and move).
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # the plain `alembic` command with -x url=... or sqlalchemy.url set
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()
