"""Places: the places and spaces ranked by matching reports."""

from __future__ import annotations

import streamlit as st

from hoth_geo import aggregate
from hoth_geo.schema import PLACE_TYPES
from hoth_geo.ui import state


def render() -> None:
    st.title("Places")
    filters = st.session_state["filters"]
    types = st.multiselect(
        "Place type",
        list(PLACE_TYPES),
        format_func=PLACE_TYPES.get,
        placeholder="All place types",
        key="places_types",
    )
    ranked = aggregate.rank_places(state.reports(), state.places(), filters, place_types=tuple(types))
    st.caption(f"{len(ranked):,} places with matching reports ({filters.describe()}).")
    shown = ranked.assign(place_type=ranked["place_type"].map(PLACE_TYPES))
    st.dataframe(
        shown,
        hide_index=True,
        use_container_width=True,
        column_config={
            "place_id": None,
            "name": "Place",
            "place_type": "Type",
            "locality": "Locality",
            "reports": st.column_config.NumberColumn("Reports"),
            "agencies": st.column_config.NumberColumn("Agencies", help="distinct reporting agencies"),
            "first": st.column_config.DatetimeColumn("First", format="DD/MM/YYYY"),
            "last": st.column_config.DatetimeColumn("Latest", format="DD/MM/YYYY"),
        },
    )
