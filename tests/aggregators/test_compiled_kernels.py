"""The compiled (numba) kernels against the plain torch implementations they replace.

The CPU median, trimmed mean and Bulyan run on sorting-network kernels (fedlib/aggregators/_utils/order.py),
Fang's defense on leave-one-out aggregates from one sorted pass, and the iterative Krum selection on a
compiled loop. The torch implementations stay as the reference (and as the CUDA path), so each test
compares the two on identical inputs, with ties (small integers), window boundaries (d around multiples
of the 64-coordinate block) and both dtypes.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from helpers.asserts import assert_close
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fedlib.aggregators._bulyan import mean_nearest_median, mean_nearest_median_torch
from fedlib.aggregators._median import median_torch, median_values
from fedlib.aggregators._trimmed_mean import trimmed_mean_torch
from fedlib.aggregators._utils import order as _order

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DTYPES = [torch.float32, torch.float64]


def apply_network(values: np.ndarray, n: int) -> np.ndarray:
    """Run the comparators on every row of ``values`` (k, n) with numpy (vectorised over rows)."""
    out = values.copy()
    for a, b in zip(*_order.sorting_network(n), strict=True):
        lo, hi = np.minimum(out[:, a], out[:, b]), np.maximum(out[:, a], out[:, b])
        out[:, a], out[:, b] = lo, hi
    return out


@pytest.mark.parametrize("n", range(1, 15))
def test_network_sorts_every_zero_one_input(n):
    # 0-1 principle: a comparator network sorts every input iff it sorts every 0/1 input.
    bits = np.array(list(itertools.product([0, 1], repeat=n)), dtype=np.int8)
    assert (np.diff(apply_network(bits, n), axis=1) >= 0).all()


@pytest.mark.parametrize("n", [15, 16, 17, 31, 33, 50, 64, 65, 100])
def test_network_sorts_random_inputs(n):
    values = np.random.default_rng(n).integers(-5, 6, size=(4000, n))
    np.testing.assert_array_equal(apply_network(values, n), np.sort(values, axis=1))


@pytest.mark.parametrize("n", range(1, 13))
def test_pruned_network_gets_the_needed_positions_right(n):
    # 0-1 principle again, on the needed output positions only (the rest may come out in any order).
    bits = np.array(list(itertools.product([0, 1], repeat=n)), dtype=np.int8)
    expected = np.sort(bits, axis=1)
    rng = np.random.default_rng(n)
    for needed in [((n - 1) // 2, n // 2), (0,), (n - 1,), tuple(range(n // 3, n - n // 3)),
                   tuple(sorted(set(rng.integers(0, n, size=3).tolist())))]:
        lo, hi = _order.sorting_network(n, needed)
        assert len(lo) <= len(_order.sorting_network(n)[0])
        out = bits.copy()
        for a, b in zip(lo, hi, strict=True):
            out[:, a], out[:, b] = np.minimum(out[:, a], out[:, b]), np.maximum(out[:, a], out[:, b])
        np.testing.assert_array_equal(out[:, list(needed)], expected[:, list(needed)])
        np.testing.assert_array_equal(np.sort(out, axis=1), expected)  # still a permutation


def test_network_rejects_empty():
    with pytest.raises(ValueError, match="n >= 1"):
        _order.sorting_network(0)


def make(n: int, d: int, kind: str, dtype: torch.dtype, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    if kind == "ties":  # many exact ties in values and in distances to the median
        return torch.randint(-3, 4, (n, d), generator=g).to(dtype)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    if kind == "offset":
        x = x * 1e-3 + 50.0
    return x.to(dtype)


shapes = st.tuples(st.integers(1, 70), st.sampled_from([1, 2, 63, 64, 65, 129, 300]))
kinds = st.sampled_from(["gauss", "ties", "offset"])


@SETTINGS
@given(shape=shapes, kind=kinds, seed=st.integers(0, 2**16), dtype=st.sampled_from(DTYPES), data=st.data())
def test_sorted_window_mean_matches_torch_sort(shape, kind, seed, dtype, data):
    n, d = shape
    x = make(n, d, kind, dtype, seed)
    first = data.draw(st.integers(0, n - 1))
    stop = data.draw(st.integers(first + 1, n))
    expected = x.double().sort(dim=0).values[first:stop].mean(dim=0).to(dtype)
    assert_close(_order.sorted_window_mean(x, first, stop), expected, rtol=1e-6 if dtype == torch.float32 else 1e-12,
                 atol=1e-6 if dtype == torch.float32 else 1e-12)


@SETTINGS
@given(shape=shapes, kind=kinds, seed=st.integers(0, 2**16), dtype=st.sampled_from(DTYPES),
       variant=st.sampled_from(["textbook", "ndss21"]))
def test_median_matches_torch(shape, kind, seed, dtype, variant):
    x = make(*shape, kind, dtype, seed)
    assert_close(median_values(x, variant), median_torch(x, variant))


@SETTINGS
@given(shape=shapes, kind=kinds, seed=st.integers(0, 2**16), dtype=st.sampled_from(DTYPES), data=st.data())
def test_trimmed_mean_matches_torch(shape, kind, seed, dtype, data):
    n, d = shape
    f = data.draw(st.integers(0, (n - 1) // 2))
    x = make(n, d, kind, dtype, seed)
    assert_close(_order.sorted_window_mean(x, f, n - f), trimmed_mean_torch(x, f))


@SETTINGS
@given(shape=shapes, kind=kinds, seed=st.integers(0, 2**16), dtype=st.sampled_from(DTYPES),
       variant=st.sampled_from(["textbook", "ndss21"]), data=st.data())
def test_closest_to_median_mean_matches_torch_including_ties(shape, kind, seed, dtype, variant, data):
    m, d = shape
    beta = data.draw(st.integers(1, m))
    x = make(m, d, kind, dtype, seed)
    assert_close(mean_nearest_median(x, beta, variant), mean_nearest_median_torch(x, beta, variant))


def test_distance_tie_goes_to_the_earlier_row():
    # median 1 (textbook, mean of 0 and 2); 0 and 2 are equally close: beta = 1 takes the earlier row.
    x = torch.tensor([[2.0], [0.0], [-5.0], [9.0]])
    assert mean_nearest_median(x, 1, "textbook").item() == 2.0
    assert mean_nearest_median(x.flip(0), 1, "textbook").item() == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_non_contiguous_input_and_dtype(dtype):
    base = make(129, 40, "gauss", dtype, 3)
    view = base.T  # (40, 129), not contiguous
    out = _order.sorted_window_mean(view, 5, 35)
    assert out.dtype == dtype and out.shape == (129,)
    assert_close(out, _order.sorted_window_mean(view.contiguous(), 5, 35), rtol=0, atol=0)


@pytest.mark.parametrize("first,stop", [(-1, 2), (2, 2), (0, 11)])
def test_window_out_of_range(first, stop):
    with pytest.raises(ValueError, match="0 <= first < stop <= n=10"):
        _order.sorted_window_mean(torch.zeros(10, 3), first, stop)


def test_only_cpu_float32_and_float64_use_the_kernels():
    assert _order.supported(torch.zeros(2, 2)) and _order.supported(torch.zeros(2, 2, dtype=torch.float64))
    assert not _order.supported(torch.zeros(2, 2, dtype=torch.bfloat16))
    assert not _order.supported(torch.zeros(2, 2, device="meta"))


@SETTINGS
@given(shape=shapes, kind=kinds, seed=st.integers(0, 2**16), dtype=st.sampled_from(DTYPES),
       variant=st.sampled_from(["textbook", "ndss21"]), data=st.data())
def test_closest_to_median_mean_reads_selected_rows_in_place(shape, kind, seed, dtype, variant, data):
    # Bulyan passes its selection (in selection order) instead of copying the rows out.
    n, d = shape
    x = make(n, d, kind, dtype, seed)
    rows = torch.tensor(data.draw(st.permutations(range(n)))[: data.draw(st.integers(1, n))])
    beta = data.draw(st.integers(1, rows.numel()))
    expected = mean_nearest_median_torch(x.index_select(0, rows), beta, variant)
    assert_close(_order.mean_nearest_median_compiled(x, beta, variant == "ndss21", rows=rows), expected)


@SETTINGS
@given(shape=shapes, kind=kinds, seed=st.integers(0, 2**16), dtype=st.sampled_from(DTYPES),
       base=st.sampled_from(["trimmed_mean", "median"]), variant=st.sampled_from(["textbook", "ndss21"]),
       data=st.data())
def test_leave_one_out_matches_the_rule_on_the_remaining_rows(shape, kind, seed, dtype, base, variant, data):
    import fedlib.aggregators as agg
    from fedlib.aggregators._utils.leave_one_out import leave_one_out

    n, d = shape
    x = make(n, d, kind, dtype, seed)
    f = data.draw(st.integers(0, max(0, (n - 2) // 2)))
    shortcut = leave_one_out(x, f, base, variant, {})
    if n < 2 or (base == "trimmed_mean" and n - 1 <= 2 * f):
        assert shortcut is None  # the rule itself runs (and raises where n - 1 rows are too few)
        return
    for i in range(n):
        rest = torch.cat([x[:i], x[i + 1:]])
        expected = agg.aggregate(base, rest, f, variant=variant).vector
        assert_close(shortcut(i), expected, rtol=1e-6 if dtype == torch.float32 else 1e-12,
                     atol=1e-6 if dtype == torch.float32 else 1e-12)
    if base == "trimmed_mean" and f >= 1:  # the aggregate of all rows, from the same pass: bit for bit
        assert torch.equal(shortcut.whole, agg.aggregate(base, x, f, variant=variant).vector)
    else:
        assert shortcut.whole is None


def test_leave_one_out_declines_what_it_does_not_cover():
    from fedlib.aggregators._utils.leave_one_out import leave_one_out

    x = torch.randn(9, 4)
    assert leave_one_out(x, 2, "krum", "textbook", {}) is None
    assert leave_one_out(x, 2, "median", "textbook", {"unused": 1}) is None
    assert leave_one_out(x, 4, "trimmed_mean", "textbook", {}) is None  # 8 rows cannot trim 4 + 4


def krum_selection_reference(dist, f, n_select, variant):
    """The straightforward loop: recompute every score on the remaining rows with krum_scores, argmin."""
    from fedlib.aggregators import krum_scores

    remaining, chosen = list(range(dist.shape[0])), []
    for _ in range(n_select):
        if variant == "ndss21" and len(remaining) - f - 2 <= 0:
            break
        idx = torch.tensor(remaining)
        scores = krum_scores(dist[idx][:, idx].double(), f, variant=variant)
        chosen.append(remaining.pop(int(torch.argmin(scores))))
    return chosen


@SETTINGS
@given(n=st.integers(1, 40), kind=kinds, seed=st.integers(0, 2**16), dtype=st.sampled_from(DTYPES),
       variant=st.sampled_from(["textbook", "ndss21"]), data=st.data())
def test_krum_selection_matches_the_recomputing_loop(n, kind, seed, dtype, variant, data):
    from fedlib.aggregators import krum_selection, pairwise_sq_distances

    x = make(n, 5, kind, dtype, seed)
    if kind == "ties" and n > 3:
        x[n // 2] = x[0]  # duplicated rows: zero distances besides the diagonal
    f = data.draw(st.integers(0, n))
    n_select = data.draw(st.integers(0, n))
    dist = pairwise_sq_distances(x)
    assert krum_selection(dist, f, n_select, variant=variant).tolist() == krum_selection_reference(
        dist, f, n_select, variant)


def test_kernels_follow_torch_thread_count():
    # Sweep workers pin torch to their share of the cores; the compiled kernels must not use more.
    import numba

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        _order.sorted_window_mean(torch.randn(5, 100), 1, 4)
        assert numba.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    _order.sorted_window_mean(torch.randn(5, 100), 1, 4)
    assert numba.get_num_threads() == min(before, numba.config.NUMBA_NUM_THREADS)


def duplicate_classes_reference(x):
    """rep[i] = lowest j whose row has the same bits as row i (the O(n²·d) definition)."""
    bits = x.view(torch.int32 if x.dtype == torch.float32 else torch.int64)
    return [next(j for j in range(i + 1) if torch.equal(bits[j], bits[i])) for i in range(x.shape[0])]


@SETTINGS
@given(n=st.integers(1, 12), d=st.integers(1, 300), block=st.integers(1, 128), seed=st.integers(0, 2**16),
       dtype=st.sampled_from(DTYPES), strided=st.booleans(), data=st.data())
def test_duplicate_rows_match_the_pairwise_definition(n, d, block, seed, dtype, strided, data):
    """The compiled block comparison (contiguous rows) and the torch one (strided columns), against the
    definition; copies, permuted copies (same checksum) and copies differing in one late entry."""
    from fedlib._blocks import DuplicateRows, column_blocks, distances_from_gram

    g = torch.Generator().manual_seed(seed)
    x = torch.randint(-3, 4, (n, 2 * d if strided else d), generator=g).to(dtype)
    x = x[:, ::2] if strided else x
    for _ in range(data.draw(st.integers(0, n))):
        i, j = data.draw(st.integers(0, n - 1)), data.draw(st.integers(0, n - 1))
        x[i] = x[j]
        how = data.draw(st.sampled_from(["copy", "permuted", "last_entry"]))
        if how == "permuted":
            x[i] = x[j].flip(0)
        elif how == "last_entry":
            x[i, -1] += 1.0
    found = DuplicateRows(x, slice(0, min(block, d)))
    for cols in column_blocks(d, block):
        found.update(x[:, cols])
    rep = found.representatives()
    expected = duplicate_classes_reference(x.contiguous())
    assert (list(range(n)) if rep is None else rep.tolist()) == expected
    if rep is not None:  # identical rows get identical Gram rows and columns, hence identical distances
        dist = distances_from_gram(torch.randn(n, n, dtype=torch.float64, generator=g), rep)
        for i, j in enumerate(expected):
            assert torch.equal(dist[i], dist[j]) and torch.equal(dist[:, i], dist[:, j])


def test_parallel_kernels_leave_torch_threads_alone():
    """A parallel compiled kernel must not change torch's thread count (numba's OpenMP layer did: 1 -> 2, and
    its spinning threads slowed later torch calls ~100x). Run in a fresh process so the layer is chosen there."""
    import subprocess
    import sys

    code = (
        "import os, torch; os.environ.pop('NUMBA_THREADING_LAYER', None); torch.set_num_threads(1);"
        "import fedlib.aggregators as agg, numba;"
        "agg.median(torch.randn(9, 5000), 2); agg.trimmed_mean(torch.randn(9, 5000), 2);"
        "print(torch.get_num_threads(), numba.threading_layer())"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "NUMBA_THREADING_LAYER"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split() == ["1", "workqueue"], out.stdout + out.stderr
