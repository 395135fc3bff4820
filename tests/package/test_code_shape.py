"""The shape of the library's code, checked: what a maintainer new to fedlib can rely on."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import fedlib

PACKAGE = Path(fedlib.__file__).resolve().parent
SOURCES = sorted(PACKAGE.rglob("*.py"))
MAX_FUNCTION_LINES = 80  # docstring included
MAX_MODULE_LINES = 500


def _functions(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def test_the_package_sources_are_found():
    assert len(SOURCES) > 50 and PACKAGE / "fl" / "_engine.py" in SOURCES


@pytest.mark.parametrize("path", SOURCES, ids=[p.relative_to(PACKAGE).as_posix() for p in SOURCES])
def test_no_function_is_longer_than_80_lines(path):
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines, line {node.lineno})"
            for node in _functions(path) if node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f"{path.name}: split {long}"


@pytest.mark.parametrize("path", SOURCES, ids=[p.relative_to(PACKAGE).as_posix() for p in SOURCES])
def test_no_module_is_longer_than_500_lines(path):
    n_lines = len(path.read_text(encoding="utf-8").splitlines())
    assert n_lines <= MAX_MODULE_LINES, f"{path.name}: {n_lines} lines; split it by job"


@pytest.mark.parametrize("path", SOURCES, ids=[p.relative_to(PACKAGE).as_posix() for p in SOURCES])
def test_no_signature_inspection_and_no_repository_paths(path):
    # What a rule or attack needs is declared when it is registered; the installed package never assumes
    # the repository's layout (no walking up from __file__ to find results/ or notebooks/).
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "signature":
            assert not (isinstance(node.value, ast.Name) and node.value.id == "inspect"), (
                f"{path.name}:{node.lineno} inspects a signature")
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "parents":
            raise AssertionError(f"{path.name}:{node.lineno} computes a path from parents[...]")


def _imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in it (functions and TYPE_CHECKING blocks too), as absolute names."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            out.add(module)
            out.update(f"{module}.{alias.name}" for alias in node.names)
    return out


# Each layer and what it must never import (the data flow runs one way: fl below experiments below the sweep,
# the report, the report card and the command line).
LAYERS = {
    "fl": ("fedlib.experiments", "fedlib.sweep", "fedlib.report", "fedlib.cli", "fedlib._evaluate"),
    "experiments": ("fedlib.sweep", "fedlib.report", "fedlib.cli", "fedlib._evaluate"),
    "attacks": ("fedlib.fl", "fedlib.experiments", "fedlib.sweep", "fedlib.report", "fedlib.cli"),
    "aggregators": ("fedlib.attacks", "fedlib.fl", "fedlib.experiments", "fedlib.sweep", "fedlib.report"),
}


@pytest.mark.parametrize("layer", list(LAYERS))
def test_no_layer_imports_a_layer_above_it(layer):
    upward = {
        f"{path.relative_to(PACKAGE).as_posix()} imports {name}"
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        for name in _imported_modules(path)
        if name.startswith(LAYERS[layer])
    }
    assert not upward, sorted(upward)


def test_the_library_names_no_notebook_of_its_book():
    found = [f"{path.relative_to(PACKAGE).as_posix()}: {needle!r}" for path in SOURCES
             for needle in ("notebooks/", ".ipynb", "make notebook", "import fedbook", "from fedbook")
             if needle in path.read_text(encoding="utf-8")]  # fmt: skip
    assert not found, found


def test_every_vocabulary_constant_is_defined_once():
    """No module spells out a tuple of names that fedlib.vocabulary defines (it imports them instead)."""
    from fedlib import vocabulary

    names = {frozenset(v): k for k, v in vars(vocabulary).items() if isinstance(v, tuple) and len(v) > 1}
    again = []
    for path in SOURCES:
        if path.name == "vocabulary.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and len(node.elts) > 1:
                values = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
                if len(values) == len(node.elts) and frozenset(values) in names:
                    again.append(f"{path.relative_to(PACKAGE).as_posix()}:{node.lineno} {names[frozenset(values)]}")
    assert not again, again


def test_docstrings_cite_what_readers_have():
    """A reader has the paper and the book, never the project's internal notes: no source cites them."""
    needles = ("spec §", "spec/", "ndss21-spec", "paper-results", "pilot-impacts", "[RECALL", "[GUESS")
    found = [f"{path.relative_to(PACKAGE).as_posix()}: {needle!r}" for path in SOURCES for needle in needles
             if needle in path.read_text(encoding="utf-8")]  # fmt: skip
    assert not found, found
