"""`hoth-geo users`, `hoth-geo audit` and `hoth-geo purge`: accounts, the audit trail and retention.

``register(app)`` adds them to the main command line. Passwords are only ever prompted for (hidden,
typed twice), never taken as arguments, so they do not end up in shell history or process lists.
Commands are recorded in the audit log with the actor "cli:<operating-system user>".
"""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from hoth_geo.cli.options import DbOption, actor, fail
from hoth_geo.errors import InvalidInput

__all__ = [
    "register",
]

RoleOption = Annotated[
    list[str],
    typer.Option(
        "--role",
        help="police, analyst, partner, contributor or admin; repeat or comma-separate to add admin to a data role",
    ),
]

users_app = typer.Typer(help="Accounts and roles.", no_args_is_help=True, add_completion=False)
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True, add_completion=False)


def _engine(db: str | None):
    # Imported here so the audit and users tables are on the metadata before connect() creates tables.
    from hoth_geo import store
    from hoth_geo.access import audit, auth  # noqa: F401

    return store.connect(db)


def _roles(role: list[str]) -> str:
    from hoth_geo.access import auth

    joined = ",".join(role)
    try:
        data_role, is_admin = auth.parse_roles(joined)
    except InvalidInput as exc:
        fail(f"--role: {exc}")
    return auth.role_label(data_role, is_admin)


def _prompt_password() -> str:
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="sign-in name, usually an email address")],
    role: RoleOption,
    display_name: Annotated[str | None, typer.Option("--display-name", help="name shown in the app")] = None,
    db: DbOption = None,
) -> None:
    """Add an account; the password is prompted for twice (at least 12 characters)."""
    from hoth_geo.access import auth

    roles = _roles(role)
    engine = _engine(db)
    password = _prompt_password()
    try:
        auth.add_user(engine, username, password, roles, display_name=display_name, actor=actor())
    except InvalidInput as exc:
        fail(str(exc))
    typer.echo(f"added {username.strip().lower()} with role {roles}")


@users_app.command("list")
def users_list(db: DbOption = None) -> None:
    """List accounts: name, roles, state and last sign-in."""
    from hoth_geo.access import auth

    found = auth.list_users(_engine(db))
    if not found:
        typer.echo("no accounts yet: add the first admin with `hoth-geo users add NAME --role admin`")
        return
    from hoth_geo.local_time import format_local, zone_label

    typer.echo(f"{'username':<32} {'roles':<16} {'state':<9} {'last sign-in':<19} display name")
    for u in found:
        state = "disabled" if u.disabled else "active"
        last = format_local(u.last_login_at, "%Y-%m-%d %H:%M") or "never"
        typer.echo(f"{u.username:<32} {u.roles:<16} {state:<9} {last:<19} {u.display_name or ''}")
    typer.echo(f"(times: {zone_label()})")


@users_app.command("disable")
def users_disable(username: str, db: DbOption = None) -> None:
    """Disable an account (it can no longer sign in)."""
    from hoth_geo.access import auth

    try:
        auth.disable_user(_engine(db), username, actor=actor())
    except InvalidInput as exc:
        fail(str(exc))
    typer.echo(f"disabled {username.strip().lower()}")


@users_app.command("enable")
def users_enable(username: str, db: DbOption = None) -> None:
    """Enable an account and clear any sign-in lockout."""
    from hoth_geo.access import auth

    try:
        auth.enable_user(_engine(db), username, actor=actor())
    except InvalidInput as exc:
        fail(str(exc))
    typer.echo(f"enabled {username.strip().lower()}")


@users_app.command("set-role")
def users_set_role(username: str, role: RoleOption, db: DbOption = None) -> None:
    """Replace an account's roles."""
    from hoth_geo.access import auth

    roles = _roles(role)
    try:
        auth.set_role(_engine(db), username, roles, actor=actor())
    except InvalidInput as exc:
        fail(str(exc))
    typer.echo(f"{username.strip().lower()} now has role {roles}")


@users_app.command("set-password")
def users_set_password(username: str, db: DbOption = None) -> None:
    """Set a new password (prompted for twice) and clear any sign-in lockout."""
    from hoth_geo.access import auth

    engine = _engine(db)
    if auth.get_user(engine, username) is None:
        fail(f"username {username.strip().lower()!r} does not exist")
    try:
        auth.set_password(engine, username, _prompt_password(), actor=actor())
    except InvalidInput as exc:
        fail(str(exc))
    typer.echo(f"password changed for {username.strip().lower()}")


@users_app.command("set-agency")
def users_set_agency(
    username: str,
    agency: Annotated[str, typer.Option("--agency", help="the agency's name, as the police should read it")],
    agency_type: Annotated[
        str, typer.Option("--agency-type", help="school, health, housing, youth_service, social_care, ...")
    ],
    contact: Annotated[
        str | None, typer.Option("--contact", help="how the police reach this reporter: phone or e-mail")
    ] = None,
    db: DbOption = None,
) -> None:
    """Record the agency (and contact) an account's Share information forms carry."""
    from hoth_geo.access import auth
    from hoth_geo.intake import submission

    engine = _engine(db)
    if auth.get_user(engine, username) is None:
        fail(f"username {username.strip().lower()!r} does not exist")
    try:
        submission.set_account_agency(engine, username, agency, agency_type, contact, actor=actor())
    except InvalidInput as exc:
        fail(str(exc))
    typer.echo(f"{username.strip().lower()} shares as {agency.strip()} ({agency_type})")


@audit_app.command("verify")
def audit_verify(
    expect_head: Annotated[
        str | None,
        typer.Option(
            "--expect-head", help="a head hash printed by an earlier verify: must still be in the chain"
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Check the audit chain, its anchor log, and the accounts and export log it vouches for.

    Exit 0 when everything is intact; 1 with one line per problem (edited, deleted, forged or
    rewritten entries, a truncated tail, accounts or export-log rows changed outside hoth-geo).
    """
    from hoth_geo.access import audit

    try:
        result = audit.verify_chain(_engine(db), expect_hash=expect_head)
    except InvalidInput as exc:
        fail(f"--expect-head: {exc}" if expect_head and "expect_hash" in str(exc) else str(exc))
    if not result.ok:
        where = (
            f"at entry {result.first_bad_id}" if result.first_bad_id is not None else "after the last entry"
        )
        typer.secho(
            f"audit chain BROKEN {where}: {result.reason} ({result.n_entries:,} entries verified)",
            fg=typer.colors.RED,
            err=True,
        )
        for finding in result.findings:
            typer.secho(f"  {finding.describe()}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    typer.echo(f"audit chain intact: {result.n_entries:,} entries")
    if not result.keyed and result.n_entries:
        typer.echo(
            "the entries are not keyed yet: the next audited action adds the key (see docs/access-and-audit.md)"
        )
    if result.anchor:
        typer.echo(f"anchor log: {result.anchor}")
    if result.head_hash:
        typer.echo(f"head hash: {result.head_hash} (keep a copy outside the database)")


@audit_app.command("export")
def audit_export(
    out: Annotated[Path, typer.Option("--out", help="output .csv file")],
    db: DbOption = None,
) -> None:
    """Write the whole audit log as CSV (spreadsheet-safe) and record the export in the log."""
    from hoth_geo.access import audit

    if out.suffix.lower() != ".csv":
        fail(f"--out must end in .csv, got {out.name!r}")
    engine = _engine(db)
    data = audit.export_audit_csv(engine)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    # Rows, not lines: a quoted cell may hold a line break.
    n = sum(1 for _ in csv.reader(io.StringIO(data.decode("utf-8-sig")))) - 1
    audit.record(engine, "audit_exported", actor=actor(), target=out.name, details={"entries": n})
    typer.echo(f"wrote {n:,} audit entries to {out}")


def purge(
    older_than: Annotated[
        str | None,
        typer.Option(
            "--older-than",
            help="24m, 2y, 730d or YYYY-MM-DD (default: $HOTH_GEO_RETENTION or 6y)",
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
    db: DbOption = None,
) -> None:
    """Delete reports observed before the cutoff and the rows derived from them (audited), redact old
    audit and export-log details, and (SQLite) scrub the deleted text from the database files."""
    from hoth_geo.intake import retention

    today = date.today()
    try:
        cutoff = (
            retention.parse_older_than(older_than, today)
            if older_than is not None
            else retention.default_cutoff(today)
        )
    except InvalidInput as exc:
        fail(f"--older-than: {exc}")
    engine = _engine(db)
    preview = retention.preview_purge(engine, cutoff)
    summary = ", ".join(f"{n:,} {name}" for name, n in preview.items())
    typer.echo(f"older than {cutoff.isoformat()}: {summary}")
    if not any(preview.values()):
        typer.echo("nothing to delete")
        return
    if not yes and not typer.confirm("Delete these rows permanently?", default=False):
        typer.echo("nothing deleted")
        raise typer.Exit(1)
    done = retention.purge_older_than(engine, cutoff, actor=actor())
    typer.echo("deleted: " + ", ".join(f"{done[name]:,} {name}" for name in preview))
    typer.echo(
        f"redacted: {done['audit_entries']:,} audit entries, {done['export_log_rows']:,} export log rows "
        "(report ids and free text older than the cutoff)"
    )
    if not done["scrubbed"]:
        typer.secho(
            "warning: another process holds the database open, so deleted text may remain in its -wal "
            "file until it is checkpointed: stop the app and run `hoth-geo purge` again",
            fg=typer.colors.YELLOW,
            err=True,
        )


def register(app: typer.Typer) -> None:
    """Add `users`, `audit` and `purge` to the main `hoth-geo` app."""
    app.add_typer(users_app, name="users")
    app.add_typer(audit_app, name="audit")
    app.command("purge")(purge)
