"""Command line: ``python -m fedlib SUBCOMMAND ...``, one module per subcommand.

``run`` (:mod:`.run`), ``list`` (:mod:`.catalogue`), ``dry-run`` (:mod:`.dry_run`), ``data`` (:mod:`.data`),
``evaluate`` (:mod:`.evaluate`), ``reproduce`` (:mod:`.reproduce`) and ``sweep`` (:mod:`.sweep`): each module's
``add_*parser(subparsers)`` registers the subcommand's arguments and sets ``func`` (``args -> exit code``);
:func:`build_parser` imports and calls them all.

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
import sys
from collections.abc import Sequence

from ..errors import FedlibError
from .catalogue import add_list_parser, catalogue
from .data import add_data_parser
from .dry_run import add_dry_run_parser
from .evaluate import add_evaluate_parser
from .reproduce import add_reproduce_parser
from .run import add_run_parser, experiment_from_args
from .sweep import add_parser as add_sweep_parser


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; ``prog`` defaults to the name the program was started as (``fedlib``)."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0].replace("``", ""))
    subparsers = parser.add_subparsers(
        dest="command", required=True, metavar="{run,list,dry-run,data,evaluate,reproduce,sweep}"
    )
    add_run_parser(subparsers)
    add_list_parser(subparsers)
    add_dry_run_parser(subparsers)
    add_data_parser(subparsers)
    add_evaluate_parser(subparsers)
    add_reproduce_parser(subparsers)
    add_sweep_parser(subparsers)
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
