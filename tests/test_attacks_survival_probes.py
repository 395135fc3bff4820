"""The tailored attack's survival probes of AFA decide every probe as the rule itself.

The reference is what the attack did before the cheaper probes: stack the copies before the benign rows and ask
whether every copy is in ``aggregate(rule, rows).selected``. The probes must give the same answer at every γ of
the halving search (the search then visits the same γ and returns the same one).
"""

from __future__ import annotations

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
