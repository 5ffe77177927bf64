"""Review: resolve quarantined rows that need a location, by choosing a place, entering a postcode or
clicking the map (a resolved row joins the data at once); merge possible duplicates or keep them
distinct; accept or reject changed resubmissions. The rules live in hoth_geo.identity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from hoth_geo import casework, geocode, identity, maps, store
from hoth_geo.gazetteer import normalise_postcode
from hoth_geo.ui import state
from hoth_geo.ui.text import md_escape


def _located_row(payload: dict) -> pd.DataFrame:
    row = pd.DataFrame([payload])
    for c in ("observed_at", "date_received"):
        row[c] = pd.to_datetime(row[c])
    return row


def render() -> None:
    st.title("Review")
    eng = state.engine()
    _locations(eng)
    _possible_duplicates(eng)
    _resubmissions(eng)


def _locations(eng) -> None:
    st.header("Rows that need a location")
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
        st.error(md_escape(entry["reason"]))
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
                    st.warning(f"That point lies outside {md_escape(state.area().name)}.")
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


def _possible_duplicates(eng) -> None:
    st.header("Possible duplicates")
    flags = identity.load_possible_duplicates(eng, status=None)
    open_flags = flags[flags["status"] == "open"]
    merged = flags[flags["status"] == "merged"]
    st.caption(
        f"{len(open_flags):,} stored reports have exactly the same content as another report under a different"
        f" (or no) source reference; {len(merged):,} have been merged. Merging makes a report count once, as"
        " the report it resembles; it can be undone."
    )
    if open_flags.empty:
        st.success("No possible duplicates wait for a decision.")
    else:
        table = open_flags.assign(
            report=open_flags["report_id"],
            same_content_as=open_flags["resembles_report_id"],
        )[
            [
                "id",
                "filename",
                "row_number",
                "report",
                "source_ref",
                "agency",
                "observed_at",
                "same_content_as",
                "resembles_source_ref",
            ]
        ]
        st.dataframe(table.rename(columns={"id": "flag"}), hide_index=True, use_container_width=True)
        labels = {
            int(
                r.id
            ): f"report {r.report_id} ({r.filename} row {r.row_number}) = report {r.resembles_report_id}"
            for r in open_flags.itertuples()
        }
        chosen = st.selectbox("Possible duplicate", list(labels), format_func=labels.get, key="dup_flag")
        flag = open_flags[open_flags["id"] == chosen].iloc[0]
        if st.button("Show both reports", key="dup_show"):
            user = state.user()
            if user is not None:
                rows = casework.view_reports(
                    eng,
                    [int(flag["report_id"]), int(flag["resembles_report_id"])],
                    user,
                    target=f"duplicate_flag:{int(chosen)}",
                )
                st.dataframe(rows, hide_index=True, use_container_width=True)
        c = st.columns(2)
        if c[0].button("Merge: count once", type="primary", key="dup_merge"):
            into = identity.merge(eng, int(chosen), actor=state.username())
            st.success(f"Report {int(flag['report_id'])} now counts as report {into}.")
            st.rerun()
        if c[1].button("Keep both: they are distinct", key="dup_distinct"):
            identity.keep_distinct(eng, int(chosen), actor=state.username())
            st.rerun()
    if not merged.empty:
        with st.expander(f"Merged reports ({len(merged):,})"):
            labels = {
                int(r.id): f"report {r.report_id} merged into report {r.merged_into}"
                for r in merged.itertuples()
            }
            chosen = st.selectbox("Merged report", list(labels), format_func=labels.get, key="dup_merged")
            if st.button("Unmerge: count it on its own again", key="dup_unmerge"):
                identity.unmerge(eng, int(chosen), actor=state.username())
                st.rerun()


def _resubmissions(eng) -> None:
    st.header("Changed resubmissions")
    pending = identity.load_resubmissions(eng)
    st.caption(
        f"{len(pending):,} rows carry the agency and source reference of a stored report but different content."
        " The stored report is kept until you accept the change (which replaces its content) or reject it."
    )
    if pending.empty:
        st.success("No resubmissions wait for a decision.")
        return
    labels = {
        int(r.id): f"report {r.report_id} ({r.agency}, {r.source_ref}): {r.filename} row {r.row_number}"
        for r in pending.itertuples()
    }
    chosen = st.selectbox("Resubmission", list(labels), format_func=labels.get, key="resub")
    shown = st.session_state.setdefault("resub_shown", {})
    if st.button("Show the differences", key="resub_show"):
        user = state.user()
        if user is not None:
            shown[int(chosen)] = identity.view_resubmission(eng, int(chosen), user)
    if int(chosen) in shown:
        st.dataframe(shown[int(chosen)], hide_index=True, use_container_width=True)
    c = st.columns(2)
    if c[0].button("Accept: replace the stored report", type="primary", key="resub_accept"):
        fields = identity.accept_resubmission(eng, int(chosen), actor=state.username())
        shown.pop(int(chosen), None)
        st.success(f"Report updated: {', '.join(fields) or 'no field'} changed.")
        st.rerun()
    if c[1].button("Reject: keep the stored report", key="resub_reject"):
        identity.reject_resubmission(eng, int(chosen), actor=state.username())
        shown.pop(int(chosen), None)
        st.rerun()
