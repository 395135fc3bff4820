"""Coordinate-wise median (Yin et al., ICML 2018)."""

from __future__ import annotations

import torch

from .._checks import reject_options
from ._base import Aggregate, register
from ._common import columnwise, middle_value, prepare


@register("median")
def median(updates: torch.Tensor, f: int = 0, *, variant: str = "textbook", **options) -> Aggregate:
    r"""Coordinate-wise median :math:`\operatorname{med}_i g_{ij}` for every coordinate j.

    ``f`` is accepted for a uniform signature and only checked (>= 0): the median needs no count.

    Variants (spec §3.6, §7.9): ``"textbook"`` averages the two middle values when n is even;
    ``"ndss21"`` returns the *lower* middle value (order statistic (n-1)//2, ``torch.median``), as the
    released code does. Both agree for odd n.

    Example:
        >>> import torch
        >>> from fedlib.aggregators import median
        >>> x = torch.tensor([[0.0], [1.0], [2.0], [100.0]])
        >>> median(x, f=1).vector, median(x, f=1, variant="ndss21").vector
        (tensor([1.5000]), tensor([1.]))
    """
    reject_options(options, "median")
    updates, f = prepare(updates, f, variant, "median")
    if variant == "ndss21" or updates.shape[0] % 2 == 1:
        vector = columnwise(updates, lambda block: block.median(dim=1).values)
    else:
        vector = columnwise(updates, lambda block: middle_value(block.sort(dim=1).values, variant))
    return Aggregate(vector)
