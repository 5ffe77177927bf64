"""Setting up an area and building its gazetteer, timed on the shared open data.

Run: .venv/bin/python benchmarks/bench_area.py [SHARED_DATA_DIR] [--copies 8]

Builds a Code-Point Open zip in the published layout (Data/CSV/*.csv, Doc/ headers) from the four
shared postcode areas, repeated ``--copies`` times under other file names to stand in for more of
Great Britain (the real GB zip holds ~1.7M rows in 120 files), sets Darlington as the area from its
LSOA polygons, builds its gazetteer from that zip and the five Durham police.uk months, and imports
those months. Prints rows read per second for each step.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_DIR))

from hoth_geo import store  # noqa: E402
from hoth_geo.intake import area as area_mod  # noqa: E402
from hoth_geo.intake import pipeline  # noqa: E402
from hoth_geo.intake.area_gazetteer import build_gazetteer_for_area, describe_report  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("shared", nargs="?", type=Path, default=REPO_DIR.parent / "shared" / "data")
    parser.add_argument("--copies", type=int, default=8, help="copies of the four postcode areas in the zip")
    args = parser.parse_args(argv)
    shared = args.shared
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cp = shared / "codepoint_open"
        zpath = tmp / "codepo_gb.zip"
        with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
            for i in range(args.copies):
                for name in ("dh", "dl", "sr", "ts"):
                    zf.write(cp / f"{name}.csv", f"Data/CSV/{name}{'' if i == 0 else i}.csv")
            zf.write(cp / "Code-Point_Open_Column_Headers.csv", "Doc/Code-Point_Open_Column_Headers.csv")
        db = f"sqlite:///{tmp / 'bench.sqlite'}"
        engine = store.connect(db)
        boundary = shared / "boundaries_martinjc" / "statistical_eng_lsoa_by_lad_E06000005.json"

        t0 = time.perf_counter()
        result = area_mod.set_area(boundary, "Darlington", db_url=db, engine=engine)
        t_set = time.perf_counter() - t0

        months = sorted((shared / "policeuk_durham").glob("*.csv"))
        t0 = time.perf_counter()
        report = build_gazetteer_for_area(result.area, codepoint=[zpath], policeuk=months)
        t_build = time.perf_counter() - t0
        cp_read = report["sources"][0]["read"]
        pu_read = report["sources"][1]["read"]

        gaz = area_mod.gazetteer_for(area_mod.current_area(db))
        t0 = time.perf_counter()
        n_read = n_out = 0
        for m in months:
            s = pipeline.import_file(engine, m, gazetteer=gaz)
            n_read += s.n_read
            n_out += s.n_out_of_area
        t_import = time.perf_counter() - t0

    print(f"set area (65 LSOA polygons dissolved)     {t_set * 1000:8.0f} ms")
    print(
        f"build gazetteer                          {t_build:8.2f} s   "
        f"({cp_read:,} Code-Point rows + {pu_read:,} police.uk rows: {(cp_read + pu_read) / t_build:,.0f} rows/s)"
    )
    for line in describe_report(report):
        print(f"  {line}")
    print(
        f"import 5 police.uk months                {t_import:8.2f} s   "
        f"({n_read:,} rows, {n_out:,} outside Darlington: {n_read / t_import:,.0f} rows/s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
