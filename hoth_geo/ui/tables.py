"""Static tables that stay readable on a phone."""

from __future__ import annotations

import pandas as pd
import streamlit as st

__all__ = ["NARROW_SCREEN_PX", "stacked_table", "stacked_table_css"]

# Below this width (a phone held upright, CSS pixels) a table of several long text columns is cut at
# the screen's edge and read by scrolling sideways; its rows are stacked instead.
NARROW_SCREEN_PX = 640


def _css_string(text: str) -> str:
    """``text`` as a CSS string literal: quotes and backslashes escaped, and '<' written as a CSS
    escape so no value can end the style element it sits in."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\a ").replace("<", "\\3c ")
    return f'"{escaped}"'


def stacked_table_css(key: str, columns: list[str]) -> str:
    """The style that shows the table in ``st.container(key=key)`` as it is on wider screens and, below
    NARROW_SCREEN_PX, as one block per row with each cell on its own line after its column's name."""
    scope = f".st-key-{key}"
    cells = "".join(
        f"{scope} td:nth-child({i})::before {{ content: {_css_string(name + ': ')}; font-weight: 600; }}\n"
        for i, name in enumerate(columns, start=1)
    )
    return (
        f"<style>\n@media (max-width: {NARROW_SCREEN_PX}px) {{\n"
        f"{scope} table, {scope} tbody, {scope} tr, {scope} td {{ display: block; width: auto; }}\n"
        f"{scope} thead {{ display: none; }}\n"
        # Grey at half strength: a line between slots on a light or a dark theme alike.
        f"{scope} tr {{ padding: 0.4rem 0; border-bottom: 2px solid rgba(128, 128, 128, 0.5); }}\n"
        f"{scope} td {{ border: none; padding: 0.1rem 0.5rem; white-space: normal; }}\n"
        # A cell's text follows its column's name on the same line, numbers as well as words:
        # Streamlit sets each cell's alignment in its style attribute and draws its text in an
        # inline-block, which only !important overrides.
        f"{scope} td, {scope} td * {{ text-align: left !important; }}\n"
        f"{scope} td > div, {scope} td p {{ display: inline !important; }}\n"
        f"{cells}}}\n</style>"
    )


def stacked_table(table: pd.DataFrame, key: str) -> None:
    """``st.table`` of ``table`` (no index), stacked row by row on a phone (``stacked_table_css``).
    Cells are drawn as Markdown: escape any text that came from a report first."""
    st.html(stacked_table_css(key, [str(c) for c in table.columns]))
    with st.container(key=key):
        st.table(table, hide_index=True)
