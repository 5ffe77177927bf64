"""Is the hotspot map any good? Predictive accuracy of hotspot methods on a later period.

A hotspot method turns the events of a *training* window into a score for every cell of the study
area grid. The cells are ranked by score and the top cells covering a chosen share of the study
area (the *coverage*) form the predicted hotspots. Events of a later *test* window then show how
well that prediction held:

* **hit rate** = test events in the selected cells / all test events in the grid;
* **PAI**, the Predictive Accuracy Index (Chainey, Tompson & Uhlig 2008) = hit rate / area share,
  where area share = area of the selected cells / area of the grid. PAI = 1 is what a random choice
  of cells achieves on average; PAI = 10 means ten times more events per km² than that;
* **RRI**, the Recapture Rate Index (Levine 2008) =
  (test events in selected cells / train events in selected cells) / (all test events / all train events),
  equivalently (test share in the cells) / (train share in the cells). RRI = 1 means the selected
  cells kept their share of events from one window to the next, < 1 that they lost some of it
  (regression to the mean), > 1 that they gained. When the selected cells hold no training event the
  ratio is undefined and RRI is NaN. RRI always uses the whole training window's events, for every
  method, so it is comparable across methods.

Confidence intervals come from a nonparametric bootstrap that resamples the *test events* with
replacement (a multinomial draw over cells, which is the same thing), holding the training map
fixed: they describe how much the figures could move with another test period of the same size,
not the uncertainty of the map itself. Intervals are percentile 95 % intervals; the same resamples
are used for every method and coverage, so the methods are compared on identical draws.

References:
    Chainey, S., Tompson, L. & Uhlig, S. (2008) The utility of hotspot mapping for predicting
    spatial patterns of crime. Security Journal 21(1-2), 4-28.
    Levine, N. (2008) The "hottest" part of a hotspot: comments on "The utility of hotspot mapping
    for predicting spatial patterns of crime". Security Journal 21(4), 295-302.
    Efron, B. & Tibshirani, R. (1993) An Introduction to the Bootstrap, ch. 13 (percentile intervals).

Every function here is pure: frames in, frames out. Points are frames with an int64 ``h3`` column
holding fine cells (``settings.FINE_H3_RES``) or cells already at the evaluation resolution.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from hoth_geo import settings
from hoth_geo.analysis import hotspots
from hoth_geo.hexes import cell_areas_km2, cell_resolutions, cells_to_parent, latlng_to_cells
from hoth_geo.intake import files, policeuk
from hoth_geo.selection import ReportFilter, filter_mask, located

__all__ = [
    "DEFAULT_COVERAGES",
    "DEFAULT_METHODS",
    "METHODS",
    "RESULT_COLUMNS",
    "CURVE_COLUMNS",
    "Method",
    "Evaluation",
    "cell_areas_km2",
    "evaluate",
    "evaluate_policeuk",
    "evaluate_windows",
    "read_policeuk_windows",
    "pai_curve",
    "rank_cells",
    "score_count",
    "score_gistar",
    "score_kde",
]

DEFAULT_METHODS = ("count", "gistar", "kde", "last_period")
DEFAULT_COVERAGES = (0.01, 0.05, 0.10, 0.20)
CI_LEVEL = 0.95

RESULT_COLUMNS = (
    "method",
    "coverage",
    "n_cells",
    "area_share",
    "hits",
    "hit_rate",
    "pai",
    "rri",
    "hit_rate_lo",
    "hit_rate_hi",
    "pai_lo",
    "pai_hi",
    "rri_lo",
    "rri_hi",
)
CURVE_COLUMNS = ("method", "coverage", "n_cells", "area_share", "hits", "hit_rate", "pai", "rri")

# A scoring function: training counts on the grid -> one score per grid cell (higher = hotter).
Scorer = Callable[[pd.DataFrame, np.ndarray], np.ndarray]


# =====================================================================================================
# Methods: each is a small function from training counts to a score per grid cell
# =====================================================================================================


def _aligned(frame: pd.DataFrame, column: str, grid_cells: np.ndarray) -> np.ndarray:
    """``frame[column]`` re-indexed to ``grid_cells`` by h3; cells the frame lacks get NaN."""
    return (
        pd.Series(frame[column].to_numpy(dtype=np.float64), index=frame["h3"].to_numpy(dtype=np.int64))
        .reindex(grid_cells)
        .to_numpy(dtype=np.float64)
    )


def score_count(counts: pd.DataFrame, grid_cells: np.ndarray) -> np.ndarray:
    """The number of training events in each cell (the plain 'most events last time' map)."""
    return np.nan_to_num(_aligned(counts, "count", grid_cells), nan=0.0)


def score_gistar(counts: pd.DataFrame, grid_cells: np.ndarray, *, k: int = 1) -> np.ndarray:
    """Getis-Ord Gi* z-score of each cell over its k-ring neighbourhood (hotspots.gi_star)."""
    # fdr only changes the class labels, not z, so it is switched off to save the work.
    table = hotspots.gi_star(counts, grid_cells, k=k, fdr=False).table
    return _aligned(table, "z", grid_cells)


def score_kde(
    counts: pd.DataFrame, grid_cells: np.ndarray, *, bandwidth_m: float | None = None
) -> np.ndarray:
    """Kernel density of training events at each cell (hotspots.kernel_density)."""
    table = hotspots.kernel_density(counts, grid_cells, bandwidth_m=bandwidth_m).table
    return _aligned(table, "density", grid_cells)


@dataclass(frozen=True)
class Method:
    """A named hotspot method: a scorer and which events it learns from.

    ``period='train'`` scores the whole training window; ``period='last_period'`` scores only the
    last period before the test window (the naive 'what happened last month' baseline). Add a
    method by building one, e.g. ``Method('gistar_k2', functools.partial(score_gistar, k=2))``.
    """

    name: str
    score: Scorer
    period: Literal["train", "last_period"] = "train"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Method.name must be a non-empty string, got {self.name!r}")
        if not callable(self.score):
            raise ValueError(f"Method.score must be callable, got {self.score!r}")
        if self.period not in ("train", "last_period"):
            raise ValueError(f"Method.period must be 'train' or 'last_period', got {self.period!r}")


METHODS: Mapping[str, Method] = {
    "count": Method("count", score_count),
    "gistar": Method("gistar", score_gistar),
    "kde": Method("kde", score_kde),
    "last_period": Method("last_period", score_count, period="last_period"),
}


def _resolve_methods(methods: Iterable[str | Method]) -> list[Method]:
    if isinstance(methods, str | Method):
        methods = (methods,)
    out: list[Method] = []
    for m in methods:
        if isinstance(m, Method):
            out.append(m)
        elif isinstance(m, str) and m in METHODS:
            out.append(METHODS[m])
        else:
            raise ValueError(
                f"methods: unknown method {m!r}; expected a Method or one of {', '.join(METHODS)}"
            )
    names = [m.name for m in out]
    if not out:
        raise ValueError("methods must name at least one method, got none")
    if len(set(names)) != len(names):
        raise ValueError(f"methods must have distinct names, got {names!r}")
    return out


# =====================================================================================================
# Grid, ranking and area
# =====================================================================================================


def _grid(grid_cells, res: int) -> np.ndarray:
    cells = np.asarray(grid_cells)
    if cells.ndim != 1 or cells.size == 0 or not np.issubdtype(cells.dtype, np.integer):
        raise ValueError(f"grid_cells must be a non-empty 1-D array of int64 H3 cells, got {cells!r:.80}")
    cells = cells.astype(np.int64)
    found = np.unique(cell_resolutions(cells))
    if found.tolist() != [res]:
        raise ValueError(f"grid_cells must all be H3 cells at res={res}, got resolutions {found.tolist()}")
    if len(np.unique(cells)) != len(cells):
        raise ValueError("grid_cells must not repeat a cell")
    return np.sort(cells)


def rank_cells(grid_cells: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Positions of ``grid_cells`` from hottest to coldest.

    Higher score ranks first; equal scores rank by ascending H3 index, which does not depend on the
    test data or on input order, so a result is reproducible. NaN scores (a method that cannot
    score a cell) rank last.
    """
    cells = np.asarray(grid_cells, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    if s.shape != cells.shape:
        raise ValueError(f"scores must have one value per grid cell ({cells.shape[0]}), got shape {s.shape}")
    key = np.where(np.isnan(s), -np.inf, s)
    # lexsort sorts by the last key first: descending score, then ascending cell.
    return np.lexsort((cells, -key))


def _coverage_cells(cum_share: np.ndarray, coverages: np.ndarray) -> np.ndarray:
    """For each coverage, the number of top cells whose cumulative area share is nearest to it.

    Nearest (ties to fewer cells) rather than 'at least', so that 1 % of 100 near-equal cells is one
    cell even when that cell is a hair smaller than the average. Never fewer than one cell.
    """
    n = len(cum_share)
    above = np.searchsorted(cum_share, coverages, side="left")  # first index with share >= coverage
    above = np.minimum(above, n - 1)
    below = above - 1
    below_share = np.where(below >= 0, cum_share[np.maximum(below, 0)], 0.0)
    take_below = (below >= 0) & (coverages - below_share <= cum_share[above] - coverages)
    k = np.where(take_below, below + 1, above + 1)
    return np.maximum(k, 1)


def _check_coverages(coverages) -> np.ndarray:
    cov = np.atleast_1d(np.asarray(coverages, dtype=np.float64))
    if cov.ndim != 1 or cov.size == 0:
        raise ValueError(f"coverages must be a non-empty sequence of shares in (0, 1], got {coverages!r}")
    bad = ~((cov > 0) & (cov <= 1))
    if bad.any():
        raise ValueError(f"coverages must lie in (0, 1], got {cov[bad][0]!r}")
    return cov


# =====================================================================================================
# Points -> counts on the grid
# =====================================================================================================

_TIME_COLUMNS = ("month", "observed_at")


def _cells_at(points: pd.DataFrame, res: int, name: str) -> np.ndarray:
    if not isinstance(points, pd.DataFrame) or "h3" not in points.columns:
        raise ValueError(f"{name} must be a DataFrame with an int64 'h3' column, got {type(points).__name__}")
    cells = points["h3"].to_numpy()
    if cells.size and not np.issubdtype(cells.dtype, np.integer):
        raise ValueError(f"{name}['h3'] must hold int64 H3 cells, got dtype {cells.dtype}")
    cells = cells.astype(np.int64)
    cells = cells[cells != 0]  # 0 = no cell (e.g. an online report): never on the map
    return cells_to_parent(cells, res)


def _grid_counts(cells: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, int]:
    """Events per grid cell (aligned with the sorted grid) and how many fell outside the grid."""
    pos = np.searchsorted(grid, cells)
    pos = np.minimum(pos, len(grid) - 1)
    inside = grid[pos] == cells
    return np.bincount(pos[inside], minlength=len(grid)).astype(np.int64), int((~inside).sum())


def _counts_frame(grid: np.ndarray, counts: np.ndarray) -> pd.DataFrame:
    """The non-zero counts as hotspots' (h3, count) input."""
    nz = counts > 0
    return pd.DataFrame({"h3": grid[nz], "count": counts[nz]})


def _time_column(points: pd.DataFrame) -> str | None:
    return next((c for c in _TIME_COLUMNS if c in points.columns), None)


def _last_period(points: pd.DataFrame, name: str) -> pd.DataFrame:
    """The events in the calendar month of the latest event (the last period before the test)."""
    col = _time_column(points)
    if col is None:
        raise ValueError(
            f"{name} needs a 'month' or 'observed_at' column for the 'last_period' method, "
            "or pass last_period_points"
        )
    t = pd.to_datetime(points[col]).dt.to_period("M")
    return points[(t == t.max()).to_numpy()]


# =====================================================================================================
# Evaluation
# =====================================================================================================


@dataclass(frozen=True)
class Evaluation:
    """The accuracy of hotspot methods (``evaluate``, ``pai_curve`` and their wrappers).

    - ``table``: one row per (method, coverage): ``RESULT_COLUMNS`` (``evaluate``) or
      ``CURVE_COLUMNS`` (``pai_curve``);
    - ``res``, ``n_grid_cells``, ``grid_area_km2``: the grid the events were counted on;
    - ``n_train``, ``n_test``: events inside the grid in each window (the ones counted), and
      ``n_train_outside_grid``, ``n_test_outside_grid`` those left out (outside the grid or with no cell);
    - ``n_last_period``, ``n_last_period_outside_grid``: the same for the 'last_period' baseline's
      events (None when that method was not run);
    - ``n_boot``, ``seed``, ``ci_level``: the bootstrap behind the intervals (n_boot 0 and the rest
      None for ``pai_curve``);
    - ``source``, ``concerns``, ``crime_types``: what the events were (``evaluate_policeuk``,
      ``evaluate_windows``; None and empty otherwise);
    - ``train``, ``test``, ``last_period``: the windows as inclusive ('YYYY-MM-DD', 'YYYY-MM-DD')
      pairs (``evaluate_windows``; None otherwise).
    """

    table: pd.DataFrame
    res: int
    n_grid_cells: int
    grid_area_km2: float
    n_train: int
    n_test: int
    n_train_outside_grid: int
    n_test_outside_grid: int
    n_last_period: int | None = None
    n_last_period_outside_grid: int | None = None
    n_boot: int = 0
    seed: int | None = None
    ci_level: float | None = None
    source: str | None = None
    concerns: tuple[str, ...] = ()
    crime_types: tuple[str, ...] = ()
    train: tuple[str, str] | None = None
    test: tuple[str, str] | None = None
    last_period: tuple[str, str] | None = None


@dataclass(frozen=True)
class _Prepared:
    grid: np.ndarray
    share: np.ndarray  # each grid cell's share of the grid's area
    train: np.ndarray  # training events per grid cell
    test: np.ndarray
    scores: dict[str, np.ndarray]
    counted: dict  # the Evaluation fields that describe the grid and the events counted on it


def _prepare(
    train_points: pd.DataFrame,
    test_points: pd.DataFrame,
    grid_cells: np.ndarray,
    res: int,
    methods: Iterable[str | Method],
    last_period_points: pd.DataFrame | None,
) -> _Prepared:
    if isinstance(res, bool) or not isinstance(res, int | np.integer) or not 0 <= int(res) <= 15:
        raise ValueError(f"res must be an integer H3 resolution 0..15, got {res!r}")
    res = int(res)
    grid = _grid(grid_cells, res)
    chosen = _resolve_methods(methods)
    train, train_out = _grid_counts(_cells_at(train_points, res, "train_points"), grid)
    test, test_out = _grid_counts(_cells_at(test_points, res, "test_points"), grid)
    if train.sum() == 0:
        raise ValueError("train_points has no event inside grid_cells: nothing to learn a map from")
    if test.sum() == 0:
        raise ValueError("test_points has no event inside grid_cells: nothing to evaluate against")
    last = None
    last_out = 0
    if any(m.period == "last_period" for m in chosen):
        lp = (
            last_period_points
            if last_period_points is not None
            else _last_period(train_points, "train_points")
        )
        name = "last_period_points" if last_period_points is not None else "train_points (last month)"
        last, last_out = _grid_counts(_cells_at(lp, res, name), grid)
    area = cell_areas_km2(grid)
    scores = {}
    for m in chosen:
        source = train if m.period == "train" else last
        s = np.asarray(m.score(_counts_frame(grid, source), grid), dtype=np.float64)
        if s.shape != grid.shape:
            raise ValueError(
                f"method {m.name!r} returned {s.shape} scores for {len(grid)} grid cells: one per cell expected"
            )
        scores[m.name] = s
    counted = {
        "res": res,
        "n_grid_cells": len(grid),
        "grid_area_km2": float(area.sum()),
        "n_train": int(train.sum()),
        "n_test": int(test.sum()),
        "n_train_outside_grid": train_out,
        "n_test_outside_grid": test_out,
    }
    if last is not None:
        counted.update(n_last_period=int(last.sum()), n_last_period_outside_grid=last_out)
    return _Prepared(grid, area / area.sum(), train, test, scores, counted)


def _metrics(hits, train_hits, area_share, n_test: int, n_train: int):
    """hit rate, PAI and RRI from hits (scalars or arrays); RRI NaN where train_hits is 0."""
    hits = np.asarray(hits, dtype=np.float64)
    hit_rate = hits / n_test
    pai = hit_rate / area_share
    with np.errstate(divide="ignore", invalid="ignore"):
        rri = np.where(train_hits > 0, (hits / train_hits) / (n_test / n_train), np.nan)
    return hit_rate, pai, rri


def _curve_rows(p: _Prepared, name: str, k: np.ndarray, order: np.ndarray) -> dict[str, np.ndarray]:
    cum_share = np.cumsum(p.share[order])
    cum_test = np.cumsum(p.test[order])
    cum_train = np.cumsum(p.train[order])
    idx = k - 1
    hits = cum_test[idx]
    train_hits = cum_train[idx]
    area_share = cum_share[idx]
    hit_rate, pai, rri = _metrics(hits, train_hits, area_share, int(p.test.sum()), int(p.train.sum()))
    return {
        "method": np.full(len(k), name, dtype=object),
        "n_cells": k.astype(np.int64),
        "area_share": area_share,
        "hits": hits.astype(np.int64),
        "hit_rate": hit_rate,
        "pai": pai,
        "rri": rri,
        "_train_hits": train_hits,
    }


def evaluate(
    train_points: pd.DataFrame,
    test_points: pd.DataFrame,
    grid_cells: np.ndarray,
    res: int,
    *,
    methods: Sequence[str | Method] = DEFAULT_METHODS,
    coverages: Sequence[float] = DEFAULT_COVERAGES,
    n_boot: int = 500,
    seed: int = 0,
    last_period_points: pd.DataFrame | None = None,
) -> Evaluation:
    """Hit rate, PAI and RRI of each method at each coverage, with bootstrap 95 % intervals.

    Each method scores every cell of ``grid_cells`` (H3 cells at ``res``) from ``train_points``;
    cells are ranked by score (ties by ascending H3 index, see ``rank_cells``) and the top cells
    whose cumulative area share is nearest to each coverage (at least one cell) are selected, using
    exact H3 cell areas. On ``test_points``:

    * hit_rate = test events in the selected cells / all test events in the grid;
    * pai = hit_rate / area_share (Chainey, Tompson & Uhlig 2008);
    * rri = (test events in selected cells / train events in selected cells)
      / (all test events / all train events) (Levine 2008, Recapture Rate Index); NaN when the
      selected cells hold no training event, since the ratio is then undefined.

    Events outside the grid and events with no cell (h3 == 0) are left out of every count; the
    numbers counted and dropped are fields of the ``Evaluation``. The 'last_period' method scores the events of
    ``last_period_points``, or, when that is None, those in the calendar month of the latest
    training event (``train_points`` then needs a 'month' or 'observed_at' column).

    Intervals (``*_lo``, ``*_hi``): percentile 95 % bootstrap intervals from ``n_boot`` resamples of
    the test events with replacement (numpy Generator seeded with ``seed``), the training map held
    fixed. ``n_boot=0`` skips the bootstrap and leaves them NaN.

    Returns an ``Evaluation`` whose table has one row per (method, coverage) with ``RESULT_COLUMNS``,
    methods in the order given.
    """
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 0:
        raise ValueError(f"n_boot must be a non-negative integer, got {n_boot!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    cov = _check_coverages(coverages)
    p = _prepare(train_points, test_points, grid_cells, res, methods, last_period_points)
    n_test, n_train = int(p.test.sum()), int(p.train.sum())

    boot = None
    if n_boot:
        # Resampling N test events with replacement = one multinomial draw of N over the cells, with
        # probabilities the observed shares; only cells with test events can receive any.
        rng = np.random.default_rng(seed)
        has_test = np.flatnonzero(p.test)
        # Kept as (resample, cell with test events): cells without test events never get a hit, and
        # a full (resample, grid cell) matrix would be hundreds of MB at fine resolutions.
        boot = rng.multinomial(n_test, p.test[has_test] / n_test, size=int(n_boot))

    frames = []
    alpha = (1 - CI_LEVEL) / 2 * 100
    for name, scores in p.scores.items():
        order = rank_cells(p.grid, scores)
        k = _coverage_cells(np.cumsum(p.share[order]), cov)
        rows = _curve_rows(p, name, k, order)
        out = pd.DataFrame({"method": rows["method"], "coverage": cov})
        for c in CURVE_COLUMNS[2:]:
            out[c] = rows[c]
        for c in ("hit_rate", "pai", "rri"):
            out[f"{c}_lo"] = np.nan
            out[f"{c}_hi"] = np.nan
        if boot is not None:
            # Selected-cell membership per coverage, then hits for every resample in one product.
            rank_pos = np.empty(len(order), dtype=np.int64)
            rank_pos[order] = np.arange(len(order))
            member = rank_pos[has_test][None, :] < k[:, None]  # (coverage, cell with test events)
            boot_hits = boot @ member.T.astype(np.int64)  # (resample, coverage)
            b_hr, b_pai, b_rri = _metrics(boot_hits, rows["_train_hits"], rows["area_share"], n_test, n_train)
            for c, b in (("hit_rate", b_hr), ("pai", b_pai), ("rri", b_rri)):
                if np.isnan(b).all():
                    continue  # RRI undefined for this selection: the interval stays NaN too
                lo, hi = np.percentile(b, [alpha, 100 - alpha], axis=0)
                out[f"{c}_lo"], out[f"{c}_hi"] = lo, hi
        frames.append(out)
    table = pd.concat(frames, ignore_index=True)[list(RESULT_COLUMNS)]
    return Evaluation(table=table, **p.counted, n_boot=int(n_boot), seed=int(seed), ci_level=CI_LEVEL)


def pai_curve(
    train_points: pd.DataFrame,
    test_points: pd.DataFrame,
    grid_cells: np.ndarray,
    res: int,
    *,
    methods: Sequence[str | Method] = DEFAULT_METHODS,
    coverages: Sequence[float] | None = None,
    last_period_points: pd.DataFrame | None = None,
) -> Evaluation:
    """Hit rate, PAI and RRI against coverage for plotting (no bootstrap).

    Same ranking and definitions as ``evaluate``. With ``coverages=None`` every prefix of the
    ranking is a point (1, 2, ... all cells), so the curve is exact; the ``coverage`` column is then
    the area share itself. Returns an ``Evaluation`` whose table has ``CURVE_COLUMNS``.
    """
    p = _prepare(train_points, test_points, grid_cells, res, methods, last_period_points)
    frames = []
    for name, scores in p.scores.items():
        order = rank_cells(p.grid, scores)
        cum_share = np.cumsum(p.share[order])
        if coverages is None:
            k = np.arange(1, len(order) + 1)
            cov = cum_share
        else:
            cov = _check_coverages(coverages)
            k = _coverage_cells(cum_share, cov)
        rows = _curve_rows(p, name, k, order)
        frames.append(
            pd.DataFrame({"coverage": cov, **{c: rows[c] for c in CURVE_COLUMNS if c != "coverage"}})
        )
    table = pd.concat(frames, ignore_index=True)[list(CURVE_COLUMNS)]
    return Evaluation(table=table, **p.counted)


# =====================================================================================================
# Convenience: police.uk files, and stored frames in date windows (what the CLI wraps)
# =====================================================================================================


def _study_grid(res: int, grid_cells: np.ndarray | None) -> np.ndarray:
    if grid_cells is not None:
        return np.asarray(grid_cells, dtype=np.int64)
    cells, _warning = hotspots.study_area_grid(res)
    return np.asarray(cells, dtype=np.int64)


def _policeuk_filter(concerns: Iterable[str], crime_types: Iterable[str]) -> tuple[set[str], set[str]]:
    concerns, crime_types = set(concerns), set(crime_types)
    known_concerns = set(policeuk.POLICEUK_CONCERNS.values())
    for c in sorted(concerns):
        if c not in known_concerns:
            raise ValueError(
                f"concerns: {c!r} is not a police.uk concern; expected one of {sorted(known_concerns)}"
            )
    for t in sorted(crime_types):
        if t not in policeuk.POLICEUK_CONCERNS:
            raise ValueError(
                f"crime_types: {t!r} is not a police.uk crime type; expected one of {list(policeuk.POLICEUK_CONCERNS)}"
            )
    return concerns, crime_types


def _read_policeuk(paths: Iterable[str | Path], name: str) -> pd.DataFrame:
    paths = [paths] if isinstance(paths, str | Path) else list(paths)
    if not paths:
        raise ValueError(f"{name} must list at least one police.uk CSV file, got none")
    frames = [policeuk.normalise_policeuk(files.read_table(p)).rows for p in paths]
    rows = pd.concat(frames, ignore_index=True)
    # Rows without coordinates were quarantined by normalise_policeuk, so every row has a point.
    rows["h3"] = latlng_to_cells(
        rows["latitude"].to_numpy(float), rows["longitude"].to_numpy(float), settings.FINE_H3_RES
    )
    return rows


def read_policeuk_windows(
    paths_train: Iterable[str | Path],
    paths_test: Iterable[str | Path],
    *,
    concerns: Iterable[str] = (),
    crime_types: Iterable[str] = (),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) event frames from police.uk street-level CSVs, ready for ``evaluate``.

    Files are read with ``files.read_table`` + ``policeuk.normalise_policeuk`` (rows with no
    coordinates are left out) and each point gets its fine cell (``settings.FINE_H3_RES``).
    ``concerns`` (hoth-geo concern keys such as 'asb', 'drugs_alcohol', 'weapons') and
    ``crime_types`` (police.uk names such as 'Drugs') select rows: a row is kept when it matches
    either, and when both are empty every row is kept. A Crime ID listed more than once counts once
    (the first), as in the stored context layer. The two sets of files may not share a month.
    Columns: month, crime_type, concern, latitude, longitude, h3.
    """
    want_concerns, want_types = _policeuk_filter(concerns, crime_types)
    rows = pd.concat(
        [_read_policeuk(paths_train, "paths_train").assign(_test=False),
         _read_policeuk(paths_test, "paths_test").assign(_test=True)],
        ignore_index=True,
    )  # fmt: skip
    is_test = rows["_test"].to_numpy()
    overlap = set(rows.loc[~is_test, "month"].unique()) & set(rows.loc[is_test, "month"].unique())
    if overlap:
        months = ", ".join(sorted(pd.Timestamp(m).strftime("%Y-%m") for m in overlap))
        raise ValueError(
            f"paths_train and paths_test share the month(s) {months}: the test must be a later period"
        )
    # police.uk now and then lists one Crime ID twice; the stored context layer keeps the first
    # (pipeline.import_file), and so does this, so files and database give the same figures.
    rows = rows[~rows["fingerprint"].duplicated().to_numpy()]
    if want_concerns or want_types:
        keep = rows["concern"].isin(want_concerns) | rows["crime_type"].isin(want_types)
        rows = rows[keep.to_numpy()]
    columns = ["month", "crime_type", "concern", "latitude", "longitude", "h3"]
    train = rows.loc[~rows["_test"], columns].reset_index(drop=True)
    test = rows.loc[rows["_test"], columns].reset_index(drop=True)
    return train, test


def evaluate_policeuk(
    paths_train: Iterable[str | Path],
    paths_test: Iterable[str | Path],
    *,
    concerns: Iterable[str] = (),
    crime_types: Iterable[str] = (),
    res: int = settings.DEFAULT_MAP_RES,
    grid_cells: np.ndarray | None = None,
    **kwargs,
) -> Evaluation:
    """``evaluate`` on police.uk street-level CSVs (recorded crime, not partnership reports).

    Events come from ``read_policeuk_windows`` (see there for ``concerns`` and ``crime_types``) and
    are counted at ``res`` on the study area grid (``hotspots.study_area_grid(res)`` unless
    ``grid_cells`` is given); points outside it are dropped. The 'last_period' baseline is the
    latest month in the training files. ``kwargs`` go to ``evaluate``.
    """
    train, test = read_policeuk_windows(paths_train, paths_test, concerns=concerns, crime_types=crime_types)
    result = evaluate(train, test, _study_grid(res, grid_cells), res, **kwargs)
    return replace(
        result,
        source="police.uk",
        concerns=tuple(sorted(set(concerns))),
        crime_types=tuple(sorted(set(crime_types))),
    )


DateLike = str | date | datetime | pd.Timestamp


def _window(value, name: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(start, end exclusive) from an inclusive (start, end) pair; 'YYYY-MM' as end means the whole month."""
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise ValueError(f"{name} must be a (start, end) pair of dates, got {value!r}")
    start, end = value
    try:
        lo = pd.Timestamp(start).normalize()
        hi = pd.Timestamp(end).normalize()
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} must be a (start, end) pair of dates, got {value!r}") from exc
    if isinstance(end, str) and len(end.strip()) == 7:  # 'YYYY-MM': up to the month's last day
        hi_excl = hi + pd.offsets.MonthBegin(1)
    else:
        hi_excl = hi + pd.Timedelta(days=1)
    if lo >= hi_excl:
        raise ValueError(f"{name} starts after it ends, got {value!r}")
    return lo, hi_excl


def evaluate_windows(
    frame: pd.DataFrame,
    train: tuple[DateLike, DateLike],
    test: tuple[DateLike, DateLike],
    res: int = settings.DEFAULT_MAP_RES,
    concerns: Iterable[str] = (),
    *,
    grid_cells: np.ndarray | None = None,
    **kwargs,
) -> Evaluation:
    """``evaluate`` on a stored frame split into a training and a later test window.

    ``frame`` is the police context (``store.load_context``: a ``month`` column, one row per
    recorded crime) or the partnership reports (``store.load_reports``: ``observed_at``, only
    located reports are used). ``train`` and ``test`` are inclusive (start, end) dates; an end
    given as 'YYYY-MM' means the end of that month. The test window must start after the training
    window ends. Police months are whole: a month belongs to a window when any of its days does,
    and a month may not fall in both windows. ``concerns`` are hoth-geo concern keys (context:
    the ``concern`` column; reports: any of their concerns). The 'last_period' baseline is the
    final calendar month of the training window. ``kwargs`` go to ``evaluate``; the grid is the
    study area grid at ``res`` unless ``grid_cells`` is given.
    """
    tr_lo, tr_hi = _window(train, "train")
    te_lo, te_hi = _window(test, "test")
    if te_lo < tr_hi:
        raise ValueError(f"test must start after train ends, got train={train!r} and test={test!r}")
    concerns = tuple(concerns)
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(
            f"frame must be a DataFrame from store.load_context or store.load_reports, got {type(frame).__name__}"
        )
    last_lo = max(tr_lo, (tr_hi - pd.Timedelta(days=1)).to_period("M").to_timestamp())
    if "month" in frame.columns:
        if concerns:
            _policeuk_filter(concerns, ())
        # police.uk publishes months only: a row covers its whole month.
        month = pd.to_datetime(frame["month"]).dt.to_period("M")
        m_lo = month.dt.start_time.to_numpy()
        m_hi = (month + 1).dt.start_time.to_numpy()  # exclusive
        keep = frame["concern"].isin(concerns).to_numpy() if concerns else np.ones(len(frame), bool)

        def window_mask(lo: pd.Timestamp, hi: pd.Timestamp) -> np.ndarray:
            return (m_lo < hi.to_datetime64()) & (m_hi > lo.to_datetime64())

        if (tr_hi - pd.Timedelta(days=1)).to_period("M") >= te_lo.to_period("M"):
            raise ValueError(
                f"train={train!r} and test={test!r} share a police.uk month: windows must not split a month"
            )
        source = "police context"
    elif "observed_at" in frame.columns:
        keep = filter_mask(frame, ReportFilter(concerns=concerns)) & located(frame, res)
        t = pd.to_datetime(frame["observed_at"]).to_numpy(dtype="datetime64[ns]")

        def window_mask(lo: pd.Timestamp, hi: pd.Timestamp) -> np.ndarray:
            return (t >= lo.to_datetime64()) & (t < hi.to_datetime64())

        source = "partnership reports"
    else:
        raise ValueError(
            "frame must have a 'month' column (store.load_context) or an 'observed_at' column "
            f"(store.load_reports), got columns {list(frame.columns)}"
        )

    def rows_in(lo: pd.Timestamp, hi: pd.Timestamp) -> pd.DataFrame:
        return frame[keep & window_mask(lo, hi)]

    result = evaluate(
        rows_in(tr_lo, tr_hi),
        rows_in(te_lo, te_hi),
        _study_grid(res, grid_cells),
        res,
        last_period_points=rows_in(last_lo, tr_hi),
        **kwargs,
    )
    return replace(
        result,
        source=source,
        concerns=concerns,
        train=(str(tr_lo.date()), str((tr_hi - pd.Timedelta(days=1)).date())),
        test=(str(te_lo.date()), str((te_hi - pd.Timedelta(days=1)).date())),
        last_period=(str(last_lo.date()), str((tr_hi - pd.Timedelta(days=1)).date())),
    )
