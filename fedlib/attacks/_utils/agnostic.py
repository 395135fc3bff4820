r"""The search shared by the AGR-agnostic attacks Min-Max and Min-Sum (paper §IV-C).

Both send ``n_malicious`` copies of ∇m = μ + γ·∇p with the largest γ that keeps ∇m inside the benign
"clique" (the attacks' module :mod:`fedlib.attacks._agnostic` gives each constraint). Searches (``search=``):

* ``"halving"``: the paper's Algorithm 1 (reach (0, 2·γ_init), stops at τ, γ = 0 if nothing passes). Each probe
  is decided on the quadratic model below (O(k)); a probe whose value is within rounding of the threshold
  (:mod:`.probe_tolerance`) computes the k distances from the d-dimensional rows as before — per column
  block, accumulated in float64 — so every decision is the one the d-dimensional probe takes
  (``info["matrix_probes"]`` counts those).
* ``"exact"``: with a_i, b_i, c from one O(k·d) pass (:mod:`.quadratic`), each constraint is
  a_i + 2γb_i + γ²c ≤ T, so the optimum is closed form: Min-Max γ* = min_i of the larger roots; Min-Sum
  γ* is the larger root of Σa_i + 2γΣb_i + kγ²c = T. No aggregation and no further pass over the data.
  Halving never exceeds it (up to the rounding of the d-dimensional distances a probe computes).

Both knowledge settings use the same formulas on whatever rows ``benign`` holds. ``aggregator`` and ``f``
are not used: the adversary does not know the rule. n_malicious only sets the number of copies.
"""

from __future__ import annotations

import torch

from .._base import Crafted
from .common import check_positive, check_search, gamma_init_for, malicious_vector, repeat_rows
from .probe_tolerance import clear
from .quadratic import QuadraticDistances, largest_root, sq_distances_to
from .search import halving


class _ModelTest:
    """The halving test from the quadratic model (O(k) per probe); the d-dimensional distances of the
    pre-model probe only when the model's value is within rounding of the threshold (:mod:`.probe_tolerance`)."""

    def __init__(self, attack, model, benign, mean, direction, threshold):
        self.attack, self.model, self.threshold = attack, model, threshold
        self.benign, self.mean, self.direction = benign, mean, direction
        self.matrix_probes = 0

    def __call__(self, gamma: float) -> bool:
        dist = self.model.to_malicious(gamma)
        value = float(dist.max() if self.attack == "min_max" else dist.sum())
        if clear(value, self.threshold):
            return value <= self.threshold
        self.matrix_probes += 1
        dist = sq_distances_to(self.benign, malicious_vector(self.mean, gamma, self.direction))
        reduce = torch.max if self.attack == "min_max" else torch.sum
        return bool(reduce(dist) <= self.threshold)


def agnostic_attack(attack, benign, n_malicious, *, perturbation, search, gamma_init, tau, reference):
    check_search(search)
    check_positive(tau, "tau")
    g0 = gamma_init_for(attack, None, gamma_init)
    # Min-Sum needs only the sums of distances, which follow from the row norms: no (k, k) Gram product.
    mean, direction, model = QuadraticDistances.one_pass(benign, perturbation, pairwise=attack == "min_max")
    gamma, info = agnostic_gamma(attack, model, benign, mean, direction, search=search, gamma_init=g0, tau=tau,
                                 reference=reference)  # fmt: skip
    vector = malicious_vector(mean, gamma, direction)
    return Crafted(repeat_rows(vector, n_malicious), gamma, {"perturbation": perturbation, **info})


def agnostic_gamma(
    attack: str,
    model: QuadraticDistances,
    benign: torch.Tensor,
    mean: torch.Tensor,
    direction: torch.Tensor,
    *,
    search: str,
    gamma_init: float,
    tau: float,
    reference: str = "min",
) -> tuple[float, dict]:
    """(γ, info) of ``attack`` ("min_max" or "min_sum") from its model (:meth:`QuadraticDistances.one_pass` of the
    rows: pairwise for Min-Max, row norms for Min-Sum), as :func:`agnostic_attack` finds it: other attacks that
    need Min-Max's or Min-Sum's γ on the same rows share the pass.

    Example:
        >>> import torch
        >>> from fedlib.attacks import craft
        >>> from fedlib.attacks._utils.agnostic import agnostic_gamma
        >>> from fedlib.attacks._utils.quadratic import QuadraticDistances
        >>> x = torch.randn(12, 30, generator=torch.Generator().manual_seed(0))
        >>> mean, direction, model = QuadraticDistances.one_pass(x, "std")
        >>> gamma, _ = agnostic_gamma("min_max", model, x, mean, direction, search="exact", gamma_init=10.0, tau=1e-5)
        >>> gamma == craft("min_max", x, 3, search="exact").gamma
        True
    """
    if attack == "min_max":
        assert model.benign_sq is not None  # one_pass built it: pairwise for min_max
        threshold = model.benign_sq.max()
    else:
        sums = model.sums_to_benign()
        threshold = sums.min() if reference == "min" else sums.max()
    matrix_probes = 0
    if search == "exact":
        probes = 0
        if model.c == 0.0:  # zero direction: every γ gives μ
            gamma = 0.0
        elif attack == "min_max":
            gamma = float(largest_root(model.a, model.b, model.c, threshold).min())
        else:
            gamma = float(largest_root(model.a.sum(), model.b.sum(), model.c * model.k, threshold))
    else:
        success = _ModelTest(attack, model, benign, mean, direction, float(threshold))
        result = halving(success, gamma_init, tau)
        gamma, probes = result.gamma, result.n_probes
        matrix_probes = success.matrix_probes
    info = {"search": search, "gamma_init": gamma_init, "n_probes": probes, "threshold": float(threshold)}
    if search == "halving":
        info["matrix_probes"] = matrix_probes
    return gamma, info
