"""Sharing rules: who may receive what, small-number suppression, and safe text for spreadsheets.

Three audiences (see docs/sharing-and-exports.md):

- ``police``: everything, including individual report rows, narratives and child references;
- ``partner``: aggregated counts only; counts of 1..k-1 shown as ``"<k"``, with secondary suppression
  so a published total cannot give a suppressed value back by subtraction; hexagons no finer than
  ``coarsest_res``; no rows, narratives, child references, grading or vehicle registrations;
- ``public``: as partner, and the names of private businesses (hotels, takeaways, shops...) withheld.

Everything here is a pure function of frames and a ``SharingPolicy``; exports.py applies it to files.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hoth_geo import settings
from hoth_geo.schema import PLACE_TYPES

__all__ = [
    "AUDIENCES",
    "DEFAULT_K",
    "DEFAULT_COARSEST_RES",
    "DEFAULT_MARKINGS",
    "TOTAL_ROUNDING",
    "PRIVATE_PLACE_TYPES",
    "SECONDARY_MARK",
    "WITHHELD_TOTAL",
    "POLICE_ONLY_COLUMNS",
    "NotAllowed",
    "SharingPolicy",
    "policy_for",
    "check_resolution",
    "resolution_note",
    "suppress_counts",
    "is_suppressed",
    "round_total",
    "neutralise_formula",
    "neutralise_frame",
    "strip_controls",
    "mask_vehicle_registrations",
    "withheld_name",
    "hide_private_names",
    "redact_text",
    "redact_reports",
]

AUDIENCES = ("police", "partner", "public")

# Defaults a deployment may change (candidates for settings.py).
DEFAULT_K = 5  # counts 1..4 are shown as '<5' outside the police
DEFAULT_COARSEST_RES = 8  # H3 res 8 (~0.74 km², edge ~0.5 km): the finest grid partners and the public get
TOTAL_ROUNDING = 5  # published totals are rounded to the nearest 5 outside the police
# UK Government Security Classifications: partnership material is OFFICIAL-SENSITIVE; what is cleared
# for publication is OFFICIAL.
DEFAULT_MARKINGS = {"police": "OFFICIAL-SENSITIVE", "partner": "OFFICIAL-SENSITIVE", "public": "OFFICIAL"}

# Place types whose names are withheld from the public: privately run businesses (naming one in a
# published exploitation map can harm it and point at the children who use it), residential streets
# (which can lead to a home) and 'other', whose nature is unknown so cannot be shown safe.
PRIVATE_PLACE_TYPES = frozenset(
    {
        "hotel",
        "takeaway",
        "shop",
        "licensed_premises",
        "petrol_station",
        "taxi",
        "residential_street",
        "other",
    }
)

# A secondarily suppressed cell: withheld to protect a small number elsewhere in its group. It is not
# shown as '<k' because its true value is k or more, and a table must not state something false.
SECONDARY_MARK = "[c]"
# A total that cannot be published because every cell of its group is suppressed and the total
# would still give them back (e.g. five places with one report each and a total of 5).
WITHHELD_TOTAL = "[c]"

# Columns that describe an individual report or its source, never shared outside the police.
POLICE_ONLY_COLUMNS = frozenset(
    {
        "narrative",
        "child_ref",
        "grading_source",
        "grading_information",
        "grading_handling",
        "source_ref",
        "fingerprint",
        "row_number",
        "location_text",
        "geocode_note",
        "indicators",
        "indicators_mask",
    }
)

_TOTAL_KINDS = ("grand", "groups", "both", "none")


class NotAllowed(PermissionError):
    """The audience may not receive this (e.g. individual report rows for a partner agency)."""


@dataclass(frozen=True)
class SharingPolicy:
    """What one audience may receive. The ``show_*`` flags default to False so that a policy built by
    hand shares as little as possible; ``policy_for`` builds the standard ones."""

    audience: str
    k: int = DEFAULT_K
    coarsest_res: int = DEFAULT_COARSEST_RES
    marking: str = "OFFICIAL-SENSITIVE"
    show_rows: bool = False
    show_narratives: bool = False
    show_grading: bool = False
    show_private_names: bool = False

    def __post_init__(self) -> None:
        if self.audience not in AUDIENCES:
            raise ValueError(f"audience must be one of {', '.join(AUDIENCES)}, got {self.audience!r}")
        if isinstance(self.k, bool) or not isinstance(self.k, int | np.integer) or self.k < 2:
            # k = 1 would suppress nothing: every count is >= 1.
            raise ValueError(f"k must be an integer >= 2, got {self.k!r}")
        if (
            isinstance(self.coarsest_res, bool)
            or not isinstance(self.coarsest_res, int | np.integer)
            or not 0 <= self.coarsest_res <= settings.FINE_H3_RES
        ):
            raise ValueError(
                f"coarsest_res must be an H3 resolution 0..{settings.FINE_H3_RES}, got {self.coarsest_res!r}"
            )
        if not isinstance(self.marking, str) or not self.marking.strip():
            raise ValueError(f"marking must be a non-empty text, got {self.marking!r}")
        # The rules of the partnership are not options: refuse a policy that would break them.
        if self.audience != "police":
            for flag in ("show_rows", "show_narratives", "show_grading"):
                if getattr(self, flag):
                    raise ValueError(f"{flag}=True is not allowed for audience {self.audience!r}")
        if self.audience == "public" and self.show_private_names:
            raise ValueError("show_private_names=True is not allowed for audience 'public'")

    @property
    def suppresses(self) -> bool:
        """True when small counts are suppressed (every audience but the police)."""
        return self.audience != "police"

    @property
    def small(self) -> str:
        """The text shown for a count of 1..k-1, e.g. '<5'."""
        return f"<{self.k}"


def policy_for(
    audience: str, *, k: int | None = None, coarsest_res: int | None = None, marking: str | None = None
) -> SharingPolicy:
    """The standard policy for ``audience`` ('police', 'partner' or 'public'), with optional overrides.

    The police may use every resolution down to the stored one (``settings.FINE_H3_RES``).
    """
    if audience not in AUDIENCES:
        raise ValueError(f"audience must be one of {', '.join(AUDIENCES)}, got {audience!r}")
    police = audience == "police"
    return SharingPolicy(
        audience=audience,
        k=DEFAULT_K if k is None else k,
        coarsest_res=(settings.FINE_H3_RES if police else DEFAULT_COARSEST_RES)
        if coarsest_res is None
        else coarsest_res,
        marking=DEFAULT_MARKINGS[audience] if marking is None else marking,
        show_rows=police,
        show_narratives=police,
        show_grading=police,
        show_private_names=audience != "public",
    )


def _check_policy(policy) -> SharingPolicy:
    if not isinstance(policy, SharingPolicy):
        raise ValueError(f"policy must be a SharingPolicy (see policy_for), got {type(policy).__name__}")
    return policy


# --- Resolution ---------------------------------------------------------------------------------------


def check_resolution(res: int, policy: SharingPolicy) -> int:
    """The H3 resolution an export for ``policy`` will use: ``res``, or ``policy.coarsest_res`` when
    ``res`` is finer than the audience may see.

    A too-fine request is coarsened, not refused, so a partner asking for res 10 still gets a map (at
    res 8); ``resolution_note`` gives the sentence to show, and the export log records both resolutions.
    Invalid resolutions (not an integer 0..FINE_H3_RES) raise ValueError.
    """
    _check_policy(policy)
    if isinstance(res, bool) or not isinstance(res, int | np.integer) or not 0 <= res <= settings.FINE_H3_RES:
        raise ValueError(f"res must be an H3 resolution 0..{settings.FINE_H3_RES}, got {res!r}")
    return int(min(int(res), policy.coarsest_res))


def resolution_note(res: int, policy: SharingPolicy) -> str | None:
    """A sentence saying the map was coarsened for this audience, or None when it was not."""
    used = check_resolution(res, policy)
    if used == res:
        return None
    return (
        f"Hexagons shown at H3 resolution {used}, not the {res} requested: "
        f"{policy.audience} exports are no finer than resolution {policy.coarsest_res}."
    )


# --- Small-number suppression ----------------------------------------------------------------------------


def is_suppressed(value) -> bool:
    """True for a cell suppress_counts withheld ('<k' or '[c]')."""
    return isinstance(value, str) and (value.startswith("<") or value == SECONDARY_MARK)


def round_total(n, policy: SharingPolicy) -> int | str:
    """A total as it may be published: exact for the police; otherwise 0 stays 0, 1..k-1 becomes '<k'
    and anything larger is rounded to the nearest ``TOTAL_ROUNDING`` (halves up).

    Rounding stops a reader from differencing two exports whose filters differ slightly (e.g. a total of
    an area with and without one month) to recover a small count exactly.
    """
    _check_policy(policy)
    if isinstance(n, bool) or not isinstance(n, int | np.integer | float | np.floating) or math.isnan(n):
        raise ValueError(f"n must be a count (a whole number >= 0), got {n!r}")
    if n < 0 or n != int(n):
        raise ValueError(f"n must be a count (a whole number >= 0), got {n!r}")
    n = int(n)
    if not policy.suppresses or n == 0:
        return n
    if n < policy.k:
        return policy.small
    return int(math.floor(n / TOTAL_ROUNDING + 0.5) * TOTAL_ROUNDING)


def _counts(table: pd.DataFrame, col: str) -> np.ndarray:
    values = pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.isnan(values) | (values < 0) | (values != np.round(values))
    if bad.any():
        value = table[col].iloc[int(np.flatnonzero(bad)[0])]
        value = value.item() if isinstance(value, np.generic) else value
        raise ValueError(f"count column {col!r} must hold whole numbers >= 0, got {value!r}")
    return values.astype(np.int64)


def _intervals_ok(
    values: np.ndarray, primary: np.ndarray, secondary: np.ndarray, chosen_in: list, idx: np.ndarray, k: int
) -> bool:
    """Whether the group ``idx``, with a published total, protects its suppressed cells (see
    _protect_group). ``chosen_in[i]`` holds the group a secondary cell ``i`` was chosen in."""
    sup_all = primary | secondary
    cells = idx[sup_all[idx]]
    n = len(cells)
    if n == 0:
        return True
    x = int(values[cells].sum())
    if n == 1 or x < k:
        return False
    # A reader who knows the rule knows a secondary cell is >= k and no larger than the smallest count
    # still shown in the group it was chosen in (cells are chosen smallest first).
    caps = []
    for i in cells[secondary[cells]]:
        members = chosen_in[i]
        shown = values[members][~sup_all[members] & (values[members] > 0)]
        caps.append(int(shown.min()) if shown.size else int(values.sum()))
    is_primary = primary[cells]
    lo = np.where(is_primary, 1, k)
    hi = np.full(n, k - 1, dtype=np.int64)
    hi[~is_primary] = caps
    # With the total known, cell i lies in [max(lo_i, x - sum(hi_others)), min(hi_i, x - sum(lo_others))],
    # exactly: a sum constraint over integer boxes projects to a contiguous interval.
    lo_post = np.maximum(lo, x - (hi.sum() - hi))
    hi_post = np.minimum(hi, x - (lo.sum() - lo))
    return bool((hi_post > lo_post).all())


def _protect_group(
    values: np.ndarray, primary: np.ndarray, secondary: np.ndarray, chosen_in: list, idx: np.ndarray, k: int
) -> bool:
    """Add secondary suppressions in the group ``idx`` until its published total gives nothing back.

    The group is protected when (1) it holds no suppressed cell, or (2) it holds at least two, they sum
    to at least k, and no suppressed cell's value can be pinned to one number from the total and the
    published cells. Secondary cells are the smallest published non-zero counts, one at a time (ties
    by position). Returns False when even suppressing every non-zero cell cannot protect the group:
    its total must then not be published.
    """
    while not _intervals_ok(values, primary, secondary, chosen_in, idx, k):
        open_ = idx[~(primary[idx] | secondary[idx]) & (values[idx] > 0)]
        if open_.size == 0:
            return False
        pick = open_[np.argmin(values[open_])]
        secondary[pick] = True
        chosen_in[pick] = idx
    return True


def suppress_counts(
    table: pd.DataFrame,
    count_cols,
    policy: SharingPolicy,
    *,
    group_cols=(),
    totals: dict | None = None,
) -> pd.DataFrame:
    """``table`` with small counts withheld for partner and public audiences (unchanged for the police).

    - Primary: a count of 1..k-1 becomes ``'<k'``. Zero stays 0 (it says no report was made about a
      place or hexagon and describes no child; blanking it would also hide where reports are absent).
    - Secondary: where a total is published, no suppressed value may be recovered from it by
      subtraction (see ``_protect_group``); extra cells are withheld as ``'[c]'``.
    - ``totals`` says which totals are published with the table, per count column: ``'grand'`` (the
      column total), ``'groups'`` (one total per ``group_cols`` group), ``'both'`` or ``'none'``.
      Default (None): ``'both'`` when ``group_cols`` is given, else ``'grand'`` — a headline total
      almost always travels with a table, so the safe assumption is that it is known.

    Each count column is protected on its own; do not publish row totals across count columns.
    ``result.attrs`` holds 'totals' ({col: publishable grand total}), 'group_totals'
    ({col: {group: publishable total}}, when group_cols) and 'suppressed' ({col: boolean mask list}).
    """
    _check_policy(policy)
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"table must be a DataFrame, got {type(table).__name__}")
    count_cols = (count_cols,) if isinstance(count_cols, str) else tuple(count_cols)
    group_cols = (group_cols,) if isinstance(group_cols, str) else tuple(group_cols)
    for name, cols in (("count_cols", count_cols), ("group_cols", group_cols)):
        for c in cols:
            if c not in table.columns:
                raise ValueError(
                    f"{name}: column {c!r} is not in the table (columns: {', '.join(map(str, table.columns))})"
                )
    if totals is not None and not isinstance(totals, dict):
        raise ValueError(f"totals must be a dict of count column -> published totals, got {totals!r}")
    kinds = {}
    for c in count_cols:
        # A column left out of an explicit totals dict has no published total.
        kind = ("both" if group_cols else "grand") if totals is None else totals.get(c, "none")
        if kind not in _TOTAL_KINDS:
            raise ValueError(f"totals[{c!r}] must be one of {', '.join(_TOTAL_KINDS)}, got {kind!r}")
        if kind in ("groups", "both") and not group_cols:
            raise ValueError(f"totals[{c!r}]={kind!r} needs group_cols to say what the groups are")
        kinds[c] = kind
    if totals is not None:
        for c in totals:
            if c not in count_cols:
                raise ValueError(f"totals: {c!r} is not one of count_cols ({', '.join(count_cols)})")

    out = table.copy()
    out.attrs = {"totals": {}, "group_totals": {}, "suppressed": {}}
    groups = (
        list(table.groupby(list(group_cols), dropna=False, sort=True).indices.items()) if group_cols else []
    )
    for col in count_cols:
        values = _counts(table, col)
        primary = policy.suppresses & (values >= 1) & (values < policy.k)
        secondary = np.zeros(len(values), dtype=bool)
        chosen_in: list = [None] * len(values)
        ok_groups: dict = {}
        grand_ok = True
        if policy.suppresses:
            if kinds[col] in ("groups", "both"):
                for key, idx in groups:
                    ok_groups[key] = _protect_group(
                        values, primary, secondary, chosen_in, np.asarray(idx), policy.k
                    )
            if kinds[col] in ("grand", "both"):
                grand_ok = _protect_group(
                    values, primary, secondary, chosen_in, np.arange(len(values)), policy.k
                )
        shown = values.astype(object)
        shown[primary] = policy.small
        shown[secondary] = SECONDARY_MARK
        out[col] = pd.Series(shown, index=table.index, dtype=object) if policy.suppresses else table[col]
        out.attrs["suppressed"][col] = (primary | secondary).tolist()
        out.attrs["totals"][col] = round_total(int(values.sum()), policy) if grand_ok else WITHHELD_TOTAL
        if group_cols:
            out.attrs["group_totals"][col] = {
                key: (
                    round_total(int(values[idx].sum()), policy)
                    if ok_groups.get(key, True)
                    else WITHHELD_TOTAL
                )
                for key, idx in groups
            }
    return out


# --- Text that is safe to open in a spreadsheet ---------------------------------------------------------

# A spreadsheet treats a cell starting with one of these as a formula (OWASP, CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

# C0 controls other than tab, newline and carriage return (XML 1.0, hence XLSX, cannot hold them), DEL,
# and the Unicode bidirectional overrides, which can make a cell read differently from what it holds.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


def neutralise_formula(value):
    """A text starting with = + - @ tab or carriage return gets a leading apostrophe, so a spreadsheet
    shows it as text instead of running it; anything else (numbers included) is returned unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def strip_controls(value):
    """Text without control characters (tab, newline and carriage return kept); others unchanged."""
    if isinstance(value, str):
        return _CONTROLS.sub("", value)
    return value


def _text_columns(df: pd.DataFrame) -> list:
    return [c for c in df.columns if df[c].dtype == object or pd.api.types.is_string_dtype(df[c])]


def neutralise_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with every text cell stripped of control characters, then formula-neutralised.

    Column names are treated the same way (a header is a cell too). Numbers stay numbers.
    """
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"df must be a DataFrame, got {type(df).__name__}")
    out = df.copy()
    for col in _text_columns(out):
        out[col] = out[col].astype(object).map(lambda v: neutralise_formula(strip_controls(v)))
    out.columns = [neutralise_formula(strip_controls(c)) for c in out.columns]
    return out


# --- Names, registrations, report rows -------------------------------------------------------------------

# UK registrations: current 'AB12 CDE' (any case), prefix 'A123 BCD' and suffix 'ABC 123D'. The
# older styles are matched in capitals only, as lower-case they collide with ordinary words.
_VEHICLE_REG = re.compile(
    r"\b(?:(?i:[A-Z]{2}[0-9]{2}\s?[A-Z]{3})|[A-Z][0-9]{1,3}\s?[A-Z]{3}|[A-Z]{3}\s?[0-9]{1,3}[A-Z])\b"
)
VEHICLE_MASK = "[vehicle registration]"


def mask_vehicle_registrations(value):
    """Text with UK vehicle registrations replaced by '[vehicle registration]'; others unchanged."""
    if isinstance(value, str):
        return _VEHICLE_REG.sub(VEHICLE_MASK, value)
    return value


def withheld_name(place_type) -> str:
    """The generic label shown instead of a private business's name, e.g. 'Hotel / B&B (name withheld)'."""
    label = PLACE_TYPES.get(place_type, "Place") if isinstance(place_type, str) else "Place"
    return f"{label} (name withheld)"


def hide_private_names(frame: pd.DataFrame, policy: SharingPolicy, *, name_col="name", type_col="place_type"):
    """A copy with the names of places of a PRIVATE_PLACE_TYPES type (or of no known type) replaced by
    ``withheld_name`` when the policy does not show private names."""
    _check_policy(policy)
    out = frame.copy()
    if policy.show_private_names or name_col not in out.columns:
        return out
    types = out[type_col] if type_col in out.columns else pd.Series(None, index=out.index, dtype=object)
    private = types.astype(object).map(lambda t: not isinstance(t, str) or t in PRIVATE_PLACE_TYPES)
    out[name_col] = out[name_col].astype(object)
    out.loc[private.to_numpy(dtype=bool), name_col] = [
        withheld_name(t) for t in types[private.to_numpy(dtype=bool)]
    ]
    return out


def redact_text(frame: pd.DataFrame, policy: SharingPolicy) -> pd.DataFrame:
    """A copy with vehicle registrations masked in every text column, for every audience but the police."""
    _check_policy(policy)
    out = frame.copy()
    if policy.audience == "police":
        return out
    for col in _text_columns(out):
        out[col] = out[col].astype(object).map(mask_vehicle_registrations)
    return out


def redact_reports(frame: pd.DataFrame, policy: SharingPolicy) -> pd.DataFrame:
    """Individual report rows as ``policy`` may see them; raises NotAllowed unless ``policy.show_rows``.

    Narratives are dropped unless ``show_narratives``, grading unless ``show_grading``; child references
    travel with narratives (a police policy that hides narratives hides both).
    """
    _check_policy(policy)
    if not policy.show_rows:
        raise NotAllowed(f"individual report rows are for the police only, not audience {policy.audience!r}")
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"frame must be a DataFrame of report rows, got {type(frame).__name__}")
    drop = []
    if not policy.show_narratives:
        drop += ["narrative", "child_ref"]
    if not policy.show_grading:
        drop += [c for c in frame.columns if str(c).startswith("grading_")]
    return redact_text(frame.drop(columns=[c for c in drop if c in frame.columns]), policy)
