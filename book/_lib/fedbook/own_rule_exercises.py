"""Checkers of the exercises of the chapter "Test your own rule" (notebooks/your_own_rule.py).

Each checker runs the student's answer against fedlib and raises AssertionError with a hint when it is wrong;
it returns a one-line confirmation when it is right. The data are small synthetic clouds (:func:`cloud`),
so every check takes well under a second.

Example:
    >>> import torch
    >>> from fedlib.aggregators import Aggregate
    >>> def mean_rule(updates, f, *, variant="textbook"):
    ...     return Aggregate(updates.mean(dim=0))
    >>> check_rule_contract(mean_rule)
    'ok: mean_rule is a valid rule (shape, dtype and registry checks passed)'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd
import torch

from fedlib import aggregators, attacks
from fedlib.errors import ConfigError


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


def check_rule_contract(rule: Callable) -> str:
    """The rule takes ``(updates, f, *, variant)``, returns an Aggregate whose vector has shape (d,) and the
    input's dtype, and works through the registry (registered for the check only)."""
    name = f"exercise_{getattr(rule, '__name__', 'rule')}"
    try:
        with aggregators.registered(name, rule):
            for dtype in (torch.float32, torch.float64):
                x = cloud(1, dtype=dtype)
                out = aggregators.aggregate(name, x, 2)
                assert isinstance(out, aggregators.Aggregate), "return fedlib.aggregators.Aggregate(vector)"
                assert out.vector.shape == (x.shape[1],), f"the vector must have shape (d,) = ({x.shape[1]},)"
                assert out.vector.dtype == dtype, f"keep the input's dtype ({dtype}); found {out.vector.dtype}"
    except ConfigError as exc:  # the registry probes a rule and checks every output's shape, dtype and device
        raise AssertionError(str(exc)) from None
    return f"ok: {rule.__name__} is a valid rule (shape, dtype and registry checks passed)"


def check_quantile_clip(rule: Callable) -> str:
    """Exercise 1: every row scaled down to the (n − f)-th smallest row norm (so at most f rows are clipped),
    then averaged."""
    check_rule_contract(rule)
    for seed, f in ((0, 1), (1, 3), (2, 5)):
        x = cloud(seed)
        x[:f] *= 10.0  # f long rows: exactly these must be clipped
        expected = _quantile_clip_reference(x, f)
        found = rule(x, f, variant="textbook").vector
        assert torch.allclose(found, expected, rtol=1e-10, atol=1e-12), (
            f"f={f}: your aggregate differs from the expected one by {float((found - expected).norm()):.3g}; "
            "the radius is the norm of rank n − f (1-based) in ascending order"
        )
    return "ok: the quantile-clipped mean matches on three inputs"


def check_min_max_deviation(value: float, rule: str, seed: int = 0, n_malicious: int = 4) -> str:
    """Exercise 2: the deviation ‖AGR(Min-Max copies ∪ benign) − μ‖ on ``cloud(seed)`` with f = n_malicious."""
    benign = cloud(seed)
    crafted = attacks.craft("min_max", benign, n_malicious).updates
    expected = _deviation(rule, crafted, benign, n_malicious)
    assert abs(float(value) - expected) <= 1e-9 * max(1.0, expected), (
        f"expected {expected:.6g}, found {float(value):.6g}: stack the copies first, then the benign rows, "
        "aggregate with f = n_malicious, and subtract the benign mean"
    )
    return f"ok: Min-Max moves {rule}'s aggregate by {expected:.4g}"


def check_tailored_beats_min_max(rule: str, seeds: Sequence[int] = (0, 1, 2), n_malicious: int = 4) -> pd.DataFrame:
    """Exercise 3: on each seed's cloud, the tailored attack's deviation against ``rule`` is at least Min-Max's
    (the generic search includes Min-Max's γ among its candidates). Returns the table it checked."""
    rows = []
    for seed in seeds:
        benign = cloud(seed)
        tailored = attacks.craft("tailored", benign, n_malicious, aggregator=rule)
        min_max = attacks.craft("min_max", benign, n_malicious)
        rows.append(
            {
                "seed": seed,
                "tailored": _deviation(rule, tailored.updates, benign, n_malicious),
                "min_max": _deviation(rule, min_max.updates, benign, n_malicious),
                "form": tailored.info["form"],
            }
        )
    table = pd.DataFrame(rows)
    assert (table.tailored >= table.min_max * (1 - 1e-12)).all(), "the tailored attack found less than Min-Max"
    return table


def check_least_hurt(answer: str, cards: pd.DataFrame, rules: Sequence[str], value: str = "relative_deviation") -> str:
    """Exercise 4: the rule among ``rules`` whose largest ``value`` over the attacks (no attack excluded) is the
    smallest in ``cards`` (report cards stacked, one row per rule × attack)."""
    attacked = cards[(cards.attack != "none") & cards.rule.isin(list(rules))]
    worst = attacked.groupby("rule")[value].max()
    expected = str(worst.idxmin())
    assert answer == expected, (
        f"{answer!r} is not it: the largest {value} per rule is {worst.round(3).to_dict()}; take the smallest"
    )
    return f"ok: {expected} (its worst {value} is {worst[expected]:.3g})"
