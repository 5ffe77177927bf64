"""Rebuild the shipped County Durham & Darlington gazetteer and boundaries from the open data.

    python scripts/build_gazetteer.py [SHARED_DATA_DIR] [--data-dir DATA_DIR]

SHARED_DATA_DIR defaults to ../shared/data beside the repository (see its README.md). Writes
data/boundaries/{study_area,wards,lsoa}.geojson, data/boundaries/towns.csv and data/gazetteer/{postcodes,places,streets}.arrow.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_DIR))

from hoth_geo.intake import gazetteer as gz  # noqa: E402

# Town labels of the demo area's maps, each at the median of its post town's unit postcodes (the
# built-up area dominates a district's postcodes, so the median falls in the town).
TOWN_DISTRICTS: dict[str, tuple[str, ...]] = {
    "Durham": ("DH1",),
    "Darlington": ("DL1", "DL3"),
    "Bishop Auckland": ("DL14",),
    "Chester-le-Street": ("DH2", "DH3"),
    "Consett": ("DH8",),
    "Stanley": ("DH9",),
    "Seaham": ("SR7",),
    "Peterlee": ("SR8",),
    "Newton Aycliffe": ("DL5",),
    "Spennymoor": ("DL16",),
    "Barnard Castle": ("DL12",),
    "Crook": ("DL15",),
    "Shildon": ("DL4",),
    "Ferryhill": ("DL17",),
    "Sedgefield": ("TS21",),
}


def town_labels(postcodes):
    """name, latitude, longitude, weight (unit postcodes) per town, for data/boundaries/towns.csv."""
    import pandas as pd

    district = postcodes["postcode"].str.split(" ").str[0]
    rows = []
    for town, districts in TOWN_DISTRICTS.items():
        members = postcodes[district.isin(districts)]
        if len(members):
            rows.append(
                (
                    town,
                    round(float(members["latitude"].median()), 5),
                    round(float(members["longitude"].median()), 5),
                    len(members),
                )
            )
    return pd.DataFrame(rows, columns=["name", "latitude", "longitude", "weight"])


def build(shared: Path, data_dir: Path) -> dict[str, int]:
    boundaries_dir = data_dir / "boundaries"
    counts = gz.build_boundaries(shared / "boundaries_martinjc", boundaries_dir, gz.DURHAM_LAD_CODES)

    cp_dir = shared / "codepoint_open"
    raw = gz.read_codepoint([cp_dir / f"{area}.csv" for area in ("dh", "dl", "sr", "ts")])
    postcodes = gz.postcodes_from_codepoint(raw, lad_codes=gz.DURHAM_LAD_CODES)
    towns = town_labels(postcodes)
    towns.to_csv(boundaries_dir / "towns.csv", index=False)
    counts["towns"] = len(towns)

    ward_paths = [
        shared / "boundaries_martinjc" / f"electoral_eng_wards_by_lad_{c}.json" for c in gz.DURHAM_LAD_CODES
    ]
    wards = gz.wards_frame(gz.read_boundary_features(ward_paths))
    crimes = gz.read_policeuk(sorted((shared / "policeuk_durham").glob("*.csv")))
    places, streets = gz.policeuk_layers(crimes, wards, postcodes)

    counts |= gz.write_gazetteer(
        {"postcodes": postcodes, "places": places, "streets": streets}, data_dir / "gazetteer"
    )
    counts["codepoint_rows_read"] = len(raw)
    counts["policeuk_rows_read"] = len(crimes)
    for t, n in places["place_type"].value_counts().sort_index().items():
        counts[f"places[{t}]"] = int(n)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("shared", nargs="?", type=Path, default=REPO_DIR.parent / "shared" / "data")
    parser.add_argument("--data-dir", type=Path, default=REPO_DIR / "data")
    args = parser.parse_args(argv)
    if not args.shared.is_dir():
        parser.error(f"shared data folder {args.shared} does not exist")
    counts = build(args.shared, args.data_dir)
    width = max(len(k) for k in counts)
    for k, v in counts.items():
        print(f"{k:<{width}}  {v:>7,}")
    for sub in ("gazetteer", "boundaries"):
        for p in sorted((args.data_dir / sub).glob("*.*")):
            print(f"{p.relative_to(args.data_dir)!s:<{width}}  {p.stat().st_size / 1024:>7.0f} KB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
