"""Risky places: which facilities of a type draw most of the reports, and how unusual one place is.

Risky facilities (Eck, Clarke & Guerette 2007): within any type of facility (hotels, takeaways, taxi
ranks...) a few places account for most of the trouble. The measures here compare places with others
of the *same type*, because a hotel is only comparable with other hotels.

The place universe of a type is every place of that type in the places frame (``pipeline.all_places``)
*including places with no reports*, plus any linked place id missing from the frame (typed by its
reports). Leaving out zero-report places would make every concentration look flatter than it is.

All functions are pure: the analysis frame (``store.load_reports``) and a places frame in, frames or
dicts out. The place type used is the place's own type from the places frame.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from hoth_geo.analysis.aggregate import top_labels
from hoth_geo.hexes import cells_to_parent
from hoth_geo.schema import CONCERNS, INDICATORS, PLACE_TYPES, key_counts, key_totals
from hoth_geo.selection import ReportFilter, filter_mask, located
from hoth_geo.validation import check_frames

__all__ = [
    "DEFAULT_TOP_SHARES",
    "place_counts",
    "place_ranking",
    "TOP_PLACES_ON_MAP",
    "top_places",
    "with_coordinates",
    "hex_detail",
    "concentration_curve",
    "lorenz_points",
    "repeat_place_rate",
    "within_type_comparison",
]

DEFAULT_TOP_SHARES = (0.05, 0.10, 0.20)
# How many of the most-reported places a police map marks (the CLI map, the Hotspot map page, the
# police map-html export): one number, so every map of the same selection marks the same places.
TOP_PLACES_ON_MAP = 25
ALL_TYPES = "all"  # the place_type label of the whole-universe row when by_type=False

_PLACE_COLUMNS = ("place_id", "name", "place_type", "locality")


def _check_frames(reports: pd.DataFrame, places: pd.DataFrame) -> None:
    check_frames(
        reports,
        places,
        report_columns=("place_id", "observed_at", "agency", "concerns_mask"),
        place_columns=_PLACE_COLUMNS,
    )


def _linked(reports: pd.DataFrame, filters: ReportFilter | None) -> np.ndarray:
    """Reports matching the filters that are linked to a place."""
    return filter_mask(reports, filters) & reports["place_id"].notna().to_numpy()


def place_counts(
    reports: pd.DataFrame, places: pd.DataFrame, filters: ReportFilter | None = None
) -> pd.DataFrame:
    """Every place in the universe with its count of matching reports (0 for places with none).

    Columns: place_id, name, place_type, locality, reports. When ``filters.place_types`` is set the
    universe is limited to places of those types, so zero-report places of other types do not dilute it.
    """
    _check_frames(reports, places)
    keep = _linked(reports, filters)
    linked_ids = reports["place_id"].to_numpy(dtype=object)[keep]
    counts = pd.Series(linked_ids).value_counts()
    universe = places.loc[:, list(_PLACE_COLUMNS)].drop_duplicates("place_id").astype(object)
    missing = counts.index.difference(pd.Index(universe["place_id"]))
    if len(missing):
        # A report linked to a place the frame does not hold (e.g. a place deleted since): keep it,
        # typed by its reports, so no matching report silently drops out of the shares.
        sub = reports.loc[keep, ["place_id", "place_type"]].astype(object)
        sub = sub[sub["place_id"].isin(missing)]
        typed = sub.groupby("place_id")["place_type"].agg(
            lambda s: s.mode().iat[0] if s.notna().any() else None
        )
        extra = pd.DataFrame(
            {"place_id": typed.index, "name": typed.index, "place_type": typed.to_numpy(), "locality": None}
        )
        universe = pd.concat([universe, extra.astype(object)], ignore_index=True)
    if filters is not None and filters.place_types:
        universe = universe[universe["place_type"].isin(filters.place_types)]
    out = universe.reset_index(drop=True)
    out["reports"] = out["place_id"].map(counts).fillna(0).astype(np.int64)
    return out


def _top_keys(codes: np.ndarray, masks: np.ndarray, n_groups: int, vocabulary: dict[str, str]) -> list[str]:
    """'label (n), label (n)' of the three keys of ``vocabulary`` most carried in each group."""
    return top_labels(key_counts(codes, masks, n_groups, vocabulary), list(vocabulary.values()))


_RANKING_COLUMNS = [
    "rank",
    "place_id",
    "name",
    "place_type",
    "locality",
    "reports",
    "agencies",
    "concerns",
    "indicators",
    "first",
    "last",
    "rank_in_type",
    "share_of_type",
]


def place_ranking(
    reports: pd.DataFrame,
    places: pd.DataFrame,
    filters: ReportFilter | None = None,
    place_types: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Places with at least one matching report, most reported first.

    Columns: rank (over the rows returned), place_id, name, place_type, locality, reports, agencies
    (distinct reporting agencies: several agencies reporting one place is stronger than one agency
    reporting it often), concerns and indicators (the top three of each, with counts), first, last,
    rank_in_type (among all places of its type with reports) and share_of_type (its share of the
    reports at places of its type).
    Ties are broken by agencies, then place_id, so the order is stable. ``place_types`` limits the rows
    shown; rank_in_type and share_of_type are always computed over the whole type.
    """
    _check_frames(reports, places)
    check_frames(reports, report_columns=("indicators_mask",))
    for key in place_types:
        if not isinstance(key, str):
            raise ValueError(f"place_types must hold place-type keys, got {key!r}")
    keep = _linked(reports, filters)
    if not keep.any():
        return pd.DataFrame(columns=_RANKING_COLUMNS)
    idx = np.flatnonzero(keep)
    # Integer codes throughout: converting a million place ids or agency names to Python objects
    # costs more than the whole ranking.
    codes, uniques = pd.factorize(reports["place_id"].iloc[idx])
    n = len(uniques)
    agency_codes, agencies = pd.factorize(reports["agency"].iloc[idx])
    n_agencies = len(agencies) + 1  # + 1: code -1 (no agency) is shifted to 0 and not counted
    pairs = np.unique(codes.astype(np.int64) * n_agencies + agency_codes + 1)
    pairs = pairs[pairs % n_agencies != 0]
    t = reports["observed_at"].to_numpy(dtype="datetime64[ns]")[idx]
    by_code = pd.Series(t).groupby(codes)
    table = pd.DataFrame(
        {
            "place_id": np.asarray(uniques, dtype=object),
            "reports": np.bincount(codes, minlength=n),
            "agencies": np.bincount(pairs // n_agencies, minlength=n),
            "first": by_code.min().to_numpy(),
            "last": by_code.max().to_numpy(),
        }
    )
    table["concerns"] = _top_keys(codes, reports["concerns_mask"].to_numpy()[idx], n, CONCERNS)
    table["indicators"] = _top_keys(codes, reports["indicators_mask"].to_numpy()[idx], n, INDICATORS)
    universe = place_counts(reports, places, filters).set_index("place_id")
    for col in ("name", "place_type", "locality"):
        table[col] = table["place_id"].map(universe[col])
    table = table.sort_values(["reports", "agencies", "place_id"], ascending=[False, False, True])
    table["rank_in_type"] = table.groupby("place_type", dropna=False).cumcount() + 1
    type_total = table.groupby("place_type", dropna=False)["reports"].transform("sum")
    table["share_of_type"] = table["reports"] / type_total
    if place_types:
        table = table[table["place_type"].isin(place_types)]
    table = table.reset_index(drop=True)
    table["rank"] = np.arange(1, len(table) + 1)
    return table[_RANKING_COLUMNS]


def with_coordinates(ranked: pd.DataFrame, places: pd.DataFrame) -> pd.DataFrame:
    """``ranked`` (rows with a place_id) with each place's latitude and longitude from ``places``;
    places the frame cannot locate are left out, the order is kept."""
    coords = places.drop_duplicates("place_id").set_index("place_id")[["latitude", "longitude"]]
    table = ranked.join(coords, on="place_id")
    return table[table["latitude"].notna() & table["longitude"].notna()].reset_index(drop=True)


def top_places(
    reports: pd.DataFrame,
    places: pd.DataFrame,
    filters: ReportFilter | None = None,
    *,
    limit: int | None = TOP_PLACES_ON_MAP,
) -> pd.DataFrame:
    """The most-reported places as map markers (``maps.build_hex_map(places=...)``): the
    ``place_ranking`` order, places without coordinates left out, the first ``limit`` (all when None).

    Columns: those of ``place_ranking`` with reports named count, plus latitude and longitude."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be a non-negative integer or None, got {limit!r}")
    table = with_coordinates(place_ranking(reports, places, filters), places)
    if limit is not None:
        table = table.head(limit)
    return table.rename(columns={"reports": "count"})


def hex_detail(
    reports: pd.DataFrame, places: pd.DataFrame, cell: int, res: int, f: ReportFilter | None = None
) -> dict[str, pd.DataFrame]:
    """What is inside one hex: counts by concern, by indicator and by place type, and its places ranked."""
    keep = filter_mask(reports, f) & located(reports, res)
    keep &= cells_to_parent(reports["h3"].to_numpy(), res) == np.int64(cell)
    sub = reports[keep]
    by_type = (
        sub["place_type"]
        .astype(object)
        .map(PLACE_TYPES)
        .fillna("Not stated")
        .value_counts()
        .rename_axis("place type")
    ).reset_index(name="reports")
    return {
        "by_concern": _counts_by_key(sub["concerns_mask"].to_numpy(), CONCERNS, "concern"),
        "by_indicator": _counts_by_key(sub["indicators_mask"].to_numpy(), INDICATORS, "indicator"),
        "by_place_type": by_type,
        "places": place_ranking(sub, places),
        "n_reports": pd.DataFrame({"reports": [len(sub)]}),
    }


def _counts_by_key(masks: np.ndarray, vocabulary: dict[str, str], label: str) -> pd.DataFrame:
    """Reports carrying each key of ``vocabulary`` (bit i of ``masks`` is its i-th key), most first, as
    ``label`` (the key's words) and ``reports``; keys no report carries are left out."""
    counts = pd.DataFrame(
        {
            label: list(vocabulary.values()),
            "reports": key_totals(masks, vocabulary),
        }
    )
    return counts[counts["reports"] > 0].sort_values("reports", ascending=False, ignore_index=True)


def _groups(counts: pd.DataFrame, by_type: bool):
    """(place_type label, report counts array) per group, types in sorted order."""
    if not by_type:
        yield ALL_TYPES, counts["reports"].to_numpy()
        return
    typed = counts.dropna(subset=["place_type"])
    for key, group in typed.groupby("place_type", sort=True):
        yield key, group["reports"].to_numpy()


def _check_shares(top_shares) -> tuple[float, ...]:
    shares = tuple(float(s) for s in top_shares)
    if not shares or any(not (0 < s <= 1) for s in shares):
        raise ValueError(f"top_shares must be fractions in (0, 1], got {top_shares!r}")
    return shares


def concentration_curve(
    reports: pd.DataFrame,
    places: pd.DataFrame,
    filters: ReportFilter | None = None,
    by_type: bool = True,
    top_shares: tuple[float, ...] = DEFAULT_TOP_SHARES,
) -> pd.DataFrame:
    """Share of reports at the most-reported 5 %, 10 % and 20 % of places, per place type.

    The denominator of places is every place of the type in the places frame, *including places with no
    reports*. The top p % is the ceil(p * n_places) most-reported places (at least one), so a type with
    few places is never rounded down to none. share_of_reports is NaN for a type with no reports.

    Columns: place_type ('all' when by_type=False), top_share_of_places, n_top_places, n_places,
    n_places_with_reports, reports, share_of_reports.
    """
    shares = _check_shares(top_shares)
    counts = place_counts(reports, places, filters)
    rows = []
    for key, values in _groups(counts, by_type):
        ordered = np.sort(values)[::-1]
        total = int(ordered.sum())
        cumulative = np.cumsum(ordered)
        for s in shares:
            n_top = max(1, math.ceil(s * len(ordered) - 1e-9))  # tolerance: 0.1 * 30 is 3.0000000000000004
            rows.append(
                {
                    "place_type": key,
                    "top_share_of_places": s,
                    "n_top_places": n_top,
                    "n_places": len(ordered),
                    "n_places_with_reports": int((ordered > 0).sum()),
                    "reports": total,
                    "share_of_reports": cumulative[n_top - 1] / total if total else np.nan,
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "place_type",
            "top_share_of_places",
            "n_top_places",
            "n_places",
            "n_places_with_reports",
            "reports",
            "share_of_reports",
        ],
    )


def lorenz_points(
    reports: pd.DataFrame,
    places: pd.DataFrame,
    filters: ReportFilter | None = None,
    by_type: bool = True,
) -> pd.DataFrame:
    """Points of the concentration (Lorenz-style) curve for a chart, most-reported place first.

    One row per place plus a (0, 0) start per group: share_of_places is the cumulative share of the
    type's places (zero-report places included), share_of_reports the cumulative share of its reports.
    A type with no reports is left out (its curve is undefined). Columns: place_type, share_of_places,
    share_of_reports.
    """
    counts = place_counts(reports, places, filters)
    frames = []
    for key, values in _groups(counts, by_type):
        total = values.sum()
        if total == 0:
            continue
        ordered = np.sort(values)[::-1]
        n = len(ordered)
        frames.append(
            pd.DataFrame(
                {
                    "place_type": key,
                    "share_of_places": np.arange(n + 1) / n,
                    "share_of_reports": np.concatenate([[0.0], np.cumsum(ordered) / total]),
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=["place_type", "share_of_places", "share_of_reports"])
    return pd.concat(frames, ignore_index=True)


def repeat_place_rate(
    reports: pd.DataFrame,
    places: pd.DataFrame,
    filters: ReportFilter | None = None,
    by_type: bool = True,
) -> pd.DataFrame:
    """How much of the reporting is repeat: places reported two or more times.

    Columns: place_type, places_with_reports, repeat_places (>= 2 reports), repeat_place_rate
    (repeat_places / places_with_reports), reports, reports_at_repeat_places,
    share_of_reports_at_repeat_places. Rates are NaN where a type has no reported places.
    """
    counts = place_counts(reports, places, filters)
    rows = []
    for key, values in _groups(counts, by_type):
        reported = values[values >= 1]
        repeat = values[values >= 2]
        total = int(reported.sum())
        rows.append(
            {
                "place_type": key,
                "places_with_reports": len(reported),
                "repeat_places": len(repeat),
                "repeat_place_rate": len(repeat) / len(reported) if len(reported) else np.nan,
                "reports": total,
                "reports_at_repeat_places": int(repeat.sum()),
                "share_of_reports_at_repeat_places": repeat.sum() / total if total else np.nan,
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "place_type",
            "places_with_reports",
            "repeat_places",
            "repeat_place_rate",
            "reports",
            "reports_at_repeat_places",
            "share_of_reports_at_repeat_places",
        ],
    )


def within_type_comparison(
    reports: pd.DataFrame,
    places: pd.DataFrame,
    place_id: str,
    filters: ReportFilter | None = None,
    *,
    alpha: float = 0.001,
) -> dict:
    """This place against the other places of its type (e.g. this hotel against the other hotels).

    The reference group is every *other* place of the same type, zero-report places included; the place
    itself is left out so that a very busy place does not raise its own yardstick. Returned keys:

    - place_id, name, place_type, reports: the place and its count of matching reports;
    - n_other_places, other_mean, other_median, other_p90: the reference group's count distribution;
    - percentile_rank: % of the other places with fewer reports, ties counted half (0-100);
    - rate_ratio: reports / other_mean (inf when the others have none);
    - poisson_p: P(X >= reports) for X ~ Poisson(other_mean), i.e. ``scipy.stats.poisson.sf(reports - 1,
      other_mean)``: how surprising the count would be if this place were an ordinary one of its type;
    - flagged: poisson_p < alpha; note: a sentence for people.

    The Poisson test assumes every place of the type has the same underlying rate (same size, hours and
    reporting); real counts vary more than that (over-dispersion), so p is a screening signal to prompt a
    closer look, not proof. p is NaN when there are no other places of the type or none has reports.
    """
    if not (0 < alpha < 1):
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    counts = place_counts(reports, places, filters)
    match = counts[counts["place_id"] == place_id]
    if match.empty:
        raise ValueError(f"place_id {place_id!r} is not in the places frame or the matching reports")
    row = match.iloc[0]
    ptype = row["place_type"]
    others = counts.loc[(counts["place_type"] == ptype) & (counts["place_id"] != place_id), "reports"]
    others = others.to_numpy(dtype=np.float64)
    k = int(row["reports"])
    result = {
        "place_id": place_id,
        "name": row["name"],
        "place_type": ptype,
        "reports": k,
        "n_other_places": len(others),
        "other_mean": float(others.mean()) if len(others) else np.nan,
        "other_median": float(np.median(others)) if len(others) else np.nan,
        "other_p90": float(np.percentile(others, 90)) if len(others) else np.nan,
        "percentile_rank": (
            float(100 * ((others < k).sum() + 0.5 * (others == k).sum()) / len(others))
            if len(others)
            else np.nan
        ),
        "rate_ratio": np.nan,
        "poisson_p": np.nan,
        "flagged": False,
    }
    mean = result["other_mean"]
    if not len(others):
        result["note"] = f"No other places of type {ptype!r}: nothing to compare with."
        return result
    result["rate_ratio"] = k / mean if mean > 0 else (math.inf if k else np.nan)
    if mean == 0:
        result["note"] = f"None of the {len(others)} other places of this type has a matching report."
        return result
    # scipy is imported here so the rest of the module works where scipy is not installed.
    from scipy.stats import poisson

    p = float(poisson.sf(k - 1, mean)) if k > 0 else 1.0
    result["poisson_p"] = p
    result["flagged"] = p < alpha
    result["note"] = (
        f"{k} reports against a mean of {mean:.1f} at the other {len(others)} places of this type "
        f"(median {result['other_median']:g}, 90th percentile {result['other_p90']:g}); "
        + (
            f"far more than chance would give (Poisson p = {p:.2g} < {alpha:g})."
            if result["flagged"]
            else f"not unusual at the {alpha:g} level (Poisson p = {p:.2g})."
        )
    )
    return result
