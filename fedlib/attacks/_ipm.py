r"""Inner-product manipulation, IPM (Xie, Koyejo & Gupta, UAI 2019, "Fall of Empires").

Every malicious client sends :math:`-\varepsilon \cdot \bar g`, with :math:`\bar g` the mean of the benign
updates the adversary knows: for a small ε the aggregate's inner product with the true gradient turns
negative while the malicious rows stay close to the benign ones (they pass distance-based filters).
"""

from __future__ import annotations

import math

import torch

from ..errors import ConfigError
from ._base import Crafted, register
from ._utils.common import check_options, repeat_rows


@register("ipm")
def ipm(
    benign: torch.Tensor,
    n_malicious: int,
    *,
    epsilon: float = 0.1,
    aggregator=None,
    f=None,
    perturbation: str = "std",
    search: str = "halving",
    gamma_init=None,
    tau: float = 1e-5,
    knowledge: str = "full",
    generator=None,
    variant: str = "textbook",
    **options,
) -> Crafted:
    r"""IPM: ``n_malicious`` copies of :math:`-\varepsilon \cdot \frac{1}{k}\sum_{i=1}^{k} x_i` (k known benign rows).

    ``epsilon`` (ε > 0, default 0.1: Xie et al.'s small-ε setting, also used by Karimireddy et al.)
    equals ByzFL 0.0.11's ``InnerProductManipulation(tau)`` (whose default is τ = 2.0). Paper and
    released code agree, so both ``variant`` values run this; the γ-search settings and
    ``aggregator``/``f`` do not apply and are not used. ``info``: ``epsilon``.

    Example:
        >>> import torch
        >>> from fedlib.attacks import craft
        >>> x = torch.tensor([[1.0, 2.0], [3.0, 6.0]])
        >>> craft("ipm", x, 2, epsilon=0.5).updates
        tensor([[-1., -2.],
                [-1., -2.]])
    """
    check_options(options, "ipm")
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not math.isfinite(epsilon) or epsilon <= 0:
        raise ConfigError(f"ipm: epsilon must be a finite number > 0; found {epsilon!r}.")
    vector = benign.mean(dim=0) * (-float(epsilon))
    return Crafted(repeat_rows(vector, n_malicious), None, {"epsilon": float(epsilon)})
