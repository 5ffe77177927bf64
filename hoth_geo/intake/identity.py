"""What makes a report itself, and the analyst's decisions about reports that look alike.

Identity (what counts as "the same report"):

- A sharing-form report is its agency plus its source reference (case and runs of whitespace folded)
  when a reference is given; without a reference it is its file (SHA-256) plus its row number. Two
  agencies' reports that both carry reference "001" are two reports.
- A police.uk row is its Crime ID; a row without one (anti-social behaviour) is its file plus its row
  number, so such rows are never duplicates of each other while re-importing the same file adds nothing.
- A quarantined row is its identity (as above; for police.uk its Crime ID when present) plus its raw
  text: it is a duplicate only when the same row is imported again.

Content (the normalised fingerprint, ``sharing_form._fingerprints``) is compared only to tell, for a row whose
identity is already stored, an exact repeat (a duplicate: nothing is added) from a changed resubmission
(kept aside for an analyst to accept or reject), and to flag stored rows whose content is identical to
another report's as *possible duplicates*, which an analyst may merge (counted once) or keep distinct.
The fingerprint leaves the grading and the stated location accuracy out (a re-keyed copy that was also
re-graded still looks alike), so for a row whose identity is stored they are compared as well
(``store.revisions``): an agency that re-grades a report, changes its handling code or states its
coordinates' accuracy anew sends a changed resubmission, never a duplicate that would drop the change.
Every decision is audited; a merge can be undone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hoth_geo import store
from hoth_geo.access import audit
from hoth_geo.intake.parsers import object_column
from hoth_geo.schema import CONCERNS, INDICATORS, keys_to_mask

__all__ = [
    "OUTCOME_COLUMNS",
    "OUTCOMES",
    "CONTENT_COLUMNS",
    "row_keys",
    "report_identities",
    "policeuk_identities",
    "raw_identities",
    "quarantine_keys",
    "classify_reports",
    "ReportClassifier",
    "empty_outcomes",
    "outcomes",
    "resolve_in_file_duplicates",
    "load_possible_duplicates",
    "load_resubmissions",
    "resubmission_differences",
    "view_resubmission",
    "merge",
    "unmerge",
    "keep_distinct",
    "row_payloads",
    "accept_resubmission",
    "reject_resubmission",
    "backfill",
]

# The per-row accounting of one import (ImportSummary.rows): exactly one row per input row.
OUTCOME_COLUMNS: dict[str, str] = {
    "row_number": "int64",
    # stored | possible_duplicate (stored, flagged) | quarantined | duplicate | resubmission
    "outcome": "object",
    # stored: the new report (or police context row); duplicate: the stored one it repeats;
    # resubmission: the stored report it would change.
    "report_id": "Int64",
    "resembles_report_id": "Int64",  # possible_duplicate: the report with identical content
    "quarantine_id": "Int64",  # quarantined: its entry; duplicate of a quarantined row: that entry
    "resubmission_id": "Int64",  # resubmission (or a repeat of one): the entry waiting in Review
    "duplicate_of_row": "Int64",  # a repeat of an earlier row of the same file
    "detail": "object",  # the quarantine reason, or what the row duplicates or resembles
}
OUTCOMES = ("stored", "possible_duplicate", "quarantined", "duplicate", "resubmission", "outside_area")

# Report columns that carry a report's content: what a resubmission replaces when accepted.
CONTENT_COLUMNS = (
    "fingerprint",
    "date_received",
    "observed_at",
    "time_known",
    "time_text",
    "date_approximate",
    "online",
    "latitude",
    "longitude",
    "easting",
    "northing",
    "location_accuracy_m",
    "geocode_confidence",
    "precision_m",
    "h3",
    "agency",
    "agency_type",
    "location_text",
    "place_name",
    "place_type",
    "postcode",
    "concerns",
    "indicators",
    "grading_source",
    "grading_information",
    "grading_handling",
    "narrative",
    "child_ref",
    "geocode_method",
    "place_id",
    "geocode_note",
)
# Shown side by side in Review (content columns an analyst reads; internal ones are left out).
_SHOWN = tuple(c for c in CONTENT_COLUMNS if c not in ("fingerprint", "h3"))
# Shown columns that hold measures: compared as numbers, so 15 and 15.0 are the same.
_MEASURES = (
    "latitude",
    "longitude",
    "easting",
    "northing",
    "location_accuracy_m",
    "precision_m",
    "geocode_confidence",
)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# --- Identity keys ------------------------------------------------------------------------------------


def _fold(values: Iterable) -> np.ndarray:
    """Case and whitespace folded text, '' for missing; each distinct value is folded once."""
    arr = pd.Series(values, dtype=object, copy=False).to_numpy(dtype=object)
    if not len(arr):
        return np.array([], dtype=object)
    codes, uniques = pd.factorize(arr, use_na_sentinel=True)
    folded = ["" if u is None else " ".join(str(u).split()).casefold() for u in uniques.tolist()]
    return np.array([*folded, ""], dtype=object)[codes]


def row_keys(file_sha256: str, row_numbers: Iterable[int]) -> np.ndarray:
    """The identity of a row without a reference: its file and row number."""
    prefix = f"f:{file_sha256[:40]}:"
    return np.array([prefix + str(int(r)) for r in np.asarray(row_numbers)], dtype=object)


def report_identities(
    agency: Iterable, source_ref: Iterable, file_sha256: str, row_numbers: Iterable[int]
) -> np.ndarray:
    """Identity of sharing-form rows: agency + source reference, or file + row without a reference."""
    refs = _fold(source_ref)
    agencies = _fold(agency)
    out = row_keys(file_sha256, row_numbers)
    has_ref = refs != ""
    if has_ref.any():
        sha1 = hashlib.sha1
        out[has_ref] = [
            "r:" + sha1(f"{a}\x1f{r}".encode()).hexdigest()
            for a, r in zip(agencies[has_ref].tolist(), refs[has_ref].tolist(), strict=True)
        ]
    return out


def policeuk_identities(crime_id: Iterable, file_sha256: str, row_numbers: Iterable[int]) -> np.ndarray:
    """Identity of police.uk rows: the Crime ID, or file + row for rows without one."""
    ids = np.asarray(
        pd.Series(list(crime_id) if not isinstance(crime_id, pd.Series) else crime_id, dtype=object)
    )
    out = row_keys(file_sha256, row_numbers)
    present = np.array([isinstance(v, str) and v.strip() != "" for v in ids], dtype=bool)
    out[present] = np.array([v.strip() for v in ids[present]], dtype=object)
    return out


def raw_identities(
    raw: pd.DataFrame,
    row_numbers: Iterable[int],
    file_sha256: str,
    *,
    ref_column: str | None,
    agency_column: str | None = None,
    kind: str = "sharing_form",
) -> np.ndarray:
    """Identities of rows read straight from the file (rows that may not have normalised)."""
    rows = np.asarray(row_numbers, dtype=int)
    positions = rows - int(raw.attrs.get("header_row", 1)) - 1

    def column(name: str | None) -> np.ndarray:
        if name is None or name not in raw.columns or not len(rows):
            return np.full(len(rows), None, dtype=object)
        values = raw[name]
        if isinstance(values, pd.DataFrame):  # a repeated header: the first is the one used
            values = values.iloc[:, 0]
        return values.iloc[positions].astype(object).where(lambda s: s.notna(), None).to_numpy()

    if kind == "policeuk":
        return policeuk_identities(column(ref_column), file_sha256, rows)
    return report_identities(column(agency_column), column(ref_column), file_sha256, rows)


def quarantine_keys(identities: Iterable[str], raw_texts: Iterable) -> np.ndarray:
    """The stored ``quarantine.raw_fingerprint``: identity plus the raw row, hashed."""
    sha1 = hashlib.sha1
    return np.array(
        [
            sha1(f"{i}\x1f{'' if r is None else r}".encode()).hexdigest()
            for i, r in zip(identities, raw_texts, strict=True)
        ],
        dtype=object,
    )


# --- Classifying an import's rows -----------------------------------------------------------------------


def classify_reports(rows: pd.DataFrame, stored: pd.DataFrame, seen: pd.DataFrame) -> pd.DataFrame:
    """Decide, for each normalised row, whether it is new, a duplicate or a changed resubmission.

    ``rows`` needs ``row_number``, ``identity`` and ``fingerprint``; ``stored`` is
    ``store.report_keys`` (id, identity, fingerprint, revision, merged_into); ``seen`` is
    ``store.resubmission_contents`` (report_id, fingerprint, revision, resubmission_id): contents
    already received for a stored report. Each frame needs its ``revision`` (``store.revisions``: the
    grading and the stated location accuracy; '' or missing where there is none). Returns, aligned with
    ``rows``:
    status (new | duplicate | resubmission), report_id, resubmission_id, duplicate_of_row, resubmission_of_row,
    resembles_report_id, resembles_row.

    In a file, a row repeating an earlier row's identity, content and revision (grading and stated
    accuracy) is a duplicate of that row; a row with a new identity is new; a later row with that
    identity but other content or revision is a changed resubmission of it. A row whose identity is
    stored is a duplicate when its content and revision are ones already received for that report, and
    a changed resubmission otherwise. Rows resemble each other (possible duplicates) by content alone.
    """
    return ReportClassifier(stored, seen).classify(rows)


_HASH_KEYS = ("hoth-geo-rows-k1", "hoth-geo-rows-k2")


def _key_hashes(values: Iterable) -> np.ndarray:
    """A 128-bit hash of each key, as a (n, 2) uint64 array: two independent 64-bit hashes. At a
    million keys the chance that two different keys share both is about 1 in 10^26, so a file's rows
    can be remembered in 16 bytes each instead of their text."""
    arr = np.asarray(pd.Series(values, dtype=object, copy=False).to_numpy(dtype=object))
    return np.stack([pd.util.hash_array(arr, hash_key=k, categorize=False) for k in _HASH_KEYS], axis=1)


def _sortable(hashes: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(hashes).view("S16").ravel()


def _pair_hashes(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The hash of a pair of keys from the keys' own hashes (an odd multiplier keeps it one to one in a)."""
    with np.errstate(over="ignore"):
        return (a * np.uint64(0x9E3779B97F4A7C15)) ^ b


def _first_positions(hashes: np.ndarray, among: np.ndarray) -> np.ndarray:
    """For each position in ``among`` (a mask), the first position in ``among`` with the same key
    hash; -1 elsewhere. In file order, as a dictionary filled row by row would say."""
    out = np.full(len(hashes), -1, dtype="int64")
    idx = np.flatnonzero(among)
    if len(idx):
        _, first, inverse = np.unique(hashes[idx], return_index=True, return_inverse=True)
        out[idx] = idx[first[inverse.ravel()]]
    return out


class _RowsByKey:
    """{128-bit key hash: first row number} for rows of earlier chunks, 24 bytes a row: arrays sorted by
    the hash's first 64 bits, which binary search compares several times faster than 16-byte strings,
    and the other 64 bits to confirm a match. Keys are looked up in sorted order, so each search
    starts where the previous one ended instead of jumping across the whole table."""

    def __init__(self) -> None:
        self._high = np.array([], dtype=np.uint64)
        self._low = np.array([], dtype=np.uint64)
        self._rows = np.array([], dtype="int64")

    def _positions(self, high: np.ndarray) -> np.ndarray:
        """Where each of ``high`` is or would go (the first of equal entries)."""
        order = np.argsort(high, kind="stable")
        pos = np.empty(len(high), dtype=np.intp)
        pos[order] = np.searchsorted(self._high, high[order])
        return pos

    def lookup(self, hashes: np.ndarray) -> np.ndarray:
        """The row of each key (``_key_hashes``' (n, 2) array), -1 where the key is new."""
        out = np.full(len(hashes), -1, dtype="int64")
        size = len(self._high)
        if not size or not len(hashes):
            return out
        high, low = hashes[:, 0], hashes[:, 1]
        pos = self._positions(high)
        at = np.minimum(pos, size - 1)
        same_high = self._high[at] == high
        hit = same_high & (self._low[at] == low)
        out[hit] = self._rows[at[hit]]
        # Stored keys sharing their first 64 bits sit side by side: look along them (at a million
        # keys, two share them about once in ten million files).
        for i in np.flatnonzero(same_high & ~hit).tolist():
            j = int(pos[i]) + 1
            while j < size and self._high[j] == high[i]:
                if self._low[j] == low[i]:
                    out[i] = self._rows[j]
                    break
                j += 1
        return out

    def add(self, hashes: np.ndarray, rows: np.ndarray) -> None:
        """Remember keys not seen before (the first row of each wins)."""
        if not len(hashes):
            return
        hashes = np.asarray(hashes, dtype=np.uint64).reshape(-1, 2)
        rows = np.asarray(rows, dtype="int64")
        # Sorted by the whole key, stably: repeats of a key end up side by side, its first row first.
        order = np.lexsort((hashes[:, 1], hashes[:, 0]))
        high, low, rows = hashes[order, 0], hashes[order, 1], rows[order]
        first = np.ones(len(high), dtype=bool)
        first[1:] = (high[1:] != high[:-1]) | (low[1:] != low[:-1])
        new = first.copy()
        new[first] = self.lookup(np.stack([high[first], low[first]], axis=1)) < 0
        high, low, rows = high[new], low[new], rows[new]
        # A merge of two sorted arrays: linear, where sorting everything again each chunk is not.
        at = np.searchsorted(self._high, high)
        self._high = np.insert(self._high, at, high)
        self._low = np.insert(self._low, at, low)
        self._rows = np.insert(self._rows, at, rows)


class ReportClassifier:
    """``classify_reports`` for a file read in chunks: the rows of earlier chunks are remembered (as
    key hashes, so memory stays small), and a row repeating a row of an earlier chunk is classified
    exactly as if the file were read at once."""

    def __init__(self, stored: pd.DataFrame, seen: pd.DataFrame) -> None:
        ids = stored["id"].tolist()
        self._by_identity = {
            k: i for k, i in zip(stored["identity"].tolist(), ids, strict=True) if k is not None
        }
        # A stored report's content and revision: what a row of its identity repeats, or changes.
        self._content_of = dict(
            zip(
                ids,
                zip(stored["fingerprint"].tolist(), _revision_list(stored, "stored"), strict=True),
                strict=True,
            )
        )
        # Contents received before for a stored report besides its own: resubmissions' and replaced ones.
        self._received: dict[tuple[int, str, str], int] = {}
        for rid, f, rev, sid in zip(
            seen["report_id"].tolist(),
            seen["fingerprint"].tolist(),
            _revision_list(seen, "seen"),
            seen["resubmission_id"].tolist(),
            strict=True,
        ):
            self._received.setdefault((int(rid), f, rev), int(sid))
        # Identical content: the report that is not merged into another, lowest id first.
        self._live_by_content: dict[str, int] = {}
        merged = pd.isna(stored["merged_into"]).to_numpy() if len(stored) else np.array([], dtype=bool)
        order = np.lexsort((np.asarray(ids, dtype="int64"), ~merged)) if len(stored) else []
        fps = stored["fingerprint"].tolist()
        for j in order:
            self._live_by_content.setdefault(fps[j], ids[j])
        # Earlier chunks of the file: first row of each (identity, content) pair, of each identity
        # among new rows, and of each content among new rows.
        self._earlier_pair = _RowsByKey()
        self._earlier_identity = _RowsByKey()
        self._earlier_content = _RowsByKey()

    def classify(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The next rows of the file, in file order (see ``classify_reports``)."""
        by_identity, content_of, received = self._by_identity, self._content_of, self._received
        live_by_content = self._live_by_content
        keys, contents = rows["identity"].tolist(), rows["fingerprint"].tolist()
        revs = _revision_list(rows, "rows")
        row_numbers = rows["row_number"].tolist()
        identity_raw, content_raw = _key_hashes(keys), _key_hashes(contents)
        # The same identity repeats a row only with the same content and revision.
        pair_raw = _pair_hashes(identity_raw, _pair_hashes(content_raw, _key_hashes(revs)))
        identity_hash, content_hash = _sortable(identity_raw), _sortable(content_raw)
        pair_hash = _sortable(pair_raw)
        earlier_pair = self._earlier_pair.lookup(pair_raw)
        earlier_identity = self._earlier_identity.lookup(identity_raw)
        earlier_content = self._earlier_content.lookup(content_raw)
        n = len(rows)
        rn = np.asarray(row_numbers, dtype="int64")
        at = np.arange(n)
        status = np.full(n, "new", dtype=object)
        # -1 for "none" (converted to nullable integers at the end).
        report_id, resubmission_id = np.full(n, -1, dtype="int64"), np.full(n, -1, dtype="int64")
        resembles_report_id = np.full(n, -1, dtype="int64")

        # The same identity and content as an earlier row (an earlier chunk's row always comes first).
        first_pair = _first_positions(pair_hash, np.ones(n, dtype=bool))
        duplicate = (earlier_pair >= 0) | (first_pair != at)
        duplicate_of_row = np.where(earlier_pair >= 0, earlier_pair, np.where(duplicate, rn[first_pair], -1))
        status[duplicate] = "duplicate"

        # A stored identity: a duplicate of content received before, else a changed resubmission.
        # Per row, but only rows whose identity is stored (none in a new file) reach the loop.
        match = np.array(list(map(by_identity.get, keys)), dtype=object)
        matched = ~duplicate & (match != None)  # noqa: E711 (element-wise)
        for i in np.flatnonzero(matched).tolist():
            m, content, rev = match[i], contents[i], revs[i]
            report_id[i] = m
            if content_of[m] == (content, rev):
                status[i] = "duplicate"
            elif (m, content, rev) in received:
                status[i], resubmission_id[i] = "duplicate", received[(m, content, rev)]
            else:
                status[i] = "resubmission"

        # A new identity seen in an earlier row with other content: a changed resubmission of that row.
        unmatched = ~duplicate & ~matched
        first_identity = _first_positions(identity_hash, unmatched)
        resubmitted = unmatched & ((earlier_identity >= 0) | (first_identity != at))
        resubmission_of_row = np.full(n, -1, dtype="int64")
        resubmission_of_row[resubmitted] = np.where(
            earlier_identity >= 0, earlier_identity, rn[np.maximum(first_identity, 0)]
        )[resubmitted]
        status[resubmitted] = "resubmission"

        # The first row of each new identity: does its content resemble a stored report or an earlier row?
        is_first_of_identity = unmatched & ~resubmitted
        twin = np.array(list(map(live_by_content.get, contents)), dtype=object)
        has_twin = is_first_of_identity & (twin != None)  # noqa: E711 (element-wise)
        resembles_report_id[has_twin] = twin[has_twin].astype("int64")
        content_new = is_first_of_identity & (earlier_content < 0)
        first_content = _first_positions(content_hash, content_new)
        is_first_new_content = content_new & (first_content == at)
        like = np.where(
            earlier_content >= 0,
            earlier_content,
            np.where(content_new & ~is_first_new_content, rn[np.maximum(first_content, 0)], -1),
        )
        resembles_row = np.where(is_first_of_identity & ~has_twin, like, -1)

        firsts = duplicate_of_row < 0
        self._earlier_pair.add(pair_raw[firsts], rn[firsts])
        self._earlier_identity.add(identity_raw[is_first_of_identity], rn[is_first_of_identity])
        self._earlier_content.add(content_raw[is_first_new_content], rn[is_first_new_content])

        def nullable(values: np.ndarray) -> pd.arrays.IntegerArray:
            arr = np.asarray(values, dtype="int64")
            return pd.arrays.IntegerArray(arr, arr < 0)

        return pd.DataFrame(
            {
                "status": status,
                "report_id": nullable(report_id),
                "resubmission_id": nullable(resubmission_id),
                "duplicate_of_row": nullable(duplicate_of_row),
                "resubmission_of_row": nullable(resubmission_of_row),
                "resembles_report_id": nullable(resembles_report_id),
                "resembles_row": nullable(resembles_row),
            }
        )


def _revision_list(frame: pd.DataFrame, name: str) -> list[str]:
    """A frame's ``revision`` column as a list ('' where it is missing). Required of every frame: a
    row compared without its revision with a stored report's would read as a re-grade of it."""
    if "revision" not in frame.columns:
        raise ValueError(f"{name} is missing column 'revision' (store.revisions of its rows)")
    return frame["revision"].astype(object).where(frame["revision"].notna(), "").tolist()


def empty_outcomes() -> pd.DataFrame:
    """An empty identity-outcomes frame with the ``OUTCOME_COLUMNS`` dtypes."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in OUTCOME_COLUMNS.items()})


def _ints(values, n: int) -> pd.arrays.IntegerArray:
    if np.isscalar(values) or values is pd.NA:
        return pd.array([values] * n, dtype="Int64")
    return pd.Series(values).reset_index(drop=True).astype("Int64").array


def outcomes(row_number, outcome, **columns) -> pd.DataFrame:
    """An outcome frame: ``outcome`` is one value or one per row; missing columns are empty."""
    rn = np.asarray(row_number, dtype="int64")
    n = len(rn)
    data = {"row_number": rn, "outcome": np.broadcast_to(np.asarray(outcome, dtype=object), (n,)).copy()}
    for c, t in OUTCOME_COLUMNS.items():
        if c in data:
            continue
        v = columns.get(c)
        if v is None:
            data[c] = pd.array([pd.NA] * n, dtype=t) if t == "Int64" else np.full(n, None, dtype=object)
        elif t == "Int64":
            data[c] = _ints(v, n)
        else:
            data[c] = np.broadcast_to(np.asarray(v, dtype=object), (n,)).copy()
    # Text columns stay object, as OUTCOME_COLUMNS declares (a bare array would become Arrow strings).
    data = {
        c: object_column(v) if isinstance(v, np.ndarray) and v.dtype == object else v for c, v in data.items()
    }
    return pd.DataFrame(data, columns=list(OUTCOME_COLUMNS))


def resolve_in_file_duplicates(frame: pd.DataFrame) -> pd.DataFrame:
    """A row repeating an earlier row of its file points where that row went (report, quarantine...)."""
    if not (frame["row_number"].is_monotonic_increasing and frame.index.equals(pd.RangeIndex(len(frame)))):
        frame = frame.sort_values("row_number", kind="stable").reset_index(drop=True)
    repeat = frame["duplicate_of_row"].notna().to_numpy()
    if not repeat.any():
        return frame
    first = frame.set_index("row_number")
    targets = frame.loc[repeat, "duplicate_of_row"].astype("int64").to_numpy()
    for c in ("report_id", "quarantine_id", "resubmission_id"):
        took = first[c].reindex(targets).to_numpy()
        own = frame.loc[repeat, c].to_numpy()
        frame.loc[repeat, c] = pd.array(
            [o if not pd.isna(o) else t for o, t in zip(own, took, strict=True)], dtype="Int64"
        )
    frame.loc[repeat, "detail"] = [
        d if isinstance(d, str) and d else f"repeats row {int(t)} of this file"
        for d, t in zip(frame.loc[repeat, "detail"], targets, strict=True)
    ]
    return frame


# --- Reading what waits in Review -----------------------------------------------------------------------


def load_possible_duplicates(engine: Engine, *, status: str | None = "open") -> pd.DataFrame:
    """Flags with both reports' date, agency, reference, place and narrative, newest first."""
    f = store.duplicate_flags
    a = store.reports.alias("a")
    b = store.reports.alias("b")
    cols = [
        f,
        store.imports.c.filename,
        a.c.row_number,
        a.c.source_ref,
        a.c.agency,
        a.c.observed_at,
        a.c.location_text,
        a.c.place_name,
        a.c.postcode,
        a.c.merged_into,
        b.c.source_ref.label("resembles_source_ref"),
        b.c.import_id.label("resembles_import_id"),
        b.c.row_number.label("resembles_row_number"),
    ]
    query = (
        sa.select(*cols)
        .join(a, a.c.id == f.c.report_id)
        .join(b, b.c.id == f.c.resembles_report_id)
        .join(store.imports, store.imports.c.id == f.c.import_id)
    )
    if status:
        query = query.where(f.c.status == status)
    with engine.connect() as conn:
        return pd.read_sql(query.order_by(f.c.id), conn)


def load_resubmissions(engine: Engine, *, status: str | None = "open") -> pd.DataFrame:
    """Resubmissions with the file they came in and the stored report's agency and reference. The
    resubmitted content itself is read only through ``view_resubmission`` (audited)."""
    r = store.resubmissions
    entry = [c for c in r.c if c.name not in ("payload", "replaced")]
    query = (
        sa.select(*entry, store.imports.c.filename, store.reports.c.source_ref, store.reports.c.agency)
        .join(store.imports, store.imports.c.id == r.c.import_id)
        .join(store.reports, store.reports.c.id == r.c.report_id)
    )
    if status:
        query = query.where(r.c.status == status)
    with engine.connect() as conn:
        return pd.read_sql(query.order_by(r.c.id), conn)


def _display(value) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return pd.Timestamp(value).isoformat(sep=" ")
    return str(value)


def _payload_time(value) -> pd.Timestamp | None:
    """A time as a resubmission's payload holds it: None when blank, including the "NaT" that payloads
    written before 2026-12-05 hold for a blank date received."""
    at = pd.Timestamp(value) if value not in (None, "") else pd.NaT
    return None if pd.isna(at) else at


def resubmission_differences(engine: Engine, resubmission_id: int) -> pd.DataFrame:
    """Field by field: the stored value and the resubmitted one (only fields that differ)."""
    with engine.connect() as conn:
        entry = _resubmission(conn, resubmission_id)
        stored = conn.execute(sa.select(store.reports).where(store.reports.c.id == entry.report_id)).one()
    payload = json.loads(entry.payload)
    rows = []
    for c in _SHOWN:
        old = _display(getattr(stored, c))
        new = payload.get(c)
        if c in ("observed_at", "date_received"):
            new = _payload_time(new)
        new = _display(new)
        if isinstance(new, str) and isinstance(old, str) and c in _MEASURES:
            same = np.isclose(float(old), float(new))
        else:
            same = old == new
        if not same:
            rows.append({"field": c, "stored": old, "resubmitted": new})
    return pd.DataFrame(rows, columns=["field", "stored", "resubmitted"])


def view_resubmission(engine: Engine, resubmission_id: int, user) -> pd.DataFrame:
    """``resubmission_differences`` for ``user`` (an ``auth.User``), recorded as a view of the report.

    Narrative and child reference values are shown only to roles that may read narratives; others see
    that the field changed. Raises ``privacy.NotAllowed`` for roles that may not view report rows.
    """
    from hoth_geo.access.privacy import NotAllowed

    if not user.can("view_reports"):
        raise NotAllowed(f"role {user.roles!r} may not view individual reports")
    diff = resubmission_differences(engine, resubmission_id)
    with engine.connect() as conn:
        report_id = int(_resubmission(conn, resubmission_id).report_id)
    private = diff["field"].isin(["narrative", "child_ref"]).to_numpy()
    shows_private = bool(private.any()) and user.can("view_narratives")
    if private.any() and not shows_private:
        diff.loc[private, ["stored", "resubmitted"]] = "(changed: not shown to your role)"
    target = f"resubmission:{int(resubmission_id)}"
    details = {"report_ids": [report_id], "n": 1}
    audit.record(engine, "report_viewed", actor=user.username, target=target, details=details)
    if shows_private:
        audit.record(engine, "narrative_viewed", actor=user.username, target=target, details=details)
    return diff


# --- Decisions (each one audited, in the same transaction) -----------------------------------------------


def _flag(conn: Connection, flag_id: int):
    row = conn.execute(
        sa.select(store.duplicate_flags).where(store.duplicate_flags.c.id == int(flag_id))
    ).one_or_none()
    if row is None:
        raise KeyError(f"possible-duplicate flag {flag_id} not found")
    return row


def _root(conn: Connection, report_id: int) -> int:
    """The report a chain of merges ends at."""
    seen = set()
    current = int(report_id)
    while current not in seen:
        seen.add(current)
        nxt = conn.execute(
            sa.select(store.reports.c.merged_into).where(store.reports.c.id == current)
        ).scalar_one_or_none()
        if nxt is None:
            return current
        current = int(nxt)
    raise ValueError(f"report {report_id} is in a cycle of merges")


def merge(engine: Engine, flag_id: int, *, actor: str | None) -> int:
    """Merge a possible duplicate into the report it resembles: it then counts once. Returns the
    report it was merged into. Reversible with ``unmerge``."""
    with engine.begin() as conn:
        flag = _flag(conn, flag_id)
        if flag.status != "open":
            raise ValueError(f"possible-duplicate flag {flag_id} is already {flag.status}")
        into = _root(conn, flag.resembles_report_id)
        if into == flag.report_id:
            raise ValueError(f"report {flag.report_id} cannot be merged into itself")
        was = conn.execute(
            sa.select(store.reports.c.merged_into, store.reports.c.is_demo).where(
                store.reports.c.id == flag.report_id
            )
        ).one()
        conn.execute(
            store.reports.update().where(store.reports.c.id == flag.report_id).values(merged_into=into)
        )
        conn.execute(
            store.duplicate_flags.update()
            .where(store.duplicate_flags.c.id == flag.id)
            .values(status="merged", decided_at=_now(), decided_by=actor)
        )
        gone = int(was.merged_into is None)  # it counted until now
        store.bump_data_version(conn, reports=-gone, demo_reports=-gone * bool(was.is_demo))
        audit.record(
            conn,
            "reports_merged",
            actor=actor,
            target=f"report:{flag.report_id}",
            details={"flag_id": int(flag.id), "report_id": int(flag.report_id), "merged_into": into},
        )
    return into


def unmerge(engine: Engine, flag_id: int, *, actor: str | None) -> None:
    """Undo a merge: the report counts on its own again and the flag goes back to Review."""
    with engine.begin() as conn:
        flag = _flag(conn, flag_id)
        if flag.status != "merged":
            raise ValueError(f"possible-duplicate flag {flag_id} is {flag.status}, not merged")
        was, is_demo = conn.execute(
            sa.select(store.reports.c.merged_into, store.reports.c.is_demo).where(
                store.reports.c.id == flag.report_id
            )
        ).one()
        conn.execute(
            store.reports.update().where(store.reports.c.id == flag.report_id).values(merged_into=None)
        )
        conn.execute(
            store.duplicate_flags.update()
            .where(store.duplicate_flags.c.id == flag.id)
            .values(status="open", decided_at=_now(), decided_by=actor)
        )
        back = int(was is not None)  # it counts again
        store.bump_data_version(conn, reports=back, demo_reports=back * bool(is_demo))
        audit.record(
            conn,
            "reports_unmerged",
            actor=actor,
            target=f"report:{flag.report_id}",
            details={"flag_id": int(flag.id), "report_id": int(flag.report_id), "was_merged_into": was},
        )


def keep_distinct(engine: Engine, flag_id: int, *, actor: str | None) -> None:
    """The analyst confirms the two reports are distinct: the flag is closed, both keep counting."""
    _close_open_entry(
        engine,
        _flag,
        store.duplicate_flags,
        flag_id,
        kind="possible-duplicate flag",
        status="distinct",
        event="duplicate_kept_distinct",
        actor=actor,
        details=lambda flag: {"flag_id": int(flag.id), "resembles_report_id": int(flag.resembles_report_id)},
    )


def _close_open_entry(
    engine: Engine,
    fetch: Callable[[Connection, int], sa.Row],
    table: sa.Table,
    entry_id: int,
    *,
    kind: str,
    status: str,
    event: str,
    actor: str | None,
    details: Callable[[sa.Row], dict],
) -> None:
    """Close an open Review entry (a possible-duplicate flag or a resubmission) as ``status`` and
    record ``event`` against its report, in one transaction; an entry already decided is refused."""
    with engine.begin() as conn:
        entry = fetch(conn, entry_id)
        if entry.status != "open":
            raise ValueError(f"{kind} {entry_id} is already {entry.status}")
        conn.execute(
            table.update()
            .where(table.c.id == entry.id)
            .values(status=status, decided_at=_now(), decided_by=actor)
        )
        audit.record(conn, event, actor=actor, target=f"report:{entry.report_id}", details=details(entry))


def _resubmission(conn: Connection, resubmission_id: int):
    row = conn.execute(
        sa.select(store.resubmissions).where(store.resubmissions.c.id == int(resubmission_id))
    ).one_or_none()
    if row is None:
        raise KeyError(f"resubmission {resubmission_id} not found")
    return row


def _json_value(value):
    if value is None or value is pd.NaT:  # NaT is a datetime too: it would be written as "NaT"
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return pd.Timestamp(value).isoformat()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def row_payloads(frame: pd.DataFrame) -> list[str]:
    """Each row's content columns as JSON (what a resubmission would store)."""
    cols = [c for c in CONTENT_COLUMNS if c in frame.columns]
    return [
        json.dumps({c: _json_value(v) for c, v in zip(cols, values, strict=True)}, ensure_ascii=False)
        for values in frame[cols].astype(object).itertuples(index=False, name=None)
    ]


def accept_resubmission(engine: Engine, resubmission_id: int, *, actor: str | None) -> list[str]:
    """Replace the stored report's content with the resubmitted one (the old content is kept on the
    resubmission entry and the change audited). Returns the fields that changed."""
    changed = resubmission_differences(engine, resubmission_id)["field"].tolist()
    with engine.begin() as conn:
        entry = _resubmission(conn, resubmission_id)
        if entry.status != "open":
            raise ValueError(f"resubmission {resubmission_id} is already {entry.status}")
        old = conn.execute(
            sa.select(*[store.reports.c[c] for c in CONTENT_COLUMNS]).where(
                store.reports.c.id == entry.report_id
            )
        ).one()
        replaced = {c: _json_value(v) for c, v in zip(CONTENT_COLUMNS, old, strict=True)}
        payload = json.loads(entry.payload)
        values = {c: payload.get(c) for c in CONTENT_COLUMNS}
        for c in ("observed_at", "date_received"):
            at = _payload_time(values[c])
            values[c] = None if at is None else at.to_pydatetime()
        values["concerns_mask"] = int(keys_to_mask(pd.Series([payload.get("concerns") or ""]), CONCERNS)[0])
        values["indicators_mask"] = int(
            keys_to_mask(pd.Series([payload.get("indicators") or ""]), INDICATORS)[0]
        )
        conn.execute(store.reports.update().where(store.reports.c.id == entry.report_id).values(**values))
        conn.execute(
            store.resubmissions.update()
            .where(store.resubmissions.c.id == entry.id)
            .values(
                status="accepted",
                decided_at=_now(),
                decided_by=actor,
                replaced=json.dumps(replaced, ensure_ascii=False, default=str),
                replaced_fingerprint=replaced["fingerprint"],
            )
        )
        store.bump_data_version(conn)  # the report's content changed, not the counts
        audit.record(
            conn,
            "resubmission_accepted",
            actor=actor,
            target=f"report:{entry.report_id}",
            details={
                "resubmission_id": int(entry.id),
                "import_id": int(entry.import_id),
                "row_number": int(entry.row_number),
                "fields_changed": changed,
            },
        )
    return changed


def reject_resubmission(engine: Engine, resubmission_id: int, *, actor: str | None) -> None:
    """Keep the stored report as it is; the resubmission stays on record as rejected."""
    _close_open_entry(
        engine,
        _resubmission,
        store.resubmissions,
        resubmission_id,
        kind="resubmission",
        status="rejected",
        event="resubmission_rejected",
        actor=actor,
        details=lambda entry: {
            "resubmission_id": int(entry.id),
            "import_id": int(entry.import_id),
            "row_number": int(entry.row_number),
        },
    )


# --- Databases written before these rules ------------------------------------------------------------------


def backfill(conn: Connection) -> dict[str, int]:
    """Give rows stored before the identity rules their keys (for the schema migration; idempotent).

    Sets ``reports.identity`` where missing, re-keys police context rows without a Crime ID by file and
    row number, and re-hashes ``quarantine.raw_fingerprint`` as identity plus raw text. Returns how many
    rows of each table were updated.
    """
    from hoth_geo.intake import headers

    sha_of = dict(conn.execute(sa.select(store.imports.c.id, store.imports.c.file_sha256)).all())
    r = store.reports
    todo = conn.execute(
        sa.select(r.c.id, r.c.import_id, r.c.row_number, r.c.agency, r.c.source_ref).where(
            r.c.identity.is_(None)
        )
    ).all()
    for row in todo:
        key = report_identities([row.agency], [row.source_ref], sha_of[row.import_id], [row.row_number])[0]
        conn.execute(r.update().where(r.c.id == row.id).values(identity=key))

    c = store.police_context
    ctx = conn.execute(
        sa.select(c.c.id, c.c.import_id, c.c.row_number, c.c.fingerprint).where(c.c.crime_id.is_(None))
    ).all()
    n_ctx = 0
    for row in ctx:
        key = row_keys(sha_of[row.import_id], [row.row_number])[0]
        if row.fingerprint != key:
            conn.execute(c.update().where(c.c.id == row.id).values(fingerprint=key))
            n_ctx += 1

    q = store.quarantine
    formats = dict(conn.execute(sa.select(store.imports.c.id, store.imports.c.format)).all())
    n_q = 0
    for row in conn.execute(
        sa.select(q.c.id, q.c.import_id, q.c.row_number, q.c.raw, q.c.raw_fingerprint)
    ).all():
        try:
            cells = json.loads(row.raw) if row.raw else {}
        except ValueError:
            cells = {}
        sha = sha_of[row.import_id]
        if formats.get(row.import_id) == "policeuk":
            crime = next(
                (v for h, v in cells.items() if headers.header_key(h) == headers.header_key("Crime ID")),
                None,
            )
            key = policeuk_identities([crime or None], sha, [row.row_number])[0]
        else:
            mapping = headers.map_columns(list(cells))
            agency = cells.get(mapping["agency"]) if "agency" in mapping else None
            ref = cells.get(mapping["source_ref"]) if "source_ref" in mapping else None
            key = report_identities([agency], [ref], sha, [row.row_number])[0]
        fingerprint = quarantine_keys([key], [row.raw])[0]
        if fingerprint != row.raw_fingerprint:
            conn.execute(q.update().where(q.c.id == row.id).values(raw_fingerprint=fingerprint))
            n_q += 1
    return {"reports": len(todo), "police_context": n_ctx, "quarantine": n_q}
