"""The store on SQLite and PostgreSQL: connecting, imports and their quarantine, the data version, demo
removal; bulk inserts (COPY on PostgreSQL) keep every value exactly, and
both backends give the app the same analysis frame."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from factories import canonical_rows

from hoth_geo import store
from hoth_geo.intake import identity
from hoth_geo.schema import CONCERNS, keys_to_mask

# Text that a line-based bulk format must escape: separators, line breaks, its own NULL marker.
AWKWARD_TEXT = [
    "tab\there",
    "line one\nline two\r\nline three",
    "\\N",
    "back\\slash",
    "quote \" and 'single'",
    '=HYPERLINK("http://x")',
    "café – “smart quotes” 😀",
    "",
    ",;|",
]


@pytest.fixture()
def engine(db_url):
    engine = store.connect(db_url)
    yield engine
    engine.dispose()


def _located(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    rows = []
    for i in range(n):
        text = AWKWARD_TEXT[i % len(AWKWARD_TEXT)]
        rows.append(
            {
                "source_ref": f"S-{i}" if i % 3 else None,
                "observed_at": pd.Timestamp("2025-01-01 00:00:00.123456") + pd.Timedelta(hours=7 * i),
                "date_received": pd.NaT if i % 4 == 0 else pd.Timestamp("2025-02-01"),
                "time_known": bool(i % 2),
                "online": i % 5 == 0,
                "latitude": 54.7 + rng.random() / 10,
                "longitude": -1.6 + rng.random() / 10,
                "concerns": "cce|cse" if i % 2 else "missing",
                "indicators": "",
                "narrative": f"Synthetic narrative {i}: {text}",
                "place_name": text or None,
                "child_ref": None if i % 2 else f"SYN-{i}",
            }
        )
    frame = canonical_rows(rows)
    frame["geocode_method"] = "coordinates"
    frame["geocode_confidence"] = 1.0
    frame["precision_m"] = np.where(np.arange(n) % 6 == 0, np.nan, 10.0)
    frame["place_id"] = None
    frame["geocode_note"] = None
    frame["identity"] = identity.report_identities(
        frame["agency"], frame["source_ref"], "0" * 64, frame["row_number"]
    )
    frame["h3"] = [
        0 if online else h3.str_to_int(h3.latlng_to_cell(lat, lon, 11))
        for lat, lon, online in zip(frame["latitude"], frame["longitude"], frame["online"], strict=True)
    ]
    return frame


def test_bulk_insert_keeps_every_value_exactly(engine):
    located = _located(300)
    with engine.begin() as conn:
        import_id = store.insert_import(
            conn,
            filename="synthetic.csv",
            file_sha256="0" * 64,
            fmt="sharing_form",
            is_demo=False,
            imported_by=None,
        )
        assert store.insert_reports(conn, import_id, located, is_demo=False) == len(located)
    stored = store.report_details(engine, range(1, 1000)).sort_values("row_number").reset_index(drop=True)
    assert len(stored) == len(located)
    for column in (
        "source_ref",
        "narrative",
        "place_name",
        "child_ref",
        "concerns",
        "indicators",
        "fingerprint",
    ):
        expected = [None if pd.isna(v) else v for v in located[column]]
        got = [None if pd.isna(v) else v for v in stored[column]]
        assert got == expected, column
    assert "\\N" in "".join(stored["narrative"]), "the literal text \\N is text, not a missing value"
    assert (stored["indicators"] == "").all(), "empty text stays empty, not missing"
    pd.testing.assert_series_equal(
        pd.to_datetime(stored["observed_at"]), located["observed_at"], check_dtype=False, check_names=False
    )
    assert pd.to_datetime(stored["date_received"]).isna().sum() == located["date_received"].isna().sum()
    for column in ("time_known", "online", "is_demo"):
        expected = located[column] if column != "is_demo" else pd.Series(False, index=located.index)
        assert stored[column].astype(bool).tolist() == expected.tolist(), column
    np.testing.assert_array_equal(stored["h3"].astype("int64"), located["h3"])
    np.testing.assert_allclose(stored["latitude"], located["latitude"])
    assert stored["precision_m"].isna().sum() == located["precision_m"].isna().sum()
    np.testing.assert_array_equal(
        stored["concerns_mask"].astype("int64"), keys_to_mask(located["concerns"], CONCERNS)
    )


def test_a_failed_bulk_insert_leaves_nothing(engine):
    located = _located(50)
    located.loc[10, "identity"] = located.loc[3, "identity"]  # breaks the unique constraint
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        import_id = store.insert_import(
            conn,
            filename="bad.csv",
            file_sha256="1" * 64,
            fmt="sharing_form",
            is_demo=False,
            imported_by=None,
        )
        store.insert_reports(conn, import_id, located, is_demo=False)
    assert store.counts(engine)["reports"] == 0
    assert store.load_imports(engine).empty


def test_both_backends_give_the_same_analysis_frame(db_url, demo_store):
    """The demo set loaded on this backend reads back exactly as on the shared SQLite demo store."""
    from hoth_geo.intake import pipeline

    engine = store.connect(db_url)
    pipeline.load_demo_data(engine)
    mine = store.load_reports(engine).sort_values("id").reset_index(drop=True)
    reference = demo_store.reports.sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(mine, reference, check_categorical=False)
    assert store.counts(engine) == store.counts(demo_store.engine)
    engine.dispose()


# --- What a user of the store relies on: connect, imports, quarantine, the data version --------------------

FORM_ROW = {
    "Date observed": "14/06/2025",
    "Time observed": "21:15",
    "Reporting agency": "Youth Outreach (synthetic)",
    "Agency type": "vcs",
    "Concerns": "CCE",
    "Narrative": "Group of young people (synthetic) seen near a white van.",
}
LOCATED_ROW = dict(FORM_ROW, **{"Postcode": "DH1 1AB", "Source reference": "YO-1"})
NEEDS_LOCATION_ROW = dict(FORM_ROW, **{"Location": "behind the shops", "Source reference": "YO-2"})
BAD_DATE_ROW = dict(
    FORM_ROW, **{"Date observed": "31/02/2025", "Postcode": "DH1 1AB", "Source reference": "YO-3"}
)
DURHAM = (54.7761, -1.5733)


def _form(path, rows):
    from hoth_geo.schema import TEMPLATE_COLUMNS

    pd.DataFrame([{c: r.get(c, "") for c in TEMPLATE_COLUMNS} for r in rows]).to_csv(path, index=False)
    return path


def test_connect_gives_an_empty_current_database_and_reconnecting_keeps_the_data(db_url, tmp_path):
    from hoth_geo.intake import pipeline

    engine = store.connect(db_url)
    assert store.data_version(engine) == store.DataVersion(0, 0, 0, 0, 0)
    assert store.load_reports(engine).empty and store.load_imports(engine).empty
    pipeline.import_file(engine, _form(tmp_path / "one.csv", [LOCATED_ROW]))
    engine.dispose()
    again = store.connect(db_url)  # a second connect must not recreate or wipe anything
    assert len(store.load_reports(again)) == 1
    assert store.data_version(again).n_reports == 1
    again.dispose()


def test_an_import_is_recorded_and_every_row_is_stored_or_quarantined(db_url, tmp_path):
    from hoth_geo.intake import pipeline
    from hoth_geo.intake.import_stream import file_sha256

    engine = store.connect(db_url)
    path = _form(tmp_path / "outreach.csv", [LOCATED_ROW, NEEDS_LOCATION_ROW, BAD_DATE_ROW])
    before = store.data_version(engine).version
    summary = pipeline.import_file(engine, path, imported_by="analyst.one")
    assert summary.reconciles

    imported = store.load_imports(engine)
    assert len(imported) == 1
    row = imported.iloc[0]
    assert (row["filename"], row["imported_by"], int(row["n_read"])) == ("outreach.csv", "analyst.one", 3)
    assert int(row["n_accepted"]) + int(row["n_quarantined"]) == 3
    with engine.connect() as conn:
        assert store.file_already_imported(conn, file_sha256(path))
        assert not store.file_already_imported(conn, "0" * 64)

    reports = store.load_reports(engine)
    quarantined = store.load_quarantine(engine)
    assert len(reports) == int(row["n_accepted"]) == 1
    assert sorted(quarantined["row_number"]) == [3, 4]  # file lines: the header is line 1
    assert set(quarantined["filename"]) == {"outreach.csv"}
    bad_date = quarantined[quarantined["row_number"] == 4].iloc[0]
    assert "31/02/2025" in f"{bad_date['reason']} {bad_date['value']}"

    version = store.data_version(engine)
    assert version.version > before
    assert store.counts(engine) == {
        "reports": 1,
        "demo_reports": 0,
        "police_context": 0,
        "quarantine_open": 2,
    }
    with engine.connect() as conn:
        assert store.scan_counts(conn) == {
            "n_reports": version.n_reports,
            "n_demo_reports": version.n_demo_reports,
            "n_context": version.n_context,
            "n_quarantine_open": version.n_quarantine_open,
        }
    engine.dispose()


def test_a_located_quarantine_row_becomes_a_report_once(db_url, tmp_path):
    from hoth_geo.intake import pipeline, review

    engine = store.connect(db_url)
    pipeline.import_file(engine, _form(tmp_path / "outreach.csv", [NEEDS_LOCATION_ROW]))
    entry = store.load_quarantine(engine).iloc[0]
    qid = int(entry["id"])
    payload, import_id = store.quarantine_payload(engine, qid)
    assert payload and import_id == int(entry["import_id"])
    before = store.data_version(engine)

    report_id = review.resolve_with_location(engine, qid, *DURHAM, actor="analyst.one")

    after = store.data_version(engine)
    assert after.version > before.version
    assert (after.n_reports, after.n_quarantine_open) == (before.n_reports + 1, before.n_quarantine_open - 1)
    assert store.load_quarantine(engine).empty  # no longer open
    resolved = store.load_quarantine(engine, status=None).set_index("id").loc[qid]
    assert (resolved["status"], int(resolved["resolved_report_id"]), resolved["resolved_by"]) == (
        "resolved",
        report_id,
        "analyst.one",
    )
    assert store.load_reports(engine)["id"].tolist() == [report_id]
    with pytest.raises(ValueError, match="already resolved"):
        store.quarantine_payload(engine, qid)
    with pytest.raises(KeyError, match="quarantine entry 999999 not found"):
        store.quarantine_payload(engine, 999_999)
    engine.dispose()


def test_a_write_that_rolls_back_leaves_the_data_version_alone(db_url):
    engine = store.connect(db_url)
    before = store.data_version(engine)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        store.bump_data_version(conn, reports=5)
        assert store.data_version(conn).n_reports == before.n_reports + 5  # seen inside the transaction
        raise RuntimeError("the import failed half way")
    assert store.data_version(engine) == before
    with engine.begin() as conn:
        store.bump_data_version(conn, reports=5)  # a wrong count ...
        store.recount_data_version(conn)  # ... is put right from the tables
    now = store.data_version(engine)
    assert now.version == before.version + 2 and now.n_reports == 0
    engine.dispose()


def test_removing_the_demo_keeps_partner_reports(db_url, tmp_path):
    from hoth_geo.intake import pipeline

    engine = store.connect(db_url)
    pipeline.load_demo_data(engine)
    demo_reports = store.counts(engine)["demo_reports"]
    assert demo_reports > 1000
    pipeline.import_file(engine, _form(tmp_path / "real.csv", [LOCATED_ROW]))
    removed = pipeline.delete_demo(engine, actor="admin.one")
    assert removed == demo_reports
    kept = store.load_reports(engine)
    assert len(kept) == 1
    assert store.counts(engine) == {
        "reports": 1,
        "demo_reports": 0,
        "police_context": 0,
        "quarantine_open": len(store.load_quarantine(engine)),
    }
    engine.dispose()


def _school_form(path, refs: range, agency: str, **values):
    from forms import templated, write_form

    rows = [dict(templated(f"{agency[:3]}-{i}"), **{"Reporting agency": agency, **values}) for i in refs]
    return write_form(path, rows)


def test_after_an_import_only_the_new_reports_are_read_into_the_frame(db_url, tmp_path, monkeypatch):
    """An app process brings its frame up to date after an import by reading the new reports alone,
    and gets exactly the frame a whole read gives (new agencies sorted into the categories)."""
    from hoth_geo.intake import pipeline

    engine = store.connect(db_url)
    # The first file gives no place type: that column's labels are first seen in the second file.
    first = _school_form(tmp_path / "a.csv", range(30), "Moorfield School (synthetic)", **{"Place type": ""})
    pipeline.import_file(engine, first)
    frame, read_at = store.refresh_reports(engine)
    assert len(frame) == 30 and read_at == store.data_version(engine)
    assert frame["place_type"].isna().all()
    assert store.refresh_reports(engine, frame, read_at)[0] is frame, "nothing new: the same frame"

    pipeline.import_file(engine, _school_form(tmp_path / "b.csv", range(12), "Ashgrove Academy (synthetic)"))
    whole = store.load_reports(engine)

    def no_whole_read(_engine):
        raise AssertionError("the whole frame was read again after an import")

    monkeypatch.setattr(store, "load_reports", no_whole_read)
    refreshed, refreshed_at = store.refresh_reports(engine, frame, read_at)
    pd.testing.assert_frame_equal(refreshed, whole, check_exact=True, check_categorical=True)
    assert list(refreshed["agency"].cat.categories) == sorted(whole["agency"].unique())
    assert refreshed_at == store.data_version(engine) and refreshed_at.rewrites == read_at.rewrites
    engine.dispose()


def test_a_change_to_stored_reports_reads_the_whole_frame(db_url, tmp_path):
    """A Review merge changes a stored report: the frame is read whole, so the merged report is gone."""
    from hoth_geo.intake import pipeline

    engine = store.connect(db_url)
    pipeline.import_file(engine, _school_form(tmp_path / "a.csv", range(20), "Moorfield School (synthetic)"))
    frame, read_at = store.refresh_reports(engine)
    first, gone = int(frame["id"].iloc[0]), int(frame["id"].iloc[5])
    with engine.begin() as conn:  # as identity.merge does
        conn.execute(store.reports.update().where(store.reports.c.id == gone).values(merged_into=first))
        store.bump_data_version(conn, reports=-1)
    refreshed, refreshed_at = store.refresh_reports(engine, frame, read_at)
    assert refreshed_at.rewrites == read_at.rewrites + 1
    assert len(refreshed) == 19 and gone not in set(refreshed["id"])
    engine.dispose()


def test_reports_committed_with_ids_below_the_frames_last_are_not_missed(db_url, tmp_path):
    """On PostgreSQL two imports can commit in the other order than their ids: reports with ids below
    the frame's last id then appear after it was read. The count tells, and the frame is read whole."""
    from hoth_geo.intake import pipeline

    engine = store.connect(db_url)
    pipeline.import_file(engine, _school_form(tmp_path / "a.csv", range(10), "Moorfield School (synthetic)"))
    with engine.begin() as conn:  # make room below the next ids, as a slower import would hold them
        low = conn.execute(sa.select(sa.func.min(store.reports.c.id))).scalar_one()
        rows = [dict(r._mapping) for r in conn.execute(sa.select(store.reports).order_by(store.reports.c.id))]
        conn.execute(store.reports.update().values(id=store.reports.c.id + 1_000))
    frame, read_at = store.refresh_reports(engine)
    with engine.begin() as conn:  # the slower import commits last, with the lower ids
        late = [
            dict(r, id=low + i, identity=f"late:{i}", fingerprint=f"{i:040x}") for i, r in enumerate(rows[:3])
        ]
        conn.execute(store.reports.insert(), late)
        store.bump_data_version(conn, reports=3, appended_only=True)
    refreshed, _ = store.refresh_reports(engine, frame, read_at)
    assert len(refreshed) == 13 and {low, low + 1, low + 2} <= set(refreshed["id"])
    pd.testing.assert_frame_equal(refreshed, store.load_reports(engine))
    engine.dispose()
