"""Load (or run) the results of a grid of experiments as a pandas table.

Where results live is the caller's choice: every function takes the folder (``results_dir``); nothing
here knows a repository's layout. Missing results are run only when asked (``run_missing=True``; by
default only in the ``quick`` profile, whose runs take seconds): otherwise :func:`collect` raises
:class:`MissingResultsError` naming the missing configurations, because full-size runs take hours.

Example:
    >>> import tempfile
    >>> from fedlib.report.results import collect
    >>> collect([], profile="scale", results_dir=tempfile.mkdtemp()).empty
    True
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import FedlibError

PROFILES = ("quick", "scale", "full")


class MissingResultsError(FedlibError, LookupError):
    """Committed results for a scale/full grid are missing; the message lists them and the command to compute them."""


@dataclass(frozen=True)
class Cell:
    """One run of a grid: the labels the tables group by, and the experiment to run (one seed)."""

    labels: dict[str, Any]
    experiment: Any  # fedlib.experiments.Experiment
    seed: int = 0

    def describe(self) -> str:
        bits = ", ".join(f"{k}={v}" for k, v in self.labels.items())
        return f"{bits}, seed={self.seed} [{self.experiment.config_hash[:12]}]"


def check_profile(profile: str) -> str:
    from .._checks import check_choice

    return check_choice(profile, PROFILES, "profile")


def default_run_missing(profile: str) -> bool:
    """Quick grids are computed on demand; scale/full grids must be computed on purpose."""
    return check_profile(profile) == "quick"


def result_path(experiment, results_dir: Path) -> Path:
    """Where :func:`fedlib.experiments.run` stores the result of ``experiment``."""
    from ..experiments import result_path as where

    return Path(where(experiment, results_dir))


def is_cached(experiment, results_dir: Path) -> bool:
    return result_path(experiment, results_dir).exists()


def absent_labels(cells: Sequence[Cell], results_dir: os.PathLike | str) -> dict[str, list[Any]]:
    """What a partly computed grid lacks, in its own terms: for each label, the values that no cached
    cell has (e.g. ``{"aggregator": ["krum", ...], "knowledge": ["partial"]}``); labels whose every value
    has at least one cached cell are left out.

    Example:
        >>> absent_labels([], "/nonexistent")
        {}
    """
    folder = Path(results_dir)
    present: dict[str, set] = {}
    wanted: dict[str, list] = {}
    for cell in cells:
        cached = is_cached(cell.experiment, folder)
        for key, value in cell.labels.items():
            wanted.setdefault(key, [])
            if value not in wanted[key]:
                wanted[key].append(value)
            if cached:
                present.setdefault(key, set()).add(value)
    out = {k: [v for v in vals if v not in present.get(k, set())] for k, vals in wanted.items()}
    return {k: v for k, v in out.items() if v}


def missing_message(missing: Sequence[Cell], where: str, profile: str, notebook: str | None) -> str:
    """What is missing from the folder called ``where`` and how to compute it."""
    shown = "\n".join(f"  - {c.describe()}" for c in missing[:20])
    more = f"\n  ... and {len(missing) - 20} more" if len(missing) > 20 else ""
    nb = notebook or "notebooks/<this notebook>.py"
    return (
        f"{len(missing)} result(s) of this {profile}-profile grid are not in {where}:\n{shown}{more}\n"
        f"Computing them takes long (the {profile} profile is full-size), so it is never done silently. "
        f"Compute them with\n"
        f'  make notebook NB={nb} PARAMS="-p profile {profile} -p run_missing true -p device cuda"\n'
        f"(or pass results_dir to point at a folder that holds them)."
    )


def collect(
    cells: Sequence[Cell],
    *,
    profile: str,
    results_dir: os.PathLike | str,
    run_missing: bool | None = None,
    device: str = "auto",
    n_workers: int | None = None,
    notebook: str | None = None,
    progress: bool = False,
    where: str | None = None,
) -> pd.DataFrame:
    """Results of ``cells`` as one row each: the cell's labels, ``seed`` and the result's metrics.

    Cached results are read; missing ones are run (in parallel with :func:`fedlib.sweep.run_experiments`)
    when ``run_missing`` (default: only in the quick profile), else :class:`MissingResultsError` is raised;
    its message calls the folder ``where`` (default: the folder's path).
    Accuracies are in percent. A run that diverged keeps its best-so-far accuracy (as the paper's code)
    and is flagged in the ``diverged`` column.
    """
    check_profile(profile)
    folder = Path(results_dir)
    run_missing = default_run_missing(profile) if run_missing is None else bool(run_missing)
    experiments = [c.experiment if device == "auto" else c.experiment.replace(device=device) for c in cells]
    missing = [c for c, e in zip(cells, experiments, strict=True) if not is_cached(e, folder)]
    if missing and not run_missing:
        raise MissingResultsError(missing_message(missing, where or str(folder), profile, notebook))
    if not cells:
        return pd.DataFrame()
    folder.mkdir(parents=True, exist_ok=True)
    results = _run_all(experiments, folder, n_workers=n_workers, progress=progress)
    rows = []
    for cell, result in zip(cells, results, strict=True):
        rows.append({**cell.labels, "seed": cell.seed, **metrics(result)})
    return pd.DataFrame(rows)


def _run_all(experiments: list[Any], folder: Path, *, n_workers: int | None, progress: bool) -> list:
    """Every experiment's Result, in order: cached ones are read, the rest run on a local Dask cluster
    (serially when only a few are missing: starting the cluster costs more than it saves)."""
    from ..sweep import run_experiments

    todo = sum(not is_cached(e, folder) for e in experiments)
    workers = n_workers if n_workers is not None else min(2, os.cpu_count() or 1)
    if todo < 4:
        workers = 0
    report = run_experiments(experiments, folder, n_workers=workers, progress=progress)
    report.raise_for_failures()
    return list(report.results)


def metrics(result) -> dict[str, Any]:
    """The numbers the book reports from one Result (accuracies in percent): ``test_accuracy`` is the paper's
    metric (test accuracy of the best-validation round), ``final_accuracy`` the test accuracy of the last round."""
    return {
        "test_accuracy": float(result.test_accuracy_at_best),
        "final_accuracy": float(result.final_accuracy),
        "val_accuracy": float(result.best_val_accuracy),
        "best_round": int(result.best_round),
        "diverged": bool(result.diverged),
        "seconds": float(result.timings.get("wall_s", math.nan)),
    }


def committed(
    profile: str,
    cells: Sequence[Cell] | Callable[[], Sequence[Cell]],
    *,
    results_dir: os.PathLike | str,
    notebook: str | None = None,
    where: str | None = None,
) -> tuple[pd.DataFrame | None, str]:
    """Results of ``cells`` (or of ``cells()``) if every one is in ``results_dir``; nothing is ever run.

    Returns ``(frame, "")`` when all are there, else ``(None, note)`` with a note saying how many are
    missing from the folder called ``where`` (default: its path) and the command that computes them. A
    grid that cannot be built here (a :class:`~fedlib.errors.FedlibError`) gives ``(None, note)`` too.
    """
    folder = Path(results_dir)
    try:
        cells = list(cells() if callable(cells) else cells)
    except FedlibError as exc:
        return None, f"The {profile} grid cannot be built here: {exc}"
    missing = [c for c in cells if not is_cached(c.experiment, folder)]
    if missing:
        nb = notebook or "notebooks/<this notebook>.py"
        return None, (
            f"No complete committed {profile}-profile results yet: {len(missing)} of {len(cells)} runs "
            f"are missing from {where or folder}. Compute them with `make notebook NB={nb} "
            f'PARAMS="-p profile {profile} -p run_missing true"` and commit the JSON files.'
        )
    return collect(cells, profile=profile, results_dir=folder, run_missing=False), ""
