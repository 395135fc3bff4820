"""fedlib.attacks: API, errors, perturbations, LIE, Fang, golden parity with the released code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.oracles_atk import (
    fang_trmean_intervals,
    gamma_search_out_atol,
    gaussian_cloud,
    golden_cases,
    golden_ids,
)

import fedlib.attacks as atk
from fedlib.aggregators import aggregate
from fedlib.errors import AttackInfeasible, ConfigError, InputError, UnknownNameError

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden" / "ndss21"


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


# --------------------------------------------------------------------------------------------- API


def test_names_in_issue_order():
    assert atk.names() == ["none", "lie", "fang", "tailored", "min_max", "min_sum", "ipm", "mimic"]


CALLS = [
    ("none", {}),
    ("lie", {"n_total": 25}),
    ("lie", {"variant": "ndss21"}),
    ("fang", {"aggregator": "krum"}),
    ("fang", {"aggregator": "median", "generator": torch.Generator().manual_seed(3)}),
    ("tailored", {"aggregator": "multi_krum"}),
    ("tailored", {"aggregator": "multi_krum", "search": "exact"}),
    ("tailored", {"aggregator": "trimmed_mean"}),
    ("min_max", {}),
    ("min_sum", {"search": "exact"}),
]


@pytest.mark.parametrize("name,kwargs", CALLS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CALLS)])
def test_shape_dtype_device_preserved(name, kwargs, dtype, device):
    benign = gaussian_cloud(0, 20, 7, dtype=dtype).to(device)
    out = atk.craft(name, benign, 5, **kwargs)
    assert out.updates.shape == (5, 7)
    assert out.updates.dtype == dtype and out.updates.device == benign.device
    assert torch.isfinite(out.updates).all()


ERRORS = [
    ("lie", torch.zeros(0, 3), 1, {"n_total": 5}, InputError),
    ("min_max", torch.ones(4, 3), 0, {}, ConfigError),
    ("nope", torch.ones(4, 3), 1, {}, UnknownNameError),
    ("tailored", torch.ones(4, 3), 1, {}, ConfigError),  # aggregator missing
    ("tailored", torch.ones(4, 3), 1, {"aggregator": "no_such_rule"}, ConfigError),  # unknown rule
    ("fang", torch.ones(4, 3), 1, {"aggregator": "dnc"}, ConfigError),
    ("min_max", torch.ones(4, 3), 1, {"bogus": 1}, ConfigError),
    ("min_max", torch.ones(4, 3), 1, {"perturbation": "bogus"}, UnknownNameError),
    ("min_max", torch.ones(4, 3), 1, {"search": "bogus"}, UnknownNameError),
    ("min_max", torch.ones(4, 3), 1, {"gamma_init": -1.0}, ConfigError),
    ("lie", gaussian_cloud(0, 4, 3), 1, {}, ConfigError),  # textbook LIE needs n_total
    ("lie", gaussian_cloud(0, 4, 3), 4, {"variant": "ndss21"}, ConfigError),  # m=4 not in the table
    ("lie", gaussian_cloud(0, 4, 3), 20, {"n_total": 20}, ConfigError),  # s <= 0
    # partial knowledge, square rule: n_total missing
    ("tailored", gaussian_cloud(0, 8, 3), 4, {"aggregator": "krum", "knowledge": "partial"}, ConfigError),
    # partial knowledge, m = 6 not in the released table: the square rule, which needs n_total
    ("tailored", gaussian_cloud(0, 8, 3), 6, {"aggregator": "median", "knowledge": "partial"}, ConfigError),
    ("tailored", gaussian_cloud(0, 20, 3), 2, {"aggregator": "median", "search": "exact"}, ConfigError),
    ("fang", gaussian_cloud(0, 20, 3), 2, {"aggregator": "median"}, ConfigError),  # generator missing
    ("fang", gaussian_cloud(0, 20, 3), 2, {"aggregator": "median", "uniform_draws": torch.full((3, 2), 0.5)},
     InputError),
    ("tailored", gaussian_cloud(0, 5, 3), 3, {"aggregator": "bulyan"}, ConfigError),  # n < 4f + 3
    ("min_max", torch.zeros(4, 3), 1, {"perturbation": "unit_vec"}, InputError),  # zero mean
    ("min_max", torch.ones(1, 3), 1, {"perturbation": "std"}, AttackInfeasible),  # std of one row: this round
]


@pytest.mark.parametrize("name,benign,m,kwargs,error", ERRORS, ids=[str(i) for i in range(len(ERRORS))])
def test_errors(name, benign, m, kwargs, error):
    with pytest.raises(error):
        atk.craft(name, benign, m, **kwargs)


def test_gamma_and_probes_recorded():
    benign = gaussian_cloud(1, 20, 5)
    out = atk.craft("min_max", benign, 3)
    assert out.gamma > 0 and out.info["n_probes"] > 10 and out.info["gamma_init"] == 10.0
    tailored = atk.craft("tailored", benign, 3, aggregator="krum")
    assert tailored.info["gamma_init"] == 3.0 and tailored.info["n_probes"] > 10
    assert atk.craft("lie", benign, 3, n_total=23).gamma is None


# ----------------------------------------------------------------------------------- perturbations


def test_perturbation_kinds():
    x = torch.tensor([[1.0, -2.0, 0.0], [3.0, -4.0, 0.0]], dtype=torch.float64)
    mean = torch.tensor([2.0, -3.0, 0.0], dtype=torch.float64)
    assert torch.equal(atk.perturbation("sign", x), torch.tensor([-1.0, 1.0, 0.0], dtype=torch.float64))
    assert torch.allclose(atk.perturbation("unit_vec", x), -mean / mean.norm())
    std = torch.tensor([2.0**0.5, 2.0**0.5, 0.0], dtype=torch.float64)  # unbiased: divides by k − 1 = 1
    assert torch.allclose(atk.perturbation("std", x), -std)


@pytest.mark.parametrize("case_id", golden_ids(GOLDEN, "atk_minmax"))
def test_perturbation_is_minus_released_deviation(case_id):
    case, arr = dict((c["case_id"], (c, a)) for c, a in golden_cases(GOLDEN, "atk_minmax"))[case_id]
    got = atk.perturbation(case["dev_type"], _t(arr["benign"]))
    np.testing.assert_allclose(-got.numpy(), arr["deviation"], rtol=1e-5, atol=1e-6)


def test_pick_perturbation_keeps_largest_deviation():
    benign = gaussian_cloud(2, 24, 6)
    best, deviations = atk.pick_perturbation("min_max", benign, 6, aggregator="median")
    assert set(deviations) == set(atk.PERTURBATIONS)
    assert deviations[best] == max(deviations.values())
    crafted = atk.craft("min_max", benign, 6, perturbation="sign")
    out = aggregate("median", torch.cat([crafted.updates, benign]), 6).vector
    assert deviations["sign"] == pytest.approx(float((out - benign.mean(0)).norm()), rel=1e-12)


# --------------------------------------------------------------------------------------------- LIE


def test_lie_textbook_formula():
    # s = floor(50/2 + 1) − 10 = 16, z = Φ⁻¹(34/50) = Φ⁻¹(0.68) = 0.467698799...
    assert atk.lie_z(50, 10) == pytest.approx(0.4676987991, abs=1e-9)
    benign = gaussian_cloud(3, 40, 5)
    out = atk.craft("lie", benign, 10, n_total=50)
    expected = benign.mean(0) + atk.lie_z(50, 10) * benign.std(0, unbiased=True)
    assert torch.allclose(out.updates, expected.expand(10, -1))
    minus = atk.craft("lie", benign, 10, n_total=50, lie_sign=-1)
    assert torch.allclose(minus.updates[0], benign.mean(0) - atk.lie_z(50, 10) * benign.std(0))


def test_lie_ndss21_table():
    benign = gaussian_cloud(4, 40, 5)
    out = atk.craft("lie", benign, 10, variant="ndss21")
    assert out.info["z"] == 0.72575


# -------------------------------------------------------------------------------------------- Fang


@pytest.mark.parametrize("knowledge", ["full", "partial"])
def test_fang_trmean_textbook_draws_in_intervals(knowledge):
    benign = gaussian_cloud(5, 12, 9, offset=0.0)
    out = atk.craft(
        "fang", benign, 4, aggregator="trimmed_mean", knowledge=knowledge,
        generator=torch.Generator().manual_seed(0),
    ).updates
    for j, (lo, hi) in enumerate(fang_trmean_intervals(benign, knowledge)):
        col = out[:, j]
        assert bool(((col >= lo - 1e-12) & (col <= hi + 1e-12)).all()), (j, lo, hi, col)
    assert len({tuple(r.tolist()) for r in out}) == 4  # independent draws per attacker


def test_fang_trmean_ndss21_mask_slip():
    benign = gaussian_cloud(6, 12, 9, offset=0.0)
    u = torch.rand(3, 9, generator=torch.Generator().manual_seed(1), dtype=benign.dtype)
    out = atk.craft("fang", benign, 3, aggregator="median", variant="ndss21", uniform_draws=u).updates
    negative = benign.mean(0) <= 0
    assert bool((out[:, negative] == 0).all()) and bool((out[:, ~negative] != 0).all())


def test_fang_seeded_generator_reproducible():
    benign = gaussian_cloud(7, 12, 9)
    runs = [
        atk.craft("fang", benign, 3, aggregator="median", generator=torch.Generator().manual_seed(5)).updates
        for _ in range(2)
    ]
    other = atk.craft("fang", benign, 3, aggregator="median", generator=torch.Generator().manual_seed(6))
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], other.updates)


@pytest.mark.parametrize("variant", ["textbook", "ndss21"])
def test_fang_krum_success_means_krum_picks_a_copy(variant):
    benign = gaussian_cloud(8, 16, 10)
    out = atk.craft("fang", benign, 4, aggregator="krum", variant=variant)
    assert out.info["success"]
    sign = torch.sign(benign.mean(0))
    assert torch.allclose(out.updates[0], -out.info["lambda_used"] * sign)
    picked = aggregate("krum", torch.cat([out.updates, benign]), 4, variant=variant).selected
    assert int(picked[0]) < 4


def test_fang_krum_fallbacks():
    benign = gaussian_cloud(9, 12, 6, offset=50.0)
    # Rows far from the origin and λ0 tiny: −λ·s is never picked; the fallbacks differ as in spec §4.5.
    mean, sign = benign.mean(0), torch.sign(benign.mean(0))
    kw = dict(aggregator="krum", lambda0=1.5e-5)
    textbook = atk.craft("fang", benign, 3, **kw)
    released = atk.craft("fang", benign, 3, variant="ndss21", **kw)
    assert not textbook.info["success"] and not released.info["success"]
    lam = textbook.info["lambda_final"]
    assert lam == pytest.approx(0.75e-5)
    assert torch.allclose(textbook.updates[0], mean - lam * sign)
    assert torch.allclose(released.updates[0], -(2 * lam) * sign)


# ------------------------------------------------------------------------------- golden parity


def _cases(family):
    return [pytest.param(c, a, id=c["case_id"]) for c, a in golden_cases(GOLDEN, family)]


def _assert_gamma_search(crafted, arr):
    out = arr["out"]
    assert crafted.gamma == pytest.approx(float(arr["gamma"]), abs=1e-4)
    np.testing.assert_allclose(
        crafted.updates[0].numpy(), out, rtol=1e-5, atol=gamma_search_out_atol(arr["deviation"])
    )
    assert crafted.updates.shape[0] == int(arr["n_attackers"])


@pytest.mark.parametrize("case,arr", _cases("atk_minmax"))
def test_golden_minmax(case, arr):
    crafted = atk.craft(
        "min_max", _t(arr["benign"]), int(arr["n_attackers"]), perturbation=case["dev_type"],
        gamma_init=float(arr["gamma_init"]), variant="ndss21",
    )
    _assert_gamma_search(crafted, arr)


@pytest.mark.parametrize("case,arr", _cases("atk_minsum"))
def test_golden_minsum(case, arr):
    crafted = atk.craft(
        "min_sum", _t(arr["benign"]), int(arr["n_attackers"]), perturbation=case["dev_type"],
        gamma_init=float(arr["gamma_init"]), variant="ndss21",
    )
    _assert_gamma_search(crafted, arr)


TAILORED_FAMILIES = [
    ("atk_mkrum_tailored", "multi_krum"),
    ("atk_trmean_tailored", "trimmed_mean"),
    ("atk_median_tailored", "median"),
]


@pytest.mark.parametrize(
    "target,case,arr",
    [
        pytest.param(target, c, a, id=f"{family}-{c['case_id']}")
        for family, target in TAILORED_FAMILIES
        for c, a in golden_cases(GOLDEN, family)
    ],
)
def test_golden_tailored(target, case, arr):
    crafted = atk.craft(
        "tailored", _t(arr["benign"]), int(arr["n_attackers"]), aggregator=target,
        perturbation=case["dev_type"], gamma_init=float(arr["gamma_init"]), variant="ndss21",
    )
    _assert_gamma_search(crafted, arr)


@pytest.mark.parametrize("case,arr", _cases("atk_lie"))
def test_golden_lie(case, arr):
    crafted = atk.craft("lie", _t(arr["benign"]), int(arr["n_attackers"]), variant="ndss21")
    assert crafted.info["z"] == pytest.approx(float(arr["z"]), rel=1e-6)
    for row in crafted.updates:
        np.testing.assert_allclose(row.numpy(), arr["out"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case,arr", _cases("atk_fang_krum"))
def test_golden_fang_krum(case, arr):
    fallback = "last_probe" if case["variant"] == "cifar10_full" else "benign_mean"
    crafted = atk.craft(
        "fang", _t(arr["benign"]), int(arr["n_attackers"]), aggregator="krum", variant="ndss21",
        fang_fallback=fallback,
    )
    np.testing.assert_allclose(crafted.updates[0].numpy(), arr["out"], rtol=1e-5, atol=1e-6)
    for key in ("lambda0", "lambda_final", "lambda_used"):
        assert crafted.info[key] == pytest.approx(float(arr[key]), rel=1e-5), key
    assert crafted.info["success"] == bool(arr["success"])


@pytest.mark.parametrize("case,arr", _cases("atk_fang_trmean"))
def test_golden_fang_trmean(case, arr):
    crafted = atk.craft(
        "fang", _t(arr["benign"]), int(arr["n_attackers"]), aggregator="trimmed_mean", variant="ndss21",
        uniform_draws=_t(arr["U"].T),
    )
    np.testing.assert_allclose(crafted.updates.numpy(), arr["out"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(-atk.perturbation("sign", _t(arr["benign"])).numpy() > 0, arr["mask"])


@pytest.mark.parametrize("case,arr", _cases("atk_fang_trmean_partial"))
def test_golden_fang_trmean_partial(case, arr):
    crafted = atk.craft(
        "fang", _t(arr["benign"]), int(arr["n_attackers"]), aggregator="median", variant="ndss21",
        knowledge="partial", uniform_draws=_t(arr["U"].T),
    )
    np.testing.assert_allclose(crafted.updates.numpy(), arr["out"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["std", "sign", "unit_vec"])
@pytest.mark.parametrize("in_dtype", [torch.float32, torch.float64])
def test_one_pass_model_equals_the_separate_passes(kind, in_dtype):
    # Min-Max/Min-Sum and the exact Krum-family search build mean, direction and distance model in one
    # blocked pass; it must agree with the definitions computed directly in float64 (d spans several
    # column blocks): a_i = ‖u_i‖², b_i = −⟨u_i, ∇p⟩, c = ‖∇p‖², u_i = g_i − μ, and the pairwise distances.
    from fedlib.attacks._utils.quadratic import QuadraticDistances

    g = torch.Generator().manual_seed(4)
    benign = (torch.randn(12, 40_000, generator=g, dtype=torch.float64) + 0.3).to(in_dtype)
    mean, direction, model = QuadraticDistances.one_pass(benign, kind)
    ref_mean = benign.mean(dim=0)
    ref_dir = atk.perturbation(kind, benign)
    rows, p = benign.double(), ref_dir.double()
    u = rows - rows.mean(dim=0)
    ref_a, ref_b, ref_c = (u * u).sum(dim=1), -(u @ p), float(p @ p)
    ref_sq = ((rows[:, None, :] - rows[None, :, :]) ** 2).sum(dim=-1)
    tol = dict(rtol=1e-5, atol=1e-6) if in_dtype == torch.float32 else dict(rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(mean, ref_mean, **tol)
    torch.testing.assert_close(direction, ref_dir, **tol)
    torch.testing.assert_close(model.a, ref_a, rtol=tol["rtol"], atol=0.0)
    torch.testing.assert_close(model.b, ref_b, rtol=tol["rtol"], atol=tol["rtol"] * float(ref_b.abs().max()))
    assert model.c == pytest.approx(ref_c, rel=tol["rtol"])
    torch.testing.assert_close(model.benign_sq, ref_sq, rtol=tol["rtol"], atol=0.0)


def test_one_pass_model_rejects_what_perturbation_rejects():
    from fedlib.attacks._utils.quadratic import QuadraticDistances
    from fedlib.errors import InputError, UnknownNameError

    with pytest.raises(InputError, match="zero vector"):
        QuadraticDistances.one_pass(torch.tensor([[1.0, -1.0], [-1.0, 1.0]]), "unit_vec")
    with pytest.raises(InputError, match="at least 2 benign rows"):
        QuadraticDistances.one_pass(torch.ones(1, 3), "std")
    with pytest.raises(UnknownNameError):
        QuadraticDistances.one_pass(torch.ones(3, 3), "gauss")


@pytest.mark.parametrize("in_dtype", [torch.float32, torch.float64])
def test_sums_to_benign_without_the_pairwise_matrix(in_dtype):
    from fedlib.attacks._utils.quadratic import QuadraticDistances

    g = torch.Generator().manual_seed(6)
    benign = (torch.randn(15, 30_000, generator=g, dtype=torch.float64) * 0.1 + 2.0).to(in_dtype)
    _, _, full = QuadraticDistances.one_pass(benign, "std")
    _, _, light = QuadraticDistances.one_pass(benign, "std", pairwise=False)
    assert light.benign_sq is None
    direct = ((benign.double()[:, None] - benign.double()[None]) ** 2).sum(-1).sum(1)
    rtol = 1e-5 if in_dtype == torch.float32 else 1e-10
    torch.testing.assert_close(light.sums_to_benign(), direct, rtol=rtol, atol=0.0)
    torch.testing.assert_close(full.benign_sq.sum(1), direct, rtol=rtol, atol=0.0)
    torch.testing.assert_close(light.b, full.b, rtol=rtol, atol=rtol * float(full.b.abs().max()))


def test_an_attack_is_passed_only_the_settings_and_options_it_declares():
    from fedlib.attacks import _base

    seen: dict = {}

    @atk.register("test_declared", settings=("variant",), options=("scale",))
    def declared(benign, n_malicious, *, variant, scale=1.0):  # any other keyword would raise TypeError
        seen.update(variant=variant, scale=scale)
        return atk.Crafted(benign[:1].expand(n_malicious, -1) * scale)

    try:
        out = atk.craft("test_declared", torch.ones(3, 2), 2, variant="ndss21", search="exact", scale=2.0)
        assert seen == {"variant": "ndss21", "scale": 2.0} and out.updates.tolist() == [[2.0, 2.0]] * 2
        with pytest.raises(ConfigError, match=r"attack 'test_declared' got unknown option\(s\) \['epsilon'\]"):
            atk.craft("test_declared", torch.ones(3, 2), 2, epsilon=1.0)
        with pytest.raises(UnknownNameError, match="search"):  # every shared setting is still checked
            atk.craft("test_declared", torch.ones(3, 2), 2, search="exactly")
    finally:
        for table in (_base._REGISTRY, _base._NEEDS, _base._SETTINGS, _base._OPTIONS, _base._TARGETS):
            table.pop("test_declared", None)
    with pytest.raises(ValueError, match="unknown settings"):
        atk.register("test_undeclared", settings=("gamma",))


# ------------------------------------------------------------------ what an attack is given: AttackContext
def test_attack_context_rules():
    benign, own = torch.randn(6, 3), torch.randn(2, 3)
    score = lambda v: (0.0, 0.0)  # noqa: E731
    ctx = atk.AttackContext.of("tailored", benign=benign, own=own, n_crafted=2, target="fang_defense", f=2,
                               variant="textbook", knowledge="partial", server_rule="fang_defense",
                               rule_options={"base": "median"}, score_fn=score)  # fmt: skip
    assert ctx.known is own and ctx.options["n_total"] == 8  # crafted + benign rows the server aggregates
    assert ctx.options["aggregator_options"] == {"base": "median", "score_fn": score}
    # aimed at another rule than the server's: the server's options are not that rule's; no scoring it does not need
    other = atk.AttackContext.of("tailored", benign=benign, n_crafted=2, target="krum", f=2, variant="textbook",
                                 server_rule="fang_defense", rule_options={"base": "median"},
                                 score_fn=score)  # fmt: skip
    assert other.known is benign and "aggregator_options" not in other.options
    # the attack's own options win; an attack that needs nothing is given nothing
    mine = atk.AttackContext.of("lie", benign=benign, n_crafted=2, target=None, f=None, variant="textbook",
                                attack_options={"n_total": 50, "z": 1.0})  # fmt: skip
    assert mine.options == {"n_total": 50, "z": 1.0}
    plain = atk.AttackContext.of("min_max", benign=benign, n_crafted=2, target="median", f=2, variant="textbook")
    assert plain.options == {} and plain.craft().updates.shape == (2, 3)
    with pytest.raises(ConfigError, match="own rows"):
        atk.AttackContext.of("lie", benign=benign, n_crafted=2, target=None, f=None, variant="textbook",
                             knowledge="partial")  # fmt: skip
    with pytest.raises(AttackInfeasible, match="no benign gradient"):
        atk.AttackContext.of("min_max", benign=benign[:0], n_crafted=2, target=None, f=None, variant="textbook").craft()
