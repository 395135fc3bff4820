"""What an aggregation rule returns: :class:`Aggregate` (the registry, :mod:`._base`, and the wrapper of a user's
rule, :mod:`._user_rule`, both build on it)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class Aggregate:
    """What an aggregation rule returns.

    Attributes:
        vector: the aggregate, shape (d,), same dtype and device as the input.
        selected: LongTensor of input row indices in selection order (Krum, Multi-krum, Bulyan), the
            surviving rows in ascending order (DnC, AFA, Fang), or None for rules that select nothing.
        dropped: rows removed because they held NaN/Inf (only with ``nonfinite="drop"``), else None.
        info: rule-specific diagnostics (e.g. Krum scores), never needed to use the result.
    """

    vector: torch.Tensor
    selected: torch.Tensor | None = None
    dropped: torch.Tensor | None = None
    info: dict[str, object] = field(default_factory=dict)


__all__ = ["Aggregate"]
