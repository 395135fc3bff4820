"""FedSGD's plain coordinate-wise mean (the non-robust baseline)."""

from __future__ import annotations

import torch

from .._checks import all_finite, check_finite, reject_options
from ._base import Aggregate, register
from ._utils.common import prepare


@register("mean", checks_finite=True)
def mean(updates: torch.Tensor, f: int = 0, *, variant: str = "textbook", **options) -> Aggregate:
    r"""Coordinate-wise mean :math:`\frac1n\sum_i g_i`. ``f`` is validated (0 <= f < n) but unused: the
    mean assumes nothing about attackers, and both variants agree.

    Example:
        >>> import torch
        >>> from fedlib.aggregators import mean
        >>> mean(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), f=0).vector
        tensor([2., 3.])
    """
    reject_options(options, "mean")
    updates, f = prepare(updates, f, variant, "mean", check_values=False)
    vector = updates.mean(dim=0)
    # NaN/Inf entries always reach a column mean, so a finite mean proves finite input: one pass, not two.
    if not all_finite(vector):
        check_finite(updates)  # names the bad rows; finite rows whose sum overflows pass and give ±inf
    return Aggregate(vector)
