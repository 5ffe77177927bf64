"""The data_version row: what an app rerun reads instead of scanning the reports.

- ``data_version``: one row (id 1) with ``version`` and the counts of reports (not merged), demo
  reports, police context rows and open quarantine entries, back-filled here from the tables. From
  this revision on every write that changes them bumps the row in its own transaction
  (``hoth_geo.store.bump_data_version``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hoth_geo.store.migrations.ops import create_table_if_missing

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _counts(conn) -> dict[str, int]:
    """The counts as the tables hold them at this revision (reports merged into another count once)."""
    one = conn.execute(
        sa.text(
            "SELECT count(*), coalesce(sum(CASE WHEN is_demo THEN 1 ELSE 0 END), 0)"
            " FROM reports WHERE merged_into IS NULL"
        )
    ).one()
    context = conn.execute(sa.text("SELECT count(*) FROM police_context")).scalar()
    open_q = conn.execute(sa.text("SELECT count(*) FROM quarantine WHERE status = 'open'")).scalar()
    return {
        "n_reports": int(one[0]),
        "n_demo_reports": int(one[1]),
        "n_context": int(context or 0),
        "n_quarantine_open": int(open_q or 0),
    }


def upgrade() -> None:
    create_table_if_missing(
        "data_version",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("n_reports", sa.BigInteger(), nullable=False),
        sa.Column("n_demo_reports", sa.BigInteger(), nullable=False),
        sa.Column("n_context", sa.BigInteger(), nullable=False),
        sa.Column("n_quarantine_open", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    conn = op.get_bind()
    if conn.execute(sa.text("SELECT count(*) FROM data_version")).scalar():
        return  # a database adopted with the row already there
    conn.execute(
        sa.text(
            "INSERT INTO data_version (id, version, n_reports, n_demo_reports, n_context, n_quarantine_open)"
            " VALUES (1, 1, :n_reports, :n_demo_reports, :n_context, :n_quarantine_open)"
        ),
        _counts(conn),
    )


def downgrade() -> None:
    op.drop_table("data_version")
