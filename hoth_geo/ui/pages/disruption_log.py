"""Disruption log: record disruption activity against a place or a hexagon, and see whether reports
went down there, and whether they moved to the hexagons around it (before/after and the WDQ)."""

from __future__ import annotations

import dataclasses
import math
from datetime import date

import pandas as pd
import streamlit as st

from hoth_geo import hexes, store
from hoth_geo.analysis import disruption
from hoth_geo.schema import PLACE_TYPES
from hoth_geo.ui import state
from hoth_geo.ui.columns import h3_column
from hoth_geo.ui.pickers import choose_hexagon
from hoth_geo.ui.text import md_escape

__all__ = [
    "PLACE",
    "CELL",
    "DEFAULT_RES",
    "DEFAULT_DAYS",
    "render",
]

PLACE = "A place"
CELL = "A hexagon"
DEFAULT_RES = 9
DEFAULT_DAYS = disruption.DEFAULT_PERIOD_DAYS


@st.cache_data(show_spinner=False, max_entries=64)
def _evaluate(key: tuple, cell: int, k: int, before: tuple, after: tuple, _filters) -> dict:
    return disruption.before_after(
        state.reports(), [cell], disruption.ring_cells(cell, 1, k), before, after, filters=_filters
    )


def _last_report_date() -> date | None:
    reports = state.reports()
    return None if reports.empty else reports["observed_at"].max().date()


def _first_report_date() -> date | None:
    reports = state.reports()
    return None if reports.empty else reports["observed_at"].min().date()


def _place_label(places: pd.DataFrame):
    named = places[places["name"].notna()].set_index("place_id")

    def label(pid: str) -> str:
        row = named.loc[pid]
        parts = (row["name"], row["locality"], PLACE_TYPES.get(row["place_type"]))
        return " — ".join(str(x) for x in parts if isinstance(x, str) and x)

    return named, label


def _record_form(filters) -> None:
    st.subheader("Record an activity")
    t1, t2 = st.columns(2)
    target_kind = t1.radio("Target", [PLACE, CELL], horizontal=True, key="dl_target_kind")
    # Outside the form: the hexagons offered by name are those of this size.
    res = t2.select_slider(
        "Hexagon size (H3 resolution)",
        options=[7, 8, 9, 10],
        value=DEFAULT_RES,
        key="dl_res",
        help="The target hexagon's size: 9 ≈ 0.1 km², a few streets.",
    )
    places, label = _place_label(state.places())
    with st.form("disruption_form", clear_on_submit=True):
        tactic = st.selectbox(
            "Tactic", list(disruption.TACTICS), format_func=disruption.TACTICS.get, key="dl_tactic"
        )
        place_id = chosen_cell = None
        if target_kind == PLACE:
            place_id = st.selectbox(
                "Place",
                places.index.tolist(),
                format_func=label,
                index=None,
                placeholder="Type to search places",
                key="dl_place",
            )
        else:
            chosen_cell = choose_hexagon(res, filters, key="dl_cell")
        c3, c4 = st.columns(2)
        # Today: an officer records the patrol or closure that begins now (an earlier operation is
        # entered by its own start date; the evaluation below waits for reports after it).
        start = c3.date_input(
            "Start date",
            value=date.today(),
            key="dl_start",
            help="When the activity began. For an earlier operation, enter its start date.",
        )
        end = c4.date_input("End date (optional)", value=None, key="dl_end")
        note = st.text_area("Note", key="dl_note", max_chars=2000)
        submitted = st.form_submit_button("Record activity", type="primary")
    if not submitted:
        return
    if target_kind == PLACE:
        if place_id is None:
            st.error("Choose a place.")
            return
        row = places.loc[place_id]
        cell = hexes.latlng_to_cell(float(row["latitude"]), float(row["longitude"]), res)
    else:
        if chosen_cell is None:
            st.error("Choose a hexagon, or enter its H3 cell id.")
            return
        cell = chosen_cell
        place_id = None
    if end is not None and end < start:
        st.error("The end date is before the start date.")
        return
    new_id = disruption.add_disruption(
        state.engine(),
        tactic=tactic,
        h3_cell=cell,
        res=hexes.cell_resolution(cell),
        start_date=start,
        end_date=end,
        place_id=place_id,
        note=note.strip() or None,
        recorded_by=state.username(),
    )
    st.session_state["dl_pick"] = new_id  # evaluate the new activity below
    st.success(f"Recorded activity {new_id} at {md_escape(state.cell_name(cell))}.")


def _fmt(x: float, digits: int = 3) -> str:
    return "undefined" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def _evaluation(log: pd.DataFrame, where: pd.Series, last: date | None, filters) -> None:
    st.subheader("Did it work? Before and after")
    ids = log["id"].tolist()
    labels = {
        int(
            r.id
        ): f"{r.id}: {disruption.TACTICS.get(r.tactic, r.tactic)} from {pd.Timestamp(r.start_date):%d/%m/%Y} "
        f"at {w or hexes.cell_to_str(r.h3)}"
        for r, w in zip(log.itertuples(), where, strict=True)
    }
    if st.session_state.get("dl_pick") not in ids:
        st.session_state["dl_pick"] = max(ids)  # the latest recorded
    activity_id = st.selectbox("Activity", ids, format_func=labels.get, key="dl_pick")
    row = log[log["id"] == activity_id].iloc[0]
    c1, c2 = st.columns(2)
    k = c1.select_slider(
        "Surrounding ring (hexagons)",
        options=[1, 2],
        value=1,
        key="dl_k",
        help="The buffer: the hexagons within this many rings of the target, where displaced activity would show first.",
    )
    days = c2.number_input(
        "Days before and after (when the activity has no end date)",
        min_value=7,
        max_value=730,
        value=DEFAULT_DAYS,
        step=7,
        key="dl_days",
    )
    if last is None:
        st.info("No reports to evaluate against.")
        return
    start = pd.Timestamp(row["start_date"]).date()
    end = None if pd.isna(row["end_date"]) else pd.Timestamp(row["end_date"]).date()
    first = _first_report_date()
    periods = disruption.evaluation_periods(start, end, last, int(days), first=first)
    if periods is None:
        if start > last:
            st.info(f"The activity starts after the latest report ({last:%d/%m/%Y}): nothing to compare yet.")
        else:
            st.info(f"The activity starts on the first day of data ({first:%d/%m/%Y}): no before period.")
        return
    before, after = periods
    undated = dataclasses.replace(filters, date_from=None, date_to=None)
    result = _evaluate((state.version(), undated), int(row["h3"]), int(k), before, after, undated)
    st.caption(
        f"Before {before[0]:%d/%m/%Y}–{before[1]:%d/%m/%Y}, after {after[0]:%d/%m/%Y}–{after[1]:%d/%m/%Y} "
        f"({result['after_days']} days each). Target: hexagon {hexes.cell_to_str(row['h3'])}; buffer: the "
        f"{result['n_buffer_cells']} hexagons within {k} ring{'s' if k > 1 else ''}; control: every other located "
        "report. The sidebar's filters apply except its dates."
    )
    counts = pd.DataFrame(
        {
            "area": ["Target", "Buffer (ring)", "Control (rest of the area)"],
            "before": [result["a_before"], result["b_before"], result["c_before"]],
            "after": [result["a_after"], result["b_after"], result["c_after"]],
        }
    )
    left, right = st.columns(2)
    left.dataframe(
        counts,
        hide_index=True,
        use_container_width=True,
        column_config={
            "area": "Area",
            "before": st.column_config.NumberColumn("Reports before"),
            "after": st.column_config.NumberColumn("Reports after"),
        },
    )
    with right:
        m1, m2 = st.columns(2)
        m3, m4 = st.columns(2)
        m1.metric(
            "Success Measure",
            _fmt(result["success_measure"], 4),
            help="Aa/Ca − Ab/Cb: negative = the target improved against control",
        )
        m2.metric(
            "Buffer Displacement Measure",
            _fmt(result["buffer_displacement_measure"], 4),
            help="Ba/Ca − Bb/Cb: positive = possible displacement, negative = possible diffusion of benefit",
        )
        m3.metric(
            "WDQ", _fmt(result["wdq"], 2), help="BDM / SM, read only when the success measure is negative"
        )
        m4.metric(
            "Net effect (reports)",
            _fmt(result["net_effect"], 1),
            help="reports prevented in the target less reports added in the buffer, against the control trend",
        )
        st.info(result["interpretation"])
    st.caption(
        "Counts are reports, not incidents: a change can also come from a change in who reports. Few reports per "
        "hexagon and period make the measures noisy; read them beside the counts."
    )


def render() -> None:
    st.title("Disruption log")
    filters = st.session_state["filters"]
    last = _last_report_date()
    _record_form(filters)
    log = store.load_disruptions(state.engine())
    st.subheader("Logged activities")
    if log.empty:
        st.info("No activity recorded yet.")
        return
    names = state.places().drop_duplicates("place_id").set_index("place_id")["name"]
    # Each activity's hexagon by its streets, as the plan that led to it named it; the H3 id last.
    where = pd.Series("", index=log.index, dtype=object)
    for res, rows in log.groupby("res").groups.items():
        where[rows] = state.cell_descriptions(int(res), log.loc[rows, "h3"])
    shown = pd.DataFrame(
        {
            "id": log["id"],
            "tactic": log["tactic"].map(lambda t: disruption.TACTICS.get(t, t)),
            "place": log["place_id"].map(names),
            "where": where,
            "start_date": pd.to_datetime(log["start_date"]),
            "end_date": pd.to_datetime(log["end_date"]),
            "note": log["note"],
            "h3": hexes.cells_to_str(log["h3"]),
            "res": log["res"],
        }
    )
    st.dataframe(
        shown,
        hide_index=True,
        use_container_width=True,
        column_config={
            "id": st.column_config.NumberColumn("Id", width="small"),
            "tactic": "Tactic",
            "place": "Place",
            "where": "Where",
            "start_date": st.column_config.DateColumn("Start", format="DD/MM/YYYY"),
            "end_date": st.column_config.DateColumn("End", format="DD/MM/YYYY"),
            "note": "Note",
            "h3": h3_column(),
            "res": st.column_config.NumberColumn("Resolution", width="small"),
        },
    )
    _evaluation(log, where, last, filters)
