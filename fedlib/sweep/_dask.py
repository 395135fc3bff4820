"""The sweep on Dask: a local cluster of worker processes, or an existing cluster checked before use and watched.

* Local cluster (``scheduler=None``): worker processes of this Python, started with
  ``distributed.scheduler.allowed-failures = 0`` so that every worker death fails its task at once and the
  sweep's retry loop counts it. They write into the results store directly (same machine).
* Existing cluster (``scheduler="tcp://HOST:PORT"``): before submitting, :func:`fedlib.sweep._cluster.identify`
  (a Dask scheduler answers there, within :data:`CONNECT_TIMEOUT`), at least one worker within
  :data:`WORKER_WAIT`, and :func:`fedlib.sweep._cluster.check_workers` (each imports this fedlib, the same
  sources). The workers write nothing: each sends its result's JSON text back and this process validates it and
  puts it in the store, so no shared folder is needed and no worker keeps results of its own.
* While runs are in flight the cluster is looked at every :data:`POLL` seconds: a worker that leaves is named,
  one that joins is checked like the first ones, a cluster without workers for :data:`WORKER_WAIT` seconds and a
  lost scheduler end the sweep with :class:`~fedlib.errors.ClusterError` (finished results are saved).
* Each task checks on its worker that the worker runs the client's fedlib sources before it computes anything.
"""

from __future__ import annotations

import contextlib
import logging
import time
import traceback as _tb
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ClusterError, ConfigError
from . import _cluster

if TYPE_CHECKING:
    from ..experiments import Result, ResultsStore
    from ._report import Progress, SweepReport

#: config hash -> (result or None, attempts made, (error, traceback) or None)
Outcomes = dict[str, "tuple[Result | None, int, tuple[str, str] | None]"]

CONNECT_TIMEOUT = 30.0  # seconds to reach the scheduler, and for the workers to answer fedlib's check
RECONNECT = 5.0  # seconds a client tries each connection to the scheduler (and to reconnect to a lost one)
WORKER_WAIT = 10.0  # seconds a cluster may have no worker before the sweep stops
POLL = 1.0  # seconds between looks at the cluster while runs are in flight
RUN_AGAIN = "finished results are saved: run the same command again to continue"


def describe(err: BaseException) -> str:
    """``"Type: message"``."""
    return f"{type(err).__name__}: {err}"


# ----------------------------------------------------------------------------------------------- worker side
def run_on_worker(config: dict, results_dir: str | None, threads: int, code: str) -> str:
    """Run one experiment where this function is called (a Dask worker) and return its result file's JSON text.

    ``results_dir`` (the local cluster): the result is also written into that store (a corrupt file there is
    moved aside and recomputed). ``None`` (an existing cluster): nothing is written on the worker; the client
    stores the text. ``code`` is the client's :func:`~fedlib.sweep._cluster.code_fingerprint`: a worker whose
    fedlib sources differ refuses the run.
    """
    import torch

    from ..experiments import Experiment, run

    mine = _cluster.code_fingerprint()
    if mine != code:
        raise ClusterError(f"this worker runs other fedlib sources (fingerprint {mine}; the client's {code}).")
    torch.set_num_threads(threads)
    result = run(Experiment.from_dict(config), results_dir, progress=False, repair=True)
    return result.to_json()


# ----------------------------------------------------------------------------------------------- the cluster
@dataclass
class Cluster:
    """A connected client; ``local``: a cluster this process started; ``workers``: address → name last seen;
    ``notes``: what the check of the workers found worth saying (another torch)."""

    client: Any
    address: str
    local: bool
    workers: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    empty_since: float | None = None
    last_look: float = 0.0


@contextlib.contextmanager
def open_cluster(n_workers: int, threads: int, scheduler: str | None) -> Iterator[Cluster]:
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ConfigError(
            "sweeps on worker processes or a cluster need Dask: pip install 'fedlib-ndss21[sweep]' "
            f"(missing: {exc.name}); n_workers=0 runs the experiments one after the other without it."
        ) from exc
    if scheduler is not None:
        with _existing(Client, scheduler) as cluster:
            yield cluster
        return
    env = {name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    # allowed-failures=0: a worker death fails its task at once, and the sweep's retry loop counts it.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        local = LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
            env=env,
        )
    client = Client(local)
    try:
        workers = _cluster.worker_names(client, CONNECT_TIMEOUT)
        yield Cluster(client, local.scheduler_address, local=True, workers=workers)
    finally:
        client.close()
        local.close()


@contextlib.contextmanager
def _existing(client_class, address: str) -> Iterator[Cluster]:
    """Connect to the cluster at ``address`` after checking it (see the module docstring)."""
    if address.startswith("tcp://"):
        _cluster.identify(address, CONNECT_TIMEOUT)
    client = _connect(client_class, address)
    try:
        try:
            client.wait_for_workers(1, timeout=WORKER_WAIT)
        except (TimeoutError, OSError) as err:
            raise ClusterError(
                f"the Dask scheduler at {address} has no worker (waited {WORKER_WAIT:g} s): start them with "
                f"`dask worker {address}` where this fedlib is installed."
            ) from err
        notes = [f"dask worker {note}" for note in _cluster.check_workers(client, address, CONNECT_TIMEOUT)]
        yield Cluster(client, address, local=False, workers=_cluster.worker_names(client, CONNECT_TIMEOUT), notes=notes)
    finally:
        _close(client)


def _connect(client_class, address: str):
    """A client of the scheduler at ``address``, connected within :data:`CONNECT_TIMEOUT`. Each attempt has
    :data:`RECONNECT` seconds: the client's timeout is also how long it tries to reconnect to a lost scheduler,
    which only delays the end of a sweep whose runs the scheduler's loss has cancelled anyway."""
    deadline = time.monotonic() + CONNECT_TIMEOUT
    while True:
        try:
            return client_class(address, timeout=f"{RECONNECT}s")
        except OSError as err:
            if time.monotonic() >= deadline:
                raise ClusterError(
                    f"could not reach the Dask scheduler at {address} within {CONNECT_TIMEOUT:g} s ({err})."
                ) from err


def _close(client) -> None:
    """Close ``client``; one whose scheduler is gone is closed without Dask's log of its reconnection attempts
    (the sweep says what happened in one line)."""
    quiet = client.status != "running"
    loggers = [logging.getLogger(name) for name in ("distributed.client", "distributed.utils")]
    levels = [logger.level for logger in loggers]
    try:
        if quiet:
            for logger in loggers:
                logger.setLevel(logging.CRITICAL)
        with contextlib.suppress(Exception):  # a client whose scheduler is gone may fail to close cleanly
            client.close(timeout=RECONNECT + 1)
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _lost(cluster: Cluster, finished: int, total: int) -> ClusterError:
    return ClusterError(
        f"lost the Dask scheduler at {cluster.address} mid-sweep ({finished} of {total} runs finished); {RUN_AGAIN}."
    )


def look(cluster: Cluster, say: Callable[[str], None], notes: list[str], *, force: bool = False) -> None:
    """Name the workers that left or joined since the last look (checking the new ones); raise ClusterError when
    the cluster has had no worker for :data:`WORKER_WAIT` seconds. Looks at most every :data:`POLL` seconds
    unless ``force`` (the last look, once every run has finished, so that no departure goes unnamed)."""
    now = time.monotonic()
    if not force and now - cluster.last_look < POLL:
        return
    cluster.last_look = now
    try:
        workers = _cluster.worker_names(cluster.client)
    except OSError:  # busy, or gone: the sweep's loop tells them apart by the client's connection
        return
    for address in sorted(set(cluster.workers) - set(workers)):
        note = f"dask worker {_cluster.describe_worker(address, cluster.workers[address])} left the cluster"
        notes.append(note)
        say(note + ("; its run in flight, if any, is submitted again" if workers else ""))
    joined = sorted(set(workers) - set(cluster.workers))
    if joined and not cluster.local:
        for note in _cluster.check_workers(cluster.client, cluster.address, CONNECT_TIMEOUT, joined):
            notes.append(f"dask worker {note}")
            say(notes[-1])
    for address in joined:
        notes.append(f"dask worker {_cluster.describe_worker(address, workers[address])} joined the cluster")
    cluster.workers = workers
    if workers:
        cluster.empty_since = None
    elif cluster.empty_since is None:
        cluster.empty_since = now
    elif now - cluster.empty_since > WORKER_WAIT:
        raise ClusterError(
            f"the Dask cluster at {cluster.address} has had no worker for {WORKER_WAIT:g} s; start workers "
            f"(`dask worker {cluster.address}`); {RUN_AGAIN}."
        )


# ----------------------------------------------------------------------------------------------- the runs
def run_dask(todo, store: ResultsStore, plan: tuple, bar: Progress, report: SweepReport, say) -> Outcomes:
    """Run ``todo`` on Dask (``plan = (n_workers, threads, scheduler, retries)``); the outcome of each run."""
    n_workers, threads, scheduler, retries = plan
    n_workers = max(1, min(n_workers, len(todo)))
    with open_cluster(n_workers, threads, scheduler) as cluster:
        for note in cluster.notes:
            report.notes.append(note)
            say(note)
        report.dashboard = _dashboard(cluster.client)
        say(f"dask dashboard: {report.dashboard or 'none (the scheduler runs without one; it needs bokeh)'}")
        return _submit_and_collect(cluster, todo, store, threads, retries, bar, report, say)


def _submit_and_collect(cluster: Cluster, todo, store, threads, retries, bar, report, say) -> Outcomes:
    from distributed import wait
    from distributed.utils import CancelledError  # what wait() raises when the scheduler cancelled futures

    client = cluster.client
    worker_dir = str(store.folder) if cluster.local else None
    code = _cluster.code_fingerprint()
    meta: dict[str, tuple] = {}
    outcome: Outcomes = {}

    def submit(exp, attempt):
        key = f"fedlib-run-{exp.config_hash[:16]}-attempt{attempt}"
        fut = client.submit(run_on_worker, exp.to_dict(), worker_dir, threads, code, pure=False, key=key)
        meta[fut.key] = (exp, attempt)
        return fut

    pending = {submit(exp, 1) for exp in todo}
    try:
        while pending:
            with contextlib.suppress(TimeoutError, CancelledError):
                wait(list(pending), timeout=POLL, return_when="FIRST_COMPLETED")
            if client.status != "running":
                raise _lost(cluster, len(outcome), len(todo))
            for fut in [f for f in pending if f.done()]:
                pending.discard(fut)
                exp, attempt = meta.pop(fut.key)
                result, err = _attempt(fut, store, exp)
                if client.status != "running":  # a cancelled future: the scheduler went away under it
                    raise _lost(cluster, len(outcome), len(todo))
                if err is not None and attempt <= retries:
                    bar.retry(f"retrying {exp.config_hash[:12]} (attempt {attempt + 1}/{retries + 1}) after {err[0]}")
                    pending.add(submit(exp, attempt + 1))
                else:
                    outcome[exp.config_hash] = (result, attempt, err)
                    bar.finished(err is None)
            look(cluster, say, report.notes)
        look(cluster, say, report.notes, force=True)
    except BaseException:
        with contextlib.suppress(Exception):
            client.cancel(list(pending))
        raise
    return outcome


def _attempt(fut, store: ResultsStore, exp) -> tuple[Result | None, tuple[str, str] | None]:
    """(the stored Result, None) for a finished attempt, (None, ``("Type: message", traceback)``) for a failed one."""
    failure = _future_error(fut)
    try:
        if failure is None:
            return store.put_text(exp, fut.result()), None
    except Exception as store_err:  # noqa: BLE001  (a bad result file counts as a failed attempt)
        failure = (describe(store_err), _tb.format_exc())
    finally:
        fut.release()
    return None, failure


def _future_error(fut):
    """``None`` for a finished future, else ``("Type: message", traceback text)``."""
    if fut.status == "finished":
        return None
    if fut.status == "cancelled":  # the scheduler lost the task (e.g. it restarted): one failed attempt
        return f"CancelledError: task {fut.key} was cancelled by the scheduler", ""
    exc = fut.exception()
    tb = fut.traceback()
    text = "".join(_tb.format_exception(type(exc), exc, tb)) if tb is not None else ""
    return describe(exc), text


def _dashboard(client) -> str | None:
    link = getattr(client, "dashboard_link", None)
    if not link:
        return None
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return f"{link} (live plots need `pip install 'bokeh>=3.1'`; the /info pages work without it)"
    return link
