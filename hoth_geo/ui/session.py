"""Sign-in, first run, session expiry and the signed-in user for the app.

The user lives in ``st.session_state["user"]`` (an ``auth.User``). Every rerun re-reads a local
account from the database, so disabling an account or changing its role takes effect at once, and
an idle session expires after ``auth.session_minutes()``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

from hoth_geo import auth
from hoth_geo.auth import User
from hoth_geo.ui import state

_USER = "user"
_LAST_SEEN = "last_seen"


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def current_user() -> User | None:
    """The signed-in user after expiry and account checks; None when nobody is signed in."""
    user: User | None = st.session_state.get(_USER)
    if user is None:
        return None
    engine = state.engine()
    last_seen = st.session_state.get(_LAST_SEEN)
    if last_seen is not None and auth.session_expired(last_seen, _now()):
        auth.sign_out(engine, user, reason="expired")
        _clear()
        st.session_state["signed_out_note"] = (
            "Your session expired after a period of inactivity. Sign in again."
        )
        return None
    if user.id is not None:  # a local account: pick up disabling and role changes at once
        fresh = auth.get_user(engine, user.username)
        if fresh is None or fresh.disabled:
            _clear()
            return None
        user = fresh
        st.session_state[_USER] = user
    st.session_state[_LAST_SEEN] = _now()
    return user


def _clear() -> None:
    for key in list(st.session_state.keys()):
        del st.session_state[key]


def sign_out() -> None:
    user = st.session_state.get(_USER)
    if user is not None:
        auth.sign_out(state.engine(), user)
    _clear()
    st.session_state["signed_out_note"] = "You have signed out."
    if _sso_configured() and getattr(st.user, "is_logged_in", False):
        st.logout()


def _sso_configured() -> bool:
    try:
        return "auth" in st.secrets
    except FileNotFoundError:
        return False
    except Exception:  # no secrets file at all: Streamlit raises its own error type
        return False


def _sso_user() -> User | None:
    """The user for a completed OpenID Connect sign-in (st.login), mapped to a role, or None."""
    if not _sso_configured() or not getattr(st.user, "is_logged_in", False):
        return None
    return auth.sso_sign_in(state.engine(), st.user.to_dict(), auth.load_sso_mapping(st.secrets))


def sign_in_page() -> None:
    """The only page an unauthenticated visitor can reach."""
    st.title("hoth-geo: sign in")
    note = st.session_state.pop("signed_out_note", None)
    if note:
        st.info(note)
    st.caption(
        "Information about children shared by partner agencies. Access is limited to named accounts "
        "and every sign-in is recorded."
    )
    if _sso_configured():
        if getattr(st.user, "is_logged_in", False):
            user = _sso_user()
            if user is None:
                st.error(
                    "Your organisation account has no role in hoth-geo. Ask an administrator for access."
                )
                if st.button("Sign out of the organisation account"):
                    st.logout()
                return
            _start(user)
            return
        st.button("Sign in with your organisation account", on_click=st.login, type="primary")
        st.divider()
    with st.form("sign_in"):
        username = st.text_input("Username", key="sign_in_username")
        password = st.text_input("Password", type="password", key="sign_in_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        try:
            user = auth.authenticate(state.engine(), username, password)
        except ValueError:
            user = None
        if user is None:
            st.error("Sign-in failed: check the username and password, or ask an administrator.")
        else:
            _start(user)


def first_run_page() -> None:
    """Shown only while no admin account exists: create one (there is no default password)."""
    st.title("hoth-geo: first run")
    st.markdown(
        "No administrator account exists yet. Create one now; it can also hold a data role so you can "
        "use the maps straight away. Passwords need at least 12 characters."
    )
    with st.form("first_run"):
        username = st.text_input("Administrator username")
        display_name = st.text_input("Display name (optional)")
        data_role = st.selectbox(
            "Data role for this account",
            ["analyst", "police", "partner", None],
            format_func=lambda r: r or "none (accounts and audit only)",
        )
        password = st.text_input("Password", type="password")
        again = st.text_input("Password again", type="password")
        submitted = st.form_submit_button("Create administrator", type="primary")
    if submitted:
        if password != again:
            st.error("The two passwords differ.")
            return
        try:
            auth.create_first_admin(
                state.engine(), username, password, data_role=data_role, display_name=display_name or None
            )
        except ValueError as exc:
            st.error(str(exc))
            return
        user = auth.authenticate(state.engine(), username, password)
        if user is not None:
            _start(user)


def _start(user: User) -> None:
    st.session_state[_USER] = user
    st.session_state[_LAST_SEEN] = _now()
    st.rerun()


def sidebar_account(user: User) -> None:
    st.sidebar.caption(f"Signed in as **{user.display_name or user.username}** ({user.roles})")
    st.sidebar.button("Sign out", on_click=sign_out, key="sign_out")
