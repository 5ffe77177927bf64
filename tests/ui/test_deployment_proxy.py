"""The deployment of docs/deployment.md, run for real: two `hoth-geo app` instances on one database behind
nginx with TLS, configured by the nginx example taken from the document itself (only ports and the
certificate changed), so the document cannot drift from what works.

Checks the security headers, that Streamlit's metrics are not reachable through the proxy, and that a
browser signs in and sees the map through it with the Content-Security-Policy in force (Chromium reports
every blocked script, style, frame or connection as a console error).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from app_server import CHROMIUM, CHROMIUM_ARGS
from test_browser import (
    ANALYST,
    PASSWORD,
    Watch,
    go_in_session,
    hex_count,
    sign_in,
)

from hoth_geo import store
from hoth_geo.access import auth
from hoth_geo.intake import pipeline

pytestmark = pytest.mark.browser

REPO_DIR = Path(__file__).resolve().parents[2]
HOSTNAME = "hoth-geo.example.police.uk"  # as in the document; Chromium resolves it to 127.0.0.1
START_TIMEOUT_S = 120
SLOW = 120_000


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _documented_nginx_config() -> str:
    text = (REPO_DIR / "docs" / "deployment.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```nginx\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 1, "docs/deployment.md has one nginx example"
    return blocks[0]


def _site_config(app_ports: list[int], http_port: int, tls_port: int, cert: Path, key: Path) -> str:
    site = _documented_nginx_config()
    servers = "\n".join(f"    server 127.0.0.1:{p};" for p in app_ports)
    site, n = re.subn(r"(    server 127\.0\.0\.1:\d+;\n)+", servers + "\n", site)
    assert n == 1
    replacements = {
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{tls_port} ssl http2;",
        "/etc/ssl/certs/hoth-geo.crt": str(cert),
        "/etc/ssl/private/hoth-geo.key": str(key),
    }
    for old, new in replacements.items():
        assert old in site, old
        site = site.replace(old, new)
    return site


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, context=None) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        assert proc.poll() is None, f"exited with {proc.returncode}: {log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(url, timeout=5, context=context) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        assert time.monotonic() < deadline, f"{url} not healthy: {log.read_text()[-3000:]}"
        time.sleep(0.5)


def _stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def deployment(databases, tmp_path_factory):
    """{"url", "http_url", "app_urls"}: nginx on loopback ports in front of two app instances."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if not nginx or not shutil.which("openssl"):
        if os.environ.get("CI"):
            pytest.fail("nginx and openssl are required in CI (scripts/test.sh installs them)")
        pytest.skip("nginx or openssl not installed")
    work = tmp_path_factory.mktemp("deployment")
    backend = "postgresql" if os.environ.get("HOTH_GEO_TEST_PG_URL") else "sqlite"
    url = databases.new(backend, "proxy")
    engine = store.connect(url)
    auth.add_user(engine, "admin.proxy", PASSWORD, "admin")
    auth.add_user(engine, ANALYST, PASSWORD, "analyst")
    pipeline.load_demo_data(engine)
    engine.dispose()

    cert, key = work / "site.crt", work / "site.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={HOSTNAME}",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    home = work / "home"
    home.mkdir()
    env = {
        **os.environ,
        "HOME": str(home),
        "PYTHONPATH": str(REPO_DIR),
        "PYTHONUNBUFFERED": "1",
        "HOTH_GEO_VAR_DIR": str(work / "var"),
        "STREAMLIT_SERVER_COOKIE_SECRET": "synthetic-test-cookie-secret-shared-by-every-instance",
    }
    procs = []
    try:
        app_ports = [_free_port(), _free_port()]
        for port in app_ports:
            log = work / f"app-{port}.log"
            with log.open("wb") as out:
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "hoth_geo.cli", "app", "--port", str(port), "--db", url],
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        env=env,
                        start_new_session=True,
                    )  # fmt: skip
                )
        for port, proc in zip(app_ports, procs, strict=True):
            _wait_healthy(f"http://127.0.0.1:{port}/_stcore/health", proc, work / f"app-{port}.log")

        http_port, tls_port = _free_port(), _free_port()
        (work / "site.conf").write_text(_site_config(app_ports, http_port, tls_port, cert, key))
        (work / "logs").mkdir()
        main_conf = work / "nginx.conf"
        main_conf.write_text(
            ("user root root;\n" if os.geteuid() == 0 else "")
            + f"pid {work}/nginx.pid;\nerror_log {work}/logs/error.log warn;\nevents {{}}\n"
            + f"http {{\n  access_log {work}/logs/access.log;\n"
            + "".join(
                f"  {name}_temp_path {work}/{name}_temp;\n"
                for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
            )
            + f"  include {work}/site.conf;\n}}\n"
        )
        check = subprocess.run(
            [nginx, "-t", "-p", str(work), "-c", str(main_conf)], capture_output=True, text=True
        )
        assert check.returncode == 0, check.stderr
        log = work / "logs" / "nginx.out"
        with log.open("wb") as out:
            procs.append(
                subprocess.Popen(
                    [nginx, "-p", str(work), "-c", str(main_conf), "-g", "daemon off;"],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )  # fmt: skip
            )
        insecure = ssl.create_default_context()
        insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE
        _wait_healthy(f"https://127.0.0.1:{tls_port}/_stcore/health", procs[-1], log, context=insecure)
        yield {
            "url": f"https://{HOSTNAME}:{tls_port}",
            "loopback_url": f"https://127.0.0.1:{tls_port}",
            "http_url": f"http://127.0.0.1:{http_port}",
            "app_urls": [f"http://127.0.0.1:{p}" for p in app_ports],
            "ssl": insecure,
        }
    finally:
        for proc in reversed(procs):
            _stop(proc)
        databases.drop(url)


def _get(url: str, context=None) -> tuple[int, dict[str, str], list[str]]:
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=context),
        type("NoRedirect", (urllib.request.HTTPRedirectHandler,), {"redirect_request": lambda *a: None})(),
    )
    try:
        with opener.open(url, timeout=10) as r:
            return (
                r.status,
                {k.lower(): v for k, v in r.headers.items()},
                r.headers.get_all("Set-Cookie") or [],
            )
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.headers.get_all("Set-Cookie") or []


def test_the_proxy_sets_the_security_headers_and_hides_the_metrics(deployment):
    status, headers, cookies = _get(deployment["loopback_url"] + "/", deployment["ssl"])
    assert status == 200
    assert headers["x-frame-options"] == "SAMEORIGIN"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["strict-transport-security"].startswith("max-age=")
    csp = headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'self'" in csp and "object-src 'none'" in csp
    assert any(c.startswith("hoth_route=") and "Secure" in c and "HttpOnly" in c for c in cookies)

    for path in ("/_stcore/metrics", "/_stcore/agent/openapi.json"):
        status, headers, _ = _get(deployment["loopback_url"] + path, deployment["ssl"])
        assert status == 404, path
        assert headers["x-frame-options"] == "SAMEORIGIN", "headers on error responses too"
    direct, _, _ = _get(deployment["app_urls"][0] + "/_stcore/metrics")
    assert direct == 404, "the instance itself does not serve metrics either (hoth_geo/ui/web.py)"

    status, headers, _ = _get(deployment["http_url"] + "/", None)
    assert status == 301 and headers["location"].startswith("https://")


def test_a_browser_signs_in_and_sees_the_map_through_the_proxy(deployment):
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is required in CI for browser tests")
        pytest.skip(f"{CHROMIUM} not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    args = [*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {HOSTNAME} 127.0.0.1"]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, ignore_https_errors=True)
        page = context.new_page()
        page.set_default_timeout(SLOW)
        watch = Watch(page, deployment["url"])
        sign_in(page, {"url": deployment["url"]}, ANALYST)
        page.get_by_role("heading", name="Hotspot map").wait_for()
        assert hex_count(page) > 0
        go_in_session(page, "time")  # charts drawn by Vega, which must also work under the policy
        page.locator(
            '[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg'
        ).first.wait_for()
        route = [c for c in context.cookies() if c["name"] == "hoth_route"]
        assert len(route) == 1 and route[0]["secure"]
        assert [e for e in watch.errors if "Content Security Policy" in e] == []
        assert watch.errors == [] and watch.dialogs == [] and watch.foreign == []
        context.close()
        browser.close()
