"""Review: resolve quarantined rows that need a location, by choosing a place, entering a postcode or
clicking the map. A resolved row joins the data at once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from hoth_geo import geocode, maps, store
from hoth_geo.gazetteer import normalise_postcode
from hoth_geo.ui import state


def _located_row(payload: dict) -> pd.DataFrame:
    row = pd.DataFrame([payload])
    for c in ("observed_at", "date_received"):
        row[c] = pd.to_datetime(row[c])
    return row


def render() -> None:
    st.title("Review")
    eng = state.engine()
    q = store.load_quarantine(eng, status="open")
    fixable = q[q["payload"].notna()]
    other = q[q["payload"].isna()]
    st.caption(
        f"{len(fixable):,} rows need a location; {len(other):,} other quarantined rows need a corrected file."
    )
    if fixable.empty:
        st.success("Nothing waits for a location.")
    else:
        labels = {
            int(r.id): f"{r.filename} row {r.row_number}: {r.reason.split(': ', 1)[-1][:90]}"
            for r in fixable.itertuples()
        }
        chosen = st.selectbox("Quarantined row", list(labels), format_func=labels.get)
        entry = fixable[fixable["id"] == chosen].iloc[0]
        st.error(entry["reason"])
        payload, import_id = store.quarantine_payload(eng, int(chosen))
        shown = {
            k: payload.get(k) for k in ("location_text", "place_name", "place_type", "postcode", "concerns")
        }
        st.json(shown)
        how = st.radio("Locate it by", ["a place", "a postcode", "a map click"], horizontal=True)
        places = state.places()
        lat = lon = None
        place = None
        if how == "a place":
            named = places[places["name"].notna()]
            pid = st.selectbox(
                "Place",
                named["place_id"].tolist(),
                format_func=lambda p: " — ".join(
                    str(x)
                    for x in named.loc[named["place_id"] == p, ["name", "locality"]].iloc[0]
                    if pd.notna(x)
                ),
                index=None,
                placeholder="Type to search places",
            )
            if pid:
                place = named[named["place_id"] == pid].iloc[0]
                lat, lon = float(place["latitude"]), float(place["longitude"])
        elif how == "a postcode":
            text = st.text_input("Postcode")
            if text:
                pc = normalise_postcode(pd.Series([text])).iloc[0]
                units = state.gazetteer().postcodes
                hit = units[units["postcode"] == pc]
                if hit.empty:
                    st.warning(f"Postcode {text!r} is not in the gazetteer.")
                else:
                    lat, lon = float(hit["latitude"].iloc[0]), float(hit["longitude"].iloc[0])
        else:
            m = maps.blank_map()
            m = maps.prepare_for_streamlit(m)
            click = st_folium(
                m, key="review-map", height=420, use_container_width=True, returned_objects=["last_clicked"]
            )
            point = (click or {}).get("last_clicked")
            if point:
                lat, lon = float(point["lat"]), float(point["lng"])
                if not geocode.in_study_area(state.gazetteer().study_area, np.array([lat]), np.array([lon]))[
                    0
                ]:
                    st.warning(f"That point lies outside {state.markdown_safe(state.area().name)}.")
                    lat = lon = None
        if lat is not None:
            st.write(f"Location: {lat:.5f}, {lon:.5f}")
            if st.button("Save location", type="primary"):
                located = geocode.locate_manually(_located_row(payload), lat, lon, place)
                with eng.begin() as conn:
                    store.resolve_quarantined(
                        conn, int(chosen), located, import_id=import_id, resolved_by=state.username()
                    )
                st.success("Located: the report has joined the data.")
                st.rerun()
    if not other.empty:
        st.subheader("Other quarantined rows")
        st.dataframe(other[["filename", "row_number", "reason"]], hide_index=True, use_container_width=True)
