"""Shared fixtures. The whole suite runs in float32 or float64 (FEDLIB_TEST_DTYPE) and on CPU or CUDA
(FEDLIB_TEST_DEVICE, default: cuda when available for the tensor tests marked ``cuda``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
sys.path.insert(0, str(Path(__file__).resolve().parent))  # makes `helpers` importable

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _dtype_from_env() -> torch.dtype:
    name = os.environ.get("FEDLIB_TEST_DTYPE", "float64")
    if name not in _DTYPES:
        raise pytest.UsageError(f"FEDLIB_TEST_DTYPE must be one of {list(_DTYPES)}; found {name!r}")
    return _DTYPES[name]


def _share_the_cores_between_test_workers() -> None:
    """Under pytest-xdist, give each worker its share of the cores: by default every worker's torch (and the
    compiled kernels, which follow torch's count) uses all of them, and two workers × two threads on two cores
    made `make test` take 229 s instead of 136 s (measured on a 2-core machine), threads waiting for a core
    in every short run."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if workers > 1:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        torch.set_num_threads(max(1, cores // workers))


_share_the_cores_between_test_workers()
DTYPE = _dtype_from_env()
DEVICE = torch.device(os.environ.get("FEDLIB_TEST_DEVICE", "cpu"))


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run tests marked slow")
    parser.addoption("--book-html", default=None, help="built book folder (_build/html) for tests/book/rendered")
    parser.addoption("--dtype-tests-only", action="store_true", default=False,
                     help="run only the tests that take the dtype fixture (CI's second pass in the other dtype)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--dtype-tests-only"):
        others = [item for item in items if "dtype" not in getattr(item, "fixturenames", ())]
        config.hook.pytest_deselected(items=others)
        items[:] = [item for item in items if "dtype" in getattr(item, "fixturenames", ())]
    skip_slow = pytest.mark.skip(reason="slow: pass --runslow to run")
    skip_cuda = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "slow" in item.keywords and not config.getoption("--runslow"):
            item.add_marker(skip_slow)
        if "cuda" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip_cuda)


@pytest.fixture
def dtype() -> torch.dtype:
    """The floating dtype the suite runs in (FEDLIB_TEST_DTYPE, default float64)."""
    return DTYPE


@pytest.fixture
def device() -> torch.device:
    return DEVICE


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


@pytest.fixture
def golden_dir() -> Path:
    return DATA / "golden" / "ndss21"

