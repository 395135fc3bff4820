r"""The paper's AGR-agnostic attacks Min-Max and Min-Sum (paper §IV-C), one module for the two.

Both send ``n_malicious`` copies of ∇m = μ + γ·∇p (μ the mean of the known benign rows g_1..g_k) with the largest
γ that keeps ∇m inside the benign "clique":

* **Min-Max**: :math:`\max_i \lVert\nabla_m - g_i\rVert^2 \le \max_{i,j}\lVert g_i - g_j\rVert^2`: the malicious
  update is no farther from any benign row than the two farthest benign rows are from each other;
* **Min-Sum**: :math:`\sum_i \lVert\nabla_m - g_i\rVert^2 \le \min_j \sum_i \lVert g_j - g_i\rVert^2` (the
  released code's minimum over j; ``min_sum_reference="max"`` uses the maximum instead).

The search they share (the paper's Algorithm 1, or the closed form) is :mod:`fedlib.attacks._utils.agnostic`.
Both knowledge settings use the same formulas on whatever rows ``benign`` holds; the adversary does not know the
rule, so ``aggregator`` and ``f`` do not apply, and n_malicious only sets the number of copies.
"""

from __future__ import annotations

import torch

from .._checks import check_choice
from ._base import Crafted, register
from ._utils.agnostic import agnostic_attack

#: The shared settings of :func:`fedlib.attacks.craft` the γ searches use (both variants agree; the adversary
#: does not know the rule, so ``aggregator`` and ``f`` do not apply).
SEARCH_SETTINGS = ("perturbation", "search", "gamma_init", "tau")


@register("min_max", settings=SEARCH_SETTINGS)
def min_max(
    benign: torch.Tensor,
    n_malicious: int,
    *,
    perturbation: str = "std",
    search: str = "halving",
    gamma_init: float | None = None,
    tau: float = 1e-5,
) -> Crafted:
    """Min-Max: largest γ with max_i ‖μ + γ∇p − g_i‖² ≤ max_{i,j} ‖g_i − g_j‖² (paper §IV-C).

    γ_init defaults to the released 10.0. Both variants agree. Example:

        >>> import torch
        >>> from fedlib.attacks import craft
        >>> x = torch.randn(20, 6, generator=torch.Generator().manual_seed(0))
        >>> out = craft("min_max", x, 4, search="exact")
        >>> out.updates.shape, out.gamma > 0
        (torch.Size([4, 6]), True)
    """
    return agnostic_attack("min_max", benign, n_malicious, perturbation=perturbation, search=search,
                           gamma_init=gamma_init, tau=tau, reference="min")  # fmt: skip


@register("min_sum", settings=SEARCH_SETTINGS, options=("min_sum_reference",))
def min_sum(
    benign: torch.Tensor,
    n_malicious: int,
    *,
    perturbation: str = "std",
    search: str = "halving",
    gamma_init: float | None = None,
    tau: float = 1e-5,
    min_sum_reference: str = "min",
) -> Crafted:
    """Min-Sum: largest γ with Σ_i ‖μ + γ∇p − g_i‖² ≤ min_j Σ_i ‖g_j − g_i‖² (paper §IV-C).

    ``min_sum_reference="max"`` compares with the largest benign sum instead (a looser reading of the
    paper; the released code uses the minimum). γ_init defaults to the released 10.0. Example:

        >>> import torch
        >>> from fedlib.attacks import craft
        >>> x = torch.randn(20, 6, generator=torch.Generator().manual_seed(0))
        >>> craft("min_sum", x, 4, search="exact").gamma > 0
        True
    """
    check_choice(min_sum_reference, ("min", "max"), "min_sum_reference")
    return agnostic_attack("min_sum", benign, n_malicious, perturbation=perturbation, search=search,
                           gamma_init=gamma_init, tau=tau, reference=min_sum_reference)  # fmt: skip
