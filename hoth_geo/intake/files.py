"""Reading shared files: the I/O edge of an import.

``read_table`` reads a CSV (UTF-8, UTF-8 with BOM, Windows-1252, UTF-16) or an XLSX workbook and returns
every cell as text, so nothing is guessed before the normalisers see it. Hostile files (zip bombs,
oversized sheets, binary data, unclosed quotes) are refused with ``ImportRefused`` naming the
problem and where it is.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import threading
import zipfile
from collections.abc import Callable
from datetime import date, datetime, time
from pathlib import Path
from typing import BinaryIO

import pandas as pd

from hoth_geo import errors
from hoth_geo.intake.headers import POLICEUK_KEYS, header_key, map_columns

__all__ = [
    "ImportRefused",
    "MAX_COLUMNS",
    "MAX_HEADER_CHARS",
    "MAX_XLSX_CELLS",
    "MAX_XLSX_SHEETS",
    "MAX_XLSX_UNZIPPED_BYTES",
    "MAX_ZIP_MEMBERS",
    "MAX_ZIP_RATIO",
    "read_table",
    "safe_filename",
    "BINARY_BYTES",
    "BINARY_SAMPLE",
    "utf16_without_bom",
    "header_line",
    "check_csv_header",
]


# XLSX is a zip: a few hundred kilobytes can inflate to gigabytes ("zip bomb"). The zip directory
# is checked before anything is decompressed. A 200,000-row sharing-form workbook written with
# inline strings is about 240 MB of sheet XML at a ratio near 14:1 (measured on the test corpus);
# deflate cannot exceed about 1,030:1, which is what a bomb uses.
MAX_XLSX_UNZIPPED_BYTES = 512 * 1024 * 1024


MAX_ZIP_RATIO = 200  # applied to members over _ZIP_RATIO_FLOOR bytes only


_ZIP_RATIO_FLOOR = 1024 * 1024  # small parts (styles, themes) compress very well and are harmless


MAX_ZIP_MEMBERS = 10_000


# Cells in the grid read from one sheet (rows x columns used), which bounds memory whatever the
# sheet's XML claims: a single value in cell XFD1048576 would otherwise mean 17 billion cells.
MAX_XLSX_CELLS = 12_000_000


# Columns in one file (CSV header or record, or XLSX row). The sharing-form template has 22 and a
# police.uk file 12; a partner's own export with extra columns has a few dozen. A million-column
# header used to be accepted after minutes of parsing and gigabytes of memory.
MAX_COLUMNS = 500


# Characters before the end of a CSV header record: 500 columns of long names fit many times over.
# Checked on the raw text, before any parser builds cells from it.
MAX_HEADER_CHARS = 100_000


# Worksheets in one workbook. Each sheet without a recognisable header is scanned (first rows only)
# before the next: a workbook of hundreds of sheets is refused from its directory instead.
MAX_XLSX_SHEETS = 50


# The whole file cannot be imported (defined with the other errors people act on).
ImportRefused = errors.ImportRefused


_XLSX_SUFFIXES = (".xlsx", ".xlsm")


_HEADER_SCAN_ROWS = 20  # title rows above the header are common in exported workbooks


def read_table(
    source: str | Path | bytes | BinaryIO,
    filename: str | None = None,
    *,
    max_bytes: int | None = None,
) -> pd.DataFrame:
    """Read a CSV or XLSX file into a frame of strings (no type inference: '' stays '', 'NA' stays text).

    ``frame.attrs`` carries what later stages need to know about the file: ``filename``,
    ``format`` ('csv' / 'xlsx'), ``delimiter``, ``encoding``, ``sheet``, ``header_row`` (the
    1-based spreadsheet row of the header) and ``warnings`` (e.g. duplicate headers ignored).
    Raises ``ImportRefused`` when the file cannot be read at all.
    """
    data, name = _load_bytes(source, filename, max_bytes)
    if not data.strip():
        raise ImportRefused(f'file "{name}" is empty')
    lower = name.lower()
    if data[:4] == b"PK\x03\x04" or lower.endswith(_XLSX_SUFFIXES):
        if data[:4] != b"PK\x03\x04":
            # The exact wording is relied on by callers; a CSV renamed .xlsx lands here too.
            raise ImportRefused(f'file "{name}" is not a valid XLSX workbook')
        return _read_xlsx(data, name)
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" or lower.endswith(".xls"):
        raise ImportRefused(
            f'file "{name}" is an old-style Excel .xls workbook; save it as .xlsx or CSV and try again'
        )
    return _read_csv(data, name)


def _load_bytes(
    source: str | Path | bytes | BinaryIO, filename: str | None, max_bytes: int | None
) -> tuple[bytes, str]:
    if isinstance(source, bytes | bytearray | memoryview):
        name = safe_filename(filename)
        data = bytes(source)
    elif isinstance(source, str | Path):
        path = Path(source)
        name = safe_filename(filename or path.name)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise ImportRefused(f'file "{name}" cannot be opened: {exc.strerror or exc}') from exc
        if max_bytes is not None and size > max_bytes:
            raise ImportRefused(_too_big(name, size, max_bytes))
        data = path.read_bytes()
    else:
        name = safe_filename(filename or getattr(source, "name", None))
        # Read one byte past the limit so an oversized stream is refused without loading it all.
        data = source.read() if max_bytes is None else source.read(max_bytes + 1)
        if isinstance(data, str):
            data = data.encode("utf-8")
    if max_bytes is not None and len(data) > max_bytes:
        raise ImportRefused(_too_big(name, len(data), max_bytes))
    return data, name


_UNSAFE_NAME_CHARS = re.compile(r"[\x00-\x1f\x7f]")


_MAX_NAME_CHARS = 200


def safe_filename(name: object) -> str:
    """The name to show and store for an uploaded file: its last path component only.

    The name comes from the uploader (a browser, a command line) and is data, not a path: both
    '/' and '\\' separators are cut away ('../../etc/passwd.csv' -> 'passwd.csv',
    '..\\..\\x.xlsx' -> 'x.xlsx'), control characters are dropped and the length is capped, so
    the result can never name a file outside wherever a caller might put it and never breaks a
    log line. Nothing in hoth-geo writes files under this name; this is defence in depth.
    """
    text = _UNSAFE_NAME_CHARS.sub("", str(name or ""))
    text = re.split(r"[/\\]", text)[-1].strip()
    if text in ("", ".", ".."):
        return "upload"
    return text[:_MAX_NAME_CHARS]


def _too_big(name: str, size: int, limit: int) -> str:
    return f'file "{name}" is larger than the {limit / 1e6:.1f} MB limit ({size / 1e6:.1f} MB or more)'


# One character per byte for bytes that are not UTF-8: Windows-1252 where it defines the byte,
# Latin-1 for the five bytes it leaves undefined, so no byte is ever lost.
_CP1252_TABLE = [bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in range(256)]


_mixed_bytes = threading.local()


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    _mixed_bytes.spans.append((exc.start, exc.end))
    return "".join(_CP1252_TABLE[b] for b in exc.object[exc.start : exc.end]), exc.end


def _latin1_fallback(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return "".join(chr(b) for b in exc.object[exc.start : exc.end]), exc.end


codecs.register_error("hoth_geo_cp1252", _cp1252_fallback)


codecs.register_error("hoth_geo_latin1", _latin1_fallback)


# Bytes that never occur in text: C0 controls other than tab, line feed, form feed and carriage
# return. Random or binary data has about one in ten; a text file essentially none.
BINARY_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13))


BINARY_SAMPLE = 65_536


def utf16_without_bom(sample: bytes) -> str | None:
    """'utf-16-le' / 'utf-16-be' when the sample looks like mostly-ASCII UTF-16 with no BOM
    (every other byte NUL), else None."""
    sample = sample[: len(sample) - len(sample) % 2]
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
        return "utf-16-be"
    return None


def _line_numbers(data: bytes, positions: list[int], limit: int = 10) -> str:
    lines = [data.count(b"\n", 0, p) + 1 for p in positions[:limit]]
    shown = ", ".join(str(n) for n in dict.fromkeys(lines))
    return shown + (" and others" if len(positions) > limit else "")


def _decode(data: bytes, name: str) -> tuple[str, str, list[str]]:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        # Excel's "Unicode text" export is UTF-16 with a BOM (and tab-separated).
        try:
            return data.decode("utf-16"), "utf-16", []
        except UnicodeDecodeError as exc:
            raise ImportRefused(f'file "{name}" is not valid UTF-16 text') from exc
    sample = data[:BINARY_SAMPLE]
    utf16 = utf16_without_bom(sample)
    if utf16 is not None:
        try:
            return data.decode(utf16), utf16, []
        except UnicodeDecodeError as exc:
            raise ImportRefused(f'file "{name}" is not valid UTF-16 text') from exc
    if b"\x00" in sample or len(sample.translate(None, BINARY_BYTES)) < 0.98 * len(sample):
        raise ImportRefused(f'file "{name}" is not a text (CSV) file or an XLSX workbook')
    try:
        return data.decode("utf-8-sig"), "utf-8", []
    except UnicodeDecodeError:
        pass
    # Not valid UTF-8. Either the whole file is Windows-1252 (Excel's default "CSV"), or it is
    # UTF-8 with a few foreign bytes: rows pasted in from a Windows-1252 file, or one corrupted
    # byte. Reading the whole of the second kind as Windows-1252 would silently turn every 'é' of
    # the UTF-8 rows into 'Ã©', so each undecodable byte is read as Windows-1252 on its own and
    # the rest stays UTF-8. A file with no valid UTF-8 multi-byte character at all is the first kind.
    _mixed_bytes.spans = spans = []
    try:
        text = data.decode("utf-8-sig", errors="hoth_geo_cp1252")
    finally:
        del _mixed_bytes.spans
    # Every undecodable byte is >= 0x80 and became one non-ASCII character; any other non-ASCII
    # character came from a valid UTF-8 sequence.
    n_foreign = sum(end - start for start, end in spans)
    n_non_ascii = len(text) - len(text.encode("ascii", errors="ignore"))
    if n_non_ascii > n_foreign:
        return (
            text,
            "utf-8+cp1252",
            [
                f'file "{name}" is UTF-8 except for {n_foreign} byte(s) on line(s) '
                f"{_line_numbers(data, [start for start, _ in spans])}; those were read as "
                "Windows-1252: check those rows"
            ],
        )
    text = data.decode("cp1252", errors="hoth_geo_latin1")
    return text, "cp1252", [f'file "{name}" is not UTF-8; read it as Windows-1252 (Excel\'s default)']


def header_line(text: str) -> str:
    """The first record's text, following quoted newlines so a quoted header cell can't split it."""
    in_quote = False
    for i, ch in enumerate(text):
        if ch == '"':
            in_quote = not in_quote
        elif ch in "\r\n" and not in_quote:
            if text[:i].strip():
                return text[:i]
    return text


def check_csv_header(text: str, name: str, header_row: int) -> str:
    """The header record's delimiter, refusing a header too long or too wide before any parser runs.

    Only the first MAX_HEADER_CHARS + 1 characters are scanned, so a header of a million columns
    costs milliseconds to refuse instead of minutes and gigabytes to parse.
    """
    header = header_line(text[: MAX_HEADER_CHARS + 1])
    if len(header) > MAX_HEADER_CHARS:
        end = text.find("\n")
        end = len(text) if end < 0 else end
        delimiter = _sniff_delimiter(header)
        raise ImportRefused(
            f'file "{name}" row {header_row}: the header row is {end:,} characters long with about '
            f"{text.count(delimiter, 0, end) + 1:,} columns, over the limits of {MAX_HEADER_CHARS:,} "
            f"characters and {MAX_COLUMNS:,} columns; nothing was imported. Delete the unused columns "
            "and try again"
        )
    delimiter = _sniff_delimiter(header)
    width = len(next(csv.reader([header], delimiter=delimiter), []))
    if width > MAX_COLUMNS:
        raise ImportRefused(_too_many_columns(name, f"row {header_row} (the header)", width))
    return delimiter


def _too_many_columns(name: str, where: str, width: int) -> str:
    return (
        f'file "{name}" {where} has {width:,} columns, over the limit of {MAX_COLUMNS:,}; nothing was '
        "imported. Delete the unused columns and try again"
    )


def _sniff_delimiter(header: str) -> str:
    counts = {d: 0 for d in (",", ";", "\t")}
    in_quote = False
    for ch in header:
        if ch == '"':
            in_quote = not in_quote
        elif not in_quote and ch in counts:
            counts[ch] += 1
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _read_csv(data: bytes, name: str) -> pd.DataFrame:
    text, encoding, warnings = _decode(data, name)
    if not text.strip():
        raise ImportRefused(f'file "{name}" is empty')
    # Leading blank lines are skipped, and the header row number moves with them.
    lead = len(text) - len(text.lstrip("\r\n \t"))
    header_row = 1 + text[:lead].count("\n")
    text = text[lead:]
    delimiter = check_csv_header(text, name, header_row)
    grid = _read_rectangular(text, delimiter)
    if grid is not None and len(grid) and any("\n" in str(v) for v in grid.iloc[-1].tolist()):
        # Arrow accepts a quote that is never closed and reads the rest of the file into one
        # cell, which would silently swallow every later row. A line break in the last record
        # is the only trace; the C parser then says whether the quote really runs to the end.
        _refuse_unclosed_quote(text, delimiter, name, header_row)
    if grid is not None:
        return _finish_grid(
            grid,
            name,
            header_row,
            {"format": "csv", "delimiter": delimiter, "encoding": encoding, "sheet": None},
            warnings,
        )
    try:
        grid = pd.read_csv(
            io.StringIO(text),
            sep=delimiter,
            header=None,
            dtype=object,
            na_filter=False,
            keep_default_na=False,
            skip_blank_lines=False,  # blank lines still count as spreadsheet rows
            quotechar='"',
            doublequote=True,
            engine="c",
        )
    except pd.errors.EmptyDataError as exc:
        raise ImportRefused(f'file "{name}" is empty') from exc
    except pd.errors.ParserError as exc:
        _refuse_if_unclosed_quote(exc, name, header_row)
        # Ragged rows (more cells than the header) defeat the C parser; the csv module pads them.
        grid = _read_ragged(text, delimiter, name, header_row)
    return _finish_grid(
        grid,
        name,
        header_row,
        {"format": "csv", "delimiter": delimiter, "encoding": encoding, "sheet": None},
        warnings,
    )


_EOF_IN_QUOTE = re.compile(r"EOF inside string starting at row (\d+)")


def _refuse_if_unclosed_quote(exc: Exception, name: str, header_row: int) -> None:
    m = _EOF_IN_QUOTE.search(str(exc))
    if m is None:
        return
    # The C parser counts records from 0 (the header), which is how rows are numbered here too.
    row = header_row + int(m.group(1))
    raise ImportRefused(
        f'file "{name}" row {row}: a cell opens with a double quote (") that is never closed, so '
        "every later row would be read into that one cell; nothing was imported. Close the quote "
        "or remove it and try again"
    ) from exc


def _refuse_unclosed_quote(text: str, delimiter: str, name: str, header_row: int) -> None:
    try:
        pd.read_csv(
            io.StringIO(text),
            sep=delimiter,
            header=None,
            dtype=object,
            na_filter=False,
            skip_blank_lines=False,
            quotechar='"',
            doublequote=True,
            engine="c",
        )
    except pd.errors.ParserError as exc:
        _refuse_if_unclosed_quote(exc, name, header_row)


def _read_rectangular(text: str, delimiter: str) -> pd.DataFrame | None:
    """Fast path: Arrow's CSV reader (about twice pandas' C parser here), for the usual file in
    which every record has the header's number of cells. Anything else (an interior blank line,
    a ragged row) returns None and the slower readers, which keep such rows, take over."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    # Blank lines after the last record are padding, not rows; Arrow would call them ragged.
    body = text.rstrip("\r\n") + "\n"
    width = len(next(csv.reader([header_line(body)], delimiter=delimiter), []))
    try:
        table = pacsv.read_csv(
            io.BytesIO(body.encode("utf-8", "surrogatepass")),
            read_options=pacsv.ReadOptions(autogenerate_column_names=True, use_threads=True),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter,
                quote_char='"',
                double_quote=True,
                newlines_in_values=True,
                ignore_empty_lines=False,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={f"f{i}": pa.string() for i in range(width)},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, UnicodeError):
        return None
    if table.num_columns != width:
        return None
    return pd.DataFrame(
        {i: pd.Series(table.column(i).to_numpy(zero_copy_only=False), dtype=object) for i in range(width)}
    )


def _read_ragged(text: str, delimiter: str, name: str, header_row: int) -> pd.DataFrame:
    records: list[list[str]] = []
    try:
        for record in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False):
            # A record far wider than the header would be padded into every other row.
            if len(record) > MAX_COLUMNS:
                raise ImportRefused(_too_many_columns(name, f"row {header_row + len(records)}", len(record)))
            records.append(record)
    except csv.Error as exc:
        raise ImportRefused(f'file "{name}" is not a readable CSV file: {exc}') from exc
    width = max((len(r) for r in records), default=0)
    return pd.DataFrame([r + [""] * (width - len(r)) for r in records], dtype=object)


def _finish_grid(
    grid: pd.DataFrame, name: str, header_row: int, attrs: dict, warnings: list[str]
) -> pd.DataFrame:
    """Turn a header-less grid of cells into the named frame read_table returns."""
    grid = grid.fillna("")
    if grid.empty:
        raise ImportRefused(f'file "{name}" is empty')
    header = [str(h).strip() for h in grid.iloc[0].tolist()]
    body = grid.iloc[1:]
    # Trailing all-blank lines are padding, not rows; interior blank rows are kept and reported.
    last = len(body)
    while last > 0 and all(str(v).strip() == "" for v in body.iloc[last - 1].tolist()):
        last -= 1
    body = body.iloc[:last]
    keep: list[int] = []
    names: list[str] = []
    seen: dict[str, int] = {}
    ignored: list[str] = []
    for i, h in enumerate(header):
        col = body.iloc[:, i]
        if not h:
            if not any(str(v).strip() for v in col.tolist()):
                continue  # an unnamed, empty column (trailing delimiter) carries nothing
            h = f"Column {i + 1}"
        if h in seen:
            ignored.append(h)
            continue
        seen[h] = i
        keep.append(i)
        names.append(h)
    if ignored:
        warnings.append(
            "duplicate column headers ignored (the first of each was used): "
            + ", ".join(f'"{h}"' for h in dict.fromkeys(ignored))
        )
    # Object columns of Python str: pandas 3 would otherwise choose its Arrow string dtype.
    frame = pd.DataFrame(
        {
            n: pd.Series(body.iloc[:, i].to_numpy(dtype=object), dtype=object)
            for n, i in zip(names, keep, strict=True)
        },
        columns=names,
    )
    frame.index = pd.RangeIndex(len(frame))
    frame.attrs.update(attrs)
    frame.attrs.update({"filename": name, "header_row": header_row, "warnings": warnings})
    return frame


def _cell_text(value: object) -> str:
    """An XLSX cell as the text the parsers understand (ISO for dates, no float noise)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):
        if value.hour == value.minute == value.second == value.microsecond == 0:
            return value.strftime("%Y-%m-%d")
        return value.strftime("%Y-%m-%dT%H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M:%S")
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return ""
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value)


def _check_zip_directory(data: bytes, name: str) -> None:
    """Refuse a workbook whose parts would inflate past the limits, before inflating any of them.

    The sizes come from the zip's central directory. A forged directory cannot understate a
    part's size to slip past: Python's zipfile (which openpyxl reads through) stops at the
    declared size and the CRC check then fails, so the workbook is refused as damaged.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise ImportRefused(f'file "{name}" is not a valid XLSX workbook (damaged or truncated)') from exc
    if len(members) > MAX_ZIP_MEMBERS:
        raise ImportRefused(
            f'file "{name}" is not a plausible XLSX workbook: it holds {len(members):,} parts '
            f"(limit {MAX_ZIP_MEMBERS:,})"
        )
    total = sum(m.file_size for m in members)
    if total > MAX_XLSX_UNZIPPED_BYTES:
        raise ImportRefused(
            f'file "{name}" would unpack to {total / 1e6:,.0f} MB, over the {MAX_XLSX_UNZIPPED_BYTES / 1e6:,.0f} MB '
            "limit for workbooks; nothing was imported. Split it into smaller files or save it as CSV"
        )
    for m in members:
        ratio = m.file_size / max(m.compress_size, 1)
        if m.file_size > _ZIP_RATIO_FLOOR and ratio > MAX_ZIP_RATIO:
            raise ImportRefused(
                f'file "{name}" looks like a zip bomb: its part "{safe_filename(m.filename)}" would unpack '
                f"from {m.compress_size:,} bytes to {m.file_size:,} bytes ({ratio:,.0f} times, limit "
                f"{MAX_ZIP_RATIO:,}); nothing was imported"
            )
    sheets = [m for m in members if _WORKSHEET_PART.fullmatch(m.filename)]
    if len(sheets) > MAX_XLSX_SHEETS:
        raise ImportRefused(
            f'file "{name}" has {len(sheets):,} worksheets, over the limit of {MAX_XLSX_SHEETS:,}; nothing '
            "was imported. Copy the sheet with the reports into a workbook of its own and try again"
        )
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        titles = _sheet_titles(zf)
        for m in sheets:
            _check_declared_dimension(zf, m, titles.get(m.filename, m.filename), name)


# Worksheet parts as Excel and LibreOffice name them (the workbook's relationships decide, but no
# writer puts worksheets anywhere else).
_WORKSHEET_PART = re.compile(r"xl/worksheets/[^/]+\.xml", re.IGNORECASE)


_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\s+ref=\"([A-Z]{1,3})?(\d+)?(?::([A-Z]{1,3})(\d+))?\"")


_SHEET_TAG = re.compile(rb"<(?:\w+:)?sheet\b[^>]*>")


_ATTR = re.compile(rb'([\w:]+)="([^"]*)"')


_DIMENSION_SCAN_BYTES = 4096  # the tag comes first in a sheet, after the XML declaration


def _column_number(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ord(ch) - 64)
    return n


def _sheet_titles(zf: zipfile.ZipFile) -> dict[str, str]:
    """Worksheet part name -> sheet title, best effort (messages only), without an XML parser.

    The workbook and its relationships are small parts, read with a size cap; an entity bomb in
    them is never expanded because nothing here interprets entities.
    """
    try:
        workbook = zf.open("xl/workbook.xml").read(1_000_000)
        rels = zf.open("xl/_rels/workbook.xml.rels").read(1_000_000)
    except (KeyError, zipfile.BadZipFile, OSError, EOFError):
        return {}
    targets = {}
    for tag in re.findall(rb"<(?:\w+:)?Relationship\b[^>]*>", rels):
        attrs = dict(_ATTR.findall(tag))
        target = attrs.get(b"Target", b"").decode("utf-8", "replace").lstrip("/")
        targets[attrs.get(b"Id", b"")] = target if target.startswith("xl/") else "xl/" + target
    titles = {}
    for tag in _SHEET_TAG.findall(workbook):
        attrs = dict(_ATTR.findall(tag))
        rid = next((v for k, v in attrs.items() if k.endswith(b":id")), b"")
        if rid in targets:
            titles[targets[rid]] = attrs.get(b"name", b"").decode("utf-8", "replace")
    return titles


def _check_declared_dimension(zf: zipfile.ZipFile, member: zipfile.ZipInfo, title: str, name: str) -> None:
    """Refuse a sheet whose own <dimension> declares more columns or cells than the limits.

    Only the first few kilobytes are inflated. A missing or stale tag proves nothing either way
    (rows are then counted while the sheet is read), but a tag claiming a million cells is believed.
    """
    try:
        with zf.open(member) as fh:
            head = fh.read(_DIMENSION_SCAN_BYTES)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise ImportRefused(f'file "{name}" is not a valid XLSX workbook (damaged or truncated)') from exc
    m = _DIMENSION.search(head)
    if m is None or m.group(3) is None:
        return
    first_col, first_row = _column_number((m.group(1) or b"A").decode()), int(m.group(2) or 1)
    width = _column_number(m.group(3).decode()) - first_col + 1
    height = int(m.group(4)) - first_row + 1
    ref = m.group(0).split(b'"')[1].decode()
    if width > MAX_COLUMNS:
        raise ImportRefused(
            f'file "{name}" sheet "{safe_filename(title)}" declares {width:,} columns ({ref}), over the '
            f"limit of {MAX_COLUMNS:,}; nothing was imported. Delete the unused columns and try again"
        )
    if width * height > MAX_XLSX_CELLS:
        raise ImportRefused(
            f'file "{name}" sheet "{safe_filename(title)}" is too large to import: it declares '
            f"{width * height:,} cells ({ref}), more than {MAX_XLSX_CELLS:,} cells (rows x columns); "
            "nothing was imported. Delete stray cells far below or to the right of the data, or split the file"
        )


def _iter_sheet_rows(ws, name: str):
    """A worksheet's rows as text, trailing blank cells trimmed, refusing a row wider than
    MAX_COLUMNS or a sheet over MAX_XLSX_CELLS as soon as it gets there.

    The sheet's own <dimension> tag is ignored: openpyxl would stop at the rows it declares, and
    some exporters write a stale one, which silently dropped the rows below it.
    """
    ws.reset_dimensions()
    width = 0
    for n, r in enumerate(ws.iter_rows(values_only=True), start=1):
        cells = [_cell_text(v) for v in r] if r else []
        while cells and not cells[-1].strip():
            cells.pop()
        if len(cells) > MAX_COLUMNS:
            raise ImportRefused(_too_many_columns(name, f'sheet "{ws.title}" row {n:,}', len(cells)))
        width = max(width, len(cells))
        # Blank rows are cheap here but are padded to the sheet's width later: count them too.
        if n * width > MAX_XLSX_CELLS:
            raise ImportRefused(
                f'file "{name}" sheet "{ws.title}" is too large to import: more than '
                f"{MAX_XLSX_CELLS:,} cells (rows x columns) by row {n:,}; nothing was imported. "
                "If the data is smaller, delete stray cells far below or to the right of it; "
                "otherwise split the file"
            )
        yield cells


def _sheet_rows(ws, name: str) -> list[list[str]]:
    rows = list(_iter_sheet_rows(ws, name))
    while rows and not rows[-1]:
        rows.pop()
    return rows


# Leading blank rows scanned for the first filled one before a sheet counts as having no data.
_MAX_LEADING_BLANK_ROWS = 10_000


def _find_header(ws, name: str) -> tuple[int | None, int | None]:
    """(first filled row, header row), 0-based, reading only the sheet's first rows.

    Sheets without a recognisable header are passed over after this short scan, so a workbook of
    many large sheets costs a few rows each, not a full parse each.
    """
    first_filled = None
    for i, cells in enumerate(_iter_sheet_rows(ws, name)):
        if first_filled is None:
            if not any(c.strip() for c in cells):
                if i >= _MAX_LEADING_BLANK_ROWS:
                    break
                continue
            first_filled = i
        if i >= first_filled + _HEADER_SCAN_ROWS:
            break
        if _looks_like_header(cells):
            return first_filled, i
    return first_filled, None


def _read_sheet(ws, name: str, scan: Callable):
    try:
        return scan(ws, name)
    except ImportRefused:
        raise
    except Exception as exc:  # damaged sheet XML, a CRC failure, an XML bomb...
        raise ImportRefused(
            f'file "{name}" sheet "{ws.title}" cannot be read ({type(exc).__name__}); the workbook is damaged'
        ) from exc


_WORKBOOK_LOAD_LOCK = threading.Lock()


def _load_workbook_without_size_scan(openpyxl, data: bytes):
    """openpyxl's read-only workbook, minus its look for each sheet's <dimension> tag.

    When a sheet has no such tag, openpyxl parses the whole sheet to find that out (seconds for a
    million cells, before any limit here can act). The size it finds is thrown away anyway
    (``reset_dimensions`` in ``_iter_sheet_rows``), so the sheets are opened without the scan.
    """
    from openpyxl.reader import excel
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet

    class _UnsizedSheet(ReadOnlyWorksheet):
        def _get_size(self) -> None:
            return None

    with _WORKBOOK_LOAD_LOCK:
        original = excel.ReadOnlyWorksheet
        excel.ReadOnlyWorksheet = _UnsizedSheet
        try:
            return openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
        finally:
            excel.ReadOnlyWorksheet = original


def _read_xlsx(data: bytes, name: str) -> pd.DataFrame:
    import openpyxl  # only XLSX imports pay for it

    _check_zip_directory(data, name)
    try:
        # data_only=False: a formula comes back as its own text and is never evaluated here.
        wb = _load_workbook_without_size_scan(openpyxl, data)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as exc:
        raise ImportRefused(f'file "{name}" is not a valid XLSX workbook') from exc
    except Exception as exc:  # openpyxl raises a zoo of types on damaged workbooks
        raise ImportRefused(f'file "{name}" is not a valid XLSX workbook ({type(exc).__name__})') from exc
    try:
        if len(wb.worksheets) > MAX_XLSX_SHEETS:  # the directory check counts parts; this counts sheets
            raise ImportRefused(
                f'file "{name}" has {len(wb.worksheets):,} worksheets, over the limit of {MAX_XLSX_SHEETS:,}; '
                "nothing was imported. Copy the sheet with the reports into a workbook of its own and try again"
            )
        fallback = None
        for ws in wb.worksheets:
            first_filled, header = _read_sheet(ws, name, _find_header)
            if first_filled is None:
                continue
            if header is not None:
                return _xlsx_frame(_read_sheet(ws, name, _sheet_rows), header, ws.title, name)
            if fallback is None:
                fallback = (ws, first_filled)
        if fallback is None:
            raise ImportRefused(f'file "{name}" is empty')
        # No sheet has a header we recognise: hand back the first non-empty one so the
        # normaliser can refuse it with a message that lists the headers it did find.
        ws, first_filled = fallback
        return _xlsx_frame(_read_sheet(ws, name, _sheet_rows), first_filled, ws.title, name)
    finally:
        wb.close()


def _xlsx_frame(rows: list[list[str]], header_index: int, sheet: str, name: str) -> pd.DataFrame:
    block = rows[header_index:]
    width = max(len(r) for r in block)
    grid = pd.DataFrame([r + [""] * (width - len(r)) for r in block], dtype=object)
    return _finish_grid(
        grid,
        name,
        header_index + 1,
        {"format": "xlsx", "delimiter": None, "encoding": None, "sheet": sheet},
        [],
    )


def _looks_like_header(cells: list[str]) -> bool:
    keys = {header_key(c) for c in cells if c.strip()}
    if POLICEUK_KEYS <= keys:
        return True
    return len(map_columns(c for c in cells if c.strip())) >= 2
