"""Database access (SQLAlchemy Core; SQLite by default, any SQLAlchemy URL by setting).

The store is the only module that talks to the database. It writes one import in one transaction
(all rows, quarantine and the import record, or nothing) and reads frames back for analysis.
Partnership reports and the police context layer live in separate tables and are never mixed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hoth_geo import settings
from hoth_geo.schema import CONCERNS, INDICATORS, keys_to_mask

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
    sa.Column("is_demo", sa.Boolean, nullable=False, default=False),
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
    sa.Column("fingerprint", sa.String(40), nullable=False, unique=True),
    sa.Column("date_received", sa.DateTime),
    sa.Column("observed_at", sa.DateTime, nullable=False),
    sa.Column("time_known", sa.Boolean, nullable=False),
    sa.Column("date_approximate", sa.Boolean, nullable=False),
    sa.Column("online", sa.Boolean, nullable=False),
    sa.Column("latitude", sa.Float),
    sa.Column("longitude", sa.Float),
    sa.Column("easting", sa.Float),
    sa.Column("northing", sa.Float),
    sa.Column("geocode_confidence", sa.Float),
    sa.Column("precision_m", sa.Float),
    sa.Column("h3", sa.BigInteger, nullable=False),
    sa.Column("concerns_mask", sa.BigInteger, nullable=False),
    sa.Column("indicators_mask", sa.BigInteger, nullable=False),
    sa.Column("is_demo", sa.Boolean, nullable=False),
    *[sa.Column(c, sa.Text) for c in _REPORT_TEXT],
    sa.Index("ix_reports_source_ref", "source_ref"),
    sa.Index("ix_reports_observed_at", "observed_at"),
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
    sa.Column("raw_fingerprint", sa.String(40), index=True),  # so a re-import adds nothing
    # The normalised row as JSON when an analyst can resolve it (e.g. 'needs a location').
    sa.Column("payload", sa.Text),
    sa.Column("status", sa.String(16), nullable=False, default="open"),  # open | resolved
    sa.Column("resolved_report_id", sa.Integer),
    sa.Column("resolved_at", sa.DateTime),
    sa.Column("resolved_by", sa.String),
)

police_context = sa.Table(
    "police_context",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("import_id", sa.Integer, sa.ForeignKey("imports.id"), nullable=False),
    sa.Column("row_number", sa.Integer, nullable=False),
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


def connect(url: str | None = None) -> Engine:
    """An engine for ``url`` (default: settings.database_url()), with the schema created."""
    url = settings.database_url(url)
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    metadata.create_all(engine)
    return engine


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # WAL lets the app read while an import writes; foreign keys are off by default in SQLite.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


@dataclass(frozen=True)
class ImportSummary:
    """What one import did. ``n_read == n_accepted + n_quarantined + n_duplicates`` always."""

    import_id: int | None
    filename: str
    format: str
    n_read: int
    n_accepted: int
    n_quarantined: int
    n_duplicates: int
    already_imported: bool = False
    warnings: tuple[str, ...] = ()

    @property
    def reconciles(self) -> bool:
        return self.n_read == self.n_accepted + self.n_quarantined + self.n_duplicates

    def describe(self) -> str:
        text = (
            f"{self.filename}: read {self.n_read:,} rows = {self.n_accepted:,} accepted"
            f" + {self.n_quarantined:,} quarantined + {self.n_duplicates:,} duplicates"
        )
        if self.already_imported:
            text += " (this file was imported before: nothing new added)"
        return text


def _none_if_nan(v):
    if v is None:
        return None
    if isinstance(v, float) and np.isnan(v):
        return None
    if v is pd.NaT:
        return None
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    if isinstance(v, np.generic):
        return v.item()
    return v


def _records(frame: pd.DataFrame, columns: Iterable[str]) -> list[dict]:
    cols = list(columns)
    sub = frame[cols].astype(object).where(frame[cols].notna(), None)
    return [{c: _none_if_nan(v) for c, v in zip(cols, row, strict=True)} for row in sub.itertuples(index=False)]


def existing_report_keys(conn: Connection) -> tuple[set[str], set[str]]:
    """Fingerprints and source references already stored, for duplicate detection."""
    rows = conn.execute(sa.select(reports.c.fingerprint, reports.c.source_ref)).all()
    return {r[0] for r in rows}, {r[1] for r in rows if r[1]}


def existing_context_fingerprints(conn: Connection) -> set[str]:
    return set(conn.execute(sa.select(police_context.c.fingerprint)).scalars())


def mark_duplicate_reports(
    frame: pd.DataFrame, fingerprints: set[str], source_refs: set[str]
) -> np.ndarray:
    """True for rows already stored (same source reference or same content) or repeated in the file."""
    seen_fp = frame["fingerprint"].isin(fingerprints).to_numpy()
    refs = frame["source_ref"]
    seen_ref = refs.notna().to_numpy() & refs.isin(source_refs).to_numpy()
    in_file = frame["fingerprint"].duplicated(keep="first").to_numpy()
    in_file |= refs.notna().to_numpy() & refs.duplicated(keep="first").to_numpy()
    return seen_fp | seen_ref | in_file


def insert_import(
    conn: Connection,
    *,
    filename: str,
    file_sha256: str,
    fmt: str,
    is_demo: bool,
    imported_by: str | None,
) -> int:
    result = conn.execute(
        imports.insert().values(
            filename=filename,
            file_sha256=file_sha256,
            format=fmt,
            imported_at=datetime.now(UTC).replace(tzinfo=None),
            imported_by=imported_by,
            n_read=0,
            n_accepted=0,
            n_quarantined=0,
            n_duplicates=0,
            is_demo=is_demo,
        )
    )
    return int(result.inserted_primary_key[0])


def finish_import(conn: Connection, import_id: int, summary: ImportSummary) -> None:
    conn.execute(
        imports.update()
        .where(imports.c.id == import_id)
        .values(
            n_read=summary.n_read,
            n_accepted=summary.n_accepted,
            n_quarantined=summary.n_quarantined,
            n_duplicates=summary.n_duplicates,
        )
    )


def insert_reports(conn: Connection, import_id: int, located: pd.DataFrame, *, is_demo: bool) -> int:
    """Insert geocoded canonical rows. Returns the number inserted."""
    if located.empty:
        return 0
    frame = located.copy()
    frame["import_id"] = import_id
    frame["is_demo"] = is_demo
    frame["concerns_mask"] = keys_to_mask(frame["concerns"], CONCERNS)
    frame["indicators_mask"] = keys_to_mask(frame["indicators"], INDICATORS)
    cols = [c.name for c in reports.columns if c.name != "id"]
    conn.execute(reports.insert(), _records(frame, cols))
    return len(frame)


def insert_quarantine(conn: Connection, import_id: int, quarantined: pd.DataFrame) -> int:
    if quarantined.empty:
        return 0
    frame = quarantined.copy()
    frame["import_id"] = import_id
    frame["status"] = "open"
    if "payload" not in frame:
        frame["payload"] = None
    cols = ["import_id", "row_number", "reason", "field", "value", "raw", "raw_fingerprint", "payload", "status"]
    conn.execute(quarantine.insert(), _records(frame, cols))
    return len(frame)


def insert_context(conn: Connection, import_id: int, rows: pd.DataFrame) -> int:
    if rows.empty:
        return 0
    frame = rows.copy()
    frame["import_id"] = import_id
    cols = [c.name for c in police_context.columns if c.name != "id"]
    conn.execute(police_context.insert(), _records(frame, cols))
    return len(frame)


def file_already_imported(conn: Connection, file_sha256: str) -> bool:
    found = conn.execute(sa.select(imports.c.id).where(imports.c.file_sha256 == file_sha256).limit(1))
    return found.first() is not None


# --- Places ------------------------------------------------------------------------------------------


def upsert_places(conn: Connection, frame: pd.DataFrame) -> int:
    """Add or replace non-shipped places (demo venues, analyst-added places)."""
    if frame.empty:
        return 0
    cols = [c.name for c in places.columns]
    ids = frame["place_id"].tolist()
    conn.execute(places.delete().where(places.c.place_id.in_(ids)))
    conn.execute(places.insert(), _records(frame, cols))
    return len(frame)


def load_places(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(sa.select(places), conn)


# --- Reading for analysis ---------------------------------------------------------------------------

# Columns analysis needs; narratives and child references are not loaded into the analysis frame.
ANALYSIS_COLUMNS = (
    "id",
    "observed_at",
    "time_known",
    "date_approximate",
    "online",
    "latitude",
    "longitude",
    "precision_m",
    "geocode_method",
    "h3",
    "place_id",
    "place_type",
    "agency",
    "agency_type",
    "concerns",
    "concerns_mask",
    "indicators_mask",
    "grading_source",
    "grading_information",
    "is_demo",
)


def load_reports(engine: Engine) -> pd.DataFrame:
    """The analysis frame of all stored reports (one row per report, no free text)."""
    cols = [reports.c[c] for c in ANALYSIS_COLUMNS]
    with engine.connect() as conn:
        frame = pd.read_sql(sa.select(*cols), conn)
    frame["observed_at"] = pd.to_datetime(frame["observed_at"])
    frame["h3"] = frame["h3"].astype("int64")
    for c in ("concerns_mask", "indicators_mask"):
        frame[c] = frame[c].astype("int64")
    for c in ("place_type", "agency", "agency_type", "geocode_method", "grading_source", "grading_information"):
        frame[c] = frame[c].astype("category")
    return frame


def load_context(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        frame = pd.read_sql(sa.select(police_context), conn)
    frame["month"] = pd.to_datetime(frame["month"])
    frame["h3"] = frame["h3"].astype("int64")
    return frame


def report_details(engine: Engine, ids: Iterable[int]) -> pd.DataFrame:
    """Full rows (including narratives) for the given report ids."""
    ids = [int(i) for i in ids]
    with engine.connect() as conn:
        return pd.read_sql(sa.select(reports).where(reports.c.id.in_(ids)), conn)


def load_quarantine(engine: Engine, *, status: str | None = "open") -> pd.DataFrame:
    query = sa.select(quarantine, imports.c.filename).join(imports, imports.c.id == quarantine.c.import_id)
    if status:
        query = query.where(quarantine.c.status == status)
    with engine.connect() as conn:
        return pd.read_sql(query.order_by(quarantine.c.import_id, quarantine.c.row_number), conn)


def load_imports(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(sa.select(imports).order_by(imports.c.id), conn)


def data_version(engine: Engine) -> tuple[int, int, int, int]:
    """Changes whenever reports, context or quarantine change: a cache key for the app."""
    with engine.connect() as conn:
        n_reports, max_report = conn.execute(sa.select(sa.func.count(), sa.func.max(reports.c.id))).one()
        return (
            n_reports,
            max_report or 0,
            conn.execute(sa.select(sa.func.max(police_context.c.id))).scalar() or 0,
            conn.execute(
                sa.select(sa.func.count()).select_from(quarantine).where(quarantine.c.status == "open")
            ).scalar()
            or 0,
        )


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            "reports": conn.execute(sa.select(sa.func.count()).select_from(reports)).scalar() or 0,
            "demo_reports": conn.execute(
                sa.select(sa.func.count()).select_from(reports).where(reports.c.is_demo.is_(True))
            ).scalar()
            or 0,
            "police_context": conn.execute(sa.select(sa.func.count()).select_from(police_context)).scalar()
            or 0,
            "quarantine_open": conn.execute(
                sa.select(sa.func.count()).select_from(quarantine).where(quarantine.c.status == "open")
            ).scalar()
            or 0,
        }


def resolve_quarantined(
    conn: Connection, quarantine_id: int, located_row: pd.DataFrame, *, import_id: int, resolved_by: str | None
) -> int:
    """Store an analyst-located quarantined row as a report and mark the quarantine entry resolved."""
    frame = located_row.copy()
    frame["import_id"] = import_id
    frame["is_demo"] = bool(
        conn.execute(sa.select(imports.c.is_demo).where(imports.c.id == import_id)).scalar()
    )
    frame["concerns_mask"] = keys_to_mask(frame["concerns"], CONCERNS)
    frame["indicators_mask"] = keys_to_mask(frame["indicators"], INDICATORS)
    cols = [c.name for c in reports.columns if c.name != "id"]
    result = conn.execute(reports.insert(), _records(frame, cols)[0])
    report_id = int(result.inserted_primary_key[0])
    conn.execute(
        quarantine.update()
        .where(quarantine.c.id == quarantine_id)
        .values(
            status="resolved",
            resolved_report_id=report_id,
            resolved_at=datetime.now(UTC).replace(tzinfo=None),
            resolved_by=resolved_by,
        )
    )
    return report_id


def quarantine_payload(engine: Engine, quarantine_id: int) -> tuple[dict, int]:
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(quarantine.c.payload, quarantine.c.import_id, quarantine.c.status).where(
                quarantine.c.id == quarantine_id
            )
        ).one_or_none()
    if row is None:
        raise KeyError(f"quarantine entry {quarantine_id} not found")
    if row.status != "open":
        raise ValueError(f"quarantine entry {quarantine_id} is already {row.status}")
    if not row.payload:
        raise ValueError(f"quarantine entry {quarantine_id} cannot be resolved by locating it")
    return json.loads(row.payload), int(row.import_id)


def delete_demo(engine: Engine) -> int:
    """Remove the synthetic demo set: its reports, quarantine entries, import records and venues."""
    with engine.begin() as conn:
        demo_imports = [i for (i,) in conn.execute(sa.select(imports.c.id).where(imports.c.is_demo.is_(True)))]
        n = conn.execute(reports.delete().where(reports.c.import_id.in_(demo_imports))).rowcount
        conn.execute(quarantine.delete().where(quarantine.c.import_id.in_(demo_imports)))
        conn.execute(police_context.delete().where(police_context.c.import_id.in_(demo_imports)))
        conn.execute(imports.delete().where(imports.c.id.in_(demo_imports)))
        conn.execute(places.delete().where(places.c.source == "demo"))
    return n
