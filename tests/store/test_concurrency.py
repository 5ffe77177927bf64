"""Several app processes and an import on one database at the same time (PostgreSQL, as a force runs it).

Two reader processes do what each app process does on every rerun: read the data version and, when it
changed, reload the analysis frame; each also appends to the audit log as it goes (as viewing reports
does). Meanwhile a third process imports a sharing-form file with `hoth-geo ingest`. Every frame a reader
loads must hold either all of the import or none of it, both readers must see the new data on their
first read after the import committed, nothing may be lost or doubled, and the audit chain must verify.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from hoth_geo import store
from hoth_geo.access import audit
from hoth_geo.intake import pipeline
from hoth_geo.schema import TEMPLATE_COLUMNS

REPO_DIR = Path(__file__).resolve().parents[2]
N_IMPORTED = 4_000
TIMEOUT_S = 300
AGENCY = "Concurrency Youth Service (synthetic)"

# A reader: the app's rerun loop (data version, reload on change) plus audit appends, until told to stop.
READER = r"""
import json, sys, time
from pathlib import Path
from hoth_geo.access import audit
from hoth_geo import store

url, name, folder, AGENCY = sys.argv[1], sys.argv[2], Path(sys.argv[3]), sys.argv[4]
engine = store.connect(url)
seen, version, frame, appended = [], None, None, 0
done_at_start = False
while True:
    started = time.time()
    done_at_start = (folder / "import-done").exists()
    current = store.data_version(engine)
    if current != version:
        frame, version = store.load_reports(engine), current
    seen.append({"n": len(frame), "unique_ids": int(frame["id"].nunique()),
                 "imported": int((frame["agency"] == AGENCY).sum()), "after_import": done_at_start,
                 "t": started})
    with engine.begin() as conn:
        audit.record(conn, "report_viewed", actor=name, target="concurrency-test", details={"n": len(frame)})
    appended += 1
    if len(seen) == 1:
        (folder / f"{name}.ready").touch()
    if done_at_start:
        break
    time.sleep(0.05)
print(json.dumps({"seen": seen, "appended": appended}))
"""


def _sharing_form(path: Path, n: int) -> Path:
    rng = np.random.default_rng(9)
    lat = 54.7761 + rng.normal(0, 0.01, n)
    lon = -1.5733 + rng.normal(0, 0.015, n)
    days = rng.integers(0, 365, n)
    dates = pd.Timestamp("2025-01-01") + pd.to_timedelta(days, unit="D")
    frame = pd.DataFrame({c: [""] * n for c in TEMPLATE_COLUMNS})
    frame["Source reference"] = [f"CONC-{i:05d}" for i in range(n)]
    frame["Date observed"] = dates.strftime("%d/%m/%Y")
    frame["Time observed"] = [f"{h:02d}:30" for h in rng.integers(0, 24, n)]
    frame["Reporting agency"] = AGENCY
    frame["Agency type"] = "youth_service"
    frame["Latitude"] = [f"{v:.6f}" for v in lat]
    frame["Longitude"] = [f"{v:.6f}" for v in lon]
    frame["Concerns"] = "cse"
    frame.to_csv(path, index=False)
    return path


def test_two_app_processes_and_an_import_share_one_postgresql_database(databases, tmp_path):
    url = databases.new("postgresql", "concurrency")
    engine = store.connect(url)
    pipeline.load_demo_data(engine)
    n_before = len(store.load_reports(engine))
    audit_before = audit.verify_chain(engine)
    assert audit_before.ok
    form = _sharing_form(tmp_path / "concurrent_form.csv", N_IMPORTED)

    env = {**os.environ, "PYTHONPATH": str(REPO_DIR)}
    script = tmp_path / "reader.py"
    script.write_text(READER)
    readers = {
        name: subprocess.Popen(
            [sys.executable, str(script), url, name, str(tmp_path), AGENCY],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for name in ("app-one", "app-two")
    }
    deadline = time.monotonic() + TIMEOUT_S
    while not all((tmp_path / f"{name}.ready").exists() for name in readers):
        for name, proc in readers.items():
            assert proc.poll() is None, f"{name} stopped: {proc.stderr.read()}"
        assert time.monotonic() < deadline, "the readers did not start"
        time.sleep(0.1)

    imported = subprocess.run(
        [sys.executable, "-m", "hoth_geo.cli", "ingest", str(form), "--db", url],
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT_S,
    )
    (tmp_path / "import-done").touch()
    assert imported.returncode == 0, imported.stderr
    assert f"{N_IMPORTED:,} accepted + 0 quarantined + 0 duplicates" in imported.stdout, imported.stdout

    results = {}
    for name, proc in readers.items():
        out, err = proc.communicate(timeout=TIMEOUT_S)
        assert proc.returncode == 0, err
        results[name] = json.loads(out)

    n_after = n_before + N_IMPORTED
    with engine.connect() as conn:  # when the import's transaction began (naive UTC)
        began = conn.execute(sa.select(sa.func.max(store.imports.c.imported_at))).scalar()
    began = began.replace(tzinfo=UTC).timestamp()
    committed = (tmp_path / "import-done").stat().st_mtime
    for name, result in results.items():
        seen = result["seen"]
        assert seen[0]["n"] == n_before, f"{name} started before the import"
        assert seen[-1]["after_import"] and seen[-1]["n"] == n_after, f"{name} missed the new data"
        assert {s["n"] for s in seen} <= {n_before, n_after}, f"{name} saw part of an import"
        assert all(s["unique_ids"] == s["n"] for s in seen), f"{name} saw a report twice"
        assert {s["imported"] for s in seen} <= {0, N_IMPORTED}
        assert {s["imported"] for s in seen} == {0, N_IMPORTED}, f"{name} saw before and after"
        assert any(began < s["t"] < committed for s in seen), f"{name} did not read during the import"

    with engine.connect() as conn:
        n_stored, n_fingerprints = conn.execute(
            sa.select(sa.func.count(), sa.func.count(sa.distinct(store.reports.c.fingerprint)))
        ).one()
        refs = conn.execute(
            sa.select(store.reports.c.source_ref).where(store.reports.c.source_ref.like("CONC-%"))
        ).scalars()
        assert sorted(refs) == [f"CONC-{i:05d}" for i in range(N_IMPORTED)], "every row once"
    assert n_stored == n_fingerprints == n_after

    chain = audit.verify_chain(engine)
    assert chain.ok, chain
    appended = sum(r["appended"] for r in results.values())
    log = audit.load_audit(engine)
    assert chain.n_entries == audit_before.n_entries + appended + 1  # the readers' entries + the import
    assert list(log["event"]).count("import") == 2  # the demo set and the concurrent file
    engine.dispose()
    databases.drop(url)
