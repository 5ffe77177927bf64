"""Server-side sign-in sessions and the one-time first-run setup token.

**Sessions.** A sign-in creates a row in ``auth_sessions`` holding the sha256 of a fresh random token;
the browser carries the token itself in a cookie, so a refresh or a new tab finds the sign-in again.
A session ends, and the row says why, when the user signs out, after ``auth.session_minutes()`` without
interaction (idle), after ``SESSION_MAX_HOURS`` in any case, and as soon as the account is disabled,
its roles change or an administrator sets a new password. Every forced end is audited (``sign_out`` or
``session_expired`` with the reason). The database never holds a usable token: a stolen copy of the
table cannot be replayed.

**Setup token.** While no admin account exists, the first-run form asks for a token that only the
person running the server can read: it is printed on the server's console (and so in its log) and kept
in a file only the server's account may read (``var/first-run-token``, mode 0600); the database keeps
its sha256. It stops working the moment the first admin is created.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hoth_geo import settings, store
from hoth_geo.access import audit
from hoth_geo.store.tables import auth_sessions, first_run_token, users

__all__ = [
    "end_by_hash",
    "SESSION_MAX_HOURS",
    "TOUCH_EVERY",
    "COOKIE_NAME",
    "auth_sessions",
    "first_run_token",
    "END_REASONS",
    "digest",
    "Resumed",
    "start",
    "end",
    "end_all_for_user",
    "TOKEN_FILE_NAME",
    "token_file",
    "ensure_setup_token",
    "check_setup_token",
    "retire_setup_token",
    "announce_setup_token",
    "announce_if_first_run",
]

log = logging.getLogger("hoth_geo.access.sessions")

SESSION_MAX_HOURS = 12  # an absolute limit, whatever the activity: a working day plus a margin
# Last-seen times are written at most this often, so a busy page does not write on every rerun.
TOUCH_EVERY = timedelta(seconds=30)
COOKIE_NAME = "hoth_geo_session"


# Why a session ended -> the audit event recorded for it.
END_REASONS = {
    "user": "sign_out",
    "expired": "session_expired",
    "max_age": "session_expired",
    "account_disabled": "sign_out",
    "role_changed": "sign_out",
    "password_changed": "sign_out",
    "replaced": "sign_out",
}


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def digest(token: str) -> str:
    """The SHA-256 hex digest of a session token: what the sessions table stores instead of the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# --- Sessions ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resumed:
    """The outcome of looking a token up: the user (None when the session is not valid) and why not."""

    user: object | None  # auth.User
    reason: str | None = None  # None, "unknown", or the END_REASONS key that ended it (now or before)


def start(engine: Engine, user, *, method: str = "password", replaces: str | None = None) -> str:
    """Open a session for ``user`` (an auth.User) and return its new token (for the cookie only).

    A token the browser already carried (``replaces``) is ended first: every sign-in gets a fresh
    token, so a token planted in a browser before sign-in never becomes a signed-in one.
    """
    token = secrets.token_urlsafe(32)
    now = _now()
    with engine.begin() as conn:
        store.take_lock(conn)
        if replaces:
            end_by_hash(conn, digest(replaces), "replaced")
        conn.execute(
            auth_sessions.insert().values(
                token_hash=digest(token),
                user_id=user.id,
                username=user.username,
                roles=user.roles,
                display_name=user.display_name,
                method=method,
                created_at=now,
                last_seen_at=now,
            )
        )
    return token


def end_by_hash(conn: Connection, token_hash: str, reason: str, *, actor: str | None = None) -> bool:
    """End one open session and audit it (caller holds the audit lock). False if already ended."""
    row = conn.execute(
        sa.select(auth_sessions).where(
            auth_sessions.c.token_hash == token_hash, auth_sessions.c.ended_at.is_(None)
        )
    ).first()
    if row is None:
        return False
    done = conn.execute(
        auth_sessions.update()
        .where(auth_sessions.c.id == row.id, auth_sessions.c.ended_at.is_(None))
        .values(ended_at=_now(), end_reason=reason)
    ).rowcount
    if done:
        details = {"reason": reason, "session": row.id}
        audit.record(
            conn, END_REASONS[reason], actor=actor or row.username, target=row.username, details=details
        )
    return bool(done)


def end(engine: Engine, token: str | None, reason: str = "user") -> bool:
    """End the session for ``token`` (sign-out); audited once even if two tabs sign out together."""
    if reason not in END_REASONS:
        raise ValueError(f"reason must be one of {', '.join(END_REASONS)}, got {reason!r}")
    if not token:
        return False
    with engine.begin() as conn:
        store.take_lock(conn)
        return end_by_hash(conn, digest(token), reason)


def end_all_for_user(
    conn: Connection, user_id: int, reason: str, *, actor: str | None = None, username: str | None = None
) -> int:
    """End every open session of an account (in the caller's locked transaction); each one audited.

    With ``username``, single-sign-on sessions under the same name end too (a disabled local account
    blocks SSO sign-in with that name).
    """
    owner = auth_sessions.c.user_id == user_id
    if username is not None:
        owner = sa.or_(
            owner, sa.and_(auth_sessions.c.user_id.is_(None), auth_sessions.c.username == username)
        )
    hashes = conn.execute(
        sa.select(auth_sessions.c.token_hash).where(owner, auth_sessions.c.ended_at.is_(None))
    ).scalars()
    return sum(end_by_hash(conn, h, reason, actor=actor) for h in list(hashes))


# --- First-run setup token ------------------------------------------------------------------------------

TOKEN_FILE_NAME = "first-run-token"


def _var_dir() -> Path:
    # Read when used, so a deployment (or a test) can point HOTH_GEO_VAR_DIR elsewhere.
    return settings.var_dir()


def token_file() -> Path:
    """The file the first-run setup token is written to (readable by the server's user only)."""
    return _var_dir() / TOKEN_FILE_NAME


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text + "\n")


def _first_run_needed(conn: Connection) -> bool:
    return conn.execute(sa.select(users.c.id).where(users.c.is_admin.is_(True)).limit(1)).first() is None


def ensure_setup_token(engine: Engine) -> str | None:
    """The setup token while no admin exists (made once and kept until then); None once set up.

    The same token is returned on every start while the file under var/ still matches the database,
    so restarting the server does not invalidate a token already handed to the person setting it up.
    """
    path = token_file()
    with engine.begin() as conn:
        store.take_lock(conn)  # two app processes starting together make one token, not two
        if not _first_run_needed(conn):
            conn.execute(first_run_token.delete())
            path.unlink(missing_ok=True)
            return None
        stored = conn.execute(
            sa.select(first_run_token.c.token_hash).where(first_run_token.c.id == 1)
        ).scalar()
        if stored and path.is_file():
            kept = path.read_text(encoding="utf-8").strip()
            if kept and hmac.compare_digest(digest(kept), stored):
                return kept
        token = secrets.token_urlsafe(24)
        conn.execute(first_run_token.delete())
        conn.execute(first_run_token.insert().values(id=1, token_hash=digest(token), created_at=_now()))
        _write_private(path, token)
    return token


def check_setup_token(conn: Connection, token: str | None) -> bool:
    """Whether ``token`` is the current setup token (constant-time), inside the caller's transaction."""
    stored = conn.execute(sa.select(first_run_token.c.token_hash).where(first_run_token.c.id == 1)).scalar()
    if not stored or not isinstance(token, str) or not token.strip():
        return False
    return hmac.compare_digest(digest(token.strip()), stored)


def retire_setup_token(conn: Connection) -> None:
    """Called in the transaction that creates the first admin: the token can never be used again."""
    conn.execute(first_run_token.delete())
    token_file().unlink(missing_ok=True)


def announce_setup_token(token: str, *, where: str = "the first-run page") -> str:
    """Print the setup token to the console (stderr) and the log, the way Jupyter and Grafana do."""
    message = (
        "\n" + "=" * 72 + "\n"
        "hoth-geo has no administrator yet. To create one, open the app and enter this one-time\n"
        f"setup token on {where}:\n\n    {token}\n\n"
        f"(It is also in {token_file()}, readable only by this account. It stops working once the\n"
        "first administrator exists.)\n" + "=" * 72 + "\n"
    )
    print(message, file=sys.stderr, flush=True)
    if log.hasHandlers():  # a deployment's log configuration; otherwise stderr above is the log
        log.warning("first-run setup token: %s", token)
    return message


def announce_if_first_run(engine: Engine) -> str | None:
    """At server start: make (or reuse) the setup token and print it while no admin exists."""
    token = ensure_setup_token(engine)
    if token is not None:
        announce_setup_token(token)
    return token
