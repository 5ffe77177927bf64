"""The canonical vocabularies and columns (hoth_geo.schema), and the documents that describe them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from intake_results import REPO

from hoth_geo import schema


def test_data_dictionary_covers_every_column_and_taxonomy_key():
    text = (REPO / "docs" / "data-dictionary.md").read_text(encoding="utf-8")
    for column in schema.TEMPLATE_COLUMNS:
        assert f"`{column}`" in text, column
    for vocab in (schema.PLACE_TYPES, schema.CONCERNS, schema.INDICATORS, schema.AGENCY_TYPES):
        for key in vocab:
            assert f"`{key}`" in text, key
    for crime_type in (
        "Anti-social behaviour",
        "Drugs",
        "Possession of weapons",
        "Violence and sexual offences",
    ):
        assert crime_type in text


def test_multi_keys_become_bit_masks_that_a_selection_mask_can_test():
    masks = schema.keys_to_mask(["cce|cse", "", None, "missing", "cse|unknown_key"], schema.CONCERNS)
    cse = schema.selection_mask(["cse"], schema.CONCERNS)
    assert ((masks & cse) != 0).tolist() == [True, False, False, False, True]
    assert masks.dtype == np.int64
    assert schema.selection_mask([], schema.CONCERNS) == 0
    with pytest.raises(ValueError, match="unknown key 'grooming'"):
        schema.selection_mask(["grooming"], schema.CONCERNS)


def test_key_counts_count_each_groups_reports_per_key_as_the_stored_keys_say():
    import numpy as np

    rng = np.random.default_rng(5)
    keys = list(schema.INDICATORS)
    stored = ["|".join(rng.choice(keys, size=rng.integers(0, 4), replace=False)) for _ in range(2_000)]
    groups = rng.integers(0, 7, len(stored))
    counts = schema.key_counts(groups, schema.keys_to_mask(stored, keys), 7, keys)
    expected = np.zeros((7, len(keys)), dtype=np.int64)
    for g, text in zip(groups, stored, strict=True):
        for key in schema.split_keys(text):
            expected[g, keys.index(key)] += 1
    assert (counts == expected).all() and counts.dtype == np.int64
    assert (schema.key_totals(schema.keys_to_mask(stored, keys), keys) == expected.sum(axis=0)).all()
    assert schema.key_totals(np.array([], dtype=np.int64), keys).tolist() == [0] * len(keys)


def test_split_keys_reads_the_stored_form():
    assert schema.split_keys("cce|cse") == ["cce", "cse"]
    assert schema.split_keys("") == [] and schema.split_keys(None) == []


def test_police_uk_landmarks_are_matched_whatever_their_case_or_spacing(shared_data):
    street = pd.read_csv(shared_data / "policeuk_durham" / "2018-10-durham-street.csv", usecols=["Location"])
    place = street["Location"].str.removeprefix("On or near ")
    landmark = schema.policeuk_landmark(place)
    found = landmark.dropna()
    assert len(found) > 100 and set(found) <= set(schema.POLICEUK_LANDMARK_TYPES)
    assert (place[landmark == "Supermarket"] == "Supermarket").all()
    typed = schema.policeuk_landmark(pd.Series([" supermarket ", "NIGHTCLUB", "The Copse", None]))
    assert typed.iloc[:2].tolist() == ["Supermarket", "Nightclub"] and typed.iloc[2:].isna().all()


def test_an_empty_canonical_frame_has_every_column_and_dtype():
    empty = schema.empty_canonical_frame()
    assert len(empty) == 0
    assert {c: str(t) for c, t in empty.dtypes.items()} == schema.CANONICAL_COLUMNS
