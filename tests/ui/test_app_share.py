"""The Share information and My submissions pages in Streamlit's AppTest (the browser tests drive
the same pages in Chromium; these are the fast checks of the form's logic)."""

from __future__ import annotations

import json
import os
import re
from datetime import date

import pytest
from apptest_support import app_as, ensure_user

from hoth_geo import settings, store
from hoth_geo.access import auth
from hoth_geo.deliver import maps
from hoth_geo.intake import pipeline
from hoth_geo.intake import submission as sm
from hoth_geo.ui.main import allowed_pages
from hoth_geo.ui.pages.share import MY_SUBMISSIONS_HEADERS
from hoth_geo.ui.text import md_escape

DEMO_PLACE = "Bus station, Darlington town centre (demo)"


@pytest.fixture(scope="module")
def db_url(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('app_share') / 'app.sqlite'}"
    pipeline.load_demo_data(store.connect(url))
    return url


@pytest.fixture()
def contributor(db_url, monkeypatch):
    monkeypatch.setenv("HOTH_GEO_DB", db_url)
    user = ensure_user(db_url, "contributor", "school.lead")
    engine = store.connect(db_url)
    sm.set_account_agency(engine, user.username, "Example Academy (fictional)", "school")
    sm.clear_draft(engine, user)  # each test starts from an empty form
    return user


def fill(at, seen: str = "Synthetic: a pupil met two older males at the bus station."):
    at.text_input(key="sh_query").input("bus stat darl").run()
    choice = at.selectbox(key="sh_choice")
    assert choice.value is None, "a suggestion is never chosen for the reporter"
    label = sm.gazetteer_index(store.connect(os.environ["HOTH_GEO_DB"])).search("bus stat darl")[0].label
    assert label.startswith(DEMO_PLACE)
    choice.set_value(label).run()
    at.date_input(key="sh_date").set_value(date(2026, 11, 20)).run()
    at.multiselect(key="sh_concerns").select("cce").run()
    at.checkbox(key="sh_ind_unknown_adults").check().run()
    at.text_area(key="sh_seen").input(seen).run()
    at.radio(key="sh_g_source").set_value("2").run()
    at.radio(key="sh_g_info").set_value("B").run()
    at.radio(key="sh_g_handling").set_value("P").run()
    return at


def test_a_contributor_is_given_only_the_form_their_list_and_about(contributor, db_url):
    assert allowed_pages(contributor) == ["share", "my-submissions", "about"]
    at = app_as(contributor, "map").run()  # asking for the map lands on the form
    assert not at.exception
    assert at.title[0].value == "Share information"
    assert not at.sidebar.multiselect, "no report filters for a contributor"
    for role in ("police", "analyst"):
        assert {"share", "my-submissions"} <= set(allowed_pages(ensure_user(db_url, role)))
    assert "share" not in allowed_pages(ensure_user(db_url, "partner"))


def test_the_form_previews_the_place_then_sends_it_with_a_receipt(contributor, db_url):
    at = fill(app_as(contributor, "share").run())
    assert at.selectbox(key="sh_choice").value.startswith(DEMO_PLACE)
    assert any("Darlington town centre" in o for o in at.selectbox(key="sh_choice").options)
    assert at.selectbox(key="sh_place_type").value == "transport_hub"  # filled in from the place
    assert any(
        "Named place matched in the gazetteer" in s.value and "30 m" in s.value and "Darlington" in s.value
        for s in at.success
    )
    at.button(key="sh_send").click().run()
    assert not at.exception and not at.error
    receipt = next(s.value for s in at.success if "Thank you" in s.value)
    reference = receipt.split("Your reference is **")[1].split("**")[0]
    assert reference.startswith("SHR-") and "Received and placed on the map" in receipt
    assert at.text_area(key="sh_seen").value == "", "a fresh form after sending"
    # The second click of a double click, after the form was cleared: the receipt stays, no errors.
    at.button(key="sh_send").click().run()
    assert not at.error and any(reference in s.value for s in at.success)
    mine = sm.my_submissions(store.connect(db_url), contributor)
    assert mine.iloc[0]["reference"] == reference

    listing = app_as(contributor, "my-submissions").run()
    assert listing.title[0].value == "My submissions"
    shown = listing.table[0].value  # a static table: stacked form by form on a phone
    headers = [f"{h} (UK time)" if h == "Sent" else h for h in MY_SUBMISSIONS_HEADERS.values()]
    assert list(shown.columns) == headers  # times sent on the partnership's clock
    mine_row = shown[shown["Reference"] == md_escape(reference)]  # drawn as Markdown
    assert mine_row["Status"].tolist() == ["Received and placed on the map"]


def test_the_preview_map_without_a_basemap_takes_in_the_nearest_town(contributor, monkeypatch, tmp_path):
    # No basemap configured: the place's pin must not sit alone on blank ground at street zoom.
    monkeypatch.setattr(settings, "BASEMAP_FILE", tmp_path / "no-basemap.json")
    at = fill(app_as(contributor, "share").run())
    (preview,) = at.get("component_instance")
    script = json.loads(preview.proto.json_args)["script"]
    found = re.search(r'"fit":(\[\[[^\]]*\],\[[^\]]*\]\]),"fitMaxZoom":(\d+)', script)
    assert found, "the view is fitted round the place and its town, not fixed on the place alone"
    (south, west), (north, east) = json.loads(found.group(1))
    assert int(found.group(2)) == 16, "at most the zoom the 30 m precision asks"
    town, town_lat, town_lon, _km = maps.nearest_town((south + north) / 2, (west + east) / 2)
    assert town == "Darlington" and south < town_lat < north and west < town_lon < east
    assert "hothReference" in script, "with the area's outlines and town labels"


def test_a_form_with_problems_keeps_every_value_and_names_the_fields(contributor):
    at = app_as(contributor, "share").run()
    at.text_area(key="sh_seen").input("Synthetic half-finished note").run()
    at.text_input(key="sh_time").input("half nine").run()
    at.button(key="sh_send").click().run()
    messages = [e.value for e in at.error]
    assert messages[0].startswith("The form was not sent")
    assert any(m.startswith("Time seen: 'half nine' is not a time") for m in messages)
    assert any(m.startswith("When it was seen:") for m in messages)
    assert at.text_area(key="sh_seen").value == "Synthetic half-finished note"
    assert at.text_input(key="sh_time").value == "half nine"


def test_a_draft_survives_the_session_and_comes_back_after_signing_in(contributor, db_url):
    at = app_as(contributor, "share").run()
    at.text_area(key="sh_seen").input("Synthetic note typed before the session expired").run()
    at.multiselect(key="sh_concerns").select("cse").run()
    token = at.session_state["sh_token"]
    # A new session for the same account (what signing in again after expiry gives).
    again = app_as(auth.get_user(store.connect(db_url), contributor.username), "share").run()
    assert again.text_area(key="sh_seen").value == "Synthetic note typed before the session expired"
    assert again.multiselect(key="sh_concerns").value == ["cse"]
    assert again.session_state["sh_token"] == token, "the same form: sending it stores it once"
    assert any("restored" in i.value for i in again.info)


def test_an_online_report_needs_no_place(contributor, db_url):
    at = app_as(contributor, "share").run()
    at.radio(key="sh_where").set_value("online").run()
    assert not at.get("iframe") and any("never placed on the map" in i.value for i in at.info)
    at.date_input(key="sh_date").set_value(date(2026, 11, 21)).run()
    at.selectbox(key="sh_place_type").set_value("online").run()
    at.multiselect(key="sh_concerns").select("online_harm").run()
    at.text_area(key="sh_seen").input("Synthetic: messages from an unknown adult offering gifts.").run()
    at.radio(key="sh_g_source").set_value("2").run()
    at.radio(key="sh_g_info").set_value("C").run()
    at.radio(key="sh_g_handling").set_value("P").run()
    at.button(key="sh_send").click().run()
    assert any("counted, not placed on the map" in s.value for s in at.success), [e.value for e in at.error]


def test_an_administrator_adds_a_practitioner_and_their_agency_on_the_users_page(db_url, monkeypatch):
    monkeypatch.setenv("HOTH_GEO_DB", db_url)
    admin = ensure_user(db_url, "admin", "people.lead")
    at = app_as(admin, "users").run()
    add = at.expander[0]
    assert "Add an account" in add.label
    role = at.selectbox[0]
    assert "contributor" in role.options  # a practitioner who shares reports
    at.text_input[0].input("youth.worker")
    at.text_input[1].input("Sam Example (fictional)")
    role.set_value("contributor")
    at.text_input[2].input("synthetic long passphrase 42")
    at.button[0].click().run()
    engine = store.connect(db_url)
    worker = auth.get_user(engine, "youth.worker")
    assert worker is not None and worker.role == "contributor"
    assert sm.account_agency(engine, worker) is None  # cannot send yet
    at.selectbox(key="agency_account").set_value("youth.worker").run()
    agency_box = next(t for t in at.text_input if t.label.startswith("Agency, as the police"))
    agency_box.input("Example Youth Project (fictional)")
    next(s for s in at.selectbox if s.label == "Agency type").set_value("youth_service")
    next(t for t in at.text_input if t.label.startswith("Contact")).input("youth.worker@example.org")
    next(b for b in at.button if b.label == "Save agency").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    recorded = sm.account_agency(engine, worker)
    assert recorded == sm.AccountAgency(
        "Example Youth Project (fictional)", "youth_service", "youth.worker@example.org"
    )
    assert any("shares as Example Youth Project" in s.value for s in at.success)
    table = at.dataframe[0].value
    row = table[table["username"] == "youth.worker"].iloc[0]
    assert row["agency (Share information)"] == "Example Youth Project (fictional) (Youth service)"
    assert row["last sign-in (UK time)"] == "never" and row["name"] == "Sam Example (fictional)"
