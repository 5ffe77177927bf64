"""A file in, report rows out (hoth_geo.intake.ingest): read -> detect -> the matching normaliser.

The steps have their own test modules (test_files, test_headers, test_parsers, test_sharing_form,
test_policeuk); here every fixture goes the whole way. Fixtures in tests/data are synthetic.
"""

from __future__ import annotations

import pytest
from intake_results import REPO, TODAY, assert_canonical, assert_reconciles, run

from hoth_geo import schema
from hoth_geo.intake.files import ImportRefused
from hoth_geo.intake.ingest import ingest
from hoth_geo.intake.policeuk import POLICEUK_COLUMNS

ALL_FIXTURES = [
    "utf8_template.csv",
    "bom_synonyms.csv",
    "cp1252.csv",
    "semicolon.csv",
    "quoted_newline.csv",
    "bad_rows.csv",
    "payloads.csv",
    "header_only.csv",
    "sharing_form.xlsx",
]


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_every_fixture_reconciles_and_is_canonical(name):
    result = run(name)
    assert result.kind == "sharing_form"
    assert_reconciles(result)
    assert_canonical(result.rows)


def test_a_police_uk_file_goes_to_the_police_normaliser_and_a_form_to_the_sharing_form_one(shared_data):
    police = ingest(shared_data / "policeuk_durham" / "2018-10-durham-street.csv")
    assert police.kind == "policeuk" and list(police.rows.columns) == list(POLICEUK_COLUMNS)
    form = ingest(REPO / "data" / "template.csv", today=TODAY)
    assert form.kind == "sharing_form" and list(form.rows.columns) == list(schema.CANONICAL_COLUMNS)


def test_the_size_limit_is_passed_to_the_reader():
    with pytest.raises(ImportRefused, match=r'file "utf8_template.csv" is larger than'):
        run("utf8_template.csv", max_bytes=100)
