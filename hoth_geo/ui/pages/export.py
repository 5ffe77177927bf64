"""Export: maps, briefing packs and data files for one audience, previewed as that audience receives them.

The audiences offered are those the signed-in user has an export capability for (export_police,
export_partner, export_public). The preview shows what the chosen audience gets (the disclosed hexagon
table and, for maps, the map itself: a PNG or PDF map is previewed as the image the file holds, made by
the same function, and an interactive map as the HTML map); for partners and the public each preview shown is recorded in the
export log (kind 'preview', the SHA-256 of the table shown), since a preview is itself something the
viewer receives. The file is made only when the user presses 'Prepare export', and is recorded in the
export log at that moment. The bytes come from ``hoth_geo.deliver.export_prep.prepare_export``, the same function
as ``hoth-geo export``. A police or analyst user may release named places in a partner GeoPackage or
briefing pack, with a reason the export log records (``privacy.NamedPlacesRelease``).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from hoth_geo import hexes, settings, store
from hoth_geo.access import privacy
from hoth_geo.deliver import export_prep, exports, maps
from hoth_geo.errors import HothGeoError, InvalidInput
from hoth_geo.local_time import to_local, zone_label
from hoth_geo.selection import ReportFilter
from hoth_geo.ui import state
from hoth_geo.ui.columns import h3_column
from hoth_geo.ui.text import md_escape, md_filters, shown_count

__all__ = [
    "KIND_LABELS",
    "AUDIENCE_LABELS",
    "MAP_LABELS",
    "MIME",
    "RECENT_EXPORTS",
    "preview_image",
    "render",
]

KIND_LABELS = {
    "map-png": "Map image (PNG, 16:9 for a screen)",
    "map-pdf": "Map for print (PDF, A4 landscape)",
    "map-html": "Interactive map (HTML, opens offline)",
    "briefing": "MACE briefing pack (PDF)",
    "csv": "Hexagon table (CSV)",
    "xlsx": "Hexagon table (Excel)",
    "geojson": "Hexagons for GIS (GeoJSON)",
    "gpkg": "Hexagons and places for GIS (GeoPackage)",
}
AUDIENCE_LABELS = {
    "police": "Police (full detail)",
    "partner": "Partner agencies (aggregated; small numbers suppressed)",
    "public": "Public (as partner; private business names withheld)",
}
MAP_LABELS = {
    "count": "Reports per hexagon",
    "gistar": "Hot and cold spots (Gi*)",
    "emerging": "Emerging hot spots",
}
MIME = {
    "png": "image/png",
    "pdf": "application/pdf",
    "html": "text/html",
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "geojson": "application/geo+json",
    "gpkg": "application/geopackage+sqlite3",
}
RECENT_EXPORTS = 10
_PREPARED = "export_prepared"
_PREVIEWS_LOGGED = "export_previews_logged"
_RELEASE_KINDS = ("gpkg", "briefing")


@st.cache_resource(show_spinner="Drawing the preview map…", max_entries=8)
def _preview_map(key: tuple, policy, res: int, map_type: str, filters):
    """The audience's interactive map, ready for st_folium (Leaflet served by the app); cached per data
    version and settings. st_folium renders the map without changing it, so sharing it is safe."""
    m = export_prep.interactive_map(
        state.reports(), state.places(), res=res, filters=filters, policy=policy, map_type=map_type
    )
    return maps.prepare_for_streamlit(m)


@st.cache_resource(show_spinner="Drawing the map as it will be delivered…", max_entries=8)
def _preview_image(key: tuple, policy, res: int, kind: str, map_type: str, filters, demo: bool) -> bytes:
    """``preview_image`` for the app's data, cached per data version and settings (bytes are immutable)."""
    return preview_image(
        state.reports(),
        state.places(),
        kind=kind,
        policy=policy,
        res=res,
        filters=filters,
        map_type=map_type,
        demo=demo,
    )


def preview_image(
    reports, places, *, kind: str, policy, res: int, filters, map_type: str, demo: bool
) -> bytes:
    """The map file the audience receives, as an image: for 'map-png' the PNG itself, for 'map-pdf' its
    page (or, without pdftoppm, the PNG of the same map). Both come from ``export_prep.prepare_export``,
    the function that makes the file, so the preview has the file's classes, colours and legend."""
    if kind not in ("map-png", "map-pdf"):
        raise ValueError(f"kind must be 'map-png' or 'map-pdf' for a preview image, got {kind!r}")
    made = export_prep.prepare_export(
        reports, places, kind=kind, policy=policy, res=res, filters=filters, map_type=map_type, demo=demo
    )
    if kind == "map-png":
        return made.data
    page = _first_page_png(made.data, dpi=110)
    if page is not None:
        return page
    return export_prep.prepare_export(
        reports, places, kind="map-png", policy=policy, res=res, filters=filters, map_type=map_type, demo=demo
    ).data


def _allowed_audiences(user) -> list[str]:
    if user is None:
        return []
    return [a for a in privacy.AUDIENCES if user.can(f"export_{a}")]


def _display_table(table: pd.DataFrame) -> pd.DataFrame:
    """The shareable hexagon table as it is shown: h3 as hex strings, counts as text so a column that
    mixes numbers and '<5' displays as the file holds it."""
    out = table.copy()
    out["h3"] = hexes.cells_to_str(out["h3"])
    out["count"] = out["count"].map(str)
    if "p_fdr" in out.columns:
        out["p_fdr"] = out["p_fdr"].map(maps.format_p)  # "< 0.001", never 4.7e-111
    return out


def _table_columns(k: int) -> dict:
    """Readable headers for the shareable hexagon table; the lists of types and concerns get the width."""
    return {
        "h3": h3_column(),
        "where": st.column_config.TextColumn("Where", width="medium"),
        "count": st.column_config.TextColumn("Reports", width="small"),
        "common_place_types": st.column_config.TextColumn(f"Place types with {k}+ reports", width="large"),
        "common_concerns": st.column_config.TextColumn(f"Concerns with {k}+ reports", width="large"),
        "distinct_places": st.column_config.NumberColumn("Places", width="small"),
        "top_place_types": st.column_config.TextColumn("Place types (reports)", width="large"),
        "top_concerns": st.column_config.TextColumn("Concerns (reports)", width="large"),
        "class": st.column_config.TextColumn("Gi* class", width="medium"),
        "z": st.column_config.NumberColumn("Gi* z-score", format="%.2f", width="small"),
        "p_fdr": st.column_config.TextColumn("p (FDR adjusted)", width="small"),
    }


def _first_page_png(pdf: bytes, dpi: int = 60) -> bytes | None:
    """The first page of a PDF as PNG via pdftoppm, or None when it is not installed or fails."""
    exe = shutil.which("pdftoppm")
    if exe is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.pdf"
        src.write_bytes(pdf)
        try:
            subprocess.run(
                [
                    exe,
                    "-png",
                    "-r",
                    str(int(dpi)),
                    "-f",
                    "1",
                    "-l",
                    "1",
                    "-singlefile",
                    str(src),
                    str(Path(tmp) / "page"),
                ],
                check=True,
                capture_output=True,
                timeout=60,
            )
        except (subprocess.SubprocessError, OSError):
            return None
        out = Path(tmp) / "page.png"
        return out.read_bytes() if out.is_file() else None


def _log_preview(
    engine, table: pd.DataFrame, *, policy, filters, res, res_used, kind, map_type, username
) -> None:
    """Record a partner or public preview in the export log, once per view and data version in this
    session: what was on screen (the table's bytes, hashed) and the selection behind it."""
    if not policy.suppresses:
        return
    data = _display_table(table).to_csv(index=False).encode("utf-8")
    shown_map = map_type if kind in export_prep.MAP_KINDS else None
    # One entry per thing seen: the table (and the map, when one is drawn), not per file kind chosen.
    view = (state.version(), policy, filters, res, shown_map, data)
    seen = st.session_state.setdefault(_PREVIEWS_LOGGED, set())
    if view in seen:
        return
    exports.record_export(
        engine,
        data,
        policy=policy,
        kind="preview",
        filters={
            **exports.filters_to_dict(filters),
            "res": res_used,
            "res_requested": int(res),
            "map": shown_map,
        },
        filename=None,
        exported_by=username,
    )
    seen.add(view)


def _release_named_places(user, audience: str, kind: str):
    """For a police or analyst user exporting a partner GeoPackage or briefing pack: the deliberate
    release of named places, with its reason (None when not released)."""
    if audience != "partner" or kind not in _RELEASE_KINDS or user.role not in ("police", "analyst"):
        return None
    include = st.checkbox(
        "Name places (only those with 5+ reports from 2+ agencies)",
        key="export_release_places",
        help="Partners receive no venue names unless you release them here, with a reason. The reason "
        "is recorded in the export log with the file.",
    )
    if not include:
        return None
    reason = st.text_input("Why the partners need the names", key="export_release_reason", max_chars=300)
    try:
        return privacy.NamedPlacesRelease(reason=reason, released_by=user.username, role=user.role)
    except HothGeoError as exc:
        st.warning(md_escape(exc))
        return None


def _recent_exports(engine, username: str) -> None:
    st.subheader("Your recent exports")
    log = store.load_export_log(engine)
    mine = log[log["exported_by"] == username].sort_values("id", ascending=False).head(RECENT_EXPORTS)
    if mine.empty:
        st.caption("You have not exported anything yet.")
        return
    shown = pd.DataFrame(
        {
            f"Exported ({zone_label()})": to_local(mine["exported_at"]).dt.strftime("%d %b %Y %H:%M"),
            "Audience": mine["audience"],
            "What": mine["kind"],
            "File": mine["filename"],
            "Size (bytes)": mine["n_bytes"],
            "SHA-256 (start)": mine["sha256"].str[:16] + "…",
            "Log entry": mine["id"],
        }
    )
    st.dataframe(shown, hide_index=True, width="stretch")


def render() -> None:
    st.title("Export")
    user = st.session_state.get("user")
    audiences = _allowed_audiences(user)
    if not audiences:
        st.warning(
            "Your account has no export rights. Ask an administrator if you need to share maps or tables."
        )
        return
    filters = st.session_state.get("filters")
    if not isinstance(filters, ReportFilter):
        filters = ReportFilter()
    engine = state.engine()
    reports = state.reports()

    left, right = st.columns([1, 2])
    with left:
        audience = st.selectbox("Audience", audiences, format_func=AUDIENCE_LABELS.get, key="export_audience")
        kind = st.selectbox(
            "What to export", list(KIND_LABELS), format_func=KIND_LABELS.get, key="export_kind"
        )
        if audience == "police":
            res = st.select_slider(
                "Hexagon size (H3 resolution)",
                options=list(settings.MAP_RESOLUTIONS),
                value=settings.DEFAULT_MAP_RES,
                key="export_res",
            )
        else:
            # One resolution for partners and the public: a second would let one be subtracted from the other.
            res = privacy.DEFAULT_COARSEST_RES
            st.caption(f"Hexagons: H3 resolution {res}, the one resolution {audience} exports use.")
        map_type = "count"
        if kind in export_prep.MAP_KINDS:
            map_type = st.selectbox("Map", list(MAP_LABELS), format_func=MAP_LABELS.get, key="export_map")
        crs = "EPSG:4326"
        if kind in ("gpkg", "csv", "xlsx"):
            crs = st.selectbox(
                "Coordinates",
                list(exports.CRS_OPTIONS),
                format_func={
                    "EPSG:4326": "Longitude/latitude (EPSG:4326)",
                    "EPSG:27700": "British National Grid (EPSG:27700)",
                }.get,
                key="export_crs",
            )
        # One marking field per audience, so switching audience brings back that audience's default.
        marking = st.text_input(
            "Protective marking",
            value=privacy.DEFAULT_MARKINGS[audience],
            key=f"export_marking_{audience}",
            max_chars=60,
        )
        release = _release_named_places(user, audience, kind)
    try:
        policy = privacy.policy_for(audience, marking=marking.strip(), named_places=release)
    except InvalidInput as exc:
        st.error(md_escape(exc))
        return
    try:
        filters = privacy.partner_filters(filters, policy)
    except privacy.NotAllowed as exc:
        st.error(f"This selection cannot be shared with this audience: {md_escape(exc)}")
        return

    note = privacy.resolution_note(res, policy)
    demo = state.counts()["demo_reports"] > 0
    shared = state.shared_hexes(res, filters, policy)
    table = shared.table
    _log_preview(
        engine,
        table,
        policy=policy,
        filters=filters,
        res=res,
        res_used=shared.res,
        kind=kind,
        map_type=map_type,
        username=user.username,
    )
    with right:
        st.subheader(f"Preview: what the {audience} audience receives")
        st.caption(f"Marking {md_escape(policy.marking)} · filters: {md_filters(filters)}")
        if policy.suppresses:
            st.caption("This preview is recorded in the export log, as a file would be.")
        if note:
            st.info(note)
        if policy.suppresses:
            st.caption(
                f"Counts of 1 to {policy.k - 1} are shown as '{policy.small}'; '[c]' is withheld to protect "
                "a small number elsewhere; other counts carry a small fixed noise (at most "
                f"±{privacy.PTABLE_MAX_NOISE}) and totals are rounded."
            )
        if kind in ("map-png", "map-pdf"):
            # The file itself, not a look-alike: the web map's count bands differ from the file's classes.
            try:
                image = _preview_image(state.version(), policy, res, kind, map_type, filters, demo)
            except HothGeoError as exc:  # e.g. too few reports for a hotspot map
                st.warning(f"No {MAP_LABELS[map_type].lower()} map for this selection: {md_escape(exc)}")
            else:
                st.image(image, caption="The map exactly as the file draws it", width="stretch")
        elif kind in export_prep.MAP_KINDS:
            try:
                m = _preview_map(state.version(), policy, res, map_type, filters)
            except HothGeoError as exc:  # e.g. too few reports for a hotspot map
                st.warning(f"No {MAP_LABELS[map_type].lower()} map for this selection: {md_escape(exc)}")
            else:
                st_folium(
                    m,
                    key=f"export-map-{audience}-{map_type}-{res}",
                    height=460,
                    use_container_width=True,
                    returned_objects=[],
                )
        st.markdown(f"**Hexagon table** — {len(table):,} hexagons, total reports {shown_count(shared.total)}")
        st.dataframe(
            _display_table(table),
            hide_index=True,
            width="stretch",
            column_config=_table_columns(policy.k),
        )

    params = (audience, kind, res, map_type, crs, policy, filters)
    if st.button("Prepare export", type="primary", key="export_prepare"):
        with st.spinner("Preparing the export…"):
            try:
                prepared = export_prep.prepare_export(
                    reports,
                    state.places(),
                    kind=kind,
                    policy=policy,
                    res=res,
                    filters=filters,
                    map_type=map_type,
                    crs=crs,
                    demo=demo,
                )
            except HothGeoError as exc:
                st.session_state.pop(_PREPARED, None)
                st.error(f"This export cannot be made: {md_escape(exc)}")
            else:
                export_prep.record(
                    engine, prepared, policy=policy, filters=filters, exported_by=user.username
                )
                st.session_state[_PREPARED] = (params, prepared)

    cached = st.session_state.get(_PREPARED)
    if cached is not None:
        cached_params, prepared = cached
        if cached_params != params:
            st.caption("The settings changed since the last file was prepared: press 'Prepare export' again.")
        else:
            _show_prepared(prepared)
    _recent_exports(engine, user.username)


def _show_prepared(prepared: export_prep.PreparedExport) -> None:
    st.success(
        f"Prepared {md_escape(prepared.filename)} ({len(prepared.data):,} bytes). "
        f"Recorded in the export log as #{prepared.export_id}."
    )
    if prepared.suffix == "png":
        st.image(prepared.data, caption="The image as it will be received", width="stretch")
    elif prepared.suffix == "pdf":
        pages = export_prep.pdf_page_count(prepared.data)
        st.caption(f"{pages} page{'s' if pages != 1 else ''}")
        first = _first_page_png(prepared.data)
        if first is not None:
            st.image(first, caption="Page 1", width="stretch")
    st.download_button(
        f"Download {prepared.filename}",
        data=prepared.data,
        file_name=prepared.filename,
        mime=MIME.get(prepared.suffix, "application/octet-stream"),
        key="export_download",
        type="primary",
    )
