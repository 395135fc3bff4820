"""Argument checks shared by the rules (each rule can be called directly, not only via `aggregate`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from ..._checks import check_choice, check_f, check_finite, check_matrix
from .._base import VARIANTS, min_inputs


def prepare(
    updates: object,
    f: object,
    variant: str,
    rule: str,
    *,
    options: Mapping[str, object] | None = None,
    formula: str | None = None,
    check_values: bool = True,
) -> tuple[torch.Tensor, int]:
    """Validate ``updates`` (floating, 2-D, finite), ``variant`` and ``f`` for the registered ``rule``.

    The smallest n accepted is the rule's registered ``min_inputs(f, variant, options)`` (one source for
    the rule, config validation and the attacks); ``formula`` (e.g. ``"2f+3"``) only words the message.
    ``check_values=False`` skips the finiteness pass for a rule that proves finiteness from its own
    reduction (the mean's column sums) and must then raise NonFiniteError itself.
    """
    check_choice(variant, VARIANTS, "variant")
    updates = check_matrix(updates)
    if check_values:
        check_finite(updates)  # one row-sum pass; the per-entry check runs only when a sum is not finite
    f = check_f(f, updates.shape[0], rule)
    need = min_inputs(rule, f, variant=variant, **dict(options or {}))
    check_f(f, updates.shape[0], rule, min_n=formula, need=need)
    return updates, f


def _block_columns(x: torch.Tensor) -> int:
    """Columns per block so a block holds ~4M values on CPU (cache/memory friendly), ~64M on CUDA."""
    budget = (1 << 26) if x.is_cuda else (1 << 22)
    return max(1, budget // max(1, x.shape[0]))


def columnwise(x: torch.Tensor, per_block: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Apply a coordinate-wise reduction ``per_block((c, n) block) -> (c,)`` over column blocks of ``x``.

    Each block is transposed to a contiguous (c, n) matrix so that sorts/medians run along the fast,
    contiguous axis (about 2-3x faster on CPU than reducing over dim 0), and the temporaries a sort needs
    (values and int64 indices) stay bounded by the block size instead of growing to (n, d).
    """
    n, d = x.shape
    out = x.new_empty(d)
    step = _block_columns(x)
    for start in range(0, d, step):
        block = x[:, start : start + step].T.contiguous()
        out[start : start + step] = per_block(block)
    return out


def middle_value(sorted_rows: torch.Tensor, variant: str) -> torch.Tensor:
    """Median of each row of an ascending-sorted (c, m) block: the lower middle value for ``"ndss21"``
    (``torch.median`` semantics, as the released code), the mean of the two middle values for even m otherwise."""
    m = sorted_rows.shape[1]
    lower = sorted_rows[:, (m - 1) // 2]
    if variant == "ndss21" or m % 2 == 1:
        return lower
    upper = sorted_rows[:, m // 2]
    return lower * 0.5 + upper * 0.5  # halves first: no overflow near the dtype's max


def mean_of_rows(updates: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Mean of ``updates[rows]`` as one matrix-vector product (weights 1/|rows|): one read of the matrix,
    no copy of the selected rows."""
    weights = torch.zeros(updates.shape[0], dtype=updates.dtype, device=updates.device)
    weights.index_fill_(0, rows, 1.0 / rows.numel())
    return weights @ updates
