r"""Perturbation directions ∇p of the paper's framework ∇m = ∇b + γ·∇p (paper §IV-A).

The released code writes the malicious vector as ``model_re − γ·deviation``; fedlib returns the
direction that is *added*, ∇p = −deviation, so the three kinds are

* ``unit_vec``: ∇p = −μ/‖μ‖₂ (inverse unit vector of the benign mean μ),
* ``std``: ∇p = −σ, σ the coordinate-wise **unbiased** standard deviation of the benign rows,
* ``sign``: ∇p = −sign(μ).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .._checks import check_choice, check_finite, check_matrix
from ..errors import ConfigError, InputError
from ..vocabulary import PERTURBATIONS as KINDS


def column_std(rows: torch.Tensor) -> torch.Tensor:
    """Unbiased coordinate-wise std of the rows (k ≥ 2), per column block: same values as
    ``rows.std(dim=0)`` (up to rounding) without its slow strided reduction or a (k, d) temporary."""
    from .._blocks import column_blocks

    k = rows.shape[0]
    out = torch.empty(rows.shape[1], dtype=rows.dtype, device=rows.device)
    for cols in column_blocks(rows.shape[1]):
        block = rows[:, cols]
        centred = block - block.mean(dim=0)
        out[cols] = ((centred * centred).sum(dim=0) / (k - 1)).sqrt()
    return out


def perturbation(kind: str, benign: torch.Tensor) -> torch.Tensor:
    r"""The perturbation direction ∇p of ``kind`` computed from the benign rows the adversary knows.

    Args:
        kind: ``"unit_vec"`` (−μ/‖μ‖₂), ``"std"`` (−σ, unbiased) or ``"sign"`` (−sign(μ)).
        benign: (k, d) floating tensor; ``std`` needs k ≥ 2.

    Returns:
        A (d,) tensor with the dtype and device of ``benign``.

    Example:
        >>> import torch
        >>> from fedlib.attacks import perturbation
        >>> perturbation("sign", torch.tensor([[1.0, -2.0], [3.0, -4.0]]))
        tensor([-1.,  1.])
    """
    check_choice(kind, KINDS, "perturbation")
    benign = check_matrix(benign, "benign")
    mean = benign.mean(dim=0)
    if kind == "sign":
        return -torch.sign(mean)
    if kind == "std":
        if benign.shape[0] < 2:
            raise InputError(
                f"perturbation 'std' needs at least 2 benign rows for an unbiased std; found {benign.shape[0]}."
            )
        return -column_std(benign)
    norm = torch.linalg.vector_norm(mean)
    if not norm > 0:
        raise InputError("perturbation 'unit_vec' is undefined: the benign mean is the zero vector.")
    return -mean / norm


def pick_perturbation(
    attack: str,
    benign: torch.Tensor,
    n_malicious: int,
    *,
    aggregator: str,
    f: int | None = None,
    candidates: Sequence[str] = KINDS,
    aggregator_options: dict | None = None,
    **craft_kwargs,
) -> tuple[str, dict[str, float]]:
    r"""Pick the most harmful perturbation for one setting — **our heuristic**, not the paper's.

    The paper selects the perturbation with a heuristic (its §VI-C) whose exact form is not in the part of
    the paper available to us. fedlib's heuristic: craft the attack with each candidate on this round's data, stack
    the malicious copies first and the ``benign`` rows after, and measure the deviation
    :math:`\lVert \mathrm{AGR}(\text{all}) - \bar g_{\text{benign}}\rVert_2` with the server's rule; keep
    the candidate with the largest deviation (ties: the first in ``candidates``).

    Returns:
        ``(best_kind, {kind: deviation})``.

    Example:
        >>> import torch
        >>> from fedlib.attacks import pick_perturbation
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.randn(20, 8, generator=g) + 1.0
        >>> kind, dev = pick_perturbation("min_max", x, 5, aggregator="median")
        >>> kind in dev and dev[kind] == max(dev.values())
        True
    """
    from ..aggregators import aggregate  # local import: the aggregators package imports nothing from here
    from ._base import craft

    if not candidates:
        raise ConfigError("pick_perturbation needs at least one candidate perturbation.")
    for kind in candidates:
        check_choice(kind, KINDS, "perturbation")
    benign = check_finite(check_matrix(benign, "benign"), "benign")
    f_server = n_malicious if f is None else f
    reference = benign.mean(dim=0)
    # forwarded as keyword arguments to craft(): Any, since each key is one of craft's typed parameters
    extra: dict[str, Any] = {}
    if aggregator_options and attack == "tailored":
        extra["aggregator_options"] = aggregator_options
    deviations: dict[str, float] = {}
    for kind in candidates:
        crafted = craft(
            attack,
            benign,
            n_malicious,
            aggregator=aggregator,
            f=f,
            perturbation=kind,
            **extra,
            **craft_kwargs,
        )
        stacked = torch.cat([crafted.updates, benign], dim=0)
        out = aggregate(
            aggregator,
            stacked,
            f_server,
            variant=craft_kwargs.get("variant", "textbook"),
            **(aggregator_options or {}),
        ).vector
        deviations[kind] = float(torch.linalg.vector_norm(out - reference))
    best = max(candidates, key=lambda k: deviations[k])  # max keeps the first of equal values
    return best, deviations
