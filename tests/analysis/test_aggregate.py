"""Filters and hex aggregation, checked against an independent pandas + h3 computation."""

from __future__ import annotations

from datetime import date

import h3
import numpy as np
import pandas as pd
import pytest

from hoth_geo import selection
from hoth_geo.analysis import aggregate
from hoth_geo.analysis.places import place_ranking
from hoth_geo.schema import CONCERNS, INDICATORS, PLACE_TYPES, keys_to_mask
from hoth_geo.selection import ReportFilter


@pytest.fixture(scope="module")
def reports() -> pd.DataFrame:
    """20,000 synthetic reports around County Durham in the analysis-frame layout."""
    rng = np.random.default_rng(7)
    n = 20_000
    lat = 54.75 + rng.normal(0, 0.08, n)
    lon = -1.6 + rng.normal(0, 0.12, n)
    online = rng.random(n) < 0.08
    cells = np.array([h3.str_to_int(h3.latlng_to_cell(a, b, 11)) for a, b in zip(lat, lon, strict=True)])
    cells[online] = 0
    concern_keys = list(CONCERNS)
    concerns = ["|".join(sorted(set(rng.choice(concern_keys, size=rng.integers(1, 3))))) for _ in range(n)]
    types = rng.choice(list(PLACE_TYPES), n)
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "observed_at": pd.Timestamp("2024-11-01")
            + pd.to_timedelta(rng.integers(0, 730 * 24, n), unit="h"),
            "online": online,
            "h3": cells,
            "place_id": np.where(rng.random(n) < 0.5, [f"p{i}" for i in rng.integers(0, 300, n)], None),
            "place_type": pd.Categorical(types),
            "agency": pd.Categorical(rng.choice(["School A", "Youth Service", "Health Trust"], n)),
            "agency_type": pd.Categorical(rng.choice(["school", "youth_service", "health"], n)),
            "concerns": concerns,
            "concerns_mask": keys_to_mask(concerns, CONCERNS),
            "grading_source": pd.Categorical(rng.choice(["1", "2", "3"], n)),
            "grading_information": pd.Categorical(rng.choice(list("ABCDE"), n)),
            "indicators_mask": rng.integers(0, 1 << len(INDICATORS), n),
        }
    )


def _reference_counts(frame: pd.DataFrame, res: int) -> pd.Series:
    located = frame[(frame["h3"] != 0) & ~frame["online"]]
    parents = [h3.str_to_int(h3.cell_to_parent(h3.int_to_str(int(c)), res)) for c in located["h3"]]
    return pd.Series(parents).value_counts().sort_index()


@pytest.mark.parametrize("res", [6, 8, 10])
def test_hex_counts_match_h3_reference(reports, res):
    table = aggregate.aggregate_hexes(reports, res)
    got = table.set_index("h3")["count"].sort_index()
    pd.testing.assert_series_equal(
        got, _reference_counts(reports, res), check_names=False, check_index_type=False
    )
    assert table["count"].is_monotonic_decreasing


def test_filters_combine_like_the_equivalent_pandas_query(reports):
    f = ReportFilter(
        date_from=date(2025, 6, 1),
        date_to=date(2025, 12, 31),
        place_types=("park", "takeaway"),
        concerns=("cce", "cse"),
        agency_types=("school",),
    )
    t = reports["observed_at"]
    expected = reports[
        (t >= "2025-06-01")
        & (t < "2026-01-01")
        & reports["place_type"].isin(["park", "takeaway"])
        & reports["concerns"].str.split("|").apply(lambda ks: bool({"cce", "cse"} & set(ks)))
        & (reports["agency_type"] == "school")
    ]
    mask = selection.filter_mask(reports, f)
    assert mask.sum() == len(expected) > 0
    table = aggregate.aggregate_hexes(reports, 8, f)
    assert table["count"].sum() == (~expected["online"]).sum()
    assert selection.online_count(reports, f) == expected["online"].sum()


def test_date_to_is_inclusive_of_the_whole_day():
    frame = pd.DataFrame({"observed_at": pd.to_datetime(["2025-01-31 23:59", "2025-02-01 00:00"])})
    mask = selection.filter_mask(frame, ReportFilter(date_to=date(2025, 1, 31)))
    assert mask.tolist() == [True, False]


def test_breakdowns_name_the_top_place_types_and_concerns(reports):
    table = aggregate.aggregate_hexes(reports, 7)
    top = table.iloc[0]
    cell_rows = reports[
        [
            c != 0 and h3.str_to_int(h3.cell_to_parent(h3.int_to_str(int(c)), 7)) == top["h3"]
            for c in reports["h3"]
        ]
    ]
    first_type = cell_rows["place_type"].value_counts().index[0]
    assert top["top_place_types"].startswith(
        f"{PLACE_TYPES[first_type]} ({cell_rows['place_type'].value_counts().iloc[0]})"
    )
    assert top["distinct_places"] == cell_rows["place_id"].dropna().nunique()


def test_unknown_filter_keys_are_refused_by_name():
    with pytest.raises(ValueError, match="ReportFilter.concerns: unknown key 'county'"):
        ReportFilter(concerns=("county",))
    with pytest.raises(ValueError, match="after date_to"):
        ReportFilter(date_from=date(2025, 2, 1), date_to=date(2025, 1, 1))


def test_place_ranking_counts_reports_and_distinct_agencies(reports):
    places = pd.DataFrame(
        {
            "place_id": [f"p{i}" for i in range(300)],
            "name": [f"Place {i}" for i in range(300)],
            "place_type": "park",
            "locality": "Somewhere",
        }
    )
    ranked = place_ranking(reports, places)
    expected = reports["place_id"].value_counts()
    assert ranked["reports"].iloc[0] == expected.iloc[0]
    assert ranked.set_index("place_id")["reports"].sum() == expected.sum()
    assert ranked["rank"].tolist() == list(range(1, len(ranked) + 1))


def test_reports_placed_only_to_a_postcode_district_make_no_hot_spot_at_its_centroid(tmp_path):
    """A partner file where 60 reports give only the postcode district DH1 and 40 give coordinates
    across Durham: the district's reports are somewhere in kilometres around its centroid, so maps of
    resolution-8 hexagons (edges of half a kilometre) count them apart instead of in the one hexagon at
    the centroid, where they would be the hottest spot of the map. Resolution 6 hexagons, larger than
    the district's spread, count them."""
    from hoth_geo import store
    from hoth_geo.analysis import hotspots
    from hoth_geo.intake import pipeline

    rng = np.random.default_rng(3)
    lines = ["Source reference,Date observed,Reporting agency,Postcode,Latitude,Longitude,Concerns"]
    for i in range(60):
        lines.append(f"D-{i},0{1 + i % 9}/05/2025,Synthetic School,DH1,,,cce")
    for i in range(40):
        lat, lon = 54.70 + rng.uniform(0, 0.12), -1.65 + rng.uniform(0, 0.15)
        lines.append(f"P-{i},0{1 + i % 9}/05/2025,Synthetic School,,{lat:.6f},{lon:.6f},cce")
    path = tmp_path / "district_only.csv"
    path.write_text("\n".join(lines) + "\n")
    engine = store.connect(f"sqlite:///{tmp_path / 'r.sqlite'}")
    assert pipeline.import_file(engine, path, today=date(2026, 1, 1)).n_accepted == 100
    frame = store.load_reports(engine)
    district = frame["geocode_method"] == "postcode_district"
    assert (
        district.sum() == 60 and (frame.loc[district, "precision_m"] > selection.mappable_radius_m(8)).all()
    )

    at_8 = aggregate.aggregate_hexes(frame, 8)
    assert at_8["count"].sum() == 40 and at_8["count"].max() < 5
    assert selection.too_coarse_count(frame, None, 8) == 60
    assert selection.too_coarse_count(frame, None, 6) == 0
    assert aggregate.aggregate_hexes(frame, 6)["count"].sum() == 100
    # Gi* at resolution 8 finds no hot spot where the district's reports were placed.
    centroid = int(h3.str_to_int(h3.cell_to_parent(h3.int_to_str(int(frame.loc[district, "h3"].iloc[0])), 8)))
    result = hotspots.hotspots(frame, 8, min_reports=30)
    row = result.table.set_index("h3").loc[centroid]
    assert row["count"] == 0 and not str(row["class"]).startswith("hot")
