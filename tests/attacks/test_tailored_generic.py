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


# ------------------------------------------------------------------- the cheaper evaluations of the search
def _wide_cloud(seed, k=24, d=20_000):
    gen = torch.Generator().manual_seed(seed)
    return (0.3 * torch.randn(k, d, generator=gen) + torch.randn(1, d, generator=gen)).float()


def _rotation(d, seed):
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=DTYPE))
    return q


@pytest.mark.parametrize(("rule", "options"), [
    ("mean", {}),
    ("geometric_median", {}),
    ("centered_clipping", {"center": "mean", "tau": 2.0, "n_iters": 3}),
    ("nnm", {"base": "geometric_median"}),
    ("bucketing", {"base": "centered_clipping", "base_options": {"center": "mean", "tau": 1.5}}),
])
def test_rules_declared_equivariant_move_with_rotations_and_translations(rule, options):
    from fedlib.attacks._utils.generic_probe import equivariant

    assert equivariant(rule, options)
    x, q, shift = cloud(11, k=12, d=6), _rotation(6, 3), torch.arange(6, dtype=DTYPE)
    gen = (lambda: {"generator": torch.Generator().manual_seed(5)}) if rule == "bucketing" else dict
    moved = agg.aggregate(rule, x @ q.T + shift, 2, **options, **gen()).vector
    assert torch.allclose(moved, agg.aggregate(rule, x, 2, **options, **gen()).vector @ q.T + shift, atol=1e-9)


@pytest.mark.parametrize(("rule", "options"), [
    ("trimmed_mean", {}), ("centered_clipping", {}), ("geometric_median", {"init": "median"}), ("nnm", {}),
    ("bucketing", {}), ("dnc", {}), ("nnm", {"base": "centered_clipping"}),
])
def test_coordinate_wise_rules_are_not_declared_equivariant(rule, options):
    from fedlib.attacks._utils.generic_probe import equivariant

    assert not equivariant(rule, options)


def test_one_pass_both_gives_the_two_passes_floats():
    from fedlib.attacks._utils.quadratic import QuadraticDistances

    x = _wide_cloud(1, k=10, d=70_000)
    mean, direction, pairwise, sums = QuadraticDistances.one_pass_both(x, "std")
    m1, p1, pair1 = QuadraticDistances.one_pass(x, "std")
    m2, p2, sums2 = QuadraticDistances.one_pass(x, "std", pairwise=False)
    for a, b in [(mean, m1), (direction, p1), (mean, m2), (pairwise.a, pair1.a), (pairwise.b, pair1.b),
                 (pairwise.benign_sq, pair1.benign_sq), (sums.a, sums2.a), (sums.b, sums2.b)]:
        assert torch.equal(a, b)
    assert pairwise.c == pair1.c == sums2.c


@pytest.mark.parametrize("perturbation", ["std", "sign"])
def test_the_agnostic_candidates_are_min_max_and_min_sum_gamma(perturbation):
    from fedlib.attacks._tailored_generic import agnostic_candidates
    from fedlib.attacks._utils.quadratic import QuadraticDistances

    x = _wide_cloud(2, k=16, d=5_000)
    mean, direction, *models = QuadraticDistances.one_pass_both(x, perturbation)
    candidates = agnostic_candidates(models, x, mean, direction, 1e-5)
    for attack in ("min_max", "min_sum"):
        for search in ("halving", "exact"):
            assert candidates[f"{attack}_{search}"] == atk.craft(attack, x, 3, perturbation=perturbation,
                                                                 search=search).gamma


@pytest.mark.parametrize(("rule", "options", "evaluator"), [
    ("geometric_median", {}, "reduced"),
    ("centered_clipping", {"center": "mean", "tau": 20.0}, "reduced"),
    ("nnm", {}, "mixing"),
    ("nnm", {"base": "median"}, "mixing"),
    ("centered_clipping", {"tau": 20.0}, "rule"),
    ("bucketing", {}, "rule"),
])
def test_wide_rows_the_search_beats_min_max_and_min_sum_on_the_rule(rule, options, evaluator):
    benign, m = _wide_cloud(3), 6
    gen = (lambda: torch.Generator().manual_seed(9)) if rule == "bucketing" else (lambda: None)
    out = atk.craft("tailored", benign, m, aggregator=rule, aggregator_options=options, generator=gen())
    info = out.info
    assert info["evaluator"] == evaluator
    assert (info["sketch_columns"] is None) == (evaluator == "reduced")
    rule_options = {**options, **({"generator": torch.Generator().manual_seed(info["rule_seed"])}
                                  if "rule_seed" in info else {})}

    def on_rule(crafted):
        fresh = {k: (torch.Generator().manual_seed(info["rule_seed"]) if k == "generator" else v)
                 for k, v in rule_options.items()}
        return deviation(rule, crafted, benign, m, **fresh)

    ours = on_rule(out)
    assert ours == pytest.approx(info["deviation_simulated"], rel=1e-4)  # the reduced values: up to rounding
    for attack in ("min_max", "min_sum"):
        other = atk.craft(attack, benign, m, search="halving")
        assert ours >= on_rule(other) * (1 - 1e-6), attack
    if evaluator != "reduced":
        assert info["n_exact"] <= 3  # the search's best, Min-Max's and Min-Sum's γ


@pytest.mark.parametrize(("rule", "options"), [("geometric_median", {}), ("nnm", {}), ("nnm", {"base": "krum"})])
def test_reduced_and_mixing_values_are_the_rules_up_to_rounding(rule, options):
    from fedlib.aggregators._pre import run_base
    from fedlib.attacks._utils.generic_probe import OnRows, evaluator_for
    from fedlib.attacks._utils.quadratic import QuadraticDistances

    benign, m, f = _wide_cloud(4, k=20, d=20_000), 5, 5
    mean, direction, pairwise, _ = QuadraticDistances.one_pass_both(benign, "std")

    def call(rows):
        return agg.aggregate(rule, rows, f, **options).vector

    def base_call(rows):
        return run_base(rule, rows, f, "textbook", options.get("base", "trimmed_mean"), {}, None).vector

    model = evaluator_for(rule, call, base_call, pairwise, benign, mean, direction, n_copies=m, f=f,
                          options=options, needs=agg.needs(rule))
    on_rule = OnRows(call, benign, mean, direction, m, sketchable=False)
    assert model.kind != "rule"
    scale = float(torch.linalg.vector_norm(benign, dim=1).max())  # float32 rows: rounding ~1e-7 of their norm
    for gamma in (0.0, 0.2, 0.7, 1.5, 4.0, 30.0):
        assert model.exact(gamma) == pytest.approx(on_rule.exact(gamma), rel=1e-5, abs=1e-6 * scale), gamma


def test_close_reduced_values_are_settled_on_the_rule(monkeypatch):
    import fedlib.attacks._utils.generic_probe as probe_module

    benign, m = _wide_cloud(5), 6
    honest = probe_module.Reduced.exact

    def flattened(self, gamma):  # a reduction whose values all tie: the rule must decide
        return round(honest(self, gamma), 1)

    monkeypatch.setattr(probe_module.Reduced, "exact", flattened)
    monkeypatch.setattr(probe_module.Reduced, "sketch", flattened)
    out = atk.craft("tailored", benign, m, aggregator="geometric_median")
    assert out.info["rule_checks"] >= 2
    exact = atk.craft("min_max", benign, m)
    assert deviation("geometric_median", out, benign, m) >= deviation("geometric_median", exact, benign, m) * (
        1 - 1e-6)


def wide_only_filter(updates, f, *, variant="textbook"):
    """Test-only rule that is the plain mean on narrow rows (a sketch) and :func:`min_max_filter` on wide ones:
    the sketch then leads the search to a huge γ that the rule filters out."""
    if updates.shape[1] < 10_000:
        return agg.Aggregate(updates.mean(dim=0))
    return min_max_filter(updates, f, variant=variant)


def test_on_wide_rows_min_max_and_min_sum_are_decided_on_the_rule():
    benign, m = _wide_cloud(20).double(), 4
    with agg.registered("test_wide_only_filter", wide_only_filter) as name:
        tailored = atk.craft("tailored", benign, m, aggregator=name)
        assert tailored.info["sketch_columns"] is not None and tailored.info["n_exact"] == 3
        assert tailored.info["best_source"].startswith(("min_max", "min_sum"))
        for attack in ("min_max", "min_sum"):
            other = atk.craft(attack, benign, m, search="halving")
            assert deviation(name, tailored, benign, m) >= deviation(name, other, benign, m) > 0


@pytest.mark.parametrize("rule", ["geometric_median", "nnm", "centered_clipping"])
def test_identical_benign_rows_leave_nothing_to_search(rule):
    benign = torch.full((12, 30), 0.5, dtype=DTYPE)  # ∇p = 0 and every row is μ: γ does not matter
    out = atk.craft("tailored", benign, 3, aggregator=rule)
    assert out.gamma == 0.0 and torch.equal(out.updates, benign[:3])
