"""FedlibStrategy: any fedlib aggregation rule as a Flower (Message API) strategy."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg

from ... import aggregators
from ..._checks import check_choice, check_int
from ...errors import ConfigError
from ...vocabulary import NONFINITE_POLICIES
from ._layout import ArrayLayout, single_array_record

logger = logging.getLogger(__name__)

#: ``f`` as a number, or a policy ``f(n)`` for the number n of replies a round aggregates.
FPolicy = int | Callable[[int], int]
#: Fang's defense scores a candidate global model: ``score_fn(arrays) -> (loss, error rate in [0, 1])``.
ArrayScoreFn = Callable[[ArrayRecord], tuple[float, float]]


@dataclass(frozen=True)
class RoundReport:
    """What :class:`FedlibStrategy` did in one training round.

    ``node_ids``: the aggregated replies' source nodes in row order (ascending node ID); ``selected``: the
    nodes the rule kept (None for rules that select nothing: mean, median, trimmed mean); ``failed``: nodes
    whose reply carried an error (dropped); ``nonfinite``: nodes dropped for NaN/Inf under
    ``nonfinite="drop"``; ``f``: what the rule assumed; ``info``: the rule's diagnostics.
    """

    server_round: int
    node_ids: tuple[int, ...]
    f: int
    selected: tuple[int, ...] | None
    failed: tuple[int, ...]
    nonfinite: tuple[int, ...]
    info: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class GlobalModel:
    """The model a round started from: its ArrayRecord, layout and flat vector."""

    arrays: ArrayRecord
    layout: ArrayLayout
    vector: torch.Tensor

    @classmethod
    def of(cls, arrays: ArrayRecord, device) -> GlobalModel:
        layout = ArrayLayout.of(arrays)
        return cls(arrays, layout, layout.flatten(arrays, device=device, what="global model"))

    def updates(self, replies: list[Message], key: str | None = None) -> torch.Tensor:
        """(n, d): each reply's floating arrays flattened, minus the global model."""
        rows = [
            self.layout.flatten(
                single_array_record(m.content, f"reply of node {m.metadata.src_node_id}", key),
                device=self.vector.device,
                what=f"reply of node {m.metadata.src_node_id}",
            )
            for m in replies
        ]
        return torch.stack(rows) - self.vector

    def moved_by(self, update: torch.Tensor) -> ArrayRecord:
        """The ArrayRecord of ``global + update``."""
        return self.layout.unflatten(self.vector + update, like=self.arrays)


def split_replies(replies: Iterable[Message]) -> tuple[list[Message], list[Message]]:
    """(replies with content sorted by source node ID, replies carrying an error)."""
    replies = list(replies)
    failed = [m for m in replies if m.has_error()]
    valid = sorted((m for m in replies if not m.has_error()), key=lambda m: m.metadata.src_node_id)
    return valid, failed


class FedlibStrategy(FedAvg):
    r"""A Flower strategy that aggregates with a fedlib rule: Krum, Multi-krum, Bulyan, trimmed mean,
    median, AFA, Fang's defense, DnC or the mean, in the textbook or the authors' released-code variant.

    Each round, every reply's floating arrays are flattened in the global model's key order and turned
    into an update :math:`u_i = w_i - w_t` relative to the global model :math:`w_t` sent out by
    ``configure_train``; replies carrying an error are dropped; the (n, d) matrix of updates is aggregated
    by :func:`fedlib.aggregators.aggregate` and the new global model is :math:`w_{t+1} = w_t + A(u_1..u_n)`
    (non-floating arrays, e.g. BatchNorm counters, are kept from :math:`w_t`). Rows are in ascending node
    ID order, whatever order the replies arrive in. A reply whose arrays differ from the global model's
    (keys, shapes, dtypes) raises :class:`~fedlib.errors.InputError`.

    Args:
        aggregator: a name from :func:`fedlib.aggregators.names`.
        f: malicious inputs the rule assumes: an int, or a policy ``f(n) -> int`` for the n replies a
            round aggregates (replies can fail). A round with fewer replies than the rule needs
            (:func:`fedlib.aggregators.min_inputs`) raises; so does sampling too few nodes.
        variant: ``"textbook"`` or ``"ndss21"`` (the authors' released code).
        score_fn: Fang's defense only: ``score_fn(arrays) -> (loss, error)`` evaluates a candidate global
            model (an ArrayRecord) on a server-held validation set, error rate in [0, 1].
        seed: seeds the rule's random draws (DnC): round t uses ``seed * 1_000_003 + t``.
        nonfinite: ``"raise"`` (default) or ``"drop"`` replies holding NaN/Inf.
        device: where the (n, d) matrix is aggregated.
        flower_options: keyword arguments of Flower's ``FedAvg`` (sampling ``fraction_train``,
            ``min_train_nodes``, record keys, metric aggregation, ...); client metrics are averaged as
            FedAvg does when every reply carries a MetricRecord with ``weighted_by_key``. Node sampling
            is Flower's, drawn from Python's ``random`` module: call ``random.seed`` for reproducible
            sampling when ``fraction_train < 1``.
        **rule_options: the rule's own options (e.g. ``base="median"`` for Fang's defense).

    ``aggregate_train`` returns the rule's bookkeeping in its MetricRecord (``fedlib-replies``,
    ``fedlib-f``, ``fedlib-failed``, ``fedlib-selected`` for selecting rules, ``fedlib-nonfinite``);
    :attr:`last_round` holds the :class:`RoundReport` with node IDs.

    Example:
        >>> import numpy as np
        >>> from flwr.app import ArrayRecord, ConfigRecord
        >>> from fedlib.integrations.flower import FedlibStrategy, InProcessGrid, echo_client_app
        >>> grid = InProcessGrid(echo_client_app(), num_nodes=5)
        >>> strategy = FedlibStrategy("median", f=1, flower_options={"min_train_nodes": 5})
        >>> w = ArrayRecord([np.zeros(2, np.float32)])
        >>> replies = grid.send_and_receive(strategy.configure_train(1, w, ConfigRecord(), grid))
        >>> arrays, metrics = strategy.aggregate_train(1, replies)
        >>> arrays["0"].numpy().tolist(), metrics["fedlib-replies"], metrics["fedlib-f"]
        ([0.0, 0.0], 5, 1)
    """

    def __init__(
        self,
        aggregator: str,
        *,
        f: FPolicy,
        variant: str = "textbook",
        score_fn: ArrayScoreFn | None = None,
        seed: int = 0,
        nonfinite: str = "raise",
        device: str | torch.device = "cpu",
        flower_options: dict[str, Any] | None = None,
        **rule_options,
    ) -> None:
        super().__init__(**dict(flower_options or {}))
        needs = aggregators.needs(aggregator)  # raises UnknownNameError for an unknown rule
        taken = sorted(set(rule_options) & set(aggregators.RULE_NEEDS))
        if taken:
            raise ConfigError(f"FedlibStrategy supplies {taken} itself; do not pass them as rule options.")
        if ("score_fn" in needs) != (score_fn is not None):
            raise ConfigError(
                f"score_fn is {'required' if 'score_fn' in needs else 'not used'} by rule {aggregator!r}: "
                "Fang's defense needs score_fn(arrays) -> (loss, error); the other rules take none."
            )
        if not (callable(f) or isinstance(f, int)) or isinstance(f, bool):
            raise ConfigError(f"f must be an int or a callable f(n) -> int; found {f!r}.")
        self.aggregator, self.f, self.variant = aggregator, f, variant
        self.score_fn, self.nonfinite = score_fn, check_choice(nonfinite, NONFINITE_POLICIES, "nonfinite policy")
        self.seed, self.device = check_int(seed, "seed", minimum=0), torch.device(device)
        self.rule_options = dict(rule_options)
        aggregators.min_inputs(aggregator, 0 if callable(f) else f, variant=variant, **self.rule_options)
        self.global_model: GlobalModel | None = None
        self.last_round: RoundReport | None = None
        self._tried = False

    # -- f and the rule's input-size contract
    def f_for(self, n: int) -> int:
        """The f the rule assumes when a round aggregates ``n`` replies."""
        value = self.f(n) if callable(self.f) else self.f
        return check_int(value, f"f({n})" if callable(self.f) else "f", minimum=0)

    def check_count(self, n: int, what: str) -> int:
        """f for ``n`` rows, after checking that the rule accepts ``n`` rows with that f."""
        f = self.f_for(n)
        need = aggregators.min_inputs(self.aggregator, f, variant=self.variant, **self.rule_options)
        if n < need:
            raise ConfigError(
                f"{what}: {n} node(s), but {self.aggregator!r} with f={f} needs at least {need}; sample more "
                "nodes (min_train_nodes) or use an f policy that shrinks f with the number of replies."
            )
        return f

    # -- Flower's Strategy interface
    def summary(self) -> None:
        logger.info(
            "FedlibStrategy: rule %s (%s), f=%s, options %s", self.aggregator, self.variant, self.f, self.rule_options
        )
        super().summary()

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """FedAvg's sampling; remembers the global model the updates are relative to and checks, before
        anything is sent, that the rule accepts the number of sampled nodes."""
        self.global_model = model = GlobalModel.of(arrays, self.device)
        messages = list(super().configure_train(server_round, arrays, config, grid))
        if messages:
            f = self.check_count(len(messages), f"round {server_round} sampled")
            if not self._tried:
                self._try_rule(len(messages), f, model.vector.dtype)
        return messages

    def _try_rule(self, n: int, f: int, dtype: torch.dtype) -> None:
        """Run the rule once on n identical rows before any client works, so that a misspelt or impossible
        rule option fails now rather than after the first round of training."""
        extra: dict[str, Any] = {}  # keyword arguments of aggregate()
        needs = aggregators.needs(self.aggregator)
        if "generator" in needs:
            extra["generator"] = torch.Generator(self.device).manual_seed(0)
        if "score_fn" in needs:
            extra["score_fn"] = lambda vector: (0.0, 0.0)  # the user's scorer is not called on dummy rows
        rows = torch.ones(n, 4, dtype=dtype, device=self.device)
        aggregators.aggregate(self.aggregator, rows, f, variant=self.variant, **self.rule_options, **extra)
        self._tried = True

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Aggregate the replies' updates with the fedlib rule (see the class docstring)."""
        if self.global_model is None:
            raise ConfigError("aggregate_train needs the global model of the round: call configure_train first.")
        valid, failed = split_replies(replies)
        for m in failed:
            logger.warning(
                "round %d: dropping the failed reply of node %d: %s",
                server_round,
                m.metadata.src_node_id,
                m.error.reason,
            )
        if not valid:
            return None, MetricRecord({"fedlib-replies": 0, "fedlib-failed": len(failed)})
        f = self.check_count(len(valid), f"round {server_round} ({len(failed)} failed replies dropped)")
        updates = self.global_model.updates(valid, self.arrayrecord_key)
        result = aggregators.aggregate(
            self.aggregator,
            updates,
            f,
            variant=self.variant,
            nonfinite=self.nonfinite,
            **self.rule_options,
            **self._needs(server_round),
        )
        self.last_round = self._report(server_round, valid, failed, f, result)
        metrics = self._client_metrics(valid)
        metrics.update(self._fedlib_metrics(self.last_round))
        return self.global_model.moved_by(result.vector), metrics

    # -- helpers
    def _needs(self, server_round: int) -> dict[str, Any]:
        """The keyword options the rule needs from its caller (fedlib.aggregators.needs)."""
        extra: dict[str, Any] = {}
        needs = aggregators.needs(self.aggregator)
        if "generator" in needs:
            extra["generator"] = torch.Generator(self.device).manual_seed(self.seed * 1_000_003 + server_round)
        if "score_fn" in needs:
            extra["score_fn"] = self.vector_score_fn()
        return extra

    def vector_score_fn(self) -> Callable[[torch.Tensor], tuple[float, float]]:
        """The user's ``score_fn`` on update vectors: it scores the candidate model ``global + vector``."""
        model, score = self.global_model, self.score_fn
        if model is None or score is None:
            raise ConfigError("vector_score_fn needs score_fn and a round's global model (configure_train).")
        return lambda vector: score(model.moved_by(vector))

    @staticmethod
    def _report(server_round, valid, failed, f, result) -> RoundReport:
        ids = tuple(int(m.metadata.src_node_id) for m in valid)
        picked = None if result.selected is None else tuple(ids[i] for i in result.selected.tolist())
        bad = () if result.dropped is None else tuple(ids[i] for i in result.dropped.tolist())
        failed_ids = tuple(int(m.metadata.src_node_id) for m in failed)
        return RoundReport(server_round, ids, f, picked, failed_ids, bad, dict(result.info))

    @staticmethod
    def _fedlib_metrics(report: RoundReport) -> dict[str, int]:
        out = {
            "fedlib-replies": len(report.node_ids),
            "fedlib-f": report.f,
            "fedlib-failed": len(report.failed),
            "fedlib-nonfinite": len(report.nonfinite),
        }
        if report.selected is not None:
            out["fedlib-selected"] = len(report.selected)
        return out

    def _client_metrics(self, valid: list[Message]) -> MetricRecord:
        """FedAvg's weighted average of the clients' metrics, when every reply carries them."""
        contents: list[RecordDict] = [m.content for m in valid]
        weighted = all(
            len(c.metric_records) == 1
            and isinstance(next(iter(c.metric_records.values())).get(self.weighted_by_key), (int, float))
            for c in contents
        )
        return self.train_metrics_aggr_fn(contents, self.weighted_by_key) if weighted else MetricRecord()
