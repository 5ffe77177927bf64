"""The account, audit and purge commands (hoth_geo.cli.admin): `users`, `audit verify` / `export` and
`purge`, each run in-process on its own database."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from hoth_geo import settings, store
from hoth_geo.access import audit, auth
from hoth_geo.cli import admin as cli_admin

PASSWORD = "correct horse battery"  # synthetic test password, >= 12 characters
ADMIN = "admin.one@example.org"
ANALYST = "analyst.one@example.org"

runner = CliRunner()
cli = typer.Typer()
cli_admin.register(cli)


pytestmark = pytest.mark.usefixtures("fast_hasher")  # small Argon2 parameters: tests/conftest.py


@pytest.fixture(autouse=True)
def private_files(tmp_path, monkeypatch):
    """Each test has its own var/ folder (setup token) and audit key file, as a fresh deployment would."""
    monkeypatch.setenv("HOTH_GEO_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv(settings.AUDIT_KEY_ENV, raising=False)
    monkeypatch.delenv(settings.AUDIT_ANCHOR_ENV, raising=False)
    monkeypatch.setenv(settings.AUDIT_KEY_FILE_ENV, str(tmp_path / "keys" / "audit.key"))


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'admin.sqlite'}"


@pytest.fixture
def engine(url):
    return store.connect(url)


def execute(engine, statement) -> None:
    with engine.begin() as conn:
        conn.execute(statement)


def _fill(engine, n=5):
    return [
        audit.record(engine, "report_viewed", actor=ANALYST, target=str(i), details={"i": i})
        for i in range(n)
    ]


def test_cli_users_round_trip(url):
    added = runner.invoke(
        cli, ["users", "add", ADMIN, "--role", "admin", "--db", url], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert added.exit_code == 0, added.output
    assert PASSWORD not in added.output
    added = runner.invoke(
        cli,
        ["users", "add", ANALYST, "--role", "partner", "--display-name", "Analyst One", "--db", url],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert added.exit_code == 0, added.output
    engine = store.connect(url)
    assert auth.authenticate(engine, ANALYST, PASSWORD).role == "partner"
    assert auth.authenticate(engine, ANALYST, "not the password") is None

    changed = runner.invoke(cli, ["users", "set-role", ANALYST, "--role", "analyst,admin", "--db", url])
    assert changed.exit_code == 0 and "admin,analyst" in changed.output
    assert runner.invoke(cli, ["users", "disable", ANALYST, "--db", url]).exit_code == 0
    assert auth.authenticate(engine, ANALYST, PASSWORD) is None
    listed = runner.invoke(cli, ["users", "list", "--db", url])
    assert listed.exit_code == 0 and "disabled" in listed.output and "Analyst One" in listed.output
    assert runner.invoke(cli, ["users", "enable", ANALYST, "--db", url]).exit_code == 0
    assert auth.authenticate(engine, ANALYST, PASSWORD).is_admin

    events = audit.load_audit(engine)["event"].tolist()
    assert events == [
        "user_added",
        "user_added",
        "sign_in",
        "sign_in_failed",
        "role_changed",
        "user_disabled",
        "sign_in_failed",
        "user_enabled",
        "sign_in",
    ]
    assert audit.load_audit(engine, event="role_changed")["actor"].iloc[0].startswith("cli")
    verified = runner.invoke(cli, ["audit", "verify", "--db", url])
    assert verified.exit_code == 0 and "9 entries" in verified.output and "head hash" in verified.output
    head = audit.verify_chain(engine).head_hash
    assert runner.invoke(cli, ["audit", "verify", "--expect-head", head, "--db", url]).exit_code == 0
    with engine.begin() as conn:
        conn.execute(audit.audit_log.delete().where(audit.audit_log.c.id == 9))
    truncated = runner.invoke(cli, ["audit", "verify", "--expect-head", head, "--db", url])
    assert truncated.exit_code == 1 and "not in the chain" in truncated.output


def test_cli_add_refuses_bad_input(url):
    mismatch = runner.invoke(
        cli, ["users", "add", ANALYST, "--role", "analyst", "--db", url], input=f"{PASSWORD}\nother\n"
    )
    assert mismatch.exit_code != 0
    short = runner.invoke(
        cli, ["users", "add", ANALYST, "--role", "analyst", "--db", url], input="short\nshort\n"
    )
    assert short.exit_code == 2 and "at least 12 characters" in short.output
    bad_role = runner.invoke(cli, ["users", "add", ANALYST, "--role", "chief", "--db", url])
    assert bad_role.exit_code == 2 and "--role" in bad_role.output and "'chief'" in bad_role.output
    assert not auth.has_users(store.connect(url))


def test_cli_set_password_prompts_and_clears_lockout(url, monkeypatch):
    monkeypatch.setenv(auth.LOCKOUT_ATTEMPTS_ENV, "2")
    engine = store.connect(url)
    auth.add_user(engine, ANALYST, PASSWORD, "analyst")
    for _ in range(2):
        auth.authenticate(engine, ANALYST, "wrong password!!")
    assert auth.authenticate(engine, ANALYST, PASSWORD) is None, "locked"
    new = "another long passphrase"
    result = runner.invoke(cli, ["users", "set-password", ANALYST, "--db", url], input=f"{new}\n{new}\n")
    assert result.exit_code == 0, result.output
    assert auth.authenticate(engine, ANALYST, new) is not None


def test_cli_audit_verify_detects_tampering_and_export(url, tmp_path):
    engine = store.connect(url)
    auth.add_user(engine, ANALYST, PASSWORD, "analyst")
    auth.authenticate(engine, ANALYST, PASSWORD)
    auth.authenticate(engine, ANALYST, "wrong password!!")
    out = tmp_path / "audit.csv"
    exported = runner.invoke(cli, ["audit", "export", "--out", str(out), "--db", url])
    assert exported.exit_code == 0 and "3 audit entries" in exported.output
    assert out.read_bytes().count(b"sign_in_failed") == 1
    assert audit.load_audit(engine)["event"].iloc[-1] == "audit_exported"
    with engine.begin() as conn:
        conn.execute(
            audit.audit_log.update()
            .where(audit.audit_log.c.id == 3)
            .values(details='{"reason":"nothing to see"}')
        )
    broken = runner.invoke(cli, ["audit", "verify", "--db", url])
    assert broken.exit_code == 1
    assert "BROKEN at entry 3" in broken.output
    assert (
        runner.invoke(cli, ["audit", "export", "--out", str(tmp_path / "a.txt"), "--db", url]).exit_code == 2
    )


def test_cli_verify_reports_each_kind_of_tampering_on_its_own_line(url, engine):
    auth.add_user(engine, ANALYST, PASSWORD, "analyst")
    _fill(engine, 5)
    audit.log_export(engine, audience="partner", kind="csv", filters={}, data=b"abc")
    ok = runner.invoke(cli, ["audit", "verify", "--db", url])
    assert ok.exit_code == 0 and "audit chain intact: 7 entries" in ok.output and "anchor log:" in ok.output
    execute(engine, audit.audit_log.update().where(audit.audit_log.c.id == 2).values(details='{"i":9}'))
    execute(engine, audit.audit_log.delete().where(audit.audit_log.c.id == 4))
    execute(engine, audit.audit_log.delete().where(audit.audit_log.c.id == 7))
    execute(engine, auth.users.update().values(role="police"))
    broken = runner.invoke(cli, ["audit", "verify", "--db", url])
    assert broken.exit_code == 1
    out = broken.output
    assert "audit chain BROKEN at entry 2" in out
    assert "edited entry at entry 2" in out
    assert "deleted entry at entry 5: entry 4 is missing" in out
    assert "truncated tail at entry 7" in out
    assert "account changed outside the audit trail at entry 1" in out
    # The export's audit entry (7) was deleted, so its row is no longer vouched for.
    assert "export log row not in the audit trail" in out


def test_cli_purge_rejects_a_bad_period(url):
    result = runner.invoke(cli, ["purge", "--older-than", "soon", "--yes", "--db", url])
    assert result.exit_code == 2 and "--older-than" in result.output and "'soon'" in result.output
