"""Checkers of the exercises of the chapter "Test your own rule" (notebooks/your_own_rule.py).

Same contract as :mod:`fedbook.exercises`: each checker runs the student's answer against fedlib and prints a
``✓`` line when it is right, or a ``✗ Not passed yet:`` line that says what is wrong and ends with a hint;
with ``strict=True`` a wrong answer raises :class:`fedbook.exercises.ExerciseFailed` instead. Where the answer
is a value (a deviation, a form, a rule's name), a wrong answer is never told the value: the page runs each
check on its starting answer, and that output must not give the exercise away. The data are small synthetic
clouds (:func:`cloud`), so every check takes well under a second.

Example:
    >>> from fedbook.own_rule_exercises import check_rule_contract
    >>> import torch
    >>> from fedlib.aggregators import Aggregate
    >>> def mean_rule(updates, f, *, variant="textbook"):
    ...     return Aggregate(updates.mean(dim=0))
    >>> check_rule_contract(mean_rule)
    ✓ mean_rule is a valid rule (shape, dtype and registry checks passed)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import torch

from fedlib import aggregators, attacks
from fedlib.errors import ConfigError

from .exercises import ExerciseFailed, checker, require
from .text import number_text


def cloud(seed: int = 0, k: int = 16, d: int = 30, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``k`` benign updates of dimension ``d``: Gaussian around a common mean (the exercises' data)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(k, d, generator=gen, dtype=dtype) * 0.5 + 1.0


def _deviation(rule: str, crafted: torch.Tensor, benign: torch.Tensor, f: int) -> float:
    out = aggregators.aggregate(rule, torch.cat([crafted, benign]), f).vector
    return float(torch.linalg.vector_norm(out - benign.mean(dim=0)))


def _quantile_clip_reference(updates: torch.Tensor, f: int) -> torch.Tensor:
    norms = torch.linalg.vector_norm(updates, dim=1, keepdim=True)
    radius = norms.flatten().sort().values[updates.shape[0] - f - 1]
    return (updates * (radius / norms).clamp(max=1.0)).mean(dim=0)


def _contract(rule: Callable) -> None:
    name = f"exercise_{getattr(rule, '__name__', 'rule')}"
    try:
        with aggregators.registered(name, rule):
            for dtype in (torch.float32, torch.float64):
                x = cloud(1, dtype=dtype)
                try:
                    out = aggregators.aggregate(name, x, 2)
                except ConfigError:
                    raise
                except Exception as exc:  # the student's rule may raise anything: report it as the failure
                    raise ExerciseFailed(f"your rule raised {type(exc).__name__}: {exc}.") from exc
                require(tuple(out.vector.shape) == (x.shape[1],),
                         f"the vector must have shape (d,) = ({x.shape[1]},); found {tuple(out.vector.shape)}.")
                require(out.vector.dtype == dtype, f"keep the input's dtype ({dtype}); found {out.vector.dtype}.")
    except ConfigError as exc:  # the registry probes a rule and checks every output's shape, dtype and device
        raise ExerciseFailed(str(exc)) from None


CONTRACT_HINT = ("a rule is rule(updates, f, **options) returning the aggregate, a tensor of shape (d,) (or "
                 "Aggregate(vector) to also say which rows it selected).")


@checker(CONTRACT_HINT)
def check_rule_contract(rule: Callable) -> None:
    """The rule takes ``(updates, f, **options)``, returns the aggregate (a tensor, or an Aggregate whose vector)
    of shape (d,) and the input's dtype, and works through the registry (registered for the check only)."""
    _contract(rule)
    print(f"✓ {rule.__name__} is a valid rule (shape, dtype and registry checks passed)")


@checker("the radius is the norm of rank n − f in ascending order (1-based), so that at most f rows are scaled "
         "down; sorting the n norms finds it.")
def check_quantile_clip(rule: Callable) -> None:
    """Exercise 1: every row scaled down to the (n − f)-th smallest row norm (so at most f rows are clipped),
    then averaged."""
    _contract(rule)
    for seed, f in ((0, 1), (1, 3), (2, 5)):
        x = cloud(seed)
        x[:f] *= 10.0  # f long rows: exactly these must be clipped
        expected = _quantile_clip_reference(x, f)
        with aggregators.registered(f"exercise_{getattr(rule, '__name__', 'rule')}", rule) as name:
            found = aggregators.aggregate(name, x, f).vector
        require(bool(torch.allclose(found, expected, rtol=1e-10, atol=1e-12)),
                 f"with f = {f} your aggregate differs from the expected one by "
                 f"{number_text(float((found - expected).norm()))}.")
    print("✓ the quantile-clipped mean matches on three inputs")


@checker("stack the copies first and the benign rows after, aggregate with f = n_malicious, subtract the "
         "benign mean and take the norm (torch.linalg.vector_norm).")
def check_min_max_deviation(value: float, rule: str, seed: int = 0, n_malicious: int = 4) -> None:
    """Exercise 2: the deviation ‖AGR(Min-Max copies ∪ benign) − μ‖ on ``cloud(seed)`` with f = n_malicious."""
    benign = cloud(seed)
    crafted = attacks.craft("min_max", benign, n_malicious).updates
    expected = _deviation(rule, crafted, benign, n_malicious)
    if abs(float(value) - expected) <= 1e-9 * max(1.0, expected):
        print(f"✓ Min-Max moves {rule}'s aggregate by {number_text(expected)}")
        return
    length = float(torch.linalg.vector_norm(aggregators.aggregate(rule, torch.cat([crafted, benign]),
                                                                  n_malicious).vector))
    hint = (" Hint: that is the length of the aggregate itself; the deviation is its distance from the benign mean."
            if math.isclose(float(value), length, rel_tol=1e-9) else "")
    raise ExerciseFailed(f"yours, {number_text(float(value))}, is not the deviation fedlib computes (to a relative "
                         f"10⁻⁹).{hint}")


@checker("register the rule with fedlib.aggregators.register(name)(rule), then read both answers from the info of "
         'fedlib.attacks.craft("tailored", cloud(0), 4, aggregator=name).')
def check_tailored_form(rule: str, form: Any, probes: Any = None, seeds: Sequence[int] = (0, 1, 2),
                        n_malicious: int = 4) -> None:
    """Exercise 3: ``rule`` is a registered name, ``form`` is the form of the AGR-tailored attack fedlib runs
    against it (``craft("tailored", ...).info["form"]``), ``probes`` (unless None) how many γ its search tried on
    ``cloud(seeds[0])`` (``info["n_probes"]``), and on each seed's cloud the tailored attack moves the rule at least
    as far as Min-Max (the generic search includes Min-Max's γ among its candidates)."""
    require(rule in aggregators.names(), f"no rule named {rule} is registered yet.")
    moved = []
    for seed in seeds:
        benign = cloud(seed)
        tailored = attacks.craft("tailored", benign, n_malicious, aggregator=rule)
        actual = tailored.info["form"]
        require(form == actual, f"your form, {form!r}, is not the one fedlib runs against {rule}.")
        if probes is not None and seed == seeds[0]:
            require(probes == tailored.info.get("n_probes"), f"your probes, {probes!r}, is not how many γ the "
                    f"search tried against {rule} on cloud {seed}.")
        min_max = attacks.craft("min_max", benign, n_malicious)
        moved.append((_deviation(rule, tailored.updates, benign, n_malicious),
                      _deviation(rule, min_max.updates, benign, n_malicious)))
        if moved[-1][0] < moved[-1][1] * (1 - 1e-12):
            raise ExerciseFailed(f"on cloud {seed} the tailored attack moved {rule} less than Min-Max did. Hint: "
                                 "this cannot happen for a rule without a dedicated attack; report it as a bug.")
    pairs = "; ".join(f"{number_text(t)} against {number_text(m)}" for t, m in moved)
    print(f"✓ the {form} tailored attack moves {rule} at least as far as Min-Max on {len(seeds)} clouds "
          f"(deviation, tailored against Min-Max: {pairs})")


@checker("for each rule take its largest relative deviation over the attacks (leave out the rows without "
         "attack), then the rule whose largest value is the smallest.")
def check_least_hurt(answer: Any, cards: pd.DataFrame, rules: Sequence[str], value: str = "relative_deviation") -> None:
    """Exercise 4: the rule among ``rules`` whose largest ``value`` over the attacks (rows without attack left
    out) is the smallest in ``cards`` (report cards stacked, one row per rule × attack)."""
    attacked = cards[(cards.attack != "none") & cards.rule.isin(list(rules))]
    worst = attacked.groupby("rule")[value].max()
    expected = str(worst.idxmin())
    require(answer is not None, f"no rule named yet; store one of {', '.join(rules)}.")
    require(answer in list(rules), f"your answer, {answer}, is not one of the rules {', '.join(rules)}.")
    words = value.replace("_", " ")
    require(answer == expected,
             f"{answer} is not it: its largest {words} over the attacks is {number_text(worst[answer])}, and another "
             "rule's largest is smaller.")
    print(f"✓ {expected}: its worst {words} is {number_text(worst[expected])}, the smallest of the {len(worst)}")
