"""Single sign-on pieces that need no provider: which [auth] sections are providers, and the rule that
an ID token opens at most one session and only while fresh. The round trip through a real OpenID
provider is in tests/ui/test_browser_sso.py."""

from __future__ import annotations

import pytest

from hoth_geo.access import auth

NOW = 1_800_000_000.0
CLAIMS = {"iss": "https://login.example.org/t/v2.0", "sub": "abc", "iat": int(NOW) - 10, "nonce": "n1"}


def test_sso_providers_are_the_sections_with_client_settings():
    documented = {
        "redirect_uri": "https://hoth.example.org/oauth2callback",
        "cookie_secret": "x" * 48,
        "microsoft": {"client_id": "c", "client_secret": "s", "server_metadata_url": "https://m"},
        "hoth_geo_roles": {"tenant_id": "t", "app_roles": {"HothGeo.Analyst": "analyst"}},
    }
    assert auth.sso_providers(documented) == ["microsoft"]
    top_level = {"redirect_uri": "r", "cookie_secret": "c", "client_id": "c", "server_metadata_url": "m"}
    assert auth.sso_providers(top_level) == [None]
    # A role mapping alone is no way to sign in.
    assert auth.sso_providers({"hoth_geo_roles": {"client_id": "looks like one"}}) == []
    assert auth.sso_providers({}) == []


def test_an_id_token_opens_one_session_only():
    ledger = auth.SsoTokenLedger()
    assert ledger.usable(CLAIMS, NOW)
    assert ledger.take(CLAIMS, NOW)
    assert not ledger.usable(CLAIMS, NOW + 1)
    assert not ledger.take(CLAIMS, NOW + 1)  # a reload with Streamlit's identity cookie
    # A new sign-in at the provider is a new token: it opens a new session.
    assert ledger.take({**CLAIMS, "iat": int(NOW), "nonce": "n2"}, NOW + 2)


@pytest.mark.parametrize(
    "claims",
    [
        {**CLAIMS, "iat": int(NOW) - auth.SSO_FRESH_SECONDS - 1},  # an old identity cookie
        {**CLAIMS, "iat": int(NOW) + 3600},  # from the future
        {k: v for k, v in CLAIMS.items() if k != "iat"},
        {**CLAIMS, "iat": "recent"},
        {**CLAIMS, "iat": True},
        {k: v for k, v in CLAIMS.items() if k != "sub"},
    ],
)
def test_stale_or_incomplete_id_tokens_open_nothing(claims):
    ledger = auth.SsoTokenLedger()
    assert not ledger.usable(claims, NOW)
    assert not ledger.take(claims, NOW)


def test_the_ledger_forgets_tokens_that_are_too_old_to_use_anyway():
    ledger = auth.SsoTokenLedger(fresh_seconds=300)
    for i in range(50):
        assert ledger.take({**CLAIMS, "nonce": f"n{i}", "iat": int(NOW) + i * 100}, NOW + i * 100)
    assert len(ledger._used) <= 5  # only the last few minutes' tokens are kept
