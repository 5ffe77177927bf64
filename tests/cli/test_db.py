"""`hoth-geo db status` and `db upgrade` (hoth_geo.cli.db), on SQLite and PostgreSQL: what each says
about an empty, a current, a behind and a newer database, and its exit code. How the migrations keep
the data is tested in tests/store/test_migrations.py."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from hoth_geo import store
from hoth_geo.cli import app
from hoth_geo.store import migrations

runner = CliRunner()


def test_an_empty_database_is_not_behind_and_an_upgrade_builds_the_whole_schema(db_url):
    status = runner.invoke(app, ["db", "status", "--db", db_url])
    assert status.exit_code == 0, status.output
    assert "empty (the schema is created on first use)" in status.output
    assert f"newest revision {migrations.head_revision()}" in status.output
    assert all(f"  {revision}  " in status.output for revision, _down, _msg in migrations.history())
    upgraded = runner.invoke(app, ["db", "upgrade", "--db", db_url])
    assert upgraded.exit_code == 0, upgraded.output
    assert f"upgraded from revision none to {migrations.head_revision()}" in upgraded.output
    engine = store.connect(db_url)
    assert migrations.differences(engine) == []
    engine.dispose()


def test_a_database_behind_says_so_exits_1_and_the_upgrade_brings_it_current(db_url):
    engine = store.open_engine(db_url)
    migrations.upgrade(engine, "0002")
    engine.dispose()
    behind = runner.invoke(app, ["db", "status", "--db", db_url])
    assert behind.exit_code == 1 and f"revision 0002; newest {migrations.head_revision()}" in behind.output
    upgraded = runner.invoke(app, ["db", "upgrade", "--db", db_url])
    assert upgraded.exit_code == 0, upgraded.output
    assert f"upgraded from revision 0002 to {migrations.head_revision()}" in upgraded.output
    current = runner.invoke(app, ["db", "status", "--db", db_url])
    assert current.exit_code == 0 and f"revision {migrations.head_revision()};" in current.output


def test_an_unknown_target_revision_is_refused_naming_it(db_url):
    result = runner.invoke(app, ["db", "upgrade", "--to", "9999_nowhere", "--db", db_url])
    assert result.exit_code == 2 and "9999_nowhere" in result.output


def test_a_database_from_a_newer_version_is_refused_by_name(db_url):
    engine = store.connect(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'ffff_future'"))
    with pytest.raises(migrations.SchemaOutOfDate, match="ffff_future.*newer hoth-geo"):
        store.connect(db_url)
    result = runner.invoke(app, ["db", "upgrade", "--db", db_url])
    assert result.exit_code == 1 and "ffff_future" in result.output
    status = runner.invoke(app, ["db", "status", "--db", db_url])
    assert status.exit_code == 1
    engine.dispose()
