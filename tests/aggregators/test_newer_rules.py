"""Rules published since the paper: centered clipping, geometric median, and the pre-aggregations NNM and
bucketing (meta-rules around a base rule).

Three kinds of checks:
- parity with ByzFL 0.0.11 from the committed vectors in tests/data/byzfl (made by make_golden.py there;
  ByzFL is not needed here);
- slow numpy float64 loop oracles under hypothesis (ties included: NNM's shared weight at the cut-off);
- properties (permutation invariance, translation/scale/rotation equivariance where they hold, bounded
  influence, optimality of the converged geometric median), registry metadata and errors.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import oracles_agg
from helpers.asserts import (
    assert_close,
    assert_expected_structure,
    assert_permutation_invariant,
    assert_scale_equivariant,
    assert_selection_valid,
    assert_translation_equivariant,
    tolerances,
)
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import fedlib.aggregators as agg
from fedlib.errors import ConfigError, InputError, InputTypeError, NonFiniteError, UnknownNameError

BYZFL = Path(__file__).resolve().parents[1] / "data" / "byzfl"
NEWER = ["centered_clipping", "geometric_median", "nnm", "bucketing"]
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
PARITY = {"rtol": 1e-6, "atol": 1e-9}


def golden(family: str) -> list:
    return json.loads((BYZFL / f"{family}.json").read_text())["cases"]


def case_ids(family: str) -> list:
    return [case["id"] for case in golden(family)]


def t64(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def gaussian(n: int, d: int, dtype, device, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    scale = torch.rand(d, generator=g, dtype=torch.float64) + 0.5
    return (torch.randn(n, d, generator=g, dtype=torch.float64) * scale).to(dtype=dtype, device=device)


def make_input(kind: str, n: int, d: int, seed: int) -> np.ndarray:
    """``ints``: small integers full of exact ties; ``dups``: the first rows identical copies (the attack
    layout); ``gauss``: continuous values with a few far rows."""
    rs = np.random.RandomState(seed)
    if kind == "gauss":
        x = rs.normal(size=(n, d)) * rs.uniform(0.5, 2.0, size=d) + rs.normal(size=d)
        x[: n // 4] *= 10.0
        return x
    x = rs.randint(-3, 4, size=(n, d)).astype(np.float64)
    if kind == "dups":
        x[1 : max(1, n // 3)] = x[0]
    return x


@st.composite
def matrices(draw, min_n=1, max_n=12):
    n = draw(st.integers(min_n, max_n))
    d = draw(st.integers(1, 6))
    kind = draw(st.sampled_from(["ints", "dups", "gauss"]))
    return make_input(kind, n, d, draw(st.integers(0, 2**31 - 1))), kind


def as_tensor(x: np.ndarray, dtype, device) -> torch.Tensor:
    return torch.tensor(x, dtype=dtype, device=device)


# ----------------------------------------------------------------------------------------- loop oracles


def norm(v) -> float:
    return math.sqrt(sum(float(a) * float(a) for a in v))


def centered_clipping_oracle(x, tau: float, n_iters: int, center) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    n, d = x.shape
    v = [float(c) for c in center]
    for _ in range(n_iters):
        step = [0.0] * d
        for i in range(n):
            diff = [x[i][j] - v[j] for j in range(d)]
            dist = norm(diff)
            scale = 1.0 if dist <= tau else tau / dist
            for j in range(d):
                step[j] += diff[j] * scale / n
        v = [v[j] + step[j] for j in range(d)]
    return np.array(v)


def geometric_median_oracle(x, nu: float, n_iters: int, start, tol: float = 0.0):
    """(z, stationarity of the last step's starting point), the stop test of the product."""
    x = np.asarray(x, dtype=np.float64)
    n, d = x.shape
    z = [float(c) for c in start]
    stationarity = math.inf
    for _ in range(n_iters):
        betas = [1.0 / max(nu, norm([x[i][j] - z[j] for j in range(d)])) for i in range(n)]
        gradient = [sum(betas[i] * (x[i][j] - z[j]) for i in range(n)) / n for j in range(d)]
        stationarity = norm(gradient)
        z = [sum(betas[i] * x[i][j] for i in range(n)) / sum(betas) for j in range(d)]
        if tol > 0 and stationarity <= tol:
            break
    return np.array(z), stationarity


def nnm_oracle(x, f: int):
    """Mean of the n - f nearest rows of every row; rows tied at the cut-off distance share what is left of
    the weight equally. Also returns the smallest gap between the cut-off distance and a distinct distance
    (near-ties there are decided by rounding)."""
    x = np.asarray(x, dtype=np.float64)
    n, d = x.shape
    k = n - f
    dist = oracles_agg.distance_matrix(x)
    out, gap = np.zeros((n, d)), math.inf
    for i in range(n):
        cut = sorted(dist[i])[k - 1]
        closer = [j for j in range(n) if dist[i][j] < cut]
        tied = [j for j in range(n) if dist[i][j] == cut]
        share = (k - len(closer)) / len(tied)
        for j in range(n):
            weight = 1.0 if j in closer else share if j in tied else 0.0
            for c in range(d):
                out[i][c] += weight * x[j][c] / k
        others = [abs(dist[i][j] - cut) for j in range(n) if dist[i][j] != cut]
        gap = min([gap] + others)
    return out, gap


def bucket_oracle(x, s: int, order) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    groups = [list(order[start : start + s]) for start in range(0, len(order), s)]
    return np.array([[sum(x[i][c] for i in group) / len(group) for c in range(x.shape[1])] for group in groups])


# ----------------------------------------------------------------------------------------- ByzFL parity


@pytest.mark.parametrize("case", golden("centered_clipping"), ids=case_ids("centered_clipping"))
def test_centered_clipping_matches_byzfl(case):
    tau, iters = case["options"]["tau"], case["options"]["L"]
    first = agg.centered_clipping(t64(case["input"]), 0, tau=tau, n_iters=iters, center="zeros").vector
    assert_close(first, case["expected"], **PARITY)
    # ByzFL's instance keeps its output as the next center; here that state is passed explicitly.
    second = agg.centered_clipping(t64(case["second_input"]), 0, tau=tau, n_iters=iters, center=first).vector
    assert_close(second, case["second_expected"], **PARITY)


@pytest.mark.parametrize("case", golden("geometric_median"), ids=case_ids("geometric_median"))
def test_geometric_median_matches_byzfl(case):
    nu, iters = case["options"]["nu"], case["options"]["T"]
    out = agg.geometric_median(t64(case["input"]), 0, nu=nu, n_iters=iters, init="zeros", tol=0)
    assert out.info["iterations"] == iters
    assert_close(out.vector, case["expected"], **PARITY)


@pytest.mark.parametrize("case", golden("nnm"), ids=case_ids("nnm"))
def test_nearest_neighbor_mixing_matches_byzfl(case):
    mixed = agg.nearest_neighbor_mixing(t64(case["input"]), case["options"]["f"])
    assert_close(mixed, case["expected"], **PARITY)


@pytest.mark.parametrize("case", golden("bucketing"), ids=case_ids("bucketing"))
def test_bucket_matches_byzfl_permutation_and_means(case):
    """ByzFL computes in float32 (its torch path); our float64 means agree to float32 rounding."""
    means = agg.bucket(t64(case["input"]), case["options"]["s"], torch.Generator().manual_seed(case["seed"]))
    assert_close(means, case["expected"], rtol=1e-6, atol=1e-5)


# ----------------------------------------------------------------------------------------- oracles


@SETTINGS
@given(case=matrices(), tau=st.sampled_from([0.3, 1.0, 4.0, 1e3]), n_iters=st.integers(1, 4),
       center=st.sampled_from(["median", "mean", "zeros", "given"]), variant=st.sampled_from(["textbook", "ndss21"]))
def test_centered_clipping_matches_oracle(case, tau, n_iters, center, variant, dtype, device):
    x, _ = case
    start = {"median": oracles_agg.median(x, variant), "mean": oracles_agg.mean(x), "zeros": np.zeros(x.shape[1]),
             "given": np.linspace(-1.0, 2.0, x.shape[1])}[center]
    option = as_tensor(start, dtype, device) if center == "given" else center
    out = agg.centered_clipping(as_tensor(x, dtype, device), 0, variant=variant, tau=tau, n_iters=n_iters,
                                center=option)
    assert_expected_structure(out, as_tensor(x, dtype, device))
    scale = 1.0 + float(np.abs(x).max())
    tol = tolerances(dtype)
    assert_close(out.vector, centered_clipping_oracle(x, tau, n_iters, start), rtol=tol["rtol"],
                 atol=tol["atol"] * scale)


@SETTINGS
@given(case=matrices(), nu=st.sampled_from([1e-6, 1e-2, 0.5]), n_iters=st.integers(1, 8),
       init=st.sampled_from(["mean", "median", "zeros"]), tol=st.sampled_from([0.0, 1e-2, 0.2]))
def test_geometric_median_matches_oracle(case, nu, n_iters, init, tol, dtype, device):
    x, _ = case
    start = {"mean": oracles_agg.mean(x), "median": oracles_agg.median(x, "textbook"), "zeros": np.zeros(x.shape[1])}
    expected, _ = geometric_median_oracle(x, nu, n_iters, start[init], tol)
    if tol > 0:  # where the oracle stops is decided by one comparison: make sure it is not a near-tie
        for nearby in (tol * (1 + 1e-2), tol * (1 - 1e-2)):
            assume(np.array_equal(geometric_median_oracle(x, nu, n_iters, start[init], nearby)[0], expected))
    out = agg.geometric_median(as_tensor(x, dtype, device), 0, nu=nu, n_iters=n_iters, init=init, tol=tol)
    scale = 1.0 + float(np.abs(x).max())
    rtol = 1e-4 if dtype == torch.float32 else 1e-9
    assert_close(out.vector, expected, rtol=rtol, atol=rtol * scale)


@SETTINGS
@given(case=matrices(), data=st.data())
def test_nearest_neighbor_mixing_matches_oracle(case, data, dtype, device):
    x, kind = case
    f = data.draw(st.integers(0, len(x) - 1))
    expected, gap = nnm_oracle(x, f)
    if kind == "gauss":  # continuous values: a near-tie at the cut-off is decided by rounding
        assume(gap > (1e-3 if dtype == torch.float32 else 1e-9) * (1 + np.abs(x).max() ** 2))
    mixed = agg.nearest_neighbor_mixing(as_tensor(x, dtype, device), f)
    assert mixed.dtype == dtype and mixed.shape == x.shape
    tol = tolerances(dtype)
    assert_close(mixed, expected, rtol=tol["rtol"], atol=tol["atol"] * (1 + np.abs(x).max()))


@SETTINGS
@given(case=matrices(), s=st.integers(1, 14), seed=st.integers(0, 2**31 - 1))
def test_bucket_matches_oracle(case, s, seed, dtype, device):
    x, _ = case
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed)).tolist()
    means = agg.bucket(as_tensor(x, dtype, device), s, torch.Generator().manual_seed(seed))
    assert means.shape == (math.ceil(len(x) / s), x.shape[1]) and means.dtype == dtype
    assert_close(means, bucket_oracle(x, s, order))


@SETTINGS
@given(case=matrices(min_n=3), base=st.sampled_from(["median", "trimmed_mean", "krum", "mean"]), data=st.data())
def test_meta_rules_equal_base_on_transformed_rows(case, base, data, dtype, device):
    x, _ = case
    n = len(x)
    f = data.draw(st.integers(0, (n - 1) // 2))
    s = data.draw(st.integers(1, 4))
    t = as_tensor(x, dtype, device)
    if n >= agg.min_inputs("nnm", f, base=base):
        expected = agg.aggregate(base, agg.nearest_neighbor_mixing(t, f), f).vector
        assert_close(agg.aggregate("nnm", t, f, base=base).vector, expected)
    if n >= agg.min_inputs("bucketing", f, s=s, base=base):
        means = agg.bucket(t, s, torch.Generator().manual_seed(5))
        expected = agg.aggregate(base, means, f).vector
        got = agg.aggregate("bucketing", t, f, s=s, base=base, generator=torch.Generator().manual_seed(5))
        assert_close(got.vector, expected)


# ----------------------------------------------------------------------------------------- properties


def rule(name: str, f: int, **options):
    if name == "bucketing":  # the same buckets for both calls of a property: a fresh generator each call
        return lambda x: agg.aggregate(name, x, f, generator=torch.Generator().manual_seed(1), **options)
    return lambda x: agg.aggregate(name, x, f, **options)


@pytest.mark.parametrize("options", [{}, {"center": "mean", "tau": 0.5, "n_iters": 3}])
@pytest.mark.parametrize("n", [7, 12])
def test_centered_clipping_permutation_translation_scale(options, n, dtype, device):
    x = gaussian(n, 5, dtype, device, seed=n)
    x[:2] *= 30.0
    assert_expected_structure(rule("centered_clipping", 2, **options)(x), x)
    assert_permutation_invariant(rule("centered_clipping", 2, **options), x, torch.Generator().manual_seed(n))
    assert_translation_equivariant(rule("centered_clipping", 2, **options), x,
                                   torch.linspace(-30.0, 50.0, 5, dtype=dtype, device=device))
    tau = options.get("tau", 100.0)
    for factor in (0.125, 8.0):  # equivariant when the radius scales with the data
        base, scaled = rule("centered_clipping", 2, **options)(x), agg.centered_clipping(
            x * factor, 2, **{**options, "tau": tau * factor})
        assert_close(scaled.vector, base.vector * factor)


def test_centered_clipping_bounded_influence(dtype, device):
    """One iteration from a fixed center: moving a single row anywhere moves the result by at most 2τ/n."""
    x = gaussian(10, 4, dtype, device, seed=3)
    center, tau = torch.zeros(4, dtype=dtype, device=device), 0.7
    base = agg.centered_clipping(x, 1, tau=tau, center=center).vector
    for far in (1e3, -1e6, 1e9):
        moved = x.clone()
        moved[4] = far
        shift = (agg.centered_clipping(moved, 1, tau=tau, center=center).vector - base).norm()
        assert float(shift) <= 2 * tau / 10 * (1 + 1e-5)


def test_centered_clipping_without_clipping_is_the_mean(dtype, device):
    x = gaussian(9, 3, dtype, device, seed=4)
    out = agg.centered_clipping(x, 1, tau=1e6, center="zeros")
    assert_close(out.vector, x.mean(dim=0))
    assert out.info["clipped"] == 0


@pytest.mark.parametrize("init", ["mean", "median"])
def test_geometric_median_permutation_translation_scale(init, dtype, device):
    x = gaussian(11, 5, dtype, device, seed=5)
    x[:3] += 40.0
    options = {"init": init, "tol": 0, "n_iters": 30}
    assert_permutation_invariant(rule("geometric_median", 3, **options), x, torch.Generator().manual_seed(5))
    assert_translation_equivariant(rule("geometric_median", 3, **options), x,
                                   torch.linspace(-30.0, 50.0, 5, dtype=dtype, device=device))
    for factor in (0.125, 8.0):  # ν is a distance: it scales with the data
        base = agg.geometric_median(x, 3, nu=1e-6, **options).vector
        scaled = agg.geometric_median(x * factor, 3, nu=1e-6 * factor, **options).vector
        assert_close(scaled, base * factor)


def test_geometric_median_is_rotation_equivariant(dtype, device):
    x = gaussian(9, 4, dtype, device, seed=6)
    q, _ = torch.linalg.qr(torch.randn(4, 4, generator=torch.Generator().manual_seed(6), dtype=torch.float64))
    q = q.to(dtype=dtype, device=device)
    base = agg.geometric_median(x, 0, tol=0, n_iters=40).vector
    assert_close(agg.geometric_median(x @ q, 0, tol=0, n_iters=40).vector, base @ q)


@pytest.mark.parametrize("n, d", [(7, 2), (15, 6), (30, 50)])
def test_converged_geometric_median_is_optimal(n, d):
    """Float64, run to convergence: the subgradient sum of unit vectors vanishes and the objective is no
    larger than at the mean, the coordinate-wise median or any row."""
    x = gaussian(n, d, torch.float64, "cpu", seed=n)
    x[: n // 3] = x[: n // 3] * 20.0 + 50.0
    out = agg.geometric_median(x, 0, tol=1e-15, n_iters=5000, nu=1e-12)
    z = out.vector
    units = (z - x) / (z - x).norm(dim=1, keepdim=True)
    assert float(units.sum(dim=0).norm()) < 1e-3 * n
    objective = lambda v: float((x - v).norm(dim=1).sum())  # noqa: E731
    for other in [x.mean(dim=0), x.median(dim=0).values, *x]:
        assert objective(z) <= objective(other) + 1e-9


def test_geometric_median_breakdown(dtype, device):
    """f < n/2 rows sent arbitrarily far move the geometric median by a bounded amount."""
    x = gaussian(11, 3, dtype, device, seed=7)
    honest = agg.geometric_median(x[5:], 0).vector
    for far in (1e3, 1e6):
        moved = x.clone()
        moved[:5] = far
        out = agg.geometric_median(moved, 5).vector
        assert float((out - honest).norm()) < 5.0


def test_tol_stops_at_a_stationary_point_and_reports(dtype):
    """The stop test is on the mean unit vector towards the rows (scale-free): far rows do not stop it
    early, and where it stops the point is as stationary as asked."""
    x = gaussian(11, 3, dtype, "cpu", seed=7)
    for far in (1.0, 1e3):
        moved = x.clone()
        moved[:5] = moved[:5] * far + far
        out = agg.geometric_median(moved, 5, tol=1e-3, n_iters=1000)
        assert out.info["converged"] and out.info["iterations"] < 1000
        units = (moved - out.vector) / (moved - out.vector).norm(dim=1, keepdim=True)
        assert float(units.mean(dim=0).norm()) < 1e-3 * 1.01
    full = agg.geometric_median(x, 0, tol=0, n_iters=7)
    assert not full.info["converged"] and full.info["iterations"] == 7


@SETTINGS
@given(case=matrices(), data=st.data())
def test_nearest_neighbor_mixing_is_permutation_equivariant_even_with_ties(case, data, dtype):
    """Ties at the cut-off share their weight, so reordering the rows only reorders the output: nothing
    depends on row position (malicious rows come first)."""
    x, kind = case
    assume(kind != "gauss")  # exact integers: every tie is exact in both orders
    f = data.draw(st.integers(0, len(x) - 1))
    perm = torch.tensor(data.draw(st.permutations(list(range(len(x))))), dtype=torch.long)
    t = as_tensor(x, dtype, "cpu")
    assert_close(agg.nearest_neighbor_mixing(t[perm], f), agg.nearest_neighbor_mixing(t, f)[perm])


def test_nearest_neighbor_mixing_special_cases(dtype, device):
    x = gaussian(8, 3, dtype, device, seed=9)
    assert_close(agg.nearest_neighbor_mixing(x, 0), x.mean(dim=0).expand(8, -1))  # every row sees all rows
    assert_close(agg.nearest_neighbor_mixing(x, 7), x)  # every row sees only itself
    shift = torch.linspace(-5.0, 5.0, 3, dtype=dtype, device=device)
    assert_close(agg.nearest_neighbor_mixing(x + shift, 3), agg.nearest_neighbor_mixing(x, 3) + shift)


@pytest.mark.parametrize("name", NEWER)
@pytest.mark.parametrize("n, f", [(11, 2), (16, 3)])
def test_structure_and_permutation_invariance(name, n, f, dtype, device):
    x = gaussian(n, 6, dtype, device, seed=n)
    x[:f] *= 25.0
    result = rule(name, f)(x)
    assert_expected_structure(result, x)
    if name != "bucketing":  # the buckets are drawn per call: a permutation changes which rows share one
        assert_permutation_invariant(rule(name, f), x, torch.Generator().manual_seed(n))


@pytest.mark.parametrize("name", ["nnm", "bucketing", "geometric_median"])
def test_translation_and_scale_equivariance(name, dtype, device):
    """nnm and bucketing inherit both from their (default) trimmed-mean base; the geometric median from
    Weiszfeld with a mean start (up to the tiny smoothing ν)."""
    x = gaussian(15, 5, dtype, device, seed=1)
    assert_translation_equivariant(rule(name, 3), x, torch.linspace(-30.0, 50.0, 5, dtype=dtype, device=device))
    for factor in (0.125, 8.0):
        assert_scale_equivariant(rule(name, 3), x, factor)


def test_bucket_properties(dtype, device):
    x = gaussian(12, 4, dtype, device, seed=10)
    gen = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    assert_close(agg.bucket(x, 12, gen()), x.mean(dim=0, keepdim=True))  # one bucket: the mean
    assert_close(agg.bucket(x, 20, gen()), x.mean(dim=0, keepdim=True))
    singles = agg.bucket(x, 1, gen())  # buckets of one: the rows, permuted
    assert_close(singles, x[torch.randperm(12, generator=gen()).to(device)])
    assert_close(agg.bucket(x, 3, gen()).mean(dim=0), x.mean(dim=0))  # s | n: the mean is preserved
    assert torch.equal(agg.bucket(x, 5, gen()), agg.bucket(x, 5, gen()))  # same seed, same buckets
    assert not torch.equal(agg.bucket(x, 2, gen()), agg.bucket(x, 2, torch.Generator().manual_seed(4)))
    assert torch.equal(agg.bucket(x, 2, 3), agg.bucket(x, 2, gen()))  # an int is a seed


def test_bucketing_selected_maps_buckets_back_to_rows(dtype):
    x = gaussian(13, 3, dtype, "cpu", seed=11)
    out = agg.aggregate("bucketing", x, 1, s=3, base="krum", generator=torch.Generator().manual_seed(2))
    buckets = out.info["buckets"]
    assert buckets.shape == (13,) and sorted(torch.bincount(buckets).tolist()) == [1, 3, 3, 3, 3]
    chosen = out.info["base_selected"].tolist()
    assert len(chosen) == 1
    assert out.selected.tolist() == [i for i in range(13) if int(buckets[i]) == chosen[0]]
    assert_selection_valid(out.selected, 13, ascending=True)
    assert_close(out.vector, x[out.selected].mean(dim=0))  # Krum picks one bucket: its mean


def test_bucketing_passes_its_generator_on_to_a_drawing_base(dtype):
    x = gaussian(24, 30, dtype, "cpu", seed=12)
    run = lambda seed: agg.aggregate("bucketing", x, 1, base="dnc", base_options={"subsample_dim": 5},  # noqa: E731
                                     generator=torch.Generator().manual_seed(seed)).vector
    assert torch.equal(run(0), run(0))
    g = torch.Generator().manual_seed(0)
    means = agg.bucket(x, 2, g)  # the same generator continues into DnC's coordinate draws
    expected = agg.dnc(means, 1, subsample_dim=5, generator=g).vector
    assert_close(run(0), expected)


@pytest.mark.cuda
def test_bucket_draws_on_the_generators_device(dtype):
    x = gaussian(10, 3, dtype, "cuda", seed=13)
    g = torch.Generator(device="cuda").manual_seed(0)
    order = torch.randperm(10, generator=torch.Generator(device="cuda").manual_seed(0), device="cuda")
    means = agg.bucket(x, 2, g)
    assert means.device.type == "cuda"
    assert_close(means.cpu(), bucket_oracle(x.cpu().double().numpy(), 2, order.tolist()))


@pytest.mark.cuda
@pytest.mark.parametrize("name", NEWER)
def test_cuda_matches_cpu(name, dtype):
    x = gaussian(23, 300, dtype, "cpu", seed=13)
    cpu = rule(name, 4)(x)
    gpu = rule(name, 4)(x.cuda())  # bucketing: the same CPU generator, so the same buckets
    assert gpu.vector.device.type == "cuda" and gpu.vector.dtype == dtype
    assert_close(gpu.vector.cpu(), cpu.vector)


# ----------------------------------------------------------------------------------------- registry


def test_registered_with_metadata():
    assert agg.names()[-4:] == NEWER
    for name in NEWER:
        assert getattr(agg, name) is agg.get(name)
    assert agg.needs("bucketing") == {"generator"}
    assert agg.needs("nnm") == agg.needs("centered_clipping") == agg.needs("geometric_median") == frozenset()


@pytest.mark.parametrize("base", ["mean", "krum", "multi_krum", "bulyan", "trimmed_mean", "median", "dnc",
                                  "centered_clipping", "geometric_median"])
@pytest.mark.parametrize("f", [0, 1, 2, 3])
def test_min_inputs_delegates_to_the_base_rule_and_is_exact(base, f, dtype):
    """nnm keeps n rows: the base's minimum. bucketing: ⌈n/s⌉ buckets must meet it, n >= s(m-1)+1. At that n
    the meta-rule runs; one row fewer raises ConfigError."""
    m = agg.min_inputs(base, f)
    assert agg.min_inputs("nnm", f, base=base) == max(f + 1, m)
    for s in (1, 2, 3):
        assert agg.min_inputs("bucketing", f, s=s, base=base) == max(f + 1, s * (m - 1) + 1)
    options = {"base_options": {"generator": 0}} if base == "dnc" else {}
    for name, extra in (("nnm", {}), ("bucketing", {"s": 3})):
        need = agg.min_inputs(name, f, base=base, **extra)
        out = agg.aggregate(name, gaussian(need, 3, dtype, "cpu"), f, base=base, **extra, **options)
        assert out.vector.shape == (3,)
        if need > 1:
            with pytest.raises(ConfigError):
                agg.aggregate(name, gaussian(need - 1, 3, dtype, "cpu"), f, base=base, **extra, **options)


def test_min_inputs_follows_base_options_and_base_f():
    assert agg.min_inputs("nnm", 2, base="fang_defense", base_options={"rule": "lrr"}) == agg.min_inputs(
        "fang_defense", 2, rule="lrr")
    assert agg.min_inputs("bucketing", 2, s=2, base="krum", base_f=1) == 2 * (agg.min_inputs("krum", 1) - 1) + 1
    assert agg.min_inputs("centered_clipping", 3) == agg.min_inputs("geometric_median", 3) == 4


# ----------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("name", NEWER)
def test_generic_errors(name, dtype):
    x = gaussian(12, 3, dtype, "cpu")
    with pytest.raises(InputError, match="2-D"):
        agg.aggregate(name, torch.zeros(7), 0)
    with pytest.raises(InputTypeError, match="float32 or float64"):
        agg.get(name)(torch.zeros(7, 3, dtype=torch.int64), 0)
    with pytest.raises(ConfigError, match="f must be >= 0; found -1"):
        agg.get(name)(x, -1)
    with pytest.raises(ConfigError, match="n=12"):
        agg.get(name)(x, 12)
    with pytest.raises(ConfigError, match="unknown option"):
        agg.get(name)(x, 1, bogus=1)
    with pytest.raises(UnknownNameError, match="variant"):
        agg.get(name)(x, 1, variant="ndss")
    bad = x.clone()
    bad[4, 1] = math.nan
    with pytest.raises(NonFiniteError, match=r"row\(s\) \[4\]"):
        agg.get(name)(bad, 1)


@pytest.mark.parametrize("name", NEWER)
def test_drop_policy_equals_the_clean_rows(name):
    x = gaussian(14, 3, torch.float64, "cpu", seed=14)
    x[[2, 7]] = math.nan
    kept = [i for i in range(14) if i not in (2, 7)]
    extra = {"generator": torch.Generator().manual_seed(1)} if name == "bucketing" else {}
    dropped = agg.aggregate(name, x, 2, nonfinite="drop", **extra)
    clean = rule(name, 2)(x[kept])
    assert dropped.dropped.tolist() == [2, 7]
    assert_close(dropped.vector, clean.vector)
    if clean.selected is not None:
        assert dropped.selected.tolist() == [kept[i] for i in clean.selected.tolist()]


@pytest.mark.parametrize("call, error, message", [
    (lambda x: agg.centered_clipping(x, 1, tau=0.0), ConfigError, "tau must be a finite number > 0"),
    (lambda x: agg.centered_clipping(x, 1, tau="big"), InputTypeError, "tau must be a number"),
    (lambda x: agg.centered_clipping(x, 1, n_iters=0), ConfigError, "n_iters must be >= 1"),
    (lambda x: agg.centered_clipping(x, 1, center="origin"), UnknownNameError, "center"),
    (lambda x: agg.centered_clipping(x, 1, center=torch.zeros(3)), InputError, r"shape \(4,\)"),
    (lambda x: agg.centered_clipping(x, 1, center=torch.full((4,), math.inf)), InputError, "finite"),
    (lambda x: agg.centered_clipping(x, 1, center=torch.zeros(4, dtype=torch.long)), InputTypeError, "floating"),
    (lambda x: agg.geometric_median(x, 1, nu=-1.0), ConfigError, "nu must be a finite number > 0"),
    (lambda x: agg.geometric_median(x, 1, tol=-1e-3), ConfigError, "tol must be a finite number >= 0"),
    (lambda x: agg.geometric_median(x, 1, tol=None), InputTypeError, "tol must be a number"),
    (lambda x: agg.geometric_median(x, 1, init="first"), UnknownNameError, "geometric_median init"),
    (lambda x: agg.geometric_median(x, 1, n_iters=1.5), InputTypeError, "n_iters must be an int"),
    (lambda x: agg.nnm(x, 1, base="krun"), UnknownNameError, "Did you mean 'krum'"),
    (lambda x: agg.nnm(x, 1, base="nnm"), UnknownNameError, "nnm base rule"),
    (lambda x: agg.nnm(x, 1, base_options=[1]), InputTypeError, "base_options"),
    (lambda x: agg.nnm(x, 1, base="krum", base_options={"bogus": 1}), ConfigError, "bogus"),
    (lambda x: agg.nnm(x, 4, base="krum"), ConfigError,
     r"nnm needs n >= min_inputs\('krum', f\).*n=9 with f=4 \(needs n >= 11\)"),
    (lambda x: agg.bucketing(x, 1, s=0), ConfigError, "s \\(bucket size\\) must be >= 1"),
    (lambda x: agg.bucketing(x, 1, generator=1.5), InputTypeError, "generator"),
    (lambda x: agg.bucketing(x, 1, base="bucketing"), UnknownNameError, "bucketing base rule"),
    (lambda x: agg.bucketing(x, 1, s=5), ConfigError, r"bucketing needs n >= s\*\(min_inputs.*\(needs n >= 11\)"),
    (lambda x: agg.bucketing(x, 1, base_f=-1), ConfigError, "base_f must be >= 0"),
    (lambda x: agg.nearest_neighbor_mixing(x, 9), ConfigError, "n=9"),
    (lambda x: agg.bucket(x, 0), ConfigError, "s \\(bucket size\\)"),
])
def test_rule_specific_errors(call, error, message):
    with pytest.raises(error, match=message):
        call(gaussian(9, 4, torch.float64, "cpu"))


@pytest.mark.parametrize("d", [5, 800_000])  # one column block, and several (3 rows: ~350k columns a block)
def test_row_distances_over_column_blocks(d, dtype):
    from fedlib.aggregators._centered_clipping import distances_to

    x = gaussian(3, d, dtype, "cpu", seed=15) + 100.0
    point = x.mean(dim=0)
    expected = (x.double() - point.double()).norm(dim=1)
    # float32: x - point rounds each entry at 2^-24·100 (the offset), ~1e-6 of the norm; float64 far below
    assert_close(distances_to(x, point), expected.to(dtype), rtol=1e-5 if dtype == torch.float32 else 1e-12, atol=0)
