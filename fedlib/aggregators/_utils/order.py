r"""Coordinate-wise order statistics on CPU: a sorting network compiled with Numba, vectorised across coordinates.

Median, Trimmed-mean and Bulyan's second stage need, for every coordinate j, order statistics of the n
values :math:`g_{1j}, \dots, g_{nj}`. A general sort per coordinate (``torch.sort`` along the short axis)
spends ~100 ns per value on branchy, scalar code. Here every coordinate goes through the *same* fixed
sequence of compare-exchange steps (Batcher's odd-even merge sort, pruned to n inputs), so each step is a
``min``/``max`` over a block of 64 coordinates that the compiler turns into SIMD instructions, on data that
stays in L1 cache; blocks run in parallel on all cores. ``min``/``max`` are exact, so the sorted values
(and every statistic built from them) are exactly those of a sort; sums are accumulated in float64.

Tensors on other devices (CUDA) keep the torch implementations in the rule modules (``*_torch``
functions), which also serve as the reference these kernels are tested against.

Inputs must be finite (the rules check this first): a sorting network orders NaN arbitrarily.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from ..._compiled import numba

WIDTH = 64  # coordinates per SIMD block: 64 float32 = 4 AVX-512 or 8 AVX2 registers per row


@functools.cache
def sorting_network(n: int, needed: tuple | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Batcher's odd-even merge sort for n inputs: compare-exchange pairs ``(lo[k], hi[k])``, ``lo < hi``.

    Built for the next power of two N and pruned to comparators with both ends below n: padding positions
    would hold +inf, which no comparator ever moves, so those comparators are no-ops.

    ``needed`` (sorted output positions): keep only the comparators whose results can reach those
    positions (walking backwards, a comparator stays if it touches a wire that a kept comparator or a
    needed output reads). The needed outputs are then exactly those of a full sort, the other wires hold
    the remaining values in some order (a selection network; ~20 % fewer comparators for a median).
    """
    if n < 1:
        raise ValueError(f"sorting_network needs n >= 1 inputs; found n={n}")
    size = 1
    while size < n:
        size *= 2
    pairs = []
    p = 1
    while p < size:
        k = p
        while k >= 1:
            for j in range(k % p, size - k, 2 * k):
                for i in range(min(k, size - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p) and i + j + k < n:
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    if needed is not None:
        wires, kept = set(needed), []
        for a, b in reversed(pairs):
            if a in wires or b in wires:
                kept.append((a, b))
                wires |= {a, b}
        pairs = kept[::-1]
    lo = np.array([a for a, _ in pairs], dtype=np.int64)
    hi = np.array([b for _, b in pairs], dtype=np.int64)
    return lo, hi


@numba.njit(cache=True, inline="always")
def _sort_columns(buf, lo, hi):
    """Sort every column of ``buf`` (m, WIDTH) with the network (lo, hi): SIMD across the columns."""
    for k in range(lo.shape[0]):
        a = lo[k]
        b = hi[k]
        for j in range(WIDTH):
            u = buf[a, j]
            v = buf[b, j]
            buf[a, j] = min(u, v)
            buf[b, j] = max(u, v)


@numba.njit(cache=True, inline="always")
def _load_and_sort(x, rows, j0, width, lo, hi, buf):
    """Copy coordinates [j0, j0+width) of rows ``rows`` of ``x`` into ``buf`` (m, WIDTH) and run the network
    (lo, hi) on each column (a full sort, or a selection network for the positions it was pruned to)."""
    for i in range(rows.shape[0]):
        r = rows[i]
        for j in range(width):
            buf[i, j] = x[r, j0 + j]
        for j in range(width, WIDTH):  # tail block: pad with copies, their results are never stored
            buf[i, j] = x[r, j0]
    _sort_columns(buf, lo, hi)


@numba.njit(parallel=True, cache=True)
def _sorted_summary(x, rows, lo, hi, positions, first, stop, divisor, picked, window):
    """window[j] = (float64 sum of the sorted values of coordinate j at positions [first, stop)) / divisor,
    stored in ``window``'s dtype; picked[p, j] = the sorted value at ``positions[p]``."""
    d = x.shape[1]
    m = rows.shape[0]
    for block in numba.prange((d + WIDTH - 1) // WIDTH):
        j0 = block * WIDTH
        width = min(WIDTH, d - j0)
        buf = np.empty((m, WIDTH), dtype=x.dtype)
        _load_and_sort(x, rows, j0, width, lo, hi, buf)
        for j in range(width):
            acc = 0.0
            for i in range(first, stop):
                acc += buf[i, j]
            window[j0 + j] = acc / divisor
            for p in range(positions.shape[0]):
                picked[p, j0 + j] = buf[positions[p], j]


@numba.njit(parallel=True, cache=True)
def _mean_nearest_median_kernel(x, rows, lo, hi, dlo, dhi, beta, lower_median, half, out):
    """out[j] = mean of the ``beta`` values of coordinate j (over ``rows`` of ``x``) closest to their median;
    ties in distance go to the earlier entry of ``rows``. The median and the distances are computed in the
    input dtype, as the torch version does, so both see the same ties."""
    d = x.shape[1]
    m = rows.shape[0]
    inf = np.inf
    for block in numba.prange((d + WIDTH - 1) // WIDTH):
        j0 = block * WIDTH
        width = min(WIDTH, d - j0)
        buf = np.empty((m, WIDTH), dtype=x.dtype)
        _load_and_sort(x, rows, j0, width, lo, hi, buf)
        med = np.empty(WIDTH, dtype=x.dtype)
        for j in range(WIDTH):
            if lower_median or m % 2 == 1:
                med[j] = buf[(m - 1) // 2, j]
            else:
                med[j] = buf[(m - 1) // 2, j] * half[0] + buf[m // 2, j] * half[0]  # halves first
        dist = np.empty((m, WIDTH), dtype=x.dtype)
        for i in range(m):
            for j in range(WIDTH):
                dist[i, j] = abs(buf[i, j] - med[j])
        ranked = dist.copy()
        _sort_columns(ranked, dlo, dhi)  # ranked[beta - 1] is the distance of the beta-th closest value
        acc = np.zeros(WIDTH, dtype=np.float64)
        taken = np.zeros(WIDTH, dtype=np.int64)
        tie_low = np.full(WIDTH, inf)
        tie_high = np.full(WIDTH, -inf)
        for i in range(m):
            for j in range(WIDTH):
                cut = ranked[beta - 1, j]
                v = buf[i, j]
                if dist[i, j] < cut:
                    acc[j] += v
                    taken[j] += 1
                elif dist[i, j] == cut:
                    tie_low[j] = min(tie_low[j], v)
                    tie_high[j] = max(tie_high[j], v)
        for j in range(width):
            rest = beta - taken[j]  # places left for values exactly at the cutoff distance (>= 1)
            if tie_low[j] == tie_high[j]:  # one value at the cutoff: which rows hold it does not matter
                acc[j] += rest * tie_low[j]
            else:  # med - δ and med + δ both at the cutoff: the earlier rows win, as in a stable sort
                cut = ranked[beta - 1, j]
                for i in range(m):
                    if rest == 0:
                        break
                    v = x[rows[i], j0 + j]
                    if abs(v - med[j]) == cut:
                        acc[j] += v
                        rest -= 1
            out[j0 + j] = acc[j] / beta


def supported(x: torch.Tensor) -> bool:
    """Whether the compiled kernels handle ``x`` (CPU float32/float64); otherwise use the torch version."""
    return x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)


def as_numpy(x: torch.Tensor) -> np.ndarray:
    match_torch_threads()
    return np.ascontiguousarray(x.detach().numpy())


def match_torch_threads() -> None:
    """Run the compiled kernels on as many threads as torch uses (``torch.set_num_threads``, which the sweep
    workers pin), so that a worker process never oversubscribes the cores it was given."""
    # numba.config sets NUMBA_NUM_THREADS at import time from the environment; its stubs do not list it
    cap = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]
    numba.set_num_threads(max(1, min(torch.get_num_threads(), cap)))


def sorted_window_mean(x: torch.Tensor, first: int, stop: int) -> torch.Tensor:
    """Per column j of ``x`` (n, d): the mean of its sorted values at positions [first, stop).

    ``first = f, stop = n - f`` is the trimmed mean; ``[(n-1)//2, n//2 + 1)`` the textbook median.

    Example:
        >>> import torch
        >>> from fedlib.aggregators._utils.order import sorted_window_mean
        >>> sorted_window_mean(torch.tensor([[3.0, 0.0], [1.0, 5.0], [2.0, 4.0]]), 1, 2)
        tensor([2., 4.])
    """
    n, d = x.shape
    if not 0 <= first < stop <= n:
        raise ValueError(f"expected 0 <= first < stop <= n={n}; found first={first}, stop={stop}")
    lo, hi = sorting_network(n, tuple(range(first, stop)))
    arr = as_numpy(x)
    out = np.empty(d, dtype=arr.dtype)
    _sorted_summary(
        arr,
        np.arange(n),
        lo,
        hi,
        np.empty(0, dtype=np.int64),
        first,
        stop,
        float(stop - first),
        np.empty((0, d), dtype=arr.dtype),
        out,
    )
    return torch.from_numpy(out)


def sorted_rows_and_window_sum(
    x: torch.Tensor, positions: list[int], first: int, stop: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The sorted values of every column of ``x`` (n, d) at ``positions`` ((len(positions), d), x's dtype)
    and the float64 sum of the sorted values at positions [first, stop) ((d,)); one pass, no sorted copy
    of the whole matrix.

    Example:
        >>> import torch
        >>> from fedlib.aggregators._utils.order import sorted_rows_and_window_sum
        >>> rows, total = sorted_rows_and_window_sum(torch.tensor([[3.0], [1.0], [2.0]]), [0, 2], 0, 2)
        >>> rows.flatten().tolist(), total.tolist()
        ([1.0, 3.0], [3.0])
    """
    n, d = x.shape
    if not 0 <= first <= stop <= n or any(not 0 <= p < n for p in positions):
        raise ValueError(
            f"expected positions in [0, {n}) and 0 <= first <= stop <= {n}; "
            f"found positions={positions}, first={first}, stop={stop}"
        )
    lo, hi = sorting_network(n, tuple(sorted(set(positions) | set(range(first, stop)))))
    arr = as_numpy(x)
    picked = np.empty((len(positions), d), dtype=arr.dtype)
    window_sum = np.empty(d, dtype=np.float64)
    _sorted_summary(
        arr, np.arange(n), lo, hi, np.asarray(positions, dtype=np.int64), first, stop, 1.0, picked, window_sum
    )
    return torch.from_numpy(picked), torch.from_numpy(window_sum)


def mean_nearest_median_compiled(
    x: torch.Tensor, beta: int, lower_median: bool, rows: torch.Tensor | None = None
) -> torch.Tensor:
    """Per column j of ``x[rows]`` (m, d): the mean of the ``beta`` values closest to the column's median
    (the lower middle value if ``lower_median``, else the mean of the two middle values for even m); ties
    in distance go to the earlier entry of ``rows``. ``rows`` (default: every row, in order) is read in
    place: Bulyan's selection is never copied out of ``x``.

    Example:
        >>> import torch
        >>> from fedlib.aggregators._utils.order import mean_nearest_median_compiled
        >>> x = torch.tensor([[0.0], [1.0], [3.0], [10.0]])
        >>> upper = mean_nearest_median_compiled(x, 2, lower_median=False)
        >>> upper, mean_nearest_median_compiled(x, 1, True, torch.tensor([3, 2]))
        (tensor([2.]), tensor([3.]))
    """
    index = np.arange(x.shape[0]) if rows is None else rows.detach().cpu().numpy().astype(np.int64)
    m, d = index.shape[0], x.shape[1]
    if not 1 <= beta <= m:
        raise ValueError(f"expected 1 <= beta <= m={m}; found beta={beta}")
    # Only the median positions of the values and the beta-th smallest distance must come out sorted; the
    # sums below do not depend on the order of the other values (selection networks suffice).
    lo, hi = sorting_network(m, ((m - 1) // 2, m // 2))
    dlo, dhi = sorting_network(m, (beta - 1,))
    arr = as_numpy(x)
    out = np.empty(d, dtype=arr.dtype)
    half = np.full(1, 0.5, dtype=arr.dtype)  # keeps the median's arithmetic in the input dtype
    _mean_nearest_median_kernel(arr, index, lo, hi, dlo, dhi, beta, lower_median, half, out)
    return torch.from_numpy(out)
