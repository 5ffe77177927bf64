"""Imports on SQLite and PostgreSQL, and PostgreSQL's bulk path (COPY) beside a plain executemany.

Run: .venv/bin/python benchmarks/bench_store_backends.py [--rows 100000] [--pg URL]
The PostgreSQL server defaults to $HOTH_GEO_TEST_PG_URL (scripts/test.sh starts one; any database on the
server, this script creates and drops its own beside it). Prints plain-text figures, each beside its peer
measured in the same run: the whole import (parse, geocode, H3, store) on each backend, then the store's
insert of the same reports frame with COPY and with SQLAlchemy's executemany.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
from bench_pipeline import synthetic_form

from hoth_geo import store
from hoth_geo.intake import pipeline


def _new_pg_database(server: sa.URL) -> tuple[str, str]:
    name = f"hoth_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return server.set(database=name).render_as_string(hide_password=False), name


def _drop_pg_database(server: sa.URL, name: str) -> None:
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _import(url: str, path: Path) -> tuple[float, int]:
    engine = store.connect(url)
    start = time.perf_counter()
    summary = pipeline.import_file(engine, path)
    seconds = time.perf_counter() - start
    engine.dispose()
    return seconds, summary.n_accepted


def _insert(url: str, frame, *, executemany: bool) -> float:
    engine = store.connect(url)
    columns = [c.name for c in store.reports.columns if c.name != "id"]
    with engine.begin() as conn:
        import_id = store.insert_import(
            conn, filename="bench", file_sha256="0" * 64, fmt="sharing_form", is_demo=False, imported_by=None
        )
        start = time.perf_counter()
        if executemany:
            rows = frame.assign(import_id=import_id, is_demo=False)[columns]
            records = [
                {k: (None if v != v else v) for k, v in r.items()}  # NaN -> NULL
                for r in rows.astype(object).to_dict("records")
            ]
            conn.execute(store.reports.insert(), records)
        else:
            store.insert_reports(conn, import_id, frame, is_demo=False)
        seconds = time.perf_counter() - start
    engine.dispose()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--pg", default=os.environ.get("HOTH_GEO_TEST_PG_URL"))
    args = parser.parse_args()
    if not args.pg:
        parser.error("a PostgreSQL server is needed: --pg URL or $HOTH_GEO_TEST_PG_URL")
    server = sa.make_url(args.pg)
    n = args.rows
    with tempfile.TemporaryDirectory() as tmp:
        form = Path(tmp) / "form.csv"
        form.write_bytes(synthetic_form(n))
        sqlite_url = f"sqlite:///{tmp}/bench.sqlite"
        pg_url, pg_name = _new_pg_database(server)
        try:
            print(f"whole import of a {n:,}-row sharing-form file")
            for label, url in (("SQLite", sqlite_url), ("PostgreSQL (COPY)", pg_url)):
                seconds, accepted = _import(url, form)
                print(f"  {label:<28} {seconds:6.2f} s  {accepted / seconds:9,.0f} accepted rows/s")

            frame = store.report_details(store.connect(sqlite_url), range(1, n + 1))
            print(f"store insert only: the same {len(frame):,} geocoded reports into an empty database")
            for label, executemany in (("PostgreSQL COPY", False), ("PostgreSQL executemany (peer)", True)):
                url, name = _new_pg_database(server)
                try:
                    seconds = _insert(url, frame, executemany=executemany)
                finally:
                    _drop_pg_database(server, name)
                print(f"  {label:<28} {seconds:6.2f} s  {len(frame) / seconds:9,.0f} rows/s")
            seconds = _insert(f"sqlite:///{tmp}/insert.sqlite", frame, executemany=False)
            print(
                f"  {'SQLite executemany (peer)':<28} {seconds:6.2f} s  {len(frame) / seconds:9,.0f} rows/s"
            )
        finally:
            _drop_pg_database(server, pg_name)


if __name__ == "__main__":
    main()
