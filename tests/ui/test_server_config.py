"""The security settings the app sets for Streamlit itself (the reverse proxy adds the rest)."""

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


def test_streamlit_reads_the_pinned_security_settings():
    # A fresh interpreter in the repository reads .streamlit/config.toml as `streamlit run` does.
    code = (
        "import json, sys; from streamlit import config; "
        "print(json.dumps({k: config.get_option(k) for k in json.loads(sys.argv[1])}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(list(EXPECTED))],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(out.strip().splitlines()[-1]) == EXPECTED
