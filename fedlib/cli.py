"""Command line: ``python -m fedlib run ...``, ``python -m fedlib list`` (and ``sweep`` from fedlib.sweep).

Each subcommand is added by one ``add_*_parser(subparsers)`` function that registers its arguments and sets
``func`` (``args -> exit code``). Other modules plug in the same way: if :mod:`fedlib.sweep` defines
``add_parser(subparsers)``, :func:`build_parser` calls it.

Examples::

    python -m fedlib run --profile quick --aggregator median --attack min_max --seed 1 --output r.json
    python -m fedlib list
    python -m fedlib dry-run --profile full --stand-in-model --rounds 2 --only cross_device
    python -m fedlib evaluate geometric_median --profile quick --rounds 20 --output card.csv
    python -m fedlib reproduce --profile full --device cuda

``run`` caches results in ``$FEDLIB_RESULTS_DIR`` when set, else in the user cache folder
(:func:`fedlib.experiments.default_results_dir`), never in the repository's committed ``results/``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from typing import Any

from .errors import ConfigError, FedlibError


def _key_value(text: str) -> tuple:
    """Parse ``KEY=VALUE``; VALUE is read as JSON when it parses (numbers, true, null, lists), else a string."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE; found {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value


def _add_key_value_option(p: argparse.ArgumentParser, flag: str, dest: str, what: str, metavar: str = "KEY=VALUE"):
    """A repeatable ``flag KEY=VALUE`` collected as a list of pairs in ``dest``."""
    p.add_argument(
        flag,
        dest=dest,
        action="append",
        type=_key_value,
        default=[],
        metavar=metavar,
        help=f"{what} (repeatable; VALUE parsed as JSON if possible)",
    )


# Flags that map one-to-one onto Experiment fields (flag → field).
_FIELD_FLAGS = {
    "dataset": str,
    "model": str,
    "aggregator": str,
    "attack": str,
    "attack_target": str,
    "knowledge": str,
    "n_clients": int,
    "n_malicious": int,
    "rounds": int,
    "device": str,
    "data_root": str,
    "variant": str,
    "perturbation": str,
    "search": str,
    "gamma_init": float,
    "batch_size": int,
    "lr": float,
    "optimiser": str,
    "eval_every": int,
    "clients_per_round": int,
    "sampling": str,
    "partition": str,
    "partition_alpha": float,
    "nonfinite": str,
    "grad_method": str,
    "dtype": str,
}


def add_run_parser(subparsers) -> argparse.ArgumentParser:
    """``run``: one experiment; the profile sets every default for its dataset, flags override."""
    p = subparsers.add_parser(
        "run",
        help="run (or load from the results cache) one federated experiment",
        description="Run one FedSGD experiment. The profile sets every default for the "
        "dataset; the flags below override single settings.",
    )
    p.add_argument(
        "--profile",
        default="quick",
        choices=["quick", "scale", "full"],
        help="quick: mnist5k in seconds; scale: full Fashion-MNIST; full: the paper's settings",
    )
    for name, kind in _FIELD_FLAGS.items():
        p.add_argument("--" + name.replace("_", "-"), dest=name, type=kind, default=None)
    p.add_argument(
        "--server-f",
        dest="server_f",
        default=None,
        help="f the AGR assumes: 'actual' (attackers in the round), 'capped' (actual, at most what the rule accepts), "
        "'ndss21_femnist', or an int",
    )
    p.add_argument("--seed", type=int, default=None, help="sets split, init, sample and attack seeds together")
    _add_key_value_option(p, "--aggregator-option", "aggregator_options", "extra AGR option")
    _add_key_value_option(p, "--attack-option", "attack_options", "extra attack option")
    _add_key_value_option(p, "--set", "fields", "set any Experiment field", metavar="FIELD=VALUE")
    p.add_argument(
        "--results-dir",
        default=None,
        help="results cache folder (default: $FEDLIB_RESULTS_DIR, else the user cache folder, e.g. "
        "~/.cache/fedlib/results; never the repository's results/)",
    )
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the results cache")
    p.add_argument("--force", action="store_true", help="re-run even if the result is cached")
    p.add_argument("--repair", action="store_true", help="re-run if the cached file is corrupt")
    p.add_argument("--output", default=None, help="also write the result JSON to this file")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_run)
    return p


def experiment_from_args(args: argparse.Namespace):
    """The Experiment the ``run`` flags describe (profile defaults, then flag overrides)."""
    from .experiments import experiment_for
    from .experiments._config import seed_fields

    overrides: dict[str, Any] = {}
    for name in _FIELD_FLAGS:
        value = getattr(args, name)
        if value is not None and name != "dataset":
            overrides[name] = value
    if args.server_f is not None:
        overrides["server_f"] = int(args.server_f) if args.server_f.isdigit() else args.server_f
    if args.seed is not None:
        overrides.update(seed_fields(args.seed))
    if args.aggregator_options:
        overrides["aggregator_options"] = dict(args.aggregator_options)
    if args.attack_options:
        overrides["attack_options"] = dict(args.attack_options)
    for key, value in args.fields:
        if key in ("profile", "dataset"):
            raise ConfigError(f"use --profile / --dataset instead of --set {key}=...")
        overrides[key] = value
    return experiment_for(args.profile, args.dataset, **overrides)


def _cmd_run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ._io import atomic_write_json  # the one atomic writer, as the cache
    from .experiments import run

    experiment = experiment_from_args(args)
    from .experiments import default_results_dir

    results_dir = None if args.no_cache else (args.results_dir or default_results_dir())
    result = run(experiment, results_dir, progress=not args.no_progress, force=args.force, repair=args.repair)
    if args.output:
        atomic_write_json(Path(args.output), result.to_dict())
    status = f"diverged at round {result.diverged_round}" if result.diverged else "ok"
    print(
        f"[{result.profile}] {experiment.dataset}/{experiment.model} {experiment.aggregator} vs {experiment.attack} "
        f"({experiment.knowledge}): best val {result.best_val_accuracy:.2f}% at round {result.best_round}, "
        f"test {result.test_accuracy_at_best:.2f}% ({status}); {result.path or 'not cached'}"
    )
    return 0


def add_list_parser(subparsers) -> argparse.ArgumentParser:
    """``list``: datasets, models (with parameter counts), AGRs, attacks and profiles."""
    p = subparsers.add_parser("list", help="list datasets, models, aggregators, attacks and profiles")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=_cmd_list)
    return p


def catalogue() -> dict[str, Any]:
    from . import aggregators, attacks, data, models
    from .experiments import PROFILE_NAMES

    return {
        "datasets": data.names(),
        "models": {name: models.count_parameters(models.build(name, seed=0)) for name in models.names()},
        "aggregators": aggregators.names(),
        "attacks": attacks.names(),
        "profiles": list(PROFILE_NAMES),
    }


def _cmd_list(args: argparse.Namespace) -> int:
    items = catalogue()
    if args.json:
        print(json.dumps(items, indent=1))
        return 0
    print("datasets:    " + ", ".join(items["datasets"]))
    print("models:      " + ", ".join(f"{k} ({v:,} parameters)" for k, v in items["models"].items()))
    print("aggregators: " + ", ".join(items["aggregators"]))
    print("attacks:     " + ", ".join(items["attacks"]))
    print("profiles:    " + ", ".join(items["profiles"]))
    return 0


def add_dry_run_parser(subparsers) -> argparse.ArgumentParser:
    """``dry-run``: every cell of the notebooks' full grids for a few rounds on generated data."""
    from .experiments.grids import FULL_GRIDS

    p = subparsers.add_parser(
        "dry-run",
        help="run every cell of the full grids for a few rounds on generated data",
        description="Run every cell of every notebook's full-profile grid for a few rounds "
        "on generated data with each dataset's exact shapes and client counts; print each "
        "cell as ok / refused (with the reason) / failed and a summary; exit 1 on a failure.",
    )
    p.add_argument("--profile", default="full", choices=["full"], help="the grids to run (only 'full')")
    p.add_argument("--rounds", type=int, default=2, help="rounds per cell (default 2)")
    p.add_argument("--stand-in-model", action="store_true", help="a linear model instead of each cell's network")
    p.add_argument("--datasets", nargs="+", default=None, metavar="NAME", help="only these datasets")
    p.add_argument(
        "--only",
        nargs="+",
        default=None,
        choices=list(FULL_GRIDS),
        metavar="GRID",
        help=f"only these grids ({', '.join(FULL_GRIDS)})",
    )
    p.add_argument("--device", default="cpu", help="device of every run (default cpu)")
    p.add_argument("--limit", type=int, default=None, help="run only the first N cells")
    p.set_defaults(func=_cmd_dry_run)
    return p


def _cmd_dry_run(args: argparse.Namespace) -> int:
    from .experiments.dry_run import dry_run, print_and_exit_code

    if args.rounds < 1:
        raise ConfigError(f"--rounds must be >= 1; found {args.rounds}.")
    outcomes = dry_run(
        only=args.only,
        datasets=args.datasets,
        rounds=args.rounds,
        stand_in_model=args.stand_in_model,
        device=args.device,
        limit=args.limit,
    )
    return print_and_exit_code(outcomes)


def add_evaluate_parser(subparsers) -> argparse.ArgumentParser:
    """``evaluate``: the report card of one rule (:func:`fedlib.evaluate`)."""
    from ._evaluate import DEFAULT_ATTACKS

    p = subparsers.add_parser(
        "evaluate",
        help="report card of an aggregation rule against the paper's attacks and newer ones",
        description="One row per attack: the deviation it causes on benign gradients captured from real "
        "training rounds, and its FL impact over the seeds of the profile (fedlib.evaluate).",
    )
    p.add_argument("rule", help="a registered rule name, or module:function (imported)")
    p.add_argument("--profile", default="quick", choices=["quick", "scale", "full"])
    p.add_argument("--dataset", default=None, help="the profile's dataset (default: its own)")
    p.add_argument("--attacks", nargs="+", default=None, metavar="NAME", help=f"default: {' '.join(DEFAULT_ATTACKS)}")
    p.add_argument("--seeds", nargs="+", type=int, default=None, metavar="SEED", help="default: 0")
    p.add_argument("--rounds", type=int, default=None, help="FL rounds (default: the profile's)")
    p.add_argument("--knowledge", default="full", choices=["full", "partial"])
    p.add_argument("--capture-rounds", nargs="+", type=int, default=[0, 10, 20], metavar="ROUND")
    p.add_argument("--no-train", action="store_true", help="deviation only (seconds): no FL runs")
    _add_key_value_option(p, "--aggregator-option", "aggregator_options", "rule option")
    p.add_argument("--results-dir", default=None, help="results cache (default: as for run)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the results cache")
    p.add_argument("--output", default=None, help="also write the table to this CSV file")
    p.set_defaults(func=_cmd_evaluate)
    return p


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from ._evaluate import evaluate

    options: dict[str, Any] = {}
    if args.aggregator_options:
        options["aggregator_options"] = dict(args.aggregator_options)
    card = evaluate(
        args.rule,
        profile=args.profile,
        attacks=args.attacks,
        seeds=args.seeds,
        rounds=args.rounds,
        dataset=args.dataset,
        knowledge=args.knowledge,
        capture_rounds=args.capture_rounds,
        train=not args.no_train,
        results_dir=None if args.no_cache else (args.results_dir or "default"),
        **options,
    )
    shown = card.drop(columns=["profile", "knowledge", "rounds", "seeds"])
    fl = f"{card.rounds.iloc[0]} FL rounds"
    if args.no_train:
        shown = shown.drop(columns=["accuracy", "accuracy_sd", "impact", "impact_sd", "impact_text"])
        fl = "deviation only, no training"
    with pd_options():
        print(f"[{args.profile}] report card of {card.rule.iloc[0]} ({args.knowledge} knowledge, {fl}, "
              f"{card.seeds.iloc[0]} seed(s))")  # fmt: skip
        print(shown.drop(columns="rule").to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if args.output:
        card.to_csv(args.output, index=False)
    return 0


def pd_options():
    """Print whole tables (no column wrapping or truncation)."""
    import pandas as pd

    return pd.option_context("display.width", 250, "display.max_columns", 50, "display.max_colwidth", 70)


def _plugin_parsers(subparsers) -> None:
    """Let fedlib.sweep add its subcommand through ``add_parser(subparsers)`` when it defines one."""
    try:
        sweep = importlib.import_module("fedlib.sweep")
    except ModuleNotFoundError as exc:
        if exc.name not in ("fedlib.sweep",):
            raise  # a broken import inside fedlib.sweep must not hide
        return
    add = getattr(sweep, "add_parser", None)
    if add is not None:
        add(subparsers)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; ``prog`` defaults to the name the program was started as (``fedlib``)."""
    from .data._cli import add_data_parser
    from .experiments.reproduce import add_reproduce_parser

    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    subparsers = parser.add_subparsers(
        dest="command", required=True, metavar="{run,list,dry-run,data,evaluate,reproduce,sweep}"
    )
    add_run_parser(subparsers)
    add_list_parser(subparsers)
    add_dry_run_parser(subparsers)
    add_data_parser(subparsers)
    add_evaluate_parser(subparsers)
    add_reproduce_parser(subparsers)
    _plugin_parsers(subparsers)
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str | None = None) -> int:
    """Entry point of ``python -m fedlib`` and the ``fedlib`` script; returns the exit code."""
    args = build_parser(prog).parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except FedlibError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code  # 2 (invalid input), or the error's own (3: a Dask cluster unusable or lost)


__all__: list[str] = [
    "main",
    "build_parser",
    "add_run_parser",
    "add_list_parser",
    "add_dry_run_parser",
    "add_evaluate_parser",
    "experiment_from_args",
    "catalogue",
]
