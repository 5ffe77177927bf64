"""Every page of the app opened from the sidebar in headless Chromium, as the accounts that can see it:
an officer who is also an administrator (every data page and the admin pages), a partner and a
practitioner who shares reports. Each page must draw its heading without an exception or a script
error; a screenshot of each is saved among the test artefacts (var/screenshots/page-<who>-<page>.png)
so people can judge how each page looks on the demo set."""

from __future__ import annotations

import pytest
from app_server import running_app, save_screenshot
from test_browser import PASSWORD, nav_titles, new_page, pick_in_sidebar, sign_in

from hoth_geo import store
from hoth_geo.access import auth
from hoth_geo.intake import pipeline
from hoth_geo.ui.main import FILTERED_PAGES, PAGES, allowed_pages

pytestmark = pytest.mark.browser

OFFICER = "officer.pages"  # police and administrator: every page but the sharing form's
PARTNER = "partner.pages"
PRACTITIONER = "practitioner.pages"  # contributor: the sharing form and their own submissions
ACCOUNTS = {OFFICER: "admin,police", PARTNER: "partner", PRACTITIONER: "contributor"}
HEADINGS = {"about": "About hoth-geo"}  # a page whose heading is not its menu title
# The script run has ended and nothing on the page is still drawing (a spinner of a cached step).
IDLE_JS = """() => document.querySelector('[data-testid="stApp"][data-test-script-state="notRunning"]') !== null
    && document.querySelector('[data-testid="stSpinner"]') === null"""


@pytest.fixture(scope="module")
def app(chromium, tmp_path_factory):  # noqa: F811
    workdir = tmp_path_factory.mktemp("every_page_app")
    db_path = workdir / "app.sqlite"
    engine = store.connect(f"sqlite:///{db_path}")
    for username, role in ACCOUNTS.items():
        auth.add_user(engine, username, PASSWORD, role)
    pipeline.load_demo_data(engine)
    engine.dispose()
    with running_app(db_path, workdir) as running:
        yield running


def _expected_titles(username: str) -> list[str]:
    data_role, is_admin = auth.parse_roles(ACCOUNTS[username])
    user = auth.User(id=0, username=username, display_name=None, role=data_role, is_admin=is_admin)
    return [PAGES[key][1] for key in allowed_pages(user)]


def _sidebar(page):
    return page.locator('[data-testid="stSidebar"]')


def _open_from_sidebar(page, key: str) -> None:
    title = PAGES[key][1]
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text=title).first.click()
    page.get_by_role("heading", name=HEADINGS.get(key, title), exact=True).first.wait_for()
    page.wait_for_function(IDLE_JS)
    page.wait_for_timeout(1500)  # charts and maps draw after the script run ends


@pytest.mark.parametrize("username", list(ACCOUNTS))
def test_every_page_in_the_menu_opens_without_an_error(chromium, app, username):  # noqa: F811
    context, page, watch = new_page(chromium, app)
    try:
        sign_in(page, app, username)
        more = page.locator('[data-testid="stSidebarNavViewButton"]')
        if more.count():  # a long menu shows its first pages and "View more"
            more.click()
        titles = nav_titles(page)
        assert titles == _expected_titles(username)
        for title in titles:
            key = next(k for k, v in PAGES.items() if v[1] == title)
            _open_from_sidebar(page, key)
            exceptions = page.locator('[data-testid="stException"]').all_inner_texts()
            assert exceptions == [], (title, exceptions)
            # The report filters are in the sidebar only where they apply.
            shows_filters = _sidebar(page).get_by_role("heading", name="Filters").count() > 0
            assert shows_filters == (key in FILTERED_PAGES and username != PRACTITIONER), title
            save_screenshot(page, f"page-{username.split('.')[0]}-{key}")
        assert watch.errors == [] and watch.dialogs == []
        assert watch.foreign == []  # nothing fetched from outside the app on any page
    finally:
        context.close()


@pytest.mark.parametrize(("username", "away"), [(OFFICER, "review"), (PARTNER, "about")])
def test_filters_chosen_on_the_map_are_kept_while_visiting_a_page_without_them(
    chromium,  # noqa: F811
    app,
    username,
    away,
):
    context, page, _watch = new_page(chromium, app)
    try:
        sign_in(page, app, username)
        more = page.locator('[data-testid="stSidebarNavViewButton"]')
        if more.count():
            more.click()
        pick_in_sidebar(page, "Concern", "Child sexual exploitation")
        page.wait_for_function(IDLE_JS)
        _open_from_sidebar(page, away)
        _open_from_sidebar(page, away)  # a second run away from the filters keeps them too
        assert _sidebar(page).get_by_role("heading", name="Filters").count() == 0
        _open_from_sidebar(page, "map")
        concern = (
            _sidebar(page)
            .locator('[data-testid="stMultiSelect"]')
            .filter(has=page.get_by_text("Concern", exact=True))
        )
        assert "Child sexual exploitation" in concern.inner_text()
    finally:
        context.close()
