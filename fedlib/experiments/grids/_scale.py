"""The scale campaign's blocks (:func:`scale_grid`): the paper's MNIST setting on full Fashion-MNIST, committed
under ``results/scale/`` block by block, and the robustness benchmark (:func:`benchmark_grid`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ...errors import UnknownNameError
from ...vocabulary import EXISTING_RULES, PAPER_ATTACKS
from ._cells import Cell, FractionOptions, cross_device_overrides
from ._paper import attack_grid, malicious_fraction_grid, perturbation_grid

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
BENCHMARK_RULES = ("mean", *EXISTING_RULES, "afa", "fang_defense", "dnc", *NEWER_RULES)
BENCHMARK_ATTACKS = (*PAPER_ATTACKS, "ipm", "mimic")
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
        >>> from fedlib.experiments.grids import benchmark_grid
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
        >>> from fedlib.experiments.grids import scale_grid
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
