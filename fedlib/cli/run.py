"""``python -m fedlib run``: one experiment; the profile sets every default for its dataset, flags override."""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import ConfigError
from ..vocabulary import PROFILES
from ._options import _add_key_value_option

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
        choices=PROFILES,
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
    from ..experiments import experiment_for
    from ..experiments._config import seed_fields

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

    from .._io import atomic_write_json  # the one atomic writer, as the cache
    from ..experiments import run

    experiment = experiment_from_args(args)
    from ..experiments import default_results_dir

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
