"""The generic AGR-tailored attack: any registered rule (a test's own, a plugin's) is a black-box target."""

from __future__ import annotations

import importlib.metadata
import textwrap

import pytest
import torch

import fedlib.aggregators as agg
import fedlib.attacks as atk
from fedlib.aggregators import _base as agg_base
from fedlib.errors import ConfigError

DTYPE = torch.float64


def clipped_mean(updates, f, *, variant="textbook"):
    """A norm-clipped mean: every row scaled down to the median row norm, then averaged (not in fedlib)."""
    norms = torch.linalg.vector_norm(updates, dim=1, keepdim=True)
    radius = norms.median()
    return agg.Aggregate((updates * (radius / norms).clamp(max=1.0)).mean(dim=0))


def noisy_mean(updates, f, *, variant="textbook", generator=None):
    """A rule that draws random numbers: the mean of a random half of the rows."""
    keep = torch.randperm(updates.shape[0], generator=generator)[: updates.shape[0] // 2]
    return agg.Aggregate(updates[keep].mean(dim=0), selected=keep.sort().values)


def cloud(seed, k=16, d=30, offset=0.5):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(k, d, generator=gen, dtype=DTYPE) + offset


def deviation(rule, crafted, benign, f, **options):
    out = agg.aggregate(rule, torch.cat([crafted.updates, benign]), f, **options).vector
    return float(torch.linalg.vector_norm(out - benign.mean(dim=0)))


@pytest.fixture
def clip_rule():
    with agg.registered("test_clipped_mean", clipped_mean) as name:
        yield name


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("perturbation", ["std", "unit_vec", "sign"])
def test_generic_tailored_deviates_at_least_as_much_as_min_max_and_min_sum(clip_rule, seed, perturbation):
    benign, m = cloud(seed, offset=0.2 * seed), 4
    tailored = atk.craft("tailored", benign, m, aggregator=clip_rule, perturbation=perturbation)
    assert tailored.info["form"] == "generic"
    ours = deviation(clip_rule, tailored, benign, m)
    assert ours == pytest.approx(tailored.info["deviation_simulated"], rel=1e-12)
    for attack in ("min_max", "min_sum"):
        for search in ("halving", "exact"):
            other = atk.craft(attack, benign, m, perturbation=perturbation, search=search)
            assert ours >= deviation(clip_rule, other, benign, m) * (1 - 1e-12), (attack, search)
    assert tailored.info["n_probes"] <= 1 + 4 + 13 + 16 + 2 + 8  # the grid continued up to 2^20·s at most


@pytest.mark.parametrize("seed", range(5))
def test_textbook_search_not_worse_than_algorithm_1_hill_climb(clip_rule, seed):
    # The rule ignores `variant`, so variant="ndss21" runs the released hill-climb on the same objective.
    benign, m = cloud(100 + seed), 4
    textbook = atk.craft("tailored", benign, m, aggregator=clip_rule)
    released = atk.craft("tailored", benign, m, aggregator=clip_rule, variant="ndss21")
    assert deviation(clip_rule, textbook, benign, m) >= deviation(clip_rule, released, benign, m) * (1 - 1e-12)


def test_generic_search_finds_the_optimum_of_a_dense_scan(clip_rule):
    benign, m = cloud(7), 4
    out = atk.craft("tailored", benign, m, aggregator=clip_rule)
    mean, direction = benign.mean(dim=0), atk.perturbation("std", benign)
    scan = []
    for gamma in torch.logspace(-3, 3, 600, dtype=DTYPE).tolist():
        rows = torch.cat([(mean + gamma * direction).expand(m, -1), benign])
        scan.append(float(torch.linalg.vector_norm(agg.aggregate(clip_rule, rows, m).vector - mean)))
    assert out.info["deviation_simulated"] >= 0.99 * max(scan)


def test_mean_is_unbounded_and_the_search_says_so():
    benign = cloud(1)
    out = atk.craft("tailored", benign, 4, aggregator="mean")
    assert out.info["at_grid_top"] is True and out.gamma == out.info["grid_top"]
    assert 2**19 * out.info["gamma_scale"] < out.gamma <= 2**20 * out.info["gamma_scale"]


@pytest.mark.parametrize("target", ["krum", "multi_krum", "bulyan", "trimmed_mean", "median", "afa", "dnc"])
def test_rules_with_a_dedicated_form_keep_it(target):
    benign = cloud(3, k=40)
    out = atk.craft("tailored", benign, 5, aggregator=target, generator=torch.Generator().manual_seed(0))
    assert out.info["form"] == "dedicated" and "best_source" not in out.info
    assert atk.targets("tailored") == ("krum", "multi_krum", "bulyan", "trimmed_mean", "median", "afa",
                                       "fang_defense", "dnc")  # fmt: skip


def test_newer_rules_are_targets_and_fang_still_is_not():
    from fedlib.experiments import experiment_for

    for rule in ("centered_clipping", "geometric_median", "nnm", "bucketing"):
        assert atk.can_target("tailored", rule)
        assert experiment_for("quick", aggregator=rule, attack="tailored").attack_target is None
        assert not atk.can_target("fang", rule)
    out = atk.craft("tailored", cloud(2), 4, aggregator="bucketing", generator=torch.Generator().manual_seed(1))
    assert out.info["form"] == "generic" and "rule_seed" in out.info


def test_partial_knowledge_simulates_on_the_own_rows(clip_rule):
    own = cloud(4, k=3)
    out = atk.craft("tailored", own, 3, aggregator=clip_rule, knowledge="partial", n_total=20)
    assert out.info["f_simulated"] == 1 and out.info["partial_rule"] == "square"
    assert out.updates.shape == (3, 30)


def test_a_rule_that_draws_random_numbers_gets_the_adversarys_seed():
    with agg.registered("test_noisy_mean", noisy_mean, needs=("generator",)) as name:
        benign = cloud(5)
        with pytest.raises(ConfigError, match="generator"):
            atk.craft("tailored", benign, 4, aggregator=name)
        one = atk.craft("tailored", benign, 4, aggregator=name, generator=torch.Generator().manual_seed(3))
        two = atk.craft("tailored", benign, 4, aggregator=name, generator=torch.Generator().manual_seed(3))
        assert one.gamma == two.gamma and one.info["rule_seed"] == two.info["rule_seed"]


def test_a_rule_that_needs_a_scorer_must_get_it():
    def scored(updates, f, *, variant="textbook", score_fn=None):
        return agg.Aggregate(updates.mean(dim=0))

    with agg.registered("test_scored", scored, needs=("score_fn",)) as name:
        with pytest.raises(ConfigError, match="score_fn"):
            atk.craft("tailored", cloud(6), 4, aggregator=name)


def test_too_few_rows_for_the_rule_is_a_config_error():
    with agg.registered("test_needs_many", clipped_mean, min_inputs=lambda f, v, o: 50) as name:
        with pytest.raises(ConfigError, match="needs n >= 50"):
            atk.craft("tailored", cloud(6), 4, aggregator=name)


def test_registered_rules_do_not_outlive_their_block():
    with agg.registered("test_temporary", clipped_mean):
        assert "test_temporary" in agg.names()
    assert "test_temporary" not in agg.names()
    with pytest.raises(RuntimeError), agg.registered("test_temporary", clipped_mean):
        raise RuntimeError("inside")
    assert "test_temporary" not in agg.names()


# ------------------------------------------------------------------------------------------ entry points
@pytest.fixture
def plugin_module(tmp_path, monkeypatch):
    (tmp_path / "fedlib_test_plugin.py").write_text(
        textwrap.dedent(
            """
            import torch
            from fedlib.aggregators import Aggregate

            def plugin_clip(updates, f, *, variant="textbook"):
                norms = torch.linalg.vector_norm(updates, dim=1, keepdim=True)
                return Aggregate((updates * (norms.median() / norms).clamp(max=1.0)).mean(dim=0))

            not_a_rule = 3
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(agg_base, "_PLUGINS_SCANNED", False)
    monkeypatch.setattr(agg_base, "_PLUGINS_LOADED", set())
    yield "fedlib_test_plugin"
    for name in ("ep_clip", "ep_broken"):
        agg_base._unregister(name)


def _entry_points(monkeypatch, **values):
    group = agg_base.ENTRY_POINT_GROUP
    eps = importlib.metadata.EntryPoints(
        importlib.metadata.EntryPoint(name=name, value=value, group=group) for name, value in values.items()
    )

    def entry_points(group=None):
        return eps if group == agg_base.ENTRY_POINT_GROUP else importlib.metadata.EntryPoints(())

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


def test_entry_point_rules_are_loaded_lazily_and_attacked(plugin_module, monkeypatch):
    _entry_points(monkeypatch, ep_clip=f"{plugin_module}:plugin_clip")
    assert "ep_clip" not in agg_base._REGISTRY
    assert agg.min_inputs("ep_clip", 2) == 3  # get() loads the missing name's plugin
    assert "ep_clip" in agg.names()
    benign = cloud(8)
    out = atk.craft("tailored", benign, 4, aggregator="ep_clip")
    mm = atk.craft("min_max", benign, 4)
    assert out.info["form"] == "generic"
    assert deviation("ep_clip", out, benign, 4) >= deviation("ep_clip", mm, benign, 4)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("fedlib_no_such_module:fn", r"plugin 'ep_broken'.*fedlib_no_such_module.*failed to load"),
        ("fedlib_test_plugin:not_a_rule", r"plugin 'ep_broken'.*expected a rule"),
    ],
)
def test_a_broken_plugin_names_its_entry_point(plugin_module, monkeypatch, value, message):
    _entry_points(monkeypatch, ep_broken=value)
    with pytest.raises(ConfigError, match=message):
        agg.names()
    with pytest.raises(ConfigError, match=message):
        agg.aggregate("ep_broken", cloud(1), 1)


def test_a_plugin_cannot_take_a_built_in_name(plugin_module, monkeypatch):
    _entry_points(monkeypatch, median=f"{plugin_module}:plugin_clip")
    with pytest.raises(ConfigError, match=r"plugin 'median'.*taken by a built-in"):
        agg.names()


def min_max_filter(updates, f, *, variant="textbook"):
    """Test-only rule whose acceptance test is Min-Max's constraint (it knows the last n − f rows are benign):
    the mean of the rows within the benign rows' largest pairwise distance of every benign row. Its
    deviation peaks exactly at Min-Max's exact γ, which no grid hits: only the candidates find it."""
    benign = updates[f:]
    limit = torch.cdist(benign, benign).max()
    keep = torch.cdist(updates, benign).max(dim=1).values <= limit
    return agg.Aggregate(updates[keep].mean(dim=0))


@pytest.mark.parametrize("seed", range(4))
def test_min_maxs_gamma_is_a_candidate_of_the_generic_search(seed):
    benign, m = cloud(200 + seed), 4
    with agg.registered("test_min_max_filter", min_max_filter) as name:
        tailored = atk.craft("tailored", benign, m, aggregator=name)
        exact = atk.craft("min_max", benign, m, search="exact")
        assert deviation(name, tailored, benign, m) >= deviation(name, exact, benign, m)
        assert tailored.info["best_source"].startswith("min_max")
