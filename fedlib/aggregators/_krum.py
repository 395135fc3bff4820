"""Krum (Blanchard et al., NeurIPS 2017) and the iterative Krum selection shared by Multi-krum and Bulyan."""

from __future__ import annotations

import numpy as np
import torch

from .._checks import check_choice, check_int, reject_options
from .._compiled import numba
from .._krum_kernel import krum_step, neighbours_summed, sorted_rows
from ._base import VARIANTS, Aggregate, register
from ._utils.common import prepare
from ._utils.distances import pairwise_sq_distances


def _check_dist(dist: torch.Tensor) -> torch.Tensor:
    from ..errors import InputError

    if not isinstance(dist, torch.Tensor) or dist.dim() != 2 or dist.shape[0] != dist.shape[1]:
        found = tuple(dist.shape) if isinstance(dist, torch.Tensor) else type(dist).__name__
        raise InputError(f"dist must be a square (n, n) distance matrix; found {found}.")
    return dist


def krum_scores(dist: torch.Tensor, f: int, *, variant: str = "textbook") -> torch.Tensor:
    r"""Krum score of every row from the (n, n) matrix of squared distances.

    - ``variant="textbook"`` (Blanchard et al.): :math:`s_i = \sum_{j \in N_i} D_{ij}`, the sum over the
      :math:`k = n - f - 2` nearest *other* rows. :math:`k` is clamped to :math:`[1, n-1]`: Krum is only
      defined for :math:`n \ge 2f + 3`, but Bulyan's recursion calls it on smaller sets, where we keep the
      nearest neighbour rather than let every row tie at 0.
    - ``variant="ndss21"`` (released code; the book's *Paper code against textbook* chapter, "Krum counts one
      neighbour fewer"): row :math:`i` of :math:`D` is sorted *including its zero self-distance* and the first
      :math:`n - f - 2` entries are summed, i.e. one neighbour fewer than textbook. For :math:`n - f - 2 \le 0`
      the sum is empty and every score is 0.

    Args:
        dist: squared distances (n, n) with zero diagonal, e.g. from :func:`pairwise_sq_distances`.
        f: number of malicious rows assumed.
        variant: ``"textbook"`` or ``"ndss21"``.

    Returns:
        Tensor (n,) of scores (lower is better), dtype and device of ``dist``.

    Example:
        >>> import torch
        >>> from fedlib.aggregators import krum_scores, pairwise_sq_distances
        >>> x = torch.tensor([[0.0], [1.0], [2.0], [3.0], [10.0], [10.5]])
        >>> krum_scores(pairwise_sq_distances(x), f=1)
        tensor([ 14.0000,   6.0000,   6.0000,  14.0000, 113.2500, 128.7500])
    """
    check_choice(variant, VARIANTS, "variant")
    dist = _check_dist(dist)
    f = check_int(f, "f", minimum=0)
    n = dist.shape[0]
    ordered = dist.sort(dim=1).values  # ordered[:, 0] is the zero self-distance
    if variant == "ndss21":
        k = max(n - f - 2, 0)
        return ordered[:, :k].sum(dim=1)
    k = min(max(n - f - 2, 1), n - 1)
    return ordered[:, 1 : k + 1].sum(dim=1)


def krum_selection(dist: torch.Tensor, f: int, n_select: int, *, variant: str = "textbook") -> torch.Tensor:
    r"""Iterative Krum: pick the Krum winner, remove it, recompute the scores on the remaining rows, repeat.

    Works on the (n, n) distance matrix only (the rows are never re-read). Scores on the remaining set
    :math:`R` use :math:`n := |R|` (see :func:`krum_scores`). Ties go to the lowest original index
    (``argmin`` on rows kept in ascending order), as the released code does on CPU. Each row is sorted
    once; every step then walks the sorted rows skipping removed entries (compiled), with scores summed
    in float64 — the same selection as recomputing :func:`krum_scores` on the remaining rows (tested).

    ``variant="ndss21"`` also reproduces the released code's early stop (the book's *Paper code against textbook*
    chapter, "Bulyan: selection that stops early"): the loop ends as soon as :math:`|R| - f - 2 \le 0`, so fewer than
    ``n_select`` rows can come back (Bulyan with ``f <= 1``). ``variant="textbook"`` always returns ``n_select`` rows.

    Args:
        dist: squared distances (n, n).
        f: number of malicious rows assumed.
        n_select: how many rows to pick, 0 <= n_select <= n.
        variant: ``"textbook"`` or ``"ndss21"``.

    Returns:
        LongTensor of original row indices in selection order, on ``dist``'s device.

    Example:
        >>> import torch
        >>> from fedlib.aggregators import krum_selection, pairwise_sq_distances
        >>> x = torch.tensor([[0.0], [1.0], [2.0], [3.0], [10.0], [10.5]])
        >>> krum_selection(pairwise_sq_distances(x), f=1, n_select=2)
        tensor([1, 2])
    """
    check_choice(variant, VARIANTS, "variant")
    dist = _check_dist(dist)
    f = check_int(f, "f", minimum=0)
    n = dist.shape[0]
    n_select = check_int(n_select, "n_select", minimum=0, maximum=n)
    values, order = sorted_rows(dist)
    chosen = _iterative_krum(values, order, f, n_select, variant == "ndss21")
    return torch.from_numpy(chosen).to(dist.device)


@numba.njit(cache=True)
def _iterative_krum(values, order, f, n_select, ndss21):
    """Iterative Krum on rows pre-sorted once (:mod:`fedlib._krum_kernel`): pick, remove, repeat."""
    n = values.shape[0]
    removed = np.zeros(n, dtype=np.bool_)
    scores = np.empty(n)
    chosen = np.empty(n_select, dtype=np.int64)
    count = 0
    for _ in range(n_select):
        need = neighbours_summed(n - count, f, ndss21)
        if need < 0:
            break
        best = krum_step(values, order, removed, need, scores)
        chosen[count] = best
        count += 1
        removed[best] = True
    return chosen[:count]


def krum_min_n(f: int) -> int:
    """Krum and Multi-krum need n >= 2f + 3 inputs."""
    return 2 * f + 3


@register("krum", checks_finite=True, min_inputs=lambda f, variant, options: krum_min_n(f))
def krum(updates: torch.Tensor, f: int, *, variant: str = "textbook", **options) -> Aggregate:
    r"""Krum: return the single update with the lowest Krum score (Blanchard et al. 2017).

    :math:`i^* = \arg\min_i \sum_{j \in N_i} \lVert g_i - g_j \rVert^2` over the nearest neighbours
    :math:`N_i` (see :func:`krum_scores`); output :math:`g_{i^*}`, ``selected = [i*]``. Needs
    :math:`n \ge 2f + 3`.

    Variants (paper §II-C1; the paper-code chapter, "Krum counts one neighbour fewer"): ``"textbook"`` sums the
    :math:`n-f-2` nearest *other* updates; ``"ndss21"`` sums the first :math:`n-f-2` entries of the sorted row
    *including* the zero self-distance (one neighbour fewer). Ties: lowest index (the released code's CPU behaviour,
    where identical malicious copies come first).

    Example:
        >>> import torch
        >>> from fedlib.aggregators import krum
        >>> x = torch.tensor([[0.0], [1.0], [2.0], [3.0], [10.0], [10.5]])
        >>> out = krum(x, f=1)
        >>> out.vector, out.selected
        (tensor([1.]), tensor([1]))
    """
    reject_options(options, "krum")
    updates, f = prepare(updates, f, variant, "krum", formula="2f+3")
    dist = pairwise_sq_distances(updates)
    scores = krum_scores(dist, f, variant=variant)
    winner = torch.argmin(scores).reshape(1)
    return Aggregate(updates[winner[0]].clone(), winner, info={"scores": scores})
