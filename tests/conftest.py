"""Shared test fixtures. Tests that need ../shared/data skip with a clear reason when absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SHARED_DATA = SHARED / "data"
SEISBENCH_CACHE = SHARED / "seisbench-cache"

if SEISBENCH_CACHE.exists():
    os.environ.setdefault("SEISBENCH_CACHE_ROOT", str(SEISBENCH_CACHE))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ../shared/data; skips the test when it is absent (users' machines)."""
    if not SHARED_DATA.exists():
        pytest.skip(f"real shared data not present at {SHARED_DATA} (only on HEGGS dev/CI machines)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def seisbench_cache() -> Path:
    if not (SEISBENCH_CACHE / "models").exists():
        pytest.skip(f"SeisBench picker weights not present at {SEISBENCH_CACHE}")
    return SEISBENCH_CACHE
