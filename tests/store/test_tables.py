"""The tables (hoth_geo.store.tables), created on SQLite and PostgreSQL: every canonical column has a
home in ``reports``, a new database starts at data version 0, and the uniqueness the import and the
accounts rely on is enforced by the database itself."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from hoth_geo import schema, store
from hoth_geo.store import tables


@pytest.fixture()
def engine(db_url):
    engine = store.connect(db_url)
    yield engine
    engine.dispose()


def test_every_table_is_created_and_every_canonical_column_is_stored(engine):
    names = set(sa.inspect(engine).get_table_names())
    assert {t.name for t in tables.metadata.sorted_tables} <= names
    assert {getattr(tables, name).name for name in tables.__all__ if name != "metadata"} == set(
        tables.metadata.tables
    )
    stored = set(tables.reports.c.keys())
    # Row numbers, fingerprints and text are stored as given; masks and cells replace the raw keys and points.
    assert set(schema.CANONICAL_COLUMNS) - {"concerns", "indicators"} <= stored
    assert {"concerns", "indicators", "concerns_mask", "h3", "identity", "merged_into"} <= stored


def test_a_new_database_starts_at_data_version_zero_with_nothing_counted(engine):
    with engine.connect() as conn:
        row = conn.execute(sa.select(tables.data_version_table)).mappings().one()
    assert row["id"] == 1 and row["version"] == 0
    assert (row["n_reports"], row["n_demo_reports"], row["n_context"], row["n_quarantine_open"]) == (
        0,
        0,
        0,
        0,
    )


def _an_import(conn) -> int:
    return conn.execute(
        tables.imports.insert().values(
            filename="weekly.csv",
            file_sha256="0" * 64,
            format="sharing_form",
            imported_at=datetime(2025, 6, 1, 9, 0),
            n_read=2,
            n_accepted=2,
            n_quarantined=0,
            n_duplicates=0,
        )
    ).inserted_primary_key[0]


def _a_report(import_id: int, identity: str) -> dict:
    return {
        "import_id": import_id,
        "row_number": 2,
        "fingerprint": "f" * 40,
        "identity": identity,
        "observed_at": datetime(2025, 5, 30, 21, 30),
        "time_known": True,
        "date_approximate": False,
        "online": False,
        "h3": 0,
        "concerns_mask": 0,
        "indicators_mask": 0,
        "is_demo": False,
        "agency": "Synthetic Youth Service",
        "source_ref": "SYN-1",
    }


def test_one_stored_report_per_identity_is_enforced_by_the_database(engine):
    with engine.begin() as conn:
        import_id = _an_import(conn)
        conn.execute(tables.reports.insert().values(**_a_report(import_id, "a" * 64)))
        # The same content under another identity is a second report (a possible duplicate, not refused).
        conn.execute(tables.reports.insert().values(**_a_report(import_id, "b" * 64)))
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(tables.reports.insert().values(**_a_report(import_id, "a" * 64)))
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.reports)).scalar() == 2


def test_a_report_must_belong_to_an_import_and_an_account_name_is_unique(engine):
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(tables.reports.insert().values(**_a_report(None, "c" * 64)))
    user = {
        "username": "analyst.one@example.org",
        "password_hash": "$argon2id$synthetic",
        "role": "analyst",
        "created_at": datetime(2025, 6, 1, 9, 0),
    }
    with engine.begin() as conn:
        conn.execute(tables.users.insert().values(**user))
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(tables.users.insert().values(**user, display_name="Another person"))
