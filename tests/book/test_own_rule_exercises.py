"""The checkers of the "Test your own rule" exercises accept the right answers and reject wrong ones."""

from __future__ import annotations

import doctest

import pandas as pd
import pytest
import torch
from fedbook import own_rule_exercises as ex

from fedlib import aggregators
from fedlib.aggregators import Aggregate


def quantile_clipped_mean(updates, f, *, variant="textbook"):
    norms = torch.linalg.vector_norm(updates, dim=1, keepdim=True)
    radius = norms.flatten().sort().values[updates.shape[0] - f - 1]
    return Aggregate((updates * (radius / norms).clamp(max=1.0)).mean(dim=0))


def median_clipped_mean(updates, f, *, variant="textbook"):
    norms = torch.linalg.vector_norm(updates, dim=1, keepdim=True)
    return Aggregate((updates * (norms.median() / norms).clamp(max=1.0)).mean(dim=0))


def test_docstring_examples_run():
    assert doctest.testmod(ex, optionflags=doctest.ELLIPSIS).failed == 0


def test_exercise_1_accepts_the_quantile_clip_and_rejects_the_median_clip():
    assert ex.check_quantile_clip(quantile_clipped_mean).startswith("ok")
    with pytest.raises(AssertionError, match="differs"):
        ex.check_quantile_clip(median_clipped_mean)
    with pytest.raises(AssertionError, match="dtype"):
        ex.check_rule_contract(lambda u, f, *, variant="textbook": Aggregate(u.mean(dim=0).double().float()))


def test_exercise_2_and_3_recompute_with_fedlib():
    with aggregators.registered("ex_clip", median_clipped_mean):
        benign = ex.cloud(0)
        from fedlib.attacks import craft

        rows = torch.cat([craft("min_max", benign, 4).updates, benign])
        dev = float(torch.linalg.vector_norm(aggregators.aggregate("ex_clip", rows, 4).vector - benign.mean(dim=0)))
        assert ex.check_min_max_deviation(dev, "ex_clip").startswith("ok")
        with pytest.raises(AssertionError, match="expected"):
            ex.check_min_max_deviation(dev * 1.01, "ex_clip")
        table = ex.check_tailored_beats_min_max("ex_clip")
        assert (table.form == "generic").all() and (table.tailored >= table.min_max).all()


def test_exercise_4_takes_the_smallest_worst_case():
    cards = pd.DataFrame({"rule": ["a", "a", "b", "b"], "attack": ["none", "lie", "none", "lie"],
                          "relative_deviation": [9.0, 0.5, 0.0, 0.7]})  # fmt: skip
    assert ex.check_least_hurt("a", cards, ["a", "b"]).startswith("ok")
    with pytest.raises(AssertionError, match="not it"):
        ex.check_least_hurt("b", cards, ["a", "b"])
