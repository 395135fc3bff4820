"""The command line: `python -m fedlib run` / `list` in a subprocess, flag parsing, and the sweep plug-in hook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fedlib import cli
from fedlib.experiments import load_result

ROOT = Path(__file__).resolve().parents[2]


def _fedlib(*args, cwd):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "fedlib", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_cli_list():
    out = _fedlib("list", "--json", cwd=ROOT)
    assert out.returncode == 0, out.stderr
    items = json.loads(out.stdout)
    assert "mnist5k" in items["datasets"] and items["models"]["alexnet_cifar"] == 2_472_266
    assert "median" in items["aggregators"] and "min_max" in items["attacks"]
    assert items["profiles"] == ["quick", "scale", "full"]


def test_cli_run_tiny(tmp_path):
    args = ["run", "--profile", "quick", "--aggregator", "median", "--attack", "min_max", "--knowledge", "full",
            "--n-clients", "10", "--n-malicious", "2", "--rounds", "2", "--seed", "3", "--device", "cpu",
            "--set", "samples_per_client=40", "--set", 'model_options={"hidden": 8}', "--eval-every", "1",
            "--results-dir", str(tmp_path / "res"), "--output", str(tmp_path / "result.json")]
    out = _fedlib(*args, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "best val" in out.stdout and "[quick]" in out.stdout
    result = load_result(tmp_path / "result.json")
    assert result.config["aggregator"] == "median" and result.config["attack_seed"] == 3
    assert result.profile == "quick" and len(result.history["rounds"]) == 2
    cached = list((tmp_path / "res").glob("*.json"))
    assert [p.name for p in cached] == [f"{result.config_hash}.json"]
    # a second call is a cache hit with the same numbers
    again = _fedlib(*args, cwd=tmp_path)
    assert again.returncode == 0 and load_result(tmp_path / "result.json").to_dict() == result.to_dict()


def test_cli_reports_config_errors(tmp_path):
    out = _fedlib("run", "--aggregator", "krumm", "--no-progress", "--no-cache", cwd=tmp_path)
    assert out.returncode == 2 and "krumm" in out.stderr and "Did you mean 'krum'" in out.stderr


def test_flags_map_onto_experiment():
    args = cli.build_parser().parse_args(
        ["run", "--profile", "quick", "--aggregator", "dnc", "--attack", "lie", "--knowledge", "partial",
         "--server-f", "3", "--aggregator-option", "n_iters=2", "--attack-option", "z=1.5", "--lr", "0.1",
         "--seed", "4"])
    exp = cli.experiment_from_args(args)
    assert (exp.aggregator, exp.attack, exp.knowledge, exp.server_f, exp.lr) == ("dnc", "lie", "partial", 3, 0.1)
    assert exp.aggregator_options == {"n_iters": 2} and exp.attack_options == {"z": 1.5}
    assert (exp.split_seed, exp.init_seed, exp.sample_seed, exp.attack_seed) == (4, 4, 4, 4)


def test_one_module_per_subcommand_imported_plainly():
    import argparse
    import pathlib

    def commands(parser):
        (choices,) = [a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        return choices

    choices = commands(cli.build_parser())
    handlers = {name: sub.get_default("func") for name, sub in choices.items()}
    handlers["data"] = commands(choices["data"])["fetch"].get_default("func")  # data has its own subcommands
    assert set(handlers) == {"run", "list", "dry-run", "data", "evaluate", "reproduce", "sweep"}
    modules = {name: fn.__module__ for name, fn in handlers.items()}
    assert all(m.startswith("fedlib.cli.") for m in modules.values()), modules
    assert len(set(modules.values())) == len(modules)  # each subcommand its own module
    folder = pathlib.Path(cli.__file__).parent
    assert not [p.name for p in folder.glob("*.py") if "importlib" in p.read_text(encoding="utf-8")]


def test_default_results_cache_is_not_the_repository(monkeypatch, tmp_path):
    from fedlib.experiments import default_results_dir

    monkeypatch.setenv("FEDLIB_RESULTS_DIR", str(tmp_path / "mine"))
    assert default_results_dir() == tmp_path / "mine"
    monkeypatch.delenv("FEDLIB_RESULTS_DIR")
    import platformdirs

    assert default_results_dir() == platformdirs.user_cache_path("fedlib") / "results"
    assert "results" != str(default_results_dir())


def test_console_script_uses_its_own_name_and_offers_every_subcommand(capsys):
    from fedlib.cli import build_parser

    parser = build_parser("fedlib")
    assert parser.format_usage().startswith("usage: fedlib ")
    assert "``" not in parser.format_help(), "the help shows the docstring's reStructuredText markup"
    for command in ("run", "list", "dry-run", "data", "evaluate", "reproduce", "sweep"):
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args([command, "--help"])
        assert exit_info.value.code == 0
        assert "``" not in capsys.readouterr().out, command
