"""Attacks published since the paper: inner-product manipulation (ipm) and mimic.

Parity with ByzFL 0.0.11 from the committed vectors in tests/data/byzfl (no ByzFL needed), loop
oracles under hypothesis, the attacks' defining properties, and their errors.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.asserts import assert_close
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fedlib.aggregators as agg
import fedlib.attacks as atk
from fedlib.errors import ConfigError, InputTypeError

BYZFL = Path(__file__).resolve().parents[1] / "data" / "byzfl"
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def golden(family: str) -> list:
    return json.loads((BYZFL / f"{family}.json").read_text())["cases"]


def ids(family: str) -> list:
    return [case["id"] for case in golden(family)]


def benign_rows(n: int, d: int, dtype, device, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, d, generator=g, dtype=torch.float64) + 0.5).to(dtype=dtype, device=device)


# ----------------------------------------------------------------------------------------- ByzFL parity


@pytest.mark.parametrize("case", golden("ipm"), ids=ids("ipm"))
def test_ipm_matches_byzfl(case):
    x = torch.tensor(case["input"], dtype=torch.float64)
    out = atk.craft("ipm", x, 3, epsilon=case["options"]["tau"])
    for row in out.updates:
        assert_close(row, case["expected"], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("case", golden("mimic"), ids=ids("mimic"))
def test_mimic_matches_byzfl(case):
    x = torch.tensor(case["input"], dtype=torch.float64)
    out = atk.craft("mimic", x, 2, target=case["options"]["epsilon"])
    for row in out.updates:
        assert torch.equal(row, torch.tensor(case["expected"], dtype=torch.float64))


# ----------------------------------------------------------------------------------------- oracles


@SETTINGS
@given(n=st.integers(1, 10), d=st.integers(1, 6), m=st.integers(1, 5), seed=st.integers(0, 2**31 - 1),
       epsilon=st.sampled_from([0.1, 1.0, 2.0, 37.5]))
def test_ipm_matches_oracle(n, d, m, seed, epsilon, dtype, device):
    x = np.random.RandomState(seed).normal(size=(n, d)) * 3.0
    expected = [-epsilon * sum(x[i][j] for i in range(n)) / n for j in range(d)]
    out = atk.craft("ipm", torch.tensor(x, dtype=dtype, device=device), m, epsilon=epsilon)
    assert out.updates.shape == (m, d) and out.updates.dtype == dtype and out.updates.device == device
    assert out.gamma is None and out.info == {"epsilon": epsilon}
    for row in out.updates:
        assert_close(row, expected)


@SETTINGS
@given(n=st.integers(1, 10), d=st.integers(1, 6), m=st.integers(1, 5), seed=st.integers(0, 2**31 - 1), data=st.data())
def test_mimic_matches_oracle(n, d, m, seed, data, dtype, device):
    x = torch.tensor(np.random.RandomState(seed).normal(size=(n, d)), dtype=dtype, device=device)
    target = data.draw(st.integers(0, n - 1))
    out = atk.craft("mimic", x, m, target=target)
    assert out.updates.shape == (m, d) and out.updates.dtype == dtype
    assert all(torch.equal(row, x[target]) for row in out.updates)
    out.updates[0, 0] += 1.0  # a fresh tensor: changing it never changes the benign rows
    assert not torch.equal(out.updates[0], x[target])


# ----------------------------------------------------------------------------------------- properties


@pytest.mark.parametrize("epsilon", [0.1, 0.5, 3.0])
def test_ipm_turns_the_inner_product_negative(epsilon, dtype, device):
    """Each IPM row has inner product -ε‖ḡ‖² with the benign mean ḡ; with m malicious among k benign rows
    the mean of all rows keeps ḡ's direction only while mε < k (Xie et al.'s condition for the mean)."""
    benign = benign_rows(20, 30, dtype, device, seed=1)
    mean = benign.mean(dim=0)
    rows = atk.craft("ipm", benign, 5, epsilon=epsilon).updates
    assert_close(rows @ mean, torch.full((5,), -epsilon * float(mean @ mean), dtype=dtype, device=device))
    server = agg.aggregate("mean", torch.cat([rows, benign]), 5).vector
    assert (float(server @ mean) > 0) == (5 * epsilon < 20)


def test_ipm_is_linear_in_the_benign_rows(dtype, device):
    x, y = benign_rows(8, 5, dtype, device, seed=2), benign_rows(8, 5, dtype, device, seed=3)
    craft = lambda rows: atk.craft("ipm", rows, 1, epsilon=0.7).updates[0]  # noqa: E731
    assert_close(craft(2.0 * x - y), 2.0 * craft(x) - craft(y))
    assert_close(craft(x[torch.randperm(8, generator=torch.Generator().manual_seed(0))]), craft(x))


def test_mimic_copies_score_like_the_mimicked_row(dtype, device):
    """A distance-based filter cannot tell the copies from the honest row they copy: identical Krum scores."""
    benign = benign_rows(15, 6, dtype, device, seed=4)
    rows = atk.craft("mimic", benign, 4, target=3).updates
    scores = agg.krum_scores(agg.pairwise_sq_distances(torch.cat([rows, benign])), 4)
    assert all(float(scores[i]) == float(scores[4 + 3]) for i in range(4))


@pytest.mark.parametrize("name", ["ipm", "mimic"])
def test_registered_without_needs(name):
    assert name in atk.names() and atk.needs(name) == frozenset()
    assert getattr(atk, name) is atk.get(name)


@pytest.mark.parametrize("name", ["ipm", "mimic"])
@pytest.mark.parametrize("knowledge", ["full", "partial"])
def test_shared_settings_are_accepted_and_unused(name, knowledge, dtype):
    benign = benign_rows(6, 4, dtype, "cpu", seed=5)
    plain = atk.craft(name, benign, 2).updates
    other = atk.craft(name, benign, 2, aggregator="krum", f=2, perturbation="sign", search="exact",
                      gamma_init=3.0, tau=1e-3, knowledge=knowledge, generator=torch.Generator().manual_seed(0),
                      variant="ndss21").updates
    assert torch.equal(plain, other)


# ----------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("call, error, message", [
    (lambda x: atk.craft("ipm", x, 2, epsilon=0.0), ConfigError, "epsilon must be a finite number > 0"),
    (lambda x: atk.craft("ipm", x, 2, epsilon=-1.0), ConfigError, "found -1.0"),
    (lambda x: atk.craft("ipm", x, 2, epsilon=float("inf")), ConfigError, "epsilon"),
    (lambda x: atk.craft("ipm", x, 2, epsilon="small"), ConfigError, "'small'"),
    (lambda x: atk.craft("ipm", x, 2, z=1.0), ConfigError, "'z'"),
    (lambda x: atk.craft("mimic", x, 2, target=6), ConfigError, "target .* must be <= 5; found 6"),
    (lambda x: atk.craft("mimic", x, 2, target=-1), ConfigError, "must be >= 0"),
    (lambda x: atk.craft("mimic", x, 2, target=1.0), InputTypeError, "must be an int"),
    (lambda x: atk.craft("mimic", x, 2, epsilon=1), ConfigError, "'epsilon'"),
])
def test_attack_specific_errors(call, error, message):
    with pytest.raises(error, match=message):
        call(benign_rows(6, 3, torch.float64, "cpu"))
