"""The unit of every grid (:class:`Cell`: labels, an experiment, a seed) and the pieces every grid is built from:
each profile's settings, the profile's experiment with a grid's changes, where Fang's attack is aimed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from ...vocabulary import COORDINATE_WISE
from .._profiles import check_profile


@dataclass(frozen=True)
class Cell:
    """One run of a grid: the labels the tables group by, and the experiment to run (one seed)."""

    labels: dict[str, Any]
    experiment: Any  # fedlib.experiments.Experiment
    seed: int = 0

    def describe(self) -> str:
        bits = ", ".join(f"{k}={v}" for k, v in self.labels.items())
        return f"{bits}, seed={self.seed} [{self.experiment.config_hash[:12]}]"


#: (dataset, model) pairs of the main results per profile (the paper's five settings in full, its §V and §VI).
DATASETS = {
    "quick": [("mnist5k", "mnist_fc")],
    "scale": [("fashion_mnist", "mnist_fc")],
    "full": [
        ("cifar10", "alexnet_cifar"),
        ("cifar10", "vgg11_cifar"),
        ("purchase100", "purchase_fc"),
        ("mnist", "mnist_fc"),
        ("femnist", "femnist_cnn"),
    ],
}
#: iid (cross-silo) settings where the paper evaluates DnC (§VII-C1), plus FEMNIST.
DNC_DATASETS = DATASETS
#: The optimisation-based attacks whose perturbation the paper compares (§VI-C).
PERTURBED_ATTACKS = ("tailored", "min_max", "min_sum")


def datasets_for(profile: str, datasets: Sequence | None = None) -> list[tuple[str, str]]:
    """(dataset, model) pairs: the caller's (names or pairs), else the profile's default list."""
    check_profile(profile)
    if datasets is None:
        return list(DATASETS[profile])
    pairs: list[tuple] = []
    for item in datasets:
        if isinstance(item, str):
            match = [p for p in DATASETS["full"] + DATASETS["quick"] + DATASETS["scale"] if p[0] == item]
            pairs.extend(dict.fromkeys(match) or [(item, None)])
        else:
            pairs.append(tuple(item))
    return pairs


#: What the book's quick grids change in the quick profile: nothing any more — they run the profile's own
#: 100 rounds (with three seeds, committed under the book's ``results/quick/``; 50 rounds and one seed let
#: single cells move by ±10 pp between builds). Kept as the one place a grid-wide override would go.
QUICK_OVERRIDES: dict[str, object] = {}
#: The textbook AGR-tailored attack on Trimmed-mean / Median maximises its objective on a grid plus a
#: golden-section search (65 AGR evaluations per round by default); the quick grids use a coarser search
#: (8 grid cells, 8 golden-section steps: 19 evaluations) so that these runs take seconds, not minutes.
QUICK_TAILORED_COORDINATEWISE = {"objective_grid": 8, "objective_iters": 8}


class TableOptions(TypedDict, total=False):
    """Keyword options of :func:`attack_grid` that a committed grid fixes."""

    aggregators: tuple[str, ...]
    attacks: tuple[str, ...]
    knowledge: tuple[str, ...]


class _Percents(TypedDict):
    percents: tuple[float, ...]


class FractionOptions(_Percents, total=False):
    """Keyword options of :func:`malicious_fraction_grid` that a committed grid fixes."""

    aggregators: tuple[str, ...]
    attacks: tuple[str, ...]


def base_experiment(profile: str, dataset: str, model: str | None = None, device: str = "auto", **overrides):
    """The profile's experiment for ``dataset`` (and ``model``), with ``overrides`` applied.

    In the quick profile :data:`QUICK_OVERRIDES` apply (unless overridden), and the tailored attack on
    Trimmed-mean / Median gets :data:`QUICK_TAILORED_COORDINATEWISE`.
    """
    from .._profiles import experiment_for

    if profile == "quick":
        overrides = {**QUICK_OVERRIDES, **overrides}
        target = overrides.get("attack_target") or overrides.get("aggregator")
        if overrides.get("attack") == "tailored" and target in COORDINATE_WISE:
            overrides["attack_options"] = {**QUICK_TAILORED_COORDINATEWISE, **overrides.get("attack_options", {})}
    if model is not None:
        overrides["model"] = model
    if device != "auto":
        overrides["device"] = device
    return experiment_for(profile, dataset, **overrides)


def _cells(setting: dict, labels: dict, seeds: Iterable[int], **changes) -> list[Cell]:
    # experiment_for sees the attack and rule (FEMNIST's γ_init depends on them), so build each cell anew.
    exp = base_experiment(**{**setting, **changes})
    return [Cell(dict(labels), exp.with_seed(int(s)), int(s)) for s in seeds]


def _setting(profile, dataset, model, device, overrides) -> tuple:
    setting = dict(profile=profile, dataset=dataset, model=model, device=device, **overrides)
    return setting, base_experiment(**setting)


#: Fang et al. designed attacks for the Krum family and for Trimmed-mean/Median only
#: (``fedlib.attacks.targets("fang")``). Against the other rules we send Fang's Trimmed-mean attack, the one
#: Fang et al. propose when the rule is unknown (our choice; the paper does not say which variant it used there).
FANG_FALLBACK_TARGET = "trimmed_mean"


def attack_changes(aggregator: str, attack: str) -> dict:
    """Experiment fields for ``attack`` against ``aggregator``: Fang's attack aims at Trimmed-mean when the rule is
    not one of its targets (:data:`FANG_FALLBACK_TARGET`)."""
    from ... import attacks

    changes = {"aggregator": aggregator, "attack": attack}
    if attack == "fang" and aggregator not in (attacks.targets("fang") or ()):
        changes["attack_target"] = FANG_FALLBACK_TARGET
    return changes


def _setting_labels(dataset: str, model: str) -> dict:
    return {"dataset": dataset, "model": model}


#: The scale profile's cross-device setting (issue 14, block 6): Fashion-MNIST's 60,000 training images split
#: non-iid among 1,000 clients by a Dirichlet label skew with concentration α = 0.5 (each class's images cut
#: among the clients in Dir(0.5) proportions: most clients hold a few classes), 60 clients drawn per round
#: with replacement, 200 malicious clients (20 %), each drawn client's whole local data as its batch (as the
#: released FEMNIST code).
SCALE_CROSS_DEVICE = {
    "partition": "dirichlet",
    "partition_alpha": 0.5,
    "n_clients": 1000,
    "samples_per_client": None,
    "clients_per_round": 60,
    "sampling": "with_replacement",
    "n_malicious": 200,
    "batch_size": None,
    "server_f": "capped",
}


def cross_device_overrides(profile: str, dataset: str) -> dict:
    """Client sampling of the cross-device runs (cross-device FL: paper §II-A).

    FEMNIST's profiles are cross-device already (60 of 3,400 writers per round, with replacement, as the
    released code). The scale profile's Fashion-MNIST uses :data:`SCALE_CROSS_DEVICE` (1,000 Dirichlet
    clients, α = 0.5, 60 per round with replacement). For the other datasets the cross-device variant draws a
    fifth of the clients each round without replacement from five times as many clients (each with a fifth
    of the data, used whole as its batch). The number of malicious clients drawn varies per round and the
    server's f is the number drawn, ``server_f="capped"``: never more than the rule accepts on the round's
    rows (a rare draw of more attackers than e.g. Trimmed-mean's (k-1)/2 would otherwise stop the run;
    :func:`fedlib.fl.check_feasible` refuses ``"actual"`` there before round 1).

    Example:
        >>> from fedlib.experiments.grids import cross_device_overrides
        >>> o = cross_device_overrides("scale", "fashion_mnist")
        >>> o["n_clients"], o["clients_per_round"], o["sampling"], o["partition_alpha"]
        (1000, 60, 'with_replacement', 0.5)
    """
    base = base_experiment(profile, dataset)
    if base.sampling != "all":
        return {}
    if profile == "scale" and dataset == "fashion_mnist":
        return dict(SCALE_CROSS_DEVICE)
    n = base.n_clients * 5
    per_round = base.n_clients
    changes = {
        "n_clients": n,
        "clients_per_round": per_round,
        "sampling": "without_replacement",
        "n_malicious": int(round(base.n_malicious * n / base.n_clients)),
        "batch_size": None,
        "server_f": "capped",
    }  # FEMNIST-style: each drawn client's whole local data is its batch
    if base.samples_per_client is not None:
        changes["samples_per_client"] = max(1, base.samples_per_client // 5)
    return changes
