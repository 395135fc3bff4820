r"""The leave-one-out trimmed means that Fang's defense scores, for the tailored attack's rows, without sorting
them at every probe.

Fang's defense with its default trimmed-mean base needs, per coordinate, the sorted column's values at positions
f and n − f − 1 and the float64 sum of the window [f, n − f) (:mod:`fedlib.aggregators._utils.leave_one_out`);
the rule gets them from one sorting-network pass over the (n, d) rows, at every probe of the attack. The
attack's rows are the benign ones, fixed for the round, and m identical copies x_j = μ_j + γp_j: with the
benign columns sorted once (:class:`~fedlib.attacks._utils.coordinate_probe._CpuWindow`, which also holds their
float64 prefix sums), the merged column is the benign one with m copies of x_j inserted at their rank r, so

* its value at position t is b_t (t < r), x_j (r ≤ t < r + m) or b_{t−m} (t ≥ r + m);
* its window sum is the rule's float64 number: summed from the prefix sums where every partial sum is provably
  exact, in the rule's order otherwise (:func:`~fedlib.attacks._utils.coordinate_probe._window_sum`).

The leave-one-out vectors built from them are therefore the rule's, bit for bit: one O(d) pass per probe instead
of a sort of n values per coordinate.
"""

from __future__ import annotations

import numpy as np
import torch

from ..._compiled import numba
from ...aggregators._utils.leave_one_out import LeaveOneOut, trimmed_leave_one_out
from .coordinate_probe import _CpuWindow, _rank_within, _sums_exactly, _window_sum


@numba.njit(cache=True, inline="always")
def _merged_at(row, x, r, m, t, base):
    """The merged sorted column's value at position t (the copies at ranks [r, r + m))."""
    if t < r:
        return row[t - base]
    if t < r + m:
        return x
    return row[t - m - base]


@numba.njit(cache=True)  # serial, like the other attack kernels
def _merged_summary(rows, prefix, exp_min, bounds, x, m, first, stop, base, exact_sums, low, high, total):
    """low[j], high[j]: the merged column j's values at positions first and stop − 1; total[j]: its float64
    window sum over [first, stop), the copies x[j] inserted among the sorted benign values ``rows[j]``."""
    for j in range(x.shape[0]):
        row, xj = rows[j], x[j]
        r = base + _rank_within(row, xj)
        exact = exact_sums and _sums_exactly(exp_min[j], bounds[j], xj, m)
        total[j] = _window_sum(row, prefix[j], xj, r, m, first, stop, base, exact)
        low[j] = _merged_at(row, xj, r, m, first, base)
        high[j] = _merged_at(row, xj, r, m, stop - 1, base)


def applies(rows: torch.Tensor, f: int, base: str, base_options: dict) -> bool:
    """Whether Fang's defense takes its leave-one-out aggregates from the trimmed mean's sorted pass for these
    rows (:func:`fedlib.aggregators._utils.leave_one_out.leave_one_out`), so that this module gives the same."""
    from ...aggregators import min_inputs
    from ...aggregators._utils import order

    n = rows.shape[0]
    return (base == "trimmed_mean" and not base_options and order.supported(rows) and f >= 1
            and n - 1 >= min_inputs("trimmed_mean", f))  # fmt: skip


class CopiesTrimmedLeaveOneOut:
    """For rows [m copies of x; benign] (n = m + k rows, f trimmed on each side): :meth:`of` gives the
    :class:`~fedlib.aggregators._utils.leave_one_out.LeaveOneOut` of the trimmed mean that
    ``leave_one_out(rows, f, "trimmed_mean", ...)`` gives, from the benign columns sorted once.

    Example:
        >>> import torch
        >>> from fedlib.aggregators._utils.leave_one_out import leave_one_out
        >>> from fedlib.attacks._utils.fang_probe import CopiesTrimmedLeaveOneOut
        >>> benign = torch.randn(9, 6, generator=torch.Generator().manual_seed(0))
        >>> x = benign.mean(0) + 0.8 * benign.std(0)
        >>> rows = torch.cat([x.expand(3, -1), benign])
        >>> ours = CopiesTrimmedLeaveOneOut(benign, 3, 2).of(x, rows)
        >>> rule = leave_one_out(rows, 2, "trimmed_mean", "textbook", {})
        >>> all(torch.equal(ours(i), rule(i)) for i in range(12)) and torch.equal(ours.whole, rule.whole)
        True
    """

    def __init__(self, benign: torch.Tensor, m: int, f: int):
        n = m + benign.shape[0]
        self.window = _CpuWindow(benign, m, f, n - f)
        self.m, self.f, self.n = m, f, n

    def of(self, x: torch.Tensor, rows: torch.Tensor) -> LeaveOneOut:
        """The leave-one-out aggregates of ``rows`` (the stacked [copies of ``x``; benign] the rule would see)."""
        w, d = self.window, x.shape[0]
        low, high = np.empty(d, dtype=w.rows.dtype), np.empty(d, dtype=w.rows.dtype)
        total = np.empty(d, dtype=np.float64)
        values = np.ascontiguousarray(x.detach().numpy())
        _merged_summary(w.rows, w.prefix, w.exp_min, w.bounds, values, self.m, w.first, w.stop, w.base,
                        w.exact_sums, low, high, total)  # fmt: skip
        return trimmed_leave_one_out(rows, self.f, low, high, total)
