"""Take the README's screenshots (docs/images/screen-*.png) of the running app on the synthetic demo set.

    .venv/bin/python scripts/make_readme_screenshots.py [--out docs/images] [--basemap FILE]

Starts the app on a free loopback port with a throwaway SQLite database (the shipped demo set and one
account per role), signs in as each role in headless Chromium (Debian's ``chromium``, as in the browser
tests) at a 1280-pixel-wide window and saves one PNG per page, made small with Pillow (a 256-colour
palette). Nothing is fetched from another host: without ``--basemap`` the maps have no tiles (the app's
default, boundaries and town names only); with ``--basemap`` a local MBTiles or PMTiles file is served
by the app itself. The script stops with an error if the browser asks any other host for anything.
The project's own database is never touched. Needs the test dependencies (``pip install -e ".[test]"``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_DIR))
sys.path.insert(0, str(REPO_DIR / "tests"))  # the browser tests' app server
sys.path.insert(0, str(REPO_DIR / "tests" / "ui"))  # and their page watcher

from app_server import running_app  # noqa: E402
from PIL import Image  # noqa: E402
from test_browser import Watch  # noqa: E402

from hoth_geo import store  # noqa: E402
from hoth_geo.access import auth  # noqa: E402
from hoth_geo.deliver import basemap as basemaps  # noqa: E402
from hoth_geo.intake import pipeline, submission  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 860}
PASSWORD = "synthetic-screenshot-passphrase"  # throwaway accounts in a throwaway database
USERS = {"analyst": "readme.analyst", "partner": "readme.partner", "contributor": "readme.contributor"}
STEP_MS = 180_000  # two shared cores and a cold Streamlit
MAP_IFRAME = 'iframe[title="streamlit_folium.st_folium"]'
# The Leaflet map in the st_folium iframe has drawn its hexagons.
MAP_DRAWN_JS = """() => { const el = document.querySelector('.leaflet-container');
    const map = el && window[el.id]; return !!(map && map._hothLayers); }"""
MAX_BYTES = 400_000


def _map_drawn(page) -> None:
    """Wait until the map in the page's iframe has drawn (the iframe may be replaced by a rerun)."""
    deadline = time.monotonic() + STEP_MS / 1000
    while True:
        try:
            frame = page.wait_for_selector(MAP_IFRAME, state="attached").content_frame()
            frame.wait_for_function(MAP_DRAWN_JS, timeout=10_000)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
    page.wait_for_timeout(2000)  # the fitted view and any tiles finish drawing


def _idle(page) -> None:
    """Wait until Streamlit has finished the current run."""
    page.wait_for_timeout(500)
    page.wait_for_function(
        "() => { const w = document.querySelector('[data-testid=stStatusWidget]');"
        " return !w || !w.innerText.includes('Running'); }"
    )
    page.wait_for_timeout(500)


def _choose(page, label: str, typed: str, option: str) -> None:
    """Choose in the select box labelled ``label`` the first option holding ``option``, after typing
    ``typed`` (long lists are virtualised). Tried again if a rerun closes the list under the click."""
    deadline = time.monotonic() + STEP_MS / 1000
    while True:
        try:
            box = page.locator('[data-testid="stSelectbox"]').filter(has_text=label)
            box.locator("input").click()
            if typed:
                page.keyboard.type(typed)
            page.get_by_role("option").filter(has_text=option).first.click(timeout=10_000)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            page.keyboard.press("Escape")
            _idle(page)


def _open(page, title: str, heading: str | None = None) -> None:
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text=title).first.click()
    page.get_by_role("heading", name=heading or title, exact=True).first.wait_for()
    _idle(page)


def _scroll_to(locator) -> None:
    """Scroll the page so that ``locator`` is at the top of the window."""
    locator.first.evaluate("e => e.scrollIntoView({block: 'start'})")
    locator.page.wait_for_timeout(500)


def hotspot_map(page) -> None:
    _map_drawn(page)


def hotspot_map_and_detail(page) -> None:
    """The map, and below it the busiest hexagon: named by its streets, its concerns and its places."""
    _map_drawn(page)
    _choose(page, "busiest hexagons", "", "reports")
    page.get_by_role("button", name="Show the reports in this hexagon").wait_for()
    _idle(page)


def hotspots(page) -> None:
    _open(page, "Hotspots")
    _map_drawn(page)


def patrol_plan(page) -> None:
    _open(page, "Patrol plan")
    _map_drawn(page)
    _scroll_to(page.locator('[data-testid="stExpander"]').filter(has_text="Grading weights"))  # the plan


def patrol_plan_on_a_phone(page) -> None:
    """The plan as an officer reads it on a phone: the first slots, one block each."""
    # The menu is folded away on a phone: the page is opened by its address within the session.
    page.evaluate(
        "(p) => { history.pushState({}, '', p); window.dispatchEvent(new PopStateEvent('popstate')); }",
        "/patrol",
    )
    page.get_by_role("heading", name="Patrol plan", exact=True).wait_for()
    _idle(page)
    # The folded grading weights just above the plan: the top bar then hides none of the first slot.
    _scroll_to(page.locator('[data-testid="stExpander"]').filter(has_text="Grading weights"))


def places(page) -> None:
    _open(page, "Places")


def time_profile(page) -> None:
    _open(page, "Time")


def review(page) -> None:
    _open(page, "Review")
    # A row naming a place that two demo venues share: the page shows its candidates.
    _choose(page, "Quarantined row", "matches 2 places", "Station Road Takeaway")
    page.locator('[data-testid="stAlert"]').filter(has_text="Why it needs a location").wait_for()
    _idle(page)
    _scroll_to(page.locator('[data-testid="stSelectbox"]').filter(has_text="Quarantined row"))


def export_partner(page) -> None:
    _open(page, "Export")
    page.wait_for_function(
        "() => { const i = document.querySelector('[data-testid=stImage] img'); "
        "return i && i.complete && i.naturalWidth > 0; }",
        timeout=STEP_MS,
    )
    _idle(page)


def share(page) -> None:
    page.get_by_role("heading", name="Share information", exact=True).wait_for()
    _idle(page)
    box = page.get_by_role("textbox", name="Search for a place, street or postcode")
    box.fill("bus stat darl")
    box.press("Enter")
    _idle(page)
    _choose(page, "Choose the matching place", "", "Bus station, Darlington town centre (demo)")
    page.locator('[data-testid="stAlert"]').filter(has_text="Where it will be placed").wait_for()
    _map_drawn(page)


PHONE = {"width": 390, "height": 844}  # CSS pixels, drawn at twice the density as a phone does

# (file name, role, what to do before the picture, window height in pixels; a phone's window instead)
SHOTS = [
    ("screen-hotspot-map", "analyst", hotspot_map_and_detail, 1300),
    ("screen-hotspots-gistar", "analyst", hotspots, 1260),
    ("screen-patrol-plan", "analyst", patrol_plan, 1000),
    ("screen-places", "analyst", places, 860),
    ("screen-time", "analyst", time_profile, 900),
    ("screen-review", "analyst", review, 1150),
    ("screen-export-partner", "partner", export_partner, 860),
    ("screen-share-information", "contributor", share, 1000),
    ("screen-partner-hotspot-map", "partner", hotspot_map, 860),
    ("screen-phone-patrol-plan", "analyst", patrol_plan_on_a_phone, PHONE),
]


def _prepare(db_path: Path) -> None:
    engine = store.connect(f"sqlite:///{db_path}")
    auth.add_user(engine, "readme.admin", PASSWORD, "admin")  # without an admin the app asks for one
    for role, username in USERS.items():
        auth.add_user(engine, username, PASSWORD, role)
    submission.set_account_agency(engine, USERS["contributor"], "Example Academy (fictional)", "school")
    pipeline.load_demo_data(engine)
    engine.dispose()


def _sign_in(page, url: str, username: str) -> None:
    page.goto(url + "/")
    page.get_by_role("textbox", name="Username").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()
    _idle(page)


def _save_small(raw: Path, out: Path) -> int:
    """A 256-colour PNG (the app's flat colours survive it); returns its size in bytes."""
    with Image.open(raw) as img:
        small = img.convert("RGB").quantize(
            colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
        small.save(out, format="PNG", optimize=True)
    return out.stat().st_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_DIR / "docs" / "images")
    parser.add_argument("--basemap", type=Path, default=None, help="a local MBTiles or PMTiles file")
    parser.add_argument("--only", nargs="*", default=None, help="file names to take (default: all)")
    parser.add_argument("--height", type=int, default=None, help="one window height for every page (px)")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    shots = [s for s in SHOTS if args.only is None or s[0] in args.only]
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        db_path = workdir / "readme.sqlite"
        _prepare(db_path)
        env = {}
        if args.basemap:
            config = workdir / "basemap.json"
            basemaps.save(basemaps.from_tile_file(args.basemap.resolve()), config)
            env["HOTH_GEO_BASEMAP_FILE"] = str(config)
        with running_app(db_path, workdir, env) as app, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for name, role, prepare, height in shots:
                if height is PHONE:
                    context = browser.new_context(
                        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
                    )
                else:
                    context = browser.new_context(viewport={**VIEWPORT, "height": args.height or height})
                page = context.new_page()
                page.set_default_timeout(STEP_MS)
                watch = Watch(page, app["url"])
                _sign_in(page, app["url"], USERS[role])
                try:
                    prepare(page)
                except Exception:
                    failed = REPO_DIR / "var" / "screenshots" / f"{name}.failed.png"
                    failed.parent.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(failed))
                    print(f"{name}: failed; the page as it was: {failed}", file=sys.stderr)
                    raise
                page.mouse.move(VIEWPORT["width"] - 10, 10)  # no hover highlight in the picture
                page.wait_for_timeout(300)
                raw = workdir / f"{name}.png"
                page.screenshot(path=str(raw))
                context.close()
                if watch.foreign:
                    print(f"{name}: requests to other hosts: {watch.foreign[:3]}", file=sys.stderr)
                    return 1
                size = _save_small(raw, args.out / f"{name}.png")
                flag = "" if size <= MAX_BYTES else f"  (over {MAX_BYTES // 1000} KB)"
                print(f"{args.out / name}.png {size / 1000:.0f} KB{flag}")
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
