"""`run(experiment)`: train or load from the cache ``<results_dir>/<config_hash>.json`` (atomic JSON writes)."""

from __future__ import annotations

import json
import math
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from .._io import atomic_write_json
from ..errors import ConfigError, ResultFileError
from ._config import Experiment

SCHEMA_VERSION = 1
_FIELDS = {  # key → allowed JSON types
    "schema_version": (int,),
    "config": (dict,),
    "config_hash": (str,),
    "profile": (str,),
    "best_val_accuracy": (int, float),
    "test_accuracy_at_best": (int, float),
    "best_round": (int,),
    "final_accuracy": (int, float),
    "history": (dict,),
    "diverged": (bool,),
    "diverged_round": (int, type(None)),
    "diverged_reason": (str, type(None)),
    "n_parameters": (int,),
    "timings": (dict,),
    "versions": (dict,),
    "device": (str,),
}


@dataclass(frozen=True)
class Result:
    """One finished run, exactly as stored in ``<results_dir>/<config_hash>.json``.

    Accuracies are percentages (0–100). ``best_val_accuracy`` / ``test_accuracy_at_best`` / ``best_round``
    describe the FL output model (highest validation accuracy, paper §II-A); ``final_accuracy`` is the test accuracy
    at the last evaluation. ``history = {"evals": [...], "rounds": [...]}`` (see :class:`fedlib.fl.TrainLog`).
    """

    config: dict[str, Any]
    config_hash: str
    profile: str
    best_val_accuracy: float
    test_accuracy_at_best: float
    best_round: int
    final_accuracy: float
    history: dict[str, list[dict[str, Any]]]
    diverged: bool
    diverged_round: int | None
    diverged_reason: str | None
    n_parameters: int
    timings: dict[str, float]
    versions: dict[str, str]
    device: str
    schema_version: int = SCHEMA_VERSION
    path: str | None = field(default=None, compare=False)

    @property
    def experiment(self) -> Experiment:
        return Experiment.from_dict(self.config)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("path")
        return out


def _finite_or_none(value: Any) -> Any:
    """JSON has no NaN/Inf: non-finite floats are stored as null (never silently as numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_or_none(v) for v in value]
    return value


def default_results_dir() -> Path:
    """The command line's results cache: ``$FEDLIB_RESULTS_DIR`` if set, else the user cache folder
    (``platformdirs.user_cache_path("fedlib") / "results"``, e.g. ``~/.cache/fedlib/results`` on Linux).

    Never the repository's committed ``results/`` folder: a command-line run must not add files to it.

    Example:
        >>> import os
        >>> os.environ["FEDLIB_RESULTS_DIR"] = "/tmp/my-results"
        >>> str(default_results_dir())
        '/tmp/my-results'
        >>> del os.environ["FEDLIB_RESULTS_DIR"]
    """
    env = os.environ.get("FEDLIB_RESULTS_DIR")
    if env:
        return Path(env)
    import platformdirs

    return platformdirs.user_cache_path("fedlib") / "results"


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


def load_result(path: str | os.PathLike) -> Result:
    """Read and validate a result file (schema and config hash); raise ResultFileError if it is corrupt,
    truncated, or does not match its own config.

    Example:
        >>> load_result("results/0000.json")  # doctest: +SKIP
    """
    path = Path(path)
    try:
        with open(path) as fh:
            payload = json.load(fh)
    except FileNotFoundError:
        raise
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ResultFileError(f"{path}: not valid JSON (corrupt or truncated): {exc}.") from exc
    if not isinstance(payload, dict):
        raise ResultFileError(f"{path}: expected a JSON object; found {type(payload).__name__}.")
    missing = sorted(set(_FIELDS) - set(payload))
    extra = sorted(set(payload) - set(_FIELDS))
    if missing or extra:
        raise ResultFileError(f"{path}: keys do not match the result schema; missing {missing}, unexpected {extra}.")
    for key, types in _FIELDS.items():
        if isinstance(payload[key], bool) and bool not in types:
            raise ResultFileError(f"{path}: {key} must be {[t.__name__ for t in types]}; found a bool.")
        if not isinstance(payload[key], types):
            raise ResultFileError(
                f"{path}: {key} must be {[t.__name__ for t in types]}; found {type(payload[key]).__name__}."
            )
    if payload["schema_version"] != SCHEMA_VERSION:
        raise ResultFileError(
            f"{path}: schema_version {payload['schema_version']}, this fedlib reads {SCHEMA_VERSION}."
        )
    history = payload["history"]
    if set(history) != {"evals", "rounds"} or not history["evals"]:
        raise ResultFileError(f"{path}: history must hold non-empty 'evals' and 'rounds' lists.")
    try:
        experiment = Experiment.from_dict(payload["config"])
    except ConfigError as exc:
        raise ResultFileError(f"{path}: the stored config is not a valid Experiment: {exc}") from exc
    if experiment.config_hash != payload["config_hash"]:
        raise ResultFileError(
            f"{path}: config_hash {payload['config_hash']} does not match its config "
            f"(recomputed {experiment.config_hash})."
        )
    _check_accuracies(payload, path)
    return Result(**payload, path=str(path))


ACCURACY_FIELDS = ("best_val_accuracy", "test_accuracy_at_best", "final_accuracy")


def _is_percentage(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0.0 <= value <= 100.0
    )


def _check_accuracies(payload: dict[str, Any], path: Path) -> None:
    """Accuracies must be finite percentages: ``json`` parses ``NaN``/``Infinity`` tokens, which fedlib never
    writes, so such a file was edited or corrupted and must not be read as data."""
    for name in ACCURACY_FIELDS:
        if not _is_percentage(payload[name]):
            raise ResultFileError(f"{path}: {name} must be a finite percentage in [0, 100]; found {payload[name]!r}.")
    for i, record in enumerate(payload["history"]["evals"]):
        for key in ("val_acc", "test_acc"):
            value = record.get(key) if isinstance(record, dict) else None
            if not _is_percentage(value):
                raise ResultFileError(
                    f"{path}: history.evals[{i}].{key} must be a finite percentage in [0, 100]; found {value!r}."
                )


def result_path(experiment: Experiment, results_dir: str | os.PathLike = "results") -> Path:
    """Where :func:`run` stores ``experiment``'s result."""
    return Path(results_dir) / f"{experiment.config_hash}.json"


def _write_atomic(payload: dict[str, Any], path: Path) -> None:
    """Write a result JSON atomically (see :func:`fedlib._io.atomic_write_json`)."""
    atomic_write_json(path, payload)


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
    """Run ``experiment`` (or load its cached result) and store ``<results_dir>/<config_hash>.json``.

    Args:
        experiment: what to run.
        results_dir: the cache folder; ``None`` runs without reading or writing any file.
        progress: show a tqdm bar (round, validation accuracy, elapsed).
        force: re-run even if a result exists (the file is replaced atomically).
        repair: re-run only when the cached file is corrupt (else a corrupt file raises ResultFileError).
        dataset: an already loaded :class:`fedlib.data.Dataset` matching the experiment (saves reloading).

    Same config and seeds give the same result on CPU (all randomness comes from the experiment's seeds).
    """
    if not isinstance(experiment, Experiment):
        raise ConfigError(f"run() needs an Experiment; found {type(experiment).__name__}.")
    path = None if results_dir is None else result_path(experiment, results_dir)
    if path is not None and path.exists() and not force:
        try:
            cached = load_result(path)
        except ResultFileError as exc:
            if not repair:
                raise ResultFileError(f"{exc} Pass repair=True (or force=True) to re-run and overwrite it.") from exc
        else:
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
    if path is not None:
        _write_atomic(payload, path)
    return Result(**payload, path=None if path is None else str(path))


__all__ = ["Result", "run", "load_result", "result_path", "versions"]
