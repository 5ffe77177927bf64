"""A gold set for the geocoder, built from a gazetteer with a fixed seed (synthetic text only).

Each row is what a partner might write for a place or street the gazetteer holds (exact, other case,
street-type abbreviations, a one-letter typo, the town added) with the true point, or a plausible
name that does not exist (a place type in a town that has none, a real street in a town it is not
in, an invented street), whose right answer is Review. ``score`` turns a geocode result into the
three figures the geocoder is held to. Used by benchmarks/bench_geocode.py and tests/intake/test_geocode_gold.py.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

import numpy as np
import pandas as pd
from rapidfuzz import process
from rapidfuzz.distance import OSA

from hoth_geo.intake.geocode import name_key

# (written-out word, abbreviation) pairs partners use for street types.
ABBREVIATIONS = (
    ("Road", "Rd"),
    ("Street", "St"),
    ("Avenue", "Ave"),
    ("Lane", "Ln"),
    ("Drive", "Dr"),
    ("Close", "Cl"),
    ("Crescent", "Cres"),
    ("Terrace", "Tce"),
    ("Gardens", "Gdns"),
    ("Court", "Ct"),
    ("Place", "Pl"),
    ("Square", "Sq"),
)
# Stems for invented streets; any that lie within a typo of a real street are skipped.
INVENTED_STEMS = (
    "Kestrel Juniper Marlowe Quillon Tamsin Fennick Orchid Bracken Wrenfield Lapwing Hollins Sorrel"
    " Cobalt Merrow Tansy Yarrow Larkspur Periwinkle Thistledown Amberley Foxglove Sandpiper Curlew"
    " Heronsgate Brambling Ravensworth Windermere Grasmere Ullswater Coniston Thirlmere Buttermere"
).split()
INVENTED_SUFFIXES = ("Road", "Street", "Close", "Avenue", "Drive", "Way", "Gardens", "Crescent")
TEMPLATES_STREET = ("On or near {s}", "seen near {s}", "group outside the shops on {s}", "{s}")


@dataclass(frozen=True)
class Figures:
    n_rows: int
    n_unique: int
    top1_unique: float
    n_nonexistent: int
    review_nonexistent: float
    far_confident: int
    n_ambiguous: int
    review_ambiguous: float

    def lines(self) -> list[str]:
        return [
            f"gold rows: {self.n_rows:,} ({self.n_unique:,} unique names, {self.n_nonexistent:,} non-existent)",
            f"top-1 accuracy on unique names:          {self.top1_unique:6.1%}  (goal >= 95 %)",
            f"non-existent names sent to Review:        {self.review_nonexistent:6.1%}  (goal >= 95 %)",
            f"results > 1 km from truth at conf >= 0.8: {self.far_confident:6d}  (goal 0)",
            f"names in several towns sent to Review:    {self.review_ambiguous:6.1%}  ({self.n_ambiguous:,} rows)",
        ]


def _typo(rng: random.Random, text: str) -> str:
    """One edit (swap, drop, double or change a letter) inside a word of five letters or more."""
    words = text.split(" ")
    long = [i for i, w in enumerate(words) if sum(c.isalpha() for c in w) >= 5]
    if not long:
        return text
    i = rng.choice(long)
    w = words[i]
    j = rng.randrange(1, len(w) - 2)
    op = rng.choice(("swap", "drop", "double", "change"))
    if op == "swap":
        w = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    elif op == "drop":
        w = w[:j] + w[j + 1 :]
    elif op == "double":
        w = w[:j] + w[j] + w[j:]
    else:
        w = w[:j] + rng.choice(string.ascii_lowercase) + w[j + 1 :]
    words[i] = w
    return " ".join(words)


def _abbreviate(name: str) -> str | None:
    for full, short in ABBREVIATIONS:
        if name.endswith(" " + full):
            return name[: -len(full)] + short
    return None


def _unique_typo(rng: random.Random, name: str, keys: list[str], truth_key: str) -> str | None:
    """A typo of ``name`` whose nearest keys are the truth alone (else the answer is not unique)."""
    for _ in range(6):
        typo = _typo(rng, name)
        k = name_key(typo)
        if k == truth_key or not k:
            continue
        hits = process.extract(k, keys, scorer=OSA.distance, limit=None, score_cutoff=2)
        if not hits:
            continue
        best = min(h[1] for h in hits)
        if [h[0] for h in hits if h[1] == best] == [truth_key]:
            return typo
    return None


def build_gold(
    gazetteer, *, seed: int = 20261202, n_places: int | None = None, n_streets: int = 420
) -> pd.DataFrame:
    """Gold rows: place_name, location_text, kind ('unique'|'ambiguous'|'nonexistent'), variant and
    the true lat/lon (for unique names only)."""
    rng = random.Random(seed)
    rows: list[dict] = []

    def add(kind, variant, place_name=None, location_text=None, lat=np.nan, lon=np.nan):
        rows.append(
            {
                "kind": kind,
                "variant": variant,
                "place_name": place_name,
                "location_text": location_text,
                "true_lat": lat,
                "true_lon": lon,
            }
        )

    # --- places: names the gazetteer holds once ---------------------------------------------------
    places = gazetteer.places.dropna(subset=["name"]).copy()
    places["key"] = places["name"].map(name_key)
    counts = places["key"].value_counts()
    unique_places = places[places["key"].map(counts) == 1].sort_values("place_id")
    if n_places is not None:
        unique_places = unique_places.sample(min(n_places, len(unique_places)), random_state=seed)
    place_keys = list(counts.index)
    for p in unique_places.itertuples():
        add("unique", "place exact", p.name, None, p.latitude, p.longitude)
        add(
            "unique",
            "place case",
            rng.choice((p.name.lower(), p.name.upper())),
            None,
            p.latitude,
            p.longitude,
        )
        typo = _unique_typo(rng, p.name, place_keys, p.key)
        if typo:
            add("unique", "place typo", typo, None, p.latitude, p.longitude)
        if isinstance(p.locality, str) and "," in p.name:
            head = p.name.rsplit(",", 1)[0]
            add(
                "unique",
                "place + town in location",
                head,
                f"near the entrance, {p.locality}",
                p.latitude,
                p.longitude,
            )

    # --- streets: unique in the area, or unique once the town is named -------------------------------
    streets = gazetteer.streets.copy()
    streets["key"] = streets["street"].map(name_key)
    streets = streets[streets["key"].str.count(" ") >= 1]
    per_key = streets["key"].value_counts()
    street_keys = list(per_key.index)
    in_one = streets[streets["key"].map(per_key) == 1].sort_values(["street", "locality"])
    in_many = streets[streets["key"].map(per_key) > 1].sort_values(["street", "locality"])
    for s in in_one.sample(min(n_streets, len(in_one)), random_state=seed).itertuples():
        tpl = rng.choice(TEMPLATES_STREET)
        add("unique", "street exact", None, tpl.format(s=s.street), s.latitude, s.longitude)
        add("unique", "street case", None, tpl.format(s=s.street.lower()), s.latitude, s.longitude)
        short = _abbreviate(s.street)
        if short:
            add("unique", "street abbreviation", None, tpl.format(s=short), s.latitude, s.longitude)
        typo = _unique_typo(rng, s.street, street_keys, s.key)
        if typo:
            add("unique", "street typo", None, tpl.format(s=typo), s.latitude, s.longitude)
        add("unique", "street + its town", None, f"near {s.street}, {s.locality}", s.latitude, s.longitude)
    for s in in_many.sample(min(n_streets // 2, len(in_many)), random_state=seed).itertuples():
        add(
            "unique",
            "street in several towns + town",
            None,
            f"On or near {s.street}, {s.locality}",
            s.latitude,
            s.longitude,
        )
        short = _abbreviate(s.street)
        if short:
            add(
                "unique",
                "abbreviated street in several towns + town",
                None,
                f"{short}, {s.locality}",
                s.latitude,
                s.longitude,
            )

    # --- names the gazetteer holds in several towns, with no town given: Review, never a guess --------
    loc_keys = {name_key(x) for x in gazetteer.streets["locality"].dropna()}
    holds_locality = in_many["key"].map(lambda k: any(f" {lk} " in f" {k} " for lk in loc_keys))
    for s in (
        in_many[holds_locality].drop_duplicates("key").itertuples()
    ):  # 'North Road', 'West Auckland Road'
        add("ambiguous", "street in several towns, named like a town", None, f"On or near {s.street}")
    for s in (
        in_many[~holds_locality].drop_duplicates("key").sample(n_streets // 4, random_state=seed).itertuples()
    ):
        add(
            "ambiguous",
            "street in several towns, no town",
            None,
            rng.choice(TEMPLATES_STREET).format(s=s.street),
        )

    # --- names that do not exist ----------------------------------------------------------------------
    localities = sorted(
        set(gazetteer.places["locality"].dropna()) | set(gazetteer.streets["locality"].dropna())
    )
    types = sorted({n.rsplit(",", 1)[0] for n in places["name"] if "," in n})
    existing = set(places["key"])
    absent = [(t, loc) for t in types for loc in localities if name_key(f"{t}, {loc}") not in existing]
    for t, loc in rng.sample(absent, min(n_streets, len(absent))):
        add("nonexistent", "place type not in that town", f"{t}, {loc}")
    street_localities = streets.groupby("key")["locality"].apply(set).to_dict()
    for s in in_one.sample(min(n_streets // 2, len(in_one)), random_state=seed + 1).itertuples():
        other = rng.choice([x for x in localities if x not in street_localities[s.key]])
        add("nonexistent", "street in another town", None, f"near {s.street}, {other}")
    invented = []
    for stem in INVENTED_STEMS:
        for suffix in INVENTED_SUFFIXES:
            k = name_key(f"{stem} {suffix}")
            near = process.extractOne(k, street_keys, scorer=OSA.distance)
            if near is None or near[1] > 3:
                invented.append(f"{stem} {suffix}")
    for name in rng.sample(invented, min(n_streets // 2, len(invented))):
        add("nonexistent", "invented street", None, rng.choice(TEMPLATES_STREET).format(s=name))
    return pd.DataFrame(rows)


def _metres(lat1, lon1, lat2, lon2) -> np.ndarray:
    lat0 = np.radians(54.7)
    dy = (np.asarray(lat1) - np.asarray(lat2)) * 111_320.0
    dx = (np.asarray(lon1) - np.asarray(lon2)) * 111_320.0 * np.cos(lat0)
    return np.hypot(dx, dy)


def score(gold: pd.DataFrame, located: pd.DataFrame) -> tuple[Figures, pd.DataFrame]:
    """Join a geocode result (row_number = gold position + 2) to the gold set and count."""
    out = gold.copy()
    out["row_number"] = np.arange(len(gold)) + 2
    got = located.set_index("row_number")[["latitude", "longitude", "geocode_confidence", "geocode_method"]]
    out = out.join(got, on="row_number")
    out["located"] = out["latitude"].notna()
    out["error_m"] = _metres(out["latitude"], out["longitude"], out["true_lat"], out["true_lon"])
    unique = out["kind"] == "unique"
    nonexistent = out["kind"] == "nonexistent"
    ambiguous = out["kind"] == "ambiguous"
    correct = unique & out["located"] & (out["error_m"] <= 100)
    confident = out["located"] & (out["geocode_confidence"] >= 0.8)
    # A non-existent name placed anywhere with high confidence has no truth nearby: it counts as far.
    far = confident & ((unique & (out["error_m"] > 1000)) | nonexistent | ambiguous)
    out["correct"] = correct
    figures = Figures(
        n_rows=len(out),
        n_unique=int(unique.sum()),
        top1_unique=float(correct.sum() / max(unique.sum(), 1)),
        n_nonexistent=int(nonexistent.sum()),
        review_nonexistent=float((nonexistent & ~out["located"]).sum() / max(nonexistent.sum(), 1)),
        far_confident=int(far.sum()),
        n_ambiguous=int(ambiguous.sum()),
        review_ambiguous=float((ambiguous & ~out["located"]).sum() / max(ambiguous.sum(), 1)),
    )
    return figures, out
