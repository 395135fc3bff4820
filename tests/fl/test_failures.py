"""Bad input everywhere: every public entry point fails with a fedlib.errors class whose message names the
field, what is allowed and what was found. Aggregators and attacks are exercised through their public
contracts (``aggregate(name, ...)``, ``craft(name, ...)``) for every registered name.

Also: non-finite malicious updates under both ``nonfinite`` policies, end to end through the FedSGD loop.
"""

from __future__ import annotations

import re

import pytest
import torch

import fedlib.aggregators as agg
import fedlib.attacks as atk
from fedlib import data
from fedlib.errors import (
    ConfigError,
    DatasetNotFoundError,
    FedlibError,
    InputError,
    InputTypeError,
    NonFiniteError,
    UnknownNameError,
)
from fedlib.experiments import Experiment, experiment_for, run

AGGREGATORS = agg.names()
ATTACKS = atk.names()
N, D = 12, 5


def score_fn(vector):
    """Fang's validation callback, stand-in: loss = |v|_1, error = 0."""
    return float(vector.abs().sum()), 0.0


NEEDS = {"fang_defense": {"score_fn": score_fn}}  # rule options without which the rule cannot run at all
ATTACK_NEEDS = {"lie": {"n_total": N + 2}}  # LIE's z depends on the number of clients in the round


def rows(dtype=torch.float64, n=N, d=D, seed=0):
    return torch.randn(n, d, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def aggregate(name, updates, f=2, **kw):
    return agg.aggregate(name, updates, f, **{**NEEDS.get(name, {}), **kw})


def craft(name, benign, n_malicious=2, **kw):
    kw.setdefault("aggregator", "trimmed_mean")
    kw.setdefault("f", 2)
    kw.setdefault("generator", torch.Generator().manual_seed(0))
    return atk.craft(name, benign, n_malicious, **{**ATTACK_NEEDS.get(name, {}), **kw})


def says(err: pytest.ExceptionInfo, *needles: str) -> None:
    """The message contains every needle (the field, the allowed values, the value found)."""
    message = str(err.value)
    for needle in needles:
        assert needle in message, f"{needle!r} not in message: {message}"


# ---------------------------------------------------------------------------------------------- aggregators
@pytest.mark.parametrize("name", AGGREGATORS)
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_aggregators_reject_non_finite_rows_naming_them(name, bad):
    x = rows()
    x[3, 1] = bad
    x[7, 0] = bad
    with pytest.raises(NonFiniteError) as err:
        aggregate(name, x)
    says(err, "finite", "[3, 7]", "nonfinite='drop'")


def test_aggregate_checks_rules_that_do_not_declare_their_own_check():
    # Built-in rules check inside (one pass); a user rule registered without checks_finite=True gets
    # aggregate's check before it runs.
    from fedlib.aggregators import _base, register

    calls = []

    @register("test_unchecked_rule")
    def _unchecked(updates, f, *, variant="textbook"):
        calls.append(1)
        return _base.Aggregate(updates.sum(dim=0))

    calls.clear()  # registration probed it once, on finite rows
    try:
        x = rows()
        x[2, 0] = float("nan")
        with pytest.raises(NonFiniteError) as err:
            aggregate("test_unchecked_rule", x)
        says(err, "finite", "[2]")
        assert not calls, "the rule ran on non-finite input"
    finally:
        del _base._REGISTRY["test_unchecked_rule"]
        del _base._CHECKS_FINITE["test_unchecked_rule"]


def test_mean_of_finite_rows_whose_sum_overflows_is_not_called_non_finite():
    x = torch.full((4, 3), 3e38, dtype=torch.float32)  # every entry finite, column sums overflow
    assert torch.isinf(aggregate("mean", x, f=0).vector).all()


@pytest.mark.parametrize("name", AGGREGATORS)
def test_aggregators_drop_policy_removes_and_reports_the_rows(name):
    x = rows(n=16)
    x[[0, 5]] = float("nan")
    out = aggregate(name, x, nonfinite="drop")
    assert out.dropped.tolist() == [0, 5]
    assert torch.isfinite(out.vector).all() and out.vector.dtype == x.dtype
    if out.selected is not None:
        assert not set(out.selected.tolist()) & {0, 5}
    clean = aggregate(name, x[[i for i in range(16) if i not in (0, 5)]])
    if name not in ("dnc",):  # DnC draws random coordinates: same seed, other n → other draw
        torch.testing.assert_close(out.vector, clean.vector)


@pytest.mark.parametrize("name", AGGREGATORS)
@pytest.mark.parametrize("updates, error, needles", [
    (torch.empty(0, D, dtype=torch.float64), InputError, ["at least 1 row", "found 0"]),
    (torch.empty(N, 0, dtype=torch.float64), InputError, ["at least one column", f"({N}, 0)"]),
    (torch.ones(N, dtype=torch.float64), InputError, ["2-D (n, d)", f"({N},)"]),
    (torch.ones(2, N, D, dtype=torch.float64), InputError, ["2-D (n, d)", f"(2, {N}, {D})"]),
    (torch.ones(N, D, dtype=torch.int64), InputTypeError, ["float32 or float64", "torch.int64"]),
    (torch.ones(N, D, dtype=torch.bool), InputTypeError, ["float32 or float64", "torch.bool"]),
    (torch.ones(N, D, dtype=torch.float16), InputTypeError, ["float32 or float64", "torch.float16"]),
    (torch.ones(N, D, dtype=torch.bfloat16), InputTypeError, ["float32 or float64", "torch.bfloat16"]),
    (torch.ones(N, D, dtype=torch.complex64), InputTypeError, ["float32 or float64", "torch.complex64"]),
    ([[1.0, 2.0], [3.0, 4.0]], InputTypeError, ["torch.Tensor", "found list"]),
    (None, InputTypeError, ["torch.Tensor", "found NoneType"]),
])
def test_aggregators_reject_bad_tensors(name, updates, error, needles):
    with pytest.raises(error) as err:
        aggregate(name, updates)
    says(err, "updates", *needles)


@pytest.mark.parametrize("name", AGGREGATORS)
@pytest.mark.parametrize("f, error, needles", [
    (-1, ConfigError, ["f must be >= 0", "found -1"]),
    (1.5, InputTypeError, ["f must be an int", "1.5"]),
    ("2", InputTypeError, ["f must be an int", "'2'"]),
    (True, InputTypeError, ["f must be an int", "True"]),
    (None, InputTypeError, ["f must be an int", "None"]),
])
def test_aggregators_reject_bad_f(name, f, error, needles):
    with pytest.raises(error) as err:
        aggregate(name, rows(), f)
    says(err, *needles)


@pytest.mark.parametrize("name", AGGREGATORS)
def test_f_too_large_for_the_rule(name):
    with pytest.raises(ConfigError) as err:
        aggregate(name, rows(n=6), 6)
    message = str(err.value)
    assert re.search(r"\bf\b", message) and "n=6" in message and "6" in message.replace("n=6", ""), message


@pytest.mark.parametrize("name, n, f, formula", [
    ("krum", 6, 2, "2f+3"), ("multi_krum", 6, 2, "2f+3"), ("bulyan", 10, 2, "4f+3"), ("trimmed_mean", 4, 2, "2f+1"),
])
def test_size_requirements_state_the_formula(name, n, f, formula):
    with pytest.raises(ConfigError) as err:
        aggregate(name, rows(n=n), f)
    says(err, name, formula, f"n={n}", f"f={f}")


@pytest.mark.parametrize("name", AGGREGATORS)
def test_aggregators_reject_unknown_options_variants_and_policies(name):
    with pytest.raises(ConfigError) as err:
        aggregate(name, rows(), bogus_option=1)
    says(err, name, "bogus_option", "accepts")
    with pytest.raises(UnknownNameError) as err:
        aggregate(name, rows(), variant="paper")
    says(err, "variant", "'paper'", "'textbook'", "'ndss21'")
    with pytest.raises(UnknownNameError) as err:
        aggregate(name, rows(), nonfinite="ignore")
    says(err, "nonfinite", "'ignore'", "'raise'", "'drop'")


@pytest.mark.parametrize("bad, hint", [("krun", "krum"), ("Median", "median"), ("", None), (3, None)])
def test_unknown_aggregator_name(bad, hint):
    with pytest.raises(UnknownNameError) as err:
        agg.aggregate(bad, rows(), 1)
    says(err, "aggregation rule", repr(bad), *[repr(n) for n in AGGREGATORS])
    if hint:
        says(err, f"Did you mean {hint!r}")


# ---------------------------------------------------------------------------------------------------- attacks
@pytest.mark.parametrize("name", ATTACKS)
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_attacks_reject_non_finite_benign_updates(name, bad):
    x = rows()
    x[4, 2] = bad
    with pytest.raises(NonFiniteError) as err:
        craft(name, x)
    says(err, "benign", "[4]")


@pytest.mark.parametrize("name", ATTACKS)
@pytest.mark.parametrize("benign, error, needles", [
    (torch.empty(0, D, dtype=torch.float64), InputError, ["at least 1 row", "found 0"]),
    (torch.empty(N, 0, dtype=torch.float64), InputError, ["at least one column"]),
    (torch.ones(D, dtype=torch.float64), InputError, ["2-D (n, d)", f"({D},)"]),
    (torch.ones(N, D, dtype=torch.int32), InputTypeError, ["float32 or float64", "torch.int32"]),
    (torch.ones(N, D, dtype=torch.float16), InputTypeError, ["float32 or float64", "torch.float16"]),
    ((1.0, 2.0), InputTypeError, ["torch.Tensor", "found tuple"]),
])
def test_attacks_reject_bad_tensors(name, benign, error, needles):
    with pytest.raises(error) as err:
        craft(name, benign)
    says(err, "benign", *needles)


@pytest.mark.parametrize("name", ATTACKS)
@pytest.mark.parametrize("m, error, needles", [
    (0, ConfigError, ["n_malicious must be >= 1", "found 0"]),
    (-3, ConfigError, ["n_malicious must be >= 1", "found -3"]),
    (2.0, InputTypeError, ["n_malicious must be an int", "2.0"]),
])
def test_attacks_reject_bad_n_malicious(name, m, error, needles):
    with pytest.raises(error) as err:
        craft(name, rows(), m)
    says(err, *needles)


@pytest.mark.parametrize("name", ATTACKS)
def test_attacks_reject_unknown_knowledge_variant_and_options(name):
    with pytest.raises(UnknownNameError) as err:
        craft(name, rows(), knowledge="some")
    says(err, "knowledge", "'some'", "'full'", "'partial'")
    with pytest.raises(UnknownNameError) as err:
        craft(name, rows(), variant="paper")
    says(err, "variant", "'paper'", "'textbook'")
    with pytest.raises(ConfigError) as err:
        craft(name, rows(), bogus_option=1)
    says(err, "bogus_option")


@pytest.mark.parametrize("bad, hint", [("min-max", "min_max"), ("LIE", None), (None, None)])
def test_unknown_attack_name(bad, hint):
    with pytest.raises(UnknownNameError) as err:
        atk.craft(bad, rows(), 2)
    says(err, "attack", repr(bad), *[repr(n) for n in ATTACKS])
    if hint:
        says(err, f"Did you mean {hint!r}")


@pytest.mark.parametrize("name", ATTACKS)
@pytest.mark.parametrize("setting, value, needle", [
    ("perturbation", "random", "'random'"),
    ("search", "binary", "'binary'"),
    ("tau", "small", "'small'"),
    ("aggregator", "krumm", "'krumm'"),
])
def test_attack_settings_are_validated(name, setting, value, needle):
    try:
        craft(name, rows(), **{setting: value})
    except FedlibError as err:
        assert setting in str(err) or needle in str(err), str(err)
        return
    pytest.fail(f"craft({name!r}) accepted {setting}={value!r}")


# --------------------------------------------------------------------------------------- Experiment configs
@pytest.mark.parametrize("overrides, needles", [
    ({"n_malicous": 3}, ["unknown Experiment field(s) ['n_malicous']", "'n_malicious'"]),
    ({"aggregator": "krumm"}, ["Experiment.aggregator", "'krum'", "found 'krumm'"]),
    ({"attack": "minmax"}, ["Experiment.attack", "'min_max'", "found 'minmax'"]),
    ({"knowledge": "half"}, ["Experiment.knowledge", "'partial'", "found 'half'"]),
    ({"nonfinite": "ignore"}, ["Experiment.nonfinite", "'drop'", "found 'ignore'"]),
    ({"n_malicious": 20}, ["Experiment.n_malicious", "n_clients - 1 = 19", "found 20"]),
    ({"n_malicious": 25}, ["Experiment.n_malicious", "found 25"]),
    ({"n_malicious": -1}, ["Experiment.n_malicious", ">= 0", "found -1"]),
    ({"attack": "lie", "n_malicious": 0}, ["Experiment.n_malicious", ">= 1 with attack='lie'", "found 0"]),
    ({"rounds": 0}, ["Experiment.rounds", ">= 1", "found 0"]),
    ({"rounds": 2.5}, ["Experiment.rounds", "found 2.5"]),
    ({"lr": -0.1}, ["Experiment.lr", "> 0", "found -0.1"]),
    ({"dtype": "float16"}, ["Experiment.dtype", "'float32'", "found 'float16'"]),
    ({"device": "tpu"}, ["Experiment.device", "'cuda'", "found 'tpu'"]),
    ({"partition": "writer"}, ["Experiment.partition", "'iid'", "found 'writer'"]),
    ({"model": "purchase_fc"}, ["purchase_fc", "(600,)", "mnist5k"]),
    ({"sampling": "with_replacement"}, ["Experiment.clients_per_round", "found None"]),
    ({"aggregator_options": [1]}, ["Experiment.aggregator_options", "found [1]"]),
])
def test_experiment_configs_fail_naming_field_allowed_and_found(overrides, needles):
    with pytest.raises(ConfigError) as err:
        experiment_for("quick", **overrides)
    says(err, *needles)


@pytest.mark.parametrize("args, needles", [
    (("quik",), ["profile", "'quick'", "found 'quik'"]),
    (("quick", "cifar10"), ["'quick'", "['mnist5k']", "found 'cifar10'"]),
])
def test_profiles_fail_loudly(args, needles):
    with pytest.raises(ConfigError) as err:
        experiment_for(*args)
    says(err, *needles)


def test_from_dict_rejects_non_mappings_and_unknown_keys():
    with pytest.raises(ConfigError, match="must be a dict; found list"):
        Experiment.from_dict([("dataset", "mnist5k")])
    with pytest.raises(ConfigError, match=r"unknown Experiment field\(s\) \['seeds'\]"):
        Experiment.from_dict({**experiment_for("quick").to_dict(), "seeds": [0]})


def fails_before_training(experiment_kwargs, error=ConfigError):
    """Building the experiment, or else running it, raises ``error`` before any round completes."""
    rounds = []
    with pytest.raises(error) as err:
        exp = experiment_for("quick", rounds=1, **experiment_kwargs)
        from fedlib.fl import train

        train(exp, on_round=rounds.append)
    assert rounds == []
    return err


@pytest.mark.parametrize("aggregator, m, formula", [("bulyan", 5, "4f+3"), ("krum", 9, "2f+3"),
                                                     ("trimmed_mean", 10, "2f+1")])
def test_f_too_large_for_the_aggregator_in_an_experiment(aggregator, m, formula):
    err = fails_before_training({"aggregator": aggregator, "n_malicious": m, "attack": "lie"})
    says(err, aggregator, formula, f"f={m}")


def test_missing_dataset_says_where_the_files_go_and_how_to_get_them(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        exp = experiment_for("full", "mnist", data_root=str(tmp_path), rounds=1)
        run(exp, None)
    says(err, "'mnist'", str(tmp_path), "train-images-idx3-ubyte", "download=True", "Nothing is downloaded")


@pytest.mark.parametrize("name, needles", [
    ("cifar10", ["'cifar10'", "download=True"]),
    ("fashion_mnist", ["'fashion_mnist'", "dataset-fashion-mnist"]),
    ("femnist", ["'femnist'", "LEAF"]),
    ("purchase100", ["'purchase100'", "purchase"]),
])
def test_data_loaders_report_missing_files(tmp_path, name, needles):
    with pytest.raises(DatasetNotFoundError) as err:
        data.load(name, root=tmp_path, split_seed=0, n_clients=10)
    says(err, str(tmp_path), *needles)
    assert isinstance(err.value, FileNotFoundError)  # `except FileNotFoundError` keeps working


@pytest.mark.parametrize("kwargs, error, needles", [
    ({"name": "mnist6k"}, UnknownNameError, ["dataset", "'mnist6k'", "'mnist5k'"]),
    ({"partition": "writer"}, UnknownNameError, ["partition", "'writer'", "'iid'"]),
    ({"split_seed": -1}, ConfigError, ["split_seed", ">= 0", "-1"]),
    ({"split_seed": "0"}, InputTypeError, ["split_seed", "'0'"]),
    ({"dtype": torch.int64}, ConfigError, ["dtype", "torch.int64"]),
    ({"shards": 3}, ConfigError, ["shards"]),
    ({"n_clients": None}, ConfigError, ["n_clients", "None"]),
])
def test_data_loader_arguments(kwargs, error, needles):
    args = {"name": "mnist5k", "split_seed": 0, "n_clients": 10, **kwargs}
    with pytest.raises(error) as err:
        data.load(args.pop("name"), **args)
    says(err, *needles)


def test_corrupt_idx_file_is_an_input_error(tmp_path):
    bad = tmp_path / "train-images-idx3-ubyte"
    bad.write_bytes(b"\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x00\x1c\x00\x00\x00\x1c" + b"\x00" * 100)
    with pytest.raises(InputError, match=re.escape("IDX header promises (2, 28, 28)")):
        data.read_idx(bad)


# ------------------------------------------------------------------------- non-finite malicious updates, end to end
NAN_ATTACK = "test_nonfinite_rows"


@pytest.fixture(scope="module")
def nonfinite_attack():
    """A test-only attack whose malicious updates hold NaN (odd rows) and Inf (even rows)."""
    from fedlib.attacks import _base

    @atk.register(NAN_ATTACK, finite_output=False)
    def _nonfinite(benign, n_malicious, **kwargs):
        out = benign.mean(dim=0, keepdim=True).expand(n_malicious, -1).clone()
        out[0::2, 0] = float("inf")
        out[1::2, -1] = float("nan")
        return atk.Crafted(out)

    yield NAN_ATTACK
    del _base._REGISTRY[NAN_ATTACK]  # the registry has no public unregister; keep other tests' names() clean
    _base._NONFINITE_ALLOWED.discard(NAN_ATTACK)


@pytest.mark.parametrize("aggregator", ["mean", "median", "multi_krum"])
def test_drop_policy_drops_and_logs_nonfinite_malicious_rows(nonfinite_attack, aggregator):
    exp = experiment_for("quick", attack=nonfinite_attack, aggregator=aggregator, nonfinite="drop", rounds=3,
                         eval_every=1)
    result = run(exp, None)
    assert [r["dropped"] for r in result.history["rounds"]] == [exp.n_malicious] * 3
    assert [r["n_rows"] for r in result.history["rounds"]] == [exp.n_clients] * 3
    assert not result.diverged
    for record in result.history["evals"]:
        assert 0 <= record["val_acc"] <= 100 and 0 <= record["test_acc"] <= 100
    assert result.best_val_accuracy > 10  # the benign rows still train the model (chance is 10 %)


def test_raise_policy_stops_the_run_with_a_nonfinite_error_naming_the_rows(nonfinite_attack, tmp_path):
    exp = experiment_for("quick", attack=nonfinite_attack, nonfinite="raise", rounds=2)
    with pytest.raises(NonFiniteError) as err:
        run(exp, tmp_path)
    says(err, "[0, 1, 2, 3]", "nonfinite='drop'")
    assert list(tmp_path.iterdir()) == []  # no result file for a run that did not finish


def test_without_a_policy_choice_a_sweep_records_the_error(nonfinite_attack, tmp_path):
    from fedlib.sweep import run_experiments

    exp = experiment_for("quick", attack=nonfinite_attack, rounds=2)
    assert exp.nonfinite == "raise"  # the default: never silently drop anything
    report = run_experiments([exp], tmp_path, n_workers=0, retries=0, progress=False)
    (failure,) = report.failures
    assert failure.error.startswith("NonFiniteError") and "[0, 1, 2, 3]" in failure.error


# ------------------------------------------------------------------------ overflow inside finite inputs
def test_attack_overflow_raises_instead_of_returning_nan():
    benign = torch.tensor([[1e30], [-2.9e-7]], dtype=torch.float32)
    with pytest.raises(NonFiniteError) as err:
        craft("min_max", benign, 2, search="exact")
    says(err, "min_max", "overflow")


def test_dnc_overflow_raises_input_error():
    with pytest.raises(InputError) as err:
        aggregate("dnc", torch.full((10, 3), 1e308, dtype=torch.float64), 2)
    says(err, "dnc", "overflow")
