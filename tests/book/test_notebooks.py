"""Each book notebook, executed with papermill in the quick profile, is one test case."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "book" / "_lib"))  # this checkout's fedbook
from fedbook.notebooks import EXECUTED, ROOT, _kernel_environment, execute, execute_one, is_fresh, notebook_sources  # noqa: E402
from helpers.figures import FIGURES, READER_PAGES  # noqa: E402

SOURCES = notebook_sources()
COMMITTED = ROOT / "results"


def _committed_state() -> dict:
    """Every committed result file with its size and modification time."""
    return {p.relative_to(COMMITTED).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in COMMITTED.rglob("*.json")}


def _output_text(cells) -> str:
    parts = []
    for cell in cells:
        for out in cell.get("outputs", []):
            parts.append("".join(out.get("text", "")))
            for mime, value in out.get("data", {}).items():
                if mime.startswith("text/"):
                    parts.append("".join(value) if isinstance(value, list) else str(value))
    return "\n".join(parts)


@pytest.mark.notebook
@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_notebook_executes(source):
    if os.environ.get("FEDLIB_SKIP_NOTEBOOKS") == "1":
        pytest.skip("FEDLIB_SKIP_NOTEBOOKS=1")
    before = _committed_state()
    # The executed copy lands where `make book` picks it up (and skips re-executing it while it is fresh).
    out = execute_one(source, EXECUTED, {"profile": "quick"})
    assert out.exists() and is_fresh(source, EXECUTED, {"profile": "quick"})
    cells = json.loads(out.read_text(encoding="utf-8"))["cells"]
    images = sum("image/png" in o.get("data", {}) for c in cells for o in c.get("outputs", []))
    expected = FIGURES.get(source.stem, 0)
    assert images >= expected, f"{source.name}: expected >= {expected} figure image(s), found {images}"
    # Committed results are read, never recomputed or rewritten: every quick grid cell (3 seeds, 100 rounds)
    # is committed under results/quick, and the scale/full results are only read.
    after = _committed_state()
    new = sorted(set(after) - set(before))
    assert not new, (f"{source.name} computed {len(new)} result(s) missing from results/ (e.g. {new[:3]}): "
                     "commit them (the quick grids must be covered by committed results)")
    assert after == before, f"{source.name} rewrote committed results under results/"
    # A page never shows a path of the machine that built it.
    assert str(ROOT) not in _output_text(cells), f"{source.name} prints a machine path"


def _cells(source):
    import jupytext

    return [c for c in jupytext.read(source, fmt="py:percent").cells if c.cell_type == "code"]


@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_reader_pages_hide_code_and_parameters(source):
    # Results and Summary pages: parameters removed, every other input behind a toggle; teaching chapters
    # keep their code visible.
    for cell in _cells(source):
        tags = set(cell.metadata.get("tags", []))
        if source.stem not in READER_PAGES:
            assert not tags & {"hide-input", "remove-input"}, f"{source.name}: teaching code must stay visible"
        elif "parameters" in tags:
            assert "remove-cell" in tags, f"{source.name}: the parameters cell must be removed from the page"
        else:
            assert tags & {"hide-input", "remove-input", "remove-cell"}, (
                f"{source.name}: a code cell without hide-input:\n{cell.source[:200]}")


def test_reader_pages_are_the_results_and_summary_parts_of_the_toc():
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = {c["file"].split("/")[-1] for part in toc["parts"] if part["caption"] in ("Results", "Summary")
             for c in part["chapters"]}
    beyond = next(part for part in toc["parts"] if part["caption"] == "Beyond the paper")
    assert pages | {"robustness_benchmark"} == set(READER_PAGES)  # the benchmark reads results as they do
    assert "executed/robustness_benchmark" in [c["file"] for c in beyond["chapters"]]


def test_runner_removes_the_injected_cell_and_skips_fresh_copies(tmp_path, capsys):
    src = tmp_path / "notebooks" / "tiny.py"
    src.parent.mkdir()
    src.write_text('# %% tags=["parameters"]\nx = 1\n\n# %%\nprint(x + 1)\n')
    out = tmp_path / "executed"
    assert execute([src], out, {"x": 2}) == 0
    nb = json.loads((out / "tiny.ipynb").read_text())
    injected = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert len(injected) == 1 and "remove-cell" in injected[0]["metadata"]["tags"]
    assert "3" in _output_text(nb["cells"])
    assert is_fresh(src, out, {"x": 2}) and not is_fresh(src, out, {"x": 3})
    assert execute([src], out, {"x": 2}, skip_fresh=True) == 0
    assert "fresh  tiny.py" in capsys.readouterr().out
    src.write_text(src.read_text() + "\n# %%\nprint('changed')\n")
    assert not is_fresh(src, out, {"x": 2})


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

    toc = (Path(__file__).resolve().parents[2] / "_toc.yml").read_text()
    missing = [p.stem for p in SOURCES if f"executed/{p.stem}" not in toc]
    assert not missing, f"notebooks missing from _toc.yml: {missing}"
