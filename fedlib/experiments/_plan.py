"""The plan of a reproduction: the cells of each grid, those already computed, and the hours the others take
(:func:`make_plan`, :func:`format_plan`), priced from the runs already in the results folder or from a per-round
cost measured on this device (:func:`measure_round`)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, DatasetNotFoundError, ResultFileError
from ._config import Experiment
from ._reproduction import Reproduction, with_data_root


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
    from .store import ResultsStore

    out: dict[str, float] = {}
    if results_dir is None:
        return out
    store = ResultsStore(results_dir)
    for exp in experiments:
        try:
            result = store.get(exp)
        except ResultFileError:
            result = None
        if result is not None:
            timings = result.timings
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


def format_plan(plan: Plan, rep: Reproduction, readers: Callable[[str], Sequence[str]] | None = None) -> str:
    """The plan as text: the reproduction, one line per grid, how the runs to do were priced, the total.

    ``readers(grid)``, when given, names what reads each grid's results (the book passes the pages that show them):
    a last column."""
    lines = [f"plan: fedlib reproduce, {rep.describe()}", f"device: {plan.device}", ""]
    rounds = {r["grid"]: ",".join(str(x) for x in r["rounds"]) or "-" for r in plan.rows}
    width = max(8, *map(len, rounds.values())) + 2
    priced = sum(r["priced"] for r in plan.rows)
    estimated = bool(plan.costs) or priced > 0
    read_by = "  read by" if readers is not None else ""
    lines.append(f"{'grid':19s}{'cells':>6s}{'new':>6s}{'done':>6s}  {'rounds':{width}s}{'est. hours':>11s}{read_by}")
    for r in plan.rows:
        hours = f"{r['hours']:11.2f}" if estimated else f"{'-':>11s}"
        read = "" if readers is None else "  " + (", ".join(readers(r["grid"])) or "-")
        lines.append(
            f"{r['grid']:19s}{r['cells']:6d}{r['new']:6d}{r['done']:6d}  {rounds[r['grid']]:{width}s}{hours}{read}"
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
