"""fedlib._checks.all_finite: the same answer as ``torch.isfinite(x).all()`` on every layout, dtype and device."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fedlib._checks import all_finite

BAD = [float("nan"), float("inf"), float("-inf")]


@settings(max_examples=200, deadline=None)
@given(rows=st.integers(0, 6), cols=st.integers(0, 9), dtype=st.sampled_from([torch.float32, torch.float64]),
       bad=st.lists(st.tuples(st.integers(0, 53), st.sampled_from(BAD)), max_size=3),
       layout=st.sampled_from(["contiguous", "transposed", "strided", "grad"]), seed=st.integers(0, 2**31 - 1))
def test_all_finite_agrees_with_torch(rows, cols, dtype, bad, layout, seed):
    x = torch.randn(rows, cols, dtype=dtype, generator=torch.Generator().manual_seed(seed)) * 1e30
    for position, value in bad:
        if x.numel():
            x.view(-1)[position % x.numel()] = value
    x = {"contiguous": x, "transposed": x.T, "strided": x[:, ::2], "grad": x.clone().requires_grad_(True)}[layout]
    assert all_finite(x) is bool(torch.isfinite(x).all())


@pytest.mark.parametrize("x", [torch.tensor(3.0), torch.tensor(float("nan")), torch.tensor([1, 2]),
                               torch.tensor([1.0, float("inf")], dtype=torch.float16), torch.empty(0)],
                         ids=["0-d", "0-d-nan", "int", "float16-inf", "empty"])
def test_all_finite_on_other_shapes_and_dtypes(x):
    assert all_finite(x) is bool(torch.isfinite(x).all())


@pytest.mark.cuda
def test_all_finite_on_cuda():
    x = torch.ones(4, 5, device="cuda")
    assert all_finite(x)
    x[2, 3] = float("nan")
    assert not all_finite(x)
