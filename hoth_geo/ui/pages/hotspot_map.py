"""Hotspot map: hexagon choropleth of matching reports, top places, and what is inside a clicked hex."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from hoth_geo import selection, settings
from hoth_geo.access import casework, privacy
from hoth_geo.analysis import aggregate, places
from hoth_geo.deliver import maps
from hoth_geo.hexes import cell_to_str
from hoth_geo.schema import PLACE_TYPES
from hoth_geo.ui import state
from hoth_geo.ui.pickers import hexagon_label
from hoth_geo.ui.text import md_escape, md_filters, shown_count

__all__ = [
    "COUNT_HEADERS",
    "DETAIL_COLUMNS",
    "REPORT_LIST_COLUMNS",
    "render_suppressed",
    "render",
]


@st.cache_data(show_spinner=False, max_entries=16)
def _hex_table(key: tuple, res: int, _filters) -> pd.DataFrame:
    return aggregate.aggregate_hexes(state.reports(), res, _filters)


# Readable headers for the reports of a hexagon; the long texts get the width.
REPORT_LIST_COLUMNS = {
    "id": st.column_config.NumberColumn("Report", width="small"),
    "source_ref": st.column_config.TextColumn("Agency reference", width="small"),
    "observed_at": st.column_config.DatetimeColumn("Observed", format="DD/MM/YYYY HH:mm", width="small"),
    "time_known": st.column_config.CheckboxColumn("Time known", width="small"),
    "time_text": st.column_config.TextColumn("Time (in words)", width="small"),
    "agency": st.column_config.TextColumn("Agency", width="medium"),
    "agency_type": st.column_config.TextColumn("Agency type", width="small"),
    "place_name": st.column_config.TextColumn("Place", width="medium"),
    "place_type": st.column_config.TextColumn("Place type", width="small"),
    "location_text": st.column_config.TextColumn("Location", width="medium"),
    "concerns": st.column_config.TextColumn("Concerns", width="small"),
    "indicators": st.column_config.TextColumn("Indicators", width="medium"),
    "grading_source": st.column_config.TextColumn("Source", width="small"),
    "grading_information": st.column_config.TextColumn("Information", width="small"),
    "grading_handling": st.column_config.TextColumn("Handling", width="small"),
    "geocode_method": st.column_config.TextColumn("Located by", width="small"),
    "precision_m": st.column_config.NumberColumn("Within (m)", format="%d", width="small"),
    "narrative": st.column_config.TextColumn("What was seen", width="large"),
    "child_ref": st.column_config.TextColumn("Child reference", width="small"),
}


# Readable headers for what is inside one hexagon: its reports counted by concern, place type and sign,
# and its places.
COUNT_HEADERS = {"concern": "Concern", "place type": "Place type", "indicator": "Indicator noted"}
DETAIL_COLUMNS = {
    "name": st.column_config.TextColumn("Place", width="large"),
    "place_type": st.column_config.TextColumn("Type", width="medium"),
    "reports": st.column_config.NumberColumn("Reports", width="small"),
    "agencies": st.column_config.NumberColumn("Agencies", width="small"),
}


def render_suppressed(filters, policy) -> None:
    """The partner view: the same map at the one partner resolution, every count through the
    disclosure path as in a partner export."""
    reports = state.reports()
    filters = privacy.partner_filters(filters, policy)
    left, right = st.columns([3, 1])
    res = policy.coarsest_res
    shared = state.shared_hexes(res, filters, policy)
    table = shared.table
    online = selection.filter_mask(reports, filters) & reports["online"].to_numpy(dtype=bool)
    with right:
        st.metric("Reports on the map", shown_count(shared.total))
        st.metric("Online (not mapped)", shown_count(privacy.disclose_selection(reports, online, policy)))
        st.caption(
            f"Partner view at H3 resolution {res}: counts from 1 to {policy.k - 1} are shown as "
            f"<{policy.k}; other counts carry a small fixed noise; totals are rounded. "
            f"Filters: {md_filters(filters)}"
        )
    with left:
        # The classes of the partner PNG and PDF, made from the counts as shared (never the true ones).
        m = maps.shared_count_map(
            table, policy.k, tooltip_cols={"where": "Where"}, legend_title="Reports per hexagon"
        )
        st_folium(
            maps.prepare_for_streamlit(m),
            key=f"partner-map-{res}",
            height=620,
            use_container_width=True,
            returned_objects=[],
        )


def render() -> None:
    st.title("Hotspot map")
    filters = st.session_state["filters"]
    policy = state.policy()
    if policy.suppresses:
        render_suppressed(filters, policy)
        return
    reports = state.reports()
    left, right = st.columns([3, 1])
    with right:
        res = st.select_slider(
            "Hexagon size (H3 resolution)",
            options=list(settings.MAP_RESOLUTIONS),
            value=settings.DEFAULT_MAP_RES,
            help="6 ≈ 36 km² per hexagon … 10 ≈ 0.015 km². Finer hexagons show individual places.",
        )
        show_places = st.toggle(
            "Most-reported places",
            value=False,
            help="Rings around the places with the most matching reports; they never cover a hexagon's colour.",
        )
    key = (state.version(), filters)
    table = _hex_table(key, res, filters)
    n_online = selection.online_count(reports, filters)
    n_coarse = selection.too_coarse_count(reports, filters, res)
    located = int(table["count"].sum()) if not table.empty else 0
    with right:
        st.metric("Reports on the map", f"{located:,}")
        st.metric(
            "Online (not mapped)",
            f"{n_online:,}",
            help="Online is a setting, not a place: counted, never mapped.",
        )
        if n_coarse:
            st.metric(
                "Too coarse to map",
                f"{n_coarse:,}",
                help=(
                    f"Placed only to within more than {selection.mappable_radius_m(res):,.0f} m (a postcode "
                    "district or sector, a rural postcode unit, a street, coarse coordinates or a grid "
                    "reference): counted, but not put in one hexagon of this size. A larger hexagon size "
                    "maps them."
                ),
            )
        st.metric("Hexagons with reports", f"{len(table):,}")
        st.caption(f"Filters: {md_filters(filters)}")

    top = pd.DataFrame()
    if show_places:
        top = places.top_places(reports, state.places(), filters)
    context = None
    if state.show_context():
        ctx = state.context()
        context = aggregate.aggregate_context(ctx, res, filters) if not ctx.empty else None
        if context is None or context.empty:
            right.info("No police.uk context imported for these filters.")
    with left:
        if table.empty:
            st.info("No located reports match the filters.")
        if not table.empty:
            table = table.assign(where=state.cell_descriptions(res, tuple(table["h3"].tolist())))
        m = maps.build_hex_map(
            table,
            tooltip_cols={"where": "Where", **aggregate.BREAKDOWN_LABELS} if not table.empty else (),
            places=top if not top.empty else None,
            legend_title="Reports per hexagon",
            context=context,
        )
        m = maps.prepare_for_streamlit(m)
        # Only clicks come back: panning and zooming must not rerun the app.
        clicked = st_folium(
            m, key=f"hexmap-{res}", height=620, use_container_width=True, returned_objects=["last_clicked"]
        )

    clicked_cell = maps.clicked_cell(clicked, res)
    busiest = table.head(50)
    labels = {
        int(c): hexagon_label(int(c), w, int(n))
        for c, w, n in zip(busiest["h3"], busiest.get("where", busiest["h3"]), busiest["count"], strict=True)
    }
    picked = st.selectbox(
        "…or choose one of the busiest hexagons",
        list(labels),
        index=None,
        format_func=lambda c: labels[int(c)],
        key="map_pick",
    )
    if clicked_cell is not None:
        cell = clicked_cell
    elif picked is not None:
        cell = int(picked)
    else:
        st.caption("Click a hexagon to see its places and its reports by concern, indicator and place type.")
        return
    detail = places.hex_detail(reports, state.places(), cell, res, filters)
    n = int(detail["n_reports"]["reports"].iloc[0])
    where = state.cell_descriptions(res, (cell,))[0]
    # Street names come from the area's gazetteer, built from an OpenStreetMap export.
    st.subheader(f"{md_escape(where) or 'Hexagon ' + cell_to_str(cell)}: {n:,} matching reports")
    st.caption(f"Hexagon {cell_to_str(cell)} (H3 resolution {res})")
    # Static tables, so every name wraps and is read whole on any screen (a data grid cuts a long concern
    # or sign at its column's edge): the count first; concerns and place types on the left, the signs
    # on the right (columns of about the same length); the places below at full width.
    c1, c2 = st.columns(2)
    c1.table(_count_table(detail["by_concern"], "concern"), hide_index=True)
    c1.table(_count_table(detail["by_place_type"], "place type"), hide_index=True)
    if not detail["by_indicator"].empty:
        c2.table(_count_table(detail["by_indicator"], "indicator"), hide_index=True)
    hex_places = detail["places"]
    st.dataframe(
        hex_places[["name", "reports", "agencies", "place_type"]].assign(
            place_type=hex_places["place_type"].map(lambda t: PLACE_TYPES.get(t, t))
        ),
        hide_index=True,
        use_container_width=True,
        column_config=DETAIL_COLUMNS,
    )
    user = state.user()
    if user is not None and user.can("view_reports") and n:
        _report_list(user, cell, res, filters)


def _count_table(table: pd.DataFrame, label: str):
    """A hexagon's reports by ``label`` (concern, place type or indicator) with their headers as shown:
    counts as numbers (aligned right) written with thousands separators, the names escaped, as a static
    table reads its cells as Markdown."""
    shown = pd.DataFrame(
        {"Reports": table["reports"], COUNT_HEADERS[label]: [md_escape(v) for v in table[label]]}
    )
    return shown.style.format({"Reports": "{:,}"})


def _report_list(user, cell: int, res: int, filters) -> None:
    """Individual reports in the hexagon, on request only: each view is recorded in the audit log."""
    shown_key = (cell, res, filters)
    if st.button("Show the reports in this hexagon", key="show_reports", help="Recorded in the audit log"):
        ids = casework.ids_in_hex(state.reports(), cell, res, filters)
        rows = casework.view_reports(state.engine(), ids, user, target=f"h3:{cell_to_str(cell)}")
        # Kept for this hexagon and these filters, so a rerun shows it again without a second view.
        st.session_state["reports_view"] = (shown_key, rows, len(ids))
    view = st.session_state.get("reports_view")
    if not view or view[0] != shown_key:
        return
    _key, rows, n_ids = view
    if n_ids > len(rows):
        st.caption(f"Showing the newest {len(rows):,} of {n_ids:,} reports.")
    st.caption("This view has been recorded in the audit log.")
    st.dataframe(rows, hide_index=True, use_container_width=True, column_config=REPORT_LIST_COLUMNS)
