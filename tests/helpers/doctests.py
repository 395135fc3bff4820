"""Docstring examples as a reader meets them: pasted into a fresh Python session, without the module's globals."""

from __future__ import annotations

import doctest
import re


def fresh_namespace_failures(module) -> list[str]:
    """Run each docstring example of ``module`` with empty globals (what a reader pasting it into a fresh Python
    session has) and return one line per failing docstring: its name and the error it ended with."""
    failures = []
    for test in doctest.DocTestFinder(exclude_empty=True).find(module):
        test.globs = {"__name__": "__doc__"}
        out: list[str] = []
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
        if runner.run(test, out=out.append).failed:
            errors = re.findall(r"^\s*([\w.]*(?:Error|Exception): .*)$", "".join(out), flags=re.MULTILINE)
            failures.append(f"{test.name}: {errors[0] if errors else 'output differs'}")
    return failures
