"""`hoth-geo app` as a service manager, nohup or CI starts it: no terminal, an empty home, a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from hoth_geo.cli import streamlit_command

REPO_DIR = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 120  # two shared cores and a cold Streamlit


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on ``port``, read from the kernel's tables."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        with open(table) as fh:
            next(fh)
            for line in fh:
                local, state = line.split()[1], line.split()[3]
                addr, port_hex = local.split(":")
                if state == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
                    raw = bytes.fromhex(addr)
                    if len(raw) == 4:
                        found.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
                    else:  # four little-endian 32-bit words
                        words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                        found.add(socket.inet_ntop(socket.AF_INET6, words))
    return found


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read().decode("utf-8", "replace")


def _files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/net/tcp")
def test_app_starts_without_a_terminal_writes_nothing_home_and_listens_on_loopback(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    var = tmp_path / "var"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "STREAMLIT_", "MPLCONFIG"))}
    env.update(
        HOME=str(home),
        HOTH_GEO_VAR_DIR=str(var),
        PYTHONPATH=str(REPO_DIR),
        PYTHONUNBUFFERED="1",
    )
    env.pop("HOTH_GEO_DB", None)  # the default: a SQLite file under HOTH_GEO_VAR_DIR
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "hoth_geo.cli", "app", "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        health = None
        while time.monotonic() < deadline:
            assert server.poll() is None, f"server exited with {server.returncode}:\n{log.read_text()}"
            try:
                health = _get(f"http://127.0.0.1:{port}/_stcore/health")
                break
            except OSError:
                time.sleep(0.5)
        assert health == (200, "ok"), log.read_text()
        status, page = _get(f"http://127.0.0.1:{port}/")
        assert status == 200 and '<div id="root">' in page

        assert _listening_addresses(port) == {"127.0.0.1"}
        output = log.read_text()
        assert f"URL: http://127.0.0.1:{port}" in output
        for unwanted in ("Email", "gatherUsageStats", "External URL", "Network URL"):
            assert unwanted not in output, output
        assert server.poll() is None, "the server must keep running with stdin closed"
        # The process started is the server itself (no child to orphan), and it keeps glibc to two
        # malloc arenas (hoth_geo.cli.APP_PROCESS_ENV).
        assert Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split() == []
        assert b"streamlit" in Path(f"/proc/{server.pid}/cmdline").read_bytes()
        assert b"MALLOC_ARENA_MAX=2" in Path(f"/proc/{server.pid}/environ").read_bytes().split(b"\0")
    finally:
        server.terminate()  # as a service manager or `kill PID` stops it: only the process started
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    assert _listening_addresses(port) == set(), "a SIGTERM to `hoth-geo app` stops the server"
    assert _files_under(home) == [], "nothing may be written to the user's home folder"


def test_address_option_sets_the_listening_and_the_printed_address():
    def options(cmd: list[str]) -> dict[str, str]:
        flags = cmd[cmd.index("run") + 2 :]
        return dict(zip(flags[::2], flags[1::2], strict=True))

    local = options(streamlit_command(8600, "127.0.0.1"))
    assert local["--server.address"] == "127.0.0.1" and local["--browser.serverAddress"] == "127.0.0.1"
    assert local["--server.headless"] == "true" and local["--browser.gatherUsageStats"] == "false"
    assert local["--global.developmentMode"] == "false" and local["--server.port"] == "8600"
    everywhere = options(streamlit_command(8600, "0.0.0.0"))
    assert everywhere["--server.address"] == "0.0.0.0"
    # A named address is printed instead of Streamlit looking the external IP up on the internet.
    assert everywhere["--browser.serverAddress"] == socket.gethostname()
