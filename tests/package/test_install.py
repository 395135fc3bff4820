"""The environment `make test` builds is the one constraints.txt pins (and the library imports without the
book, sweep or Flower extras' packages)."""

import importlib.metadata as metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _pins() -> dict:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line.strip())
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def test_constraints_pin_the_torch_pair():
    pins = _pins()
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1", (pins.get("torch"), pins.get("torchvision"))


@pytest.mark.skipif(os.environ.get("FEDLIB_PINNED_ENV") != "1", reason="only inside the environment `make test` builds")
def test_installed_versions_match_constraints():
    wrong = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"].lower().replace("_", "-")
        pinned = _pins().get(name)
        if pinned is not None and dist.version != pinned:
            wrong[name] = (dist.version, pinned)
    assert not wrong, f"installed (found, pinned) versions differ from constraints.txt: {wrong}"


def test_library_imports_without_optional_extras():
    """`import fedlib` and its core subpackages must not import dask, flwr, papermill or jupyter_book."""
    code = (
        "import sys, fedlib, fedlib.aggregators, fedlib.attacks, fedlib.experiments, fedlib.fl, fedlib.data,"
        " fedlib.sweep, fedlib.cli, fedlib.report;"
        "bad = [m for m in ('dask', 'distributed', 'flwr', 'papermill', 'jupyter_book') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "", f"optional packages imported by the core library: {out.stdout.strip()}"
