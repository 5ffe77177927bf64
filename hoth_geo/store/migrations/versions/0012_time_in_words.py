"""Reports keep a time of day said in words.

A partner's "Time observed" of "evening" or "after school" is no time of day, and until this revision
such a row was quarantined until the partner sent a corrected file: the report was off the map, for
the sake of a time the Time page could not use anyway. From this revision the row is stored with the
time of day unknown (as a blank time is), and the words are kept with the report (``time_text``), shown
in the report list and compared when the report is sent again. A time with digits that is no time
("25:61", "13pm") is still quarantined: it is a typing slip a person must correct.

Reports stored before this revision have no such words (NULL): rows that had them were quarantined,
and a later import of the same file stores them (their quarantine entries are then superseded, as for
any corrected row).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("reports", sa.Column("time_text", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("time_text")
