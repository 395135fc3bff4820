"""The paper's published numbers that the project knows, as data (never presented as ours).

The display names of attacks, rules and datasets are general and live in :mod:`fedlib.report.labels`
(re-exported here for the notebooks).

Every entry cites where the paper states it (its abstract or its introduction, §I). Only the abstract, the
introduction and the background section of the paper were available, so these are all the paper numbers we have;
the per-cell values of its results tables are unknown and are never filled in here.

Example:
    >>> from fedbook.paper import numbers
    >>> [p.value for p in numbers(kind="impact", dataset="cifar10", model="alexnet_cifar")]
    [11.8, 30.0, 45.6, 44.5]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from fedlib.report.labels import AGR_LABELS, ATTACK_LABELS, ATTACKS, DATASET_LABELS, EXISTING_AGRS, MODEL_LABELS

__all__ = ["AGR_LABELS", "ATTACK_LABELS", "ATTACKS", "DATASET_LABELS", "EXISTING_AGRS", "MODEL_LABELS", "NUMBERS",
           "PAPER", "PaperNumber", "RELEASED_SETUP", "get", "numbers", "table"]

PAPER = ("Shejwalkar & Houmansadr, Manipulating the Byzantine: Optimizing Model Poisoning Attacks and "
         "Defenses for Federated Learning, NDSS 2021")

@dataclass(frozen=True)
class PaperNumber:
    """One number published in the paper.

    Attributes:
        key: a short unique identifier.
        source: where the paper states it.
        quantity: what it measures, in words.
        kind: ``"impact"`` (accuracy reduction, percentage points), ``"max_impact"`` (largest impact over
            attacks, pp), ``"ratio"`` (one impact divided by another; ``value`` is the low end and
            ``high`` the high end of a stated range, equal when a single number was stated).
        value: the number (pp or ×).
        high: the upper end of a range (``kind="ratio"``), else equal to ``value``.
        dataset, model, aggregator, attack, knowledge: the setting; None where the paper does not say.
    """

    key: str
    source: str
    quantity: str
    kind: str
    value: float
    high: float
    dataset: str | None = None
    model: str | None = None
    aggregator: str | None = None
    attack: str | None = None
    knowledge: str | None = None

    @property
    def setting(self) -> str:
        parts = [DATASET_LABELS.get(self.dataset or "", self.dataset or "any dataset")]
        if self.model:
            parts[0] += f" ({MODEL_LABELS.get(self.model, self.model)})"
        if self.aggregator:
            parts.append(AGR_LABELS.get(self.aggregator, self.aggregator))
        if self.knowledge:
            parts.append(f"{self.knowledge} knowledge")
        return ", ".join(parts)

    @property
    def shown(self) -> str:
        """The number as the paper states it."""
        if self.kind == "ratio":
            return f"{self.value:g}×" if self.high == self.value else f"{self.value:g}×–{self.high:g}×"
        return f"{self.value:.1f}"


def _n(key, source, quantity, kind, value, high=None, **setting) -> PaperNumber:
    return PaperNumber(key, source, quantity, kind, float(value), float(value if high is None else high),
                       **setting)


_INTRO = "paper, §I Introduction (evaluation of the attacks)"
_DNC = "paper, §I Introduction (evaluation of DnC)"
_ABSTRACT = "paper, Abstract"

# Introduction: CIFAR10 + Alexnet, adversary without the benign gradients (partial knowledge); the sentence
# does not name the AGR.
_CIFAR_PARTIAL = dict(dataset="cifar10", model="alexnet_cifar", knowledge="partial")

NUMBERS: tuple[PaperNumber, ...] = (
    # Abstract: headline ranges.
    _n("abstract_attack_ratio", _ABSTRACT,
       "our attacks' accuracy reduction ÷ previous attacks' (Fang, LIE)", "ratio", 1.5, 60),
    _n("abstract_dnc_ratio", _ABSTRACT,
       "DnC's resilience ÷ existing robust AGRs' (max impact of existing ÷ max impact on DnC)", "ratio", 2.5, 12),
    # Introduction: CIFAR10-Alexnet, partial knowledge.
    _n("cifar_alexnet_partial_fang", _INTRO, "accuracy reduction by Fang", "impact", 11.8,
       attack="fang", **_CIFAR_PARTIAL),
    _n("cifar_alexnet_partial_lie", _INTRO, "accuracy reduction by LIE", "impact", 30.0,
       attack="lie", **_CIFAR_PARTIAL),
    _n("cifar_alexnet_partial_tailored", _INTRO, "accuracy reduction by our AGR-tailored attack", "impact", 45.6,
       attack="tailored", **_CIFAR_PARTIAL),
    _n("cifar_alexnet_partial_agnostic", _INTRO, "accuracy reduction by our AGR-agnostic attack (Min-Max or Min-Sum)",
       "impact", 44.5, attack="agnostic", **_CIFAR_PARTIAL),
    # Introduction: ratios of our reductions to the prior attacks'.
    _n("purchase_krum_tailored_ratio", _INTRO, "AGR-tailored reduction ÷ best prior attack's (Fang, LIE)",
       "ratio", 15, dataset="purchase100", model="purchase_fc", aggregator="krum", attack="tailored"),
    _n("purchase_krum_agnostic_ratio", _INTRO, "AGR-agnostic reduction ÷ best prior attack's (Fang, LIE)",
       "ratio", 60, dataset="purchase100", model="purchase_fc", aggregator="krum", attack="agnostic"),
    _n("femnist_trmean_ratio", _INTRO, "our attacks' reduction ÷ Fang's and LIE's", "ratio", 2, 3,
       dataset="femnist", model="femnist_cnn", aggregator="trimmed_mean"),
    _n("femnist_median_ratio", _INTRO, "our attacks' reduction ÷ Fang's and LIE's", "ratio", 4, 18,
       dataset="femnist", model="femnist_cnn", aggregator="median"),
    # Introduction: maximum impact over all attacks, best existing AGR vs DnC.
    _n("dnc_cifar_alexnet_existing", _DNC, "max impact over attacks, most robust existing AGR", "max_impact",
       36.8, dataset="cifar10", model="alexnet_cifar"),
    _n("dnc_cifar_alexnet_dnc", _DNC, "max impact over attacks on DnC (adaptive attack)", "max_impact", 6.1,
       dataset="cifar10", model="alexnet_cifar", aggregator="dnc"),
    _n("dnc_cifar_vgg_existing", _DNC, "max impact over attacks, most robust existing AGR", "max_impact", 32.5,
       dataset="cifar10", model="vgg11_cifar"),
    _n("dnc_cifar_vgg_dnc", _DNC, "max impact over attacks on DnC (adaptive attack)", "max_impact", 6.3,
       dataset="cifar10", model="vgg11_cifar", aggregator="dnc"),
    _n("dnc_purchase_existing", _DNC, "max impact over attacks, most robust existing AGR", "max_impact", 11.6,
       dataset="purchase100", model="purchase_fc"),
    _n("dnc_purchase_dnc", _DNC, "max impact over attacks on DnC (adaptive attack)", "max_impact", 1.8,
       dataset="purchase100", model="purchase_fc", aggregator="dnc"),
    _n("dnc_mnist_existing", _DNC, "max impact over attacks, most robust existing AGR", "max_impact", 4.4,
       dataset="mnist", model="mnist_fc"),
    _n("dnc_mnist_dnc", _DNC, "max impact over attacks on DnC (adaptive attack)", "max_impact", 1.9,
       dataset="mnist", model="mnist_fc", aggregator="dnc"),
)

# The FL setting of the authors' released notebooks, read from their code (not the paper's own table, which we do
# not have). Shown beside our `full` profile in the setup chapter.
RELEASED_SETUP = {
    "cifar10": {"clients": "50 (all every round)", "samples per client": "1,000", "batch": "250",
                "optimiser": "SGD, lr 0.5, ×0.5 at round 1000", "rounds": "1,201",
                "models": "Alexnet 2,472,266; VGG11 9,225,610"},
    "femnist": {"clients": "3,400 (60 per round)", "samples per client": "writer's data", "batch": "whole local data",
                "optimiser": "Adam, lr 0.001", "rounds": "1,501", "models": "CNN 848,382"},
}


def numbers(**where) -> list[PaperNumber]:
    """The known paper numbers whose fields equal every keyword given (e.g. ``kind="impact"``)."""
    unknown = set(where) - set(PaperNumber.__dataclass_fields__)
    if unknown:
        from fedlib.errors import ConfigError

        raise ConfigError(f"unknown PaperNumber field(s) {sorted(unknown)}; "
                          f"expected some of {sorted(PaperNumber.__dataclass_fields__)}.")
    return [p for p in NUMBERS if all(getattr(p, k) == v for k, v in where.items())]


def get(key: str) -> PaperNumber:
    """The paper number with this key (raises UnknownNameError otherwise)."""
    found = [p for p in NUMBERS if p.key == key]
    if not found:
        from fedlib.errors import UnknownNameError

        raise UnknownNameError(f"unknown paper number {key!r}; expected one of {[p.key for p in NUMBERS]}.")
    return found[0]


def table() -> pd.DataFrame:
    """Every known paper number as a DataFrame (one row each, with its source)."""
    rows = []
    for p in NUMBERS:
        row = asdict(p)
        row["setting"] = p.setting
        row["paper"] = p.shown
        rows.append(row)
    return pd.DataFrame(rows)
