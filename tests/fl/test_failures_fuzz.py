"""Hypothesis fuzzing: whatever configs and tensors users pass, only fedlib's own exceptions escape, and no
NaN is ever reported as an accuracy.

Three targets: ``aggregate(name, ...)`` and ``craft(name, ...)`` on arbitrary tensors and arguments;
Experiment construction from arbitrary overrides; and short real runs of arbitrary valid configs (some
diverge on purpose, with huge learning rates), checking every accuracy of the result.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fedlib.aggregators as agg
import fedlib.attacks as atk
from fedlib.errors import FedlibError
from fedlib.experiments import experiment_for, load_result, run

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)

DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.bool]
SPECIAL = [float("nan"), float("inf"), -float("inf"), 0.0, -0.0, 1e-300, 1e30, -1e30]
# Below this magnitude squared distances cannot overflow float32 (3.4e38), so every output must be finite.
MODERATE = 1e15
BAD_SHAPES = [(0, 3), (4, 0), (5,), (0,), (2, 3, 4)]


@st.composite
def matrices(draw, bad: bool):
    """A float32/float64 (n, d) matrix with random values, ties and specials; with ``bad``, a wrong shape or dtype."""
    n, d = draw(st.integers(1, 12)), draw(st.integers(1, 6))
    shape = draw(st.sampled_from(BAD_SHAPES)) if bad and draw(st.booleans()) else (n, d)
    dtype = draw(st.sampled_from(DTYPES)) if bad else draw(st.sampled_from(DTYPES[:2]))
    x = torch.randn(shape, generator=torch.Generator().manual_seed(draw(st.integers(0, 2**16))), dtype=torch.float64)
    x = x * draw(st.sampled_from([1e-6, 1.0, 1e3]))
    if draw(st.booleans()) and x.numel():  # duplicated rows: ties in every distance and order statistic
        x = x.reshape(-1)[:1].expand(shape).clone()
    for _ in range(draw(st.integers(0, 2))):
        if x.numel():
            x.reshape(-1)[draw(st.integers(0, x.numel() - 1))] = draw(st.sampled_from(SPECIAL))
    return x.to(dtype)


def pick(draw, corrupt: set, key: str, good, bad):
    """Draw from ``bad`` if ``key`` was chosen for corruption, else from ``good``."""
    return draw(bad if key in corrupt else good)


def corruptions(keys):
    """Which arguments of a call to corrupt: none (about half the calls), one, or two."""
    return st.one_of(st.just(set()), st.sets(st.sampled_from(keys), min_size=1, max_size=2))


ANY = st.one_of(st.none(), st.integers(-3, 3), st.floats(), st.text(max_size=4), st.just([1]))


def score_fn(vector):
    return float(vector.double().abs().sum()), 0.0


def documented_nan(name, updates, f, variant) -> bool:
    """trimmed_mean, variant='ndss21', n = 2f: the released code averages an empty slice (documented NaN)."""
    return name == "trimmed_mean" and variant == "ndss21" and isinstance(f, int) and updates.shape[0] == 2 * f


@st.composite
def aggregate_calls(draw):
    corrupt = draw(corruptions(["name", "updates", "f", "variant", "nonfinite", "option"]))
    updates = draw(matrices(bad="updates" in corrupt))
    n = updates.shape[0] if updates.dim() else 1
    call = dict(
        name=pick(draw, corrupt, "name", st.sampled_from(agg.names()), st.one_of(st.text(max_size=6), ANY)),
        updates=updates,
        f=pick(draw, corrupt, "f", st.integers(0, max(0, (n - 3) // 4)), st.one_of(st.integers(-2, 30), ANY)),
        variant=pick(draw, corrupt, "variant", st.sampled_from(["textbook", "ndss21"]), ANY),
        nonfinite=pick(draw, corrupt, "nonfinite", st.sampled_from(["raise", "drop"]), ANY),
        options={"bogus": 1} if "option" in corrupt else {},
    )
    if call["name"] == "fang_defense":
        call["options"]["score_fn"] = score_fn
    return call


@FUZZ
@given(call=aggregate_calls())
def test_aggregate_raises_only_fedlib_errors(call):
    name, updates, f, variant = call["name"], call["updates"], call["f"], call["variant"]
    try:
        out = agg.aggregate(name, updates, f, variant=variant, nonfinite=call["nonfinite"], **call["options"])
    except FedlibError:
        return
    assert out.vector.shape == updates.shape[1:] and out.vector.dtype == updates.dtype
    finite_rows = torch.isfinite(updates).all(dim=1)
    if out.dropped is not None:
        assert call["nonfinite"] == "drop" and out.dropped.tolist() == torch.nonzero(~finite_rows).flatten().tolist()
    kept = updates[finite_rows]
    if kept.abs().max() <= MODERATE and not documented_nan(name, kept, f, variant):
        assert torch.isfinite(out.vector).all(), call


# Foreign exceptions known today (reported to the lead): a non-number tau reaches a comparison unchecked.
KNOWN_FOREIGN = {("min_max", "tau"), ("min_sum", "tau"), ("tailored", "tau")}


@st.composite
def craft_calls(draw):
    keys = ["name", "benign", "n_malicious", "aggregator", "f", "knowledge", "perturbation", "search", "tau",
            "gamma_init", "variant"]
    corrupt = draw(corruptions(keys))
    benign = draw(matrices(bad="benign" in corrupt))
    n = benign.shape[0] if benign.dim() else 1
    m = pick(draw, corrupt, "n_malicious", st.integers(1, 4), st.one_of(st.integers(-1, 0), st.just(2.0), ANY))
    call = dict(
        name=pick(draw, corrupt, "name", st.sampled_from(atk.names()), st.one_of(st.text(max_size=6), ANY)),
        benign=benign, n_malicious=m,
        aggregator=pick(draw, corrupt, "aggregator", st.sampled_from(agg.names()), st.one_of(st.text(max_size=4), ANY)),
        f=pick(draw, corrupt, "f", st.integers(0, max(0, (n + 4 - 3) // 4)), st.one_of(st.integers(-1, 30), ANY)),
        knowledge=pick(draw, corrupt, "knowledge", st.sampled_from(["full", "partial"]), ANY),
        perturbation=pick(draw, corrupt, "perturbation", st.sampled_from(["std", "unit_vec", "sign"]), ANY),
        search=pick(draw, corrupt, "search", st.sampled_from(["halving", "exact"]), ANY),
        tau=pick(draw, corrupt, "tau", st.sampled_from([1e-5, 1e-2]), ANY),
        gamma_init=pick(draw, corrupt, "gamma_init", st.one_of(st.none(), st.just(5.0)), ANY),
        variant=pick(draw, corrupt, "variant", st.sampled_from(["textbook", "ndss21"]), ANY),
        corrupt=corrupt,
    )
    return call


@FUZZ
@given(call=craft_calls())
def test_craft_raises_only_fedlib_errors(call):
    call = dict(call)
    corrupt = call.pop("corrupt")
    name, benign, m = call.pop("name"), call.pop("benign"), call.pop("n_malicious")
    options = {"n_total": benign.shape[0] + m} if name == "lie" and isinstance(m, int) and benign.dim() else {}
    try:
        out = atk.craft(name, benign, m, generator=torch.Generator().manual_seed(0), **call, **options)
    except FedlibError:
        return
    except Exception:  # noqa: BLE001
        if any((name, key) in KNOWN_FOREIGN for key in corrupt):
            return  # pinned down by test_failures.py::test_attack_settings_are_validated (xfail, reported)
        raise
    assert out.updates.shape == (m, benign.shape[1]) and out.updates.dtype == benign.dtype
    if benign.abs().max() <= MODERATE:
        assert torch.isfinite(out.updates).all(), (name, call)
        assert out.gamma is None or math.isfinite(out.gamma)


CONFIG_FIELDS = {
    "aggregator": st.one_of(st.sampled_from(agg.names()), st.text(max_size=5)),
    "attack": st.one_of(st.sampled_from(atk.names()), st.text(max_size=5)),
    "n_malicious": st.one_of(st.integers(-2, 25), st.floats(allow_nan=True), st.none()),
    "n_clients": st.one_of(st.integers(-1, 30), st.none(), st.just("20")),
    "rounds": st.one_of(st.integers(-1, 3), st.just(1.0)),
    "lr": st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.just("0.1")),
    "knowledge": st.sampled_from(["full", "partial", "none"]),
    "nonfinite": st.sampled_from(["raise", "drop", "keep"]),
    "sampling": st.sampled_from(["all", "with_replacement", "without_replacement", "some"]),
    "clients_per_round": st.one_of(st.none(), st.integers(-1, 40)),
    "server_f": st.one_of(st.sampled_from(["true", "ndss21_femnist", "x"]), st.integers(-1, 10)),
    "partition": st.sampled_from(["iid", "dirichlet", "writer", "random"]),
    "partition_alpha": st.one_of(st.none(), st.floats(allow_nan=True)),
    "lr_decay_rounds": st.one_of(st.just([]), st.lists(st.integers(-1, 5), max_size=2), st.just("5")),
    "aggregator_options": st.one_of(st.just({}), st.dictionaries(st.text(max_size=3), st.integers(), max_size=1)),
    "attack_options": st.one_of(st.just({}), st.just({1: 2}), st.just({"z": object()})),
    "dtype": st.sampled_from(["float32", "float64", "float16"]),
    "device": st.sampled_from(["cpu", "auto", "gpu", 0]),
    "bogus_field": st.integers(),
}


@FUZZ
@given(overrides=st.fixed_dictionaries({}, optional=CONFIG_FIELDS))
def test_experiment_configs_raise_only_fedlib_errors(overrides):
    try:
        exp = experiment_for("quick", **overrides)
    except FedlibError:
        return
    assert exp.config_hash == type(exp).from_dict(exp.to_dict()).config_hash


def assert_accuracies_are_numbers(result):
    values = [result.best_val_accuracy, result.test_accuracy_at_best, result.final_accuracy]
    values += [e[k] for e in result.history["evals"] for k in ("val_acc", "test_acc")]
    for v in values:
        assert isinstance(v, (int, float)) and math.isfinite(v) and 0 <= v <= 100, values


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@settings(max_examples=8, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(aggregator=st.sampled_from(agg.names()), attack=st.sampled_from(atk.names()),
       knowledge=st.sampled_from(["full", "partial"]), n_malicious=st.integers(1, 5),
       lr=st.sampled_from([0.5, 1e3, 1e8, 1e30]), nonfinite=st.sampled_from(["raise", "drop"]),
       variant=st.sampled_from(["textbook", "ndss21"]), seed=st.integers(0, 3))
def test_short_runs_never_report_nan_accuracy(tmp_path, aggregator, attack, knowledge, n_malicious, lr, nonfinite,
                                              variant, seed):
    try:
        exp = experiment_for("quick", aggregator=aggregator, attack=attack, knowledge=knowledge,
                             n_malicious=n_malicious, lr=lr, nonfinite=nonfinite, variant=variant, rounds=2,
                             eval_every=1).with_seed(seed)
        result = run(exp, tmp_path, force=True)
    except FedlibError:
        return
    assert_accuracies_are_numbers(result)
    assert_accuracies_are_numbers(load_result(result.path))  # and the stored file says the same
    if result.diverged:
        assert result.diverged_reason and result.diverged_round is not None
