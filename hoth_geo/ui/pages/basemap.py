"""Basemap (admins): what is drawn under the hexagons: nothing, a tile server or a local tile file."""

from __future__ import annotations

import streamlit as st
from streamlit_folium import st_folium

from hoth_geo import settings
from hoth_geo.access import audit
from hoth_geo.deliver import basemap as basemaps
from hoth_geo.deliver import maps
from hoth_geo.ui import state
from hoth_geo.ui.text import md_escape

__all__ = [
    "render",
]

_CHOICES = {
    "none": "No basemap (area outlines and town labels only)",
    "os_maps_road": "OS Maps API, Road (needs the force's API key)",
    "openstreetmap": "OpenStreetMap tile server",
    "url": "Another tile server",
    "file": "A local tile file (.mbtiles or .pmtiles), served by this app",
}


def _candidate(choice: str) -> basemaps.Basemap | None:
    """The basemap the form describes, or None until enough is filled in."""
    if choice == "none":
        return basemaps.NO_BASEMAP
    if choice == "os_maps_road":
        key = st.text_input("OS Maps API key", type="password")
        return basemaps.from_preset(choice, key=key) if key else None
    if choice == "openstreetmap":
        st.caption(
            "Use only a tile server your force may use (its own, or one whose usage policy allows it)."
        )
        return basemaps.from_preset(choice)
    if choice == "url":
        url = st.text_input(
            "Tile URL template", placeholder="https://tiles.example.police.uk/{z}/{x}/{y}.png"
        )
        attribution = st.text_input("Attribution shown on the map")
        key = st.text_input("API key, if the template has {key}", type="password")
        return basemaps.from_url(url, attribution, key=key) if url and attribution else None
    upload = st.file_uploader(
        "Tile file",
        type=["mbtiles", "pmtiles"],
        help=f"Raster tiles (PNG, JPEG or WebP), up to {settings.MAX_UPLOAD_MB} MB.",
    )
    attribution = st.text_input("Attribution (leave empty to use the file's own)")
    if upload is None:
        return None
    folder = settings.VAR_DIR / "basemaps"
    folder.mkdir(parents=True, exist_ok=True)
    # Only the name's last component, and only the two tile suffixes, are kept from the upload.
    path = folder / ("upload" + ("." + upload.name.rsplit(".", 1)[-1].lower()))
    path.write_bytes(upload.getbuffer())
    return basemaps.from_tile_file(path, attribution, name=upload.name.rsplit("/", 1)[-1][:80])


def render() -> None:
    st.title("Basemap")
    if "basemap_saved" in st.session_state:  # shown after the rerun that follows a save
        st.success(f"Basemap saved: {md_escape(st.session_state.pop('basemap_saved'))}")
    try:
        current = basemaps.load()
    except basemaps.BasemapError as exc:
        st.error(md_escape(exc))
        current = basemaps.NO_BASEMAP
    # Names, addresses and attributions are typed in or come with an uploaded tile file.
    st.write(f"**Now:** {md_escape(current.describe())}")
    st.caption(
        "Maps work with no basemap at all. A tile server is fetched by each user's browser, so it must "
        "be reachable from the force network; a local tile file is served by this app and needs no "
        "internet. Exports (PNG, PDF, briefing) do not draw the basemap yet."
    )
    choice = st.radio("Basemap", list(_CHOICES), format_func=_CHOICES.get, key="basemap_choice")
    try:
        candidate = _candidate(choice)
    except basemaps.BasemapError as exc:
        st.error(md_escape(exc))
        return
    if candidate is None:
        return
    st.caption(f"Preview: {md_escape(candidate.describe())}")
    preview = maps.prepare_for_streamlit(maps.blank_map(), basemap=candidate)
    st_folium(
        preview, key=f"basemap-preview-{choice}", height=380, use_container_width=True, returned_objects=[]
    )
    if st.button("Use this basemap", type="primary"):
        shown = basemaps.with_key_hidden(candidate)
        user = state.user()
        audit.record(
            state.engine(),
            "basemap_set" if candidate.configured else "basemap_cleared",
            actor=user.username if user else None,
            target=shown.name or shown.source,
            details={"source": shown.source, "url": shown.url, "path": shown.path},
        )
        basemaps.save(candidate)
        st.session_state["basemap_saved"] = candidate.describe()
        st.rerun()
