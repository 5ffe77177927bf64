"""The demo set loaded by the `demo` command, for the command-line tests that only read it."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from hoth_geo.cli import app

runner = CliRunner()


def _demo_database(url: str) -> str:
    result = runner.invoke(app, ["demo", "--db", url])
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC DEMO DATA" in result.output
    return url


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    return _demo_database(f"sqlite:///{tmp_path_factory.mktemp('cli') / 'cli.sqlite'}")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def demo_db_url(request, databases):
    """The demo set loaded by the CLI, once on SQLite and once on PostgreSQL."""
    url = _demo_database(databases.new(request.param, "cli"))
    yield url
    databases.drop(url)
