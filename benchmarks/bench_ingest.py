"""Throughput of read_table + normalise_sharing_form on synthetic sharing-form exports.

    .venv/bin/python benchmarks/bench_ingest.py [--rows 100000] [--repeat 3]

The whole import (ingest, geocode, store) has to beat 50,000 rows/s, so ingest on its own
should manage well over 100,000 rows/s. Everything here is synthetic and generated in memory.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

# Runnable from a plain checkout, whether or not the package is installed into the venv.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hoth_geo import schema  # noqa: E402
from hoth_geo.intake.files import read_table
from hoth_geo.intake.sharing_form import normalise_sharing_form

TODAY = date(2025, 6, 30)

AGENCIES = [
    ("Example Academy Trust", "School / education"),
    ("Example Youth Project", "Youth service"),
    ("Example Health Trust", "NHS"),
    ("Example Housing Group", "Housing association"),
    ("Example Taxi Licensing Team", "Taxi licensing"),
    ("Example Guest House Association", "Hotel"),
]
PLACE_TYPES = [
    "Takeaway",
    "chip shop",
    "Park",
    "Hotel / B&B",
    "taxi rank",
    "Bus station",
    "Car park",
    "Shop",
    "",
]
CONCERNS = ["County lines; CSE", "Missing", "Drugs / alcohol", "cce|weapons", "People of concern", "ASB", ""]
INDICATORS = ["Missing from home, whereabouts unknown; gifts", "Unknown adults", "truancy", "", "Phone"]
GRADING = ["1A P", "2/B/C", "3EC", "", "1AP"]


def synthetic_rows(n: int, seed: int = 7) -> pd.DataFrame:
    """n synthetic reports in the template layout: a mix of coordinates and postcodes, day-first dates."""
    rng = np.random.default_rng(seed)
    days = rng.integers(0, 880, n)
    observed = pd.Timestamp("2023-01-01") + pd.to_timedelta(days, unit="D")
    received = observed + pd.to_timedelta(rng.integers(0, 20, n), unit="D")
    has_coords = rng.random(n) < 0.5
    lat = np.round(54.55 + rng.random(n) * 0.35, 6)
    lon = np.round(-1.95 + rng.random(n) * 0.6, 6)
    district = rng.integers(1, 10, n)
    sector = rng.integers(1, 9, n)
    unit = np.array(["AB", "BD", "EF", "HJ", "LN", "PQ", "RT", "UW"])[rng.integers(0, 8, n)]
    postcode = pd.Series([f"DH{d} {s}{u}" for d, s, u in zip(district, sector, unit, strict=True)])
    agency = rng.integers(0, len(AGENCIES), n)
    minutes = rng.integers(0, 24 * 60, n)
    frame = pd.DataFrame(
        {
            "Source reference": [f"SYN-{i:07d}" for i in range(n)],
            "Date received": received.strftime("%d/%m/%Y"),
            "Date observed": observed.strftime("%d/%m/%Y"),
            "Time observed": [f"{m // 60:02d}:{m % 60:02d}" if m % 3 else "" for m in minutes],
            "Reporting agency": [AGENCIES[a][0] for a in agency],
            "Agency type": [AGENCIES[a][1] for a in agency],
            "Location": np.where(has_coords, "", "Synthetic Street"),
            "Place name": "",
            "Place type": np.asarray(PLACE_TYPES, dtype=object)[rng.integers(0, len(PLACE_TYPES), n)],
            "Postcode": np.where(has_coords, "", postcode),
            "Latitude": np.where(has_coords, lat.astype(str), ""),
            "Longitude": np.where(has_coords, lon.astype(str), ""),
            "Easting": "",
            "Northing": "",
            "Setting": np.where(rng.random(n) < 0.03, "Online", ""),
            "Concerns": np.asarray(CONCERNS, dtype=object)[rng.integers(0, len(CONCERNS), n)],
            "Indicators": np.asarray(INDICATORS, dtype=object)[rng.integers(0, len(INDICATORS), n)],
            "Source grading": "",
            "Information grading": "",
            "Handling code": "",
            "Narrative": [
                f"Synthetic example report {i}: young person seen with older males." for i in range(n)
            ],
            "Child reference": [f"SYN-CHILD-{c:05d}" for c in rng.integers(0, 5000, n)],
        },
        columns=list(schema.TEMPLATE_COLUMNS),
    )
    frame.insert(18, "Grading", np.asarray(GRADING, dtype=object)[rng.integers(0, len(GRADING), n)])
    return frame


def run(n: int, repeat: int) -> None:
    data = synthetic_rows(n).to_csv(index=False).encode("utf-8")
    print(f"{n:,} synthetic rows, {len(data) / 1e6:.1f} MB CSV")
    # Best of `repeat` runs, as wall-clock and as this process's CPU time: on a shared machine the
    # CPU figure is the steadier measure of the code itself.
    best = {"read": [float("inf")] * 2, "normalise": [float("inf")] * 2}
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        frame = read_table(io.BytesIO(data), "bench.csv")
        w1, c1 = time.perf_counter(), time.process_time()
        result = normalise_sharing_form(frame, today=TODAY)
        w2, c2 = time.perf_counter(), time.process_time()
        best["read"] = [min(best["read"][0], w1 - w0), min(best["read"][1], c1 - c0)]
        best["normalise"] = [min(best["normalise"][0], w2 - w1), min(best["normalise"][1], c2 - c1)]
        if result.n_read != len(result.rows) + len(result.quarantine):
            raise SystemExit("rows and quarantine do not reconcile")
    best["ingest total"] = [best["read"][i] + best["normalise"][i] for i in (0, 1)]
    print(f"{'':24s}{'wall s':>8s}{'rows/s':>12s}{'cpu s':>8s}{'rows/s':>12s}")
    for label, (wall, cpu) in best.items():
        print(f"{label:24s}{wall:8.3f}{n / wall:12,.0f}{cpu:8.3f}{n / cpu:12,.0f}")
    print(f"kept {len(result.rows):,}, quarantined {len(result.quarantine):,}; warnings: {result.warnings}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    run(args.rows, args.repeat)


if __name__ == "__main__":
    main()
