"""Time analysis: time steps, the space-time cube, emerging hot spots, period change and time profiles.

Everything here is a pure function of the analysis frame (``store.load_reports``). The method and the
exact classification rules are documented in docs/time-analysis.md.

Shapes: a space-time cube is a (n_cells x n_steps) count matrix. Gi* for every time step is one sparse
product ``W @ counts`` (W = binary k-ring neighbours, self included) followed by a rolling sum over the
time window, so all steps are computed at once; the Mann-Kendall test runs on all cells at once too.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import sparse
from shapely.geometry import MultiPolygon, Polygon

from hoth_geo.analysis.hotspots import benjamini_hochberg, count_grid, neighbour_graph
from hoth_geo.errors import DataConditionError, InvalidInput
from hoth_geo.hexes import cell_resolutions, cells_to_parent, check_res
from hoth_geo.selection import ReportFilter, filter_mask, located
from hoth_geo.validation import as_day, check_frames, check_grid

__all__ = [
    "STEP_LADDER",
    "MIN_STEPS",
    "MAX_STEPS",
    "EMERGING_CATEGORIES",
    "EMERGING_LABELS",
    "choose_time_step",
    "step_starts",
    "part_steps",
    "SpaceTimeCube",
    "space_time_cube",
    "StepGiStar",
    "gi_star_steps",
    "MannKendall",
    "mann_kendall",
    "classify_emerging",
    "EmergingResult",
    "emerging_hotspots",
    "binom_two_sided",
    "PeriodChange",
    "period_change",
    "area_mask",
    "TimeProfile",
    "day_hour_table",
    "time_profile",
    "ids_with_time_in_words",
    "time_only_in_words",
    "monthly_trend",
    "days_covered",
]

# --- Time steps -------------------------------------------------------------------------------------
# Candidate steps, shortest first. Each is at most 3x the previous one, so when one step gives more than
# MAX_STEPS the next gives more than MAX_STEPS / 3 = MIN_STEPS: every range of 10 days or more gets
# between MIN_STEPS and MAX_STEPS steps.
STEP_LADDER = ("1D", "2D", "3D", "7D", "14D", "MS", "QS", "6MS", "YS")
MIN_STEPS = 10  # the Mann-Kendall trend needs a series; ArcGIS Pro refuses fewer than 10 time steps
MAX_STEPS = 30  # beyond ~30 steps per-step counts get thin and Gi* per step loses power

_STEP_RE = re.compile(r"^(\d*)(D|MS)$")
_CALENDAR_ALIASES = {"MS": 1, "QS": 3, "YS": 12}


def _stats():
    """scipy.stats, imported on first use: it adds ~35 MB to a process (an app server showing only
    the map never needs it)."""
    from scipy import stats

    return stats


def _parse_step(step: str) -> tuple[str, int]:
    """('D', days) for fixed-length steps or ('M', months) for calendar steps starting on the 1st."""
    if not isinstance(step, str):
        raise InvalidInput(f"step must be a pandas offset alias such as '7D' or 'MS', got {step!r}")
    if step in _CALENDAR_ALIASES:
        return "M", _CALENDAR_ALIASES[step]
    m = _STEP_RE.match(step)
    n = int(m.group(1)) if m and m.group(1) else 1
    if not m or n < 1:
        raise InvalidInput(
            f"step must be 'ND' (N days), 'MS' / 'NMS' (N calendar months), 'QS' or 'YS', got {step!r}"
        )
    return ("D", n) if m.group(2) == "D" else ("M", n)


def _range(start, end) -> tuple[pd.Timestamp, pd.Timestamp]:
    lo, hi = as_day(start, "start"), as_day(end, "end")
    if hi < lo:
        raise InvalidInput(f"end {hi.date()} is before start {lo.date()}")
    return lo, hi


def step_starts(start, end, step: str) -> pd.DatetimeIndex:
    """The first day of every time step covering ``start``..``end`` (inclusive dates).

    Fixed-length steps ('7D') are aligned to the end: the final step ends on ``end``, so the step that
    decides 'new' and 'consecutive' is always complete; the first step may begin before ``start``.
    Calendar steps ('MS', 'QS', '6MS', 'YS') start on the 1st of a month that is a multiple of the step
    (quarters on Jan/Apr/Jul/Oct, half-years on Jan/Jul); the first and last may be partly covered.
    """
    lo, hi = _range(start, end)
    kind, n = _parse_step(step)
    if kind == "D":
        days = (hi - lo).days + 1
        count = -(-days // n)
        first = hi + pd.Timedelta(days=1) - pd.Timedelta(days=n * count)
        return pd.date_range(first, periods=count, freq=f"{n}D")
    m_lo = (lo.year * 12 + lo.month - 1) // n * n
    m_hi = (hi.year * 12 + hi.month - 1) // n * n
    months = np.arange(m_lo, m_hi + 1, n)
    return pd.DatetimeIndex([pd.Timestamp(int(m // 12), int(m % 12) + 1, 1) for m in months])


def part_steps(start, end, step: str) -> list[tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp]]:
    """The time steps of ``step_starts(start, end, step)`` that the range covers only in part, as
    (step start, first day covered, last day covered): a calendar step's first and last may be (a range
    from the 15th, or to the 20th), which hold fewer reports than a whole step for that reason alone;
    fixed-length steps end on ``end``, so only their first step can be."""
    lo, hi = _range(start, end)
    starts = step_starts(lo, hi, step)
    kind, n = _parse_step(step)
    offset = pd.DateOffset(days=n) if kind == "D" else pd.DateOffset(months=n)
    out = []
    for i in {0, len(starts) - 1}:
        first, last = starts[i], starts[i] + offset - pd.Timedelta(days=1)
        covered = (max(first, lo), min(last, hi))
        if covered != (first, last):
            out.append((starts[i], *covered))
    return sorted(out)


def choose_time_step(start, end) -> str:
    """The shortest step in ``STEP_LADDER`` that cuts ``start``..``end`` into at most ``MAX_STEPS`` steps.

    The ladder guarantees at least ``MIN_STEPS`` steps for any range of 10 days or more; a shorter
    range gets daily steps (too few for a trend, which ``emerging_hotspots`` reports) and a range over
    30 years gets yearly steps (more than ``MAX_STEPS``).
    """
    lo, hi = _range(start, end)
    for step in STEP_LADDER:
        if len(step_starts(lo, hi, step)) <= MAX_STEPS:
            return step
    return STEP_LADDER[-1]


# --- Space-time cube ----------------------------------------------------------------------------------
class SpaceTimeCube(NamedTuple):
    """Reports per cell and time step: the input of the emerging hot spot analysis."""

    cells: np.ndarray  # int64 H3 cells at res, sorted
    step_starts: pd.DatetimeIndex
    counts: np.ndarray  # int64 (n_cells x n_steps)


def _selected(reports: pd.DataFrame, filters: ReportFilter | None, res: int) -> np.ndarray:
    return filter_mask(reports, filters) & located(reports, res)


def _data_range(reports: pd.DataFrame, keep: np.ndarray, filters: ReportFilter | None, start, end):
    """start/end given, else the filter's dates, else the first and last selected report."""
    t = reports["observed_at"].to_numpy(dtype="datetime64[ns]")[keep]
    if start is None:
        start = filters.date_from if filters and filters.date_from else (t.min() if t.size else None)
    if end is None:
        end = filters.date_to if filters and filters.date_to else (t.max() if t.size else None)
    if start is None or end is None:
        raise DataConditionError("reports: no located report matches the filters, so there is no date range")
    return _range(start, end)


def space_time_cube(
    reports: pd.DataFrame,
    res: int,
    step: str,
    filters: ReportFilter | None = None,
    grid_cells: np.ndarray | None = None,
    *,
    start=None,
    end=None,
) -> SpaceTimeCube:
    """Located reports counted per (cell at ``res``, time step), zero-filled over the grid.

    The grid is ``grid_cells`` when given (reports outside it are left out), else every cell with at
    least one selected report in the range (ArcGIS's default for a cube without an analysis mask).
    The range is ``start``..``end`` (inclusive dates), else the filter's dates, else the data's span.
    """
    res = check_res(res)
    keep = _selected(reports, filters, res)
    lo, hi = _data_range(reports, keep, filters, start, end)
    starts = step_starts(lo, hi, step)
    t = reports["observed_at"].to_numpy(dtype="datetime64[ns]")
    keep &= (t >= np.datetime64(lo, "ns")) & (t < np.datetime64(hi + pd.Timedelta(days=1), "ns"))
    cells = cells_to_parent(reports["h3"].to_numpy()[keep], res)
    step_idx = np.searchsorted(starts.to_numpy(dtype="datetime64[ns]"), t[keep], side="right") - 1
    if grid_cells is None:
        grid = np.unique(cells)
        row = np.searchsorted(grid, cells)
    else:
        grid, _res = check_grid(grid_cells, res)
        row = np.searchsorted(grid, cells)
        inside = (row < grid.size) & (grid[np.minimum(row, grid.size - 1)] == cells)
        row, step_idx = row[inside], step_idx[inside]
    n_steps = len(starts)
    counts = np.bincount(row * n_steps + step_idx, minlength=grid.size * n_steps).reshape(grid.size, n_steps)
    return SpaceTimeCube(grid, starts, counts.astype(np.int64))


# --- Gi* for every time step ----------------------------------------------------------------------------
def _rolling_sum(x: np.ndarray, window: int) -> np.ndarray:
    """Sum over the last ``window`` columns (fewer at the start), along axis 1."""
    c = np.cumsum(x, axis=1, dtype=np.float64)
    if window < x.shape[1]:
        c[:, window:] = c[:, window:] - c[:, :-window]
    return c


class StepGiStar(NamedTuple):
    """Gi* per cell and time step, with its p-values."""

    z: np.ndarray  # (n_cells x n_steps)
    p: np.ndarray  # two-sided normal p
    p_fdr: np.ndarray  # Benjamini-Hochberg within each time step (equals p when fdr=False)


def gi_star_steps(
    counts: np.ndarray,
    weights: sparse.spmatrix,
    *,
    time_window: int = 1,
    global_window: str = "cube",
    fdr: bool = True,
) -> StepGiStar:
    """Getis-Ord Gi* z-score of every bin of a (n_cells x n_steps) cube, all steps in one pass.

    The neighbourhood of bin (i, t) is every cell j with w_ij = 1 in the steps t - time_window + 1 .. t
    (binary weights, so sum w = sum w² = neighbours x steps in the window). The mean and standard
    deviation the neighbourhood is compared with come from the whole cube (``global_window='cube'``,
    ArcGIS's default 'Entire cube') or from the steps in the bin's time window (``'window'``; with
    ``time_window=1`` this is the single time slice, i.e. ordinary Gi* on that step's map).
    """
    x = np.asarray(counts, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"counts must be a (n_cells x n_steps) matrix, got shape {x.shape}")
    n_cells, n_steps = x.shape
    if weights.shape != (n_cells, n_cells):
        raise ValueError(f"weights must be ({n_cells} x {n_cells}) for {n_cells} cells, got {weights.shape}")
    if isinstance(time_window, bool) or not isinstance(time_window, int | np.integer) or time_window < 1:
        raise ValueError(f"time_window must be a positive number of steps, got {time_window!r}")
    if global_window not in ("cube", "window"):
        raise ValueError(f"global_window must be 'cube' or 'window', got {global_window!r}")
    w = int(time_window)
    lag = _rolling_sum(np.asarray(weights @ x), w)  # sum of neighbours' counts in the space-time window
    steps_in = np.minimum(np.arange(1, n_steps + 1), w).astype(np.float64)  # window truncated at start
    deg = np.asarray(weights.sum(axis=1), dtype=np.float64).ravel()
    sw = deg[:, None] * steps_in[None, :]  # sum of weights (= sum of squared weights: binary)
    if global_window == "cube":
        n = np.full(n_steps, float(x.size))
        mean = np.full(n_steps, x.mean())
        sq = np.full(n_steps, (x * x).mean())
    else:
        n = n_cells * steps_in
        mean = _rolling_sum(x.sum(axis=0)[None, :], w)[0] / n
        sq = _rolling_sum((x * x).sum(axis=0)[None, :], w)[0] / n
    s = np.sqrt(np.maximum(sq - mean * mean, 0.0))
    denom = s[None, :] * np.sqrt(np.maximum(n[None, :] * sw - sw * sw, 0.0) / (n[None, :] - 1).clip(min=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (lag - mean[None, :] * sw) / denom
    # No variation (s = 0) or a neighbourhood covering the whole window: nothing to compare, z = 0.
    z = np.where(denom > 1e-12 * np.maximum(s[None, :], 1.0), z, 0.0)
    p = 2.0 * _stats().norm.sf(np.abs(z))
    # Each time step is one map, so the multiple-testing family is the cells of one step (as gi_star).
    p_fdr = np.column_stack([benjamini_hochberg(p[:, t]) for t in range(n_steps)]) if fdr else p
    return StepGiStar(z, p, p_fdr)


# --- Mann-Kendall ------------------------------------------------------------------------------------------
class MannKendall(NamedTuple):
    """The Mann-Kendall trend test of each row of a matrix of series."""

    s: np.ndarray  # Kendall's S per series
    var_s: np.ndarray  # variance of S with the tie correction
    z: np.ndarray  # continuity-corrected normal score
    p: np.ndarray  # two-sided p
    tau: np.ndarray  # S / (n (n - 1) / 2)


def mann_kendall(x: np.ndarray, *, chunk_elements: int = 8_000_000) -> MannKendall:
    """Two-sided Mann-Kendall trend test of every row of ``x`` (series in time order along axis 1).

    S = sum_{i<j} sign(x_j - x_i);
    Var(S) = [n(n-1)(2n+5) - sum_g t_g(t_g-1)(2t_g+5)] / 18 over groups g of t_g tied values;
    Z = (S - sign(S)) / sqrt(Var(S)) (0 when S = 0 or Var(S) = 0); p = 2 (1 - Phi(|Z|)).
    Rows are processed in chunks so the (rows x n x n) comparison stays within ``chunk_elements``.
    """
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"x must be a (n_series x n_steps) matrix, got shape {a.shape}")
    if np.isnan(a).any():
        raise ValueError("x must not contain NaN: every series needs a value at every step")
    n_rows, n = a.shape
    s = np.zeros(n_rows)
    ties = np.zeros(n_rows)
    upper = np.triu(np.ones((n, n), dtype=bool), k=1)
    step = max(1, chunk_elements // max(n * n, 1))
    for lo in range(0, n_rows, step):
        b = a[lo : lo + step]
        diff = b[:, None, :] - b[:, :, None]  # [r, i, j] = x_j - x_i
        s[lo : lo + step] = np.sign(diff)[:, upper].sum(axis=1)
        # t(t-1)(2t+5) summed over tie groups = sum over values of f(c)/c, c = size of the value's group.
        c = (diff == 0).sum(axis=2).astype(np.float64)
        ties[lo : lo + step] = ((c - 1) * (2 * c + 5)).sum(axis=1)
    var_s = (n * (n - 1) * (2 * n + 5) - ties) / 18.0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(var_s > 0, (s - np.sign(s)) / np.sqrt(var_s), 0.0)
    p = 2.0 * _stats().norm.sf(np.abs(z))
    tau = s / (n * (n - 1) / 2) if n > 1 else np.zeros(n_rows)
    return MannKendall(s, var_s, z, p, tau)


# --- Emerging hot spot categories ---------------------------------------------------------------------------
_PATTERNS = (
    "new",
    "consecutive",
    "intensifying",
    "persistent",
    "diminishing",
    "sporadic",
    "oscillating",
    "historical",
)
EMERGING_CATEGORIES = (
    *(f"{p}_hot" for p in _PATTERNS),
    *(f"{p}_cold" for p in _PATTERNS),
    "no_pattern",
)
EMERGING_LABELS = {
    **{f"{p}_hot": f"{p.capitalize()} hot spot" for p in _PATTERNS},
    **{f"{p}_cold": f"{p.capitalize()} cold spot" for p in _PATTERNS},
    "no_pattern": "No pattern detected",
}


def _trailing_run(flags: np.ndarray) -> np.ndarray:
    """Length of the run of True at the end of each row."""
    n = flags.shape[1]
    rev_false = ~flags[:, ::-1]
    first_false = np.where(rev_false.any(axis=1), rev_false.argmax(axis=1), n)
    return first_false


def _classify_side(sig, other, trend_sig, up, n_steps):
    """Pattern names (no suffix) for one side (hot or cold); '' where no pattern of that side applies.

    ``sig``: significant on this side per step; ``other``: significant on the opposite side;
    ``trend_sig``/``up``: significant Mann-Kendall trend, towards this side's intensification.
    """
    count = sig.sum(axis=1)
    final = sig[:, -1]
    mostly = count * 10 >= 9 * n_steps  # at least 90 % of steps, in integers to avoid float edges
    run = _trailing_run(sig)
    ever_other = other.any(axis=1)
    out = np.full(sig.shape[0], "", dtype=object)
    # Final step significant: the order below makes the categories mutually exclusive.
    out[final & mostly & trend_sig & up] = "intensifying"
    out[final & mostly & trend_sig & ~up] = "diminishing"
    out[final & mostly & ~trend_sig] = "persistent"
    rest = final & ~mostly
    out[rest & (count == 1)] = "new"
    out[rest & (count >= 2) & (run == count)] = "consecutive"
    earlier = rest & (run < count)  # significant before the final run, with a gap in between
    out[earlier & ever_other] = "oscillating"
    out[earlier & ~ever_other] = "sporadic"
    out[~final & mostly] = "historical"
    return out


def classify_emerging(
    z: np.ndarray,
    p: np.ndarray,
    trend_p: np.ndarray,
    trend_sign: np.ndarray,
    alpha: float = 0.10,
    *,
    trend_alpha: float | None = None,
) -> np.ndarray:
    """The emerging hot spot category of each row of a (n_cells x n_steps) Gi* z / p matrix.

    A bin is hot when p <= alpha and z > 0, cold when p <= alpha and z < 0 (as hotspots.gi_star's classes). ``trend_p``/``trend_sign``
    are the Mann-Kendall p and sign of S of each cell's z series; the trend is significant when
    trend_p <= trend_alpha (default alpha). Rules: docs/time-analysis.md.
    """
    z = np.asarray(z, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if z.ndim != 2 or z.shape != p.shape:
        raise ValueError(
            f"z and p must be matrices of the same (n_cells x n_steps) shape, got {z.shape} and {p.shape}"
        )
    if z.shape[1] < 1:
        raise ValueError("z must have at least one time step")
    trend_p = np.asarray(trend_p, dtype=np.float64)
    trend_sign = np.sign(np.asarray(trend_sign, dtype=np.float64))
    if trend_p.shape != (z.shape[0],) or trend_sign.shape != (z.shape[0],):
        raise ValueError(
            f"trend_p and trend_sign must have one value per row of z ({z.shape[0]}), "
            f"got {trend_p.shape} and {trend_sign.shape}"
        )
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    t_alpha = alpha if trend_alpha is None else trend_alpha
    if not 0 < t_alpha < 1:
        raise ValueError(f"trend_alpha must lie strictly between 0 and 1, got {trend_alpha!r}")
    sig = p <= alpha
    hot, cold = sig & (z > 0), sig & (z < 0)
    trend_sig = (trend_p <= t_alpha) & (trend_sign != 0)
    n = z.shape[1]
    hot_pattern = _classify_side(hot, cold, trend_sig, trend_sign > 0, n)
    # Cold intensifies when z falls (more negative), so the 'up' direction is a negative trend.
    cold_pattern = _classify_side(cold, hot, trend_sig, trend_sign < 0, n)
    out = np.full(z.shape[0], "no_pattern", dtype=object)
    has_cold = cold_pattern != ""
    out[has_cold] = cold_pattern[has_cold] + "_cold"
    # Both sides can apply only as 'historical' on one side and a final-step pattern on the other
    # (e.g. cold in 9 of 10 steps, hot in the 10th): the final step describes now, so it wins.
    has_hot = hot_pattern != ""
    out[has_hot] = hot_pattern[has_hot] + "_hot"
    return out


@dataclass(frozen=True)
class EmergingResult:
    """Emerging hot spot categories per hexagon (``emerging_hotspots``).

    - ``table``: one row per cell (columns: see ``emerging_hotspots``);
    - ``step``: the time step (a pandas frequency such as 'MS' or '14D'), given or chosen;
    - ``step_starts``: the start of each time step, oldest first;
    - ``k``, ``time_window``, ``alpha``, ``fdr``, ``global_window``: the settings used.
    """

    table: pd.DataFrame
    step: str
    step_starts: tuple[pd.Timestamp, ...]
    k: int
    time_window: int
    alpha: float
    fdr: bool
    global_window: str


def emerging_hotspots(
    reports: pd.DataFrame,
    res: int,
    filters: ReportFilter | None = None,
    *,
    area: Polygon | MultiPolygon | str | Path | None = None,
    area_name: str | None = None,
    step: str | None = None,
    k: int = 1,
    time_window: int = 1,
    grid_cells: np.ndarray | None = None,
    alpha: float = 0.10,
    fdr: bool = True,
    global_window: str = "cube",
    start=None,
    end=None,
) -> EmergingResult:
    """Emerging hot spot analysis of located reports on H3 cells at ``res``.

    Builds the space-time cube (``step`` chosen by ``choose_time_step`` when None), computes Gi* per
    step over the k-ring x ``time_window`` neighbourhood, runs Mann-Kendall on each cell's z series
    (and, for information, on its counts) and classifies each cell (``classify_emerging``). Bin
    significance uses BH-adjusted p within each step when ``fdr`` is True.

    Returns an ``EmergingResult``: the time step and its starts, the settings, and a table with
    columns h3, category, label, trend_z, trend_p, trend_tau, count_trend_z, count_trend_p,
    n_hot_steps, n_cold_steps, final_z, final_p, final_count, total_count.

    The cells: ``grid_cells`` when given, else the grid Gi* uses (``hotspots.count_grid``: every
    hexagon of ``area``, default the deployment's, zeros included, plus those of any report outside
    it), so the app, the command line and the briefing pack test the same hexagons.
    """
    if grid_cells is None:
        grid_cells = count_grid(reports, res, filters, area=area, area_name=area_name)[1]
    if step is None:
        start, end = _data_range(reports, _selected(reports, filters, res), filters, start, end)
        step = choose_time_step(start, end)
    cube = space_time_cube(reports, res, step, filters, grid_cells, start=start, end=end)
    n_steps = len(cube.step_starts)
    if n_steps < MIN_STEPS:
        raise DataConditionError(
            f"step={step!r} gives {n_steps} time steps from {cube.step_starts[0].date()}; "
            f"the trend test needs at least {MIN_STEPS}: choose a shorter step or a longer date range"
        )
    gi = gi_star_steps(
        cube.counts,
        neighbour_graph(cube.cells, k),
        time_window=time_window,
        global_window=global_window,
        fdr=fdr,
    )
    p_bins = gi.p_fdr if fdr else gi.p
    trend = mann_kendall(gi.z)
    count_trend = mann_kendall(cube.counts)
    category = classify_emerging(gi.z, p_bins, trend.p, trend.s, alpha)
    sig = p_bins <= alpha
    out = pd.DataFrame(
        {
            "h3": cube.cells,
            "category": category,
            "label": [EMERGING_LABELS[c] for c in category],
            "trend_z": trend.z,
            "trend_p": trend.p,
            "trend_tau": trend.tau,
            "count_trend_z": count_trend.z,
            "count_trend_p": count_trend.p,
            "n_hot_steps": (sig & (gi.z > 0)).sum(axis=1),
            "n_cold_steps": (sig & (gi.z < 0)).sum(axis=1),
            "final_z": gi.z[:, -1],
            "final_p": p_bins[:, -1],
            "final_count": cube.counts[:, -1],
            "total_count": cube.counts.sum(axis=1),
        }
    )
    return EmergingResult(
        table=out,
        step=step,
        step_starts=tuple(cube.step_starts),
        k=k,
        time_window=time_window,
        alpha=alpha,
        fdr=fdr,
        global_window=global_window,
    )


# --- Change between two periods --------------------------------------------------------------------------
def _period(value, name: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise InvalidInput(f"{name} must be a (start, end) pair of dates, got {value!r}")
    try:
        return _range(*value)
    except ValueError as exc:
        raise InvalidInput(f"{name}: {exc}") from exc


def binom_two_sided(k: np.ndarray, n: np.ndarray, prob: float) -> np.ndarray:
    """Exact two-sided binomial p of k successes in n trials, for many (k, n) at once.

    The same definition as scipy.stats.binomtest(k, n, prob).pvalue: the total probability of every
    outcome no more likely than the observed one (with scipy's 1e-7 relative tolerance for ties).
    One pmf per distinct n, sorted and accumulated, answers every k with that n by a binary search,
    instead of one scipy call per cell.
    """
    k = np.asarray(k, dtype=np.int64)
    n = np.asarray(n, dtype=np.int64)
    if k.shape != n.shape or (k < 0).any() or (k > n).any():
        raise ValueError("k and n must have the same shape with 0 <= k <= n")
    if not 0 <= prob <= 1:
        raise ValueError(f"prob must lie within 0..1, got {prob!r}")
    out = np.ones(k.shape, dtype=np.float64)
    for m in np.unique(n[n > 0]).tolist():
        idx = np.flatnonzero(n == m)
        pmf = _stats().binom.pmf(np.arange(m + 1), m, prob)
        ordered = np.sort(pmf)
        cum = np.cumsum(ordered)
        pos = np.searchsorted(ordered, pmf[k[idx]] * (1 + 1e-7), side="right")
        out[idx] = np.minimum(cum[pos - 1], 1.0)
    return out


@dataclass(frozen=True)
class PeriodChange:
    """Change between two periods per hexagon (``period_change``).

    - ``table``: one row per hexagon with reports in either period (columns: see ``period_change``);
    - ``before_days``, ``after_days``: the lengths of the two periods in days (inclusive);
    - ``expected_after_share``: the share of a hexagon's reports expected in the after period when
      the rate does not change, after_days / (before_days + after_days);
    - ``alpha``: the p (FDR) at or below which a change is called 'up' or 'down'.
    """

    table: pd.DataFrame
    before_days: int
    after_days: int
    expected_after_share: float
    alpha: float


def period_change(
    reports: pd.DataFrame,
    res: int,
    filters: ReportFilter | None = None,
    *,
    before: tuple,
    after: tuple,
    alpha: float = 0.05,
) -> PeriodChange:
    """Per cell at ``res``: reports in the ``before`` and ``after`` periods (inclusive dates) and a test,
    as a ``PeriodChange`` (the table with the periods' lengths).

    Under 'no change in rate', given m = before + after reports in a cell, the after-count is
    Binomial(m, L_after / (L_before + L_after)) with L the period lengths in days. The exact two-sided
    binomial p (as scipy.stats.binomtest; see ``binom_two_sided``) is BH-adjusted over the cells with any report. The filters'
    own dates are ignored here: the periods define the time selection.

    ratio is the rate ratio (after / L_after) / (before / L_before): inf when before = 0.
    direction: 'up' / 'down' when p_fdr <= alpha, else 'no change'. Table columns: h3, before,
    after, difference, ratio, p, p_fdr, direction, sorted by p_fdr then h3.
    """
    res = check_res(res)
    b_lo, b_hi = _period(before, "before")
    a_lo, a_hi = _period(after, "after")
    if b_lo <= a_hi and a_lo <= b_hi:
        raise InvalidInput(f"before {before!r} and after {after!r} overlap: the periods must be disjoint")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    f = dataclasses.replace(filters, date_from=None, date_to=None) if filters else None
    keep = _selected(reports, f, res)
    t = reports["observed_at"].to_numpy(dtype="datetime64[ns]")

    def within(lo, hi):
        return keep & (t >= np.datetime64(lo, "ns")) & (t < np.datetime64(hi + pd.Timedelta(days=1), "ns"))

    in_b, in_a = within(b_lo, b_hi), within(a_lo, a_hi)
    cells = cells_to_parent(reports["h3"].to_numpy(), res)
    grid, codes = np.unique(cells[in_b | in_a], return_inverse=True)
    period = in_a[in_b | in_a].astype(np.int64)
    counts = np.bincount(codes * 2 + period, minlength=grid.size * 2).reshape(grid.size, 2)
    n_b, n_a = counts[:, 0], counts[:, 1]
    len_b, len_a = (b_hi - b_lo).days + 1, (a_hi - a_lo).days + 1
    share = len_a / (len_b + len_a)
    p = binom_two_sided(n_a, n_a + n_b, share)
    p_fdr = benjamini_hochberg(p)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (n_a / len_a) / (n_b / len_b)
    direction = np.where(p_fdr <= alpha, np.where(n_a / len_a > n_b / len_b, "up", "down"), "no change")
    out = pd.DataFrame(
        {
            "h3": grid.astype(np.int64),
            "before": n_b.astype(np.int64),
            "after": n_a.astype(np.int64),
            "difference": (n_a - n_b).astype(np.int64),
            "ratio": ratio,
            "p": p,
            "p_fdr": p_fdr,
            "direction": direction.astype(object),
        }
    )
    return PeriodChange(
        table=out.sort_values(["p_fdr", "h3"], ignore_index=True),
        before_days=len_b,
        after_days=len_a,
        expected_after_share=share,
        alpha=alpha,
    )


# --- Time profiles -----------------------------------------------------------------------------------
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def area_mask(reports: pd.DataFrame, *, cell: int | None = None, place_id: str | None = None) -> np.ndarray:
    """Reports inside one H3 cell (any resolution; its resolution is read from the cell) and/or at one
    place. Both None selects every report."""
    keep = np.ones(len(reports), dtype=bool)
    if cell is not None:
        r = cell_resolutions(np.array([cell], dtype=np.int64))[0]
        if r < 0:
            raise ValueError(f"cell must be an H3 cell, got {cell!r}")
        keep &= located(reports, int(r))
        keep &= cells_to_parent(reports["h3"].to_numpy(), int(r)) == np.int64(cell)
    if place_id is not None:
        keep &= (reports["place_id"] == place_id).to_numpy(dtype=bool, na_value=False)
    return keep


def _profile_mask(reports: pd.DataFrame, filters: ReportFilter | None, mask) -> np.ndarray:
    keep = filter_mask(reports, filters)
    if mask is not None:
        m = np.asarray(mask)
        if m.dtype != bool or m.shape != (len(reports),):
            raise ValueError(
                f"mask must be a boolean array with one value per report ({len(reports)}), "
                f"got {m.dtype} {m.shape}"
            )
        keep &= m
    return keep


class TimeProfile(NamedTuple):
    """Reports by weekday and hour, with the reports that cannot be placed in the table counted apart."""

    table: pd.DataFrame  # 7 x 24 counts, Mon..Sun x hour 0..23, time known and date exact only
    unknown_time: int  # selected reports without a time of day (never spread over the hours)
    time_in_words: int  # of those, reports whose time of day was given only in words ("after school")
    approximate_dates: int  # reports with a known time but an approximate date (weekday unreliable)
    total: int  # all selected reports = table total + unknown_time + approximate_dates


def day_hour_table(reports: pd.DataFrame, filters: ReportFilter | None = None, mask=None) -> pd.DataFrame:
    """Reports by weekday (rows Mon..Sun) and hour of day (columns 0..23), time known and date exact."""
    return time_profile(reports, filters, mask).table


def time_only_in_words(reports: pd.DataFrame) -> np.ndarray:
    """Reports with no time of day whose form gave one in words ("after school"): the Time page's count
    and list, and the briefing pack's time page."""
    return ~reports["time_known"].to_numpy(dtype=bool) & reports["time_in_words"].to_numpy(dtype=bool)


def time_profile(reports: pd.DataFrame, filters: ReportFilter | None = None, mask=None) -> TimeProfile:
    """The day x hour table plus the reports that cannot go in it, counted apart."""
    check_frames(reports, report_columns=("time_known", "time_in_words", "date_approximate"))
    keep = _profile_mask(reports, filters, mask)
    known = reports["time_known"].to_numpy(dtype=bool)
    approx = reports["date_approximate"].to_numpy(dtype=bool)
    in_table = keep & known & ~approx
    t = pd.DatetimeIndex(reports["observed_at"].to_numpy(dtype="datetime64[ns]")[in_table])
    counts = np.bincount(t.day_of_week * 24 + t.hour, minlength=7 * 24).reshape(7, 24)
    table = pd.DataFrame(
        counts.astype(np.int64),
        index=pd.Index(WEEKDAYS, name="weekday"),
        columns=pd.Index(range(24), name="hour"),
    )
    return TimeProfile(
        table=table,
        unknown_time=int((keep & ~known).sum()),
        time_in_words=int((keep & time_only_in_words(reports)).sum()),
        approximate_dates=int((keep & known & approx).sum()),
        total=int(keep.sum()),
    )


def ids_with_time_in_words(
    reports: pd.DataFrame, filters: ReportFilter | None = None, mask=None
) -> np.ndarray:
    """Ids of the selected reports whose time of day was given only in words (``TimeProfile.time_in_words``
    counts them), for a permitted user to read the words (``casework.times_in_words``)."""
    check_frames(reports, report_columns=("id", "time_known", "time_in_words"))
    keep = _profile_mask(reports, filters, mask) & time_only_in_words(reports)
    return reports["id"].to_numpy()[keep]


def days_covered(month, first_day: int, last_day: int) -> str:
    """The days of ``month`` a trend's span covers, in words: '1–20 Nov 2026', or '31 Jan 2025'."""
    m = pd.Timestamp(month)
    days = f"{first_day}" if first_day == last_day else f"{first_day}\u2013{last_day}"
    return f"{days} {m:%b %Y}"


def monthly_trend(
    reports: pd.DataFrame, filters: ReportFilter | None = None, mask=None, *, days_from_data: bool = True
) -> pd.DataFrame:
    """Selected reports per calendar month, zero-filled from the first to the last month: ``month``,
    ``count``, and the days of the month the span covers (``first_day``, ``last_day``; ``partial`` when
    that is not the whole month).

    The span is the filter's dates when set, else the selected reports' first and last day (with
    ``days_from_data=False``, their whole first and last month). A month the span only partly covers
    (dates chosen up to the 20th, or data that ends on it) counts fewer reports than a whole month
    would: a chart that drew it like the others would show a fall that is not there. Approximate dates
    are counted in their recorded month.
    """
    keep = _profile_mask(reports, filters, mask)
    days = reports["observed_at"].to_numpy(dtype="datetime64[ns]")[keep].astype("datetime64[D]")
    first = np.datetime64(filters.date_from, "D") if filters and filters.date_from else None
    last = np.datetime64(filters.date_to, "D") if filters and filters.date_to else None
    if days.size:
        data_first, data_last = days.min(), days.max()
        if not days_from_data:  # the whole months the data reaches
            data_first = data_first.astype("datetime64[M]").astype("datetime64[D]")
            data_last = (data_last.astype("datetime64[M]") + 1).astype("datetime64[D]") - 1
        first = data_first if first is None else first
        last = data_last if last is None else last
    if first is None or last is None:
        return pd.DataFrame(
            {
                "month": pd.Series(dtype="datetime64[ns]"),
                "count": pd.Series(dtype=np.int64),
                "first_day": pd.Series(dtype=np.int64),
                "last_day": pd.Series(dtype=np.int64),
                "partial": pd.Series(dtype=bool),
            }
        )
    lo, hi = first.astype("datetime64[M]"), last.astype("datetime64[M]")
    span = np.arange(lo, hi + 1)
    idx = (days.astype("datetime64[M]") - lo).astype(np.int64)
    ok = (idx >= 0) & (idx < span.size)
    counts = np.bincount(idx[ok], minlength=span.size)
    month_start = span.astype("datetime64[D]")
    month_days = ((span + 1).astype("datetime64[D]") - month_start).astype(np.int64)
    first_day = np.ones(span.size, dtype=np.int64)
    last_day = month_days.copy()
    first_day[0] = (first - month_start[0]).astype(np.int64) + 1
    last_day[-1] = (last - month_start[-1]).astype(np.int64) + 1
    return pd.DataFrame(
        {
            "month": span.astype("datetime64[ns]"),
            "count": counts.astype(np.int64),
            "first_day": first_day,
            "last_day": last_day,
            "partial": (first_day > 1) | (last_day < month_days),
        }
    )
