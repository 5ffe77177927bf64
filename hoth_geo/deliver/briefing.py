"""The MACE briefing pack: one multi-page A4-landscape PDF for a strategic meeting.

``briefing_pack`` turns the analysis frame and the places frame into a pack that can go on a
meeting-room screen, be printed and be circulated, with no network at any point:

 1. cover (title, period, area, filters, audience, marking, headline figures);
 2. hotspot map (Gi* classes), or a page saying plainly why there is none;
 3. emerging hot spot map;
 4. the most reported places (top 15);
 5. reports per month;
 6. day-of-week x hour-of-day profile, with reports of unknown time counted apart;
 7. patrol plan summary (top 10 time windows);
 8. method note (hotspots, emerging classes, suppression, the marking).

Every page carries the protective marking in its header and footer and 'Page n of N'.

The sharing policy (``hoth_geo.access.privacy``) decides what each audience sees. For partner and public
packs every count on every page, and every number in a message, has been through the disclosure
path (``privacy.disclose_counts`` / ``disclose_selection``: suppression, cell-key perturbation,
rounded totals), the selection is whole months, place types and concerns (``privacy.partner_filters``),
maps are at ``policy.coarsest_res``, grading and agencies are never mentioned, venues are named only
when released (``privacy.named_place_rule``; page 4 shows place types otherwise), and the patrol plan
is a hex-free summary of time windows and areas. See docs/briefing-pack.md.
"""

from __future__ import annotations

import dataclasses
import io
import math
import textwrap
from collections.abc import Callable
from datetime import date, datetime

import numpy as np
import pandas as pd
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.colors import LinearSegmentedColormap, to_hex
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from hoth_geo import hexes as hx
from hoth_geo.access import privacy
from hoth_geo.analysis.hotspots import TooFewReports, hotspots
from hoth_geo.analysis.patrol import patrol_plan
from hoth_geo.analysis.places import place_ranking
from hoth_geo.analysis.temporal import (
    WEEKDAYS,
    days_covered,
    emerging_hotspots,
    monthly_trend,
    time_only_in_words,
    time_profile,
)
from hoth_geo.deliver.maps import PALETTE
from hoth_geo.deliver.static_maps import (
    PAGE_SIZES_IN,
    attribution_lines,
    boundary_frame,
    draw_inset,
    draw_map_panel,
    map_layer,
    mark_cells,
    page_frame,
    plain,
    resolve_policy,
    text_rc,
    tile_source,
    town_positions,
)
from hoth_geo.intake.gazetteer import assign_locality
from hoth_geo.local_time import local_now, zone_label
from hoth_geo.schema import CONCERNS, PLACE_TYPES, key_totals
from hoth_geo.selection import ReportFilter, filter_mask, located
from hoth_geo.validation import check_frames

__all__ = ["PACK_TITLE", "TOP_PLACES", "PATROL_SLOTS", "briefing_pack", "filters_text"]

PACK_TITLE = "Harm Outside the Home: places and spaces briefing"
TOP_PLACES = 15
PATROL_SLOTS = 10
PATROL_SLOT_HOURS = 2
_PAGE = PAGE_SIZES_IN["A4-landscape"]
_INK = "#222222"
_MUTED = "#555555"
_HEAT = LinearSegmentedColormap.from_list("hoth_heat", list(PALETTE))

_AUDIENCE_TEXT = {
    "police": "Police (full detail)",
    "partner": "Partner agencies (aggregated; small numbers suppressed)",
    "public": "Public (aggregated; small numbers suppressed; business names withheld)",
}


# --- Text helpers ----------------------------------------------------------------------------------


def filters_text(filters: ReportFilter | None, policy: privacy.SharingPolicy, *, dates: bool = True) -> str:
    """The filters as a reader sees them. Grading is police-only, so outside the police a grading
    filter is mentioned only as a police-only filter, never by its values. ``dates=False`` leaves the
    date range out, for a page that prints the period once on its own (the briefing pack)."""
    if filters is not None and not dates:
        filters = dataclasses.replace(filters, date_from=None, date_to=None)
    if filters is None or filters == ReportFilter():
        return "all reports"
    if policy.show_grading or not (filters.grading_sources or filters.grading_information):
        return plain(filters.describe(), 400)
    shown = dataclasses.replace(filters, grading_sources=(), grading_information=())
    return plain(shown.describe() + "; a police-only filter was also applied", 400)


def _period_text(reports: pd.DataFrame, filters: ReportFilter | None, period_label: str | None) -> str:
    if period_label:
        return plain(period_label, 120)
    keep = filter_mask(reports, filters)
    t = reports["observed_at"][keep]
    lo = filters.date_from if filters and filters.date_from else (t.min().date() if len(t) else None)
    hi = filters.date_to if filters and filters.date_to else (t.max().date() if len(t) else None)
    if lo is None or hi is None:
        return "no reports in the selection"
    return f"{lo:%d %b %Y} to {hi:%d %b %Y}"


def _shown(value) -> str:
    """A count or suppression mark as printed ('1,234', '<5', '[c]')."""
    if isinstance(value, str):
        return value
    return f"{int(value):,}"


def _heading(fig: Figure, rect, text: str, sub: str = "") -> tuple[float, float, float, float]:
    """A page heading at the top of the content area; returns the area left under it."""
    left, bottom, width, height = rect
    hi = fig.get_size_inches()[1]
    top = bottom + height
    fig.text(
        left,
        top - 0.02 / hi,
        plain(text, 120),
        ha="left",
        va="top",
        fontsize=13,
        fontweight="bold",
        color=_INK,
    )
    used = 0.32
    if sub:
        for line in textwrap.wrap(plain(sub, 500), width=150)[:2]:
            fig.text(left, top - used / hi, line, ha="left", va="top", fontsize=8.5, color=_MUTED)
            used += 0.16
    used += 0.08
    return (left, bottom, width, height - used / hi)


def _paragraphs(
    fig: Figure, x: float, y: float, blocks, width_chars: int, *, fontsize=9.5, line_in=0.19
) -> float:
    """Write (heading, text) blocks downwards from y (figure fraction); returns the y reached."""
    hi = fig.get_size_inches()[1]
    for head, body in blocks:
        if head:
            fig.text(x, y, head, ha="left", va="top", fontsize=fontsize + 1, fontweight="bold", color=_INK)
            y -= (line_in + 0.04) / hi
        for para in body.split("\n"):
            for line in textwrap.wrap(para, width=width_chars) or [""]:
                fig.text(x, y, line, ha="left", va="top", fontsize=fontsize, color=_INK)
                y -= line_in / hi
        y -= 0.1 / hi
    return y


def _table(
    fig: Figure, rect, columns: list[tuple[str, float, str]], rows: list[list[str]], *, fontsize: float = 8.5
) -> None:
    """A plain ruled table: columns are (header, relative width, 'l'|'r'). Text that does not fit its
    column is wrapped onto the lines the row has room for, not cut, so a place name is read whole."""
    left, bottom, width, height = rect
    wi, hi = fig.get_size_inches()
    total = sum(w for _, w, _ in columns)
    widths = [width * w / total for _, w, _ in columns]
    line_in = fontsize * 1.18 / 72
    wrapped = []
    for row in rows:
        cells = []
        for (_, _, _), w, cell in zip(columns, widths, row, strict=True):
            # Characters that fit the column at this size (DejaVu Sans averages ~0.55 em).
            fit = max(int((w * wi - 0.12) * 72 / (fontsize * 0.56)), 3)
            cells.append(textwrap.wrap(plain(cell, 400), width=fit, break_long_words=True) or [""])
        wrapped.append(cells)
    # Rows as tall as their longest cell, at least 0.3 in; squeezed only if the page cannot hold them.
    wanted = [max(0.3, max(len(c) for c in cells) * line_in + 0.1) / hi for cells in wrapped]
    head_h = 0.3 / hi
    scale = min(1.0, (height - head_h) / max(sum(wanted), 1e-9))
    heights = [h * scale for h in wanted]
    y = bottom + height
    xs = np.concatenate([[left], left + np.cumsum(widths)])[:-1]
    fig.add_artist(
        Rectangle(
            (left, y - head_h),
            width,
            head_h,
            transform=fig.transFigure,
            facecolor="#e9edf2",
            edgecolor="none",
        )
    )
    for (head, _, align), x0, w in zip(columns, xs, widths, strict=True):
        tx = x0 + (w - 0.06 / wi if align == "r" else 0.06 / wi)
        fig.text(
            tx,
            y - head_h / 2,
            head,
            ha="right" if align == "r" else "left",
            va="center",
            fontsize=fontsize,
            fontweight="bold",
            color=_INK,
        )
    y -= head_h
    for i, (cells, row_h) in enumerate(zip(wrapped, heights, strict=True)):
        if i % 2:
            fig.add_artist(
                Rectangle(
                    (left, y - row_h),
                    width,
                    row_h,
                    transform=fig.transFigure,
                    facecolor="#f6f7f9",
                    edgecolor="none",
                )
            )
        for (_, _, align), x0, w, lines in zip(columns, xs, widths, cells, strict=True):
            tx = x0 + (w - 0.06 / wi if align == "r" else 0.06 / wi)
            fig.text(
                tx,
                y - row_h / 2,
                "\n".join(lines),
                ha="right" if align == "r" else "left",
                va="center",
                multialignment="right" if align == "r" else "left",
                linespacing=1.1,
                fontsize=fontsize,
                color=_INK,
            )
        y -= row_h
    fig.add_artist(
        Rectangle(
            (left, y),
            width,
            bottom + height - y,
            transform=fig.transFigure,
            fill=False,
            edgecolor="#c5ccd6",
            lw=0.6,
        )
    )


def _note_page(fig: Figure, rect, heading: str, message: str) -> None:
    inner = _heading(fig, rect, heading)
    left, bottom, width, height = inner
    _paragraphs(
        fig,
        left,
        bottom + height - 0.3 / fig.get_size_inches()[1],
        [("", message)],
        120,
        fontsize=11,
        line_in=0.24,
    )


# --- The pack --------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Context:
    reports: pd.DataFrame
    places: pd.DataFrame
    filters: ReportFilter | None
    policy: privacy.SharingPolicy
    res: int
    res_note: str | None
    period: str
    area: str
    demo: bool
    generated_at: datetime
    osm: bool


def _short_concern(key: str) -> str:
    return CONCERNS.get(key, key).split(" (")[0]


def _place_names(ctx: _Context) -> pd.Series:
    """Place id -> the name this pack may print: every name for the police; outside the police only
    the places that pass the named-venue rule (``privacy.named_place_rule``), none without a release."""
    frame = ctx.places.drop_duplicates("place_id")[["place_id", "name", "place_type"]]
    if not ctx.policy.suppresses:
        return frame.set_index("place_id")["name"]
    ranking = place_ranking(ctx.reports, ctx.places, ctx.filters)
    named = ranking[privacy.named_place_rule(ranking["reports"], ranking["agencies"], ctx.policy)]
    return frame[frame["place_id"].isin(named["place_id"])].set_index("place_id")["name"]


def _cover(fig: Figure, rect, ctx: _Context) -> None:
    left, bottom, width, height = rect
    wi, hi = fig.get_size_inches()
    policy = ctx.policy
    top = bottom + height
    fig.text(
        left, top - 0.25 / hi, PACK_TITLE, ha="left", va="top", fontsize=22, fontweight="bold", color=_INK
    )
    y = top - 0.85 / hi
    keep = filter_mask(ctx.reports, ctx.filters)
    is_located = located(ctx.reports, ctx.res)  # on the pack's maps
    at_place = ctx.reports["place_id"].notna().to_numpy()
    facts = [
        ("Period", ctx.period),
        ("Area", plain(ctx.area, 120)),
        ("Filters", filters_text(ctx.filters, policy, dates=False)),
        ("Audience", _AUDIENCE_TEXT[policy.audience]),
        ("Protective marking", plain(policy.marking, 60).upper()),
        ("Generated", f"{ctx.generated_at:%d %B %Y at %H:%M} ({zone_label()})"),
    ]
    if ctx.demo:
        facts.insert(0, ("Data", "SYNTHETIC DEMO DATA: not real reports, people or incidents"))
    for label, value in facts:
        fig.text(
            left,
            y,
            label,
            ha="left",
            va="top",
            fontsize=11,
            fontweight="bold",
            color="#b00020" if label == "Data" else _MUTED,
        )
        lines = textwrap.wrap(value, width=95)[:3] or [""]
        for line in lines:
            fig.text(
                left + 2.0 / wi,
                y,
                line,
                ha="left",
                va="top",
                fontsize=11,
                color="#b00020" if label == "Data" else _INK,
            )
            y -= 0.24 / hi
        y -= 0.06 / hi
    y -= 0.15 / hi
    fig.text(left, y, "In this selection", ha="left", va="top", fontsize=12, fontweight="bold", color=_INK)
    y -= 0.32 / hi
    # Every figure through the disclosure path: exact for the police, perturbed and rounded otherwise.
    shown = lambda mask: privacy.disclose_selection(ctx.reports, mask, policy)  # noqa: E731
    figures = [
        ("reports", shown(keep)),
        ("mapped to a place or point", shown(keep & is_located)),
        ("online (not mapped)", shown(keep & ctx.reports["online"].to_numpy(dtype=bool))),
        ("linked to a known place", shown(keep & at_place)),
    ]
    box_w = (width - 0.3 / wi * 3) / 4
    for i, (label, value) in enumerate(figures):
        x = left + i * (box_w + 0.3 / wi)
        fig.add_artist(
            Rectangle(
                (x, y - 0.95 / hi),
                box_w,
                0.95 / hi,
                transform=fig.transFigure,
                facecolor="#f2f4f7",
                edgecolor="#c5ccd6",
                lw=0.6,
            )
        )
        fig.text(
            x + 0.15 / wi,
            y - 0.12 / hi,
            _shown(value),
            ha="left",
            va="top",
            fontsize=20,
            fontweight="bold",
            color=_INK,
        )
        fig.text(x + 0.15 / wi, y - 0.62 / hi, label, ha="left", va="top", fontsize=9.5, color=_MUTED)
    y -= 1.2 / hi
    if policy.suppresses:
        note = (
            f"Counts of 1 to {policy.k - 1} are shown as '{policy.small}' and a few larger ones as "
            f"'{privacy.SECONDARY_MARK}' where they would reveal a small number; every other count carries a "
            f"small fixed noise (at most ±{privacy.PTABLE_MAX_NOISE}) and totals are rounded to the nearest "
            f"{privacy.TOTAL_ROUNDING}. Counts are of partnership reports, not of crimes or of children."
        )
    else:
        note = "Counts are of partnership reports, not of crimes or of children; one child may be reported many times."
    handling = (
        f"Handle as {plain(policy.marking, 60).upper()}. Share only with those who need it for safeguarding; "
        "do not forward outside the partnership or store on personal devices. Destroy printed copies after "
        "the meeting."
    )
    _paragraphs(fig, left, y, [("", note), ("", handling)], 150, fontsize=9.5)


def _hotspot_page(fig: Figure, rect, ctx: _Context) -> None:
    try:
        gi = hotspots(ctx.reports, ctx.res, ctx.filters)
    except TooFewReports as exc:
        _note_page(
            fig,
            rect,
            "Hotspots (Getis-Ord Gi*)",
            "No hotspot map: a "
            + privacy.too_few_message(exc, ctx.reports, ctx.filters, ctx.policy)
            + ". With so few reports a map of hot and cold spots would show chance rather than places.",
        )
        return
    notes = [
        "Gi* over the whole study area (hexagons with no reports count as zero), neighbours within one "
        "ring, p-values adjusted for false discoveries (Benjamini-Hochberg)."
    ]
    if gi.warning:
        notes.append(gi.warning)
    if ctx.res_note:
        notes.append(ctx.res_note)
    inner = _heading(
        fig,
        rect,
        "Hotspots (Getis-Ord Gi*)",
        "Where reports cluster more than chance would give, compared with the whole study area.",
    )
    layer = map_layer(gi.table[["h3", "class"]], kind="gistar", policy=ctx.policy)
    left, bottom, width, height = inner
    wi, hi = fig.get_size_inches()
    legend_w_in = 2.9
    top = _top_hexagons(ctx, layer)
    if not top:
        draw_map_panel(
            fig,
            inner,
            layer,
            boundaries="wards",
            demo=ctx.demo,
            extra_notes=notes,
            legend_width_in=legend_w_in,
        )
        return
    # County scale shows a hot spot as a few pixels: the busiest hexagons get a zoomed inset each,
    # drawn from the same layer (same classes and colours), lettered on the main map.
    inset_h = min(INSET_HEIGHT_IN / hi, height * 0.42)
    notes.append(
        f"Insets {', '.join(t['label'] for t in top)}: the hexagons with the most reports, zoomed in "
        "(outlined in black)."
    )
    draw_map_panel(
        fig,
        (left, bottom + inset_h, width, height - inset_h),
        layer,
        boundaries="wards",
        demo=ctx.demo,
        extra_notes=notes,
        legend_width_in=legend_w_in,
    )
    map_ax = fig.axes[-2]
    mark_cells(fig, map_ax, [t["cell"] for t in top], [t["label"] for t in top])
    row_w = width - (legend_w_in + 0.2) / wi
    gap = 0.25 / wi
    each = (row_w - gap * (INSET_COUNT - 1)) / INSET_COUNT
    for i, t in enumerate(top):
        draw_inset(
            fig,
            (left + i * (each + gap), bottom, each, inset_h - 0.12 / hi),
            layer,
            t["cell"],
            label=t["label"],
            caption=t["caption"],
        )


INSET_COUNT = 3
INSET_HEIGHT_IN = 2.3


def _top_hexagons(ctx: _Context, layer) -> list[dict]:
    """Up to INSET_COUNT hexagons with the most reports, each far enough from the ones before that
    insets do not repeat one cluster, with a caption in words.

    Counts go through the disclosure path (``privacy.disclose_counts``, with the cells' keys), so a
    partner inset is chosen and captioned from the numbers a partner map may show; a suppressed count
    is never chosen. Captions name the hexagon's streets (``wayfinding.describe_cells``); outside the
    police only streets, never a venue (venue names follow ``privacy.named_place_rule``), and the ward
    when no street is near."""
    from hoth_geo.deliver.static_maps import INSET_HALF_SPAN_EDGES
    from hoth_geo.deliver.wayfinding import describe_cells_for
    from hoth_geo.intake.area import gazetteer_in_use

    counts = privacy.hex_counts(ctx.reports, ctx.res, ctx.filters)
    if counts.empty:
        return []
    counts = counts[np.isin(counts["h3"].to_numpy(dtype=np.int64), layer.cells)]
    keys = counts["cell_key"].to_numpy() if "cell_key" in counts.columns else None
    shown = privacy.disclose_counts(
        counts[["h3", "count"]].reset_index(drop=True), ["count"], ctx.policy, keys=keys
    ).table
    numeric = [v if not isinstance(v, str) else -1 for v in shown["count"]]
    shown = shown.assign(_n=numeric)
    shown = shown[shown["_n"] > 0].sort_values(["_n", "h3"], ascending=[False, True], kind="stable")
    if shown.empty:
        return []
    lat, lng = hx.cell_centres(shown["h3"].to_numpy(dtype=np.int64))
    apart_m = 2 * INSET_HALF_SPAN_EDGES * hx.edge_length_m(ctx.res)
    chosen: list[int] = []
    for i in range(len(shown)):
        far = all(
            math.hypot(
                (lat[i] - lat[j]) * 111_000, (lng[i] - lng[j]) * 111_000 * math.cos(math.radians(lat[i]))
            )
            > apart_m
            for j in chosen
        )
        if far:
            chosen.append(i)
        if len(chosen) == INSET_COUNT:
            break
    cells = shown["h3"].to_numpy(dtype=np.int64)[chosen]
    words = describe_cells_for(cells, ctx.res, gazetteer_in_use(), name_places=not ctx.policy.suppresses)
    areas = _wards_and_towns(cells)
    gi_label = dict(zip(layer.cells.tolist(), layer.colours.tolist(), strict=True))
    colour_label = {colour: label for colour, label, _ in layer.legend}
    out = []
    for n, (cell, i) in enumerate(zip(cells, chosen, strict=True)):
        label = "ABC"[n]
        where = words[n] or areas[n]
        cls = colour_label.get(gi_label.get(int(cell), ""), "")
        caption = f"{label}: {where}. {_shown(shown['_n'].iloc[i])} reports" + (
            f"; {cls.lower()}" if cls else ""
        )
        out.append({"cell": int(cell), "label": label, "caption": caption})
    return out


def _emerging_page(fig: Figure, rect, ctx: _Context) -> None:
    heading = "Emerging hot spots"
    try:
        em = emerging_hotspots(ctx.reports, ctx.res, filters=ctx.filters)
    except (TooFewReports, ValueError) as exc:
        _note_page(
            fig, rect, heading, "No emerging hot spot map for this selection: " + plain(str(exc), 300) + "."
        )
        return
    step, starts = em.step, em.step_starts
    named = {"MS": "month", "QS": "quarter", "6MS": "six months", "YS": "year", "1D": "day", "7D": "week"}
    step_text = named.get(step) or (f"{step[:-1]} days" if step.endswith("D") else step)
    sub = (
        f"How each hexagon's hot spot status changed over {len(starts)} time steps of one {step_text}: "
        "new, intensifying, persistent, diminishing and other patterns."
    )
    inner = _heading(fig, rect, heading, sub)
    notes = [
        "Gi* per time step, then a Mann-Kendall trend test on each hexagon's series; "
        "categories as in ArcGIS Emerging Hot Spot Analysis (see the method note)."
    ]
    if ctx.res_note:
        notes.append(ctx.res_note)
    layer = map_layer(em.table[["h3", "category"]], kind="emerging", policy=ctx.policy)
    draw_map_panel(
        fig, inner, layer, boundaries="wards", demo=ctx.demo, extra_notes=notes, legend_width_in=2.9
    )


def _place_types_page(fig: Figure, rect, ctx: _Context) -> None:
    """Partner and public packs without released named places: reports by type of place, disclosed."""
    policy = ctx.policy
    heading = "Most reported places, by type of place"
    rep_ = ctx.reports
    keep = filter_mask(rep_, ctx.filters) & rep_["place_id"].notna().to_numpy()
    types = rep_["place_type"].astype(object).to_numpy()
    keys = [t for t in PLACE_TYPES if (keep & (types == t)).any()]
    if not keys:
        _note_page(fig, rect, heading, "No report in this selection is linked to a known place.")
        return
    counts = pd.DataFrame({"place_type": keys, "reports": [int((keep & (types == t)).sum()) for t in keys]})
    cell_keys = privacy.label_keys(rep_, keep, types, keys)
    shown = privacy.disclose_counts(
        counts, ["reports"], policy, keys=cell_keys, totals={"reports": "none"}
    ).table
    order = shown.assign(_n=[v if isinstance(v, int) else -1 for v in shown["reports"]]).sort_values(
        ["_n", "place_type"], ascending=[False, True], kind="stable"
    )
    sub = (
        "Reports linked to a known place, by the type of place. Named venues are not in this version: they are "
        "shared with partners only when a police or analyst user releases them, with a recorded reason."
    )
    inner = _heading(fig, rect, heading, sub)
    rows = [
        [str(i), PLACE_TYPES[r["place_type"]], _shown(r["reports"])]
        for i, (_, r) in enumerate(order.head(TOP_PLACES).iterrows(), start=1)
    ]
    left, bottom, width, height = inner
    wi, hi = fig.get_size_inches()
    _table(
        fig,
        (left, bottom + 0.45 / hi, width * 0.42, height - 0.45 / hi),
        [("#", 0.4, "r"), ("Type of place", 4.0, "l"), ("Reports", 1.0, "r")],
        rows,
        fontsize=8.5,
    )
    # The same disclosed counts as bars (a '<k' or '[c]' type is drawn hatched at height k, unlabelled).
    head = order.head(TOP_PLACES)
    ax = fig.add_axes((left + width * 0.64, bottom + 0.6 / hi, width * 0.34, height - 1.0 / hi))
    values = head["reports"].tolist()
    y = np.arange(len(values))[::-1]
    for yi, v in zip(y, values, strict=True):
        if isinstance(v, str):
            ax.barh(yi, policy.k, color="white", edgecolor="#6a51a3", hatch="////", lw=0.6)
        else:
            ax.barh(yi, v, color="#fd8d3c", edgecolor="#b35806", lw=0.4)
    ax.set_yticks(y)
    # The short name: "Transport hub (bus / rail station)" -> "Transport hub", never a cut "(bus".
    ax.set_yticklabels(
        [PLACE_TYPES[t].split(" (")[0].split(" / ")[0] for t in head["place_type"]], fontsize=8
    )
    ax.set_xlabel("Reports", fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="x", color="#e5e5e5", lw=0.6)
    ax.set_axisbelow(True)
    del wi
    foot = f"'{policy.small}' = fewer than {policy.k} reports; other counts carry a small fixed noise."
    fig.text(left, bottom + 0.15 / hi, foot, ha="left", va="bottom", fontsize=8, color=_MUTED)


def _places_page(fig: Figure, rect, ctx: _Context) -> None:
    policy = ctx.policy
    if policy.suppresses and policy.named_places is None:
        _place_types_page(fig, rect, ctx)
        return
    ranking = place_ranking(ctx.reports, ctx.places, ctx.filters)
    if policy.suppresses:
        # The named-venue rule: k+ reports from 2+ agencies, in a release made with a recorded reason.
        ranking = ranking[privacy.named_place_rule(ranking["reports"], ranking["agencies"], policy)]
    heading = f"Most reported places (top {TOP_PLACES})"
    if ranking.empty:
        _note_page(fig, rect, heading, "No report in this selection is linked to a named place.")
        return
    top = ranking.head(TOP_PLACES).reset_index(drop=True)
    keep = filter_mask(ctx.reports, ctx.filters) & ctx.reports["place_id"].notna().to_numpy()
    keys = privacy.label_keys(
        ctx.reports, keep, ctx.reports["place_id"].astype(object).to_numpy(), top["place_id"]
    )
    # Only the top rows are published and no total of them is printed, so nothing can be recovered by
    # subtraction: primary suppression (and, outside the police, perturbation) applies.
    shown = privacy.disclose_counts(top, ["reports"], policy, keys=keys, totals={"reports": "none"}).table
    sub = "Places linked to reports in the selection, most reported first. Ties are broken by the number of agencies."
    if policy.suppresses:
        sub += (
            f" Released for partners with a recorded reason; only places with {policy.k} or more reports from "
            f"{privacy.NAMED_PLACE_MIN_AGENCIES} or more agencies are named."
        )
    inner = _heading(fig, rect, heading, sub)
    rows = []
    for i, r in shown.iterrows():
        name = plain(r["name"], 200) if isinstance(r["name"], str) else "Unnamed place"
        ptype = (
            PLACE_TYPES.get(r["place_type"], "Not stated")
            if isinstance(r["place_type"], str)
            else "Not stated"
        )
        ward = plain(r["locality"], 40) if isinstance(r["locality"], str) else ""
        row = [str(int(r["rank"])), name, ptype, ward, _shown(r["reports"])]
        if policy.suppresses:
            # Concern names only (no per-concern counts, which would be further small numbers).
            row.append(", ".join(c.split(" (")[0] for c in _concern_names(top.loc[i, "concerns"], policy.k)))
        else:
            row += [
                str(int(r["agencies"])),
                plain(r["concerns"], 200),
                f"{r['first']:%d %b %y}",
                f"{r['last']:%d %b %y}",
            ]
        rows.append(row)
    if policy.suppresses:
        columns = [
            ("#", 0.4, "r"),
            ("Place", 3.3, "l"),
            ("Type", 2.0, "l"),
            ("Ward", 1.7, "l"),
            ("Reports", 0.8, "r"),
            (f"Main concerns ({policy.k} or more reports each)", 4.6, "l"),
        ]
    else:
        columns = [
            ("#", 0.35, "r"),
            ("Place", 2.9, "l"),
            ("Type", 1.7, "l"),
            ("Ward", 1.5, "l"),
            ("Reports", 0.8, "r"),
            ("Agencies", 0.8, "r"),
            ("Main concerns (reports)", 4.3, "l"),
            ("First", 0.95, "l"),
            ("Last", 0.95, "l"),
        ]
    left, bottom, width, height = inner
    hi = fig.get_size_inches()[1]
    _table(
        fig,
        (left, bottom + 0.45 / hi, width, height - 0.45 / hi),
        columns,
        rows,
        fontsize=8 if not policy.suppresses else 8.5,
    )
    foot = (
        f"{len(ranking):,} places have at least one report in the selection"
        if not policy.suppresses
        else "Places with reports in the selection are ranked by reports"
    )
    foot += "; a place's count includes only reports linked to it by name, postcode or a point within 150 m."
    if policy.suppresses:
        foot += f" '{policy.small}' = fewer than {policy.k} reports."
    fig.text(left, bottom + 0.15 / hi, foot, ha="left", va="bottom", fontsize=8, color=_MUTED)


def _concern_names(text, k: int) -> list[str]:
    """Concern labels from place_ranking's 'label (n), ...' text, keeping only those with n >= k."""
    out = []
    if not isinstance(text, str):
        return out
    for part in text.split("), "):
        label, _, n = part.rstrip(")").rpartition(" (")
        if label and n.isdigit() and int(n) >= k:
            out.append(label)
    return out


def _monthly_page(fig: Figure, rect, ctx: _Context) -> None:
    policy = ctx.policy
    # For a partner, a part month ends only at a date chosen: one ended by the data's own first or
    # last day would publish the day of a report.
    trend = monthly_trend(ctx.reports, ctx.filters, days_from_data=not policy.suppresses)
    heading = "Reports per month"
    if trend.empty:
        _note_page(fig, rect, heading, "No reports in this selection.")
        return
    keep = filter_mask(ctx.reports, ctx.filters)
    months = ctx.reports["observed_at"].to_numpy(dtype="datetime64[ns]").astype("datetime64[M]")
    keys = privacy.label_keys(
        ctx.reports,
        keep,
        months.astype("datetime64[ns]").astype(np.int64),
        trend["month"].to_numpy(dtype="datetime64[ns]").astype(np.int64),
    )
    disclosed = privacy.disclose_counts(trend, ["count"], policy, keys=keys)
    shown = disclosed.table
    sub = "All reports in the selection (mapped and online) by the month they were observed."
    if policy.suppresses:
        sub += (
            f" Months with fewer than {policy.k} reports are drawn as hatched '{policy.small}' bars "
            f"of height {policy.k}; '{privacy.SECONDARY_MARK}' months are withheld to protect one and not drawn."
        )
    part = trend[trend["partial"]]
    if not part.empty:
        # A part month's lower count must not read as a fall (the dates chosen end on the 20th, say).
        days = " and ".join(days_covered(r.month, r.first_day, r.last_day) for r in part.itertuples())
        sub += f" Pale bars are part months ({days} only): not whole months' counts."
    inner = _heading(fig, rect, heading, sub)
    left, bottom, width, height = inner
    wi, hi = fig.get_size_inches()
    ax = fig.add_axes((left + 0.55 / wi, bottom + 0.95 / hi, width - 0.7 / wi, height - 1.15 / hi))
    x = np.arange(len(shown))
    values = shown["count"].tolist()
    partial = trend["partial"].to_numpy(dtype=bool)
    numeric = [v for v in values if not isinstance(v, str)]
    top = max([*numeric, policy.k, 1])
    for xi, v in zip(x, values, strict=True):
        if isinstance(v, str):
            if v == privacy.SECONDARY_MARK:
                ax.text(xi, top * 0.01, v, ha="center", va="bottom", fontsize=7, color=_MUTED)
                continue
            ax.bar(xi, policy.k, color="white", edgecolor="#6a51a3", hatch="////", lw=0.6)
            ax.text(xi, policy.k + top * 0.01, v, ha="center", va="bottom", fontsize=7, color=_INK)
        elif partial[xi]:
            ax.bar(xi, v, color="#fdd0a2", edgecolor="#b35806", lw=0.6, linestyle=(0, (3, 2)))
            if len(values) <= 36:
                ax.text(xi, v + top * 0.01, f"{int(v):,}", ha="center", va="bottom", fontsize=7, color=_INK)
        else:
            ax.bar(xi, v, color="#fd8d3c", edgecolor="#b35806", lw=0.4)
            if len(values) <= 36:
                ax.text(xi, v + top * 0.01, f"{int(v):,}", ha="center", va="bottom", fontsize=7, color=_INK)
    labels = [f"{m:%b %y}" for m in pd.to_datetime(shown["month"])]
    step = max(1, math.ceil(len(labels) / 24))
    ax.set_xticks(x[::step])
    ax.set_xticklabels(labels[::step], rotation=90 if len(labels) > 14 else 0, fontsize=8)
    ax.set_ylim(0, top * 1.12)
    ax.set_xlim(-0.7, len(x) - 0.3)
    ax.set_ylabel("Reports", fontsize=9)
    ax.tick_params(axis="y", labelsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="y", color="#e5e5e5", lw=0.6)
    ax.set_axisbelow(True)
    total = disclosed.totals["count"]
    fig.text(
        left,
        bottom + 0.05 / hi,
        f"Total in the period: {_shown(total)}" + (" (rounded)" if policy.suppresses else "") + ".",
        ha="left",
        va="bottom",
        fontsize=8.5,
        color=_MUTED,
    )


def _time_page(fig: Figure, rect, ctx: _Context) -> None:
    policy = ctx.policy
    prof = time_profile(ctx.reports, ctx.filters)
    heading = "When reports happen: day of week and hour of day"
    long = prof.table.stack().rename("count").reset_index()
    # Day totals are printed beside the table, so they are published totals of the day groups; hour
    # totals are not printed (protecting rows and columns at once needs more than one-way checks).
    rep_ = ctx.reports
    keep = filter_mask(rep_, ctx.filters)
    known = rep_["time_known"].to_numpy(dtype=bool)
    approx_mask = rep_["date_approximate"].to_numpy(dtype=bool)
    in_table_mask = keep & known & ~approx_mask
    t = pd.DatetimeIndex(rep_["observed_at"].to_numpy(dtype="datetime64[ns]"))
    slot = (t.day_of_week * 24 + t.hour).to_numpy().astype(np.int64)
    keys = privacy.label_keys(rep_, in_table_mask, slot, list(range(7 * 24)))
    disclosed = privacy.disclose_counts(long, ["count"], policy, keys=keys, group_cols=["weekday"])
    shown = disclosed.table
    sub = (
        "Reports with a known time of day and an exact date, by the day and hour observed. "
        "Reports without a time are counted apart below, never spread over the hours."
    )
    inner = _heading(fig, rect, heading, sub)
    left, bottom, width, height = inner
    wi, hi = fig.get_size_inches()
    grid = np.array(shown["count"].tolist(), dtype=object).reshape(7, 24)
    numeric = np.array([[np.nan if isinstance(v, str) else float(v) for v in row] for row in grid])
    vmax = np.nanmax(numeric) if np.isfinite(numeric).any() else 1.0
    table_left = left + 0.55 / wi
    table_w = width - 0.55 / wi - 0.9 / wi
    cell_w = table_w / 24
    cell_h = min(0.42 / hi, (height - 1.6 / hi) / 8)
    top = bottom + height - 0.35 / hi
    for h in range(24):
        fig.text(
            table_left + (h + 0.5) * cell_w,
            top + 0.04 / hi,
            f"{h:02d}",
            ha="center",
            va="bottom",
            fontsize=7.5,
            color=_MUTED,
        )
    fig.text(
        table_left + 24 * cell_w + 0.45 / wi,
        top + 0.04 / hi,
        "Day total",
        ha="center",
        va="bottom",
        fontsize=7.5,
        color=_MUTED,
    )
    day_totals = disclosed.group_totals["count"]
    for d, day in enumerate(WEEKDAYS):
        y = top - (d + 1) * cell_h
        fig.text(
            table_left - 0.08 / wi, y + cell_h / 2, day, ha="right", va="center", fontsize=8.5, color=_INK
        )
        for h in range(24):
            v = grid[d, h]
            x = table_left + h * cell_w
            if isinstance(v, str):
                fig.add_artist(
                    Rectangle(
                        (x, y),
                        cell_w,
                        cell_h,
                        transform=fig.transFigure,
                        facecolor="white",
                        edgecolor="#cbc9e2",
                        hatch="///",
                        lw=0.3,
                    )
                )
                colour_text = "#3f007d"
            else:
                frac = float(v) / vmax if vmax else 0.0
                face = to_hex(_HEAT(frac)) if v > 0 else "#ffffff"
                fig.add_artist(
                    Rectangle(
                        (x, y),
                        cell_w,
                        cell_h,
                        transform=fig.transFigure,
                        facecolor=face,
                        edgecolor="#ffffff",
                        lw=0.5,
                    )
                )
                colour_text = "white" if frac > 0.6 else _INK
            fig.text(
                x + cell_w / 2,
                y + cell_h / 2,
                _shown(v),
                ha="center",
                va="center",
                fontsize=6.5,
                color=colour_text,
                fontweight="bold" if isinstance(v, str) else "normal",
            )
        fig.text(
            table_left + 24 * cell_w + 0.45 / wi,
            y + cell_h / 2,
            _shown(day_totals.get(day, "")),
            ha="center",
            va="center",
            fontsize=8,
            color=_INK,
        )
    y = top - 8 * cell_h - 0.1 / hi
    unknown = privacy.disclose_selection(rep_, keep & ~known, policy)
    in_words = privacy.disclose_selection(rep_, keep & time_only_in_words(rep_), policy)
    approx = privacy.disclose_selection(rep_, keep & known & approx_mask, policy)
    in_table = privacy.disclose_selection(rep_, in_table_mask, policy)
    lines = [
        f"In the table: {_shown(in_table)} reports.   "
        f"Time known but date approximate (weekday unreliable): {_shown(approx)} reports.",
        f"No time of day: {_shown(unknown)} reports, of which {_shown(in_words)} gave one only in words (such "
        "as 'after school'), which no hour of the table can hold.",
        "Hours are the start of each hour (00 = 00:00-00:59). Darker cells hold more reports.",
    ]
    if policy.suppresses:
        lines.append(
            f"Hatched cells hold fewer than {policy.k} reports ('{policy.small}'); "
            f"'{privacy.SECONDARY_MARK}' cells are withheld to protect one. Totals are rounded."
        )
    for line in lines:
        fig.text(left, y, line, ha="left", va="top", fontsize=8.5, color=_MUTED)
        y -= 0.2 / hi


def _wards_and_towns(cells: np.ndarray) -> list[str]:
    """'Ward (near Town)' for each cell centre: where a time window is, without a hexagon id."""
    lat, lng = hx.cell_centres(np.asarray(cells, dtype=np.int64))
    wards = boundary_frame("wards")
    names = assign_locality(lat, lng, wards) if wards is not None else [None] * len(lat)
    towns = town_positions()
    out = []
    for la, ln, ward in zip(lat, lng, names, strict=True):
        near = ""
        if towns:
            d = [
                ((la - t[1]) * 111.0) ** 2 + ((ln - t[2]) * 111.0 * math.cos(math.radians(la))) ** 2
                for t in towns
            ]
            near = towns[int(np.argmin(d))][0]
        ward_text = plain(ward, 120) if isinstance(ward, str) else "Outside the wards"
        out.append(f"{ward_text} (near {near})" if near and near != ward_text else ward_text)
    return out


def _slot_summary(ctx: _Context, plan: pd.DataFrame, res: int, names: pd.Series) -> list[dict]:
    """Per plan row: the concerns, place types and places of the time-known reports in its window."""
    rep = ctx.reports
    keep = filter_mask(rep, ctx.filters) & located(rep, res) & rep["time_known"].to_numpy(dtype=bool)
    t = rep["observed_at"].to_numpy(dtype="datetime64[ns]")
    how = pd.DatetimeIndex(t).day_of_week.to_numpy() * 24 + pd.DatetimeIndex(t).hour.to_numpy()
    cells = hx.cells_to_parent(rep["h3"].to_numpy(), res)
    masks = rep["concerns_mask"].to_numpy()
    record_keys = privacy.record_keys(rep) if ctx.policy.suppresses else np.zeros(len(rep), dtype=np.int64)
    out = []
    width = PATROL_SLOT_HOURS
    for _, row in plan.iterrows():
        start = int(row["day_of_week"]) * 24 + int(row["start_hour"])
        sel = keep & (cells == np.int64(row["h3"])) & (((how - start) % 168) < width)
        sub_masks = masks[sel]
        concern_counts = dict(zip(CONCERNS, key_totals(sub_masks, CONCERNS).tolist(), strict=True))
        concerns = [k for k, n in sorted(concern_counts.items(), key=lambda kv: -kv[1]) if n >= ctx.policy.k][
            :2
        ]
        types = rep["place_type"][sel].astype(object).dropna().value_counts()
        types = [k for k, n in types.items() if n >= ctx.policy.k][:2]
        pids = rep["place_id"][sel].dropna().astype(object).value_counts()
        place_names = [plain(names.get(p, ""), 200) for p, n in pids.items() if n >= ctx.policy.k][:2]
        out.append(
            {
                "concerns": ", ".join(_short_concern(c) for c in concerns),
                "types": ", ".join(PLACE_TYPES.get(t_, t_).split(" / ")[0] for t_ in types),
                "places": "; ".join(p for p in place_names if p),
                "n": int(sel.sum()),
                "key": int(record_keys[sel].sum()) % privacy.CELL_KEY_MODULUS,
            }
        )
    return out


def _patrol_page(fig: Figure, rect, ctx: _Context) -> None:
    policy = ctx.policy
    heading = f"Where and when: top {PATROL_SLOTS} time windows for presence"
    try:
        plan = patrol_plan(
            ctx.reports,
            ctx.places,
            slots=PATROL_SLOTS,
            slot_hours=PATROL_SLOT_HOURS,
            res=ctx.res,
            filters=ctx.filters,
        )
    except ValueError as exc:
        _note_page(fig, rect, heading, "No patrol plan for this selection: " + plain(str(exc), 300))
        return
    if plan.empty:
        _note_page(
            fig,
            rect,
            heading,
            "No report in this selection has a known time of day, so no time window can be ranked.",
        )
        return
    areas = _wards_and_towns(plan["h3"].to_numpy())
    names = _place_names(ctx)
    summary = _slot_summary(ctx, plan, ctx.res, names)
    if policy.suppresses:
        sub = (
            "Two-hour windows with the most recent reports, at most two per area. Areas are named by ward and "
            "nearest town; the plan's hexagons are not given in this version."
        )
        counts = pd.DataFrame({"reports": [s["n"] for s in summary]})
        shown = privacy.disclose_counts(
            counts, ["reports"], policy, keys=[s["key"] for s in summary], totals={"reports": "none"}
        ).table
        rows = []
        for i, r in plan.iterrows():
            what = "; ".join(p for p in (summary[i]["concerns"], summary[i]["types"]) if p)
            row = [
                str(int(r["slot"])),
                r["window"],
                areas[i],
                what or "mixed concerns",
                _shown(shown["reports"].iloc[i]),
            ]
            rows.append(row)
        columns = [
            ("#", 0.35, "r"),
            ("Time window (weekly)", 1.9, "l"),
            ("Area", 3.2, "l"),
            (f"What is reported there ({policy.k} or more reports)", 4.2, "l"),
            ("Reports in window", 1.3, "r"),
        ]
        if policy.named_places is not None:
            columns[3] = ("What is reported there", 3.2, "l")
            columns.insert(4, ("Main places", 2.6, "l"))
            for i, row in enumerate(rows):
                row.insert(4, summary[i]["places"])
        foot = (
            f"Reports in window: time-known reports in that area and window, over the whole period. "
            f"'{policy.small}' = fewer than {policy.k}. Concerns, place types and places are listed only "
            f"when at least {policy.k} reports in the window share them."
        )
    else:
        sub = (
            "Two-hour windows with the highest recency- and grading-weighted report scores, at most two per "
            f"hexagon (H3 resolution {ctx.res}). The hexagon id finds the slot on the dashboard map."
        )
        rows = []
        for i, r in plan.iterrows():
            rows.append(
                [
                    str(int(r["slot"])),
                    r["window"],
                    areas[i],
                    format(int(r["h3"]), "x"),
                    plain(r["places_in_hex"], 200),
                    str(int(r["reports"])),
                    f"{r['score']:.1f}",
                ]
            )
        columns = [
            ("#", 0.35, "r"),
            ("Time window", 1.7, "l"),
            ("Area", 2.5, "l"),
            ("Hexagon", 1.5, "l"),
            ("Places in the window (reports)", 4.3, "l"),
            ("Reports", 0.8, "r"),
            ("Score", 0.7, "r"),
        ]
        foot = (
            "Score: weighted reports (recency half-life 28 days, source and information grading) in the window "
            "plus the hexagon's unknown-time reports spread over the week. Reports: time-known reports in the "
            "window over the whole period."
        )
    inner = _heading(fig, rect, heading, sub)
    left, bottom, width, height = inner
    hi = fig.get_size_inches()[1]
    _table(fig, (left, bottom + 0.55 / hi, width, height - 0.55 / hi), columns, rows, fontsize=8.5)
    _paragraphs(fig, left, bottom + 0.45 / hi, [("", foot)], 175, fontsize=8, line_in=0.16)


def _method_page(fig: Figure, rect, ctx: _Context) -> None:
    policy = ctx.policy
    inner = _heading(fig, rect, "Method note")
    left, bottom, width, height = inner
    wi, hi = fig.get_size_inches()
    res_text = f"H3 resolution {ctx.res} (hexagons of about {hx.cell_area_km2(ctx.res):.2g} km²)"
    col1 = [
        (
            "Reports and places",
            "Each report shared by a partner agency is placed from its coordinates, postcode, a named place or a "
            "street, then counted in "
            + res_text
            + ". Online reports are counted but never mapped. Counts are of "
            "reports, not of crimes or children: a change in who reports, or how often, changes the numbers.",
        ),
        (
            "Hotspots (Gi*)",
            "Getis-Ord Gi* compares the reports in each hexagon and its six neighbours with the whole study area, "
            "counting hexagons with no reports as zero. P-values are adjusted for the thousands of hexagons tested "
            "(Benjamini-Hochberg false discovery rate); classes are hot or cold at 90, 95 and 99 % confidence. "
            "Fewer than 30 mapped reports give no hotspot map.",
        ),
        (
            "Emerging hot spots",
            "The period is cut into equal time steps (months for a two-year period); Gi* is computed for each step "
            "and a Mann-Kendall test looks for a trend in each hexagon's series. New, consecutive, intensifying, "
            "persistent, diminishing, sporadic, oscillating and historical follow the ArcGIS definitions.",
        ),
    ]
    if policy.suppresses:
        suppression = (
            f"This {policy.audience} version shows aggregated counts only. Any count of 1 to {policy.k - 1} is shown "
            f"as '{policy.small}' (hatched in charts, one shared class on maps). Where a total is printed, further "
            f"cells are withheld as '{privacy.SECONDARY_MARK}' so a small number cannot be worked out by "
            f"subtraction. Every other count carries a small fixed noise (cell-key perturbation, at most "
            f"±{privacy.PTABLE_MAX_NOISE}), so subtracting two tables does not give an exact count. Totals are "
            f"rounded to the nearest {privacy.TOTAL_ROUNDING}. Hexagons are at resolution {policy.coarsest_res}; "
            "dates are whole months. No individual report, narrative or child reference is included."
        )
        suppression += (
            " Venues are named only when released for partners with a recorded reason."
            if policy.named_places is not None
            else " No venue is named."
        )
        plan_text = (
            "The time windows are ranked from recent reports with a known time of day, at most two per "
            "area, and are given by ward and nearest town rather than by hexagon."
        )
    else:
        suppression = (
            "This police version shows exact counts. Versions for partner agencies and the public are made from "
            "the same data with counts of 1 to 4 suppressed, totals rounded and no grading; the public version "
            "also withholds private business names."
        )
        plan_text = (
            "Slots are scored by reports weighted by recency (half-life 28 days) and by source and "
            "information grading, chosen greedily with at most two non-overlapping slots per hexagon."
        )
    col2 = [
        ("Time windows", plan_text),
        ("Small numbers", suppression),
        (
            "Protective marking",
            f"This pack is marked {plain(policy.marking, 60).upper()} at the top and bottom of every page under the "
            "Government Security Classifications. The marking applies to every page and to any copy, print or "
            "extract; handle, store and destroy it accordingly.",
        ),
    ]
    if ctx.demo:
        col2.append(
            (
                "Synthetic demo data",
                "The reports in this pack are synthetic, generated to demonstrate "
                "the tool. They describe no real person, place of concern or event.",
            )
        )
    top = bottom + height - 0.05 / hi
    half = (width - 0.4 / wi) / 2
    _paragraphs(fig, left, top, col1, 78, fontsize=9, line_in=0.18)
    _paragraphs(fig, left + half + 0.4 / wi, top, col2, 78, fontsize=9, line_in=0.18)


_PAGES: tuple[tuple[str, Callable], ...] = (
    ("cover", _cover),
    ("hotspots", _hotspot_page),
    ("emerging", _emerging_page),
    ("places", _places_page),
    ("monthly", _monthly_page),
    ("time", _time_page),
    ("patrol", _patrol_page),
    ("method", _method_page),
)


def _context(
    reports, places, *, filters, policy, res, period_label, area_label, demo, generated_at
) -> _Context:
    """The checked inputs of a pack (see ``briefing_pack``), as every page draws from them."""
    check_frames(
        reports,
        places,
        report_columns=(
            "observed_at",
            "h3",
            "online",
            "place_id",
            "concerns_mask",
            "time_known",
            "date_approximate",
        ),
        place_columns=("place_id", "name", "place_type"),
    )
    policy = resolve_policy(policy)
    if filters is not None and not isinstance(filters, ReportFilter):
        raise ValueError(f"filters must be a ReportFilter or None, got {type(filters).__name__}")
    if isinstance(res, bool) or not isinstance(res, int | np.integer) or not 0 <= res <= 11:
        raise ValueError(f"res must be an H3 resolution 0..11, got {res!r}")
    used = privacy.check_resolution(int(res), policy)
    filters = privacy.partner_filters(filters, policy)
    if isinstance(generated_at, date) and not isinstance(generated_at, datetime):
        generated_at = datetime.combine(generated_at, datetime.min.time())
    if generated_at is not None and not isinstance(generated_at, datetime):
        raise ValueError(f"generated_at must be a datetime, a date or None, got {generated_at!r}")
    osm = bool(places.get("source", pd.Series(dtype=object)).eq("osm").any())
    ctx = _Context(
        reports=reports,
        places=places,
        filters=filters,
        policy=policy,
        res=used,
        res_note=privacy.resolution_note(int(res), policy),
        period=_period_text(reports, filters, period_label),
        area=area_label,
        demo=demo,
        generated_at=generated_at or local_now(),  # the partnership's clock, not the server's
        osm=osm,
    )
    return ctx


def briefing_pack(
    reports: pd.DataFrame,
    places: pd.DataFrame,
    *,
    filters: ReportFilter | None,
    policy,
    res: int = 8,
    period_label: str | None = None,
    area_label: str = "County Durham and Darlington",
    demo: bool = False,
    generated_at: datetime | date | None = None,
) -> bytes:
    """The briefing pack as PDF bytes (A4 landscape, eight pages; see the module docstring).

    - ``filters``: the selection (None for all reports); its description is printed on every page.
    - ``policy``: a ``privacy.SharingPolicy`` or an audience name; decides suppression, names and marking.
    - ``res``: H3 resolution of the maps and the plan, coarsened to ``policy.coarsest_res`` if finer.
    - ``period_label``: text for the period (default: the filter's dates, else the data's range).
    - ``demo``: the reports are the synthetic demo set; every page says so.
    - ``generated_at``: the time printed as generated (default now), so a pack can be reproduced.
    """
    ctx = _context(
        reports,
        places,
        filters=filters,
        policy=policy,
        res=res,
        period_label=period_label,
        area_label=area_label,
        demo=demo,
        generated_at=generated_at,
    )
    policy, filters, osm = ctx.policy, ctx.filters, ctx.osm
    # The period once, in one format: the filters' own dates are left out of the header.
    subtitle = f"{ctx.period}  |  {plain(area_label, 80)}  |  {filters_text(filters, policy, dates=False)}"
    n_pages = len(_PAGES)
    # The maps draw the configured local basemap, if any (static_maps.tile_source); its credit goes
    # in the footer of the map pages with the others.
    basemap_tiles = tile_source()
    buf = io.BytesIO()
    with text_rc():
        metadata = {"Title": PACK_TITLE, "Subject": plain(policy.marking, 60).upper(), "Creator": "hoth-geo"}
        with PdfPages(buf, metadata=metadata) as pdf:
            for i, (name, draw) in enumerate(_PAGES, start=1):
                fig = Figure(figsize=_PAGE, dpi=100)
                on_map = name in ("hotspots", "emerging")
                # The cover prints the title large and the period among its facts: its header carries
                # only the marking, so page 1 says each thing once.
                cover = name == "cover"
                rect = page_frame(
                    fig,
                    title="" if cover else PACK_TITLE,
                    subtitle="" if cover else subtitle,
                    marking=policy.marking,
                    generated_at=ctx.generated_at,
                    demo=demo,
                    page_text=f"Page {i} of {n_pages}",
                    footer_note=f"Audience: {policy.audience}",
                    attributions=(
                        attribution_lines(boundaries="wards", towns=True, osm=osm, tiles=basemap_tiles)
                        if on_map
                        else ()
                    ),
                )
                draw(fig, rect, ctx)
                pdf.savefig(fig)
    return buf.getvalue()
