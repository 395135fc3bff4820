"""Contracts every rule keeps: ties never broken by row position (Fang's defense), the registered
``min_inputs`` is exactly the smallest n a rule accepts, ``needs`` declares what the caller supplies, and
randomness comes only from an explicit generator, drawn on that generator's device."""

from __future__ import annotations

import pytest
import torch
from scipy.stats import binom

import fedlib.aggregators as agg
from fedlib.errors import ConfigError

NAMES = agg.names()


def validation_score(vector: torch.Tensor):
    v = vector.double()
    return float(((v - 1.0) ** 2).sum()), float((v - 1.0).abs().max())


def tied_score(vector: torch.Tensor):
    """Every leave-one-out aggregate scores the same: all LRR and ERR reductions are 0 (a full tie, as
    ERR gives when a small step changes no validation prediction)."""
    return 1.0, 0.5


def gaussian(n: int, d: int, seed: int, dtype=torch.float64) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# ----------------------------------------------------------------------------------------------- Fang ties


def malicious_share_of_removed(placement: str, generator, *, trials: int, n=20, m=5, f=5, rule="lrr"):
    """Removed rows that are malicious, over ``trials`` rounds of statistically identical rows."""
    data = torch.Generator().manual_seed(2024)
    malicious = set(range(m)) if placement == "first" else set(range(n - m, n))
    hits = total = 0
    for _ in range(trials):
        x = torch.randn(n, 8, generator=data, dtype=torch.float64)  # attackers drawn like the benign rows
        result = agg.fang_defense(x, f, score_fn=tied_score, base="mean", rule=rule, generator=generator)
        removed = result.info["removed"]
        hits += len(malicious & set(removed.tolist()))
        total += removed.numel()
    return hits, total


@pytest.mark.parametrize("placement", ["first", "last"])
@pytest.mark.parametrize("source", ["generator", "content_fallback"])
def test_fang_removes_tied_malicious_rows_at_their_base_rate_wherever_they_sit(placement, source):
    """n = 20, m = 5 malicious (base rate 1/4), f = 5, all scores tied, 200 rounds: 1000 removals. The
    malicious count must lie in the central 99.99 % of Binomial(1000, 1/4) (each round is hypergeometric,
    which varies less, so the bound is conservative). Lowest-index tie-breaking removes 1000 (first) or
    0 (last)."""
    generator = torch.Generator().manual_seed(11) if source == "generator" else None
    hits, total = malicious_share_of_removed(placement, generator, trials=200)
    assert total == 1000
    low, high = binom.ppf(0.00005, total, 0.25), binom.ppf(0.99995, total, 0.25)
    assert low <= hits <= high, f"{hits}/{total} removed rows malicious; expected about {total // 4}"


def test_fang_tie_break_is_recorded_and_reproducible_from_the_seed():
    x = gaussian(12, 4, seed=1)
    runs = [agg.fang_defense(x, 3, score_fn=tied_score, base="mean", rule="union",
                     generator=torch.Generator().manual_seed(5)) for _ in range(2)]
    assert torch.equal(runs[0].info["tie_rank"], runs[1].info["tie_rank"])
    assert sorted(runs[0].info["tie_rank"].tolist()) == list(range(12))
    # all tied: both criteria remove the 3 rows ranked first
    expected = sorted(torch.argsort(runs[0].info["tie_rank"])[:3].tolist())
    assert runs[0].info["removed"].tolist() == expected
    other = agg.fang_defense(x, 3, score_fn=tied_score, base="mean", generator=torch.Generator().manual_seed(6))
    assert not torch.equal(other.info["tie_rank"], runs[0].info["tie_rank"])
    by_int = agg.fang_defense(x, 3, score_fn=tied_score, base="mean", generator=5)  # an int seed: a CPU generator
    assert torch.equal(by_int.info["tie_rank"], runs[0].info["tie_rank"])


def test_fang_content_fallback_is_permutation_equivariant():
    """Without a generator the tie order follows the rows' contents: moving rows moves the result."""
    x = gaussian(15, 6, seed=2)
    perm = torch.randperm(15, generator=torch.Generator().manual_seed(3))
    base = agg.fang_defense(x, 4, score_fn=tied_score, base="mean", rule="lrr")
    moved = agg.fang_defense(x[perm], 4, score_fn=tied_score, base="mean", rule="lrr")
    assert sorted(perm[moved.info["removed"]].tolist()) == base.info["removed"].tolist()


def test_fang_scores_still_decide_before_ties():
    x = gaussian(10, 3, seed=4) * 0.1 + 1.0
    x[7] = 30.0  # the one harmful row: strictly the largest loss reduction
    for seed in range(5):
        result = agg.fang_defense(x, 1, score_fn=validation_score, base="mean", rule="lrr", generator=seed)
        assert result.info["removed"].tolist() == [7]


# ----------------------------------------------------------------------------------------------- min_inputs

OPTIONS = {  # rule -> option sets that change (or might change) the minimum
    "dnc": [{"n_iters": 1}, {"combine": "union", "filter_frac": 1.5}, {"n_iters": 1, "filter_frac": 0.5}],
    "fang_defense": [{}, {"rule": "lrr"}, {"rule": "err", "final_f": 0}, {"base": "krum"},
                     {"base": "bulyan", "rule": "lrr"}, {"base": "median"}, {"base": "multi_krum", "final_f": 1},
                     {"base": "dnc", "base_options": {"n_iters": 1, "filter_frac": 2.0}}],
}
CALL_ONLY = {  # what a call needs besides the options that enter min_inputs
    "dnc": {"generator": 0, "subsample_dim": 3},
    "fang_defense": {"score_fn": validation_score, "generator": 0},
}
MIN_CASES = [(name, variant, f, options) for name in NAMES for variant in ("textbook", "ndss21")
             for f in (0, 1, 2, 3) for options in OPTIONS.get(name, [{}])]


@pytest.mark.parametrize("name, variant, f, options", MIN_CASES,
                         ids=[f"{c[0]}-{c[1]}-f{c[2]}-{i}" for i, c in enumerate(MIN_CASES)])
def test_min_inputs_is_exactly_the_smallest_n_the_rule_accepts(name, variant, f, options):
    need = agg.min_inputs(name, f, variant=variant, **options)
    assert need >= f + 1
    call = {**options, **CALL_ONLY.get(name, {})}
    result = agg.aggregate(name, gaussian(need, 5, seed=need), f, variant=variant, **call)
    assert result.vector.shape == (5,)
    if need - 1 >= 1:
        with pytest.raises(ConfigError, match=f"n={need - 1}"):
            agg.aggregate(name, gaussian(need - 1, 5, seed=need), f, variant=variant, **call)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("variant", ["textbook", "ndss21"])
def test_rules_leave_their_input_unchanged(name, variant):
    # the tailored attack refills one matrix between AFA probes, and callers re-use the rows they pass
    x = gaussian(40, 7, seed=9, dtype=torch.float32)
    x[:6] = x[0] + 3.0  # identical copies, as the attacks send
    before = x.clone()
    call = {**CALL_ONLY.get(name, {})}
    if "generator" in agg.needs(name):
        call.setdefault("generator", 0)
    if "score_fn" in agg.needs(name):
        call.setdefault("score_fn", validation_score)
    agg.aggregate(name, x, 6, variant=variant, **call)
    assert torch.equal(x.view(torch.int32), before.view(torch.int32))


def test_fang_union_minimum_covers_two_f_removals():
    """rule="union" can remove 2f rows; the base must still run on the survivors (issue 12.2d)."""
    f = 3
    union = agg.min_inputs("fang_defense", f, base="trimmed_mean", rule="union")
    single = agg.min_inputs("fang_defense", f, base="trimmed_mean", rule="lrr")
    assert union == agg.min_inputs("trimmed_mean", f) + 2 * f and single == agg.min_inputs("trimmed_mean", f) + f
    # disjoint LRR/ERR picks at n = union: exactly 2f removed and the base still runs
    x = gaussian(union, 3, seed=0)
    # calls: all rows, then without row 0, 1, ...: LRR is largest for rows 0..f-1, ERR for rows f..2f-1
    scores = iter([(10.0, 1.0)] + [(0.0 if i < f else 10.0, 0.0 if f <= i < 2 * f else 1.0) for i in range(union)])

    def score(vector):
        return next(scores)

    result = agg.fang_defense(x, f, score_fn=score, base="trimmed_mean", rule="union", generator=0)
    assert result.info["removed"].tolist() == list(range(2 * f))


def test_min_inputs_follow_ndss21_trimmed_mean_and_options():
    assert agg.min_inputs("trimmed_mean", 0, variant="ndss21") == 1  # n > f for every rule
    assert agg.min_inputs("trimmed_mean", 3, variant="ndss21") == 6
    assert agg.min_inputs("dnc", 4, filter_frac=2.0) == 9
    # the released trimmed mean's NaN at n = 2f cannot be scored: Fang uses the textbook minimum
    ndss21 = agg.min_inputs("fang_defense", 2, variant="ndss21", rule="lrr")
    assert ndss21 == agg.min_inputs("fang_defense", 2, rule="lrr")


# ----------------------------------------------------------------------------------------------- needs


def test_builtin_needs():
    assert {name: sorted(agg.needs(name)) for name in NAMES if agg.needs(name)} == {
        "dnc": ["generator"], "fang_defense": ["generator", "score_fn"], "bucketing": ["generator"]}


def test_user_rule_declares_needs_and_min_inputs(monkeypatch):
    from fedlib.aggregators import _base

    for table in ("_REGISTRY", "_CHECKS_FINITE", "_NEEDS", "_MIN_INPUTS"):  # restored after the test
        monkeypatch.setattr(_base, table, dict(getattr(_base, table)))

    @agg.register("test_noisy_mean", needs=("generator",), min_inputs=lambda f, variant, options: 3 * f + 1)
    def noisy_mean(updates, f, *, variant="textbook", generator=None):
        noise = torch.randn(updates.shape[1], generator=generator, device=generator.device, dtype=updates.dtype)
        return agg.Aggregate(updates.mean(dim=0) + 1e-3 * noise.to(updates.device))

    assert agg.needs("test_noisy_mean") == frozenset({"generator"})
    assert agg.min_inputs("test_noisy_mean", 2) == 7 and agg.min_inputs("mean", 2) == 3
    out = agg.aggregate("test_noisy_mean", gaussian(7, 3, seed=0), 2, generator=torch.Generator().manual_seed(0))
    assert out.vector.shape == (3,)
    with pytest.raises(ValueError, match="unknown needs"):
        agg.register("test_bad_needs", needs=("dataset",))
    with pytest.raises(ConfigError, match="f must be >= 0"):
        agg.min_inputs("test_noisy_mean", -1)


# ----------------------------------------------------------------------------------------------- randomness


def test_random_draws_happen_on_the_generators_device(monkeypatch):
    """DnC and Fang draw with ``device=generator.device`` (a CUDA generator must never meet a CPU draw)."""
    calls = []
    real = torch.randperm

    def spy(n, *args, generator=None, device=None, **kwargs):
        calls.append((generator.device if generator is not None else None, torch.device(device) if device else None))
        return real(n, *args, generator=generator, device=device, **kwargs)

    monkeypatch.setattr(torch, "randperm", spy)
    x = gaussian(12, 40, seed=0)
    agg.dnc(x, 2, subsample_dim=10, n_iters=2, generator=torch.Generator().manual_seed(0))
    agg.fang_defense(x, 2, score_fn=validation_score, base="mean", generator=torch.Generator().manual_seed(0))
    assert len(calls) == 3 and all(gen == dev == torch.device("cpu") for gen, dev in calls)


@pytest.mark.parametrize("name", ["dnc", "fang_defense"])
def test_same_seed_same_result_and_global_seed_irrelevant(name):
    x = gaussian(14, 60, seed=1)
    options = {"score_fn": validation_score, "base": "median"} if name == "fang_defense" else {"subsample_dim": 7}
    torch.manual_seed(1)
    a = agg.aggregate(name, x, 2, generator=torch.Generator().manual_seed(9), **options)
    torch.manual_seed(2)
    b = agg.aggregate(name, x, 2, generator=torch.Generator().manual_seed(9), **options)
    c = agg.aggregate(name, x, 2, generator=9, **options)  # an int seed still works
    assert torch.equal(a.vector, b.vector) and torch.equal(a.vector, c.vector)
    assert a.selected.tolist() == b.selected.tolist() == c.selected.tolist()


def cuda_options(name: str, generator: torch.Generator) -> dict:
    if name == "fang_defense":
        return {"score_fn": validation_score, "generator": generator}
    if name == "dnc":
        return {"generator": generator, "subsample_dim": 50}
    return {}


@pytest.mark.cuda
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("variant", ["textbook", "ndss21"])
def test_every_rule_runs_on_cuda_with_a_cuda_generator(name, variant):
    x = gaussian(23, 300, seed=13, dtype=torch.float32).cuda()
    runs = [agg.aggregate(name, x, 4, variant=variant,
                          **cuda_options(name, torch.Generator(device="cuda").manual_seed(3))) for _ in range(2)]
    for run in runs:
        assert run.vector.device.type == "cuda" and run.vector.dtype == torch.float32
        assert bool(torch.isfinite(run.vector).all())
    assert torch.equal(runs[0].vector, runs[1].vector)  # same seed, same device: same result
    if runs[0].selected is not None:
        assert runs[0].selected.device.type == "cuda"
        assert runs[0].selected.tolist() == runs[1].selected.tolist()


@pytest.mark.cuda
def test_dnc_iteration_accepts_a_cuda_generator():
    x = gaussian(10, 500, seed=3).cuda()
    kept = agg.dnc_iteration(x, 2, subsample_dim=20, generator=torch.Generator(device="cuda").manual_seed(0))
    assert kept.numel() == 8
