r"""The paper's AGR-agnostic Min-Sum attack (spec §4.8).

``n_malicious`` copies of ∇m = μ + γ·∇p (μ the mean of the known benign rows g_1..g_k) with the largest γ such
that :math:`\sum_i \lVert\nabla_m - g_i\rVert^2 \le \min_j \sum_i \lVert g_j - g_i\rVert^2` (the released
code's minimum over j; ``min_sum_reference="max"`` uses the maximum instead). Searches and knowledge:
:mod:`fedlib.attacks._utils.agnostic`.
"""

from __future__ import annotations

import torch

from .._checks import check_choice
from ._base import Crafted, register
from ._utils.agnostic import agnostic_attack
from ._utils.common import check_options


@register("min_sum")
def min_sum(
    benign: torch.Tensor,
    n_malicious: int,
    *,
    perturbation: str = "std",
    search: str = "halving",
    gamma_init=None,
    tau: float = 1e-5,
    aggregator=None,
    f=None,
    knowledge: str = "full",
    generator=None,
    variant: str = "textbook",
    min_sum_reference: str = "min",
    **options,
) -> Crafted:
    """Min-Sum: largest γ with Σ_i ‖μ + γ∇p − g_i‖² ≤ min_j Σ_i ‖g_j − g_i‖² (spec §4.8).

    ``min_sum_reference="max"`` compares with the largest benign sum instead (a looser reading of the
    paper; the released code uses the minimum). γ_init defaults to the released 10.0. Example:

        >>> import torch
        >>> from fedlib.attacks import craft
        >>> x = torch.randn(20, 6, generator=torch.Generator().manual_seed(0))
        >>> craft("min_sum", x, 4, search="exact").gamma > 0
        True
    """
    check_options(options, "min_sum")
    check_choice(min_sum_reference, ("min", "max"), "min_sum_reference")
    return agnostic_attack(
        "min_sum",
        benign,
        n_malicious,
        perturbation=perturbation,
        search=search,
        gamma_init=gamma_init,
        tau=tau,
        reference=min_sum_reference,
    )
