"""The grids of experiments behind each table and figure of the book, per profile.

The ``full`` profile keeps the paper's grid (spec §6). The ``quick`` profile, which CI and ``make book``
execute on a 2-core CPU, runs the same shape on the embedded ``mnist5k`` with fewer seeds (and, for the
%-malicious figure and the perturbation comparison, fewer rules) so that every notebook together stays
within the time budget; each notebook states what its quick grid leaves out. ``scale`` runs the
paper's MNIST setting on full Fashion-MNIST in six blocks (:func:`scale_grid`), committed under
``results/scale/`` as they are computed.

Example:
    >>> from fedlib.experiments.grids import datasets_for
    >>> datasets_for("quick")
    [('mnist5k', 'mnist_fc')]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import TypedDict

from ..errors import ConfigError, UnknownNameError
from ..report.results import Cell, check_profile
from ..vocabulary import COORDINATE_WISE, KNOWLEDGE, PERTURBATIONS
from ..vocabulary import EXISTING_RULES as EXISTING_AGRS
from ..vocabulary import PAPER_ATTACKS as ATTACKS

#: (dataset, model) pairs of the main results per profile (spec §6; the paper's five settings in full).
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
    from ._profiles import experiment_for

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
    from .. import attacks

    changes = {"aggregator": aggregator, "attack": attack}
    if attack == "fang" and aggregator not in (attacks.targets("fang") or ()):
        changes["attack_target"] = FANG_FALLBACK_TARGET
    return changes


def _setting_labels(dataset: str, model: str) -> dict:
    return {"dataset": dataset, "model": model}


def attack_grid(
    profile: str,
    seeds: Sequence[int],
    *,
    datasets: Sequence | None = None,
    aggregators: Sequence[str] = EXISTING_AGRS,
    attacks: Sequence[str] = ATTACKS,
    knowledge: Sequence[str] = KNOWLEDGE,
    device: str = "auto",
    skip: Sequence[tuple] = (),
    **overrides,
) -> list[Cell]:
    """No-attack runs plus every (aggregator, attack, knowledge) run, for every seed and dataset, except
    the runs :func:`infeasible` in the profile.

    ``skip`` lists (aggregator, attack) pairs or (aggregator, attack, knowledge) triples left out (runs too
    slow for the quick profile, or impossible in it: see :func:`infeasible`).

    The no-attack run of an aggregator is shared by both knowledge settings (knowledge only changes what
    the adversary sees); its ``attack`` label is ``"none"`` and its ``knowledge`` label ``"-"``.
    """
    cells: list[Cell] = []
    for dataset, model in datasets_for(profile, datasets):
        setting, base = _setting(profile, dataset, model, device, overrides)
        labels = _setting_labels(dataset, base.model)
        skip = list(skip) + infeasible(profile, dataset)
        for agr in aggregators:
            cells += _cells(
                setting,
                {**labels, "aggregator": agr, "attack": "none", "knowledge": "-"},
                seeds,
                aggregator=agr,
                attack="none",
            )
            for know in knowledge:
                for attack in attacks:
                    if (agr, attack) in skip or (agr, attack, know) in skip:
                        continue
                    cells += _cells(
                        setting,
                        {**labels, "aggregator": agr, "attack": attack, "knowledge": know},
                        seeds,
                        knowledge=know,
                        **attack_changes(agr, attack),
                    )
    return cells


def infeasible(profile: str, dataset: str | None = None) -> list[tuple]:
    """(aggregator, attack, knowledge) runs that cannot exist in this profile's setting.

    With partial knowledge the tailored attacker simulates the rule on its own m honest gradients plus
    m' = max(1, ⌊m²/n⌋) copies (spec §2). In the quick profile (n = 20, m = 4) that is 4 + 1 = 5 rows, and
    Bulyan needs at least ``aggregators.min_inputs("bulyan", 1)`` = 7: the adversary cannot simulate Bulyan, so
    that run does not exist.
    The adaptive attack on DnC has the same problem: DnC (5 iterations, ⌊c·f⌋ = m' removals each, rows
    surviving every iteration) can remove all m + m' ≤ 5·m' simulated rows, and the simulation fails.
    """
    from .. import aggregators

    base = base_experiment(profile, dataset or datasets_for(profile)[0][0])
    n = base.clients_per_round if base.sampling != "all" else base.n_clients
    m = base.n_malicious if base.sampling == "all" else max(1, round(base.n_malicious * n / base.n_clients))
    m_sim = max(1, (m * m) // n)
    out = []
    if m + m_sim < aggregators.min_inputs("bulyan", m_sim, variant=base.variant):
        out.append(("bulyan", "tailored", "partial"))
    if m + m_sim <= 5 * m_sim:  # DnC's default n_iters = 5, filter_frac = 1
        out.append(("dnc", "tailored", "partial"))
    return out


def perturbation_grid(
    profile: str,
    seeds: Sequence[int],
    *,
    datasets: Sequence | None = None,
    aggregators: Sequence[str] = EXISTING_AGRS,
    attacks: Sequence[str] = PERTURBED_ATTACKS,
    perturbations: Sequence[str] = PERTURBATIONS,
    knowledge: str = "full",
    device: str = "auto",
    **overrides,
) -> list[Cell]:
    """No-attack runs plus (aggregator, attack, perturbation) runs (paper §VI-C)."""
    cells: list[Cell] = []
    for dataset, model in datasets_for(profile, datasets):
        setting, base = _setting(profile, dataset, model, device, overrides)
        labels = _setting_labels(dataset, base.model)
        for agr in aggregators:
            cells += _cells(
                setting,
                {**labels, "aggregator": agr, "attack": "none", "perturbation": "-"},
                seeds,
                aggregator=agr,
                attack="none",
            )
            for attack in attacks:
                for pert in perturbations:
                    cells += _cells(
                        setting,
                        {**labels, "aggregator": agr, "attack": attack, "perturbation": pert},
                        seeds,
                        perturbation=pert,
                        knowledge=knowledge,
                        **attack_changes(agr, attack),
                    )
    return cells


def malicious_fraction_grid(
    profile: str,
    seeds: Sequence[int],
    *,
    percents: Sequence[float],
    datasets: Sequence | None = None,
    aggregators: Sequence[str] = ("multi_krum",),
    attacks: Sequence[str] = ATTACKS,
    knowledge: str = "full",
    device: str = "auto",
    **overrides,
) -> list[Cell]:
    """Runs at several percentages of malicious clients: n_malicious = round(percent · n_clients / 100).

    The percentage counts all clients (FEMNIST: 20 % = 680 of 3,400 writers, of whom about 12 are drawn per
    round), not the clients of one round. The server's f follows the number of malicious clients (as in the
    released code), so every percentage has its own no-attack run.
    """
    cells: list[Cell] = []
    for dataset, model in datasets_for(profile, datasets):
        setting, base = _setting(profile, dataset, model, device, overrides)
        labels = _setting_labels(dataset, base.model)
        n = base.n_clients
        for pct in percents:
            m = max(1, int(round(pct * n / 100.0)))
            for agr in aggregators:
                common = {**labels, "aggregator": agr, "percent": float(pct), "n_malicious": m}
                cells += _cells(
                    setting, {**common, "attack": "none"}, seeds, aggregator=agr, attack="none", n_malicious=m
                )
                for attack in attacks:
                    cells += _cells(
                        setting,
                        {**common, "attack": attack},
                        seeds,
                        n_malicious=m,
                        knowledge=knowledge,
                        **attack_changes(agr, attack),
                    )
    return cells


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
    """Client sampling of the cross-device runs (spec §5.2, §5.5).

    FEMNIST's profiles are cross-device already (60 of 3,400 writers per round, with replacement, as the
    released code). The scale profile's Fashion-MNIST uses :data:`SCALE_CROSS_DEVICE` (1,000 Dirichlet
    clients, α = 0.5, 60 per round with replacement). For the other datasets the cross-device variant draws a
    fifth of the clients each round without replacement from five times as many clients (each with a fifth
    of the data, used whole as its batch). The number of malicious clients drawn varies per round and the
    server's f is the number drawn, ``server_f="capped"``: never more than the rule accepts on the round's
    rows (a rare draw of more attackers than e.g. Trimmed-mean's (k-1)/2 would otherwise stop the run;
    :func:`fedlib.fl.check_feasible` refuses ``"actual"`` there before round 1).

    Example:
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


#: The full profile's %-malicious percentages and rules (notebooks/malicious_fraction.py).
FULL_FRACTION: FractionOptions = {
    "percents": (5, 10, 15, 20, 25),
    "aggregators": ("multi_krum", "trimmed_mean", "median"),
}
#: The full profile's cross-device rules (notebooks/cross_device.py): FEMNIST only.
CROSS_DEVICE_RULES = COORDINATE_WISE
#: The notebooks' names for their full-profile grids, in book order.
FULL_GRIDS = ("main", "dnc", "afa_fang", "malicious_fraction", "perturbations", "cross_device")


def _only(datasets: Sequence[str] | None, pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    return [p for p in pairs if datasets is None or p[0] in datasets]


def full_grid(
    name: str, seeds: Sequence[int] = (0,), *, datasets: Sequence[str] | None = None, device: str = "auto"
) -> list[Cell]:
    """The full-profile grid of one notebook (:data:`FULL_GRIDS`), optionally only for some ``datasets``.

    ``main`` (main table), ``dnc`` (DnC table), ``afa_fang`` (AFA and Fang's defense), ``malicious_fraction``
    (:data:`FULL_FRACTION`), ``perturbations`` (the five existing rules), ``cross_device`` (FEMNIST,
    :data:`CROSS_DEVICE_RULES`). The dry run (``python -m fedlib dry-run``) executes them all.
    """
    pairs = _only(datasets, DATASETS["full"])
    if not pairs:
        return []
    if name == "main":
        return attack_grid("full", seeds, datasets=pairs, device=device)
    if name == "dnc":
        return attack_grid("full", seeds, datasets=pairs, device=device, aggregators=("dnc",))
    if name == "afa_fang":
        return attack_grid("full", seeds, datasets=pairs, device=device, aggregators=("afa", "fang_defense"))
    if name == "malicious_fraction":
        return malicious_fraction_grid("full", seeds, datasets=pairs, device=device, **FULL_FRACTION)
    if name == "perturbations":
        return perturbation_grid("full", seeds, datasets=pairs, device=device)
    if name == "cross_device":
        femnist = _only(datasets, [("femnist", "femnist_cnn")])
        return (
            []
            if not femnist
            else attack_grid(
                "full",
                seeds,
                datasets=femnist,
                device=device,
                aggregators=CROSS_DEVICE_RULES,
                **cross_device_overrides("full", "femnist"),
            )
        )
    raise ConfigError(f"full_grid: expected one of {list(FULL_GRIDS)}; found {name!r}.")


#: The scale campaign's blocks, in order of priority: the paper's tables and figures, the newer defenses' main-table
#: rows of the *Test your own rule* chapter, and the robustness benchmark beyond the paper; each is committed under
#: ``results/scale/`` as it is computed, and the book shows whatever part of each is committed.
SCALE_BLOCKS = (
    "main",
    "dnc",
    "afa_fang",
    "malicious_fraction",
    "perturbations",
    "cross_device",
    "newer_rules",
    "benchmark",
)
#: The defenses published after the paper that the library has (the ``newer_rules`` block).
NEWER_RULES = ("centered_clipping", "geometric_median", "nnm", "bucketing")
#: Every block has three seeds: a full-size number never rests on one run.
SCALE_SEEDS = {block: (0, 1, 2) for block in SCALE_BLOCKS}
#: The scale %-malicious figure (block 4): 5, 10, 20 and 30 % of the 100 clients.
SCALE_FRACTION: FractionOptions = {
    "percents": (5, 10, 20, 30),
    "aggregators": ("multi_krum", "trimmed_mean", "median"),
}
#: The scale perturbation comparison (block 5) and the scale cross-device table (block 6).
SCALE_PERTURBATION_RULES = ("multi_krum", "median")
SCALE_CROSS_DEVICE_KNOWLEDGE = ("full",)
#: The robustness benchmark (block ``benchmark``): every rule of the library (the plain mean, the paper's eight,
#: the newer four) against every attack of the library, full knowledge; the AGR-tailored attack is the rule's
#: dedicated form where the paper has one and the generic black-box search otherwise.
BENCHMARK_RULES = (
    "mean",
    "krum",
    "multi_krum",
    "bulyan",
    "trimmed_mean",
    "median",
    "afa",
    "fang_defense",
    "dnc",
    *NEWER_RULES,
)
BENCHMARK_ATTACKS = ("fang", "lie", "tailored", "min_max", "min_sum", "ipm", "mimic")
#: The benchmark's two client partitions of the same 100 clients: the paper's iid split (600 images each) and
#: a Dirichlet label skew with α = 0.5 over the whole 60,000-image pool (client sizes vary; a client with fewer
#: images than the batch uses all of them).
BENCHMARK_PARTITIONS: dict[str, dict] = {
    "iid": {},
    "dirichlet": {"partition": "dirichlet", "partition_alpha": 0.5, "samples_per_client": None},
}


def benchmark_grid(
    seeds: Sequence[int], *, partitions: Sequence[str] = tuple(BENCHMARK_PARTITIONS), device: str = "auto"
):
    """The robustness benchmark's cells: :data:`BENCHMARK_RULES` × (no attack + :data:`BENCHMARK_ATTACKS`) ×
    ``partitions`` (:data:`BENCHMARK_PARTITIONS`) × ``seeds``, full knowledge, the scale setting otherwise. Each
    cell's labels carry its ``partition``. The iid cells of the paper's rules are the main / DnC / AFA blocks'
    own runs (same config hashes).

    Example:
        >>> len(benchmark_grid([0], partitions=("iid",)))
        104
    """
    unknown = sorted(set(partitions) - set(BENCHMARK_PARTITIONS))
    if unknown or not partitions:
        raise UnknownNameError(f"benchmark_grid: expected partitions among {list(BENCHMARK_PARTITIONS)}; "
                               f"found {list(partitions)}.")  # fmt: skip
    cells: list[Cell] = []
    for name in partitions:
        grid = attack_grid("scale", seeds, device=device, aggregators=BENCHMARK_RULES, attacks=BENCHMARK_ATTACKS,
                           knowledge=("full",), **BENCHMARK_PARTITIONS[name])  # fmt: skip
        cells += [dataclasses.replace(c, labels={**c.labels, "partition": name}) for c in grid]
    return cells


def scale_grid(block: str, seeds: Sequence[int] | None = None, *, device: str = "auto") -> list[Cell]:
    """The cells of one block of the scale campaign (:data:`SCALE_BLOCKS`; seeds: :data:`SCALE_SEEDS`).

    ``main``: the five existing rules × every attack × both knowledge settings; ``dnc``: DnC, the same
    (Fang's attack aimed at Trimmed-mean, :data:`FANG_FALLBACK_TARGET`; the tailored attack on DnC is the
    adaptive one); ``afa_fang``: AFA and Fang's defense, full knowledge; ``malicious_fraction``:
    :data:`SCALE_FRACTION`; ``perturbations``: :data:`SCALE_PERTURBATION_RULES` × (tailored, Min-Max,
    Min-Sum) × the three directions; ``cross_device``: the five existing rules × every attack, full
    knowledge, in :data:`SCALE_CROSS_DEVICE`; ``newer_rules``: :data:`NEWER_RULES` × every attack, full
    knowledge (the generic tailored attack for them); ``benchmark``: :func:`benchmark_grid`. Every attacked cell
    comes with its no-attack run.

    Example:
        >>> len(scale_grid("main")), len(scale_grid("cross_device")), len(scale_grid("newer_rules"))
        (165, 90, 72)
    """
    if block not in SCALE_SEEDS:
        raise UnknownNameError(f"scale_grid: expected a block in {list(SCALE_BLOCKS)}; found {block!r}.")
    seeds = list(SCALE_SEEDS[block] if seeds is None else seeds)
    if block == "main":
        return attack_grid("scale", seeds, device=device)
    if block == "dnc":
        return attack_grid("scale", seeds, device=device, aggregators=("dnc",))
    if block == "afa_fang":
        return attack_grid("scale", seeds, device=device, aggregators=("afa", "fang_defense"), knowledge=("full",))
    if block == "malicious_fraction":
        return malicious_fraction_grid("scale", seeds, device=device, **SCALE_FRACTION)
    if block == "perturbations":
        return perturbation_grid("scale", seeds, device=device, aggregators=SCALE_PERTURBATION_RULES)
    if block == "newer_rules":
        return attack_grid("scale", seeds, device=device, aggregators=NEWER_RULES, knowledge=("full",))
    if block == "benchmark":
        return benchmark_grid(seeds, device=device)
    return attack_grid(
        "scale",
        seeds,
        device=device,
        knowledge=SCALE_CROSS_DEVICE_KNOWLEDGE,
        **cross_device_overrides("scale", "fashion_mnist"),
    )
