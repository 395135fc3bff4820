"""The shape of the library's code, checked: what a maintainer new to fedlib can rely on."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import fedlib

PACKAGE = Path(fedlib.__file__).resolve().parent
SOURCES = sorted(PACKAGE.rglob("*.py"))
MAX_FUNCTION_LINES = 80  # docstring included


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
