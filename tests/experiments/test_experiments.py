"""fedlib.experiments: config validation and hashing, profiles, the results cache and its atomic writes."""

from __future__ import annotations

import json
import pathlib
import re

import pytest

import fedlib.fl as fl
from fedlib.errors import ConfigError, ResultFileError, UnknownNameError
from fedlib.experiments import Experiment, experiment_for, load_result, profile_table, result_path, run


def tiny(**changes) -> Experiment:
    base = dict(dataset="mnist5k", model="mnist_fc", model_options={"hidden": 16}, n_clients=10, n_malicious=2,
                samples_per_client=40, batch_size=20, rounds=3, eval_every=2, device="cpu")
    return Experiment(**{**base, **changes})


# ------------------------------------------------------------------ config
def test_round_trip_and_hash():
    e = tiny(aggregator="median", attack="lie", aggregator_options={}, lr_decay_rounds=[2])
    d = e.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert Experiment.from_dict(d) == e and Experiment.from_dict(d).config_hash == e.config_hash
    assert e.replace(device="cuda:1").config_hash == e.config_hash  # device is not part of the result
    assert e.replace(data_root="/elsewhere").config_hash == e.config_hash
    assert e.replace(lr=1).config_hash == e.replace(lr=1.0).config_hash
    assert e.replace(attack_seed=1).config_hash != e.config_hash
    assert e.replace(aggregator_options={"a": 1}).config_hash != e.config_hash
    assert len({e, e.replace(device="cpu")}) == 1


@pytest.mark.parametrize("changes,field", [
    ({"aggregator": "krumm"}, "aggregator"),
    ({"attack": "lie", "n_malicious": 0}, "n_malicious"),
    ({"n_malicious": 10}, "n_malicious"),
    ({"knowledge": "some"}, "knowledge"),
    ({"sampling": "with_replacement"}, "clients_per_round"),
    ({"sampling": "without_replacement", "clients_per_round": 11}, "clients_per_round"),
    ({"clients_per_round": 5}, "clients_per_round"),
    ({"server_f": "ndss21_femnist"}, "server_f"),
    ({"server_f": -1}, "server_f"),
    ({"rounds": 0}, "rounds"),
    ({"lr": 0}, "lr"),
    ({"partition": "dirichlet"}, "partition_alpha"),
    ({"partition": "writer"}, "partition"),
    ({"dtype": "float16"}, "dtype"),
    ({"device": "gpu"}, "device"),
    ({"model": "alexnet_cifar"}, "model"),
    ({"attack_target": "nope"}, "attack_target"),
    ({"aggregator_options": {"x": object()}}, "JSON"),
])
def test_impossible_settings_name_the_field(changes, field):
    with pytest.raises(ConfigError, match=field):
        tiny(**changes)


def test_unknown_field_raises():
    with pytest.raises(ConfigError, match="unknown Experiment field"):
        Experiment.from_dict({**tiny().to_dict(), "n_client": 3})
    with pytest.raises(ConfigError, match="unknown Experiment field"):
        tiny().replace(round=3)


def test_profiles():
    q = experiment_for("quick", aggregator="median")
    assert (q.dataset, q.model, q.n_clients, q.n_malicious, q.batch_size, q.lr, q.profile) == (
        "mnist5k", "mnist_fc", 20, 4, 50, 0.5, "quick")
    s = experiment_for("scale")
    settings = (s.dataset, s.n_clients, s.samples_per_client, s.batch_size, s.profile)
    assert settings == ("fashion_mnist", 100, 600, 100, "scale")
    c = experiment_for("full", "cifar10")
    assert (c.model, c.n_clients, c.samples_per_client, c.batch_size, c.rounds, c.lr_decay_rounds) == (
        "alexnet_cifar", 50, 1000, 250, 1201, (1000,))
    assert experiment_for("full", "cifar10", model="vgg11_cifar").model == "vgg11_cifar"
    f = experiment_for("full", "femnist", attack="tailored", aggregator="trimmed_mean")
    assert (f.optimiser, f.sampling, f.clients_per_round, f.batch_size, f.gamma_init, f.perturbation) == (
        "adam", "with_replacement", 60, None, 5.0, "sign")
    assert experiment_for("full", "femnist", attack="min_max", aggregator="median").gamma_init == 50.0
    assert set(profile_table()) == {"quick", "scale", "full"}
    with pytest.raises(ConfigError, match="profile"):
        experiment_for("huge")
    with pytest.raises(ConfigError, match="mnist5k"):
        experiment_for("quick", "cifar10")
    with pytest.raises(UnknownNameError):
        experiment_for("quick", aggregator="nope")


# ------------------------------------------------------------------ run and cache
def test_run_writes_valid_json_and_cache_hit(tmp_path, monkeypatch):
    exp = tiny(aggregator="median", attack="min_max")
    first = run(exp, tmp_path)
    path = result_path(exp, tmp_path)
    assert first.path == str(path) and path.exists()
    payload = json.loads(path.read_text())
    for key in ("config", "config_hash", "profile", "best_val_accuracy", "test_accuracy_at_best", "best_round",
                "final_accuracy", "history", "diverged", "diverged_round", "timings", "versions", "device"):
        assert key in payload
    assert payload["config_hash"] == exp.config_hash and payload["profile"] == "custom"
    assert 0 <= payload["best_val_accuracy"] <= 100
    assert [e["round"] for e in payload["history"]["evals"]] == [0, 2, 3]
    assert len(payload["history"]["rounds"]) == 3 and payload["history"]["rounds"][0]["gamma"] is not None
    assert set(payload["versions"]) == {"fedlib", "torch", "python", "cpu", "cpu_capability"}
    assert payload["versions"]["cpu"] and payload["versions"]["cpu_capability"]

    def boom(*a, **k):
        raise AssertionError("cache miss: train() must not run")

    monkeypatch.setattr(fl, "train", boom)
    again = run(exp, tmp_path)
    assert again == first and again.to_dict() == payload
    assert load_result(path).to_dict() == payload
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary files left


def test_same_config_same_result_on_cpu(tmp_path):
    a = run(tiny(attack="lie", aggregator="trimmed_mean"), None)
    b = run(tiny(attack="lie", aggregator="trimmed_mean"), None)
    strip = lambda r: {k: v for k, v in r.to_dict().items() if k != "timings"}  # noqa: E731
    assert strip(a) == strip(b)


def test_interrupted_write_leaves_old_file_or_nothing(tmp_path, monkeypatch):
    import fedlib._io as io_mod

    exp = tiny()
    real_fsync = io_mod.os.fsync

    def die_mid_write(fd):  # the text is in the temporary file but not yet in place: the process "dies"
        raise KeyboardInterrupt

    monkeypatch.setattr(io_mod.os, "fsync", die_mid_write)
    with pytest.raises(KeyboardInterrupt):
        run(exp, tmp_path)
    assert list(tmp_path.iterdir()) == []  # no partial JSON, no temp file

    monkeypatch.setattr(io_mod.os, "fsync", real_fsync)
    good = run(exp, tmp_path)
    before = result_path(exp, tmp_path).read_text()
    monkeypatch.setattr(io_mod.os, "fsync", die_mid_write)
    with pytest.raises(KeyboardInterrupt):
        run(exp, tmp_path, force=True)
    assert result_path(exp, tmp_path).read_text() == before  # the old result is intact
    assert [p.name for p in tmp_path.iterdir()] == [result_path(exp, tmp_path).name]
    assert load_result(good.path).best_val_accuracy == good.best_val_accuracy


def test_corrupt_cache_raises_unless_repair(tmp_path):
    exp = tiny()
    path = result_path(exp, tmp_path)
    good = run(exp, tmp_path)
    text = path.read_text()
    path.write_text(text[: len(text) // 2])  # truncated
    with pytest.raises(ResultFileError, match="repair"):
        run(exp, tmp_path)
    repaired = run(exp, tmp_path, repair=True)
    assert repaired.best_val_accuracy == good.best_val_accuracy and load_result(path)
    # a valid JSON file whose content does not match its hash
    payload = json.loads(path.read_text())
    payload["config"]["rounds"] = 99
    path.write_text(json.dumps(payload))
    with pytest.raises(ResultFileError, match="config_hash"):
        load_result(path)
    payload = json.loads(text)
    del payload["history"]
    path.write_text(json.dumps(payload))
    with pytest.raises(ResultFileError, match="missing"):
        load_result(path)


def test_run_without_cache_and_bad_input(tmp_path):
    r = run(tiny(), None)
    assert r.path is None and r.profile == "custom"
    with pytest.raises(ConfigError):
        run({"dataset": "mnist5k"}, tmp_path)


def test_quick_profile_trains():
    """The quick profile's no-attack FedSGD must actually learn (the brief asks ≥ 85 % test accuracy)."""
    r = run(experiment_for("quick", rounds=60), None)
    assert r.test_accuracy_at_best >= 85.0 and not r.diverged


def test_load_result_rejects_nan_accuracy(tmp_path):
    """json parses NaN tokens; a result holding one was edited or corrupted and must never be read as data."""
    import json

    from fedlib.errors import ResultFileError
    from fedlib.experiments import experiment_for, load_result, run

    result = run(experiment_for("quick", rounds=2, eval_every=1), tmp_path)
    payload = json.loads(pathlib.Path(result.path).read_text())
    payload["best_val_accuracy"] = float("nan")
    with open(result.path, "w") as fh:
        json.dump(payload, fh)
    import pytest

    with pytest.raises(ResultFileError, match="best_val_accuracy must be a finite percentage"):
        load_result(result.path)


@pytest.mark.parametrize("aggregator, n_malicious, needle", [
    ("bulyan", 5, "bulyan with f=5 needs n_clients >= 23"),
    ("multi_krum", 9, "multi_krum with f=9 needs n_clients >= 21"),
    ("trimmed_mean", 10, "trimmed_mean with f=10 needs n_clients >= 21"),
])
def test_impossible_rule_for_the_cohort_is_a_config_error(aggregator, n_malicious, needle):
    from fedlib.errors import ConfigError
    from fedlib.experiments import experiment_for

    with pytest.raises(ConfigError, match=re.escape(needle)):
        experiment_for("quick", aggregator=aggregator, n_malicious=n_malicious)


def test_attack_aimed_at_a_rule_it_has_no_form_for_is_refused_before_round_one():
    from fedlib.errors import ConfigError
    from fedlib.experiments import experiment_for

    with pytest.raises(ConfigError, match=r"aggregator.*'fang' has a form for.*found 'nnm'"):
        experiment_for("quick", aggregator="nnm", attack="fang")
    assert experiment_for("quick", aggregator="nnm", attack="fang", attack_target="trimmed_mean").attack == "fang"
    with pytest.raises(ConfigError, match=r"attack_target.*'fang' has a form for.*found 'mean'"):
        experiment_for("quick", aggregator="median", attack="fang", attack_target="mean")
    # the tailored attack has a generic form for every registered rule (fedlib.attacks.can_target)
    assert experiment_for("quick", aggregator="median", attack="tailored", attack_target="mean").attack == "tailored"


def test_the_old_name_of_fangs_defense_points_to_the_new_one():
    # The defense was the aggregator "fang", the name of Fang's attack too; the attack keeps it.
    with pytest.raises(UnknownNameError, match=r"found 'fang'.*renamed 'fang_defense'"):
        experiment_for("quick", aggregator="fang")
    assert experiment_for("quick", aggregator="fang_defense", attack="fang",
                          attack_target="trimmed_mean").aggregator == "fang_defense"
