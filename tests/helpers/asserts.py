"""Shared property assertions for aggregation rules (TorchJD style), reusable by every test module.

A ``rule`` argument is any callable ``rule(updates: Tensor (n, d)) -> Aggregate`` (bind ``f`` and options
with a lambda or functools.partial).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Rule = Callable[[torch.Tensor], object]


def tolerances(dtype: torch.dtype) -> dict:
    """rtol/atol for comparing two computations of the same quantity in ``dtype``."""
    return {"rtol": 1e-4, "atol": 1e-4} if dtype == torch.float32 else {"rtol": 1e-9, "atol": 1e-9}


def assert_close(actual: torch.Tensor, expected, dtype: torch.dtype | None = None, **tol) -> None:
    expected = torch.as_tensor(expected, dtype=actual.dtype).to(actual.device)
    tol = tol or tolerances(dtype or actual.dtype)
    torch.testing.assert_close(actual, expected, equal_nan=True, **tol)


def assert_expected_structure(result, updates: torch.Tensor) -> None:
    """Vector of shape (d,), same dtype/device as the input, all finite; a valid selection if any."""
    vector = result.vector
    assert vector.shape == (updates.shape[1],), f"vector shape {tuple(vector.shape)} != ({updates.shape[1]},)"
    assert vector.dtype == updates.dtype, f"dtype changed: {updates.dtype} -> {vector.dtype}"
    assert vector.device == updates.device, f"device changed: {updates.device} -> {vector.device}"
    assert bool(torch.isfinite(vector).all()), "aggregate holds NaN/Inf"
    if result.selected is not None:
        assert_selection_valid(result.selected, updates.shape[0])


def assert_selection_valid(selected: torch.Tensor, n: int, *, ascending: bool = False) -> None:
    """Selections are distinct input rows (LongTensor, in [0, n)), ascending when asked."""
    assert selected.dtype == torch.long, f"selected dtype {selected.dtype} != torch.long"
    assert selected.dim() == 1
    values = selected.tolist()
    assert len(set(values)) == len(values), f"duplicate rows selected: {values}"
    assert all(0 <= v < n for v in values), f"selection {values} outside [0, {n})"
    if ascending:
        assert values == sorted(values), f"selection {values} not ascending"


def assert_permutation_invariant(rule: Rule, updates: torch.Tensor, generator: torch.Generator) -> None:
    """Shuffling the rows leaves the vector unchanged and selects the same rows (mapped back)."""
    perm = torch.randperm(updates.shape[0], generator=generator).to(updates.device)
    base, shuffled = rule(updates), rule(updates[perm])
    assert_close(shuffled.vector, base.vector)
    if base.selected is not None:
        assert sorted(perm[shuffled.selected].tolist()) == sorted(base.selected.tolist())


def assert_translation_equivariant(rule: Rule, updates: torch.Tensor, shift: torch.Tensor) -> None:
    """rule(x + t) = rule(x) + t, same rows selected."""
    base, moved = rule(updates), rule(updates + shift)
    scale = float(updates.abs().max() + shift.abs().max())
    tol = tolerances(updates.dtype)
    assert_close(moved.vector, base.vector + shift, rtol=tol["rtol"], atol=tol["atol"] * max(1.0, scale))
    if base.selected is not None:
        assert moved.selected.tolist() == base.selected.tolist()


def assert_scale_equivariant(rule: Rule, updates: torch.Tensor, factor: float) -> None:
    """rule(c x) = c rule(x) for c > 0, same rows selected."""
    assert factor > 0
    base, scaled = rule(updates), rule(updates * factor)
    tol = tolerances(updates.dtype)
    assert_close(scaled.vector, base.vector * factor, rtol=tol["rtol"], atol=tol["atol"] * factor)
    if base.selected is not None:
        assert scaled.selected.tolist() == base.selected.tolist()


def assert_inside_honest_range(vector: torch.Tensor, honest: torch.Tensor) -> None:
    """Every coordinate lies within [min, max] of the honest rows' values for that coordinate."""
    low, high = honest.min(dim=0).values, honest.max(dim=0).values
    outside = (vector < low) | (vector > high)
    assert not bool(outside.any()), f"{int(outside.sum())} coordinate(s) outside the honest range"


def assert_removes_rows(selected: torch.Tensor, removed_rows, n: int) -> None:
    """None of ``removed_rows`` survives, every other row does (exact filtering)."""
    expected = sorted(set(range(n)) - set(int(i) for i in removed_rows))
    assert selected.tolist() == expected, f"survivors {selected.tolist()} != {expected}"
