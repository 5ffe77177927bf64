"""The settings the app pins for Streamlit itself: security (the reverse proxy adds the rest) and the
script runner's garbage collection."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

EXPECTED = {
    "server.enableCORS": True,
    "server.enableXsrfProtection": True,
    "server.xsrfCookieSameSite": "lax",
    "server.enableAgentApi": False,
    "server.unsafeMetricsUserAttributes": [],
    "client.showErrorDetails": "none",
    "browser.gatherUsageStats": False,
    "server.maxUploadSize": 200,
    "server.maxMessageSize": 50,
}


def _options_read(names: list[str]) -> dict:
    # A fresh interpreter in the repository reads .streamlit/config.toml as `streamlit run` does.
    code = (
        "import json, sys; from streamlit import config; "
        "print(json.dumps({k: config.get_option(k) for k in json.loads(sys.argv[1])}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(names)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_streamlit_reads_the_pinned_security_settings():
    assert _options_read(list(EXPECTED)) == EXPECTED


def test_no_full_garbage_collection_after_every_script_run():
    # Streamlit's default: a full collection after every run, under the interpreter lock all sessions
    # share (about as long as the map's rerun at a million reports).
    assert _options_read(["runner.postScriptGC"]) == {"runner.postScriptGC": False}
