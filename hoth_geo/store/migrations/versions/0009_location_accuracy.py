"""Reports keep the accuracy their source stated for their coordinates.

A sharing form's `Location accuracy (m)` (a device's accuracy, or the share form's map click) widens the
radius of a report's coordinates, and until this revision it was used for that and then dropped. So a
source that sent the same report again stating another accuracy had its row counted as a duplicate
(the accuracy is left out of the content fingerprint, as the grading is) and the new accuracy was lost
without anyone deciding. From this revision the stated accuracy is stored with the report
(``location_accuracy_m``) and compared on re-import like the grading: a change waits in Review as a
changed resubmission.

Reports stored before this revision have no accuracy (NULL): what their file stated is not kept
anywhere, and the radius they were stated at is their ``precision_m``, which this revision leaves as it
is. A later import of such a report that states an accuracy waits in Review once, showing the accuracy
as the only change.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("reports", sa.Column("location_accuracy_m", sa.Float))


def downgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("location_accuracy_m")
