"""Warnings about some of a file's rows, added up over the chunks a file is read in."""

import pickle

import numpy as np

from hoth_geo.intake import row_warnings
from hoth_geo.intake.row_warnings import (
    GRID_REFERENCE_ELSEWHERE,
    NO_DATE_OBSERVED,
    OBSERVED_AFTER_RECEIVED,
    TEXT_CUT_SHORT,
)


def test_a_warning_reads_as_words_that_agree_with_its_count():
    assert OBSERVED_AFTER_RECEIVED(1, np.array([7])) == (
        "1 row has a date observed after the date received; kept as given, check row 7"
    )
    assert NO_DATE_OBSERVED(2_500) == (
        "2,500 rows had no date observed; used the date received and marked the date approximate"
    )
    assert row_warnings.EMPTY_ROWS(1) == "1 empty row"
    # Rows beyond the first ten are counted, not named.
    many = OBSERVED_AFTER_RECEIVED(12, range(2, 14))
    assert many.endswith("check rows 2, 3, 4, 5, 6, 7, 8, 9, 10, 11") and many.n == 12
    # Kept whole through a copy between processes.
    assert pickle.loads(pickle.dumps(many)).named == many.named


def test_warnings_of_chunks_add_up():
    """Counts add up across chunks, the words agree with the total, the first rows of the file are
    named, other warnings are given once, and each kind is listed in one order."""
    long = 'row 9 "Narrative" (12,000 characters)'
    merged = row_warnings.merge(
        [
            ['file "a.csv" is not UTF-8; read it as Windows-1252', NO_DATE_OBSERVED(1)],
            [
                TEXT_CUT_SHORT(1, [long]),
                row_warnings.EMPTY_ROWS(1),
                OBSERVED_AFTER_RECEIVED(1, [7]),
                NO_DATE_OBSERVED(3),
            ],
            [OBSERVED_AFTER_RECEIVED(2, [12, 13]), 'file "a.csv" is not UTF-8; read it as Windows-1252'],
            [NO_DATE_OBSERVED(1_000)],
            [GRID_REFERENCE_ELSEWHERE(1, [40])],
            [GRID_REFERENCE_ELSEWHERE(1, [90])],
        ]
    )
    assert merged == [
        'file "a.csv" is not UTF-8; read it as Windows-1252',
        "1,004 rows had no date observed; used the date received and marked the date approximate",
        "3 rows have a date observed after the date received; kept as given, check rows 7, 12, 13",
        "2 rows give a grid reference that does not contain its easting/northing; the easting/northing"
        " were used, check rows 40, 90",
        f"1 text field was longer than 10,000 characters and cut short: {long}",
        "1 empty row",
    ]
    assert row_warnings.merge([[OBSERVED_AFTER_RECEIVED(1, [7])]]) == [
        "1 row has a date observed after the date received; kept as given, check row 7"
    ]


def test_named_rows_and_cut_fields_stop_at_ten_over_the_whole_file():
    chunks = [[OBSERVED_AFTER_RECEIVED(6, range(c * 100, c * 100 + 6))] for c in range(3)]
    (merged,) = row_warnings.merge(chunks)
    assert merged.startswith("18 rows have") and merged.named == (
        "0",
        "1",
        "2",
        "3",
        "4",
        "5",
        "100",
        "101",
        "102",
        "103",
    )
    cut = [[TEXT_CUT_SHORT(6, [f"row {c}{i}" for i in range(6)])] for c in range(2)]
    (said,) = row_warnings.merge(cut)
    assert said.startswith("12 text fields were") and said.endswith("row 13 and others")
    (exactly_ten,) = row_warnings.merge(
        [[TEXT_CUT_SHORT(5, list("abcde"))], [TEXT_CUT_SHORT(5, list("fghij"))]]
    )
    assert exactly_ten.endswith(": a, b, c, d, e, f, g, h, i, j")
