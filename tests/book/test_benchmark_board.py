"""The Robustness-benchmark chapter's board (fedbook.benchmark): its rows and heat-map rows in one order, and
captions that say which seeds stand under each partition's cells, on small synthetic blocks."""

from __future__ import annotations

import doctest
import itertools
from types import SimpleNamespace

import pandas as pd
import pytest
from fedbook import benchmark

from fedlib.report.labels import AGR_LABELS

RULES, ATTACKS = ("mean", "median", "krum"), ("lie", "min_max")
# no-attack accuracy and the drop of each attack: the mean loses most, Krum least
DROP = {"mean": 40.0, "median": 10.0, "krum": 2.0}


def runs_for(seeds_of: dict[tuple[str, str], list[int]]) -> pd.DataFrame:
    """Runs of both partitions; ``seeds_of[(partition, rule)]``: the seeds committed for every attack of it."""
    rows = []
    for (partition, rule), seeds in seeds_of.items():
        for seed, attack in itertools.product(seeds, ("none", *ATTACKS)):
            drop = 0.0 if attack == "none" else DROP[rule] + 0.5 * seed + (attack == "min_max")
            rows.append({"aggregator": rule, "partition": partition, "attack": attack, "seed": seed,
                         "test_accuracy": 85.0 - drop, "seconds": 60.0})
    return pd.DataFrame(rows)


def board_of(runs: pd.DataFrame):
    block = SimpleNamespace(runs=runs, cells=[], seeds=[0, 1, 2])
    return benchmark.board(block, rules=RULES, attacks=ATTACKS, partitions=("iid", "dirichlet"))


def test_docstring_example_runs():
    result = doctest.testmod(benchmark, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_heat_map_rows_follow_the_leaderboard():
    seeds = {(p, r): [0, 1, 2] for p in ("iid", "dirichlet") for r in RULES}
    view = board_of(runs_for(seeds))
    assert view.order() == ["krum", "median", "mean"]  # smallest worst case first
    names = [AGR_LABELS[r] for r in view.order()]
    assert view.leaderboard()[("", "rule")].tolist() == names
    fig = view.figure()
    try:
        # the panels share the rule axis: its labels sit on the first
        assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == names
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


@pytest.mark.parametrize("dirichlet_seeds,expected", [
    ({"mean": [0, 1, 2], "median": [0, 1, 2], "krum": [0, 1, 2]}, "seeds 0, 1, 2 in every cell"),
    ({"mean": [0], "median": [0, 1], "krum": [0, 1]}, "seeds 0, 1 in 4, seed 0 in 2 of the 6 cells"),
    ({"mean": [0], "median": [0]}, "seed 0 in 4, none yet in 2 of the 6 cells"),
])
def test_figure_caption_says_which_seeds_stand_under_each_partition(dirichlet_seeds, expected):
    seeds = {("iid", r): [0, 1, 2] for r in RULES} | {("dirichlet", r): s for r, s in dirichlet_seeds.items()}
    view = board_of(runs_for(seeds))
    assert view.seed_coverage("iid") == "seeds 0, 1, 2 in every cell"
    assert view.seed_coverage("dirichlet") == expected
    caption = view.figure_caption()
    assert f"iid, seeds 0, 1, 2 in every cell; {benchmark.PARTITION_LABELS['dirichlet']}, {expected}." in caption


def test_a_no_attack_run_alone_is_no_cell():
    runs = runs_for({("iid", r): [0, 1, 2] for r in RULES})
    only_baseline = runs[(runs.attack == "none") | (runs.aggregator != "mean")].assign(partition="dirichlet")
    view = board_of(pd.concat([runs, only_baseline]))
    assert view.seed_coverage("dirichlet") == "seeds 0, 1, 2 in 4, none yet in 2 of the 6 cells"


def test_rank_example_reads_the_rule_on_the_boards_own_numbers():
    # Krum's worst cases 3.0-4.0 pp and Trimmed-mean's 3.5-4.5 overlap: both rank 1; Median's smallest (11.0)
    # is above both, so it ranks 3.
    DROP["trimmed_mean"] = 2.5
    try:
        rules = (*RULES, "trimmed_mean")
        runs = runs_for({("iid", r): [0, 1, 2] for r in rules})
        view = benchmark.board(SimpleNamespace(runs=runs, cells=[], seeds=[0, 1, 2]), rules=rules, attacks=ATTACKS,
                               partitions=("iid",))
        text = view.rank_example("iid")
    finally:
        del DROP["trimmed_mean"]
    assert "Trimmed-mean shares rank 1 with Krum although its mean worst case is larger (4.0 ± 0.5 against " \
           "3.5 ± 0.5 pp): its per-seed worst cases (3.5–4.5 pp) overlap Krum's (3.0–4.0 pp)" in text
    assert "Median (11.5 ± 0.5 pp) ranks 3: its smallest per-seed worst case (11.0 pp) is larger than every " \
           "per-seed worst case of Krum and Trimmed-mean." in text
    no_tie = board_of(runs_for({(p, r): [0, 1, 2] for p in ("iid", "dirichlet") for r in RULES}))
    assert no_tie.rank_example("iid") == ""


def test_a_rule_alone_with_two_seeds_is_not_ranked_and_a_partial_ranking_says_so():
    seeds = {("iid", r): [0, 1, 2] for r in RULES} | {("dirichlet", "mean"): [0, 1], ("dirichlet", "median"): [0],
                                                      ("dirichlet", "krum"): [0]}
    view = board_of(runs_for(seeds))
    non_iid = view.worst[view.worst.partition == "dirichlet"]
    assert non_iid["rank"].isna().all(), "first of one is no ranking"
    assert view.leaderboard()[(benchmark.PARTITION_LABELS["dirichlet"], "rank")].tolist() == ["–"] * 3
    assert "only Mean (FedSGD) has 2 seeds under every attack so far; nothing is ranked yet" in view.findings()
    seeds[("dirichlet", "krum")] = [0, 1]
    findings = board_of(runs_for(seeds)).findings()
    assert "(2 rules ranked so far, of the 3 listed: ranks among them only): rank 1 — Krum" in findings
    assert "**iid** (3 rules ranked): rank 1 — Krum" in findings


def test_cost_table_pairs_each_rule_with_the_mean_by_seed_in_the_leaderboards_order():
    runs = runs_for({("iid", r): [0, 1, 2] for r in RULES})
    clean = runs.attack == "none"
    runs.loc[clean & (runs.aggregator == "krum"), "test_accuracy"] -= [4.0, 5.0, 6.0]  # Krum costs 5 ± 1 pp
    view = benchmark.board(SimpleNamespace(runs=runs, cells=[], seeds=[0, 1, 2]), rules=RULES, attacks=ATTACKS,
                           partitions=("iid",))
    costs = view.cost_table().set_index(("", "rule"))
    assert list(costs.index) == view.leaderboard()[("", "rule")].tolist()
    assert costs.loc["Krum", ("iid", "honest cost (pp)")] == "5.0 ± 1.0"
    assert costs.loc[AGR_LABELS["mean"], ("iid", "honest cost (pp)")] == "0.0 ± 0.0"
    assert costs.loc["Median", ("iid", "no-attack accuracy (%)")] == "85.0 ± 0.0"
    assert "(worst case (pp)" not in str(list(view.leaderboard().columns)) and len(view.leaderboard().columns) == 4


def test_the_leaderboard_caption_explains_only_the_marks_the_table_shows():
    complete = board_of(runs_for({(p, r): [0, 1, 2] for p in ("iid", "dirichlet") for r in RULES}))
    text = complete.leaderboard_caption()
    cells = " ".join(complete.leaderboard().astype(str).to_numpy().ravel())
    assert "†" not in cells + text and "not committed yet" not in text and "not ranked" not in text
    partial = board_of(runs_for({**{("iid", r): [0, 1, 2] for r in RULES},
                                 ("dirichlet", "mean"): [0], ("dirichlet", "median"): [0, 1],
                                 ("dirichlet", "krum"): [0, 1]}))
    text, cells = partial.leaderboard_caption(), " ".join(partial.leaderboard().astype(str).to_numpy().ravel())
    assert "†" in cells and "† fewer than 3 seeds" in text
    assert "–" in cells and '"–": not ranked' in text  # the mean, with one seed, is not ranked
