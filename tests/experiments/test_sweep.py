"""fedlib.sweep: grid expansion, the results store (cache, corrupt files, two writers), retries, resume, CLI.

The Dask paths (worker death, existing scheduler) are in test_sweep_dask.py.
"""

from __future__ import annotations

import json
import threading

import pytest
import yaml

import fedlib.experiments as fx
from fedlib._io import atomic_write_text
from fedlib.errors import ConfigError, FedlibError, InputTypeError, ResultFileError
from fedlib.experiments import ResultsStore, experiment_for, load_result, result_path
from fedlib.sweep import SweepFailedError, expand, load_grid, run_experiments

TINY = {"profile": "quick", "rounds": 2, "eval_every": 1}


def tiny(**overrides):
    return experiment_for("quick", **{"rounds": 2, "eval_every": 1, **overrides})


def same_run(a, b) -> bool:
    """Two results of the same config agree on everything the run computed (timings aside)."""
    return (a.config_hash == b.config_hash and a.history == b.history and a.best_val_accuracy == b.best_val_accuracy
            and a.test_accuracy_at_best == b.test_accuracy_at_best and a.diverged == b.diverged)


# --------------------------------------------------------------------------------------------------- grids
def test_expand_is_the_product_in_file_order():
    exps = expand({"base": TINY, "grid": {"aggregator": ["mean", "median"], "attack": ["none", "lie"],
                                          "seed": [0, 1]}})
    assert len(exps) == 8
    assert [(e.aggregator, e.attack, e.init_seed) for e in exps[:3]] == [
        ("mean", "none", 0), ("mean", "none", 1), ("mean", "lie", 0)]
    assert all(e.rounds == 2 and e.profile == "quick" for e in exps)
    # `seed` sets all four seeds; the configs differ, so do their hashes
    assert {(e.split_seed, e.init_seed, e.sample_seed, e.attack_seed) for e in exps} == {(0, 0, 0, 0), (1, 1, 1, 1)}
    assert len({e.config_hash for e in exps}) == 8


def test_expand_reads_yaml_and_concatenates_blocks(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump({
        "base": {"profile": "quick", "rounds": 3, "aggregator": "median"},
        "grid": [{"attack": ["none"]}, {"attack": ["lie", "min_max"], "knowledge": ["full", "partial"]}],
    }, sort_keys=False))
    exps = expand(path)
    assert [(e.attack, e.knowledge) for e in exps] == [
        ("none", "full"), ("lie", "full"), ("lie", "partial"), ("min_max", "full"), ("min_max", "partial")]
    assert all(e.aggregator == "median" and e.rounds == 3 for e in exps)
    assert expand(str(path)) == exps == expand(load_grid(path))


def test_grid_values_override_base_and_profile_defaults():
    exps = expand({"base": {"profile": "quick", "rounds": 5}, "grid": {"rounds": [1, 2]}})
    assert [e.rounds for e in exps] == [1, 2]
    assert exps[0].n_clients == experiment_for("quick").n_clients  # untouched fields keep the profile's value


@pytest.mark.parametrize("grid, field", [
    ({"base": TINY, "grid": {"seed": [0]}, "seeds": [1]}, "'seeds'"),
    ({"base": {**TINY, "agregator": "mean"}, "grid": {"seed": [0]}}, "'agregator'"),
    ({"base": TINY, "grid": {"attak": ["lie"]}}, "'attak'"),
    ({"base": TINY, "grid": [{"seed": [0]}, {"n_malicous": [1]}]}, "'n_malicous'"),
])
def test_unknown_keys_raise_naming_the_key_and_the_allowed_ones(grid, field):
    with pytest.raises(ConfigError) as err:
        expand(grid)
    message = str(err.value)
    assert field in message and "allowed keys" in message
    assert ("'base'" in message and "'grid'" in message) if field == "'seeds'" else "'aggregator'" in message


def test_typo_gets_a_suggestion():
    with pytest.raises(ConfigError, match="Did you mean 'attack'"):
        expand({"base": TINY, "grid": {"attak": ["lie"]}})


@pytest.mark.parametrize("grid, needle", [
    ({"base": TINY, "grid": {"seed": 0}}, r"grid\.seed: expected a non-empty list.*found 0"),
    ({"base": TINY, "grid": {"seed": []}}, r"grid\.seed: expected a non-empty list.*found \[\]"),
    ({"base": TINY}, "missing key 'grid'"),
    ({"base": TINY, "grid": []}, "non-empty list"),
    ({"base": [1], "grid": {"seed": [0]}}, "base: expected a mapping"),
    ({"base": TINY, "grid": {"seed": [0], "init_seed": [1]}}, "`seed` sets"),
    (
        {"base": TINY, "grid": {"aggregator": ["krumm"]}},
        r"Experiment\.aggregator: expected one of .*'krum'.*found 'krumm'",
    ),
    ({"base": {**TINY, "n_malicious": 20}, "grid": {"seed": [0]}}, r"Experiment\.n_malicious: .*found 20"),
    ({"base": {**TINY, "profile": "quik"}, "grid": {"seed": [0]}}, r"profile: expected one of .*found 'quik'"),
])
def test_bad_grids_raise_config_errors(grid, needle):
    with pytest.raises(ConfigError, match=needle):
        expand(grid)


def test_bad_grid_files(tmp_path):
    with pytest.raises(ConfigError, match="expected an existing YAML file"):
        expand(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: {profile: quick\ngrid: [")
    with pytest.raises(ConfigError, match="valid YAML"):
        expand(bad)
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        expand(bad)
    with pytest.raises(InputTypeError):
        expand(42)


# --------------------------------------------------------------------------------------------- serial runs
def test_serial_sweep_runs_caches_and_keeps_input_order(tmp_path):
    a, b = tiny(aggregator="mean"), tiny(aggregator="median")
    report = run_experiments([b, a, b], tmp_path, n_workers=0, progress=False)
    assert report.ok and report.n_ran == 2 and report.n_cached == 0
    assert [r.config_hash for r in report.results] == [b.config_hash, a.config_hash, b.config_hash]
    for e, r in zip([b, a, b], report.results, strict=True):
        assert same_run(r, load_result(result_path(e, tmp_path)))
    again = run_experiments([a, b], tmp_path, n_workers=0, progress=False)
    assert again.n_cached == 2 and again.n_ran == 0 and again.attempts == {}
    assert all(same_run(x, y) for x, y in zip(again.results, report.results[1:], strict=True))


def test_same_config_same_result_in_a_fresh_directory(tmp_path):
    e = tiny(attack="lie", aggregator="trimmed_mean")
    r1 = run_experiments([e], tmp_path / "one", n_workers=0, progress=False).results[0]
    r2 = run_experiments([e], tmp_path / "two", n_workers=0, progress=False).results[0]
    assert same_run(r1, r2)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong_config", "nan_accuracy"])
def test_corrupt_result_is_reported_moved_aside_and_rerun(tmp_path, damage):
    e, other = tiny(), tiny(aggregator="median")
    good = run_experiments([e, other], tmp_path, n_workers=0, progress=False).results[0]
    path = result_path(e, tmp_path)
    text = path.read_text()
    if damage == "truncate":
        path.write_text(text[: len(text) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x80\x81 not json")
    elif damage == "wrong_config":  # a valid result of another config saved under this hash
        path.write_text(result_path(other, tmp_path).read_text())
    else:  # json.load accepts NaN: a NaN accuracy must not be read as data
        payload = json.loads(text)
        payload["best_val_accuracy"] = float("nan")
        path.write_text(json.dumps(payload))
    report = run_experiments([e], tmp_path, n_workers=0, progress=False)
    assert report.n_cached == 0 and report.n_ran == 1 and len(report.corrupt) == 1
    assert str(path) in report.corrupt[0]
    assert (tmp_path / (path.name + ".corrupt")).exists()  # kept for inspection, never read
    assert same_run(report.results[0], good)
    assert same_run(load_result(path), good)


def test_failures_are_retried_then_recorded_and_do_not_stop_the_others(tmp_path, monkeypatch):
    ok, flaky, broken = tiny(), tiny(aggregator="median"), tiny(aggregator="trimmed_mean")
    real_run, calls = fx.run, {}

    def fake_run(experiment, results_dir, **kw):
        calls[experiment.config_hash] = calls.get(experiment.config_hash, 0) + 1
        if experiment == broken:
            raise RuntimeError("simulated crash in the training loop")
        if experiment == flaky and calls[experiment.config_hash] == 1:
            raise MemoryError("simulated out-of-memory")
        return real_run(experiment, results_dir, **kw)

    monkeypatch.setattr(fx, "run", fake_run)
    report = run_experiments([ok, broken, flaky], tmp_path, n_workers=0, retries=2, progress=False)
    assert report.attempts == {ok.config_hash: 1, broken.config_hash: 3, flaky.config_hash: 2}
    assert report.results[0] is not None and report.results[2] is not None and report.results[1] is None
    (failure,) = report.failures
    assert failure.index == 1 and failure.attempts == 3 and failure.experiment == broken
    assert failure.error == "RuntimeError: simulated crash in the training loop"
    assert "fake_run" in failure.traceback
    record = json.loads(ResultsStore(tmp_path).failure_path(broken).read_text())
    assert record["config_hash"] == broken.config_hash and record["attempts"] == 3
    assert record["error"] == failure.error and record["config"] == broken.to_dict()
    with pytest.raises(SweepFailedError, match="(?s)1 of 3 experiment.*simulated crash"):
        report.raise_for_failures()
    assert not result_path(broken, tmp_path).exists()

    # the cause is fixed: a rerun runs only the failed config and clears its failure record
    monkeypatch.setattr(fx, "run", real_run)
    again = run_experiments([ok, broken, flaky], tmp_path, n_workers=0, progress=False)
    assert again.ok and again.n_cached == 2 and again.n_ran == 1
    assert not ResultsStore(tmp_path).failure_path(broken).exists()


def test_retries_zero_means_one_attempt(tmp_path, monkeypatch):
    def always_fails(experiment, results_dir, **kw):
        raise ValueError("no")

    monkeypatch.setattr(fx, "run", always_fails)
    report = run_experiments([tiny()], tmp_path, n_workers=0, retries=0, progress=False)
    assert [f.attempts for f in report.failures] == [1]


def test_ctrl_c_then_rerun_continues_where_it_stopped(tmp_path, monkeypatch):
    exps = [tiny(init_seed=s) for s in range(3)]
    real_run = fx.run

    def interrupted(experiment, results_dir, **kw):
        if experiment == exps[1]:
            raise KeyboardInterrupt
        return real_run(experiment, results_dir, **kw)

    monkeypatch.setattr(fx, "run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_experiments(exps, tmp_path, n_workers=0, progress=False)
    assert result_path(exps[0], tmp_path).exists()
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temporary files left behind
    monkeypatch.setattr(fx, "run", real_run)
    report = run_experiments(exps, tmp_path, n_workers=0, progress=False)
    assert report.ok and report.n_cached == 1 and report.n_ran == 2


def test_serial_path_restores_torch_threads(tmp_path):
    import torch

    before = torch.get_num_threads()
    run_experiments([tiny()], tmp_path, n_workers=0, threads_per_worker=1, progress=False)
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("kwargs, error", [
    ({"n_workers": -1}, ConfigError), ({"threads_per_worker": 0}, ConfigError), ({"retries": -1}, ConfigError),
    ({"n_workers": 1.5}, InputTypeError), ({"scheduler": 8786}, InputTypeError),
])
def test_bad_arguments(tmp_path, kwargs, error):
    with pytest.raises(error):
        run_experiments([tiny()], tmp_path, progress=False, **kwargs)


def test_non_experiments_are_rejected(tmp_path):
    with pytest.raises(InputTypeError, match=r"experiments\[1\].*dict"):
        run_experiments([tiny(), {"dataset": "mnist5k"}], tmp_path, progress=False)


# ------------------------------------------------------------------------------------------- results store
def test_two_writers_of_one_hash_never_expose_a_partial_file(tmp_path):
    """Writers race on one path while a reader validates it: every read sees one complete, valid result."""
    e = tiny()
    run_experiments([e], tmp_path, n_workers=0, progress=False)
    path = result_path(e, tmp_path)
    payload = json.loads(path.read_text())
    texts = []
    for i in range(4):  # four different complete versions (only timings differ)
        payload["timings"]["wall_s"] = float(i)
        payload["history"]["rounds"] = payload["history"]["rounds"] * (i + 1)  # different lengths
        texts.append(json.dumps(payload, indent=1))
    stop, errors = threading.Event(), []

    def write(text):
        while not stop.is_set():
            atomic_write_text(path, text)

    def write_engine(i):
        store = ResultsStore(tmp_path)
        while not stop.is_set():
            store.put(json.loads(texts[i]))

    writers = [threading.Thread(target=write, args=(t,)) for t in texts[:2]]
    writers += [threading.Thread(target=write_engine, args=(i,)) for i in (2, 3)]
    for w in writers:
        w.start()
    try:
        for _ in range(300):
            try:
                load_result(path)
            except ResultFileError as err:  # pragma: no cover - this is the failure being tested for
                errors.append(str(err))
    finally:
        stop.set()
        for w in writers:
            w.join()
    assert errors == []
    assert json.loads(path.read_text())["timings"]["wall_s"] in (0.0, 1.0, 2.0, 3.0)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_put_text_validates_before_storing(tmp_path):
    e, other = tiny(), tiny(aggregator="median")
    run_experiments([e, other], tmp_path / "worker", n_workers=0, progress=False)
    text = result_path(e, tmp_path / "worker").read_text()
    stored = ResultsStore(tmp_path / "client").put_text(e, text)
    assert same_run(stored, load_result(result_path(e, tmp_path / "worker")))
    assert same_run(load_result(result_path(e, tmp_path / "client")), stored)
    truncated, wrong = text[:100], result_path(other, tmp_path / "worker").read_text()
    for bad in (truncated, wrong):
        with pytest.raises(ResultFileError):
            ResultsStore(tmp_path / "bad").put_text(e, bad)
    assert list((tmp_path / "bad").iterdir()) == []  # nothing stored, no temporary file left


# --------------------------------------------------------------------------------------------------- CLI
def write_grid(tmp_path, **base):
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump({"base": {**TINY, **base}, "grid": {"aggregator": ["mean", "median"]}}))
    return path


def main(argv):
    """``python -m fedlib sweep ARGV``."""
    from fedlib.cli import main as fedlib_main

    return fedlib_main(["sweep", *argv])


def test_cli_serial_sweep_and_dry_run(tmp_path, capsys):
    grid, out = write_grid(tmp_path), tmp_path / "res"
    assert main([str(grid), "--results-dir", str(out), "--dry-run"]) == 0
    listed = capsys.readouterr().out
    assert listed.count("to run") == 2 and "2 experiment(s), 2 distinct" in listed
    assert main([str(grid), "--results-dir", str(out), "--workers", "0", "--quiet"]) == 0
    assert "2/2 results (0 cached, 2 run, 0 failed)" in capsys.readouterr().out
    assert len(list(out.glob("*.json"))) == 2
    assert main([str(grid), "--results-dir", str(out), "--dry-run"]) == 0
    assert capsys.readouterr().out.count("cached") == 2


def test_cli_bad_grid_exits_2_with_the_message(tmp_path, capsys):
    grid = write_grid(tmp_path, n_malicous=3)
    assert main([str(grid), "--workers", "0"]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'n_malicous'" in err and "Did you mean 'n_malicious'" in err


def test_fedlib_cli_registers_the_sweep_subcommand(tmp_path, capsys):
    """`python -m fedlib sweep ...` goes through fedlib.cli, whose sweep module (fedlib.cli.sweep) parses it."""
    cli = pytest.importorskip("fedlib.cli", reason="fedlib/cli.py (the engine's CLI) is not there yet")
    grid = write_grid(tmp_path)
    status = cli.main(["sweep", str(grid), "--results-dir", str(tmp_path / "r"), "--workers", "0", "--quiet"])
    assert status == 0
    assert "2/2 results" in capsys.readouterr().out


def test_library_errors_are_fedlib_errors():
    assert issubclass(SweepFailedError, FedlibError)


def test_the_sweeps_pages_example_grids_expand(tmp_path):
    # A reader copies these blocks: each must be a grid fedlib accepts (the page's counts included), not one that
    # stops at the first experiment it builds.
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "book" / "sweeps.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", page, flags=re.S) if "grid:" in b]
    assert len(blocks) >= 2
    sizes = []
    for i, block in enumerate(blocks):
        path = tmp_path / f"grid{i}.yaml"
        path.write_text(block if "base:" in block else "base: {profile: quick}\n" + block)
        sizes.append(len(expand(path)))
    assert sizes[0] == 72 and "6 × 4 × 3 = 72 runs" in page
    assert sizes[1] == 2 * 2 * 3 + 2 * 3
