"""Retention: parsing periods, purging old reports and what derives from them, the `purge` command."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest
import sqlalchemy as sa
import typer
from typer.testing import CliRunner

from hoth_geo import audit, cli_admin, retention, store

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
    assert done == {"cutoff": "2020-01-01", **preview}

    assert _ids(engine, store.reports) == {ids["kept_report"], ids["new_report"]}
    assert _ids(engine, store.quarantine) == {ids["q_resolved_kept"], ids["q_open_new"]}
    assert _ids(engine, store.police_context) == {ids["ctx_jan"]}
    assert _ids(engine, store.disruptions) == {ids["d_ends_after"], ids["d_ongoing"]}
    assert _ids(engine, store.imports) == {ids["old_import"], ids["new_import"]}  # provenance kept

    purges = audit.load_audit(engine, event="purge")
    assert purges["actor"].tolist() == ["police.one@example.org"]
    assert json.loads(purges["details"].iloc[0]) == {"cutoff": "2020-01-01", "deleted": preview}
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


def test_cli_purge_rejects_a_bad_period(url):
    result = runner.invoke(cli, ["purge", "--older-than", "soon", "--yes", "--db", url])
    assert result.exit_code == 2 and "--older-than" in result.output and "'soon'" in result.output
