"""The no-attack baseline: malicious clients send the benign mean they know."""

from __future__ import annotations

import torch

from ._base import Crafted, register


@register("none")
def none(benign: torch.Tensor, n_malicious: int) -> Crafted:
    """Every malicious client sends the mean of the benign updates it knows (γ = 0).

    With full knowledge this is an honest-looking, harmless update; it keeps n fixed so that the
    no-attack baseline runs the same AGR on the same number of inputs as the attacked runs.
    """
    mean = benign.mean(dim=0, keepdim=True)
    return Crafted(mean.expand(n_malicious, -1).clone(), None, {})
