"""The basemap: presets and tile servers, local MBTiles/PMTiles files, configuration, drawing."""

from __future__ import annotations

import os
import sqlite3
import stat

import folium
import pytest
from tiles import ATTRIBUTION, make_mbtiles, make_pmtiles, png_tile, tile_xy

from hoth_geo import settings
from hoth_geo.deliver import basemap as basemaps
from hoth_geo.deliver import maps
from hoth_geo.ui import web

DURHAM_BBOX = (-1.8, 54.5, -1.3, 54.9)
DARLINGTON = (54.5236, -1.5596)


def test_mbtiles_tiles_are_read_in_web_numbering(tmp_path):
    path = make_mbtiles(tmp_path / "area.mbtiles", DURHAM_BBOX, range(8, 11))
    basemap = basemaps.from_tile_file(path)
    assert (basemap.source, basemap.min_zoom, basemap.max_zoom) == ("mbtiles", 8, 10)
    assert basemap.media_type == "image/png" and basemap.attribution == ATTRIBUTION
    x, y = tile_xy(*DARLINGTON, 10)
    # MBTiles counts rows from the south: the row stored is 2^z - 1 - y.
    con = sqlite3.connect(path)
    stored = con.execute(
        "SELECT tile_data FROM tiles WHERE zoom_level=10 AND tile_column=? AND tile_row=?", (x, 2**10 - 1 - y)
    ).fetchone()[0]
    con.close()
    assert basemaps.read_tile(basemap, 10, x, y) == bytes(stored)
    assert basemaps.read_tile(basemap, 10, x, 2**10 - 1 - y) is None  # the unflipped row is elsewhere
    assert basemaps.read_tile(basemap, 14, 0, 0) is None
    assert basemaps.read_tile(basemap, 10, -1, 5) is None
    assert basemaps.read_tile(basemap, 10, 2**10, 5) is None


def test_pmtiles_tiles_are_read(tmp_path):
    path = make_pmtiles(tmp_path / "area.pmtiles", DURHAM_BBOX, range(8, 10))
    basemap = basemaps.from_tile_file(path)
    assert (basemap.source, basemap.min_zoom, basemap.max_zoom) == ("pmtiles", 8, 9)
    x, y = tile_xy(*DARLINGTON, 9)
    assert basemaps.read_tile(basemap, 9, x, y) == png_tile((200, 245, 210), f"9/{x}/{y}")
    assert basemaps.read_tile(basemap, 9, 0, 0) is None


def test_unusable_tile_files_are_refused_with_the_reason(tmp_path):
    vector = make_mbtiles(tmp_path / "vector.mbtiles", DURHAM_BBOX, range(8, 9), fmt="pbf")
    with pytest.raises(basemaps.BasemapError, match="'pbf' tiles; only raster"):
        basemaps.from_tile_file(vector)
    junk = tmp_path / "junk.mbtiles"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(basemaps.BasemapError, match="not an MBTiles file"):
        basemaps.from_tile_file(junk)
    with pytest.raises(basemaps.BasemapError, match="must end in .mbtiles or .pmtiles"):
        basemaps.from_tile_file(vector.rename(tmp_path / "tiles.zip"))
    with pytest.raises(basemaps.BasemapError, match="no such tile file"):
        basemaps.from_tile_file(tmp_path / "missing.mbtiles")
    bare = make_mbtiles(tmp_path / "bare.mbtiles", DURHAM_BBOX, range(8, 9))
    con = sqlite3.connect(bare)
    con.execute("DELETE FROM metadata WHERE name = 'attribution'")
    con.commit()
    con.close()
    with pytest.raises(basemaps.BasemapError, match="no attribution"):
        basemaps.from_tile_file(bare)
    assert basemaps.from_tile_file(bare, "Our own survey").attribution == "Our own survey"


def test_tile_servers_need_a_template_an_attribution_and_their_key():
    with pytest.raises(basemaps.BasemapError, match="https"):
        basemaps.from_url("ftp://tiles.example/{z}/{x}/{y}.png", "x")
    with pytest.raises(basemaps.BasemapError, match=r"\{y\}"):
        basemaps.from_url("https://tiles.example/{z}/{x}.png", "x")
    with pytest.raises(basemaps.BasemapError, match="attribution"):
        basemaps.from_url("https://tiles.example/{z}/{x}/{y}.png", " ")
    with pytest.raises(basemaps.BasemapError, match="API key"):
        basemaps.from_preset("os_maps_road")
    with pytest.raises(basemaps.BasemapError, match="preset must be one of"):
        basemaps.from_preset("google")
    os_maps = basemaps.from_preset("os_maps_road", key="SYNTHETIC-KEY")
    url, attribution, lo, hi = basemaps.leaflet_tiles(os_maps, "../..")
    assert url.endswith("Road_3857/{z}/{x}/{y}.png?key=SYNTHETIC-KEY")
    assert "Crown copyright" in attribution and (lo, hi) == (7, 20)
    assert "SYNTHETIC-KEY" not in basemaps.with_key_hidden(os_maps).key
    hostile = basemaps.from_url(
        "https://tiles.example/{z}/{x}/{y}.png", '<img src=x onerror="alert(1)"> &copy; Us'
    )
    assert "<img" not in hostile.attribution and hostile.attribution.endswith("&copy; Us")


def test_configuration_round_trips_and_is_owner_only(tmp_path):
    path = tmp_path / "var" / "basemap.json"
    assert basemaps.load(path) == basemaps.NO_BASEMAP
    os_maps = basemaps.from_preset("os_maps_road", key="SYNTHETIC-KEY")
    basemaps.save(os_maps, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # it holds a key
    assert basemaps.load(path) == os_maps
    basemaps.save(basemaps.NO_BASEMAP, path)
    assert not basemaps.load(path).configured
    path.write_text("{broken")
    with pytest.raises(basemaps.BasemapError, match="cannot be read"):
        basemaps.load(path)


def test_the_configured_basemap_is_drawn_under_streamlit_maps(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "BASEMAP_FILE", tmp_path / "basemap.json")
    m = maps.blank_map()
    assert "tiles/{z}" not in maps.prepare_for_streamlit(m).get_root().render()  # none configured
    local = basemaps.from_tile_file(make_mbtiles(tmp_path / "a.mbtiles", DURHAM_BBOX, range(8, 10)))
    basemaps.save(local, settings.BASEMAP_FILE)
    page = maps.prepare_for_streamlit(m).get_root().render()
    assert "../../tiles/{z}/{x}/{y}" in page and ATTRIBUTION in page
    assert "tiles/{z}" not in maps.prepare_for_streamlit(m, basemap=None).get_root().render()
    assert not any(isinstance(el, folium.TileLayer) for el in maps._walk(m))  # the input is untouched


def test_security_headers_let_the_browser_reach_only_the_app_and_the_tile_server():
    plain = web.security_headers(None)
    assert plain["X-Frame-Options"] == "SAMEORIGIN"
    assert "img-src 'self' data: blob:;" in plain["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in plain["Content-Security-Policy"]
    osm = web.security_headers(basemaps.from_preset("openstreetmap"))
    assert "img-src 'self' data: blob: https://tile.openstreetmap.org;" in osm["Content-Security-Policy"]
