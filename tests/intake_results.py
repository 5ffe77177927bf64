"""Checks shared by the tests of the reading and normalising steps (files, headers, parsers, sharing_form,
policeuk, ingest): the synthetic fixture files in tests/data and what every IngestResult must satisfy."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from hoth_geo import schema
from hoth_geo.intake.ingest import ingest
from hoth_geo.intake.parsers import IngestResult

DATA = Path(__file__).resolve().parent / "data"
REPO = Path(__file__).resolve().parents[1]
TODAY = date(2025, 6, 30)


def run(name: str, **kw) -> IngestResult:
    """The fixture file ``tests/data/<name>`` read and normalised as of ``TODAY``."""
    return ingest(DATA / name, today=TODAY, **kw)


def assert_reconciles(result: IngestResult) -> None:
    """Every input row ends in exactly one of rows / quarantine."""
    assert result.n_read == len(result.rows) + len(result.quarantine)
    numbers = list(result.rows["row_number"]) + list(result.quarantine["row_number"])
    assert len(numbers) == len(set(numbers)), "a row number appears twice"
    assert list(result.quarantine.columns) == list(schema.QUARANTINE_COLUMNS)


def assert_canonical(rows: pd.DataFrame) -> None:
    """Canonical columns and dtypes, vocabulary keys only, sorted multi-keys and a content fingerprint."""
    assert list(rows.columns) == list(schema.CANONICAL_COLUMNS)
    for col, dtype in schema.CANONICAL_COLUMNS.items():
        assert str(rows[col].dtype) == dtype, f"{col}: {rows[col].dtype} != {dtype}"
    assert rows["place_type"].dropna().isin(list(schema.PLACE_TYPES)).all()
    assert rows["agency_type"].isin(list(schema.AGENCY_TYPES)).all()
    for col, vocab in (("concerns", schema.CONCERNS), ("indicators", schema.INDICATORS)):
        for value in rows[col]:
            keys = schema.split_keys(value)
            assert keys == sorted(keys) and set(keys) <= set(vocab), value
    assert rows["fingerprint"].str.fullmatch(r"[0-9a-f]{40}").all()
