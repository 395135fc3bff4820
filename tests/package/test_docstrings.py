"""Every docstring example in fedlib runs and prints what it shows (each module is one test case)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest
from helpers.doctests import fresh_namespace_failures

import fedlib

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(fedlib.__path__, prefix="fedlib.") if not info.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring example(s) failed in {name}"


def test_the_examples_exist():
    finder = doctest.DocTestFinder()
    examples = sum(len(t.examples) for name in MODULES for t in finder.find(importlib.import_module(name)))
    assert examples >= 100, f"expected the public API to carry its runnable examples; found {examples}"


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run_in_a_fresh_namespace(name):
    # The API page shows these examples to be pasted: each must import what it uses, not rely on module globals.
    failures = fresh_namespace_failures(importlib.import_module(name))
    assert not failures, "example(s) that fail when pasted into a fresh session:\n" + "\n".join(failures)
