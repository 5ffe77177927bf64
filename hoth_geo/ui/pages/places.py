"""Places: the places and spaces ranked by matching reports, how concentrated reporting is within each
type of place, and how one place compares with the others of its type."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from hoth_geo.analysis import places as risky
from hoth_geo.schema import PLACE_TYPES
from hoth_geo.ui import state
from hoth_geo.ui.text import md_filters

__all__ = [
    "CHART_TYPES",
    "RANKING_ORDER",
    "render",
]

CHART_TYPES = 6  # place types on the concentration chart by default: the most reported ones
# What an officer and an analyst read first, left to right: a window too narrow for every column (a
# laptop at 1280 px shows about six) cuts off the type, locality and the within-type figures, which the
# pinned place name stays beside when the table is scrolled.
RANKING_ORDER = (
    "rank",
    "name",
    "reports",
    "agencies",
    "last",
    "concerns",
    "place_type",
    "locality",
    "indicators",
    "first",
    "rank_in_type",
    "share_of_type",
)


@st.cache_data(show_spinner=False, max_entries=16)
def _ranking(key: tuple, types: tuple[str, ...], _filters) -> pd.DataFrame:
    return risky.place_ranking(state.reports(), state.places(), _filters, place_types=types)


@st.cache_data(show_spinner=False, max_entries=16)
def _concentration(key: tuple, _filters) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    reports, places = state.reports(), state.places()
    return (
        risky.concentration_curve(reports, places, _filters),
        risky.lorenz_points(reports, places, _filters),
        risky.repeat_place_rate(reports, places, _filters),
        risky.repeat_place_rate(reports, places, _filters, by_type=False),
    )


@st.cache_data(show_spinner=False, max_entries=64)
def _comparison(key: tuple, place_id: str, _filters) -> dict:
    return risky.within_type_comparison(state.reports(), state.places(), place_id, _filters)


def _type_label(key) -> str:
    return PLACE_TYPES.get(key, "All places" if key == "all" else str(key))


def _ranking_section(ranked: pd.DataFrame, filters) -> None:
    st.caption(f"{len(ranked):,} places with matching reports ({md_filters(filters)}).")
    shown = ranked.assign(place_type=ranked["place_type"].map(PLACE_TYPES))
    st.dataframe(
        shown,
        hide_index=True,
        use_container_width=True,
        column_order=RANKING_ORDER,
        column_config={
            "rank": st.column_config.NumberColumn("Rank", pinned=True),
            "place_id": None,
            "name": st.column_config.TextColumn("Place", pinned=True),
            "place_type": "Type",
            "locality": "Locality",
            "reports": st.column_config.NumberColumn("Reports"),
            "agencies": st.column_config.NumberColumn("Agencies", help="distinct reporting agencies"),
            "concerns": "Top concerns",
            "indicators": st.column_config.TextColumn(
                "Top indicators", help="the signs of exploitation its reports noted most"
            ),
            "first": st.column_config.DatetimeColumn("First", format="DD/MM/YYYY"),
            "last": st.column_config.DatetimeColumn("Latest", format="DD/MM/YYYY"),
            "rank_in_type": st.column_config.NumberColumn("Rank in type"),
            "share_of_type": st.column_config.NumberColumn(
                "Share of type", format="percent", help="its share of the reports at places of its type"
            ),
        },
    )


def _concentration_section(key: tuple, filters, types: tuple[str, ...]) -> None:
    import altair as alt  # on first chart, not at import (~26 MB)

    curve, lorenz, repeat, repeat_all = _concentration(key, filters)
    if types:
        curve = curve[curve["place_type"].isin(types)]
        lorenz = lorenz[lorenz["place_type"].isin(types)]
        repeat = repeat[repeat["place_type"].isin(types)]
    st.subheader("Concentration within each type of place")
    st.caption(
        "Within a type of place, a few places usually draw most of the reports (risky facilities). Shares "
        "count every place of the type, including the places with no reports."
    )
    if curve.empty:
        st.info("No places of the selected types.")
        return
    meta = curve.drop_duplicates("place_type")[["place_type", "n_places", "n_places_with_reports", "reports"]]
    shares = curve.pivot(index="place_type", columns="top_share_of_places", values="share_of_reports")
    shares.columns = [f"top_{round(c * 100)}" for c in shares.columns]
    wide = meta.join(shares, on="place_type").sort_values("reports", ascending=False, kind="stable")
    wide["place_type"] = wide["place_type"].map(_type_label)
    config = {
        "place_type": "Type",
        "n_places": st.column_config.NumberColumn("Places"),
        "n_places_with_reports": st.column_config.NumberColumn("With reports"),
        "reports": st.column_config.NumberColumn("Reports"),
    }
    for col in wide.columns:
        if col.startswith("top_"):
            config[col] = st.column_config.NumberColumn(
                f"Top {col[4:]} % of places", format="percent", help="share of the type's reports"
            )
    st.dataframe(wide, hide_index=True, use_container_width=True, column_config=config)

    by_reports = curve.drop_duplicates("place_type").sort_values("reports", ascending=False)
    available = by_reports.loc[by_reports["reports"] > 0, "place_type"].tolist()
    chart_types = st.multiselect(
        "Types on the chart",
        available,
        default=available[:CHART_TYPES],
        format_func=_type_label,
        key="places_chart_types",
    )
    points = lorenz[lorenz["place_type"].isin(chart_types)]
    if not points.empty:
        points = points.assign(type=points["place_type"].map(_type_label))
        line = (
            alt.Chart(points)
            .mark_line(interpolate="step-after")
            .encode(
                x=alt.X("share_of_places:Q", title="Share of the type's places (most reported first)")
                .axis(format="%")
                .scale(domain=[0, 1]),
                y=alt.Y("share_of_reports:Q", title="Share of the type's reports")
                .axis(format="%")
                .scale(domain=[0, 1]),
                # Below the chart, one type a line, names whole: on a phone a legend at the side left
                # the curves a strip 40 px wide, and two columns ran off the screen.
                color=alt.Color("type:N", title="Type").legend(orient="bottom", columns=1, labelLimit=0),
                tooltip=[
                    alt.Tooltip("type:N", title="Type"),
                    alt.Tooltip("share_of_places:Q", title="Places", format=".0%"),
                    alt.Tooltip("share_of_reports:Q", title="Reports", format=".0%"),
                ],
            )
        )
        diagonal = (
            alt.Chart(pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0]}))
            .mark_line(strokeDash=[4, 4], color="#888888")
            .encode(x="x:Q", y="y:Q")
        )
        # The element's height holds a 300 px plot, its axis titles (about 90 px) and the legend below
        # (20 px a type), so more types lengthen the legend rather than flatten the curves.
        height = 300 + 90 + 20 * len(chart_types)
        st.altair_chart(diagonal + line, use_container_width=True, height=height)
        st.caption(
            "The dashed line is equal reporting at every place; the further a curve bows above it, the more concentrated."
        )

    st.subheader("Repeat places")
    # The headline covers the same places as the table below it: the selected types, or all places.
    base = repeat if types else repeat_all
    n_places = int(base["places_with_reports"].sum()) if not base.empty else 0
    c1, c2, c3 = st.columns(3)
    if n_places:
        c1.metric("Places with reports", f"{n_places:,}")
        c2.metric(
            "Repeat place rate",
            f"{int(base['repeat_places'].sum()) / n_places:.0%}",
            help="share of the places with reports that have two or more",
        )
        c3.metric(
            "Reports at repeat places",
            f"{int(base['reports_at_repeat_places'].sum()) / max(int(base['reports'].sum()), 1):.0%}",
        )
    shown = repeat[repeat["places_with_reports"] > 0].sort_values("reports", ascending=False)
    st.dataframe(
        shown.assign(place_type=shown["place_type"].map(_type_label)),
        hide_index=True,
        use_container_width=True,
        column_config={
            "place_type": "Type",
            "places_with_reports": st.column_config.NumberColumn("Places with reports"),
            "repeat_places": st.column_config.NumberColumn("Repeat places (2+)"),
            "repeat_place_rate": st.column_config.NumberColumn("Repeat place rate", format="percent"),
            "reports": st.column_config.NumberColumn("Reports"),
            "reports_at_repeat_places": st.column_config.NumberColumn("At repeat places"),
            "share_of_reports_at_repeat_places": st.column_config.NumberColumn(
                "Share at repeat places", format="percent"
            ),
        },
    )


def _comparison_section(key: tuple, ranked: pd.DataFrame, filters) -> None:
    st.subheader("One place against the others of its type")
    if ranked.empty:
        st.info("No place has matching reports.")
        return
    labels = {
        r.place_id: " — ".join(
            str(x) for x in (r.name, r.locality, PLACE_TYPES.get(r.place_type)) if pd.notna(x)
        )
        + f" ({r.reports:,} reports)"
        for r in ranked.itertuples()
    }
    place_id = st.selectbox("Place", list(labels), format_func=labels.get, key="places_compare")
    result = _comparison(key, place_id, filters)
    c1, c2, c3, c4, c5 = st.columns(5)
    c1.metric("Its reports", f"{result['reports']:,}")
    c2.metric(
        "Median of the others",
        "–" if np.isnan(result["other_median"]) else f"{result['other_median']:g}",
        help=f"over the {result['n_other_places']:,} other places of its type, including those with no reports",
    )
    c3.metric(
        "90th percentile of the others", "–" if np.isnan(result["other_p90"]) else f"{result['other_p90']:g}"
    )
    c4.metric(
        "Percentile rank",
        "–" if np.isnan(result["percentile_rank"]) else f"{result['percentile_rank']:.0f}",
        help="% of the other places of its type with fewer reports (ties count half)",
    )
    c5.metric("Flagged as unusual", "Yes" if result["flagged"] else "No")
    st.text(result["note"])
    st.caption(
        "The flag is a screening signal (Poisson test at 0.001 against the type's mean): real places differ "
        "in size and opening hours, so it prompts a closer look, it is not proof."
    )


def render() -> None:
    st.title("Places")
    filters = st.session_state["filters"]
    # The sidebar's place-type filter decides which places are ranked and compared here too.
    types = tuple(filters.place_types)
    key = (state.version(), filters)
    ranked = _ranking(key, types, filters)
    _ranking_section(ranked, filters)
    _concentration_section(key, filters, types)
    _comparison_section(key, ranked, filters)
