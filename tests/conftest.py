"""Shared fixtures. The open data in ../shared/data sits beside the repo in development and CI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_DIR = Path(__file__).resolve().parents[1]

# The app hides error details from users (client.showErrorDetails = "none"); tests must see them.
os.environ.setdefault("STREAMLIT_CLIENT_SHOW_ERROR_DETAILS", "full")
SHARED_DATA = REPO_DIR.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _no_area_left_in_use():
    """A command run in-process (CliRunner) sets the area for its process; the next test starts
    from the configured one again."""
    yield
    from hoth_geo.intake import area

    area.use(None)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ../shared/data; CI always has it, so a missing folder fails there instead of skipping."""
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"open data folder {SHARED_DATA} is missing in CI")
        pytest.skip(f"open data folder {SHARED_DATA} not found beside the repo")
    return SHARED_DATA


@pytest.fixture(scope="session")
def area_files(tmp_path_factory, shared_data) -> dict[str, Path]:
    """Another partnership's official-format area inputs (tests/area_inputs.py), built once per session and
    shared by the area tests. The files are made read-only: a test that changes one copies it first."""
    import stat

    from area_inputs import build_area_inputs

    folder = tmp_path_factory.mktemp("area_inputs")
    files = build_area_inputs(folder, shared_data)
    for path in folder.rglob("*"):
        if path.is_file():
            path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    return files


@pytest.fixture
def fast_hasher(monkeypatch):
    """Small Argon2 parameters for modules that hash many passwords (`pytestmark = usefixtures("fast_hasher")`);
    the production parameters are tested in tests/access/test_auth.py."""
    from argon2 import PasswordHasher

    from hoth_geo.access import auth

    monkeypatch.setattr(auth, "hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


class DemoStore:
    """The shipped demo set loaded once into a session database: engine, analysis frame, places."""

    def __init__(self, engine, reports, places):
        self.engine, self.reports, self.places = engine, reports, places


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory) -> DemoStore:
    """Shared by every test that only reads the demo data: do not write to its database or change its
    frames in place (tests that write make their own database)."""
    from hoth_geo import store
    from hoth_geo.intake import pipeline

    engine = store.connect(f"sqlite:///{tmp_path_factory.mktemp('demo_store') / 'demo.sqlite'}")
    pipeline.load_demo_data(engine)
    return DemoStore(engine, store.load_reports(engine), pipeline.all_places(engine))


# --- Database backends ------------------------------------------------------------------------------------
# Store, import, CLI and app tests run on SQLite and on PostgreSQL. scripts/test.sh starts a throwaway
# PostgreSQL 15 server and exports its URL (any database on it; the tests create their own beside it).

PG_URL_ENV = "HOTH_GEO_TEST_PG_URL"
BACKENDS = ("sqlite", "postgresql")


class Databases:
    """Creates an empty database per request: a SQLite file, or a new database on the test server."""

    def __init__(self, tmp_path_factory):
        self._tmp = tmp_path_factory
        self._created: list[str] = []

    @staticmethod
    def _server_url():
        import sqlalchemy as sa

        raw = os.environ.get(PG_URL_ENV)
        if not raw:
            if os.environ.get("CI"):
                pytest.fail(f"{PG_URL_ENV} is not set in CI: scripts/test.sh starts PostgreSQL and sets it")
            pytest.skip(f"PostgreSQL tests need {PG_URL_ENV} (scripts/test.sh sets it)")
        return sa.make_url(raw)

    def _admin(self):
        import sqlalchemy as sa

        return sa.create_engine(self._server_url(), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)

    def new(self, backend: str, name: str = "db") -> str:
        if backend == "sqlite":
            return f"sqlite:///{self._tmp.mktemp(name) / f'{name}.sqlite'}"
        if backend != "postgresql":
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        import uuid

        server = self._server_url()
        database = f"hoth_test_{name}_{uuid.uuid4().hex[:12]}".lower()
        admin = self._admin()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{database}"')
        admin.dispose()
        self._created.append(database)
        return server.set(database=database).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        import sqlalchemy as sa

        database = sa.make_url(url).database
        if database not in self._created:
            return
        admin = self._admin()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.dispose()
        self._created.remove(database)

    def drop_all(self) -> None:
        for database in list(self._created):
            self.drop(self._server_url().set(database=database).render_as_string(hide_password=False))


@pytest.fixture(scope="session")
def databases(tmp_path_factory):
    found = Databases(tmp_path_factory)
    yield found
    found.drop_all()


@pytest.fixture(params=BACKENDS)
def db_url(request, databases) -> str:
    """The URL of an empty database, once on SQLite and once on PostgreSQL."""
    url = databases.new(request.param)
    yield url
    databases.drop(url)


@pytest.fixture(scope="module")
def chromium():
    """Headless Chromium (Debian's package) driven by Playwright: required in CI, skipped elsewhere if missing."""
    import shutil

    from app_server import CHROMIUM, CHROMIUM_ARGS

    if not shutil.which(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is required in CI for browser tests")
        pytest.skip(f"{CHROMIUM} not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
