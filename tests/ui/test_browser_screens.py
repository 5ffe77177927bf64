"""The map pages as an officer and a partner first see them, on the demo set with a configured local
street basemap: screenshots of the Hotspot map, Hotspots, Patrol plan and the partner Hotspot map are
saved as test artefacts (var/screenshots), and the browser checks what they must show: tiles from the
app only, the partner legend in the classes of the shared counts with a quiet '<5' class."""

from __future__ import annotations

import re
import sqlite3

import pytest
from app_server import running_app, save_screenshot
from test_browser import (
    ANALYST,
    MAP_IFRAME,
    PARTNER,
    PASSWORD,
    go_in_session,
    hex_count,
    new_page,
    sign_in,
    wait_in_map,
)
from tiles import AREA_BBOX, street_tile, tiles_over

from hoth_geo import store
from hoth_geo.access import auth
from hoth_geo.deliver import basemap as basemaps
from hoth_geo.intake import pipeline

pytestmark = pytest.mark.browser

CREDIT = "Synthetic street tiles"
TILES_LOADED = (
    "() => [...document.querySelectorAll('.leaflet-tile-pane img')]"
    ".filter(i => i.complete && i.naturalWidth === 256).length >= 4"
)
# Hexagons whose box the legend overlaps, and whether the view holds every hexagon.
CLEAR_JS = """() => {
    const el = document.querySelector('.leaflet-container'), map = el && window[el.id];
    const legend = el && el.querySelector('.hoth-legend');
    if (!map || !map._hothLayers || !legend) return null;
    const lg = legend.getBoundingClientRect(), c = el.getBoundingClientRect();
    let hits = 0, n = 0;
    map._hothLayers.hexes.eachLayer(p => {
        n++;
        const b = p.getBounds();
        const a = map.latLngToContainerPoint(b.getNorthWest()), z = map.latLngToContainerPoint(b.getSouthEast());
        if (a.x + c.left < lg.right && z.x + c.left > lg.left && a.y + c.top < lg.bottom && z.y + c.top > lg.top) hits++;
    });
    return {hits: hits, n: n, inView: map.getBounds().contains(map._hothLayers.hexes.getBounds())};
}"""
LEGEND_JS = """() => [...document.querySelectorAll('.hoth-legend-row')].map(r => ({
    text: r.innerText, quiet: !!r.querySelector('.hoth-legend-quiet')}))"""


def _street_mbtiles(path):
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
    con.execute(
        "CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB)"
    )
    con.executemany(
        "INSERT INTO metadata VALUES (?, ?)",
        [("name", "streets"), ("format", "png"), ("attribution", CREDIT)],
    )
    tile = street_tile()
    con.executemany(
        "INSERT INTO tiles VALUES (?, ?, ?, ?)",
        [(z, x, 2**z - 1 - y, tile) for z, x, y in tiles_over(AREA_BBOX, range(7, 12))],
    )
    con.commit()
    con.close()
    return path


@pytest.fixture(scope="module")
def app(chromium, tmp_path_factory):  # noqa: F811
    workdir = tmp_path_factory.mktemp("screens_app")
    db_path = workdir / "app.sqlite"
    engine = store.connect(f"sqlite:///{db_path}")
    auth.add_user(engine, "admin.screens", PASSWORD, "admin")  # without an admin the app asks for one
    auth.add_user(engine, ANALYST, PASSWORD, "analyst")
    auth.add_user(engine, PARTNER, PASSWORD, "partner")
    pipeline.load_demo_data(engine)
    engine.dispose()
    config = workdir / "basemap.json"
    basemaps.save(basemaps.from_tile_file(_street_mbtiles(workdir / "streets.mbtiles")), config)
    with running_app(db_path, workdir, {"HOTH_GEO_BASEMAP_FILE": str(config)}) as running:
        yield running


def _settle(page) -> None:
    wait_in_map(page, TILES_LOADED)
    page.wait_for_timeout(1500)  # let the fitted view and its tiles finish drawing
    # Every hexagon is in the first view and the legend covers none of them.
    clear = wait_in_map(page, f"() => ({CLEAR_JS})() !== null", CLEAR_JS)
    assert clear["n"] > 0 and clear["inView"] and clear["hits"] == 0, clear


def test_police_map_pages_with_the_street_basemap(chromium, app):  # noqa: F811
    context, page, watch = new_page(chromium, app)
    try:
        sign_in(page, app, ANALYST)
        page.get_by_role("heading", name="Hotspot map").wait_for()
        assert hex_count(page) > 100
        _settle(page)
        save_screenshot(page, "screen-hotspot-map")
        for path, heading, name in (
            ("hotspots", "Hotspots", "screen-hotspots"),
            ("patrol", "Patrol plan", "screen-patrol-plan"),
        ):
            go_in_session(page, path)
            page.get_by_role("heading", name=heading, exact=True).wait_for()
            assert hex_count(page) > 0
            _settle(page)
            page.locator(MAP_IFRAME).scroll_into_view_if_needed()  # the map, not only the controls
            page.wait_for_timeout(500)
            save_screenshot(page, name)
        assert watch.foreign == []
    finally:
        context.close()


def test_partner_map_legend_is_the_shared_classes(chromium, app):  # noqa: F811
    context, page, watch = new_page(chromium, app)
    try:
        sign_in(page, app, PARTNER)
        page.get_by_role("heading", name="Hotspot map").wait_for()
        assert hex_count(page) > 100
        _settle(page)
        rows = wait_in_map(page, "() => document.querySelectorAll('.hoth-legend-row').length > 2", LEGEND_JS)
        quiet = [r for r in rows if r["quiet"]]
        assert len(quiet) == 1 and "Fewer than 5 reports" in quiet[0]["text"]
        assert rows[-1] == quiet[0]  # listed last, under the lowest class it is quieter than
        for row in rows[:-1]:
            label = row["text"].split("(")[0]
            numbers = [int(n) for n in re.findall(r"\d+", label.replace(",", ""))]
            assert numbers and min(numbers) >= 5, row
        save_screenshot(page, "screen-partner-hotspot-map")
        assert watch.foreign == []
    finally:
        context.close()
