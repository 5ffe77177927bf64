"""Read partnership information-sharing exports and police.uk street files into canonical frames.

Two entry points do the work, both pure (DataFrame in, ``IngestResult`` out):

* ``normalise_sharing_form`` turns a sharing-form export into ``schema.CANONICAL_COLUMNS`` rows;
* ``normalise_policeuk`` turns a police.uk street-level CSV into a separate *context* frame
  (``POLICEUK_COLUMNS``) that is never mixed with partnership reports.

``read_table`` is the I/O edge (CSV in UTF-8 / UTF-8 with BOM / Windows-1252 / UTF-16, or XLSX) and
returns every cell as text, so nothing is guessed before the rules here see it. ``ingest`` chains
read -> detect -> normalise for callers that just have a file.

Every input row ends in exactly one of ``rows`` or ``quarantine``; a quarantined row carries a
reason that names the spreadsheet row, the column and the value so a person can fix it.
Work is done once per *distinct* value wherever values repeat (dates, place types, postcodes...),
which is what keeps a 100k-row import well under a second.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import re
import threading
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np
import pandas as pd

from . import errors, schema, settings

__all__ = [
    "HEADER_SYNONYMS",
    "MAX_COLUMNS",
    "MAX_HEADER_CHARS",
    "MAX_TEXT_CHARS",
    "MAX_XLSX_CELLS",
    "MAX_XLSX_SHEETS",
    "MAX_XLSX_UNZIPPED_BYTES",
    "MAX_ZIP_MEMBERS",
    "MAX_ZIP_RATIO",
    "POLICEUK_COLUMNS",
    "POLICEUK_CONCERNS",
    "POLICEUK_HEADER",
    "ImportRefused",
    "IngestResult",
    "detect_format",
    "ingest",
    "map_columns",
    "normalise_policeuk",
    "normalise_sharing_form",
    "parse_concerns",
    "parse_dates",
    "parse_indicators",
    "read_table",
    "safe_filename",
]

MAX_TEXT_CHARS = 10_000
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
EASTING_RANGE = (0.0, 700_000.0)
NORTHING_RANGE = (0.0, 1_300_000.0)
# Below this, a wild latitude/longitude is a typo, not a grid reference in the wrong columns.
_GRID_MIN = 1_000.0


# The whole file cannot be imported (defined with the other errors people act on).
ImportRefused = errors.ImportRefused


@dataclass
class IngestResult:
    rows: pd.DataFrame
    quarantine: pd.DataFrame
    column_map: dict[str, str]
    warnings: list[str] = field(default_factory=list)
    n_read: int = 0
    kind: Literal["sharing_form", "policeuk"] = "sharing_form"


# =====================================================================================================
# Reading
# =====================================================================================================

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
_BINARY_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13))
_BINARY_SAMPLE = 65_536


def _utf16_without_bom(sample: bytes) -> str | None:
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
    sample = data[:_BINARY_SAMPLE]
    utf16 = _utf16_without_bom(sample)
    if utf16 is not None:
        try:
            return data.decode(utf16), utf16, []
        except UnicodeDecodeError as exc:
            raise ImportRefused(f'file "{name}" is not valid UTF-16 text') from exc
    if b"\x00" in sample or len(sample.translate(None, _BINARY_BYTES)) < 0.98 * len(sample):
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


def _header_line(text: str) -> str:
    """The first record's text, following quoted newlines so a quoted header cell can't split it."""
    in_quote = False
    for i, ch in enumerate(text):
        if ch == '"':
            in_quote = not in_quote
        elif ch in "\r\n" and not in_quote:
            if text[:i].strip():
                return text[:i]
    return text


def _check_csv_header(text: str, name: str, header_row: int) -> str:
    """The header record's delimiter, refusing a header too long or too wide before any parser runs.

    Only the first MAX_HEADER_CHARS + 1 characters are scanned, so a header of a million columns
    costs milliseconds to refuse instead of minutes and gigabytes to parse.
    """
    header = _header_line(text[: MAX_HEADER_CHARS + 1])
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
    delimiter = _check_csv_header(text, name, header_row)
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
    width = len(next(csv.reader([_header_line(body)], delimiter=delimiter), []))
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
    keys = {_header_key(c) for c in cells if c.strip()}
    if _POLICEUK_KEYS <= keys:
        return True
    return len(map_columns(c for c in cells if c.strip())) >= 2


# =====================================================================================================
# Format detection and header matching
# =====================================================================================================

POLICEUK_HEADER = (
    "Crime ID",
    "Month",
    "Reported by",
    "Falls within",
    "Longitude",
    "Latitude",
    "Location",
    "LSOA code",
    "LSOA name",
    "Crime type",
    "Last outcome category",
    "Context",
)


def _header_key(header: object) -> str:
    """'Date observed (DD/MM/YYYY)*' -> 'dateobserved': case, spacing, punctuation and notes ignored."""
    text = re.sub(r"\(.*?\)|\[.*?\]", "", str(header).lower())
    text = text.replace("&", "and")
    return re.sub(r"[^a-z0-9]", "", text)


_POLICEUK_KEYS = {_header_key(h) for h in ("Crime ID", "Month", "Falls within", "Crime type", "Location")}


def detect_format(frame: pd.DataFrame) -> Literal["sharing_form", "policeuk"]:
    """'policeuk' for a police.uk street-level CSV header, otherwise 'sharing_form'."""
    keys = {_header_key(c) for c in frame.columns}
    return "policeuk" if _POLICEUK_KEYS <= keys else "sharing_form"


# Canonical input fields and the header spellings that mean them (compared after _header_key).
# Several input fields are not canonical columns themselves (date_observed + time_observed make
# observed_at; setting/online make online; grading splits into three).
# fmt: off
HEADER_SYNONYMS: dict[str, tuple[str, ...]] = {
    "source_ref": (
        "Source reference", "Source ref", "Ref", "Reference", "Ref no", "Reference number", "URN",
        "Unique reference", "Report ref", "Report reference", "Report ID", "Form ref", "Form reference",
        "Form ID", "Record ID", "Log number", "ID",
    ),
    "date_received": (
        "Date received", "Received", "Received date", "Date reported", "Reported date", "Date submitted",
        "Submitted", "Date of report", "Report date", "Date shared",
    ),
    "date_observed": (
        "Date observed", "Date of incident", "Incident date", "Date seen", "Observed date", "Date",
        "Date of concern", "Concern date", "Date of event", "Event date", "Date of observation", "Observed",
        "Date/time", "Date and time", "Date/time observed", "Incident date/time", "Date time observed",
        "When",
    ),
    "time_observed": (
        "Time observed", "Time", "Time of incident", "Incident time", "Time seen", "Observed time",
        "Time of day", "Time of concern", "Time of event",
    ),
    "date_approximate": (
        "Approximate", "Approx", "Date approximate", "Approximate date", "Date is approximate",
        "Approx date",
    ),
    "agency": (
        "Reporting agency", "Agency", "Organisation", "Organization", "Agency name", "Organisation name",
        "Reporting organisation", "Partner agency", "Partner", "Reported by", "Submitted by",
        "Referring agency",
    ),
    "agency_type": (
        "Agency type", "Organisation type", "Organization type", "Sector", "Partner type",
        "Agency category", "Type of agency",
    ),
    "location_text": (
        "Location", "Location description", "Address", "Where", "Location text", "Street", "Street name",
        "Location details", "Area", "Locality", "Location / address",
    ),
    "place_name": (
        "Place name", "Premises", "Premises name", "Venue", "Business name", "Establishment", "Place",
        "Name of place", "Site name", "Name of premises",
    ),
    "place_type": (
        "Place type", "Type of place", "Premises type", "Venue type", "Location type", "Place category",
        "Type of location",
    ),
    "postcode": (
        "Postcode", "Post code", "Postal code", "PCode", "Post_Code", "Postcode of location",
    ),
    "latitude": (
        "Latitude", "Lat", "WGS84 latitude", "Lat (WGS84)",
    ),
    "longitude": (
        "Longitude", "Lng", "Lon", "Long", "WGS84 longitude",
    ),
    "easting": (
        "Easting", "X", "Grid ref easting", "Eastings", "BNG easting", "OS easting", "X coordinate",
    ),
    "northing": (
        "Northing", "Y", "Grid ref northing", "Northings", "BNG northing", "OS northing", "Y coordinate",
    ),
    "setting": (
        "Setting", "Location setting", "Online or in person", "In person / online", "Environment",
    ),
    "online": (
        "Online", "Is online", "Online (yes/no)", "Online concern", "Online?",
    ),
    "concerns": (
        "Concerns", "Concern", "Concern type", "Concern types", "Category", "Categories",
        "Concern category", "Type of concern", "Themes", "Theme", "Exploitation type",
    ),
    "indicators": (
        "Indicators", "Indicator", "Signs", "Signs of exploitation", "Risk indicators",
        "Indicators observed", "Vulnerabilities",
    ),
    "grading": (
        "Grading", "Grade", "Intelligence grading", "3x5x2", "3x5x2 grading", "Evaluation",
    ),
    "grading_source": (
        "Source grading", "Source grade", "Source evaluation", "Source reliability", "Reliability",
    ),
    "grading_information": (
        "Information grading", "Information grade", "Intelligence assessment", "Information assessment",
        "Info grading",
    ),
    "grading_handling": (
        "Handling code", "Handling", "Handling instructions", "Handling grade",
    ),
    "narrative": (
        "Narrative", "Description", "Details", "Summary", "Notes", "Information", "Intelligence",
        "Free text", "Comments", "What was seen", "Description of concern", "Concern details",
    ),
    "child_ref": (
        "Child reference", "Child ref", "Child ID", "Young person ref", "Young person reference", "YP ref",
        "Person ref", "Subject ref", "Child reference number",
    ),
}
# fmt: on

_HEADER_LOOKUP: dict[str, str] = {}
for _field, _spellings in HEADER_SYNONYMS.items():
    for _spelling in (_field, *_spellings):
        _HEADER_LOOKUP.setdefault(_header_key(_spelling), _field)


def map_columns(headers: Iterable[str]) -> dict[str, str]:
    """{canonical input field: original header} for every header recognised; the first wins."""
    out: dict[str, str] = {}
    for h in headers:
        f = _HEADER_LOOKUP.get(_header_key(h))
        if f is not None and f not in out:
            out[f] = h
    return out


def _duplicate_mapping_warnings(headers: Iterable[str], column_map: dict[str, str]) -> list[str]:
    extra: dict[str, list[str]] = {}
    for h in headers:
        f = _HEADER_LOOKUP.get(_header_key(h))
        if f is not None and column_map.get(f) != h:
            extra.setdefault(f, []).append(h)
    return [
        f'columns {", ".join(repr(h) for h in hs)} also mean {f!r}; used "{column_map[f]}" and ignored them'
        for f, hs in extra.items()
    ]


# =====================================================================================================
# Small vectorised helpers
# =====================================================================================================


def _by_unique(values: pd.Series, func: Callable[[pd.Series], pd.Series | np.ndarray]) -> np.ndarray:
    """Apply ``func`` to the distinct values only and spread the answers back (values repeat a lot)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    answers = func(pd.Series(uniques, dtype=object))
    return np.asarray(answers, dtype=object)[codes] if len(uniques) else np.asarray([], dtype=object)


def _norm_words(text: str) -> str:
    """Lower case with every run of non-alphanumerics collapsed to one space ('Hotel / B&B' -> 'hotel b b')."""
    return re.sub(r"[^a-z0-9]+", " ", text.lower().replace("&", " and ")).strip()


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # keeps \t and \n; a lone \r goes
_NULL_TOKENS = {"", "n/a", "na", "none", "null", "nil", "unknown", "not known", "-", "--", "nan", "?"}
_TRUE_TOKENS = {"yes", "y", "true", "1", "x", "✓", "✔", "tick", "online", "approx", "approximate"}


def _as_text(values: pd.Series | np.ndarray | Iterable) -> pd.Series:
    """Values as an object Series of Python str ('' for missing).

    Deliberately not ``astype(str)``: pandas 3 would build an Arrow string column and pay for it
    again on every conversion back to NumPy.
    """
    arr = values.to_numpy(dtype=object) if isinstance(values, pd.Series) else np.asarray(values, dtype=object)
    if pd.api.types.infer_dtype(arr, skipna=False) != "string":
        arr = np.asarray(
            ["" if v is None or (isinstance(v, float) and v != v) else str(v) for v in arr], dtype=object
        )
    return pd.Series(arr, dtype=object)


def _filled(values: pd.Series | np.ndarray) -> np.ndarray:
    """Non-empty mask for an object array of str ('' is falsy; C loop, no Python comparisons)."""
    arr = values.to_numpy(dtype=object) if isinstance(values, pd.Series) else values
    return arr.astype(bool)


_CONTROL_NOT_SEP = re.compile(r"[\x00\x02-\x08\x0b\x0c\x0e-\x1f\x7f]")


# Every byte value except the control characters we remove: deleting these from a UTF-8 encoding
# leaves only control bytes (UTF-8 continuation bytes are all >= 0x80, so none are mistaken).
_NOT_CONTROL_BYTES = bytes(b for b in range(256) if not (b <= 0x08 or 0x0B <= b <= 0x1F or b == 0x7F))


def _has_control(text: str) -> bool:
    """C-speed test for control characters other than tab and newline (a regex is 5x slower)."""
    return bool(text.encode("utf-8", "surrogatepass").translate(None, _NOT_CONTROL_BYTES))


def _clean_text(values: pd.Series) -> tuple[pd.Series, dict[int, int]]:
    """Strip, drop control characters (keeping newline and tab), cap length.

    Returns (text, {position: original length} for each value cut to MAX_TEXT_CHARS).

    Each fix runs only when a C-speed check over the whole column says it is needed, because
    almost every column of a real export needs none of them.
    """
    vals: list[str] = _as_text(values).tolist()
    stripped = list(map(str.strip, vals))
    if stripped != vals:
        vals = stripped
    joined = " ".join(vals)
    if _has_control(joined):
        vals = [_CONTROL.sub("", v.replace("\r\n", "\n")).strip() for v in vals]
    cut: dict[int, int] = {}
    if len(joined) > MAX_TEXT_CHARS and vals and max(map(len, vals)) > MAX_TEXT_CHARS:
        cut = {i: len(v) for i, v in enumerate(vals) if len(v) > MAX_TEXT_CHARS}
        vals = [v[:MAX_TEXT_CHARS] for v in vals]
    return pd.Series(vals, dtype=object, index=None), cut


def _none_if_blank(s: pd.Series, filled: np.ndarray | None = None) -> np.ndarray:
    arr = s.to_numpy(dtype=object, copy=True)
    arr[~(_filled(arr) if filled is None else filled)] = None
    return arr


# --- Dates ---------------------------------------------------------------------------------------

_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",),
            ("jun", "june"), ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"),
            ("oct", "october"), ("nov", "november"), ("dec", "december"),
        ]
    )
    for m in names
}  # fmt: skip

_APPROX = re.compile(
    r"^(?:approx(?:imately|\.)?|c\.|ca\.?|circa|~|about|around|roughly|est(?:imated|\.)?)\s*", re.I
)
_TIME_PART = r"(?:[ T,@]+(?:at\s+)?(?P<H>\d{1,2})[:.](?P<M>\d{2})(?::(?P<S>\d{2})(?:\.\d+)?)?\s*(?P<ampm>[ap]\.?m\.?)?)?"
_TZ = r"(?:Z|[+-]\d{2}:?\d{2})?"
# Each pattern yields named groups d, m (number or month name), y and optionally time.
_DATE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("dmy", re.compile(rf"^(?P<d>\d{{1,2}})[/\-.](?P<m>\d{{1,2}})[/\-.](?P<y>\d{{4}}|\d{{2}}){_TIME_PART}$")),
    ("iso", re.compile(rf"^(?P<y>\d{{4}})[-/](?P<m>\d{{1,2}})[-/](?P<d>\d{{1,2}}){_TIME_PART}{_TZ}$")),
    (
        "text",
        re.compile(
            rf"^(?:[a-z]+,?\s+)?(?P<d>\d{{1,2}})(?:st|nd|rd|th)?[\s\-/]+(?P<m>[a-z]{{3,9}})\.?,?[\s\-/]+(?P<y>\d{{4}}|\d{{2}}){_TIME_PART}$",
            re.I,
        ),
    ),
    (
        "text_mdy",  # 'April 3, 2025' / 'Apr 3rd 2025'
        re.compile(
            rf"^(?P<m>[a-z]{{3,9}})\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y>\d{{4}}){_TIME_PART}$",
            re.I,
        ),
    ),
    ("month_iso", re.compile(r"^(?P<y>\d{4})-(?P<m>\d{1,2})$")),
    ("month_text", re.compile(r"^(?P<m>[a-z]{3,9})\.?,?[\s\-/]+(?P<y>\d{4})$", re.I)),
    ("month_num", re.compile(r"^(?P<m>\d{1,2})/(?P<y>\d{4})$")),
)
_SERIAL = re.compile(r"^\d{5}(?:\.\d+)?$")
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")


@dataclass
class _ParsedDates:
    value: np.ndarray  # datetime64[ns], NaT where blank or invalid
    time_known: np.ndarray  # bool
    approximate: np.ndarray  # bool
    blank: np.ndarray  # bool: nothing given
    invalid: np.ndarray  # bool: something given that is not a date


def parse_dates(values: pd.Series, *, today: date | None = None) -> pd.DataFrame:
    """Parse UK day-first date strings. Columns: value, time_known, approximate, blank, invalid.

    '03/04/2025' is 3 April 2025. Month-only values ('2025-04', 'April 2025') give the first of
    the month with approximate=True; a prefix such as 'approx', 'c.', '~' or 'circa' sets approximate.
    A year after 2200 or before 1700 is read as 2200 / 1700 (beyond what a timestamp can hold), so
    such a date is still reported as in the future / too early rather than crashing.
    """
    p = _parse_dates(values, today or date.today())
    return pd.DataFrame(
        {
            "value": p.value,
            "time_known": p.time_known,
            "approximate": p.approximate,
            "blank": p.blank,
            "invalid": p.invalid,
        },
        index=values.index,
    )


def _parse_dates(values: pd.Series, today: date) -> _ParsedDates:
    codes, uniques = pd.factorize(values.astype(object).fillna(""), use_na_sentinel=False)
    u = _parse_unique_dates(pd.Series(uniques, dtype=object), today)
    return _ParsedDates(
        value=u["value"].to_numpy(dtype="datetime64[ns]")[codes],
        time_known=u["time_known"].to_numpy(dtype=bool)[codes],
        approximate=u["approximate"].to_numpy(dtype=bool)[codes],
        blank=u["blank"].to_numpy(dtype=bool)[codes],
        invalid=u["invalid"].to_numpy(dtype=bool)[codes],
    )


def _month_number(m: pd.Series) -> pd.Series:
    num = pd.to_numeric(m, errors="coerce")
    named = m.str.lower().map(_MONTHS)
    return num.fillna(named)


def _parse_unique_dates(raw: pd.Series, today: date) -> pd.DataFrame:
    n = len(raw)
    text = _as_text(raw).str.strip()
    approx_prefix = text.str.contains(_APPROX, regex=True)
    text = text.str.replace(_APPROX, "", regex=True).str.strip()
    blank = text.str.lower().isin(_NULL_TOKENS).to_numpy() & ~approx_prefix.to_numpy()
    value = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    time_known = np.zeros(n, dtype=bool)
    month_only = np.zeros(n, dtype=bool)
    todo = ~blank

    # Excel serial day numbers (a date cell exported as General, or typed in by hand).
    serial = todo & text.str.fullmatch(_SERIAL).to_numpy()
    if serial.any():
        days = pd.to_numeric(text[serial], errors="coerce")
        value[serial] = (
            (_EXCEL_EPOCH + pd.to_timedelta(days, unit="D")).dt.round("s").astype("datetime64[ns]")
        )
        time_known[serial] = (days % 1).to_numpy() > 0
        todo &= ~serial

    century = today.year // 100 * 100
    for kind, pattern in _DATE_PATTERNS:
        if not todo.any():
            break
        sub = text[todo]
        parts = sub.str.extract(pattern)
        hit = parts["y"].notna().to_numpy()
        if not hit.any():
            continue
        parts = parts[hit]
        idx = sub.index[hit]
        year = pd.to_numeric(parts["y"], errors="coerce")
        # Two-digit years: up to this year's are this century, later ones the last century.
        two = parts["y"].str.len() == 2
        year = year.where(~two, np.where(year <= today.year % 100, century + year, century - 100 + year))
        # Nanosecond timestamps end in 2262 and start in 1677, and pd.to_datetime raises on a
        # year outside them even with errors="coerce": one typo ('01/01/2999') crashed the whole
        # import. Such a year is pulled to the edge of a safe range instead, which keeps the
        # row's message right (in the future / before 2000, quoting the cell as typed) and
        # is never stored, because those rows are always quarantined.
        year = year.clip(lower=1700, upper=2200)
        month = _month_number(parts["m"])
        day = pd.to_numeric(parts["d"], errors="coerce") if "d" in parts else pd.Series(1, index=parts.index)
        has_time = (parts["H"].notna() if "H" in parts else pd.Series(False, index=parts.index)).to_numpy()
        hour = pd.to_numeric(parts["H"], errors="coerce").fillna(0) if "H" in parts else 0
        minute = pd.to_numeric(parts["M"], errors="coerce").fillna(0) if "M" in parts else 0
        second = pd.to_numeric(parts["S"], errors="coerce").fillna(0) if "S" in parts else 0
        if "ampm" in parts:
            ampm = parts["ampm"].fillna("").str.lower().str.slice(0, 1)
            bad_12h = (ampm != "") & ((hour < 1) | (hour > 12))
            hour = hour.where(~((ampm == "p") & (hour < 12)), hour + 12)
            hour = hour.where(~((ampm == "a") & (hour == 12)), 0)
            hour = hour.where(~bad_12h, 99)  # 13pm is not a time: make it invalid below
        # pandas would roll 25:00 over into the next day; a clock time out of range is invalid.
        bad_clock = (np.asarray(hour) > 23) | (np.asarray(minute) > 59) | (np.asarray(second) > 59)
        hour = np.where(bad_clock, np.nan, hour)
        stamp = pd.to_datetime(
            pd.DataFrame(
                {"year": year, "month": month, "day": day, "hour": hour, "minute": minute, "second": second}
            ),
            errors="coerce",
        ).astype("datetime64[ns]")
        ok = stamp.notna().to_numpy()
        value[idx[ok]] = stamp[ok]
        time_known[raw.index.get_indexer(idx[ok])] = has_time[ok]
        if kind.startswith("month"):
            month_only[raw.index.get_indexer(idx[ok])] = True
        # A row that matched a pattern but failed (31/02) is finished: it's invalid, not "try again".
        todo[raw.index.get_indexer(idx)] = False

    value_ok = value.notna().to_numpy()
    return pd.DataFrame(
        {
            "value": value,
            "time_known": time_known & value_ok,
            "approximate": (approx_prefix.to_numpy() | month_only) & value_ok,
            "blank": blank,
            "invalid": ~blank & ~value_ok,
        }
    )


_TIME = re.compile(
    r"^(?P<H>\d{1,2})(?:[:.]?(?P<M>\d{2}))?(?::(?P<S>\d{2})(?:\.\d+)?)?\s*(?P<ampm>[ap]\.?m\.?)?(?:\s*hrs?)?$",
    re.I,
)


def _parse_times(values: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """'21:30', '2130', '9.30pm', '9pm', '21:30:00' -> (timedelta64[ns], blank, invalid)."""

    def one_pass(u: pd.Series) -> pd.DataFrame:
        text = _as_text(u).str.strip()
        blank = text.str.lower().isin(_NULL_TOKENS)
        parts = text.str.extract(_TIME)
        hour = pd.to_numeric(parts["H"], errors="coerce")
        minute = pd.to_numeric(parts["M"], errors="coerce").fillna(0)
        second = pd.to_numeric(parts["S"], errors="coerce").fillna(0)
        ampm = parts["ampm"].fillna("").str.lower().str.slice(0, 1)
        # A bare number with no separator, minutes or am/pm ('45') is not a time of day.
        bare = parts["M"].isna() & (ampm == "")
        twelve = ampm != ""
        ok = hour.notna() & ~bare & (minute < 60) & (second < 60)
        ok &= (twelve & (hour >= 1) & (hour <= 12)) | (~twelve & (hour <= 23))
        hour = hour.where(~((ampm == "p") & (hour < 12)), hour + 12)
        hour = hour.where(~((ampm == "a") & (hour == 12)), 0)
        delta = pd.to_timedelta(hour * 3600 + minute * 60 + second, unit="s").where(ok & ~blank)
        return pd.DataFrame({"delta": delta, "blank": blank, "invalid": ~blank & ~ok})

    codes, uniques = pd.factorize(values.astype(object).fillna(""), use_na_sentinel=False)
    u = one_pass(pd.Series(uniques, dtype=object))
    return (
        u["delta"].to_numpy(dtype="timedelta64[ns]")[codes],
        u["blank"].to_numpy(dtype=bool)[codes],
        u["invalid"].to_numpy(dtype=bool)[codes],
    )


# --- Numbers and postcodes ------------------------------------------------------------------------


def _parse_numbers(values: pd.Series, *, comma_decimal: bool) -> tuple[np.ndarray, np.ndarray]:
    """-> (float64 with NaN where missing or invalid, invalid mask). NaN/inf/blank count as missing."""
    text = _as_text(values)
    # Fast path: plain numbers and blanks convert in C; only the leftovers get the careful pass.
    filled = _filled(text)
    if not filled.any():
        return np.full(len(text), np.nan), np.zeros(len(text), dtype=bool)
    num = pd.to_numeric(text.where(filled, None), errors="coerce").to_numpy(dtype="float64", copy=True)
    odd = np.isnan(num) & filled
    invalid = np.zeros(len(text), dtype=bool)
    if odd.any():
        v, bad = _parse_odd_numbers(text[odd], comma_decimal)
        num[odd] = v
        invalid[odd] = bad
    num[~np.isfinite(num)] = np.nan
    return num, invalid


def _parse_odd_numbers(values: pd.Series, comma_decimal: bool) -> tuple[np.ndarray, np.ndarray]:
    def one_pass(u: pd.Series) -> pd.DataFrame:
        text = _as_text(u).str.strip().str.replace(r"[\s°]", "", regex=True)
        blank = text.str.lower().isin(_NULL_TOKENS | {"inf", "-inf", "+inf", "infinity"})
        if comma_decimal:
            # In a semicolon-separated (continental) file '54,77' is 54.77.
            text = text.str.replace(r"^([+-]?\d+),(\d+)$", r"\1.\2", regex=True)
        num = pd.to_numeric(text.where(~blank, None), errors="coerce").to_numpy(dtype="float64")
        finite = np.isfinite(num)
        invalid = ~blank.to_numpy() & ~finite
        return pd.DataFrame({"num": np.where(finite, num, np.nan), "invalid": invalid})

    codes, uniques = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=False)
    u = one_pass(pd.Series(uniques, dtype=object))
    return u["num"].to_numpy(dtype="float64")[codes], u["invalid"].to_numpy(dtype=bool)[codes]


_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)([0-9][A-Z]{2})$")


_PARTIAL_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][0-9A-Z]?)(?: ([0-9]))?$")


def _normalise_postcodes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """'dh11ab' / 'DH1  1AB' -> 'DH1 1AB'. Returns (postcode or None, invalid-format mask).

    A private stand-in for the gazetteer's normaliser: it only checks the UK format, not existence.
    """

    def one_pass(u: pd.Series) -> pd.DataFrame:
        u = _as_text(u)
        squashed = u.str.upper().str.replace(r"[^A-Z0-9]", "", regex=True)
        blank = u.str.strip().str.lower().isin(_NULL_TOKENS)
        parts = squashed.str.extract(_POSTCODE)
        ok = parts[0].notna()
        pc = (parts[0] + " " + parts[1]).where(ok, None)
        # A partial postcode (district 'DH1' or sector 'DH1 4') still places a report, coarsely: the
        # geocoder uses the district or sector centroid with its larger precision radius. The space
        # is required for a sector, since 'DH14' is a district of its own.
        rest = ~ok & ~blank  # only the few values that are not full postcodes are tried as partial
        if rest.any():
            spaced = u[rest].str.upper().str.strip().str.replace(r"\s+", " ", regex=True)
            partial = spaced.str.extract(_PARTIAL_POSTCODE)
            found = partial[0].notna()
            partial_pc = partial[0].where(partial[1].isna(), partial[0] + " " + partial[1])
            pc = pc.copy()
            pc[found[found].index] = partial_pc[found]
            ok = ok.copy()
            ok[found[found].index] = True
        return pd.DataFrame({"pc": pc.astype(object), "invalid": ~blank & ~ok})

    codes, uniques = pd.factorize(values.astype(object).fillna(""), use_na_sentinel=False)
    u = one_pass(pd.Series(uniques, dtype=object))
    pc = u["pc"].to_numpy(dtype=object)[codes]
    pc[pd.isna(pc)] = None
    return pc, u["invalid"].to_numpy(dtype=bool)[codes]


# =====================================================================================================
# Taxonomies: labels, keys and synonyms -> keys
# =====================================================================================================

# fmt: off
PLACE_TYPE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "park": (
        "park", "open space", "playing field", "playing fields", "play area", "playground",
        "recreation ground", "woods", "woodland", "field", "skate park", "riverside", "park open space",
    ),
    "hotel": (
        "hotel", "b and b", "bed and breakfast", "guest house", "guesthouse", "motel", "hostel", "inn",
        "airbnb", "short let", "holiday let",
    ),
    "takeaway": (
        "takeaway", "take away", "fast food", "chip shop", "chippy", "kebab", "kebab shop", "pizza",
        "pizza shop", "burger bar", "cafe", "café", "restaurant", "fast food outlet",
    ),
    "taxi": (
        "taxi", "taxi rank", "taxi office", "taxi firm", "cab", "private hire", "minicab",
    ),
    "shop": (
        "shop", "supermarket", "convenience", "convenience store", "corner shop", "off licence",
        "off license", "newsagent", "vape shop", "store",
    ),
    "shopping_centre": (
        "shopping centre", "shopping center", "mall", "shopping area", "retail park", "precinct",
        "shopping precinct", "arcade",
    ),
    "school": (
        "school", "college", "academy", "sixth form", "university", "pru", "pupil referral unit",
        "further higher educational building", "education",
    ),
    "transport_hub": (
        "bus station", "train station", "railway station", "rail station", "station", "metro station",
        "bus coach station", "coach station", "interchange", "bus stop", "transport hub",
    ),
    "car_park": (
        "car park", "carpark", "parking", "parking area", "multi storey", "multi storey car park",
    ),
    "licensed_premises": (
        "pub", "bar", "nightclub", "night club", "club", "licensed premises", "working mens club",
        "social club",
    ),
    "leisure": (
        "leisure", "leisure centre", "sports centre", "gym", "swimming pool", "cinema", "bowling",
        "arcades", "amusement arcade", "sports ground", "youth club", "sports recreation area", "sports",
    ),
    "petrol_station": (
        "petrol station", "garage", "filling station", "service station", "services", "fuel",
    ),
    "health": (
        "hospital", "health", "gp", "gp surgery", "surgery", "clinic", "a and e", "pharmacy", "chemist",
        "health centre", "walk in centre", "sexual health clinic",
    ),
    "residential_street": (
        "residential", "street", "road", "house", "home", "flat", "address", "private address", "alley",
        "alleyway", "back lane", "estate", "housing estate", "underpass", "pedestrian subway",
        "residential street",
    ),
    "online": (
        "online", "internet", "social media", "on line",
    ),
    "other": (
        "other",
    ),
}
# fmt: on

# fmt: off
AGENCY_TYPE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "school": (
        "school", "education", "academy", "college", "nursery", "early years", "pru", "education welfare",
    ),
    "health": (
        "health", "nhs", "gp", "hospital", "a and e", "school nurse", "camhs", "sexual health", "ambulance",
        "pharmacy", "midwifery", "health visitor",
    ),
    "housing": (
        "housing", "housing association", "landlord", "social housing", "housing provider",
    ),
    "youth_service": (
        "youth service", "youth services", "youth", "youth work", "youth worker", "youth offending", "yot",
        "youth justice", "youth offending team",
    ),
    "social_care": (
        "social care", "children s social care", "childrens social care", "social services", "social work",
        "csc", "early help", "children s services", "childrens services",
    ),
    "taxi_licensing": (
        "taxi licensing", "licensing", "taxi",
    ),
    "hotel_accommodation": (
        "hotel", "accommodation", "hotel accommodation", "b and b", "hospitality",
    ),
    "community": (
        "community", "voluntary", "charity", "vcs", "third sector", "faith", "community voluntary",
    ),
    "police": (
        "police", "constabulary", "pcso", "neighbourhood policing",
    ),
    "other": (
        "other",
    ),
}
# fmt: on

# fmt: off
CONCERN_SYNONYMS: dict[str, tuple[str, ...]] = {
    "cce": (
        "cce", "child criminal exploitation", "criminal exploitation", "county lines", "drug running",
        "running drugs", "cuckooing",
    ),
    "cse": (
        "cse", "child sexual exploitation", "sexual exploitation",
    ),
    "missing": (
        "whereabouts unknown",
        "missing", "mfh", "missing from home", "missing from care", "absent", "absconding",
        "missing episode",
    ),
    "drugs_alcohol": (
        "drugs", "alcohol", "drugs and alcohol", "substance misuse", "substances", "drug use",
    ),
    "weapons": (
        "weapons", "weapon", "knife", "knives", "knife crime", "firearm", "firearms", "bladed article",
    ),
    "people_of_concern": (
        "people of concern", "persons of concern", "person of concern", "adults of concern",
        "unknown adults", "vehicles of concern", "vehicle of concern", "poc",
    ),
    "online_harm": (
        "online harm", "online", "online exploitation", "online grooming", "sexting", "social media",
    ),
    "radicalisation": (
        "radicalisation", "radicalization", "extremism", "prevent", "terrorism",
    ),
    "asb": (
        "asb", "anti social behaviour", "antisocial behaviour", "anti social behavior",
        "antisocial behavior",
    ),
    "trafficking": (
        "trafficking", "modern slavery", "human trafficking", "slavery", "nrm",
    ),
    "other": (
        "other",
    ),
}
# fmt: on

# fmt: off
INDICATOR_SYNONYMS: dict[str, tuple[str, ...]] = {
    "missing_from_home": (
        "missing", "missing from home", "whereabouts unknown", "mfh",
    ),
    "less_time_with_family": (
        "less time with family", "new friends", "withdrawn from family", "change in friends",
    ),
    "not_attending_school": (
        "not attending school college", "not attending college", "not in school",
        "not attending school", "school absence", "truancy", "truanting", "poor attendance",
        "grades dropping", "excluded", "exclusion",
    ),
    "asb_or_crime": (
        "asb", "crime", "offending", "anti social behaviour", "antisocial behaviour", "drug running",
        "county lines",
    ),
    "drugs_alcohol_misuse": (
        "drugs", "alcohol", "substance misuse", "drug use", "drugs or alcohol", "drugs and alcohol",
    ),
    "unknown_adults": (
        "unknown adults", "older males", "older peers", "people of concern", "adults of concern",
    ),
    "pregnancy_sti": (
        "pregnancy", "pregnant", "sti",
    ),
    "concerning_phone_internet": (
        "phone", "mobile phone", "multiple phones", "internet", "online", "social media",
    ),
    "unexplained_ae": (
        "a and e", "unexplained injuries", "injuries",
    ),
    "appointments_unknown_person": (
        "appointments with unknown person", "accompanied by unknown adult",
    ),
    "unexplained_money_items": (
        "unexplained money or items", "unexplained money clothes or other items", "new items",
        "money", "unexplained money", "gifts", "new clothes", "cash", "digital currency",
        "unexplained items",
    ),
    "hotels_taxis_takeaways": (
        "hotels", "hotel", "taxis", "taxi", "takeaways", "takeaway", "fast food",
    ),
    "abusive_relationship": (
        "abusive relationship", "domestic abuse", "controlling relationship",
    ),
    "extreme_views": (
        "extreme views", "extremism", "terrorism", "radicalisation",
    ),
}
# fmt: on


class _Vocabulary:
    """Maps free-text labels, keys and synonyms of one taxonomy to its keys."""

    def __init__(self, taxonomy: dict[str, str], synonyms: dict[str, tuple[str, ...]]) -> None:
        self.lookup: dict[str, str] = {}
        for key, label in taxonomy.items():
            self.lookup[_norm_words(key)] = key
            self.lookup[_norm_words(label)] = key
        for key, spellings in synonyms.items():
            if key not in taxonomy:
                raise ValueError(f"synonyms listed for unknown key {key!r}")
            for syn in spellings:
                self.lookup.setdefault(_norm_words(syn), key)
        # Multi-word phrases may contain the separators themselves ('Drugs / alcohol',
        # 'Missing from home, whereabouts unknown'), so they are replaced by their key before
        # the cell is split. Longest first so the full label wins over its fragments.
        phrases = sorted({p for p in self.lookup if " " in p}, key=len, reverse=True)
        self.phrase_re = re.compile(
            r"(?<![a-z0-9])(?:"
            + "|".join(r"[\s/,&()\-'.]*".join(re.escape(w) for w in p.split(" ")) for p in phrases)
            + r")(?![a-z0-9])",
            re.I,
        )

    def key(self, text: str) -> str | None:
        return self.lookup.get(_norm_words(text))

    def parse_cell(self, cell: str) -> tuple[list[str], list[str]]:
        """-> (sorted keys found, unknown terms)."""
        cell = cell.strip()
        if not cell or cell.lower() in _NULL_TOKENS:
            return [], []
        whole = self.key(cell)
        if whole is not None:
            return [whole], []
        keys: set[str] = set()
        unknown: list[str] = []
        marked = self.phrase_re.sub(lambda m: f"|{self.key(m.group(0))}|", cell.replace("&", " and "))
        for token in re.split(r"[;,|/\n]+", marked):
            if not token.strip() or not _norm_words(token):
                continue
            k = self.key(token)
            if k is None:
                unknown.append(token.strip())
            else:
                keys.add(k)
        return sorted(keys), unknown


_PLACE_VOCAB = _Vocabulary(schema.PLACE_TYPES, PLACE_TYPE_SYNONYMS)
_AGENCY_VOCAB = _Vocabulary(schema.AGENCY_TYPES, AGENCY_TYPE_SYNONYMS)
_CONCERN_VOCAB = _Vocabulary(schema.CONCERNS, CONCERN_SYNONYMS)
_INDICATOR_VOCAB = _Vocabulary(schema.INDICATORS, INDICATOR_SYNONYMS)


def parse_concerns(cell: str) -> str:
    """'County lines; CSE' -> 'cce|cse'. Unknown terms become 'other'."""
    keys, unknown = _CONCERN_VOCAB.parse_cell(cell)
    return "|".join(sorted(set(keys) | ({"other"} if unknown else set())))


def parse_indicators(cell: str) -> str:
    """'Missing from home, whereabouts unknown; gifts' -> 'missing_from_home|unexplained_money_items'.

    Unknown terms are dropped (normalise_sharing_form counts them in a warning).
    """
    return "|".join(_INDICATOR_VOCAB.parse_cell(cell)[0])


def _map_single(values: pd.Series, vocab: _Vocabulary, unknown_key: str) -> np.ndarray:
    def one_pass(u: pd.Series) -> list[str | None]:
        out: list[str | None] = []
        for v in u:
            if _norm_words(str(v)) == "" or str(v).strip().lower() in _NULL_TOKENS:
                out.append(None)
            else:
                out.append(vocab.key(str(v)) or unknown_key)
        return out

    return _by_unique(values, one_pass)


def _map_multi(values: pd.Series, vocab: _Vocabulary, unknown_key: str | None) -> tuple[np.ndarray, int]:
    """-> ('|'-joined keys per row, number of rows that had unknown terms)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    joined: list[str] = []
    had_unknown = np.zeros(len(uniques), dtype=bool)
    for i, v in enumerate(uniques):
        keys, unknown = vocab.parse_cell(str(v))
        if unknown:
            had_unknown[i] = True
            if unknown_key:
                keys = sorted(set(keys) | {unknown_key})
        joined.append("|".join(keys))
    if not len(uniques):
        return np.asarray([], dtype=object), 0
    return np.asarray(joined, dtype=object)[codes], int(had_unknown[codes].sum())


# --- Grading (3x5x2) -------------------------------------------------------------------------------

_COMBINED_GRADING = re.compile(r"^\s*([123])[\s/\-,.]*([A-Ea-e])(?:[\s/\-,.]*([PCpc]))?\s*$")


# =====================================================================================================
# Sharing forms
# =====================================================================================================

QUARANTINE_DTYPES: dict[str, str] = {
    "row_number": "int64",
    "reason": "object",
    "field": "object",  # the first field at fault (None for an empty row)
    "value": "object",  # its value as given
    "raw": "object",  # the whole input row as a JSON object {header: cell text}
}
if tuple(QUARANTINE_DTYPES) != schema.QUARANTINE_COLUMNS:  # keep in step with the shared contract
    raise RuntimeError("ingest.QUARANTINE_DTYPES is out of step with schema.QUARANTINE_COLUMNS")

_DATE_FIELDS = ("date_observed", "date_received")
_LOCATION_FIELDS = (
    "location_text", "place_name", "postcode", "latitude", "longitude", "easting", "northing", "setting",
    "online",
)  # fmt: skip
_HUMAN = {
    "source_ref": "source reference", "date_received": "date received", "date_observed": "date observed",
    "time_observed": "time observed", "latitude": "latitude", "longitude": "longitude",
    "easting": "easting", "northing": "northing", "postcode": "postcode",
    "grading": "grading", "grading_source": "source grading", "grading_information": "information grading",
    "grading_handling": "handling code",
}  # fmt: skip


class _Problems:
    """Per-row quarantine reasons, collected column by column (vectorised) and joined at the end."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.first_field = np.full(n, None, dtype=object)
        self.first_value = np.full(n, None, dtype=object)
        self.reasons: list[tuple[np.ndarray, np.ndarray]] = []  # (mask, messages)

    def add(self, mask: np.ndarray, field_name: str, values: Iterable, message: Callable[[str], str]) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        vals = np.asarray(list(values), dtype=object) if not isinstance(values, np.ndarray) else values
        msgs = np.full(self.n, None, dtype=object)
        for i in np.flatnonzero(mask):
            msgs[i] = message(str(vals[i]))
        fresh = mask & (self.first_field == None)  # noqa: E711 - elementwise on an object array
        self.first_field[fresh] = field_name
        self.first_value[fresh] = vals[fresh]
        self.reasons.append((mask, msgs))

    @property
    def any(self) -> np.ndarray:
        out = np.zeros(self.n, dtype=bool)
        for mask, _ in self.reasons:
            out |= mask
        return out

    def joined(self) -> np.ndarray:
        out = np.full(self.n, None, dtype=object)
        for mask, msgs in self.reasons:
            for i in np.flatnonzero(mask):
                out[i] = msgs[i] if out[i] is None else f"{out[i]}; {msgs[i]}"
        return out


def _refuse_missing(frame: pd.DataFrame, column_map: dict[str, str]) -> None:
    missing = []
    if not any(f in column_map for f in _DATE_FIELDS):
        missing.append("date column (Date observed or Date received)")
    if not any(f in column_map for f in _LOCATION_FIELDS):
        missing.append(
            "location column (Location, Place name, Postcode, Latitude/Longitude, Easting/Northing or Setting)"
        )
    if missing:
        name = frame.attrs.get("filename")
        where = f'file "{name}"' if name else "the file"
        found = ", ".join(f'"{c}"' for c in frame.columns) or "none"
        raise ImportRefused(f"{where} has no {' and no '.join(missing)}. Headers found: {found}.")


def normalise_sharing_form(raw: pd.DataFrame, *, today: date | None = None) -> IngestResult:
    """Turn a sharing-form export (as read by ``read_table``) into canonical rows plus quarantine.

    Raises ``ImportRefused`` when the file has no date column or no location column at all.
    """
    today = today or date.today()
    headers = [str(c) for c in raw.columns]
    column_map = map_columns(headers)
    _refuse_missing(raw, column_map)
    warnings: list[str] = list(raw.attrs.get("warnings", []))
    warnings += _duplicate_mapping_warnings(headers, column_map)
    n = len(raw)
    header_row = int(raw.attrs.get("header_row", 1))
    row_number = np.arange(header_row + 1, header_row + 1 + n, dtype=np.int64)
    comma_decimal = raw.attrs.get("delimiter") == ";"

    # Every mapped column cleaned once; absent columns read as blank.
    blank_col = pd.Series([""] * n, dtype=object)
    no_values = np.zeros(n, dtype=bool)
    text: dict[str, pd.Series] = {}
    filled: dict[str, np.ndarray] = {}
    truncated: list[str] = []  # 'row 7 Narrative (1,048,576 characters)' for the warning
    n_truncated = 0
    for f in HEADER_SYNONYMS:
        if f in column_map:
            s, cut = _clean_text(raw[column_map[f]].reset_index(drop=True))
            text[f] = s
            filled[f] = _filled(s)
            n_truncated += len(cut)
            truncated += [
                f'row {row_number[i]} "{column_map[f]}" ({length:,} characters)' for i, length in cut.items()
            ]
        else:
            text[f] = blank_col
            filled[f] = no_values

    # A row is empty when every cell (mapped or not) is blank. The mapped columns are already
    # cleaned, so only rows blank in all of them need their other cells checked.
    empty = np.ones(n, dtype=bool)
    for f in column_map:
        empty &= ~filled[f]
    for c in raw.columns:
        if not empty.any():
            break
        if str(c) in column_map.values():
            continue
        cells = _as_text(raw[c].iloc[np.flatnonzero(empty)]).str.strip()
        empty[np.flatnonzero(empty)[(cells != "").to_numpy()]] = False

    problems = _Problems(n)

    # --- dates -------------------------------------------------------------------------------------
    obs = _parse_dates(text["date_observed"], today)
    rec = _parse_dates(text["date_received"], today)
    earliest = np.datetime64(pd.Timestamp(settings.EARLIEST_PLAUSIBLE_DATE).to_datetime64(), "ns")
    latest = np.datetime64(pd.Timestamp(today).to_datetime64(), "ns") + np.timedelta64(1, "D")
    for f, p in (("date_observed", obs), ("date_received", rec)):
        label = _HUMAN[f]
        problems.add(
            p.invalid,
            f,
            text[f],
            lambda v, label=label: (
                f'{label} "{v}" is not a valid date (dates are read day first: DD/MM/YYYY)'
            ),
        )
        future = ~np.isnat(p.value) & (p.value >= latest)
        problems.add(future, f, text[f], lambda v, label=label: f'{label} "{v}" is in the future')
        early = ~np.isnat(p.value) & (p.value < earliest)
        problems.add(
            early,
            f,
            text[f],
            lambda v, label=label: (
                f'{label} "{v}" is before {settings.EARLIEST_PLAUSIBLE_DATE}, too early to be plausible'
            ),
        )
    no_date = obs.blank & rec.blank & ~empty
    problems.add(
        no_date, "date_observed", text["date_observed"], lambda v: "no date observed or date received"
    )

    use_received = obs.blank & ~rec.blank
    observed_at = np.where(use_received, rec.value, obs.value).astype("datetime64[ns]")
    time_known = np.where(use_received, False, obs.time_known)
    approximate = np.where(use_received, True, obs.approximate)
    if use_received.any():
        warnings.append(
            f"{int((use_received & ~empty).sum())} rows had no date observed; used the date received "
            "and marked the date approximate"
        )
    if "date_approximate" in column_map:
        approximate |= text["date_approximate"].str.lower().isin(_TRUE_TOKENS).to_numpy()

    # Time in its own column overrides any time in the date cell.
    if "time_observed" in column_map:
        delta, t_blank, t_invalid = _parse_times(text["time_observed"])
        problems.add(
            t_invalid,
            "time_observed",
            text["time_observed"],
            lambda v: f'time observed "{v}" is not a valid time',
        )
        use_time = ~t_blank & ~t_invalid & ~np.isnat(observed_at)
        day = observed_at.astype("datetime64[D]").astype("datetime64[ns]")
        observed_at = np.where(
            use_time, day + np.where(use_time, delta, np.timedelta64(0, "ns")), observed_at
        )
        time_known = np.where(use_time, True, time_known)

    later_than_received = ~np.isnat(observed_at) & ~np.isnat(rec.value)
    later_than_received &= observed_at.astype("datetime64[D]") > rec.value.astype("datetime64[D]")
    if later_than_received.any():
        warnings.append(
            f"{int(later_than_received.sum())} rows have a date observed after the date received; "
            "kept as given, check rows " + ", ".join(str(r) for r in row_number[later_than_received][:10])
        )

    # --- coordinates ---------------------------------------------------------------------------------
    nums: dict[str, np.ndarray] = {}
    coord_bad: dict[str, np.ndarray] = {}  # unreadable or out of range: already reported
    for f in ("latitude", "longitude", "easting", "northing"):
        v, bad = _parse_numbers(text[f], comma_decimal=comma_decimal)
        coord_bad[f] = bad
        label = _HUMAN[f]
        hint = " (use a full stop for decimals)" if not comma_decimal else ""
        problems.add(
            bad,
            f,
            text[f],
            lambda s, label=label, hint=hint: f'{label} "{s}" is not a number{hint if "," in s else ""}',
        )
        nums[f] = v
    lat, lon, east, north = nums["latitude"], nums["longitude"], nums["easting"], nums["northing"]
    # British National Grid numbers typed into latitude/longitude columns: move them across
    # (longitude is x = easting, latitude is y = northing); the geocoder checks the result.
    grid_like = (
        (np.abs(lat) > 90)
        & (np.abs(lon) > 180)
        & (lon >= _GRID_MIN)
        & (lon <= EASTING_RANGE[1])
        & (lat >= _GRID_MIN)
        & (lat <= NORTHING_RANGE[1])
        & np.isnan(east)
        & np.isnan(north)
    )
    if grid_like.any():
        east = np.where(grid_like, lon, east)
        north = np.where(grid_like, lat, north)
        lat = np.where(grid_like, np.nan, lat)
        lon = np.where(grid_like, np.nan, lon)
        warnings.append(
            f"{int(grid_like.sum())} rows had British National Grid easting/northing values in the "
            "latitude/longitude columns; moved them to easting/northing"
        )
    for f, arr, lo, hi in (
        ("latitude", lat, -90.0, 90.0),
        ("longitude", lon, -180.0, 180.0),
        ("easting", east, *EASTING_RANGE),
        ("northing", north, *NORTHING_RANGE),
    ):
        out = ~np.isnan(arr) & ((arr < lo) | (arr > hi))
        problems.add(
            out, f, text[f], lambda s, f=f, lo=lo, hi=hi: f"{_HUMAN[f]} {s} out of range ({lo:g} to {hi:g})"
        )
        arr[out] = np.nan
        coord_bad[f] = coord_bad[f] | out
    for a, b, fa, fb in (
        (lat, lon, "latitude", "longitude"),
        (east, north, "easting", "northing"),
    ):
        half = np.isnan(a) ^ np.isnan(b)
        # A partner that was given but unreadable has its own reason; don't report it twice.
        only_a = half & ~np.isnan(a) & ~coord_bad[fb]
        problems.add(only_a, fa, text[fa], lambda s, fa=fa, fb=fb: f"{fa} {s} given without a {fb}")
        only_b = half & ~np.isnan(b) & ~coord_bad[fa]
        problems.add(only_b, fb, text[fb], lambda s, fa=fa, fb=fb: f"{fb} {s} given without a {fa}")
        a[half] = np.nan
        b[half] = np.nan

    # --- online, place type, postcode -------------------------------------------------------------------
    place_type = _map_single(text["place_type"], _PLACE_VOCAB, "other")
    setting_words = _by_unique(text["setting"], lambda u: [_norm_words(str(v)) for v in u])
    online = np.isin(
        setting_words,
        ["online", "on line", "internet", "social media", "virtual", "digital", "cyber", "remote", "yes"],
    )
    if "online" in column_map:
        online |= text["online"].str.lower().isin(_TRUE_TOKENS).to_numpy()
    online |= place_type == "online"
    place_type = np.where(online & (place_type == None), "online", place_type)  # noqa: E711

    postcode, pc_bad = _normalise_postcodes(text["postcode"])
    other_location = (
        filled["location_text"] | filled["place_name"] | ~np.isnan(lat) | ~np.isnan(east) | online
    )
    problems.add(
        pc_bad & ~other_location,
        "postcode",
        text["postcode"],
        lambda v: f'postcode "{v}" is not a valid UK postcode',
    )
    dropped_pc = pc_bad & other_location
    if dropped_pc.any():
        warnings.append(
            f"{int(dropped_pc.sum())} rows had a postcode that is not a valid UK postcode; it was ignored "
            "because the row has another location"
        )

    # --- agency, concerns, indicators, grading ----------------------------------------------------
    agency_type = _map_single(text["agency_type"], _AGENCY_VOCAB, "other")
    agency_type = np.where(agency_type == None, "other", agency_type)  # noqa: E711
    concerns, _ = _map_multi(text["concerns"], _CONCERN_VOCAB, "other")
    indicators, n_unknown_ind = _map_multi(text["indicators"], _INDICATOR_VOCAB, None)
    if n_unknown_ind:
        warnings.append(
            f"{n_unknown_ind} rows had indicator terms that match no listed indicator; those terms were "
            "dropped (the narrative keeps the detail)"
        )

    g_src, g_info, g_hand = (
        _grading_part(text[f]) for f in ("grading_source", "grading_information", "grading_handling")
    )
    if "grading" in column_map:
        codes, uniques = pd.factorize(text["grading"].to_numpy(dtype=object), use_na_sentinel=False)
        parts = (
            pd.Series(uniques, dtype=object).str.extract(_COMBINED_GRADING).iloc[codes].reset_index(drop=True)
        )
        bad = filled["grading"] & parts[0].isna().to_numpy()
        problems.add(
            bad,
            "grading",
            text["grading"],
            lambda v: (
                f'grading "{v}" is not a 3x5x2 grade (expected like "1A P": source 1-3, information A-E, handling P or C)'
            ),
        )
        g_src = np.where(g_src == None, parts[0].to_numpy(dtype=object), g_src)  # noqa: E711
        g_info = np.where(g_info == None, parts[1].str.upper().to_numpy(dtype=object), g_info)  # noqa: E711
        g_hand = np.where(g_hand == None, parts[2].str.upper().to_numpy(dtype=object), g_hand)  # noqa: E711
    for f, arr, allowed in (
        ("grading_source", g_src, schema.GRADING_SOURCE),
        ("grading_information", g_info, schema.GRADING_INFORMATION),
        ("grading_handling", g_hand, schema.GRADING_HANDLING),
    ):
        arr[pd.isna(arr)] = None
        bad = (arr != None) & ~np.isin(arr, np.asarray(allowed, dtype=object))  # noqa: E711
        problems.add(
            bad,
            f,
            text[f].where(filled[f], pd.Series(arr, dtype=object)),
            lambda v, f=f, allowed=allowed: (
                f'{_HUMAN[f]} "{v}" is not valid (expected {", ".join(allowed[:-1])} or {allowed[-1]})'
            ),
        )

    if n_truncated:
        # Named, because the cut-off text is not stored anywhere: the partner may need to send it.
        warnings.append(
            f"{n_truncated} text fields were longer than {MAX_TEXT_CHARS:,} characters and were cut short: "
            + ", ".join(truncated[:10])
            + (" and others" if n_truncated > 10 else "")
        )

    # --- assemble -------------------------------------------------------------------------------------
    columns = {
        "row_number": row_number,
        "source_ref": _none_if_blank(text["source_ref"], filled["source_ref"]),
        "date_received": rec.value,
        "observed_at": observed_at,
        "time_known": time_known.astype(bool),
        "date_approximate": approximate.astype(bool),
        "agency": _none_if_blank(text["agency"], filled["agency"]),
        "agency_type": agency_type,
        "location_text": _none_if_blank(text["location_text"], filled["location_text"]),
        "place_name": _none_if_blank(text["place_name"], filled["place_name"]),
        "place_type": place_type,
        "postcode": np.where(pc_bad, None, postcode),
        "latitude": lat,
        "longitude": lon,
        "easting": east,
        "northing": north,
        "online": online.astype(bool),
        "concerns": concerns,
        "indicators": indicators,
        "grading_source": g_src,
        "grading_information": g_info,
        "grading_handling": g_hand,
        "narrative": _none_if_blank(text["narrative"], filled["narrative"]),
        "child_ref": _none_if_blank(text["child_ref"], filled["child_ref"]),
    }
    columns["fingerprint"] = _fingerprints(columns)
    rows = _with_dtypes(columns, schema.CANONICAL_COLUMNS)

    bad_rows = problems.any & ~empty
    reasons = problems.joined()
    q_mask = empty | bad_rows
    q_idx = np.flatnonzero(q_mask)
    quarantine = pd.DataFrame(
        {
            "row_number": row_number[q_idx],
            "reason": [
                f"row {row_number[i]}: empty row" if empty[i] else f"row {row_number[i]}: {reasons[i]}"
                for i in q_idx
            ],
            "field": [None if empty[i] else problems.first_field[i] for i in q_idx],
            "value": [None if empty[i] else problems.first_value[i] for i in q_idx],
            "raw": _raw_json(raw, q_idx),
        },
        columns=list(schema.QUARANTINE_COLUMNS),
    )
    quarantine = _with_dtypes(quarantine, QUARANTINE_DTYPES)
    if empty.any():
        warnings.append(f"{int(empty.sum())} empty rows")
    kept = rows if not q_mask.any() else rows.iloc[np.flatnonzero(~q_mask)].reset_index(drop=True)
    return IngestResult(
        rows=kept,
        quarantine=quarantine,
        column_map=column_map,
        warnings=warnings,
        n_read=n,
        kind="sharing_form",
    )


def _grading_part(values: pd.Series) -> np.ndarray:
    def upper(u: pd.Series) -> list[str | None]:
        return [str(v).strip().upper() or None for v in u]

    return _by_unique(values, upper)


def _raw_json(raw: pd.DataFrame, positions: np.ndarray) -> list[str]:
    cols = [str(c) for c in raw.columns]
    block = raw.iloc[positions].astype(object).to_numpy()
    return [
        json.dumps(
            {c: ("" if v is None else str(v)) for c, v in zip(cols, row, strict=True)}, ensure_ascii=False
        )
        for row in block
    ]


def _fp_text(values: np.ndarray | pd.Series, *, repeats: bool = True) -> list[str]:
    """Case and runs of whitespace folded, so a re-typed copy of a report still matches.

    Values arrive stripped; only when a C-speed search finds a whitespace run, a tab, a newline
    or a no-break space anywhere in the column is the per-value fold paid for. Columns whose
    values repeat (agency, place type...) are folded once per distinct value.
    """
    arr = np.asarray(values, dtype=object)
    if not len(arr) or (arr[0] is None and pd.isna(arr).all()):
        return [""] * len(arr)
    if repeats:
        codes, uniques = pd.factorize(arr, use_na_sentinel=False)
        vals = ["" if v is None or v != v else v for v in uniques.tolist()]
    else:
        arr = arr.copy()
        arr[pd.isna(arr)] = ""
        vals = arr.tolist()
    joined = "\x01".join(vals)
    if any(w in joined for w in ("  ", "\t", "\n", "\xa0", "\u3000")):
        vals = [" ".join(v.split()).lower() for v in vals]
    else:
        vals = list(map(str.lower, vals))
    return np.asarray(vals, dtype=object)[codes].tolist() if repeats else vals


def _fp_key(values: np.ndarray) -> list[str]:
    """Taxonomy keys and normalised postcodes are canonical already: only None needs mapping."""
    arr = np.asarray(values, dtype=object)
    missing = pd.isna(arr)
    if missing.any():
        arr = arr.copy()
        arr[missing] = ""
    return arr.tolist()


def _fp_datetimes(values: np.ndarray) -> list[str]:
    codes, uniques = pd.factorize(values.astype("int64"), use_na_sentinel=False)
    text = np.asarray(uniques).astype(values.dtype).astype(str).astype(object)
    return text[codes].tolist()


def _fp_number(values: np.ndarray, decimals: int) -> list[str]:
    """Rounded numbers as text; missing is '' whatever else is in the column, so a report's
    fingerprint never depends on the other rows of its file."""
    values = values.astype("float64")
    if np.isnan(values).all():
        return [""] * len(values)
    # Python's float repr is several times faster than NumPy's float -> str, and coordinates
    # repeat (police.uk-style snapping), so each distinct value is formatted once.
    codes, uniques = pd.factorize(np.round(values, decimals), use_na_sentinel=False)
    text = ["" if u != u else repr(u) for u in uniques.tolist()]
    return np.asarray(text, dtype=object)[codes].tolist()


def _fingerprints(rows: Mapping[str, np.ndarray]) -> list[str]:
    """sha1 of the normalised content: the same report imported twice gets the same fingerprint.

    The source reference and grading are left out on purpose: the same sighting re-keyed with
    a new reference, or re-graded, is still the same report for duplicate detection.
    """

    def col(name: str) -> np.ndarray:
        return np.asarray(rows[name])

    # A known time is part of the content; an unknown one is not (its midnight is a placeholder).
    time_known = col("time_known").astype(bool)
    obs = col("observed_at").astype("datetime64[ns]").astype("datetime64[m]")
    obs = np.where(time_known, obs, obs.astype("datetime64[D]").astype("datetime64[m]"))
    observed = _fp_datetimes(obs)
    received = _fp_datetimes(col("date_received").astype("datetime64[ns]").astype("datetime64[D]"))
    parts = [
        observed,
        np.where(time_known, "t", "").tolist(),
        received,
        _fp_text(col("agency")),
        _fp_key(col("agency_type")),
        _fp_text(col("location_text")),
        _fp_text(col("place_name")),
        _fp_key(col("place_type")),
        _fp_key(col("postcode")),
        _fp_number(col("latitude"), 6),
        _fp_number(col("longitude"), 6),
        _fp_number(col("easting"), 1),
        _fp_number(col("northing"), 1),
        np.where(col("online").astype(bool), "online", "").tolist(),
        _fp_key(col("concerns")),
        _fp_key(col("indicators")),
        _fp_text(col("narrative"), repeats=False),
        _fp_text(col("child_ref"), repeats=False),
    ]
    sha1 = hashlib.sha1
    return [sha1("\x1f".join(t).encode("utf-8")).hexdigest() for t in zip(*parts, strict=True)]


def _with_dtypes(rows: Mapping[str, np.ndarray | pd.Series], columns: dict[str, str]) -> pd.DataFrame:
    """Exactly ``columns`` with their dtypes; text stays object with None for missing, because
    pandas would otherwise infer its own string dtype with NaN for missing."""
    out = {}
    for col, dtype in columns.items():
        values = rows[col]
        if dtype == "object":
            # Callers hand over private arrays, so no defensive copy is needed.
            arr = np.asarray(values, dtype=object)
            missing = pd.isna(arr)
            if missing.any():
                arr = arr.copy()
                arr[missing] = None
            out[col] = pd.Series(arr, dtype=object, copy=False)
        else:
            out[col] = pd.Series(np.asarray(values)).astype(dtype)
    return pd.DataFrame(out, columns=list(columns))


# =====================================================================================================
# police.uk street-level crime (context layer)
# =====================================================================================================

POLICEUK_COLUMNS: dict[str, str] = {
    "row_number": "int64",
    "crime_id": "object",  # None on anti-social behaviour rows
    "month": "datetime64[ns]",  # first of the month: police.uk publishes months only
    "crime_type": "object",
    "concern": "object",  # CONCERNS key
    "location_text": "object",  # the X of 'On or near X'
    "place_type": "object",  # PLACE_TYPES key
    "latitude": "float64",
    "longitude": "float64",
    "lsoa_code": "object",
    "falls_within": "object",
    "fingerprint": "object",
}

# Only the crime types that say something specific map to a concern; police.uk merges violence
# with sexual offences, so that category can't be read as CSE and goes to 'other' like the rest.
POLICEUK_CONCERNS: dict[str, str] = {
    "Anti-social behaviour": "asb",
    "Drugs": "drugs_alcohol",
    "Possession of weapons": "weapons",
    "Violence and sexual offences": "other",
    "Robbery": "other",
    "Public order": "other",
    "Criminal damage and arson": "other",
    "Burglary": "other",
    "Vehicle crime": "other",
    "Shoplifting": "other",
    "Bicycle theft": "other",
    "Other theft": "other",
    "Theft from the person": "other",
    "Other crime": "other",
}


def normalise_policeuk(raw: pd.DataFrame) -> IngestResult:
    """Turn a police.uk street-level CSV into the police context frame (``POLICEUK_COLUMNS``).

    Rows without coordinates ('No Location') and rows with an unreadable month or out-of-range
    coordinates are quarantined. Anti-social behaviour rows have no Crime ID and are kept.
    """
    headers = [str(c) for c in raw.columns]
    by_key = {}
    for h in headers:
        by_key.setdefault(_header_key(h), h)
    missing = [h for h in POLICEUK_HEADER if _header_key(h) not in by_key and h not in ("Context", "LSOA name", "Last outcome category", "Reported by")]  # fmt: skip
    if missing:
        raise ImportRefused(
            "this police.uk file lacks the columns "
            + ", ".join(f'"{m}"' for m in missing)
            + ". Headers found: "
            + ", ".join(f'"{h}"' for h in headers)
        )
    column_map = {h: by_key[_header_key(h)] for h in POLICEUK_HEADER if _header_key(h) in by_key}
    n = len(raw)
    header_row = int(raw.attrs.get("header_row", 1))
    row_number = np.arange(header_row + 1, header_row + 1 + n, dtype=np.int64)
    warnings: list[str] = list(raw.attrs.get("warnings", []))

    def col(h: str) -> pd.Series:
        if h not in column_map:
            return pd.Series([""] * n, dtype=object)
        return _clean_text(raw[column_map[h]].reset_index(drop=True))[0]

    crime_id, month_s, crime_type = col("Crime ID"), col("Month"), col("Crime type")
    location, lsoa, falls = col("Location"), col("LSOA code"), col("Falls within")
    lat_s, lon_s = col("Latitude"), col("Longitude")

    problems = _Problems(n)
    month = pd.to_datetime(month_s, format="%Y-%m", errors="coerce").astype("datetime64[ns]").to_numpy()
    problems.add(np.isnat(month), "month", month_s, lambda v: f'month "{v}" is not a YYYY-MM month')
    lat, lat_bad = _parse_numbers(lat_s, comma_decimal=False)
    lon, lon_bad = _parse_numbers(lon_s, comma_decimal=False)
    no_coords = (np.isnan(lat) | np.isnan(lon)) & ~lat_bad & ~lon_bad
    problems.add(
        no_coords,
        "latitude",
        location,
        lambda v: f'no coordinates (location "{v}")' if v else "no coordinates",
    )
    problems.add(lat_bad, "latitude", lat_s, lambda v: f'latitude "{v}" is not a number')
    problems.add(lon_bad, "longitude", lon_s, lambda v: f'longitude "{v}" is not a number')
    lat_out = ~np.isnan(lat) & (np.abs(lat) > 90)
    lon_out = ~np.isnan(lon) & (np.abs(lon) > 180)
    problems.add(lat_out, "latitude", lat_s, lambda v: f"latitude {v} out of range (-90 to 90)")
    problems.add(lon_out, "longitude", lon_s, lambda v: f"longitude {v} out of range (-180 to 180)")

    place_text = location.str.replace(r"^\s*on or near\s+", "", regex=True, case=False).str.strip()
    # Text that is not a police.uk landmark type is a street name.
    landmark = schema.policeuk_landmark(place_text)
    place_type = (
        landmark.map(schema.POLICEUK_LANDMARK_TYPES).fillna("residential_street").to_numpy(dtype=object)
    )
    concern = crime_type.map(POLICEUK_CONCERNS).fillna("other").to_numpy(dtype=object)
    unknown_types = sorted(set(crime_type[~crime_type.isin(list(POLICEUK_CONCERNS))]) - {""})
    if unknown_types:
        warnings.append(
            "crime types not in the police.uk list were mapped to 'other': "
            + ", ".join(f'"{t}"' for t in unknown_types)
        )

    # Rows without a Crime ID (all anti-social behaviour) get a content hash. Identical rows are
    # real separate incidents, so the occurrence index keeps them apart while a re-import of the
    # same file reproduces the same fingerprints.
    key = month_s.str.cat([crime_type, lon_s, lat_s, place_text, lsoa], sep="\x1f")
    occurrence = key.groupby(key).cumcount().astype(str)
    hashed = [
        hashlib.sha1(f"policeuk\x1f{k}\x1f{o}".encode()).hexdigest()
        for k, o in zip(key, occurrence, strict=True)
    ]
    has_id = (crime_id != "").to_numpy()
    fingerprint = np.where(has_id, crime_id.to_numpy(dtype=object), np.asarray(hashed, dtype=object))

    frame = pd.DataFrame(
        {
            "row_number": row_number,
            "crime_id": _none_if_blank(crime_id),
            "month": month,
            "crime_type": crime_type.to_numpy(dtype=object),
            "concern": concern,
            "location_text": _none_if_blank(place_text),
            "place_type": place_type,
            "latitude": lat,
            "longitude": lon,
            "lsoa_code": _none_if_blank(lsoa),
            "falls_within": _none_if_blank(falls),
            "fingerprint": fingerprint,
        }
    )
    frame = _with_dtypes(frame, POLICEUK_COLUMNS)
    bad = problems.any
    reasons = problems.joined()
    q_idx = np.flatnonzero(bad)
    quarantine = pd.DataFrame(
        {
            "row_number": row_number[q_idx].astype("int64"),
            "reason": [f"row {row_number[i]}: {reasons[i]}" for i in q_idx],
            "field": problems.first_field[q_idx],
            "value": problems.first_value[q_idx],
            "raw": _raw_json(raw, q_idx),
        },
        columns=list(schema.QUARANTINE_COLUMNS),
    )
    quarantine = _with_dtypes(quarantine, QUARANTINE_DTYPES)
    return IngestResult(
        rows=frame.iloc[np.flatnonzero(~bad)].reset_index(drop=True),
        quarantine=quarantine,
        column_map=column_map,
        warnings=warnings,
        n_read=n,
        kind="policeuk",
    )


# =====================================================================================================
# One call for a file
# =====================================================================================================


def ingest(
    source: str | Path | bytes | BinaryIO,
    filename: str | None = None,
    *,
    max_bytes: int | None = None,
    today: date | None = None,
) -> IngestResult:
    """read_table -> detect_format -> the matching normaliser. ``result.kind`` says which it was."""
    frame = read_table(source, filename, max_bytes=max_bytes)
    if detect_format(frame) == "policeuk":
        return normalise_policeuk(frame)
    return normalise_sharing_form(frame, today=today)
