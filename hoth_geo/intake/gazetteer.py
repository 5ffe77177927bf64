"""The gazetteer of places and spaces: postcodes, streets and landmark places, plus the study area.

Three layers, each a small Arrow IPC file (``<layer>.arrow``, zstd) in ``settings.GAZETTEER_DIR``:

* postcodes (OS Code-Point Open unit centroids, converted from British National Grid to WGS84);
* places (police.uk landmark map points with generic names, and OpenStreetMap points of interest
  when an area builds its own gazetteer from an OSM export);
* streets (street names with a representative point per locality).

The functions here are pure (DataFrames in, DataFrames out); the readers and writers at the bottom of
each section are the only code that touches files.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.feather
import shapely
from pyproj import Geod, Transformer
from shapely.geometry import MultiPolygon, Polygon, shape

from hoth_geo import schema, settings

__all__ = [
    "WGS84",
    "BNG",
    "DURHAM_LAD_CODES",
    "COORD_DP",
    "CODEPOINT_DEFAULT_COLUMNS",
    "CODEPOINT_HEADERS_FILE",
    "CODEPOINT_NO_LOCATION_QUALITY",
    "normalise_postcode",
    "postcode_sector",
    "postcode_district",
    "bng_to_wgs84",
    "wgs84_to_bng",
    "read_codepoint_headers",
    "read_codepoint",
    "postcodes_from_codepoint",
    "local_metres",
    "nearest_postcode_district",
    "unit_radii",
    "landmark_radii",
    "outline_radius_m",
    "OSM_FEATURE_COLUMNS",
    "PLACE_MIN_RADIUS_M",
    "OPTIONAL_LAYER_COLUMNS",
    "UNIT_MIN_RADIUS_M",
    "centroids",
    "read_boundary_features",
    "wards_frame",
    "study_area_from",
    "build_boundaries",
    "read_polygon",
    "load_study_area",
    "assign_locality",
    "POLICEUK_LANDMARK_TYPES",
    "read_policeuk",
    "parse_policeuk_location",
    "policeuk_layers",
    "osm_place_type",
    "read_osm_csv",
    "read_osm_geojson",
    "read_osm",
    "places_from_osm_features",
    "places_from_osm",
    "streets_from_osm_features",
    "write_gazetteer",
    "Gazetteer",
    "load_gazetteer",
    "build_area_gazetteer",
    "LAYER_COLUMNS",
    "LAYER_SUFFIX",
    "layer_path",
    "empty_layer",
    "forget_loaded",
]

WGS84 = "EPSG:4326"
BNG = "EPSG:27700"

# County Durham and Darlington: the shipped study area.
DURHAM_LAD_CODES: tuple[str, ...] = ("E06000047", "E06000005")

# Coordinates are stored to 6 dp (~0.1 m): finer than any source, coarse enough to compress well.
COORD_DP = 6

# The published Code-Point Open column names, used when the headers file is not beside the data.
CODEPOINT_DEFAULT_COLUMNS: tuple[str, ...] = (
    "Postcode",
    "Positional_quality_indicator",
    "Eastings",
    "Northings",
    "Country_code",
    "NHS_regional_HA_code",
    "NHS_HA_code",
    "Admin_county_code",
    "Admin_district_code",
    "Admin_ward_code",
)
CODEPOINT_HEADERS_FILE = "Code-Point_Open_Column_Headers.csv"
# Quality 90 means "no coordinates": Code-Point places these postcodes at 0,0.
CODEPOINT_NO_LOCATION_QUALITY = 90

# --- Postcodes ------------------------------------------------------------------------------------

# Outward code (A9, A99, AA9, AA99, A9A, AA9A) then inward code (9AA); GIR 0AA is the one oddity.
_POSTCODE_RE = r"^(?P<out>[A-Z]{1,2}[0-9][A-Z0-9]?|GIR)(?P<inw>[0-9][A-Z]{2})$"


def normalise_postcode(series: pd.Series | Iterable[object]) -> pd.Series:
    """Postcodes in any spacing or case -> 'DH1 1AB' form; None where the value is not a postcode.

    Vectorised: accepts a Series (index kept) or any iterable of values.
    """
    s = series if isinstance(series, pd.Series) else pd.Series(list(series), dtype=object)
    text = s.astype(object).where(s.notna(), None)
    squashed = text.map(lambda v: re.sub(r"\s+", "", str(v)).upper() if v is not None else "")
    parts = squashed.str.extract(_POSTCODE_RE)
    out = (parts["out"] + " " + parts["inw"]).astype(object)
    return out.where(parts["out"].notna(), None)


def _postcode_part(pc: object, n_inward_chars: int) -> pd.Series | str | None:
    if isinstance(pc, pd.Series):
        norm = normalise_postcode(pc)
        cut = norm.str[: -3 + n_inward_chars] if n_inward_chars else norm.str.split(" ").str[0]
        return cut.astype(object).where(norm.notna(), None)
    norm = normalise_postcode([pc]).iloc[0]
    if norm is None:
        return None
    return norm[: -3 + n_inward_chars] if n_inward_chars else norm.split(" ")[0]


def postcode_sector(pc: object) -> pd.Series | str | None:
    """'dh11ab' -> 'DH1 1' (outward code + first inward digit); a Series maps element-wise."""
    return _postcode_part(pc, 1)


def postcode_district(pc: object) -> pd.Series | str | None:
    """'dh11ab' -> 'DH1' (the outward code); a Series maps element-wise."""
    return _postcode_part(pc, 0)


@functools.lru_cache(maxsize=4)
def _transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


def bng_to_wgs84(easting: Sequence[float] | np.ndarray, northing: Sequence[float] | np.ndarray):
    """British National Grid eastings/northings -> (longitude, latitude) numpy arrays."""
    lon, lat = _transformer(BNG, WGS84).transform(
        np.asarray(easting, dtype="float64"), np.asarray(northing, dtype="float64")
    )
    return np.asarray(lon), np.asarray(lat)


def wgs84_to_bng(longitude, latitude):
    """(longitude, latitude) -> (easting, northing) numpy arrays in British National Grid."""
    e, n = _transformer(WGS84, BNG).transform(
        np.asarray(longitude, dtype="float64"), np.asarray(latitude, dtype="float64")
    )
    return np.asarray(e), np.asarray(n)


def read_codepoint_headers(path: str | Path) -> list[str]:
    """The column names from Code-Point_Open_Column_Headers.csv (second row holds the long names)."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = [r for r in csv.reader(fh) if r]
    if len(rows) < 2:
        raise ValueError(f"{path}: expected a short-name row and a long-name row, found {len(rows)} rows")
    return [c.strip() for c in rows[1]]


def read_codepoint(paths: Iterable[str | Path], headers: Sequence[str] | None = None) -> pd.DataFrame:
    """Read Code-Point Open CSVs (no header row) into one raw frame with the published column names.

    ``headers`` defaults to the headers file beside the first data file, then the published names.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("codepoint_paths: no Code-Point Open files given")
    if headers is None:
        sibling = paths[0].parent / CODEPOINT_HEADERS_FILE
        headers = read_codepoint_headers(sibling) if sibling.exists() else list(CODEPOINT_DEFAULT_COLUMNS)
    frames = []
    for p in paths:
        if not p.exists():
            raise FileNotFoundError(f"codepoint_paths: {p} does not exist")
        frames.append(pd.read_csv(p, header=None, names=list(headers), dtype=str, keep_default_na=False))
    return pd.concat(frames, ignore_index=True)


def postcodes_from_codepoint(raw: pd.DataFrame, lad_codes: Iterable[str] | None = None) -> pd.DataFrame:
    """Raw Code-Point rows -> GAZETTEER_POSTCODE_COLUMNS, optionally kept to some local authorities.

    Postcodes with no location (quality 90, placed at 0,0) are dropped, as are duplicates.
    """
    for col in ("Postcode", "Positional_quality_indicator", "Eastings", "Northings", "Admin_district_code"):
        if col not in raw.columns:
            raise ValueError(f"Code-Point frame is missing column {col!r}; has {list(raw.columns)}")
    df = raw
    if lad_codes is not None:
        df = df[df["Admin_district_code"].isin(list(lad_codes))]
    quality = pd.to_numeric(df["Positional_quality_indicator"], errors="coerce")
    east = pd.to_numeric(df["Eastings"], errors="coerce")
    north = pd.to_numeric(df["Northings"], errors="coerce")
    located = (
        (quality != CODEPOINT_NO_LOCATION_QUALITY) & east.notna() & north.notna() & ((east > 0) | (north > 0))
    )
    df, east, north = df[located], east[located], north[located]
    lon, lat = bng_to_wgs84(east.to_numpy(), north.to_numpy())
    out = pd.DataFrame(
        {
            "postcode": normalise_postcode(df["Postcode"]).to_numpy(),
            "latitude": np.round(lat, COORD_DP),
            "longitude": np.round(lon, COORD_DP),
            "easting": east.to_numpy(dtype="float64"),
            "northing": north.to_numpy(dtype="float64"),
            "lad_code": df["Admin_district_code"].to_numpy(),
        }
    )
    out = out.dropna(subset=["postcode"]).drop_duplicates("postcode")
    return out.sort_values("postcode", ignore_index=True)[list(schema.GAZETTEER_POSTCODE_COLUMNS)]


def local_metres(lat: np.ndarray, lon: np.ndarray, lat0: float) -> np.ndarray:
    """Equirectangular metres about ``lat0``: accurate to well under 1% across a county."""
    return np.column_stack(
        [np.radians(lon) * 6_371_008.8 * np.cos(np.radians(lat0)), np.radians(lat) * 6_371_008.8]
    )


# A unit's point is the middle of its addresses, itself good to about this much (a town street's units
# are ~60 m apart): no unit is stated tighter.
UNIT_MIN_RADIUS_M = 100.0


def unit_radii(postcodes: pd.DataFrame, min_radius_m: float = UNIT_MIN_RADIUS_M) -> np.ndarray:
    """How far each postcode unit's addresses may lie from its point, in metres: the distance to the
    nearest other unit's point (one at another place: several units may share one building's point), at
    least ``min_radius_m``.

    Code-Point Open gives a unit one point and no extent. The addresses of a unit lie nearer its own
    point than the neighbours', so the gap to the nearest neighbour is about as far as they reach: the
    floor in a town, where units are a few dozen metres apart, and a kilometre or more for a farm in the
    dales, which a fixed 100 m would have stated as precisely as a terrace."""
    out = np.full(len(postcodes), float(min_radius_m))
    lat = postcodes["latitude"].to_numpy(dtype="float64")
    lon = postcodes["longitude"].to_numpy(dtype="float64")
    ok = np.isfinite(lat) & np.isfinite(lon)
    if ok.sum() < 2:
        return out
    xy = local_metres(lat[ok], lon[ok], float(np.mean(lat[ok])))
    out[ok] = np.maximum(np.round(_gap_to_next_point(xy)), min_radius_m)
    return out


# A landmark's map point stands for a place: no place is stated tighter than this (a shop, a petrol
# station's forecourt).
PLACE_MIN_RADIUS_M = 30.0


def landmark_radii(
    landmarks: pd.DataFrame, map_points: pd.DataFrame, min_radius_m: float = PLACE_MIN_RADIUS_M
) -> np.ndarray:
    """How far each police.uk landmark's place may reach from its map point, in metres: the distance to
    the nearest other map point (a street's or another landmark's, more than a metre away), at least
    ``min_radius_m``.

    police.uk puts a landmark's point over the place (a park, a supermarket, a bus station) and gives it
    no extent; the map points around it stand for the streets and places beside it, so the gap to the
    nearest is about as far as the place reaches: tens of metres for a town-centre shop, hundreds for
    playing fields, which a fixed 30 m would state as precisely as a doorway. ``map_points`` are every
    distinct point of the police.uk files read (latitude, longitude); only points where crimes were
    recorded are known, so the gap errs wide, never narrow."""
    out = np.full(len(landmarks), float(min_radius_m))
    pts = map_points[["latitude", "longitude"]].dropna().drop_duplicates()
    lat = landmarks["latitude"].to_numpy(dtype="float64")
    lon = landmarks["longitude"].to_numpy(dtype="float64")
    ok = np.isfinite(lat) & np.isfinite(lon)
    if len(pts) < 2 or not ok.any():
        return out
    from scipy.spatial import cKDTree

    plat, plon = pts["latitude"].to_numpy(), pts["longitude"].to_numpy()
    # Flat metres find the nearest point; its distance is then measured on the ellipsoid, because a
    # county's span of latitude skews flat east-west metres by up to 1 %.
    lat0 = float(lat[ok].mean())
    tree = cKDTree(local_metres(plat, plon, lat0))
    near, idx = tree.query(local_metres(lat[ok], lon[ok], lat0), k=min(_SHARED_POINT_NEIGHBOURS, len(pts)))
    near, idx = np.atleast_2d(near), np.atleast_2d(idx)
    apart = near > 1.0
    found = apart.any(axis=1)
    nearest = idx[np.arange(len(idx)), apart.argmax(axis=1)][found]
    metres = Geod(ellps="WGS84").inv(lon[ok][found], lat[ok][found], plon[nearest], plat[nearest])[2]
    gap = np.full(int(ok.sum()), float(min_radius_m))
    gap[found] = np.maximum(np.round(metres), min_radius_m)
    out[ok] = gap
    return out


# Units looked at around one that shares its point: more than share any one point in Code-Point Open for
# a town (a large user's building may hold a dozen); past them the unit keeps the floor.
_SHARED_POINT_NEIGHBOURS = 32


def _gap_to_next_point(xy: np.ndarray) -> np.ndarray:
    """Distance from each point to the nearest other point more than a metre away (0 where none is
    among the nearest ``_SHARED_POINT_NEIGHBOURS``). Two neighbours each first, so memory stays small at
    a whole country's 1.7 million units; only points sharing their place with another look further."""
    from scipy.spatial import cKDTree

    tree = cKDTree(xy)
    dist, _ = tree.query(xy, k=2)
    gap = dist[:, 1].copy()
    shared = np.flatnonzero(gap <= 1.0)
    if len(shared):
        near, _ = tree.query(xy[shared], k=min(_SHARED_POINT_NEIGHBOURS, len(xy)))
        apart = np.where(near > 1.0, near, np.inf).min(axis=1)
        gap[shared] = np.where(np.isfinite(apart), apart, 0.0)
    return gap


def nearest_postcode_district(
    latitude: Sequence[float] | np.ndarray,
    longitude: Sequence[float] | np.ndarray,
    postcodes: pd.DataFrame,
    max_distance_m: float = 2_000,
) -> np.ndarray:
    """The district ('DH1') of the nearest postcode centroid to each point; None beyond ``max_distance_m``.

    The distance cap stops a point in another area from borrowing a far-off district.
    """
    lat = np.asarray(latitude, dtype="float64")
    lon = np.asarray(longitude, dtype="float64")
    out = np.full(len(lat), None, dtype=object)
    if len(lat) == 0 or postcodes.empty:
        return out
    lat0 = float(np.nanmean(postcodes["latitude"]))
    ref = local_metres(postcodes["latitude"].to_numpy(), postcodes["longitude"].to_numpy(), lat0)
    tree = shapely.STRtree(shapely.points(ref))
    ok = np.isfinite(lat) & np.isfinite(lon)
    query = shapely.points(local_metres(lat[ok], lon[ok], lat0))
    (qi, idx), dist = tree.query_nearest(query, return_distance=True, all_matches=False)
    districts = postcode_district(postcodes["postcode"].reset_index(drop=True)).to_numpy()
    found = np.full(len(query), None, dtype=object)
    found[qi] = np.where(dist <= max_distance_m, districts[idx], None)
    out[ok] = found
    return out


def centroids(postcodes: pd.DataFrame, level: str, min_radius_m: float = 100.0) -> pd.DataFrame:
    """Sector or district centroids of postcode units, with a precision radius.

    ``level`` is 'sector' or 'district'. The centroid is the mean of the member units' points; radius_m
    is as far as any member unit reaches from it: the unit's distance from the centroid plus its own
    radius (``radius_m`` of ``postcodes`` where given, else ``min_radius_m``), at least ``min_radius_m``.
    A report that names only a sector may be at any address in it, so no member is left outside (a
    percentile would leave the farthest units' addresses beyond the stated radius).
    """
    if level not in ("sector", "district"):
        raise ValueError(f"level: expected 'sector' or 'district', got {level!r}")
    cols = [level, "latitude", "longitude", "n_postcodes", "radius_m"]
    if postcodes.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64" if c != level else object) for c in cols})
    keyfn = postcode_sector if level == "sector" else postcode_district
    unit_radius = (
        pd.to_numeric(postcodes["radius_m"], errors="coerce").fillna(min_radius_m).to_numpy(dtype="float64")
        if "radius_m" in postcodes.columns
        else np.full(len(postcodes), float(min_radius_m))
    )
    df = pd.DataFrame(
        {
            level: keyfn(postcodes["postcode"]).to_numpy(),
            "latitude": postcodes["latitude"].to_numpy(dtype="float64"),
            "longitude": postcodes["longitude"].to_numpy(dtype="float64"),
            "unit_radius": np.maximum(unit_radius, min_radius_m),
        }
    ).dropna()
    g = df.groupby(level, sort=True)
    cen = g[["latitude", "longitude"]].mean()
    cen["n_postcodes"] = g.size().astype("int64")
    joined = df.join(
        cen[["latitude", "longitude"]].rename(columns={"latitude": "latitude_c", "longitude": "longitude_c"}),
        on=level,
    )
    lat0 = np.radians(joined["latitude_c"].to_numpy())
    dy = np.radians(joined["latitude"].to_numpy() - joined["latitude_c"].to_numpy()) * 6_371_008.8
    dx = (
        np.radians(joined["longitude"].to_numpy() - joined["longitude_c"].to_numpy())
        * 6_371_008.8
        * np.cos(lat0)
    )
    joined["reach"] = np.hypot(dx, dy) + joined["unit_radius"].to_numpy()
    cen["radius_m"] = np.maximum(joined.groupby(level)["reach"].max(), min_radius_m).round(0)
    cen[["latitude", "longitude"]] = cen[["latitude", "longitude"]].round(COORD_DP)
    return cen.reset_index()[cols]


# --- Boundaries -----------------------------------------------------------------------------------


def read_boundary_features(paths: Iterable[str | Path]) -> gpd.GeoDataFrame:
    """Read one or more polygon GeoJSON files into a single WGS84 GeoDataFrame."""
    frames = []
    for p in paths:
        gdf = gpd.read_file(p)
        gdf = gdf.set_crs(WGS84) if gdf.crs is None else gdf.to_crs(WGS84)
        frames.append(gdf)
    if not frames:
        raise ValueError("no boundary files given")
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=WGS84)


def wards_frame(ward_features: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Ward polygons with plain column names: ward_code, ward_name, geometry (2013 'WD13*' properties)."""
    code = _first_column(ward_features, ("WD13CD", "WD14CD", "WD15CD", "WD16CD", "WD17CD", "ward_code"))
    name = _first_column(ward_features, ("WD13NM", "WD14NM", "WD15NM", "WD16NM", "WD17NM", "ward_name"))
    return gpd.GeoDataFrame(
        {"ward_code": ward_features[code].astype(str), "ward_name": ward_features[name].astype(str)},
        geometry=ward_features.geometry.values,
        crs=ward_features.crs,
    )


def _first_column(df: pd.DataFrame, candidates: Sequence[str]) -> str:
    for c in candidates:
        if c in df.columns:
            return c
    raise ValueError(f"boundary file has none of the columns {list(candidates)}; has {list(df.columns)}")


def _round_coords(geom, dp: int = 5):
    return shapely.transform(geom, lambda xy: np.round(xy, dp))


def _simplified(gdf: gpd.GeoDataFrame, tolerance_m: float) -> gpd.GeoSeries:
    """Simplify shared edges once (coverage simplification) so neighbouring polygons stay gap-free."""
    bng = gdf.geometry.to_crs(BNG).make_valid()
    simple = shapely.coverage_simplify(bng.values, tolerance_m)
    return gpd.GeoSeries(simple, crs=BNG).to_crs(WGS84)


def _write_geojson(gdf: gpd.GeoDataFrame, path: Path, dp: int = 5) -> None:
    feats = []
    for props, geom in zip(gdf.drop(columns="geometry").to_dict("records"), gdf.geometry, strict=True):
        g = shapely.make_valid(_round_coords(geom, dp))
        feats.append({"type": "Feature", "properties": props, "geometry": json.loads(shapely.to_geojson(g))})
    doc = {"type": "FeatureCollection", "features": feats}
    path.write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")


def study_area_from(polygons: gpd.GeoDataFrame, tolerance_m: float = 20.0):
    """Union of polygons, simplified by ``tolerance_m`` metres, as a WGS84 (Multi)Polygon."""
    bng = polygons.geometry.to_crs(BNG).make_valid()
    # Neighbouring source polygons do not meet exactly: close the hairline gaps before dissolving,
    # then drop the slivers and pinholes that remain (under a hectare).
    union = shapely.union_all(bng.values).buffer(1.0).buffer(-1.0)
    union = _drop_small_rings(_polygonal(union), min_area_m2=10_000)
    simple = shapely.simplify(union, tolerance_m, preserve_topology=True)
    out = gpd.GeoSeries([simple], crs=BNG).to_crs(WGS84).iloc[0]
    return _polygonal(out)


def _drop_small_rings(geom, min_area_m2: float):
    parts = []
    for poly in getattr(geom, "geoms", [geom]):
        if poly.area < min_area_m2:
            continue
        holes = [r for r in poly.interiors if Polygon(r).area >= min_area_m2]
        parts.append(Polygon(poly.exterior, holes))
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def _polygonal(geom):
    if isinstance(geom, Polygon | MultiPolygon):
        return geom
    polys = [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon | MultiPolygon)]
    return shapely.union_all(polys)


def build_boundaries(
    shared_boundaries_dir: str | Path,
    out_dir: str | Path = settings.BOUNDARIES_DIR,
    lad_codes: Sequence[str] = DURHAM_LAD_CODES,
    tolerance_m: float = 20.0,
    lsoa_tolerance_m: float = 65.0,
) -> dict[str, int]:
    """Write study_area.geojson, wards.geojson and lsoa.geojson (EPSG:4326, 5 dp) for ``lad_codes``.

    Polygons are simplified by ``tolerance_m`` metres (LSOAs, five times as many and already generalised at source, by
    ``lsoa_tolerance_m``) with shared edges kept shared, so each file stays a few hundred KB.

    Reads the martinjc 'statistical_eng_lsoa_by_lad_<code>.json' and
    'electoral_eng_wards_by_lad_<code>.json' files. Returns feature counts per file.
    """
    src = Path(shared_boundaries_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lsoa_paths = [src / f"statistical_eng_lsoa_by_lad_{c}.json" for c in lad_codes]
    ward_paths = [src / f"electoral_eng_wards_by_lad_{c}.json" for c in lad_codes]
    for p in lsoa_paths + ward_paths:
        if not p.exists():
            raise FileNotFoundError(f"shared_boundaries_dir: expected {p.name} in {src}")
    lsoa_raw = read_boundary_features(lsoa_paths)
    lsoa = gpd.GeoDataFrame(
        {
            "lsoa_code": lsoa_raw[_first_column(lsoa_raw, ("LSOA11CD", "lsoa_code"))].astype(str),
            "lsoa_name": lsoa_raw[_first_column(lsoa_raw, ("LSOA11NM", "lsoa_name"))].astype(str),
        },
        geometry=_simplified(lsoa_raw, lsoa_tolerance_m).values,
        crs=WGS84,
    )
    wards_raw = wards_frame(read_boundary_features(ward_paths))
    wards = gpd.GeoDataFrame(
        wards_raw[["ward_code", "ward_name"]],
        geometry=_simplified(wards_raw, tolerance_m).values,
        crs=WGS84,
    )
    area = study_area_from(lsoa_raw, tolerance_m)
    _write_geojson(lsoa.sort_values("lsoa_code"), out / "lsoa.geojson")
    _write_geojson(wards.sort_values("ward_code"), out / "wards.geojson")
    _write_geojson(
        gpd.GeoDataFrame(
            {"name": ["study area"], "lad_codes": [",".join(lad_codes)]}, geometry=[area], crs=WGS84
        ),
        out / "study_area.geojson",
    )
    return {"study_area": 1, "wards": len(wards), "lsoa": len(lsoa)}


def read_polygon(path: str | Path):
    """Union of every polygon in a GeoJSON (or any file pyogrio reads), in WGS84."""
    return _polygonal(shapely.union_all(read_boundary_features([path]).geometry.values))


def load_study_area(path: str | Path | None = None):
    """The shipped study area (data/boundaries/study_area.geojson) as a WGS84 (Multi)Polygon."""
    p = Path(path) if path is not None else settings.BOUNDARIES_DIR / "study_area.geojson"
    return _load_polygon_cached(str(p.resolve()))


@functools.lru_cache(maxsize=8)
def _load_polygon_cached(path: str):
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    geoms = [shape(f["geometry"]) for f in doc["features"] if f.get("geometry")]
    return _polygonal(shapely.union_all(geoms))


def assign_locality(
    latitude: Sequence[float] | np.ndarray,
    longitude: Sequence[float] | np.ndarray,
    wards: gpd.GeoDataFrame,
    snap_m: float = 100.0,
) -> np.ndarray:
    """The ward name each point falls in; points within ``snap_m`` of a ward take the nearest one
    (boundary slivers), and anything further out is None (outside the study area)."""
    pts = gpd.GeoDataFrame(
        geometry=gpd.points_from_xy(np.asarray(longitude, float), np.asarray(latitude, float)), crs=WGS84
    )
    out = np.full(len(pts), None, dtype=object)
    if len(pts) == 0:
        return out
    w = wards[["ward_name", "geometry"]].to_crs(WGS84)
    hit = gpd.sjoin(pts, w, how="left", predicate="within")
    hit = hit[~hit.index.duplicated(keep="first")]
    out[:] = hit["ward_name"].astype(object).where(hit["ward_name"].notna(), None).to_numpy()
    missing = np.flatnonzero(pd.isna(out) & np.isfinite(pts.geometry.x.to_numpy()))
    if len(missing) and snap_m > 0:
        near = gpd.sjoin_nearest(
            pts.iloc[missing].to_crs(BNG), w.to_crs(BNG), how="left", max_distance=snap_m
        )
        near = near[~near.index.duplicated(keep="first")]
        out[missing] = near["ward_name"].astype(object).where(near["ward_name"].notna(), None).to_numpy()
    return out


# --- police.uk street-level crime: streets and landmark map points ------------------------------

# The landmark table lives in the vocabulary (schema), shared with the police.uk context layer.
POLICEUK_LANDMARK_TYPES = schema.POLICEUK_LANDMARK_TYPES


def read_policeuk(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Read police.uk street-level CSVs (one per force-month) into one frame."""
    frames = [pd.read_csv(p, dtype={"Longitude": "float64", "Latitude": "float64"}) for p in paths]
    if not frames:
        raise ValueError("no police.uk files given")
    df = pd.concat(frames, ignore_index=True)
    for col in ("Longitude", "Latitude", "Location"):
        if col not in df.columns:
            raise ValueError(f"police.uk file is missing column {col!r}; has {list(df.columns)}")
    return df


def _tidy_street(name: pd.Series) -> pd.Series:
    # police.uk title-cases names, turning "Salter's Lane" into "Salter'S Lane".
    return name.str.replace(r"(?<=\w)'S\b", "'s", regex=True).str.strip()


def parse_policeuk_location(location: pd.Series) -> pd.DataFrame:
    """Split 'On or near <X>' into kind ('landmark'|'street'|None), landmark type, place type, street.

    X is a landmark when it is one of police.uk's place types; 'No Location' and blanks give None.
    """
    text = location.astype(object).where(location.notna(), "").astype(str).str.strip()
    x = text.str.replace(r"^on or near\s+", "", regex=True, flags=re.I).str.strip()
    canon = schema.policeuk_landmark(x)
    empty = (x == "") | x.str.casefold().isin(["no location", "none"])
    is_landmark = canon.notna()
    kind = np.where(empty, None, np.where(is_landmark, "landmark", "street"))
    return pd.DataFrame(
        {
            "kind": pd.Series(kind, index=location.index, dtype=object),
            "landmark_type": canon.astype(object).where(is_landmark, None),
            "place_type": canon.map(POLICEUK_LANDMARK_TYPES).astype(object).where(is_landmark, None),
            "street": _tidy_street(x).astype(object).where(~is_landmark & ~empty, None),
        },
        index=location.index,
    )


def _short_hash(*parts: object, n: int = 12) -> str:
    return hashlib.sha1("|".join(str(p) for p in parts).encode("utf-8")).hexdigest()[:n]


def _generic_name(kind_label: str, locality: object) -> str:
    label = kind_label[:1].upper() + kind_label[1:].lower()
    return f"{label}, {locality}" if locality else label


def policeuk_layers(
    crimes: pd.DataFrame, wards: gpd.GeoDataFrame, postcodes: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """police.uk rows -> (places, streets) frames with the gazetteer contract columns.

    Rows without coordinates and rows outside every ward (the study area) are dropped. Landmarks
    become one place per map point and type, named generically from type and ward, never a business.
    Streets are one row per (street, ward): the mean of its distinct map points, and how many.
    """
    parsed = parse_policeuk_location(crimes["Location"])
    pts = pd.DataFrame(
        {
            "latitude": pd.to_numeric(crimes["Latitude"], errors="coerce").round(COORD_DP),
            "longitude": pd.to_numeric(crimes["Longitude"], errors="coerce").round(COORD_DP),
        }
    ).join(parsed)
    all_points = pts[["latitude", "longitude"]]
    pts = pts.dropna(subset=["latitude", "longitude", "kind"])
    # Many crimes share one anonymised map point: locate each distinct point once.
    pts = pts.drop_duplicates(["latitude", "longitude", "kind", "landmark_type", "street"], ignore_index=True)
    pts["locality"] = assign_locality(pts["latitude"], pts["longitude"], wards)
    pts = pts[pts["locality"].notna()].reset_index(drop=True)

    lm = pts[pts["kind"] == "landmark"].reset_index(drop=True)
    places = pd.DataFrame(
        {
            "place_id": [
                f"pu:{_short_hash(f'{a:.6f}', f'{o:.6f}', t)}"
                for a, o, t in zip(lm["latitude"], lm["longitude"], lm["landmark_type"], strict=True)
            ],
            "name": [
                _generic_name(t, loc) for t, loc in zip(lm["landmark_type"], lm["locality"], strict=True)
            ],
            "place_type": lm["place_type"].to_numpy(),
            "latitude": lm["latitude"].to_numpy(dtype="float64"),
            "longitude": lm["longitude"].to_numpy(dtype="float64"),
            "locality": lm["locality"].to_numpy(),
            "postcode_district": nearest_postcode_district(lm["latitude"], lm["longitude"], postcodes),
            "source": "policeuk_landmark",
            # Every map point read bounds a landmark's reach, those just outside the area too.
            "radius_m": landmark_radii(lm, all_points),
        }
    )
    places = places.drop_duplicates("place_id").sort_values("place_id", ignore_index=True)

    st = pts[pts["kind"] == "street"]
    g = st.groupby(["street", "locality"], sort=True)
    streets = g[["latitude", "longitude"]].mean().round(COORD_DP)
    streets["n_points"] = g.size().astype("int64")
    streets = streets.reset_index()[list(schema.GAZETTEER_STREET_COLUMNS)]
    return places[[*schema.GAZETTEER_PLACE_COLUMNS, "radius_m"]], streets


# --- OpenStreetMap --------------------------------------------------------------------------------

_OSM_AMENITY = {
    "fast_food": "takeaway",
    # Cafes and ice-cream parlours are where young people gather like takeaways, not restaurants.
    "cafe": "takeaway",
    "ice_cream": "takeaway",
    "food_court": "takeaway",
    "taxi": "taxi",
    "school": "school",
    "college": "school",
    "university": "school",
    "bus_station": "transport_hub",
    "ferry_terminal": "transport_hub",
    "parking": "car_park",
    "pub": "licensed_premises",
    "bar": "licensed_premises",
    "nightclub": "licensed_premises",
    "biergarten": "licensed_premises",
    "fuel": "petrol_station",
    "hospital": "health",
    "clinic": "health",
    "doctors": "health",
    "pharmacy": "health",
    "cinema": "leisure",
    "theatre": "leisure",
}
_OSM_TOURISM = {
    "hotel": "hotel",
    "guest_house": "hotel",
    "motel": "hotel",
    "hostel": "hotel",
    "apartment": "hotel",
    "aparthotel": "hotel",
    "theme_park": "leisure",
    "zoo": "leisure",
}
_OSM_LEISURE = {
    "park": "park",
    "playground": "park",
    "recreation_ground": "park",
    "common": "park",
    "sports_centre": "leisure",
    "pitch": "leisure",
    "fitness_centre": "leisure",
    "stadium": "leisure",
    "sports_hall": "leisure",
    "swimming_pool": "leisure",
    "ice_rink": "leisure",
    "bowling_alley": "leisure",
    "amusement_arcade": "leisure",
}
_OSM_TRANSPORT = {("railway", "station"), ("railway", "halt"), ("public_transport", "station")}
_OSM_SHOP_NONE = {"vacant", "no", "disused"}


def osm_place_type(tags: Mapping[str, object]) -> str | None:
    """The PLACE_TYPES key for an OpenStreetMap feature's tags, or None when it is not a place of interest.

    Checked in order: amenity, tourism, railway/public_transport, leisure, healthcare, shop, so that a
    fuel station with a shop is a petrol station and a restaurant doing takeaway only is a takeaway.
    """

    def tag(k: str) -> str:
        v = tags.get(k)
        return "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip().lower()

    amenity = tag("amenity")
    if amenity in _OSM_AMENITY:
        return _OSM_AMENITY[amenity]
    if amenity == "restaurant" and tag("takeaway") == "only":
        return "takeaway"
    tourism = tag("tourism")
    if tourism in _OSM_TOURISM:
        return _OSM_TOURISM[tourism]
    for k, v in _OSM_TRANSPORT:
        if tag(k) == v:
            return "transport_hub"
    leisure = tag("leisure")
    if leisure in _OSM_LEISURE:
        return _OSM_LEISURE[leisure]
    if tag("healthcare") in ("hospital", "clinic", "doctor"):
        return "health"
    shop = tag("shop")
    if shop in ("mall", "department_store"):
        return "shopping_centre"
    if shop and shop not in _OSM_SHOP_NONE:
        return "shop"
    return None


# Columns of OSM CSV exports that are not tags.
_OSM_CSV_META = {"osm_id", "osm_type", "osm_url", "lat", "lon"}


def outline_radius_m(geom, latitude: float, longitude: float) -> float:
    """How far an OpenStreetMap outline (a way, a polygon) reaches from the point its place is put at:
    the distance to its farthest vertex, in metres on the ellipsoid; NaN for a point, which says
    nothing of the place's size."""
    if geom is None or geom.is_empty or geom.geom_type in ("Point", "MultiPoint"):
        return float("nan")
    xy = shapely.get_coordinates(geom)
    if not len(xy):
        return float("nan")
    lon0, lat0 = np.full(len(xy), float(longitude)), np.full(len(xy), float(latitude))
    return float(np.max(Geod(ellps="WGS84").inv(lon0, lat0, xy[:, 0], xy[:, 1])[2]))


def read_osm_csv(path: str | Path) -> pd.DataFrame:
    """An OSM CSV export (osm_id, osm_type, lat, lon, then one column per tag) -> osm feature frame.

    Output columns: osm_type, osm_id, latitude, longitude, tags (dict of non-empty tags), radius_m (NaN:
    a CSV gives points only).
    """
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    for col in ("osm_id", "osm_type", "lat", "lon"):
        if col not in df.columns:
            raise ValueError(f"{path}: OSM CSV is missing column {col!r}; has {list(df.columns)}")
    tag_cols = [c for c in df.columns if c not in _OSM_CSV_META]
    records = df[tag_cols].to_dict("records")
    return pd.DataFrame(
        {
            "osm_type": df["osm_type"].str.strip().str.lower().to_numpy(),
            "osm_id": df["osm_id"].str.strip().to_numpy(),
            "latitude": pd.to_numeric(df["lat"], errors="coerce").to_numpy(),
            "longitude": pd.to_numeric(df["lon"], errors="coerce").to_numpy(),
            "tags": [{k: v for k, v in r.items() if v != ""} for r in records],
            "radius_m": np.nan,
        }
    )


def read_osm_geojson(path: str | Path) -> pd.DataFrame:
    """An Overpass GeoJSON export -> osm feature frame (as ``read_osm_csv``).

    Ids may be 'node/123', '@id' properties, or bare numbers; bare numbers are typed from the geometry
    (a point is a node, an outline a way). Outlines are reduced to their centroid, with how far they
    reach from it (``outline_radius_m``).
    """
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    rows = []
    for i, f in enumerate(doc.get("features", [])):
        props = f.get("properties") or {}
        geom = f.get("geometry")
        if not geom:
            continue
        g = shape(geom)
        if g.geom_type == "LineString" and g.is_closed and len(g.coords) >= 4:
            g = Polygon(g.coords)
        pt = g if g.geom_type == "Point" else g.centroid
        raw_id = str(f.get("id") or props.get("@id") or props.get("id") or "")
        m = re.match(r"^(node|way|relation)/(\d+)$", raw_id)
        if m:
            osm_type, osm_id = m.group(1), m.group(2)
        elif raw_id.isdigit():
            osm_type, osm_id = ("node" if g.geom_type == "Point" else "way"), raw_id
        else:
            raise ValueError(f"{path}: feature {i} has no usable OSM id (got {raw_id!r})")
        tags = props.get("tags") if isinstance(props.get("tags"), dict) else props
        tags = {k: str(v) for k, v in tags.items() if not k.startswith("@") and v not in (None, "")}
        rows.append((osm_type, osm_id, pt.y, pt.x, tags, outline_radius_m(g, pt.y, pt.x)))
    return pd.DataFrame(rows, columns=OSM_FEATURE_COLUMNS)


def read_osm(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Read OSM exports (.csv or .geojson/.json), de-duplicated on (osm_type, osm_id), first file wins."""
    frames = []
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise FileNotFoundError(f"osm_paths: {p} does not exist")
        suffix = p.suffix.lower()
        if suffix == ".csv":
            frames.append(read_osm_csv(p))
        elif suffix in (".geojson", ".json"):
            frames.append(read_osm_geojson(p))
        else:
            raise ValueError(f"osm_paths: {p} is neither .csv nor .geojson")
    if not frames:
        raise ValueError("osm_paths: no OSM files given")
    df = pd.concat(frames, ignore_index=True)
    return df.drop_duplicates(["osm_type", "osm_id"], keep="first", ignore_index=True)


# The OSM feature frame every reader returns; radius_m is how far an outline reaches (NaN for a point).
OSM_FEATURE_COLUMNS = ["osm_type", "osm_id", "latitude", "longitude", "tags", "radius_m"]


def _osm_locality(tags: Mapping[str, str]) -> str | None:
    for k in ("addr:city", "addr:town", "addr:village", "addr:place", "addr:locality", "addr:suburb"):
        if tags.get(k):
            return str(tags[k]).strip()
    return None


def places_from_osm_features(
    features: pd.DataFrame,
    postcodes: pd.DataFrame | None = None,
    wards: gpd.GeoDataFrame | None = None,
) -> pd.DataFrame:
    """OSM feature frame -> GAZETTEER_PLACE_COLUMNS and radius_m, keeping only features with a place type.

    locality is the ward the point falls in when wards are given, else the address town; the postcode
    district comes from the feature's own addr:postcode, else the nearest postcode centroid. radius_m
    is how far an outline reaches (at least PLACE_MIN_RADIUS_M), NaN for a point.
    """
    f = features.dropna(subset=["latitude", "longitude"]).copy()
    f["place_type"] = [osm_place_type(t) for t in f["tags"]]
    f = f[f["place_type"].notna()].reset_index(drop=True)
    lat = f["latitude"].to_numpy(dtype="float64")
    lon = f["longitude"].to_numpy(dtype="float64")
    loc = np.array([_osm_locality(t) for t in f["tags"]], dtype=object)
    if wards is not None and len(f):
        ward_loc = assign_locality(lat, lon, wards)
        loc = np.where(pd.notna(ward_loc), ward_loc, loc)
    district = postcode_district(
        pd.Series([t.get("addr:postcode") or t.get("postal_code") for t in f["tags"]], dtype=object)
    ).to_numpy()
    if postcodes is not None and len(f):
        near = nearest_postcode_district(lat, lon, postcodes)
        district = np.where(pd.notna(district), district, near)
    names = []
    for tags, pt, lc in zip(f["tags"], f["place_type"], loc, strict=True):
        name = str(tags.get("name") or tags.get("name:en") or "").strip()
        names.append(name or _generic_name(schema.PLACE_TYPES[pt].split(" (")[0], lc))
    out = pd.DataFrame(
        {
            "place_id": ("osm:" + f["osm_type"] + "/" + f["osm_id"].astype(str)).to_numpy(),
            "name": names,
            "place_type": f["place_type"].to_numpy(),
            "latitude": np.round(lat, COORD_DP),
            "longitude": np.round(lon, COORD_DP),
            "locality": pd.Series(loc, dtype=object).where(pd.notna(loc), None).to_numpy(),
            "postcode_district": pd.Series(district, dtype=object).where(pd.notna(district), None).to_numpy(),
            "source": "osm",
            "radius_m": _floored_radius(
                f["radius_m"] if "radius_m" in f.columns else pd.Series(np.nan, f.index)
            ),
        }
    )
    return out.drop_duplicates("place_id").sort_values("place_id", ignore_index=True)[
        [*schema.GAZETTEER_PLACE_COLUMNS, "radius_m"]
    ]


def _floored_radius(radius: pd.Series) -> np.ndarray:
    r = pd.to_numeric(radius, errors="coerce").to_numpy(dtype="float64")
    return np.where(np.isfinite(r), np.maximum(np.round(r), PLACE_MIN_RADIUS_M), np.nan)


def places_from_osm(
    paths: Iterable[str | Path],
    postcodes: pd.DataFrame | None = None,
    wards: gpd.GeoDataFrame | None = None,
) -> pd.DataFrame:
    """Read OSM exports (CSV or Overpass GeoJSON) and return gazetteer places ('osm:<type>/<id>')."""
    return places_from_osm_features(read_osm(paths), postcodes=postcodes, wards=wards)


def streets_from_osm_features(features: pd.DataFrame) -> pd.DataFrame:
    """Streets named in OSM addresses (addr:street), one row per (street, town): mean point, count."""
    rows = [
        (str(t["addr:street"]).strip(), _osm_locality(t), a, o)
        for t, a, o in zip(features["tags"], features["latitude"], features["longitude"], strict=True)
        if t.get("addr:street") and np.isfinite(a) and np.isfinite(o)
    ]
    df = pd.DataFrame(rows, columns=["street", "locality", "latitude", "longitude"])
    if df.empty:
        return empty_layer(schema.GAZETTEER_STREET_COLUMNS)
    df["locality"] = df["locality"].fillna("")
    g = df.groupby(["street", "locality"], sort=True)
    out = g[["latitude", "longitude"]].mean().round(COORD_DP)
    out["n_points"] = g.size().astype("int64")
    out = out.reset_index()
    out["locality"] = out["locality"].astype(object).where(out["locality"] != "", None)
    return out[list(schema.GAZETTEER_STREET_COLUMNS)]


# --- Files ----------------------------------------------------------------------------------------

# Each gazetteer layer (one file) and its columns.
LAYER_COLUMNS = {
    "postcodes": schema.GAZETTEER_POSTCODE_COLUMNS,
    "places": schema.GAZETTEER_PLACE_COLUMNS,
    "streets": schema.GAZETTEER_STREET_COLUMNS,
}
# Columns a layer may carry beyond its contract, kept when present: a place's own radius in metres (a
# police.uk landmark's, ``landmark_radii``), which places stored elsewhere (demo venues, analysts'
# places) do not have. A gazetteer built without it states every place at PLACE_MIN_RADIUS_M.
OPTIONAL_LAYER_COLUMNS = {"places": ("radius_m",)}
_FLOAT_COLS = {"latitude", "longitude", "easting", "northing", "radius_m"}

# Layers are Arrow IPC files: reading them uses the Arrow library the app has loaded anyway, where
# parquet would load Arrow's parquet and dataset libraries into every app process (~45 MB of its
# resident memory for ~4 MB of gazetteer). Gazetteers built before 2026-12 are parquet files; they
# are still read, and replaced when the gazetteer is built again.
LAYER_SUFFIX = ".arrow"
_EARLIER_LAYER_SUFFIX = ".parquet"


def layer_path(directory: str | Path, name: str) -> Path | None:
    """The file holding gazetteer layer ``name`` in ``directory`` (Arrow, else an earlier build's
    parquet), or None when the layer has no file there."""
    for suffix in (LAYER_SUFFIX, _EARLIER_LAYER_SUFFIX):
        p = Path(directory) / f"{name}{suffix}"
        if p.is_file():
            return p
    return None


def _read_layer(path: Path) -> pd.DataFrame:
    if path.suffix == _EARLIER_LAYER_SUFFIX:
        return pd.read_parquet(path)
    return pyarrow.feather.read_table(path).to_pandas()


def empty_layer(columns: Sequence[str]) -> pd.DataFrame:
    """A zero-row gazetteer layer with ``columns`` and the dtypes the stored layers have."""
    return pd.DataFrame(
        {
            c: pd.Series(dtype="float64" if c in _FLOAT_COLS else "int64" if c == "n_points" else object)
            for c in columns
        }
    )


def _conform(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    cols = LAYER_COLUMNS[name]
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise ValueError(f"{name}: missing columns {missing}; expected {list(cols)}")
    cols = [*cols, *(c for c in OPTIONAL_LAYER_COLUMNS.get(name, ()) if c in frame.columns)]
    out = frame[cols].copy()
    for c in cols:
        if c in _FLOAT_COLS:
            out[c] = pd.to_numeric(out[c], errors="raise").astype("float64")
            if c in ("latitude", "longitude"):
                out[c] = out[c].round(COORD_DP)
        elif c == "n_points":
            out[c] = out[c].astype("int64")
        else:
            out[c] = out[c].astype(object).where(out[c].notna(), None)
    if name == "places":
        bad = out["place_type"][~out["place_type"].isin(list(schema.PLACE_TYPES))]
        if len(bad):
            raise ValueError(
                f"places: row {bad.index[0]} has place_type {bad.iloc[0]!r}, not a PLACE_TYPES key"
            )
        dup = out["place_id"][out["place_id"].duplicated()]
        if len(dup):
            raise ValueError(f"places: place_id {dup.iloc[0]!r} occurs more than once")
    return out.reset_index(drop=True)


def write_gazetteer(frames: Mapping[str, pd.DataFrame], out_dir: str | Path) -> dict[str, int]:
    """Write the 'postcodes', 'places' and 'streets' frames as Arrow IPC files (zstd); returns rows
    per layer.

    A layer not given is written empty so the directory always loads. An earlier build's parquet file
    of a layer is removed, so the directory holds one version of each layer.
    """
    unknown = set(frames) - set(LAYER_COLUMNS)
    if unknown:
        raise ValueError(f"frames: unknown layer(s) {sorted(unknown)}; expected {list(LAYER_COLUMNS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for name, cols in LAYER_COLUMNS.items():
        df = _conform(name, frames[name]) if name in frames else empty_layer(cols)
        pyarrow.feather.write_feather(df, out / f"{name}{LAYER_SUFFIX}", compression="zstd")
        (out / f"{name}{_EARLIER_LAYER_SUFFIX}").unlink(missing_ok=True)
        counts[name] = len(df)
    _load_cached.cache_clear()
    return counts


@dataclass(frozen=True, eq=False)
class Gazetteer:
    """The loaded gazetteer. Frames are shared between callers (cached): treat them as read-only."""

    postcodes: pd.DataFrame
    places: pd.DataFrame
    streets: pd.DataFrame
    sectors: pd.DataFrame
    districts: pd.DataFrame
    study_area: Polygon | MultiPolygon | None
    # The area the gazetteer covers, as messages name it ("outside County Durham and Darlington").
    area_name: str = settings.DEFAULT_AREA_NAME
    area_id: str = settings.DEFAULT_AREA_ID


def load_gazetteer(directory: str | Path = settings.GAZETTEER_DIR) -> Gazetteer:
    """Load (once per directory and build) the gazetteer's layer files plus derived sector/district centroids.

    The study area is study_area.geojson in the directory itself, else in the sibling 'boundaries'
    folder (the shipped layout); None when neither exists.
    """
    d = Path(directory).resolve()
    # Keyed by the layer files' times too: another process (an app instance, the command line) may
    # have rebuilt the folder since this one read it, and its new files must be read, not the old ones.
    stamp = max((p.stat().st_mtime_ns for p in (layer_path(d, n) for n in LAYER_COLUMNS) if p), default=0)
    return _load_cached(str(d), stamp)


def forget_loaded() -> None:
    """Drop every gazetteer ``load_gazetteer`` has cached, so the next load reads the files again
    (after a gazetteer folder was rewritten in place)."""
    _load_cached.cache_clear()


@functools.lru_cache(maxsize=8)
def _load_cached(directory: str, _stamp: int) -> Gazetteer:
    d = Path(directory)
    if not d.is_dir():
        raise FileNotFoundError(f"gazetteer directory {d} does not exist; run `hoth-geo build-gazetteer`")
    layers = {}
    for name, cols in LAYER_COLUMNS.items():
        p = layer_path(d, name)
        layers[name] = _conform(name, _read_layer(p)) if p is not None else empty_layer(cols)
    area = None
    for candidate in (d / "study_area.geojson", d.parent / "boundaries" / "study_area.geojson"):
        if candidate.exists():
            area = _load_polygon_cached(str(candidate.resolve()))
            break
    # Each unit's radius from its neighbours, before any clipping to an area (neighbours over the
    # boundary still bound a unit's reach).
    postcodes = layers["postcodes"].assign(radius_m=unit_radii(layers["postcodes"]))
    return Gazetteer(
        postcodes=postcodes,
        places=layers["places"],
        streets=layers["streets"],
        sectors=centroids(postcodes, "sector"),
        districts=centroids(postcodes, "district"),
        study_area=area,
    )


def _within(df: pd.DataFrame, area) -> pd.Series:
    if df.empty:
        return pd.Series(dtype=bool)
    inside = shapely.contains_xy(area, df["longitude"].to_numpy(), df["latitude"].to_numpy())
    return pd.Series(inside, index=df.index)


def build_area_gazetteer(
    osm_paths: Sequence[str | Path],
    codepoint_paths: Sequence[str | Path],
    out_dir: str | Path,
    boundary_path: str | Path | None = None,
    lad_codes: Sequence[str] | None = None,
) -> dict[str, int]:
    """Build a gazetteer for any area from an OpenStreetMap export and OS Code-Point Open files.

    OSM_PATHS are OSM points-of-interest exports: CSV (osm_id, osm_type, lat, lon and one column per
    tag, e.g. amenity, shop, tourism) or Overpass GeoJSON. CODEPOINT_PATHS are Code-Point Open CSVs
    (no header row; the column-headers file is read from beside them when present).

    Postcodes are kept to LAD_CODES (Code-Point's Admin_district_code, e.g. E06000047) and/or to
    the polygons in BOUNDARY_PATH (GeoJSON); places and address streets are clipped to the boundary
    too. Places are OSM features with a place type (takeaways, hotels, shops, parks, schools,
    transport hubs, ...), keeping their real OSM names; streets come from their addr:street tags.
    When a boundary is given it is also written to OUT_DIR/study_area.geojson.

    Writes postcodes.arrow, places.arrow and streets.arrow to OUT_DIR and returns the number
    of rows in each layer.
    """
    postcodes = postcodes_from_codepoint(read_codepoint(codepoint_paths), lad_codes=lad_codes)
    features = read_osm(osm_paths)
    area = None
    if boundary_path is not None:
        area = read_polygon(boundary_path)
        postcodes = postcodes[_within(postcodes, area)]
        features = features.dropna(subset=["latitude", "longitude"])
        features = features[_within(features, area)]
    places = places_from_osm_features(features, postcodes=postcodes)
    streets = streets_from_osm_features(features)
    counts = write_gazetteer({"postcodes": postcodes, "places": places, "streets": streets}, out_dir)
    if area is not None:
        _write_geojson(
            gpd.GeoDataFrame({"name": ["study area"]}, geometry=[area], crs=WGS84),
            Path(out_dir) / "study_area.geojson",
            dp=COORD_DP,
        )
        _load_cached.cache_clear()
    return counts
