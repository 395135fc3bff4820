"""``python -m fedlib evaluate RULE``: the report card of one rule (:func:`fedlib.evaluate`)."""

from __future__ import annotations

import argparse
from typing import Any

from ..vocabulary import KNOWLEDGE, PROFILES
from ._options import _add_key_value_option, pd_options


def add_evaluate_parser(subparsers) -> argparse.ArgumentParser:
    """``evaluate``: the report card of one rule (:func:`fedlib.evaluate`)."""
    from .._evaluate import DEFAULT_ATTACKS
    from ..experiments.grids import BENCHMARK_PARTITIONS

    p = subparsers.add_parser(
        "evaluate",
        help="report card of an aggregation rule against the paper's attacks and newer ones",
        description="One row per attack: the deviation it causes on benign gradients captured from real "
        "training rounds, and its FL impact over the seeds of the profile (fedlib.evaluate).",
    )
    p.add_argument("rule", help="a registered rule name, or module:function (imported)")
    p.add_argument("--profile", default="quick", choices=PROFILES)
    p.add_argument("--dataset", default=None, help="the profile's dataset (default: its own)")
    p.add_argument("--attacks", nargs="+", default=None, metavar="NAME", help=f"default: {' '.join(DEFAULT_ATTACKS)}")
    p.add_argument("--seeds", nargs="+", type=int, default=None, metavar="SEED", help="default: 0")
    p.add_argument("--rounds", type=int, default=None, help="FL rounds (default: the profile's)")
    p.add_argument("--knowledge", default="full", choices=KNOWLEDGE)
    p.add_argument("--partition", default=None, choices=tuple(BENCHMARK_PARTITIONS),
                   help="a split of the robustness benchmark (default: the profile's own); with --profile scale and "
                   "--seeds 0 1 2, exactly the benchmark's cells")  # fmt: skip
    p.add_argument("--capture-rounds", nargs="+", type=int, default=[0, 10, 20], metavar="ROUND")
    p.add_argument("--no-train", action="store_true", help="deviation only (seconds): no FL runs")
    _add_key_value_option(p, "--aggregator-option", "aggregator_options", "rule option")
    p.add_argument("--results-dir", default=None, help="results cache (default: as for run)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the results cache")
    p.add_argument("--output", default=None, help="also write the table to this CSV file")
    p.set_defaults(func=_cmd_evaluate)
    return p


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .._evaluate import evaluate

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
        partition=args.partition,
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
        split = "" if args.partition is None else f"{args.partition} partition, "
        n_seeds = int(card.seeds.iloc[0])
        print(f"[{args.profile}] report card of {card.rule.iloc[0]} ({split}{args.knowledge} knowledge, {fl}, "
              f"{n_seeds} seed{'' if n_seeds == 1 else 's'})")  # fmt: skip
        print(shown.drop(columns="rule").to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if args.output:
        card.to_csv(args.output, index=False)
    return 0
