"""Risky places: ranking, concentration, repeats and the within-type test, on the demo and by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from hoth_geo.analysis.places import (
    concentration_curve,
    lorenz_points,
    place_counts,
    place_ranking,
    repeat_place_rate,
    within_type_comparison,
)
from hoth_geo.schema import CONCERNS, keys_to_mask
from hoth_geo.selection import ReportFilter

HOTEL_A = "demo:hotel-a-durham"


@pytest.fixture(scope="module")
def demo(demo_store):
    return demo_store.reports, demo_store.places


def _reports(place_ids: list[str | None], concerns: list[str] | None = None) -> pd.DataFrame:
    n = len(place_ids)
    concerns = concerns or ["cse"] * n
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "observed_at": pd.date_range("2025-01-01", periods=n, freq="D"),
            "online": np.zeros(n, dtype=bool),
            "h3": np.full(n, 0x8B194649D8CEFFF, dtype=np.int64),
            "place_id": pd.Series(place_ids, dtype=object),
            "place_type": pd.Categorical(["hotel"] * n),
            "agency": pd.Categorical([f"Agency {i % 3}" for i in range(n)]),
            "agency_type": pd.Categorical(["police"] * n),
            "concerns": concerns,
            "concerns_mask": keys_to_mask(concerns, CONCERNS),
            "indicators_mask": np.zeros(n, dtype=np.int64),
            "grading_source": pd.Categorical(["1"] * n),
            "grading_information": pd.Categorical(["A"] * n),
        }
    )


def _places(n_hotels: int, n_parks: int = 0) -> pd.DataFrame:
    ids = [f"h{i}" for i in range(n_hotels)] + [f"p{i}" for i in range(n_parks)]
    return pd.DataFrame(
        {
            "place_id": ids,
            "name": [f"Place {i} (test)" for i in ids],
            "place_type": ["hotel"] * n_hotels + ["park"] * n_parks,
            "latitude": 54.7,
            "longitude": -1.6,
            "locality": "Test ward",
        }
    )


# --- Demo: the planted hotel -------------------------------------------------------------------------


def test_planted_hotel_tops_the_hotel_ranking_by_a_clear_margin(demo):
    reports, places = demo
    hotels = place_ranking(reports, places, place_types=("hotel",))
    assert hotels.loc[0, "place_id"] == HOTEL_A
    assert hotels.loc[0, "name"] == "Hotel A, Durham (demo)"
    assert hotels.loc[0, "reports"] >= 3 * hotels.loc[1, "reports"]
    assert hotels["rank"].tolist() == list(range(1, len(hotels) + 1))
    assert hotels["rank_in_type"].tolist() == list(range(1, len(hotels) + 1))
    assert hotels["share_of_type"].sum() == pytest.approx(1.0)
    assert hotels.loc[0, "concerns"].startswith("Child sexual exploitation")
    # The CSE filter keeps it on top.
    cse = place_ranking(reports, places, ReportFilter(concerns=("cse",)), place_types=("hotel",))
    assert cse.loc[0, "place_id"] == HOTEL_A


def test_a_places_top_indicators_are_the_signs_its_reports_noted_most(demo_store):
    """Checked against the indicators stored as the partners' forms gave them (text), read by id."""
    from collections import Counter

    from hoth_geo import store
    from hoth_geo.schema import INDICATORS

    reports, places = demo_store.reports, demo_store.places
    hotel = place_ranking(reports, places).set_index("place_id").loc[HOTEL_A]
    ids = reports.loc[reports["place_id"] == HOTEL_A, "id"]
    written = store.report_details(demo_store.engine, ids, ["indicators"])["indicators"].dropna()
    noted = Counter(key for text in written for key in text.split("|") if key)
    top = sorted(noted.items(), key=lambda kv: (-kv[1], list(INDICATORS).index(kv[0])))[:3]
    assert hotel["indicators"] == ", ".join(f"{INDICATORS[k]} ({n})" for k, n in top) and top


def test_ranking_counts_match_a_direct_groupby(demo):
    reports, places = demo
    table = place_ranking(reports, places)
    direct = reports["place_id"].dropna().astype(object).value_counts()
    got = table.set_index("place_id")["reports"]
    assert got.sort_index().tolist() == direct.sort_index().tolist()
    linked = reports[reports["place_id"].notna()].astype({"place_id": object, "agency": object})
    agencies = linked.groupby("place_id")["agency"].nunique()
    assert table.set_index("place_id")["agencies"].sort_index().tolist() == agencies.sort_index().tolist()
    first = linked.groupby("place_id")["observed_at"].min()
    assert (table.set_index("place_id")["first"].sort_index() == first.sort_index()).all()
    assert table["reports"].is_monotonic_decreasing
    assert (table["share_of_type"] <= 1).all()


def test_within_type_comparison_flags_the_planted_hotel(demo):
    reports, places = demo
    result = within_type_comparison(reports, places, HOTEL_A)
    assert result["flagged"] and result["poisson_p"] < 0.001
    assert result["percentile_rank"] == 100.0
    hotels = place_counts(reports, places)
    others = hotels[(hotels["place_type"] == "hotel") & (hotels["place_id"] != HOTEL_A)]["reports"]
    assert result["n_other_places"] == len(others)
    assert result["other_mean"] == pytest.approx(others.mean())
    assert result["other_median"] == pytest.approx(others.median())
    assert result["other_p90"] == pytest.approx(np.percentile(others, 90))
    ordinary = within_type_comparison(reports, places, "demo:hotel-b-darlington")
    assert not ordinary["flagged"] and ordinary["poisson_p"] > 0.05


def test_concentration_matches_a_direct_numpy_computation(demo):
    reports, places = demo
    table = concentration_curve(reports, places)
    linked = reports["place_id"].dropna().astype(object).value_counts()
    for ptype in ("hotel", "takeaway", "car_park", "leisure"):
        ids = places.loc[places["place_type"] == ptype, "place_id"].unique()
        counts = np.sort(np.array([linked.get(i, 0) for i in ids]))[::-1]
        for share in (0.05, 0.10, 0.20):
            n_top = max(1, math.ceil(round(share * len(counts), 9)))
            expected = counts[:n_top].sum() / counts.sum()
            row = table[(table["place_type"] == ptype) & (table["top_share_of_places"] == share)].iloc[0]
            assert row["n_places"] == len(ids)  # zero-report places are in the denominator
            assert row["n_top_places"] == n_top
            assert row["share_of_reports"] == pytest.approx(expected)
    everything = concentration_curve(reports, places, by_type=False)
    assert set(everything["place_type"]) == {"all"}
    assert everything["n_places"].iloc[0] == places["place_id"].nunique()


# --- Constructed cases -------------------------------------------------------------------------------


def test_zero_report_places_are_counted():
    # 10 hotels, reports at two of them (6 and 2): the top 10 % is one place holding 6/8 of reports.
    reports = _reports(["h0"] * 6 + ["h1"] * 2)
    table = concentration_curve(reports, _places(10, n_parks=4))
    hotel = table[table["place_type"] == "hotel"].set_index("top_share_of_places")
    assert hotel.loc[0.10, "n_places"] == 10
    assert hotel.loc[0.10, "n_places_with_reports"] == 2
    assert hotel.loc[0.10, "share_of_reports"] == pytest.approx(6 / 8)
    assert hotel.loc[0.20, "n_top_places"] == 2 and hotel.loc[0.20, "share_of_reports"] == 1.0
    assert hotel.loc[0.05, "n_top_places"] == 1  # ceil(0.5) places, never none
    park = table[table["place_type"] == "park"]
    assert park["n_places"].eq(4).all() and park["share_of_reports"].isna().all()


def test_a_linked_place_missing_from_the_places_frame_still_counts():
    reports = _reports(["h0", "gone", "gone"])
    counts = place_counts(reports, _places(2))
    assert counts.set_index("place_id").loc["gone", "reports"] == 2
    assert counts.set_index("place_id").loc["gone", "place_type"] == "hotel"
    assert counts["reports"].sum() == 3


def test_repeat_place_rate_by_hand():
    reports = _reports(["h0"] * 3 + ["h1"] * 2 + ["h2"] + [None])
    table = repeat_place_rate(reports, _places(5)).set_index("place_type")
    hotel = table.loc["hotel"]
    assert hotel["places_with_reports"] == 3
    assert hotel["repeat_places"] == 2
    assert hotel["repeat_place_rate"] == pytest.approx(2 / 3)
    assert hotel["reports"] == 6
    assert hotel["reports_at_repeat_places"] == 5
    assert hotel["share_of_reports_at_repeat_places"] == pytest.approx(5 / 6)


def test_lorenz_points_run_from_zero_to_one():
    reports = _reports(["h0"] * 6 + ["h1"] * 2)
    pts = lorenz_points(reports, _places(4, n_parks=3))
    hotel = pts[pts["place_type"] == "hotel"]
    assert hotel["share_of_places"].tolist() == [0, 0.25, 0.5, 0.75, 1.0]
    assert hotel["share_of_reports"].tolist() == pytest.approx([0, 0.75, 1.0, 1.0, 1.0])
    assert "park" not in set(pts["place_type"])  # no reports: no curve


def test_within_type_comparison_poisson_by_hand():
    # Others: 2, 0, 1, 1 reports (mean 1); this hotel 6: p = P(Poisson(1) >= 6).
    reports = _reports(["h0"] * 6 + ["h1"] * 2 + ["h3", "h4"])
    result = within_type_comparison(reports, _places(5), "h0")
    expected = 1 - sum(math.exp(-1) / math.factorial(j) for j in range(6))
    assert result["poisson_p"] == pytest.approx(expected, rel=1e-9)
    assert result["other_mean"] == 1.0 and result["rate_ratio"] == 6.0
    assert result["percentile_rank"] == 100.0
    assert result["flagged"] is True  # p = 0.00059 < 0.001
    low = within_type_comparison(reports, _places(5), "h2")
    assert low["reports"] == 0 and low["poisson_p"] == 1.0 and low["percentile_rank"] == 0.0


def test_within_type_comparison_without_comparators():
    reports = _reports(["h0"] * 3)
    alone = within_type_comparison(reports, _places(1), "h0")
    assert math.isnan(alone["poisson_p"]) and not alone["flagged"]
    quiet = within_type_comparison(reports, _places(3), "h0")
    assert math.isnan(quiet["poisson_p"]) and quiet["rate_ratio"] == math.inf


def test_errors_name_the_argument():
    reports = _reports(["h0"])
    with pytest.raises(ValueError, match="place_id 'nope'"):
        within_type_comparison(reports, _places(2), "nope")
    with pytest.raises(ValueError, match="alpha"):
        within_type_comparison(reports, _places(2), "h0", alpha=2)
    with pytest.raises(ValueError, match="top_shares"):
        concentration_curve(reports, _places(2), top_shares=(0.0,))
    with pytest.raises(ValueError, match="places is missing column 'locality'"):
        place_ranking(reports, _places(2).drop(columns="locality"))


def test_filter_on_place_types_limits_the_universe():
    reports = _reports(["h0", "h1"])
    table = concentration_curve(reports, _places(3, n_parks=5), ReportFilter(place_types=("hotel",)))
    assert set(table["place_type"]) == {"hotel"}
    assert place_ranking(reports.iloc[:0], _places(2)).empty


def test_a_hexagon_counts_its_reports_by_each_indicator_they_note(demo_store):
    """Checked against the indicators stored as the partners' forms gave them (text), read by id."""
    from collections import Counter

    from hoth_geo import store
    from hoth_geo.analysis.places import hex_detail
    from hoth_geo.hexes import cells_to_parent
    from hoth_geo.schema import INDICATORS
    from hoth_geo.selection import located

    reports, places = demo_store.reports, demo_store.places
    cells = cells_to_parent(reports["h3"].to_numpy(), 8)
    busiest = pd.Series(cells[located(reports, 8)]).value_counts().index[0]
    inside = located(reports, 8) & (cells == busiest)
    detail = hex_detail(reports, places, int(busiest), 8)
    written = store.report_details(demo_store.engine, reports.loc[inside, "id"], ["indicators"])["indicators"]
    noted = Counter(key for text in written.dropna() for key in text.split("|") if key)
    got = dict(zip(detail["by_indicator"]["indicator"], detail["by_indicator"]["reports"], strict=True))
    assert got == {INDICATORS[k]: n for k, n in noted.items()} and len(got) > 3
    assert detail["by_indicator"]["reports"].is_monotonic_decreasing
