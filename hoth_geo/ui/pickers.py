"""Choosing a hexagon the way an officer knows it: by its streets, from the busiest ones, or by an H3 id
copied from a table (the Time page's "A hexagon", the Disruption log's hexagon target)."""

from __future__ import annotations

import streamlit as st

from hoth_geo import hexes
from hoth_geo.analysis import aggregate
from hoth_geo.ui import state
from hoth_geo.ui.text import md_escape

__all__ = ["BUSIEST_LISTED", "choose_hexagon", "hexagon_label"]

BUSIEST_LISTED = 50  # the hexagons offered by name: a list to scroll, not the whole map


@st.cache_data(show_spinner=False, max_entries=32)
def _busiest(key: tuple, res: int, _filters) -> list[tuple[int, int]]:
    table = aggregate.aggregate_hexes(state.reports(), res, _filters, breakdowns=False)
    top = table.sort_values(["count", "h3"], ascending=[False, True]).head(BUSIEST_LISTED)
    return [(int(c), int(n)) for c, n in zip(top["h3"], top["count"], strict=True)]


def hexagon_label(cell: int, where: str, reports: int) -> str:
    """A hexagon in a list to choose from: its streets (its id where no street is near) and its
    matching reports."""
    return f"{where or hexes.cell_to_str(cell)} ({reports:,} report{'s' if reports != 1 else ''})"


def choose_hexagon(res: int, filters, *, key: str, label: str = "Hexagon") -> int | None:
    """A hexagon at ``res`` chosen from the busiest under ``filters`` (named by their streets, with their
    matching reports), or typed as an H3 id (``key``, the text box's key), which wins when given;
    None until one is. A typed finer cell is widened to its parent at ``res``, a coarser one kept."""
    busiest = _busiest((state.version(), filters), int(res), filters)
    words = state.cell_descriptions(int(res), [c for c, _ in busiest])
    labels = {c: hexagon_label(c, w, n) for (c, n), w in zip(busiest, words, strict=True)}
    c1, c2 = st.columns([2, 1])
    picked = c1.selectbox(
        label,
        list(labels),
        format_func=lambda c: labels.get(c, hexes.cell_to_str(c)),
        index=None,
        placeholder="Choose one of the busiest hexagons" if labels else "No hexagon has matching reports",
        key=f"{key}_busiest",
    )
    typed = c2.text_input(
        "…or an H3 cell id",
        key=key,
        placeholder="e.g. 8819464e2dfffff",
        help="Copied from a table or an export.",
    ).strip()
    if typed:
        try:
            return hexes.parse_cell(typed, res)
        except ValueError:
            st.error(
                f"'{md_escape(typed[:40])}' is not an H3 cell id: choose a hexagon from the list, or copy its id."
            )
            return None
    return picked
