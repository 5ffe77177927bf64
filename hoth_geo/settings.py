"""Typed defaults and paths. Everything a deployment may change is read here, once."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent

# Shipped small data (gazetteer, boundaries, demo set, template). Overridable for other areas.
DATA_DIR = Path(os.environ.get("HOTH_GEO_DATA_DIR", REPO_DIR / "data"))
GAZETTEER_DIR = DATA_DIR / "gazetteer"
BOUNDARIES_DIR = DATA_DIR / "boundaries"
DEMO_DIR = DATA_DIR / "demo"

# Leaflet and other browser assets served locally: maps never need a CDN.
STATIC_DIR = PACKAGE_DIR / "static"

# The default database is a SQLite file in a git-ignored folder beside the code.
VAR_DIR = Path(os.environ.get("HOTH_GEO_VAR_DIR", REPO_DIR / "var"))
DEFAULT_DB_URL = f"sqlite:///{VAR_DIR / 'hoth_geo.sqlite'}"
DB_URL_ENV = "HOTH_GEO_DB"

# The basemap under the maps (none, a tile server or a local tile file): see hoth_geo/basemap.py.
BASEMAP_FILE = Path(os.environ.get("HOTH_GEO_BASEMAP_FILE", VAR_DIR / "basemap.json"))


def database_url(explicit: str | None = None) -> str:
    """The SQLAlchemy URL to use: an explicit value, then $HOTH_GEO_DB, then the SQLite default."""
    return explicit or os.environ.get(DB_URL_ENV) or DEFAULT_DB_URL


# H3: each located report stores one cell at FINE_H3_RES; coarser resolutions are derived.
FINE_H3_RES = 11
MAP_RESOLUTIONS = (6, 7, 8, 9, 10)
DEFAULT_MAP_RES = 8

# Geocoding.
FUZZY_PLACE_SCORE_MIN = 88  # rapidfuzz WRatio (0-100) to accept a place-name match
FUZZY_AMBIGUITY_GAP = 4  # two candidates within this score of each other are ambiguous
PLACE_LINK_MAX_M = 150  # a point report is linked to the nearest place of its type within this
STUDY_AREA_BUFFER_M = 2_000  # coordinates this far outside the study area are quarantined

# Dates: reports observed before this are treated as data-entry errors.
EARLIEST_PLAUSIBLE_DATE = "2000-01-01"

# Uploads larger than this are refused with a clear message (also Streamlit's server.maxUploadSize).
MAX_UPLOAD_MB = int(os.environ.get("HOTH_GEO_MAX_UPLOAD_MB", "200"))

# Demo data is labelled everywhere until real data is imported.
DEMO_LABEL = "SYNTHETIC DEMO DATA"
