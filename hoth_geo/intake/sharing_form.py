"""A sharing-form export -> canonical report rows (``schema.CANONICAL_COLUMNS``).

``normalise_sharing_form`` is pure (DataFrame in, ``IngestResult`` out). Every input row ends in
exactly one of ``rows`` or ``quarantine``; a quarantined row carries a reason that names the
spreadsheet row, the column and the value so a person can fix it. Each row also gets its content
fingerprint (what identifies identical content across imports).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd

from hoth_geo import schema, settings
from hoth_geo.intake import row_warnings
from hoth_geo.intake.files import ImportRefused
from hoth_geo.intake.headers import HEADER_SYNONYMS, duplicate_mapping_warnings, map_columns
from hoth_geo.intake.parsers import (
    AGENCY_VOCAB,
    COMBINED_GRADING,
    CONCERN_VOCAB,
    EASTING_RANGE,
    GRID_MIN,
    INDICATOR_VOCAB,
    NORTHING_RANGE,
    PLACE_VOCAB,
    QUARANTINE_DTYPES,
    TRUE_TOKENS,
    IngestResult,
    UnknownTerms,
    as_text,
    by_unique,
    clean_text,
    count_of,
    degrees_written,
    filled_mask,
    lat_lon_pairs,
    looks_like_grid_reference,
    map_multi,
    map_single,
    none_if_blank,
    normalise_postcodes,
    parse_date_columns,
    parse_grid_references,
    parse_numbers,
    parse_times,
    read_settings,
    with_dtypes,
)

__all__ = [
    "normalise_sharing_form",
    "vocabulary_warnings",
    "RowProblems",
    "raw_json",
]


_DATE_FIELDS = ("date_observed", "date_received")


_LOCATION_FIELDS = (
    "location_text", "place_name", "postcode", "latitude", "longitude", "easting", "northing",
    "grid_reference", "setting", "online",
)  # fmt: skip


_HUMAN = {
    "source_ref": "source reference", "date_received": "date received", "date_observed": "date observed",
    "time_observed": "time observed", "latitude": "latitude", "longitude": "longitude",
    "easting": "easting", "northing": "northing", "grid_reference": "grid reference", "postcode": "postcode",
    "location_accuracy": "location accuracy",
    "grading": "grading", "grading_source": "source grading", "grading_information": "information grading",
    "grading_handling": "handling code",
}  # fmt: skip


class RowProblems:
    """Per-row quarantine reasons, collected column by column (vectorised) and joined at the end."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.first_field = np.full(n, None, dtype=object)
        self.first_value = np.full(n, None, dtype=object)
        self.reasons: list[tuple[np.ndarray, np.ndarray]] = []  # (mask, messages)

    def add(self, mask: np.ndarray, field_name: str, values: Iterable, message: Callable[[str], str]) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        vals = np.asarray(list(values), dtype=object) if not isinstance(values, np.ndarray) else values
        msgs = np.full(self.n, None, dtype=object)
        for i in np.flatnonzero(mask):
            msgs[i] = message(str(vals[i]))
        fresh = mask & (self.first_field == None)  # noqa: E711 - elementwise on an object array
        self.first_field[fresh] = field_name
        self.first_value[fresh] = vals[fresh]
        self.reasons.append((mask, msgs))

    @property
    def any(self) -> np.ndarray:
        out = np.zeros(self.n, dtype=bool)
        for mask, _ in self.reasons:
            out |= mask
        return out

    def joined(self) -> np.ndarray:
        out = np.full(self.n, None, dtype=object)
        for mask, msgs in self.reasons:
            for i in np.flatnonzero(mask):
                out[i] = msgs[i] if out[i] is None else f"{out[i]}; {msgs[i]}"
        return out


def _refuse_missing(frame: pd.DataFrame, column_map: dict[str, str]) -> None:
    missing = []
    if not any(f in column_map for f in _DATE_FIELDS):
        missing.append("date column (Date observed or Date received)")
    if not any(f in column_map for f in _LOCATION_FIELDS):
        missing.append(
            "location column (Location, Place name, Postcode, Latitude/Longitude, Easting/Northing, Grid"
            " reference or Setting)"
        )
    if missing:
        name = frame.attrs.get("filename")
        where = f'file "{name}"' if name else "the file"
        found = ", ".join(f'"{c}"' for c in frame.columns) or "none"
        raise ImportRefused(f"{where} has no {' and no '.join(missing)}. Headers found: {found}.")


@dataclass
class _Columns:
    """One file's mapped columns, cleaned once, and what the checks collect as they read them."""

    text: dict[str, pd.Series]  # every HEADER_SYNONYMS field; absent columns read as blank
    filled: dict[str, np.ndarray]  # non-blank cells per field
    column_map: dict[str, str]
    row_number: np.ndarray  # spreadsheet row of each input row
    problems: RowProblems
    warnings: list[str]
    # Vocabulary column -> its terms that match no listed key.
    unknown_terms: dict[str, UnknownTerms] = field(default_factory=dict)


def normalise_sharing_form(raw: pd.DataFrame, *, today: date | None = None) -> IngestResult:
    """Turn a sharing-form export (as read by ``read_table``) into canonical rows plus quarantine.

    Raises ``ImportRefused`` when the file has no date column or no location column at all.
    The steps follow the form's parts: dates, coordinates, setting and postcode, agency and grading;
    each adds its problems (the quarantine reasons) and warnings as it reads its columns.
    """
    today = today or date.today()
    headers = [str(c) for c in raw.columns]
    column_map = map_columns(headers)
    _refuse_missing(raw, column_map)
    warnings: list[str] = list(raw.attrs.get("warnings", []))
    warnings += duplicate_mapping_warnings(headers, column_map)
    n = len(raw)
    header_row = int(raw.attrs.get("header_row", 1))
    row_number = np.arange(header_row + 1, header_row + 1 + n, dtype=np.int64)
    text, filled, truncated = _cleaned_text(raw, column_map, row_number)
    cols = _Columns(text, filled, column_map, row_number, RowProblems(n), warnings)
    empty = _empty_rows(raw, cols)

    observed_at, time_known, approximate, received, time_text = _dates(cols, empty, today)
    comma_decimal = raw.attrs.get("delimiter") == ";"
    lat, lon, east, north = _coordinates(cols, comma_decimal=comma_decimal)
    accuracy = _location_accuracy(cols, comma_decimal=comma_decimal)
    place_type, online, postcode = _setting_and_postcode(cols, lat, east)
    agency_type, concerns, indicators, (g_src, g_info, g_hand) = _agency_and_grading(cols)
    if truncated:
        # Named, because the cut-off text is not stored anywhere: the partner may need to send it.
        warnings.append(row_warnings.TEXT_CUT_SHORT(len(truncated), truncated))

    columns = {
        "row_number": row_number,
        "source_ref": none_if_blank(text["source_ref"], filled["source_ref"]),
        "date_received": received,
        "observed_at": observed_at,
        "time_known": time_known.astype(bool),
        "time_text": time_text,
        "date_approximate": approximate.astype(bool),
        "agency": none_if_blank(text["agency"], filled["agency"]),
        "agency_type": agency_type,
        "location_text": none_if_blank(text["location_text"], filled["location_text"]),
        "place_name": none_if_blank(text["place_name"], filled["place_name"]),
        "place_type": place_type,
        "postcode": postcode,
        "latitude": lat,
        "longitude": lon,
        "easting": east,
        "northing": north,
        "location_accuracy_m": accuracy,
        "online": online.astype(bool),
        "concerns": concerns,
        "indicators": indicators,
        "grading_source": g_src,
        "grading_information": g_info,
        "grading_handling": g_hand,
        "narrative": none_if_blank(text["narrative"], filled["narrative"]),
        "child_ref": none_if_blank(text["child_ref"], filled["child_ref"]),
    }
    columns["fingerprint"] = _fingerprints(columns)
    rows = with_dtypes(columns, schema.CANONICAL_COLUMNS)
    q_mask = empty | (cols.problems.any & ~empty)
    quarantine = _quarantine_frame(raw, cols, empty, np.flatnonzero(q_mask))
    if empty.any():
        warnings.append(row_warnings.EMPTY_ROWS(int(empty.sum())))
    warnings += vocabulary_warnings(cols.unknown_terms)
    kept = rows if not q_mask.any() else rows.iloc[np.flatnonzero(~q_mask)].reset_index(drop=True)
    return IngestResult(
        rows=kept,
        quarantine=quarantine,
        column_map=column_map,
        warnings=warnings,
        n_read=n,
        kind="sharing_form",
        unknown_terms=cols.unknown_terms,
        coordinate_precision=pd.DataFrame(
            {f: decimals_written(text[f], comma_decimal=comma_decimal) for f in ("latitude", "longitude")},
            index=pd.Index(row_number, name="row_number"),
        ),
    )


_DECIMALS = re.compile(r"^[+-]?\d*[.,](\d+)$")
_ASCII_LETTER = re.compile(r"[A-Za-z]")  # what str.isalpha finds in an ASCII text


def decimals_written(values: pd.Series, *, comma_decimal: bool = False) -> np.ndarray:
    """How many decimals each number was written with ('54.7700' has 4, '55' has 0): NaN for a blank
    cell or a form that does not say (an exponent). The geocoder states a coordinate's radius from
    them, since the number itself has lost its trailing zeros."""

    def one_pass(unique: pd.Series) -> list[float]:
        out = []
        for v in unique:
            text = str(v).strip().replace(" ", "")
            # An ASCII text (nearly every one) is searched for letters in C; any other letter by letter.
            if not text or (_ASCII_LETTER.search(text) if text.isascii() else any(map(str.isalpha, text))):
                out.append(np.nan)
            elif (m := _DECIMALS.match(text)) and (comma_decimal or "," not in text):
                out.append(float(len(m.group(1))))
            else:
                out.append(0.0 if text.lstrip("+-").isdigit() else np.nan)
        return out

    return by_unique(values, one_pass).astype(float)


# What each vocabulary column's unknown terms are called, and what became of them.
_UNKNOWN_TERMS_SAID = {
    "place_type": (
        "a place type that is not a listed place type",
        f'read as "{schema.PLACE_TYPES["other"]}"',
    ),
    "agency_type": (
        "an agency type that is not a listed agency type",
        f'read as "{schema.AGENCY_TYPES["other"]}"',
    ),
    "concerns": ("concern terms that are not a listed concern", f'read as "{schema.CONCERNS["other"]}"'),
    "indicators": (
        "indicator terms that match no listed indicator",
        "those terms were dropped (the narrative keeps the detail)",
    ),
    "time_observed": (
        "a time of day in words, not a time",
        "stored with the time of day unknown and the words kept with the report",
    ),
    "setting": (
        "a setting that says neither online nor in person",
        "read as in person (an online report among them can be marked online in Review)",
    ),
}
_TERMS_NAMED = 10
_TERM_CHARS = 60


def vocabulary_warnings(unknown_terms: dict[str, UnknownTerms]) -> list[str]:
    """A warning per vocabulary column with terms that match no listed key, naming the terms with the
    most rows, so the person importing sees which words of their form were read as "other" (or dropped
    from the indicators) and can correct the file or ask for the term to be added."""
    out = []
    for column, (what, became) in _UNKNOWN_TERMS_SAID.items():
        unknown = unknown_terms.get(column)
        if not unknown:
            continue
        named = unknown.most_rows(_TERMS_NAMED)
        shown = ", ".join(f'"{_shortened(term)}" ({n:,} row{"s" if n != 1 else ""})' for term, n in named)
        n_more = len(unknown.rows_by_term) - len(named)
        more = f" and {n_more:,} more term{'s' if n_more != 1 else ''}" if n_more else ""
        if unknown.more_not_kept:
            more += " and others"
        out.append(f"{count_of(unknown.n_rows, 'row had', 'rows had')} {what}; {became}: {shown}{more}")
    return out


def _shortened(term: str) -> str:
    return term if len(term) <= _TERM_CHARS else term[: _TERM_CHARS - 1] + "…"


def _cleaned_text(
    raw: pd.DataFrame, column_map: dict[str, str], row_number: np.ndarray
) -> tuple[dict[str, pd.Series], dict[str, np.ndarray], list[str]]:
    """Every mapped column cleaned once (absent columns read as blank), which cells are filled, and
    the cells cut to MAX_TEXT_CHARS ('row 7 "Narrative" (1,048,576 characters)')."""
    n = len(raw)
    blank_col = pd.Series([""] * n, dtype=object)
    no_values = np.zeros(n, dtype=bool)
    text: dict[str, pd.Series] = {}
    filled: dict[str, np.ndarray] = {}
    truncated: list[str] = []
    for f in HEADER_SYNONYMS:
        if f in column_map:
            s, cut = clean_text(raw[column_map[f]].reset_index(drop=True))
            text[f] = s
            filled[f] = filled_mask(s)
            truncated += [
                f'row {row_number[i]} "{column_map[f]}" ({length:,} characters)' for i, length in cut.items()
            ]
        else:
            text[f] = blank_col
            filled[f] = no_values
    return text, filled, truncated


def _empty_rows(raw: pd.DataFrame, cols: _Columns) -> np.ndarray:
    """Rows whose every cell (mapped or not) is blank. The mapped columns are already cleaned, so
    only rows blank in all of them need their other cells checked."""
    empty = np.ones(len(raw), dtype=bool)
    for f in cols.column_map:
        empty &= ~cols.filled[f]
    for c in raw.columns:
        if not empty.any():
            break
        if str(c) in cols.column_map.values():
            continue
        cells = as_text(raw[c].iloc[np.flatnonzero(empty)]).str.strip()
        empty[np.flatnonzero(empty)[(cells != "").to_numpy()]] = False
    return empty


def _dates(cols: _Columns, empty: np.ndarray, today: date) -> tuple[np.ndarray, ...]:
    """When it was seen: (observed_at, time_known, date_approximate, date_received, time_text).

    The date received stands in (marked approximate) when no date observed is given; a time in its
    own column overrides any time in the date cell. A time of day in words ('evening') leaves the time
    unknown and is kept as written (``time_text``, None elsewhere), its terms counted for the
    warnings: the report counts on the map, and nobody's words are lost."""
    text, problems, warnings = cols.text, cols.problems, cols.warnings
    obs = parse_date_columns(text["date_observed"], today)
    rec = parse_date_columns(text["date_received"], today)
    earliest = np.datetime64(pd.Timestamp(settings.EARLIEST_PLAUSIBLE_DATE).to_datetime64(), "ns")
    latest = np.datetime64(pd.Timestamp(today).to_datetime64(), "ns") + np.timedelta64(1, "D")
    for f, p in (("date_observed", obs), ("date_received", rec)):
        label = _HUMAN[f]
        problems.add(
            p.invalid,
            f,
            text[f],
            lambda v, label=label: (
                f'{label} "{v}" is not a valid date (dates are read day first: DD/MM/YYYY)'
            ),
        )
        future = ~np.isnat(p.value) & (p.value >= latest)
        problems.add(future, f, text[f], lambda v, label=label: f'{label} "{v}" is in the future')
        early = ~np.isnat(p.value) & (p.value < earliest)
        problems.add(
            early,
            f,
            text[f],
            lambda v, label=label: (
                f'{label} "{v}" is before {settings.EARLIEST_PLAUSIBLE_DATE}, too early to be plausible'
            ),
        )
    no_date = obs.blank & rec.blank & ~empty
    problems.add(
        no_date, "date_observed", text["date_observed"], lambda v: "no date observed or date received"
    )

    use_received = obs.blank & ~rec.blank
    observed_at = np.where(use_received, rec.value, obs.value).astype("datetime64[ns]")
    time_known = np.where(use_received, False, obs.time_known)
    approximate = np.where(use_received, True, obs.approximate)
    if use_received.any():
        warnings.append(row_warnings.NO_DATE_OBSERVED(int((use_received & ~empty).sum())))
    if "date_approximate" in cols.column_map:
        approximate |= text["date_approximate"].str.lower().isin(TRUE_TOKENS).to_numpy()

    time_text = np.full(len(observed_at), None, dtype=object)
    if "time_observed" in cols.column_map:
        delta, t_blank, t_invalid, t_words = parse_times(text["time_observed"])
        if t_words.any():
            words = text["time_observed"][t_words].str.strip()
            time_text[t_words] = words.to_numpy(dtype=object)
            terms = UnknownTerms()
            for term, n_rows in words.value_counts(sort=False).items():
                terms.add_rows(term, int(n_rows))
            cols.unknown_terms["time_observed"] = terms
        problems.add(
            t_invalid,
            "time_observed",
            text["time_observed"],
            lambda v: f'time observed "{v}" is not a valid time',
        )
        use_time = ~t_blank & ~t_invalid & ~t_words & ~np.isnat(observed_at)
        day = observed_at.astype("datetime64[D]").astype("datetime64[ns]")
        observed_at = np.where(
            use_time, day + np.where(use_time, delta, np.timedelta64(0, "ns")), observed_at
        )
        time_known = np.where(use_time, True, time_known)

    later_than_received = ~np.isnat(observed_at) & ~np.isnat(rec.value)
    later_than_received &= observed_at.astype("datetime64[D]") > rec.value.astype("datetime64[D]")
    if later_than_received.any():
        warnings.append(
            row_warnings.OBSERVED_AFTER_RECEIVED(
                int(later_than_received.sum()), cols.row_number[later_than_received]
            )
        )
    return observed_at, time_known, approximate, rec.value, time_text


def _coordinates(cols: _Columns, *, comma_decimal: bool) -> tuple[np.ndarray, ...]:
    """(latitude, longitude, easting, northing), NaN where missing, unreadable, out of range or given
    without its partner. Grid references typed into the latitude/longitude columns are moved across,
    and an OS grid reference with letters stands for the easting/northing a row did not give
    (``_grid_references``)."""
    text, problems = cols.text, cols.problems
    ref_east, ref_north, ref_side, ref_in_easting = _grid_references(cols)
    _coordinates_in_location(cols, ~np.isnan(ref_east))
    nums: dict[str, np.ndarray] = {}
    coord_bad: dict[str, np.ndarray] = {}  # unreadable or out of range: already reported
    for f in ("latitude", "longitude", "easting", "northing"):
        cells = text[f].where(~ref_in_easting, "") if f == "easting" and ref_in_easting.any() else text[f]
        v, bad = parse_numbers(cells, comma_decimal=comma_decimal)
        if f in ("latitude", "longitude") and bad.any():
            _degrees_and_minutes(cols, f, v, bad)
        coord_bad[f] = bad
        problems.add(
            bad,
            f,
            text[f],
            lambda s, f=f: f'{_HUMAN[f]} "{s}" is not a number{_number_hint(f, s, comma_decimal)}',
        )
        nums[f] = v
    lat, lon, east, north = nums["latitude"], nums["longitude"], nums["easting"], nums["northing"]
    # British National Grid numbers typed into latitude/longitude columns: move them across
    # (longitude is x = easting, latitude is y = northing); the geocoder checks the result.
    grid_like = (
        (np.abs(lat) > 90)
        & (np.abs(lon) > 180)
        & (lon >= GRID_MIN)
        & (lon <= EASTING_RANGE[1])
        & (lat >= GRID_MIN)
        & (lat <= NORTHING_RANGE[1])
        & np.isnan(east)
        & np.isnan(north)
    )
    if grid_like.any():
        east = np.where(grid_like, lon, east)
        north = np.where(grid_like, lat, north)
        lat = np.where(grid_like, np.nan, lat)
        lon = np.where(grid_like, np.nan, lon)
        cols.warnings.append(row_warnings.GRID_IN_LAT_LON(int(grid_like.sum())))
    # A grid reference stands in for easting/northing the row did not give as numbers; one that puts
    # the row elsewhere than its numbers do is said, so the analyst can check which is right.
    by_ref = np.isnan(east) & np.isnan(north) & ~np.isnan(ref_east)
    both = ~np.isnan(east) & ~np.isnan(north) & ~np.isnan(ref_east)
    outside_square = both & (
        (east < ref_east)
        | (east > ref_east + ref_side)
        | (north < ref_north)
        | (north > ref_north + ref_side)
    )
    if outside_square.any():
        cols.warnings.append(
            row_warnings.GRID_REFERENCE_ELSEWHERE(int(outside_square.sum()), cols.row_number[outside_square])
        )
    east = np.where(by_ref, ref_east, east)
    north = np.where(by_ref, ref_north, north)
    for f, arr, lo, hi in (
        ("latitude", lat, -90.0, 90.0),
        ("longitude", lon, -180.0, 180.0),
        ("easting", east, *EASTING_RANGE),
        ("northing", north, *NORTHING_RANGE),
    ):
        out = ~np.isnan(arr) & ((arr < lo) | (arr > hi))
        problems.add(
            out, f, text[f], lambda s, f=f, lo=lo, hi=hi: f"{_HUMAN[f]} {s} out of range ({lo:g} to {hi:g})"
        )
        arr[out] = np.nan
        coord_bad[f] = coord_bad[f] | out
    for a, b, fa, fb in (
        (lat, lon, "latitude", "longitude"),
        (east, north, "easting", "northing"),
    ):
        half = np.isnan(a) ^ np.isnan(b)
        # A partner that was given but unreadable has its own reason; don't report it twice.
        only_a = half & ~np.isnan(a) & ~coord_bad[fb]
        problems.add(only_a, fa, text[fa], lambda s, fa=fa, fb=fb: f"{fa} {s} given without a {fb}")
        only_b = half & ~np.isnan(b) & ~coord_bad[fa]
        problems.add(only_b, fb, text[fb], lambda s, fa=fa, fb=fb: f"{fb} {s} given without a {fa}")
        a[half] = np.nan
        b[half] = np.nan
    return lat, lon, east, north


# A hemisphere letter that belongs to the other coordinate: (the column's, the letters it would need).
_OTHER_HEMISPHERES = {
    "latitude": ("EW", " (a latitude is N or S: E and W are a longitude's)"),
    "longitude": ("NS", " (a longitude is E or W: N and S are a latitude's)"),
}


def _number_hint(f: str, cell: str, comma_decimal: bool) -> str:
    """What to add to 'is not a number' for a cell that is nearly one."""
    if "," in cell and not comma_decimal:
        return " (use a full stop for decimals)"
    if f in _OTHER_HEMISPHERES:
        letters, said = _OTHER_HEMISPHERES[f]
        if degrees_written(cell, letters) is not None:
            return said
    return ""


def _degrees_and_minutes(cols: _Columns, f: str, values: np.ndarray, bad: np.ndarray) -> None:
    """Read the cells of ``f`` (latitude or longitude) that are not numbers but degrees, minutes and
    seconds (54°46'34.7"N) into ``values`` and clear them from ``bad``, in place. Their text becomes
    the decimal degrees ``parsers.degrees_written`` gives, whose decimals state their radius."""
    at = np.flatnonzero(bad)
    hemispheres = "NS" if f == "latitude" else "EW"
    written = by_unique(cols.text[f].iloc[at], lambda u: [degrees_written(str(v), hemispheres) for v in u])
    read = pd.notna(written)
    if not read.any():
        return
    values[at[read]] = written[read].astype(float)
    bad[at[read]] = False
    _rewrite_cells(cols, f, at[read], written[read])


def _rewrite_cells(cols: _Columns, f: str, rows: np.ndarray, cells: np.ndarray) -> None:
    """Put ``cells`` in place of column ``f``'s text at positions ``rows`` (a coordinate read from
    another form, whose text the later steps read as written: its decimals state its radius)."""
    text = cols.text[f].astype(object).to_numpy(copy=True)
    text[rows] = cells
    cols.text[f] = pd.Series(text, index=cols.text[f].index, dtype=object)


def _coordinates_in_location(cols: _Columns, has_grid_reference: np.ndarray) -> None:
    """Where a row's location text is nothing but a latitude and longitude and the row gave no
    coordinates of its own, read them as its latitude and longitude (as written, so their decimals
    state their radius and the usual checks apply). The location text stays as written."""
    text, filled = cols.text, cols.filled
    todo = filled["location_text"] & ~has_grid_reference
    for f in ("latitude", "longitude", "easting", "northing"):
        todo &= ~filled[f]
    if not todo.any():
        return
    at = np.flatnonzero(todo)
    pairs = lat_lon_pairs(text["location_text"].iloc[at])
    found = pd.notna(pairs[:, 0])
    if not found.any():
        return
    for f, part in (("latitude", 0), ("longitude", 1)):
        _rewrite_cells(cols, f, at[found], pairs[found, part])


_GRID_REFERENCE_FORM = "two letters and 4 to 10 digits, e.g. NZ 2754 4215"


def _grid_references(cols: _Columns) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(easting, northing, side) of the square each row's OS grid reference names, NaN where none, and
    whether it was written in the easting column: from a grid reference column, else from the easting
    column (its northing blank), else from a location text that is nothing but a grid reference. One
    given in the first two that is not a grid reference is the row's problem; a location text that is
    not one is a location text."""
    text, filled, problems = cols.text, cols.filled, cols.problems
    n = len(cols.row_number)
    east, north, side = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    lettered = filled["easting"] & ~filled["northing"]
    if lettered.any():
        lettered[lettered] = [looks_like_grid_reference(v) for v in text["easting"][lettered]]
    for found_in, column in (
        (filled["grid_reference"], "grid_reference"),
        (lettered, "easting"),
        (filled["location_text"], "location_text"),
    ):
        todo = found_in & np.isnan(east)
        if not todo.any():
            continue
        at = np.flatnonzero(todo)  # only the rows that may hold one: most location texts are not
        east[at], north[at], side[at] = parse_grid_references(text[column].iloc[at])
        unread = np.zeros(n, dtype=bool)
        unread[at] = np.isnan(east[at])
        if column == "grid_reference":
            problems.add(
                unread,
                column,
                text[column],
                lambda s: f'grid reference "{s}" is not an OS grid reference ({_GRID_REFERENCE_FORM})',
            )
        elif column == "easting":
            problems.add(
                unread,
                column,
                text[column],
                lambda s: f'easting "{s}" is not an OS grid reference ({_GRID_REFERENCE_FORM}) or a number',
            )
    return east, north, side, lettered


# Wider than this is no point's accuracy but a slip (kilometres or feet for metres, a typo): the row goes
# to Review rather than be placed with a radius nobody meant.
MAX_LOCATION_ACCURACY_M = 100_000


def _location_accuracy(cols: _Columns, *, comma_decimal: bool) -> np.ndarray:
    """The accuracy in metres a row states for its coordinates (a device's, a click's on the share form's
    map), NaN where blank. Unreadable or out-of-range values are the row's problems."""
    text, problems = cols.text["location_accuracy"], cols.problems
    metres, bad = parse_numbers(text, comma_decimal=comma_decimal)
    problems.add(
        bad, "location_accuracy", text, lambda s: f'location accuracy "{s}" is not a number of metres'
    )
    out = ~np.isnan(metres) & ((metres < 0) | (metres > MAX_LOCATION_ACCURACY_M))
    problems.add(
        out,
        "location_accuracy",
        text,
        lambda s: f"location accuracy {s} out of range (0 to {MAX_LOCATION_ACCURACY_M:,} m)",
    )
    metres[out] = np.nan
    return metres


def _setting_and_postcode(cols: _Columns, lat: np.ndarray, east: np.ndarray) -> tuple[np.ndarray, ...]:
    """(place_type, online, postcode): the place type as a PLACE_TYPES key, whether the setting is
    online, and the postcode (None where invalid; quarantined only when the row has no other location)."""
    text, filled, problems = cols.text, cols.filled, cols.problems
    # A place type naming a platform ('Snapchat') is the online place type, as a setting naming one is.
    place_text = text["place_type"]
    platform, _ = read_settings(place_text)
    if platform.any():
        place_text = place_text.where(~platform, schema.PLACE_TYPES["online"])
    place_type, cols.unknown_terms["place_type"] = map_single(place_text, PLACE_VOCAB, "other")
    online, cols.unknown_terms["setting"] = read_settings(text["setting"])
    if "online" in cols.column_map:
        online |= text["online"].str.lower().isin(TRUE_TOKENS).to_numpy()
    online |= place_type == "online"
    place_type = np.where(online & (place_type == None), "online", place_type)  # noqa: E711

    postcode, pc_bad = normalise_postcodes(text["postcode"])
    other_location = (
        filled["location_text"] | filled["place_name"] | ~np.isnan(lat) | ~np.isnan(east) | online
    )
    problems.add(
        pc_bad & ~other_location,
        "postcode",
        text["postcode"],
        lambda v: f'postcode "{v}" is not a valid UK postcode',
    )
    dropped_pc = pc_bad & other_location
    if dropped_pc.any():
        cols.warnings.append(row_warnings.POSTCODE_IGNORED(int(dropped_pc.sum())))
    return place_type, online, np.where(pc_bad, None, postcode)


def _agency_and_grading(cols: _Columns) -> tuple:
    """(agency_type, concerns, indicators, (grading source, information, handling)) as vocabulary keys;
    a combined grading column ('1A P') fills the parts not given on their own."""
    text, filled, problems = cols.text, cols.filled, cols.problems
    agency_type, cols.unknown_terms["agency_type"] = map_single(text["agency_type"], AGENCY_VOCAB, "other")
    agency_type = np.where(agency_type == None, "other", agency_type)  # noqa: E711
    concerns, cols.unknown_terms["concerns"] = map_multi(text["concerns"], CONCERN_VOCAB, "other")
    indicators, cols.unknown_terms["indicators"] = map_multi(text["indicators"], INDICATOR_VOCAB, None)

    g_src, g_info, g_hand = (
        _grading_part(text[f]) for f in ("grading_source", "grading_information", "grading_handling")
    )
    if "grading" in cols.column_map:
        codes, uniques = pd.factorize(text["grading"].to_numpy(dtype=object), use_na_sentinel=False)
        parts = (
            pd.Series(uniques, dtype=object).str.extract(COMBINED_GRADING).iloc[codes].reset_index(drop=True)
        )
        bad = filled["grading"] & parts[0].isna().to_numpy()
        problems.add(
            bad,
            "grading",
            text["grading"],
            lambda v: (
                f'grading "{v}" is not a 3x5x2 grade (expected like "1A P": source 1-3, information A-E, handling P or C)'
            ),
        )
        g_src = np.where(g_src == None, parts[0].to_numpy(dtype=object), g_src)  # noqa: E711
        g_info = np.where(g_info == None, parts[1].str.upper().to_numpy(dtype=object), g_info)  # noqa: E711
        g_hand = np.where(g_hand == None, parts[2].str.upper().to_numpy(dtype=object), g_hand)  # noqa: E711
    for f, arr, allowed in (
        ("grading_source", g_src, schema.GRADING_SOURCE),
        ("grading_information", g_info, schema.GRADING_INFORMATION),
        ("grading_handling", g_hand, schema.GRADING_HANDLING),
    ):
        arr[pd.isna(arr)] = None
        bad = (arr != None) & ~np.isin(arr, np.asarray(allowed, dtype=object))  # noqa: E711
        problems.add(
            bad,
            f,
            text[f].where(filled[f], pd.Series(arr, dtype=object)),
            lambda v, f=f, allowed=allowed: (
                f'{_HUMAN[f]} "{v}" is not valid (expected {", ".join(allowed[:-1])} or {allowed[-1]})'
            ),
        )
    return agency_type, concerns, indicators, (g_src, g_info, g_hand)


def _quarantine_frame(
    raw: pd.DataFrame, cols: _Columns, empty: np.ndarray, q_idx: np.ndarray
) -> pd.DataFrame:
    """The quarantined rows (positions ``q_idx``) with the reason a person can act on, the first field
    and value at fault, and the row as it was read."""
    reasons = cols.problems.joined()
    row_number = cols.row_number
    quarantine = pd.DataFrame(
        {
            "row_number": row_number[q_idx],
            "reason": [
                f"row {row_number[i]}: empty row" if empty[i] else f"row {row_number[i]}: {reasons[i]}"
                for i in q_idx
            ],
            "field": [None if empty[i] else cols.problems.first_field[i] for i in q_idx],
            "value": [None if empty[i] else cols.problems.first_value[i] for i in q_idx],
            "raw": raw_json(raw, q_idx),
        },
        columns=list(schema.QUARANTINE_COLUMNS),
    )
    return with_dtypes(quarantine, QUARANTINE_DTYPES)


def _grading_part(values: pd.Series) -> np.ndarray:
    def upper(u: pd.Series) -> list[str | None]:
        return [str(v).strip().upper() or None for v in u]

    return by_unique(values, upper)


def raw_json(raw: pd.DataFrame, positions: np.ndarray) -> list[str]:
    cols = [str(c) for c in raw.columns]
    block = raw.iloc[positions].astype(object).to_numpy()
    return [
        json.dumps(
            {c: ("" if v is None else str(v)) for c, v in zip(cols, row, strict=True)}, ensure_ascii=False
        )
        for row in block
    ]


def _fp_text(values: np.ndarray | pd.Series, *, repeats: bool = True) -> list[str]:
    """Case and runs of whitespace folded, so a re-typed copy of a report still matches.

    Values arrive stripped; only when a C-speed search finds a whitespace run, a tab, a newline
    or a no-break space anywhere in the column is the per-value fold paid for. Columns whose
    values repeat (agency, place type...) are folded once per distinct value.
    """
    arr = np.asarray(values, dtype=object)
    if not len(arr) or (arr[0] is None and pd.isna(arr).all()):
        return [""] * len(arr)
    if repeats:
        codes, uniques = pd.factorize(arr, use_na_sentinel=False)
        vals = ["" if v is None or v != v else v for v in uniques.tolist()]
    else:
        arr = arr.copy()
        arr[pd.isna(arr)] = ""
        vals = arr.tolist()
    joined = "\x01".join(vals)
    if any(w in joined for w in ("  ", "\t", "\n", "\xa0", "\u3000")):
        vals = [" ".join(v.split()).lower() for v in vals]
    else:
        vals = list(map(str.lower, vals))
    return np.asarray(vals, dtype=object)[codes].tolist() if repeats else vals


def _fp_key(values: np.ndarray) -> list[str]:
    """Taxonomy keys and normalised postcodes are canonical already: only None needs mapping."""
    arr = np.asarray(values, dtype=object)
    missing = pd.isna(arr)
    if missing.any():
        arr = arr.copy()
        arr[missing] = ""
    return arr.tolist()


def _fp_datetimes(values: np.ndarray) -> list[str]:
    codes, uniques = pd.factorize(values.astype("int64"), use_na_sentinel=False)
    text = np.asarray(uniques).astype(values.dtype).astype(str).astype(object)
    return text[codes].tolist()


def _fp_number(values: np.ndarray, decimals: int) -> list[str]:
    """Rounded numbers as text; missing is '' whatever else is in the column, so a report's
    fingerprint never depends on the other rows of its file."""
    values = values.astype("float64")
    if np.isnan(values).all():
        return [""] * len(values)
    # Python's float repr is several times faster than NumPy's float -> str, and coordinates
    # repeat (police.uk-style snapping), so each distinct value is formatted once.
    codes, uniques = pd.factorize(np.round(values, decimals), use_na_sentinel=False)
    text = ["" if u != u else repr(u) for u in uniques.tolist()]
    return np.asarray(text, dtype=object)[codes].tolist()


def _fingerprints(rows: Mapping[str, np.ndarray]) -> list[str]:
    """sha1 of the normalised content: the same report imported twice gets the same fingerprint.

    The source reference, grading and stated location accuracy are left out on purpose: the same
    sighting re-keyed with a new reference, or re-graded, still looks alike (a possible duplicate). A
    row whose identity is stored is compared by its grading and accuracy as well (``store.revisions``):
    a re-grade is a change.
    """

    def col(name: str) -> np.ndarray:
        return np.asarray(rows[name])

    # A known time is part of the content; an unknown one is not (its midnight is a placeholder), but
    # a time said in words is ('evening' then 'night' is a change). Rows without words keep the part
    # they had before words were kept ("t" or ""), so no stored fingerprint changes.
    time_known = col("time_known").astype(bool)
    time_part = np.where(time_known, "t", "")
    words = pd.notna(col("time_text"))
    if words.any():
        time_part = time_part.astype(object)
        time_part[words] = ["w:" + schema.same_words(w) for w in col("time_text")[words]]
    obs = col("observed_at").astype("datetime64[ns]").astype("datetime64[m]")
    obs = np.where(time_known, obs, obs.astype("datetime64[D]").astype("datetime64[m]"))
    observed = _fp_datetimes(obs)
    received = _fp_datetimes(col("date_received").astype("datetime64[ns]").astype("datetime64[D]"))
    parts = [
        observed,
        time_part.tolist(),
        received,
        _fp_text(col("agency")),
        _fp_key(col("agency_type")),
        _fp_text(col("location_text")),
        _fp_text(col("place_name")),
        _fp_key(col("place_type")),
        _fp_key(col("postcode")),
        _fp_number(col("latitude"), 6),
        _fp_number(col("longitude"), 6),
        _fp_number(col("easting"), 1),
        _fp_number(col("northing"), 1),
        np.where(col("online").astype(bool), "online", "").tolist(),
        _fp_key(col("concerns")),
        _fp_key(col("indicators")),
        _fp_text(col("narrative"), repeats=False),
        _fp_text(col("child_ref"), repeats=False),
    ]
    sha1 = hashlib.sha1
    return [sha1("\x1f".join(t).encode("utf-8")).hexdigest() for t in zip(*parts, strict=True)]
