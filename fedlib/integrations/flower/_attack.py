"""AttackSimulation: the paper's model-poisoning attacks inside a Flower run (a simulation tool)."""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterable
from logging import INFO, WARNING

import torch
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.common.logger import log
from flwr.serverapp import Grid
from flwr.serverapp.strategy import Strategy

from ... import aggregators, attacks
from ..._checks import check_choice, check_int
from ..._seeds import derived_seed
from ...errors import AttackInfeasible, ConfigError
from ...vocabulary import KNOWLEDGE
from ._nodes import NODE_RECORD, reported_partition
from ._strategy import FedlibStrategy, GlobalModel


class AttackSimulation(Strategy):
    r"""Wrap a Flower strategy so that the replies of malicious nodes are replaced by fedlib-crafted ones.

    A **simulation tool** for measuring robustness, not a defence: the wrapper sits on the server, where
    the paper's adversary is given what it knows, and replaces the malicious nodes' replies before the
    wrapped strategy aggregates. Each training round, with :math:`w_t` the global model sent out:

    1. the replies are split into malicious (nodes holding a partition of :attr:`malicious_partitions`) and
       benign ones; failed and malformed replies are passed on untouched (the wrapped strategy sets them
       aside), and a malicious node whose own reply is malformed sends it as it is;
    2. the adversary's knowledge, as updates :math:`w_i - w_t`: ``knowledge="full"``: every benign reply
       of the round; ``"partial"``: the malicious nodes' own honest replies;
    3. :func:`fedlib.attacks.craft` makes one malicious update per malicious reply (``attack`` with
       ``perturbation``, ``search``, ``attack_options``), and each malicious reply's arrays become
       :math:`w_t + \text{crafted}_i` (its metrics are kept);
    4. the wrapped strategy aggregates benign + crafted replies.

    When the wrapped strategy is a :class:`FedlibStrategy`, the adversary knows its rule, variant, f policy
    and rule options (and, for Fang's defense, its scoring): AGR-tailored attacks target it by default.
    Around any other Flower strategy (``FedAvg``, Flower's ``Krum``, ...) name the simulated rule with
    ``target`` and its f with ``f`` where the attack needs them (otherwise f = malicious replies).

    Args:
        strategy: the Flower strategy under attack.
        attack: a name from :func:`fedlib.attacks.names` (``lie``, ``fang``, ``tailored``, ``min_max``,
            ``min_sum``, ``none``).
        malicious: the malicious clients, named by data partition (``node_config["partition-id"]``, the same
            in Flower's simulation and deployment engines, unlike node IDs): their partition IDs, or a count m,
            in which case m of the P partitions are drawn with ``seed`` (P: the ``num-partitions`` the clients
            report, else the number of nodes). One seed attacks the same data on every engine. Each ClientApp
            reports its partition with its reply (:func:`node_record`; ``sgd_client_app`` and
            ``echo_client_app`` do; on an :class:`InProcessGrid` the grid knows it).
            :attr:`malicious_partitions` holds the partitions, :attr:`malicious_nodes` the nodes seen with them.
        knowledge: ``"full"`` or ``"partial"`` (above).
        target: the rule an AGR-aware attack simulates (default: the FedlibStrategy's rule).
        f: the f the attack assumes (default: the FedlibStrategy's f for the round's replies, else m).
        seed: the attack's random draws in round t use ``derived_seed(seed, t)`` (``seed * 1_000_003 + t``, the
            FL engine's formula).
        variant: ``"textbook"`` / ``"ndss21"`` (default: the FedlibStrategy's).
        **attack_options: the attack's own options (e.g. ``z=`` for LIE).

    ``aggregate_train`` adds ``attack-malicious`` (crafted replies), ``attack-gamma`` (γ, when the attack
    has one) and, for a FedlibStrategy whose rule selects, ``attack-selected`` (crafted replies it kept)
    to the wrapped strategy's metrics. A round in which the attack cannot be crafted
    (:class:`~fedlib.errors.AttackInfeasible`: say a crashed attacker leaves partial knowledge a single row, or
    full knowledge no valid benign reply) lets the malicious replies through unchanged and says
    ``attack-skipped``, as fedlib's engine does.

    Example:
        >>> import numpy as np
        >>> from flwr.app import ArrayRecord, ConfigRecord
        >>> from fedlib.integrations.flower import AttackSimulation, FedlibStrategy, InProcessGrid, echo_client_app
        >>> grid = InProcessGrid(echo_client_app(shift=lambda p: 0.1 * (p % 3)), num_nodes=6)
        >>> inner = FedlibStrategy("mean", f=2, flower_options={"min_train_nodes": 6})
        >>> strategy = AttackSimulation(inner, "lie", malicious=2, z=3.0)
        >>> w = ArrayRecord([np.zeros(3, np.float32)])
        >>> arrays, metrics = strategy.aggregate_train(
        ...     1, grid.send_and_receive(strategy.configure_train(1, w, ConfigRecord(), grid)))
        >>> metrics["attack-malicious"], len(strategy.malicious_nodes)
        (2, 2)
    """

    def __init__(
        self,
        strategy: Strategy,
        attack: str,
        *,
        malicious: int | Collection[int],
        knowledge: str = "full",
        target: str | None = None,
        f: int | None = None,
        seed: int = 0,
        perturbation: str = "std",
        search: str = "halving",
        variant: str | None = None,
        **attack_options,
    ) -> None:
        if not isinstance(strategy, Strategy):
            raise ConfigError(f"strategy must be a flwr Strategy; found {type(strategy).__name__}.")
        attacks.needs(attack)  # raises UnknownNameError for an unknown attack
        fedlib_rule = strategy if isinstance(strategy, FedlibStrategy) else None
        self.strategy, self.attack = strategy, attack
        self.knowledge = check_choice(knowledge, KNOWLEDGE, "knowledge")
        self.target = target if target is not None else (fedlib_rule.aggregator if fedlib_rule else None)
        if self.target is not None:
            check_choice(self.target, aggregators.names(), "target aggregator")
        if attacks.targets(attack) is not None and (self.target is None or not attacks.can_target(attack, self.target)):
            raise ConfigError(  # before round 1, not when the first round's replies are in
                f"attack {attack!r} targets {list(attacks.targets(attack) or ())}; found target {self.target!r} "
                "(name the rule the attack simulates with target=)."
            )
        self.f = None if f is None else check_int(f, "f", minimum=0)
        self.seed = check_int(seed, "seed", minimum=0)
        self.variant = variant or (fedlib_rule.variant if fedlib_rule else "textbook")
        self.perturbation, self.search, self.attack_options = perturbation, search, dict(attack_options)
        self.device = fedlib_rule.device if fedlib_rule else torch.device("cpu")
        self._malicious = malicious
        self.malicious_partitions: tuple[int, ...] | None = None
        self.partition_nodes: dict[int, int] = {}  # partition -> node ID, learnt from the replies
        self._grid_partitions: dict[int, int] = {}  # node ID -> partition, where the grid knows it
        self._grid_size = 0
        self.global_model: GlobalModel | None = None
        self.last_crafted: attacks.Crafted | None = None

    # -- who is malicious
    @property
    def malicious_nodes(self) -> tuple[int, ...]:
        """The node IDs seen so far that hold a malicious partition (ascending)."""
        evil = set(self.malicious_partitions or ())
        return tuple(sorted(node for p, node in self.partition_nodes.items() if p in evil))

    def choose_malicious(self, num_partitions: int) -> tuple[int, ...]:
        """The malicious data partitions among ``0..num_partitions-1``: the given ones, or ``malicious`` of them
        drawn with ``seed`` (the same partitions, hence the same data, on every engine)."""
        total = check_int(num_partitions, "num_partitions", minimum=1)
        if isinstance(self._malicious, int):  # check_int rejects a bool
            m = check_int(self._malicious, "malicious", minimum=0)
            if m >= total:
                raise ConfigError(f"malicious={m} must be < the {total} partitions (nodes) of the federation.")
            draw = torch.randperm(total, generator=torch.Generator().manual_seed(self.seed))[:m]
            return tuple(sorted(draw.tolist()))
        chosen = tuple(sorted(check_int(p, "malicious partition", minimum=0) for p in self._malicious))
        unknown = [p for p in chosen if p >= total]
        if unknown:
            raise ConfigError(f"malicious partitions {unknown} are not partitions 0..{total - 1} of the federation.")
        return chosen

    def _partitions(self, server_round: int, valid: list[Message]) -> dict[int, int]:
        """node ID -> partition for the valid replies (reported under NODE_RECORD, else known to the grid); fixes
        the malicious partitions at the first round, from the number of partitions the clients report."""
        found: dict[int, int] = {}
        totals = set()
        for message in valid:
            node = int(message.metadata.src_node_id)
            reported = reported_partition(message)
            if reported is None and node not in self._grid_partitions:
                raise ConfigError(
                    f"round {server_round}: AttackSimulation names malicious clients by data partition, but the reply "
                    f"of node {node} does not report its partition: the ClientApp must add "
                    f"node_record(context) under {NODE_RECORD!r} (sgd_client_app and echo_client_app do)."
                )
            if reported is not None:
                found[node] = reported[0]
                totals.add(reported[1])
            else:
                found[node] = self._grid_partitions[node]
        if len(totals) > 1:
            raise ConfigError(f"round {server_round}: the clients report different num-partitions {sorted(totals)}.")
        if self.malicious_partitions is None:
            self.malicious_partitions = self.choose_malicious(totals.pop() if totals else self._grid_size)
            log(INFO, "AttackSimulation: malicious partitions %s", list(self.malicious_partitions))
        self.partition_nodes.update({p: node for node, p in found.items()})
        return found

    # -- Flower's Strategy interface
    def summary(self) -> None:
        log(
            INFO,
            "\t├──> AttackSimulation: %s (%s knowledge) by partitions %s",
            self.attack,
            self.knowledge,
            list(self.malicious_partitions) if self.malicious_partitions is not None else self._malicious,
        )
        self.strategy.summary()

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid):
        self.global_model = GlobalModel.of(arrays, self.device)
        messages = self.strategy.configure_train(server_round, arrays, config, grid)
        self._grid_size = len(list(grid.get_node_ids()))
        partition_of = getattr(grid, "partition_id", None)  # InProcessGrid knows its nodes' partitions
        if callable(partition_of):
            self._grid_partitions = {int(n): int(partition_of(n)) for n in grid.get_node_ids()}
        return messages

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Replace the malicious replies by crafted ones, then let the wrapped strategy aggregate. Replies that are
        not updates of the global model (failed or malformed) are passed on untouched: the wrapped strategy sets
        them aside; a malicious node's malformed reply is not replaced."""
        replies = list(replies)
        screened = self._global_model().screen(replies, self._array_key())
        valid = screened.valid
        partition = self._partitions(server_round, valid)
        evil = set(self.malicious_partitions or ())
        mal = [m for m in valid if partition[int(m.metadata.src_node_id)] in evil]
        benign = [m for m in valid if partition[int(m.metadata.src_node_id)] not in evil]
        kept = {id(m) for m in valid}
        others = [m for m in replies if id(m) not in kept]
        self.last_crafted, skipped = None, False
        if mal and self.attack != "none":
            try:
                if self.knowledge == "full" and not benign:
                    raise AttackInfeasible("full knowledge needs a valid benign reply; there is none this round")
                self.last_crafted = self._craft(server_round, mal, benign, n_total=len(valid))
            except AttackInfeasible as exc:  # e.g. a crashed attacker leaves partial knowledge one row: as the
                skipped = True  # engine does, the attackers reply honestly this round, and the round says so
                log(
                    WARNING,
                    "round %d: AttackSimulation: attack skipped, the malicious replies go through: %s",
                    server_round,
                    exc,
                )
            else:
                mal = [self._forge(m, u) for m, u in zip(mal, self.last_crafted.updates, strict=True)]
        arrays, metrics = self.strategy.aggregate_train(server_round, benign + mal + others)
        metrics = MetricRecord() if metrics is None else metrics
        metrics.update(self._attack_metrics(len(mal) if self.last_crafted is not None else 0))
        if skipped:
            metrics["attack-skipped"] = 1
        return arrays, metrics

    def configure_evaluate(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid):
        return self.strategy.configure_evaluate(server_round, arrays, config, grid)

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> MetricRecord | None:
        return self.strategy.aggregate_evaluate(server_round, replies)

    # -- helpers
    def _global_model(self) -> GlobalModel:
        if self.global_model is None:
            raise ConfigError("no global model yet: configure_train must run before aggregate_train.")
        return self.global_model

    def _array_key(self) -> str | None:
        return getattr(self.strategy, "arrayrecord_key", None)

    def _craft(self, server_round: int, mal: list[Message], benign: list[Message], n_total: int) -> attacks.Crafted:
        if self.knowledge == "full" and not benign:
            raise ConfigError(f"round {server_round}: full knowledge needs benign replies; every reply is malicious.")
        model, key = self._global_model(), self._array_key()
        inner = self.strategy if isinstance(self.strategy, FedlibStrategy) else None
        f = self.f if self.f is not None else (inner.f_for(n_total) if inner else None)
        generator = torch.Generator(self.device).manual_seed(derived_seed(self.seed, server_round))
        # What the adversary is given is built as in the FL engine (fedlib.attacks.AttackContext): the server's rule
        # options and scoring when it simulates that rule, n_total = the replies the server aggregates.
        return attacks.AttackContext.of(
            self.attack,
            benign=model.updates(benign, key) if benign else model.vector.new_zeros(0, model.vector.numel()),
            own=model.updates(mal, key) if self.knowledge == "partial" else None,
            n_crafted=len(mal),
            target=self.target,
            f=f,
            variant=self.variant,
            knowledge=self.knowledge,
            perturbation=self.perturbation,
            search=self.search,
            generator=generator,
            attack_options=self.attack_options,
            server_rule=inner.aggregator if inner else None,
            rule_options=inner.rule_options if inner else None,
            score_fn=inner.vector_score_fn() if inner and inner.score_fn is not None else None,
        ).craft()

    def _forge(self, message: Message, update: torch.Tensor) -> Message:
        """A copy of ``message`` whose ArrayRecord is the global model plus ``update``."""
        records = message.content.array_records
        key = self._array_key()
        if key is None or key not in records:
            key = next(iter(records))
        content = RecordDict({k: v for k, v in message.content.items() if k != key})
        content[key] = self._global_model().moved_by(update)
        forged = copy.copy(message)
        forged.content = content
        return forged

    def _attack_metrics(self, crafted: int) -> dict[str, float]:
        out: dict[str, float] = {"attack-malicious": crafted}
        if self.last_crafted is not None and self.last_crafted.gamma is not None:
            out["attack-gamma"] = float(self.last_crafted.gamma)
        report = getattr(self.strategy, "last_round", None)
        if crafted and report is not None and report.selected is not None:
            malicious = set(self.malicious_nodes or ())
            n_selected = sum(1 for n in report.selected if n in malicious)
            out["attack-selected"] = n_selected
        return out
