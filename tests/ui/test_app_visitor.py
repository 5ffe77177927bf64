"""A visitor who has not signed in makes the server load nothing: the sign-in page's session reads no
report, context row, place or gazetteer, and does not load the demo set into an empty database."""

from __future__ import annotations

import pytest
from apptest_support import TEST_PASSWORD, app_as, ensure_user

from hoth_geo import store
from hoth_geo.intake import area, pipeline
from hoth_geo.ui.main import FILTERED_PAGES

LOADERS = [
    (store, "load_reports"),
    (store, "load_context"),
    (pipeline, "all_places"),
    (pipeline, "load_demo_data"),
    (area, "gazetteer_for"),
]


@pytest.fixture
def loads(monkeypatch):
    """The data loaders, still doing their work, each call recorded by name."""
    calls: list[str] = []
    for module, name in LOADERS:
        real = getattr(module, name)

        def recording(*args, _real=real, _name=name, **kwargs):
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(module, name, recording)
    return calls


@pytest.fixture
def app_db(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'visitor.sqlite'}"
    monkeypatch.setenv("HOTH_GEO_DB", url)
    monkeypatch.setenv("HOTH_GEO_VAR_DIR", str(tmp_path / "var"))
    csv = tmp_path / "one_report.csv"
    csv.write_text(
        "Source reference,Date observed,Reporting agency,Agency type,Latitude,Longitude,Concerns,Narrative\n"
        "VIS-1,03/04/2025,Synthetic Youth Project,youth_service,54.77613,-1.57329,cse,Synthetic report\n",
        encoding="utf-8",
    )
    pipeline.import_file(store.connect(url), csv)
    return url


@pytest.mark.parametrize("page", ["map", "hotspots", "places", "review"])
def test_the_sign_in_page_loads_no_data(app_db, loads, page):
    ensure_user(app_db, "analyst", "analyst.visitor")
    at = app_as(None, page=page).run()
    assert at.title[0].value == "hoth-geo: sign in"
    assert not at.exception
    assert loads == []
    # The same session signing in does load the reports: the recording above sees real loads.
    at.text_input[0].input("analyst.visitor")
    at.text_input[1].input(TEST_PASSWORD)
    at.button[0].click().run()
    assert not at.exception
    if page in FILTERED_PAGES:
        assert "load_reports" in loads
    else:  # Review applies no report filters and needs no analysis frame
        assert loads == []
