"""The FedSGD round loop (the paper's §II-A setting under its §III threat model) as named steps.

One round of :class:`FedSGD` reads as its steps: :meth:`~FedSGD.sample_clients` → :meth:`~FedSGD.honest_gradients`
→ :meth:`~FedSGD.craft` → :meth:`~FedSGD.aggregate` → :meth:`~FedSGD.server_step` → :meth:`~FedSGD.evaluate` →
:meth:`~FedSGD.record`. What a rule or an attack needs from the engine is read from the registries
(:func:`fedlib.aggregators.needs`, :func:`fedlib.attacks.needs`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .. import aggregators, attacks
from .. import data as _data
from .._checks import all_finite
from ..errors import AttackInfeasible
from ._batches import ClientBatches, subset
from ._grads import FlatModel
from ._inputs import HasSetting, Setting, setting_of
from ._optim import ServerOptimiser
from ._policy import check_feasible, round_clients, round_f
from ._score import ServerScore
from ._setup import build_model, check_dataset, load_dataset, resolve_device


@dataclass
class TrainLog:
    """Everything one run measured.

    ``evals``: one dict per evaluation (``round`` = number of server steps taken; round 0 = the initial model)
    with ``val_acc``, ``val_loss``, ``test_acc``, ``test_loss`` (accuracies in %). ``rounds``: one dict per
    round with ``n_malicious`` (attackers drawn, m_t), ``f`` (what the AGR assumed), ``n_rows`` (AGR inputs),
    ``gamma`` (the attack's γ or None), ``malicious_selected`` (crafted rows the AGR selected, when it selects),
    ``dropped`` (non-finite rows removed under ``nonfinite="drop"``); and, only when they happen,
    ``attack_skipped`` (why the attack could not be crafted that round: the attackers sent honest gradients)
    and ``tie_breaks`` (what the rule reported about ties it broke with the server generator).
    """

    evals: list[dict[str, object]] = field(default_factory=list)
    rounds: list[dict[str, object]] = field(default_factory=list)
    diverged: bool = False
    diverged_round: int | None = None
    diverged_reason: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    device: str = "cpu"
    n_parameters: int = 0

    def best(self) -> dict[str, object]:
        """The evaluation with the highest validation accuracy (earliest on ties): the FL output model (§1)."""
        return max(self.evals, key=lambda e: (e["val_acc"], -e["round"]))  # type: ignore[operator]

    def stop(self, round_: int, reason: str) -> None:
        self.diverged, self.diverged_round, self.diverged_reason = True, round_, reason


@dataclass
class Draw:
    """Who takes part in round t: ``ids`` (malicious first), m_t drawn, the round's f, crafted rows injected,
    and how many attackers send crafted rows (``acting``; the surplus behave honestly)."""

    round: int
    ids: torch.Tensor
    m_t: int
    f: int
    inject: int
    acting: int

    @property
    def attacking(self) -> bool:
        return self.inject > 0


class FedSGD:
    """The state of one FedSGD run and its steps (paper §II-A: one gradient per client and round, one server step).

    Each round: :meth:`sample_clients` draws the round's clients (malicious ids ``< n_malicious`` first);
    :meth:`honest_gradients` computes ONE minibatch gradient per honest client at θ; :meth:`craft` builds the
    malicious rows from what the adversary knows (full knowledge: the round's benign gradients; partial: only
    its own clients' honest gradients, which the crafted rows replace; ``attack="none"``: everyone is honest);
    :meth:`aggregate` runs the AGR on ``[malicious; benign]`` with the round's f; :meth:`server_step` steps θ;
    :meth:`evaluate` scores θ on validation and test every ``eval_every`` steps (and at step 0 and the last);
    :meth:`record` appends the round to the log. A non-finite honest loss, gradient, θ or validation loss stops
    the run (``diverged``); the best-validation evaluation so far remains the output.

    When the attack raises :class:`~fedlib.errors.AttackInfeasible` in a round (e.g. partial knowledge with
    too few own rows), the acting attackers send their honest gradients that round and the round's record
    says ``attack_skipped``.

    Fang's defense (it needs ``score_fn``) scores the model the server would actually produce
    (:class:`~fedlib.fl.ServerScore`: the candidate step of the server optimiser on the first
    ``fang_val_samples`` validation samples). What the attack is given each round is built by
    :meth:`attack_context` (:class:`fedlib.attacks.AttackContext`: the server's rule options and scoring when it
    simulates the server's rule, ``n_total`` when it needs it).

    ``model`` (an ``nn.Module``) and ``dataset`` (a :class:`fedlib.data.Dataset`, e.g.
    :func:`fedlib.data.synthetic`) replace the setting's registered network and dataset; then the setting's
    model, ``init`` seed and dataset do not describe the run, and its results must not be cached under an
    experiment's hash.

    ``source`` is a :class:`~fedlib.fl.Setting` or anything that offers one as ``.setting`` (an
    :class:`~fedlib.experiments.Experiment`).
    """

    def __init__(
        self,
        source: Setting | HasSetting,
        *,
        dataset: _data.Dataset | None = None,
        model: torch.nn.Module | None = None,
    ):
        setting = self.setting = setting_of(source)
        self.clock = {k: 0.0 for k in ("gradients", "attack", "aggregate", "step", "eval")}
        t_start = time.perf_counter()
        self.device, self.dtype = resolve_device(setting.options.device), setting.options.torch_dtype
        self.dataset = load_dataset(setting) if dataset is None else dataset
        check_dataset(setting, self.dataset)
        self.n_total = self.dataset.n_clients
        check_feasible(setting, self.n_total)
        self.k = round_clients(setting, self.n_total)
        self.data_s = time.perf_counter() - t_start
        module = build_model(setting, self.dataset) if model is None else model
        self.net = FlatModel(module, dtype=self.dtype, device=self.device)
        training = setting.training
        self.optimiser = ServerOptimiser(
            training.optimiser,
            self.net.theta,
            lr=training.lr,
            decay_rounds=training.lr_decay_rounds,
            decay_factor=training.lr_decay_factor,
        )
        self.sample_gen, self.attack_gen, self.server_gen = setting.seeds.generators(self.device)
        self.batches = ClientBatches(self.dataset, training.batch_size, self.sample_gen, self.device, self.dtype)
        ds, dev, dt = self.dataset, self.device, self.dtype
        self.val = (ds.val_x.to(device=dev, dtype=dt), ds.val_y.to(dev))
        self.test = (ds.test_x.to(device=dev, dtype=dt), ds.test_y.to(dev))
        n_score = setting.defense.fang_val_samples
        self.score_set = (self.val[0][:n_score], self.val[1][:n_score])
        #: (loss, error 0–1) of the model the server would produce with an aggregate (Fang's defense's score_fn).
        self.score_fn = ServerScore(self.net, self.optimiser, *self.score_set)
        self.rule_options = self._rule_options()
        self.log = TrainLog(device=str(self.device), n_parameters=self.net.d)
        self.on_round: Callable[[int], None] | None = None
        self.sync = torch.cuda.synchronize if self.device.type == "cuda" else (lambda: None)
        self.t_start = t_start

    @property
    def theta(self) -> torch.Tensor:
        return self.optimiser.theta

    # ------------------------------------------------------------------ what rules and attacks need
    def _rule_options(self) -> dict[str, object]:
        defense = self.setting.defense
        needs = aggregators.needs(defense.aggregator)
        supplied = {"generator": self.server_gen, "score_fn": self.score_fn}
        return {**defense.aggregator_options, **{k: v for k, v in supplied.items() if k in needs}}

    def attack_context(self, draw: Draw, known: torch.Tensor, benign: torch.Tensor) -> attacks.AttackContext:
        """What the attack is given this round (:class:`fedlib.attacks.AttackContext`): ``known`` rows (the benign
        ones, or under partial knowledge the attackers' own), ``draw.inject`` rows to craft aimed at the setting's
        target with the round's f, the server's rule options and scoring, the attack generator."""
        setting, threat, defense = self.setting, self.setting.threat, self.setting.defense
        return attacks.AttackContext.of(
            threat.attack,
            benign=benign,
            own=known,
            n_crafted=draw.inject,
            target=setting.target,
            f=draw.f,
            variant=setting.options.variant,
            knowledge=threat.knowledge,
            perturbation=threat.perturbation,
            search=threat.search,
            gamma_init=threat.gamma_init,
            generator=self.attack_gen,
            attack_options=threat.attack_options,
            server_rule=defense.aggregator,
            rule_options=defense.aggregator_options,
            score_fn=self.score_fn,
        )

    # ------------------------------------------------------------------ the steps of one round
    def sample_clients(self, t: int) -> Draw:
        """The round's clients, malicious first (as the released code stacks them), m_t, and the policy's f and
        injected rows."""
        setting = self.setting
        sampling, defense = setting.training.sampling, setting.defense
        if sampling == "all":
            ids = torch.arange(self.n_total)
        elif sampling == "with_replacement":
            ids = torch.randint(self.n_total, (self.k,), generator=self.sample_gen)
        else:
            ids = torch.randperm(self.n_total, generator=self.sample_gen)[: self.k]
        is_mal = ids < setting.threat.n_malicious
        ids = torch.cat([ids[is_mal], ids[~is_mal]])
        m_t = int(is_mal.sum())
        f, inject = round_f(
            defense.server_f,
            defense.aggregator,
            m_t,
            self.k,
            variant=setting.options.variant,
            options=defense.aggregator_options,
        )
        inject = inject if setting.threat.attack != "none" else 0
        return Draw(t, ids, m_t, f, inject, min(m_t, inject))

    def honest_gradients(self, draw: Draw, first: int = 0, stop: int | None = None):
        """(gradients, losses) of clients ``first:stop`` of the round at θ; None if any is non-finite."""
        if (self.k if stop is None else stop) <= first:
            return torch.empty(0, self.net.d, dtype=self.dtype, device=self.device)
        t0 = time.perf_counter()
        batches = subset(self.batches.get(draw.ids, draw.round), first, stop)
        grads, losses = self.net.client_gradients(self.theta, batches, method=self.setting.options.grad_method)
        self.sync()
        self.clock["gradients"] += time.perf_counter() - t0
        if not all_finite(losses) or not all_finite(grads):
            return None
        return grads

    def craft(self, draw: Draw, grads: torch.Tensor) -> tuple[torch.Tensor | None, float | None, str | None]:
        """(rows for the AGR, γ, why the attack was skipped) from the honest gradients the round computed.

        Full knowledge: ``grads`` are the benign clients' rows (the acting attackers computed none); partial:
        every client's honest row, of which the attackers know their own ``grads[:m_t]``.
        """
        if not draw.attacking:
            return grads, None, None
        t0 = time.perf_counter()
        full = self.setting.threat.knowledge == "full"
        known, benign = (grads, grads) if full else (grads[: draw.m_t], grads[draw.acting :])
        rows: torch.Tensor | None
        try:
            crafted = self.attack_context(draw, known, benign).craft()
            rows, gamma, skipped = torch.cat([crafted.updates, benign]), crafted.gamma, None
        except AttackInfeasible as exc:
            rows, gamma, skipped = self._honest_instead(draw, grads), None, str(exc)
        self.sync()
        self.clock["attack"] += time.perf_counter() - t0
        return rows, gamma, skipped

    def _honest_instead(self, draw: Draw, grads: torch.Tensor) -> torch.Tensor | None:
        """Every client's honest row: under full knowledge the acting attackers' gradients are computed now."""
        if self.setting.threat.knowledge == "partial" or draw.acting == 0:
            return grads
        own = self.honest_gradients(draw, 0, draw.acting)
        return None if own is None else torch.cat([own, grads])

    def aggregate(self, draw: Draw, rows: torch.Tensor) -> aggregators.Aggregate:
        """The AGR on the round's rows with the round's f."""
        t0 = time.perf_counter()
        defense = self.setting.defense
        result = aggregators.aggregate(
            defense.aggregator,
            rows,
            draw.f,
            variant=self.setting.options.variant,
            nonfinite=defense.nonfinite,
            **self.rule_options,
        )
        self.sync()
        self.clock["aggregate"] += time.perf_counter() - t0
        return result

    def server_step(self, vector: torch.Tensor) -> bool:
        """θ ← the server optimiser's step along the aggregate; False if θ became non-finite."""
        t0 = time.perf_counter()
        theta = self.optimiser.step(vector)
        self.sync()
        self.clock["step"] += time.perf_counter() - t0
        return all_finite(theta)

    def evaluate(self, step: int, on_eval: Callable | None = None) -> bool:
        """Validation and test loss/accuracy of θ after ``step`` steps; False on a non-finite validation loss."""
        t0 = time.perf_counter()
        val_loss, val_acc = self.net.evaluate(self.theta, *self.val)
        test_loss, test_acc = self.net.evaluate(self.theta, *self.test)
        self.clock["eval"] += time.perf_counter() - t0
        if not math.isfinite(val_loss):
            self.log.stop(step, "non-finite validation loss")
            return False
        record: dict[str, object] = {
            "round": step,
            "val_acc": val_acc,
            "val_loss": val_loss,
            "test_acc": test_acc,
            "test_loss": test_loss,
        }
        self.log.evals.append(record)
        if on_eval is not None:
            on_eval(record)
        return True

    def record(self, draw: Draw, rows: torch.Tensor, result: aggregators.Aggregate, gamma, skipped) -> None:
        """Append the round's record to the log."""
        inject = 0 if skipped else draw.inject
        selected = None
        if result.selected is not None and inject:
            selected = int((result.selected < inject).sum())
        entry = {
            "round": draw.round,
            "n_malicious": draw.m_t,
            "f": draw.f,
            "n_rows": int(rows.shape[0]),
            "gamma": gamma,
            "malicious_selected": selected,
            "dropped": 0 if result.dropped is None else int(result.dropped.numel()),
        }
        if skipped:
            entry["attack_skipped"] = skipped
        ties = {k: v for k, v in result.info.items() if "tie" in k}
        if ties:
            entry["tie_breaks"] = {k: (v.tolist() if torch.is_tensor(v) else v) for k, v in ties.items()}
        self.log.rounds.append(entry)

    # ------------------------------------------------------------------ the loop
    def run_round(self, t: int) -> bool:
        """One round; False when the run must stop (divergence)."""
        draw = self.sample_clients(t)
        first = draw.acting if (draw.attacking and self.setting.threat.knowledge == "full") else 0
        grads = self.honest_gradients(draw, first)
        rows, gamma, skipped = (None, None, None) if grads is None else self.craft(draw, grads)
        if rows is None:
            self.log.stop(t, "non-finite honest loss or gradient")
            return False
        result = self.aggregate(draw, rows)
        finite = self.server_step(result.vector)
        self.record(draw, rows, result, gamma, skipped)
        if self.on_round is not None:
            self.on_round(t)
        if not finite:
            self.log.stop(t, "non-finite model parameters")
        return finite

    def run(self, on_eval: Callable | None = None, on_round: Callable[[int], None] | None = None) -> TrainLog:
        """Run every round and return the :class:`TrainLog`."""
        self.on_round = on_round
        self.evaluate(0, on_eval)
        rounds, every = self.setting.training.rounds, self.setting.training.eval_every
        for t in range(rounds):
            if not self.run_round(t):
                break
            step = t + 1
            if (step % every == 0 or step == rounds) and not self.evaluate(step, on_eval):
                break
        self.log.timings = {
            "data_s": self.data_s,
            **{f"{k}_s": v for k, v in self.clock.items()},
            "total_s": time.perf_counter() - self.t_start,
            "rounds_run": len(self.log.rounds),
        }
        return self.log


def train(
    source: Setting | HasSetting,
    *,
    dataset: _data.Dataset | None = None,
    model: torch.nn.Module | None = None,
    on_eval: Callable[[dict[str, object]], None] | None = None,
    on_round: Callable[[int], None] | None = None,
) -> TrainLog:
    """Run FedSGD for the setting's rounds (see :class:`FedSGD`) and return the :class:`TrainLog`.

    ``source`` is a :class:`~fedlib.fl.Setting` or an object that offers one as ``.setting`` (an
    :class:`~fedlib.experiments.Experiment`). ``dataset`` / ``model`` replace the setting's registered dataset
    and network (train your own model). The setting is checked before round 1 (:func:`fedlib.fl.check_feasible`).

    The run options' ``variant`` reaches the AGR and the attack. Released-code quirks of the loop itself are not
    reproduced: evaluation uses every validation/test sample (the released code scores ⌊N/64⌋−1 batches of 64)
    and the mislabelled LIE cells are not imitated (the book's *Paper code against textbook* chapter, "Released
    behaviours fedlib does not reproduce").

    Example:
        >>> import torch
        >>> from fedlib.fl import DataSetup, Defense, RunOptions, Setting, ThreatModel, TrainingSetup, train
        >>> setting = Setting(DataSetup(n_clients=10, samples_per_client=20), TrainingSetup(batch_size=10, rounds=2),
        ...                   Defense(aggregator="median"), ThreatModel(n_malicious=2, attack="min_max"),
        ...                   RunOptions(device="cpu"))
        >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
        >>> log = train(setting, model=net)
        >>> [r["n_rows"] for r in log.rounds], len(log.evals)
        ([10, 10], 2)
    """
    return FedSGD(source, dataset=dataset, model=model).run(on_eval, on_round)
