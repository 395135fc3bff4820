"""fedlib.evaluate and `python -m fedlib evaluate`: a rule defined here (not in fedlib) gets its report card."""

from __future__ import annotations

import math
import textwrap

import matplotlib
import pandas as pd
import pytest
import torch

import fedlib
import fedlib.aggregators as agg
from fedlib._evaluate import COLUMNS, DEFAULT_ATTACKS
from fedlib.cli import main
from fedlib.errors import ConfigError, UnknownNameError

matplotlib.use("Agg")

TINY = dict(rounds=2, capture_rounds=(0, 1), seeds=[0])


def clipped_mean(updates, f, *, variant="textbook"):
    """Every row scaled down to the median row norm, then averaged."""
    norms = torch.linalg.vector_norm(updates, dim=1, keepdim=True)
    return agg.Aggregate((updates * (norms.median() / norms).clamp(max=1.0)).mean(dim=0))


@pytest.fixture
def rule_module(tmp_path, monkeypatch):
    (tmp_path / "fedlib_eval_rule.py").write_text(
        textwrap.dedent(
            """
            import torch
            from fedlib.aggregators import Aggregate

            def clipped_mean(updates, f, *, variant="textbook"):
                norms = torch.linalg.vector_norm(updates, dim=1, keepdim=True)
                return Aggregate((updates * (norms.median() / norms).clamp(max=1.0)).mean(dim=0))
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return "fedlib_eval_rule:clipped_mean"


def test_report_card_of_a_callable(tmp_path):
    before = agg.names()
    card = fedlib.evaluate(clipped_mean, attacks=["fang", "lie", "tailored", "min_max"], results_dir=tmp_path, **TINY)
    assert list(card.columns) == list(COLUMNS)
    assert card.attack.tolist() == ["none", "fang", "lie", "tailored", "min_max"]
    assert agg.names() == before  # the callable was registered for the call only
    assert card.rule.iloc[0].startswith("clipped_mean_")
    by = card.set_index("attack")
    # Fang's attack has no form for this rule: it is aimed at Trimmed-mean, as in the grids and the benchmark
    assert by.loc["fang", "target"] == "trimmed_mean" and by.loc["tailored", "target"] == card.rule.iloc[0]
    assert by.loc["lie", "target"] == "" and by.loc["none", "target"] == ""
    for attack in ("none", "fang", "lie", "tailored", "min_max"):
        assert by.loc[attack, "reason"] == ""
        assert 0 <= by.loc[attack, "accuracy"] <= 100 and by.loc[attack, "deviation"] >= 0
    # the same captured rounds, the same rule: the generic tailored attack deviates at least as much as Min-Max
    assert by.loc["tailored", "deviation"] >= by.loc["min_max", "deviation"] * (1 - 1e-9)
    assert by.loc["tailored", "deviation"] > by.loc["none", "deviation"]
    assert by.loc["lie", "impact"] == pytest.approx(by.loc["none", "accuracy"] - by.loc["lie", "accuracy"])
    assert math.isnan(by.loc["none", "impact"]) and by.loc["none", "impact_text"] == "–"
    assert (tmp_path / "benign_gradients").is_dir()
    # cached: the second call trains nothing and gives the same card
    again = fedlib.evaluate(clipped_mean, attacks=["fang", "lie", "tailored", "min_max"], results_dir=tmp_path, **TINY)
    pd.testing.assert_frame_equal(card, again)


def test_module_function_and_registered_names(rule_module):
    card = fedlib.evaluate(rule_module, attacks=["tailored", "min_max"], train=False, results_dir=None, **TINY)
    assert card.accuracy.isna().all() and (card.deviation >= 0).all()
    with agg.registered("test_eval_clip", clipped_mean):
        named = fedlib.evaluate("test_eval_clip", attacks=["tailored", "min_max"], train=False, results_dir=None,
                                **TINY)  # fmt: skip
    assert named.rule.iloc[0] == "test_eval_clip"
    assert named.deviation.tolist() == pytest.approx(card.deviation.tolist())


def test_bad_arguments_fail_before_any_work():
    with pytest.raises(UnknownNameError):
        fedlib.evaluate("no_such_rule", train=False)
    with pytest.raises(ConfigError, match="cannot import it"):
        fedlib.evaluate("fedlib_no_such_module:fn", train=False)
    with pytest.raises(UnknownNameError, match="not an attack"):
        fedlib.evaluate("median", attacks=["lies"], train=False)
    with pytest.raises(ConfigError, match="set by evaluate"):
        fedlib.evaluate("median", attack="lie", train=False)
    with pytest.raises(ConfigError, match="not among the card's attacks"):
        fedlib.evaluate("median", attacks=["lie"], attack_options={"tailored": {}}, train=False)


def test_attack_options_reach_the_attack():
    with pytest.raises(ConfigError, match="generic_grid"):
        fedlib.evaluate("nnm", attacks=["tailored"], attack_options={"tailored": {"generic_grid": 1}}, train=False,
                        results_dir=None, **TINY)  # fmt: skip
    card = fedlib.evaluate("nnm", attacks=["tailored"], attack_options={"tailored": {"generic_grid": 3}},
                           train=False, results_dir=None, **TINY)  # fmt: skip
    assert card.set_index("attack").loc["tailored", "deviation"] > 0


def test_cli_prints_the_card_and_writes_csv(rule_module, tmp_path, capsys):
    out = tmp_path / "card.csv"
    code = main(["evaluate", rule_module, "--rounds", "2", "--capture-rounds", "0", "--attacks", "fang", "min_max",
                 "--results-dir", str(tmp_path), "--output", str(out)])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "report card of clipped_mean_" in printed and "min_max" in printed and "trimmed_mean" in printed
    card = pd.read_csv(out)
    assert list(card.columns) == list(COLUMNS) and card.attack.tolist() == ["none", "fang", "min_max"]


def test_figure_helpers_draw_one_card_and_several(tmp_path):
    from fedlib.report.figures import report_card, report_cards

    cards = [
        fedlib.evaluate(rule, attacks=["fang", "min_max"], results_dir=tmp_path, **TINY) for rule in ("median", "nnm")
    ]
    ax = report_card(cards[1])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Fang", "Min-Max"]
    heat = report_cards(cards, value="relative_deviation")
    assert heat.get_ylabel() == "aggregation rule"
    with pytest.raises(ValueError, match="value"):
        report_card(cards[0], value="nonsense")


def test_a_deviation_heat_map_with_one_outlier_switches_to_a_log_colour_scale():
    import matplotlib.pyplot as plt
    import pandas as pd
    from matplotlib.colors import LogNorm

    from fedlib.report.figures import OUTLIER_SPAN, report_cards

    def card(rule, values):
        return pd.DataFrame({"rule": rule, "attack": ["none", "lie", "min_max"], "relative_deviation": values,
                             "profile": "quick", "rounds": 12, "seeds": 1})

    even = report_cards([card("median", [0.02, 0.3, 0.4]), card("nnm", [0.03, 0.2, 0.5])], value="relative_deviation")
    outlier = report_cards([card("median", [0.02, 0.3, 0.4]), card("nnm", [0.03, 0.2, 0.5 * OUTLIER_SPAN * 2])],
                           value="relative_deviation")
    try:
        assert not isinstance(even.collections[0].norm, LogNorm) and "log" not in even.get_title()
        assert isinstance(outlier.collections[0].norm, LogNorm) and "(log colour scale)" in outlier.get_title()
        assert "1 seed)" in even.get_title() and "seed(s)" not in even.get_title()
        cells = [t.get_text() for t in outlier.texts]
        assert "20.00" in cells, "the annotations keep the true values"
    finally:
        plt.close("all")


def test_the_deviation_on_a_rule_that_scores_candidate_models():
    """Fang's defense scores candidate models on the server's validation samples: the card gives it the server's
    scoring at each captured round, as the engine does, and measures the deviation."""
    card = fedlib.evaluate("fang_defense", attacks=["lie", "min_max"], train=False, results_dir=None,
                           capture_rounds=(0,), rounds=2, seeds=[0])  # fmt: skip
    by = card.set_index("attack")
    for attack in ("none", "lie", "min_max"):
        assert by.loc[attack, "reason"] == "" and math.isfinite(by.loc[attack, "deviation"])
    assert by.loc["min_max", "deviation"] > by.loc["none", "deviation"]


@pytest.mark.parametrize("partition", ["iid", "dirichlet"])
def test_a_partition_of_the_scale_profile_is_exactly_the_benchmark_s_cells(partition):
    """evaluate(rule, profile="scale", partition=..., seeds 0-2) plans the benchmark block's own cells (same config
    hashes) for every rule of the board, so a registered rule's committed cells are read, not trained."""
    from fedlib._evaluate import _partition_fields, _plan
    from fedlib.experiments.grids import BENCHMARK_RULES, benchmark_grid

    cells = benchmark_grid([0, 1, 2], partitions=(partition,))
    for rule in BENCHMARK_RULES:
        planned, reasons = _plan(rule, list(DEFAULT_ATTACKS), [0, 1, 2], "scale", None, None, "full",
                                 _partition_fields(partition, {}), {})  # fmt: skip
        assert not any(reasons.values()), reasons
        ours = sorted(e.config_hash for e in planned.values())
        theirs = sorted(c.experiment.config_hash for c in cells if c.experiment.aggregator == rule)
        assert ours == theirs, rule


def test_a_partition_is_checked_before_anything_runs():
    with pytest.raises(ConfigError, match=r"partition: expected None or one of \['iid', 'dirichlet'\]; found 'skewed'"):
        fedlib.evaluate("median", partition="skewed", results_dir=None)
    with pytest.raises(ConfigError, match=r"partition='dirichlet' sets \['partition_alpha'\]"):
        fedlib.evaluate("median", partition="dirichlet", partition_alpha=0.1, results_dir=None)


def test_a_capture_made_for_one_folder_is_stored_in_the_next_one_too(tmp_path):
    """The in-memory cache of captures does not keep a second results folder from getting its file."""
    from fedlib._evaluate import CAPTURES, capture
    from fedlib.experiments import experiment_for

    exp = experiment_for("quick", rounds=2)
    first = capture(exp, (0,), tmp_path / "a")
    second = capture(exp, (0,), tmp_path / "b")
    assert second is first
    names = [sorted(p.name for p in (tmp_path / f / CAPTURES).iterdir()) for f in ("a", "b")]
    assert names[0] == names[1] and len(names[0]) == 1
