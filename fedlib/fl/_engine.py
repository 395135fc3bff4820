"""The FedSGD round loop (spec §1, §2, §5): sampling, honest gradients, attack, AGR, server step, evaluation."""

from __future__ import annotations

import inspect
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Tuple

import torch

from .. import aggregators, attacks
from .. import data as _data
from .. import models as _models
from ..errors import ConfigError
from ._grads import FlatModel
from ._optim import ServerOptimiser

if TYPE_CHECKING:  # pragma: no cover
    from ..experiments import Experiment

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_device(name: str) -> torch.device:
    """``auto`` → ``cuda`` when available, else ``cpu``; anything else as given (and checked to exist)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} was asked for but CUDA is not available here; use 'cpu' or 'auto'.")
    return device


@dataclass
class TrainLog:
    """Everything one run measured.

    ``evals``: one dict per evaluation (``round`` = number of server steps taken; round 0 = the initial model)
    with ``val_acc``, ``val_loss``, ``test_acc``, ``test_loss`` (accuracies in %). ``rounds``: one dict per
    round with ``n_malicious`` (attackers drawn, m_t), ``f`` (what the AGR assumed), ``n_rows`` (AGR inputs),
    ``gamma`` (the attack's γ or None), ``malicious_selected`` (crafted rows the AGR selected, when it selects),
    ``dropped`` (non-finite rows removed under ``nonfinite="drop"``).
    """

    evals: List[Dict[str, object]] = field(default_factory=list)
    rounds: List[Dict[str, object]] = field(default_factory=list)
    diverged: bool = False
    diverged_round: Optional[int] = None
    diverged_reason: Optional[str] = None
    timings: Dict[str, float] = field(default_factory=dict)
    device: str = "cpu"
    n_parameters: int = 0

    def best(self) -> Dict[str, object]:
        """The evaluation with the highest validation accuracy (earliest on ties): the FL output model (§1)."""
        return max(self.evals, key=lambda e: (e["val_acc"], -e["round"]))  # type: ignore[operator]


class _ClientBatches:
    """Fixed cyclic minibatches per client (spec §5.1): each client's samples are shuffled once (one permutation
    shared by all clients when they have equal sizes, as the released code), then client i uses minibatch
    ``t mod ⌊n_i/B⌋`` at round t. ``batch_size=None`` uses the whole local dataset (spec §5.2)."""

    def __init__(self, ds: _data.Dataset, batch_size: Optional[int], generator: torch.Generator, device, dtype):
        self.x = ds.train_x.to(device=device, dtype=dtype)
        self.y = ds.train_y.to(device=device)
        sizes = ds.client_sizes()
        self.equal = len(set(sizes)) == 1
        if self.equal:
            shared = torch.randperm(sizes[0], generator=generator)
            self.index = torch.stack(list(ds.clients))[:, shared].to(device)  # (N, S)
        else:
            self.index = [c[torch.randperm(c.numel(), generator=generator)].to(device) for c in ds.clients]
        self.batch = [s if batch_size is None else min(batch_size, s) for s in sizes]
        self.n_batches = [max(1, s // b) for s, b in zip(sizes, self.batch)]

    def get(self, ids: torch.Tensor, round_: int):
        """Stacked ``(X (k, B, ...), Y (k, B))`` when all chosen clients share one batch size and count, else a
        list of (x_i, y_i)."""
        ids_list = ids.tolist()
        if self.equal:
            b, nb = self.batch[0], self.n_batches[0]
            pos = (round_ % nb) * b
            rows = self.index[ids.to(self.index.device), pos:pos + b]
            return self.x[rows], self.y[rows]
        out = []
        for i in ids_list:
            pos = (round_ % self.n_batches[i]) * self.batch[i]
            rows = self.index[i][pos:pos + self.batch[i]]
            out.append((self.x[rows], self.y[rows]))
        return out


def _subset(batches, start: int, stop: Optional[int] = None):
    if isinstance(batches, tuple):
        return batches[0][start:stop], batches[1][start:stop]
    return batches[start:stop]


def _count(batches) -> int:
    return batches[0].shape[0] if isinstance(batches, tuple) else len(batches)


def round_f(policy, aggregator: str, m_t: int) -> Tuple[int, int]:
    """(f the AGR assumes, number of crafted rows injected) for a round with ``m_t`` attackers drawn.

    ``"true"``: (m_t, m_t); an int F: (F, m_t); ``"ndss21_femnist"`` (spec §5.2): Krum / Multi-krum
    f = max(2, m_t), Bulyan f = min(14, max(2, m_t)), f copies injected (surplus attackers stay honest); other
    rules (m_t, m_t).
    """
    if policy == "true":
        return m_t, m_t
    if isinstance(policy, int):
        return policy, m_t
    if aggregator in ("krum", "multi_krum"):
        f = max(2, m_t)
    elif aggregator == "bulyan":
        f = min(14, max(2, m_t))
    else:
        return m_t, m_t
    return f, (f if m_t > 0 else 0)


def _accepts(fn: Callable, name: str) -> bool:
    return name in inspect.signature(fn).parameters


def train(
    exp: "Experiment",
    *,
    dataset: Optional[_data.Dataset] = None,
    on_eval: Optional[Callable[[Dict[str, object]], None]] = None,
    on_round: Optional[Callable[[int], None]] = None,
) -> TrainLog:
    """Run FedSGD for ``exp.rounds`` rounds and return the :class:`TrainLog`.

    Each round (spec §1): draw the round's clients (malicious ids ``< n_malicious`` first); honest clients compute
    ONE minibatch gradient each at the global model θ; the attack crafts the malicious rows from what the
    adversary knows (full knowledge: the round's benign gradients; partial: only its own clients' honest
    gradients, which the crafted rows replace; ``attack="none"``: everyone is honest); the AGR aggregates the
    stack ``[malicious; benign]`` with the round's f; the server optimiser steps θ along the aggregate.
    θ is evaluated on validation and test every ``eval_every`` steps (and at step 0 and the last step).
    A non-finite honest loss, gradient, θ or validation loss stops the run: ``diverged`` and the round are
    recorded; the best-validation evaluation so far remains the output.

    Fang's defense gets ``score_fn(vector) -> (loss, error)``: the loss and error rate (0–1) of
    θ − η_t·vector on the first ``fang_val_samples`` validation samples. An attack that simulates the AGR gets
    the server's ``aggregator_options`` (plus that ``score_fn`` when it simulates Fang's defense: the
    AGR-tailored adversary knows the rule) and ``n_total`` (rows the AGR sees) when it accepts them.

    ``exp.variant`` reaches the AGR and the attack. Released-code quirks of the loop itself are not reproduced:
    evaluation uses every validation/test sample (the code scores ⌊N/64⌋−1 batches of 64, spec §5.1) and the
    mislabelled LIE cells (spec §7.3, §7.17) are not imitated.
    """
    t_start = time.perf_counter()
    device = resolve_device(exp.device)
    dtype = _DTYPES[exp.dtype]
    if dataset is None:
        dataset = _data.load(
            exp.dataset, exp.data_root, split_seed=exp.split_seed, n_clients=exp.n_clients,
            samples_per_client=exp.samples_per_client, partition=exp.partition, alpha=exp.partition_alpha,
            **exp.dataset_options,
        )
    n_total = dataset.n_clients
    if exp.n_malicious >= n_total:
        raise ConfigError(f"n_malicious={exp.n_malicious} must be < the {n_total} clients of the dataset split.")
    if exp.sampling == "without_replacement" and exp.clients_per_round > n_total:
        raise ConfigError(f"clients_per_round={exp.clients_per_round} > {n_total} clients without replacement.")
    t_data = time.perf_counter()

    model_opts = dict(exp.model_options)
    if exp.model in ("mnist_fc", "purchase_fc"):
        model_opts["in_features"] = math.prod(dataset.input_shape)
    module = _models.build(exp.model, n_classes=dataset.n_classes, seed=exp.init_seed, **model_opts)
    net = FlatModel(module, dtype=dtype, device=device)
    theta = net.theta
    optimiser = ServerOptimiser(exp.optimiser, lr=exp.lr, decay_rounds=exp.lr_decay_rounds, decay_factor=exp.lr_decay_factor)

    sample_gen = torch.Generator().manual_seed(exp.sample_seed)
    attack_gen = torch.Generator(device=device).manual_seed(exp.attack_seed)
    # Server-side randomness (e.g. DnC's coordinate draws) gets its own stream, derived from sample_seed.
    server_gen = torch.Generator(device=device).manual_seed(exp.sample_seed * 1_000_003 + 17)
    batches = _ClientBatches(dataset, exp.batch_size, sample_gen, device, dtype)
    val_x, val_y = dataset.val_x.to(device=device, dtype=dtype), dataset.val_y.to(device)
    test_x, test_y = dataset.test_x.to(device=device, dtype=dtype), dataset.test_y.to(device)

    agg_fn = aggregators.get(exp.aggregator)
    agg_extra: Dict[str, object] = {}
    if _accepts(agg_fn, "generator"):
        agg_extra["generator"] = server_gen
    lr_now = [exp.lr]
    score_x, score_y = val_x[: exp.fang_val_samples], val_y[: exp.fang_val_samples]

    def score_fn(vector: torch.Tensor) -> Tuple[float, float]:
        loss, acc = net.evaluate(theta_now[0] - lr_now[0] * vector, score_x, score_y)
        return loss, 1.0 - acc / 100.0

    if exp.aggregator == "fang":
        agg_extra["score_fn"] = score_fn
    attack_fn = attacks.get(exp.attack)
    attack_extra: Dict[str, object] = {}
    # The adversary simulating the AGR knows its options (and, for Fang's defense, the server's scoring).
    target = exp.attack_target or exp.aggregator
    if _accepts(attack_fn, "aggregator_options") and "aggregator_options" not in exp.attack_options:
        simulated = dict(exp.aggregator_options) if target == exp.aggregator else {}
        if target == "fang":
            simulated["score_fn"] = score_fn
        if simulated:
            attack_extra["aggregator_options"] = simulated
    pass_n_total = _accepts(attack_fn, "n_total") and "n_total" not in exp.attack_options

    log = TrainLog(device=str(device), n_parameters=net.d)
    clock = {"gradients": 0.0, "attack": 0.0, "aggregate": 0.0, "step": 0.0, "eval": 0.0}
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def evaluate(step: int) -> bool:
        t0 = time.perf_counter()
        val_loss, val_acc = net.evaluate(theta, val_x, val_y)
        test_loss, test_acc = net.evaluate(theta, test_x, test_y)
        clock["eval"] += time.perf_counter() - t0
        record = {"round": step, "val_acc": val_acc, "val_loss": val_loss, "test_acc": test_acc, "test_loss": test_loss}
        if not math.isfinite(val_loss):
            log.diverged, log.diverged_round, log.diverged_reason = True, step, "non-finite validation loss"
            return False
        log.evals.append(record)
        if on_eval is not None:
            on_eval(record)
        return True

    theta_now = [theta]
    evaluate(0)
    m_all = exp.n_malicious
    k = n_total if exp.sampling == "all" else exp.clients_per_round
    for t in range(exp.rounds):
        # -- who takes part
        if exp.sampling == "all":
            ids = torch.arange(n_total)
        elif exp.sampling == "with_replacement":
            ids = torch.randint(n_total, (k,), generator=sample_gen)
        else:
            ids = torch.randperm(n_total, generator=sample_gen)[:k]
        is_mal = ids < m_all
        ids = torch.cat([ids[is_mal], ids[~is_mal]])  # malicious rows first (spec §1)
        m_t = int(is_mal.sum())
        f, inject = round_f(exp.server_f, exp.aggregator, m_t)
        attacking = exp.attack != "none" and inject > 0
        inject = inject if attacking else 0
        acting = min(m_t, inject)  # attackers that send crafted rows; the surplus behave honestly
        lr_now[0] = optimiser.lr_at(t)
        theta_now[0] = theta

        # -- honest gradients (full knowledge: the acting attackers compute none)
        t0 = time.perf_counter()
        round_batches = batches.get(ids, t)
        first = acting if (attacking and exp.knowledge == "full") else 0
        grads, losses = net.client_gradients(theta, _subset(round_batches, first), method=exp.grad_method)
        sync()
        clock["gradients"] += time.perf_counter() - t0
        if not bool(torch.isfinite(losses).all()) or not bool(torch.isfinite(grads).all()):
            log.diverged, log.diverged_round, log.diverged_reason = True, t, "non-finite honest loss or gradient"
            break

        # -- the attack
        gamma = None
        t0 = time.perf_counter()
        if attacking:
            if exp.knowledge == "full":
                known, benign = grads, grads
            else:
                known, benign = grads[:m_t], grads[acting:]
            options = {**exp.attack_options, **attack_extra}
            if pass_n_total:
                options["n_total"] = inject + benign.shape[0]  # clients in the round, as the AGR sees them
            crafted = attacks.craft(
                exp.attack, known, inject, aggregator=target, f=f, perturbation=exp.perturbation,
                search=exp.search, gamma_init=exp.gamma_init, knowledge=exp.knowledge, generator=attack_gen,
                variant=exp.variant, **options,
            )
            gamma = crafted.gamma
            rows = torch.cat([crafted.updates, benign])
        else:
            rows = grads
        sync()
        clock["attack"] += time.perf_counter() - t0

        # -- aggregation and the server step
        t0 = time.perf_counter()
        result = aggregators.aggregate(
            exp.aggregator, rows, f, variant=exp.variant, nonfinite=exp.nonfinite, **exp.aggregator_options, **agg_extra
        )
        sync()
        clock["aggregate"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        theta = optimiser.step(theta, result.vector, t)
        sync()
        clock["step"] += time.perf_counter() - t0

        selected = None
        if result.selected is not None and inject:
            selected = int((result.selected < inject).sum())
        log.rounds.append({
            "round": t, "n_malicious": m_t, "f": f, "n_rows": int(rows.shape[0]), "gamma": gamma,
            "malicious_selected": selected,
            "dropped": 0 if result.dropped is None else int(result.dropped.numel()),
        })
        if on_round is not None:
            on_round(t)
        if not bool(torch.isfinite(theta).all()):
            log.diverged, log.diverged_round, log.diverged_reason = True, t, "non-finite model parameters"
            break
        step = t + 1
        if step % exp.eval_every == 0 or step == exp.rounds:
            if not evaluate(step):
                break

    log.timings = {
        "data_s": t_data - t_start,
        **{f"{k}_s": v for k, v in clock.items()},
        "total_s": time.perf_counter() - t_start,
        "rounds_run": len(log.rounds),
    }
    return log
