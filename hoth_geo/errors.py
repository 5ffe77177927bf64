"""The errors hoth-geo raises for conditions a person can act on, in one hierarchy.

Every class here carries a message written for the person using the app or the command line: the
interfaces (``hoth_geo.ui``, the ``cli*`` modules) catch these classes and show the message. Any
other exception (a bare ``ValueError`` from a function called with the wrong arguments, a
``KeyError``) is a programming error and is not dressed up as a message.

- ``HothGeoError``: the base.
- ``InvalidInput`` (a ``ValueError``): a file, boundary or value a person gave cannot be used; the
  message names it.
- ``ImportRefused``: a whole file cannot be imported; nothing was stored.
- ``DataConditionError`` (a ``ValueError``): the stored data cannot answer what was asked (no
  matching report, too short a date range, too few cells); ``TooFewReports`` is its commonest case.
- ``NotAllowed`` (a ``PermissionError``): the audience may not receive this.
- ``NotPermitted`` (a ``PermissionError``): the user's role does not grant the action.

The ``ValueError`` and ``PermissionError`` bases keep older callers that catch those working.
"""

from __future__ import annotations

__all__ = [
    "HothGeoError",
    "InvalidInput",
    "ImportRefused",
    "DataConditionError",
    "TooFewReports",
    "NotAllowed",
    "NotPermitted",
]


class HothGeoError(Exception):
    """A condition a person can act on; ``str(exc)`` says what and how."""


class InvalidInput(HothGeoError, ValueError):
    """A file, boundary or value a person gave cannot be used; the message names it."""


class ImportRefused(HothGeoError):
    """The whole file cannot be imported; ``message`` says why in words a partner can act on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DataConditionError(HothGeoError, ValueError):
    """The stored data cannot answer what was asked (the arguments themselves were fine)."""


class TooFewReports(DataConditionError):
    """A selection holds fewer located reports than a hotspot analysis needs."""

    def __init__(self, n_reports: int, minimum: int, res: int | None = None) -> None:
        self.n_reports = int(n_reports)
        self.minimum = int(minimum)
        self.res = res  # the hexagon resolution whose located reports were counted
        super().__init__(
            f"hotspot analysis needs at least {self.minimum} located reports in the selection, "
            f"got {self.n_reports}: widen the filters (dates, concerns, place types) or use a coarser map"
        )


class NotAllowed(HothGeoError, PermissionError):
    """The audience may not receive this (e.g. individual report rows for a partner agency)."""


class NotPermitted(HothGeoError, PermissionError):
    """The user's role does not grant the capability an action needs."""
