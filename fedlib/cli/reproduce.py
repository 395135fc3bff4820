"""``python -m fedlib reproduce``: plan and run the paper's full grids, or the scale campaign's blocks, on this
machine or a Dask cluster.

1. prints the plan: distinct cells per grid and a time estimate from a per-round cost measured on the current
   device (:func:`fedlib.experiments.reproduce.make_plan`);
2. writes the reproduction's manifest (``<results_dir>/reproduction.json``) and runs every cell with
   :func:`fedlib.sweep.run_experiments` (resumable: cached results are loaded, not re-run; one Dask worker per GPU
   when several are present, or an existing cluster with ``--scheduler``);
3. says where the results are. Executing the book's notebooks against them and building the book is the book's
   own command, ``python -m fedbook.reproduce`` (the same arguments, in a clone of the repository), which runs
   these steps and then that one.

:func:`add_arguments` and :func:`reproduce` are the steps the book's command shares.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..experiments import grids as _grids
from ..experiments.reproduce import (
    FULL_DATASETS,
    PROFILES,
    SCALE_DATASETS,
    STAND_IN_HIDDEN,
    Reproduction,
    format_plan,
    make_plan,
)


def add_reproduce_parser(subparsers) -> argparse.ArgumentParser:
    """``reproduce``: plan and run the paper's full grids, or the scale campaign's blocks."""
    p = subparsers.add_parser(
        "reproduce",
        help="plan and run the paper's full grids (or the scale campaign's blocks)",
        description="Print the plan (cells per grid, a time estimate from a per-round cost measured on this "
        "device), then run every cell of the full-profile grids through the sweep (resumable; one Dask worker per "
        "GPU when several are present, or --scheduler). With --profile scale: the scale campaign's blocks (full "
        "Fashion-MNIST, the paper's MNIST setting). The book's own command, python -m fedbook.reproduce, takes the "
        "same arguments and then executes the notebooks against the results and builds the book.",
    )
    add_arguments(p)
    p.set_defaults(func=run_command)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of a reproduction (shared with the book's command)."""
    from ..sweep._cluster import scheduler_argument  # a malformed --scheduler is an option error (exit 2)

    p.add_argument(
        "--profile",
        default="full",
        choices=PROFILES,
        help="full: the paper's settings (default); scale: the scale campaign's blocks",
    )
    p.add_argument("--device", default="auto", help="device of every run: auto, cpu, cuda, cuda:N (default auto)")
    datasets = tuple(dict.fromkeys(FULL_DATASETS + SCALE_DATASETS))
    p.add_argument("--datasets", nargs="+", default=None, choices=datasets, metavar="NAME", help="only these")
    names = tuple(dict.fromkeys(_grids.FULL_GRIDS + _grids.SCALE_BLOCKS))
    grids = f"full: {', '.join(_grids.FULL_GRIDS)}; scale: {', '.join(_grids.SCALE_BLOCKS)}"
    p.add_argument("--only", nargs="+", default=None, choices=names, metavar="GRID", help=grids)
    p.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        default=None,
        help="seeds (default: full 0 1 2, the paper's three; scale: each block's own)",
    )
    p.add_argument("--rounds", type=int, default=None, help="a pipeline check: this many rounds per cell")
    p.add_argument(
        "--stand-in-model", action="store_true", help=f"a pipeline check: FC nets with {STAND_IN_HIDDEN} hidden units"
    )
    p.add_argument(
        "--results-dir",
        default=None,
        help="results cache (default: $FEDLIB_RESULTS_DIR, else the user cache; the book's pages read the scale "
        "campaign from its results/scale)",
    )
    p.add_argument(
        "--root",
        default=None,
        metavar="DIR",
        help="the data root `fedlib data fetch --root DIR` installed into (default: $FEDLIB_DATA, else the user "
        "data folder); each dataset is read from DIR/NAME",
    )
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:8786", help="run on this Dask cluster",
                   type=scheduler_argument)  # fmt: skip
    p.add_argument("--workers", type=int, default=None, help="local worker processes (default: one per GPU if >1)")
    p.add_argument("--retries", type=int, default=2, help="extra attempts for a run that fails (default 2)")
    p.add_argument("--measure-rounds", type=int, default=2, help="rounds per cost measurement (default 2)")
    p.add_argument("--no-measure", action="store_true", help="count the cells, measure nothing")
    p.add_argument("--plan-only", action="store_true", help="print the plan and stop")
    p.add_argument("--dry-run", action="store_true", help="run the full-profile dry run instead of the sweep")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def device_here(device: str, scheduler: str | None) -> bool:
    """Whether ``device`` exists on this machine. Without ``scheduler`` the runs happen here, so a missing
    device is a :class:`~fedlib.errors.ConfigError` before anything runs; with one, only the plan's
    measurement needs it here (False: the plan counts cells only)."""
    import torch

    available = not device.startswith("cuda") or torch.cuda.is_available()
    if not available and scheduler is None:
        raise ConfigError(f"--device {device}: expected a CUDA device on this machine; found none (torch.cuda).")
    return available


@dataclass(frozen=True)
class Outcome:
    """How a reproduction ended: the exit ``code`` (1: some runs failed) and what ran where; ``swept`` is False
    when it stopped at the plan or ran the dry run instead."""

    code: int
    reproduction: Reproduction
    results_dir: Path
    swept: bool


def reproduction_of(args: argparse.Namespace) -> Reproduction:
    """The :class:`~fedlib.experiments.reproduce.Reproduction` the arguments describe (checked)."""
    for name in ("rounds", "measure_rounds"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 1; found {getattr(args, name)}.")
    rep = Reproduction(
        profile=args.profile,
        grids=tuple(args.only) if args.only else None,
        datasets=tuple(args.datasets) if args.datasets else None,
        seeds=tuple(args.seeds) if args.seeds is not None else None,
        rounds=args.rounds,
        stand_in_model=args.stand_in_model,
    )
    if args.dry_run and rep.profile != "full":
        raise ConfigError(f"--dry-run runs the full profile's grids on generated data; found --profile {rep.profile}.")
    return rep


def reproduce(args: argparse.Namespace, readers: Callable[[str], Sequence[str]] | None = None) -> Outcome:
    """Plan, then (unless ``--plan-only``) run the dry run or every cell; ``readers`` as in
    :func:`~fedlib.experiments.reproduce.format_plan`."""
    from ..experiments import default_results_dir

    rep = reproduction_of(args)
    here = device_here(args.device, args.scheduler)
    results_dir = Path(args.results_dir or default_results_dir())
    start = time.perf_counter()
    plan = make_plan(rep, args.device, measure_rounds=args.measure_rounds, measure=here and not args.no_measure,
                     data_root=args.root, results_dir=None if args.dry_run else results_dir)  # fmt: skip
    print(format_plan(plan, rep, readers) + f"\n(plan made in {time.perf_counter() - start:.0f} s)", flush=True)
    if not here:
        print(f"(no per-round cost measured: this machine has no {args.device!r}; the cluster's workers run the "
              "cells. Run --plan-only on a worker's machine for its costs.)", flush=True)  # fmt: skip
    if args.plan_only:
        return Outcome(0, rep, results_dir, swept=False)
    if args.dry_run:
        from ..experiments.dry_run import dry_run, print_and_exit_code

        outcomes = dry_run(only=rep.grids, datasets=rep.datasets, rounds=args.rounds or 2, device=args.device,
                           stand_in_model=args.stand_in_model)  # fmt: skip
        return Outcome(print_and_exit_code(outcomes), rep, results_dir, swept=False)
    return Outcome(_sweep(args, rep, results_dir), rep, results_dir, swept=True)


def _sweep(args: argparse.Namespace, rep: Reproduction, results_dir: Path) -> int:
    """Run every cell not yet in ``results_dir``; 1 when some failed (after their retries)."""
    from ..sweep import run_sweep

    report = run_sweep(rep, results_dir, device=args.device, data_root=args.root, scheduler=args.scheduler,
                       workers=args.workers, retries=args.retries, progress=not args.no_progress)  # fmt: skip
    print("reproduce: " + report.summary(), flush=True)
    if not report.failures:
        return 0
    for failure in report.failures[:3]:
        print(f"  {failure.experiment.config_hash[:12]}: {failure.error}", flush=True)
    print(f"reproduce: {len(report.failures)} run(s) failed (see {results_dir / 'failed'}); whatever reads the "
          "results needs every one: run the same command again to retry them.", flush=True)  # fmt: skip
    return 1


def run_command(args: argparse.Namespace) -> int:
    """Handler of ``reproduce``; returns the exit code (1: some runs failed)."""
    outcome = reproduce(args)
    if outcome.swept and outcome.code == 0:
        print(f"reproduce: results in {outcome.results_dir}. To execute the book's notebooks against them and "
              "build the book, run the book's command with the same arguments in a clone of the repository: "
              "python -m fedbook.reproduce ...", flush=True)  # fmt: skip
    return outcome.code
