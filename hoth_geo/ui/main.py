"""App frame: page config, first-run demo load, shared filters and navigation."""

from __future__ import annotations

import streamlit as st

from hoth_geo.ui import state
from hoth_geo.ui.pages import (
    about,
    disruption_log,
    hotspot_map,
    hotspots,
    import_data,
    patrol,
    places,
    review,
    time,
)

PAGES = {
    "map": (hotspot_map.render, "Hotspot map", "🗺️"),
    "hotspots": (hotspots.render, "Hotspots", "🔥"),
    "places": (places.render, "Places", "📍"),
    "time": (time.render, "Time", "🕒"),
    "patrol": (patrol.render, "Patrol plan", "🚓"),
    "disruption": (disruption_log.render, "Disruption log", "🛡️"),
    "import": (import_data.render, "Import", "📥"),
    "review": (review.render, "Review", "🔎"),
    "about": (about.render, "About", "ℹ️"),
}


def main(start_page: str = "map") -> None:
    """Run the app; ``start_page`` (a PAGES key) is the page shown at the root URL."""
    if start_page not in PAGES:
        raise ValueError(f"start_page must be one of {', '.join(PAGES)}, got {start_page!r}")
    st.set_page_config(page_title="hoth-geo", page_icon="⬡", layout="wide")
    state.ensure_demo_loaded()
    pages = [
        st.Page(render, title=title, icon=icon, url_path=path, default=path == start_page)
        for path, (render, title, icon) in PAGES.items()
    ]
    nav = st.navigation(pages)
    st.session_state["filters"] = state.sidebar_filters()
    state.demo_banner()
    nav.run()
