"""Benchmark (not a test): the app's working set with many reports.

Writes --rows synthetic reports (default 1,000,000; --rows 10000000 for the 10M figures) straight into
a fresh database (SQLite by default; PostgreSQL with --db or HOTH_GEO_TEST_PG_URL and --pg), then, each
in a fresh process so memory figures do not mix:

* frame: ``store.load_reports`` (the lean analysis frame, read in a columnar way through ADBC), cold
  in --cold-runs fresh processes — load time, peak RSS and the frame's size; and once the same frame
  by the row cursor it replaced (``store._load_reports_rows``);
* peer: the ADBC driver alone reading the same SELECT into one Arrow table (the floor of the columnar
  read), a plain ``sqlite3``/driver cursor + pandas read of the same columns, and an SQL GROUP BY of
  reports per hexagon (what a database answers without loading anything);
* rerun: what the app's server does on a sidebar filter change, timed without a browser — the
  data-version read, the filter, the aggregation to hexagons and the map build (``maps.hex_map``),
  median of --reruns reruns with a different concern each time;
* app: one analyst session in Streamlit's AppTest, in --cold-runs fresh processes: the sign-in page,
  then "Sign in" clicked until the Hotspot map is drawn (the cold first map: authentication, the
  frame read, the page), three filter changes, and the process's RSS after them.

    .venv/bin/python benchmarks/bench_app_memory.py                # 1M rows, SQLite
    .venv/bin/python benchmarks/bench_app_memory.py --rows 10000000
    .venv/bin/python benchmarks/bench_app_memory.py --pg           # also PostgreSQL (HOTH_GEO_TEST_PG_URL)

The generated database is kept under --workdir (reused when it already holds --rows reports); with --pg
it is the database hoth_geo_bench_app_ROWS on that server, also kept for reuse (drop it when done).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_DIR))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from hoth_geo import settings, store  # noqa: E402
from hoth_geo.hexes import latlng_to_cells  # noqa: E402
from hoth_geo.schema import AGENCY_TYPES, CONCERNS, INDICATORS, PLACE_TYPES, keys_to_mask  # noqa: E402

CENTRES = [(54.7761, -1.5733), (54.5235, -1.5525), (54.6640, -1.6770), (54.8575, -1.5750), (54.7, -1.9)]
CHUNK = 200_000


def _chunk(rng: np.random.Generator, start: int, n: int, import_id: int) -> pd.DataFrame:
    """``n`` synthetic reports with realistic shapes: 40 agencies, 16 place types, 1-2 concerns, a
    200-character narrative and a child reference (free text the lean frame must leave out)."""
    ids = np.arange(start, start + n)
    centre = rng.integers(0, len(CENTRES), n)
    lat = np.array([c[0] for c in CENTRES])[centre] + rng.normal(0, 0.03, n)
    lon = np.array([c[1] for c in CENTRES])[centre] + rng.normal(0, 0.05, n)
    online = rng.random(n) < 0.04
    h3 = latlng_to_cells(lat, lon, settings.FINE_H3_RES)
    h3[online] = 0
    concern_keys = np.array(list(CONCERNS))
    first = concern_keys[rng.integers(0, len(concern_keys), n)]
    second = np.where(rng.random(n) < 0.4, concern_keys[rng.integers(0, len(concern_keys), n)], "")
    concerns = ["|".join(sorted({a, b} - {""})) for a, b in zip(first, second, strict=True)]
    indicator_keys = np.array(list(INDICATORS))
    indicators = indicator_keys[rng.integers(0, len(indicator_keys), n)]
    observed = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 3 * 365 * 24 * 60, n), unit="min")
    agency_no = rng.integers(0, 40, n)
    time_known = rng.random(n) < 0.7
    return pd.DataFrame(
        {
            "import_id": import_id,
            "row_number": ids + 1,
            "fingerprint": [f"{i:040x}" for i in ids],
            "identity": [f"bench:{i}" for i in ids],
            "merged_into": None,
            "date_received": observed + pd.Timedelta(days=2),
            "observed_at": observed,
            "time_known": time_known,
            "date_approximate": rng.random(n) < 0.05,
            "online": online,
            "latitude": np.where(online, np.nan, lat),
            "longitude": np.where(online, np.nan, lon),
            "geocode_confidence": np.where(online, np.nan, 0.9),
            "precision_m": np.where(online, np.nan, rng.choice([10.0, 50.0, 400.0], n)),
            "h3": h3,
            "concerns": concerns,
            "indicators": indicators,
            "concerns_mask": keys_to_mask(concerns, CONCERNS),
            "indicators_mask": keys_to_mask(indicators, INDICATORS),
            "is_demo": False,
            "source_ref": [f"BENCH-{i:08d}" for i in ids],
            "agency": [f"Synthetic Agency {a}" for a in agency_no],
            "agency_type": np.array(list(AGENCY_TYPES))[agency_no % len(AGENCY_TYPES)],
            "location_text": [f"{i % 500} Synthetic Street" for i in ids],
            "place_type": np.where(online, "online", np.array(list(PLACE_TYPES))[rng.integers(0, 15, n)]),
            "grading_source": rng.choice(["1", "2", "3"], n),
            "grading_information": rng.choice(list("ABCDE"), n),
            "grading_handling": "P",
            "narrative": [
                f"Synthetic narrative {i}: " + "seen near the venue with older youths. " * 4 for i in ids
            ],
            "child_ref": [f"SYN-CHILD-{i % 50_000}" for i in ids],
            "geocode_method": np.where(online, "online", "coordinates_wgs84"),
            # A tenth of the unknown times were given in words.
            "time_text": np.where(~time_known & (rng.random(n) < 0.1), "after school", None),
        }
    )


def generate(url: str, rows: int, seed: int = 7) -> None:
    engine = store.connect(url)
    have = store.data_version(engine).n_reports
    if have == rows:
        print(f"reusing {url} with {rows:,} reports")
        return
    if have:
        raise SystemExit(f"{url} holds {have:,} reports, not {rows:,}: use another --workdir or drop it")
    rng = np.random.default_rng(seed)
    t = time.perf_counter()
    with engine.begin() as conn:
        import_id = store.insert_import(
            conn,
            filename="bench.csv",
            file_sha256="0" * 64,
            fmt="sharing_form",
            is_demo=False,
            imported_by=None,
        )
        for start in range(0, rows, CHUNK):
            frame = _chunk(rng, start, min(CHUNK, rows - start), import_id)
            cols = [c.name for c in store.reports.columns if c.name in frame.columns]
            store._bulk_insert(conn, store.reports, frame, cols)
            print(f"  {start + len(frame):,} rows written", flush=True)
        store.bump_data_version(conn, reports=rows)
    print(f"generated {rows:,} reports in {time.perf_counter() - t:.0f} s")
    engine.dispose()


# --- the measurements, each run in a fresh process (python bench_app_memory.py --measure KIND URL) --------


def _peak_rss_mb() -> float:
    """This process's own peak: ``VmHWM``, not ``getrusage``'s ru_maxrss, which Linux keeps across
    exec, so a measuring process started by this script would report the script's own peak (the
    million reports it has just written) as its own."""
    return _status_mb("VmHWM")


def _rss_mb() -> float:
    return _status_mb("VmRSS")


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure_frame(url: str, path: str = "columnar") -> dict:
    """``store.load_reports`` cold (a fresh process: nothing cached, drivers not yet imported); with
    path "rows", the row-cursor read it replaced on SQLite and PostgreSQL (``_load_reports_rows``); with
    "one-reader", the columnar read by one connection."""
    engine = store.connect(url)
    if path == "one-reader":  # the columnar read by one connection (large frames are read by two)
        store._FRAME_READERS = 1
    read = store._load_reports_rows if path == "rows" else store.load_reports
    base = _rss_mb()
    t = time.perf_counter()
    frame = read(engine)
    seconds = time.perf_counter() - t
    return {
        "rows": len(frame),
        "seconds": seconds,
        "frame_mb": frame.memory_usage(deep=True).sum() / 2**20,
        "rss_mb": _rss_mb(),
        "peak_rss_mb": _peak_rss_mb(),
        "baseline_rss_mb": base,
    }


def measure_peer(url: str, read: bool = True) -> dict:
    """The same columns read by the driver's own cursor into pandas, and an SQL GROUP BY per hexagon."""
    engine = store.open_engine(url)
    cols = ", ".join(
        '(time_text IS NOT NULL) AS "time_in_words"' if c == "time_in_words" else f'"{c}"'
        for c in store.ANALYSIS_COLUMNS
    )
    base = _rss_mb()
    read_s = read_rss = float("nan")
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        cur = raw.cursor()
        if read:
            t = time.perf_counter()
            cur.execute(f"SELECT {cols} FROM reports WHERE merged_into IS NULL")  # noqa: S608
            frame = pd.DataFrame(cur.fetchall(), columns=list(store.ANALYSIS_COLUMNS))
            frame["observed_at"] = pd.to_datetime(frame["observed_at"])
            read_s = time.perf_counter() - t
            read_rss = _peak_rss_mb()
            del frame
        t = time.perf_counter()
        cur.execute("SELECT h3, count(*) FROM reports WHERE merged_into IS NULL AND h3 != 0 GROUP BY h3")
        n_cells = len(cur.fetchall())
        group_s = time.perf_counter() - t
    engine.dispose()
    arrow_s = float("nan")
    source = store._columnar_source(engine)
    if source is not None:  # the driver alone: the same SELECT into one Arrow table, nothing converted
        sql = store._arrow_frame_sql(engine)
        t = time.perf_counter()
        with store._record_batches(engine.dialect.name, source, sql) as batches:
            batches.read_all()  # an Arrow RecordBatchReader (SQLite's from the child process)
        arrow_s = time.perf_counter() - t
    return {
        "arrow_seconds": arrow_s,
        "read_seconds": read_s,
        "read_peak_rss_mb": read_rss,
        "groupby_seconds": group_s,
        "groupby_cells": n_cells,
        "baseline_rss_mb": base,
    }


def measure_rerun(url: str, reruns: int) -> dict:
    """The server-side work of a filter change once the frame is cached, as the Hotspot map page does
    it: data version, filter + aggregation, the hexagons described in words, the folium map."""
    from hoth_geo.analysis import aggregate
    from hoth_geo.deliver import maps, wayfinding
    from hoth_geo.intake.area import current_area, gazetteer_for
    from hoth_geo.selection import ReportFilter

    engine = store.connect(url)
    frame = store.load_reports(engine)
    gaz = gazetteer_for(current_area(url))
    res = settings.DEFAULT_MAP_RES
    keys = list(CONCERNS)
    parts = ("version", "filter_aggregate", "describe", "map")
    times: dict[str, list[float]] = {k: [] for k in (*parts, "total")}
    for i in range(reruns):
        marks = [time.perf_counter()]
        store.data_version(engine)
        marks.append(time.perf_counter())
        hexes = aggregate.aggregate_hexes(frame, res, ReportFilter(concerns=(keys[i % len(keys)],)))
        marks.append(time.perf_counter())
        where = wayfinding.describe_cells(hexes["h3"].tolist(), res, gaz.streets, gaz.places)
        marks.append(time.perf_counter())
        fmap = maps.build_hex_map(
            hexes.assign(where=where.tolist()),
            tooltip_cols={"where": "Where", **aggregate.BREAKDOWN_LABELS},
            legend_title="Reports per hexagon",
        )
        maps.prepare_for_streamlit(fmap).get_root().render()
        marks.append(time.perf_counter())
        for k, a, b in zip(parts, marks, marks[1:], strict=False):
            times[k].append(b - a)
        times["total"].append(marks[-1] - marks[0])
    out = {f"{k}_ms": 1000 * float(np.median(v)) for k, v in times.items()}
    out["hexes"] = len(hexes)
    out["res"] = res
    return out


def _map_page() -> None:
    from hoth_geo.ui.main import main

    main(start_page="map")


def measure_app(url: str) -> dict:
    """One analyst session on the Hotspot map in Streamlit's own script runner (AppTest) in this
    process: the sign-in page, then the analyst signs in with a username and password and the app
    draws the first map (the cold figure: a fresh process, so the frame is read from the database),
    then a concern filter is changed three times. The process's RSS afterwards is an app server's
    working set for that database."""
    from streamlit.testing.v1 import AppTest

    from hoth_geo.access import auth

    os.environ[settings.DB_URL_ENV] = url
    engine = store.connect(url)
    if auth.first_run_needed(engine):
        auth.add_user(engine, "bench.admin", "synthetic-bench-passphrase", "admin")
    if auth.get_user(engine, "bench.analyst") is None:
        auth.add_user(engine, "bench.analyst", "synthetic-bench-passphrase", "analyst")
    engine.dispose()
    at = AppTest.from_function(_map_page, default_timeout=1800)
    t = time.perf_counter()
    at.run()
    sign_in_page_s = time.perf_counter() - t
    at.text_input(key="sign_in_username").set_value("bench.analyst")
    at.text_input(key="sign_in_password").set_value("synthetic-bench-passphrase")
    t = time.perf_counter()
    at.button[0].click().run()  # the form's "Sign in": authenticate, then the rerun that draws the map
    first_s = time.perf_counter() - t
    signed_in = not any(b.label == "Sign in" for b in at.button)
    rerun_s = []
    for concern in ("cse", "cce", "missing"):
        t = time.perf_counter()
        at.multiselect(key="f_concerns").set_value([concern]).run()
        rerun_s.append(time.perf_counter() - t)
    return {
        "sign_in_page_seconds": sign_in_page_s,
        "first_run_seconds": first_s,
        "signed_in": signed_in,
        "rerun_seconds": float(np.median(rerun_s)),
        "map_metric": [m.value for m in at.metric][:1],
        "rss_mb": _rss_mb(),
        "peak_rss_mb": _peak_rss_mb(),
        "errors": [str(e.value)[:300] for e in at.exception][:3],
    }


def _in_fresh_process(kind: str, url: str, *extra: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--measure", kind, url, *extra],
        capture_output=True,
        text=True,
        cwd=REPO_DIR,
        env={**os.environ, "PYTHONPATH": str(REPO_DIR)},
    )
    if out.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _load() -> str:
    return "load average " + " / ".join(f"{x:.1f}" for x in os.getloadavg()) + " (1 / 5 / 15 min)"


def run(url: str, rows: int, reruns: int, peer_read: bool, cold_runs: int) -> None:
    generate(url, rows)
    backend = sa.make_url(url).get_backend_name()
    print(f"{backend}: start, {_load()}", flush=True)
    frames = [_in_fresh_process("frame", url) for _ in range(cold_runs)]
    rows_read = _in_fresh_process("frame", url, "rows")
    one_reader = _in_fresh_process("frame", url, "one-reader")
    peer = _in_fresh_process("peer", url, *([] if peer_read else ["no-read"]))
    rerun = _in_fresh_process("rerun", url, str(reruns))
    apps = [_in_fresh_process("app", url) for _ in range(cold_runs)]
    frame, app = frames[0], apps[0]
    frame_s = sorted(f["seconds"] for f in frames)
    first_s = sorted(a["first_run_seconds"] for a in apps)
    print(f"\n== {backend}, {frame['rows']:,} reports ({_load()} at the end) ==")
    print(
        f"lean frame load, cold (columnar, ADBC): median {np.median(frame_s):5.2f} s of {cold_runs} fresh processes"
        f" ({', '.join(f'{x:.2f}' for x in frame_s)}), frame {frame['frame_mb']:.0f} MB,"
        f" process peak RSS {frame['peak_rss_mb']:.0f} MB (before loading {frame['baseline_rss_mb']:.0f} MB)"
    )
    print(
        f"  the same frame by the row cursor:     {rows_read['seconds']:5.2f} s,"
        f" process peak RSS {rows_read['peak_rss_mb']:.0f} MB (the read before the columnar one)"
    )
    print(
        f"  the same, columnar by one connection: {one_reader['seconds']:5.2f} s,"
        f" process peak RSS {one_reader['peak_rss_mb']:.0f} MB"
    )
    print(f"peer: the driver alone, same SELECT into Arrow: {peer['arrow_seconds']:5.2f} s")
    if peer_read:
        print(
            f"peer cursor + pandas: {peer['read_seconds']:6.2f} s, "
            f"process peak RSS {peer['read_peak_rss_mb']:.0f} MB"
        )
    else:
        print("peer cursor + pandas: skipped above 2M rows (--peer-read runs it)")
    print(f"peer SQL GROUP BY h3: {peer['groupby_seconds']:6.2f} s ({peer['groupby_cells']:,} cells)")
    print(
        f"rerun (median of {reruns}): total {rerun['total_ms']:.0f} ms = version {rerun['version_ms']:.1f} ms"
        f" + filter/aggregate {rerun['filter_aggregate_ms']:.0f} ms + hexagons in words"
        f" {rerun['describe_ms']:.0f} ms + map {rerun['map_ms']:.0f} ms"
        f" ({rerun['hexes']:,} hexagons at res {rerun['res']})"
    )
    print(
        f"cold first map (AppTest, a fresh process: 'Sign in' clicked -> Hotspot map drawn, {app['map_metric']}"
        f" on the map): median {np.median(first_s):.2f} s of {cold_runs} ({', '.join(f'{x:.2f}' for x in first_s)});"
        f" the sign-in page before it {app['sign_in_page_seconds']:.2f} s"
        + ("" if all(a["signed_in"] for a in apps) else " [SIGN-IN FAILED]")
    )
    print(
        f"app: filter change rerun {app['rerun_seconds']:.2f} s (median of 3, the whole page in AppTest),"
        f" server RSS {app['rss_mb']:.0f} MB (peak {app['peak_rss_mb']:.0f} MB)"
        + (f", errors {app['errors']}" if app["errors"] else "")
    )


def _pg_database(server_url: str | None, rows: int) -> str:
    """A database of its own on the PostgreSQL server at ``server_url`` (created once, then reused)."""
    if not server_url:
        raise SystemExit("--pg needs HOTH_GEO_TEST_PG_URL (a PostgreSQL server URL)")
    name = f"hoth_geo_bench_app_{rows}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        if not conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--measure":
        kind, url = sys.argv[2], sys.argv[3]
        result = {
            "frame": lambda: measure_frame(url, *sys.argv[4:5]),
            "peer": lambda: measure_peer(url, read=sys.argv[4:] != ["no-read"]),
            "rerun": lambda: measure_rerun(url, int(sys.argv[4])),
            "app": lambda: measure_app(url),
        }[kind]()
        print(json.dumps(result))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reruns", type=int, default=7)
    parser.add_argument(
        "--cold-runs",
        type=int,
        default=3,
        help="fresh processes for the cold frame load and the cold first map",
    )
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "hoth_geo_bench_app")
    parser.add_argument("--db", help="a PostgreSQL (or other) URL to measure instead of a new SQLite file")
    parser.add_argument("--pg", action="store_true", help="also measure PostgreSQL at HOTH_GEO_TEST_PG_URL")
    parser.add_argument(
        "--peer-read", action="store_true", help="run the row-by-row peer read above 2M rows too (large RSS)"
    )
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    urls = [args.db] if args.db else [f"sqlite:///{args.workdir / f'reports_{args.rows}.sqlite'}"]
    if args.pg:
        urls.append(_pg_database(os.environ.get("HOTH_GEO_TEST_PG_URL"), args.rows))
    print(f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs")
    # The peer's row-by-row read holds every value as a Python object (~1.4 GB per million reports).
    peer_read = args.peer_read or args.rows <= 2_000_000
    for url in urls:
        run(url, args.rows, args.reruns, peer_read, args.cold_runs)


if __name__ == "__main__":
    main()
