"""Administration: accounts and the audit log (admins only; no case data here)."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from hoth_geo.access import audit, auth
from hoth_geo.errors import InvalidInput
from hoth_geo.intake import submission
from hoth_geo.local_time import format_local, to_local, zone_label
from hoth_geo.schema import AGENCY_TYPES
from hoth_geo.ui import state
from hoth_geo.ui.text import md_escape

__all__ = [
    "users_page",
    "audit_page",
    "audit_download",
    "AUDIT_COLUMNS",
    "audit_table",
    "readable_details",
]


def _actor() -> str | None:
    user = state.user()
    return user.username if user else None


_FLASH = "users_flash"


def _confirm_after_rerun(text: str) -> None:
    # A message shown before st.rerun() is wiped by the rerun: keep it for the next run to show.
    st.session_state[_FLASH] = text
    st.rerun()


def users_page() -> None:
    st.title("Users")
    # The message's slot is there on every run, so the page's elements keep their places when it goes:
    # otherwise the next rerun re-creates the expanders below it, closed, under the user's pointer.
    flash = st.empty()
    done = st.session_state.pop(_FLASH, None)
    if done:
        flash.success(done)
    engine = state.engine()
    accounts = auth.list_users(engine)
    agencies = submission.recorded_agencies(engine)
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "username": u.username,
                    "name": u.display_name or "",
                    "roles": u.roles,
                    "agency (Share information)": _agency_text(agencies.get(u.username)),
                    "disabled": u.disabled,
                    f"last sign-in ({zone_label()})": format_local(u.last_login_at, "%Y-%m-%d %H:%M")
                    or "never",
                }
                for u in accounts
            ]
        ),
        hide_index=True,
        use_container_width=True,
    )
    # Every data role, alone or with administration; a practitioner who shares reports is a contributor.
    role_options = [*auth.DATA_ROLES, auth.ADMIN_ROLE, *(f"{auth.ADMIN_ROLE},{r}" for r in auth.DATA_ROLES)]
    with st.expander("Add an account", key="users_add"), st.form("add_user", clear_on_submit=True):
        username = st.text_input("Username")
        display_name = st.text_input("Display name")
        role = st.selectbox("Role", role_options)
        password = st.text_input("Initial password (at least 12 characters)", type="password")
        if st.form_submit_button("Add account"):
            try:
                auth.add_user(
                    engine, username, password, role, display_name=display_name or None, actor=_actor()
                )
            except InvalidInput as exc:
                st.error(md_escape(exc))
            else:
                _confirm_after_rerun(f"Account {md_escape(username)} added ({md_escape(role)}).")
    if accounts:
        with st.expander("Change an account", key="users_change"):
            name = st.selectbox("Account", [u.username for u in accounts])
            col1, col2, col3 = st.columns(3)
            new_role = col1.selectbox("New role", role_options, key="new_role")
            try:
                if col1.button("Set role"):
                    auth.set_role(engine, name, new_role, actor=_actor())
                    _confirm_after_rerun(f"Account {md_escape(name)} now has role {md_escape(new_role)}.")
                if col2.button("Disable"):
                    auth.disable_user(engine, name, actor=_actor())
                    _confirm_after_rerun(f"Account {md_escape(name)} disabled.")
                if col3.button("Enable"):
                    auth.enable_user(engine, name, actor=_actor())
                    _confirm_after_rerun(f"Account {md_escape(name)} enabled.")
            except InvalidInput as exc:
                st.error(md_escape(exc))
            # A forgotten password: the administrator sets a new one and passes it on; the account's
            # open sessions end and any sign-in lockout is cleared.
            with st.form("set_password", clear_on_submit=True):
                password = st.text_input(
                    "New password for this account (at least 12 characters)", type="password"
                )
                if st.form_submit_button("Set password"):
                    try:
                        auth.set_password(engine, name, password, actor=_actor())
                    except InvalidInput as exc:
                        st.error(md_escape(exc))
                    else:
                        _confirm_after_rerun(
                            f"Password of {md_escape(name)} set; their open sessions have ended."
                        )
        _agency_form(engine, accounts, agencies)


def _agency_text(agency: submission.AccountAgency | None) -> str:
    return f"{agency.agency} ({AGENCY_TYPES.get(agency.agency_type, agency.agency_type)})" if agency else ""


def _agency_form(engine, accounts: list[auth.User], agencies: dict[str, submission.AccountAgency]) -> None:
    """The agency a practitioner's Share information forms carry: without one they cannot send."""
    with st.expander("Agency of an account (for Share information)", key="users_agency"):
        st.caption(
            "Reports shared through the app carry the agency recorded on the sharer's account. A "
            "practitioner (contributor) can fill in the form before it is set, but can send only after."
        )
        name = st.selectbox("Account", [u.username for u in accounts], key="agency_account")
        known = agencies.get(name)
        types = list(AGENCY_TYPES)
        with st.form("account_agency"):
            agency = st.text_input(
                "Agency, as the police should read it", value=known.agency if known else ""
            )
            agency_type = st.selectbox(
                "Agency type",
                types,
                index=types.index(known.agency_type) if known and known.agency_type in types else 0,
                format_func=AGENCY_TYPES.get,
            )
            contact = st.text_input(
                "Contact (how the police reach this person: phone or e-mail)",
                value=(known.contact or "") if known else "",
            )
            if st.form_submit_button("Save agency"):
                try:
                    submission.set_account_agency(engine, name, agency, agency_type, contact, actor=_actor())
                except InvalidInput as exc:
                    st.error(md_escape(exc))
                else:
                    _confirm_after_rerun(f"Account {md_escape(name)} shares as {md_escape(agency.strip())}.")


def audit_page() -> None:
    st.title("Audit log")
    engine = state.engine()
    result = audit.verify_chain(engine)
    if result.ok:
        st.success(
            f"The chain of {result.n_entries:,} entries is intact. Head hash: `{result.head_hash}` "
            "(keep a copy outside the database to detect a rebuilt chain)."
        )
    else:
        st.error(f"The audit chain is broken at entry {result.first_bad_id}: {md_escape(result.reason)}")
    events = sorted(audit.EVENTS)
    chosen = st.multiselect("Events", events, placeholder="All events")
    log = audit.load_audit(engine)
    if chosen:
        log = log[log["event"].isin(chosen)]
    st.dataframe(audit_table(log), hide_index=True, width="stretch")
    # The file is made only when the button is pressed, and recorded as it is made: nothing is
    # published at a /media URL when the page is drawn (st.download_button runs a callable lazily).
    st.download_button(
        "Download the audit log (CSV)",
        audit_download(engine, _actor()),
        file_name="hoth-geo-audit.csv",
        mime="text/csv",
        on_click="ignore",
        key="audit_download",
        help="Recorded in the audit log when the file is made.",
    )


# What each entry says, newest first; the chain's hashes are checked above and are in the download.
AUDIT_COLUMNS = {
    "id": "Entry",
    "at": "At",  # and the time zone (local_time.zone_label)
    "actor": "By",
    "event": "Event",
    "target": "Target",
    "details": "Details",
}


_LISTED = 5  # a longer list in an entry's details is shown by its length and first values


def readable_details(text) -> str:
    """An entry's details (JSON) as a person reads them: 'accepted: 5468; format: sharing_form', a long
    list as its length and first values ('report_ids: 500 values (4, 9, 17, …)'). The download keeps
    the JSON whole."""
    if text is None or (isinstance(text, float) and pd.isna(text)):
        return ""
    try:
        details = json.loads(text)
    except (TypeError, ValueError):
        return str(text)
    if not isinstance(details, dict):
        return str(text)

    def value(v) -> str:
        if isinstance(v, list):
            shown = ", ".join(str(x) for x in v[:_LISTED])
            return f"{len(v):,} values ({shown}, …)" if len(v) > _LISTED else shown
        if isinstance(v, dict):
            return json.dumps(v, ensure_ascii=False, separators=(", ", ": "))
        return str(v)

    return "; ".join(f"{k}: {value(v)}" for k, v in details.items())


def audit_table(log: pd.DataFrame) -> pd.DataFrame:
    """``audit.load_audit`` as the page shows it: newest first, details in words (``readable_details``);
    an entry with no actor (made by the app itself, such as the demo's accounts) is shown as the
    system's."""
    out = log.sort_values("id", ascending=False)[list(AUDIT_COLUMNS)].copy()
    out["at"] = to_local(out["at"]).dt.strftime("%Y-%m-%d %H:%M:%S")
    out["actor"] = out["actor"].fillna("(system)")
    out["details"] = out["details"].map(readable_details)
    return out.rename(columns={**AUDIT_COLUMNS, "at": f"At ({zone_label()})"})


def audit_download(engine, actor: str | None):
    """The callable behind the audit-log download: records 'audit_exported' and returns the CSV.

    It runs outside the page script (Streamlit calls it on the click), so it takes the engine and the
    actor as they were when the page was drawn."""

    def make() -> bytes:
        entries = len(audit.load_audit(engine))
        data = audit.export_audit_csv(engine)
        audit.record(engine, "audit_exported", actor=actor, details={"entries": entries})
        return data

    return make
