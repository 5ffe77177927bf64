"""Retention: parsing periods, purging old reports and what derives from them, the `purge` command."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
import typer
from hostile import corpus
from typer.testing import CliRunner

from hoth_geo import settings, store
from hoth_geo.access import audit, auth
from hoth_geo.cli import admin as cli_admin
from hoth_geo.intake import pipeline, retention
from hoth_geo.intake.gazetteer import load_gazetteer

runner = CliRunner()
cli = typer.Typer()
cli_admin.register(cli)

TODAY = date(2025, 6, 15)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("24m", date(2023, 6, 15)),
        ("2y", date(2023, 6, 15)),
        ("730d", date(2023, 6, 16)),
        (" 6Y ", date(2019, 6, 15)),
        ("2024-01-01", date(2024, 1, 1)),
    ],
)
def test_parse_older_than(value, expected):
    assert retention.parse_older_than(value, TODAY) == expected


def test_parse_older_than_clamps_month_ends():
    assert retention.parse_older_than("1m", date(2025, 3, 31)) == date(2025, 2, 28)
    assert retention.parse_older_than("1y", date(2024, 2, 29)) == date(2023, 2, 28)


@pytest.mark.parametrize("value", ["", "24", "0m", "2w", "2025-13-01", "2026-01-01", "-3m"])
def test_parse_older_than_rejects_by_name(value):
    with pytest.raises(ValueError, match=rf"older_than.*{value!r}".replace("(", r"\(")):
        retention.parse_older_than(value, TODAY)


def test_retention_period_from_environment(monkeypatch):
    monkeypatch.delenv(retention.RETENTION_ENV, raising=False)
    assert retention.retention_period() == "6y"
    assert retention.default_cutoff(TODAY) == date(2019, 6, 15)
    monkeypatch.setenv(retention.RETENTION_ENV, "24m")
    assert retention.default_cutoff(TODAY) == date(2023, 6, 15)
    monkeypatch.setenv(retention.RETENTION_ENV, "forever")
    with pytest.raises(ValueError, match="HOTH_GEO_RETENTION .* got 'forever'"):
        retention.retention_period()


# --- A small database with old and new rows ----------------------------------------------------------------


def _seed(engine) -> dict[str, int]:
    """Two imports (2018 and 2024), reports either side of 2020-01-01, and derived rows."""
    ids: dict[str, int] = {}
    with engine.begin() as conn:
        for key, when in (("old_import", datetime(2018, 5, 1)), ("new_import", datetime(2024, 5, 1))):
            ids[key] = conn.execute(
                store.imports.insert().values(
                    filename=f"{key}.csv",
                    file_sha256=key.ljust(64, "0"),
                    format="sharing_form",
                    imported_at=when,
                    n_read=0,
                    n_accepted=0,
                    n_quarantined=0,
                    n_duplicates=0,
                    is_demo=False,
                )
            ).inserted_primary_key[0]
        for key, observed, imp in (
            ("old_report", datetime(2018, 4, 30, 22, 0), "old_import"),
            ("edge_report", datetime(2019, 12, 31, 23, 59), "old_import"),
            ("kept_report", datetime(2020, 1, 1, 0, 0), "old_import"),
            ("new_report", datetime(2024, 4, 1, 12, 0), "new_import"),
        ):
            ids[key] = conn.execute(
                store.reports.insert().values(
                    import_id=ids[imp],
                    row_number=2,
                    fingerprint=key.ljust(40, "0"),
                    observed_at=observed,
                    time_known=True,
                    date_approximate=False,
                    online=False,
                    h3=0,
                    concerns_mask=1,
                    indicators_mask=0,
                    is_demo=False,
                    narrative="Synthetic test narrative.",
                )
            ).inserted_primary_key[0]
        for key, imp, status, report in (
            ("q_resolved_old", "old_import", "resolved", "old_report"),
            ("q_resolved_kept", "old_import", "resolved", "kept_report"),
            ("q_open_old", "old_import", "open", None),
            ("q_open_new", "new_import", "open", None),
        ):
            ids[key] = conn.execute(
                store.quarantine.insert().values(
                    import_id=ids[imp],
                    row_number=3,
                    reason="needs a location",
                    status=status,
                    resolved_report_id=ids[report] if report else None,
                )
            ).inserted_primary_key[0]
        for key, month in (("ctx_dec", datetime(2019, 12, 1)), ("ctx_jan", datetime(2020, 1, 1))):
            ids[key] = conn.execute(
                store.police_context.insert().values(
                    import_id=ids["new_import"],
                    row_number=2,
                    fingerprint=key.ljust(64, "0"),
                    month=month,
                    crime_type="Other crime",
                    concern="other",
                    latitude=54.77,
                    longitude=-1.57,
                    h3=0,
                )
            ).inserted_primary_key[0]
        for key, start, end in (
            ("d_ended", date(2019, 1, 1), date(2019, 6, 30)),
            ("d_ends_after", date(2019, 1, 1), date(2020, 2, 1)),
            ("d_ongoing", date(2018, 1, 1), None),
        ):
            ids[key] = conn.execute(
                store.disruptions.insert().values(
                    tactic="police_presence",
                    h3=0,
                    res=8,
                    start_date=start,
                    end_date=end,
                    recorded_at=datetime(2019, 1, 1),
                )
            ).inserted_primary_key[0]
    return ids


def _ids(engine, table) -> set[int]:
    with engine.connect() as conn:
        return set(conn.execute(sa.select(table.c.id)).scalars())


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'retention.sqlite'}"


@pytest.fixture
def seeded(url):
    engine = store.connect(url)
    return engine, _seed(engine)


def test_purge_deletes_old_rows_and_keeps_newer(seeded):
    engine, ids = seeded
    cutoff = date(2020, 1, 1)
    preview = retention.preview_purge(engine, cutoff)
    assert preview == {
        "quarantine": 2,
        "resubmissions": 0,
        "duplicate_flags": 0,
        "reports": 2,
        "police_context": 1,
        "disruptions": 1,
    }
    done = retention.purge_older_than(engine, cutoff, actor="police.one@example.org")
    redacted = {"audit_entries": 0, "export_log_rows": 0}
    assert done == {"cutoff": "2020-01-01", **preview, **redacted, "scrubbed": True}

    assert _ids(engine, store.reports) == {ids["kept_report"], ids["new_report"]}
    assert _ids(engine, store.quarantine) == {ids["q_resolved_kept"], ids["q_open_new"]}
    assert _ids(engine, store.police_context) == {ids["ctx_jan"]}
    assert _ids(engine, store.disruptions) == {ids["d_ends_after"], ids["d_ongoing"]}
    assert _ids(engine, store.imports) == {ids["old_import"], ids["new_import"]}  # provenance kept

    purges = audit.load_audit(engine, event="purge")
    assert purges["actor"].tolist() == ["police.one@example.org"]
    assert json.loads(purges["details"].iloc[0]) == {
        "cutoff": "2020-01-01",
        "deleted": preview,
        "redacted": redacted,
        "audit_redacted_before": "2020-01-01T00:00:00",
    }
    assert audit.verify_chain(engine).ok
    # A second run finds nothing more.
    assert not any(retention.preview_purge(engine, cutoff).values())


def test_purge_is_all_or_nothing(seeded, monkeypatch):
    engine, ids = seeded

    def failing_record(*_args, **_kwargs):
        raise RuntimeError("audit unavailable")

    monkeypatch.setattr(audit, "record", failing_record)
    with pytest.raises(RuntimeError, match="audit unavailable"):
        retention.purge_older_than(engine, date(2020, 1, 1), actor="police.one@example.org")
    assert len(_ids(engine, store.reports)) == 4 and len(_ids(engine, store.quarantine)) == 4


def test_purge_validates_the_cutoff(seeded):
    engine, _ = seeded
    with pytest.raises(ValueError, match="cutoff must not be after today"):
        retention.purge_older_than(engine, date(2999, 1, 1), actor="x@example.org")
    with pytest.raises(ValueError, match="cutoff must be a date"):
        retention.purge_older_than(engine, datetime(2020, 1, 1), actor="x@example.org")


def test_cli_purge_asks_then_deletes_and_is_audited(seeded, url):
    engine, ids = seeded
    declined = runner.invoke(cli, ["purge", "--older-than", "2020-01-01", "--db", url], input="n\n")
    assert declined.exit_code == 1 and "2 reports" in declined.output and "nothing deleted" in declined.output
    assert len(_ids(engine, store.reports)) == 4

    done = runner.invoke(cli, ["purge", "--older-than", "2020-01-01", "--db", url], input="y\n")
    assert done.exit_code == 0, done.output
    assert (
        "deleted: 2 quarantine, 0 resubmissions, 0 duplicate_flags, 2 reports, 1 police_context, 1 disruptions"
        in done.output
    )
    assert _ids(engine, store.reports) == {ids["kept_report"], ids["new_report"]}
    assert audit.load_audit(engine, event="purge")["actor"].iloc[0].startswith("cli")

    # A period relative to today, chosen so the cutoff falls in March 2024: between the two reports left.
    months = (date.today().year - 2024) * 12 + date.today().month - 3
    again = runner.invoke(cli, ["purge", "--older-than", f"{months}m", "--yes", "--db", url])
    assert again.exit_code == 0, again.output
    assert (
        "deleted: 1 quarantine, 0 resubmissions, 0 duplicate_flags, 1 reports, 1 police_context, 1 disruptions"
        in again.output
    )
    assert _ids(engine, store.reports) == {ids["new_report"]}
    assert _ids(engine, store.disruptions) == {ids["d_ongoing"]}
    nothing = runner.invoke(cli, ["purge", "--older-than", f"{months}m", "--yes", "--db", url])
    assert nothing.exit_code == 0 and "nothing to delete" in nothing.output
    assert len(audit.load_audit(engine, event="purge")) == 2  # an empty run deletes and records nothing

    verified = runner.invoke(cli, ["audit", "verify", "--db", url])
    assert verified.exit_code == 0


# --- quarantine by the date observed, redaction, and nothing left in the files ------------------------------


@pytest.fixture(autouse=True)
def key_file(tmp_path, monkeypatch):
    monkeypatch.delenv(settings.AUDIT_KEY_ENV, raising=False)
    monkeypatch.delenv(settings.AUDIT_ANCHOR_ENV, raising=False)
    monkeypatch.setenv(settings.AUDIT_KEY_FILE_ENV, str(tmp_path / "audit.key"))


def _quarantine_row(conn, import_id: int, raw: dict | None = None, payload: dict | None = None) -> int:
    return conn.execute(
        store.quarantine.insert().values(
            import_id=import_id,
            row_number=9,
            reason="row 9: needs a location",
            raw=json.dumps(raw) if raw is not None else None,
            payload=json.dumps(payload) if payload is not None else None,
            status="open",
        )
    ).inserted_primary_key[0]


def test_open_quarantine_goes_by_the_date_its_row_was_observed_not_the_import_date(seeded):
    engine, ids = seeded
    with engine.begin() as conn:
        # Imported in 2024 but observed in 2018: purged (it used to survive, narrative and all).
        q_old_in_new = _quarantine_row(
            conn, ids["new_import"], raw={"Date observed": "03/04/2018", "Narrative": "Synthetic old text"}
        )
        # The normalised payload's date wins over the raw text.
        q_payload = _quarantine_row(
            conn,
            ids["new_import"],
            raw={"Date observed": "not a date"},
            payload={"observed_at": "2019-02-01T10:00:00"},
        )
        # Imported in 2018 but observed in 2024: kept.
        q_new_in_old = _quarantine_row(conn, ids["old_import"], raw={"Date observed": "2024-03-01"})
        # A police.uk row: its month is its date.
        q_month = _quarantine_row(conn, ids["new_import"], raw={"Crime ID": "", "Month": "2019-11"})
        # No date observed: the date received stands in.
        q_received = _quarantine_row(conn, ids["new_import"], raw={"Date received": "01/12/2019"})
        # Nothing readable: the import date decides.
        q_undated_new = _quarantine_row(conn, ids["new_import"], raw={"Narrative": "no dates"})
    cutoff = date(2020, 1, 1)
    assert retention.preview_purge(engine, cutoff)["quarantine"] == 2 + 4
    retention.purge_older_than(engine, cutoff, actor="police.one@example.org")
    assert _ids(engine, store.quarantine) == {
        ids["q_resolved_kept"],
        ids["q_open_new"],
        q_new_in_old,
        q_undated_new,
    }
    assert not {q_old_in_new, q_payload, q_month, q_received} & _ids(engine, store.quarantine)


def test_a_row_set_aside_goes_by_its_date_like_an_open_one(seeded):
    """Setting a row aside keeps it (with its narrative) until it is as old as an open row would be
    purged at: then it goes, and one observed after the cutoff stays set aside."""
    from hoth_geo.intake import review

    engine, ids = seeded
    with engine.begin() as conn:
        old = _quarantine_row(conn, ids["new_import"], raw={"Date observed": "03/04/2018", "Narrative": "x"})
        new = _quarantine_row(conn, ids["new_import"], raw={"Date observed": "2024-03-01", "Narrative": "y"})
    for qid in (old, new):
        review.set_aside(engine, qid, why="sent in error (synthetic)", actor="analyst.one")
    retention.purge_older_than(engine, date(2020, 1, 1), actor="police.one@example.org")
    left = _ids(engine, store.quarantine)
    assert old not in left and new in left
    assert review.set_aside_rows(engine)["id"].tolist() == [new]


class _In2019(datetime):
    @classmethod
    def now(cls, tz=None):
        return datetime(2019, 3, 1, 9, 30, tzinfo=tz)


def test_old_audit_and_export_log_details_are_redacted_and_the_chain_still_verifies(seeded, monkeypatch):
    engine, _ = seeded
    with monkeypatch.context() as m:
        m.setattr(audit, "datetime", _In2019)
        m.setattr(store, "datetime", _In2019)
        auth.add_user(engine, "analyst.one@example.org", "correct horse battery", "analyst")
        audit.record(
            engine,
            "report_viewed",
            actor="analyst.one@example.org",
            target="hex:88194ad",
            details={"report_ids": [7, 8]},
        )
        audit.log_export(
            engine,
            audience="police",
            kind="csv",
            filters={"text": "Synthetic Street"},
            data=b"x",
            exported_by="a",
        )
    recent = audit.record(
        engine, "report_viewed", actor="analyst.one@example.org", target="hex:1", details={"report_ids": [9]}
    )
    audit.log_export(engine, audience="police", kind="csv", filters={"text": "kept"}, data=b"y")

    done = retention.purge_older_than(engine, date(2020, 1, 1), actor="police.one@example.org")
    assert (done["audit_entries"], done["export_log_rows"]) == (2, 1)  # the view and the export entry
    log = audit.load_audit(engine).set_index("id")
    old_view = log[log["event"] == "report_viewed"].iloc[0]
    assert old_view["details"] == audit.REDACTED_DETAILS and old_view["target"] != old_view["target"]  # NaN
    assert json.loads(log.loc[recent, "details"]) == {"report_ids": [9]}
    assert json.loads(log[log["event"] == "user_added"]["details"].iloc[0]) == {"role": "analyst"}
    filters = store.load_export_log(engine)["filters"].tolist()
    assert filters == [audit.REDACTED_DETAILS, '{"text": "kept"}']
    assert audit.verify_chain(engine).ok

    # Redacting a recent entry by hand is not a purge: reported.
    with engine.begin() as conn:
        conn.execute(
            audit.audit_log.update()
            .where(audit.audit_log.c.id == recent)
            .values(target=None, details=audit.REDACTED_DETAILS)
        )
        conn.execute(
            store.export_log.update().where(store.export_log.c.id == 2).values(filters=audit.REDACTED_DETAILS)
        )
    assert [(f.kind, f.entry_id) for f in audit.verify_chain(engine).findings] == [
        ("redaction", recent),
        ("export_altered", recent + 1),
    ]


def _database_files(url: str) -> list[Path]:
    db = Path(url.removeprefix("sqlite:///"))
    return [p for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()]


def _found_in_files(url: str, text: str) -> list[str]:
    needle = text.encode("utf-8")
    return [p.name for p in _database_files(url) if needle in p.read_bytes()]


def test_purged_narratives_are_gone_from_the_database_files(url):
    engine = store.connect(url)
    rows = [
        corpus.base_row(1, **{"Date observed": "03/04/2018", "Narrative": "PURGE-ME report narrative"}),
        # Quarantined (no usable location) in the same file, observed in 2018 as well.
        corpus.base_row(
            2,
            **{
                "Date observed": "04/04/2018",
                "Latitude": "",
                "Longitude": "",
                "Location": "",
                "Narrative": "PURGE-ME quarantined narrative",
                "Child reference": "PURGE-ME-CHILD",
            },
        ),
        corpus.base_row(3, **{"Date observed": "05/04/2024", "Narrative": "KEEP-ME narrative"}),
    ]
    summary = pipeline.import_file(
        engine, corpus.csv_text(rows).encode(), "mixed.csv", gazetteer=load_gazetteer(), today=TODAY
    )
    assert (summary.n_accepted, summary.n_quarantined) == (2, 1)
    for text in ("PURGE-ME report narrative", "PURGE-ME quarantined narrative", "PURGE-ME-CHILD"):
        assert _found_in_files(url, text), f"{text!r} should be on disk before the purge"

    done = retention.purge_older_than(engine, date(2020, 1, 1), actor="police.one@example.org")
    assert (done["reports"], done["quarantine"], done["scrubbed"]) == (1, 1, True)
    for text in ("PURGE-ME report narrative", "PURGE-ME quarantined narrative", "PURGE-ME-CHILD"):
        assert _found_in_files(url, text) == [], f"{text!r} is still in the database files"
    assert _found_in_files(url, "KEEP-ME narrative")
    wal = Path(url.removeprefix("sqlite:///") + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    assert audit.verify_chain(engine).ok


def test_many_old_quarantine_entries_are_deleted_in_chunks(seeded, monkeypatch):
    engine, ids = seeded
    monkeypatch.setattr(retention, "_ID_CHUNK", 3)
    with engine.begin() as conn:
        extra = [
            _quarantine_row(conn, ids["new_import"], raw={"Date observed": f"0{d}/01/2019"})
            for d in range(1, 8)
        ]
    assert retention.preview_purge(engine, date(2020, 1, 1))["quarantine"] == 2 + 7
    done = retention.purge_older_than(engine, date(2020, 1, 1), actor="police.one@example.org")
    assert done["quarantine"] == 9 and not set(extra) & _ids(engine, store.quarantine)
