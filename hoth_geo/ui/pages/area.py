"""Area (administrators): set the partnership's study area from a boundary file and build its
gazetteer from official-format downloads. The same steps as `hoth-geo area set` and
`hoth-geo area build-gazetteer`."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from hoth_geo import settings
from hoth_geo.access import audit
from hoth_geo.intake import area as area_mod
from hoth_geo.intake import restate, review
from hoth_geo.intake.area_gazetteer import build_gazetteer_for_area, describe_report
from hoth_geo.local_time import format_local, zone_label
from hoth_geo.ui import state
from hoth_geo.ui.text import md_escape

__all__ = [
    "render",
]

_BOUNDARY_TYPES = ["geojson", "json", "gpkg", "zip"]


def _save(upload, folder: Path) -> Path:
    # Only the last component of an uploaded name is used: the name is data from the uploader.
    path = folder / Path(upload.name).name
    path.write_bytes(upload.getvalue())
    return path


def _show_current(current: area_mod.Area) -> None:
    gaz = area_mod.gazetteer_for(current)
    # The name as a heading: a partnership's name is longer than a metric's card shows ("County Dur…").
    st.subheader(md_escape(current.name))
    c = st.columns(3)
    c[0].metric("Size", f"{current.area_km2():,.0f} km²")
    c[1].metric("Postcodes", f"{len(gaz.postcodes):,}")
    c[2].metric("Places / streets", f"{len(gaz.places):,} / {len(gaz.streets):,}")
    if current.shipped:
        st.info(
            f"This is the shipped {md_escape(current.name)} area of the demo data. Set your partnership's own area "
            "below; the shipped set stays available."
        )
    else:
        st.caption(md_escape(f"Set {current.set_at} by {current.set_by or 'unknown'} from {current.source}."))
    report = current.build_report()
    if report:
        st.subheader("How the gazetteer was built")
        built_at = current.gazetteer_built_at()
        if built_at is not None:
            st.caption(f"Built {format_local(built_at, '%d %b %Y at %H:%M')} ({zone_label()}).")
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "Source": s["source"],
                        "Files": ", ".join(s["files"]),
                        "Read": s["read"],
                        "Kept": s["kept"],
                        "Skipped": "; ".join(f"{n:,} {why}" for why, n in s["skipped"].items()) or "none",
                    }
                    for s in report["sources"]
                ]
            ),
            hide_index=True,
            width="stretch",
        )
    elif not current.shipped:
        st.warning(
            f"{md_escape(current.name)} has no gazetteer yet: postcodes, places and streets cannot be looked up."
        )


def _set_area_form() -> None:
    st.subheader("Set the area")
    st.caption(
        "A boundary file in any coordinate system: GeoJSON, GeoPackage, or a zipped Shapefile. Every polygon "
        "in it is dissolved into one area. Reports already stored are kept; those outside the new area are "
        "counted for you."
    )
    with st.form("area_set"):
        name = st.text_input("Name (shown on every page and export)", max_chars=80)
        upload = st.file_uploader("Boundary file", type=_BOUNDARY_TYPES, key="area_boundary")
        submitted = st.form_submit_button("Set the area")
    if not submitted:
        return
    if upload is None:
        st.error("Choose a boundary file.")
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = _save(upload, Path(tmp))
        try:
            result = area_mod.set_area(
                path, name, db_url=settings.database_url(), engine=state.engine(), actor=state.username()
            )
        except area_mod.AreaError as exc:
            st.error(md_escape(f"Area not set: {exc}".replace(tmp + "/", "")))
            return
    for line in result.messages():
        (st.success if line.startswith("study area set") else st.warning)(md_escape(line))


def _build_form(current: area_mod.Area) -> None:
    st.subheader(f"Build the gazetteer for {md_escape(current.name)}")
    if current.shipped:
        st.caption("Set your own area first.")
        return
    st.caption(
        "Upload the files as you downloaded them: OS Code-Point Open (the CSV zip from the OS Data Hub), "
        "police.uk street-level crime CSVs, and OpenStreetMap points of interest (.osm.pbf, GeoJSON or "
        "GeoPackage). Optionally, named localities such as ONS ward boundaries. The new gazetteer replaces "
        "the area's previous one."
    )
    with st.form("area_build"):
        codepoint = st.file_uploader("OS Code-Point Open (zip)", type=["zip"], key="area_cp")
        policeuk = st.file_uploader(
            "police.uk street-level CSVs", type=["csv"], accept_multiple_files=True, key="area_pu"
        )
        osm = st.file_uploader(
            "OpenStreetMap",
            type=["pbf", "geojson", "json", "gpkg"],
            accept_multiple_files=True,
            key="area_osm",
        )
        open_names = st.file_uploader("OS Open Names (zip, optional)", type=["zip"], key="area_on")
        localities = st.file_uploader("Localities (optional)", type=_BOUNDARY_TYPES, key="area_loc")
        buffer_km = st.number_input("Keep postcodes this far beyond the boundary (km)", 0.0, 20.0, 2.0, 0.5)
        submitted = st.form_submit_button("Build the gazetteer")
    if not submitted:
        return
    if codepoint is None:
        st.error("Code-Point Open is required: it is how postcodes are found.")
        return
    bar = st.progress(0.0, text="starting")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        try:
            report = build_gazetteer_for_area(
                current,
                codepoint=[_save(codepoint, folder)],
                policeuk=[_save(u, folder) for u in policeuk or []],
                osm=[_save(u, folder) for u in osm or []],
                open_names=[_save(open_names, folder)] if open_names else [],
                localities_path=_save(localities, folder) if localities else None,
                buffer_m=float(buffer_km) * 1000,
                progress=lambda f, m: bar.progress(min(max(f, 0.0), 1.0), text=m),
            )
        except (ValueError, OSError) as exc:
            bar.empty()
            st.error(md_escape(f"Gazetteer not built: {exc}".replace(tmp + "/", "")))
            return
    audit.record(
        state.engine(),
        "area_gazetteer_built",
        actor=state.username(),
        target=current.name,
        details={"area_id": current.area_id, "layers": report["layers"], "sources": report["sources"]},
    )
    for line in describe_report(report):
        st.success(md_escape(line))
    waiting = int(review.imports_waiting(state.engine())["n"].sum())
    if waiting:
        st.info(
            f"{waiting:,} {'row waits' if waiting == 1 else 'rows wait'} for a location in Review: its"
            " button *Try these rows again with the gazetteer* locates those the new gazetteer knows."
        )


def _restate_offer(current: area_mod.Area) -> None:
    """After a build: stored reports keep the radii they were stored with until an admin states them
    as wide as the new gazetteer measures (offered once per build)."""
    built_at = current.gazetteer_built_at()
    engine = state.engine()
    if built_at is None or not state.counts()["reports"] or restate.restated_since(engine, built_at):
        return
    st.subheader("Stored reports and the new gazetteer")
    st.caption(
        "Reports keep the point and radius they were stored with. A report found by a postcode, a place"
        " name or a street can be stated as wide as this gazetteer measures that postcode, place or street,"
        " when that is wider (never narrower; no point moves). Audited."
    )
    if st.button("State stored reports as wide as this gazetteer measures them", key="area_restate"):
        with st.spinner("Reading the stored reports again"):
            result = restate.widen_stored_radii(engine, state.gazetteer(), actor=state.username())
        st.success(md_escape("; ".join(result.describe())) + ".")


def render() -> None:
    st.title("Area")
    try:
        current = state.area()
    except area_mod.AreaError as exc:
        st.error(md_escape(str(exc)))
        return
    _show_current(current)
    _set_area_form()
    _build_form(state.area())
    _restate_offer(state.area())
    if not current.shipped:
        with st.expander("Go back to the shipped demo area"):
            if st.button(f"Use {settings.DEFAULT_AREA_NAME} again"):
                area_mod.use_shipped_area(settings.database_url())
                st.rerun()
