"""The pages an officer or a practitioner may open on a phone (390 x 844 CSS pixels, held upright):
the patrol plan's slots, the sharing form's signs and the maps' legends are read whole, inside the
screen, without scrolling sideways, and a legend hides neither a hexagon nor the map's controls; so are
a hexagon's concerns and signs, a practitioner's own submissions with their status, and the data
attribution (on a laptop too); on a laptop screen the patrol plan is still a table with a header. Screenshots: var/screenshots/phone-*.png.
Reuses the helpers of tests/ui/test_browser.py."""

from __future__ import annotations

import contextlib
import time
from datetime import date

import pytest
from app_server import running_app, save_screenshot
from test_browser import PASSWORD, SLOW, go_in_session, hex_count, map_frame, sign_in
from test_browser_screens import CLEAR_JS

from hoth_geo import store
from hoth_geo.access import auth
from hoth_geo.intake import pipeline
from hoth_geo.intake import submission as sm
from hoth_geo.schema import INDICATORS
from hoth_geo.ui.pages.patrol import PLAN_HEADERS
from hoth_geo.ui.pages.share import MY_SUBMISSIONS_HEADERS

pytestmark = pytest.mark.browser

OFFICER = "officer.phone"  # police, and the administrator the app needs before anyone can sign in
PRACTITIONER = "practitioner.phone"
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 860}
IDLE_JS = """() => document.querySelector('[data-testid="stApp"][data-test-script-state="notRunning"]') !== null
    && document.querySelector('[data-testid="stSpinner"]') === null"""

# Each cell of a stacked table (tables.stacked_table, by its key): its box, the text of its column name
# drawn before it, and whether the table's header row is shown.
STACKED_CELLS_JS = """(key) => {
    const table = document.querySelector('.st-key-' + key + ' table');
    if (!table) return null;
    const head = table.querySelector('thead');
    return {
        viewport: window.innerWidth,
        headShown: !!head && head.getBoundingClientRect().height > 0,
        rows: [...table.querySelectorAll('tbody tr')].map(tr => [...tr.querySelectorAll('td')].map(td => {
            const r = td.getBoundingClientRect();
            return {left: r.left, right: r.right, clipped: td.scrollWidth > td.clientWidth + 1,
                    label: getComputedStyle(td, '::before').content, text: td.innerText};
        })),
    };
}"""

# Every cell of the static tables on the page: its text, whether it is cut, and its box's right edge.
TABLE_CELLS_JS = """() => [...document.querySelectorAll('[data-testid="stTable"] td')].map(td => {
    const r = td.getBoundingClientRect();
    return {text: td.innerText, cut: td.scrollWidth > td.clientWidth + 1, left: r.left, right: r.right,
            viewport: window.innerWidth};
})"""

# Each sign's checkbox label: whether its text is cut (wider than its box) and its right edge.
SIGN_LABELS_JS = """() => [...document.querySelectorAll('[data-testid="stCheckbox"]')].map(box => {
    const label = box.querySelector('[data-testid="stMarkdownContainer"]');
    const r = label.getBoundingClientRect();
    return {text: label.innerText, cut: label.scrollWidth > label.clientWidth + 1,
            overflow: getComputedStyle(label).textOverflow, right: r.right, viewport: window.innerWidth};
})"""

# The map's legend box against the map's own box, inside the map's frame.
LEGEND_JS = """() => {
    const map = document.querySelector('.leaflet-container'), legend = document.querySelector('.hoth-legend');
    if (!map || !legend) return null;
    const box = (e) => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
    return {map: box(map), legend: box(legend), text: legend.innerText,
            // The zoom buttons, the scale bar and the attribution.
            controls: [...map.querySelectorAll('.leaflet-control')].filter(e => e !== legend).map(box)};
}"""


@pytest.fixture(scope="module")
def app(chromium, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("narrow_screens_app")
    db_path = workdir / "app.sqlite"
    engine = store.connect(f"sqlite:///{db_path}")
    auth.add_user(engine, OFFICER, PASSWORD, "admin,police")
    auth.add_user(engine, PRACTITIONER, PASSWORD, "contributor")
    pipeline.load_demo_data(engine)
    sm.set_account_agency(engine, PRACTITIONER, "Example Youth Project (fictional)", "youth_service")
    sent = sm.Submission(
        token=sm.new_token(),
        observed_on=date(2026, 11, 20),
        place_name="Bus station, Darlington town centre (demo)",
        place_type="transport_hub",
        concerns=("cce", "cse"),
        what_was_seen="Synthetic: a young person was handed a parcel by an older male at the bus station.",
        grading_source="2",
        grading_information="B",
        grading_handling="P",
    )
    sm.submit(engine, auth.get_user(engine, PRACTITIONER), sent)
    engine.dispose()
    with running_app(db_path, workdir) as running:
        yield running


@contextlib.contextmanager
def signed_in(chromium, app, viewport: dict, username: str):
    """A page of a new browser context of ``viewport``'s size, signed in as ``username``."""
    phone = viewport is PHONE
    context = chromium.new_context(viewport=viewport, is_mobile=phone, has_touch=phone)
    page = context.new_page()
    page.set_default_timeout(SLOW)
    try:
        sign_in(page, app, username)
        yield page
    finally:
        context.close()


def _open(page, path: str, heading: str) -> None:
    go_in_session(page, path)
    page.get_by_role("heading", name=heading, exact=True).first.wait_for()
    page.wait_for_function(IDLE_JS)


def _plan_cells(page) -> dict:
    page.locator(".st-key-patrol_plan table").wait_for()
    return page.evaluate(STACKED_CELLS_JS, "patrol_plan")


def test_a_phone_shows_each_patrol_slot_as_a_block_read_whole(chromium, app):
    with signed_in(chromium, app, PHONE, OFFICER) as page:
        _open(page, "patrol", "Patrol plan")
        cells = _plan_cells(page)
        assert cells["rows"], "the demo set plans at least one slot"
        assert not cells["headShown"]  # the column names are said beside each value instead
        names = ["Slot", *PLAN_HEADERS.values()]
        for row in cells["rows"]:
            assert [c["label"] for c in row] == [f'"{name}: "' for name in names]
            for cell in row:
                # Inside the screen, nothing cut: no sideways scrolling to read "Why".
                assert 0 <= cell["left"] and cell["right"] <= cells["viewport"], cell
                assert not cell["clipped"], cell
        first = dict(zip(names, (c["text"] for c in cells["rows"][0]), strict=True))
        assert first["Slot"] == "1" and first["When"] and first["Where"] and "reports" in first["Why"]
        page.locator(".st-key-patrol_plan tbody tr").first.scroll_into_view_if_needed()
        save_screenshot(page, "phone-patrol-plan")


def test_a_laptop_still_shows_the_patrol_plan_as_a_table(chromium, app):
    with signed_in(chromium, app, LAPTOP, OFFICER) as page:
        _open(page, "patrol", "Patrol plan")
        cells = _plan_cells(page)
        assert cells["headShown"]
        assert all(c["label"] in ("none", "normal") for row in cells["rows"] for c in row)
        # One row per slot, its cells side by side.
        first = cells["rows"][0]
        assert all(a["right"] <= b["left"] + 1 for a, b in zip(first, first[1:], strict=False))


def test_a_phone_shows_every_sign_on_the_sharing_form_whole(chromium, app):
    with signed_in(chromium, app, PHONE, PRACTITIONER) as page:
        page.get_by_role("heading", name="Share information", exact=True).wait_for()
        page.locator('[data-testid="stCheckbox"]').first.wait_for()  # the form's fields draw in turn
        page.wait_for_function(IDLE_JS)
        labels = page.evaluate(SIGN_LABELS_JS)
        assert {label["text"] for label in labels} >= set(INDICATORS.values())
        longest = max(INDICATORS.values(), key=len)
        assert len(longest) > 50  # longer than a phone's line: it must wrap, not be cut
        for label in labels:
            assert not label["cut"] and label["overflow"] != "ellipsis", label
            assert label["right"] <= label["viewport"], label
        page.locator('[data-testid="stCheckbox"]').filter(has_text=longest).scroll_into_view_if_needed()
        save_screenshot(page, "phone-share-signs")


def test_a_phone_shows_each_of_my_submissions_with_its_status_whole(chromium, app):
    with signed_in(chromium, app, PHONE, PRACTITIONER) as page:
        page.get_by_role("heading", name="Share information", exact=True).wait_for()
        _open(page, "my-submissions", "My submissions")
        page.locator(".st-key-my_submissions table").wait_for()
        cells = page.evaluate(STACKED_CELLS_JS, "my_submissions")
        assert not cells["headShown"] and len(cells["rows"]) == 1
        (row,) = cells["rows"]
        names = [f"{h} (UK time)" if h == "Sent" else h for h in MY_SUBMISSIONS_HEADERS.values()]
        assert [c["label"] for c in row] == [f'"{name}: "' for name in names]
        for cell in row:
            assert 0 <= cell["left"] and cell["right"] <= cells["viewport"] and not cell["clipped"], cell
        shown = dict(zip(names, (c["text"] for c in row), strict=True))
        assert shown["Reference"].startswith("SHR-") and shown["Status"] == "Received and placed on the map"
        assert shown["Date seen"] == "20/11/2026"
        save_screenshot(page, "phone-my-submissions")


# The About page's attribution table and the main column's box.
ATTRIBUTION_JS = """() => {
    const table = document.querySelector('.st-key-about_attribution table');
    const main = document.querySelector('[data-testid="stMainBlockContainer"]');
    if (!table || !main) return null;
    return {table: table.getBoundingClientRect().right, column: main.getBoundingClientRect().right,
            viewport: window.innerWidth, text: table.innerText};
}"""


@pytest.mark.parametrize("viewport", [PHONE, LAPTOP], ids=["phone", "laptop"])
def test_the_data_attribution_is_read_whole_inside_the_page(chromium, app, viewport):
    with signed_in(chromium, app, viewport, PRACTITIONER) as page:
        page.get_by_role("heading", name="Share information", exact=True).wait_for()
        _open(page, "about", "About hoth-geo")
        page.locator(".st-key-about_attribution table").wait_for()
        got = page.evaluate(ATTRIBUTION_JS)
        # Every statement a user of the data must keep, inside the column: none runs off the page.
        assert (
            "Contains OS data © Crown copyright" in got["text"]
            and "© OpenStreetMap contributors" in got["text"]
        )
        assert got["table"] <= got["column"] + 1 and got["table"] <= got["viewport"], got
        # One heading for the section: the file's own title is not drawn as a second, larger one.
        assert page.get_by_role("heading", name="Data attribution", exact=True).count() == 0
        page.locator(".st-key-about_attribution table").scroll_into_view_if_needed()
        save_screenshot(page, f"{'phone' if viewport is PHONE else 'laptop'}-about-attribution")


def _choose_the_busiest_hexagon(page) -> None:
    """Tap the list of the busiest hexagons and choose the first; again if a rerun closes the list
    under the choice."""
    deadline = time.monotonic() + SLOW / 1000
    while True:
        try:
            page.get_by_role("combobox", name="busiest").tap()
            page.get_by_role("option").first.click(timeout=10_000)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            page.keyboard.press("Escape")
            page.wait_for_function(IDLE_JS)


def test_a_phone_shows_a_hexagons_concerns_and_signs_whole(chromium, app):
    with signed_in(chromium, app, PHONE, OFFICER) as page:
        _open(page, "map", "Hotspot map")
        hex_count(page)  # the map has drawn: its first report back to the server has rerun the page
        _choose_the_busiest_hexagon(page)
        page.get_by_role("heading", name="matching reports").wait_for()
        page.locator('[data-testid="stTable"]').nth(2).wait_for()  # concerns, place types, signs
        page.wait_for_function(IDLE_JS)
        cells = page.evaluate(TABLE_CELLS_JS)
        texts = {c["text"] for c in cells}
        # The demo's busiest hexagon (a bus station) holds its longest concern and sign names.
        assert "Child criminal exploitation (county lines, drug running)" in texts
        assert "Involved in anti-social behaviour or crime (drug running / county lines)" in texts
        for cell in cells:
            assert not cell["cut"] and 0 <= cell["left"] and cell["right"] <= cell["viewport"], cell
        page.locator('[data-testid="stTable"]').nth(2).scroll_into_view_if_needed()
        save_screenshot(page, "phone-hexagon-detail")


@pytest.mark.parametrize(
    ("path", "heading", "legend_title"),
    [("map", "Hotspot map", "Reports per hexagon"), ("hotspots", "Hotspots", "Gi* hot and cold spots")],
)
def test_a_phone_keeps_each_map_legend_inside_its_map(chromium, app, path, heading, legend_title):
    with signed_in(chromium, app, PHONE, OFFICER) as page:
        _open(page, path, heading)
        frame = map_frame(page)
        frame.wait_for_function(f"() => ({LEGEND_JS})() !== null")
        page.wait_for_timeout(1500)  # the frame takes its final size
        box = frame.evaluate(LEGEND_JS)
        assert legend_title in box["text"]
        m_left, m_top, m_right, m_bottom = box["map"]
        l_left, l_top, l_right, l_bottom = box["legend"]
        assert m_left <= l_left and l_right <= m_right and m_top <= l_top and l_bottom <= m_bottom, box
        # Every hexagon in the first view, none under the legend: on a phone it sits below the data.
        clear = frame.evaluate(CLEAR_JS)
        assert clear["n"] > 0 and clear["inView"] and clear["hits"] == 0, clear
        assert len(box["controls"]) >= 2, box
        for left, top, right, bottom in box["controls"]:  # hides none of the map's controls
            assert right <= l_left or l_right <= left or bottom <= l_top or l_bottom <= top, box
        page.locator('iframe[title="streamlit_folium.st_folium"]').first.scroll_into_view_if_needed()
        save_screenshot(page, f"phone-{path}-legend")
