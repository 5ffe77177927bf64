"""The store on SQLite and PostgreSQL: bulk inserts (COPY on PostgreSQL) keep every value exactly, and
both backends give the app the same analysis frame."""

from __future__ import annotations

import h3
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from factories import canonical_rows

from hoth_geo import identity, store
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
    from hoth_geo import pipeline

    engine = store.connect(db_url)
    pipeline.load_demo_data(engine)
    mine = store.load_reports(engine).sort_values("id").reset_index(drop=True)
    reference = demo_store.reports.sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(mine, reference, check_categorical=False)
    assert store.counts(engine) == store.counts(demo_store.engine)
    engine.dispose()
