"""The app's own HTTP layer around Streamlit: the local basemap's tiles and the response headers.

``app.py`` builds the ASGI app with ``st.App`` from these routes and middleware; the pages
themselves run from ``hoth_geo/ui/entry.py``.

* ``/tiles/{z}/{x}/{y}``: tiles of a local MBTiles/PMTiles basemap (``hoth_geo.basemap``), so a
  basemap works on a network with no internet. 404 where there is no tile or no local basemap.
* Every response carries security headers (no framing by other sites, no MIME sniffing, no
  referrer sent off-site, a content security policy that lets the browser load nothing from any
  other host but the configured tile server). A reverse proxy in front may add more; see
  docs/deployment.md.
* ``/_stcore/metrics`` (Streamlit's internal metrics) is not served: it would be open to anyone.
* File uploads (``/_stcore/upload_file``) are refused to a visitor without a live session cookie, so
  nobody who has not signed in can make the server hold files in memory.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hoth_geo import basemap as basemaps

__all__ = ["routes", "middleware", "security_headers"]

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
    """True when the request's session cookie belongs to a live session (hoth_geo.sessions)."""
    from hoth_geo import sessions, settings

    if not cookie_token:
        return False
    return sessions.resume(_engine(settings.database_url()), cookie_token, touch=False).user is not None


class _Headers(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next) -> Response:
        path = request.url.path.rstrip("/")
        if path.endswith(_BLOCKED_SUFFIXES):
            return Response("Not found", status_code=404, media_type="text/plain")
        if "/_stcore/upload_file" in path and request.method in ("PUT", "POST"):
            # A visitor who has not signed in cannot make the server hold uploaded files.
            from hoth_geo.sessions import COOKIE_NAME

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
    return [Middleware(_Headers)]
