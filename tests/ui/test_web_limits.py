"""The per-address limits on WebSocket connections without a signed-in session (hoth_geo.ui.web);
the running server's refusals are in tests/ui/test_browser_visitor_limits.py."""

from __future__ import annotations

import pytest

from hoth_geo.ui import web


def test_open_connections_are_limited_per_address():
    limits = web.AnonymousConnections(open_limit=2, per_minute=100)
    assert limits.admit("203.0.113.7", 0.0) and limits.admit("203.0.113.7", 0.1)
    assert not limits.admit("203.0.113.7", 0.2)
    assert limits.open_count("203.0.113.7") == 2  # a refusal counts nothing
    assert limits.admit("198.51.100.1", 0.2)  # another address has its own allowance
    limits.release("203.0.113.7")
    assert limits.admit("203.0.113.7", 0.3)


def test_openings_per_minute_are_limited_even_when_each_closes_at_once():
    limits = web.AnonymousConnections(open_limit=5, per_minute=3)
    for t in (0.0, 1.0, 2.0):
        assert limits.admit("203.0.113.7", t)
        limits.release("203.0.113.7")
    assert not limits.admit("203.0.113.7", 30.0)
    assert limits.admit("203.0.113.7", 60.5)  # the first opening is a minute old


def test_nothing_is_kept_for_an_address_once_its_connections_close_and_age():
    limits = web.AnonymousConnections(open_limit=5, per_minute=5)
    for i in range(100):
        address = f"203.0.113.{i}"
        assert limits.admit(address, 0.0)
        limits.release(address)
    assert limits._open == {}
    assert limits.admit("198.51.100.1", 120.0)  # a minute on, the next opening forgets them all
    assert set(limits._recent) == {"198.51.100.1"}


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_the_limit_settings_are_checked(monkeypatch, value):
    monkeypatch.setenv(web.ANON_OPEN_ENV, value)
    with pytest.raises(ValueError, match=web.ANON_OPEN_ENV):
        web.AnonymousConnections.from_env()


def test_the_limits_default_to_the_documented_values(monkeypatch):
    monkeypatch.delenv(web.ANON_OPEN_ENV, raising=False)
    monkeypatch.delenv(web.ANON_PER_MINUTE_ENV, raising=False)
    limits = web.AnonymousConnections.from_env()
    assert (limits.open_limit, limits.per_minute) == (30, 60)
