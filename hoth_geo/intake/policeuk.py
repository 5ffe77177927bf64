"""A police.uk street-level crime CSV -> the police *context* frame (``POLICEUK_COLUMNS``), never
mixed with partnership reports.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from hoth_geo import schema
from hoth_geo.intake.files import ImportRefused
from hoth_geo.intake.headers import POLICEUK_HEADER, header_key
from hoth_geo.intake.parsers import (
    QUARANTINE_DTYPES,
    IngestResult,
    clean_text,
    none_if_blank,
    parse_numbers,
    with_dtypes,
)
from hoth_geo.intake.sharing_form import RowProblems, raw_json

__all__ = [
    "POLICEUK_COLUMNS",
    "POLICEUK_CONCERNS",
    "normalise_policeuk",
]


POLICEUK_COLUMNS: dict[str, str] = {
    "row_number": "int64",
    "crime_id": "object",  # None on anti-social behaviour rows
    "month": "datetime64[ns]",  # first of the month: police.uk publishes months only
    "crime_type": "object",
    "concern": "object",  # CONCERNS key
    "location_text": "object",  # the X of 'On or near X'
    "place_type": "object",  # PLACE_TYPES key
    "latitude": "float64",
    "longitude": "float64",
    "lsoa_code": "object",
    "falls_within": "object",
    "fingerprint": "object",
}


# Only the crime types that say something specific map to a concern; police.uk merges violence
# with sexual offences, so that category can't be read as CSE and goes to 'other' like the rest.
POLICEUK_CONCERNS: dict[str, str] = {
    "Anti-social behaviour": "asb",
    "Drugs": "drugs_alcohol",
    "Possession of weapons": "weapons",
    "Violence and sexual offences": "other",
    "Robbery": "other",
    "Public order": "other",
    "Criminal damage and arson": "other",
    "Burglary": "other",
    "Vehicle crime": "other",
    "Shoplifting": "other",
    "Bicycle theft": "other",
    "Other theft": "other",
    "Theft from the person": "other",
    "Other crime": "other",
}


def normalise_policeuk(raw: pd.DataFrame) -> IngestResult:
    """Turn a police.uk street-level CSV into the police context frame (``POLICEUK_COLUMNS``).

    Rows without coordinates ('No Location') and rows with an unreadable month or out-of-range
    coordinates are quarantined. Anti-social behaviour rows have no Crime ID and are kept.
    """
    headers = [str(c) for c in raw.columns]
    by_key = {}
    for h in headers:
        by_key.setdefault(header_key(h), h)
    missing = [h for h in POLICEUK_HEADER if header_key(h) not in by_key and h not in ("Context", "LSOA name", "Last outcome category", "Reported by")]  # fmt: skip
    if missing:
        raise ImportRefused(
            "this police.uk file lacks the columns "
            + ", ".join(f'"{m}"' for m in missing)
            + ". Headers found: "
            + ", ".join(f'"{h}"' for h in headers)
        )
    column_map = {h: by_key[header_key(h)] for h in POLICEUK_HEADER if header_key(h) in by_key}
    n = len(raw)
    header_row = int(raw.attrs.get("header_row", 1))
    row_number = np.arange(header_row + 1, header_row + 1 + n, dtype=np.int64)
    warnings: list[str] = list(raw.attrs.get("warnings", []))

    def col(h: str) -> pd.Series:
        if h not in column_map:
            return pd.Series([""] * n, dtype=object)
        return clean_text(raw[column_map[h]].reset_index(drop=True))[0]

    crime_id, month_s, crime_type = col("Crime ID"), col("Month"), col("Crime type")
    location, lsoa, falls = col("Location"), col("LSOA code"), col("Falls within")
    lat_s, lon_s = col("Latitude"), col("Longitude")

    problems = RowProblems(n)
    month = pd.to_datetime(month_s, format="%Y-%m", errors="coerce").astype("datetime64[ns]").to_numpy()
    problems.add(np.isnat(month), "month", month_s, lambda v: f'month "{v}" is not a YYYY-MM month')
    lat, lat_bad = parse_numbers(lat_s, comma_decimal=False)
    lon, lon_bad = parse_numbers(lon_s, comma_decimal=False)
    no_coords = (np.isnan(lat) | np.isnan(lon)) & ~lat_bad & ~lon_bad
    problems.add(
        no_coords,
        "latitude",
        location,
        lambda v: f'no coordinates (location "{v}")' if v else "no coordinates",
    )
    problems.add(lat_bad, "latitude", lat_s, lambda v: f'latitude "{v}" is not a number')
    problems.add(lon_bad, "longitude", lon_s, lambda v: f'longitude "{v}" is not a number')
    lat_out = ~np.isnan(lat) & (np.abs(lat) > 90)
    lon_out = ~np.isnan(lon) & (np.abs(lon) > 180)
    problems.add(lat_out, "latitude", lat_s, lambda v: f"latitude {v} out of range (-90 to 90)")
    problems.add(lon_out, "longitude", lon_s, lambda v: f"longitude {v} out of range (-180 to 180)")

    place_text = location.str.replace(r"^\s*on or near\s+", "", regex=True, case=False).str.strip()
    # Text that is not a police.uk landmark type is a street name.
    landmark = schema.policeuk_landmark(place_text)
    place_type = (
        landmark.map(schema.POLICEUK_LANDMARK_TYPES).fillna("residential_street").to_numpy(dtype=object)
    )
    concern = crime_type.map(POLICEUK_CONCERNS).fillna("other").to_numpy(dtype=object)
    unknown_types = sorted(set(crime_type[~crime_type.isin(list(POLICEUK_CONCERNS))]) - {""})
    if unknown_types:
        warnings.append(
            "crime types not in the police.uk list were mapped to 'other': "
            + ", ".join(f'"{t}"' for t in unknown_types)
        )

    # Rows without a Crime ID (all anti-social behaviour) get a content hash. Identical rows are
    # real separate incidents, so the occurrence index keeps them apart while a re-import of the
    # same file reproduces the same fingerprints.
    key = month_s.str.cat([crime_type, lon_s, lat_s, place_text, lsoa], sep="\x1f")
    occurrence = key.groupby(key).cumcount().astype(str)
    hashed = [
        hashlib.sha1(f"policeuk\x1f{k}\x1f{o}".encode()).hexdigest()
        for k, o in zip(key, occurrence, strict=True)
    ]
    has_id = (crime_id != "").to_numpy()
    fingerprint = np.where(has_id, crime_id.to_numpy(dtype=object), np.asarray(hashed, dtype=object))

    frame = pd.DataFrame(
        {
            "row_number": row_number,
            "crime_id": none_if_blank(crime_id),
            "month": month,
            "crime_type": crime_type.to_numpy(dtype=object),
            "concern": concern,
            "location_text": none_if_blank(place_text),
            "place_type": place_type,
            "latitude": lat,
            "longitude": lon,
            "lsoa_code": none_if_blank(lsoa),
            "falls_within": none_if_blank(falls),
            "fingerprint": fingerprint,
        }
    )
    frame = with_dtypes(frame, POLICEUK_COLUMNS)
    bad = problems.any
    reasons = problems.joined()
    q_idx = np.flatnonzero(bad)
    quarantine = pd.DataFrame(
        {
            "row_number": row_number[q_idx].astype("int64"),
            "reason": [f"row {row_number[i]}: {reasons[i]}" for i in q_idx],
            "field": problems.first_field[q_idx],
            "value": problems.first_value[q_idx],
            "raw": raw_json(raw, q_idx),
        },
        columns=list(schema.QUARANTINE_COLUMNS),
    )
    quarantine = with_dtypes(quarantine, QUARANTINE_DTYPES)
    return IngestResult(
        rows=frame.iloc[np.flatnonzero(~bad)].reset_index(drop=True),
        quarantine=quarantine,
        column_map=column_map,
        warnings=warnings,
        n_read=n,
        kind="policeuk",
    )
