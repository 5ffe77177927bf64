"""Administration: accounts and the audit log (admins only; no case data here)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from hoth_geo import audit, auth
from hoth_geo.ui import state


def _actor() -> str | None:
    user = state.user()
    return user.username if user else None


def users_page() -> None:
    st.title("Users")
    engine = state.engine()
    accounts = auth.list_users(engine)
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "username": u.username,
                    "name": u.display_name,
                    "roles": u.roles,
                    "disabled": u.disabled,
                    "last sign-in": u.last_login_at,
                }
                for u in accounts
            ]
        ),
        hide_index=True,
        use_container_width=True,
    )
    role_options = ["analyst", "police", "partner", "admin", "admin,analyst", "admin,police"]
    with st.expander("Add an account"), st.form("add_user", clear_on_submit=True):
        username = st.text_input("Username")
        display_name = st.text_input("Display name")
        role = st.selectbox("Role", role_options)
        password = st.text_input("Initial password (at least 12 characters)", type="password")
        if st.form_submit_button("Add account"):
            try:
                auth.add_user(
                    engine, username, password, role, display_name=display_name or None, actor=_actor()
                )
            except ValueError as exc:
                st.error(str(exc))
            else:
                st.success(f"Account {username} added.")
                st.rerun()
    if accounts:
        with st.expander("Change an account"):
            name = st.selectbox("Account", [u.username for u in accounts])
            col1, col2, col3 = st.columns(3)
            new_role = col1.selectbox("New role", role_options, key="new_role")
            try:
                if col1.button("Set role"):
                    auth.set_role(engine, name, new_role, actor=_actor())
                    st.rerun()
                if col2.button("Disable"):
                    auth.disable_user(engine, name, actor=_actor())
                    st.rerun()
                if col3.button("Enable"):
                    auth.enable_user(engine, name, actor=_actor())
                    st.rerun()
            except ValueError as exc:
                st.error(str(exc))


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
        st.error(f"The audit chain is broken at entry {result.first_bad_id}: {result.reason}")
    events = sorted(audit.EVENTS)
    chosen = st.multiselect("Events", events, placeholder="All events")
    log = audit.load_audit(engine)
    if chosen:
        log = log[log["event"].isin(chosen)]
    st.dataframe(log.sort_values("id", ascending=False), hide_index=True, use_container_width=True)
    data = audit.export_audit_csv(engine)
    if st.download_button("Download the audit log (CSV)", data, "hoth-geo-audit.csv", mime="text/csv"):
        audit.record(engine, "audit_exported", actor=_actor(), details={"entries": result.n_entries})
