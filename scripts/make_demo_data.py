"""Write the synthetic demo data set (data/demo/) from the shipped gazetteer.

    python scripts/make_demo_data.py [--out DIR] [--seed N]

Everything written is SYNTHETIC: fictional people, agencies, narratives and venue names ('... (demo)')
placed at real public map points. The output is deterministic for a given gazetteer and seed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hoth_geo import settings  # noqa: E402
from hoth_geo.intake.demo import DEFAULT_SEED, generate_demo, write_demo  # noqa: E402
from hoth_geo.intake.gazetteer import load_gazetteer  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=settings.DEMO_DIR, help="output folder (default: data/demo)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default: {DEFAULT_SEED})")
    ap.add_argument("--gazetteer", type=Path, default=settings.GAZETTEER_DIR, help="gazetteer folder")
    args = ap.parse_args(argv)

    demo = generate_demo(load_gazetteer(args.gazetteer), seed=args.seed)
    paths = write_demo(demo, args.out)
    t = demo.truth
    print(
        f"{t['n_reports']} reports, {t['n_venues']} venues, {t['start']} to {t['end']} ({settings.DEMO_LABEL})"
    )
    for name, path in paths.items():
        print(f"  {name:8s} {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
