"""Pairwise squared Euclidean distances from one Gram matrix (the only (n, d) pass Krum-type rules need)."""

from __future__ import annotations

import torch

from .._checks import check_matrix


def _block_columns(n: int, is_cuda: bool) -> int:
    budget = (1 << 26) if is_cuda else (1 << 20)  # float64 values per block
    return max(1, budget // max(1, n))


def pairwise_sq_distances(x: torch.Tensor) -> torch.Tensor:
    r"""Squared Euclidean distances :math:`D_{ij} = \lVert x_i - x_j \rVert^2` of the rows of ``x``.

    Computed from one Gram matrix, :math:`D = s\mathbf 1^\top + \mathbf 1 s^\top - 2\,YY^\top` with
    :math:`Y = X - \mathbf 1 x_0^\top` (rows shifted by the first row) and :math:`s = \operatorname{diag}(YY^\top)`:
    one matrix product, no (n, n, d) temporary. Precision choices, because the Gram trick cancels badly
    when rows share a large common part (d in the millions, float32):

    - the shift by a data row removes any common offset (distances do not depend on it) and keeps exactly
      representable inputs exact (integers, duplicated rows: exact ties stay exact ties);
    - the product is accumulated in float64 over column blocks (bounded extra memory), then cast back to
      ``x``'s dtype;
    - the result is symmetrised exactly, clamped at 0 and has an exact zero diagonal.

    Args:
        x: floating tensor (n, d) on any device.

    Returns:
        Tensor (n, n), same dtype and device as ``x``.

    Example:
        >>> import torch
        >>> from fedlib.aggregators import pairwise_sq_distances
        >>> pairwise_sq_distances(torch.tensor([[0.0, 0.0], [3.0, 4.0]]))
        tensor([[ 0., 25.],
                [25.,  0.]])
    """
    x = check_matrix(x, "x")
    n, d = x.shape
    gram = torch.zeros(n, n, dtype=torch.float64, device=x.device)
    step = _block_columns(n, x.is_cuda)
    for start in range(0, d, step):
        block = x[:, start : start + step].to(torch.float64)
        block = block - block[:1]
        gram.addmm_(block, block.T)
    sq_norms = gram.diagonal()
    dist = sq_norms[:, None] + sq_norms[None, :] - 2.0 * gram
    dist = 0.5 * (dist + dist.T)  # exact symmetry: mutual-neighbour ties must tie exactly
    dist.clamp_min_(0.0)
    dist.fill_diagonal_(0.0)
    return dist.to(x.dtype)
