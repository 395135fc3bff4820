"""Bulyan (El Mhamdi et al., ICML 2018): iterative Krum selection, then a coordinate-wise trimmed step."""

from __future__ import annotations

import torch

from .._checks import reject_options
from ._base import Aggregate, register
from ._krum import krum_selection
from ._utils import order
from ._utils.common import columnwise, middle_value, prepare
from ._utils.distances import pairwise_sq_distances


def bulyan_min_n(f: int) -> int:
    """Bulyan needs n >= 4f + 3 inputs."""
    return 4 * f + 3


def mean_nearest_median(rows: torch.Tensor, beta: int, variant: str) -> torch.Tensor:
    r"""Per coordinate j: the mean of the ``beta`` values of ``rows`` (m, d) closest to the coordinate median.

    Ties in :math:`|x - \operatorname{med}_j|` go to the earlier row (as a stable sort orders them), so with
    Bulyan's rows in selection order the result is deterministic. Median per :func:`middle_value` (lower
    median for ``"ndss21"``). Compiled sorting network on CPU, torch elsewhere.

    Example:
        >>> import torch
        >>> from fedlib.aggregators import mean_nearest_median
        >>> mean_nearest_median(torch.tensor([[0.0], [1.0], [3.0], [10.0]]), 2, "textbook")
        tensor([2.])
    """
    if order.supported(rows):
        return order.mean_nearest_median_compiled(rows, beta, variant == "ndss21")
    return mean_nearest_median_torch(rows, beta, variant)


def mean_nearest_median_torch(rows: torch.Tensor, beta: int, variant: str) -> torch.Tensor:
    """Reference implementation with torch's sorts (any device and dtype)."""

    def per_block(block: torch.Tensor) -> torch.Tensor:  # block: (c, m), one coordinate per row
        med = middle_value(block.sort(dim=1).values, variant)
        order = (block - med[:, None]).abs_().sort(dim=1, stable=True).indices[:, :beta]
        return block.gather(1, order).mean(dim=1)

    return columnwise(rows, per_block)


@register("bulyan", checks_finite=True, min_inputs=lambda f, variant, options: bulyan_min_n(f))
def bulyan(updates: torch.Tensor, f: int, *, variant: str = "textbook", **options) -> Aggregate:
    r"""Bulyan: select θ rows by iterative Krum, then average, per coordinate, the β values closest to the median.

    1. :math:`S` = :func:`krum_selection` with ``n_select`` :math:`\theta = n - 2f` (rows in selection order).
    2. For every coordinate j: :math:`\frac1\beta \sum` of the :math:`\beta = |S| - 2f` values
       :math:`g_{ij}, i\in S`, closest to :math:`\operatorname{med}_{i\in S} g_{ij}` (ties: earlier pick).

    Needs :math:`n \ge 4f + 3`. ``selected`` = S in selection order.

    Variants (paper §II-C3; the book's *Paper code against textbook* chapter, "Bulyan: selection that stops early, and
    the lower median"):

    - ``"textbook"``: textbook Krum score; always θ = n − 2f rows, β = n − 4f; median of an even count is
      the mean of the two middle values.
    - ``"ndss21"``: Krum score with the self-distance; the released loop stops as soon as
      :math:`|R| - f - 2 \le 0`, so with ``f <= 1`` only :math:`\min(\theta, n - f - 2)` rows are selected
      (f = 1: n − 3 rows, β = n − 5) and β is computed from the rows actually selected; the median is the
      lower median (``torch.median``).

    Example:
        >>> import torch
        >>> from fedlib.aggregators import bulyan
        >>> x = torch.tensor([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0], [90.0]])
        >>> out = bulyan(x, f=1)
        >>> out.selected, out.vector
        (tensor([2, 3, 1, 4, 0]), tensor([2.]))
    """
    reject_options(options, "bulyan")
    updates, f = prepare(updates, f, variant, "bulyan", formula="4f+3")
    n = updates.shape[0]
    selected = krum_selection(pairwise_sq_distances(updates), f, n - 2 * f, variant=variant)
    beta = selected.numel() - 2 * f
    if order.supported(updates):  # the kernel reads the selected rows in place
        vector = order.mean_nearest_median_compiled(updates, beta, variant == "ndss21", rows=selected)
    else:
        vector = mean_nearest_median_torch(updates.index_select(0, selected), beta, variant)
    return Aggregate(vector, selected, info={"beta": beta})
