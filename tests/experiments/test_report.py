"""fedlib.report: impacts and tables, labels, the most robust rule, ratios, the results cache contract."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest

import fedlib.aggregators
import fedlib.attacks
from fedlib.errors import UnknownNameError
from fedlib.experiments import experiment_for, grids
from fedlib.report import labels, tables
from fedlib.report.results import Cell, MissingResultsError, collect, committed

ROOT = Path(__file__).resolve().parents[2]
SCALE = ROOT / "results" / "scale"


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
    assert tables.mean_sd(pd.Series([-0.02])) == "0.0" and tables.mean_sd(pd.Series([0.1, -0.12])) == "0.0 ± 0.2"
    assert tables.mean_sd(pd.Series([-0.06])) == "-0.1"


def test_main_table_layout_and_caption():
    table = tables.main_table(_runs(), ["lie", "tailored"], ["median"])
    assert table.loc[0, ("", "no-attack acc. (%)")] == "91.0 ± 1.4"
    assert table.loc[0, ("full knowledge: impact (pp)", "AGR-tailored")] == "19.0 ± 1.4"
    text = tables.caption("quick", ["mnist5k"], [0, 1])
    assert "Profile `quick`" in text and "seeds 0, 1 (mean ± std over seeds)" in text and "Quick profile" in text


def test_main_grid_shape_and_quick_overrides():
    cells = grids.attack_grid("quick", [0, 1])
    assert len(cells) == 2 * (5 + 5 * 5 * 2 - 1)  # minus the infeasible partial tailored Bulyan run
    assert grids.infeasible("quick") == [("bulyan", "tailored", "partial"), ("dnc", "tailored", "partial")]
    assert grids.infeasible("scale") == []
    # the quick grids run the profile's own rounds (100), not a shortened run
    assert {c.experiment.rounds for c in cells} == {experiment_for("quick").rounds} == {100}
    assert len({c.experiment.config_hash for c in cells}) == len(cells)
    tailored_median = [c for c in cells if c.labels["attack"] == "tailored" and c.labels["aggregator"] == "median"]
    assert all(c.experiment.attack_options == grids.QUICK_TAILORED_COORDINATEWISE for c in tailored_median)


def test_fang_attack_targets_trimmed_mean_on_filters():
    cells = grids.attack_grid("quick", [0], aggregators=("dnc",), attacks=("fang",), knowledge=("full",))
    assert [c.experiment.attack_target for c in cells] == [None, "trimmed_mean"]


def test_malicious_fraction_grid_counts():
    cells = grids.malicious_fraction_grid("quick", [0], percents=(10, 30), attacks=("lie",))
    assert sorted({c.experiment.n_malicious for c in cells}) == [2, 6]


def test_scale_profile_never_runs_silently(tmp_path):
    cells = grids.attack_grid("scale", [0], aggregators=("median",), attacks=("lie",), knowledge=("full",))
    with pytest.raises(MissingResultsError, match=r"fedlib.sweep.run_experiments") as info:
        collect(cells, profile="scale", results_dir=tmp_path)  # fedlib names no notebook: the sweep computes them
    assert "2 result(s)" in str(info.value) and "notebook" not in str(info.value)
    with pytest.raises(MissingResultsError, match=r"make notebook NB=notebooks/main_table.py"):
        collect(cells, profile="scale", results_dir=tmp_path, how="make notebook NB=notebooks/main_table.py")
    frame, note = committed("scale", cells, results_dir=tmp_path, where="results/scale")
    assert frame is None and "2 of 2 runs" in note and "results/scale" in note and str(tmp_path) not in note


def _hashes(cells):
    return {c.experiment.config_hash for c in cells}


def test_scale_block_one_is_the_campaigns_grid():
    # The campaign computes block 1 seed by seed with this expression (results/README.md): the book's block
    # grid must name exactly its cells, or committed files would be orphaned or never looked for.
    campaign = set()
    for seed in (0, 1, 2):
        campaign |= _hashes(grids.attack_grid("scale", [seed], aggregators=("trimmed_mean", "bulyan", "multi_krum",
                                                                             "krum", "median"),
                                              attacks=("fang", "lie", "tailored", "min_max", "min_sum"),
                                              knowledge=("full", "partial"), device="cpu"))
    main = grids.scale_grid("main")
    assert _hashes(main) == campaign and len(main) == len(campaign) == 3 * 5 * (1 + 5 * 2)


def test_scale_blocks_are_the_issue_grids():
    counts = {name: len(grids.scale_grid(name)) for name in grids.SCALE_BLOCKS}
    assert counts == {"main": 165, "dnc": 3 * 11, "afa_fang": 3 * 2 * 6, "malicious_fraction": 3 * 4 * 3 * 6,
                      "perturbations": 3 * 2 * (1 + 3 * 3), "cross_device": 3 * 5 * 6, "newer_rules": 3 * 4 * 6,
                      "benchmark": 3 * 2 * 13 * 8}
    for name in grids.SCALE_BLOCKS:
        cells = grids.scale_grid(name)
        assert len(_hashes(cells)) == len(cells), name
        assert {c.experiment.profile for c in cells} == {"scale"} and {c.seed for c in cells} == set(
            grids.SCALE_SEEDS[name])
    dnc = grids.scale_grid("dnc")
    assert {c.experiment.attack_target for c in dnc if c.labels["attack"] == "fang"} == {"trimmed_mean"}
    assert {c.labels["knowledge"] for c in grids.scale_grid("afa_fang")} == {"full", "-"}
    fraction = grids.scale_grid("malicious_fraction")
    assert sorted({c.experiment.n_malicious for c in fraction}) == [5, 10, 20, 30]
    # Blocks share the runs they have in common: 20 % malicious and the std direction are main-table runs.
    main = _hashes(grids.scale_grid("main"))
    assert _hashes(c for c in fraction if c.labels["percent"] == 20) <= main
    assert _hashes(c for c in grids.scale_grid("perturbations") if c.labels["perturbation"] in ("std", "-")) <= main
    cross = {c.experiment for c in grids.scale_grid("cross_device")}
    assert {(e.n_clients, e.clients_per_round, e.sampling, e.partition, e.partition_alpha, e.n_malicious,
             e.batch_size) for e in cross} == {(1000, 60, "with_replacement", "dirichlet", 0.5, 200, None)}
    with pytest.raises(UnknownNameError):
        grids.scale_grid("everything")


def test_the_benchmark_block_is_every_rule_against_every_attack_on_both_partitions():
    cells = grids.scale_grid("benchmark")
    rules = set(fedlib.aggregators.names())
    attacks = set(fedlib.attacks.names())
    for partition in ("iid", "dirichlet"):
        part = [c for c in cells if c.labels["partition"] == partition]
        assert {(c.labels["aggregator"], c.labels["attack"], c.seed) for c in part} == {
            (r, a, s) for r in rules for a in attacks for s in (0, 1, 2)}
        assert {c.experiment.knowledge for c in part if c.labels["attack"] != "none"} == {"full"}
        assert {c.experiment.partition for c in part} == {partition}
    # The iid cells of the paper's rules and of the newer rules are the other blocks' runs (same hashes).
    iid = _hashes(c for c in cells if c.labels["partition"] == "iid")
    shared = (_hashes(grids.scale_grid("main")) | _hashes(grids.scale_grid("dnc"))
              | _hashes(grids.scale_grid("afa_fang")) | _hashes(grids.scale_grid("newer_rules")))
    assert len(iid & shared) == 3 * (8 * 6 + 4 * 6)
    dirichlet = {c.experiment for c in cells if c.labels["partition"] == "dirichlet"}
    assert {(e.n_clients, e.partition_alpha, e.samples_per_client, e.sampling, e.batch_size) for e in dirichlet} == {
        (100, 0.5, None, "all", 100)}
    with pytest.raises(UnknownNameError):
        grids.benchmark_grid([0], partitions=("shards",))


def test_scale_cross_device_cells_are_feasible_for_every_draw():
    from fedlib.fl import check_feasible

    for cell in grids.scale_grid("cross_device"):
        check_feasible(cell.experiment)


def test_every_committed_scale_file_belongs_to_a_block_and_loads():
    # Holds at every stage of the campaign: a committed file that no block grid names is invisible in the
    # book (an orphan after a config change), and a file must be a valid result of its own config.
    from fedlib.experiments import load_result

    files = sorted(SCALE.glob("*.json"))
    assert files, "no committed scale results"
    known = set().union(*(_hashes(grids.scale_grid(name)) for name in grids.SCALE_BLOCKS))
    orphans = [f.name for f in files if f.stem not in known]
    assert not orphans, f"committed scale files that no block of grids.scale_grid names: {orphans}"
    for path in files:
        assert load_result(path).config_hash == path.stem, path.name  # load_result checks it against the config


def test_quick_grids_never_share_a_cell_with_the_scale_campaign():
    # A quick notebook computes what its grids lack; none of its cells may be a scale cell (a full-size run).
    quick = (grids.attack_grid("quick", [0, 1]) + grids.attack_grid("quick", [0], aggregators=("dnc", "afa",
                                                                                                "fang_defense"))
             + grids.malicious_fraction_grid("quick", [0, 1], percents=(10, 20, 30))
             + grids.perturbation_grid("quick", [0]))
    scale = set().union(*(_hashes(grids.scale_grid(name)) for name in grids.SCALE_BLOCKS))
    assert not _hashes(quick) & scale
    assert {c.experiment.profile for c in quick} == {"quick"}


def test_progress_table_shows_only_what_is_committed():
    wanted = pd.DataFrame([{"aggregator": a, "attack": atk, "seed": s}
                           for a in ("krum", "median") for atk in ("none", "lie", "fang") for s in (0, 1, 2)])
    acc = {"none": 90.0, "lie": 80.0, "fang": 85.0}
    runs = wanted[(wanted.aggregator == "median") & (wanted.seed < 2)].assign(
        test_accuracy=lambda f: f.attack.map(acc) - f.seed)
    runs = runs[~((runs.attack == "fang") & (runs.seed == 1))]
    runs = pd.concat([runs, pd.DataFrame([{"aggregator": "krum", "attack": "lie", "seed": 0, "test_accuracy": 1.0}])])
    table = tables.progress_table(runs, wanted, by=["aggregator"], index=["aggregator"], column="attack", n_seeds=3)
    rows = table.set_index("AGR")
    assert rows.loc["Median", "LIE"] == "10.0 ± 0.0 (n=2)" and rows.loc["Median", "Fang"] == "5.0 (n=1)"
    assert rows.loc["Median", "no-attack acc. (%)"] == "89.5 ± 0.7 (n=2)"
    # Krum's LIE run has no no-attack run yet: no impact, never a number.
    assert (rows.loc["Krum"] == tables.NOT_YET).all()
    lines = tables.describe_missing(
        {"aggregator": "median", "attack": "fang", "knowledge": "full", "seed": s} for s in (1, 2))
    assert lines == ["Median, full knowledge: Fang (seeds 1, 2)"]
    # The benchmark's partitions read as the chapter names them, not as the config's "dirichlet".
    lines = tables.describe_missing(
        {"aggregator": "nnm", "attack": a, "knowledge": "full", "partition": part, "seed": 0}
        for part in ("iid", "dirichlet") for a in ("lie", "ipm"))
    assert lines == ["NNM, full knowledge, iid clients: LIE, IPM (seed 0)",
                     "NNM, full knowledge, non-iid (Dirichlet) clients: LIE, IPM (seed 0)"]


def test_collect_reads_cached_results(tmp_path):
    from fedlib.experiments import experiment_for, run

    exp = experiment_for("quick", rounds=2, eval_every=1)
    run(exp, tmp_path)
    frame = collect([Cell({"aggregator": "mean", "attack": "none"}, exp, 0)], profile="full", results_dir=tmp_path)
    assert list(frame.columns[:3]) == ["aggregator", "attack", "seed"]
    assert 0.0 <= frame.test_accuracy.iloc[0] <= 100.0


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
    assert tables.most_robust(imp.iloc[0:0]) is None


def test_mean_and_sd():
    assert tables.mean_and_sd(pd.Series([1.0, 3.0])) == pytest.approx((2.0, math.sqrt(2.0)))
    assert tables.mean_and_sd(pd.Series([4.0])) == (4.0, 0.0)
    assert all(math.isnan(v) for v in tables.mean_and_sd(pd.Series([math.nan])))


def test_page_table_aligns_every_number_right_even_in_exponent_notation():
    html = tables.page_table(pd.DataFrame({"rule": ["DnC", "NNM"], "distance": [1.2e-17, 0.5]}), precision=3).to_html()
    rules = dict((style, set(re.findall(r"row(\d)_col(\d)", cells))) for cells, style in
                 re.findall(r"((?:#T_\w+,?\s*)+)\{\s*([^}]*)\}", html))
    right = next(cells for style, cells in rules.items() if "text-align: right" in style)
    assert right == {("0", "1"), ("1", "1")}, rules  # both distances, the tiny one too


def test_impact_ratio_says_nothing_of_an_attack_that_did_no_harm():
    assert tables.impact_ratio(13.4, 5.8) == pytest.approx(13.4 / 5.8)
    assert all(math.isnan(tables.impact_ratio(a, b)) for a, b in [(1.0, 0.0), (1.0, -1.0), (math.nan, 1.0)])


def test_labels_follow_the_paper_order():
    assert [labels.AGR_LABELS[a] for a in labels.EXISTING_AGRS] == ["Krum", "Multi-krum", "Bulyan", "Trimmed-mean",
                                                                    "Median"]
    assert set(labels.ATTACKS) <= set(labels.ATTACK_LABELS)


def test_fedlib_report_never_computes_a_repository_path():
    # The installed package must not assume the repository's layout (results folders are passed in).
    import fedlib.report as report

    for path in Path(report.__file__).parent.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "parents[" not in text and "_build" not in text.replace("_build_", ""), path.name
