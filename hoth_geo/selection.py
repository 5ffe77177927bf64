"""Which reports a view covers: the shared filters (``ReportFilter``) and the masks that apply them.

A pure selection over the analysis frame (``store.load_reports``), used by every layer that narrows
reports: disclosure control, analysis, exports and the interfaces. It knows the vocabulary and the
settings and nothing else, so anything may import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from hoth_geo import settings
from hoth_geo.schema import CONCERNS, INDICATORS, PLACE_TYPES, selection_mask

__all__ = [
    "ReportFilter",
    "date_bounds",
    "filter_mask",
    "located",
    "mappable_radius_m",
    "online_count",
    "too_coarse_count",
]

_CONCERN_KEYS = tuple(CONCERNS)
_INDICATOR_KEYS = tuple(INDICATORS)


@dataclass(frozen=True)
class ReportFilter:
    """Which reports a view covers: every field narrows the selection, and empty tuples mean 'all'.

    A pure selection: how a view is drawn (the police context overlay, the resolution) is not part of it.
    """

    date_from: date | None = None
    date_to: date | None = None  # inclusive
    place_types: tuple[str, ...] = ()
    concerns: tuple[str, ...] = ()  # a report matches when it carries any selected concern
    indicators: tuple[str, ...] = ()  # ... and any selected indicator (police and analysts only)
    agencies: tuple[str, ...] = ()
    agency_types: tuple[str, ...] = ()
    grading_sources: tuple[str, ...] = ()
    grading_information: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name, vocab in (("place_types", PLACE_TYPES), ("concerns", CONCERNS), ("indicators", INDICATORS)):
            for key in getattr(self, name):
                if key not in vocab:
                    raise ValueError(
                        f"ReportFilter.{name}: unknown key {key!r}; expected one of {', '.join(vocab)}"
                    )
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError(f"ReportFilter: date_from {self.date_from} is after date_to {self.date_to}")

    def describe(self) -> str:
        parts = []
        if self.date_from or self.date_to:
            parts.append(f"{self.date_from or 'start'} to {self.date_to or 'latest'}")
        if self.place_types:
            parts.append("places: " + ", ".join(PLACE_TYPES[k] for k in self.place_types))
        if self.concerns:
            parts.append("concerns: " + ", ".join(CONCERNS[k] for k in self.concerns))
        if self.indicators:
            parts.append("indicators: " + ", ".join(INDICATORS[k] for k in self.indicators))
        if self.agencies:
            parts.append("agencies: " + ", ".join(self.agencies))
        if self.agency_types:
            parts.append("agency types: " + ", ".join(self.agency_types))
        if self.grading_sources or self.grading_information:
            parts.append(
                "grading: " + "".join(self.grading_sources) + "/" + "".join(self.grading_information)
            )
        return "; ".join(parts) or "all reports"


def date_bounds(f: ReportFilter) -> tuple[np.datetime64 | None, np.datetime64 | None]:
    """The filter's dates as a half-open [lo, hi) range of datetimes (None where open)."""
    lo = np.datetime64(f.date_from, "ns") if f.date_from else None
    hi = np.datetime64(f.date_to, "ns") + np.timedelta64(1, "D") if f.date_to else None
    return lo, hi


def filter_mask(reports: pd.DataFrame, f: ReportFilter | None) -> np.ndarray:
    """Boolean mask of the reports matching ``f`` (located and online alike)."""
    n = len(reports)
    keep = np.ones(n, dtype=bool)
    if f is None:
        return keep
    lo, hi = date_bounds(f)
    if lo is not None or hi is not None:
        t = reports["observed_at"].to_numpy(dtype="datetime64[ns]")
        if lo is not None:
            keep &= t >= lo
        if hi is not None:
            keep &= t < hi
    if f.concerns:
        keep &= (reports["concerns_mask"].to_numpy() & selection_mask(f.concerns, _CONCERN_KEYS)) != 0
    if f.indicators:
        wanted = selection_mask(f.indicators, _INDICATOR_KEYS)
        keep &= (reports["indicators_mask"].to_numpy() & wanted) != 0
    for col, wanted in (
        ("place_type", f.place_types),
        ("agency", f.agencies),
        ("agency_type", f.agency_types),
        ("grading_source", f.grading_sources),
        ("grading_information", f.grading_information),
    ):
        if wanted:
            keep &= reports[col].isin(wanted).to_numpy()
    return keep


# H3's average hexagon edge length per resolution, in metres (h3.average_hexagon_edge_length; a test
# keeps the two equal): written out so that this module needs nothing but NumPy and pandas.
_H3_EDGE_M = (
    1281256.011, 483056.839, 182512.957, 68979.222, 26071.76, 9854.091, 3724.533, 1406.476,
    531.414, 200.786, 75.864, 28.664, 10.83, 4.092, 1.546, 0.584,
)  # fmt: skip


def mappable_radius_m(res: int) -> float:
    """The widest radius (``precision_m``) a report may have to be counted in a hexagon at ``res``:
    ``settings.MAPPED_RADIUS_EDGES`` of its edges (1,063 m at resolution 8, 152 m at 10)."""
    if not 0 <= int(res) < len(_H3_EDGE_M):
        raise ValueError(f"res must be an H3 resolution from 0 to 15, got {res!r}")
    return settings.MAPPED_RADIUS_EDGES * _H3_EDGE_M[int(res)]


def located(reports: pd.DataFrame, res: int | None = None) -> np.ndarray:
    """Reports with a point (online reports and any without a cell are never mapped).

    With ``res``: only those placed precisely enough to be counted in a hexagon at ``res``
    (``mappable_radius_m``). A report known only to a postcode district is somewhere in kilometres
    around the district's centroid: counted in the one small hexagon there, it would make a hot spot of
    the centroid. A report without a stated radius is kept."""
    out = (reports["h3"].to_numpy() != 0) & ~reports["online"].to_numpy(dtype=bool)
    if res is not None and "precision_m" in reports.columns:
        out &= ~(reports["precision_m"].to_numpy(dtype=float) > mappable_radius_m(res))
    return out


def online_count(reports: pd.DataFrame, f: ReportFilter | None = None) -> int:
    """Online-setting reports matching the filters, shown beside the map (never on it)."""
    return int((filter_mask(reports, f) & reports["online"].to_numpy(dtype=bool)).sum())


def too_coarse_count(reports: pd.DataFrame, f: ReportFilter | None, res: int) -> int:
    """Reports matching the filters that have a point but too wide a radius for hexagons at ``res``
    (``located``), shown beside the map like the online ones."""
    placed = filter_mask(reports, f) & located(reports)
    return int((placed & ~located(reports, res)).sum())
