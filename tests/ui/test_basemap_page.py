"""The Basemap page: admins choose the basemap, the choice is saved and audited; others never see it."""

from __future__ import annotations

import pytest
from apptest_support import app_as, as_read, ensure_user

from hoth_geo import settings, store
from hoth_geo.access import audit
from hoth_geo.deliver import basemap as basemaps


@pytest.fixture()
def db_url(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'app.sqlite'}"
    monkeypatch.setenv("HOTH_GEO_DB", url)
    monkeypatch.setattr(settings, "BASEMAP_FILE", tmp_path / "basemap.json")
    return url


def test_an_admin_sets_a_tile_server_and_the_change_is_audited(db_url):
    admin = ensure_user(db_url, "admin", "basemap.admin")
    at = app_as(admin, "basemap").run()
    assert not at.exception, at.exception
    assert "No basemap" in at.markdown[0].value
    at.radio(key="basemap_choice").set_value("url").run()
    at.text_input[0].set_value("https://tiles.example.org/{z}/{x}/{y}.png").run()
    at.text_input[1].set_value("Synthetic Tiles Ltd").run()
    assert not at.exception, at.exception
    at.button[0].click().run()
    assert not at.exception, at.exception
    saved = basemaps.load()
    assert (
        saved.url == "https://tiles.example.org/{z}/{x}/{y}.png"
        and saved.attribution == "Synthetic Tiles Ltd"
    )
    assert any("Basemap saved" in s.value for s in at.success)
    assert as_read(at.markdown[0].value) == (
        "Now: tiles.example.org: https://tiles.example.org (zoom 0-19)",
        {"strong"},
    )
    log = audit.load_audit(store.connect(db_url))
    assert log.iloc[-1]["event"] == "basemap_set" and log.iloc[-1]["actor"] == "basemap.admin"


def test_a_bad_template_is_explained_and_nothing_is_saved(db_url):
    admin = ensure_user(db_url, "admin", "basemap.admin")
    at = app_as(admin, "basemap").run()
    at.radio(key="basemap_choice").set_value("url").run()
    at.text_input[0].set_value("https://tiles.example.org/tiles.png").run()
    at.text_input[1].set_value("Synthetic Tiles Ltd").run()
    assert any("{z}, {x}, {y}" in as_read(e.value)[0] for e in at.error)
    assert not settings.BASEMAP_FILE.exists()


def test_only_admins_get_the_basemap_page(db_url):
    analyst = ensure_user(db_url, "analyst")
    at = app_as(analyst, "basemap").run()
    assert not at.exception
    assert "Basemap" not in [t.value for t in at.title]
