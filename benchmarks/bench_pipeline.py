"""Import + geocode throughput, aggregation after a filter change, and map size/build time.

Run: .venv/bin/python benchmarks/bench_pipeline.py [--sizes 100000 1000000] [--mix realistic|simple]
The realistic mix (default) is what sharing forms hold: WGS84 coordinates, grid references, postcodes
(units, sectors, districts), place names (with typos and town qualifiers), streets in the location
text, online reports, and rows that end in quarantine (unknown names and postcodes, points outside
the area, no location at all); a few rows write their time in words or their location in another form
the import reads (OTHER_FORMS). 'simple' is half coordinates, half postcodes.
Prints plain-text figures; goals (2-core machine): import of coordinate/postcode rows > 50,000 rows/s,
aggregation after a filter change < 100 ms at 1M reports, a 10,000-hex map < 1.5 MB built in < 1.5 s.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from hoth_geo import store
from hoth_geo.analysis import aggregate
from hoth_geo.deliver import maps
from hoth_geo.intake import pipeline
from hoth_geo.intake.gazetteer import load_gazetteer
from hoth_geo.schema import CONCERNS, PLACE_TYPES, TEMPLATE_COLUMNS
from hoth_geo.selection import ReportFilter


def synthetic_form(n: int, seed: int = 1) -> bytes:
    """n sharing-form rows: half WGS84 coordinates near real postcodes, half postcode-only."""
    rng = np.random.default_rng(seed)
    gaz = load_gazetteer()
    pcs = gaz.postcodes.sample(n, replace=True, random_state=seed).reset_index(drop=True)
    coords = rng.random(n) < 0.5
    days = pd.Timestamp("2024-11-01") + pd.to_timedelta(rng.integers(0, 730, n), unit="D")
    frame = pd.DataFrame({c: "" for c in TEMPLATE_COLUMNS}, index=range(n))
    frame["Source reference"] = [f"BENCH-{i:07d}" for i in range(n)]
    frame["Date observed"] = days.strftime("%d/%m/%Y")
    frame["Time observed"] = [
        f"{h:02d}:{m:02d}" for h, m in zip(rng.integers(0, 24, n), rng.integers(0, 60, n), strict=True)
    ]
    frame["Reporting agency"] = rng.choice(
        ["Bench School (synthetic)", "Bench Youth Service", "Bench Health"], n
    )
    frame["Agency type"] = rng.choice(["school", "youth_service", "health"], n)
    frame["Place type"] = rng.choice(list(PLACE_TYPES)[:13], n)
    frame["Concerns"] = rng.choice(list(CONCERNS)[:6], n)
    lat = pcs["latitude"].to_numpy() + rng.normal(0, 0.0005, n)
    lon = pcs["longitude"].to_numpy() + rng.normal(0, 0.0008, n)
    frame.loc[coords, "Latitude"] = np.round(lat[coords], 6).astype(str)
    frame.loc[coords, "Longitude"] = np.round(lon[coords], 6).astype(str)
    frame.loc[~coords, "Postcode"] = pcs.loc[~coords, "postcode"]
    frame["Narrative"] = "Synthetic benchmark row."
    return frame.to_csv(index=False).encode("utf-8")


# Share of each kind of row in the realistic mix (sums to 1).
REALISTIC_MIX = {
    "coordinates": 0.30,
    "grid reference": 0.08,
    "postcode": 0.22,
    "partial postcode": 0.03,
    "place name": 0.12,
    "street": 0.12,
    "online": 0.05,
    "quarantined": 0.08,
}
_FREE_TEXT = ("Outside the entrance", "Rear yard", "Near the main doors", "Seen from a vehicle", "")
_STREET_TEXT = (
    "On or near {s}",
    "seen near {s}",
    "group outside the shops on {s}",
    "{s}, {loc}",
    "{s} ({loc})",
)
_QUARANTINE_TEXT = ("somewhere near the shops", "the usual place", "not known")


def _typo(rng: np.random.Generator, text: str) -> str:
    i = int(rng.integers(1, max(len(text) - 2, 2)))
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def realistic_form(n: int, seed: int = 1) -> bytes:
    """n sharing-form rows in the REALISTIC_MIX, every kind built from the shipped gazetteer."""
    rng = np.random.default_rng(seed)
    gaz = load_gazetteer()
    kinds = np.array(list(REALISTIC_MIX))
    kind = kinds[rng.choice(len(kinds), n, p=list(REALISTIC_MIX.values()))]
    days = pd.Timestamp("2024-11-01") + pd.to_timedelta(rng.integers(0, 730, n), unit="D")
    frame = pd.DataFrame({c: "" for c in TEMPLATE_COLUMNS}, index=range(n))
    frame["Source reference"] = [f"BENCH-{i:07d}" for i in range(n)]
    frame["Date observed"] = days.strftime("%d/%m/%Y")
    frame["Time observed"] = [
        f"{h:02d}:{m:02d}" for h, m in zip(rng.integers(0, 24, n), rng.integers(0, 60, n), strict=True)
    ]
    frame["Reporting agency"] = rng.choice(
        ["Bench School (synthetic)", "Bench Youth Service", "Bench Health"], n
    )
    frame["Agency type"] = rng.choice(["school", "youth_service", "health"], n)
    frame["Place type"] = rng.choice(list(PLACE_TYPES)[:13], n)
    frame["Concerns"] = rng.choice(list(CONCERNS)[:6], n)
    frame["Location"] = rng.choice(_FREE_TEXT, n)
    frame["Narrative"] = [f"Synthetic benchmark row {i}." for i in range(n)]

    pcs = gaz.postcodes.sample(n, replace=True, random_state=seed).reset_index(drop=True)
    sel = kind == "coordinates"
    frame.loc[sel, "Latitude"] = np.round(pcs["latitude"][sel] + rng.normal(0, 0.0005, sel.sum()), 6).astype(
        str
    )
    frame.loc[sel, "Longitude"] = np.round(
        pcs["longitude"][sel] + rng.normal(0, 0.0008, sel.sum()), 6
    ).astype(str)
    sel = kind == "grid reference"
    frame.loc[sel, "Easting"] = (pcs["easting"][sel] // 10 * 10).astype(int).astype(str)
    frame.loc[sel, "Northing"] = (pcs["northing"][sel] // 10 * 10).astype(int).astype(str)
    sel = kind == "postcode"
    frame.loc[sel, "Postcode"] = pcs["postcode"][sel]
    sel = kind == "partial postcode"
    frame.loc[sel, "Postcode"] = np.where(
        rng.random(sel.sum()) < 0.5, pcs["postcode"][sel].str[:-2], pcs["postcode"][sel].str.split(" ").str[0]
    )
    sel = np.flatnonzero(kind == "place name")
    places = gaz.places.sample(len(sel), replace=True, random_state=seed)
    names = places["name"].to_numpy(dtype=object)
    variant = rng.random(len(sel))
    names = np.where(variant < 0.15, [_typo(rng, x) for x in names], names)
    names = np.where((variant >= 0.15) & (variant < 0.3), [x.lower() for x in names], names)
    frame.loc[sel, "Place name"] = names
    frame.loc[sel, "Location"] = np.where(
        rng.random(len(sel)) < 0.3, "near the entrance, " + places["locality"].fillna("").to_numpy(), ""
    )
    sel = np.flatnonzero(kind == "street")
    streets = gaz.streets.sample(len(sel), replace=True, random_state=seed)
    templates = rng.choice(_STREET_TEXT, len(sel))
    frame.loc[sel, "Location"] = [
        t.format(s=s, loc=loc)
        for t, s, loc in zip(templates, streets["street"], streets["locality"].fillna(""), strict=True)
    ]
    frame.loc[kind == "online", "Place type"] = "Online"
    frame.loc[kind == "online", "Setting"] = "Online"
    sel = np.flatnonzero(kind == "quarantined")
    what = rng.integers(0, 4, len(sel))
    frame.loc[sel[what == 0], "Place name"] = "Petrol station, Chilton"  # no such place
    frame.loc[sel[what == 1], "Postcode"] = "NE1 4ST"  # a real postcode outside the area
    frame.loc[sel[what == 2], "Latitude"] = "51.5072"  # London
    frame.loc[sel[what == 2], "Longitude"] = "-0.1276"
    frame.loc[sel[what == 3], "Location"] = rng.choice(_QUARANTINE_TEXT, int((what == 3).sum()))
    _other_forms(frame, kind, rng)
    return frame.to_csv(index=False).encode("utf-8")


# Shares of rows that write their time or location in another form the import reads (drawn after the
# rows above, so the rest of the file does not change with them); each row is still stored.
OTHER_FORMS = {
    "time in words": 0.02,  # of all rows
    "degrees and minutes": 0.05,  # of the coordinate rows: 54°46'30.1"N, 1°34'20.2"W
    "latitude/longitude in the location text": 0.03,  # of the coordinate rows, columns blank
    "OS grid reference": 0.3,  # of the grid-reference rows, in the Easting column, Northing blank
}
_TIME_WORDS = ("after school", "evening", "late at night", "Tea time")


def _other_forms(frame: pd.DataFrame, kind: np.ndarray, rng: np.random.Generator) -> None:
    n = len(frame)
    words = rng.random(n) < OTHER_FORMS["time in words"]
    frame.loc[words, "Time observed"] = rng.choice(_TIME_WORDS, int(words.sum()))
    coords = np.flatnonzero(kind == "coordinates")
    form = rng.random(len(coords))
    dms = coords[form < OTHER_FORMS["degrees and minutes"]]
    frame.loc[dms, "Latitude"] = [_dms(float(v), "NS") for v in frame.loc[dms, "Latitude"]]
    frame.loc[dms, "Longitude"] = [_dms(float(v), "EW") for v in frame.loc[dms, "Longitude"]]
    share = OTHER_FORMS["degrees and minutes"] + OTHER_FORMS["latitude/longitude in the location text"]
    pasted = coords[(form >= OTHER_FORMS["degrees and minutes"]) & (form < share)]
    frame.loc[pasted, "Location"] = frame.loc[pasted, "Latitude"] + ", " + frame.loc[pasted, "Longitude"]
    frame.loc[pasted, ["Latitude", "Longitude"]] = ""
    grid = np.flatnonzero(kind == "grid reference")
    written = grid[rng.random(len(grid)) < OTHER_FORMS["OS grid reference"]]
    frame.loc[written, "Easting"] = [
        _os_grid_reference(int(e), int(n))
        for e, n in zip(frame.loc[written, "Easting"], frame.loc[written, "Northing"], strict=True)
    ]
    frame.loc[written, "Northing"] = ""


def _dms(value: float, hemispheres: str) -> str:
    """Decimal degrees as degrees, minutes and seconds to a tenth ('54°46'30.1"N')."""
    tenths = round(abs(value) * 36_000)
    degrees, rest = divmod(tenths, 36_000)
    minutes, seconds = divmod(rest, 600)
    return f"{degrees}°{minutes:02d}'{seconds / 10:04.1f}\"{hemispheres[0] if value >= 0 else hemispheres[1]}"


def _os_grid_reference(easting: int, northing: int) -> str:
    """An easting/northing as an OS grid reference to the metre ('NZ 27420 42310')."""
    letters = "ABCDEFGHJKLMNOPQRSTUVWXYZ"  # no I
    e100, n100 = easting // 100_000, northing // 100_000
    first = (19 - n100) - (19 - n100) % 5 + (e100 + 10) // 5
    second = (19 - n100) * 5 % 25 + e100 % 5
    return f"{letters[first]}{letters[second]} {easting % 100_000:05d} {northing % 100_000:05d}"


def bench_import(n: int, workdir: Path, mix: str = "realistic"):
    data = realistic_form(n) if mix == "realistic" else synthetic_form(n)
    engine = store.connect(f"sqlite:///{workdir / f'bench_{n}.sqlite'}")
    gaz = load_gazetteer()
    t0 = time.perf_counter()
    summary = pipeline.import_file(engine, data, f"bench_{n}.csv", gazetteer=gaz, today=date(2026, 11, 1))
    elapsed = time.perf_counter() - t0
    assert summary.reconciles
    print(
        f"import+geocode+store {n:>9,} rows ({mix} mix): {elapsed:6.2f} s  = {n / elapsed:>9,.0f} rows/s "
        f"(accepted {summary.n_accepted:,}, quarantined {summary.n_quarantined:,})"
    )
    t0 = time.perf_counter()
    reports = store.load_reports(engine)
    print(f"load analysis frame      {n:>9,} rows: {time.perf_counter() - t0:6.2f} s")
    return reports


def bench_aggregate(reports: pd.DataFrame) -> None:
    filters = [
        ReportFilter(),
        ReportFilter(concerns=("cce", "cse")),
        ReportFilter(
            date_from=date(2025, 6, 1), date_to=date(2026, 3, 31), place_types=("park", "takeaway", "hotel")
        ),
        ReportFilter(agency_types=("school",), concerns=("drugs_alcohol",)),
    ]
    for res in (8, 10):
        times = []
        for f in filters * 3:
            t0 = time.perf_counter()
            table = aggregate.aggregate_hexes(reports, res, f)
            times.append(time.perf_counter() - t0)
        print(
            f"aggregate {len(reports):>9,} reports at res {res:>2}: median {statistics.median(times) * 1000:6.1f} ms, "
            f"max {max(times) * 1000:6.1f} ms ({len(table):,} hexes for the last filter)"
        )
        t0 = time.perf_counter()
        aggregate.aggregate_hexes(reports, res, filters[1], breakdowns=False)
        print(f"   counts only: {(time.perf_counter() - t0) * 1000:6.1f} ms")


def bench_map(reports: pd.DataFrame) -> None:
    for res in (8, 9, 10):
        table = aggregate.aggregate_hexes(reports, res)
        table = table.head(10_000)
        t0 = time.perf_counter()
        m = maps.build_hex_map(table, legend_title="Reports per hexagon")
        html = m.get_root().render()
        elapsed = time.perf_counter() - t0
        print(
            f"map of {len(table):>6,} hexes (res {res}): {len(html) / 1e6:5.2f} MB HTML, built in {elapsed:5.2f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--mix", choices=["realistic", "simple"], default="realistic")
    parser.add_argument("--import-only", action="store_true", help="skip the aggregation and map figures")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            reports = bench_import(n, Path(tmp), args.mix)
            if args.import_only:
                continue
            bench_aggregate(reports)
            bench_map(reports)


if __name__ == "__main__":
    main()
