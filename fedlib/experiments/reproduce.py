"""Planning a reproduction of the paper's full grids, or of the scale campaign's blocks: what runs
(:class:`Reproduction`, its manifest) and the plan with its hours (:func:`make_plan`, :func:`format_plan`).

Running it is :func:`fedlib.sweep.run_sweep` (one Dask worker per GPU when there are several); the command line is
``python -m fedlib reproduce`` (:mod:`fedlib.cli.reproduce`). Executing the book's notebooks against the results and
building the book is the book's own command, ``python -m fedbook.reproduce``.

Example:
    >>> from fedlib.experiments.reproduce import Reproduction, make_plan
    >>> rep = Reproduction(grids=("main",), datasets=("mnist",), seeds=(0,), rounds=2, stand_in_model=True)
    >>> [(row["grid"], row["cells"]) for row in make_plan(rep, measure=False).rows]
    [('main', 55)]
"""

from ._plan import Cost, Plan, format_plan, make_plan, measure_round
from ._reproduction import (
    FULL_DATASETS,
    FULL_SEEDS,
    MANIFEST,
    PROFILE_GRIDS,
    PROFILES,
    SCALE_DATASETS,
    STAND_IN_HIDDEN,
    STAND_IN_MODELS,
    Reproduction,
    with_data_root,
)

__all__ = [
    "Reproduction",
    "MANIFEST",
    "PROFILES",
    "PROFILE_GRIDS",
    "FULL_SEEDS",
    "FULL_DATASETS",
    "SCALE_DATASETS",
    "STAND_IN_HIDDEN",
    "STAND_IN_MODELS",
    "with_data_root",
    "Cost",
    "Plan",
    "make_plan",
    "format_plan",
    "measure_round",
]
