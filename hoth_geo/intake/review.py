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
from hoth_geo.intake import geocode, identity, pipeline, sharing_form
from hoth_geo.intake.gazetteer import Gazetteer
from hoth_geo.intake.headers import map_columns
from hoth_geo.schema import (
    AGENCY_TYPES,
    CANONICAL_COLUMNS,
    CONCERNS,
    INDICATORS,
    PLACE_TYPES,
    REVISION_COLUMNS,
    keys_to_mask,
)
from hoth_geo.store import tables
from hoth_geo.store.tables import QuarantineStatus

__all__ = [
    "resolve_quarantined",
    "needs_location",
    "needs_a_corrected_file",
    "WAITING_KINDS",
    "waiting_by_agency",
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
    "resolve_as_online",
    "CORRECTABLE_FIELDS",
    "correctable_cells",
    "store_corrected",
    "setting_as_written",
    "set_aside",
    "set_aside_rows",
    "restore",
    "Resolution",
    "last_resolution",
    "undo_resolution",
    "LocatedAgain",
    "locate_again",
    "tried_again_since",
]

q, imp, rep = store.quarantine, store.imports, store.reports


def _waiting(*columns, import_id: int | None = None, include_demo: bool = True) -> sa.Select:
    """``columns`` of the open quarantined rows an analyst can locate (those with a row to rebuild a
    report from), joined to their import: of one import when given, without the demo's if asked."""
    query = (
        sa.select(*columns)
        .select_from(q)
        .join(imp, imp.c.id == q.c.import_id)
        .where(q.c.status == QuarantineStatus.OPEN, q.c.payload.is_not(None))
    )
    if import_id is not None:
        query = query.where(q.c.import_id == int(import_id))
    if not include_demo:
        query = query.where(imp.c.is_demo.is_(False))
    return query


def needs_location(
    engine: Engine,
    *,
    import_id: int | None = None,
    include_demo: bool = True,
    limit: int | None = None,
    offset: int = 0,
) -> pd.DataFrame:
    """Open quarantined rows an analyst can locate, newest import first (rows in file order within it);
    ``limit`` of them from the ``offset``-th when given (a page lists a screenful of a backlog of
    thousands, and the next screenful on request).

    One row per entry: id, import_id, filename, imported_at, is_demo, row_number, reason and the
    row's own observed_at, agency, location_text, place_name, postcode (from its payload; no narrative).
    """
    query = _waiting(
        q.c.id,
        q.c.import_id,
        imp.c.filename,
        imp.c.imported_at,
        imp.c.is_demo,
        q.c.row_number,
        q.c.reason,
        q.c.payload,
        import_id=import_id,
        include_demo=include_demo,
    ).order_by(q.c.import_id.desc(), q.c.row_number, q.c.id)
    if limit is not None:
        query = query.limit(int(limit))
    if offset:
        query = query.offset(int(offset))
    with engine.connect() as conn:
        frame = pd.read_sql(query, conn)
    payloads = [json.loads(p) for p in frame.pop("payload")]
    for col in ("observed_at", "agency", "location_text", "place_name", "postcode"):
        frame[col] = [p.get(col) for p in payloads]
    frame["observed_at"] = pd.to_datetime(frame["observed_at"])
    frame["is_demo"] = frame["is_demo"].astype(bool)
    return frame


# What a row that needs a location lacks, from the quarantine entry's field (the column to put right)
# and whether the row gave a value there: (field, gave a value) -> kind.
# Short, to stand as column headers: "not placed" is not found, or found in several towns.
WAITING_KINDS = {
    ("postcode", True): "Postcode not in area",
    ("place name", True): "Place name not placed",
    ("location", True): "Street not placed",
    ("location", False): "No location",
    ("latitude/longitude", True): "Coordinates outside area",
    ("easting/northing", True): "Coordinates outside area",
}
OTHER_KIND = "Other"


def waiting_by_agency(
    engine: Engine, *, import_id: int | None = None, include_demo: bool = True
) -> pd.DataFrame:
    """The open rows that need a location, counted by the agency that sent them and what each lacks
    (``WAITING_KINDS``): one row per agency (``agency``; '' when the row named none), its ``rows``, and
    a column per kind that occurs; most rows first. Counted in the database from each entry's payload, without
    reading the rows: a partnership's data lead sees whose exports to put right, and what in them,
    before opening any row. For the Review page (police and analysts)."""
    agency = _payload_text(engine, "agency")
    gave = q.c.value.is_not(None)
    query = _waiting(
        agency.label("agency"),
        q.c.field,
        gave.label("gave"),
        sa.func.count().label("n"),
        import_id=import_id,
        include_demo=include_demo,
    ).group_by(agency, q.c.field, gave)
    with engine.connect() as conn:
        counts = pd.read_sql(query, conn)
    if counts.empty:
        return pd.DataFrame({"agency": pd.Series(dtype=object), "rows": pd.Series(dtype=np.int64)})
    counts["agency"] = counts["agency"].fillna("").astype(str)
    counts["kind"] = [
        WAITING_KINDS.get((f, bool(g)), OTHER_KIND)
        for f, g in zip(counts["field"], counts["gave"], strict=True)
    ]
    table = counts.pivot_table(index="agency", columns="kind", values="n", aggfunc="sum", fill_value=0)
    kinds = [k for k in dict.fromkeys([*WAITING_KINDS.values(), OTHER_KIND]) if k in table.columns]
    table = table[kinds].astype(np.int64)
    table.insert(0, "rows", table.sum(axis=1))
    table = table.reset_index().sort_values(["rows", "agency"], ascending=[False, True], ignore_index=True)
    table.columns.name = None
    return table


def _payload_text(engine: Engine, key: str):
    """The text of ``key`` in a quarantine entry's JSON payload, as the database reads it."""
    if engine.dialect.name == "postgresql":
        return sa.cast(q.c.payload, sa.dialects.postgresql.JSONB)[key].astext
    return sa.func.json_extract(q.c.payload, f"$.{key}")


def needs_a_corrected_file(engine: Engine, *, limit: int | None = None) -> tuple[pd.DataFrame, int]:
    """Open quarantined rows no one can locate in Review (a date that cannot be read, a changed
    resubmission of a stored report, ...): the file must be corrected and imported again. The first
    ``limit`` of them, newest import first (id, filename, row_number, reason), and how many there are."""
    other = q.c.status == QuarantineStatus.OPEN, q.c.payload.is_(None)
    query = (
        sa.select(q.c.id, imp.c.filename, q.c.row_number, q.c.reason)
        .join(imp, imp.c.id == q.c.import_id)
        .where(*other)
        .order_by(q.c.import_id.desc(), q.c.row_number, q.c.id)
    )
    if limit is not None:
        query = query.limit(int(limit))
    with engine.connect() as conn:
        frame = pd.read_sql(query, conn)
        total = conn.execute(sa.select(sa.func.count()).select_from(q).where(*other)).scalar_one()
    return frame, int(total)


def imports_waiting(engine: Engine) -> pd.DataFrame:
    """Imports with rows that need a location: id, filename, imported_at, is_demo, n (newest first)."""
    query = (
        _waiting(imp.c.id, imp.c.filename, imp.c.imported_at, imp.c.is_demo, sa.func.count().label("n"))
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
    words = _given(payload.get("time_text"))
    if payload.get("time_known"):
        text = f"{at:%a %d %b %Y}, {at:%H:%M}"
    else:  # a time said in words is shown as said
        text = f"{at:%a %d %b %Y}" + (f', "{words}"' if words else " (time not known)")
    return text + (" (approximate date)" if payload.get("date_approximate") else "")


def _given(value) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def setting_as_written(engine: Engine, quarantine_id: int) -> str | None:
    """What the row's Setting column said, from the row as the file had it (the normalised row keeps
    only whether it was read as online): what an analyst weighs before marking a row online."""
    with engine.connect() as conn:
        raw = conn.execute(sa.select(q.c.raw).where(q.c.id == int(quarantine_id))).scalar()
    if not raw:
        return None
    row = json.loads(raw)
    header = map_columns(row).get("setting")
    return _given(row.get(header)) if header is not None else None


def readable(payload: dict, setting: str | None = None) -> list[tuple[str, str]]:
    """The row as a person reads it: (label, text) pairs, 'not given' where the file had nothing.
    ``setting``: the Setting as written (``setting_as_written``), shown when given.

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
    if setting:
        rows.append(("Setting", setting))
    elif payload.get("online"):
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
    row = _payload_frame([payload])
    located = geocode.locate_manually(row, float(latitude), float(longitude), place, precision_m)
    return _resolve_open_entry(engine, int(quarantine_id), located, import_id=import_id, actor=actor)


def resolve_as_online(engine: Engine, quarantine_id: int, *, actor: str | None) -> int:
    """Store an open quarantined row as an online report (counted as online, never mapped): what an
    analyst decides when the row's setting named a platform or a kind of contact the import did not
    read as online. One transaction with its ``quarantine_resolved`` audit entry (method ``online``);
    undone like a location. Returns the report id.

    Raises KeyError for an unknown entry, ValueError for one that is not open or has no row."""
    payload, import_id = store.quarantine_payload(engine, int(quarantine_id))
    online = geocode.mark_online(_payload_frame([payload]))
    return _resolve_open_entry(engine, int(quarantine_id), online, import_id=import_id, actor=actor)


# The cells of a quarantined row an analyst may correct in Review: those whose text the import parses
# and can refuse (dates, times, numbers, references, codes). Not the identity (agency, source reference:
# the partner's), not the free text, and not vocabulary columns, which are never refused.
CORRECTABLE_FIELDS = (
    "date_observed",
    "time_observed",
    "date_received",
    "latitude",
    "longitude",
    "easting",
    "northing",
    "grid_reference",
    "location_accuracy",
    "postcode",
    "grading_source",
    "grading_information",
    "grading_handling",
)


def _open_row_as_sent(conn: Connection, quarantine_id: int) -> tuple[dict[str, str], dict[str, str], sa.Row]:
    """The row of an open entry of a sharing-form import as the partner sent it (header -> cell), its
    headers an analyst may correct (header -> ``CORRECTABLE_FIELDS`` field, in that order), and the
    entry. Refused (ValueError, saying why) for an entry that is not open or has no such row."""
    entry = conn.execute(
        sa.select(
            q.c.id,
            q.c.status,
            q.c.raw,
            q.c.payload,
            q.c.field,
            q.c.import_id,
            q.c.row_number,
            imp.c.format,
            imp.c.delimiter,
        )
        .join(imp, imp.c.id == q.c.import_id)
        .where(q.c.id == int(quarantine_id))
    ).one_or_none()
    if entry is None:
        raise KeyError(f"quarantine entry {quarantine_id} not found")
    if entry.status != QuarantineStatus.OPEN:
        raise ValueError(f"quarantine entry {quarantine_id} is already {entry.status}")
    if entry.format == "policeuk":
        raise ValueError(
            f"quarantine entry {quarantine_id} is a police.uk row: it is corrected at its source"
        )
    if entry.payload:
        raise ValueError(
            f"quarantine entry {quarantine_id} reads cleanly and needs a location: locate it instead"
        )
    cells = json.loads(entry.raw) if entry.raw else {}
    if not cells:
        raise ValueError(f"quarantine entry {quarantine_id} kept no row to correct")
    mapped = map_columns(list(cells))
    correctable = {mapped[f]: f for f in CORRECTABLE_FIELDS if f in mapped}
    return {str(h): "" if v is None else str(v) for h, v in cells.items()}, correctable, entry


def correctable_cells(engine: Engine, quarantine_id: int) -> pd.DataFrame:
    """The cells of an open quarantined row an analyst may correct (``CORRECTABLE_FIELDS`` its file
    has): ``header`` as the file wrote it, ``value`` as the partner sent it, ``at_fault`` for the
    field the quarantine reason names first. Raises as ``store_corrected`` does for an entry that
    cannot be corrected here."""
    with engine.connect() as conn:
        cells, correctable, entry = _open_row_as_sent(conn, quarantine_id)
    rows = [{"header": h, "value": cells[h], "at_fault": f == entry.field} for h, f in correctable.items()]
    frame = pd.DataFrame(rows, columns=["header", "value", "at_fault"])
    return frame.sort_values("at_fault", ascending=False, kind="stable", ignore_index=True)


def store_corrected(
    engine: Engine,
    quarantine_id: int,
    corrections: dict[str, str],
    gazetteer: Gazetteer | None = None,
    *,
    actor: str | None,
) -> int:
    """Store an open quarantined row with some of its cells corrected by an analyst (a latitude typed
    548.02165 for 54.802165, a date 31/02/2025): the row as the partner sent it, with ``corrections``
    (header -> the corrected text) in place of those cells, is read exactly as an import reads it and
    located with the area's gazetteer. When it reads and locates cleanly it is stored as a located row
    is (``resolve_quarantined``), in one transaction with its ``quarantine_resolved`` audit entry, which
    names each cell corrected with the partner's text and the analyst's; the entry keeps the row as
    the partner sent it, and the correction can be undone like a location. Returns the report id.

    Refused, with nothing changed (ValueError, saying why): a header the row does not have or that is not
    ``CORRECTABLE_FIELDS``, no cell changed, or a corrected row that would still be quarantined (the
    import's own reason) or cannot be located. KeyError for an unknown entry."""
    with engine.connect() as conn:
        cells, correctable, entry = _open_row_as_sent(conn, quarantine_id)
    changed: dict[str, dict[str, str]] = {}
    for header, text in corrections.items():
        if header not in correctable:
            raise ValueError(
                f"corrections: {header!r} is not a column this row can be corrected in (one of: "
                f"{', '.join(correctable) or 'none'})"
            )
        text = str(text).strip()
        if text != cells[header].strip():
            changed[header] = {"from": cells[header], "to": text}
    if not changed:
        raise ValueError(f"quarantine entry {quarantine_id}: nothing was corrected")
    row = pd.DataFrame(
        [{**cells, **{h: c["to"] for h, c in changed.items()}}], columns=list(cells), dtype=object
    )
    # Read as the row it was in its file, so a reason names the row the analyst is looking at, with
    # the file's separator (a semicolon-separated file writes comma decimals).
    row.attrs["header_row"] = int(entry.row_number) - 1
    row.attrs["delimiter"] = entry.delimiter
    read = sharing_form.normalise_sharing_form(row)
    if not read.quarantine.empty:
        why = plain_reason(read.quarantine["reason"].iloc[0])
        raise ValueError(f"not stored: the corrected row would still be quarantined: {why}")
    gaz = gazetteer or pipeline.area_gazetteer(engine)
    extra_places = pipeline.places_in_area(store.load_places(engine), gaz)
    geo = geocode.geocode_safely(read.rows, gaz, extra_places, coordinate_precision=read.coordinate_precision)
    if geo.located.empty:
        why = plain_reason(geo.quarantine["reason"].iloc[0])
        raise ValueError(f"not stored: the corrected row cannot be located: {why}")
    return _resolve_open_entry(
        engine,
        int(quarantine_id),
        geo.located,
        import_id=int(entry.import_id),
        actor=actor,
        details={"corrected": changed},
    )


def _resolve_open_entry(
    engine: Engine,
    quarantine_id: int,
    located: pd.DataFrame,
    *,
    import_id: int,
    actor: str | None,
    details: dict | None = None,
) -> int:
    with engine.begin() as conn:
        # Claimed by a conditional update first: of two analysts locating the same row at once, the
        # second waits for the first and then finds nothing open to claim.
        claimed = conn.execute(
            q.update()
            .where(q.c.id == int(quarantine_id), q.c.status == QuarantineStatus.OPEN)
            .values(status=QuarantineStatus.RESOLVED)
        ).rowcount
        if claimed != 1:
            raise ValueError(f"quarantine entry {quarantine_id} is already resolved")
        return resolve_quarantined(
            conn, int(quarantine_id), located, import_id=import_id, resolved_by=actor, details=details
        )


def set_aside(engine: Engine, quarantine_id: int, *, why: str, actor: str | None) -> None:
    """Take an open quarantined row out of Review without storing it (a row the partner withdrew, a
    test row, a report already shared another way): the entry is kept, marked ``set_aside``, and the
    decision and ``why`` are recorded as ``quarantine_set_aside`` in one transaction. Nothing is
    deleted; ``restore`` puts it back.

    Raises ValueError for a blank ``why`` or an entry that is not open, KeyError for an unknown one."""
    why = str(why or "").strip()
    if not why:
        raise ValueError("why: say why the row is set aside (it is recorded in the audit log)")
    qid = int(quarantine_id)
    with engine.begin() as conn:
        status = conn.execute(sa.select(q.c.status).where(q.c.id == qid)).scalar()
        if status is None:
            raise KeyError(f"quarantine entry {qid} not found")
        claimed = conn.execute(
            q.update()
            .where(q.c.id == qid, q.c.status == QuarantineStatus.OPEN)
            .values(
                status=QuarantineStatus.SET_ASIDE,
                resolved_at=datetime.now(UTC).replace(tzinfo=None),
                resolved_by=actor,
            )
        ).rowcount
        if claimed != 1:
            raise ValueError(f"quarantine entry {qid} is {status}, not open: nothing to set aside")
        store.bump_data_version(conn, quarantine_open=-1)
        audit.record(
            conn, "quarantine_set_aside", actor=actor, target=f"quarantine:{qid}", details={"why": why}
        )


def set_aside_rows(engine: Engine, *, limit: int | None = None) -> pd.DataFrame:
    """The rows set aside, newest decision first: id, filename, row_number, reason, resolved_at (when),
    resolved_by (who)."""
    query = (
        sa.select(q.c.id, imp.c.filename, q.c.row_number, q.c.reason, q.c.resolved_at, q.c.resolved_by)
        .join(imp, imp.c.id == q.c.import_id)
        .where(q.c.status == QuarantineStatus.SET_ASIDE)
        .order_by(q.c.resolved_at.desc(), q.c.id.desc())
    )
    if limit is not None:
        query = query.limit(int(limit))
    with engine.connect() as conn:
        return pd.read_sql(query, conn)


def restore(engine: Engine, quarantine_id: int, *, actor: str | None) -> None:
    """Put a row set aside back in Review, open as it was, recorded as ``quarantine_restored``."""
    qid = int(quarantine_id)
    with engine.begin() as conn:
        reopened = conn.execute(
            q.update()
            .where(q.c.id == qid, q.c.status == QuarantineStatus.SET_ASIDE)
            .values(status=QuarantineStatus.OPEN, resolved_at=None, resolved_by=None)
        ).rowcount
        if reopened != 1:
            raise ValueError(f"quarantine entry {qid} is not set aside: nothing to restore")
        store.bump_data_version(conn, quarantine_open=1)
        audit.record(conn, "quarantine_restored", actor=actor, target=f"quarantine:{qid}")


@dataclass(frozen=True)
class Resolution:
    """A resolved quarantine entry, as the page offers it for undo."""

    quarantine_id: int
    report_id: int
    filename: str
    row_number: int
    resolved_at: datetime
    resolved_by: str | None
    online: bool = False  # marked online rather than located
    corrected: bool = False  # stored with cells an analyst corrected (an entry that needed a corrected file)

    def describe(self) -> str:
        how = (
            "marked online (not mapped)"
            if self.online
            else "corrected and stored"
            if self.corrected
            else "located"
        )
        return f"{self.filename} row {self.row_number} (report {self.report_id}), {how} {self.resolved_at:%d %b %H:%M}"


def last_resolution(engine: Engine, *, resolved_by: str | None = None) -> Resolution | None:
    """The most recent resolution still in force (by ``resolved_by`` when given), or None."""
    query = (
        sa.select(
            q.c.id,
            q.c.resolved_report_id,
            imp.c.filename,
            q.c.row_number,
            q.c.resolved_at,
            q.c.resolved_by,
            rep.c.online,
            q.c.payload.is_(None).label("corrected"),
        )
        .join(imp, imp.c.id == q.c.import_id)
        .outerjoin(rep, rep.c.id == q.c.resolved_report_id)
        .where(q.c.status == QuarantineStatus.RESOLVED)
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
        bool(row.online),
        bool(row.corrected),
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
        if entry.status != QuarantineStatus.RESOLVED:
            raise ValueError(
                f"quarantine entry {qid} is {entry.status}, not resolved: its location was already undone"
                " (or never given); nothing to undo"
            )
        # Claimed by a conditional update first, so two undos of one resolution cannot both run.
        reopened = conn.execute(
            q.update()
            .where(q.c.id == qid, q.c.status == QuarantineStatus.RESOLVED)
            .values(status=QuarantineStatus.OPEN, resolved_report_id=None, resolved_at=None, resolved_by=None)
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
    located_again: bool = False,
    details: dict | None = None,
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
    revision_columns = [tables.reports.c[c] for c in REVISION_COLUMNS]
    existing = conn.execute(
        sa.select(tables.reports.c.id, tables.reports.c.fingerprint, *revision_columns).where(
            tables.reports.c.identity == key
        )
    ).one_or_none()
    details = {"method": str(frame["geocode_method"].iloc[0]), **(details or {})}
    if located_again:
        details["located_again"] = True
    if existing is not None:
        report_id = int(existing.id)
        details["same_identity_as_report"] = report_id
        stored_version = (existing.fingerprint, store.revision_of(existing._asdict()))
        if stored_version != (content, store.revision_of(frame.iloc[0])):
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
        .values(
            status=QuarantineStatus.RESOLVED,
            resolved_report_id=report_id,
            resolved_at=now,
            resolved_by=resolved_by,
        )
    )
    added = int(existing is None)
    store.bump_data_version(conn, reports=added, demo_reports=added * bool(imp.is_demo), quarantine_open=-1)
    audit.record(
        conn, "quarantine_resolved", actor=resolved_by, target=f"quarantine:{quarantine_id}", details=details
    )
    return report_id


# --- Locating rows again with the area's gazetteer ------------------------------------------------


@dataclass(frozen=True)
class LocatedAgain:
    """What ``locate_again`` did: the rows it tried, those it located (one row each: quarantine_id,
    filename, row_number, report_id, geocode_method, precision_m), and those left to an analyst."""

    n_tried: int
    located: pd.DataFrame
    n_still_open: int
    n_reason_changed: int
    n_with_coordinates: int  # not tried: what the file said of their precision is not kept
    n_resolved_meanwhile: int  # resolved by someone else while this ran

    def describe(self) -> list[str]:
        if not self.n_tried and not self.n_with_coordinates:
            return ["no row waits for a location"]

        def n_of(n: int, one: str, many: str) -> str:
            return f"{n:,} {one if n == 1 else many}"

        lines = [f"{n_of(self.n_tried, 'row', 'rows')} tried with the area's gazetteer"]
        if len(self.located):
            by_method = self.located["geocode_method"].value_counts()
            how = ", ".join(f"{n:,} by {m.replace('_', ' ')}" for m, n in by_method.items())
            lines.append(f"{len(self.located):,} located and stored ({how})")
        elif self.n_tried > self.n_resolved_meanwhile:
            lines.append("none could be located: the gazetteer does not know their places")
        if self.n_still_open:
            changed = f", {self.n_reason_changed:,} with a new reason" if self.n_reason_changed else ""
            lines.append(
                f"{n_of(self.n_still_open, 'still needs', 'still need')} a location in Review{changed}"
            )
        if self.n_with_coordinates:
            n, verb = self.n_with_coordinates, "was" if self.n_with_coordinates == 1 else "were"
            lines.append(
                f"{n:,} with coordinates outside the area {verb} left for an analyst (the decimals their"
                " file wrote them with, which state their radius, are not kept with them)"
            )
        if self.n_resolved_meanwhile:
            lines.append(
                f"{n_of(self.n_resolved_meanwhile, 'was', 'were')} located by someone else meanwhile"
            )
        return lines


def _payload_frame(payloads: list[dict]) -> pd.DataFrame:
    """The canonical rows of stored quarantine payloads (parsed), with the canonical dtypes."""
    frame = pd.DataFrame(payloads)
    for col, dtype in CANONICAL_COLUMNS.items():
        if col not in frame:
            frame[col] = None
        if dtype.startswith("datetime"):
            frame[col] = pd.to_datetime(frame[col])
        elif dtype == "float64":
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("float64")
        elif dtype in ("bool", "int64"):
            frame[col] = frame[col].astype(dtype)
        else:
            frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    return frame[list(CANONICAL_COLUMNS)]


def locate_again(
    engine: Engine,
    gazetteer: Gazetteer | None = None,
    *,
    actor: str | None,
    import_id: int | None = None,
    include_demo: bool = True,
) -> LocatedAgain:
    """Try the open rows that need a location again, as an import would locate them today: after the
    area's gazetteer was built or rebuilt, a row whose postcode, place name or street it now knows is
    stored as a report (as ``resolve_quarantined`` stores one: a report with the row's identity stored
    meanwhile is not stored twice), and a row still not located keeps waiting, with today's reason. Rows with
    coordinates or a grid reference are not tried: they lie outside the area, and the decimals their
    file gave (which state their radius) are not kept with them, so only an analyst can place them.

    One transaction, recorded as one ``quarantine_located_again`` audit entry with the counts and the
    entries located (a row resolved to a report with its identity also gets its own
    ``quarantine_resolved``, as in Review); each location can be undone in Review like one given by
    hand. The data version says reports were only added."""
    gaz = gazetteer or pipeline.area_gazetteer(engine)
    extra_places = pipeline.places_in_area(store.load_places(engine), gaz)
    columns = (q.c.id, q.c.import_id, imp.c.filename, q.c.row_number, q.c.reason, q.c.field, q.c.value)
    query = _waiting(*columns, q.c.payload, import_id=import_id, include_demo=include_demo).order_by(
        q.c.import_id, q.c.row_number, q.c.id
    )
    with engine.connect() as conn:
        entries = pd.read_sql(query, conn)
    located_cols = ["quarantine_id", "filename", "row_number", "report_id", "geocode_method", "precision_m"]
    if entries.empty:
        return LocatedAgain(0, pd.DataFrame(columns=located_cols), 0, 0, 0, 0)
    rows = _payload_frame([json.loads(p) for p in entries.pop("payload")])
    has_coordinates = (
        np.isfinite(rows["latitude"].to_numpy(float)) & np.isfinite(rows["longitude"].to_numpy(float))
    ) | (np.isfinite(rows["easting"].to_numpy(float)) & np.isfinite(rows["northing"].to_numpy(float)))
    entries, rows = entries[~has_coordinates], rows[~has_coordinates]
    if rows.empty:
        return LocatedAgain(0, pd.DataFrame(columns=located_cols), 0, 0, int(has_coordinates.sum()), 0)
    rows = rows.assign(quarantine_id=entries["id"].to_numpy())
    matcher = geocode.name_matcher(gaz, extra_places)
    located_parts, reasons = [], []
    # Row numbers are unique within an import, and a quarantine reason names its row: one import at a time.
    for iid, part in rows.groupby(entries["import_id"].to_numpy(), sort=True):
        geo = geocode.geocode_safely(part, gaz, extra_places, matcher=matcher)
        located_parts.append(geo.located.assign(import_id=int(iid)))
        left = part["quarantine_id"][~part["quarantine_id"].isin(geo.located["quarantine_id"])]
        reasons.append(geo.quarantine.assign(quarantine_id=left.to_numpy()))
    located = pd.concat(located_parts, ignore_index=True)
    still = pd.concat(reasons, ignore_index=True).merge(
        entries.rename(columns={"id": "quarantine_id"})[["quarantine_id", "reason", "field", "value"]],
        on="quarantine_id",
        suffixes=("", "_before"),
    )
    changed = still[still["reason"] != still["reason_before"]]
    with engine.begin() as conn:
        store.take_lock(conn)  # first, as every writing transaction does
        done, meanwhile = _store_located(conn, located, actor=actor)
        if len(changed):
            conn.execute(
                q.update()
                .where(q.c.id == sa.bindparam("qid"), q.c.status == QuarantineStatus.OPEN)
                .values(
                    reason=sa.bindparam("new_reason"),
                    field=sa.bindparam("new_field"),
                    value=sa.bindparam("new_value"),
                ),
                [
                    {
                        "qid": int(r.quarantine_id),
                        "new_reason": r.reason,
                        "new_field": r.field,
                        "new_value": None if pd.isna(r.value) else str(r.value),
                    }
                    for r in changed.itertuples(index=False)
                ],
            )
        filenames = entries.set_index("id")["filename"]
        result = LocatedAgain(
            n_tried=len(rows),
            located=done.assign(filename=filenames.reindex(done["quarantine_id"]).to_numpy())[located_cols],
            n_still_open=len(still),
            n_reason_changed=len(changed),
            n_with_coordinates=int(has_coordinates.sum()),
            n_resolved_meanwhile=meanwhile,
        )
        audit.record(
            conn,
            "quarantine_located_again",
            actor=actor,
            target=f"import:{import_id}" if import_id is not None else "quarantine",
            details={
                "area": getattr(gaz, "area_name", None),
                "tried": result.n_tried,
                "located": len(done),
                "still_open": result.n_still_open,
                "reason_changed": result.n_reason_changed,
                "with_coordinates": result.n_with_coordinates,
                "resolved_meanwhile": meanwhile,
                "import_id": import_id,
                "include_demo": include_demo,
                "quarantine_ids": sorted(int(i) for i in done["quarantine_id"]),
            },
        )
    return result


def tried_again_since(
    engine: Engine, since: datetime, *, import_id: int | None = None, include_demo: bool = True
) -> bool:
    """Whether ``locate_again`` ran since ``since`` (UTC) over at least the rows of this view: all
    imports or this one, demo rows included when the view includes them."""
    runs = audit.load_audit(engine, since=since, event="quarantine_located_again")
    for details in runs["details"]:
        ran = json.loads(details)
        if ran.get("import_id") not in (None, import_id):
            continue
        if include_demo and not ran.get("include_demo", True):
            continue
        return True
    return False


def _store_located(conn: Connection, located: pd.DataFrame, *, actor: str | None) -> tuple[pd.DataFrame, int]:
    """Store the rows ``locate_again`` located, in ``conn``'s transaction, as ``resolve_quarantined``
    stores one row, but a batch at a time: claim the entries still open, insert the reports whose
    identity no stored report has, flag those whose content another report has, resolve the entries.
    A row whose identity a stored report has (or an earlier row of the batch) goes through
    ``resolve_quarantined`` one at a time. Returns the rows stored (quarantine_id, row_number, report_id,
    geocode_method, precision_m) and how many entries were resolved by someone else meanwhile."""
    columns = ["quarantine_id", "row_number", "report_id", "geocode_method", "precision_m"]
    if located.empty:
        return pd.DataFrame(columns=columns), 0
    claimed: set[int] = set()
    for chunk in store.parameter_chunks([int(i) for i in located["quarantine_id"]]):
        claimed.update(
            conn.execute(
                q.update()
                .where(q.c.id.in_(chunk), q.c.status == QuarantineStatus.OPEN)
                .values(status=QuarantineStatus.RESOLVED)
                .returning(q.c.id)
            ).scalars()
        )
    meanwhile = len(located) - len(claimed)
    located = located[located["quarantine_id"].isin(claimed)].reset_index(drop=True)
    imports = {
        int(r.id): r
        for r in conn.execute(
            sa.select(imp.c.id, imp.c.is_demo, imp.c.file_sha256).where(
                imp.c.id.in_([int(i) for i in located["import_id"].unique()])
            )
        )
    }
    located["identity"] = None
    for iid, rows in located.groupby("import_id", sort=False):
        located.loc[rows.index, "identity"] = identity.report_identities(
            rows["agency"], rows["source_ref"], imports[int(iid)].file_sha256, rows["row_number"]
        )
    stored_keys: set[str] = set()
    for chunk in store.parameter_chunks(located["identity"].dropna().unique().tolist()):
        stored_keys.update(conn.execute(sa.select(rep.c.identity).where(rep.c.identity.in_(chunk))).scalars())
    one_by_one = (
        located["identity"].isin(stored_keys).to_numpy() | located["identity"].duplicated().to_numpy()
    )
    fresh = located[~one_by_one]
    now = datetime.now(UTC).replace(tzinfo=None)
    parts, n_new, n_demo = [], 0, 0
    for iid, rows in fresh.groupby("import_id", sort=True):
        last = store.max_id(conn, rep)
        is_demo = bool(imports[int(iid)].is_demo)
        n = store.insert_reports(
            conn, int(iid), rows.drop(columns=["quarantine_id", "import_id"]), is_demo=is_demo
        )
        ids = store.ids_by_row(conn, rep, int(iid), after_id=last)
        parts.append(rows.assign(report_id=ids.reindex(rows["row_number"]).to_numpy()))
        n_new, n_demo = n_new + n, n_demo + n * is_demo
    stored = pd.concat(parts, ignore_index=True) if parts else located.iloc[:0].assign(report_id=0)
    if len(stored):
        _flag_same_content(conn, stored, now)
        conn.execute(
            q.update()
            .where(q.c.id == sa.bindparam("qid"))
            .values(resolved_report_id=sa.bindparam("rid"), resolved_at=now, resolved_by=actor),
            [
                {"qid": int(a), "rid": int(b)}
                for a, b in zip(stored["quarantine_id"], stored["report_id"], strict=True)
            ],
        )
        store.bump_data_version(
            conn, reports=n_new, demo_reports=n_demo, quarantine_open=-len(stored), appended_only=True
        )
    singles = []
    for i in np.flatnonzero(one_by_one):
        one = located.iloc[[i]]
        report_id = resolve_quarantined(
            conn,
            int(one["quarantine_id"].iloc[0]),
            one.drop(columns=["quarantine_id", "import_id", "identity"]),
            import_id=int(one["import_id"].iloc[0]),
            resolved_by=actor,
            located_again=True,
        )
        singles.append(one.assign(report_id=report_id))
    done = pd.concat([stored, *singles], ignore_index=True).sort_values("quarantine_id")
    return done[columns].reset_index(drop=True), meanwhile


def _flag_same_content(conn: Connection, stored: pd.DataFrame, now: datetime) -> None:
    """Flag each new report whose content an earlier report has (not merged) as a possible duplicate
    of the earliest such report, as ``resolve_quarantined`` flags one."""
    earliest: dict[str, int] = {}
    for chunk in store.parameter_chunks(stored["fingerprint"].unique().tolist()):
        for fp, first in conn.execute(
            sa.select(rep.c.fingerprint, sa.func.min(rep.c.id))
            .where(rep.c.fingerprint.in_(chunk), rep.c.merged_into.is_(None))
            .group_by(rep.c.fingerprint)
        ):
            earliest[fp] = int(first)
    flags = [
        {
            "report_id": int(r.report_id),
            "resembles_report_id": earliest[r.fingerprint],
            "import_id": int(r.import_id),
            "status": "open",
            "flagged_at": now,
        }
        for r in stored.itertuples(index=False)
        if earliest.get(r.fingerprint, r.report_id) < r.report_id
    ]
    if flags:
        conn.execute(tables.duplicate_flags.insert(), flags)
