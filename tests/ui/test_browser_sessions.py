"""Sign-in sessions in headless Chromium: a refresh, a new tab, sign-out, idle expiry and forced ends.

Its own Streamlit server (the helpers come from test_browser): admin accounts only, so no data set is
loaded, and the session check runs every two seconds so an idle expiry is seen without a click.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from app_server import running_app
from test_browser import (
    PASSWORD,
    expect_sign_in_form,
    new_page,
    sign_in,
)

from hoth_geo import store
from hoth_geo.access import audit, auth, sessions

pytestmark = pytest.mark.browser

KEEPER, LEAVER, IDLER, CHANGER = "keeper.e2e", "leaver.e2e", "idler.e2e", "changer.e2e"
NOT_FOUND = "Page not found"


def _env(workdir, extra: dict) -> dict:
    # Each server keeps its setup token and keys in its own folder.
    return {"HOTH_GEO_VAR_DIR": str(workdir / "var"), **extra}


@pytest.fixture(scope="module")
def app(chromium, tmp_path_factory):  # noqa: F811
    workdir = tmp_path_factory.mktemp("browser_sessions")
    db_url = f"sqlite:///{workdir / 'app.sqlite'}"
    engine = store.connect(db_url)
    for name in ("admin.e2e", KEEPER, LEAVER, IDLER, CHANGER):
        auth.add_user(engine, name, PASSWORD, "admin")
    engine.dispose()
    with running_app(db_url, workdir, _env(workdir, {"HOTH_GEO_SESSION_CHECK_SECONDS": "2"})) as running:
        yield {**running, "db": db_url}


def _signed_in_as(page, title: str = "Users") -> None:
    page.get_by_role("button", name="Sign out").wait_for()
    page.get_by_role("heading", name=title).first.wait_for()
    assert page.get_by_text(NOT_FOUND).count() == 0


def _session_rows(db_url: str, username: str):
    with store.connect(db_url).connect() as conn:
        return conn.execute(
            sa.select(sessions.auth_sessions)
            .where(sessions.auth_sessions.c.username == username)
            .order_by(sessions.auth_sessions.c.id)
        ).all()


def test_sign_in_survives_a_refresh_and_a_new_tab_and_sign_out_ends_it(chromium, app):  # noqa: F811
    context, page, watch = new_page(chromium, app)
    sign_in(page, app, KEEPER)
    _signed_in_as(page)
    cookie = next(c for c in context.cookies() if c["name"] == sessions.COOKIE_NAME)
    assert cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    (row,) = _session_rows(app["db"], KEEPER)
    assert row.token_hash == sessions.digest(cookie["value"]) != cookie["value"]

    page.reload()
    _signed_in_as(page)
    page.goto(f"{app['url']}/audit")  # a bookmark or a typed address: the page itself, signed in
    _signed_in_as(page, "Audit log")
    page.reload()
    _signed_in_as(page, "Audit log")

    tab = context.new_page()
    tab.set_default_timeout(page_timeout(page))
    tab.goto(app["url"] + "/")
    _signed_in_as(tab)
    assert len(_session_rows(app["db"], KEEPER)) == 1, "the new tab shares the sign-in"

    tab.get_by_role("button", name="Sign out").click()
    expect_sign_in_form(tab)
    tab.get_by_text("You have signed out.").wait_for()
    tab.reload()
    expect_sign_in_form(tab)
    # The first tab notices without a click, and a refresh does not bring the session back.
    expect_sign_in_form(page)
    page.reload()
    expect_sign_in_form(page)
    assert all(c["name"] != sessions.COOKIE_NAME for c in context.cookies())
    assert _session_rows(app["db"], KEEPER)[0].end_reason == "user"
    assert watch.dialogs == []
    # Loading a deep address makes Streamlit probe <address>/_stcore/... for its base path (404s in
    # the console, by design); no script error may occur.
    assert [e for e in watch.errors if e.startswith("pageerror")] == []
    context.close()


def page_timeout(page) -> int:
    return 120_000


@pytest.mark.parametrize("path", ["map", "users", "audit"])
def test_a_refresh_when_signed_out_shows_the_sign_in_form_without_a_not_found_pop_up(chromium, app, path):  # noqa: F811
    context, page, watch = new_page(chromium, app)
    page.goto(f"{app['url']}/{path}")
    expect_sign_in_form(page)
    page.reload()
    expect_sign_in_form(page)
    page.wait_for_timeout(1500)  # the pop-up, if any, arrives after the form
    assert page.get_by_text(NOT_FOUND).count() == 0
    assert page.get_by_role("dialog").count() == 0
    # Signing in there lands on the page that was asked for.
    page.get_by_role("textbox", name="Username").fill("admin.e2e")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expected = {"users": "Users", "audit": "Audit log"}.get(path, "Users")  # admins have no map
    _signed_in_as(page, expected)
    assert watch.dialogs == []
    context.close()


def test_an_idle_session_ends_on_screen_without_a_click(chromium, app):  # noqa: F811
    context, page, _watch = new_page(chromium, app)
    sign_in(page, app, IDLER)
    _signed_in_as(page)
    idle = timedelta(minutes=auth.DEFAULT_SESSION_MINUTES, seconds=5)
    with store.connect(app["db"]).begin() as conn:  # as if the user had walked away half an hour ago
        conn.execute(
            sessions.auth_sessions.update()
            .where(sessions.auth_sessions.c.username == IDLER)
            .values(last_seen_at=sessions._now() - idle)
        )
    expect_sign_in_form(page)  # no click, no reload: the page's background check ends it
    page.get_by_text("expired after a period of inactivity").wait_for()
    page.reload()
    expect_sign_in_form(page)
    assert audit.load_audit(store.connect(app["db"]), event="session_expired")["actor"].tolist() == [IDLER]
    context.close()


def test_disabling_an_account_signs_it_out_at_once_and_is_audited(chromium, app):  # noqa: F811
    context, page, _watch = new_page(chromium, app)
    sign_in(page, app, LEAVER)
    _signed_in_as(page)
    auth.disable_user(store.connect(app["db"]), LEAVER, actor="admin.e2e")
    expect_sign_in_form(page)
    page.get_by_text("an administrator changed your account").wait_for()
    forced = audit.load_audit(store.connect(app["db"]), event="sign_out")
    forced = forced[forced["target"] == LEAVER]
    assert [json.loads(d)["reason"] for d in forced["details"]] == ["account_disabled"]
    assert forced["actor"].tolist() == ["admin.e2e"]
    context.close()


def test_a_role_change_ends_the_session_and_sign_in_gives_a_new_token(chromium, app):  # noqa: F811
    context, page, _watch = new_page(chromium, app)
    sign_in(page, app, CHANGER)
    _signed_in_as(page)
    first = next(c["value"] for c in context.cookies() if c["name"] == sessions.COOKIE_NAME)
    auth.set_role(store.connect(app["db"]), CHANGER, "admin,partner", actor="admin.e2e")
    expect_sign_in_form(page)
    page.get_by_text("changed your roles").wait_for()
    sign_in(page, app, CHANGER)
    page.get_by_role("heading", name="Hotspot map").first.wait_for()
    second = next(c["value"] for c in context.cookies() if c["name"] == sessions.COOKIE_NAME)
    assert second != first
    assert [r.end_reason for r in _session_rows(app["db"], CHANGER)] == ["role_changed", None]
    context.close()


@pytest.fixture(scope="module")
def empty_app(chromium, tmp_path_factory):  # noqa: F811
    """A server on an empty database: no accounts at all."""
    workdir = tmp_path_factory.mktemp("browser_first_run")
    db_url = f"sqlite:///{workdir / 'empty.sqlite'}"
    with running_app(db_url, workdir, _env(workdir, {})) as running:
        yield {**running, "db": db_url}


def _first_run_form(page, token: str | None) -> None:
    page.get_by_role("textbox", name="Administrator username").fill("chair.e2e")
    page.get_by_role("combobox", name="Data role for this account").click()
    page.get_by_role("option", name="none (accounts and audit only)").click()
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again", exact=True).fill(PASSWORD)
    page.get_by_label("Setup token (from the server's console or log)").fill(token or "")
    page.get_by_role("button", name="Create administrator").click()


def test_the_first_administrator_needs_the_token_the_server_printed(chromium, empty_app):  # noqa: F811
    context, page, watch = new_page(chromium, empty_app)
    page.goto(empty_app["url"] + "/")
    page.get_by_role("heading", name="hoth-geo: first run").wait_for()
    deadline = time.monotonic() + 30
    while "setup token on" not in empty_app["log"].read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    log = empty_app["log"].read_text()
    token = log.split("setup token on the first-run page:", 1)[1].split()[0]
    assert token not in page.inner_text("body"), "the page never shows the token"

    for attempt in (None, "a-guess-at-the-token"):
        _first_run_form(page, attempt)
        page.get_by_text("setup token is missing or wrong").wait_for()
        assert auth.first_run_needed(store.connect(empty_app["db"]))
        page.reload()
        page.get_by_role("heading", name="hoth-geo: first run").wait_for()

    _first_run_form(page, token)
    _signed_in_as(page)
    engine = store.connect(empty_app["db"])
    assert auth.get_user(engine, "chair.e2e").is_admin and not auth.first_run_needed(engine)
    # The setup is closed for everyone else: a new visitor gets the sign-in form.
    other = chromium.new_context()
    visitor = other.new_page()
    visitor.set_default_timeout(page_timeout(visitor))
    visitor.goto(empty_app["url"] + "/first-run")
    expect_sign_in_form(visitor)
    other.close()
    assert watch.dialogs == []
    context.close()
