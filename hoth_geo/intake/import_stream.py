"""Reading an import file in chunks of rows, so an import's memory does not grow with the file.

The usual file, a UTF-8 CSV in which every record has the header's number of cells, streams through
Arrow's incremental CSV reader: chunks come out as the frames ``files.read_table`` would have
built, row for row, with ``attrs['header_row']`` moved so the normaliser numbers each chunk's rows
as the file's rows. Anything else (a workbook, another encoding, a ragged record, an interior blank
line, a blank-headed column with values) goes to the whole-file reader, which keeps such files'
rows exactly as before: ``open_csv`` answers None up front, or iterating the chunks raises
``StreamUnsuitable`` when the surprise comes later (the caller then rolls back and reads whole).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hoth_geo.intake import files

__all__ = [
    "CHUNK_ROWS",
    "StreamUnsuitable",
    "file_sha256",
    "CsvStream",
    "open_csv",
    "frame_chunks",
    "give_back_free_memory",
]

# Rows per chunk: large enough that per-chunk costs (a database round trip, vectorised passes)
# stay small, small enough that a chunk's frames are tens of megabytes.
CHUNK_ROWS = 50_000

_HEAD_BYTES = 4 * (files.MAX_HEADER_CHARS + 1)  # enough for the header limit in any UTF-8 text
_TAIL_BYTES = 65_536
_BLOCK_BYTES = 1 << 20  # Arrow reads ahead many blocks: 1 MB keeps that to tens of MB (a record must fit)


class StreamUnsuitable(Exception):
    """The file turned out to need the whole-file reader (``files.read_table``)."""


def file_sha256(source: Path | bytes) -> str:
    """The SHA-256 of a file, read in blocks (a multi-gigabyte file is never held in memory)."""
    if isinstance(source, bytes | bytearray | memoryview):
        return hashlib.sha256(source).hexdigest()
    digest = hashlib.sha256()
    with open(source, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class _Window(io.RawIOBase):
    """Bytes [start, end) of a file or buffer, read front to back; ``done`` counts what was read."""

    def __init__(self, source: Path | bytes, start: int, end: int) -> None:
        self._fh = open(source, "rb") if isinstance(source, Path) else io.BytesIO(source)  # noqa: SIM115
        self._fh.seek(start)
        self._left = end - start
        self.done = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        want = min(len(buffer), self._left)
        if want <= 0:
            return 0
        got = self._fh.readinto(memoryview(buffer)[:want])
        self._left -= got
        self.done += got
        return got

    def close(self) -> None:
        self._fh.close()
        super().close()


@dataclass
class CsvStream:
    """A UTF-8 CSV file whose header has been checked; ``chunks`` reads its body."""

    source: Path | bytes
    name: str
    delimiter: str
    header_row: int  # 1-based line of the header
    width: int  # cells in the header record
    names: list[str]  # the frame's column names (duplicates and blank-headed columns left out)
    keep: list[int]  # header positions of ``names``
    blank_headed: list[int]  # header positions without a name: they must stay empty throughout
    warnings: list[str]
    body_start: int  # byte offsets of the records after the header
    body_end: int
    fraction_read: float = 0.0

    @property
    def header(self) -> pd.DataFrame:
        """An empty frame with the file's columns (for ``headers.detect_format``)."""
        return pd.DataFrame({n: pd.Series([], dtype=object) for n in self.names}, columns=self.names)

    def chunks(self, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
        """The file's rows, ``chunk_rows`` at a time (a trailing blank row may move to the next chunk),
        as ``files.read_table`` frames; raises ``StreamUnsuitable`` (see the module's doc)."""
        import pyarrow as pa
        import pyarrow.csv as pacsv

        first = True
        emitted = 0

        def frame(table: pa.Table) -> pd.DataFrame:
            nonlocal first, emitted
            out = pd.DataFrame(
                {
                    n: pd.Series(table.column(i).to_numpy(zero_copy_only=False), dtype=object)
                    for n, i in zip(self.names, self.keep, strict=True)
                },
                columns=self.names,
            )
            out.attrs.update(
                {
                    "format": "csv",
                    "delimiter": self.delimiter,
                    "encoding": "utf-8",
                    "sheet": None,
                    "filename": self.name,
                    "header_row": self.header_row + emitted,
                    "warnings": list(self.warnings) if first else [],
                }
            )
            first = False
            emitted += len(out)
            return out

        if self.body_end <= self.body_start:
            self.fraction_read = 1.0
            yield frame(_empty_table(self.width))
            return
        window = _Window(self.source, self.body_start, self.body_end)
        total = self.body_end - self.body_start
        columns = [f"f{i}" for i in range(self.width)]
        try:
            reader = pacsv.open_csv(
                io.BufferedReader(window, buffer_size=1 << 20),
                read_options=pacsv.ReadOptions(
                    column_names=columns, use_threads=True, block_size=_BLOCK_BYTES
                ),
                parse_options=pacsv.ParseOptions(
                    delimiter=self.delimiter,
                    quote_char='"',
                    double_quote=True,
                    newlines_in_values=True,
                    ignore_empty_lines=False,
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types={c: pa.string() for c in columns},
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
            pending: list[pa.RecordBatch] = []
            n_pending = 0
            last_row: list[str] | None = None
            for batch in _batches(reader):
                if batch.num_rows == 0:
                    continue
                self._check_blank_headed(batch)
                last_row = [batch.column(i)[batch.num_rows - 1].as_py() for i in range(self.width)]
                pending.append(batch)
                n_pending += batch.num_rows
                while n_pending >= chunk_rows:
                    table = pa.Table.from_batches(pending)
                    head, blank_tail = _cut_before_blank_tail(table.slice(0, chunk_rows))
                    if not head.num_rows:
                        # A whole chunk of blank rows: interior (rows) or trailing (padding), which only
                        # the rest of the file tells; the whole-file reader decides such files.
                        raise StreamUnsuitable("a long run of blank rows")
                    carry = pa.concat_tables([blank_tail, table.slice(chunk_rows)])
                    pending, n_pending = carry.to_batches(), carry.num_rows
                    self.fraction_read = window.done / total
                    yield frame(head)
            # Arrow reads a quote that is never closed to the end of the file; the whole-file reader
            # refuses such a file with the row named.
            if last_row is not None and any("\n" in v for v in last_row):
                raise StreamUnsuitable("the last record holds a line break")
            table = pa.Table.from_batches(pending) if pending else _empty_table(self.width)
            head, _trailing_blank_rows = _cut_before_blank_tail(table)
            self.fraction_read = 1.0
            if head.num_rows or first:
                yield frame(head)
        except (pa.ArrowInvalid, UnicodeError) as exc:
            raise StreamUnsuitable(str(exc)) from exc
        finally:
            window.close()

    def _check_blank_headed(self, batch) -> None:
        for i in self.blank_headed:
            values = batch.column(i).to_numpy(zero_copy_only=False)
            if any(str(v).strip() for v in values):
                raise StreamUnsuitable(f"column {i + 1} has no header but holds values")


def _batches(reader):
    while True:
        try:
            yield reader.read_next_batch()
        except StopIteration:
            return


def _empty_table(width: int):
    import pyarrow as pa

    return pa.table({f"f{i}": pa.array([], type=pa.string()) for i in range(width)})


def _cut_before_blank_tail(table):
    """(rows up to the last filled one, the blank rows after it): blank rows at the end of a chunk are
    held back, because at the end of the file they are padding and not rows."""
    n = table.num_rows
    last = n
    while last > 0 and all(
        not str(table.column(i)[last - 1].as_py()).strip() for i in range(table.num_columns)
    ):
        last -= 1
    return table.slice(0, last), table.slice(last)


def _binary_or_utf16(sample: bytes) -> bool:
    if sample[:2] in (b"\xff\xfe", b"\xfe\xff") or files.utf16_without_bom(sample) is not None:
        return True
    return b"\x00" in sample or len(sample.translate(None, files.BINARY_BYTES)) < 0.98 * len(sample)


def open_csv(source: Path | bytes, name: str) -> CsvStream | None:
    """A ``CsvStream`` of a UTF-8 CSV file, or None when the whole-file reader must read it (a
    workbook, another encoding, an empty or binary file, a header over the limits: that reader
    refuses or reads those exactly as before)."""
    if isinstance(source, bytes | bytearray | memoryview):
        source = bytes(source)
        size = len(source)
        head = source[:_HEAD_BYTES]
        tail = source[max(0, size - _TAIL_BYTES) :]
    else:
        source = Path(source)
        size = source.stat().st_size
        with open(source, "rb") as fh:
            head = fh.read(_HEAD_BYTES)
            fh.seek(max(0, size - _TAIL_BYTES))
            tail = fh.read()
    lower = name.lower()
    if head[:4] == b"PK\x03\x04" or lower.endswith((".xlsx", ".xlsm", ".xls")):
        return None
    if head[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" or not head.strip():
        return None
    if _binary_or_utf16(head[: files.BINARY_SAMPLE]):
        return None
    bom = 3 if head[:3] == codecs.BOM_UTF8 else 0
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head[bom:], final=len(head) >= size)
    except UnicodeDecodeError:
        return None
    stripped = text.lstrip("\r\n \t")
    lead = len(text) - len(stripped)  # ASCII only: characters are bytes
    header_row = 1 + text[:lead].count("\n")
    try:
        delimiter = files.check_csv_header(stripped, name, header_row)
    except files.ImportRefused:
        return None  # the whole-file reader refuses it with the full message
    header_line = files.header_line(stripped)
    if len(header_line) == len(stripped) and len(head) < size:
        return None  # a header longer than the head read: let the whole-file reader judge it
    cells = [str(h).strip() for h in next(csv.reader([header_line], delimiter=delimiter), [])]
    width = len(cells)
    names: list[str] = []
    keep: list[int] = []
    blank_headed: list[int] = []
    ignored: list[str] = []
    for i, h in enumerate(cells):
        if not h:
            blank_headed.append(i)
        elif h in names:
            ignored.append(h)
        else:
            names.append(h)
            keep.append(i)
    warnings = []
    if ignored:
        warnings.append(
            "duplicate column headers ignored (the first of each was used): "
            + ", ".join(f'"{h}"' for h in dict.fromkeys(ignored))
        )
    start = bom + lead + len(header_line.encode("utf-8"))
    rest = stripped[len(header_line) : len(header_line) + 2]
    start += 2 if rest.startswith("\r\n") else (1 if rest[:1] in ("\r", "\n") else 0)
    # Line breaks after the last record are padding, not rows (as in the whole-file reader).
    trailing = len(tail) - len(tail.rstrip(b"\r\n"))
    if trailing == len(tail) and len(tail) < size:
        return None
    end = max(start, size - trailing)
    return CsvStream(
        source=source,
        name=name,
        delimiter=delimiter,
        header_row=header_row,
        width=width,
        names=names,
        keep=keep,
        blank_headed=blank_headed,
        warnings=warnings,
        body_start=start,
        body_end=end,
    )


def frame_chunks(raw: pd.DataFrame, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """A frame read whole (``files.read_table``) as chunks shaped like ``CsvStream.chunks``'s."""
    header_row = int(raw.attrs.get("header_row", 1))
    for lo in range(0, max(len(raw), 1), chunk_rows):
        part = raw.iloc[lo : lo + chunk_rows].reset_index(drop=True)
        part.attrs = {
            **raw.attrs,
            "header_row": header_row + lo,
            "warnings": list(raw.attrs.get("warnings", [])) if lo == 0 else [],
        }
        yield part


# The normaliser's per-file warnings that count rows (``sharing_form.normalise_sharing_form``), in the order it
# gives them. Read in chunks, each chunk counts its own rows; these add the counts back up.
# The normaliser's warnings that count rows: (pattern, the subject for one, for many). Each pattern's
# groups are the count, the rest of the warning and, where it names rows, the rows named.
def give_back_free_memory() -> None:
    """Hand memory freed by the last chunk back to the operating system (glibc keeps it otherwise, so
    a long import's resident size would climb to the sum of its chunks' high-water marks)."""
    global _malloc_trim
    if _malloc_trim is None:
        try:
            import ctypes

            _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim = None
