"""Centered clipping (Karimireddy, He & Jaggi, ICML 2021, "Learning from History for Byzantine Robust Optimization")."""

from __future__ import annotations

import math

import torch

from .._checks import all_finite, check_choice, check_int, reject_options
from ..errors import ConfigError, InputError, InputTypeError
from ._base import Aggregate, register
from ._utils.common import prepare

CENTERS = ("median", "mean", "zeros")


def clip_weights(distances: torch.Tensor, tau: float) -> torch.Tensor:
    r""":math:`\min(1, \tau / \lVert x_i - v \rVert)` for every row, written
    :math:`\tau / \max(\tau, \lVert x_i - v \rVert)` so that a row equal to the center (distance 0) gets
    weight 1 without a division by zero."""
    return tau / distances.clamp_min(tau)


def distances_to(updates: torch.Tensor, point: torch.Tensor) -> torch.Tensor:
    r""":math:`\lVert x_i - v \rVert_2` for every row, over column blocks of ~1M values on CPU (~64M on
    CUDA) into one reused buffer, squares accumulated in float64: no (n, d) temporary, and measured 5x
    faster and ~100x more accurate than one float32 norm of ``updates - point`` (n = 50, d = 1M, CPU)."""
    n, d = updates.shape
    step = max(1, ((1 << 26) if updates.is_cuda else (1 << 20)) // n)
    buffer = torch.empty(n, min(step, d), dtype=updates.dtype, device=updates.device)
    total = torch.zeros(n, dtype=torch.float64, device=updates.device)
    for start in range(0, d, step):  # column blocks, not coordinates
        stop = min(start + step, d)
        block = torch.sub(updates[:, start:stop], point[start:stop], out=buffer[:, : stop - start])
        total += torch.linalg.vector_norm(block, dim=1).to(torch.float64) ** 2
    return total.sqrt().to(updates.dtype)


def check_positive_number(value: object, what: str) -> float:
    """A finite float > 0 (ints accepted, bools not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputTypeError(f"{what} must be a number; found {type(value).__name__} {value!r}.")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{what} must be a finite number > 0; found {value}.")
    return value


def starting_center(
    updates: torch.Tensor, center: str | torch.Tensor, variant: str, what: str = "centered_clipping center"
) -> torch.Tensor:
    """A starting point: a given (d,) vector (e.g. the previous round's aggregate), or "median" / "mean" /
    "zeros" of ``updates``; ``what`` names the option in error messages."""
    if isinstance(center, torch.Tensor):
        if center.shape != updates.shape[1:]:
            raise InputError(
                f"{what} must be a vector of shape ({updates.shape[1]},) like one row of updates; "
                f"found shape {tuple(center.shape)}."
            )
        if not torch.is_floating_point(center):
            raise InputTypeError(f"{what} must be a floating vector; found dtype {center.dtype}.")
        if not all_finite(center):
            raise InputError(f"{what} must be finite; found NaN/Inf in it.")
        return center.to(dtype=updates.dtype, device=updates.device)
    check_choice(center, CENTERS, what)
    if center == "zeros":
        return updates.new_zeros(updates.shape[1])
    if center == "mean":
        return updates.mean(dim=0)
    from ._median import median  # deferred: one rule calling another, resolved at call time

    return median(updates, 0, variant=variant).vector


@register("centered_clipping", checks_finite=True)
def centered_clipping(
    updates: torch.Tensor,
    f: int = 0,
    *,
    variant: str = "textbook",
    tau: float = 100.0,
    n_iters: int = 1,
    center: str | torch.Tensor = "median",
    **options,
) -> Aggregate:
    r"""Centered clipping: average the updates' deviations from a center, each clipped to norm τ.

    Starting from :math:`v_0` (``center``), for :math:`l = 0, \dots, L-1` (L = ``n_iters``):

    .. math::

        v_{l+1} = v_l + \frac{1}{n}\sum_{i=1}^{n} (x_i - v_l)\,\min\!\Big(1, \frac{\tau}{\lVert x_i - v_l\rVert_2}\Big),

    and the aggregate is :math:`v_L`. A Byzantine row moves the result by at most τ/n per iteration.

    ``center`` (our choice of default, documented because the paper's is stateful):

    - a tensor (d,): the paper's choice is the previous round's aggregate (the server's momentum);
      keeping it across rounds is the caller's business: pass it here;
    - ``"median"`` (default): the coordinate-wise median of the rows (``variant`` decides even n), a
      robust stateless start, so that one call is robust on its own;
    - ``"zeros"``: what the released code does in the first round and what ByzFL 0.0.11's
      ``CenteredClipping`` does on a fresh instance (ByzFL then keeps its last output as the next center
      inside the instance; here that state is explicit: pass the previous ``vector``);
    - ``"mean"``: the plain average.

    Defaults ``tau=100.0`` and ``n_iters=1`` are ByzFL's (``tau``, ``L``). τ must be chosen relative to
    the update norms: a τ larger than every distance to the center returns the mean. ``f`` is accepted
    for a uniform signature and only checked (f < n): the rule does not use it. The authors' code and
    the textbook agree, so both ``variant`` values run this algorithm (the variant only reaches the
    median center). ``info``: ``clipped``, the number of rows clipped in the last iteration.

    Example:
        >>> import torch
        >>> from fedlib.aggregators import centered_clipping
        >>> x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [100.0, 100.0]])
        >>> centered_clipping(x, f=1, tau=1.0, center="zeros").vector
        tensor([0.6036, 0.6036])
        >>> centered_clipping(x, f=1, tau=1.0, n_iters=3).vector  # center: coordinate-wise median
        tensor([0.9039, 0.9039])
    """
    reject_options(options, "centered_clipping")
    updates, f = prepare(updates, f, variant, "centered_clipping")
    tau = check_positive_number(tau, "tau")
    n_iters = check_int(n_iters, "n_iters", minimum=1)
    vector = starting_center(updates, center, variant)
    n = updates.shape[0]
    for _ in range(n_iters):  # L iterations of the paper (usually 1): two reads of the rows each
        weights = clip_weights(distances_to(updates, vector), tau)
        vector = vector + (weights @ updates - weights.sum() * vector) / n  # = v + Σ w_i (x_i - v) / n
    clipped = int((weights < 1).sum())
    return Aggregate(vector, info={"clipped": clipped})
