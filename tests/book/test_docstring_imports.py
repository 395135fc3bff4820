"""Every docstring example of the fedbook modules that the API page (book/api.md) shows runs in a fresh namespace:
a reader pasting it into a new Python session has none of the module's globals, so each example imports what it
uses (tests/package/test_docstrings.py checks the same for fedlib)."""

from __future__ import annotations

import importlib
import re

import pytest
from helpers.doctests import fresh_namespace_failures

# The fedbook modules book/api.md documents with automodule.
API_MODULES = ["fedbook", "fedbook.paper", "fedbook.summary", "fedbook.context", "fedbook.setup", "fedbook.toy",
               "fedbook.text", "fedbook.exercises", "fedbook.own_rule_exercises", "fedbook.benchmarks",
               "fedbook.notebooks", "fedbook.repository"]

@pytest.mark.parametrize("name", API_MODULES)
def test_docstring_examples_run_in_a_fresh_namespace(name):
    failures = fresh_namespace_failures(importlib.import_module(name))
    assert not failures, "example(s) that fail when pasted into a fresh session:\n" + "\n".join(failures)


def test_the_api_page_documents_these_modules():
    from fedbook.repository import find_root

    page = (find_root() / "book" / "api.md").read_text(encoding="utf-8")
    assert sorted(re.findall(r"automodule:: (fedbook[\w.]*)", page)) == sorted(API_MODULES)
