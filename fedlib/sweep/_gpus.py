"""Running a reproduction's experiments: one Dask worker per GPU when a machine has several (:func:`gpu_cluster`),
else in this process or on an existing cluster (:func:`run_sweep`)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator

from ..experiments._reproduction import Reproduction, with_data_root


def gpu_workers(device: str, scheduler: str | None, count: Callable[[], int] | None = None) -> int:
    """Local Dask workers to start, one per GPU: the number of visible GPUs when ``device`` is ``cuda`` or
    ``auto``, no ``scheduler`` is given and there is more than one GPU (``count`` defaults to
    ``torch.cuda.device_count``); else 0 (one GPU or a CPU: the runs go one after the other in this process).

    Example:
        >>> from fedlib.sweep import gpu_workers
        >>> gpu_workers("cuda", None, count=lambda: 4), gpu_workers("cuda", None, count=lambda: 1)
        (4, 0)
        >>> gpu_workers("cuda", "tcp://host:8786", count=lambda: 4), gpu_workers("cpu", None, count=lambda: 4)
        (0, 0)
    """
    if scheduler is not None or device not in ("cuda", "auto"):
        return 0
    if count is None:
        import torch

        count = torch.cuda.device_count
    n = int(count())
    return n if n > 1 else 0


def gpu_worker_env(n_gpus: int) -> list[dict[str, str]]:
    """The environment of each GPU worker: it sees only its own GPU (as ``cuda``), and one CPU thread."""
    one_thread = {name: "1" for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    return [{"CUDA_VISIBLE_DEVICES": str(i), **one_thread} for i in range(n_gpus)]


@contextlib.contextmanager
def gpu_cluster(n_gpus: int) -> Iterator[str]:
    """A local Dask cluster of one worker process per GPU (:func:`gpu_worker_env`); yields its address."""
    import logging

    import dask
    from distributed import Nanny, Scheduler, SpecCluster

    workers = {
        f"gpu{i}": {"cls": Nanny, "options": {"nthreads": 1, "env": env}}
        for i, env in enumerate(gpu_worker_env(n_gpus))
    }
    # allowed-failures=0, as fedlib.sweep's own cluster: a worker death fails its task and the sweep retries it.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = SpecCluster(
            workers=workers,
            scheduler={"cls": Scheduler, "options": {"dashboard_address": ":0"}},
            silence_logs=logging.ERROR,
        )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def run_sweep(
    rep: Reproduction,
    results_dir: os.PathLike | str,
    *,
    device: str = "auto",
    data_root: str | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    retries: int = 2,
    progress: bool = True,
):
    """Write the manifest and run every experiment of ``rep`` not yet in ``results_dir``; return the
    :class:`fedlib.sweep.SweepReport`. ``workers=None``: one local worker per GPU when several are present
    (:func:`gpu_workers`), else in this process; ``scheduler``: an existing Dask cluster. A scale reproduction
    writes no manifest: its folder holds the campaign's results only, in the profile's own setting."""
    from ._run import run_experiments

    if rep.profile != "scale":
        rep.save(results_dir)
    # Neither the device nor the data folder changes a result's hash.
    experiments = [with_data_root(e, data_root).replace(device=device) for e in rep.experiments()]
    n_gpus = gpu_workers(device, scheduler) if workers is None else 0
    if n_gpus:
        if progress:
            print(f"reproduce: one Dask worker per GPU ({n_gpus} GPUs)", flush=True)
        with gpu_cluster(n_gpus) as address:
            return run_experiments(experiments, results_dir, scheduler=address, retries=retries, progress=progress)
    return run_experiments(
        experiments, results_dir, n_workers=workers or 0, scheduler=scheduler, retries=retries, progress=progress
    )
