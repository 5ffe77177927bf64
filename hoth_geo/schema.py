"""The report model: taxonomies, the canonical columns every stage passes on, and the
shape of the shipped gazetteer files.

Taxonomy keys are short, stable identifiers stored in the database; labels are what people read.
Multi-valued fields (concerns, indicators) travel between stages as '|'-joined sorted keys and are
stored for filtering as integer bit masks (see ``keys_to_mask``).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

__all__ = [
    "PLACE_TYPES",
    "POLICEUK_LANDMARK_TYPES",
    "policeuk_landmark",
    "CONCERNS",
    "INDICATORS",
    "AGENCY_TYPES",
    "GRADING_SOURCE",
    "GRADING_INFORMATION",
    "GRADING_HANDLING",
    "GRADING_COLUMNS",
    "REVISION_COLUMNS",
    "GRADING_SOURCE_LABELS",
    "GRADING_INFORMATION_LABELS",
    "GEOCODE_METHODS",
    "CANONICAL_COLUMNS",
    "REPORT_FIELD_LABELS",
    "GEOCODED_COLUMNS",
    "QUARANTINE_COLUMNS",
    "GAZETTEER_POSTCODE_COLUMNS",
    "GAZETTEER_PLACE_COLUMNS",
    "GAZETTEER_STREET_COLUMNS",
    "same_words",
    "split_keys",
    "keys_to_mask",
    "key_counts",
    "key_totals",
    "selection_mask",
    "empty_canonical_frame",
    "TEMPLATE_COLUMNS",
]

# --- Places and spaces (from the Harm Outside the Home guidance: parks, hotels, takeaways, taxis,
# shops, schools, transport hubs, online...) -------------------------------------------------------
PLACE_TYPES: dict[str, str] = {
    "park": "Park / open space",
    "hotel": "Hotel / B&B",
    "takeaway": "Takeaway / fast food",
    "taxi": "Taxi rank / taxi office",
    "shop": "Shop / convenience store",
    "shopping_centre": "Shopping centre",
    "school": "School / college",
    "transport_hub": "Transport hub (bus / rail station)",
    "car_park": "Car park",
    "licensed_premises": "Licensed premises (pub, nightclub)",
    "leisure": "Leisure / sports",
    "petrol_station": "Petrol station",
    "health": "Hospital / health",
    "residential_street": "Residential / street",
    "online": "Online",
    "other": "Other / unknown",
}

# police.uk snaps crimes to anonymised map points named "On or near <street>" or "On or near <landmark
# type>". Every landmark type police.uk uses (the first group occur in the Durham files, the rest in
# other forces' data), mapped to PLACE_TYPES. One table for the context layer (ingest) and the
# gazetteer; looked up case-folded (``policeuk_landmark``). An airport is a transport hub, like a
# bus or rail station; premises that are not places of the guidance (a prison, a police station) are
# 'other' rather than pretending to be streets.
POLICEUK_LANDMARK_TYPES: dict[str, str] = {
    "Supermarket": "shop",
    "Parking Area": "car_park",
    "Sports/Recreation Area": "leisure",
    "Shopping Area": "shopping_centre",
    "Petrol Station": "petrol_station",
    "Bus/Coach Station": "transport_hub",
    "Nightclub": "licensed_premises",
    "Park/Open Space": "park",
    "Further/Higher Educational Building": "school",
    "Hospital": "health",
    # A pedestrian subway is part of the walked street network, not a premises.
    "Pedestrian Subway": "residential_street",
    "Conference/Exhibition Centre": "other",
    "Theatre/Concert Hall": "leisure",
    "Police Station": "other",
    "Airport/Airfield": "transport_hub",
    "Prison": "other",
    "Hotel/Motel": "hotel",
    "Theme/Adventure Park": "leisure",
    "Religious Site": "other",
    "Mosque": "other",
    "Church": "other",
    "Cinema": "leisure",
    "Railway Station": "transport_hub",
    "Train Station": "transport_hub",
    "Underground Station": "transport_hub",
    "Tram Stop": "transport_hub",
    "Metro Station": "transport_hub",
    "Ferry Terminal": "transport_hub",
    "Motorway Service Area": "petrol_station",
    "Sports Centre": "leisure",
    "Leisure Centre": "leisure",
    "Swimming Pool": "leisure",
    "Museum": "other",
    "Library": "other",
    "Pub": "licensed_premises",
    "School": "school",
    "Taxi Rank": "taxi",
}
_POLICEUK_LANDMARK_BY_FOLDED = {k.casefold(): k for k in POLICEUK_LANDMARK_TYPES}


def policeuk_landmark(place_text: pd.Series) -> pd.Series:
    """The police.uk landmark type (as police.uk spells it) each text names, else NaN.

    ``place_text`` is the part after "On or near"; the match ignores case and surrounding space.
    The place type is then ``POLICEUK_LANDMARK_TYPES[landmark]``.
    """
    folded = place_text.astype(object).where(place_text.notna(), "").astype(str).str.strip().str.casefold()
    return folded.map(_POLICEUK_LANDMARK_BY_FOLDED)


# --- Concern categories ---------------------------------------------------------------------------
CONCERNS: dict[str, str] = {
    "cce": "Child criminal exploitation (county lines, drug running)",
    "cse": "Child sexual exploitation",
    "missing": "Missing from home / care",
    "drugs_alcohol": "Drugs / alcohol",
    "weapons": "Weapons",
    "people_of_concern": "People of concern (unknown adults, vehicles)",
    "online_harm": "Online harm",
    "radicalisation": "Radicalisation / extremism",
    "asb": "Anti-social behaviour",
    "trafficking": "Trafficking / modern slavery",
    "other": "Other",
}

# --- Indicators: the possible signs of exploitation listed in the DSCP HOTH guidance -------------
INDICATORS: dict[str, str] = {
    "missing_from_home": "Missing from home, whereabouts unknown",
    "less_time_with_family": "Spending less time with family and usual friends",
    "not_attending_school": "Not attending school/college, grades dropping",
    "asb_or_crime": "Involved in anti-social behaviour or crime (drug running / county lines)",
    "drugs_alcohol_misuse": "Misusing drugs or alcohol",
    "unknown_adults": "In touch with unknown adults / people of concern",
    "pregnancy_sti": "Pregnant or has contracted a sexually transmitted infection",
    "concerning_phone_internet": "Using the internet / a mobile phone for things that cause concern",
    "unexplained_ae": "Attending A&E with no plausible explanation",
    "appointments_unknown_person": "Attending appointments with an unknown person",
    "unexplained_money_items": "Unexplained money, clothes or other items (e.g. digital currency)",
    "hotels_taxis_takeaways": "Contact with hotels, taxi companies or fast-food outlets, unexplained",
    "abusive_relationship": "In an abusive relationship with an adult or another young person",
    "extreme_views": "Advocating terrorism / extreme views",
}

# --- Reporting agencies ---------------------------------------------------------------------------
AGENCY_TYPES: dict[str, str] = {
    "school": "School / education",
    "health": "Health",
    "housing": "Housing",
    "youth_service": "Youth service",
    "social_care": "Children's social care",
    "taxi_licensing": "Taxi licensing",
    "hotel_accommodation": "Hotel / accommodation",
    "community": "Community / voluntary",
    "police": "Police",
    "other": "Other",
}

# --- Intelligence grading (3x5x2) -------------------------------------------------------------------
GRADING_SOURCE = ("1", "2", "3")  # 1 reliable, 2 untested, 3 not reliable
GRADING_INFORMATION = ("A", "B", "C", "D", "E")
GRADING_HANDLING = ("P", "C")  # P lawful sharing permitted, C conditions apply
GRADING_COLUMNS = ("grading_source", "grading_information", "grading_handling")
# What an agency may change of a report without changing what it saw: its grading, and how accurate it
# says its coordinates are. Left out of the content fingerprint (a re-graded copy still looks alike),
# compared for a report's own identity (a re-graded report is a change, not a duplicate).
REVISION_COLUMNS = (*GRADING_COLUMNS, "location_accuracy_m")
# Each grade as a user reads it (sidebar filter, patrol weights).
GRADING_SOURCE_LABELS: dict[str, str] = {"1": "1 — reliable", "2": "2 — untested", "3": "3 — not reliable"}
GRADING_INFORMATION_LABELS: dict[str, str] = {
    "A": "A — known directly",
    "B": "B — known indirectly, corroborated",
    "C": "C — known indirectly",
    "D": "D — not known",
    "E": "E — suspected false",
}

# --- Geocoding methods, best first ------------------------------------------------------------------
GEOCODE_METHODS: dict[str, str] = {
    "coordinates_wgs84": "Latitude/longitude given",
    "coordinates_bng": "British National Grid easting/northing given",
    "place_name": "Named place matched in the gazetteer",
    "postcode": "Postcode centroid",
    "postcode_sector": "Postcode sector centroid (unit not found)",
    "postcode_district": "Postcode district centroid (unit and sector not found)",
    "street": "Street named in the location text",
    "analyst": "Located by an analyst in Review",
    "online": "Online setting (not mapped)",
}

# --- The canonical report frame: what ingest produces and geocode consumes ------------------------
# row_number is the spreadsheet row a person sees (header = row 1, first data row = row 2).
CANONICAL_COLUMNS: dict[str, str] = {
    "row_number": "int64",
    "source_ref": "object",  # str or None
    "date_received": "datetime64[ns]",
    "observed_at": "datetime64[ns]",  # date, plus time of day when known
    "time_known": "bool",
    # The time of day as written when it was words, not a time ('after school'), else None.
    "time_text": "object",
    "date_approximate": "bool",
    "agency": "object",
    "agency_type": "object",  # AGENCY_TYPES key
    "location_text": "object",
    "place_name": "object",
    "place_type": "object",  # PLACE_TYPES key or None
    "postcode": "object",  # normalised 'DH1 1AB' or None
    "latitude": "float64",
    "longitude": "float64",
    "easting": "float64",
    "northing": "float64",
    # The accuracy the row states for its coordinates (a device's, a map click's), NaN where none.
    "location_accuracy_m": "float64",
    "online": "bool",
    "concerns": "object",  # '|'-joined sorted CONCERNS keys ('' when none)
    "indicators": "object",  # '|'-joined sorted INDICATORS keys
    "grading_source": "object",
    "grading_information": "object",
    "grading_handling": "object",
    "narrative": "object",
    "child_ref": "object",
    "fingerprint": "object",  # sha1 of the normalised content, for duplicate detection
}

# Columns geocode adds to the canonical frame.
GEOCODED_COLUMNS: dict[str, str] = {
    "geocode_method": "object",  # GEOCODE_METHODS key
    "geocode_confidence": "float64",  # 0..1
    "precision_m": "float64",  # radius within which the true location lies
    "place_id": "object",  # gazetteer place linked, or None
    "geocode_note": "object",  # e.g. 'latitude/longitude swapped and corrected'
    "h3": "int64",  # H3 cell at settings.FINE_H3_RES; 0 when not located (online)
}

# A stored report's fields as a person reads them (Review's side-by-side view of a resubmission), in the
# words of the sharing form where it has them.
REPORT_FIELD_LABELS: dict[str, str] = {
    "date_received": "Date received",
    "observed_at": "Date and time observed",
    "time_known": "Time of day known",
    "time_text": "Time observed (in words)",
    "date_approximate": "Date approximate",
    "online": "Online",
    "latitude": "Latitude",
    "longitude": "Longitude",
    "easting": "Easting",
    "northing": "Northing",
    "location_accuracy_m": "Location accuracy (m)",
    "geocode_confidence": "Location confidence",
    "precision_m": "Within (m)",
    "agency": "Reporting agency",
    "agency_type": "Agency type",
    "location_text": "Location",
    "place_name": "Place name",
    "place_type": "Place type",
    "postcode": "Postcode",
    "concerns": "Concerns",
    "indicators": "Indicators",
    "grading_source": "Source grading",
    "grading_information": "Information grading",
    "grading_handling": "Handling code",
    "narrative": "Narrative",
    "child_ref": "Child reference",
    "geocode_method": "Located by",
    "place_id": "Place linked",
    "geocode_note": "Location note",
}

# Quarantine rows: one per input row that was not stored, with a reason a person can act on.
QUARANTINE_COLUMNS = ("row_number", "reason", "field", "value", "raw")

# --- Shipped gazetteer files (data/gazetteer/*.arrow), built by `hoth-geo build-gazetteer` ---------
GAZETTEER_POSTCODE_COLUMNS = ("postcode", "latitude", "longitude", "easting", "northing", "lad_code")
GAZETTEER_PLACE_COLUMNS = (
    "place_id",  # stable id: 'pu:<hash>' police.uk landmark, 'osm:node/123', 'demo:...', 'user:...'
    "name",
    "place_type",  # PLACE_TYPES key
    "latitude",
    "longitude",
    "locality",  # electoral ward name
    "postcode_district",  # e.g. 'DH1'
    "source",  # 'policeuk_landmark', 'osm', 'demo', 'user'
)
GAZETTEER_STREET_COLUMNS = ("street", "locality", "latitude", "longitude", "n_points")


def same_words(text: str) -> str:
    """Free words as compared: lower case, spacing collapsed ('After  School' -> 'after school'). Two
    times of day in words are the same when this is (a report's fingerprint, the Time page's list)."""
    return " ".join(str(text).lower().split())


def split_keys(value: str | None) -> list[str]:
    """'a|b' -> ['a', 'b']; empty or None -> []."""
    if not value:
        return []
    return [k for k in str(value).split("|") if k]


def keys_to_mask(values: Iterable[str | None], vocabulary: Iterable[str]) -> np.ndarray:
    """Turn '|'-joined key strings into int64 bit masks (bit i = i-th key of ``vocabulary``)."""
    bit = {k: 1 << i for i, k in enumerate(vocabulary)}
    cache: dict[str | None, int] = {}
    out = []
    for v in values:
        m = cache.get(v)
        if m is None:
            m = 0
            for k in split_keys(v):
                m |= bit.get(k, 0)
            cache[v] = m
        out.append(m)
    return np.asarray(out, dtype=np.int64)


def key_counts(codes: np.ndarray, masks: np.ndarray, n_groups: int, vocabulary: Iterable[str]) -> np.ndarray:
    """Reports per (group, key): an (n_groups, len(vocabulary)) int64 matrix from each report's group
    code and bit mask (``keys_to_mask``).

    Reports carry few distinct mask combinations, so (group, combination) pairs are counted once and
    the combinations' bits expanded with a small matrix product instead of one pass per key.
    """
    n_keys = len(list(vocabulary))
    combo, combos = pd.factorize(np.asarray(masks))
    per_combo = np.bincount(
        np.asarray(codes, dtype=np.int64) * len(combos) + combo, minlength=n_groups * len(combos)
    ).reshape(n_groups, len(combos))
    bits = ((combos.astype(np.int64)[:, None] >> np.arange(n_keys)) & 1).astype(np.int64)
    return per_combo @ bits


def key_totals(masks: np.ndarray, vocabulary: Iterable[str]) -> np.ndarray:
    """Reports carrying each key of ``vocabulary``: ``key_counts`` of one group."""
    masks = np.asarray(masks)
    return key_counts(np.zeros(len(masks), dtype=np.int64), masks, 1, vocabulary)[0]


def selection_mask(selected: Iterable[str], vocabulary: Iterable[str]) -> int:
    """The bit mask for a set of selected keys (0 when none are selected)."""
    vocab = list(vocabulary)
    mask = 0
    for k in selected:
        if k not in vocab:
            raise ValueError(f"unknown key {k!r}: expected one of {', '.join(vocab)}")
        mask |= 1 << vocab.index(k)
    return mask


def empty_canonical_frame() -> pd.DataFrame:
    """A zero-row frame with the canonical columns and dtypes."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in CANONICAL_COLUMNS.items()})


# --- The sharing-form template (data/template.csv): the headers we write and document --------------
# Ingest accepts these and common synonyms, case- and spacing-insensitively (see ingest.py).
# Concerns and indicators are ';'-separated labels or keys; Setting is 'Online' or blank/'In person'.
TEMPLATE_COLUMNS = (
    "Source reference",
    "Date received",
    "Date observed",
    "Time observed",
    "Reporting agency",
    "Agency type",
    "Location",
    "Place name",
    "Place type",
    "Postcode",
    "Latitude",
    "Longitude",
    "Easting",
    "Northing",
    "Location accuracy (m)",
    "Setting",
    "Concerns",
    "Indicators",
    "Source grading",
    "Information grading",
    "Handling code",
    "Narrative",
    "Child reference",
)
