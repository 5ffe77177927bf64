"""The app's run log ($HOTH_GEO_RUN_LOG): one JSON line per script run when set, nothing when unset."""

from __future__ import annotations

import json

import pytest
from apptest_support import app_as, ensure_user

from hoth_geo.ui.main import RUN_LOG_ENV


@pytest.fixture(scope="module")
def db_url(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('runlog') / 'app.sqlite'}"


@pytest.fixture()
def analyst(db_url, monkeypatch):
    monkeypatch.setenv("HOTH_GEO_DB", db_url)
    return ensure_user(db_url, "analyst")


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_each_run_appends_its_page_duration_and_outcome(analyst, tmp_path, monkeypatch):
    log = tmp_path / "runs.jsonl"
    monkeypatch.setenv(RUN_LOG_ENV, str(log))
    at = app_as(analyst, "map").run()
    first = _lines(log)
    assert len(first) == 1
    at.multiselect(key="f_concerns").select("cse").run()
    assert not at.exception
    runs = _lines(log)
    assert len(runs) == 2
    for run in runs:
        assert run["page"] == "map"
        assert run["outcome"] == "ok" and run["error"] is None
        assert 0 < run["seconds"] < 600
    # The first run loads the reports (the demo set on a new database); a filter change reuses them.
    assert runs[0]["at"] <= runs[1]["at"]


def test_a_visitor_run_is_logged_as_the_sign_in_page(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("HOTH_GEO_DB", db_url)
    ensure_user(db_url, "analyst")
    log = tmp_path / "runs.jsonl"
    monkeypatch.setenv(RUN_LOG_ENV, str(log))
    app_as(None, "map").run()
    assert [r["page"] for r in _lines(log)] == ["sign-in"]


def test_a_failing_run_is_logged_as_an_error(analyst, tmp_path, monkeypatch):
    log = tmp_path / "runs.jsonl"
    monkeypatch.setenv(RUN_LOG_ENV, str(log))
    at = app_as(analyst, "no-such-page").run()  # main refuses an unknown start page
    assert at.exception
    [run] = _lines(log)
    assert run["outcome"] == "error" and run["error"] == "ValueError"


def test_nothing_is_written_when_the_setting_is_unset(analyst, tmp_path, monkeypatch):
    monkeypatch.delenv(RUN_LOG_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    at = app_as(analyst, "map").run()
    at.multiselect(key="f_concerns").select("cse").run()
    assert not at.exception
    assert list(tmp_path.iterdir()) == []
