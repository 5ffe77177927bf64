"""Run one SELECT on an SQLite file and write its result to stdout as an Arrow IPC stream.

``store.load_reports`` starts this file as a child process (``python sqlite_arrow_reader.py URI``,
the SELECT on stdin) to read the analysis frame of an SQLite database in a columnar way. It is a
separate process, not a thread, because SQLite's ADBC driver links a copy of SQLite of its own, and
two copies of SQLite in one process release each other's POSIX file locks
(sqlite.org/howtocorrupt.html, section 2.2.1): the app's writes through Python's sqlite3 then fail
with "disk I/O error". In a process of its own the copy is just another reader of the file, locked
like any other.

The file is run by path, not as ``-m hoth_geo...``, so that the child imports only pyarrow and the
driver (the package's own import would cost it a second of start-up); it therefore imports nothing
from the package.
"""

from __future__ import annotations

import sys

__all__ = ["main", "BATCH_ROWS", "BUSY_TIMEOUT_MS"]

# Rows per Arrow batch: large enough that the per-batch work is negligible, small enough that the
# batches in flight (in the pipe and in the parent) add little to the read's peak memory.
BATCH_ROWS = 16_384
# As patient with a writer holding the file as the app's own connections are (store.open_engine).
BUSY_TIMEOUT_MS = 30_000


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: sqlite_arrow_reader.py SQLITE-FILE-URI < SELECT", file=sys.stderr)
        return 2
    import adbc_driver_sqlite.dbapi
    import pyarrow as pa

    sql = sys.stdin.read()
    with adbc_driver_sqlite.dbapi.connect(argv[1]) as conn, conn.cursor() as cursor:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(BATCH_ROWS)})
        cursor.execute(sql)
        reader = cursor.fetch_record_batch()
        with pa.ipc.new_stream(sys.stdout.buffer, reader.schema) as stream:
            for batch in reader:
                stream.write_batch(batch)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except BrokenPipeError:  # the reading process stopped reading: it has what it wanted or failed
        sys.exit(1)
    except Exception as error:  # one line the parent can show, not a traceback
        print(f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}", file=sys.stderr)
        sys.exit(1)
