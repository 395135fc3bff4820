"""Vectorized rules vs slow numpy float64 loop oracles (tests/helpers/oracles_agg.py), under hypothesis.

Inputs come from a seeded numpy RandomState so hypothesis explores (n, f, d, input kind, seed):
- ``ints``: small integers, exact in float32 and float64, full of exact ties: selections must match the
  oracle index for index (lowest index wins every tie);
- ``dups``: integers whose first rows are identical copies (the attack layout);
- ``gauss``: continuous values, where float32 rounding can flip near-ties: selections are checked by
  replaying the oracle scores at every step, vectors against the oracle run on the rows actually selected.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import oracles_agg as oracle
from helpers.asserts import assert_close, assert_selection_valid, tolerances
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import fedlib.aggregators as agg
from fedlib.errors import ConfigError

VARIANTS = ["textbook", "ndss21"]
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def make_input(kind: str, n: int, d: int, seed: int, n_copies: int = 0) -> np.ndarray:
    rs = np.random.RandomState(seed)
    if kind == "gauss":
        return rs.normal(size=(n, d)) * rs.uniform(0.5, 2.0, size=d) + rs.normal(size=d)
    x = rs.randint(-3, 4, size=(n, d)).astype(np.float64)
    if kind == "dups" and n_copies > 1:
        x[1:n_copies] = x[0]
    return x


@st.composite
def krum_case(draw, min_n_of_f, max_n=13):
    f = draw(st.integers(0, 3))
    n = draw(st.integers(min_n_of_f(f), max(min_n_of_f(f), max_n)))
    d = draw(st.integers(1, 6))
    kind = draw(st.sampled_from(["ints", "dups", "gauss"]))
    seed = draw(st.integers(0, 2**31 - 1))
    return make_input(kind, n, d, seed, n_copies=f + 1), f, kind


def as_tensor(x: np.ndarray, dtype, device) -> torch.Tensor:
    return torch.tensor(x, dtype=dtype, device=device)


def check_selection(x, f, selected, n_select, variant, kind, dtype):
    if kind == "gauss":
        tol = tolerances(dtype)
        oracle.replay_selection(x, f, selected, variant, rtol=tol["rtol"], atol=tol["atol"])
        expected_len = len(oracle.krum_selection(x, f, n_select, variant))
        assert len(selected) == expected_len
    else:
        assert selected == oracle.krum_selection(x, f, n_select, variant)


@pytest.mark.parametrize("variant", VARIANTS)
@SETTINGS
@given(case=krum_case(lambda f: 2 * f + 3))
def test_krum_matches_oracle(case, variant, dtype, device):
    x, f, kind = case
    t = as_tensor(x, dtype, device)
    result = agg.krum(t, f, variant=variant)
    check_selection(x, f, result.selected.tolist(), 1, variant, kind, dtype)
    assert_close(result.vector, x[int(result.selected[0])])
    scores = agg.krum_scores(agg.pairwise_sq_distances(t), f, variant=variant)
    assert_close(scores, oracle.krum_scores(x, f, variant), rtol=1e-4 if dtype == torch.float32 else 1e-9,
                 atol=1e-3 if dtype == torch.float32 else 1e-9)


@pytest.mark.parametrize("variant", VARIANTS)
@SETTINGS
@given(case=krum_case(lambda f: 2 * f + 3), data=st.data())
def test_multi_krum_matches_oracle(case, variant, data, dtype, device):
    x, f, kind = case
    n = len(x)
    n_select = data.draw(st.one_of(st.none(), st.integers(1, n if variant == "textbook" else n - f - 2)))
    result = agg.multi_krum(as_tensor(x, dtype, device), f, variant=variant, n_select=n_select)
    expected_count = n - 2 * f - 2 if n_select is None else n_select
    selected = result.selected.tolist()
    assert len(selected) == expected_count
    check_selection(x, f, selected, expected_count, variant, kind, dtype)
    assert_close(result.vector, oracle.mean(x[selected]))
    if kind != "gauss":
        expected_vector, _ = oracle.multi_krum(x, f, variant, n_select)
        assert_close(result.vector, expected_vector)


@pytest.mark.parametrize("variant", VARIANTS)
@SETTINGS
@given(case=krum_case(lambda f: 4 * f + 3, max_n=15))
def test_bulyan_matches_oracle(case, variant, dtype, device):
    x, f, kind = case
    result = agg.bulyan(as_tensor(x, dtype, device), f, variant=variant)
    selected = result.selected.tolist()
    check_selection(x, f, selected, len(x) - 2 * f, variant, kind, dtype)
    beta = len(selected) - 2 * f
    assert result.info["beta"] == beta
    assert_close(result.vector, oracle.bulyan_coordinate_step(x[selected], beta, variant))
    if kind != "gauss":
        assert_close(result.vector, oracle.bulyan(x, f, variant)[0])


def test_bulyan_ndss21_early_stop_with_f1(dtype, device):
    """Released loop stops at |R| - f - 2 <= 0: f=1 selects n-3 rows and averages n-5 (spec §3.4)."""
    x = make_input("gauss", 9, 4, 0)
    result = agg.bulyan(as_tensor(x, dtype, device), 1, variant="ndss21")
    assert result.selected.numel() == 9 - 3 and result.info["beta"] == 9 - 5
    textbook = agg.bulyan(as_tensor(x, dtype, device), 1, variant="textbook")
    assert textbook.selected.numel() == 9 - 2 and textbook.info["beta"] == 9 - 4


@st.composite
def coordinate_case(draw, min_n_of_f):
    f = draw(st.integers(0, 4))
    n = draw(st.integers(min_n_of_f(f), min_n_of_f(f) + 8))
    d = draw(st.integers(1, 7))
    kind = draw(st.sampled_from(["ints", "dups", "gauss"]))
    return make_input(kind, n, d, draw(st.integers(0, 2**31 - 1)), n_copies=f + 1), f


@pytest.mark.parametrize("variant", VARIANTS)
@SETTINGS
@given(case=coordinate_case(lambda f: 2 * f + 1))
def test_trimmed_mean_matches_oracle(case, variant, dtype, device):
    x, f = case
    assert_close(agg.trimmed_mean(as_tensor(x, dtype, device), f, variant=variant).vector, oracle.trimmed_mean(x, f))


@pytest.mark.parametrize("variant", VARIANTS)
@SETTINGS
@given(case=coordinate_case(lambda f: 1))
def test_median_matches_oracle(case, variant, dtype, device):
    x, _ = case
    assert_close(agg.median(as_tensor(x, dtype, device), 0, variant=variant).vector, oracle.median(x, variant))


def test_trimmed_mean_ndss21_empty_slice_is_nan(dtype):
    """n = 2f: the released code averages an empty slice (NaN); textbook refuses."""
    x = torch.ones(4, 3, dtype=dtype)
    assert bool(torch.isnan(agg.trimmed_mean(x, 2, variant="ndss21").vector).all())
    with pytest.raises(ConfigError, match="2f\\+1"):
        agg.trimmed_mean(x, 2)


@SETTINGS
@given(n=st.integers(2, 12), d=st.integers(1, 6), seed=st.integers(0, 2**31 - 1), n_out=st.integers(0, 3),
       weighted=st.booleans())
def test_afa_matches_oracle(n, d, seed, n_out, weighted, dtype, device):
    rs = np.random.RandomState(seed)
    x = rs.normal(size=(n, d)) * 0.3 + 1.0
    x[: min(n_out, n - 1)] = rs.normal(size=(min(n_out, n - 1), d)) * 3.0
    weights = rs.uniform(0.5, 3.0, size=n) if weighted else None
    expected, survivors, margin = oracle.afa(x, weights=weights)
    assume(margin > (1e-4 if dtype == torch.float32 else 1e-10))
    w = None if weights is None else torch.tensor(weights)
    result = agg.afa(as_tensor(x, dtype, device), 1, client_weights=w)
    assert result.selected.tolist() == survivors
    assert_close(result.vector, expected)


@pytest.mark.parametrize("combine", ["intersection", "union"])
@pytest.mark.parametrize("svd", ["exact", "fast"])
@SETTINGS
@given(n=st.integers(3, 12), d=st.integers(2, 30), seed=st.integers(0, 2**31 - 1), f=st.integers(0, 3),
       n_iters=st.integers(1, 3), sub=st.sampled_from([4, 10, 1000]))
def test_dnc_matches_oracle(n, d, seed, f, n_iters, sub, combine, svd, dtype, device):
    assume(f < n)
    x = make_input("gauss", n, d, seed)
    gen_seed = seed % 1000
    g = torch.Generator().manual_seed(gen_seed)  # the documented randomness contract of dnc_iteration
    coords = [torch.randperm(d, generator=g)[:sub].sort().values.tolist() if d > sub else list(range(d))
              for _ in range(n_iters)]
    expected, survivors, gap = oracle.dnc(x, f, coords, combine=combine)
    assume(gap > (1e-3 if dtype == torch.float32 else 1e-8) * (1 + np.abs(x).max() ** 2))
    run = lambda: agg.dnc(as_tensor(x, dtype, device), f, n_iters=n_iters, subsample_dim=sub,  # noqa: E731
                          combine=combine, svd=svd, generator=torch.Generator().manual_seed(gen_seed))
    if not survivors:
        with pytest.raises(ConfigError, match="filtered out every row"):
            run()
        return
    result = run()
    assert_selection_valid(result.selected, n, ascending=True)
    assert result.selected.tolist() == survivors
    assert_close(result.vector, expected)


@pytest.mark.parametrize("rule", ["lrr", "err", "union"])
@SETTINGS
@given(f=st.integers(1, 2), extra=st.integers(1, 4), d=st.integers(1, 5), seed=st.integers(0, 2**31 - 1))
def test_fang_matches_oracle(rule, f, extra, d, seed, dtype, device):
    n = 4 * f + 1 + extra  # survivors (>= n - 2f) must still leave trimmed_mean n > 2f
    x = make_input("gauss", n, d, seed)
    target = np.random.RandomState(seed + 1).normal(size=d)

    def score(v):
        v = np.asarray(torch.as_tensor(v).double().cpu()) if isinstance(v, torch.Tensor) else np.asarray(v)
        return float(((v - target) ** 2).sum()), float(np.abs(v - target).sum())

    expected, survivors, gap = oracle.fang(x, f, score, lambda rows, k: oracle.trimmed_mean(rows, k), rule)
    assume(gap > (1e-3 if dtype == torch.float32 else 1e-9))
    result = agg.fang_defense(as_tensor(x, dtype, device), f, score_fn=score, base="trimmed_mean", rule=rule)
    assert result.selected.tolist() == survivors
    assert_close(result.vector, expected)
