"""Read the results of a grid of experiments as a pandas table.

Where results live is the caller's choice: every function takes the folder (``results_dir``); nothing
here knows a repository's layout. This module only reads, through the results store
(:class:`fedlib.experiments.ResultsStore`): it never runs, writes or moves a file. A grid with results missing
raises :class:`MissingResultsError` naming them; computing them is the sweep's job
(:func:`fedlib.sweep.run_missing`; the book's notebooks do it in the ``quick`` profile, whose runs take
seconds, and never silently for the scale and full profiles' runs, which take minutes to hours each).

Example:
    >>> import tempfile
    >>> from fedlib.report.results import collect
    >>> collect([], profile="scale", results_dir=tempfile.mkdtemp()).empty
    True
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import FedlibError
from ..experiments._profiles import check_profile
from ..experiments.grids import Cell  # noqa: F401  (the unit of every grid, defined with the grids)


class MissingResultsError(FedlibError, LookupError):
    """Committed results for a scale/full grid are missing; the message lists them and the command to compute them."""


def default_run_missing(profile: str) -> bool:
    """Quick grids are computed on demand; scale/full grids must be computed on purpose."""
    return check_profile(profile) == "quick"


def _store(results_dir: os.PathLike | str):
    from ..experiments import ResultsStore

    return ResultsStore(results_dir)


def absent(cells: Sequence[Cell], results_dir: os.PathLike | str) -> list[Cell]:
    """The cells (in order) whose result is not in ``results_dir`` (:meth:`ResultsStore.missing`).

    Example:
        >>> from fedlib.report.results import absent
        >>> absent([], "/nonexistent")
        []
    """
    missing = {e.config_hash for e in _store(results_dir).missing([c.experiment for c in cells])}
    return [c for c in cells if c.experiment.config_hash in missing]


def absent_labels(cells: Sequence[Cell], results_dir: os.PathLike | str) -> dict[str, list[Any]]:
    """What a partly computed grid lacks, in its own terms: for each label, the values that no cached
    cell has (e.g. ``{"aggregator": ["krum", ...], "knowledge": ["partial"]}``); labels whose every value
    has at least one cached cell are left out.

    Example:
        >>> from fedlib.report.results import absent_labels
        >>> absent_labels([], "/nonexistent")
        {}
    """
    missing = {c.experiment.config_hash for c in absent(cells, results_dir)}
    present: dict[str, set] = {}
    wanted: dict[str, list] = {}
    for cell in cells:
        cached = cell.experiment.config_hash not in missing
        for key, value in cell.labels.items():
            wanted.setdefault(key, [])
            if value not in wanted[key]:
                wanted[key].append(value)
            if cached:
                present.setdefault(key, set()).add(value)
    out = {k: [v for v in vals if v not in present.get(k, set())] for k, vals in wanted.items()}
    return {k: v for k, v in out.items() if v}


#: The command a missing-results message suggests when its caller names none (``how``).
COMPUTE_MISSING = "fedlib.sweep.run_experiments([cell.experiment for cell in cells], results_dir)"


def missing_message(missing: Sequence[Cell], where: str, profile: str, how: str | None) -> str:
    """What is missing from the folder called ``where`` and how to compute it (``how``: the caller's command,
    else :data:`COMPUTE_MISSING`)."""
    shown = "\n".join(f"  - {c.describe()}" for c in missing[:20])
    more = f"\n  ... and {len(missing) - 20} more" if len(missing) > 20 else ""
    return (
        f"{len(missing)} result(s) of this {profile}-profile grid are not in {where}:\n{shown}{more}\n"
        f"Computing them takes long (the {profile} profile is full-size), so it is never done silently. "
        f"Compute them with\n  {how or COMPUTE_MISSING}\n(or pass results_dir to point at a folder that holds them)."
    )


def collect(
    cells: Sequence[Cell],
    *,
    profile: str,
    results_dir: os.PathLike | str,
    how: str | None = None,
    where: str | None = None,
) -> pd.DataFrame:
    """Results of ``cells`` as one row each: the cell's labels, ``seed`` and the result's metrics; read only.

    A missing result raises :class:`MissingResultsError` (its message calls the folder ``where``, default: the
    folder's path, and says ``how`` to compute them, default: the sweep); a corrupt one raises
    :class:`~fedlib.errors.ResultFileError` (the sweep moves such a file aside and runs it again:
    :func:`fedlib.sweep.run_missing`). Accuracies are in percent. A run that diverged keeps its
    best-so-far accuracy (as the paper's code) and is flagged in the ``diverged`` column.
    """
    check_profile(profile)
    missing = absent(cells, results_dir)
    if missing:
        raise MissingResultsError(missing_message(missing, where or str(results_dir), profile, how))
    if not cells:
        return pd.DataFrame()
    store = _store(results_dir)
    rows = []
    for cell in cells:
        result = store.get(cell.experiment)
        if result is None:  # removed since absent() looked
            raise MissingResultsError(missing_message([cell], where or str(results_dir), profile, how))
        rows.append({**cell.labels, "seed": cell.seed, **metrics(result)})
    return pd.DataFrame(rows)


def metrics(result) -> dict[str, Any]:
    """The numbers the book reports from one Result (accuracies in percent): ``test_accuracy`` is the paper's
    metric (test accuracy of the best-validation round), ``final_accuracy`` the test accuracy of the last round,
    ``malicious_kept_rounds`` the rounds in which the rule kept a crafted update (:func:`malicious_kept_rounds`),
    ``evaluations`` a fingerprint of every evaluation (:func:`evaluations_digest`)."""
    return {
        "test_accuracy": float(result.test_accuracy_at_best),
        "final_accuracy": float(result.final_accuracy),
        "val_accuracy": float(result.best_val_accuracy),
        "best_round": int(result.best_round),
        "diverged": bool(result.diverged),
        "seconds": float(result.timings.get("wall_s", math.nan)),
        "malicious_kept_rounds": malicious_kept_rounds(result.history.get("rounds", [])),
        "evaluations": evaluations_digest(result.history.get("evals", [])),
    }


def evaluations_digest(evals: Sequence[Mapping[str, Any]]) -> str:
    """A short fingerprint of a run's evaluation records (round, accuracies and losses): two runs with the same
    fingerprint agree at every evaluation, which a page can say of two cells that look copied.

    Example:
        >>> from fedlib.report.results import evaluations_digest
        >>> a = [{"round": 0, "test_acc": 7.0, "test_loss": 2.3}]
        >>> evaluations_digest(a) == evaluations_digest([dict(a[0])]) != evaluations_digest([{**a[0], "test_acc": 7.1}])
        True
    """
    text = json.dumps(list(evals), sort_keys=True, allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def malicious_kept_rounds(rounds: Sequence[Mapping[str, Any]]) -> float:
    """In how many of a run's rounds (the engine's per-round records) the rule kept at least one crafted update;
    NaN when some round with crafted updates does not say (a rule that selects no rows, e.g. Median) or when no
    round had any.

    Example:
        >>> from fedlib.report.results import malicious_kept_rounds
        >>> malicious_kept_rounds([{"n_malicious": 4, "malicious_selected": 0}, {"n_malicious": 4,
        ...                        "malicious_selected": 2}, {"n_malicious": 0, "malicious_selected": None}])
        1.0
        >>> malicious_kept_rounds([{"n_malicious": 4, "malicious_selected": None}])
        nan
    """
    attacked = [r.get("malicious_selected") for r in rounds if r.get("n_malicious")]
    kept = [int(k) for k in attacked if k is not None]
    if not attacked or len(kept) < len(attacked):
        return math.nan
    return float(sum(k > 0 for k in kept))


def committed(
    profile: str,
    cells: Sequence[Cell] | Callable[[], Sequence[Cell]],
    *,
    results_dir: os.PathLike | str,
    how: str | None = None,
    where: str | None = None,
) -> tuple[pd.DataFrame | None, str]:
    """Results of ``cells`` (or of ``cells()``) if every one is in ``results_dir``; nothing is ever run.

    Returns ``(frame, "")`` when all are there, else ``(None, note)`` with a note saying how many are
    missing from the folder called ``where`` (default: its path) and ``how`` to compute them. A
    grid that cannot be built here (a :class:`~fedlib.errors.FedlibError`) gives ``(None, note)`` too.
    """
    folder = Path(results_dir)
    try:
        cells = list(cells() if callable(cells) else cells)
    except FedlibError as exc:
        return None, f"The {profile} grid cannot be built here: {exc}"
    missing = absent(cells, folder)
    if missing:
        return None, (
            f"No complete committed {profile}-profile results yet: {len(missing)} of {len(cells)} runs "
            f"are missing from {where or folder}. Compute them with `{how or COMPUTE_MISSING}` and commit the "
            "JSON files."
        )
    return collect(cells, profile=profile, results_dir=folder), ""
