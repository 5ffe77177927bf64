"""The app frame in Streamlit's AppTest: first run, sign-in, pages by role, and the core pages."""

from __future__ import annotations

import re

import pytest
from apptest_support import TEST_PASSWORD, app_as, ensure_user

from hoth_geo import store
from hoth_geo.access import audit, auth
from hoth_geo.access.auth import User
from hoth_geo.selection import mappable_radius_m
from hoth_geo.ui.main import PAGES, allowed_pages

CORE_PAGES = ("map", "places", "import", "review", "about")


@pytest.fixture(scope="module")
def db_url(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('app') / 'app.sqlite'}"


@pytest.fixture()
def analyst(db_url, monkeypatch):
    monkeypatch.setenv("HOTH_GEO_DB", db_url)
    return ensure_user(db_url, "analyst")


def test_first_run_offers_only_the_admin_form(tmp_path, monkeypatch):
    monkeypatch.setenv("HOTH_GEO_DB", f"sqlite:///{tmp_path / 'fresh.sqlite'}")
    monkeypatch.setenv("HOTH_GEO_VAR_DIR", str(tmp_path / "var"))
    at = app_as(None).run()
    assert not at.exception
    assert at.title[0].value == "hoth-geo: first run"
    assert not at.warning, "no data (and no demo banner) before an account exists"


def test_first_run_form_creates_an_admin_with_a_data_role(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'fresh.sqlite'}"
    monkeypatch.setenv("HOTH_GEO_DB", url)
    monkeypatch.setenv("HOTH_GEO_VAR_DIR", str(tmp_path / "var"))
    at = app_as(None).run()
    at.text_input[0].input("chair.one")
    at.text_input[2].input("a long synthetic passphrase")
    at.text_input[3].input("a long synthetic passphrase")
    at.text_input[4].input((tmp_path / "var" / "first-run-token").read_text().strip())
    at.button[0].click().run()
    assert not at.exception, at.exception
    user = auth.get_user(store.connect(url), "chair.one")
    assert user is not None and user.is_admin and user.role == "analyst"
    assert at.title[0].value == "Hotspot map"
    assert any("SYNTHETIC DEMO DATA" in w.value for w in at.warning), "the demo loads on first start"


def test_a_visitor_sees_only_the_sign_in_page(analyst):
    at = app_as(None, "review").run()
    assert at.title[0].value == "hoth-geo: sign in"
    assert not at.dataframe and not at.metric


def test_sign_in_with_a_wrong_password_fails_and_is_audited(analyst, db_url):
    at = app_as(None).run()
    at.text_input[0].input(analyst.username)
    at.text_input[1].input("not the password at all")
    at.button[0].click().run()
    assert at.error and "Sign-in failed" in at.error[0].value
    log = audit.load_audit(store.connect(db_url))
    assert log.iloc[-1]["event"] == "sign_in_failed"


def test_sign_in_then_sign_out(analyst):
    at = app_as(None).run()
    at.text_input[0].input(analyst.username)
    at.text_input[1].input(TEST_PASSWORD)
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Hotspot map"
    at.button(key="sign_out").click().run()
    assert at.title[0].value == "hoth-geo: sign in"


@pytest.mark.parametrize("page", CORE_PAGES)
def test_every_core_page_renders_with_the_demo_banner(analyst, page):
    at = app_as(analyst, page).run()
    assert not at.exception, at.exception
    assert at.title[0].value.startswith(PAGES[page][1])
    assert any("SYNTHETIC DEMO DATA" in w.value for w in at.warning), (
        "demo data must be labelled on every page"
    )


def test_map_page_reports_online_count_apart_from_the_map(analyst, demo_store):
    at = app_as(analyst, "map").run()
    metrics = {m.label: int(m.value.replace(",", "")) for m in at.metric}
    assert metrics["Online (not mapped)"] > 0
    assert metrics["Reports on the map"] > 1000
    reports = demo_store.reports
    with_a_point_or_online = int(((reports["h3"] != 0) | reports["online"]).sum())
    postcode_radius = reports.loc[reports["geocode_method"] == "postcode", "precision_m"]
    # At resolution 8 (530 m edges) only farm postcode units more than a kilometre wide are too coarse.
    assert metrics["Too coarse to map"] == int((postcode_radius > mappable_radius_m(8)).sum()) > 0
    assert sum(metrics[k] for k in ("Reports on the map", "Online (not mapped)", "Too coarse to map")) == (
        with_a_point_or_online
    )

    at.select_slider[0].set_value(10).run()  # hexagons with 76 m edges: streets (300 m) are too coarse
    finer = {m.label: int(m.value.replace(",", "")) for m in at.metric}
    streets = int((reports["geocode_method"] == "street").sum())
    wide_units = int((postcode_radius > mappable_radius_m(10)).sum())
    assert finer["Too coarse to map"] == streets + wide_units and streets > 0 and wide_units > 0
    assert sum(finer[k] for k in ("Reports on the map", "Online (not mapped)", "Too coarse to map")) == (
        with_a_point_or_online
    )


def test_the_context_toggle_draws_the_police_layer_without_changing_the_selection(analyst):
    at = app_as(analyst, "map").run()
    before = at.metric[0].value
    at.toggle(key="f_context").set_value(True).run()
    assert not at.exception
    # No police.uk file was imported into this database: the page says so rather than drawing nothing.
    assert any("No police.uk context imported" in i.value for i in at.info)
    assert at.metric[0].value == before, "the overlay is not a filter: the reports counted stay the same"


def test_a_filter_changes_the_map_counts(analyst):
    at = app_as(analyst, "map").run()
    before = at.metric[0].value
    at.multiselect(key="f_concerns").select("cse").run()
    assert not at.exception
    cse = int(at.metric[0].value.replace(",", ""))
    assert cse < int(before.replace(",", ""))
    # An indicator narrows it again: CSE reports that note contact with unknown adults.
    at.multiselect(key="f_indicators").select("unknown_adults").run()
    assert not at.exception
    assert 0 < int(at.metric[0].value.replace(",", "")) < cse


def test_places_page_ranks_the_planted_hotel_first_among_hotels(analyst):
    at = app_as(analyst, "places").run()
    at.multiselect(key="f_place_types").select("hotel").run()
    table = at.dataframe[0].value
    assert table.iloc[0]["name"] == "Hotel A, Durham (demo)"


def test_roles_decide_the_pages():
    partner = User(id=1, username="p", display_name=None, role="partner", is_admin=False)
    admin = User(id=2, username="a", display_name=None, role=None, is_admin=True)
    police = User(id=3, username="c", display_name=None, role="police", is_admin=False)
    assert allowed_pages(partner) == ["map", "hotspots", "export", "about"]
    assert allowed_pages(admin) == ["users", "audit", "area", "basemap", "about"]
    assert set(allowed_pages(police)) == set(PAGES) - {"users", "audit", "area", "basemap"}


@pytest.mark.parametrize("page", ["review", "import", "places", "time", "patrol", "disruption"])
def test_a_partner_cannot_open_restricted_pages_by_url(db_url, monkeypatch, page):
    monkeypatch.setenv("HOTH_GEO_DB", db_url)
    partner = ensure_user(db_url, "partner")
    at = app_as(partner, page).run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Hotspot map", "an unlisted page falls back to the default"
    text = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    assert "Synthetic" not in text and "narrative" not in text.lower()


def test_the_partner_map_shows_suppressed_counts_only(db_url, monkeypatch):
    monkeypatch.setenv("HOTH_GEO_DB", db_url)
    partner = ensure_user(db_url, "partner")
    at = app_as(partner, "map").run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    on_map = metrics["Reports on the map"]
    assert on_map.startswith("<") or int(on_map.replace(",", "")) % 5 == 0, "partner totals are rounded"
    assert re.fullmatch(r"\d{1,3}(,\d{3})*", on_map), "written as the police view writes its counts"
    assert "Partner view" in " ".join(c.value for c in at.caption)


def test_a_disabled_account_is_signed_out_at_once(db_url, monkeypatch):
    monkeypatch.setenv("HOTH_GEO_DB", db_url)
    user = ensure_user(db_url, "analyst", "leaver.test")
    at = app_as(user, "map").run()
    assert at.title[0].value == "Hotspot map"
    auth.disable_user(store.connect(db_url), "leaver.test", actor="admin.test")
    at.run()
    assert at.title[0].value == "hoth-geo: sign in"


def test_reports_in_a_hexagon_are_shown_on_request_and_audited(db_url, monkeypatch):
    monkeypatch.setenv("HOTH_GEO_DB", db_url)
    police = ensure_user(db_url, "police")
    at = app_as(police, "map").run()
    at.selectbox(key="map_pick").select_index(0).run()
    assert not at.exception, at.exception
    before = len(audit.load_audit(store.connect(db_url)))
    at.button(key="show_reports").click().run()
    assert not at.exception, at.exception
    rows = at.dataframe[-1].value
    assert "narrative" in rows.columns and rows["narrative"].str.contains("SYNTHETIC").all()
    assert rows["indicators"].str.len().gt(0).any(), "the signs the partner noted are listed with each report"
    log = audit.load_audit(store.connect(db_url)).iloc[before:]
    assert list(log["event"]) == ["report_viewed", "narrative_viewed"]
    assert set(log["actor"]) == {police.username}
    at.run()  # a rerun shows the same list without recording a second view
    assert len(audit.load_audit(store.connect(db_url))) == before + 2


def test_roles_without_report_access_are_refused_in_the_library(db_url):
    from hoth_geo.access import casework
    from hoth_geo.access.privacy import NotAllowed

    partner = ensure_user(db_url, "partner")
    with pytest.raises(NotAllowed):
        casework.view_reports(store.connect(db_url), [1], partner, target="h3:test")
