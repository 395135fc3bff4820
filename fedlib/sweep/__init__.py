"""Sweeps: expand a grid of experiments and run it, serially or on Dask, resumably and fault-tolerantly.

* :func:`expand` turns a grid (``base`` settings + ``grid`` lists, from YAML or a dict) into Experiments.
* :func:`run_experiments` loads every cached result, runs the rest (``n_workers=0``: in this process;
  otherwise on a local Dask cluster of worker processes, or on ``scheduler="tcp://HOST:8786"``), retries runs
  that fail or lose their worker, and returns a :class:`SweepReport` with the results in input order.
* :func:`run_sweep` runs a reproduction's experiments (:class:`fedlib.experiments.reproduce.Reproduction`), with one
  local Dask worker per GPU when a machine has several (:func:`gpu_cluster`).
* :func:`run_missing` computes what a results folder lacks of a grid (the book's notebooks, quick profile).
* ``python -m fedlib sweep GRID.yaml [--scheduler tcp://HOST:8786] [--workers N] [--results-dir DIR]``.

Example:
    >>> from fedlib.sweep import expand, run_experiments
    >>> grid = {"base": {"profile": "quick", "rounds": 3},
    ...         "grid": {"aggregator": ["mean", "median"], "attack": ["none", "lie"]}}
    >>> len(expand(grid))
    4
    >>> report = run_experiments(expand(grid), "results", n_workers=2)  # doctest: +SKIP
"""

from ._gpus import gpu_cluster, gpu_worker_env, gpu_workers, run_sweep
from ._grid import allowed_keys, expand, load_grid
from ._report import Failure, SweepFailedError, SweepReport
from ._run import run_experiments, run_missing

__all__ = [
    "expand",
    "load_grid",
    "allowed_keys",
    "run_experiments",
    "run_missing",
    "SweepReport",
    "Failure",
    "SweepFailedError",
    "run_sweep",
    "gpu_workers",
    "gpu_worker_env",
    "gpu_cluster",
]
