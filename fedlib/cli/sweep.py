"""``python -m fedlib sweep GRID.yaml``: expand a grid file and run it (local Dask cluster or existing one)."""

from __future__ import annotations

import argparse
import sys

from ..errors import ClusterError, FedlibError
from ..sweep._cluster import scheduler_argument

EXIT_FAILED = 1  # some runs failed after their retries
EXIT_BAD_INPUT = 2  # the grid or an option is invalid (argparse's convention)
EXIT_CLUSTER = ClusterError.exit_code  # 3: the Dask cluster cannot run the sweep, or was lost during it
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``sweep`` subcommand on an argparse ``subparsers`` object."""
    parser = subparsers.add_parser(
        "sweep",
        help="run a grid of experiments on Dask (local worker processes or an existing cluster)",
        description=(
            "Expand GRID.yaml (a `base` mapping: profile + overrides, and a `grid` mapping of lists) into "
            "experiments, load those already in --results-dir, and run the rest on a local Dask cluster of "
            "--workers processes, or on an existing cluster (--scheduler). Interrupt with Ctrl-C and run the "
            "same command again to continue. Exit status: 0 every result present, 1 some runs failed, 2 invalid "
            "grid or option, 3 the Dask cluster cannot run the sweep or was lost (finished results are saved), "
            "130 interrupted."
        ),
    )
    configure(parser)
    return parser


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("grid", metavar="GRID.yaml", help="grid file (see the book's 'Sweeps' page)")
    parser.add_argument(
        "--scheduler",
        metavar="tcp://HOST:8786",
        default=None,
        type=scheduler_argument,
        help="address of a running `dask scheduler` (default: start a local cluster); checked before anything is "
        "submitted: a Dask scheduler must answer there and every worker must import this fedlib",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        metavar="N",
        help="local worker processes (default 2; 0 = run serially in this process)",
    )
    parser.add_argument(
        "--threads-per-worker", type=int, default=1, metavar="T", help="torch threads per run (default 1)"
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=2,
        metavar="R",
        help="extra attempts for a run that fails or whose worker dies (default 2)",
    )
    parser.add_argument(
        "--results-dir",
        default=None,
        metavar="DIR",
        help="results cache: one <config hash>.json per run (default: $FEDLIB_RESULTS_DIR, else the "
        "user cache folder, e.g. ~/.cache/fedlib/results)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="list the experiments (hash, cached or not) and exit without running"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar or messages")
    parser.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    """Run the parsed ``sweep`` command; returns the process exit status."""
    from ..experiments import ResultsStore, default_results_dir
    from ..sweep._grid import expand
    from ..sweep._run import run_experiments

    if args.results_dir is None:
        args.results_dir = str(default_results_dir())
    try:
        experiments = expand(args.grid)
        if args.dry_run:
            return _dry_run(experiments, ResultsStore(args.results_dir))
        report = run_experiments(
            experiments,
            args.results_dir,
            n_workers=args.workers,
            threads_per_worker=args.threads_per_worker,
            scheduler=args.scheduler,
            retries=args.retries,
            progress=not args.quiet,
        )
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except FedlibError as err:  # ClusterError: EXIT_CLUSTER; any other: EXIT_BAD_INPUT
        print(f"fedlib sweep: error: {err}", file=sys.stderr)
        return err.exit_code
    if args.quiet:
        print(report.summary())
    return EXIT_FAILED if report.failures else 0


def _dry_run(experiments, store) -> int:
    from ..errors import ResultFileError

    seen = set()
    for i, e in enumerate(experiments):
        if e.config_hash in seen:
            status = "duplicate"
        else:
            try:
                status = "to run" if store.get(e) is None else "cached"
            except ResultFileError:  # read only: the sweep itself moves it aside and runs it again
                status = "corrupt"
        seen.add(e.config_hash)
        print(
            f"{i:4d} {e.config_hash[:12]} {status:9s} {e.dataset} {e.aggregator} {e.attack} {e.knowledge} "
            f"n_malicious={e.n_malicious} rounds={e.rounds} seeds={e.split_seed}/{e.init_seed}/"
            f"{e.sample_seed}/{e.attack_seed}"
        )
    print(f"{len(experiments)} experiment(s), {len(seen)} distinct")
    return 0
