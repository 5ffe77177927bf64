"""The tamper-evident audit trail: every sensitive action, one hash-chained row each.

Each entry stores ``hash = sha256(prev_hash || canonical JSON of the entry)``, where the entry is its id,
time, actor, event, target and details. Editing any stored field changes that entry's hash; deleting a
row breaks the link of the row after it. ``verify_chain`` walks the chain and names the first bad id.

The chain has no secret key, so someone with write access to the database could rebuild it from the
point they changed. That is why ``verify_chain`` reports the head hash: record it outside the database
(a ticket, a weekly report) and a rebuilt or truncated chain no longer matches. See
docs/access-and-audit.md.

Writers serialise on a lock row (``audit_lock``): the first statement of every append updates it, so the
database's own write lock (SQLite) or row lock (PostgreSQL, READ COMMITTED) is held while the last hash is
read and the new row inserted. Two processes therefore cannot both append after the same entry.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hoth_geo.store import metadata

# The prev_hash of the first entry.
GENESIS_HASH = "0" * 64

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
    sa.Column("hash", sa.String(64), nullable=False, unique=True),
)

# One row; every append updates it first so concurrent writers queue instead of forking the chain.
audit_lock = sa.Table(
    "audit_lock",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("writes", sa.BigInteger, nullable=False),
)

# Known events. record() refuses anything else so a typo ('sign-in') cannot split one event in two.
EVENTS = frozenset(
    {
        # accounts and sessions (hoth_geo.auth)
        "sign_in",
        "sign_in_failed",
        "sign_out",
        "session_expired",
        "user_added",
        "user_disabled",
        "user_enabled",
        "role_changed",
        "password_changed",
        "account_agency_set",  # hoth_geo.submission: the agency a reporter's forms carry
        # data
        "import",
        "import_refused",
        "quarantine_resolved",
        "report_viewed",
        "narrative_viewed",
        "export",
        "demo_loaded",
        "demo_deleted",
        "disruption_added",
        "purge",
        # the audit trail itself
        "audit_exported",
        "audit_verified",
    }
)

# Keys that must never reach the audit log, at any depth of details.
_FORBIDDEN_KEYS = frozenset({"password", "password_hash", "new_password", "secret", "token", "hash"})


def _canonical(value) -> str:
    # Sorted keys and fixed separators: the same entry always serialises to the same bytes.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _check_details(details, path: str = "details") -> None:
    if isinstance(details, dict):
        for key, value in details.items():
            if not isinstance(key, str):
                raise ValueError(f"{path} keys must be strings, got {key!r}")
            if key.lower() in _FORBIDDEN_KEYS:
                raise ValueError(f"{path} must not contain a {key!r} key: secrets never enter the audit log")
            _check_details(value, f"{path}.{key}")
    elif isinstance(details, list | tuple):
        for i, value in enumerate(details):
            _check_details(value, f"{path}[{i}]")


def _details_json(details: dict | None) -> str:
    if details is None:
        details = {}
    if not isinstance(details, dict):
        raise ValueError(f"details must be a dict, got {type(details).__name__}")
    _check_details(details)
    try:
        # Dates and other simple values become strings; NaN is refused because it is not valid JSON.
        return json.dumps(
            details, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=str
        )
    except ValueError as exc:
        raise ValueError(f"details must be JSON-serialisable without NaN or infinity: {exc}") from None


def _timestamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f")


def entry_hash(
    prev_hash: str,
    *,
    id: int,
    at: datetime,
    actor: str | None,
    event: str,
    target: str | None,
    details: str,
) -> str:
    """sha256(prev_hash || canonical JSON of the entry); ``details`` is the stored JSON text."""
    body = _canonical(
        {"id": id, "at": _timestamp(at), "actor": actor, "event": event, "target": target, "details": details}
    )
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def take_lock(conn: Connection) -> None:
    """Take the audit write lock in ``conn``'s transaction (held until it commits or rolls back).

    Call it first in any transaction that changes data and records an entry: taking locks in one order
    everywhere avoids deadlocks, and on SQLite a transaction that writes first cannot fail later because
    another writer committed after it started reading.
    """
    updated = conn.execute(
        audit_lock.update().where(audit_lock.c.id == 1).values(writes=audit_lock.c.writes + 1)
    ).rowcount
    if updated:
        return
    # First append ever: create the lock row. A concurrent first writer may create it too; whichever
    # insert loses gets an IntegrityError inside a savepoint, and then its UPDATE waits like any other.
    try:
        with conn.begin_nested():
            conn.execute(audit_lock.insert().values(id=1, writes=1))
    except sa.exc.IntegrityError:
        conn.execute(audit_lock.update().where(audit_lock.c.id == 1).values(writes=audit_lock.c.writes + 1))


def _append(conn: Connection, event: str, actor: str | None, target: str | None, details_json: str) -> int:
    take_lock(conn)
    last = conn.execute(
        sa.select(audit_log.c.id, audit_log.c.hash).order_by(audit_log.c.id.desc()).limit(1)
    ).first()
    new_id = (last.id + 1) if last else 1
    prev = last.hash if last else GENESIS_HASH
    at = datetime.now(UTC).replace(tzinfo=None)
    digest = entry_hash(prev, id=new_id, at=at, actor=actor, event=event, target=target, details=details_json)
    conn.execute(
        audit_log.insert().values(
            id=new_id,
            at=at,
            actor=actor,
            event=event,
            target=target,
            details=details_json,
            prev_hash=prev,
            hash=digest,
        )
    )
    return new_id


def record(
    engine_or_conn: Engine | Connection,
    event: str,
    *,
    actor: str | None = None,
    target: str | None = None,
    details: dict | None = None,
) -> int:
    """Append one entry and return its id.

    With an Engine the entry is committed at once. With a Connection it is written in that connection's
    transaction and commits (or rolls back) with the caller's change, so an action and its audit entry
    are never separated.
    """
    if not isinstance(event, str) or event not in EVENTS:
        raise ValueError(f"event must be one of {', '.join(sorted(EVENTS))}, got {event!r}")
    for name, value in (("actor", actor), ("target", target)):
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name} must be a string or None, got {type(value).__name__}")
    details_json = _details_json(details)
    if isinstance(engine_or_conn, Connection):
        return _append(engine_or_conn, event, actor, target, details_json)
    if isinstance(engine_or_conn, Engine):
        with engine_or_conn.begin() as conn:
            return _append(conn, event, actor, target, details_json)
    raise ValueError(f"engine_or_conn must be an Engine or Connection, got {type(engine_or_conn).__name__}")


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of walking the chain. ``head_hash`` is the last entry's hash (record it elsewhere)."""

    ok: bool
    n_entries: int
    first_bad_id: int | None = None
    reason: str | None = None
    head_hash: str | None = None


def verify_chain(engine: Engine, *, expect_hash: str | None = None) -> VerifyResult:
    """Recompute every hash in id order; stop at the first entry that does not fit the chain.

    ``expect_hash``: a head hash recorded earlier outside the database. The chain must still contain
    it; if it does not, the log was rebuilt or truncated after that point (first_bad_id is None then).
    """
    if expect_hash is not None and not re.fullmatch(r"[0-9a-f]{64}", expect_hash):
        raise ValueError(f"expect_hash must be 64 lower-case hex characters, got {expect_hash!r}")
    found = expect_hash is None
    prev = GENESIS_HASH
    expected_id = 1
    n = 0
    cols = [audit_log.c[c] for c in ("id", "at", "actor", "event", "target", "details", "prev_hash", "hash")]
    with engine.connect() as conn:
        rows = conn.execution_options(yield_per=2000).execute(sa.select(*cols).order_by(audit_log.c.id))
        for row in rows:
            if row.id != expected_id:
                return VerifyResult(
                    False, n, row.id, f"entry {expected_id} is missing (next id found is {row.id})"
                )
            if row.prev_hash != prev:
                return VerifyResult(False, n, row.id, "prev_hash does not match the previous entry's hash")
            recomputed = entry_hash(
                prev,
                id=row.id,
                at=row.at,
                actor=row.actor,
                event=row.event,
                target=row.target,
                details=row.details,
            )
            if recomputed != row.hash:
                return VerifyResult(False, n, row.id, "contents do not match the stored hash")
            prev = row.hash
            found = found or row.hash == expect_hash
            expected_id += 1
            n += 1
    head = prev if n else None
    if not found:
        reason = f"the recorded head hash {expect_hash} is not in the chain: rewritten or truncated since"
        return VerifyResult(False, n, None, reason, head)
    return VerifyResult(True, n, None, None, head)


def _as_datetime(since: date | datetime) -> datetime:
    if isinstance(since, datetime):
        return since.astimezone(UTC).replace(tzinfo=None) if since.tzinfo else since
    if isinstance(since, date):
        return datetime(since.year, since.month, since.day)
    raise ValueError(f"since must be a date or datetime, got {since!r}")


def load_audit(
    engine: Engine, *, since: date | datetime | None = None, event: str | None = None
) -> pd.DataFrame:
    """Audit entries in id order (times in UTC), optionally from ``since`` and of one event."""
    query = sa.select(audit_log).order_by(audit_log.c.id)
    if since is not None:
        query = query.where(audit_log.c.at >= _as_datetime(since))
    if event is not None:
        if event not in EVENTS:
            raise ValueError(f"event must be one of {', '.join(sorted(EVENTS))}, got {event!r}")
        query = query.where(audit_log.c.event == event)
    with engine.connect() as conn:
        frame = pd.read_sql(query, conn)
    frame["at"] = pd.to_datetime(frame["at"])
    return frame


# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _neutralise(value):
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
        return "'" + value
    return value


def export_audit_csv(engine: Engine) -> bytes:
    """The whole audit log as UTF-8 CSV (BOM for spreadsheets), text cells formula-neutralised.

    The hash and prev_hash columns are hex and never start with a formula character, so an exported
    file can still be checked against the chain; other text (actor, target, details) may be prefixed.
    """
    frame = load_audit(engine)
    frame["at"] = [_timestamp(t.to_pydatetime()) for t in frame["at"]]
    for col in ("actor", "event", "target", "details"):
        frame[col] = frame[col].astype(object).map(_neutralise)
    buf = io.StringIO()
    frame.to_csv(buf, index=False, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    return buf.getvalue().encode("utf-8-sig")
