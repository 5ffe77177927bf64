"""Cell values as the normalisers read them: text cleaning, dates and times, numbers, postcodes,
the vocabularies of place types, agency types, concerns and indicators, and the 3x5x2 grading;
``IngestResult``, what a normaliser returns, and the typed frame it is built from.

Work is done once per *distinct* value wherever values repeat, which keeps a 100k-row import
well under a second.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

import numpy as np
import pandas as pd

from hoth_geo import schema

__all__ = [
    "AGENCY_TYPE_SYNONYMS",
    "CONCERN_SYNONYMS",
    "EASTING_RANGE",
    "INDICATOR_SYNONYMS",
    "IngestResult",
    "MAX_TEXT_CHARS",
    "NORTHING_RANGE",
    "PLACE_TYPE_SYNONYMS",
    "QUARANTINE_DTYPES",
    "parse_concerns",
    "parse_dates",
    "parse_indicators",
    "TRUE_TOKENS",
    "GRID_MIN",
    "GRID_LETTERS",
    "grid_reference_square",
    "looks_like_grid_reference",
    "degrees_written",
    "LAT_LON_TEXT",
    "is_latitude_longitude",
    "lat_lon_pairs",
    "written_grid_reference",
    "parse_grid_references",
    "COMBINED_GRADING",
    "Vocabulary",
    "PLACE_VOCAB",
    "AGENCY_VOCAB",
    "CONCERN_VOCAB",
    "INDICATOR_VOCAB",
    "ParsedDates",
    "by_unique",
    "count_of",
    "norm_words",
    "as_text",
    "object_column",
    "filled_mask",
    "clean_text",
    "none_if_blank",
    "parse_date_columns",
    "parse_times",
    "parse_numbers",
    "normalise_postcodes",
    "map_single",
    "map_multi",
    "read_settings",
    "ONLINE_SETTING_TERMS",
    "IN_PERSON_SETTING_TERMS",
    "UnknownTerms",
    "with_dtypes",
]


MAX_TEXT_CHARS = 10_000


EASTING_RANGE = (0.0, 700_000.0)


NORTHING_RANGE = (0.0, 1_300_000.0)


# Below this, a wild latitude/longitude is a typo, not a grid reference in the wrong columns.
GRID_MIN = 1_000.0


# OS grid references ("NZ 2754 4215"): two letters naming a 100 km square of the National Grid (the
# first of 25 letters, I skipped, a 500 km square; the second a 100 km square in it), then the
# easting and northing digits within it, the same number each, written apart or run together.
GRID_LETTERS = "ABCDEFGHJKLMNOPQRSTUVWXYZ"
_LETTERED_REF = re.compile(r"([A-HJ-Z]{2})\s*(?:(\d{1,5})\s+(\d{1,5})|(\d{2,10}))", re.I)
# Four digits (a kilometre square) at least, unless asked: 'NE1 4' and 'TS12' are postcode sectors and
# districts before they are 10 km squares.
GRID_REFERENCE_MIN_DIGITS = 4


def grid_reference_square(
    ref: str, *, min_digits: int = GRID_REFERENCE_MIN_DIGITS
) -> tuple[int, int, int] | None:
    """(easting, northing) of the south-west corner and the side, in metres, of the square an OS grid
    reference names, or None when ``ref`` is not one: 'NZ 27 42' names the kilometre square from
    (427000, 542000), 'NZ 2754 4215' the 10 m square from (427540, 542150). Stored as easting/northing,
    the size is read back from the trailing zeros (``geocode.grid_square``), so a reference whose
    digits end in 0 is stated as the larger square: never more precise than it was written."""
    m = _LETTERED_REF.fullmatch(ref.strip())
    if m is None:
        return None
    letters, east_digits, north_digits, run_together = m.groups()
    if run_together is not None:
        if len(run_together) % 2:
            return None
        half = len(run_together) // 2
        east_digits, north_digits = run_together[:half], run_together[half:]
    if len(east_digits) != len(north_digits) or 2 * len(east_digits) < min_digits:
        return None
    first, second = GRID_LETTERS.index(letters[0].upper()), GRID_LETTERS.index(letters[1].upper())
    east_100km = ((first - 2) % 5) * 5 + second % 5
    north_100km = (19 - (first // 5) * 5) - second // 5
    if not (0 <= east_100km * 100_000 < EASTING_RANGE[1] and 0 <= north_100km * 100_000 < NORTHING_RANGE[1]):
        return None
    side = 10 ** (5 - len(east_digits))
    east = east_100km * 100_000 + int(east_digits) * side
    north = north_100km * 100_000 + int(north_digits) * side
    return east, north, side


def written_grid_reference(text: str) -> str | None:
    """An OS grid reference as it is usually written ('nz27374209' -> 'NZ 2737 4209'), or None when
    ``text`` is not one."""
    if grid_reference_square(text) is None:
        return None
    digits = re.sub(r"\D", "", text)
    half = len(digits) // 2
    return f"{text.strip()[:2].upper()} {digits[:half]} {digits[half:]}"


# A latitude and longitude pasted as text ('54.77630, -1.57540', as a map app copies a point): two numbers
# with two decimals or more, nothing else.
LAT_LON_TEXT = re.compile(r"\(?\s*([+-]?\d{1,2}\.\d{2,})\s*[,;\s]\s*([+-]?\d{1,3}\.\d{2,})\s*\)?")


def is_latitude_longitude(text: str) -> bool:
    """Whether ``text`` is nothing but a latitude and longitude (``LAT_LON_TEXT``)."""
    return LAT_LON_TEXT.fullmatch(text.strip()) is not None


def lat_lon_pairs(texts: pd.Series) -> np.ndarray:
    """The two numbers of each text that is nothing but a latitude and longitude (``LAT_LON_TEXT``), as
    written and in the text's order, None where the text is not one: an (n, 2) object array, worked
    out once per distinct text."""

    def pairs_in(distinct: pd.Series) -> list[tuple]:
        matches = (LAT_LON_TEXT.fullmatch(str(t).strip()) for t in distinct)
        return [m.groups() if m else (None, None) for m in matches]

    if not len(texts):
        return np.full((0, 2), None, dtype=object)
    return by_unique(texts.astype(object), pairs_in).reshape(-1, 2)


# Degrees, minutes and seconds as map apps and GPS units write them: 54°46'34.7"N, 1° 34' 31.4" W,
# N54 46.578, -1°34.52'. The hemisphere letter may lead or follow; S and W are negative.
_DMS = re.compile(
    r"([NSEW])?\s*([+-]?\d{1,3}(?:\.\d+)?)\s*(?:°|º|deg|d|\s)\s*"
    r"(?:(\d{1,2}(?:\.\d+)?)\s*(?:'|′|’|m|min)?\s*"
    r"(?:(\d{1,2}(?:\.\d+)?)\s*(?:\"|″|''|s|sec)?\s*)?)?([NSEW])?",
    re.I,
)


def degrees_written(text: str, hemispheres: str) -> str | None:
    """A latitude or longitude written in degrees and minutes (and seconds) as decimal degrees, with as
    many decimals as state its precision without claiming more ('54°46'35"N' -> '54.776': a whole
    second is 31 m, three decimals a box of 111 m by 64 m that holds it), or None when ``text`` is not
    one. ``hemispheres``: 'NS' for a latitude, 'EW' for a longitude; another letter is not read."""
    m = _DMS.fullmatch(text.strip())
    if m is None:
        return None
    before, degrees, minutes, seconds, after = m.groups()
    letter = (before or after or "").upper()
    if (before and after) or (letter and letter not in hemispheres) or (minutes is None and not letter):
        return None  # plain decimal degrees are for the number parser
    minute, second = float(minutes or 0), float(seconds or 0)
    if minute >= 60 or second >= 60:
        return None
    value = abs(float(degrees)) + minute / 60 + second / 3600
    negative = degrees.startswith("-") or letter in ("S", "W")
    finest = seconds if seconds is not None else minutes if minutes is not None else degrees
    places = len(finest.partition(".")[2])
    unit = 10.0**-places / (3600 if seconds is not None else 60 if minutes is not None else 1)
    decimals = max(0, int(np.floor(-np.log10(unit) + 1e-9)))
    return f"{-value if negative else value:.{decimals}f}"


def looks_like_grid_reference(text: str) -> bool:
    """Two letters and digits, as a grid reference is written, whether or not it is a valid one."""
    return re.fullmatch(r"[A-Za-z]{2}\s*\d[\d\s]*", text.strip()) is not None


def parse_grid_references(
    values: pd.Series, *, min_digits: int = GRID_REFERENCE_MIN_DIGITS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(easting, northing, side) of the square each cell's grid reference names
    (``grid_reference_square``), NaN where the cell is not one. Worked out once per distinct cell."""

    def squares(unique: pd.Series) -> list:
        out = []
        for v in unique:
            square = grid_reference_square(v, min_digits=min_digits) if isinstance(v, str) else None
            out.append(square or (np.nan, np.nan, np.nan))
        return out

    found = by_unique(values.astype(object), squares).astype(float).reshape(-1, 3)
    return found[:, 0].copy(), found[:, 1].copy(), found[:, 2].copy()


@dataclass
class IngestResult:
    """What a normaliser returns: the canonical rows, the quarantined rows with their reasons, how the
    file's columns were matched, warnings for the person importing, and how many rows were read."""

    rows: pd.DataFrame
    quarantine: pd.DataFrame
    column_map: dict[str, str]
    warnings: list[str] = field(default_factory=list)
    n_read: int = 0
    kind: Literal["sharing_form", "policeuk"] = "sharing_form"
    # Vocabulary column -> its terms that match no listed key (the warnings already say them; kept
    # so an import read in chunks can add them up for the whole file).
    unknown_terms: dict[str, UnknownTerms] = field(default_factory=dict)
    # Row number -> the decimals its latitude and longitude were written with (``latitude``,
    # ``longitude``; NaN where unknown), which state the radius of a point (``geocode.wgs84_precision_m``):
    # the number itself has lost its trailing zeros. (An accuracy the row gives in metres is a canonical
    # column, ``location_accuracy_m``.)
    coordinate_precision: pd.DataFrame | None = None


def count_of(n: int, one: str, many: str) -> str:
    """'1 row had' / '2,500 rows had': a count with the words that agree with it."""
    return f"{n:,} {one if n == 1 else many}"


def by_unique(values: pd.Series, func: Callable[[pd.Series], pd.Series | np.ndarray]) -> np.ndarray:
    """Apply ``func`` to the distinct values only and spread the answers back (values repeat a lot)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    answers = func(pd.Series(uniques, dtype=object))
    return np.asarray(answers, dtype=object)[codes] if len(uniques) else np.asarray([], dtype=object)


def norm_words(text: str) -> str:
    """Lower case with every run of non-alphanumerics collapsed to one space ('Hotel / B&B' -> 'hotel b b')."""
    return re.sub(r"[^a-z0-9]+", " ", text.lower().replace("&", " and ")).strip()


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # keeps \t and \n; a lone \r goes


_NULL_TOKENS = {"", "n/a", "na", "none", "null", "nil", "unknown", "not known", "-", "--", "nan", "?"}


TRUE_TOKENS = {"yes", "y", "true", "1", "x", "✓", "✔", "tick", "online", "approx", "approximate"}


def as_text(values: pd.Series | np.ndarray | Iterable) -> pd.Series:
    """Values as an object Series of Python str ('' for missing).

    Deliberately not ``astype(str)``: pandas 3 would build an Arrow string column and pay for it
    again on every conversion back to NumPy.
    """
    arr = values.to_numpy(dtype=object) if isinstance(values, pd.Series) else np.asarray(values, dtype=object)
    if pd.api.types.infer_dtype(arr, skipna=False) != "string":
        arr = np.asarray(
            ["" if v is None or (isinstance(v, float) and v != v) else str(v) for v in arr], dtype=object
        )
    return pd.Series(arr, dtype=object)


def object_column(values, index: pd.Index | None = None) -> pd.Series:
    """``values`` (text the store writes as it is, missing as None) as an object Series. Unlike
    ``as_text`` nothing is converted: pandas 3 would otherwise turn each value into its Arrow string
    type when the values are put into a frame (26 ms per 50,000 identities), only for the store to turn
    them back into Python strings."""
    return pd.Series(values, index=index, dtype=object, copy=False)


def filled_mask(values: pd.Series | np.ndarray) -> np.ndarray:
    """Non-empty mask for an object array of str ('' is falsy; C loop, no Python comparisons)."""
    arr = values.to_numpy(dtype=object) if isinstance(values, pd.Series) else values
    return arr.astype(bool)


_CONTROL_NOT_SEP = re.compile(r"[\x00\x02-\x08\x0b\x0c\x0e-\x1f\x7f]")


# Every byte value except the control characters we remove: deleting these from a UTF-8 encoding
# leaves only control bytes (UTF-8 continuation bytes are all >= 0x80, so none are mistaken).
_NOT_CONTROL_BYTES = bytes(b for b in range(256) if not (b <= 0x08 or 0x0B <= b <= 0x1F or b == 0x7F))


def _has_control(text: str) -> bool:
    """C-speed test for control characters other than tab and newline (a regex is 5x slower)."""
    return bool(text.encode("utf-8", "surrogatepass").translate(None, _NOT_CONTROL_BYTES))


def clean_text(values: pd.Series) -> tuple[pd.Series, dict[int, int]]:
    """Strip, drop control characters (keeping newline and tab), cap length.

    Returns (text, {position: original length} for each value cut to MAX_TEXT_CHARS).

    Each fix runs only when a C-speed check over the whole column says it is needed, because
    almost every column of a real export needs none of them.
    """
    vals: list[str] = as_text(values).tolist()
    stripped = list(map(str.strip, vals))
    if stripped != vals:
        vals = stripped
    joined = " ".join(vals)
    if _has_control(joined):
        vals = [_CONTROL.sub("", v.replace("\r\n", "\n")).strip() for v in vals]
    cut: dict[int, int] = {}
    if len(joined) > MAX_TEXT_CHARS and vals and max(map(len, vals)) > MAX_TEXT_CHARS:
        cut = {i: len(v) for i, v in enumerate(vals) if len(v) > MAX_TEXT_CHARS}
        vals = [v[:MAX_TEXT_CHARS] for v in vals]
    return pd.Series(vals, dtype=object, index=None), cut


def none_if_blank(s: pd.Series, filled: np.ndarray | None = None) -> np.ndarray:
    """The text as an object array with None for every empty cell (``filled``: a precomputed
    ``filled_mask`` of ``s``)."""
    arr = s.to_numpy(dtype=object, copy=True)
    arr[~(filled_mask(arr) if filled is None else filled)] = None
    return arr


_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",),
            ("jun", "june"), ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"),
            ("oct", "october"), ("nov", "november"), ("dec", "december"),
        ]
    )
    for m in names
}  # fmt: skip


_APPROX = re.compile(
    r"^(?:approx(?:imately|\.)?|c\.|ca\.?|circa|~|about|around|roughly|est(?:imated|\.)?)\s*", re.I
)


_TIME_PART = r"(?:[ T,@]+(?:at\s+)?(?P<H>\d{1,2})[:.](?P<M>\d{2})(?::(?P<S>\d{2})(?:\.\d+)?)?\s*(?P<ampm>[ap]\.?m\.?)?)?"


_TZ = r"(?:Z|[+-]\d{2}:?\d{2})?"


# Each pattern yields named groups d, m (number or month name), y and optionally time.
_DATE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("dmy", re.compile(rf"^(?P<d>\d{{1,2}})[/\-.](?P<m>\d{{1,2}})[/\-.](?P<y>\d{{4}}|\d{{2}}){_TIME_PART}$")),
    ("iso", re.compile(rf"^(?P<y>\d{{4}})[-/](?P<m>\d{{1,2}})[-/](?P<d>\d{{1,2}}){_TIME_PART}{_TZ}$")),
    (
        "text",
        re.compile(
            rf"^(?:[a-z]+,?\s+)?(?P<d>\d{{1,2}})(?:st|nd|rd|th)?[\s\-/]+(?P<m>[a-z]{{3,9}})\.?,?[\s\-/]+(?P<y>\d{{4}}|\d{{2}}){_TIME_PART}$",
            re.I,
        ),
    ),
    (
        "text_mdy",  # 'April 3, 2025' / 'Apr 3rd 2025'
        re.compile(
            rf"^(?P<m>[a-z]{{3,9}})\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y>\d{{4}}){_TIME_PART}$",
            re.I,
        ),
    ),
    ("month_iso", re.compile(r"^(?P<y>\d{4})-(?P<m>\d{1,2})$")),
    ("month_text", re.compile(r"^(?P<m>[a-z]{3,9})\.?,?[\s\-/]+(?P<y>\d{4})$", re.I)),
    ("month_num", re.compile(r"^(?P<m>\d{1,2})/(?P<y>\d{4})$")),
)


_SERIAL = re.compile(r"^\d{5}(?:\.\d+)?$")


_EXCEL_EPOCH = pd.Timestamp("1899-12-30")


@dataclass
class ParsedDates:
    """What ``parse_date_columns`` found, one array entry per row."""

    value: np.ndarray  # datetime64[ns], NaT where blank or invalid
    time_known: np.ndarray  # bool
    approximate: np.ndarray  # bool
    blank: np.ndarray  # bool: nothing given
    invalid: np.ndarray  # bool: something given that is not a date


def parse_dates(values: pd.Series, *, today: date | None = None) -> pd.DataFrame:
    """Parse UK day-first date strings. Columns: value, time_known, approximate, blank, invalid.

    '03/04/2025' is 3 April 2025. Month-only values ('2025-04', 'April 2025') give the first of
    the month with approximate=True; a prefix such as 'approx', 'c.', '~' or 'circa' sets approximate.
    A year after 2200 or before 1700 is read as 2200 / 1700 (beyond what a timestamp can hold), so
    such a date is still reported as in the future / too early rather than crashing.
    """
    p = parse_date_columns(values, today or date.today())
    return pd.DataFrame(
        {
            "value": p.value,
            "time_known": p.time_known,
            "approximate": p.approximate,
            "blank": p.blank,
            "invalid": p.invalid,
        },
        index=values.index,
    )


def parse_date_columns(values: pd.Series, today: date) -> ParsedDates:
    """``parse_dates`` as arrays in row order (each distinct text parsed once), for the normalisers."""
    codes, uniques = pd.factorize(values.astype(object).fillna(""), use_na_sentinel=False)
    u = _parse_unique_dates(pd.Series(uniques, dtype=object), today)
    return ParsedDates(
        value=u["value"].to_numpy(dtype="datetime64[ns]")[codes],
        time_known=u["time_known"].to_numpy(dtype=bool)[codes],
        approximate=u["approximate"].to_numpy(dtype=bool)[codes],
        blank=u["blank"].to_numpy(dtype=bool)[codes],
        invalid=u["invalid"].to_numpy(dtype=bool)[codes],
    )


def _month_number(m: pd.Series) -> pd.Series:
    num = pd.to_numeric(m, errors="coerce")
    named = m.str.lower().map(_MONTHS)
    return num.fillna(named)


def _parse_unique_dates(raw: pd.Series, today: date) -> pd.DataFrame:
    n = len(raw)
    text = as_text(raw).str.strip()
    approx_prefix = text.str.contains(_APPROX, regex=True)
    text = text.str.replace(_APPROX, "", regex=True).str.strip()
    blank = text.str.lower().isin(_NULL_TOKENS).to_numpy() & ~approx_prefix.to_numpy()
    value = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    time_known = np.zeros(n, dtype=bool)
    month_only = np.zeros(n, dtype=bool)
    todo = ~blank

    # Excel serial day numbers (a date cell exported as General, or typed in by hand).
    serial = todo & text.str.fullmatch(_SERIAL).to_numpy()
    if serial.any():
        days = pd.to_numeric(text[serial], errors="coerce")
        value[serial] = (
            (_EXCEL_EPOCH + pd.to_timedelta(days, unit="D")).dt.round("s").astype("datetime64[ns]")
        )
        time_known[serial] = (days % 1).to_numpy() > 0
        todo &= ~serial

    century = today.year // 100 * 100
    for kind, pattern in _DATE_PATTERNS:
        if not todo.any():
            break
        sub = text[todo]
        parts = sub.str.extract(pattern)
        hit = parts["y"].notna().to_numpy()
        if not hit.any():
            continue
        parts = parts[hit]
        idx = sub.index[hit]
        year = pd.to_numeric(parts["y"], errors="coerce")
        # Two-digit years: up to this year's are this century, later ones the last century.
        two = parts["y"].str.len() == 2
        year = year.where(~two, np.where(year <= today.year % 100, century + year, century - 100 + year))
        # Nanosecond timestamps end in 2262 and start in 1677, and pd.to_datetime raises on a
        # year outside them even with errors="coerce": one typo ('01/01/2999') crashed the whole
        # import. Such a year is pulled to the edge of a safe range instead, which keeps the
        # row's message right (in the future / before 2000, quoting the cell as typed) and
        # is never stored, because those rows are always quarantined.
        year = year.clip(lower=1700, upper=2200)
        month = _month_number(parts["m"])
        day = pd.to_numeric(parts["d"], errors="coerce") if "d" in parts else pd.Series(1, index=parts.index)
        has_time = (parts["H"].notna() if "H" in parts else pd.Series(False, index=parts.index)).to_numpy()
        hour = pd.to_numeric(parts["H"], errors="coerce").fillna(0) if "H" in parts else 0
        minute = pd.to_numeric(parts["M"], errors="coerce").fillna(0) if "M" in parts else 0
        second = pd.to_numeric(parts["S"], errors="coerce").fillna(0) if "S" in parts else 0
        if "ampm" in parts:
            ampm = parts["ampm"].fillna("").str.lower().str.slice(0, 1)
            bad_12h = (ampm != "") & ((hour < 1) | (hour > 12))
            hour = hour.where(~((ampm == "p") & (hour < 12)), hour + 12)
            hour = hour.where(~((ampm == "a") & (hour == 12)), 0)
            hour = hour.where(~bad_12h, 99)  # 13pm is not a time: make it invalid below
        # pandas would roll 25:00 over into the next day; a clock time out of range is invalid.
        bad_clock = (np.asarray(hour) > 23) | (np.asarray(minute) > 59) | (np.asarray(second) > 59)
        hour = np.where(bad_clock, np.nan, hour)
        stamp = pd.to_datetime(
            pd.DataFrame(
                {"year": year, "month": month, "day": day, "hour": hour, "minute": minute, "second": second}
            ),
            errors="coerce",
        ).astype("datetime64[ns]")
        ok = stamp.notna().to_numpy()
        value[idx[ok]] = stamp[ok]
        time_known[raw.index.get_indexer(idx[ok])] = has_time[ok]
        if kind.startswith("month"):
            month_only[raw.index.get_indexer(idx[ok])] = True
        # A row that matched a pattern but failed (31/02) is finished: it's invalid, not "try again".
        todo[raw.index.get_indexer(idx)] = False

    value_ok = value.notna().to_numpy()
    return pd.DataFrame(
        {
            "value": value,
            "time_known": time_known & value_ok,
            "approximate": (approx_prefix.to_numpy() | month_only) & value_ok,
            "blank": blank,
            "invalid": ~blank & ~value_ok,
        }
    )


_TIME = re.compile(
    r"^(?P<H>\d{1,2})(?:[:.]?(?P<M>\d{2}))?(?::(?P<S>\d{2})(?:\.\d+)?)?\s*(?P<ampm>[ap]\.?m\.?)?(?:\s*hrs?)?$",
    re.I,
)


# Said of a time of day rather than written as one: read as the time they name.
_TIME_WORDS = re.compile(r"^(?:12\s*)?(?:(?P<noon>noon|midday|mid day)|(?P<midnight>midnight))$", re.I)
# 'approx 21:30', 'about 9pm', 'c. 2130', '~21:30': the time, as precise as a time of day is read here.
_ABOUT = re.compile(r"^(?:(?:approx(?:imately)?|about|around|roughly|circa|ca|c)\.?\s*|~\s*)", re.I)


# A time of day said in words ('evening', 'after school', "tea-time / early eve."): letters first, then
# letters, spaces and the punctuation of a phrase. No digit (a time with digits that is no time is a
# slip to correct), and nothing a spreadsheet or a script would read as a formula or markup.
_TIME_IN_WORDS = re.compile(r"[^\W\d_][^\W\d]*(?:[\s.,'’/&()-]+[^\W\d]*)*")


def parse_times(values: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """'21:30', '2130', '9.30pm', '9pm', '21:30:00', 'noon', 'midnight', 'approx 21:30', '0.8958333'
    (a spreadsheet's fraction of a day) -> (timedelta64[ns], blank, invalid, in_words).

    ``in_words``: a phrase with no digit that is no time ('evening', 'after school'), a time of day
    said in words rather than a mistyped time. ``invalid``: anything else that is no time ('25:61',
    '13pm', '=1+2'), which a person must correct."""

    def one_pass(u: pd.Series) -> pd.DataFrame:
        text = as_text(u).str.strip()
        blank = text.str.lower().isin(_NULL_TOKENS)
        text = text.str.replace(_ABOUT, "", regex=True)
        words = text.str.extract(_TIME_WORDS)
        text = text.where(words["noon"].isna(), "12:00").where(words["midnight"].isna(), "00:00")
        # A spreadsheet's time cell that lost its format is the fraction of a day ('0.8958333' is 21:30);
        # three decimals or more, so '0.30' stays half past midnight as written.
        fraction = text.str.fullmatch(r"0?\.\d{3,}").fillna(False).astype(bool)
        if fraction.any():
            minutes = (pd.to_numeric(text[fraction]) * 1440).round().astype(int) % 1440
            text = text.where(
                ~fraction, (minutes // 60).astype(str) + ":" + (minutes % 60).map("{:02d}".format)
            )
        parts = text.str.extract(_TIME)
        hour = pd.to_numeric(parts["H"], errors="coerce")
        minute = pd.to_numeric(parts["M"], errors="coerce").fillna(0)
        second = pd.to_numeric(parts["S"], errors="coerce").fillna(0)
        ampm = parts["ampm"].fillna("").str.lower().str.slice(0, 1)
        # A bare number with no separator, minutes or am/pm ('45') is not a time of day.
        bare = parts["M"].isna() & (ampm == "")
        twelve = ampm != ""
        ok = hour.notna() & ~bare & (minute < 60) & (second < 60)
        ok &= (twelve & (hour >= 1) & (hour <= 12)) | (~twelve & (hour <= 23))
        hour = hour.where(~((ampm == "p") & (hour < 12)), hour + 12)
        hour = hour.where(~((ampm == "a") & (hour == 12)), 0)
        delta = pd.to_timedelta(hour * 3600 + minute * 60 + second, unit="s").where(ok & ~blank)
        in_words = ~blank & ~ok & text.str.fullmatch(_TIME_IN_WORDS).fillna(False).astype(bool)
        return pd.DataFrame(
            {"delta": delta, "blank": blank, "invalid": ~blank & ~ok & ~in_words, "in_words": in_words}
        )

    codes, uniques = pd.factorize(values.astype(object).fillna(""), use_na_sentinel=False)
    u = one_pass(pd.Series(uniques, dtype=object))
    return (
        u["delta"].to_numpy(dtype="timedelta64[ns]")[codes],
        u["blank"].to_numpy(dtype=bool)[codes],
        u["invalid"].to_numpy(dtype=bool)[codes],
        u["in_words"].to_numpy(dtype=bool)[codes],
    )


def parse_numbers(values: pd.Series, *, comma_decimal: bool) -> tuple[np.ndarray, np.ndarray]:
    """-> (float64 with NaN where missing or invalid, invalid mask). NaN/inf/blank count as missing."""
    text = as_text(values)
    # Fast path: plain numbers and blanks convert in C; only the leftovers get the careful pass.
    filled = filled_mask(text)
    if not filled.any():
        return np.full(len(text), np.nan), np.zeros(len(text), dtype=bool)
    num = pd.to_numeric(text.where(filled, None), errors="coerce").to_numpy(dtype="float64", copy=True)
    odd = np.isnan(num) & filled
    invalid = np.zeros(len(text), dtype=bool)
    if odd.any():
        v, bad = _parse_odd_numbers(text[odd], comma_decimal)
        num[odd] = v
        invalid[odd] = bad
    num[~np.isfinite(num)] = np.nan
    return num, invalid


def _parse_odd_numbers(values: pd.Series, comma_decimal: bool) -> tuple[np.ndarray, np.ndarray]:
    def one_pass(u: pd.Series) -> pd.DataFrame:
        text = as_text(u).str.strip().str.replace(r"[\s°]", "", regex=True)
        blank = text.str.lower().isin(_NULL_TOKENS | {"inf", "-inf", "+inf", "infinity"})
        if comma_decimal:
            # In a semicolon-separated (continental) file '54,77' is 54.77.
            text = text.str.replace(r"^([+-]?\d+),(\d+)$", r"\1.\2", regex=True)
        num = pd.to_numeric(text.where(~blank, None), errors="coerce").to_numpy(dtype="float64")
        finite = np.isfinite(num)
        invalid = ~blank.to_numpy() & ~finite
        return pd.DataFrame({"num": np.where(finite, num, np.nan), "invalid": invalid})

    codes, uniques = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=False)
    u = one_pass(pd.Series(uniques, dtype=object))
    return u["num"].to_numpy(dtype="float64")[codes], u["invalid"].to_numpy(dtype=bool)[codes]


_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)([0-9][A-Z]{2})$")


_PARTIAL_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][0-9A-Z]?)(?: ([0-9]))?$")


def normalise_postcodes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """'dh11ab' / 'DH1  1AB' -> 'DH1 1AB'. Returns (postcode or None, invalid-format mask).

    A stand-in for the gazetteer's normaliser: it only checks the UK format, not existence.
    """

    def one_pass(u: pd.Series) -> pd.DataFrame:
        u = as_text(u)
        squashed = u.str.upper().str.replace(r"[^A-Z0-9]", "", regex=True)
        blank = u.str.strip().str.lower().isin(_NULL_TOKENS)
        parts = squashed.str.extract(_POSTCODE)
        ok = parts[0].notna()
        pc = (parts[0] + " " + parts[1]).where(ok, None)
        # A partial postcode (district 'DH1' or sector 'DH1 4') still places a report, coarsely: the
        # geocoder uses the district or sector centroid with its larger precision radius. The space
        # is required for a sector, since 'DH14' is a district of its own.
        rest = ~ok & ~blank  # only the few values that are not full postcodes are tried as partial
        if rest.any():
            spaced = u[rest].str.upper().str.strip().str.replace(r"\s+", " ", regex=True)
            partial = spaced.str.extract(_PARTIAL_POSTCODE)
            found = partial[0].notna()
            partial_pc = partial[0].where(partial[1].isna(), partial[0] + " " + partial[1])
            pc = pc.copy()
            pc[found[found].index] = partial_pc[found]
            ok = ok.copy()
            ok[found[found].index] = True
        return pd.DataFrame({"pc": pc.astype(object), "invalid": ~blank & ~ok})

    codes, uniques = pd.factorize(values.astype(object).fillna(""), use_na_sentinel=False)
    u = one_pass(pd.Series(uniques, dtype=object))
    pc = u["pc"].to_numpy(dtype=object)[codes]
    pc[pd.isna(pc)] = None
    return pc, u["invalid"].to_numpy(dtype=bool)[codes]


# fmt: off
PLACE_TYPE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "park": (
        "park", "open space", "playing field", "playing fields", "play area", "playground",
        "recreation ground", "woods", "woodland", "field", "skate park", "riverside", "park open space",
    ),
    "hotel": (
        "hotel", "b and b", "bed and breakfast", "guest house", "guesthouse", "motel", "hostel", "inn",
        "airbnb", "short let", "holiday let",
    ),
    "takeaway": (
        "takeaway", "take away", "fast food", "chip shop", "chippy", "kebab", "kebab shop", "pizza",
        "pizza shop", "burger bar", "cafe", "café", "restaurant", "fast food outlet",
    ),
    "taxi": (
        "taxi", "taxi rank", "taxi office", "taxi firm", "cab", "private hire", "minicab",
    ),
    "shop": (
        "shop", "supermarket", "convenience", "convenience store", "corner shop", "off licence",
        "off license", "newsagent", "vape shop", "store",
    ),
    "shopping_centre": (
        "shopping centre", "shopping center", "mall", "shopping area", "retail park", "precinct",
        "shopping precinct", "arcade",
    ),
    "school": (
        "school", "college", "academy", "sixth form", "university", "pru", "pupil referral unit",
        "further higher educational building", "education",
    ),
    "transport_hub": (
        "bus station", "train station", "railway station", "rail station", "station", "metro station",
        "bus coach station", "coach station", "interchange", "bus stop", "transport hub",
    ),
    "car_park": (
        "car park", "carpark", "parking", "parking area", "multi storey", "multi storey car park",
    ),
    "licensed_premises": (
        "pub", "bar", "nightclub", "night club", "club", "licensed premises", "working mens club",
        "social club",
    ),
    "leisure": (
        "leisure", "leisure centre", "sports centre", "gym", "swimming pool", "cinema", "bowling",
        "arcades", "amusement arcade", "sports ground", "youth club", "sports recreation area", "sports",
    ),
    "petrol_station": (
        "petrol station", "garage", "filling station", "service station", "services", "fuel",
    ),
    "health": (
        "hospital", "health", "gp", "gp surgery", "surgery", "clinic", "a and e", "pharmacy", "chemist",
        "health centre", "walk in centre", "sexual health clinic",
    ),
    "residential_street": (
        "residential", "street", "road", "house", "home", "flat", "address", "private address", "alley",
        "alleyway", "back lane", "estate", "housing estate", "underpass", "pedestrian subway",
        "residential street",
    ),
    "online": (
        "online", "internet", "social media", "on line",
    ),
    "other": (
        "other",
    ),
}


# fmt: off
AGENCY_TYPE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "school": (
        "school", "education", "academy", "college", "nursery", "early years", "pru", "education welfare",
    ),
    "health": (
        "health", "nhs", "gp", "hospital", "a and e", "school nurse", "camhs", "sexual health", "ambulance",
        "pharmacy", "midwifery", "health visitor",
    ),
    "housing": (
        "housing", "housing association", "landlord", "social housing", "housing provider",
    ),
    "youth_service": (
        "youth service", "youth services", "youth", "youth work", "youth worker", "youth offending", "yot",
        "youth justice", "youth offending team",
    ),
    "social_care": (
        "social care", "children s social care", "childrens social care", "social services", "social work",
        "csc", "early help", "children s services", "childrens services",
    ),
    "taxi_licensing": (
        "taxi licensing", "licensing", "taxi",
    ),
    "hotel_accommodation": (
        "hotel", "accommodation", "hotel accommodation", "b and b", "hospitality",
    ),
    "community": (
        "community", "voluntary", "charity", "vcs", "third sector", "faith", "community voluntary",
    ),
    "police": (
        "police", "constabulary", "pcso", "neighbourhood policing",
    ),
    "other": (
        "other",
    ),
}


# fmt: off
CONCERN_SYNONYMS: dict[str, tuple[str, ...]] = {
    "cce": (
        "cce", "child criminal exploitation", "criminal exploitation", "county lines", "drug running",
        "running drugs", "cuckooing",
    ),
    "cse": (
        "cse", "child sexual exploitation", "sexual exploitation",
    ),
    "missing": (
        "whereabouts unknown",
        "missing", "mfh", "missing from home", "missing from care", "absent", "absconding",
        "missing episode",
    ),
    "drugs_alcohol": (
        "drugs", "alcohol", "drugs and alcohol", "substance misuse", "substances", "drug use",
    ),
    "weapons": (
        "weapons", "weapon", "knife", "knives", "knife crime", "firearm", "firearms", "bladed article",
    ),
    "people_of_concern": (
        "people of concern", "persons of concern", "person of concern", "adults of concern",
        "unknown adults", "vehicles of concern", "vehicle of concern", "poc",
    ),
    "online_harm": (
        "online harm", "online", "online exploitation", "online grooming", "sexting", "social media",
    ),
    "radicalisation": (
        "radicalisation", "radicalization", "extremism", "prevent", "terrorism",
    ),
    "asb": (
        "asb", "anti social behaviour", "antisocial behaviour", "anti social behavior",
        "antisocial behavior",
    ),
    "trafficking": (
        "trafficking", "modern slavery", "human trafficking", "slavery", "nrm",
    ),
    "other": (
        "other",
    ),
}


# fmt: off
INDICATOR_SYNONYMS: dict[str, tuple[str, ...]] = {
    "missing_from_home": (
        "missing", "missing from home", "whereabouts unknown", "mfh",
    ),
    "less_time_with_family": (
        "less time with family", "new friends", "withdrawn from family", "change in friends",
    ),
    "not_attending_school": (
        "not attending school college", "not attending college", "not in school",
        "not attending school", "school absence", "truancy", "truanting", "poor attendance",
        "grades dropping", "excluded", "exclusion",
    ),
    "asb_or_crime": (
        "asb", "crime", "offending", "anti social behaviour", "antisocial behaviour", "drug running",
        "county lines",
    ),
    "drugs_alcohol_misuse": (
        "drugs", "alcohol", "substance misuse", "drug use", "drugs or alcohol", "drugs and alcohol",
    ),
    "unknown_adults": (
        "unknown adults", "older males", "older peers", "people of concern", "adults of concern",
    ),
    "pregnancy_sti": (
        "pregnancy", "pregnant", "sti",
    ),
    "concerning_phone_internet": (
        "phone", "mobile phone", "multiple phones", "internet", "online", "social media",
    ),
    "unexplained_ae": (
        "a and e", "unexplained injuries", "injuries",
    ),
    "appointments_unknown_person": (
        "appointments with unknown person", "accompanied by unknown adult",
    ),
    "unexplained_money_items": (
        "unexplained money or items", "unexplained money clothes or other items", "new items",
        "money", "unexplained money", "gifts", "new clothes", "cash", "digital currency",
        "unexplained items",
    ),
    "hotels_taxis_takeaways": (
        "hotels", "hotel", "taxis", "taxi", "takeaways", "takeaway", "fast food",
    ),
    "abusive_relationship": (
        "abusive relationship", "domestic abuse", "controlling relationship",
    ),
    "extreme_views": (
        "extreme views", "extremism", "terrorism", "radicalisation",
    ),
}


class Vocabulary:
    """Maps free-text labels, keys and synonyms of one taxonomy to its keys."""

    def __init__(self, taxonomy: dict[str, str], synonyms: dict[str, tuple[str, ...]]) -> None:
        self.lookup: dict[str, str] = {}
        for key, label in taxonomy.items():
            self.lookup[norm_words(key)] = key
            self.lookup[norm_words(label)] = key
        for key, spellings in synonyms.items():
            if key not in taxonomy:
                raise ValueError(f"synonyms listed for unknown key {key!r}")
            for syn in spellings:
                self.lookup.setdefault(norm_words(syn), key)
        # Multi-word phrases may contain the separators themselves ('Drugs / alcohol',
        # 'Missing from home, whereabouts unknown'), so they are replaced by their key before
        # the cell is split. Longest first so the full label wins over its fragments.
        phrases = sorted({p for p in self.lookup if " " in p}, key=len, reverse=True)
        self.phrase_re = re.compile(
            r"(?<![a-z0-9])(?:"
            + "|".join(r"[\s/,&()\-'.]*".join(re.escape(w) for w in p.split(" ")) for p in phrases)
            + r")(?![a-z0-9])",
            re.I,
        )

    def key(self, text: str) -> str | None:
        return self.lookup.get(norm_words(text))

    def parse_cell(self, cell: str) -> tuple[list[str], list[str]]:
        """-> (sorted keys found, unknown terms)."""
        cell = cell.strip()
        if not cell or cell.lower() in _NULL_TOKENS:
            return [], []
        whole = self.key(cell)
        if whole is not None:
            return [whole], []
        keys: set[str] = set()
        unknown: list[str] = []
        marked = self.phrase_re.sub(lambda m: f"|{self.key(m.group(0))}|", cell.replace("&", " and "))
        for token in re.split(r"[;,|/\n]+", marked):
            if not token.strip() or not norm_words(token):
                continue
            k = self.key(token)
            if k is None:
                unknown.append(token.strip())
            else:
                keys.add(k)
        return sorted(keys), unknown


PLACE_VOCAB = Vocabulary(schema.PLACE_TYPES, PLACE_TYPE_SYNONYMS)


AGENCY_VOCAB = Vocabulary(schema.AGENCY_TYPES, AGENCY_TYPE_SYNONYMS)


CONCERN_VOCAB = Vocabulary(schema.CONCERNS, CONCERN_SYNONYMS)


INDICATOR_VOCAB = Vocabulary(schema.INDICATORS, INDICATOR_SYNONYMS)


def parse_concerns(cell: str) -> str:
    """'County lines; CSE' -> 'cce|cse'. Unknown terms become 'other'."""
    keys, unknown = CONCERN_VOCAB.parse_cell(cell)
    return "|".join(sorted(set(keys) | ({"other"} if unknown else set())))


def parse_indicators(cell: str) -> str:
    """'Missing from home, whereabouts unknown; gifts' -> 'missing_from_home|unexplained_money_items'.

    Unknown terms are dropped (normalise_sharing_form counts them in a warning).
    """
    return "|".join(INDICATOR_VOCAB.parse_cell(cell)[0])


class UnknownTerms:
    """The terms of one vocabulary column that match no listed key: how many rows had one, and the
    rows of each term (the first ``MAX_KEPT`` distinct terms; whether there were more is kept, not how
    many, since the same term met again in a later cell or chunk cannot be told from a new one), so the
    person importing can be told which words were read as "other" or dropped."""

    MAX_KEPT = 1_000

    def __init__(self) -> None:
        self.n_rows = 0
        self.rows_by_term: dict[str, int] = {}
        self.more_not_kept = False

    def add(self, term: str, n_rows: int) -> None:
        if term in self.rows_by_term:
            self.rows_by_term[term] += n_rows
        elif len(self.rows_by_term) < self.MAX_KEPT:
            self.rows_by_term[term] = n_rows
        else:
            self.more_not_kept = True

    def add_rows(self, term: str, n_rows: int) -> None:
        """``n_rows`` rows had ``term`` as their one unknown term."""
        self.n_rows += n_rows
        self.add(term, n_rows)

    def update(self, other: UnknownTerms) -> None:
        """Add another chunk's terms of the same column."""
        self.n_rows += other.n_rows
        for term, n in other.rows_by_term.items():
            self.add(term, n)
        self.more_not_kept |= other.more_not_kept

    def most_rows(self, n: int) -> list[tuple[str, int]]:
        """The ``n`` terms with the most rows, most first (ties in the order first met)."""
        return sorted(self.rows_by_term.items(), key=lambda kv: -kv[1])[:n]

    def __bool__(self) -> bool:
        return self.n_rows > 0


def map_single(values: pd.Series, vocab: Vocabulary, unknown_key: str) -> tuple[np.ndarray, UnknownTerms]:
    """One key of ``vocab`` per row: None for a blank or null cell, ``unknown_key`` for a term the
    vocabulary does not know (and that term counted in the ``UnknownTerms``)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    unknown = UnknownTerms()
    if not len(uniques):
        return np.asarray([], dtype=object), unknown
    rows_per_value = np.bincount(codes, minlength=len(uniques))
    keys: list[str | None] = []
    for v, n in zip(uniques, rows_per_value, strict=True):
        text = str(v)
        if norm_words(text) == "" or text.strip().lower() in _NULL_TOKENS:
            keys.append(None)
            continue
        key = vocab.key(text)
        if key is None:
            key = unknown_key
            unknown.add_rows(text.strip(), int(n))
        keys.append(key)
    return np.asarray(keys, dtype=object)[codes], unknown


# What a Setting cell may say. Online is said by kind ("social media") or by naming the platform, which
# is as online as the word itself; a cell saying both ("online and in person") happened somewhere and is
# read as in person, so its location is still mapped. A place type ("Park") is in person too.
ONLINE_SETTING_TERMS = (
    "online", "on line", "internet", "social media", "social network", "social networking", "virtual",
    "digital", "cyber", "remote", "messaging app", "chat room", "chatroom", "online gaming", "gaming",
    "live stream", "livestream", "dating app", "snapchat", "instagram", "tiktok", "tik tok",
    "whatsapp", "facebook", "messenger", "telegram", "discord", "youtube", "twitter", "twitch",
    "reddit", "roblox", "fortnite", "xbox live", "playstation network", "kik", "omegle", "yubo",
    "wizz", "grindr", "tinder", "onlyfans",
)  # fmt: skip
IN_PERSON_SETTING_TERMS = (
    "in person", "face to face", "f2f", "physical", "physically", "offline", "off line",
    "in real life", "irl", "community", "in the community", "not online", "non online",
)  # fmt: skip
_ONLINE_WORDS = tuple(f" {t} " for t in ONLINE_SETTING_TERMS)
_IN_PERSON_WORDS = tuple(f" {t} " for t in IN_PERSON_SETTING_TERMS)
_NEGATIONS = (" not ", " non ", " no ")


def read_settings(values: pd.Series) -> tuple[np.ndarray, UnknownTerms]:
    """Whether each Setting cell says the concern was online, and the cells that say neither online
    nor in person. Those are read as in person (a located row is mapped; one with no location waits
    in Review, where an analyst can mark it online) and counted so the import can name them."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    unknown = UnknownTerms()
    online = np.zeros(len(uniques), dtype=bool)
    rows_per_value = np.bincount(codes, minlength=len(uniques)) if len(uniques) else []
    for i, (value, n) in enumerate(zip(uniques, rows_per_value, strict=True)):
        text = value if isinstance(value, str) else ""
        words = f" {norm_words(text)} "
        if not words.strip() or text.strip().lower() in _NULL_TOKENS:
            continue
        said_online = words.strip() in {"yes", "y"} or any(t in words for t in _ONLINE_WORDS)
        said_in_person = (
            any(t in words for t in _IN_PERSON_WORDS + _NEGATIONS)
            or words.strip() in {"no", "n"}
            or PLACE_VOCAB.key(text) not in (None, "online", "other")
        )
        online[i] = said_online and not said_in_person
        if not said_online and not said_in_person:
            unknown.add_rows(text.strip(), int(n))
    return (online[codes] if len(uniques) else np.zeros(0, dtype=bool)), unknown


def map_multi(
    values: pd.Series, vocab: Vocabulary, unknown_key: str | None
) -> tuple[np.ndarray, UnknownTerms]:
    """'|'-joined keys per row (``unknown_key`` added where a cell has a term the vocabulary does not
    know, when given), and the unknown terms with their rows."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    unknown = UnknownTerms()
    if not len(uniques):
        return np.asarray([], dtype=object), unknown
    rows_per_value = np.bincount(codes, minlength=len(uniques))
    joined: list[str] = []
    for v, n in zip(uniques, rows_per_value, strict=True):
        keys, terms = vocab.parse_cell(str(v))
        if terms:
            unknown.n_rows += int(n)
            for term in dict.fromkeys(terms):
                unknown.add(term, int(n))
            if unknown_key:
                keys = sorted(set(keys) | {unknown_key})
        joined.append("|".join(keys))
    return np.asarray(joined, dtype=object)[codes], unknown


COMBINED_GRADING = re.compile(r"^\s*([123])[\s/\-,.]*([A-Ea-e])(?:[\s/\-,.]*([PCpc]))?\s*$")


QUARANTINE_DTYPES: dict[str, str] = {
    "row_number": "int64",
    "reason": "object",
    "field": "object",  # the first field at fault (None for an empty row)
    "value": "object",  # its value as given
    "raw": "object",  # the whole input row as a JSON object {header: cell text}
}


if tuple(QUARANTINE_DTYPES) != schema.QUARANTINE_COLUMNS:  # keep in step with the shared contract
    raise RuntimeError("parsers.QUARANTINE_DTYPES is out of step with schema.QUARANTINE_COLUMNS")


def with_dtypes(rows: Mapping[str, np.ndarray | pd.Series], columns: dict[str, str]) -> pd.DataFrame:
    """Exactly ``columns`` with their dtypes; text stays object with None for missing, because
    pandas would otherwise infer its own string dtype with NaN for missing."""
    out = {}
    for col, dtype in columns.items():
        values = rows[col]
        if dtype == "object":
            # Callers hand over private arrays, so no defensive copy is needed.
            arr = np.asarray(values, dtype=object)
            missing = pd.isna(arr)
            if missing.any():
                arr = arr.copy()
                arr[missing] = None
            out[col] = pd.Series(arr, dtype=object, copy=False)
        else:
            out[col] = pd.Series(np.asarray(values)).astype(dtype)
    return pd.DataFrame(out, columns=list(columns))
