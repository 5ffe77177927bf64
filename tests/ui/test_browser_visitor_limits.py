"""What a visitor who has not signed in can make the running server hold (issue: unauthenticated
memory). Each WebSocket connection is a Streamlit session; uploads are files in memory; messages are
buffered whole. Against a running app (no browser needed) with small connection limits."""

from __future__ import annotations

import contextlib
import http.client
import time
import urllib.parse

import pytest
from app_server import running_app
from test_browser import ANALYST, PASSWORD

from hoth_geo import store
from hoth_geo.access import auth, sessions

websockets_client = pytest.importorskip("websockets.sync.client")
from websockets.exceptions import ConnectionClosed, InvalidStatus  # noqa: E402

pytestmark = pytest.mark.browser

OPEN_LIMIT = 3


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("visitor_limits")
    db_path = workdir / "app.sqlite"
    engine = store.connect(f"sqlite:///{db_path}")
    auth.add_user(engine, "admin.limits", PASSWORD, "admin")
    auth.add_user(engine, ANALYST, PASSWORD, "analyst")
    engine.dispose()
    env = {"HOTH_GEO_ANON_CONNECTIONS": str(OPEN_LIMIT), "HOTH_GEO_ANON_CONNECTIONS_PER_MINUTE": "1000"}
    with running_app(db_path, workdir, env) as running:
        yield {**running, "db": f"sqlite:///{db_path}"}


def _stream(app, cookie: str | None = None):
    url = app["url"].replace("http://", "ws://") + "/_stcore/stream"
    headers = {"Cookie": f"{sessions.COOKIE_NAME}={cookie}"} if cookie else None
    return websockets_client.connect(url, additional_headers=headers, open_timeout=30, max_size=None)


def _refused(app, cookie: str | None = None) -> int | None:
    """The HTTP status a refused handshake got, or None if the connection was accepted (and closed)."""
    try:
        with _stream(app, cookie):
            return None
    except InvalidStatus as err:
        return err.response.status_code


def test_connections_without_a_session_are_limited_per_address(app):
    with contextlib.ExitStack() as stack:
        opened = [stack.enter_context(_stream(app)) for _ in range(OPEN_LIMIT)]
        assert _refused(app) == 403  # one more from this address: refused before a session is made
        engine = store.connect(app["db"])
        token = sessions.start(engine, auth.get_user(engine, ANALYST))
        assert _refused(app, token) is None  # a signed-in browser is not limited
        assert _refused(app, "not-a-session-token") == 403
        sessions.end(engine, token)
        assert _refused(app, token) == 403  # signed out: counted as a visitor again
        opened[0].close()
        deadline = time.monotonic() + 10
        while _refused(app) is not None:  # the closed connection's place is free again
            assert time.monotonic() < deadline
            time.sleep(0.2)  # polling interval while the server notices the close


def test_an_upload_without_a_session_is_refused_before_its_body_is_read(app):
    # The request announces 25 MB but sends 64 KiB: an answer that comes at once shows the server
    # neither waited for nor held the rest.
    parts = urllib.parse.urlsplit(app["url"])
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)
    conn.putrequest("PUT", "/_stcore/upload_file/any-session/any-file")
    conn.putheader("Content-Length", str(25_000_000))
    conn.putheader("Content-Type", "application/octet-stream")
    conn.endheaders()
    conn.send(b"x" * 65536)
    response = conn.getresponse()
    assert (response.status, response.read()) == (403, b"Sign in before uploading a file")
    conn.close()


def _close_code(app, size: int) -> int | None:
    """Send ``size`` bytes of garbage as one message; the close code the server answered with (None:
    it dropped the connection without reading the message through)."""
    with _stream(app) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            ws.send(b"\0" * size)
            ws.recv(timeout=60)
    return closed.value.rcvd.code if closed.value.rcvd is not None else None


def test_a_message_over_the_size_limit_is_not_read(app):
    # Under the limit the server reads the message and refuses it as not Streamlit's (1002); over
    # server.maxMessageSize (50 MB, not Streamlit's 200 MB) it stops reading and drops the connection.
    assert _close_code(app, 5 * 1024 * 1024) == 1002
    assert _close_code(app, 50 * 1024 * 1024 + 1) in (None, 1009)
