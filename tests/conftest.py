"""Shared test fixtures. Tests that need ../shared/data skip with a clear reason when absent.

:func:`shared_artefact` builds an expensive artefact (a store, a trained run) once per test run,
also under pytest-xdist (``-n 2``): the first worker that needs it builds it under a file lock
in the run's common temporary folder, the others wait for it and reuse it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable

import pytest
from filelock import FileLock

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


def shared_artefact(tmp_path_factory: pytest.TempPathFactory, name: str, key: dict[str, Any],
                    build: Callable[[Path], Any]) -> Path:
    """Folder ``<run temp>/artefacts/<name>-<hash of key>`` made by ``build(folder)`` once per run.

    ``key`` holds everything the artefact depends on (its config); it is JSON-hashed, so two
    fixtures asking for different configs get different folders. Under pytest-xdist the folder
    lies in the temporary folder common to all workers (the parent of the worker's own) and is
    built under a file lock: one worker builds, the others block on the lock and then reuse it.
    A build that raised leaves no marker, so the next request builds again from scratch.
    """
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # <run temp>/popen-gwN -> <run temp>, shared by the workers
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    root = base / "artefacts"
    root.mkdir(parents=True, exist_ok=True)
    folder = root / f"{name}-{digest}"
    done = root / f"{name}-{digest}.done"
    with FileLock(str(root / f"{name}-{digest}.lock")):
        if not done.exists():
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir()
            build(folder)
            done.write_text(json.dumps(key, sort_keys=True, default=str) + "\n")
    return folder


@pytest.fixture(scope="session")
def artefact(tmp_path_factory) -> Callable[[str, dict[str, Any], Callable[[Path], Any]], Path]:
    """``artefact(name, key, build) -> folder``: :func:`shared_artefact` for this test run."""
    return lambda name, key, build: shared_artefact(tmp_path_factory, name, key, build)
