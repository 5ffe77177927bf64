"""The police.uk context layer in the analysis layout (hoth_geo.intake.context_frame), from a real
Durham street file imported into a fresh database: the selection filters it as it filters reports."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hoth_geo import store
from hoth_geo.intake import pipeline
from hoth_geo.intake.context_frame import context_as_reports
from hoth_geo.selection import ReportFilter, filter_mask, located

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def context(tmp_path_factory, shared_data) -> pd.DataFrame:
    engine = store.connect(f"sqlite:///{tmp_path_factory.mktemp('context') / 'context.sqlite'}")
    pipeline.import_file(engine, shared_data / "policeuk_durham" / "2019-01-durham-street.csv")
    loaded = store.load_context(engine)
    engine.dispose()
    return loaded


def test_each_crime_becomes_a_located_row_dated_by_its_month(context):
    frame = context_as_reports(context)
    assert len(frame) == len(context) > 1000
    assert located(frame).all(), "every stored police.uk row has a point"
    assert (frame["observed_at"] == pd.Timestamp("2019-01-01")).all()
    assert not frame["time_known"].any() and frame["date_approximate"].all()
    assert set(frame["agency"].astype(str)) == set(context["falls_within"].astype(str))
    assert (frame["agency_type"] == "police").all()
    assert (frame["h3"].to_numpy() == context["h3"].to_numpy(dtype=np.int64)).all()


def test_the_report_filter_selects_context_rows_by_concern_place_and_month(context):
    frame = context_as_reports(context)
    drugs = filter_mask(frame, ReportFilter(concerns=("drugs_alcohol",)))
    assert drugs.sum() == (context["concern"] == "drugs_alcohol").sum() > 0
    shops = filter_mask(frame, ReportFilter(place_types=("shop",)))
    assert shops.sum() == (context["place_type"] == "shop").sum() > 0
    assert filter_mask(frame, ReportFilter(date_from=pd.Timestamp("2019-01-31").date())).sum() == 0
    assert filter_mask(frame, ReportFilter(date_to=pd.Timestamp("2019-01-01").date())).all()
