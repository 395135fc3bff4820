"""Coordinate-wise trimmed mean (Yin et al., ICML 2018)."""

from __future__ import annotations

import torch

from .._checks import reject_options
from ._base import Aggregate, register
from ._utils import order
from ._utils.common import columnwise, prepare


def trimmed_mean_min_n(f: int, variant: str = "textbook", options=None) -> int:
    """n > 2f (textbook); the released code also accepts n = 2f (and returns NaN there), and every
    rule needs n > f (so n >= 1 for f = 0)."""
    return max(2 * f, f + 1) if variant == "ndss21" else 2 * f + 1


@register("trimmed_mean", checks_finite=True, min_inputs=trimmed_mean_min_n)
def trimmed_mean(updates: torch.Tensor, f: int, *, variant: str = "textbook", **options) -> Aggregate:
    r"""Coordinate-wise trimmed mean: per coordinate, drop the f largest and f smallest values, average the rest.

    :math:`\operatorname{TrMean}(G)_j = \frac{1}{n-2f}\sum_{k=f+1}^{n-f} g_{(k)j}` with :math:`g_{(k)j}` the
    k-th smallest value of coordinate j (β = f, as the paper's §II-C4 uses it). Ties do not matter: the result depends
    only on the sorted values. ``f = 0`` is the plain mean.

    Needs :math:`n > 2f` (``variant="textbook"``). ``variant="ndss21"`` reproduces the released code,
    which also accepts :math:`n = 2f` and then averages an empty slice: every coordinate is NaN (this is
    the code's behaviour, reproduced on purpose; ``n < 2f`` still raises). Otherwise both variants agree.

    Example:
        >>> import torch
        >>> from fedlib.aggregators import trimmed_mean
        >>> trimmed_mean(torch.tensor([[0.0], [1.0], [2.0], [100.0]]), f=1).vector
        tensor([1.5000])
    """
    reject_options(options, "trimmed_mean")
    formula = "max(2f, f+1)" if variant == "ndss21" else "2f+1"
    updates, f = prepare(updates, f, variant, "trimmed_mean", formula=formula)
    n = updates.shape[0]
    if f == 0:
        return Aggregate(updates.mean(dim=0))
    if n == 2 * f:  # ndss21 only: the mean of an empty slice
        return Aggregate(torch.full_like(updates[0], float("nan")), info={"empty_trim": True})
    if order.supported(updates):  # compiled sorting network on CPU
        return Aggregate(order.sorted_window_mean(updates, f, n - f))
    return Aggregate(trimmed_mean_torch(updates, f))


def trimmed_mean_torch(updates: torch.Tensor, f: int) -> torch.Tensor:
    """Reference implementation with torch's sort (any device and dtype); needs n > 2f."""
    n = updates.shape[0]
    return columnwise(updates, lambda block: block.sort(dim=1).values[:, f : n - f].mean(dim=1))
