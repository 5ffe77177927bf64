"""Shared fixtures. The open data in ../shared/data sits beside the repo in development and CI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_DIR = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_DIR.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ../shared/data; CI always has it, so a missing folder fails there instead of skipping."""
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"open data folder {SHARED_DATA} is missing in CI")
        pytest.skip(f"open data folder {SHARED_DATA} not found beside the repo")
    return SHARED_DATA


class DemoStore:
    """The shipped demo set loaded once into a session database: engine, analysis frame, places."""

    def __init__(self, engine, reports, places):
        self.engine, self.reports, self.places = engine, reports, places


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory) -> DemoStore:
    """Shared by every test that only reads the demo data: do not write to its database or change its
    frames in place (tests that write make their own database)."""
    from hoth_geo import pipeline, store

    engine = store.connect(f"sqlite:///{tmp_path_factory.mktemp('demo_store') / 'demo.sqlite'}")
    pipeline.load_demo_data(engine)
    return DemoStore(engine, store.load_reports(engine), pipeline.all_places(engine))


@pytest.fixture(autouse=True)
def _area_default_reset():
    """A CLI command makes its run's area the process default (hoth_geo.area.use); commands invoked
    in-process by one test must not change the area later tests see."""
    yield
    from hoth_geo import area

    area.use(None)
