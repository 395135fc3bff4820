"""The certified DnC probe (fedlib.attacks._utils.dnc_probe) decides every halving probe as the simulated rule.

The reference is what the adaptive tailored attack did before the probe existed: stack the copies before the
benign rows and run ``fedlib.aggregators.dnc`` with the adversary's seed. The probe must give the same answer
(or raise the same error) at every γ, including γ within 1e-7 of a decision boundary where only the SVD can
tell, and must decide the easy probes without the SVD (else it would be the rule again).
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

import fedlib.attacks as atk
import fedlib.attacks._tailored_survival as survival_module
from fedlib.aggregators import aggregate
from fedlib.aggregators._dnc import _scores_of_centred, centred_rows
from fedlib.attacks._perturbation import perturbation
from fedlib.attacks._utils import dnc_probe
from fedlib.attacks._utils.common import malicious_vector, with_copies
from fedlib.attacks._utils.search import halving
from fedlib.errors import ConfigError

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    phases=[Phase.explicit, Phase.reuse, Phase.generate])


def _benign(seed: int, k: int, d: int, shape: str, dtype: torch.dtype) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(k, d, generator=g, dtype=torch.float64)
    if shape == "offset":  # a shared gradient plus noise, as FedSGD's rows
        x = 0.2 * x + torch.randn(1, d, generator=g, dtype=torch.float64)
    elif shape == "two_directions":  # two planted directions of nearly equal strength: σ1 ≈ σ2
        basis = torch.randn(2, d, generator=g, dtype=torch.float64)
        x = 0.05 * x + torch.randn(k, 2, generator=g, dtype=torch.float64) @ basis
    elif shape == "duplicates":
        x[1::3] = x[0]
    elif shape == "integers":
        x = torch.round(4 * x)
    return x.to(dtype)


class Reference:
    """The pre-probe survival test: DnC on the stacked rows, the adversary's generator re-seeded per probe."""

    def __init__(self, benign, n_copies, f, seed, options):
        self.benign, self.n_copies, self.f, self.seed, self.options = benign, n_copies, f, seed, options
        self.mean, self.direction = benign.mean(dim=0), perturbation("std", benign)

    def __call__(self, gamma: float) -> bool:
        rows = with_copies(malicious_vector(self.mean, gamma, self.direction), self.n_copies, self.benign)
        kept = aggregate("dnc", rows, self.f, generator=torch.Generator().manual_seed(self.seed),
                         **self.options).selected
        return int((kept < self.n_copies).sum()) == self.n_copies

    def probe(self) -> dnc_probe.DncSurvivalProbe:
        return dnc_probe.DncSurvivalProbe(
            self.benign, self.mean, self.direction, n_copies=self.n_copies,
            n_remove=math.floor(self.options.get("filter_frac", 1.0) * self.f),
            n_iters=self.options.get("n_iters", 5), subsample_dim=self.options.get("subsample_dim", 10000),
            seed=self.seed, device=torch.device("cpu"), on_matrix=self,
        )  # fmt: skip


def _outcome(test, gamma: float) -> bool | str:
    """The decision, or the message of the error the rule raised (every row filtered out)."""
    try:
        return test(gamma)
    except ConfigError as exc:
        return str(exc)


def _gammas_around_boundaries(reference: Reference) -> list[float]:
    """A wide grid, and points within 1e-3 ... 1e-7 (relative) of the boundary that halving finds."""
    grid = [0.0] + [10.0**e for e in range(-3, 3)]
    boundary = halving(lambda g: _outcome(reference, g) is True, 10.0, 1e-9).gamma
    near = [boundary * (1 + s * r) for r in (1e-3, 1e-5, 1e-7) for s in (-1, 1)] if boundary > 0 else []
    return grid + near


@SETTINGS
@given(
    seed=st.integers(0, 2**16),
    shape=st.sampled_from(["plain", "offset", "two_directions", "duplicates", "integers"]),
    n_copies=st.integers(1, 6),
    k=st.integers(4, 14),
    d=st.sampled_from([5, 40, 300]),
    subsample_dim=st.sampled_from([3, 25, 10000]),
    n_iters=st.integers(1, 4),
    filter_frac=st.sampled_from([1.0, 0.5, 2.0]),
    dtype=st.sampled_from([torch.float32, torch.float64]),
)
@example(seed=226, shape="two_directions", n_copies=6, k=7, d=40, subsample_dim=3, n_iters=3, filter_frac=2.0,
         dtype=torch.float32)  # every row filtered out at some γ: the probe must hand the case to the rule
def test_probe_decides_every_gamma_as_the_rule(seed, shape, n_copies, k, d, subsample_dim, n_iters, filter_frac,
                                               dtype):
    f = n_copies
    if math.floor(filter_frac * f) >= n_copies + k:
        return  # the rule rejects the size (the attack checks it once, before any probe)
    options = {"n_iters": n_iters, "subsample_dim": subsample_dim, "filter_frac": filter_frac}
    reference = Reference(_benign(seed, k, d, shape, dtype), n_copies, f, seed + 1, options)
    probe = reference.probe()
    for gamma in _gammas_around_boundaries(reference):
        assert _outcome(probe, gamma) == _outcome(reference, gamma), gamma


def test_probe_skips_most_svds_and_still_uses_them_at_the_boundary():
    reference = Reference(_benign(3, 24, 3000, "offset", torch.float32), 6, 6, 11,
                          {"n_iters": 5, "subsample_dim": 1000})
    probe = reference.probe()
    gammas = _gammas_around_boundaries(reference)
    assert [probe(g) for g in gammas] == [reference(g) for g in gammas]
    iterations = 5 * len(gammas)
    assert 0 < probe.exact_iterations < iterations / 3  # the near-boundary probes need the SVD, few others do
    assert probe.matrix_probes == 0


@pytest.mark.parametrize("shape", ["plain", "offset", "two_directions", "integers"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_bound_covers_the_rules_rounding(shape, dtype):
    deviations = []
    for seed in range(6):
        x = _benign(seed, 30, 2000, shape, dtype)
        x[:5] = x[:5] + (seed + 1) * x.std(dim=0)  # copies pushed out, as the attack does
        centred = centred_rows(x)
        bounds = dnc_probe.certified_projections(centred)
        assert bounds is not None
        p, delta = bounds
        rule = _scores_of_centred(centred, "exact").double().sqrt()
        assert bool(((rule - p).abs() <= delta).all())
        deviations.append(float(((rule - p).abs() / delta).max()))
    assert max(deviations) > 0  # the two computations do differ: the check is not vacuous


@pytest.mark.parametrize("shape", ["plain", "offset", "two_directions", "integers"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_iteration_gram_bound_covers_the_rules_rounding(shape, dtype):
    # The probe decides from exactly centred rows assembled from float64 inner products; the rule scores its own
    # float rows (the copy μ + γ∇p rounded, the column mean rounded): δ must cover both, at every γ.
    deviations = []
    for seed in range(2):
        benign = _benign(seed, 30, 1000, shape, dtype)
        mean, direction = benign.mean(dim=0), perturbation("std", benign)
        model = dnc_probe._IterationGram(benign, mean, direction, 5)
        for gamma in (0.0, 0.37, 1.0, 3.3, 25.0):
            bounds = model.certified(gamma)
            assert bounds is not None
            p, delta = bounds
            rows = with_copies(malicious_vector(mean, gamma, direction), 5, benign)
            rule = _scores_of_centred(centred_rows(rows), "exact").double().sqrt()
            assert bool(((rule - p).abs() <= delta).all()), (seed, gamma)
            deviations.append(float(((rule - p).abs() / delta).max()))
            exact = dnc_probe.certified_projections(centred_rows(rows))
            assert exact is not None and float((exact[0] - p).abs().max()) <= float(delta.max())
    assert 0 < max(deviations) < 0.1  # the rounding is there, and far inside the bound


def test_iteration_gram_spread_widens_the_bound():
    benign = _benign(1, 20, 500, "offset", torch.float32)
    mean, direction = benign.mean(dim=0), perturbation("std", benign)
    model = dnc_probe._IterationGram(benign, mean, direction, 4)
    p, delta = model.certified(2.0)
    rows = with_copies(mean.double() + 2.0 * direction.double(), 4, benign.double())  # the exact copy
    centred = rows - rows.mean(dim=0)
    p_direct, delta_direct = dnc_probe.certified_projections(centred)
    assert torch.allclose(p, p_direct, rtol=1e-9, atol=1e-12)  # the same exact projections
    assert bool((delta > delta_direct).all())  # plus the distance to the rule's float rows


def test_iteration_verdicts():
    p = torch.tensor([5.0, 5.0, 9.0, 8.0, 1.0, 0.5], dtype=torch.float64)
    small = torch.full_like(p, 0.01)
    assert dnc_probe.iteration_verdict(p, small, 2, 2) == dnc_probe.KEPT  # rows 2, 3 surely above the copies
    assert dnc_probe.iteration_verdict(p, small, 2, 3) == dnc_probe.DROPPED  # only 2 benign rows can be above
    wide = small.clone()
    wide[3] = 3.5  # row 3 may be above or below the copies
    assert dnc_probe.iteration_verdict(p, wide, 2, 2) == dnc_probe.UNSURE
    assert dnc_probe.surely_kept(p, small, 2).tolist() == [True, True, False, False, True, True]
    assert dnc_probe.surely_kept(p, wide, 2).tolist() == [False, False, False, False, True, True]


def test_no_bound_without_a_simple_top_singular_value():
    x = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    assert dnc_probe.certified_projections(x) is None  # σ1 = σ2: v1 is not defined, the SVD decides


@pytest.mark.parametrize("knowledge", ["full", "partial"])
def test_tailored_dnc_gamma_is_the_rule_per_probe_gamma(monkeypatch, knowledge):
    benign = _benign(5, 30, 4000, "offset", torch.float32)
    kwargs = dict(aggregator="dnc", f=8, knowledge=knowledge, n_total=38,
                  aggregator_options={"subsample_dim": 1500})  # fmt: skip
    fast = atk.craft("tailored", benign, 8, generator=torch.Generator().manual_seed(2), **kwargs)
    assert fast.info["exact_iterations"] < 5 * fast.info["n_probes"]
    monkeypatch.setattr(survival_module, "_dnc_probe", lambda *args: None)
    slow = atk.craft("tailored", benign, 8, generator=torch.Generator().manual_seed(2), **kwargs)
    assert "exact_iterations" not in slow.info
    assert fast.gamma == slow.gamma and torch.equal(fast.updates, slow.updates)


@pytest.mark.parametrize("options", [{"svd": "fast"}, {"combine": "union"}])
def test_other_dnc_scorings_run_the_rule_at_each_probe(options):
    benign = _benign(6, 12, 50, "plain", torch.float32)
    out = atk.craft("tailored", benign, 3, aggregator="dnc", aggregator_options=options,
                    generator=torch.Generator().manual_seed(0))
    assert "exact_iterations" not in out.info and out.gamma > 0


@pytest.mark.cuda
@pytest.mark.parametrize("knowledge", ["full", "partial"])
def test_tailored_dnc_on_cuda_gamma_is_the_rule_per_probe_gamma(monkeypatch, knowledge):
    # CUDA rows, a CUDA generator: the probe draws the coordinates on the GPU as the rule does, cuSOLVER's SVD
    benign = _benign(5, 30, 4000, "offset", torch.float32).cuda()
    kwargs = dict(aggregator="dnc", f=8, knowledge=knowledge, n_total=38,
                  aggregator_options={"subsample_dim": 1500})  # fmt: skip
    fast = atk.craft("tailored", benign, 8, generator=torch.Generator(device="cuda").manual_seed(2), **kwargs)
    monkeypatch.setattr(survival_module, "_dnc_probe", lambda *args: None)
    slow = atk.craft("tailored", benign, 8, generator=torch.Generator(device="cuda").manual_seed(2), **kwargs)
    assert fast.gamma == slow.gamma and torch.equal(fast.updates, slow.updates)
