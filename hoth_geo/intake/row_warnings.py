"""Warnings about some of a file's rows ("3 rows have a date observed after the date received; ..."),
each kind worded in one place.

A file read in chunks gets a warning from every chunk that has such rows. A warning here carries its
count and the rows it names as data, so ``merge`` adds the chunks up and words each kind once for the
whole file, as if it had been read at once, without reading its own words back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Literal

from hoth_geo.intake.parsers import MAX_TEXT_CHARS, count_of

__all__ = ["NAMED", "RowsWarning", "WarningKind", "merge"]

NAMED = 10  # rows (or cut-short fields) a warning names; the count says how many there were


@dataclass(frozen=True)
class WarningKind:
    """One kind of warning: "<n> <one | many><says>", then what it names, if anything:
    ``rows`` adds "row 7" / "rows 7, 12, 13", ``items`` adds the items and " and others" when there
    were more than it names."""

    one: str
    many: str
    says: str
    names: Literal["", "rows", "items"] = ""

    def __call__(self, n: int, named: Iterable[object] = ()) -> RowsWarning:
        return RowsWarning(self, n, tuple(str(x) for x in islice(named, NAMED)))


class RowsWarning(str):
    """A warning as the person importing reads it (a ``str``), with its kind, count and named rows."""

    kind: WarningKind
    n: int
    named: tuple[str, ...]

    def __new__(cls, kind: WarningKind, n: int, named: tuple[str, ...] = ()) -> RowsWarning:
        text = count_of(n, kind.one, kind.many) + kind.says
        if kind.names == "rows":
            text += ("row " if n == 1 else "rows ") + ", ".join(named)
        elif kind.names == "items":
            text += ", ".join(named) + (" and others" if n > len(named) else "")
        self = super().__new__(cls, text)
        self.kind, self.n, self.named = kind, n, named
        return self

    def __reduce__(self):
        return RowsWarning, (self.kind, self.n, self.named)


# Every kind, in the order a file's warnings list them.
NO_DATE_OBSERVED = WarningKind(
    "row had", "rows had", " no date observed; used the date received and marked the date approximate"
)
OBSERVED_AFTER_RECEIVED = WarningKind(
    "row has", "rows have", " a date observed after the date received; kept as given, check ", "rows"
)
GRID_IN_LAT_LON = WarningKind(
    "row had",
    "rows had",
    " British National Grid easting/northing values in the latitude/longitude columns; moved them to"
    " easting/northing",
)
GRID_REFERENCE_ELSEWHERE = WarningKind(
    "row gives",
    "rows give",
    " a grid reference that does not contain its easting/northing; the easting/northing were used, check ",
    "rows",
)
GRID_AWAY_FROM_LAT_LON = WarningKind(
    "row gives",
    "rows give",
    " a grid reference or easting/northing that lies away from its latitude/longitude; the"
    " latitude/longitude were used, check ",
    "rows",
)
TEXT_AWAY_FROM_LAT_LON = WarningKind(
    "row gives",
    "rows give",
    " a latitude/longitude in the location text that lies away from its latitude/longitude columns; the"
    " columns were used, check ",
    "rows",
)
POSTCODE_IGNORED = WarningKind(
    "row had",
    "rows had",
    " a postcode that is not a valid UK postcode; it was ignored because the row has another location",
)
TEXT_CUT_SHORT = WarningKind(
    "text field was",
    "text fields were",
    f" longer than {MAX_TEXT_CHARS:,} characters and cut short: ",
    "items",
)
EMPTY_ROWS = WarningKind("empty row", "empty rows", "")

_ORDER = (
    NO_DATE_OBSERVED,
    OBSERVED_AFTER_RECEIVED,
    GRID_IN_LAT_LON,
    GRID_REFERENCE_ELSEWHERE,
    GRID_AWAY_FROM_LAT_LON,
    TEXT_AWAY_FROM_LAT_LON,
    POSTCODE_IGNORED,
    TEXT_CUT_SHORT,
    EMPTY_ROWS,
)


def merge(per_chunk: Sequence[Sequence[str]]) -> list[str]:
    """The warnings of a file read in chunks, as for the whole file: the other warnings once each in
    the order met, then each kind's counts added up, naming the first rows of the file."""
    plain: list[str] = []
    counted: dict[WarningKind, tuple[int, list[str]]] = {}
    for warnings in per_chunk:
        for text in warnings:
            if isinstance(text, RowsWarning):
                n, named = counted.get(text.kind, (0, []))
                counted[text.kind] = (n + text.n, named + list(text.named[: NAMED - len(named)]))
            elif text not in plain:
                plain.append(text)
    unordered = [kind for kind in counted if kind not in _ORDER]
    return plain + [kind(*counted[kind]) for kind in (*_ORDER, *unordered) if kind in counted]
