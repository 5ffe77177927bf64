"""The Users page in a real browser: the confirmation of an action is still on the page after the rerun
that shows the new account or role (a message drawn before a rerun is wiped by it)."""

from __future__ import annotations

import pytest
from app_server import running_app, save_screenshot
from test_browser import (
    PASSWORD,
    go_in_session,
    new_page,
    sign_in,
)

from hoth_geo import store
from hoth_geo.access import auth

pytestmark = pytest.mark.browser

ADMIN = "admin.users"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("browser_users")
    db_path = workdir / "app.sqlite"
    engine = store.connect(f"sqlite:///{db_path}")
    auth.add_user(engine, ADMIN, PASSWORD, "admin")
    engine.dispose()
    with running_app(db_path, workdir) as running:
        yield {**running, "db": f"sqlite:///{db_path}"}


def _accounts(app) -> dict[str, str]:
    engine = store.connect(app["db"])
    try:
        return {u.username: u.roles for u in auth.list_users(engine)}
    finally:
        engine.dispose()


def _choose_account(page, name: str) -> None:
    """Pick ``name`` in the 'Account' box; tried again if a rerun redraws the box under the click."""
    chosen = "() => [...document.querySelectorAll('input[aria-label=Account]')].some(i => i.value === %r)"
    for attempt in range(5):
        try:
            page.get_by_role("combobox", name="Account").click(timeout=10_000)
            if not page.get_by_role("listbox").count():
                page.keyboard.press("ArrowDown")  # the list opens on a click or, once focused, on a key
            page.get_by_role("option", name=name).click(timeout=10_000)
            page.wait_for_function(chosen % name, timeout=10_000)
            return
        except Exception:
            if attempt == 4:
                raise
            page.keyboard.press("Escape")


def test_the_confirmation_of_a_new_account_is_visible_after_the_rerun(chromium, app):  # noqa: F811
    context, page, watch = new_page(chromium, app)
    try:
        sign_in(page, app, ADMIN)
        go_in_session(page, "users")
        page.get_by_role("heading", name="Users").wait_for()
        page.get_by_text("Add an account").click()
        form = page.locator('[data-testid="stForm"]')
        form.get_by_label("Username").fill("new.partner")
        form.get_by_label("Display name").fill("New Partner (synthetic)")
        form.get_by_label("Initial password (at least 12 characters)").fill("a long enough passphrase 7")
        form.get_by_role("button", name="Add account").click()
        done = page.locator('[data-testid="stAlert"]').filter(has_text="Account new.partner added")
        done.wait_for()
        # The account is in the table the rerun drew, and the confirmation is still there with it.
        page.locator('[data-testid="stDataFrame"]').filter(has_text="new.partner").wait_for()
        page.wait_for_timeout(1500)  # any further rerun would have wiped it by now
        assert done.is_visible()
        assert "new.partner" in _accounts(app)
        save_screenshot(page, "users-account-added")
        # The next action replaces the message with its own, once.
        page.get_by_text("Change an account").click()
        _choose_account(page, "new.partner")
        page.get_by_role("button", name="Disable").click()
        page.locator('[data-testid="stAlert"]').filter(has_text="Account new.partner disabled.").wait_for()
        assert done.count() == 0
        engine = store.connect(app["db"])
        try:
            assert {u.username: u.disabled for u in auth.list_users(engine)} == {
                ADMIN: False,
                "new.partner": True,
            }
        finally:
            engine.dispose()
        assert watch.errors == []
    finally:
        context.close()


def test_a_refused_account_says_why_and_adds_nothing(chromium, app):  # noqa: F811
    context, page, _watch = new_page(chromium, app)
    try:
        sign_in(page, app, ADMIN)
        go_in_session(page, "users")
        page.get_by_role("heading", name="Users").wait_for()
        before = _accounts(app)
        page.get_by_text("Add an account").click()
        form = page.locator('[data-testid="stForm"]')
        form.get_by_label("Username").fill("short.password")
        form.get_by_label("Initial password (at least 12 characters)").fill("short")
        form.get_by_role("button", name="Add account").click()
        page.locator('[data-testid="stAlert"]').filter(has_text="12").wait_for()
        assert page.get_by_text("added").count() == 0
        assert _accounts(app) == before
    finally:
        context.close()
