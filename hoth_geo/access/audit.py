"""The tamper-evident audit trail: every sensitive action, one keyed, chained and anchored row each.

Keyed entries (version 2) store ``hash = HMAC-SHA256(key, prev_hash || canonical JSON of the entry)``
where the entry is its id, time, actor, event, the SHA-256 of its target and details
(``content_sha256``) and its ``binding``. The key is kept outside the database
(``settings.audit_key``: $HOTH_GEO_AUDIT_KEY or a 0600 file under var/), so someone who can write to
the database but not read the key cannot make an entry whose MAC verifies.

Each keyed entry's id and MAC are also appended, as the transaction commits, to an anchor log
outside the database (``anchor_path``), so deleting the newest entries (truncation) or rebuilding
the chain shows up even though every remaining entry is well formed.

The MAC covers a hash of the target and details rather than the text itself, so ``redact_before``
can drop report ids and free text from entries past the retention period and the chain still
verifies; ``verify_chain`` accepts a redaction only if a later 'purge' entry authorised it.

An entry's ``binding`` ties it to the row it is about, so changing those tables outside hoth-geo is
caught too: an entry whose target is an account records that account's roles, state and a hash of
its password hash; an 'export' entry records a hash of its export-log row.

Entries written before the key existed (version 1: ``hash = sha256(prev_hash || entry)``) still
verify. The first keyed entry after them is an 'audit_keyed' entry that binds every account and
export-log row as they were, and the anchor log records the unkeyed head it follows.

Writers serialise on a lock row (``audit_lock``): the first statement of every append updates it, so the
database's own write lock (SQLite) or row lock (PostgreSQL, READ COMMITTED) is held while the last hash is
read and the new row inserted, and until the anchor line is written at commit.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hoth_geo import settings, store
from hoth_geo.errors import InvalidInput
from hoth_geo.store import export_log, tables
from hoth_geo.store.tables import audit_log, users

__all__ = [
    "log_export",
    "GENESIS_HASH",
    "audit_log",
    "EVENTS",
    "entry_hash",
    "KEYED_VERSION",
    "REDACTED_DETAILS",
    "KEEP_DETAILS_EVENTS",
    "key_id",
    "content_digest",
    "entry_mac",
    "anchor_path",
    "read_anchor",
    "record",
    "FINDING_KINDS",
    "Finding",
    "VerifyResult",
    "verify_chain",
    "redact_before",
    "load_audit",
    "export_audit_csv",
]

# The prev_hash of the first entry.
GENESIS_HASH = "0" * 64


# Known events. record() refuses anything else so a typo ('sign-in') cannot split one event in two.
EVENTS = frozenset(
    {
        # accounts and sessions (hoth_geo.access.auth)
        "sign_in",
        "sign_in_failed",
        "sign_out",
        "session_expired",
        "user_added",
        "user_disabled",
        "user_enabled",
        "role_changed",
        "password_changed",
        "password_verified",  # a signed-in user's current password checked before they change it
        "account_agency_set",  # hoth_geo.intake.submission: the agency a reporter's forms carry
        # data
        "import",
        "import_refused",
        "quarantine_resolved",
        "quarantine_unresolved",  # hoth_geo.intake.review: a location given in Review undone
        "quarantine_set_aside",  # hoth_geo.intake.review: a row taken out of Review with a reason
        "quarantine_restored",  # hoth_geo.intake.review: a row set aside put back in Review
        "quarantine_located_again",  # hoth_geo.intake.review.locate_again: rows tried with the gazetteer
        "reports_restated",  # hoth_geo.intake.restate: radii widened to a rebuilt gazetteer's
        "reports_merged",
        "reports_unmerged",
        "duplicate_kept_distinct",
        "resubmission_accepted",
        "resubmission_rejected",
        "report_viewed",
        "narrative_viewed",
        "export",
        "demo_loaded",
        "demo_deleted",
        "disruption_added",
        "purge",
        # the study area (hoth_geo.intake.area)
        "area_set",
        "area_gazetteer_built",
        # configuration
        "basemap_set",
        "basemap_cleared",
        # the audit trail itself
        "audit_exported",
        "audit_verified",
        "audit_keyed",
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


# --- keys, MACs and bindings -------------------------------------------------------------------------

KEYED_VERSION = 2
# What a redacted entry's details become (its target becomes NULL); see redact_before.
REDACTED_DETAILS = '{"redacted":true}'
# Events whose target and details are kept past the retention period: they name staff accounts and
# counts, never reports, children or text from a partner's file. Every other event (report views,
# imports, exports, failed sign-ins with an attacker-chosen name...) is redacted.
KEEP_DETAILS_EVENTS = frozenset(
    {
        "user_added",
        "user_disabled",
        "user_enabled",
        "role_changed",
        "password_changed",
        "password_verified",
        "sign_in",
        "sign_out",
        "session_expired",
        "demo_loaded",
        "demo_deleted",
        "purge",
        "audit_exported",
        "audit_verified",
        "audit_keyed",
    }
)


def key_id(key: bytes) -> str:
    """A short public name for a key, so the anchor log can say which key the chain was begun with."""
    return hmac.new(key, b"hoth-geo audit key id", hashlib.sha256).hexdigest()[:16]


def content_digest(target: str | None, details: str) -> str:
    """SHA-256 of the entry's target and stored details JSON (the part redaction may remove)."""
    return hashlib.sha256(_canonical({"target": target, "details": details}).encode("utf-8")).hexdigest()


def entry_mac(
    key: bytes,
    prev_hash: str,
    *,
    id: int,
    at: datetime,
    actor: str | None,
    event: str,
    content_sha256: str,
    binding: str | None,
) -> str:
    """HMAC-SHA256(key, prev_hash || canonical JSON of a keyed entry)."""
    body = _canonical(
        {
            "v": KEYED_VERSION,
            "id": id,
            "at": _timestamp(at),
            "actor": actor,
            "event": event,
            "content": content_sha256,
            "binding": binding,
        }
    )
    return hmac.new(key, (prev_hash + body).encode("utf-8"), hashlib.sha256).hexdigest()


def _sha256(text: str | None) -> str:
    return hashlib.sha256((text or "").encode("utf-8")).hexdigest()


def _account_state(row) -> dict:
    """What an account entry vouches for: roles, state and a hash of the password hash (never the hash)."""
    return {
        "account": row.username,
        "role": row.role,
        "is_admin": bool(row.is_admin),
        "disabled": bool(row.disabled),
        "display_name_sha256": _sha256(row.display_name),
        "password_sha256": _sha256(row.password_hash),
    }


def _export_state(row) -> dict:
    """An export-log row as hashes: the fixed fields together, the filters (redactable) apart."""
    exported_at = row.exported_at
    fixed = {
        "id": row.id,
        "exported_at": _timestamp(exported_at) if hasattr(exported_at, "strftime") else str(exported_at),
        "exported_by": row.exported_by,
        "audience": row.audience,
        "kind": row.kind,
        "filename": row.filename,
        "sha256": row.sha256,
        "n_bytes": row.n_bytes,
    }
    return {
        "export": row.id,
        "row_sha256": _sha256(_canonical(fixed)),
        "filters_sha256": _sha256(row.filters),
    }


def _users_table() -> sa.Table:

    return users


def _binding(conn: Connection, event: str, target: str | None, details: dict) -> str | None:
    if event == "export" and isinstance(details.get("export_id"), int):
        row = conn.execute(sa.select(export_log).where(export_log.c.id == details["export_id"])).first()
        if row is not None:
            return _canonical(_export_state(row))
    if isinstance(target, str) and 0 < len(target) <= 254:
        users = _users_table()
        row = conn.execute(sa.select(users).where(users.c.username == target)).first()
        if row is not None:
            return _canonical(_account_state(row))
    return None


def _snapshot_binding(conn: Connection) -> str:
    """Every account and export-log row as they are now (the 'audit_keyed' entry's binding)."""
    users = _users_table()
    accounts = [_account_state(r) for r in conn.execute(sa.select(users).order_by(users.c.id))]
    exports = [_export_state(r) for r in conn.execute(sa.select(export_log).order_by(export_log.c.id))]
    return _canonical({"accounts": accounts, "exports": exports})


# --- the anchor log ----------------------------------------------------------------------------------


def anchor_path(engine: Engine) -> Path | None:
    """The anchor log for ``engine``'s database; None for an in-memory database (nothing to anchor).

    $HOTH_GEO_AUDIT_ANCHOR wins. A SQLite file database gets ``<file>-audit-anchor.log`` beside it
    (var/ by default); any other database ``var/audit-anchor-<hash of its URL>.log``.
    """
    explicit = settings.env(settings.AUDIT_ANCHOR_ENV)
    if explicit:
        return Path(explicit)
    url = engine.url
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:" or url.database.startswith("file::memory:"):
            return None
        return Path(url.database + "-audit-anchor.log")
    ident = hashlib.sha256(url.render_as_string(hide_password=True).encode("utf-8")).hexdigest()[:16]
    return settings.VAR_DIR / f"audit-anchor-{ident}.log"


_PENDING = "hoth_geo_audit_anchor_lines"


def _write_anchor(conn: Connection) -> None:
    """Append the lines of the entries this transaction wrote, fsynced, just before it commits.

    Runs while the transaction still holds the database's write lock, so lines land in id order.
    If writing fails the exception aborts the commit: no entry commits without its anchor line.
    """
    pending = conn.info.pop(_PENDING, None)
    if not pending:
        return
    path, key_line, lines = pending
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        text = "".join(line + "\n" for line in lines)
        if os.fstat(fd).st_size == 0:
            text = key_line + "\n" + text
        os.write(fd, text.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)


def _forget_anchor(conn: Connection) -> None:
    conn.info.pop(_PENDING, None)


def _forget_anchor_on_return(dbapi_connection, connection_record, reset_state) -> None:  # noqa: ARG001
    # Closing a Connection mid-transaction fires the rollback event; a DBAPI connection that reaches
    # the pool some other way (garbage-collected mid-transaction) is only rolled back by the pool's
    # reset, which does not. Its entries never committed, so their lines must not be kept either.
    connection_record.info.pop(_PENDING, None)


def _queue_anchor(conn: Connection, key: bytes, line: str) -> None:
    engine = conn.engine
    path = anchor_path(engine)
    if path is None:
        return
    if not sa.event.contains(engine, "commit", _write_anchor):
        sa.event.listen(engine, "commit", _write_anchor)
        sa.event.listen(engine, "rollback", _forget_anchor)
        sa.event.listen(engine.pool, "reset", _forget_anchor_on_return)
    pending = conn.info.setdefault(_PENDING, (path, f"key {key_id(key)}", []))
    pending[2].append(line)


def read_anchor(path: Path) -> dict:
    """The anchor log parsed: key ids, the unkeyed head (if any), {entry id: [MACs]}, bad lines."""
    parsed: dict = {"keys": [], "legacy": None, "macs": defaultdict(list), "bad": []}
    with path.open(encoding="ascii", errors="replace") as fh:
        for n, line in enumerate(fh, start=1):
            parts = line.split()
            if len(parts) == 2 and parts[0] == "key":
                parsed["keys"].append(parts[1])
            elif len(parts) == 3 and parts[0] == "legacy" and parts[1].isdigit():
                parsed["legacy"] = (int(parts[1]), parts[2])
            elif len(parts) == 2 and parts[0].isdigit() and re.fullmatch(r"[0-9a-f]{64}", parts[1]):
                parsed["macs"][int(parts[0])].append(parts[1])
            else:
                parsed["bad"].append(n)
    return parsed


# --- appending ---------------------------------------------------------------------------------------


def _insert_keyed(
    conn: Connection,
    key: bytes,
    prev_id: int,
    prev_hash: str,
    event: str,
    actor: str | None,
    target: str | None,
    details_json: str,
    binding: str | None,
) -> tuple[int, str]:
    new_id = prev_id + 1
    at = datetime.now(UTC).replace(tzinfo=None)
    content = content_digest(target, details_json)
    mac = entry_mac(
        key, prev_hash, id=new_id, at=at, actor=actor, event=event, content_sha256=content, binding=binding
    )
    conn.execute(
        audit_log.insert().values(
            id=new_id,
            at=at,
            actor=actor,
            event=event,
            target=target,
            details=details_json,
            prev_hash=prev_hash,
            hash=mac,
            version=KEYED_VERSION,
            content_sha256=content,
            binding=binding,
        )
    )
    _queue_anchor(conn, key, f"{new_id} {mac}")
    return new_id, mac


def _append(conn: Connection, event: str, actor: str | None, target: str | None, details_json: str) -> int:
    store.take_lock(conn)
    key = settings.audit_key()
    last = conn.execute(
        sa.select(audit_log.c.id, audit_log.c.hash, audit_log.c.version)
        .order_by(audit_log.c.id.desc())
        .limit(1)
    ).first()
    prev_id, prev = (last.id, last.hash) if last else (0, GENESIS_HASH)
    if last is not None and (last.version or 1) < KEYED_VERSION:
        # The first keyed entry after unkeyed ones: vouch for every account and export as they are,
        # and anchor the unkeyed head so it cannot be rewritten either.
        details = _details_json({"unkeyed_entries": last.id, "unkeyed_head": last.hash})
        _queue_anchor(conn, key, f"legacy {last.id} {last.hash}")
        prev_id, prev = _insert_keyed(
            conn, key, prev_id, prev, "audit_keyed", None, None, details, _snapshot_binding(conn)
        )
    binding = _binding(conn, event, target, json.loads(details_json))
    new_id, _ = _insert_keyed(conn, key, prev_id, prev, event, actor, target, details_json, binding)
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


# What verify_chain can find, each reported separately.
FINDING_KINDS = {
    "edited": "edited entry",
    "missing": "deleted entry",
    "truncated": "truncated tail",
    "forged": "forged entry",
    "replaced": "rewritten entry",
    "unanchored": "entry missing from the anchor log",
    "anchor": "anchor log problem",
    "key": "audit key problem",
    "redaction": "unauthorised redaction",
    "account": "account changed outside the audit trail",
    "export_altered": "export log row altered",
    "export_removed": "export log row removed",
    "export_unaudited": "export log row not in the audit trail",
    "head": "recorded head hash not found",
}


@dataclass(frozen=True)
class Finding:
    """One problem: ``kind`` is a key of FINDING_KINDS; ``entry_id`` the audit entry it is at, if any."""

    kind: str
    entry_id: int | None
    message: str

    def describe(self) -> str:
        where = f" at entry {self.entry_id}" if self.entry_id is not None else ""
        return f"{FINDING_KINDS[self.kind]}{where}: {self.message}"


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of checking the chain. ``head_hash`` is the last entry's hash (record it elsewhere).

    ``n_entries`` counts the entries that verified before the first broken one (all of them when
    the chain is intact); ``findings`` lists every problem found, in chain order.
    """

    ok: bool
    n_entries: int
    first_bad_id: int | None = None
    reason: str | None = None
    head_hash: str | None = None
    findings: tuple[Finding, ...] = field(default_factory=tuple)
    keyed: bool = False
    anchor: str | None = None


def _redaction_cutoffs(conn: Connection) -> list[tuple[int, datetime]]:
    """(purge entry id, audit_redacted_before) for each purge entry that redacted old entries."""
    out = []
    purges = conn.execute(sa.select(audit_log.c.id, audit_log.c.details).where(audit_log.c.event == "purge"))
    for entry_id, details in purges:
        try:
            before = json.loads(details).get("audit_redacted_before")
            out.append((entry_id, datetime.fromisoformat(before)))
        except (ValueError, TypeError, AttributeError):
            continue
    return out


@dataclass
class _Walk:
    """What one pass over the chain keeps (entries are streamed, not held in memory)."""

    n_good: int = 0
    n_entries: int = 0
    last_id: int = 0
    last_hash: str | None = None
    keyed: bool = False
    watched: dict[int, str] = field(default_factory=dict)  # hashes of entries the anchor log names
    seen_hashes: set[str] = field(default_factory=set)  # only filled when looking for expect_hash
    accounts: dict[str, tuple[int, dict]] = field(default_factory=dict)
    exports: dict[int, tuple[int, dict]] = field(default_factory=dict)


def _collect_binding(row, walk: _Walk) -> None:
    if (row.version or 1) < KEYED_VERSION or not row.binding:
        return
    try:
        binding = json.loads(row.binding)
    except ValueError:
        return
    states = [binding] if "account" in binding or "export" in binding else []
    states += binding.get("accounts", []) + binding.get("exports", [])
    for state in states:
        if "account" in state:
            walk.accounts[state["account"]] = (row.id, state)
        elif "export" in state:
            walk.exports[state["export"]] = (row.id, state)


def _check_entries(
    rows,
    key: bytes | None,
    anchor: dict | None,
    cutoffs: list[tuple[int, datetime]],
    findings: list[Finding],
    walk: _Walk,
    expect_hash: str | None,
) -> None:
    """Walk the chain in id order, adding a finding for each entry that does not fit."""
    macs = anchor["macs"] if anchor else {}
    watch = {anchor["legacy"][0]} if anchor and anchor["legacy"] else set()
    mac_owner: dict[str, int] | None = None  # built only if an entry's MAC fails
    prev_hash = GENESIS_HASH
    expected_id = 1

    def add(kind: str, entry_id: int | None, message: str) -> None:
        findings.append(Finding(kind, entry_id, message))

    for row in rows:
        before = len(findings)
        if row.id != expected_id:
            one = row.id == expected_id + 1
            gap = f"entry {expected_id} is" if one else f"entries {expected_id}-{row.id - 1} are"
            add("missing", row.id, f"{gap} missing (deleted)")
        elif row.prev_hash != prev_hash:
            add("edited", row.id, f"prev_hash does not match entry {row.id - 1}'s hash")
        version = row.version or 1
        if version < KEYED_VERSION:
            if walk.keyed:
                add("forged", row.id, "an unkeyed entry after keyed ones (written without the key)")
            else:
                recomputed = entry_hash(
                    row.prev_hash,
                    id=row.id,
                    at=row.at,
                    actor=row.actor,
                    event=row.event,
                    target=row.target,
                    details=row.details,
                )
                if recomputed != row.hash:
                    add("edited", row.id, "contents do not match the stored hash")
            if row.id in macs and row.hash not in macs[row.id]:
                add(
                    "replaced",
                    row.id,
                    "the anchor log holds a keyed MAC for this entry: rewritten as unkeyed",
                )
        else:
            walk.keyed = True
            if row.content_sha256 != content_digest(row.target, row.details):
                redacted = row.details == REDACTED_DETAILS and row.target is None
                if not redacted:
                    add("edited", row.id, "target or details do not match the hash its MAC covers")
                elif not any(pid > row.id and row.at < cut for pid, cut in cutoffs):
                    add("redaction", row.id, "target and details were removed without a purge that allows it")
            if key is not None:
                mac = entry_mac(
                    key,
                    row.prev_hash,
                    id=row.id,
                    at=row.at,
                    actor=row.actor,
                    event=row.event,
                    content_sha256=row.content_sha256 or "",
                    binding=row.binding,
                )
                anchored = macs.get(row.id, [])
                if mac != row.hash:
                    if mac_owner is None:
                        mac_owner = {m: i for i, ms in macs.items() for m in ms}
                    if row.hash in anchored:
                        add(
                            "edited",
                            row.id,
                            "time, actor, event or binding changed: the MAC no longer matches",
                        )
                    elif row.hash in mac_owner:
                        add(
                            "replaced",
                            row.id,
                            f"this is entry {mac_owner[row.hash]} renumbered (entries deleted)",
                        )
                    elif anchored:
                        add("replaced", row.id, "the MAC is not valid and differs from the anchor log's")
                    else:
                        add("forged", row.id, "no valid MAC and not in the anchor log")
                elif anchor is not None and row.hash not in anchored:
                    if anchored:
                        add("replaced", row.id, "valid MAC, but the anchor log holds a different one")
                    else:
                        add("unanchored", row.id, "valid MAC, but not in the anchor log")
        if len(findings) == before and walk.n_good == walk.n_entries:
            walk.n_good += 1
        _collect_binding(row, walk)
        if row.id in watch:
            walk.watched[row.id] = row.hash
        if expect_hash is not None and row.hash == expect_hash:
            walk.seen_hashes.add(row.hash)
        walk.n_entries += 1
        walk.last_id, walk.last_hash = row.id, row.hash
        prev_hash = row.hash
        expected_id = row.id + 1


def _check_anchor(walk: _Walk, key: bytes | None, path: Path | None, anchor: dict | None, findings) -> None:
    if key is None:
        if walk.keyed:
            findings.append(Finding("key", None, "keyed entries exist but no audit key is configured"))
        return
    if path is None:
        return
    if anchor is None:
        if walk.keyed:
            findings.append(Finding("anchor", None, f"the anchor log {path} is missing"))
        return
    if anchor["bad"]:
        findings.append(Finding("anchor", None, f"the anchor log has unreadable lines: {anchor['bad'][:5]}"))
    if anchor["legacy"] is not None:
        legacy_id, legacy_hash = anchor["legacy"]
        if walk.watched.get(legacy_id) != legacy_hash:
            findings.append(
                Finding(
                    "replaced", legacy_id, "the unkeyed head recorded in the anchor log is not in the chain"
                )
            )
    anchored_last = max(anchor["macs"], default=0)
    if anchored_last > walk.last_id:
        lost = anchored_last - walk.last_id
        removed = "the newest entry removed" if lost == 1 else f"the {lost} newest entries removed"
        message = (
            f"the anchor log records entries up to {anchored_last}, the database ends at {walk.last_id}: "
        )
        findings.append(Finding("truncated", walk.last_id + 1, message + removed))


def _check_bindings(conn: Connection, walk: _Walk, cutoffs: list, findings: list[Finding]) -> None:
    """Accounts and export-log rows must be as their last audit entry left them."""
    redacted_before = [cut for _, cut in cutoffs]
    users = _users_table()
    current = {r.username: r for r in conn.execute(sa.select(users))}
    for name, (entry_id, state) in walk.accounts.items():
        row = current.get(name)
        if row is None:
            findings.append(Finding("account", entry_id, f"account {name!r} was deleted outside hoth-geo"))
            continue
        now = _account_state(row)
        changed = [k.removesuffix("_sha256") for k in state if k != "account" and state[k] != now.get(k)]
        if changed:
            findings.append(
                Finding(
                    "account",
                    entry_id,
                    f"account {name!r}: {', '.join(changed)} differ from its last audited change",
                )
            )
    for name in sorted(set(current) - set(walk.accounts)):
        findings.append(
            Finding("account", None, f"account {name!r} is not in the audit trail (added outside hoth-geo)")
        )
    logged = {r.id: r for r in conn.execute(sa.select(export_log))}
    for export_id, (entry_id, state) in walk.exports.items():
        row = logged.get(export_id)
        if row is None:
            findings.append(Finding("export_removed", entry_id, f"export log row {export_id} was deleted"))
            continue
        now = _export_state(row)
        if now["row_sha256"] != state["row_sha256"]:
            findings.append(Finding("export_altered", entry_id, f"export log row {export_id} was changed"))
        elif now["filters_sha256"] != state["filters_sha256"]:
            redacted = row.filters == REDACTED_DETAILS and any(
                row.exported_at < cut for cut in redacted_before
            )
            if not redacted:
                findings.append(
                    Finding("export_altered", entry_id, f"export log row {export_id}'s filters were changed")
                )
    for export_id in sorted(set(logged) - set(walk.exports)):
        findings.append(
            Finding(
                "export_unaudited",
                None,
                f"export log row {export_id} has no audit entry (added outside hoth-geo)",
            )
        )


def verify_chain(engine: Engine, *, expect_hash: str | None = None) -> VerifyResult:
    """Check every entry, the anchor log, and the accounts and export log the entries vouch for.

    ``expect_hash``: a head hash recorded earlier outside the database. The chain must still contain
    it; if it does not, the log was rebuilt or truncated after that point.
    """
    if expect_hash is not None and not re.fullmatch(r"[0-9a-f]{64}", expect_hash):
        raise InvalidInput(f"expect_hash must be 64 lower-case hex characters, got {expect_hash!r}")
    names = ("id", "at", "actor", "event", "target", "details", "prev_hash", "hash")
    cols = [audit_log.c[c] for c in (*names, "version", "content_sha256", "binding")]
    key = settings.audit_key(create=False)
    path = anchor_path(engine)
    anchor = read_anchor(path) if path is not None and path.exists() else None
    findings: list[Finding] = []
    entry_key = key
    if key is not None and anchor is not None and anchor["keys"] and key_id(key) not in anchor["keys"]:
        # Every MAC would fail: say so once instead of calling each entry edited.
        findings.append(
            Finding("key", None, "the audit key is not the one this chain was begun with: MACs not checked")
        )
        entry_key = None
    walk = _Walk()
    with engine.connect() as conn:
        cutoffs = _redaction_cutoffs(conn)
        rows = conn.execution_options(yield_per=2000).execute(sa.select(*cols).order_by(audit_log.c.id))
        _check_entries(rows, entry_key, anchor, cutoffs, findings, walk, expect_hash)
        _check_anchor(walk, key, path, anchor, findings)
        if walk.keyed:
            _check_bindings(conn, walk, cutoffs, findings)
    if expect_hash is not None and expect_hash not in walk.seen_hashes:
        message = f"the recorded head hash {expect_hash} is not in the chain: rewritten or truncated since"
        findings.append(Finding("head", None, message))
    anchor_name = str(path) if path else None
    if not findings:
        return VerifyResult(True, walk.n_entries, None, None, walk.last_hash, (), walk.keyed, anchor_name)
    first = findings[0]
    return VerifyResult(
        False,
        walk.n_good,
        first.entry_id,
        first.message,
        walk.last_hash,
        tuple(findings),
        walk.keyed,
        anchor_name,
    )


def redact_before(conn: Connection, cutoff: datetime) -> dict[str, int]:
    """Drop target and details from keyed entries, and filters from export-log rows, before ``cutoff``.

    Call it in a purge's transaction; the purge entry must then carry ``audit_redacted_before``
    (``cutoff`` in ISO form) so verify_chain accepts the redactions. Entries of KEEP_DETAILS_EVENTS
    and unkeyed entries (whose hash covers the text itself) are left as they are.
    """
    redactable = sa.and_(
        audit_log.c.at < cutoff,
        audit_log.c.version >= KEYED_VERSION,
        audit_log.c.event.not_in(sorted(KEEP_DETAILS_EVENTS)),
        audit_log.c.details != REDACTED_DETAILS,
    )
    n_audit = conn.execute(
        audit_log.update().where(redactable).values(target=None, details=REDACTED_DETAILS)
    ).rowcount
    n_export = conn.execute(
        export_log.update()
        .where(export_log.c.exported_at < cutoff, export_log.c.filters != REDACTED_DETAILS)
        .values(filters=REDACTED_DETAILS)
    ).rowcount
    return {"audit_entries": int(n_audit), "export_log_rows": int(n_export)}


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


def log_export(
    engine: Engine,
    *,
    audience: str,
    kind: str,
    filters: dict,
    data: bytes,
    filename: str | None = None,
    exported_by: str | None = None,
) -> int:
    """Record one export (who, when, audience, filters, file type, SHA-256 of the bytes)."""

    with engine.begin() as conn:
        result = conn.execute(
            tables.export_log.insert().values(
                exported_at=datetime.now(UTC).replace(tzinfo=None),
                exported_by=exported_by,
                audience=audience,
                kind=kind,
                filters=json.dumps(filters, default=str, sort_keys=True),
                filename=filename,
                sha256=hashlib.sha256(data).hexdigest(),
                n_bytes=len(data),
            )
        )
        export_id = int(result.inserted_primary_key[0])
        record(
            conn,
            "export",
            actor=exported_by,
            target=filename,
            details={"export_id": export_id, "audience": audience, "kind": kind},
        )
    return export_id
