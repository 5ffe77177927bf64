"""The deployment's study area: its name, its boundary and its own gazetteer.

A partnership sets its area once (``hoth-geo area set`` or the Area admin page); everything that
depends on the area (import checks, geocoding, the hexagon grid, Gi*, evaluation, exports' titles)
then reads it from here. Until an area is set, the shipped County Durham and Darlington set (the
demo's) is used.

Areas live with the deployment, never inside the installed package::

    <area home>/active.json                   {"area_id": ...}: the area in use
    <area home>/<area_id>/area.json           name, source file, when and by whom it was set
    <area home>/<area_id>/boundary.geojson    the dissolved boundary, WGS84
    <area home>/<area_id>/gazetteer/          postcodes/places/streets (.arrow) + build_report.json

The area home is ``$HOTH_GEO_AREA_DIR`` when set, else ``<database file>.areas`` beside a SQLite
database (so each database has its own area), else ``var/areas`` for a server database.

An area's id is derived from its name and boundary, so a changed boundary is a different area with
its own (initially empty) gazetteer: switching area replaces the gazetteer, it never mixes two
areas' places.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping

from hoth_geo import settings
from hoth_geo.intake.gazetteer import (
    LAYER_COLUMNS,
    WGS84,
    Gazetteer,
    centroids,
    empty_layer,
    layer_path,
    load_gazetteer,
    load_study_area,
)

__all__ = [
    "ACTIVE_FILE",
    "AREA_FILE",
    "BOUNDARY_FILE",
    "GAZETTEER_SUBDIR",
    "BUILD_REPORT_FILE",
    "BOUNDARY_SUFFIXES",
    "AreaError",
    "Area",
    "area_home",
    "shipped_area",
    "load_area",
    "current_area",
    "area_name",
    "use",
    "in_use",
    "read_area_boundary",
    "area_id_for",
    "boundary_override",
    "SetAreaResult",
    "set_area",
    "use_shipped_area",
    "stored_outside",
    "inside_area",
    "gazetteer_for",
    "current_gazetteer",
    "gazetteer_in_use",
    "engine_url",
    "for_engine",
    "install_gazetteer",
    "boundary_geojson",
]

ACTIVE_FILE = "active.json"
AREA_FILE = "area.json"
BOUNDARY_FILE = "boundary.geojson"
GAZETTEER_SUBDIR = "gazetteer"
BUILD_REPORT_FILE = "build_report.json"

# Boundary files an administrator may give: GeoJSON, GeoPackage, or a zipped Shapefile.
BOUNDARY_SUFFIXES = (".geojson", ".json", ".gpkg", ".zip", ".shp")


class AreaError(ValueError):
    """A boundary or area that cannot be used, with a message naming the file or value."""


@dataclass(frozen=True, eq=False)
class Area:
    """A study area: ``name`` is what pages and messages call it."""

    area_id: str
    name: str
    boundary: Polygon | MultiPolygon
    gazetteer_dir: Path
    shipped: bool = False
    source: str | None = None
    set_at: str | None = None
    set_by: str | None = None
    # An --area override for one run: the configured gazetteer is clipped to this boundary.
    clip_gazetteer: bool = False

    @property
    def has_gazetteer(self) -> bool:
        return any(layer_path(self.gazetteer_dir, layer) for layer in ("postcodes", "places"))

    def area_km2(self) -> float:
        gs = gpd.GeoSeries([self.boundary], crs=WGS84)
        return float(gs.to_crs(gs.estimate_utm_crs()).area.iloc[0] / 1e6)

    def build_report(self) -> dict | None:
        p = self.gazetteer_dir / BUILD_REPORT_FILE
        return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else None

    def gazetteer_built_at(self) -> datetime | None:
        """When the area's gazetteer was last built, in UTC without a zone (as the database stores times);
        None for the shipped gazetteer (package data, older than any import) or one not built yet."""
        if self.shipped or (report := self.build_report()) is None:
            return None
        if stamp := report.get("built_at"):
            when = datetime.fromisoformat(stamp)
        else:  # a report written before it carried the time: the file was written when the build finished
            when = datetime.fromtimestamp((self.gazetteer_dir / BUILD_REPORT_FILE).stat().st_mtime, UTC)
        return when.astimezone(UTC).replace(tzinfo=None)


# --- Where areas live -------------------------------------------------------------------------------


def area_home(db_url: str | None = None) -> Path:
    """The folder holding this deployment's areas (see the module docstring)."""
    env = settings.env(settings.AREA_DIR_ENV)
    if env:
        return Path(env)
    url = settings.database_url(db_url)
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        db_file = Path(url.removeprefix("sqlite:///"))
        return db_file.with_name(db_file.name + ".areas")
    return settings.VAR_DIR / "areas"


def shipped_area() -> Area:
    """The County Durham and Darlington set shipped with the demo (data/boundaries, data/gazetteer)."""
    return Area(
        area_id=settings.DEFAULT_AREA_ID,
        name=settings.DEFAULT_AREA_NAME,
        boundary=load_study_area(),
        gazetteer_dir=settings.GAZETTEER_DIR,
        shipped=True,
        source="shipped demo data (data/boundaries/study_area.geojson)",
    )


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AreaError(f"{path}: cannot read the area settings ({exc})") from exc


def load_area(directory: str | Path) -> Area:
    """An area stored in ``directory`` (area.json + boundary.geojson + gazetteer/)."""
    d = Path(directory)
    meta = _read_json(d / AREA_FILE)
    boundary = load_study_area(d / BOUNDARY_FILE)
    return Area(
        area_id=str(meta["area_id"]),
        name=str(meta["name"]),
        boundary=boundary,
        gazetteer_dir=d / GAZETTEER_SUBDIR,
        source=meta.get("source"),
        set_at=meta.get("set_at"),
        set_by=meta.get("set_by"),
    )


def current_area(db_url: str | None = None) -> Area:
    """The area in use for this deployment: the one an administrator set, else the shipped one."""
    home = area_home(db_url)
    pointer = home / ACTIVE_FILE
    if not pointer.is_file():
        return shipped_area()
    area_id = str(_read_json(pointer).get("area_id") or "")
    if area_id == settings.DEFAULT_AREA_ID:
        return shipped_area()
    if not re.fullmatch(r"[a-z0-9-]+", area_id) or not (home / area_id / AREA_FILE).is_file():
        raise AreaError(
            f"{pointer}: the area in use, {area_id!r}, is not stored in {home}; "
            "set the area again with `hoth-geo area set --boundary FILE --name NAME`"
        )
    return load_area(home / area_id)


def area_name(db_url: str | None = None) -> str:
    """The name of the area in use, for titles and messages."""
    return in_use(db_url).name


# The area a command-line run uses (its --db's area, or its --area override); None in the app,
# where the configured area of the app's database applies.
_IN_USE: Area | None = None


def use(area: Area | None) -> None:
    """Make ``area`` the one every default (grid, gazetteer, titles) uses in this process."""
    global _IN_USE
    _IN_USE = area


def in_use(db_url: str | None = None) -> Area:
    """The area set by ``use`` for this run, else the configured area of the (default) database."""
    return _IN_USE if _IN_USE is not None else current_area(db_url)


# --- Boundaries --------------------------------------------------------------------------------------


def _readable_path(path: Path) -> str:
    # A zipped Shapefile is read through GDAL's zip reader; pyogrio accepts the zip:// form.
    return f"zip://{path}" if path.suffix.lower() == ".zip" else str(path)


def read_area_boundary(path: str | Path, *, layer: str | None = None) -> Polygon | MultiPolygon:
    """The dissolved boundary in a GeoJSON, GeoPackage or zipped Shapefile, in any CRS, as WGS84.

    Every polygon in the file is dissolved into one (Multi)Polygon. Hairline gaps between
    neighbouring polygons (e.g. LSOAs) are closed with a 1 m buffer-and-shrink in the area's UTM zone,
    and slivers under a hectare dropped. A file without a CRS is accepted only when its coordinates
    are longitude/latitude degrees.
    """
    p = Path(path)
    if not p.is_file():
        raise AreaError(f"--boundary: file {str(p)!r} does not exist")
    if p.suffix.lower() not in BOUNDARY_SUFFIXES:
        raise AreaError(
            f"--boundary: {p.name!r} is not a GeoJSON (.geojson/.json), GeoPackage (.gpkg) "
            "or zipped Shapefile (.zip)"
        )
    try:
        kwargs = {"layer": layer} if layer else {}
        gdf = gpd.read_file(_readable_path(p), engine="pyogrio", **kwargs)
    except Exception as exc:  # pyogrio raises several types; the user needs the file named either way
        raise AreaError(f"--boundary: could not read {p.name!r}: {exc}") from exc
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    gdf = gdf[gdf.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    if gdf.empty:
        raise AreaError(f"--boundary: {p.name!r} holds no polygons (only points or lines, or nothing)")
    if gdf.crs is None:
        minx, miny, maxx, maxy = gdf.total_bounds
        if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
            raise AreaError(
                f"--boundary: {p.name!r} has no CRS and its coordinates are not longitude/latitude "
                f"degrees ({[round(v) for v in gdf.total_bounds]}); save it with its CRS"
            )
        gdf = gdf.set_crs(WGS84)
    metric = gdf.to_crs(gdf.to_crs(WGS84).estimate_utm_crs())
    union = shapely.union_all(shapely.make_valid(metric.geometry.to_numpy())).buffer(1.0).buffer(-1.0)
    union = _polygon_parts(union, min_area_m2=10_000)
    if union.is_empty:
        raise AreaError(f"--boundary: the polygons in {p.name!r} are all smaller than a hectare")
    out = gpd.GeoSeries([union], crs=metric.crs).to_crs(WGS84).iloc[0]
    # 6 dp (~0.1 m) is finer than any boundary source and keeps the stored file small.
    return _polygon_parts(shapely.set_precision(out, 1e-6), min_area_m2=0)


def _polygon_parts(geom, min_area_m2: float) -> Polygon | MultiPolygon:
    parts = [g for g in shapely.get_parts(geom) if isinstance(g, Polygon)]
    parts = [
        Polygon(g.exterior, [r for r in g.interiors if Polygon(r).area >= min_area_m2])
        for g in parts
        if g.area >= min_area_m2
    ]
    if not parts:
        return Polygon()
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def area_id_for(name: str, boundary: Polygon | MultiPolygon) -> str:
    """'<slug of the name>-<8 hex digits of the boundary>': a new boundary is a new area."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "area"
    digest = hashlib.sha1(shapely.to_wkb(boundary, hex=False)).hexdigest()[:8]
    return f"{slug}-{digest}"


def _check_name(name: str) -> str:
    text = " ".join(str(name or "").split())
    if not text:
        raise AreaError("--name: the area needs a name (e.g. 'Cleveland'); it is shown on every page")
    if len(text) > 80:
        raise AreaError(f"--name: at most 80 characters, got {len(text)}")
    return text


def boundary_override(path: str | Path, name: str | None = None, db_url: str | None = None) -> Area:
    """An area for one run (``--area FILE``): the file's boundary with the configured gazetteer
    clipped to it, so no place outside the boundary is used."""
    boundary = read_area_boundary(path)
    base = current_area(db_url)
    label = _check_name(name) if name else Path(path).stem
    return Area(
        area_id=area_id_for(label, boundary),
        name=label,
        boundary=boundary,
        gazetteer_dir=base.gazetteer_dir,
        source=str(path),
        clip_gazetteer=True,
    )


# --- Setting the area ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetAreaResult:
    """What setting an area did: the new and previous area, whether the gazetteer was reused, and the
    stored rows that fall outside the new area."""

    area: Area
    previous: Area
    reused_gazetteer: bool
    outside: dict[str, int]  # stored rows outside the new area: {'reports': n, 'police_context': n}
    totals: dict[str, int]

    def messages(self) -> list[str]:
        out = [
            f"study area set to {self.area.name} ({self.area.area_km2():,.0f} km², id {self.area.area_id})"
            + (
                "; unchanged"
                if self.previous.area_id == self.area.area_id
                else f"; it replaces {self.previous.name}"
            )
        ]
        if self.reused_gazetteer:
            out.append(f"the gazetteer built earlier for {self.area.name} is used again")
        else:
            out.append(
                f"{self.area.name} has no gazetteer yet: build it with `hoth-geo area build-gazetteer` "
                "(postcodes, places and streets are not looked up until then)"
            )
        for kind, label in (
            ("reports", "partnership reports"),
            ("police_context", "police.uk rows"),
            ("places", "places (demo venues, places added by analysts)"),
        ):
            n, total = self.outside.get(kind, 0), self.totals.get(kind, 0)
            if n:
                consequence = (
                    "they stay stored but are no longer offered when reports are linked to places"
                    if kind == "places"
                    else "they stay stored and still count in analyses, which add their hexagons to the "
                    "grid with a warning"
                )
                out.append(
                    f"{n:,} of {total:,} stored {label} ({n / total:.0%}) lie outside {self.area.name}: "
                    + consequence
                )
        return out


def set_area(
    boundary_path: str | Path,
    name: str,
    *,
    db_url: str | None = None,
    engine=None,
    actor: str | None = None,
) -> SetAreaResult:
    """Make the boundary in ``boundary_path`` the deployment's study area, named ``name``.

    The area gets its own folder and gazetteer; nothing of the previous area's gazetteer is carried
    over. With ``engine``, stored reports and police.uk rows outside the new area are counted (they
    are reported, never deleted) and the change is written to the audit log.
    """
    name = _check_name(name)
    boundary = read_area_boundary(boundary_path)
    previous = current_area(db_url)
    area_id = area_id_for(name, boundary)
    home = area_home(db_url)
    d = home / area_id
    reused = layer_path(d / GAZETTEER_SUBDIR, "postcodes") is not None
    (d / GAZETTEER_SUBDIR).mkdir(parents=True, exist_ok=True)
    set_at = datetime.now(UTC).replace(microsecond=0).isoformat()
    gpd.GeoDataFrame({"name": [name]}, geometry=[boundary], crs=WGS84).to_file(
        d / BOUNDARY_FILE, driver="GeoJSON"
    )
    (d / AREA_FILE).write_text(
        json.dumps(
            {
                "area_id": area_id,
                "name": name,
                "source": Path(boundary_path).name,
                "set_at": set_at,
                "set_by": actor,
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    area = load_area(d)
    outside, totals = ({}, {})
    if engine is not None:
        outside, totals = stored_outside(engine, area)
        from hoth_geo.access import audit

        with engine.begin() as conn:
            audit.record(
                conn,
                "area_set",
                actor=actor,
                target=name,
                details={
                    "area_id": area_id,
                    "previous": previous.area_id,
                    "source": Path(boundary_path).name,
                    "outside": outside,
                },
            )
    _write_active(home, area_id)
    _gazetteer_cached.cache_clear()
    return SetAreaResult(area, previous, reused, outside, totals)


def use_shipped_area(db_url: str | None = None) -> Area:
    """Go back to the shipped County Durham and Darlington area (the demo's)."""
    _write_active(area_home(db_url), settings.DEFAULT_AREA_ID)
    _gazetteer_cached.cache_clear()
    return shipped_area()


def _write_active(home: Path, area_id: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    tmp = home / (ACTIVE_FILE + ".tmp")
    tmp.write_text(json.dumps({"area_id": area_id}), encoding="utf-8")
    tmp.replace(home / ACTIVE_FILE)  # atomic: a reader never sees half a pointer


def stored_outside(engine, area: Area) -> tuple[dict[str, int], dict[str, int]]:
    """How many stored reports, police.uk rows and places lie outside ``area``'s boundary (places:
    beyond the import's buffer, the distance within which they are still offered for linking)."""
    import sqlalchemy as sa

    from hoth_geo import store

    outside, totals = {}, {}
    for key, table in (
        ("reports", store.reports),
        ("police_context", store.police_context),
        ("places", store.places),
    ):
        with engine.connect() as conn:
            df = pd.read_sql(
                sa.select(table.c.latitude, table.c.longitude).where(table.c.latitude.is_not(None)), conn
            )
        buffer_m = settings.STUDY_AREA_BUFFER_M if key == "places" else 0.0
        inside = inside_area(
            area.boundary, df["latitude"].to_numpy(float), df["longitude"].to_numpy(float), buffer_m
        )
        outside[key] = int((~inside).sum())
        totals[key] = len(df)
    return outside, totals


def inside_area(
    boundary: Polygon | MultiPolygon | None, lat: np.ndarray, lon: np.ndarray, buffer_m: float = 0.0
) -> np.ndarray:
    """True where (lat, lon) lies within ``boundary`` grown by ``buffer_m`` metres (any area on Earth:
    the buffer is drawn in the area's UTM zone). No boundary: every finite point is inside."""
    lat = np.asarray(lat, dtype=float)
    lon = np.asarray(lon, dtype=float)
    ok = np.isfinite(lat) & np.isfinite(lon)
    if boundary is None:
        return ok
    poly = _grown(shapely.to_wkb(boundary, hex=False), float(buffer_m))
    out = np.zeros(len(lat), dtype=bool)
    out[ok] = shapely.contains_xy(poly, lon[ok], lat[ok])
    return out


@functools.lru_cache(maxsize=8)
def _grown(boundary_wkb: bytes, buffer_m: float):
    geom = shapely.from_wkb(boundary_wkb)
    if buffer_m > 0:
        gs = gpd.GeoSeries([geom], crs=WGS84)
        utm = gs.estimate_utm_crs()
        geom = gs.to_crs(utm).buffer(buffer_m, quad_segs=4).to_crs(WGS84).iloc[0]
    shapely.prepare(geom)
    return geom


# --- The area's gazetteer ----------------------------------------------------------------------------


def gazetteer_for(area: Area) -> Gazetteer:
    """The gazetteer of ``area``, its study area and name attached (cached per area and build)."""
    d = area.gazetteer_dir
    layers = [layer_path(d, layer) for layer in LAYER_COLUMNS] if d.is_dir() else []
    stamp = max((p.stat().st_mtime_ns for p in layers if p is not None), default=0)
    return _gazetteer_cached(
        str(d.resolve()) if d.exists() else str(d),
        stamp,
        area.area_id,
        area.name,
        shapely.to_wkb(area.boundary, hex=False),
        area.clip_gazetteer,
    )


@functools.lru_cache(maxsize=8)
def _gazetteer_cached(
    directory: str, _stamp: int, area_id: str, name: str, boundary_wkb: bytes, clip: bool
) -> Gazetteer:
    boundary = shapely.from_wkb(boundary_wkb)
    if Path(directory).is_dir():
        base = load_gazetteer(directory)
    else:  # an area set but not built yet: empty layers, so nothing from another area is used
        empty = {name: empty_layer(cols) for name, cols in LAYER_COLUMNS.items()}
        base = Gazetteer(
            postcodes=empty["postcodes"],
            places=empty["places"],
            streets=empty["streets"],
            sectors=centroids(empty["postcodes"], "sector"),
            districts=centroids(empty["postcodes"], "district"),
            study_area=boundary,
        )
    postcodes, places, streets = base.postcodes, base.places, base.streets
    if clip:
        from hoth_geo.intake.geocode import in_study_area

        def keep(df: pd.DataFrame) -> pd.DataFrame:
            if df.empty:
                return df
            ok = in_study_area(boundary, df["latitude"].to_numpy(float), df["longitude"].to_numpy(float))
            return df[ok].reset_index(drop=True)

        postcodes, places, streets = keep(postcodes), keep(places), keep(streets)
    return dataclasses.replace(
        base,
        postcodes=postcodes,
        places=places,
        streets=streets,
        sectors=centroids(postcodes, "sector") if clip else base.sectors,
        districts=centroids(postcodes, "district") if clip else base.districts,
        study_area=boundary,
        area_name=name,
        area_id=area_id,
    )


def current_gazetteer(db_url: str | None = None) -> Gazetteer:
    """The gazetteer of the area in use."""
    return gazetteer_for(current_area(db_url))


def gazetteer_in_use() -> Gazetteer | None:
    """The gazetteer of the area in use (``in_use``), or None when its files cannot be read: an export
    then describes its hexagons by nothing rather than failing."""
    try:
        return gazetteer_for(in_use())
    except (OSError, ValueError):
        return None


def engine_url(engine) -> str:
    """The database URL of an engine, password included, as ``area_home`` needs it."""
    return engine.url.render_as_string(hide_password=False)


def for_engine(engine) -> Area:
    """The area in use for the database behind ``engine``."""
    return current_area(engine_url(engine))


# --- Writing an area's gazetteer ----------------------------------------------------------------------


def install_gazetteer(area: Area, built_dir: str | Path, report: dict) -> None:
    """Replace ``area``'s gazetteer with the layers in ``built_dir`` (never merged with the old ones)."""
    if area.shipped:
        raise AreaError(
            "the shipped County Durham and Darlington gazetteer is package data: set your own area "
            "first (`hoth-geo area set --boundary FILE --name NAME`)"
        )
    src = Path(built_dir)
    dst = area.gazetteer_dir
    staging = dst.with_name(dst.name + ".new")
    if staging.exists():
        shutil.rmtree(staging)
    shutil.copytree(src, staging)
    (staging / BUILD_REPORT_FILE).write_text(
        json.dumps(report, indent=2, default=_json_default), encoding="utf-8"
    )
    old = dst.with_name(dst.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if dst.exists():
        dst.rename(old)
    staging.rename(dst)
    if old.exists():
        shutil.rmtree(old)
    from hoth_geo.intake import gazetteer as gz

    gz.forget_loaded()  # the folder's earlier (e.g. empty) layers must not be served again
    _gazetteer_cached.cache_clear()


def _json_default(value):
    if isinstance(value, np.integer | np.floating):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def boundary_geojson(area: Area) -> dict:
    """The area's boundary as a GeoJSON FeatureCollection (for maps)."""
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"name": area.name}, "geometry": mapping(area.boundary)}
        ],
    }
