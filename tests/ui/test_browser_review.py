"""Review in a real browser: nothing is chosen until the analyst chooses a row; a click on the map puts
a marker there (and the picking map has no empty legend); Save location asks for confirmation before
anything is stored; the last location can be undone. Screenshots are saved as test artefacts."""

from __future__ import annotations

import time

import pandas as pd
import pytest
from app_server import running_app, save_screenshot
from test_browser import (
    MAP_IFRAME,
    PASSWORD,
    map_frame,
    new_page,
    sign_in,
)

from hoth_geo import store
from hoth_geo.access import auth
from hoth_geo.intake import pipeline
from hoth_geo.intake.geocode import map_click_radius_m
from hoth_geo.schema import TEMPLATE_COLUMNS

ANALYST = "review.analyst"
ROW = {
    "Date observed": "14/06/2025",
    "Time observed": "21:15",
    "Reporting agency": "Youth Outreach (synthetic)",
    "Agency type": "vcs",
    "Location": "the usual place behind the shops",
    "Concerns": "CCE",
    "Narrative": "Group of young people (synthetic) seen with an older male.",
}
DURHAM = (54.7761, -1.5733)

MARKER_JS = """() => {
    const el = document.querySelector('.leaflet-container');
    const map = el && window[el.id];
    if (!map) return null;
    const out = [];
    map.eachLayer(l => {
        if (l instanceof L.CircleMarker && l.options.color === '#b30000')
            out.push({lat: l.getLatLng().lat, lng: l.getLatLng().lng, interactive: l.options.interactive});
    });
    return out;
}"""


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("browser_review")
    db_path = workdir / "app.sqlite"
    engine = store.connect(f"sqlite:///{db_path}")
    auth.add_user(engine, "admin.review", PASSWORD, "admin")
    auth.add_user(engine, ANALYST, PASSWORD, "analyst")
    form = workdir / "outreach.csv"
    pd.DataFrame([{c: ROW.get(c, "") for c in TEMPLATE_COLUMNS}]).to_csv(form, index=False)
    assert pipeline.import_file(engine, form).n_quarantined == 1
    # A latitude with its decimal point one place late: refused by the import, corrected in Review.
    slipped = workdir / "slipped.csv"
    row = {**ROW, "Location": "", "Latitude": "548.02165", "Longitude": "-1.57540"}
    pd.DataFrame([{c: row.get(c, "") for c in TEMPLATE_COLUMNS}]).to_csv(slipped, index=False)
    assert pipeline.import_file(engine, slipped).n_quarantined == 1
    engine.dispose()
    with running_app(db_path, workdir) as running:
        yield {**running, "db": f"sqlite:///{db_path}"}


def _reports(app) -> int:
    return len(store.load_reports(store.connect(app["db"])))


def _markers(page) -> list:
    frame = map_frame(page)
    frame.wait_for_function("() => { const m = (" + MARKER_JS + ")(); return m !== null && m.length > 0; }")
    return frame.evaluate(MARKER_JS)


def _open_review(page, app, section: str) -> None:
    """Sign in as the analyst and open Review, waiting for the heading of ``section``."""
    sign_in(page, app, ANALYST)
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text="Review").click()
    page.get_by_role("heading", name=section).wait_for()


def _settled_box(page) -> dict:
    """The map iframe's box once the page has stopped moving it (a caption drawn by a rerun above the
    map shifts it down, and a click computed from the old box lands on another street)."""
    previous = None
    for _ in range(40):
        box = page.locator(MAP_IFRAME).bounding_box()
        if box is not None and box == previous:
            return box
        previous = box
        page.wait_for_timeout(100)
    return previous


def _click_map_at(page, point: tuple[float, float]) -> None:
    """Click the map at ``point`` until the page shows the location (the map's iframe may be replaced
    by a rerun just after it is first drawn, and a click on the old one is lost)."""
    deadline = time.monotonic() + 120
    while True:
        try:
            frame = map_frame(page)
            frame.wait_for_function(
                "() => { const el = document.querySelector('.leaflet-container'); return el && window[el.id]; }",
                timeout=10_000,
            )
            box = _settled_box(page)
            x, y = frame.evaluate(
                """([lat, lng]) => {
                const map = window[document.querySelector('.leaflet-container').id];
                map.setView([lat, lng], 15, {animate: false});
                const p = map.latLngToContainerPoint([lat, lng]);
                return [p.x, p.y];
            }""",
                list(point),
            )
            page.mouse.click(box["x"] + x, box["y"] + y)
            page.get_by_text("Location: 54.7").wait_for(timeout=15_000)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise


# The first shown data grid's scrolling box (the rows waiting; the breakdown by agency above it is
# folded away): wider content than box means columns are cut at the right edge.
GRID_OVERFLOW_JS = """() => {
    const shown = (e) => e.getBoundingClientRect().height > 0 && e.querySelector('.dvn-scroller');
    const grid = [...document.querySelectorAll('[data-testid="stDataFrame"]')].find(shown);
    const s = grid && grid.querySelector('.dvn-scroller');
    return s && {content: s.scrollWidth, box: s.clientWidth};
}"""


def test_the_summary_table_fits_a_1280_pixel_window(chromium, app):  # noqa: F811
    context = chromium.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    try:
        _open_review(page, app, "Rows that need a location")
        page.locator('[data-testid="stDataFrame"]:visible').first.wait_for()
        page.wait_for_function(f"() => ({GRID_OVERFLOW_JS})() !== null")
        page.wait_for_timeout(500)  # the grid sizes its columns after it is drawn
        save_screenshot(page, "review-summary-1280")
        grid = page.evaluate(GRID_OVERFLOW_JS)
        assert grid["content"] <= grid["box"], f"the summary is cut at 1280 px: {grid}"
    finally:
        context.close()


def test_review_marks_the_click_asks_to_confirm_and_can_undo(chromium, app):  # noqa: F811
    context, page, watch = new_page(chromium, app)
    _open_review(page, app, "Rows that need a location")
    select = page.locator('[data-testid="stSelectbox"]').filter(has_text="Quarantined row")
    chosen = select.locator("input")
    assert chosen.input_value() == "" and "outreach" not in select.inner_text(), "no row is preselected"
    assert page.locator(MAP_IFRAME).count() == 0
    assert page.get_by_role("button", name="Save location").count() == 0

    chosen.click()
    page.get_by_role("option").filter(has_text="outreach.csv row 2").first.click()
    page.locator('[data-testid="stAlert"]').filter(has_text="Why it needs a location").wait_for()
    page.get_by_text("outreach.csv, row 2").wait_for()  # the file and row, out of the summary table
    shown = page.locator('[data-testid="stTable"]').first.inner_text()
    assert "Sat 14 Jun 2025, 21:15" in shown and "the usual place behind the shops" in shown
    assert "None" not in shown
    save_screenshot(page, "review-row")

    page.get_by_text("a map click").click()
    page.get_by_text("Click the map where it happened").wait_for()
    _click_map_at(page, DURHAM)
    (marker,) = _markers(page)
    assert "No reports to show" not in map_frame(page).evaluate("() => document.body.innerText")
    assert marker["lat"] == pytest.approx(DURHAM[0], abs=5e-4)
    assert marker["lng"] == pytest.approx(DURHAM[1], abs=5e-4)
    # A click on the marker reaches the map beneath it (Leaflet would give the marker's own point, and an
    # old click would be stated at the new zoom's precision).
    assert marker["interactive"] is False
    save_screenshot(page, "review-marker")

    page.get_by_role("button", name="Save location").click()
    confirm = page.locator('[data-testid="stAlert"]').filter(has_text="Confirm:")
    confirm.wait_for()
    # The click was made at zoom 15: ten pixels there, not a radius a click on the county could claim.
    click_radius = map_click_radius_m(DURHAM[0], 15)
    assert 20 < click_radius < 40
    assert "row 2 will be stored as a report" in confirm.inner_text()
    assert f"where you clicked (within {click_radius:,.0f} m at that zoom)" in confirm.inner_text()
    assert _reports(app) == 0, "nothing is stored before Confirm"
    save_screenshot(page, "review-confirm")

    page.get_by_role("button", name="Confirm", exact=True).click()
    page.locator('[data-testid="stAlert"]').filter(has_text="Located:").wait_for()
    (stored,) = store.load_reports(store.connect(app["db"])).itertuples()
    assert stored.precision_m == click_radius
    page.get_by_text("Nothing waits for a location.").wait_for()

    page.get_by_role("button", name="Undo this location").click()
    page.locator('[data-testid="stAlert"]').filter(has_text="Undone").wait_for()
    assert _reports(app) == 0
    page.get_by_role("heading", name="Rows that need a location").wait_for()
    save_screenshot(page, "review-undone")
    assert watch.dialogs == [] and watch.errors == [] and watch.foreign == []
    context.close()


def test_review_corrects_a_value_the_import_refused(chromium, app):  # noqa: F811
    context, page, watch = new_page(chromium, app)
    _open_review(page, app, "Other quarantined rows")
    select = page.locator('[data-testid="stSelectbox"]').filter(has_text="Row to correct")
    select.locator("input").click()
    page.get_by_role("option").filter(has_text="slipped.csv row 2").first.click()
    page.locator('[data-testid="stAlert"]').filter(has_text="latitude 548.02165 out of range").wait_for()
    cell = page.locator('[data-testid="stTextInput"]').filter(has_text="Latitude (as sent: 548.02165)")
    field = cell.locator("input")
    assert field.input_value() == "548.02165", "the partner's value, to correct in place"
    field.fill("54.802165")
    field.press("Enter")
    page.get_by_role("button", name="Store the corrected row").click()
    confirm = page.locator('[data-testid="stAlert"]').filter(has_text="Confirm:")
    confirm.wait_for()
    assert "slipped.csv row 2 will be read again with Latitude: 54.802165" in confirm.inner_text()
    assert _reports(app) == 0, "nothing is stored before Confirm"
    save_screenshot(page, "review-correct")
    page.get_by_role("button", name="Confirm", exact=True).click()
    page.locator('[data-testid="stAlert"]').filter(has_text="Corrected and stored:").wait_for()
    (stored,) = store.load_reports(store.connect(app["db"])).itertuples()
    assert (stored.latitude, stored.longitude) == (54.802165, -1.5754)
    page.get_by_role("button", name="Undo this correction").click()
    page.locator('[data-testid="stAlert"]').filter(has_text="waits for a correction again").wait_for()
    assert _reports(app) == 0
    assert watch.dialogs == [] and watch.errors == [] and watch.foreign == []
    context.close()
