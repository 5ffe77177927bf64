"""The sidebar's grading filter offers the grades the schema defines, read as their meanings."""

from __future__ import annotations

import pytest
from apptest_support import app_as, ensure_user

from hoth_geo import schema


@pytest.fixture(scope="module")
def db_url(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('app_grading') / 'app.sqlite'}"


def test_sidebar_grading_filter_comes_from_the_schema(db_url, monkeypatch):
    monkeypatch.setenv("HOTH_GEO_DB", db_url)
    at = app_as(ensure_user(db_url, "analyst"), "places").run()
    assert not at.exception, at.exception
    source = at.multiselect(key="f_grading_source")
    info = at.multiselect(key="f_grading_info")
    assert source.options == [schema.GRADING_SOURCE_LABELS[g] for g in schema.GRADING_SOURCE]
    assert info.options == [schema.GRADING_INFORMATION_LABELS[g] for g in schema.GRADING_INFORMATION]
    # The selection holds the codes the reports carry, not the labels shown.
    info.select("A").run()
    assert not at.exception, at.exception
    assert at.session_state["filters"].grading_information == ("A",)


def test_every_grade_has_a_label():
    assert list(schema.GRADING_SOURCE_LABELS) == list(schema.GRADING_SOURCE)
    assert list(schema.GRADING_INFORMATION_LABELS) == list(schema.GRADING_INFORMATION)
