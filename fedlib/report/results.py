"""Read results: where a run's result is, whether it is there, what a partly computed grid lacks, and the numbers
the tables report from one result. Nothing here runs an experiment (:func:`fedlib.sweep.collect` runs the
missing cells of a grid when asked); where results live is always the caller's folder (``results_dir``).

Example:
    >>> absent_labels([], "/nonexistent")
    {}
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import MissingResultsError  # noqa: F401  (raised by fedlib.sweep.collect; its former home)

if TYPE_CHECKING:  # pragma: no cover
    from ..experiments.grids import Cell


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


def metrics(result) -> dict[str, Any]:
    """The numbers the book reports from one Result (accuracies in percent)."""
    return {
        "test_accuracy": float(result.test_accuracy_at_best),
        "val_accuracy": float(result.best_val_accuracy),
        "best_round": int(result.best_round),
        "diverged": bool(result.diverged),
        "seconds": float(result.timings.get("wall_s", math.nan)),
    }
