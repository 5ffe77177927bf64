"""Which reports a view covers (hoth_geo.selection), on the shipped demo set: each ReportFilter field
narrows the selection the way the sidebar and the CLI options say, and bad keys are refused by name."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from hoth_geo import store
from hoth_geo.schema import CONCERNS
from hoth_geo.selection import ReportFilter, date_bounds, filter_mask, located, online_count


def test_no_filter_and_an_empty_filter_keep_every_report(demo_store):
    reports = demo_store.reports
    assert filter_mask(reports, None).all() and filter_mask(reports, ReportFilter()).all()
    assert ReportFilter().describe() == "all reports"


def test_the_last_day_of_a_date_range_is_included_to_its_final_minute(demo_store):
    reports = demo_store.reports
    busiest = reports["observed_at"].dt.date.value_counts().idxmax()
    one_day = filter_mask(reports, ReportFilter(date_from=busiest, date_to=busiest))
    assert one_day.sum() == (reports["observed_at"].dt.date == busiest).sum() > 1
    lo, hi = date_bounds(ReportFilter(date_to=busiest))
    assert lo is None and hi == np.datetime64(pd.Timestamp(busiest) + pd.Timedelta(days=1), "ns")


def test_a_report_matches_when_it_carries_any_selected_concern(demo_store):
    reports = demo_store.reports
    keys = list(CONCERNS)
    bit = {k: 1 << keys.index(k) for k in ("cse", "missing")}
    carries = (reports["concerns_mask"].to_numpy()[:, None] & np.array([bit["cse"], bit["missing"]])) != 0
    chosen = filter_mask(reports, ReportFilter(concerns=("cse", "missing")))
    assert chosen.sum() == carries.any(axis=1).sum()
    assert chosen.sum() > max(carries[:, 0].sum(), carries[:, 1].sum())  # "any", not "all"


def test_a_report_matches_when_it_carries_any_selected_indicator_as_its_form_gave_it(demo_store):
    """The indicator filter reads the frame's bit mask; checked against the indicators stored as the
    partner's form gave them (text), read from the database."""
    reports = demo_store.reports
    chosen = ("unknown_adults", "hotels_taxis_takeaways")
    picked = filter_mask(reports, ReportFilter(indicators=chosen))
    written = store.report_details(demo_store.engine, reports["id"], ["id", "indicators"]).set_index("id")
    said = written["indicators"].reindex(reports["id"]).fillna("").str.split("|")
    carries = said.map(lambda keys: bool(set(keys) & set(chosen))).to_numpy()
    assert picked.sum() == carries.sum() > 0 and (picked == carries).all()
    both = ReportFilter(indicators=chosen, concerns=("cce",))
    assert (
        filter_mask(reports, both) == picked & filter_mask(reports, ReportFilter(concerns=("cce",)))
    ).all()
    assert (
        "indicators: In touch with unknown adults / people of concern, Contact with hotels" in both.describe()
    )


def test_place_type_agency_and_grading_fields_narrow_together(demo_store):
    reports = demo_store.reports
    agency = reports["agency"].value_counts().index[0]
    f = ReportFilter(place_types=("takeaway", "hotel"), agencies=(agency,), grading_sources=("1", "2"))
    expected = (
        reports["place_type"].isin(["takeaway", "hotel"])
        & (reports["agency"] == agency)
        & reports["grading_source"].isin(["1", "2"])
    )
    assert (filter_mask(reports, f) == expected.to_numpy()).all()
    assert f.describe().startswith("places: Takeaway")


def test_online_reports_are_counted_beside_the_map_never_located_on_it(demo_store):
    reports = demo_store.reports
    online = reports["online"].to_numpy(dtype=bool)
    assert online.sum() > 0
    assert not (located(reports) & online).any()
    assert online_count(reports) == online.sum()
    recent = ReportFilter(date_from=date(2025, 1, 1))
    assert (
        online_count(reports, recent) == (online & (reports["observed_at"] >= "2025-01-01").to_numpy()).sum()
    )


def test_unknown_keys_and_reversed_dates_are_refused_by_name():
    with pytest.raises(ValueError, match=r"ReportFilter.place_types: unknown key 'casino'"):
        ReportFilter(place_types=("casino",))
    with pytest.raises(ValueError, match=r"ReportFilter.concerns: unknown key 'CSE'"):
        ReportFilter(concerns=("CSE",))
    with pytest.raises(ValueError, match=r"ReportFilter.indicators: unknown key 'gifts'"):
        ReportFilter(indicators=("gifts",))
    with pytest.raises(ValueError, match="date_from 2025-05-01 is after date_to 2025-04-01"):
        ReportFilter(date_from=date(2025, 5, 1), date_to=date(2025, 4, 1))


def test_the_radius_a_hexagon_accepts_is_two_of_its_edges_as_h3_measures_them():
    import h3

    from hoth_geo import settings
    from hoth_geo.selection import mappable_radius_m

    for res in range(16):
        expected = settings.MAPPED_RADIUS_EDGES * h3.average_hexagon_edge_length(res, unit="m")
        assert mappable_radius_m(res) == pytest.approx(expected, abs=0.001 * settings.MAPPED_RADIUS_EDGES)
    with pytest.raises(ValueError, match="res must be an H3 resolution"):
        mappable_radius_m(16)


def test_located_at_a_resolution_leaves_out_reports_too_coarse_for_its_hexagons(demo_store):
    from hoth_geo.selection import mappable_radius_m, too_coarse_count

    reports = demo_store.reports
    radius = reports["precision_m"].to_numpy(dtype=float)
    for res in (8, 10):
        wide = located(reports) & (radius > mappable_radius_m(res))
        assert (located(reports, res) == (located(reports) & ~wide)).all()
        assert too_coarse_count(reports, None, res) == int(wide.sum())
    # The demo's postcode units (100 m) and streets (300 m) are mapped at 9; only at 10 are streets not.
    assert too_coarse_count(reports, None, 9) < too_coarse_count(reports, None, 10)
