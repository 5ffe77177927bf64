"""Hotspots: Gi* hot and cold spots, emerging hot spots, change between two periods and a smoothed
intensity surface, all on H3 hexagons and all for the reports matching the shared filters."""

from __future__ import annotations

import tempfile
from datetime import date, timedelta

import numpy as np
import pandas as pd
import shapely
import streamlit as st
from streamlit_folium import st_folium

from hoth_geo import hexes, settings
from hoth_geo.access import privacy
from hoth_geo.analysis import hotspots, temporal
from hoth_geo.deliver import maps
from hoth_geo.errors import HothGeoError, InvalidInput
from hoth_geo.ui import state
from hoth_geo.ui.columns import h3_column
from hoth_geo.ui.text import md_escape, md_filters

__all__ = [
    "GI",
    "EMERGING",
    "CHANGE",
    "DENSITY",
    "VIEWS",
    "RESOLUTIONS",
    "DENSITY_DRAW_SHARE",
    "MAX_TABLE_ROWS",
    "MAX_FIT_ZOOM",
    "render",
]

GI = "Hot and cold spots (Gi*)"
EMERGING = "Emerging hot spots"
CHANGE = "Change between periods"
DENSITY = "Intensity (kernel density)"
VIEWS = (GI, EMERGING, CHANGE, DENSITY)

RESOLUTIONS = tuple(r for r in settings.MAP_RESOLUTIONS if 6 <= r <= 10)
# Density below this share of the highest density is not drawn: it keeps the map light and the
# faint tails of the kernel say nothing an analyst can act on.
DENSITY_DRAW_SHARE = 0.01
MAX_TABLE_ROWS = 500
MAX_FIT_ZOOM = 13  # a map fitted to one or two hexagons would otherwise zoom in to the pavement

_STEP_WORDS = {
    "1D": "one day",
    "2D": "two days",
    "3D": "three days",
    "7D": "one week",
    "14D": "two weeks",
    "MS": "one calendar month",
    "QS": "one quarter",
    "6MS": "six months",
    "YS": "one year",
}


# --- Cached computations (keyed on the data version, the filters and the parameters) -----------------


@st.cache_data(show_spinner="Computing Gi*…", max_entries=16)
def _gi(key: tuple, res: int, k: int, _filters, area_wkb: bytes | None = None) -> hotspots.GiResult:
    area = shapely.from_wkb(area_wkb) if area_wkb else None
    return hotspots.hotspots(state.reports(), res, _filters, k=k, area=area)


def _study_area_upload() -> bytes | None:
    """An optional study-area boundary for this session (GeoJSON or GeoPackage), as WKB."""
    with st.expander("Study area"):
        st.caption(
            f"By default the grid is every hexagon of {md_escape(state.area().name)} (the partnership's area). "
            "Upload a GeoJSON or GeoPackage boundary to analyse another area; it applies to this session."
        )
        upload = st.file_uploader("Boundary file", type=["geojson", "json", "gpkg"], key="hs_boundary")
        if upload is None:
            st.session_state.pop("hs_area_wkb", None)
            return None
        if st.session_state.get("hs_area_name") != (upload.name, upload.size):
            suffix = ".gpkg" if upload.name.lower().endswith(".gpkg") else ".geojson"
            with tempfile.NamedTemporaryFile(suffix=suffix) as tmp:
                tmp.write(upload.getvalue())
                tmp.flush()
                try:
                    area = hotspots.read_boundary(tmp.name)
                except InvalidInput as exc:
                    st.error(f"Boundary not used: {md_escape(str(exc).replace(tmp.name, upload.name))}")
                    return None
            st.session_state["hs_area_wkb"] = shapely.to_wkb(area)
            st.session_state["hs_area_name"] = (upload.name, upload.size)
        st.success(f"Using the boundary in {md_escape(upload.name)}.")
        return st.session_state.get("hs_area_wkb")


@st.cache_data(show_spinner="Computing emerging hot spots…", max_entries=16)
def _emerging(
    key: tuple, res: int, k: int, _filters, area_wkb: bytes | None = None
) -> temporal.EmergingResult:
    # The grid Gi* uses (the uploaded boundary's or the deployment's hexagons, zeros included, plus
    # those of any report outside it), as emerging_hotspots builds it by default, taken from the
    # views' shared cache rather than built again.
    grid = _counts_and_grid(key, res, _filters, area_wkb)[1]
    return temporal.emerging_hotspots(state.reports(), res, _filters, k=k, grid_cells=grid)


@st.cache_data(show_spinner=False, max_entries=16)
def _change(key: tuple, res: int, before: tuple, after: tuple, _filters) -> temporal.PeriodChange:
    return temporal.period_change(state.reports(), res, _filters, before=before, after=after)


@st.cache_data(show_spinner=False, max_entries=16)
def _counts_and_grid(
    key: tuple, res: int, _filters, area_wkb: bytes | None = None
) -> tuple[pd.DataFrame, np.ndarray, str | None]:
    area = shapely.from_wkb(area_wkb) if area_wkb else None
    return hotspots.count_grid(state.reports(), res, _filters, area=area)


@st.cache_data(show_spinner="Smoothing…", max_entries=16)
def _density(
    key: tuple, res: int, bandwidth_m: float, _filters, area_wkb: bytes | None = None
) -> pd.DataFrame:
    # The counts and grid the view has already drawn from (hotspots.density would build them again).
    counts, grid, _ = _counts_and_grid(key, res, _filters, area_wkb)
    return hotspots.kernel_density(counts, grid, bandwidth_m=bandwidth_m).table


# --- Helpers -----------------------------------------------------------------------------------------


def _with_cell_text(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with the H3 cell as its hex string, the form analysts paste and search for."""
    return frame.assign(h3=hexes.cells_to_str(frame["h3"]))


def _show_map(m, key: str) -> None:
    st_folium(
        maps.prepare_for_streamlit(m),
        key=key,
        height=600,
        use_container_width=True,
        returned_objects=["last_clicked"],
    )


def _month_back(d: date, months: int) -> date:
    return (pd.Timestamp(d) - pd.DateOffset(months=months)).date()


def _date_pair(label: str, default: tuple[date, date], help_text: str) -> tuple[date, date] | None:
    picked = st.date_input(label, value=default, help=help_text)
    if isinstance(picked, tuple | list) and len(picked) == 2:
        return picked[0], picked[1]
    return None


# --- Views -------------------------------------------------------------------------------------------


def _gi_view(
    key: tuple, res: int, k: int, filters, *, classes_only: bool = False, area_wkb: bytes | None = None
) -> None:
    try:
        result = _gi(key, res, k, filters, area_wkb)
    except hotspots.TooFewReports as exc:
        # The number of matching reports goes through the disclosure path: a partner never reads an
        # exact small count here (privacy.too_few_message).
        policy = state.policy()
        if policy.suppresses:
            message = privacy.too_few_message(exc, state.reports(), filters, policy)
        else:
            message = (
                f"{exc.n_reports:,} located reports match the filters and at least {exc.minimum} are needed"
            )
        st.warning(
            f"Not enough reports for a hotspot analysis: {md_escape(message)}. Widen the filters (dates, "
            "concerns, place types) to see hot and cold spots.",
            icon="⚠️",
        )
        return
    if result.warning:
        st.warning(result.warning)
    table = result.table
    significant = table[table["class"] != "not_significant"]
    if not classes_only:
        # A hot hexagon with no reports of its own is hot because its neighbours are: shown apart, so
        # nobody reads it as a place with reports. (Partners see classes only: telling an empty
        # hexagon apart would disclose a count.)
        significant = significant.assign(
            **{"class": maps.gistar_map_classes(significant["class"], significant["count"]).to_numpy()},
            where=state.cell_descriptions(res, significant["h3"]),
            p_shown=[maps.format_p(p) for p in significant["p_fdr"]],
        )
    hot = significant[significant["class"].str.startswith("hot_9")]
    beside = significant[significant["class"] == "hot_neighbour"]
    cold = significant[significant["class"].str.startswith("cold")]
    left, right = st.columns([3, 1])
    with right:
        if not classes_only:
            st.metric("Reports analysed", f"{result.n_reports:,}")
        st.metric("Hexagons tested", f"{len(table):,}")
        st.metric("Hot spot hexagons" if classes_only else "Hot spots with reports", f"{len(hot):,}")
        if not classes_only:
            st.metric("Beside a hot spot, no reports", f"{len(beside):,}")
        st.metric("Cold spot hexagons", f"{len(cold):,}")
    with left:
        m = maps.build_hex_map(
            significant,
            value_col="class",
            value_label="Class",
            categories=maps.GISTAR_CATEGORIES,
            tooltip_cols={}
            if classes_only
            else {"where": "Where", "count": "Reports", "z": "Gi* z-score", "p_shown": "p (FDR adjusted)"},
            legend_title="Gi* hot and cold spots",
            zoom=MAX_FIT_ZOOM,
            emphasise_top=2,  # the 95 % and 99 % hot spots keep a visible size at the area's zoom
            # The whole area tested, not only the hot spots: where there are none is part of the answer.
            fit_bounds=_cells_bounds(table["h3"]),
        )
        _show_map(m, f"gimap-{res}-{k}")
    st.caption(
        f"Getis-Ord Gi* over every hexagon of the study area (empty hexagons count as zero), each compared "
        f"with its neighbours within {k} ring{'s' if k > 1 else ''}. With {len(table):,} hexagons tested at "
        "once, plain p-values would flag many by chance, so the classes use Benjamini-Hochberg "
        "false-discovery-rate adjusted p-values: among the hexagons marked at 95 % confidence, at most "
        "about 5 % are expected to be false alarms. Hexagons that are not significant are not drawn."
    )
    if classes_only:
        return
    st.subheader("Hot spot hexagons")
    if hot.empty:
        st.info("No hexagon is a significant hot spot for these filters.")
        return
    shown = _with_cell_text(hot.sort_values(["p_fdr", "z"], ascending=[True, False]))
    # Every row is a hot spot with reports (the heading says so): the class is its confidence, short
    # enough that the row fits a laptop screen.
    shown = shown.assign(confidence=shown["class"].map(lambda c: f"{c.removeprefix('hot_')} %"))
    st.dataframe(
        shown[["where", "count", "confidence", "p_shown", "z", "h3"]].head(MAX_TABLE_ROWS),
        hide_index=True,
        use_container_width=True,
        column_config={
            "where": st.column_config.TextColumn("Where", width="large"),
            "count": st.column_config.NumberColumn("Reports", width="small"),
            "confidence": st.column_config.TextColumn(
                "Confidence", width="small", help="Hot spot with reports at this confidence (FDR adjusted)"
            ),
            "p_shown": st.column_config.TextColumn(
                "p (FDR)", width="small", help="Benjamini-Hochberg false-discovery-rate adjusted p-value"
            ),
            "z": st.column_config.NumberColumn("Gi* z-score", format="%.2f", width="small"),
            "h3": h3_column(),
        },
    )
    if not beside.empty:
        st.caption(
            f"{len(beside):,} more hexagons are hot spots only because they lie beside hot ones: they have no "
            "reports of their own (pale violet on the map)."
        )


def _part_steps_note(filters, step: str) -> str:
    """A sentence naming the steps the dates chosen cover only in part (none when they are whole)."""
    if filters is None or not filters.date_from or not filters.date_to:
        return ""  # only the dates chosen are said, never the data's own first or last day
    part = temporal.part_steps(filters.date_from, filters.date_to, step)
    if not part:
        return ""
    days = " and ".join(
        f"{a:%d %b %Y}" if a == b else f"{a:%d %b %Y}\u2013{b:%d %b %Y}" for _start, a, b in part
    )
    return (
        f" Part steps: {days} only, as far as the dates chosen reach; they hold fewer reports for that"
        " reason alone, and the trend test reads them as whole steps."
    )


def _emerging_view(
    key: tuple, res: int, k: int, filters, *, classes_only: bool = False, area_wkb: bytes | None = None
) -> None:
    try:
        result = _emerging(key, res, k, filters, area_wkb)
    except HothGeoError as exc:
        if isinstance(exc, hotspots.TooFewReports) and state.policy().suppresses:
            exc = privacy.too_few_message(exc, state.reports(), filters, state.policy())
        st.warning(f"No emerging hot spot analysis for these filters: {md_escape(exc)}", icon="⚠️")
        return
    table, step, starts = result.table, result.step, result.step_starts
    patterned = table[table["category"] != "no_pattern"]
    left, right = st.columns([3, 1])
    with left:
        m = maps.build_hex_map(
            patterned,
            value_col="category",
            value_label="Pattern",
            categories=maps.EMERGING_CATEGORIES,
            tooltip_cols={"n_hot_steps": "Hot steps", "n_cold_steps": "Cold steps"}
            if classes_only
            else {
                "total_count": "Reports (all steps)",
                "final_count": "Reports (last step)",
                "n_hot_steps": "Hot steps",
                "n_cold_steps": "Cold steps",
                "trend_z": "Trend z (Mann-Kendall)",
            },
            legend_title="Emerging hot spots",
            zoom=MAX_FIT_ZOOM,
        )
        _show_map(m, f"ehmap-{res}-{k}")
    with right:
        counts = (
            table["category"]
            .value_counts()
            .rename_axis("category")
            .reset_index(name="hexagons")
            .assign(pattern=lambda d: d["category"].map(temporal.EMERGING_LABELS))
        )
        st.dataframe(
            counts[["pattern", "hexagons"]],
            hide_index=True,
            use_container_width=True,
            column_config={"pattern": "Pattern", "hexagons": st.column_config.NumberColumn("Hexagons")},
        )
    st.caption(
        f"Time step: {_STEP_WORDS.get(step, step)} ({step}), {len(starts)} steps from "
        f"{starts[0]:%d %b %Y} (chosen automatically for the filter's date range). Gi* is computed for "
        "every hexagon of the study area in every step, empty ones included as in the Gi* view (neighbours "
        f"within {k} ring{'s' if k > 1 else ''}, FDR adjusted per step, 90 % confidence); the Mann-Kendall "
        "test reads the trend of each hexagon's z-scores. Hexagons with no pattern are not drawn. Method: "
        "docs/time-analysis.md." + _part_steps_note(filters, step)
    )
    if not patterned.empty:
        if classes_only:
            return
        st.subheader("Hexagons with a pattern")
        listed = patterned.sort_values(["final_z"], ascending=False).head(MAX_TABLE_ROWS)
        shown = _with_cell_text(
            listed.assign(where=state.cell_descriptions(res, listed["h3"]))[
                [
                    "where",
                    "label",
                    "total_count",
                    "final_count",
                    "n_hot_steps",
                    "n_cold_steps",
                    "trend_z",
                    "trend_p",
                    "h3",
                ]
            ]
        )
        # Named by its streets first, as in the Gi* table: an officer cannot place '88194650c9fffff'.
        st.dataframe(
            shown,
            hide_index=True,
            use_container_width=True,
            column_config={
                "where": st.column_config.TextColumn("Where", width="large"),
                "h3": h3_column(),
                "label": "Pattern",
                "total_count": st.column_config.NumberColumn("Reports"),
                "final_count": st.column_config.NumberColumn("In the last step"),
                "n_hot_steps": st.column_config.NumberColumn("Hot steps"),
                "n_cold_steps": st.column_config.NumberColumn("Cold steps"),
                "trend_z": st.column_config.NumberColumn("Trend z", format="%.2f"),
                "trend_p": st.column_config.NumberColumn("Trend p", format="%.2g"),
            },
        )


def _change_view(key: tuple, res: int, filters, area_uploaded: bool = False) -> None:
    reports = state.reports()
    data_hi = reports["observed_at"].max().date() if not reports.empty else date.today()
    hi = filters.date_to or data_hi
    lo = filters.date_from or _month_back(hi, 12)
    after_lo = max(_month_back(hi, 6) + timedelta(days=1), lo)
    before_hi = after_lo - timedelta(days=1)
    before_lo = _month_back(after_lo, 6)
    c1, c2 = st.columns(2)
    with c1:
        before = _date_pair(
            "Before (earlier period)",
            (before_lo, before_hi),
            "Default: the six months before the 'after' period.",
        )
    with c2:
        after = _date_pair(
            "After (later period)", (after_lo, hi), "Default: the last six months of the filter's date range."
        )
    if before is None or after is None:
        st.info("Pick a start and an end date for both periods.")
        return
    try:
        change = _change(key, res, before, after, filters)
    except HothGeoError as exc:
        st.error(md_escape(exc))  # may name the area, from its boundary file
        return
    table = change.table
    up = table[table["direction"] == "up"]
    down = table[table["direction"] == "down"]
    left, right = st.columns([3, 1])
    with right:
        st.metric("Hexagons with reports", f"{len(table):,}")
        st.metric("Significantly more", f"{len(up):,}")
        st.metric("Significantly fewer", f"{len(down):,}")
        st.metric(
            "Reports before / after",
            f"{int(table['before'].sum()):,} / {int(table['after'].sum()):,}" if not table.empty else "0 / 0",
        )
    with left:
        changed = table[table["direction"] != "no change"]
        m = maps.build_hex_map(
            changed,
            value_col="direction",
            value_label="Change",
            categories=maps.CHANGE_CATEGORIES,
            tooltip_cols={"before": "Before", "after": "After", "ratio": "Rate ratio", "p_fdr": "p (FDR)"},
            legend_title="Change between the periods",
            zoom=MAX_FIT_ZOOM,
        )
        _show_map(m, f"chmap-{res}")
    st.caption(
        f"Each hexagon's reports in the two periods ({change.before_days} and "
        f"{change.after_days} days) are compared with an exact binomial test that allows for "
        "the periods' lengths, FDR adjusted over the hexagons with any report; 'more' or 'fewer' means "
        "p (FDR) ≤ 0.05. The periods replace the sidebar's dates here; the other filters apply."
        + (
            " The uploaded boundary does not change this comparison: as in the Gi* view, no report outside "
            "the boundary is dropped, and only hexagons with reports in either period are tested."
            if area_uploaded
            else ""
        )
    )
    if not table.empty:
        # Significant changes first, then the largest differences.
        order = table.assign(size=table["difference"].abs()).sort_values(
            ["p_fdr", "size", "h3"], ascending=[True, False, True]
        )
        listed = order.head(MAX_TABLE_ROWS)
        shown = _with_cell_text(listed.assign(where=state.cell_descriptions(res, listed["h3"])))
        st.dataframe(
            shown[["where", "before", "after", "difference", "ratio", "p_fdr", "direction", "h3"]],
            hide_index=True,
            use_container_width=True,
            column_config={
                "where": st.column_config.TextColumn("Where", width="large"),
                "h3": h3_column(),
                "before": st.column_config.NumberColumn("Before"),
                "after": st.column_config.NumberColumn("After"),
                "difference": st.column_config.NumberColumn("Difference"),
                "ratio": st.column_config.NumberColumn("Rate ratio", format="%.2f"),
                "p_fdr": st.column_config.NumberColumn("p (FDR adjusted)", format="%.2g"),
                "direction": "Change",
            },
        )


def _density_view(key: tuple, res: int, filters, area_wkb: bytes | None = None) -> None:
    counts, grid, warning = _counts_and_grid(key, res, filters, area_wkb)
    if counts.empty:
        st.info("No located reports match the filters.")
        return
    if warning:
        st.warning(warning)
    default_m = hotspots.default_bandwidth_m(counts)
    lo_m = max(100, int(round(default_m / 4, -2)))
    hi_m = max(int(round(default_m * 4, -2)), lo_m + 500)
    bandwidth = st.columns([2, 1])[0].slider(
        "Bandwidth (kernel radius, metres)",
        min_value=lo_m,
        max_value=hi_m,
        value=int(round(default_m, -2)),
        step=100,
        help=f"Default {default_m:,.0f} m: Silverman's rule for these reports, at least two hexagon spacings.",
    )
    density = _density(key, res, float(bandwidth), filters, area_wkb)
    top = float(density["density"].max())
    drawn = density[density["density"] > top * DENSITY_DRAW_SHARE] if top > 0 else density.iloc[0:0]
    left, right = st.columns([3, 1])
    with right:
        st.metric("Highest density", f"{top:,.1f} per km²")
        st.metric("Hexagons drawn", f"{len(drawn):,}")
        st.metric("Reports smoothed", f"{int(counts['count'].sum()):,}")
    with left:
        m = maps.build_hex_map(
            drawn,
            value_col="density",
            value_label="Reports per km²",
            legend_title="Reports per km² (smoothed)",
            zoom=MAX_FIT_ZOOM,
        )
        _show_map(m, f"kdmap-{res}")
    st.caption(
        f"Quartic kernel with a {bandwidth:,} m radius: each hexagon's reports are spread over the hexagons "
        f"around it. Hexagons below {DENSITY_DRAW_SHARE:.0%} of the highest density are not drawn. The surface "
        "shows where reports concentrate but carries no significance test: use the Gi* view for 'more than "
        "chance'."
    )


def _cells_bounds(cells) -> list[list[float]] | None:
    """[[south, west], [north, east]] of the centres of ``cells`` (None for none)."""
    if not len(cells):
        return None
    lat, lng = hexes.cell_centres(np.asarray(cells, dtype=np.int64))
    return [[float(lat.min()), float(lng.min())], [float(lat.max()), float(lng.max())]]


def render() -> None:
    st.title("Hotspots")
    filters = st.session_state["filters"]
    policy = state.policy()
    # Partners see classes only: a count or a z-score next to a hexagon can give a small number back.
    classes_only = policy.suppresses
    views = (GI, EMERGING) if classes_only else VIEWS
    view = st.radio("View", views, horizontal=True, key="hs_view")
    if classes_only:
        filters = privacy.partner_filters(filters, policy)
    c2, c3, _ = st.columns([1, 1, 2])
    with c2:
        if classes_only:
            # One partner resolution: two would let a coarse hexagon be compared with its children.
            res = policy.coarsest_res
            st.caption(f"Hexagons: H3 resolution {res} (the partner resolution).")
        else:
            res = st.select_slider(
                "Hexagon size (H3 resolution)",
                options=list(RESOLUTIONS),
                value=8,
                key="hs_res",
                help="6 ≈ 36 km² per hexagon … 10 ≈ 0.015 km².",
            )
    with c3:
        k = st.select_slider(
            "Neighbourhood (rings)",
            options=[1, 2, 3],
            value=1,
            key="hs_k",
            help="Each hexagon is compared together with the hexagons within this many rings of it.",
            disabled=view in (CHANGE, DENSITY),
        )
    st.caption(f"Filters: {md_filters(filters)}")
    key = (state.version(), filters)
    area_wkb = None if classes_only else _study_area_upload()
    if view == GI:
        _gi_view(key, res, k, filters, classes_only=classes_only, area_wkb=area_wkb)
    elif view == EMERGING:
        _emerging_view(key, res, k, filters, classes_only=classes_only, area_wkb=area_wkb)
    elif view == CHANGE:
        _change_view(key, res, filters, area_wkb is not None)
    else:
        _density_view(key, res, filters, area_wkb)
