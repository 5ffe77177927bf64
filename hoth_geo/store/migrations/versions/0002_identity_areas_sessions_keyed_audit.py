"""Report identity, areas, sessions, the sharing form and the keyed audit chain.

- reports: ``identity`` (agency + source reference, or file + row; unique) and ``merged_into``; the
  content ``fingerprint`` is no longer unique (identical content under two references is two reports);
  rows stored before get their identity from ``hoth_geo.intake.identity.backfill``;
- ``duplicate_flags`` and ``resubmissions``: possible duplicates and changed resubmissions for Review;
- imports: ``n_out_of_area`` (police.uk rows outside the study area, skipped);
- ``auth_sessions``, ``first_run_token``, ``sign_in_throttle``: sessions that survive a refresh, the
  first-run setup token, sign-in throttling;
- ``account_agencies``, ``share_drafts``: the agency a contributor's forms carry, and unsent forms;
- audit_log: ``version``, ``content_sha256`` and ``binding`` for the HMAC-keyed chain.

Every step checks first (a database adopted at 0001 may have had some of them already).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hoth_geo.store.migrations.ops import add_column_if_missing, create_table_if_missing, has_column

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _reports_as_in_0001() -> sa.Table:
    """The reports table as revision 0001 made it, for SQLite's copy-and-rename of the table."""
    return sa.Table(
        "reports",
        sa.MetaData(),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=40), nullable=False),
        sa.Column("date_received", sa.DateTime(), nullable=True),
        sa.Column("observed_at", sa.DateTime(), nullable=False),
        sa.Column("time_known", sa.Boolean(), nullable=False),
        sa.Column("date_approximate", sa.Boolean(), nullable=False),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("easting", sa.Float(), nullable=True),
        sa.Column("northing", sa.Float(), nullable=True),
        sa.Column("geocode_confidence", sa.Float(), nullable=True),
        sa.Column("precision_m", sa.Float(), nullable=True),
        sa.Column("h3", sa.BigInteger(), nullable=False),
        sa.Column("concerns_mask", sa.BigInteger(), nullable=False),
        sa.Column("indicators_mask", sa.BigInteger(), nullable=False),
        sa.Column("is_demo", sa.Boolean(), nullable=False),
        *[
            sa.Column(name, sa.Text(), nullable=True)
            for name in (
                "source_ref",
                "agency",
                "agency_type",
                "location_text",
                "place_name",
                "place_type",
                "postcode",
                "concerns",
                "indicators",
                "grading_source",
                "grading_information",
                "grading_handling",
                "narrative",
                "child_ref",
                "geocode_method",
                "place_id",
                "geocode_note",
            )
        ],
        sa.ForeignKeyConstraint(["import_id"], ["imports.id"]),
        sa.PrimaryKeyConstraint("id"),
    )


def _report_identity_columns() -> None:
    if has_column("reports", "identity"):
        return
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # SQLite cannot drop a constraint in place: the table is copied without the fingerprint's
        # uniqueness (copy_from describes it as 0001 made it, less that constraint).
        with op.batch_alter_table("reports", recreate="always", copy_from=_reports_as_in_0001()) as batch:
            batch.add_column(sa.Column("identity", sa.String(length=64), nullable=True))
            batch.add_column(sa.Column("merged_into", sa.Integer(), nullable=True))
            batch.create_unique_constraint("uq_reports_identity", ["identity"])
    else:
        op.execute("ALTER TABLE reports DROP CONSTRAINT IF EXISTS reports_fingerprint_key")
        op.add_column("reports", sa.Column("identity", sa.String(length=64), nullable=True))
        op.add_column("reports", sa.Column("merged_into", sa.Integer(), nullable=True))
        op.create_unique_constraint("reports_identity_key", "reports", ["identity"])


def upgrade() -> None:
    _report_identity_columns()
    create_table_if_missing(
        "duplicate_flags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("resembles_report_id", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("flagged_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decided_by", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(["import_id"], ["imports.id"]),
        sa.PrimaryKeyConstraint("id"),
        indexes=(("ix_duplicate_flags_report_id", ["report_id"]),),
    )
    create_table_if_missing(
        "resubmissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decided_by", sa.String(), nullable=True),
        sa.Column("replaced", sa.Text(), nullable=True),
        sa.Column("replaced_fingerprint", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(["import_id"], ["imports.id"]),
        sa.PrimaryKeyConstraint("id"),
        indexes=(("ix_resubmissions_report_id", ["report_id"]),),
    )
    add_column_if_missing(
        "imports", sa.Column("n_out_of_area", sa.Integer(), nullable=False, server_default="0")
    )
    create_table_if_missing(
        "auth_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=254), nullable=False),
        sa.Column("roles", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(), nullable=True),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("end_reason", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
        indexes=(("ix_auth_sessions_user_id", ["user_id"]),),
    )
    create_table_if_missing(
        "first_run_token",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    create_table_if_missing(
        "sign_in_throttle",
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("window_start", sa.DateTime(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("refusals", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
        indexes=(("ix_sign_in_throttle_user_id", ["user_id"]),),
    )
    create_table_if_missing(
        "account_agencies",
        sa.Column("username", sa.String(length=254), nullable=False),
        sa.Column("agency", sa.Text(), nullable=False),
        sa.Column("agency_type", sa.String(length=32), nullable=False),
        sa.Column("contact", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("username"),
    )
    create_table_if_missing(
        "share_drafts",
        sa.Column("username", sa.String(length=254), nullable=False),
        sa.Column("draft", sa.Text(), nullable=False),
        sa.Column("saved_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("username"),
    )
    add_column_if_missing("audit_log", sa.Column("version", sa.Integer(), nullable=True))
    add_column_if_missing("audit_log", sa.Column("content_sha256", sa.String(length=64), nullable=True))
    add_column_if_missing("audit_log", sa.Column("binding", sa.Text(), nullable=True))

    # Rows stored under the earlier rules get their identities (idempotent).
    from hoth_geo.intake import identity

    identity.backfill(op.get_bind())


def downgrade() -> None:
    raise NotImplementedError(
        "hoth-geo does not downgrade a database: restore the backup taken before the upgrade"
    )
