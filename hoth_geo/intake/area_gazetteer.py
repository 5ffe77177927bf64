"""Build an area's gazetteer from the files a UK partnership downloads itself, as published.

Sources (each optional except Code-Point Open):

* **OS Code-Point Open**: the whole-GB zip as published (``Data/CSV/<area>.csv`` without a header
  row, the column names in ``Doc/Code-Point_Open_Column_Headers.csv``), or a folder holding that
  layout or the loose CSVs. Only postcodes inside the area plus ``buffer_m`` are kept; a bounding
  box on eastings/northings discards the rest of Great Britain before any reprojection.
* **police.uk street-level crime CSVs**: landmark map points ("On or near Supermarket") become
  generic places, "On or near <street>" rows become streets.
* **OpenStreetMap**: an ``.osm.pbf`` extract (read with pyosmium), GeoJSON (Overpass) or a
  GeoPackage, or an OSM CSV export: points of interest with a place type become places, and their
  ``addr:street`` tags streets.
* **OS Open Names** (optional): the CSV zip as published; its named roads become streets.
* **Localities** (the ward or town a place is in, which the geocoder uses to tell "Parking area,
  Central" in one town from another): a polygon file with names (e.g. ONS wards), else the area
  itself under its name.

Every source reports what was read, kept and skipped (and why) in the build report.
"""

from __future__ import annotations

import io
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from hoth_geo import schema
from hoth_geo.intake import gazetteer as gz
from hoth_geo.intake.area import Area, install_gazetteer
from hoth_geo.intake.gazetteer import BNG, WGS84
from hoth_geo.intake.parsers import grid_reference_square

__all__ = [
    "Progress",
    "DEFAULT_BUFFER_M",
    "SourceReport",
    "postcodes_for_area",
    "localities",
    "policeuk_for_area",
    "read_osm_pbf",
    "read_osm_gpkg",
    "read_osm_any",
    "osm_for_area",
    "OPEN_NAMES_COLUMNS",
    "grid_square_origin",
    "streets_from_open_names",
    "build_gazetteer_for_area",
    "ATTRIBUTIONS",
    "describe_report",
]

Progress = Callable[[float, str], None]

DEFAULT_BUFFER_M = 2_000.0  # the import's own buffer: a postcode an import accepts can be looked up


def _no_progress(_f: float, _m: str) -> None:
    return None


@dataclass
class SourceReport:
    """What one source contributed: rows read, kept, and skipped by reason."""

    source: str
    files: list[str] = field(default_factory=list)
    read: int = 0
    kept: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str, n: int) -> None:
        if n:
            self.skipped[reason] = self.skipped.get(reason, 0) + int(n)

    def describe(self) -> str:
        skipped = "; ".join(f"{n:,} {why}" for why, n in self.skipped.items()) or "none skipped"
        return f"{self.source}: read {self.read:,}, kept {self.kept:,} ({skipped})"

    def as_dict(self) -> dict:
        return {
            "source": self.source,
            "files": self.files,
            "read": self.read,
            "kept": self.kept,
            "skipped": self.skipped,
        }


# --- Geometry helpers ----------------------------------------------------------------------------------


def _buffered_bng(area: Area, buffer_m: float):
    return gpd.GeoSeries([area.boundary], crs=WGS84).to_crs(BNG).buffer(buffer_m).iloc[0]


def _inside(poly_wgs, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    lat = np.asarray(lat, float)
    lon = np.asarray(lon, float)
    ok = np.isfinite(lat) & np.isfinite(lon)
    out = np.zeros(len(lat), dtype=bool)
    shapely.prepare(poly_wgs)
    out[ok] = shapely.contains_xy(poly_wgs, lon[ok], lat[ok])
    return out


# --- Code-Point Open ---------------------------------------------------------------------------------------

_CP_CSV = re.compile(r"(^|/)Data/CSV/[^/]+\.csv$", re.I)
_CP_HEADERS = re.compile(r"(^|/)Doc/Code-Point_Open_Column_Headers\.csv$", re.I)


def _codepoint_members(source: Path) -> tuple[list[tuple[str, Callable[[], io.BufferedIOBase]]], list[str]]:
    """(data files as (name, opener), header names) from the zip, a folder in its layout, or loose CSVs."""
    if source.is_file() and source.suffix.lower() == ".zip":
        zf = zipfile.ZipFile(source)
        names = zf.namelist()
        data = sorted(n for n in names if _CP_CSV.search(n))
        heads = [n for n in names if _CP_HEADERS.search(n)]
        if not data:
            raise ValueError(
                f"--codepoint: {source.name} has no Data/CSV/*.csv: is it the Code-Point Open CSV zip "
                "as downloaded from the OS Data Hub?"
            )
        if heads:
            with zf.open(heads[0]) as fh:
                headers = _header_names(fh.read().decode("utf-8-sig"), f"{source.name}:{heads[0]}")
        else:
            headers = list(gz.CODEPOINT_DEFAULT_COLUMNS)
        return [(n, lambda n=n: zf.open(n)) for n in data], headers
    if source.is_dir():
        data_dir = source / "Data" / "CSV" if (source / "Data" / "CSV").is_dir() else source
        files = sorted(p for p in data_dir.glob("*.csv") if p.name != gz.CODEPOINT_HEADERS_FILE)
        head = next(
            (
                p
                for p in (source / "Doc" / gz.CODEPOINT_HEADERS_FILE, data_dir / gz.CODEPOINT_HEADERS_FILE)
                if p.is_file()
            ),
            None,
        )
        headers = gz.read_codepoint_headers(head) if head else list(gz.CODEPOINT_DEFAULT_COLUMNS)
        if not files:
            raise ValueError(f"--codepoint: no CSV files in {data_dir}")
        return [(p.name, lambda p=p: open(p, "rb")) for p in files], headers
    if source.is_file() and source.suffix.lower() == ".csv":
        head = source.parent / gz.CODEPOINT_HEADERS_FILE
        headers = gz.read_codepoint_headers(head) if head.is_file() else list(gz.CODEPOINT_DEFAULT_COLUMNS)
        return [(source.name, lambda: open(source, "rb"))], headers
    raise ValueError(f"--codepoint: {source} is not the Code-Point Open zip, its folder, or one of its CSVs")


def _header_names(text: str, where: str) -> list[str]:
    rows = [r for r in pd.read_csv(io.StringIO(text), header=None, dtype=str).values.tolist() if r]
    if len(rows) < 2:
        raise ValueError(f"{where}: expected a short-name row and a long-name row")
    return [str(c).strip() for c in rows[1]]


# The Code-Point columns the gazetteer uses (reading only these halves the time for the GB file).
_CP_USED = ["Postcode", "Positional_quality_indicator", "Eastings", "Northings", "Admin_district_code"]


def postcodes_for_area(
    sources: Sequence[str | Path],
    area: Area,
    *,
    buffer_m: float = DEFAULT_BUFFER_M,
    progress: Progress = _no_progress,
) -> tuple[pd.DataFrame, SourceReport]:
    """Code-Point Open postcodes inside ``area`` plus ``buffer_m`` (GAZETTEER_POSTCODE_COLUMNS)."""
    report = SourceReport("OS Code-Point Open")
    members: list[tuple[str, Callable]] = []
    headers: list[str] | None = None
    for s in sources:
        m, h = _codepoint_members(Path(s))
        members += m
        headers = headers or h
    poly_bng = _buffered_bng(area, buffer_m)
    shapely.prepare(poly_bng)
    minx, miny, maxx, maxy = poly_bng.bounds
    frames = []
    for i, (name, opener) in enumerate(members):
        progress(i / max(len(members), 1), f"Code-Point Open {name}")
        report.files.append(name)
        with opener() as fh:
            raw = pd.read_csv(
                fh, header=None, names=headers, usecols=_CP_USED, dtype=str, keep_default_na=False
            )
        report.read += len(raw)
        quality = pd.to_numeric(raw["Positional_quality_indicator"], errors="coerce")
        east = pd.to_numeric(raw["Eastings"], errors="coerce")
        north = pd.to_numeric(raw["Northings"], errors="coerce")
        no_loc = (
            (quality == gz.CODEPOINT_NO_LOCATION_QUALITY)
            | east.isna()
            | north.isna()
            | ((east <= 0) & (north <= 0))
        )
        report.skip("without a location (quality 90 or no coordinates)", int(no_loc.sum()))
        box = ~no_loc & (east >= minx) & (east <= maxx) & (north >= miny) & (north <= maxy)
        cand = raw[box.to_numpy()]
        inside = shapely.contains_xy(poly_bng, east[box].to_numpy(float), north[box].to_numpy(float))
        report.skip(f"outside {area.name} (+{buffer_m / 1000:g} km)", int((~no_loc).sum() - inside.sum()))
        if inside.any():
            frames.append(cand[inside])
    progress(1.0, "Code-Point Open read")
    if frames:
        kept = gz.postcodes_from_codepoint(pd.concat(frames, ignore_index=True))
    else:
        kept = gz.empty_layer(schema.GAZETTEER_POSTCODE_COLUMNS)
    n_before = sum(len(f) for f in frames)
    report.skip("repeated or malformed postcodes", n_before - len(kept))
    report.kept = len(kept)
    return kept, report


# --- Localities ---------------------------------------------------------------------------------------------

_NAME_COLUMNS = (
    "WD13NM", "WD14NM", "WD15NM", "WD16NM", "WD17NM", "WD18NM", "WD19NM", "WD20NM", "WD21NM", "WD22NM",
    "WD23NM", "WD24NM", "ward_name", "name", "NAME", "Name", "LAD23NM", "LAD22NM", "LAD21NM", "LSOA11NM",
)  # fmt: skip


def localities(area: Area, path: str | Path | None = None) -> gpd.GeoDataFrame:
    """Named locality polygons (column ward_name), clipped to the area; the area itself when no file."""
    if path is None:
        return gpd.GeoDataFrame({"ward_name": [area.name]}, geometry=[area.boundary], crs=WGS84)
    p = Path(path)
    src = f"zip://{p}" if p.suffix.lower() == ".zip" else str(p)
    gdf = gpd.read_file(src, engine="pyogrio")
    gdf = gdf.set_crs(WGS84) if gdf.crs is None else gdf.to_crs(WGS84)
    col = next((c for c in _NAME_COLUMNS if c in gdf.columns), None)
    if col is None:
        raise ValueError(
            f"--localities: {p.name} has no name column (one of {', '.join(_NAME_COLUMNS[:3])}, name)"
        )
    out = gpd.GeoDataFrame({"ward_name": gdf[col].astype(str)}, geometry=gdf.geometry.values, crs=WGS84)
    out = out[out.intersects(area.boundary)]
    if out.empty:
        raise ValueError(f"--localities: no polygon in {p.name} overlaps {area.name}")
    return out.reset_index(drop=True)


# --- police.uk -----------------------------------------------------------------------------------------------


def policeuk_for_area(
    paths: Sequence[str | Path],
    area: Area,
    locality_polygons: gpd.GeoDataFrame,
    postcodes: pd.DataFrame,
    *,
    progress: Progress = _no_progress,
) -> tuple[pd.DataFrame, pd.DataFrame, SourceReport]:
    """Landmark places and streets from police.uk street-level CSVs, kept to the area."""
    report = SourceReport("police.uk street-level crime")
    if not paths:
        return (
            gz.empty_layer(schema.GAZETTEER_PLACE_COLUMNS),
            gz.empty_layer(schema.GAZETTEER_STREET_COLUMNS),
            report,
        )
    frames = []
    for i, p in enumerate(paths):
        progress(i / len(paths), f"police.uk {Path(p).name}")
        frames.append(gz.read_policeuk([p]))
        report.files.append(Path(p).name)
    crimes = pd.concat(frames, ignore_index=True)
    report.read = len(crimes)
    lat = pd.to_numeric(crimes["Latitude"], errors="coerce").to_numpy()
    lon = pd.to_numeric(crimes["Longitude"], errors="coerce").to_numpy()
    no_point = ~(np.isfinite(lat) & np.isfinite(lon))
    report.skip("without coordinates", int(no_point.sum()))
    inside = _inside(area.boundary, lat, lon)
    report.skip(f"outside {area.name}", int((~no_point & ~inside).sum()))
    crimes = crimes[inside]
    parsed = gz.parse_policeuk_location(crimes["Location"])
    report.skip("with no usable location text", int(parsed["kind"].isna().sum()))
    places, streets = gz.policeuk_layers(crimes, locality_polygons, postcodes)
    report.kept = int(parsed["kind"].notna().sum())
    progress(1.0, "police.uk read")
    return places, streets, report


# --- OpenStreetMap ---------------------------------------------------------------------------------------------

# Tags that make an OSM object worth reading: a place type, or an address street.
_OSM_KEYS = (
    "amenity",
    "shop",
    "tourism",
    "leisure",
    "railway",
    "public_transport",
    "healthcare",
    "addr:street",
)


def read_osm_pbf(path: str | Path, bbox: tuple[float, float, float, float] | None = None) -> pd.DataFrame:
    """Points of interest from an ``.osm.pbf`` extract (pyosmium): nodes; ways at their centroid; and
    multipolygon relations (a park or a school mapped in several parts) assembled from their member
    ways, at a point inside them.

    Only objects with one of the tags in ``_OSM_KEYS`` are kept; ``bbox`` (min lon, min lat, max lon,
    max lat) skips objects outside it. Returns the OSM feature frame of ``gazetteer.read_osm``.
    """
    import osmium

    wanted = osmium.filter.KeyFilter(*_OSM_KEYS)
    # Areas are assembled in a second pass over the file, only for relations with a wanted key; a
    # closed way is read as a way below, so the area pyosmium also makes of it is skipped.
    fp = osmium.FileProcessor(str(path)).with_locations().with_areas(wanted).with_filter(wanted)
    wkb = osmium.geom.WKBFactory()
    rows = []
    for obj in fp:
        outline = None
        if obj.is_node():
            if not obj.location.valid():
                continue
            lon, lat = obj.location.lon, obj.location.lat
            kind, oid = "node", obj.id
        elif obj.is_way():
            coords = [(n.location.lon, n.location.lat) for n in obj.nodes if n.location.valid()]
            if not coords:
                continue
            if len(coords) >= 4 and coords[0] == coords[-1]:
                outline = shapely.Polygon(coords)
            else:
                outline = shapely.LineString(coords) if len(coords) > 1 else shapely.Point(coords[0])
            c = outline.centroid
            lon, lat = c.x, c.y
            kind, oid = "way", obj.id
        elif obj.is_area() and not obj.from_way():
            try:
                outline = shapely.from_wkb(wkb.create_multipolygon(obj))
            except osmium.InvalidLocationError:  # a member's node is not in the extract
                continue
            # A point inside it: the centroid of a park in two parts can fall between them.
            c = outline.representative_point()
            lon, lat = c.x, c.y
            kind, oid = "relation", obj.orig_id()
        else:
            continue  # the relation itself (its area is read above), or a closed way's area
        if bbox is not None and not (bbox[0] <= lon <= bbox[2] and bbox[1] <= lat <= bbox[3]):
            continue
        radius = gz.outline_radius_m(outline, lat, lon)
        tags = {t.k: t.v for t in obj.tags if not (kind == "relation" and t.k == "type")}
        rows.append((kind, str(oid), lat, lon, tags, radius))
    return pd.DataFrame(rows, columns=gz.OSM_FEATURE_COLUMNS)


def read_osm_gpkg(path: str | Path) -> pd.DataFrame:
    """OSM points of interest saved as a GeoPackage (e.g. by QGIS or ogr2ogr): one column per tag,
    an id column (osm_id, @id or id), any geometry (reduced to a point)."""
    gdf = gpd.read_file(path, engine="pyogrio")
    gdf = gdf.set_crs(WGS84) if gdf.crs is None else gdf.to_crs(WGS84)
    id_col = next((c for c in ("osm_id", "@id", "id", "full_id") if c in gdf.columns), None)
    if id_col is None:
        raise ValueError(f"--osm: {Path(path).name} has no OSM id column (osm_id, @id or id)")
    typ_col = "osm_type" if "osm_type" in gdf.columns else None
    pts = gdf.geometry.representative_point()
    rows = []
    tag_cols = [c for c in gdf.columns if c not in (id_col, typ_col, "geometry", "osm_url", "other_tags")]
    for i, rec in enumerate(gdf[tag_cols].to_dict("records")):
        raw = str(gdf[id_col].iloc[i])
        m = re.match(r"^(node|way|relation)/(\d+)$", raw) or re.match(r"^([nwr])(\d+)$", raw)
        if m:
            kind = {"n": "node", "w": "way", "r": "relation"}.get(m.group(1), m.group(1))
            oid = m.group(2)
        else:
            kind = (
                str(gdf[typ_col].iloc[i]).lower()
                if typ_col
                else ("node" if gdf.geometry.iloc[i].geom_type == "Point" else "way")
            )
            oid = raw.split(".")[0]
        tags = {k: str(v) for k, v in rec.items() if v is not None and str(v) not in ("", "nan", "None")}
        pt, outline = pts.iloc[i], gdf.geometry.iloc[i]
        rows.append((kind, oid, pt.y, pt.x, tags, gz.outline_radius_m(outline, pt.y, pt.x)))
    return pd.DataFrame(rows, columns=gz.OSM_FEATURE_COLUMNS)


def read_osm_any(paths: Iterable[str | Path], bbox=None) -> pd.DataFrame:
    """Named places from OpenStreetMap extracts (.osm.pbf, GeoPackage, GeoJSON or CSV), optionally
    within ``bbox``."""
    frames = []
    for p in paths:
        p = Path(p)
        if not p.is_file():
            raise ValueError(f"--osm: {p} does not exist")
        name = p.name.lower()
        if name.endswith(".osm.pbf") or name.endswith(".pbf"):
            frames.append(read_osm_pbf(p, bbox))
        elif name.endswith(".gpkg"):
            frames.append(read_osm_gpkg(p))
        elif name.endswith((".geojson", ".json", ".csv")):
            frames.append(gz.read_osm([p]))
        else:
            raise ValueError(f"--osm: {p.name} is not .osm.pbf, .geojson, .gpkg or .csv")
    if not frames:
        return pd.DataFrame(columns=gz.OSM_FEATURE_COLUMNS)
    df = pd.concat(frames, ignore_index=True)
    return df.drop_duplicates(["osm_type", "osm_id"], keep="first", ignore_index=True)


def osm_for_area(
    paths: Sequence[str | Path],
    area: Area,
    locality_polygons: gpd.GeoDataFrame,
    postcodes: pd.DataFrame,
    *,
    progress: Progress = _no_progress,
) -> tuple[pd.DataFrame, pd.DataFrame, SourceReport]:
    """Places of interest and address streets from OSM files, kept to the area."""
    report = SourceReport("OpenStreetMap")
    if not paths:
        return (
            gz.empty_layer(schema.GAZETTEER_PLACE_COLUMNS),
            gz.empty_layer(schema.GAZETTEER_STREET_COLUMNS),
            report,
        )
    progress(0.0, "OpenStreetMap")
    minx, miny, maxx, maxy = area.boundary.bounds
    features = read_osm_any(paths, bbox=(minx - 0.05, miny - 0.05, maxx + 0.05, maxy + 0.05))
    report.files = [Path(p).name for p in paths]
    report.read = len(features)
    inside = _inside(
        area.boundary, features["latitude"].to_numpy(float), features["longitude"].to_numpy(float)
    )
    report.skip(f"outside {area.name}", int((~inside).sum()))
    features = features[inside].reset_index(drop=True)
    places = gz.places_from_osm_features(features, postcodes=postcodes, wards=locality_polygons)
    streets = gz.streets_from_osm_features(features)
    report.skip(
        "without a place type or address street", len(features) - len(places) - _street_only(features)
    )
    report.kept = len(features) - report.skipped.get("without a place type or address street", 0)
    progress(1.0, "OpenStreetMap read")
    return places, streets, report


def _street_only(features: pd.DataFrame) -> int:
    return int(sum(1 for t in features["tags"] if t.get("addr:street") and gz.osm_place_type(t) is None))


# --- OS Open Names (optional) -----------------------------------------------------------------------------

OPEN_NAMES_COLUMNS: tuple[str, ...] = (
    "ID", "NAMES_URI", "NAME1", "NAME1_LANG", "NAME2", "NAME2_LANG", "TYPE", "LOCAL_TYPE",
    "GEOMETRY_X", "GEOMETRY_Y", "MOST_DETAIL_VIEW_RES", "LEAST_DETAIL_VIEW_RES",
    "MBR_XMIN", "MBR_YMIN", "MBR_XMAX", "MBR_YMAX", "POSTCODE_DISTRICT", "POSTCODE_DISTRICT_URI",
    "POPULATED_PLACE", "POPULATED_PLACE_URI", "POPULATED_PLACE_TYPE", "DISTRICT_BOROUGH",
    "DISTRICT_BOROUGH_URI", "DISTRICT_BOROUGH_TYPE", "COUNTY_UNITARY", "COUNTY_UNITARY_URI",
    "COUNTY_UNITARY_TYPE", "REGION", "REGION_URI", "COUNTRY", "COUNTRY_URI",
    "RELATED_SPATIAL_OBJECT", "SAME_AS_DBPEDIA", "SAME_AS_GEONAMES",
)  # fmt: skip
_ON_DATA = re.compile(r"(^|/)Data/([A-Z]{2}\d{2})\.csv$", re.I)
_ON_HEADER = re.compile(r"(^|/)Doc/[^/]*Header[^/]*\.csv$", re.I)


def grid_square_origin(ref: str) -> tuple[int, int] | None:
    """South-west corner (easting, northing) in metres of an OS 10 km square such as 'NZ21', or None
    for a name that is not a square of the grid."""
    square = grid_reference_square(ref, min_digits=2)
    return None if square is None else square[:2]


def streets_from_open_names(
    sources: Sequence[str | Path],
    area: Area,
    locality_polygons: gpd.GeoDataFrame,
    *,
    progress: Progress = _no_progress,
) -> tuple[pd.DataFrame, SourceReport]:
    """Named roads from OS Open Names (the CSV zip as published: ``Data/<square>.csv`` without a
    header row per 10 km square, the column names in ``Doc/*Header*.csv``), kept to the area.

    Only the 10 km squares that touch the area are read. Roads become streets (one point per named
    road section) in the locality they fall in, else in Open Names' own populated place.
    """
    report = SourceReport("OS Open Names")
    poly_bng = _buffered_bng(area, 0.0)
    minx, miny, maxx, maxy = poly_bng.bounds
    members: list[tuple[str, Callable]] = []
    headers: list[str] = list(OPEN_NAMES_COLUMNS)
    for src in sources:
        src = Path(src)
        if src.suffix.lower() != ".zip":
            raise ValueError(f"--open-names: {src.name} is not the OS Open Names CSV zip")
        zf = zipfile.ZipFile(src)
        for n in zf.namelist():
            if _ON_HEADER.search(n):
                with zf.open(n) as fh:
                    first = fh.read().decode("utf-8-sig").splitlines()[0]
                headers = [c.strip() for c in first.split(",")]
        for n in zf.namelist():
            m = _ON_DATA.search(n)
            if not m:
                continue
            origin = grid_square_origin(m.group(2))
            if origin is None:
                continue  # not a square of the grid: no roads of the area in it
            e0, n0 = origin
            if e0 > maxx or e0 + 10_000 < minx or n0 > maxy or n0 + 10_000 < miny:
                continue  # a 10 km square away from the area: not even opened
            members.append((n, lambda n=n, zf=zf: zf.open(n)))
    if not members and sources:
        raise ValueError(
            f"--open-names: no Data/<square>.csv in {', '.join(Path(s).name for s in sources)} touches {area.name}"
        )
    frames = []
    for i, (name, opener) in enumerate(members):
        progress(i / max(len(members), 1), f"OS Open Names {name}")
        report.files.append(name)
        with opener() as fh:
            raw = pd.read_csv(fh, header=None, names=headers, dtype=str, keep_default_na=False)
        report.read += len(raw)
        roads = raw[(raw["TYPE"] == "transportNetwork") & (raw["LOCAL_TYPE"] == "Named Road")]
        report.skip("not a named road (places, road numbers, postcodes, ...)", len(raw) - len(roads))
        x = pd.to_numeric(roads["GEOMETRY_X"], errors="coerce").to_numpy(float)
        y = pd.to_numeric(roads["GEOMETRY_Y"], errors="coerce").to_numpy(float)
        ok = np.isfinite(x) & np.isfinite(y)
        inside = np.zeros(len(roads), dtype=bool)
        inside[ok] = shapely.contains_xy(poly_bng, x[ok], y[ok])
        report.skip(f"outside {area.name}", int((~inside).sum()))
        frames.append(roads[inside].assign(_x=x[inside], _y=y[inside]))
    progress(1.0, "OS Open Names read")
    roads = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if roads.empty:
        return gz.empty_layer(schema.GAZETTEER_STREET_COLUMNS), report
    lon, lat = gz.bng_to_wgs84(roads["_x"].to_numpy(), roads["_y"].to_numpy())
    loc = gz.assign_locality(lat, lon, locality_polygons)
    own = roads["POPULATED_PLACE"].replace("", None).to_numpy(dtype=object)
    loc = np.where(pd.notna(loc), loc, own)
    streets = pd.DataFrame(
        {
            "street": roads["NAME1"].str.strip().to_numpy(),
            "locality": loc,
            "latitude": np.round(lat, gz.COORD_DP),
            "longitude": np.round(lon, gz.COORD_DP),
            "n_points": np.ones(len(roads), dtype=np.int64),
        }
    )
    report.kept = len(streets)
    return _merge_streets([streets]), report


# --- The whole build ---------------------------------------------------------------------------------------------


def _merge_streets(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    if not frames:
        return gz.empty_layer(schema.GAZETTEER_STREET_COLUMNS)
    df = pd.concat(frames, ignore_index=True)
    df["locality"] = df["locality"].fillna("")
    w = df["n_points"].astype(float)
    df["_wlat"] = df["latitude"] * w
    df["_wlon"] = df["longitude"] * w
    g = df.groupby(["street", "locality"], sort=True)
    out = pd.DataFrame(
        {
            "latitude": (g["_wlat"].sum() / g["n_points"].sum()).round(gz.COORD_DP),
            "longitude": (g["_wlon"].sum() / g["n_points"].sum()).round(gz.COORD_DP),
            "n_points": g["n_points"].sum().astype("int64"),
        }
    ).reset_index()
    out["locality"] = out["locality"].astype(object).where(out["locality"] != "", None)
    return out[list(schema.GAZETTEER_STREET_COLUMNS)]


def build_gazetteer_for_area(
    area: Area,
    *,
    codepoint: Sequence[str | Path],
    policeuk: Sequence[str | Path] = (),
    osm: Sequence[str | Path] = (),
    open_names: Sequence[str | Path] = (),
    localities_path: str | Path | None = None,
    buffer_m: float = DEFAULT_BUFFER_M,
    progress: Progress = _no_progress,
) -> dict:
    """Build ``area``'s gazetteer from the given sources and install it (replacing any earlier one).

    Returns the build report: per source what was read, kept and skipped, and rows per layer.
    """
    if not codepoint:
        raise ValueError("--codepoint: the OS Code-Point Open zip (or its folder) is required")
    loc = localities(area, localities_path)
    postcodes, cp_report = postcodes_for_area(
        codepoint, area, buffer_m=buffer_m, progress=lambda f, m: progress(0.5 * f, m)
    )
    pu_places, pu_streets, pu_report = policeuk_for_area(
        policeuk, area, loc, postcodes, progress=lambda f, m: progress(0.5 + 0.25 * f, m)
    )
    osm_places, osm_streets, osm_report = osm_for_area(
        osm, area, loc, postcodes, progress=lambda f, m: progress(0.75 + 0.1 * f, m)
    )
    on_streets, on_report = (
        streets_from_open_names(open_names, area, loc, progress=lambda f, m: progress(0.85 + 0.1 * f, m))
        if open_names
        else (gz.empty_layer(schema.GAZETTEER_STREET_COLUMNS), SourceReport("OS Open Names"))
    )
    places = pd.concat([f for f in (pu_places, osm_places) if not f.empty] or [pu_places], ignore_index=True)
    places = places.drop_duplicates("place_id", keep="first").sort_values("place_id", ignore_index=True)
    streets = _merge_streets([pu_streets, osm_streets, on_streets])
    with tempfile.TemporaryDirectory() as tmp:
        counts = gz.write_gazetteer({"postcodes": postcodes, "places": places, "streets": streets}, tmp)
        report = {
            "area_id": area.area_id,
            "area_name": area.name,
            "built_at": datetime.now(UTC).isoformat(),  # to the microsecond: imports are compared with it
            "buffer_m": buffer_m,
            "localities": str(Path(localities_path).name) if localities_path else f"the area ({area.name})",
            "layers": counts,
            "sources": [r.as_dict() for r in (cp_report, pu_report, osm_report, on_report) if r.files],
        }
        progress(0.97, "installing the gazetteer")
        install_gazetteer(area, tmp, report)
    progress(1.0, "gazetteer built")
    return report


# The attribution each source's licence asks for, shown with the area's gazetteer (About page).
ATTRIBUTIONS: dict[str, str] = {
    "OS Code-Point Open": "Contains OS data © Crown copyright and database right; Royal Mail data © Royal Mail "
    "copyright and database right; National Statistics data © Crown copyright and database right "
    "(OS OpenData, Open Government Licence v3.0).",
    "police.uk street-level crime": "Contains public sector information licensed under the Open Government "
    "Licence v3.0.",
    "OpenStreetMap": "© OpenStreetMap contributors (Open Database Licence 1.0).",
    "OS Open Names": "Contains OS data © Crown copyright and database right (OS OpenData, Open Government "
    "Licence v3.0).",
}


def describe_report(report: dict) -> list[str]:
    """Lines for the CLI and the Area page."""
    lines = []
    for s in report["sources"]:
        r = SourceReport(s["source"], s["files"], s["read"], s["kept"], s["skipped"])
        lines.append(r.describe())
    layers = report["layers"]
    lines.append(
        f"gazetteer for {report['area_name']}: {layers['postcodes']:,} postcodes, "
        f"{layers['places']:,} places, {layers['streets']:,} streets"
    )
    return lines
