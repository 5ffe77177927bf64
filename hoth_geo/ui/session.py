"""Sign-in, first run, sessions that survive a refresh, and the signed-in user for the app.

A sign-in opens a server-side session (``hoth_geo.access.sessions``) whose random token the browser keeps in
the ``hoth_geo_session`` cookie (SameSite=Strict; Secure over HTTPS). A refresh or a new tab starts a
new Streamlit session, which finds the sign-in again through that cookie (``st.context.cookies``).
Every rerun checks the session in the database, so disabling an account, changing its roles, signing
out elsewhere or 30 idle minutes end it; a background check (a fragment that reruns on a timer
without counting as activity) notices the end even if nobody clicks.

Streamlit can only read cookies, so the cookie is written by a small script in the page; a cookie
written by a script cannot be HttpOnly (see docs/access-and-audit.md for what that means).
"""

from __future__ import annotations

import json
import time

import streamlit as st

from hoth_geo import settings
from hoth_geo.access import auth, sessions
from hoth_geo.access.auth import User
from hoth_geo.errors import InvalidInput
from hoth_geo.ui import state
from hoth_geo.ui.text import md_escape

__all__ = [
    "CHECK_SECONDS_ENV",
    "check_seconds",
    "client",
    "current_user",
    "sign_out",
    "sign_in_page",
    "first_run_page",
    "signed_out_navigation",
    "unavailable_pages",
    "sidebar_account",
]

_USER = "user"
_TOKEN = "_session_token"  # this browser's session token: kept in server memory, sent only as a cookie
_NOTE = "signed_out_note"
_FORGET_COOKIE = "_forget_cookie"
CHECK_SECONDS_ENV = "HOTH_GEO_SESSION_CHECK_SECONDS"

_END_NOTES = {
    "expired": "Your session expired after a period of inactivity. Sign in again.",
    "max_age": f"Your session reached its {sessions.SESSION_MAX_HOURS}-hour limit. Sign in again.",
    "account_disabled": "Your session was ended because an administrator changed your account.",
    "role_changed": "Your session was ended because an administrator changed your roles. Sign in again.",
    "password_changed": "Your session was ended because your password was changed. Sign in again.",
    "user": "You have signed out.",
    "replaced": "You signed in again in this browser; this page's session has ended.",
}
_announced: set[str] = set()  # setup tokens already printed by this server process
_sso_ledger = auth.SsoTokenLedger()  # ID tokens that have opened a session in this server process
_SSO_REFUSED = "_sso_refused"
_LEAVING = "_leaving_for_provider_sign_out"


def check_seconds() -> int:
    """How often an open page checks its session without a click ($HOTH_GEO_SESSION_CHECK_SECONDS, 30)."""
    return settings.env_int(CHECK_SECONDS_ENV, 30)


def client() -> str:
    """The address sign-in throttling counts this visitor by (see ``auth.client_address``)."""
    return auth.client_address(st.context.ip_address, st.context.headers.get("X-Forwarded-For"))


def _cookie_token() -> str | None:
    token = st.context.cookies.get(sessions.COOKIE_NAME)
    return token if isinstance(token, str) and token else None


def _ended(reason: str | None) -> None:
    _clear()
    st.session_state[_FORGET_COOKIE] = True
    note = _END_NOTES.get(reason or "")
    if note:
        st.session_state[_NOTE] = note


def current_user() -> User | None:
    """The signed-in user after the session checks; None when nobody is signed in.

    A new Streamlit session (a refresh, a new tab) resumes the session named by the browser's cookie.
    """
    if st.session_state.get(_LEAVING):
        # Signed out and on the way to the provider's sign-out: a rerun before the browser leaves must
        # not look the ended session up again, or it would delete the cookie that lets the page the
        # browser comes back to say "You have signed out."
        return None
    engine = state.engine()
    token = st.session_state.get(_TOKEN)
    if token is None:
        cookie = _cookie_token()
        # A cookie this Streamlit session already found invalid is not looked up on every rerun.
        if cookie is None or st.session_state.get("_refused_cookie") == sessions.digest(cookie):
            st.session_state.pop(_USER, None)
            return None
        resumed = auth.resume_session(engine, cookie)
        if resumed.user is None:
            _ended(resumed.reason)
            st.session_state["_refused_cookie"] = sessions.digest(cookie)
            return None
        st.session_state[_TOKEN] = cookie
        st.session_state[_USER] = resumed.user
        return resumed.user
    resumed = auth.resume_session(engine, token)
    if resumed.user is None:
        _ended(resumed.reason)
        return None
    st.session_state[_USER] = resumed.user
    return resumed.user


def _clear() -> None:
    for key in list(st.session_state.keys()):
        del st.session_state[key]


def sign_out() -> None:
    sessions.end(state.engine(), st.session_state.get(_TOKEN), "user")
    _clear()
    if _sso_configured() and getattr(st.user, "is_logged_in", False):
        # The browser leaves for the provider's sign-out and comes back as a new Streamlit session.
        # The ended session's cookie stays until then, so that session can say "You have signed out."
        # (and delete it): a note set here would be lost with this session.
        st.session_state[_LEAVING] = True
        st.logout()
        return
    st.session_state[_NOTE] = _END_NOTES["user"]
    st.session_state[_FORGET_COOKIE] = True


def _sso_providers() -> list[str | None]:
    """The OpenID Connect providers configured in the secrets' [auth] section (see
    ``auth.sso_providers``); empty when single sign-on is not set up."""
    try:
        section = st.secrets.get("auth")
    except FileNotFoundError:
        return []
    except Exception:  # no secrets file at all: Streamlit raises its own error type
        return []
    return auth.sso_providers(section) if section is not None else []


def _sso_configured() -> bool:
    return bool(_sso_providers())


def _sso_identity() -> dict | None:
    """The claims of an OpenID Connect sign-in (st.login) that may still open a session, else None.

    Streamlit's identity cookie outlives hoth-geo's session by weeks; only a fresh ID token, used
    once, signs in (``auth.SsoTokenLedger``), so an ended session never restarts by itself.
    """
    if not _sso_configured() or not getattr(st.user, "is_logged_in", False):
        return None
    claims = st.user.to_dict()
    return claims if _sso_ledger.usable(claims, time.time()) else None


def _sso_sign_out() -> None:
    st.session_state.pop(_SSO_REFUSED, None)
    st.logout()


def _forget_cookie_if_needed() -> None:
    # After a sign-out or a refused cookie, remove the browser's copy (the server has ended it anyway).
    if st.session_state.get(_LEAVING):
        return
    if st.session_state.pop(_FORGET_COOKIE, False) or _cookie_token() is not None:
        _cookie_script(None)


def sign_in_page() -> None:
    """The only page an unauthenticated visitor can reach."""
    st.title("hoth-geo: sign in")
    _forget_cookie_if_needed()
    # Kept, not popped: the sign-in page reruns on its own (the cookie script, the session check), and
    # a note shown for one run would vanish before it is read.
    note = st.session_state.get(_NOTE)
    if note:
        st.info(note)
    st.caption(
        "Information about children shared by partner agencies. Access is limited to named accounts "
        "and every sign-in is recorded."
    )
    if _sso_configured():
        claims = _sso_identity()
        if claims is not None and _sso_ledger.take(claims, time.time()):
            user = auth.sso_sign_in(state.engine(), claims, auth.load_sso_mapping(st.secrets))
            if user is not None:
                _start(user, method="sso")
                return
            st.session_state[_SSO_REFUSED] = True
        if st.session_state.get(_SSO_REFUSED):
            # Shown for the rest of this page's life; the refusal was audited once, when it happened.
            st.error(
                "Your organisation account has no role in hoth-geo, so it shows no data. "
                "Ask an administrator for access."
            )
            if getattr(st.user, "is_logged_in", False):
                st.button("Sign out of the organisation account", on_click=_sso_sign_out)
            return
        for provider in _sso_providers():
            # st.login() alone only finds a provider written directly under [auth]; a named section
            # such as [auth.microsoft] (the documented layout) must be named here.
            label = "Sign in with your organisation account"
            st.button(
                label if provider is None or len(_sso_providers()) == 1 else f"{label} ({provider})",
                on_click=st.login,
                args=(provider,),
                type="primary",
                key=f"sso_{provider or 'default'}",
            )
        st.divider()
    with st.form("sign_in"):
        username = st.text_input("Username", key="sign_in_username")
        password = st.text_input("Password", type="password", key="sign_in_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        address = client()
        try:
            user = auth.authenticate(state.engine(), username, password, client=address)
        except InvalidInput:
            user = None
        if user is None:
            st.error("Sign-in failed: check the username and password, or ask an administrator.")
        else:
            _start(user)


def _announce_setup_token() -> None:
    token = sessions.ensure_setup_token(state.engine())
    if token is not None and sessions.digest(token) not in _announced:
        sessions.announce_setup_token(token)
        _announced.add(sessions.digest(token))


def first_run_page() -> None:
    """Shown only while no admin account exists: create one with the setup token printed on the server."""
    st.title("hoth-geo: first run")
    _forget_cookie_if_needed()
    _announce_setup_token()
    st.markdown(
        "No administrator account exists yet. Create one now; it can also hold a data role so you can "
        "use the maps straight away.\n\n"
        "To prove you run this server, enter the **one-time setup token** that the server printed on "
        "its console and in its log when it started (it is also in the file "
        f"`{sessions.token_file().name}` in the server's `var` folder). Whoever can only reach this page "
        "cannot create the administrator without it."
    )
    with st.form("first_run"):
        username = st.text_input("Administrator username")
        display_name = st.text_input("Display name (optional)")
        data_role = st.selectbox(
            "Data role for this account",
            ["analyst", "police", "partner", None],
            format_func=lambda r: r or "none (accounts and audit only)",
        )
        password = st.text_input(
            "Password",
            type="password",
            help="At least 12 characters; not a common password, not your username, not a run like "
            "aaaa or 1234. A phrase of three or four unrelated words works well.",
        )
        again = st.text_input("Password again", type="password")
        token = st.text_input("Setup token (from the server's console or log)", type="password")
        submitted = st.form_submit_button("Create administrator", type="primary")
    if submitted:
        if password != again:
            st.error("The two passwords differ.")
            return
        try:
            auth.create_first_admin(
                state.engine(),
                username,
                password,
                setup_token=token,
                data_role=data_role,
                display_name=display_name or None,
            )
        except InvalidInput as exc:
            st.error(md_escape(exc))  # quotes what was typed
            return
        user = auth.authenticate(state.engine(), username, password, client=client())
        if user is not None:
            _start(user)


def signed_out_navigation(render, title: str, url_path: str, page_keys) -> None:
    """Run ``render`` (sign-in or first run) whatever app address the visitor opened.

    Each app page's address is registered as a hidden alias of this page, so a refresh or a bookmark
    of /map shows the sign-in form (and, once signed in, the map) instead of a "Page not found" pop-up.
    """
    pages = [st.Page(render, title=title, url_path=url_path, default=True)]
    pages += [
        st.Page(render, title=title, url_path=key, visibility="hidden")
        for key in page_keys
        if key != url_path
    ]
    st.navigation(pages, position="hidden").run()


def unavailable_pages(page_keys, fallback) -> list:
    """Hidden stand-ins for the app pages this user's role does not have.

    Opening one by its address (a bookmark, a refresh after a role change, a shared link) goes to
    ``fallback`` (the user's start page) instead of a "Page not found" pop-up; the page itself is never
    run.
    """

    def go_to_start() -> None:
        st.switch_page(fallback)

    return [
        st.Page(go_to_start, title=fallback.title, url_path=key, visibility="hidden") for key in page_keys
    ]


def _start(user: User, *, method: str = "password") -> None:
    """Begin a signed-in session with a fresh token (a token the browser carried is ended first)."""
    token = sessions.start(state.engine(), user, method=method, replaces=_cookie_token())
    st.session_state.pop("_refused_cookie", None)
    st.session_state[_TOKEN] = token
    st.session_state[_USER] = user
    st.rerun()


def _cookie_script(token: str | None) -> None:
    """Write (or, with None, delete) the session cookie from the page."""
    name = sessions.COOKIE_NAME
    value = json.dumps(f"{name}={token}" if token else f"{name}=")
    extra = "" if token else "; Max-Age=0"
    # Written from the sidebar of a signed-in page; deleted from the sign-in page, which has no sidebar.
    (st.sidebar if token else st).html(
        "<script>(function(){var s=location.protocol==='https:'?'; Secure':'';"
        f"document.cookie={value}+'; Path=/; SameSite=Strict{extra}'+s;}})();</script>",
        unsafe_allow_javascript=True,
    )


@st.fragment(run_every=check_seconds())
def _watch_session() -> None:
    # Runs on a timer without counting as activity: ends the page when the session has ended
    # (idle, signed out elsewhere, account disabled or changed) even if the user never clicks.
    token = st.session_state.get(_TOKEN)
    if token is None:
        return
    resumed = auth.resume_session(state.engine(), token, touch=False)
    if resumed.user is None:
        _ended(resumed.reason)
        st.rerun(scope="app")


def sidebar_account(user: User) -> None:
    token = st.session_state.get(_TOKEN)
    if token and _cookie_token() != token:
        _cookie_script(token)
    st.sidebar.caption(f"Signed in as **{md_escape(user.display_name or user.username)}** ({user.roles})")
    st.sidebar.button("Sign out", on_click=sign_out, key="sign_out")
    if user.id is not None:  # a local account (a single sign-on password is the organisation's)
        _change_password_form(user)
    with st.sidebar:
        _watch_session()


def _change_password_form(user: User) -> None:
    with st.sidebar.expander("Change my password"), st.form("change_password", clear_on_submit=True):
        current = st.text_input("Current password", type="password")
        new = st.text_input("New password (at least 12 characters)", type="password")
        again = st.text_input("New password again", type="password")
        if not st.form_submit_button("Change password"):
            return
        if new != again:
            st.error("The two new passwords differ; nothing was changed.")
            return
        try:
            auth.change_own_password(state.engine(), user.username, current, new, client=client())
        except InvalidInput as exc:
            st.error(md_escape(exc))
            return
    # Every session of the account has ended, this one too: the rerun shows the sign-in form and why.
    st.rerun(scope="app")
