"""Share information: one partnership information-sharing report entered in the app.

A practitioner fills in the sharing form on the Share information page; this module checks it
(field-level messages in plain words), turns it into a one-row sharing-form frame with the
template's headers and stores it through the import pipeline (``pipeline.import_form_rows``): the
same normalisation, duplicate rules, geocoding cascade, quarantine ("needs a location", for Review)
and audit entry as a file import, under an import record of its own format ``form``.

Who may do what is decided in ``hoth_geo.access.auth`` and checked here, not only by the page: every entry
point takes the signed-in ``User`` and calls ``auth.require(user, "submit")``. Contributors (partner
practitioners) hold only ``submit``: they can send reports and list their own submissions, nothing else.

A submission carries a token made by the form when it is opened. The token becomes the report's
source reference (``SHR-...``), so sending the same form twice (a double click, a retry after an
error) stores it once and returns the first receipt.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa
from rapidfuzz import fuzz, utils
from sqlalchemy.engine import Engine

from hoth_geo import settings, store
from hoth_geo.access import auth
from hoth_geo.errors import InvalidInput
from hoth_geo.intake import geocode as geocoding
from hoth_geo.intake import pipeline, sharing_form
from hoth_geo.intake.gazetteer import Gazetteer, load_gazetteer, normalise_postcode
from hoth_geo.intake.parsers import is_latitude_longitude, parse_times, written_grid_reference
from hoth_geo.schema import (
    AGENCY_TYPES,
    CONCERNS,
    GEOCODE_METHODS,
    GRADING_HANDLING,
    GRADING_INFORMATION,
    GRADING_SOURCE,
    INDICATORS,
    PLACE_TYPES,
    TEMPLATE_COLUMNS,
)
from hoth_geo.store.tables import QuarantineStatus, account_agencies, share_drafts

FORM_FORMAT = "form"  # imports.format of a submitted form
REFERENCE_PREFIX = "SHR-"
MAX_TEXT = 10_000  # the same cut-off ingest applies to any text cell
MAX_SHORT = 200
MAX_CHILD_REF = 64
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_TIME_RE = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")


_CLOCK_WORDS = re.compile(
    r"\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|half|quarter|o'?clock)\b", re.I
)


def _time_in_words(text: str) -> bool:
    """'after school': a time of day the import keeps in words, with the time unknown (as a file's)."""
    return bool(parse_times(pd.Series([text], dtype=object))[3][0])


# Stored places that may be offered in the type-ahead: public map points and the demo's generic venues.
# Places analysts add in Review are not offered: their names can carry what the partnership knows.
_PUBLIC_PLACE_SOURCES = frozenset({"policeuk_landmark", "osm", "demo"})

# Statuses a reporter sees for their own submissions.
STATUS_LABELS = {
    "located": "Received and placed on the map",
    "online": "Received (online: counted, not placed on the map)",
    "needs_location": "Received; needs a location (an analyst will place it)",
    "already_shared": "Received; the same report was already shared",
    "held": "Received; held for checking by an analyst",
    "set_aside": "Received; set aside by an analyst (not counted)",
}

# Plain-words explanation of the 3x5x2 grading, shown beside the form.
GRADING_SOURCE_HELP = {
    "1": "1 — Reliable: you saw it yourself, or the person who told you has been right before",
    "2": "2 — Untested: the person who told you is not known to be reliable or unreliable",
    "3": "3 — Not reliable: there is reason to doubt the person who told you",
}
GRADING_INFORMATION_HELP = {
    "A": "A — Known directly to you (you saw or heard it)",
    "B": "B — Known indirectly, but the person who told you saw or heard it",
    "C": "C — Known indirectly, and it fits what else is known",
    "D": "D — Known indirectly and cannot be checked",
    "E": "E — Suspected to be false or made up",
}
GRADING_HANDLING_HELP = {
    "P": "P — It may be shared lawfully with other agencies to keep children safe",
    "C": "C — Conditions apply: say what they are in 'What was seen'",
}


class SubmissionInvalid(ValueError):
    """The form has problems; ``errors`` maps each field to a message naming it in plain words."""

    def __init__(self, errors: Mapping[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(self.errors.values()))


_NOTE_RE = re.compile(r"\([^)]*\)")


def _search_key(name: object) -> str:
    # '(demo)' and similar parenthesised notes are not part of how people type a place's name.
    return utils.default_process(_NOTE_RE.sub(" ", str(name)))


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# --- The form --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    """What the reporter entered. ``where`` is one of: a place, street or postcode (``place_name``,
    ``location_text``, ``postcode``), a map point (``latitude``/``longitude``), or ``online``."""

    token: str
    observed_on: date | None = None
    observed_time: str | None = None  # 'HH:MM' when known, or words ('after school') when roughly
    online: bool = False
    place_name: str | None = None
    location_text: str | None = None
    postcode: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    # How far the map point may be from where it happened, in metres: a click is as precise as the
    # zoom it was made at (``geocode.map_click_radius_m``).
    accuracy_m: float | None = None
    place_type: str | None = None
    concerns: tuple[str, ...] = ()
    indicators: tuple[str, ...] = ()
    what_was_seen: str = ""
    people_of_concern: str | None = None
    vehicles: str | None = None
    child_ref: str | None = None
    grading_source: str | None = None
    grading_information: str | None = None
    grading_handling: str | None = None

    @property
    def reference(self) -> str:
        return reference_for(self.token)

    def has_location(self) -> bool:
        return bool(
            self.online
            or _text(self.place_name)
            or _text(self.location_text)
            or _text(self.postcode)
            or (self.latitude is not None and self.longitude is not None)
        )


@dataclass(frozen=True)
class AccountAgency:
    """The agency, agency type and contact an account's shared reports carry."""

    agency: str
    agency_type: str
    contact: str | None = None


@dataclass(frozen=True)
class Receipt:
    """What the reporter is told once the form is stored."""

    reference: str  # 'SHR-…': quote it to the police
    status: str  # STATUS_LABELS key
    received_at: datetime
    import_id: int
    report_id: int | None = None
    already_received: bool = False  # True when this form had been sent before (a double click)

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]


def reference_for(token: str) -> str:
    """The human-readable reference of a form: stable for its token, short enough to read out."""
    digest = hashlib.sha256(str(token).encode("utf-8")).hexdigest()[:10].upper()
    return f"{REFERENCE_PREFIX}{digest[:5]}-{digest[5:]}"


def new_token() -> str:
    """A random token that makes one form's submission idempotent (a double click stores one report)."""
    import secrets

    return secrets.token_urlsafe(18)


def _text(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value).strip()


def validate(submission: Submission, *, study_area=None, today: date | None = None) -> dict[str, str]:
    """Field -> message for every problem; empty when the form can be sent."""
    today = today or date.today()
    s = submission
    errors: dict[str, str] = {}
    if not isinstance(s.token, str) or not _TOKEN_RE.match(s.token):
        errors["token"] = "Form token: the form was not opened properly; reload the page and try again."
    if s.observed_on is None:
        errors["observed_on"] = "When it was seen: enter the date you saw it (an approximate date is fine)."
    elif not isinstance(s.observed_on, date):
        errors["observed_on"] = f"When it was seen: {s.observed_on!r} is not a date."
    elif s.observed_on > today:
        errors["observed_on"] = f"When it was seen: {s.observed_on:%d/%m/%Y} is in the future."
    elif s.observed_on < (earliest := date.fromisoformat(settings.EARLIEST_PLAUSIBLE_DATE)):
        errors["observed_on"] = (
            f"When it was seen: {s.observed_on:%d/%m/%Y} is before {earliest:%d/%m/%Y}; check the year."
        )
    seen_at = _text(s.observed_time)
    if seen_at and _CLOCK_WORDS.search(seen_at) and not _TIME_RE.match(seen_at):
        # A clock time in words ('half nine') is a time the reporter knows: ask for it, am or pm.
        errors["observed_time"] = (
            f"Time seen: {seen_at!r} is not a time; write it as 24-hour HH:MM (e.g. 21:30 for half past"
            " nine in the evening)."
        )
    elif seen_at and not _TIME_RE.match(seen_at) and not _time_in_words(seen_at):
        errors["observed_time"] = (
            f"Time seen: {seen_at!r} is not a time; write it as 24-hour HH:MM (e.g. 21:30), in words if you"
            " only know roughly (e.g. after school), or leave it blank if you do not know."
        )
    if not s.has_location():
        errors["where"] = (
            "Where: search for a place, street or postcode, click the map, or choose 'Online' "
            "if it happened online."
        )
    has_lat, has_lon = s.latitude is not None, s.longitude is not None
    if has_lat != has_lon:
        errors["where"] = "Where: the map point is incomplete; click the map again."
    elif has_lat and not s.online:
        lat, lon = float(s.latitude), float(s.longitude)
        if (
            not (-90 <= lat <= 90 and -180 <= lon <= 180)
            or not geocoding.in_study_area(study_area, np.array([lat]), np.array([lon]))[0]
        ):
            errors["where"] = "Where: the point you clicked is outside the area this system covers."
        elif (
            s.accuracy_m is not None and not 0 <= float(s.accuracy_m) <= sharing_form.MAX_LOCATION_ACCURACY_M
        ):
            errors["where"] = "Where: the map point's accuracy is not a distance; click the map again."
    for name, label in (("place_name", "Place"), ("location_text", "Location"), ("postcode", "Postcode")):
        if len(_text(getattr(s, name))) > MAX_SHORT:
            errors["where"] = f"Where: the {label.lower()} is longer than {MAX_SHORT} characters."
    if not s.place_type:
        errors["place_type"] = "Place type: choose the kind of place ('Other / unknown' if you are not sure)."
    elif s.place_type not in PLACE_TYPES:
        errors["place_type"] = f"Place type: {s.place_type!r} is not one of the listed kinds of place."
    if not s.concerns:
        errors["concerns"] = "Concerns: choose at least one concern ('Other' if none fits)."
    elif unknown := [c for c in s.concerns if c not in CONCERNS]:
        errors["concerns"] = f"Concerns: {', '.join(map(repr, unknown))} is not a listed concern."
    if unknown := [i for i in s.indicators if i not in INDICATORS]:
        errors["indicators"] = f"Possible signs: {', '.join(map(repr, unknown))} is not a listed sign."
    seen = _text(s.what_was_seen)
    if not seen:
        errors["what_was_seen"] = "What was seen: describe what you saw or were told."
    elif len(seen) > MAX_TEXT:
        errors["what_was_seen"] = (
            f"What was seen: {len(seen):,} characters is more than the {MAX_TEXT:,} allowed; shorten it."
        )
    for name, label in (("people_of_concern", "People of concern"), ("vehicles", "Vehicles")):
        if len(_text(getattr(s, name))) > MAX_TEXT:
            errors[name] = f"{label}: more than {MAX_TEXT:,} characters; shorten it."
    if len(_text(s.child_ref)) > MAX_CHILD_REF:
        errors["child_ref"] = (
            f"Child reference: use your agency's reference for the child (at most {MAX_CHILD_REF} "
            "characters), never a name."
        )
    for name, label, allowed in (
        ("grading_source", "Source grading", GRADING_SOURCE),
        ("grading_information", "Information grading", GRADING_INFORMATION),
        ("grading_handling", "Handling code", GRADING_HANDLING),
    ):
        value = getattr(s, name)
        if not value:
            errors[name] = f"{label}: choose one of {', '.join(allowed)} (see the explanation beside it)."
        elif value not in allowed:
            errors[name] = f"{label}: {value!r} is not one of {', '.join(allowed)}."
    return errors


def _narrative(s: Submission, contact: str | None = None) -> str:
    # People and vehicles have no columns of their own in the sharing form: they travel in the
    # narrative under plain headings, so nothing the reporter typed is dropped.
    parts = [_text(s.what_was_seen)]
    if _text(s.people_of_concern):
        parts.append(f"People of concern: {_text(s.people_of_concern)}")
    if _text(s.vehicles):
        parts.append(f"Vehicles: {_text(s.vehicles)}")
    if _text(contact):
        parts.append(f"Reporter contact: {_text(contact)}")
    return "\n\n".join(parts)


def to_form_frame(s: Submission, agency: AccountAgency, *, received_on: date | None = None) -> pd.DataFrame:
    """The one-row sharing-form frame (template headers, text cells) the import pipeline reads."""
    received_on = received_on or date.today()
    row = {c: "" for c in TEMPLATE_COLUMNS}
    row.update(
        {
            "Source reference": s.reference,
            "Date received": received_on.isoformat(),
            "Date observed": s.observed_on.isoformat() if isinstance(s.observed_on, date) else "",
            "Time observed": _text(s.observed_time),
            "Reporting agency": agency.agency,
            "Agency type": agency.agency_type,
            "Place type": s.place_type or "",
            "Setting": "Online" if s.online else "In person",
            "Concerns": ";".join(s.concerns),
            "Indicators": ";".join(s.indicators),
            "Source grading": s.grading_source or "",
            "Information grading": s.grading_information or "",
            "Handling code": s.grading_handling or "",
            "Narrative": _narrative(s, agency.contact),
            "Child reference": _text(s.child_ref),
        }
    )
    if not s.online:
        row.update(
            {
                "Location": _text(s.location_text),
                "Place name": _text(s.place_name),
                "Postcode": _text(s.postcode),
                "Latitude": "" if s.latitude is None else f"{float(s.latitude):.6f}",
                "Longitude": "" if s.longitude is None else f"{float(s.longitude):.6f}",
                # Whole metres, rounded up: the form never states a point tighter than it was given.
                "Location accuracy (m)": "" if s.accuracy_m is None else str(math.ceil(float(s.accuracy_m))),
            }
        )
    return pd.DataFrame([row], columns=list(TEMPLATE_COLUMNS), dtype=object)


# --- Where it will land -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    """Where the geocoding cascade would put the report now, and how precisely."""

    located: bool
    online: bool = False
    method: str | None = None  # GEOCODE_METHODS key
    confidence: float | None = None  # 0..1
    precision_m: float | None = None  # the radius within which the true location lies
    latitude: float | None = None
    longitude: float | None = None
    place_id: str | None = None
    place_label: str | None = None  # the matched place's name, when it is a public map point
    message: str = ""

    @property
    def method_label(self) -> str:
        return GEOCODE_METHODS.get(self.method or "", "")


def _public_places(engine: Engine | None, gaz: Gazetteer) -> pd.DataFrame:
    frames = [gaz.places]
    if engine is not None:
        stored = store.load_places(engine)
        frames.insert(0, stored[stored["source"].isin(_PUBLIC_PLACE_SOURCES)])
    frames = [f for f in frames if not f.empty]
    if not frames:
        return gaz.places.iloc[:0]
    return pd.concat(frames, ignore_index=True).drop_duplicates("place_id", keep="first")


def _geocode_form(
    s: Submission, gaz: Gazetteer, extra_places: pd.DataFrame | None, today: date
) -> geocoding.GeocodeResult | None:
    probe = Submission(
        token="preview-token-0000",
        observed_on=today,
        online=s.online,
        place_name=s.place_name,
        location_text=s.location_text,
        postcode=s.postcode,
        latitude=s.latitude,
        longitude=s.longitude,
        accuracy_m=s.accuracy_m,
        place_type=s.place_type if s.place_type in PLACE_TYPES else None,
        concerns=("other",),
        what_was_seen="preview",
    )
    result = sharing_form.normalise_sharing_form(
        to_form_frame(probe, AccountAgency("preview", "other"), received_on=today), today=today
    )
    if result.rows.empty:
        return None
    return geocoding.geocode(result.rows, gaz, extra_places, coordinate_precision=result.coordinate_precision)


def preview(
    user: auth.User | None,
    submission: Submission,
    *,
    engine: Engine | None = None,
    gazetteer: Gazetteer | None = None,
    extra_places: pd.DataFrame | None = None,
    today: date | None = None,
) -> Preview:
    """Run the import's geocoding cascade on the form's location, storing nothing.

    ``extra_places`` defaults to the stored places (as an import uses them) when ``engine`` is given.
    """
    auth.require(user, "submit")
    today = today or date.today()
    gaz = gazetteer or load_gazetteer()
    if submission.online:
        return Preview(located=False, online=True, method="online", message="Online: counted, not mapped.")
    if not submission.has_location():
        return Preview(located=False, message="Search for a place, street or postcode, or click the map.")
    if extra_places is None and engine is not None:
        extra_places = store.load_places(engine)
    result = _geocode_form(submission, gaz, extra_places, today)
    if result is None:
        return Preview(located=False, message="This location cannot be read; check what you typed.")
    if not result.located.empty:
        r = result.located.iloc[0]
        place_id = r["place_id"] if isinstance(r["place_id"], str) else None
        label = None
        if place_id:
            public = _public_places(None, gaz)
            if extra_places is not None and not extra_places.empty:
                extra = extra_places[extra_places["source"].isin(_PUBLIC_PLACE_SOURCES)]
                public = pd.concat([extra, public], ignore_index=True)
            hit = public.loc[public["place_id"] == place_id, "name"]
            label = str(hit.iloc[0]) if len(hit) else None
        return Preview(
            located=True,
            method=str(r["geocode_method"]),
            confidence=float(r["geocode_confidence"]),
            precision_m=float(r["precision_m"]),
            latitude=float(r["latitude"]),
            longitude=float(r["longitude"]),
            place_id=place_id,
            place_label=label,
            message=(
                f"{GEOCODE_METHODS[str(r['geocode_method'])]}: placed within about "
                f"{float(r['precision_m']):,.0f} m."
            ),
        )
    reason = str(result.quarantine["reason"].iloc[0]).split(": ", 1)[-1]
    return Preview(
        located=False,
        message=f"Will go to Review ({reason}). You can still send it: an analyst will place it.",
    )


# --- Type-ahead over the area's gazetteer ----------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """One type-ahead answer; ``fields`` are the Submission location fields it fills in."""

    kind: str  # 'place' | 'street' | 'postcode' | 'grid reference'
    label: str
    latitude: float
    longitude: float
    fields: dict = field(default_factory=dict)
    place_type: str | None = None


_STOPWORDS = frozenset(
    {"the", "a", "an", "by", "at", "in", "on", "near", "of", "behind", "outside", "opposite"}
)


def _starts(word: str, tokens: list[str]) -> bool:
    return any(t.startswith(word) for t in tokens)


def _nearly_starts(word: str, tokens: list[str]) -> bool:
    # One slip in a word of four letters or more: a letter missed, doubled or swapped.
    if len(word) < 4:
        return _starts(word, tokens)
    return any(fuzz.ratio(word, t[: len(word)]) >= 80 or fuzz.ratio(word, t) >= 85 for t in tokens)


class GazetteerIndex:
    """Places, streets and postcodes of the area, for type-ahead search (build once, reuse)."""

    def __init__(self, gazetteer: Gazetteer, places: pd.DataFrame):
        p = places[places["name"].notna()].reset_index(drop=True)
        st = gazetteer.streets.reset_index(drop=True)
        self._places = p
        self._streets = st
        place_labels = [
            f"{n} — {PLACE_TYPES.get(t, 'place')}, {loc}" if isinstance(loc, str) and loc else f"{n}"
            for n, t, loc in zip(p["name"], p["place_type"], p["locality"], strict=True)
        ]
        street_labels = [
            f"{s}, {loc} — street" if isinstance(loc, str) and loc else f"{s} — street"
            for s, loc in zip(st["street"], st["locality"], strict=True)
        ]
        self._labels = place_labels + street_labels
        self._keys = [_search_key(x) for x in p["name"]] + [
            utils.default_process(f"{s} {loc or ''}")
            for s, loc in zip(st["street"], st["locality"], strict=True)
        ]
        self._tokens = [k.split() for k in self._keys]
        self._names = [_search_key(x) for x in p["name"]] + [
            utils.default_process(str(x)) for x in st["street"]
        ]
        self._n_places = len(p)
        pcs = gazetteer.postcodes
        self._postcodes = pcs.assign(_compact=pcs["postcode"].str.replace(" ", "", regex=False)).sort_values(
            "postcode"
        )

    def search(self, query: str, limit: int = 8) -> list[Option]:
        q = _text(query)
        if len(q) < 2:
            return []
        out: list[Option] = []
        grid_ref = grid_reference_option(q)
        if grid_ref is not None:
            out.append(grid_ref)
        compact = re.sub(r"\s+", "", q).upper()
        if re.match(r"^[A-Z]{1,2}[0-9]", compact):
            hits = self._postcodes[self._postcodes["_compact"].str.startswith(compact)].head(limit)
            for r in hits.itertuples():
                out.append(
                    Option(
                        kind="postcode",
                        label=f"{r.postcode} — postcode",
                        latitude=float(r.latitude),
                        longitude=float(r.longitude),
                        fields={"postcode": r.postcode},
                    )
                )
        key = utils.default_process(q)
        if key:
            # Every word typed so far starts a word of the name ("bus stat darl"); failing that, starts
            # it but for one slip ("darlingtn bus"). Little words ("the", "near") need not match.
            words = [w for w in key.split() if w not in _STOPWORDS] or key.split()
            for starts in (_starts, _nearly_starts):
                found = [i for i, toks in enumerate(self._tokens) if all(starts(w, toks) for w in words)]
                if found:
                    break
            scored = sorted(
                found,
                key=lambda i: (
                    -fuzz.WRatio(key, self._names[i]),
                    -fuzz.WRatio(key, self._keys[i]),
                    self._labels[i],
                ),
            )
            out += [self._option(i) for i in scored[:limit]]
        return out[:limit]

    def _option(self, idx: int) -> Option:
        if idx < self._n_places:
            p = self._places.iloc[idx]
            locality = p["locality"] if isinstance(p["locality"], str) else ""
            district = p["postcode_district"] if isinstance(p["postcode_district"], str) else ""
            return Option(
                kind="place",
                label=self._labels[idx],
                latitude=float(p["latitude"]),
                longitude=float(p["longitude"]),
                # The cascade matches the name and narrows look-alikes by district and locality.
                fields={"place_name": p["name"], "location_text": locality, "postcode": district},
                place_type=p["place_type"] if p["place_type"] in PLACE_TYPES else None,
            )
        s = self._streets.iloc[idx - self._n_places]
        locality = s["locality"] if isinstance(s["locality"], str) else ""
        return Option(
            kind="street",
            label=self._labels[idx],
            latitude=float(s["latitude"]),
            longitude=float(s["longitude"]),
            fields={"location_text": f"{s['street']}, {locality}".strip(", ")},
            place_type="residential_street",
        )


def grid_reference_option(text: str) -> Option | None:
    """A typed OS grid reference as a location to choose, at the centre of its square and as wide as
    the square (the same radius the import gives it), or None when ``text`` is not one."""
    found = geocoding.grid_reference_location(text)
    if found is None:
        return None
    written, lat, lon, radius = found
    return Option(
        kind="grid reference",
        label=f"{written} — grid reference, within {radius:,.0f} m",
        latitude=lat,
        longitude=lon,
        fields={"location_text": written},
    )


def gazetteer_index(engine: Engine | None = None, gazetteer: Gazetteer | None = None) -> GazetteerIndex:
    """The type-ahead index over the area's gazetteer and the places analysts added."""
    gaz = gazetteer or load_gazetteer()
    return GazetteerIndex(gaz, _public_places(engine, gaz))


def search_places(user: auth.User | None, index: GazetteerIndex, query: str, limit: int = 8) -> list[Option]:
    """Labelled places, streets and postcodes matching what the reporter has typed so far."""
    auth.require(user, "submit")
    return index.search(query, limit)


def where_from_text(text: str) -> dict:
    """Location fields for free text the reporter typed without choosing a suggestion."""
    t = _text(text)
    if not t:
        return {}
    written = written_grid_reference(t)
    if written is not None:  # read by the import as the square it names, not as a place's name
        return {"location_text": written}
    if is_latitude_longitude(t):  # read by the import as coordinates, not as a place's name
        return {"location_text": t}
    pc = normalise_postcode(pd.Series([t])).iloc[0]
    if isinstance(pc, str) and pc:
        return {"postcode": pc, "location_text": t}
    return {"place_name": t, "location_text": t}


# --- Agency on the account -------------------------------------------------------------------------------


def set_account_agency(
    engine: Engine,
    username: str,
    agency: str,
    agency_type: str,
    contact: str | None = None,
    *,
    actor: str | None = None,
) -> None:
    """Record the agency (and contact) a reporter's submissions carry. Set by an administrator."""
    from hoth_geo.access import audit

    name = _text(username).lower()
    if not name:
        raise InvalidInput("username must not be blank")
    if not _text(agency) or len(_text(agency)) > MAX_SHORT:
        raise InvalidInput(f"agency must be 1-{MAX_SHORT} characters, got {agency!r}")
    if agency_type not in AGENCY_TYPES:
        raise InvalidInput(f"agency_type must be one of {', '.join(AGENCY_TYPES)}, got {agency_type!r}")
    with engine.begin() as conn:
        store.take_lock(conn)
        conn.execute(account_agencies.delete().where(account_agencies.c.username == name))
        conn.execute(
            account_agencies.insert().values(
                username=name,
                agency=_text(agency),
                agency_type=agency_type,
                contact=_text(contact) or None,
                updated_at=_now(),
                updated_by=actor,
            )
        )
        audit.record(
            conn,
            "account_agency_set",
            actor=actor,
            target=name,
            details={"agency": _text(agency), "agency_type": agency_type},
        )


def account_agency(engine: Engine, user: auth.User) -> AccountAgency | None:
    """The agency on ``user``'s account; police accounts without one report as Police."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(account_agencies).where(account_agencies.c.username == user.username.lower())
        ).first()
    if row is not None:
        return AccountAgency(row.agency, row.agency_type, row.contact)
    if user.role == "police":
        return AccountAgency("Police", "police", None)
    return None


def recorded_agencies(engine: Engine) -> dict[str, AccountAgency]:
    """The agency recorded on each account that has one, by username (for the administrators' list)."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(account_agencies)).all()
    return {row.username: AccountAgency(row.agency, row.agency_type, row.contact) for row in rows}


# --- Sending -----------------------------------------------------------------------------------------

# Streamlit serves every session from one process: one form at a time, so two clicks that arrive
# together cannot both pass the "already received?" check.
_SUBMIT_LOCK = threading.Lock()


def _form_import(conn, reference: str):
    return conn.execute(
        sa.select(store.imports).where(
            (store.imports.c.format == FORM_FORMAT) & (store.imports.c.filename == reference)
        )
    ).first()


def _status_for_import(conn, import_row) -> tuple[str, int | None]:
    report = conn.execute(
        sa.select(store.reports.c.id, store.reports.c.online).where(
            store.reports.c.import_id == import_row.id
        )
    ).first()
    if report is not None:
        return ("online" if report.online else "located"), int(report.id)
    q = conn.execute(
        sa.select(
            store.quarantine.c.status, store.quarantine.c.resolved_report_id, store.quarantine.c.payload
        ).where(store.quarantine.c.import_id == import_row.id)
    ).first()
    if q is not None:
        if (
            q.status in (QuarantineStatus.RESOLVED, QuarantineStatus.SUPERSEDED)
            and q.resolved_report_id is not None
        ):
            online = conn.execute(
                sa.select(store.reports.c.online).where(store.reports.c.id == q.resolved_report_id)
            ).scalar()
            return ("online" if online else "located"), int(q.resolved_report_id)
        if q.status == QuarantineStatus.SET_ASIDE:
            return "set_aside", None
        return ("needs_location" if q.payload else "held"), None
    return "already_shared", None


def submit(
    engine: Engine,
    user: auth.User | None,
    submission: Submission,
    *,
    gazetteer: Gazetteer | None = None,
    today: date | None = None,
) -> Receipt:
    """Check and store one form through the import pipeline; return the receipt.

    Raises ``auth.NotPermitted`` for an account without ``submit``, ``SubmissionInvalid`` (with
    field-level messages) for a form that cannot be sent. Sending the same form (same token) again
    stores nothing and returns the first receipt with ``already_received`` set.
    """
    auth.require(user, "submit")
    gaz = gazetteer or load_gazetteer()
    reference = submission.reference if isinstance(submission.token, str) else ""
    with _SUBMIT_LOCK:
        if _TOKEN_RE.match(str(submission.token)):
            with engine.connect() as conn:
                existing = _form_import(conn, reference)
                if existing is not None:
                    if existing.imported_by != user.username:
                        raise SubmissionInvalid(
                            {"token": "Form token: this form belongs to another account; reload the page."}
                        )
                    status, report_id = _status_for_import(conn, existing)
                    return Receipt(reference, status, existing.imported_at, int(existing.id), report_id, True)
        errors = validate(submission, study_area=gaz.study_area, today=today)
        agency = account_agency(engine, user)
        if agency is None:
            errors["agency"] = (
                "Agency: your account has no agency recorded, so the police would not know who shared "
                "this. Ask an administrator to add it (hoth-geo users set-agency); your draft is kept."
            )
        if errors:
            raise SubmissionInvalid(errors)
        frame = to_form_frame(submission, agency, received_on=today)
        summary = pipeline.import_form_rows(
            engine, frame, reference, fmt=FORM_FORMAT, imported_by=user.username, gazetteer=gaz, today=today
        )
        with engine.connect() as conn:
            row = conn.execute(sa.select(store.imports).where(store.imports.c.id == summary.import_id)).one()
            status, report_id = _status_for_import(conn, row)
        clear_draft(engine, user)
        return Receipt(reference, status, row.imported_at, int(row.id), report_id, False)


def my_submissions(engine: Engine, user: auth.User | None) -> pd.DataFrame:
    """The signed-in reporter's own forms, newest first, with their status. Nobody else's, ever."""
    auth.require(user, "submit")
    imp, rep, q = store.imports, store.reports, store.quarantine
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(imp)
            .where((imp.c.format == FORM_FORMAT) & (imp.c.imported_by == user.username))
            .order_by(imp.c.imported_at.desc(), imp.c.id.desc())
        ).all()
        ids = [r.id for r in rows]
        reports = {
            r.import_id: r
            for r in conn.execute(
                sa.select(rep.c.import_id, rep.c.observed_at, rep.c.place_type, rep.c.concerns).where(
                    rep.c.import_id.in_(ids)
                )
            )
        }
        held = {
            r.import_id: r
            for r in conn.execute(sa.select(q.c.import_id, q.c.payload).where(q.c.import_id.in_(ids)))
        }
        out = []
        for r in rows:
            status, report_id = _status_for_import(conn, r)
            detail: dict = {}
            if r.id in reports:
                detail = {
                    "observed_at": reports[r.id].observed_at,
                    "place_type": reports[r.id].place_type,
                    "concerns": reports[r.id].concerns,
                }
            elif r.id in held and held[r.id].payload:
                payload = json.loads(held[r.id].payload)
                detail = {k: payload.get(k) for k in ("observed_at", "place_type", "concerns")}
            out.append(
                {
                    "reference": r.filename,
                    "sent_at": r.imported_at,
                    "seen_on": pd.to_datetime(detail.get("observed_at")).date()
                    if detail.get("observed_at")
                    else None,
                    "place_type": PLACE_TYPES.get(detail.get("place_type") or "", ""),
                    "concerns": "; ".join(
                        CONCERNS.get(k, k) for k in str(detail.get("concerns") or "").split("|") if k
                    ),
                    "status": status,
                    "status_label": STATUS_LABELS[status],
                }
            )
    return pd.DataFrame(
        out, columns=["reference", "sent_at", "seen_on", "place_type", "concerns", "status", "status_label"]
    )


# --- Drafts ------------------------------------------------------------------------------------------


def save_draft(engine: Engine, user: auth.User | None, draft: Mapping) -> None:
    """Keep the unsent form of ``user`` (JSON-serialisable values), replacing any earlier draft."""
    auth.require(user, "submit")
    text = json.dumps(dict(draft), default=str, sort_keys=True)
    with engine.begin() as conn:
        conn.execute(share_drafts.delete().where(share_drafts.c.username == user.username))
        conn.execute(share_drafts.insert().values(username=user.username, draft=text, saved_at=_now()))


def load_draft(engine: Engine, user: auth.User | None) -> dict | None:
    """The user's unsent form, as saved while it was typed, or None."""
    auth.require(user, "submit")
    with engine.connect() as conn:
        text = conn.execute(
            sa.select(share_drafts.c.draft).where(share_drafts.c.username == user.username)
        ).scalar()
    return json.loads(text) if text else None


def clear_draft(engine: Engine, user: auth.User | None) -> None:
    """Delete the user's unsent form (after it is sent)."""
    auth.require(user, "submit")
    with engine.begin() as conn:
        conn.execute(share_drafts.delete().where(share_drafts.c.username == user.username))


def receipt_text(receipt: Receipt) -> str:
    """The receipt in words (for the page and for the reporter's own notes)."""
    when = receipt.received_at.strftime("%d/%m/%Y %H:%M UTC")
    again = " (this form had already been sent; it was stored once)" if receipt.already_received else ""
    return f"Reference {receipt.reference}, received {when}{again}. {receipt.status_label}."


__all__ = [
    "FORM_FORMAT",
    "STATUS_LABELS",
    "AccountAgency",
    "GazetteerIndex",
    "Option",
    "Preview",
    "Receipt",
    "Submission",
    "SubmissionInvalid",
    "account_agency",
    "clear_draft",
    "gazetteer_index",
    "load_draft",
    "my_submissions",
    "new_token",
    "preview",
    "receipt_text",
    "recorded_agencies",
    "save_draft",
    "search_places",
    "set_account_agency",
    "submit",
    "to_form_frame",
    "validate",
    "where_from_text",
]
