"""The no-attack baseline: malicious clients send the benign mean they know."""

from __future__ import annotations

import torch

from .._checks import reject_options
from ._base import Crafted, register


@register("none")
def none(benign: torch.Tensor, n_malicious: int, **kwargs) -> Crafted:
    """Every malicious client sends the mean of the benign updates it knows (γ = 0).

    With full knowledge this is an honest-looking, harmless update; it keeps n fixed so that the
    no-attack baseline runs the same AGR on the same number of inputs as the attacked runs.
    """
    reject_options({k: v for k, v in kwargs.items() if k not in _COMMON}, "attack 'none'")
    mean = benign.mean(dim=0, keepdim=True)
    return Crafted(mean.expand(n_malicious, -1).clone(), None, {})


_COMMON = {"aggregator", "f", "perturbation", "search", "gamma_init", "tau", "knowledge", "generator", "variant"}
