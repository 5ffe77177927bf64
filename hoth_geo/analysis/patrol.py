"""The patrol plan: where and when to be, for presence-based disruption.

Each located report adds a *weight* to its hex:

    weight  = recency x grading weight
    recency = 1/2 + 1/2 * exp(-ln 2 * age_days / half_life_days)
    grading weight = source weight x information weight   (DEFAULT_GRADING_WEIGHTS, adjustable)

Recency breaks ties and near-ties, it never outweighs a cluster: a new report counts 1, one
``half_life_days`` old 3/4, and no report ever less than 1/2 (``RECENCY_FLOOR``). So among reports of one
grading, a slot is never ranked above a slot with more than twice its reports because its reports are
newer: one report from yesterday cannot outrank nine at a taxi rank from last year, while of two slots
with equal counts the more recent comes first. An officer plans presence where harm clusters; a single
fresh report is a reason to look, not the top of a plan.

A candidate slot is (hex at ``res``, day of week, start hour) covering ``slot_hours`` consecutive hours;
the hours run on round the clock and round the week, so Friday 23:00 for two hours covers Friday 23:00
and Saturday 00:00, and Sunday 23:00 covers Monday 00:00. Only reports whose time of day is known pick
an hour: they add their weight to the slots covering their hour of the week. A report with a date but no
time adds its weight to the hex's all-week baseline, spread evenly over the 168 hours of the week
(weight x slot_hours / 168 to every slot of the hex): it makes the hex more likely to be chosen but never
moves the choice of hour. A slot is a candidate only if at least one time-known report falls in it.

Slots are chosen greedily, best score first, with spreading: at most ``max_slots_per_hex`` slots in a
hex and no two chosen slots of a hex overlapping in time, so the plan covers different places and times
instead of stacking officers on one corner. Slots of one hex never overlap, so no report is counted in
two chosen slots.

Everything runs on numpy arrays: a (hex x 168 hours) weight matrix from one ``np.bincount``, slot sums by
``slot_hours`` circular shifts, and a partial sort of the candidates.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from datetime import date, datetime

import numpy as np
import pandas as pd

from hoth_geo import settings
from hoth_geo.access.privacy import neutralise_frame
from hoth_geo.errors import InvalidInput
from hoth_geo.hexes import cell_resolutions, cells_to_parent, check_res, latlng_to_cells
from hoth_geo.schema import CONCERNS, GRADING_INFORMATION, GRADING_SOURCE, PLACE_TYPES, key_totals
from hoth_geo.selection import ReportFilter, filter_mask, located
from hoth_geo.validation import as_day, check_frames

__all__ = [
    "DEFAULT_GRADING_WEIGHTS",
    "DAY_NAMES",
    "RECENCY_FLOOR",
    "report_weights",
    "slot_scores",
    "patrol_plan",
    "plan_to_csv",
    "plan_window",
    "plan_by_hexagon",
    "places_in_cells",
    "cells_mask",
    "window_bounds",
]

HOURS_PER_WEEK = 168
# The least a report's recency can make it count: recency may halve a report, never do more, so
# newer reports cannot outrank a cluster of more than twice as many older ones (see module docstring).
RECENCY_FLOOR = 0.5
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

# Grading weights: how much a report counts by the 3x5x2 grading. Source 1 (reliable) counts fully,
# 2 (untested) 0.8, 3 (not reliable) 0.5; information A (known directly) 1.0 down to E (suspected
# false) 0.4. A report with no grading counts as source 2 / information C: an ungraded source is by
# definition untested, and C is the middle of the information scale.
DEFAULT_GRADING_WEIGHTS: dict[str, dict[str, float]] = {
    "source": {"1": 1.0, "2": 0.8, "3": 0.5},
    "information": {"A": 1.0, "B": 0.85, "C": 0.7, "D": 0.55, "E": 0.4},
}
_UNGRADED = {"source": "2", "information": "C"}

# Short words for the 'why' text.
_CONCERN_WORDS = {
    "cce": "CCE",
    "cse": "CSE",
    "missing": "missing episodes",
    "drugs_alcohol": "drugs/alcohol",
    "weapons": "weapons",
    "people_of_concern": "people of concern",
    "online_harm": "online harm",
    "radicalisation": "radicalisation",
    "asb": "ASB",
    "trafficking": "trafficking",
    "other": "other concerns",
}
_PLACE_WORDS = {
    "park": "parks",
    "hotel": "hotels",
    "takeaway": "takeaways",
    "taxi": "taxi ranks",
    "shop": "shops",
    "shopping_centre": "shopping centres",
    "school": "schools",
    "transport_hub": "transport hubs",
    "car_park": "car parks",
    "licensed_premises": "licensed premises",
    "leisure": "leisure venues",
    "petrol_station": "petrol stations",
    "health": "health sites",
    "residential_street": "residential streets",
    "online": "online",
    "other": "other places",
}

PLAN_COLUMNS = [
    "slot",
    "h3",
    "day_of_week",
    "day",
    "start_hour",
    "end_hour",
    "window",
    "score",
    "reports",
    "agencies",
    "unknown_time_reports",
    "places_in_hex",
    "why",
]


# --- Validation -------------------------------------------------------------------------------------


def _positive_int(value, name: str, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if hi is not None and value > hi:
        raise ValueError(f"{name} must be at most {hi}, got {value!r}")
    return int(value)


def _as_day(value, name: str) -> np.datetime64:
    return np.datetime64(as_day(value, name).to_datetime64(), "ns")


def window_bounds(window, name: str = "window") -> tuple[np.datetime64, np.datetime64]:
    """(start, end-exclusive) datetime64 bounds of an inclusive (start date, end date) pair."""
    if not isinstance(window, tuple | list) or len(window) != 2:
        raise ValueError(f"{name} must be a (start, end) pair of dates, got {window!r}")
    lo = _as_day(window[0], f"{name} start")
    hi = _as_day(window[1], f"{name} end")
    if lo > hi:
        raise ValueError(f"{name} start {window[0]} is after its end {window[1]}")
    return lo, hi + np.timedelta64(1, "D")


def _check_half_life(value) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"half_life_days must be a number > 0 (inf for no recency weighting), got {value!r}")


def _as_of(value) -> np.datetime64:
    """A ``date`` means the end of that day; anything else is read by pd.Timestamp as an instant."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return _as_day(value, "as_of") + np.timedelta64(1, "D")
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"as_of must be a date or datetime, got {value!r}") from exc
    if pd.isna(ts):
        raise ValueError(f"as_of must be a date or datetime, got {value!r}")
    return np.datetime64(ts.to_datetime64(), "ns")


def _merge_weights(grading_weights: dict | None) -> dict[str, dict[str, float]]:
    merged = {k: dict(v) for k, v in DEFAULT_GRADING_WEIGHTS.items()}
    if grading_weights is None:
        return merged
    if not isinstance(grading_weights, dict):
        raise ValueError(f"grading_weights must be a dict, got {grading_weights!r}")
    vocab = {"source": GRADING_SOURCE, "information": GRADING_INFORMATION}
    for part, values in grading_weights.items():
        if part not in vocab or not isinstance(values, dict):
            raise ValueError(
                f"grading_weights: expected {{'source': {{...}}, 'information': {{...}}}}, got key {part!r}"
            )
        for grade, w in values.items():
            if str(grade) not in vocab[part]:
                raise ValueError(
                    f"grading_weights[{part!r}]: unknown grade {grade!r}; expected one of {', '.join(vocab[part])}"
                )
            if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w) or w < 0:
                raise ValueError(f"grading_weights[{part!r}][{grade!r}] must be a number >= 0, got {w!r}")
            merged[part][str(grade)] = float(w)
    return merged


def _grade_weight(column: pd.Series, table: dict[str, float], ungraded: float) -> np.ndarray:
    # Look up each distinct grade once and index by the codes: mapping a million strings is slow.
    codes, uniques = pd.factorize(pd.Series(column, copy=False))
    lookup = np.array([table.get(str(u), ungraded) for u in uniques] + [ungraded], dtype=np.float64)
    return lookup[codes]  # code -1 (missing) picks the trailing 'ungraded' entry


def report_weights(
    reports: pd.DataFrame,
    *,
    as_of,
    half_life_days: float = 28.0,
    grading_weights: dict | None = None,
) -> np.ndarray:
    """Each report's weight: recency to ``as_of`` x grading weight (see module docstring).

    Recency runs from 1 (age 0) down towards ``RECENCY_FLOOR`` (1/2): the part above the floor halves
    every ``half_life_days``. Reports after ``as_of`` get age 0 (callers leave them out).
    ``half_life_days=math.inf`` switches recency off (every report counts 1 before grading).
    """
    _check_half_life(half_life_days)
    weights = _merge_weights(grading_weights)
    t = reports["observed_at"].to_numpy(dtype="datetime64[ns]")
    ref = np.datetime64(pd.Timestamp(as_of).to_datetime64(), "ns")
    age_days = np.maximum((ref - t) / np.timedelta64(1, "D"), 0.0)
    if math.isfinite(half_life_days):
        fading = np.exp(-math.log(2) * age_days / half_life_days)
        recency = RECENCY_FLOOR + (1.0 - RECENCY_FLOOR) * fading
    else:
        recency = 1.0
    src = _grade_weight(reports["grading_source"], weights["source"], weights["source"][_UNGRADED["source"]])
    info = _grade_weight(
        reports["grading_information"],
        weights["information"],
        weights["information"][_UNGRADED["information"]],
    )
    return recency * src * info


def cells_mask(report_cells: np.ndarray, cells: Iterable[int], *, name: str = "cells") -> np.ndarray:
    """True where a report's cell lies inside (or is) any of ``cells`` (cells of any resolution <= 11).

    Each report cell's ancestor at each resolution present in ``cells`` is looked up, so an area may mix
    coarse and fine hexes.
    """
    arr = np.asarray(report_cells, dtype=np.int64)
    wanted = np.unique(np.asarray(list(cells), dtype=np.int64))
    if wanted.size and (wanted == 0).any():
        raise ValueError(f"{name} must not contain 0 (no cell)")
    try:
        res = cell_resolutions(wanted)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from exc
    if (res > settings.FINE_H3_RES).any():
        bad = int(wanted[res > settings.FINE_H3_RES][0])
        raise ValueError(f"{name} holds cell {bad:x} finer than the stored resolution {settings.FINE_H3_RES}")
    out = np.zeros(arr.shape, dtype=bool)
    own_res = cell_resolutions(arr)
    for r in np.unique(res):
        # A cell coarser than an area cell cannot lie inside it (and 0, no cell, lies nowhere).
        fits = own_res >= r
        if fits.all():
            out |= np.isin(cells_to_parent(arr, int(r)), wanted[res == r])
        elif fits.any():
            out[fits] |= np.isin(cells_to_parent(arr[fits], int(r)), wanted[res == r])
    return out


# --- Slot scores ------------------------------------------------------------------------------------


def _hour_of_week(t: np.ndarray) -> np.ndarray:
    """0..167, Monday 00:00 = 0, from datetime64[ns] values."""
    minutes = t.astype("datetime64[m]").astype(np.int64)
    days = minutes // 1440
    # 1970-01-01 was a Thursday (Monday = 0 -> Thursday = 3).
    return ((days + 3) % 7) * 24 + (minutes % 1440) // 60


def _circular_window_sum(matrix: np.ndarray, width: int) -> np.ndarray:
    """out[:, s] = sum of matrix[:, (s + j) % 168] for j < width: a slot starting at s."""
    out = matrix.copy()
    for j in range(1, width):
        out += np.roll(matrix, -j, axis=1)
    return out


class _Slots:
    """The selected reports and the (hex x 168) slot arrays patrol_plan and slot_scores share."""

    def __init__(
        self,
        reports: pd.DataFrame,
        *,
        slot_hours: int,
        window,
        res: int,
        area_cells,
        half_life_days: float,
        grading_weights: dict | None,
        filters: ReportFilter | None,
        as_of,
    ) -> None:
        check_frames(
            reports,
            report_columns=(
                "observed_at",
                "time_known",
                "h3",
                "online",
                "grading_source",
                "grading_information",
            ),
        )
        self.slot_hours = _positive_int(slot_hours, "slot_hours", 24)
        res = check_res(res)
        if res > settings.FINE_H3_RES:
            raise ValueError(f"res must be at most the stored resolution {settings.FINE_H3_RES}, got {res}")
        self.res = res
        _check_half_life(half_life_days)
        keep = filter_mask(reports, filters) & located(reports, res)
        t = reports["observed_at"].to_numpy(dtype="datetime64[ns]")
        if window is not None:
            lo, hi = window_bounds(window)
            keep &= (t >= lo) & (t < hi)
        if as_of is None:
            if window is not None:
                ref = hi  # the end of the window's last day
            else:
                ref = t[keep].max() if keep.any() else np.datetime64("NaT")
        else:
            ref = _as_of(as_of)
            keep &= t < ref  # a plan as of a date cannot use reports from after it
        if area_cells is not None:
            keep &= cells_mask(reports["h3"].to_numpy(), area_cells, name="area_cells")
        self.index = np.flatnonzero(keep)
        # Only the columns scoring needs: copying whole rows costs more than the scoring at 1M reports.
        sub = reports[["observed_at", "h3", "time_known", "grading_source", "grading_information"]].iloc[
            self.index
        ]
        self.weights = (
            report_weights(sub, as_of=ref, half_life_days=half_life_days, grading_weights=grading_weights)
            if len(sub)
            else np.zeros(0)
        )
        self.as_of = ref
        # The start of the reporting the plan draws on, for "in the last N weeks".
        self.since = lo if window is not None else (t[keep].min() if keep.any() else ref)
        cells = cells_to_parent(sub["h3"].to_numpy(), res)
        self.codes, uniques = pd.factorize(cells)
        self.hexes = np.asarray(uniques, dtype=np.int64)
        n_hex = len(self.hexes)
        self.time_known = sub["time_known"].to_numpy(dtype=bool)
        self.how = _hour_of_week(t[self.index])
        tk = self.time_known
        flat = self.codes[tk].astype(np.int64) * HOURS_PER_WEEK + self.how[tk]
        size = n_hex * HOURS_PER_WEEK
        # astype: np.bincount returns int64 for an empty input even when given float weights.
        hourly_w = np.bincount(flat, weights=self.weights[tk], minlength=size).astype(np.float64)
        hourly_w = hourly_w.reshape(n_hex, HOURS_PER_WEEK)
        hourly_n = np.bincount(flat, minlength=size).reshape(n_hex, HOURS_PER_WEEK)
        self.baseline = np.bincount(self.codes[~tk], weights=self.weights[~tk], minlength=n_hex).astype(
            np.float64
        )
        self.unknown_n = np.bincount(self.codes[~tk], minlength=n_hex)
        self.score = _circular_window_sum(hourly_w, self.slot_hours)
        self.score += (self.baseline * self.slot_hours / HOURS_PER_WEEK)[:, None]
        self.count = _circular_window_sum(hourly_n, self.slot_hours)
        self.reports = reports


def slot_scores(
    reports: pd.DataFrame,
    *,
    slot_hours: int = 2,
    window=None,
    res: int = 9,
    area_cells=None,
    half_life_days: float = 28.0,
    grading_weights: dict | None = None,
    filters: ReportFilter | None = None,
    as_of=None,
) -> pd.DataFrame:
    """Every candidate slot with at least one time-known report: h3, day_of_week (0 = Monday),
    start_hour, score, reports (time-known reports in the slot), baseline (the hex's unknown-time
    weight, before spreading over the week). Best first. Arguments as for ``patrol_plan``."""
    s = _Slots(
        reports,
        slot_hours=slot_hours,
        window=window,
        res=res,
        area_cells=area_cells,
        half_life_days=half_life_days,
        grading_weights=grading_weights,
        filters=filters,
        as_of=as_of,
    )
    hex_i, start = np.nonzero(s.count > 0)
    out = pd.DataFrame(
        {
            "h3": s.hexes[hex_i],
            "day_of_week": start // 24,
            "start_hour": start % 24,
            "score": s.score[hex_i, start],
            "reports": s.count[hex_i, start].astype(np.int64),
            "baseline": s.baseline[hex_i],
        }
    )
    return out.sort_values(
        ["score", "h3", "day_of_week", "start_hour"], ascending=[False, True, True, True], ignore_index=True
    )


# --- The plan ---------------------------------------------------------------------------------------


def _window_text(start: int, width: int) -> str:
    """'Fri 17:00–19:00', 'Fri 22:00–24:00', 'Fri 23:00–Sat 01:00' for a start hour of the week."""
    day, hour = divmod(start, 24)
    end = start + width
    end_day, end_hour = divmod(end % HOURS_PER_WEEK, 24)
    if end - day * 24 <= 24:
        return f"{DAY_NAMES[day]} {hour:02d}:00–{(end - day * 24):02d}:00"
    return f"{DAY_NAMES[day]} {hour:02d}:00–{DAY_NAMES[end_day]} {end_hour:02d}:00"


def _mostly(counts: pd.Series, words: dict[str, str]) -> str:
    """'mostly CSE' when one value is at least half, else 'CSE and CCE'; '' when there is none."""
    counts = counts[counts > 0].sort_values(ascending=False, kind="stable")
    if counts.empty:
        return ""
    first = words.get(counts.index[0], str(counts.index[0]))
    if counts.iloc[0] * 2 >= counts.sum() or len(counts) == 1:
        return f"mostly {first}"
    return f"{first} and {words.get(counts.index[1], str(counts.index[1]))}"


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def _top_places(place_ids: np.ndarray, names: pd.Series, k: int = 3) -> str:
    ids = pd.Series(place_ids[pd.notna(place_ids)], dtype=object)
    if ids.empty:
        return ""
    counts = ids.value_counts()
    counts = counts.sort_index(kind="stable").sort_values(ascending=False, kind="stable").head(k)
    return "; ".join(f"{names.get(pid, pid)} ({n})" for pid, n in counts.items())


def patrol_plan(
    reports: pd.DataFrame,
    places: pd.DataFrame,
    *,
    slots: int = 10,
    slot_hours: int = 2,
    window=None,
    res: int = 9,
    area_cells=None,
    half_life_days: float = 28.0,
    grading_weights: dict | None = None,
    max_slots_per_hex: int = 2,
    filters: ReportFilter | None = None,
    as_of=None,
) -> pd.DataFrame:
    """The best ``slots`` (hex, day, hours) for presence, chosen greedily with spreading.

    - ``window``: (start, end) dates, inclusive; only reports observed in it are used (default: all).
    - ``as_of``: the date recency is measured to (a date means the end of that day); default the end
      of ``window``, else the latest report used. Reports after ``as_of`` are left out.
    - ``area_cells``: H3 cells (any resolution <= 11) to plan within; default everywhere.
    - ``half_life_days``: recency half-life (a report this old counts 3/4, none less than 1/2, so a
      slot never outranks one with more than twice its reports by being newer); ``math.inf`` weighs
      all reports alike.
    - ``grading_weights``: overrides of ``DEFAULT_GRADING_WEIGHTS``, e.g. ``{'source': {'3': 0.2}}``.

    Columns: slot (1 = best), h3 (int64 at ``res``), day_of_week (0 = Monday), day ('Fri'),
    start_hour, end_hour (may be smaller than start_hour: the slot runs past midnight into the next
    day), window ('Fri 23:00–Sat 01:00'), score (weighted reports: time-known in the slot plus the
    hex's spread unknown-time baseline; orders the slots), reports (time-known reports in the slot,
    over all weeks), agencies (distinct reporting agencies among them), unknown_time_reports (in the hex), places_in_hex (the places most reported in the slot, with
    counts), why (a short reason).
    """
    slots = _positive_int(slots, "slots")
    max_slots_per_hex = _positive_int(max_slots_per_hex, "max_slots_per_hex")
    check_frames(places=places, place_columns=("place_id", "name"))
    s = _Slots(
        reports,
        slot_hours=slot_hours,
        window=window,
        res=res,
        area_cells=area_cells,
        half_life_days=half_life_days,
        grading_weights=grading_weights,
        filters=filters,
        as_of=as_of,
    )
    width = s.slot_hours
    cand = np.flatnonzero(s.count.ravel() > 0)  # flat index hex * 168 + hour of week
    cand_score = s.score.ravel()[cand]
    # Each accepted slot can block only candidates of its own hex (168 at most), so the best
    # slots * 169 candidates always hold the greedy answer: sort only those.
    n_look = min(len(cand), slots * (HOURS_PER_WEEK + 1))
    if n_look < len(cand):
        part = np.argpartition(-cand_score, n_look - 1)[:n_look]
        # Keep every candidate tied with the cut-off too, so tie-breaking matches a full sort.
        keep = cand_score >= cand_score[part].min()
        cand, cand_score = cand[keep], cand_score[keep]
    # Best score first; ties by H3 index then hour of week (as slot_scores), so the plan is reproducible.
    top = cand[np.lexsort((cand % HOURS_PER_WEEK, s.hexes[cand // HOURS_PER_WEEK], -cand_score))]

    chosen: list[tuple[int, int]] = []
    per_hex: dict[int, list[int]] = {}
    for flat in top.tolist():
        h, start = divmod(flat, HOURS_PER_WEEK)
        taken = per_hex.setdefault(h, [])
        if len(taken) >= max_slots_per_hex:
            continue
        # Two slots of one hex overlap when their starts are less than slot_hours apart round the week.
        if any(min((start - o) % HOURS_PER_WEEK, (o - start) % HOURS_PER_WEEK) < width for o in taken):
            continue
        taken.append(start)
        chosen.append((h, start))
        if len(chosen) == slots:
            break

    names = places.drop_duplicates("place_id").set_index("place_id")["name"]
    span_days = (s.as_of - s.since) / np.timedelta64(1, "D") if len(s.index) else 0.0
    weeks = max(1, math.ceil(float(span_days) / 7)) if np.isfinite(span_days) else 1
    # Reports grouped by hex once, so each chosen slot looks only at its own hex's reports.
    order = np.argsort(s.codes, kind="stable")
    bounds = np.searchsorted(s.codes[order], np.arange(len(s.hexes) + 1))
    rows = []
    for i, (h, start) in enumerate(chosen, start=1):
        in_hex = order[bounds[h] : bounds[h + 1]]
        in_slot = in_hex[s.time_known[in_hex] & (((s.how[in_hex] - start) % HOURS_PER_WEEK) < width)]
        # Text columns are read for the chosen slots' reports only, never for the whole frame.
        slot_rows = s.reports.iloc[s.index[in_slot]]
        places_text = _top_places(slot_rows["place_id"].to_numpy(dtype=object), names)
        if not places_text:
            hex_ids = s.reports["place_id"].iloc[s.index[in_hex]].to_numpy(dtype=object)
            places_text = _top_places(hex_ids, names)
        parts = []
        if "concerns_mask" in slot_rows:
            masks = slot_rows["concerns_mask"].to_numpy()
            concern_counts = pd.Series(key_totals(masks, CONCERNS), index=list(CONCERNS), dtype=np.int64)
            parts.append(_mostly(concern_counts, _CONCERN_WORDS))
        if "place_type" in slot_rows:
            types = pd.Series(slot_rows["place_type"].to_numpy(dtype=object), dtype=object).dropna()
            types = types[types.isin(list(PLACE_TYPES))].value_counts()
            place_part = _mostly(types, _PLACE_WORDS)
            if place_part:
                parts.append(
                    "at " + place_part.removeprefix("mostly ") if parts and parts[-1] else place_part
                )
        score = float(s.score[h, start])
        n_slot = int(s.count[h, start])
        n_agencies = int(slot_rows["agency"].nunique()) if "agency" in slot_rows else 0
        # Said in reports, as an officer counts them; the weighting only orders the slots.
        text = f"{_plural(n_slot, 'report')} at these hours in the last {_plural(weeks, 'week')}"
        if n_agencies:
            text += f" from {_plural(n_agencies, 'agency', 'agencies')}"
        if s.unknown_n[h]:
            text += f" (and {int(s.unknown_n[h])} here at unknown times)"
        detail = " ".join(p for p in parts if p)
        day, hour = divmod(start, 24)
        window_text = _window_text(start, width)
        rows.append(
            {
                "slot": i,
                "h3": int(s.hexes[h]),
                "day_of_week": day,
                "day": DAY_NAMES[day],
                "start_hour": hour,
                "end_hour": (hour + width) % 24,
                "window": window_text,
                "score": round(score, 3),
                "reports": n_slot,
                "agencies": n_agencies,
                "unknown_time_reports": int(s.unknown_n[h]),
                "places_in_hex": places_text,
                "why": ", ".join(p for p in (text, detail, window_text) if p),
            }
        )
    plan = pd.DataFrame(rows, columns=PLAN_COLUMNS)
    return plan.astype(
        {"slot": np.int64, "h3": np.int64, "day_of_week": np.int64, "reports": np.int64, "agencies": np.int64}
    )


# --- The plan as the app shows it ---------------------------------------------------------------------------


def plan_window(filters: ReportFilter | None) -> tuple[date, date] | None:
    """The ``window`` argument of ``patrol_plan`` for a selection: its dates when it has both a start
    and an end, else None (the plan then runs to the latest report)."""
    if filters is None or filters.date_from is None or filters.date_to is None:
        return None
    return (filters.date_from, filters.date_to)


def plan_by_hexagon(plan: pd.DataFrame) -> pd.DataFrame:
    """One row per hexagon of a plan (a hexagon holds up to ``max_slots_per_hex`` slots), for its map.

    Columns: h3; reports (the sum over its slots: slots of one hexagon never overlap, so no report is
    counted twice); slots ('1, 4'); window ('; '-joined); why (' | '-joined); and where (the first), when
    the plan carries a 'where' column of hexagon descriptions. Hexagons keep the order of their best slot.
    """
    if not isinstance(plan, pd.DataFrame):
        raise InvalidInput(f"plan must be a DataFrame from patrol_plan, got {type(plan).__name__}")
    missing = [c for c in ("h3", "slot", "reports", "window", "why") if c not in plan.columns]
    if missing:
        raise InvalidInput(f"plan is missing column {missing[0]!r} (expected a patrol_plan frame)")
    aggs = {
        "reports": ("reports", "sum"),
        "slots": ("slot", lambda s: ", ".join(str(x) for x in s)),
        "window": ("window", "; ".join),
        "why": ("why", " | ".join),
    }
    if "where" in plan.columns:
        aggs["where"] = ("where", "first")
    return plan.groupby("h3", sort=False).agg(**aggs).reset_index()


def places_in_cells(
    reports: pd.DataFrame,
    places: pd.DataFrame,
    cells: Iterable[int],
    res: int,
    filters: ReportFilter | None = None,
) -> pd.DataFrame:
    """The reported places (``places.top_places`` with no limit) whose point lies in one of ``cells``
    (H3 cells at ``res``), as map markers that stay visible at county zoom.

    Columns: place_id, name, place_type, count (reports matching ``filters``), latitude, longitude."""
    from hoth_geo.analysis.places import top_places

    wanted = np.fromiter((int(c) for c in cells), dtype=np.int64)
    ranked = top_places(reports, places, filters, limit=None)
    ranked = ranked[["place_id", "name", "place_type", "count", "latitude", "longitude"]]
    cell = latlng_to_cells(ranked["latitude"].to_numpy(), ranked["longitude"].to_numpy(), check_res(res))
    return ranked[np.isin(cell, wanted)].reset_index(drop=True)


# --- Export -----------------------------------------------------------------------------------------


def plan_to_csv(plan: pd.DataFrame, *, marking: str | None = None, demo: bool = False) -> bytes:
    """The plan as UTF-8 CSV (with a BOM so spreadsheets read the dashes right).

    Text cells that a spreadsheet would run as a formula are prefixed with "'". The h3 column is written
    as the H3 hex string: spreadsheets keep only 15 significant digits, which would corrupt the int64.
    A ``marking`` (e.g. 'OFFICIAL-SENSITIVE') and, for the demo set, ``demo`` are written as lines
    above the header, so the file says what it is wherever it is opened.
    """
    if not isinstance(plan, pd.DataFrame):
        raise ValueError(f"plan must be a DataFrame from patrol_plan, got {type(plan).__name__}")
    out = plan.copy()
    if "h3" in out.columns:
        out["h3"] = [format(int(c), "x") for c in out["h3"]]
    out = neutralise_frame(out)
    buf = io.StringIO()
    preamble = []
    if marking:
        preamble.append(f"Protective marking: {marking}")
    if demo:
        preamble.append(f"{settings.DEMO_LABEL}: the reports behind this plan are synthetic")
    for line in neutralise_frame(pd.DataFrame({"line": preamble}))["line"]:
        buf.write(f"{line}\r\n")
    if preamble:
        buf.write("\r\n")
    out.to_csv(buf, index=False, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    return buf.getvalue().encode("utf-8-sig")
