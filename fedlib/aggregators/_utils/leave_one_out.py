r"""Leave-one-out coordinate-wise aggregates from one sorted pass (what Fang's defense needs n times).

Fang's defense evaluates the base rule on the n matrices "all rows but i". For the coordinate-wise rules
these follow from the sorted columns of the full matrix. Let :math:`s_0 \le \dots \le s_{n-1}` be the
sorted values of one coordinate and v the removed value. The remaining sorted values are
:math:`t_k = s_{k+1}` if :math:`v \le s_k` and :math:`t_k = s_k` otherwise, so

* Trimmed mean (trim f of the n − 1 values on each side):
  :math:`\frac{1}{n-1-2f}\big(\sum_{k=f}^{n-f-1} s_k - \operatorname{clamp}(v, s_f, s_{n-f-1})\big)`;
* Median of the n − 1 values: :math:`t_k` at the middle position(s).

One pass (the compiled sorting network) gives the few sorted rows and the window sum; each leave-one-out
vector is then one compiled pass over (d,) vectors instead of a copy of n − 1 rows and a sort. Values are
exact order statistics; sums are float64, as in the rules themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch

from ..._compiled import numba
from .._base import min_inputs
from . import order


@numba.njit(parallel=True, cache=True)
def _trimmed_without(row, low, high, total, count, out):
    """out[j] = (total[j] − clamp(row[j], low[j], high[j])) / count, in float64, stored in out's dtype."""
    for j in numba.prange(row.shape[0]):
        v = min(max(row[j], low[j]), high[j])
        out[j] = (total[j] - v) / count


@numba.njit(parallel=True, cache=True)
def _median_without(row, picked, middle, out):
    """out[j] = mean over k in ``middle`` of t_k, with t_k = picked[k + 1, j] if row[j] <= picked[k, j] else
    picked[k, j] (``picked`` holds consecutive sorted rows, ``middle`` indexes into it)."""
    for j in numba.prange(row.shape[0]):
        acc = 0.0
        for k in middle:
            acc += picked[k + 1, j] if row[j] <= picked[k, j] else picked[k, j]
        out[j] = acc / middle.shape[0]


class LeaveOneOut:
    """``loo(i)`` = base(updates without row i, f).vector; ``loo.whole`` = base(updates, f).vector where the same
    sorted pass gives it bit for bit (the trimmed mean with f >= 1: the rule's float64 window sum over n − 2f,
    stored in the input dtype), else None."""

    def __init__(self, without: Callable[[int], torch.Tensor], whole: torch.Tensor | None = None):
        self.without, self.whole = without, whole

    def __call__(self, i: int) -> torch.Tensor:
        return self.without(i)


def leave_one_out(
    updates: torch.Tensor, f: int, base: str, variant: str, base_options: Mapping[str, object]
) -> LeaveOneOut | None:
    """:class:`LeaveOneOut` (``i -> base(updates without row i, f).vector``) for ``base`` in (trimmed_mean,
    median) on CPU, or None where no shortcut applies (other rules, options, devices, or n − 1 rows too few
    for the rule: the caller then runs the rule itself, with its own checks and errors).

    Example:
        >>> import torch
        >>> from fedlib.aggregators._utils.leave_one_out import leave_one_out
        >>> x = torch.tensor([[0.0], [1.0], [2.0], [3.0], [100.0]])
        >>> loo = leave_one_out(x, 1, "trimmed_mean", "textbook", {})
        >>> loo(4), loo(0)
        (tensor([1.5000]), tensor([2.5000]))
    """
    n = updates.shape[0]
    if base_options or not order.supported(updates) or n < 2:
        return None
    # the shortcut needs a real trim (n - 1 > 2f, the textbook minimum), not the released NaN at n - 1 = 2f
    if base == "trimmed_mean" and n - 1 >= min_inputs("trimmed_mean", f):
        return _trimmed_mean(updates, f)
    if base == "median":
        return _median(updates, variant)
    return None


def _trimmed_mean(updates: torch.Tensor, f: int) -> LeaveOneOut:
    n = updates.shape[0]
    (low_rows, high_rows), window_sum = order.sorted_rows_and_window_sum(updates, [f, n - f - 1], f, n - f)
    return trimmed_leave_one_out(updates, f, low_rows.numpy(), high_rows.numpy(), window_sum.numpy())


def trimmed_leave_one_out(
    updates: torch.Tensor, f: int, low: np.ndarray, high: np.ndarray, total: np.ndarray
) -> LeaveOneOut:
    """The trimmed mean's :class:`LeaveOneOut` from the sorted columns' values at positions f and n − f − 1
    (``low``, ``high``, in the rows' dtype) and their float64 window sums over [f, n − f) (``total``)."""
    n = updates.shape[0]
    x = order.as_numpy(updates)

    def without(i: int) -> torch.Tensor:
        out = np.empty(x.shape[1], dtype=x.dtype)
        _trimmed_without(x[i], low, high, total, float(n - 1 - 2 * f), out)
        return torch.from_numpy(out)

    whole = torch.from_numpy((total / float(n - 2 * f)).astype(x.dtype)) if f >= 1 else None  # f = 0: torch's mean
    return LeaveOneOut(without, whole)


def _median(updates: torch.Tensor, variant: str) -> LeaveOneOut:
    m = updates.shape[0] - 1  # values left after removing one
    first = (m - 1) // 2
    # sorted positions first, first + 1 (and first + 2 for the mean of two middle values)
    middle = np.array([0] if variant == "ndss21" or m % 2 == 1 else [0, 1], dtype=np.int64)
    picked_rows, _ = order.sorted_rows_and_window_sum(updates, list(range(first, first + len(middle) + 1)), 0, 0)
    x, picked = order.as_numpy(updates), picked_rows.numpy()

    def without(i: int) -> torch.Tensor:
        out = np.empty(x.shape[1], dtype=x.dtype)
        _median_without(x[i], picked, middle, out)
        return torch.from_numpy(out)

    return LeaveOneOut(without)
