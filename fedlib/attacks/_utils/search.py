r"""Scalar searches over γ: the paper's halving search (Algorithm 1), its hill-climb use in the released
trimmed-mean/median attacks, the "largest feasible γ" scan of the exact Krum-family search, and the
grid + golden-section maximiser of the textbook trimmed-mean/median attacks."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from ...errors import ConfigError

GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


@dataclass(frozen=True)
class SearchResult:
    gamma: float
    n_probes: int


def halving(success: Callable[[float], bool], gamma_init: float, tau: float) -> SearchResult:
    r"""The paper's Algorithm 1 (§IV-D) as released.

    ::

        γ ← γ_init; step ← γ_init; γ_succ ← 0
        while |γ_succ − γ| > τ:
            if success(γ): γ_succ ← γ; γ ← γ + step/2
            else:          γ ← γ − step/2
            step ← step/2
        return γ_succ

    The reachable range is (0, 2·γ_init); when no probe succeeds the result is γ = 0.

    Example:
        >>> from fedlib.attacks import halving_search
        >>> halving_search(lambda g: g <= 4.0, gamma_init=10.0, tau=1e-5).gamma <= 4.0
        True
    """
    if not tau > 0:
        raise ConfigError(f"tau must be > 0; found {tau}.")
    gamma, step, best, probes = float(gamma_init), float(gamma_init), 0.0, 0
    while abs(best - gamma) > tau:
        probes += 1
        if success(gamma):
            best = gamma
            gamma += step / 2.0
        else:
            gamma -= step / 2.0
        step /= 2.0
    return SearchResult(best, probes)


def hill_climb(objective: Callable[[float], float], gamma_init: float, tau: float) -> SearchResult:
    """Algorithm 1 with the released trimmed-mean/median test (the book's *Paper code against textbook* chapter,
    "AGR-tailored attack on Trimmed-mean: hill-climb or maximum"): a probe "succeeds" when the objective is
    strictly larger than at the *previous probe* (initially −1)."""
    previous = [-1.0]

    def grew(gamma: float) -> bool:
        value = objective(gamma)
        grown = previous[0] < value
        previous[0] = value
        return grown

    return halving(grew, gamma_init, tau)


def largest_feasible(
    test: Callable[[float], bool],
    start_upper: float,
    *,
    grid: int,
    rtol: float = 1e-9,
    patience: int = 6,
    max_doublings: int = 60,
) -> tuple[float, dict]:
    r"""Largest γ ≥ 0 at which ``test`` holds, as defined by this scan (used by the exact Krum search).

    1. Upper bound Γ: probe start_upper·2^j, j = 0, 1, …, stopping after ``patience`` consecutive
       failures; Γ = twice the largest feasible probe (an infeasible point), or start_upper if none was
       feasible. If every probe up to j = ``max_doublings`` is feasible the search reports
       ``bounded=False`` and returns the last probe.
    2. Scan: evaluate ``test`` at Γ·j/grid, j = grid − 1 … 1, from the top; take the first feasible one.
    3. Refine: bisect between that point (feasible) and the next grid point (infeasible) until the
       bracket is narrower than ``rtol``·γ; return the feasible end.

    The result is feasible and γ·(1 + rtol) is not; the feasible set of a selection test need not be an
    interval, and feasible islands above the result that fall strictly between two grid points (or
    above Γ, beyond ``patience`` failing doublings) are not seen. If no grid point is feasible, the cell
    [0, Γ/grid] is bisected when γ = 0 is feasible, else the result is 0 (the halving search's fallback).
    """
    probes = 0

    def run(gamma: float) -> bool:
        nonlocal probes
        probes += 1
        return bool(test(gamma))

    point, last_feasible, misses = float(start_upper), None, 0
    for _ in range(max_doublings):
        if run(point):
            last_feasible, misses = point, 0
        else:
            misses += 1
            if misses >= patience:
                break
        point *= 2.0
    else:
        if misses == 0 and last_feasible is not None:  # every probe was feasible (max_doublings >= 1)
            return last_feasible, {"n_tests": probes, "bounded": False, "upper": last_feasible}
    upper = float(start_upper) if last_feasible is None else 2.0 * last_feasible
    lo = 0.0
    for j in range(grid - 1, 0, -1):
        if run(upper * j / grid):
            lo = upper * j / grid
            break
    else:
        if not run(0.0):
            return 0.0, {"n_tests": probes, "bounded": True, "upper": upper}
    hi = lo + upper / grid
    for _ in range(200):  # ~40 halvings reach rtol; the cap only matters when lo stays 0
        if hi - lo <= rtol * lo:
            break
        mid = 0.5 * (lo + hi)
        if run(mid):
            lo = mid
        else:
            hi = mid
    return lo, {"n_tests": probes, "bounded": True, "upper": upper}


def maximize(objective: Callable[[float], float], upper: float, *, grid: int, iters: int) -> tuple[float, int]:
    r"""Maximise a scalar function on [0, upper]: a uniform grid of ``grid`` + 1 points, then golden-
    section search on the two grid cells around the best point (``iters`` steps). Returns (γ, evaluations).

    The result is at least as good as every grid point (the best grid point is kept when the golden
    section does not improve on it); it is the global maximiser when the objective is unimodal on the
    bracket around the best grid point.

    An objective may offer two accelerations that change no value: ``objective.many(gammas)`` (the grid in
    one call) and ``objective.narrow(lo, hi)`` (told the bracket [lo, hi], two probed points, that holds
    every later probe).

    Example:
        >>> from fedlib.attacks._utils.search import maximize
        >>> gamma, evals = maximize(lambda g: -(g - 2.3) ** 2, 10.0, grid=16, iters=40)
        >>> round(gamma, 6), evals
        (2.3, 59)
    """
    gammas = [upper * j / grid for j in range(grid + 1)]
    many = getattr(objective, "many", None)
    narrow = getattr(objective, "narrow", lambda lo, hi: None)
    grid_values = many(gammas) if many is not None else [objective(g) for g in gammas]
    best_value, neg_j, best = max(
        (value, -j, gamma) for j, (value, gamma) in enumerate(zip(grid_values, gammas, strict=True))
    )
    j = -neg_j  # ties: the smallest γ
    evals = grid + 1
    lo, hi = upper * max(j - 1, 0) / grid, upper * min(j + 1, grid) / grid
    narrow(lo, hi)
    x1, x2 = hi - GOLDEN * (hi - lo), lo + GOLDEN * (hi - lo)
    f1, f2 = objective(x1), objective(x2)
    evals += 2
    for _ in range(iters):
        if f1 >= f2:
            hi, x2, f2 = x2, x1, f1
            narrow(lo, hi)
            x1 = hi - GOLDEN * (hi - lo)
            f1 = objective(x1)
        else:
            lo, x1, f1 = x1, x2, f2
            narrow(lo, hi)
            x2 = lo + GOLDEN * (hi - lo)
            f2 = objective(x2)
        evals += 1
    for value, gamma in ((f1, x1), (f2, x2)):
        if value > best_value:
            best_value, best = value, gamma
    return best, evals
