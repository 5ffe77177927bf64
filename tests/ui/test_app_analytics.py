"""AppTest checks of the hotspot analytics pages (Hotspots, Places, Time, Patrol plan, Disruption log) on a
fresh database: the first start loads the demo set."""

from __future__ import annotations

import json
import os
import re
from datetime import date

import pytest
from apptest_support import app_as, ensure_user
from streamlit.testing.v1 import AppTest

from hoth_geo import settings, store
from hoth_geo.access import audit
from hoth_geo.ui.main import PAGES
from hoth_geo.ui.pages import disruption_log
from hoth_geo.ui.pickers import BUSIEST_LISTED

ANALYTICS_PAGES = ("hotspots", "places", "time", "patrol", "disruption")


@pytest.fixture(scope="module")
def db_url(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('app_analytics') / 'app.sqlite'}"


@pytest.fixture()
def app_env(db_url, monkeypatch):
    monkeypatch.setenv("HOTH_GEO_DB", db_url)
    return ensure_user(db_url, "analyst")


def _run(page: str) -> AppTest:
    user = ensure_user(os.environ["HOTH_GEO_DB"], "analyst")
    at = app_as(user, page).run()
    assert not at.exception, at.exception
    return at


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _as_int(text: str) -> int:
    return int(text.replace(",", ""))


@pytest.mark.parametrize("page", ANALYTICS_PAGES)
def test_analytics_page_renders_with_the_demo_banner(app_env, page):
    at = _run(page)
    assert at.title[0].value.startswith(PAGES[page][1])
    assert any("SYNTHETIC DEMO DATA" in w.value for w in at.warning)


def test_pages_are_registered_in_order():
    titles = [title for _, title, _, _ in PAGES.values()]
    assert titles == [
        "Hotspot map",
        "Hotspots",
        "Places",
        "Time",
        "Patrol plan",
        "Disruption log",
        "Export",
        "Import",
        "Review",
        "Share information",
        "My submissions",
        "Users",
        "Audit log",
        "Area",
        "Basemap",
        "About",
    ]


def test_hotspots_lists_the_planted_town_centre_cell_among_hot_cells(app_env):
    truth = json.loads((settings.DEMO_DIR / "planted_truth.json").read_text())
    cell = truth["town_centre_cluster"]["expected_top_cell_res8"]
    at = _run("hotspots")
    hot = at.dataframe[0].value
    assert cell in set(hot["h3"])
    metrics = _metrics(at)
    assert _as_int(metrics["Hot spots with reports"]) > 0
    # Every hot spot in the table has reports of its own, is named by its streets, and its p-value
    # reads as a person reads it; the empty hexagons beside hot ones are counted apart.
    assert (hot["count"] > 0).all() and (hot["where"] != "").all()
    assert hot["p_shown"].str.fullmatch(r"< 0\.001|0\.\d{3}").all()
    assert _as_int(metrics["Beside a hot spot, no reports"]) >= 0
    assert not hot["confidence"].str.contains("no reports").any()
    assert hot["confidence"].isin(["99 %", "95 %", "90 %"]).all()  # short: the row fits the screen


@pytest.mark.parametrize(
    "view", ["Emerging hot spots", "Change between periods", "Intensity (kernel density)"]
)
def test_every_hotspots_view_renders(app_env, view):
    at = _run("hotspots")
    at.radio(key="hs_view").set_value(view).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    if view != "Intensity (kernel density)":
        # Each hexagon listed is named by its streets first, its H3 id last, as in the Gi* table.
        listed = at.dataframe[-1].value
        assert len(listed) > 0
        assert list(listed.columns)[0] == "where" and list(listed.columns)[-1] == "h3"
        assert listed["h3"].str.fullmatch("[0-9a-f]{15}").all()
        # A rural hexagon with no street or place of the gazetteer near it has no words, only its id.
        assert (listed["where"] != "").mean() > 0.9


def test_hotspots_warns_instead_of_mapping_too_few_reports(app_env):
    at = _run("hotspots")
    at.date_input(key="f_dates").set_value((date(2026, 10, 30), date(2026, 10, 31))).run()
    assert not at.exception, at.exception
    assert any("Not enough reports" in w.value for w in at.warning)


def test_places_page_shows_concentration_and_a_within_type_comparison(app_env):
    at = _run("places")
    labels = _metrics(at)
    assert "Repeat place rate" in labels
    assert "Percentile rank" in labels
    assert labels["Flagged as unusual"] in ("Yes", "No")
    assert len(at.dataframe) >= 3  # ranking, concentration, repeat places


def test_places_page_ranks_the_planted_hotel_first_among_hotels(app_env):
    at = _run("places")
    at.multiselect(key="f_place_types").select("hotel").run()
    assert not at.exception, at.exception
    assert at.dataframe[0].value.iloc[0]["name"] == "Hotel A, Durham (demo)"
    # One place-type filter (the sidebar's), and the repeat-place headline counts the same places as
    # the repeat table below it.
    assert [m.key for m in at.multiselect if m.key and "type" in m.key and "chart" not in m.key] == [
        "f_place_types",
        "f_agency_types",
    ]
    repeat_table = at.dataframe[2].value
    assert set(repeat_table["place_type"]) == {"Hotel / B&B"}
    assert _as_int(_metrics(at)["Places with reports"]) == int(repeat_table["places_with_reports"].sum())


def test_time_page_counts_unknown_times_apart(app_env):
    at = _run("time")
    m = _metrics(at)
    unknown = _as_int(m["Time unknown"])
    assert unknown > 0
    total = _as_int(m["Reports selected"])
    in_table = _as_int(m["In the day and hour table"])
    assert in_table + unknown + _as_int(m["Approximate date"]) == total
    # Of the unknown times, those given only in words are counted, and their words listed on request.
    (said,) = [c.value for c in at.caption if "gave a time of day only in words" in c.value]
    n_words = _as_int(said.split(" of the reports")[0])
    assert 0 < n_words < unknown
    assert not at.dataframe, "the words are free text: read only when asked"
    at.button(key="time_words").click().run()
    assert not at.exception, at.exception
    words = at.dataframe[0].value
    assert set(words["words"]) == {"after school", "evening", "late at night"}
    assert words["reports"].sum() == n_words
    assert any("recorded in the audit log" in c.value for c in at.caption)
    viewed = audit.load_audit(store.connect(os.environ["HOTH_GEO_DB"])).iloc[-1]
    assert (viewed["event"], viewed["target"]) == ("report_viewed", "time:all matching reports")


def test_time_page_marks_a_part_month_at_the_end_of_the_dates_chosen(app_env):
    at = _run("time")
    assert not [c for c in at.caption if "Part months" in c.value], "the demo's dates are whole months"
    # Dates ending on the 15th: October's count is half a month's, and the page says so.
    at.date_input(key="f_dates").set_value((date(2026, 5, 1), date(2026, 10, 15))).run()
    assert not at.exception, at.exception
    (said,) = [c.value for c in at.caption if "Part months" in c.value]
    assert "1\u201315 Oct 2026 only" in said and "May" not in said


def test_time_page_for_one_hexagon(app_env):
    truth = json.loads((settings.DEMO_DIR / "planted_truth.json").read_text())
    cell = truth["town_centre_cluster"]["expected_top_cell_res8"]
    at = _run("time")
    at.radio(key="time_selection").set_value("A hexagon").run()
    at.text_input(key="time_cell").input(cell).run()
    assert not at.exception, at.exception
    selected = _as_int(_metrics(at)["Reports selected"])
    assert 0 < selected < 1000


def test_time_page_offers_the_busiest_hexagons_by_their_streets(app_env):
    truth = json.loads((settings.DEMO_DIR / "planted_truth.json").read_text())
    at = _run("time")
    at.radio(key="time_selection").set_value("A hexagon").run()
    picker = at.selectbox(key="time_cell_busiest")
    assert len(picker.options) == BUSIEST_LISTED
    # The busiest first, named by its streets with its reports: no H3 id to copy.
    first = picker.options[0]
    assert re.fullmatch(r"[A-Z][^()]* \([\d,]+ reports\)", first), first
    at.selectbox(key="time_cell_busiest").select_index(0).run()
    assert not at.exception, at.exception
    selected = _as_int(_metrics(at)["Reports selected"])
    assert selected == _as_int(first.rsplit("(", 1)[1].split()[0])
    (said,) = [c.value for c in at.caption if c.value.startswith("Selection:")]
    assert truth["town_centre_cluster"]["expected_top_cell_res8"] in said


def test_patrol_plan_offers_a_download(app_env):
    at = _run("patrol")
    assert at.get("download_button"), "the plan must be downloadable"
    plan = at.table[0].value  # a static table: long cells wrap instead of being cut
    assert len(plan) == 10
    assert list(plan.columns) == [
        "Slot",
        "When",
        "Where",
        "Reports",
        "Agencies",
        "Why",
        "Places in the hexagon (reports)",
        "Hexagon (H3)",
    ]
    # Said as an officer counts: places by their streets, reasons in reports, never "weighted".
    assert (plan["Where"] != "").all() and (plan["Reports"] > 0).all()
    assert plan["Why"].str.contains(r"^\d[\d,]* reports? at these hours in the last").all()
    assert not plan["Why"].str.contains("weighted").any()


def test_recording_a_disruption_adds_a_row_and_shows_the_wdq(app_env):
    at = _run("disruption")
    at.radio(key="dl_target_kind").set_value(disruption_log.CELL).run()
    at.selectbox(key="dl_tactic").set_value("police_presence")
    at.text_input(key="dl_cell").input("8819464e2dfffff")
    at.select_slider(key="dl_res").set_value(8)
    assert at.date_input(key="dl_start").value == date.today(), "an activity recorded as it begins"
    at.date_input(key="dl_start").set_value(date(2026, 5, 1))
    at.date_input(key="dl_end").set_value(date(2026, 7, 31))
    at.text_area(key="dl_note").input("High-visibility patrols at the bus station")
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    log = at.dataframe[0].value
    assert len(log) == 1
    assert log.iloc[0]["h3"] == "8819464e2dfffff"
    # Named by its streets, as the patrol plan names it, with the H3 id last.
    assert log.iloc[0]["where"] and list(log.columns)[-2:] == ["h3", "res"]
    metrics = _metrics(at)
    assert "WDQ" in metrics
    interpretation = " ".join(i.value for i in at.info)
    assert "WDQ" in interpretation or "undefined" in interpretation


def test_an_officer_records_a_disruption_at_a_hexagon_chosen_by_its_streets(app_env):
    at = _run("disruption")
    at.radio(key="dl_target_kind").set_value(disruption_log.CELL).run()
    at.select_slider(key="dl_res").set_value(9).run()
    first = at.selectbox(key="dl_cell_busiest").options[0]
    streets = first.rsplit(" (", 1)[0]
    at.selectbox(key="dl_cell_busiest").select_index(0)
    at.text_area(key="dl_note").input("Synthetic: presence patrol after the plan's first slot")
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert any(streets in s.value for s in at.success)
    log = at.dataframe[0].value
    mine = log[log["note"] == "Synthetic: presence patrol after the plan's first slot"]
    assert mine["where"].tolist() == [streets] and mine["res"].tolist() == [9]
    # A typed id that is not one is refused by name, and nothing is recorded.
    at.text_input(key="dl_cell").input("not-a-cell")
    at.button[0].click().run()
    assert any("is not an H3 cell id" in e.value for e in at.error)
    assert len(at.dataframe[0].value) == len(log)
