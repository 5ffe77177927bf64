"""The Share information form in headless Chromium: a contributor finds a place by typing, sees where
the report will land, sends it and gets a receipt; the police then find it on the map; the contributor
reaches nothing else; an unplaceable report goes to Review; a point clicked on the map, or tapped on a
phone, places the report there; a session that expires mid-form keeps the draft; the form works from the
keyboard alone and every field has an accessible name.

The module runs its own Streamlit server on its own database (demo data, a police user, two
contributors with agencies on their accounts); the session-expiry test uses a second server on the
same database with a one-minute idle timeout.
"""

from __future__ import annotations

import contextlib
import re
import time
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from app_server import running_app, save_screenshot
from playwright.sync_api import expect
from test_browser import (
    MAP_IFRAME,
    PASSWORD,
    SLOW,
    assert_nothing_ran,
    expect_sign_in_form,
    go_in_session,
    h1_texts,
    hex_count,
    map_frame,
    nav_titles,
    new_page,
    sign_in,
)

from hoth_geo import settings, store
from hoth_geo.access import auth
from hoth_geo.deliver import maps
from hoth_geo.intake import pipeline
from hoth_geo.intake import submission as sm
from hoth_geo.intake.geocode import map_click_radius_m

pytestmark = pytest.mark.browser

CONTRIBUTOR, OTHER_CONTRIBUTOR, POLICE = "share.e2e", "other.share.e2e", "police.e2e"
CONTRIBUTOR_PAGES = ["Share information", "My submissions", "About"]
OTHER_PAGES = ["map", "hotspots", "places", "time", "patrol", "disruption", "export", "import", "review"]
OTHER_PAGES += ["users", "audit"]
DEMO_PLACE = "Bus station, Darlington town centre (demo)"
DURHAM = (54.77613, -1.57329)  # a point inside the study area
HOSTILE_PLACE = "Zyxwv [a link](http://example.invalid) <img src=x onerror=window.__pwned=1> rec"
OTHER_WORDS = "Synthetic words only the other contributor wrote"
# Roles of elements a person fills in or operates: each must have an accessible name.
FORM_ROLES = {
    "textbox",
    "combobox",
    "checkbox",
    "radio",
    "spinbutton",
    "searchbox",
    "listbox",
    "button",
    "slider",
}


def _prepare(db_path: Path) -> dict:
    engine = store.connect(f"sqlite:///{db_path}")
    auth.add_user(engine, "admin.e2e", PASSWORD, "admin")
    auth.add_user(engine, POLICE, PASSWORD, "police")
    for name in (CONTRIBUTOR, OTHER_CONTRIBUTOR):
        auth.add_user(engine, name, PASSWORD, "contributor")
    sm.set_account_agency(engine, CONTRIBUTOR, "Example Academy (fictional)", "school", "01234 000001")
    sm.set_account_agency(engine, OTHER_CONTRIBUTOR, "Example Youth Project (fictional)", "youth_service")
    pipeline.load_demo_data(engine)
    hostile = {
        "place_id": "demo:synthetic-hostile-rec",
        "name": HOSTILE_PLACE,
        "place_type": "park",
        "latitude": DURHAM[0],
        "longitude": DURHAM[1],
        "locality": "Synthetic locality",
        "postcode_district": "DH1",
        "source": "demo",
    }
    with engine.begin() as conn:  # a place whose name carries markup, as a gazetteer might
        store.upsert_places(conn, pd.DataFrame([hostile]))
    other = sm.Submission(
        token=sm.new_token(),
        observed_on=date(2026, 11, 1),
        place_name=DEMO_PLACE,
        place_type="transport_hub",
        concerns=("cse",),
        what_was_seen=OTHER_WORDS,
        grading_source="2",
        grading_information="B",
        grading_handling="P",
    )
    receipt = sm.submit(engine, auth.get_user(engine, OTHER_CONTRIBUTOR), other)
    engine.dispose()
    return {"other_reference": receipt.reference}


@contextlib.contextmanager
def _server(db_path: Path, log_path: Path, extra_env: dict | None = None):
    with running_app(db_path, log_path.parent, extra_env, log_name=log_path.name) as running:
        yield running["url"]


@pytest.fixture(scope="module")
def share_db(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("browser_share")
    db_path = workdir / "app.sqlite"
    return {"workdir": workdir, "db": db_path, **_prepare(db_path)}


@pytest.fixture(scope="module")
def app(chromium, share_db):  # noqa: F811
    with _server(share_db["db"], share_db["workdir"] / "streamlit.log") as url:
        yield {"url": url, **share_db}


def engine_for(app):
    return store.connect(f"sqlite:///{app['db']}")


# --- Helpers -------------------------------------------------------------------------------------------


def wait_idle(page) -> None:
    """Until the app is not running a script (the status widget is gone or says nothing is running)."""
    page.wait_for_timeout(400)  # a rerun a change has just asked for may not have started yet
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=stStatusWidget]') || "
        "!document.querySelector('[data-testid=stStatusWidget]').innerText.includes('Running')"
    )


def open_form(page, app, username: str) -> None:
    """Sign in and wait for the form; each test starts from an empty form (no draft left by another)."""
    engine = engine_for(app)
    sm.clear_draft(engine, auth.get_user(engine, username))
    engine.dispose()
    sign_in(page, app, username)
    page.get_by_role("heading", name="Share information").wait_for()
    wait_idle(page)


def find_place(page, typed: str) -> None:
    box = page.get_by_role("textbox", name="Search for a place, street or postcode")
    box.fill(typed)
    box.press("Enter")
    page.get_by_role("combobox", name="Choose the matching place").wait_for()
    wait_idle(page)


def choose_place(page, name: str) -> None:
    """Open the matches and pick the one whose label starts with ``name``."""
    page.get_by_role("combobox", name="Choose the matching place").click()
    page.get_by_role("option").filter(has_text=name).first.click()
    wait_idle(page)


def tick(page, label: str) -> None:
    """Tick a checkbox or choose a radio option by clicking its label, as a person does."""
    page.locator("label").filter(has_text=label).first.click()
    wait_idle(page)


def fill_rest(page, seen: str) -> None:
    page.get_by_role("spinbutton", name="day, Date seen").click()
    page.keyboard.type("20112026")  # day, month and year: each part moves on to the next
    page.keyboard.press("Tab")
    page.get_by_role("textbox", name="Time seen (24-hour").fill("21:30")
    page.get_by_role("textbox", name="Time seen (24-hour").press("Tab")
    wait_idle(page)
    concerns = page.locator('[data-testid="stMultiSelect"]').filter(has_text="Concerns").locator("input")
    concerns.click()
    page.keyboard.type("Child criminal")
    page.get_by_role("option", name="Child criminal exploitation (county lines, drug running)").wait_for()
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    wait_idle(page)
    tick(page, "In touch with unknown adults / people of concern")
    assert page.get_by_role("checkbox", name="In touch with unknown adults / people of concern").is_checked()
    page.get_by_role("textbox", name="What was seen").fill(seen)
    page.get_by_role("textbox", name="What was seen").press("Tab")
    wait_idle(page)
    tick(page, "2 — Untested")
    tick(page, "B — Known indirectly, but")
    tick(page, "P — It may be shared lawfully")


def send(page) -> str:
    page.get_by_role("button", name="Send to the police").click()
    receipt = page.locator('[data-testid="stAlert"]').filter(
        has_text="Thank you: your information has been shared"
    )
    receipt.wait_for()
    text = receipt.inner_text()
    return text.split("Your reference is ")[1].split(":")[0].strip()


# The accessible name of the focused element, as far as a keyboard user's screen reader would say it.
FOCUSED_NAME_JS = """() => {
    const e = document.activeElement;
    if (!e) return '';
    const by = (e.getAttribute('aria-labelledby') || '').split(/\\s+/).filter(Boolean)
        .map(id => document.getElementById(id)).filter(Boolean).map(x => x.innerText).join(' ');
    return [e.getAttribute('aria-label') || '', by, e.labels && e.labels[0] ? e.labels[0].innerText : '',
            e.tagName === 'BUTTON' ? e.innerText : ''].join(' ').trim();
}"""

PREVIEW_JS = """() => {
    const el = document.querySelector('.leaflet-container');
    const map = el && window[el.id];
    if (!map) return null;
    const out = {markers: [], circles: []};
    map.eachLayer(l => {
        if (l instanceof L.Circle) out.circles.push({lat: l.getLatLng().lat, lng: l.getLatLng().lng, r: l.getRadius()});
        else if (l instanceof L.Marker) out.markers.push({lat: l.getLatLng().lat, lng: l.getLatLng().lng, interactive: l.options.interactive});
    });
    return out;
}"""


def preview_layers(page, *, want_marker: bool = True) -> dict:
    """The preview marker and precision circle on the form's map, once drawn."""
    deadline = time.monotonic() + 120
    while True:
        try:
            frame = map_frame(page)
            cond = "(() => { const o = (" + PREVIEW_JS + ")(); return o !== null && "
            cond += ("o.markers.length > 0" if want_marker else "true") + "; })"
            frame.wait_for_function(cond, timeout=10_000)
            return frame.evaluate(PREVIEW_JS)
        except Exception:
            if time.monotonic() > deadline:
                raise


def report_with_reference(app, reference: str) -> pd.DataFrame:
    with engine_for(app).connect() as conn:
        return pd.read_sql(sa.select(store.reports).where(store.reports.c.source_ref == reference), conn)


# --- Tests ---------------------------------------------------------------------------------------------


def test_contributor_finds_a_place_sees_where_it_lands_sends_it_and_police_see_it(chromium, app):  # noqa: F811
    context, page, watch = new_page(chromium, app)
    open_form(page, app, CONTRIBUTOR)
    assert nav_titles(page) == CONTRIBUTOR_PAGES
    find_place(page, "bus stat darl")
    chosen = page.get_by_role("combobox", name="Choose the matching place")
    assert chosen.input_value() == "", "a suggestion is never chosen for the reporter"
    choose_place(page, DEMO_PLACE)
    expect(chosen).to_have_value(re.compile("^" + re.escape(DEMO_PLACE)))
    placed = page.locator('[data-testid="stAlert"]').filter(has_text="Where it will be placed")
    placed.wait_for()
    assert "Named place matched in the gazetteer" in placed.inner_text() and "30 m" in placed.inner_text()
    assert DEMO_PLACE in placed.inner_text()
    layers = preview_layers(page)
    venue = pd.read_csv(settings.DEMO_DIR / "venues.csv").set_index("name").loc[DEMO_PLACE]
    assert layers["markers"][0]["lat"] == pytest.approx(venue["latitude"], abs=1e-6)
    assert layers["circles"][0]["r"] == pytest.approx(30.0)
    assert (
        map_frame(page).locator(".leaflet-marker-icon[title='Where this report will be placed']").count() == 1
    )

    seen = "Synthetic e2e: a pupil met two older males at the bus station and got into a grey car."
    fill_rest(page, seen)
    reference = send(page)
    assert reference.startswith("SHR-")
    stored = report_with_reference(app, reference)
    assert len(stored) == 1 and stored["geocode_method"].iloc[0] == "place_name"
    assert stored["agency"].iloc[0] == "Example Academy (fictional)"
    expect(page.get_by_role("textbox", name="What was seen")).to_have_value("")  # a fresh form

    page.locator('[data-testid="stSidebarNav"] a').filter(has_text="My submissions").click()
    page.get_by_role("heading", name="My submissions").wait_for()
    cells = page.locator(".st-key-my_submissions td")
    cells.filter(has_text=reference).first.wait_for()
    assert cells.filter(has_text="Received and placed on the map").count() >= 1
    assert cells.filter(has_text=app["other_reference"]).count() == 0
    assert watch.dialogs == [] and watch.errors == [] and watch.foreign == []
    context.close()

    # The police see it on their next rerun: on the map, and in the hexagon's report list.
    context, page, watch = new_page(chromium, app)
    sign_in(page, app, POLICE)
    page.get_by_role("heading", name="Hotspot map").wait_for()
    hex_count(page)
    frame = map_frame(page)
    box = page.locator(MAP_IFRAME).bounding_box()
    x, y = frame.evaluate(
        """([lat, lng]) => {
        const map = window[document.querySelector('.leaflet-container').id];
        map.setView([lat, lng], 14, {animate: false});
        const p = map.latLngToContainerPoint([lat, lng]);
        return [p.x, p.y];
    }""",
        [float(stored["latitude"].iloc[0]), float(stored["longitude"].iloc[0])],
    )
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.get_by_role("heading").filter(has_text="matching reports").first.wait_for()
    page.get_by_role("button", name="Show the reports in this hexagon").click()
    cell = page.locator('[data-testid="stDataFrame"] td[role="gridcell"]').filter(has_text=reference)
    cell.first.wait_for(state="attached")
    heading = page.get_by_role("heading").filter(has_text="matching reports").first
    heading.evaluate("h => h.scrollIntoView({block: 'start'})")
    save_screenshot(page, "hexagon-detail")  # concerns and place types, then the indicators noted
    assert watch.dialogs == []
    context.close()


def test_a_contributor_reaches_no_other_page_report_or_map(chromium, app):  # noqa: F811
    context, page, watch = new_page(chromium, app)
    open_form(page, app, CONTRIBUTOR)
    for path in OTHER_PAGES:
        go_in_session(page, path)
        page.wait_for_function("(p) => !location.pathname.endsWith('/' + p)", arg=path)
        page.get_by_role("heading", name="Share information").wait_for()
        wait_idle(page)
        assert h1_texts(page)[0] == "Share information", path
        text = page.inner_text("body")
        assert "SYNTHETIC DEMO REPORT" not in text and OTHER_WORDS not in text, path
        assert "Hexagons with reports" not in text and "Reports on the map" not in text, path
    # The form's map has outlines to click on, never report hexagons.
    layers = map_frame(page).evaluate(
        "() => { const m = window[document.querySelector('.leaflet-container').id]; "
        "return m._hothLayers && m._hothLayers.hexes ? m._hothLayers.hexes.getLayers().length : 0; }"
    )
    assert layers == 0
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text="My submissions").click()
    page.get_by_role("heading", name="My submissions").wait_for()
    wait_idle(page)
    assert app["other_reference"] not in page.inner_text("body")
    assert watch.dialogs == [] and watch.errors == []
    for path in ("map", "review", "places"):
        # A fresh load resumes the session (its cookie): a page the role lacks leads to its start page.
        page.goto(f"{app['url']}/{path}")
        page.get_by_role("heading", name="Share information").wait_for()
        wait_idle(page)
        text = page.inner_text("body")
        assert "Hexagons with reports" not in text and app["other_reference"] not in text, path
    assert watch.dialogs == []
    context.close()


def test_a_place_that_cannot_be_found_is_sent_and_goes_to_review(chromium, app):  # noqa: F811
    context, page, watch = new_page(chromium, app)
    open_form(page, app, CONTRIBUTOR)
    box = page.get_by_role("textbox", name="Search for a place, street or postcode")
    box.fill("behind the old quarry huts")
    box.press("Enter")
    page.get_by_text("Nothing in the area's places, streets or postcodes matches that").wait_for()
    warning = page.locator('[data-testid="stAlert"]').filter(has_text="Will go to Review")
    warning.wait_for()
    assert "You can still send it" in warning.inner_text()
    fill_rest(page, "Synthetic e2e: young people gathering where there is no address.")
    place_type = page.locator('[data-testid="stSelectbox"]').filter(has_text="Place type").locator("input")
    place_type.click()
    page.keyboard.type("Park")
    page.get_by_role("option", name="Park / open space").wait_for()
    page.keyboard.press("Enter")
    wait_idle(page)
    reference = send(page)
    receipt = page.locator('[data-testid="stAlert"]').filter(has_text=reference).inner_text()
    assert "needs a location" in receipt
    assert report_with_reference(app, reference).empty
    context.close()

    context, page, watch = new_page(chromium, app)
    sign_in(page, app, POLICE)
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text="Review").click()
    page.get_by_role("heading", name="Review").wait_for()
    select = page.locator('[data-testid="stSelectbox"]').filter(has_text="Quarantined row")
    select.locator("input").click()
    page.keyboard.type(reference)
    page.get_by_role("option").filter(has_text=reference).first.click()
    page.locator('[data-testid="stAlert"]').filter(has_text="needs a location").wait_for()
    assert "behind the old quarry huts" in page.locator('[data-testid="stTable"]').first.inner_text()
    assert watch.dialogs == []
    context.close()


def test_a_place_name_with_markup_is_offered_as_text(chromium, app):  # noqa: F811
    context, page, watch = new_page(chromium, app)
    open_form(page, app, CONTRIBUTOR)
    find_place(page, "zyxwv rec")
    page.get_by_role("combobox", name="Choose the matching place").click()
    option = page.get_by_role("option").filter(has_text="Zyxwv")
    assert HOSTILE_PLACE in option.inner_text()
    assert option.locator("a, img").count() == 0, option.inner_html()
    option.click()
    wait_idle(page)
    chosen = page.get_by_role("combobox", name="Choose the matching place")
    assert chosen.input_value().startswith(HOSTILE_PLACE)
    placed = page.locator('[data-testid="stAlert"]').filter(has_text="Where it will be placed")
    placed.wait_for()
    assert "<img src=x onerror=window.__pwned=1> rec" in placed.inner_text()
    assert placed.locator("a, img").count() == 0, placed.inner_html()
    assert_nothing_ran(page, watch)
    assert watch.foreign == []
    context.close()


def _click_preview_map(page, point: tuple[float, float], zoom: int | None) -> None:
    """Click the form's map at ``point``, first zoomed to ``zoom`` (None: as the map is). The whole map is
    scrolled into view first: a click on a map cut by the bottom of the window scrolls the map's own page
    inside its frame, and lands off the point."""
    page.locator(MAP_IFRAME).evaluate("e => e.scrollIntoView({block: 'center'})")
    page.wait_for_timeout(300)
    frame = map_frame(page)
    container = frame.locator(".leaflet-container")
    frame.wait_for_function(
        "() => { const el = document.querySelector('.leaflet-container'); return el && window[el.id]; }"
    )
    if zoom is not None:
        frame.evaluate(
            """([lat, lng, zoom]) => {
            window[document.querySelector('.leaflet-container').id].setView([lat, lng], zoom, {animate: false});
        }""",
            [point[0], point[1], zoom],
        )
        page.wait_for_timeout(1000)  # the zoom reruns the page: click once it has
    x, y = frame.evaluate(
        """([lat, lng]) => {
        const p = window[document.querySelector('.leaflet-container').id].latLngToContainerPoint([lat, lng]);
        return [p.x, p.y];
    }""",
        [point[0], point[1]],
    )
    # force: the precision circle drawn over the map takes the click, and passes it to the map.
    container.click(position={"x": x, "y": y}, force=True)


def test_a_click_on_the_map_places_the_report_where_clicked(chromium, app):  # noqa: F811
    """The click is placed where it was made and stated as precise as the zoom it was made at: ten pixels
    of the county-wide map the form opens with, then of a street once zoomed in; never the 10 m its six
    decimals would claim."""
    context, page, watch = new_page(chromium, app)
    open_form(page, app, CONTRIBUTOR)
    tick(page, "A point I choose on the map")
    page.get_by_text("Click the map where it happened").wait_for()
    preview_layers(page, want_marker=False)
    placed = page.locator('[data-testid="stAlert"]').filter(has_text="Where it will be placed")

    for zoom, radius in (
        (None, map_click_radius_m(DURHAM[0], maps.BLANK_MAP_ZOOM)),
        (15, map_click_radius_m(DURHAM[0], 15)),
    ):
        _click_preview_map(page, DURHAM, zoom)
        expect(placed).to_contain_text(f"within about {radius:,.0f} m", timeout=60_000)
        assert "Latitude/longitude given" in placed.inner_text()
        deadline = time.monotonic() + 60
        # The map is drawn again around the new point after the text: until then it shows the last one.
        while (layers := preview_layers(page))["circles"][0]["r"] != pytest.approx(radius):
            assert time.monotonic() < deadline, layers
            page.wait_for_timeout(200)
        assert layers["markers"][0]["lat"] == pytest.approx(DURHAM[0], abs=5e-4 if zoom else 5e-3)
        assert layers["markers"][0]["lng"] == pytest.approx(DURHAM[1], abs=5e-4 if zoom else 5e-3)
        # A click on the pin reaches the map beneath it: were it the pin's, Leaflet would give the pin's
        # own point, and an old click would be stated at the new zoom's precision.
        assert layers["markers"][0]["interactive"] is False
        save_screenshot(page, f"share-map-click-{'county' if zoom is None else f'zoom-{zoom}'}")
    assert watch.dialogs == [] and watch.errors == [] and watch.foreign == []
    context.close()


def test_a_tap_on_a_phone_places_the_report_where_tapped(chromium, app):  # noqa: F811
    """A practitioner on a phone (390 px, touch) taps the form's map: Leaflet reads the touch as a click,
    and the report is placed at the tapped point, as precise as the county-wide map it was tapped on."""
    context = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(SLOW)
    try:
        open_form(page, app, CONTRIBUTOR)
        tick(page, "A point I choose on the map")
        page.get_by_text("Click the map where it happened").wait_for()
        preview_layers(page, want_marker=False)
        page.locator(MAP_IFRAME).evaluate("e => e.scrollIntoView({block: 'center'})")
        page.wait_for_timeout(300)
        x, y = map_frame(page).evaluate(
            """([lat, lng]) => {
            const map = window[document.querySelector('.leaflet-container').id];
            const p = map.latLngToContainerPoint([lat, lng]);
            return [p.x, p.y];
        }""",
            list(DURHAM),
        )
        frame_box = page.locator(MAP_IFRAME).bounding_box()
        page.touchscreen.tap(frame_box["x"] + x, frame_box["y"] + y)
        placed = page.locator('[data-testid="stAlert"]').filter(has_text="Where it will be placed")
        radius = map_click_radius_m(DURHAM[0], maps.BLANK_MAP_ZOOM)
        expect(placed).to_contain_text(f"within about {radius:,.0f} m", timeout=60_000)
        marker = preview_layers(page)["markers"][0]
        assert marker["lat"] == pytest.approx(DURHAM[0], abs=5e-3)
        assert marker["lng"] == pytest.approx(DURHAM[1], abs=5e-3)
        save_screenshot(page, "phone-share-map-tap")
    finally:
        context.close()


def test_the_form_is_sent_from_the_keyboard_and_every_field_has_a_name(chromium, app):  # noqa: F811
    context, page, watch = new_page(chromium, app)
    open_form(page, app, CONTRIBUTOR)
    page.get_by_role("button", name="Send to the police").wait_for()
    wait_idle(page)
    # The accessibility tree Chromium gives assistive technology: every control has a name. Chromium
    # builds it lazily, so read it until the form's last fields are in it.
    cdp = context.new_cdp_session(page)
    wanted = (
        "Date seen",
        "What was seen (what you saw or were told)",
        "Can it be shared further?",
        "Concerns",
    )
    deadline = time.monotonic() + 60
    while True:
        nodes = [n for n in cdp.send("Accessibility.getFullAXTree")["nodes"] if not n.get("ignored")]
        named = {str(n.get("name", {}).get("value", "")) for n in nodes}
        missing = [w for w in wanted if not any(w in name for name in named)]
        if not missing:
            break
        assert time.monotonic() < deadline, f"not in the accessibility tree: {missing}"
        page.wait_for_timeout(1000)
    controls = [n for n in nodes if n.get("role", {}).get("value") in FORM_ROLES]
    unnamed = [n["role"]["value"] for n in controls if not str(n.get("name", {}).get("value", "")).strip()]
    assert len(controls) > 40 and unnamed == []

    def tab_to(name: str, limit: int = 150) -> None:
        """Press Tab until the focused element's accessible name contains ``name``."""
        for _ in range(limit):
            page.keyboard.press("Tab")
            if name in page.evaluate(FOCUSED_NAME_JS):
                return
        raise AssertionError(f"Tab never reached {name!r}")

    tab_to("Date seen")  # the day part of the date
    page.keyboard.type("19112026")
    page.keyboard.press("Tab")
    wait_idle(page)
    tab_to("A place, street or postcode")  # the 'where' group: arrow keys choose within it
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.get_by_text("never placed on the map").wait_for()
    wait_idle(page)
    tab_to("Place type")
    page.keyboard.type("Online")
    page.keyboard.press("Enter")
    wait_idle(page)
    tab_to("Concerns")
    page.keyboard.type("Online harm")
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    wait_idle(page)
    tab_to("Using the internet / a mobile phone")
    page.keyboard.press("Space")
    wait_idle(page)
    tab_to("What was seen")
    page.keyboard.type("Synthetic e2e keyboard: messages from an unknown adult offering gifts.")
    wait_idle(page)
    tab_to("1 — Reliable")  # no choice yet: Tab lands on the first; ArrowDown chooses the next
    page.keyboard.press("ArrowDown")
    wait_idle(page)
    tab_to("A — Known directly")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    wait_idle(page)
    tab_to("P — It may be shared")
    page.keyboard.press("Space")
    wait_idle(page)
    tab_to("Send to the police")
    page.keyboard.press("Enter")
    receipt = page.locator('[data-testid="stAlert"]').filter(
        has_text="Thank you: your information has been shared"
    )
    receipt.wait_for()
    assert "counted, not placed on the map" in receipt.inner_text()
    reference = receipt.inner_text().split("Your reference is ")[1].split(":")[0].strip()
    stored = report_with_reference(app, reference).iloc[0]
    assert (stored["grading_source"], stored["grading_information"], stored["grading_handling"]) == (
        "2",
        "C",
        "P",
    )
    assert stored["concerns"] == "online_harm" and stored["indicators"] == "concerning_phone_internet"
    assert pd.Timestamp(stored["observed_at"]).date() == date(2026, 11, 19)
    assert watch.dialogs == [] and watch.errors == []
    context.close()


@pytest.fixture(scope="module")
def short_session_app(chromium, share_db):  # noqa: F811
    """A second server on the same database whose sessions expire after one idle minute."""
    with _server(
        share_db["db"], share_db["workdir"] / "streamlit-short.log", {auth.SESSION_MINUTES_ENV: "1"}
    ) as url:
        yield {"url": url, **share_db}


def test_a_session_that_expires_mid_form_keeps_the_draft(chromium, short_session_app):  # noqa: F811
    app = short_session_app
    context, page, watch = new_page(chromium, app)
    open_form(page, app, OTHER_CONTRIBUTOR)
    typed = "Synthetic e2e draft: typed, then the session expired."
    page.get_by_role("textbox", name="What was seen").fill(typed)
    page.get_by_role("textbox", name="What was seen").press("Tab")
    wait_idle(page)
    page.locator("label").filter(has_text="Misusing drugs or alcohol").first.click()
    wait_idle(page)
    time.sleep(65)  # idle past the one-minute timeout
    # The open page notices the expiry by itself, without a click (hoth_geo.ui.session).
    page.get_by_role("button", name="Sign out").wait_for(state="detached")
    expect_sign_in_form(page)
    page.get_by_text("Your session expired").wait_for()

    page.get_by_role("textbox", name="Username").fill(OTHER_CONTRIBUTOR)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Share information").wait_for()
    wait_idle(page)
    page.get_by_text("Your unsent form has been restored.").wait_for()
    expect(page.get_by_role("textbox", name="What was seen")).to_have_value(typed)
    # The tick given before the session expired was kept too.
    assert page.get_by_role("checkbox", name="Misusing drugs or alcohol").is_checked()
    assert watch.dialogs == []
    context.close()
