"""Build the demo briefing pack (partner audience) and write a PNG preview of each page.

    .venv/bin/python scripts/make_briefing_example.py [--out docs/images] [--pdf pack.pdf]

The previews (docs/images/briefing-page-N.png, pdftoppm at 60 dpi) are embedded in
docs/briefing-pack.md. Needs poppler-utils (pdftoppm). The demo set is loaded into a throwaway
SQLite file, so the project's own database is never touched.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from hoth_geo import settings, store
from hoth_geo.deliver import briefing
from hoth_geo.intake import pipeline

PREVIEW_DPI = 60


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=settings.REPO_DIR / "docs" / "images")
    parser.add_argument("--pdf", type=Path, default=None, help="also keep the PDF here")
    args = parser.parse_args(argv)
    if shutil.which("pdftoppm") is None:
        print("pdftoppm not found: install poppler-utils", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        engine = store.connect(f"sqlite:///{tmp}/demo.sqlite")
        pipeline.load_demo_data(engine)
        reports, places = store.load_reports(engine), pipeline.all_places(engine)
        start = time.perf_counter()
        # A fixed generation time keeps the previews identical from one run to the next.
        pdf = briefing.briefing_pack(
            reports,
            places,
            filters=None,
            policy="partner",
            demo=True,
            generated_at=datetime(2026, 11, 2, 9, 0),
        )
        print(f"briefing pack: {len(pdf) / 1024:.0f} KB in {time.perf_counter() - start:.1f} s")
        pdf_path = Path(tmp) / "briefing.pdf"
        pdf_path.write_bytes(pdf)
        if args.pdf:
            args.pdf.write_bytes(pdf)
        args.out.mkdir(parents=True, exist_ok=True)
        for old in args.out.glob("briefing-page-*.png"):
            old.unlink()
        subprocess.run(
            ["pdftoppm", "-r", str(PREVIEW_DPI), "-png", str(pdf_path), str(Path(tmp) / "page")], check=True
        )
        for page in sorted(Path(tmp).glob("page-*.png")):
            n = int(page.stem.rsplit("-", 1)[1])
            target = args.out / f"briefing-page-{n}.png"
            shutil.move(page, target)
            print(f"{target} ({target.stat().st_size / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
