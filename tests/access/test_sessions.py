"""Server-side sign-in sessions: hashed tokens, idle and absolute expiry, forced ends, rotation."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from hoth_geo import store
from hoth_geo.access import audit, auth, sessions

PASSWORD = "correct horse battery"
ADMIN, ANALYST = "admin.one@example.org", "analyst.one@example.org"


pytestmark = pytest.mark.usefixtures("fast_hasher")  # small Argon2 parameters: tests/conftest.py


@pytest.fixture
def engine(tmp_path):
    engine = store.connect(f"sqlite:///{tmp_path / 'sessions.sqlite'}")
    auth.add_user(engine, ADMIN, PASSWORD, "admin")
    auth.add_user(engine, ANALYST, PASSWORD, "analyst")
    return engine


def _row(engine, token):
    with engine.connect() as conn:
        return conn.execute(
            sa.select(sessions.auth_sessions).where(
                sessions.auth_sessions.c.token_hash == sessions.digest(token)
            )
        ).first()


def _last(engine, event):
    log = audit.load_audit(engine, event=event)
    return log.iloc[-1] if len(log) else None


def test_a_session_token_is_random_and_only_its_hash_is_stored(engine, tmp_path):
    user = auth.authenticate(engine, ANALYST, PASSWORD)
    first, second = sessions.start(engine, user), sessions.start(engine, user)
    assert first != second and len(first) >= 40
    assert auth.resume_session(engine, first).user.username == ANALYST
    raw = (tmp_path / "sessions.sqlite").read_bytes() + b"".join(
        p.read_bytes() for p in tmp_path.glob("sessions.sqlite-*")
    )
    assert first.encode() not in raw and sessions.digest(first).encode() in raw
    assert auth.resume_session(engine, "a-made-up-token").user is None
    assert auth.resume_session(engine, None).reason == "unknown"


def test_idle_expiry_is_decided_by_the_server_and_audited(engine):
    user = auth.authenticate(engine, ANALYST, PASSWORD)
    token = sessions.start(engine, user)
    started = _row(engine, token).last_seen_at
    assert auth.resume_session(engine, token, now=started + timedelta(minutes=29)).user is not None
    # The background check does not count as activity; a rerun does.
    assert _row(engine, token).last_seen_at == started + timedelta(minutes=29)
    assert (
        auth.resume_session(engine, token, touch=False, now=started + timedelta(minutes=58)).user is not None
    )
    assert _row(engine, token).last_seen_at == started + timedelta(minutes=29)
    gone = auth.resume_session(engine, token, touch=False, now=started + timedelta(minutes=59))
    assert gone.user is None and gone.reason == "expired"
    assert _row(engine, token).end_reason == "expired"
    entry = _last(engine, "session_expired")
    assert entry["actor"] == ANALYST and json.loads(entry["details"])["reason"] == "expired"
    # Ended for good: a later look-up does not revive it or audit it again.
    assert auth.resume_session(engine, token).reason == "expired"
    assert len(audit.load_audit(engine, event="session_expired")) == 1


def test_a_session_has_an_absolute_limit(engine):
    token = sessions.start(engine, auth.authenticate(engine, ANALYST, PASSWORD))
    row = _row(engine, token)
    later = row.created_at + timedelta(hours=sessions.SESSION_MAX_HOURS)
    with engine.begin() as conn:
        conn.execute(sessions.auth_sessions.update().values(last_seen_at=later - timedelta(minutes=1)))
    assert auth.resume_session(engine, token, now=later).reason == "max_age"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda e: auth.disable_user(e, ANALYST, actor=ADMIN), "account_disabled"),
        (lambda e: auth.set_role(e, ANALYST, "partner", actor=ADMIN), "role_changed"),
        (
            lambda e: auth.set_password(e, ANALYST, "river lantern ochre spoon", actor=ADMIN),
            "password_changed",
        ),
    ],
)
def test_an_admin_change_ends_every_session_of_the_account_and_is_audited(engine, change, reason):
    user = auth.authenticate(engine, ANALYST, PASSWORD)
    tabs = [sessions.start(engine, user), sessions.start(engine, user)]
    other = sessions.start(engine, auth.authenticate(engine, ADMIN, PASSWORD))
    change(engine)
    for token in tabs:
        assert auth.resume_session(engine, token).user is None
        assert _row(engine, token).end_reason == reason
    assert auth.resume_session(engine, other).user is not None, "other accounts are untouched"
    forced = audit.load_audit(engine, event="sign_out")
    forced = forced[[json.loads(d)["reason"] == reason for d in forced["details"]]]
    assert len(forced) == 2 and set(forced["actor"]) == {ADMIN} and set(forced["target"]) == {ANALYST}
    assert audit.verify_chain(engine).ok


def test_a_role_change_made_behind_the_apps_back_still_ends_the_session(engine):
    token = sessions.start(engine, auth.authenticate(engine, ANALYST, PASSWORD))
    with engine.begin() as conn:  # e.g. a direct database edit: no end_all_for_user call
        conn.execute(auth.users.update().where(auth.users.c.username == ANALYST).values(role="police"))
    assert auth.resume_session(engine, token).reason == "role_changed"
    assert json.loads(_last(engine, "sign_out")["details"])["reason"] == "role_changed"


def test_sign_in_rotates_the_token_and_sign_out_ends_it_once(engine):
    user = auth.authenticate(engine, ANALYST, PASSWORD)
    planted = sessions.start(engine, user)
    fresh = sessions.start(engine, user, replaces=planted)
    assert fresh != planted
    assert auth.resume_session(engine, planted).reason == "replaced"
    assert sessions.end(engine, fresh) and not sessions.end(engine, fresh)
    assert auth.resume_session(engine, fresh).reason == "user"
    sign_outs = audit.load_audit(engine, event="sign_out")
    assert [json.loads(d)["reason"] for d in sign_outs["details"]] == ["replaced", "user"]


def test_disabling_a_local_account_also_ends_a_single_sign_on_session_of_that_name(engine):
    mapping = {"users": {ANALYST: "analyst"}}
    sso_user = auth.sso_sign_in(engine, {"preferred_username": ANALYST}, mapping)
    token = sessions.start(engine, sso_user, method="sso")
    assert auth.resume_session(engine, token).user.role == "analyst"
    auth.disable_user(engine, ANALYST, actor=ADMIN)
    assert auth.resume_session(engine, token).reason == "account_disabled"
