r"""Fang et al. (USENIX Security 2020) attacks, in the gradient-space port of the NDSS'21 code.

``craft("fang", ..., aggregator=...)`` dispatches on the server's rule:

* **krum, multi_krum, bulyan** (the released code's port; its notebooks say "Fang attacks on Multi-krum and
  Bulyan are the same"): s = sign(μ); every malicious client sends −λ·s. λ starts at the released bound

  .. math:: \lambda_0 = \frac{\min_i \sum_{l \in N_i} \lVert g_i - g_l\rVert}{(k - f - 1)\sqrt d}
            + \frac{\max_i \lVert g_i - \mu\rVert}{\sqrt d},

  N_i the k − 2 − f nearest other known benign rows (non-squared distances), and halves while
  λ > 1e-5 until Krum (the AGR's ``variant``) selects a malicious copy. ``variant="ndss21"`` replaces every
  zero distance by 10,000 before sorting (self-distances *and* duplicated benign rows); the
  textbook variant excludes only the self-distance. Fallback when no λ succeeds
  (``fang_fallback``): ``"benign_mean"`` → μ − λ_final·s (the intended one; textbook default; also the
  FEMNIST notebook's live branch), ``"last_probe"`` → the last tried −2λ_final·s (the CIFAR notebooks'
  behaviour; the book's *Paper code against textbook* chapter; ndss21 default).
* **trimmed_mean, median** (Fang et al.'s attack on them, as the released code ports it): each malicious client and
  coordinate gets an independent uniform draw u. Full knowledge (b = 2, g_max/g_min the benign coordinate max/min):
  where s_j > 0 the value is drawn from [b·g_min, g_min] (g_min < 0) or [g_min/b, g_min]; where s_j ≤ 0 from
  [g_max, b·g_max] (g_max > 0) or [g_max/b, g_max]. Partial knowledge (μ, σ of the own rows, σ unbiased):
  s_j > 0 → [μ − 4σ, μ − 3σ], s_j ≤ 0 → [μ + 3σ, μ + 4σ]. ``variant="ndss21"`` reproduces the released
  direction-mask slip (the book's *Paper code against textbook* chapter, "Fang's trimmed-mean attack: the
  direction-mask slip"): the value is (s_j > 0)·(max-side draw + min-side draw), both with the same u, and 0
  where s_j ≤ 0. Draws come from ``generator`` or from the option ``uniform_draws`` (n_malicious, d) in [0, 1]
  (for parity tests).

Partial knowledge for the Krum family simulates m' copies with f = m' (the released code's partial-knowledge simulation,
``partial_rule``), padded with simulated copies up to Krum's 2f + 3 inputs when the own rows are too few
(``info["padded_copies"]``). The λ probes are decided on the (n, n) distance model with near ties sent to the (n, d)
matrix (:mod:`._utils.krum_probe`): the same decisions as running Krum at every probe.
"""

from __future__ import annotations

import math

import torch

from .._checks import check_choice
from ..errors import ConfigError, InputError
from ..vocabulary import COORDINATE_WISE, KRUM_FAMILY
from ._base import Crafted, register
from ._perturbation import column_std
from ._utils.common import (
    need_generator,
    partial_simulation,
    repeat_rows,
    require_aggregator,
    server_f,
    with_copies,
)
from ._utils.krum_probe import KrumFamilyProbe
from ._utils.quadratic import QuadraticDistances

TARGETS = KRUM_FAMILY + COORDINATE_WISE
LAMBDA_STOP = 1e-5
ZERO_REPLACEMENT_NDSS21 = 10000.0
FALLBACKS = ("benign_mean", "last_probe")


def exact_pairwise_distances(rows: torch.Tensor) -> torch.Tensor:
    """``torch.cdist(rows, rows, compute_mode="donot_use_mm_for_euclid_dist")``, the same floats, at half the cost.

    That kernel reduces each pair (i, j) on its own, in the same order whatever else is in the call, and
    (a − b)² = (b − a)², so every pair above the diagonal is computed once and mirrored; the diagonal is 0.

    Example:
        >>> import torch
        >>> from fedlib.attacks._fang import exact_pairwise_distances
        >>> x = torch.randn(6, 50, generator=torch.Generator().manual_seed(0))
        >>> torch.equal(exact_pairwise_distances(x), torch.cdist(x, x, compute_mode="donot_use_mm_for_euclid_dist"))
        True
    """
    k = rows.shape[0]
    dist = rows.new_zeros(k, k)
    for i in range(k - 1):
        above = torch.cdist(rows[i : i + 1], rows[i + 1 :], compute_mode="donot_use_mm_for_euclid_dist")[0]
        dist[i, i + 1 :] = above
        dist[i + 1 :, i] = above
    return dist


def fang_lambda0(benign: torch.Tensor, f: int, *, variant: str = "textbook") -> float:
    r"""The released starting value λ₀ of the Fang-Krum λ search (module docstring), from the k known benign rows.

    Example:
        >>> import torch
        >>> from fedlib.attacks import fang_lambda0
        >>> x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, 0.5]])
        >>> round(fang_lambda0(x, 1), 4)
        0.8333
    """
    k, d = benign.shape
    if k - f - 1 <= 0 or k - 2 - f < 0:
        raise ConfigError(f"Fang's λ₀ needs k − f − 1 > 0 and k − 2 − f ≥ 0 known benign rows; found k={k}, f={f}.")
    # Exact differences (not the Gram shortcut): duplicated rows must give exactly 0 for the ndss21 rule.
    dist = exact_pairwise_distances(benign)
    if variant == "ndss21":
        dist = torch.where(dist == 0, torch.full_like(dist, ZERO_REPLACEMENT_NDSS21), dist)
    else:
        dist = dist.clone()
        dist.fill_diagonal_(math.inf)
    nearest = torch.sort(dist, dim=1).values[:, : k - 2 - f]
    s_min = nearest.sum(dim=1).min()
    spread = torch.linalg.vector_norm(benign - benign.mean(dim=0), dim=1).max()
    return float(s_min / ((k - f - 1) * math.sqrt(d)) + spread / math.sqrt(d))


def _krum_test(benign, sign, f_sim, n_copies, variant, on_matrix) -> KrumFamilyProbe:
    """λ ↦ Krum picks a copy of −λ·s, decided on the (n, n) model (:mod:`._utils.krum_probe`): the copy-benign
    distances ‖g_i + λs‖² = ‖g_i‖² + 2λ⟨g_i, s⟩ + λ²‖s‖² are a quadratic in λ, the benign-benign ones fixed."""
    from ..aggregators import aggregate, pairwise_sq_distances

    tiny = with_copies(-sign[:1], n_copies, benign[:, :1])  # the rule's own checks, as the first probe did
    aggregate("krum", tiny, f_sim, variant=variant)
    around_origin = QuadraticDistances.around(benign, torch.zeros_like(sign), -sign, pairwise=False)
    model = QuadraticDistances(
        around_origin.a, around_origin.b, around_origin.c, pairwise_sq_distances(benign).to(torch.float64)
    )
    return KrumFamilyProbe(
        model, f=f_sim, n_select=1, variant=variant, n_copies=n_copies, first_only=True, on_matrix=on_matrix
    )


def _fang_krum(benign, n_malicious, *, f_sim, n_copies, variant, fallback, lambda0):
    from ..aggregators import aggregate

    mean = benign.mean(dim=0)
    sign = torch.sign(mean)
    lam0 = fang_lambda0(benign, f_sim, variant=variant) if lambda0 is None else float(lambda0)
    lam, success, probes = lam0, False, 0

    def on_matrix(lam: float) -> bool:  # the rule on the (n, d) matrix: near ties only
        chosen = aggregate("krum", with_copies(-lam * sign, n_copies, benign), f_sim, variant=variant).selected
        assert chosen is not None  # Krum always reports the row it selected
        return int(chosen[0]) < n_copies

    test = None
    while lam > LAMBDA_STOP:
        probes += 1
        if test is None:  # built at the first probe: a λ₀ below the stop needs no model
            test = _krum_test(benign, sign, f_sim, n_copies, variant, on_matrix)
        if test(lam):
            success = True
            break
        lam /= 2.0
    if success:
        vector, used = -lam * sign, lam
    elif fallback == "last_probe":
        vector, used = -(2.0 * lam) * sign, 2.0 * lam
    else:
        vector, used = mean - lam * sign, lam
    info: dict[str, object] = {
        "lambda0": lam0,
        "lambda_final": lam,
        "lambda_used": used,
        "success": success,
        "n_probes": probes,
        "matrix_probes": 0 if test is None else test.matrix_probes,
    }
    return Crafted(repeat_rows(vector, n_malicious), None, info)


def _ranges(benign: torch.Tensor, knowledge: str):
    """(max-side lo, hi), (min-side lo, hi) per coordinate (module docstring)."""
    if knowledge == "partial":
        mean, std = benign.mean(dim=0), column_std(benign)
        return (mean + 3 * std, mean + 4 * std), (mean - 4 * std, mean - 3 * std)
    b = 2.0
    gmax, gmin = benign.max(dim=0).values, benign.min(dim=0).values
    max_side = (torch.where(gmax > 0, gmax, gmax / b), torch.where(gmax > 0, b * gmax, gmax))
    min_side = (torch.where(gmin > 0, gmin / b, b * gmin), gmin)
    return max_side, min_side


def _draws(benign, n_malicious, generator, uniform_draws):
    shape = (n_malicious, benign.shape[1])
    if uniform_draws is not None:
        if not isinstance(uniform_draws, torch.Tensor) or tuple(uniform_draws.shape) != shape:
            is_tensor = isinstance(uniform_draws, torch.Tensor)
            found = tuple(uniform_draws.shape) if is_tensor else type(uniform_draws).__name__
            raise InputError(f"uniform_draws must be a tensor of shape {shape}; found {found}.")
        if not bool(((uniform_draws >= 0) & (uniform_draws <= 1)).all()):
            raise InputError("uniform_draws must lie in [0, 1].")
        return uniform_draws.to(dtype=benign.dtype, device=benign.device)
    generator = need_generator(generator, "fang")
    u = torch.rand(shape, generator=generator, dtype=benign.dtype, device=generator.device)
    return u.to(benign.device)


def _fang_trmean(benign, n_malicious, *, knowledge, variant, generator, uniform_draws):
    if knowledge == "partial" and benign.shape[0] < 2:
        raise ConfigError(f"Fang partial knowledge needs ≥ 2 own rows for the std; found {benign.shape[0]}.")
    sign = torch.sign(benign.mean(dim=0))
    (max_lo, max_hi), (min_lo, min_hi) = _ranges(benign, knowledge)
    u = _draws(benign, n_malicious, generator, uniform_draws)
    max_draw = max_lo + u * (max_hi - max_lo)
    min_draw = min_lo + u * (min_hi - min_lo)
    positive = sign > 0
    if variant == "ndss21":
        updates = positive * (max_draw + min_draw)
    else:
        updates = torch.where(positive, min_draw, max_draw)
    return Crafted(updates, None, {"knowledge": knowledge, "direction_positive": int(positive.sum())})


@register(
    "fang",
    needs=("n_total",),
    targets=TARGETS,
    settings=("aggregator", "f", "knowledge", "generator", "variant"),
    options=("fang_fallback", "lambda0", "partial_rule", "uniform_draws"),
)
def fang(
    benign: torch.Tensor,
    n_malicious: int,
    *,
    aggregator: str | None = None,
    f: int | None = None,
    knowledge: str = "full",
    generator: torch.Generator | None = None,
    variant: str = "textbook",
    fang_fallback: str | None = None,
    lambda0: float | None = None,
    partial_rule: str = "square",
    n_total: int | None = None,
    uniform_draws: torch.Tensor | None = None,
) -> Crafted:
    """Fang's attack on the server's ``aggregator`` (module docstring). It takes none of craft's γ-search
    settings (Fang has its own λ search or random draws).

    Options: ``fang_fallback`` (Krum family), ``lambda0`` (override λ₀), ``partial_rule`` and ``n_total``
    (partial knowledge, Krum family), ``uniform_draws`` (trimmed_mean/median).

    Example:
        >>> import torch
        >>> from fedlib.attacks import craft
        >>> x = torch.randn(20, 5, generator=torch.Generator().manual_seed(0))
        >>> out = craft("fang", x, 4, aggregator="median", generator=torch.Generator().manual_seed(1))
        >>> out.updates.shape
        torch.Size([4, 5])
    """
    target = require_aggregator(aggregator, "fang", TARGETS)
    if target in COORDINATE_WISE:
        return _fang_trmean(
            benign,
            n_malicious,
            knowledge=knowledge,
            variant=variant,
            generator=generator,
            uniform_draws=uniform_draws,
        )
    if fang_fallback is None:
        fang_fallback = "last_probe" if variant == "ndss21" else "benign_mean"
    check_choice(fang_fallback, FALLBACKS, "fang_fallback")
    partial_info: dict[str, object] = {}
    if knowledge == "partial":
        n_copies, f_sim, partial_info = partial_simulation(
            n_malicious,
            benign.shape[0],
            rule="krum",
            variant=variant,
            partial_rule=partial_rule,
            default_rule="square",
            n_total=n_total,
            attack="fang",
        )
    else:
        n_copies, f_sim = n_malicious, server_f(f, n_malicious)
    crafted = _fang_krum(
        benign,
        n_malicious,
        f_sim=f_sim,
        n_copies=n_copies,
        variant=variant,
        fallback=fang_fallback,
        lambda0=lambda0,
    )
    crafted.info.update({"f_simulated": f_sim, "copies_simulated": n_copies, "fallback": fang_fallback, **partial_info})
    return crafted
