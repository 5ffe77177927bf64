"""The running app in headless Chromium: sign-in, the map, filters, hostile text, roles and sign-out.

One Streamlit server (``streamlit run app.py`` on a free loopback port) serves the whole module. Its
SQLite database is prepared before it starts: accounts, the synthetic demo set, and a small
sharing-form import whose fields carry script payloads. Every test uses its own browser context, so
its own Streamlit session.

Navigating inside a session (the sidebar links, or the browser's history as when a user edits the
address within the app) keeps the session; loading a URL afresh starts a new session, which is
signed out. Both are exercised.
"""

from __future__ import annotations

import csv
import re
import time
from pathlib import Path

import pandas as pd
import pytest
from app_server import running_app

from hoth_geo import settings, store
from hoth_geo.access import auth
from hoth_geo.analysis import aggregate
from hoth_geo.intake import pipeline
from hoth_geo.schema import TEMPLATE_COLUMNS
from hoth_geo.selection import ReportFilter

pytestmark = pytest.mark.browser

REPO_DIR = Path(__file__).resolve().parents[2]
PASSWORD = "synthetic-test-passphrase"  # throwaway accounts in a throwaway database
ANALYST, PARTNER = "analyst.e2e", "partner.e2e"
SLOW = 120_000  # ms: two shared cores, a cold Streamlit and a 5,000-report map

# Script payloads: if any of them ever runs, window.__pwned is set.
SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=1">'
SVG = '"><svg onload=window.__pwned=1>'
HOSTILE_AGENCY = f"Synthetic Youth Project {IMG}"
HOSTILE_PLACE = f"Synthetic park {SCRIPT}"
HOSTILE_LOCALITY = f"Synthetic locality {SVG}"
HOSTILE_PLACE_ID = "local:synthetic-hostile-park"
AMBIGUOUS_NAME = f"Station Road Takeaway {SCRIPT}"  # not a known place: quarantined, quoted in Review
HOSTILE_FILE = "hostile_sharing_form.csv"
LAT, LON = 54.77613, -1.57329  # Durham city: inside the study area
DEMO_VENUE = "Bus station, Darlington town centre (demo)"

CSE = "Child sexual exploitation"
RESTRICTED_FOR_PARTNER = {
    "review": "Review",
    "import": "Import",
    "places": "Places",
    "time": "Time",
    "patrol": "Patrol plan",
    "disruption": "Disruption log",
}
PARTNER_PAGES = ["Hotspot map", "Hotspots", "Export", "About"]

MAP_IFRAME = 'iframe[title="streamlit_folium.st_folium"]'
# The Leaflet map inside the st_folium iframe is the global named by the container's id.
HEX_COUNT_JS = """() => {
    const el = document.querySelector('.leaflet-container');
    const map = el && window[el.id];
    return map && map._hothLayers ? map._hothLayers.hexes.getLayers().length : null;
}"""
# Elements a payload would create if any field reached the DOM as markup.
INJECTED_JS = """() => {
    const found = [];
    for (const el of document.querySelectorAll('img[src="x"], svg[onload], [onerror], [onload]')) {
        found.push(el.outerHTML.slice(0, 120));
    }
    for (const el of document.querySelectorAll('script')) {
        if (el.textContent.trim() === 'window.__pwned=1') found.push(el.outerHTML);
    }
    return found;
}"""
# --- The server ---------------------------------------------------------------------------------------


def _write_hostile_csv(path: Path) -> None:
    def row(ref: str, **over: str) -> dict[str, str]:
        base = {c: "" for c in TEMPLATE_COLUMNS}
        base.update(
            {
                "Source reference": ref,
                "Date received": "05/04/2025",
                "Date observed": "03/04/2025",
                "Time observed": "21:30",
                "Reporting agency": HOSTILE_AGENCY,
                "Agency type": "youth_service",
                "Location": f"By the gate {SVG}",
                "Place name": f"Park {SCRIPT}",
                "Place type": "park",
                "Latitude": f"{LAT:.6f}",
                "Longitude": f"{LON:.6f}",
                "Concerns": f"cse;{SVG}",
                "Source grading": "2",
                "Information grading": "B",
                "Handling code": "P",
                "Narrative": f"Synthetic narrative {ref} {SCRIPT}{IMG}{SVG}",
                "Child reference": f"SYN-{ref}",
            }
        )
        base.update(over)
        return base

    rows = [row(f"XSS-{i}") for i in (1, 2, 3)]
    rows.append(
        row(
            "XSS-4",
            **{"Place name": DEMO_VENUE, "Place type": "transport_hub", "Latitude": "", "Longitude": ""},
        )
    )
    rows.append(
        row(
            "XSS-5",
            **{"Place name": AMBIGUOUS_NAME, "Place type": "takeaway", "Latitude": "", "Longitude": ""},
        )
    )
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(TEMPLATE_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)


def _prepare_database(db_path: Path, workdir: Path) -> dict:
    """Accounts, demo data and the hostile import; returns the hexagon counts the map must show."""
    engine = store.connect(f"sqlite:///{db_path}")
    auth.add_user(engine, "admin.e2e", PASSWORD, "admin")
    auth.add_user(engine, ANALYST, PASSWORD, "analyst")
    auth.add_user(engine, PARTNER, PASSWORD, "partner")
    pipeline.load_demo_data(engine)
    place = pd.DataFrame(
        [
            {
                "place_id": HOSTILE_PLACE_ID,
                "name": HOSTILE_PLACE,
                "place_type": "park",
                "latitude": LAT,
                "longitude": LON,
                "locality": HOSTILE_LOCALITY,
                "postcode_district": "DH1",
                "source": "analyst",
            }
        ]
    )
    with engine.begin() as conn:  # an analyst-added place, as Review can add
        store.upsert_places(conn, place)
    csv_path = workdir / HOSTILE_FILE
    _write_hostile_csv(csv_path)
    summary = pipeline.import_file(engine, csv_path)
    assert (summary.n_accepted, summary.n_quarantined) == (4, 1), summary.describe()
    reports = store.load_reports(engine)
    assert (reports["place_id"] == HOSTILE_PLACE_ID).sum() == 3  # the point reports link to the place
    res = settings.DEFAULT_MAP_RES
    counts = {
        "all": len(aggregate.aggregate_hexes(reports, res, ReportFilter())),
        "cse": len(aggregate.aggregate_hexes(reports, res, ReportFilter(concerns=("cse",)))),
        "hostile": len(aggregate.aggregate_hexes(reports, res, ReportFilter(agencies=(HOSTILE_AGENCY,)))),
    }
    engine.dispose()
    return counts


@pytest.fixture(scope="module")
def app(chromium, tmp_path_factory):
    """The running app: {"url", "expected" hexagon counts}. Stopped (its process group) at the end."""
    workdir = tmp_path_factory.mktemp("browser_app")
    db_path = workdir / "app.sqlite"
    expected = _prepare_database(db_path, workdir)
    with running_app(db_path, workdir) as running:
        yield {**running, "expected": expected}


# --- Helpers -------------------------------------------------------------------------------------------


class Watch:
    """What a page did that a user must never see: dialogs, script errors, requests off the server."""

    def __init__(self, page, base_url: str):
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.foreign: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda err: self.errors.append(f"pageerror: {err}"))
        page.on("console", self._console)
        page.on(
            "request",
            lambda r: (
                None
                if r.url.startswith((base_url, "data:", "blob:", "about:"))
                else self.foreign.append(r.url)
            ),
        )

    def _dialog(self, dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def _console(self, msg) -> None:
        if msg.type != "error":
            return
        location = (msg.location or {}).get("url", "")
        self.errors.append(f"console: {msg.text} ({location})")


def new_page(chromium, app):
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(SLOW)
    return context, page, Watch(page, app["url"])


def sign_in(page, app, username: str) -> None:
    page.goto(app["url"] + "/")
    page.get_by_role("textbox", name="Username").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()


def expect_sign_in_form(page) -> None:
    page.get_by_role("heading", name="hoth-geo: sign in").wait_for()
    page.get_by_role("textbox", name="Username").wait_for()
    # The signed-in page's elements leave as the rerun finishes: wait for them to go, then check.
    page.get_by_role("button", name="Sign out").wait_for(state="detached")
    page.locator('[data-testid="stSidebarNav"]').wait_for(state="detached")
    assert page.get_by_role("button", name="Sign out").count() == 0
    assert page.locator(MAP_IFRAME).count() == 0
    assert page.locator('[data-testid="stSidebarNav"]').count() == 0


def map_frame(page):
    handle = page.wait_for_selector(MAP_IFRAME, state="attached")
    frame = handle.content_frame()
    assert frame is not None
    return frame


def hex_count(page, not_equal: int | None = None) -> int:
    """Polygons in the map's hexagon layer, once drawn (and, if given, once different from ``not_equal``)."""
    cond = (
        f"() => {{ const n = ({HEX_COUNT_JS})(); return n !== null && n !== {not_equal}; }}"
        if not_equal is not None
        else f"() => ({HEX_COUNT_JS})() !== null"
    )
    return wait_in_map(page, cond, HEX_COUNT_JS)


def wait_in_map(page, condition_js: str, result_js: str = "() => true"):
    """Wait until ``condition_js`` holds in the map's iframe, then return ``result_js`` there."""
    deadline = time.monotonic() + SLOW / 1000
    while True:
        # The iframe is replaced when the page reruns, and a wait on the old one never ends: wait in
        # short rounds and look the iframe up again each round until the overall deadline.
        try:
            frame = map_frame(page)
            frame.wait_for_function(condition_js, timeout=10_000)
            return frame.evaluate(result_js)
        except Exception:
            if time.monotonic() > deadline:
                raise


def metric(page, label: str) -> str:
    box = page.locator('[data-testid="stMetric"]').filter(has_text=label)
    return box.locator('[data-testid="stMetricValue"]').inner_text().strip()


def pick_in_sidebar(page, label: str, option: str) -> None:
    """Choose ``option`` in the sidebar multiselect labelled ``label``."""
    box = page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]').filter(
        has=page.get_by_text(label, exact=True)
    )
    box.locator("input").click()
    page.keyboard.type(option[:24])  # long option lists are virtualised: narrow it first
    page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")


def go_in_session(page, path: str) -> None:
    """Change the address within the running app (history navigation), keeping the session."""
    page.evaluate(
        "(p) => { history.pushState({}, '', p); window.dispatchEvent(new PopStateEvent('popstate')); }",
        "/" + path,
    )


def nav_titles(page) -> list[str]:
    # Each link's text is the icon's ligature name, then the title.
    return [
        t.split("\n")[-1].strip() for t in page.locator('[data-testid="stSidebarNav"] a').all_inner_texts()
    ]


def h1_texts(page) -> list[str]:
    return [t.strip() for t in page.locator("h1").all_inner_texts()]


def all_text(page) -> str:
    """The text and markup of the page and every frame in it (the map iframe included)."""
    return "\n".join([page.inner_text("body")] + [f.content() for f in page.frames])


def assert_nothing_ran(page, watch: Watch) -> None:
    assert watch.dialogs == []
    assert watch.errors == []
    for frame in page.frames:
        assert frame.evaluate("() => typeof window.__pwned") == "undefined", frame.url
        assert frame.evaluate(INJECTED_JS) == [], frame.url


# --- Tests ---------------------------------------------------------------------------------------------


def test_analyst_signs_in_and_the_map_draws_every_hexagon(chromium, app):
    context, page, watch = new_page(chromium, app)
    sign_in(page, app, ANALYST)
    page.get_by_role("heading", name="Hotspot map").wait_for()
    n = hex_count(page)
    assert n == app["expected"]["all"] > 0
    assert metric(page, "Hexagons with reports") == f"{n:,}"
    assert int(metric(page, "Reports on the map").replace(",", "")) > 0
    assert watch.dialogs == [] and watch.errors == []
    context.close()


def test_a_concern_filter_redraws_the_map(chromium, app):
    context, page, watch = new_page(chromium, app)
    sign_in(page, app, ANALYST)
    before = hex_count(page)
    reports_before = metric(page, "Reports on the map")
    pick_in_sidebar(page, "Concern", CSE)
    after = hex_count(page, not_equal=before)
    assert after == app["expected"]["cse"]
    assert 0 < after < before
    page.wait_for_function(
        "(v) => [...document.querySelectorAll('[data-testid=stMetric]')].some(m => "
        "m.innerText.includes('Hexagons with reports') && m.innerText.includes(v))",
        arg=f"{after:,}",
    )
    reports_after = metric(page, "Reports on the map")
    assert int(reports_after.replace(",", "")) < int(reports_before.replace(",", ""))
    assert CSE in page.locator('[data-testid="stSidebar"]').inner_text()
    assert watch.dialogs == [] and watch.errors == []
    context.close()


def test_script_payloads_in_reports_show_as_text_and_never_run(chromium, app):
    context, page, watch = new_page(chromium, app)
    sign_in(page, app, ANALYST)
    hex_count(page)
    assert_nothing_ran(page, watch)

    # Place markers are off by default (they must never hide a hot spot): switch them on.
    page.get_by_text("Most-reported places", exact=True).click()
    wait_in_map(
        page,
        "() => { const el = document.querySelector('.leaflet-container'); const m = el && window[el.id];"
        " return m && m._hothLayers && m._hothLayers.places.getLayers().length > 0; }",
    )

    # The hostile agency name is a filter option, listed as text; choosing it maps only its reports.
    pick_in_sidebar(page, "Reporting agency", HOSTILE_AGENCY)
    assert HOSTILE_AGENCY in page.locator('[data-testid="stSidebar"]').inner_text()
    n = hex_count(page, not_equal=app["expected"]["all"])
    assert n == app["expected"]["hostile"] == 2

    # Hovering the hostile place's marker shows its name as text in the tooltip.
    frame = map_frame(page)
    box = page.locator(MAP_IFRAME).bounding_box()
    x, y = frame.evaluate(
        """([lat, lng]) => {
        const map = window[document.querySelector('.leaflet-container').id];
        let target = null;
        map._hothLayers.places.eachLayer(m => {
            const p = m.getLatLng();
            if (Math.abs(p.lat - lat) < 1e-4 && Math.abs(p.lng - lng) < 1e-4) target = m;
        });
        const p = map.latLngToContainerPoint(target.getLatLng());
        const r = map.getContainer().getBoundingClientRect();
        return [r.left + p.x, r.top + p.y];
    }""",
        [LAT, LON],
    )
    page.mouse.move(box["x"] + x, box["y"] + y)
    tooltip = frame.locator(".leaflet-tooltip:not(.hoth-town)")
    tooltip.wait_for()
    assert HOSTILE_PLACE in tooltip.inner_text()
    assert tooltip.locator("script, img, svg").count() == 0
    assert_nothing_ran(page, watch)

    # Places: the analyst-added place with the hostile name and locality, as text.
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text="Places").click()
    page.get_by_role("heading", name="Places", exact=True).wait_for()
    # The table is drawn on a canvas; its accessible grid holds the cell text.
    cell = page.locator('[data-testid="stDataFrame"] td[role="gridcell"]').filter(has_text=HOSTILE_PLACE)
    cell.first.wait_for(state="attached")
    assert cell.first.text_content() == HOSTILE_PLACE
    assert cell.first.locator("script, img, svg").count() == 0
    # The place compared with its type defaults to the first-ranked place, named in full.
    chosen = page.locator('[data-testid="stSelectbox"]').filter(has_text="Place").locator("input")
    page.wait_for_function(
        "([el, name]) => el.value.includes(name)", arg=[chosen.element_handle(), HOSTILE_PLACE]
    )
    assert HOSTILE_LOCALITY in chosen.input_value()
    assert_nothing_ran(page, watch)

    # Review: the quarantined row whose reason quotes the hostile place name.
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text="Review").click()
    page.get_by_role("heading", name="Review").wait_for()
    select = page.locator('[data-testid="stSelectbox"]').filter(has_text="Quarantined row")
    select.locator("input").click()
    page.keyboard.type(HOSTILE_FILE)  # the option list is virtualised: narrow it first
    page.get_by_role("option").filter(has_text=HOSTILE_FILE).first.click()
    reason = page.locator('[data-testid="stAlert"]').filter(has_text=AMBIGUOUS_NAME)
    reason.wait_for()
    assert f"place name '{AMBIGUOUS_NAME}' is not in the gazetteer" in reason.inner_text()
    shown = page.locator('[data-testid="stTable"]').first.inner_text()  # the row as read, in cells
    assert "By the gate" in shown and "svg onload" in shown
    assert_nothing_ran(page, watch)
    context.close()


def test_partner_reaches_no_report_level_page_or_text(chromium, app):
    context, page, watch = new_page(chromium, app)
    sign_in(page, app, PARTNER)
    page.get_by_role("heading", name="Hotspot map").wait_for()
    assert nav_titles(page) == PARTNER_PAGES

    for path, title in RESTRICTED_FOR_PARTNER.items():
        go_in_session(page, path)
        # Streamlit answers with the default page for a page the session does not have.
        page.wait_for_function("(p) => !location.pathname.endsWith('/' + p)", arg=path)
        page.get_by_role("heading", name="Hotspot map").wait_for()
        assert title not in h1_texts(page), path
        hex_count(page)

    narratives = pd.read_csv(settings.DEMO_DIR / "demo_reports.csv", dtype=str)["Narrative"].dropna()
    assert narratives.str.startswith("SYNTHETIC DEMO REPORT").all()
    for title in PARTNER_PAGES:
        page.locator('[data-testid="stSidebarNav"] a').filter(has_text=title).click()
        page.get_by_role("heading", name=title).first.wait_for()
        page.wait_for_function(
            "() => !document.querySelector('[data-testid=stStatusWidget]') || "
            "!document.querySelector('[data-testid=stStatusWidget]').innerText.includes('Running')"
        )
        text = all_text(page)
        assert "SYNTHETIC DEMO REPORT" not in text, title
        assert "DEMO-C" not in text, title
        assert "Synthetic narrative" not in text and HOSTILE_PLACE_ID not in text, title
        assert not re.search(r"Station Road Takeaway|Synthetic park", text), title

    # A fresh load of a restricted address keeps the sign-in (the session cookie) and lands on the
    # start page, without a "Page not found" pop-up; the restricted page never runs.
    for path in RESTRICTED_FOR_PARTNER:
        page.goto(f"{app['url']}/{path}")
        page.wait_for_function("(p) => !location.pathname.endsWith('/' + p)", arg=path)
        page.get_by_role("heading", name="Hotspot map").wait_for()
        assert RESTRICTED_FOR_PARTNER[path] not in h1_texts(page), path
        assert page.get_by_text("Page not found").count() == 0
    assert watch.dialogs == []
    context.close()


def test_sign_out_returns_to_the_sign_in_form(chromium, app):
    context, page, watch = new_page(chromium, app)
    sign_in(page, app, ANALYST)
    hex_count(page)
    page.get_by_role("button", name="Sign out").click()
    expect_sign_in_form(page)
    page.get_by_text("You have signed out.").wait_for()
    page.goto(f"{app['url']}/map")
    expect_sign_in_form(page)
    assert "Hotspot map" not in h1_texts(page)
    assert watch.dialogs == []
    context.close()


@pytest.mark.parametrize("path", ["", "map", "review"])
def test_a_visitor_who_has_not_signed_in_sees_only_the_sign_in_page(chromium, app, path):
    context, page, watch = new_page(chromium, app)
    page.goto(f"{app['url']}/{path}")
    expect_sign_in_form(page)
    assert h1_texts(page) == ["hoth-geo: sign in"]
    text = page.inner_text("body")
    assert "SYNTHETIC DEMO" not in text and "DEMO-C" not in text
    assert watch.dialogs == []
    context.close()


def test_the_app_requests_nothing_beyond_its_own_server(chromium, app):
    context, page, watch = new_page(chromium, app)
    sign_in(page, app, ANALYST)
    hex_count(page)
    assert watch.foreign == []
    context.close()
