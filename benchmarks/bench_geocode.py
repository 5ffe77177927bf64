"""Geocoding quality on a gold set built from the shipped gazetteer (deterministic seed).

    .venv/bin/python benchmarks/bench_geocode.py [--seed 20261202] [--show-misses 10]

Prints top-1 accuracy on unique names, the share of non-existent names sent to Review, and the
number of results more than 1 km from the truth at confidence >= 0.8 (goals: >= 95 %, >= 95 %, 0),
then the same per variant. The gold set is described in benchmarks/geocode_gold.py.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# Runnable from a plain checkout, whether or not the package is installed into the venv.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pandas as pd  # noqa: E402
from geocode_gold import build_gold, score  # noqa: E402

from hoth_geo.intake.gazetteer import load_gazetteer  # noqa: E402
from hoth_geo.intake.geocode import geocode  # noqa: E402
from hoth_geo.schema import CANONICAL_COLUMNS  # noqa: E402


def canonical(gold: pd.DataFrame) -> pd.DataFrame:
    """Gold rows as canonical report rows carrying only the location text and place name."""
    n = len(gold)
    frame = pd.DataFrame(index=range(n))
    for c, t in CANONICAL_COLUMNS.items():
        if t == "object":
            frame[c] = pd.Series([None] * n, dtype=object)
        elif t == "bool":
            frame[c] = False
        elif t.startswith("datetime"):
            frame[c] = pd.Timestamp("2025-03-03")
        else:
            frame[c] = pd.Series(float("nan"), index=range(n)).astype("float64")
    frame["row_number"] = range(2, n + 2)
    frame["place_name"] = gold["place_name"].astype(object).to_numpy()
    frame["location_text"] = gold["location_text"].astype(object).to_numpy()
    return frame


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=20261202)
    ap.add_argument("--show-misses", type=int, default=0, help="print this many wrong rows per variant")
    args = ap.parse_args()
    gaz = load_gazetteer()
    gold = build_gold(gaz, seed=args.seed)
    t0 = time.perf_counter()
    result = geocode(canonical(gold), gaz)
    elapsed = time.perf_counter() - t0
    figures, scored = score(gold, result.located)
    print("\n".join(figures.lines()))
    print(f"geocoded in {elapsed:.2f} s")
    scored["ok"] = scored["correct"].where(scored["kind"] == "unique", ~scored["located"])
    per = scored.groupby(["kind", "variant"])["ok"].agg(["size", "mean"])
    print("\nper variant (unique: placed within 100 m; ambiguous and nonexistent: sent to Review)")
    for (kind, variant), r in per.iterrows():
        print(f"  {kind:<12} {variant:<45} {int(r['size']):>5}  {r['mean']:6.1%}")
    if args.show_misses:
        q = result.quarantine.set_index("row_number")["reason"]
        for (_, variant), g in scored[~scored["ok"]].groupby(["kind", "variant"]):
            print(f"\n-- misses: {variant}")
            for r in g.head(args.show_misses).itertuples():
                why = q.get(
                    r.row_number, f"{r.geocode_method} conf {r.geocode_confidence} err {r.error_m:.0f} m"
                )
                print(f"  {r.place_name!r} | {r.location_text!r} -> {str(why)[:160]}")


if __name__ == "__main__":
    main()
