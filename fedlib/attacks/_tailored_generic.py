r"""The AGR-tailored attack on a rule it has no dedicated form for: the paper's framework with the rule as a
black box.

The adversary sends copies of ∇m = μ + γ·∇p (μ the mean of the rows it knows, ∇p the chosen perturbation)
and picks γ to maximise the deviation it causes on its simulation of the rule,

.. math::

    J(\gamma) = \lVert \mathrm{AGR}(\{\nabla_m(\gamma)\}^{c} \cup \{g_1, \dots, g_k\}) - \mu \rVert_2 ,

where c copies are stacked first (the server's rows, malicious first) and the rule runs with the simulated f
and the rule's options (``aggregator_options``). Nothing about the rule is assumed: J is only evaluated.

Searches (``variant``):

* ``"textbook"`` (fedlib's, not the paper's): J is evaluated at

  1. γ = 0 and the γ that the AGR-agnostic attacks Min-Max and Min-Sum find on the same rows with the same
     perturbation (closed-form ``search="exact"`` and Algorithm 1 ``search="halving"``, each with its default
     γ_init and this call's τ: four candidates);
  2. a geometric grid of ``generic_grid`` points γ_j = s·2^(-4 + 10j/(generic_grid − 1)), from s/16 to 64·s,
     with s = maxᵢ‖gᵢ − μ‖ / ‖∇p‖ (the γ at which a copy is as far from μ as the farthest known row);
  3. ``generic_iters`` golden-section steps, in log γ, on the bracket formed by the best point so far and its
     two evaluated neighbours (in linear γ when the left neighbour is 0).

  The result is the evaluated γ with the largest J (ties: the smallest γ). Because Min-Max's and Min-Sum's γ
  are candidates, the deviation on the simulation is **at least** what those attacks cause on the same rows
  (for a rule that draws random numbers: with the adversary's draw, see below); the grid and golden section
  can only add to it. J is evaluated at most 1 + 4 + ``generic_grid`` + 2 + ``generic_iters`` times (28 with
  the defaults 13 and 8; ``info["n_probes"]`` counts the distinct γ) — each an (n, d) call of the rule, the
  attack's whole cost beyond the agnostic searches' O(k²d) passes. With the defaults the grid's ratio is
  2^(10/12) ≈ 1.78 and the golden section narrows the best cell's bracket (a factor ≈ 3.2) to about 2 %. When the
  best γ is the largest grid point (``info["at_grid_top"]``), J was still growing at 64·s: the rule does not bound
  the copies' influence there (e.g. the plain mean).
* ``"ndss21"``: Algorithm 1 as the released trimmed-mean / median attacks use it (a probe succeeds when J is
  strictly larger than at the previous probe; :func:`fedlib.attacks.halving_search` with that test), from
  γ_init (default 10.0, the agnostic attacks' released value) to τ. No released code has a generic form;
  this is the released objective search applied to any rule.

A rule that draws random numbers (``fedlib.aggregators.needs(rule)`` has ``"generator"``) gets, at every
probe, a fresh generator seeded with one number the adversary drew from ``generator`` (``info["rule_seed"]``),
so J is a deterministic function of γ. A rule that needs ``score_fn`` gets it from ``aggregator_options``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..errors import ConfigError
from ..vocabulary import SEARCHES
from ._utils.common import need_generator
from ._utils.search import GOLDEN, hill_climb

#: γ_j spans s·2^LOW_EXP .. s·2^HIGH_EXP (s: the farthest known row's distance from μ over ‖∇p‖).
LOW_EXP, HIGH_EXP = -4.0, 6.0
#: Released γ_init of the agnostic attacks (the released CIFAR10 code), the start of the ndss21 hill-climb.
GAMMA_INIT = 10.0


def rule_extras(rule: str, agg_opts: dict, generator: torch.Generator | None, info: dict) -> Callable[[], dict]:
    """What each probe passes the rule besides ``agg_opts``: a freshly seeded generator when the rule needs one
    (the same seed at every probe), nothing otherwise."""
    from ..aggregators import needs

    wanted = needs(rule)
    if "score_fn" in wanted and "score_fn" not in agg_opts:
        raise ConfigError(
            f"tailored attack on {rule!r}: the rule needs score_fn; pass it in aggregator_options (the FL engine "
            "passes the server's)."
        )
    if "generator" not in wanted:
        return dict
    if "generator" in agg_opts:
        raise ConfigError(
            f"tailored {rule} draws the rule's randomness from `generator`; do not pass "
            "aggregator_options['generator']."
        )
    gen = need_generator(generator, f"tailored ({rule})")
    seed = int(torch.randint(0, 2**62, (1,), generator=gen, device=gen.device))
    info["rule_seed"] = seed
    return lambda: {"generator": torch.Generator(device=gen.device).manual_seed(seed)}


def check_size(rule: str, n: int, f: int, variant: str, agg_opts: dict) -> None:
    """The simulation's n rows must be enough for the rule (:func:`fedlib.aggregators.min_inputs`)."""
    from ..aggregators import min_inputs

    options = {k: v for k, v in agg_opts.items() if k not in ("generator", "score_fn")}
    need = min_inputs(rule, f, variant=variant, **options)
    if n < need:
        raise ConfigError(f"tailored attack on {rule!r} simulates it on n={n} rows with f={f}; it needs n >= {need}.")


def agnostic_gammas(benign: torch.Tensor, perturbation: str, tau: float) -> dict[str, float]:
    """γ of Min-Max and Min-Sum on these rows and this perturbation, exact and halving searches."""
    from ._base import craft

    out = {}
    for attack in ("min_max", "min_sum"):
        for search in sorted(SEARCHES):  # exact, then halving: the candidates' order (ties keep the first)
            gamma = craft(attack, benign, 1, perturbation=perturbation, search=search, tau=tau).gamma
            out[f"{attack}_{search}"] = float(gamma or 0.0)
    return out


def gamma_scale(benign: torch.Tensor, mean: torch.Tensor, direction: torch.Tensor) -> float:
    """s = maxᵢ‖gᵢ − μ‖ / ‖∇p‖ (0 when ∇p = 0: every γ gives μ)."""
    norm = float(torch.linalg.vector_norm(direction))
    if norm == 0.0:
        return 0.0
    return float(torch.linalg.vector_norm(benign - mean, dim=1).max()) / norm


class _Evaluated:
    """J at every probed γ (probed once each), and where each candidate came from."""

    def __init__(self, objective: Callable[[float], float]):
        self.objective = objective
        self.values: dict[float, float] = {}
        self.source: dict[float, str] = {}

    def __call__(self, gamma: float, source: str = "golden") -> float:
        gamma = float(gamma)
        if gamma not in self.values:
            self.values[gamma] = float(self.objective(gamma))
            self.source[gamma] = source
        return self.values[gamma]

    def best(self) -> float:
        """The γ with the largest J (ties: the smallest γ; NaN never wins)."""
        finite = {g: v for g, v in self.values.items() if not math.isnan(v)}
        return min(finite, key=lambda g: (-finite[g], g)) if finite else 0.0


def _golden(evaluate: _Evaluated, lo: float, hi: float, iters: int) -> None:
    """``iters`` golden-section steps on [lo, hi] (log γ when lo > 0); every probe is recorded in ``evaluate``."""
    log = lo > 0.0
    to_x = math.log if log else float
    to_g = math.exp if log else float
    a, b = to_x(lo), to_x(hi)
    x1, x2 = b - GOLDEN * (b - a), a + GOLDEN * (b - a)
    f1, f2 = evaluate(to_g(x1)), evaluate(to_g(x2))
    for _ in range(iters):
        if f1 >= f2:
            b, x2, f2 = x2, x1, f1
            x1 = b - GOLDEN * (b - a)
            f1 = evaluate(to_g(x1))
        else:
            a, x1, f1 = x1, x2, f2
            x2 = a + GOLDEN * (b - a)
            f2 = evaluate(to_g(x2))


def textbook_search(
    objective: Callable[[float], float],
    scale: float,
    candidates: dict[str, float],
    *,
    grid: int,
    iters: int,
) -> tuple[float, dict]:
    """The textbook search of the module docstring: (γ, info)."""
    evaluate = _Evaluated(objective)
    evaluate(0.0, "zero")
    for name, gamma in candidates.items():
        evaluate(gamma, name)
    top = 0.0
    if scale > 0.0:
        for j in range(grid):
            top = scale * 2.0 ** (LOW_EXP + (HIGH_EXP - LOW_EXP) * j / (grid - 1))
            evaluate(top, "grid")
        points = sorted(evaluate.values)
        best = points.index(evaluate.best())
        lo, hi = points[max(best - 1, 0)], points[min(best + 1, len(points) - 1)]
        if hi > lo:
            _golden(evaluate, lo, hi, iters)
    gamma = evaluate.best()
    return gamma, {
        "n_probes": len(evaluate.values),
        "gamma_scale": scale,
        "gamma_candidates": dict(candidates),
        "best_source": evaluate.source[gamma] if gamma in evaluate.source else "zero",
        "deviation_simulated": evaluate.values.get(gamma, float("nan")),
        "at_grid_top": scale > 0.0 and gamma == top,
    }


def ndss21_search(objective: Callable[[float], float], gamma_init: float, tau: float) -> tuple[float, dict]:
    """Algorithm 1 with the released objective test (the ndss21 trimmed-mean / median search)."""
    result = hill_climb(objective, gamma_init, tau)
    return result.gamma, {"n_probes": result.n_probes}
