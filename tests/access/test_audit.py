"""The keyed, anchored audit log: appends, verification, each kind of tampering, concurrency, export."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import typer
from typer.testing import CliRunner

from hoth_geo import settings, store
from hoth_geo.access import audit, auth
from hoth_geo.cli import admin as cli_admin

PASSWORD = "correct horse battery"  # synthetic test password
ANALYST = "analyst.one@example.org"
runner = CliRunner()
cli = typer.Typer()
cli_admin.register(cli)


@pytest.fixture(autouse=True)
def key_file(tmp_path, monkeypatch):
    """Each test gets its own key file (created on first use), as a fresh deployment would."""
    path = tmp_path / "keys" / "audit.key"
    monkeypatch.delenv(settings.AUDIT_KEY_ENV, raising=False)
    monkeypatch.delenv(settings.AUDIT_ANCHOR_ENV, raising=False)
    monkeypatch.setenv(settings.AUDIT_KEY_FILE_ENV, str(path))
    return path


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'audit.sqlite'}"


@pytest.fixture
def engine(url):
    return store.connect(url)


def kinds(result) -> list[tuple[str, int | None]]:
    return [(f.kind, f.entry_id) for f in result.findings]


def execute(engine, statement) -> None:
    with engine.begin() as conn:
        conn.execute(statement)


def _fill(engine, n=5):
    return [
        audit.record(
            engine, "report_viewed", actor="analyst.one@example.org", target=str(i), details={"i": i}
        )
        for i in range(n)
    ]


def test_entries_chain_and_verify(engine):
    ids = _fill(engine, 5)
    assert ids == [1, 2, 3, 4, 5]
    frame = audit.load_audit(engine)
    assert frame["prev_hash"].iloc[0] == audit.GENESIS_HASH
    assert (frame["prev_hash"].iloc[1:].to_numpy() == frame["hash"].iloc[:-1].to_numpy()).all()
    result = audit.verify_chain(engine)
    assert result.ok and result.n_entries == 5 and result.first_bad_id is None
    assert result.head_hash == frame["hash"].iloc[-1]


def test_empty_log_verifies(engine):
    result = audit.verify_chain(engine)
    assert result.ok and result.n_entries == 0 and result.head_hash is None


def test_editing_details_is_detected_at_that_entry(engine):
    _fill(engine, 5)
    with engine.begin() as conn:
        conn.execute(audit.audit_log.update().where(audit.audit_log.c.id == 3).values(details='{"i":99}'))
    result = audit.verify_chain(engine)
    assert not result.ok
    assert result.first_bad_id == 3 and result.n_entries == 2
    assert "hash" in result.reason


def test_entries_are_keyed_and_anchored_outside_the_database(engine, key_file):
    _fill(engine, 3)
    frame = audit.load_audit(engine)
    assert frame["version"].tolist() == [2, 2, 2]
    key = key_file.read_bytes().strip()
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    row = frame.iloc[1]
    assert row["hash"] == audit.entry_mac(
        key,
        row["prev_hash"],
        id=2,
        at=row["at"].to_pydatetime(),
        actor=row["actor"],
        event=row["event"],
        content_sha256=audit.content_digest(row["target"], row["details"]),
        binding=None,
    )
    anchor = audit.anchor_path(engine)
    assert anchor.name == "audit.sqlite-audit-anchor.log" and stat.S_IMODE(anchor.stat().st_mode) == 0o600
    lines = anchor.read_text().splitlines()
    assert lines[0] == f"key {audit.key_id(key)}"
    assert lines[1:] == [f"{i} {h}" for i, h in zip(frame["id"], frame["hash"], strict=True)]


def test_key_from_the_environment_and_unsafe_key_files(engine, key_file, monkeypatch):
    monkeypatch.setenv(settings.AUDIT_KEY_ENV, "k" * 40)
    audit.record(engine, "export")
    assert not key_file.exists()  # the environment's key was used, no file made
    monkeypatch.setenv(settings.AUDIT_KEY_ENV, "short")
    with pytest.raises(ValueError, match="at least 32 characters"):
        audit.record(engine, "export")
    monkeypatch.delenv(settings.AUDIT_KEY_ENV)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.write_text("x" * 64)
    key_file.chmod(0o644)
    with pytest.raises(ValueError, match="can be read by other users .*chmod 600"):
        audit.record(engine, "export")


def test_editing_an_entry_is_reported_as_edited(engine):
    _fill(engine, 4)
    execute(
        engine,
        audit.audit_log.update().where(audit.audit_log.c.id == 2).values(actor="someone.else@example.org"),
    )
    result = audit.verify_chain(engine)
    assert kinds(result) == [("edited", 2)]
    assert "MAC no longer matches" in result.reason


def test_recomputing_hashes_without_the_key_is_reported(engine):
    # The old, unkeyed hash is public: an attacker edits entry 2 and rebuilds the chain from there.
    _fill(engine, 4)
    frame = audit.load_audit(engine)
    prev = frame["hash"].iloc[0]
    for i in (2, 3, 4):
        row = frame.iloc[i - 1]
        actor = "someone.else@example.org" if i == 2 else row["actor"]
        forged = audit.entry_hash(
            prev,
            id=i,
            at=row["at"].to_pydatetime(),
            actor=actor,
            event=row["event"],
            target=row["target"],
            details=row["details"],
        )
        execute(
            engine,
            audit.audit_log.update()
            .where(audit.audit_log.c.id == i)
            .values(actor=actor, prev_hash=prev, hash=forged, version=None),
        )
        prev = forged
    result = audit.verify_chain(engine)
    assert not result.ok and result.first_bad_id == 2
    assert ("forged", 2) in kinds(result) and ("replaced", 2) in kinds(result)
    assert "written without the key" in result.reason


def test_deleting_a_middle_row_is_reported_as_a_gap(engine):
    _fill(engine, 6)
    execute(engine, audit.audit_log.delete().where(audit.audit_log.c.id == 4))
    result = audit.verify_chain(engine)
    assert kinds(result) == [("missing", 5)]
    assert result.n_entries == 3 and "entry 4 is missing" in result.reason


def test_deleting_rows_and_renumbering_them_is_reported(engine):
    _fill(engine, 6)
    execute(engine, audit.audit_log.delete().where(audit.audit_log.c.id == 3))
    for i in (4, 5, 6):
        execute(engine, audit.audit_log.update().where(audit.audit_log.c.id == i).values(id=i - 1))
    result = audit.verify_chain(engine)
    found = kinds(result)
    assert found[0] == ("edited", 3) and ("truncated", 6) in found
    messages = [f.message for f in result.findings]
    assert "this is entry 4 renumbered (entries deleted)" in messages


def test_truncating_the_tail_is_reported_against_the_anchor_log(engine):
    _fill(engine, 6)
    execute(engine, audit.audit_log.delete().where(audit.audit_log.c.id >= 5))
    result = audit.verify_chain(engine)
    assert kinds(result) == [("truncated", 5)]
    assert "up to 6, the database ends at 4: the 2 newest entries removed" in result.reason


def test_a_forged_entry_appended_at_the_end_is_reported_even_with_expect_head(engine):
    _fill(engine, 3)
    head = audit.verify_chain(engine).head_hash
    at = datetime.now(UTC).replace(tzinfo=None)
    details = json.dumps({"note": "nothing happened"})
    content = audit.content_digest(None, details)
    mac = audit.entry_mac(
        b"w" * 64, head, id=4, at=at, actor="admin", event="export", content_sha256=content, binding=None
    )
    execute(
        engine,
        audit.audit_log.insert().values(
            id=4,
            at=at,
            actor="admin",
            event="export",
            target=None,
            details=details,
            prev_hash=head,
            hash=mac,
            version=2,
            content_sha256=content,
        ),
    )
    result = audit.verify_chain(engine, expect_hash=head)
    assert kinds(result) == [("forged", 4)] and "no valid MAC" in result.reason


def test_an_unkeyed_entry_appended_after_keyed_ones_is_forged(engine):
    _fill(engine, 2)
    head = audit.verify_chain(engine).head_hash
    at = datetime.now(UTC).replace(tzinfo=None)
    forged = audit.entry_hash(head, id=3, at=at, actor="admin", event="export", target=None, details="{}")
    execute(
        engine,
        audit.audit_log.insert().values(
            id=3, at=at, actor="admin", event="export", details="{}", prev_hash=head, hash=forged
        ),
    )
    assert kinds(audit.verify_chain(engine)) == [("forged", 3)]


def test_a_missing_anchor_log_or_a_different_key_is_reported(engine, key_file):
    _fill(engine, 2)
    anchor = audit.anchor_path(engine)
    saved = anchor.read_bytes()
    anchor.unlink()
    assert kinds(audit.verify_chain(engine)) == [("anchor", None)]
    anchor.write_bytes(saved)
    key_file.write_text("z" * 64)
    result = audit.verify_chain(engine)
    assert kinds(result) == [("key", None)] and "not the one this chain was begun with" in result.reason


def test_account_changes_outside_the_app_are_reported(engine):
    auth.add_user(engine, ANALYST, PASSWORD, "analyst")
    auth.set_role(engine, ANALYST, "police", actor="admin")
    assert audit.verify_chain(engine).ok
    users = auth.users
    execute(engine, users.update().where(users.c.username == ANALYST).values(is_admin=True))
    result = audit.verify_chain(engine)
    assert kinds(result) == [("account", 2)]
    assert "'analyst.one@example.org': is_admin differ" in result.reason
    execute(
        engine,
        users.update().where(users.c.username == ANALYST).values(is_admin=False, password_hash="x"),
    )
    assert "password differ" in audit.verify_chain(engine).reason
    execute(engine, users.delete())
    assert "deleted outside hoth-geo" in audit.verify_chain(engine).reason
    execute(
        engine,
        users.insert().values(
            username="intruder@example.org",
            role=None,
            is_admin=True,
            password_hash="x",
            disabled=False,
            created_at=datetime(2025, 1, 1),
            failed_attempts=0,
        ),
    )
    messages = [f.message for f in audit.verify_chain(engine).findings]
    assert "account 'intruder@example.org' is not in the audit trail (added outside hoth-geo)" in messages


def test_audited_account_changes_and_sign_ins_keep_the_chain_intact(engine):
    auth.add_user(engine, ANALYST, PASSWORD, "analyst")
    assert auth.authenticate(engine, ANALYST, PASSWORD) is not None
    auth.authenticate(engine, ANALYST, "wrong password!!")
    auth.set_password(engine, ANALYST, "another long passphrase")
    auth.disable_user(engine, ANALYST)
    auth.enable_user(engine, ANALYST)
    result = audit.verify_chain(engine)
    assert result.ok, result.findings


def test_export_log_rows_altered_removed_or_added_are_reported(engine):
    ids = [
        audit.log_export(
            engine, audience="partner", kind="csv", filters={"area": "x"}, data=b"abc", filename=f"{i}.csv"
        )
        for i in range(3)
    ]
    assert audit.verify_chain(engine).ok
    log = store.export_log
    execute(engine, log.update().where(log.c.id == ids[0]).values(audience="police"))
    execute(engine, log.update().where(log.c.id == ids[1]).values(filters='{"area":"y"}'))
    execute(
        engine,
        log.insert().values(
            exported_at=datetime(2025, 1, 1),
            audience="partner",
            kind="csv",
            filters="{}",
            sha256="0" * 64,
            n_bytes=1,
        ),
    )
    execute(engine, log.delete().where(log.c.id == ids[2]))
    result = audit.verify_chain(engine)
    assert [f.kind for f in result.findings] == [
        "export_altered",
        "export_altered",
        "export_removed",
        "export_unaudited",
    ]
    assert "export log row 1 was changed" in result.reason


def test_an_unkeyed_chain_still_verifies_and_is_keyed_by_the_next_entry(engine):
    # A database written before the key existed: version-1 entries only, plus an account.
    prev = audit.GENESIS_HASH
    at = datetime(2025, 1, 1, 12)
    for i in (1, 2, 3):
        h = audit.entry_hash(prev, id=i, at=at, actor="a", event="sign_in", target=None, details="{}")
        execute(
            engine,
            audit.audit_log.insert().values(
                id=i, at=at, actor="a", event="sign_in", details="{}", prev_hash=prev, hash=h
            ),
        )
        prev = h
    execute(
        engine,
        auth.users.insert().values(
            username=ANALYST,
            role="analyst",
            is_admin=False,
            password_hash="h",
            disabled=False,
            created_at=at,
            failed_attempts=0,
        ),
    )
    before = audit.verify_chain(engine)
    assert before.ok and not before.keyed and before.n_entries == 3
    audit.record(engine, "export")
    frame = audit.load_audit(engine)
    assert frame["event"].tolist()[3:] == ["audit_keyed", "export"]
    assert json.loads(frame["details"].iloc[3]) == {"unkeyed_entries": 3, "unkeyed_head": prev}
    assert audit.verify_chain(engine).ok
    assert f"legacy 3 {prev}" in audit.anchor_path(engine).read_text()
    # The unkeyed part is protected from now on as well.
    execute(engine, audit.audit_log.update().where(audit.audit_log.c.id == 2).values(actor="b"))
    assert kinds(audit.verify_chain(engine)) == [("edited", 2)]
    execute(engine, auth.users.update().values(role="police"))
    assert ("account", 4) in kinds(audit.verify_chain(engine))


def test_concurrent_writers_keep_one_chain(tmp_path):
    url = f"sqlite:///{tmp_path / 'concurrent.sqlite'}"
    engines = [store.connect(url), store.connect(url)]  # separate pools, as two processes would have
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def write(k: int) -> None:
        try:
            start.wait()
            for i in range(200):
                audit.record(engines[k], "sign_in", actor=f"writer{k}@example.org", details={"i": i})
        except BaseException as exc:  # noqa: BLE001  (reported by the assertion below)
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    result = audit.verify_chain(engines[0])
    assert result.ok and result.n_entries == 400
    frame = audit.load_audit(engines[0])
    assert frame["hash"].is_unique and frame["prev_hash"].is_unique
    assert frame.groupby("actor").size().to_dict() == {"writer0@example.org": 200, "writer1@example.org": 200}
    # The anchor log got every entry once, in chain order, though two writers raced.
    lines = audit.anchor_path(engines[0]).read_text().splitlines()[1:]
    assert lines == [f"{i} {h}" for i, h in zip(frame["id"], frame["hash"], strict=True)]


def test_entry_in_a_rolled_back_transaction_is_not_kept(engine):
    _fill(engine, 2)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        audit.record(conn, "export", actor="analyst.one@example.org")
        raise RuntimeError("the action failed")
    assert audit.verify_chain(engine).n_entries == 2
    assert audit.record(engine, "export") == 3
    assert audit.verify_chain(engine).ok  # the rolled-back entry never reached the anchor log
    assert len(audit.anchor_path(engine).read_text().splitlines()) == 1 + 3


def test_record_validates_its_arguments(engine):
    with pytest.raises(ValueError, match="event must be one of .* got 'sign-in'"):
        audit.record(engine, "sign-in")
    with pytest.raises(ValueError, match="'password' key"):
        audit.record(engine, "user_added", details={"user": {"password": "x"}})
    with pytest.raises(ValueError, match="details must be a dict"):
        audit.record(engine, "export", details=["a"])
    with pytest.raises(ValueError, match="NaN"):
        audit.record(engine, "export", details={"x": float("nan")})
    with pytest.raises(ValueError, match="actor must be a string"):
        audit.record(engine, "export", actor=7)
    assert audit.verify_chain(engine).n_entries == 0


def test_load_audit_filters_by_event_and_time(engine):
    audit.record(engine, "sign_in", actor="a@example.org")
    audit.record(engine, "export", actor="a@example.org", details={"audience": "partner"})
    assert audit.load_audit(engine, event="export")["event"].tolist() == ["export"]
    now = datetime.now(UTC)
    assert len(audit.load_audit(engine, since=now - timedelta(minutes=5))) == 2
    assert audit.load_audit(engine, since=now + timedelta(minutes=5)).empty
    assert len(audit.load_audit(engine, since=now.date())) == 2
    with pytest.raises(ValueError, match="event must be one of"):
        audit.load_audit(engine, event="nope")


def test_export_neutralises_formula_cells(engine):
    audit.record(engine, "export", actor="=HYPERLINK(1)", target="+44 1234", details={"f": "@x"})
    audit.record(engine, "export", actor="-1", target="\tx")
    data = audit.export_audit_csv(engine)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert [r["actor"] for r in rows] == ["'=HYPERLINK(1)", "'-1"]
    assert [r["target"] for r in rows] == ["'+44 1234", "'\tx"]
    assert rows[0]["details"] == '{"f":"@x"}'  # starts with '{', left as it is
    assert rows[1]["hash"] == audit.verify_chain(engine).head_hash
    assert list(rows[0]) == [
        *("id", "at", "actor", "event", "target", "details", "prev_hash", "hash"),
        *("version", "content_sha256", "binding"),
    ]


def test_tables_are_created_by_connect(engine):
    names = set(sa.inspect(engine).get_table_names())
    assert {"audit_log", "audit_lock", "users"} <= names


def test_expected_head_hash_detects_a_truncated_or_rebuilt_log(engine):
    _fill(engine, 3)
    head = audit.verify_chain(engine).head_hash
    audit.record(engine, "export")
    assert audit.verify_chain(engine, expect_hash=head).ok  # the chain grew from the recorded head
    with engine.begin() as conn:
        conn.execute(audit.audit_log.delete().where(audit.audit_log.c.id >= 3))
    result = audit.verify_chain(engine, expect_hash=head)
    assert not result.ok and kinds(result) == [("truncated", 3), ("head", None)]
    assert "not in the chain" in result.findings[-1].message
    with pytest.raises(ValueError, match="expect_hash must be 64 lower-case hex characters, got 'abc'"):
        audit.verify_chain(engine, expect_hash="abc")


def test_entries_never_committed_leave_no_anchor_line(engine):
    _fill(engine, 1)
    conn = engine.connect()
    audit.record(conn, "export")  # never committed: closing the connection rolls it back
    conn.close()
    assert audit.record(engine, "export") == 2
    assert audit.verify_chain(engine).ok
    assert len(audit.anchor_path(engine).read_text().splitlines()) == 1 + 2
