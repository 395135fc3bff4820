"""FedlibStrategy: any fedlib aggregation rule as a Flower (Message API) strategy."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from logging import INFO, WARNING
from typing import Any

import numpy as np
import torch
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.common.logger import log
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg

from ... import aggregators
from ..._checks import check_int
from ..._seeds import derived_seed
from ...errors import ConfigError, NonFiniteError
from ._layout import ArrayLayout
from ._metrics import RoundReport, fedlib_metrics, selected_metrics
from ._options import FPolicy, flower_options_in, resolve_f, rule_options_for
from ._replies import REASONS, ROW_DTYPE, Screened, TooFewRepliesError, reply_record, reply_vector, screen
from ._replies import strict_error as _strict_error

#: Fang's defense scores a candidate global model: ``score_fn(arrays) -> (loss, error rate in [0, 1])``.
ArrayScoreFn = Callable[[ArrayRecord], tuple[float, float]]


@dataclass(frozen=True)
class GlobalModel:
    """The model a round started from: its ArrayRecord, layout and flat float64 vector."""

    arrays: ArrayRecord
    layout: ArrayLayout
    vector: torch.Tensor

    @classmethod
    def of(cls, arrays: ArrayRecord, device) -> GlobalModel:
        layout = ArrayLayout.of(arrays)
        return cls(arrays, layout, layout.flatten(arrays, device=device, what="global model", dtype=ROW_DTYPE))

    def screen(self, replies: Iterable[Message], key: str | None) -> Screened:
        """The round's replies screened against this model (see :func:`screen`)."""
        return screen(replies, self.layout, self.vector, key)

    def updates(self, replies: list[Message], key: str | None = None) -> torch.Tensor:
        """(n, d) float64: each reply's floating arrays flattened, minus the global model; raises
        :class:`~fedlib.integrations.flower.MalformedReplyError` for a reply that is not an update of the model."""
        rows = [reply_vector(self.layout, reply_record(m, key))[0] for m in replies]
        return torch.stack(rows).to(self.vector.device) - self.vector

    def moved_by(self, update: torch.Tensor) -> ArrayRecord:
        """The ArrayRecord of ``global + update`` (each array cast back to its dtype)."""
        return self.layout.unflatten(self.vector + update, like=self.arrays)


#: The keyword arguments of Flower's FedAvg (sampling, record keys, metric aggregation), accepted as they are
#: (the tests check this list against the installed Flower).
FEDAVG_OPTIONS = (
    "fraction_train",
    "fraction_evaluate",
    "min_train_nodes",
    "min_evaluate_nodes",
    "min_available_nodes",
    "weighted_by_key",
    "arrayrecord_key",
    "configrecord_key",
    "train_metrics_aggr_fn",
    "evaluate_metrics_aggr_fn",
)


class FedlibStrategy(FedAvg):
    r"""A Flower strategy that aggregates with a fedlib rule: Krum, Multi-krum, Bulyan, trimmed mean, median,
    AFA, Fang's defense, DnC, the mean, or any registered rule, in the textbook or the authors' variant.

    Each round, every reply's floating arrays are flattened in the global model's key order and turned into an
    update :math:`u_i = w_i - w_t` relative to the global model :math:`w_t` sent out by ``configure_train``; the
    (n, d) matrix of updates is aggregated in float64 by :func:`fedlib.aggregators.aggregate` and the new global
    model is :math:`w_{t+1} = w_t + A(u_1..u_n)`, each array cast back to its dtype (non-floating arrays, e.g.
    BatchNorm counters, are kept from :math:`w_t`). Rows are in ascending node-ID order, whatever order the
    replies arrive in.

    **No single reply stops the round.** A reply that cannot be an update of the global model is set aside like
    a failed reply: an error reply, a second reply of one node, not exactly one ArrayRecord, missing or extra
    arrays, an unreadable array, another shape (zero-length arrays included), another dtype whose values do not
    convert exactly, NaN/Inf, or entries so large that squared distances overflow float64 (:data:`REASONS`).
    An array of another dtype whose every value converts exactly (float32 → float64, float64 holding float32
    values, small integers → float) is converted and the conversion is logged and reported. Each set-aside reply
    is logged with its node ID and reason through Flower's logger and reported in the round's metrics. The round
    fails only when fewer valid replies remain than the rule needs (:func:`fedlib.aggregators.min_inputs`): the
    :class:`~fedlib.integrations.flower.TooFewRepliesError` says how many arrived, which were set aside and why,
    and how many the rule needs. ``strict=True`` raises on the first malformed reply instead (for debugging a
    ClientApp); error replies are set aside in both modes, as Flower's own strategies do. In federated
    evaluation, failed replies and malformed MetricRecords are left out of the average the same way.

    **Weighting.** Flower's FedAvg weights each reply by its ``num-examples``; fedlib's rules do not. A
    Byzantine client can claim any number of examples, so a weight it reports itself would let one client take
    the whole average; every robust rule of the paper treats each reply as one vote (Flower's Krum, too, picks
    its replies without weights, though it then averages them by ``num-examples``). ``weighted_by_key`` is used
    only to average the clients' metrics.
    Clients of very different sizes should send comparable updates instead (the same number of local steps on
    mean losses, as :func:`sgd_client_app` does), or the server can use a rule built for heterogeneous clients
    (``bucketing``, ``nnm`` pre-aggregation).

    Args:
        aggregator: a name from :func:`fedlib.aggregators.names`.
        f: malicious inputs the rule assumes: an int, or a policy ``f(n) -> int`` for the n valid replies of a
            round. Flower's names are accepted instead: ``num_malicious_nodes`` (an int) or, for the trimmed
            mean, ``beta`` (the fraction trimmed from each end, as Flower's FedTrimmedAvg: f = int(beta n)).
            Exactly one of the three.
        num_nodes_to_select: Flower's MultiKrum option: Multi-krum's ``n_select`` (1 for Krum).
        variant: ``"textbook"`` or ``"ndss21"`` (the authors' released code).
        score_fn: Fang's defense only: ``score_fn(arrays) -> (loss, error)`` evaluates a candidate global model
            (an ArrayRecord) on a server-held validation set, error rate in [0, 1].
        seed: seeds the rule's random draws (DnC): round t uses ``derived_seed(seed, t)`` (``seed * 1_000_003 + t``,
            the FL engine's formula).
        strict: raise on a malformed reply instead of setting it aside.
        device: where the (n, d) matrix is aggregated.
        flower_options: Flower FedAvg's keyword arguments as a dict; they are also accepted directly
            (``fraction_train``, ``min_train_nodes``, ``min_available_nodes``, ``weighted_by_key``,
            ``arrayrecord_key``, ``train_metrics_aggr_fn``, ...). Node sampling is Flower's, drawn from
            Python's ``random`` module: call ``random.seed`` for reproducible sampling when ``fraction_train < 1``.
        **rule_options: the rule's own options (e.g. ``base="median"`` for Fang's defense).

    ``aggregate_train`` returns, besides the clients' training metrics (averaged with ``weighted_by_key`` over
    the replies the rule selected, as Flower's Krum does, or over every aggregated reply for rules that select
    none), fedlib's bookkeeping: ``fedlib-received``, ``fedlib-replies`` (aggregated), ``fedlib-f``,
    ``fedlib-set-aside`` (a count) and ``fedlib-set-aside-<reason>`` (the node IDs), ``fedlib-converted`` (node
    IDs), ``fedlib-selected`` (for selecting rules) and ``fedlib-metrics-left-out`` (node IDs whose metrics were
    malformed). :attr:`last_round` holds the :class:`RoundReport`. Flower's log gets one summary line per round.

    Example:
        >>> import numpy as np
        >>> from flwr.app import ArrayRecord, ConfigRecord
        >>> from fedlib.integrations.flower import FedlibStrategy, InProcessGrid, echo_client_app
        >>> grid = InProcessGrid(echo_client_app(), num_nodes=5)
        >>> strategy = FedlibStrategy("median", num_malicious_nodes=1, min_train_nodes=5)
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
        f: FPolicy | None = None,
        num_malicious_nodes: int | None = None,
        beta: float | None = None,
        num_nodes_to_select: int | None = None,
        variant: str = "textbook",
        score_fn: ArrayScoreFn | None = None,
        seed: int = 0,
        strict: bool = False,
        device: str | torch.device = "cpu",
        flower_options: dict[str, Any] | None = None,
        **options,
    ) -> None:
        super().__init__(**flower_options_in(options, flower_options, FEDAVG_OPTIONS))
        needs = aggregators.needs(aggregator)  # raises UnknownNameError for an unknown rule
        self.rule_options = rule_options_for(aggregator, options, num_nodes_to_select)
        taken = sorted(set(self.rule_options) & set(aggregators.RULE_NEEDS))
        if taken:
            raise ConfigError(f"FedlibStrategy supplies {taken} itself; do not pass them as rule options.")
        if ("score_fn" in needs) != (score_fn is not None):
            raise ConfigError(
                f"score_fn is {'required' if 'score_fn' in needs else 'not used'} by rule {aggregator!r}: "
                "Fang's defense needs score_fn(arrays) -> (loss, error); the other rules take none."
            )
        if not isinstance(strict, bool):
            raise ConfigError(f"strict must be True or False; found {strict!r}.")
        self.aggregator, self.variant, self.strict = aggregator, variant, strict
        self.f = resolve_f(aggregator, f, num_malicious_nodes, beta)
        self.score_fn, self.seed = score_fn, check_int(seed, "seed", minimum=0)
        self.device = torch.device(device)
        aggregators.min_inputs(aggregator, 0 if callable(self.f) else self.f, variant=variant, **self.rule_options)
        self.global_model: GlobalModel | None = None
        self.last_round: RoundReport | None = None
        self._tried = False

    # -- f and the rule's input-size contract
    def f_for(self, n: int) -> int:
        """The f the rule assumes when a round aggregates ``n`` replies."""
        value = self.f(n) if callable(self.f) else self.f
        return check_int(value, f"f({n})" if callable(self.f) else "f", minimum=0)

    def needed(self, n: int) -> tuple[int, int]:
        """(f, the smallest number of rows the rule accepts with that f) for a round of ``n`` replies."""
        f = self.f_for(n)
        need = aggregators.min_inputs(self.aggregator, f, variant=self.variant, **self.rule_options)
        if self.aggregator == "multi_krum" and "n_select" in self.rule_options:  # it averages n_select replies
            need = max(need, int(self.rule_options["n_select"]))
        return f, need

    # -- Flower's Strategy interface
    def summary(self) -> None:
        log(INFO, "\t├──> FedlibStrategy settings:")
        log(INFO, "\t│\t├── Rule: %s (%s variant), f = %s", self.aggregator, self.variant, self.f)
        log(INFO, "\t│\t├── Rule options: %s", self.rule_options or "(none)")
        log(INFO, "\t│\t└── Malformed replies: %s", "raise (strict)" if self.strict else "set aside")
        super().summary()

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """FedAvg's sampling; remembers the global model the updates are relative to and checks, before
        anything is sent, that the rule accepts the number of sampled nodes."""
        self.global_model = GlobalModel.of(arrays, self.device)
        messages = list(super().configure_train(server_round, arrays, config, grid))
        if messages:
            f, need = self.needed(len(messages))
            if len(messages) < need:
                raise ConfigError(
                    f"round {server_round} sampled {len(messages)} node(s), but {self.aggregator!r} with f={f} needs "
                    f"at least {need}; sample more nodes (min_train_nodes) or use an f policy that shrinks f with "
                    "the number of replies."
                )
            if not self._tried:
                self._try_rule(len(messages), f)
        return messages

    def _try_rule(self, n: int, f: int) -> None:
        """Run the rule once on n identical rows before any client works, so that a misspelt or impossible
        rule option fails now rather than after the first round of training."""
        extra: dict[str, Any] = {}  # keyword arguments of aggregate()
        needs = aggregators.needs(self.aggregator)
        if "generator" in needs:
            extra["generator"] = torch.Generator(self.device).manual_seed(0)
        if "score_fn" in needs:
            extra["score_fn"] = lambda vector: (0.0, 0.0)  # the user's scorer is not called on dummy rows
        rows = torch.ones(n, 4, dtype=ROW_DTYPE, device=self.device)
        aggregators.aggregate(self.aggregator, rows, f, variant=self.variant, **self.rule_options, **extra)
        self._tried = True

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Screen the replies, aggregate the valid ones' updates with the fedlib rule (see the class docstring)."""
        model = self._model()
        screened = model.screen(replies, self.arrayrecord_key)
        self._log_screening(server_round, screened)
        f, need = self.needed(len(screened.valid))
        if len(screened.valid) < need:
            raise TooFewRepliesError(
                f"round {server_round}: {screened.describe()}; {self.aggregator!r} with f={f} needs at least {need} "
                "valid replies. Sample more nodes (min_train_nodes), or use an f policy that shrinks f with the "
                "number of replies."
            )
        result = aggregators.aggregate(
            self.aggregator, screened.rows, f, variant=self.variant, **self.rule_options, **self._needs(server_round)
        )
        arrays = self._moved(server_round, model, result.vector)
        ids = screened.node_ids
        picked = None if result.selected is None else tuple(ids[i] for i in result.selected.tolist())
        self.last_round = report = RoundReport(
            server_round, screened.received, ids, f, picked, screened.set_aside, screened.converted, dict(result.info)
        )
        chosen = screened.valid if picked is None else [m for m in screened.valid if m.metadata.src_node_id in picked]
        metrics, left_out = selected_metrics(chosen, self.weighted_by_key, self.train_metrics_aggr_fn)
        metrics.update(fedlib_metrics(report, left_out))
        self._log_summary(report)
        return arrays, metrics

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> MetricRecord | None:
        """FedAvg's weighted average of the evaluation metrics, without letting one reply stop the round: error
        replies and malformed MetricRecords are left out (logged with their node IDs), unlike FedAvg, which
        raises when the replies' MetricRecords differ."""
        replies = list(replies)
        if not replies:
            return None
        failed = [int(m.metadata.src_node_id) for m in replies if m.has_error()]
        valid = [m for m in replies if not m.has_error()]
        metrics, left_out = selected_metrics(valid, self.weighted_by_key, self.evaluate_metrics_aggr_fn)
        for node in failed:
            log(WARNING, "round %d: evaluation: set aside the failed reply of node %d", server_round, node)
        if left_out:
            log(
                WARNING,
                "round %d: evaluation: left out the metrics of nodes %s (not one MetricRecord of finite numbers "
                "with a non-negative %r like the others)",
                server_round,
                left_out,
                self.weighted_by_key,
            )
        metrics.update({"fedlib-received": len(replies), "fedlib-evaluated": len(valid) - len(left_out)})
        if failed:
            metrics["fedlib-set-aside-failed"] = failed
        if left_out:
            metrics["fedlib-metrics-left-out"] = left_out
        return metrics

    # -- helpers
    def _model(self) -> GlobalModel:
        if self.global_model is None:
            raise ConfigError("aggregate_train needs the global model of the round: call configure_train first.")
        return self.global_model

    def _log_screening(self, server_round: int, screened: Screened) -> None:
        for item in screened.set_aside:
            if self.strict and item.reason != "failed":
                raise _strict_error(server_round, item)
            log(
                WARNING,
                "round %d: set aside the reply of node %d (%s: %s): %s",
                server_round,
                item.node_id,
                item.reason,
                REASONS[item.reason],
                item.detail,
            )
        for node, what in screened.converted:
            log(INFO, "round %d: node %d: converted %s (every value exact)", server_round, node, what)

    def _log_summary(self, report: RoundReport) -> None:
        aside = ", ".join(f"node {s.node_id} ({s.reason})" for s in report.set_aside) or "none"
        kept = "" if report.selected is None else f"; the rule selected {len(report.selected)}"
        log(
            INFO,
            "round %d: %s (f=%d) aggregated %d of %d replies%s; set aside: %s",
            report.server_round,
            self.aggregator,
            report.f,
            len(report.node_ids),
            report.received,
            kept,
            aside,
        )

    @staticmethod
    def _moved(server_round: int, model: GlobalModel, update: torch.Tensor) -> ArrayRecord:
        """``global + update`` as the model's ArrayRecord, after checking that every array stays finite in its own
        dtype (a convex combination of the replies always does; a rule that extrapolates may not)."""
        new = (model.vector + update).cpu()
        layout = model.layout
        names = [(k, dt) for k, dt, fl in zip(layout.keys, layout.dtypes, layout.floating, strict=True) if fl]
        for (key, dtype), part in zip(names, torch.split(new, list(layout.numels)), strict=True):
            peak = float(part.abs().max()) if part.numel() else 0.0
            if not peak <= float(np.finfo(dtype).max):
                raise NonFiniteError(
                    f"round {server_round}: the aggregate moved array {key!r} of the global model out of the range "
                    f"of {dtype} (|value| up to {peak:.3g}); the rule let through updates too large for the model."
                )
        return layout.unflatten(new, like=model.arrays)

    def _needs(self, server_round: int) -> dict[str, Any]:
        """The keyword options the rule needs from its caller (fedlib.aggregators.needs)."""
        extra: dict[str, Any] = {}
        needs = aggregators.needs(self.aggregator)
        if "generator" in needs:
            extra["generator"] = torch.Generator(self.device).manual_seed(derived_seed(self.seed, server_round))
        if "score_fn" in needs:
            extra["score_fn"] = self.vector_score_fn()
        return extra

    def vector_score_fn(self) -> Callable[[torch.Tensor], tuple[float, float]]:
        """The user's ``score_fn`` on update vectors: it scores the candidate model ``global + vector``."""
        model, score = self.global_model, self.score_fn
        if model is None or score is None:
            raise ConfigError("vector_score_fn needs score_fn and a round's global model (configure_train).")
        return lambda vector: score(model.moved_by(vector))
