"""Builders for canonical report rows in tests (synthetic content only)."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from hoth_geo.schema import CANONICAL_COLUMNS

_DEFAULTS = {
    "source_ref": None,
    "date_received": pd.Timestamp("2025-03-04"),
    "observed_at": pd.Timestamp("2025-03-03 21:30"),
    "time_known": True,
    "time_text": None,
    "date_approximate": False,
    "agency": "Test Youth Service (synthetic)",
    "agency_type": "youth_service",
    "location_text": None,
    "place_name": None,
    "place_type": None,
    "postcode": None,
    "latitude": np.nan,
    "longitude": np.nan,
    "easting": np.nan,
    "northing": np.nan,
    "location_accuracy_m": np.nan,
    "online": False,
    "concerns": "cce",
    "indicators": "",
    "grading_source": "2",
    "grading_information": "B",
    "grading_handling": "P",
    "narrative": "Synthetic test narrative.",
    "child_ref": None,
}


def canonical_rows(rows: list[dict]) -> pd.DataFrame:
    """A canonical frame from partial dicts; row numbers follow spreadsheet numbering (first row 2)."""
    records = []
    for i, r in enumerate(rows):
        rec = {**_DEFAULTS, **r}
        rec.setdefault("row_number", i + 2)
        rec["fingerprint"] = hashlib.sha1(repr(sorted(rec.items())).encode()).hexdigest()
        records.append(rec)
    frame = pd.DataFrame.from_records(records)
    for c, t in CANONICAL_COLUMNS.items():
        frame[c] = frame[c].astype(t) if t != "object" else frame[c].astype(object)
    return frame[list(CANONICAL_COLUMNS)]
