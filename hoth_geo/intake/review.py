"""Rows that need a location, as an analyst reads and resolves them in Review.

The rules live here, not in the page: which rows are shown (newest first, by import, demo or not),
how a row reads to a person, who may read its narrative (audited as ``casework`` audits report
narratives), and the transactions that locate a row and undo that location. Every resolution and
every undo is one transaction with its audit entry.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa
from rapidfuzz import fuzz, process
from sqlalchemy.engine import Connection, Engine

from hoth_geo import store
from hoth_geo.access import audit
from hoth_geo.access.auth import User
from hoth_geo.access.privacy import NotAllowed
from hoth_geo.intake import geocode, identity
from hoth_geo.schema import AGENCY_TYPES, CONCERNS, INDICATORS, PLACE_TYPES, keys_to_mask
from hoth_geo.store import tables

__all__ = [
    "resolve_quarantined",
    "needs_location",
    "imports_waiting",
    "plain_reason",
    "readable",
    "read_narrative",
    "place_candidates",
    "GENERIC_NAME_WORDS",
    "PLACE_KIND_WORDS",
    "plausible_candidates",
    "postcode_location",
    "resolve_with_location",
    "Resolution",
    "last_resolution",
    "undo_resolution",
]

q, imp, rep = store.quarantine, store.imports, store.reports


def needs_location(
    engine: Engine, *, import_id: int | None = None, include_demo: bool = True
) -> pd.DataFrame:
    """Open quarantined rows an analyst can locate, newest import first (rows in file order within it).

    One row per entry: id, import_id, filename, imported_at, is_demo, row_number, reason and the
    row's own observed_at, agency, location_text, place_name, postcode (from its payload; no narrative).
    """
    query = (
        sa.select(
            q.c.id,
            q.c.import_id,
            imp.c.filename,
            imp.c.imported_at,
            imp.c.is_demo,
            q.c.row_number,
            q.c.reason,
            q.c.payload,
        )
        .join(imp, imp.c.id == q.c.import_id)
        .where(q.c.status == "open", q.c.payload.is_not(None))
    )
    if import_id is not None:
        query = query.where(q.c.import_id == int(import_id))
    if not include_demo:
        query = query.where(imp.c.is_demo.is_(False))
    with engine.connect() as conn:
        frame = pd.read_sql(query.order_by(q.c.import_id.desc(), q.c.row_number, q.c.id), conn)
    payloads = [json.loads(p) for p in frame.pop("payload")]
    for col in ("observed_at", "agency", "location_text", "place_name", "postcode"):
        frame[col] = [p.get(col) for p in payloads]
    frame["observed_at"] = pd.to_datetime(frame["observed_at"])
    frame["is_demo"] = frame["is_demo"].astype(bool)
    return frame


def imports_waiting(engine: Engine) -> pd.DataFrame:
    """Imports with rows that need a location: id, filename, imported_at, is_demo, n (newest first)."""
    query = (
        sa.select(imp.c.id, imp.c.filename, imp.c.imported_at, imp.c.is_demo, sa.func.count().label("n"))
        .join(q, q.c.import_id == imp.c.id)
        .where(q.c.status == "open", q.c.payload.is_not(None))
        .group_by(imp.c.id, imp.c.filename, imp.c.imported_at, imp.c.is_demo)
        .order_by(imp.c.id.desc())
    )
    with engine.connect() as conn:
        return pd.read_sql(query, conn)


def plain_reason(reason: str) -> str:
    """The reason without its 'row N: ' prefix (the row is shown beside it)."""
    head, sep, rest = str(reason).partition(": ")
    return rest if sep and head.startswith("row ") and head[4:].isdigit() else str(reason)


def _when(payload: dict) -> str:
    at = pd.to_datetime(payload.get("observed_at"), errors="coerce")
    if pd.isna(at):
        return "not given"
    text = f"{at:%a %d %b %Y}" + (f", {at:%H:%M}" if payload.get("time_known") else " (time not known)")
    return text + (" (approximate date)" if payload.get("date_approximate") else "")


def _given(value) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def readable(payload: dict) -> list[tuple[str, str]]:
    """The row as a person reads it: (label, text) pairs, 'not given' where the file had nothing.

    Codes are turned into their labels (agency type, place type, concerns); no narrative here (see
    ``read_narrative``)."""
    agency = _given(payload.get("agency")) or "not given"
    kind = AGENCY_TYPES.get(payload.get("agency_type") or "", _given(payload.get("agency_type")))
    place_type = _given(payload.get("place_type"))
    concerns = [c for c in str(payload.get("concerns") or "").split("|") if c]
    received = pd.to_datetime(payload.get("date_received"), errors="coerce")
    rows = [
        ("Date observed", _when(payload)),
        ("Agency", f"{agency} ({kind})" if kind else agency),
        ("Location text", _given(payload.get("location_text")) or "not given"),
        ("Place name", _given(payload.get("place_name")) or "not given"),
        ("Place type", PLACE_TYPES.get(place_type, place_type) if place_type else "not given"),
        ("Postcode", _given(payload.get("postcode")) or "not given"),
        ("Concerns", ", ".join(CONCERNS.get(c, c) for c in concerns) or "none recorded"),
        ("Date received", "not given" if pd.isna(received) else f"{received:%d %b %Y}"),
        ("Source reference", _given(payload.get("source_ref")) or "none"),
    ]
    if payload.get("online"):
        rows.append(("Setting", "online"))
    return rows


def read_narrative(engine: Engine, quarantine_id: int, user: User) -> str | None:
    """The quarantined row's narrative for a user allowed to read narratives, recorded as read.

    Raises ``NotAllowed`` for a role without ``view_narratives`` (the rule of ``casework``)."""
    if not user.can("view_narratives"):
        raise NotAllowed(f"role {user.roles!r} may not read narratives")
    with engine.connect() as conn:
        raw = conn.execute(sa.select(q.c.payload).where(q.c.id == int(quarantine_id))).scalar_one_or_none()
    if raw is None:
        raise KeyError(f"quarantine entry {quarantine_id} not found or has no row to read")
    audit.record(
        engine,
        "narrative_viewed",
        actor=user.username,
        target=f"quarantine:{int(quarantine_id)}",
        details={"quarantine_ids": [int(quarantine_id)], "n": 1},
    )
    return _given(json.loads(raw).get("narrative"))


_CANDIDATE_COLUMNS = ["place_id", "name", "locality", "place_type", "latitude", "longitude"]

# Words that say what kind of place a name is, where it is on a street, or nothing at all, but not
# which place: 'Station Road Takeaway' shares 'station' with every bus and filling station and 'road'
# with every place on a road. A candidate must match the rest of a name, its distinctive words.
PLACE_KIND_WORDS = frozenset(
    {"station", "bus", "coach", "rail", "railway", "train", "metro", "interchange", "stop", "taxi"}
    | {"rank", "office", "petrol", "filling", "service", "services", "garage", "car", "park", "parking"}
    | {"playground", "field", "fields", "recreation", "ground", "pitches", "campus"}
    | {"hotel", "motel", "inn", "guest", "house", "lodge", "hostel", "takeaway", "cafe", "restaurant"}
    | {"shop", "shops", "store", "stores", "supermarket", "convenience", "market", "shopping", "centre"}
    | {"center", "mall", "arcade", "precinct", "school", "primary", "secondary", "academy", "college"}
    | {"university", "nursery", "pub", "bar", "club", "nightclub", "leisure", "sports", "sport", "gym"}
    | {"pool", "cinema", "hospital", "health", "surgery", "clinic", "library", "church", "hall"}
)
_OPTIONAL_WORDS = frozenset(
    {"road", "street", "avenue", "lane", "drive", "close", "crescent", "terrace", "gardens", "place"}
    | {"court", "square", "grove", "way", "walk", "parade", "row", "hill", "bank", "view", "estate"}
    | {"the", "and", "of", "at", "on", "near", "by", "in", "outside", "opposite", "behind", "next", "to"}
    | {"public", "open", "space", "area", "town", "city", "village", "fast", "food", "community", "youth"}
)
GENERIC_NAME_WORDS = PLACE_KIND_WORDS | _OPTIONAL_WORDS
# rapidfuzz ratios (0-100): a word of four letters or more is found as a word this close to it (one
# slip: 'Takeway' for 'Takeaway'); a name of generic words only must read as the candidate's name,
# less its own locality, this closely (token_sort_ratio: word order aside).
_WORD_CUTOFF = 80
_GENERIC_NAME_CUTOFF = 90
# Where the geocoder lists places in a reason: after 'places (', 'nearest names: ' or '; '.
_LISTED_AFTER = r"(?:(?<=\()|(?<=: )|(?<=; ))"


def _alike(word: str, vocabulary) -> set[str]:
    """``word`` and, from four letters, the words of ``vocabulary`` one slip away from it."""
    if len(word) < 4:
        return {word}
    near = process.extract(word, vocabulary, scorer=fuzz.ratio, score_cutoff=_WORD_CUTOFF, limit=None)
    return {word} | {w for w, _score, _ in near if len(w) >= 4}


def plausible_candidates(place_name: object, places: pd.DataFrame) -> np.ndarray:
    """True where a place plausibly is the one ``place_name`` names.

    With distinctive words (not in ``GENERIC_NAME_WORDS``): the place's name and locality hold each
    of them and each place-kind word of the name ('Saddler Street taxi rank': saddler, taxi, rank),
    a slip allowed, so sharing 'station' or 'park' is never enough. With none ('Petrol station',
    'Station Road Takeaway'): the place's name less its own locality reads as the name."""
    words = [w for w in geocode.name_key(place_name).split() if w not in _OPTIONAL_WORDS]
    if places.empty or not words:
        return np.zeros(len(places), dtype=bool)
    generic = sorted(GENERIC_NAME_WORDS)
    kinds = [w for w in words if _alike(w, generic) & GENERIC_NAME_WORDS]
    distinctive = [w for w in words if w not in kinds]
    # Each distinct name, locality and (name, locality) is read once: a gazetteer repeats names
    # ('Parking area') and has few localities.
    name_codes, name_uniques = pd.factorize(places["name"].fillna(""))
    town_codes, town_uniques = pd.factorize(places["locality"].fillna(""))
    codes, pairs = pd.factorize(name_codes.astype(np.int64) * (len(town_uniques) + 1) + town_codes)
    name_keys = [geocode.name_key(n) for n in name_uniques]
    town_keys = [geocode.name_key(t) for t in town_uniques]
    names = [name_keys[p // (len(town_uniques) + 1)] for p in pairs]
    towns = [town_keys[p % (len(town_uniques) + 1)] for p in pairs]
    if not distinctive:
        key = " ".join(words)
        own = [
            " ".join(w for w in n.split() if w not in set(t.split()) and w not in _OPTIONAL_WORDS)
            for n, t in zip(names, towns, strict=True)
        ]
        fits = np.array([fuzz.token_sort_ratio(key, k) >= _GENERIC_NAME_CUTOFF for k in own], dtype=bool)
        return fits[codes]
    held = [set(f"{n} {t}".split()) for n, t in zip(names, towns, strict=True)]
    vocabulary = sorted(set().union(*held))
    needed = [_alike(w, vocabulary) for w in distinctive + kinds]
    fits = np.array([all(have & alike for alike in needed) for have in held], dtype=bool)
    return fits[codes]


def _named_in_reason(reason: str, named: pd.DataFrame) -> pd.DataFrame:
    """The places a reason lists as 'Name (Locality)' or 'Name (Locality, Locality and 2 more)', in the
    reason's order. Names are looked up whole, so a name with its own brackets ('... (demo)') is found."""
    reason = str(reason or "")
    found: list[tuple[int, pd.DataFrame]] = []
    for name in pd.unique(named["name"]):
        if name not in reason:
            continue
        for match in re.finditer(_LISTED_AFTER + re.escape(name) + r" \(([^()]*)\)", reason):
            parts = [x.strip() for x in re.split(r",| and ", match.group(1)) if x.strip()]
            hits = named[named["name"] == name]
            if not any(x.endswith("more") for x in parts):
                hits = hits[hits["locality"].fillna("unknown locality").isin(parts)]
            found.append((match.start(), hits))
    found.sort(key=lambda pair: pair[0])
    return pd.concat([hits for _, hits in found]) if found else named.iloc[:0]


def place_candidates(payload: dict, reason: str, places: pd.DataFrame, limit: int = 8) -> pd.DataFrame:
    """The places the row may mean, best first: those the geocoder named in the reason (the places an
    ambiguous name matched, or the nearest names), else places whose name is close to the row's place
    name. Either way only places that plausibly match the row's place name (``plausible_candidates``:
    its distinctive words must be found in theirs, generic words such as station, road, park or hotel
    are not enough), so a name with 'station' in it is not offered every station. Fewer candidates,
    or none, rather than misleading ones. Empty when neither names a place."""
    named = places[places["name"].notna()]
    hits = _named_in_reason(reason, named)
    place_name = payload.get("place_name")
    key = geocode.name_key(place_name)
    if key:
        if hits.empty:
            # Every plausible place, closest first: rapidfuzz token_sort_ratio over the words of its
            # name and locality, so a place with fewer words besides the name's comes first.
            hits = named[plausible_candidates(place_name, named)]
            closeness = [
                fuzz.token_sort_ratio(key, " ".join(dict.fromkeys(geocode.text_tokens(f"{n} {t}"))))
                for n, t in zip(hits["name"], hits["locality"].fillna(""), strict=True)
            ]
            hits = hits.iloc[np.argsort(-np.asarray(closeness, dtype=float), kind="stable")]
        else:
            hits = hits[plausible_candidates(place_name, hits)]
    cols = _CANDIDATE_COLUMNS + (["postcode_district"] if "postcode_district" in hits else [])
    return hits[cols].drop_duplicates("place_id").head(limit).reset_index(drop=True)


def postcode_location(text: str, postcodes: pd.DataFrame) -> tuple[str, float, float, float] | None:
    """The postcode an analyst typed, normalised, and its unit in the gazetteer (``Gazetteer.postcodes``):
    (postcode, latitude, longitude, radius in metres), or None when it is not there."""
    from hoth_geo.intake.gazetteer import UNIT_MIN_RADIUS_M, normalise_postcode

    pc = normalise_postcode(pd.Series([text])).iloc[0]
    if not isinstance(pc, str) or not pc:
        return None
    hit = postcodes[postcodes["postcode"] == pc]
    if hit.empty:
        return None
    radius = float(geocode.layer_radius_m(hit.iloc[[0]], UNIT_MIN_RADIUS_M)[0])
    return pc, float(hit["latitude"].iloc[0]), float(hit["longitude"].iloc[0]), radius


def resolve_with_location(
    engine: Engine,
    quarantine_id: int,
    latitude: float,
    longitude: float,
    place: pd.Series | None = None,
    *,
    actor: str | None,
    precision_m: float | None = None,
) -> int:
    """Locate an open quarantined row at (latitude, longitude), or at ``place``: the row becomes a
    report (or resolves to the report with its identity) and the entry is resolved, in one
    transaction with its ``quarantine_resolved`` audit entry. Returns the report id.

    Raises KeyError for an unknown entry, ValueError for one that is not open or has no row."""
    payload, import_id = store.quarantine_payload(engine, int(quarantine_id))
    row = pd.DataFrame([payload])
    for c in ("observed_at", "date_received"):
        row[c] = pd.to_datetime(row[c])
    located = geocode.locate_manually(row, float(latitude), float(longitude), place, precision_m)
    with engine.begin() as conn:
        # Claimed by a conditional update first: of two analysts locating the same row at once, the
        # second waits for the first and then finds nothing open to claim.
        claimed = conn.execute(
            q.update().where(q.c.id == int(quarantine_id), q.c.status == "open").values(status="resolved")
        ).rowcount
        if claimed != 1:
            raise ValueError(f"quarantine entry {quarantine_id} is already resolved")
        return resolve_quarantined(conn, int(quarantine_id), located, import_id=import_id, resolved_by=actor)


@dataclass(frozen=True)
class Resolution:
    """A resolved quarantine entry, as the page offers it for undo."""

    quarantine_id: int
    report_id: int
    filename: str
    row_number: int
    resolved_at: datetime
    resolved_by: str | None

    def describe(self) -> str:
        return f"{self.filename} row {self.row_number} (report {self.report_id}), located {self.resolved_at:%d %b %H:%M}"


def last_resolution(engine: Engine, *, resolved_by: str | None = None) -> Resolution | None:
    """The most recent resolution still in force (by ``resolved_by`` when given), or None."""
    query = (
        sa.select(
            q.c.id, q.c.resolved_report_id, imp.c.filename, q.c.row_number, q.c.resolved_at, q.c.resolved_by
        )
        .join(imp, imp.c.id == q.c.import_id)
        .where(q.c.status == "resolved")
    )
    if resolved_by is not None:
        query = query.where(q.c.resolved_by == resolved_by)
    with engine.connect() as conn:
        row = conn.execute(query.order_by(q.c.resolved_at.desc(), q.c.id.desc()).limit(1)).one_or_none()
    if row is None:
        return None
    return Resolution(
        int(row.id),
        int(row.resolved_report_id),
        row.filename,
        int(row.row_number),
        row.resolved_at,
        row.resolved_by,
    )


def undo_resolution(engine: Engine, quarantine_id: int, *, actor: str | None) -> None:
    """Undo a location given in Review: delete the report it created (or the resubmission it left on
    the report with its identity) and reopen the entry, in one transaction with a
    ``quarantine_unresolved`` audit entry.

    Refused (ValueError, saying why) when the entry is not resolved (e.g. already undone), or when
    later decisions rest on the report: other reports merged into it or flagged against it, a decided
    resubmission, another entry resolved to it."""
    qid = int(quarantine_id)
    with engine.begin() as conn:
        entry = conn.execute(
            sa.select(q.c.id, q.c.import_id, q.c.row_number, q.c.status, q.c.resolved_report_id).where(
                q.c.id == qid
            )
        ).one_or_none()
        if entry is None:
            raise KeyError(f"quarantine entry {qid} not found")
        if entry.status != "resolved":
            raise ValueError(
                f"quarantine entry {qid} is {entry.status}, not resolved: its location was already undone"
                " (or never given); nothing to undo"
            )
        # Claimed by a conditional update first, so two undos of one resolution cannot both run.
        reopened = conn.execute(
            q.update()
            .where(q.c.id == qid, q.c.status == "resolved")
            .values(status="open", resolved_report_id=None, resolved_at=None, resolved_by=None)
        ).rowcount
        if reopened != 1:
            raise ValueError(f"quarantine entry {qid} is no longer resolved: its location was already undone")
        report_id = int(entry.resolved_report_id)
        report = conn.execute(
            sa.select(rep.c.import_id, rep.c.row_number, rep.c.is_demo, rep.c.merged_into).where(
                rep.c.id == report_id
            )
        ).one_or_none()
        # The resolution created the report when the report is this very row of this very import;
        # otherwise it resolved to a report with the same identity stored earlier, which stays.
        created = report is not None and (report.import_id, report.row_number) == (
            entry.import_id,
            entry.row_number,
        )
        details: dict = {"report_id": report_id, "report_deleted": created}
        resub = store.resubmissions
        left = conn.execute(
            sa.select(resub.c.id, resub.c.status).where(
                resub.c.import_id == entry.import_id,
                resub.c.row_number == entry.row_number,
                resub.c.report_id == report_id,
            )
        ).all()
        decided = [r for r in left if r.status != "open"]
        if decided:
            raise ValueError(
                f"quarantine entry {qid} cannot be undone: the resubmission it left on report {report_id}"
                f" was already {decided[0].status}"
            )
        if created:
            _refuse_if_relied_on(conn, qid, report_id)
            flags = store.duplicate_flags
            conn.execute(flags.delete().where(flags.c.report_id == report_id))
            conn.execute(rep.delete().where(rep.c.id == report_id))
        if left:
            conn.execute(resub.delete().where(resub.c.id.in_([r.id for r in left])))
            details["resubmissions_removed"] = [int(r.id) for r in left]
        removed = int(created and report.merged_into is None)  # a merged report was not counted
        store.bump_data_version(
            conn,
            reports=-removed,
            demo_reports=-removed * bool(created and report.is_demo),
            quarantine_open=1,
        )
        audit.record(conn, "quarantine_unresolved", actor=actor, target=f"quarantine:{qid}", details=details)


def _refuse_if_relied_on(conn, quarantine_id: int, report_id: int) -> None:
    flags = store.duplicate_flags
    checks = (
        (
            sa.select(sa.func.count()).where(rep.c.merged_into == report_id),
            "other reports are merged into it",
        ),
        (
            sa.select(sa.func.count()).where(flags.c.resembles_report_id == report_id),
            "other reports are flagged as possible duplicates of it",
        ),
        (
            sa.select(sa.func.count()).where(store.resubmissions.c.report_id == report_id),
            "resubmissions of it wait or were decided",
        ),
        (
            sa.select(sa.func.count()).where(q.c.resolved_report_id == report_id, q.c.id != quarantine_id),
            "other quarantined rows were resolved to it",
        ),
    )
    for query, why in checks:
        if conn.execute(query).scalar():
            raise ValueError(
                f"quarantine entry {quarantine_id} cannot be undone: report {report_id} is in use ({why})"
            )


def resolve_quarantined(
    conn: Connection,
    quarantine_id: int,
    located_row: pd.DataFrame,
    *,
    import_id: int,
    resolved_by: str | None,
) -> int:
    """Store an analyst-located quarantined row as a report and mark the quarantine entry resolved.

    Returns the report the row now counts as. When a report with the row's identity (agency and
    source reference) was stored meanwhile, no second report is created: the entry resolves to that
    report, and a changed content is recorded as a resubmission for Review. A row whose content is
    identical to another report's is stored and flagged as a possible duplicate.
    """

    frame = located_row.copy()
    frame["import_id"] = import_id
    imp = conn.execute(
        sa.select(tables.imports.c.is_demo, tables.imports.c.file_sha256).where(
            tables.imports.c.id == import_id
        )
    ).one()
    frame["is_demo"] = bool(imp.is_demo)
    frame["identity"] = identity.report_identities(
        frame["agency"], frame["source_ref"], imp.file_sha256, frame["row_number"]
    )
    frame["merged_into"] = None
    now = datetime.now(UTC).replace(tzinfo=None)
    key, content = frame["identity"].iloc[0], frame["fingerprint"].iloc[0]
    existing = conn.execute(
        sa.select(tables.reports.c.id, tables.reports.c.fingerprint).where(tables.reports.c.identity == key)
    ).one_or_none()
    details: dict = {"method": str(frame["geocode_method"].iloc[0])}
    if existing is not None:
        report_id = int(existing.id)
        details["same_identity_as_report"] = report_id
        if existing.fingerprint != content:
            result = conn.execute(
                tables.resubmissions.insert().values(
                    import_id=import_id,
                    row_number=int(frame["row_number"].iloc[0]),
                    report_id=report_id,
                    fingerprint=content,
                    payload=identity.row_payloads(frame)[0],
                    status="open",
                    received_at=now,
                )
            )
            details["resubmission_id"] = int(result.inserted_primary_key[0])
    else:
        frame["concerns_mask"] = keys_to_mask(frame["concerns"], CONCERNS)
        frame["indicators_mask"] = keys_to_mask(frame["indicators"], INDICATORS)
        cols = [c.name for c in tables.reports.columns if c.name != "id"]
        result = conn.execute(tables.reports.insert(), store.to_records(frame, cols)[0])
        report_id = int(result.inserted_primary_key[0])
        twin = conn.execute(
            sa.select(sa.func.min(tables.reports.c.id)).where(
                tables.reports.c.fingerprint == content,
                tables.reports.c.id != report_id,
                tables.reports.c.merged_into.is_(None),
            )
        ).scalar()
        if twin is not None:
            conn.execute(
                tables.duplicate_flags.insert().values(
                    report_id=report_id,
                    resembles_report_id=int(twin),
                    import_id=import_id,
                    status="open",
                    flagged_at=now,
                )
            )
            details["possible_duplicate_of"] = int(twin)
    details["report_id"] = report_id
    conn.execute(
        tables.quarantine.update()
        .where(tables.quarantine.c.id == quarantine_id)
        .values(status="resolved", resolved_report_id=report_id, resolved_at=now, resolved_by=resolved_by)
    )
    added = int(existing is None)
    store.bump_data_version(conn, reports=added, demo_reports=added * bool(imp.is_demo), quarantine_open=-1)
    audit.record(
        conn, "quarantine_resolved", actor=resolved_by, target=f"quarantine:{quarantine_id}", details=details
    )
    return report_id
