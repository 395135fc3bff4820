"""The robustness benchmark's numbers (fedlib.report.benchmark): worst cases, tied ranks, honest costs, heat maps,
checked against loop oracles on random runs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedlib.report import benchmark as bench

RULES = ("mean", "median", "krum", "dnc")
ATTACKS = ("lie", "fang", "tailored")


def _runs(accuracies: dict, partition: str = "iid") -> pd.DataFrame:
    """Runs from {(rule, attack, seed): accuracy}."""
    return pd.DataFrame([{"aggregator": r, "attack": a, "seed": s, "partition": partition, "test_accuracy": v}
                         for (r, a, s), v in accuracies.items()])  # fmt: skip


@st.composite
def benchmark_runs(draw):
    seeds = draw(st.integers(1, 3))
    acc = st.floats(0, 100, allow_nan=False).map(lambda v: round(v, 2))
    cells = {(r, a, s): draw(acc) for r in RULES for a in ("none", *ATTACKS) for s in range(seeds)}
    return _runs(cells), seeds


def _oracle_worst(runs: pd.DataFrame, rule: str) -> tuple[str, list[float]]:
    """The worst attack of ``rule`` and its per-seed impacts, by loops."""
    clean = {s: v for (_, a, s, v) in runs[runs.aggregator == rule][["aggregator", "attack", "seed", "test_accuracy"]]
             .itertuples(index=False) if a == "none"}  # fmt: skip
    best_attack, best_mean, best_values = None, -math.inf, []
    for attack in ATTACKS:
        rows = runs[(runs.aggregator == rule) & (runs.attack == attack)]
        values = [clean[s] - v for s, v in zip(rows.seed, rows.test_accuracy, strict=True)]
        mean = sum(values) / len(values)
        if mean > best_mean:
            best_attack, best_mean, best_values = attack, mean, values
    return best_attack, best_values


@settings(max_examples=60, deadline=None)
@given(benchmark_runs())
def test_worst_case_is_the_attack_with_the_largest_mean_impact_paired_by_seed(case):
    runs, seeds = case
    worst = bench.worst_cases(runs).set_index("aggregator")
    for rule in RULES:
        attack, values = _oracle_worst(runs, rule)
        row = worst.loc[rule]
        assert row.attack == attack and row.seeds == seeds and row.attacks == len(ATTACKS)
        assert row.impact == pytest.approx(np.mean(values))
        assert (row.low, row.high) == (pytest.approx(min(values)), pytest.approx(max(values)))
        assert row.sd == pytest.approx(np.std(values, ddof=1) if seeds > 1 else 0.0)


@settings(max_examples=60, deadline=None)
@given(benchmark_runs())
def test_a_rank_counts_only_the_rules_separated_by_every_seed(case):
    runs, seeds = case
    ranked = bench.ranks(bench.worst_cases(runs))
    if seeds < bench.MIN_SEEDS:  # one point per rule separates nothing: no rank at all
        assert ranked["rank"].isna().all()
        return
    rows = {r.aggregator: r for r in ranked.itertuples()}
    for a in rows.values():
        below = [b for b in rows.values() if b.high < a.low]
        assert a.rank == 1 + len(below)
        overlapping = {b.aggregator for b in rows.values() if b is not a and b.low <= a.high and a.low <= b.high}
        assert set(a.tied_with) == overlapping
        for name in overlapping:  # ties are symmetric, and a rule separated from another ranks strictly above it
            assert a.aggregator in rows[name].tied_with
        for b in below:
            assert b.rank < a.rank
    assert list(ranked["rank"]) == sorted(ranked["rank"])


def test_overlapping_rules_share_a_rank_and_separated_ones_do_not():
    # median [4, 6] and krum [5, 9] overlap; dnc [1, 2] lies below both; mean [40, 50] above all.
    runs = _runs({**{(r, "none", s): 90.0 for r in ("median", "krum", "dnc", "mean") for s in (0, 1)},
                  ("median", "lie", 0): 86.0, ("median", "lie", 1): 84.0,
                  ("krum", "lie", 0): 85.0, ("krum", "lie", 1): 81.0,
                  ("dnc", "lie", 0): 89.0, ("dnc", "lie", 1): 88.0,
                  ("mean", "lie", 0): 50.0, ("mean", "lie", 1): 40.0})  # fmt: skip
    ranked = bench.ranks(bench.worst_cases(runs)).set_index("aggregator")
    assert ranked["rank"].to_dict() == {"dnc": 1, "median": 2, "krum": 2, "mean": 4}
    assert ranked.loc["median", "tied_with"] == ["krum"] and ranked.loc["dnc", "tied_with"] == []


def test_one_seed_rules_are_listed_but_never_ranked():
    runs = pd.concat([_runs({("median", "none", 0): 90.0, ("median", "lie", 0): 80.0,
                             ("median", "none", 1): 90.0, ("median", "lie", 1): 82.0}),
                      _runs({("nnm", "none", 0): 90.0, ("nnm", "lie", 0): 89.0})])  # fmt: skip
    ranked = bench.ranks(bench.worst_cases(runs)).set_index("aggregator")
    assert ranked.loc["median", "rank"] == 1 and math.isnan(ranked.loc["nnm", "rank"])
    assert list(ranked.index) == ["median", "nnm"]  # unranked rules come last


def test_partitions_are_ranked_and_paired_separately():
    iid = _runs({("median", "none", 0): 90.0, ("median", "lie", 0): 80.0}, "iid")
    skew = _runs({("median", "none", 0): 70.0, ("median", "lie", 0): 68.0}, "dirichlet")
    worst = bench.worst_cases(pd.concat([iid, skew])).set_index("partition")
    assert worst.loc["iid", "impact"] == 10.0 and worst.loc["dirichlet", "impact"] == 2.0


def test_honest_cost_is_paired_with_the_mean_of_the_same_seed():
    runs = _runs({("mean", "none", 0): 86.0, ("mean", "none", 1): 88.0,
                  ("krum", "none", 0): 80.0, ("krum", "none", 1): 84.0})  # fmt: skip
    costs = bench.honest_costs(runs).set_index("aggregator")
    assert costs.loc["krum", "cost"] == pytest.approx(5.0) and costs.loc["krum", "cost_text"] == "5.0 ± 1.4"
    assert costs.loc["mean", "cost"] == 0.0
    alone = bench.honest_costs(runs[runs.aggregator == "krum"]).set_index("aggregator")
    assert math.isnan(alone.loc["krum", "cost"]) and alone.loc["krum", "cost_text"] == "–"


def test_an_attacked_run_without_its_baseline_is_left_out_not_guessed():
    runs = _runs({("median", "none", 0): 90.0, ("median", "lie", 0): 80.0, ("median", "lie", 1): 10.0})
    worst = bench.worst_cases(runs).iloc[0]
    assert worst.seeds == 1 and worst.impact == 10.0


def test_attacks_are_compared_on_the_seeds_they_all_have():
    # LIE has seeds 0 and 1 (impacts 30, 40: mean 35), IPM only seed 0 (34). Over their own seeds LIE would win
    # on its seed 1; on the shared seed 0, IPM (34) beats LIE (30).
    runs = _runs({("median", "none", 0): 90.0, ("median", "none", 1): 90.0, ("median", "lie", 0): 60.0,
                  ("median", "lie", 1): 50.0, ("median", "ipm", 0): 56.0})  # fmt: skip
    worst = bench.worst_cases(runs).iloc[0]
    assert (worst.attack, worst.seeds, worst.impact, worst.attacks) == ("ipm", 1, 34.0, 2)
    both = pd.concat([runs, _runs({("median", "ipm", 1): 45.0})])
    worst = bench.worst_cases(both).iloc[0]
    assert (worst.attack, worst.seeds, worst.impact) == ("ipm", 2, 39.5)
    disjoint = _runs({("median", "none", 0): 90.0, ("median", "none", 1): 90.0, ("median", "lie", 1): 50.0,
                      ("median", "ipm", 0): 56.0})  # fmt: skip
    assert bench.worst_cases(disjoint).iloc[0].attack == "lie"  # no shared seed: each on its own


def test_heat_maps_share_one_colour_scale_and_label_missing_cells():
    import matplotlib

    matplotlib.use("Agg")
    a = pd.DataFrame([[1.0, 30.0], [math.nan, 2.0]], index=["median", "krum"], columns=["lie", "tailored"])
    b = pd.DataFrame([[5.0, 60.0], [0.5, math.nan]], index=["median", "krum"], columns=["lie", "tailored"])
    fig = bench.heatmaps({"iid": a, "skew": b}, title="t")
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 2 and {(im.norm.vmin, im.norm.vmax) for im in images} == {(0.0, 60.0)}
    texts = [[t.get_text() for t in ax.texts] for ax in fig.axes if ax.images]
    assert texts[0] == ["1.0", "30.0", "n/a", "2.0"] and texts[1] == ["5.0", "60.0", "0.5", "n/a"]
    matplotlib.pyplot.close(fig)
