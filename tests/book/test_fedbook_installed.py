"""The book's helpers (fedbook) are an installed package: plain jupytext + papermill re-execute a Results notebook
with no PYTHONPATH and no make, and fedbook finds the book's repository instead of assuming where it lives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "book" / "_lib"))  # this checkout's fedbook, whatever the environment installed
from fedbook import repository  # noqa: E402
from fedbook.repository import ROOT_VARIABLE, find_root, is_book  # noqa: E402

from fedlib.errors import ConfigError  # noqa: E402


def _plain_env() -> dict[str, str]:
    """The caller's environment without PYTHONPATH or FEDBOOK_ROOT: imports resolve as installed."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", ROOT_VARIABLE)}


def _installed_fedbook() -> str:
    """Where this environment's Python imports fedbook from, without PYTHONPATH ('' when it cannot)."""
    out = subprocess.run([sys.executable, "-c", "import fedbook; print(fedbook.__file__)"], cwd="/",
                         env=_plain_env(), capture_output=True, text=True, timeout=120)
    return out.stdout.strip() if out.returncode == 0 else ""


def _require_installed_here() -> None:
    """In the environment `make test` builds, fedbook must be installed from this checkout; elsewhere (a shared
    development environment installed from another checkout) the plain-environment tests cannot test this one."""
    where = _installed_fedbook()
    if where and Path(where).resolve().is_relative_to(ROOT):
        return
    found = f"installed from {where}" if where else "not installed"
    if os.environ.get("FEDLIB_PINNED_ENV") == "1":
        pytest.fail(f"fedbook is {found} in {sys.prefix}; `pip install -e '.[book]'` must install it from {ROOT}")
    pytest.skip(f"this environment's fedbook is {found}; this checkout's is tested in `make test`")


@pytest.mark.notebook
def test_plain_jupytext_and_papermill_execute_a_results_notebook(tmp_path):
    if os.environ.get("FEDLIB_SKIP_NOTEBOOKS") == "1":
        pytest.skip("FEDLIB_SKIP_NOTEBOOKS=1")
    _require_installed_here()
    staged, executed = tmp_path / "x.ipynb", tmp_path / "out.ipynb"
    # The README's line, run at the repository root by this environment's jupytext and papermill.
    for command in (
        ["jupytext", "--to", "ipynb", "notebooks/fl_setup.py", "-o", str(staged)],
        ["papermill", str(staged), str(executed), "-p", "profile", "quick", "--no-progress-bar"],
    ):
        done = subprocess.run([sys.executable, "-m", *command], cwd=ROOT, env=_plain_env(), capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stderr[-3000:]}"
    cells = json.loads(executed.read_text(encoding="utf-8"))["cells"]
    errors = [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    shown = json.dumps([c.get("outputs", []) for c in cells])
    assert "20 (all every round)" in shown  # the quick profile's row of the FL-setup table was rendered


def test_an_installed_fedbook_imports_outside_the_repository_and_finds_its_clone(tmp_path):
    _require_installed_here()
    code = "import fedbook.context as c, fedbook.notebooks as n; print(c.ROOT); print(n.ROOT)"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=_plain_env(), capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == [str(ROOT), str(ROOT)]


def test_find_root_prefers_the_explicit_folder_then_the_current_repository(tmp_path, monkeypatch):
    monkeypatch.delenv(ROOT_VARIABLE, raising=False)
    clone = tmp_path / "clone"
    (clone / "notebooks").mkdir(parents=True)
    (clone / "_toc.yml").write_text("format: jb-book\n")
    assert is_book(clone) and not is_book(tmp_path)
    assert find_root(clone / "notebooks") == clone.resolve()  # a kernel started in notebooks/ (JupyterLab)
    own = Path(repository.__file__).resolve().parents[3]
    assert find_root(tmp_path) == own  # nothing around the folder: the clone this package is imported from
    monkeypatch.chdir(clone)
    assert find_root() == clone.resolve()
    monkeypatch.setenv(ROOT_VARIABLE, str(ROOT))
    assert find_root() == ROOT
    monkeypatch.setenv(ROOT_VARIABLE, str(tmp_path))
    with pytest.raises(ConfigError, match=f"{ROOT_VARIABLE}={tmp_path}: expected the book's repository"):
        find_root()
