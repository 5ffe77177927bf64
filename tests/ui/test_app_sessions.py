"""The app's first-run form, sign-in sessions and forced sign-outs, in Streamlit's AppTest."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from apptest_support import TEST_PASSWORD, app_as, ensure_user

from hoth_geo import store
from hoth_geo.access import audit, auth, sessions

PASSPHRASE = "a long synthetic passphrase"


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """An empty deployment: no accounts, its own var/ folder."""
    url = f"sqlite:///{tmp_path / 'fresh.sqlite'}"
    monkeypatch.setenv("HOTH_GEO_DB", url)
    monkeypatch.setenv("HOTH_GEO_VAR_DIR", str(tmp_path / "var"))
    return {"url": url, "token_file": tmp_path / "var" / sessions.TOKEN_FILE_NAME}


def _fill_first_run(at, token: str | None, username: str = "chair.one", password: str = PASSPHRASE):
    at.text_input[0].input(username)
    at.selectbox[0].select_index(3)  # an admin-only account: no demo data to load
    at.text_input[2].input(password)
    at.text_input[3].input(password)
    if token is not None:
        at.text_input[4].input(token)
    return at.button[0].click().run()


def test_the_first_run_page_prints_the_setup_token_on_the_server(fresh, capfd):
    at = app_as(None).run()
    assert not at.exception, at.exception
    token = fresh["token_file"].read_text().strip()
    err = capfd.readouterr().err
    assert token in err and "setup token" in err
    page = " ".join(m.value for m in at.markdown)
    assert "setup token" in page and token not in page, "the page never shows the token"


@pytest.mark.parametrize("given", [None, "", "a-guessed-token-value"])
def test_first_run_without_the_right_token_creates_nobody(fresh, given):
    at = _fill_first_run(app_as(None).run(), given)
    assert not at.exception, at.exception
    assert at.error and "setup token is missing or wrong" in at.error[0].value
    engine = store.connect(fresh["url"])
    assert auth.first_run_needed(engine) and not auth.has_users(engine)
    assert at.title[0].value == "hoth-geo: first run"


def test_first_run_with_the_token_creates_the_admin_and_closes_the_form(fresh):
    at = app_as(None).run()
    token = fresh["token_file"].read_text().strip()
    at = _fill_first_run(at, token)
    assert not at.exception, at.exception
    engine = store.connect(fresh["url"])
    assert auth.get_user(engine, "chair.one").is_admin
    assert at.title[0].value == "Users", "signed in as the new admin"
    assert not fresh["token_file"].exists()
    # The token is spent: a second visitor gets the sign-in form, not another first run.
    again = app_as(None).run()
    assert again.title[0].value == "hoth-geo: sign in"


def test_the_first_run_form_explains_a_weak_password(fresh):
    at = app_as(None).run()
    token = fresh["token_file"].read_text().strip()
    at = _fill_first_run(at, token, password="password1234")
    assert at.error and "most commonly used passwords" in at.error[0].value
    assert auth.first_run_needed(store.connect(fresh["url"]))


@pytest.fixture
def db_url(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'app.sqlite'}"
    monkeypatch.setenv("HOTH_GEO_DB", url)
    return url


def _sessions(url):
    with store.connect(url).connect() as conn:
        return conn.execute(sa.select(sessions.auth_sessions).order_by(sessions.auth_sessions.c.id)).all()


def test_sign_in_opens_a_server_session_and_sign_out_ends_it(db_url):
    ensure_user(db_url, "admin", "keeper.test")
    at = app_as(None).run()
    at.text_input[0].input("keeper.test")
    at.text_input[1].input(TEST_PASSWORD)
    at.button[0].click().run()
    assert at.title[0].value == "Users"
    (row,) = _sessions(db_url)
    assert row.username == "keeper.test" and row.ended_at is None and row.method == "password"
    assert at.session_state["_session_token"] != row.token_hash
    assert sessions.digest(at.session_state["_session_token"]) == row.token_hash
    at.button(key="sign_out").click().run()
    assert at.title[0].value == "hoth-geo: sign in"
    assert _sessions(db_url)[0].end_reason == "user"


def test_an_idle_session_ends_on_the_server(db_url):
    user = ensure_user(db_url, "admin", "idle.test")
    at = app_as(user, "users").run()
    assert at.title[0].value == "Users"
    with store.connect(db_url).begin() as conn:
        conn.execute(
            sessions.auth_sessions.update().values(
                last_seen_at=sessions._now() - timedelta(minutes=auth.DEFAULT_SESSION_MINUTES, seconds=1)
            )
        )
    at.run()
    assert at.title[0].value == "hoth-geo: sign in"
    assert any("expired after a period of inactivity" in i.value for i in at.info)
    assert audit.load_audit(store.connect(db_url), event="session_expired")["actor"].tolist() == ["idle.test"]


def test_a_disabled_users_forced_sign_out_is_audited(db_url):
    user = ensure_user(db_url, "admin,analyst", "leaver.two")
    ensure_user(db_url, "admin", "second.admin")
    at = app_as(user, "users").run()
    auth.disable_user(store.connect(db_url), "leaver.two", actor="second.admin")
    at.run()
    assert at.title[0].value == "hoth-geo: sign in"
    assert any("administrator changed your account" in i.value for i in at.info)
    forced = audit.load_audit(store.connect(db_url), event="sign_out").iloc[-1]
    assert forced["target"] == "leaver.two" and forced["actor"] == "second.admin"
    assert json.loads(forced["details"])["reason"] == "account_disabled"


def test_a_role_change_ends_the_session(db_url):
    user = ensure_user(db_url, "admin", "changing.role")
    ensure_user(db_url, "admin", "other.admin")
    at = app_as(user, "users").run()
    auth.set_role(store.connect(db_url), "changing.role", "admin,partner", actor="other.admin")
    at.run()
    assert at.title[0].value == "hoth-geo: sign in"
    assert any("changed your roles" in i.value for i in at.info)


def test_the_users_page_refuses_a_weak_password_and_says_why(db_url):
    admin = ensure_user(db_url, "admin", "people.admin")
    at = app_as(admin, "users").run()
    at.text_input[0].input("new.partner")
    at.text_input[2].input("new.partner2024")
    at.button[0].click().run()
    assert at.error and "same as the username" in at.error[0].value
    at.text_input[0].input("new.partner")
    at.text_input[2].input("            ")
    at.button[0].click().run()
    assert at.error and "only spaces" in at.error[0].value
    assert auth.get_user(store.connect(db_url), "new.partner") is None


def test_an_administrator_sets_a_forgotten_password_on_the_users_page(db_url):
    admin = ensure_user(db_url, "admin", "desk.admin")
    forgetful = ensure_user(db_url, "analyst", "forgot.password")
    their_page = app_as(forgetful, "map").run()
    at = app_as(admin, "users").run()
    next(s for s in at.selectbox if s.label == "Account").set_value("forgot.password").run()
    box = next(t for t in at.text_input if t.label.startswith("New password for this account"))
    box.input("short")
    next(b for b in at.button if b.label == "Set password").click().run()
    assert at.error and "12" in at.error[0].value  # the policy's reason, and nothing changed
    engine = store.connect(db_url)
    assert auth.authenticate(engine, "forgot.password", TEST_PASSWORD) is not None
    box = next(t for t in at.text_input if t.label.startswith("New password for this account"))
    box.input("a synthetic new passphrase 7")
    next(b for b in at.button if b.label == "Set password").click().run()
    assert not at.error and any("open sessions have ended" in s.value for s in at.success)
    assert auth.authenticate(engine, "forgot.password", TEST_PASSWORD) is None
    assert auth.authenticate(engine, "forgot.password", "a synthetic new passphrase 7") is not None
    their_page.run()  # their open session ended with the change
    assert their_page.title[0].value == "hoth-geo: sign in"
    changed = audit.load_audit(engine, event="password_changed").iloc[-1]
    assert (changed["actor"], changed["target"]) == ("desk.admin", "forgot.password")


def test_a_user_changes_their_own_password_from_the_sidebar(db_url):
    user = ensure_user(db_url, "police", "changes.own")
    at = app_as(user, "map").run()
    boxes = {t.label: t for t in at.sidebar.text_input}
    boxes["Current password"].input(TEST_PASSWORD)
    boxes["New password (at least 12 characters)"].input("a synthetic fresh passphrase")
    boxes["New password again"].input("a synthetic fresh passphrase, mistyped")
    next(b for b in at.sidebar.button if b.label == "Change password").click().run()
    assert any("differ" in e.value for e in at.error)
    engine = store.connect(db_url)
    assert auth.authenticate(engine, "changes.own", TEST_PASSWORD) is not None  # nothing changed
    boxes = {t.label: t for t in at.sidebar.text_input}
    boxes["Current password"].input(TEST_PASSWORD)
    boxes["New password (at least 12 characters)"].input("a synthetic fresh passphrase")
    boxes["New password again"].input("a synthetic fresh passphrase")
    next(b for b in at.sidebar.button if b.label == "Change password").click().run()
    assert not at.exception
    assert at.title[0].value == "hoth-geo: sign in"  # every session ended, this one too, and says why
    assert any("password was changed" in i.value for i in at.info)
    assert auth.authenticate(engine, "changes.own", "a synthetic fresh passphrase") is not None
