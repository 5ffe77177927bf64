"""App frame: page config, first-run demo load, shared filters and navigation."""

from __future__ import annotations

import streamlit as st

from hoth_geo.ui import state
from hoth_geo.ui.pages import about, hotspot_map, import_data, places, review


def main() -> None:
    st.set_page_config(page_title="hoth-geo", page_icon="⬡", layout="wide")
    state.ensure_demo_loaded()
    pages = [
        st.Page(hotspot_map.render, title="Hotspot map", icon="🗺️", url_path="map", default=True),
        st.Page(places.render, title="Places", icon="📍", url_path="places"),
        st.Page(import_data.render, title="Import", icon="📥", url_path="import"),
        st.Page(review.render, title="Review", icon="🔎", url_path="review"),
        st.Page(about.render, title="About", icon="ℹ️", url_path="about"),
    ]
    nav = st.navigation(pages)
    st.session_state["filters"] = state.sidebar_filters()
    state.demo_banner()
    nav.run()
