"""Sharing-form rows the tests import, and a writer for them (all people and agencies synthetic)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from hoth_geo import store
from hoth_geo.schema import TEMPLATE_COLUMNS


def write_form(path: Path, rows: list[dict]) -> Path:
    """A sharing-form CSV at ``path`` with the template's columns and ``rows`` (blank where not given)."""
    pd.DataFrame([{c: r.get(c, "") for c in TEMPLATE_COLUMNS} for r in rows]).to_csv(path, index=False)
    return path


def as_quarantined_before_0010(engine) -> None:
    """Forget the identity of every quarantine entry, as entries quarantined before revision 0010 have
    none: a corrected row imported later does not supersede them, so an analyst may still resolve one
    to the report stored meanwhile."""
    with engine.begin() as conn:
        conn.execute(sa.update(store.quarantine).values(identity=None))


# A youth outreach report with no place the geocoder can find (it goes to Review).
OUTREACH = {
    "Date observed": "14/06/2025",
    "Time observed": "21:15",
    "Reporting agency": "Youth Outreach (synthetic)",
    "Agency type": "vcs",
    "Location": "the usual place behind the shops",
    "Concerns": "CCE",
    "Narrative": "Group of young people (synthetic) seen with an older male near a white van.",
}
PETROL = dict(OUTREACH, **{"Date observed": "15/06/2025", "Location": "", "Place name": "Petrol station"})
LOCATED = dict(OUTREACH, **{"Date observed": "16/06/2025", "Location": "", "Postcode": "DH1 1AB"})

# A school's report with its own reference.
SCHOOL_001 = {
    "Source reference": "001",
    "Date received": "12/03/2025",
    "Date observed": "11/03/2025",
    "Time observed": "15:40",
    "Reporting agency": "Hillside Academy (synthetic)",
    "Agency type": "school",
    "Postcode": "DH8 6LQ",
    "Place type": "bus stop",
    "Concerns": "CCE",
    "Indicators": "older males; gifts",
    "Narrative": "Pupil A (synthetic) seen getting into a car with two older males after school.",
    "Child reference": "HA-0001",
}


def templated(ref: str) -> dict:
    return {
        "Source reference": ref,
        "Date received": "06/05/2025",
        "Date observed": "05/05/2025",
        "Reporting agency": "Moorfield School (synthetic)",
        "Agency type": "school",
        "Postcode": "SR7 0BU",
        "Place type": "school",
        "Concerns": "CCE",
        "Narrative": "Concern raised under the school's weekly safeguarding template (synthetic).",
    }
