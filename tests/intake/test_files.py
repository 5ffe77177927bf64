"""Reading files (hoth_geo.intake.files.read_table): encodings, delimiters, quoted newlines, XLSX
sheets and cells, and the refusals of files that are empty, binary, too large or not what they claim.

Fixtures in tests/data are synthetic (no real people).
"""

from __future__ import annotations

import io
import json
import zipfile

import pandas as pd
import pytest
from intake_results import DATA, TODAY, assert_reconciles, run

from hoth_geo.intake import files
from hoth_geo.intake.files import ImportRefused, read_table
from hoth_geo.intake.ingest import ingest
from hoth_geo.intake.sharing_form import normalise_sharing_form


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


@pytest.mark.parametrize(
    ("given", "safe"),
    [
        ("../../etc/passwd.csv", "passwd.csv"),
        ("..\\..\\x.xlsx", "x.xlsx"),
        ("C:\\Users\\someone\\form.csv", "form.csv"),
        ("/abs/path/form.csv", "form.csv"),
        ("..", "upload"),
        ("", "upload"),
        (None, "upload"),
        ("line\nbreak\x00.csv", "linebreak.csv"),
        ("a" * 500 + ".csv", "a" * 200),
    ],
)
def test_safe_filename_keeps_only_a_plain_name(given, safe):
    assert files.safe_filename(given) == safe


def test_the_header_delimiter_is_found_outside_quoted_cells():
    assert files.check_csv_header('Ref;"Date; observed";Location\nSYN-1;03/04/2025;A\n', "a.csv", 1) == ";"
    assert files.check_csv_header('"Ref,Narrative"\tDate observed\n', "b.txt", 1) == "\t"
    assert (
        files.header_line('Ref,"Two\nline header",Location\nSYN-1,x,y\n') == 'Ref,"Two\nline header",Location'
    )


def test_a_header_wider_than_the_limit_is_refused_naming_file_row_and_limit():
    wide = ",".join(f"col{i}" for i in range(files.MAX_COLUMNS + 1)) + "\nx\n"
    with pytest.raises(ImportRefused) as refused:
        files.check_csv_header(wide, "wide.csv", 3)
    assert refused.value.message.startswith(
        f'file "wide.csv" row 3 (the header) has {files.MAX_COLUMNS + 1:,} columns, over the limit of '
        f"{files.MAX_COLUMNS:,}"
    )
