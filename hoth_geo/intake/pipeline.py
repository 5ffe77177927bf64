"""One import, end to end: read -> normalise -> geocode -> de-duplicate -> store, in one transaction.

Every input row ends as exactly one of: a stored report (or police context row), a quarantine entry
with a reason, or a duplicate of something already stored. The summary always reconciles.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hoth_geo import settings, store
from hoth_geo.access import audit
from hoth_geo.hexes import latlng_to_cells
from hoth_geo.intake import files, headers, identity, import_stream, policeuk, row_warnings, sharing_form
from hoth_geo.intake import geocode as geocoding
from hoth_geo.intake.gazetteer import Gazetteer
from hoth_geo.intake.parsers import UnknownTerms, object_column
from hoth_geo.store import tables

__all__ = [
    "delete_demo",
    "Progress",
    "import_file",
    "area_gazetteer",
    "places_in_area",
    "MOSTLY_OUTSIDE_SHARE",
    "out_of_area_warning",
    "import_form_rows",
    "all_places",
    "load_demo_data",
]

Progress = Callable[[float, str], None]

_CHUNK = 20_000  # rows per INSERT batch; progress is reported between batches
# Distinct names and location texts whose lookups an import keeps from chunk to chunk (about 40 MB at
# most); past it, the next chunk starts with empty caches, so memory stays flat however long the file.
_MAX_CACHED_NAMES = 100_000


def _no_progress(_fraction: float, _message: str) -> None:
    return None


def _raw_json(raw: pd.DataFrame, row_numbers: np.ndarray) -> list[str]:
    # Row numbers are sheet rows; a workbook may have title rows above its header.
    positions = np.asarray(row_numbers, dtype=int) - int(raw.attrs.get("header_row", 1)) - 1
    if len(positions) == 0:
        return []
    # One to_json call for all rows: JSON escapes newlines inside values, so lines split cleanly.
    lines = raw.iloc[positions].to_json(orient="records", lines=True, force_ascii=False)
    return [line for line in lines.split("\n") if line]


def _insert_in_chunks(
    conn: Connection,
    frame: pd.DataFrame,
    insert: Callable[[Connection, pd.DataFrame], int],
    progress: Progress,
    start: float,
    end: float,
    label: str,
) -> int:
    total = len(frame)
    done = 0
    for lo in range(0, max(total, 1), _CHUNK):
        chunk = frame.iloc[lo : lo + _CHUNK]
        done += insert(conn, chunk)
        progress(
            start + (end - start) * min(1.0, (lo + len(chunk)) / max(total, 1)),
            f"{label}: {done:,}/{total:,}",
        )
    return done


def import_file(
    engine: Engine,
    source: str | Path | bytes,
    filename: str | None = None,
    *,
    fmt: str | None = None,
    is_demo: bool = False,
    imported_by: str | None = None,
    gazetteer: Gazetteer | None = None,
    progress: Progress | None = None,
    today: date | None = None,
    max_bytes: int | None = None,
    chunk_rows: int = import_stream.CHUNK_ROWS,
) -> store.ImportSummary:
    """Import a sharing-form export or a police.uk street CSV. Raises ``files.ImportRefused`` when
    the file cannot be imported at all; nothing is stored then.

    A sharing-form file is read, checked, geocoded and stored ``chunk_rows`` rows at a time, all in
    one transaction, so memory does not grow with the file; ``progress`` hears after each chunk."""
    progress = progress or _no_progress
    if isinstance(source, bytes):
        data = source
        given_name = filename or "upload"
        size = len(data)
    else:
        path = Path(source)
        given_name = filename or path.name
        size = path.stat().st_size
    # The name is data from the uploader: only its last component is stored or shown.
    filename = files.safe_filename(given_name)
    # Refuse before reading: an oversized file must not be loaded into memory at all.
    if max_bytes is not None and size > max_bytes:
        raise files.ImportRefused(
            f'file "{filename}" is {size / 1e6:.1f} MB, over the upload limit of {max_bytes / 1e6:.1f} MB'
        )
    whole = data if isinstance(source, bytes) else path
    file_sha = import_stream.file_sha256(whole)
    progress(0.02, f"reading {filename}")
    gaz = gazetteer or area_gazetteer(engine)
    stream = import_stream.open_csv(whole, given_name)
    if stream is not None and _chosen_format(stream.header, fmt) == "sharing_form":
        try:
            return _import_sharing_form(
                engine,
                stream.chunks(chunk_rows),
                filename,
                file_sha,
                gaz,
                is_demo,
                imported_by,
                progress,
                today,
                fraction_read=lambda _rows: stream.fraction_read,
            )
        except import_stream.StreamUnsuitable:
            pass  # rolled back: an unusual file (ragged rows, blank lines, ...) is read whole instead
    raw = files.read_table(whole, given_name, max_bytes=max_bytes)
    detected = _chosen_format(raw, fmt)
    progress(0.1, f"checking {len(raw):,} rows")
    if detected == "policeuk":
        return _import_policeuk(engine, raw, filename, file_sha, gaz, is_demo, imported_by, progress)
    n_raw = max(len(raw), 1)
    chunks = import_stream.frame_chunks(raw, chunk_rows)
    return _import_sharing_form(
        engine,
        chunks,
        filename,
        file_sha,
        gaz,
        is_demo,
        imported_by,
        progress,
        today,
        fraction_read=lambda rows: min(1.0, rows / n_raw),
    )


def _chosen_format(raw: pd.DataFrame, fmt: str | None) -> str:
    detected = headers.detect_format(raw)
    if fmt is not None and fmt != detected:
        if fmt not in ("sharing_form", "policeuk"):
            raise ValueError(f"fmt must be 'sharing_form' or 'policeuk', got {fmt!r}")
        detected = fmt
    return detected


def _dedupe_quarantine(
    conn: Connection, q: pd.DataFrame, in_file: dict[str, int] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split quarantined rows into new entries and repeats of a row quarantined before.

    A quarantined row is its identity (``q["identity"]``: agency + source reference, Crime ID, or file
    + row number) plus its raw text: only the same row imported again is a duplicate. A row that merely
    looks like another quarantined row is quarantined in its own right.

    ``in_file`` ({key: row number}) holds the entries this import made from earlier chunks of its file;
    the new entries of this chunk are added to it. Those entries are in the database already, but are
    repeats of a row of this file, not of an earlier import.
    """
    if q.empty:
        return q.assign(raw_fingerprint=pd.Series(dtype=object)), identity.empty_outcomes()
    in_file = {} if in_file is None else in_file
    q = q.reset_index(drop=True)
    q["raw_fingerprint"] = identity.quarantine_keys(q["identity"], q["raw"])
    # A lookup per row: Series.map(dict) copies the whole dict (every earlier chunk's keys) each time.
    earlier_row = pd.Series([in_file.get(k, np.nan) for k in q["raw_fingerprint"].tolist()], dtype="float64")
    in_earlier = earlier_row.notna().to_numpy()
    before = store.quarantine_ids(conn, q.loc[~in_earlier, "raw_fingerprint"])
    seen = q["raw_fingerprint"].isin(before.index).to_numpy() & ~in_earlier
    repeat = (q["raw_fingerprint"].duplicated().to_numpy() & ~seen) | in_earlier
    first_row = q.groupby("raw_fingerprint", sort=False)["row_number"].transform("first")
    first_row = earlier_row.fillna(first_row).astype("int64")
    dup_seen = q[seen]
    dup_repeat = q[repeat]
    qids = before.reindex(dup_seen["raw_fingerprint"]).to_numpy()
    out = pd.concat(
        [
            identity.outcomes(
                dup_seen["row_number"],
                "duplicate",
                quarantine_id=qids,
                detail=[f"the same row as quarantine entry {int(i)} (imported before)" for i in qids],
            ),
            identity.outcomes(
                dup_repeat["row_number"],
                "duplicate",
                duplicate_of_row=first_row[repeat].to_numpy(),
            ),
        ],
        ignore_index=True,
    )
    fresh = q[~(seen | repeat)]
    in_file.update(zip(fresh["raw_fingerprint"].tolist(), fresh["row_number"].tolist(), strict=True))
    return fresh, out


@dataclass
class _AfterInsert:
    """What the format-specific step adds once rows have ids: resubmissions and duplicate flags."""

    outcomes: pd.DataFrame
    n_resubmitted: int = 0
    resembles: pd.Series | None = None  # {row_number: report id} of stored rows flagged


def _store_import(
    conn: Connection,
    *,
    fmt: str,
    filename: str,
    file_sha: str,
    is_demo: bool,
    imported_by: str | None,
    n_read: int,
    accepted: pd.DataFrame,
    insert_rows: Callable[[Connection, int, pd.DataFrame], int],
    stored_table: sa.Table,
    quarantined: pd.DataFrame,
    duplicates: pd.DataFrame,
    warnings: list[str],
    progress: Progress,
    progress_start: float,
    label: str,
    n_out_of_area: int = 0,
    out_of_area_rows: np.ndarray | None = None,
    after_insert: Callable[[Connection, int, pd.Series], _AfterInsert] | None = None,
) -> store.ImportSummary:
    """Write one import's record, accepted rows and quarantine inside the caller's transaction, and
    account for every row of the file by row number."""
    seen_file = store.file_already_imported(conn, file_sha)
    quarantined, q_dups = _dedupe_quarantine(conn, quarantined)
    import_id = store.insert_import(
        conn, filename=filename, file_sha256=file_sha, fmt=fmt, is_demo=is_demo, imported_by=imported_by
    )
    n_acc = _insert_in_chunks(
        conn, accepted, lambda c, f: insert_rows(c, import_id, f), progress, progress_start, 0.95, label
    )
    n_q = store.insert_quarantine(conn, import_id, quarantined)
    stored_ids = store.ids_by_row(conn, stored_table, import_id) if n_acc else pd.Series(dtype="int64")
    q_ids = store.ids_by_row(conn, store.quarantine, import_id) if n_q else pd.Series(dtype="int64")
    extra = (
        after_insert(conn, import_id, stored_ids) if after_insert else _AfterInsert(identity.empty_outcomes())
    )
    acc_rows = accepted["row_number"].to_numpy()
    resembles = (
        extra.resembles.reindex(acc_rows)
        if extra.resembles is not None
        else pd.Series(np.nan, index=acc_rows)
    )
    accounted = pd.concat(
        [
            *_stored_and_quarantined_outcomes(acc_rows, stored_ids, resembles, quarantined, q_ids),
            duplicates,
            q_dups,
            extra.outcomes,
            identity.outcomes(
                np.asarray(out_of_area_rows if out_of_area_rows is not None else [], dtype="int64"),
                "outside_area",
                detail="outside the study area: skipped (police.uk rows only)",
            ),
        ],
        ignore_index=True,
    )
    return _finish_import(
        conn,
        fmt=fmt,
        filename=filename,
        file_sha=file_sha,
        imported_by=imported_by,
        import_id=import_id,
        seen_file=seen_file,
        n_read=n_read,
        n_acc=n_acc,
        n_q=n_q,
        n_resubmitted=extra.n_resubmitted,
        n_flagged=int(resembles.notna().sum()),
        n_out_of_area=n_out_of_area,
        warnings=warnings,
        accounted=accounted,
        is_demo=is_demo,
        to_reports=stored_table is store.reports,
    )


def _finish_import(
    conn: Connection,
    *,
    fmt: str,
    filename: str,
    file_sha: str,
    imported_by: str | None,
    import_id: int,
    seen_file: bool,
    n_read: int,
    n_acc: int,
    n_q: int,
    n_resubmitted: int,
    n_flagged: int,
    n_out_of_area: int,
    warnings: list[str],
    accounted: pd.DataFrame | list[pd.DataFrame],
    is_demo: bool,
    to_reports: bool,
    n_superseded: int = 0,
) -> store.ImportSummary:
    """Check that every row of the file is accounted for, then complete the import record and its
    audit entry in the caller's transaction. ``accounted`` may come in parts (a list, emptied here, so
    the parts are not held beside the whole)."""
    if isinstance(accounted, list):
        parts = accounted
        accounted = pd.concat(parts, ignore_index=True)
        parts.clear()
    accounted = identity.resolve_in_file_duplicates(accounted)
    # One missing value (None) however many parts the rows were accounted in.
    accounted["detail"] = accounted["detail"].astype(object).where(accounted["detail"].notna(), None)
    n_dup = int((accounted["outcome"] == "duplicate").sum())
    nothing_new = n_acc == 0 and n_q == 0 and n_resubmitted == 0 and n_read > n_out_of_area
    summary = store.ImportSummary(
        import_id=import_id,
        filename=filename,
        format=fmt,
        n_read=n_read,
        n_accepted=n_acc,
        n_quarantined=n_q,
        n_duplicates=n_dup,
        already_imported=seen_file and nothing_new,
        warnings=tuple(warnings),
        n_resubmitted=n_resubmitted,
        n_possible_duplicates=n_flagged,
        n_out_of_area=n_out_of_area,
        n_superseded=n_superseded,
        rows=accounted,
    )
    # A bug, never a data problem: the caller's transaction rolls back.
    if not summary.reconciles:
        raise RuntimeError(f"import of {filename} does not reconcile: {summary.describe()}")
    if len(accounted) != n_read or not accounted["row_number"].is_unique:
        raise RuntimeError(f"import of {filename}: {len(accounted):,} rows accounted for, {n_read:,} read")
    store.finish_import(conn, import_id, summary)
    if n_acc or n_q or n_resubmitted:  # the data version moves only when the import added something
        store.bump_data_version(
            conn,
            reports=n_acc if to_reports else 0,
            demo_reports=n_acc if to_reports and is_demo else 0,
            context=0 if to_reports else n_acc,
            quarantine_open=n_q - n_superseded,
            # An import only adds rows; the identity steps that change stored reports (a resubmission
            # replacing one, a merge) bump the version themselves without this.
            appended_only=True,
        )
    # In the same transaction: an import and its audit entry are never separated.
    audit.record(
        conn,
        "import",
        actor=imported_by,
        target=filename,
        details={
            "import_id": import_id,
            "format": fmt,
            "read": n_read,
            "accepted": n_acc,
            "quarantined": n_q,
            "duplicates": summary.n_duplicates,
            "resubmitted": summary.n_resubmitted,
            "possible_duplicates": summary.n_possible_duplicates,
            "out_of_area": n_out_of_area,
            "superseded_quarantine": n_superseded,
            "sha256": file_sha,
        },
    )
    return summary


def _report_duplicate_outcomes(rows: pd.DataFrame, cls: pd.DataFrame) -> pd.DataFrame:
    dup = (cls["status"] == "duplicate").to_numpy()
    d, c = rows[dup], cls[dup]
    rids = c["report_id"].fillna(-1).to_numpy("int64")
    sids = c["resubmission_id"].fillna(-1).to_numpy("int64")
    details: list[str | None] = []
    for key, rid, sid in zip(d["identity"].tolist(), rids.tolist(), sids.tolist(), strict=True):
        if rid < 0:
            details.append(None)  # a repeat of an earlier row: filled in from that row
        elif sid >= 0:
            details.append(f"the same content as resubmission {sid} of report {rid} (received before)")
        elif key.startswith("f:"):
            details.append(f"the same row of the same file as report {rid} (imported before)")
        else:
            details.append(f"same agency, source reference and content as report {rid}")
    return identity.outcomes(
        d["row_number"],
        "duplicate",
        report_id=c["report_id"],
        resubmission_id=c["resubmission_id"],
        duplicate_of_row=c["duplicate_of_row"],
        detail=details,
    )


class _StoredRows:
    """{row number: id} of the rows an import has stored so far, over all its chunks (for a later
    row that repeats or resembles an earlier one)."""

    def __init__(self) -> None:
        self._rows: list[np.ndarray] = []
        self._ids: list[np.ndarray] = []

    def add(self, ids: pd.Series) -> None:
        if len(ids):
            self._rows.append(ids.index.to_numpy(dtype="int64"))
            self._ids.append(ids.to_numpy(dtype="int64"))

    def lookup(self, rows) -> np.ndarray:
        """The id stored for each row number (float, NaN where that row was not stored)."""
        rows = np.asarray(pd.Series(rows, dtype="Float64").fillna(-1).to_numpy("int64"))
        out = np.full(len(rows), np.nan)
        if not self._rows or not len(rows):
            return out
        # Row numbers grow through the file, so the concatenation is sorted.
        known, ids = np.concatenate(self._rows), np.concatenate(self._ids)
        pos = np.clip(np.searchsorted(known, rows), 0, len(known) - 1)
        hit = known[pos] == rows
        out[hit] = ids[pos[hit]]
        return out


@dataclass
class _SharingFormImport:
    """One sharing-form import in progress, a chunk of the file at a time, in one transaction.

    Everything a later row can refer to is remembered across chunks: the classifier's rows so far
    (duplicates and resubmissions of earlier rows), the ids of rows stored and the quarantine keys
    entered, so a file read in chunks is stored and accounted for exactly as if read at once."""

    conn: Connection
    import_id: int
    file_sha: str
    gaz: Gazetteer
    extra_places: pd.DataFrame
    is_demo: bool
    today: date
    classifier: identity.ReportClassifier
    matcher: object = None  # geocode.name_matcher: names resolved once for the whole file
    stored: _StoredRows = field(default_factory=_StoredRows)
    quarantine_keys: dict[str, int] = field(default_factory=dict)
    outcomes: list[pd.DataFrame] = field(default_factory=list)
    warnings: list[list[str]] = field(default_factory=list)
    unknown_terms: dict[str, UnknownTerms] = field(default_factory=dict)
    column_map: dict[str, str] = field(default_factory=dict)
    n_read: int = 0
    n_acc: int = 0
    n_q: int = 0
    n_resubmitted: int = 0
    n_flagged: int = 0
    n_superseded: int = 0
    # Open quarantine entries a stored row may supersede (identity, id, row_number): those of earlier
    # imports, read once (row_number NaN), then this import's own as its chunks are quarantined.
    open_entries: pd.DataFrame | None = None
    # {row number of an entry a later row of this file superseded: what the row's outcome adds}
    closed_in_file: dict[int, str] = field(default_factory=dict)
    delimiter: str | None = None  # the CSV file's separator, as its chunks were read (None: a workbook)

    def file_warnings(self) -> list[str]:
        """The warnings for the whole file: the chunks' own, added up, then the unknown terms."""
        return row_warnings.merge(self.warnings) + sharing_form.vocabulary_warnings(self.unknown_terms)

    def _remember_entries(self, quarantined: pd.DataFrame, entry_ids: pd.Series) -> None:
        """Keep this chunk's new quarantine entries that have a report identity: a later row of the
        file stored under that identity supersedes them as a later import's would."""
        if self.open_entries is None:
            self.open_entries = store.open_quarantine_identities(self.conn, before_import=self.import_id)
            self.open_entries["row_number"] = np.nan
        keyed = quarantined[quarantined["identity"].str.startswith("r:", na=False)]
        if keyed.empty:
            return
        rows = keyed["row_number"].to_numpy()
        own = pd.DataFrame(
            {
                "identity": object_column(keyed["identity"].to_numpy(dtype=object)),
                "id": entry_ids.reindex(rows).to_numpy(),
                "row_number": rows.astype(float),
            }
        ).dropna(subset="id")
        own["id"] = own["id"].astype("int64")
        self.open_entries = pd.concat([self.open_entries, own], ignore_index=True)

    def _supersede(self, stored: pd.DataFrame, stored_ids: pd.Series) -> pd.Series:
        """Close the open quarantine entries whose identity a row of this chunk was just stored under
        (the partner's corrected row): those of earlier imports, and this file's own from earlier rows
        (an entry from a later row of the file is a later version that failed, and stays open).
        Returns {row number: the entries it closed, as text}."""
        entries = self.open_entries
        if entries is None or entries.empty or stored.empty:
            return pd.Series(dtype=object)
        row_of_identity = pd.Series(stored["row_number"].to_numpy(), index=stored["identity"].to_numpy())
        hit = entries[entries["identity"].isin(row_of_identity.index)]
        rows = row_of_identity.reindex(hit["identity"]).to_numpy()
        earlier = ~(hit["row_number"].to_numpy() >= rows)  # NaN (an earlier import) counts as earlier
        hit, rows = hit[earlier], rows[earlier]
        if hit.empty:
            return pd.Series(dtype=object)
        report_ids = stored_ids.reindex(rows).to_numpy()
        closed_ids = store.supersede_quarantine(self.conn, hit["id"], report_ids)
        self.open_entries = entries[~entries["id"].isin(hit["id"])]
        closed = hit["id"].isin(closed_ids).to_numpy()
        self.n_superseded += int(closed.sum())
        said = []
        for entry, entry_row, row, report in zip(
            hit["id"][closed], hit["row_number"][closed], rows[closed], report_ids[closed], strict=True
        ):
            if np.isnan(entry_row):
                said.append(f"entry {int(entry)} (an earlier import's version of this row)")
            else:
                said.append(f"entry {int(entry)} (row {int(entry_row)} of this file)")
                self.closed_in_file[int(entry_row)] = (
                    f"superseded by row {int(row)} of this file, stored corrected as report {int(report)}"
                )
        by_row = pd.Series(said, index=rows[closed], dtype=object)
        return by_row.groupby(level=0).agg(", ".join)

    def note_closed_in_file(self) -> None:
        """Say in the outcome of each row whose entry a later row of the file superseded what became
        of it (its chunk's outcomes were written before that later row was read)."""
        if not self.closed_in_file:
            return
        for frame in self.outcomes:
            said = frame["row_number"].map(self.closed_in_file)
            mark = (said.notna() & (frame["outcome"] == "quarantined")).to_numpy()
            if mark.any():
                frame.loc[mark, "detail"] = [
                    f"{d}; {s}" for d, s in zip(frame.loc[mark, "detail"], said[mark], strict=True)
                ]

    def add_chunk(self, raw: pd.DataFrame) -> None:
        conn, import_id = self.conn, self.import_id
        self.delimiter = raw.attrs.get("delimiter")
        result = sharing_form.normalise_sharing_form(raw, today=self.today)
        self.n_read += result.n_read
        # The unknown vocabulary terms are said once for the whole file (``file_warnings``).
        said_per_chunk = sharing_form.vocabulary_warnings(result.unknown_terms)
        self.warnings.append([w for w in result.warnings if w not in said_per_chunk])
        for column, terms in result.unknown_terms.items():
            self.unknown_terms.setdefault(column, UnknownTerms()).update(terms)
        self.column_map = result.column_map
        rows = result.rows.copy(deep=False)  # copy-on-write: columns set here stay in this frame
        rows["identity"] = object_column(
            identity.report_identities(rows["agency"], rows["source_ref"], self.file_sha, rows["row_number"]),
            rows.index,
        )
        cls = self.classifier.classify(
            rows[["row_number", "identity", "fingerprint"]].assign(revision=store.revisions(rows))
        )
        status = cls["status"].to_numpy()
        info = cls.set_axis(rows["row_number"].to_numpy())
        fresh = rows[status != "duplicate"]
        if self.matcher is None or self.matcher.n_cached() > _MAX_CACHED_NAMES:
            self.matcher = geocoding.name_matcher(self.gaz, self.extra_places)
        geo = geocoding.geocode_safely(
            fresh,
            self.gaz,
            self.extra_places,
            matcher=self.matcher,
            coordinate_precision=result.coordinate_precision,
        )
        located = geo.located
        self.warnings[-1] += _two_places_warnings(located)
        located["identity"] = object_column(
            rows.set_index("row_number")["identity"].reindex(located["row_number"]).to_numpy(), located.index
        )
        loc_status = info["status"].reindex(located["row_number"]).to_numpy()
        new_located = located[loc_status == "new"]
        resub = located[loc_status == "resubmission"]

        last_report = store.max_id(conn, store.reports)
        n_new = store.insert_reports(conn, import_id, new_located, is_demo=self.is_demo)
        stored_ids = (
            store.ids_by_row(conn, store.reports, import_id, after_id=last_report)
            if n_new
            else pd.Series(dtype="int64")
        )
        self.stored.add(stored_ids)
        self.n_acc += n_new

        # A changed repeat of a row of this same file that did not reach the store has nothing to change.
        target_row = info["resubmission_of_row"].reindex(resub["row_number"])
        orphan = (target_row.notna() & np.isnan(self.stored.lookup(target_row))).to_numpy()
        orphans = resub[orphan]
        resub = resub[~orphan]
        orphan_q = pd.DataFrame(
            {
                "row_number": orphans["row_number"].to_numpy(),
                "reason": [
                    f"row {r}: same agency and source reference as row {int(t)} of this file, which was not"
                    f" stored; correct row {int(t)} and import both again"
                    for r, t in zip(orphans["row_number"], target_row[orphan], strict=True)
                ],
                "field": "source_ref",
                "value": orphans["source_ref"].to_numpy(dtype=object),
                "payload": None,
            }
        )
        geo_q = geo.quarantine.copy()
        changed = (info["status"].reindex(geo_q["row_number"]) == "resubmission").to_numpy()
        if changed.any():
            # The stored report stays; locating this version in Review would store the report twice.
            geo_q.loc[changed, "reason"] = [
                f"row {r}: a changed resubmission of a stored report (same agency and source reference) whose"
                f" location could not be resolved: {str(reason).split(': ', 1)[-1]}"
                for r, reason in zip(
                    geo_q.loc[changed, "row_number"], geo_q.loc[changed, "reason"], strict=True
                )
            ]
            geo_q.loc[changed, "payload"] = None
        geo_q = pd.concat([geo_q, orphan_q], ignore_index=True)
        geo_q["raw"] = object_column(_raw_json(raw, geo_q["row_number"].to_numpy()), geo_q.index)
        ingest_q = result.quarantine.copy()
        ingest_q["payload"] = None
        quarantined = pd.concat([ingest_q, geo_q], ignore_index=True).sort_values("row_number")
        quarantined["identity"] = identity.raw_identities(
            raw,
            quarantined["row_number"].to_numpy(),
            self.file_sha,
            ref_column=result.column_map.get("source_ref"),
            agency_column=result.column_map.get("agency"),
        )
        quarantined, q_dups = _dedupe_quarantine(conn, quarantined, self.quarantine_keys)
        last_q = store.max_id(conn, store.quarantine)
        n_q = store.insert_quarantine(conn, import_id, quarantined)
        q_ids = (
            store.ids_by_row(conn, store.quarantine, import_id, after_id=last_q)
            if n_q
            else pd.Series(dtype="int64")
        )
        self.n_q += n_q
        self._remember_entries(quarantined, q_ids)
        supersedes = self._supersede(new_located, stored_ids)

        now = datetime.now(UTC).replace(tzinfo=None)
        new_rows = new_located["row_number"].to_numpy()
        resembles = info["resembles_report_id"].reindex(new_rows)
        from_row = self.stored.lookup(info["resembles_row"].reindex(new_rows))
        resembles = resembles.astype("Float64").fillna(pd.Series(from_row, index=resembles.index))
        resembles = resembles.dropna().astype("int64")
        if len(resembles):
            conn.execute(
                store.duplicate_flags.insert(),
                [
                    {
                        "report_id": int(stored_ids[r]),
                        "resembles_report_id": int(t),
                        "import_id": import_id,
                        "status": "open",
                        "flagged_at": now,
                    }
                    for r, t in resembles.items()
                ],
            )
        rn = resub["row_number"].to_numpy()
        targets = info["report_id"].reindex(rn)
        targets = targets.astype("Float64").fillna(
            pd.Series(self.stored.lookup(info["resubmission_of_row"].reindex(rn)), index=targets.index)
        )
        resub_ids = pd.Series(dtype="int64")
        if len(rn):
            last_resub = store.max_id(conn, store.resubmissions)
            conn.execute(
                store.resubmissions.insert(),
                [
                    {
                        "import_id": import_id,
                        "row_number": int(r),
                        "report_id": int(t),
                        "fingerprint": f,
                        "payload": p,
                        "status": "open",
                        "received_at": now,
                    }
                    for r, t, f, p in zip(
                        rn, targets, resub["fingerprint"], identity.row_payloads(resub), strict=True
                    )
                ],
            )
            resub_ids = store.ids_by_row(conn, store.resubmissions, import_id, after_id=last_resub)
        self.n_resubmitted += len(rn)
        self.n_flagged += len(resembles)

        parts = [
            *_stored_and_quarantined_outcomes(
                new_rows, stored_ids, resembles.reindex(new_rows), quarantined, q_ids, supersedes
            ),
            _report_duplicate_outcomes(rows, cls),
            q_dups,
            identity.outcomes(
                rn,
                "resubmission",
                report_id=targets.to_numpy(),
                resubmission_id=resub_ids.reindex(rn).to_numpy(),
                detail=[
                    f"same agency and source reference as report {int(t)}, different content: the stored report"
                    " is kept until an analyst accepts or rejects the change in Review"
                    for t in targets
                ],
            ),
        ]
        self.outcomes.append(pd.concat(parts, ignore_index=True).sort_values("row_number", ignore_index=True))


# The location notes that say a row gave two places, and the warning naming such rows.
_TWO_PLACES = (
    (geocoding.GRID_APART_NOTE, row_warnings.GRID_AWAY_FROM_LAT_LON),
    (geocoding.TEXT_APART_NOTE, row_warnings.TEXT_AWAY_FROM_LAT_LON),
)


def _two_places_warnings(located: pd.DataFrame) -> list[str]:
    """The rows located by latitude/longitude whose grid reference, easting/northing or location text
    put them elsewhere (their location note says so), named for the person importing the file."""
    notes = located["geocode_note"].to_numpy(dtype=object)
    noted = pd.notna(notes)  # most rows have no note
    if not noted.any():
        return []
    out = []
    for start, warning in _TWO_PLACES:
        apart = noted.copy()
        apart[noted] = [start in str(note) for note in notes[noted]]
        if apart.any():
            out.append(warning(int(apart.sum()), located["row_number"].to_numpy()[apart]))
    return out


def _stored_and_quarantined_outcomes(
    stored_rows: np.ndarray,
    stored_ids: pd.Series,
    resembles: pd.Series,
    quarantined: pd.DataFrame,
    quarantine_ids: pd.Series,
    supersedes: pd.Series | None = None,
) -> list[pd.DataFrame]:
    """The outcome rows of the rows an import stored and of those it quarantined (one-shot and chunked
    alike). ``resembles`` holds, per stored row in order, the report whose content it repeats (NaN
    when none): such a row is stored but flagged as a possible duplicate for Review. ``supersedes``:
    {row number: the earlier quarantine entries it closed, as text}."""
    flagged = resembles.notna().to_numpy()
    detail = np.full(len(stored_rows), None, dtype=object)
    detail[flagged] = [
        f"the same content as report {int(r)}: flagged for Review" for r in resembles[flagged].tolist()
    ]
    if supersedes is not None and len(supersedes):
        closes = supersedes.reindex(stored_rows).to_numpy(dtype=object)
        for i in np.flatnonzero(pd.notna(closes)):
            said = f"supersedes quarantine {closes[i]}"
            detail[i] = said if detail[i] is None else f"{detail[i]}; {said}"
    return [
        identity.outcomes(
            stored_rows,
            np.where(flagged, "possible_duplicate", "stored"),
            report_id=stored_ids.reindex(stored_rows).to_numpy(),
            resembles_report_id=resembles.to_numpy(),
            detail=detail,
        ),
        identity.outcomes(
            quarantined["row_number"],
            "quarantined",
            quarantine_id=quarantine_ids.reindex(quarantined["row_number"]).to_numpy(),
            detail=quarantined["reason"].to_numpy(dtype=object),
        ),
    ]


# SQLite page cache during an import, in KiB: the unique identity index of a million reports does not
# fit SQLite's default 2 MB, and inserting a million rows took almost twice as long (measured: 800,000
# rows with a unique key, 4.5 s with the default, 2.8 s with 32 MB).
_SQLITE_IMPORT_CACHE_KIB = 32 * 1024


@contextmanager
def _import_page_cache(conn: Connection):
    if conn.dialect.name != "sqlite":
        yield
        return
    before = int(conn.exec_driver_sql("PRAGMA cache_size").scalar())
    conn.exec_driver_sql(f"PRAGMA cache_size=-{_SQLITE_IMPORT_CACHE_KIB}")
    try:
        yield
    finally:
        try:
            conn.exec_driver_sql(f"PRAGMA cache_size={before}")
        except sa.exc.SQLAlchemyError:
            pass  # a failed transaction: the pooled connection keeps the larger cache, nothing else


def _unbuilt_gazetteer_warning(gaz: Gazetteer, n_quarantined: int) -> list[str]:
    """Said first when rows went to Review because the area's gazetteer is not built yet."""
    if not n_quarantined or not gaz.postcodes.empty:
        return []
    area = getattr(gaz, "area_name", None) or "the study area"
    return [
        f"the gazetteer of {area} is not built yet: postcodes, places and streets were not looked up, so"
        " rows without coordinates wait in Review; build it (the Area page, or `hoth-geo area"
        " build-gazetteer`), then try them again in Review"
    ]


def _import_sharing_form(
    engine: Engine,
    chunks: Iterable[pd.DataFrame],
    filename: str,
    file_sha: str,
    gaz: Gazetteer,
    is_demo: bool,
    imported_by: str | None,
    progress: Progress,
    today: date | None,
    fmt: str = "sharing_form",
    fraction_read: Callable[[int], float] | None = None,
) -> store.ImportSummary:
    """Import sharing-form rows given as chunks of one file (``import_stream``), in one transaction."""
    extra_places = places_in_area(store.load_places(engine), gaz)
    with engine.begin() as conn, _import_page_cache(conn):
        seen_file = store.file_already_imported(conn, file_sha)
        job = _SharingFormImport(
            conn=conn,
            import_id=0,
            file_sha=file_sha,
            gaz=gaz,
            extra_places=extra_places,
            is_demo=is_demo,
            today=today or date.today(),
            classifier=identity.ReportClassifier(store.report_keys(conn), store.resubmission_contents(conn)),
        )
        # A file refused in any chunk (or read again whole) rolls this record back with everything else.
        job.import_id = store.insert_import(
            conn, filename=filename, file_sha256=file_sha, fmt=fmt, is_demo=is_demo, imported_by=imported_by
        )
        for raw in chunks:
            job.add_chunk(raw)
            del raw
            import_stream.give_back_free_memory()
            done = fraction_read(job.n_read) if fraction_read else 1.0
            progress(0.1 + 0.85 * done, f"storing reports: {job.n_read:,} rows read, checked and geocoded")
        job.note_closed_in_file()
        if job.delimiter:
            store.record_delimiter(conn, job.import_id, job.delimiter)
        summary = _finish_import(
            conn,
            fmt=fmt,
            filename=filename,
            file_sha=file_sha,
            imported_by=imported_by,
            import_id=job.import_id,
            seen_file=seen_file,
            n_read=job.n_read,
            n_acc=job.n_acc,
            n_q=job.n_q,
            n_resubmitted=job.n_resubmitted,
            n_flagged=job.n_flagged,
            n_superseded=job.n_superseded,
            n_out_of_area=0,
            warnings=_unbuilt_gazetteer_warning(gaz, job.n_q) + job.file_warnings(),
            accounted=job.outcomes,
            is_demo=is_demo,
            to_reports=True,
        )
    progress(1.0, summary.describe())
    return summary


def _import_policeuk(
    engine: Engine,
    raw: pd.DataFrame,
    filename: str,
    file_sha: str,
    gaz: Gazetteer,
    is_demo: bool,
    imported_by: str | None,
    progress: Progress,
) -> store.ImportSummary:
    result = policeuk.normalise_policeuk(raw)
    rows = result.rows.reset_index(drop=True)
    from hoth_geo.intake.area import inside_area

    inside = inside_area(
        gaz.study_area,
        rows["latitude"].to_numpy(float),
        rows["longitude"].to_numpy(float),
        settings.POLICEUK_AREA_EDGE_M,
    )
    # Rows outside the area are skipped with one summary line, not quarantined one by one: a force's
    # file often covers more than a partnership's area.
    n_outside = int((~inside).sum())
    outside_rows = rows.loc[~inside, "row_number"].to_numpy()
    warnings = list(result.warnings)
    if n_outside:
        warnings.insert(0, out_of_area_warning(n_outside, result.n_read, gaz.area_name))
    rows = rows[inside].copy()
    rows["h3"] = latlng_to_cells(
        rows["latitude"].to_numpy(float), rows["longitude"].to_numpy(float), settings.FINE_H3_RES
    )
    # Identity: the Crime ID; a row without one is its file and row number (see hoth_geo.intake.identity).
    rows["fingerprint"] = identity.policeuk_identities(rows["crime_id"], file_sha, rows["row_number"])
    with engine.begin() as conn:
        dup_rows, warning = _policeuk_duplicates(conn, rows, file_sha)
        fresh = rows[~rows["row_number"].isin(dup_rows["row_number"]).to_numpy()]
        q = result.quarantine.copy()
        q["payload"] = None
        quarantined = q.sort_values("row_number")
        quarantined["identity"] = identity.raw_identities(
            raw,
            quarantined["row_number"].to_numpy(),
            file_sha,
            ref_column=result.column_map.get("Crime ID"),
            kind="policeuk",
        )
        summary = _store_import(
            conn,
            fmt="policeuk",
            filename=filename,
            file_sha=file_sha,
            is_demo=is_demo,
            imported_by=imported_by,
            n_read=result.n_read,
            accepted=fresh,
            insert_rows=store.insert_context,
            stored_table=store.police_context,
            quarantined=quarantined,
            duplicates=dup_rows,
            warnings=warnings + ([warning] if warning else []),
            n_out_of_area=n_outside,
            out_of_area_rows=outside_rows,
            progress=progress,
            progress_start=0.3,
            label="storing police context",
        )
    progress(1.0, summary.describe())
    return summary


def area_gazetteer(engine: Engine) -> Gazetteer:
    """The gazetteer of the study area configured for the database behind ``engine``."""
    from hoth_geo.intake import area

    return area.gazetteer_for(area.for_engine(engine))


def places_in_area(places: pd.DataFrame, gaz: Gazetteer) -> pd.DataFrame:
    """Stored places (demo venues, analysts' places) within the gazetteer's area: after a change of
    area, the previous area's places are never offered for linking."""
    from hoth_geo.intake.area import inside_area

    if places.empty or gaz.study_area is None:
        return places
    keep = inside_area(
        gaz.study_area,
        places["latitude"].to_numpy(float),
        places["longitude"].to_numpy(float),
        settings.STUDY_AREA_BUFFER_M,
    )
    return places[keep].reset_index(drop=True)


# A file mostly outside the area is usually the wrong force or the wrong area set: say so loudly.
MOSTLY_OUTSIDE_SHARE = 0.5


def out_of_area_warning(n_outside: int, n_read: int, area_name: str) -> str:
    """The one summary line for police.uk rows outside the area (skipped, not stored)."""
    share = n_outside / max(n_read, 1)
    text = (
        f"{n_outside:,} of {n_read:,} rows ({share:.1%}) lie outside {area_name} and were skipped "
        "(not stored, not quarantined)"
    )
    if share > MOSTLY_OUTSIDE_SHARE:
        text = (
            f"MOST OF THIS FILE LIES OUTSIDE {area_name.upper()}: {text}. Check that the file is for "
            f"{area_name}, or set the partnership's area (Area page, `hoth-geo area set`)"
        )
    return text


def _policeuk_duplicates(
    conn: Connection, rows: pd.DataFrame, file_sha: str
) -> tuple[pd.DataFrame, str | None]:
    """Rows whose Crime ID (or, without one, file and row) is stored already or earlier in the file."""
    fp = rows["fingerprint"]
    has_id = rows["crime_id"].notna().to_numpy()
    # Row keys can only be stored already when this very file was imported before.
    ask = fp if store.file_already_imported(conn, file_sha) else fp[has_id]
    before = store.context_ids(conn, ask)
    seen = fp.isin(before.index).to_numpy()
    repeat = fp.duplicated().to_numpy() & ~seen
    first_row = rows.groupby("fingerprint", sort=False)["row_number"].transform("first")
    s, r = rows[seen], rows[repeat]
    sid = before.reindex(s["fingerprint"]).to_numpy()
    out = pd.concat(
        [
            identity.outcomes(
                s["row_number"],
                "duplicate",
                report_id=sid,
                detail=[
                    f"same Crime ID as police context row {int(i)}"
                    if cid
                    else f"the same row of the same file as police context row {int(i)} (imported before)"
                    for i, cid in zip(sid, s["crime_id"].notna(), strict=True)
                ],
            ),
            identity.outcomes(
                r["row_number"],
                "duplicate",
                duplicate_of_row=first_row[repeat].to_numpy(),
                detail=[f"same Crime ID as row {int(t)} of this file" for t in first_row[repeat]],
            ),
        ],
        ignore_index=True,
    )
    warning = None
    n_ids, n_seen_ids = int(has_id.sum()), int((seen & has_id).sum())
    n_new_without = int((~has_id & ~seen).sum())
    if n_ids and n_seen_ids > 0.5 * n_ids and n_new_without:
        warning = (
            f"{n_seen_ids:,} of this file's {n_ids:,} rows with a Crime ID were already stored from another file,"
            f" but its {n_new_without:,} rows without a Crime ID (anti-social behaviour) cannot be matched and were"
            " added: if this file is a new download of a month already imported, those rows are now counted twice"
        )
    return out, warning


def import_form_rows(
    engine: Engine,
    raw: pd.DataFrame,
    name: str,
    *,
    fmt: str = "form",
    imported_by: str | None = None,
    gazetteer: Gazetteer | None = None,
    today: date | None = None,
) -> store.ImportSummary:
    """Import sharing-form rows built in memory (the Share information form) by the same path as a
    file: the same normalisation, duplicate rules, geocoding, quarantine and audit entry, under an
    import record of its own ``fmt`` named ``name``. ``raw`` has sharing-form headers and text cells."""
    if list(raw.columns) == [] or raw.empty:
        raise ValueError("raw must hold at least one row with sharing-form headers")
    payload = raw.to_json(orient="records", force_ascii=False).encode("utf-8")
    return _import_sharing_form(
        engine,
        import_stream.frame_chunks(raw),
        files.safe_filename(name),
        hashlib.sha256(payload).hexdigest(),
        gazetteer or area_gazetteer(engine),
        False,
        imported_by,
        _no_progress,
        today,
        fmt=fmt,
    )


def all_places(engine: Engine, gazetteer: Gazetteer | None = None) -> pd.DataFrame:
    """Every place a report can be linked to: stored places (demo, analyst-added) then the gazetteer's."""
    gaz = gazetteer or area_gazetteer(engine)
    stored = places_in_area(store.load_places(engine), gaz)
    frames = [f for f in (stored, gaz.places) if not f.empty]
    if not frames:
        return gaz.places.copy()
    return pd.concat(frames, ignore_index=True).drop_duplicates("place_id", keep="first")


def load_demo_data(
    engine: Engine, *, gazetteer: Gazetteer | None = None, progress: Progress | None = None
) -> store.ImportSummary:
    """Load the shipped synthetic demo set: its venues into places, then its reports via a normal import.

    The demo is of the shipped County Durham and Darlington area, so it is geocoded with the shipped
    gazetteer whatever area the deployment has set (unless ``gazetteer`` is given)."""
    from hoth_geo.intake.gazetteer import load_gazetteer

    venues = pd.read_csv(settings.DEMO_DIR / "venues.csv", dtype={"place_id": str, "postcode_district": str})
    with engine.begin() as conn:
        store.upsert_places(conn, venues)
    return import_file(
        engine,
        settings.DEMO_DIR / "demo_reports.csv",
        is_demo=True,
        imported_by="demo",
        gazetteer=gazetteer or load_gazetteer(),
        progress=progress,
        today=date(2026, 11, 1),  # the demo ends 2026-10-31; later 'today's must not reject it either
    )


def delete_demo(engine: Engine, *, actor: str | None = None) -> int:
    """Remove the synthetic demo set: its reports, quarantine entries, import records and venues."""

    with engine.begin() as conn:
        demo_imports = [
            i
            for (i,) in conn.execute(sa.select(tables.imports.c.id).where(tables.imports.c.is_demo.is_(True)))
        ]
        demo_reports = (
            sa.select(tables.reports.c.id)
            .where(tables.reports.c.import_id.in_(demo_imports))
            .scalar_subquery()
        )
        conn.execute(
            tables.duplicate_flags.delete().where(
                tables.duplicate_flags.c.import_id.in_(demo_imports)
                | tables.duplicate_flags.c.report_id.in_(demo_reports)
                | tables.duplicate_flags.c.resembles_report_id.in_(demo_reports)
            )
        )
        conn.execute(
            tables.resubmissions.delete().where(
                tables.resubmissions.c.import_id.in_(demo_imports)
                | tables.resubmissions.c.report_id.in_(demo_reports)
            )
        )
        conn.execute(
            tables.reports.update()
            .where(tables.reports.c.merged_into.in_(demo_reports))
            .values(merged_into=None)
        )
        n = conn.execute(tables.reports.delete().where(tables.reports.c.import_id.in_(demo_imports))).rowcount
        conn.execute(tables.quarantine.delete().where(tables.quarantine.c.import_id.in_(demo_imports)))
        conn.execute(
            tables.police_context.delete().where(tables.police_context.c.import_id.in_(demo_imports))
        )
        conn.execute(tables.imports.delete().where(tables.imports.c.id.in_(demo_imports)))
        conn.execute(tables.places.delete().where(tables.places.c.source == "demo"))
        store.recount_data_version(conn)
        audit.record(conn, "demo_deleted", actor=actor, details={"reports": n})
    return n
