"""A real OpenID Connect provider for the single sign-on browser tests: ``tests/oidc/provider.js``
(the certified ``oidc-provider`` package from npm, installed by ``npm ci`` in scripts/test.sh), on a
free loopback port, with the synthetic accounts of ``tests/oidc/accounts.json``."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from app_server import free_port

OIDC_DIR = Path(__file__).resolve().parent / "oidc"
ACCOUNTS = json.loads((OIDC_DIR / "accounts.json").read_text(encoding="utf-8"))
START_S = 60


def node_available() -> None:
    """Skip (or, in CI, fail) when node or the provider's packages are missing."""
    missing = None
    if shutil.which("node") is None:
        missing = "node is not installed"
    elif not (OIDC_DIR / "node_modules" / "oidc-provider").is_dir():
        missing = "tests/oidc has no node_modules: run `npm ci --prefix tests/oidc`"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)


def account(username: str) -> dict:
    return next(a for a in ACCOUNTS["accounts"] if a["username"] == username)


@contextlib.contextmanager
def running_provider(workdir: Path, client_id: str, client_secret: str, redirect_uri: str) -> Iterator[dict]:
    """Start the provider; yields {"issuer", "metadata_url", "log"}; stops it at the end."""
    node_available()
    port = free_port()
    env = {
        **os.environ,
        "OIDC_PORT": str(port),
        "OIDC_CLIENT_ID": client_id,
        "OIDC_CLIENT_SECRET": client_secret,
        "OIDC_REDIRECT_URI": redirect_uri,
    }
    log_path = workdir / "oidc-provider.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            ["node", "provider.js"],
            cwd=OIDC_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    issuer = f"http://localhost:{port}"
    metadata_url = f"{issuer}/.well-known/openid-configuration"
    try:
        deadline = time.monotonic() + START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"the OpenID provider exited with {proc.returncode}: {log_path.read_text()[-3000:]}"
                )
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/.well-known/openid-configuration", timeout=5
                ) as r:
                    if json.load(r)["issuer"] == issuer:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the OpenID provider did not start in {START_S}s: {log_path.read_text()[-3000:]}"
                )
            time.sleep(0.2)  # polling interval while the provider starts
        yield {"issuer": issuer, "metadata_url": metadata_url, "log": log_path}
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
