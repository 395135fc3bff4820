"""Rounds where an attack cannot be crafted (AttackInfeasible, feasible()), the partial-knowledge simulation's
padding and table fallback, and the ndss21 Bulyan success test (issue 12 items 2b, 2c, 2f, 5e).
Each test fails on commit acfa636 (ConfigError / InputError / Bulyan's own selection there)."""

from __future__ import annotations

import pytest
import torch
from helpers.oracles_atk import gaussian_cloud

import fedlib.attacks as atk
from fedlib.aggregators import aggregate, min_inputs
from fedlib.errors import AttackInfeasible, ConfigError, FedlibError


@pytest.mark.parametrize("target", ["krum", "multi_krum", "bulyan"])
def test_partial_pads_simulated_copies_to_the_rules_minimum(target):
    own = gaussian_cloud(0, 2, 6)  # 2 attackers of 40: m' = max(1, 4 // 40) = 1 < what the rule needs
    out = atk.craft("tailored", own, 2, aggregator=target, knowledge="partial", n_total=40)
    need = min_inputs(target, 1)
    assert out.info["f_simulated"] == 1
    assert out.info["copies_simulated"] == need - 2 and out.info["padded_copies"] == need - 3
    assert out.updates.shape == (2, 6)


def test_partial_fang_krum_pads_too():
    own = gaussian_cloud(1, 4, 6)
    out = atk.craft("fang", own, 4, aggregator="krum", knowledge="partial", n_total=100)
    assert out.info["copies_simulated"] == min_inputs("krum", 1) - 4 and out.info["padded_copies"] == 0
    assert out.info["f_simulated"] == 1


def test_partial_without_padding_when_enough_rows():
    own = gaussian_cloud(2, 10, 6)
    out = atk.craft("tailored", own, 10, aggregator="krum", knowledge="partial", n_total=50)
    assert out.info["copies_simulated"] == 2 and out.info["padded_copies"] == 0


@pytest.mark.parametrize("m,n_total", [(20, 100), (16, 80), (7, 60)])
def test_partial_table_missing_m_uses_the_square_rule(m, n_total):
    own = gaussian_cloud(3, m, 8)
    out = atk.craft("tailored", own, m, aggregator="median", knowledge="partial", n_total=n_total)
    assert out.info["partial_rule"] == "square"
    assert out.info["f_simulated"] == max(1, m * m // n_total)
    known = atk.craft("tailored", gaussian_cloud(3, 10, 8), 10, aggregator="median", knowledge="partial",
                      n_total=50)
    assert known.info["partial_rule"] == "table" and known.info["f_simulated"] == 3


@pytest.mark.parametrize("name,kwargs", [
    ("lie", {"n_total": 20}),
    ("fang", {"aggregator": "median", "generator": torch.Generator().manual_seed(0)}),
    ("fang", {"aggregator": "trimmed_mean", "generator": torch.Generator().manual_seed(0)}),
    ("fang", {"aggregator": "krum", "n_total": 20}),
    ("min_max", {}),
    ("min_sum", {}),
    ("tailored", {"aggregator": "krum", "n_total": 20}),
])
def test_single_attacker_partial_round_is_infeasible(name, kwargs):
    own = gaussian_cloud(4, 1, 5)
    reason = atk.feasible(name, 1, 1, knowledge="partial", **{k: v for k, v in kwargs.items() if k != "generator"})
    assert reason is not None and name in reason and "partial" in reason
    with pytest.raises(AttackInfeasible) as err:
        atk.craft(name, own, 1, knowledge="partial", **kwargs)
    assert str(err.value) == reason
    assert isinstance(err.value, FedlibError) and not isinstance(err.value, ConfigError)


def test_feasible_agrees_with_craft_on_feasible_rounds():
    own = gaussian_cloud(5, 4, 5)
    for name, kwargs in [("lie", {"n_total": 20}), ("min_max", {}), ("tailored", {"aggregator": "krum", "n_total": 20}),
                         ("fang", {"aggregator": "krum", "n_total": 20})]:
        assert atk.feasible(name, 4, 4, knowledge="partial", **kwargs) is None
        atk.craft(name, own, 4, knowledge="partial", **kwargs)


def test_tailored_dnc_filtering_out_every_simulated_row_is_infeasible():
    benign = gaussian_cloud(6, 6, 12)
    # each iteration keeps 3 of 9 rows on one random coordinate: the intersection over 60 iterations empties
    options = {"n_iters": 60, "subsample_dim": 1, "filter_frac": 2.0}
    with pytest.raises(AttackInfeasible, match="filtered out every"):
        atk.craft("tailored", benign, 3, aggregator="dnc", f=3, aggregator_options=options,
                  generator=torch.Generator().manual_seed(0))


def test_bulyan_ndss21_tests_multi_krum_selection():
    benign = gaussian_cloud(7, 24, 10)
    out = atk.craft("tailored", benign, 3, aggregator="bulyan", f=3, variant="ndss21")
    assert out.info["rule_tested"] == "multi_krum"
    chosen = aggregate("multi_krum", torch.cat([out.updates, benign]), 3, variant="ndss21").selected
    assert int((chosen < 3).sum()) == 3
