"""The keyed audit chain and the hostile-file limits: time per audited action (one HMAC, one
anchor line fsynced), time to verify the chain, and time to refuse oversized files.
Prints a plain-text table; run with `python benchmarks/bench_audit.py [n_entries]`."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from hostile import corpus  # noqa: E402

from hoth_geo import settings, store
from hoth_geo.access import audit  # noqa: E402
from hoth_geo.intake import files


def _refuse_seconds(data: bytes, name: str) -> float:
    t = time.perf_counter()
    try:
        files.read_table(data, name)
    except files.ImportRefused:
        return time.perf_counter() - t
    raise AssertionError(f"{name} was not refused")


def main(n: int = 2_000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ[settings.AUDIT_KEY_FILE_ENV] = str(Path(tmp) / "audit.key")
        engine = store.connect(f"sqlite:///{tmp}/bench.sqlite")
        t = time.perf_counter()
        for i in range(n):
            audit.record(
                engine, "report_viewed", actor="analyst@example.org", target=f"hex:{i:x}", details={"i": i}
            )
        append = (time.perf_counter() - t) / n
        t = time.perf_counter()
        result = audit.verify_chain(engine)
        verify = time.perf_counter() - t
        assert result.ok, result.findings
    print(f"{'what':<52} {'time':>12}")
    print(f"{'append one audit entry (HMAC + anchor fsync)':<52} {append * 1000:>9.1f} ms")
    print(f"{f'verify a chain of {n:,} entries':<52} {verify:>10.2f} s")
    cases = [
        ("refuse CSV with a 1,000,000-column header", corpus.wide_header_csv(), "wide.csv"),
        ("refuse XLSX with 100 sheets of ~1 MB", corpus.many_sheets_xlsx(), "sheets.xlsx"),
        ("refuse XLSX 1,000 x 1,000 cells (dimension tag)", corpus.million_cell_xlsx(), "cells.xlsx"),
        ("refuse XLSX 1,000 x 1,000 cells (no tag)", corpus.million_cell_xlsx(dimension=False), "cells.xlsx"),
    ]
    for label, data, name in cases:
        print(f"{label:<52} {_refuse_seconds(data, name) * 1000:>9.1f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2_000)
