"""Execute the book's notebooks with papermill and build the Jupyter Book.

Notebooks live in ``notebooks/`` as Jupytext py:percent files (the only committed form). Executing one
converts it to ipynb in memory, runs it with papermill (parameters injected after the cell tagged
``parameters``) and writes the executed notebook to ``executed/<name>.ipynb``, a git-ignored folder that
``_toc.yml`` points at. The book is then built from those executed notebooks with execution off.

Each notebook is executed once per change: the executed copy records a fingerprint of what its outputs
depend on (the source, the parameters, fedlib's and this package's code, the committed results), and
``execute --skip-fresh`` (what ``make book`` runs) skips a notebook whose copy carries the current
fingerprint — e.g. one the notebook tests of ``make test`` just wrote.

fedbook is installed with the project (``pip install -e ".[book]"``, ``make test``, ``make book``), so the
kernel imports it like any module of the environment, as it does under plain papermill or in JupyterLab; the
kernel gets the inline Matplotlib backend. Papermill's injected-parameters cell is tagged ``remove-cell``: the
book never shows it. The repository (``notebooks/``, ``results/``, ``executed/``) is found by
:func:`fedbook.repository.find_root`.

Command line (what ``make notebooks``, ``make notebook`` and ``make html`` call)::

    python -m fedbook.notebooks execute [--profile quick] [--skip-fresh] [--only notebooks/x.py ...]
                                        [-- -p name value ...]
    python -m fedbook.notebooks build
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from .repository import find_root

#: The book's repository root (:func:`fedbook.repository.find_root`: found, not assumed from where fedbook is).
ROOT = find_root()
#: This package's own code (part of every executed notebook's fingerprint).
_PACKAGE = Path(__file__).resolve().parent
NOTEBOOKS = ROOT / "notebooks"
EXECUTED = ROOT / "executed"
KERNEL = "python3"
# Figures reach the executed notebook only through IPython's inline backend. An MPLBACKEND such as "Agg"
# in the caller's environment (common on headless CI machines) would be inherited by the kernel, and
# plt.show() / display(fig) would then emit no image at all: the kernel always gets the inline backend.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
#: Tags added to papermill's injected cell, so that the reader never sees it.
INJECTED_TAGS = ("remove-cell",)


@contextlib.contextmanager
def _kernel_environment():
    """Environment the kernel subprocess inherits while a notebook runs (restored afterwards). The kernel imports
    fedbook as any Python of this environment does (installed with the project): no PYTHONPATH is added."""
    saved = {k: os.environ.get(k) for k in ("MPLBACKEND",)}
    os.environ["MPLBACKEND"] = INLINE_BACKEND
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def notebook_sources(root: Path = ROOT) -> list[Path]:
    """Every py:percent notebook source under ``notebooks/``, sorted by name."""
    return sorted((root / "notebooks").glob("*.py"))


def parse_papermill_params(args: Sequence[str]) -> dict:
    """Parse ``-p name value`` pairs (papermill's CLI form) into a dict; values are YAML-parsed."""
    import yaml

    params: dict = {}
    args = list(args)
    if len(args) % 3 or any(a not in ("-p", "--parameters") for a in args[::3]):
        raise SystemExit(f"expected '-p NAME VALUE' triples after '--'; found {args!r}")
    for _flag, name, raw in zip(args[::3], args[1::3], args[2::3], strict=True):
        params[name] = yaml.safe_load(raw)
    return params


def _files(folder: Path, pattern: str) -> Iterator[Path]:
    return (p for p in sorted(folder.rglob(pattern)) if "__pycache__" not in p.parts)


def fingerprint(source: Path, parameters: dict) -> str:
    """SHA-256 of everything an executed notebook's outputs depend on: its source, the parameters, the
    code of fedlib and of :mod:`fedbook`, and the committed results under ``results/``."""
    import fedlib

    digest = hashlib.sha256()
    digest.update(Path(source).read_bytes())
    digest.update(json.dumps(parameters, sort_keys=True, default=str).encode())
    for folder, pattern in ((Path(fedlib.__file__).parent, "*.py"), (_PACKAGE, "*.py"), (ROOT / "results", "*.json")):
        for path in _files(folder, pattern):
            digest.update(path.relative_to(folder).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def is_fresh(source: Path, out_dir: Path, parameters: dict) -> bool:
    """Whether ``out_dir`` holds an executed copy of ``source`` made with the current fingerprint."""
    target = out_dir / f"{source.stem}.ipynb"
    if not target.exists():
        return False
    try:
        recorded = json.loads(target.read_text(encoding="utf-8"))["metadata"].get("fedbook", {}).get("fingerprint")
    except (ValueError, KeyError):
        return False
    return recorded == fingerprint(source, parameters)


def _finish(executed: Path, target: Path, stamp: str) -> None:
    """Tag papermill's injected cell for removal, record the fingerprint, write the book's copy."""
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags:
            tags.extend(t for t in INJECTED_TAGS if t not in tags)
    nb.metadata["fedbook"] = {"fingerprint": stamp}
    nbformat.write(nb, executed)
    os.replace(executed, target)  # only complete notebooks ever reach the book


def execute_one(source: Path, out_dir: Path, parameters: dict, *, timeout: int = 1800) -> Path:
    """Execute one py:percent notebook with papermill; return the executed ipynb path.

    Raises RuntimeError naming the notebook if any cell fails (papermill keeps the partial output
    in the executed file, so the traceback is readable there).
    """
    import jupytext
    import papermill

    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = fingerprint(source, parameters)
    nb = jupytext.read(source, fmt="py:percent")
    if not any("parameters" in c.get("metadata", {}).get("tags", []) for c in nb.cells):
        raise RuntimeError(f"{source}: no cell tagged 'parameters' (every book notebook needs one)")
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
    staged = out_dir / f".{source.stem}.input.ipynb"
    jupytext.write(nb, staged, fmt="ipynb")
    target = out_dir / f"{source.stem}.ipynb"
    tmp = out_dir / f".{source.stem}.partial.ipynb"
    try:
        with _kernel_environment():
            papermill.execute_notebook(
                str(staged),
                str(tmp),
                parameters=parameters,
                kernel_name=KERNEL,
                cwd=str(source.parent),
                progress_bar=False,
                execution_timeout=timeout,
            )
    except Exception as exc:  # papermill raises PapermillExecutionError with the cell's traceback
        failed = out_dir / f"{source.stem}.FAILED.ipynb"
        if tmp.exists():
            os.replace(tmp, failed)
        raise RuntimeError(f"notebook {source.name} failed (executed copy: {failed}):\n{exc}") from exc
    finally:
        staged.unlink(missing_ok=True)
    _finish(tmp, target, stamp)
    return target


def execute(sources: Iterable[Path], out_dir: Path, parameters: dict, *, skip_fresh: bool = False) -> int:
    """Execute every notebook (with ``skip_fresh``, those whose executed copy is not up to date); print
    one line each; return the number of failures."""
    failures = []
    for src in sources:
        start = time.perf_counter()
        if skip_fresh and is_fresh(src, out_dir, parameters):
            print(f"fresh  {src.name} (executed copy up to date, not re-executed)", flush=True)
            continue
        try:
            execute_one(src, out_dir, parameters)
        except RuntimeError as exc:
            failures.append(src.name)
            print(f"FAILED {src.name} ({time.perf_counter() - start:.1f} s)\n{exc}", flush=True)
            continue
        print(f"ok     {src.name} ({time.perf_counter() - start:.1f} s)", flush=True)
    if failures:
        print(f"{len(failures)} notebook(s) failed: {', '.join(failures)}", flush=True)
    return len(failures)


def build(root: Path = ROOT) -> int:
    """Build the HTML book from the executed notebooks (warnings are errors)."""
    missing = [p for p in notebook_sources(root) if not (EXECUTED / f"{p.stem}.ipynb").exists()]
    if missing:
        names = ", ".join(p.name for p in missing)
        print(f"not executed yet: {names}; run `make notebooks` first", file=sys.stderr)
        return 2
    exe = Path(sys.executable).parent / "jupyter-book"
    cmd = [str(exe), "build", str(root), "-W", "--keep-going"]
    print(" ".join(cmd), flush=True)
    with _kernel_environment():  # autodoc imports fedbook too
        return subprocess.call(cmd, cwd=root)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(prog="python -m fedbook.notebooks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("execute", help="execute notebooks with papermill into executed/")
    ex.add_argument("--profile", default=None, help="quick (default in the notebooks), scale or full")
    ex.add_argument("--only", nargs="+", type=Path, help="notebook source(s) to execute (default: all)")
    ex.add_argument("--out", type=Path, default=EXECUTED)
    ex.add_argument("--skip-fresh", action="store_true",
                    help="skip notebooks whose executed copy is up to date with the source, fedlib and results")
    sub.add_parser("build", help="build the HTML book from executed notebooks")
    args = parser.parse_args(argv)
    if args.command == "build":
        return build()
    params = parse_papermill_params(extra)
    if args.profile is not None:
        params.setdefault("profile", args.profile)
    sources = [p.resolve() for p in args.only] if args.only else notebook_sources()
    for p in sources:
        if not p.exists():
            parser.error(f"no such notebook source: {p}")
    return 1 if execute(sources, args.out, params, skip_fresh=args.skip_fresh) else 0


if __name__ == "__main__":
    raise SystemExit(main())
