"""fedlib.report: paper numbers as data, grids, impacts, verdicts, the results cache contract, toy helpers."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from fedlib.errors import ConfigError, UnknownNameError
from fedlib.report import grids, paper, summary, tables, toy
from fedlib.report.results import (Cell, Context, MissingResultsError, absent_labels, collect, committed, is_cached,
                                   results_dir_for)


# ----------------------------------------------------------------------------------------------- paper numbers
def test_paper_numbers_match_the_transcription():
    # paper-results.md §A2 and §A3: the only per-setting numbers the available text states.
    cifar = {p.attack: p.value for p in paper.numbers(kind="impact", dataset="cifar10", model="alexnet_cifar")}
    assert cifar == {"fang": 11.8, "lie": 30.0, "tailored": 45.6, "agnostic": 44.5}
    maxima = {(p.dataset, p.model, p.aggregator): p.value for p in paper.numbers(kind="max_impact")}
    assert maxima[("cifar10", "alexnet_cifar", None)] == 36.8 and maxima[("cifar10", "alexnet_cifar", "dnc")] == 6.1
    assert maxima[("cifar10", "vgg11_cifar", None)] == 32.5 and maxima[("cifar10", "vgg11_cifar", "dnc")] == 6.3
    assert maxima[("purchase100", "purchase_fc", None)] == 11.6 and maxima[("purchase100", "purchase_fc", "dnc")] == 1.8
    assert maxima[("mnist", "mnist_fc", None)] == 4.4 and maxima[("mnist", "mnist_fc", "dnc")] == 1.9
    assert paper.get("abstract_attack_ratio").shown == "1.5×–60×"


def test_every_paper_number_cites_its_section_and_keys_are_unique():
    keys = [p.key for p in paper.NUMBERS]
    assert len(keys) == len(set(keys))
    assert all("paper-results.md §A" in p.source for p in paper.NUMBERS)
    assert set(paper.table().columns) >= {"key", "source", "paper", "setting"}


def test_paper_lookup_errors():
    with pytest.raises(UnknownNameError):
        paper.get("no_such_number")
    with pytest.raises(ConfigError):
        paper.numbers(colour="red")


# ----------------------------------------------------------------------------------------------- impacts and tables
def _runs():
    rows = []
    for seed, (clean, lie, tailored) in enumerate([(90.0, 88.0, 70.0), (92.0, 89.0, 74.0)]):
        for attack, acc in (("none", clean), ("lie", lie), ("tailored", tailored)):
            rows.append({"dataset": "mnist5k", "model": "mnist_fc", "aggregator": "median", "attack": attack,
                         "knowledge": "-" if attack == "none" else "full", "seed": seed, "test_accuracy": acc})
    return pd.DataFrame(rows)


def test_impacts_pair_each_attacked_run_with_its_own_seed():
    imp = tables.impacts(_runs(), by=["dataset", "model", "aggregator"])
    got = imp.set_index(["attack", "seed"]).impact.to_dict()
    assert got == {("lie", 0): 2.0, ("tailored", 0): 20.0, ("lie", 1): 3.0, ("tailored", 1): 18.0}


def test_impacts_refuse_a_missing_baseline():
    runs = _runs()
    with pytest.raises(ValueError, match="without a no-attack run"):
        tables.impacts(runs[~((runs.attack == "none") & (runs.seed == 1))], by=["dataset", "model", "aggregator"])


def test_mean_sd_formatting():
    assert tables.mean_sd(pd.Series([1.0])) == "1.0"
    assert tables.mean_sd(pd.Series([1.0, 3.0])) == "2.0 ± 1.4"
    assert tables.mean_sd(pd.Series([math.nan])) == "–"


def test_main_table_layout_and_caption():
    table = tables.main_table(_runs(), ["lie", "tailored"], ["median"])
    assert table.loc[0, ("", "no-attack acc. (%)")] == "91.0 ± 1.4"
    assert table.loc[0, ("full knowledge: impact (pp)", "AGR-tailored")] == "19.0 ± 1.4"
    text = tables.caption("quick", ["mnist5k"], [0, 1])
    assert "Profile `quick`" in text and "seed(s) 0, 1" in text and "Quick profile" in text


# ----------------------------------------------------------------------------------------------- verdict rule
def test_impact_verdict_scales_with_the_claim():
    # The old rule (within max(5 pp, 2 sd)) accepted the first two: a DnC that protects nothing must not
    # "reproduce" 1.9, nor 8.0 the MNIST 4.4.
    assert not summary.verdict_for_impact(1.9, 4.4)
    assert not summary.verdict_for_impact(4.4, 8.0)
    assert summary.verdict_for_impact(1.9, 2.8)       # the 1 pp floor
    assert not summary.verdict_for_impact(1.9, 3.0)
    assert summary.verdict_for_impact(45.6, 37.0)     # 20 % of 45.6 = 9.12 pp
    assert not summary.verdict_for_impact(45.6, 36.0)
    assert not summary.verdict_for_impact(45.6, math.nan)
    assert summary.impact_tolerance(1.9) == 1.0 and summary.impact_tolerance(45.6) == pytest.approx(9.12)


def test_ratio_verdicts():
    assert summary.verdict_for_ratio(1.5, 60, [2.0, 10.0])
    assert not summary.verdict_for_ratio(1.5, 60, [1.2, 10.0])
    assert summary.verdict_for_ratio(15, 15, [12.0])         # ±20 % of a single value
    assert not summary.verdict_for_ratio(15, 15, [11.9])
    assert not summary.verdict_for_ratio(1.5, 60, [])         # no ratio is no match
    assert not summary.verdict_for_ratio(1.5, 60, [math.nan])


def _full_mnist(existing: dict, dnc: float):
    """Full-profile MNIST impacts: ``existing`` maps (rule, attack, knowledge) to an impact; DnC has one."""
    rows = [{"dataset": "mnist", "model": "mnist_fc", "aggregator": a, "attack": atk, "knowledge": k, "seed": 0,
             "impact": v} for (a, atk, k), v in existing.items()]
    dnc_rows = [{"dataset": "mnist", "model": "mnist_fc", "aggregator": "dnc", "attack": "min_max",
                 "knowledge": "full", "seed": 0, "impact": dnc}]
    return {("full", "mnist", "mnist_fc"): (pd.DataFrame(rows), pd.DataFrame(dnc_rows))}


def _verdicts(results):
    return summary.summary_table(results, paper.numbers(dataset="mnist")).set_index("paper number").verdict


def test_dnc_maxima_are_judged_as_the_ratio_they_state():
    # Paper: 4.4 on the most robust existing rule, 1.9 on DnC (ratio 2.3).
    same = {("median", "lie", "full"): 4.4, ("krum", "lie", "full"): 9.0}
    assert _verdicts(_full_mnist(same, 1.9))["dnc_mnist_dnc"] == "reproduced"
    # DnC that protects nothing: 4.0 is within 5 pp of 1.9 (the old rule said "reproduced"), ratio 1.1.
    assert _verdicts(_full_mnist(same, 4.0))["dnc_mnist_dnc"] == "not reproduced"
    # Twice the impacts, same ratio: the DnC claim holds, the existing rule's 8.8 does not match 4.4.
    double = _verdicts(_full_mnist({k: 2 * v for k, v in same.items()}, 3.8))
    assert double["dnc_mnist_dnc"] == "reproduced" and double["dnc_mnist_existing"] == "not reproduced"
    # DnC without any harm: no ratio, not a reproduction, and the table says why.
    table = summary.summary_table(_full_mnist(same, 0.0), [paper.get("dnc_mnist_dnc")])
    assert table.verdict.tolist() == ["not reproduced"] and "1 excluded" in table.iloc[0]["ours (paper's setting)"]
    assert "4.4 ÷ 1.9 = 2.3×" in table.iloc[0]["paper"]


def test_ratio_verdicts_report_the_settings_they_excluded():
    imp = pd.DataFrame([
        {"dataset": "mnist", "model": "mnist_fc", "aggregator": agr, "attack": atk, "knowledge": "full",
         "seed": 0, "impact": v}
        for agr, vals in (("median", {"fang": 2.0, "lie": 1.0, "min_max": 8.0}),
                          ("krum", {"fang": -1.0, "lie": 0.0, "min_max": 9.0}))
        for atk, v in vals.items()])
    measured = summary.measure(paper.get("abstract_attack_ratio"), imp)
    assert measured["ratios"] == [4.0] and measured["excluded"] == 1
    assert "1 of 2 settings; 1 excluded" in measured["text"]


def test_summary_without_full_results_never_claims_reproduction():
    imp = tables.impacts(_runs(), by=["dataset", "model", "aggregator"])
    table = summary.summary_table({("quick", "mnist5k", "mnist_fc"): (imp, None)})
    assert len(table) == len(paper.NUMBERS)
    assert set(table.verdict) == {"not reproduced"}
    assert (table["ours (paper's setting)"] == "not run").all()


def test_summary_with_full_results_applies_the_rule():
    runs = _runs().assign(dataset="cifar10", model="alexnet_cifar", knowledge=lambda f: f.knowledge.replace("full", "partial"))
    imp = tables.impacts(runs, by=["dataset", "model", "aggregator"])
    table = summary.summary_table({("full", "cifar10", "alexnet_cifar"): (imp, None)}).set_index("paper number")
    assert table.loc["cifar_alexnet_partial_lie", "verdict"] == "not reproduced"     # 2.5 vs 30.0
    assert table.loc["cifar_alexnet_partial_tailored", "verdict"] == "not reproduced"  # 19.0 vs 45.6
    runs.loc[runs.attack == "tailored", "test_accuracy"] -= 27.0  # impact 46.0 ± 1.4 vs 45.6
    imp = tables.impacts(runs, by=["dataset", "model", "aggregator"])
    table = summary.summary_table({("full", "cifar10", "alexnet_cifar"): (imp, None)}).set_index("paper number")
    assert table.loc["cifar_alexnet_partial_tailored", "verdict"] == "reproduced"


# ----------------------------------------------------------------------------------------------- grids and results
def test_main_grid_shape_and_quick_overrides():
    cells = grids.attack_grid("quick", [0, 1])
    assert len(cells) == 2 * (5 + 5 * 5 * 2 - 1)  # minus the infeasible partial tailored Bulyan run
    assert grids.infeasible("quick") == [("bulyan", "tailored", "partial"),
                                                                   ("dnc", "tailored", "partial")] and grids.infeasible("scale") == []
    assert {c.experiment.rounds for c in cells} == {grids.QUICK_OVERRIDES["rounds"]}
    assert len({c.experiment.config_hash for c in cells}) == len(cells)
    tailored_median = [c for c in cells if c.labels["attack"] == "tailored" and c.labels["aggregator"] == "median"]
    assert all(c.experiment.attack_options == grids.QUICK_TAILORED_COORDINATEWISE for c in tailored_median)


def test_fang_attack_targets_trimmed_mean_on_filters():
    cells = grids.attack_grid("quick", [0], aggregators=("dnc",), attacks=("fang",), knowledge=("full",))
    assert [c.experiment.attack_target for c in cells] == [None, "trimmed_mean"]


def test_malicious_fraction_grid_counts():
    cells = grids.malicious_fraction_grid("quick", [0], percents=(10, 30), attacks=("lie",))
    assert sorted({c.experiment.n_malicious for c in cells}) == [2, 6]


def test_results_dirs():
    assert results_dir_for("quick").parts[-3:] == ("_build", "cache", "quick")
    assert results_dir_for("full").parts[-2:] == ("results", "full")
    with pytest.raises(UnknownNameError):
        results_dir_for("huge")


def test_scale_profile_never_runs_silently(tmp_path):
    cells = grids.attack_grid("scale", [0], aggregators=("median",), attacks=("lie",), knowledge=("full",))
    with pytest.raises(MissingResultsError, match=r"run_missing true") as info:
        collect(cells, profile="scale", results_dir=tmp_path, notebook="notebooks/main_table.py")
    assert "2 result(s)" in str(info.value) and "notebooks/main_table.py" in str(info.value)
    frame, note = committed("scale", lambda s: cells, results_dir=tmp_path)
    assert frame is None and "2 of 2 runs" in note


def test_committed_scale_results_cover_the_reduced_grids_and_name_what_is_missing():
    # The book reads these grids in every profile; a config change that orphans the committed JSON files
    # would make the scale comparisons vanish from the book.
    folder = results_dir_for("scale")
    for cells in (grids.scale_table_grid(), grids.scale_fraction_grid()):
        assert all(is_cached(c.experiment, folder) for c in cells)
    absent = absent_labels(grids.attack_grid("scale", grids.SCALE_SEEDS), folder)
    assert absent == {"aggregator": ["krum", "multi_krum", "bulyan", "trimmed_mean"], "attack": ["tailored"],
                      "knowledge": ["partial"]}


def test_collect_reads_cached_results(tmp_path):
    from fedlib.experiments import experiment_for, run

    exp = experiment_for("quick", rounds=2, eval_every=1)
    run(exp, tmp_path)
    frame = collect([Cell({"aggregator": "mean", "attack": "none"}, exp, 0)], profile="full", results_dir=tmp_path)
    assert list(frame.columns[:3]) == ["aggregator", "attack", "seed"]
    assert 0.0 <= frame.test_accuracy.iloc[0] <= 100.0


def test_context_defaults_and_errors():
    assert Context("scale").seeds == [0] and Context("scale").run_missing is False
    assert Context("full").seeds == [0, 1, 2]
    with pytest.raises(ConfigError):
        Context("quick", seeds=[])


# ----------------------------------------------------------------------------------------------- toy helpers
def test_halving_trace_ends_at_the_search_answer_and_below_exact():
    from fedlib.attacks import craft

    benign = toy.gaussian_updates(20, 10, seed=1)
    trace = toy.halving_trace(toy.agnostic_success(benign, "min_max"), gamma_init=10.0)
    exact = craft("min_max", benign, 5, search="exact").gamma
    halving = craft("min_max", benign, 5, search="halving").gamma
    assert trace.best.iloc[-1] == pytest.approx(halving)
    assert halving <= exact * (1 + 1e-9)


def test_agnostic_curves_cross_their_threshold_at_the_exact_gamma():
    from fedlib.attacks import craft

    benign = toy.gaussian_updates(20, 10, seed=2)
    for attack in ("min_max", "min_sum"):
        gamma = craft(attack, benign, 5, search="exact").gamma
        c = toy.agnostic_curves(benign, [gamma * 0.99, gamma * 1.01]).query("attack == @attack")
        assert (c.value <= c.threshold).tolist() == [True, False]


def test_rule_variant_difference_finds_a_real_difference():
    ex = toy.rule_variant_difference("median", n=6, f=1)
    assert not torch.equal(ex["textbook"].vector, ex["ndss21"].vector)
    with pytest.raises(ValueError, match="agree"):
        toy.rule_variant_difference("mean", n=5, f=1, seeds=range(5))


def test_most_robust_names_the_rule_its_number_belongs_to():
    # Pooling knowledge settings (the old dnc_table) ranks Krum (mean 4.0 over full/partial) above Median
    # (5.0), while the maximum over attack × knowledge is Krum 7.0, Median 5.0: name and number disagreed.
    imp = pd.DataFrame({"aggregator": ["krum", "krum", "median", "median"], "attack": ["lie", "lie", "fang", "fang"],
                        "knowledge": ["full", "partial", "full", "partial"], "seed": [0] * 4,
                        "impact": [7.0, 1.0, 5.0, 5.0]})
    best = tables.most_robust(imp)
    assert (best.aggregator, best.worst_attack, best.max_impact) == ("median", "fang", 5.0)
    per_rule = tables.largest_impacts(imp, ["aggregator"]).set_index("aggregator")
    assert per_rule.loc["krum", "max_impact"] == 7.0 and per_rule.loc["krum", "worst_knowledge"] == "full"
    assert summary.max_impacts(imp, None)[0] == best.max_impact
    assert tables.most_robust(imp.iloc[0:0]) is None


def test_mean_and_sd():
    assert tables.mean_and_sd(pd.Series([1.0, 3.0])) == pytest.approx((2.0, math.sqrt(2.0)))
    assert tables.mean_and_sd(pd.Series([4.0])) == (4.0, 0.0)
    assert all(math.isnan(v) for v in tables.mean_and_sd(pd.Series([math.nan])))


def test_attack_ratio_ignores_attacks_without_runs():
    imp = pd.DataFrame({"attack": ["min_max", "fang", "lie"], "impact": [13.4, 5.8, 3.2]})
    assert tables.attack_ratio(imp, ["tailored", "min_max", "min_sum"]) == pytest.approx(13.4 / 5.8)
    assert math.isnan(tables.attack_ratio(imp.assign(impact=[1.0, -1.0, 0.0]), ["min_max"]))
