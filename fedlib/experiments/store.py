"""The results store: one folder of result files, the only code that reads, writes or moves them.

A folder holds

* ``<config hash>.json``: one finished run (:class:`Result`), JSON only, written atomically (a complete
  temporary file, validated, then renamed), so a reader sees a whole valid file or none;
* ``<config hash>.json.corrupt`` (``.corrupt1``, ...): a file that failed validation, moved aside for inspection
  and never read as data (:meth:`ResultsStore.quarantine`);
* ``failed/<config hash>.json``: the config, error and traceback of a run that failed after its retries;
* ``<kind>/<name>.pt``: tensors a computation keeps between calls (``fedlib.evaluate``'s captured gradients).

Every layer goes through :class:`ResultsStore`: :func:`fedlib.experiments.run` and the sweep write, quarantine
and record failures; the report layer only reads (:meth:`ResultsStore.get` with ``on_corrupt="raise"``,
:meth:`ResultsStore.missing`). A result is keyed by its experiment's config hash alone, so results committed by
earlier versions load as long as their schema (:data:`SCHEMA_VERSION`) and their own config hash check out;
a file of another schema, or one whose config does not hash to its name, is corrupt.

Example:
    >>> import tempfile
    >>> from fedlib.experiments import ResultsStore, experiment_for
    >>> store = ResultsStore(tempfile.mkdtemp())
    >>> exp = experiment_for("quick", rounds=2)
    >>> store.get(exp) is None, store.missing([exp]) == [exp]
    (True, True)
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from .._io import atomic_write, atomic_write_text, json_text
from ..errors import ConfigError, ResultFileError
from ._config import Experiment

SCHEMA_VERSION = 1
FAILED_DIR = "failed"
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
ACCURACY_FIELDS = ("best_val_accuracy", "test_accuracy_at_best", "final_accuracy")


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

    def to_json(self) -> str:
        """The text of this result's file (what :meth:`ResultsStore.put` writes)."""
        return json_text(self.to_dict())


def default_results_dir() -> Path:
    """The command line's results cache: ``$FEDLIB_RESULTS_DIR`` if set, else the user cache folder
    (``platformdirs.user_cache_path("fedlib") / "results"``, e.g. ``~/.cache/fedlib/results`` on Linux).

    Never the repository's committed ``results/`` folder: a command-line run must not add files to it.

    Example:
        >>> import os
        >>> from fedlib.experiments import default_results_dir
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


# ---------------------------------------------------------------------------------------------- one file
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
    _check_fields(payload, path)
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


def _check_fields(payload: dict[str, Any], path: Path) -> None:
    """The keys of the schema, each of its JSON type, and this fedlib's schema version."""
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
    """Where the store in ``results_dir`` keeps ``experiment``'s result (:meth:`ResultsStore.path`)."""
    return ResultsStore(results_dir).path(experiment)


# ---------------------------------------------------------------------------------------------- the folder
class ResultsStore:
    """The results in one folder: :meth:`path`, :meth:`get`, :meth:`put`, :meth:`quarantine`, :meth:`missing`.

    ``quarantined`` lists what :meth:`get` and :meth:`get_tensors` moved aside through this object, one line each
    (the file, what is wrong with it, where it went).

    Example:
        >>> import tempfile
        >>> from fedlib.experiments import ResultsStore, experiment_for, run
        >>> store = ResultsStore(tempfile.mkdtemp())
        >>> result = run(experiment_for("quick", rounds=2), store.folder)  # doctest: +SKIP
        >>> store.get(result.experiment) == result  # doctest: +SKIP
        True
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.quarantined: list[str] = []

    def __repr__(self) -> str:
        return f"ResultsStore({str(self.folder)!r})"

    def path(self, experiment: Experiment) -> Path:
        """``<folder>/<config hash>.json``."""
        return self.folder / f"{experiment.config_hash}.json"

    def missing(self, experiments: Sequence[Experiment]) -> list[Experiment]:
        """The experiments (in order) that have no result file here; nothing is read or moved."""
        return [e for e in experiments if not self.path(e).exists()]

    def get(self, experiment: Experiment, *, on_corrupt: Literal["raise", "quarantine"] = "raise") -> Result | None:
        """``experiment``'s valid result, or None when there is no file.

        A file that fails validation (not JSON, another schema, a config that does not hash to the file's name,
        non-finite accuracies) raises :class:`~fedlib.errors.ResultFileError` (``on_corrupt="raise"``: read only,
        as the report layer does), or is moved aside with :meth:`quarantine` and treated as absent
        (``"quarantine"``: the writers, who then compute the run again).
        """
        path = self.path(experiment)
        try:
            result = load_result(path)
            _check_names(result, experiment, path)
        except FileNotFoundError:
            return None
        except ResultFileError as err:
            if on_corrupt == "raise":
                raise
            moved = self.quarantine(path)
            self.quarantined.append(f"{err} (moved to {moved.name}; the run is repeated)")
            return None
        return result

    def put(self, result: Result | dict[str, Any]) -> Result:
        """Store ``result`` (a :class:`Result` or its dict) atomically under its config hash, replacing any file
        there; the file is validated before it replaces anything (an invalid result raises ResultFileError and
        leaves the folder as it was). Returns the stored Result (with its ``path``)."""
        payload = result.to_dict() if isinstance(result, Result) else result
        experiment = Experiment.from_dict(payload["config"])
        return self._write(experiment, json_text(payload))

    def put_text(self, experiment: Experiment, text: str) -> Result:
        """Store a result file's text from elsewhere (a worker without this folder), validated before it becomes
        visible; a valid result already here (a shared folder, or another writer first) is kept and returned."""
        current = self.get(experiment, on_corrupt="quarantine")
        if current is not None:
            return current
        return self._write(experiment, text)

    def _write(self, experiment: Experiment, text: str) -> Result:
        path = self.path(experiment)
        checked: list[Result] = []

        def validate(tmp: Path) -> None:  # validate before it can become the stored result
            result = load_result(tmp)
            _check_names(result, experiment, path)
            checked.append(result)

        atomic_write_text(path, text, validate=validate)
        return Result(**checked[0].to_dict(), path=str(path))

    def quarantine(self, path: str | os.PathLike) -> Path:
        """Move a corrupt file aside (``<name>.corrupt``, numbered if taken) and return the new path; if another
        process moved or replaced it first, there is nothing left to move."""
        path = Path(path)
        target = path.with_name(path.name + ".corrupt")
        n = 1
        while target.exists():
            target = path.with_name(f"{path.name}.corrupt{n}")
            n += 1
        try:
            os.replace(path, target)
        except FileNotFoundError:
            pass
        return target

    # ------------------------------------------------------------------------------------------ failures
    def failure_path(self, experiment: Experiment) -> Path:
        """``<folder>/failed/<config hash>.json``."""
        return self.folder / FAILED_DIR / f"{experiment.config_hash}.json"

    def record_failure(self, experiment: Experiment, *, error: str, traceback: str, attempts: int) -> Path:
        """Record a run that failed after all its attempts (JSON, atomic)."""
        record = {
            "config_hash": experiment.config_hash,
            "config": experiment.to_dict(),
            "error": error,
            "traceback": traceback,
            "attempts": attempts,
            "failed_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        path = self.failure_path(experiment)
        atomic_write_text(path, json.dumps(record, indent=1, sort_keys=True))
        return path

    def clear_failure(self, experiment: Experiment) -> None:
        """Remove the failure record of a run that now has its result."""
        self.failure_path(experiment).unlink(missing_ok=True)

    # ------------------------------------------------------------------------------------------ tensors
    def tensors_path(self, kind: str, name: str) -> Path:
        """``<folder>/<kind>/<name>.pt``."""
        return self.folder / kind / f"{name}.pt"

    def get_tensors(self, kind: str, name: str) -> Any | None:
        """The tensors saved under ``kind/name`` (loaded with ``weights_only=True``: tensors and plain containers,
        never arbitrary objects), or None; an unreadable file is quarantined and None returned."""
        import pickle

        import torch

        path = self.tensors_path(kind, name)
        try:
            return torch.load(path, weights_only=True)
        except FileNotFoundError:
            return None
        except (RuntimeError, EOFError, OSError, pickle.UnpicklingError) as err:
            moved = self.quarantine(path)
            self.quarantined.append(f"{path}: unreadable ({type(err).__name__}: {err}) (moved to {moved.name})")
            return None

    def put_tensors(self, kind: str, name: str, value: Any) -> Path:
        """Save ``value`` (tensors in lists and dicts) under ``kind/name``, atomically."""
        import torch

        path = self.tensors_path(kind, name)

        def write(fh: IO[bytes]) -> None:
            torch.save(value, fh)

        atomic_write(path, write)
        return path


def _check_names(result: Result, experiment: Experiment, path: Path) -> None:
    """Beyond :func:`load_result`'s checks (schema, its own hash, finite percentages): the file holds the config
    whose hash names it (guards against copied or renamed files)."""
    if result.config_hash != experiment.config_hash:
        raise ResultFileError(
            f"{path}: expected the result of config {experiment.config_hash[:12]}…; found the result of "
            f"config {result.config_hash[:12]}… (file renamed or copied?)."
        )


__all__ = ["Result", "ResultsStore", "SCHEMA_VERSION", "default_results_dir", "load_result", "result_path"]
