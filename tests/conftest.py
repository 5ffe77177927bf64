"""Shared fixtures. The open data in ../shared/data sits beside the repo in development and CI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_DIR = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_DIR.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ../shared/data; CI always has it, so a missing folder fails there instead of skipping."""
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"open data folder {SHARED_DATA} is missing in CI")
        pytest.skip(f"open data folder {SHARED_DATA} not found beside the repo")
    return SHARED_DATA
