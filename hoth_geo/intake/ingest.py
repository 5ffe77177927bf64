"""Reports in from a file: ``ingest`` chains read -> detect -> normalise for callers that just have
a file. The steps live beside it, in the order the data moves:

* ``files``: ``read_table``, the I/O edge (CSV in several encodings, XLSX), every cell as text;
* ``headers``: ``detect_format`` and ``map_columns`` (which columns a file has);
* ``parsers``: the cell parsers (text, dates, numbers, postcodes, vocabularies, grading);
* ``sharing_form``: ``normalise_sharing_form``, a sharing-form export -> canonical report rows;
* ``policeuk``: ``normalise_policeuk``, a police.uk street file -> the police context frame.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import BinaryIO

from hoth_geo.intake.files import read_table
from hoth_geo.intake.headers import detect_format
from hoth_geo.intake.parsers import IngestResult
from hoth_geo.intake.policeuk import normalise_policeuk
from hoth_geo.intake.sharing_form import normalise_sharing_form

__all__ = ["ingest"]


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
