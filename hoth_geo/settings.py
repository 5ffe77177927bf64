"""Typed defaults and paths. Everything a deployment may change is read here: paths once at import,
the other ``HOTH_GEO_*`` variables (``ENVIRONMENT``) through ``env`` when they are used, so a
deployment or a test can change them without a restart. No other module reads the environment."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = [
    "PACKAGE_DIR",
    "REPO_DIR",
    "DATA_DIR",
    "GAZETTEER_DIR",
    "BOUNDARIES_DIR",
    "DEMO_DIR",
    "DEFAULT_AREA_ID",
    "DEFAULT_AREA_NAME",
    "AREA_DIR_ENV",
    "STATIC_DIR",
    "VAR_DIR",
    "DEFAULT_DB_URL",
    "DB_URL_ENV",
    "BASEMAP_FILE",
    "database_url",
    "AUDIT_KEY_ENV",
    "AUDIT_KEY_FILE_ENV",
    "AUDIT_ANCHOR_ENV",
    "MIN_AUDIT_KEY_CHARS",
    "audit_key_path",
    "audit_key",
    "FINE_H3_RES",
    "MAP_RESOLUTIONS",
    "DEFAULT_MAP_RES",
    "MAPPED_RADIUS_EDGES",
    "FUZZY_PLACE_SCORE_MIN",
    "FUZZY_AMBIGUITY_GAP",
    "PLACE_LINK_MAX_M",
    "STUDY_AREA_BUFFER_M",
    "POLICEUK_AREA_EDGE_M",
    "EARLIEST_PLAUSIBLE_DATE",
    "MAX_UPLOAD_MB",
    "DEMO_LABEL",
    "ENVIRONMENT",
    "env",
    "env_int",
    "var_dir",
]

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent

# Shipped small data (gazetteer, boundaries, demo set, template). Overridable for other areas.
DATA_DIR = Path(os.environ.get("HOTH_GEO_DATA_DIR", REPO_DIR / "data"))
GAZETTEER_DIR = DATA_DIR / "gazetteer"
BOUNDARIES_DIR = DATA_DIR / "boundaries"
DEMO_DIR = DATA_DIR / "demo"
# The shipped area (the demo's): used until an administrator sets the deployment's own area.
DEFAULT_AREA_ID = "county-durham-darlington"
DEFAULT_AREA_NAME = "County Durham and Darlington"
# Where a deployment keeps its areas (boundary and gazetteer per area). Default: beside the SQLite
# database file ('<db>.areas/'), else VAR_DIR/areas for a server database. See hoth_geo/intake/area.py.
AREA_DIR_ENV = "HOTH_GEO_AREA_DIR"

# Leaflet and other browser assets served locally: maps never need a CDN.
STATIC_DIR = PACKAGE_DIR / "static"

# The default database is a SQLite file in a git-ignored folder beside the code.
VAR_DIR = Path(os.environ.get("HOTH_GEO_VAR_DIR", REPO_DIR / "var"))
DEFAULT_DB_URL = f"sqlite:///{VAR_DIR / 'hoth_geo.sqlite'}"
DB_URL_ENV = "HOTH_GEO_DB"

# The basemap under the maps (none, a tile server or a local tile file): see hoth_geo/deliver/basemap.py.
BASEMAP_FILE = Path(os.environ.get("HOTH_GEO_BASEMAP_FILE", VAR_DIR / "basemap.json"))


def database_url(explicit: str | None = None) -> str:
    """The SQLAlchemy URL to use: an explicit value, then $HOTH_GEO_DB, then the SQLite default."""
    return explicit or os.environ.get(DB_URL_ENV) or DEFAULT_DB_URL


# The audit chain's HMAC key lives outside the database: $HOTH_GEO_AUDIT_KEY, or else a file
# ($HOTH_GEO_AUDIT_KEY_FILE, default var/audit.key) created with mode 0600 on first use.
AUDIT_KEY_ENV = "HOTH_GEO_AUDIT_KEY"
AUDIT_KEY_FILE_ENV = "HOTH_GEO_AUDIT_KEY_FILE"
# Where each audit entry's number and MAC are appended (default: beside a SQLite database file, or
# var/audit-anchor-<id>.log for other databases). Point it at an append-only or remote-synced file.
AUDIT_ANCHOR_ENV = "HOTH_GEO_AUDIT_ANCHOR"
MIN_AUDIT_KEY_CHARS = 32


def audit_key_path() -> Path:
    """The file holding the audit chain's key (HOTH_GEO_AUDIT_KEY_FILE, default var/audit.key)."""
    return Path(os.environ.get(AUDIT_KEY_FILE_ENV) or VAR_DIR / "audit.key")


def audit_key(*, create: bool = True) -> bytes | None:
    """The audit HMAC key: $HOTH_GEO_AUDIT_KEY, else the key file (made on first use if ``create``).

    Returns None only when there is no key and ``create`` is False. A key file that other users
    can read is refused: whoever reads the key can forge entries.
    """
    value = (os.environ.get(AUDIT_KEY_ENV) or "").strip()
    if value:
        if len(value) < MIN_AUDIT_KEY_CHARS:
            raise ValueError(f"{AUDIT_KEY_ENV} must be at least {MIN_AUDIT_KEY_CHARS} characters long")
        return value.encode("utf-8")
    path = audit_key_path()
    if not path.exists():
        if not create:
            return None
        _create_key_file(path)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ValueError(
            f"audit key file {path} can be read by other users (mode {mode:o}): run chmod 600 {path}"
        )
    key = path.read_text(encoding="utf-8").strip()
    if len(key) < MIN_AUDIT_KEY_CHARS:
        raise ValueError(f"audit key file {path} holds fewer than {MIN_AUDIT_KEY_CHARS} characters")
    return key.encode("utf-8")


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written in full under a private name, then linked into place: a second process starting at
    # the same moment either links first (and this one uses its key) or finds the finished file.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(secrets.token_hex(32) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)


# H3: each located report stores one cell at FINE_H3_RES; coarser resolutions are derived.
FINE_H3_RES = 11
MAP_RESOLUTIONS = (6, 7, 8, 9, 10)
DEFAULT_MAP_RES = 8
# A report is counted in a hexagon only when its radius (precision_m) is at most this many of the
# hexagon's edges: its circle then lies within the hexagon and its first ring. A report placed at a
# postcode district's or sector's centroid, or given as coarse coordinates, is left off maps of
# hexagons smaller than it (counted apart), instead of piling up in the hexagon at its centroid.
MAPPED_RADIUS_EDGES = 2.0

# Geocoding.
FUZZY_PLACE_SCORE_MIN = 88  # rapidfuzz WRatio (0-100) to accept a place-name match
FUZZY_AMBIGUITY_GAP = 4  # two candidates within this score of each other are ambiguous
PLACE_LINK_MAX_M = 150  # a point report is linked to the nearest place of its type within this
STUDY_AREA_BUFFER_M = 2_000  # coordinates this far outside the study area are quarantined
# police.uk map points are exact street points: only this much slack at the boundary (a point snapped
# onto a boundary road), so a force's rows just beyond a small area are not mixed into it.
POLICEUK_AREA_EDGE_M = 100

# Dates: reports observed before this are treated as data-entry errors.
EARLIEST_PLAUSIBLE_DATE = "2000-01-01"

# Uploads larger than this are refused with a clear message (also Streamlit's server.maxUploadSize).
MAX_UPLOAD_MB = int(os.environ.get("HOTH_GEO_MAX_UPLOAD_MB", "200"))

# Demo data is labelled everywhere until real data is imported.
DEMO_LABEL = "SYNTHETIC DEMO DATA"


# --- The environment ----------------------------------------------------------------------------------
# Every HOTH_GEO_* variable a deployment may set, and what it changes.
ENVIRONMENT: dict[str, str] = {
    "HOTH_GEO_DATA_DIR": "shipped data folder (gazetteer, boundaries, demo set); read at start",
    "HOTH_GEO_VAR_DIR": "folder for the default database, keys and logs",
    "HOTH_GEO_BASEMAP_FILE": "the basemap setting file; read at start",
    "HOTH_GEO_MAX_UPLOAD_MB": "largest upload accepted, in MB; read at start",
    DB_URL_ENV: "the database URL",
    AREA_DIR_ENV: "where the deployment keeps its areas",
    AUDIT_KEY_ENV: "the audit chain's HMAC key",
    AUDIT_KEY_FILE_ENV: "the file holding the audit key",
    AUDIT_ANCHOR_ENV: "the append-only file each audit entry is anchored in",
    "HOTH_GEO_DISCLOSURE_KEY": "the key of the disclosure-control perturbation",
    "HOTH_GEO_RETENTION": "how long reports are kept (24m, 2y, 730d or YYYY-MM-DD)",
    "HOTH_GEO_TILE_DIR": "a local map-tile folder for the static maps",
    "HOTH_GEO_SESSION_MINUTES": "minutes of inactivity before a session ends",
    "HOTH_GEO_SESSION_CHECK_SECONDS": "how often an open page checks its session",
    "HOTH_GEO_LOCKOUT_ATTEMPTS": "wrong passwords from one client before it is locked out",
    "HOTH_GEO_LOCKOUT_MINUTES": "how long a lockout lasts",
    "HOTH_GEO_ACCOUNT_LOCKOUT_ATTEMPTS": "wrong passwords from all clients before an account is locked",
    "HOTH_GEO_CLIENT_ATTEMPTS": "failed sign-ins from one client per lockout period",
    "HOTH_GEO_TRUSTED_PROXIES": "proxies whose X-Forwarded-For is believed",
    "HOTH_GEO_SSO_ROLES_FILE": "the single sign-on roles file",
    "HOTH_GEO_CONCURRENT_SIGN_INS": "password checks run at once per process; read at start",
    "HOTH_GEO_ANON_CONNECTIONS": "connections without a signed-in session open at once per client address",
    "HOTH_GEO_ANON_CONNECTIONS_PER_MINUTE": "such connections opened per minute per client address",
    "HOTH_GEO_RUN_LOG": "a file each app run appends its duration and page to (JSON lines); unset: none",
    "HOTH_GEO_TIME_ZONE": "the time zone times are shown in (an IANA name; default Europe/London)",
}


def env(name: str, default: str | None = None) -> str | None:
    """The value of the ``HOTH_GEO_*`` variable ``name`` now, else ``default``. Names not in
    ``ENVIRONMENT`` are refused, so a misspelt setting fails loudly instead of being ignored."""
    if name not in ENVIRONMENT:
        raise KeyError(f"{name} is not a hoth-geo setting; the settings are {', '.join(ENVIRONMENT)}")
    value = os.environ.get(name)
    return default if value is None else value


def env_int(name: str, default: int) -> int:
    """A whole-number setting (>= 1); ``default`` when unset or blank."""
    raw = env(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {raw!r}")
    return value


def var_dir() -> Path:
    """VAR_DIR as the environment says now ($HOTH_GEO_VAR_DIR), for files created at run time."""
    return Path(env("HOTH_GEO_VAR_DIR") or VAR_DIR)
