"""Accounts, roles and sign-in.

A user holds at most one *data role* (police, analyst or partner), which decides what case data they
see, and may also hold the *admin* role, which manages accounts and reads the audit log but shows no
case data by itself. So "admin" alone is an administrator who cannot open the map; "admin,analyst" is an
analyst who also administers. Roles are written as a comma-separated set ("admin,analyst"); the users
table stores the data role and an is_admin flag.

Passwords are hashed with Argon2id (argon2-cffi) and rehashed on the next successful sign-in whenever
the hashing parameters change; the rules a new password must meet are in ``hoth_geo.access.passwords``. There
is no default account and no default password: the first admin is created from the command line
(``hoth-geo users add NAME --role admin``) or by the app's first-run form, which exists only while no
admin account exists and needs the one-time setup token printed on the server (``create_first_admin``).

Sign-in attempts are throttled before any password is hashed (``authenticate``): per account and
client, per account, and per client; see docs/access-and-audit.md. Signed-in sessions are kept in the
database (``hoth_geo.access.sessions``).

Sign-in via Microsoft Entra ID (or any OpenID Connect provider) maps identity-token claims to roles
with ``role_from_claims``; see docs/access-and-audit.md.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import threading
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Engine

from hoth_geo import errors, settings, store
from hoth_geo.access import audit, passwords, sessions
from hoth_geo.store.tables import sign_in_throttle, users

__all__ = [
    "resume_session",
    "CAPABILITIES",
    "ROLES",
    "DATA_ROLES",
    "ADMIN_ROLE",
    "can",
    "NotPermitted",
    "require",
    "parse_roles",
    "role_label",
    "SESSION_MINUTES_ENV",
    "LOCKOUT_ATTEMPTS_ENV",
    "LOCKOUT_MINUTES_ENV",
    "ACCOUNT_LOCKOUT_ATTEMPTS_ENV",
    "CLIENT_ATTEMPTS_ENV",
    "TRUSTED_PROXIES_ENV",
    "SSO_ROLES_FILE_ENV",
    "DEFAULT_SESSION_MINUTES",
    "DEFAULT_LOCKOUT_ATTEMPTS",
    "DEFAULT_ACCOUNT_LOCKOUT_ATTEMPTS",
    "DEFAULT_CLIENT_ATTEMPTS",
    "DEFAULT_LOCKOUT_MINUTES",
    "DEFAULT_TRUSTED_PROXIES",
    "MIN_PASSWORD_LENGTH",
    "MAX_PASSWORD_LENGTH",
    "session_minutes",
    "lockout_attempts",
    "lockout_minutes",
    "account_lockout_attempts",
    "client_attempts",
    "session_expired",
    "users",
    "User",
    "hasher",
    "check_password_policy",
    "add_user",
    "create_first_admin",
    "get_user",
    "list_users",
    "has_users",
    "first_run_needed",
    "disable_user",
    "enable_user",
    "set_role",
    "set_password",
    "change_own_password",
    "sign_in_throttle",
    "client_address",
    "authenticate",
    "sign_out",
    "SSO_SECTION",
    "validate_sso_mapping",
    "sso_providers",
    "role_from_claims",
    "SSO_FRESH_SECONDS",
    "SsoTokenLedger",
    "sso_sign_in",
    "load_sso_mapping",
]

# --- Roles and capabilities -----------------------------------------------------------------------------

CAPABILITIES = {
    "view_map": "hexagon maps and hotspot layers",
    "view_aggregates": "counts per hexagon, place and period (small counts suppressed for partners)",
    "view_reports": "individual report rows",
    "view_narratives": "the free-text narrative of a report",
    "view_named_places": "venue names and exact place points",
    "import": "import sharing-form and police.uk files",
    "resolve_quarantine": "read and resolve quarantined rows",
    "export_police": "exports for the police audience",
    "export_partner": "exports for the partner audience",
    "export_public": "exports for the public audience",
    "manage_users": "add, disable and enable accounts; change roles and passwords",
    "view_audit": "read, verify and export the audit log",
    "purge": "delete data older than the retention period",
    "submit": "share a report through the Share information form and list one's own submissions",
}

_DATA = frozenset(
    {
        "submit",
        "view_map",
        "view_aggregates",
        "view_reports",
        "view_narratives",
        "view_named_places",
        "import",
        "resolve_quarantine",
        "export_police",
        "export_partner",
        "export_public",
    }
)

ROLES: dict[str, frozenset[str]] = {
    # Police: every data capability, including purge (retention is a data-controller decision).
    "police": _DATA | {"purge"},
    # Analyst: everything needed to analyse and clean the data; exports only for partner and public
    # audiences, because a police-audience export carries individual rows out of the system.
    "analyst": _DATA - {"export_police"},
    # Partner: aggregated, suppressed views; no individual reports, narratives or named places.
    "partner": frozenset({"view_map", "view_aggregates", "export_partner", "export_public"}),
    # Contributor: a practitioner in a partner agency who shares what they see. Submits reports and
    # lists their own submissions (hoth_geo.intake.submission); sees no other report, count or map.
    "contributor": frozenset({"submit"}),
    # Admin: accounts and the audit trail only. Case data needs a data role as well.
    "admin": frozenset({"manage_users", "view_audit"}),
}
DATA_ROLES = ("police", "analyst", "partner", "contributor")
ADMIN_ROLE = "admin"
# Least privileged first: when SSO claims map to several data roles, the first of these wins.
_DATA_ROLE_ORDER = ("contributor", "partner", "analyst", "police")

for _caps in ROLES.values():  # the map above must only name known capabilities
    assert _caps <= CAPABILITIES.keys(), _caps - CAPABILITIES.keys()


def can(role: str, capability: str) -> bool:
    """Whether ``role`` (one role, or a role set like "admin,analyst") grants ``capability``."""
    if capability not in CAPABILITIES:
        raise ValueError(f"capability must be one of {', '.join(CAPABILITIES)}, got {capability!r}")
    data_role, is_admin = parse_roles(role)
    granted = ROLES[data_role] if data_role else frozenset()
    if is_admin:
        granted = granted | ROLES[ADMIN_ROLE]
    return capability in granted


NotPermitted = errors.NotPermitted  # the user's role does not grant the capability


def require(user, capability: str) -> None:
    """Raise ``NotPermitted`` unless ``user`` (a ``User``, or None for nobody signed in) may ``capability``.

    Library entry points call this themselves, so a page that forgets a check still cannot hand a
    role data it may not see.
    """
    if user is None:
        raise NotPermitted(f"sign in first: {CAPABILITIES.get(capability, capability)} needs an account")
    if not can(user.roles, capability):
        raise NotPermitted(
            f"account {user.username!r} ({user.roles or 'no role'}) may not {capability}: "
            f"{CAPABILITIES[capability]} needs another role"
        )


def parse_roles(role: str | Iterable[str]) -> tuple[str | None, bool]:
    """(data role or None, is_admin) from "analyst", "admin,analyst" or ["admin", "analyst"]."""
    parts = role.split(",") if isinstance(role, str) else list(role)
    names = {str(p).strip().lower() for p in parts if str(p).strip()}
    unknown = sorted(names - ROLES.keys())
    if not names or unknown:
        raise errors.InvalidInput(f"role must be one or more of {', '.join(ROLES)}, got {role!r}")
    data = [n for n in names if n in DATA_ROLES]
    if len(data) > 1:
        raise errors.InvalidInput(f"role may hold only one data role ({', '.join(DATA_ROLES)}), got {role!r}")
    return (data[0] if data else None), ADMIN_ROLE in names


def role_label(data_role: str | None, is_admin: bool) -> str:
    """The canonical role-set string: "admin", "analyst" or "admin,analyst"."""
    return ",".join(([ADMIN_ROLE] if is_admin else []) + ([data_role] if data_role else []))


# --- Settings (read when used, so tests and deployments can set the environment) -----------------------

SESSION_MINUTES_ENV = "HOTH_GEO_SESSION_MINUTES"
LOCKOUT_ATTEMPTS_ENV = "HOTH_GEO_LOCKOUT_ATTEMPTS"
LOCKOUT_MINUTES_ENV = "HOTH_GEO_LOCKOUT_MINUTES"
ACCOUNT_LOCKOUT_ATTEMPTS_ENV = "HOTH_GEO_ACCOUNT_LOCKOUT_ATTEMPTS"
CLIENT_ATTEMPTS_ENV = "HOTH_GEO_CLIENT_ATTEMPTS"
TRUSTED_PROXIES_ENV = "HOTH_GEO_TRUSTED_PROXIES"
SSO_ROLES_FILE_ENV = "HOTH_GEO_SSO_ROLES_FILE"
DEFAULT_SESSION_MINUTES = 30
DEFAULT_LOCKOUT_ATTEMPTS = 5  # wrong passwords from one client before that client is locked out
DEFAULT_ACCOUNT_LOCKOUT_ATTEMPTS = 20  # wrong passwords from all clients before the account is locked
DEFAULT_CLIENT_ATTEMPTS = 20  # failed sign-ins from one client, any usernames, per lockout period
DEFAULT_LOCKOUT_MINUTES = 15
DEFAULT_TRUSTED_PROXIES = "127.0.0.1,::1"
MIN_PASSWORD_LENGTH = passwords.MIN_LENGTH
MAX_PASSWORD_LENGTH = passwords.MAX_LENGTH


_env_int = settings.env_int


def session_minutes() -> int:
    """Minutes without activity after which a session ends (HOTH_GEO_SESSION_MINUTES)."""
    return _env_int(SESSION_MINUTES_ENV, DEFAULT_SESSION_MINUTES)


def lockout_attempts() -> int:
    """Wrong passwords for one account from one client before that client is locked out of it."""
    return _env_int(LOCKOUT_ATTEMPTS_ENV, DEFAULT_LOCKOUT_ATTEMPTS)


def lockout_minutes() -> int:
    """Length of each counting period and of each lock, in minutes."""
    return _env_int(LOCKOUT_MINUTES_ENV, DEFAULT_LOCKOUT_MINUTES)


def account_lockout_attempts() -> int:
    """Wrong passwords for one account from all clients before the account is locked for everyone."""
    return _env_int(ACCOUNT_LOCKOUT_ATTEMPTS_ENV, DEFAULT_ACCOUNT_LOCKOUT_ATTEMPTS)


def client_attempts() -> int:
    """Failed sign-ins from one client, any user names, before it is refused without hashing."""
    return _env_int(CLIENT_ATTEMPTS_ENV, DEFAULT_CLIENT_ATTEMPTS)


def session_expired(last_seen: datetime, now: datetime, timeout_minutes: int | None = None) -> bool:
    """True once ``now`` is ``timeout_minutes`` (default $HOTH_GEO_SESSION_MINUTES or 30) after ``last_seen``.

    An idle timeout: the app updates ``last_seen`` on every interaction and signs out when this is true.
    Both times must be of the same kind (both naive UTC or both aware).
    """
    minutes = session_minutes() if timeout_minutes is None else timeout_minutes
    if minutes < 1:
        raise errors.InvalidInput(f"timeout_minutes must be at least 1, got {timeout_minutes!r}")
    return now - last_seen >= timedelta(minutes=minutes)


# --- Table -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class User:
    """A signed-in or listed account. Never carries the password hash.

    ``id`` is None for a user signed in through SSO without a local account.
    """

    id: int | None
    username: str
    display_name: str | None
    role: str | None  # the data role
    is_admin: bool
    disabled: bool = False
    created_at: datetime | None = None
    last_login_at: datetime | None = None
    locked_until: datetime | None = None

    @property
    def roles(self) -> str:
        return role_label(self.role, self.is_admin)

    def can(self, capability: str) -> bool:
        return can(self.roles, capability)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _user(row) -> User:
    return User(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        role=row.role,
        is_admin=bool(row.is_admin),
        disabled=bool(row.disabled),
        created_at=row.created_at,
        last_login_at=row.last_login_at,
        locked_until=row.locked_until,
    )


# --- Passwords -------------------------------------------------------------------------------------------

# argon2-cffi's defaults (RFC 9106 low-memory profile). Replaced in place to change parameters; stored
# hashes made with other parameters are upgraded at the next successful sign-in.
hasher = PasswordHasher()
_dummy_hash: tuple[PasswordHasher, str] | None = None


def _dummy() -> str:
    # A hash with the current parameters, verified when the user does not exist, so an unknown name
    # costs as much time as a wrong password and sign-in timing does not reveal which names exist.
    global _dummy_hash
    if _dummy_hash is None or _dummy_hash[0] is not hasher:
        _dummy_hash = (hasher, hasher.hash(os.urandom(16).hex()))
    return _dummy_hash[1]


def _verify(password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _normalise_username(username: str) -> str:
    if not isinstance(username, str):
        raise errors.InvalidInput(f"username must be a string, got {type(username).__name__}")
    name = username.strip().lower()
    if not name or len(name) > 254 or any(ch.isspace() for ch in name):
        raise errors.InvalidInput(f"username must be 1-254 characters without spaces, got {username!r}")
    return name


def check_password_policy(username: str, password: str) -> None:
    """Raise InvalidInput (a ValueError) naming the rule a password breaks (the message never contains the password)."""
    passwords.check(username, password)


# --- Accounts --------------------------------------------------------------------------------------------


def _insert_user(conn, name: str, password: str, data_role, is_admin, display_name) -> int:
    if conn.execute(sa.select(users.c.id).where(users.c.username == name)).first() is not None:
        raise errors.InvalidInput(f"username {name!r} already exists")
    result = conn.execute(
        users.insert().values(
            username=name,
            display_name=display_name,
            role=data_role,
            is_admin=is_admin,
            password_hash=hasher.hash(password),
            disabled=False,
            created_at=_now(),
            failed_attempts=0,
        )
    )
    return int(result.inserted_primary_key[0])


def add_user(
    engine: Engine,
    username: str,
    password: str,
    role: str | Iterable[str],
    *,
    display_name: str | None = None,
    actor: str | None = None,
) -> int:
    """Create an account and return its id. ``role``: "analyst", "admin", "admin,police", ..."""
    name = _normalise_username(username)
    data_role, is_admin = parse_roles(role)
    check_password_policy(name, password)
    with engine.begin() as conn:
        store.take_lock(conn)
        user_id = _insert_user(conn, name, password, data_role, is_admin, display_name)
        audit.record(
            conn, "user_added", actor=actor, target=name, details={"role": role_label(data_role, is_admin)}
        )
    return user_id


def create_first_admin(
    engine: Engine,
    username: str,
    password: str,
    *,
    setup_token: str | None,
    data_role: str | None = None,
    display_name: str | None = None,
) -> int:
    """The app's first-run form: create an admin only while no admin account exists.

    ``setup_token`` must be the one-time token the server printed (``sessions.ensure_setup_token``);
    without it whoever reached the port first could own the deployment. The token check, the "no admin
    yet" check and the insert share the audit lock's transaction, so two browsers submitting the form
    at once cannot both create an admin; the second gets a ValueError. The token is retired in the same
    transaction.
    """
    name = _normalise_username(username)
    roles = [ADMIN_ROLE] + ([data_role] if data_role else [])
    parsed_role, _ = parse_roles(roles)
    check_password_policy(name, password)
    with engine.begin() as conn:
        store.take_lock(conn)  # serialise with every other writer before checking
        if conn.execute(sa.select(users.c.id).where(users.c.is_admin.is_(True)).limit(1)).first():
            raise errors.InvalidInput("an admin account already exists: first-run set-up is closed")
        if not sessions.check_setup_token(conn, setup_token):
            raise errors.InvalidInput(
                "the setup token is missing or wrong: copy it from the server's console or log "
                f"(or the file {sessions.token_file()} on the server)"
            )
        user_id = _insert_user(conn, name, password, parsed_role, True, display_name)
        sessions.retire_setup_token(conn)
        audit.record(
            conn,
            "user_added",
            actor=name,
            target=name,
            details={"role": role_label(parsed_role, True), "first_run": True},
        )
    return user_id


def get_user(engine: Engine, username: str) -> User | None:
    """The account called ``username`` (case-insensitive), or None."""
    name = _normalise_username(username)
    with engine.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.username == name)).first()
    return _user(row) if row else None


def list_users(engine: Engine) -> list[User]:
    """Every account, by user name."""
    with engine.connect() as conn:
        return [_user(r) for r in conn.execute(sa.select(users).order_by(users.c.username))]


def has_users(engine: Engine) -> bool:
    """True once any account exists (an empty deployment asks for its first administrator)."""
    with engine.connect() as conn:
        return conn.execute(sa.select(users.c.id).limit(1)).first() is not None


def first_run_needed(engine: Engine) -> bool:
    """True while no admin account exists at all.

    A disabled admin still counts: otherwise disabling the last admin would reopen the first-run form
    to anyone who can reach the app. Re-enable from the command line instead (``hoth-geo users enable``).
    """
    with engine.connect() as conn:
        return conn.execute(sa.select(users.c.id).where(users.c.is_admin.is_(True)).limit(1)).first() is None


def _require(conn, name: str):
    row = conn.execute(sa.select(users).where(users.c.username == name)).first()
    if row is None:
        raise errors.InvalidInput(f"username {name!r} does not exist")
    return row


def _other_enabled_admins(conn, user_id: int) -> int:
    return conn.execute(
        sa.select(sa.func.count())
        .select_from(users)
        .where(users.c.is_admin.is_(True), users.c.disabled.is_(False), users.c.id != user_id)
    ).scalar_one()


def disable_user(engine: Engine, username: str, *, actor: str | None = None) -> None:
    """Disable an account (it can no longer sign in). The last enabled admin cannot be disabled."""
    name = _normalise_username(username)
    with engine.begin() as conn:
        store.take_lock(conn)  # so two admins cannot disable each other at the same moment
        row = _require(conn, name)
        if row.is_admin and not row.disabled and _other_enabled_admins(conn, row.id) == 0:
            raise errors.InvalidInput(f"username {name!r} is the last enabled admin and cannot be disabled")
        conn.execute(users.update().where(users.c.id == row.id).values(disabled=True))
        audit.record(conn, "user_disabled", actor=actor, target=name)
        # Signed-in sessions end now, each with its own audited sign-out, not at the next click.
        sessions.end_all_for_user(conn, row.id, "account_disabled", actor=actor, username=name)


def enable_user(engine: Engine, username: str, *, actor: str | None = None) -> None:
    """Enable an account and clear any lockout."""
    name = _normalise_username(username)
    with engine.begin() as conn:
        store.take_lock(conn)
        row = _require(conn, name)
        conn.execute(
            users.update()
            .where(users.c.id == row.id)
            .values(disabled=False, failed_attempts=0, locked_until=None)
        )
        conn.execute(sign_in_throttle.delete().where(sign_in_throttle.c.user_id == row.id))
        audit.record(conn, "user_enabled", actor=actor, target=name)


def set_role(engine: Engine, username: str, role: str | Iterable[str], *, actor: str | None = None) -> None:
    """Replace an account's roles. Removing admin from the last enabled admin is refused."""
    name = _normalise_username(username)
    data_role, is_admin = parse_roles(role)
    with engine.begin() as conn:
        store.take_lock(conn)
        row = _require(conn, name)
        if row.is_admin and not is_admin and not row.disabled and _other_enabled_admins(conn, row.id) == 0:
            raise errors.InvalidInput(f"username {name!r} is the last enabled admin: role must keep admin")
        conn.execute(users.update().where(users.c.id == row.id).values(role=data_role, is_admin=is_admin))
        audit.record(
            conn,
            "role_changed",
            actor=actor,
            target=name,
            details={"from": role_label(row.role, bool(row.is_admin)), "to": role_label(data_role, is_admin)},
        )
        if role_label(row.role, bool(row.is_admin)) != role_label(data_role, is_admin):
            sessions.end_all_for_user(conn, row.id, "role_changed", actor=actor)


def set_password(engine: Engine, username: str, password: str, *, actor: str | None = None) -> None:
    """Set a new password (policy checked) and clear any lockout."""
    name = _normalise_username(username)
    check_password_policy(name, password)
    with engine.begin() as conn:
        store.take_lock(conn)
        row = _require(conn, name)
        conn.execute(
            users.update()
            .where(users.c.id == row.id)
            .values(password_hash=hasher.hash(password), failed_attempts=0, locked_until=None)
        )
        conn.execute(sign_in_throttle.delete().where(sign_in_throttle.c.user_id == row.id))
        audit.record(conn, "password_changed", actor=actor, target=name)
        sessions.end_all_for_user(conn, row.id, "password_changed", actor=actor)


# --- Sign-in ---------------------------------------------------------------------------------------------


# At most this many Argon2 verifications run at once in one process (each takes ~64 MiB and a core).
_hash_slots = threading.BoundedSemaphore(settings.env_int("HOTH_GEO_CONCURRENT_SIGN_INS", 2))


def _trusted_networks(spec: str | None) -> list:
    raw = settings.env(TRUSTED_PROXIES_ENV, DEFAULT_TRUSTED_PROXIES) if spec is None else spec
    out = []
    for part in raw.split(","):
        if part.strip():
            try:
                out.append(ipaddress.ip_network(part.strip(), strict=False))
            except ValueError:
                raise errors.InvalidInput(
                    f"{TRUSTED_PROXIES_ENV} must list IP addresses or networks, got {part.strip()!r}"
                ) from None
    return out


def _client_key(address) -> str:
    # IPv6 clients usually hold a whole /64: count them by it, or one attacker is millions of clients.
    if address.version == 6 and not address.is_loopback:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def client_address(remote: str | None, forwarded_for: str | None = None, trusted: str | None = None) -> str:
    """The address sign-in throttling counts a visitor by.

    ``remote`` is the connection's address (None means loopback, as Streamlit reports it).
    X-Forwarded-For is only believed when the connection comes from a trusted proxy
    ($HOTH_GEO_TRUSTED_PROXIES, default the loopback addresses, i.e. a reverse proxy on the same
    machine); then the right-most address that is not itself a trusted proxy is the client. Anything
    unparseable counts as one shared "unknown" client, so garbage headers cannot mint fresh budgets.
    """
    networks = _trusted_networks(trusted)
    try:
        address = ipaddress.ip_address((remote or "127.0.0.1").strip())
    except ValueError:
        return "unknown"
    if forwarded_for and any(address in n for n in networks):
        for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()][-16:]):
            try:
                hop_address = ipaddress.ip_address(hop)
            except ValueError:
                return "unknown"
            if not any(hop_address in n for n in networks):
                return _client_key(hop_address)
    return _client_key(address)


def _throttle(conn, key: str, now: datetime, minutes: int, user_id: int | None = None):
    """The throttle row for ``key`` with an expired window restarted (caller holds the audit lock)."""
    row = conn.execute(sa.select(sign_in_throttle).where(sign_in_throttle.c.key == key)).first()
    window = timedelta(minutes=minutes)
    if row is None:
        conn.execute(
            sign_in_throttle.insert().values(
                key=key, user_id=user_id, window_start=now, failures=0, locked_until=None, refusals=0
            )
        )
    elif row.window_start + window <= now and (row.locked_until is None or row.locked_until <= now):
        conn.execute(
            sign_in_throttle.update()
            .where(sign_in_throttle.c.key == key)
            .values(window_start=now, failures=0, locked_until=None, refusals=0)
        )
    else:
        return row
    return conn.execute(sa.select(sign_in_throttle).where(sign_in_throttle.c.key == key)).first()


def _count_failure(conn, row, limit: int, now: datetime, minutes: int) -> tuple[int, datetime | None]:
    """Count one (reserved) failure against a throttle row; lock it when it reaches ``limit``."""
    failures = row.failures + 1
    until = now + timedelta(minutes=minutes) if failures >= limit else row.locked_until
    conn.execute(
        sign_in_throttle.update()
        .where(sign_in_throttle.c.key == row.key)
        .values(failures=failures, locked_until=until)
    )
    return failures, until


def _locked(row, now: datetime) -> bool:
    return row.locked_until is not None and row.locked_until > now


def _refused(conn, row) -> bool:
    """Count a refusal while locked; True only for the first in the window (that one is audited)."""
    conn.execute(
        sign_in_throttle.update()
        .where(sign_in_throttle.c.key == row.key)
        .values(refusals=sign_in_throttle.c.refusals + 1)
    )
    return row.refusals == 0


def _username_digest(name: str) -> str:
    # Unknown names are not written to the audit log as typed (an attacker chooses them): a short
    # digest lets an investigator match repeated attempts without storing arbitrary text.
    return hashlib.sha256(name.encode("utf-8")).hexdigest()[:16]


def authenticate(
    engine: Engine,
    username: str,
    password: str,
    *,
    client: str | None = None,
    purpose: str = "sign_in",
) -> User | None:
    """The user if the password is right and the account is enabled and not locked; otherwise None.

    ``purpose`` "password_change" checks a signed-in user's current password before they replace it
    (``change_own_password``): the same throttling and audit, but it is not a sign-in (the success is
    audited as ``password_verified`` and the last sign-in time is left as it was).

    ``client`` is the visitor's address from ``client_address`` (None: a local caller, counted as one
    client "local"). Every check that can refuse without the password runs, and the attempt is counted
    as failed, in one locked transaction *before* the Argon2 hash is computed; a right password then
    takes its count back. So parallel attempts cannot all be verified, and an attempt that arrives once
    the limit is reached is refused unverified even while earlier ones are still being checked:

    - one client and one account: $HOTH_GEO_LOCKOUT_ATTEMPTS (5) failures lock that client out of that
      account for $HOTH_GEO_LOCKOUT_MINUTES (15); the owner signing in from elsewhere is not affected;
    - one account, all clients: $HOTH_GEO_ACCOUNT_LOCKOUT_ATTEMPTS (20) failures in that period lock the
      account for everyone (only a many-address attacker gets there; it bounds their guesses);
    - one client, any usernames: $HOTH_GEO_CLIENT_ATTEMPTS (20) failures in that period and the client
      is refused without any hashing until the period ends. This caps the Argon2 work an
      unauthenticated visitor can cause, and at most two verifications run at once per process.

    Outcomes are audited (sign_in, or sign_in_failed with a reason); a locked client's repeated
    refusals are audited once per period, so the log cannot be flooded. An unknown username is recorded
    only as a digest. The caller shows one message for every failure.
    """
    if purpose not in ("sign_in", "password_change"):
        raise ValueError(f"purpose must be 'sign_in' or 'password_change', got {purpose!r}")
    client_id = client or "local"
    if not isinstance(password, str):
        password = ""
    try:
        name = _normalise_username(username)
    except ValueError:
        name = None
    max_pair, max_account, max_client = lockout_attempts(), account_lockout_attempts(), client_attempts()
    lock_minutes = lockout_minutes()
    now = _now()

    with engine.begin() as conn:
        store.take_lock(conn)
        # Rows of periods long over (and not locked) are forgotten, so the table stays small.
        conn.execute(
            sign_in_throttle.delete().where(
                sign_in_throttle.c.window_start < now - timedelta(days=1),
                sa.or_(sign_in_throttle.c.locked_until.is_(None), sign_in_throttle.c.locked_until < now),
            )
        )
        client_row = _throttle(conn, f"client:{client_id}", now, lock_minutes)
        if _locked(client_row, now):
            if _refused(conn, client_row):
                audit.record(
                    conn,
                    "sign_in_failed",
                    details={
                        "reason": "client_throttled",
                        "client": client_id,
                        "until": client_row.locked_until.isoformat(),
                    },
                )
            return None
        _count_failure(conn, client_row, max_client, now, lock_minutes)
        row = None if name is None else conn.execute(sa.select(users).where(users.c.username == name)).first()
        if name is None or row is None:
            details = {"reason": "invalid_username" if name is None else "unknown_user", "client": client_id}
            if name is not None:
                details["username_sha256"] = _username_digest(name)
            audit.record(conn, "sign_in_failed", details=details)
            reserved = None
        else:
            pair_row = _throttle(conn, f"account:{row.id}@{client_id}", now, lock_minutes, row.id)
            account_row = _throttle(conn, f"account:{row.id}", now, lock_minutes, row.id)
            if row.disabled:
                audit.record(
                    conn,
                    "sign_in_failed",
                    actor=name,
                    target=name,
                    details={"reason": "disabled", "client": client_id},
                )
                return None
            if _locked(pair_row, now) or _locked(account_row, now):
                lock_row = pair_row if _locked(pair_row, now) else account_row
                if _refused(conn, lock_row):
                    audit.record(
                        conn,
                        "sign_in_failed",
                        actor=name,
                        target=name,
                        details={
                            "reason": "locked",
                            "client": client_id,
                            "locked_until": lock_row.locked_until.isoformat(),
                            "scope": "client" if lock_row is pair_row else "account",
                        },
                    )
                return None
            pair_failures, pair_until = _count_failure(conn, pair_row, max_pair, now, lock_minutes)
            account_failures, account_until = _count_failure(
                conn, account_row, max_account, now, lock_minutes
            )
            conn.execute(
                users.update()
                .where(users.c.id == row.id)
                .values(failed_attempts=account_failures, locked_until=account_until)
            )
            reserved = (row, pair_failures, pair_until, account_until)

    with _hash_slots:
        good = _verify(row.password_hash if reserved else _dummy(), password)
    if reserved is None:
        return None
    row, pair_failures, pair_until, account_until = reserved
    if not good:
        details: dict = {"reason": "bad_password", "failed_attempts": pair_failures, "client": client_id}
        if pair_until is not None:
            details["locked_until"] = pair_until.isoformat()
        if account_until is not None:
            details["account_locked_until"] = account_until.isoformat()
        audit.record(engine, "sign_in_failed", actor=name, target=name, details=details)
        return None

    with engine.begin() as conn:
        store.take_lock(conn)
        fresh = conn.execute(sa.select(users).where(users.c.id == row.id)).first()
        if fresh is None or fresh.disabled:  # disabled while the hash was being checked
            audit.record(
                conn,
                "sign_in_failed",
                actor=name,
                target=name,
                details={"reason": "disabled", "client": client_id},
            )
            return None
        # The right password: this attempt was not a failure. This client's counter for the account
        # restarts from here, but attempts it reserved after this one (still being checked, or
        # failed) stay counted, as if they had come after the sign-in, so a success racing them
        # cannot wipe their window. The client's and the account's counters take this attempt back,
        # and a lock that only reservations which turned out right had reached is lifted (colleagues
        # behind one address signing in at once would otherwise lock it out for the whole period);
        # a lock that wrong passwords reached stays.
        pair_key = f"account:{row.id}@{client_id}"
        pair_now = conn.execute(
            sa.select(sign_in_throttle.c.failures).where(sign_in_throttle.c.key == pair_key)
        ).scalar()
        after_mine = max(0, (pair_now or 0) - pair_failures)
        conn.execute(
            sign_in_throttle.update()
            .where(sign_in_throttle.c.key == pair_key)
            .values(failures=after_mine, refusals=0)
            .values(**({"locked_until": None} if after_mine < max_pair else {}))
        )
        for key, limit in ((f"client:{client_id}", max_client), (f"account:{row.id}", max_account)):
            conn.execute(
                sign_in_throttle.update()
                .where(sign_in_throttle.c.key == key, sign_in_throttle.c.failures > 0)
                .values(failures=sign_in_throttle.c.failures - 1)
            )
            conn.execute(
                sign_in_throttle.update()
                .where(
                    sign_in_throttle.c.key == key,
                    sign_in_throttle.c.locked_until.is_not(None),
                    sign_in_throttle.c.failures < limit,
                )
                .values(locked_until=None, refusals=0)
            )
        account_left = conn.execute(
            sa.select(sign_in_throttle.c.failures, sign_in_throttle.c.locked_until).where(
                sign_in_throttle.c.key == f"account:{row.id}"
            )
        ).first()
        values: dict = {"failed_attempts": account_left.failures if account_left else 0}
        if purpose == "sign_in":
            values["last_login_at"] = now
        still_locked = account_left is not None and _locked(account_left, now)
        values["locked_until"] = account_left.locked_until if still_locked else None
        if hasher.check_needs_rehash(fresh.password_hash):
            values["password_hash"] = hasher.hash(password)
        conn.execute(users.update().where(users.c.id == row.id).values(**values))
        audit.record(
            conn,
            "sign_in" if purpose == "sign_in" else "password_verified",
            actor=name,
            target=name,
            details={"method": "password", "rehashed": "password_hash" in values},
        )
        fresh = conn.execute(sa.select(users).where(users.c.id == row.id)).first()
    return _user(fresh)


def change_own_password(
    engine: Engine, username: str, current: str, new: str, *, client: str | None = None
) -> None:
    """A signed-in user replaces their own password. The new one must pass the policy (checked first,
    so a weak one costs no verification); the current one is checked as a sign-in checks it (the same
    throttling and lockout, audited). Every session of the account then ends, the caller's included.
    Raises InvalidInput naming what is wrong; the message never contains a password."""
    name = _normalise_username(username)
    check_password_policy(name, new)
    if new == current:
        raise errors.InvalidInput("new password: it is the same as the current one")
    if authenticate(engine, name, current, client=client, purpose="password_change") is None:
        raise errors.InvalidInput(
            "current password: not right (after several wrong tries the account is locked for a while)"
        )
    set_password(engine, name, new, actor=name)


def sign_out(engine: Engine, token: str | None) -> bool:
    """End the signed-in session named by ``token`` (audited as sign_out); see ``hoth_geo.access.sessions``."""
    return sessions.end(engine, token, "user")


# --- Single sign-on (OpenID Connect, e.g. Microsoft Entra ID) ------------------------------------------

SSO_SECTION = "hoth_geo_roles"  # [auth.hoth_geo_roles] in secrets.toml; Streamlit provider names
# cannot contain "_", so this section can never be mistaken for a login provider.


def _role_values(mapping: Mapping, key: str) -> dict[str, str]:
    section = mapping.get(key, {}) or {}
    if not isinstance(section, Mapping):
        raise errors.InvalidInput(f"SSO mapping [{key}] must be a table of name = role, got {section!r}")
    out = {}
    for name, role in section.items():
        try:
            parse_roles(role)
        except ValueError as exc:
            raise errors.InvalidInput(f"SSO mapping [{key}] entry {name!r}: {exc}") from None
        out[str(name)] = role
    return out


def validate_sso_mapping(mapping: Mapping) -> dict:
    """Check an SSO mapping and return it as a plain dict (ValueError naming the bad entry)."""
    if not isinstance(mapping, Mapping):
        raise errors.InvalidInput(f"SSO mapping must be a table, got {type(mapping).__name__}")
    allowed = {"tenant_id", "app_roles", "groups", "users"}
    unknown = sorted(set(mapping) - allowed)
    if unknown:
        raise errors.InvalidInput(
            f"SSO mapping has unknown keys {unknown}; allowed: {', '.join(sorted(allowed))}"
        )
    tenant = mapping.get("tenant_id")
    if tenant is not None and not isinstance(tenant, str):
        raise errors.InvalidInput(f"SSO mapping tenant_id must be a string, got {tenant!r}")
    out: dict = {k: _role_values(mapping, k) for k in ("app_roles", "groups", "users")}
    # Names and emails compare case-insensitively; object ids are lower-case GUIDs anyway.
    out["users"] = {k.lower(): v for k, v in out["users"].items()}
    out["groups"] = {k.lower(): v for k, v in out["groups"].items()}
    if tenant:
        out["tenant_id"] = tenant.lower()
    return out


_PROVIDER_KEYS = ("client_id", "server_metadata_url")


def sso_providers(auth_section: Mapping) -> list[str | None]:
    """The OpenID Connect providers in secrets.toml's [auth] section, as ``st.login`` names them.

    None stands for a provider written directly under [auth] (``st.login()``); a named section such as
    [auth.microsoft] is ``"microsoft"`` (``st.login("microsoft")``). hoth-geo's role mapping,
    [auth.hoth_geo_roles], is never a provider.
    """
    found: list[str | None] = []
    if any(k in auth_section for k in _PROVIDER_KEYS):
        found.append(None)
    for name in auth_section:
        value = auth_section[name]
        if name != SSO_SECTION and hasattr(value, "keys") and any(k in value for k in _PROVIDER_KEYS):
            found.append(str(name))
    return found


def _claim_list(claims: Mapping, key: str) -> list[str]:
    value = claims.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def role_from_claims(claims: Mapping, mapping: Mapping) -> str | None:
    """The role set (e.g. "analyst" or "admin,police") for identity-token claims, or None for no access.

    Claims are those Microsoft Entra ID puts in an ID token: ``tid`` (tenant), ``oid`` (object id),
    ``preferred_username``, ``email``, ``roles`` (app roles) and ``groups`` (group object ids).
    - With ``tenant_id`` set, a token from any other tenant gets no access.
    - A ``users`` entry (keyed by oid, preferred_username or email) decides alone: it overrides groups.
    - Otherwise every matching app role and group contributes; admin adds to the data role, and when
      several data roles match the least privileged (partner, then analyst, then police) is used, so a
      stray group membership never raises access.
    """
    m = validate_sso_mapping(mapping)
    if m.get("tenant_id") and str(claims.get("tid", "")).lower() != m["tenant_id"]:
        return None
    for key in ("oid", "preferred_username", "email"):
        value = claims.get(key)
        if isinstance(value, str) and value.lower() in m["users"]:
            data_role, is_admin = parse_roles(m["users"][value.lower()])
            return role_label(data_role, is_admin)
    matched: list[str] = []
    for app_role in _claim_list(claims, "roles"):
        if app_role in m["app_roles"]:
            matched.append(m["app_roles"][app_role])
    for group in _claim_list(claims, "groups"):
        if group.lower() in m["groups"]:
            matched.append(m["groups"][group.lower()])
    if not matched:
        return None
    names = {n.strip().lower() for r in matched for n in r.split(",") if n.strip()}
    data = next((r for r in _DATA_ROLE_ORDER if r in names), None)
    return role_label(data, ADMIN_ROLE in names)


def _sso_username(claims: Mapping) -> str | None:
    for key in ("preferred_username", "email", "oid", "sub"):
        value = claims.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip().lower()
    return None


SSO_FRESH_SECONDS = 300  # how old an ID token may be when it opens a session (clock skew included)


class SsoTokenLedger:
    """Which OpenID Connect sign-ins have opened a session already: each ID token opens at most one.

    Streamlit keeps the identity from ``st.login`` in its own signed cookie for 30 days. Were that
    cookie enough to open a hoth-geo session, a session ended by 30 idle minutes, the 12-hour limit
    or an administrator would start again at the next page load with no sign-in at all. So an
    identity is accepted only while its ID token is fresh (issued at most ``SSO_FRESH_SECONDS`` ago,
    its ``iat`` claim) and only once; after that the user signs in at the provider again. The ledger
    lives in the app process's memory: entries older than the freshness window are dropped, because
    the age check refuses those tokens anyway.
    """

    def __init__(self, fresh_seconds: int = SSO_FRESH_SECONDS):
        self.fresh_seconds = fresh_seconds
        self._used: dict[str, float] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(claims: Mapping) -> str | None:
        """One ID token's identity: issuer, subject, issue time and nonce; None if it lacks them."""
        parts = [claims.get(k) for k in ("iss", "sub", "iat", "nonce")]
        if any(p is None for p in parts[:3]):
            return None
        return hashlib.sha256(json.dumps(parts, default=str).encode("utf-8")).hexdigest()

    def fresh(self, claims: Mapping, now: float) -> bool:
        iat = claims.get("iat")
        if isinstance(iat, bool) or not isinstance(iat, int | float):
            return False
        # A token from up to a minute in the future is a clock difference, not a forgery (it is signed).
        return -60 <= now - iat <= self.fresh_seconds

    def usable(self, claims: Mapping, now: float) -> bool:
        """Whether these claims may still open a session (fresh and not used), without using them."""
        key = self.key(claims)
        with self._lock:
            return key is not None and self.fresh(claims, now) and key not in self._used

    def take(self, claims: Mapping, now: float) -> bool:
        """Use the claims once: True the first time a fresh token is taken, False ever after."""
        key = self.key(claims)
        if key is None or not self.fresh(claims, now):
            return False
        with self._lock:
            for old, at in list(self._used.items()):
                if now - at > self.fresh_seconds + 60:
                    del self._used[old]
            if key in self._used:
                return False
            self._used[key] = now
            return True


def sso_sign_in(engine: Engine, claims: Mapping, mapping: Mapping) -> User | None:
    """The app's SSO hook: the User for verified identity claims (st.user), audited; None if no role.

    A local account with the same username that is disabled blocks SSO sign-in too, so an admin can
    shut someone out without waiting for the identity provider.
    """
    name = _sso_username(claims)
    role = role_from_claims(claims, mapping) if name else None
    if name and role:
        try:
            local = get_user(engine, name)
        except ValueError:  # an identity-provider name that is not a valid local username
            local = None
        if local is not None and local.disabled:
            audit.record(engine, "sign_in_failed", actor=name, target=name, details={"reason": "disabled"})
            return None
    if not name or not role:
        audit.record(
            engine, "sign_in_failed", actor=name, target=name, details={"reason": "no_role", "method": "sso"}
        )
        return None
    data_role, is_admin = parse_roles(role)
    display = claims.get("name") if isinstance(claims.get("name"), str) else None
    audit.record(engine, "sign_in", actor=name, target=name, details={"method": "sso", "role": role})
    return User(id=None, username=name, display_name=display, role=data_role, is_admin=is_admin)


def load_sso_mapping(secrets: Mapping | None = None, *, secrets_path: Path | None = None) -> dict:
    """The SSO role mapping, validated; {} when none is configured (SSO then grants nobody access).

    Sources, first found wins: the JSON or TOML file named by $HOTH_GEO_SSO_ROLES_FILE; ``secrets``
    (pass ``st.secrets`` from the app) at [auth.hoth_geo_roles]; the file ``secrets_path`` (default
    .streamlit/secrets.toml beside the code) at the same place.
    """
    path_env = settings.env(SSO_ROLES_FILE_ENV)
    if path_env:
        path = Path(path_env)
        if not path.is_file():
            raise errors.InvalidInput(f"{SSO_ROLES_FILE_ENV} names a file that does not exist: {path_env!r}")
        text = path.read_text(encoding="utf-8")
        try:
            data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
            raise errors.InvalidInput(
                f"{SSO_ROLES_FILE_ENV} file {path_env!r} cannot be read: {exc}"
            ) from None
        # Accept either the bare mapping or a copy of the secrets.toml layout.
        if "auth" in data and isinstance(data["auth"], Mapping):
            data = data["auth"].get(SSO_SECTION, {})
        return validate_sso_mapping(data)
    if secrets is None:
        path = secrets_path or settings.REPO_DIR / ".streamlit" / "secrets.toml"
        if not path.is_file():
            return {}
        try:
            secrets = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise errors.InvalidInput(f"secrets file {str(path)!r} cannot be read: {exc}") from None
    auth_section = secrets.get("auth") if hasattr(secrets, "get") else None
    section = auth_section.get(SSO_SECTION) if hasattr(auth_section, "get") else None
    if section is None:
        return {}
    return validate_sso_mapping(_plain(section))


def _plain(value):
    # st.secrets hands out its own mapping type; copy to plain dicts before validating.
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def resume_session(
    engine: Engine, token: str | None, *, touch: bool = True, now: datetime | None = None
) -> sessions.Resumed:
    """The signed-in user for a token, after every check; ends (and audits) a session that must end.

    ``touch`` records activity (a page rerun); the background check passes False so that a page left
    open does not keep its session alive.
    """
    if not token:
        return sessions.Resumed(None, "unknown")
    now = now or _now()
    token_hash = sessions.digest(token)
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(sessions.auth_sessions).where(sessions.auth_sessions.c.token_hash == token_hash)
        ).first()
        account = blocked = None
        if row is not None and row.user_id is not None:
            account = conn.execute(sa.select(users).where(users.c.id == row.user_id)).first()
        elif row is not None:  # single sign-on: a disabled local account of that name shuts it out
            blocked = conn.execute(
                sa.select(users.c.id).where(users.c.username == row.username, users.c.disabled)
            ).first()
    if row is None:
        return sessions.Resumed(None, "unknown")
    if row.ended_at is not None:
        return sessions.Resumed(None, row.end_reason or "ended")
    reason = None
    if session_expired(row.last_seen_at, now):
        reason = "expired"
    elif now - row.created_at >= timedelta(hours=sessions.SESSION_MAX_HOURS):
        reason = "max_age"
    elif (row.user_id is not None and (account is None or account.disabled)) or blocked is not None:
        reason = "account_disabled"
    elif account is not None and role_label(account.role, bool(account.is_admin)) != row.roles:
        reason = "role_changed"
    if reason is not None:
        with engine.begin() as conn:
            store.take_lock(conn)
            sessions.end_by_hash(conn, token_hash, reason)
        return sessions.Resumed(None, reason)
    if account is not None:
        user = _user(account)
    else:
        data_role, is_admin = parse_roles(row.roles)
        user = User(
            id=None, username=row.username, display_name=row.display_name, role=data_role, is_admin=is_admin
        )
    if touch and now - row.last_seen_at >= sessions.TOUCH_EVERY:
        with engine.begin() as conn:
            conn.execute(
                sessions.auth_sessions.update()
                .where(sessions.auth_sessions.c.id == row.id, sessions.auth_sessions.c.ended_at.is_(None))
                .values(last_seen_at=now)
            )
    return sessions.Resumed(user)
