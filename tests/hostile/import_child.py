"""Child process for tests/store/test_crash_safety.py: import one file into one SQLite database.

Usage: python import_child.py DB_PATH CSV_PATH. Prints 'INSERTING' (flushed) the first time the
pipeline reports progress from inside its write transaction, so the parent knows rows are being
written and can kill the process mid-import; prints 'DONE <summary>' when it finishes.
"""

from __future__ import annotations

import sys
from datetime import date

from hoth_geo import store
from hoth_geo.intake import pipeline


def main(db_path: str, csv_path: str) -> None:
    # SQLite's default page cache instead of the import's larger one: the uncommitted rows then spill
    # into the write-ahead log before the kill, the harder case for recovery (with the larger cache
    # they may still sit in this process's memory, which a kill trivially discards).
    pipeline._SQLITE_IMPORT_CACHE_KIB = 2 * 1024
    engine = store.connect(f"sqlite:///{db_path}")
    announced = False

    def progress(_fraction: float, message: str) -> None:
        nonlocal announced
        # 'storing reports: n/N' is reported after each INSERT batch, inside the transaction.
        if not announced and message.startswith("storing reports"):
            announced = True
            print("INSERTING", flush=True)

    summary = pipeline.import_file(engine, csv_path, progress=progress, today=date(2025, 6, 30))
    print("DONE", summary.describe(), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
