r"""The paper's AGR-agnostic Min-Max attack (spec §4.8).

``n_malicious`` copies of ∇m = μ + γ·∇p (μ the mean of the known benign rows g_1..g_k) with the largest γ such
that :math:`\max_i \lVert\nabla_m - g_i\rVert^2 \le \max_{i,j}\lVert g_i - g_j\rVert^2`: the malicious update is
no farther from any benign row than the two farthest benign rows are from each other. Searches and knowledge:
:mod:`fedlib.attacks._utils.agnostic`.
"""

from __future__ import annotations

import torch

from ._base import Crafted, register
from ._utils.agnostic import agnostic_attack
from ._utils.common import check_options


@register("min_max")
def min_max(
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
    **options,
) -> Crafted:
    """Min-Max: largest γ with max_i ‖μ + γ∇p − g_i‖² ≤ max_{i,j} ‖g_i − g_j‖² (spec §4.8).

    γ_init defaults to the released 10.0. Both variants agree. Example:

        >>> import torch
        >>> from fedlib.attacks import craft
        >>> x = torch.randn(20, 6, generator=torch.Generator().manual_seed(0))
        >>> out = craft("min_max", x, 4, search="exact")
        >>> out.updates.shape, out.gamma > 0
        (torch.Size([4, 6]), True)
    """
    check_options(options, "min_max")
    return agnostic_attack(
        "min_max",
        benign,
        n_malicious,
        perturbation=perturbation,
        search=search,
        gamma_init=gamma_init,
        tau=tau,
        reference="min",
    )
