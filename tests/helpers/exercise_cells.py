"""The exercises of a book notebook, read from its Jupytext source (the layout fedbook.exercises documents).

Each exercise is: the ``exercise`` directive (markdown), the answer cell(s) holding the starting answer, the check
cell shown under them, then between ``solution-start`` and ``solution-end`` the solution cell(s) and the
solution's own check (with ``strict=True``). Shared by the tests of the Learn chapters and of *Test your own
rule*.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

EXERCISE = re.compile(r"```\{exercise\}[^\n]*\n:label: (\S+)")
SOLUTION_START = re.compile(r"```\{solution-start\} (\S+)\n:class: dropdown\n```")
SOLUTION_END = "```{solution-end}"
CHECK = re.compile(r"^(ex\.)?check_\w+\(", re.M)
#: The cell kinds of one exercise, in order (see :func:`exercises`).
LAYOUT = re.compile(r"exercise( code)+ check solution-start( code)+ check solution-end")


@dataclass
class Exercise:
    label: str
    kinds: list[str] = field(default_factory=lambda: ["exercise"])
    answer: list[str] = field(default_factory=list)  # the answer cells as committed (the starting answer)
    check: str = ""  # the check shown under the starting answer
    solution: list[str] = field(default_factory=list)
    solution_check: str = ""


def cells(source: Path) -> list:
    import jupytext

    return jupytext.read(source, fmt="py:percent").cells


def exercises(source: Path) -> dict[str, Exercise]:
    """Every exercise of ``source`` by label, with the kinds of its cells ("exercise", "code", "check",
    "solution-start", "solution-end") and their code."""
    found: dict[str, Exercise] = {}
    current: Exercise | None = None
    for cell in cells(source):
        text = cell.source
        if cell.cell_type == "markdown" and (match := EXERCISE.search(text)):
            assert match.group(1) not in found, f"{source.name}: label {match.group(1)} used twice"
            current = found.setdefault(match.group(1), Exercise(match.group(1)))
        elif current is None:
            continue
        elif cell.cell_type == "markdown" and (match := SOLUTION_START.search(text)):
            assert match.group(1) == current.label, f"{source.name}: solution-start {match.group(1)} in {current.label}"
            current.kinds.append("solution-start")
        elif cell.cell_type == "markdown" and SOLUTION_END in text:
            current.kinds.append("solution-end")
            current = None
        elif cell.cell_type == "code":
            in_solution = "solution-start" in current.kinds
            kind = "check" if CHECK.search(text) else "code"
            current.kinds.append(kind)
            if kind == "check":
                if in_solution:
                    current.solution_check = text
                else:
                    current.check = text
            else:
                (current.solution if in_solution else current.answer).append(text)
    return found
