"""Geocoding cascade: put each normalised report onto a point and, where possible, a place.

Order, best first, recorded per report as ``geocode_method`` with a confidence (0-1) and a precision
radius in metres:

1. coordinates given: WGS84 latitude/longitude or British National Grid easting/northing (pyproj);
   swapped latitude/longitude is corrected when only the swapped pair lies in the study area;
   points outside the study area are quarantined;
2. a place name matched against the gazetteer (rapidfuzz), disambiguated by postcode district,
   locality named in the location text and place type; an ambiguous match is never guessed;
3. the postcode centroid, falling back to the sector centroid for an unknown unit in a known sector,
   and to sector/district centroids when only a partial postcode ('DH1 4', 'DH1') was given;
4. a street named in the location text, disambiguated by locality;
5. otherwise the row is quarantined as needing a location, for an analyst to resolve in Review.

'Online' is a setting, not a point: online reports are stored and counted, never located.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import shapely
from rapidfuzz import fuzz, process, utils
from scipy.spatial import cKDTree
from shapely.geometry.base import BaseGeometry

from hoth_geo import settings
from hoth_geo.gazetteer import bng_to_wgs84, local_metres, wgs84_to_bng
from hoth_geo.hexes import latlng_to_cells
from hoth_geo.schema import CANONICAL_COLUMNS, GEOCODED_COLUMNS

# Confidence and precision per method. Coordinates are as good as the reporter's device or map click.
_COORD_PRECISION_M = 10.0
_POSTCODE_PRECISION_M = 100.0
_STREET_PRECISION_M = 300.0
_PLACE_PRECISION_M = 30.0
CONFIDENCE = {
    "coordinates_wgs84": 0.95,
    "coordinates_bng": 0.95,
    "place_name": 0.85,
    "postcode": 0.8,
    "postcode_sector": 0.5,
    "postcode_district": 0.3,
    "street": 0.5,
    "analyst": 0.9,
}

# Place types that a point report is linked to the nearest gazetteer place of (not streets/online).
_LINKABLE_TYPES = frozenset(
    {
        "park",
        "hotel",
        "takeaway",
        "taxi",
        "shop",
        "shopping_centre",
        "school",
        "transport_hub",
        "car_park",
        "licensed_premises",
        "leisure",
        "petrol_station",
        "health",
    }
)

_SECTOR_RE = re.compile(r"^([A-Z]{1,2}[0-9][0-9A-Z]?) ?([0-9])$")
_DISTRICT_RE = re.compile(r"^[A-Z]{1,2}[0-9][0-9A-Z]?$")


@dataclass(frozen=True)
class GeocodeResult:
    located: pd.DataFrame  # canonical columns + GEOCODED_COLUMNS
    quarantine: pd.DataFrame  # row_number, reason, field, value, payload


# --- Study area ----------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _buffered_area(area_wkb: bytes, buffer_m: float) -> BaseGeometry:
    area = shapely.from_wkb(area_wkb)
    bng = shapely.transform(area, wgs84_to_bng, interleaved=False).buffer(buffer_m, quad_segs=4)
    wgs = shapely.transform(bng, bng_to_wgs84, interleaved=False)
    shapely.prepare(wgs)
    return wgs


def in_study_area(area: BaseGeometry | None, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """True where (lat, lon) lies in the study area buffered by settings.STUDY_AREA_BUFFER_M."""
    lat = np.asarray(lat, dtype=float)
    lon = np.asarray(lon, dtype=float)
    ok = np.isfinite(lat) & np.isfinite(lon)
    if area is None:
        return ok
    poly = _buffered_area(shapely.to_wkb(area), float(settings.STUDY_AREA_BUFFER_M))
    out = np.zeros(len(lat), dtype=bool)
    out[ok] = shapely.contains_xy(poly, lon[ok], lat[ok])
    return out


def grid_precision_m(easting: np.ndarray, northing: np.ndarray) -> np.ndarray:
    """Precision implied by how many trailing zeros a grid reference has (a 6-figure ref is 100 m)."""
    e = np.nan_to_num(np.abs(np.asarray(easting, float))).astype(np.int64)
    n = np.nan_to_num(np.abs(np.asarray(northing, float))).astype(np.int64)
    precision = np.ones(len(e))
    for step in (10, 100, 1000):
        precision = np.where((e % step == 0) & (n % step == 0), float(step), precision)
    return np.maximum(precision, _COORD_PRECISION_M)


# --- Place-name matching ---------------------------------------------------------------------------

_PAREN_RE = re.compile(r"\([^)]*\)")


def _match_key(name: str) -> str:
    # '(demo)' and similar parenthesised notes are not part of how people write a place's name.
    return utils.default_process(_PAREN_RE.sub(" ", str(name)))


def match_place_names(
    names: pd.Series, candidates: pd.DataFrame, *, score_min: float, gap: float
) -> dict[str, list[int]]:
    """For each distinct name, the positional indices of candidate places scoring within ``gap`` of
    the best score (best first), when the best is at least ``score_min``; empty list otherwise."""
    keys = [_match_key(n) for n in candidates["name"].tolist()]
    out: dict[str, list[int]] = {}
    for name in pd.unique(names.dropna()):
        query = _match_key(name)
        if not query:
            out[name] = []
            continue
        hits = process.extract(
            query, keys, scorer=fuzz.WRatio, processor=None, limit=8, score_cutoff=score_min
        )
        if not hits:
            out[name] = []
            continue
        best = hits[0][1]
        out[name] = [idx for _, score, idx in hits if score >= best - gap]
    return out


# --- Streets -----------------------------------------------------------------------------------------

_WORD_RE = re.compile(r"[a-z0-9']+")


def _street_index(streets: pd.DataFrame) -> dict[str, pd.DataFrame]:
    key = (
        streets["street"].str.lower().str.replace(r"[^a-z0-9' ]+", " ", regex=True).str.split().str.join(" ")
    )
    return {k: g for k, g in streets.assign(_key=key).groupby("_key", sort=False)}


def find_street(text: str, index: dict[str, pd.DataFrame], max_words: int = 5) -> str | None:
    """The longest street name (2+ words) that appears in ``text``."""
    words = _WORD_RE.findall(str(text).lower())
    for n in range(min(max_words, len(words)), 1, -1):
        for i in range(len(words) - n + 1):
            gram = " ".join(words[i : i + n])
            if gram in index:
                return gram
    return None


# --- The cascade -------------------------------------------------------------------------------------


def _payload(row: pd.Series) -> str:
    out = {}
    for c in CANONICAL_COLUMNS:
        v = row[c]
        if isinstance(v, pd.Timestamp):
            v = v.isoformat()
        elif v is pd.NaT or (isinstance(v, float) and np.isnan(v)):
            v = None
        elif isinstance(v, np.generic):
            v = v.item()
        out[c] = v
    return json.dumps(out)


def _locality_in_text(localities: pd.Series, text: str | None) -> np.ndarray:
    if not text:
        return np.zeros(len(localities), dtype=bool)
    t = str(text).lower()
    return np.array([bool(loc) and str(loc).lower() in t for loc in localities.tolist()])


def _disambiguate(cands: pd.DataFrame, row: pd.Series) -> pd.DataFrame:
    """Narrow candidate places by postcode district, locality named in the text, then place type."""
    district = None
    if isinstance(row.get("postcode"), str) and row["postcode"]:
        district = row["postcode"].split(" ")[0]
    filters = []
    if district:
        filters.append(cands["postcode_district"].to_numpy() == district)
    filters.append(_locality_in_text(cands["locality"], row.get("location_text")))
    if isinstance(row.get("place_type"), str) and row["place_type"] not in ("other", None):
        filters.append(cands["place_type"].to_numpy() == row["place_type"])
    for keep in filters:
        narrowed = cands[keep]
        if len(narrowed) == 1:
            return narrowed
        if len(narrowed) > 1:
            cands = narrowed
    return cands


def geocode(
    rows: pd.DataFrame,
    gazetteer,
    extra_places: pd.DataFrame | None = None,
    *,
    study_area: BaseGeometry | None = None,
) -> GeocodeResult:
    """Run the cascade over canonical rows. ``gazetteer`` is a ``hoth_geo.gazetteer.Gazetteer``;
    ``extra_places`` are places stored in the database (demo venues, analyst-added places)."""
    n = len(rows)
    frame = rows.reset_index(drop=True).copy()
    area = study_area if study_area is not None else getattr(gazetteer, "study_area", None)

    lat = np.full(n, np.nan)
    lon = np.full(n, np.nan)
    method = np.full(n, None, dtype=object)
    precision = np.full(n, np.nan)
    place_id = np.full(n, None, dtype=object)
    note = np.full(n, None, dtype=object)
    reason = np.full(n, None, dtype=object)
    field = np.full(n, None, dtype=object)
    value = np.full(n, None, dtype=object)
    rownum = frame["row_number"].to_numpy()

    online = frame["online"].to_numpy(dtype=bool)
    method[online] = "online"
    todo = ~online

    # 1a. WGS84 coordinates.
    glat = frame["latitude"].to_numpy(dtype=float)
    glon = frame["longitude"].to_numpy(dtype=float)
    has_ll = todo & np.isfinite(glat) & np.isfinite(glon)
    inside = has_ll & in_study_area(area, glat, glon)
    swapped = has_ll & ~inside & in_study_area(area, glon, glat)
    lat[inside], lon[inside] = glat[inside], glon[inside]
    lat[swapped], lon[swapped] = glon[swapped], glat[swapped]
    note[swapped] = "latitude and longitude were swapped in the file; corrected"
    ok_ll = inside | swapped
    method[ok_ll] = "coordinates_wgs84"
    precision[ok_ll] = _COORD_PRECISION_M
    outside_ll = has_ll & ~ok_ll
    for i in np.flatnonzero(outside_ll):
        reason[i] = (
            f"row {rownum[i]}: coordinates {glat[i]:.5f}, {glon[i]:.5f} lie outside the study area:"
            " check the latitude and longitude"
        )
        field[i], value[i] = "latitude/longitude", f"{glat[i]}, {glon[i]}"
    todo &= ~(ok_ll | outside_ll)

    # 1b. British National Grid.
    ge = frame["easting"].to_numpy(dtype=float)
    gn = frame["northing"].to_numpy(dtype=float)
    has_en = todo & np.isfinite(ge) & np.isfinite(gn)
    if has_en.any():
        blon, blat = bng_to_wgs84(ge[has_en], gn[has_en])
        ok = in_study_area(area, blat, blon)
        idx = np.flatnonzero(has_en)
        good, bad = idx[ok], idx[~ok]
        lat[good], lon[good] = blat[ok], blon[ok]
        method[good] = "coordinates_bng"
        precision[good] = grid_precision_m(ge[good], gn[good])
        for i in bad:
            reason[i] = (
                f"row {rownum[i]}: easting/northing {ge[i]:.0f}, {gn[i]:.0f} lie outside the study area:"
                " check the grid reference"
            )
            field[i], value[i] = "easting/northing", f"{ge[i]:.0f}, {gn[i]:.0f}"
        todo[idx] = False

    # 2. Place names.
    names = frame["place_name"]
    has_name = todo & names.notna().to_numpy() & (names.fillna("").str.strip() != "").to_numpy()
    ambiguous_name: dict[int, str] = {}
    if has_name.any():
        cand = gazetteer.places
        if extra_places is not None and not extra_places.empty:
            cand = pd.concat([extra_places, cand], ignore_index=True)
        cand = cand[cand["name"].notna()].reset_index(drop=True)
        matches = match_place_names(
            names[has_name], cand, score_min=settings.FUZZY_PLACE_SCORE_MIN, gap=settings.FUZZY_AMBIGUITY_GAP
        )
        for i in np.flatnonzero(has_name):
            hit = matches.get(names.iat[i], [])
            if not hit:
                continue
            chosen = cand.iloc[hit]
            if len(chosen) > 1:
                chosen = _disambiguate(chosen, frame.iloc[i])
            if len(chosen) == 1:
                p = chosen.iloc[0]
                lat[i], lon[i] = p["latitude"], p["longitude"]
                method[i] = "place_name"
                precision[i] = _PLACE_PRECISION_M
                place_id[i] = p["place_id"]
                todo[i] = False
            else:
                shown = "; ".join(
                    f"{nm} ({loc or 'unknown locality'})"
                    for nm, loc in zip(chosen["name"].head(4), chosen["locality"].head(4), strict=False)
                )
                ambiguous_name[i] = (
                    f"row {rownum[i]}: place name '{names.iat[i]}' matches {len(chosen)} places ({shown}):"
                    " add a postcode or the town, or choose the place in Review"
                )

    # 3. Postcodes: unit, then sector/district for partial postcodes or unknown units.
    pcs = frame["postcode"]
    has_pc = todo & pcs.notna().to_numpy() & (pcs.fillna("") != "").to_numpy()
    unknown_pc: dict[int, str] = {}
    if has_pc.any():
        idx = np.flatnonzero(has_pc)
        pc = pcs.iloc[idx].str.upper().str.strip()
        units = gazetteer.postcodes.set_index("postcode")[["latitude", "longitude"]]
        found = units.reindex(pc.to_numpy())
        hit = found["latitude"].notna().to_numpy()
        good = idx[hit]
        lat[good] = found["latitude"].to_numpy()[hit]
        lon[good] = found["longitude"].to_numpy()[hit]
        method[good] = "postcode"
        precision[good] = _POSTCODE_PRECISION_M
        todo[good] = False
        sectors = gazetteer.sectors.set_index("sector")
        districts = gazetteer.districts.set_index("district")
        for i, code in zip(idx[~hit], pc.to_numpy()[~hit], strict=True):
            m = _SECTOR_RE.match(code)
            if m:  # a sector given on its own, e.g. 'DH1 4'
                sector = f"{m.group(1)} {m.group(2)}"
                level, table, key = "postcode_sector", sectors, sector
            elif _DISTRICT_RE.match(code):  # a district on its own, e.g. 'DH1'
                level, table, key = "postcode_district", districts, code
            elif " " in code:  # a full unit we do not know: its sector, if the sector exists
                level, table, key = "postcode_sector", sectors, code[:-2]
            else:
                level, table, key = None, None, None
            if table is not None and key in table.index:
                c = table.loc[key]
                lat[i], lon[i] = c["latitude"], c["longitude"]
                method[i] = level
                precision[i] = max(float(c["radius_m"]), _POSTCODE_PRECISION_M)
                if level == "postcode_sector" and " " in code and not m:
                    note[i] = f"postcode {code} not found; located at its sector {key}"
                todo[i] = False
            else:
                unknown_pc[i] = code

    # 4. Streets named in the location text.
    texts = frame["location_text"]
    has_text = todo & texts.notna().to_numpy()
    ambiguous_street: dict[int, str] = {}
    if has_text.any() and not gazetteer.streets.empty:
        index = _street_index(gazetteer.streets)
        for i in np.flatnonzero(has_text):
            key = find_street(texts.iat[i], index)
            if key is None:
                continue
            cands = index[key]
            if len(cands) > 1:
                named = cands[_locality_in_text(cands["locality"], texts.iat[i])]
                if len(named) >= 1:
                    cands = named
            if len(cands) == 1:
                s = cands.iloc[0]
                lat[i], lon[i] = s["latitude"], s["longitude"]
                method[i] = "street"
                precision[i] = _STREET_PRECISION_M
                todo[i] = False
            else:
                locs = ", ".join(sorted({str(x) for x in cands["locality"]})[:4])
                ambiguous_street[i] = (
                    f"row {rownum[i]}: street '{cands.iloc[0]['street']}' is in {len(cands)} localities"
                    f" ({locs}): add the town or a postcode, or locate it in Review"
                )

    # 5. Whatever is left needs a location.
    for i in np.flatnonzero(todo):
        if i in ambiguous_name:
            reason[i], field[i], value[i] = ambiguous_name[i], "place name", names.iat[i]
        elif i in unknown_pc:
            reason[i] = (
                f"row {rownum[i]}: postcode '{unknown_pc[i]}' not found in the gazetteer:"
                " check the postcode, or locate the report in Review"
            )
            field[i], value[i] = "postcode", unknown_pc[i]
        elif i in ambiguous_street:
            reason[i], field[i], value[i] = ambiguous_street[i], "location", texts.iat[i]
        else:
            reason[i] = (
                f"row {rownum[i]}: needs a location: no coordinates, known place name, postcode or street"
                " was given; locate it in Review"
            )
            field[i] = "location"
            value[i] = texts.iat[i] if isinstance(texts.iat[i], str) else None

    quarantined = np.array([r is not None for r in reason], dtype=bool)
    q = frame[quarantined]
    quarantine = pd.DataFrame(
        {
            "row_number": rownum[quarantined],
            "reason": reason[quarantined],
            "field": field[quarantined],
            "value": value[quarantined],
            "payload": [_payload(r) for _, r in q.iterrows()],
        }
    )

    keep = ~quarantined
    located = frame[keep].copy()
    located["latitude"] = lat[keep]
    located["longitude"] = lon[keep]
    located["geocode_method"] = method[keep]
    located["geocode_confidence"] = [CONFIDENCE.get(m, np.nan) for m in method[keep]]
    located["precision_m"] = precision[keep]
    located["place_id"] = place_id[keep]
    located["geocode_note"] = note[keep]
    located = link_to_places(located, gazetteer, extra_places)
    located["h3"] = latlng_to_cells(
        located["latitude"].to_numpy(float), located["longitude"].to_numpy(float), settings.FINE_H3_RES
    )
    for c, t in GEOCODED_COLUMNS.items():
        if t == "float64":
            located[c] = located[c].astype("float64")
    return GeocodeResult(located=located.reset_index(drop=True), quarantine=quarantine)


def link_to_places(
    located: pd.DataFrame, gazetteer, extra_places: pd.DataFrame | None = None, max_m: float | None = None
) -> pd.DataFrame:
    """Link point reports with a place type to the nearest place of that type within ``max_m``."""
    max_m = settings.PLACE_LINK_MAX_M if max_m is None else max_m
    out = located.copy()
    places = gazetteer.places
    if extra_places is not None and not extra_places.empty:
        places = pd.concat([extra_places, places], ignore_index=True)
    is_point = out["geocode_method"].isin(["coordinates_wgs84", "coordinates_bng"]).to_numpy()
    want = is_point & out["place_id"].isna().to_numpy() & out["place_type"].isin(_LINKABLE_TYPES).to_numpy()
    if not want.any() or places.empty:
        return out
    lat0 = float(np.nanmean(places["latitude"]))
    place_id = out["place_id"].to_numpy(dtype=object).copy()
    for ptype, group in out[want].groupby("place_type", observed=True):
        cands = places[places["place_type"] == ptype]
        if cands.empty:
            continue
        tree = cKDTree(local_metres(cands["latitude"].to_numpy(), cands["longitude"].to_numpy(), lat0))
        dist, nearest = tree.query(
            local_metres(group["latitude"].to_numpy(), group["longitude"].to_numpy(), lat0),
            distance_upper_bound=max_m,
        )
        ok = np.isfinite(dist)
        rows = out.index.get_indexer(group.index)
        place_id[rows[ok]] = cands["place_id"].to_numpy()[nearest[ok]]
    out["place_id"] = place_id
    return out


def locate_manually(
    row: pd.DataFrame, lat: float, lon: float, place: pd.Series | None = None
) -> pd.DataFrame:
    """An analyst's location for a quarantined row (Review): a chosen place, a postcode or a map click."""
    out = row.copy()
    out["latitude"] = float(lat)
    out["longitude"] = float(lon)
    out["geocode_method"] = "analyst"
    out["geocode_confidence"] = CONFIDENCE["analyst"]
    out["precision_m"] = _PLACE_PRECISION_M if place is not None else _POSTCODE_PRECISION_M
    out["place_id"] = place["place_id"] if place is not None else None
    out["geocode_note"] = "located by an analyst in Review"
    out["h3"] = latlng_to_cells(np.array([lat]), np.array([lon]), settings.FINE_H3_RES)
    return out
