"""REFERENCE (test oracle only): the γ-search probes of the tailored and agnostic attacks exactly as fedlib
implemented them at commit acfa636, before the probes were computed from one-pass models.

Every probe here rebuilds the (n, d) matrix [copies; benign] and runs the rule (tailored) or recomputes the
d-dimensional distances (Min-Max / Min-Sum), as today's code did. The new implementation must take the same
accept/reject decision at every probe (and, for the coordinate-wise objectives, compute the same objective
value), so ``tests/attacks/test_attacks_probes.py`` runs both on the same inputs and compares probe by probe.

Copied, not imported, so that later refactors of fedlib.attacks cannot change the oracle: the halving /
hill-climb / grid + golden-section searches, the malicious-vector arithmetic and the success tests.
Only the rules themselves (``fedlib.aggregators.aggregate``) and the perturbation come from fedlib.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from fedlib.aggregators import aggregate

GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


# ---------------------------------------------------------------------------------------- searches (copies)


def halving(success: Callable[[float], bool], gamma_init: float, tau: float) -> tuple[float, int]:
    gamma, step, best, probes = float(gamma_init), float(gamma_init), 0.0, 0
    while abs(best - gamma) > tau:
        probes += 1
        if success(gamma):
            best = gamma
            gamma += step / 2.0
        else:
            gamma -= step / 2.0
        step /= 2.0
    return best, probes


def hill_climb(objective: Callable[[float], float], gamma_init: float, tau: float) -> tuple[float, int]:
    previous = [-1.0]

    def grew(gamma: float) -> bool:
        value = objective(gamma)
        grown = previous[0] < value
        previous[0] = value
        return grown

    return halving(grew, gamma_init, tau)


def maximize(objective: Callable[[float], float], upper: float, *, grid: int, iters: int) -> tuple[float, int]:
    values = []
    for j in range(grid + 1):
        gamma = upper * j / grid
        values.append((objective(gamma), -j, gamma))
    best_value, neg_j, best = max(values)
    j = -neg_j
    evals = grid + 1
    lo, hi = upper * max(j - 1, 0) / grid, upper * min(j + 1, grid) / grid
    x1, x2 = hi - GOLDEN * (hi - lo), lo + GOLDEN * (hi - lo)
    f1, f2 = objective(x1), objective(x2)
    evals += 2
    for _ in range(iters):
        if f1 >= f2:
            hi, x2, f2 = x2, x1, f1
            x1 = hi - GOLDEN * (hi - lo)
            f1 = objective(x1)
        else:
            lo, x1, f1 = x1, x2, f2
            x2 = lo + GOLDEN * (hi - lo)
            f2 = objective(x2)
        evals += 1
    for value, gamma in ((f1, x1), (f2, x2)):
        if value > best_value:
            best_value, best = value, gamma
    return best, evals


# ------------------------------------------------------------------------------------- probe tests (copies)


def malicious_vector(mean: torch.Tensor, gamma: float, direction: torch.Tensor) -> torch.Tensor:
    if gamma == 0.0:
        return mean.clone()
    return mean + gamma * direction


def with_copies(vector: torch.Tensor, n_copies: int, benign: torch.Tensor) -> torch.Tensor:
    return torch.cat([vector.unsqueeze(0).expand(n_copies, -1), benign], dim=0)


def sq_distances_to(rows: torch.Tensor, vector: torch.Tensor, block: int = 1 << 14) -> torch.Tensor:
    out = torch.zeros(rows.shape[0], dtype=torch.float64, device=rows.device)
    for start in range(0, rows.shape[1], block):
        cols = slice(start, min(start + block, rows.shape[1]))
        diff = rows[:, cols] - vector[cols]
        out += (diff * diff).sum(dim=1).to(torch.float64)
    return out


def _copies_selected(selected: torch.Tensor | None, n_copies: int, first_only: bool) -> bool:
    if selected is None or selected.numel() == 0:
        return False
    if first_only:
        return int(selected[0]) < n_copies
    return int((selected < n_copies).sum()) == n_copies


class Probes:
    """acfa636's probes of one tailored setting; ``log`` records (γ, decision or objective value)."""

    def __init__(self, benign, mean, direction, target, variant, n_copies, f_sim, agg_opts=None):
        self.benign, self.mean, self.direction = benign, mean, direction
        self.target, self.variant, self.n_copies, self.f_sim = target, variant, n_copies, f_sim
        self.agg_opts = dict(agg_opts or {})
        self.rule = "multi_krum" if (target == "krum" and variant == "ndss21") else target
        self.first_only = target == "krum" and variant == "textbook"
        self.log: list[tuple[float, object]] = []

    def run_rule(self, gamma: float, **extra):
        stacked = with_copies(malicious_vector(self.mean, gamma, self.direction), self.n_copies, self.benign)
        return aggregate(self.rule, stacked, self.f_sim, variant=self.variant, **self.agg_opts, **extra)

    def selected(self, gamma: float) -> bool:
        """Krum family, AFA, Fang (no generator): every copy (Krum textbook: the first pick) selected."""
        first_only = self.first_only if self.target in ("krum", "multi_krum", "bulyan") else False
        decision = _copies_selected(self.run_rule(gamma).selected, self.n_copies, first_only)
        self.log.append((gamma, decision))
        return decision

    def objective(self, gamma: float) -> float:
        """Trimmed-mean / Median: J(γ) = ‖AGR(copies ∪ benign) − μ‖₂."""
        value = float(torch.linalg.vector_norm(self.run_rule(gamma).vector - self.mean))
        self.log.append((gamma, value))
        return value


class AgnosticProbes:
    """acfa636's Min-Max / Min-Sum halving test, given the threshold the attack computed."""

    def __init__(self, attack, benign, mean, direction, threshold):
        self.attack, self.benign, self.mean, self.direction = attack, benign, mean, direction
        self.threshold = threshold
        self.log: list[tuple[float, bool]] = []

    def success(self, gamma: float) -> bool:
        dist = sq_distances_to(self.benign, malicious_vector(self.mean, gamma, self.direction))
        reduce = torch.max if self.attack == "min_max" else torch.sum
        decision = bool(reduce(dist) <= self.threshold)
        self.log.append((gamma, decision))
        return decision


def fang_krum_lambda(benign, n_copies, f_sim, variant, lam0, stop=1e-5):
    """acfa636's Fang-Krum λ loop: halve λ from λ₀ until Krum on [−λs copies; benign] picks a copy.
    Returns (λ_final, success, probes)."""
    sign = torch.sign(benign.mean(dim=0))
    lam, probes = lam0, 0
    while lam > stop:
        probes += 1
        chosen = aggregate("krum", with_copies(-lam * sign, n_copies, benign), f_sim, variant=variant).selected
        if int(chosen[0]) < n_copies:
            return lam, True, probes
        lam /= 2.0
    return lam, False, probes
