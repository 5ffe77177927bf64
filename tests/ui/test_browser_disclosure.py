"""Disclosure control in the running app (headless Chromium), as a hostile partner would try it: the
coarse partner sidebar, the 'not enough reports' message for a tiny selection on the Hotspots and
Export pages, the preview in the export log; downloads made and recorded on the click; a Markdown
payload in an agency name shown as text. Reuses the server and helpers of tests/ui/test_browser.py."""

from __future__ import annotations

import re
from datetime import date

import pytest
import test_browser
from test_browser import ANALYST, PARTNER, hex_count, new_page, pick_in_sidebar, sign_in

from hoth_geo import store
from hoth_geo.access import audit
from hoth_geo.intake import pipeline
from hoth_geo.schema import PLACE_TYPES, TEMPLATE_COLUMNS
from hoth_geo.selection import ReportFilter, filter_mask, located

pytestmark = pytest.mark.browser

# The module-scoped server and browser of tests/ui/test_browser.py (one server for this module too).
app = test_browser.app

TINY_MONTH = (date(2026, 10, 1), date(2026, 10, 31))  # the last month of the demo set
MD_AGENCY = "Markdown Youth ![pixel](http://e.invalid/pixel.png) [login](http://e.invalid/login)"


def _engine(app):
    return store.connect(f"sqlite:///{app['log'].parent / 'app.sqlite'}")


def _tiny_place_type(app) -> tuple[str, int]:
    """A place type with 1..4 located reports in the last month of the app's data."""
    reports = store.load_reports(_engine(app))
    for key in PLACE_TYPES:
        f = ReportFilter(date_from=TINY_MONTH[0], date_to=TINY_MONTH[1], place_types=(key,))
        n = int((filter_mask(reports, f) & located(reports)).sum())
        if 1 <= n < 5:
            return key, n
    raise AssertionError("no small one-month selection in the app's data")


def _wait_idle(page) -> None:
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=stStatusWidget]') || "
        "!document.querySelector('[data-testid=stStatusWidget]').innerText.includes('Running')"
    )


def _go(page, title: str) -> None:
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text=title).click()
    page.get_by_role("heading", name=title).first.wait_for()
    _wait_idle(page)


def _no_exact(text: str, n: int) -> bool:
    """True when ``text`` does not state ``n`` as a number (30, the hotspot minimum, may appear)."""
    return not re.search(rf"(?<![\d,.]){n}(?![\d,.])", text)


def test_partner_cannot_ask_fine_questions_nor_read_a_small_count(chromium, app):
    place_type, n = _tiny_place_type(app)
    engine = _engine(app)
    previews_before = int((store.load_export_log(engine)["kind"] == "preview").sum())
    context, page, watch = new_page(chromium, app)
    sign_in(page, app, PARTNER)
    page.get_by_role("heading", name="Hotspot map").wait_for()
    hex_count(page)
    sidebar = page.locator('[data-testid="stSidebar"]')
    text = sidebar.inner_text()
    # Only whole months, place type and concern; nothing to subtract one agency or grading from.
    assert "Months observed" in text and "Place type" in text and "Concern" in text
    for absent in ("Reporting agency", "Agency type", "Grading", "Police context", "Date observed"):
        assert absent not in text, absent
    # One resolution: no hexagon-size choice anywhere on the map page.
    assert page.get_by_text("Hexagon size").count() == 0

    # The tiny selection of the issue: the last month only, one place type.
    start = sidebar.locator('input[type="range"]').first
    start.focus()
    page.keyboard.press("End")  # move the start of the range to the last month
    page.wait_for_function(
        "() => document.querySelector('[data-testid=stSidebar] input[type=range]').getAttribute('aria-valuetext') === 'Oct 2026'"
    )
    _wait_idle(page)
    assert "Oct 2026" in sidebar.inner_text()
    pick_in_sidebar(page, "Place type", PLACE_TYPES[place_type])
    _wait_idle(page)

    _go(page, "Hotspots")
    warning = page.locator('[data-testid="stAlert"]').filter(has_text="Not enough reports")
    warning.first.wait_for()
    message = warning.first.inner_text()
    assert "fewer than 5" in message, message
    assert _no_exact(message, n), message

    _go(page, "Export")
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text="Map")
    box.last.click()
    page.get_by_role("option", name="Hot and cold spots (Gi*)").click()
    _wait_idle(page)
    warning = page.locator('[data-testid="stAlert"]').filter(has_text="map for this selection")
    warning.first.wait_for()
    message = warning.first.inner_text()
    assert "fewer than 5" in message and _no_exact(message, n), message
    # The preview (table and map) is in the export log, as a file would be.
    log = store.load_export_log(engine)
    mine = log[(log["kind"] == "preview") & (log["exported_by"] == PARTNER)]
    assert len(mine) > previews_before
    assert watch.dialogs == []
    context.close()


def test_downloads_are_made_and_recorded_on_the_click(chromium, app):
    engine = _engine(app)
    context, page, watch = new_page(chromium, app)
    sign_in(page, app, "admin.e2e")
    _go(page, "Audit log")
    before = int((audit.load_audit(engine)["event"] == "audit_exported").sum())
    page.wait_for_timeout(1000)  # the page is drawn: nothing may have been recorded yet
    assert int((audit.load_audit(engine)["event"] == "audit_exported").sum()) == before
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the audit log (CSV)").click()
    path = download.value.path()
    assert path is not None and open(path, "rb").read().startswith(b"\xef\xbb\xbf")
    assert int((audit.load_audit(engine)["event"] == "audit_exported").sum()) == before + 1
    context.close()

    context, page, watch = new_page(chromium, app)
    sign_in(page, app, ANALYST)
    _go(page, "Patrol plan")
    page.get_by_role("button", name="Download the plan (CSV)").wait_for()
    before = int((store.load_export_log(engine)["kind"] == "patrol_plan_csv").sum())
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the plan (CSV)").click()
    assert download.value.suggested_filename == "patrol-plan.csv"
    log = store.load_export_log(engine)
    assert int((log["kind"] == "patrol_plan_csv").sum()) == before + 1
    assert log["exported_by"].iloc[-1] == ANALYST
    context.close()


def test_a_markdown_agency_name_is_shown_as_text(chromium, app, tmp_path):
    engine = _engine(app)
    row = {c: "" for c in TEMPLATE_COLUMNS}
    row.update(
        {
            "Source reference": "MD-1",
            "Date received": "05/04/2025",
            "Date observed": "03/04/2025",
            "Reporting agency": MD_AGENCY,
            "Agency type": "youth_service",
            "Place type": "park",
            "Latitude": "54.776130",
            "Longitude": "-1.573290",
            "Concerns": "cse",
        }
    )
    path = tmp_path / "markdown_agency.csv"
    import csv

    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(TEMPLATE_COLUMNS))
        writer.writeheader()
        writer.writerow(row)
    assert pipeline.import_file(engine, path).n_accepted == 1

    context, page, watch = new_page(chromium, app)
    sign_in(page, app, ANALYST)
    hex_count(page)
    pick_in_sidebar(page, "Reporting agency", MD_AGENCY)
    _wait_idle(page)
    # The caption naming the agency appears only once the rerun for the new filter has drawn; the
    # caption from the previous run ("Filters: <dates>") may still be on screen until then.
    caption = page.locator('[data-testid="stCaptionContainer"]').filter(has_text="pixel.png")
    caption.first.wait_for(timeout=60_000)
    assert "![pixel](http://e.invalid/pixel.png)" in caption.first.inner_text().replace("\u2060", "")
    assert caption.first.locator("img, a").count() == 0
    assert not [u for u in watch.foreign if "e.invalid" in u]
    context.close()
