r"""Coordinate-wise order statistics on CPU: a sorting network compiled with Numba, vectorised across coordinates.

Median, Trimmed-mean and Bulyan's second stage need, for every coordinate j, order statistics of the n
values :math:`g_{1j}, \dots, g_{nj}`. A general sort per coordinate (``torch.sort`` along the short axis)
spends ~100 ns per value on branchy, scalar code. Here every coordinate goes through the *same* fixed
sequence of compare-exchange steps (Batcher's odd-even merge sort, pruned to n inputs), so each step is a
``min``/``max`` over a block of 64 coordinates that the compiler turns into SIMD instructions, on data that
stays in L1 cache; blocks run in parallel on all cores. ``min``/``max`` are exact, so the sorted values
(and every statistic built from them) are exactly those of a sort; sums are accumulated in float64.

CUDA tensors and half-precision types keep the torch implementations in the rule modules
(``*_torch`` functions), which also serve as the reference these kernels are tested against.

Inputs must be finite (the rules check this first): a sorting network orders NaN arbitrarily.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

try:  # numba is a declared dependency; the import error names it instead of failing deep inside a rule
    import numba
except ImportError as exc:  # pragma: no cover - exercised only on a broken install
    raise ImportError(
        "fedlib's CPU order statistics (median, trimmed_mean, bulyan) need numba; "
        "install the project's dependencies (pip install -e .)"
    ) from exc

WIDTH = 64  # coordinates per SIMD block: 64 float32 = 4 AVX-512 or 8 AVX2 registers per row


@functools.lru_cache(maxsize=None)
def sorting_network(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Batcher's odd-even merge sort for n inputs: compare-exchange pairs ``(lo[k], hi[k])``, ``lo < hi``.

    Built for the next power of two N and pruned to comparators with both ends below n: padding positions
    would hold +inf, which no comparator ever moves, so those comparators are no-ops.
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
    lo = np.array([a for a, _ in pairs], dtype=np.int64)
    hi = np.array([b for _, b in pairs], dtype=np.int64)
    return lo, hi


@numba.njit(cache=True, inline="always")
def _load_and_sort(x, j0, width, lo, hi, buf):
    """Copy coordinates [j0, j0+width) of every row into ``buf`` (n, WIDTH) and sort each column."""
    n = x.shape[0]
    for i in range(n):
        for j in range(width):
            buf[i, j] = x[i, j0 + j]
        for j in range(width, WIDTH):  # tail block: pad with copies, their results are never stored
            buf[i, j] = x[i, j0]
    for k in range(lo.shape[0]):
        a = lo[k]
        b = hi[k]
        for j in range(WIDTH):
            u = buf[a, j]
            v = buf[b, j]
            buf[a, j] = min(u, v)
            buf[b, j] = max(u, v)


@numba.njit(parallel=True, cache=True)
def _sorted_window_mean(x, lo, hi, first, stop, out):
    """out[j] = mean of the sorted values at positions [first, stop) of coordinate j (float64 sum)."""
    n, d = x.shape
    count = stop - first
    for block in numba.prange((d + WIDTH - 1) // WIDTH):
        j0 = block * WIDTH
        width = min(WIDTH, d - j0)
        buf = np.empty((n, WIDTH), dtype=x.dtype)
        _load_and_sort(x, j0, width, lo, hi, buf)
        for j in range(width):
            acc = 0.0
            for i in range(first, stop):
                acc += buf[i, j]
            out[j0 + j] = acc / count


@numba.njit(parallel=True, cache=True)
def _closest_to_median_mean(x, lo, hi, beta, lower_median, half, out):
    """out[j] = mean of the ``beta`` values of coordinate j closest to its median; ties in distance go to
    the earlier row. Distances and the median are computed in the input dtype, as the torch version does."""
    n, d = x.shape
    for block in numba.prange((d + WIDTH - 1) // WIDTH):
        j0 = block * WIDTH
        width = min(WIDTH, d - j0)
        buf = np.empty((n, WIDTH), dtype=x.dtype)
        _load_and_sort(x, j0, width, lo, hi, buf)
        for j in range(width):
            if lower_median or n % 2 == 1:
                med = buf[(n - 1) // 2, j]
            else:
                med = buf[(n - 1) // 2, j] * half[0] + buf[n // 2, j] * half[0]  # input dtype, halves first
            # The beta smallest distances form a window of the sorted values around the median: grow it
            # from the split point, one value at a time, from whichever side is closer.
            right = 0
            while right < n and buf[right, j] < med:
                right += 1
            left = right - 1
            cutoff = abs(buf[0, j] - med)
            for _ in range(beta):
                if right >= n or (left >= 0 and abs(buf[left, j] - med) <= abs(buf[right, j] - med)):
                    cutoff = abs(buf[left, j] - med)
                    left -= 1
                else:
                    cutoff = abs(buf[right, j] - med)
                    right += 1
            # Everything strictly closer than the cutoff is taken; the remaining places go to the earliest
            # rows at exactly the cutoff distance (a stable sort by distance does the same).
            acc = 0.0
            taken = 0
            for i in range(n):
                if abs(x[i, j0 + j] - med) < cutoff:
                    acc += x[i, j0 + j]
                    taken += 1
            for i in range(n):
                if taken == beta:
                    break
                if abs(x[i, j0 + j] - med) == cutoff:
                    acc += x[i, j0 + j]
                    taken += 1
            out[j0 + j] = acc / beta


def supported(x: torch.Tensor) -> bool:
    """Whether the compiled kernels handle ``x`` (CPU float32/float64); otherwise use the torch version."""
    return x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)


def _as_numpy(x: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(x.detach().numpy())


def sorted_window_mean(x: torch.Tensor, first: int, stop: int) -> torch.Tensor:
    """Per column j of ``x`` (n, d): the mean of its sorted values at positions [first, stop).

    ``first = f, stop = n - f`` is the trimmed mean; ``[(n-1)//2, n//2 + 1)`` the textbook median.

    Example:
        >>> import torch
        >>> from fedlib.aggregators._order import sorted_window_mean
        >>> sorted_window_mean(torch.tensor([[3.0, 0.0], [1.0, 5.0], [2.0, 4.0]]), 1, 2)
        tensor([2., 4.])
    """
    n, d = x.shape
    if not 0 <= first < stop <= n:
        raise ValueError(f"expected 0 <= first < stop <= n={n}; found first={first}, stop={stop}")
    lo, hi = sorting_network(n)
    out = np.empty(d, dtype=_as_numpy(x[:, :0]).dtype)
    _sorted_window_mean(_as_numpy(x), lo, hi, first, stop, out)
    return torch.from_numpy(out)


def closest_to_median_mean(x: torch.Tensor, beta: int, lower_median: bool) -> torch.Tensor:
    """Per column j of ``x`` (m, d): the mean of the ``beta`` values closest to the column's median (the
    lower middle value if ``lower_median``, else the mean of the two middle values for even m); ties in
    distance go to the earlier row."""
    m, d = x.shape
    if not 1 <= beta <= m:
        raise ValueError(f"expected 1 <= beta <= m={m}; found beta={beta}")
    lo, hi = sorting_network(m)
    out = np.empty(d, dtype=_as_numpy(x[:, :0]).dtype)
    arr = _as_numpy(x)
    half = np.full(1, 0.5, dtype=arr.dtype)  # keeps the median's arithmetic in the input dtype
    _closest_to_median_mean(arr, lo, hi, beta, lower_median, half, out)
    return torch.from_numpy(out)
