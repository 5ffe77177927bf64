"""The options every filtering command shares (hoth_geo.cli.options): one option per ReportFilter
field on each command, values checked by name, and the same selection as the library's filter."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from hoth_geo.cli import app, options

runner = CliRunner()


def test_filters_are_validated_by_name(db, tmp_path):
    result = runner.invoke(
        app, ["hexes", "--concern", "county", "--out", str(tmp_path / "x.csv"), "--db", db]
    )
    assert result.exit_code == 2 and "unknown key 'county'" in result.output
    result = runner.invoke(
        app, ["hexes", "--from", "31/01/2025", "--out", str(tmp_path / "x.csv"), "--db", db]
    )
    assert result.exit_code == 2 and "--from must be a date as YYYY-MM-DD" in result.output


FILTER_OPTIONS = {
    "date_from": "--from",
    "date_to": "--to",
    "place_types": "--place-type",
    "concerns": "--concern",
    "indicators": "--indicator",
    "agencies": "--agency",
    "agency_types": "--agency-type",
    "grading_sources": "--grading-source",
    "grading_information": "--grading-information",
}


def test_every_filter_field_is_an_option_of_each_filtering_command():
    import dataclasses

    from hoth_geo.selection import ReportFilter

    assert [f.name for f in dataclasses.fields(ReportFilter)] == list(FILTER_OPTIONS)
    for command in ("hexes", "map", "hotspots", "emerging", "patrol-plan", "export"):
        shown = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"}).output
        missing = [o for o in FILTER_OPTIONS.values() if o not in shown]
        assert not missing, f"hoth-geo {command} lacks {missing}"


def test_agency_type_grading_and_indicator_options_select_as_the_filter_does(demo_db_url, tmp_path):
    from hoth_geo import store
    from hoth_geo.analysis.aggregate import aggregate_hexes
    from hoth_geo.selection import ReportFilter

    reports = store.load_reports(store.connect(demo_db_url))
    agency_type = reports["agency_type"].astype(str).value_counts().index[0]
    out = tmp_path / "h.csv"
    args = ["--agency-type", agency_type, "--grading-source", "1", "--grading-information", "A"]
    args += ["--indicator", "unknown_adults", "--indicator", "missing_from_home"]
    result = runner.invoke(app, ["hexes", "--res", "8", *args, "--out", str(out), "--db", demo_db_url])
    assert result.exit_code == 0, result.output
    got = pd.read_csv(out)
    expected = aggregate_hexes(
        reports,
        8,
        ReportFilter(
            agency_types=(agency_type,),
            grading_sources=("1",),
            grading_information=("A",),
            indicators=("unknown_adults", "missing_from_home"),
        ),
    )
    assert 0 < got["count"].sum() == expected["count"].sum() < len(reports)
    assert sorted(got["count"]) == sorted(expected["count"])


def test_filter_options_become_the_report_filter_they_name():
    chosen = options.filters(
        {
            "date_from": "2025-01-01",
            "date_to": "2025-03-31",
            "place_type": ["hotel"],
            "concern": ["cse", "cce"],
            "indicator": ["unknown_adults"],
            "agency": ["Synthetic Youth Service"],
            "res": 8,  # a command's other options are not filters
        }
    )
    assert (chosen.date_from, chosen.date_to) == (date(2025, 1, 1), date(2025, 3, 31))
    assert chosen.place_types == ("hotel",) and chosen.concerns == ("cse", "cce")
    assert chosen.indicators == ("unknown_adults",)
    assert chosen.agencies == ("Synthetic Youth Service",) and chosen.grading_sources == ()
    assert options.filters({"concern": None, "date_from": None}).describe() == "all reports"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"date_from": "2025-04-01", "date_to": "2025-03-01"},
            "date_from 2025-04-01 is after date_to 2025-03-01",
        ),
        ({"date_from": "1 April"}, "--from must be a date as YYYY-MM-DD, got '1 April'"),
        ({"date_to": "2025-02-30"}, "--to must be a date as YYYY-MM-DD, got '2025-02-30'"),
        ({"place_type": ["casino"]}, "unknown key 'casino'"),
        ({"indicator": ["gifts"]}, "ReportFilter.indicators: unknown key 'gifts'"),
    ],
)
def test_a_bad_filter_value_exits_2_naming_it(capsys, params, message):
    with pytest.raises(typer.Exit) as exited:
        options.filters(params)
    assert exited.value.exit_code == 2
    assert message in capsys.readouterr().err


def test_command_line_actions_are_recorded_as_the_command_line():
    assert options.actor() == "cli" or options.actor().startswith("cli:")
