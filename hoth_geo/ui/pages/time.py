"""Time: when reports happen, by day of week and hour and by month, for all matching reports, one
hexagon or one place. Reports with no time of day or an approximate date are counted apart."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from hoth_geo import hexes, settings
from hoth_geo.access import casework
from hoth_geo.analysis import places as risky
from hoth_geo.analysis import temporal
from hoth_geo.schema import PLACE_TYPES
from hoth_geo.ui import state
from hoth_geo.ui.pickers import choose_hexagon
from hoth_geo.ui.text import md_escape, md_filters

if TYPE_CHECKING:  # altair is imported where a chart is drawn (~26 MB)
    import altair as alt

__all__ = [
    "ALL",
    "HEX",
    "PLACE",
    "render",
]

ALL = "All matching reports"
HEX = "A hexagon"
PLACE = "A place"


def _area_mask(reports: pd.DataFrame, cell: int | None, place_id: str | None):
    if cell is None and place_id is None:
        return None
    return temporal.area_mask(reports, cell=cell, place_id=place_id)


@st.cache_data(show_spinner=False, max_entries=32)
def _profile(key: tuple, cell: int | None, place_id: str | None, _filters):
    reports = state.reports()
    mask = _area_mask(reports, cell, place_id)
    return temporal.time_profile(reports, _filters, mask), temporal.monthly_trend(reports, _filters, mask)


def _times_in_words(n: int, cell: int | None, place_id: str | None, filters) -> None:
    """How many of the unknown times were given in words, and the words on request only: they are
    free text, so each view is recorded in the audit log."""
    st.caption(
        f"{n:,} of the reports with time unknown gave a time of day only in words (such as 'after school'):"
        " left out of the table, as they say no hour."
    )
    user = state.user()
    if user is None or not user.can("view_reports"):
        return
    shown_key = (state.version(), cell, place_id, filters)
    if st.button("Show the times given in words", key="time_words", help="Recorded in the audit log"):
        reports = state.reports()
        ids = temporal.ids_with_time_in_words(reports, filters, _area_mask(reports, cell, place_id))
        # Named in the audit log as the report lists name what they show: the hexagon or the place.
        if cell is not None:
            target = f"h3:{hexes.cell_to_str(cell)}"
        else:
            target = f"place:{place_id}" if place_id else "time:all matching reports"
        words = casework.times_in_words(state.engine(), ids, user, target=target)
        st.session_state["time_words_view"] = (shown_key, words)
    view = st.session_state.get("time_words_view")
    if view and view[0] == shown_key:
        st.caption("This view has been recorded in the audit log.")
        st.dataframe(
            view[1],
            hide_index=True,
            column_config={
                "words": st.column_config.TextColumn("Time given as"),
                "reports": st.column_config.NumberColumn("Reports", format="%d"),
            },
        )


@st.cache_data(show_spinner=False, max_entries=16)
def _ranked_places(key: tuple, _filters) -> pd.DataFrame:
    return risky.place_ranking(state.reports(), state.places(), _filters)[
        ["place_id", "name", "place_type", "locality", "reports"]
    ]


def _pick_hex(filters) -> tuple[int | None, str]:
    res = st.select_slider(
        "Hexagon size (H3 resolution)",
        options=list(settings.MAP_RESOLUTIONS),
        value=settings.DEFAULT_MAP_RES,
        key="time_res",
        help="A finer cell typed in is widened to its parent hexagon at this resolution.",
    )
    cell = choose_hexagon(res, filters, key="time_cell")
    if cell is None:
        st.info("Choose a hexagon to see the times of the reports inside it.")
        return None, ""
    own = hexes.cell_resolution(cell)
    if own < res:
        st.caption(f"The cell is coarser than resolution {res}: the whole cell (resolution {own}) is used.")
    return cell, state.cell_name(cell)


def _pick_place(key: tuple, filters) -> tuple[str | None, str]:
    ranked = _ranked_places(key, filters)
    if ranked.empty:
        st.info("No place has matching reports.")
        return None, ""
    labels = {
        r.place_id: " — ".join(
            str(x) for x in (r.name, r.locality, PLACE_TYPES.get(r.place_type)) if pd.notna(x)
        )
        + f" ({r.reports:,} reports)"
        for r in ranked.itertuples()
    }
    place_id = st.selectbox("Place", list(labels), format_func=labels.get, key="time_place")
    return place_id, "the selected place"


def _heatmap(table: pd.DataFrame) -> alt.Chart:
    import altair as alt  # on first chart, not at import (~26 MB)

    long = table.reset_index().melt(id_vars="weekday", var_name="hour", value_name="reports")
    return (
        alt.Chart(long)
        .mark_rect()
        .encode(
            x=alt.X("hour:O", title="Hour of day", sort=list(range(24)), axis=alt.Axis(labelAngle=0)),
            y=alt.Y("weekday:O", title=None, sort=list(temporal.WEEKDAYS)),
            color=alt.Color("reports:Q", title="Reports", scale=alt.Scale(scheme="orangered")),
            tooltip=[
                alt.Tooltip("weekday:O", title="Day"),
                alt.Tooltip("hour:O", title="Hour"),
                alt.Tooltip("reports:Q", title="Reports"),
            ],
        )
        .properties(height=260)
    )


def _trend(monthly: pd.DataFrame) -> alt.Chart:
    """Reports per month; a month the span only partly covers is a hollow point on a dashed line, so a
    part month's lower count does not read as a fall."""
    import altair as alt  # on first chart, not at import (~26 MB)

    data = monthly.assign(
        days=[
            temporal.days_covered(r.month, r.first_day, r.last_day) if r.partial else "the whole month"
            for r in monthly.itertuples()
        ]
    )
    x = alt.X("month:T", title="Month", axis=alt.Axis(format="%b %Y"))
    y = alt.Y("count:Q", title="Reports")
    whole = alt.Chart(data[~data["partial"]]).mark_line().encode(x=x, y=y)
    # The segments into a part month at either end: the part month and its whole neighbour.
    ends = []
    if len(data) > 1:
        if data["partial"].iloc[0]:
            ends.append(data.iloc[:2].assign(segment=0))
        if data["partial"].iloc[-1]:
            ends.append(data.iloc[-2:].assign(segment=1))
    layers = [whole]
    if ends:
        dashed = alt.Chart(pd.concat(ends)).mark_line(strokeDash=[4, 4]).encode(x=x, y=y, detail="segment:N")
        layers.append(dashed)
    points = (
        alt.Chart(data)
        .mark_point(filled=True, size=40, color="#4c78a8")
        .encode(
            x=x,
            y=y,
            fill=alt.condition("datum.partial", alt.value("white"), alt.value("#4c78a8")),
            tooltip=[
                alt.Tooltip("month:T", title="Month", format="%B %Y"),
                alt.Tooltip("count:Q", title="Reports"),
                alt.Tooltip("days:N", title="Days counted"),
            ],
        )
    )
    layers.append(points)
    return alt.layer(*layers).properties(height=260)


def _part_months_caption(monthly: pd.DataFrame) -> str:
    part = monthly[monthly["partial"]]
    if part.empty:
        return ""
    days = " and ".join(temporal.days_covered(r.month, r.first_day, r.last_day) for r in part.itertuples())
    return (
        f" Part months (hollow, on a dashed line): {days} only, as far as the dates chosen or the data"
        " reach; their counts are not whole months'."
    )


def render() -> None:
    st.title("Time")
    filters = st.session_state["filters"]
    key = (state.version(), filters)
    how = st.radio("Reports", [ALL, HEX, PLACE], horizontal=True, key="time_selection")
    cell = place_id = None
    what = "all matching reports"
    if how == HEX:
        cell, what = _pick_hex(filters)
        if cell is None:
            return
    elif how == PLACE:
        place_id, what = _pick_place(key, filters)
        if place_id is None:
            return
    profile, monthly = _profile(key, cell, place_id, filters)
    in_table = int(profile.table.to_numpy().sum())
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Reports selected", f"{profile.total:,}")
    c2.metric("In the day and hour table", f"{in_table:,}", help="time of day known and date exact")
    c3.metric(
        "Time unknown",  # short: a longer label is cut at a laptop's width
        f"{profile.unknown_time:,}",
        help="Reports with a date but no time of day (none given, or only words such as 'after school'),"
        " left out of the table: they are never spread over the hours, that would invent a pattern.",
    )
    c4.metric(
        "Approximate date",
        f"{profile.approximate_dates:,}",
        help="Reports with a time but an approximate date, left out of the table: their day of the week "
        "is unreliable.",
    )
    st.caption(f"Selection: {md_escape(what)}; filters: {md_filters(filters)}")
    if profile.time_in_words:
        _times_in_words(profile.time_in_words, cell, place_id, filters)
    st.subheader("Day of week and hour")
    if in_table:
        st.altair_chart(_heatmap(profile.table), use_container_width=True)
    else:
        st.info("No selected report has both a known time and an exact date.")
    st.subheader("Reports per month")
    if monthly.empty:
        st.info("No selected reports.")
    else:
        st.altair_chart(_trend(monthly), use_container_width=True)
        st.caption("Approximate dates count in their recorded month." + _part_months_caption(monthly))
