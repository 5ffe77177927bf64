"""Imports keep the separator their CSV file was read with.

A semicolon-separated export writes its decimals with a comma (``54,77``), and the import reads its
coordinates and accuracies that way. Review's correction of a quarantined row reads the row again as
the import read it, so it needs to know: from this revision the import record keeps the file's
separator (``delimiter``: ``,``, ``;`` or a tab; NULL for a workbook).

Imports made before this revision have none (NULL): their rows are read again as a comma-separated
file's, as before this revision, and a comma decimal in them must be corrected to a full stop.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("imports", sa.Column("delimiter", sa.String(1)))


def downgrade() -> None:
    with op.batch_alter_table("imports") as batch:
        batch.drop_column("delimiter")
