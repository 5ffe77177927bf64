"""Builders for the hostile and malformed input corpus (synthetic content only; no real people).

Small cases are also committed as files beside this module so a person can open them; running
``python -m tests.hostile.corpus`` rewrites them, and tests/intake/test_hostile_input.py checks that the
committed bytes still match these builders. Big cases (200,000 rows, zip bombs) are only ever
generated at test time into a temporary folder.
"""

from __future__ import annotations

import csv
import io
import random
import struct
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import openpyxl

from hoth_geo.schema import TEMPLATE_COLUMNS

HERE = Path(__file__).resolve().parent

# Inside the Durham study area the shipped gazetteer covers, so a row with these is located.
LAT, LON = 54.7761, -1.5733
EASTING, NORTHING = 427_000, 542_000  # a British National Grid point in the same area

PAYLOADS = (
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '"><svg onload=alert(1)>',
    '=HYPERLINK("http://x","y")',
    "+cmd|",
    "-1+1",
    "@SUM(A1)",
    "\t=1+2",  # tab and carriage-return prefixes: outer whitespace is stripped on import
    "\r=1+3",
    "'; DROP TABLE reports; --",
    "1 OR 1=1",
)


def base_row(i: int, **over: str) -> dict[str, str]:
    """One valid template row; ``i`` makes its content unique so no two rows are duplicates."""
    row = {
        "Source reference": f"HX-{i:06d}",
        "Date received": "05/04/2025",
        "Date observed": "03/04/2025",
        "Time observed": "21:30",
        "Reporting agency": "Synthetic Youth Project",
        "Agency type": "Youth service",
        "Location": f"Synthetic location {i}",
        "Place name": "",
        "Place type": "Park",
        "Postcode": "",
        "Latitude": f"{LAT + (i % 997) * 1e-5:.6f}",
        "Longitude": f"{LON + (i // 997 % 997) * 1e-5:.6f}",
        "Easting": "",
        "Northing": "",
        "Location accuracy (m)": "",
        "Setting": "In person",
        "Concerns": "County lines",
        "Indicators": "Missing from home",
        "Source grading": "2",
        "Information grading": "B",
        "Handling code": "P",
        "Narrative": f"Synthetic narrative {i}.",
        "Child reference": f"SYN-CHILD-{i % 50}",
    }
    row.update(over)
    return row


def csv_text(
    rows: Iterable[dict[str, str]], *, delimiter: str = ",", header: Iterable[str] | None = None
) -> str:
    buf = io.StringIO(newline="")
    cols = list(header or TEMPLATE_COLUMNS)
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    w.writerow(cols)
    for r in rows:
        w.writerow([r.get(c, "") for c in cols])
    return buf.getvalue()


def xlsx_bytes(sheets: dict[str, list[list[object]]]) -> bytes:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for r in rows:
            ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def template_grid(rows: Iterable[dict[str, str]]) -> list[list[object]]:
    return [list(TEMPLATE_COLUMNS), *[[r[c] for c in TEMPLATE_COLUMNS] for r in rows]]


# --- small cases (committed as files) ---------------------------------------------------------------


def latin1() -> bytes:
    """Excel's default 'CSV' on Windows: Windows-1252 with a pound sign and accents."""
    rows = [base_row(1, Narrative="Paid £20 at the café; señor and naïve"), base_row(2)]
    return csv_text(rows).encode("cp1252")


def utf8_one_bad_byte() -> bytes:
    """UTF-8 with accents, and one byte (0xFF, never valid UTF-8) in the middle of row 3."""
    rows = [base_row(i, Narrative=f"Café visit {i}, £{i}") for i in range(1, 5)]
    data = csv_text(rows).encode("utf-8")
    cut = data.index(b"Caf\xc3\xa9 visit 2") + 5
    return data[:cut] + b"\xff" + data[cut:]


def mixed_encodings() -> bytes:
    """Rows saved as UTF-8 followed by rows pasted in from a Windows-1252 file."""
    head = csv_text([base_row(1, Narrative="UTF-8 row: café £5")]).encode("utf-8")
    tail = csv_text([base_row(2, Narrative="1252 row: café £6")]).split("\r\n", 1)[1].encode("cp1252")
    return head + tail


def utf16_bom_tab() -> bytes:
    """Excel's 'Unicode text': UTF-16 little-endian with a BOM, tab-separated."""
    return b"\xff\xfe" + csv_text(
        [base_row(1, Narrative="Ünïcödé café"), base_row(2)], delimiter="\t"
    ).encode("utf-16-le")


def utf16_no_bom() -> bytes:
    return csv_text([base_row(1), base_row(2)], delimiter="\t").encode("utf-16-le")


def utf8_bom_semicolon() -> bytes:
    """Continental Excel: UTF-8 with a BOM, semicolons, decimal commas in coordinates."""
    rows = [base_row(1, Latitude="54,7761", Longitude="-1,5733"), base_row(2)]
    return b"\xef\xbb\xbf" + csv_text(rows, delimiter=";").encode("utf-8")


def tab_separated() -> bytes:
    return csv_text([base_row(1), base_row(2), base_row(3)], delimiter="\t").encode("utf-8")


def quoted_newlines() -> bytes:
    rows = [
        base_row(1, Narrative="Line one\nline two, with a comma\r\nline three"),
        base_row(2, Location='Behind the "Old" shops,\nnear the bus stop'),
        base_row(3),
    ]
    return csv_text(rows).encode("utf-8")


def unclosed_quote() -> bytes:
    """A stray opening quote in row 3 that never closes: the rest of the file would be one cell."""
    text = csv_text([base_row(1), base_row(2), base_row(3), base_row(4)])
    lines = text.split("\r\n")
    lines[2] = lines[2].replace("Synthetic narrative 2.", '"Synthetic narrative 2.')
    return "\r\n".join(lines).encode("utf-8")


def empty() -> bytes:
    return b""


def whitespace_only() -> bytes:
    return b"\r\n   \r\n\t\r\n"


def header_only() -> bytes:
    return csv_text([]).encode("utf-8")


def duplicate_columns() -> bytes:
    """'Postcode' twice, 'Narrative' twice: the first of each is used, the second named in a warning."""
    header = [*TEMPLATE_COLUMNS, "Postcode", "Narrative"]
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    for i in (1, 2):
        r = base_row(i, Postcode="DH1 1AB")
        w.writerow([r[c] for c in TEMPLATE_COLUMNS] + ["SR1 1AA", "second narrative"])
    return buf.getvalue().encode("utf-8")


def bad_coordinates() -> bytes:
    """NaN/inf/blank coordinates (missing), grid references in lat/long, out-of-range values.

    Rows 2-6 have no usable coordinates and no other location -> 'needs a location'.
    Row 7: lat/long hold an easting/northing -> moved across and located.
    Row 8: latitude out of range -> quarantined. Row 9: only a longitude -> quarantined.
    Row 10: 'nan' latitude but a postcode -> located by postcode.
    """
    none = {"Location": "", "Place type": ""}
    rows = [
        base_row(1, Latitude="nan", Longitude="nan", **none),
        base_row(2, Latitude="inf", Longitude="-inf", **none),
        base_row(3, Latitude="", Longitude="", **none),
        base_row(4, Latitude="N/A", Longitude="N/A", **none),
        base_row(5, Latitude="NaN", Longitude="Infinity", **none),
        base_row(6, Latitude=str(NORTHING), Longitude=str(EASTING)),
        base_row(7, Latitude="154.2"),
        base_row(8, Latitude="", Longitude="-1.57"),
        base_row(9, Latitude="nan", Longitude="nan", Postcode="DH1 1AB", **none),
    ]
    return csv_text(rows).encode("utf-8")


def implausible_dates() -> bytes:
    """Relative to the corpus 'today' of 2025-06-30: rows 2-4 are quarantined, row 5 is kept."""
    rows = [
        base_row(1, **{"Date observed": "01/07/2025", "Date received": ""}),  # tomorrow
        base_row(2, **{"Date observed": "31/12/1999", "Date received": ""}),  # before 2000
        base_row(3, **{"Date observed": "01/01/2999", "Date received": "01/01/1900"}),
        base_row(4, **{"Date observed": "01/01/2000", "Date received": "02/01/2000"}),  # earliest allowed
    ]
    return csv_text(rows).encode("utf-8")


def shared_place_names() -> bytes:
    """Generic place names that several gazetteer places share, narrowed by town, postcode district
    and place type to some but not all of them (an import once aborted on these), plus an exact unique
    name and a plausible name that does not exist.

    Rows 2, 3 and 5 fall back to their postcode district; rows 4 and 8 are quarantined; rows 6 and 7
    are located at their place.
    """
    none = {"Latitude": "", "Longitude": ""}
    car_park = {"Place name": "Parking area, Central", "Location": "Central", "Place type": "Car park"}
    rows = [
        base_row(1, Postcode="DL3", **car_park, **none),  # 8 share the name, 3 in DL3
        base_row(2, Postcode="DL1", **car_park, **none),  # 5 in DL1
        base_row(3, **{**car_park, "Location": "", "Place type": ""}, **none),
        base_row(
            4,
            Postcode="DL3",
            **{"Place name": "Shopping area, Central", "Location": "Central", "Place type": "Shop"},
            **none,
        ),
        base_row(5, **{"Place name": "Petrol station, Coundon", "Place type": ""}, **none),
        base_row(6, **{"Place name": "petrol STATION coundon", "Place type": "Car park"}, **none),
        base_row(7, **{"Place name": "Petrol station, Chilton", "Place type": ""}, **none),
    ]
    return csv_text(rows).encode("utf-8")


def payload_rows() -> list[dict[str, str]]:
    """Every payload in every template column, one per row (row i+2 for the i-th pair)."""
    out = []
    i = 0
    for col in TEMPLATE_COLUMNS:
        for p in PAYLOADS:
            out.append(base_row(1000 + i, **{col: p}))
            i += 1
    return out


def payloads() -> bytes:
    return csv_text(payload_rows()).encode("utf-8")


def notes_sheet_first() -> bytes:
    """A notes sheet (with text that is not a header) before the data sheet."""
    notes = [
        ["Synthetic sharing-form export"],
        ["Notes: dates are DD/MM/YYYY; do not edit the column headings."],
        [],
        ["Contact", "Synthetic partnership team"],
    ]
    return xlsx_bytes({"Notes": notes, "Reports": template_grid([base_row(1), base_row(2), base_row(3)])})


def truncated_xlsx() -> bytes:
    data = notes_sheet_first()
    return data[: len(data) // 2]


def csv_named_xlsx() -> bytes:
    return csv_text([base_row(1)]).encode("utf-8")


def random_bytes() -> bytes:
    return random.Random(20250630).randbytes(8192)


def random_bytes_no_nul() -> bytes:
    return bytes(b or 1 for b in random.Random(7).randbytes(8192))


def pk_garbage() -> bytes:
    """Starts like a zip but is not one."""
    return b"PK\x03\x04" + random.Random(3).randbytes(2000)


# --- generated at test time only -----------------------------------------------------------------------


def write_big_csv(path: Path, n_rows: int) -> Path:
    """``n_rows`` valid, distinct rows (a few megabytes per 10,000), written in one pass."""
    cols = list(TEMPLATE_COLUMNS)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\r\n")
        w.writerow(cols)
        for i in range(n_rows):
            r = base_row(i)
            w.writerow([r[c] for c in cols])
    return path


def long_field_csv(n_chars: int = 1_048_576) -> bytes:
    """One 1 MB narrative (with commas, quotes and newlines inside) between two ordinary rows."""
    unit = 'Synthetic, "quoted" text\nacross lines. '
    narrative = (unit * (n_chars // len(unit) + 1))[:n_chars]
    return csv_text([base_row(1), base_row(2, Narrative=narrative), base_row(3)]).encode("utf-8")


def zip_bomb_xlsx(unzipped_bytes: int = 400 * 1024 * 1024) -> bytes:
    """A valid-looking workbook whose sheet XML inflates to ``unzipped_bytes`` of whitespace.

    Streamed into the zip in 4 MB pieces, so building it never holds the inflated XML in memory.
    """
    base = zipfile.ZipFile(io.BytesIO(xlsx_bytes({"Reports": template_grid([base_row(1)])})))
    out = io.BytesIO()
    sheet = "xl/worksheets/sheet1.xml"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in base.infolist():
            if info.filename != sheet:
                z.writestr(info.filename, base.read(info.filename))
                continue
            xml = base.read(sheet)
            head, tail = xml.split(b"<sheetData>", 1)
            head += b"<sheetData>"
            piece = b" " * (4 * 1024 * 1024)
            with z.open(sheet, "w", force_zip64=True) as fh:
                fh.write(head)
                written = len(head) + len(tail)
                while written < unzipped_bytes:
                    chunk = piece[: unzipped_bytes - written]
                    fh.write(chunk)
                    written += len(chunk)
                fh.write(tail)
    return out.getvalue()


def forged_size_bomb_xlsx(real_bytes: int = 64 * 1024 * 1024, declared: int = 2000) -> bytes:
    """A bomb whose zip directory lies: the sheet claims ``declared`` bytes but inflates to more.

    Both the local header and the central directory entry are patched, as a hostile tool would.
    """
    data = bytearray(zip_bomb_xlsx(real_bytes))
    zf = zipfile.ZipFile(io.BytesIO(bytes(data)))
    info = zf.getinfo("xl/worksheets/sheet1.xml")
    name = info.filename.encode()
    # zipfile takes sizes from the central directory (the local header is only checked for the
    # name), so that is the entry to forge: uncompressed size at offset 24 of the entry.
    pos = zf.start_dir
    while True:
        pos = data.index(b"PK\x01\x02", pos)
        name_len = struct.unpack_from("<H", data, pos + 28)[0]
        if bytes(data[pos + 46 : pos + 46 + name_len]) == name:
            struct.pack_into("<I", data, pos + 24, declared)
            break
        pos += 4
    return bytes(data)


def far_cell_xlsx() -> bytes:
    """A tiny workbook with one stray value in the last cell a sheet can have (XFD1048576)."""
    base = zipfile.ZipFile(io.BytesIO(xlsx_bytes({"Reports": template_grid([base_row(1)])})))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in base.infolist():
            data = base.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(
                    b"</sheetData>", b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row></sheetData>'
                )
            z.writestr(info.filename, data)
    return out.getvalue()


def stale_dimension_xlsx(n_rows: int = 5) -> bytes:
    """A workbook whose <dimension> tag claims only the header and one row, above ``n_rows`` rows."""
    base = zipfile.ZipFile(
        io.BytesIO(xlsx_bytes({"Reports": template_grid([base_row(i) for i in range(n_rows)])}))
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in base.infolist():
            data = base.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                start = data.index(b"<dimension ref=")
                end = data.index(b"/>", start) + 2
                data = data[:start] + b'<dimension ref="A1:V2"/>' + data[end:]
            z.writestr(info.filename, data)
    return out.getvalue()


def entity_expansion_xlsx() -> bytes:
    """'Billion laughs': nested XML entities in the shared strings part."""
    base = zipfile.ZipFile(io.BytesIO(xlsx_bytes({"Reports": template_grid([base_row(1)])})))
    lol = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lolololololololololol">'
        + b"".join(
            f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
            for i in range(1, 10)
        )
        + b"]>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in base.infolist():
            data = base.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                body = data.split(b"?>", 1)[1] if data.startswith(b"<?xml") else data
                data = lol + body.replace(b"<t>Synthetic Youth Project</t>", b"<t>&lol9;</t>", 1)
            z.writestr(info.filename, data)
    return out.getvalue()


# --- oversized shapes: wide, many-sheeted and many-celled files (generated at test time only) ----------


def wide_header_csv(n_columns: int = 1_000_000) -> bytes:
    """A header of ``n_columns`` columns and one short row (about 9 MB for a million columns)."""
    header = ",".join(f"c{i}" for i in range(n_columns))
    return (header + "\r\n1,2,3\r\n").encode("ascii")


def ragged_wide_row_csv(n_fields: int = 100_000) -> bytes:
    """An ordinary template file whose second data row has ``n_fields`` cells."""
    text = csv_text([base_row(1), base_row(2), base_row(3)])
    lines = text.split("\r\n")
    lines[2] = ",".join(["x"] * n_fields)
    return "\r\n".join(lines).encode("utf-8")


def _workbook_with_sheets(sheet_xml: list[bytes]) -> bytes:
    """A minimal valid workbook (as Excel writes it) with one worksheet part per XML document."""
    n = len(sheet_xml)
    content_types = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        + "".join(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            for i in range(1, n + 1)
        )
        + "</Types>"
    )
    root_rels = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    )
    workbook = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
        + "".join(f'<sheet name="Sheet {i}" sheetId="{i}" r:id="rId{i}"/>' for i in range(1, n + 1))
        + "</sheets></workbook>"
    )
    workbook_rels = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        + "".join(
            f'<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            f'relationships/worksheet" Target="worksheets/sheet{i}.xml"/>'
            for i in range(1, n + 1)
        )
        + "</Relationships>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("[Content_Types].xml", content_types)
        z.writestr("_rels/.rels", root_rels)
        z.writestr("xl/workbook.xml", workbook)
        z.writestr("xl/_rels/workbook.xml.rels", workbook_rels)
        for i, xml in enumerate(sheet_xml, start=1):
            z.writestr(f"xl/worksheets/sheet{i}.xml", xml)
    return out.getvalue()


def _column_letters(n: int) -> str:
    letters = ""
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _sheet_xml(rows: list[list[str]], dimension: str | None) -> bytes:
    """Worksheet XML with inline strings; ``dimension`` None leaves the tag out."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    ]
    if dimension:
        parts.append(f'<dimension ref="{dimension}"/>')
    parts.append("<sheetData>")
    for r, cells in enumerate(rows, start=1):
        parts.append(f'<row r="{r}">')
        parts.extend(
            f'<c r="{_column_letters(c)}{r}" t="inlineStr"><is><t>{v}</t></is></c>'
            for c, v in enumerate(cells, start=1)
        )
        parts.append("</row>")
    parts.append("</sheetData></worksheet>")
    return "".join(parts).encode("utf-8")


def many_sheets_xlsx(n_sheets: int = 100, sheet_bytes: int = 1_000_000) -> bytes:
    """``n_sheets`` worksheets of about ``sheet_bytes`` of XML each (just under 1 MiB), no header."""
    row = [f"synthetic filler {i}" for i in range(20)]
    one_row = len(_sheet_xml([row], None)) - len(_sheet_xml([], None))
    rows = [row] * max(1, sheet_bytes // one_row)
    xml = _sheet_xml(rows, f"A1:T{len(rows)}")
    return _workbook_with_sheets([xml] * n_sheets)


def million_cell_xlsx(n_rows: int = 1_000, n_columns: int = 1_000, *, dimension: bool = True) -> bytes:
    """One sheet of ``n_rows`` x ``n_columns`` short cells (a million by default).

    With ``dimension`` False the <dimension> tag is missing, so only reading the rows can tell.
    """
    rows = [[f"{c % 10}" for c in range(n_columns)] for _ in range(n_rows)]
    ref = f"A1:{_column_letters(n_columns)}{n_rows}" if dimension else None
    return _workbook_with_sheets([_sheet_xml(rows, ref)])


@dataclass(frozen=True)
class Fixture:
    filename: str
    build: Callable[[], bytes]


# Committed under tests/hostile/ (each is a few kilobytes at most).
FIXTURES: tuple[Fixture, ...] = (
    Fixture("latin1.csv", latin1),
    Fixture("utf8_one_bad_byte.csv", utf8_one_bad_byte),
    Fixture("mixed_encodings.csv", mixed_encodings),
    Fixture("utf16_bom_tab.txt", utf16_bom_tab),
    Fixture("utf16_no_bom.txt", utf16_no_bom),
    Fixture("utf8_bom_semicolon.csv", utf8_bom_semicolon),
    Fixture("tab_separated.tsv", tab_separated),
    Fixture("quoted_newlines.csv", quoted_newlines),
    Fixture("unclosed_quote.csv", unclosed_quote),
    Fixture("empty.csv", empty),
    Fixture("whitespace_only.csv", whitespace_only),
    Fixture("header_only.csv", header_only),
    Fixture("duplicate_columns.csv", duplicate_columns),
    Fixture("bad_coordinates.csv", bad_coordinates),
    Fixture("implausible_dates.csv", implausible_dates),
    Fixture("shared_place_names.csv", shared_place_names),
    Fixture("payloads.csv", payloads),
    Fixture("notes_sheet_first.xlsx", notes_sheet_first),
    Fixture("truncated.xlsx", truncated_xlsx),
    Fixture("csv_named.xlsx", csv_named_xlsx),
    Fixture("random_bytes.csv", random_bytes),
    Fixture("random_bytes_no_nul.csv", random_bytes_no_nul),
    Fixture("pk_garbage.xlsx", pk_garbage),
    Fixture("far_cell.xlsx", far_cell_xlsx),
    Fixture("stale_dimension.xlsx", stale_dimension_xlsx),
    Fixture("entity_expansion.xlsx", entity_expansion_xlsx),
)


def write_fixtures(folder: Path = HERE) -> None:
    for f in FIXTURES:
        (folder / f.filename).write_bytes(f.build())


if __name__ == "__main__":
    write_fixtures()
    print(f"wrote {len(FIXTURES)} fixtures to {HERE}")
