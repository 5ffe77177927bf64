"""Static tables that stay readable on a phone."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from hoth_geo.ui.styles import stacked_table_css

__all__ = ["stacked_table"]


def stacked_table(table: pd.DataFrame, key: str) -> None:
    """``st.table`` of ``table`` (no index), stacked row by row on a phone (``styles.stacked_table_css``).
    Cells are drawn as Markdown: escape any text that came from a report first."""
    st.html(stacked_table_css(key, [str(c) for c in table.columns]))
    with st.container(key=key):
        st.table(table, hide_index=True)
