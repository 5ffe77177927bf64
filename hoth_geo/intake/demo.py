"""The deterministic synthetic demo data set: demo venues and partnership sharing-form reports.

Everything here is SYNTHETIC. People, narratives, agencies and venue names are fictional; venues are
placed at real public map points from the shipped gazetteer (police.uk landmark points and street
points) and always carry a generic name ending in '(demo)', never a real business's name.

``generate_demo(gazetteer)`` returns a :class:`DemoData` with

* ``venues``: demo places (``schema.GAZETTEER_PLACE_COLUMNS``, source 'demo', place_id 'demo:<slug>');
* ``reports``: sharing-form rows with exactly ``schema.TEMPLATE_COLUMNS`` as string columns, ready to
  be written as CSV and imported like any partner agency's export;
* ``truth``: the planted patterns (ids, venues, coordinates, expected H3 cells, date windows, counts)
  for tests and for checking that maps and hotspot statistics find what was planted.

The same gazetteer and seed always give identical output: all randomness comes from one
``numpy.random.Generator`` and every choice iterates over sorted, ordered data.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pyproj import Transformer
from rapidfuzz import fuzz, process, utils

from hoth_geo import hexes, schema, settings

__all__ = [
    "DEFAULT_SEED",
    "DEFAULT_START",
    "DEFAULT_MONTHS",
    "TRUTH_H3_RES",
    "TOWNS",
    "CLUSTER_TOWN",
    "PARK_TOWN",
    "HOTEL_TOWNS",
    "CSE_HOTEL_TOWN",
    "TAXI_TOWNS",
    "AMBIGUOUS_NAME",
    "N_BACKGROUND",
    "N_CLUSTER",
    "N_PARK_RECENT",
    "N_PARK_BEFORE",
    "N_HOTEL_CSE",
    "N_HOTEL_CSE_OTHER",
    "OTHER_HOTEL_REPORTS",
    "N_TAXI",
    "ONLINE_SHARE",
    "MESSY_COUNTS",
    "BACKGROUND_FORMS",
    "PLANTED_FORMS",
    "AGENCIES",
    "PLACE_AGENCY",
    "HOUR_PROFILES",
    "UNKNOWN_TIME_WORDS",
    "DOW_PROFILES",
    "AGENCY_RHYTHM",
    "BASE_CONCERNS",
    "CONCERN_BY_PLACE",
    "CONCERN_INDICATORS",
    "AGENCY_INDICATORS",
    "NARRATIVES",
    "PLACE_PHRASE",
    "LOCATION_NOTES",
    "VENUE_KIND",
    "STRIP_KINDS",
    "SOURCE_P",
    "INFORMATION_P",
    "HANDLING_P",
    "DemoData",
    "add_months",
    "slugify",
    "cell",
    "stable_cell",
    "generate_demo",
    "render_readme",
    "write_demo",
    "read_demo_reports",
]

DEFAULT_SEED = 20241101
DEFAULT_START = date(2024, 11, 1)
DEFAULT_MONTHS = 24
TRUTH_H3_RES = settings.DEFAULT_MAP_RES  # planted cells are reported at the default map resolution (8)

# Approximate town-centre reference points (WGS84) used to choose real gazetteer points for venues.
TOWNS: dict[str, tuple[float, float]] = {
    "Darlington": (54.5236, -1.5527),
    "Durham": (54.7761, -1.5733),
    "Bishop Auckland": (54.6640, -1.6766),
    "Chester-le-Street": (54.8570, -1.5740),
    "Consett": (54.8530, -1.8320),
    "Stanley": (54.8680, -1.6970),
    "Seaham": (54.8390, -1.3440),
    "Peterlee": (54.7600, -1.3360),
    "Newton Aycliffe": (54.6180, -1.5730),
    "Spennymoor": (54.6990, -1.6030),
    "Barnard Castle": (54.5430, -1.9210),
    "Crook": (54.7150, -1.7450),
}
CLUSTER_TOWN = "Darlington"  # (a) the persistent town-centre cluster
PARK_TOWN = "Peterlee"  # (b) the park that emerges in the last six months
HOTEL_TOWNS = (
    "Durham",
    "Darlington",
    "Bishop Auckland",
    "Chester-le-Street",
    "Consett",
    "Seaham",
    "Newton Aycliffe",
)
CSE_HOTEL_TOWN = "Durham"  # (c) the hotel with repeated CSE concerns
TAXI_TOWNS = ("Durham", "Chester-le-Street", "Bishop Auckland")  # (d) night-time taxi ranks
AMBIGUOUS_NAME = "Station Road Takeaway (demo)"  # (f) shared by two venues in different towns

# Planted volumes. The online share and the messy share are set relative to the total.
N_BACKGROUND = 3960
N_CLUSTER = 470
N_PARK_RECENT = 184
N_PARK_BEFORE = 3
N_HOTEL_CSE = 118
N_HOTEL_CSE_OTHER = 12  # non-CSE reports at the CSE hotel
OTHER_HOTEL_REPORTS = (14, 30)  # background reports per other demo hotel (inclusive range)
N_TAXI = 132
ONLINE_SHARE = 0.08
MESSY_COUNTS = {"bad_postcode": 62, "ambiguous_place": 46, "no_location": 44, "bad_latitude": 22}

# Location forms for background rows (shares of located, in-person background rows).
BACKGROUND_FORMS = {"latlon": 0.41, "bng": 0.10, "postcode": 0.27, "name": 0.15, "street": 0.07}
# Planted rows are always given in a form that locates them at their venue.
PLANTED_FORMS = {"latlon": 0.52, "bng": 0.14, "name": 0.34}

AGENCIES: dict[str, tuple[str, ...]] = {
    "school": (
        "Demo Secondary School A",
        "Demo Secondary School B",
        "Demo Academy C",
        "Demo FE College (synthetic)",
        "Demo Pupil Referral Unit",
    ),
    "health": (
        "Demo NHS Trust (synthetic)",
        "Demo Sexual Health Service (synthetic)",
        "Demo School Nursing Team (synthetic)",
    ),
    "housing": ("Demo Housing Association", "Demo Council Housing Team"),
    "youth_service": ("Demo Youth Service", "Demo Detached Youth Work Team"),
    "social_care": ("Demo Children's Social Care", "Demo Missing from Home Team"),
    "taxi_licensing": ("Demo Taxi Licensing",),
    "hotel_accommodation": ("Demo Hotel Reception Team (synthetic)",),
    "community": ("Demo Community Centre", "Demo Bus Operator (synthetic)", "Demo Sports Club"),
    "police": ("Demo Neighbourhood Policing Team",),
    "other": ("Demo Retail Security (synthetic)", "Demo Fast Food Staff (synthetic)"),
}

# Which agencies see which places (relative weights of agency types).
PLACE_AGENCY: dict[str, dict[str, float]] = {
    "residential_street": {
        "housing": 3,
        "police": 3,
        "social_care": 2,
        "community": 1.5,
        "youth_service": 1.5,
        "school": 1,
        "health": 0.5,
    },
    "school": {"school": 6, "police": 1, "youth_service": 1, "social_care": 1},
    "shop": {"other": 2, "police": 2, "community": 1.5, "youth_service": 1, "school": 0.5},
    "shopping_centre": {"other": 2, "police": 2, "youth_service": 1.5, "community": 1},
    "takeaway": {"other": 1.5, "police": 2, "youth_service": 2, "community": 1, "social_care": 0.5},
    "park": {"youth_service": 3, "police": 2, "community": 2, "school": 0.5},
    "car_park": {"police": 3, "community": 1, "other": 1, "youth_service": 1},
    "petrol_station": {"other": 2, "police": 2, "community": 1},
    "health": {"health": 6, "police": 0.5, "social_care": 1},
    "licensed_premises": {"other": 2, "police": 3, "health": 0.5, "youth_service": 0.5},
    "leisure": {"community": 3, "youth_service": 2, "police": 1, "school": 0.5},
    "transport_hub": {"community": 2, "police": 2, "youth_service": 1.5, "social_care": 0.5},
    "taxi": {"taxi_licensing": 4, "police": 2, "community": 0.5},
    "hotel": {"hotel_accommodation": 4, "police": 2, "social_care": 1, "health": 0.5},
    "residential_other": {"police": 1, "social_care": 1, "community": 1, "housing": 1},
    "other": {"police": 1, "social_care": 1, "community": 1, "housing": 1},
}

# When agencies see things: hour-of-day and day-of-week profiles.


def _hours(spec: dict[int, float]) -> np.ndarray:
    w = np.zeros(24)
    for h, v in spec.items():
        w[h % 24] = v
    return w / w.sum()


HOUR_PROFILES: dict[str, np.ndarray] = {
    "school": _hours({8: 3, 9: 2, 10: 2, 11: 2, 12: 3, 13: 2, 14: 2, 15: 4, 16: 2}),
    "office": _hours({8: 0.5, 9: 2, 10: 2, 11: 2, 12: 1.5, 13: 2, 14: 2, 15: 2, 16: 2, 17: 0.7}),
    "evening": _hours(
        {12: 0.3, 13: 0.3, 14: 0.4, 15: 1, 16: 1.4, 17: 2, 18: 2.6, 19: 3, 20: 3, 21: 2.4, 22: 1.4, 23: 0.6}
    ),
    "night": _hours({22: 2, 23: 3, 0: 3, 1: 2.5, 2: 2, 3: 1.2}),
    "allday": _hours(
        {
            h: v
            for h, v in zip(
                range(7, 24),
                (0.3, 0.6, 1, 1.1, 1.2, 1.4, 1.4, 1.5, 1.8, 2, 2, 2, 1.8, 1.5, 1, 0.6, 0.3),
                strict=True,
            )
        }
    ),
    "health": _hours({h: (0.4 if h < 7 else 1.0 if h < 10 else 1.6 if h < 20 else 1.2) for h in range(24)}),
    "cluster": _hours({17: 1.4, 18: 2, 19: 2.6, 20: 3, 21: 3, 22: 2.2}),
    "after_school": _hours({15: 1.5, 16: 2.5, 17: 3, 18: 3, 19: 2.5, 20: 2, 21: 1.2}),
    "hotel": _hours(
        {
            h: v
            for h, v in zip(
                (16, 17, 18, 19, 20, 21, 22, 23, 0, 1, 2),
                (0.5, 0.8, 1.2, 1.8, 2.2, 2.6, 2.8, 2.6, 1.8, 1.1, 0.6),
                strict=True,
            )
        }
    ),
}

# What a partner writes instead of a time of day, by profile (others leave it blank): stored with the
# time unknown and the words kept, as an import keeps them.
UNKNOWN_TIME_WORDS = {"after_school": "after school", "evening": "evening", "night": "late at night"}

DOW_PROFILES: dict[str, np.ndarray] = {  # Monday .. Sunday
    "weekday": np.array([1, 1, 1, 1, 1, 0.08, 0.05]),
    "flat": np.array([1, 1, 1, 1, 1.1, 1.1, 0.9]),
    "weekend_evening": np.array([0.7, 0.7, 0.8, 0.9, 1.5, 1.7, 1.1]),
    "cluster": np.array([0.5, 0.5, 0.55, 0.65, 1.7, 2.1, 1.4]),
}
AGENCY_RHYTHM: dict[str, tuple[str, str]] = {
    "school": ("school", "weekday"),
    "housing": ("office", "weekday"),
    "social_care": ("office", "weekday"),
    "health": ("health", "flat"),
    "youth_service": ("evening", "weekend_evening"),
    "taxi_licensing": ("night", "weekend_evening"),
    "hotel_accommodation": ("hotel", "weekend_evening"),
    "community": ("allday", "flat"),
    "police": ("evening", "weekend_evening"),
    "other": ("allday", "flat"),
}

BASE_CONCERNS: dict[str, float] = {
    "cce": 0.22,
    "cse": 0.14,
    "missing": 0.12,
    "drugs_alcohol": 0.14,
    "weapons": 0.06,
    "people_of_concern": 0.12,
    "asb": 0.10,
    "radicalisation": 0.015,
    "trafficking": 0.015,
    "other": 0.04,
    "online_harm": 0.02,
}
CONCERN_BY_PLACE: dict[str, dict[str, float]] = {
    "takeaway": {"cse": 1.6, "people_of_concern": 1.5, "cce": 1.3},
    "park": {"drugs_alcohol": 1.8, "asb": 1.8},
    "school": {"weapons": 2, "cce": 1.2, "radicalisation": 3, "online_harm": 3},
    "transport_hub": {"cce": 1.6, "missing": 1.6},
    "health": {"cse": 2, "drugs_alcohol": 1.6},
    "hotel": {"cse": 1.3, "missing": 1.5, "trafficking": 3},
    "car_park": {"people_of_concern": 2, "cse": 1.3},
    "licensed_premises": {"cse": 1.6, "drugs_alcohol": 2},
    "residential_street": {"cce": 1.2, "missing": 1.3},
}
CONCERN_INDICATORS: dict[str, tuple[str, ...]] = {
    "cce": (
        "asb_or_crime",
        "unexplained_money_items",
        "missing_from_home",
        "not_attending_school",
        "unknown_adults",
    ),
    "cse": (
        "unknown_adults",
        "hotels_taxis_takeaways",
        "abusive_relationship",
        "pregnancy_sti",
        "appointments_unknown_person",
        "unexplained_money_items",
    ),
    "missing": ("missing_from_home", "less_time_with_family", "not_attending_school"),
    "drugs_alcohol": ("drugs_alcohol_misuse", "asb_or_crime"),
    "weapons": ("asb_or_crime", "unexplained_ae"),
    "people_of_concern": ("unknown_adults", "less_time_with_family"),
    "online_harm": ("concerning_phone_internet", "unknown_adults"),
    "radicalisation": ("extreme_views", "concerning_phone_internet"),
    "asb": ("asb_or_crime", "less_time_with_family"),
    "trafficking": ("missing_from_home", "unknown_adults", "unexplained_money_items"),
    "other": ("less_time_with_family",),
}
AGENCY_INDICATORS: dict[str, tuple[str, ...]] = {
    "school": ("not_attending_school",),
    "health": ("unexplained_ae", "appointments_unknown_person", "pregnancy_sti"),
    "hotel_accommodation": ("hotels_taxis_takeaways",),
    "taxi_licensing": ("hotels_taxis_takeaways",),
}
NARRATIVES: dict[str, str] = {
    "cce": "Young person seen passing small packages to others {at}; appears to be running for older males",
    "cse": "Young person seen getting into cars with unknown adults {at}",
    "missing": "Young person reported missing overnight, later found {at}",
    "drugs_alcohol": "Group of young people seen drinking and using cannabis {at}",
    "weapons": "Young person said to be carrying a knife {at}",
    "people_of_concern": "Unknown adult repeatedly seen talking to young people {at}",
    "online_harm": "Young person receiving messages from an unknown adult on a social media app",
    "radicalisation": "Young person sharing extremist material with peers {at}",
    "asb": "Group of young people causing damage {at}, older youths directing them",
    "trafficking": "Young person moved between addresses by adults, seen {at}",
    "other": "General concern about a young person's welfare {at}",
}
PLACE_PHRASE: dict[str, str] = {
    "park": "in the park",
    "hotel": "at the hotel",
    "takeaway": "outside the takeaway",
    "taxi": "at the taxi rank",
    "shop": "outside the shop",
    "shopping_centre": "in the shopping area",
    "school": "near the school",
    "transport_hub": "at the bus station",
    "car_park": "in the car park",
    "licensed_premises": "outside a late-night venue",
    "leisure": "at the sports ground",
    "petrol_station": "at the petrol station",
    "health": "at the hospital",
    "residential_street": "in a residential street",
    "other": "in the area",
}
# Harmless free text for the Location column (never a street or a place name).
LOCATION_NOTES = (
    "",
    "",
    "",
    "Outside the entrance",
    "Near the main doors",
    "By the bus shelter",
    "Rear yard",
    "Seen from a vehicle",
)

# Demo venue kinds, named unlike the gazetteer's landmark names ('Supermarket, <ward>', ...).
VENUE_KIND: dict[str, str] = {
    "shop": "Corner shop",
    "car_park": "Car park",
    "petrol_station": "Filling station",
    "shopping_centre": "Shopping parade",
    "school": "College campus",
    "health": "Hospital grounds",
    "licensed_premises": "Late bar",
    "leisure": "Sports pitches",
    "transport_hub": "Bus station",
    "park": "Public park",
}
STRIP_KINDS = ("Chicken shop", "Pizza takeaway", "Kebab house", "Chip shop")
SOURCE_P = (0.25, 0.60, 0.15)
INFORMATION_P = (0.07, 0.36, 0.38, 0.13, 0.06)
HANDLING_P = (0.85, 0.15)

# Name-matching thresholds mirror the geocoder's (settings): names and typos are checked against them.
_NAME_CLASH = 90.0  # a venue's name may score at most this against any other place name
_TYPO_MIN = 92.0  # a typo must still score this against its own venue
_TYPO_GAP = 8.0  # ... and this much more than against any other place


@dataclass
class DemoData:
    """Demo venues, sharing-form report rows (all strings) and the planted truth."""

    venues: pd.DataFrame
    reports: pd.DataFrame
    truth: dict[str, Any] = field(default_factory=dict)


# --- small helpers -------------------------------------------------------------------------------


def add_months(d: date, months: int) -> date:
    """The first day of the month ``months`` after ``d``'s month."""
    m = d.month - 1 + months
    return date(d.year + m // 12, m % 12 + 1, 1)


def slugify(text: str) -> str:
    """``text`` as a lower-case id: letters and digits, runs of anything else as one hyphen."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def cell(lat: float, lon: float, res: int = TRUTH_H3_RES) -> str:
    """The H3 cell id (hex string) of a point at ``res``, as the planted truth records it."""
    return hexes.cell_to_str(hexes.latlng_to_cell(lat, lon, res))


def stable_cell(lat: float, lon: float, radius_m: float = 40.0) -> bool:
    """True when a point and a ring around it share one res-8 cell, both directly and as the parent of
    their fine (res-11) cells, which is how stored reports are aggregated: jittered reports at a venue
    with a stable cell all land in that venue's cell."""
    c = cell(lat, lon)
    for k in range(9):
        a, b = (
            (lat, lon)
            if k == 8
            else _offset(lat, lon, radius_m * math.cos(k * math.pi / 4), radius_m * math.sin(k * math.pi / 4))
        )
        fine = hexes.latlng_to_cell(a, b, settings.FINE_H3_RES)
        if cell(a, b) != c or hexes.cell_to_str(hexes.cell_parent(fine, TRUTH_H3_RES)) != c:
            return False
    return True


def _stable_rows(df: pd.DataFrame) -> pd.DataFrame:
    keep = [stable_cell(a, b) for a, b in zip(df["latitude"], df["longitude"], strict=True)]
    return df[np.asarray(keep, dtype=bool)] if any(keep) else df


def _metres(lat0: float, lat: np.ndarray, lon: np.ndarray, lat_ref: float, lon_ref: float) -> np.ndarray:
    dy = (np.asarray(lat) - lat_ref) * 111_320.0
    dx = (np.asarray(lon) - lon_ref) * 111_320.0 * math.cos(math.radians(lat0))
    return np.hypot(dx, dy)


def _dist(df: pd.DataFrame, lat: float, lon: float) -> np.ndarray:
    return _metres(lat, df["latitude"].to_numpy(float), df["longitude"].to_numpy(float), lat, lon)


def _offset(lat: float, lon: float, dx_m: float, dy_m: float) -> tuple[float, float]:
    return lat + dy_m / 111_320.0, lon + dx_m / (111_320.0 * math.cos(math.radians(lat)))


_TO_BNG = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)


def _match_key(name: str) -> str:
    # As the geocoder compares names: parenthesised notes such as '(demo)' removed, then normalised.
    return utils.default_process(re.sub(r"\([^)]*\)", " ", name))


def _good_street(name: object) -> bool:
    s = str(name or "")
    return bool(re.fullmatch(r"[A-Z][A-Za-z' .-]+", s)) and len(s.split()) >= 2


class _Gen:
    """One generation run: the gazetteer views, the random generator and the rows built so far."""

    def __init__(self, gazetteer: Any, seed: int, start: date, months: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.seed, self.start, self.months = seed, start, months
        self.end = add_months(start, months) - timedelta(days=1)
        self.recent_start = add_months(start, months - 6)
        self.n_days = (self.end - start).days + 1
        self.days = [start + timedelta(days=i) for i in range(self.n_days)]
        self.dow = np.array([d.weekday() for d in self.days])

        pc = gazetteer.postcodes
        if "lad_code" in pc.columns:
            local = pc[pc["lad_code"].isin(["E06000047", "E06000005"])]
            pc = local if len(local) else pc
        self.postcodes = pc.dropna(subset=["latitude", "longitude"]).sort_values(
            "postcode", ignore_index=True
        )
        self.all_postcodes = set(gazetteer.postcodes["postcode"].dropna())
        self.sectors = set(gazetteer.postcodes["postcode"].dropna().str[:-2])
        self.places = gazetteer.places.dropna(subset=["latitude", "longitude"]).sort_values(
            "place_id", ignore_index=True
        )
        st = gazetteer.streets.dropna(subset=["latitude", "longitude"])
        self.streets = st[st["street"].map(_good_street)].sort_values(
            ["street", "locality"], ignore_index=True
        )
        self.venues: list[dict[str, Any]] = []
        self.rows: list[dict[str, Any]] = []
        self.landmark_keys = [_match_key(n) for n in self.places["name"].dropna().astype(str)]

    # --- venues ----------------------------------------------------------------------------------

    def _nearest_district(self, lat: float, lon: float) -> str:
        i = int(np.argmin(_dist(self.postcodes, lat, lon)))
        return str(self.postcodes["postcode"].iat[i]).split(" ")[0]

    def _nearest_street(self, lat: float, lon: float, skip: int = 0, stable: bool = False) -> pd.Series:
        order = np.argsort(_dist(self.streets, lat, lon), kind="stable")
        if stable:
            ok = [
                i
                for i in order[:60]
                if stable_cell(self.streets["latitude"].iat[i], self.streets["longitude"].iat[i])
            ]
            order = np.asarray(ok or order, dtype=int)
        return self.streets.iloc[int(order[skip])]

    def _name_ok(self, name: str, allow_same: bool = False) -> bool:
        key = _match_key(name)
        others = self.landmark_keys + [_match_key(v["name"]) for v in self.venues]
        if not allow_same and key in others:
            return False
        hit = process.extractOne(key, [o for o in others if o != key], scorer=fuzz.WRatio, processor=None)
        return hit is None or hit[1] < _NAME_CLASH

    def add_venue(
        self, name: str, place_type: str, lat: float, lon: float, locality: Any, role: str, **extra: Any
    ) -> dict[str, Any] | None:
        if not self._name_ok(name, allow_same=role == "ambiguous"):
            return None
        slug = slugify(name.replace("(demo)", ""))
        if role == "ambiguous":
            slug = f"{slug}-{slugify(str(locality))}"
        v = {
            "place_id": f"demo:{slug}",
            "name": name,
            "place_type": place_type,
            "latitude": round(float(lat), 6),
            "longitude": round(float(lon), 6),
            "locality": locality if isinstance(locality, str) else None,
            "postcode_district": self._nearest_district(lat, lon),
            "source": "demo",
            "role": role,
            **extra,
        }
        if any(x["place_id"] == v["place_id"] for x in self.venues):
            return None
        self.venues.append(v)
        return v

    def build_venues(self) -> None:
        pl = self.places
        # (a) the bus station nearest the cluster town centre, and a takeaway strip on a nearby street.
        lat0, lon0 = TOWNS[CLUSTER_TOWN]
        hubs = pl[pl["place_type"] == "transport_hub"]
        if hubs.empty or _dist(hubs, lat0, lon0).min() > 2_000:
            hubs = pl
        hubs = _stable_rows(
            hubs[_dist(hubs, lat0, lon0) <= max(2_000.0, float(_dist(hubs, lat0, lon0).min()))]
        )
        hub = hubs.iloc[int(np.argmin(_dist(hubs, lat0, lon0)))]
        self.bus = self.add_venue(
            f"Bus station, {CLUSTER_TOWN} town centre (demo)",
            "transport_hub",
            hub["latitude"],
            hub["longitude"],
            hub["locality"],
            "cluster",
            source_place_id=hub["place_id"],
        )
        hub_cell = cell(hub["latitude"], hub["longitude"])
        near = self.streets.assign(d=_dist(self.streets, hub["latitude"], hub["longitude"]))
        near = near[(near["d"] <= 400) & (near["street"] != "Station Road")].copy()
        near["same_cell"] = [
            cell(a, b) == hub_cell and stable_cell(a, b)
            for a, b in zip(near["latitude"], near["longitude"], strict=True)
        ]
        near = near.sort_values(
            ["same_cell", "n_points", "d", "street"], ascending=[False, False, True, True]
        )
        self.strip_street = (
            near.iloc[0] if len(near) else self._nearest_street(hub["latitude"], hub["longitude"])
        )
        s = self.strip_street
        self.strip = []
        for i, kind in enumerate(STRIP_KINDS):
            la, lo = _offset(s["latitude"], s["longitude"], (i - 1.5) * 20.0, (-1) ** i * 6.0)
            v = self.add_venue(
                f"{kind}, {s['street']} strip (demo)", "takeaway", la, lo, s["locality"], "cluster"
            )
            if v:
                self.strip.append(v)

        # (b) the park nearest the park town (at least 5 km from the cluster).
        parks = pl[pl["place_type"] == "park"]
        parks = _stable_rows(parks[_dist(parks, lat0, lon0) > 5_000])
        plat, plon = TOWNS[PARK_TOWN]
        park = parks.iloc[int(np.argmin(_dist(parks, plat, plon)))]
        town = min(TOWNS, key=lambda t: float(_dist(pd.DataFrame([park]), *TOWNS[t])[0]))
        for label in (park["locality"], f"{town} area"):
            self.park = self.add_venue(
                f"Public park, {label} (demo)",
                "park",
                park["latitude"],
                park["longitude"],
                park["locality"],
                "emerging_park",
                source_place_id=park["place_id"],
            )
            if self.park:
                break

        # (c) demo hotels at street points in town centres; (d) taxi ranks.
        self.hotels = []
        for i, town in enumerate(HOTEL_TOWNS):
            s = self._nearest_street(*TOWNS[town], skip=1, stable=True)
            la, lo = s["latitude"], s["longitude"]
            v = self.add_venue(
                f"Hotel {chr(65 + i)}, {town} (demo)", "hotel", la, lo, s["locality"], "hotel", town=town
            )
            if v:
                self.hotels.append(v)
        self.cse_hotel = next(h for h in self.hotels if h["town"] == CSE_HOTEL_TOWN)
        self.taxis = []
        for town in TAXI_TOWNS:
            s = self._nearest_street(*TOWNS[town], stable=True)
            v = self.add_venue(
                f"Taxi rank, {s['street']}, {town} (demo)",
                "taxi",
                s["latitude"],
                s["longitude"],
                s["locality"],
                "taxi",
            )
            if v:
                self.taxis.append(v)

        # (f) two venues sharing one generic name, on Station Roads in different towns.
        sr = self.streets[self.streets["street"] == "Station Road"]
        self.ambiguous = []
        if len(sr):
            a = sr.iloc[int(np.argmin(_dist(sr, *TOWNS["Seaham"])))]
            far = sr[_dist(sr, a["latitude"], a["longitude"]) > 8_000]
            b = far.iloc[int(np.argmin(_dist(far, *TOWNS["Bishop Auckland"])))] if len(far) else None
            for s in (a, b):
                if s is not None:
                    v = self.add_venue(
                        AMBIGUOUS_NAME, "takeaway", s["latitude"], s["longitude"], s["locality"], "ambiguous"
                    )
                    if v:
                        self.ambiguous.append(v)

        # Background venues: one per landmark point of the kinds below, named by the nearest street.
        self.park_cell = cell(self.park["latitude"], self.park["longitude"])
        used = {v.get("source_place_id") for v in self.venues}
        bg = pl[pl["place_type"].isin(list(VENUE_KIND)) & ~pl["place_id"].isin(used)]
        for _, p in bg.iterrows():
            if cell(p["latitude"], p["longitude"]) == self.park_cell:
                continue
            for skip in range(3):
                s = self._nearest_street(p["latitude"], p["longitude"], skip=skip)
                name = f"{VENUE_KIND[p['place_type']]}, {s['street']} (demo)"
                if self.add_venue(
                    name, p["place_type"], p["latitude"], p["longitude"], p["locality"], "background"
                ):
                    break
        # Background takeaways on town-centre streets.
        for town in sorted(TOWNS):
            for skip in (2, 4):
                s = self._nearest_street(*TOWNS[town], skip=skip)
                if cell(s["latitude"], s["longitude"]) == self.park_cell:
                    continue
                la, lo = _offset(s["latitude"], s["longitude"], -12.0, 9.0)
                self.add_venue(
                    f"Takeaway, {s['street']}, {town} (demo)", "takeaway", la, lo, s["locality"], "background"
                )
        self.bg_venues = [v for v in self.venues if v["role"] == "background"]

    # --- sampling ----------------------------------------------------------------------------------

    def day_weights(self, dow: str, trend: float = 0.25, school: bool = False) -> np.ndarray:
        w = DOW_PROFILES[dow][self.dow] * (1.0 + trend * np.arange(self.n_days) / self.n_days)
        if school:
            hol = np.array(
                [
                    (d.month == 8)
                    or (d.month == 7 and d.day > 22)
                    or (d.month == 12 and d.day > 20)
                    or (d.month == 1 and d.day < 4)
                    for d in self.days
                ]
            )
            w = w * np.where(hol, 0.08, 1.0)
        return w / w.sum()

    def sample_day(self, p: np.ndarray) -> date:
        return self.days[int(self.rng.choice(self.n_days, p=p))]

    def sample_time(self, profile: str, p_unknown: float) -> str:
        if self.rng.random() < p_unknown:
            # Some partners say when in words rather than leave the time blank.
            return UNKNOWN_TIME_WORDS.get(profile, "")
        h = int(self.rng.choice(24, p=HOUR_PROFILES[profile]))
        m = int(self.rng.choice([0, 15, 30, 45])) if self.rng.random() < 0.6 else int(self.rng.integers(60))
        return f"{h:02d}:{m:02d}"

    def pick(self, weights: dict[str, float]) -> str:
        keys = list(weights)
        w = np.array([weights[k] for k in keys], dtype=float)
        return keys[int(self.rng.choice(len(keys), p=w / w.sum()))]

    def agency(self, agency_type: str) -> str:
        names = AGENCIES[agency_type]
        return names[int(self.rng.integers(len(names)))]

    def concerns_for(
        self, place_type: str, forced: tuple[str, ...] = (), extra: dict[str, float] | None = None
    ) -> list[str]:
        w = dict(BASE_CONCERNS)
        for k, m in CONCERN_BY_PLACE.get(place_type, {}).items():
            w[k] *= m
        for k, m in (extra or {}).items():
            w[k] *= m
        out = list(forced)
        k = int(self.rng.choice([1, 2, 3], p=[0.6, 0.32, 0.08]))
        while len(out) < k:
            c = self.pick({a: b for a, b in w.items() if a not in out})
            out.append(c)
        return out

    def indicators_for(self, concerns: list[str], agency_type: str) -> list[str]:
        pool: list[str] = []
        for c in concerns:
            pool += [i for i in CONCERN_INDICATORS[c] if i not in pool]
        pool += [i for i in AGENCY_INDICATORS.get(agency_type, ()) if i not in pool]
        k = min(len(pool), int(self.rng.choice([0, 1, 2, 3], p=[0.08, 0.4, 0.35, 0.17])))
        idx = self.rng.choice(len(pool), size=k, replace=False) if k else []
        return [pool[int(i)] for i in sorted(idx)]

    def child(self, lo: int, hi: int, p_blank: float = 0.08) -> str:
        if self.rng.random() < p_blank:
            return ""
        # Among background children a tenth of the references carry a third of the reports.
        if hi - lo > 100 and self.rng.random() < 0.3:
            hi = lo + (hi - lo) // 10
        return f"DEMO-C{int(self.rng.integers(lo, hi)):04d}"

    # --- one report row ----------------------------------------------------------------------------

    def row(
        self,
        kind: str,
        *,
        day: date,
        time: str,
        agency_type: str,
        place_type: str,
        concerns: list[str],
        child: str,
        venue: dict[str, Any] | None = None,
        online: bool = False,
    ) -> dict[str, Any]:
        rng = self.rng
        lag = int(
            rng.choice(
                [0, 1, 2, 3, 5, 7, 10, 14, 21], p=[0.38, 0.24, 0.1, 0.08, 0.07, 0.05, 0.04, 0.02, 0.02]
            )
        )
        received = min(day + timedelta(days=lag), self.end)
        indicators = self.indicators_for(concerns, agency_type)
        use_labels = rng.random() < 0.12
        concerns_txt = ";".join(schema.CONCERNS[c] if use_labels else c for c in concerns)
        ind_txt = ";".join(schema.INDICATORS[i] if rng.random() < 0.08 else i for i in indicators)
        pt_txt = schema.PLACE_TYPES[place_type] if place_type and rng.random() < 0.12 else place_type
        at = PLACE_PHRASE.get(place_type, "in the area")
        text = NARRATIVES[concerns[0]].format(at=at)
        r = {c: "" for c in schema.TEMPLATE_COLUMNS}
        r.update(
            {
                "Date received": received.strftime("%d/%m/%Y"),
                "Date observed": day.strftime("%d/%m/%Y"),
                "Time observed": time,
                "Reporting agency": self.agency(agency_type),
                "Agency type": agency_type,
                "Place type": pt_txt,
                "Setting": "Online" if online else "",
                "Concerns": concerns_txt,
                "Indicators": ind_txt,
                "Source grading": str(rng.choice(schema.GRADING_SOURCE, p=SOURCE_P)),
                "Information grading": str(rng.choice(schema.GRADING_INFORMATION, p=INFORMATION_P)),
                "Handling code": str(rng.choice(schema.GRADING_HANDLING, p=HANDLING_P)),
                "Narrative": f"SYNTHETIC DEMO REPORT. {text} (fictional).",
                "Child reference": child,
            }
        )
        r.update(
            {
                "_kind": kind,
                "_day": day,
                "_venue": venue["place_id"] if venue else "",
                "_form": "online" if online else "",
                "_lat": np.nan,
                "_lon": np.nan,
                "_concerns": "|".join(sorted(concerns)),
            }
        )
        self.rows.append(r)
        return r

    # --- location forms ----------------------------------------------------------------------------

    def _jitter(self, lat: float, lon: float, radius: float = 25.0) -> tuple[float, float]:
        rr = radius * math.sqrt(self.rng.random())
        th = 2 * math.pi * self.rng.random()
        return _offset(lat, lon, rr * math.cos(th), rr * math.sin(th))

    def put_point(self, r: dict[str, Any], lat: float, lon: float, form: str, name: str = "") -> None:
        la, lo = self._jitter(lat, lon)
        if form == "latlon":
            dp = 4 if self.rng.random() < 0.2 else 6
            r["Latitude"], r["Longitude"] = f"{la:.{dp}f}", f"{lo:.{dp}f}"
            if name and self.rng.random() < 0.5:
                r["Place name"] = name
        else:
            e, n = _TO_BNG.transform(lo, la)
            step = 10 if self.rng.random() < 0.2 else 1
            r["Easting"], r["Northing"] = str(int(round(e / step) * step)), str(int(round(n / step) * step))
        r["Location"] = LOCATION_NOTES[int(self.rng.integers(len(LOCATION_NOTES)))]
        r["_form"], r["_lat"], r["_lon"] = form, la, lo

    def put_name(self, r: dict[str, Any], venue: dict[str, Any], allow_typo: bool = True) -> None:
        name = venue["name"]
        if allow_typo and self.rng.random() < 0.25:
            name = self.typo(name, venue)
        r["Place name"] = name
        r["Location"] = LOCATION_NOTES[int(self.rng.integers(len(LOCATION_NOTES)))]
        r["_form"], r["_lat"], r["_lon"] = "name", venue["latitude"], venue["longitude"]

    def typo(self, name: str, venue: dict[str, Any]) -> str:
        """A small slip a fuzzy matcher should still accept; the exact name if no safe slip is found."""
        base, suffix = (name[:-7], " (demo)") if name.endswith(" (demo)") else (name, "")
        for _ in range(4):
            kind = int(self.rng.integers(4))
            if kind == 0:
                cand = base.lower()
            elif kind == 1:
                cand = base.upper()
            else:
                letters = [i for i, ch in enumerate(base) if ch.isalpha() and 0 < i < len(base) - 1]
                i = letters[int(self.rng.integers(len(letters)))]
                cand = (
                    base[:i] + base[i + 1 :]
                    if kind == 2
                    else base[:i] + base[i + 1] + base[i] + base[i + 2 :]
                )
            cand = cand + (suffix if self.rng.random() < 0.5 else "")
            if self._typo_ok(cand, venue):
                return cand
        return name

    def _typo_ok(self, cand: str, venue: dict[str, Any]) -> bool:
        key = _match_key(cand)
        own = _match_key(venue["name"])
        others = [k for k in self.landmark_keys + self.venue_keys if k != own]
        s_own = fuzz.WRatio(key, own, processor=None)
        best = process.extractOne(key, others, scorer=fuzz.WRatio, processor=None)
        return s_own >= _TYPO_MIN and (best is None or best[1] <= s_own - _TYPO_GAP)

    def put_postcode(self, r: dict[str, Any], pc_row: pd.Series) -> None:
        pc = str(pc_row["postcode"])
        u = self.rng.random()
        r["Postcode"] = pc.lower() if u < 0.05 else pc.replace(" ", "") if u < 0.1 else pc
        r["Location"] = LOCATION_NOTES[int(self.rng.integers(len(LOCATION_NOTES)))]
        r["_form"], r["_lat"], r["_lon"] = "postcode", pc_row["latitude"], pc_row["longitude"]

    def put_street(self, r: dict[str, Any], s: pd.Series) -> None:
        r["Location"] = f"near the shops on {s['street']}, {s['locality']}"
        r["_form"], r["_lat"], r["_lon"] = "street", s["latitude"], s["longitude"]

    # --- the report sets -----------------------------------------------------------------------------

    def prepare_pools(self) -> None:
        self.venue_keys = [_match_key(v["name"]) for v in self.venues]
        pc_cells = np.array(
            [cell(a, b) for a, b in zip(self.postcodes["latitude"], self.postcodes["longitude"], strict=True)]
        )
        self.pc_pool = self.postcodes[pc_cells != self.park_cell].reset_index(drop=True)
        # Streets the geocoder resolves uniquely from 'near the shops on <street>, <locality>'.
        st = self.streets[self.streets["locality"].notna()]
        keys = (
            st["street"].str.lower().str.replace(r"[^a-z0-9' ]+", " ", regex=True).str.split().str.join(" ")
        )
        st = st.assign(_key=keys)
        groups = {k: g for k, g in st.groupby("_key", sort=True)}
        ok = []
        for k, g in groups.items():
            for _, s in g.iterrows():
                text = f"near the shops on {s['street']}, {s['locality']}".lower()
                if sum(str(loc).lower() in text for loc in g["locality"]) != 1:
                    continue
                words = re.findall(r"[a-z0-9']+", text)
                grams = {" ".join(words[i : i + n]) for n in range(2, 6) for i in range(len(words) - n + 1)}
                if any(gm in groups and gm != k and len(gm) >= len(k) for gm in grams):
                    continue
                if cell(s["latitude"], s["longitude"]) != self.park_cell:
                    ok.append(s)
        self.street_pool = pd.DataFrame(ok).drop(columns="_key").reset_index(drop=True)
        self.point_street_pool = self.streets[
            [
                cell(a, b) != self.park_cell
                for a, b in zip(self.streets["latitude"], self.streets["longitude"], strict=True)
            ]
        ].reset_index(drop=True)

    def background(self, n: int) -> None:
        rng = self.rng
        forms = list(BACKGROUND_FORMS)
        fp = np.array(list(BACKGROUND_FORMS.values()))
        free_types = {
            "residential_street": 45,
            "shop": 10,
            "school": 9,
            "park": 8,
            "takeaway": 7,
            "car_park": 6,
            "other": 8,
            "leisure": 7,
        }
        for _ in range(n):
            form = forms[int(rng.choice(len(forms), p=fp / fp.sum()))]
            venue = None
            if form == "name" or (form in ("latlon", "bng") and rng.random() < 0.4):
                venue = self.bg_venues[int(rng.integers(len(self.bg_venues)))]
                place_type = venue["place_type"]
            else:
                place_type = self.pick(free_types)
            at = self.pick(PLACE_AGENCY.get(place_type, PLACE_AGENCY["other"]))
            hours, dow = AGENCY_RHYTHM[at]
            day = self.sample_day(self.day_weights(dow, school=at == "school"))
            r = self.row(
                "background",
                day=day,
                time=self.sample_time(hours, 0.17),
                agency_type=at,
                place_type=place_type,
                concerns=self.concerns_for(place_type),
                child=self.child(1, 1400),
                venue=venue,
            )
            if venue is not None and form == "name":
                self.put_name(r, venue)
            elif venue is not None:
                self.put_point(r, venue["latitude"], venue["longitude"], form, venue["name"])
            elif form == "postcode":
                self.put_postcode(r, self.pc_pool.iloc[int(rng.integers(len(self.pc_pool)))])
            elif form == "street":
                self.put_street(r, self.street_pool.iloc[int(rng.integers(len(self.street_pool)))])
            else:
                src = self.pc_pool if rng.random() < 0.7 else self.point_street_pool
                p = src.iloc[int(rng.integers(len(src)))]
                self.put_point(r, p["latitude"], p["longitude"], form)

    def planted(
        self,
        kind: str,
        venue: dict[str, Any],
        *,
        day: date,
        time: str,
        agency_type: str,
        concerns: list[str],
        child: str,
    ) -> dict[str, Any]:
        r = self.row(
            kind,
            day=day,
            time=time,
            agency_type=agency_type,
            place_type=venue["place_type"],
            concerns=concerns,
            child=child,
            venue=venue,
        )
        forms = list(PLANTED_FORMS)
        fp = np.array(list(PLANTED_FORMS.values()))
        form = forms[int(self.rng.choice(len(forms), p=fp / fp.sum()))]
        if form == "name":
            self.put_name(r, venue)
        else:
            self.put_point(r, venue["latitude"], venue["longitude"], form, venue["name"])
        return r

    def cluster(self, n: int) -> None:
        p = self.day_weights("cluster", trend=0.0)
        venues = [self.bus] * 11 + self.strip * 2  # about 58% at the bus station, the rest on the strip
        for _ in range(n):
            v = venues[int(self.rng.integers(len(venues)))]
            at = self.pick({"police": 3, "youth_service": 3, "community": 2, "other": 1.5, "social_care": 1})
            forced = ("cce",) if self.rng.random() < 0.7 else ("drugs_alcohol",)
            concerns = self.concerns_for(
                "transport_hub", forced, {"cce": 3, "drugs_alcohol": 3, "weapons": 1.5}
            )
            self.planted(
                "cluster",
                v,
                day=self.sample_day(p),
                time=self.sample_time("cluster", 0.05),
                agency_type=at,
                concerns=concerns,
                child=self.child(1401, 1441, 0.05),
            )

    def emerging_park(self, n_recent: int, n_before: int) -> None:
        months = [add_months(self.recent_start, i) for i in range(6)]
        w = np.arange(1, 7, dtype=float)
        counts = np.floor(n_recent * w / w.sum()).astype(int)
        counts[-1] += n_recent - counts.sum()
        dw = DOW_PROFILES["weekend_evening"]
        self.park_monthly = {}
        for m0, k in zip(months, counts, strict=True):
            m1 = add_months(m0, 1)
            span = [d for d in self.days if m0 <= d < m1]
            pw = dw[[d.weekday() for d in span]]
            for _ in range(int(k)):
                d = span[int(self.rng.choice(len(span), p=pw / pw.sum()))]
                self._park_row(d)
            self.park_monthly[m0.strftime("%Y-%m")] = int(k)
        early = [d for d in self.days if d < self.recent_start]
        for i in range(n_before):
            self._park_row(early[int((i + 0.5) * len(early) / n_before)])

    def _park_row(self, d: date) -> None:
        at = self.pick({"youth_service": 3, "community": 2, "police": 2, "school": 1})
        forced = (
            ("cce",)
            if self.rng.random() < 0.45
            else ("drugs_alcohol",)
            if self.rng.random() < 0.5
            else ("people_of_concern",)
        )
        self.planted(
            "emerging_park",
            self.park,
            day=d,
            time=self.sample_time("after_school", 0.05),
            agency_type=at,
            concerns=self.concerns_for("park", forced, {"cse": 1.5}),
            child=self.child(1453, 1481, 0.05),
        )

    def hotels_reports(self) -> None:
        p = self.day_weights("weekend_evening", trend=0.4)
        cse_agencies = {"hotel_accommodation": 4, "police": 3, "social_care": 2, "health": 1.5}
        for _ in range(N_HOTEL_CSE):
            at = self.pick(cse_agencies)
            concerns = (
                ["cse"]
                + (["missing"] if self.rng.random() < 0.3 else [])
                + (["people_of_concern"] if self.rng.random() < 0.3 else [])
            )
            self.planted(
                "hotel_cse",
                self.cse_hotel,
                day=self.sample_day(p),
                time=self.sample_time("hotel", 0.1),
                agency_type=at,
                concerns=concerns,
                child=self.child(1441, 1453, 0.05),
            )
        no_cse = {"cse": 0.0}
        for _ in range(N_HOTEL_CSE_OTHER):
            self._hotel_bg(self.cse_hotel, p, no_cse)
        for h in self.hotels:
            if h is self.cse_hotel:
                continue
            for _ in range(int(self.rng.integers(OTHER_HOTEL_REPORTS[0], OTHER_HOTEL_REPORTS[1] + 1))):
                self._hotel_bg(h, p, None)

    def _hotel_bg(self, h: dict[str, Any], p: np.ndarray, extra: dict[str, float] | None) -> None:
        at = self.pick(PLACE_AGENCY["hotel"])
        hours, _ = AGENCY_RHYTHM[at]
        self.planted(
            "hotel_other",
            h,
            day=self.sample_day(p),
            time=self.sample_time(hours, 0.15),
            agency_type=at,
            concerns=self.concerns_for("hotel", (), extra),
            child=self.child(1, 1400),
        )

    def taxi(self, n: int) -> None:
        p = self.day_weights("weekend_evening", trend=0.2)
        w = np.array([0.5, 0.3, 0.2][: len(self.taxis)])
        for _ in range(n):
            v = self.taxis[int(self.rng.choice(len(self.taxis), p=w / w.sum()))]
            at = self.pick({"taxi_licensing": 4, "police": 3, "community": 1})
            first = "people_of_concern" if self.rng.random() < 0.55 else "cse"
            rest = (
                ["cse" if first == "people_of_concern" else "people_of_concern"]
                if self.rng.random() < 0.45
                else []
            )
            self.planted(
                "taxi",
                v,
                day=self.sample_day(p),
                time=self.sample_time("night", 0.04),
                agency_type=at,
                concerns=[first, *rest],
                child=self.child(1481, 1496, 0.1),
            )

    def online(self, n: int) -> None:
        p = self.day_weights("flat", trend=0.4)
        for _ in range(n):
            at = self.pick({"school": 4, "social_care": 3, "youth_service": 2, "health": 1, "police": 1.5})
            first = "online_harm" if self.rng.random() < 0.65 else "cse"
            concerns = [first] + (
                ["cse" if first == "online_harm" else "online_harm"] if self.rng.random() < 0.35 else []
            )
            hours, _ = AGENCY_RHYTHM[at]
            self.row(
                "online",
                day=self.sample_day(p),
                time=self.sample_time(hours, 0.25),
                agency_type=at,
                place_type="online",
                concerns=concerns,
                child=self.child(1, 1400),
                online=True,
            )

    def messy(self, counts: dict[str, int]) -> None:
        p = self.day_weights("flat")
        districts = sorted({pc.split(" ")[0] for pc in self.postcodes["postcode"]})
        self.bad_postcodes = []
        for kind, k in counts.items():
            for _ in range(k):
                pt = self.pick({"residential_street": 4, "shop": 1, "park": 1, "takeaway": 1})
                if kind == "ambiguous_place":
                    pt = "takeaway"
                at = self.pick(PLACE_AGENCY.get(pt, PLACE_AGENCY["other"]))
                hours, _ = AGENCY_RHYTHM[at]
                r = self.row(
                    f"messy_{kind}",
                    day=self.sample_day(p),
                    time=self.sample_time(hours, 0.15),
                    agency_type=at,
                    place_type=pt,
                    concerns=self.concerns_for(pt),
                    child=self.child(1, 1400),
                )
                r["_form"] = f"messy_{kind}"
                if kind == "bad_postcode":
                    r["Postcode"] = self._bad_postcode(districts)
                    self.bad_postcodes.append(r["Postcode"])
                elif kind == "ambiguous_place":
                    r["Place name"] = (
                        AMBIGUOUS_NAME if self.rng.random() < 0.7 else AMBIGUOUS_NAME.replace(" (demo)", "")
                    )
                    r["Place type"] = "takeaway"
                elif kind == "bad_latitude":
                    la, lo = self._jitter(
                        *self.pc_pool.iloc[int(self.rng.integers(len(self.pc_pool)))][
                            ["latitude", "longitude"]
                        ].tolist()
                    )
                    r["Latitude"] = (
                        f"{la * 10:.5f}" if self.rng.random() < 0.6 else f"{90 + 10 * self.rng.random():.5f}"
                    )
                    r["Longitude"] = f"{lo:.6f}"
                # no_location: every location field stays blank.

    def _bad_postcode(self, districts: list[str]) -> str:
        """A well-formed postcode whose unit and sector are absent (so no sector fallback applies)."""
        letters = "ABDEFGHJLNPQRSTUWXYZ"
        while True:
            d = districts[int(self.rng.integers(len(districts)))]
            digit = int(self.rng.integers(10))
            sector = f"{d} {digit}"
            if sector in self.sectors:
                continue
            pc = f"{sector}{letters[int(self.rng.integers(len(letters)))]}Z"
            if pc not in self.all_postcodes:
                return pc


def _venue_public(v: dict[str, Any]) -> dict[str, Any]:
    return {c: v[c] for c in schema.GAZETTEER_PLACE_COLUMNS}


def _venue_truth(v: dict[str, Any]) -> dict[str, Any]:
    return {
        "place_id": v["place_id"],
        "name": v["name"],
        "latitude": v["latitude"],
        "longitude": v["longitude"],
        "locality": v["locality"],
        "h3_res8": cell(v["latitude"], v["longitude"]),
    }


def generate_demo(
    gazetteer: Any, *, seed: int = DEFAULT_SEED, start: date = DEFAULT_START, months: int = DEFAULT_MONTHS
) -> DemoData:
    """Build the synthetic demo set from a loaded gazetteer (``hoth_geo.intake.gazetteer.load_gazetteer()``)."""
    if months < 7:
        raise ValueError(
            f"months must be at least 7 (the park pattern needs six recent months), got {months}"
        )
    g = _Gen(gazetteer, seed, start, months)
    g.build_venues()
    missing = [k for k in ("bus", "park", "cse_hotel") if getattr(g, k, None) is None]
    if missing or len(g.strip) < 3 or len(g.taxis) < 2 or len(g.ambiguous) != 2 or len(g.hotels) < 6:
        raise ValueError(
            "the gazetteer lacks the points the demo needs (a bus station and park, streets for the takeaway"
            f" strip, hotels, taxi ranks and two Station Roads); missing: {missing or 'some street venues'}"
        )
    g.prepare_pools()

    g.background(N_BACKGROUND)
    g.cluster(N_CLUSTER)
    g.emerging_park(N_PARK_RECENT, N_PARK_BEFORE)
    g.hotels_reports()
    g.taxi(N_TAXI)
    n_in_person = len(g.rows)
    n_messy = sum(MESSY_COUNTS.values())
    n_online = round(ONLINE_SHARE * (n_in_person + n_messy) / (1 - ONLINE_SHARE))
    g.online(n_online)
    g.messy(MESSY_COUNTS)

    rows = pd.DataFrame(g.rows)
    rows["_seq"] = np.arange(len(rows))
    rows["_received"] = pd.to_datetime(rows["Date received"], format="%d/%m/%Y")
    rows["_observed"] = pd.to_datetime(rows["Date observed"], format="%d/%m/%Y")
    rows = rows.sort_values(["_received", "_observed", "_seq"], kind="mergesort", ignore_index=True)
    rows["Source reference"] = [f"DEMO-{i + 1:06d}" for i in range(len(rows))]
    reports = rows[list(schema.TEMPLATE_COLUMNS)].astype(str).reset_index(drop=True)

    venues = pd.DataFrame([_venue_public(v) for v in g.venues], columns=list(schema.GAZETTEER_PLACE_COLUMNS))
    venues = venues.sort_values("place_id", ignore_index=True)
    truth = _truth(g, rows)
    return DemoData(venues=venues, reports=reports, truth=truth)


def _refs(rows: pd.DataFrame, mask: pd.Series) -> list[str]:
    return rows.loc[mask, "Source reference"].tolist()


def _truth(g: _Gen, rows: pd.DataFrame) -> dict[str, Any]:
    n = len(rows)
    kind = rows["_kind"]
    has_cse = rows["_concerns"].str.split("|").map(lambda ks: "cse" in ks)
    hour = pd.to_numeric(rows["Time observed"].str[:2], errors="coerce")
    weekend = rows["_observed"].dt.day_of_week >= 5

    cl = kind == "cluster"
    cl_cells = pd.Series(
        [cell(a, b) for a, b in zip(rows.loc[cl, "_lat"], rows.loc[cl, "_lon"], strict=True)]
    )
    park = kind == "emerging_park"
    recent = rows["_observed"] >= pd.Timestamp(g.recent_start)
    at_hotel = rows["_venue"].isin([h["place_id"] for h in g.hotels])
    tx = kind == "taxi"
    tx_hours = hour[tx].dropna()
    located = rows["_lat"].notna()
    loc_cells = np.array(
        [cell(a, b) for a, b in zip(rows.loc[located, "_lat"], rows.loc[located, "_lon"], strict=True)]
    )
    all_cells = pd.Series(loc_cells)
    top = all_cells.value_counts().head(5)

    hotels = {}
    for h in g.hotels:
        at = rows["_venue"] == h["place_id"]
        hotels[h["place_id"]] = {
            **_venue_truth(h),
            "reports": int(at.sum()),
            "cse_reports": int((at & has_cse).sum()),
        }

    messy = {}
    for k in MESSY_COUNTS:
        m = kind == f"messy_{k}"
        messy[k] = {"count": int(m.sum()), "source_refs": _refs(rows, m)}
    messy["bad_postcode"]["postcodes"] = sorted(set(rows.loc[kind == "messy_bad_postcode", "Postcode"]))
    messy["ambiguous_place"]["name"] = AMBIGUOUS_NAME
    messy["ambiguous_place"]["venues"] = [_venue_truth(v) for v in g.ambiguous]

    forms = rows["_form"].value_counts().sort_index()
    return {
        "label": settings.DEMO_LABEL,
        "note": "Synthetic demo data: all people, narratives, agencies and venue names are fictional.",
        "seed": g.seed,
        "start": g.start.isoformat(),
        "end": g.end.isoformat(),
        "months": g.months,
        "h3_resolution": TRUTH_H3_RES,
        "n_reports": n,
        "n_venues": len(g.venues),
        "location_forms": {str(k): int(v) for k, v in forms.items()},
        "kinds": {str(k): int(v) for k, v in kind.value_counts().sort_index().items()},
        "top_cells_res8": {str(k): int(v) for k, v in top.items()},
        "town_centre_cluster": {
            "town": CLUSTER_TOWN,
            "bus_station": _venue_truth(g.bus),
            "takeaway_street": {
                "street": str(g.strip_street["street"]),
                "locality": g.strip_street["locality"],
            },
            "takeaways": [_venue_truth(v) for v in g.strip],
            "expected_top_cell_res8": cell(g.bus["latitude"], g.bus["longitude"]),
            "cells_res8": {str(k): int(v) for k, v in cl_cells.value_counts().items()},
            "count": int(cl.sum()),
            "share": round(float(cl.mean()), 4),
            "hours": ["17:00", "23:00"],
            "time_known": int(hour[cl].notna().sum()),
            "in_hours": int(hour[cl].between(17, 22).sum()),
            "weekend": int((cl & weekend).sum()),
            "concerns": ["cce", "drugs_alcohol"],
            "window": [g.start.isoformat(), g.end.isoformat()],
            "source_refs": _refs(rows, cl),
        },
        "emerging_park": {
            "park": _venue_truth(g.park),
            "h3_res8": g.park_cell,
            "window_start": g.recent_start.isoformat(),
            "window_end": g.end.isoformat(),
            "count_recent": int((park & recent).sum()),
            "count_before": int((park & ~recent).sum()),
            "monthly_counts": g.park_monthly,
            "other_reports_in_cell": int(sum(c == g.park_cell for c in loc_cells[~park[located].to_numpy()])),
            "source_refs": _refs(rows, park),
        },
        "hotel_cse": {
            "hotel": _venue_truth(g.cse_hotel),
            "cse_reports": int(((rows["_venue"] == g.cse_hotel["place_id"]) & has_cse).sum()),
            "agency_types": ["hotel_accommodation", "police", "social_care", "health"],
            "hotels": hotels,
            "source_refs": _refs(rows, kind == "hotel_cse"),
            "hotel_reports_total": int(at_hotel.sum()),
        },
        "taxi_ranks": {
            "ranks": [_venue_truth(v) for v in g.taxis],
            "count": int(tx.sum()),
            "hours": ["22:00", "04:00"],
            "time_known": int(len(tx_hours)),
            "in_hours": int(((tx_hours >= 22) | (tx_hours < 4)).sum()),
            "concerns": ["people_of_concern", "cse"],
            "source_refs": _refs(rows, tx),
        },
        "online": {
            "count": int((kind == "online").sum()),
            "share": round(float((kind == "online").mean()), 4),
        },
        "quarantine": {
            **messy,
            "total": int(sum(v["count"] for v in messy.values())),
            "share": round(float(sum(v["count"] for v in messy.values()) / n), 4),
        },
    }


def render_readme(truth: dict[str, Any]) -> str:
    """data/demo/README.md, written from the truth so its numbers always match the files."""
    c, p, h, t, q = (
        truth[k] for k in ("town_centre_cluster", "emerging_park", "hotel_cse", "taxi_ranks", "quarantine")
    )
    forms = ", ".join(f"{k} {v}" for k, v in truth["location_forms"].items())
    return f"""# Demo data set — {truth["label"]}

**Everything in this folder is SYNTHETIC.** All people, child references, narratives, agencies and
venue names are fictional. Venues are placed at real public map points from the shipped gazetteer
(police.uk landmark points and street points) so that maps look like County Durham and Darlington, but
every venue has a generic name ending in `(demo)` and none is, or is named after, a real business.
No real safeguarding information is used or implied.

| file | contents |
|---|---|
| `demo_reports.csv` | {truth["n_reports"]:,} partnership information-sharing reports ({truth["start"]} to {truth["end"]}), sharing-form headers (`schema.TEMPLATE_COLUMNS`) |
| `venues.csv` | {truth["n_venues"]} demo venues (gazetteer place columns, `source` = `demo`, `place_id` = `demo:<slug>`) |
| `planted_truth.json` | the planted patterns: source references, venues, coordinates, H3 res-8 cells, windows, counts |

Location forms (rows): {forms}.

## Planted patterns

1. **Town-centre cluster** ({c["town"]}): {c["count"]} reports ({c["share"]:.1%}) around `{c["bus_station"]["name"]}`
   and {len(c["takeaways"])} takeaways on {c["takeaway_street"]["street"]}, 17:00–23:00, weighted to weekends, all 24 months,
   CCE / drugs. Expected top res-8 cell `{c["expected_top_cell_res8"]}`.
2. **Emerging park**: `{p["park"]["name"]}` has {p["count_before"]} reports before {p["window_start"]} and
   {p["count_recent"]} from then to {p["window_end"]}, rising month by month (cell `{p["h3_res8"]}`; background
   reports are kept out of that cell: {p["other_reports_in_cell"]} other reports fall in it).
3. **Hotel**: `{h["hotel"]["name"]}` has {h["cse_reports"]} CSE reports (hotel, police, social care and health
   agencies); the other demo hotels have at most {max(v["cse_reports"] for k, v in h["hotels"].items() if k != h["hotel"]["place_id"])}.
4. **Taxi ranks**: {t["count"]} night-time (22:00–04:00) reports of people of concern / CSE at {len(t["ranks"])} demo ranks.
5. **Online**: {truth["online"]["count"]} online-only reports ({truth["online"]["share"]:.1%}), Setting `Online`, no location.
6. **Messy rows for quarantine** ({q["total"]}, {q["share"]:.1%}): {q["bad_postcode"]["count"]} well-formed postcodes
   absent from the gazetteer (unit and sector unknown), {q["ambiguous_place"]["count"]} rows naming
   `{q["ambiguous_place"]["name"]}` (two venues in different towns), {q["no_location"]["count"]} rows with no location,
   {q["bad_latitude"]["count"]} out-of-range latitudes.

Background reports ({truth["kinds"].get("background", 0)}) come from a mix of fictional agencies and use lat/lon
(jittered within ~25 m, some rounded), British National Grid, postcodes, demo venue names (some with small
typos a fuzzy matcher accepts) and street descriptions ('near the shops on <street>, <locality>').

## Regenerate

```
python scripts/make_demo_data.py          # reads the shipped gazetteer, writes this folder
```

The generator (`hoth_geo/intake/demo.py`, seed {truth["seed"]}) is deterministic: the same gazetteer and seed give
byte-identical files, which `tests/intake/test_demo.py` checks.

Venue points derive from data.police.uk (Open Government Licence v3.0: "Contains public sector information
licensed under the Open Government Licence v3.0.") and OS Code-Point Open ("Contains OS data © Crown copyright and
database right 2025; Royal Mail data © Royal Mail copyright and database right 2025; National Statistics data ©
Crown copyright and database right 2025").
"""


def write_demo(demo: DemoData, out_dir: str | Path = settings.DEMO_DIR) -> dict[str, Path]:
    """Write venues.csv, demo_reports.csv, planted_truth.json and README.md; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "venues": out / "venues.csv",
        "reports": out / "demo_reports.csv",
        "truth": out / "planted_truth.json",
        "readme": out / "README.md",
    }
    demo.venues.to_csv(paths["venues"], index=False, lineterminator="\n", float_format="%.6f")
    demo.reports.to_csv(paths["reports"], index=False, lineterminator="\n")
    paths["truth"].write_text(json.dumps(demo.truth, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    paths["readme"].write_text(render_readme(demo.truth), encoding="utf-8")
    return paths


def read_demo_reports(path: str | Path) -> pd.DataFrame:
    """Read a demo_reports.csv back as all-string columns (blank cells as '')."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)
