"""Import: upload sharing-form exports or police.uk files, with progress, a reconciled summary and
the quarantined rows with their reasons."""

from __future__ import annotations

import streamlit as st

from hoth_geo import ingest, pipeline, settings, store
from hoth_geo.ui import state


def render() -> None:
    st.title("Import")
    st.markdown(
        "Upload a partnership information-sharing export (CSV or XLSX) or a police.uk street-level crime CSV. "
        "Every row is stored, quarantined with a reason, or recognised as a duplicate; importing the same "
        "file again adds nothing. See the data dictionary for the columns."
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
                progress=lambda f, m: bar.progress(min(max(f, 0.0), 1.0), text=m),
                max_bytes=limit_mb * 1_000_000,
            )
        except ingest.ImportRefused as exc:
            bar.empty()
            st.error(f"Not imported: {exc.message}. Nothing was stored.")
        else:
            st.session_state["last_import"] = summary
    summary = st.session_state.get("last_import")
    if summary is not None:
        kind = "police context layer" if summary.format == "policeuk" else "partnership reports"
        st.success(f"{summary.describe()} — stored as {kind}.")
        c = st.columns(4)
        c[0].metric("Read", f"{summary.n_read:,}")
        c[1].metric("Accepted", f"{summary.n_accepted:,}")
        c[2].metric("Quarantined", f"{summary.n_quarantined:,}")
        c[3].metric("Duplicates", f"{summary.n_duplicates:,}")
        for w in summary.warnings:
            # A file mostly outside the partnership's area is an error in all but name: show it so.
            (st.error if w.startswith("MOST OF THIS FILE") else st.warning)(w)
        q = store.load_quarantine(state.engine(), status=None)
        q = q[q["import_id"] == summary.import_id]
        if not q.empty:
            st.subheader("Quarantined rows")
            st.dataframe(
                q[["row_number", "reason", "field", "value"]], hide_index=True, use_container_width=True
            )
            st.caption(
                "Rows that need a location can be fixed on the Review page; others need a corrected file."
            )

    st.subheader("Imports so far")
    st.dataframe(
        store.load_imports(state.engine()).drop(columns=["file_sha256"]),
        hide_index=True,
        use_container_width=True,
    )
    if store.counts(state.engine())["demo_reports"]:
        with st.expander("Remove the synthetic demo data"):
            st.write(
                "Deletes the demo reports, their quarantine entries and the demo venues. Real imports stay."
            )
            if st.button("Remove demo data"):
                store.delete_demo(state.engine(), actor=state.username())
                st.session_state["_demo_checked"] = True
                st.rerun()
