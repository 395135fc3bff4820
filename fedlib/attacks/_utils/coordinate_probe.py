r"""The objective J(γ) = ‖AGR(copies ∪ benign) − μ‖₂ of the tailored Trimmed-mean / Median attacks without
running the rule on n rows: the benign values of every coordinate are sorted once per round, and at each probe
the m identical copies x_j = μ_j + γp_j are placed among them (instead of sorting n values per coordinate).

The aggregate is *bit-identical* to the rule's, so every comparison of the searches (hill-climb, grid, golden
section) takes the decision it took before:

* the values are the same floats (the copies are the same ``μ + γ·∇p`` tensor; merging the sorted benign values
  with the copies gives the rule's sorted column, ties included, since only values matter);
* the CPU rules (``fedlib.aggregators`` sorting network) sum the window [first, stop) of the sorted column
  sequentially in float64 and divide in float64. Here the window sum comes from float64 prefix sums of the
  sorted benign values, which gives the *same* float64 number whenever every partial sum of either order is
  exact: all values (benign and x_j) are multiples of 2^e and Σ|values| < 2^(52+e) (checked per coordinate
  and probe; float32 inputs only). Coordinates that fail the check and float64 inputs are summed sequentially
  in the rule's order;
* J is then computed by the same torch call on the same tensor.

Speed (CPU, the textbook grid + golden-section search of :func:`~fedlib.attacks._utils.search.maximize`):

* the grid's probes are evaluated in one batch (:meth:`_Objective.many`), each column's probes while the column
  is in cache, its ranks found by walking up from the previous probe's (the copies are monotone in γ);
* every probe records the copies' rank in each column. A column whose rank agrees at both ends of the golden
  section's bracket keeps it for every γ inside (the copies' float32 values are monotone in γ), so its window
  sum is fixed + count·x_j, read from streamed arrays (:meth:`_Objective.narrow`); after a few steps almost
  every column is settled;
* windows of one or two positions (the median) need no rank at all: the merged column's value at position t
  is max(b_{t−m}, min(x_j, b_t)) for the sorted benign column b (:class:`_ClampWindow`).

Other devices: the median (torch's lower median, or ``lower·½ + upper·½`` in the input dtype) is rebuilt the
same way with ``torch.searchsorted``; the trimmed mean (torch's float32 ``mean`` over the sorted slice) is not,
so :func:`coordinate_objective` returns None there (and for f = 0 or n = 2f) and the caller runs the rule.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from ..._checks import all_finite, check_choice
from ..._compiled import numba
from ...vocabulary import COORDINATE_WISE

NO_NONZERO = 100_000  # exponent for a column with no non-zero value: every value is a multiple of 2^anything


@numba.njit(cache=True, inline="always")
def _rank_within(row, xj):
    """Number of values of the sorted ``row`` below xj (branch-free lower bound: the same steps everywhere)."""
    lo = 0
    size = row.shape[0]
    while size > 1:
        half = size // 2
        lo = lo + half if row[lo + half - 1] < xj else lo
        size -= half
    if size == 1 and row[lo] < xj:
        lo += 1
    return lo


@numba.njit(cache=True, inline="always")
def _sums_exactly(exp_min_j, bounds_j, xj, m):
    """Whether every partial sum of the column's window values and m copies of xj is exact in float64:
    all are multiples of 2^e, e = min(exp_min_j, exponent(xj) − 24), and Σ|values| < 2^(52+e).
    ``bounds_j`` = (Σ|window values|, 2^(exp_min_j + 23), 2^(52 + exp_min_j)): from |xj| ≥ the second on,
    e = exp_min_j and no exponent needs extracting."""
    ax = abs(np.float64(xj))
    if ax >= bounds_j[1]:
        return bounds_j[0] + m * ax < bounds_j[2]
    e = exp_min_j
    if xj != 0:
        e = min(e, math.frexp(np.float64(xj))[1] - 24)
    return bounds_j[0] + m * ax < math.ldexp(1.0, 52 + e)


@numba.njit(cache=True, inline="always")
def _window_sum(row, prefix_row, xj, r, m, first, stop, base, exact):
    """Float64 sum of the merged sorted column at positions [first, stop), the copies at ranks [r, r + m):
    from the prefix sums when ``exact``, else sequentially in the rule's order."""
    s = 0.0
    if exact:
        b1 = min(r, stop)
        if b1 > first:
            s += prefix_row[b1 - base] - prefix_row[first - base]
        c = min(r + m, stop) - max(r, first)
        if c > 0:
            s += c * np.float64(xj)
        a2 = max(r, first - m)
        if stop - m > a2:
            s += prefix_row[stop - m - base] - prefix_row[a2 - base]
        return s
    for t in range(first, stop):
        if t < r:
            s += row[t - base]
        elif t < r + m:
            s += xj
        else:
            s += row[t - m - base]
    return s


@numba.njit(cache=True, inline="always")
def _rank_from(row, xj, previous, x_previous):
    """:func:`_rank_within`, walking up from the rank of a smaller or equal earlier copy value (the same count)."""
    if previous < 0 or xj < x_previous:
        return _rank_within(row, xj)
    r = previous
    while r < row.shape[0] and row[r] < xj:
        r += 1
    return r


@numba.njit(cache=True)  # serial: a parallel numba region makes torch's own OpenMP threads spin afterwards
def _window_means(rows, prefix, exp_min, bounds, xs, m, first, stop, base, divisor, exact_sums, out, ranks):
    """out[j, p] = (float64 sum of the merged sorted column j at positions [first, stop)) / divisor, for the
    copies xs[j, p]; ranks[j, p] = their rank r. All probes p of a column are taken while it is in cache, in
    the order of increasing copy value when the probes are monotone in it (a grid of γ), so that each rank
    is found by walking up from the previous one.

    The merged column is the sorted benign column with m copies of xs[j, p] inserted at their rank r; only the
    benign positions [base, base + w) can enter the window, so ``rows[j]`` holds just those (sorted) and
    ``prefix[j, i]`` their float64 partial sums; r is counted within them (clamping r to [base, base + w]
    leaves the window unchanged)."""
    d, n_probes = xs.shape  # probe-minor: a column's probes are contiguous (probe-major thrashes the TLB)
    for j in range(d):
        row, row_prefix, row_bounds, e = rows[j], prefix[j], bounds[j], exp_min[j]
        descending = xs[j, 0] > xs[j, n_probes - 1]
        previous, x_previous = -1, xs[j, 0]
        for q in range(n_probes):
            p = n_probes - 1 - q if descending else q
            xj = xs[j, p]
            within = _rank_from(row, xj, previous, x_previous)
            previous, x_previous = within, xj
            r = base + within
            exact = exact_sums and _sums_exactly(e, row_bounds, xj, m)
            out[j, p] = _window_sum(row, row_prefix, xj, r, m, first, stop, base, exact) / divisor
            ranks[j, p] = r


@numba.njit(cache=True)
def _settle(prefix, columns, ranks, m, first, stop, base, fixed, copies):
    """For columns whose rank is known for a whole bracket of γ: fixed[j] = the float64 sum of the window's
    benign values (prefix sums: the exact path with the copies at 0), copies[j] = how many copies it holds."""
    for i in range(columns.shape[0]):
        j = columns[i]
        r = ranks[j]
        fixed[j] = _window_sum(prefix[j], prefix[j], 0.0, r, m, first, stop, base, True)  # (row unread)
        copies[j] = max(min(r + m, stop) - max(r, first), 0)


@numba.njit(cache=True)
def _settled_means(
    rows,
    prefix,
    exp_min,
    bounds,
    x,
    m,
    first,
    stop,
    base,
    divisor,
    exact_sums,
    settled,
    settled_rank,
    fixed,
    copies,
    out,
    ranks,
):
    """:func:`_window_means` for one probe whose γ lies in a bracket where the columns flagged ``settled`` keep
    the rank ``settled_rank``: their exact sums are fixed[j] + copies[j]·x_j (the same float64 number: every
    partial sum is exact), read from four streamed arrays instead of the sorted column."""
    for j in range(x.shape[0]):
        xj = x[j]
        exact = exact_sums and _sums_exactly(exp_min[j], bounds[j], xj, m)
        if settled[j]:
            r = settled_rank[j]
            if exact:
                s = fixed[j]
                if copies[j] > 0:
                    s += copies[j] * np.float64(xj)
            else:
                s = _window_sum(rows[j], prefix[j], xj, r, m, first, stop, base, False)
        else:
            r = base + _rank_within(rows[j], xj)
            s = _window_sum(rows[j], prefix[j], xj, r, m, first, stop, base, exact)
        out[j] = s / divisor
        ranks[j] = r


@numba.njit(cache=True)
def _column_summary(rows, prefix, exp_min, bounds):
    """prefix[j] = float64 partial sums of rows[j]; exp_min[j] = the smallest exponent − 24 of its non-zero
    values (NO_NONZERO when none: every value is a multiple of 2^exp_min[j]); bounds[j] = (Σ|rows[j]|,
    2^(exp_min[j] + 23), 2^(52 + exp_min[j])), see :func:`_sums_exactly`."""
    d, w = rows.shape
    for j in range(d):
        s = 0.0
        a = 0.0
        smallest = np.inf  # the smallest non-zero |value| has the smallest exponent
        prefix[j, 0] = 0.0
        for i in range(w):
            v = np.float64(rows[j, i])
            s += v
            prefix[j, i + 1] = s
            a += abs(v)
            if v != 0:
                smallest = min(smallest, abs(v))
        e = NO_NONZERO if smallest == np.inf else math.frexp(smallest)[1] - 24
        exp_min[j] = e
        bounds[j, 0] = a
        bounds[j, 1] = math.ldexp(1.0, e + 23)
        bounds[j, 2] = math.ldexp(1.0, 52 + e)


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
    """The benign columns sorted once (numpy's vectorised sort), cut to the positions the window can reach,
    with what the kernels read: float64 prefix sums and the exactness bounds of each column.

    ``values(xs)`` gives the window means of a batch of probes; :meth:`settle` records the columns whose rank
    is known over a bracket of γ, after which :meth:`one` takes their means from streamed arrays."""

    def __init__(self, benign, m, first, stop):
        self.m, self.first, self.stop, self.divisor = m, first, stop, float(stop - first)
        k = benign.shape[0]
        self.base = max(first - m, 0)
        cols = np.sort(benign.detach().numpy().T, axis=1)[:, self.base : min(stop, k)]
        self.rows = np.ascontiguousarray(cols)
        d = self.rows.shape[0]
        # float64 values: the rule's float64 sum rounds; windows of <= 2 values are always summed in order
        self.exact_sums = benign.dtype == torch.float32 and stop - first > 2
        if self.exact_sums:
            self.prefix, self.exp_min = np.empty((d, self.rows.shape[1] + 1)), np.empty(d, np.int64)
            self.bounds = np.empty((d, 3))
            _column_summary(self.rows, self.prefix, self.exp_min, self.bounds)
        else:  # the kernels never read these
            self.prefix, self.exp_min, self.bounds = np.zeros((d, 1)), np.zeros(d, np.int64), np.zeros((d, 3))
        self.settled = np.zeros(d, np.bool_)
        self.settled_rank = np.zeros(d, np.int64)
        self.fixed, self.copies = np.zeros(d), np.zeros(d, np.int64)

    def values(self, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(window means, ranks), each (P, d), for the copies ``xs`` (P, d)."""
        by_column = np.ascontiguousarray(xs.T)
        out = np.empty(by_column.shape, dtype=self.rows.dtype)
        ranks = np.empty(by_column.shape, dtype=np.int32)
        _window_means(
            self.rows,
            self.prefix,
            self.exp_min,
            self.bounds,
            by_column,
            self.m,
            self.first,
            self.stop,
            self.base,
            self.divisor,
            self.exact_sums,
            out,
            ranks,
        )
        return out.T, ranks.T  # views: row p is probe p (strided; copying back costs more than the kernel)

    def settle(self, ranks_low: np.ndarray, ranks_high: np.ndarray) -> None:
        """Mark the columns whose rank is the same at both ends of a bracket of γ: the copies x_j(γ) are
        monotone in γ (so is their float32 rounding), hence so is the rank, which is constant in between."""
        if self.settled.all():
            return
        columns = np.flatnonzero(~self.settled & (ranks_low == ranks_high))
        self.settled[columns] = True
        self.settled_rank[columns] = ranks_low[columns]
        if self.exact_sums and columns.size:
            _settle(
                self.prefix,
                columns,
                self.settled_rank,
                self.m,
                self.first,
                self.stop,
                self.base,
                self.fixed,
                self.copies,
            )

    def unsettle(self) -> None:
        self.settled[:] = False

    def one(self, x: np.ndarray, settled: bool) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`values` of one probe (d,); ``settled``: its γ lies in every bracket passed to :meth:`settle`
        since the last :meth:`unsettle`, and the settled columns are read from their streamed arrays."""
        if not settled:
            out, ranks = self.values(x[None])
            return out[0], ranks[0]
        out = np.empty(x.shape, dtype=self.rows.dtype)
        ranks = np.empty(x.shape, dtype=np.int32)
        _settled_means(
            self.rows,
            self.prefix,
            self.exp_min,
            self.bounds,
            np.ascontiguousarray(x),
            self.m,
            self.first,
            self.stop,
            self.base,
            self.divisor,
            self.exact_sums,
            self.settled,
            self.settled_rank,
            self.fixed,
            self.copies,
            out,
            ranks,
        )
        return out, ranks


@numba.njit(cache=True)
def _clamped_means(xs, lows, highs, divisor, out):
    """out[p, j] = (Σ_t max(lows[t, j], min(xs[p, j], highs[t, j]))) / divisor, the float64 sum in t order."""
    n_probes, d = xs.shape
    for p in range(n_probes):
        for j in range(d):
            xj = xs[p, j]
            s = 0.0
            for t in range(lows.shape[0]):
                s += np.float64(max(lows[t, j], min(xj, highs[t, j])))
            out[p, j] = s / divisor


class _ClampWindow:
    """Windows of one or two sorted positions (the median): the value at position t of the merged column is
    max(b_{t−m}, min(x, b_t)) (b the sorted benign column, b_i = −∞ below 0 and +∞ from k on), so a probe
    needs neither rank nor search — one pass over d. The window is then summed as the CPU rule sums it
    (float64, in position order) and divided in float64."""

    def __init__(self, benign, m, first, stop):
        ordered = np.sort(benign.detach().numpy().T, axis=1)
        d, k = ordered.shape
        positions = range(first, stop)
        self.lows = np.stack([ordered[:, t - m] if t >= m else np.full(d, -np.inf, ordered.dtype) for t in positions])
        self.highs = np.stack([ordered[:, t] if t < k else np.full(d, np.inf, ordered.dtype) for t in positions])
        self.divisor = float(stop - first)

    def values(self, xs: np.ndarray) -> tuple[np.ndarray, None]:
        out = np.empty(xs.shape, dtype=self.lows.dtype)
        _clamped_means(np.ascontiguousarray(xs), self.lows, self.highs, self.divisor, out)
        return out, None

    def settle(self, ranks_low, ranks_high) -> None:  # every probe is already cheap
        return None

    def unsettle(self) -> None:
        return None

    def one(self, x: np.ndarray, settled: bool) -> tuple[np.ndarray, None]:
        values, _ = self.values(x[None])
        return values[0], None


class _Objective:
    """J(γ) = ‖window means of (copies ∪ benign) − μ‖₂ on the CPU, probe by probe (``__call__``), for a batch
    of probes in one pass over the sorted columns (:meth:`many`), and faster inside a bracket (:meth:`narrow`):
    every probe records its ranks, and the columns whose rank agrees at both ends of the bracket are settled.
    Every value is the float that ``__call__`` alone returns (tests/attacks/test_attacks_probes.py)."""

    def __init__(self, window: _CpuWindow | _ClampWindow, mean, direction, on_matrix):
        self.window, self.mean, self.direction, self.on_matrix = window, mean, direction, on_matrix
        self.ranks: dict[float, np.ndarray] = {}
        self.bracket: tuple[float, float] | None = None

    def _copies(self, gamma: float) -> torch.Tensor:
        return self.mean.clone() if gamma == 0.0 else self.mean + gamma * self.direction  # the rule's copies

    def _norm(self, values: np.ndarray) -> float:
        return float(torch.linalg.vector_norm(torch.from_numpy(values) - self.mean))

    def __call__(self, gamma: float) -> float:
        x = self._copies(gamma).numpy()
        if not np.isfinite(x).all():  # (numpy's test: the same answer as torch's, ~10x faster here)
            return self.on_matrix(gamma)  # the rule rejects non-finite input: let it raise as before
        inside = self.bracket is not None and self.bracket[0] <= gamma <= self.bracket[1]
        values, ranks = self.window.one(x, settled=inside)
        if ranks is not None:
            self.ranks[gamma] = ranks
        return self._norm(values)

    def many(self, gammas: list[float]) -> list[float]:
        """[self(γ) for γ in gammas], the sorted columns read once."""
        copies = torch.stack([self._copies(g) for g in gammas]).numpy()
        if not np.isfinite(copies).all():
            return [self(g) for g in gammas]  # the first non-finite probe raises, in order, as before
        values, ranks = self.window.values(copies)
        if ranks is not None:
            self.ranks.update(zip(gammas, ranks, strict=True))
        return [self._norm(row) for row in values]

    def narrow(self, low: float, high: float) -> None:
        """The next probes lie in [low, high] (two probed γ): settle the columns whose ranks agree there.

        Columns settled for an earlier bracket stay settled when [low, high] is nested in it."""
        bracket = self.bracket
        if bracket is None or not bracket[0] <= low <= high <= bracket[1]:
            self.window.unsettle()
        if low in self.ranks and high in self.ranks:
            self.window.settle(self.ranks[low], self.ranks[high])
        self.bracket = (low, high)
        self.ranks = {g: r for g, r in self.ranks.items() if low <= g <= high}


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
        >>> from fedlib.attacks._utils.coordinate_probe import coordinate_objective
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
    check_choice(target, COORDINATE_WISE, "target")
    n = n_copies + benign.shape[0]
    window = _window(target, variant, n, f)
    if window is None:
        return None
    if benign.device.type == "cpu" and benign.dtype in (torch.float32, torch.float64):  # the compiled rules
        first, stop = window
        kind = _ClampWindow if stop - first <= 2 else _CpuWindow
        return _Objective(kind(benign, n_copies, first, stop), mean, direction, on_matrix)
    if target != "median":
        return None
    values = _TorchMedian(benign, n_copies, n, variant)

    def objective(gamma: float) -> float:
        x = mean.clone() if gamma == 0.0 else mean + gamma * direction  # the rule's copies, same arithmetic
        if not all_finite(x):
            return on_matrix(gamma)  # the rule rejects non-finite input: let it raise as before
        return float(torch.linalg.vector_norm(values(x) - mean))

    return objective
