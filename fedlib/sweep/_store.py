"""The sweep's view of the results directory: cached results, corrupt files, failure records.

Results are JSON files named by config hash (``<results_dir>/<hash>.json``, written by
:func:`fedlib.experiments.run`). The sweep only ever *reads* them through
:func:`fedlib.experiments.load_result`, which validates; nothing is unpickled. A file that fails validation is
moved aside to ``<hash>.json.corrupt`` (kept for inspection, never read as data) and the run is repeated.
A run that fails after its retries leaves ``<results_dir>/failed/<hash>.json`` with its config and error; the
record is removed once a later sweep produces the result.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path

from .._io import atomic_write_text
from ..errors import ResultFileError

FAILED_DIR = "failed"


def quarantine(path: Path) -> Path:
    """Move a corrupt result file aside (``<name>.corrupt``, numbered if taken) and return the new path."""
    path = Path(path)
    target = path.with_name(path.name + ".corrupt")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.corrupt{n}")
        n += 1
    try:
        os.replace(path, target)
    except FileNotFoundError:  # another sweep moved or replaced it first: nothing left to quarantine
        return target
    return target


def load_cached(experiment, results_dir: Path, *, move_corrupt: bool = True) -> tuple[object | None, str | None]:
    """The cached Result of ``experiment`` if a valid one exists, else None.

    Returns ``(result, problem)``; ``problem`` describes a corrupt or mismatched file, which is moved aside
    when ``move_corrupt`` (``None`` when the file was valid or absent).
    """
    from ..experiments import load_result, result_path

    path = Path(result_path(experiment, results_dir))
    if not path.exists():
        return None, None
    try:
        result = load_result(path)
        _check_matches(result, experiment, path)
    except ResultFileError as err:
        if not move_corrupt:
            return None, f"{path}: {err}"
        moved = quarantine(path)
        return None, f"{path}: {err} (moved to {moved.name}; the run is repeated)"
    return result, None


def _check_matches(result, experiment, path: Path) -> None:
    """Beyond :func:`~fedlib.experiments.load_result`'s checks (schema, its own hash, finite percentages):
    the file holds the config whose hash names it (guards against copied or renamed files)."""
    if result.config_hash != experiment.config_hash:
        raise ResultFileError(
            f"{path}: expected the result of config {experiment.config_hash[:12]}…; found the result of "
            f"config {result.config_hash[:12]}… (file renamed or copied?)."
        )


def failure_path(experiment, results_dir: Path) -> Path:
    return Path(results_dir) / FAILED_DIR / f"{experiment.config_hash}.json"


def write_failure(experiment, results_dir: Path, *, error: str, traceback: str, attempts: int) -> Path:
    """Record a run that failed after all its attempts (JSON, atomic)."""
    path = failure_path(experiment, results_dir)
    record = {
        "config_hash": experiment.config_hash,
        "config": experiment.to_dict(),
        "error": error,
        "traceback": traceback,
        "attempts": attempts,
        "failed_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    atomic_write_text(path, json.dumps(record, indent=1, sort_keys=True))
    return path


def clear_failure(experiment, results_dir: Path) -> None:
    try:
        failure_path(experiment, results_dir).unlink()
    except FileNotFoundError:
        pass


def store_text(experiment, results_dir: Path, text: str):
    """Validate a result's JSON text from a worker and store it as the experiment's result (atomic).

    Used when the worker wrote to its own disk (a remote cluster without a shared filesystem). If a valid
    result is already there (a shared filesystem, or another writer won), that one is kept.
    """
    from ..experiments import load_result, result_path

    cached, _ = load_cached(experiment, results_dir)
    if cached is not None:
        return cached
    path = Path(result_path(experiment, results_dir))
    checked = []

    def validate(tmp: Path) -> None:  # validate before it can become the cached result
        result = load_result(tmp)
        _check_matches(result, experiment, path)
        checked.append(result)

    atomic_write_text(path, text, validate=validate)
    result = checked[0]
    return result
