"""Column settings the app's data grids share, so one kind of value reads the same on every page."""

from __future__ import annotations

import streamlit as st

__all__ = ["H3_ID_CHARS", "H3_COLUMN_WIDTH_PX", "h3_column"]

# An H3 cell id as the app shows it: 15 hexadecimal characters ('8819464e2dfffff').
H3_ID_CHARS = 15
# The data grid draws 14 px text, in which no hexadecimal character is wider than 9 px, inside 8 px of
# padding each side: wide enough for the whole id, which a person copies or reads out ("small" is 75 px
# and cuts it after about seven characters).
H3_COLUMN_WIDTH_PX = H3_ID_CHARS * 9 + 2 * 8


def h3_column(label: str = "Hexagon (H3)"):
    """A text column wide enough to show a whole H3 id."""
    return st.column_config.TextColumn(label, width=H3_COLUMN_WIDTH_PX)
