"""Smoke tests of every page with Streamlit's AppTest, on a fresh database (first start loads the demo)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from hoth_geo.ui.main import PAGES


def _page_script(start_page: str) -> None:
    from hoth_geo.ui.main import main

    main(start_page=start_page)


@pytest.fixture(scope="module")
def db_url(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('app') / 'app.sqlite'}"


@pytest.fixture()
def app_env(db_url, monkeypatch):
    monkeypatch.setenv("HOTH_GEO_DB", db_url)


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_renders_with_the_demo_banner(app_env, page):
    at = AppTest.from_function(_page_script, args=(page,), default_timeout=120).run()
    assert not at.exception, at.exception
    assert at.title[0].value.startswith(PAGES[page][1])
    assert any("SYNTHETIC DEMO DATA" in w.value for w in at.warning), (
        "demo data must be labelled on every page"
    )


def test_map_page_reports_online_count_apart_from_the_map(app_env):
    at = AppTest.from_function(_page_script, args=("map",), default_timeout=120).run()
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Online (not mapped)"].replace(",", "")) > 0
    assert int(metrics["Reports on the map"].replace(",", "")) > 1000


def test_a_filter_changes_the_map_counts(app_env):
    at = AppTest.from_function(_page_script, args=("map",), default_timeout=120).run()
    before = at.metric[0].value
    at.multiselect(key="f_concerns").select("cse").run()
    assert not at.exception
    after = at.metric[0].value
    assert int(after.replace(",", "")) < int(before.replace(",", ""))


def test_places_page_ranks_the_planted_hotel_first_among_hotels(app_env):
    at = AppTest.from_function(_page_script, args=("places",), default_timeout=120).run()
    at.multiselect(key="places_types").select("hotel").run()
    table = at.dataframe[0].value
    assert table.iloc[0]["name"] == "Hotel A, Durham (demo)"
