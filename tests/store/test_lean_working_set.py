"""The lean working set: the data_version row every rerun reads instead of scanning the reports, and
the analysis frame that holds no free text (narratives are fetched by id, for permitted roles only).

Each writing path is run for real (imports, the Share form, Review decisions, purge, the demo set) on
SQLite and PostgreSQL, and after each the row must have moved and its counts must equal a recount of
the tables; reading, exporting, signing in and deciding nothing must leave it where it was.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from apptest_support import app_as, ensure_user
from forms import LOCATED, OUTREACH, SCHOOL_001, templated, write_form

from hoth_geo import store
from hoth_geo.access import audit, auth
from hoth_geo.analysis import disruption
from hoth_geo.intake import identity, pipeline, retention, review
from hoth_geo.intake import submission as sm
from hoth_geo.intake.gazetteer import load_gazetteer

REPO_DIR = Path(__file__).resolve().parents[2]
DURHAM = (54.7761, -1.5733)


def _scanned(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return store.scan_counts(conn)


def _row(engine) -> dict[str, int]:
    v = store.data_version(engine)
    return {
        "n_reports": v.n_reports,
        "n_demo_reports": v.n_demo_reports,
        "n_context": v.n_context,
        "n_quarantine_open": v.n_quarantine_open,
    }


class Tracker:
    """Checks each step: a write moves the version and keeps the counts equal to the tables."""

    def __init__(self, engine):
        self.engine = engine
        self.version = store.data_version(engine).version

    def bumped(self, what: str) -> dict[str, int]:
        now = store.data_version(self.engine).version
        assert now > self.version, f"{what} must bump the data version"
        self.version = now
        assert _row(self.engine) == _scanned(self.engine), f"after {what} the counts must match the tables"
        return _row(self.engine)

    def unchanged(self, what: str) -> None:
        assert store.data_version(self.engine).version == self.version, f"{what} must not bump the version"


def test_every_writing_path_bumps_the_version_and_keeps_the_counts_true(db_url, tmp_path):
    engine = store.connect(db_url)
    assert store.data_version(engine) == store.DataVersion(0, 0, 0, 0, 0), "a new database starts at 0"
    seen = Tracker(engine)

    pipeline.load_demo_data(engine)
    counts = seen.bumped("loading the demo set")
    assert counts["n_demo_reports"] == counts["n_reports"] > 5_000

    # An import with a row that needs a location (quarantined) and one that is stored.
    summary = pipeline.import_file(engine, write_form(tmp_path / "outreach.csv", [OUTREACH, LOCATED]))
    assert (summary.n_accepted, summary.n_quarantined) == (1, 1)
    after = seen.bumped("an import")
    assert after["n_reports"] == counts["n_reports"] + 1
    assert after["n_quarantine_open"] == counts["n_quarantine_open"] + 1
    assert after["n_demo_reports"] == counts["n_demo_reports"]

    # Reading, exporting, signing in, logging disruption and re-importing the same file change nothing.
    store.load_reports(engine)
    store.counts(engine)
    auth.add_user(engine, "analyst.lean", "synthetic-test-passphrase", "analyst")
    auth.authenticate(engine, "analyst.lean", "synthetic-test-passphrase")
    audit.record(engine, "demo_loaded", actor="analyst.lean")
    audit.log_export(engine, audience="partner", kind="csv", filters={}, data=b"x", exported_by="a")
    disruption.add_disruption(engine, tactic="police_presence", h3_cell=1, res=8, start_date=date(2026, 1, 1))
    again = pipeline.import_file(engine, tmp_path / "outreach.csv")
    assert again.already_imported
    seen.unchanged("reading, exporting, signing in and a re-import that adds nothing")

    # Review: locate the quarantined row, then undo it.
    qid = int(review.needs_location(engine, include_demo=False).iloc[0]["id"])
    review.resolve_with_location(engine, qid, *DURHAM, actor="analyst.lean")
    resolved = seen.bumped("a Review resolution")
    assert resolved["n_reports"] == after["n_reports"] + 1
    assert resolved["n_quarantine_open"] == after["n_quarantine_open"] - 1
    review.undo_resolution(engine, qid, actor="analyst.lean")
    assert seen.bumped("undoing a resolution") == after

    # Possible duplicates: merge (counts once), unmerge, keep distinct (no change to the data).
    pipeline.import_file(engine, write_form(tmp_path / "templ.csv", [templated("L-1"), templated("L-2")]))
    flagged = seen.bumped("an import with a possible duplicate")
    flag = int(identity.load_possible_duplicates(engine).iloc[0]["id"])
    identity.merge(engine, flag, actor="analyst.lean")
    assert seen.bumped("a merge")["n_reports"] == flagged["n_reports"] - 1
    identity.unmerge(engine, flag, actor="analyst.lean")
    assert seen.bumped("an unmerge") == flagged
    identity.keep_distinct(engine, flag, actor="analyst.lean")
    seen.unchanged("keeping two reports distinct")

    # A changed resubmission: waiting for Review is a change (it is listed), rejecting is not;
    # accepting changes the stored report.
    pipeline.import_file(engine, write_form(tmp_path / "v1.csv", [SCHOOL_001]))
    seen.bumped("an import")
    for name, text in (("v2.csv", "Corrected (synthetic)."), ("v3.csv", "Corrected again (synthetic).")):
        pipeline.import_file(engine, write_form(tmp_path / name, [dict(SCHOOL_001, Narrative=text)]))
        seen.bumped("a changed resubmission")
        entry = int(identity.load_resubmissions(engine).iloc[0]["id"])
        if name == "v2.csv":
            identity.reject_resubmission(engine, entry, actor="analyst.lean")
            seen.unchanged("rejecting a resubmission")
        else:
            identity.accept_resubmission(engine, entry, actor="analyst.lean")
            seen.bumped("accepting a resubmission")

    # The Share information form.
    auth.add_user(engine, "school.lean", "synthetic-test-passphrase", "contributor")
    sm.set_account_agency(engine, "school.lean", "Example Academy (fictional)", "school", "01234 000001")
    before_form = _row(engine)
    sm.submit(
        engine,
        auth.get_user(engine, "school.lean"),
        sm.Submission(
            token=sm.new_token(),
            observed_on=date(2026, 11, 20),
            observed_time="21:30",
            place_name="Bus station, Darlington town centre (demo)",
            location_text="Central",
            postcode="DL1",
            place_type="transport_hub",
            concerns=("cce",),
            indicators=("unknown_adults",),
            what_was_seen="Synthetic: a pupil was met by two older males and given a phone.",
            grading_source="2",
            grading_information="B",
            grading_handling="P",
        ),
        gazetteer=load_gazetteer(),
        today=date(2026, 11, 25),
    )
    assert seen.bumped("a form submission")["n_reports"] == before_form["n_reports"] + 1

    # Purge and removing the demo set recount.
    retention.purge_older_than(engine, date(2025, 1, 1), actor="police.lean")
    purged = seen.bumped("a purge")
    assert purged["n_reports"] < before_form["n_reports"]
    pipeline.delete_demo(engine, actor="analyst.lean")
    gone = seen.bumped("removing the demo set")
    assert gone["n_demo_reports"] == 0 and gone["n_reports"] > 0
    assert audit.verify_chain(engine).ok
    engine.dispose()


def test_another_process_sees_the_new_version_after_its_import(db_url, tmp_path):
    """Two app processes on one database: an import in one is seen by the other's next rerun."""
    engine = store.connect(db_url)
    pipeline.import_file(engine, write_form(tmp_path / "first.csv", [LOCATED]))
    before = store.data_version(engine)
    script = (
        "import sys; from hoth_geo import store; from hoth_geo.intake import pipeline; "
        "s = pipeline.import_file(store.connect(sys.argv[1]), sys.argv[2]); print(s.n_accepted)"
    )
    second = write_form(tmp_path / "second.csv", [templated("P-1"), templated("P-2"), SCHOOL_001])
    out = subprocess.run(
        [sys.executable, "-c", script, db_url, str(second)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_DIR)},
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "3"
    now = store.data_version(engine)  # the same engine and pool as before the other process wrote
    assert now.version > before.version and now.n_reports == before.n_reports + 3
    assert len(store.load_reports(engine)) == now.n_reports
    engine.dispose()


def test_the_analysis_frame_holds_no_free_text_and_compact_types(demo_store):
    frame = demo_store.reports
    assert not set(frame.columns) & set(store.FREE_TEXT_COLUMNS)
    assert set(frame.columns) == set(store.ANALYSIS_COLUMNS)
    assert frame["id"].is_unique and len(frame) > 5_000
    objects = [c for c in frame.columns if frame[c].dtype == object]
    assert objects == [], f"no column of Python strings in the frame: {objects}"
    assert frame["h3"].dtype == np.int64 and frame["concerns_mask"].dtype == np.int64
    assert pd.api.types.is_datetime64_dtype(frame["observed_at"])
    for c in ("agency", "place_type", "place_id", "agency_type", "grading_source", "grading_information"):
        assert isinstance(frame[c].dtype, pd.CategoricalDtype), c
        assert frame[c].cat.codes.dtype.itemsize <= 2, f"{c} is held as small integer codes"
    # Nothing the frame's labels hold is a narrative or child reference from the database.
    with demo_store.engine.connect() as conn:
        texts = set(conn.execute(sa.select(store.reports.c.narrative).limit(500)).scalars()) | set(
            conn.execute(sa.select(store.reports.c.child_ref).limit(500)).scalars()
        )
    labels = {
        str(v)
        for c in frame.columns
        if isinstance(frame[c].dtype, pd.CategoricalDtype)
        for v in frame[c].cat.categories
    }
    assert not (labels & (texts - {None})), "no free text among the frame's labels"
    # The frame equals what the tables say, row for row.
    with demo_store.engine.connect() as conn:
        stored = pd.read_sql(
            sa.select(store.reports.c.id, store.reports.c.observed_at, store.reports.c.agency).where(
                store.reports.c.merged_into.is_(None)
            ),
            conn,
        ).set_index("id")
    mine = frame.set_index("id")
    assert mine.index.sort_values().equals(stored.index.sort_values())
    pd.testing.assert_series_equal(
        mine["observed_at"].sort_index(),
        pd.to_datetime(stored["observed_at"]).sort_index(),
        check_names=False,
    )
    assert (mine["agency"].astype(str).sort_index() == stored["agency"].sort_index()).all()


def test_a_filter_change_rerun_reads_no_report_rows(tmp_path, monkeypatch):
    """Once the frame is loaded, a sidebar filter change reads the data_version row, never the reports."""
    url = f"sqlite:///{tmp_path / 'rerun.sqlite'}"
    monkeypatch.setenv("HOTH_GEO_DB", url)
    pipeline.load_demo_data(store.connect(url))
    at = app_as(ensure_user(url, "analyst"), "map").run()
    assert not at.exception, at.exception
    statements: list[str] = []

    def capture(conn, cursor, statement, *_args):
        statements.append(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", capture)
    try:
        at.multiselect(key="f_concerns").select("cse").run()
        at.multiselect(key="f_agencies").select(at.multiselect(key="f_agencies").options[0]).run()
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", capture)
    assert not at.exception, at.exception
    assert any("data_version" in s for s in statements), "each rerun reads the data version"
    scans = [s for s in statements if "FROM reports" in s]
    assert scans == [], f"a rerun must not read the reports table: {scans[:2]}"
    # The agency choices are the frame's categories.
    frame = store.load_reports(store.connect(url))
    assert at.multiselect(key="f_agencies").options == [str(a) for a in frame["agency"].cat.categories]


def test_the_frame_reads_every_row_even_when_the_counts_are_behind(db_url, demo_store):
    """Rows written without a bump (by hand, or an import committing during the read) are still read:
    the columns grow beyond the size the data_version row suggested."""
    engine = store.connect(db_url)
    empty = store.load_reports(engine)
    assert empty.empty and list(empty.columns) == list(store.ANALYSIS_COLUMNS)
    with demo_store.engine.connect() as conn:
        rows = pd.read_sql(sa.select(store.reports).order_by(store.reports.c.id).limit(3_000), conn)
    with engine.begin() as conn:
        import_id = store.insert_import(
            conn,
            filename="by-hand.csv",
            file_sha256="1" * 64,
            fmt="sharing_form",
            is_demo=False,
            imported_by=None,
        )
        rows = rows.drop(columns=["id"]).assign(import_id=import_id, merged_into=None)
        rows["merged_into"] = rows["merged_into"].astype(object)
        store._bulk_insert(conn, store.reports, rows, [c for c in rows.columns])
    assert store.counts(engine)["reports"] == 0, "nothing bumped the row"
    frame = store.load_reports(engine)
    assert len(frame) == 3_000 and frame["id"].is_unique
    reference = demo_store.reports.sort_values("id").head(3_000).reset_index(drop=True)
    assert frame["agency"].astype(str).tolist() == reference["agency"].astype(str).tolist()
    assert frame["h3"].tolist() == reference["h3"].tolist()
    engine.dispose()
