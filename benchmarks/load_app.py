"""Load script (not a test): many browser sessions change map filters while a large import runs.

Starts the app on a free loopback port with its own SQLite database (accounts and the demo set
prepared first), or uses a running one (--url, with --db for the import). With --instances K it starts
K app processes on the same database and pins session n to instance n mod K, as the reverse proxy of
docs/deployment.md pins each browser to one instance. Then, in one headless Chromium, --sessions
browser contexts each sign in (each with an account of its own), open the Hotspot map and
--iterations times change the Concern filter (adding one concern, then removing it) and time how long
the map takes to show the new hexagons in the st_folium iframe. With --client wire the sessions send
the same messages over Streamlit's WebSocket protocol without a browser (streamlit_wire.py): the
server does the same work, but no renderer shares its cores, as when users are on their own machines.
Once every session has its first map, a subprocess imports a generated sharing-form file of --rows
rows (pipeline.import_file) into the same database. With --reports N the database first gets N
synthetic reports (bench_app_memory's generator) instead of the demo set, so the sessions work on a
realistic volume.

The app it starts records every script run in the server ($HOTH_GEO_RUN_LOG): beside the browser's
figure (click to new hexagons, which includes the browsers' own work on the same cores) it prints the
server-side rerun time of the Hotspot map page while the import runs, and the runs that failed.

    .venv/bin/python benchmarks/load_app.py                      # 20 sessions, 50,000-row import
    .venv/bin/python benchmarks/load_app.py --reports 1000000    # on 1M reports
    .venv/bin/python benchmarks/load_app.py --sessions 5 --rows 10000
    .venv/bin/python benchmarks/load_app.py --client wire --reports 1000000 --think 10   # server only

Loopback only; bounded by --iterations and --time-limit. Prints sessions, iterations, errors, the
median and 95th-percentile map update time after a filter change (browser and server), and the
import's duration; beside them, its peer: the same filter changes by one session alone, timed first on
the first instance with no import (--no-peer skips it).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_DIR))

import streamlit_wire  # noqa: E402

from hoth_geo import settings, store  # noqa: E402
from hoth_geo.access import auth  # noqa: E402
from hoth_geo.cli import APP_PROCESS_ENV  # noqa: E402
from hoth_geo.intake import pipeline  # noqa: E402
from hoth_geo.schema import CONCERNS, TEMPLATE_COLUMNS  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def username(n: int) -> str:
    """Session n's own account: as in a force, each person signs in as themselves."""
    return f"load.analyst.{n}"


PASSWORD = "synthetic-load-passphrase"  # a throwaway account in a throwaway database
STEP_TIMEOUT_MS = 180_000
MAP_IFRAME = 'iframe[title="streamlit_folium.st_folium"]'
# The Leaflet map in the iframe: [its hexagon count, whether it carries ``tag``], or null before drawn.
MAP_STATE_JS = """(tag) => {
    const el = document.querySelector('.leaflet-container');
    const map = el && window[el.id];
    if (!map || !map._hothLayers) return null;
    return [map._hothLayers.hexes.getLayers().length, map.__loadTag === tag];
}"""
TAG_JS = (
    """(tag) => { const el = document.querySelector('.leaflet-container'); window[el.id].__loadTag = tag; }"""
)
CONCERN_LABELS = [CONCERNS[k] for k in ("cse", "cce", "missing", "drugs_alcohol", "weapons", "asb")]
IMPORT_CODE = """
import sys, time
from hoth_geo.intake import pipeline
from hoth_geo import store
engine = store.connect(sys.argv[1])
t = time.perf_counter()
summary = pipeline.import_file(engine, sys.argv[2], imported_by="load-test")
print(f"IMPORT {time.perf_counter() - t:.2f} {summary.describe()}", flush=True)
"""


async def think_pause(pauses: random.Random, think: float) -> None:
    """A person reads the map before the next change: 0.5-1.5 times ``think`` seconds."""
    if think:
        await asyncio.sleep(think * pauses.uniform(0.5, 1.5))


def concern_to_add(n: int, i: int) -> str | None:
    """Session n's change number i: a concern to add (even i), or None to remove it again."""
    return CONCERN_LABELS[(n + i // 2) % len(CONCERN_LABELS)] if i % 2 == 0 else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_big_csv(path: Path, n: int, seed: int = 7) -> None:
    """A synthetic sharing-form export: ``n`` distinct rows at points around Durham and Darlington."""
    rng = random.Random(seed)
    concerns = list(CONCERNS)
    centres = [(54.7761, -1.5733), (54.5235, -1.5525), (54.6640, -1.6770), (54.8575, -1.5750)]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(TEMPLATE_COLUMNS))
        w.writeheader()
        for i in range(n):
            lat, lon = rng.choice(centres)
            day = 1 + i % 28
            w.writerow(
                {c: "" for c in TEMPLATE_COLUMNS}
                | {
                    "Source reference": f"LOAD-{i:07d}",
                    "Date received": f"{day:02d}/0{1 + i % 9}/2025",
                    "Date observed": f"{day:02d}/0{1 + i % 9}/2025",
                    "Time observed": f"{i % 24:02d}:{i % 60:02d}",
                    "Reporting agency": f"Synthetic Agency {i % 12}",
                    "Agency type": "youth_service",
                    "Place type": rng.choice(["park", "takeaway", "residential_street", "transport_hub"]),
                    "Latitude": f"{lat + rng.gauss(0, 0.02):.6f}",
                    "Longitude": f"{lon + rng.gauss(0, 0.03):.6f}",
                    "Concerns": ";".join(rng.sample(concerns, rng.randint(1, 2))),
                    "Source grading": "2",
                    "Information grading": "B",
                    "Handling code": "P",
                    "Narrative": f"Synthetic load-test narrative {i}.",
                    "Child reference": f"SYN-LOAD-{i % 5000}",
                }
            )


def prepare_database(db_url: str, sessions: int) -> None:
    engine = store.connect(db_url)
    if auth.first_run_needed(engine):
        auth.add_user(engine, "load.admin", PASSWORD, "admin")
    for n in range(sessions):
        if auth.get_user(engine, username(n)) is None:
            auth.add_user(engine, username(n), PASSWORD, "analyst")
    if store.counts(engine)["reports"] == 0:
        pipeline.load_demo_data(engine)
    engine.dispose()


def start_app(db_url: str, port: int, log_path: Path, run_log: Path) -> subprocess.Popen:
    # As `hoth-geo app` starts it (its environment defaults included), on a port of its own.
    env = {**APP_PROCESS_ENV, **os.environ, settings.DB_URL_ENV: db_url, "HOTH_GEO_RUN_LOG": str(run_log)}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "app.py",
                "--server.port",
                str(port),
                "--server.headless",
                "true",
                "--server.address",
                "127.0.0.1",
                "--browser.gatherUsageStats",
                "false",
            ],  # fmt: skip
            cwd=REPO_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"streamlit exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=5) as r:
                if r.status == 200:
                    return proc
        except OSError:
            pass
        time.sleep(0.5)
    stop(proc)
    raise SystemExit("streamlit did not become healthy within 120 s")


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=20)


class Results:
    def __init__(self) -> None:
        self.first_map_s: list[float] = []
        self.update_s: list[float] = []
        self.iterations = 0
        self.errors: list[str] = []
        self.filter_phase_start = float("nan")  # Unix time the import and the filter changes began
        self.peer: Results | None = None  # one session alone before the run, on the first instance
        self.peer_window = (float("nan"), float("nan"))  # its filter changes (Unix times)


async def map_frame(page):
    handle = await page.wait_for_selector(MAP_IFRAME, state="attached", timeout=STEP_TIMEOUT_MS)
    return await handle.content_frame()


async def wait_for_map(page, tag: str | None = None, previous: int | None = None) -> int:
    """Hexagons drawn; with ``tag``, only once the map is a new one (no tag) or shows a new count."""
    deadline = time.monotonic() + STEP_TIMEOUT_MS / 1000
    while True:
        frame = await map_frame(page)
        try:
            await frame.wait_for_function(
                f"""(a) => {{ const s = ({MAP_STATE_JS})(a[0]);
                    return s !== null && (a[0] === null || !s[1] || s[0] !== a[1]); }}""",
                arg=[tag, previous],
                timeout=STEP_TIMEOUT_MS,
                polling=50,
            )
            state = await frame.evaluate(MAP_STATE_JS, tag)
            return state[0]
        except Exception:  # the iframe was replaced during a rerun: look again
            if time.monotonic() > deadline:
                raise


async def concern_box(page):
    return page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"]').filter(
        has=page.get_by_text("Concern", exact=True)
    )


async def session(
    n: int, browser, url: str, iterations: int, started: asyncio.Event, results: Results, think: float = 0.0
):
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    try:
        t0 = time.perf_counter()
        await page.goto(url + "/")
        await page.get_by_role("textbox", name="Username").fill(username(n))
        await page.get_by_label("Password", exact=True).fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        count = await wait_for_map(page)
        results.first_map_s.append(time.perf_counter() - t0)
        await started.wait()  # every session has its map; the import is running
        box = await concern_box(page)
        pauses = random.Random(n)
        for i in range(iterations):
            await think_pause(pauses, think)
            tag = f"s{n}-i{i}"
            frame = await map_frame(page)
            await frame.evaluate(TAG_JS, tag)
            await box.locator("input").click()
            label = concern_to_add(n, i)
            if label is not None:
                await page.keyboard.type(label[:12])
                option = page.get_by_role("option", name=label, exact=True)
                await option.wait_for()
                t = time.perf_counter()
                await option.click()
            else:  # remove it again
                t = time.perf_counter()
                await page.keyboard.press("Backspace")
            await page.keyboard.press("Escape")
            try:
                count = await wait_for_map(page, tag, count)
                results.update_s.append(time.perf_counter() - t)
                results.iterations += 1
            except Exception as exc:
                results.errors.append(f"session {n} iteration {i}: {str(exc).splitlines()[0]}")
    except Exception as exc:
        results.errors.append(f"session {n}: {str(exc).splitlines()[0]}")
    finally:
        await context.close()


async def wire_session(
    n: int, url: str, iterations: int, started: asyncio.Event, results: Results, think: float = 0.0
):
    """``session`` without a browser: the same sign-in and filter changes as protocol messages."""
    tab = streamlit_wire.WireSession(url)
    try:
        t0 = time.perf_counter()
        await tab.open()
        run = await tab.run(timeout=STEP_TIMEOUT_MS / 1000)
        form = run.widgets
        run = await tab.run(
            [
                streamlit_wire.text(form["Username"], username(n)),
                streamlit_wire.text(form["Password"], PASSWORD),
                streamlit_wire.press(form["Sign in"]),
            ],
            timeout=STEP_TIMEOUT_MS / 1000,
        )
        if run.map_args is None or run.exceptions:
            raise RuntimeError(f"no map after signing in: {run.exceptions or run.alerts}")
        results.first_map_s.append(time.perf_counter() - t0)
        shown = run.map_args
        await started.wait()
        box = run.widgets["Concern"]
        pauses = random.Random(n)
        for i in range(iterations):
            await think_pause(pauses, think)
            label = concern_to_add(n, i)
            try:
                run = await tab.run(
                    [streamlit_wire.choose(box, [label] if label is not None else [])],
                    timeout=STEP_TIMEOUT_MS / 1000,
                )
                if run.exceptions or run.map_args is None or run.map_args == shown:
                    raise RuntimeError(f"the map did not change: {run.exceptions}")
                shown = run.map_args
                results.update_s.append(run.seconds)
                results.iterations += 1
            except Exception as exc:
                results.errors.append(f"session {n} iteration {i}: {str(exc).splitlines()[0]}")
    except Exception as exc:
        results.errors.append(f"session {n}: {exc!r}"[:300])
    finally:
        await tab.close()


async def drive(
    args, urls: list[str], db_url: str | None, big_csv: Path | None
) -> tuple[Results, str | None]:
    if args.client == "wire":
        return await drive_sessions(args, urls, db_url, big_csv, browser=None)
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        try:
            return await drive_sessions(args, urls, db_url, big_csv, browser=browser)
        finally:
            await browser.close()


async def drive_sessions(
    args, urls: list[str], db_url: str | None, big_csv: Path | None, browser
) -> tuple[Results, str | None]:
    results = Results()
    started = asyncio.Event()
    import_report: str | None = None

    def one(n: int, url: str, started: asyncio.Event, results: Results, think: float):
        if browser is None:
            return wire_session(n, url, args.iterations, started, results, think)
        return session(n, browser, url, args.iterations, started, results, think)

    if args.peer:  # the peer: one session alone (its own account), the same changes back to back
        peer, alone = Results(), asyncio.Event()
        task = asyncio.create_task(one(args.sessions, urls[0], alone, peer, 0.0))
        while not (peer.first_map_s or peer.errors or task.done()):
            await asyncio.sleep(0.05)
        changes_from = time.time()
        alone.set()
        await task
        results.peer = peer
        results.peer_window = (changes_from, time.time())

    tasks = [
        asyncio.create_task(one(n, urls[n % len(urls)], started, results, args.think))
        for n in range(args.sessions)
    ]
    # Start the import once every session shows its first map (or has failed).
    while len(results.first_map_s) + len(results.errors) < args.sessions and not all(t.done() for t in tasks):
        await asyncio.sleep(0.2)
    print(f"{len(results.first_map_s)} sessions signed in with a map; starting the import", flush=True)
    proc = None
    t_import = time.perf_counter()
    if big_csv is not None and db_url is not None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", IMPORT_CODE, db_url, str(big_csv),
            cwd=REPO_DIR, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    results.filter_phase_start = time.time()
    started.set()
    try:
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=args.time_limit)
    except TimeoutError:
        results.errors.append(f"time limit of {args.time_limit}s reached; sessions cancelled")
    if proc is not None:
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout=args.time_limit)
            text = out.decode(errors="replace").strip()
            import_report = text.splitlines()[-1] if text else f"import exited {proc.returncode}"
            if proc.returncode != 0:
                results.errors.append(f"import failed: {text[-500:]}")
        except TimeoutError:
            proc.kill()
            import_report = f"import still running after {time.perf_counter() - t_import:.0f}s; killed"
    return results, import_report


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def server_runs(run_logs: list[Path], since: float, until: float = float("inf")) -> list[dict]:
    """The app instances' own record of their script runs that ended between ``since`` and ``until``
    (Unix times)."""
    runs = []
    for run_log in run_logs:
        if run_log.exists():
            runs += [json.loads(line) for line in run_log.read_text(encoding="utf-8").splitlines() if line]
    return [r for r in runs if since <= r["at"] <= until]


def print_server_runs(runs: list[dict], during: str = "during the filter changes") -> None:
    complete = [r["seconds"] for r in runs if r["page"] == "map" and r["outcome"] == "ok"]
    cut_short = sum(r["outcome"] in ("rerun", "stop") for r in runs)
    failed = [r for r in runs if r["outcome"] == "error"]
    print(
        f"server-side runs {during}: {len(runs)} "
        f"({len(complete)} complete on the map, {cut_short} cut short by a newer rerun, "
        f"{len(failed)} errors)"
    )
    for r in failed[:5]:
        print(f"  error on {r['page']}: {r['error']}")
    if complete:
        print(
            f"server-side Hotspot map rerun: median {statistics.median(complete):.2f}s, "
            f"p95 {percentile(complete, 0.95):.2f}s, max {max(complete):.2f}s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--iterations", type=int, default=6, help="filter changes per session")
    parser.add_argument("--rows", type=int, default=50_000, help="rows in the background import (0: none)")
    parser.add_argument("--time-limit", type=float, default=900, help="seconds for all sessions together")
    parser.add_argument(
        "--reports", type=int, default=0, help="synthetic reports written first (0: the demo set)"
    )
    parser.add_argument("--url", help="a running app (loopback); default: start one")
    parser.add_argument(
        "--instances",
        type=int,
        default=1,
        help="app processes started on the same database; browser session n uses instance n mod this",
    )
    parser.add_argument("--db", help="its database URL (accounts are added; needed for the import)")
    parser.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="seconds each session looks at the map before its next filter change (0.5-1.5 times this, "
        "at random); 0: changes back to back, the saturation case",
    )
    parser.add_argument(
        "--peer",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="first time one session alone (an account of its own) on the first instance, the same "
        "filter changes back to back with no import: the figure the many-session one is read against",
    )
    parser.add_argument(
        "--client",
        choices=["browser", "wire"],
        default="browser",
        help="browser: Chromium sessions (the figure a user sees, with every renderer on this machine's "
        "cores); wire: each session sends the browser's messages over Streamlit's WebSocket protocol "
        "without drawing them (benchmarks/streamlit_wire.py), so the server-side figures are the server's",
    )
    parser.add_argument(
        "--browser-nice",
        type=int,
        default=10,
        help="niceness of the browsers (0: none). The browsers stand in for users' own machines; on the "
        "app's cores at equal priority their rendering is counted in the server's rerun times",
    )
    args = parser.parse_args()
    if args.url and not args.url.startswith(("http://127.0.0.1", "http://localhost")):
        raise SystemExit("--url must be a loopback address")

    with tempfile.TemporaryDirectory(prefix="hoth_load_") as tmp:
        tmpdir = Path(tmp)
        args.chromium = CHROMIUM
        if args.browser_nice:  # a wrapper, so every renderer process inherits the lower priority
            args.chromium = str(tmpdir / "chromium-niced")
            Path(args.chromium).write_text(
                f'#!/bin/sh\nexec nice -n {int(args.browser_nice)} {CHROMIUM} "$@"\n'
            )
            Path(args.chromium).chmod(0o755)
        db_url = args.db or (None if args.url else f"sqlite:///{tmpdir / 'load.sqlite'}")
        t = time.perf_counter()
        if db_url and args.reports:
            from bench_app_memory import generate

            generate(db_url, args.reports)
        if db_url:
            prepare_database(db_url, args.sessions + 1)
        big_csv = None
        if args.rows and db_url:
            big_csv = tmpdir / "big_sharing_form.csv"
            write_big_csv(big_csv, args.rows)
        print(f"prepared in {time.perf_counter() - t:.1f}s", flush=True)
        procs = []
        urls = [args.url.rstrip("/")] if args.url else []
        run_logs = [tmpdir / f"runs-{i}.jsonl" for i in range(args.instances)]
        try:
            if not args.url:
                for i, run_log in enumerate(run_logs):
                    port = free_port()
                    procs.append(start_app(db_url, port, tmpdir / f"streamlit-{i}.log", run_log))
                    urls.append(f"http://127.0.0.1:{port}")
            t = time.perf_counter()
            results, import_report = asyncio.run(drive(args, urls, db_url, big_csv))
            wall = time.perf_counter() - t
        finally:
            for proc in procs:
                stop(proc)
        runs = server_runs(run_logs, results.filter_phase_start)
        peer_runs = server_runs(run_logs, *results.peer_window)

    print(
        f"sessions: {args.sessions} ({len(results.first_map_s)} reached the map); "
        + (
            "protocol sessions (no browser); "
            if args.client == "wire"
            else f"browsers at niceness {args.browser_nice}; "
        )
        + f"think time {args.think:g} s; "
        f"app instances: {len(urls)}"
    )
    print(f"iterations: {results.iterations} of {args.sessions * args.iterations} filter changes completed")
    print(f"errors: {len(results.errors)}")
    for e in results.errors[:5]:
        print(f"  {e}")
    if results.first_map_s:
        print(
            f"sign-in to first map: median {statistics.median(results.first_map_s):.2f}s, "
            f"p95 {percentile(results.first_map_s, 0.95):.2f}s"
        )
    if results.update_s:
        print(
            (
                "run answered after a filter change (client side, no drawing)"
                if args.client == "wire"
                else "map update after a filter change"
            )
            + f": median {statistics.median(results.update_s):.2f}s, "
            f"p95 {percentile(results.update_s, 0.95):.2f}s, max {max(results.update_s):.2f}s"
        )
    if procs:
        print_server_runs(runs)
    if results.peer is not None:
        peer = results.peer
        print(
            f"peer, one session alone before the run (no import, no think time): "
            f"{peer.iterations} filter changes, {len(peer.errors)} errors"
            + (
                f"; answered median {statistics.median(peer.update_s):.2f}s, "
                f"p95 {percentile(peer.update_s, 0.95):.2f}s"
                if peer.update_s
                else ""
            )
        )
        if procs:
            print_server_runs(peer_runs, "of the peer")
    print(f"import ({args.rows:,} rows): {import_report or 'not run'}")
    print(f"wall time: {wall:.1f}s; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
