"""Run many experiments: cached ones are loaded, the rest run serially or on Dask (local or remote cluster).

Fault model:

* Results are JSON files named by config hash and written atomically by :func:`fedlib.experiments.run`, so
  an interrupted sweep (Ctrl-C, a dead machine) leaves only complete results; rerunning the same sweep loads
  them and runs the rest.
* A run that raises, or whose worker process dies, is submitted again up to ``retries`` more times (a
  worker death surfaces as Dask's ``KilledWorker``: the local cluster is started with
  ``distributed.scheduler.allowed-failures = 0`` so that every death is counted here, not retried silently);
  after the last attempt it is recorded as failed, with its error, in the report and in
  ``<results_dir>/failed/<hash>.json``. Failed runs never stop the others.
* Each attempt is a fresh Dask task with its own key, so a late answer from a worker believed dead cannot be
  confused with a retry's; two writers of one hash each rename a complete file, so the result stays valid.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import traceback as _tb
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .._checks import check_int
from ..errors import ConfigError, FedlibError, InputTypeError
from . import _store

if TYPE_CHECKING:
    from ..experiments import Experiment, Result

#: config hash -> (result or None, attempts made, (error, traceback) or None)
Outcomes = dict[str, "tuple[Result | None, int, tuple[str, str] | None]"]

WORKER_CACHE = "fedlib-sweep-results"
CONNECT_TIMEOUT = "30s"  # how long to wait for an existing scheduler before giving up


class SweepFailedError(FedlibError, RuntimeError):
    """Some runs of a sweep failed after all their retries (raised by :meth:`SweepReport.raise_for_failures`)."""


@dataclass(frozen=True)
class Failure:
    """One experiment that failed after ``attempts`` attempts; ``error`` is ``"Type: message"``."""

    index: int
    experiment: Experiment
    error: str
    traceback: str
    attempts: int


@dataclass
class SweepReport:
    """What :func:`run_experiments` did.

    Attributes:
        results: one entry per input experiment, in input order: its :class:`~fedlib.experiments.Result`, or
            None if it failed (duplicated configs share one result).
        failures: the failed experiments, with their errors.
        n_cached: distinct experiments whose valid result was already on disk.
        n_ran: distinct experiments run (successfully or not) by this call.
        attempts: config hash → number of attempts, for the experiments this call ran.
        corrupt: problems found in cached files (each moved aside to ``*.corrupt`` and run again).
        dashboard: the Dask dashboard address, or None (serial run, or nothing to run).
        seconds: wall-clock time of the call.
    """

    results: list[object | None]
    failures: list[Failure] = field(default_factory=list)
    n_cached: int = 0
    n_ran: int = 0
    attempts: dict[str, int] = field(default_factory=dict)
    corrupt: list[str] = field(default_factory=list)
    dashboard: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every experiment has a result."""
        return not self.failures

    def raise_for_failures(self) -> SweepReport:
        """Raise :class:`SweepFailedError` listing the failures, if any; otherwise return ``self``."""
        if self.failures:
            lines = [
                f"  #{f.index} {f.experiment.config_hash[:12]} after {f.attempts} attempt(s): {f.error}"
                for f in self.failures
            ]
            raise SweepFailedError(
                f"{len(self.failures)} of {len(self.results)} experiment(s) failed:\n" + "\n".join(lines)
            )
        return self

    def summary(self) -> str:
        done = sum(r is not None for r in self.results)
        return (
            f"{done}/{len(self.results)} results ({self.n_cached} cached, {self.n_ran} run, "
            f"{len(self.failures)} failed) in {self.seconds:.1f} s"
        )


# ----------------------------------------------------------------------------------------------- worker side
def _run_on_worker(config: dict, results_dir: str | None, threads: int) -> str:
    """Run one experiment where this function is called (a Dask worker) and return its result file's JSON text.

    ``results_dir=None`` (a remote cluster) writes to the worker's own temporary folder; the client validates
    the text and stores it, so no shared filesystem is needed.
    """
    import tempfile

    import torch

    from ..experiments import Experiment, result_path, run

    torch.set_num_threads(threads)
    experiment = Experiment.from_dict(config)
    where = results_dir or os.path.join(tempfile.gettempdir(), WORKER_CACHE)
    run(experiment, where, progress=False)
    return Path(result_path(experiment, where)).read_text()


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
        results_dir: the results cache (``<results_dir>/<config hash>.json``); valid files are loaded, not
            re-run; corrupt ones are moved aside and re-run.
        n_workers: worker processes of the local Dask cluster; ``0`` runs everything in this process, one
            after the other (no Dask).
        threads_per_worker: torch threads each run uses (set in every worker, and in this process for the
            serial path, then restored). The same value gives bit-identical results on every path (on one
            kind of CPU: another instruction set rounds differently, see ``fedlib.experiments.versions``).
        scheduler: address of an existing Dask scheduler (``tcp://HOST:8786``, started with ``dask scheduler``
            and ``dask worker``); ``n_workers`` is then ignored. The results come back to this machine.
        retries: how many more times a run that raised, or whose worker died, is submitted before it is
            recorded as failed.
        progress: show a tqdm bar (done / failed / remaining) and print the dashboard address.

    Returns:
        A :class:`SweepReport`; ``report.results[i]`` is the result of ``experiments[i]`` (None if it failed;
        see ``report.failures``). Failures do not raise: call ``report.raise_for_failures()`` for that.

    Example:
        >>> from fedlib.sweep import expand, run_experiments
        >>> exps = expand({"base": {"profile": "quick", "rounds": 2}, "grid": {"seed": [0, 1]}})
        >>> report = run_experiments(exps, "results", n_workers=0, progress=False)  # doctest: +SKIP
        >>> [r.best_val_accuracy for r in report.results]  # doctest: +SKIP
    """
    start = time.perf_counter()
    experiments = _check_inputs(experiments, scheduler)
    n_workers = check_int(n_workers, "n_workers", minimum=0)
    threads_per_worker = check_int(threads_per_worker, "threads_per_worker", minimum=1)
    retries = check_int(retries, "retries", minimum=0)
    results_dir = Path(results_dir).resolve()

    # One slot per distinct config: duplicates in the input share the result.
    first_index: dict[str, int] = {}
    for i, e in enumerate(experiments):
        first_index.setdefault(e.config_hash, i)
    report = SweepReport(results=[None] * len(experiments))
    by_hash, todo = _load_cached(experiments, first_index, results_dir, report, progress)
    where = _where(scheduler, min(n_workers, len(todo)), threads_per_worker)
    _say(
        progress,
        f"sweep: {len(experiments)} experiment(s), {len(first_index)} distinct, {report.n_cached} cached, "
        f"{len(todo)} to run" + (f" on {where}" if todo else ""),
    )
    bar = _Progress(len(todo), progress)
    try:
        if todo:
            if scheduler is None and n_workers == 0:
                outcome = _run_serial(todo, results_dir, threads_per_worker, retries, bar)
            else:
                outcome = _run_dask(
                    todo, results_dir, n_workers, threads_per_worker, scheduler, retries, bar, progress, report
                )
            _collect(outcome, experiments, first_index, results_dir, report, by_hash)
    except KeyboardInterrupt:
        bar.close()
        _say(True, "sweep interrupted: finished results are saved; run the same sweep again to continue.")
        raise
    bar.close()
    report.failures.sort(key=lambda f: f.index)
    report.results = [by_hash.get(e.config_hash) for e in experiments]
    report.seconds = time.perf_counter() - start
    _say(progress, "sweep: " + report.summary())
    for f in report.failures:
        _say(progress, f"  failed #{f.index} ({f.experiment.config_hash[:12]}, {f.attempts} attempt(s)): {f.error}")
    return report


def _where(scheduler: str | None, n_workers: int, threads_per_worker: int) -> str:
    """Where the sweep's runs execute, for the progress message."""
    if scheduler is not None:
        return scheduler
    if n_workers == 0:
        return "this process"
    return f"a local Dask cluster ({n_workers} workers × {threads_per_worker} thread)"


def _check_inputs(experiments, scheduler) -> list:
    from ..experiments import Experiment

    experiments = list(experiments)
    for i, e in enumerate(experiments):
        if not isinstance(e, Experiment):
            raise InputTypeError(
                f"experiments[{i}]: expected a fedlib.experiments.Experiment; found {type(e).__name__}."
            )
    if scheduler is not None and not isinstance(scheduler, str):
        raise InputTypeError(f"scheduler: expected an address string like 'tcp://HOST:8786'; found {scheduler!r}.")
    return experiments


def _load_cached(experiments, first_index, results_dir, report, progress) -> tuple:
    """Valid cached results by hash, and the experiments still to run (corrupt files are reported)."""
    by_hash: dict[str, object] = {}
    todo = []
    for h, i in first_index.items():
        cached, problem = _store.load_cached(experiments[i], results_dir)
        if problem:
            report.corrupt.append(problem)
            _say(progress, f"corrupt result: {problem}")
        if cached is not None:
            by_hash[h] = cached
            report.n_cached += 1
        else:
            todo.append(experiments[i])
    report.n_ran = len(todo)
    return by_hash, todo


def _collect(outcome, experiments, first_index, results_dir, report, by_hash) -> None:
    """Store each run's result, or record its failure (in the report and under results_dir/failed)."""
    for h, (result, attempts, failure) in outcome.items():
        report.attempts[h] = attempts
        exp = experiments[first_index[h]]
        if result is not None:
            by_hash[h] = result
            _store.clear_failure(exp, results_dir)
        else:
            err, tb = failure
            _store.write_failure(exp, results_dir, error=err, traceback=tb, attempts=attempts)
            report.failures.append(Failure(first_index[h], exp, err, tb, attempts))


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


def _say(enabled: bool, message: str) -> None:
    if enabled:
        from tqdm.auto import tqdm

        tqdm.write(message, file=sys.stdout)


class _Progress:
    """A tqdm bar counting finished runs, with done / failed / remaining in its postfix."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.done, self.failed, self.retried = total, 0, 0, 0
        self.bar = None
        if enabled and total:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc="sweep", unit="run", file=sys.stdout, dynamic_ncols=True)
            self._post()

    def _post(self) -> None:
        if self.bar is not None:
            self.bar.set_postfix(
                done=self.done, failed=self.failed, remaining=self.total - self.done - self.failed, retried=self.retried
            )

    def finished(self, ok: bool) -> None:
        if ok:
            self.done += 1
        else:
            self.failed += 1
        if self.bar is not None:
            self.bar.update(1)
            self._post()

    def retry(self, message: str) -> None:
        self.retried += 1
        if self.bar is not None:
            self.bar.write(message, file=sys.stdout)
            self._post()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


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


def _run_serial(todo, results_dir: Path, threads: int, retries: int, bar: _Progress) -> Outcomes:
    from ..experiments import run

    outcome: Outcomes = {}
    with _torch_threads(threads):
        for exp in todo:
            for attempt in range(1, retries + 2):
                try:
                    result = run(exp, results_dir, progress=False)
                except Exception as err:  # noqa: BLE001  (recorded, retried, then reported: never swallowed)
                    failure = (_describe(err), _tb.format_exc())
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


# ----------------------------------------------------------------------------------------------- Dask path
@contextlib.contextmanager
def _client(n_workers: int, threads: int, scheduler: str | None):
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ConfigError(
            "sweeps on worker processes or a cluster need Dask: pip install 'fedlib-ndss21[sweep]' "
            f"(missing: {exc.name}); n_workers=0 runs the experiments one after the other without it."
        ) from exc

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except OSError as err:
            raise OSError(
                f"could not reach the Dask scheduler at {scheduler!r} within {CONNECT_TIMEOUT} ({err}); "
                "is `dask scheduler` running there, and is the port open?"
            ) from err
        try:
            yield client
        finally:
            client.close()
        return
    env = {name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    # allowed-failures=0: a worker death fails its task at once, and this module's retry loop counts it.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
            env=env,
        )
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def _dashboard(client) -> str | None:
    link = getattr(client, "dashboard_link", None)
    if not link:
        return None
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return f"{link} (live plots need `pip install 'bokeh>=3.1'`; the /info pages work without it)"
    return link


def _run_dask(
    todo,
    results_dir: Path,
    n_workers: int,
    threads: int,
    scheduler: str | None,
    retries: int,
    bar: _Progress,
    progress: bool,
    report: SweepReport,
):
    from distributed import as_completed

    n_workers = max(1, min(n_workers, len(todo)))
    worker_dir = None if scheduler is not None else str(results_dir)
    outcome = {}
    with _client(n_workers, threads, scheduler) as client:
        report.dashboard = _dashboard(client)
        _say(progress, f"dask dashboard: {report.dashboard or 'none (the scheduler runs without one; it needs bokeh)'}")
        meta = {}

        def submit(exp, attempt):
            fut = client.submit(
                _run_on_worker,
                exp.to_dict(),
                worker_dir,
                threads,
                pure=False,
                key=f"fedlib-run-{exp.config_hash[:16]}-attempt{attempt}",
            )
            meta[fut.key] = (exp, attempt)
            return fut

        pending = as_completed([submit(exp, 1) for exp in todo])
        try:
            for fut in pending:
                exp, attempt = meta.pop(fut.key)
                err = _future_error(fut)
                result = None
                if err is None:
                    try:
                        result = _store.store_text(exp, results_dir, fut.result())
                    except Exception as store_err:  # noqa: BLE001  (a bad result file counts as a failed attempt)
                        err = (_describe(store_err), _tb.format_exc())
                fut.release()
                if err is None:
                    outcome[exp.config_hash] = (result, attempt, None)
                    bar.finished(True)
                elif attempt <= retries:
                    bar.retry(f"retrying {exp.config_hash[:12]} (attempt {attempt + 1}/{retries + 1}) after {err[0]}")
                    pending.add(submit(exp, attempt + 1))
                else:
                    outcome[exp.config_hash] = (None, attempt, err)
                    bar.finished(False)
        except BaseException:
            for fut in list(pending.futures):
                fut.cancel()
            raise
    return outcome


def _future_error(fut):
    """``None`` for a finished future, else ``("Type: message", traceback text)``."""
    if fut.status == "finished":
        return None
    if fut.status == "cancelled":  # the scheduler lost the task (e.g. it restarted): one failed attempt
        return f"CancelledError: task {fut.key} was cancelled by the scheduler", ""
    exc = fut.exception()
    tb = fut.traceback()
    text = "".join(_tb.format_exception(type(exc), exc, tb)) if tb is not None else ""
    return _describe(exc), text
