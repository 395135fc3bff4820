"""γ searches: Algorithm 1, exact Min-Max/Min-Sum, exact Krum-family search, tailored attacks' acceptance by
their target rule, partial knowledge, and the synthetic attack-strength ordering of the issue.

Properties at the exact optimum are checked in float64 whatever FEDLIB_TEST_DTYPE says: the optimum sits
on a constraint boundary, and only float64 rounding is small enough for "γ·(1 + 1e-6) is infeasible".
"""

from __future__ import annotations

import pytest
import torch
from helpers.oracles_atk import gaussian_cloud, min_max_margin, min_sum_margin

import fedlib.attacks as atk
from fedlib.aggregators import aggregate
from fedlib.attacks._utils.search import halving, hill_climb, largest_feasible, maximize
from fedlib.errors import ConfigError

PERTS = ["std", "unit_vec", "sign"]


# --------------------------------------------------------------------------------- Algorithm 1


def test_halving_matches_algorithm_1():
    # success iff γ <= 4: halving converges to the largest success below 4 within τ.
    result = halving(lambda g: g <= 4.0, gamma_init=10.0, tau=1e-5)
    assert 4.0 - 2e-5 <= result.gamma <= 4.0
    # Reachable range (0, 2γ_init): always success saturates just below 20.
    assert 20.0 - 2e-5 <= halving(lambda g: True, 10.0, 1e-5).gamma < 20.0
    # Nothing succeeds: γ = 0.
    assert halving(lambda g: False, 10.0, 1e-5).gamma == 0.0


def test_hill_climb_accepts_only_strict_growth():
    # Constant objective: the first probe succeeds (prev = −1), every later one fails → γ = γ_init.
    assert hill_climb(lambda g: 1.0, 10.0, 1e-5).gamma == 10.0


def test_largest_feasible_finds_top_of_non_interval_set():
    feasible = lambda g: g <= 3.0 or 7.0 <= g <= 9.0  # noqa: E731
    gamma, info = largest_feasible(feasible, 1.0, grid=100)
    assert gamma == pytest.approx(9.0, rel=1e-8) and feasible(gamma) and not feasible(gamma * (1 + 1e-6))
    assert info["bounded"]


def test_maximize_finds_peak():
    gamma, _ = maximize(lambda g: -(g - 2.3) ** 2, 10.0, grid=16, iters=40)
    assert gamma == pytest.approx(2.3, abs=1e-6)


# ----------------------------------------------------------------------------- Min-Max / Min-Sum


def _margin(name, benign, x):
    return min_max_margin(benign, x) if name == "min_max" else min_sum_margin(benign, x)


@pytest.mark.parametrize("name", ["min_max", "min_sum"])
@pytest.mark.parametrize("perturbation", PERTS)
@pytest.mark.parametrize("seed", [0, 1])
def test_agnostic_constraints_and_exact_maximal(name, perturbation, seed):
    benign = gaussian_cloud(seed, 15, 12)
    halved = atk.craft(name, benign, 4, perturbation=perturbation)
    exact = atk.craft(name, benign, 4, perturbation=perturbation, search="exact")
    for crafted in (halved, exact):
        value, threshold = _margin(name, benign, crafted.updates[0])
        assert value <= threshold * (1 + 1e-9)
    # exact is maximal: 1e-6 further breaks the constraint
    direction = atk.perturbation(perturbation, benign)
    beyond = benign.mean(0) + exact.gamma * (1 + 1e-6) * direction
    value, threshold = _margin(name, benign, beyond)
    assert value > threshold
    # halving never exceeds exact (up to the rounding of its d-dimensional distance evaluation)
    assert halved.gamma <= exact.gamma * (1 + 1e-9)


@pytest.mark.parametrize("dtype32", [torch.float32])
def test_agnostic_exact_float32_close_to_float64(dtype32):
    benign = gaussian_cloud(3, 20, 50)
    g64 = atk.craft("min_max", benign, 5, search="exact").gamma
    g32 = atk.craft("min_max", benign.to(dtype32), 5, search="exact").gamma
    assert g32 == pytest.approx(g64, rel=1e-4)


# -------------------------------------------------------------------- tailored, Krum family


def _selected_by_target(target, variant, crafted, benign, f):
    n_copies = crafted.updates.shape[0]
    stacked = torch.cat([crafted.updates, benign])
    # ndss21 Krum and Bulyan: the released test is Multi-krum's n − 2f − 2 selection (spec §4.3, §7.15)
    rule = "multi_krum" if (target in ("krum", "bulyan") and variant == "ndss21") else target
    chosen = aggregate(rule, stacked, f, variant=variant).selected
    if target == "krum" and variant == "textbook":
        return int(chosen[0]) < n_copies
    return int((chosen < n_copies).sum()) == n_copies


KRUM_CASES = [
    (target, variant, search)
    for target in ("krum", "multi_krum", "bulyan")
    for variant in ("textbook", "ndss21")
    for search in ("halving", "exact")
]


@pytest.mark.parametrize("target,variant,search", KRUM_CASES)
def test_tailored_krum_family_selected_by_target(target, variant, search):
    benign = gaussian_cloud(10, 20, 16)
    m = 4 if target != "bulyan" else 3  # Bulyan needs n >= 4f + 3
    crafted = atk.craft("tailored", benign, m, aggregator=target, variant=variant, search=search)
    assert crafted.gamma > 0
    assert _selected_by_target(target, variant, crafted, benign, m)
    # Exact: the next γ (relative 1e-6 above) is rejected by the real rule on the (n, d) data.
    if search == "exact":
        direction = atk.perturbation("std", benign)
        beyond = benign.mean(0) + crafted.gamma * (1 + 1e-6) * direction
        pushed = atk.Crafted(beyond.expand(m, -1).clone(), None)
        assert not _selected_by_target(target, variant, pushed, benign, m)


@pytest.mark.parametrize("target", ["krum", "multi_krum", "bulyan"])
@pytest.mark.parametrize("seed", [11, 12])
def test_tailored_halving_not_above_exact(target, seed):
    benign = gaussian_cloud(seed, 24, 10)
    m = 4 if target != "bulyan" else 3
    halved = atk.craft("tailored", benign, m, aggregator=target)
    exact = atk.craft("tailored", benign, m, aggregator=target, search="exact")
    assert exact.info["bounded"] and exact.info["n_tests"] > 0
    assert halved.gamma <= exact.gamma * (1 + 1e-9)


def test_tailored_multi_krum_impossible_gives_zero():
    benign = gaussian_cloud(13, 6, 7)  # n = 9, f = 3 → Multi-krum keeps 1 row < 3 copies
    for search in ("halving", "exact"):
        crafted = atk.craft("tailored", benign, 3, aggregator="multi_krum", search=search)
        assert crafted.gamma == 0.0
        assert torch.equal(crafted.updates[0], benign.mean(0))


# -------------------------------------------------------------------- tailored, other targets


@pytest.mark.parametrize("target", ["trimmed_mean", "median"])
def test_tailored_coordinatewise_textbook_not_worse_than_hill_climb(target):
    benign = gaussian_cloud(14, 20, 10)
    mean = benign.mean(0)

    def deviation(crafted):
        out = aggregate(target, torch.cat([crafted.updates, benign]), 5).vector
        return float((out - mean).norm())

    textbook = atk.craft("tailored", benign, 5, aggregator=target)
    released_gamma = atk.craft("tailored", benign, 5, aggregator=target, variant="ndss21").gamma
    direction = atk.perturbation("std", benign)
    released = atk.Crafted((mean + released_gamma * direction).expand(5, -1).clone(), released_gamma)
    assert deviation(textbook) >= deviation(released) - 1e-12
    assert deviation(textbook) > deviation(atk.Crafted(mean.expand(5, -1).clone(), 0.0))


def test_tailored_afa_copies_survive():
    benign = gaussian_cloud(15, 20, 10)
    crafted = atk.craft("tailored", benign, 5, aggregator="afa")
    assert crafted.gamma > 0
    survivors = aggregate("afa", torch.cat([crafted.updates, benign]), 5).selected
    assert int((survivors < 5).sum()) == 5


def test_tailored_afa_refilled_rows_give_the_fresh_rows_gamma(monkeypatch):
    import fedlib.attacks._tailored as tailored_module
    from fedlib.attacks._utils.common import malicious_vector, with_copies

    benign = gaussian_cloud(15, 30, 12)
    refilled = atk.craft("tailored", benign, 6, aggregator="afa")
    monkeypatch.setattr(tailored_module._Setting, "stacked", lambda self, g, vector=None: with_copies(
        malicious_vector(self.mean, g, self.direction), self.n_copies, self.benign))
    fresh = atk.craft("tailored", benign, 6, aggregator="afa")
    assert refilled.gamma == fresh.gamma > 0 and refilled.info["n_probes"] == fresh.info["n_probes"]


def test_tailored_dnc_adaptive_seeded():
    benign = gaussian_cloud(16, 20, 30)
    opts = {"n_iters": 2, "subsample_dim": 10}
    runs = [
        atk.craft("tailored", benign, 5, aggregator="dnc", aggregator_options=opts,
                  generator=torch.Generator().manual_seed(4))
        for _ in range(2)
    ]
    assert torch.equal(runs[0].updates, runs[1].updates) and runs[0].gamma == runs[1].gamma
    # The copies survive the adversary's own simulation (same seed, same coordinates).
    seed = runs[0].info["dnc_seed"]
    survivors = aggregate(
        "dnc", torch.cat([runs[0].updates, benign]), 5, generator=torch.Generator().manual_seed(seed), **opts
    ).selected
    assert int((survivors < 5).sum()) == 5


# ----------------------------------------------------------------------------- partial knowledge


def test_partial_knowledge_simulated_counts():
    own = gaussian_cloud(17, 10, 8)
    square = atk.craft("tailored", own, 10, aggregator="multi_krum", knowledge="partial", n_total=50)
    assert square.info["f_simulated"] == 2 and square.info["copies_simulated"] == 2  # max(1, 100 // 50)
    table = atk.craft("tailored", own, 10, aggregator="median", knowledge="partial")
    assert table.info["f_simulated"] == 3  # released map {…, 10: 3, …}
    both = atk.craft("tailored", own, 10, aggregator="median", knowledge="partial",
                     partial_rule="square", n_total=50)
    assert both.info["f_simulated"] == 2
    assert square.updates.shape == (10, 8)


# ---------------------------------------------------------------------- synthetic ordering (issue)

ORDER_SEED = 0


@pytest.mark.parametrize("target", ["multi_krum", "median"])
def test_synthetic_ordering_tailored_minmax_lie(target):
    """Gaussian cloud N(0.5, 1), d = 200, 40 benign + 10 malicious (20 %), f = 10, seed 0:
    deviation ‖AGR(all) − benign mean‖ under tailored ≥ Min-Max ≥ LIE (textbook, std, halving)."""
    benign = gaussian_cloud(ORDER_SEED, 40, 200)
    mean = benign.mean(0)

    def deviation(name, **kw):
        crafted = atk.craft(name, benign, 10, **kw)
        out = aggregate(target, torch.cat([crafted.updates, benign]), 10).vector
        return float((out - mean).norm())

    tailored = deviation("tailored", aggregator=target)
    min_max = deviation("min_max")
    lie = deviation("lie", n_total=50)
    assert tailored >= min_max >= lie, (tailored, min_max, lie)


def test_tailored_fang_defense_copies_survive():
    benign = gaussian_cloud(18, 16, 6)
    target = benign.mean(0) + 0.5 * atk.perturbation("std", benign)

    def score_fn(vector):  # validation stand-in whose loss is lowest towards the perturbation
        return float((vector - target).norm()), 0.0

    opts = {"score_fn": score_fn, "base": "mean", "rule": "lrr"}
    crafted = atk.craft("tailored", benign, 4, aggregator="fang_defense", aggregator_options=opts)
    assert crafted.gamma > 0 and crafted.info["rule_tested"] == "fang_defense"
    survivors = aggregate("fang_defense", torch.cat([crafted.updates, benign]), 4, **opts).selected
    assert int((survivors < 4).sum()) == 4
    # Beyond the accepted γ the filter removes the copies (the search's upper end was a real boundary).
    pushed = benign.mean(0) + 2.5 * crafted.gamma * atk.perturbation("std", benign)
    survivors = aggregate("fang_defense", torch.cat([pushed.expand(4, -1), benign]), 4, **opts).selected
    assert int((survivors < 4).sum()) < 4


def test_tailored_rejects_clashing_aggregator_options():
    with pytest.raises(ConfigError):
        atk.craft("tailored", gaussian_cloud(0, 16, 4), 3, aggregator="afa", aggregator_options={"f": 2})
