"""Individual reports for the roles allowed them (hoth_geo.access.casework), on the shipped demo set:
the reports in a clicked hexagon, the columns each role reads, and every read in the audit log."""

from __future__ import annotations

import json

import numpy as np
import pytest
import sqlalchemy as sa

from hoth_geo import store
from hoth_geo.access import audit, auth, casework
from hoth_geo.access.privacy import NotAllowed
from hoth_geo.hexes import cells_to_parent
from hoth_geo.intake import pipeline
from hoth_geo.selection import ReportFilter, located


def test_a_permitted_report_list_reads_narratives_by_id_and_others_cannot(demo_store):
    engine = demo_store.engine
    ids = demo_store.reports.sort_values("observed_at")["id"].tail(5).tolist()
    with engine.connect() as conn:
        narratives = dict(
            conn.execute(
                sa.select(store.reports.c.id, store.reports.c.narrative).where(store.reports.c.id.in_(ids))
            ).all()
        )
    police = auth.User(id=None, username="police.lean", display_name=None, role="police", is_admin=False)
    analyst = auth.User(id=None, username="analyst.lean", display_name=None, role="analyst", is_admin=False)
    for user in (police, analyst):
        rows = casework.view_reports(engine, ids, user, target="test:lean")
        assert sorted(rows["id"]) == sorted(ids)
        assert dict(zip(rows["id"], rows["narrative"], strict=True)) == narratives
    n = len(audit.load_audit(engine))
    for role in ("partner", "contributor"):
        user = auth.User(id=None, username=f"{role}.lean", display_name=None, role=role, is_admin=False)
        with pytest.raises(NotAllowed):
            casework.view_reports(engine, ids, user, target="test:lean")
    admin = auth.User(id=None, username="admin.lean", display_name=None, role=None, is_admin=True)
    with pytest.raises(NotAllowed):
        casework.view_reports(engine, ids, admin, target="test:lean")
    assert len(audit.load_audit(engine)) == n, "a refused read reads and records nothing"


def test_the_reports_in_a_hexagon_are_its_located_ones_newest_first(demo_store):
    reports = demo_store.reports
    cells8 = cells_to_parent(reports["h3"].to_numpy(), 8)
    busiest = int(np.bincount(np.unique(cells8[located(reports)], return_inverse=True)[1]).argmax())
    cell = int(np.unique(cells8[located(reports)])[busiest])
    ids = casework.ids_in_hex(reports, cell, 8)
    inside = reports[located(reports) & (cells8 == cell)]
    assert len(ids) == len(inside) > 5 and set(ids) == set(inside["id"])
    times = reports.set_index("id").loc[ids, "observed_at"]
    assert times.is_monotonic_decreasing
    cse = casework.ids_in_hex(reports, cell, 8, ReportFilter(concerns=("cse",)))
    assert set(cse) < set(ids)
    assert casework.ids_in_hex(reports, cell, 9).size == 0, "a cell is looked up at its own resolution"


def test_an_analyst_reads_the_listed_columns_with_narratives_and_both_reads_are_audited(tmp_path):
    engine = store.connect(f"sqlite:///{tmp_path / 'casework.sqlite'}")
    pipeline.load_demo_data(engine)
    reports = store.load_reports(engine)
    ids = reports["id"].head(casework.MAX_ROWS + 20).tolist()
    analyst = auth.User(id=None, username="analyst.case", display_name=None, role="analyst", is_admin=False)
    rows = casework.view_reports(engine, ids, analyst, target="h3:88194e6a1bfffff")
    assert list(rows.columns) == [*casework.REPORT_COLUMNS, *casework.NARRATIVE_COLUMNS]
    assert len(rows) == casework.MAX_ROWS, "a longer list is cut, not shown in full"
    assert rows["observed_at"].is_monotonic_decreasing
    with engine.connect() as conn:
        stored = dict(conn.execute(sa.select(store.reports.c.id, store.reports.c.narrative)).all())
    assert all(stored[i] == n for i, n in zip(rows["id"], rows["narrative"], strict=True))
    log = audit.load_audit(engine)
    viewed = log[log["event"].isin(["report_viewed", "narrative_viewed"])]
    assert viewed["event"].tolist() == ["report_viewed", "narrative_viewed"]
    assert (viewed["actor"] == "analyst.case").all() and (viewed["target"] == "h3:88194e6a1bfffff").all()
    details = json.loads(viewed["details"].iloc[0])
    assert details["n"] == casework.MAX_ROWS and details["report_ids"] == ids[: casework.MAX_ROWS]
    assert audit.verify_chain(engine).ok


def test_a_partner_is_refused_before_anything_is_read(demo_store):
    partner = auth.User(id=None, username="partner.case", display_name=None, role="partner", is_admin=False)
    with pytest.raises(NotAllowed, match="may not view individual reports"):
        casework.view_reports(demo_store.engine, [1, 2, 3], partner, target="h3:test")


def test_the_times_given_in_words_are_counted_by_their_words_and_the_read_is_audited(tmp_path):
    from forms import LOCATED, write_form

    from hoth_geo.analysis import temporal

    engine = store.connect(f"sqlite:///{tmp_path / 'words.sqlite'}")
    pipeline.load_demo_data(engine)
    with engine.connect() as conn:
        demo_said = dict(
            conn.execute(
                sa.select(store.reports.c.time_text, sa.func.count())
                .where(store.reports.c.time_text.is_not(None))
                .group_by(store.reports.c.time_text)
            ).all()
        )
    # Another partner writes the demo's words in its own capitals and spacing.
    partner = [
        dict(LOCATED, **{"Date observed": f"1{d}/06/2025", "Time observed": said})
        for d, said in enumerate(["After  School", "after school", "EVENING", "tea time"])
    ]
    pipeline.import_file(engine, write_form(tmp_path / "partner.csv", partner))
    reports = store.load_reports(engine)
    ids = temporal.ids_with_time_in_words(reports)
    profile = temporal.time_profile(reports)
    assert (
        len(ids)
        == profile.time_in_words
        == int(reports["time_in_words"].sum())
        == sum(demo_said.values()) + 4
    )
    analyst = auth.User(id=None, username="analyst.words", display_name=None, role="analyst", is_admin=False)
    words = casework.times_in_words(engine, ids, analyst, target="time: all matching reports")
    by_words = dict(zip(words["words"], words["reports"], strict=True))
    # One line per wording whatever its capitals or spacing, shown as most reports wrote it.
    assert by_words["after school"] == demo_said["after school"] + 2
    assert by_words["evening"] == demo_said["evening"] + 1
    assert by_words["tea time"] == 1 and "EVENING" not in by_words
    assert words["reports"].sum() == len(ids) and words["reports"].is_monotonic_decreasing
    viewed = audit.load_audit(engine).iloc[-1]
    assert (viewed["event"], viewed["actor"]) == ("report_viewed", "analyst.words")
    assert sorted(json.loads(viewed["details"])["report_ids"]) == sorted(int(i) for i in ids)

    n = len(audit.load_audit(engine))
    partner_user = auth.User(
        id=None, username="partner.words", display_name=None, role="partner", is_admin=False
    )
    with pytest.raises(NotAllowed, match="may not view individual reports"):
        casework.times_in_words(engine, ids, partner_user, target="time: all matching reports")
    assert len(audit.load_audit(engine)) == n, "a refused read reads and records nothing"
