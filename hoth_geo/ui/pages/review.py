"""Review: resolve quarantined rows that need a location, by choosing a place, entering a postcode or an
OS grid reference, clicking the map or marking the row online, then confirming (a resolved row joins the
data at once, and the last location given can be undone); merge possible duplicates or keep them
distinct; accept or reject changed resubmissions. The rules live in hoth_geo.intake.review and
hoth_geo.intake.identity."""

from __future__ import annotations

from collections.abc import Callable

import folium
import numpy as np
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from hoth_geo import hexes, store
from hoth_geo.access import casework
from hoth_geo.access.privacy import NotAllowed
from hoth_geo.deliver import basemap, maps
from hoth_geo.intake import geocode, identity, review
from hoth_geo.local_time import format_local, to_local, zone_label
from hoth_geo.schema import PLACE_TYPES, REPORT_FIELD_LABELS
from hoth_geo.ui import state
from hoth_geo.ui.text import md_escape

__all__ = [
    "REVIEW_COLUMNS",
    "ROWS_LISTED",
    "render",
]

_ALL = 0  # the Import filter's "All imports" (import ids start at 1)
_NEAR_RES = 10  # hexagons of ~70 m across: the streets a place is on
ROWS_LISTED = 500  # rows drawn in the table and the chooser: a screenful, not a backlog of thousands
# The rows that need a location: when and who, then why, then what location the row gave; its file,
# row number and whether it is demo data are in the card of the row chosen below. Widths in pixels
# that fit the ~800-pixel content of a 1280-pixel window beside the sidebar.
REVIEW_COLUMNS = {
    "Observed": 95,
    "Agency": 160,
    "Why it needs a location": 330,
    "Location given": 210,
}


def render() -> None:
    st.title("Review")
    eng = state.engine()
    _locations(eng)
    _possible_duplicates(eng)
    _resubmissions(eng)


def _short_reason(reason: str) -> str:
    # The table's cell: the card of the chosen row below says it whole.
    text = review.plain_reason(reason).removeprefix("needs a location: ")
    return text.replace("; locate it in Review", "").removesuffix(" was given")


def _flash(key: str = "rv_flash") -> None:
    # Set before a rerun, shown after it in the section that set it: a confirmation the user can read
    # (a message written just before st.rerun() is gone before the browser draws it).
    kind, text = st.session_state.pop(key, (None, None))
    if kind == "success":
        st.success(text)
    elif kind == "info":
        st.info(text)
    elif kind == "error":
        st.error(text)


def _undo_offer(eng) -> None:
    last = review.last_resolution(eng, resolved_by=state.username())
    if last is None:
        return
    what = "correction" if last.corrected else "location"
    st.info(
        f"The last {'row you corrected' if last.corrected else 'location you gave'}: {md_escape(last.describe())}."
    )
    if st.button(f"Undo this {what}", key="rv_undo"):

        def undo() -> str:
            review.undo_resolution(eng, last.quarantine_id, actor=state.username())
            again = "waits for a correction" if last.corrected else "needs a location"
            return (
                f"Undone: report {last.report_id} was removed and {md_escape(last.filename)} row"
                f" {last.row_number} {again} again."
            )

        _act_then_redraw(undo, forget=_CHOICE_KEYS)


def _locate_again_offer(eng, waiting: pd.DataFrame, view: dict, *, n: int) -> None:
    """Offered when the area's gazetteer was built after some of the rows shown (``waiting``: their
    imports, as ``review.imports_waiting`` gives them) were imported: they were looked up in a gazetteer
    that no longer is, and may be found in today's."""
    area = state.area()
    built_at = area.gazetteer_built_at()
    if built_at is None:
        return
    n_before = int(waiting.loc[pd.to_datetime(waiting["imported_at"]) < built_at, "n"].sum())
    if not n_before or review.tried_again_since(eng, built_at, **view):
        return
    st.info(
        f"The gazetteer of {md_escape(area.name)} was built on {format_local(built_at, '%d %b %Y at %H:%M')}"
        f" ({zone_label()}), after"
        f" {n_before:,} of the rows here {'was' if n_before == 1 else 'were'} imported: it may know their"
        " places now."
    )
    label = "Try this row again with the gazetteer" if n == 1 else "Try these rows again with the gazetteer"
    if not st.button(
        label,
        key="rv_again",
        help="Each row whose postcode, place or street the gazetteer now knows is stored as an import would"
        " store it; the others wait here with today's reason. Rows with coordinates are left for you.",
    ):
        return
    with st.spinner("Locating the rows again"):
        result = review.locate_again(eng, state.gazetteer(), actor=state.username(), **view)
    kind = "success" if len(result.located) else "info"
    st.session_state["rv_flash"] = (kind, md_escape("; ".join(result.describe())) + ".")
    _forget_choice()
    st.rerun()


# What the analyst chose for the row being located: forgotten once it is stored, undone or tried again.
_CHOICE_KEYS = ("rv_row", "rv_pending", "rv_point", "rv_place", "rv_postcode", "rv_grid_ref", "rv_fix_row")


def _forget_choice() -> None:
    for key in _CHOICE_KEYS:
        st.session_state.pop(key, None)


def _act_then_redraw(action: Callable[[], str], *, flash: str = "rv_flash", forget: tuple[str, ...]) -> None:
    """Run ``action`` (a change that returns what to say), keep its message, or the refusal it raised,
    for the redrawn page (``flash``), forget the widget keys ``forget``, and redraw."""
    try:
        st.session_state[flash] = ("success", action())
    except (KeyError, ValueError) as exc:
        st.session_state[flash] = ("error", md_escape(str(exc)))
    for key in forget:
        st.session_state.pop(key, None)
    st.rerun()


def _import_label(waiting: pd.DataFrame):
    by_id = {int(r.id): r for r in waiting.itertuples()}

    def label(import_id: int) -> str:
        if import_id == _ALL:
            return "All imports"
        r = by_id[import_id]
        demo = ", demo" if r.is_demo else ""
        return f"{r.filename} (imported {format_local(r.imported_at)} {zone_label()}; {r.n:,} rows{demo})"

    return label


def _rows(n: int) -> str:
    return f"{n:,} row needs" if n == 1 else f"{n:,} rows need"


def _first_listed(total: int, view: dict) -> int:
    """Which screenful of a backlog is listed: the offset of its first row (0 when all fit in one).
    A row an analyst cannot locate yet does not hide the ones after it."""
    if st.session_state.get("rv_page_view") != view:  # another import: its rows from the first
        st.session_state.pop("rv_page", None)
        st.session_state["rv_page_view"] = view
    if total <= ROWS_LISTED:
        return 0
    starts = list(range(0, total, ROWS_LISTED))
    if st.session_state.get("rv_page") not in starts:
        st.session_state.pop("rv_page", None)
    return st.selectbox(
        "Rows listed",
        starts,
        format_func=lambda s: f"{s + 1:,}–{min(s + ROWS_LISTED, total):,} of {total:,}",
        key="rv_page",
        help=f"{ROWS_LISTED:,} at a time, in the order of the table: newest import first, then file order",
    )


def _location_given(r) -> str:
    """The row's location text, place name and postcode, those it gave, in one cell."""
    given = (str(v).strip() for v in (r.location_text, r.place_name, r.postcode) if not pd.isna(v))
    return " · ".join(v for v in given if v)


def _row_label(r) -> str:
    when = "no date" if pd.isna(r.observed_at) else f"{r.observed_at:%d %b %Y}"
    agency = r.agency or "no agency"
    return f"{r.filename} row {r.row_number}: {when}, {agency}: {review.plain_reason(r.reason)[:80]}"


def _locations(eng) -> None:
    st.header("Rows that need a location")
    _flash()
    _undo_offer(eng)
    waiting = review.imports_waiting(eng)
    c = st.columns([3, 1])
    import_ids = [_ALL, *[int(i) for i in waiting["id"]]]
    if st.session_state.get("rv_import") not in import_ids:
        st.session_state.pop("rv_import", None)
    chosen_import = c[0].selectbox(
        "Import", import_ids, format_func=_import_label(waiting), key="rv_import", help="Newest first"
    )
    not_demo = c[1].checkbox("Hide demo rows", key="rv_not_demo")
    view = {"import_id": None if chosen_import == _ALL else chosen_import, "include_demo": not not_demo}
    keep = np.ones(len(waiting), dtype=bool)
    if chosen_import != _ALL:
        keep &= waiting["id"].to_numpy() == chosen_import
    if not_demo:
        keep &= ~waiting["is_demo"].astype(bool).to_numpy()
    shown = waiting[keep]  # the imports whose rows this view lists, with how many each
    total = int(shown["n"].sum())
    other, n_other = review.needs_a_corrected_file(eng, limit=ROWS_LISTED)
    st.caption(
        f"{_rows(total)} a location here (newest import first); {_rows(n_other)} a correction (other"
        " quarantined rows, below: a value you can correct here, or a corrected file)."
    )
    if total:
        _by_agency(eng, view)
    first = _first_listed(total, view)
    rows = review.needs_location(eng, **view, limit=ROWS_LISTED, offset=first)
    if rows.empty:
        st.success("Nothing waits for a location.")
    else:
        _locate_again_offer(eng, shown, view, n=total)
        overview = pd.DataFrame(
            {
                "Observed": rows["observed_at"].dt.strftime("%d %b %Y"),
                "Agency": rows["agency"].fillna(""),
                # The heading says it needs a location and this page is where: the rest is the why.
                "Why it needs a location": rows["reason"].map(_short_reason),
                "Location given": [
                    _location_given(r) for r in rows[["location_text", "place_name", "postcode"]].itertuples()
                ],
            }
        )
        st.dataframe(
            overview,
            hide_index=True,
            width="stretch",
            column_config={
                name: st.column_config.TextColumn(width=px) for name, px in REVIEW_COLUMNS.items()
            },
        )
        labels = {int(r.id): _row_label(r) for r in rows.itertuples()}
        chosen = _choose("Quarantined row", labels, key="rv_row", placeholder="Choose the row to locate")
        if chosen is not None:
            _locate(eng, rows[rows["id"] == chosen].iloc[0])
    if n_other:
        st.subheader("Other quarantined rows")
        if n_other > len(other):
            st.caption(
                f"The newest {len(other):,} of {n_other:,}; the Import page's summary lists a file's own."
            )
        table = other.assign(reason=other["reason"].map(review.plain_reason))
        st.dataframe(
            table[["filename", "row_number", "reason"]].rename(
                columns={"filename": "File", "row_number": "Row", "reason": "Why it was quarantined"}
            ),
            hide_index=True,
            width="stretch",
        )
        _correct(eng, other)
    _set_aside(eng, pd.concat([rows[["id", "filename", "row_number", "reason"]], other], ignore_index=True))


@st.cache_data(show_spinner=False, max_entries=16)
def _waiting_by_agency(_eng, version: tuple, import_id: int | None, include_demo: bool) -> pd.DataFrame:
    # A count over every waiting row (0.2 s per 56,000): once per data version and view, not per rerun.
    return review.waiting_by_agency(_eng, import_id=import_id, include_demo=include_demo)


def _by_agency(eng, view: dict) -> None:
    """Whose rows these are and what each lacks: the agencies to ask for a corrected export."""
    with st.expander("By agency: who sent them, and what is missing"):
        table = _waiting_by_agency(eng, state.version(), view["import_id"], view["include_demo"])
        st.dataframe(
            table.rename(columns={"agency": "Agency", "rows": "Rows"}).replace(
                {"Agency": {"": "(none named)"}}
            ),
            hide_index=True,
            width="stretch",
        )
        st.caption(
            "Not placed: not found in the area's gazetteer, or found in several towns. A postcode, place or"
            " street not placed is often a habit of one form: the agency can put it right in its next export"
            " (a corrected row replaces the one waiting here)."
        )


def _choose(label: str, labels: dict[int, str], *, key: str, placeholder: str, help_text: str | None = None):
    """The entry the analyst chose from ``labels`` (id -> text), None until they choose one; a choice
    whose row has left the list (stored, set aside, undone elsewhere) is forgotten."""
    if st.session_state.get(key) not in labels:
        st.session_state.pop(key, None)
    return st.selectbox(
        label,
        list(labels),
        format_func=labels.get,
        index=None,
        placeholder=placeholder,
        key=key,
        help=help_text,
    )


def _entry_label(r) -> str:
    return f"{r.filename} row {r.row_number}: {review.plain_reason(r.reason)[:80]}"


def _correct(eng, other: pd.DataFrame) -> None:
    """Correct a cell the import could not read (a latitude typed 548.02165, a date 31/02/2025) and
    store the row, after a confirmation; the partner's row is kept, the change audited and undoable."""
    qid = _choose(
        "Row to correct",
        {int(r.id): _entry_label(r) for r in other.itertuples()},
        key="rv_fix_row",
        placeholder="Choose a row whose value you can correct",
        help_text="When the right value is plain from the row (a decimal point in the wrong place, day and"
        " month the wrong way round), correct it here rather than wait for a corrected file.",
    )
    if qid is None:
        return
    entry = other[other["id"] == qid].iloc[0]
    st.error(f"**Why it was quarantined:** {md_escape(review.plain_reason(entry['reason']))}")
    try:
        cells = review.correctable_cells(eng, qid)
    except (KeyError, ValueError) as exc:
        st.info(md_escape(str(exc)))
        return
    if cells.empty:
        st.info(
            "This row has no value that can be corrected here: it needs a corrected file, or set it aside."
        )
        return
    # The value the reason names first, then the row's other values an import parses (a row may have
    # more than one slip; the confirmation, or the refusal, says what the row reads as).
    corrections = {}
    at_fault, others = cells[cells["at_fault"]], cells[~cells["at_fault"]]
    for i, cell in enumerate(at_fault.itertuples()):
        corrections[cell.header] = st.text_input(_cell_label(cell), value=cell.value, key=f"rv_fix_{qid}_{i}")
    with st.expander("Correct another value of this row"):
        for i, cell in enumerate(others.itertuples(), start=len(at_fault)):
            corrections[cell.header] = st.text_input(
                _cell_label(cell), value=cell.value, key=f"rv_fix_{qid}_{i}"
            )
    sent = dict(zip(cells["header"], cells["value"], strict=True))
    corrections = {h: v.strip() for h, v in corrections.items() if v.strip() != str(sent[h]).strip()}
    if not corrections:
        st.caption("Type the corrected value above; the row is then read again as an import reads it.")
        return
    row = f"{md_escape(entry['filename'])} row {int(entry['row_number'])}"
    said = "; ".join(f"{md_escape(h)}: {md_escape(v) or '(blank)'}" for h, v in corrections.items())

    def store_it() -> str:
        report_id = review.store_corrected(eng, qid, corrections, state.gazetteer(), actor=state.username())
        return f"Corrected and stored: {row} is report {report_id}."

    _two_step(
        {"qid": qid, "corrected": tuple(sorted(corrections.items()))},
        f"Confirm: {row} will be read again with {said}, and stored if it then reads and locates cleanly."
        " The row as the partner sent it is kept, and the correction is recorded in the audit log. You can"
        " undo it afterwards.",
        ("Store the corrected row", "rv_fix"),
        store_it,
    )


def _cell_label(cell) -> str:
    # A widget's label is read as Markdown, and the header and the value are the partner's text.
    return f"{md_escape(cell.header)} (as sent: {md_escape(cell.value) if cell.value else 'blank'})"


def _set_aside(eng, listed: pd.DataFrame) -> None:
    """Rows that will never be corrected (withdrawn, sent in error, a test) leave the lists with a reason,
    kept and restorable; the rows set aside are listed with who did it and when."""
    _flash("rv_aside_flash")
    if not listed.empty:
        with st.expander("Set a row aside (it is not stored, and can be restored)"):
            labels = {int(r.id): _entry_label(r) for r in listed.itertuples()}
            chosen = _choose("Row", labels, key="rv_aside_row", placeholder="Choose the row")
            why = st.text_input("Why (recorded in the audit log)", key="rv_aside_why")
            if st.button("Set aside", key="rv_aside", disabled=chosen is None or not why.strip()):

                def set_aside() -> str:
                    review.set_aside(eng, chosen, why=why, actor=state.username())
                    return (
                        f"Set aside: {md_escape(labels[chosen].split(':')[0])}. It is kept, and can be"
                        " restored from the list of rows set aside."
                    )

                _act_then_redraw(
                    set_aside, flash="rv_aside_flash", forget=("rv_aside_row", "rv_aside_why", "rv_row")
                )
    aside = review.set_aside_rows(eng, limit=ROWS_LISTED)
    if aside.empty:
        return
    with st.expander(f"Rows set aside ({len(aside):,}{'+' if len(aside) == ROWS_LISTED else ''})"):
        st.dataframe(
            pd.DataFrame(
                {
                    "File": aside["filename"],
                    "Row": aside["row_number"],
                    "Why it was quarantined": aside["reason"].map(review.plain_reason),
                    f"Set aside ({zone_label()})": to_local(aside["resolved_at"]).dt.strftime(
                        "%d %b %Y %H:%M"
                    ),
                    "By": aside["resolved_by"].fillna(""),
                }
            ),
            hide_index=True,
            width="stretch",
        )
        labels = {int(r.id): f"{r.filename} row {r.row_number}" for r in aside.itertuples()}
        back = st.selectbox(
            "Row to restore", list(labels), format_func=labels.get, index=None, key="rv_restore_row"
        )
        if st.button("Restore", key="rv_restore", disabled=back is None):

            def restore() -> str:
                review.restore(eng, back, actor=state.username())
                return f"Restored: {md_escape(labels[back])} is back in Review."

            _act_then_redraw(restore, flash="rv_aside_flash", forget=("rv_restore_row",))


def _locate(eng, entry: pd.Series) -> None:
    qid = int(entry["id"])
    payload, _import_id = store.quarantine_payload(eng, qid)
    why = review.plain_reason(entry["reason"]).removeprefix("needs a location: ")  # the heading says it
    st.error(f"**Why it needs a location:** {md_escape(why)}")
    demo = " (synthetic demo data)" if entry["is_demo"] else ""
    st.caption(f"{md_escape(entry['filename'])}, row {int(entry['row_number']):,}{demo}")
    shown = pd.DataFrame(
        review.readable(payload, review.setting_as_written(eng, qid)), columns=["", "As reported"]
    )
    st.table(shown.set_index(""))
    _narrative(eng, qid)
    places = state.places()
    candidates = review.place_candidates(payload, entry["reason"], places)
    if not candidates.empty:
        # Places of one name in one town differ by their streets: say which streets each is on.
        cells = hexes.latlng_to_cells(
            candidates["latitude"].to_numpy(float), candidates["longitude"].to_numpy(float), _NEAR_RES
        )
        candidates = candidates.assign(near=state.cell_descriptions(_NEAR_RES, cells))
        st.markdown("**Candidate places** (choose one under *a place*):")
        st.dataframe(
            candidates.assign(
                place_type=candidates["place_type"].map(lambda t: PLACE_TYPES.get(t, t) if t else "")
            )
            .reindex(columns=["name", "locality", "near", "place_type", "postcode_district"])
            .rename(
                columns={
                    "name": "Place",
                    "locality": "Locality",
                    "near": "Near",
                    "place_type": "Type",
                    "postcode_district": "Postcode district",
                }
            ),
            hide_index=True,
            width="stretch",
        )
    how = st.radio(
        "Locate it by",
        ["a place", "a postcode", "a grid reference", "a map click", _ONLINE],
        horizontal=True,
        key="rv_how",
        help="A report that happened online is counted as online on every page and drawn on no map.",
    )
    if how == _ONLINE:
        _mark_online(eng, entry, qid)
        return
    lat = lon = None
    place = None
    radius = None  # what was chosen reaches this far; None: the geocoder's default for a place
    where = ""
    if how == "a place":
        named = places[places["name"].notna()]
        first = candidates["place_id"].tolist()
        options = first + [p for p in named["place_id"].tolist() if p not in set(first)]
        place_labels = _place_labels(named, candidates)

        def place_label(p) -> str:
            return place_labels[p]

        pid = st.selectbox(
            "Place",
            options,
            format_func=place_label,
            index=None,
            placeholder="Type to search places",
            key="rv_place",
        )
        if pid:
            place = named[named["place_id"] == pid].iloc[0]
            lat, lon = float(place["latitude"]), float(place["longitude"])
            where = f"at {place_label(pid).removeprefix('Candidate: ')}"
            # As far as the place reaches where the gazetteer measured it (a police.uk landmark's).
            reach = geocode.layer_radius_m(place.to_frame().T)[0]
            if np.isfinite(reach):
                radius = float(reach)
                where += f" (within {radius:,.0f} m)"
    elif how == "a postcode":
        text = st.text_input("Postcode", key="rv_postcode")
        if text:
            found = review.postcode_location(text, state.gazetteer().postcodes)
            if found is None:
                st.warning(f"Postcode {md_escape(text)} is not in the gazetteer.")
            else:
                pc, lat, lon, radius = found
                where = f"at postcode {pc} (within {radius:,.0f} m)"
    elif how == "a grid reference":
        text = st.text_input("OS grid reference", key="rv_grid_ref", placeholder="e.g. NZ 2737 4209")
        if text:
            found = geocode.grid_reference_location(text)
            if found is None:
                st.warning(f"{md_escape(text)} is not an OS grid reference: two letters and 4 to 10 digits.")
            else:
                written, lat, lon, radius = found
                where = f"at grid reference {written} (within {radius:,.0f} m)"
    else:
        point = st.session_state.get("rv_point")
        if point and point[0] == qid:
            lat, lon, zoom = point[1], point[2], point[3]
            # As precise as a click at the zoom it was made at: a few pixels, metres on a street,
            # most of a kilometre on a map of the county.
            radius = geocode.map_click_radius_m(lat, zoom)
            where = f"where you clicked (within {radius:,.0f} m at that zoom)"
    _map(qid, lat, lon, clickable=how == "a map click")
    if lat is None:
        st.session_state.pop("rv_pending", None)
        return
    st.write(f"Location: {lat:.5f}, {lon:.5f}")
    row = f"{md_escape(entry['filename'])} row {int(entry['row_number'])}"

    def store_it() -> str:
        report_id = review.resolve_with_location(
            eng, qid, lat, lon, place, actor=state.username(), precision_m=radius
        )
        return f"Located: {row} is report {report_id} and has joined the data."

    _two_step(
        {"qid": qid, "lat": lat, "lon": lon},
        f"Confirm: {row} will be stored as a report {md_escape(where)} ({lat:.5f}, {lon:.5f}), counted on"
        " every map and page, and leave this list. You can undo it afterwards.",
        ("Save location", "rv_save"),
        store_it,
    )


def _two_step(pending: dict, confirm: str, ask: tuple[str, str], store_it: Callable[[], str]) -> None:
    """Nothing is stored by the first button (``ask``: its label and key): it shows ``confirm``, and only
    Confirm stores (``store_it``, which returns what to say once the page is redrawn). Cancel forgets it."""
    if st.session_state.get("rv_pending") == pending:
        st.warning(confirm)
        c = st.columns(2)
        if c[0].button("Confirm", type="primary", key="rv_confirm"):
            _act_then_redraw(store_it, forget=_CHOICE_KEYS)
        if c[1].button("Cancel", key="rv_cancel"):
            st.session_state.pop("rv_pending", None)
            st.rerun()
    elif st.button(ask[0], type="primary", key=ask[1]):
        st.session_state["rv_pending"] = pending
        st.rerun()


_ONLINE = "saying it was online (not mapped)"


def _mark_online(eng, entry: pd.Series, qid: int) -> None:
    """The row happened online: stored as an online report after a confirmation, undone like a location."""
    row = f"{md_escape(entry['filename'])} row {int(entry['row_number'])}"

    def store_it() -> str:
        report_id = review.resolve_as_online(eng, qid, actor=state.username())
        return f"Marked online: {row} is report {report_id}, counted as online and not mapped."

    _two_step(
        {"qid": qid, "online": True},
        f"Confirm: {row} will be stored as an online report, counted under *Online (not mapped)* on every"
        " page and drawn on no map, and leave this list. What it gave as a location is kept as written."
        " You can undo it afterwards.",
        ("Mark it online", "rv_online"),
        store_it,
    )


def _place_labels(named: pd.DataFrame, candidates: pd.DataFrame) -> dict:
    """Each place as the analyst picks it: name and locality (candidates with their streets), made
    unique by the place's coordinates where two places would read the same."""
    near = dict(zip(candidates["place_id"], candidates.get("near", pd.Series(dtype=object)), strict=False))
    labels = {}
    for p, name, locality in zip(named["place_id"], named["name"], named["locality"], strict=True):
        text = " — ".join(str(x) for x in (name, locality) if pd.notna(x) and str(x))
        if p in near:
            text = f"Candidate: {text}" + (f", near {near[p]}" if near[p] else "")
        labels[p] = text
    seen = pd.Series(labels)
    repeated = set(seen[seen.duplicated(keep=False)].index)
    if repeated:
        at = named.set_index("place_id")
        for p in repeated:
            labels[p] += f" ({at.at[p, 'latitude']:.4f}, {at.at[p, 'longitude']:.4f})"
    return labels


def _narrative(eng, qid: int) -> None:
    user = state.user()
    if user is None or not user.can("view_narratives"):
        st.caption("Narrative: not shown to your role.")
        return
    read = st.session_state.setdefault("rv_narratives", {})
    if qid not in read:
        if st.button(
            "Read the narrative", key="rv_narrative", help="Reading it is recorded in the audit log"
        ):
            try:
                read[qid] = review.read_narrative(eng, qid, user)
            except NotAllowed as exc:
                st.error(md_escape(str(exc)))
                return
        else:
            return
    st.text_area("Narrative", read[qid] or "(none given)", disabled=True, key=f"rv_narrative_text_{qid}")


def _map(qid: int, lat: float | None, lon: float | None, *, clickable: bool) -> None:
    located = lat is not None
    m = maps.location_map(lat, lon, 15) if located else maps.blank_map()
    if located:
        marker = folium.CircleMarker(
            location=(lat, lon),
            radius=9,
            color="#b30000",
            weight=3,
            fill=True,
            fill_color="#fc4e2a",
            fill_opacity=0.8,
        )
        # A click on the marker is a click on the map beneath it: Leaflet would give the marker's own
        # point, and restate an old click at the new zoom's precision (folium does not pass this on).
        marker.options["interactive"] = False
        marker.add_to(m)
    if clickable:
        hint = (
            "Click the map where it happened; the red marker shows the point you chose. A click is stated"
            " as precise as the zoom it is made at: zoom in to the street first."
        )
        if not basemap.load().configured:
            hint += (
                " No street map is set up (Basemap page), so only outlines and town names show where you"
                " are: where a postcode or a place is known, choose that instead."
            )
        st.caption(hint)
    click = st_folium(
        maps.prepare_for_streamlit(m),
        # One component per mode: st_folium sets up its click handler for the returned_objects of
        # its first render, so a map first drawn to look at would never report a click.
        key="review-map-click" if clickable else "review-map-view",
        height=420,
        width="stretch",
        # The zoom the click is made at says how precise it is.
        returned_objects=["last_clicked", "zoom"] if clickable else [],
    )
    point = (click or {}).get("last_clicked") if clickable else None
    if point and point != st.session_state.get("rv_last_click"):
        st.session_state["rv_last_click"] = point
        plat, plon = float(point["lat"]), float(point["lng"])
        zoom = float(click.get("zoom") or m.options["zoom"])  # the map's own until it is zoomed
        if not geocode.in_study_area(state.gazetteer().study_area, np.array([plat]), np.array([plon]))[0]:
            st.warning(f"That point lies outside {md_escape(state.area().name)}.")
            return
        st.session_state["rv_point"] = (qid, plat, plon, zoom)
        st.session_state.pop("rv_pending", None)
        st.rerun()


def _possible_duplicates(eng) -> None:
    st.header("Possible duplicates")
    _flash("dup_flash")
    flags = identity.load_possible_duplicates(eng, status=None)
    open_flags = flags[flags["status"] == "open"]
    merged = flags[flags["status"] == "merged"]
    st.caption(
        f"{len(open_flags):,} stored reports have exactly the same content as another report under a different"
        f" (or no) source reference; {len(merged):,} have been merged. Merging makes a report count once, as"
        " the report it resembles; it can be undone."
    )
    if open_flags.empty:
        st.success("No possible duplicates wait for a decision.")
    else:
        table = open_flags.assign(
            report=open_flags["report_id"],
            same_content_as=open_flags["resembles_report_id"],
        )[
            [
                "id",
                "filename",
                "row_number",
                "report",
                "source_ref",
                "agency",
                "observed_at",
                "same_content_as",
                "resembles_source_ref",
            ]
        ]
        st.dataframe(table.rename(columns={"id": "flag"}), hide_index=True, use_container_width=True)
        labels = {
            int(
                r.id
            ): f"report {r.report_id} ({r.filename} row {r.row_number}) = report {r.resembles_report_id}"
            for r in open_flags.itertuples()
        }
        chosen = st.selectbox("Possible duplicate", list(labels), format_func=labels.get, key="dup_flag")
        flag = open_flags[open_flags["id"] == chosen].iloc[0]
        if st.button("Show both reports", key="dup_show"):
            user = state.user()
            if user is not None:
                rows = casework.view_reports(
                    eng,
                    [int(flag["report_id"]), int(flag["resembles_report_id"])],
                    user,
                    target=f"duplicate_flag:{int(chosen)}",
                )
                st.dataframe(rows, hide_index=True, use_container_width=True)
        c = st.columns(2)
        if c[0].button("Merge: count once", type="primary", key="dup_merge"):
            into = identity.merge(eng, int(chosen), actor=state.username())
            st.session_state["dup_flash"] = (
                "success",
                f"Report {int(flag['report_id'])} now counts as report {into}.",
            )
            st.rerun()
        if c[1].button("Keep both: they are distinct", key="dup_distinct"):
            identity.keep_distinct(eng, int(chosen), actor=state.username())
            st.session_state["dup_flash"] = (
                "success",
                f"Reports {int(flag['report_id'])} and {int(flag['resembles_report_id'])} are kept as two reports.",
            )
            st.rerun()
    if not merged.empty:
        with st.expander(f"Merged reports ({len(merged):,})"):
            labels = {
                int(r.id): f"report {r.report_id} merged into report {r.merged_into}"
                for r in merged.itertuples()
            }
            chosen = st.selectbox("Merged report", list(labels), format_func=labels.get, key="dup_merged")
            if st.button("Unmerge: count it on its own again", key="dup_unmerge"):
                identity.unmerge(eng, int(chosen), actor=state.username())
                report = int(merged.loc[merged["id"] == chosen, "report_id"].iloc[0])
                st.session_state["dup_flash"] = ("success", f"Report {report} counts on its own again.")
                st.rerun()


def _field_label(field: str) -> str:
    return REPORT_FIELD_LABELS.get(field, field)


def _resubmissions(eng) -> None:
    st.header("Changed resubmissions")
    _flash("resub_flash")
    pending = identity.load_resubmissions(eng)
    st.caption(
        f"{len(pending):,} rows carry the agency and source reference of a stored report but different"
        " content, grading or location accuracy."
        " The stored report is kept until you accept the change (which replaces its content) or reject it."
    )
    if pending.empty:
        st.success("No resubmissions wait for a decision.")
        return
    labels = {
        int(r.id): f"report {r.report_id} ({r.agency}, {r.source_ref}): {r.filename} row {r.row_number}"
        for r in pending.itertuples()
    }
    chosen = st.selectbox("Resubmission", list(labels), format_func=labels.get, key="resub")
    report_id = int(pending.loc[pending["id"] == chosen, "report_id"].iloc[0])
    shown = st.session_state.setdefault("resub_shown", {})
    if st.button("Show the differences", key="resub_show"):
        user = state.user()
        if user is not None:
            shown[int(chosen)] = identity.view_resubmission(eng, int(chosen), user)
    if int(chosen) in shown:
        differences = shown[int(chosen)]
        st.dataframe(
            differences.assign(field=differences["field"].map(_field_label)),
            hide_index=True,
            width="stretch",
            column_config={"field": "Field", "stored": "Stored", "resubmitted": "Resubmitted"},
        )
    c = st.columns(2)
    if c[0].button("Accept: replace the stored report", type="primary", key="resub_accept"):
        fields = identity.accept_resubmission(eng, int(chosen), actor=state.username())
        shown.pop(int(chosen), None)
        changed = ", ".join(map(_field_label, fields)) or "no field"
        st.session_state["resub_flash"] = ("success", f"Report {report_id} updated: {changed} changed.")
        st.rerun()
    if c[1].button("Reject: keep the stored report", key="resub_reject"):
        identity.reject_resubmission(eng, int(chosen), actor=state.username())
        shown.pop(int(chosen), None)
        st.session_state["resub_flash"] = (
            "info",
            f"Resubmission rejected: report {report_id} is kept as it was.",
        )
        st.rerun()
