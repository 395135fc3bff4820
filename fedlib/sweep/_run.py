"""Run many experiments: stored ones are loaded, the rest run serially or on Dask (local or remote cluster).

Fault model:

* Results live in the results store the caller names (:class:`fedlib.experiments.ResultsStore`: JSON files
  named by config hash, written atomically), so an interrupted sweep (Ctrl-C, a dead machine, a lost scheduler)
  leaves only complete results; rerunning the same sweep loads them and runs the rest. A corrupt file is moved
  aside and its run repeated, wherever it is found (here before submitting, or by the worker that writes it).
* A run that raises, or whose worker process dies, is submitted again up to ``retries`` more times (a
  worker death surfaces as Dask's ``KilledWorker``: the local cluster is started with
  ``distributed.scheduler.allowed-failures = 0`` so that every death is counted here, not retried silently);
  after the last attempt it is recorded as failed, with its error, in the report and in
  ``<results_dir>/failed/<hash>.json``. Failed runs never stop the others.
* Each attempt is a fresh Dask task with its own key, so a late answer from a worker believed dead cannot be
  confused with a retry's; two writers of one hash each rename a complete file, so the result stays valid.
* An existing cluster (``scheduler=``) is checked before anything is submitted, and watched while runs are in
  flight (:mod:`fedlib.sweep._dask`): a cluster that cannot run the sweep, or a scheduler lost mid-sweep, raises
  :class:`~fedlib.errors.ClusterError`; what finished is saved.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback as _tb
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .._checks import check_int
from ..errors import InputTypeError
from ._cluster import scheduler_address
from ._dask import Outcomes, describe, run_dask
from ._report import Failure, Progress, SweepReport

if TYPE_CHECKING:
    from ..experiments import ResultsStore


# ----------------------------------------------------------------------------------------------- client side
def run_experiments(
    experiments: Sequence,
    results_dir="results",
    *,
    n_workers: int = 2,
    threads_per_worker: int = 1,
    scheduler: str | None = None,
    retries: int = 2,
    progress: bool = True,
) -> SweepReport:
    """Run every experiment whose result is not cached; return all results in input order.

    Args:
        experiments: :class:`~fedlib.experiments.Experiment` objects (e.g. from :func:`expand`); duplicates
            run once.
        results_dir: the results store's folder (``<results_dir>/<config hash>.json``); valid files are loaded,
            not re-run; corrupt ones are moved aside and re-run. Every result is written there: by the local
            cluster's workers directly, or, from a cluster given by ``scheduler``, sent back and written here.
        n_workers: worker processes of the local Dask cluster; ``0`` runs everything in this process, one
            after the other (no Dask).
        threads_per_worker: torch threads each run uses (set in every worker, and in this process for the
            serial path, then restored). The same value gives bit-identical results on every path (on one
            kind of CPU: another instruction set rounds differently, see ``fedlib.experiments.versions``).
        scheduler: address of an existing Dask scheduler (``tcp://HOST:8786``, started with ``dask scheduler``
            and ``dask worker``); ``n_workers`` is then ignored. Before anything is submitted, the address must
            answer as a Dask scheduler and every worker must import this fedlib (same version and sources), else
            :class:`~fedlib.errors.ClusterError`; a malformed address is a :class:`~fedlib.errors.ConfigError`.
        retries: how many more times a run that raised, or whose worker died, is submitted before it is
            recorded as failed.
        progress: show a tqdm bar (done / failed / remaining) and print the dashboard address.

    Returns:
        A :class:`SweepReport`; ``report.results[i]`` is the result of ``experiments[i]`` (None if it failed;
        see ``report.failures``). Failures do not raise: call ``report.raise_for_failures()`` for that. A cluster
        that cannot be used, or is lost, raises :class:`~fedlib.errors.ClusterError` (finished results are saved).

    Example:
        >>> from fedlib.sweep import expand, run_experiments
        >>> exps = expand({"base": {"profile": "quick", "rounds": 2}, "grid": {"seed": [0, 1]}})
        >>> report = run_experiments(exps, "results", n_workers=0, progress=False)  # doctest: +SKIP
        >>> [r.best_val_accuracy for r in report.results]  # doctest: +SKIP
    """
    from ..experiments import ResultsStore

    start = time.perf_counter()
    experiments = _check_inputs(experiments)
    scheduler = None if scheduler is None else scheduler_address(scheduler)
    n_workers = check_int(n_workers, "n_workers", minimum=0)
    threads_per_worker = check_int(threads_per_worker, "threads_per_worker", minimum=1)
    retries = check_int(retries, "retries", minimum=0)
    store = ResultsStore(Path(results_dir).resolve())

    # One slot per distinct config: duplicates in the input share the result.
    first_index: dict[str, int] = {}
    for i, e in enumerate(experiments):
        first_index.setdefault(e.config_hash, i)
    report = SweepReport(results=[None] * len(experiments))
    by_hash, todo = _load_stored(experiments, first_index, store, report, progress)
    where = _where(scheduler, min(n_workers, len(todo)), threads_per_worker)
    _say(
        progress,
        f"sweep: {len(experiments)} experiment(s), {len(first_index)} distinct, {report.n_cached} cached, "
        f"{len(todo)} to run" + (f" on {where}" if todo else ""),
    )
    plan = (n_workers, threads_per_worker, scheduler, retries)
    _execute(todo, store, plan, report, progress, lambda outcome: _collect(outcome, experiments, first_index, store,
                                                                          report, by_hash))  # fmt: skip
    report.failures.sort(key=lambda f: f.index)
    report.results = [by_hash.get(e.config_hash) for e in experiments]
    report.seconds = time.perf_counter() - start
    _say(progress, "sweep: " + report.summary())
    for f in report.failures:
        _say(progress, f"  failed #{f.index} ({f.experiment.config_hash[:12]}, {f.attempts} attempt(s)): {f.error}")
    return report


def _execute(todo, store: ResultsStore, plan: tuple, report: SweepReport, progress: bool, collect) -> None:
    """Run ``todo`` (``plan = (n_workers, threads, scheduler, retries)``) and hand the outcome to ``collect``."""
    n_workers, threads, scheduler, retries = plan
    bar = Progress(len(todo), progress)
    try:
        if todo:
            if scheduler is None and n_workers == 0:
                outcome = _run_serial(todo, store, threads, retries, bar)
            else:
                outcome = run_dask(todo, store, plan, bar, report, lambda message: _say(progress, message))
            collect(outcome)
    except KeyboardInterrupt:
        bar.close()
        _say(True, "sweep interrupted: finished results are saved; run the same sweep again to continue.")
        raise
    finally:
        bar.close()  # before any error's message (a lost cluster) is printed


def run_missing(
    experiments: Sequence,
    results_dir,
    *,
    device: str = "auto",
    n_workers: int | None = None,
    progress: bool = False,
) -> SweepReport:
    """Compute what ``results_dir`` lacks of ``experiments`` (stored results are checked and kept; corrupt ones are
    moved aside and run again), raising :class:`SweepFailedError` if a run fails; then every result is there for
    :func:`fedlib.report.results.collect` to read.

    Runs on a local Dask cluster of ``n_workers`` processes (default: up to two, one per core), or in this process
    when fewer than four are missing (starting a cluster costs more than it saves). ``device`` replaces each
    experiment's device for the runs (it never changes a config hash).

    Example:
        >>> import tempfile
        >>> from fedlib.sweep import run_missing
        >>> run_missing([], tempfile.mkdtemp()).summary()
        '0/0 results (0 cached, 0 run, 0 failed) in 0.0 s'
    """
    from ..experiments import ResultsStore

    experiments = [e if device == "auto" else e.replace(device=device) for e in _check_inputs(experiments)]
    todo = len(ResultsStore(results_dir).missing(experiments))
    workers = n_workers if n_workers is not None else min(2, os.cpu_count() or 1)
    if todo < 4:
        workers = 0
    return run_experiments(experiments, results_dir, n_workers=workers, progress=progress).raise_for_failures()


def _where(scheduler: str | None, n_workers: int, threads_per_worker: int) -> str:
    """Where the sweep's runs execute, for the progress message."""
    if scheduler is not None:
        return scheduler
    if n_workers == 0:
        return "this process"
    return f"a local Dask cluster ({n_workers} workers × {threads_per_worker} thread)"


def _check_inputs(experiments) -> list:
    from ..experiments import Experiment

    experiments = list(experiments)
    for i, e in enumerate(experiments):
        if not isinstance(e, Experiment):
            raise InputTypeError(
                f"experiments[{i}]: expected a fedlib.experiments.Experiment; found {type(e).__name__}."
            )
    return experiments


def _load_stored(experiments, first_index, store: ResultsStore, report, progress) -> tuple:
    """Valid stored results by hash, and the experiments still to run (corrupt files are moved aside, reported)."""
    by_hash: dict[str, object] = {}
    todo = []
    for h, i in first_index.items():
        seen = len(store.quarantined)
        cached = store.get(experiments[i], on_corrupt="quarantine")
        for problem in store.quarantined[seen:]:
            report.corrupt.append(problem)
            _say(progress, f"corrupt result: {problem}")
        if cached is not None:
            by_hash[h] = cached
            report.n_cached += 1
        else:
            todo.append(experiments[i])
    report.n_ran = len(todo)
    return by_hash, todo


def _collect(outcome, experiments, first_index, store: ResultsStore, report, by_hash) -> None:
    """Keep each run's result, or record its failure (in the report and in the store's ``failed/`` folder)."""
    for h, (result, attempts, failure) in outcome.items():
        report.attempts[h] = attempts
        exp = experiments[first_index[h]]
        if result is not None:
            by_hash[h] = result
            store.clear_failure(exp)
        else:
            err, tb = failure
            store.record_failure(exp, error=err, traceback=tb, attempts=attempts)
            report.failures.append(Failure(first_index[h], exp, err, tb, attempts))


def _say(enabled: bool, message: str) -> None:
    if enabled:
        from tqdm.auto import tqdm

        tqdm.write(message, file=sys.stdout)


# ----------------------------------------------------------------------------------------------- serial path
@contextlib.contextmanager
def _torch_threads(n: int):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _run_serial(todo, store: ResultsStore, threads: int, retries: int, bar: Progress) -> Outcomes:
    from ..experiments import run

    outcome: Outcomes = {}
    with _torch_threads(threads):
        for exp in todo:
            for attempt in range(1, retries + 2):
                try:
                    result = run(exp, store.folder, progress=False, repair=True)
                except Exception as err:  # noqa: BLE001  (recorded, retried, then reported: never swallowed)
                    failure = (describe(err), _tb.format_exc())
                    if attempt <= retries:
                        bar.retry(
                            f"retrying {exp.config_hash[:12]} (attempt {attempt + 1}/{retries + 1}) after {failure[0]}"
                        )
                        continue
                    outcome[exp.config_hash] = (None, attempt, failure)
                    bar.finished(False)
                    break
                outcome[exp.config_hash] = (result, attempt, None)
                bar.finished(True)
                break
    return outcome
