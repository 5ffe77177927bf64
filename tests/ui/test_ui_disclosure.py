"""The app's side of disclosure control (AppTest, no browser): the partner sidebar offers only coarse
filters; the audit-log and patrol-plan files are made, and recorded, only on the click; user-derived
text is escaped wherever Markdown is rendered."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from apptest_support import markup_tags, rendered_markdown
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from hoth_geo import store
from hoth_geo.access import audit
from hoth_geo.cli import app
from hoth_geo.ui.text import WORD_JOINER, md_escape

HOSTILE_AGENCY = "Youth ![x](http://e.invalid/a.png) [click](http://e.invalid) :red[big] $x^2$ **b**"
PAYLOADS = [
    HOSTILE_AGENCY,
    "![x](http://e.invalid/a.png)",
    "[click here](http://e.invalid/login)",
    "<img src=x onerror=alert(1)>",
    "# Heading\n- list item",
    "&#91;x&#93;(http://e.invalid)",
    "<http://e.invalid/auto>",
    "`code` ~~gone~~ _em_ ==mark==",
    "Social care (Durham) — St. Mary's",
    "see www.e.invalid or write to someone@e.invalid, https://e.invalid/x",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_md_escape_shows_the_text_literally(payload):
    rendered = rendered_markdown(md_escape(payload))
    assert markup_tags(rendered) == set(), rendered
    shown = html.unescape(re.sub(r"</?p>", "", rendered)).strip()
    # The same characters (a line break as a space; invisible word joiners aside).
    assert shown.replace(WORD_JOINER, "") == " ".join(payload.split("\n"))
    # No bare URL or e-mail address left for GitHub-flavoured Markdown to turn into a link.
    assert not re.search(r"(?i)[a-z]://|\bwww\.|@[a-z0-9]", shown), shown


def test_without_escaping_the_payload_would_be_an_image_and_a_link():
    assert {"img", "a"} <= markup_tags(rendered_markdown(HOSTILE_AGENCY))


# --- Pages run with AppTest ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def db_url(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('ui_disclosure') / 'demo.sqlite'}"
    result = CliRunner().invoke(app, ["demo", "--db", url])
    assert result.exit_code == 0, result.output
    return url


@pytest.fixture()
def app_env(db_url, monkeypatch):
    monkeypatch.setenv("HOTH_GEO_DB", db_url)
    monkeypatch.setenv("HOTH_GEO_DISCLOSURE_KEY", "a fixed disclosure key for the tests")
    return db_url


def _sidebar_script(role: str) -> None:
    import streamlit as st

    from hoth_geo.access import auth
    from hoth_geo.ui import state

    st.session_state["user"] = auth.User(
        id=1, username=f"{role}@example.org", display_name=None, role=role, is_admin=False
    )
    st.session_state["picked"] = state.sidebar_filters()


def _labels(at) -> set[str]:
    widgets = [*at.multiselect, *at.select_slider, *at.toggle, *at.date_input, *at.selectbox]
    return {w.label for w in widgets}


def test_partner_sidebar_offers_only_months_place_type_and_concern(app_env):
    at = AppTest.from_function(_sidebar_script, args=("partner",), default_timeout=120).run()
    assert not at.exception, at.exception
    assert _labels(at) == {"Months observed", "Place type", "Concern"}
    picked = at.session_state["picked"]
    assert not (picked.agencies or picked.agency_types or picked.grading_sources)
    assert picked.date_from.day == 1 and (picked.date_to + timedelta(days=1)).day == 1
    # Narrowing the months keeps whole months: one month is its first to its last day.
    month = picked.date_from.replace(
        month=(picked.date_from.month % 12) + 1, year=picked.date_from.year + (picked.date_from.month == 12)
    )
    at.session_state["f_months"] = (month, month)
    at.run()
    assert not at.exception, at.exception
    picked = at.session_state["picked"]
    assert picked.date_from.day == 1 and (picked.date_to + timedelta(days=1)).day == 1
    assert (picked.date_from, picked.date_to.replace(day=1)) == (month, month)


def test_police_sidebar_keeps_every_filter(app_env):
    at = AppTest.from_function(_sidebar_script, args=("police",), default_timeout=120).run()
    assert not at.exception, at.exception
    labels = _labels(at)
    assert {"Indicator", "Reporting agency", "Agency type", "Source", "Information"} <= labels
    assert any("Police context" in label for label in labels)


def _audit_page() -> None:
    import streamlit as st

    from hoth_geo.access import auth
    from hoth_geo.ui.pages import admin

    st.session_state["user"] = auth.User(
        id=1, username="admin@example.org", display_name=None, role=None, is_admin=True
    )
    admin.audit_page()


def test_audit_log_file_is_made_and_recorded_only_on_the_click(app_env):
    from hoth_geo.ui.pages import admin

    engine = store.connect(app_env)
    before = (audit.load_audit(engine)["event"] == "audit_exported").sum()
    at = AppTest.from_function(_audit_page, default_timeout=120).run()
    assert not at.exception, at.exception
    (button,) = at.get("download_button")
    # Nothing is published at a /media URL when the page is drawn: the file is generated on the click.
    assert button.proto.url == "" and button.proto.deferred_file_id
    assert (audit.load_audit(engine)["event"] == "audit_exported").sum() == before
    data = admin.audit_download(engine, "admin@example.org")()
    assert data.startswith(b"\xef\xbb\xbf") and b"audit_exported" not in data.split(b"\r\n")[-2]
    log = audit.load_audit(engine)
    assert (log["event"] == "audit_exported").sum() == before + 1
    assert log["actor"].iloc[-1] == "admin@example.org"


def _patrol_page() -> None:
    import streamlit as st

    from hoth_geo.access import auth
    from hoth_geo.selection import ReportFilter
    from hoth_geo.ui.pages import patrol

    st.session_state["user"] = auth.User(
        id=1, username="police@example.org", display_name=None, role="police", is_admin=False
    )
    st.session_state["filters"] = ReportFilter()
    patrol.render()


def test_patrol_plan_file_is_made_and_logged_only_on_the_click(app_env):
    from hoth_geo.analysis.patrol import patrol_plan
    from hoth_geo.selection import ReportFilter
    from hoth_geo.ui.pages import patrol

    engine = store.connect(app_env)
    before = len(store.load_export_log(engine))
    at = AppTest.from_function(_patrol_page, default_timeout=180).run()
    assert not at.exception, at.exception
    (button,) = at.get("download_button")
    assert button.proto.url == "" and button.proto.deferred_file_id
    assert len(store.load_export_log(engine)) == before
    reports = store.load_reports(engine)
    from hoth_geo.intake import pipeline

    plan = patrol_plan(reports, pipeline.all_places(engine), slots=3, filters=ReportFilter())
    data = patrol.plan_download(
        engine,
        "police@example.org",
        plan,
        ReportFilter(),
        (3, 2, 9, 28.0, 2),
        marking="OFFICIAL-SENSITIVE",
        demo=True,
    )()
    assert data.count(b"\n") >= 3
    # The file says what it is wherever it is opened: its marking and, for the demo set, its label.
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[0] == "Protective marking: OFFICIAL-SENSITIVE" and lines[1].startswith("SYNTHETIC DEMO DATA")
    log = store.load_export_log(engine)
    assert len(log) == before + 1
    assert log["kind"].iloc[-1] == "patrol_plan_csv" and log["exported_by"].iloc[-1] == "police@example.org"


def _captions_script(agency: str) -> None:
    import streamlit as st

    from hoth_geo.access import auth
    from hoth_geo.selection import ReportFilter
    from hoth_geo.ui.pages import hotspots

    st.session_state["user"] = auth.User(
        id=1, username="analyst@example.org", display_name=None, role="analyst", is_admin=False
    )
    st.session_state["filters"] = ReportFilter(agencies=(agency,))
    hotspots.render()


def test_agency_names_in_filter_captions_are_escaped(app_env):
    at = AppTest.from_function(_captions_script, args=(HOSTILE_AGENCY,), default_timeout=180).run()
    assert not at.exception, at.exception
    captions = [c.value for c in at.caption if c.value.startswith("Filters:")]
    assert captions, [c.value for c in at.caption]
    for body in captions:
        rendered = rendered_markdown(body)
        assert "<img" not in rendered and "<a " not in rendered and "<strong>" not in rendered, rendered
        assert "e.invalid" in html.unescape(rendered)  # shown as text
