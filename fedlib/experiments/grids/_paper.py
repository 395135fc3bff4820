"""The paper's grids: the main table (:func:`attack_grid`), the perturbation comparison, the share of malicious
clients, and the full-profile grid of each of the paper's tables and figures (:func:`full_grid`)."""

from __future__ import annotations

from collections.abc import Sequence

from ...errors import ConfigError
from ...vocabulary import COORDINATE_WISE, KNOWLEDGE, PERTURBATIONS
from ...vocabulary import EXISTING_RULES as EXISTING_AGRS
from ...vocabulary import PAPER_ATTACKS as ATTACKS
from ._cells import (
    DATASETS,
    PERTURBED_ATTACKS,
    Cell,
    FractionOptions,
    _cells,
    _setting,
    _setting_labels,
    attack_changes,
    base_experiment,
    cross_device_overrides,
    datasets_for,
)


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
    m' = max(1, ⌊m²/n⌋) copies (the released code's partial-knowledge simulation). In the quick profile (n = 20, m = 4)
    that is 4 + 1 = 5 rows, and Bulyan needs at least ``aggregators.min_inputs("bulyan", 1)`` = 7: the adversary cannot
    simulate Bulyan, so that run does not exist. The adaptive attack on DnC has the same problem: DnC (5 iterations,
    ⌊c·f⌋ = m' removals each, rows surviving every iteration) can remove all m + m' ≤ 5·m' simulated rows, and the
    simulation fails.
    """
    from ... import aggregators

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


#: The full profile's %-malicious percentages and rules (the figure of the share of malicious clients).
FULL_FRACTION: FractionOptions = {
    "percents": (5, 10, 15, 20, 25),
    "aggregators": ("multi_krum", "trimmed_mean", "median"),
}
#: The full profile's cross-device rules (the cross-device table): FEMNIST only.
CROSS_DEVICE_RULES = COORDINATE_WISE
#: The full-profile grids, one per table or figure of the paper, in the paper's order.
FULL_GRIDS = ("main", "dnc", "afa_fang", "malicious_fraction", "perturbations", "cross_device")


def _only(datasets: Sequence[str] | None, pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    return [p for p in pairs if datasets is None or p[0] in datasets]


def full_grid(
    name: str, seeds: Sequence[int] = (0,), *, datasets: Sequence[str] | None = None, device: str = "auto"
) -> list[Cell]:
    """The full-profile grid of one table or figure (:data:`FULL_GRIDS`), optionally only for some ``datasets``.

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
