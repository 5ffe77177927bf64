"""The patrol plan: demo patterns, spreading, decay, slot counting over midnight, and CSV export."""

from __future__ import annotations

import csv
import io
import math
from datetime import date

import h3.api.basic_int as h3i
import numpy as np
import pandas as pd
import pytest

from hoth_geo.analysis.patrol import (
    DEFAULT_GRADING_WEIGHTS,
    RECENCY_FLOOR,
    patrol_plan,
    plan_to_csv,
    report_weights,
    slot_scores,
)
from hoth_geo.hexes import cells_to_parent
from hoth_geo.schema import CONCERNS, keys_to_mask

TOWN_CENTRE_RES8 = int("8819464e2dfffff", 16)
DURHAM_TAXI_RANK = "Taxi rank, Saddler Street, Durham (demo)"
WEEKEND = {4, 5, 6}  # Fri, Sat, Sun (0 = Monday)

# Two res-9 hexes in Darlington and one in Durham, and a fine cell inside each.
HEX_X = h3i.latlng_to_cell(54.5228, -1.5535, 9)
HEX_Y = h3i.latlng_to_cell(54.7761, -1.5749, 9)
FINE = {HEX_X: h3i.cell_to_center_child(HEX_X, 11), HEX_Y: h3i.cell_to_center_child(HEX_Y, 11)}


@pytest.fixture(scope="module")
def demo(demo_store):
    return demo_store.reports, demo_store.places


def _frame(rows: list[dict]) -> pd.DataFrame:
    """Analysis-frame rows: each dict gives observed_at and hex, optionally time_known, grading, place."""
    n = len(rows)
    concerns = [r.get("concerns", "cse") for r in rows]
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "observed_at": pd.to_datetime([r["observed_at"] for r in rows], format="ISO8601"),
            "time_known": [r.get("time_known", True) for r in rows],
            "online": [False] * n,
            "h3": np.array([FINE[r["hex"]] for r in rows], dtype=np.int64),
            "place_id": pd.Series([r.get("place_id") for r in rows], dtype=object),
            "place_type": pd.Categorical([r.get("place_type", "taxi") for r in rows]),
            "agency": pd.Categorical([r.get("agency", "Test agency") for r in rows]),
            "agency_type": pd.Categorical(["police"] * n),
            "concerns": concerns,
            "concerns_mask": keys_to_mask(concerns, CONCERNS),
            "grading_source": pd.Categorical([r.get("source", "1") for r in rows]),
            "grading_information": pd.Categorical([r.get("information", "A") for r in rows]),
        }
    )


NO_PLACES = pd.DataFrame({"place_id": pd.Series(dtype=object), "name": pd.Series(dtype=object)})


# --- Demo ----------------------------------------------------------------------------------------------


def test_plan_finds_the_darlington_town_centre_on_weekend_evenings(demo):
    reports, places = demo
    plan = patrol_plan(reports, places)
    assert len(plan) == 10
    town = plan[cells_to_parent(plan["h3"].to_numpy(), 8) == TOWN_CENTRE_RES8]
    assert not town.empty
    evening_weekend = town[town["day_of_week"].isin(WEEKEND) & town["start_hour"].between(17, 22)]
    assert not evening_weekend.empty
    assert evening_weekend["places_in_hex"].str.contains("Darlington town centre").any()
    assert plan["score"].is_monotonic_decreasing
    assert plan["slot"].tolist() == list(range(1, 11))


def test_plan_finds_a_durham_taxi_rank_at_night(demo):
    reports, places = demo
    plan = patrol_plan(reports, places, half_life_days=365)
    taxi = plan[plan["places_in_hex"].str.contains(DURHAM_TAXI_RANK, regex=False)]
    assert not taxi.empty
    night = (taxi["start_hour"] >= 21) | (taxi["start_hour"] <= 3)
    assert night.all()
    assert taxi["why"].str.contains("taxi ranks").any()


@pytest.mark.parametrize("max_per_hex", [1, 2, 3])
def test_spreading_holds(demo, max_per_hex):
    reports, places = demo
    plan = patrol_plan(reports, places, slots=40, slot_hours=3, max_slots_per_hex=max_per_hex)
    assert plan.groupby("h3").size().max() <= max_per_hex
    for _, group in plan.groupby("h3"):
        starts = (group["day_of_week"] * 24 + group["start_hour"]).tolist()
        for i, a in enumerate(starts):
            for b in starts[i + 1 :]:
                gap = (a - b) % 168
                assert min(gap, 168 - gap) >= 3, (a, b)


def test_greedy_choice_matches_a_plain_greedy_over_all_candidates(demo):
    reports, places = demo
    for slots, width, per_hex in [(10, 2, 2), (60, 3, 1), (25, 4, 3)]:
        plan = patrol_plan(reports, places, slots=slots, slot_hours=width, max_slots_per_hex=per_hex)
        table = slot_scores(reports, slot_hours=width)
        chosen: dict[int, list[int]] = {}
        expected = []
        for row in table.itertuples():  # best first, ties by cell then time
            start = row.day_of_week * 24 + row.start_hour
            taken = chosen.setdefault(row.h3, [])
            if len(taken) >= per_hex or any(min((start - o) % 168, (o - start) % 168) < width for o in taken):
                continue
            taken.append(start)
            expected.append((row.h3, row.day_of_week, row.start_hour))
            if len(expected) == slots:
                break
        got = list(zip(plan["h3"], plan["day_of_week"], plan["start_hour"], strict=True))
        assert got == expected


def test_window_and_as_of_leave_out_later_reports(demo):
    reports, places = demo
    plan = patrol_plan(reports, places, window=(date(2025, 1, 1), date(2025, 6, 30)), half_life_days=math.inf)
    in_window = reports[(reports["observed_at"] >= "2025-01-01") & (reports["observed_at"] < "2025-07-01")]
    full = slot_scores(in_window, half_life_days=math.inf)
    # With no decay and all reports of the window, slot 1 is the best candidate slot of the window.
    assert plan.loc[0, "score"] == pytest.approx(full.loc[0, "score"], abs=1e-3)
    early = patrol_plan(reports, places, as_of=date(2024, 12, 31), half_life_days=math.inf)
    before = reports[reports["observed_at"] < "2025-01-01"]
    assert early.loc[0, "score"] == pytest.approx(
        slot_scores(before, half_life_days=math.inf).loc[0, "score"], abs=1e-3
    )


# --- Constructed cases ---------------------------------------------------------------------------------


def test_wrap_over_midnight_counts_are_exact():
    # 2025-03-07 is a Friday.
    rows = [
        {"observed_at": "2025-03-07 22:10", "hex": HEX_X},  # Fri 22
        {"observed_at": "2025-03-07 23:30", "hex": HEX_X},  # Fri 23
        {"observed_at": "2025-03-08 00:15", "hex": HEX_X},  # Sat 00
        {"observed_at": "2025-03-08 01:30", "hex": HEX_X},  # Sat 01
        {"observed_at": "2025-03-09 23:10", "hex": HEX_X},  # Sun 23
        {"observed_at": "2025-03-10 00:20", "hex": HEX_X},  # Mon 00 (wraps round the week)
    ]
    table = slot_scores(_frame(rows), slot_hours=2, half_life_days=math.inf)
    got = {(r.day_of_week, r.start_hour): r.reports for r in table.itertuples()}
    expected = {
        (4, 21): 1,  # Fri 21-23: 22:10
        (4, 22): 2,  # Fri 22-24: 22:10, 23:30
        (4, 23): 2,  # Fri 23-Sat 01: 23:30, 00:15
        (5, 0): 2,  # Sat 00-02: 00:15, 01:30
        (5, 1): 1,  # Sat 01-03: 01:30
        (6, 22): 1,  # Sun 22-24: 23:10
        (6, 23): 2,  # Sun 23-Mon 01: 23:10, 00:20
        (0, 0): 1,  # Mon 00-02: 00:20
    }
    assert got == expected
    # Grades 1/A and no decay: each report weighs exactly 1.
    assert table.set_index(["day_of_week", "start_hour"])["score"].to_dict() == {
        k: float(v) for k, v in expected.items()
    }
    plan = patrol_plan(_frame(rows), NO_PLACES, slots=3, half_life_days=math.inf)
    first = plan.iloc[0]
    assert (first["day_of_week"], first["start_hour"], first["end_hour"]) == (4, 22, 0)
    assert first["window"] == "Fri 22:00–24:00"
    # Fri 23 overlaps the chosen Fri 22 slot: the next is Sat 00 (no overlap with Fri 22-24)...
    # ...but max_slots_per_hex=2 stops there, so only two slots come from one hex.
    assert len(plan) == 2
    assert (plan.iloc[1]["day_of_week"], plan.iloc[1]["start_hour"]) == (5, 0)
    wrap = slot_scores(_frame(rows[4:]), slot_hours=2, half_life_days=math.inf).iloc[0]
    assert (wrap["day_of_week"], wrap["start_hour"], wrap["reports"]) == (6, 23, 2)
    sunday = patrol_plan(_frame(rows[4:]), NO_PLACES, slots=1, half_life_days=math.inf).iloc[0]
    assert sunday["window"] == "Sun 23:00–Mon 01:00" and sunday["end_hour"] == 1


def test_half_life_moves_ranks_in_the_expected_direction():
    # X: five Wednesday reports some 290 days before as_of. Y: four Wednesday reports in the weeks
    # before. Same hour, same grades. Close counts: recency decides between them, and a longer
    # half-life lets the older, larger cluster win.
    rows = [{"observed_at": f"2025-01-{d:02d} 20:30", "hex": HEX_X} for d in (1, 8, 15, 22, 29)]
    rows += [{"observed_at": f"2025-10-{d:02d} 20:30", "hex": HEX_Y} for d in (1, 8, 15, 22)]
    frame = _frame(rows)
    as_of = date(2025, 10, 23)
    short = patrol_plan(frame, NO_PLACES, half_life_days=7, as_of=as_of, slots=2, max_slots_per_hex=1)
    long = patrol_plan(frame, NO_PLACES, half_life_days=3650, as_of=as_of, slots=2, max_slots_per_hex=1)
    assert short["h3"].tolist() == [HEX_Y, HEX_X]
    assert long["h3"].tolist() == [HEX_X, HEX_Y]
    # Recency by hand: the part above the floor of 1/2 halves every half-life.
    ages = (pd.Timestamp("2025-10-24") - frame["observed_at"]) / pd.Timedelta(days=1)
    w = report_weights(frame, as_of=pd.Timestamp("2025-10-24"), half_life_days=7)
    np.testing.assert_allclose(w, RECENCY_FLOOR + (1 - RECENCY_FLOOR) * 2.0 ** (-ages.to_numpy() / 7))
    assert w.min() > 0.5


@pytest.mark.parametrize("half_life_days", [1, 7, 28, 365])
def test_one_new_report_never_outranks_a_cluster_of_nine(half_life_days):
    # The taxi rank: nine reports on Friday nights over the year before as_of. Elsewhere, one report
    # the afternoon before as_of. Whatever the half-life, the rank comes first.
    fridays = pd.date_range("2025-01-03 23:15", periods=9, freq="35D")  # every fifth Friday
    rank = [{"observed_at": str(t), "hex": HEX_Y, "place_id": "rank"} for t in fridays]
    fresh = [{"observed_at": "2025-12-30 15:00", "hex": HEX_X, "place_id": "shop", "place_type": "shop"}]
    places = pd.DataFrame({"place_id": ["rank", "shop"], "name": ["Taxi rank (test)", "Shop (test)"]})
    plan = patrol_plan(
        _frame(rank + fresh),
        places,
        slots=2,
        max_slots_per_hex=1,
        half_life_days=half_life_days,
        as_of=date(2025, 12, 31),
    )
    assert plan["h3"].tolist() == [HEX_Y, HEX_X]
    assert plan["reports"].tolist() == [9, 1]
    assert plan.loc[0, "places_in_hex"] == "Taxi rank (test) (9)"


def test_equal_counts_put_the_more_recent_slot_first():
    # Three Friday evenings each: X in January, Y in September.
    older = [{"observed_at": f"2025-01-{d:02d} 21:00", "hex": HEX_X} for d in (3, 10, 17)]
    newer = [{"observed_at": f"2025-09-{d:02d} 21:00", "hex": HEX_Y} for d in (5, 12, 19)]
    plan = patrol_plan(
        _frame(older + newer), NO_PLACES, slots=2, max_slots_per_hex=1, as_of=date(2025, 9, 30)
    )
    assert plan["h3"].tolist() == [HEX_Y, HEX_X]
    assert plan["reports"].tolist() == [3, 3]


def test_demo_plan_puts_the_durham_taxi_rank_above_every_single_report_slot(demo):
    # The noticed case: at the default half-life, slots of one report came before the Durham taxi
    # rank's nine. Recency may halve a report and grading differs little in the demo, so no slot is
    # ranked above one with four times its reports.
    reports, places = demo
    plan = patrol_plan(reports, places, slots=20)
    counts = plan["reports"].tolist()
    for i, above in enumerate(counts):
        assert all(above * 4 >= below for below in counts[i + 1 :]), counts
    taxi = plan[plan["places_in_hex"].str.contains(DURHAM_TAXI_RANK, regex=False)]
    single = plan[plan["reports"] == 1]
    assert not taxi.empty
    assert single.empty or single["slot"].min() > taxi["slot"].min()


def test_unknown_time_reports_lift_the_hex_but_never_pick_an_hour():
    known = [{"observed_at": "2025-03-07 21:00", "hex": HEX_X}]
    unknown = [{"observed_at": "2025-03-07", "hex": HEX_X, "time_known": False}] * 4
    only_unknown = [{"observed_at": "2025-03-07", "hex": HEX_Y, "time_known": False}] * 50
    frame = _frame(known + unknown + only_unknown)
    table = slot_scores(frame, slot_hours=2, half_life_days=math.inf)
    assert set(table["h3"]) == {HEX_X}  # a hex with no time-known report has no slot
    assert table["reports"].tolist() == [1, 1]  # Fri 20 and Fri 21 starts cover 21:00
    assert table["score"].tolist() == pytest.approx([1 + 4 * 2 / 168] * 2)
    plan = patrol_plan(frame, NO_PLACES, half_life_days=math.inf)
    assert plan["unknown_time_reports"].tolist() == [4]
    assert "(and 4 here at unknown times)" in plan.loc[0, "why"]


def test_grading_weights_default_and_override():
    rows = [
        {"observed_at": "2025-03-07 21:00", "hex": HEX_X, "source": "3", "information": "E"},
        {"observed_at": "2025-03-07 21:00", "hex": HEX_X, "source": "2", "information": "C"},
        {"observed_at": "2025-03-07 21:00", "hex": HEX_X, "source": None, "information": None},
    ]
    frame = _frame(rows)
    w = report_weights(frame, as_of="2025-03-07 21:00", half_life_days=math.inf)
    assert w.tolist() == pytest.approx([0.5 * 0.4, 0.8 * 0.7, 0.8 * 0.7])  # ungraded counts as 2/C
    heavier = report_weights(
        frame, as_of="2025-03-07 21:00", half_life_days=math.inf, grading_weights={"source": {"3": 1.0}}
    )
    assert heavier[0] == pytest.approx(1.0 * 0.4)
    assert DEFAULT_GRADING_WEIGHTS["source"]["3"] == 0.5  # the override did not leak into the defaults


def test_why_and_places_come_from_the_slot():
    rows = [
        {"observed_at": "2025-03-07 23:10", "hex": HEX_Y, "place_id": "t1", "concerns": "cse"},
        {"observed_at": "2025-03-07 23:40", "hex": HEX_Y, "place_id": "t1", "concerns": "cse"},
        {
            "observed_at": "2025-03-08 00:10",
            "hex": HEX_Y,
            "place_id": "t2",
            "concerns": "people_of_concern|cse",
        },
        {"observed_at": "2025-03-05 12:00", "hex": HEX_Y, "place_id": "h1", "place_type": "hotel"},
    ]
    places = pd.DataFrame({"place_id": ["t1", "t2", "h1"], "name": ["Rank One", "Rank Two", "Hotel"]})
    plan = patrol_plan(_frame(rows), places, slots=1, half_life_days=math.inf)
    row = plan.iloc[0]
    assert row["window"] == "Fri 23:00–Sat 01:00"
    assert row["places_in_hex"] == "Rank One (2); Rank Two (1)"
    assert row["why"] == (
        "3 reports at these hours in the last 1 week from 1 agency, mostly CSE at taxi ranks, Fri 23:00–Sat 01:00"
    )
    assert (row["reports"], row["agencies"]) == (3, 1)


def test_area_cells_restrict_the_plan():
    rows = [{"observed_at": "2025-03-07 21:00", "hex": HEX_X}] * 3 + [
        {"observed_at": "2025-03-07 21:00", "hex": HEX_Y}
    ]
    plan = patrol_plan(_frame(rows), NO_PLACES, area_cells=[h3i.cell_to_parent(HEX_Y, 7)])
    assert set(plan["h3"]) == {HEX_Y}


def test_validation_errors_name_the_argument():
    frame = _frame([{"observed_at": "2025-03-07 21:00", "hex": HEX_X}])
    for kwargs, name in [
        ({"slots": 0}, "slots"),
        ({"slot_hours": 25}, "slot_hours"),
        ({"half_life_days": -1}, "half_life_days"),
        ({"max_slots_per_hex": 0}, "max_slots_per_hex"),
        ({"res": 12}, "res"),
        ({"window": (date(2025, 2, 1), date(2025, 1, 1))}, "window"),
        ({"grading_weights": {"source": {"9": 1.0}}}, "grading_weights"),
        ({"grading_weights": {"information": {"A": -1}}}, "grading_weights"),
        ({"area_cells": [0]}, "area_cells"),
    ]:
        with pytest.raises(ValueError, match=name):
            patrol_plan(frame, NO_PLACES, **kwargs)


def test_empty_selection_gives_an_empty_plan():
    frame = _frame([{"observed_at": "2025-03-07 21:00", "hex": HEX_X}])
    plan = patrol_plan(frame, NO_PLACES, window=(date(2020, 1, 1), date(2020, 1, 2)))
    assert plan.empty and list(plan.columns)[:3] == ["slot", "h3", "day_of_week"]


# --- CSV -----------------------------------------------------------------------------------------------


def test_plan_to_csv_neutralises_formulas_and_keeps_h3_exact():
    plan = pd.DataFrame(
        {
            "slot": [1, 2, 3, 4, 5, 6, 7],
            "h3": [HEX_X] * 7,
            "score": [-1.5, 2, 3, 4, 5, 6, 7],
            "places_in_hex": ["=HYPERLINK(1)", "+1", "-2", "@SUM(A1)", "\tx", "\rx", "Rank One (2)"],
        }
    )
    text = plan_to_csv(plan).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [r["places_in_hex"] for r in rows] == [
        "'=HYPERLINK(1)",
        "'+1",
        "'-2",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
        "Rank One (2)",
    ]
    assert rows[0]["score"] == "-1.5"  # numbers are not text cells and stay numbers
    assert int(rows[0]["h3"], 16) == HEX_X
    assert plan["places_in_hex"].iloc[0] == "=HYPERLINK(1)"  # the input is not modified


def test_plan_to_csv_round_trips_a_real_plan(demo):
    reports, places = demo
    plan = patrol_plan(reports, places)
    rows = list(csv.DictReader(io.StringIO(plan_to_csv(plan).decode("utf-8-sig"), newline="")))
    assert [int(r["h3"], 16) for r in rows] == plan["h3"].tolist()
    assert [r["why"] for r in rows] == plan["why"].tolist()


def test_why_speaks_in_reports_over_the_weeks_of_the_window_and_counts_agencies():
    rows = [
        {"observed_at": "2025-02-21 22:15", "hex": HEX_X, "agency": "Synthetic School"},
        {"observed_at": "2025-02-14 22:30", "hex": HEX_X, "agency": "Synthetic Taxi Licensing"},
        {"observed_at": "2025-01-10 22:45", "hex": HEX_X, "agency": "Synthetic School"},
    ]
    plan = patrol_plan(_frame(rows), NO_PLACES, slots=1, window=("2025-01-01", "2025-02-25"))
    why = plan.loc[0, "why"]
    assert why.startswith("3 reports at these hours in the last 8 weeks from 2 agencies")
    assert "weighted" not in why and (plan.loc[0, "reports"], plan.loc[0, "agencies"]) == (3, 2)


def test_plan_csv_carries_its_marking_and_the_demo_label_above_the_header():
    rows = [{"observed_at": "2025-02-21 22:15", "hex": HEX_X, "agency": '=HYPERLINK("http://x")'}]
    plan = patrol_plan(_frame(rows), NO_PLACES, slots=1)
    lines = plan_to_csv(plan, marking="OFFICIAL-SENSITIVE", demo=True).decode("utf-8-sig").split("\r\n")
    assert lines[0] == "Protective marking: OFFICIAL-SENSITIVE"
    assert lines[1].startswith("SYNTHETIC DEMO DATA")
    assert lines[2] == "" and lines[3].startswith("slot,h3,")
    assert plan_to_csv(plan).decode("utf-8-sig").startswith("slot,h3,")  # no preamble unless asked


# --- The plan as the app shows it ------------------------------------------------------------------------


def test_plan_window_needs_both_dates():
    from hoth_geo.analysis.patrol import plan_window
    from hoth_geo.selection import ReportFilter

    assert plan_window(None) is None
    assert plan_window(ReportFilter(date_from=date(2025, 1, 1))) is None
    assert plan_window(ReportFilter(date_to=date(2025, 1, 31))) is None
    both = ReportFilter(date_from=date(2025, 1, 1), date_to=date(2025, 1, 31))
    assert plan_window(both) == (date(2025, 1, 1), date(2025, 1, 31))


def test_plan_by_hexagon_sums_its_slots_once_per_hexagon(demo):
    from hoth_geo.analysis.patrol import plan_by_hexagon

    reports, places = demo
    plan = patrol_plan(reports, places, slots=12, max_slots_per_hex=2)
    per_hex = plan_by_hexagon(plan)
    assert per_hex["h3"].is_unique
    assert set(per_hex["h3"]) == set(plan["h3"])
    assert per_hex["reports"].sum() == plan["reports"].sum()
    assert per_hex["h3"].tolist() == list(dict.fromkeys(plan["h3"]))  # best slot first
    for row in per_hex.itertuples():
        mine = plan[plan["h3"] == row.h3]
        assert row.slots == ", ".join(str(s) for s in mine["slot"])
        assert row.reports == mine["reports"].sum()
        assert row.window.split("; ") == mine["window"].tolist()
    assert "where" not in per_hex.columns
    with pytest.raises(ValueError, match="'why'"):
        plan_by_hexagon(plan.drop(columns="why"))


def test_places_in_cells_are_the_reported_places_inside_the_plan(demo):
    from hoth_geo.analysis.patrol import places_in_cells
    from hoth_geo.analysis.places import top_places

    reports, places = demo
    plan = patrol_plan(reports, places)
    cells = plan["h3"].unique().tolist()
    inside = places_in_cells(reports, places, cells, 9)
    assert not inside.empty
    point_cells = [
        h3i.latlng_to_cell(lat, lon, 9)
        for lat, lon in zip(inside["latitude"], inside["longitude"], strict=True)
    ]
    assert set(point_cells) <= set(cells)
    # Every reported place in those hexagons, not only the top 25 of the area.
    everywhere = top_places(reports, places, limit=None)
    in_plan = [
        pid
        for pid, lat, lon in zip(
            everywhere["place_id"], everywhere["latitude"], everywhere["longitude"], strict=True
        )
        if h3i.latlng_to_cell(lat, lon, 9) in set(cells)
    ]
    assert sorted(inside["place_id"]) == sorted(in_plan)
    assert places_in_cells(reports, places, [], 9).empty
