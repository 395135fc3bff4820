"""Display names of the attacks, rules, datasets and models, and the paper's table order.

Example:
    >>> from fedlib.report.labels import AGR_LABELS, EXISTING_AGRS
    >>> [AGR_LABELS[a] for a in EXISTING_AGRS]
    ['Krum', 'Multi-krum', 'Bulyan', 'Trimmed-mean', 'Median']
"""

from __future__ import annotations

from ..vocabulary import DATASET_LABELS, MODEL_LABELS  # noqa: F401  (defined once, with the settings' names)

#: Attacks compared by the paper, in its column order (our registry names); the existing robust rules of the main
#: table, in the paper's row order (defined in :mod:`fedlib.vocabulary`).
from ..vocabulary import EXISTING_RULES as EXISTING_AGRS  # noqa: F401
from ..vocabulary import PAPER_ATTACKS as ATTACKS  # noqa: F401

ATTACK_LABELS = {
    "none": "no attack",
    "fang": "Fang",
    "lie": "LIE",
    "tailored": "AGR-tailored",
    "min_max": "Min-Max",
    "min_sum": "Min-Sum",
    # Attacks published after the paper (fedlib.attacks "ipm", "mimic").
    "ipm": "IPM",
    "mimic": "Mimic",
    "agnostic": "AGR-agnostic (Min-Max / Min-Sum)",
    "adaptive": "adaptive (DnC-tailored)",
}
AGR_LABELS = {
    "mean": "Mean (FedSGD)",
    "krum": "Krum",
    "multi_krum": "Multi-krum",
    "bulyan": "Bulyan",
    "trimmed_mean": "Trimmed-mean",
    "median": "Median",
    "afa": "AFA",
    "fang_defense": "Fang's defense",
    "dnc": "DnC",
    # Defenses published after the paper (fedlib.experiments.grids.NEWER_RULES).
    "centered_clipping": "Centered clipping",
    "geometric_median": "Geometric median",
    "nnm": "NNM",
    "bucketing": "Bucketing",
}
