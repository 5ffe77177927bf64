"""Accounts, roles, sign-in, lockout, SSO role mapping and the `users` / `audit` commands."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import typer
from argon2 import PasswordHasher
from typer.testing import CliRunner

from hoth_geo import audit, auth, cli_admin, store

PASSWORD = "correct horse battery"  # synthetic test password, >= 12 characters
ADMIN = "admin.one@example.org"
ANALYST = "analyst.one@example.org"

runner = CliRunner()
cli = typer.Typer()
cli_admin.register(cli)


@pytest.fixture(autouse=True)
def fast_hasher(monkeypatch):
    # Small Argon2 parameters keep the suite fast; the production parameters are tested separately.
    monkeypatch.setattr(auth, "hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'auth.sqlite'}"


@pytest.fixture
def engine(url):
    return store.connect(url)


def _utcnow():
    return datetime.now(UTC).replace(tzinfo=None)


def _events(engine, event):
    return audit.load_audit(engine, event=event)


def _stored_hash(engine, username):
    with engine.connect() as conn:
        return conn.execute(
            sa.select(auth.users.c.password_hash).where(auth.users.c.username == username)
        ).scalar_one()


# --- Roles and capabilities ------------------------------------------------------------------------------


def test_capability_map_matches_the_documented_roles():
    assert all(auth.can("police", c) for c in auth.CAPABILITIES if c not in ("manage_users", "view_audit"))
    assert auth.can("analyst", "view_narratives") and auth.can("analyst", "resolve_quarantine")
    assert not auth.can("analyst", "export_police") and not auth.can("analyst", "purge")
    partner = {c for c in auth.CAPABILITIES if auth.can("partner", c)}
    assert partner == {"view_map", "view_aggregates", "export_partner", "export_public"}
    admin = {c for c in auth.CAPABILITIES if auth.can("admin", c)}
    assert admin == {"manage_users", "view_audit"}
    assert auth.can("admin,analyst", "view_audit") and auth.can("admin,analyst", "view_reports")
    with pytest.raises(ValueError, match="capability must be one of .* got 'fly'"):
        auth.can("police", "fly")


def test_parse_roles_allows_admin_plus_one_data_role():
    assert auth.parse_roles("analyst") == ("analyst", False)
    assert auth.parse_roles(["Admin", "police"]) == ("police", True)
    assert auth.parse_roles("admin") == (None, True)
    with pytest.raises(ValueError, match="only one data role"):
        auth.parse_roles("police,analyst")
    with pytest.raises(ValueError, match="got 'superuser'"):
        auth.parse_roles("superuser")
    with pytest.raises(ValueError, match="role must be"):
        auth.parse_roles("")


# --- Accounts --------------------------------------------------------------------------------------------


def test_add_user_hashes_with_argon2id_and_enforces_policy(engine):
    user_id = auth.add_user(engine, " Analyst.One@Example.org ", PASSWORD, "analyst", actor=ADMIN)
    stored = _stored_hash(engine, ANALYST)
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    user = auth.get_user(engine, ANALYST)
    assert user.id == user_id and user.role == "analyst" and not user.is_admin
    with pytest.raises(ValueError, match="at least 12 characters"):
        auth.add_user(engine, "partner.one@example.org", "short", "partner")
    with pytest.raises(ValueError, match="same as the username"):
        auth.add_user(engine, "longusername1", "LongUsername1", "partner")
    with pytest.raises(ValueError, match="already exists"):
        auth.add_user(engine, ANALYST, PASSWORD, "partner")
    with pytest.raises(ValueError, match="username must be"):
        auth.add_user(engine, "two words", PASSWORD, "partner")
    added = _events(engine, "user_added")
    assert added["target"].tolist() == [ANALYST] and added["actor"].tolist() == [ADMIN]
    # No password or hash anywhere in the log.
    assert PASSWORD not in audit.export_audit_csv(engine).decode("utf-8-sig")


def test_production_hasher_is_argon2id():
    assert isinstance(auth.hasher, PasswordHasher)
    assert PasswordHasher().hash("x" * 12).startswith("$argon2id$")


def test_first_run_and_the_last_admin_guard(engine):
    assert auth.first_run_needed(engine) and not auth.has_users(engine)
    auth.add_user(engine, ANALYST, PASSWORD, "analyst")
    assert auth.has_users(engine) and auth.first_run_needed(engine)
    auth.create_first_admin(engine, ADMIN, PASSWORD)
    assert not auth.first_run_needed(engine)
    with pytest.raises(ValueError, match="first-run set-up is closed"):
        auth.create_first_admin(engine, "admin.two@example.org", PASSWORD)
    with pytest.raises(ValueError, match="last enabled admin"):
        auth.disable_user(engine, ADMIN, actor=ADMIN)
    with pytest.raises(ValueError, match="last enabled admin"):
        auth.set_role(engine, ADMIN, "police", actor=ADMIN)
    auth.add_user(engine, "admin.two@example.org", PASSWORD, "admin")
    auth.disable_user(engine, ADMIN, actor="admin.two@example.org")
    # A disabled admin still closes the first-run form.
    assert not auth.first_run_needed(engine)


def test_authenticate_success_updates_and_audits(engine):
    auth.add_user(engine, ANALYST, PASSWORD, "analyst", display_name="Analyst One")
    user = auth.authenticate(engine, "ANALYST.ONE@example.org", PASSWORD)
    assert user is not None and user.username == ANALYST and user.display_name == "Analyst One"
    assert user.last_login_at is not None and user.can("view_reports") and not user.can("manage_users")
    signed = _events(engine, "sign_in")
    assert signed["actor"].tolist() == [ANALYST]
    assert json.loads(signed["details"].iloc[0]) == {"method": "password", "rehashed": False}


def test_wrong_password_and_unknown_user_fail_and_are_audited(engine):
    auth.add_user(engine, ANALYST, PASSWORD, "analyst")
    assert auth.authenticate(engine, ANALYST, PASSWORD + "x") is None
    assert auth.authenticate(engine, "nobody@example.org", PASSWORD) is None
    assert auth.authenticate(engine, "", PASSWORD) is None
    failed = _events(engine, "sign_in_failed")
    reasons = [json.loads(d)["reason"] for d in failed["details"]]
    assert reasons == ["bad_password", "unknown_user", "invalid_username"]
    assert failed["target"].tolist()[:2] == [ANALYST, "nobody@example.org"]


def test_lockout_after_repeated_failures_then_expiry(engine, monkeypatch):
    monkeypatch.setenv(auth.LOCKOUT_ATTEMPTS_ENV, "3")
    monkeypatch.setenv(auth.LOCKOUT_MINUTES_ENV, "10")
    auth.add_user(engine, ANALYST, PASSWORD, "analyst")
    for _ in range(3):
        assert auth.authenticate(engine, ANALYST, "wrong password!!") is None
    locked = auth.get_user(engine, ANALYST).locked_until
    assert locked is not None and timedelta(minutes=9) < locked - _utcnow() <= timedelta(minutes=10)
    # The right password is refused while locked.
    assert auth.authenticate(engine, ANALYST, PASSWORD) is None
    reasons = [json.loads(d)["reason"] for d in _events(engine, "sign_in_failed")["details"]]
    assert reasons == ["bad_password"] * 3 + ["locked"]
    # Once the lock has passed, the right password works and the counters reset.
    with engine.begin() as conn:
        conn.execute(auth.users.update().values(locked_until=_utcnow() - timedelta(seconds=1)))
    user = auth.authenticate(engine, ANALYST, PASSWORD)
    assert user is not None and user.locked_until is None


def test_disabled_user_cannot_sign_in_until_enabled(engine):
    auth.add_user(engine, ANALYST, PASSWORD, "analyst")
    auth.disable_user(engine, ANALYST, actor=ADMIN)
    assert auth.authenticate(engine, ANALYST, PASSWORD) is None
    assert json.loads(_events(engine, "sign_in_failed")["details"].iloc[-1])["reason"] == "disabled"
    auth.enable_user(engine, ANALYST, actor=ADMIN)
    assert auth.authenticate(engine, ANALYST, PASSWORD) is not None
    assert _events(engine, "user_disabled")["actor"].tolist() == [ADMIN]
    assert _events(engine, "user_enabled")["target"].tolist() == [ANALYST]


def test_rehash_when_parameters_change(engine, monkeypatch):
    auth.add_user(engine, ANALYST, PASSWORD, "analyst")
    before = _stored_hash(engine, ANALYST)
    monkeypatch.setattr(auth, "hasher", PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1))
    assert auth.authenticate(engine, ANALYST, PASSWORD) is not None
    after = _stored_hash(engine, ANALYST)
    assert after != before and "m=2048,t=2" in after
    assert json.loads(_events(engine, "sign_in")["details"].iloc[-1])["rehashed"] is True
    assert auth.authenticate(engine, ANALYST, PASSWORD) is not None  # the new hash verifies


def test_set_role_and_set_password_are_audited(engine):
    auth.add_user(engine, ANALYST, PASSWORD, "analyst")
    auth.set_role(engine, ANALYST, ["admin", "analyst"], actor=ADMIN)
    assert auth.get_user(engine, ANALYST).roles == "admin,analyst"
    changed = _events(engine, "role_changed")
    assert json.loads(changed["details"].iloc[0]) == {"from": "analyst", "to": "admin,analyst"}
    auth.set_password(engine, ANALYST, "a different passphrase", actor=ADMIN)
    assert auth.authenticate(engine, ANALYST, PASSWORD) is None
    assert auth.authenticate(engine, ANALYST, "a different passphrase") is not None
    assert _events(engine, "password_changed")["target"].tolist() == [ANALYST]
    with pytest.raises(ValueError, match="does not exist"):
        auth.set_role(engine, "nobody@example.org", "partner")


def test_session_expiry(monkeypatch):
    t0 = datetime(2025, 3, 3, 9, 0)
    assert not auth.session_expired(t0, t0 + timedelta(minutes=29))
    assert auth.session_expired(t0, t0 + timedelta(minutes=30))
    assert not auth.session_expired(t0, t0 + timedelta(minutes=50), 60)
    monkeypatch.setenv(auth.SESSION_MINUTES_ENV, "5")
    assert auth.session_expired(t0, t0 + timedelta(minutes=5))
    monkeypatch.setenv(auth.SESSION_MINUTES_ENV, "soon")
    with pytest.raises(ValueError, match="HOTH_GEO_SESSION_MINUTES must be a whole number, got 'soon'"):
        auth.session_expired(t0, t0)


# --- SSO ---------------------------------------------------------------------------------------------------

TENANT = "11111111-2222-3333-4444-555555555555"
MAPPING = {
    "tenant_id": TENANT,
    "app_roles": {"HothGeo.Analyst": "analyst", "HothGeo.Admin": "admin", "HothGeo.Police": "police"},
    "groups": {"AAAA0000-0000-0000-0000-000000000001": "partner"},
    "users": {"Police.One@example.org": "police"},
}


def _claims(**extra):
    return {"tid": TENANT, "oid": "oid-1", "preferred_username": "analyst.one@example.org", **extra}


def test_role_from_claims():
    assert auth.role_from_claims(_claims(roles=["HothGeo.Analyst"]), MAPPING) == "analyst"
    assert auth.role_from_claims(_claims(roles=["HothGeo.Analyst", "HothGeo.Admin"]), MAPPING) == (
        "admin,analyst"
    )
    # Several data roles: the least privileged wins.
    claims = _claims(roles=["HothGeo.Police"], groups=["aaaa0000-0000-0000-0000-000000000001"])
    assert auth.role_from_claims(claims, MAPPING) == "partner"
    # The per-user entry overrides groups and app roles.
    claims = _claims(preferred_username="police.one@example.org", roles=["HothGeo.Analyst"])
    assert auth.role_from_claims(claims, MAPPING) == "police"
    # Another tenant, or no matching claim: no access.
    assert auth.role_from_claims({**_claims(roles=["HothGeo.Analyst"]), "tid": "other"}, MAPPING) is None
    assert auth.role_from_claims(_claims(roles=["Something.Else"]), MAPPING) is None
    with pytest.raises(ValueError, match=r"\[groups\] entry 'g1'.*got 'boss'"):
        auth.role_from_claims(_claims(), {"groups": {"g1": "boss"}})
    with pytest.raises(ValueError, match="unknown keys"):
        auth.role_from_claims(_claims(), {"group": {}})


def test_sso_sign_in_is_audited_and_respects_local_disable(engine):
    user = auth.sso_sign_in(engine, _claims(roles=["HothGeo.Analyst"], name="Analyst One"), MAPPING)
    assert (
        user is not None and user.id is None and user.role == "analyst" and user.display_name == "Analyst One"
    )
    assert auth.sso_sign_in(engine, _claims(), MAPPING) is None
    auth.add_user(engine, ANALYST, PASSWORD, "analyst")
    auth.add_user(engine, ADMIN, PASSWORD, "admin")
    auth.disable_user(engine, ANALYST, actor=ADMIN)
    assert auth.sso_sign_in(engine, _claims(roles=["HothGeo.Analyst"]), MAPPING) is None
    reasons = [json.loads(d)["reason"] for d in _events(engine, "sign_in_failed")["details"]]
    assert reasons == ["no_role", "disabled"]
    assert json.loads(_events(engine, "sign_in")["details"].iloc[0]) == {"method": "sso", "role": "analyst"}


def test_load_sso_mapping_from_secrets_and_env_file(tmp_path, monkeypatch):
    monkeypatch.delenv(auth.SSO_ROLES_FILE_ENV, raising=False)
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        '[auth]\nredirect_uri = "http://localhost:8501/oauth2callback"\n'
        '[auth.hoth_geo_roles]\ntenant_id = "T1"\n'
        '[auth.hoth_geo_roles.app_roles]\n"HothGeo.Analyst" = "analyst"\n',
        encoding="utf-8",
    )
    mapping = auth.load_sso_mapping(secrets_path=secrets)
    assert mapping["tenant_id"] == "t1" and mapping["app_roles"] == {"HothGeo.Analyst": "analyst"}
    assert auth.load_sso_mapping(secrets_path=tmp_path / "missing.toml") == {}
    assert auth.load_sso_mapping({"auth": {"hoth_geo_roles": {"users": {"A@example.org": "partner"}}}})[
        "users"
    ] == {"a@example.org": "partner"}
    as_json = tmp_path / "roles.json"
    as_json.write_text(json.dumps({"groups": {"g1": "police"}}), encoding="utf-8")
    monkeypatch.setenv(auth.SSO_ROLES_FILE_ENV, str(as_json))
    assert auth.load_sso_mapping(secrets_path=secrets)["groups"] == {"g1": "police"}
    monkeypatch.setenv(auth.SSO_ROLES_FILE_ENV, str(tmp_path / "nope.toml"))
    with pytest.raises(ValueError, match="HOTH_GEO_SSO_ROLES_FILE names a file that does not exist"):
        auth.load_sso_mapping()


# --- Command line ------------------------------------------------------------------------------------------


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
    assert auth.get_user(engine, ANALYST).locked_until is not None
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
