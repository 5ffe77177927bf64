"""Did the disruption work, and did the problem move? Before/after counts and the WDQ.

Three areas are compared before and after an intervention (Bowers & Johnson 2003):

- A, the target area (where the disruption happened);
- B, a buffer around it (where displaced activity, or a diffusion of benefit, would show first);
- C, a control area (what would have happened without the disruption: by default every other located
  report, i.e. the rest of the study area).

With subscripts b = before and a = after:

    success measure (SM)               = Aa/Ca - Ab/Cb   (negative: the target improved against control)
    buffer displacement measure (BDM)  = Ba/Ca - Bb/Cb   (positive: possible displacement;
                                                          negative: possible diffusion of benefit)
    weighted displacement quotient     WDQ = BDM / SM

The WDQ is only read when the success measure is negative, i.e. when the target went down relative to
control; otherwise there is no benefit to be displaced or diffused and the WDQ is undefined (NaN here).
Reading, as Bowers & Johnson give it:

    WDQ > 1        diffusion of benefit greater than the direct effect
    0 < WDQ <= 1   diffusion of benefit (no greater than the direct effect)
    WDQ = 0        no displacement or diffusion
    -1 <= WDQ < 0  displacement, smaller than the direct effect (a net benefit remains)
    WDQ < -1       displacement greater than the direct effect (the intervention was counterproductive)

This module treats |WDQ| < ``zero_band`` (default 0.05) as 0, because a computed ratio is never exactly
0. Counts are reports, not crimes: a change can also come from a change in who is reporting.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from hoth_geo.access import audit
from hoth_geo.analysis.patrol import cells_mask, window_bounds
from hoth_geo.errors import InvalidInput
from hoth_geo.hexes import cell_resolutions, grid_disk, str_to_cell
from hoth_geo.selection import ReportFilter, filter_mask, located
from hoth_geo.store import tables

__all__ = [
    "TACTICS",
    "add_disruption",
    "ring_cells",
    "buffer_around",
    "before_after",
    "evaluation_periods",
    "wdq_from_counts",
    "interpret_wdq",
    "DEFAULT_PERIOD_DAYS",
]

# The length of each period when an activity has no end date.
DEFAULT_PERIOD_DAYS = 90


def _one_cell(cell, name: str) -> int:
    if isinstance(cell, str):
        try:
            cell = str_to_cell(cell, name)
        except ValueError as exc:
            raise ValueError(f"{name} must be an H3 cell, got {cell!r}") from exc
    if isinstance(cell, bool) or not isinstance(cell, int | np.integer) or int(cell) == 0:
        raise ValueError(f"{name} must be an H3 cell, got {cell!r}")
    try:
        cell_resolutions(np.array([int(cell)], dtype=np.int64))
    except ValueError as exc:
        raise ValueError(f"{name} must be an H3 cell, got {cell!r}") from exc
    return int(cell)


def _check_k(k_inner, k_outer) -> tuple[int, int]:
    for name, k in (("k_inner", k_inner), ("k_outer", k_outer)):
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {k!r}")
    if k_inner > k_outer:
        raise ValueError(f"k_inner ({k_inner}) must not exceed k_outer ({k_outer})")
    return int(k_inner), int(k_outer)


def ring_cells(cell, k_inner: int = 1, k_outer: int = 1) -> np.ndarray:
    """Cells (int64, sorted) at grid distance k_inner..k_outer from ``cell``, at its resolution.

    ``ring_cells(c, 1, 2)`` is the two rings of hexes round a target hex: a buffer B for
    ``before_after``. k_inner = 0 includes the cell itself.
    """
    c = _one_cell(cell, "cell")
    k_inner, k_outer = _check_k(k_inner, k_outer)
    outer = set(grid_disk(c, k_outer).tolist())
    inner = set(grid_disk(c, k_inner - 1).tolist()) if k_inner > 0 else set()
    return np.array(sorted(outer - inner), dtype=np.int64)


def buffer_around(target_cells: Iterable, k: int = 1) -> np.ndarray:
    """The cells within k rings of any target cell, excluding the targets: the buffer for a target
    made of several hexes (all of one resolution)."""
    cells = [_one_cell(c, "target_cells") for c in target_cells]
    if not cells:
        raise ValueError("target_cells must hold at least one H3 cell")
    res = set(cell_resolutions(np.array(cells, dtype=np.int64)).tolist())
    if len(res) > 1:
        raise ValueError(f"target_cells must share one resolution, got resolutions {sorted(res)}")
    _, k = _check_k(0, k)
    ring: set[int] = set()
    for c in cells:
        ring.update(grid_disk(c, k).tolist())
    return np.array(sorted(ring - set(cells)), dtype=np.int64)


def interpret_wdq(wdq: float, success_measure: float, *, zero_band: float = 0.05) -> str:
    """The Bowers & Johnson reading of a WDQ (see the module docstring)."""
    if not math.isfinite(success_measure) or success_measure >= 0:
        return (
            "No reduction in the target area relative to control (success measure >= 0): "
            "the WDQ is undefined, there is no benefit to displace or diffuse."
        )
    if abs(wdq) < zero_band:
        return "No displacement or diffusion of benefit (WDQ about 0)."
    if wdq > 1:
        return "Diffusion of benefit greater than the direct effect (WDQ > 1)."
    if wdq > 0:
        return "Diffusion of benefit: the buffer improved too, by no more than the target (0 < WDQ <= 1)."
    if wdq >= -1:
        return "Displacement smaller than the direct effect: a net benefit remains (-1 <= WDQ < 0)."
    return "Displacement greater than the direct effect: the intervention was counterproductive (WDQ < -1)."


def wdq_from_counts(
    a_before: float,
    a_after: float,
    b_before: float,
    b_after: float,
    c_before: float,
    c_after: float,
    *,
    zero_band: float = 0.05,
) -> dict:
    """Success measure, buffer displacement measure, WDQ and its reading from the six counts.

    Also returns the control-trend expectations (a count before x Ca/Cb) and net_effect: reports
    prevented in A less reports displaced into B against the control trend, in report units (positive =
    net reduction), after Bowers & Johnson's total net effect. Values that need Cb or Ca are NaN when
    either is 0.
    """
    counts = {
        "a_before": a_before,
        "a_after": a_after,
        "b_before": b_before,
        "b_after": b_after,
        "c_before": c_before,
        "c_after": c_after,
    }
    for name, v in counts.items():
        if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating) or not v >= 0:
            raise ValueError(f"{name} must be a count >= 0, got {v!r}")
    if not zero_band >= 0:
        raise ValueError(f"zero_band must be >= 0, got {zero_band!r}")
    nan = float("nan")
    out = {**{k: v for k, v in counts.items()}}
    if c_before == 0 or c_after == 0:
        out.update(
            success_measure=nan,
            buffer_displacement_measure=nan,
            wdq=nan,
            control_ratio=nan,
            expected_a_after=nan,
            expected_b_after=nan,
            net_effect=nan,
            interpretation="The control area has no reports in one period: the measures are undefined.",
        )
        return out
    sm = a_after / c_after - a_before / c_before
    bdm = b_after / c_after - b_before / c_before
    wdq = bdm / sm if sm < 0 else nan
    ratio = c_after / c_before
    out.update(
        success_measure=sm,
        buffer_displacement_measure=bdm,
        wdq=wdq,
        control_ratio=ratio,
        expected_a_after=a_before * ratio,
        expected_b_after=b_before * ratio,
        net_effect=(a_before * ratio - a_after) + (b_before * ratio - b_after),
        interpretation=interpret_wdq(wdq, sm, zero_band=zero_band),
    )
    return out


def evaluation_periods(
    start: date,
    end: date | None,
    last: date,
    days_without_end: int = DEFAULT_PERIOD_DAYS,
    *,
    first: date | None = None,
) -> tuple[tuple[date, date], tuple[date, date]] | None:
    """Equal before and after periods round an activity's start date, for ``before_after``.

    The after period runs from ``start`` for the activity's length (``start`` to ``end`` inclusive), or
    ``days_without_end`` days when it has no end date; the before period is as long and ends the day
    before ``start``. Both are shortened alike so that the after period stops at ``last`` (the latest
    report) and, when ``first`` (the earliest report) is given, the before period does not start before
    it: days with no data would count as days with no reports. Returns ((before_from, before_to),
    (after_from, after_to)), inclusive dates, or None when no day of data lies on both sides of
    ``start``. Raises InvalidInput for an end before the start or a non-positive ``days_without_end``.
    """
    if end is not None and end < start:
        raise InvalidInput(f"end {end.isoformat()} is before start {start.isoformat()}")
    if days_without_end < 1:
        raise InvalidInput(f"days_without_end must be at least 1, got {days_without_end!r}")
    length = (end - start).days + 1 if end is not None else int(days_without_end)
    length = min(length, (last - start).days + 1)
    if first is not None:
        length = min(length, (start - first).days)
    if length < 1:
        return None
    before = (start - timedelta(days=length), start - timedelta(days=1))
    after = (start, start + timedelta(days=length - 1))
    return before, after


def before_after(
    reports: pd.DataFrame,
    target_cells: Iterable,
    buffer_cells: Iterable,
    before: tuple,
    after: tuple,
    control_cells: Iterable | None = None,
    filters: ReportFilter | None = None,
    *,
    zero_band: float = 0.05,
) -> dict:
    """Reports in target A, buffer B and control C before and after, and the WDQ (Bowers & Johnson 2003).

    ``target_cells``, ``buffer_cells`` and ``control_cells`` are H3 cells of any resolution up to 11
    (ints or hex strings); a report belongs to an area when its fine cell lies inside one of the area's
    cells. The areas must not overlap. ``control_cells`` defaults to every other located report (the
    rest of the study area). ``before`` and ``after`` are inclusive (start, end) date pairs, the before
    period ending before the after period starts; they need not be the same length, because each period
    is scaled by its own control count. Online reports are never counted (they have no place).

    Returns wdq_from_counts' keys plus before, after (the periods as ISO dates), before_days, after_days
    and n_target_cells, n_buffer_cells, n_control_cells (None for the default control).
    """
    b_lo, b_hi = window_bounds(before, "before")
    a_lo, a_hi = window_bounds(after, "after")
    if b_hi > a_lo:
        raise ValueError(f"before {before!r} must end before after {after!r} starts")
    target = [_one_cell(c, "target_cells") for c in target_cells]
    buffer = [_one_cell(c, "buffer_cells") for c in buffer_cells]
    if not target:
        raise ValueError("target_cells must hold at least one H3 cell")
    cell_col = reports["h3"].to_numpy()
    in_a = cells_mask(cell_col, target, name="target_cells")
    in_b = cells_mask(cell_col, buffer, name="buffer_cells")
    if control_cells is not None:
        control = [_one_cell(c, "control_cells") for c in control_cells]
        in_c = cells_mask(cell_col, control, name="control_cells")
    else:
        control = None
        in_c = ~(in_a | in_b)
    # Overlapping areas would count one report twice; catch it on the cells themselves, so an
    # overlap is refused even where no report happens to fall in it yet.
    _check_disjoint({"target_cells": target, "buffer_cells": buffer, "control_cells": control or []})
    base = filter_mask(reports, filters) & located(reports)
    t = reports["observed_at"].to_numpy(dtype="datetime64[ns]")
    in_before = base & (t >= b_lo) & (t < b_hi)
    in_after = base & (t >= a_lo) & (t < a_hi)
    out = wdq_from_counts(
        int((in_a & in_before).sum()),
        int((in_a & in_after).sum()),
        int((in_b & in_before).sum()),
        int((in_b & in_after).sum()),
        int((in_c & in_before).sum()),
        int((in_c & in_after).sum()),
        zero_band=zero_band,
    )
    out.update(
        before=(
            str(b_lo.astype("datetime64[D]")),
            str((b_hi - np.timedelta64(1, "D")).astype("datetime64[D]")),
        ),
        after=(
            str(a_lo.astype("datetime64[D]")),
            str((a_hi - np.timedelta64(1, "D")).astype("datetime64[D]")),
        ),
        before_days=int((b_hi - b_lo) / np.timedelta64(1, "D")),
        after_days=int((a_hi - a_lo) / np.timedelta64(1, "D")),
        n_target_cells=len(set(target)),
        n_buffer_cells=len(set(buffer)),
        n_control_cells=None if control is None else len(set(control)),
    )
    return out


def _check_disjoint(areas: dict[str, list[int]]) -> None:
    """Refuse areas that share ground: the same cell, or a cell inside another area's coarser cell."""
    names = list(areas)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            a = np.array(areas[first], dtype=np.int64)
            b = np.array(areas[second], dtype=np.int64)
            if not a.size or not b.size:
                continue
            hit = np.concatenate([a[cells_mask(a, b, name=second)], b[cells_mask(b, a, name=first)]])
            if hit.size:
                raise ValueError(
                    f"{first} and {second} overlap (cell {int(hit[0]):x}): the areas must be disjoint"
                )


# --- The disruption log (stored activities) ------------------------------------------------------------

# Tactics a disruption entry may record, with the words shown for each.
TACTICS = {
    "police_presence": "Increased police presence",
    "hotel_notice": "Hotel guest-information notice",
    "cawn": "Child Abduction Warning Notice",
    "closure_notice": "Closure notice",
    "licensing_review": "Licensing review",
    "cpn": "Community protection notice",
    "visits_engagement": "Visits and engagement",
    "other": "Other",
}


def add_disruption(
    engine: Engine,
    *,
    tactic: str,
    h3_cell: int,
    res: int,
    start_date,
    end_date=None,
    place_id: str | None = None,
    note: str | None = None,
    recorded_by: str | None = None,
) -> int:
    """Record a disruption activity against a hexagon (and optionally a place) and audit it; returns its id.

    ``tactic`` is a key of ``TACTICS``; ``end_date`` may be left open."""
    if tactic not in TACTICS:
        raise ValueError(f"tactic must be one of {', '.join(TACTICS)}, got {tactic!r}")
    if end_date is not None and end_date < start_date:
        raise ValueError(f"end_date {end_date} is before start_date {start_date}")

    with engine.begin() as conn:
        result = conn.execute(
            tables.disruptions.insert().values(
                tactic=tactic,
                place_id=place_id,
                h3=int(h3_cell),
                res=int(res),
                start_date=start_date,
                end_date=end_date,
                note=note,
                recorded_at=datetime.now(UTC).replace(tzinfo=None),
                recorded_by=recorded_by,
            )
        )
        disruption_id = int(result.inserted_primary_key[0])
        audit.record(
            conn,
            "disruption_added",
            actor=recorded_by,
            target=f"h3:{int(h3_cell):x}",
            details={"disruption_id": disruption_id, "tactic": tactic},
        )
    return disruption_id
