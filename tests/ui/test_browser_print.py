"""A page printed from the browser (Print, or Save as PDF) as an officer would print the patrol plan for
a briefing: every sheet carries the protective marking at its top and foot, as the app's exports do;
the menu, the filters and the buttons are left out; every slot of the plan is on paper. Printed by
headless Chromium to PDF and read back with poppler's pdftotext. Reuses the server of
tests/ui/test_browser_narrow_screens.py."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from test_browser import go_in_session, hex_count
from test_browser_narrow_screens import (  # noqa: F401  (app: the module's server)
    IDLE_JS,
    LAPTOP,
    OFFICER,
    app,
    signed_in,
)

from hoth_geo.access.privacy import DEFAULT_MARKINGS

pytestmark = pytest.mark.browser

MARKING = DEFAULT_MARKINGS["police"]


def _text(pdf, mode: str) -> list[str]:
    """The text of each sheet of ``pdf``: ``-layout`` as it lies on the sheet (the marking's place),
    ``-raw`` in the order it was drawn (a table's cells row by row)."""
    if not shutil.which("pdftotext"):
        pytest.fail("pdftotext (poppler-utils) is required; the test command installs it")
    out = subprocess.run(["pdftotext", mode, str(pdf), "-"], capture_output=True, text=True, check=True)
    return [page for page in out.stdout.split("\f") if page.strip()]


def _squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_a_printed_patrol_plan_is_marked_on_every_sheet_and_holds_every_slot(chromium, app, tmp_path):  # noqa: F811
    with signed_in(chromium, app, LAPTOP, OFFICER) as page:
        go_in_session(page, "patrol")
        page.locator(".st-key-patrol_plan table").wait_for()
        page.wait_for_function(IDLE_JS)
        whens = page.locator(".st-key-patrol_plan tbody td:nth-child(2)").all_inner_texts()
        assert len(whens) == 10  # the default plan: ten slots
        # The plan's map drawn before printing: a map still loading (a busy machine) prints as an empty
        # box, which could fill a sheet of its own.
        hex_count(page)
        page.wait_for_function(IDLE_JS)
        pdf = tmp_path / "patrol-plan.pdf"
        page.pdf(path=str(pdf), format="A4")
    sheets = _text(pdf, "-layout")
    assert len(sheets) >= 2, "a plan of ten slots and its map take more than one sheet"
    for number, sheet in enumerate(sheets, start=1):
        lines = [line.strip() for line in sheet.splitlines() if line.strip()]
        # The marking heads and foots every sheet, and no sheet holds only the marking (Streamlit's
        # scrolling boxes moved a table whole to the next sheet, leaving a blank one).
        assert lines[0] == MARKING and lines[-1] == MARKING, (number, lines[:2], lines[-2:])
        assert len(lines) > 2, f"sheet {number} is blank"
    printed = _squeezed("".join(_text(pdf, "-raw")))
    assert all(_squeezed(when) in printed for when in whens), whens
    assert "Patrolplan" in printed
    # The menu, the filters and the buttons stay on screen.
    for left_out in ("Sign out", "Filters", "Download the plan", "keyboard_arrow", "Hotspot map"):
        assert _squeezed(left_out) not in printed, left_out
