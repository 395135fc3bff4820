"""The tailored attack's survival probes of AFA decide every probe as the rule itself.

The reference is what the attack did before the cheaper probes: stack the copies before the benign rows and ask
whether every copy is in ``aggregate(rule, rows).selected``. The probes must give the same answer at every γ of
the halving search (the search then visits the same γ and returns the same one).
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import fedlib.attacks as atk
import fedlib.attacks._tailored_survival as survival_module
from fedlib.aggregators import AFAReputation, aggregate
from fedlib.aggregators._afa import afa_keeps
from fedlib.attacks._perturbation import perturbation
from fedlib.attacks._utils.common import malicious_vector, with_copies
from fedlib.attacks._utils.search import halving
from fedlib.errors import ConfigError

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    phases=[Phase.explicit, Phase.reuse, Phase.generate])


def _benign(seed: int, k: int, d: int, shape: str, dtype: torch.dtype) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(k, d, generator=g, dtype=torch.float64)
    if shape == "offset":  # a shared gradient plus noise, as FedSGD's rows
        x = 0.3 * x + torch.randn(1, d, generator=g, dtype=torch.float64)
    elif shape == "outliers":
        x[: max(1, k // 5)] *= 6.0
    elif shape == "duplicates":
        x[1::3] = x[0]
    return x.to(dtype)


benign_inputs = st.builds(
    _benign,
    seed=st.integers(0, 10_000),
    k=st.integers(6, 30),
    d=st.integers(2, 40),
    shape=st.sampled_from(["plain", "offset", "outliers", "duplicates"]),
    dtype=st.sampled_from([torch.float32, torch.float64]),
)


@SETTINGS
@given(rows=benign_inputs, first=st.integers(1, 8), xi=st.sampled_from([0.5, 1.0, 2.0]),
       weighted=st.sampled_from(["none", "positive", "zeros", "reputation"]), seed=st.integers(0, 99))
def test_afa_keeps_is_whether_afa_selects_the_first_rows(rows, first, xi, weighted, seed):
    n = rows.shape[0]
    first = min(first, n)
    g = torch.Generator().manual_seed(seed)
    options: dict[str, object] = {"xi": xi}
    if weighted in ("positive", "zeros"):
        weights = torch.rand(n, generator=g, dtype=torch.float64) + 0.1
        if weighted == "zeros":
            weights[torch.randperm(n, generator=g)[: n // 2]] = 0.0
        options["client_weights"] = weights
    elif weighted == "reputation":
        state = AFAReputation.initial(n)
        state = AFAReputation(state.alpha + torch.randint(0, 4, (n,), generator=g), state.beta, state.blocked)
        options["reputation"] = state
    try:
        selected = aggregate("afa", rows, 1, **options).selected
        expected: bool | str = bool(torch.isin(torch.arange(first), selected).all())
    except ConfigError as exc:
        expected = str(exc)
    try:
        found: bool | str = afa_keeps(rows, 1, first, **options)
    except ConfigError as exc:
        found = str(exc)
    assert found == expected


def test_afa_keeps_raises_as_afa():
    x = torch.randn(8, 3, generator=torch.Generator().manual_seed(0))
    bad = x.clone()
    bad[2, 1] = float("nan")
    for call in (lambda r, **o: aggregate("afa", r, 1, **o), lambda r, **o: afa_keeps(r, 1, 2, **o)):
        with pytest.raises(Exception, match="NaN|non-finite|finite"):
            call(bad)
        with pytest.raises(ConfigError, match="xi"):
            call(x, xi=-1.0)
        with pytest.raises(ConfigError, match="unknown|option"):
            call(x, colour="red")


class AfaReference:
    """The survival test before the cheaper probes: AFA on freshly stacked rows."""

    def __init__(self, benign, n_copies, f):
        self.benign, self.n_copies, self.f = benign, n_copies, f
        self.mean, self.direction = benign.mean(dim=0), perturbation("std", benign)

    def __call__(self, gamma: float) -> bool:
        rows = with_copies(malicious_vector(self.mean, gamma, self.direction), self.n_copies, self.benign)
        kept = aggregate("afa", rows, self.f).selected
        return int((kept < self.n_copies).sum()) == self.n_copies


@SETTINGS
@given(benign=benign_inputs, m=st.integers(1, 6))
def test_tailored_afa_probes_decide_as_the_rule(benign, m):
    reference = AfaReference(benign, m, m)
    expected_log: list[tuple[float, bool]] = []

    def logged(gamma: float) -> bool:
        out = reference(gamma)
        expected_log.append((gamma, out))
        return out

    expected = halving(logged, 10.0, 1e-5)
    found_log: list[tuple[float, bool]] = []

    def recording_halving(test, g0, tau):
        def record(gamma):
            out = test(gamma)
            found_log.append((gamma, out))
            return out

        return halving(record, g0, tau)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(survival_module, "halving", recording_halving)
        crafted = atk.craft("tailored", benign, m, aggregator="afa")
    assert found_log == expected_log
    assert crafted.gamma == expected.gamma


# --------------------------------------------------------------------------------------------- Fang's defense
def _scorer(seed: int, ties: bool):
    """A pure validation scorer: a quadratic loss around a target and an error rate in steps of 1/8 (many ties
    when ``ties``)."""
    target = torch.randn(64, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)

    def score(vector):
        v = vector.double()[:64]
        loss = float(((v - target[: v.shape[0]]) ** 2).mean())
        steps = 8 if ties else 10_000
        return loss, math.floor(loss * steps) / steps

    return score


@SETTINGS
@given(rows=benign_inputs, m=st.integers(1, 6), f=st.integers(0, 6), gamma=st.sampled_from([0.0, 0.3, 1.0, 4.0]),
       rule=st.sampled_from(["union", "lrr", "err"]), base=st.sampled_from(["trimmed_mean", "median", "mean"]),
       ties=st.booleans(), guessed=st.booleans())
def test_fang_keeps_is_whether_the_defense_keeps_the_copies(rows, m, f, gamma, rule, base, ties, guessed):
    from fedlib.aggregators import fang_survivors
    from fedlib.aggregators._fang_defense import fang_keeps

    mean, direction = rows.mean(dim=0), perturbation("std", rows)
    stacked = with_copies(malicious_vector(mean, gamma, direction), m, rows)
    options = {"score_fn": _scorer(rows.shape[0], ties), "base": base, "rule": rule}
    guess = None
    if guessed:  # a previous probe's LRR, with some rows unknown
        guess = torch.randn(stacked.shape[0], generator=torch.Generator().manual_seed(m), dtype=torch.float64)
        guess[::3] = float("nan")
    try:
        survivors = fang_survivors(stacked, f, **options)
        expected: bool | str = bool(torch.isin(torch.arange(m), survivors).all())
    except (ConfigError, ValueError) as exc:
        expected = type(exc).__name__
    try:
        found: bool | str = fang_keeps(stacked, f, m, guess=guess, **options)[0]
    except (ConfigError, ValueError) as exc:
        found = type(exc).__name__
    assert found == expected


def test_fang_keeps_scores_fewer_rows_and_gives_their_scores():
    from fedlib.aggregators._fang_defense import fang_defense, fang_keeps

    rows = _benign(3, 40, 30, "offset", torch.float64)
    mean, direction = rows.mean(dim=0), perturbation("std", rows)
    stacked = with_copies(malicious_vector(mean, 0.5, direction), 8, rows)
    options = {"score_fn": _scorer(0, False)}
    full = fang_defense(stacked, 8, **options).info
    kept, scored = fang_keeps(stacked, 8, 8, guess=full["lrr"], **options)
    assert len(scored) < 1 + 40  # the copies once, then only some benign rows
    for row, (lrr, err) in scored.items():
        assert (lrr, err) == (float(full["lrr"][row]), float(full["err"][row]))  # the defense's own floats


class FangReference:
    """The survival test before the cheaper probes: Fang's defense's survivors on freshly stacked rows."""

    def __init__(self, benign, n_copies, f, score_fn):
        self.benign, self.n_copies, self.f, self.score_fn = benign, n_copies, f, score_fn
        self.mean, self.direction = benign.mean(dim=0), perturbation("std", benign)

    def __call__(self, gamma: float) -> bool:
        from fedlib.aggregators import fang_survivors

        rows = with_copies(malicious_vector(self.mean, gamma, self.direction), self.n_copies, self.benign)
        kept = fang_survivors(rows, self.f, score_fn=self.score_fn)
        return int((kept < self.n_copies).sum()) == self.n_copies


@SETTINGS
@given(benign=benign_inputs, m=st.integers(1, 4), ties=st.booleans())
def test_tailored_fang_defense_probes_decide_as_the_rule(benign, m, ties):
    if benign.shape[0] <= 4 * m + 2:
        benign = torch.cat([benign, benign * 1.1, benign * 0.9])
    score_fn = _scorer(benign.shape[1], ties)
    reference = FangReference(benign, m, m, score_fn)
    expected_log: list[tuple[float, bool]] = []

    def logged(gamma: float) -> bool:
        out = reference(gamma)
        expected_log.append((gamma, out))
        return out

    expected = halving(logged, 10.0, 1e-5)
    found_log: list[tuple[float, bool]] = []

    def recording_halving(test, g0, tau):
        def record(gamma):
            out = test(gamma)
            found_log.append((gamma, out))
            return out

        return halving(record, g0, tau)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(survival_module, "halving", recording_halving)
        crafted = atk.craft("tailored", benign, m, aggregator="fang_defense",
                            aggregator_options={"score_fn": score_fn})
    assert found_log == expected_log
    assert crafted.gamma == expected.gamma


def _column_values(seed: int, k: int, d: int, shape: str, dtype: torch.dtype) -> torch.Tensor:
    if shape == "integers":  # ties everywhere, between the benign values and with the copies
        return torch.randint(-3, 4, (k, d), generator=torch.Generator().manual_seed(seed)).to(dtype)
    if shape == "wide_range":  # a column's values far apart in magnitude: not every float64 partial sum is exact
        x = _benign(seed, k, d, "plain", torch.float64)
        return (x * torch.logspace(-15, 15, k, dtype=torch.float64).unsqueeze(1)).to(dtype)
    return _benign(seed, k, d, shape, dtype)


@SETTINGS
@given(seed=st.integers(0, 10_000), k=st.integers(3, 30), d=st.integers(1, 50), m=st.integers(1, 8),
       f=st.integers(1, 8), gamma=st.sampled_from([0.0, 0.5, 1.0, 3.0, 1e6]),
       shape=st.sampled_from(["plain", "offset", "integers", "wide_range", "duplicates"]),
       dtype=st.sampled_from([torch.float32, torch.float64]))
def test_the_copies_leave_one_out_is_the_rules_bit_for_bit(seed, k, d, m, f, gamma, shape, dtype):
    from fedlib.aggregators._utils.leave_one_out import leave_one_out
    from fedlib.attacks._utils.fang_probe import CopiesTrimmedLeaveOneOut, applies

    benign = _column_values(seed, k, d, shape, dtype)
    x = malicious_vector(benign.mean(dim=0), gamma, benign.std(dim=0) if k > 1 else benign[0])
    rows = with_copies(x, m, benign)
    if not applies(rows, f, "trimmed_mean", {}):
        return
    ours = CopiesTrimmedLeaveOneOut(benign, m, f).of(x, rows)
    rule = leave_one_out(rows, f, "trimmed_mean", "textbook", {})
    assert torch.equal(ours.whole, rule.whole)
    for i in range(rows.shape[0]):
        assert torch.equal(ours(i), rule(i)), i


def test_the_copies_leave_one_out_sums_in_the_rules_order_where_prefix_sums_round():
    from fedlib.aggregators._utils.leave_one_out import leave_one_out
    from fedlib.attacks._utils.fang_probe import CopiesTrimmedLeaveOneOut

    # a column whose sorted prefix sums lose the small values: only the sequential window sum keeps them
    column = torch.tensor([-(2.0**60), 1.0, 3.0, 5.0, 7.0, 2.0**60, 2.0**61], dtype=torch.float32)
    benign = torch.stack([column, column.flip(0)], dim=1)
    x = torch.tensor([2.0, 4.0])
    rows = with_copies(x, 2, benign)
    ours = CopiesTrimmedLeaveOneOut(benign, 2, 2).of(x, rows)
    rule = leave_one_out(rows, 2, "trimmed_mean", "textbook", {})
    assert torch.equal(ours.whole, rule.whole)
    assert all(torch.equal(ours(i), rule(i)) for i in range(rows.shape[0]))
