"""Individual reports, for the roles allowed to see them, with every view recorded in the audit log.

This is the one way the app reads report rows (narratives included): the role check and the audit
entry live here, in the library, so no page can show a report row without both.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from hoth_geo import store
from hoth_geo.access import audit
from hoth_geo.access.auth import User
from hoth_geo.access.privacy import NotAllowed
from hoth_geo.hexes import cells_to_parent
from hoth_geo.schema import same_words
from hoth_geo.selection import ReportFilter, filter_mask, located

__all__ = [
    "REPORT_COLUMNS",
    "NARRATIVE_COLUMNS",
    "MAX_ROWS",
    "ids_in_hex",
    "view_reports",
    "times_in_words",
]

# What a report list shows, in order; narrative and child reference only with view_narratives.
REPORT_COLUMNS = (
    "id",
    "source_ref",
    "observed_at",
    "time_known",
    "time_text",
    "agency",
    "agency_type",
    "place_name",
    "place_type",
    "location_text",
    "concerns",
    "indicators",
    "grading_source",
    "grading_information",
    "grading_handling",
    "geocode_method",
    "precision_m",
)
NARRATIVE_COLUMNS = ("narrative", "child_ref")
MAX_ROWS = 500  # a longer list is a table for an export, not a screen


def ids_in_hex(reports: pd.DataFrame, cell: int, res: int, filters: ReportFilter | None = None) -> np.ndarray:
    """Ids of the located reports matching ``filters`` whose hexagon at ``res`` is ``cell``, newest first."""
    keep = filter_mask(reports, filters) & located(reports, res)
    keep &= cells_to_parent(reports["h3"].to_numpy(), res) == np.int64(cell)
    sub = reports.loc[keep, ["id", "observed_at"]].sort_values("observed_at", ascending=False)
    return sub["id"].to_numpy()


def view_reports(engine: Engine, ids, user: User, *, target: str) -> pd.DataFrame:
    """The report rows ``user`` may read, newest first, recorded as viewed (and narratives as read).

    Raises ``NotAllowed`` for a role without ``view_reports`` (partners, admins without a data role).
    """
    if not user.can("view_reports"):
        raise NotAllowed(f"role {user.roles!r} may not view individual reports")
    ids = [int(i) for i in list(ids)[:MAX_ROWS]]
    with_narratives = user.can("view_narratives")
    columns = list(REPORT_COLUMNS) + (list(NARRATIVE_COLUMNS) if with_narratives else [])
    # Only these columns, by id: the free text is read from the database for the reports opened.
    rows = store.report_details(engine, ids, columns)
    rows = rows.sort_values("observed_at", ascending=False, ignore_index=True)
    details = {"report_ids": ids, "n": len(ids)}
    audit.record(engine, "report_viewed", actor=user.username, target=target, details=details)
    if with_narratives and len(ids):
        audit.record(engine, "narrative_viewed", actor=user.username, target=target, details=details)
    return rows


def times_in_words(engine: Engine, ids, user: User, *, target: str) -> pd.DataFrame:
    """The times of day reports ``ids`` gave only in words ("after school"), with how many reports
    gave each (``words``, ``reports``; most first), recorded as viewed. The same words in other capitals
    or spacing count as one, shown as most reports wrote them.

    Raises ``NotAllowed`` for a role without ``view_reports``: the words are free text.
    """
    if not user.can("view_reports"):
        raise NotAllowed(f"role {user.roles!r} may not view individual reports")
    ids = [int(i) for i in ids]
    rows = store.report_details(engine, ids, ["id", "time_text"])
    written = rows["time_text"].dropna().astype(object).map(lambda t: " ".join(str(t).split()))
    spellings = pd.DataFrame({"words": written, "same": written.map(same_words)})
    counts = spellings.value_counts(["same", "words"]).reset_index(name="n")
    # The most common spelling of each, ties to the first in order of text.
    counts = counts.sort_values(["same", "n", "words"], ascending=[True, False, True])
    table = counts.groupby("same", sort=False).agg(words=("words", "first"), reports=("n", "sum"))
    table = table.sort_values(["reports", "words"], ascending=[False, True], ignore_index=True)
    details = {"report_ids": ids, "n": len(ids), "columns": ["time_text"]}
    audit.record(engine, "report_viewed", actor=user.username, target=target, details=details)
    return table
