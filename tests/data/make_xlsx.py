"""Rebuild sharing_form.xlsx, the XLSX fixture for tests/intake/test_ingest.py (synthetic people only).

    .venv/bin/python tests/data/make_xlsx.py

The workbook has a notes sheet with no header first (the reader must skip it), a title row above
the header on the data sheet (so spreadsheet row numbers start lower down), a real date cell, a
date-and-time cell, an Excel serial number typed into a General cell, a time cell, float
coordinates and a formula that must come back as its text.
"""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path

import openpyxl

HERE = Path(__file__).resolve().parent


def build(path: Path) -> None:
    wb = openpyxl.Workbook()
    notes = wb.active
    notes.title = "Notes"
    notes["A1"] = "Synthetic example workbook for hoth-geo tests."
    notes["A2"] = "No real people or places of concern."

    ws = wb.create_sheet("Reports")
    ws["A1"] = "Partnership information sharing export (synthetic)"
    ws.append([])
    ws.append(
        [
            "Ref",
            "Date observed",
            "Time observed",
            "Reporting agency",
            "Location",
            "Latitude",
            "Longitude",
            "Concerns",
            "Narrative",
        ]
    )
    ws.append(
        [
            "SYN-X1",
            date(2025, 4, 3),
            time(21, 30),
            "Synthetic Youth Project",
            "Market Place",
            54.7763,
            -1.5754,
            "CSE",
            "Synthetic example: date cell",
        ]
    )
    ws.append(
        [
            "SYN-X2",
            datetime(2025, 4, 4, 18, 5),
            None,
            "Synthetic Youth Project",
            "North Road",
            54.78,
            -1.57,
            "Missing",
            "Synthetic example: date-time cell",
        ]
    )
    ws.append(
        [
            "SYN-X3",
            45750,
            None,
            "Synthetic Academy",
            "Claypath",
            None,
            None,
            "County lines",
            "Synthetic example: serial date",
        ]
    )
    ws.append(
        [
            "SYN-X4",
            "03/04/2025",
            None,
            "Synthetic Academy",
            "Claypath",
            None,
            None,
            "Drugs",
            "Synthetic example: text date",
        ]
    )
    ws["I7"] = '=HYPERLINK("http://example.invalid","click")'
    ws["B4"].number_format = "dd/mm/yyyy"
    ws["B5"].number_format = "dd/mm/yyyy hh:mm"
    wb.save(path)


if __name__ == "__main__":
    build(HERE / "sharing_form.xlsx")
