"""Nearest-neighbour mixing (Allouah et al., AISTATS 2023, "Fixing by Mixing"), a pre-aggregation for any rule."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from .._checks import check_f, check_matrix, reject_options
from ._base import Aggregate, min_inputs, register
from ._pre import base_options_of, check_base, run_base
from ._utils.common import prepare


def nearest_neighbor_mixing(updates: torch.Tensor, f: int) -> torch.Tensor:
    r"""Replace every row by the mean of its n - f nearest rows (itself included), Allouah et al.'s NNM.

    .. math::

        y_i = \frac{1}{n-f} \sum_{j \in N_i} x_j, \qquad
        N_i = \text{the } n-f \text{ rows closest to } x_i \text{ in } \ell_2.

    Ties at the cut-off are never broken by row position (rows are ordered by role, malicious first):
    the rows tied at the (n-f)-th smallest distance share the remaining weight equally, so the result
    does not depend on the order of the rows. Without ties this is exactly the definition (and ByzFL
    0.0.11's ``NNM``). One n×n distance matrix and one (n, n)·(n, d) product: no (n, n, d) temporary.

    Example:
        >>> import torch
        >>> from fedlib.aggregators import nearest_neighbor_mixing
        >>> x = torch.tensor([[0.0], [1.0], [3.0], [10.0]])
        >>> nearest_neighbor_mixing(x, f=1).flatten()
        tensor([1.3333, 1.3333, 1.3333, 4.6667])
    """
    from . import pairwise_sq_distances  # public building block, looked up at call time

    updates = check_matrix(updates)
    n = updates.shape[0]
    f = check_f(f, n, "nearest_neighbor_mixing")
    k = n - f
    weights = neighbour_weights(pairwise_sq_distances(updates), k)
    return (weights @ updates) / k


def neighbour_weights(distances: torch.Tensor, k: int) -> torch.Tensor:
    """NNM's mixing weights from the (n, n) squared distances: row i has weight 1 on its rows closer than its
    k-th smallest distance and shares the remaining weight equally among the rows tied at that distance (each
    row sums to k; :func:`nearest_neighbor_mixing` divides by k). In the dtype of ``distances``.

    Example:
        >>> import torch
        >>> from fedlib.aggregators._nnm import neighbour_weights
        >>> neighbour_weights(torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 4.0], [1.0, 4.0, 0.0]]), 2)
        tensor([[1.0000, 0.5000, 0.5000],
                [1.0000, 1.0000, 0.0000],
                [1.0000, 0.0000, 1.0000]])
    """
    cutoff = torch.kthvalue(distances, k, dim=1, keepdim=True).values
    closer = distances < cutoff
    tied = distances == cutoff
    closer, tied = closer.to(distances.dtype), tied.to(distances.dtype)
    remaining = k - closer.sum(dim=1, keepdim=True)  # weight left for the rows tied at the cut-off
    return closer + tied * (remaining / tied.sum(dim=1, keepdim=True))


def nnm_min_n(f: int, variant: str = "textbook", options: Mapping[str, object] | None = None) -> int:
    """The base rule runs on n mixed rows with the same f: its own minimum, and n > f for the mixing."""
    options = dict(options or {})
    base = check_base("nnm", options.get("base", "trimmed_mean"))
    return max(f + 1, min_inputs(base, f, variant=variant, **base_options_of(options.get("base_options"))))


@register("nnm", checks_finite=True, min_inputs=nnm_min_n)
def nnm(
    updates: torch.Tensor,
    f: int,
    *,
    variant: str = "textbook",
    base: str = "trimmed_mean",
    base_options: Mapping[str, object] | None = None,
    generator: object = None,
    **options,
) -> Aggregate:
    r"""NNM then ``base``: aggregate :func:`nearest_neighbor_mixing` of the rows with any registered rule.

    The base rule sees the n mixed rows and the same ``f`` (mixing keeps n; Allouah et al. show it turns
    an (f, κ)-robust rule into one with the optimal error under heterogeneity), with the same ``variant``
    and ``base_options``; its size requirement applies unchanged (``min_inputs("nnm", f, base=...)``).
    Default base: ``"trimmed_mean"`` (our choice; Allouah et al. pair NNM with the coordinate-wise
    trimmed mean, median, geometric median, Krum and others). A ``generator`` is passed on to a base that
    draws (DnC). Mixed row i is row i's neighbourhood mean, so ``selected`` (the base's) still names input
    rows. ``info``: ``base_info``, the base rule's info.

    Example:
        >>> import torch
        >>> from fedlib.aggregators import aggregate
        >>> x = torch.tensor([[0.0], [1.0], [2.0], [3.0], [40.0]])
        >>> aggregate("nnm", x, 1, base="krum").vector
        tensor([1.5000])
    """
    reject_options(options, "nnm")
    base_options = base_options_of(base_options)
    check_base("nnm", base)
    updates, f = prepare(
        updates,
        f,
        variant,
        "nnm",
        options={"base": base, "base_options": base_options},
        formula=f"min_inputs({base!r}, f)",
    )
    mixed = nearest_neighbor_mixing(updates, f)
    result = run_base("nnm", mixed, f, variant, base, base_options, generator)
    return Aggregate(result.vector, result.selected, info={"base_info": result.info})
