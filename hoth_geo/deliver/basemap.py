"""The basemap under the hexagons: none, a tile server, or a local tile file served by the app.

Officers plan by streets, so a map without a basemap only goes so far; but many force networks
cannot reach the internet, so a basemap is configured, never assumed:

* ``none`` (the default): the area's outlines and town labels only; nothing is fetched.
* ``url``: a raster tile server (``{z}/{x}/{y}`` template) with its attribution and an optional
  key, e.g. the OS Maps API (which police forces can use under the Public Sector Geospatial
  Agreement) or an OpenStreetMap tile server the force runs or is allowed to use.
* ``mbtiles`` / ``pmtiles``: a local raster tile file, served by the app itself at
  ``/tiles/{z}/{x}/{y}``, so the basemap works on an air-gapped network.

The configuration is a small JSON file (``settings.BASEMAP_FILE``, under ``var/`` by default),
written with owner-only permissions because it may hold an API key. The key never leaves the
server except inside the tile URL the browser needs.
"""

from __future__ import annotations

import html
import json
import os
import sqlite3
import threading
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path

from hoth_geo import settings

__all__ = [
    "Basemap",
    "BasemapError",
    "NO_BASEMAP",
    "PRESETS",
    "from_preset",
    "from_tile_file",
    "from_url",
    "load",
    "save",
    "read_tile",
    "leaflet_tiles",
    "TILE_ROUTE",
]

TILE_ROUTE = "tiles"  # served at /tiles/{z}/{x}/{y} by the app (hoth_geo/ui/web.py)
SOURCES = ("none", "url", "mbtiles", "pmtiles")
_RASTER_FORMATS = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}


class BasemapError(ValueError):
    """A basemap that cannot be used, with what to do about it."""


@dataclass(frozen=True)
class Basemap:
    """The map background a deployment chose: none, a tile server, or a local MBTiles/PMTiles file."""

    source: str = "none"
    name: str = ""
    url: str = ""  # tile template for source 'url'; may contain {key}
    attribution: str = ""
    key: str = ""  # API key substituted into {key}; stored, never shown
    path: str = ""  # local tile file for 'mbtiles' / 'pmtiles'
    min_zoom: int = 0
    max_zoom: int = 19
    media_type: str = ""  # of a local file's tiles

    @property
    def configured(self) -> bool:
        return self.source != "none"

    def describe(self) -> str:
        if not self.configured:
            return "No basemap: area outlines and town labels only"
        where = Path(self.path).name if self.path else self.url.split("/{z}")[0]
        return f"{self.name or self.source}: {where} (zoom {self.min_zoom}-{self.max_zoom})"


NO_BASEMAP = Basemap()

# Presets a force can pick; the OS Maps API needs the force's own key.
PRESETS: dict[str, Basemap] = {
    "os_maps_road": Basemap(
        source="url",
        name="OS Maps API, Road",
        url="https://api.os.uk/maps/raster/v1/zxy/Road_3857/{z}/{x}/{y}.png?key={key}",
        attribution="Contains OS data &copy; Crown copyright and database rights",
        min_zoom=7,
        max_zoom=20,
    ),
    "openstreetmap": Basemap(
        source="url",
        name="OpenStreetMap",
        url="https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        attribution="&copy; OpenStreetMap contributors",
        min_zoom=0,
        max_zoom=19,
    ),
}


def _check_zooms(min_zoom: int, max_zoom: int) -> None:
    for name, z in (("min_zoom", min_zoom), ("max_zoom", max_zoom)):
        if isinstance(z, bool) or not isinstance(z, int) or not 0 <= z <= 24:
            raise BasemapError(f"{name} must be an integer 0..24, got {z!r}")
    if min_zoom > max_zoom:
        raise BasemapError(f"min_zoom ({min_zoom}) is above max_zoom ({max_zoom})")


def _clean_attribution(text: str) -> str:
    # Shown by Leaflet as HTML: keep it text, but let '&copy;' and '©' through as the copyright sign.
    return html.escape(str(text).replace("&copy;", "©").strip()).replace("©", "&copy;")


def from_url(
    url: str, attribution: str, *, name: str = "", key: str = "", min_zoom: int = 0, max_zoom: int = 19
) -> Basemap:
    """A tile server basemap. ``url`` is an https (or http) template with {z}, {x} and {y}."""
    url = str(url).strip()
    if not url.lower().startswith(("https://", "http://")):
        raise BasemapError(f"url must start with https:// (or http://), got {url!r}")
    missing = [p for p in ("{z}", "{x}", "{y}") if p not in url]
    if missing:
        raise BasemapError(
            f"url must contain {', '.join(missing)} (a {{z}}/{{x}}/{{y}} tile template), got {url!r}"
        )
    if "{key}" in url and not key:
        raise BasemapError("this tile server needs an API key: give key")
    if not str(attribution).strip():
        raise BasemapError("attribution is required: tile providers require credit on the map")
    _check_zooms(min_zoom, max_zoom)
    return Basemap(
        source="url",
        name=name or url.split("/")[2],
        url=url,
        attribution=_clean_attribution(attribution),
        key=str(key),
        min_zoom=min_zoom,
        max_zoom=max_zoom,
    )


def from_preset(preset: str, *, key: str = "") -> Basemap:
    """A basemap from one of the named ``PRESETS``, with its attribution and zoom range."""
    if preset not in PRESETS:
        raise BasemapError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    p = PRESETS[preset]
    return from_url(p.url, p.attribution, name=p.name, key=key, min_zoom=p.min_zoom, max_zoom=p.max_zoom)


# --- Local tile files --------------------------------------------------------------------------------


def _mbtiles_info(path: Path) -> tuple[str, int, int, str]:
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            meta = dict(con.execute("SELECT name, value FROM metadata").fetchall())
            zooms = con.execute("SELECT min(zoom_level), max(zoom_level) FROM tiles").fetchone()
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise BasemapError(
            f"{path.name} is not an MBTiles file (SQLite with metadata and tiles): {exc}"
        ) from exc
    fmt = str(meta.get("format", "png")).lower()
    if fmt not in _RASTER_FORMATS:
        raise BasemapError(
            f"{path.name} holds '{fmt}' tiles; only raster tiles (png, jpg, webp) can be drawn under the map"
        )
    if zooms is None or zooms[0] is None:
        raise BasemapError(f"{path.name} has no tiles")
    return _RASTER_FORMATS[fmt], int(zooms[0]), int(zooms[1]), str(meta.get("attribution", ""))


def _pmtiles_info(path: Path) -> tuple[str, int, int, str]:
    from pmtiles.reader import MmapSource, Reader
    from pmtiles.tile import TileType

    try:
        with open(path, "rb") as f:
            reader = Reader(MmapSource(f))
            header = reader.header()
            meta = reader.metadata()
    except Exception as exc:  # the reader raises several kinds on a file that is not PMTiles
        raise BasemapError(f"{path.name} is not a PMTiles (version 3) file: {exc}") from exc
    types = {TileType.PNG: "image/png", TileType.JPEG: "image/jpeg", TileType.WEBP: "image/webp"}
    tile_type = header["tile_type"]
    if tile_type not in types:
        raise BasemapError(
            f"{path.name} holds {getattr(tile_type, 'name', tile_type)} tiles; only raster tiles "
            "(png, jpg, webp) can be drawn under the map"
        )
    attribution = meta.get("attribution", "") if isinstance(meta, dict) else ""
    return types[tile_type], int(header["min_zoom"]), int(header["max_zoom"]), str(attribution)


def from_tile_file(path: str | Path, attribution: str = "", *, name: str = "") -> Basemap:
    """A local MBTiles or PMTiles file of raster tiles, served by the app. The attribution defaults
    to the file's own metadata; one is required either way."""
    p = Path(path).resolve()
    if not p.is_file():
        raise BasemapError(f"no such tile file: {p}")
    suffix = p.suffix.lower()
    if suffix == ".mbtiles":
        source, info = "mbtiles", _mbtiles_info(p)
    elif suffix == ".pmtiles":
        source, info = "pmtiles", _pmtiles_info(p)
    else:
        raise BasemapError(f"tile file must end in .mbtiles or .pmtiles, got {p.name!r}")
    media_type, min_zoom, max_zoom, file_attribution = info
    attribution = str(attribution).strip() or file_attribution
    if not attribution.strip():
        raise BasemapError(f"{p.name} carries no attribution: give one (tile data always needs credit)")
    return Basemap(
        source=source,
        name=name or p.stem,
        attribution=_clean_attribution(attribution),
        path=str(p),
        min_zoom=min_zoom,
        max_zoom=max_zoom,
        media_type=media_type,
    )


# --- Configuration -----------------------------------------------------------------------------------


def load(path: str | Path | None = None) -> Basemap:
    """The configured basemap (``settings.BASEMAP_FILE``); ``NO_BASEMAP`` when none is configured."""
    p = Path(path or settings.BASEMAP_FILE)
    if not p.is_file():
        return NO_BASEMAP
    return _load_cached(str(p), p.stat().st_mtime_ns)


@lru_cache(maxsize=4)
def _load_cached(path: str, _mtime_ns: int) -> Basemap:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        basemap = Basemap(**{k: data[k] for k in Basemap.__dataclass_fields__ if k in data})
    except (OSError, ValueError, TypeError) as exc:
        raise BasemapError(f"basemap configuration {path} cannot be read: {exc}") from exc
    if basemap.source not in SOURCES:
        raise BasemapError(
            f"basemap configuration {path}: source must be one of {SOURCES}, got {basemap.source!r}"
        )
    return basemap


def save(basemap: Basemap, path: str | Path | None = None) -> Path:
    """Write the configuration (owner-only: it may hold a key). ``NO_BASEMAP`` switches it off."""
    p = Path(path or settings.BASEMAP_FILE)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(asdict(basemap), f, indent=2)
    os.replace(tmp, p)
    return p


# --- Serving and drawing -----------------------------------------------------------------------------

_pm_lock = threading.Lock()


@lru_cache(maxsize=4)
def _pmtiles_reader(path: str, _mtime_ns: int):
    from pmtiles.reader import MmapSource, Reader

    f = open(path, "rb")  # noqa: SIM115 - kept open for the reader's memory map while cached
    return Reader(MmapSource(f))


def read_tile(basemap: Basemap, z: int, x: int, y: int) -> bytes | None:
    """One tile of a local basemap in XYZ numbering, or None where the file has none."""
    if basemap.source not in ("mbtiles", "pmtiles"):
        return None
    if not (0 <= z <= 30 and 0 <= x < 2**z and 0 <= y < 2**z):
        return None
    if basemap.source == "mbtiles":
        # MBTiles rows count from the south (TMS); the web counts from the north.
        con = sqlite3.connect(f"file:{basemap.path}?mode=ro", uri=True)
        try:
            row = con.execute(
                "SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
                (z, x, 2**z - 1 - y),
            ).fetchone()
        finally:
            con.close()
        return bytes(row[0]) if row else None
    reader = _pmtiles_reader(basemap.path, Path(basemap.path).stat().st_mtime_ns)
    with _pm_lock:
        return reader.get(z, x, y)


def leaflet_tiles(basemap: Basemap, served_prefix: str) -> tuple[str, str, int, int] | None:
    """(tile URL template, attribution, min zoom, max zoom) for Leaflet, or None without a basemap.

    ``served_prefix`` is where the app's own routes are, as seen from the map's page (for a map in a
    Streamlit component, ``../..``)."""
    if not basemap.configured:
        return None
    if basemap.source == "url":
        url = basemap.url.replace("{key}", basemap.key) if "{key}" in basemap.url else basemap.url
    else:
        url = f"{served_prefix.rstrip('/')}/{TILE_ROUTE}/{{z}}/{{x}}/{{y}}"
    return url, basemap.attribution, basemap.min_zoom, basemap.max_zoom


def with_key_hidden(basemap: Basemap) -> Basemap:
    """The same basemap with its key blanked, for showing or logging."""
    return replace(basemap, key="••••" if basemap.key else "")
