"""Database access (SQLAlchemy Core; SQLite by default, any SQLAlchemy URL by setting).

The store is the only module that talks to the database. It writes one import in one transaction
(all rows, quarantine and the import record, or nothing) and reads frames back for analysis.
Partnership reports and the police context layer live in separate tables and are never mixed.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Engine

from hoth_geo import settings
from hoth_geo.schema import CONCERNS, INDICATORS, keys_to_mask

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
    "connect",
    "open_engine",
    "ImportSummary",
    "report_keys",
    "resubmission_contents",
    "context_ids",
    "quarantine_ids",
    "ids_by_row",
    "max_id",
    "insert_import",
    "finish_import",
    "insert_reports",
    "insert_quarantine",
    "insert_context",
    "file_already_imported",
    "upsert_places",
    "load_places",
    "ANALYSIS_COLUMNS",
    "FREE_TEXT_COLUMNS",
    "FRAME_CHUNK_ROWS",
    "load_reports",
    "load_context",
    "report_details",
    "load_quarantine",
    "load_imports",
    "DataVersion",
    "data_version",
    "counts",
    "scan_counts",
    "bump_data_version",
    "recount_data_version",
    "resolve_quarantined",
    "quarantine_payload",
    "delete_demo",
    "TACTICS",
    "add_disruption",
    "load_disruptions",
    "log_export",
    "load_export_log",
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
    # sha1 of the normalised content: compared only to spot resubmissions and possible duplicates.
    sa.Column("fingerprint", sa.String(40), nullable=False),
    # What makes a report itself (hoth_geo.identity): its agency plus source reference, or for a row
    # without a reference its file and row number. One stored report per identity.
    sa.Column("identity", sa.String(64), unique=True),
    # Set when an analyst merged this report into another (a possible duplicate): it then counts once.
    sa.Column("merged_into", sa.Integer),
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
    # sha1 of the row's identity and raw content (hoth_geo.identity): so re-importing the same row adds
    # nothing, while an identical row from another row of a file is quarantined in its own right.
    sa.Column("raw_fingerprint", sa.String(40), index=True),
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
# flagged at import for an analyst to merge (counted once) or keep as distinct (hoth_geo.identity).
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
)


@sa.event.listens_for(data_version_table, "after_create")
def _first_data_version(target, connection, **_kw) -> None:
    # A new database starts empty, at version 0 (migration 0003 back-fills an existing one).
    connection.execute(target.insert().values(id=1, **_ZERO_COUNTS, version=0))


_ZERO_COUNTS = {"n_reports": 0, "n_demo_reports": 0, "n_context": 0, "n_quarantine_open": 0}


def connect(url: str | None = None) -> Engine:
    """An engine for ``url`` (default: settings.database_url()) whose schema is current.

    An empty database gets the current schema (hoth_geo.migrations.create_new); a database at an older
    schema revision is refused with a message naming ``hoth-geo db upgrade`` (see docs/deployment.md).
    """
    from hoth_geo import migrations

    engine = open_engine(url)
    migrations.ensure_current(engine)
    return engine


def open_engine(url: str | None = None) -> Engine:
    """An engine for ``url`` with this project's connection settings, schema not checked (migrations)."""
    url = settings.database_url(url)
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    # SQLite allows one writer at a time: wait up to 30 s for a long import to commit rather than fail
    # a sign-in (which writes the audit log) with "database is locked".
    connect_args = {"timeout": 30} if url.startswith("sqlite") else {}
    engine = sa.create_engine(url, future=True, connect_args=connect_args)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # WAL lets the app read while an import writes; foreign keys are off by default in SQLite.
    cur = dbapi_conn.cursor()
    # WAL is stored in the file, so only a new database is switched. The switch needs the file to
    # itself and SQLite does not wait for that (no busy handler): another process opening the same
    # new database at that moment is waited out here.
    deadline = time.monotonic() + 30
    while cur.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        try:
            cur.execute("PRAGMA journal_mode=WAL").fetchone()
            break  # switched, or a database that cannot use WAL (in memory): it says so, not an error
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


@dataclass(frozen=True)
class ImportSummary:
    """What one import did.

    ``n_read == n_accepted + n_quarantined + n_duplicates + n_resubmitted + n_out_of_area`` always (out
    of area: police.uk rows outside the study area, skipped with one summary warning). ``rows``
    accounts for every row of the file by row number (``hoth_geo.identity.OUTCOME_COLUMNS``).
    """

    import_id: int | None
    filename: str
    format: str
    n_read: int
    n_accepted: int
    n_quarantined: int
    n_duplicates: int
    # True only when this very file (same SHA-256) was imported before and this import added nothing.
    already_imported: bool = False
    warnings: tuple[str, ...] = ()
    n_resubmitted: int = 0  # changed resubmissions of stored reports, waiting in Review
    n_possible_duplicates: int = 0  # stored rows flagged as possible duplicates (part of n_accepted)
    n_out_of_area: int = 0
    rows: pd.DataFrame | None = field(default=None, compare=False, repr=False)

    @property
    def reconciles(self) -> bool:
        return self.n_read == (
            self.n_accepted + self.n_quarantined + self.n_duplicates + self.n_resubmitted + self.n_out_of_area
        )

    @property
    def nothing_new(self) -> bool:
        return (
            self.n_read > self.n_out_of_area
            and self.n_accepted == 0
            and self.n_quarantined == 0
            and self.n_resubmitted == 0
        )

    def describe(self) -> str:
        text = (
            f"{self.filename}: read {self.n_read:,} rows = {self.n_accepted:,} accepted"
            f" + {self.n_quarantined:,} quarantined + {self.n_duplicates:,} duplicates"
        )
        if self.n_resubmitted:
            text += f" + {self.n_resubmitted:,} changed resubmissions (to review)"
        if self.n_out_of_area:
            text += f" + {self.n_out_of_area:,} outside the area (skipped)"
        if self.n_possible_duplicates:
            text += (
                f"; {self.n_possible_duplicates:,} accepted rows flagged as possible duplicates (to review)"
            )
        if self.already_imported:
            text += " (this file was imported before: nothing new added)"
        elif self.nothing_new:
            text += " (every row was already stored or quarantined: nothing new added)"
        return text


def _column_values(series: pd.Series, sqlite: bool) -> list:
    """A column as Python values for the driver: None for missing, native types otherwise."""
    if pd.api.types.is_datetime64_any_dtype(series):
        if sqlite:  # the text layout SQLAlchemy's SQLite DateTime type reads back
            text = series.dt.strftime("%Y-%m-%d %H:%M:%S.%f")
            return text.astype(object).where(series.notna(), None).tolist()
        # One conversion for the column (a loop over Timestamps cost seconds per million rows).
        values = pd.Series(series.dt.to_pydatetime(), index=series.index, dtype=object)
        return values.where(series.notna(), None).tolist()
    if pd.api.types.is_bool_dtype(series):
        return series.astype(int).tolist() if sqlite else series.tolist()
    if pd.api.types.is_integer_dtype(series):
        return series.astype("int64").tolist()
    if pd.api.types.is_float_dtype(series):
        return series.astype(object).where(series.notna(), None).tolist()
    values = series.astype(object)
    return values.where(values.notna(), None).tolist()


def _copy_csv(columns: list[str], values: list[list]) -> bytes | None:
    """The rows as CSV for PostgreSQL's COPY, written by Arrow in one call (a third less time than
    psycopg's row-by-row COPY at 50,000 rows); None when a column mixes types Arrow will not put in
    one array, which then goes row by row. Text is always quoted and NULL is an unquoted empty field,
    so an empty string stays an empty string."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        table = pa.table([pa.array(v) for v in values], names=columns)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        return None
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    return sink.getvalue().to_pybytes()


def _bulk_insert(conn: Connection, table: sa.Table, frame: pd.DataFrame, columns: list[str]) -> None:
    """Insert a frame quickly: one executemany of plain tuples (SQLite), COPY (PostgreSQL with psycopg),
    or Core executemany elsewhere. All three run in the caller's transaction.

    Building per-row dicts and letting SQLAlchemy process every parameter costs several times more
    than the database itself at 100k rows, so values are converted column by column.
    """
    sqlite = conn.dialect.name == "sqlite"
    # Columns with no value in this batch are left out: they default to NULL, and every bound
    # parameter costs time (sharing forms are sparse: most rows use one or two location fields).
    columns = [c for c in columns if frame[c].notna().any()]
    cols = [_column_values(frame[c], sqlite) for c in columns]
    rows = list(zip(*cols, strict=True))
    names = ", ".join(f'"{c}"' for c in columns)
    if sqlite:
        marks = ", ".join("?" for _ in columns)
        # Names come from the schema above, never from input; values travel as parameters.
        conn.exec_driver_sql(f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})', rows)  # noqa: S608
    elif conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        # PostgreSQL's bulk path: the rows stream to the server in COPY's own format, typed by psycopg.
        csv_data = _copy_csv(columns, cols)
        statement = f'COPY "{table.name}" ({names}) FROM STDIN' + (" (FORMAT csv)" if csv_data else "")
        dbapi = conn.dialect.loaded_dbapi
        try:
            with conn.connection.driver_connection.cursor() as cur, cur.copy(statement) as copy:
                if csv_data:
                    copy.write(csv_data)
                else:
                    for row in rows:
                        copy.write_row(row)
        except dbapi.Error as exc:
            # Raised as SQLAlchemy raises any statement's error (IntegrityError, ...), whatever the path.
            raise sa.exc.DBAPIError.instance(statement, None, exc, dbapi.Error) from exc
    else:
        conn.execute(table.insert(), [dict(zip(columns, r, strict=True)) for r in rows])


def _records(frame: pd.DataFrame, columns: Iterable[str]) -> list[dict]:
    cols = list(columns)
    values = [_column_values(frame[c], sqlite=False) for c in cols]
    return [dict(zip(cols, r, strict=True)) for r in zip(*values, strict=True)]


def report_keys(conn: Connection) -> pd.DataFrame:
    """id, identity, fingerprint and merged_into of every stored report, for identity checks."""
    cols = (reports.c.id, reports.c.identity, reports.c.fingerprint, reports.c.merged_into)
    # Plain tuples into object columns: several times faster than read_sql at 1M rows.
    rows = conn.execute(sa.select(*cols)).all()
    values = list(zip(*rows, strict=True)) if rows else [(), (), (), ()]
    return pd.DataFrame(
        {
            "id": np.array(values[0], dtype="int64"),
            "identity": np.array(values[1], dtype=object),
            "fingerprint": np.array(values[2], dtype=object),
            "merged_into": pd.array(values[3], dtype="Int64"),
        }
    )


def resubmission_contents(conn: Connection) -> pd.DataFrame:
    """Contents already received for stored reports: every resubmission's, and those it replaced."""
    r = resubmissions
    frame = pd.read_sql(sa.select(r.c.id, r.c.report_id, r.c.fingerprint, r.c.replaced_fingerprint), conn)
    replaced = frame[frame["replaced_fingerprint"].notna()]
    return pd.concat(
        [
            frame[["report_id", "fingerprint"]].assign(resubmission_id=frame["id"]),
            pd.DataFrame(
                {
                    "report_id": replaced["report_id"],
                    "fingerprint": replaced["replaced_fingerprint"],
                    "resubmission_id": replaced["id"],
                }
            ),
        ],
        ignore_index=True,
    )


def context_ids(conn: Connection, fingerprints: Iterable[str]) -> pd.Series:
    """{fingerprint: police context id} for the given fingerprints already stored."""
    wanted = list(dict.fromkeys(fingerprints))
    found: dict[str, int] = {}
    for lo in range(0, len(wanted), 5_000):  # stay under the drivers' bound-parameter limits
        chunk = wanted[lo : lo + 5_000]
        found.update(
            conn.execute(
                sa.select(police_context.c.fingerprint, police_context.c.id).where(
                    police_context.c.fingerprint.in_(chunk)
                )
            ).all()
        )
    return pd.Series(found, dtype="int64")


def quarantine_ids(conn: Connection, keys: Iterable[str]) -> pd.Series:
    """{raw_fingerprint: first quarantine id} for the given keys already quarantined."""
    wanted = list(dict.fromkeys(keys))
    found: dict[str, int] = {}
    query = sa.select(quarantine.c.raw_fingerprint, sa.func.min(quarantine.c.id)).group_by(
        quarantine.c.raw_fingerprint
    )
    if conn.dialect.name == "postgresql":
        # One array parameter instead of thousands of bound ones: PostgreSQL plans 5,000 parameters
        # slowly (0.6 s for the quarantined keys of 200,000 rows, against 0.05 s with an array).
        keys_param = sa.bindparam("keys", type_=postgresql.ARRAY(sa.String))
        query = query.where(quarantine.c.raw_fingerprint == sa.any_(keys_param))
        for lo in range(0, len(wanted), 50_000):
            found.update(conn.execute(query, {"keys": wanted[lo : lo + 50_000]}).all())
        return pd.Series(found, dtype="int64")
    for lo in range(0, len(wanted), 5_000):  # stay under the drivers' bound-parameter limits
        chunk = wanted[lo : lo + 5_000]
        found.update(conn.execute(query.where(quarantine.c.raw_fingerprint.in_(chunk))).all())
    return pd.Series(found, dtype="int64")


def ids_by_row(
    conn: Connection, table: sa.Table, import_id: int, *, after_id: int | None = None
) -> pd.Series:
    """{row_number: id} of the rows one import wrote to ``table`` (only ids over ``after_id`` if given:
    a chunk's rows, found through the primary key instead of a scan of the table)."""
    query = sa.select(table.c.row_number, table.c.id).where(table.c.import_id == import_id)
    if after_id is not None:
        query = query.where(table.c.id > after_id)
    result = conn.execute(query)
    try:
        # Two integer columns: the driver's own tuples straight into one array (SQLAlchemy's Row
        # objects cost more than the query itself at 50,000 rows a chunk).
        rows = result.cursor.fetchall() if result.cursor is not None else []
    finally:
        result.close()
    if not rows:
        return pd.Series(dtype="int64")
    pairs = np.array(rows, dtype="int64")
    return pd.Series(pairs[:, 1], index=pairs[:, 0])


def max_id(conn: Connection, table: sa.Table) -> int:
    """The highest id in ``table`` (0 when empty): rows inserted after this call have higher ids."""
    return int(conn.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0)


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
            n_out_of_area=0,
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
            n_out_of_area=summary.n_out_of_area,
        )
    )


def insert_reports(conn: Connection, import_id: int, located: pd.DataFrame, *, is_demo: bool) -> int:
    """Insert geocoded canonical rows. Returns the number inserted."""
    if located.empty:
        return 0
    frame = located.copy()
    frame["import_id"] = import_id
    frame["is_demo"] = is_demo
    frame["merged_into"] = None
    frame["concerns_mask"] = keys_to_mask(frame["concerns"], CONCERNS)
    frame["indicators_mask"] = keys_to_mask(frame["indicators"], INDICATORS)
    _bulk_insert(conn, reports, frame, [c.name for c in reports.columns if c.name != "id"])
    return len(frame)


def insert_quarantine(conn: Connection, import_id: int, quarantined: pd.DataFrame) -> int:
    if quarantined.empty:
        return 0
    frame = quarantined.copy()
    frame["import_id"] = import_id
    frame["status"] = "open"
    if "payload" not in frame:
        frame["payload"] = None
    cols = [
        "import_id",
        "row_number",
        "reason",
        "field",
        "value",
        "raw",
        "raw_fingerprint",
        "payload",
        "status",
    ]
    _bulk_insert(conn, quarantine, frame, cols)
    return len(frame)


def insert_context(conn: Connection, import_id: int, rows: pd.DataFrame) -> int:
    if rows.empty:
        return 0
    frame = rows.copy()
    frame["import_id"] = import_id
    _bulk_insert(conn, police_context, frame, [c.name for c in police_context.columns if c.name != "id"])
    return len(frame)


def file_already_imported(conn: Connection, file_sha256: str) -> bool:
    found = conn.execute(sa.select(imports.c.id).where(imports.c.file_sha256 == file_sha256).limit(1))
    return found.first() is not None


# --- Places ------------------------------------------------------------------------------------------


def upsert_places(conn: Connection, frame: pd.DataFrame) -> int:
    """Add or replace non-shipped places (demo venues, analyst-added places)."""
    if frame.empty:
        return 0
    ids = frame["place_id"].tolist()
    conn.execute(places.delete().where(places.c.place_id.in_(ids)))
    _bulk_insert(conn, places, frame, [c.name for c in places.columns])
    return len(frame)


def load_places(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(sa.select(places), conn)


# --- Reading for analysis ---------------------------------------------------------------------------

# The lean analysis frame: only what analysis reads, as compact types. Free text (narratives, child
# references, source references, location text, place names, raw rows) is never in it: a permitted
# user's report list fetches it by id (``report_details``, through ``hoth_geo.casework``).
_FRAME_INTS = ("id", "h3", "concerns_mask", "indicators_mask")
_FRAME_FLOATS = ("latitude", "longitude", "precision_m")
_FRAME_FLAGS = ("time_known", "date_approximate", "online", "is_demo")
# Small integer codes with their labels once (place type, agency, grading, ...): filters and
# breakdowns compare codes, and each label is held once per frame, not once per report.
_FRAME_CATEGORIES = (
    "geocode_method",
    "place_id",
    "place_type",
    "agency",
    "agency_type",
    "grading_source",
    "grading_information",
)
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
    "concerns_mask",
    "indicators_mask",
    "grading_source",
    "grading_information",
    "is_demo",
)
FREE_TEXT_COLUMNS = (
    "source_ref",
    "location_text",
    "place_name",
    "postcode",
    "narrative",
    "child_ref",
    "geocode_note",
    "concerns",
    "indicators",
    "grading_handling",
    "fingerprint",
    "identity",
)
FRAME_CHUNK_ROWS = 20_000


def _observed_ms(dialect: str) -> sa.ColumnElement:
    """observed_at as milliseconds since 1970 computed by the database: an integer per row reads far
    faster than a datetime or text value turned into a Python object."""
    if dialect == "sqlite":  # stored as text; julianday parses it in C
        return sa.literal_column("CAST(round((julianday(observed_at) - 2440587.5) * 86400000.0) AS INTEGER)")
    if dialect == "postgresql":
        return sa.literal_column("CAST(round(EXTRACT(EPOCH FROM observed_at) * 1000) AS BIGINT)")
    return reports.c.observed_at


class _Column:
    """One frame column filled chunk by chunk into a buffer sized for the expected rows (grown if more
    arrive), so the read never holds the column twice (pieces and their concatenation)."""

    def __init__(self, dtype, capacity: int) -> None:
        self.values = np.empty(max(capacity, 1), dtype=dtype)
        self.n = 0

    def add(self, chunk: np.ndarray) -> None:
        end = self.n + len(chunk)
        if end > len(self.values):
            grown = np.empty(max(end, len(self.values) * 3 // 2), dtype=self.values.dtype)
            grown[: self.n] = self.values[: self.n]
            self.values = grown
        self.values[self.n : end] = chunk
        self.n = end

    def result(self) -> np.ndarray:
        # A view when the buffer is about the right size (the usual case): copying would hold the
        # column twice at the end of the read, the read's peak.
        spare = len(self.values) - self.n
        return self.values[: self.n] if spare <= max(4_096, self.n // 8) else self.values[: self.n].copy()


class _Codes:
    """Categorical codes built chunk by chunk: each chunk's labels are factorised and mapped onto one
    growing dictionary, so no column of label strings is ever held whole."""

    def __init__(self, capacity: int) -> None:
        self.labels: dict = {}
        self.codes = _Column(np.int32, capacity)

    def add(self, values) -> None:
        codes, uniques = pd.factorize(np.asarray(values, dtype=object))
        self.add_encoded(codes, uniques)

    def extend(self, other: _Codes) -> None:
        """Another reader's codes after these, its labels mapped onto this dictionary."""
        self.add_encoded(other.codes.values[: other.codes.n], list(other.labels))

    def add_encoded(self, codes: np.ndarray, uniques) -> None:
        """A chunk already dictionary-encoded: ``codes`` index ``uniques``; -1 or len(uniques) is missing."""
        lookup = np.array(
            [self.labels.setdefault(u, len(self.labels)) for u in uniques] + [-1], dtype=np.int32
        )
        self.codes.add(lookup[codes])  # a missing code (-1 or len(uniques)) picks the trailing -1

    def categorical(self) -> pd.Categorical:
        labels = np.array(list(self.labels), dtype=object)
        order = np.argsort(labels.astype(str), kind="stable")  # sorted categories, as astype("category")
        remap = np.empty(len(labels) + 1, dtype=np.int32)
        remap[order] = np.arange(len(labels), dtype=np.int32)
        remap[-1] = -1
        codes = self.codes.values[: self.codes.n]
        # The int32 buffer goes with this call: the frame holds the smallest codes pandas picks (int8
        # for a few labels), so a frame built column by column never holds every buffer beside them.
        self.codes = _Column(np.int32, 0)
        return pd.Categorical.from_codes(remap[codes], categories=labels[order])


def _frame_dtype(name: str):
    if name in _FRAME_FLOATS:
        return np.float64
    if name in _FRAME_FLAGS:
        return bool
    if name == "observed_at":
        return "datetime64[us]"
    return np.int64


def load_reports(engine: Engine) -> pd.DataFrame:
    """The lean analysis frame of all stored reports that count (one row per report, no free text).

    SQLite (a file) and PostgreSQL are read in a columnar way: their ADBC driver steps through the
    result in C and hands over Arrow record batches, each turned into the frame's columns at once
    (numbers as arrays, labels as dictionary codes), so no value ever becomes a Python object.
    Other databases are read with the driver's row cursor (``_load_reports_rows``); both give the
    same frame, dtypes included.
    """
    source = _columnar_source(engine)
    if source is None:
        return _load_reports_rows(engine)
    return _load_reports_arrow(engine, source)


# Rows per Arrow batch from SQLite: large enough that the per-batch work is negligible (as quick as
# 65,536), small enough that the batches in flight add little to the read's peak memory (~30 MB less
# at 1M reports than 65,536). PostgreSQL's driver sizes its batches itself.
_ARROW_BATCH_ROWS = 16_384
# A large frame is read in id ranges by this many connections at once, so the database's work (SQLite
# in this process, one PostgreSQL backend per reader) and the conversion share the cores; below
# _PARALLEL_FROM_ROWS reports one reader is as quick.
_FRAME_READERS = 2
_PARALLEL_FROM_ROWS = 200_000
# The id ranges hold about this many reports each and are put end to end as they arrive, so the
# readers' own buffers add only a few ranges to the read's peak memory, whatever the frame's size.
_RANGE_ROWS = 500_000


def _columnar_source(engine: Engine) -> str | None:
    """What the ADBC driver opens for ``engine``: the SQLite file's URI (read-only) or a libpq URI.
    None when there is no columnar reader: another dialect, or SQLite in memory (only the engine's
    own connection sees that database)."""
    if engine.dialect.name == "sqlite":
        database = engine.url.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            return None
        return Path(database).resolve().as_uri() + "?mode=ro"
    if engine.dialect.name == "postgresql":
        return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    return None


def _arrow_frame_sql(engine: Engine, after: int | None = None, upto: int | None = None) -> str:
    """The frame's SELECT as an ADBC reader runs it, for the reports with ``after < id <= upto`` (a
    bound left None is open).

    The result holds one marker row (id NULL) with the data version it was read at in ``h3``: one
    statement reads one snapshot, so readers of different id ranges can tell whether they read the
    same data. On SQLite the marker comes first and also fixes the column types: that driver takes
    each column's type from the first batch, so a column whose first values are all NULL (place_id,
    the coordinates of online reports) would be taken for integers and the read would fail at its
    first text or real value. PostgreSQL sends observed_at as its timestamp, rounded to milliseconds
    on reading as ``_observed_ms`` rounds it in the database (the epoch in numeric costs it more).
    """
    dialect = engine.dialect.name
    picked = [
        _observed_ms(dialect).label("observed_at")
        if c == "observed_at" and dialect == "sqlite"
        else reports.c[c]
        for c in ANALYSIS_COLUMNS
    ]
    where = [reports.c.merged_into.is_(None)]
    if after is not None:
        where.append(reports.c.id > after)
    if upto is not None:
        where.append(reports.c.id <= upto)
    query = sa.select(*picked).where(*where).order_by(reports.c.id)
    sql = str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))

    def marker(name: str) -> str:
        if name == "id":
            return "NULL"
        if name == "h3":
            return "COALESCE((SELECT version FROM data_version WHERE id = 1), 0)"
        if dialect != "sqlite":
            return "NULL"  # PostgreSQL types the union's columns from the reports' own
        if name in _FRAME_CATEGORIES:
            return "''"
        return "0.0" if name in _FRAME_FLOATS else "0"

    first = ", ".join(f"{marker(c)} AS {c}" for c in ANALYSIS_COLUMNS)
    return f"SELECT {first} UNION ALL SELECT * FROM ({sql}) AS frame"  # noqa: S608 (no value from outside)


def _load_reports_arrow(engine: Engine, source: str) -> pd.DataFrame:
    """``load_reports`` through the ADBC driver: a large frame in id ranges read by _FRAME_READERS
    connections at once and put end to end in id order as they arrive (all read again if an import or
    a deletion committed between their snapshots), each batch by batch into columns sized in advance."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    dialect = engine.dialect.name
    n_reports = data_version(engine).n_reports
    readers = min(_FRAME_READERS, os.cpu_count() or 1) if n_reports >= _PARALLEL_FROM_ROWS else 1
    for attempt in range(3):
        parallel = readers > 1 and attempt < 2
        ranges = _id_ranges(engine, max(readers, -(-n_reports // _RANGE_ROWS)) if parallel else 1)
        # An import committing meanwhile grows the buffers; the first range's hold the whole frame.
        capacities = [n_reports + 1_024] + [n_reports // len(ranges) + 1_024] * (len(ranges) - 1)
        jobs = [
            (dialect, source, _arrow_frame_sql(engine, after, upto), capacity)
            for (after, upto), capacity in zip(ranges, capacities, strict=True)
        ]
        with ThreadPoolExecutor(readers if parallel else 1, thread_name_prefix="hoth_geo_frame") as pool:
            parts = pool.map(lambda job: _read_frame_part(*job), jobs)  # in id order, as they arrive
            version, columns, codes = next(parts)
            versions = {version}
            for version, more_columns, more_codes in parts:
                versions.add(version)
                for name, column in more_columns.items():
                    columns[name].add(column.result())
                for name, more in more_codes.items():
                    codes[name].extend(more)
                del more_columns, more_codes
        if len(versions) == 1:
            break
    frame = _assemble_frame(columns, codes)
    import pyarrow as pa

    pa.default_memory_pool().release_unused()  # Arrow's allocator keeps freed memory per thread otherwise
    _release_freed_memory()
    return frame


def _id_ranges(engine: Engine, count: int) -> list[tuple[int | None, int | None]]:
    """``count`` id ranges (after, upto] covering every report, the first and last open-ended (a
    report added meanwhile is still read), split evenly between the smallest and largest id."""
    if count <= 1:
        return [(None, None)]
    with engine.connect() as conn:  # two scalar subqueries: each an index lookup in both databases
        low, high = conn.execute(
            sa.select(
                sa.select(sa.func.min(reports.c.id)).scalar_subquery(),
                sa.select(sa.func.max(reports.c.id)).scalar_subquery(),
            )
        ).one()
    if low is None or high - low < count:
        return [(None, None)]
    cuts = [low - 1 + (high - low + 1) * i // count for i in range(1, count)]
    return list(zip([None, *cuts], [*cuts, None], strict=True))


def _read_frame_part(dialect: str, source: str, sql: str, capacity: int):
    """One reader: (the data version its snapshot had, its columns, its category codes)."""
    import pyarrow.compute as pc

    columns = {c: _Column(_frame_dtype(c), capacity) for c in ANALYSIS_COLUMNS if c not in _FRAME_CATEGORIES}
    codes = {c: _Codes(capacity) for c in _FRAME_CATEGORIES}
    version = None
    with _adbc_connect(dialect, source) as conn, conn.cursor() as cursor:
        if dialect == "sqlite":
            cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(_ARROW_BATCH_ROWS)})
        cursor.execute(sql)
        for batch in cursor.fetch_record_batch():
            if batch.column(0).null_count:  # the marker row (_arrow_frame_sql)
                is_marker = pc.is_null(batch.column(0))
                version = pc.filter(batch.column(ANALYSIS_COLUMNS.index("h3")), is_marker)[0].as_py()
                batch = batch.filter(pc.invert(is_marker))
            if batch.num_rows:
                _add_batch(columns, codes, batch)
            del batch
    if version is None:
        raise RuntimeError("the frame query returned no data-version marker row")
    return version, columns, codes


def _add_batch(columns: dict[str, _Column], codes: dict[str, _Codes], batch) -> None:
    """One Arrow record batch of the frame's columns onto the buffers: numbers as arrays, labels as
    dictionary codes, never a Python object per value."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for name, array in zip(ANALYSIS_COLUMNS, batch.columns, strict=True):
        if name in codes:
            encoded = pc.dictionary_encode(array)
            n_labels = len(encoded.dictionary)
            indices = pc.fill_null(encoded.indices, n_labels).to_numpy()
            codes[name].add_encoded(indices, encoded.dictionary.to_pylist())
        elif name == "observed_at":
            if pa.types.is_timestamp(array.type):  # PostgreSQL: microseconds, rounded as round() does
                us = array.cast(pa.timestamp("us")).cast(pa.int64()).to_numpy()
                ms = np.sign(us) * ((np.abs(us) + 500) // 1000)
            else:  # SQLite: milliseconds since 1970 (_observed_ms)
                ms = array.to_numpy()
            columns[name].add(ms.astype(np.int64).view("datetime64[ms]").astype("datetime64[us]"))
        elif name in _FRAME_FLAGS:
            values = pc.fill_null(array, False if pa.types.is_boolean(array.type) else 0)
            columns[name].add(values.to_numpy(zero_copy_only=False).astype(bool))
        elif name in _FRAME_FLOATS:
            columns[name].add(array.cast(pa.float64()).to_numpy(zero_copy_only=False))
        else:
            columns[name].add(array.cast(pa.int64()).to_numpy())


def _adbc_connect(dialect: str, source: str):
    """A DB-API connection of the ADBC driver for ``dialect`` (installed with the project)."""
    if dialect == "sqlite":
        import adbc_driver_sqlite.dbapi

        conn = adbc_driver_sqlite.dbapi.connect(source)
        with conn.cursor() as cursor:  # as patient as the engine's connections (store.open_engine)
            cursor.execute("PRAGMA busy_timeout = 30000")
        return conn
    import adbc_driver_postgresql.dbapi

    return adbc_driver_postgresql.dbapi.connect(source)


def _assemble_frame(columns: dict[str, _Column], codes: dict[str, _Codes]) -> pd.DataFrame:
    """The frame from its filled columns, in the order of ANALYSIS_COLUMNS and by report id (as the
    query orders them; sorted here only if a database did not)."""
    frame = pd.DataFrame(
        {
            name: codes[name].categorical() if name in codes else columns[name].result()
            for name in ANALYSIS_COLUMNS
        },
        copy=False,
    )
    ids = frame["id"].to_numpy()
    if len(ids) > 1 and not (ids[1:] > ids[:-1]).all():
        frame = frame.sort_values("id", kind="stable", ignore_index=True)
    return frame


def _load_reports_rows(engine: Engine) -> pd.DataFrame:
    """``load_reports`` through the driver's row cursor (databases without a columnar reader here).

    Read with the driver's own cursor in chunks of FRAME_CHUNK_ROWS (a server-side cursor on
    PostgreSQL), each chunk turned into numpy arrays at once and copied into columns sized from the
    data_version row, so the read never holds the rows as Python objects or a column twice.
    """
    dialect = engine.dialect.name
    fast_dates = dialect in ("sqlite", "postgresql")
    picked = [
        _observed_ms(dialect).label("observed_at") if c == "observed_at" else reports.c[c]
        for c in ANALYSIS_COLUMNS
    ]
    # A report merged into another (a duplicate confirmed in Review) counts once, as that report.
    query = sa.select(*picked).where(reports.c.merged_into.is_(None)).order_by(reports.c.id)
    sql = str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    expected = data_version(engine).n_reports + 1_024  # an import committing meanwhile grows the buffers
    columns = {c: _Column(_frame_dtype(c), expected) for c in ANALYSIS_COLUMNS if c not in _FRAME_CATEGORIES}
    codes = {c: _Codes(expected) for c in _FRAME_CATEGORIES}
    with engine.connect() as conn:
        driver = conn.connection.driver_connection
        # psycopg streams a named (server-side) cursor; sqlite3 steps through the result as it is fetched.
        cursor = driver.cursor(name="hoth_geo_frame") if dialect == "postgresql" else driver.cursor()
        try:
            cursor.execute(sql)
            while rows := cursor.fetchmany(FRAME_CHUNK_ROWS):
                for name, values in zip(ANALYSIS_COLUMNS, zip(*rows, strict=True), strict=True):
                    if name in codes:
                        codes[name].add(values)
                    elif name == "observed_at":
                        if fast_dates:  # milliseconds since 1970 (_observed_ms)
                            ms = np.fromiter(values, dtype=np.int64, count=len(values))
                            columns[name].add(ms.view("datetime64[ms]").astype("datetime64[us]"))
                        else:
                            columns[name].add(pd.to_datetime(pd.Series(values, dtype=object)).to_numpy())
                    elif name in _FRAME_INTS:
                        columns[name].add(np.fromiter(values, dtype=np.int64, count=len(values)))
                    else:
                        columns[name].add(np.array(values, dtype=columns[name].values.dtype))
                del rows
        finally:
            cursor.close()
    frame = {
        name: codes[name].categorical() if name in codes else columns[name].result()
        for name in ANALYSIS_COLUMNS
    }
    _release_freed_memory()
    return pd.DataFrame(frame, copy=False)


def _release_freed_memory() -> None:
    """Hand memory freed by the read back to the operating system (glibc keeps it otherwise, and an
    app process would carry the read's peak for its lifetime)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return
    libc = ctypes.CDLL(name)
    if hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def load_context(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        frame = pd.read_sql(sa.select(police_context), conn)
    frame["month"] = pd.to_datetime(frame["month"])
    frame["h3"] = frame["h3"].astype("int64")
    return frame


def report_details(engine: Engine, ids: Iterable[int], columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Stored rows (narratives included unless ``columns`` leaves them out) for the given report ids:
    the free text the analysis frame does not hold, read by primary key for the reports a person opens.
    No role check here: the app reads report rows through ``hoth_geo.casework``, which checks it."""
    ids = [int(i) for i in ids]
    picked = [reports.c[c] for c in columns] if columns is not None else [reports]
    frames = []
    with engine.connect() as conn:
        for lo in range(0, max(len(ids), 1), 5_000):  # stay under the drivers' bound-parameter limits
            chunk = ids[lo : lo + 5_000]
            frames.append(pd.read_sql(sa.select(*picked).where(reports.c.id.in_(chunk)), conn))
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def load_quarantine(engine: Engine, *, status: str | None = "open") -> pd.DataFrame:
    query = sa.select(quarantine, imports.c.filename).join(imports, imports.c.id == quarantine.c.import_id)
    if status:
        query = query.where(quarantine.c.status == status)
    with engine.connect() as conn:
        return pd.read_sql(query.order_by(quarantine.c.import_id, quarantine.c.row_number), conn)


def load_imports(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(sa.select(imports).order_by(imports.c.id), conn)


@dataclass(frozen=True)
class DataVersion:
    """The data_version row: ``version`` changes with every write the app shows; the counts are kept
    in step by the same transactions (``scan_counts`` recounts them from the tables)."""

    version: int
    n_reports: int
    n_demo_reports: int
    n_context: int
    n_quarantine_open: int


def data_version(engine_or_conn: Engine | Connection) -> DataVersion:
    """The current data version: one primary-key read of one row (a rerun's cache key)."""
    t = data_version_table
    query = sa.select(t.c.version, t.c.n_reports, t.c.n_demo_reports, t.c.n_context, t.c.n_quarantine_open)
    if isinstance(engine_or_conn, Connection):
        row = engine_or_conn.execute(query.where(t.c.id == 1)).one_or_none()
    else:
        with engine_or_conn.connect() as conn:
            row = conn.execute(query.where(t.c.id == 1)).one_or_none()
    return DataVersion(*(int(v) for v in row)) if row is not None else DataVersion(0, 0, 0, 0, 0)


def counts(engine: Engine) -> dict[str, int]:
    """Reports (not merged), demo reports, police context rows and open quarantine: from data_version."""
    v = data_version(engine)
    return {
        "reports": v.n_reports,
        "demo_reports": v.n_demo_reports,
        "police_context": v.n_context,
        "quarantine_open": v.n_quarantine_open,
    }


def scan_counts(conn: Connection) -> dict[str, int]:
    """The data_version counts recounted from the tables (scans: for writes that delete in bulk, the
    migration that back-fills the row, and checks)."""
    counted = reports.c.merged_into.is_(None)
    n_reports, n_demo = conn.execute(
        sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(sa.case((reports.c.is_demo.is_(True), 1), else_=0)), 0),
        ).where(counted)
    ).one()
    return {
        "n_reports": int(n_reports),
        "n_demo_reports": int(n_demo),
        "n_context": int(conn.execute(sa.select(sa.func.count()).select_from(police_context)).scalar() or 0),
        "n_quarantine_open": int(
            conn.execute(
                sa.select(sa.func.count()).select_from(quarantine).where(quarantine.c.status == "open")
            ).scalar()
            or 0
        ),
    }


def bump_data_version(
    conn: Connection, *, reports: int = 0, demo_reports: int = 0, context: int = 0, quarantine_open: int = 0
) -> None:
    """Mark a change in ``conn``'s transaction, after its writes: the version goes up by one and each
    count by the change the caller made (negative for removals). Other app processes see the new
    version when the transaction commits, on their next rerun."""
    t = data_version_table
    _lock_before_data_version(conn)
    updated = conn.execute(
        t.update()
        .where(t.c.id == 1)
        .values(
            version=t.c.version + 1,
            n_reports=t.c.n_reports + int(reports),
            n_demo_reports=t.c.n_demo_reports + int(demo_reports),
            n_context=t.c.n_context + int(context),
            n_quarantine_open=t.c.n_quarantine_open + int(quarantine_open),
            changed_at=datetime.now(UTC).replace(tzinfo=None),
        )
    ).rowcount
    if not updated:
        _insert_data_version(conn)


def recount_data_version(conn: Connection) -> None:
    """Mark a change and recount every count from the tables (bulk deletions: purge, demo removal)."""
    t = data_version_table
    _lock_before_data_version(conn)
    counted = scan_counts(conn)
    updated = conn.execute(
        t.update()
        .where(t.c.id == 1)
        .values(version=t.c.version + 1, changed_at=datetime.now(UTC).replace(tzinfo=None), **counted)
    ).rowcount
    if not updated:
        _insert_data_version(conn)


def _lock_before_data_version(conn: Connection) -> None:
    # The audit lock first, as every writing transaction takes it (hoth_geo.audit.take_lock): one lock
    # order everywhere, so a purge (audit lock, then this row) and an import cannot deadlock.
    from hoth_geo import audit

    audit.take_lock(conn)


def _insert_data_version(conn: Connection) -> None:
    """The row is missing (a database whose row was deleted by hand): recreate it from the tables."""
    row = {"id": 1, "version": 1, "changed_at": datetime.now(UTC).replace(tzinfo=None), **scan_counts(conn)}
    conn.execute(data_version_table.insert().values(**row))


def resolve_quarantined(
    conn: Connection,
    quarantine_id: int,
    located_row: pd.DataFrame,
    *,
    import_id: int,
    resolved_by: str | None,
) -> int:
    """Store an analyst-located quarantined row as a report and mark the quarantine entry resolved.

    Returns the report the row now counts as. When a report with the row's identity (agency and
    source reference) was stored meanwhile, no second report is created: the entry resolves to that
    report, and a changed content is recorded as a resubmission for Review. A row whose content is
    identical to another report's is stored and flagged as a possible duplicate.
    """
    from hoth_geo import audit, identity

    frame = located_row.copy()
    frame["import_id"] = import_id
    imp = conn.execute(
        sa.select(imports.c.is_demo, imports.c.file_sha256).where(imports.c.id == import_id)
    ).one()
    frame["is_demo"] = bool(imp.is_demo)
    frame["identity"] = identity.report_identities(
        frame["agency"], frame["source_ref"], imp.file_sha256, frame["row_number"]
    )
    frame["merged_into"] = None
    now = datetime.now(UTC).replace(tzinfo=None)
    key, content = frame["identity"].iloc[0], frame["fingerprint"].iloc[0]
    existing = conn.execute(
        sa.select(reports.c.id, reports.c.fingerprint).where(reports.c.identity == key)
    ).one_or_none()
    details: dict = {"method": str(frame["geocode_method"].iloc[0])}
    if existing is not None:
        report_id = int(existing.id)
        details["same_identity_as_report"] = report_id
        if existing.fingerprint != content:
            result = conn.execute(
                resubmissions.insert().values(
                    import_id=import_id,
                    row_number=int(frame["row_number"].iloc[0]),
                    report_id=report_id,
                    fingerprint=content,
                    payload=identity.row_payloads(frame)[0],
                    status="open",
                    received_at=now,
                )
            )
            details["resubmission_id"] = int(result.inserted_primary_key[0])
    else:
        frame["concerns_mask"] = keys_to_mask(frame["concerns"], CONCERNS)
        frame["indicators_mask"] = keys_to_mask(frame["indicators"], INDICATORS)
        cols = [c.name for c in reports.columns if c.name != "id"]
        result = conn.execute(reports.insert(), _records(frame, cols)[0])
        report_id = int(result.inserted_primary_key[0])
        twin = conn.execute(
            sa.select(sa.func.min(reports.c.id)).where(
                reports.c.fingerprint == content, reports.c.id != report_id, reports.c.merged_into.is_(None)
            )
        ).scalar()
        if twin is not None:
            conn.execute(
                duplicate_flags.insert().values(
                    report_id=report_id,
                    resembles_report_id=int(twin),
                    import_id=import_id,
                    status="open",
                    flagged_at=now,
                )
            )
            details["possible_duplicate_of"] = int(twin)
    details["report_id"] = report_id
    conn.execute(
        quarantine.update()
        .where(quarantine.c.id == quarantine_id)
        .values(status="resolved", resolved_report_id=report_id, resolved_at=now, resolved_by=resolved_by)
    )
    added = int(existing is None)
    bump_data_version(conn, reports=added, demo_reports=added * bool(imp.is_demo), quarantine_open=-1)
    audit.record(
        conn, "quarantine_resolved", actor=resolved_by, target=f"quarantine:{quarantine_id}", details=details
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


def delete_demo(engine: Engine, *, actor: str | None = None) -> int:
    """Remove the synthetic demo set: its reports, quarantine entries, import records and venues."""
    from hoth_geo import audit

    with engine.begin() as conn:
        demo_imports = [
            i for (i,) in conn.execute(sa.select(imports.c.id).where(imports.c.is_demo.is_(True)))
        ]
        demo_reports = sa.select(reports.c.id).where(reports.c.import_id.in_(demo_imports)).scalar_subquery()
        conn.execute(
            duplicate_flags.delete().where(
                duplicate_flags.c.import_id.in_(demo_imports)
                | duplicate_flags.c.report_id.in_(demo_reports)
                | duplicate_flags.c.resembles_report_id.in_(demo_reports)
            )
        )
        conn.execute(
            resubmissions.delete().where(
                resubmissions.c.import_id.in_(demo_imports) | resubmissions.c.report_id.in_(demo_reports)
            )
        )
        conn.execute(reports.update().where(reports.c.merged_into.in_(demo_reports)).values(merged_into=None))
        n = conn.execute(reports.delete().where(reports.c.import_id.in_(demo_imports))).rowcount
        conn.execute(quarantine.delete().where(quarantine.c.import_id.in_(demo_imports)))
        conn.execute(police_context.delete().where(police_context.c.import_id.in_(demo_imports)))
        conn.execute(imports.delete().where(imports.c.id.in_(demo_imports)))
        conn.execute(places.delete().where(places.c.source == "demo"))
        recount_data_version(conn)
        audit.record(conn, "demo_deleted", actor=actor, details={"reports": n})
    return n


# --- Disruption log ------------------------------------------------------------------------------------

TACTICS = {
    "police_presence": "Increased police presence",
    "hotel_notice": "Hotel guest-information notice",
    "cawn": "Child Abduction Warning Notice",
    "closure_notice": "Closure notice",
    "licensing_review": "Licensing review",
    "cpn": "Community protection notice",
    "visits_engagement": "Visits and engagement",
    "other": "Other",
}


def add_disruption(
    engine: Engine,
    *,
    tactic: str,
    h3_cell: int,
    res: int,
    start_date,
    end_date=None,
    place_id: str | None = None,
    note: str | None = None,
    recorded_by: str | None = None,
) -> int:
    if tactic not in TACTICS:
        raise ValueError(f"tactic must be one of {', '.join(TACTICS)}, got {tactic!r}")
    if end_date is not None and end_date < start_date:
        raise ValueError(f"end_date {end_date} is before start_date {start_date}")
    from hoth_geo import audit

    with engine.begin() as conn:
        result = conn.execute(
            disruptions.insert().values(
                tactic=tactic,
                place_id=place_id,
                h3=int(h3_cell),
                res=int(res),
                start_date=start_date,
                end_date=end_date,
                note=note,
                recorded_at=datetime.now(UTC).replace(tzinfo=None),
                recorded_by=recorded_by,
            )
        )
        disruption_id = int(result.inserted_primary_key[0])
        audit.record(
            conn,
            "disruption_added",
            actor=recorded_by,
            target=f"h3:{int(h3_cell):x}",
            details={"disruption_id": disruption_id, "tactic": tactic},
        )
    return disruption_id


def load_disruptions(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        frame = pd.read_sql(sa.select(disruptions).order_by(disruptions.c.start_date.desc()), conn)
    frame["h3"] = frame["h3"].astype("int64")
    return frame


# --- Export log ------------------------------------------------------------------------------------------


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
    import hashlib

    from hoth_geo import audit

    with engine.begin() as conn:
        result = conn.execute(
            export_log.insert().values(
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
        audit.record(
            conn,
            "export",
            actor=exported_by,
            target=filename,
            details={"export_id": export_id, "audience": audience, "kind": kind},
        )
    return export_id


def load_export_log(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(sa.select(export_log).order_by(export_log.c.id), conn)
