"""Quarantine entries keep the identity of their row, so a corrected row closes its entry.

A partner whose row was quarantined (a time that is not a time, a grid reference with a digit missing)
sends the row again, corrected, under the same agency and source reference. Until this revision the
corrected row was stored and the first entry stayed open in Review's "needs a corrected file" list for
ever, because nothing linked the two. From this revision each entry keeps the row's identity
(``quarantine.identity``, as ``reports.identity``), and an import that stores a report of that identity
marks earlier open entries ``superseded``, pointing at the report.

Entries quarantined before this revision have no identity (NULL): the partner's file is not kept, and
the identity cannot be worked out again without the file's header mapping. They stay open until an
analyst resolves them, as before.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("quarantine", sa.Column("identity", sa.String(64)))
    op.create_index("ix_quarantine_identity", "quarantine", ["identity"])


def downgrade() -> None:
    op.drop_index("ix_quarantine_identity", table_name="quarantine")
    with op.batch_alter_table("quarantine") as batch:
        batch.drop_column("identity")
