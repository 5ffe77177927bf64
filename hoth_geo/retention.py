"""Retention: delete partnership reports, and what was derived from them, once they are too old.

What ``purge_older_than(cutoff)`` deletes, in one transaction with its 'purge' audit entry:
- reports observed before the cutoff, with the resubmissions received for them (which hold report
  content) and the possible-duplicate flags that name them;
- quarantine entries resolved into those reports, and quarantine entries never resolved into a report
  whose import happened before the cutoff (an unresolved row holds the same kind of information and has
  had the whole retention period to be dealt with);
- police.uk context rows for months that ended before the cutoff's month (whole months only);
- disruption log entries that ended before the cutoff (ongoing ones, with no end date, are kept).

What it keeps: import records (file name, time, counts; no report content), which also stop the same
old file being imported again by accident; places; the export log and the audit log, which are the
record of what happened and are never purged by hoth-geo.
"""

from __future__ import annotations

import os
import re
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hoth_geo import audit
from hoth_geo.store import (
    disruptions,
    duplicate_flags,
    imports,
    police_context,
    quarantine,
    reports,
    resubmissions,
)

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
        raise ValueError(f"older_than must be like 24m, 2y, 730d or YYYY-MM-DD, got {value!r}")
    match = _PERIOD_RE.match(value)
    if match:
        n, unit = int(match.group(1)), match.group(2).lower()
        if n < 1:
            raise ValueError(f"older_than must be a period of at least 1, got {value!r}")
        if unit == "d":
            return date.fromordinal(today.toordinal() - n)
        return _months_back(today, n * (12 if unit == "y" else 1))
    try:
        cutoff = datetime.strptime(value.strip(), "%Y-%m-%d").date()
    except ValueError:
        raise ValueError(f"older_than must be like 24m, 2y, 730d or YYYY-MM-DD, got {value!r}") from None
    if cutoff > today:
        raise ValueError(f"older_than date must not be after today ({today}), got {value!r}")
    return cutoff


def retention_period() -> str:
    """The configured retention period ($HOTH_GEO_RETENTION, default 6y), validated."""
    value = os.environ.get(RETENTION_ENV) or DEFAULT_RETENTION
    try:
        parse_older_than(value, date.today())
    except ValueError:
        raise ValueError(f"{RETENTION_ENV} must be like 24m, 2y, 730d or YYYY-MM-DD, got {value!r}") from None
    return value


def default_cutoff(today: date) -> date:
    return parse_older_than(retention_period(), today)


def _cutoff_datetime(cutoff: date) -> datetime:
    if isinstance(cutoff, datetime) or not isinstance(cutoff, date):
        raise ValueError(f"cutoff must be a date (not a datetime), got {cutoff!r}")
    if cutoff > date.today():
        raise ValueError(f"cutoff must not be after today, got {cutoff.isoformat()}")
    return datetime(cutoff.year, cutoff.month, cutoff.day)


def _conditions(cutoff: date):
    """The WHERE clause of each table's deletion, in the order they must run."""
    at = _cutoff_datetime(cutoff)
    month_start = datetime(cutoff.year, cutoff.month, 1)
    old_reports = sa.select(reports.c.id).where(reports.c.observed_at < at)
    old_imports = sa.select(imports.c.id).where(imports.c.imported_at < at)
    return [
        # Quarantine first: its condition reads the reports that are about to go.
        (
            "quarantine",
            quarantine,
            sa.or_(
                quarantine.c.resolved_report_id.in_(old_reports.scalar_subquery()),
                sa.and_(
                    quarantine.c.resolved_report_id.is_(None),
                    quarantine.c.import_id.in_(old_imports.scalar_subquery()),
                ),
            ),
        ),
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
    return conn.execute(sa.select(sa.func.count()).select_from(table).where(condition)).scalar_one()


def preview_purge(engine: Engine, cutoff: date) -> dict[str, int]:
    """How many rows ``purge_older_than(engine, cutoff)`` would delete, per table (deletes nothing)."""
    with engine.connect() as conn:
        return {name: _count(conn, table, cond) for name, table, cond in _conditions(cutoff)}


def purge_older_than(engine: Engine, cutoff: date, *, actor: str | None) -> dict:
    """Delete everything older than ``cutoff`` (see the module docstring) and audit it; returns counts.

    All deletions and the 'purge' audit entry commit together or not at all.
    """
    conditions = _conditions(cutoff)
    counts: dict[str, int] = {}
    with engine.begin() as conn:
        audit.take_lock(conn)  # write first: see audit.take_lock
        for name, table, cond in conditions:
            counts[name] = int(conn.execute(table.delete().where(cond)).rowcount)
        audit.record(
            conn,
            "purge",
            actor=actor,
            details={"cutoff": cutoff.isoformat(), "deleted": counts},
        )
    return {"cutoff": cutoff.isoformat(), **counts}
