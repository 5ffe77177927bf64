"""Reading and normalising sharing-form exports and police.uk files (hoth_geo.intake.ingest).

Fixtures in tests/data are synthetic (no real people); the police.uk files are the real open data.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hoth_geo import schema
from hoth_geo.intake.files import ImportRefused, read_table
from hoth_geo.intake.headers import detect_format, map_columns
from hoth_geo.intake.ingest import ingest
from hoth_geo.intake.parsers import IngestResult, parse_concerns, parse_dates, parse_indicators
from hoth_geo.intake.policeuk import POLICEUK_COLUMNS, normalise_policeuk
from hoth_geo.intake.sharing_form import normalise_sharing_form

DATA = Path(__file__).resolve().parents[1] / "data"
REPO = Path(__file__).resolve().parents[2]
TODAY = date(2025, 6, 30)


def run(name: str, **kw) -> IngestResult:
    return ingest(DATA / name, today=TODAY, **kw)


def assert_reconciles(result: IngestResult) -> None:
    """Every input row ends in exactly one of rows / quarantine."""
    assert result.n_read == len(result.rows) + len(result.quarantine)
    numbers = list(result.rows["row_number"]) + list(result.quarantine["row_number"])
    assert len(numbers) == len(set(numbers)), "a row number appears twice"
    assert list(result.quarantine.columns) == list(schema.QUARANTINE_COLUMNS)


def assert_canonical(rows: pd.DataFrame) -> None:
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


# --- reading ----------------------------------------------------------------------------------------


def test_utf8_template_rows_are_normalised():
    r = run("utf8_template.csv")
    assert (r.n_read, len(r.rows), len(r.quarantine)) == (3, 3, 0)
    first, second, third = (r.rows.iloc[i] for i in range(3))
    assert first["row_number"] == 2
    assert first["observed_at"] == pd.Timestamp("2025-04-03 21:30")  # 03/04 is 3 April, not 4 March
    assert bool(first["time_known"]) and not bool(first["date_approximate"])
    assert first["date_received"] == pd.Timestamp("2025-04-05")
    assert first["postcode"] == "DH1 1AB"
    assert first["place_type"] == "takeaway"
    assert first["agency_type"] == "youth_service"
    assert first["concerns"] == "cce|cse"
    assert first["indicators"] == "missing_from_home|unexplained_money_items"
    assert (first["grading_source"], first["grading_information"], first["grading_handling"]) == (
        "1",
        "A",
        "P",
    )
    assert first["latitude"] == pytest.approx(54.7763) and first["longitude"] == pytest.approx(-1.5754)
    assert second["observed_at"] == pd.Timestamp("2025-04-03") and not bool(second["time_known"])
    assert (second["easting"], second["northing"]) == (427350.0, 542450.0)
    assert second["place_type"] == "transport_hub" and second["agency_type"] == "school"
    assert second["indicators"] == "not_attending_school"
    assert bool(third["online"]) and third["place_type"] == "online"
    assert bool(third["date_approximate"]) and third["observed_at"] == pd.Timestamp("2025-04-01")


def test_bom_is_stripped_and_header_synonyms_map():
    frame = read_table(DATA / "bom_synonyms.csv")
    assert frame.columns[0] == "URN"
    r = normalise_sharing_form(frame, today=TODAY)
    assert r.column_map == {
        "source_ref": "URN",
        "date_observed": "Date seen",
        "time_observed": "Time",
        "agency": "Organisation",
        "agency_type": "Sector",
        "location_text": "Address",
        "place_name": "Premises",
        "place_type": "Type of place",
        "postcode": "PostCode",
        "latitude": "Lat",
        "longitude": "Lng",
        "concerns": "Category",
        "indicators": "Signs",
        "grading": "Grading",
        "narrative": "Description",
        "child_ref": "Child ID",
    }
    a, b = r.rows.iloc[0], r.rows.iloc[1]
    assert a["observed_at"] == pd.Timestamp("2025-04-03 21:30")  # '9.30pm' in its own column
    assert a["place_type"] == "hotel" and a["agency_type"] == "health"
    assert a["concerns"] == "cce|cse" and a["indicators"] == "unexplained_ae"
    assert (a["grading_source"], a["grading_information"], a["grading_handling"]) == ("1", "A", "P")
    assert b["observed_at"] == pd.Timestamp("2025-04-03 08:15") and bool(b["time_known"])
    assert b["place_type"] == "taxi" and b["agency_type"] == "taxi_licensing"
    assert (b["grading_source"], b["grading_information"], b["grading_handling"]) == ("2", "B", "C")
    assert np.isnan(b["latitude"])


def test_windows_1252_is_read_with_pound_and_accents():
    frame = read_table(DATA / "cp1252.csv")
    assert frame.attrs["encoding"] == "cp1252"
    r = normalise_sharing_form(frame, today=TODAY)
    assert r.rows["narrative"].iloc[0] == "Synthetic example: paid £20 for a taxi – café staff concerned."
    assert r.rows["agency"].iloc[0] == "Synthetic Café Outreach"
    assert "£50" in r.rows["narrative"].iloc[1] and "naïve" in r.rows["narrative"].iloc[1]
    assert any("Windows-1252" in w for w in r.warnings)


def test_semicolon_file_accepts_comma_decimals():
    frame = read_table(DATA / "semicolon.csv")
    assert frame.attrs["delimiter"] == ";"
    r = normalise_sharing_form(frame, today=TODAY)
    assert len(r.rows) == 2
    assert r.rows["latitude"].iloc[0] == pytest.approx(54.7763)
    assert r.rows["longitude"].iloc[0] == pytest.approx(-1.5754)
    assert r.rows["observed_at"].iloc[0] == pd.Timestamp("2025-04-03")
    assert r.rows["observed_at"].iloc[1] == pd.Timestamp("2025-04-04 22:10")
    assert r.rows["concerns"].iloc[0] == "cse|missing"
    # The narrative's own commas survive in a semicolon file.
    assert r.rows["narrative"].iloc[0] == "Synthetic example: seen at 21:30, left in a car."


def test_comma_decimal_in_comma_file_is_quarantined_not_guessed():
    data = b'Ref,Date observed,Latitude,Longitude\nSYN-1,03/04/2025,"54,77",-1.5\n'
    r = ingest(data, "comma.csv", today=TODAY)
    assert len(r.rows) == 0
    assert r.quarantine["reason"].iloc[0].startswith('row 2: latitude "54,77" is not a number')


def test_tab_separated_and_utf16_exports():
    text = "Ref\tDate observed\tLocation\r\nSYN-1\t03/04/2025\tMarket Place\r\n"
    for data in (text.encode("utf-8"), text.encode("utf-16")):
        frame = read_table(data, "export.txt")
        assert frame.attrs["delimiter"] == "\t"
        r = normalise_sharing_form(frame, today=TODAY)
        assert r.rows["location_text"].tolist() == ["Market Place"]


def test_quoted_newlines_stay_in_one_cell_and_row_numbers_follow_records():
    r = run("quoted_newline.csv")
    assert r.n_read == 2 and len(r.rows) == 2
    assert (
        r.rows["narrative"].iloc[0]
        == 'Synthetic example: first line\nsecond line, with a comma\nthird "quoted" line'
    )
    assert r.rows["row_number"].tolist() == [2, 3]
    assert r.rows["location_text"].iloc[1] == "North Road"


def test_xlsx_dates_serials_times_and_formula_text():
    frame = read_table(DATA / "sharing_form.xlsx")
    assert frame.attrs["sheet"] == "Reports"  # the notes sheet has no header and is skipped
    assert frame.attrs["header_row"] == 3
    r = normalise_sharing_form(frame, today=TODAY)
    assert_reconciles(r)
    rows = r.rows.set_index("source_ref")
    assert rows.loc["SYN-X1", "row_number"] == 4
    assert rows.loc["SYN-X1", "observed_at"] == pd.Timestamp("2025-04-03 21:30")  # date cell + time cell
    assert rows.loc["SYN-X2", "observed_at"] == pd.Timestamp("2025-04-04 18:05")
    assert bool(rows.loc["SYN-X2", "time_known"])
    assert rows.loc["SYN-X3", "observed_at"] == pd.Timestamp("2025-04-03")  # serial 45750
    assert not bool(rows.loc["SYN-X3", "time_known"])
    assert rows.loc["SYN-X4", "observed_at"] == pd.Timestamp("2025-04-03")
    assert rows.loc["SYN-X1", "latitude"] == pytest.approx(54.7763)
    assert rows.loc["SYN-X4", "narrative"] == '=HYPERLINK("http://example.invalid","click")'


def test_invalid_workbooks_are_refused_with_the_file_name():
    with pytest.raises(ImportRefused) as exc:
        read_table(b"Ref,Date\n1,2\n", "x.xlsx")
    assert exc.value.message == 'file "x.xlsx" is not a valid XLSX workbook'
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("hello.txt", "not a workbook")
    with pytest.raises(ImportRefused, match=r'file "y.xlsx" is not a valid XLSX workbook'):
        read_table(buf.getvalue(), "y.xlsx")
    with pytest.raises(ImportRefused, match=r"old-style Excel \.xls"):
        read_table(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old.xls")


def test_empty_files_are_refused():
    with pytest.raises(ImportRefused) as exc:
        read_table(DATA / "empty.csv")
    assert exc.value.message == 'file "empty.csv" is empty'
    with pytest.raises(ImportRefused, match=r'file "blank.csv" is empty'):
        read_table(b"\r\n  \n", "blank.csv")


def test_binary_junk_is_refused():
    with pytest.raises(ImportRefused, match=r'file "photo.csv" is not a text'):
        read_table(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "photo.csv")


def test_size_limit_is_enforced_before_parsing():
    with pytest.raises(ImportRefused, match=r'file "utf8_template.csv" is larger than'):
        read_table(DATA / "utf8_template.csv", max_bytes=100)
    with pytest.raises(ImportRefused, match="larger than"):
        read_table(io.BytesIO(b"x" * 1000), "stream.csv", max_bytes=100)


def test_header_only_file_gives_zero_rows():
    r = run("header_only.csv")
    assert (r.n_read, len(r.rows), len(r.quarantine)) == (0, 0, 0)
    assert_canonical(r.rows)


def test_duplicate_headers_keep_the_first_and_warn():
    data = b"Ref,Date observed,Postcode,Postcode,Post code\nSYN-1,03/04/2025,DH1 1AB,SR1 1AA,TS1 1AA\n"
    frame = read_table(data, "dup.csv")
    assert list(frame.columns) == ["Ref", "Date observed", "Postcode", "Post code"]
    assert any('"Postcode"' in w and "duplicate" in w for w in frame.attrs["warnings"])
    r = normalise_sharing_form(frame, today=TODAY)
    assert r.rows["postcode"].tolist() == ["DH1 1AB"]
    assert any("'Post code'" in w for w in r.warnings)


def test_ragged_rows_and_interior_blank_lines_keep_spreadsheet_numbering():
    data = (
        b"Ref,Date observed,Location\n"
        b"SYN-1,03/04/2025,Market Place\n"
        b"\n"
        b"SYN-3,03/04/2025,North Road,unexpected extra cell\n"
        b"SYN-4,03/04/2025\n"
        b"\n\n"
    )
    r = ingest(data, "ragged.csv", today=TODAY)
    assert r.n_read == 4  # trailing blank lines are not rows
    assert_reconciles(r)
    assert r.rows["row_number"].tolist() == [2, 4, 5]
    assert r.quarantine["reason"].tolist() == ["row 3: empty row"]
    assert json.loads(r.quarantine["raw"].iloc[0])["Ref"] == ""


# --- header matching and format detection -------------------------------------------------------------


@pytest.mark.parametrize(
    "header, field",
    [
        ("Postcode", "postcode"),
        ("post code", "postcode"),
        ("PostCode", "postcode"),
        ("Post_Code", "postcode"),
        ("Lat", "latitude"),
        ("Latitude", "latitude"),
        ("Lng", "longitude"),
        ("Lon", "longitude"),
        ("Long", "longitude"),
        ("X", "easting"),
        ("Grid ref easting", "easting"),
        ("Y", "northing"),
        ("Date of incident", "date_observed"),
        ("Incident date", "date_observed"),
        ("Date observed (DD/MM/YYYY)*", "date_observed"),
        ("Date seen", "date_observed"),
        ("Ref", "source_ref"),
        ("Reference", "source_ref"),
        ("Source ref", "source_ref"),
        ("URN", "source_ref"),
        ("Agency", "agency"),
        ("Reporting agency", "agency"),
        ("Organisation", "agency"),
        ("Concern", "concerns"),
        ("Concern type", "concerns"),
        ("Category", "concerns"),
        ("  SOURCE   GRADING ", "grading_source"),
        ("Handling code", "grading_handling"),
    ],
)
def test_map_columns_synonyms(header, field):
    assert map_columns([header]) == {field: header}


def test_map_columns_ignores_unknown_headers():
    assert map_columns(["Officer notes", "Date observed"]) == {"date_observed": "Date observed"}


def test_detect_format():
    police = pd.DataFrame(columns=list(read_table(REPO / "data" / "template.csv").columns))
    assert detect_format(police) == "sharing_form"
    header = "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,Crime type,Last outcome category,Context"
    assert detect_format(read_table(header.encode() + b"\n", "p.csv")) == "policeuk"


# --- refusals ---------------------------------------------------------------------------------------


def test_missing_date_and_location_columns_are_refused_in_one_message():
    with pytest.raises(ImportRefused) as exc:
        run("missing_columns.csv")
    msg = exc.value.message
    assert "date column" in msg and "location column" in msg
    assert '"Reporting agency", "Narrative", "Concerns"' in msg
    assert "missing_columns.csv" in msg


def test_missing_location_only_names_location():
    with pytest.raises(ImportRefused) as exc:
        ingest(b"Ref,Date observed,Narrative\nSYN-1,03/04/2025,x\n", "noloc.csv")
    assert "location column" in exc.value.message and "date column" not in exc.value.message


# --- row-level rules ----------------------------------------------------------------------------------


def test_bad_rows_are_quarantined_with_row_column_and_value():
    r = run("bad_rows.csv")
    assert_reconciles(r)
    reasons = dict(zip(r.quarantine["row_number"], r.quarantine["reason"], strict=True))
    assert (
        reasons[3]
        == 'row 3: date observed "31/02/2025" is not a valid date (dates are read day first: DD/MM/YYYY)'
    )
    assert reasons[4] == "row 4: latitude 154.2 out of range (-90 to 90)"
    assert reasons[5] == 'row 5: date observed "03/04/2099" is in the future'
    assert reasons[6].startswith('row 6: date observed "03/04/1999" is before 2000-01-01')
    assert reasons[7] == 'row 7: time observed "25:61" is not a valid time'
    assert reasons[8] == 'row 8: postcode "NOTAPOSTCODE" is not a valid UK postcode'
    assert reasons[10] == 'row 10: source grading "4" is not valid (expected 1, 2 or 3)'
    assert reasons[11].startswith('row 11: grading "9Z" is not a 3x5x2 grade')
    assert reasons[12] == "row 12: empty row"
    assert reasons[15] == "row 15: no date observed or date received"
    assert reasons[16] == "row 16: easting 900000 out of range (0 to 700000)"
    assert reasons[17] == 'row 17: latitude "abc" is not a number'
    q = r.quarantine.set_index("row_number")
    assert (q.loc[4, "field"], q.loc[4, "value"]) == ("latitude", "154.2")
    raw = json.loads(q.loc[4, "raw"])
    assert raw["Source reference"] == "SYN-X03" and raw["Latitude"] == "154.2"

    kept = r.rows.set_index("source_ref")
    assert sorted(kept.index) == ["SYN-X01", "SYN-X08", "SYN-X12", "SYN-X13", "SYN-X17"]
    # An invalid postcode is dropped when the row has another location.
    assert kept.loc["SYN-X08", "postcode"] is None and kept.loc["SYN-X08", "location_text"] == "North Road"
    # Date received stands in for a missing date observed, marked approximate.
    assert kept.loc["SYN-X12", "observed_at"] == pd.Timestamp("2025-04-05")
    assert bool(kept.loc["SYN-X12", "date_approximate"])
    # No location at all is passed on for the geocoder to route to review.
    assert kept.loc["SYN-X13", "location_text"] is None and not bool(kept.loc["SYN-X13", "online"])
    # Grid numbers typed into latitude/longitude move to easting/northing.
    assert (kept.loc["SYN-X17", "easting"], kept.loc["SYN-X17", "northing"]) == (427350.0, 543630.0)
    assert np.isnan(kept.loc["SYN-X17", "latitude"])


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
    assert any(w.startswith("1 rows had indicator terms") for w in r.warnings)


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


def test_formula_and_html_payloads_are_kept_verbatim_as_text():
    r = run("payloads.csv")
    assert len(r.rows) == 2
    a, b = r.rows.iloc[0], r.rows.iloc[1]
    assert a["agency"] == '=HYPERLINK("http://example.invalid","click")'
    assert a["location_text"] == "+SUM(1;2)"
    assert a["place_name"] == "@cmd"
    assert a["narrative"] == "<script>alert('x')</script> Synthetic example"
    assert a["child_ref"] == "-2+3"
    assert b["location_text"] == "<img src=x onerror=alert(1)>"
    assert b["place_name"] == "'=1+1"
    assert b["narrative"] == 'Synthetic example: "quoted" & <b>bold</b>'
    assert b["child_ref"] == "=cmd|' /C calc'!A0"


def test_fingerprint_is_stable_content_based_and_ignores_reference():
    base = "Ref,Date observed,Time observed,Location,Concerns,Narrative\n"
    a = ingest(
        (base + "SYN-1,03/04/2025,21:30,Market Place,CSE,Seen with  older males\n").encode(),
        "a.csv",
        today=TODAY,
    )
    b = ingest(
        (base + "SYN-99,3/4/25,21:30,market place,cse,seen with older males\n").encode(), "b.csv", today=TODAY
    )
    c = ingest(
        (base + "SYN-1,03/04/2025,21:31,Market Place,CSE,Seen with older males\n").encode(),
        "c.csv",
        today=TODAY,
    )
    d = ingest(
        (base + "SYN-1,03/04/2025,,Market Place,CSE,Seen with older males\n").encode(), "d.csv", today=TODAY
    )
    fa, fb, fc, fd = (r.rows["fingerprint"].iloc[0] for r in (a, b, c, d))
    assert fa == fb
    assert len({fa, fc, fd}) == 3
    again = ingest(
        (base + "SYN-1,03/04/2025,21:30,Market Place,CSE,Seen with  older males\n").encode(),
        "a.csv",
        today=TODAY,
    )
    assert again.rows["fingerprint"].iloc[0] == fa


def test_frame_from_elsewhere_with_pandas_string_dtype_and_nan():
    frame = pd.DataFrame(
        {"Date observed": ["03/04/2025", None], "Location": ["Market Place", "North Road"]}, dtype="str"
    )
    r = normalise_sharing_form(frame, today=TODAY)
    assert_reconciles(r)
    assert r.rows["location_text"].tolist() == ["Market Place"]
    assert r.quarantine["reason"].tolist() == ["row 3: no date observed or date received"]


# --- police.uk -----------------------------------------------------------------------------------------


def _data_rows(path: Path) -> int:
    with path.open(newline="", encoding="utf-8") as fh:
        return sum(1 for _ in csv.reader(fh)) - 1


@pytest.mark.shared
def test_real_policeuk_file_is_detected_and_normalised(shared_data):
    path = shared_data / "policeuk_durham" / "2018-10-durham-street.csv"
    frame = read_table(path)
    assert detect_format(frame) == "policeuk"
    r = normalise_policeuk(frame)
    assert r.kind == "policeuk"
    assert r.n_read == _data_rows(path) == 6611
    assert_reconciles(r)
    rows = r.rows
    assert list(rows.columns) == list(POLICEUK_COLUMNS)
    for col, dtype in POLICEUK_COLUMNS.items():
        assert str(rows[col].dtype) == dtype, col
    asb = rows[rows["crime_type"] == "Anti-social behaviour"]
    assert len(asb) == (frame["Crime type"] == "Anti-social behaviour").sum() > 1000
    assert asb["crime_id"].isna().all() and (asb["concern"] == "asb").all()
    assert rows["fingerprint"].is_unique
    assert (rows["month"] == pd.Timestamp("2018-10-01")).all()
    assert rows["latitude"].between(-90, 90).all() and rows["longitude"].between(-180, 180).all()
    assert set(rows["place_type"]) <= set(schema.PLACE_TYPES)
    assert set(rows["concern"]) <= set(schema.CONCERNS)
    first = rows.iloc[0]
    assert (first["row_number"], first["location_text"], first["place_type"]) == (
        2,
        "The Copse",
        "residential_street",
    )
    supermarket = rows[rows["location_text"] == "Supermarket"]
    assert len(supermarket) > 0 and (supermarket["place_type"] == "shop").all()
    assert (rows.loc[rows["crime_type"] == "Drugs", "concern"] == "drugs_alcohol").all()
    # Re-importing the same file gives the same fingerprints (idempotent storage).
    assert normalise_policeuk(read_table(path)).rows["fingerprint"].tolist() == rows["fingerprint"].tolist()
    # The police context layer never looks like partnership reports.
    assert "observed_at" not in rows.columns and "agency" not in rows.columns


@pytest.mark.shared
def test_real_policeuk_no_location_rows_are_quarantined(shared_data):
    path = shared_data / "policeuk_durham" / "2018-11-durham-street.csv"
    r = ingest(path)
    assert r.kind == "policeuk"
    assert r.n_read == _data_rows(path)
    assert_reconciles(r)
    assert len(r.quarantine) == 9
    assert r.quarantine["reason"].str.fullmatch(r'row \d+: no coordinates \(location "No Location"\)').all()
    assert json.loads(r.quarantine["raw"].iloc[0])["Location"] == "No Location"


def test_identical_asb_rows_are_all_kept_with_distinct_repeatable_fingerprints():
    header = "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,Crime type,Last outcome category,Context\n"
    asb = ",2019-01,Durham Constabulary,Durham Constabulary,-1.572,54.776,On or near Parking Area,E01020000,County Durham 000A,Anti-social behaviour,,\n"
    crime = "abc123,2019-01,Durham Constabulary,Durham Constabulary,-1.572,54.776,On or near Nightclub,E01020000,County Durham 000A,Drugs,Under investigation,\n"
    data = (header + asb + asb + asb + crime).encode()
    r1, r2 = ingest(data, "p.csv"), ingest(data, "p.csv")
    assert len(r1.rows) == 4
    fps = r1.rows["fingerprint"].tolist()
    assert len(set(fps)) == 4 and fps == r2.rows["fingerprint"].tolist()
    assert fps[3] == "abc123"
    assert r1.rows["place_type"].tolist() == ["car_park"] * 3 + ["licensed_premises"]
    assert r1.rows["concern"].tolist() == ["asb"] * 3 + ["drugs_alcohol"]


def test_policeuk_bad_month_and_coordinates_are_quarantined():
    header = "Crime ID,Month,Falls within,Longitude,Latitude,Location,LSOA code,Crime type\n"
    data = (
        header
        + "a1,2019-13,Durham,-1.5,54.7,On or near X,E1,Drugs\n"
        + "a2,2019-01,Durham,-1.5,95,On or near X,E1,Drugs\n"
    ).encode()
    r = ingest(data, "p.csv")
    assert r.quarantine["reason"].tolist() == [
        'row 2: month "2019-13" is not a YYYY-MM month',
        "row 3: latitude 95 out of range (-90 to 90)",
    ]


# --- template and data dictionary ------------------------------------------------------------------


def test_template_matches_schema_and_imports_cleanly():
    path = REPO / "data" / "template.csv"
    frame = read_table(path)
    assert tuple(frame.columns) == schema.TEMPLATE_COLUMNS
    assert len(frame) == 3
    assert frame["Source reference"].str.startswith("EXAMPLE").all()
    assert frame["Narrative"].str.contains("Synthetic example").all()
    r = normalise_sharing_form(frame, today=TODAY)
    assert (len(r.rows), len(r.quarantine), r.warnings) == (3, 0, [])
    assert set(r.column_map) >= {"source_ref", "date_observed", "postcode", "narrative", "grading_source"}


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
