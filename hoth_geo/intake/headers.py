"""Which columns a file has: the police.uk header, the sharing form's header synonyms and
``map_columns`` (a file's headers -> canonical fields), and ``detect_format``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

import pandas as pd

__all__ = [
    "HEADER_SYNONYMS",
    "POLICEUK_HEADER",
    "detect_format",
    "map_columns",
    "POLICEUK_KEYS",
    "header_key",
    "duplicate_mapping_warnings",
]


POLICEUK_HEADER = (
    "Crime ID",
    "Month",
    "Reported by",
    "Falls within",
    "Longitude",
    "Latitude",
    "Location",
    "LSOA code",
    "LSOA name",
    "Crime type",
    "Last outcome category",
    "Context",
)


def header_key(header: object) -> str:
    """'Date observed (DD/MM/YYYY)*' -> 'dateobserved': case, spacing, punctuation and notes ignored."""
    text = re.sub(r"\(.*?\)|\[.*?\]", "", str(header).lower())
    text = text.replace("&", "and")
    return re.sub(r"[^a-z0-9]", "", text)


POLICEUK_KEYS = {header_key(h) for h in ("Crime ID", "Month", "Falls within", "Crime type", "Location")}


def detect_format(frame: pd.DataFrame) -> Literal["sharing_form", "policeuk"]:
    """'policeuk' for a police.uk street-level CSV header, otherwise 'sharing_form'."""
    keys = {header_key(c) for c in frame.columns}
    return "policeuk" if POLICEUK_KEYS <= keys else "sharing_form"


# Canonical input fields and the header spellings that mean them (compared after header_key).
# Several input fields are not canonical columns themselves (date_observed + time_observed make
# observed_at; setting/online make online; grading splits into three).
# fmt: off
HEADER_SYNONYMS: dict[str, tuple[str, ...]] = {
    "source_ref": (
        "Source reference", "Source ref", "Ref", "Reference", "Ref no", "Reference number", "URN",
        "Unique reference", "Report ref", "Report reference", "Report ID", "Form ref", "Form reference",
        "Form ID", "Record ID", "Log number", "ID",
    ),
    "date_received": (
        "Date received", "Received", "Received date", "Date reported", "Reported date", "Date submitted",
        "Submitted", "Date of report", "Report date", "Date shared",
    ),
    "date_observed": (
        "Date observed", "Date of incident", "Incident date", "Date seen", "Observed date", "Date",
        "Date of concern", "Concern date", "Date of event", "Event date", "Date of observation", "Observed",
        "Date/time", "Date and time", "Date/time observed", "Incident date/time", "Date time observed",
        "When",
    ),
    "time_observed": (
        "Time observed", "Time", "Time of incident", "Incident time", "Time seen", "Observed time",
        "Time of day", "Time of concern", "Time of event",
    ),
    "date_approximate": (
        "Approximate", "Approx", "Date approximate", "Approximate date", "Date is approximate",
        "Approx date",
    ),
    "agency": (
        "Reporting agency", "Agency", "Organisation", "Organization", "Agency name", "Organisation name",
        "Reporting organisation", "Partner agency", "Partner", "Reported by", "Submitted by",
        "Referring agency",
    ),
    "agency_type": (
        "Agency type", "Organisation type", "Organization type", "Sector", "Partner type",
        "Agency category", "Type of agency",
    ),
    "location_text": (
        "Location", "Location description", "Address", "Where", "Location text", "Street", "Street name",
        "Location details", "Area", "Locality", "Location / address",
    ),
    "place_name": (
        "Place name", "Premises", "Premises name", "Venue", "Business name", "Establishment", "Place",
        "Name of place", "Site name", "Name of premises",
    ),
    "place_type": (
        "Place type", "Type of place", "Premises type", "Venue type", "Location type", "Place category",
        "Type of location",
    ),
    "postcode": (
        "Postcode", "Post code", "Postal code", "PCode", "Post_Code", "Postcode of location",
    ),
    "latitude": (
        "Latitude", "Lat", "WGS84 latitude", "Lat (WGS84)",
    ),
    "longitude": (
        "Longitude", "Lng", "Lon", "Long", "WGS84 longitude",
    ),
    "easting": (
        "Easting", "X", "Grid ref easting", "Eastings", "BNG easting", "OS easting", "X coordinate",
    ),
    "northing": (
        "Northing", "Y", "Grid ref northing", "Northings", "BNG northing", "OS northing", "Y coordinate",
    ),
    "grid_reference": (
        "Grid reference", "Grid ref", "OS grid reference", "OS grid ref", "National grid reference",
        "NGR", "OSGR", "Grid reference (OS)", "BNG grid reference",
    ),
    "location_accuracy": (
        "Location accuracy", "Accuracy", "GPS accuracy", "Horizontal accuracy", "Coordinate accuracy",
        "Location radius", "Accuracy radius", "Accuracy metres",
    ),
    "setting": (
        "Setting", "Location setting", "Online or in person", "In person / online", "Environment",
    ),
    "online": (
        "Online", "Is online", "Online (yes/no)", "Online concern", "Online?",
    ),
    "concerns": (
        "Concerns", "Concern", "Concern type", "Concern types", "Category", "Categories",
        "Concern category", "Type of concern", "Themes", "Theme", "Exploitation type",
    ),
    "indicators": (
        "Indicators", "Indicator", "Signs", "Signs of exploitation", "Risk indicators",
        "Indicators observed", "Vulnerabilities",
    ),
    "grading": (
        "Grading", "Grade", "Intelligence grading", "3x5x2", "3x5x2 grading", "Evaluation",
    ),
    "grading_source": (
        "Source grading", "Source grade", "Source evaluation", "Source reliability", "Reliability",
    ),
    "grading_information": (
        "Information grading", "Information grade", "Intelligence assessment", "Information assessment",
        "Info grading",
    ),
    "grading_handling": (
        "Handling code", "Handling", "Handling instructions", "Handling grade",
    ),
    "narrative": (
        "Narrative", "Description", "Details", "Summary", "Notes", "Information", "Intelligence",
        "Free text", "Comments", "What was seen", "Description of concern", "Concern details",
    ),
    "child_ref": (
        "Child reference", "Child ref", "Child ID", "Young person ref", "Young person reference", "YP ref",
        "Person ref", "Subject ref", "Child reference number",
    ),
}


_HEADER_LOOKUP: dict[str, str] = {}


for _field, _spellings in HEADER_SYNONYMS.items():
    for _spelling in (_field, *_spellings):
        _HEADER_LOOKUP.setdefault(header_key(_spelling), _field)


def map_columns(headers: Iterable[str]) -> dict[str, str]:
    """{canonical input field: original header} for every header recognised; the first wins."""
    out: dict[str, str] = {}
    for h in headers:
        f = _HEADER_LOOKUP.get(header_key(h))
        if f is not None and f not in out:
            out[f] = h
    return out


def duplicate_mapping_warnings(headers: Iterable[str], column_map: dict[str, str]) -> list[str]:
    extra: dict[str, list[str]] = {}
    for h in headers:
        f = _HEADER_LOOKUP.get(header_key(h))
        if f is not None and column_map.get(f) != h:
            extra.setdefault(f, []).append(h)
    return [
        f'columns {", ".join(repr(h) for h in hs)} also mean {f!r}; used "{column_map[f]}" and ignored them'
        for f, hs in extra.items()
    ]
