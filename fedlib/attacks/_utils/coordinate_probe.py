r"""The objective J(γ) = ‖AGR(copies ∪ benign) − μ‖₂ of the tailored Trimmed-mean / Median attacks without
running the rule on n rows: the benign values of every coordinate are sorted once per round, and at each probe
the m identical copies x_j = μ_j + γp_j are placed by binary search (O(d log k) per probe instead of sorting n
values per coordinate).

The aggregate is *bit-identical* to the rule's, so every comparison of the searches (hill-climb, grid, golden
section) takes the decision it took before:

* the values are the same floats (the copies are the same ``μ + γ·∇p`` tensor; merging the sorted benign values
  with the copies gives the rule's sorted column, ties included, since only values matter);
* the CPU rules (``fedlib.aggregators`` sorting network) sum the window [first, stop) of the sorted column
  sequentially in float64 and divide in float64. Here the window sum comes from float64 prefix sums of the
  sorted benign values, which gives the *same* float64 number whenever every partial sum of either order is
  exact: all values (benign and x_j) are multiples of 2^e and Σ|values| < 2^(52+e) (checked per coordinate
  and probe; float32 inputs only). Coordinates that fail the check, float64 inputs and windows of one or two
  values are summed sequentially in the rule's order;
* J is then computed by the same torch call on the same tensor.

Other devices: the median (torch's lower median, or ``lower·½ + upper·½`` in the input dtype) is rebuilt the
same way with ``torch.searchsorted``; the trimmed mean (torch's float32 ``mean`` over the sorted slice) is not,
so :func:`coordinate_objective` returns None there (and for f = 0 or n = 2f) and the caller runs the rule.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from ..._checks import check_choice
from ..._compiled import numba

NO_NONZERO = 100_000  # exponent for a column with no non-zero value: every value is a multiple of 2^anything


@numba.njit(cache=True)  # serial: a parallel numba region makes torch's own OpenMP threads spin afterwards
def _window_means(rows, prefix, exp_min, abs_sum, x, m, first, stop, base, divisor, exact_sums, out):
    """out[j] = (float64 sum of the merged sorted column j at positions [first, stop)) / divisor.

    The merged column is the sorted benign column with m copies of x[j] inserted at their rank r; only the
    benign positions [base, base + w) can enter the window, so ``rows[j]`` holds just those (sorted) and
    ``prefix[j, i]`` their float64 partial sums; r is counted within them (clamping r to [base, base + w]
    leaves the window unchanged)."""
    d, w = rows.shape
    for j in range(d):
        xj = x[j]
        lo = 0
        size = w
        while size > 1:  # branch-free lower bound: the same steps for every coordinate
            half = size // 2
            lo = lo + half if rows[j, lo + half - 1] < xj else lo
            size -= half
        if size == 1 and rows[j, lo] < xj:
            lo += 1
        r = base + lo
        exact = False
        if exact_sums and stop - first > 2:
            e = exp_min[j]
            if xj != 0:
                e = min(e, math.frexp(np.float64(xj))[1] - 24)
            exact = abs_sum[j] + m * abs(np.float64(xj)) < math.ldexp(1.0, 52 + e)
        s = 0.0
        if exact:
            b1 = min(r, stop)
            if b1 > first:
                s += prefix[j, b1 - base] - prefix[j, first - base]
            c = min(r + m, stop) - max(r, first)
            if c > 0:
                s += c * np.float64(xj)
            a2 = max(r, first - m)
            if stop - m > a2:
                s += prefix[j, stop - m - base] - prefix[j, a2 - base]
        else:
            for t in range(first, stop):
                if t < r:
                    s += rows[j, t - base]
                elif t < r + m:
                    s += xj
                else:
                    s += rows[j, t - m - base]
        out[j] = s / divisor


def _window(target: str, variant: str, n: int, f: int) -> tuple | None:
    """(first, stop) of the sorted positions the CPU rule averages, or None when it does something else."""
    if target == "median":
        lower = variant == "ndss21" or n % 2 == 1
        first = (n - 1) // 2
        return first, (first + 1 if lower else n // 2 + 1)
    if f == 0 or n <= 2 * f:
        return None  # the plain mean, or ndss21's empty slice (NaN): the rule itself is cheap or special
    return f, n - f


class _CpuWindow:
    """The benign columns sorted once (numpy's vectorised sort), cut to the positions the window can reach."""

    def __init__(self, benign, m, first, stop):
        self.m, self.first, self.stop = m, first, stop
        k = benign.shape[0]
        self.base = max(first - m, 0)
        cols = np.sort(benign.detach().numpy().T, axis=1)[:, self.base : min(stop, k)]
        self.rows = np.ascontiguousarray(cols)
        # float64 values: the rule's float64 sum rounds; windows of <= 2 values are always summed in order
        self.exact_sums = benign.dtype == torch.float32 and stop - first > 2
        if not self.exact_sums:  # the kernel never reads these
            d = self.rows.shape[0]
            self.prefix, self.exp_min, self.abs_sum = np.zeros((d, 1)), np.zeros(d, np.int64), np.zeros(d)
            return
        wide = self.rows.astype(np.float64)
        self.prefix = np.concatenate([np.zeros((wide.shape[0], 1)), np.cumsum(wide, axis=1)], axis=1)
        exps = np.frexp(wide)[1].astype(np.int64) - 24
        self.exp_min = np.where(wide != 0, exps, NO_NONZERO).min(axis=1, initial=NO_NONZERO)
        self.abs_sum = np.abs(wide).sum(axis=1)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = np.empty(x.shape[0], dtype=self.rows.dtype)
        _window_means(
            self.rows,
            self.prefix,
            self.exp_min,
            self.abs_sum,
            np.ascontiguousarray(x.numpy()),
            self.m,
            self.first,
            self.stop,
            self.base,
            float(self.stop - self.first),
            self.exact_sums,
            out,
        )
        return torch.from_numpy(out)


class _TorchMedian:
    """torch's median semantics on any device (``median_torch``): lower middle value, or the textbook
    even-n ``lower·½ + upper·½`` in the input dtype."""

    def __init__(self, benign, m, n, variant):
        self.m, self.n = m, n
        self.lower_only = variant == "ndss21" or n % 2 == 1
        self.sorted = torch.sort(benign.T.contiguous(), dim=1).values

    def _at(self, rank: int, r: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        k = self.sorted.shape[1]
        before = self.sorted[:, min(rank, k - 1)]
        after = self.sorted[:, max(min(rank - self.m, k - 1), 0)]
        return torch.where(rank < r, before, torch.where(rank < r + self.m, x, after))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        r = torch.searchsorted(self.sorted, x.unsqueeze(1)).squeeze(1)
        lower = self._at((self.n - 1) // 2, r, x)
        if self.lower_only:
            return lower
        return lower * 0.5 + self._at(self.n // 2, r, x) * 0.5


def coordinate_objective(
    benign: torch.Tensor,
    mean: torch.Tensor,
    direction: torch.Tensor,
    *,
    target: str,
    variant: str,
    n_copies: int,
    f: int,
    on_matrix: Callable[[float], float],
) -> Callable[[float], float] | None:
    """J(γ) for the tailored attack on ``target`` ("trimmed_mean" or "median"), identical to ``on_matrix`` (the
    rule run on [copies; benign]), or None where no identical shortcut exists (see the module docstring).

    Example:
        >>> import torch
        >>> from fedlib.aggregators import aggregate
        >>> g = torch.randn(9, 5, generator=torch.Generator().manual_seed(0))
        >>> mu, p = g.mean(0), -g.std(0)
        >>> def on_matrix(gamma):
        ...     rows = torch.cat([(mu + gamma * p).expand(3, -1), g])
        ...     return float(torch.linalg.vector_norm(aggregate("trimmed_mean", rows, 3).vector - mu))
        >>> J = coordinate_objective(g, mu, p, target="trimmed_mean", variant="textbook", n_copies=3, f=3,
        ...                          on_matrix=on_matrix)
        >>> J(0.7) == on_matrix(0.7)
        True
    """
    check_choice(target, ("trimmed_mean", "median"), "target")
    n = n_copies + benign.shape[0]
    window = _window(target, variant, n, f)
    if window is None:
        return None
    values: _CpuWindow | _TorchMedian
    if benign.device.type == "cpu" and benign.dtype in (torch.float32, torch.float64):  # the compiled rules
        values = _CpuWindow(benign, n_copies, *window)
    elif target == "median":
        values = _TorchMedian(benign, n_copies, n, variant)
    else:
        return None

    def objective(gamma: float) -> float:
        x = mean.clone() if gamma == 0.0 else mean + gamma * direction  # the rule's copies, same arithmetic
        if not bool(torch.isfinite(x).all()):
            return on_matrix(gamma)  # the rule rejects non-finite input: let it raise as before
        return float(torch.linalg.vector_norm(values(x) - mean))

    return objective
