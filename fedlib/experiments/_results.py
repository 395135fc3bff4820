"""`run(experiment)`: train, or load the result from the results store (:mod:`fedlib.experiments.store`)."""

from __future__ import annotations

import math
import os
import platform
import time
from typing import Any

import torch

from .. import __version__
from ..errors import ConfigError, ResultFileError
from ._config import Experiment
from .store import SCHEMA_VERSION, Result, ResultsStore


def _finite_or_none(value: Any) -> Any:
    """JSON has no NaN/Inf: non-finite floats are stored as null (never silently as numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_or_none(v) for v in value]
    return value


def cpu_model() -> str:
    """The CPU's model name (Linux: ``/proc/cpuinfo``; elsewhere what :mod:`platform` reports)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions(device: str = "cpu") -> dict[str, str]:
    """Software versions and the hardware that computed a result.

    A result is bit-reproducible on one kind of processor with one number of torch threads: the BLAS and
    torch's vectorised reductions choose their kernels by instruction set (``cpu_capability``) and split sums
    between threads, so another CPU rounds the long dot products of the distance- and cosine-based rules
    differently, and an attacked run's halving search turns that into another trajectory after a few rounds
    (the book's *Reproducing* page gives the measured size). A file says which CPU (and GPU) computed it so
    that a reader comparing numbers knows whether to expect equality.

    Example:
        >>> from fedlib.experiments import versions
        >>> sorted(versions())
        ['cpu', 'cpu_capability', 'fedlib', 'python', 'torch']
    """
    out = {
        "fedlib": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return out


def _progress_callbacks(experiment: Experiment):
    from tqdm.auto import tqdm

    bar = tqdm(total=experiment.rounds, desc=f"{experiment.aggregator}/{experiment.attack}", unit="round")

    def on_round(t: int) -> None:
        bar.update(1)

    def on_eval(record: dict[str, Any]) -> None:
        bar.set_postfix(val_acc=f"{record['val_acc']:.1f}", refresh=False)

    return bar, on_round, on_eval


def run(
    experiment: Experiment,
    results_dir: str | os.PathLike | None = "results",
    *,
    progress: bool = False,
    force: bool = False,
    repair: bool = False,
    dataset=None,
) -> Result:
    """Run ``experiment`` (or load its stored result) and store ``<results_dir>/<config_hash>.json``.

    Args:
        experiment: what to run.
        results_dir: the results store's folder (:class:`~fedlib.experiments.store.ResultsStore`); ``None`` runs
            without reading or writing any file.
        progress: show a tqdm bar (round, validation accuracy, elapsed).
        force: re-run even if a result exists (the file is replaced atomically).
        repair: when the stored file is corrupt, move it aside (``<hash>.json.corrupt``) and re-run (else a
            corrupt file raises ResultFileError).
        dataset: an already loaded :class:`fedlib.data.Dataset` matching the experiment (saves reloading).

    Same config and seeds give the same result on CPU (all randomness comes from the experiment's seeds).
    """
    if not isinstance(experiment, Experiment):
        raise ConfigError(f"run() needs an Experiment; found {type(experiment).__name__}.")
    store = None if results_dir is None else ResultsStore(results_dir)
    if store is not None and not force:
        try:
            cached = store.get(experiment, on_corrupt="quarantine" if repair else "raise")
        except ResultFileError as exc:
            raise ResultFileError(
                f"{exc} Pass repair=True (`--repair` on the command line) to move it aside and run again."
            ) from exc
        if cached is not None:
            return cached

    from ..fl import train  # late: keeps `import fedlib.experiments` light

    bar = None
    on_round = on_eval = None
    if progress:
        bar, on_round, on_eval = _progress_callbacks(experiment)
    start = time.perf_counter()
    try:
        log = train(experiment, dataset=dataset, on_eval=on_eval, on_round=on_round)
    finally:
        if bar is not None:
            bar.close()
    best = log.best()
    timings = dict(log.timings, wall_s=time.perf_counter() - start)
    timings["per_round_s"] = timings["wall_s"] / max(1, timings["rounds_run"])
    payload = _finite_or_none(
        {
            "schema_version": SCHEMA_VERSION,
            "config": experiment.to_dict(),
            "config_hash": experiment.config_hash,
            "profile": experiment.profile,
            "best_val_accuracy": best["val_acc"],
            "test_accuracy_at_best": best["test_acc"],
            "best_round": best["round"],
            "final_accuracy": log.evals[-1]["test_acc"],
            "history": {"evals": log.evals, "rounds": log.rounds},
            "diverged": log.diverged,
            "diverged_round": log.diverged_round,
            "diverged_reason": log.diverged_reason,
            "n_parameters": log.n_parameters,
            "timings": timings,
            "versions": versions(log.device),
            "device": log.device,
        }
    )
    return Result(**payload) if store is None else store.put(payload)


__all__ = ["run", "versions"]
