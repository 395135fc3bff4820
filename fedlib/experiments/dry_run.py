"""Dry run of the paper's full grids: every cell for a few rounds on generated data with the real shapes.

``python -m fedlib dry-run --profile full [--rounds N] [--stand-in-model] [--datasets ...] [--only GRID]`` runs
every distinct cell of every full-profile grid of the paper (:data:`fedlib.experiments.grids.FULL_GRIDS`) on
:func:`fedlib.data.synthetic` data shaped like the cell's dataset (CIFAR10: 50 clients of 3×32×32; FEMNIST:
3,400 writers, 60 drawn per round; Purchase100: 600 features, 100 classes; MNIST: 28×28, 100 clients) and prints
each as ``ok``, ``refused`` (the static check :func:`fedlib.fl.check_feasible` rejected it before round 1, with
the reason) or ``failed`` (it raised during a round), then a summary. Each client holds one minibatch of the
cell's batch size (cells whose batch is the whole local data, as FEMNIST: 8 samples per client; equal sizes, so
gradients take the stacked path), so the rows the attacks and rules see have the real count and dimension.
``--stand-in-model`` replaces the network by a linear layer so that the whole run finishes on a CPU in minutes;
cells that then differ only in their network (CIFAR10's Alexnet and VGG11 rows) are one run, reported for both.
Accuracies of a dry run mean nothing.

Example:
    >>> from fedlib.experiments.dry_run import dry_run
    >>> outcomes = dry_run(only=["cross_device"], rounds=1, stand_in_model=True, limit=1, echo=None)
    >>> [(o.grid, o.status) for o in outcomes]
    [('cross_device', 'ok')]
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from .. import data as _data
from ..errors import ConfigError
from . import grids as _grids
from ._config import Experiment


@dataclass(frozen=True)
class Outcome:
    """One dry-run cell: its grid, description, ``ok`` / ``refused`` / ``failed``, why, and how long it took."""

    grid: str
    cell: str
    status: str
    detail: str = ""
    seconds: float = 0.0


class _Datasets:
    """Generated datasets, kept while consecutive cells share one (cells come grouped by dataset)."""

    def __init__(self) -> None:
        self.key: tuple[str, int, int] | None = None
        self.value: _data.Dataset | None = None

    def get(self, exp: Experiment) -> _data.Dataset:
        per_client = exp.batch_size or 8
        if exp.n_clients is None:  # (only FEMNIST's real writer split has no fixed count)
            raise ConfigError(f"the dry run generates {exp.dataset} for n_clients clients; found n_clients=None.")
        key = (exp.dataset, exp.n_clients, per_client)
        if key != self.key or self.value is None:
            self.key, self.value = None, None  # free the previous one first
            self.value = _data.synthetic(
                exp.dataset, n_clients=exp.n_clients, samples_per_client=per_client, seed=exp.split_seed
            )
            self.key = key
        return self.value


def stand_in_model(dataset: _data.Dataset, seed: int = 0) -> torch.nn.Module:
    """A linear classifier for ``dataset``'s inputs (weights N(0, 0.01²) from ``seed``)."""
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(math.prod(dataset.input_shape), dataset.n_classes))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.01)
    return net


def run_cell(exp: Experiment, dataset: _data.Dataset, *, stand_in: bool) -> tuple:
    """(status, detail) of one cell: refused by the static check, failed in a round, or ok."""
    from ..fl import FedSGD, check_feasible

    try:
        check_feasible(exp, dataset.n_clients)
    except ConfigError as exc:
        return "refused", str(exc)
    try:
        log = FedSGD(exp, dataset=dataset, model=stand_in_model(dataset) if stand_in else None).run()
    except Exception as exc:  # noqa: BLE001 - a dry run reports every failure, whatever its type
        return "failed", f"{type(exc).__name__}: {exc}"
    skipped = [r["attack_skipped"] for r in log.rounds if "attack_skipped" in r]
    notes = [f"attack skipped in {len(skipped)} round(s): {skipped[0]}"] if skipped else []
    if log.diverged:
        notes.append(f"diverged at round {log.diverged_round} ({log.diverged_reason})")
    return "ok", "; ".join(notes)


def cells(only: Sequence[str] | None = None, datasets: Sequence[str] | None = None) -> list[tuple]:
    """(grid name, Experiment) for every distinct cell (first grid that has it), seed 0."""
    names = list(only or _grids.FULL_GRIDS)
    unknown = sorted(set(names) - set(_grids.FULL_GRIDS))
    if unknown:
        raise ConfigError(f"dry run: unknown grid(s) {unknown}; known: {list(_grids.FULL_GRIDS)}.")
    seen, out = set(), []
    for name in names:
        for cell in _grids.full_grid(name, [0], datasets=datasets):
            if cell.experiment.config_hash not in seen:
                seen.add(cell.experiment.config_hash)
                out.append((name, cell.experiment))
    # FEMNIST first (cross-device: the settings most likely to fail), then the cross-silo datasets.
    order = {"femnist": 0, "cifar10": 1, "mnist": 2, "purchase100": 3}
    return sorted(out, key=lambda c: (order.get(c[1].dataset, 99), c[1].n_clients, c[1].batch_size or 0, c[1].model))


def dry_run(
    *,
    only: Sequence[str] | None = None,
    datasets: Sequence[str] | None = None,
    rounds: int = 2,
    stand_in_model: bool = False,
    device: str = "cpu",
    limit: int | None = None,
    echo: Callable[[str], None] | None = print,
    todo: Sequence[tuple] | None = None,
) -> list[Outcome]:
    """Run every distinct cell of the chosen full grids (or the (grid name, Experiment) pairs ``todo``) for
    ``rounds`` rounds on generated data; return the outcomes."""
    todo = list(cells(only, datasets) if todo is None else todo)[:limit]
    store, outcomes = _Datasets(), []
    done: dict[str, tuple[str, str, str]] = {}
    for i, (grid, exp) in enumerate(todo, 1):
        exp = exp.replace(rounds=rounds, eval_every=rounds, device=device)
        same = done.get(_run_key(exp, stand_in_model))
        t0 = time.perf_counter()
        if same is None:
            status, detail = run_cell(exp, store.get(exp), stand_in=stand_in_model)
            done[_run_key(exp, stand_in_model)] = (status, detail, _describe(exp))
        else:  # with the stand-in model, cells that differ only in their network are the same run
            status, detail = same[0], f"same run as {same[2]} (stand-in model)" + (f"; {same[1]}" if same[1] else "")
        outcome = Outcome(grid, _describe(exp), status, detail, time.perf_counter() - t0)
        outcomes.append(outcome)
        if echo is not None:
            echo(
                f"[{i:4d}/{len(todo)}] {status:8s} {grid:18s} {outcome.cell} ({outcome.seconds:.1f}s)"
                + (f"\n             {detail}" if detail else "")
            )
    return outcomes


def _run_key(exp: Experiment, stand_in: bool) -> str:
    values = exp.to_dict()
    if stand_in:  # the network is replaced, so its name and options do not change the run
        values.pop("model"), values.pop("model_options")
    return json.dumps(values, sort_keys=True)


def _describe(exp: Experiment) -> str:
    extra = [
        f"{k}={getattr(exp, k)}" for k in ("perturbation", "attack_target") if getattr(exp, k) not in (None, "std")
    ]
    return (
        f"{exp.dataset}/{exp.model} {exp.aggregator} vs {exp.attack} ({exp.knowledge}) "
        f"m={exp.n_malicious}/{exp.n_clients}"
        + (f" k={exp.clients_per_round}" if exp.clients_per_round else "")
        + "".join(" " + e for e in extra)
    )


def summary(outcomes: Sequence[Outcome]) -> str:
    """Counts per grid and status, and the distinct failure and refusal reasons."""
    lines = []
    by_grid: dict[str, Counter] = {}
    for o in outcomes:
        by_grid.setdefault(o.grid, Counter())[o.status] += 1
    for grid, counts in by_grid.items():
        lines.append(f"{grid:18s} " + ", ".join(f"{counts[s]} {s}" for s in ("ok", "refused", "failed")))
    total = Counter(o.status for o in outcomes)
    lines.append(
        f"{'total':18s} "
        + ", ".join(f"{total[s]} {s}" for s in ("ok", "refused", "failed"))
        + f" of {len(outcomes)} cells"
    )
    for status in ("failed", "refused"):
        reasons = Counter(o.detail.split("\n")[0][:160] for o in outcomes if o.status == status)
        for reason, n in reasons.most_common():
            lines.append(f"  {status} ×{n}: {reason}")
    return "\n".join(lines)


def print_and_exit_code(outcomes) -> int:
    """Print :func:`summary` of ``outcomes``; the command line's exit code: 1 if a cell failed, else 0."""
    print(summary(outcomes))
    return 1 if any(o.status == "failed" for o in outcomes) else 0
