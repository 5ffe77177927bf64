"""App frame: page config, sign-in, first-run demo load, shared filters and navigation by role.

Only the pages a signed-in user's role allows are given to ``st.navigation``: a page that is not
listed cannot be reached by its URL either (Streamlit falls back to the default page).
"""

from __future__ import annotations

import json
import threading
from time import perf_counter
from time import time as unix_time

import streamlit as st
from streamlit.runtime.scriptrunner_utils.exceptions import RerunException, StopException

from hoth_geo import settings
from hoth_geo.access import auth
from hoth_geo.ui import session, state, styles
from hoth_geo.ui.pages import (
    about,
    admin,
    area,
    basemap,
    disruption_log,
    export,
    hotspot_map,
    hotspots,
    import_data,
    patrol,
    places,
    review,
    share,
    time,
)

__all__ = [
    "PAGES",
    "FILTERED_PAGES",
    "allowed_pages",
    "main",
]

# key -> (render, title, icon, capability needed; None = any signed-in user)
PAGES = {
    "map": (hotspot_map.render, "Hotspot map", ":material/map:", "view_map"),
    "hotspots": (hotspots.render, "Hotspots", ":material/local_fire_department:", "view_aggregates"),
    "places": (places.render, "Places", ":material/storefront:", "view_named_places"),
    "time": (time.render, "Time", ":material/schedule:", "view_reports"),
    "patrol": (patrol.render, "Patrol plan", ":material/directions_walk:", "view_reports"),
    "disruption": (disruption_log.render, "Disruption log", ":material/shield:", "view_reports"),
    "export": (export.render, "Export", ":material/ios_share:", None),
    "import": (import_data.render, "Import", ":material/upload_file:", "import"),
    "review": (review.render, "Review", ":material/rule:", "resolve_quarantine"),
    # Contributors (partner practitioners) are given only these two and About.
    "share": (share.render, "Share information", ":material/edit_note:", "submit"),
    "my-submissions": (share.render_mine, "My submissions", ":material/inbox:", "submit"),
    "users": (admin.users_page, "Users", ":material/group:", "manage_users"),
    "audit": (admin.audit_page, "Audit log", ":material/policy:", "view_audit"),
    "area": (area.render, "Area", ":material/border_outer:", "manage_users"),
    "basemap": (basemap.render, "Basemap", ":material/layers:", "manage_users"),
    "about": (about.render, "About", ":material/info:", None),
}

_EXPORT_CAPABILITIES = ("export_police", "export_partner", "export_public")


def allowed_pages(user: auth.User) -> list[str]:
    """The PAGES keys this user may open, in menu order."""
    out = []
    for key, (_render, _title, _icon, capability) in PAGES.items():
        if key == "export":
            if any(user.can(c) for c in _EXPORT_CAPABILITIES):
                out.append(key)
        elif capability is None or user.can(capability):
            out.append(key)
    return out


# The pages that apply the sidebar's report filters; the others (import, review, the sharing form,
# administration) do not show them.
FILTERED_PAGES = frozenset({"map", "hotspots", "places", "time", "patrol", "disruption", "export"})

RUN_LOG_ENV = "HOTH_GEO_RUN_LOG"
_run_log_lock = threading.Lock()


def main(start_page: str = "map") -> None:
    """Run the app; ``start_page`` (a PAGES key) is the page shown at the root URL when allowed.

    With $HOTH_GEO_RUN_LOG set, each run appends one JSON line to that file: when it ended (``at``,
    Unix seconds), its duration from the script's start to the end of the page's drawing, the page
    (``url_path``; sign-in and first-run pages included) and how it ended (``ok``; ``rerun`` or
    ``stop`` when a newer rerun or ``st.stop`` cut it short; ``error`` with the exception's type).
    Timed in the server, so a load test's figure does not include the browsers' own work."""
    with state.one_data_version_per_run():
        _logged_run(start_page)


def _logged_run(start_page: str) -> None:
    log_path = settings.env(RUN_LOG_ENV)
    if not log_path:
        _run(start_page, {})
        return
    run: dict = {"page": None}
    started = perf_counter()
    outcome, error = "ok", None
    try:
        _run(start_page, run)
    except RerunException:
        outcome = "rerun"
        raise
    except StopException:
        outcome = "stop"
        raise
    except BaseException as exc:
        outcome, error = "error", type(exc).__name__
        raise
    finally:
        line = {
            "at": round(unix_time(), 3),
            "seconds": round(perf_counter() - started, 4),
            "page": run["page"],
            "outcome": outcome,
            "error": error,
        }
        # One write per line under a lock: sessions run in threads of one process.
        with _run_log_lock, open(log_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")


def _run(start_page: str, run: dict) -> None:
    """The body of ``main``; puts the page it shows into ``run["page"]``."""
    if start_page not in PAGES:
        raise ValueError(f"start_page must be one of {', '.join(PAGES)}, got {start_page!r}")
    # A local image: a Material icon or emoji favicon is fetched from a font or emoji CDN.
    st.set_page_config(
        page_title="hoth-geo", page_icon=str(settings.STATIC_DIR / "favicon.png"), layout="wide"
    )
    st.html(styles.SCREEN_CSS)  # a block of styles only: Streamlit keeps it out of the page's flow
    engine = state.engine()
    if auth.first_run_needed(engine):
        run["page"] = "first-run"
        session.signed_out_navigation(session.first_run_page, "First run", "first-run", PAGES)
        return
    user = session.current_user()
    if user is None:
        run["page"] = "sign-in"
        session.signed_out_navigation(session.sign_in_page, "Sign in", "sign-in", PAGES)
        return
    keys = allowed_pages(user)
    # A printed page carries the marking of what this user sees, as an export does.
    st.html(styles.print_css(state.policy().marking))
    has_data = user.can("view_map")
    if has_data:
        state.ensure_demo_loaded(actor=user.username)
    default = start_page if start_page in keys else keys[0]
    pages = [
        st.Page(PAGES[k][0], title=PAGES[k][1], icon=PAGES[k][2], url_path=k, default=k == default)
        for k in keys
    ]
    start = pages[keys.index(default)]
    nav = st.navigation(pages + session.unavailable_pages([k for k in PAGES if k not in keys], start))
    run["page"] = nav.url_path or default
    session.sidebar_account(user)
    if has_data:
        state.sidebar_area()
        if run["page"] in FILTERED_PAGES:
            st.session_state["filters"] = state.sidebar_filters()
        else:  # filters that would do nothing here are not shown; their values wait for the next page
            state.keep_filters()
        state.demo_banner()
    nav.run()
