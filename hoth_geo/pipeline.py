"""One import, end to end: read -> normalise -> geocode -> de-duplicate -> store, in one transaction.

Every input row ends as exactly one of: a stored report (or police context row), a quarantine entry
with a reason, or a duplicate of something already stored. The summary always reconciles.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hoth_geo import audit, ingest, settings, store
from hoth_geo import geocode as geocoding
from hoth_geo.gazetteer import Gazetteer, load_gazetteer
from hoth_geo.hexes import latlng_to_cells

Progress = Callable[[float, str], None]

_CHUNK = 20_000  # rows per INSERT batch; progress is reported between batches


def _no_progress(_fraction: float, _message: str) -> None:
    return None


def raw_fingerprints(raw_json: pd.Series) -> np.ndarray:
    """Stable ids for quarantined rows, so re-importing a file does not quarantine them twice."""
    return np.array([hashlib.sha1(str(r).encode("utf-8")).hexdigest() for r in raw_json], dtype=object)


def _raw_json(raw: pd.DataFrame, row_numbers: np.ndarray) -> list[str]:
    # Row numbers are sheet rows; a workbook may have title rows above its header.
    positions = np.asarray(row_numbers, dtype=int) - int(raw.attrs.get("header_row", 1)) - 1
    return [raw.iloc[p].to_json(force_ascii=False) for p in positions]


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
) -> store.ImportSummary:
    """Import a sharing-form export or a police.uk street CSV. Raises ``ingest.ImportRefused`` when
    the file cannot be imported at all; nothing is stored then."""
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
    filename = ingest.safe_filename(given_name)
    # Refuse before reading: an oversized file must not be loaded into memory at all.
    if max_bytes is not None and size > max_bytes:
        raise ingest.ImportRefused(
            f'file "{filename}" is {size / 1e6:.1f} MB, over the upload limit of {max_bytes / 1e6:.1f} MB'
        )
    if not isinstance(source, bytes):
        data = path.read_bytes()
    file_sha = hashlib.sha256(data).hexdigest()
    progress(0.02, f"reading {filename}")
    raw = ingest.read_table(data, given_name, max_bytes=max_bytes)
    detected = ingest.detect_format(raw)
    if fmt is not None and fmt != detected:
        if fmt not in ("sharing_form", "policeuk"):
            raise ValueError(f"fmt must be 'sharing_form' or 'policeuk', got {fmt!r}")
        detected = fmt
    gaz = gazetteer or load_gazetteer()
    progress(0.1, f"checking {len(raw):,} rows")
    if detected == "policeuk":
        return _import_policeuk(engine, raw, filename, file_sha, gaz, is_demo, imported_by, progress)
    return _import_sharing_form(engine, raw, filename, file_sha, gaz, is_demo, imported_by, progress, today)


def _filter_quarantine_duplicates(conn: Connection, q: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    if q.empty:
        return q, 0
    q = q.copy()
    q["raw_fingerprint"] = raw_fingerprints(q["raw"])
    seen = set(
        conn.execute(
            sa.select(store.quarantine.c.raw_fingerprint).where(
                store.quarantine.c.raw_fingerprint.in_(q["raw_fingerprint"].tolist())
            )
        ).scalars()
    )
    dup = q["raw_fingerprint"].isin(seen).to_numpy() | q["raw_fingerprint"].duplicated().to_numpy()
    return q[~dup], int(dup.sum())


def _store_import(
    conn: Connection,
    *,
    fmt: str,
    filename: str,
    file_sha: str,
    is_demo: bool,
    imported_by: str | None,
    n_read: int,
    n_duplicate_rows: int,
    accepted: pd.DataFrame,
    insert_rows: Callable[[Connection, int, pd.DataFrame], int],
    quarantined: pd.DataFrame,
    warnings: list[str],
    progress: Progress,
    progress_start: float,
    label: str,
) -> store.ImportSummary:
    """Write one import's record, accepted rows and quarantine inside the caller's transaction."""
    quarantined, n_q_dups = _filter_quarantine_duplicates(conn, quarantined)
    import_id = store.insert_import(
        conn, filename=filename, file_sha256=file_sha, fmt=fmt, is_demo=is_demo, imported_by=imported_by
    )
    n_acc = _insert_in_chunks(
        conn, accepted, lambda c, f: insert_rows(c, import_id, f), progress, progress_start, 0.95, label
    )
    n_q = store.insert_quarantine(conn, import_id, quarantined)
    summary = store.ImportSummary(
        import_id=import_id,
        filename=filename,
        format=fmt,
        n_read=n_read,
        n_accepted=n_acc,
        n_quarantined=n_q,
        n_duplicates=n_duplicate_rows + n_q_dups,
        already_imported=n_acc == 0 and n_q == 0 and n_read > 0,
        warnings=tuple(warnings),
    )
    if not summary.reconciles:  # a bug, never a data problem: the caller's transaction rolls back
        raise RuntimeError(f"import of {filename} does not reconcile: {summary.describe()}")
    store.finish_import(conn, import_id, summary)
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
            "sha256": file_sha,
        },
    )
    return summary


def _import_sharing_form(
    engine: Engine,
    raw: pd.DataFrame,
    filename: str,
    file_sha: str,
    gaz: Gazetteer,
    is_demo: bool,
    imported_by: str | None,
    progress: Progress,
    today: date | None,
    fmt: str = "sharing_form",
) -> store.ImportSummary:
    result = ingest.normalise_sharing_form(raw, today=today)
    rows = result.rows
    progress(0.2, f"{len(rows):,} rows valid; checking for duplicates")
    extra_places = store.load_places(engine)
    with engine.begin() as conn:
        fingerprints, refs = store.existing_report_keys(conn)
        dup = store.mark_duplicate_reports(rows, fingerprints, refs)
        fresh = rows[~dup]
        progress(0.3, f"geocoding {len(fresh):,} rows")
        geo = geocoding.geocode(fresh, gaz, extra_places)
        geo_q = geo.quarantine.copy()
        geo_q["raw"] = _raw_json(raw, geo_q["row_number"].to_numpy())
        ingest_q = result.quarantine.copy()
        ingest_q["payload"] = None
        quarantined = pd.concat([ingest_q, geo_q], ignore_index=True).sort_values("row_number")
        summary = _store_import(
            conn,
            fmt=fmt,
            filename=filename,
            file_sha=file_sha,
            is_demo=is_demo,
            imported_by=imported_by,
            n_read=result.n_read,
            n_duplicate_rows=int(dup.sum()),
            accepted=geo.located,
            insert_rows=lambda c, import_id, f: store.insert_reports(c, import_id, f, is_demo=is_demo),
            quarantined=quarantined,
            warnings=result.warnings,
            progress=progress,
            progress_start=0.45,
            label="storing reports",
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
    result = ingest.normalise_policeuk(raw)
    rows = result.rows.reset_index(drop=True)
    inside = geocoding.in_study_area(
        gaz.study_area, rows["latitude"].to_numpy(float), rows["longitude"].to_numpy(float)
    )
    outside = rows[~inside]
    out_q = pd.DataFrame(
        {
            "row_number": outside["row_number"].to_numpy(),
            "reason": [
                f"row {r}: police.uk point {la:.5f}, {lo:.5f} lies outside the study area"
                for r, la, lo in zip(
                    outside["row_number"], outside["latitude"], outside["longitude"], strict=True
                )
            ],
            "field": "Longitude/Latitude",
            "value": [
                f"{la}, {lo}" for la, lo in zip(outside["latitude"], outside["longitude"], strict=True)
            ],
            "raw": _raw_json(raw, outside["row_number"].to_numpy()),
            "payload": None,
        }
    )
    rows = rows[inside].copy()
    rows["h3"] = latlng_to_cells(
        rows["latitude"].to_numpy(float), rows["longitude"].to_numpy(float), settings.FINE_H3_RES
    )
    with engine.begin() as conn:
        seen = store.existing_context_fingerprints(conn)
        dup = rows["fingerprint"].isin(seen).to_numpy() | rows["fingerprint"].duplicated().to_numpy()
        fresh = rows[~dup]
        q = result.quarantine.copy()
        q["payload"] = None
        quarantined = pd.concat([q, out_q], ignore_index=True).sort_values("row_number")
        summary = _store_import(
            conn,
            fmt="policeuk",
            filename=filename,
            file_sha=file_sha,
            is_demo=is_demo,
            imported_by=imported_by,
            n_read=result.n_read,
            n_duplicate_rows=int(dup.sum()),
            accepted=fresh,
            insert_rows=store.insert_context,
            quarantined=quarantined,
            warnings=result.warnings,
            progress=progress,
            progress_start=0.3,
            label="storing police context",
        )
    progress(1.0, summary.describe())
    return summary


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
        raw,
        ingest.safe_filename(name),
        hashlib.sha256(payload).hexdigest(),
        gazetteer or load_gazetteer(),
        False,
        imported_by,
        _no_progress,
        today,
        fmt=fmt,
    )


def all_places(engine: Engine, gazetteer: Gazetteer | None = None) -> pd.DataFrame:
    """Every place a report can be linked to: stored places (demo, analyst-added) then the gazetteer's."""
    gaz = gazetteer or load_gazetteer()
    stored = store.load_places(engine)
    frames = [f for f in (stored, gaz.places) if not f.empty]
    if not frames:
        return gaz.places.copy()
    return pd.concat(frames, ignore_index=True).drop_duplicates("place_id", keep="first")


def load_demo_data(
    engine: Engine, *, gazetteer: Gazetteer | None = None, progress: Progress | None = None
) -> store.ImportSummary:
    """Load the shipped synthetic demo set: its venues into places, then its reports via a normal import."""
    venues = pd.read_csv(settings.DEMO_DIR / "venues.csv", dtype={"place_id": str, "postcode_district": str})
    with engine.begin() as conn:
        store.upsert_places(conn, venues)
    return import_file(
        engine,
        settings.DEMO_DIR / "demo_reports.csv",
        is_demo=True,
        imported_by="demo",
        gazetteer=gazetteer,
        progress=progress,
        today=date(2026, 11, 1),  # the demo ends 2026-10-31; later 'today's must not reject it either
    )
