"""Patrol plan: the best hexagon, day and hours for presence-based disruption, with a CSV to take away."""

from __future__ import annotations

import dataclasses

import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from hoth_geo import hexes, settings
from hoth_geo.access import audit
from hoth_geo.analysis import patrol
from hoth_geo.deliver import maps
from hoth_geo.errors import HothGeoError
from hoth_geo.schema import GRADING_INFORMATION_LABELS, GRADING_SOURCE_LABELS
from hoth_geo.ui import state
from hoth_geo.ui.tables import stacked_table
from hoth_geo.ui.text import md_escape, md_filters

__all__ = [
    "plan_download",
    "PLAN_HEADERS",
    "render",
]


@st.cache_data(show_spinner="Planning…", max_entries=16)
def _plan(key: tuple, params: tuple, weights: tuple, _filters) -> pd.DataFrame:
    slots, slot_hours, res, half_life, max_per_hex = params
    grading = {group: dict(values) for group, values in weights}
    return patrol.patrol_plan(
        state.reports(),
        state.places(),
        slots=slots,
        slot_hours=slot_hours,
        window=patrol.plan_window(_filters),
        res=res,
        half_life_days=half_life,
        grading_weights=grading,
        max_slots_per_hex=max_per_hex,
        filters=_filters,
    )


@st.cache_data(show_spinner=False, max_entries=16)
def _places_in_plan(key: tuple, res: int, cells: tuple[int, ...], _filters) -> pd.DataFrame:
    """The reported places inside the plan's hexagons, for markers that stay visible at county zoom."""
    return patrol.places_in_cells(state.reports(), state.places(), cells, res, _filters)


def _grading_inputs() -> tuple:
    defaults = patrol.DEFAULT_GRADING_WEIGHTS
    with st.expander("Grading weights (how much a report counts by its 3x5x2 grading)"):
        st.caption(
            "A report's weight is its source weight times its information weight. Ungraded reports count as 2 / C."
        )
        c1, c2 = st.columns(2)
        source = tuple(
            (
                code,
                c1.number_input(
                    f"Source {GRADING_SOURCE_LABELS.get(code, code)}",
                    min_value=0.0,
                    max_value=1.0,
                    value=float(w),
                    step=0.05,
                    key=f"patrol_w_source_{code}",
                ),
            )
            for code, w in defaults["source"].items()
        )
        info = tuple(
            (
                code,
                c2.number_input(
                    f"Information {GRADING_INFORMATION_LABELS.get(code, code)}",
                    min_value=0.0,
                    max_value=1.0,
                    value=float(w),
                    step=0.05,
                    key=f"patrol_w_info_{code}",
                ),
            )
            for code, w in defaults["information"].items()
        )
    return (("source", source), ("information", info))


def plan_download(
    engine,
    username: str | None,
    plan: pd.DataFrame,
    filters,
    params: tuple,
    *,
    marking: str | None = None,
    demo: bool = False,
):
    """The callable behind the plan download: makes the CSV (with its protective marking and, for the
    demo set, its label) and records it in the export log.

    Streamlit runs it only when the button is pressed (outside the page script), so the file never
    sits at a /media URL that could be fetched without the logged click."""

    def make() -> bytes:
        data = patrol.plan_to_csv(plan, marking=marking, demo=demo)
        _log_download(engine, username, data, filters, params)
        return data

    return make


def _log_download(engine, username: str | None, data: bytes, filters, params: tuple) -> None:
    audit.log_export(
        engine,
        audience="police",
        kind="patrol_plan_csv",
        filters={
            **{k: v for k, v in dataclasses.asdict(filters).items() if k != "extra"},
            "plan": dict(
                zip(
                    ("slots", "slot_hours", "res", "half_life_days", "max_slots_per_hex"), params, strict=True
                )
            ),
        },
        data=data,
        filename="patrol-plan.csv",
        exported_by=username,
    )


# The plan's columns as an officer reads them, in order.
PLAN_HEADERS = {
    "window": "When",
    "where": "Where",
    "reports": "Reports",
    "agencies": "Agencies",
    "why": "Why",
    "places_in_hex": "Places in the hexagon (reports)",
    "h3": "Hexagon (H3)",
}


def render() -> None:
    st.title("Patrol plan")
    filters = st.session_state["filters"]
    st.caption(
        "The hexagons, days and hours where presence would meet most of the recent reporting. Slots are "
        "ranked by reports weighted for grading (better-graded information counts more) and recency: a "
        "report one half-life old counts 3/4 and none less than 1/2, so newer reports put a slot first "
        "among slots of similar counts but never above a slot with more than twice its reports. Reports "
        "with no time of day raise a hexagon but "
        f"never pick its hours. Each slot then says what it holds in plain reports. Reports used: "
        f"{md_filters(filters)}."
    )
    c1, c2, c3, c4, c5 = st.columns(5)
    slots = c1.number_input("Slots per week", min_value=1, max_value=50, value=10, step=1, key="patrol_slots")
    slot_hours = c2.number_input("Slot hours", min_value=1, max_value=12, value=2, step=1, key="patrol_hours")
    res = c3.select_slider(
        "Hexagon size (H3 resolution)",
        options=list(settings.MAP_RESOLUTIONS),
        value=9,
        key="patrol_res",
        help="9 ≈ 0.1 km² per hexagon: a few streets, walkable in a slot.",
    )
    half_life = c4.number_input(
        "Half-life (days)",
        min_value=1,
        max_value=3650,
        value=28,
        step=1,
        key="patrol_half_life",
        help="A report this many days old counts 3/4 of one from the end of the date range; "
        "no report counts less than half.",
    )
    max_per_hex = c5.number_input(
        "Max slots per hexagon", min_value=1, max_value=10, value=2, step=1, key="patrol_max_per_hex"
    )
    weights = _grading_inputs()
    params = (int(slots), int(slot_hours), int(res), float(half_life), int(max_per_hex))
    try:
        plan = _plan((state.version(), filters), params, weights, filters)
    except HothGeoError as exc:
        st.error(md_escape(exc))  # may name the area, from its boundary file
        return
    if plan.empty:
        st.info("No report with a known time matches the filters, so there is nothing to plan.")
        return

    plan = plan.assign(where=state.cell_descriptions(int(res), plan["h3"]))
    shown = plan.assign(h3=hexes.cells_to_str(plan["h3"]))
    # A static table: every cell wraps, so "When", "Where" and "Why" are read whole (a data grid cuts
    # long text at the column edge), and the ten rows of a plan need no scrolling or sorting. On a
    # phone each slot is one block, its cells one under the other.
    # st.table renders Markdown in cells, and places and reasons come from reports: escape them.
    table = shown[["slot", *PLAN_HEADERS]].rename(columns={"slot": "Slot", **PLAN_HEADERS})
    for col in ("When", "Where", "Why", "Places in the hexagon (reports)", "Hexagon (H3)"):
        table[col] = [md_escape(v) for v in table[col]]
    stacked_table(table, key="patrol_plan")
    st.download_button(
        "Download the plan (CSV)",
        plan_download(
            state.engine(),
            state.username(),
            plan,
            filters,
            params,
            marking=state.policy().marking,
            demo=bool(state.counts()["demo_reports"]),
        ),
        file_name="patrol-plan.csv",
        mime="text/csv",
        on_click="ignore",
        key="patrol_download",
        help="The file is made when you press the button, and recorded in the export log.",
    )

    per_hex = patrol.plan_by_hexagon(plan)
    m = maps.build_hex_map(
        per_hex,
        value_col="reports",
        value_label="Reports in its slots",
        tooltip_cols={"where": "Where", "slots": "Slot", "window": "When", "why": "Why"},
        legend_title="Patrol plan: reports in the slots",
        # Every hexagon of the plan is somewhere to be, not only the busiest: each keeps a visible mark
        # at the zoom that fits the whole plan (a one-report slot was a pale speck).
        emphasise_top=len(per_hex),
        places=_places_in_plan((state.version(), filters), int(res), tuple(per_hex["h3"].tolist()), filters),
        zoom=14,
    )
    st_folium(
        maps.prepare_for_streamlit(m),
        key=f"patrolmap-{res}",
        height=520,
        use_container_width=True,
        returned_objects=["last_clicked"],
    )
