"""The configured local basemap under the static maps: PNG, PDF and the briefing pack draw its tiles
under the hexagons, in the right place, with its attribution on the map; without one (or with a tile
server, which only browsers fetch) the output is what it always was."""

from __future__ import annotations

import io
import shutil
import sqlite3
import subprocess
from datetime import datetime

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image
from tiles import AREA_BBOX, GROUND, STREET, make_pmtiles, street_tile, tile_xy, tiles_over

from hoth_geo import settings
from hoth_geo.access import privacy
from hoth_geo.deliver import basemap as basemaps
from hoth_geo.deliver import briefing, static_maps
from hoth_geo.deliver.maps import PALETTE

CREDIT = "Synthetic street tiles"
GENERATED = datetime(2026, 1, 1, 9, 0)
# The map panel of a 1920x1080 render: below the header, above the attributions, left of the legend.
MAP_REGION = ((140, 930), (80, 1380))


def _need_poppler() -> None:
    if shutil.which("pdftotext") is None or shutil.which("pdfimages") is None:
        pytest.skip("poppler-utils not installed")


def make_street_mbtiles(path, zooms=range(8, 13), special=None) -> basemaps.Basemap:
    """An MBTiles basemap of street tiles; ``special`` (z, x, y) -> tile bytes replaces some tiles."""
    special = special or {}
    plain_tile = street_tile()
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
    con.execute(
        "CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB)"
    )
    meta = {"name": "streets", "format": "png", "attribution": CREDIT}
    con.executemany("INSERT INTO metadata VALUES (?, ?)", list(meta.items()))
    rows = [
        (z, x, 2**z - 1 - y, special.get((z, x, y), plain_tile)) for z, x, y in tiles_over(AREA_BBOX, zooms)
    ]
    con.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)", rows)
    con.commit()
    con.close()
    return basemaps.from_tile_file(path, name="Streets")


@pytest.fixture(scope="module")
def hexes(demo_store):
    return privacy.hex_counts(demo_store.reports, 8)


@pytest.fixture(scope="module")
def streets(tmp_path_factory):
    return make_street_mbtiles(tmp_path_factory.mktemp("streets") / "streets.mbtiles")


@pytest.fixture
def configured(streets, tmp_path, monkeypatch):
    """The street basemap configured for the app, as an administrator would set it."""
    monkeypatch.delenv("HOTH_GEO_TILE_DIR", raising=False)
    monkeypatch.setattr(settings, "BASEMAP_FILE", tmp_path / "basemap.json")
    basemaps.save(streets)
    return streets


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def _render(hexes, **kw) -> bytes:
    kw = {"kind": "count", "policy": "police", "title": "Reports", "generated_at": GENERATED, **kw}
    return static_maps.render_map(hexes, **kw)


def test_the_configured_local_basemap_shows_streets_under_the_hexagons(hexes, configured):
    with_map = _pixels(_render(hexes))  # no tiles= argument: the configured basemap
    without = _pixels(_render(hexes, tiles=False))
    (y0, y1), (x0, x1) = MAP_REGION
    a, b = with_map[y0:y1, x0:x1], without[y0:y1, x0:x1]
    # Where the plain map shows a hexagon in its class colour, the basemap map shows that colour laid
    # over the tiles: over a street it is darker, so the officer sees the street through the hexagon.
    alpha = static_maps.TILE_FILL_ALPHA
    over_street = 0
    hex_pixels = 0
    for colour in PALETTE:
        rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
        inside = (b == rgb).all(axis=2)
        hex_pixels += int(inside.sum())
        expected = alpha * rgb + (1 - alpha) * np.array(STREET)
        over_street += int((np.abs(a[inside] - expected).max(axis=1) <= 12).sum())
    assert hex_pixels > 20_000
    assert over_street > 0.03 * hex_pixels  # the street lines cover about 18 % of a tile
    # Between the hexagons the plain map is white; with the basemap it is the tiles' ground and streets.
    white = (b == 255).all(axis=2)
    ground = (np.abs(a - np.array(GROUND)).max(axis=2) <= 3) & white
    street = (np.abs(a - np.array(STREET)).max(axis=2) <= 12) & white
    assert ground.sum() > 0.5 * white.sum() and street.sum() > 0.05 * white.sum()


def test_without_a_local_basemap_the_map_is_unchanged(hexes, streets, tmp_path, monkeypatch):
    monkeypatch.delenv("HOTH_GEO_TILE_DIR", raising=False)
    monkeypatch.setattr(settings, "BASEMAP_FILE", tmp_path / "basemap.json")
    none = _render(hexes)
    assert none == _render(hexes, tiles=False)
    # A tile server is for browsers: a file made for print fetches nothing and draws no tiles.
    basemaps.save(basemaps.from_preset("openstreetmap"))
    assert _render(hexes) == none
    assert static_maps.tile_source() is None
    # A configured file that has gone is named, not silently dropped.
    gone = tmp_path / "gone.mbtiles"
    shutil.copy(streets.path, gone)
    basemaps.save(basemaps.from_tile_file(gone))
    gone.unlink()
    with pytest.raises(basemaps.BasemapError, match="gone.mbtiles is missing"):
        _render(hexes)


def test_the_basemap_attribution_is_printed_on_the_map_and_in_the_footer(hexes, configured):
    _need_poppler()
    pdf = _render(hexes, fmt="pdf", policy="partner")
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    assert text.count(CREDIT) == 2 and f"Basemap: {CREDIT}" in text
    plain = _render(hexes, fmt="pdf", policy="partner", tiles=False)
    text = subprocess.run(["pdftotext", "-", "-"], input=plain, capture_output=True, check=True).stdout
    assert CREDIT not in text.decode()
    # The PNG draws the same credit in the map's corner.
    fig = Figure(figsize=(13.3, 7.5), dpi=60)
    layer = static_maps.map_layer(hexes, kind="count", policy="police")
    with static_maps.text_rc():
        assert static_maps.draw_map_panel(fig, (0.02, 0.1, 0.96, 0.8), layer)
    map_ax = fig.axes[-2]
    assert [t.get_text() for t in map_ax.texts if t.get_text() == CREDIT] == [CREDIT]


def test_tiles_sit_where_their_streets_are_even_at_the_corner_of_a_county_map(hexes, tmp_path):
    """One tile near the north-west corner of the map is red: its red pixels are exactly where its
    corners project on the map (the map is not Web Mercator, so tiles cannot just be laid in a grid)."""
    z = 11
    x, y = tile_xy(54.76, -2.2, z)
    red = io.BytesIO()
    Image.new("RGB", (256, 256), (230, 0, 0)).save(red, format="PNG")
    bm = make_street_mbtiles(tmp_path / "red.mbtiles", range(z, z + 1), special={(z, x, y): red.getvalue()})
    empty = hexes.iloc[:0]
    layer = static_maps.map_layer(empty, kind="count", policy="police")
    fig = Figure(figsize=(13.3, 7.5), dpi=100)
    with static_maps.text_rc():
        static_maps.draw_map_panel(
            fig, (0.02, 0.05, 0.96, 0.9), layer, tiles=bm, towns=False, boundaries=None
        )
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    img = np.asarray(canvas.buffer_rgba())[..., :3].astype(int)
    map_ax = fig.axes[-2]
    tr = map_ax._hoth_to_local

    def corner(cx, cy):
        n = 2**z
        lng = cx / n * 360 - 180
        lat = np.degrees(np.arctan(np.sinh(np.pi * (1 - 2 * cy / n))))
        px, py = map_ax.transData.transform(tr.transform(lng, lat))
        return px, img.shape[0] - py  # display y runs up, image rows run down

    quad = np.array([corner(x, y), corner(x + 1, y), corner(x + 1, y + 1), corner(x, y + 1)])
    is_red = np.abs(img - np.array([230, 0, 0])).max(axis=2) <= 10
    rows, cols = np.nonzero(is_red)
    assert len(rows) > 1000
    # The red area's centre is the tile's projected centre, and its extent the projected corners'.
    assert abs(cols.mean() - quad[:, 0].mean()) < 1.5 and abs(rows.mean() - quad[:, 1].mean()) < 1.5
    assert abs(cols.min() - quad[:, 0].min()) <= 2 and abs(cols.max() - quad[:, 0].max()) <= 2
    assert abs(rows.min() - quad[:, 1].min()) <= 2 and abs(rows.max() - quad[:, 1].max()) <= 2


def test_a_pmtiles_basemap_and_a_tile_file_path_are_drawn_too(hexes, tmp_path):
    pm = make_pmtiles(tmp_path / "area.pmtiles", AREA_BBOX, range(8, 11), colour=(10, 200, 30))
    for tiles in (basemaps.from_tile_file(pm), pm):
        img = _pixels(_render(hexes, tiles=tiles))
        (y0, y1), (x0, x1) = MAP_REGION
        assert (img[y0:y1, x0:x1] == np.array([10, 200, 30])).all(axis=2).sum() > 10_000


def test_the_briefing_maps_draw_the_basemap_and_credit_it(demo_store, configured, tmp_path, monkeypatch):
    _need_poppler()
    reports, places = demo_store.reports, demo_store.places
    pdf = briefing.briefing_pack(reports, places, filters=None, policy="police", generated_at=GENERATED)
    path = tmp_path / "pack.pdf"
    path.write_bytes(pdf)

    def images_on(page: int) -> int:
        out = subprocess.run(
            ["pdfimages", "-f", str(page), "-l", str(page), "-list", str(path)],
            capture_output=True,
            check=True,
            text=True,
        ).stdout
        return len(out.strip().splitlines()) - 2  # two header lines

    def page_text(page: int) -> str:
        args = ["pdftotext", "-f", str(page), "-l", str(page), str(path), "-"]
        return subprocess.run(args, capture_output=True, check=True, text=True).stdout

    # Page 2: the hotspot map and its three insets; page 3: the emerging hot spot map.
    assert images_on(2) == 4 and images_on(3) == 1
    assert f"Basemap: {CREDIT}" in page_text(2) and f"Basemap: {CREDIT}" in page_text(3)
    assert CREDIT not in page_text(1)
    monkeypatch.setattr(settings, "BASEMAP_FILE", tmp_path / "none.json")
    path.write_bytes(
        briefing.briefing_pack(reports, places, filters=None, policy="police", generated_at=GENERATED)
    )
    assert images_on(2) == 0 and CREDIT not in page_text(2)
