"""After the area's gazetteer is built: rows waiting in Review located again, and stored reports' radii
stated again, timed on the shared open data.

Run: .venv/bin/python benchmarks/bench_locate_again.py [SHARED_DATA_DIR] [--rows 20000]

Sets Darlington as the area (no gazetteer yet) and imports a sharing-form file of ``--rows`` rows: four
in five give a Darlington postcode unit, one in ten a sector, one in ten only a description. Every row
waits in Review (nothing can be looked up). Then builds the gazetteer from Code-Point Open and times
``review.locate_again`` over all of them. Beside it, the peer: importing the same file into a second
database whose gazetteer is already built (what the rows would have cost had the gazetteer come first).
Then ``restate.widen_stored_radii`` over the reports now stored (a rebuild with the same inputs: nothing
to widen, every report read and compared), beside the peer of a plain read of the same columns.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

REPO_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_DIR))

from hoth_geo import settings, store  # noqa: E402
from hoth_geo.intake import area as area_mod  # noqa: E402
from hoth_geo.intake import pipeline, restate, review  # noqa: E402
from hoth_geo.intake.area_gazetteer import build_gazetteer_for_area  # noqa: E402
from hoth_geo.schema import TEMPLATE_COLUMNS  # noqa: E402

DARLINGTON = "E06000005"


REVIEW_PAGE = 500  # hoth_geo.ui.pages.review.ROWS_LISTED, without importing the page (and Streamlit)


def _form(n: int, units: list[str], path: Path) -> Path:
    rng = np.random.default_rng(7)
    kind = rng.choice(["unit", "sector", "text"], size=n, p=[0.8, 0.1, 0.1])
    unit = rng.choice(units, size=n)
    postcode = np.where(kind == "unit", unit, np.where(kind == "sector", [u[:-2] for u in unit], ""))
    days = rng.integers(0, 365, size=n)
    rows = pd.DataFrame({c: "" for c in TEMPLATE_COLUMNS}, index=range(n))
    rows["Source reference"] = [f"BENCH-{i:07d}" for i in range(n)]
    rows["Date observed"] = (pd.Timestamp("2025-11-01") + pd.to_timedelta(days, unit="D")).strftime(
        "%d/%m/%Y"
    )
    rows["Reporting agency"] = "Benchmark Outreach (synthetic)"
    rows["Agency type"] = "vcs"
    rows["Postcode"] = postcode
    rows["Location"] = np.where(kind == "text", "behind the shops", "")
    rows["Concerns"] = "CCE"
    rows["Narrative"] = "Synthetic benchmark row."
    rows.to_csv(path, index=False)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("shared", nargs="?", type=Path, default=REPO_DIR.parent / "shared" / "data")
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args(argv)
    cp = args.shared / "codepoint_open"
    boundary = args.shared / "boundaries_martinjc" / f"statistical_eng_lsoa_by_lad_{DARLINGTON}.json"
    with open(cp / "dl.csv", newline="") as fh:
        units = [r[0] for r in csv.reader(fh) if r[8] == DARLINGTON and r[1] != "90"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ[settings.AREA_DIR_ENV] = str(tmp / "areas")  # the area stays in this run's folder
        zpath = tmp / "codepo_gb.zip"
        with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.write(cp / "dl.csv", "Data/CSV/dl.csv")
            zf.write(cp / "Code-Point_Open_Column_Headers.csv", "Doc/Code-Point_Open_Column_Headers.csv")
        form = _form(args.rows, units, tmp / "early.csv")

        db = f"sqlite:///{tmp / 'waiting.sqlite'}"
        engine = store.connect(db)
        area = area_mod.set_area(boundary, "Darlington", db_url=db, engine=engine).area
        t0 = time.perf_counter()
        before = pipeline.import_file(engine, form)
        t_import_waiting = time.perf_counter() - t0
        # Review's pages of the backlog, the first and the last screenful (read as the page reads them).
        t0 = time.perf_counter()
        first_page = review.needs_location(engine, limit=REVIEW_PAGE)
        t_first_page = time.perf_counter() - t0
        last_start = (before.n_quarantined - 1) // REVIEW_PAGE * REVIEW_PAGE
        t0 = time.perf_counter()
        last_page = review.needs_location(engine, limit=REVIEW_PAGE, offset=last_start)
        t_last_page = time.perf_counter() - t0
        build_gazetteer_for_area(area, codepoint=[zpath])
        gaz = area_mod.gazetteer_for(area)

        t0 = time.perf_counter()
        result = review.locate_again(engine, gaz, actor="bench")
        t_again = time.perf_counter() - t0

        t0 = time.perf_counter()
        restated = restate.widen_stored_radii(engine, gaz, actor="bench")
        t_restate = time.perf_counter() - t0
        t0 = time.perf_counter()
        with engine.connect() as conn:
            n_peer_read = len(
                pd.read_sql(
                    "SELECT id, geocode_method, postcode, place_id, precision_m, place_name, location_text,"
                    " latitude, longitude FROM reports",
                    conn,
                )
            )
        t_peer_read = time.perf_counter() - t0

        peer_db = f"sqlite:///{tmp / 'peer.sqlite'}"
        peer_engine = store.connect(peer_db)
        t0 = time.perf_counter()
        peer = pipeline.import_file(peer_engine, form, gazetteer=gaz)
        t_peer = time.perf_counter() - t0

    print(f"rows imported before the gazetteer: {before.n_read:,} ({before.n_quarantined:,} wait in Review)")
    print(f"  import {t_import_waiting:6.2f} s")
    print(
        f"Review's first page ({len(first_page):,} rows) {t_first_page:6.3f} s; its last, from row"
        f" {last_start + 1:,} ({len(last_page):,} rows) {t_last_page:6.3f} s"
    )
    print(
        f"locate again: {result.n_tried:,} tried, {len(result.located):,} located  "
        f"{t_again:6.2f} s = {result.n_tried / t_again:,.0f} rows/s"
    )
    print(
        f"peer: the same file imported with the gazetteer built ({peer.n_accepted:,} stored)  "
        f"{t_peer:6.2f} s = {peer.n_read / t_peer:,.0f} rows/s"
    )
    print(
        f"restate radii: {restated.n_checked:,} reports read again, {restated.n_widened:,} widened  "
        f"{t_restate:6.2f} s = {restated.n_checked / t_restate:,.0f} reports/s"
    )
    print(f"peer: a plain read of the same columns ({n_peer_read:,} reports)  {t_peer_read:6.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
