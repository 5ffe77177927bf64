"""Cached data access and the shared sidebar filters.

Frames are cached as resources keyed by the database's data version (the reports frame with the
version it holds), so a filter change never re-reads the database and a new import or resolution is
picked up on the next rerun. Cached frames
are shared between sessions: callers must not modify them in place.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date

import pandas as pd
import streamlit as st
from sqlalchemy.engine import Engine

from hoth_geo import hexes, schema, settings, store
from hoth_geo.access import audit, auth
from hoth_geo.access.auth import User
from hoth_geo.access.privacy import SharingPolicy, partner_filters, policy_for
from hoth_geo.deliver import exports, wayfinding
from hoth_geo.intake import area as area_mod
from hoth_geo.intake import pipeline
from hoth_geo.intake.area import Area
from hoth_geo.intake.gazetteer import Gazetteer
from hoth_geo.schema import AGENCY_TYPES, CONCERNS, INDICATORS, PLACE_TYPES
from hoth_geo.selection import ReportFilter
from hoth_geo.ui.text import md_escape

__all__ = [
    "engine",
    "area",
    "gazetteer",
    "cell_descriptions",
    "cell_name",
    "shared_hexes",
    "sidebar_area",
    "keep_filters",
    "FILTER_KEY_PREFIX",
    "one_data_version_per_run",
    "data_version",
    "counts",
    "version",
    "area_key",
    "reports",
    "context",
    "places",
    "ensure_demo_loaded",
    "user",
    "username",
    "policy",
    "demo_banner",
    "agency_options",
    "show_context",
    "sidebar_filters",
]


@st.cache_resource(show_spinner=False)
def _engine(url: str) -> Engine:
    return store.connect(url)


def engine() -> Engine:
    return _engine(settings.database_url())


def area() -> Area:
    """The study area configured for the app's database (read on every rerun: an admin may change it)."""
    return area_mod.current_area(settings.database_url())


def gazetteer() -> Gazetteer:
    """The gazetteer of the configured area (cached per area and build in hoth_geo.intake.area)."""
    return area_mod.gazetteer_for(area())


@st.cache_data(show_spinner=False, max_entries=64)
def _cell_descriptions(area_build: tuple, res: int, cells: tuple[int, ...]) -> list[str]:
    gaz = gazetteer()
    return wayfinding.describe_cells(list(cells), res, gaz.streets, gaz.places).tolist()


def cell_descriptions(res: int, cells) -> list[str]:
    """Each hexagon in words an officer can act on: its streets and locality from the area's gazetteer."""
    return _cell_descriptions(area_key(), int(res), tuple(int(c) for c in cells))


def cell_name(cell: int) -> str:
    """One hexagon as a message names it: 'its streets (hexagon <id>)', or 'hexagon <id>' where no street
    is near. Plain text: escape it before putting it into Markdown."""
    cell = int(cell)
    where = cell_descriptions(hexes.cell_resolution(cell), [cell])[0]
    return f"{where} (hexagon {hexes.cell_to_str(cell)})" if where else f"hexagon {hexes.cell_to_str(cell)}"


@st.cache_data(show_spinner=False, max_entries=16)
def _shared_hexes(key: tuple, res: int, _filters, _policy) -> exports.ShareableHexes:
    return exports.shareable_hexes(reports(), res, _filters, _policy, gazetteer=gazetteer())


def shared_hexes(res: int, filters, policy: SharingPolicy) -> exports.ShareableHexes:
    """``exports.shareable_hexes`` of the app's reports for ``policy``, each hexagon named by its streets
    (the partner's map, the Export page's preview): once per data version and settings, not per rerun."""
    return _shared_hexes((version(), filters, policy), int(res), filters, policy)


class _HeldVersion:
    """The data_version row held for one script run, with the count of this process's writes it was
    read at (a write of the run itself, such as loading the demo, makes it read again)."""

    def __init__(self) -> None:
        self.value: store.DataVersion | None = None
        self.writes = -1


# Set by one_data_version_per_run in the thread running the script, for that run only.
_run_version: ContextVar[_HeldVersion | None] = ContextVar("hoth_geo_run_data_version", default=None)


@contextmanager
def one_data_version_per_run() -> Iterator[None]:
    """Within it (main wraps each script run in it), ``data_version()`` reads the row on first use and
    holds it for the rest of the run. The holder is a context variable of the run, reset when the run
    ends, so it never reaches another session's run or this session's next run."""
    token = _run_version.set(_HeldVersion())
    try:
        yield
    finally:
        _run_version.reset(token)


def data_version() -> store.DataVersion:
    """The data_version row as this run sees it: one primary-key read per script run (the frame's
    refresh, the page caches' keys and the demo banner share it), read again only after a write of this
    process. Outside a run (a fragment's timer rerun) it is read on each call."""
    held = _run_version.get()
    if held is None:
        return store.data_version(engine())
    writes = store.writes_in_process()  # before the read: a write committing meanwhile reads it again
    if held.value is None or held.writes != writes:
        held.value, held.writes = store.data_version(engine()), writes
    return held.value


def counts() -> dict[str, int]:
    """Reports, demo reports, police context rows and open quarantine, from this run's data version."""
    return data_version().counts()


def area_key() -> tuple[str, str | None]:
    """The area and when its gazetteer was built: what the gazetteer says (places, streets) is cached
    under it, so a rebuild by any process (another app instance, the command line) is read again."""
    current = area()
    built = current.gazetteer_built_at()
    return current.area_id, built.isoformat() if built else None


def version() -> tuple:
    """A cache key that changes with the data and with the study area: the database, this run's
    data_version row (bumped by every write in its own transaction; two databases can be at the same
    version) and the area with its gazetteer's build, never a scan of the reports."""
    return (settings.database_url(), data_version().version, *area_key())


class _Frame:
    """The analysis frame of one database, shared by every session of this process, with the data
    version it holds. A new version is brought in by ``store.refresh_reports``: after an import only
    the new reports are read, after any other write the whole frame."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # one session refreshes; the others wait for its frame
        self.frame: pd.DataFrame | None = None
        self.read_at: store.DataVersion | None = None

    def current(self, engine: Engine, seen: store.DataVersion) -> pd.DataFrame:
        """The frame at ``seen`` (this run's data version) or later."""
        with self.lock:
            if self.frame is None:
                with st.spinner("Loading reports…"):
                    self.frame, self.read_at = store.refresh_reports(engine)
            else:
                self.frame, self.read_at = store.refresh_reports(engine, self.frame, self.read_at, seen)
            return self.frame


@st.cache_resource(show_spinner=False)
def _frame(url: str) -> _Frame:
    return _Frame()


@st.cache_resource(show_spinner=False, max_entries=2)
def _context(_engine: Engine, key: tuple) -> pd.DataFrame:
    return store.load_context(_engine)


@st.cache_resource(show_spinner=False, max_entries=2)
def _places(_engine: Engine, key: tuple) -> pd.DataFrame:
    return pipeline.all_places(_engine, gazetteer())


def reports() -> pd.DataFrame:
    # Checked here as well as by the page list: a contributor's session never loads the report frame.
    auth.require(user(), "view_aggregates")
    return _frame(settings.database_url()).current(engine(), data_version())


def context() -> pd.DataFrame:
    auth.require(user(), "view_aggregates")
    return _context(engine(), version())


def places() -> pd.DataFrame:
    return _places(engine(), version())


def ensure_demo_loaded(actor: str | None = None) -> None:
    """On first start with an empty database, load the shipped demo set so the app shows something real."""
    if st.session_state.get("_demo_checked"):
        return
    eng = engine()
    if data_version().n_reports == 0 and store.load_imports(eng).empty:
        bar = st.progress(0.0, text="First start: loading the synthetic demo data set…")
        # The demo is of the shipped area: load_demo_data geocodes it with the shipped gazetteer.
        pipeline.load_demo_data(eng, progress=lambda f, m: bar.progress(min(f, 1.0), text=m))
        audit.record(eng, "demo_loaded", actor=actor)
        bar.empty()
    st.session_state["_demo_checked"] = True


def user() -> User | None:
    return st.session_state.get("user")


def username() -> str | None:
    current = user()
    return current.username if current else None


def policy() -> SharingPolicy:
    """What the signed-in user's role may see on screen: police and analysts see full detail; partners
    see the partner audience's suppressed view (the same rules as a partner export)."""
    current = user()
    if current is not None and current.role in ("police", "analyst"):
        return policy_for("police")
    return policy_for("partner")


def demo_banner() -> None:
    """Shown on every page while demo data is in the database (the count is kept on the data_version
    row, so showing it reads one row)."""
    if data_version().n_demo_reports:
        account = user()
        # Only a role that can import is told where to import (partners have no Import page).
        where = (
            " Import real sharing-form exports (and remove the demo set) on the Import page."
            if account is not None and account.can("import")
            else ""
        )
        st.warning(
            f"**{settings.DEMO_LABEL}** — the reports shown are synthetic: every person, narrative and venue "
            f"name is fictional.{where}",
            icon="⚠️",
        )


def agency_options(frame: pd.DataFrame) -> list[str]:
    """The agencies in the frame, sorted: its categorical's labels (held once per frame), not a
    conversion of the whole column on every rerun."""
    agency = frame["agency"]
    if isinstance(agency.dtype, pd.CategoricalDtype):
        return [str(a) for a in agency.cat.categories]
    return sorted(agency.dropna().astype(str).unique())


class _DateRange:
    """The dates from ``lo`` to ``hi``, as a collection ``in`` can test (a kept date filter's ends)."""

    def __init__(self, lo: date, hi: date) -> None:
        self.lo, self.hi = lo, hi

    def __contains__(self, day) -> bool:
        return isinstance(day, date) and self.lo <= day <= self.hi


def _months(lo: date, hi: date) -> list[date]:
    return [p.to_timestamp().date() for p in pd.period_range(lo, hi, freq="M")]


def _place_type_and_concern() -> tuple[list[str], list[str]]:
    """The place-type and concern pickers every sidebar has, partners' included."""
    place_types = st.sidebar.multiselect(
        "Place type",
        list(PLACE_TYPES),
        format_func=PLACE_TYPES.get,
        key="f_place_types",
        placeholder="All places",
    )
    concerns = st.sidebar.multiselect(
        "Concern", list(CONCERNS), format_func=CONCERNS.get, key="f_concerns", placeholder="All concerns"
    )
    return place_types, concerns


def _partner_sidebar(lo: date, hi: date, policy: SharingPolicy) -> ReportFilter:
    """The partner selection: whole months, place type and concern, nothing else (agencies, grading
    and the police context stay with the police; a finer choice would let two answers be subtracted)."""
    months = _months(lo, hi)
    restored = _restore_filters(
        {"f_months": months, "f_place_types": list(PLACE_TYPES), "f_concerns": list(CONCERNS)}
    )
    if len(months) > 1:
        first, last = st.sidebar.select_slider(
            "Months observed",
            options=months,
            value=None if "f_months" in restored else (months[0], months[-1]),
            format_func=lambda d: d.strftime("%b %Y"),
            key="f_months",
        )
    else:
        first = last = months[0]
    place_types, concerns = _place_type_and_concern()
    st.sidebar.caption(
        f"Partner view: whole months, place type and concern; counts below {policy.k} are shown as "
        f"'{policy.small}' and other counts carry a small fixed noise."
    )
    return partner_filters(
        ReportFilter(date_from=first, date_to=last, place_types=tuple(place_types), concerns=tuple(concerns)),
        policy,
    )


def show_context() -> bool:
    """Whether the police context layer is drawn: the sidebar's toggle, which only police and analysts
    are offered (a partner never sees recorded crime)."""
    return not policy().suppresses and bool(st.session_state.get("f_context", False))


def sidebar_area() -> None:
    """The area the data and maps are of, under the account in the sidebar."""
    st.sidebar.caption(f"Area: **{md_escape(area().name)}**")


FILTER_KEY_PREFIX = "f_"  # the keys of the sidebar's filter widgets
_KEPT_FILTERS = "_kept_filters"


def keep_filters() -> None:
    """On a page that does not draw the filters, keep their values for the next page that does
    (Streamlit forgets a widget's value once a page is shown without it): read back by
    ``_restore_filters`` when the filters are drawn again."""
    if _KEPT_FILTERS not in st.session_state:  # the first run away from them: later runs have lost them
        st.session_state[_KEPT_FILTERS] = {
            k: st.session_state[k] for k in st.session_state.keys() if str(k).startswith(FILTER_KEY_PREFIX)
        }


def _restore_filters(options: dict) -> set[str]:
    """Put back the filter values kept by ``keep_filters``, each only while it is still a choice the
    widget offers (``options``: the choices of each key, ``bool`` for a toggle; the data may have changed
    meanwhile). A kept key the widgets drawn now do not have is left out.
    Returns the keys put back: their widgets take the value from here, so they are drawn without a
    default of their own (Streamlit warns about both)."""
    kept = st.session_state.pop(_KEPT_FILTERS, None) or {}
    restored = set()
    for key, value in kept.items():
        if key not in options:
            continue
        choices = options[key]
        if choices is bool:  # a toggle
            st.session_state[key] = bool(value)
        elif isinstance(value, list):  # a multiselect: the choices still offered
            st.session_state[key] = [v for v in value if v in choices]
        elif isinstance(value, tuple) and value and all(v in choices for v in value):  # a range
            st.session_state[key] = value
        else:
            continue
        restored.add(key)
    return restored


def sidebar_filters() -> ReportFilter:
    """The shared filters, drawn in the sidebar of the pages that apply them (partners get the
    coarse selection of ``_partner_sidebar``)."""
    frame = reports()
    st.sidebar.header("Filters")
    if frame.empty:
        lo, hi = date(2024, 1, 1), date.today()
    else:
        lo, hi = frame["observed_at"].min().date(), frame["observed_at"].max().date()
    shared = policy()
    if shared.suppresses:
        return _partner_sidebar(lo, hi, shared)
    agencies_offered = agency_options(frame)
    restored = _restore_filters(
        {
            "f_dates": _DateRange(lo, max(hi, lo)),
            "f_place_types": list(PLACE_TYPES),
            "f_concerns": list(CONCERNS),
            "f_indicators": list(INDICATORS),
            "f_agency_types": list(AGENCY_TYPES),
            "f_agencies": agencies_offered,
            "f_grading_source": list(schema.GRADING_SOURCE),
            "f_grading_info": list(schema.GRADING_INFORMATION),
            "f_context": bool,
        }
    )
    picked = st.sidebar.date_input(
        "Date observed",
        value=None if "f_dates" in restored else (lo, hi),
        min_value=lo,
        max_value=max(hi, lo),
        key="f_dates",
    )
    date_from, date_to = picked if isinstance(picked, tuple) and len(picked) == 2 else (lo, hi)
    place_types, concerns = _place_type_and_concern()
    indicators = st.sidebar.multiselect(
        "Indicator",
        list(INDICATORS),
        format_func=INDICATORS.get,
        key="f_indicators",
        placeholder="Any indicators",
        help="Reports noting any of the chosen signs (the guidance's indicators of exploitation).",
    )
    agency_types = st.sidebar.multiselect(
        "Agency type",
        list(AGENCY_TYPES),
        format_func=AGENCY_TYPES.get,
        key="f_agency_types",
        placeholder="All agency types",
    )
    agencies = st.sidebar.multiselect(
        "Reporting agency",
        agencies_offered,
        key="f_agencies",
        placeholder="All agencies",
    )
    with st.sidebar.expander("Grading (3x5x2)"):
        sources = st.multiselect(
            "Source",
            list(schema.GRADING_SOURCE),
            format_func=lambda code: schema.GRADING_SOURCE_LABELS.get(code, code),
            key="f_grading_source",
            placeholder="Any",
        )
        info = st.multiselect(
            "Information",
            list(schema.GRADING_INFORMATION),
            format_func=lambda code: schema.GRADING_INFORMATION_LABELS.get(code, code),
            key="f_grading_info",
            placeholder="Any",
        )
    st.sidebar.toggle(
        "Police context layer (police.uk recorded crime)",
        key="f_context",
        help="Overlays recorded crime imported from police.uk files. It is context, never a partnership report.",
    )
    return ReportFilter(
        date_from=date_from,
        date_to=date_to,
        place_types=tuple(place_types),
        concerns=tuple(concerns),
        indicators=tuple(indicators),
        agencies=tuple(agencies),
        agency_types=tuple(agency_types),
        grading_sources=tuple(sources),
        grading_information=tuple(info),
    )
