"""Share information: the partnership information-sharing form, the guidance beside it, and the
reporter's own submissions.

What may be done is checked in ``hoth_geo.intake.submission`` (which calls ``auth.require``); this page only
draws the form. Nothing typed is lost:

* every field saves the draft to the database when it changes (``submission.save_draft``), from its
  change callback, which runs before the session-expiry check: a session that expires mid-form keeps
  what was typed, and the draft comes back after signing in again;
* the form's token is part of the draft and becomes the report's reference, so a double click, a retry
  or a restored draft sent again stores the report once;
* a form that fails its checks keeps every value and shows a message beside each field at fault.
"""

from __future__ import annotations

from datetime import date

import folium
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from hoth_geo import settings
from hoth_geo.access import auth
from hoth_geo.deliver import maps
from hoth_geo.intake import geocode, guidance
from hoth_geo.intake import submission as sm
from hoth_geo.local_time import format_local, to_local, zone_label
from hoth_geo.schema import AGENCY_TYPES, CONCERNS, INDICATORS, PLACE_TYPES
from hoth_geo.ui import state
from hoth_geo.ui.tables import stacked_table
from hoth_geo.ui.text import md_escape

__all__ = [
    "WHERE_MODES",
    "USE_TYPED",
    "MY_SUBMISSIONS_HEADERS",
    "render",
    "render_mine",
]

WHERE_MODES = {
    "place": "A place, street or postcode",
    "map": "A point I choose on the map",
    "online": "Online",
}
USE_TYPED = "None of these: send what I typed"
# My submissions: the columns of sm.my_submissions shown, in order, and their headers.
MY_SUBMISSIONS_HEADERS = {
    "reference": "Reference",
    "status_label": "Status",
    "sent_at": "Sent",  # and the time zone (local_time.zone_label)
    "seen_on": "Date seen",
    "place_type": "Place type",
    "concerns": "Concerns",
}

# Widget keys (their values are the draft) and the non-widget keys that belong to the draft too.
_TEXT_KEYS = ("sh_time", "sh_query", "sh_seen", "sh_people", "sh_vehicles", "sh_child")
_CHOICE_KEYS = ("sh_where", "sh_choice", "sh_place_type", "sh_g_source", "sh_g_info", "sh_g_handling")
_IND_KEYS = tuple(f"sh_ind_{k}" for k in INDICATORS)
_WIDGET_KEYS = ("sh_date", *_TEXT_KEYS, *_CHOICE_KEYS, "sh_concerns", *_IND_KEYS)
_STATE_KEYS = ("sh_token", "sh_lat", "sh_lon", "sh_accuracy")
_SENTINEL = "sh_seen"  # present while the form's widgets are alive in this session


def _defaults() -> dict:
    out: dict = {"sh_date": None, "sh_concerns": [], "sh_where": "place"}
    out.update({k: "" for k in _TEXT_KEYS})
    out.update({k: None for k in _CHOICE_KEYS if k != "sh_where"})
    out.update({k: False for k in _IND_KEYS})
    out.update({"sh_token": sm.new_token(), "sh_lat": None, "sh_lon": None, "sh_accuracy": None})
    return out


def _draft_from_state() -> dict:
    ss = st.session_state
    draft = {k: ss.get(k) for k in (*_WIDGET_KEYS, *_STATE_KEYS)}
    if isinstance(draft["sh_date"], date):
        draft["sh_date"] = draft["sh_date"].isoformat()
    return draft


def _apply(draft: dict) -> None:
    values = _defaults()
    for k, v in draft.items():
        if k in values and v is not None:
            values[k] = v
    if isinstance(values["sh_date"], str):
        try:
            values["sh_date"] = date.fromisoformat(values["sh_date"])
        except ValueError:
            values["sh_date"] = None
    if values["sh_where"] not in WHERE_MODES:
        values["sh_where"] = "place"
    for k, v in values.items():
        st.session_state[k] = v


def _save_draft() -> None:
    """Change callback of every field: keep the form in the database for this account."""
    user = state.user()
    if user is None or not user.can("submit"):
        return
    sm.save_draft(state.engine(), user, _draft_from_state())


def _request_send() -> None:
    _save_draft()
    st.session_state["sh_send_requested"] = True


def _restore(user) -> None:
    """Bring the form back (from the database draft) when its widgets are not alive in this session."""
    if _SENTINEL in st.session_state:
        return
    draft = sm.load_draft(state.engine(), user)
    _apply(draft or {})
    if draft:
        st.session_state["sh_restored"] = True


@st.cache_resource(show_spinner=False, max_entries=2)
def _index(_engine, key: tuple) -> sm.GazetteerIndex:
    return sm.gazetteer_index(_engine, state.gazetteer())


@st.cache_resource(show_spinner=False, max_entries=256)
def _search(key: tuple, query: str) -> list[sm.Option]:
    # Gazetteer data only (no report): shared between sessions; the caller checks the account.
    return _index(state.engine(), key=key).search(query)


def _options(user, query: str) -> list[sm.Option]:
    auth.require(user, "submit")
    return _search((state.version(), id(state.gazetteer())), query)


def _where_fields(user) -> dict:
    """The Submission location fields the form holds now."""
    ss = st.session_state
    mode = ss.get("sh_where")
    if mode == "online":
        return {"online": True}
    if mode == "map":
        if ss.get("sh_lat") is None:
            return {}
        lat, lon = float(ss["sh_lat"]), float(ss["sh_lon"])
        # A click is as precise as the zoom it was made at; a draft's click from before the zoom was
        # kept is taken as made on the map as it first opens.
        accuracy = ss.get("sh_accuracy")
        if accuracy is None:
            accuracy = geocode.map_click_radius_m(lat, maps.BLANK_MAP_ZOOM)
        return {"latitude": lat, "longitude": lon, "accuracy_m": float(accuracy)}
    query = str(ss.get("sh_query") or "").strip()
    choice = ss.get("sh_choice")
    if query and choice and choice != USE_TYPED:
        for option in _options(user, query):
            if option.label == choice:
                return dict(option.fields)
    return sm.where_from_text(query)


def _submission(user) -> sm.Submission:
    ss = st.session_state
    return sm.Submission(
        token=str(ss.get("sh_token") or ""),
        observed_on=ss.get("sh_date"),
        observed_time=(ss.get("sh_time") or "").strip() or None,
        place_type=ss.get("sh_place_type"),
        concerns=tuple(ss.get("sh_concerns") or ()),
        indicators=tuple(k for k in INDICATORS if ss.get(f"sh_ind_{k}")),
        what_was_seen=ss.get("sh_seen") or "",
        people_of_concern=ss.get("sh_people") or None,
        vehicles=ss.get("sh_vehicles") or None,
        child_ref=(ss.get("sh_child") or "").strip() or None,
        grading_source=ss.get("sh_g_source"),
        grading_information=ss.get("sh_g_info"),
        grading_handling=ss.get("sh_g_handling"),
        **_where_fields(user),
    )


def _untouched() -> bool:
    """True while the form is as a fresh one starts (nothing chosen or typed)."""
    fresh = _defaults()
    return all(st.session_state.get(k) == fresh[k] for k in _WIDGET_KEYS if k in st.session_state) and (
        st.session_state.get("sh_lat") is None
    )


def _send(user) -> None:
    """Runs at the top of the page after the Send button's callback, before any field is drawn."""
    if st.session_state.get("sh_receipt") is not None and _untouched():
        # The second click of a double click, arriving after the first was stored and the form
        # cleared: the receipt already on the screen is the answer, not a list of empty fields.
        return
    try:
        receipt = sm.submit(state.engine(), user, _submission(user), gazetteer=state.gazetteer())
    except sm.SubmissionInvalid as exc:
        st.session_state["sh_errors"] = exc.errors
        return
    st.session_state["sh_errors"] = {}
    st.session_state["sh_receipt"] = receipt
    _apply({})  # a fresh form with a new token; the stored draft was removed by submit


def _field_error(errors: dict, field: str) -> None:
    if field in errors:
        st.error(errors[field], icon=":material/error:")


def _zoom(precision_m: float | None) -> int:
    if precision_m is None:
        return 10
    for limit, zoom in ((50, 16), (150, 15), (400, 14), (1500, 13), (4000, 12)):
        if precision_m <= limit:
            return zoom
    return 11


def _marker_icon() -> folium.CustomIcon:
    # Leaflet's default icon finds its image from the stylesheet's address, which the component
    # iframe resolves wrongly; the vendored pin travels inside the map instead.
    images = settings.STATIC_DIR / "leaflet" / "images"
    return folium.CustomIcon(
        str(images / "marker-icon.png"),
        icon_size=(25, 41),
        icon_anchor=(12, 41),
        shadow_image=str(images / "marker-shadow.png"),
        shadow_size=(41, 41),
        shadow_anchor=(12, 41),
    )


def _preview_map(preview: sm.Preview) -> None:
    center = (preview.latitude, preview.longitude) if preview.located else None
    # Without a basemap the map zooms out as far as the nearest town, never a pin on blank ground.
    m = maps.location_map(*center, _zoom(preview.precision_m)) if preview.located else maps.blank_map()
    if preview.located:
        folium.Circle(
            location=center,
            radius=float(preview.precision_m),
            color="#08519c",
            weight=2,
            fill=True,
            fill_opacity=0.15,
            tooltip=f"Within about {preview.precision_m:,.0f} m",
        ).add_to(m)
        folium.Marker(
            location=center,
            icon=_marker_icon(),
            title="Where this report will be placed",
            alt="Where this report will be placed",
            # A click on the pin is a click on the map beneath it: Leaflet would give the pin's own
            # point, and restate an old click at the new zoom's precision.
            interactive=False,
        ).add_to(m)
    clicked = st_folium(
        maps.prepare_for_streamlit(m),
        key="share-map",
        height=380,
        use_container_width=True,
        # The zoom a click is made at says how precise it is.
        returned_objects=["last_clicked", "zoom"],
    )
    point = (clicked or {}).get("last_clicked")
    if point and point != st.session_state.get("sh_last_click"):
        st.session_state["sh_last_click"] = point
        st.session_state["sh_lat"], st.session_state["sh_lon"] = float(point["lat"]), float(point["lng"])
        zoom = float(clicked.get("zoom") or m.options["zoom"])
        st.session_state["sh_accuracy"] = geocode.map_click_radius_m(float(point["lat"]), zoom)
        st.session_state["sh_pending_where"] = "map"
        _save_draft()
        st.rerun()


def _receipt() -> None:
    receipt = st.session_state.get("sh_receipt")
    if receipt is None:
        return
    again = " This form had already been sent: it was stored once." if receipt.already_received else ""
    st.success(
        f"**Thank you: your information has been shared.** Your reference is **{receipt.reference}**: "
        f"quote it if you contact the police about this. Received "
        f"{format_local(receipt.received_at, '%d/%m/%Y %H:%M')} ({zone_label()}). {receipt.status_label}.{again}",
        icon=":material/task_alt:",
    )


def render() -> None:
    st.title("Share information")
    user = state.user()
    eng = state.engine()
    _restore(user)
    if st.session_state.pop("sh_send_requested", False):
        _send(user)
    pending = st.session_state.pop("sh_pending_where", None)
    if pending:
        st.session_state["sh_where"] = pending
    errors: dict = st.session_state.get("sh_errors") or {}

    _receipt()
    if st.session_state.pop("sh_restored", False):
        st.info("Your unsent form has been restored.", icon=":material/restore:")
    if errors:
        st.error(
            "The form was not sent. Please check:\n\n"
            + "\n".join(f"- {md_escape(m)}" for m in errors.values()),
            icon=":material/error:",
        )

    form_col, guide_col = st.columns([3, 2], gap="large")
    with guide_col, st.container(border=True):
        st.subheader("Before you share")
        st.markdown(guidance.as_markdown())

    with form_col:
        agency = sm.account_agency(eng, user)
        if agency is None:
            st.warning(
                "Your account has no agency recorded. You can fill in the form (it is kept), but it can be "
                "sent only once an administrator has added your agency.",
                icon=":material/warning:",
            )
        else:
            contact = f"; contact: {md_escape(agency.contact)}" if agency.contact else ""
            st.caption(
                f"Shared as **{md_escape(agency.agency)}** ({md_escape(AGENCY_TYPES.get(agency.agency_type, ''))}){contact}."
            )
        _field_error(errors, "agency")
        _field_error(errors, "token")

        st.subheader("When")
        c1, c2 = st.columns(2)
        c1.date_input(
            "Date seen", key="sh_date", max_value=date.today(), format="DD/MM/YYYY", on_change=_save_draft
        )
        c2.text_input(
            "Time seen (24-hour, e.g. 21:30, or in words if you only know roughly; blank if not known)",
            key="sh_time",
            on_change=_save_draft,
        )
        _field_error(errors, "observed_on")
        _field_error(errors, "observed_time")

        st.subheader("Where")
        st.radio(
            "Where did it happen?",
            list(WHERE_MODES),
            format_func=WHERE_MODES.get,
            key="sh_where",
            horizontal=True,
            on_change=_save_draft,
        )
        mode = st.session_state.get("sh_where")
        if mode == "place":
            st.text_input(
                "Search for a place, street or postcode (type part of it, then press Enter)",
                key="sh_query",
                placeholder="Part of a name, a postcode, or an OS grid reference",
                on_change=_save_draft,
            )
            query = str(st.session_state.get("sh_query") or "").strip()
            options = _options(user, query) if query else []
            labels = [o.label for o in options] + ([USE_TYPED] if query else [])
            # Never chosen for the reporter: a wrong guess would put the report in the wrong place.
            if st.session_state.get("sh_choice") not in labels:
                st.session_state["sh_choice"] = None
            if options:
                # A select box, not radio buttons: its options are plain text, whereas radio labels are
                # Markdown, where a place name could become a link.
                st.selectbox(
                    "Choose the matching place",
                    labels,
                    key="sh_choice",
                    placeholder=f"{len(options)} match{'es' if len(options) > 1 else ''}: choose one",
                    on_change=_save_draft,
                )
            chosen = next((o for o in options if o.label == st.session_state.get("sh_choice")), None)
            if chosen is not None and chosen.place_type and not st.session_state.get("sh_place_type"):
                st.session_state["sh_place_type"] = chosen.place_type  # drawn further down: may be set now
            elif query:
                st.caption(
                    "Nothing in the area's places, streets or postcodes matches that. It will be sent as you "
                    "typed it; an analyst will place it if it cannot be found."
                )
        elif mode == "map":
            st.caption(
                "Click the map where it happened. The circle shows how precisely it will be placed: zoom"
                " in to the street first, because a click is only as precise as the zoom it is made at."
            )

        preview = sm.preview(user, _submission(user), engine=eng, gazetteer=state.gazetteer())
        if mode != "online":
            if preview.located:
                at = f" ({md_escape(preview.place_label)})" if preview.place_label else ""
                st.success(
                    f"**Where it will be placed**: {preview.method_label}{at}, confidence "
                    f"{preview.confidence:.0%}, within about {preview.precision_m:,.0f} m.",
                    icon=":material/location_on:",
                )
            elif _where_fields(user):
                st.warning(preview.message, icon=":material/help:")
            _preview_map(preview)
        else:
            st.info(
                "Online: counted with the other reports, never placed on the map.", icon=":material/language:"
            )
        _field_error(errors, "where")

        st.subheader("What")
        st.selectbox(
            "Place type",
            list(PLACE_TYPES),
            format_func=PLACE_TYPES.get,
            key="sh_place_type",
            placeholder="Choose the kind of place",
            on_change=_save_draft,
        )
        _field_error(errors, "place_type")
        st.multiselect(
            "Concerns",
            list(CONCERNS),
            format_func=CONCERNS.get,
            key="sh_concerns",
            placeholder="Choose one or more",
            on_change=_save_draft,
        )
        _field_error(errors, "concerns")
        st.markdown("**Possible signs you saw** (tick any that apply)")
        # One column at the form's width: in two, the longer signs were cut to "Missing from home, w…".
        for key, label in INDICATORS.items():
            st.checkbox(label, key=f"sh_ind_{key}", on_change=_save_draft, width="stretch")
        _field_error(errors, "indicators")
        st.text_area(
            "What was seen (what you saw or were told)", key="sh_seen", height=140, on_change=_save_draft
        )
        _field_error(errors, "what_was_seen")
        st.text_area(
            "People of concern (optional): what they look like, names or nicknames if known",
            key="sh_people",
            height=90,
            on_change=_save_draft,
        )
        _field_error(errors, "people_of_concern")
        st.text_area(
            "Vehicles (optional): make, colour, any part of the number plate, taxi firm",
            key="sh_vehicles",
            height=90,
            on_change=_save_draft,
        )
        _field_error(errors, "vehicles")
        st.text_input(
            "Child reference (optional): your agency's reference for the child, never a name",
            key="sh_child",
            on_change=_save_draft,
        )
        _field_error(errors, "child_ref")

        st.subheader("How sure are you? (grading)")
        st.caption(
            "Police grade every piece of information on three scales, so they know how much weight to give "
            "it. Choose what fits best; if in doubt, 2 and C are the usual choices."
        )
        st.radio(
            "How reliable is the source?",
            list(sm.GRADING_SOURCE_HELP),
            format_func=sm.GRADING_SOURCE_HELP.get,
            key="sh_g_source",
            on_change=_save_draft,
        )
        _field_error(errors, "grading_source")
        st.radio(
            "How do you know it?",
            list(sm.GRADING_INFORMATION_HELP),
            format_func=sm.GRADING_INFORMATION_HELP.get,
            key="sh_g_info",
            on_change=_save_draft,
        )
        _field_error(errors, "grading_information")
        st.radio(
            "Can it be shared further?",
            list(sm.GRADING_HANDLING_HELP),
            format_func=sm.GRADING_HANDLING_HELP.get,
            key="sh_g_handling",
            on_change=_save_draft,
        )
        _field_error(errors, "grading_handling")

        st.button("Send to the police", type="primary", key="sh_send", on_click=_request_send)
        st.caption("Your form is saved as you type. Sending it twice stores it once.")


def render_mine() -> None:
    """The signed-in reporter's own submissions and their status; nobody else's."""
    st.title("My submissions")
    user = state.user()
    mine = sm.my_submissions(state.engine(), user)
    if mine.empty:
        st.info("You have not shared anything yet.")
        return
    st.caption(
        "What happened to each form you sent. 'Needs a location' means an analyst will place it on the map."
    )
    # What happened to it beside its reference: a practitioner checking from a phone reads each form as
    # one block (stacked_table), the status second, not in a grid's sixth column off the screen.
    shown = mine.assign(
        sent_at=to_local(mine["sent_at"]).dt.strftime("%d/%m/%Y %H:%M"),
        seen_on=[d.strftime("%d/%m/%Y") if pd.notna(d) else "" for d in mine["seen_on"]],
    )
    headers = {**MY_SUBMISSIONS_HEADERS, "sent_at": f"Sent ({zone_label()})"}
    table = shown[list(headers)].rename(columns=headers)
    for col in table.columns:  # st.table draws Markdown
        table[col] = [md_escape(v) for v in table[col]]
    stacked_table(table, key="my_submissions")
