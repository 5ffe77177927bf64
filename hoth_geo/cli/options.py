"""Options, errors and filters shared by every `hoth-geo` command module (cli, cli_admin, cli_export)."""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated

import typer

from hoth_geo import settings

__all__ = [
    "DbOption",
    "ResOption",
    "FromOption",
    "ToOption",
    "PlaceTypeOption",
    "ConcernOption",
    "IndicatorOption",
    "AgencyOption",
    "AgencyTypeOption",
    "GradingSourceOption",
    "GradingInformationOption",
    "fail",
    "actor",
    "parse_day",
    "filters",
]

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db", help=f"SQLAlchemy database URL (default: ${settings.DB_URL_ENV} or {settings.DEFAULT_DB_URL})"
    ),
]
ResOption = Annotated[
    int, typer.Option("--res", min=0, max=settings.FINE_H3_RES, help="H3 resolution of the hexagons")
]
FromOption = Annotated[str | None, typer.Option("--from", help="first date observed, YYYY-MM-DD")]
ToOption = Annotated[str | None, typer.Option("--to", help="last date observed (inclusive), YYYY-MM-DD")]
PlaceTypeOption = Annotated[
    list[str] | None, typer.Option("--place-type", help="place type key (repeatable)")
]
ConcernOption = Annotated[list[str] | None, typer.Option("--concern", help="concern key (repeatable)")]
IndicatorOption = Annotated[
    list[str] | None, typer.Option("--indicator", help="indicator key (repeatable; police and analysts)")
]
AgencyOption = Annotated[
    list[str] | None, typer.Option("--agency", help="reporting agency name (repeatable)")
]
AgencyTypeOption = Annotated[
    list[str] | None, typer.Option("--agency-type", help="reporting agency type key (repeatable)")
]
GradingSourceOption = Annotated[
    list[str] | None, typer.Option("--grading-source", help="3x5x2 source grade, 1-3 (repeatable)")
]
GradingInformationOption = Annotated[
    list[str] | None, typer.Option("--grading-information", help="3x5x2 information grade, A-E (repeatable)")
]


def fail(message: str, code: int = 2) -> None:
    """Print an error naming what was wrong and exit (2: the call's arguments; 1: the data)."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def actor() -> str:
    """Who the audit and export logs record for a command-line action."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in the environment or password database (containers)
        return "cli"


def parse_day(value: str | None, option: str) -> date | None:
    """A YYYY-MM-DD option value as a date (None when not given); exits with a message naming ``option``
    otherwise."""
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        fail(f"{option} must be a date as YYYY-MM-DD, got {value!r}")
    return None


def filters(params: Mapping[str, object]):
    """The shared ReportFilter from a command's filter options (``typer.Context.params``: one option per
    ReportFilter field, ``--from`` ... ``--grading-information``; a field the command has no option for
    is left open), or exit naming the bad value."""
    from hoth_geo.selection import ReportFilter

    def values(name: str) -> tuple:
        return tuple(params.get(name) or ())

    try:
        return ReportFilter(
            date_from=parse_day(params.get("date_from"), "--from"),
            date_to=parse_day(params.get("date_to"), "--to"),
            place_types=values("place_type"),
            concerns=values("concern"),
            indicators=values("indicator"),
            agencies=values("agency"),
            agency_types=values("agency_type"),
            grading_sources=values("grading_source"),
            grading_information=values("grading_information"),
        )
    except ValueError as exc:
        fail(str(exc))
