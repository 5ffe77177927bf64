"""The app's own HTTP layer, running: a configured local basemap's tiles come from the app's /tiles
route and nothing else is contacted; responses carry the security headers; Streamlit's metrics are
closed; a visitor who has not signed in cannot upload files."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from app_server import running_app, save_screenshot
from test_browser import ANALYST, PASSWORD, hex_count, new_page, sign_in, wait_in_map
from tiles import make_mbtiles, png_tile, tile_xy

from hoth_geo import store
from hoth_geo.access import auth, sessions
from hoth_geo.deliver import basemap as basemaps
from hoth_geo.intake import pipeline

pytestmark = pytest.mark.browser

AREA_BBOX = (-2.2, 54.4, -1.1, 55.0)  # the demo area and a margin
TILE_COLOUR = (181, 210, 236)


@pytest.fixture(scope="module")
def app(chromium, tmp_path_factory):  # noqa: F811 - this module's own app: with a local basemap
    workdir = tmp_path_factory.mktemp("basemap_app")
    db_path = workdir / "app.sqlite"
    engine = store.connect(f"sqlite:///{db_path}")
    auth.add_user(engine, "admin.basemap", PASSWORD, "admin")
    auth.add_user(engine, ANALYST, PASSWORD, "analyst")
    pipeline.load_demo_data(engine)
    engine.dispose()
    tiles = make_mbtiles(workdir / "area.mbtiles", AREA_BBOX, range(6, 12), colour=TILE_COLOUR)
    config = workdir / "basemap.json"
    basemaps.save(basemaps.from_tile_file(tiles, name="Test tiles"), config)
    with running_app(db_path, workdir, {"HOTH_GEO_BASEMAP_FILE": str(config)}) as running:
        yield {**running, "db": f"sqlite:///{db_path}"}


def test_the_map_draws_the_local_tiles_and_contacts_no_other_host(chromium, app):  # noqa: F811
    context, page, watch = new_page(chromium, app)
    sign_in(page, app, ANALYST)
    page.get_by_role("heading", name="Hotspot map").wait_for()
    assert hex_count(page) > 0
    loaded = wait_in_map(
        page,
        "() => [...document.querySelectorAll('.leaflet-tile-pane img')]"
        ".filter(i => i.complete && i.naturalWidth === 256).length >= 4",
        "() => [...document.querySelectorAll('.leaflet-tile-pane img')]"
        ".filter(i => i.complete && i.naturalWidth === 256).map(i => i.src)",
    )
    assert all(f"{app['url']}/tiles/" in src for src in loaded), loaded
    assert watch.foreign == []
    assert "Synthetic test tiles" in wait_in_map(
        page,
        "() => !!document.querySelector('.leaflet-control-attribution')",
        "() => document.querySelector('.leaflet-control-attribution').innerText",
    )
    save_screenshot(page, "hotspot-map-with-local-basemap")
    context.close()


def test_tiles_headers_and_closed_metrics_over_http(app):
    x, y = tile_xy(54.5236, -1.5596, 10)
    with urllib.request.urlopen(f"{app['url']}/tiles/10/{x}/{y}") as r:
        assert r.status == 200 and r.headers["Content-Type"] == "image/png"
        assert r.read() == png_tile(TILE_COLOUR, f"10/{x}/{y}")
    for missing in ("/tiles/10/0/0", "/tiles/25/1/1", "/_stcore/metrics"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(app["url"] + missing)
        assert err.value.code == 404, missing
    with urllib.request.urlopen(app["url"] + "/") as r:
        assert r.headers["X-Frame-Options"] == "SAMEORIGIN"
        assert "frame-ancestors 'self'" in r.headers["Content-Security-Policy"]
        assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_a_visitor_who_has_not_signed_in_cannot_upload(app):
    def put(cookie: str | None) -> tuple[int, str]:
        request = urllib.request.Request(
            f"{app['url']}/_stcore/upload_file/some-session/some-file", data=b"x" * 1024, method="PUT"
        )
        if cookie:
            request.add_header("Cookie", f"{sessions.COOKIE_NAME}={cookie}")
        try:
            with urllib.request.urlopen(request) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    refused = (403, "Sign in before uploading a file")
    assert put(None) == refused
    assert put("not-a-session-token") == refused
    engine = store.connect(app["db"])
    token = sessions.start(engine, auth.get_user(engine, ANALYST))
    # Signed in: on to Streamlit, whose own checks (its upload session, XSRF) then apply.
    assert put(token) != refused
    sessions.end(engine, token)
    assert put(token) == refused  # signed out: refused again


def _import_as_analyst(chromium, app, path):
    """A new page, signed in as the analyst, that has uploaded ``path`` on the Import page and pressed
    Import: (context, page, watch)."""
    context, page, watch = new_page(chromium, app)
    sign_in(page, app, ANALYST)
    page.get_by_role("link", name="Import").click()
    page.get_by_role("heading", name="Import", exact=True).wait_for()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
    page.get_by_role("button", name="Import", exact=True).click()
    return context, page, watch


def test_a_signed_in_analyst_uploads_and_imports_a_file(chromium, app, tmp_path):
    path = tmp_path / "upload_check.csv"
    path.write_text(
        "Source reference,Date observed,Reporting agency,Agency type,Latitude,Longitude,Concerns,Narrative\n"
        "UP-1,03/04/2025,Synthetic Youth Project,youth_service,54.77613,-1.57329,cse,Synthetic upload check\n",
        encoding="utf-8",
    )
    context, page, watch = _import_as_analyst(chromium, app, path)
    page.get_by_test_id("stAlertContentSuccess").get_by_text(
        "upload_check.csv: read 1 row = 1 accepted"
    ).wait_for()
    assert watch.foreign == []
    context.close()


def test_an_imported_files_name_headers_and_terms_are_shown_as_text(chromium, app, tmp_path):
    """The Import page's summary quotes the file's name, a repeated header and a place type it did not
    know: each from the partner's file, each shown as written, never as a link or an image."""
    pixel = "![pixel](http://e.invalid/header.png)"
    login = "[login](http://e.invalid/login)"
    path = tmp_path / "upload [site](http:e.invalid).csv"
    path.write_text(
        "Source reference,Date observed,Reporting agency,Agency type,Latitude,Longitude,Concerns,Place type,"
        f"{pixel},{pixel}\n"
        f"UP-2,03/04/2025,Synthetic Youth Project,youth_service,54.77613,-1.57329,cse,{login},a,b\n",
        encoding="utf-8",
    )
    context, page, watch = _import_as_analyst(chromium, app, path)
    success = page.get_by_test_id("stAlertContentSuccess").filter(has_text="read 1 row ")
    success.wait_for()
    warnings = page.get_by_test_id("stAlertContentWarning")
    warnings.filter(has_text="place type").wait_for()
    shown = [t.replace("\u2060", "") for t in warnings.all_inner_texts()]
    save_screenshot(page, "import-summary-as-text")

    assert (
        success.inner_text()
        .replace("\u2060", "")
        .startswith("upload [site](http:e.invalid).csv: read 1 row ")
    )
    assert f'duplicate column headers ignored (the first of each was used): "{pixel}"' in shown
    assert f'"Other / unknown": "{login}" (1 row)' in next(t for t in shown if "place type" in t)
    for alert in (success, *warnings.all()):
        assert alert.locator("a, img").count() == 0
    # Nor anywhere else on the page (the progress bar's last message names the file too).
    assert page.locator('a[href*="e.invalid"], img[src*="e.invalid"]').count() == 0
    assert not [u for u in watch.foreign if "e.invalid" in u]
    context.close()
