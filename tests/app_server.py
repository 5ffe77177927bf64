"""A running app for browser tests: `streamlit run app.py` on a free loopback port, and screenshots.

Screenshots are test artefacts a person looks at: they are written to ``var/screenshots/`` (or
``$HOTH_GEO_SCREENSHOT_DIR``), one PNG per page and state, replaced on each run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from hoth_geo import settings

CHROMIUM = "/usr/bin/chromium"  # Debian's package, installed by the test command
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
REPO_DIR = Path(__file__).resolve().parents[1]
SERVER_START_S = 120
SCREENSHOT_DIR = Path(os.environ.get("HOTH_GEO_SCREENSHOT_DIR", REPO_DIR / "var" / "screenshots"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(
    db: Path | str,
    workdir: Path,
    extra_env: dict[str, str] | None = None,
    log_name: str = "streamlit.log",
    port: int | None = None,
) -> Iterator[dict]:
    """Start the app on ``db`` (a SQLite file, or a database URL); yields {"url", "log"}; stops its
    process group at the end. Its output goes to ``workdir / log_name``. ``port``: a free port chosen
    beforehand (e.g. one an identity provider must know as the redirect address); default a new one."""
    port = port or free_port()
    env = {
        **os.environ,
        settings.DB_URL_ENV: db if isinstance(db, str) else f"sqlite:///{db}",
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    log_path = workdir / log_name
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
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited with {proc.returncode}: {log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit not healthy after {SERVER_START_S}s: {log_path.read_text()[-3000:]}")
            time.sleep(0.5)  # polling interval while waiting for the health check
        yield {"url": url, "log": log_path}
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)


def save_screenshot(page, name: str) -> Path:
    """Save a full-page screenshot as ``<name>.png`` among the test artefacts."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
