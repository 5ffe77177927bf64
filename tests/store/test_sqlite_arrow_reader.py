"""The child process that reads an SQLite file into Arrow (``hoth_geo/store/sqlite_arrow_reader.py``).

``store.load_reports`` starts it by path with the file's read-only URI and the SELECT on stdin, and reads
its stdout as an Arrow IPC stream; these tests run it the same way on a real database file.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
from forms import templated, write_form

from hoth_geo import store
from hoth_geo.intake import pipeline

READER = Path(store.__file__).with_name("sqlite_arrow_reader.py")


def _run(uri: str, sql: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(READER), uri], input=sql.encode(), capture_output=True, timeout=120, check=False
    )


@pytest.fixture()
def imported_file(tmp_path) -> Path:
    """An SQLite database holding one partner's imported sharing form."""
    path = tmp_path / "partner.sqlite"
    engine = store.connect(f"sqlite:///{path}")
    rows = [
        dict(templated(f"R-{i:03d}"), **{"Reporting agency": f"School {i % 3} (synthetic)"})
        for i in range(12)
    ]
    pipeline.import_file(engine, write_form(tmp_path / "form.csv", rows))
    engine.dispose()
    return path


def test_the_stream_holds_every_stored_report_with_its_columns(imported_file):
    result = _run(
        imported_file.resolve().as_uri() + "?mode=ro", "SELECT id, h3, agency FROM reports ORDER BY id"
    )
    assert result.returncode == 0, result.stderr.decode()
    table = pa.ipc.open_stream(result.stdout).read_all()
    engine = store.connect(f"sqlite:///{imported_file}")
    stored = store.report_details(engine, store.load_reports(engine)["id"].tolist(), ["agency"])
    engine.dispose()
    assert table.column_names == ["id", "h3", "agency"]
    assert table.num_rows == len(stored) == 12
    assert sorted(table.column("agency").to_pylist()) == sorted(stored["agency"].tolist())


def test_it_opens_the_file_read_only(imported_file):
    """The reader is one more reader of the file: a write through it is refused by SQLite itself."""
    result = _run(imported_file.resolve().as_uri() + "?mode=ro", "DELETE FROM reports")
    assert result.returncode == 1
    assert "readonly" in result.stderr.decode().replace(" ", "").lower()
    engine = store.connect(f"sqlite:///{imported_file}")
    assert len(store.load_reports(engine)) == 12
    engine.dispose()


def test_an_error_is_one_line_naming_sqlites_reason(imported_file):
    result = _run(imported_file.resolve().as_uri() + "?mode=ro", "SELECT anything FROM nowhere")
    assert result.returncode == 1 and result.stdout == b""
    said = result.stderr.decode().strip()
    assert "no such table: nowhere" in said and "Traceback" not in said


def test_without_a_database_argument_it_prints_its_usage():
    result = subprocess.run([sys.executable, str(READER)], capture_output=True, timeout=60, check=False)
    assert result.returncode == 2 and b"usage:" in result.stderr
