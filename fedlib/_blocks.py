"""Column blocks for Gram products run in the input dtype and accumulated in float64, and exact ties for
identical rows whatever the BLAS.

One float32 reduction over millions of columns loses ~1e-4 relative accuracy; summing per-block results
(each over at most ``BLOCK`` columns) in float64 keeps the error at the level of one block's float32 sum
(~1e-5 relative at worst in the tests), while the products run at the input dtype's GEMM speed. Blocks
also bound the extra memory of a shifted copy to O(n·BLOCK).

A GEMM may round the products of identical rows differently depending on where the rows sit in the
matrix (observed with the AMD EPYC BLAS, not with Intel's): identical malicious copies would then get
slightly different distances and Krum would pick one of them by position. :class:`DuplicateRows` finds
identical rows exactly (integer checksums, then bitwise comparisons: no rounding involved) in O(n·d),
and :func:`distances_from_gram` gives them identical distance rows and columns.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from ._compiled import numba

# Columns per block: large enough for an efficient GEMM, small enough that a float32 block sum stays
# accurate and a shifted (n, BLOCK) copy stays in the low megabytes.
BLOCK = 1 << 14


def column_blocks(d: int, block: int = BLOCK) -> Iterator[slice]:
    """Column slices of at most ``block`` columns."""
    return (slice(start, min(start + block, d)) for start in range(0, d, block))


def row_checksums(block: torch.Tensor) -> torch.Tensor:
    """Per row of a float32/float64 block (n, c): the sum of its bit patterns read as int32, modulo 2**32.

    Integer addition modulo 2**32 is exact and associative, so identical rows get identical checksums
    whatever order a kernel adds in (a float sum gives no such guarantee). Costs ~4 % of the block's
    GEMM at n = 50. Checksums of several blocks add up (modulo 2**32) to the checksum of the whole row.

    Example:
        >>> import torch
        >>> from fedlib._blocks import row_checksums
        >>> x = torch.tensor([[1.0, 2.0], [2.0, 1.0], [1.0, 2.5]])
        >>> c = row_checksums(x)
        >>> bool(c[0] == c[1]), bool(c[0] == c[2])  # equal sums are candidates, not proof
        (True, False)
    """
    return _bits(block, torch.int32).sum(dim=1, dtype=torch.int32)


class DuplicateRows:
    """Finds the rows of ``x`` (n, d) that are identical bit for bit, one column block at a time, so
    that the comparisons read blocks a Gram product has just brought into cache.

    Candidates are rows with equal :func:`row_checksums` over the first block (identical rows always
    agree there; distinct rows almost never do); each candidate is paired with the first row of its
    checksum class and the pair survives only if every block agrees (:meth:`update`, O(pairs·block)).
    :meth:`representatives` then maps each row to the lowest index of an identical row. Distinct rows
    that collide on the checksum are compared in full at the end (O(d) each), so the answer is exact.

    Example:
        >>> import torch
        >>> from fedlib._blocks import DuplicateRows
        >>> x = torch.tensor([[1.0, 2.0], [2.0, 1.0], [1.0, 2.0], [2.0, 1.0]])
        >>> found = DuplicateRows(x, slice(0, 2))
        >>> found.update(x[:, 0:2])
        >>> found.representatives()
        tensor([0, 1, 0, 1])
    """

    def __init__(self, x: torch.Tensor, first_block: slice):
        self.x = x
        self.keys = row_checksums(x[:, first_block]).tolist()
        first_of_class: dict[int, int] = {}
        pairs = [(first_of_class.setdefault(key, i), i) for i, key in enumerate(self.keys)]
        pairs = [(a, b) for a, b in pairs if a != b]
        self.pairs = np.array(pairs, dtype=np.int64).reshape(-1, 2)
        self.alive = np.ones(len(pairs), dtype=np.bool_)

    def update(self, block: torch.Tensor) -> None:
        """Drop the candidate pairs that differ in ``block`` = ``x[:, cols]`` for the next columns ``cols``
        (every column of ``x`` must pass through exactly once)."""
        if not self.alive.any():
            return
        if block.device.type == "cpu" and block.stride(-1) == 1:  # compiled: ~6x faster than torch.equal
            values = block.detach().numpy()
            _drop_differing_pairs(values.view(np.int32 if values.itemsize == 4 else np.int64), self.pairs, self.alive)
            return
        for k, (a, b) in enumerate(self.pairs.tolist()):
            if self.alive[k] and not same_bits(block[a], block[b]):
                self.alive[k] = False

    def representatives(self) -> torch.Tensor | None:
        """``rep[i]`` = lowest index j with ``x[j]`` bit-for-bit equal to ``x[i]`` (after every block went through
        :meth:`update`), or None when no two rows are identical."""
        n = len(self.keys)
        rep = list(range(n))
        for (a, b), alive in zip(self.pairs.tolist(), self.alive.tolist(), strict=True):
            if alive:
                rep[b] = a
        collided = [b for (a, b), alive in zip(self.pairs.tolist(), self.alive.tolist(), strict=True) if not alive]
        for i in collided:  # equal checksums, different from their class's first row: compare in full
            for j in collided:
                if j >= i:
                    break
                if rep[j] == j and self.keys[j] == self.keys[i] and same_bits(self.x[j], self.x[i]):
                    rep[i] = j
                    break
        if rep == list(range(n)):
            return None
        return torch.tensor(rep, dtype=torch.long, device=self.x.device)


def _bits(values: torch.Tensor, as_int: torch.dtype) -> torch.Tensor:
    """The bit patterns of a float tensor as ``as_int`` (a dense copy first if the last axis is strided)."""
    if values.stride(-1) != 1:
        values = torch.empty(values.shape, dtype=values.dtype, device=values.device).copy_(values)
    return values.view(as_int)


_INT_OF_SIZE = {2: torch.int16, 4: torch.int32, 8: torch.int64}


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether two float rows of one dtype hold the same bit patterns (unlike ``==``, 0.0 and -0.0 differ, as
    in the checksums)."""
    as_int = _INT_OF_SIZE[a.element_size()]
    return torch.equal(_bits(a, as_int), _bits(b, as_int))


@numba.njit(cache=True)
def _drop_differing_pairs(bits, pairs, alive):
    """alive[k] &= (bits[pairs[k, 0]] == bits[pairs[k, 1]]) for the rows of ``bits`` (m, c), the bit
    patterns of a block. The OR of XORs has no early exit, so it compiles to SIMD at cache speed."""
    for k in range(pairs.shape[0]):
        if not alive[k]:
            continue
        a = pairs[k, 0]
        b = pairs[k, 1]
        diff = 0
        for j in range(bits.shape[1]):
            diff |= bits[a, j] ^ bits[b, j]
        alive[k] = diff == 0


def distances_from_gram(gram: torch.Tensor, representatives: torch.Tensor | None = None) -> torch.Tensor:
    """Squared distances ``s_i + s_j − 2 G_ij`` from a Gram matrix: exactly symmetric, ≥ 0, zero diagonal.

    ``representatives`` (from :meth:`DuplicateRows.representatives`): identical rows first take their
    representative's Gram row and column, so they get identical distance rows/columns and distance
    exactly 0 to each other, however the GEMM rounded them.
    """
    if representatives is not None:
        gram = gram.index_select(0, representatives).index_select(1, representatives)
    sq_norms = gram.diagonal()
    dist = sq_norms[:, None] + sq_norms[None, :] - 2.0 * gram
    dist = 0.5 * (dist + dist.T)  # exact symmetry: mutual-neighbour ties must tie exactly
    dist.clamp_min_(0.0)
    dist.fill_diagonal_(0.0)
    return dist
