"""The shared argument checks (hoth_geo.validation), on the demo set's real cells and frames: each
refusal names the argument and the value it was given."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest

from hoth_geo import hexes, validation


def test_a_choice_outside_the_set_is_refused_naming_the_argument_and_the_choices():
    validation.check_choice("partner", "audience", ("partner", "police"))
    with pytest.raises(ValueError, match=r"audience must be one of partner, police, got 'public'"):
        validation.check_choice("public", "audience", ("partner", "police"))


@pytest.mark.parametrize(
    "value",
    [
        "2025-04-03",
        "03 April 2025",
        date(2025, 4, 3),
        datetime(2025, 4, 3, 21, 30),
        pd.Timestamp("2025-04-03 23:59"),
    ],
)
def test_a_day_is_midnight_of_the_calendar_day_given(value):
    assert validation.as_day(value, "date_from") == pd.Timestamp("2025-04-03")


@pytest.mark.parametrize("value", [None, "", "next week", pd.NaT])
def test_a_value_that_is_not_a_day_is_refused_naming_the_argument(value):
    with pytest.raises(ValueError, match=r"^date_to must be a date, got "):
        validation.as_day(value, "date_to")


def test_the_demo_reports_cells_make_a_sorted_grid_of_one_resolution(demo_store):
    located = demo_store.reports["h3"].to_numpy()
    located = located[located != 0]
    cells8 = hexes.cells_to_parent(located, 8)
    grid, res = validation.check_grid(cells8)
    assert res == 8
    assert grid.tolist() == sorted(set(cells8.tolist())) and len(grid) < len(cells8)
    assert validation.check_grid(cells8, 8)[0].tolist() == grid.tolist()
    with pytest.raises(ValueError, match=r"my_grid must all be at res=9, got a cell at resolution 8"):
        validation.check_grid(cells8, 9, name="my_grid")


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        (
            np.array([], dtype=np.int64),
            r"grid_cells must be a non-empty 1-D array of H3 cells, got shape \(0,\)",
        ),
        (np.array([1.5, 2.5]), "grid_cells must hold int64 H3 cells, got dtype float64"),
        (np.array(["88194e6a1bfffff"]), "grid_cells must hold int64 H3 cells"),
    ],
)
def test_a_grid_that_is_not_h3_cells_is_refused(cells, message):
    with pytest.raises(ValueError, match=message):
        validation.check_grid(cells)


def test_the_stored_frames_meet_the_analysis_contract_and_a_missing_column_is_named(demo_store):
    validation.check_frames(
        demo_store.reports,
        demo_store.places,
        report_columns=validation.REPORT_FRAME_COLUMNS,
        place_columns=validation.PLACE_FRAME_COLUMNS,
    )
    without_cells = demo_store.reports.drop(columns=["h3"])
    with pytest.raises(
        ValueError, match=r"reports is missing column 'h3' \(expected the store.load_reports frame\)"
    ):
        validation.check_frames(without_cells, report_columns=validation.REPORT_FRAME_COLUMNS)
    with pytest.raises(ValueError, match="places must be the pipeline.all_places frame, got dict"):
        validation.check_frames(places={"place_id": []}, place_columns=("place_id",))
