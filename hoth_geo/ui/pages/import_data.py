"""Import: upload sharing-form exports or police.uk files, with progress, a reconciled summary and
the quarantined rows with their reasons."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from hoth_geo import settings, store
from hoth_geo.access import privacy
from hoth_geo.intake import files, pipeline
from hoth_geo.local_time import to_local, zone_label
from hoth_geo.ui import state
from hoth_geo.ui.text import md_escape

__all__ = [
    "IMPORTS_COLUMNS",
    "imports_table",
    "render",
]


def render() -> None:
    st.title("Import")
    st.markdown(
        "Upload a partnership information-sharing export (CSV or XLSX) or a police.uk street-level crime CSV. "
        "Every row is stored, quarantined with a reason, or recognised as a duplicate of a stored report; "
        "a report is its agency plus its source reference, so two agencies' reports with the same reference "
        "are two reports. Importing the same file again adds nothing. See the data dictionary for the columns."
    )
    if state.gazetteer().postcodes.empty:
        st.warning(
            f"The gazetteer of {md_escape(state.area().name)} is not built yet: postcodes, places and streets"
            " cannot be looked up, so rows without coordinates will wait in Review. Build it on the Area"
            " page first, or try those rows again in Review once it is built."
        )
    template = settings.DATA_DIR / "template.csv"
    if template.is_file():
        st.download_button(
            "Download the sharing-form template (CSV)", template.read_bytes(), "hoth-geo-template.csv"
        )
    limit_mb = settings.MAX_UPLOAD_MB
    uploaded = st.file_uploader(
        f"File (up to {limit_mb} MB)", type=["csv", "xlsx"], accept_multiple_files=False
    )
    fmt = st.radio(
        "Format",
        ["detect", "sharing_form", "policeuk"],
        horizontal=True,
        format_func={
            "detect": "Detect from the header",
            "sharing_form": "Sharing form",
            "policeuk": "police.uk",
        }.get,
    )
    if uploaded is not None and st.button("Import", type="primary"):
        bar = st.progress(0.0, text="Starting…")
        try:
            summary = pipeline.import_file(
                state.engine(),
                uploaded.getvalue(),
                uploaded.name,
                imported_by=state.username(),
                fmt=None if fmt == "detect" else fmt,
                gazetteer=state.gazetteer(),
                progress=lambda f, m: bar.progress(min(max(f, 0.0), 1.0), text=md_escape(m)),
                max_bytes=limit_mb * 1_000_000,
            )
        except files.ImportRefused as exc:
            bar.empty()
            st.error(f"Not imported: {md_escape(exc.message)}. Nothing was stored.")
        else:
            bar.empty()  # the summary below says it is done; a bar left short of the end would not
            st.session_state["last_import"] = summary
    summary = st.session_state.get("last_import")
    if summary is not None:
        _show_summary(summary)

    st.subheader("Imports so far")
    st.caption(
        "Newest first. Each file's rows read = stored + quarantined + duplicates + resubmitted (changed"
        " resubmissions, waiting in Review) + outside the area."
    )
    st.dataframe(
        imports_table(store.load_imports(state.engine())),
        hide_index=True,
        width="stretch",
        # A file of thousands of rows reads 5,642, not 5642; the import id is a label, not a count.
        column_config={
            **{
                IMPORTS_COLUMNS[c]: st.column_config.NumberColumn(format="localized", help=_COUNT_HELP.get(c))
                for c in _COUNT_COLUMNS
            },
            IMPORTS_COLUMNS["id"]: st.column_config.NumberColumn(
                help="The import's id: what `hoth-geo area locate-again --import ID` takes"
            ),
        },
    )
    if state.counts()["demo_reports"]:
        with st.expander("Remove the synthetic demo data"):
            st.write(
                "Deletes the demo reports, their quarantine entries and the demo venues. Real imports stay."
            )
            if st.button("Remove demo data"):
                pipeline.delete_demo(state.engine(), actor=state.username())
                st.session_state["_demo_checked"] = True
                st.rerun()


# The import records as a person reads them: when and which file, then what became of its rows; the
# import's id last (what `hoth-geo area locate-again --import ID` takes).
IMPORTS_COLUMNS = {
    "imported_at": "Imported",  # and the time zone (local_time.zone_label)
    "filename": "File",
    "n_read": "Rows read",
    "n_accepted": "Stored",
    "n_quarantined": "Quarantined",
    "n_duplicates": "Duplicates",
    "n_resubmitted": "Resubmitted",
    "n_out_of_area": "Outside",
    "format": "Format",
    "imported_by": "By",
    "is_demo": "Demo",
    "id": "Id",
}
_COUNT_HELP = {
    "n_resubmitted": "Changed resubmissions: rows with the agency and source reference of a stored report and"
    " other content, waiting in Review to be accepted or rejected",
    "n_out_of_area": "Outside the area: police.uk rows outside the study area, skipped",
}
_COUNT_COLUMNS = ("n_read", "n_accepted", "n_quarantined", "n_duplicates", "n_resubmitted", "n_out_of_area")
_FORMATS = {"sharing_form": "Sharing form", "policeuk": "police.uk"}


def imports_table(imports: pd.DataFrame) -> pd.DataFrame:
    """``store.load_imports`` as the page shows it: newest first, readable headers and formats."""
    out = imports.sort_values("id", ascending=False)[list(IMPORTS_COLUMNS)].copy()
    out["imported_at"] = to_local(out["imported_at"]).dt.strftime("%d %b %Y %H:%M")
    out["format"] = out["format"].map(lambda f: _FORMATS.get(f, f))
    out["is_demo"] = out["is_demo"].map({True: "yes", False: ""}).fillna("")
    return out.rename(columns={**IMPORTS_COLUMNS, "imported_at": f"Imported ({zone_label()})"})


_MAX_SHOWN = 10_000  # rows drawn in the table; the CSV download holds every row

_OUTCOME_LABELS = {
    "stored": "Stored",
    "possible_duplicate": "Stored, possible duplicate (Review)",
    "quarantined": "Quarantined",
    "duplicate": "Duplicate",
    "resubmission": "Changed resubmission (Review)",
}


def _show_summary(summary: store.ImportSummary) -> None:
    kind = "police context layer" if summary.format == "policeuk" else "partnership reports"
    # The file name, and the headers and terms the warnings quote, come from the partner's file.
    st.success(f"{md_escape(summary.describe())} — stored as {kind}.")
    c = st.columns(5)
    c[0].metric("Read", f"{summary.n_read:,}")
    c[1].metric("Accepted", f"{summary.n_accepted:,}")
    c[2].metric("Quarantined", f"{summary.n_quarantined:,}")
    c[3].metric("Duplicates", f"{summary.n_duplicates:,}")
    c[4].metric("Changed resubmissions", f"{summary.n_resubmitted:,}")
    for w in summary.warnings:
        # A file mostly outside the partnership's area is an error in all but name: show it so.
        (st.error if w.startswith("MOST OF THIS FILE") else st.warning)(md_escape(w))
    if summary.n_possible_duplicates or summary.n_resubmitted:
        st.info(
            f"{summary.n_possible_duplicates:,} stored rows have the same content as another report and "
            f"{summary.n_resubmitted:,} rows change a stored report: decide on them on the Review page."
        )
    rows = summary.rows
    if rows is None:
        return
    st.subheader("Every row of the file")
    shown = rows.assign(outcome=rows["outcome"].map(_OUTCOME_LABELS))
    kinds = [k for k in _OUTCOME_LABELS.values() if (shown["outcome"] == k).any()]
    chosen = st.multiselect(
        "Show",
        kinds,
        default=[k for k in kinds if k != _OUTCOME_LABELS["stored"]] or kinds,
        key="import_rows_show",
    )
    view = shown[shown["outcome"].isin(chosen)]
    if len(view) > _MAX_SHOWN:
        st.caption(f"The first {_MAX_SHOWN:,} of {len(view):,} rows; the download below has them all.")
        view = view.head(_MAX_SHOWN)
    st.dataframe(
        view.rename(
            columns={
                "row_number": "Row",
                "outcome": "Outcome",
                "report_id": "Report id",
                "resembles_report_id": "Same content as report",
                "quarantine_id": "Quarantine entry",
                "resubmission_id": "Resubmission",
                "duplicate_of_row": "Repeats row",
                "detail": "Detail",
            }
        ),
        hide_index=True,
        use_container_width=True,
    )
    st.caption(
        "Report id: the report the row was stored as, duplicates or would change. Rows that need a location "
        "can be fixed on the Review page, and so can a value the import could not read (a misplaced decimal"
        " point, an impossible date); other quarantined rows need a corrected file."
    )
    st.download_button(
        "Download the row-by-row outcome (CSV)",
        privacy.neutralise_frame(rows).to_csv(index=False).encode("utf-8"),
        f"{summary.filename}-rows.csv",
        mime="text/csv",
    )
