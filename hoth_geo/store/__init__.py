"""Database access (SQLAlchemy Core; SQLite by default, any SQLAlchemy URL by setting).

The store is the only module that talks to the database. It writes one import in one transaction
(all rows, quarantine and the import record, or nothing) and reads frames back for analysis.
Partnership reports and the police context layer live in separate tables and are never mixed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Engine

from hoth_geo import settings
from hoth_geo.schema import CONCERNS, INDICATORS, REVISION_COLUMNS, keys_to_mask
from hoth_geo.store.tables import (
    QuarantineStatus,
    audit_lock,
    data_version_table,
    disruptions,
    duplicate_flags,
    export_log,
    imports,
    metadata,
    places,
    police_context,
    quarantine,
    reports,
    resubmissions,
)

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
    "revision_of",
    "revisions",
    "context_ids",
    "parameter_chunks",
    "quarantine_ids",
    "ids_by_row",
    "max_id",
    "insert_import",
    "record_delimiter",
    "finish_import",
    "insert_reports",
    "insert_quarantine",
    "open_quarantine_identities",
    "supersede_quarantine",
    "insert_context",
    "file_already_imported",
    "upsert_places",
    "load_places",
    "ANALYSIS_COLUMNS",
    "FREE_TEXT_COLUMNS",
    "FRAME_CHUNK_ROWS",
    "load_reports",
    "refresh_reports",
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
    "writes_in_process",
    "to_records",
    "take_lock",
    "quarantine_payload",
    "load_disruptions",
    "load_export_log",
]


def connect(url: str | None = None) -> Engine:
    """An engine for ``url`` (default: settings.database_url()) whose schema is current.

    An empty database gets the current schema (hoth_geo.store.migrations.create_new); a database at an older
    schema revision is refused with a message naming ``hoth-geo db upgrade`` (see docs/deployment.md).
    """
    from hoth_geo.store import migrations

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
    accounts for every row of the file by row number (``hoth_geo.intake.identity.OUTCOME_COLUMNS``).
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
    # Open quarantine entries (of earlier imports, or of earlier rows of this file) whose row this import
    # stored, corrected (part of n_accepted): they leave Review as superseded.
    n_superseded: int = 0
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
            f"{self.filename}: read {self.n_read:,} row{'s' if self.n_read != 1 else ''} ="
            f" {self.n_accepted:,} accepted"
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
        if self.n_superseded:
            n = self.n_superseded
            text += (
                f"; {n:,} {'row' if n == 1 else 'rows'} quarantined earlier now stored corrected"
                f" ({'its entry' if n == 1 else 'their entries'} closed)"
            )
        if self.already_imported:
            text += " (this file was imported before: nothing new added)"
        elif self.nothing_new:
            text += " (every row was already stored or quarantined: nothing new added)"
        return text


def _column_values(series: pd.Series, sqlite: bool, present: np.ndarray | None = None) -> list:
    """A column as Python values for the driver: None for missing, native types otherwise.
    ``present`` is ``series.notna()`` when the caller has it already (a test of every cell)."""
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
    values = series.to_numpy(dtype=object)
    if present is None:
        present = pd.notna(values)
    if present.all():
        return values.tolist()
    values = values.copy()
    values[~present] = None
    return values.tolist()


def _arrow_column(series: pd.Series, present: np.ndarray):
    """A column as an Arrow array for ``_copy_csv``: numbers, flags and times straight from their
    NumPy arrays (no Python value per cell); text and anything else through the driver's values."""
    import pyarrow as pa

    dtype = series.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype) and getattr(dtype, "tz", None) is None:
        # Microseconds, as the driver's datetime values have (PostgreSQL keeps no finer).
        return pa.array(series.to_numpy(dtype="datetime64[us]"), mask=~present)
    if isinstance(dtype, np.dtype) and dtype.kind in "bif":
        return pa.array(series.to_numpy(), mask=~present)
    return pa.array(_column_values(series, sqlite=False, present=present))


def _copy_csv(frame: pd.DataFrame, columns: list[str], present: dict[str, np.ndarray]) -> bytes | None:
    """The rows as CSV for PostgreSQL's COPY, written by Arrow in one call (a third less time than
    psycopg's row-by-row COPY at 50,000 rows); None when a column mixes types Arrow will not put in
    one array, which then goes row by row. Text is always quoted and NULL is an unquoted empty field,
    so an empty string stays an empty string."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        table = pa.table([_arrow_column(frame[c], present[c]) for c in columns], names=columns)
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
    present = {c: frame[c].notna().to_numpy() for c in columns}
    columns = [c for c in columns if present[c].any()]
    names = ", ".join(f'"{c}"' for c in columns)

    def rows() -> list[tuple]:
        cols = [_column_values(frame[c], sqlite, present[c]) for c in columns]
        return list(zip(*cols, strict=True))

    if sqlite:
        marks = ", ".join("?" for _ in columns)
        # Names come from the schema above, never from input; values travel as parameters.
        conn.exec_driver_sql(f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})', rows())  # noqa: S608
    elif conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        # PostgreSQL's bulk path: the rows stream to the server in COPY's own format, typed by psycopg.
        csv_data = _copy_csv(frame, columns, present)
        statement = f'COPY "{table.name}" ({names}) FROM STDIN' + (" (FORMAT csv)" if csv_data else "")
        dbapi = conn.dialect.loaded_dbapi
        try:
            with conn.connection.driver_connection.cursor() as cur, cur.copy(statement) as copy:
                if csv_data:
                    copy.write(csv_data)
                else:
                    for row in rows():
                        copy.write_row(row)
        except dbapi.Error as exc:
            # Raised as SQLAlchemy raises any statement's error (IntegrityError, ...), whatever the path.
            raise sa.exc.DBAPIError.instance(statement, None, exc, dbapi.Error) from exc
    else:
        conn.execute(table.insert(), [dict(zip(columns, r, strict=True)) for r in rows()])


def to_records(frame: pd.DataFrame, columns: Iterable[str]) -> list[dict]:
    """The rows of ``frame`` as dicts of ``columns``, with values the database drivers accept."""
    cols = list(columns)
    values = [_column_values(frame[c], sqlite=False) for c in cols]
    return [dict(zip(cols, r, strict=True)) for r in zip(*values, strict=True)]


def revision_of(report: Mapping) -> str:
    """What a report's source may change without changing what it saw, as one text ('1|A|P|25.0';
    '' for a part not given): its ``REVISION_COLUMNS``, the grading and the stated location accuracy.
    The form ``revisions`` gives many rows at once."""
    return "|".join(_revision_part(report.get(c)) for c in REVISION_COLUMNS)


def _revision_part(value) -> str:
    return "" if value is None or value != value else str(value)


def revisions(frame: pd.DataFrame) -> np.ndarray:
    """``revision_of`` each row of ``frame`` (which has the ``REVISION_COLUMNS``), formed once per distinct
    combination: a file or a database has a handful."""
    if frame.empty:
        return np.array([], dtype=object)
    combined, values = np.zeros(len(frame), dtype="int64"), []
    for c in REVISION_COLUMNS:
        codes, uniques = pd.factorize(frame[c], use_na_sentinel=False)
        values.append(uniques.tolist())
        combined = combined * len(values[-1]) + codes
    distinct, inverse = np.unique(combined, return_inverse=True)
    text = []
    for code in distinct.tolist():
        report = {}
        for c, options in zip(reversed(REVISION_COLUMNS), reversed(values), strict=True):
            code, at = divmod(code, len(options))
            report[c] = options[at]
        text.append(revision_of(report))
    return np.array(text, dtype=object)[inverse.ravel()]


def report_keys(conn: Connection) -> pd.DataFrame:
    """id, identity, fingerprint, revision (``revision_of``) and merged_into of every stored report, for
    identity checks."""
    # The text parts of the revision joined in SQL ('1|A|P|'), the accuracy (a number, which the two
    # backends write as text differently) appended here to the few reports that state one.
    *text_parts, accuracy = REVISION_COLUMNS
    revision = sa.literal("")
    for c in text_parts:
        revision = revision + sa.func.coalesce(reports.c[c], "") + "|"
    cols = (reports.c.id, reports.c.identity, reports.c.fingerprint, revision, reports.c.merged_into)
    # Plain tuples into object columns: several times faster than read_sql at 1M rows.
    rows = conn.execute(sa.select(*cols, reports.c[accuracy])).all()
    values = list(zip(*rows, strict=True)) if rows else [()] * (len(cols) + 1)
    revision_texts = np.array(values[3], dtype=object)
    stated = np.array(values[5], dtype=object)
    has = pd.notna(stated)
    if has.any():
        codes, distinct = pd.factorize(stated[has])
        revision_texts[has] += np.array([_revision_part(v) for v in distinct.tolist()], dtype=object)[codes]
    return pd.DataFrame(
        {
            "id": np.array(values[0], dtype="int64"),
            "identity": np.array(values[1], dtype=object),
            "fingerprint": np.array(values[2], dtype=object),
            "revision": revision_texts,
            "merged_into": pd.array(values[4], dtype="Int64"),
        }
    )


def resubmission_contents(conn: Connection) -> pd.DataFrame:
    """Contents already received for stored reports: every resubmission's, and those it replaced
    (report_id, fingerprint, revision, resubmission_id)."""
    r = resubmissions
    query = sa.select(
        r.c.id, r.c.report_id, r.c.fingerprint, r.c.payload, r.c.replaced_fingerprint, r.c.replaced
    )
    received, replaced = [], []
    for row in conn.execute(query):
        received.append((row.report_id, row.fingerprint, revision_of(json.loads(row.payload)), row.id))
        if row.replaced_fingerprint is not None:
            was = json.loads(row.replaced) if row.replaced else {}
            replaced.append((row.report_id, row.replaced_fingerprint, revision_of(was), row.id))
    return pd.DataFrame(
        received + replaced, columns=["report_id", "fingerprint", "revision", "resubmission_id"]
    ).astype({"report_id": "int64", "fingerprint": object, "revision": object, "resubmission_id": "int64"})


def parameter_chunks(values: list, size: int = 5_000) -> Iterator[list]:
    """``values`` in slices of ``size``, one query each: an ``IN`` list stays under the drivers'
    bound-parameter limits."""
    for lo in range(0, len(values), size):
        yield values[lo : lo + size]


def context_ids(conn: Connection, fingerprints: Iterable[str]) -> pd.Series:
    """{fingerprint: police context id} for the given fingerprints already stored."""
    wanted = list(dict.fromkeys(fingerprints))
    found: dict[str, int] = {}
    for chunk in parameter_chunks(wanted):
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
        for chunk in parameter_chunks(wanted, 50_000):
            found.update(conn.execute(query, {"keys": chunk}).all())
        return pd.Series(found, dtype="int64")
    for chunk in parameter_chunks(wanted):
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
    """Add the import record of one file (its name, SHA-256, format, who imported it) and return its id."""
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
            n_resubmitted=0,
            is_demo=is_demo,
        )
    )
    return int(result.inserted_primary_key[0])


def finish_import(conn: Connection, import_id: int, summary: ImportSummary) -> None:
    """Write the import's final counts (read, stored, quarantined, duplicates, changed resubmissions,
    outside the area) to its record."""
    conn.execute(
        imports.update()
        .where(imports.c.id == import_id)
        .values(
            n_read=summary.n_read,
            n_accepted=summary.n_accepted,
            n_quarantined=summary.n_quarantined,
            n_duplicates=summary.n_duplicates,
            n_out_of_area=summary.n_out_of_area,
            n_resubmitted=summary.n_resubmitted,
        )
    )


def record_delimiter(conn: Connection, import_id: int, delimiter: str | None) -> None:
    """Keep the separator the import's CSV file was read with (None for a workbook) on its record."""
    conn.execute(imports.update().where(imports.c.id == import_id).values(delimiter=delimiter))


def insert_reports(conn: Connection, import_id: int, located: pd.DataFrame, *, is_demo: bool) -> int:
    """Insert geocoded canonical rows. Returns the number inserted."""
    if located.empty:
        return 0
    frame = located.copy(deep=False)  # copy-on-write: the columns added here stay in this frame
    frame["import_id"] = import_id
    frame["is_demo"] = is_demo
    frame["merged_into"] = None
    frame["concerns_mask"] = keys_to_mask(frame["concerns"], CONCERNS)
    frame["indicators_mask"] = keys_to_mask(frame["indicators"], INDICATORS)
    _bulk_insert(conn, reports, frame, [c.name for c in reports.columns if c.name != "id"])
    return len(frame)


def insert_quarantine(conn: Connection, import_id: int, quarantined: pd.DataFrame) -> int:
    """Store the quarantined rows of an import, each open with its reason; returns how many."""
    if quarantined.empty:
        return 0
    frame = quarantined.copy(deep=False)  # copy-on-write, as above
    frame["import_id"] = import_id
    frame["status"] = "open"
    if "payload" not in frame:
        frame["payload"] = None
    if "identity" not in frame:
        frame["identity"] = None
    cols = [
        "import_id",
        "row_number",
        "reason",
        "field",
        "value",
        "raw",
        "raw_fingerprint",
        "identity",
        "payload",
        "status",
    ]
    _bulk_insert(conn, quarantine, frame, cols)
    return len(frame)


def open_quarantine_identities(conn: Connection, *, before_import: int) -> pd.DataFrame:
    """The open quarantine entries of imports before ``before_import`` that keep their row's identity
    (agency + source reference, or file + row for a row without a reference, which only the same file
    imported again can match): columns ``identity`` and ``id``. What a report this import stores may
    supersede (``supersede_quarantine``)."""
    rows = conn.execute(
        sa.select(quarantine.c.identity, quarantine.c.id).where(
            quarantine.c.status == QuarantineStatus.OPEN,
            quarantine.c.identity.is_not(None),
            quarantine.c.import_id < before_import,
        )
    ).all()
    return pd.DataFrame(
        {
            "identity": pd.Series([r[0] for r in rows], dtype=object),
            "id": pd.Series([r[1] for r in rows], dtype="int64"),
        }
    )


def supersede_quarantine(conn: Connection, entry_ids: Iterable[int], report_ids: Iterable[int]) -> list[int]:
    """Mark open quarantine entries ``superseded`` by the report a later import stored with their
    identity (the partner's corrected row): the entry points at that report and leaves Review. Returns
    the entries closed (one an analyst resolved meanwhile stays as the analyst left it)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    params = [
        {"entry": int(e), "report_id": int(r), "now": now} for e, r in zip(entry_ids, report_ids, strict=True)
    ]
    if not params:
        return []
    conn.execute(
        quarantine.update()
        .where(quarantine.c.id == sa.bindparam("entry"), quarantine.c.status == QuarantineStatus.OPEN)
        .values(
            status=QuarantineStatus.SUPERSEDED,
            resolved_report_id=sa.bindparam("report_id"),
            resolved_at=sa.bindparam("now"),
        ),
        params,
    )
    closed = conn.execute(
        sa.select(quarantine.c.id).where(
            quarantine.c.id.in_([p["entry"] for p in params]),
            quarantine.c.status == QuarantineStatus.SUPERSEDED,
            quarantine.c.resolved_at == now,
        )
    ).scalars()
    return sorted(int(i) for i in closed)


def insert_context(conn: Connection, import_id: int, rows: pd.DataFrame) -> int:
    """Store police.uk context rows of an import; returns how many."""
    if rows.empty:
        return 0
    frame = rows.copy()
    frame["import_id"] = import_id
    _bulk_insert(conn, police_context, frame, [c.name for c in police_context.columns if c.name != "id"])
    return len(frame)


def file_already_imported(conn: Connection, file_sha256: str) -> bool:
    """True when a file with this SHA-256 was imported before (re-importing adds nothing)."""
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
    """The places analysts added and the demo venues, as a frame."""
    with engine.connect() as conn:
        return pd.read_sql(sa.select(places), conn)


# --- Reading for analysis ---------------------------------------------------------------------------

# The lean analysis frame: only what analysis reads, as compact types. Free text (narratives, child
# references, source references, location text, place names, raw rows) is never in it: a permitted
# user's report list fetches it by id (``report_details``, through ``hoth_geo.access.casework``).
_FRAME_INTS = ("id", "h3", "concerns_mask", "indicators_mask")
_FRAME_FLOATS = ("latitude", "longitude", "precision_m")
_FRAME_FLAGS = ("time_known", "time_in_words", "date_approximate", "online", "is_demo")
# Frame columns the database works out from stored columns: a time of day given only in words
# ("after school") is counted without its words entering the frame.
_FRAME_DERIVED = {"time_in_words": reports.c.time_text.is_not(None)}
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
    "time_in_words",
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
    "time_text",
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


def _frame_column(name: str) -> sa.ColumnElement:
    """A frame column as the frame's SELECT reads it: the stored column, or the expression it is
    derived from (``_FRAME_DERIVED``)."""
    return _FRAME_DERIVED[name].label(name) if name in _FRAME_DERIVED else reports.c[name]


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


def load_reports(engine: Engine, version: DataVersion | None = None) -> pd.DataFrame:
    """The lean analysis frame of all stored reports that count (one row per report, no free text).

    SQLite files and PostgreSQL are read in a columnar way: an ADBC driver steps through the result
    in C and hands over Arrow record batches, each turned into the frame's columns at once (numbers
    as arrays, labels as dictionary codes), so no value ever becomes a Python object. SQLite's driver
    runs in a child process (``sqlite_arrow_reader`` says why), for frames large enough to repay its
    start. Other databases, SQLite in memory, or an install without the driver are read with the
    driver's row cursor (``_load_reports_rows``); both
    give the same frame, dtypes included.

    ``version``, the data_version row the caller has just read, sizes the columns (read here if None).
    """
    n_reports = (version if version is not None else data_version(engine)).n_reports
    source = _columnar_source(engine)
    if source is None or (engine.dialect.name == "sqlite" and n_reports < _SQLITE_CHILD_FROM_ROWS):
        return _load_reports_rows(engine, capacity=n_reports)
    return _load_reports_arrow(engine, source, n_reports)


# Starting SQLite's reader process costs ~0.4 s (an interpreter, pyarrow and the driver); the row
# cursor reads 100,000 reports in about that time, so smaller SQLite frames are read by the cursor.
_SQLITE_CHILD_FROM_ROWS = 150_000


# A large frame is read in id ranges by this many connections at once, so the database's work (SQLite
# (one PostgreSQL backend per reader) and the conversion share the cores; below
# _PARALLEL_FROM_ROWS reports one reader is as quick.
_FRAME_READERS = 2
_PARALLEL_FROM_ROWS = 200_000
# The id ranges hold about this many reports each and are put end to end as they arrive, so the
# readers' own buffers add only a few ranges to the read's peak memory, whatever the frame's size.
_RANGE_ROWS = 500_000


def _columnar_source(engine: Engine) -> str | None:
    """What the ADBC reader opens for ``engine``: the SQLite file's URI (read-only) or a libpq URI.
    None when there is no columnar reader: another dialect, SQLite in memory (only the engine's own
    connection sees that database), or SQLite's driver not installed."""
    if engine.dialect.name == "sqlite":
        database = engine.url.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            return None
        if importlib.util.find_spec("adbc_driver_sqlite") is None:  # finds it without loading it
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
        else _frame_column(c)
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


def _load_reports_arrow(engine: Engine, source: str, n_reports: int) -> pd.DataFrame:
    """``load_reports`` through the ADBC driver: a large frame in id ranges read by _FRAME_READERS
    connections at once and put end to end in id order as they arrive (all read again if an import or
    a deletion committed between their snapshots), each batch by batch into columns sized in advance."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    dialect = engine.dialect.name
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
    with _record_batches(dialect, source, sql) as batches:
        for batch in batches:
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


@contextlib.contextmanager
def _record_batches(dialect: str, source: str, sql: str) -> Iterator:
    """The Arrow record batches of ``sql`` run by an ADBC driver on ``source``.

    PostgreSQL's driver runs in this process. SQLite's runs in a child process that streams the
    batches through a pipe (``sqlite_arrow_reader``: a second copy of SQLite in this process would
    release the app's file locks); its failure is raised with what it wrote to stderr."""
    if dialect != "sqlite":
        import adbc_driver_postgresql.dbapi

        with adbc_driver_postgresql.dbapi.connect(source) as conn, conn.cursor() as cursor:
            cursor.execute(sql)
            yield cursor.fetch_record_batch()
        return
    import subprocess
    import sys

    import pyarrow as pa

    script = Path(__file__).with_name("sqlite_arrow_reader.py")
    with (
        tempfile.TemporaryFile() as errors,
        subprocess.Popen(
            [sys.executable, str(script), source],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
        ) as child,
    ):
        try:
            child.stdin.write(sql.encode("utf-8"))
            child.stdin.close()
            try:
                reader = pa.ipc.open_stream(child.stdout)
            except pa.ArrowInvalid:  # nothing on stdout: the child failed before its first batch
                reader = None
            if reader is not None:
                yield reader
                reader.close()
        finally:
            child.stdout.close()
            code = child.wait()
        if code != 0 or reader is None:
            errors.seek(0)
            said = " ".join(errors.read().decode("utf-8", "replace").split())[:500] or "no message"
            raise RuntimeError(f"the SQLite frame reader exited with code {code}: {said}")


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


def refresh_reports(
    engine: Engine,
    frame: pd.DataFrame | None = None,
    read_at: DataVersion | None = None,
    seen: DataVersion | None = None,
) -> tuple[pd.DataFrame, DataVersion | None]:
    """The analysis frame brought up to the current data version, and the version it now holds.

    ``frame`` is a frame this function returned earlier with its version ``read_at``. When every write
    since then only appended reports (``rewrites`` unchanged: an import, not a Review merge, an edit or
    a purge), only the reports after the frame's last id are read and put after it; otherwise, or with
    no earlier frame, the whole frame is read (``load_reports``). The returned version is None when
    writes committed during a whole read, so the next call reads it whole again.

    The appended reports are checked against the version's count of reports: on PostgreSQL two imports
    can commit in the other order than their ids were given, so reports with ids below the frame's last
    can appear later; the counts then differ and the frame is read whole.

    ``seen`` is a data version the caller read earlier (an app run's, read once at its start): when it
    is the frame's own, the frame is returned without reading the row again. Otherwise the row is read
    here, so a frame another caller has already brought further is kept, never read again.
    """
    if frame is not None and read_at is not None and read_at.version > 0 and seen == read_at:
        return frame, read_at
    before = data_version(engine)
    if frame is not None and read_at is not None and read_at.version > 0:
        if before == read_at:
            return frame, read_at
        added_count = before.n_reports - len(frame)
        if before.rewrites == read_at.rewrites and 0 <= added_count <= _APPEND_READ_MAX_ROWS:
            last_id = int(frame["id"].iloc[-1]) if len(frame) else None
            added = _load_reports_rows(engine, after_id=last_id, capacity=added_count)
            if data_version(engine) == before and len(added) == added_count:
                return _append_frame(frame, added), before
    whole = load_reports(engine, before)
    return whole, (before if data_version(engine) == before else None)


# Above this many new reports the whole frame is read again (columnar, and without holding the old
# frame, the new rows and their concatenation at once).
_APPEND_READ_MAX_ROWS = 200_000


def _append_frame(frame: pd.DataFrame, added: pd.DataFrame) -> pd.DataFrame:
    """``added`` (later ids) after ``frame``: the frame a whole read would give, categories included."""
    if added.empty:
        return frame
    columns = {}
    for name in ANALYSIS_COLUMNS:
        old, new = frame[name], added[name]
        if isinstance(old.dtype, pd.CategoricalDtype):
            # One dictionary built as a whole read builds it, so the two frames compare equal.
            codes = _Codes(len(old) + len(new))
            for part in (old.array, new.array):
                codes.add_encoded(part.codes, list(part.categories))
            columns[name] = codes.categorical()
        else:
            columns[name] = np.concatenate([old.to_numpy(), new.to_numpy()])
    return pd.DataFrame(columns, copy=False)


def _load_reports_rows(
    engine: Engine, *, after_id: int | None = None, capacity: int | None = None
) -> pd.DataFrame:
    """``load_reports`` through the driver's row cursor (databases without a columnar reader here, small
    SQLite frames), or only the reports after ``after_id`` (``refresh_reports``; ``capacity`` rows
    expected).

    Read with the driver's own cursor in chunks of FRAME_CHUNK_ROWS (a server-side cursor on
    PostgreSQL), each chunk turned into numpy arrays at once and copied into columns sized from the
    data_version row, so the read never holds the rows as Python objects or a column twice.
    """
    dialect = engine.dialect.name
    fast_dates = dialect in ("sqlite", "postgresql")
    picked = [
        _observed_ms(dialect).label("observed_at") if c == "observed_at" else _frame_column(c)
        for c in ANALYSIS_COLUMNS
    ]
    # A report merged into another (a duplicate confirmed in Review) counts once, as that report.
    where = [reports.c.merged_into.is_(None)]
    if after_id is not None:
        where.append(reports.c.id > int(after_id))
    query = sa.select(*picked).where(*where).order_by(reports.c.id)
    sql = str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    # An import committing meanwhile grows the buffers.
    expected = (capacity if capacity is not None else data_version(engine).n_reports) + 1_024
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
    """The police.uk context layer (never mixed with partnership reports)."""
    with engine.connect() as conn:
        frame = pd.read_sql(sa.select(police_context), conn)
    frame["month"] = pd.to_datetime(frame["month"])
    frame["h3"] = frame["h3"].astype("int64")
    return frame


def report_details(engine: Engine, ids: Iterable[int], columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Stored rows (narratives included unless ``columns`` leaves them out) for the given report ids:
    the free text the analysis frame does not hold, read by primary key for the reports a person opens.
    No role check here: the app reads report rows through ``hoth_geo.access.casework``, which checks it."""
    ids = [int(i) for i in ids]
    picked = [reports.c[c] for c in columns] if columns is not None else [reports]
    frames = []
    with engine.connect() as conn:
        for lo in range(0, max(len(ids), 1), 5_000):  # stay under the drivers' bound-parameter limits
            chunk = ids[lo : lo + 5_000]
            frames.append(pd.read_sql(sa.select(*picked).where(reports.c.id.in_(chunk)), conn))
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def load_quarantine(engine: Engine, *, status: str | None = "open") -> pd.DataFrame:
    """Quarantined rows with the file they came from (open ones by default; ``status=None`` for all)."""
    query = sa.select(quarantine, imports.c.filename).join(imports, imports.c.id == quarantine.c.import_id)
    if status:
        query = query.where(quarantine.c.status == status)
    with engine.connect() as conn:
        return pd.read_sql(query.order_by(quarantine.c.import_id, quarantine.c.row_number), conn)


def load_imports(engine: Engine) -> pd.DataFrame:
    """Every import record, oldest first."""
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
    rewrites: int = 0  # bumped by every write that did more than append reports (see refresh_reports)

    def counts(self) -> dict[str, int]:
        """Reports (not merged), demo reports, police context rows and open quarantine."""
        return {
            "reports": self.n_reports,
            "demo_reports": self.n_demo_reports,
            "police_context": self.n_context,
            "quarantine_open": self.n_quarantine_open,
        }


def data_version(engine_or_conn: Engine | Connection) -> DataVersion:
    """The current data version: one primary-key read of one row (a rerun's cache key)."""
    t = data_version_table
    query = sa.select(
        t.c.version, t.c.n_reports, t.c.n_demo_reports, t.c.n_context, t.c.n_quarantine_open, t.c.rewrites
    )
    if isinstance(engine_or_conn, Connection):
        row = engine_or_conn.execute(query.where(t.c.id == 1)).one_or_none()
    else:
        with engine_or_conn.connect() as conn:
            row = conn.execute(query.where(t.c.id == 1)).one_or_none()
    return DataVersion(*(int(v) for v in row)) if row is not None else DataVersion(0, 0, 0, 0, 0, 0)


def counts(engine: Engine) -> dict[str, int]:
    """Reports (not merged), demo reports, police context rows and open quarantine: from data_version."""
    return data_version(engine).counts()


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
                sa.select(sa.func.count())
                .select_from(quarantine)
                .where(quarantine.c.status == QuarantineStatus.OPEN)
            ).scalar()
            or 0
        ),
    }


_writes_lock = threading.Lock()
_writes_in_process = 0


def writes_in_process() -> int:
    """How many data_version bumps this process has made (committed, in progress or rolled back): a
    caller holding the row (an app run) reads it again once a write of its own process may have
    changed it. Other processes' writes are seen on the next read."""
    return _writes_in_process


def _count_write() -> None:
    global _writes_in_process
    with _writes_lock:
        _writes_in_process += 1


def bump_data_version(
    conn: Connection,
    *,
    reports: int = 0,
    demo_reports: int = 0,
    context: int = 0,
    quarantine_open: int = 0,
    appended_only: bool = False,
) -> None:
    """Mark a change in ``conn``'s transaction, after its writes: the version goes up by one and each
    count by the change the caller made (negative for removals). Other app processes see the new
    version when the transaction commits, on their next rerun.

    ``appended_only=True`` says the transaction changed no stored report and only added new ones (and
    other tables' rows): ``rewrites`` then stays, and app processes read the new reports alone
    (``refresh_reports``). Every other write leaves it False."""
    t = data_version_table
    _count_write()
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
            rewrites=t.c.rewrites + (0 if appended_only else 1),
            changed_at=datetime.now(UTC).replace(tzinfo=None),
        )
    ).rowcount
    if not updated:
        _insert_data_version(conn)


def recount_data_version(conn: Connection) -> None:
    """Mark a change and recount every count from the tables (bulk deletions: purge, demo removal)."""
    t = data_version_table
    _count_write()
    _lock_before_data_version(conn)
    counted = scan_counts(conn)
    updated = conn.execute(
        t.update()
        .where(t.c.id == 1)
        .values(
            version=t.c.version + 1,
            rewrites=t.c.rewrites + 1,
            changed_at=datetime.now(UTC).replace(tzinfo=None),
            **counted,
        )
    ).rowcount
    if not updated:
        _insert_data_version(conn)


def _lock_before_data_version(conn: Connection) -> None:
    # The write lock first, as every writing transaction takes it (take_lock): one lock order
    # everywhere, so a purge (write lock, then this row) and an import cannot deadlock.
    take_lock(conn)


def take_lock(conn: Connection) -> None:
    """Take the write lock (the audit chain's lock row) in ``conn``'s transaction (held until it commits or rolls back).

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


def _insert_data_version(conn: Connection) -> None:
    """The row is missing (a database whose row was deleted by hand): recreate it from the tables."""
    row = {"id": 1, "version": 1, "changed_at": datetime.now(UTC).replace(tzinfo=None), **scan_counts(conn)}
    conn.execute(data_version_table.insert().values(**row))


def quarantine_payload(engine: Engine, quarantine_id: int) -> tuple[dict, int]:
    """The stored payload of an open quarantined row and its import's id (refuses one already
    resolved, or one whose row cannot be located by hand)."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(quarantine.c.payload, quarantine.c.import_id, quarantine.c.status).where(
                quarantine.c.id == quarantine_id
            )
        ).one_or_none()
    if row is None:
        raise KeyError(f"quarantine entry {quarantine_id} not found")
    if row.status != QuarantineStatus.OPEN:
        raise ValueError(f"quarantine entry {quarantine_id} is already {row.status}")
    if not row.payload:
        raise ValueError(f"quarantine entry {quarantine_id} cannot be resolved by locating it")
    return json.loads(row.payload), int(row.import_id)


def load_disruptions(engine: Engine) -> pd.DataFrame:
    """The disruption log, newest first."""
    with engine.connect() as conn:
        frame = pd.read_sql(sa.select(disruptions).order_by(disruptions.c.start_date.desc()), conn)
    frame["h3"] = frame["h3"].astype("int64")
    return frame


# --- Export log ------------------------------------------------------------------------------------------


def load_export_log(engine: Engine) -> pd.DataFrame:
    """The export log, oldest first: who exported what, for which audience, and the file's SHA-256."""
    with engine.connect() as conn:
        return pd.read_sql(sa.select(export_log).order_by(export_log.c.id), conn)
