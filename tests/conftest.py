"""Shared fixtures: where the evaluation data lives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """The evaluation data folder: BATCHSEARCH_SHARED_DATA, else ../shared/data beside the checkout."""
    override = os.environ.get("BATCHSEARCH_SHARED_DATA")
    return Path(override) if override else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.fail(f"evaluation data not found at {path}; set BATCHSEARCH_SHARED_DATA")
    return path
