"""`hoth-geo` command line. Stable: other tools call it. Every command takes --db URL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from hoth_geo import settings
from hoth_geo.cli.admin import register as _register_admin
from hoth_geo.cli.area import AreaOption, SourceOption, analysis_frame, apply_area, within_override
from hoth_geo.cli.area import register as _register_area
from hoth_geo.cli.basemap import register as _register_basemap
from hoth_geo.cli.db import register as _register_db
from hoth_geo.cli.export import register as _register_export
from hoth_geo.cli.options import (
    AgencyOption,
    AgencyTypeOption,
    ConcernOption,
    DbOption,
    FromOption,
    GradingInformationOption,
    GradingSourceOption,
    IndicatorOption,
    PlaceTypeOption,
    ResOption,
    ToOption,
    fail,
)
from hoth_geo.cli.options import filters as _filters
from hoth_geo.errors import InvalidInput

__all__ = [
    "app",
    "run_app",
    "streamlit_command",
    "APP_PROCESS_ENV",
]


class _App(typer.Typer):
    """The command line. A database at an older schema ends any command with the message naming the fix
    (`hoth-geo db upgrade`) instead of a traceback."""

    def __call__(self, *args, **kwargs):
        from hoth_geo.store.migrations import SchemaOutOfDate

        try:
            return super().__call__(*args, **kwargs)
        except SchemaOutOfDate as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            raise SystemExit(1) from None


app = _App(
    help="hoth-geo: partnership information-sharing reports onto places, H3 hexagons and hotspot maps.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold report text: never print them
)


class _Bar:
    """Progress on stderr for long commands."""

    def __init__(self, label: str):
        self.label = label
        self.last = -1

    def __call__(self, fraction: float, message: str) -> None:
        pct = int(fraction * 100)
        if pct != self.last and sys.stderr.isatty():
            sys.stderr.write(f"\r{self.label} [{'#' * (pct // 5):<20}] {pct:3d}% {message[:60]:<60}")
            sys.stderr.flush()
        self.last = pct
        if fraction >= 1.0 and sys.stderr.isatty():
            sys.stderr.write("\n")


@app.command()
def demo(db: DbOption = None) -> None:
    """Load the shipped SYNTHETIC demo data set (venues and reports) into the database."""
    from hoth_geo import store
    from hoth_geo.intake import pipeline

    engine = store.connect(db)
    summary = pipeline.load_demo_data(engine, progress=_Bar("demo"))
    typer.echo(summary.describe())
    typer.echo(f"{settings.DEMO_LABEL}: every person, narrative and venue name in it is fictional.")


@app.command()
def ingest(
    paths: Annotated[
        list[Path], typer.Argument(help="CSV or XLSX files: sharing-form exports or police.uk street CSVs")
    ],
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="force the format: sharing_form or policeuk (default: detected)"),
    ] = None,
    area: AreaOption = None,
    rows_out: Annotated[
        Path | None,
        typer.Option(
            "--rows-out",
            help="write every row's outcome (stored, quarantined with its reason, duplicate of which report,"
            " possible duplicate, resubmission) to this CSV, one line per input row",
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Import files. Exit 0 when every file was read (even with quarantined rows); 1 when one was refused."""
    import pandas as pd

    from hoth_geo import store
    from hoth_geo.access import privacy
    from hoth_geo.errors import ImportRefused
    from hoth_geo.intake import pipeline

    if fmt not in (None, "sharing_form", "policeuk"):
        fail(f"--format must be sharing_form or policeuk, got {fmt!r}")
    from hoth_geo.intake import area as area_mod

    if rows_out is not None and rows_out.suffix.lower() != ".csv":
        fail(f"--rows-out must end in .csv, got {rows_out.name!r}")
    engine = store.connect(db)
    gazetteer = area_mod.gazetteer_for(apply_area(db, area))
    refused = 0
    accounted = []
    for path in paths:
        if not path.is_file():
            typer.secho(f"refused: {path}: no such file", fg=typer.colors.RED, err=True)
            refused += 1
            continue
        try:
            summary = pipeline.import_file(
                engine, path, fmt=fmt, gazetteer=gazetteer, progress=_Bar(path.name)
            )
        except ImportRefused as exc:
            typer.secho(f"refused: {exc.message}", fg=typer.colors.RED, err=True)
            refused += 1
            continue
        typer.echo(f"{summary.format}: {summary.describe()}")
        for w in summary.warnings:
            typer.echo(f"  warning: {w}")
        if summary.rows is not None:
            for line in _outcome_lines(summary.rows):
                typer.echo(f"  {line}")
            accounted.append(summary.rows.assign(file=summary.filename, import_id=summary.import_id))
    if rows_out is not None and accounted:
        frame = pd.concat(accounted, ignore_index=True)
        frame = frame[["file", "import_id", *[c for c in frame.columns if c not in ("file", "import_id")]]]
        privacy.neutralise_frame(frame).to_csv(rows_out, index=False)
        typer.echo(f"wrote the outcome of {len(frame):,} row{'s' if len(frame) != 1 else ''} to {rows_out}")
    if refused:
        raise typer.Exit(1)


def _outcome_lines(rows, limit: int = 10) -> list[str]:
    """Rows that were not simply stored, by row number (the first ``limit`` of each kind)."""
    lines = []
    labels = {
        "quarantined": "quarantined",
        "duplicate": "duplicate",
        "possible_duplicate": "possible duplicate (stored, to review)",
        "resubmission": "changed resubmission (to review)",
    }
    for outcome, label in labels.items():
        these = rows[rows["outcome"] == outcome]
        for r in these.head(limit).itertuples():
            lines.append(f"row {r.row_number}: {label}: {_one_line(r.detail)}")
        if len(these) > limit:
            lines.append(f"... and {len(these) - limit:,} more {label} rows (see --rows-out)")
    return lines


def _one_line(text) -> str:
    from hoth_geo.access.privacy import strip_controls

    if not isinstance(text, str):
        return ""
    text = " ".join(strip_controls(text).split())
    return text if len(text) <= 160 else text[:157] + "..."


def _load(db):
    from hoth_geo import store

    engine = store.connect(db)
    return engine, store.load_reports(engine)


@app.command()
def hexes(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="output file: .geojson, .csv or .gpkg")],
    res: ResOption = settings.DEFAULT_MAP_RES,
    date_from: FromOption = None,
    date_to: ToOption = None,
    place_type: PlaceTypeOption = None,
    concern: ConcernOption = None,
    indicator: IndicatorOption = None,
    agency: AgencyOption = None,
    agency_type: AgencyTypeOption = None,
    grading_source: GradingSourceOption = None,
    grading_information: GradingInformationOption = None,
    db: DbOption = None,
) -> None:
    """Write the aggregated hexagons (h3, where: its streets, count, distinct places, top place types and
    concerns)."""
    from hoth_geo.analysis import aggregate
    from hoth_geo.deliver.wayfinding import describe_cells_for
    from hoth_geo.intake.area import gazetteer_in_use

    _check_out(out, (".geojson", ".csv", ".gpkg"))
    f = _filters(ctx.params)  # the filter options above, by name
    apply_area(db, None)
    _engine, reports = _load(db)
    table = aggregate.aggregate_hexes(reports, res, f)
    # Full detail for the police and analysts: a hexagon with no street near is named by its nearest place.
    table.insert(
        1, "where", describe_cells_for(table["h3"].to_numpy(), res, gazetteer_in_use(), name_places=True)
    )
    _write_table(table, out)
    typer.echo(f"wrote {len(table):,} hexagons at resolution {res} ({f.describe()}) to {out}")


@app.command("map")
def map_command(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="output .html file (opens offline)")],
    res: ResOption = settings.DEFAULT_MAP_RES,
    date_from: FromOption = None,
    date_to: ToOption = None,
    place_type: PlaceTypeOption = None,
    concern: ConcernOption = None,
    indicator: IndicatorOption = None,
    agency: AgencyOption = None,
    agency_type: AgencyTypeOption = None,
    grading_source: GradingSourceOption = None,
    grading_information: GradingInformationOption = None,
    db: DbOption = None,
) -> None:
    """Write a standalone hexagon map (HTML, no internet needed to open it)."""
    from hoth_geo.analysis import aggregate
    from hoth_geo.analysis.places import top_places
    from hoth_geo.deliver import maps
    from hoth_geo.intake import pipeline

    if out.suffix.lower() not in (".html", ".htm"):
        fail(f"--out must end in .html, got {out.name!r}")
    f = _filters(ctx.params)  # the filter options above, by name
    apply_area(db, None)  # the map's outline is the database's area
    engine, reports = _load(db)
    table = aggregate.aggregate_hexes(reports, res, f)
    m = maps.build_hex_map(
        table,
        tooltip_cols=aggregate.BREAKDOWN_LABELS,
        places=top_places(reports, pipeline.all_places(engine), f),
        legend_title="Reports per hexagon",
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(maps.standalone_html(m), encoding="utf-8")
    typer.echo(f"wrote a map of {len(table):,} hexagons ({f.describe()}) to {out}")


def _write_table(table, out: Path, *, geometry: bool = True) -> None:
    """CSV, or GeoJSON / GeoPackage hexagons, by the file's extension; h3 written as its hex string."""
    from hoth_geo.hexes import cells_to_str, hex_frame

    suffix = out.suffix.lower()
    cells = table["h3"].to_numpy()
    table = table.copy()
    table["h3"] = cells_to_str(cells)
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv" or not geometry:
        table.to_csv(out, index=False)
        return
    gdf = hex_frame(cells, **{c: table[c].to_numpy() for c in table.columns if c != "h3"})
    gdf["h3"] = table["h3"].to_numpy()
    gdf.to_file(
        out, driver="GPKG" if suffix == ".gpkg" else "GeoJSON", layer="hexes" if suffix == ".gpkg" else None
    )


def _check_out(out: Path, allowed: tuple[str, ...]) -> None:
    if out.suffix.lower() not in allowed:
        fail(f"--out must end in {', '.join(allowed)}, got {out.name!r}")


@app.command()
def hotspots(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="output file: .csv, .geojson or .gpkg")],
    res: ResOption = settings.DEFAULT_MAP_RES,
    k: Annotated[int, typer.Option("--k", min=1, max=5, help="neighbourhood rings for Gi*")] = 1,
    method: Annotated[str, typer.Option("--method", help="gistar, count or kde")] = "gistar",
    boundary: Annotated[Path | None, typer.Option("--boundary", help="study area GeoJSON/GeoPackage")] = None,
    no_fdr: Annotated[
        bool, typer.Option("--no-fdr", help="classes from raw p-values (default: FDR)")
    ] = False,
    permutations: Annotated[
        int | None, typer.Option("--permutations", help="conditional permutations")
    ] = None,
    date_from: FromOption = None,
    date_to: ToOption = None,
    place_type: PlaceTypeOption = None,
    concern: ConcernOption = None,
    indicator: IndicatorOption = None,
    agency: AgencyOption = None,
    agency_type: AgencyTypeOption = None,
    grading_source: GradingSourceOption = None,
    grading_information: GradingInformationOption = None,
    source: SourceOption = "reports",
    area: AreaOption = None,
    db: DbOption = None,
) -> None:
    """Hot and cold spots on the study-area grid (Getis-Ord Gi* with FDR), counts, or kernel density."""
    from hoth_geo.analysis import hotspots as hs
    from hoth_geo.errors import DataConditionError

    _check_out(out, (".csv", ".geojson", ".gpkg"))
    if method not in ("gistar", "count", "kde"):
        fail(f"--method must be gistar, count or kde, got {method!r}")
    f = _filters(ctx.params)  # the filter options above, by name
    from hoth_geo import store

    used_area = apply_area(db, area or boundary)
    reports = analysis_frame(store.connect(db), source, used_area)
    try:
        result = hs.hotspots(
            reports,
            res,
            f,
            k=k,
            area=used_area.boundary,
            fdr=not no_fdr,
            permutations=permutations,
            area_name=used_area.name,
        )
    except DataConditionError as exc:  # too few reports, or too small an area at this resolution
        fail(str(exc))
    if result.warning:
        typer.secho(f"warning: {result.warning}", fg=typer.colors.YELLOW, err=True)
    table = result.table
    if method == "count":
        table = table[["h3", "count"]]
    elif method == "kde":
        # The Gi* table holds every cell of the grid with its count: the density is smoothed over that
        # grid (what hs.density computes) rather than over a second one built the same way.
        counts = table[["h3", "count"]]
        smoothed = hs.kernel_density(counts, counts["h3"].to_numpy())
        table = counts.merge(smoothed.table, on="h3", how="left")
    _write_table(table, out)
    if method == "gistar":
        n_hot = int(table["class"].str.startswith("hot").sum())
        n_cold = int(table["class"].str.startswith("cold").sum())
        typer.echo(
            f"{used_area.name}, {len(table):,} cells at resolution {res}: {n_hot} hot, {n_cold} cold "
            f"({source}; {f.describe()}) -> {out}"
        )
    else:
        typer.echo(
            f"{used_area.name}, {len(table):,} cells at resolution {res} ({method}; {source}; "
            f"{f.describe()}) -> {out}"
        )


@app.command()
def emerging(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="output file: .csv, .geojson or .gpkg")],
    res: ResOption = settings.DEFAULT_MAP_RES,
    step: Annotated[
        str | None, typer.Option("--step", help="time step, e.g. 28D or MS (default: chosen)")
    ] = None,
    k: Annotated[int, typer.Option("--k", min=1, max=5)] = 1,
    date_from: FromOption = None,
    date_to: ToOption = None,
    place_type: PlaceTypeOption = None,
    concern: ConcernOption = None,
    indicator: IndicatorOption = None,
    agency: AgencyOption = None,
    agency_type: AgencyTypeOption = None,
    grading_source: GradingSourceOption = None,
    grading_information: GradingInformationOption = None,
    source: SourceOption = "reports",
    area: AreaOption = None,
    db: DbOption = None,
) -> None:
    """Emerging hot spot categories (new, consecutive, intensifying, persistent, ...) per hexagon."""
    from hoth_geo.analysis import temporal

    _check_out(out, (".csv", ".geojson", ".gpkg"))
    f = _filters(ctx.params)  # the filter options above, by name
    from hoth_geo import store

    used_area = apply_area(db, area)
    reports = analysis_frame(store.connect(db), source, used_area)
    try:
        result = temporal.emerging_hotspots(
            reports, res, f, area=used_area.boundary, area_name=used_area.name, step=step, k=k
        )
    except InvalidInput as exc:
        fail(str(exc))
    table = result.table
    _write_table(table, out)
    found = table[table["category"] != "no_pattern"]["label"].value_counts()
    typer.echo(
        f"{used_area.name}, {len(table):,} cells, step {result.step}: "
        + (", ".join(f"{n} {lab}" for lab, n in found.items()) or "no pattern")
    )
    typer.echo(f"written to {out}")


@app.command()
def evaluate(
    out: Annotated[Path, typer.Option("--out", help="output .csv")],
    train_from: Annotated[str, typer.Option("--train-from", help="YYYY-MM-DD or YYYY-MM")],
    train_to: Annotated[str, typer.Option("--train-to", help="YYYY-MM-DD or YYYY-MM (inclusive)")],
    test_from: Annotated[str, typer.Option("--test-from")],
    test_to: Annotated[str, typer.Option("--test-to")],
    res: ResOption = settings.DEFAULT_MAP_RES,
    concern: ConcernOption = None,
    source: Annotated[
        str, typer.Option("--source", help="reports (partnership) or context (police.uk)")
    ] = "reports",
    n_boot: Annotated[int, typer.Option("--n-boot", min=0)] = 500,
    area: AreaOption = None,
    db: DbOption = None,
) -> None:
    """How well each hotspot method predicts a later window: hit rate, PAI and RRI with 95 % intervals."""
    from hoth_geo import store
    from hoth_geo.analysis import evaluate as ev

    _check_out(out, (".csv",))
    if source not in ("reports", "context"):
        fail(f"--source must be reports or context, got {source!r}")
    from hoth_geo.analysis import hotspots as hs

    engine = store.connect(db)
    used_area = apply_area(db, area)
    frame = store.load_reports(engine) if source == "reports" else store.load_context(engine)
    if used_area.clip_gazetteer:
        frame = within_override(frame, used_area)
    try:
        grid, _warning = hs.study_area_grid(res, used_area.boundary)
        table = ev.evaluate_windows(
            frame,
            (train_from, train_to),
            (test_from, test_to),
            res,
            tuple(concern or ()),
            grid_cells=grid,
            n_boot=n_boot,
        ).table
    except ValueError as exc:
        fail(str(exc))
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    typer.echo(f"{used_area.name}: {source}, resolution {res}")
    five = table[table["coverage"] == 0.05]
    for row in five.itertuples():
        typer.echo(f"{row.method:>12}: PAI at 5 % of the area {row.pai:.1f} (hit rate {row.hit_rate:.1%})")
    typer.echo(f"written to {out}")


@app.command("patrol-plan")
def patrol_plan_command(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="output .csv")],
    slots: Annotated[int, typer.Option("--slots", min=1, max=200, help="patrol slots per week")] = 10,
    slot_hours: Annotated[int, typer.Option("--slot-hours", min=1, max=12)] = 2,
    res: ResOption = 9,
    half_life: Annotated[float, typer.Option("--half-life", help="recency half-life in days")] = 28.0,
    max_per_hex: Annotated[int, typer.Option("--max-per-hex", min=1)] = 2,
    date_from: FromOption = None,
    date_to: ToOption = None,
    place_type: PlaceTypeOption = None,
    concern: ConcernOption = None,
    indicator: IndicatorOption = None,
    agency: AgencyOption = None,
    agency_type: AgencyTypeOption = None,
    grading_source: GradingSourceOption = None,
    grading_information: GradingInformationOption = None,
    area: AreaOption = None,
    db: DbOption = None,
) -> None:
    """Presence-based disruption: the hexagon x day x time slots covering the most recent weighted concern."""
    from hoth_geo.analysis import patrol
    from hoth_geo.hexes import cell_to_str
    from hoth_geo.intake import pipeline

    _check_out(out, (".csv",))
    f = _filters(ctx.params)  # the filter options above, by name
    used_area = apply_area(db, area)
    engine, reports = _load(db)
    if used_area.clip_gazetteer:
        reports = within_override(reports, used_area)
    window = (f.date_from, f.date_to) if f.date_from and f.date_to else None
    try:
        plan = patrol.patrol_plan(
            reports,
            pipeline.all_places(engine),
            slots=slots,
            slot_hours=slot_hours,
            res=res,
            half_life_days=half_life,
            max_slots_per_hex=max_per_hex,
            filters=f,
            window=window,
        )
    except ValueError as exc:
        fail(str(exc))
    typer.echo(f"patrol plan for {used_area.name}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(patrol.plan_to_csv(plan))
    for row in plan.itertuples():
        typer.echo(f"{row.slot:>3}. {row.window:<22} {cell_to_str(row.h3)}  {row.why}")
    typer.echo(f"written to {out}")


@app.command("build-gazetteer")
def build_gazetteer(
    osm: Annotated[
        list[Path], typer.Option("--osm", help="OpenStreetMap export: CSV or Overpass GeoJSON (repeatable)")
    ],
    codepoint: Annotated[list[Path], typer.Option("--codepoint", help="Code-Point Open CSV (repeatable)")],
    out: Annotated[
        Path,
        typer.Option("--out", help="output folder for the postcodes/places/streets layer files (.arrow)"),
    ],
    boundary: Annotated[
        Path | None, typer.Option("--boundary", help="GeoJSON/GeoPackage to clip postcodes")
    ] = None,
    lad: Annotated[
        list[str] | None, typer.Option("--lad", help="keep postcodes of these local authority codes")
    ] = None,
) -> None:
    """Build a gazetteer for another area from an OSM export plus Code-Point Open."""
    from hoth_geo.intake.gazetteer import build_area_gazetteer

    for p in [*osm, *codepoint]:
        if not p.is_file():
            fail(f"no such file: {p}")
    counts = build_area_gazetteer(osm, codepoint, out, boundary_path=boundary, lad_codes=lad or None)
    for layer, n in counts.items():
        typer.echo(f"{layer}: {n:,}")
    typer.echo(
        f"gazetteer written to {out}; to make an area the deployment's own, use "
        "`hoth-geo area set` and `hoth-geo area build-gazetteer`"
    )


# Streamlit settings for a server: no e-mail prompt or usage statistics (nothing written to ~/.streamlit),
# no source watching, no development mode. An explicit browser.serverAddress also stops Streamlit looking
# up the machine's external IP to print a URL.
_STREAMLIT_SERVER_OPTIONS = {
    "global.developmentMode": "false",
    "browser.gatherUsageStats": "false",
    "server.showEmailPrompt": "false",
    "server.fileWatcherType": "none",
    "server.runOnSave": "false",
}


# The app process's environment, unless already set. glibc gives threads that allocate at the same time
# arenas of their own (up to eight per core) and keeps what they free for reuse by that arena: each
# session's script thread left tens of MB of a filter's temporaries behind. Measured at 1,000,000
# reports, 20 sessions changing filters: 895 MB peak and 804 MB after with glibc's default, 669 MB and
# 548 MB with two arenas, at the same speed (docs/benchmarks.md, "Many sessions, measured in the server").
APP_PROCESS_ENV = {"MALLOC_ARENA_MAX": "2"}


def streamlit_command(port: int, address: str, *, headless: bool = True) -> list[str]:
    """The `streamlit run` command line for the app on ``address``:``port``."""
    import socket

    wildcard = address in ("0.0.0.0", "::", "")  # noqa: S104
    options = {
        **_STREAMLIT_SERVER_OPTIONS,
        "server.headless": "true" if headless else "false",
        "server.address": address,
        "server.port": str(port),
        "browser.serverAddress": socket.gethostname() if wildcard else address,
        "browser.serverPort": str(port),
    }
    cmd = [sys.executable, "-m", "streamlit", "run", str(settings.REPO_DIR / "app.py")]
    for name, value in options.items():
        cmd += [f"--{name}", value]
    return cmd


@app.command("app")
def run_app(
    db: DbOption = None,
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8501,
    address: Annotated[
        str,
        typer.Option(
            "--address", help="interface to listen on (0.0.0.0 for all; default: this machine only)"
        ),
    ] = "127.0.0.1",
    headless: Annotated[
        bool, typer.Option("--headless/--browser", help="--browser also opens a web browser")
    ] = True,
) -> None:
    """Start the Streamlit app (loads the demo data on first start with an empty database)."""
    env = dict(os.environ)
    env[settings.DB_URL_ENV] = settings.database_url(db)
    _announce_setup_token(env[settings.DB_URL_ENV])
    # Matplotlib (PDF briefings) keeps its font cache under the data folder, not in the user's home.
    env.setdefault("MPLCONFIGDIR", str(settings.VAR_DIR / "matplotlib"))
    for name, value in APP_PROCESS_ENV.items():
        env.setdefault(name, value)
    cmd = streamlit_command(port, address, headless=headless)
    if os.name != "posix":
        raise typer.Exit(subprocess.call(cmd, env=env, cwd=settings.REPO_DIR, stdin=subprocess.DEVNULL))
    # Streamlit takes this process's place, so the process a service manager, nohup or a shell started
    # is the server itself: a SIGTERM to it stops the server (with a child process it left Streamlit
    # running, holding the port, when only the parent was signalled).
    sys.stdout.flush()
    sys.stderr.flush()
    os.chdir(settings.REPO_DIR)
    devnull = os.open(os.devnull, os.O_RDONLY)  # no terminal to read from, whatever started it
    os.dup2(devnull, 0)
    os.close(devnull)
    os.execve(cmd[0], cmd, env)


def _announce_setup_token(db_url: str) -> None:
    # On an empty deployment, print the one-time first-run token now, as the server starts.
    from hoth_geo import store
    from hoth_geo.access import sessions

    sessions.announce_if_first_run(store.connect(db_url))


_register_admin(app)
_register_area(app)
_register_basemap(app)
_register_export(app)
_register_db(app)

if __name__ == "__main__":
    app()
