from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).parent))


def threads_per_worker() -> int:
    """Two threads, or the cores shared out between pytest-xdist's workers (``make test`` runs two)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    return max(1, min(2, (os.cpu_count() or 1) // workers))


THREADS = threads_per_worker()
torch.set_num_threads(THREADS)
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:  # the processes tests start share the worker's cores too
    os.environ.setdefault("OMP_NUM_THREADS", str(THREADS))


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(1234)


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face Hub cache, read offline (``HF_HUB_OFFLINE=1``); tests lay repos out in it
    as huggingface_hub does (``<kind>s--owner--name/snapshots/<commit>/...`` and ``refs/main``)."""
    import huggingface_hub.constants

    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return cache


#: the test files that take minutes, started first so that ``make test``'s two workers finish together
#: (``--dist loadfile --no-loadscope-reorder`` hands out whole files in collection order, one at a time
#: to whichever worker is nearly idle)
SLOW_FILES = ("test_readme.py", "test_queue.py", "test_space_rehearsal.py", "test_imports.py", "test_distributed.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow files first, each file's tests still in their own order (a stable sort)."""
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return SLOW_FILES.index(name) if name in SLOW_FILES else len(SLOW_FILES)

    items.sort(key=rank)
