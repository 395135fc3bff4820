"""The grids of experiments behind each table and figure of the book, per profile.

The ``full`` profile keeps the paper's grid (its §VI). The ``quick`` profile, which runs on a 2-core CPU in
minutes, has the same shape on the embedded ``mnist5k`` with fewer seeds (and, for the %-malicious figure and
the perturbation comparison, fewer rules); whoever shows a quick grid says what it leaves out. ``scale`` runs the
paper's MNIST setting on full Fashion-MNIST in six blocks (:func:`scale_grid`), committed under
``results/scale/`` as they are computed.

Example:
    >>> from fedlib.experiments.grids import datasets_for
    >>> datasets_for("quick")
    [('mnist5k', 'mnist_fc')]
"""

from ._cells import (
    DATASETS,
    DNC_DATASETS,
    FANG_FALLBACK_TARGET,
    PERTURBED_ATTACKS,
    QUICK_OVERRIDES,
    QUICK_TAILORED_COORDINATEWISE,
    SCALE_CROSS_DEVICE,
    Cell,
    FractionOptions,
    TableOptions,
    attack_changes,
    base_experiment,
    cross_device_overrides,
    datasets_for,
)
from ._paper import (
    ATTACKS,
    CROSS_DEVICE_RULES,
    EXISTING_AGRS,
    FULL_FRACTION,
    FULL_GRIDS,
    KNOWLEDGE,
    PERTURBATIONS,
    attack_grid,
    full_grid,
    infeasible,
    malicious_fraction_grid,
    perturbation_grid,
)
from ._scale import (
    BENCHMARK_ATTACKS,
    BENCHMARK_PARTITIONS,
    BENCHMARK_RULES,
    NEWER_RULES,
    SCALE_BLOCKS,
    SCALE_CROSS_DEVICE_KNOWLEDGE,
    SCALE_FRACTION,
    SCALE_PERTURBATION_RULES,
    SCALE_SEEDS,
    benchmark_grid,
    scale_grid,
)

__all__ = [
    "Cell",
    "DATASETS",
    "DNC_DATASETS",
    "ATTACKS",
    "EXISTING_AGRS",
    "KNOWLEDGE",
    "PERTURBATIONS",
    "PERTURBED_ATTACKS",
    "QUICK_OVERRIDES",
    "QUICK_TAILORED_COORDINATEWISE",
    "FANG_FALLBACK_TARGET",
    "TableOptions",
    "FractionOptions",
    "datasets_for",
    "base_experiment",
    "attack_changes",
    "attack_grid",
    "infeasible",
    "perturbation_grid",
    "malicious_fraction_grid",
    "SCALE_CROSS_DEVICE",
    "cross_device_overrides",
    "FULL_FRACTION",
    "CROSS_DEVICE_RULES",
    "FULL_GRIDS",
    "full_grid",
    "SCALE_BLOCKS",
    "NEWER_RULES",
    "SCALE_SEEDS",
    "SCALE_FRACTION",
    "SCALE_PERTURBATION_RULES",
    "SCALE_CROSS_DEVICE_KNOWLEDGE",
    "BENCHMARK_RULES",
    "BENCHMARK_ATTACKS",
    "BENCHMARK_PARTITIONS",
    "benchmark_grid",
    "scale_grid",
]
