r"""The AGR-tailored attack on a rule it has no dedicated form for: the paper's framework with the rule as a
black box.

The adversary sends copies of ∇m = μ + γ·∇p (μ the mean of the rows it knows, ∇p the chosen perturbation)
and picks γ to maximise the deviation it causes on its simulation of the rule,

.. math::

    J(\gamma) = \lVert \mathrm{AGR}(\{\nabla_m(\gamma)\}^{c} \cup \{g_1, \dots, g_k\}) - \mu \rVert_2 ,

where c copies are stacked first (the server's rows, malicious first) and the rule runs with the simulated f
and the rule's options (``aggregator_options``). J is only evaluated, never differentiated.

Searches (``variant``):

* ``"textbook"`` (fedlib's, not the paper's). μ, ∇p and the models of Min-Max and Min-Sum come from one pass
  over the rows (:meth:`~fedlib.attacks._utils.quadratic.QuadraticDistances.one_pass_both`, the floats those
  attacks compute), and J is evaluated by :mod:`fedlib.attacks._utils.generic_probe`: the rule itself, or for
  the rules it knows an exact reduction of (the equivariant ones on the rows' coordinates in their span, NNM
  from its mixing weights) the same algorithm on far fewer numbers. Where J costs a full call of the rule on wide
  rows, the search *explores* on a sketch J̃ (the rule on ~2,048 evenly spaced columns, rescaled) and *decides* on
  J. It probes

  1. γ = 0 and the four γ that Min-Max and Min-Sum find on these rows with this perturbation (their
     ``search="halving"`` and ``search="exact"``, γ_init 10, this call's τ);
  2. a geometric grid of ``generic_grid`` points γ_j = s·2^(-4 + 10j/(generic_grid − 1)), from s/16 to 64·s,
     with s = maxᵢ‖gᵢ − μ‖ / ‖∇p‖ (the γ at which a copy is as far from μ as the farthest known row), continued
     upwards by the same ratio while its top point is the best and still grows by more than 0.1 %, up to
     2^20·s (``info["grid_top"]``);
  3. ``generic_iters`` golden-section steps, in log γ, on the bracket formed by the best point so far and its
     two evaluated neighbours (in linear γ when the left neighbour is 0);

  on J̃ (J itself where there is no sketch), then evaluates J at the best point found and at **Min-Max's and
  Min-Sum's γ** (the Algorithm 1 γ those attacks send in the same setting) and returns the one with the largest J
  (ties: the smallest γ). Why it is at least as strong as those attacks: their γ are always evaluated on J, so
  the deviation it causes on the simulation is never smaller than theirs (for a rule that draws random numbers:
  with the adversary's draw, see below); where J has no sketch every probe is on J and this holds for their
  ``search="exact"`` γ as well. The reduced evaluations agree with the rule up to rounding (~1e-6 relative);
  when such a value decides between the search's best and Min-Max's or Min-Sum's γ within 1e-4, the rule itself
  decides (``info["rule_checks"]``). ``info``: ``n_probes`` (distinct γ on J̃ plus those on J), ``n_exact``,
  ``evaluator`` ("rule", "reduced" or "mixing"), ``sketch_columns``, ``best_source``, ``deviation_simulated``
  (J at the result), ``at_grid_top`` (the result is the top of the continued grid: J still grew there, the
  rule does not bound the copies' influence, e.g. the plain mean).

  Cost at the ``scale`` size (100 rows, d = 79,510): the one pass, ~30 probes on J̃ or on the reduction, and at
  most 3 evaluations of J, where the search before this one evaluated J 28 times. Measured on 4 captured
  ``scale`` rounds per rule (``benchmarks/generic_search.py``, one thread): the deviation it finds on the rule is
  0.99996–1.024× the earlier search's (centered clipping: +2.4 % in one round, whose J still grew at 64·s) at
  1/6 (centered clipping, bucketing) to 1/87 (geometric median) of its CPU time.
* ``"ndss21"``: Algorithm 1 as the released trimmed-mean / median attacks use it (a probe succeeds when J is
  strictly larger than at the previous probe; :func:`fedlib.attacks.halving_search` with that test), from
  γ_init (default 10.0, the agnostic attacks' released value) to τ, every probe a call of the rule. No released
  code has a generic form; this is the released objective search applied to any rule.

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
from ._utils.agnostic import agnostic_gamma
from ._utils.common import gamma_init_for, need_generator
from ._utils.generic_probe import OnRows, evaluator_for
from ._utils.quadratic import QuadraticDistances
from ._utils.search import GOLDEN, hill_climb

#: γ_j spans s·2^LOW_EXP .. s·2^HIGH_EXP (s: the farthest known row's distance from μ over ‖∇p‖), continued up
#: to s·2^TOP_EXP while the top keeps growing by more than GROWTH.
LOW_EXP, HIGH_EXP, TOP_EXP, GROWTH = -4.0, 6.0, 20.0, 1e-3
#: Released γ_init of the agnostic attacks (the released CIFAR10 code), the start of the ndss21 hill-climb.
GAMMA_INIT = 10.0
#: Reduced values that decide between candidates within this relative gap are checked on the rule itself.
TIE_RTOL = 1e-4


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


def agnostic_candidates(models, benign, mean, direction, tau: float) -> dict[str, float]:
    """γ of Min-Max and Min-Sum (halving and exact searches, γ_init 10, this τ) from the shared pass's models."""
    out = {}
    for attack, model in zip(("min_max", "min_sum"), models, strict=True):
        for search in SEARCHES:  # halving, then exact: the candidates' order (ties keep the first)
            g0 = gamma_init_for(attack, None, None)
            gamma, _ = agnostic_gamma(attack, model, benign, mean, direction, search=search, gamma_init=g0, tau=tau)
            out[f"{attack}_{search}"] = float(gamma)
    return out


class _Evaluated:
    """A function of γ at every probed γ (probed once each), and where each γ came from."""

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
        """The γ with the largest value (ties: the smallest γ; NaN never wins)."""
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


def _explore(sketch: _Evaluated, scale: float, grid: int, iters: int) -> float:
    """Steps 2 and 3 of the module docstring on ``sketch``; returns the grid's top point."""
    ratio = 2.0 ** ((HIGH_EXP - LOW_EXP) / (grid - 1))
    top = 0.0
    for j in range(grid):
        top = scale * 2.0 ** (LOW_EXP + (HIGH_EXP - LOW_EXP) * j / (grid - 1))
        sketch(top, "grid")
    while sketch.best() == top and top * ratio <= scale * 2.0**TOP_EXP:
        below = sketch.values[top]
        top *= ratio
        if not sketch(top, "grid") > below * (1.0 + GROWTH):
            break
    points = sorted(sketch.values)
    best = points.index(sketch.best())
    lo, hi = points[max(best - 1, 0)], points[min(best + 1, len(points) - 1)]
    if hi > lo:
        _golden(sketch, lo, hi, iters)
    return top


def textbook_search(evaluator, scale: float, candidates: dict[str, float], *, grid: int, iters: int,
                    on_rule: Callable[[], OnRows] | None = None) -> tuple[float, dict]:  # fmt: skip
    """The textbook search of the module docstring: (γ, info). ``evaluator`` has ``sketch(γ)``, ``exact(γ)`` and
    ``sketched``; ``on_rule()`` builds the rule-itself evaluator that settles close reduced values."""
    sketch = _Evaluated(evaluator.sketch)
    sketch(0.0, "zero")
    for name, gamma in candidates.items():
        sketch(gamma, name)
    top = _explore(sketch, scale, grid, iters) if scale > 0.0 else 0.0
    exact = _Evaluated(evaluator.exact) if evaluator.sketched else sketch
    best = sketch.best()
    finalists = {best: sketch.source[best]}
    finalists.update({g: name for name, g in candidates.items() if name.endswith("_halving")})
    for gamma, source in finalists.items():
        exact(gamma, source)
    gamma = exact.best()
    checks = 0
    if on_rule is not None and evaluator.kind != "rule":
        gamma, checks = _settle_close(exact, gamma, list(finalists), on_rule)
    return gamma, {
        "n_probes": len(sketch.values) + (len(exact.values) if evaluator.sketched else 0),
        "n_exact": len(exact.values) if evaluator.sketched else len(sketch.values),
        "evaluator": evaluator.kind,
        "sketch_columns": evaluator.columns,
        "gamma_scale": scale,
        "grid_top": top,
        "gamma_candidates": dict(candidates),
        "best_source": exact.source.get(gamma, "zero"),
        "deviation_simulated": exact.values.get(gamma, float("nan")),
        "at_grid_top": scale > 0.0 and gamma == top,
        "rule_checks": checks,
    }


def _settle_close(exact: _Evaluated, gamma: float, finalists: list[float], on_rule) -> tuple[float, int]:
    """Where a reduced value beats a finalist by less than TIE_RTOL, the rule itself decides between them."""
    value = exact.values[gamma]
    close = [g for g in finalists if g != gamma and exact.values[g] >= value * (1.0 - TIE_RTOL)]
    if not close:
        return gamma, 0
    rule = on_rule()
    values = {g: rule.exact(g) for g in [gamma, *close]}
    for g, v in values.items():
        exact.values[g] = v
    return min(values, key=lambda g: (-values[g], g)), len(values)


def ndss21_search(objective: Callable[[float], float], gamma_init: float, tau: float) -> tuple[float, dict]:
    """Algorithm 1 with the released objective test (the ndss21 trimmed-mean / median search)."""
    result = hill_climb(objective, gamma_init, tau)
    return result.gamma, {"n_probes": result.n_probes}


def generic_gamma(setting, g0: float, tau: float, generator, grid: int, iters: int, models, info: dict) -> float:
    """Any other registered rule (module docstring): γ maximising J(γ). ``models``: the textbook search's pass
    (:meth:`QuadraticDistances.one_pass_both`, which gave ``setting``'s μ and ∇p), None for ndss21."""
    from ..aggregators import aggregate, needs
    from ..aggregators._pre import run_base

    rule, f, variant, options = setting.rule, setting.f_sim, setting.variant, setting.agg_opts
    extras = rule_extras(rule, options, generator, info)
    benign, mean, direction, n_copies = setting.benign, setting.mean, setting.direction, setting.n_copies
    check_size(rule, n_copies + benign.shape[0], f, variant, options)

    def call(rows: torch.Tensor) -> torch.Tensor:
        return aggregate(rule, rows, f, variant=variant, **options, **extras()).vector

    def on_rule() -> OnRows:
        return OnRows(call, benign, mean, direction, n_copies, sketchable=False)

    if models is None:
        gamma, details = ndss21_search(on_rule().exact, g0, tau)
        info.update(details)
        return gamma
    base, base_options = options.get("base", "trimmed_mean"), dict(options.get("base_options") or {})

    def base_call(rows: torch.Tensor) -> torch.Tensor:  # NNM's base, as NNM runs it on its mixed rows
        return run_base(rule, rows, f, variant, base, base_options, options.get("generator")).vector

    pairwise: QuadraticDistances = models[0]
    evaluator = evaluator_for(rule, call, base_call, pairwise, benign, mean, direction, n_copies=n_copies, f=f,
                              options=options, needs=needs(rule))  # fmt: skip
    scale = math.sqrt(float(pairwise.a.max()) / pairwise.c) if pairwise.c > 0.0 else 0.0
    candidates = agnostic_candidates(models, benign, mean, direction, tau)
    gamma, details = textbook_search(evaluator, scale, candidates, grid=grid, iters=iters, on_rule=on_rule)
    info.update(details)
    return gamma
