"""One script run reads the one-row data_version once: the frame's refresh, the page caches' keys and
the demo banner share the run's read (hoth_geo.ui.state.data_version)."""

from __future__ import annotations

from apptest_support import app_as, ensure_user
from forms import write_form

from hoth_geo import store
from hoth_geo.intake import pipeline
from hoth_geo.ui import state


def _counting_reads(monkeypatch) -> list[int]:
    """Wraps store.data_version (the store's own calls look it up there too) and counts its calls."""
    reads: list[int] = []
    real = store.data_version

    def counted(engine_or_conn):
        reads.append(1)
        return real(engine_or_conn)

    monkeypatch.setattr(store, "data_version", counted)
    return reads


def _on_map(at) -> int:
    return int({m.label: m.value for m in at.metric}["Reports on the map"].replace(",", ""))


def test_a_rerun_of_the_hotspot_map_reads_the_data_version_once(db_url, monkeypatch, tmp_path):
    monkeypatch.setenv("HOTH_GEO_DB", db_url)
    engine = store.connect(db_url)
    pipeline.load_demo_data(engine)
    at = app_as(ensure_user(db_url, "analyst"), "map").run()
    assert not at.exception, at.exception
    assert any("SYNTHETIC DEMO DATA" in w.value for w in at.warning)
    shown = _on_map(at)

    reads = _counting_reads(monkeypatch)
    at.run()
    assert not at.exception, at.exception
    assert len(reads) == 1, f"a rerun read the data_version row {len(reads)} times"
    reads.clear()
    at.multiselect(key="f_concerns").select("cse").run()
    assert not at.exception, at.exception
    assert len(reads) == 1, f"a filter change read the data_version row {len(reads)} times"
    assert any("SYNTHETIC DEMO DATA" in w.value for w in at.warning), "the banner uses the run's read"
    at.multiselect(key="f_concerns").set_value([]).run()
    assert _on_map(at) == shown

    # Held for one run only: an import committed between two runs is on the map at the next one.
    rows = [
        {
            "Source reference": f"ONE-READ-{i}",
            "Date observed": f"{10 + i:02d}/06/2026",
            "Reporting agency": "Rerun Test School (synthetic)",
            "Agency type": "school",
            "Latitude": f"{54.7761 + i / 1000:.6f}",
            "Longitude": "-1.5733",
            "Concerns": "cse",
        }
        for i in range(5)
    ]
    form = write_form(tmp_path / "form.csv", rows)
    assert pipeline.import_file(engine, form).n_accepted == 5
    at.run()
    assert not at.exception, at.exception
    assert _on_map(at) == shown + 5
    assert state._run_version.get() is None, "nothing of a run is left outside it"
    engine.dispose()
