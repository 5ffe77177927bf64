"""Small raster tile sets made in the tests: MBTiles and PMTiles of plain coloured PNG tiles."""

from __future__ import annotations

import io
import math
import sqlite3
from pathlib import Path

from PIL import Image, ImageDraw

ATTRIBUTION = "Synthetic test tiles"


def tile_xy(lat: float, lng: float, z: int) -> tuple[int, int]:
    """The XYZ (web) tile holding a point."""
    n = 2**z
    x = int((lng + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


def png_tile(colour: tuple[int, int, int], label: str = "") -> bytes:
    img = Image.new("RGB", (256, 256), colour)
    if label:
        ImageDraw.Draw(img).text((8, 8), label, fill=(0, 0, 0))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def tiles_over(bbox: tuple[float, float, float, float], zooms: range):
    """(z, x, y) of every web tile over (west, south, east, north) at each zoom."""
    west, south, east, north = bbox
    for z in zooms:
        x0, y0 = tile_xy(north, west, z)
        x1, y1 = tile_xy(south, east, z)
        for x in range(x0, x1 + 1):
            for y in range(y0, y1 + 1):
                yield z, x, y


def make_mbtiles(path: Path, bbox, zooms: range, fmt: str = "png", colour=(200, 225, 245)) -> Path:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
    con.execute(
        "CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB)"
    )
    meta = {
        "name": "test",
        "format": fmt,
        "attribution": ATTRIBUTION,
        "minzoom": zooms.start,
        "maxzoom": zooms.stop - 1,
    }
    con.executemany("INSERT INTO metadata VALUES (?, ?)", [(k, str(v)) for k, v in meta.items()])
    rows = [
        (z, x, 2**z - 1 - y, png_tile(colour, f"{z}/{x}/{y}")) for z, x, y in tiles_over(bbox, zooms)
    ]  # MBTiles rows count from the south
    con.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)", rows)
    con.commit()
    con.close()
    return path


def make_pmtiles(path: Path, bbox, zooms: range, colour=(200, 245, 210)) -> Path:
    from pmtiles.tile import Compression, TileType, zxy_to_tileid
    from pmtiles.writer import Writer

    tiles = sorted(
        (zxy_to_tileid(z, x, y), png_tile(colour, f"{z}/{x}/{y}")) for z, x, y in tiles_over(bbox, zooms)
    )
    west, south, east, north = bbox
    with open(path, "wb") as f:
        writer = Writer(f)
        for tile_id, data in tiles:
            writer.write_tile(tile_id, data)
        writer.finalize(
            {
                "tile_type": TileType.PNG,
                "tile_compression": Compression.NONE,
                "min_zoom": zooms.start,
                "max_zoom": zooms.stop - 1,
                "min_lon_e7": int(west * 1e7),
                "min_lat_e7": int(south * 1e7),
                "max_lon_e7": int(east * 1e7),
                "max_lat_e7": int(north * 1e7),
                "center_zoom": zooms.start,
                "center_lon_e7": int((west + east) / 2 * 1e7),
                "center_lat_e7": int((south + north) / 2 * 1e7),
            },
            {"attribution": ATTRIBUTION},
        )
    return path


AREA_BBOX = (-2.5, 54.3, -0.9, 55.1)  # the demo area with a margin on every side
GROUND = (236, 232, 224)
STREET = (60, 60, 60)


def street_tile(colour=GROUND) -> bytes:
    """A 256-px tile of 'streets': 3-px dark lines every 32 px on a pale ground."""
    img = Image.new("RGB", (256, 256), colour)
    draw = ImageDraw.Draw(img)
    for k in range(0, 256, 32):
        draw.line([(k, 0), (k, 255)], fill=STREET, width=3)
        draw.line([(0, k), (255, k)], fill=STREET, width=3)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
