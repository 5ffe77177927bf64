"""Retention: delete partnership reports, and what was derived from them, once they are too old.

What ``purge_older_than(cutoff)`` deletes, in one transaction with its 'purge' audit entry:
- reports observed before the cutoff, with the resubmissions received for them (which hold report
  content) and the possible-duplicate flags that name them;
- quarantine entries resolved into those reports, and open quarantine entries whose own row was
  observed before the cutoff (the date is read from the row as it was imported: its normalised
  payload, else its date-observed or police.uk month column, else its date received). An open
  entry with no readable date at all goes by its import date;
- police.uk context rows for months that ended before the cutoff's month (whole months only);
- disruption log entries that ended before the cutoff (ongoing ones, with no end date, are kept).

What it redacts (same transaction): the target and details of keyed audit entries older than the
cutoff, except account and purge events (``audit.redact_before``), and the filters of export-log
rows older than the cutoff. The audit chain still verifies: its MACs cover a hash of that text.

What it keeps: import records (file name, time, counts; no report content), which also stop the same
old file being imported again by accident; places; the audit and export logs' other fields.

After the transaction, on SQLite, the deleted text is made unrecoverable: ``secure_delete`` zeroes
freed space, the WAL is checkpointed and truncated, and ``VACUUM`` rewrites the file without free
pages (see ``scrub_sqlite``). Other databases manage their own storage (PostgreSQL: VACUUM FULL
by the database administrator).
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hoth_geo import settings, store
from hoth_geo.access import audit
from hoth_geo.errors import InvalidInput
from hoth_geo.intake import headers, parsers
from hoth_geo.store import (
    disruptions,
    duplicate_flags,
    imports,
    police_context,
    quarantine,
    reports,
    resubmissions,
)

__all__ = [
    "RETENTION_ENV",
    "DEFAULT_RETENTION",
    "parse_older_than",
    "retention_period",
    "default_cutoff",
    "quarantine_observed_dates",
    "preview_purge",
    "scrub_sqlite",
    "purge_older_than",
]

RETENTION_ENV = "HOTH_GEO_RETENTION"
# Six years: see docs/access-and-audit.md ("Retention"). The data-sharing agreement sets the real value.
DEFAULT_RETENTION = "6y"

_PERIOD_RE = re.compile(r"^\s*(\d+)\s*([dmy])\s*$", re.IGNORECASE)


def _months_back(today: date, months: int) -> date:
    total = today.year * 12 + (today.month - 1) - months
    year, month = divmod(total, 12)
    month += 1
    # Clamp the day (31 March minus one month is 28/29 February).
    for day in (today.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable: every month has 28 days")


def parse_older_than(value: str, today: date) -> date:
    """The cutoff date for "24m", "2y", "730d" (before ``today``) or an ISO date "2024-01-01".

    Data observed before the returned date is older than the period. The cutoff may not be after today.
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"older_than must be like 24m, 2y, 730d or YYYY-MM-DD, got {value!r}")
    match = _PERIOD_RE.match(value)
    if match:
        n, unit = int(match.group(1)), match.group(2).lower()
        if n < 1:
            raise InvalidInput(f"older_than must be a period of at least 1, got {value!r}")
        if unit == "d":
            return date.fromordinal(today.toordinal() - n)
        return _months_back(today, n * (12 if unit == "y" else 1))
    try:
        cutoff = datetime.strptime(value.strip(), "%Y-%m-%d").date()
    except ValueError:
        raise InvalidInput(f"older_than must be like 24m, 2y, 730d or YYYY-MM-DD, got {value!r}") from None
    if cutoff > today:
        raise InvalidInput(f"older_than date must not be after today ({today}), got {value!r}")
    return cutoff


def retention_period() -> str:
    """The configured retention period ($HOTH_GEO_RETENTION, default 6y), validated."""
    value = settings.env(RETENTION_ENV) or DEFAULT_RETENTION
    try:
        parse_older_than(value, date.today())
    except ValueError:
        raise InvalidInput(
            f"{RETENTION_ENV} must be like 24m, 2y, 730d or YYYY-MM-DD, got {value!r}"
        ) from None
    return value


def default_cutoff(today: date) -> date:
    """The date before which rows are purged today, from the retention period (HOTH_GEO_RETENTION)."""
    return parse_older_than(retention_period(), today)


def _cutoff_datetime(cutoff: date) -> datetime:
    if isinstance(cutoff, datetime) or not isinstance(cutoff, date):
        raise ValueError(f"cutoff must be a date (not a datetime), got {cutoff!r}")
    if cutoff > date.today():
        raise ValueError(f"cutoff must not be after today, got {cutoff.isoformat()}")
    return datetime(cutoff.year, cutoff.month, cutoff.day)


def quarantine_observed_dates(raw: pd.Series, payload: pd.Series) -> pd.Series:
    """When each quarantined row says it was observed (NaT where no date can be read).

    ``raw`` is the stored original row ({header: text} JSON), ``payload`` the normalised row when
    there is one. The date received stands in for a missing or unreadable date observed: it is
    never earlier, so the row is kept at least as long as it should be.
    """
    observed: list[str | None] = []
    received: list[str | None] = []
    for raw_text, payload_text in zip(raw.tolist(), payload.tolist(), strict=True):
        found = None
        if isinstance(payload_text, str) and payload_text:
            try:
                found = json.loads(payload_text).get("observed_at")
            except (ValueError, AttributeError):
                found = None
        row = {}
        if isinstance(raw_text, str) and raw_text:
            try:
                row = json.loads(raw_text)
            except ValueError:
                row = {}
        if not isinstance(row, dict):
            row = {}
        columns = headers.map_columns(row)
        month = next((h for h in row if headers.header_key(h) == "month"), None)
        header = columns.get("date_observed") or month
        observed.append(found or (row.get(header) if header else None))
        received.append(row.get(columns["date_received"]) if "date_received" in columns else None)
    index = raw.index

    def parse(values: list[str | None]) -> pd.Series:
        text = pd.Series([v if isinstance(v, str) else "" for v in values], index=index, dtype=object)
        iso = pd.to_datetime(text.where(text.str.match(r"^\d{4}-\d{2}-\d{2}T")), errors="coerce")
        parsed = parsers.parse_dates(text)["value"]
        return pd.to_datetime(iso.fillna(pd.to_datetime(parsed, errors="coerce")), errors="coerce")

    dates = parse(observed)
    return dates.fillna(parse(received))


def _old_quarantine_ids(conn: Connection, cutoff_at: datetime) -> list[int]:
    """Quarantine entries to delete: resolved into an old report, or open and observed before the cutoff."""
    old_reports = sa.select(reports.c.id).where(reports.c.observed_at < cutoff_at).scalar_subquery()
    resolved = conn.execute(
        sa.select(quarantine.c.id).where(quarantine.c.resolved_report_id.in_(old_reports))
    ).scalars()
    ids = set(resolved)
    rows = conn.execute(
        sa.select(quarantine.c.id, quarantine.c.raw, quarantine.c.payload, imports.c.imported_at)
        .join(imports, imports.c.id == quarantine.c.import_id)
        .where(quarantine.c.resolved_report_id.is_(None))
    ).all()
    if rows:
        frame = pd.DataFrame(rows, columns=["id", "raw", "payload", "imported_at"])
        when = quarantine_observed_dates(frame["raw"], frame["payload"])
        when = when.fillna(pd.to_datetime(frame["imported_at"]))
        ids |= set(frame.loc[when < pd.Timestamp(cutoff_at), "id"].astype(int).tolist())
    return sorted(ids)


# Ids per DELETE ... WHERE id IN (...): SQLite allows 32,766 bound values in one statement.
_ID_CHUNK = 10_000


def _conditions(conn: Connection, cutoff: date):
    """The rows each table's deletion takes, in the order they must run: a WHERE clause, or (for
    quarantine, decided row by row from the stored dates) a list of ids."""
    at = _cutoff_datetime(cutoff)
    month_start = datetime(cutoff.year, cutoff.month, 1)
    old_reports = sa.select(reports.c.id).where(reports.c.observed_at < at)
    # Quarantine first: which entries go depends on the reports that are about to go.
    return [
        ("quarantine", quarantine, _old_quarantine_ids(conn, at)),
        # Before the reports they point at: a resubmission holds a report's content.
        ("resubmissions", resubmissions, resubmissions.c.report_id.in_(old_reports.scalar_subquery())),
        (
            "duplicate_flags",
            duplicate_flags,
            duplicate_flags.c.report_id.in_(old_reports.scalar_subquery())
            | duplicate_flags.c.resembles_report_id.in_(old_reports.scalar_subquery()),
        ),
        ("reports", reports, reports.c.observed_at < at),
        ("police_context", police_context, police_context.c.month < month_start),
        ("disruptions", disruptions, disruptions.c.end_date < cutoff),
    ]


def _count(conn: Connection, table: sa.Table, condition) -> int:
    if isinstance(condition, list):
        return len(condition)
    return conn.execute(sa.select(sa.func.count()).select_from(table).where(condition)).scalar_one()


def _delete(conn: Connection, table: sa.Table, condition) -> int:
    if not isinstance(condition, list):
        return int(conn.execute(table.delete().where(condition)).rowcount)
    deleted = 0
    for start in range(0, len(condition), _ID_CHUNK):
        chunk = condition[start : start + _ID_CHUNK]
        deleted += int(conn.execute(table.delete().where(table.c.id.in_(chunk))).rowcount)
    return deleted


def preview_purge(engine: Engine, cutoff: date) -> dict[str, int]:
    """How many rows ``purge_older_than(engine, cutoff)`` would delete, per table (deletes nothing)."""
    with engine.connect() as conn:
        return {name: _count(conn, table, cond) for name, table, cond in _conditions(conn, cutoff)}


def scrub_sqlite(engine: Engine) -> bool:
    """Make deleted rows unrecoverable from a SQLite database's files; False if another connection
    kept the WAL from being emptied (run it again once the app is stopped).

    Deleted text otherwise lingers in free pages of the database file and in old frames of the
    ``-wal`` file. Checkpointing first lets VACUUM start from a complete file; VACUUM then rewrites
    the database without free pages; the second checkpoint copies that back and truncates the WAL.
    """
    if engine.dialect.name != "sqlite":
        return True
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("PRAGMA secure_delete=ON")
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.exec_driver_sql("VACUUM")
        busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()[0]
    return not busy


def purge_older_than(engine: Engine, cutoff: date, *, actor: str | None) -> dict:
    """Delete everything older than ``cutoff`` (see the module docstring) and audit it; returns counts.

    All deletions, the redactions and the 'purge' audit entry commit together or not at all; on
    SQLite the files are then scrubbed (``scrubbed`` in the result says whether that completed).
    """
    at = _cutoff_datetime(cutoff)
    counts: dict[str, int] = {}
    sqlite = engine.dialect.name == "sqlite"
    with engine.begin() as conn:
        if sqlite:
            # Freed pages are overwritten with zeros as rows are deleted, not merely marked free.
            conn.exec_driver_sql("PRAGMA secure_delete=ON")
        store.take_lock(conn)  # write first: see store.take_lock
        for name, table, cond in _conditions(conn, cutoff):
            counts[name] = _delete(conn, table, cond)
        redacted = audit.redact_before(conn, at)
        store.recount_data_version(conn)
        audit.record(
            conn,
            "purge",
            actor=actor,
            details={
                "cutoff": cutoff.isoformat(),
                "deleted": counts,
                "redacted": redacted,
                "audit_redacted_before": at.isoformat(),
            },
        )
    scrubbed = scrub_sqlite(engine)
    return {"cutoff": cutoff.isoformat(), **counts, **redacted, "scrubbed": scrubbed}
