r"""Inner-product manipulation, IPM (Xie, Koyejo & Gupta, UAI 2019, "Fall of Empires").

Every malicious client sends :math:`-\varepsilon \cdot \bar g`, with :math:`\bar g` the mean of the benign
updates the adversary knows: for a small ε the aggregate's inner product with the true gradient turns
negative while the malicious rows stay close to the benign ones (they pass distance-based filters).
"""

from __future__ import annotations

import torch

from ._base import Crafted, register
from ._utils.common import check_positive, repeat_rows


@register("ipm", options=("epsilon",))
def ipm(benign: torch.Tensor, n_malicious: int, *, epsilon: float = 0.1) -> Crafted:
    r"""IPM: ``n_malicious`` copies of :math:`-\varepsilon \cdot \frac{1}{k}\sum_{i=1}^{k} x_i` (k known benign rows).

    ``epsilon`` (ε > 0, default 0.1: Xie et al.'s small-ε setting, also used by Karimireddy et al.)
    equals ByzFL 0.0.11's ``InnerProductManipulation(tau)`` (whose default is τ = 2.0). Paper and
    released code agree, so both ``variant`` values run this; it takes none of craft's shared settings.
    ``info``: ``epsilon``.

    Example:
        >>> import torch
        >>> from fedlib.attacks import craft
        >>> x = torch.tensor([[1.0, 2.0], [3.0, 6.0]])
        >>> craft("ipm", x, 2, epsilon=0.5).updates
        tensor([[-1., -2.],
                [-1., -2.]])
    """
    epsilon = check_positive(epsilon, "ipm: epsilon")
    return Crafted(repeat_rows(benign.mean(dim=0) * (-epsilon), n_malicious), None, {"epsilon": epsilon})
