"""``python -m fedlib dry-run``: every cell of the full grids for a few rounds on generated data."""

from __future__ import annotations

import argparse

from ..errors import ConfigError


def add_dry_run_parser(subparsers) -> argparse.ArgumentParser:
    """``dry-run``: every cell of the paper's full grids for a few rounds on generated data."""
    from ..experiments.grids import FULL_GRIDS

    p = subparsers.add_parser(
        "dry-run",
        help="run every cell of the full grids for a few rounds on generated data",
        description="Run every cell of every full-profile grid of the paper for a few rounds "
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
    from ..experiments.dry_run import dry_run, print_and_exit_code

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
