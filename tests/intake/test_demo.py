"""The synthetic demo set: determinism, shipped files, counts and the planted patterns."""

from __future__ import annotations

import json
from datetime import date

import h3
import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer
from rapidfuzz import fuzz, process

from hoth_geo import schema, settings
from hoth_geo.intake.demo import UNKNOWN_TIME_WORDS, _match_key, generate_demo, read_demo_reports, stable_cell

DEMO = settings.DEMO_DIR
RES = 8


@pytest.fixture(scope="module")
def gazetteer():
    from hoth_geo.intake.gazetteer import layer_path, load_gazetteer

    if layer_path(settings.GAZETTEER_DIR, "places") is None:
        pytest.fail(f"shipped gazetteer missing in {settings.GAZETTEER_DIR}: run scripts/build_gazetteer.py")

    return load_gazetteer()


@pytest.fixture(scope="module")
def demo(gazetteer):
    return generate_demo(gazetteer)


@pytest.fixture(scope="module")
def shipped():
    return {
        "reports": read_demo_reports(DEMO / "demo_reports.csv"),
        "venues": pd.read_csv(DEMO / "venues.csv", keep_default_na=False),
        "truth": json.loads((DEMO / "planted_truth.json").read_text(encoding="utf-8")),
    }


@pytest.fixture(scope="module")
def reports(shipped):
    r = shipped["reports"].copy()
    r["observed"] = pd.to_datetime(r["Date observed"], format="%d/%m/%Y")
    r["hour"] = pd.to_numeric(r["Time observed"].str[:2], errors="coerce")
    return r.set_index("Source reference", drop=False)


def _cells_of(reports: pd.DataFrame, venues: pd.DataFrame) -> pd.Series:
    """Res-8 cell per row from its own location fields (lat/lon, BNG, exact or fuzzy venue name)."""
    out = pd.Series(None, index=reports.index, dtype=object)
    lat = pd.to_numeric(reports["Latitude"], errors="coerce")
    lon = pd.to_numeric(reports["Longitude"], errors="coerce")
    ok = lat.between(-90, 90) & lon.notna()
    out[ok] = [h3.latlng_to_cell(a, b, RES) for a, b in zip(lat[ok], lon[ok], strict=True)]
    e = pd.to_numeric(reports["Easting"], errors="coerce")
    n = pd.to_numeric(reports["Northing"], errors="coerce")
    en = e.notna() & n.notna() & ~ok
    if en.any():
        blon, blat = Transformer.from_crs(27700, 4326, always_xy=True).transform(
            e[en].to_numpy(), n[en].to_numpy()
        )
        out[en] = [h3.latlng_to_cell(a, b, RES) for a, b in zip(blat, blon, strict=True)]
    keys = [_match_key(x) for x in venues["name"]]
    named = out.isna() & (reports["Place name"] != "")
    for i in reports.index[named]:
        hit = process.extractOne(
            _match_key(reports.at[i, "Place name"]), keys, scorer=fuzz.WRatio, processor=None
        )
        if hit and hit[1] >= settings.FUZZY_PLACE_SCORE_MIN:
            v = venues.iloc[hit[2]]
            out[i] = h3.latlng_to_cell(float(v["latitude"]), float(v["longitude"]), RES)
    return out


# --- determinism and the shipped files ----------------------------------------------------------------


def test_same_seed_same_frames_different_seed_differs(gazetteer, demo):
    again = generate_demo(gazetteer)
    pd.testing.assert_frame_equal(demo.reports, again.reports)
    pd.testing.assert_frame_equal(demo.venues, again.venues)
    assert demo.truth == again.truth
    other = generate_demo(gazetteer, seed=7)
    assert not other.reports.equals(demo.reports)


def test_shipped_files_equal_a_fresh_generation(demo, shipped, tmp_path):
    pd.testing.assert_frame_equal(shipped["reports"], demo.reports)
    assert shipped["truth"] == json.loads(json.dumps(demo.truth))
    v = shipped["venues"]
    assert v["place_id"].tolist() == demo.venues["place_id"].tolist()
    assert v["name"].tolist() == demo.venues["name"].tolist()
    assert np.allclose(v["latitude"], demo.venues["latitude"], atol=1e-6)
    assert np.allclose(v["longitude"], demo.venues["longitude"], atol=1e-6)
    from hoth_geo.intake.demo import write_demo

    paths = write_demo(demo, tmp_path)
    for name in ("reports", "venues", "truth", "readme"):
        assert paths[name].read_bytes() == (DEMO / paths[name].name).read_bytes(), name


def test_reports_file_is_small_enough():
    assert (DEMO / "demo_reports.csv").stat().st_size < 3_000_000


# --- shape and counts -------------------------------------------------------------------------------


def test_headers_are_the_template_columns(shipped):
    assert tuple(shipped["reports"].columns) == schema.TEMPLATE_COLUMNS
    assert tuple(shipped["venues"].columns) == schema.GAZETTEER_PLACE_COLUMNS


def test_counts_and_span(reports, shipped):
    truth = shipped["truth"]
    assert len(reports) >= 5000
    assert truth["n_reports"] == len(reports)
    assert reports["observed"].min() >= pd.Timestamp(2024, 11, 1)
    assert reports["observed"].max() <= pd.Timestamp(2026, 10, 31)
    assert reports["observed"].dt.to_period("M").nunique() == 24
    received = pd.to_datetime(reports["Date received"], format="%d/%m/%Y")
    assert (received >= reports["observed"]).all()
    assert reports["Source reference"].is_unique
    assert reports["Source reference"].str.fullmatch(r"DEMO-\d{6}").all()


def test_field_formats(reports):
    t = reports["Time observed"]
    in_words = t.isin(UNKNOWN_TIME_WORDS.values())  # some partners say when in words
    assert t[(t != "") & ~in_words].str.fullmatch(r"([01]\d|2[0-3]):[0-5]\d").all()
    assert 0.10 <= ((t == "") | in_words).mean() <= 0.22
    assert 0 < in_words.mean() < (t == "").mean()
    assert reports["Date observed"].str.fullmatch(r"\d{2}/\d{2}/\d{4}").all()
    assert reports["Source grading"].isin(schema.GRADING_SOURCE).all()
    assert reports["Information grading"].isin(schema.GRADING_INFORMATION).all()
    assert reports["Handling code"].isin(schema.GRADING_HANDLING).all()
    assert reports["Source grading"].value_counts().idxmax() == "2"
    assert reports["Handling code"].value_counts().idxmax() == "P"
    assert reports["Information grading"].isin(["B", "C"]).mean() > 0.6
    assert reports["Agency type"].isin(list(schema.AGENCY_TYPES)).all()
    assert reports["Agency type"].nunique() == len(schema.AGENCY_TYPES)
    assert reports["Reporting agency"].str.startswith("Demo ").all()
    child = reports["Child reference"]
    assert child[child != ""].str.fullmatch(r"DEMO-C\d{4}").all()


def test_every_concern_indicator_and_place_type_is_known(reports):
    labels = {**{v: k for k, v in schema.CONCERNS.items()}, **{k: k for k in schema.CONCERNS}}
    ind = {**{v: k for k, v in schema.INDICATORS.items()}, **{k: k for k in schema.INDICATORS}}
    pt = {**{v: k for k, v in schema.PLACE_TYPES.items()}, **{k: k for k in schema.PLACE_TYPES}}
    for cell in reports["Concerns"]:
        assert cell and all(c in labels for c in cell.split(";")), cell
    for cell in reports["Indicators"]:
        assert all(c in ind for c in cell.split(";") if cell), cell
    assert reports["Place type"].map(lambda v: v in pt).all()


def test_everything_is_labelled_synthetic(reports, shipped):
    assert reports["Narrative"].str.startswith("SYNTHETIC DEMO REPORT.").all()
    assert reports["Narrative"].str.contains("(fictional)", regex=False).all()
    assert "SYNTHETIC" in (DEMO / "README.md").read_text(encoding="utf-8")
    assert shipped["truth"]["label"] == settings.DEMO_LABEL


# --- venues ---------------------------------------------------------------------------------------------


def test_venues_are_demo_places_with_generic_names(shipped, gazetteer):
    v = shipped["venues"]
    assert v["name"].str.endswith("(demo)").all()
    assert (v["source"] == "demo").all()
    assert v["place_id"].str.startswith("demo:").all() and v["place_id"].is_unique
    assert v["place_type"].isin(list(schema.PLACE_TYPES)).all()
    # No demo venue carries a name from the gazetteer (nor any OSM point of interest in it).
    real = {_match_key(n) for n in gazetteer.places["name"].dropna()}
    assert not ({_match_key(n) for n in v["name"]} & real)
    # Exactly one name is shared, deliberately: the ambiguous pair.
    dup = v["name"][v["name"].duplicated(keep=False)]
    assert set(dup) == {shipped["truth"]["quarantine"]["ambiguous_place"]["name"]} and len(dup) == 2


def test_venue_names_do_not_fuzzy_clash(shipped, gazetteer):
    v = shipped["venues"]
    keys = [_match_key(n) for n in v["name"]] + [_match_key(n) for n in gazetteer.places["name"].dropna()]
    amb = _match_key(shipped["truth"]["quarantine"]["ambiguous_place"]["name"])
    for i, k in enumerate(keys[: len(v)]):
        if k == amb:
            continue
        others = keys[:i] + keys[i + 1 :]
        best = process.extractOne(k, others, scorer=fuzz.WRatio, processor=None)
        assert best[1] < 100 - settings.FUZZY_AMBIGUITY_GAP, (v["name"].iat[i], best)


def test_venues_sit_on_gazetteer_points(shipped, gazetteer):
    v = shipped["venues"]
    pts = pd.concat(
        [gazetteer.places[["latitude", "longitude"]], gazetteer.streets[["latitude", "longitude"]]]
    )
    p = np.radians(pts.to_numpy())
    for lat, lon in zip(v["latitude"], v["longitude"], strict=True):
        d = 6_371_000 * np.hypot(
            p[:, 0] - np.radians(lat), (p[:, 1] - np.radians(lon)) * np.cos(np.radians(lat))
        )
        assert d.min() < 60, (lat, lon)


# --- location forms ----------------------------------------------------------------------------------


def test_location_form_mix(reports, shipped):
    n = len(reports)
    forms = shipped["truth"]["location_forms"]
    assert sum(forms.values()) == n
    share = {k: v / n for k, v in forms.items()}
    assert 0.33 <= share["latlon"] <= 0.45
    assert 0.07 <= share["bng"] <= 0.13
    assert 0.16 <= share["postcode"] <= 0.24
    assert 0.12 <= share["name"] <= 0.20
    assert 0.03 <= share["street"] <= 0.07
    assert 0.07 <= share["online"] <= 0.09
    has = {c: reports[c] != "" for c in ("Latitude", "Easting", "Postcode", "Place name", "Location")}
    assert has["Latitude"].sum() == forms["latlon"] + forms["messy_bad_latitude"]
    assert has["Easting"].sum() == forms["bng"]
    assert has["Postcode"].sum() == forms["postcode"] + forms["messy_bad_postcode"]
    assert reports["Location"].str.startswith("near the shops on ").sum() == forms["street"]


def test_postcodes_and_streets_are_real(reports, gazetteer, shipped):
    known = set(gazetteer.postcodes["postcode"])
    bad = set(shipped["truth"]["quarantine"]["bad_postcode"]["source_refs"])
    pc = reports.loc[(reports["Postcode"] != "") & ~reports.index.isin(bad), "Postcode"]
    norm = pc.str.upper().str.replace(" ", "", regex=False).map(lambda s: f"{s[:-3]} {s[-3:]}")
    assert norm.isin(known).all()
    assert pc.nunique() > 800  # spread over many postcodes
    streets = reports.loc[reports["Location"].str.startswith("near the shops on "), "Location"]
    assert streets.nunique() > 100


def test_online_reports(reports, shipped):
    online = reports[reports["Setting"] == "Online"]
    assert len(online) == shipped["truth"]["online"]["count"]
    assert 0.07 <= len(online) / len(reports) <= 0.09
    loc_cols = ["Location", "Place name", "Postcode", "Latitude", "Longitude", "Easting", "Northing"]
    assert (online[loc_cols] == "").all().all()
    assert online["Place type"].isin(["online", schema.PLACE_TYPES["online"]]).all()
    keys = online["Concerns"].str.lower()
    assert keys.str.contains("online|sexual|cse").all()


# --- planted patterns -------------------------------------------------------------------------------


def test_town_centre_cluster(reports, shipped):
    c = shipped["truth"]["town_centre_cluster"]
    rows = reports.loc[c["source_refs"]]
    assert len(rows) == c["count"] and 0.07 <= c["count"] / len(reports) <= 0.10
    top = c["expected_top_cell_res8"]
    bus = c["bus_station"]
    assert top == h3.latlng_to_cell(bus["latitude"], bus["longitude"], RES)
    assert stable_cell(bus["latitude"], bus["longitude"])
    assert 3 <= len(c["takeaways"]) <= 5
    known = rows["hour"].dropna()
    assert known.between(17, 22).all() and len(known) > 0.9 * len(rows)
    assert (rows["observed"].dt.day_of_week >= 4).mean() > 0.5  # Friday to Sunday
    assert rows["Concerns"].str.contains("cce|drugs|criminal|Drugs", regex=True).all()
    assert rows["observed"].dt.to_period("M").nunique() == 24
    # From the rows' own location fields the cluster cell is the busiest res-8 cell by a margin.
    cells = _cells_of(reports, shipped["venues"]).value_counts()
    assert cells.index[0] == top
    assert cells.iloc[0] > 1.5 * cells.iloc[1]


def test_emerging_park(reports, shipped):
    p = shipped["truth"]["emerging_park"]
    rows = reports.loc[p["source_refs"]]
    start = pd.Timestamp(p["window_start"])
    assert start == pd.Timestamp(2026, 5, 1)
    recent = rows["observed"] >= start
    assert recent.sum() == p["count_recent"] >= 150
    assert (~recent).sum() == p["count_before"] <= 5
    monthly = list(p["monthly_counts"].values())
    assert len(monthly) == 6 and monthly == sorted(monthly) and monthly[-1] > 3 * monthly[0]
    park = p["park"]
    assert p["h3_res8"] == h3.latlng_to_cell(park["latitude"], park["longitude"], RES)
    assert stable_cell(park["latitude"], park["longitude"])
    # Nothing else is located in the park's cell, before or after.
    cells = _cells_of(reports, shipped["venues"])
    in_cell = cells[cells == p["h3_res8"]].index
    assert set(in_cell) <= set(p["source_refs"])
    assert p["other_reports_in_cell"] == 0


def test_hotel_with_repeated_cse_tops_the_ranking(reports, shipped):
    h = shipped["truth"]["hotel_cse"]
    hotels = h["hotels"]
    assert len(hotels) >= 6
    rows = reports.loc[h["source_refs"]]
    assert rows["Concerns"].str.contains("cse|sexual", case=False).all()
    assert set(rows["Agency type"]) == set(h["agency_types"])
    top = h["hotel"]["place_id"]
    others = [v["cse_reports"] for k, v in hotels.items() if k != top]
    assert hotels[top]["cse_reports"] == h["cse_reports"] >= 3 * max(others)
    assert min(v["reports"] for v in hotels.values()) >= 10  # every demo hotel has background reports


def test_taxi_ranks_at_night(reports, shipped):
    t = shipped["truth"]["taxi_ranks"]
    assert 2 <= len(t["ranks"]) <= 3
    rows = reports.loc[t["source_refs"]]
    hours = rows["hour"].dropna()
    assert ((hours >= 22) | (hours < 4)).all()
    assert rows["Place type"].isin(["taxi", schema.PLACE_TYPES["taxi"]]).all()
    assert rows["Concerns"].str.contains("people_of_concern|cse|People of concern|sexual", regex=True).all()


def test_messy_rows(reports, shipped, gazetteer):
    q = shipped["truth"]["quarantine"]
    n = len(reports)
    assert 0.025 <= q["total"] / n <= 0.035
    assert set(q) >= {"bad_postcode", "ambiguous_place", "no_location", "bad_latitude"}
    sectors = set(gazetteer.postcodes["postcode"].str[:-2])
    units = set(gazetteer.postcodes["postcode"])
    bad = reports.loc[q["bad_postcode"]["source_refs"], "Postcode"]
    assert len(bad) == q["bad_postcode"]["count"] > 0
    assert bad.str.fullmatch(r"[A-Z]{1,2}\d{1,2} \d[A-Z]{2}").all()
    assert not bad.isin(units).any() and not bad.str[:-2].isin(sectors).any()
    amb = reports.loc[q["ambiguous_place"]["source_refs"]]
    assert (amb[["Postcode", "Latitude", "Easting", "Location"]] == "").all().all()
    towns = {v["locality"] for v in q["ambiguous_place"]["venues"]}
    assert len(q["ambiguous_place"]["venues"]) == 2 and len(towns) == 2
    none = reports.loc[q["no_location"]["source_refs"]]
    loc_cols = [
        "Location",
        "Place name",
        "Postcode",
        "Latitude",
        "Longitude",
        "Easting",
        "Northing",
        "Setting",
    ]
    assert (none[loc_cols] == "").all().all()
    lat = pd.to_numeric(reports.loc[q["bad_latitude"]["source_refs"], "Latitude"])
    assert (lat.abs() > 90).all()
    # Every other in-person row carries some location.
    flagged = {
        r
        for k in ("bad_postcode", "ambiguous_place", "no_location", "bad_latitude")
        for r in q[k]["source_refs"]
    }
    rest = reports[~reports.index.isin(flagged) & (reports["Setting"] != "Online")]
    assert (rest[loc_cols[:-1]] != "").any(axis=1).all()


def test_generate_rejects_too_short_a_window(gazetteer):
    with pytest.raises(ValueError, match="months"):
        generate_demo(gazetteer, months=3)


def test_a_different_start_moves_the_window(gazetteer):
    d = generate_demo(gazetteer, start=date(2023, 1, 1), months=12, seed=3)
    obs = pd.to_datetime(d.reports["Date observed"], format="%d/%m/%Y")
    assert obs.min() >= pd.Timestamp(2023, 1, 1) and obs.max() <= pd.Timestamp(2023, 12, 31)
    assert d.truth["emerging_park"]["window_start"] == "2023-07-01"
