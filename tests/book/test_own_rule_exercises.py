"""The checkers of the "Test your own rule" exercises accept the right answers and reject wrong ones with a hint, and
the chapter's own exercise cells, run in order, show a failing check under each starting answer and a passing one
inside each hidden solution."""

from __future__ import annotations

import contextlib
import doctest
import io
from pathlib import Path

import pandas as pd
import pytest
import torch
from fedbook import own_rule_exercises as ex
from fedbook.exercises import ExerciseFailed
from fedbook.text import number_text
from helpers import exercise_cells as cells_of

from fedlib import aggregators
from fedlib.aggregators import Aggregate

SOURCE = Path(__file__).resolve().parents[2] / "notebooks" / "your_own_rule.py"


def quantile_clipped_mean(updates, f, *, variant="textbook"):
    norms = torch.linalg.vector_norm(updates, dim=1, keepdim=True)
    radius = norms.flatten().sort().values[updates.shape[0] - f - 1]
    return Aggregate((updates * (radius / norms).clamp(max=1.0)).mean(dim=0))


def median_clipped_mean(updates, f, *, variant="textbook"):
    norms = torch.linalg.vector_norm(updates, dim=1, keepdim=True)
    return Aggregate((updates * (norms.median() / norms).clamp(max=1.0)).mean(dim=0))


def printed(check, *args, **kwargs) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        check(*args, **kwargs)
    return out.getvalue()


def rejects(check, *args, match: str) -> None:
    with pytest.raises(ExerciseFailed, match=match) as failure:
        check(*args, strict=True)
    assert "Hint:" in str(failure.value)


def test_docstring_examples_run():
    assert doctest.testmod(ex, optionflags=doctest.ELLIPSIS).failed == 0


def test_exercise_1_accepts_the_quantile_clip_and_rejects_the_median_clip():
    assert printed(ex.check_quantile_clip, quantile_clipped_mean, strict=True).startswith("✓")
    rejects(ex.check_quantile_clip, median_clipped_mean, match="differs")
    rejects(ex.check_rule_contract, lambda u, f, *, variant="textbook": Aggregate(u.mean(dim=0).float()), match="dtype")
    rejects(ex.check_rule_contract, lambda u, f, *, variant="textbook": u.mean(dim=0)[:-1], match="shape")
    # The natural form, a plain tensor back, is a rule like any other.
    assert printed(ex.check_rule_contract, lambda u, f, **kw: u.mean(dim=0), strict=True).startswith("✓")


def test_exercise_2_and_3_recompute_with_fedlib():
    from fedlib.attacks import craft

    with aggregators.registered("ex_clip", median_clipped_mean):
        benign = ex.cloud(0)
        rows = torch.cat([craft("min_max", benign, 4).updates, benign])
        dev = float(torch.linalg.vector_norm(aggregators.aggregate("ex_clip", rows, 4).vector - benign.mean(dim=0)))
        assert printed(ex.check_min_max_deviation, dev, "ex_clip", strict=True).startswith("✓")
        rejects(ex.check_min_max_deviation, dev * 1.01, "ex_clip", match="yours")
        # A wrong value is never told the right one (the page shows the check of the starting answer).
        assert number_text(dev) not in printed(ex.check_min_max_deviation, dev * 1.01, "ex_clip")
        length = float(torch.linalg.vector_norm(aggregators.aggregate("ex_clip", rows, 4).vector))
        rejects(ex.check_min_max_deviation, length, "ex_clip", match="length of the aggregate itself")
        assert printed(ex.check_tailored_form, "ex_clip", "generic", strict=True).startswith("✓ the generic")
        rejects(ex.check_tailored_form, "ex_clip", "dedicated", match="'dedicated', is not the one")
        assert "generic" not in printed(ex.check_tailored_form, "ex_clip", "dedicated").split("Hint:")[0]
        probes = craft("tailored", ex.cloud(0), 4, aggregator="ex_clip").info["n_probes"]
        assert printed(ex.check_tailored_form, "ex_clip", "generic", probes, strict=True).startswith("✓")
        rejects(ex.check_tailored_form, "ex_clip", "generic", probes + 1, match="not how many γ")
        assert str(probes) not in printed(ex.check_tailored_form, "ex_clip", "generic", probes + 1).split("Hint:")[0]
    rejects(ex.check_tailored_form, "ex_clip", "generic", match="no rule named ex_clip")


def test_exercise_4_takes_the_smallest_worst_case():
    cards = pd.DataFrame({"rule": ["a", "a", "b", "b"], "attack": ["none", "lie", "none", "lie"],
                          "relative_deviation": [9.0, 0.5, 0.0, 0.7]})  # fmt: skip
    assert printed(ex.check_least_hurt, "a", cards, ["a", "b"], strict=True).startswith("✓ a")
    rejects(ex.check_least_hurt, "b", cards, ["a", "b"], match="not it")
    assert "0.5" not in printed(ex.check_least_hurt, "b", cards, ["a", "b"])  # rule a's worst case: the answer
    rejects(ex.check_least_hurt, None, cards, ["a", "b"], match="no rule named yet")


def synthetic_cards(rules) -> list[pd.DataFrame]:
    """Deviation cards of the chapter's shape (one frame per rule), with made-up values: the exercise reads them."""
    attacks = ["none", "fang", "lie", "tailored", "min_max", "min_sum"]
    return [pd.DataFrame({"rule": rule, "attack": attacks,
                          "relative_deviation": [0.01 * (i + 1) * (j + 1) for j in range(len(attacks))]})
            for i, rule in enumerate(rules)]


def test_the_chapter_exercise_cells_fail_as_committed_and_pass_with_the_solutions():
    """The chapter's own cells, in order: its ten-line rule (for the deviation exercise), then each exercise's
    starting answer, the check shown under it (which must say "not passed yet" with a hint), the hidden solution
    and its check (which must pass). The comparison exercise reads synthetic deviation cards."""
    code = [c.source for c in cells_of.cells(SOURCE) if c.cell_type == "code"]
    rule_cell = next(c for c in code if "def clipped_mean" in c)
    import_cell = next(c for c in code if "own_rule_exercises as ex" in c)
    paper = ("krum", "multi_krum", "bulyan", "trimmed_mean", "median")
    namespace: dict = {"__name__": "__notebook__", "pd": pd, "PAPER": paper, "deviation_cards": synthetic_cards(paper)}
    before = set(aggregators.names())
    try:
        for cell in (rule_cell, import_cell):
            exec(cell, namespace)
        found = cells_of.exercises(SOURCE)
        assert len(found) == 4
        for label, exercise in found.items():
            for cell in exercise.answer:
                exec(cell, namespace)
            shown = printed(exec, exercise.check, namespace)
            for cell in exercise.solution:
                exec(cell, namespace)
            passed = printed(exec, exercise.solution_check, namespace)
            assert shown.startswith("✗ Not passed yet:") and "Hint:" in shown and "✓" not in shown, (label, shown)
            assert passed.startswith("✓"), (label, passed)
    finally:
        for name in set(aggregators.names()) - before:
            aggregators._base._unregister(name)
