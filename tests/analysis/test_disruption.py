"""Before/after counts and the Weighted Displacement Quotient, against hand-computed values."""

from __future__ import annotations

import math
from datetime import date

import h3.api.basic_int as h3i
import numpy as np
import pandas as pd
import pytest

from hoth_geo.analysis.disruption import (
    before_after,
    buffer_around,
    interpret_wdq,
    ring_cells,
    wdq_from_counts,
)
from hoth_geo.schema import CONCERNS, keys_to_mask
from hoth_geo.selection import ReportFilter

TARGET = h3i.latlng_to_cell(54.5228, -1.5535, 9)  # Darlington town centre
BUFFER = ring_cells(TARGET, 1, 2)
CONTROL = h3i.latlng_to_cell(54.7761, -1.5749, 9)  # Durham
BEFORE = (date(2025, 1, 1), date(2025, 3, 31))
AFTER = (date(2025, 4, 1), date(2025, 6, 30))


# --- The arithmetic, by hand -------------------------------------------------------------------------


def test_displacement_case():
    # SM = 60/1000 - 100/1000 = -0.04; BDM = 70/1000 - 50/1000 = 0.02; WDQ = 0.02 / -0.04 = -0.5.
    r = wdq_from_counts(100, 60, 50, 70, 1000, 1000)
    assert r["success_measure"] == pytest.approx(-0.04)
    assert r["buffer_displacement_measure"] == pytest.approx(0.02)
    assert r["wdq"] == pytest.approx(-0.5)
    assert r["interpretation"].startswith("Displacement smaller than the direct effect")
    # Prevented in A: 100 expected, 60 seen = 40; displaced into B: 70 - 50 = 20; net 20.
    assert r["net_effect"] == pytest.approx(20)


def test_displacement_greater_than_the_direct_effect():
    # BDM = 110/1000 - 50/1000 = 0.06; WDQ = 0.06 / -0.04 = -1.5.
    r = wdq_from_counts(100, 60, 50, 110, 1000, 1000)
    assert r["wdq"] == pytest.approx(-1.5)
    assert "counterproductive" in r["interpretation"]
    assert r["net_effect"] == pytest.approx(-20)


def test_diffusion_case():
    # BDM = 40/1000 - 50/1000 = -0.01; WDQ = -0.01 / -0.04 = 0.25.
    r = wdq_from_counts(100, 60, 50, 40, 1000, 1000)
    assert r["wdq"] == pytest.approx(0.25)
    assert r["interpretation"].startswith("Diffusion of benefit: the buffer improved too")


def test_diffusion_greater_than_the_direct_effect():
    # BDM = 40/1000 - 100/1000 = -0.06; WDQ = -0.06 / -0.04 = 1.5.
    r = wdq_from_counts(100, 60, 100, 40, 1000, 1000)
    assert r["wdq"] == pytest.approx(1.5)
    assert r["interpretation"].startswith("Diffusion of benefit greater than the direct effect")


def test_control_trend_is_taken_out():
    # Control rose 800 -> 1000. SM = 60/1000 - 80/800 = -0.04; BDM = 60/1000 - 40/800 = 0.01;
    # WDQ = 0.01 / -0.04 = -0.25. Expected A after = 80 * 1.25 = 100, B = 40 * 1.25 = 50.
    r = wdq_from_counts(80, 60, 40, 60, 800, 1000)
    assert r["success_measure"] == pytest.approx(-0.04)
    assert r["buffer_displacement_measure"] == pytest.approx(0.01)
    assert r["wdq"] == pytest.approx(-0.25)
    assert r["expected_a_after"] == pytest.approx(100)
    assert r["expected_b_after"] == pytest.approx(50)
    assert r["net_effect"] == pytest.approx(40 - 10)


@pytest.mark.parametrize("a_after", [100, 120])
def test_undefined_without_a_reduction(a_after):
    # SM = 0 or > 0: no reduction in the target relative to control, so no WDQ.
    r = wdq_from_counts(100, a_after, 50, 70, 1000, 1000)
    assert r["success_measure"] >= 0
    assert math.isnan(r["wdq"])
    assert "undefined" in r["interpretation"]


def test_no_displacement_band_and_empty_control():
    r = wdq_from_counts(100, 60, 50, 50, 1000, 1000)
    assert r["wdq"] == 0 and r["interpretation"].startswith("No displacement")
    assert interpret_wdq(0.04, -0.1).startswith("No displacement")
    assert interpret_wdq(0.04, -0.1, zero_band=0.01).startswith("Diffusion")
    empty = wdq_from_counts(10, 5, 3, 3, 0, 100)
    assert math.isnan(empty["wdq"]) and "control" in empty["interpretation"]
    with pytest.raises(ValueError, match="b_after"):
        wdq_from_counts(1, 1, 1, -1, 1, 1)


# --- Cells -------------------------------------------------------------------------------------------


def test_ring_cells():
    assert len(ring_cells(TARGET, 1, 1)) == 6
    assert len(BUFFER) == 18 and TARGET not in set(BUFFER.tolist())
    assert set(ring_cells(TARGET, 0, 1).tolist()) == set(h3i.grid_disk(TARGET, 1))
    assert set(ring_cells(h3i.int_to_str(TARGET), 2, 2).tolist()) == set(h3i.grid_ring(TARGET, 2))
    with pytest.raises(ValueError, match="k_inner"):
        ring_cells(TARGET, 2, 1)
    with pytest.raises(ValueError, match="cell"):
        ring_cells(12345, 1, 1)


def test_buffer_around_several_targets():
    targets = [TARGET, h3i.grid_ring(TARGET, 1)[0]]
    ring = set(buffer_around(targets, 1).tolist())
    expected = (set(h3i.grid_disk(targets[0], 1)) | set(h3i.grid_disk(targets[1], 1))) - set(targets)
    assert ring == expected


# --- before_after on constructed reports ---------------------------------------------------------------


def _reports(spec: dict[tuple[int, str], int]) -> pd.DataFrame:
    """n reports per (res-9 cell, observed date) at the cell's centre child at res 11."""
    cells, times = [], []
    for (cell, day), n in spec.items():
        cells += [h3i.cell_to_center_child(cell, 11)] * n
        times += [pd.Timestamp(day) + pd.Timedelta(hours=20)] * n
    n = len(cells)
    concerns = ["cce"] * n
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "observed_at": pd.to_datetime(times),
            "online": np.zeros(n, dtype=bool),
            "h3": np.array(cells, dtype=np.int64),
            "place_id": pd.Series([None] * n, dtype=object),
            "place_type": pd.Categorical(["park"] * n),
            "agency": pd.Categorical(["Test agency"] * n),
            "agency_type": pd.Categorical(["police"] * n),
            "concerns": concerns,
            "concerns_mask": keys_to_mask(concerns, CONCERNS),
            "grading_source": pd.Categorical(["1"] * n),
            "grading_information": pd.Categorical(["A"] * n),
        }
    )


def _displacement_frame() -> pd.DataFrame:
    b1, b2 = int(BUFFER[0]), int(BUFFER[-1])
    return _reports(
        {
            (TARGET, "2025-02-01"): 100,
            (TARGET, "2025-05-01"): 60,
            (b1, "2025-02-01"): 30,
            (b2, "2025-03-31"): 20,
            (b1, "2025-05-01"): 70,
            (CONTROL, "2025-01-01"): 1000,
            (CONTROL, "2025-06-30"): 1000,
            (CONTROL, "2025-07-01"): 500,  # after the after period: never counted
        }
    )


def test_before_after_counts_and_wdq():
    r = before_after(_displacement_frame(), [TARGET], BUFFER, BEFORE, AFTER, control_cells=[CONTROL])
    assert (r["a_before"], r["a_after"], r["b_before"], r["b_after"], r["c_before"], r["c_after"]) == (
        100,
        60,
        50,
        70,
        1000,
        1000,
    )
    assert r["wdq"] == pytest.approx(-0.5)
    assert r["before_days"] == 90 and r["after_days"] == 91
    assert r["before"] == ("2025-01-01", "2025-03-31")
    assert r["n_buffer_cells"] == 18 and r["n_control_cells"] == 1


def test_default_control_is_every_other_located_report():
    frame = _displacement_frame()
    elsewhere = _reports({(h3i.latlng_to_cell(54.66, -1.68, 9), "2025-05-02"): 250})
    frame = pd.concat([frame, elsewhere], ignore_index=True)
    online = frame.iloc[:40].copy()
    online["online"] = True
    online["h3"] = 0
    frame = pd.concat([frame, online], ignore_index=True)
    r = before_after(frame, [TARGET], BUFFER, BEFORE, AFTER)
    assert (r["c_before"], r["c_after"]) == (1000, 1250)  # online reports are never counted
    assert r["a_before"] == 100 and r["n_control_cells"] is None
    # SM = 60/1250 - 100/1000 = -0.052; BDM = 70/1250 - 50/1000 = 0.006.
    assert r["wdq"] == pytest.approx(0.006 / -0.052)


def test_filters_and_coarse_control_cells():
    frame = _displacement_frame()
    r = before_after(
        frame,
        [h3i.int_to_str(TARGET)],
        BUFFER,
        BEFORE,
        AFTER,
        control_cells=[h3i.cell_to_parent(CONTROL, 6)],
        filters=ReportFilter(concerns=("cse",)),
    )
    assert r["a_before"] == 0 and r["c_before"] == 0 and math.isnan(r["wdq"])


def test_before_after_validation():
    frame = _displacement_frame()
    with pytest.raises(ValueError, match="overlap"):
        before_after(frame, [TARGET], ring_cells(TARGET, 0, 1), BEFORE, AFTER)
    with pytest.raises(ValueError, match="overlap"):
        before_after(frame, [TARGET], BUFFER, BEFORE, AFTER, control_cells=[h3i.cell_to_parent(TARGET, 7)])
    with pytest.raises(ValueError, match="before"):
        before_after(frame, [TARGET], BUFFER, (date(2025, 1, 1), date(2025, 4, 15)), AFTER)
    with pytest.raises(ValueError, match="after start"):
        before_after(frame, [TARGET], BUFFER, BEFORE, (date(2025, 7, 1), date(2025, 6, 1)))
    with pytest.raises(ValueError, match="target_cells"):
        before_after(frame, [], BUFFER, BEFORE, AFTER)
    with pytest.raises(ValueError, match="buffer_cells"):
        before_after(frame, [TARGET], ["not a cell"], BEFORE, AFTER)


# --- evaluation_periods: the before and after windows round an activity -------------------------------------


def test_periods_with_an_end_date_are_the_activity_and_as_long_before_it():
    from hoth_geo.analysis.disruption import evaluation_periods

    before, after = evaluation_periods(date(2024, 3, 1), date(2024, 3, 31), last=date(2024, 12, 31))
    assert after == (date(2024, 3, 1), date(2024, 3, 31))
    assert before == (date(2024, 1, 30), date(2024, 2, 29))  # 31 days, leap day included
    assert (before[1] - before[0]) == (after[1] - after[0])


def test_periods_without_an_end_date_use_the_given_length():
    from hoth_geo.analysis.disruption import DEFAULT_PERIOD_DAYS, evaluation_periods

    before, after = evaluation_periods(date(2024, 6, 1), None, date(2024, 12, 31))
    assert (after[1] - after[0]).days + 1 == DEFAULT_PERIOD_DAYS
    assert before[1] == date(2024, 5, 31)
    before, after = evaluation_periods(date(2024, 6, 1), None, date(2024, 12, 31), 14)
    assert before == (date(2024, 5, 18), date(2024, 5, 31)) and after == (date(2024, 6, 1), date(2024, 6, 14))


def test_periods_stop_at_the_latest_report_and_stay_equal():
    from hoth_geo.analysis.disruption import evaluation_periods

    # A 60-day activity, but data only until 10 days after its start: both periods are 10 days.
    before, after = evaluation_periods(date(2024, 6, 1), date(2024, 7, 30), date(2024, 6, 10))
    assert after == (date(2024, 6, 1), date(2024, 6, 10))
    assert before == (date(2024, 5, 22), date(2024, 5, 31))
    # Starting on the latest report's day: one day each side.
    assert evaluation_periods(date(2024, 6, 10), None, date(2024, 6, 10)) == (
        (date(2024, 6, 9), date(2024, 6, 9)),
        (date(2024, 6, 10), date(2024, 6, 10)),
    )
    # Starting after the latest report: nothing to compare yet.
    assert evaluation_periods(date(2024, 6, 11), None, date(2024, 6, 10)) is None


def test_periods_do_not_reach_back_before_the_first_report():
    from hoth_geo.analysis.disruption import evaluation_periods

    # 90 days asked, data from 20 days before the start: both periods shrink to 20 days, so days
    # without data are not counted as days without reports.
    before, after = evaluation_periods(
        date(2024, 3, 1), None, date(2024, 12, 31), 90, first=date(2024, 2, 10)
    )
    assert before == (date(2024, 2, 10), date(2024, 2, 29))
    assert after == (date(2024, 3, 1), date(2024, 3, 20))
    # Starting on the first day of data: there is no before period.
    assert evaluation_periods(date(2024, 2, 10), None, date(2024, 12, 31), first=date(2024, 2, 10)) is None


def test_periods_refuse_an_end_before_the_start_and_a_non_positive_length():
    from hoth_geo.analysis.disruption import evaluation_periods
    from hoth_geo.errors import InvalidInput

    with pytest.raises(InvalidInput, match="before start 2024-03-01"):
        evaluation_periods(date(2024, 3, 1), date(2024, 2, 1), date(2024, 12, 31))
    with pytest.raises(InvalidInput, match="days_without_end"):
        evaluation_periods(date(2024, 3, 1), None, date(2024, 12, 31), 0)


def test_periods_from_the_data_feed_before_after():
    """An open-ended activity with 120 days asked: the before period is cut at the first report (90
    days), the after period to the same length, and before_after counts each report once."""
    from hoth_geo.analysis.disruption import evaluation_periods

    reports = _displacement_frame()
    first = reports["observed_at"].min().date()
    last = reports["observed_at"].max().date()
    before, after = evaluation_periods(date(2025, 4, 1), None, last, 120, first=first)
    assert before == BEFORE
    r = before_after(reports, [TARGET], BUFFER, before, after, control_cells=[CONTROL])
    assert r["before_days"] == r["after_days"] == 90
    assert (r["a_before"], r["a_after"], r["b_before"], r["b_after"], r["c_before"]) == (
        100,
        60,
        50,
        70,
        1000,
    )
