"""Sharing rules: who may receive what, disclosure control of counts, and safe text for spreadsheets.

Three audiences (see docs/sharing-and-exports.md and docs/disclosure-control.md):

- ``police``: everything, including individual report rows, narratives and child references;
- ``partner``: aggregated counts only, each through ``disclose_counts`` / ``disclose_total`` (the one
  disclosure-control path): counts of 1..k-1 shown as ``"<k"`` with secondary suppression, every other
  count perturbed by a cell key (``perturb``), totals then rounded; hexagons at one resolution
  (``coarsest_res``); filters no finer than whole months, place type and concern
  (``partner_filters``); no rows, narratives, child references, grading, agencies or vehicle
  registrations; named venues only when released deliberately (``NamedPlacesRelease``);
- ``public``: as partner, never any named venue.

Everything here is a pure function of frames and a ``SharingPolicy``, except the cell-key secret,
which is read from the environment or a file under ``var/`` (``disclosure_secret``).
"""

from __future__ import annotations

import calendar
import dataclasses
import hashlib
import hmac
import math
import os
import re
import secrets
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from hoth_geo import errors, settings
from hoth_geo.hexes import cells_to_parent
from hoth_geo.schema import PLACE_TYPES
from hoth_geo.selection import ReportFilter, filter_mask, located

__all__ = [
    "check_policy",
    "AUDIENCES",
    "CELL_KEY_MODULUS",
    "PTABLE_MAX_NOISE",
    "PTABLE_SLOTS",
    "NAMED_PLACE_MIN_AGENCIES",
    "NamedPlacesRelease",
    "disclosure_secret",
    "record_keys",
    "key_sums",
    "label_keys",
    "ptable",
    "perturb",
    "disclose_counts",
    "disclose_total",
    "disclose_selection",
    "hex_counts",
    "partner_filters",
    "too_few_message",
    "named_place_rule",
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
    "SuppressedCounts",
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
        "time_text",
        "geocode_note",
        "indicators",
        "indicators_mask",
    }
)

_TOTAL_KINDS = ("grand", "groups", "both", "none")


NotAllowed = errors.NotAllowed  # the audience may not receive this


# Named venues outside the police: a place is named to partners only when a police or analyst user
# releases the named places of one export deliberately, with a reason that the export log records, and
# then only places with at least k matching reports from at least this many different agencies (one
# agency's reports about one venue can point at one child's story; two agencies rarely do). The public
# never receives named venues.
NAMED_PLACE_MIN_AGENCIES = 2
_RELEASING_ROLES = ("police", "analyst")
_MIN_REASON_CHARS = 10


@dataclass(frozen=True)
class NamedPlacesRelease:
    """A deliberate decision to name venues in one partner export: who decided, in which role, and why.

    ``reason`` is stored in the export log with the export (e.g. 'MACE 12 May: disruption plan for the
    hotels on the A1'); ``role`` must be police or analyst (a partner cannot release names to itself).
    """

    reason: str
    released_by: str
    role: str

    def __post_init__(self) -> None:
        if not isinstance(self.reason, str) or len(self.reason.strip()) < _MIN_REASON_CHARS:
            raise errors.InvalidInput(
                f"reason must say why named places are shared (at least {_MIN_REASON_CHARS} characters), "
                f"got {self.reason!r}"
            )
        if not isinstance(self.released_by, str) or not self.released_by.strip():
            raise ValueError(
                f"released_by must name the user who releases the names, got {self.released_by!r}"
            )
        if self.role not in _RELEASING_ROLES:
            raise NotAllowed(
                f"role must be police or analyst to release named places to partners, got {self.role!r}"
            )

    def as_record(self) -> dict:
        return {"reason": self.reason.strip(), "released_by": self.released_by, "role": self.role}


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
    named_places: NamedPlacesRelease | None = None

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
            raise errors.InvalidInput(f"marking must be a non-empty text, got {self.marking!r}")
        # The rules of the partnership are not options: refuse a policy that would break them.
        if self.audience != "police":
            for flag in ("show_rows", "show_narratives", "show_grading"):
                if getattr(self, flag):
                    raise ValueError(f"{flag}=True is not allowed for audience {self.audience!r}")
        if self.audience == "public" and self.show_private_names:
            raise ValueError("show_private_names=True is not allowed for audience 'public'")
        if self.named_places is not None:
            if not isinstance(self.named_places, NamedPlacesRelease):
                raise ValueError(
                    f"named_places must be a NamedPlacesRelease or None, got {type(self.named_places).__name__}"
                )
            if self.audience != "partner":
                raise ValueError(f"named_places can only be released to partners, not {self.audience!r}")

    @property
    def suppresses(self) -> bool:
        """True when small counts are suppressed (every audience but the police)."""
        return self.audience != "police"

    @property
    def small(self) -> str:
        """The text shown for a count of 1..k-1, e.g. '<5'."""
        return f"<{self.k}"


def check_policy(policy):
    """``policy`` when it is a ``privacy.SharingPolicy``."""
    if not isinstance(policy, SharingPolicy):
        raise ValueError(
            f"policy must be a SharingPolicy (see privacy.policy_for), got {type(policy).__name__}"
        )
    return policy


def policy_for(
    audience: str,
    *,
    k: int | None = None,
    coarsest_res: int | None = None,
    marking: str | None = None,
    named_places: NamedPlacesRelease | None = None,
) -> SharingPolicy:
    """The standard policy for ``audience`` ('police', 'partner' or 'public'), with optional overrides.

    The police may use every resolution down to the stored one (``settings.FINE_H3_RES``); partners
    and the public get one resolution, ``coarsest_res``. ``named_places`` (partners only) releases the
    venues that pass ``named_place_rule``.
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
        named_places=named_places,
    )


# --- Resolution ---------------------------------------------------------------------------------------


def check_resolution(res: int, policy: SharingPolicy) -> int:
    """The H3 resolution an export for ``policy`` will use: for the police ``res``; for partners and
    the public always ``policy.coarsest_res``, their one resolution.

    One resolution, because a coarse hexagon is the sum of its finer children: offering two lets a
    reader subtract one from the other. A different request is answered at the audience's resolution,
    not refused, so a partner asking for res 10 still gets a map (at res 8); ``resolution_note`` gives
    the sentence to show, and the export log records both resolutions. Invalid resolutions (not an
    integer 0..FINE_H3_RES) raise ValueError.
    """
    check_policy(policy)
    if isinstance(res, bool) or not isinstance(res, int | np.integer) or not 0 <= res <= settings.FINE_H3_RES:
        raise ValueError(f"res must be an H3 resolution 0..{settings.FINE_H3_RES}, got {res!r}")
    return int(policy.coarsest_res) if policy.suppresses else int(res)


def resolution_note(res: int, policy: SharingPolicy) -> str | None:
    """A sentence saying the map was coarsened for this audience, or None when it was not."""
    used = check_resolution(res, policy)
    if used == res:
        return None
    return (
        f"Hexagons shown at H3 resolution {used}, not the {res} requested: "
        f"{policy.audience} exports are at resolution {policy.coarsest_res} only."
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
    check_policy(policy)
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


@dataclass(frozen=True)
class SuppressedCounts:
    """A table of counts as an audience may see it, with the totals that may be published beside it.

    - ``table``: the input table with each count column as shown (an int, ``'<k'`` or ``'[c]'``
      outside the police; unchanged for the police);
    - ``totals``: {count column: the publishable grand total (rounded, and perturbed by
      ``disclose_counts``) or ``WITHHELD_TOTAL``};
    - ``group_totals``: {count column: {group key: publishable total or ``WITHHELD_TOTAL``}}, one
      entry per group of ``group_cols`` (empty without them);
    - ``suppressed``: {count column: boolean array over the rows, True where the count is withheld}.

    The totals and the mask are privacy-relevant: publish a total only from here, never by summing
    the table's shown numbers.
    """

    table: pd.DataFrame
    totals: dict
    group_totals: dict
    suppressed: dict

    def hidden(self, count_cols=None) -> np.ndarray:
        """Rows where any of ``count_cols`` (default every count column) is withheld."""
        cols = self.suppressed if count_cols is None else count_cols
        mask = np.zeros(len(self.table), dtype=bool)
        for col in cols:
            mask |= np.asarray(self.suppressed[col], dtype=bool)
        return mask


def suppress_counts(
    table: pd.DataFrame,
    count_cols,
    policy: SharingPolicy,
    *,
    group_cols=(),
    totals: dict | None = None,
) -> SuppressedCounts:
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
    Returns a ``SuppressedCounts``: the table with its totals and the mask of withheld counts.
    """
    check_policy(policy)
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
    out_totals: dict = {}
    out_group_totals: dict = {}
    out_suppressed: dict = {}
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
        out_suppressed[col] = primary | secondary
        out_totals[col] = round_total(int(values.sum()), policy) if grand_ok else WITHHELD_TOTAL
        if group_cols:
            out_group_totals[col] = {
                key: (
                    round_total(int(values[idx].sum()), policy)
                    if ok_groups.get(key, True)
                    else WITHHELD_TOTAL
                )
                for key, idx in groups
            }
    return SuppressedCounts(out, out_totals, out_group_totals, out_suppressed)


# --- Cell-key perturbation (the one disclosure-control path for partner and public counts) ---------------
#
# The method of the ONS for the 2021 Census: every record carries a fixed random key 0..255; a cell's
# key is the sum of its records' keys modulo 256; the noise added to the cell is read from a fixed
# perturbation table (ptable) at the cell's count and key. The same records always give the same key,
# so asking the same question twice gives the same answer (averaging repeats gains nothing), and two
# overlapping cells get independent-looking noise, so subtracting them does not give the exact count
# of the records in one and not the other. Parameters and limits: docs/disclosure-control.md.

CELL_KEY_MODULUS = 256
PTABLE_MAX_NOISE = 2  # D: no published count is more than 2 from the true one
# Slots of the 256 cell keys given to each noise value d, for a count far enough above the threshold
# that every d in -D..D keeps it at k or more: P(0) = 102/256, P(±1) = 51/256, P(±2) = 26/256; mean 0,
# variance 2 * (51 + 4 * 26) / 256 ≈ 1.21.
PTABLE_SLOTS = {-2: 26, -1: 51, 0: 102, 1: 51, 2: 26}
CELL_ROUNDING = 1  # cells are published as perturbed integers
DISCLOSURE_KEY_ENV = "HOTH_GEO_DISCLOSURE_KEY"
DISCLOSURE_KEY_FILE = "disclosure.key"

_record_key_arrays: dict[tuple[bytes, bytes], np.ndarray] = {}
_RECORD_KEY_ARRAYS = 4


def disclosure_secret() -> bytes:
    """The secret behind the record keys: ``$HOTH_GEO_DISCLOSURE_KEY``, else ``var/disclosure.key``
    (created on first use with 32 random bytes, permissions 0600). It is kept outside the database, so
    a copy of the database alone does not give the keys, and it must never change for a deployment:
    new keys would give new noise, and two answers to one question could then be averaged."""
    env = settings.env(DISCLOSURE_KEY_ENV)
    if env:
        return env.encode("utf-8")
    path = Path(settings.VAR_DIR) / DISCLOSURE_KEY_FILE
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: read theirs
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
    secret = path.read_text().strip()
    if not secret:
        raise ValueError(f"{path} is empty: restore the disclosure key file (or set {DISCLOSURE_KEY_ENV})")
    return secret.encode("utf-8")


def record_keys(reports: pd.DataFrame) -> np.ndarray:
    """Each report's fixed record key 0..255: HMAC-SHA256(secret, report id), first byte.

    Derived, not stored, so no schema change is needed and the key cannot be read from the database.
    """
    if not isinstance(reports, pd.DataFrame) or "id" not in reports.columns:
        raise ValueError("reports must be the store.load_reports frame, with its 'id' column")
    secret = disclosure_secret()
    fingerprint = hashlib.sha256(secret).digest()
    ids = reports["id"].to_numpy(dtype=np.int64)
    # The whole array is cached per secret and id set: a page view then costs one hash of the ids.
    whole = (fingerprint, hashlib.blake2b(ids.tobytes(), digest_size=16).digest())
    hit = _record_key_arrays.get(whole)
    if hit is not None:
        return hit.copy()
    out = np.fromiter(
        (hmac.new(secret, str(rid).encode("ascii"), hashlib.sha256).digest()[0] for rid in ids.tolist()),
        dtype=np.int64,
        count=len(ids),
    )
    _record_key_arrays[whole] = out
    while len(_record_key_arrays) > _RECORD_KEY_ARRAYS:
        _record_key_arrays.pop(next(iter(_record_key_arrays)))
    return out.copy()


def key_sums(keys, codes, n: int) -> np.ndarray:
    """The cell key of each of ``n`` cells: the sum of the record keys of the records with that code,
    modulo 256. ``codes`` gives each record's cell 0..n-1 (negative: in no cell)."""
    keys = np.asarray(keys, dtype=np.int64)
    codes = np.asarray(codes, dtype=np.int64)
    if keys.shape != codes.shape:
        raise ValueError(f"keys and codes must have the same length, got {keys.shape} and {codes.shape}")
    ok = codes >= 0
    sums = np.bincount(codes[ok], weights=keys[ok], minlength=int(n)).astype(np.int64)
    return sums % CELL_KEY_MODULUS


def label_keys(reports: pd.DataFrame, mask, labels, index) -> np.ndarray:
    """The cell key of each entry of ``index``: the key sum of the reports in ``mask`` whose label
    (``labels``, one per report, e.g. its month or place type) equals that entry."""
    mask = np.asarray(mask, dtype=bool)
    labels = np.asarray(labels, dtype=object)
    if labels.shape != mask.shape:
        raise ValueError(f"labels must have one entry per report ({mask.size}), got {labels.shape}")
    codes = pd.Index(list(index)).get_indexer(labels[mask])
    return key_sums(record_keys(reports)[mask], codes, len(index))


def ptable(count: int, k: int) -> np.ndarray:
    """The perturbation table row for a count: the noise for each cell key 0..255.

    Counts of k + D or more use ``PTABLE_SLOTS``. Nearer the threshold the noise is cut to -j..j
    (j = count - k), the slots of the noise values left out going to 0, so no published count falls
    below k and the mean noise stays 0 (a count of exactly k is published as k).
    """
    j = max(0, min(PTABLE_MAX_NOISE, int(count) - int(k)))
    slots = {d: n for d, n in PTABLE_SLOTS.items() if abs(d) <= j}
    slots[0] += CELL_KEY_MODULUS - sum(slots.values())
    return np.repeat(np.array(sorted(slots), dtype=np.int64), [slots[d] for d in sorted(slots)])


def perturb(counts, keys, k: int) -> np.ndarray:
    """``counts`` (all k or more) plus the ptable noise at each cell key."""
    counts = np.asarray(counts, dtype=np.int64)
    keys = np.asarray(keys, dtype=np.int64) % CELL_KEY_MODULUS
    if counts.size and counts.min() < k:
        raise ValueError(f"perturb: counts below k={k} must be suppressed first, got {int(counts.min())}")
    rows = np.minimum(counts - k, PTABLE_MAX_NOISE)
    table = np.stack([ptable(k + j, k) for j in range(PTABLE_MAX_NOISE + 1)])
    return counts + table[rows, keys]


def _keys_for(table: pd.DataFrame, col: str, keys) -> np.ndarray:
    if keys is None and len(table) == 0:
        return np.zeros(0, dtype=np.int64)
    if keys is None:
        raise ValueError(
            f"keys: counts in {col!r} for partners and the public need their cell keys (privacy.key_sums)"
        )
    if isinstance(keys, dict):
        if col not in keys:
            raise ValueError(f"keys: no cell keys for count column {col!r}")
        keys = keys[col]
    if isinstance(keys, str):
        if keys not in table.columns:
            raise ValueError(f"keys: column {keys!r} is not in the table")
        keys = table[keys].to_numpy()
    out = np.asarray(keys, dtype=np.int64)
    if out.shape != (len(table),):
        raise ValueError(f"keys: {col!r} needs one cell key per row ({len(table)}), got shape {out.shape}")
    return out % CELL_KEY_MODULUS


def disclose_total(n, key, policy: SharingPolicy) -> int | str:
    """A total (or any single count) as it may be published: exact for the police; otherwise 0 stays
    0, 1..k-1 becomes '<k', anything larger is perturbed at its cell ``key`` and then rounded to the
    nearest ``TOTAL_ROUNDING``. Use ``disclose_selection`` when you have the records."""
    check_policy(policy)
    shown = round_total(n, policy)  # validates n; exact for the police, '<k' and 0 as they are
    if not policy.suppresses or isinstance(shown, str) or shown == 0:
        return shown
    noisy = int(perturb([int(n)], [int(key)], policy.k)[0])
    return int(math.floor(noisy / TOTAL_ROUNDING + 0.5) * TOTAL_ROUNDING)


def disclose_selection(reports: pd.DataFrame, mask, policy: SharingPolicy) -> int | str:
    """The number of reports in ``mask`` as ``policy`` may see it (``disclose_total`` at the cell key
    of exactly those reports): for messages and headline figures."""
    mask = np.asarray(mask, dtype=bool)
    n = int(mask.sum())
    if not policy.suppresses:
        return n
    key = int(record_keys(reports)[mask].sum()) % CELL_KEY_MODULUS
    return disclose_total(n, key, policy)


def disclose_counts(
    table: pd.DataFrame,
    count_cols,
    policy: SharingPolicy,
    *,
    keys=None,
    group_cols=(),
    totals: dict | None = None,
) -> SuppressedCounts:
    """The one disclosure-control path for counts a partner or the public can see.

    In order: (1) small-number suppression (``suppress_counts``: 1..k-1 as '<k', secondary '[c]'
    where a published total could give one back); (2) cell-key perturbation of every count still shown
    (``perturb`` at the cell's key; 0 stays 0, nothing is pushed below k); (3) totals perturbed at the
    sum of their cells' keys and rounded to ``TOTAL_ROUNDING``. For the police the table is returned
    exact (``keys`` may then be None).

    ``keys``: the cell key of each row (``key_sums`` of its records' ``record_keys``), as an array,
    the name of a column of ``table``, or a dict count column -> either. Other arguments and the
    result (a ``SuppressedCounts``) as ``suppress_counts``.
    """
    check_policy(policy)
    result = suppress_counts(table, count_cols, policy, group_cols=group_cols, totals=totals)
    if not policy.suppresses:
        return result
    out = result.table
    totals_out = dict(result.totals)
    group_totals_out = {col: dict(by_group) for col, by_group in result.group_totals.items()}
    count_cols = (count_cols,) if isinstance(count_cols, str) else tuple(count_cols)
    group_cols = (group_cols,) if isinstance(group_cols, str) else tuple(group_cols)
    groups = (
        list(table.groupby(list(group_cols), dropna=False, sort=True).indices.items()) if group_cols else []
    )
    for col in count_cols:
        cell_keys = _keys_for(table, col, keys)
        values = _counts(table, col)
        hidden = np.asarray(result.suppressed[col], dtype=bool)
        shown = out[col].to_numpy(dtype=object).copy()
        open_ = ~hidden & (values > 0)
        if open_.any():
            noisy = perturb(values[open_], cell_keys[open_], policy.k)
            shown[open_] = [int(v) for v in noisy]
        out[col] = pd.Series(shown, index=out.index, dtype=object)
        if totals_out[col] != WITHHELD_TOTAL:
            totals_out[col] = disclose_total(int(values.sum()), int(cell_keys.sum()), policy)
        if group_cols:
            for key, idx in groups:
                if group_totals_out[col].get(key) != WITHHELD_TOTAL:
                    group_totals_out[col][key] = disclose_total(
                        int(values[idx].sum()), int(cell_keys[idx].sum()), policy
                    )
    return SuppressedCounts(out, totals_out, group_totals_out, result.suppressed)


def hex_counts(reports: pd.DataFrame, res: int, filters=None) -> pd.DataFrame:
    """Located reports matching ``filters`` per H3 cell at ``res``: h3, count and cell_key (the key
    ``disclose_counts`` needs). Cells with no report are left out."""
    keep = filter_mask(reports, filters) & located(reports, res)
    cells = cells_to_parent(reports["h3"].to_numpy()[keep], res)
    uniq, codes = np.unique(cells, return_inverse=True)
    return pd.DataFrame(
        {
            "h3": uniq.astype(np.int64),
            "count": np.bincount(codes, minlength=len(uniq)).astype(np.int64),
            "cell_key": key_sums(record_keys(reports)[keep], codes, len(uniq)),
        }
    )


# --- What a partner may ask -------------------------------------------------------------------------------

PARTNER_FILTERS = ("month-level dates", "place type", "concern")


def _month_start(d: date) -> date:
    return d.replace(day=1)


def _month_end(d: date) -> date:
    return d.replace(day=calendar.monthrange(d.year, d.month)[1])


def partner_filters(filters, policy: SharingPolicy):
    """``filters`` as a partner or public selection may be: dates widened to whole calendar months,
    and only place types and concerns besides (a one-day shift of an end date, or all reports minus
    one agency or one grading, would otherwise give small counts back by subtraction).

    Raises NotAllowed naming the filter when ``filters`` selects by indicator, agency, agency type or
    grading; the police context layer is dropped. Police: unchanged.
    """
    check_policy(policy)
    if filters is None or not policy.suppresses:
        return filters
    if not isinstance(filters, ReportFilter):
        raise ValueError(f"filters must be a ReportFilter or None, got {type(filters).__name__}")
    for name, label in (
        ("indicators", "indicator"),
        ("agencies", "reporting agency"),
        ("agency_types", "agency type"),
        ("grading_sources", "grading"),
        ("grading_information", "grading"),
    ):
        if getattr(filters, name):
            raise NotAllowed(
                f"{policy.audience} selections cannot use the {label} filter ({name}={list(getattr(filters, name))!r}): "
                f"only {', '.join(PARTNER_FILTERS)}"
            )
    return dataclasses.replace(
        filters,
        date_from=_month_start(filters.date_from) if filters.date_from else None,
        date_to=_month_end(filters.date_to) if filters.date_to else None,
    )


def too_few_message(exc, reports: pd.DataFrame, filters, policy: SharingPolicy) -> str:
    """The 'not enough reports for a hotspot analysis' sentence for ``hotspots.TooFewReports``, with
    the number of reports disclosed for ``policy`` (a partner never reads an exact small count)."""
    n = disclose_selection(reports, filter_mask(reports, filters) & located(reports, exc.res), policy)
    n_text = f"{n:,}" if isinstance(n, int) else f"fewer than {policy.k}" if n == policy.small else n
    about = "" if not policy.suppresses or isinstance(n, str) else "about "
    return (
        f"hotspot analysis needs at least {exc.minimum} located reports in the selection, "
        f"{about}{n_text} match: widen the filters (dates, concerns, place types)"
    )


def named_place_rule(reports_count, agencies_count, policy: SharingPolicy) -> np.ndarray:
    """Which places ``policy`` may name: all for the police; for partners only with a release and then
    only places with at least k reports from at least NAMED_PLACE_MIN_AGENCIES agencies; never for the
    public."""
    check_policy(policy)
    reports_count = np.asarray(reports_count, dtype=np.int64)
    agencies_count = np.asarray(agencies_count, dtype=np.int64)
    if not policy.suppresses:
        return np.ones(reports_count.shape, dtype=bool)
    if policy.named_places is None:
        return np.zeros(reports_count.shape, dtype=bool)
    return (reports_count >= policy.k) & (agencies_count >= NAMED_PLACE_MIN_AGENCIES)


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
    check_policy(policy)
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
    check_policy(policy)
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
    check_policy(policy)
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
