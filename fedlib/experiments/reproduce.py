"""``python -m fedlib reproduce``: plan, run and render the paper's full grids, or the scale campaign's blocks, on
this machine or a Dask cluster.

A :class:`Reproduction` names what to reproduce: the notebooks' full-profile grids
(:data:`fedlib.experiments.grids.FULL_GRIDS`), optionally only some datasets and seeds, and, for a check that
the pipeline runs end to end, fewer rounds (``rounds``) and a small stand-in network (``stand_in_model``); or,
with ``profile="scale"``, blocks of the scale campaign (:data:`fedlib.experiments.grids.SCALE_BLOCKS`: full
Fashion-MNIST in the paper's MNIST setting, each block with its own seeds unless ``seeds`` says otherwise),
whose results the book's Results pages show above their quick versions. ``reproduce`` then

1. prints the plan: distinct cells per grid and the notebooks that read them, and a time estimate from a
   per-round cost measured on the current device (:func:`make_plan`);
2. writes the reproduction's manifest (``<results_dir>/reproduction.json``) and runs every cell with
   :func:`fedlib.sweep.run_experiments` (resumable: cached results are loaded, not re-run; one Dask worker per
   GPU when several are present, or an existing cluster with ``--scheduler``);
3. when the book's sources are at hand (``--book DIR``, or the current folder holds ``_toc.yml`` and
   ``book/_lib/fedbook``), executes the notebooks against those results and builds the book, by running the
   book's own runner ``python -m fedbook.notebooks`` in that folder. The installed fedlib never assumes where a
   repository is: without a book folder this step is skipped with a message. The Results pages read the scale
   campaign from the book's ``results/scale``: a scale reproduction builds the book only when its results go
   there (``python -m fedlib reproduce --profile scale --only dnc --workers 2 --results-dir results/scale``, in
   a clone, computes the block's missing cells, resumably, and rebuilds the pages that show it).

The notebooks read the manifest (``fedbook.context.Context``): they keep only its datasets, apply its changes
to every cell (so that they look up exactly the results the sweep stored) and label every page computed with
fewer rounds or the stand-in network as a pipeline check, not the paper's numbers.

Example:
    >>> from fedlib.experiments.reproduce import Reproduction
    >>> rep = Reproduction(grids=("main",), datasets=("mnist",), seeds=(0,), rounds=2, stand_in_model=True)
    >>> len(rep.experiments()), rep.notebooks(), rep.paper_setting
    (55, ['main_table'], False)
    >>> rep.experiments()[0].rounds, rep.experiments()[0].model_options
    (2, {'hidden': [16]})
    >>> scale = Reproduction(profile="scale", grids=("dnc",))
    >>> len(scale.experiments()), scale.notebooks()
    (33, ['dnc_table', 'paper_vs_ours'])
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DatasetNotFoundError
from . import grids as _grids
from ._config import Experiment

#: The manifest a reproduction leaves in its results folder (read back by the book's notebooks).
MANIFEST = "reproduction.json"
#: The notebooks (``notebooks/<name>.py`` in the book's sources) and the full grids each one reads.
NOTEBOOK_GRIDS: dict[str, tuple[str, ...]] = {
    "main_table": ("main",),
    "afa_fang_defense": ("afa_fang",),
    "cross_device": ("cross_device",),
    "perturbations": ("perturbations",),
    "malicious_fraction": ("malicious_fraction",),
    "dnc_table": ("main", "dnc"),
    "paper_vs_ours": ("main", "dnc"),
}
#: The notebooks that show each scale block (:func:`fedlib.experiments.grids.scale_grid`): the full grids' pages,
#: the summary also with the cross-device block, and the newer rules' chapter. A page shows whatever part of its
#: blocks is committed, so a scale reproduction re-executes every page that reads any of its blocks.
SCALE_NOTEBOOK_BLOCKS: dict[str, tuple[str, ...]] = {
    **NOTEBOOK_GRIDS,
    "paper_vs_ours": ("main", "dnc", "cross_device"),
    "your_own_rule": ("newer_rules",),
    "robustness_benchmark": ("benchmark",),
}
#: What ``reproduce`` runs: the paper's settings, or the scale campaign.
PROFILES = ("full", "scale")
#: The grids of each profile (the default: all of them).
PROFILE_GRIDS = {"full": _grids.FULL_GRIDS, "scale": _grids.SCALE_BLOCKS}
#: The full profile's default seeds, the paper's three (a scale block's default is its own, grids.SCALE_SEEDS).
FULL_SEEDS = (0, 1, 2)
#: The notebooks that judge our numbers against the paper's (reproduced / not reproduced).
VERDICT_NOTEBOOKS = ("paper_vs_ours",)
#: The stand-in network: the fully-connected net of the dataset's input with one hidden layer of this width.
STAND_IN_HIDDEN = 16
#: The fully-connected family that takes each dataset's inputs (CIFAR10's 3×32×32 images have none).
STAND_IN_MODELS = {
    "mnist": "mnist_fc",
    "fashion_mnist": "mnist_fc",
    "femnist": "mnist_fc",
    "purchase100": "purchase_fc",
}
FULL_DATASETS = tuple(dict.fromkeys(d for d, _ in _grids.DATASETS["full"]))
#: The scale profile's dataset.
SCALE_DATASETS = tuple(dict.fromkeys(d for d, _ in _grids.DATASETS["scale"]))


@dataclass(frozen=True)
class Reproduction:
    """What ``fedlib reproduce`` runs: the full grids ``grids`` (None: all of them) for ``datasets`` (None: all
    five settings) and ``seeds`` (None: the paper's three), with the profile's rounds and networks unless
    ``rounds`` / ``stand_in_model`` say otherwise.

    ``rounds`` replaces every cell's number of rounds (evaluating at least at the last one) and
    ``stand_in_model`` its network by :data:`STAND_IN_MODELS` with one hidden layer of :data:`STAND_IN_HIDDEN`
    units; either makes the results a check that the pipeline runs, never the paper's numbers
    (:attr:`paper_setting` is then False).

    ``profile="scale"``: ``grids`` are blocks of the scale campaign (:data:`fedlib.experiments.grids.SCALE_BLOCKS`),
    on its one dataset (Fashion-MNIST), each with its own seeds (``grids.SCALE_SEEDS``) unless ``seeds`` is
    given. Its results are the book's committed full-size evidence, so a pipeline check (``rounds``,
    ``stand_in_model``) is refused there: check the pipeline with the full profile.
    """

    profile: str = "full"
    grids: tuple[str, ...] | None = None
    datasets: tuple[str, ...] | None = None
    seeds: tuple[int, ...] | None = None
    rounds: int | None = None
    stand_in_model: bool = False

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ConfigError(f"reproduce runs the paper's settings or the scale campaign: expected profile in "
                              f"{list(PROFILES)}; found {self.profile!r}.")  # fmt: skip
        known = PROFILE_GRIDS[self.profile]
        names = tuple(known if self.grids is None else self.grids)
        object.__setattr__(self, "grids", names)
        unknown = sorted(set(names) - set(known))
        if unknown or not names:
            raise ConfigError(f"grids: expected some of {list(known)}; found {list(names)}.")
        if self.datasets is not None:
            object.__setattr__(self, "datasets", tuple(self.datasets))
            bad = sorted(set(self.datasets) - set(self.known_datasets))
            if bad or not self.datasets:
                raise ConfigError(
                    f"datasets: expected some of {list(self.known_datasets)}; found {list(self.datasets)}."
                )
        seeds = FULL_SEEDS if self.seeds is None and self.profile == "full" else self.seeds
        object.__setattr__(self, "seeds", None if seeds is None else tuple(seeds))
        if self.seeds is not None and (
            not self.seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in self.seeds)
        ):
            raise ConfigError(f"seeds: expected a non-empty list of ints >= 0; found {list(self.seeds)}.")
        if self.rounds is not None and not (isinstance(self.rounds, int) and self.rounds >= 1):
            raise ConfigError(f"rounds: expected an int >= 1 or None (the profile's); found {self.rounds!r}.")
        self._check_pipeline_check()

    def _check_pipeline_check(self) -> None:
        if self.profile == "scale" and not self.paper_setting:
            raise ConfigError(
                "the scale profile's results are the book's committed full-size evidence: expected its own rounds "
                f"and network; found rounds={self.rounds!r}, stand_in_model={self.stand_in_model!r} (check the "
                "pipeline with --profile full --rounds N --stand-in-model)."
            )
        no_stand_in = sorted(set(self.datasets or FULL_DATASETS) - set(STAND_IN_MODELS))
        if self.stand_in_model and no_stand_in:
            raise ConfigError(
                f"stand_in_model: the stand-in is a fully-connected net and none takes the inputs of "
                f"{no_stand_in} (3×32×32 images); choose datasets among {sorted(STAND_IN_MODELS)}."
            )

    @property
    def known_datasets(self) -> tuple[str, ...]:
        """The datasets of this reproduction's profile."""
        return SCALE_DATASETS if self.profile == "scale" else FULL_DATASETS

    @property
    def paper_setting(self) -> bool:
        """True when every cell keeps the profile's rounds and network."""
        return self.rounds is None and not self.stand_in_model

    def keeps(self, dataset: str) -> bool:
        return self.datasets is None or dataset in self.datasets

    def adapt_experiment(self, exp: Experiment) -> Experiment:
        """``exp`` with this reproduction's rounds and network."""
        changes: dict[str, Any] = {}
        if self.rounds is not None:
            changes.update(rounds=self.rounds, eval_every=min(exp.eval_every, self.rounds))
        if self.stand_in_model:
            changes.update(model=STAND_IN_MODELS[exp.dataset], model_options={"hidden": [STAND_IN_HIDDEN]})
        return exp.replace(**changes) if changes else exp

    def adapt(self, cells: Sequence) -> list:
        """The cells (:class:`fedlib.report.results.Cell`) of this reproduction's datasets, adapted; labels kept."""
        return [
            dataclasses.replace(c, experiment=self.adapt_experiment(c.experiment))
            for c in cells
            if self.keeps(c.experiment.dataset)
        ]

    def cells(self, grid: str) -> list:
        """The adapted cells of one grid (a scale block: its cells, each block with its own seeds by default)."""
        if self.profile == "scale":
            return self.adapt(_grids.scale_grid(grid, None if self.seeds is None else list(self.seeds)))
        return self.adapt(_grids.full_grid(grid, list(self.seeds or FULL_SEEDS), datasets=self.datasets))

    def experiments(self) -> list[Experiment]:
        """Every distinct experiment of the chosen grids, in grid order."""
        seen: dict[str, Experiment] = {}
        for grid in self.grids or ():
            for cell in self.cells(grid):
                seen.setdefault(cell.experiment.config_hash, cell.experiment)
        return list(seen.values())

    def notebooks(self) -> list[str]:
        """The notebooks to execute on these results. Full profile: those whose every grid is part of this
        reproduction and has cells; never the verdicts page (:data:`VERDICT_NOTEBOOKS`) for a pipeline check,
        whose numbers must not be judged against the paper's. Scale: every page that shows one of its blocks
        (:data:`SCALE_NOTEBOOK_BLOCKS`)."""
        if self.profile == "scale":
            return [nb for nb, blocks in SCALE_NOTEBOOK_BLOCKS.items() if set(blocks) & set(self.grids or ())]
        full = {g for g in self.grids or () if _grids.full_grid(g, [0], datasets=self.datasets)}
        return [
            nb
            for nb, needs in NOTEBOOK_GRIDS.items()
            if set(needs) <= full and (self.paper_setting or nb not in VERDICT_NOTEBOOKS)
        ]

    def readers(self, grid: str) -> list[str]:
        """The notebooks of :meth:`notebooks` that read ``grid``."""
        reads = SCALE_NOTEBOOK_BLOCKS if self.profile == "scale" else NOTEBOOK_GRIDS
        return [nb for nb in self.notebooks() if grid in reads[nb]]

    def describe(self) -> str:
        """One line for a page or the plan: what was run and whether it is the paper's setting."""
        from ._profiles import profile_table

        datasets = list(self.datasets or self.known_datasets)
        seeds = "each block's own (grids.SCALE_SEEDS)" if self.seeds is None else list(self.seeds)
        what = f"profile {self.profile!r}, datasets {datasets}, seeds {seeds}"
        if self.paper_setting:
            return f"{what}, the profile's rounds and networks"
        changes = []
        if self.rounds is not None:
            table = profile_table()[self.profile]
            usual = ", ".join(f"{d} {table[d]['rounds']}" for d in datasets)
            changes.append(f"{self.rounds} round(s) instead of the profile's ({usual})")
        if self.stand_in_model:
            changes.append(f"a stand-in network (fully connected, one hidden layer of {STAND_IN_HIDDEN} units)")
        return f"{what}, {' and '.join(changes)}: a pipeline check, not the paper's setting"

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    def save(self, results_dir: os.PathLike | str) -> Path:
        """Write the manifest into ``results_dir`` (atomically)."""
        from .._io import atomic_write_json

        path = Path(results_dir) / MANIFEST
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, self.to_dict())
        return path

    @classmethod
    def load(cls, results_dir: os.PathLike | str) -> Reproduction | None:
        """The manifest in ``results_dir``, or None when there is none."""
        path = Path(results_dir) / MANIFEST
        if not path.is_file():
            return None
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{path}: expected a reproduction manifest written by fedlib reproduce ({exc}).") from exc


# ------------------------------------------------------------------------------------------------ the plan
@dataclass(frozen=True)
class Cost:
    """Measured seconds per round of one representative cell (``kind`` 'no attack' or 'attacked')."""

    setting: str
    kind: str
    cell: str
    seconds: float
    data: str


@dataclass(frozen=True)
class Plan:
    """Cells per grid, measured per-round costs and the estimated hours (on ``device``)."""

    rows: list[dict[str, Any]]
    costs: list[Cost]
    device: str
    measure_rounds: int

    @property
    def hours(self) -> float:
        return sum(r["hours"] for r in self.rows)

    def hours_per_dataset(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for row in self.rows:
            for dataset, hours in row["by_dataset"].items():
                out[dataset] = out.get(dataset, 0.0) + hours
        return out


def _setting(exp: Experiment) -> str:
    """Dataset, network and, for a cross-device run (which computes fewer gradients a round), its sampling."""
    options = "".join(f" {k}={v}" for k, v in sorted(exp.model_options.items()))
    sampled = "" if exp.sampling == "all" else f" {exp.clients_per_round}/{exp.n_clients}"
    return f"{exp.dataset}/{exp.model}{options}{sampled}"


def _kind(exp: Experiment) -> str:
    return "no attack" if exp.attack == "none" else "attacked"


def _representative(experiments: Sequence[Experiment]) -> dict[tuple[str, str], Experiment]:
    """Per (setting, kind): Median without attack, Min-Max on Multi-krum with full knowledge (else the first)."""
    preferred = {"no attack": ("median", "none", "full"), "attacked": ("multi_krum", "min_max", "full")}

    def is_preferred(exp: Experiment) -> bool:
        return (exp.aggregator, exp.attack, exp.knowledge) == preferred[_kind(exp)]

    out: dict[tuple[str, str], Experiment] = {}
    for exp in experiments:
        key = (_setting(exp), _kind(exp))
        if key not in out or (is_preferred(exp) and not is_preferred(out[key])):
            out[key] = exp
    return out


def measure_round(exp: Experiment, device: str, rounds: int = 2) -> tuple[float, str]:
    """Seconds per round of ``exp`` on ``device`` (training plus its share of evaluation) over ``rounds`` rounds
    after one warm-up round, and which data it ran on: the real dataset when it loads, else generated data of
    the same shapes (one minibatch per client, as the dry run)."""
    import torch

    from ..fl import FedSGD, load_dataset
    from .dry_run import _Datasets

    probe = exp.replace(rounds=rounds + 1, eval_every=rounds + 1, device=device)
    try:
        dataset, data = load_dataset(probe), "real data"
    except DatasetNotFoundError:
        dataset, data = _Datasets().get(probe), "generated data (dataset not found)"
    engine = FedSGD(probe, dataset=dataset)
    sync = torch.cuda.synchronize if engine.device.type == "cuda" else (lambda: None)
    marks: dict[str, float] = {}

    def after_round(t: int) -> None:
        if t == 0:  # the warm-up round (first kernels, allocations) is not counted
            sync()
            marks.update(start=time.perf_counter(), eval=engine.clock["eval"])

    engine.run(on_round=after_round)
    sync()
    wall = time.perf_counter() - marks["start"]
    final_eval = engine.clock["eval"] - marks["eval"]
    return (wall - final_eval) / rounds + final_eval / exp.eval_every, data


def make_plan(
    rep: Reproduction,
    device: str = "auto",
    *,
    measure_rounds: int = 2,
    measure: bool = True,
    data_root: str | None = None,
    results_dir: os.PathLike | str | None = None,
) -> Plan:
    """Count the cells of each grid, those already in ``results_dir`` (never re-run), and estimate the hours
    of the others: Σ cells × rounds × seconds per round.

    A run still to do is priced at the seconds per round that the runs already in ``results_dir`` with the same
    setting, rule, attack, knowledge and client sampling took (their own machine's clock, in their result
    files); else at a measurement of this device: each (dataset, network) setting without such runs is measured
    twice, ``measure_rounds`` rounds each, without attack (Median) and attacked (Min-Max on Multi-krum). The
    attacks that search harder (AGR-tailored, above all on DnC, AFA and Fang's defense) cost more per round, so
    a measured price is a lower bound. ``measure=False`` measures nothing; ``data_root`` is where the datasets
    are (each is measured on generated data of its shapes when absent).
    """
    experiments = rep.experiments()
    present = _present_seconds_per_round(experiments, results_dir)
    similar = _mean_by_kind(experiments, present)
    to_price = [e for e in experiments if e.config_hash not in present and _cost_key(e) not in similar]
    costs: dict[tuple[str, str], Cost] = {}
    if measure:
        for (setting, kind), exp in _representative(to_price).items():
            probe = with_data_root(exp, data_root)
            seconds, data = measure_round(probe, device, measure_rounds)
            costs[(setting, kind)] = Cost(setting, kind, _cell_name(exp), seconds, data)
    rows: list[dict[str, Any]] = []
    counted: set[str] = set()
    for grid in rep.grids or ():
        cells = rep.cells(grid)
        new = list(
            {c.experiment.config_hash: c.experiment for c in cells if c.experiment.config_hash not in counted}.values()
        )
        counted.update(e.config_hash for e in new)
        by_dataset: dict[str, float] = {}
        for exp in new:
            if exp.config_hash in present:
                continue
            cost = costs.get((_setting(exp), _kind(exp)))
            seconds = similar.get(_cost_key(exp), cost.seconds if cost else 0.0)
            by_dataset[exp.dataset] = by_dataset.get(exp.dataset, 0.0) + exp.rounds * seconds / 3600
        rows.append(
            {
                "grid": grid,
                "notebooks": rep.readers(grid),
                "cells": len({c.experiment.config_hash for c in cells}),
                "new": len(new),
                "done": sum(e.config_hash in present for e in new),
                "priced": sum(e.config_hash not in present and _cost_key(e) in similar for e in new),
                "rounds": sorted({c.experiment.rounds for c in cells}),
                "hours": sum(by_dataset.values()),
                "by_dataset": by_dataset,
            }
        )
    return Plan(rows, list(costs.values()), _device_name(device), measure_rounds)


def _cost_key(exp: Experiment) -> tuple[str, ...]:
    """Runs that cost about the same per round: one setting (with its client sampling), rule, attack, knowledge."""
    return (_setting(exp), exp.aggregator, exp.attack, exp.knowledge)


def _present_seconds_per_round(
    experiments: Sequence[Experiment], results_dir: os.PathLike | str | None
) -> dict[str, float]:
    """Config hash → seconds per round (the run's own clock) of the experiments already in ``results_dir``: the
    results the sweep would load (a corrupt or mismatched file is not one: the sweep runs it again)."""
    from ..sweep._store import load_cached

    out: dict[str, float] = {}
    if results_dir is None:
        return out
    for exp in experiments:
        result, _ = load_cached(exp, Path(results_dir), move_corrupt=False)
        if result is not None:
            timings = result.timings  # type: ignore[attr-defined]
            out[exp.config_hash] = float(timings["total_s"]) / max(1, int(timings.get("rounds_run") or exp.rounds))
    return out


def _mean_by_kind(experiments: Sequence[Experiment], seconds: dict[str, float]) -> dict[tuple[str, ...], float]:
    """Mean seconds per round of the present runs, per :func:`_cost_key`."""
    groups: dict[tuple[str, ...], list[float]] = {}
    for exp in experiments:
        if exp.config_hash in seconds:
            groups.setdefault(_cost_key(exp), []).append(seconds[exp.config_hash])
    return {key: sum(values) / len(values) for key, values in groups.items()}


def _cell_name(exp: Experiment) -> str:
    return f"{exp.aggregator} vs {exp.attack}" + ("" if exp.attack == "none" else f" ({exp.knowledge})")


def _device_name(name: str) -> str:
    import torch

    from ..fl import resolve_device

    try:
        device = resolve_device(name)
    except ConfigError:
        return f"{name} (not on this machine)"

    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"{device} ({torch.get_num_threads()} torch thread(s))"


def format_plan(plan: Plan, rep: Reproduction) -> str:
    """The plan as text: the reproduction, one line per grid, how the runs to do were priced, the total."""
    lines = [f"plan: fedlib reproduce, {rep.describe()}", f"device: {plan.device}", ""]
    rounds = {r["grid"]: ",".join(str(x) for x in r["rounds"]) or "-" for r in plan.rows}
    width = max(8, *map(len, rounds.values())) + 2
    priced = sum(r["priced"] for r in plan.rows)
    estimated = bool(plan.costs) or priced > 0
    lines.append(
        f"{'grid':19s}{'cells':>6s}{'new':>6s}{'done':>6s}  {'rounds':{width}s}{'est. hours':>11s}  notebooks run on it"
    )
    for r in plan.rows:
        hours, readers = f"{r['hours']:11.2f}" if estimated else f"{'-':>11s}", ", ".join(r["notebooks"]) or "-"
        lines.append(
            f"{r['grid']:19s}{r['cells']:6d}{r['new']:6d}{r['done']:6d}  {rounds[r['grid']]:{width}s}{hours}  {readers}"
        )
    total, done = sum(r["new"] for r in plan.rows), sum(r["done"] for r in plan.rows)
    lines.append(
        f"{'total':19s}{'':6s}{total:6d}{done:6d}  {'':{width}s}" + (f"{plan.hours:11.2f}" if estimated else "")
    )
    lines.append(f"done: already in the results folder, loaded and not re-run; est. hours: the other {total - done}.")
    if priced:
        lines.append(
            f"{priced} of them priced at the seconds per round of the runs already there with the same setting, "
            "rule, attack, knowledge and sampling (their own machine's clock)."
        )
    if plan.costs:
        per = plan.hours_per_dataset()
        lines.append("hours per dataset: " + ", ".join(f"{d} {h:.2f}" for d, h in per.items()))
        lines.append(f"seconds per round (mean of {plan.measure_rounds} after a warm-up round, this device):")
        for c in plan.costs:
            lines.append(f"  {c.setting:36s} {c.kind:10s} {c.seconds:9.4f} s  ({c.cell}; {c.data})")
        lines.append(
            "estimate = Σ cells × rounds × seconds per round; the stronger searches (AGR-tailored, above all on "
            "DnC, AFA and Fang's defense) cost more per round than the measured Min-Max, so read it as a lower bound."
        )
    elif not priced:
        lines.append("(nothing to run)" if total == done else "(no per-round cost measured)")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------- running it
def gpu_workers(device: str, scheduler: str | None, count: Callable[[], int] | None = None) -> int:
    """Local Dask workers to start, one per GPU: the number of visible GPUs when ``device`` is ``cuda`` or
    ``auto``, no ``scheduler`` is given and there is more than one GPU (``count`` defaults to
    ``torch.cuda.device_count``); else 0 (one GPU or a CPU: the runs go one after the other in this process).

    Example:
        >>> gpu_workers("cuda", None, count=lambda: 4), gpu_workers("cuda", None, count=lambda: 1)
        (4, 0)
        >>> gpu_workers("cuda", "tcp://host:8786", count=lambda: 4), gpu_workers("cpu", None, count=lambda: 4)
        (0, 0)
    """
    if scheduler is not None or device not in ("cuda", "auto"):
        return 0
    if count is None:
        import torch

        count = torch.cuda.device_count
    n = int(count())
    return n if n > 1 else 0


def gpu_worker_env(n_gpus: int) -> list[dict[str, str]]:
    """The environment of each GPU worker: it sees only its own GPU (as ``cuda``), and one CPU thread."""
    one_thread = {name: "1" for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    return [{"CUDA_VISIBLE_DEVICES": str(i), **one_thread} for i in range(n_gpus)]


@contextlib.contextmanager
def gpu_cluster(n_gpus: int) -> Iterator[str]:
    """A local Dask cluster of one worker process per GPU (:func:`gpu_worker_env`); yields its address."""
    import logging

    import dask
    from distributed import Nanny, Scheduler, SpecCluster

    workers = {
        f"gpu{i}": {"cls": Nanny, "options": {"nthreads": 1, "env": env}}
        for i, env in enumerate(gpu_worker_env(n_gpus))
    }
    # allowed-failures=0, as fedlib.sweep's own cluster: a worker death fails its task and the sweep retries it.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = SpecCluster(
            workers=workers,
            scheduler={"cls": Scheduler, "options": {"dashboard_address": ":0"}},
            silence_logs=logging.ERROR,
        )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def run_sweep(
    rep: Reproduction,
    results_dir: os.PathLike | str,
    *,
    device: str = "auto",
    data_root: str | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    retries: int = 2,
    progress: bool = True,
):
    """Write the manifest and run every experiment of ``rep`` not yet in ``results_dir``; return the
    :class:`fedlib.sweep.SweepReport`. ``workers=None``: one local worker per GPU when several are present
    (:func:`gpu_workers`), else in this process; ``scheduler``: an existing Dask cluster. A scale reproduction
    writes no manifest: its folder holds the campaign's results only, in the profile's own setting."""
    from ..sweep import run_experiments

    if rep.profile != "scale":
        rep.save(results_dir)
    # Neither the device nor the data folder changes a result's hash.
    experiments = [with_data_root(e, data_root).replace(device=device) for e in rep.experiments()]
    n_gpus = gpu_workers(device, scheduler) if workers is None else 0
    if n_gpus:
        if progress:
            print(f"reproduce: one Dask worker per GPU ({n_gpus} GPUs)", flush=True)
        with gpu_cluster(n_gpus) as address:
            return run_experiments(experiments, results_dir, scheduler=address, retries=retries, progress=progress)
    return run_experiments(
        experiments, results_dir, n_workers=workers or 0, scheduler=scheduler, retries=retries, progress=progress
    )


def with_data_root(exp: Experiment, data_root: os.PathLike | str | None) -> Experiment:
    """``exp`` reading its dataset from ``<data_root>/<dataset>``, where ``fedlib data fetch --root`` installs it
    (``None``: the default folder, ``$FEDLIB_DATA/<dataset>`` or the user data folder)."""
    return exp if data_root is None else exp.replace(data_root=str(Path(data_root) / exp.dataset))


def find_book(book: os.PathLike | str | None = None) -> Path | None:
    """The book's sources: ``book`` (which must hold them), else the current folder if it does, else None."""
    if book is not None:
        folder = Path(book).expanduser().resolve()
        if not _is_book(folder):
            raise ConfigError(
                f"--book {book}: expected the book's sources (_toc.yml, notebooks/ and book/_lib/fedbook); "
                f"found {'no such folder' if not folder.is_dir() else 'a folder without them'}."
            )
        return folder
    here = Path.cwd()
    return here if _is_book(here) else None


def _is_book(folder: Path) -> bool:
    return (
        (folder / "_toc.yml").is_file() and (folder / "notebooks").is_dir() and (folder / "book/_lib/fedbook").is_dir()
    )


def book_commands(book: Path, rep: Reproduction, results_dir: os.PathLike | str, device: str) -> list[list[str]]:
    """The book's runner, three times: execute the notebooks that read ``rep``'s grids, execute the other notebooks
    as ``make notebooks`` does (quick profile, skipped when up to date), build the HTML book.

    Full profile: ``rep``'s notebooks run in that profile against ``results_dir`` (committed results only, never
    recomputed). Scale: the pages that show its blocks are re-executed as ``make book`` runs them (quick profile;
    each reads the committed scale results of the book's ``results/scale``)."""
    sources = sorted((book / "notebooks").glob("*.py"))
    ours = [p for p in sources if p.stem in rep.notebooks()]
    others = [p for p in sources if p not in ours]
    runner = [sys.executable, "-m", "fedbook.notebooks"]
    commands = []
    if ours and rep.profile == "scale":
        commands.append([*runner, "execute", "--only", *map(str, ours)])
    elif ours:
        params = ["results_dir", str(Path(results_dir).resolve()), "run_missing", "false", "device", device]
        params += ["seeds", json.dumps(list(rep.seeds or FULL_SEEDS))]
        pairs = [x for name, value in zip(params[::2], params[1::2], strict=True) for x in ("-p", name, value)]
        commands.append([*runner, "execute", "--profile", rep.profile, "--only", *map(str, ours), "--", *pairs])
    if others:
        commands.append([*runner, "execute", "--skip-fresh", "--only", *map(str, others)])
    return [*commands, [*runner, "build"]]


def book_results(book: Path | None) -> Path | None:
    """Where the book's Results pages read the scale campaign: ``<book>/results/scale``."""
    return None if book is None else book / "results" / "scale"


def run_book(book: Path, commands: Sequence[Sequence[str]]) -> int:
    """Run ``commands`` in ``book`` with its ``book/_lib`` first on PYTHONPATH; stop at the first failure."""
    env = dict(os.environ)
    paths = [str(book / "book" / "_lib"), *(p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p)]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    for command in commands:
        print("reproduce: " + " ".join(command[1:]), flush=True)
        code = subprocess.call(list(command), cwd=book, env=env)
        if code:
            return code
    return 0


# -------------------------------------------------------------------------------------------- command line
def add_reproduce_parser(subparsers) -> argparse.ArgumentParser:
    """``reproduce``: plan, run and render the notebooks' full grids, or the scale campaign's blocks."""
    p = subparsers.add_parser(
        "reproduce",
        help="plan and run every notebook's full grid (or the scale campaign), then execute the notebooks and "
        "build the book",
        description="Print the plan (cells per grid and notebook, a time estimate from a per-round cost "
        "measured on this device), run every cell of the notebooks' full-profile grids through the sweep "
        "(resumable; one Dask worker per GPU when several are present, or --scheduler), then execute the "
        "notebooks against those results and build the book (with --book DIR, or from a folder that holds "
        "the book's sources). With --profile scale: the scale campaign's blocks (full Fashion-MNIST, the "
        "paper's MNIST setting); the book is rebuilt when --results-dir is its results/scale.",
    )
    p.add_argument(
        "--profile",
        default="full",
        choices=PROFILES,
        help="full: the paper's settings (default); scale: the scale campaign's blocks",
    )
    p.add_argument("--device", default="auto", help="device of every run: auto, cpu, cuda, cuda:N (default auto)")
    datasets = tuple(dict.fromkeys(FULL_DATASETS + SCALE_DATASETS))
    p.add_argument("--datasets", nargs="+", default=None, choices=datasets, metavar="NAME", help="only these")
    names = tuple(dict.fromkeys(_grids.FULL_GRIDS + _grids.SCALE_BLOCKS))
    grids = f"full: {', '.join(_grids.FULL_GRIDS)}; scale: {', '.join(_grids.SCALE_BLOCKS)}"
    p.add_argument("--only", nargs="+", default=None, choices=names, metavar="GRID", help=grids)
    p.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        default=None,
        help="seeds (default: full 0 1 2, the paper's three; scale: each block's own)",
    )
    p.add_argument("--rounds", type=int, default=None, help="a pipeline check: this many rounds per cell")
    p.add_argument(
        "--stand-in-model", action="store_true", help=f"a pipeline check: FC nets with {STAND_IN_HIDDEN} hidden units"
    )
    p.add_argument(
        "--results-dir",
        default=None,
        help="results cache (default: $FEDLIB_RESULTS_DIR, else the user cache; the book's pages read the scale "
        "campaign from its results/scale)",
    )
    p.add_argument(
        "--root",
        default=None,
        metavar="DIR",
        help="the data root `fedlib data fetch --root DIR` installed into (default: $FEDLIB_DATA, else the user "
        "data folder); each dataset is read from DIR/NAME",
    )
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:8786", help="run on this Dask cluster")
    p.add_argument("--workers", type=int, default=None, help="local worker processes (default: one per GPU if >1)")
    p.add_argument("--retries", type=int, default=2, help="extra attempts for a run that fails (default 2)")
    p.add_argument("--measure-rounds", type=int, default=2, help="rounds per cost measurement (default 2)")
    p.add_argument("--no-measure", action="store_true", help="count the cells, measure nothing")
    p.add_argument("--plan-only", action="store_true", help="print the plan and stop")
    p.add_argument("--dry-run", action="store_true", help="run the full-profile dry run instead of the sweep")
    p.add_argument("--book", default=None, metavar="DIR", help="the book's sources (default: this folder if it is one)")
    p.add_argument("--no-book", action="store_true", help="run the sweep only")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_command)
    return p


def device_here(device: str, scheduler: str | None) -> bool:
    """Whether ``device`` exists on this machine. Without ``scheduler`` the runs happen here, so a missing
    device is a :class:`~fedlib.errors.ConfigError` before anything runs; with one, only the plan's
    measurement needs it here (False: the plan counts cells only)."""
    import torch

    available = not device.startswith("cuda") or torch.cuda.is_available()
    if not available and scheduler is None:
        raise ConfigError(f"--device {device}: expected a CUDA device on this machine; found none (torch.cuda).")
    return available


def run_command(args: argparse.Namespace) -> int:
    """Handler of ``reproduce``; returns the exit code (1: some runs or notebooks failed)."""
    from ._results import default_results_dir

    for name in ("rounds", "measure_rounds"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 1; found {getattr(args, name)}.")
    rep = Reproduction(
        profile=args.profile,
        grids=tuple(args.only) if args.only else None,
        datasets=tuple(args.datasets) if args.datasets else None,
        seeds=tuple(args.seeds) if args.seeds is not None else None,
        rounds=args.rounds,
        stand_in_model=args.stand_in_model,
    )
    if args.dry_run and rep.profile != "full":
        raise ConfigError(f"--dry-run runs the full profile's grids on generated data; found --profile {rep.profile}.")
    here = device_here(args.device, args.scheduler)
    results_dir = Path(args.results_dir or default_results_dir())
    start = time.perf_counter()
    plan = make_plan(rep, args.device, measure_rounds=args.measure_rounds, measure=here and not args.no_measure,
                     data_root=args.root, results_dir=None if args.dry_run else results_dir)  # fmt: skip
    print(format_plan(plan, rep) + f"\n(plan made in {time.perf_counter() - start:.0f} s)", flush=True)
    if not here:
        print(f"(no per-round cost measured: this machine has no {args.device!r}; the cluster's workers run the "
              "cells. Run --plan-only on a worker's machine for its costs.)", flush=True)  # fmt: skip
    if args.plan_only:
        return 0
    if args.dry_run:
        from .dry_run import dry_run, print_and_exit_code

        outcomes = dry_run(
            only=rep.grids,
            datasets=rep.datasets,
            rounds=args.rounds or 2,
            device=args.device,
            stand_in_model=args.stand_in_model,
        )
        return print_and_exit_code(outcomes)
    report = run_sweep(
        rep,
        results_dir,
        device=args.device,
        data_root=args.root,
        scheduler=args.scheduler,
        workers=args.workers,
        retries=args.retries,
        progress=not args.no_progress,
    )
    print("reproduce: " + report.summary(), flush=True)
    if report.failures:
        for failure in report.failures[:3]:
            print(f"  {failure.experiment.config_hash[:12]}: {failure.error}", flush=True)
        print(
            f"reproduce: {len(report.failures)} run(s) failed (see {results_dir / 'failed'}); the notebooks need "
            "every result: run the same command again to retry them.",
            flush=True,
        )
        return 1
    return _book_step(args, rep, results_dir)


def _book_step(args: argparse.Namespace, rep: Reproduction, results_dir: Path) -> int:
    book = None if args.no_book else find_book(args.book)
    read = book_results(book) if rep.profile == "scale" else None
    if read is not None and read.resolve() != results_dir.resolve():
        print(
            f"reproduce: results in {results_dir}. No book built: its pages read the scale campaign from {read}; "
            "run again with --results-dir there (the cells already computed are loaded, not re-run).",
            flush=True,
        )
        return 0
    if book is None:
        print(
            f"reproduce: results in {results_dir}. No book built: "
            + (
                "--no-book."
                if args.no_book
                else "this folder holds no book sources (_toc.yml, notebooks/, "
                "book/_lib/fedbook); pass --book DIR (a clone of the repository)."
            )
            + f" Notebooks that read them: {', '.join(rep.notebooks()) or 'none'}.",
            flush=True,
        )
        return 0
    code = run_book(book, book_commands(book, rep, results_dir, args.device))
    if code == 0:
        print(f"reproduce: book built: {book / '_build' / 'html' / 'index.html'}", flush=True)
    return 1 if code else 0
