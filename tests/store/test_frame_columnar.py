"""The analysis frame read in a columnar way (ADBC into Arrow) is exactly the frame the row cursor reads.

``store.load_reports`` reads PostgreSQL through its ADBC driver and an SQLite file through SQLite's
ADBC driver in a child process (``store.sqlite_arrow_reader``); SQLite in memory and every other
database go through the driver's row cursor (``store._load_reports_rows``). The app, the CLI and the
exports rely on one frame whatever the path: the same columns, dtypes, categories and values, NULL
cells included, one row per counted report in id order. Each test builds its data through the real
writing paths (the demo import, a partner import) plus rows written by hand where an import cannot
produce the case (NULL cells in the first rows, sub-millisecond and pre-1970 times, a merged report).
"""

from __future__ import annotations

import threading
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from forms import LOCATED, OUTREACH, write_form

from hoth_geo import store
from hoth_geo.intake import pipeline
from hoth_geo.schema import CONCERNS, INDICATORS, keys_to_mask

DURHAM_CELL = 613_229_515_853_463_551  # an H3 cell id (any int64 will do for the frame)


def _same_frame(engine) -> pd.DataFrame:
    """The columnar frame, checked against the row cursor's: exactly equal, dtypes and categories too."""
    assert store._columnar_source(engine) is not None, "a database file has a columnar reader"
    columnar = store.load_reports(engine)
    rows = store._load_reports_rows(engine)
    pd.testing.assert_frame_equal(columnar, rows, check_exact=True, check_categorical=True)
    assert list(columnar.columns) == list(store.ANALYSIS_COLUMNS)
    return columnar


@pytest.fixture()
def columnar_url(db_url, monkeypatch):
    """A database file the columnar read serves (SQLite, and PostgreSQL when the suite has one), read
    in a columnar way however few reports it holds (the app reads small SQLite frames by the cursor)."""
    monkeypatch.setattr(store, "_SQLITE_CHILD_FROM_ROWS", 0)
    return db_url


def _hand_rows(import_id: int, n: int, start: int, **values) -> list[dict]:
    """``n`` report rows as a partner's would be stored, with ``values`` overriding any column."""
    concerns = "cse|missing"
    rows = []
    for i in range(start, start + n):
        row = {
            "import_id": import_id,
            "row_number": i + 1,
            "fingerprint": f"{i:040x}",
            "identity": f"by-hand:{i}",
            "observed_at": datetime(2025, 3, 1, 12, 0) + pd.Timedelta(minutes=17 * i),
            "time_known": i % 3 != 0,
            "date_approximate": i % 7 == 0,
            "online": False,
            "latitude": 54.7 + i * 1e-5,
            "longitude": -1.6 - i * 1e-5,
            "precision_m": 50.0,
            "h3": DURHAM_CELL,
            "concerns": concerns,
            "concerns_mask": int(keys_to_mask([concerns], CONCERNS)[0]),
            "indicators": "older_associates",
            "indicators_mask": int(keys_to_mask(["older_associates"], INDICATORS)[0]),
            "is_demo": False,
            "agency": f"Synthetic Agency {i % 4}",
            "agency_type": "youth_service",
            "place_type": "park",
            "place_id": f"synthetic-venue-{i % 5}",
            "geocode_method": "coordinates_wgs84",
            "grading_source": "2",
            "grading_information": "B",
            "narrative": f"Synthetic narrative {i}, never in the frame.",
            "child_ref": f"SYN-{i}",
        }
        row.update(values)
        rows.append(row)
    return rows


def _new_import(conn) -> int:
    return store.insert_import(
        conn,
        filename="by-hand.csv",
        file_sha256="2" * 64,
        fmt="sharing_form",
        is_demo=False,
        imported_by=None,
    )


def test_an_empty_database_gives_the_same_empty_frame(columnar_url):
    engine = store.connect(columnar_url)
    frame = _same_frame(engine)
    assert frame.empty
    assert str(frame["observed_at"].dtype) == "datetime64[us]" and str(frame["agency"].dtype) == "category"
    engine.dispose()


def test_the_demo_set_and_a_partner_import_read_the_same(columnar_url, tmp_path):
    engine = store.connect(columnar_url)
    pipeline.load_demo_data(engine)
    pipeline.import_file(engine, write_form(tmp_path / "outreach.csv", [OUTREACH, LOCATED]))
    frame = _same_frame(engine)
    n = store.data_version(engine)
    assert len(frame) == n.n_reports and int(frame["is_demo"].sum()) == n.n_demo_reports
    assert not frame["is_demo"].all(), "the partner's report is in the frame beside the demo set"
    assert frame["id"].is_monotonic_increasing and frame["id"].is_unique
    for name in ("place_type", "agency", "agency_type", "geocode_method", "grading_source"):
        assert isinstance(frame[name].dtype, pd.CategoricalDtype), name
    # A time of day given only in words ("after school") is flagged in the frame; its words stay in
    # the database.
    with engine.connect() as conn:
        in_words = sa.select(sa.func.count()).where(store.tables.reports.c.time_text.is_not(None))
        n_in_words = conn.execute(in_words).scalar_one()
    assert n_in_words > 0 and int(frame["time_in_words"].sum()) == n_in_words
    assert not (frame["time_in_words"] & frame["time_known"]).any()
    engine.dispose()


def test_null_cells_in_the_first_batches_and_labels_first_seen_late(columnar_url, monkeypatch):
    """SQLite's driver types a column from its first batch: columns that are NULL for the first rows
    (online reports: no coordinates, place or grading) must still read their real and text values
    later. Small batches here, so the labels are also merged across many batches."""
    engine = store.connect(columnar_url)
    no_location = {
        "online": True,
        "latitude": None,
        "longitude": None,
        "precision_m": None,
        "h3": 0,
        "place_type": "online",
        "place_id": None,
        "geocode_method": "online",
        "grading_source": None,
        "grading_information": None,
        "agency_type": None,
    }
    with engine.begin() as conn:
        import_id = _new_import(conn)
        rows = _hand_rows(import_id, 130, 0, **no_location) + _hand_rows(import_id, 90, 130)
        rows += _hand_rows(import_id, 10, 220, agency="Agency first seen in the last batch", place_id=None)
        conn.execute(store.reports.insert(), rows)
        store.bump_data_version(conn, reports=len(rows))
    frame = _same_frame(engine)
    assert len(frame) == 230
    head, tail = frame.iloc[:130], frame.iloc[130:]
    assert (
        head["latitude"].isna().all() and head["place_id"].isna().all() and head["agency_type"].isna().all()
    )
    assert tail["latitude"].notna().all() and tail["grading_information"].eq("B").all()
    assert tail["place_id"].iloc[:90].notna().all() and tail["place_id"].iloc[90:].isna().all()
    assert frame["agency"].iloc[-1] == "Agency first seen in the last batch"
    assert head["online"].all() and not tail["online"].any()
    engine.dispose()


def test_times_read_the_same_and_a_merged_report_is_left_out(columnar_url):
    """observed_at comes to the frame in milliseconds, before 1970 too, and a report merged into another
    is not in the frame. On PostgreSQL the columnar read rounds the stored microseconds itself, so
    half a millisecond must round away from zero as the database's round() does on the row path.
    (On SQLite both paths take milliseconds from SQLite's julianday; Python's sqlite3 and the driver
    bundle different SQLite releases, which may round a time stored half a millisecond off
    differently: imports store whole minutes, so only whole milliseconds are checked there.)"""
    engine = store.connect(columnar_url)
    times = [
        datetime(2025, 6, 14, 21, 15),
        datetime(2025, 6, 14, 21, 15, 0, 1_000),
        datetime(1969, 12, 31, 23, 59, 59, 999_000),
        datetime(1969, 7, 20, 20, 17, 40),
        datetime(2038, 1, 19, 3, 14, 8, 7_000),
        datetime(2025, 1, 1),
    ]
    postgresql = engine.dialect.name == "postgresql"
    if postgresql:
        times += [
            datetime(2025, 6, 14, 21, 15, 0, 500),  # 0.5 ms: up to 1 ms
            datetime(2025, 6, 14, 21, 15, 0, 1_499),  # 1.499 ms: down to 1 ms
            datetime(1969, 12, 31, 23, 59, 59, 999_500),  # -0.5 ms: away from zero, to -1 ms
        ]
    with engine.begin() as conn:
        import_id = _new_import(conn)
        rows = [_hand_rows(import_id, 1, i, observed_at=t)[0] for i, t in enumerate(times)]
        conn.execute(store.reports.insert(), rows)
        store.bump_data_version(conn, reports=len(rows))
        first = conn.execute(sa.select(sa.func.min(store.reports.c.id))).scalar_one()
        conn.execute(store.reports.update().where(store.reports.c.id == first + 5).values(merged_into=first))
    frame = _same_frame(engine)
    assert len(frame) == len(times) - 1 and first + 5 not in set(frame["id"])
    ms = frame["observed_at"].to_numpy().astype("datetime64[ms]").astype(np.int64).tolist()
    assert ms[2] == -1 and ms[4] == 2_147_483_648_007
    if postgresql:
        assert ms[-3] - ms[0] == 1 and ms[-2] - ms[0] == 1 and ms[-1] == -1
    engine.dispose()


def test_readers_of_id_ranges_at_once_give_the_same_frame(columnar_url, tmp_path, monkeypatch):
    """A large frame is read in id ranges by several connections at once and put end to end: here on
    a small one (every size reads in parallel, three readers over ranges of ~700 reports, small
    batches), with labels that only some ranges hold, a merged report and NULL cells."""
    monkeypatch.setattr(store, "_PARALLEL_FROM_ROWS", 1)
    monkeypatch.setattr(store, "_FRAME_READERS", 3)
    monkeypatch.setattr(store, "_RANGE_ROWS", 700)
    monkeypatch.setattr("os.cpu_count", lambda: 4)
    engine = store.connect(columnar_url)
    pipeline.load_demo_data(engine)
    pipeline.import_file(engine, write_form(tmp_path / "outreach.csv", [OUTREACH, LOCATED]))
    with engine.begin() as conn:
        import_id = _new_import(conn)
        rows = _hand_rows(import_id, 50, 0, agency="Only in the last range", place_id=None, latitude=None)
        conn.execute(store.reports.insert(), rows)
        store.bump_data_version(conn, reports=len(rows))
        first = conn.execute(sa.select(sa.func.min(store.reports.c.id))).scalar_one()
        conn.execute(store.reports.update().where(store.reports.c.id == first + 1).values(merged_into=first))
        conn.execute(store.data_version_table.update().values(version=store.data_version_table.c.version + 1))
    ranges = store._id_ranges(engine, 8)
    assert len(ranges) == 8 and ranges[0][0] is None and ranges[-1][1] is None
    assert all(upto == after for (_, upto), (after, _) in zip(ranges, ranges[1:], strict=False))
    with engine.connect() as conn:
        counted = conn.execute(
            sa.select(sa.func.count()).select_from(store.reports).where(store.reports.c.merged_into.is_(None))
        ).scalar_one()
    frame = _same_frame(engine)
    assert len(frame) == counted, "every counted report once: none lost or doubled where the ranges meet"
    assert frame["id"].is_monotonic_increasing and frame["id"].is_unique and first + 1 not in set(frame["id"])
    assert (frame["agency"] == "Only in the last range").sum() == 50
    engine.dispose()


def test_a_write_between_the_readers_snapshots_is_read_again(columnar_url, monkeypatch):
    """Readers of different id ranges each read their own snapshot. When a Review merge commits after
    the first range was read and before the last one is, the two snapshots differ (their data
    versions do) and the frame is read again, so it never mixes the data before and after the merge."""
    monkeypatch.setattr(store, "_PARALLEL_FROM_ROWS", 1)
    monkeypatch.setattr(store, "_FRAME_READERS", 2)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    engine = store.connect(columnar_url)
    with engine.begin() as conn:
        import_id = _new_import(conn)
        conn.execute(store.reports.insert(), _hand_rows(import_id, 200, 0))
        store.bump_data_version(conn, reports=200)
        first = conn.execute(sa.select(sa.func.min(store.reports.c.id))).scalar_one()
    read_part = store._read_frame_part
    first_range_read = threading.Event()
    calls = []

    def interleaved(dialect, source, sql, capacity):
        calls.append(sql)
        if len(calls) > 2:  # read again: no write this time
            return read_part(dialect, source, sql, capacity)
        if "reports.id >" not in sql:  # the first range: read, then let the write happen
            try:
                return read_part(dialect, source, sql, capacity)
            finally:
                first_range_read.set()
        assert first_range_read.wait(60)
        with engine.begin() as conn:  # a report of the first range merged into another, as Review does
            conn.execute(
                store.reports.update().where(store.reports.c.id == first + 3).values(merged_into=first)
            )
            store.bump_data_version(conn, reports=-1)
        return read_part(dialect, source, sql, capacity)

    monkeypatch.setattr(store, "_read_frame_part", interleaved)
    frame = _same_frame(engine)
    assert len(calls) >= 4, "the readers' snapshots differed, so the frame was read again"
    assert len(frame) == 199 and first + 3 not in set(frame["id"])
    engine.dispose()


@pytest.mark.parametrize("child_from_rows", [0, 10**9], ids=["columnar", "row-cursor"])
def test_the_read_sees_committed_reports_only_while_an_import_writes(tmp_path, monkeypatch, child_from_rows):
    """On SQLite an app reads while an import's transaction is open (WAL): the read neither waits for it
    nor sees its rows until it commits."""
    monkeypatch.setattr(store, "_SQLITE_CHILD_FROM_ROWS", child_from_rows)
    engine = store.connect(f"sqlite:///{tmp_path / 'busy.sqlite'}")
    with engine.begin() as conn:
        import_id = _new_import(conn)
        conn.execute(store.reports.insert(), _hand_rows(import_id, 40, 0))
        store.bump_data_version(conn, reports=40)
    with engine.begin() as conn:
        conn.execute(store.reports.insert(), _hand_rows(import_id, 60, 40))
        assert len(store.load_reports(engine)) == 40, "the import has not committed yet"
    assert len(store.load_reports(engine)) == 100
    engine.dispose()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_sqlite_in_memory_is_read_with_the_row_cursor(url):
    """Only the engine's own connection sees an in-memory database, so there is no columnar reader."""
    engine = store.open_engine(url)
    assert store._columnar_source(engine) is None


def test_a_sqlite_file_is_never_read_through_a_second_copy_of_sqlite(tmp_path):
    """The app writes through Python's sqlite3; a reader linking its own SQLite in the same process
    would release sqlite3's file locks (the 'disk I/O error' an app process met), so none is loaded."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'one-sqlite.sqlite'}"
    engine = store.connect(url)
    with engine.begin() as conn:
        import_id = _new_import(conn)
        conn.execute(store.reports.insert(), _hand_rows(import_id, 30, 0))
        store.bump_data_version(conn, reports=30)
    engine.dispose()
    script = (
        "import sys; from hoth_geo import store; store._SQLITE_CHILD_FROM_ROWS = 0; "
        "n = len(store.load_reports(store.connect(sys.argv[1]))); "
        "print(n, sorted(m for m in sys.modules if m.startswith('adbc_driver_sqlite')))"
    )
    out = subprocess.run([sys.executable, "-c", script, url], capture_output=True, text=True, check=True)
    assert out.stdout.split(maxsplit=1) == ["30", "[]\n"]


def test_a_failing_sqlite_reader_says_what_sqlite_said(tmp_path, monkeypatch):
    """The child reader's failure reaches the app as an error carrying SQLite's own message, never as
    an empty frame."""
    monkeypatch.setattr(store, "_SQLITE_CHILD_FROM_ROWS", 0)
    engine = store.connect(f"sqlite:///{tmp_path / 'broken.sqlite'}")
    monkeypatch.setattr(store, "_arrow_frame_sql", lambda *a, **k: "SELECT * FROM no_such_table")
    with pytest.raises(RuntimeError, match="no such table: no_such_table"):
        store.load_reports(engine)
    engine.dispose()


def test_the_app_writes_between_columnar_reads_of_a_sqlite_file(tmp_path, monkeypatch):
    """The failure the second copy of SQLite caused: an app process that reads the frame and then
    writes (an import, a Review merge) must write without error, and its next read sees the write."""
    monkeypatch.setattr(store, "_SQLITE_CHILD_FROM_ROWS", 0)
    url = f"sqlite:///{tmp_path / 'app.sqlite'}"
    engine = store.connect(url)
    assert store._columnar_source(engine) is not None
    for round_ in range(3):
        with engine.begin() as conn:
            import_id = _new_import(conn)
            conn.execute(store.reports.insert(), _hand_rows(import_id, 25, 25 * round_))
            store.bump_data_version(conn, reports=25)
        assert len(store.load_reports(engine)) == 25 * (round_ + 1)
    engine.dispose()


def test_a_small_sqlite_frame_is_read_by_the_cursor_without_starting_a_reader(tmp_path, monkeypatch):
    """Starting the reader process costs more than the cursor's read of a few thousand reports."""
    engine = store.connect(f"sqlite:///{tmp_path / 'small.sqlite'}")
    with engine.begin() as conn:
        import_id = _new_import(conn)
        conn.execute(store.reports.insert(), _hand_rows(import_id, 40, 0))
        store.bump_data_version(conn, reports=40)

    def no_child(*args, **kwargs):
        raise AssertionError("a reader process was started for 40 reports")

    monkeypatch.setattr(store, "_load_reports_arrow", no_child)
    assert len(store.load_reports(engine)) == 40
    engine.dispose()
