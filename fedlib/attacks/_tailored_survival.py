"""The tailored attack's survival targets (AFA, Fang's defense, DnC): the largest γ (Algorithm 1) at which every
copy survives the simulated rule's filter, each probe decided as the rule decides it at a fraction of its cost.

* AFA: its filter up to the round that removes a copy (:func:`fedlib.aggregators._afa.afa_keeps`), no final mean;
* Fang's defense: its survivors only (:func:`fedlib.aggregators.fang_survivors`), no final aggregation;
* DnC: the certified Gram-matrix probe of :mod:`._utils.dnc_probe`, DnC's SVD only where a rounding bound cannot
  decide.

``setting`` is the tailored attack's setting (rows, direction, simulated counts, the rule's options).
"""

from __future__ import annotations

import math

import torch

from .._checks import all_finite
from ..errors import AttackInfeasible, ConfigError
from ._utils.common import malicious_vector, need_generator, with_copies
from ._utils.dnc_probe import DncSurvivalProbe
from ._utils.search import halving


def copies_selected(selected: torch.Tensor, n_copies: int, first_only: bool) -> bool:
    """Whether ``selected`` (a rule's selection) holds every copy, rows 0 .. n_copies-1 (``first_only``: whether
    its first pick is a copy)."""
    if selected is None or selected.numel() == 0:
        return False
    if first_only:
        return int(selected[0]) < n_copies
    return int((selected < n_copies).sum()) == n_copies


def survival_gamma(
    setting, g0: float, tau: float, generator: torch.Generator | None, knowledge: str, info: dict
) -> float:
    """AFA, Fang's defense, DnC: the largest γ (Algorithm 1) at which every copy survives the rule's filter."""
    extra: dict[str, object] = {}
    seed = None
    if setting.target == "dnc":
        if "generator" in setting.agg_opts:
            raise ConfigError(
                "tailored dnc draws DnC's randomness from `generator`; do not pass aggregator_options['generator']."
            )
        gen = need_generator(generator, "tailored (dnc)")
        seed = int(torch.randint(0, 2**62, (1,), generator=gen, device=gen.device))
        info["dnc_seed"] = seed

    def fresh() -> dict:  # DnC: the same adversary seed at every probe, so the test is a function of γ
        if seed is None:
            return extra
        return {"generator": torch.Generator(device=gen.device).manual_seed(seed)}

    base_options = dict(setting.agg_opts.get("base_options") or {})
    drawing = any(isinstance(v, torch.Generator) for v in [*setting.agg_opts.values(), *base_options.values()])

    fang = _FangProbe(setting) if setting.target == "fang_defense" and not drawing else None

    def copies_kept(g: float) -> bool:
        if setting.target == "afa":
            return _afa_keeps_copies(setting, g)
        if fang is not None:
            return fang(g)
        return copies_selected(setting.run_rule(g, **fresh()).selected, setting.n_copies, False)

    def survives(g: float) -> bool:
        try:
            return copies_kept(g)
        except ConfigError as exc:
            if setting.target == "dnc" and "filtered out every row" in str(exc):
                raise AttackInfeasible(
                    f"attack 'tailored' on 'dnc' (knowledge={knowledge!r}): the simulated DnC filtered out "
                    f"every one of its {setting.n_copies + setting.benign.shape[0]} rows at γ={g}; the adaptive "
                    "attack has no survivor to test this round."
                ) from exc
            raise

    probe = None if seed is None else _dnc_probe(setting, seed, gen.device, survives)
    if probe is not None:
        result = halving(probe, g0, tau)
        info.update(n_probes=result.n_probes, exact_iterations=probe.exact_iterations,
                    matrix_probes=probe.matrix_probes)  # fmt: skip
        return result.gamma
    result = halving(survives, g0, tau)
    info["n_probes"] = result.n_probes
    if fang is not None:
        info["rows_scored"] = fang.scored  # leave-one-out evaluations, the copies' once per probe
    return result.gamma


class _FangProbe:
    """Whether Fang's defense keeps every copy: its survivors only, no final aggregation (unless a generator
    object is passed, whose draws the final aggregation would advance), the other rows scored only until the
    answer is known, in the order of their LRR at the previous probe (:func:`fedlib.aggregators._fang_defense.
    fang_keeps`), the trimmed-mean leave-one-out aggregates from the benign columns sorted once
    (:mod:`._utils.fang_probe`)."""

    def __init__(self, setting):
        from ._utils.fang_probe import CopiesTrimmedLeaveOneOut, applies

        self.setting = setting
        self.guess = torch.full((setting.n_copies + setting.benign.shape[0],), math.nan, dtype=torch.float64)
        self.scored = 0
        base, base_options = setting.agg_opts.get("base", "trimmed_mean"), setting.agg_opts.get("base_options")
        fits = applies(setting.benign, setting.f_sim, base, dict(base_options or {}))
        self.sorted = CopiesTrimmedLeaveOneOut(setting.benign, setting.n_copies, setting.f_sim) if fits else None

    def __call__(self, gamma: float) -> bool:
        from ..aggregators._fang_defense import fang_keeps

        s = self.setting
        rows = s.stacked(gamma)
        shortcut = None if self.sorted is None else self.sorted.of(rows[0], rows)
        kept, scores = fang_keeps(rows, s.f_sim, s.n_copies, guess=self.guess, shortcut=shortcut, variant=s.variant,
                                  **s.agg_opts)  # fmt: skip
        for row, (lrr, _) in scores.items():
            self.guess[row] = lrr
        self.scored += len(scores)
        return kept


def _afa_keeps_copies(setting, gamma: float) -> bool:
    """Whether AFA keeps every copy: its filter up to the round that removes one, no final mean (the same
    decision as ``selected``). The benign rows were checked by ``craft``; a copy that is not finite goes to the
    rule, which raises its error."""
    from ..aggregators._afa import afa_keeps

    vector = malicious_vector(setting.mean, gamma, setting.direction)
    if not all_finite(vector):
        return copies_selected(setting.run_rule(gamma).selected, setting.n_copies, False)
    rows, options = setting.stacked(gamma, vector), setting.agg_opts
    return afa_keeps(rows, setting.f_sim, setting.n_copies, variant=setting.variant, check_values=False, **options)


def _dnc_probe(setting, seed: int, device: torch.device, on_matrix) -> DncSurvivalProbe | None:
    """The certified DnC probe (:mod:`._utils.dnc_probe`) for the rule's default scoring (exact SVD,
    intersection) and finite float32/float64 benign rows; None otherwise (each probe then runs the rule). The
    options and sizes are checked first by running the rule once on the first column (the errors the first
    probe raised)."""
    from ..aggregators import aggregate
    from ..aggregators._dnc import N_ITERS, SUBSAMPLE_DIM

    options = setting.agg_opts
    if options.get("svd", "exact") != "exact" or options.get("combine", "intersection") != "intersection":
        return None
    if setting.benign.dtype not in (torch.float32, torch.float64) or not all_finite(setting.benign):
        return None
    tiny = with_copies(setting.mean[:1], setting.n_copies, setting.benign[:, :1])
    aggregate("dnc", tiny, setting.f_sim, variant=setting.variant, generator=seed, **options)
    return DncSurvivalProbe(
        setting.benign,
        setting.mean,
        setting.direction,
        n_copies=setting.n_copies,
        n_remove=math.floor(options.get("filter_frac", 1.0) * setting.f_sim),
        n_iters=options.get("n_iters", N_ITERS),
        subsample_dim=options.get("subsample_dim", SUBSAMPLE_DIM),
        seed=seed,
        device=device,
        on_matrix=on_matrix,
    )
