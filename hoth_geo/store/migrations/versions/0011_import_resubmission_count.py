"""An import's record counts its changed resubmissions.

An import record kept the rows read, stored, quarantined, duplicated and outside the area, but not the
rows that were changed resubmissions of stored reports (waiting in Review). So the Import page's
history, which says each file's rows read are the sum of the others, did not add up for a file that
had any. From this revision the record keeps ``n_resubmitted`` too.

Records made before this revision are given the difference: an import refused to finish unless the
rows read were exactly stored + quarantined + duplicates + changed resubmissions + outside the area,
so what the other counts leave is the number of its changed resubmissions. (Counting the resubmissions
table by import would not do: a quarantined row located in Review later leaves its resubmission under
the import it came from.)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("imports", sa.Column("n_resubmitted", sa.Integer(), nullable=False, server_default="0"))
    op.execute(
        "UPDATE imports SET n_resubmitted ="
        " n_read - n_accepted - n_quarantined - n_duplicates - n_out_of_area"
        " WHERE n_read > n_accepted + n_quarantined + n_duplicates + n_out_of_area"
    )


def downgrade() -> None:
    with op.batch_alter_table("imports") as batch:
        batch.drop_column("n_resubmitted")
