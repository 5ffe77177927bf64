"""Recorded times (UTC in the database) are shown on the partnership's clock, named beside them."""

from __future__ import annotations

import pandas as pd
import pytest

from hoth_geo import local_time


def test_times_are_shown_on_uk_time_by_default_summer_and_winter(monkeypatch):
    monkeypatch.delenv("HOTH_GEO_TIME_ZONE", raising=False)
    assert local_time.zone_label() == "UK time"
    # 12:00 UTC is 13:00 in British Summer Time and 12:00 in winter; the clocks change on 25 October 2026.
    recorded = pd.Series(pd.to_datetime(["2026-07-01 12:00", "2026-12-01 12:00", "2026-10-25 00:30", None]))
    shown = local_time.to_local(recorded)
    assert shown.dt.strftime("%d %b %H:%M").tolist()[:3] == ["01 Jul 13:00", "01 Dec 12:00", "25 Oct 01:30"]
    assert pd.isna(shown.iloc[3])
    assert local_time.format_local(pd.Timestamp("2026-07-01 23:30")) == "02 Jul 2026 00:30"
    assert local_time.format_local(None) == "" and local_time.format_local(pd.NaT) == ""


def test_a_partnership_elsewhere_sets_its_own_zone(monkeypatch):
    monkeypatch.setenv("HOTH_GEO_TIME_ZONE", "America/St_Johns")  # UTC-03:30 in winter
    assert local_time.zone_label() == "America/St_Johns"
    assert local_time.format_local(pd.Timestamp("2026-12-01 12:00"), "%H:%M") == "08:30"


def test_a_zone_that_is_not_one_is_refused_by_the_settings_name(monkeypatch):
    monkeypatch.setenv("HOTH_GEO_TIME_ZONE", "Durham/Central")
    with pytest.raises(ValueError, match=r"HOTH_GEO_TIME_ZONE must be a time zone name .* 'Durham/Central'"):
        local_time.zone_label()
