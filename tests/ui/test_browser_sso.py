"""Single sign-on end to end: a real OpenID Connect provider (tests/oidc/provider.js, the certified
``oidc-provider`` package) and the running app in headless Chromium.

The app is configured as docs/access-and-audit.md tells an Entra ID deployment to configure it (an
``[auth.microsoft]`` provider section and an ``[auth.hoth_geo_roles]`` mapping in a secrets file),
only pointing at the local provider. Each test signs in through the provider's own form with one of
the synthetic accounts of tests/oidc/accounts.json.
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import timedelta

import pytest
from app_server import free_port, running_app, save_screenshot
from oidc_provider import ACCOUNTS, account, running_provider
from test_browser import (
    ANALYST,
    MAP_IFRAME,
    PARTNER_PAGES,
    PASSWORD,
    expect_sign_in_form,
    hex_count,
    nav_titles,
    new_page,
)

from hoth_geo import store
from hoth_geo.access import audit, auth, sessions
from hoth_geo.intake import pipeline

pytestmark = pytest.mark.browser

SSO_ANALYST = "analyst.sso@example.org"
SSO_PARTNER = "partner.sso@example.org"
SSO_NO_ROLE = "visitor.sso@example.org"
ORG_BUTTON = "Sign in with your organisation account"


def _secrets(app_url: str, provider: dict, client_id: str, client_secret: str) -> str:
    partner_group = account(SSO_PARTNER)["claims"]["groups"][0]
    return f"""
[auth]
redirect_uri = "{app_url}/oauth2callback"
cookie_secret = "{secrets.token_urlsafe(48)}"

[auth.microsoft]
client_id = "{client_id}"
client_secret = "{client_secret}"
server_metadata_url = "{provider["metadata_url"]}"

[auth.hoth_geo_roles]
tenant_id = "{ACCOUNTS["tenant_id"]}"

[auth.hoth_geo_roles.app_roles]
"HothGeo.Police" = "police"
"HothGeo.Analyst" = "analyst"
"HothGeo.Partner" = "partner"
"HothGeo.Admin" = "admin"

[auth.hoth_geo_roles.groups]
"{partner_group}" = "partner"
"""


@pytest.fixture(scope="module")
def app(chromium, tmp_path_factory):  # noqa: F811 - this module's own app: with single sign-on
    workdir = tmp_path_factory.mktemp("sso_app")
    db_path = workdir / "app.sqlite"
    engine = store.connect(f"sqlite:///{db_path}")
    auth.add_user(engine, "admin.sso", PASSWORD, "admin")
    auth.add_user(engine, ANALYST, PASSWORD, "analyst")
    pipeline.load_demo_data(engine)
    engine.dispose()
    port = free_port()
    app_url = f"http://127.0.0.1:{port}"
    client_id, client_secret = "hoth-geo-test", secrets.token_urlsafe(32)
    with running_provider(workdir, client_id, client_secret, f"{app_url}/oauth2callback") as provider:
        secrets_file = workdir / "secrets.toml"
        secrets_file.write_text(_secrets(app_url, provider, client_id, client_secret), encoding="utf-8")
        env = {"STREAMLIT_SECRETS_FILES": str(secrets_file)}
        with running_app(db_path, workdir, env, port=port) as running:
            yield {**running, "db": f"sqlite:///{db_path}", "provider": provider}


def sso_sign_in(page, app, username: str) -> None:
    """Open the app, choose the organisation sign-in and sign in on the provider's own form."""
    page.goto(app["url"] + "/")
    page.get_by_role("button", name=ORG_BUTTON).click()
    page.wait_for_url(f"{app['provider']['issuer']}/interaction/**")
    page.get_by_role("textbox", name="Username").fill(username)
    page.get_by_label("Password").fill(account(username)["password"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{app['url']}/**")


def signed_in_as(page, username: str, roles: str) -> None:
    page.get_by_role("button", name="Sign out").wait_for()
    caption = page.locator('[data-testid="stSidebar"]').get_by_text("Signed in as")
    assert f"({roles})" in caption.inner_text()
    assert account(username)["claims"]["name"] in caption.inner_text()


def streamlit_identity_cookies(context) -> list[str]:
    return [c["name"] for c in context.cookies() if c["name"].startswith("_streamlit_user")]


def audit_rows(app, event: str, username: str) -> list[dict]:
    frame = audit.load_audit(store.connect(app["db"]), event=event)
    frame = frame[frame["actor"] == username]
    return [json.loads(d) for d in frame["details"]]


def sso_sessions(app, username: str) -> list:
    with store.connect(app["db"]).connect() as conn:
        return conn.execute(
            sessions.auth_sessions.select()
            .where(sessions.auth_sessions.c.username == username)
            .order_by(sessions.auth_sessions.c.id)
        ).all()


def test_an_analyst_signs_in_through_the_provider_then_signs_out(chromium, app):  # noqa: F811
    context, page, watch = new_page(chromium, app)
    sso_sign_in(page, app, SSO_ANALYST)
    # The "roles" claim's HothGeo.Analyst app role maps to analyst: the map with every hexagon.
    signed_in_as(page, SSO_ANALYST, "analyst")
    page.get_by_role("heading", name="Hotspot map").wait_for()
    assert hex_count(page) > 0
    assert "Review" in nav_titles(page)
    save_screenshot(page, "sso-analyst-signed-in")
    # Audited as a single sign-on with the mapped role; one hoth-geo session of method "sso".
    assert audit_rows(app, "sign_in", SSO_ANALYST) == [{"method": "sso", "role": "analyst"}]
    [row] = sso_sessions(app, SSO_ANALYST)
    assert (row.method, row.roles, row.ended_at) == ("sso", "analyst", None)

    page.reload()  # a refresh continues the session (hoth-geo's own cookie), with no new sign-in
    signed_in_as(page, SSO_ANALYST, "analyst")
    assert len(audit_rows(app, "sign_in", SSO_ANALYST)) == 1

    visited: list[str] = []
    page.on("framenavigated", lambda frame: frame == page.main_frame and visited.append(frame.url))
    page.get_by_role("button", name="Sign out").click()
    # Out of hoth-geo and of the provider (RP-initiated logout), then back to the sign-in form.
    end_session = f"{app['provider']['issuer']}/session/end"
    deadline = time.monotonic() + 60
    while not (any(u.startswith(end_session) for u in visited) and visited[-1].startswith(app["url"] + "/")):
        assert time.monotonic() < deadline, visited
        page.wait_for_timeout(200)  # polling interval while the browser goes to the provider and back
    expect_sign_in_form(page)
    page.get_by_text("You have signed out.").wait_for()
    assert streamlit_identity_cookies(context) == []
    page.goto(f"{app['url']}/map")
    expect_sign_in_form(page)
    page.get_by_role("button", name=ORG_BUTTON).wait_for()
    assert sso_sessions(app, SSO_ANALYST)[0].end_reason == "user"
    assert audit_rows(app, "sign_out", SSO_ANALYST) == [{"reason": "user", "session": row.id}]
    assert watch.dialogs == []
    context.close()


def test_a_partner_group_gives_the_partner_pages_only(chromium, app):  # noqa: F811
    context, page, _watch = new_page(chromium, app)
    sso_sign_in(page, app, SSO_PARTNER)
    signed_in_as(page, SSO_PARTNER, "partner")
    page.get_by_role("heading", name="Hotspot map").wait_for()
    assert nav_titles(page) == PARTNER_PAGES
    assert audit_rows(app, "sign_in", SSO_PARTNER) == [{"method": "sso", "role": "partner"}]
    context.close()


def test_an_account_whose_claims_map_to_no_role_gets_no_data(chromium, app):  # noqa: F811
    context, page, _watch = new_page(chromium, app)
    sso_sign_in(page, app, SSO_NO_ROLE)
    page.get_by_text("Your organisation account has no role in hoth-geo").wait_for()
    save_screenshot(page, "sso-no-role")
    text = page.inner_text("body")
    assert "SYNTHETIC DEMO" not in text and "Hotspot map" not in text
    assert page.locator(MAP_IFRAME).count() == 0
    assert page.locator('[data-testid="stSidebarNav"]').count() == 0
    assert page.get_by_role("button", name="Sign out", exact=True).count() == 0
    assert sso_sessions(app, SSO_NO_ROLE) == []
    page.reload()  # the provider's identity, still in Streamlit's cookie, opens nothing on a reload
    expect_sign_in_form(page)
    assert sso_sessions(app, SSO_NO_ROLE) == []
    # Refused once, audited once (not at every rerun), naming the identity.
    assert audit_rows(app, "sign_in_failed", SSO_NO_ROLE) == [{"method": "sso", "reason": "no_role"}]
    context.close()


def test_an_expired_session_does_not_restart_from_the_providers_cookie(chromium, app):  # noqa: F811
    context, page, _watch = new_page(chromium, app)
    sso_sign_in(page, app, SSO_PARTNER)
    signed_in_as(page, SSO_PARTNER, "partner")
    assert streamlit_identity_cookies(context)  # Streamlit keeps the identity for 30 days
    idle = timedelta(minutes=auth.DEFAULT_SESSION_MINUTES, seconds=5)
    with store.connect(app["db"]).begin() as conn:  # as if the user had walked away half an hour ago
        conn.execute(
            sessions.auth_sessions.update()
            .where(
                sessions.auth_sessions.c.username == SSO_PARTNER, sessions.auth_sessions.c.ended_at.is_(None)
            )
            .values(last_seen_at=sessions._now() - idle)
        )
    page.reload()
    expect_sign_in_form(page)
    page.get_by_text("expired after a period of inactivity").wait_for()
    page.reload()
    expect_sign_in_form(page)
    assert sso_sessions(app, SSO_PARTNER)[-1].end_reason == "expired"
    # Signing in again means the provider's form again, and opens a new session.
    before = len(audit_rows(app, "sign_in", SSO_PARTNER))
    sso_sign_in(page, app, SSO_PARTNER)
    signed_in_as(page, SSO_PARTNER, "partner")
    assert len(audit_rows(app, "sign_in", SSO_PARTNER)) == before + 1
    context.close()
