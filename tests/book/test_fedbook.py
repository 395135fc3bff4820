"""The book's own code (book/_lib/fedbook): paper numbers as data, verdicts, notebook context, toy helpers."""

from __future__ import annotations

import doctest
import importlib
import shutil

import pandas as pd
import pytest
import torch
from fedbook import paper, toy
from fedbook.captions import Captions
from fedbook.context import ROOT, Context, results_dir_for
from fedbook.scale import ScaleBlock, knowledge_twins, scale_block

from fedlib.errors import ConfigError, UnknownNameError
from fedlib.experiments import grids
from fedlib.report import tables


@pytest.mark.parametrize("module", ["fedbook.context", "fedbook.paper", "fedbook.summary", "fedbook.setup",
                                    "fedbook.toy", "fedbook.notebooks", "fedbook.scale",
                                    "fedbook.judge"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module),
                             optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_paper_numbers_match_the_transcription():
    # The introduction's numbers: the only per-setting numbers the available text states.
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
    assert all(p.source.startswith("paper, ") and "paper-results" not in p.source for p in paper.NUMBERS)
    assert set(paper.table().columns) >= {"key", "source", "paper", "setting"}


def test_paper_lookup_errors():
    with pytest.raises(UnknownNameError):
        paper.get("no_such_number")
    with pytest.raises(ConfigError):
        paper.numbers(colour="red")


def test_results_dirs():
    assert results_dir_for("quick").parts[-2:] == ("results", "quick")
    assert results_dir_for("full").parts[-2:] == ("results", "full")
    with pytest.raises(UnknownNameError):
        results_dir_for("huge")


def test_pages_never_name_a_machine_path():
    assert str(ROOT) not in Context("quick").describe()
    assert Context("scale").describe() == "profile `scale`, seeds 0, 1, 2, results read from results/scale"
    assert "computed" not in Context("quick").describe() and "[" not in Context("quick").describe()


def test_context_defaults_and_errors():
    assert Context("scale").seeds == [0, 1, 2] and Context("scale").run_missing is False
    assert Context("full").seeds == [0, 1, 2]
    with pytest.raises(ConfigError):
        Context("quick", seeds=[])


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




# --------------------------------------------------------------------------- the scale campaign on the pages
SCALE = ROOT / "results" / "scale"
#: The Results pages (fl_setup is a settings page) and the scale block each leads with.
RESULTS_PAGES = {"main_table": "main", "dnc_table": "dnc", "afa_fang_defense": "afa_fang",
                 "malicious_fraction": "malicious_fraction", "perturbations": "perturbations",
                 "cross_device": "cross_device"}


@pytest.fixture
def nothing_runs(monkeypatch):
    """Any attempt to run an experiment (serially or on Dask) fails the test; cached results still load."""
    import fedlib.sweep._run as sweep_run

    def refuse(todo, *args, **kwargs):
        raise AssertionError(f"{len(todo)} experiment(s) would be computed")

    monkeypatch.setattr(sweep_run, "_run_serial", refuse)
    monkeypatch.setattr(sweep_run, "run_dask", refuse)


@pytest.mark.parametrize("name", grids.SCALE_BLOCKS)
def test_scale_block_shows_every_committed_run_and_lists_exactly_the_rest(name, nothing_runs):
    block = scale_block(name)
    committed = {p.stem for p in SCALE.glob("*.json")}
    grid = {c.experiment.config_hash for c in block.cells}
    assert {c.experiment.config_hash for c in block.missing} == grid - committed
    assert len(block.runs) == len(grid & committed) == len(block.cells) - len(block.missing)
    note = block.missing_note()
    if block.missing:  # every missing run is counted once in the note: (attacks named) × (seeds named)
        listed = 0
        for line in note.splitlines()[2:]:
            for part in line.split(": ", 1)[1].split("; "):
                names, seeds = part.rsplit(" (", 1)
                listed += len(names.split(", ")) * len(seeds.split(","))
        assert listed == len(block.missing)
        assert block.notes(twins=False) == [note]
    else:  # a complete block's caption says so; the notes under its table do not say it again
        assert "Every one" in note and block.notes(twins=False) == []
        assert f"{len(block.cells)} of the {len(block.cells)} runs" in block.caption()


def test_scale_block_reads_a_partial_folder_and_computes_nothing(tmp_path, nothing_runs):
    cells = grids.scale_grid("main")
    present = [c for c in cells if (SCALE / f"{c.experiment.config_hash}.json").exists()][:3]
    for c in present:
        shutil.copy(SCALE / f"{c.experiment.config_hash}.json", tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    block = scale_block("main", results_dir=tmp_path)
    assert len(block.runs) == len(present) and len(block.missing) == len(cells) - len(present)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    table = block.table(knowledge="full")
    assert list(table.AGR) == [paper.AGR_LABELS[a] for a in paper.EXISTING_AGRS]
    assert (table.drop(columns="AGR") == tables.NOT_YET).sum().sum() >= table.drop(columns="AGR").size - len(present)


def test_late_section_counts_what_the_papers_metric_hides(nothing_runs):
    # The main block has late collapses: the sentence, a numbered caption and one row per cell that has them,
    # each cell's last-round impact beside the paper's metric.
    block = scale_block("main")
    late = tables.late_collapses(block.runs)
    page = Captions()
    page.table("the page's first", label="first")
    parts = block.late_section(["aggregator", "attack", "knowledge"], captions=page)
    if not len(late):
        assert len(parts) == 1 and "None of the" in parts[0].data
        assert page.table("the next").data.startswith("**Table 2.**"), "a table not shown took a number"
        return
    text, caption, cells = parts
    assert f"{len(late)} of the {int((block.runs.attack != 'none').sum())} committed attacked runs" in text.data
    assert caption.data.startswith("**Table 2.** Cells with a run that ends more than")
    assert page.table("the next").data.startswith("**Table 3.**")
    assert len(cells.data) == len(late[["aggregator", "attack", "knowledge"]].drop_duplicates())


def _runs_of(cells, accuracy, final=None):
    rows = [{**c.labels, "seed": c.seed, "test_accuracy": accuracy(c), "best_round": 40,
             "final_accuracy": (final or accuracy)(c)} for c in cells]
    return pd.DataFrame(rows)


def test_knowledge_twins_need_every_evaluation_equal_in_two_seeds_and_explain_only_what_the_records_show():
    def runs(evaluations, kept=0.0, seeds=(0, 0, 1, 1)):
        knowledge = ["full", "partial"] * (len(seeds) // 2)
        return pd.DataFrame({"aggregator": "dnc", "attack": "fang", "knowledge": knowledge,
                             "seed": list(seeds), "test_accuracy": 93.0, "best_round": 90, "final_accuracy": 93.0,
                             "evaluations": evaluations, "malicious_kept_rounds": kept})

    [twin] = knowledge_twins(runs(["a", "a", "b", "b"]))
    assert "DnC under Fang: full and partial knowledge" in twin and "kept none of the crafted updates" in twin
    # Equal accuracies are not enough: one evaluation apart, and the cells are not twins.
    assert knowledge_twins(runs(["a", "a", "b", "c"])) == []
    assert knowledge_twins(runs(["a", "a"], seeds=(0, 0))) == []  # one seed: a coincidence is too likely
    [kept] = knowledge_twins(runs(["a", "a", "b", "b"], kept=[0.0, 0.0, 3.0, 0.0]))
    assert "kept none" not in kept  # the explanation only where every round of every run records it
    [unknown] = knowledge_twins(runs(["a", "a", "b", "b"], kept=float("nan")))
    assert "kept none" not in unknown


def test_twin_cells_name_attacks_that_agree_in_every_seed_and_only_those():
    # Median under AGR-tailored and Min-Max: the same best-round accuracy per seed, different last rounds; every
    # other pair differs in some seed, or has a single seed.
    cells = [c for c in grids.scale_grid("cross_device") if c.labels["knowledge"] == "full"]

    def accuracy(c):
        attack = "min_max" if (c.labels["aggregator"], c.labels["attack"]) == ("median", "tailored") else \
            c.labels["attack"]
        return 50.0 + ATTACKS.index(attack) + c.seed

    def final(c):
        return 30.0 + ATTACKS.index(c.labels["attack"])

    ATTACKS = sorted({c.labels["attack"] for c in cells})
    block = ScaleBlock("cross_device", cells, _runs_of(cells, accuracy, final), [])
    twins = block.twin_cells()
    assert len(twins) == 1, twins
    assert twins[0].startswith("**Twin cells — Median, full knowledge: AGR-tailored and Min-Max**")
    assert "(52.0, 53.0, 54.0 %; round 40 in all)" in twins[0] and "differ (34.0, 34.0, 34.0 % against 32.0" in twins[0]
    assert "reads only the middle values of each coordinate" in twins[0]
    same_end = ScaleBlock("cross_device", cells, _runs_of(cells, accuracy), []).twin_cells()
    assert "Not a copy" not in same_end[0] and "Their last rounds agree as well (52.0, 53.0, 54.0 %)." in same_end[0]
    lie_fang = ScaleBlock("cross_device", cells, _runs_of(cells, lambda c: 50.0 + c.seed * (
        c.labels["attack"] not in ("lie", "fang") or c.labels["aggregator"] != "median")), []).twin_cells()
    median_pair = [t for t in lie_fang if t.startswith("**Twin cells — Median, full knowledge: Fang and LIE")]
    assert median_pair and "middle values" not in median_pair[0], "the γ explanation is for γ searches only"
    one_seed = [c for c in cells if c.seed == 0]
    assert ScaleBlock("cross_device", one_seed, _runs_of(one_seed, accuracy), []).twin_cells() == []


def test_quick_notebooks_cannot_recompute_a_scale_cell(tmp_path, nothing_runs):
    # A quick-profile Context computes what is missing; handed scale cells it would recompute full-size runs
    # (into the quick cache): it refuses them before anything runs.
    with pytest.raises(ConfigError, match="expected cells of the 'quick' profile"):
        Context("quick", results_dir=tmp_path).collect(grids.scale_grid("main")[:1])
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("stem,block", sorted(RESULTS_PAGES.items()))
def test_results_pages_lead_with_their_scale_block(stem, block):
    # The page shows its full-size table first (before the quick grid is collected) and reads it only
    # through scale_block, which never runs anything.
    source = (ROOT / "notebooks" / f"{stem}.py").read_text(encoding="utf-8")
    first_scale = source.find(f'scale_block("{block}"')
    assert first_scale != -1, f"{stem}.py does not read scale block {block!r}"
    assert first_scale < source.find("ctx.collect("), f"{stem}.py collects its quick grid before its scale block"
    assert source.find("## Full size") < source.find("## Quick profile"), stem
    assert "committed(\"scale\"" not in source and "run_missing=True" not in source, stem
