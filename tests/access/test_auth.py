"""Accounts, roles, sign-in, lockout and SSO role mapping (the `users` / `audit` commands: tests/cli/test_admin.py;
the password rules: test_passwords.py)."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import typer
from argon2 import PasswordHasher
from typer.testing import CliRunner

from hoth_geo import errors, store
from hoth_geo.access import audit, auth, sessions
from hoth_geo.cli import admin as cli_admin

PASSWORD = "correct horse battery"  # synthetic test password, >= 12 characters
ADMIN = "admin.one@example.org"
ANALYST = "analyst.one@example.org"

runner = CliRunner()
cli = typer.Typer()
cli_admin.register(cli)


pytestmark = pytest.mark.usefixtures("fast_hasher")  # small Argon2 parameters: tests/conftest.py


@pytest.fixture(autouse=True)
def var_dir(tmp_path, monkeypatch):
    # The first-run setup token file goes to var/: a throwaway one per test.
    monkeypatch.setenv("HOTH_GEO_VAR_DIR", str(tmp_path / "var"))
    return tmp_path / "var"


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
    token = sessions.ensure_setup_token(engine)
    auth.create_first_admin(engine, ADMIN, PASSWORD, setup_token=token)
    assert not auth.first_run_needed(engine)
    with pytest.raises(ValueError, match="first-run set-up is closed"):
        auth.create_first_admin(engine, "admin.two@example.org", PASSWORD, setup_token=token)
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
    # An existing account is named; an unknown name is kept only as a digest, never as typed.
    assert failed["target"].iloc[0] == ANALYST and failed["target"].iloc[1:].isna().all()
    assert "nobody@example.org" not in audit.export_audit_csv(engine).decode("utf-8-sig")
    assert json.loads(failed["details"].iloc[1])["username_sha256"] == auth._username_digest(
        "nobody@example.org"
    )


def test_lockout_after_repeated_failures_then_expiry(engine, monkeypatch):
    monkeypatch.setenv(auth.LOCKOUT_ATTEMPTS_ENV, "3")
    monkeypatch.setenv(auth.LOCKOUT_MINUTES_ENV, "10")
    auth.add_user(engine, ANALYST, PASSWORD, "analyst")
    attacker, owner = "203.0.113.5", "198.51.100.20"
    for _ in range(3):
        assert auth.authenticate(engine, ANALYST, "wrong password!!", client=attacker) is None
    with engine.connect() as conn:
        locked = conn.execute(
            sa.select(auth.sign_in_throttle.c.locked_until).where(
                auth.sign_in_throttle.c.key.like(f"account:%@{attacker}")
            )
        ).scalar_one()
    assert timedelta(minutes=9) < locked - _utcnow() <= timedelta(minutes=10)
    # The right password is refused from the client that failed, while locked ...
    assert auth.authenticate(engine, ANALYST, PASSWORD, client=attacker) is None
    reasons = [json.loads(d)["reason"] for d in _events(engine, "sign_in_failed")["details"]]
    assert reasons == ["bad_password"] * 3 + ["locked"]
    # ... but the owner signing in from elsewhere is not locked out by someone else's guesses.
    assert auth.authenticate(engine, ANALYST, PASSWORD, client=owner) is not None
    # Once the lock has passed, the right password works from the first client too.
    with engine.begin() as conn:
        conn.execute(
            auth.sign_in_throttle.update()
            .where(auth.sign_in_throttle.c.locked_until.is_not(None))
            .values(locked_until=_utcnow() - timedelta(seconds=1))
        )
    user = auth.authenticate(engine, ANALYST, PASSWORD, client=attacker)
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


def test_a_user_changes_their_own_password_after_proving_the_current_one(engine):
    auth.add_user(engine, ANALYST, PASSWORD, "analyst")
    signed_in = auth.authenticate(engine, ANALYST, PASSWORD)
    token = sessions.start(engine, signed_in)
    new = "a synthetic replacement passphrase"
    # A weak new password is refused by the policy before the current one is checked (no verification).
    with pytest.raises(errors.InvalidInput, match="12"):
        auth.change_own_password(engine, ANALYST, PASSWORD, "short")
    assert _events(engine, "password_verified").empty
    # A wrong current password is a failed attempt like a sign-in's, counted towards the lockout.
    with pytest.raises(errors.InvalidInput, match="current password: not right") as refused:
        auth.change_own_password(engine, ANALYST, PASSWORD + "x", new)
    assert PASSWORD not in str(refused.value) and new not in str(refused.value)
    assert json.loads(_events(engine, "sign_in_failed")["details"].iloc[-1])["reason"] == "bad_password"
    assert auth.authenticate(engine, ANALYST, PASSWORD) is not None  # nothing changed
    with pytest.raises(errors.InvalidInput, match="same as the current"):
        auth.change_own_password(engine, ANALYST, PASSWORD, PASSWORD)
    last_sign_in = auth.get_user(engine, ANALYST).last_login_at
    auth.change_own_password(engine, ANALYST, PASSWORD, new)
    assert auth.get_user(engine, ANALYST).last_login_at == last_sign_in  # a check, not a sign-in
    assert auth.authenticate(engine, ANALYST, PASSWORD) is None
    assert auth.authenticate(engine, ANALYST, new) is not None
    assert auth.resume_session(engine, token).reason == "password_changed"  # every session ended
    assert _events(engine, "password_verified")["actor"].tolist() == [ANALYST]
    changed = _events(engine, "password_changed")
    assert (changed["actor"].iloc[-1], changed["target"].iloc[-1]) == (ANALYST, ANALYST)


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


# --- Password rules ---------------------------------------------------------------------------------------


def test_every_way_to_set_a_password_applies_the_rules(engine, url):
    for call in (
        lambda: auth.add_user(engine, ANALYST, "password1234", "analyst"),
        lambda: auth.create_first_admin(
            engine, ADMIN, "aaaaaaaaaaaa", setup_token=sessions.ensure_setup_token(engine)
        ),
    ):
        with pytest.raises(ValueError, match="password"):
            call()
    auth.add_user(engine, ANALYST, PASSWORD, "analyst")
    with pytest.raises(ValueError, match="same as the username"):
        auth.set_password(engine, ANALYST, ANALYST + "!", actor=ADMIN)
    weak = " " * 12
    result = runner.invoke(
        cli,
        ["users", "add", "partner.two@example.org", "--role", "partner", "--db", url],
        input=f"{weak}\n{weak}\n",
    )
    assert result.exit_code == 2 and "only spaces" in result.output
    result = runner.invoke(
        cli,
        ["users", "add", "partner.two@example.org", "--role", "partner", "--db", url],
        input="password1234\npassword1234\n",
    )
    assert result.exit_code == 2 and "most commonly used" in result.output
    assert auth.get_user(engine, "partner.two@example.org") is None


# --- First run: the one-time setup token ------------------------------------------------------------------


def test_first_run_needs_the_setup_token_printed_on_the_server(engine, var_dir, capsys):
    token = sessions.announce_if_first_run(engine)
    printed = capsys.readouterr().err
    assert token and token in printed
    kept = var_dir / sessions.TOKEN_FILE_NAME
    assert kept.read_text().strip() == token
    assert stat.S_IMODE(os.stat(kept).st_mode) == 0o600, "only the server's account may read it"
    with engine.connect() as conn:
        stored = conn.execute(sa.select(sessions.first_run_token)).all()
    assert len(stored) == 1 and stored[0].token_hash == sessions.digest(token) != token
    # Restarting the server prints the same token while the deployment is still empty.
    assert sessions.ensure_setup_token(engine) == token

    for wrong in (None, "", "not-the-token", token[:-1]):
        with pytest.raises(ValueError, match="setup token is missing or wrong"):
            auth.create_first_admin(engine, ADMIN, PASSWORD, setup_token=wrong)
    assert auth.first_run_needed(engine) and not auth.has_users(engine)

    auth.create_first_admin(engine, ADMIN, PASSWORD, setup_token=token)
    assert auth.get_user(engine, ADMIN).is_admin
    # Used up: the token, its hash and its file are gone, and no new one is made.
    assert not kept.exists() and sessions.ensure_setup_token(engine) is None
    with pytest.raises(ValueError, match="first-run set-up is closed"):
        auth.create_first_admin(engine, "admin.two@example.org", PASSWORD, setup_token=token)


# --- Throttling: counted before hashing -------------------------------------------------------------------


def _count_real_verifications(monkeypatch, engine, username, hold: threading.Event | None = None):
    """Record each password checked against the account's real hash (optionally holding each check)."""
    real = _stored_hash(engine, username)
    checked: list[str] = []
    original = auth._verify

    def verify(password_hash, password):
        if password_hash == real:
            checked.append(password)
            if hold is not None:
                hold.wait(30)
        return original(password_hash, password)

    monkeypatch.setattr(auth, "_verify", verify)
    return checked


def test_parallel_attempts_cannot_all_be_verified(engine, monkeypatch):
    auth.add_user(engine, ANALYST, PASSWORD, "analyst")
    checked = _count_real_verifications(monkeypatch, engine, ANALYST)
    attempts = [f"wrong guess number {i}" for i in range(12)]
    with ThreadPoolExecutor(12) as pool:
        results = list(
            pool.map(lambda p: auth.authenticate(engine, ANALYST, p, client="192.0.2.9"), attempts)
        )
    assert results == [None] * 12
    assert len(checked) == auth.DEFAULT_LOCKOUT_ATTEMPTS, "only the allowed attempts reach the hash"
    reasons = [json.loads(d)["reason"] for d in _events(engine, "sign_in_failed")["details"]]
    assert sorted(reasons) == ["bad_password"] * 5 + ["locked"], "refusals while locked are logged once"
    assert auth.authenticate(engine, ANALYST, PASSWORD, client="192.0.2.9") is None


def test_the_right_password_is_refused_once_wrong_ones_have_used_the_window(engine, monkeypatch):
    auth.add_user(engine, ANALYST, PASSWORD, "analyst")
    hold = threading.Event()
    checked = _count_real_verifications(monkeypatch, engine, ANALYST, hold)
    client = "192.0.2.10"
    with ThreadPoolExecutor(11) as pool:
        wrong = [
            pool.submit(auth.authenticate, engine, ANALYST, f"wrong guess number {i}", client=client)
            for i in range(11)
        ]
        # Six are refused at once (the window holds five); five are still being checked.
        deadline = time.monotonic() + 30
        while sum(f.done() for f in wrong) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sum(f.done() for f in wrong) == 6
        # The right password now, while those five checks are still running: refused, unverified.
        assert auth.authenticate(engine, ANALYST, PASSWORD, client=client) is None
        hold.set()
        assert all(f.result() is None for f in wrong)
    assert len(checked) == 5 and PASSWORD not in checked
    assert auth.authenticate(engine, ANALYST, PASSWORD, client=client) is None, "still locked"


def _failures_counted(engine, key: str) -> int:
    with engine.connect() as conn:
        return (
            conn.execute(
                sa.select(auth.sign_in_throttle.c.failures).where(auth.sign_in_throttle.c.key == key)
            ).scalar()
            or 0
        )


def test_colleagues_behind_one_address_signing_in_at_once_do_not_lock_it(engine, monkeypatch):
    # A station's officers share one public address. Six sign in at the same moment with the right
    # passwords (the address's budget is six here): every attempt is counted before its hash is checked,
    # so the sixth reaches the limit, but once they all turn out right the address is not locked.
    monkeypatch.setenv(auth.CLIENT_ATTEMPTS_ENV, "6")
    officers = [f"officer.{i}@example.org" for i in range(7)]
    for name in officers:
        auth.add_user(engine, name, PASSWORD, "analyst")
    hold = threading.Event()
    original = auth._verify
    monkeypatch.setattr(auth, "_verify", lambda h, p: hold.wait(30) and original(h, p))
    station = "192.0.2.40"
    with ThreadPoolExecutor(6) as pool:
        signing_in = [
            pool.submit(auth.authenticate, engine, name, PASSWORD, client=station) for name in officers[:6]
        ]
        deadline = time.monotonic() + 30
        while _failures_counted(engine, f"client:{station}") < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _failures_counted(engine, f"client:{station}") == 6, "all six counted before any check"
        hold.set()
        assert all(f.result() is not None for f in signing_in)
    assert _failures_counted(engine, f"client:{station}") == 0
    assert auth.authenticate(engine, officers[6], PASSWORD, client=station) is not None
    # Wrong passwords that use up the budget still lock the address, right ones among them or not.
    for i in range(6):
        assert auth.authenticate(engine, officers[i % 3], f"a wrong password {i}", client=station) is None
    assert auth.authenticate(engine, officers[6], PASSWORD, client=station) is None


def test_one_client_has_a_budget_and_cannot_lock_the_admin_out(engine, monkeypatch):
    monkeypatch.setenv(auth.CLIENT_ATTEMPTS_ENV, "6")
    auth.add_user(engine, ADMIN, PASSWORD, "admin")
    attacker = "203.0.113.66"
    checked = _count_real_verifications(monkeypatch, engine, ADMIN)
    for i in range(5):
        assert auth.authenticate(engine, ADMIN, f"guessing the admin {i}", client=attacker) is None
    assert auth.authenticate(engine, f"{'x' * 240}-{0}@example.org", PASSWORD, client=attacker) is None
    n_hashed = len(checked)
    before = len(audit.load_audit(engine))
    calls = []
    monkeypatch.setattr(auth, "_dummy", lambda: calls.append(1) or auth.hasher.hash("dummy password x"))
    for i in range(20):  # over budget: refused with no hashing at all, and logged once
        assert auth.authenticate(engine, f"spray.{i}@example.org", PASSWORD, client=attacker) is None
        assert auth.authenticate(engine, ADMIN, PASSWORD, client=attacker) is None
    assert len(checked) == n_hashed and calls == []
    new = audit.load_audit(engine).iloc[before:]
    assert new["event"].tolist() == ["sign_in_failed"]
    assert json.loads(new["details"].iloc[0])["reason"] == "client_throttled"
    # The attacker's text never reached the log.
    assert "x" * 240 not in audit.export_audit_csv(engine).decode("utf-8-sig")
    # The admin, from their own address, signs in.
    assert auth.authenticate(engine, ADMIN, PASSWORD, client="198.51.100.1") is not None


def test_many_clients_failing_lock_the_account_for_everyone(engine, monkeypatch):
    monkeypatch.setenv(auth.ACCOUNT_LOCKOUT_ATTEMPTS_ENV, "4")
    auth.add_user(engine, ANALYST, PASSWORD, "analyst")
    for client in ("203.0.113.1", "203.0.113.2"):
        for _ in range(2):
            auth.authenticate(engine, ANALYST, "a wrong password", client=client)
    assert auth.get_user(engine, ANALYST).locked_until is not None
    assert auth.authenticate(engine, ANALYST, PASSWORD, client="198.51.100.3") is None
    details = json.loads(_events(engine, "sign_in_failed")["details"].iloc[-1])
    assert details["reason"] == "locked" and details["scope"] == "account"
    auth.enable_user(engine, ANALYST, actor=ADMIN)  # an admin clears it
    assert auth.authenticate(engine, ANALYST, PASSWORD, client="198.51.100.3") is not None


def test_client_address_trusts_forwarded_for_only_from_a_trusted_proxy():
    assert auth.client_address("203.0.113.7", "198.51.100.9") == "203.0.113.7"
    assert (
        auth.client_address(None, "198.51.100.9, 10.0.0.2", trusted="127.0.0.1,10.0.0.0/8") == "198.51.100.9"
    )
    assert auth.client_address(None, "198.51.100.9") == "198.51.100.9"  # nginx on the same machine
    assert auth.client_address(None, None) == "127.0.0.1"
    assert auth.client_address("2001:db8:1:2:aaaa::1") == auth.client_address("2001:db8:1:2:bbbb::9")
    assert auth.client_address(None, "<script>") == "unknown"
    with pytest.raises(ValueError, match="HOTH_GEO_TRUSTED_PROXIES"):
        auth.client_address("203.0.113.7", None, trusted="proxy.example")
