"""Filters and aggregation: reports -> H3 hexagons, places and counts.

Everything here is a pure function of the analysis frame (``store.load_reports``) and runs on numpy
arrays, so a filter change at a million reports re-aggregates in tens of milliseconds: parents are
derived by bit operations from each report's fine cell, groups by hashing (``pd.factorize``), and the
per-hex breakdowns by ``np.bincount`` over (hex, category) codes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hoth_geo.hexes import cells_to_parent
from hoth_geo.schema import CONCERNS, PLACE_TYPES, key_counts
from hoth_geo.selection import ReportFilter, date_bounds, filter_mask, located

__all__ = [
    "BREAKDOWN_LABELS",
    "aggregate_hexes",
    "aggregate_context",
    "monthly_counts",
    "top_labels",
]

# What aggregate_hexes adds beside the count, with the labels people read (tooltips, tables).
BREAKDOWN_LABELS = {
    "distinct_places": "Places",
    "top_place_types": "Place types",
    "top_concerns": "Concerns",
}


def top_labels(matrix: np.ndarray, labels: list[str], k: int = 3) -> list[str]:
    """'label (n), label (n)' for the k largest non-zero columns of each row."""
    order = np.argsort(-matrix, axis=1, kind="stable")[:, :k]
    values = np.take_along_axis(matrix, order, axis=1)
    # Plain Python lists: indexing numpy scalars one by one costs more than the whole sort.
    return [
        ", ".join(f"{labels[j]} ({v})" for j, v in zip(idx, vals, strict=True) if v > 0)
        for idx, vals in zip(order.tolist(), values.tolist(), strict=True)
    ]


def _category_codes(column: pd.Series, vocabulary: list[str] | None = None) -> np.ndarray:
    """Integer codes for a text column (-1 for missing), in ``vocabulary`` order when given.

    Categorical columns (the analysis frame's) are recoded through their few categories instead of
    converting a million strings: that conversion alone cost more than the whole aggregation.
    """
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy().astype(np.int64)
        if vocabulary is None:
            return codes
        lookup = np.array(
            [vocabulary.index(c) if c in vocabulary else -1 for c in column.cat.categories] + [-1]
        )
        return lookup[codes]  # code -1 (missing) picks the trailing -1
    values = column.to_numpy(dtype=object)
    if vocabulary is None:
        return pd.factorize(values)[0].astype(np.int64)
    return pd.Categorical(values, categories=vocabulary).codes.astype(np.int64)


def aggregate_hexes(
    reports: pd.DataFrame, res: int, filters: ReportFilter | None = None, *, breakdowns: bool = True
) -> pd.DataFrame:
    """Per H3 cell at ``res``: report count, distinct places, and the top place types and concerns.

    Only cells that carry at least one matching located report are returned, largest first.
    """
    keep = filter_mask(reports, filters) & located(reports, res)
    cells = cells_to_parent(reports["h3"].to_numpy()[keep], res)
    codes, uniques = pd.factorize(cells, sort=False)
    n_hex = len(uniques)
    count = np.bincount(codes, minlength=n_hex)
    out = pd.DataFrame({"h3": uniques.astype(np.int64), "count": count.astype(np.int64)})
    if breakdowns and n_hex:
        pcodes = _category_codes(reports["place_id"])[keep]
        has_place = pcodes >= 0
        n_codes = int(pcodes.max(initial=0)) + 1
        pairs = pd.unique(codes[has_place].astype(np.int64) * n_codes + pcodes[has_place])
        out["distinct_places"] = np.bincount((pairs // n_codes).astype(np.int64), minlength=n_hex)
        tcodes = _category_codes(reports["place_type"], list(PLACE_TYPES))[keep]
        valid = tcodes >= 0
        tmatrix = np.bincount(
            codes[valid] * len(PLACE_TYPES) + tcodes[valid], minlength=n_hex * len(PLACE_TYPES)
        ).reshape(n_hex, len(PLACE_TYPES))
        out["top_place_types"] = top_labels(tmatrix, [PLACE_TYPES[k] for k in PLACE_TYPES])
        out["top_concerns"] = top_labels(
            key_counts(codes, reports["concerns_mask"].to_numpy()[keep], n_hex, CONCERNS),
            list(CONCERNS.values()),
        )
    return out.sort_values(["count", "h3"], ascending=[False, True], ignore_index=True)


def aggregate_context(context: pd.DataFrame, res: int, f: ReportFilter | None = None) -> pd.DataFrame:
    """Police context layer per H3 cell: recorded crimes by month and concern, kept apart from reports."""
    keep = np.ones(len(context), dtype=bool)
    if f is not None:
        lo, hi = date_bounds(f)
        t = context["month"].to_numpy(dtype="datetime64[ns]")
        if lo is not None:  # a month counts when any part of it is in the window
            keep &= t >= lo.astype("datetime64[M]").astype("datetime64[ns]")
        if hi is not None:
            keep &= t < hi
        if f.concerns:
            keep &= context["concern"].isin(f.concerns).to_numpy()
        if f.place_types:
            keep &= context["place_type"].isin(f.place_types).to_numpy()
    cells = cells_to_parent(context["h3"].to_numpy()[keep], res)
    codes, uniques = pd.factorize(cells)
    return pd.DataFrame(
        {"h3": uniques.astype(np.int64), "count": np.bincount(codes, minlength=len(uniques)).astype(np.int64)}
    ).sort_values(["count", "h3"], ascending=[False, True], ignore_index=True)


def monthly_counts(reports: pd.DataFrame, f: ReportFilter | None = None) -> pd.DataFrame:
    """Matching reports per calendar month, located and online apart."""
    keep = filter_mask(reports, f)
    sub = reports.loc[keep, ["observed_at", "online"]]
    month = sub["observed_at"].dt.to_period("M").dt.to_timestamp()
    table = pd.crosstab(month, sub["online"].map({True: "online", False: "located"}))
    return table.reindex(columns=["located", "online"], fill_value=0).rename_axis("month").reset_index()
