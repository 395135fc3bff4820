"""Display names of the attacks, rules, datasets and models, and the paper's table order.

Example:
    >>> from fedlib.report.labels import AGR_LABELS, EXISTING_AGRS
    >>> [AGR_LABELS[a] for a in EXISTING_AGRS]
    ['Krum', 'Multi-krum', 'Bulyan', 'Trimmed-mean', 'Median']
"""

from __future__ import annotations

#: Attacks compared by the paper, in its column order (our registry names).
ATTACKS = ("fang", "lie", "tailored", "min_max", "min_sum")
#: The existing robust rules of the main table, in the paper's row order.
EXISTING_AGRS = ("krum", "multi_krum", "bulyan", "trimmed_mean", "median")

ATTACK_LABELS = {
    "none": "no attack",
    "fang": "Fang",
    "lie": "LIE",
    "tailored": "AGR-tailored",
    "min_max": "Min-Max",
    "min_sum": "Min-Sum",
    "agnostic": "AGR-agnostic (Min-Max / Min-Sum)",
    "adaptive": "adaptive (DnC-tailored)",
    "ipm": "IPM",
    "mimic": "Mimic",
}
AGR_LABELS = {
    "mean": "Mean (FedSGD)",
    "krum": "Krum",
    "multi_krum": "Multi-krum",
    "bulyan": "Bulyan",
    "trimmed_mean": "Trimmed-mean",
    "median": "Median",
    "afa": "AFA",
    "fang_defense": "Fang defense",
    "dnc": "DnC",
    "centered_clipping": "Centered clipping",
    "geometric_median": "Geometric median",
    "nnm": "NNM",
    "bucketing": "Bucketing",
}
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
