"""Every table of the database, on one MetaData: the reports and what feeds them, then the
accounts, sessions and the audit chain, then the sharing form's own tables.

The schema is created and upgraded from here by the migrations (hoth_geo.store.migrations); the
modules that own the behaviour (store queries, access.auth, access.audit, access.sessions,
intake.submission) import their tables from this module.
"""

from __future__ import annotations

from enum import StrEnum

import sqlalchemy as sa

__all__ = [
    "metadata",
    "imports",
    "reports",
    "quarantine",
    "police_context",
    "duplicate_flags",
    "resubmissions",
    "places",
    "disruptions",
    "export_log",
    "data_version_table",
    "audit_log",
    "audit_lock",
    "users",
    "sign_in_throttle",
    "auth_sessions",
    "first_run_token",
    "account_agencies",
    "share_drafts",
]

metadata = sa.MetaData()

imports = sa.Table(
    "imports",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("filename", sa.String, nullable=False),
    sa.Column("file_sha256", sa.String(64), nullable=False),
    sa.Column("format", sa.String(32), nullable=False),  # sharing_form | policeuk
    sa.Column("imported_at", sa.DateTime, nullable=False),
    sa.Column("imported_by", sa.String),
    sa.Column("n_read", sa.Integer, nullable=False),
    sa.Column("n_accepted", sa.Integer, nullable=False),
    sa.Column("n_quarantined", sa.Integer, nullable=False),
    sa.Column("n_duplicates", sa.Integer, nullable=False),
    sa.Column("n_out_of_area", sa.Integer, nullable=False, default=0),  # police.uk rows skipped
    # Changed resubmissions of stored reports (waiting in Review): read = the five counts added up.
    sa.Column("n_resubmitted", sa.Integer, nullable=False, default=0, server_default="0"),
    sa.Column("is_demo", sa.Boolean, nullable=False, default=False),
    # The CSV file's separator (NULL for a workbook): a semicolon-separated file writes comma decimals,
    # and Review reads a quarantined row again as the import read it.
    sa.Column("delimiter", sa.String(1)),
)

_REPORT_TEXT = (
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

reports = sa.Table(
    "reports",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("import_id", sa.Integer, sa.ForeignKey("imports.id"), nullable=False),
    sa.Column("row_number", sa.Integer, nullable=False),
    # sha1 of the normalised content: compared only to spot resubmissions and possible duplicates.
    sa.Column("fingerprint", sa.String(40), nullable=False),
    # What makes a report itself (hoth_geo.intake.identity): its agency plus source reference, or for a row
    # without a reference its file and row number. One stored report per identity.
    sa.Column("identity", sa.String(64), unique=True),
    # Set when an analyst merged this report into another (a possible duplicate): it then counts once.
    sa.Column("merged_into", sa.Integer),
    sa.Column("date_received", sa.DateTime),
    sa.Column("observed_at", sa.DateTime, nullable=False),
    sa.Column("time_known", sa.Boolean, nullable=False),
    # The time of day as the source wrote it when it was words, not a time ('after school'; revision
    # 0012): the time stays unknown, the words are kept. NULL otherwise.
    sa.Column("time_text", sa.Text),
    sa.Column("date_approximate", sa.Boolean, nullable=False),
    sa.Column("online", sa.Boolean, nullable=False),
    sa.Column("latitude", sa.Float),
    sa.Column("longitude", sa.Float),
    sa.Column("easting", sa.Float),
    sa.Column("northing", sa.Float),
    # The accuracy the source stated for its coordinates (revision 0009; NULL where none was stated,
    # and for reports stored before it): compared on re-import, as a re-grade is.
    sa.Column("location_accuracy_m", sa.Float),
    sa.Column("geocode_confidence", sa.Float),
    sa.Column("precision_m", sa.Float),
    sa.Column("h3", sa.BigInteger, nullable=False),
    sa.Column("concerns_mask", sa.BigInteger, nullable=False),
    sa.Column("indicators_mask", sa.BigInteger, nullable=False),
    sa.Column("is_demo", sa.Boolean, nullable=False),
    # No secondary indexes: analysis reads whole columns and duplicate checks load the keys once, so
    # indexes would only slow imports (each costs ~20 % of insert time at 100k rows).
    *[sa.Column(c, sa.Text) for c in _REPORT_TEXT],
)

quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("import_id", sa.Integer, sa.ForeignKey("imports.id"), nullable=False),
    sa.Column("row_number", sa.Integer, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("field", sa.String),
    sa.Column("value", sa.Text),
    sa.Column("raw", sa.Text),  # the original row as JSON
    # sha1 of the row's identity and raw content (hoth_geo.intake.identity): so re-importing the same row adds
    # nothing, while an identical row from another row of a file is quarantined in its own right.
    sa.Column("raw_fingerprint", sa.String(40), index=True),
    # The row's identity (agency + source reference, as a report's): a later import that stores a report
    # of this identity (the partner's corrected row) supersedes the entry. NULL for entries quarantined
    # before revision 0010.
    sa.Column("identity", sa.String(64), index=True),
    # The normalised row as JSON when an analyst can resolve it (e.g. 'needs a location').
    sa.Column("payload", sa.Text),
    sa.Column("status", sa.String(16), nullable=False, default="open"),  # QuarantineStatus
    sa.Column("resolved_report_id", sa.Integer),
    sa.Column("resolved_at", sa.DateTime),
    sa.Column("resolved_by", sa.String),
)


class QuarantineStatus(StrEnum):
    """What became of a quarantine entry (``quarantine.status``)."""

    OPEN = "open"  # waiting in Review
    # Located or marked online by an analyst in Review: resolved_report_id is the report.
    RESOLVED = "resolved"
    # A later row with the entry's identity was stored (the partner's corrected row): resolved_report_id.
    SUPERSEDED = "superseded"
    # Taken out of Review by an analyst with a reason (audited); kept, and restorable.
    SET_ASIDE = "set_aside"


police_context = sa.Table(
    "police_context",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("import_id", sa.Integer, sa.ForeignKey("imports.id"), nullable=False),
    sa.Column("row_number", sa.Integer, nullable=False),
    # The row's identity: its Crime ID, or for a row without one (anti-social behaviour) a hash of the
    # file's SHA-256 and the row number, so such rows are never duplicates of each other.
    sa.Column("fingerprint", sa.String(64), nullable=False, unique=True),
    sa.Column("crime_id", sa.String),
    sa.Column("month", sa.DateTime, nullable=False),
    sa.Column("crime_type", sa.String, nullable=False),
    sa.Column("concern", sa.String, nullable=False),
    sa.Column("location_text", sa.Text),
    sa.Column("place_type", sa.String),
    sa.Column("latitude", sa.Float, nullable=False),
    sa.Column("longitude", sa.Float, nullable=False),
    sa.Column("lsoa_code", sa.String),
    sa.Column("falls_within", sa.String),
    sa.Column("h3", sa.BigInteger, nullable=False),
)

# Stored reports whose content is identical to another report's (different or no source reference):
# flagged at import for an analyst to merge (counted once) or keep as distinct (hoth_geo.intake.identity).
duplicate_flags = sa.Table(
    "duplicate_flags",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("report_id", sa.Integer, nullable=False, index=True),
    sa.Column("resembles_report_id", sa.Integer, nullable=False),
    sa.Column("import_id", sa.Integer, sa.ForeignKey("imports.id"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # open | merged | distinct
    sa.Column("flagged_at", sa.DateTime, nullable=False),
    sa.Column("decided_at", sa.DateTime),
    sa.Column("decided_by", sa.String),
)

# A row with the agency and source reference of a stored report but different content: the stored
# report is kept; an analyst accepts (replaces the stored content) or rejects the resubmission.
resubmissions = sa.Table(
    "resubmissions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("import_id", sa.Integer, sa.ForeignKey("imports.id"), nullable=False),
    sa.Column("row_number", sa.Integer, nullable=False),
    sa.Column("report_id", sa.Integer, nullable=False, index=True),
    sa.Column("fingerprint", sa.String(40), nullable=False),  # content of the resubmitted row
    sa.Column("payload", sa.Text, nullable=False),  # the resubmitted, geocoded row as JSON
    sa.Column("status", sa.String(16), nullable=False),  # open | accepted | rejected
    sa.Column("received_at", sa.DateTime, nullable=False),
    sa.Column("decided_at", sa.DateTime),
    sa.Column("decided_by", sa.String),
    sa.Column("replaced", sa.Text),  # on accept: the stored content it replaced, as JSON
    sa.Column("replaced_fingerprint", sa.String(40)),
)

# Places that do not ship in the gazetteer: demo venues and places analysts add.
places = sa.Table(
    "places",
    metadata,
    sa.Column("place_id", sa.String, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("place_type", sa.String, nullable=False),
    sa.Column("latitude", sa.Float, nullable=False),
    sa.Column("longitude", sa.Float, nullable=False),
    sa.Column("locality", sa.Text),
    sa.Column("postcode_district", sa.String),
    sa.Column("source", sa.String, nullable=False),
)


# Disruption activities logged against a place or a hexagon (Disruption log page).
disruptions = sa.Table(
    "disruptions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("tactic", sa.String, nullable=False),
    sa.Column("place_id", sa.String),
    sa.Column("h3", sa.BigInteger, nullable=False),  # the target hexagon (at res below)
    sa.Column("res", sa.Integer, nullable=False),
    sa.Column("start_date", sa.Date, nullable=False),
    sa.Column("end_date", sa.Date),
    sa.Column("note", sa.Text),
    sa.Column("recorded_at", sa.DateTime, nullable=False),
    sa.Column("recorded_by", sa.String),
)

# Every export that leaves the system: append-only (nothing in hoth-geo updates or deletes it).
export_log = sa.Table(
    "export_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("exported_at", sa.DateTime, nullable=False),
    sa.Column("exported_by", sa.String),
    sa.Column("audience", sa.String(16), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("filters", sa.Text, nullable=False),  # JSON
    sa.Column("filename", sa.String),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("n_bytes", sa.Integer, nullable=False),
)


# One row (id 1): the data version every app process reads on each rerun instead of scanning the
# reports. Every write that changes what the app shows (imports, Review decisions, purges, the demo
# set) bumps ``version`` and adjusts the counts in its own transaction (``bump_data_version``), so a
# rerun reads one row and the counts (demo banner, first start) come from here, never from a scan.
data_version_table = sa.Table(
    "data_version",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("n_reports", sa.BigInteger, nullable=False),  # stored reports that count (not merged)
    sa.Column("n_demo_reports", sa.BigInteger, nullable=False),  # of which from the demo set
    sa.Column("n_context", sa.BigInteger, nullable=False),  # police.uk context rows
    sa.Column("n_quarantine_open", sa.BigInteger, nullable=False),  # quarantined rows still open
    sa.Column("changed_at", sa.DateTime),
    # Bumped with ``version`` by every write except one that only appends reports (an import): while it
    # stays the same, a frame read earlier is brought up to date by reading the new reports alone.
    sa.Column("rewrites", sa.BigInteger, nullable=False, server_default="0"),
)


@sa.event.listens_for(data_version_table, "after_create")
def _first_data_version(target, connection, **_kw) -> None:
    # A new database starts empty, at version 0 (migration 0003 back-fills an existing one).
    connection.execute(target.insert().values(id=1, **_ZERO_COUNTS, version=0))


_ZERO_COUNTS = {"n_reports": 0, "n_demo_reports": 0, "n_context": 0, "n_quarantine_open": 0}


# --- The audit chain (hoth_geo.access.audit) ------------------------------------------------------

audit_log = sa.Table(
    "audit_log",
    metadata,
    # Ids are assigned by record() (last id + 1 under the lock) because the id is part of the hash.
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    # Needs microsecond precision (SQLite and PostgreSQL keep it): the hash covers the full time.
    sa.Column("at", sa.DateTime, nullable=False, index=True),
    sa.Column("actor", sa.String),
    sa.Column("event", sa.String(64), nullable=False, index=True),
    sa.Column("target", sa.Text),
    sa.Column("details", sa.Text, nullable=False),  # canonical JSON, hashed exactly as stored
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False, unique=True),  # the MAC for version 2
    # NULL or 1: an unkeyed entry written before the key existed; 2: keyed (see the module docstring).
    sa.Column("version", sa.Integer),
    sa.Column("content_sha256", sa.String(64)),  # SHA-256 of canonical {target, details}
    sa.Column("binding", sa.Text),  # canonical JSON: the account or export-log row the entry is about
)

# One row; every append updates it first so concurrent writers queue instead of forking the chain.
audit_lock = sa.Table(
    "audit_lock",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("writes", sa.BigInteger, nullable=False),
)


# --- Accounts and sign-in throttling (hoth_geo.access.auth) ---------------------------------------

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(254), nullable=False, unique=True),  # stored lower-case
    sa.Column("display_name", sa.String),
    sa.Column("role", sa.String(16)),  # the data role, or NULL for an admin-only account
    sa.Column("is_admin", sa.Boolean, nullable=False, default=False),
    sa.Column("password_hash", sa.String, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("last_login_at", sa.DateTime),
    sa.Column("failed_attempts", sa.Integer, nullable=False, default=0),
    sa.Column("locked_until", sa.DateTime),
)

# One row per throttled key: "client:<address>", "account:<id>" and "account:<id>@<address>".
sign_in_throttle = sa.Table(
    "sign_in_throttle",
    metadata,
    sa.Column("key", sa.String(128), primary_key=True),
    sa.Column("user_id", sa.Integer, index=True),  # set for account keys, so a reset can clear them
    sa.Column("window_start", sa.DateTime, nullable=False),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("locked_until", sa.DateTime),
    sa.Column("refusals", sa.Integer, nullable=False, default=0),  # refused while locked, this window
)


# --- Sign-in sessions and the first-run token (hoth_geo.access.sessions) --------------------------

auth_sessions = sa.Table(
    "auth_sessions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),  # sha256 hex of the token
    sa.Column("user_id", sa.Integer, index=True),  # NULL for a single-sign-on user without an account
    sa.Column("username", sa.String(254), nullable=False),
    sa.Column("roles", sa.String(64), nullable=False),  # the role set at sign-in ("admin,analyst")
    sa.Column("display_name", sa.String),
    sa.Column("method", sa.String(16), nullable=False),  # "password" or "sso"
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("last_seen_at", sa.DateTime, nullable=False),
    sa.Column("ended_at", sa.DateTime),
    sa.Column("end_reason", sa.String(32)),
)

first_run_token = sa.Table(
    "first_run_token",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),  # always 1: one token at a time
    sa.Column("token_hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)


# --- The sharing form's account agencies and drafts (hoth_geo.intake.submission) ------------------

account_agencies = sa.Table(
    "account_agencies",
    metadata,
    sa.Column("username", sa.String(254), primary_key=True),  # users.username (or an SSO name)
    sa.Column("agency", sa.Text, nullable=False),
    sa.Column("agency_type", sa.String(32), nullable=False),  # AGENCY_TYPES key
    sa.Column("contact", sa.Text),  # how the police reach the reporter: phone or e-mail
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("updated_by", sa.String),
)

# One unsent form per account, saved as it is typed, so a rerun, an error or a session that expires
# loses nothing. Deleted when the form is sent.
share_drafts = sa.Table(
    "share_drafts",
    metadata,
    sa.Column("username", sa.String(254), primary_key=True),
    sa.Column("draft", sa.Text, nullable=False),  # JSON
    sa.Column("saved_at", sa.DateTime, nullable=False),
)
