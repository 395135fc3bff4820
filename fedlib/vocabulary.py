"""The names of fedlib's settings, each defined once.

Every layer that accepts or lists one of these settings (an :class:`~fedlib.experiments.Experiment` field,
:func:`fedlib.attacks.craft`, :func:`fedlib.aggregators.aggregate`, the FedSGD engine, the grids, the command
line, the Flower integration) reads it from here, so that a new value is added in one place. They are plain
strings in tuples: they are the values stored in experiment configs and result files.

Example:
    >>> from fedlib import vocabulary as v
    >>> v.KNOWLEDGE, v.VARIANTS
    (('full', 'partial'), ('textbook', 'ndss21'))
    >>> v.EXISTING_RULES == v.KRUM_FAMILY + v.COORDINATE_WISE
    True
"""

from __future__ import annotations

# ------------------------------------------------------------------------------------- the threat model
#: What the adversary knows each round (the paper's threat model, §III): ``full``, the benign clients'
#: updates; ``partial``, only its own clients' honest updates.
KNOWLEDGE = ("full", "partial")
#: The code a rule or an attack follows: ``textbook`` (the published definitions) or ``ndss21`` (the
#: authors' released code, where it differs; each difference is named in the rule's or attack's docstring).
VARIANTS = ("textbook", "ndss21")
#: What a rule does with NaN/Inf rows: ``raise`` (refuse them) or ``drop`` (remove them first, say which).
NONFINITE_POLICIES = ("raise", "drop")
#: The ``server_f`` policies by name (an int is a fixed f): the f the server's rule assumes each round.
F_POLICIES = ("actual", "capped", "ndss21_femnist")
#: Old spellings of ``server_f``, read as the new ones (``"true"`` is the pre-1.0 spelling of ``"actual"``).
LEGACY_F_POLICIES = {"true": "actual"}
#: The γ searches of the optimisation-based attacks: the paper's Algorithm 1 (``halving``) or a closed-form /
#: exhaustive one (``exact``).
SEARCHES = ("halving", "exact")
#: The perturbation directions ∇p of ∇m = ∇b + γ·∇p: inverse unit vector, inverse standard deviation, inverse sign.
PERTURBATIONS = ("unit_vec", "std", "sign")

# ------------------------------------------------------------------------------------- the FL setting
#: How a round picks its clients: every client (cross-silo), or ``clients_per_round`` drawn with or without
#: replacement (cross-device).
SAMPLING = ("all", "with_replacement", "without_replacement")
#: The server optimisers.
OPTIMISERS = ("sgd", "adam")
#: How per-client gradients are computed: ``vmap`` over clients, a ``loop``, or ``auto`` (the faster of the two
#: for the network and device).
GRAD_METHODS = ("auto", "vmap", "loop")
#: The floating types a run computes in.
DTYPES = ("float32", "float64")

# ------------------------------------------------------------------------------------- profiles
#: The named settings of :func:`fedlib.experiments.experiment_for`: ``quick`` (embedded mnist5k, seconds),
#: ``scale`` (the paper's MNIST shape on full Fashion-MNIST, minutes on a CPU), ``full`` (the paper's settings).
PROFILES = ("quick", "scale", "full")
#: The profile label of an experiment built by hand rather than from a profile.
CUSTOM_PROFILE = "custom"

# ------------------------------------------------------------------------------------- rule families
#: Krum and the rules built on its selection.
KRUM_FAMILY = ("krum", "multi_krum", "bulyan")
#: The coordinate-wise rules.
COORDINATE_WISE = ("trimmed_mean", "median")
#: The robust rules that existed before the paper, in the row order of its main table.
EXISTING_RULES = KRUM_FAMILY + COORDINATE_WISE
#: The attacks the paper compares, in the column order of its tables (registry names).
PAPER_ATTACKS = ("fang", "lie", "tailored", "min_max", "min_sum")

# ------------------------------------------------------------------------------------- display names
#: How tables and prose name each dataset and network (the config values are the keys).
DATASET_LABELS = {
    "cifar10": "CIFAR10",
    "femnist": "FEMNIST",
    "purchase100": "Purchase",
    "mnist": "MNIST",
    "fashion_mnist": "Fashion-MNIST",
    "mnist5k": "mnist5k",
}
MODEL_LABELS = {
    "alexnet_cifar": "Alexnet",
    "vgg11_cifar": "VGG11",
    "femnist_cnn": "CNN",
    "mnist_fc": "FC",
    "purchase_fc": "FC",
}


__all__ = [
    "DATASET_LABELS",
    "MODEL_LABELS",
    "KNOWLEDGE",
    "VARIANTS",
    "NONFINITE_POLICIES",
    "F_POLICIES",
    "LEGACY_F_POLICIES",
    "SEARCHES",
    "PERTURBATIONS",
    "SAMPLING",
    "OPTIMISERS",
    "GRAD_METHODS",
    "DTYPES",
    "PROFILES",
    "CUSTOM_PROFILE",
    "KRUM_FAMILY",
    "COORDINATE_WISE",
    "EXISTING_RULES",
    "PAPER_ATTACKS",
]
