"""Import of a realistic sharing-form CSV into SQLite and PostgreSQL: rows/s and peak RSS, beside a peer.

Run: .venv/bin/python benchmarks/bench_import.py [--rows 1000000] [--pg-url postgresql+psycopg://...]
(PostgreSQL also runs when HOTH_GEO_TEST_PG_URL is set; a throwaway database is created on that server
and dropped afterwards.)

The file is the realistic mix of benchmarks/bench_pipeline.py (coordinates, grid references, postcodes,
place names, streets, online, rows that end in quarantine). Each measurement runs in a child process of
its own, and its peak RSS is read from outside (getrusage of the children of a one-shot wrapper), so
the figure is the whole process: interpreter, libraries, gazetteer and the import. The peer, measured in
the same run on the same file, is a bare pandas read_csv of every cell as text plus to_sql (SQLite) or
COPY (PostgreSQL) into a table of text columns: no checks, no geocoding, no duplicate rules. Beside
each wall time is the CPU time of the measured process (the PostgreSQL server's own is not counted),
which compares two versions better than the wall time on a shared machine.
Goal (issue 9): >= 50,000 rows/s and peak RSS <= 1 GB for 1,000,000 rows on both backends.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TODAY = "2026-11-01"  # the generator's dates run to 2026-10-31


def _write_file(n: int, path: Path) -> None:
    sys.path.insert(0, str(REPO / "benchmarks"))
    from bench_pipeline import realistic_form

    path.write_bytes(realistic_form(n))


# --- what runs in the child processes ------------------------------------------------------------------


def _child_import(db: str, file: Path, chunk_rows: int) -> dict:
    from datetime import date

    from hoth_geo import store
    from hoth_geo.intake import pipeline
    from hoth_geo.intake.gazetteer import load_gazetteer

    engine = store.connect(db)
    gaz = load_gazetteer()
    t0, cpu0 = time.perf_counter(), time.process_time()
    summary = pipeline.import_file(
        engine, file, gazetteer=gaz, today=date.fromisoformat(TODAY), chunk_rows=chunk_rows
    )
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    assert summary.reconciles
    return {
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "read": summary.n_read,
        "accepted": summary.n_accepted,
        "quarantined": summary.n_quarantined,
    }


def _child_peer(db: str, file: Path) -> dict:
    import io

    import pandas as pd
    import sqlalchemy as sa

    t0, cpu0 = time.perf_counter(), time.process_time()
    frame = pd.read_csv(file, dtype=str, keep_default_na=False, na_filter=False)
    engine = sa.create_engine(db)
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn:
            frame.to_sql("peer", conn, index=False, chunksize=50_000)
    else:
        with engine.begin() as conn:
            cols = ", ".join(f'"{c}" text' for c in frame.columns)
            conn.exec_driver_sql(f"CREATE TABLE peer ({cols})")
            buffer = io.StringIO()
            frame.to_csv(buffer, index=False, header=False)
            with conn.connection.driver_connection.cursor() as cur:
                with cur.copy("COPY peer FROM STDIN WITH (FORMAT csv)") as copy:
                    copy.write(buffer.getvalue())
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {"seconds": elapsed, "cpu_seconds": cpu, "read": len(frame)}


# --- the parent -----------------------------------------------------------------------------------------

_WRAPPER = (
    "import resource, subprocess, sys\n"
    "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "sys.stderr.write(done.stderr)\n"
    "print(done.stdout.strip().splitlines()[-1] if done.returncode == 0 else 'FAILED')\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def _measure(args: list[str]) -> dict:
    """Run one child (through a wrapper that only waits for it) and return its result and peak RSS."""
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    cmd = [sys.executable, "-c", _WRAPPER, sys.executable, str(Path(__file__).resolve()), *args]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - t0
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or len(lines) < 2 or lines[-2] == "FAILED":
        raise RuntimeError(f"child {args} failed:\n{done.stderr[-3000:]}")
    result = json.loads(lines[-2])
    result["peak_rss_mb"] = int(lines[-1]) / 1024  # ru_maxrss is in kilobytes on Linux
    result["wall"] = wall
    return result


def _pg_database(server_url: str) -> tuple[str, callable]:
    import sqlalchemy as sa

    server = sa.make_url(server_url)
    name = f"hoth_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return server.set(database=name).render_as_string(hide_password=False), drop


def _line(label: str, n: int, r: dict) -> str:
    # CPU seconds of the measured process (not the PostgreSQL server's): on a shared machine the wall
    # time also counts the time other people's processes held the cores, the CPU time does not.
    return (
        f"  {label:<34} {r['seconds']:7.1f} s = {n / r['seconds']:>8,.0f} rows/s   "
        f"CPU {r['cpu_seconds']:5.1f} s   peak RSS {r['peak_rss_mb']:>6,.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pg-url", default=os.environ.get("HOTH_GEO_TEST_PG_URL"))
    parser.add_argument("--chunk-rows", type=int, default=None, help="default: the import's own")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the file here (reused if present)")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--child", choices=["import", "peer"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        from hoth_geo.intake import import_stream

        chunk = args.chunk_rows or import_stream.CHUNK_ROWS
        out = (
            _child_import(args.db, args.file, chunk)
            if args.child == "import"
            else _child_peer(args.db, args.file)
        )
        print(json.dumps(out))
        return

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_import_"))
    workdir.mkdir(parents=True, exist_ok=True)
    file = workdir / f"realistic_{args.rows}.csv"
    if not file.exists():
        t0 = time.perf_counter()
        _write_file(args.rows, file)
        print(f"wrote {file} ({file.stat().st_size / 1e6:,.0f} MB) in {time.perf_counter() - t0:.0f} s")
    extra = ["--chunk-rows", str(args.chunk_rows)] if args.chunk_rows else []
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"import of {args.rows:,} sharing-form rows (realistic mix), {time.strftime('%Y-%m-%d')}, load {load}"
    )
    for backend in args.backends:
        if backend == "postgresql" and not args.pg_url:
            print("  postgresql: skipped (give --pg-url or set HOTH_GEO_TEST_PG_URL)")
            continue
        for what in ("import", "peer"):
            if backend == "sqlite":
                db_file = workdir / f"bench_{what}_{uuid.uuid4().hex[:8]}.sqlite"
                db, drop = f"sqlite:///{db_file}", db_file.unlink
            else:
                db, drop = _pg_database(args.pg_url)
            try:
                r = _measure(["--child", what, "--db", db, "--file", str(file), *extra])
            finally:
                drop()
            label = (
                f"{backend} hoth-geo import"
                if what == "import"
                else f"{backend} peer (read_csv + to_sql/COPY)"
            )
            line = _line(label, args.rows, r)
            if what == "import":
                line += f"   ({r['accepted']:,} stored, {r['quarantined']:,} quarantined)"
            print(line, flush=True)


if __name__ == "__main__":
    main()
