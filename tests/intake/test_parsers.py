"""The cell parsers (hoth_geo.intake.parsers): dates read day first, times, numbers, postcodes,
vocabularies, grading and text cleaning, seen through the rows and reasons a sharing-form import gives.
"""

from __future__ import annotations

import pandas as pd
import pytest
from intake_results import TODAY

from hoth_geo.intake.ingest import ingest
from hoth_geo.intake.parsers import parse_concerns, parse_dates, parse_indicators
from hoth_geo.intake.sharing_form import normalise_sharing_form


def test_comma_decimal_in_comma_file_is_quarantined_not_guessed():
    data = b'Ref,Date observed,Latitude,Longitude\nSYN-1,03/04/2025,"54,77",-1.5\n'
    r = ingest(data, "comma.csv", today=TODAY)
    assert len(r.rows) == 0
    assert r.quarantine["reason"].iloc[0].startswith('row 2: latitude "54,77" is not a number')


def test_several_problems_in_one_row_are_reported_together():
    data = b"Ref,Date observed,Latitude,Longitude\nSYN-1,31/13/2025,99,200\n"
    r = ingest(data, "multi.csv", today=TODAY)
    reason = r.quarantine["reason"].iloc[0]
    assert reason.startswith("row 2: date observed")
    assert "latitude 99 out of range" in reason and "longitude 200 out of range" in reason
    assert r.quarantine["field"].iloc[0] == "date_observed"


@pytest.mark.parametrize(
    "text, expected, time_known, approximate",
    [
        ("03/04/2025", "2025-04-03", False, False),
        ("3/4/25", "2025-04-03", False, False),
        ("03-04-2025", "2025-04-03", False, False),
        ("03.04.2025", "2025-04-03", False, False),
        ("3 Apr 2025", "2025-04-03", False, False),
        ("3rd April 2025", "2025-04-03", False, False),
        ("Thursday 3 April 2025", "2025-04-03", False, False),
        ("2025-04-03", "2025-04-03", False, False),
        ("2025-04-03T21:30:00", "2025-04-03 21:30", True, False),
        ("2025-04-03 21:30:15.250Z", "2025-04-03 21:30:15", True, False),
        ("03/04/2025 21:30", "2025-04-03 21:30", True, False),
        ("03/04/2025 9:30pm", "2025-04-03 21:30", True, False),
        ("03/04/2025 12:15 am", "2025-04-03 00:15", True, False),
        ("45750", "2025-04-03", False, False),
        ("45750.875", "2025-04-03 21:00", True, False),
        ("2025-04", "2025-04-01", False, True),
        ("April 2025", "2025-04-01", False, True),
        ("04/2025", "2025-04-01", False, True),
        ("approx 03/04/2025", "2025-04-03", False, True),
        ("c. 03/04/2025", "2025-04-03", False, True),
        ("~03/04/2025", "2025-04-03", False, True),
        ("circa April 2025", "2025-04-01", False, True),
    ],
)
def test_parse_dates_day_first(text, expected, time_known, approximate):
    parsed = parse_dates(pd.Series([text], dtype=object), today=TODAY).iloc[0]
    assert parsed["value"] == pd.Timestamp(expected)
    assert bool(parsed["time_known"]) is time_known
    assert bool(parsed["approximate"]) is approximate
    assert not parsed["blank"] and not parsed["invalid"]


@pytest.mark.parametrize(
    "text", ["31/02/2025", "04/13/2025", "2025-02-30", "yesterday", "03/04/2025 25:00", "13pm"]
)
def test_parse_dates_rejects(text):
    parsed = parse_dates(pd.Series([text], dtype=object), today=TODAY).iloc[0]
    assert bool(parsed["invalid"]) and pd.isna(parsed["value"])


def test_parse_dates_blank_is_not_invalid():
    parsed = parse_dates(pd.Series(["", "  ", "N/A"], dtype=object), today=TODAY)
    assert parsed["blank"].all() and not parsed["invalid"].any()


def test_date_approximate_column_and_future_relative_to_today():
    data = b"Ref,Date observed,Approximate,Location\nSYN-1,29/06/2025,yes,A\nSYN-2,01/07/2025,,A\nSYN-3,30/06/2025,no,A\n"
    r = ingest(data, "a.csv", today=TODAY)
    assert r.rows["source_ref"].tolist() == ["SYN-1", "SYN-3"]
    assert r.rows["date_approximate"].tolist() == [True, False]
    assert r.quarantine["reason"].tolist() == ['row 3: date observed "01/07/2025" is in the future']


@pytest.mark.parametrize(
    "setting, online",
    [("Online", True), ("online ", True), ("Social media", True), ("In person", False), ("", False)],
)
def test_setting_online(setting, online):
    data = f"Ref,Date observed,Setting\nSYN-1,03/04/2025,{setting}\n".encode()
    r = ingest(data, "s.csv", today=TODAY)
    assert len(r.rows) == 1  # online or not, a row without a location is passed on
    assert bool(r.rows["online"].iloc[0]) is online


def test_online_yes_no_column():
    data = b"Ref,Date observed,Online,Location\nSYN-1,03/04/2025,Yes,\nSYN-2,03/04/2025,No,Front Street\n"
    r = ingest(data, "o.csv", today=TODAY)
    assert r.rows["online"].tolist() == [True, False]
    assert r.rows["place_type"].tolist() == ["online", None]


@pytest.mark.parametrize(
    "text, key",
    [
        ("Takeaway", "takeaway"),
        ("fast food", "takeaway"),
        ("Chip shop", "takeaway"),
        ("kebab", "takeaway"),
        ("B&B", "hotel"),
        ("Guest house", "hotel"),
        ("Hotel / B&B", "hotel"),
        ("taxi rank", "taxi"),
        ("Taxi office", "taxi"),
        ("Bus station", "transport_hub"),
        ("Railway station", "transport_hub"),
        ("Pub", "licensed_premises"),
        ("nightclub", "licensed_premises"),
        ("Supermarket", "shop"),
        ("Convenience store", "shop"),
        ("College", "school"),
        ("academy", "school"),
        ("car_park", "car_park"),
        ("Licensed premises (pub, nightclub)", "licensed_premises"),
        ("Spaceport", "other"),
    ],
)
def test_place_type_synonyms(text, key):
    data = f'Ref,Date observed,Location,Place type\nSYN-1,03/04/2025,Somewhere,"{text}"\n'.encode()
    assert ingest(data, "p.csv", today=TODAY).rows["place_type"].iloc[0] == key


@pytest.mark.parametrize(
    "text, keys",
    [
        ("County lines", "cce"),
        ("drug running; CSE", "cce|cse"),
        ("CSE, Missing", "cse|missing"),
        ("cse|weapons", "cse|weapons"),
        ("Drugs / alcohol", "drugs_alcohol"),
        ("Missing from home / care", "missing"),
        ("Child criminal exploitation (county lines, drug running)", "cce"),
        ("Anti-social behaviour / Trafficking", "asb|trafficking"),
        ("Something else entirely", "other"),
        ("", ""),
    ],
)
def test_parse_concerns(text, keys):
    assert parse_concerns(text) == keys


@pytest.mark.parametrize(
    "text, keys",
    [
        ("Missing from home, whereabouts unknown", "missing_from_home"),
        ("Involved in anti-social behaviour or crime (drug running / county lines)", "asb_or_crime"),
        ("gifts; A&E / truancy", "not_attending_school|unexplained_ae|unexplained_money_items"),
        ("unknown_adults|pregnancy_sti", "pregnancy_sti|unknown_adults"),
        ("mystery sign", ""),
    ],
)
def test_parse_indicators(text, keys):
    assert parse_indicators(text) == keys


def test_unknown_indicators_are_counted_in_a_warning():
    data = b"Ref,Date observed,Location,Indicators\nSYN-1,03/04/2025,A,gifts; mystery sign\n"
    r = ingest(data, "i.csv", today=TODAY)
    assert r.rows["indicators"].iloc[0] == "unexplained_money_items"
    assert any(w.startswith("1 row had indicator terms") for w in r.warnings)


@pytest.mark.parametrize(
    "grading, expected",
    [
        ("1A P", ("1", "A", "P")),
        ("1/A/P", ("1", "A", "P")),
        ("1AP", ("1", "A", "P")),
        ("3e c", ("3", "E", "C")),
        ("2B", ("2", "B", None)),
    ],
)
def test_combined_grading(grading, expected):
    data = f"Ref,Date observed,Location,Grading\nSYN-1,03/04/2025,A,{grading}\n".encode()
    row = ingest(data, "g.csv", today=TODAY).rows.iloc[0]
    assert (row["grading_source"], row["grading_information"], row["grading_handling"]) == expected


def test_invalid_separate_grading_is_quarantined():
    data = b"Ref,Date observed,Location,Information grading,Handling code\nSYN-1,03/04/2025,A,F,P\nSYN-2,03/04/2025,A,b,x\n"
    r = ingest(data, "g.csv", today=TODAY)
    assert r.quarantine["reason"].tolist() == [
        'row 2: information grading "F" is not valid (expected A, B, C, D or E)',
        'row 3: handling code "x" is not valid (expected P or C)',
    ]


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("dh11ab", "DH1 1AB"),
        ("DH1  1AB", "DH1 1AB"),
        (" sr7 8ab ", "SR7 8AB"),
        ("EC1A1BB", "EC1A 1BB"),
        ("w1a 0ax", "W1A 0AX"),
    ],
)
def test_postcode_normalised(raw, expected):
    data = f"Ref,Date observed,Postcode\nSYN-1,03/04/2025,{raw}\n".encode()
    assert ingest(data, "pc.csv", today=TODAY).rows["postcode"].iloc[0] == expected


def test_text_is_stripped_control_characters_removed_and_long_text_cut():
    long = "x" * 12_000
    frame = pd.DataFrame(
        {
            "Ref": ["  SYN-1  ", "SYN-2"],
            "Date observed": ["03/04/2025", "03/04/2025"],
            "Location": ["Market\x00 Place\x07", "North Road"],
            "Narrative": ["line one\r\nline two\ttabbed\x1b", long],
        },
        dtype=object,
    )
    r = normalise_sharing_form(frame, today=TODAY)
    assert r.rows["source_ref"].tolist() == ["SYN-1", "SYN-2"]
    assert r.rows["location_text"].iloc[0] == "Market Place"
    assert r.rows["narrative"].iloc[0] == "line one\nline two\ttabbed"
    assert len(r.rows["narrative"].iloc[1]) == 10_000
    assert any("longer than 10,000 characters" in w for w in r.warnings)


@pytest.mark.parametrize(
    ("setting", "online", "unread"),
    [
        ("Online", True, False),
        ("online - Snapchat", True, False),
        ("Instagram DMs", True, False),
        ("Xbox Live", True, False),
        ("Social media", True, False),
        ("yes", True, False),  # a yes/no column headed Setting
        ("In person", False, False),
        ("Face-to-face", False, False),
        ("Online and in person", False, False),  # it happened somewhere: the place is mapped
        ("not online", False, False),
        ("Park", False, False),  # a place type
        ("Hotel / B&B", False, False),
        ("", False, False),
        ("Phone call", False, True),
        ("group chat", False, True),
    ],
)
def test_a_setting_is_online_when_it_says_so_in_any_words(setting, online, unread):
    from hoth_geo.intake.parsers import read_settings

    said_online, unknown = read_settings(pd.Series([setting, setting]))
    assert said_online.tolist() == [online, online]
    assert unknown.rows_by_term == ({setting: 2} if unread else {})


@pytest.mark.parametrize(
    ("ref", "square"),
    [
        # Published references: Trafalgar Square, Ben Nevis's summit, Land's End, Lerwick, the grid's origin.
        ("TQ 30080 80480", (530080, 180480, 1)),
        ("NN 16667 71283", (216667, 771283, 1)),
        ("SW 342 251", (134200, 25100, 100)),
        ("HU 47 41", (447000, 1141000, 1000)),
        ("SV 0000 0000", (0, 0, 10)),
        # Durham Cathedral, however it is written.
        ("NZ 2737 4209", (427370, 542090, 10)),
        ("nz27374209", (427370, 542090, 10)),
        ("NZ2737 4209", (427370, 542090, 10)),
        ("NZ 27 42", (427000, 542000, 1000)),
    ],
)
def test_an_os_grid_reference_names_its_square(ref, square):
    from hoth_geo.intake.parsers import grid_reference_square

    assert grid_reference_square(ref) == square


@pytest.mark.parametrize(
    "text",
    [
        "NZ 275 42",  # halves of different lengths
        "NZ 27374",  # an odd number of digits
        "ZZ 1234 5678",  # no such square
        "IA 1234 5678",  # the grid has no I
        "NE1 4",  # a postcode sector, not a 10 km square
        "TS12",  # a postcode district
        "DH1 1AB",
        "Market Place",
        "NZ 2737 4209 near the bus stop",
    ],
)
def test_what_is_not_a_grid_reference_is_not_read_as_one(text):
    from hoth_geo.intake.parsers import grid_reference_square

    assert grid_reference_square(text) is None


def test_a_grid_references_square_lands_where_the_place_is():
    """Durham Cathedral's 10 m square, converted through pyproj, is at the cathedral."""
    from hoth_geo.intake.gazetteer import bng_to_wgs84
    from hoth_geo.intake.parsers import grid_reference_square

    east, north, side = grid_reference_square("NZ 2737 4209")
    lon, lat = bng_to_wgs84([east + side / 2], [north + side / 2])
    assert lat[0] == pytest.approx(54.7733, abs=0.0005) and lon[0] == pytest.approx(-1.5760, abs=0.001)


@pytest.mark.parametrize(
    ("text", "hours"),
    [
        ("21:30", 21.5),
        ("9.30pm", 21.5),
        ("noon", 12.0),
        ("12 noon", 12.0),
        ("Midday", 12.0),
        ("midnight", 0.0),
        ("approx 21:30", 21.5),
        ("approx. 9pm", 21.0),
        ("about 9pm", 21.0),
        ("c. 2130", 21.5),
        ("ca 10am", 10.0),
        ("~21:30", 21.5),
        ("around noon", 12.0),
        ("0.8958333333", 21.5),  # a spreadsheet time cell that lost its format: a fraction of a day
        ("0.30", 0.5),  # two decimals: half past midnight, as written
    ],
)
def test_a_time_of_day_is_read_as_partners_write_it(text, hours):
    data = f"Ref,Date observed,Time observed,Postcode\nSYN-1,03/04/2025,{text},DH1 1AB\n".encode()
    r = ingest(data, "times.csv", today=TODAY)
    (observed,) = r.rows["observed_at"]
    assert bool(r.rows["time_known"].iloc[0])
    assert observed == pd.Timestamp("2025-04-03") + pd.Timedelta(hours=hours)


@pytest.mark.parametrize("text", ["25:61", "13pm", "9.75", "after 3"])
def test_a_time_with_digits_that_is_not_a_time_of_day_is_quarantined_naming_it(text):
    """A slip in typing a time: a person must say which time was meant."""
    data = f"Ref,Date observed,Time observed,Postcode\nSYN-1,03/04/2025,{text},DH1 1AB\n".encode()
    r = ingest(data, "times.csv", today=TODAY)
    assert r.rows.empty
    assert r.quarantine["reason"].tolist() == [f'row 2: time observed "{text}" is not a valid time']


def test_a_time_of_day_in_words_is_stored_with_the_time_unknown_and_the_words_kept():
    """'evening' or 'after school' is no time the Time page can count, but the report is no less a
    report: it is kept with the time of day unknown (as a blank time is) and the words as written, and
    the warnings name the words with their rows. The same words written differently are the same
    content; other words are a change."""
    data = (
        b"Ref,Date observed,Time observed,Postcode\n"
        b"SYN-1,03/04/2025,evening,DH1 1AB\n"
        b"SYN-2,03/04/2025,After  school ,DH1 1AB\n"
        b"SYN-3,03/04/2025,approx evening,DH1 1AB\n"
        b"SYN-4,03/04/2025,,DH1 1AB\n"
        b"SYN-5,03/04/2025,21:30,DH1 1AB\n"
        b"SYN-6,03/04/2025,Evening,DH1 1AB\n"
        b"SYN-7,03/04/2025,night,DH1 1AB\n"
    )
    r = ingest(data, "times.csv", today=TODAY)
    assert r.quarantine.empty
    rows = r.rows.set_index("source_ref")
    assert rows["time_known"].tolist() == [False, False, False, False, True, False, False]
    assert rows["observed_at"].tolist()[:4] == [pd.Timestamp("2025-04-03")] * 4
    assert rows["time_text"].tolist() == [
        "evening",
        "After  school",
        "approx evening",
        None,
        None,
        "Evening",
        "night",
    ]
    fp = rows["fingerprint"]
    assert fp["SYN-1"] == fp["SYN-6"], "the same words, written differently"
    assert len({fp["SYN-1"], fp["SYN-2"], fp["SYN-3"], fp["SYN-4"], fp["SYN-7"]}) == 5, "other words differ"
    assert r.warnings == [
        "5 rows had a time of day in words, not a time; stored with the time of day unknown and the words"
        ' kept with the report: "evening" (1 row), "After  school" (1 row), "approx evening" (1 row),'
        ' "Evening" (1 row), "night" (1 row)'
    ]


@pytest.mark.parametrize(
    ("text", "hemispheres", "decimal"),
    [
        ("54°46'34.7\"N", "NS", "54.7763"),  # a tenth of a second: four decimals
        ("54°46'35\"N", "NS", "54.776"),  # a whole second (31 m): three decimals, never fewer metres
        ("1°34'31.4\"W", "EW", "-1.5754"),
        ("W 1°34'31.4\"", "EW", "-1.5754"),
        ("N54 46.578", "NS", "54.7763"),
        ("-1°34.52'", "EW", "-1.575"),
        ("54d 46m 34.7s N", "NS", "54.7763"),
        ("54.7763°N", "NS", "54.7763"),
        ("54°46'N", "NS", "54.8"),
        ("54°46'34.7\"E", "NS", None),  # not a latitude's hemisphere
        ("54°61'N", "NS", None),  # no such minute
        ("54.7763", "NS", None),  # a plain number is for the number parser
        ("north of the park", "NS", None),
    ],
)
def test_degrees_and_minutes_are_written_as_decimal_degrees_no_more_precise(text, hemispheres, decimal):
    from hoth_geo.intake.parsers import degrees_written

    assert degrees_written(text, hemispheres) == decimal
