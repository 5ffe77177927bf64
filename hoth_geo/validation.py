"""Argument checks shared by the library: one definition of each rule, so two functions given the
same wrong value refuse it the same way. Each raises ``ValueError`` naming the argument and the value
(a programming error; conditions a person can act on are in ``hoth_geo.errors``).

- ``check_choice``: a value out of a fixed set.
- ``as_day``: a date (anything ``pd.Timestamp`` reads) as midnight of that calendar day.
- ``check_grid``: an analysis grid of H3 cells.
- ``check_frames``: the analysis-frame contract (``store.load_reports``, ``pipeline.all_places``).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from hoth_geo.hexes import cell_resolutions

__all__ = [
    "check_choice",
    "as_day",
    "check_grid",
    "check_frames",
    "REPORT_FRAME_COLUMNS",
    "PLACE_FRAME_COLUMNS",
]

# What the analysis functions read from the frames (each function names the ones it needs).
REPORT_FRAME_COLUMNS = (
    "observed_at",
    "time_known",
    "date_approximate",
    "online",
    "h3",
    "place_id",
    "agency",
    "concerns_mask",
)
PLACE_FRAME_COLUMNS = ("place_id", "name", "place_type", "locality")


def check_choice(value, name: str, choices: Iterable) -> None:
    """Refuse ``value`` unless it is one of ``choices``."""
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(str, choices))}, got {value!r}")


def as_day(value, name: str) -> pd.Timestamp:
    """Midnight (time-zone naive) of the calendar day ``value`` falls on, where it is given; a
    time-zone-aware value keeps its own calendar day, not UTC's."""
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a date, got {value!r}") from exc
    if pd.isna(ts):
        raise ValueError(f"{name} must be a date, got {value!r}")
    return ts.normalize().tz_localize(None) if ts.tzinfo else ts.normalize()


def check_grid(grid_cells, res: int | None = None, *, name: str = "grid_cells") -> tuple[np.ndarray, int]:
    """Sorted unique int64 cells of one resolution (``res`` when given) and that resolution.

    Refuses an empty or non-integer array, 0 (no cell) and mixed resolutions."""
    arr = np.asarray(grid_cells)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of H3 cells, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold int64 H3 cells, got dtype {arr.dtype}")
    arr = np.unique(arr.astype(np.int64, copy=False))
    if arr[0] == 0:
        raise ValueError(f"{name} must not contain 0 (no cell)")
    found = np.unique(cell_resolutions(arr))
    if res is not None and (found != res).any():
        raise ValueError(
            f"{name} must all be at res={res}, got a cell at resolution {int(found[found != res][0])}"
        )
    if found.size != 1:
        raise ValueError(f"{name} must hold cells of one resolution, got resolutions {found.tolist()}")
    return arr, int(found[0])


def check_frames(
    reports: pd.DataFrame | None = None,
    places: pd.DataFrame | None = None,
    *,
    report_columns: Iterable[str] = (),
    place_columns: Iterable[str] = (),
) -> None:
    """The analysis-frame contract: ``reports`` is the ``store.load_reports`` frame with
    ``report_columns``, ``places`` the ``pipeline.all_places`` frame with ``place_columns`` (each
    checked when given)."""
    for frame, label, source, columns in (
        (reports, "reports", "store.load_reports", report_columns),
        (places, "places", "pipeline.all_places", place_columns),
    ):
        if frame is None:
            continue
        if not isinstance(frame, pd.DataFrame):
            raise ValueError(f"{label} must be the {source} frame, got {type(frame).__name__}")
        for col in columns:
            if col not in frame.columns:
                raise ValueError(f"{label} is missing column {col!r} (expected the {source} frame)")
