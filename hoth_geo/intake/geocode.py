"""Geocoding cascade: put each normalised report onto a point and, where possible, a place.

Order, best first, recorded per report as ``geocode_method`` with a confidence (0-1) and a precision
radius in metres (the radius of what was matched). docs/geocoding.md explains the rules.

1. coordinates given: WGS84 latitude/longitude or British National Grid easting/northing (pyproj);
   swapped latitude/longitude is corrected when only the swapped pair lies in the study area;
   points outside the study area are quarantined;
2. a place name matched against the gazetteer: exactly (case, punctuation and street-type
   abbreviations aside), else within a typo; a locality named in the text constrains the match;
   postcode district and place type narrow it further; an ambiguous or unknown name is never guessed;
3. the postcode unit; a sector ('DH1 4') or district ('DH1') given on its own at its centroid;
   a unit the gazetteer does not hold lies outside the area and is quarantined;
4. a street named in the location text (or place name), constrained by a named locality;
5. otherwise the row is quarantined with the reason, for an analyst to resolve in Review.

'Online' is a setting, not a point: online reports are stored and counted, never located.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd
import shapely
from pyproj import Geod
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA
from scipy.spatial import cKDTree
from shapely.geometry.base import BaseGeometry

from hoth_geo import settings
from hoth_geo.hexes import latlng_to_cells
from hoth_geo.intake.gazetteer import (
    PLACE_MIN_RADIUS_M,
    UNIT_MIN_RADIUS_M,
    bng_to_wgs84,
    local_metres,
    wgs84_to_bng,
)
from hoth_geo.intake.parsers import (
    grid_reference_square,
    lat_lon_pairs,
    object_column,
    written_grid_reference,
)
from hoth_geo.schema import CANONICAL_COLUMNS, GEOCODED_COLUMNS

__all__ = [
    "CONFIDENCE",
    "GeocodeResult",
    "in_study_area",
    "grid_square",
    "grid_reference_location",
    "wgs84_precision_m",
    "map_click_radius_m",
    "layer_radius_m",
    "StatedRadius",
    "RESTATABLE_METHODS",
    "text_tokens",
    "name_key",
    "name_matcher",
    "quarantine_payloads",
    "geocode",
    "geocode_safely",
    "mark_online",
    "link_to_places",
    "locate_manually",
]

# Precision defaults, used only where the gazetteer layer carries no measured radius (radius_m):
# coordinates are as good as the reporter's device or map click; a postcode unit centroid covers a
# few dozen addresses; a police.uk map point stands for a landmark; a street is a mean of map points.
_COORD_PRECISION_M = 10.0
_POSTCODE_PRECISION_M = UNIT_MIN_RADIUS_M  # a unit with no measured radius (hand-built gazetteers)
_STREET_PRECISION_M = 300.0
_PLACE_PRECISION_M = PLACE_MIN_RADIUS_M  # a place with no measured radius (demo venues, OSM points)
# Confidence that the point is where the report meant. Exact names beat typos; a name settled only by
# postcode district or place type loses 0.15; street points stand for a whole street.
CONFIDENCE = {
    "coordinates_wgs84": 0.95,
    "coordinates_bng": 0.95,
    "place_name": 0.9,
    "place_name_typo": 0.7,
    "postcode": 0.8,
    "postcode_sector": 0.5,
    "postcode_district": 0.3,
    "street_in_locality": 0.6,
    "street": 0.55,
    "street_typo": 0.45,
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
    """What geocoding returns: the located rows and the rows quarantined for Review, with their reasons."""

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


def grid_square(easting: np.ndarray, northing: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(easting, northing, radius in metres) of where a grid reference puts a report.

    A reference names a square by its south-west corner, and its trailing zeros say the square's size:
    431000, 544000 is the kilometre square from there to 432000, 545000 (NZ 31 44 written with
    letters), 431500, 544200 a 100 m square (NZ 315 442). The report may be anywhere in that square, so
    it is placed at the square's centre with the half-diagonal as its radius (707 m for a kilometre
    square), not at the corner with the side, which would leave the far corner outside the stated
    radius."""
    e = np.asarray(easting, float)
    n = np.asarray(northing, float)
    whole = np.isfinite(e) & np.isfinite(n) & (e == np.floor(e)) & (n == np.floor(n))
    ei = np.where(whole, np.abs(np.nan_to_num(e)), 1).astype(np.int64)
    ni = np.where(whole, np.abs(np.nan_to_num(n)), 1).astype(np.int64)
    side = np.ones(len(e))
    for step in (10, 100, 1_000, 10_000):
        side = np.where(whole & (ei % step == 0) & (ni % step == 0), float(step), side)
    # Metre references are points as they stand: half a metre is below any precision stated here.
    shift = np.where(side >= 10, side / 2, 0.0)
    radius = np.maximum(side * np.sqrt(2) / 2, _COORD_PRECISION_M)
    return e + shift, n + shift, radius


def grid_reference_location(text: str) -> tuple[str, float, float, float] | None:
    """(the reference as usually written, latitude, longitude, radius in metres) of a typed OS grid
    reference: the centre of its square and its half-diagonal, as a file's reference is located; None
    when ``text`` is not one."""
    written = written_grid_reference(text)
    if written is None:
        return None
    east, north, _side = grid_reference_square(written)
    centre_east, centre_north, radius = grid_square(np.array([east]), np.array([north]))
    lon, lat = bng_to_wgs84(centre_east, centre_north)
    return written, float(lat[0]), float(lon[0]), float(radius[0])


_METRES_PER_DEGREE = 111_320.0  # of latitude, and of longitude at the equator (WGS84, to 0.5 %)
_MAX_DECIMALS = 7  # a ten-millionth of a degree is 1 cm: more decimals say nothing more


# How far a click on a map may land from the spot the analyst meant, in screen pixels: a street drawn a
# few pixels wide, a marker's size, a hand on a trackpad.
MAP_CLICK_PIXELS = 10
# Web Mercator at zoom 0: the equator's 40,075,016.7 m over one 256-pixel tile.
_METRES_PER_PIXEL_AT_ZOOM_0 = 40_075_016.686 / 256


def map_click_radius_m(latitude: float, zoom: float, pixels: float = MAP_CLICK_PIXELS) -> float:
    """The radius within which a point clicked on a web map lies: ``pixels`` screen pixels at the map's
    ``zoom`` and ``latitude``, at least the 10 m of a device's coordinates.

    Ten pixels are 28 m at zoom 15 in County Durham and 880 m at zoom 10, so a click on a map of the
    whole county is not stated as precisely as one on a street."""
    if not np.isfinite(zoom) or zoom < 0:
        raise ValueError(f"zoom: expected a map zoom level of 0 or more, got {zoom!r}")
    if not -90 <= latitude <= 90:
        raise ValueError(f"latitude: expected -90 to 90, got {latitude!r}")
    per_pixel = _METRES_PER_PIXEL_AT_ZOOM_0 * np.cos(np.radians(latitude)) / 2.0**zoom
    return float(max(round(pixels * per_pixel), _COORD_PRECISION_M))


def wgs84_precision_m(
    lat: np.ndarray,
    lon: np.ndarray,
    lat_decimals: np.ndarray | None = None,
    lon_decimals: np.ndarray | None = None,
) -> np.ndarray:
    """The radius within which a point given as decimal degrees lies, from how many decimals it has.

    54.77, -1.57 (two decimals) stands for a box 0.01 degrees on a side: about 1.1 km north to south and
    0.6 km east to west at 55 degrees north. The value may have been rounded or cut short, so the radius
    is the box's whole diagonal (1.3 km here); a device's six decimals give the 10 m floor.
    ``lat_decimals`` / ``lon_decimals`` are the decimals as written in the file, where known (negative or
    NaN where not); otherwise they are those of the shortest text that reads back as the same number,
    which cannot see trailing zeros (54.7700 would count as 54.77, and be stated wider than it is)."""
    lat = np.asarray(lat, float)
    lon = np.asarray(lon, float)
    lat_step = 10.0 ** -_written_or_inferred(lat, lat_decimals)
    lon_step = 10.0 ** -_written_or_inferred(lon, lon_decimals)
    north_m = lat_step * _METRES_PER_DEGREE
    east_m = lon_step * _METRES_PER_DEGREE * np.cos(np.radians(np.clip(np.nan_to_num(lat), -90, 90)))
    return np.maximum(np.hypot(north_m, east_m), _COORD_PRECISION_M)


def _written_or_inferred(values: np.ndarray, written: np.ndarray | None) -> np.ndarray:
    inferred = _decimals(values)
    if written is None:
        return inferred
    written = np.asarray(written, dtype=float)
    known = np.isfinite(written) & (written >= 0)
    return np.where(known, np.minimum(np.nan_to_num(written), _MAX_DECIMALS), inferred).astype(np.int64)


def _decimals(values: np.ndarray) -> np.ndarray:
    """Decimal places of each value (``_MAX_DECIMALS`` for more, and for anything not finite)."""
    out = np.full(len(values), _MAX_DECIMALS)
    finite = np.isfinite(values)
    for d in range(_MAX_DECIMALS - 1, -1, -1):
        fits = finite & (np.round(values, d) == values)
        out[fits] = d
    return out


# --- Text keys -------------------------------------------------------------------------------------

_PAREN_RE = re.compile(r"\([^)]*\)")
_APOSTROPHE_RE = re.compile(r"['\u2019`]")
_NON_WORD_RE = re.compile(r"[^a-z0-9]+")

# Street-type abbreviations are written out, so 'Front St', 'front street' and 'Front Street' are the
# same key and a typo in a written-out word ('Srteet') is still one edit away. 'St' is also 'Saint':
# both become 'street', which is harmless because a key is only ever compared with another key built
# the same way.
_ABBREVIATIONS = {
    "rd": "road",
    "st": "street",
    "saint": "street",
    "ave": "avenue",
    "av": "avenue",
    "ln": "lane",
    "dr": "drive",
    "cl": "close",
    "cres": "crescent",
    "cresc": "crescent",
    "terr": "terrace",
    "ter": "terrace",
    "tce": "terrace",
    "gdns": "gardens",
    "gdn": "gardens",
    "pl": "place",
    "ct": "court",
    "sq": "square",
    "gro": "grove",
    "gr": "grove",
    "mt": "mount",
    "wlk": "walk",
    "grn": "green",
    "pde": "parade",
}
# Words that end a street name: a locality directly followed by one is part of a street name
# ('West Auckland Road'), never the locality itself.
_STREET_WORDS = frozenset(
    {"road", "street", "avenue", "lane", "drive", "close", "crescent", "terrace", "gardens", "place"}
    | {"court", "square", "grove", "way", "walk", "green", "parade", "mews", "rise", "garth", "row"}
    | {"bank", "hill", "wynd", "lea", "villas", "croft", "oval", "gate", "meadows", "grange", "view"}
    | {"vale", "estate", "mount"}
)


@lru_cache(maxsize=65536)
def _is_street_word(word: str) -> bool:
    """A street-type word, or one typo away from one ('Crsecent', 'Druve')."""
    if word in _STREET_WORDS:
        return True
    return (
        len(word) >= 4
        and process.extractOne(word, _STREET_WORDS, scorer=OSA.distance, score_cutoff=1) is not None
    )


def text_tokens(text: object, *, drop_notes: bool = True) -> list[str]:
    """Lower-case words of ``text`` with apostrophes dropped and street-type abbreviations written
    out: the form every name and every report is compared in. Parenthesised notes ('(demo)') are not
    part of a name, but in free text they may name the town, so ``drop_notes=False`` keeps them."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return []
    t = str(text).lower()
    t = _APOSTROPHE_RE.sub("", _PAREN_RE.sub(" ", t) if drop_notes else t)
    return [_ABBREVIATIONS.get(w, w) for w in _NON_WORD_RE.sub(" ", t).split()]


def name_key(text: object) -> str:
    """A place name reduced to the words that identify it, for matching names as people type them."""
    return " ".join(text_tokens(text))


def _typo_allowance(key: str) -> int:
    """Edits (insert, delete, substitute, swap) tolerated as a typo: one in a short name, two in a long."""
    return 1 if len(key) <= 12 else 2


# --- Gazetteer indexes ------------------------------------------------------------------------------


def layer_radius_m(frame: pd.DataFrame, default_m: float = np.nan) -> np.ndarray:
    """Each row's own measured radius where its gazetteer layer carries one (``radius_m``: a postcode
    unit's, a police.uk landmark's, an OSM outline's), else ``default_m`` (NaN: not measured)."""
    if "radius_m" in frame.columns:
        r = pd.to_numeric(frame["radius_m"], errors="coerce").to_numpy(dtype=float)
        return np.where(np.isfinite(r) & (r > 0), r, default_m)
    return np.full(len(frame), float(default_m))


_GEOD = Geod(ellps="WGS84")
# The methods whose radius is what the gazetteer measures of the key the report was found by.
RESTATABLE_METHODS = ("postcode", "postcode_sector", "postcode_district", "place_name", "street")


def _units(gazetteer) -> tuple[pd.DataFrame, pd.Series]:
    """The gazetteer's postcode units by postcode, and the radius the cascade states for each."""
    units = gazetteer.postcodes.drop_duplicates("postcode").set_index("postcode")
    return units, pd.Series(layer_radius_m(units, _POSTCODE_PRECISION_M), index=units.index)


def _sector_keys(codes: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """('DH1 4' for 'DH14' or 'DH1 4', whether each code is a sector) of upper-cased postcodes."""
    found = codes.str.extract(_SECTOR_RE)
    return (found[0] + " " + found[1]).to_numpy(dtype=object), found[0].notna().to_numpy()


class StatedRadius:
    """The radius the cascade would state today for a stored report found by a postcode unit, sector or
    district, by a place name or by a street: what ``gazetteer`` (and ``extra_places``) measure of that
    postcode, place or street, as ``geocode`` states it. Built once per gazetteer; called on frames of
    reports (``geocode_method``, ``postcode``, ``place_id``; for streets also ``place_name``,
    ``location_text``, ``latitude``, ``longitude`` and ``precision_m``). NaN for the other methods
    (coordinates, analysts' locations: nothing in the gazetteer to read again) and where the gazetteer no
    longer holds the postcode, place or street.

    A report does not keep which street segment matched, and a rebuilt gazetteer may put a street's
    point elsewhere (more map points along it): the street its text names today is taken as its street
    only when the two circles meet, and the radius stated is then the one that covers today's street
    from the report's stored point (the distance between the points plus today's radius)."""

    def __init__(self, gazetteer, extra_places: pd.DataFrame | None = None):
        self.gazetteer, self.extra_places = gazetteer, extra_places
        self.unit = _units(gazetteer)[1]
        self.reach = {
            "postcode_sector": gazetteer.sectors.set_index("sector")["radius_m"].astype(float),
            "postcode_district": gazetteer.districts.set_index("district")["radius_m"].astype(float),
        }
        places = gazetteer.places
        if extra_places is not None and not extra_places.empty:
            places = pd.concat([extra_places, places], ignore_index=True)  # as the matcher orders them
        radius = pd.Series(layer_radius_m(places, _PLACE_PRECISION_M), index=places["place_id"].astype(str))
        self.place = radius[~radius.index.duplicated()]
        self._matcher: _Matcher | None = None  # built on the first street report: the name index is costly

    def __call__(self, reports: pd.DataFrame) -> np.ndarray:
        out = np.full(len(reports), np.nan)
        if reports.empty:
            return out
        method = reports["geocode_method"].to_numpy(dtype=object)
        pc = _text_column(reports["postcode"]).str.upper().str.strip()
        at = method == "postcode"
        out[at] = self.unit.reindex(pc.to_numpy()[at]).to_numpy(dtype=float)
        keys = {"postcode_sector": _sector_keys(pc)[0], "postcode_district": pc.to_numpy(dtype=object)}
        for level, reach in self.reach.items():
            at = method == level
            r = reach.reindex(keys[level][at]).to_numpy(dtype=float)
            out[at] = np.where(np.isfinite(r), np.maximum(r, _POSTCODE_PRECISION_M), np.nan)
        at = method == "place_name"
        out[at] = self.place.reindex(reports["place_id"].astype(str).to_numpy()[at]).to_numpy()
        at = method == "street"
        if at.any() and not self.gazetteer.streets.empty:
            out[at] = self._street(reports[at])
        return out

    def _street(self, reports: pd.DataFrame) -> np.ndarray:
        self._matcher = self._matcher or _Matcher(self.gazetteer, self.extra_places)
        m = self._matcher
        kind, pos = _streets_named(
            m,
            _text_column(reports["place_name"]).to_numpy(dtype=object),
            _text_column(reports["location_text"]).to_numpy(dtype=object),
        )[:2]
        located = kind == "located"
        pos = np.where(located, pos, 0)
        lat, lon = reports["latitude"].to_numpy(float), reports["longitude"].to_numpy(float)
        apart = np.asarray(_GEOD.inv(lon, lat, m.streets.lon[pos], m.streets.lat[pos])[2], dtype=float)
        radius = m.streets.radius[pos]
        stored = reports["precision_m"].to_numpy(float)
        meet = located & (apart <= np.nan_to_num(stored, nan=0.0) + radius)
        return np.where(meet, apart + radius, np.nan)


class _Localities:
    """Locality (ward/town) names as token sequences, found in text longest first."""

    def __init__(self, names: list[str]):
        self.display: dict[tuple[str, ...], str] = {}
        for n in names:
            toks = tuple(text_tokens(n))
            if toks:
                self.display.setdefault(toks, n)
        self.by_first: dict[str, list[tuple[str, ...]]] = {}
        for toks in sorted(self.display, key=len, reverse=True):
            self.by_first.setdefault(toks[0], []).append(toks)

    def spans(self, tokens: list[str]) -> list[tuple[int, int]]:
        """(start, end) of each locality named in ``tokens``, longest first and not overlapping,
        skipping names followed by a street-type word ('West Auckland Road' is a street)."""
        found = []
        i = 0
        while i < len(tokens):
            hit = None
            for cand in self.by_first.get(tokens[i], ()):
                j = i + len(cand)
                if tuple(tokens[i:j]) != cand:
                    continue
                if j < len(tokens) and _is_street_word(tokens[j]):
                    continue
                hit = cand
                break
            if hit is None:
                i += 1
            else:
                found.append((i, i + len(hit)))
                i += len(hit)
        return found


class _Streets:
    """Street keys -> one entry per (street, locality), with typo blocks."""

    def __init__(self, streets: pd.DataFrame):
        frame = pd.DataFrame(
            {
                "name": streets["street"].astype(str),
                "locality": streets["locality"].where(streets["locality"].notna(), "").astype(str),
                "latitude": streets["latitude"].to_numpy(dtype=float),
                "longitude": streets["longitude"].to_numpy(dtype=float),
                "radius": layer_radius_m(streets, _STREET_PRECISION_M),
            }
        )
        frame["key"] = frame["name"].map(name_key)
        # One-word 'streets' (estate names, road numbers) match ordinary words too easily.
        frame = frame[frame["key"].str.contains(" ", regex=False)]
        # Spellings that differ only in punctuation ('Salter's Lane', 'Salters Lane') in one locality
        # are one street: their points are averaged and the radius grows to cover both.
        g = frame.groupby(["key", "locality"], sort=True)
        merged = g.agg(
            name=("name", "first"),
            latitude=("latitude", "mean"),
            longitude=("longitude", "mean"),
            radius=("radius", "max"),
            lat_min=("latitude", "min"),
            lat_max=("latitude", "max"),
            lon_min=("longitude", "min"),
            lon_max=("longitude", "max"),
        ).reset_index()
        spread_m = 0.5 * np.hypot(
            (merged["lat_max"] - merged["lat_min"]) * 111_320.0,
            (merged["lon_max"] - merged["lon_min"]) * 111_320.0 * np.cos(np.radians(merged["latitude"])),
        )
        self.name = merged["name"].tolist()
        self.locality = merged["locality"].tolist()
        self.loc_key = [name_key(x) for x in self.locality]
        self.lat = merged["latitude"].to_numpy(dtype=float)
        self.lon = merged["longitude"].to_numpy(dtype=float)
        self.radius = np.maximum(merged["radius"].to_numpy(dtype=float), spread_m.to_numpy())
        self.rows: dict[str, list[int]] = {}
        for pos, k in enumerate(merged["key"].tolist()):
            self.rows.setdefault(k, []).append(pos)
        self.blocks: dict[tuple[str, int], list[str]] = {}
        for k in self.rows:
            words = k.split()
            self.blocks.setdefault((words[-1], len(words)), []).append(k)
            self.blocks.setdefault(("^" + words[0], len(words)), []).append(k)

    def find(
        self, tokens: list[str], blocked: set[int], near_blocked: set[int], max_words: int = 5
    ) -> tuple[list[str], int, int, bool] | None:
        """(matching keys, first word, end word, exact) for the longest street named in ``tokens``
        outside the ``blocked`` words: exact keys first, else keys within a typo that share the
        gram's first or last word, in words that are not a locality (``near_blocked``)."""
        n_tok = len(tokens)
        for n in range(min(max_words, n_tok), 1, -1):
            spans = [(i, i + n) for i in range(n_tok - n + 1) if not blocked.intersection(range(i, i + n))]
            for i, j in spans:
                gram = " ".join(tokens[i:j])
                if gram in self.rows:
                    return [gram], i, j, True
            # A typo in a longer name beats an exact shorter one inside it ('Bbrden Moor Road' is not
            # 'Moor Road'). Grams that start with a filler word ('near Moor Road') are not names.
            for i, j in spans:
                words = tokens[i:j]
                if (words[0] in _FILLER_WORDS and words[0] != "the") or near_blocked.intersection(
                    range(i, j)
                ):
                    continue
                block = set(self.blocks.get((words[-1], n), ())) | set(
                    self.blocks.get(("^" + words[0], n), ())
                )
                if not block:
                    continue
                gram = " ".join(words)
                hits = process.extract(
                    gram, list(block), scorer=OSA.distance, score_cutoff=_typo_allowance(gram), limit=None
                )
                if hits:
                    best = min(h[1] for h in hits)
                    return sorted({h[0] for h in hits if h[1] == best}), i, j, False
        return None


@lru_cache(maxsize=8)
def _streets_index(gazetteer) -> _Streets:
    # A loaded gazetteer is shared and read-only, so its street index is built once.
    return _Streets(gazetteer.streets)


class _Places:
    """Place name keys -> positions in the candidate place table."""

    def __init__(self, places: pd.DataFrame):
        self.name = places["name"].astype(str).tolist()
        self.key = [name_key(n) for n in self.name]
        self.locality = [str(x) if isinstance(x, str) else "" for x in places["locality"].tolist()]
        self.loc_key = [name_key(x) for x in self.locality]
        self.district = [str(x) if isinstance(x, str) else "" for x in places["postcode_district"].tolist()]
        self.ptype = [str(x) if isinstance(x, str) else "" for x in places["place_type"].tolist()]
        self.lat = places["latitude"].to_numpy(dtype=float)
        self.lon = places["longitude"].to_numpy(dtype=float)
        self.place_id = places["place_id"].tolist()
        self.radius = layer_radius_m(places, _PLACE_PRECISION_M)
        self.rows: dict[str, list[int]] = {}
        self.sorted_rows: dict[str, list[int]] = {}
        for pos, k in enumerate(self.key):
            if k:
                self.rows.setdefault(k, []).append(pos)
                self.sorted_rows.setdefault(" ".join(sorted(k.split())), []).append(pos)
        self.keys = list(self.rows)

    def exact(self, key: str, localities: frozenset[str]) -> list[int]:
        """Places whose name is ``key`` (any word order), or ``key`` with a named locality added or
        taken away ('Petrol station' + 'Coundon'; 'Station Rd Takeaway, Neville's Cross')."""
        variants = [key]
        for loc in localities:
            variants.append(f"{key} {loc}")
            padded = f" {key} "
            if f" {loc} " in padded:
                variants.append(" ".join(padded.replace(f" {loc} ", " ").split()))
        hits: list[int] = []
        for v in variants:
            hits += self.rows.get(v, []) or self.sorted_rows.get(" ".join(sorted(v.split())), [])
        return sorted(set(hits))

    def near(self, key: str) -> list[int]:
        """Places whose name is within a typo of ``key``, nearest only."""
        hits = process.extract(
            key, self.keys, scorer=OSA.distance, score_cutoff=_typo_allowance(key), limit=None
        )
        if not hits:
            return []
        best = min(h[1] for h in hits)
        return sorted(p for h in hits if h[1] == best for p in self.rows[h[0]])

    def nearest_names(self, key: str, limit: int = 3) -> list[str]:
        hits = process.extract(key, self.keys, scorer=fuzz.ratio, limit=limit)
        out = []
        for k, _, _ in hits:
            rows = self.rows[k]
            where = sorted({self.locality[p] or "unknown locality" for p in rows})
            more = f" and {len(where) - 3} more" if len(where) > 3 else ""
            out.append(f"{self.name[rows[0]]} ({', '.join(where[:3])}{more})")
        return out

    def in_localities(self, pos: int, localities: frozenset[str]) -> bool:
        if self.loc_key[pos] in localities:
            return True
        padded = f" {self.key[pos]} "
        return any(f" {loc} " in padded for loc in localities)


@dataclass
class _TextFacts:
    tokens: list[str]
    street: tuple[list[str], int, int, bool] | None
    localities: frozenset[str]  # named outside any street name: they constrain every match
    street_localities: frozenset[str]  # a street name that is also a locality ('Delves Lane')
    only_street: bool  # nothing but the street, filler words and localities


_MAX_LOCATION_WORDS = 200
_MAX_NAME_CHARS = 200

# Words around a location that say nothing about which place it is.
_FILLER_WORDS = frozenset(
    "on or near outside at by opposite the junction of corner off in behind next to seen group shops"
    " entrance close".split()
)


class _Matcher:
    """Everything needed to resolve names, built once per geocode call; text facts cached per string."""

    def __init__(self, gazetteer, extra_places: pd.DataFrame | None):
        cand = gazetteer.places
        if extra_places is not None and not extra_places.empty:
            cand = pd.concat([extra_places, cand], ignore_index=True)
        cand = cand[cand["name"].notna()].drop_duplicates("place_id", keep="first")
        self.places = _Places(cand.reset_index(drop=True))
        self.streets = _streets_index(gazetteer)
        self.localities = _Localities(self.places.locality + self.streets.locality)
        self._facts: dict[str, _TextFacts] = {}
        # Outcomes per distinct input, kept while the matcher is (an import reuses it chunk to chunk).
        self.place_outcomes: dict[tuple, _Outcome] = {}
        self.street_outcomes: dict[tuple, _Outcome] = {}
        self.nearest: dict[str, str] = {}

    def n_cached(self) -> int:
        """Entries held by the caches (callers that reuse a matcher start a fresh one past a bound)."""
        return len(self._facts) + len(self.place_outcomes) + len(self.street_outcomes) + len(self.nearest)

    def facts(self, text: object) -> _TextFacts:
        s = text if isinstance(text, str) else ""
        got = self._facts.get(s)
        if got is None:
            got = self._read(s)
            self._facts[s] = got
        return got

    def _read(self, s: str) -> _TextFacts:
        # A location is said in a few words; a very long text is a narrative pasted into the wrong
        # column, and only its start is searched, so one such cell cannot stall an import.
        tokens = text_tokens(s, drop_notes=False)[:_MAX_LOCATION_WORDS]
        spans = self.localities.spans(tokens)
        # A street found inside a longer locality name is part of that name ('Middleton St George').
        street = None
        blocked: set[int] = set()
        for _ in range(2):
            street = self.streets.find(tokens, blocked, {k for a, b in spans for k in range(a, b)})
            if street is None:
                break
            inside = [
                (a, b)
                for a, b in spans
                if a <= street[1] and street[2] <= b and b - a > street[2] - street[1]
            ]
            if not inside:
                break
            blocked |= {k for a, b in inside for k in range(a, b)}
            street = None
        in_street = set(range(street[1], street[2])) if street else set()
        localities, street_localities = set(), set()
        for a, b in spans:
            words = set(range(a, b))
            if words & in_street:
                # A locality that is the street's whole name ('North Road') is reported separately:
                # it may name the place's ward, but it never constrains the street itself.
                if (a, b) == (street[1], street[2]):
                    street_localities.add(" ".join(tokens[a:b]))
                continue
            localities.add(" ".join(tokens[a:b]))
        covered = in_street | {k for a, b in spans for k in range(a, b)}
        only_street = street is not None and all(
            k in covered or tokens[k] in _FILLER_WORDS for k in range(len(tokens))
        )
        return _TextFacts(tokens, street, frozenset(localities), frozenset(street_localities), only_street)

    def locality_names(self, keys: frozenset[str]) -> str:
        return ", ".join(sorted(self.localities.display.get(tuple(k.split()), k) for k in keys))


@dataclass(frozen=True)
class _Outcome:
    kind: str  # 'located' | 'ambiguous' | 'not_in_locality' | 'not_found'
    pos: int = -1
    confidence: float = np.nan
    message: str = ""


def name_matcher(gazetteer, extra_places: pd.DataFrame | None = None) -> _Matcher:
    """The name index ``geocode`` builds for place names and streets, to pass to many calls with the same
    gazetteer and extra places (an import's chunks): each distinct name is then resolved once."""
    return _Matcher(gazetteer, extra_places)


def _describe_places(m: _Matcher, positions: list[int], limit: int = 4) -> str:
    p = m.places
    return "; ".join(f"{p.name[i]} ({p.locality[i] or 'unknown locality'})" for i in positions[:limit])


def _resolve_place(m: _Matcher, name: str, text: str, district: str, ptype: str) -> _Outcome:
    """One distinct (place name, location text, postcode district, place type) combination."""
    facts_name, facts_text = m.facts(name), m.facts(text)
    key = name_key(name)
    if not key:
        return _Outcome("not_found")
    localities = facts_name.localities | facts_text.localities
    hits = m.places.exact(key, localities | facts_name.street_localities | facts_text.street_localities)
    exact = bool(hits)
    if not hits and len(key) <= _MAX_NAME_CHARS:  # a typo is a small slip in a name, not an essay
        hits = m.places.near(key)
    if not hits:
        return _Outcome("not_found", message=key)
    if localities:
        named = [i for i in hits if m.places.in_localities(i, localities)]
        if not named:
            return _Outcome(
                "not_in_locality",
                message=(
                    f"place name '{name}' is not known in {m.locality_names(localities)}; similar places"
                    f" elsewhere: {_describe_places(m, hits)}: check the name, or choose the place in Review"
                ),
            )
        hits = named
    confidence = CONFIDENCE["place_name"] if exact else CONFIDENCE["place_name_typo"]
    if len(hits) > 1:
        # Postcode district, then place type, narrow the current candidates, but only when they
        # keep at least one (each test runs on what the previous one left).
        tests = (
            lambda i: bool(district) and m.places.district[i] == district,
            lambda i: bool(ptype) and ptype != "other" and m.places.ptype[i] == ptype,
        )
        for test in tests:
            keep = [i for i in hits if test(i)]
            if keep:
                hits = keep
            if len(hits) == 1:
                confidence -= 0.15  # chosen by a detail the name alone did not settle
                break
    if len(hits) == 1:
        return _Outcome("located", hits[0], confidence)
    return _Outcome(
        "ambiguous",
        message=(
            f"place name '{name}' matches {len(hits)} places ({_describe_places(m, hits)}):"
            " add a postcode or the town, or choose the place in Review"
        ),
    )


def _resolve_street(m: _Matcher, name: str, text: str) -> _Outcome | None:
    """A street named in the location text (else in the place name), constrained by named localities."""
    facts_name, facts_text = m.facts(name), m.facts(text)
    # A street in the place name counts only when the name is the street ('Front St, Stanley'):
    # 'Petrol station, Delves Lane' names a place that is not known, not the street.
    facts = facts_text if facts_text.street is not None else facts_name
    if facts is facts_name and not facts_name.only_street:
        return None
    found = facts.street
    if found is None:
        return None
    keys, start, end, exact = found
    written = " ".join(facts.tokens[start:end])
    s = m.streets
    rows = sorted(p for k in keys for p in s.rows[k])
    shown = s.name[rows[0]]
    localities = facts_name.localities | facts_text.localities
    if localities:
        named = [p for p in rows if s.loc_key[p] in localities]
        if not named:
            elsewhere = ", ".join(sorted({s.locality[p] for p in rows})[:4])
            return _Outcome(
                "not_in_locality",
                message=(
                    f"street '{shown}' is not known in {m.locality_names(localities)} (it is in {elsewhere}):"
                    " check the street and town, or locate it in Review"
                ),
            )
        rows = named
    if len(rows) == 1:
        if not exact:
            confidence = CONFIDENCE["street_typo"]
        elif localities:
            confidence = CONFIDENCE["street_in_locality"]
        else:
            confidence = CONFIDENCE["street"]
        return _Outcome("located", rows[0], confidence)
    if len(keys) > 1:
        names = ", ".join(sorted({s.name[p] for p in rows})[:4])
        return _Outcome(
            "ambiguous",
            message=f"street '{written}' is close to several streets ({names}): check the spelling,"
            " or locate it in Review",
        )
    locs = ", ".join(sorted({s.locality[p] for p in rows})[:4])
    return _Outcome(
        "ambiguous",
        message=(
            f"street '{shown}' is in {len(rows)} localities ({locs}): add the town or a postcode,"
            " or locate it in Review"
        ),
    )


def _group_codes(frame: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """Codes of the distinct rows of ``frame`` (all object columns, '' for missing) and those rows."""
    codes = frame.groupby(list(frame.columns), sort=False, dropna=False).ngroup().to_numpy()
    first = pd.Series(np.arange(len(frame))).groupby(codes).first().to_numpy()
    return codes, frame.iloc[first].reset_index(drop=True)


def _text_column(series: pd.Series) -> pd.Series:
    """Text values with missing ones as '' (canonical text columns hold str or None)."""
    s = series.astype(object)
    return s.where(s.notna(), "")


def _filled(texts: pd.Series, rows: np.ndarray) -> np.ndarray:
    """``rows`` (a mask) where the text is not blank, stripping only the rows asked about."""
    out = np.zeros(len(texts), dtype=bool)
    idx = np.flatnonzero(rows)
    if len(idx):
        out[idx] = (texts.iloc[idx].str.strip() != "").to_numpy()
    return out


# --- Quarantine payloads -----------------------------------------------------------------------------


def quarantine_payloads(rows: pd.DataFrame) -> list[str]:
    """The canonical row as JSON for each row (what Review rebuilds a report from), in one pass."""
    if rows.empty:
        return []
    out = rows[list(CANONICAL_COLUMNS)].copy()
    for c in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[c]):
            s = out[c]
            text = s.dt.strftime("%Y-%m-%dT%H:%M:%S").astype(object)
            frac = s.notna() & (s.dt.microsecond != 0)
            if frac.any():
                text[frac] = s[frac].map(lambda t: t.isoformat())
            out[c] = text.where(s.notna(), None)
    lines = out.to_json(orient="records", lines=True, double_precision=15, force_ascii=True)
    return [line for line in lines.split("\n") if line]


def _area_label(gazetteer) -> str:
    for attr in ("area_name", "name"):
        v = getattr(gazetteer, attr, None)
        if isinstance(v, str) and v.strip():
            return v.strip()
    return "the study area"


# --- The cascade -------------------------------------------------------------------------------------


def _prefixed(rownum: np.ndarray, messages: np.ndarray) -> np.ndarray:
    return np.array([f"row {r}: {msg}" for r, msg in zip(rownum, messages, strict=True)], dtype=object)


_CASCADE_PROBLEMS = ("place_problem", "postcode_problem", "street_problem")


@dataclass
class _Cascade:
    """Where each row stands as the cascade runs: its point and how it was found, or why not yet."""

    rownum: np.ndarray
    area: BaseGeometry | None
    area_label: str
    gazetteer: object
    extra_places: pd.DataFrame | None
    matcher: _Matcher | None
    todo: np.ndarray  # not yet placed, nor quarantined with a reason of its own
    lat: np.ndarray = field(init=False)
    lon: np.ndarray = field(init=False)
    method: np.ndarray = field(init=False)
    confidence: np.ndarray = field(init=False)
    precision: np.ndarray = field(init=False)
    place_id: np.ndarray = field(init=False)
    place_type_of_match: np.ndarray = field(init=False)
    note: np.ndarray = field(init=False)
    reason: np.ndarray = field(init=False)  # the quarantine reason; None while a row may still be placed
    field_name: np.ndarray = field(init=False)
    value: np.ndarray = field(init=False)
    # Why a step could not place a row; the first problem in cascade order becomes the reason.
    place_problem: np.ndarray = field(init=False)
    postcode_problem: np.ndarray = field(init=False)
    street_problem: np.ndarray = field(init=False)
    name_not_found: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        n = len(self.rownum)
        for name in ("lat", "lon", "confidence", "precision"):
            setattr(self, name, np.full(n, np.nan))
        for name in ("method", "place_id", "note", "reason", "field_name", "value", *_CASCADE_PROBLEMS):
            setattr(self, name, np.full(n, None, dtype=object))
        self.place_type_of_match = np.full(n, "", dtype=object)
        self.name_not_found = np.zeros(n, dtype=bool)

    def place(self, rows, lat, lon, how: str, precision, confidence=None) -> None:
        """Rows ``rows`` are placed at (lat, lon) by step ``how``, with their stated radius."""
        self.lat[rows], self.lon[rows] = lat, lon
        self.method[rows] = how
        self.confidence[rows] = CONFIDENCE[how] if confidence is None else confidence
        self.precision[rows] = precision
        self.todo[rows] = False

    def add_note(self, row: int, said: str) -> None:
        """Add ``said`` to row ``row``'s location note, after what it says already."""
        self.note[row] = said if pd.isna(self.note[row]) else f"{self.note[row]}; {said}"

    def names_matcher(self) -> _Matcher:
        self.matcher = self.matcher or _Matcher(self.gazetteer, self.extra_places)
        return self.matcher


def geocode(
    rows: pd.DataFrame,
    gazetteer,
    extra_places: pd.DataFrame | None = None,
    *,
    study_area: BaseGeometry | None = None,
    matcher: _Matcher | None = None,
    coordinate_precision: pd.DataFrame | None = None,
) -> GeocodeResult:
    """Run the cascade over canonical rows. ``gazetteer`` is a ``hoth_geo.intake.gazetteer.Gazetteer``;
    ``extra_places`` are places stored in the database (demo venues, analyst-added places);
    ``matcher`` (``name_matcher``) carries name lookups over from earlier calls with the same two;
    ``coordinate_precision`` (``IngestResult.coordinate_precision``) the decimals each row's latitude
    and longitude were written with, which state their radius (``wgs84_precision_m``). A row's
    ``location_accuracy_m`` widens the radius of its coordinates or grid reference (never narrows it:
    six decimals of a click on a map of the county are not 10 m).
    Use ``geocode_safely`` in imports: it quarantines a row this function cannot handle.

    The steps, in order: online (a setting, never a point), WGS84 coordinates, British National Grid,
    place names, postcodes, streets; whatever is left goes to Review with the first problem met."""
    frame = rows.reset_index(drop=True)  # a new frame; copy-on-write keeps the caller's rows as they are
    online = frame["online"].to_numpy(dtype=bool)
    c = _Cascade(
        rownum=frame["row_number"].to_numpy(),
        area=study_area if study_area is not None else getattr(gazetteer, "study_area", None),
        area_label=_area_label(gazetteer),
        gazetteer=gazetteer,
        extra_places=extra_places,
        matcher=matcher,
        todo=~online,
    )
    c.method[online] = "online"
    names = _text_column(frame["place_name"])
    texts = _text_column(frame["location_text"])
    pcs = _text_column(frame["postcode"])
    # The accuracy a row states (0 where none): the radius of its coordinates is at least that.
    stated = np.nan_to_num(frame["location_accuracy_m"].to_numpy(dtype=float), nan=0.0)
    _by_wgs84(c, frame, coordinate_precision, stated)
    _by_grid_reference(c, frame, stated)
    _by_place_name(c, frame, names, texts, pcs)
    _by_postcode(c, pcs)
    _by_street(c, names, texts)
    # A name that did not settle the place is kept in the note of a row a later step located.
    unsettled = ~c.todo & pd.notna(c.place_problem)
    if unsettled.any():
        c.note[unsettled] = [
            f"{msg.split(': ')[0]}; located by {how}"
            for msg, how in zip(c.place_problem[unsettled], c.method[unsettled], strict=True)
        ]
    _to_review(c, names, texts, pcs)
    return _result(c, frame)


def _by_wgs84(c: _Cascade, frame: pd.DataFrame, written: pd.DataFrame | None, stated: np.ndarray) -> None:
    """1a. WGS84 coordinates inside the area (or inside once latitude and longitude are swapped back)."""
    glat = frame["latitude"].to_numpy(dtype=float)
    glon = frame["longitude"].to_numpy(dtype=float)
    has_ll = c.todo & np.isfinite(glat) & np.isfinite(glon)
    inside = has_ll & in_study_area(c.area, glat, glon)
    swapped = has_ll & ~inside & in_study_area(c.area, glon, glat)
    dlat = dlon = np.full(len(frame), np.nan)
    if written is not None:
        by_row = written.reindex(c.rownum)
        dlat, dlon = by_row["latitude"].to_numpy(dtype=float), by_row["longitude"].to_numpy(dtype=float)
    radius = wgs84_precision_m(glat[inside], glon[inside], dlat[inside], dlon[inside])
    c.place(inside, glat[inside], glon[inside], "coordinates_wgs84", np.maximum(radius, stated[inside]))
    radius = wgs84_precision_m(glon[swapped], glat[swapped], dlon[swapped], dlat[swapped])
    c.place(swapped, glon[swapped], glat[swapped], "coordinates_wgs84", np.maximum(radius, stated[swapped]))
    c.note[swapped] = "latitude and longitude were swapped in the file; corrected"
    _note_grid_apart(c, frame, inside | swapped)
    _note_text_apart(c, frame, inside | swapped)
    outside_ll = has_ll & ~(inside | swapped)
    for i in np.flatnonzero(outside_ll):
        c.reason[i] = (
            f"row {c.rownum[i]}: coordinates {glat[i]:.5f}, {glon[i]:.5f} lie outside {c.area_label}:"
            " check the latitude and longitude"
        )
        c.field_name[i], c.value[i] = "latitude/longitude", f"{glat[i]}, {glon[i]}"
    c.todo &= ~outside_ll


# The start of the note on a report whose easting/northing (or grid reference) put it elsewhere than its
# latitude/longitude; the import counts such rows in a warning (pipeline).
GRID_APART_NOTE = "the grid reference or easting/northing given too"


def _note_grid_apart(c: _Cascade, frame: pd.DataFrame, by_wgs84: np.ndarray) -> None:
    """Note on the rows just placed by latitude/longitude whose easting/northing (or grid reference) lie
    farther from that point than both radii together: the row gives two locations, the latitude and
    longitude were used, and an analyst should know which one to trust."""
    ge = frame["easting"].to_numpy(dtype=float)
    gn = frame["northing"].to_numpy(dtype=float)
    both = by_wgs84 & np.isfinite(ge) & np.isfinite(gn)
    if not both.any():
        return
    at = np.flatnonzero(both)
    east, north, grid_radius = grid_square(ge[at], gn[at])
    point_east, point_north = wgs84_to_bng(c.lon[at], c.lat[at])
    apart = np.hypot(point_east - east, point_north - north)
    far = apart > grid_radius + c.precision[at]
    for i, metres in zip(at[far], apart[far], strict=True):
        said = (
            f"{GRID_APART_NOTE} ({ge[i]:.0f}, {gn[i]:.0f}) lie {_distance(metres)} from the latitude/longitude,"
            " which were used: check which is right"
        )
        c.add_note(i, said)


# The start of the note on a report whose location text is a latitude/longitude that lies away from the
# latitude/longitude it was placed by; the import counts such rows in a warning (pipeline).
TEXT_APART_NOTE = "the latitude/longitude in the location text"


def _note_text_apart(c: _Cascade, frame: pd.DataFrame, by_wgs84: np.ndarray) -> None:
    """Note on the rows just placed by latitude/longitude whose location text is itself a latitude and
    longitude lying farther from that point than both radii together (either order of the two numbers
    is tried, as the columns' are): two locations given, the columns used."""
    texts = frame["location_text"].to_numpy(dtype=object)
    todo = by_wgs84 & pd.notna(texts)
    if not todo.any():
        return
    at = np.flatnonzero(todo)
    pairs = lat_lon_pairs(frame["location_text"].iloc[at])
    has = pd.notna(pairs[:, 0])
    if not has.any():
        return
    at, pairs = at[has], pairs[has]
    first, second = pairs[:, 0].astype(float), pairs[:, 1].astype(float)
    places = [(len(a.partition(".")[2]), len(b.partition(".")[2])) for a, b in pairs]
    point_east, point_north = wgs84_to_bng(c.lon[at], c.lat[at])
    # How far the text's point lies beyond its own radius, and from the point used, in the nearer order.
    beyond, apart = np.full(len(at), np.inf), np.full(len(at), np.inf)
    for lat, lon, lat_dp, lon_dp in (
        (first, second, [p[0] for p in places], [p[1] for p in places]),
        (second, first, [p[1] for p in places], [p[0] for p in places]),
    ):
        ok = (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
        east, north = wgs84_to_bng(np.where(ok, lon, 0.0), np.where(ok, lat, 0.0))
        radius = wgs84_precision_m(lat, lon, np.asarray(lat_dp, float), np.asarray(lon_dp, float))
        distance = np.where(ok, np.hypot(point_east - east, point_north - north), np.inf)
        nearer = distance - radius < beyond
        beyond = np.where(nearer, distance - radius, beyond)
        apart = np.where(nearer, distance, apart)
    far = beyond > c.precision[at]
    for i, metres in zip(at[far], apart[far], strict=True):
        said = (
            f"{TEXT_APART_NOTE} ({str(texts[i]).strip()}) lies {_distance(metres)} from the latitude/longitude"
            " given, which were used: check which is right"
        )
        c.add_note(i, said)


def _distance(metres: float) -> str:
    return f"{metres / 1000:.1f} km" if metres >= 1000 else f"{metres:.0f} m"


def _by_grid_reference(c: _Cascade, frame: pd.DataFrame, stated: np.ndarray) -> None:
    """1b. British National Grid easting/northing inside the area, with the reference's own precision."""
    ge = frame["easting"].to_numpy(dtype=float)
    gn = frame["northing"].to_numpy(dtype=float)
    has_en = c.todo & np.isfinite(ge) & np.isfinite(gn)
    if not has_en.any():
        return
    east, north, radius = grid_square(ge[has_en], gn[has_en])
    blon, blat = bng_to_wgs84(east, north)
    ok = in_study_area(c.area, blat, blon)
    idx = np.flatnonzero(has_en)
    good, bad = idx[ok], idx[~ok]
    c.place(good, blat[ok], blon[ok], "coordinates_bng", np.maximum(radius[ok], stated[good]))
    for i in bad:
        c.reason[i] = (
            f"row {c.rownum[i]}: easting/northing {ge[i]:.0f}, {gn[i]:.0f} lie outside {c.area_label}:"
            " check the grid reference"
        )
        c.field_name[i], c.value[i] = "easting/northing", f"{ge[i]:.0f}, {gn[i]:.0f}"
    c.todo[idx] = False


def _by_place_name(
    c: _Cascade, frame: pd.DataFrame, names: pd.Series, texts: pd.Series, pcs: pd.Series
) -> None:
    """2. Place names, resolved once per distinct (name, text, district, type)."""
    has_name = _filled(names, c.todo)
    if not has_name.any():
        return
    matcher = c.names_matcher()
    idx = np.flatnonzero(has_name)
    combos = pd.DataFrame(
        {
            "name": names.iloc[idx].to_numpy(),
            "text": texts.iloc[idx].to_numpy(),
            "district": pcs.iloc[idx].str.split(" ").str[0].fillna("").to_numpy(),
            "ptype": _text_column(frame["place_type"]).iloc[idx].to_numpy(),
        }
    )
    codes, uniq = _group_codes(combos)
    known = matcher.place_outcomes
    outcomes = []
    for vals in uniq[["name", "text", "district", "ptype"]].itertuples(index=False, name=None):
        got = known.get(vals)
        if got is None:
            got = known[vals] = _resolve_place(matcher, *vals)
        outcomes.append(got)
    kind, pos, conf, msg = _outcome_arrays(outcomes, codes)
    hit = kind == "located"
    rows_hit, p = idx[hit], pos[hit]
    places = matcher.places
    c.place(rows_hit, places.lat[p], places.lon[p], "place_name", places.radius[p], conf[hit])
    c.place_id[rows_hit] = np.array(places.place_id, dtype=object)[p]
    c.place_type_of_match[rows_hit] = np.array(places.ptype, dtype=object)[p]
    problem = (kind == "ambiguous") | (kind == "not_in_locality")
    c.place_problem[idx[problem]] = msg[problem]
    c.name_not_found[idx[kind == "not_found"]] = True


def _by_postcode(c: _Cascade, pcs: pd.Series) -> None:
    """3. Postcodes: a unit, or a sector/district given on its own. A full unit the gazetteer does not
    hold is not placed at its sector: the gazetteer holds every live unit of the area, so an unknown
    unit lies outside it (or is mistyped) and a sector centroid would be a confident guess."""
    has_pc = c.todo & (pcs != "").to_numpy()
    if not has_pc.any():
        return
    gazetteer, area_label = c.gazetteer, c.area_label
    idx = np.flatnonzero(has_pc)
    pc = pcs.iloc[idx].str.upper().str.strip().to_numpy()
    if gazetteer.postcodes.empty:
        # An area set but not yet built: the postcode may be right; nothing was looked up.
        c.postcode_problem[idx] = [
            f"postcode '{code}' {_not_looked_up(area_label, 'postcodes')}" for code in pc
        ]
        return
    units, unit_radius = _units(gazetteer)
    found = units[["latitude", "longitude"]].reindex(pc)
    flat, flon = found["latitude"].to_numpy(), found["longitude"].to_numpy()
    hit = np.isfinite(flat)
    # A gazetteer may hold units around the area (a buffer): those are outside, not placed.
    in_area = np.zeros(len(idx), dtype=bool)
    in_area[hit] = in_study_area(c.area, flat[hit], flon[hit])
    good = hit & in_area
    c.place(idx[good], flat[good], flon[good], "postcode", unit_radius.reindex(pc[good]).to_numpy())
    c.postcode_problem[idx[hit & ~in_area]] = [
        f"postcode '{code}' lies outside {area_label}: check the postcode, or locate the report in Review"
        for code in pc[hit & ~in_area]
    ]

    rest = ~hit
    codes_rest = pc[rest]
    sector_keys, is_sector = _sector_keys(pd.Series(codes_rest))
    is_district = pd.Series(codes_rest).str.match(_DISTRICT_RE).to_numpy() & ~is_sector
    sectors = gazetteer.sectors.set_index("sector")
    districts = gazetteer.districts.set_index("district")
    for level, mask, table, keys in (
        ("postcode_sector", is_sector, sectors, sector_keys),
        ("postcode_district", is_district, districts, codes_rest),
    ):
        if not mask.any():
            continue
        k = keys[mask]
        centres = table[["latitude", "longitude", "radius_m"]].reindex(k)
        ok = centres["latitude"].notna().to_numpy()
        c.place(
            idx[rest][mask][ok],
            centres["latitude"].to_numpy()[ok],
            centres["longitude"].to_numpy()[ok],
            level,
            np.maximum(centres["radius_m"].to_numpy(dtype=float)[ok], _POSTCODE_PRECISION_M),
        )
        kind_word = "sector" if level == "postcode_sector" else "district"
        c.postcode_problem[idx[rest][mask][~ok]] = [
            f"postcode {kind_word} '{x}' is not in {area_label}: check the postcode, or locate the report"
            " in Review"
            for x in k[~ok]
        ]
    unit = ~is_sector & ~is_district
    c.postcode_problem[idx[rest][unit]] = [
        f"postcode '{x}' is not a postcode in {area_label}: it lies outside the area or is mistyped;"
        " check the postcode, or locate the report in Review"
        for x in codes_rest[unit]
    ]


def _by_street(c: _Cascade, names: pd.Series, texts: pd.Series) -> None:
    """4. Streets named in the location text (or the place name), once per distinct pair."""
    has_text = _filled(texts, c.todo) | _filled(names, c.todo)
    if not has_text.any() or c.gazetteer.streets.empty:
        return
    matcher = c.names_matcher()
    idx = np.flatnonzero(has_text)
    # A place name that matched several places is not searched for a street: the street in
    # 'Station Road Takeaway' says where one of the candidates is, not which one was meant.
    street_names = np.where(c.place_problem[idx] == None, names.to_numpy()[idx], "")  # noqa: E711
    kind, pos, conf, msg = _streets_named(matcher, street_names, texts.iloc[idx].to_numpy())
    hit = kind == "located"
    rows_hit, p = idx[hit], pos[hit]
    streets = matcher.streets
    c.place(rows_hit, streets.lat[p], streets.lon[p], "street", streets.radius[p], conf[hit])
    problem = (kind == "ambiguous") | (kind == "not_in_locality")
    c.street_problem[idx[problem]] = msg[problem]


def _streets_named(m: _Matcher, names: np.ndarray, texts: np.ndarray) -> tuple[np.ndarray, ...]:
    """(kind, pos, confidence, message) of the street each (place name, location text) names, each
    distinct pair resolved once for the matcher's life (an import's chunks, a restatement's batches)."""
    codes, uniq = _group_codes(pd.DataFrame({"name": names, "text": texts}))
    known = m.street_outcomes
    outcomes = []
    for pair in uniq.itertuples(index=False, name=None):
        got = known.get(pair)
        if got is None:
            got = known[pair] = _resolve_street(m, *pair) or _Outcome("not_found")
        outcomes.append(got)
    return _outcome_arrays(outcomes, codes)


def _outcome_arrays(outcomes: list, codes: np.ndarray) -> tuple[np.ndarray, ...]:
    """(kind, pos, confidence, message) of each row from the outcomes of its distinct group."""
    return (
        np.array([o.kind for o in outcomes], dtype=object)[codes],
        np.array([o.pos for o in outcomes], dtype=int)[codes],
        np.array([o.confidence for o in outcomes], dtype=float)[codes],
        np.array([o.message for o in outcomes], dtype=object)[codes],
    )


def _not_looked_up(area_label: str, layer: str) -> str:
    return (
        f"was not looked up: the gazetteer of {area_label} has no {layer} yet; build it (the Area page),"
        " then try the row again in Review"
    )


def _to_review(c: _Cascade, names: pd.Series, texts: pd.Series, pcs: pd.Series) -> None:
    """5. Whatever is left goes to Review with the first problem met, in cascade order."""
    left = c.todo.copy()
    for problems, fld, vals in (
        (c.place_problem, "place name", names.to_numpy()),
        (c.postcode_problem, "postcode", pcs.to_numpy()),
        (c.street_problem, "location", texts.to_numpy()),
    ):
        sel = left & pd.notna(problems)
        if sel.any():
            c.reason[sel] = _prefixed(c.rownum[sel], problems[sel])
            c.field_name[sel], c.value[sel] = fld, vals[sel]
            left &= ~sel
    sel = left & c.name_not_found
    if sel.any():
        matcher = c.names_matcher()
        idx = np.flatnonzero(sel)
        if len(matcher.places.name) == 0:
            # An area set but not yet built: the name may be right; nothing was looked up.
            why = {nm: _not_looked_up(c.area_label, "places") for nm in pd.unique(names.iloc[idx])}
        else:
            nearest = matcher.nearest
            for nm in pd.unique(names.iloc[idx]):
                if nm not in nearest:
                    nearest[nm] = "; ".join(matcher.places.nearest_names(name_key(nm)))
            why = {
                nm: f"is not in the gazetteer (nearest names: {nearest[nm] or 'none'}): check the name, or"
                " choose the place in Review"
                for nm in pd.unique(names.iloc[idx])
            }
        c.reason[idx] = [f"row {c.rownum[i]}: place name '{names.iat[i]}' {why[names.iat[i]]}" for i in idx]
        c.field_name[idx], c.value[idx] = "place name", names.to_numpy()[idx]
        left &= ~sel
    if left.any():
        c.reason[left] = _prefixed(
            c.rownum[left],
            np.full(
                int(left.sum()),
                "needs a location: no coordinates, known place name, postcode or street was given;"
                " locate it in Review",
                dtype=object,
            ),
        )
        c.field_name[left] = "location"
        c.value[left] = np.where(texts.to_numpy()[left] != "", texts.to_numpy()[left], None)


def _result(c: _Cascade, frame: pd.DataFrame) -> GeocodeResult:
    """The located rows with their geocoding columns and H3 cell, and the quarantine with reasons."""
    quarantined = pd.notna(c.reason)
    quarantine = pd.DataFrame(
        {
            "row_number": c.rownum[quarantined],
            "reason": object_column(c.reason[quarantined]),
            "field": object_column(c.field_name[quarantined]),
            "value": object_column(c.value[quarantined]),
            "payload": object_column(quarantine_payloads(frame[quarantined])),
        }
    )
    keep = ~quarantined
    located_rows = frame[keep]  # a new frame (copy-on-write): nothing set below reaches `frame`
    located_rows["latitude"] = c.lat[keep]
    located_rows["longitude"] = c.lon[keep]
    located_rows["geocode_method"] = object_column(c.method[keep], located_rows.index)
    located_rows["geocode_confidence"] = c.confidence[keep]
    located_rows["precision_m"] = c.precision[keep]
    located_rows["place_id"] = object_column(c.place_id[keep], located_rows.index)
    located_rows["place_type"] = _type_from_place(located_rows["place_type"], c.place_type_of_match[keep])
    located_rows["geocode_note"] = object_column(c.note[keep], located_rows.index)
    located_rows = link_to_places(located_rows, c.gazetteer, c.extra_places)
    located_rows["h3"] = latlng_to_cells(
        located_rows["latitude"].to_numpy(float),
        located_rows["longitude"].to_numpy(float),
        settings.FINE_H3_RES,
    )
    for col, t in GEOCODED_COLUMNS.items():
        if t == "float64":
            located_rows[col] = located_rows[col].astype("float64")
    return GeocodeResult(located=located_rows.reset_index(drop=True), quarantine=quarantine)


def _type_from_place(given: pd.Series, place_type: np.ndarray) -> pd.Series:
    """The partner's place type, or the matched place's own type when the partner gave none, so the
    place-type filter selects the same reports the place ranking counts at that place."""
    blank = (_text_column(given) == "").to_numpy()
    take = blank & (place_type != "")
    out = given.astype(object).copy()
    out[take] = place_type[take]
    return out


def _unhandled_row(row: pd.DataFrame, exc: BaseException) -> GeocodeResult:
    detail = f"{type(exc).__name__}: {exc}"
    if len(detail) > 200:
        detail = detail[:197] + "..."
    quarantine = pd.DataFrame(
        {
            "row_number": row["row_number"].to_numpy(),
            "reason": [
                f"row {r}: the geocoder could not handle this row ({detail}); locate it in Review"
                for r in row["row_number"]
            ],
            "field": "location",
            "value": [None] * len(row),
            "payload": quarantine_payloads(row),
        }
    )
    return GeocodeResult(located=_empty_located(row), quarantine=quarantine)


def _empty_located(rows: pd.DataFrame) -> pd.DataFrame:
    out = rows.iloc[:0].copy()
    for c, t in GEOCODED_COLUMNS.items():
        out[c] = pd.Series(dtype=t if t != "object" else object)
    return out


def geocode_safely(
    rows: pd.DataFrame,
    gazetteer,
    extra_places: pd.DataFrame | None = None,
    *,
    study_area: BaseGeometry | None = None,
    matcher: _Matcher | None = None,
    coordinate_precision: pd.DataFrame | None = None,
) -> GeocodeResult:
    """``geocode``, except that no row can abort the batch: when the batch raises, it is split in
    halves until the rows that raise are found; each is quarantined with the error named."""
    options = {"study_area": study_area, "matcher": matcher, "coordinate_precision": coordinate_precision}
    try:
        return geocode(rows, gazetteer, extra_places, **options)
    except Exception as exc:  # noqa: BLE001 - any failure of one row must not lose the others
        if len(rows) <= 1:
            return _unhandled_row(rows.reset_index(drop=True), exc)
    mid = len(rows) // 2
    parts = [
        geocode_safely(rows.iloc[:mid], gazetteer, extra_places, **options),
        geocode_safely(rows.iloc[mid:], gazetteer, extra_places, **options),
    ]
    located_parts = [p.located for p in parts if not p.located.empty]
    q_parts = [p.quarantine for p in parts if not p.quarantine.empty]
    return GeocodeResult(
        located=pd.concat(located_parts, ignore_index=True) if located_parts else parts[0].located,
        quarantine=pd.concat(q_parts, ignore_index=True) if q_parts else parts[0].quarantine,
    )


def link_to_places(
    located: pd.DataFrame, gazetteer, extra_places: pd.DataFrame | None = None, max_m: float | None = None
) -> pd.DataFrame:
    """Link point reports with a place type to the nearest place of that type within ``max_m``.

    Only points at least that precise: a point whose radius is wider (two decimals of a degree, a
    kilometre grid square) could be about any such place within its radius, so it stays unlinked."""
    max_m = settings.PLACE_LINK_MAX_M if max_m is None else max_m
    out = located.copy(deep=False)  # copy-on-write: the caller's frame is not changed by what is set here
    places = gazetteer.places
    if extra_places is not None and not extra_places.empty:
        places = pd.concat([extra_places, places], ignore_index=True)
    is_point = out["geocode_method"].isin(["coordinates_wgs84", "coordinates_bng"]).to_numpy()
    precise = (out["precision_m"].to_numpy(dtype=float) <= max_m) if "precision_m" in out else is_point
    want = (
        is_point
        & precise
        & out["place_id"].isna().to_numpy()
        & out["place_type"].isin(_LINKABLE_TYPES).to_numpy()
    )
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
    out["place_id"] = object_column(place_id, out.index)
    return out


def mark_online(row: pd.DataFrame) -> pd.DataFrame:
    """An analyst's reading of a quarantined row as online (Review): counted as online and never
    mapped, like a row whose setting said so. What the row gave (a postcode, a place name) is kept as
    it was written; it is not where the concern happened."""
    out = row.copy()
    out["online"] = True
    for col in ("latitude", "longitude", "geocode_confidence", "precision_m"):
        out[col] = np.nan
    out["geocode_method"] = "online"
    out["place_id"] = None
    given = out["place_type"] if "place_type" in out else pd.Series(None, index=out.index, dtype=object)
    out["place_type"] = given.where(given.notna() & (given != ""), "online")
    out["geocode_note"] = "marked online by an analyst in Review"
    out["h3"] = latlng_to_cells(np.full(len(out), np.nan), np.full(len(out), np.nan), settings.FINE_H3_RES)
    return out


def locate_manually(
    row: pd.DataFrame,
    lat: float,
    lon: float,
    place: pd.Series | None = None,
    precision_m: float | None = None,
) -> pd.DataFrame:
    """An analyst's location for a quarantined row (Review): a chosen place, a postcode or a map click.
    ``precision_m``: the radius of what was chosen (a postcode unit's, a click's at the map's zoom:
    ``map_click_radius_m``); when not given, 30 m for a place and 100 m for a point."""
    out = row.copy()
    out["latitude"] = float(lat)
    out["longitude"] = float(lon)
    out["geocode_method"] = "analyst"
    out["geocode_confidence"] = CONFIDENCE["analyst"]
    if precision_m is None:
        precision_m = _PLACE_PRECISION_M if place is not None else _POSTCODE_PRECISION_M
    out["precision_m"] = float(precision_m)
    out["place_id"] = place["place_id"] if place is not None else None
    if place is not None and isinstance(place.get("place_type"), str) and place["place_type"]:
        given = out["place_type"] if "place_type" in out else pd.Series(None, index=out.index, dtype=object)
        out["place_type"] = _type_from_place(given, np.full(len(out), place["place_type"], dtype=object))
    out["geocode_note"] = "located by an analyst in Review"
    out["h3"] = latlng_to_cells(np.array([lat]), np.array([lon]), settings.FINE_H3_RES)
    return out
