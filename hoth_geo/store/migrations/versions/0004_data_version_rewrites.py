"""data_version.rewrites: which data versions only appended reports.

- ``data_version.rewrites``: bumped with ``version`` by every write except one that only appends
  reports (an import). An app process whose frame was read at an earlier version with the same
  ``rewrites`` reads only the reports added since (``hoth_geo.store.refresh_reports``). Existing
  rows start at 0; nothing else changes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hoth_geo.store.migrations.ops import add_column_if_missing

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_column_if_missing(
        "data_version", sa.Column("rewrites", sa.BigInteger(), nullable=False, server_default="0")
    )


def downgrade() -> None:
    with op.batch_alter_table("data_version") as batch:
        batch.drop_column("rewrites")
