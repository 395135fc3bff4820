"""Coordinate-wise median (Yin et al., ICML 2018)."""

from __future__ import annotations

import torch

from .._checks import reject_options
from ._base import Aggregate, register
from ._utils import order
from ._utils.common import columnwise, middle_value, prepare


@register("median", checks_finite=True)
def median(updates: torch.Tensor, f: int = 0, *, variant: str = "textbook", **options) -> Aggregate:
    r"""Coordinate-wise median :math:`\operatorname{med}_i g_{ij}` for every coordinate j.

    ``f`` is accepted for a uniform signature and only checked (>= 0): the median needs no count.

    Variants (paper §II-C5; the book's *Paper code against textbook* chapter, "Median: the lower middle value"):
    ``"textbook"`` averages the two middle values when n is even; ``"ndss21"`` returns the *lower* middle value (order
    statistic (n-1)//2, ``torch.median``), as the released code does. Both agree for odd n.

    Example:
        >>> import torch
        >>> from fedlib.aggregators import median
        >>> x = torch.tensor([[0.0], [1.0], [2.0], [100.0]])
        >>> median(x, f=1).vector, median(x, f=1, variant="ndss21").vector
        (tensor([1.5000]), tensor([1.]))
    """
    reject_options(options, "median")
    updates, f = prepare(updates, f, variant, "median")
    return Aggregate(median_values(updates, variant))


def median_values(updates: torch.Tensor, variant: str) -> torch.Tensor:
    """The coordinate-wise median vector: compiled sorting network on CPU, torch on other devices."""
    n = updates.shape[0]
    lower = variant == "ndss21" or n % 2 == 1
    if order.supported(updates):
        return order.sorted_window_mean(updates, (n - 1) // 2, (n - 1) // 2 + 1 if lower else n // 2 + 1)
    return median_torch(updates, variant)


def median_torch(updates: torch.Tensor, variant: str) -> torch.Tensor:
    """Reference implementation with torch's median/sort (any device and dtype)."""
    if variant == "ndss21" or updates.shape[0] % 2 == 1:
        return columnwise(updates, lambda block: block.median(dim=1).values)
    return columnwise(updates, lambda block: middle_value(block.sort(dim=1).values, variant))
