"""Benchmark (not a test): bringing an app process's frame up to date after an import.

An app process holds the lean analysis frame of every stored report (``store.refresh_reports``). After
an import, which only appends reports, it reads the new reports alone and puts them after the frame;
after any other write it reads the frame whole. This script writes --rows synthetic reports (the
generator of bench_app_memory.py) into a copy of a kept SQLite database (or --db, which then grows by
--added per run), reads the frame, imports a --added-row sharing-form file (bench_pipeline's
synthetic form, through ``pipeline.import_file``), then times, beside each other in the same process:

* the appended read: ``refresh_reports(engine, frame, read_at)`` after the import;
* peer: the whole read the app did before (``store.load_reports``), and the frame it gives, which the
  appended frame must equal exactly.

    .venv/bin/python benchmarks/bench_frame_refresh.py                  # 1M reports + 50,000, SQLite
    .venv/bin/python benchmarks/bench_frame_refresh.py --db "$HOTH_GEO_TEST_PG_URL"   # grows that database
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_DIR))
sys.path.insert(0, str(REPO_DIR / "benchmarks"))

import pandas as pd  # noqa: E402
from bench_app_memory import generate  # noqa: E402
from bench_pipeline import synthetic_form  # noqa: E402

from hoth_geo import store  # noqa: E402
from hoth_geo.intake import pipeline  # noqa: E402


def _load() -> str:
    return "load average " + " / ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--added", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "hoth_geo_bench_refresh"
    )
    parser.add_argument("--db", help="a database URL to measure (grows by --added every run)")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    form = args.workdir / f"form_{args.added}.csv"
    if not form.exists():
        form.write_bytes(synthetic_form(args.added, seed=11))
    if not args.db:
        kept = args.workdir / f"reports_{args.rows}.sqlite"
        generate(f"sqlite:///{kept}", args.rows)
    print(f"{args.rows:,} reports, then an import of {args.added:,} rows; {_load()}", flush=True)
    for run in range(1, args.runs + 1):
        if args.db:
            url = args.db
        else:
            copy = args.workdir / "run.sqlite"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{copy}{suffix}").unlink(missing_ok=True)
            shutil.copyfile(kept, copy)
            url = f"sqlite:///{copy}"
        engine = store.connect(url)
        frame, read_at = store.refresh_reports(engine)
        t = time.perf_counter()
        summary = pipeline.import_file(engine, form, imported_by="bench")
        import_s = time.perf_counter() - t
        t = time.perf_counter()
        refreshed, refreshed_at = store.refresh_reports(engine, frame, read_at)
        appended_s = time.perf_counter() - t
        del frame
        t = time.perf_counter()
        whole = store.load_reports(engine)
        whole_s = time.perf_counter() - t
        pd.testing.assert_frame_equal(refreshed, whole, check_exact=True, check_categorical=True)
        print(
            f"run {run}: import {summary.n_accepted:,} reports in {import_s:.1f} s; frame of {len(whole):,} "
            f"brought up to date by the appended read in {appended_s:.3f} s "
            f"(peer, the whole read: {whole_s:.2f} s); frames equal; "
            f"version {read_at.version} -> {refreshed_at.version}; {_load()}",
            flush=True,
        )
        engine.dispose()


if __name__ == "__main__":
    main()
