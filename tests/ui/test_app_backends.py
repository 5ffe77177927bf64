"""The app on each database backend (SQLite and PostgreSQL), in Streamlit's AppTest: first start loads the
demo set, the map counts what the database holds, an import made elsewhere shows on the next rerun, and
opening reports is audited."""

from __future__ import annotations

from apptest_support import app_as, ensure_user
from forms import write_form

from hoth_geo import settings, store
from hoth_geo.access import audit
from hoth_geo.intake import pipeline
from hoth_geo.selection import located


def _number(value: str) -> int:
    return int(value.replace(",", ""))


def _on_map(at) -> int:
    return _number({m.label: m.value for m in at.metric}["Reports on the map"])


def test_first_start_loads_the_demo_and_a_new_import_shows_on_the_next_rerun(db_url, monkeypatch, tmp_path):
    monkeypatch.setenv("HOTH_GEO_DB", db_url)
    analyst = ensure_user(db_url, "analyst")
    at = app_as(analyst, "map").run()
    assert not at.exception, at.exception
    assert any("SYNTHETIC DEMO DATA" in w.value for w in at.warning), "the demo loads on first start"
    engine = store.connect(db_url)
    reports = store.load_reports(engine)
    # The map's default hexagons count every report with a point precise enough for them.
    mapped = int(located(reports, settings.DEFAULT_MAP_RES).sum())
    assert _on_map(at) == mapped > 1000

    rows = [
        {
            "Source reference": f"BACKEND-{i}",
            "Date observed": f"{10 + i:02d}/06/2026",
            "Reporting agency": "Backend Test School (synthetic)",
            "Agency type": "school",
            "Latitude": f"{54.7761 + i / 1000:.6f}",
            "Longitude": "-1.5733",
            "Concerns": "cse",
        }
        for i in range(12)
    ]
    form = write_form(tmp_path / "backend_form.csv", rows)
    summary = pipeline.import_file(engine, form)  # another process's import, as far as the app knows
    assert summary.n_accepted == 12
    at.run()
    assert not at.exception, at.exception
    assert _on_map(at) == mapped + 12
    other_session = app_as(analyst, "map").run()
    assert _on_map(other_session) == mapped + 12
    engine.dispose()


def test_reports_in_a_hexagon_are_shown_and_audited_on_each_backend(db_url, monkeypatch):
    monkeypatch.setenv("HOTH_GEO_DB", db_url)
    police = ensure_user(db_url, "police")
    engine = store.connect(db_url)
    pipeline.load_demo_data(engine)
    at = app_as(police, "map").run()
    at.selectbox(key="map_pick").select_index(0).run()
    assert not at.exception, at.exception
    before = len(audit.load_audit(engine))
    at.button(key="show_reports").click().run()
    assert not at.exception, at.exception
    rows = at.dataframe[-1].value
    assert len(rows) > 0 and rows["narrative"].str.contains("SYNTHETIC").all()
    log = audit.load_audit(engine).iloc[before:]
    assert list(log["event"]) == ["report_viewed", "narrative_viewed"]
    assert audit.verify_chain(engine).ok
    engine.dispose()
