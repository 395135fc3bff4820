"""Each book notebook, executed with papermill in the quick profile, is one test case."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "book" / "_lib"))  # fedbook is not installed
from fedbook.notebooks import EXECUTED, _kernel_environment, execute_one, notebook_sources  # noqa: E402
from helpers.figures import FIGURES  # noqa: E402

SOURCES = notebook_sources()


@pytest.mark.notebook
@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_notebook_executes(source):
    if os.environ.get("FEDLIB_SKIP_NOTEBOOKS") == "1":
        pytest.skip("FEDLIB_SKIP_NOTEBOOKS=1")
    out = execute_one(source, EXECUTED, {"profile": "quick"})
    assert out.exists()
    cells = json.loads(out.read_text(encoding="utf-8"))["cells"]
    images = sum("image/png" in o.get("data", {}) for c in cells for o in c.get("outputs", []))
    expected = FIGURES.get(source.stem, 0)
    assert images >= expected, f"{source.name}: expected >= {expected} figure image(s), found {images}"


def test_figures_map_names_real_notebooks():
    stems = {p.stem for p in SOURCES}
    assert set(FIGURES) <= stems, f"unknown notebooks in helpers.figures: {set(FIGURES) - stems}"


@pytest.mark.parametrize("outer", [None, "Agg"])
def test_kernel_gets_the_inline_backend_whatever_the_caller_has(monkeypatch, outer):
    # A headless CI machine often exports MPLBACKEND=Agg; the kernel must still draw inline figures.
    if outer is None:
        monkeypatch.delenv("MPLBACKEND", raising=False)
    else:
        monkeypatch.setenv("MPLBACKEND", outer)
    with _kernel_environment():
        assert os.environ["MPLBACKEND"] == "module://matplotlib_inline.backend_inline"
    assert os.environ.get("MPLBACKEND") == outer


def test_every_notebook_is_in_the_toc():
    from pathlib import Path

    toc = (Path(__file__).resolve().parents[1] / "_toc.yml").read_text()
    missing = [p.stem for p in SOURCES if f"executed/{p.stem}" not in toc]
    assert not missing, f"notebooks missing from _toc.yml: {missing}"
