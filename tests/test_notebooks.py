"""Each book notebook, executed with papermill in the quick profile, is one test case."""

from __future__ import annotations

import os

import pytest

from fedlib.report.notebooks import EXECUTED, execute_one, notebook_sources

SOURCES = notebook_sources()


@pytest.mark.notebook
@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_notebook_executes(source):
    if os.environ.get("FEDLIB_SKIP_NOTEBOOKS") == "1":
        pytest.skip("FEDLIB_SKIP_NOTEBOOKS=1")
    out = execute_one(source, EXECUTED, {"profile": "quick"})
    assert out.exists()


def test_every_notebook_is_in_the_toc():
    from pathlib import Path

    toc = (Path(__file__).resolve().parents[1] / "_toc.yml").read_text()
    missing = [p.stem for p in SOURCES if f"executed/{p.stem}" not in toc]
    assert not missing, f"notebooks missing from _toc.yml: {missing}"
