"""The app's own HTTP layer around Streamlit: the local basemap's tiles and the response headers.

``app.py`` builds the ASGI app with ``st.App`` from these routes and middleware; the pages
themselves run from ``hoth_geo/ui/entry.py``.

* ``/tiles/{z}/{x}/{y}``: tiles of a local MBTiles/PMTiles basemap (``hoth_geo.deliver.basemap``), so a
  basemap works on a network with no internet. 404 where there is no tile or no local basemap.
* Every response carries security headers (no framing by other sites, no MIME sniffing, no
  referrer sent off-site, a content security policy that lets the browser load nothing from any
  other host but the configured tile server). A reverse proxy in front may add more; see
  docs/deployment.md.
* ``/_stcore/metrics`` (Streamlit's internal metrics) is not served: it would be open to anyone.
* File uploads (``/_stcore/upload_file``) are refused to a visitor without a live session cookie, so
  nobody who has not signed in can make the server hold files in memory.
* Each WebSocket connection (``/_stcore/stream``) is a Streamlit session with its own state, kept for
  ``server.disconnectedSessionTTL`` after it closes. Connections without a live session cookie are
  limited per client address (``AnonymousConnections``): how many may be open at once, and how many
  may open per minute. Signed-in connections are not limited here.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from functools import lru_cache
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hoth_geo import settings
from hoth_geo.deliver import basemap as basemaps

__all__ = ["routes", "middleware", "security_headers", "AnonymousConnections"]

_BLOCKED_SUFFIXES = ("/_stcore/metrics",)


def security_headers(basemap: basemaps.Basemap | None = None) -> dict[str, str]:
    """Headers for every response. Images may come from the configured tile server as well."""
    tile_host = ""
    if basemap is not None and basemap.source == "url":
        parts = urlsplit(basemap.url)
        tile_host = f" {parts.scheme}://{parts.netloc}"
    csp = "; ".join(
        [
            "default-src 'self'",
            # Streamlit's front end and the map components run inline scripts and styles.
            "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
            "style-src 'self' 'unsafe-inline'",
            f"img-src 'self' data: blob:{tile_host}",
            "font-src 'self' data:",
            "connect-src 'self'",
            "frame-src 'self' blob: data:",
            "worker-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'self'",
        ]
    )
    return {
        "Content-Security-Policy": csp,
        "X-Frame-Options": "SAMEORIGIN",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    }


@lru_cache(maxsize=4)
def _engine(url: str):
    from hoth_geo import store

    return store.connect(url)


def signed_in(cookie_token: str | None) -> bool:
    """True when the request's session cookie belongs to a live session (hoth_geo.access.sessions)."""
    from hoth_geo import settings
    from hoth_geo.access import auth

    if not cookie_token:
        return False
    return auth.resume_session(_engine(settings.database_url()), cookie_token, touch=False).user is not None


class _Headers(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next) -> Response:
        path = request.url.path.rstrip("/")
        if path.endswith(_BLOCKED_SUFFIXES):
            return Response("Not found", status_code=404, media_type="text/plain")
        if "/_stcore/upload_file" in path and request.method in ("PUT", "POST"):
            # A visitor who has not signed in cannot make the server hold uploaded files.
            from hoth_geo.access.sessions import COOKIE_NAME

            if not await run_in_threadpool(signed_in, request.cookies.get(COOKIE_NAME)):
                return Response("Sign in before uploading a file", status_code=403, media_type="text/plain")
        response = await call_next(request)
        try:
            basemap = basemaps.load()
        except basemaps.BasemapError:
            basemap = None
        for name, value in security_headers(basemap).items():
            response.headers.setdefault(name, value)
        return response


ANON_OPEN_ENV = "HOTH_GEO_ANON_CONNECTIONS"
ANON_PER_MINUTE_ENV = "HOTH_GEO_ANON_CONNECTIONS_PER_MINUTE"
DEFAULT_ANON_OPEN = 30
DEFAULT_ANON_PER_MINUTE = 60
_STREAM_SUFFIX = "/_stcore/stream"


def _env_limit(name: str, default: int) -> int:
    return settings.env_int(name, default)


class AnonymousConnections:
    """Per client address: WebSocket connections without a signed-in session, open and recently opened.

    ``open`` connections may be open at once and ``per_minute`` may open in any 60 seconds. Each one
    is a Streamlit session (about 150 KiB for the sign-in page) that Streamlit keeps for its
    disconnected-session time after it closes, so the two limits bound what one address can make the
    server hold. A page opened before signing in stays counted until it is closed or reloaded (a
    reload carries the session cookie). Time is passed in, so the rule is testable without waiting.
    """

    def __init__(self, open_limit: int, per_minute: int):
        self.open_limit = open_limit
        self.per_minute = per_minute
        self._open: dict[str, int] = {}
        self._recent: dict[str, deque[float]] = {}
        self._swept_at = 0.0
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls) -> AnonymousConnections:
        return cls(
            _env_limit(ANON_OPEN_ENV, DEFAULT_ANON_OPEN),
            _env_limit(ANON_PER_MINUTE_ENV, DEFAULT_ANON_PER_MINUTE),
        )

    def admit(self, client: str, now: float) -> bool:
        """Count a new connection from ``client``; False (and nothing counted) when over a limit."""
        with self._lock:
            if now - self._swept_at >= 60:  # forget addresses with nothing open and no recent opening
                self._swept_at = now
                for key, times in list(self._recent.items()):
                    if key not in self._open and (not times or now - times[-1] >= 60):
                        del self._recent[key]
            recent = self._recent.setdefault(client, deque())
            while recent and now - recent[0] >= 60:
                recent.popleft()
            if self._open.get(client, 0) >= self.open_limit or len(recent) >= self.per_minute:
                if not recent:
                    del self._recent[client]
                return False
            recent.append(now)
            self._open[client] = self._open.get(client, 0) + 1
            return True

    def release(self, client: str) -> None:
        """A counted connection closed."""
        with self._lock:
            left = self._open.get(client, 0) - 1
            if left > 0:
                self._open[client] = left
            else:
                self._open.pop(client, None)
                recent = self._recent.get(client)
                if recent is not None and not recent:
                    del self._recent[client]

    def open_count(self, client: str) -> int:
        with self._lock:
            return self._open.get(client, 0)


class _LimitAnonymousConnections:
    """ASGI middleware: refuses a WebSocket handshake over the limits of ``AnonymousConnections``.

    A refused handshake is answered 403 before Streamlit accepts it, so no session is made.
    """

    def __init__(self, app, limits: AnonymousConnections | None = None):
        self.app = app
        self.limits = limits or AnonymousConnections.from_env()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket" or not scope.get("path", "").rstrip("/").endswith(_STREAM_SUFFIX):
            await self.app(scope, receive, send)
            return
        from starlette.requests import HTTPConnection

        from hoth_geo.access import auth
        from hoth_geo.access.sessions import COOKIE_NAME

        connection = HTTPConnection(scope)
        if await run_in_threadpool(signed_in, connection.cookies.get(COOKIE_NAME)):
            await self.app(scope, receive, send)
            return
        remote = connection.client.host if connection.client else None
        client = auth.client_address(remote, connection.headers.get("X-Forwarded-For"))
        if not self.limits.admit(client, time.monotonic()):
            await send({"type": "websocket.close", "code": 1008, "reason": "Too many connections"})
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.limits.release(client)


async def _tile(request: Request) -> Response:
    z, x, y = (request.path_params[k] for k in ("z", "x", "y"))
    try:
        basemap = basemaps.load()
        data = basemaps.read_tile(basemap, z, x, y)
    except basemaps.BasemapError:
        data = None
    if data is None:
        return Response(status_code=404)
    return Response(
        data,
        media_type=basemap.media_type or "image/png",
        headers={"Cache-Control": "public, max-age=86400"},
    )


def routes() -> list[Route]:
    return [Route(f"/{basemaps.TILE_ROUTE}/{{z:int}}/{{x:int}}/{{y:int}}", _tile, methods=["GET"])]


def middleware() -> list[Middleware]:
    return [Middleware(_LimitAnonymousConnections), Middleware(_Headers)]
