"""Small two-dimensional examples for the teaching chapters (tiny, seeded, CPU-only)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch

from fedlib import aggregators


def point_cloud(
    n_benign: int = 16,
    n_malicious: int = 4,
    *,
    shift: Sequence[float] = (6.0, 6.0),
    spread: float = 0.5,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """A 2-D cloud: ``n_malicious`` rows first, placed around ``shift``, then Gaussian benign rows.

    The benign rows are N((1, 1), I); the malicious rows are N(shift, spread²·I), so the attackers form
    a tight cluster that pulls the mean away from the honest points.

    Example:
        >>> x = point_cloud(8, 2, seed=1)
        >>> tuple(x.shape)
        (10, 2)
    """
    g = torch.Generator().manual_seed(seed)
    benign = torch.randn(n_benign, 2, generator=g, dtype=dtype) + 1.0
    centre = torch.tensor(shift, dtype=dtype)
    malicious = centre + spread * torch.randn(n_malicious, 2, generator=g, dtype=dtype)
    return torch.cat([malicious, benign])


def aggregate_all(
    points: torch.Tensor, f: int, rules: Sequence[str] | None = None, *, variant: str = "textbook", seed: int = 0
) -> pd.DataFrame:
    """Run every rule on ``points`` (rows = clients) and tabulate each output and what it selected.

    Rules that need a model to score updates (``fang``) are skipped by default because a point cloud has
    no model; pass ``rules`` explicitly to choose.
    """
    rules = [r for r in aggregators.names() if r != "fang_defense"] if rules is None else list(rules)
    rows = []
    for name in rules:
        options = {"generator": torch.Generator().manual_seed(seed)} if name == "dnc" else {}
        out = aggregators.aggregate(name, points, f, variant=variant, **options)
        selected = [] if out.selected is None else out.selected.tolist()
        rows.append(
            {
                "rule": name,
                "x": float(out.vector[0]),
                "y": float(out.vector[1]),
                "n_selected": len(selected) if out.selected is not None else None,
                "malicious_selected": sum(i < f for i in selected) if out.selected is not None else None,
            }
        )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------------
# How the attacks find γ (teaching chapter "How the attacks find γ")


def gaussian_updates(n: int = 20, d: int = 50, *, seed: int = 0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``n`` benign "gradients" in ``d`` dimensions: a shared mean direction plus independent noise.

    Rows are N(μ, I) with μ = (1, …, 1)·0.5, a crude stand-in for a round of honest gradients (they agree
    on a direction and disagree by noise).

    Example:
        >>> tuple(gaussian_updates(5, 3).shape)
        (5, 3)
    """
    g = torch.Generator().manual_seed(seed)
    return 0.5 + torch.randn(n, d, generator=g, dtype=dtype)


def _sq_dist(rows: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
    return ((rows - vector) ** 2).sum(dim=1)


def agnostic_curves(benign: torch.Tensor, gammas: Sequence[float], *, perturbation: str = "std") -> pd.DataFrame:
    r"""The Min-Max and Min-Sum constraints of ∇m = μ + γ∇p, evaluated on a grid of γ.

    Columns: ``gamma``, ``attack``, ``value`` (Min-Max: max_i ‖∇m − g_i‖²; Min-Sum: Σ_i ‖∇m − g_i‖²) and
    ``threshold`` (Min-Max: max_{i,j} ‖g_i − g_j‖²; Min-Sum: min_j Σ_i ‖g_j − g_i‖²). The attack's γ is
    the largest γ with value ≤ threshold (spec §4.8).
    """
    from fedlib.attacks import perturbation as make_perturbation

    mu = benign.mean(dim=0)
    direction = make_perturbation(perturbation, benign)
    pair = torch.cdist(benign, benign) ** 2
    thresholds = {"min_max": float(pair.max()), "min_sum": float(pair.sum(dim=1).min())}
    rows = []
    for gamma in gammas:
        dist = _sq_dist(benign, mu + float(gamma) * direction)
        rows.append({"gamma": float(gamma), "attack": "min_max", "value": float(dist.max()),
                     "threshold": thresholds["min_max"]})
        rows.append({"gamma": float(gamma), "attack": "min_sum", "value": float(dist.sum()),
                     "threshold": thresholds["min_sum"]})
    return pd.DataFrame(rows)


def tailored_curves(
    benign: torch.Tensor,
    n_malicious: int,
    gammas: Sequence[float],
    *,
    rules: Sequence[str] = ("krum", "multi_krum", "trimmed_mean", "median"),
    perturbation: str = "std",
    variant: str = "textbook",
) -> pd.DataFrame:
    r"""What an AGR-tailored attacker looks at for each γ: the objective ‖AGR(malicious ∪ benign) − μ‖₂ and,
    for selection rules, how many malicious copies the rule selects.

    The malicious copies ∇m = μ + γ∇p come first (rows 0 … m−1); the server assumes f = m.
    """
    from fedlib.attacks import perturbation as make_perturbation

    mu = benign.mean(dim=0)
    direction = make_perturbation(perturbation, benign)
    rows = []
    for gamma in gammas:
        mal = (mu + float(gamma) * direction).expand(n_malicious, -1)
        stacked = torch.cat([mal, benign])
        for rule in rules:
            out = aggregators.aggregate(rule, stacked, n_malicious, variant=variant)
            selected = None if out.selected is None else int((out.selected < n_malicious).sum())
            rows.append({"gamma": float(gamma), "rule": rule,
                         "deviation": float(torch.linalg.vector_norm(out.vector - mu)),
                         "malicious_selected": selected,
                         "n_selected": None if out.selected is None else int(out.selected.numel())})
    return pd.DataFrame(rows)


def halving_trace(success, gamma_init: float, tau: float = 1e-5) -> pd.DataFrame:
    """Every probe of the paper's halving search (Algorithm 1, :func:`fedlib.attacks.halving_search`).

    ``success(γ) -> bool`` is the attack's acceptance test. Returns one row per probe: ``probe``, ``gamma``,
    ``success`` and ``best`` (the largest successful γ so far, the search's answer when it stops).
    """
    from fedlib.attacks import halving_search as halving  # the search itself, traced probe by probe

    probes: list[dict] = []
    best = [0.0]

    def recorded(gamma: float) -> bool:
        ok = bool(success(gamma))
        if ok:
            best[0] = gamma
        probes.append({"probe": len(probes) + 1, "gamma": gamma, "success": ok, "best": best[0]})
        return ok

    result = halving(recorded, gamma_init, tau)
    if probes and probes[-1]["best"] != result.gamma:
        raise RuntimeError("halving_trace lost track of the search's answer")  # guards the wrapper itself
    return pd.DataFrame(probes)


def agnostic_success(benign: torch.Tensor, attack: str, *, perturbation: str = "std"):
    """The acceptance test of Min-Max / Min-Sum as a function of γ (for :func:`halving_trace`)."""
    curves_at = lambda g: agnostic_curves(benign, [g], perturbation=perturbation)  # noqa: E731

    def success(gamma: float) -> bool:
        row = curves_at(gamma).set_index("attack").loc[attack]
        return bool(row.value <= row.threshold)

    return success


# ---------------------------------------------------------------------------------------------------------
# Paper code against textbook (teaching chapter)


def small_integer_updates(n: int, d: int, *, seed: int, low: int = -5, high: int = 5) -> torch.Tensor:
    """An (n, d) float64 matrix of small integers (readable in a table), seeded."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(low, high + 1, (n, d), generator=g).to(torch.float64)


def _same(a: torch.Tensor | None, b: torch.Tensor | None, atol: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and bool(torch.allclose(a.to(torch.float64), b.to(torch.float64), atol=atol, rtol=0))


def rule_variant_difference(
    rule: str, *, n: int, f: int, d: int = 2, seeds: Sequence[int] = range(1000), atol: float = 1e-9, **options
) -> dict:
    """The first seeded small-integer input on which ``rule``'s textbook and ndss21 variants disagree.

    Returns a dict with ``seed``, ``updates`` and, per variant, the output ``vector`` and ``selected`` rows.
    Raises ValueError if no seed in ``seeds`` shows a difference (then the variants agree on such inputs).
    """
    for seed in seeds:
        x = small_integer_updates(n, d, seed=seed)
        out = {v: aggregators.aggregate(rule, x, f, variant=v, **options) for v in ("textbook", "ndss21")}
        t, c = out["textbook"], out["ndss21"]
        if not (_same(t.vector, c.vector, atol) and _same(t.selected, c.selected, 0)):
            return {"rule": rule, "seed": seed, "f": f, "updates": x,
                    "textbook": t, "ndss21": c}
    raise ValueError(f"{rule}: textbook and ndss21 agree on every input tried (n={n}, f={f}, d={d}, "
                     f"{len(seeds)} seeds)")


def variant_table(example: dict) -> pd.DataFrame:
    """Both variants' outputs of a :func:`rule_variant_difference` example, one row per variant."""
    rows = []
    for v in ("textbook", "ndss21"):
        out = example[v]
        rows.append({"variant": v, "output": [round(float(x), 4) for x in out.vector],
                     "selected rows": None if out.selected is None else out.selected.tolist()})
    return pd.DataFrame(rows).set_index("variant")


def attack_variant_table(name: str, benign: torch.Tensor, n_malicious: int, *, seed: int = 0, **kwargs) -> pd.DataFrame:
    """Craft ``name`` under both variants (same inputs, same seed) and show the first malicious update and γ."""
    from fedlib import attacks

    rows = []
    for v in ("textbook", "ndss21"):
        out = attacks.craft(name, benign, n_malicious, variant=v,
                            generator=torch.Generator().manual_seed(seed), **kwargs)
        rows.append({"variant": v, "first malicious update": [round(float(x), 4) for x in out.updates[0]],
                     "gamma": None if out.gamma is None else round(float(out.gamma), 4)})
    return pd.DataFrame(rows).set_index("variant")
