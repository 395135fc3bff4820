"""The MetricRecord of a FedlibStrategy round (its :class:`RoundReport`): the clients' training metrics over the
replies the rule selected, and fedlib's bookkeeping (replies received, aggregated, set aside with node IDs by
reason)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from flwr.app import Message, MetricRecord, RecordDict

from ._replies import REASONS, SetAside

MetricsAggregator = Callable[[list[RecordDict], str], MetricRecord]


@dataclass(frozen=True)
class RoundReport:
    """What :class:`FedlibStrategy` did in one training round.

    ``received``: replies that arrived; ``node_ids``: the aggregated replies' source nodes in row order
    (ascending node ID); ``selected``: the nodes the rule kept (None for rules that select nothing: mean,
    median, trimmed mean); ``set_aside``: the replies left out, each with its node, reason and details;
    ``converted``: exact dtype conversions made, ``(node, what)``; ``f``: what the rule assumed; ``info``: the
    rule's diagnostics.
    """

    server_round: int
    received: int
    node_ids: tuple[int, ...]
    f: int
    selected: tuple[int, ...] | None
    set_aside: tuple[SetAside, ...] = ()
    converted: tuple[tuple[int, str], ...] = ()
    info: dict[str, object] = field(default_factory=dict)

    @property
    def failed(self) -> tuple[int, ...]:
        """Nodes whose reply carried an error."""
        return tuple(s.node_id for s in self.set_aside if s.reason == "failed")

    @property
    def nonfinite(self) -> tuple[int, ...]:
        """Nodes whose reply held NaN/Inf."""
        return tuple(s.node_id for s in self.set_aside if s.reason == "nonfinite")


def _finite_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _weight(message: Message, weight_key: str) -> float:
    value = next(iter(message.content.metric_records.values()))[weight_key]
    return float(value) if isinstance(value, (int, float)) else 0.0


def metric_signature(content: RecordDict, weight_key: str) -> tuple | None:
    """The keys (and list lengths) of a reply's one MetricRecord when it can be averaged: finite numbers, a
    finite non-negative weight under ``weight_key``; None otherwise."""
    if len(content.metric_records) != 1:
        return None
    record = next(iter(content.metric_records.values()))
    weight = record.get(weight_key)
    if not _finite_number(weight) or weight < 0:  # type: ignore[operator]
        return None
    shape = []
    for key, value in record.items():
        values = value if isinstance(value, list) else [value]
        if not all(_finite_number(v) for v in values):
            return None
        shape.append((key, len(value) if isinstance(value, list) else None))
    return tuple(sorted(shape, key=lambda item: item[0]))


def selected_metrics(
    messages: list[Message], weight_key: str, aggregate: MetricsAggregator
) -> tuple[MetricRecord, list[int]]:
    """The weighted average of the metrics of ``messages`` (the replies the rule selected) by ``aggregate``, and
    the node IDs left out of it: replies without exactly one MetricRecord, with a non-finite value or weight, or
    whose keys differ from the most common ones (a malformed MetricRecord never stops the round)."""
    signatures = [metric_signature(m.content, weight_key) for m in messages]
    common = Counter(s for s in signatures if s is not None).most_common(1)
    keep = [bool(common) and s == common[0][0] for s in signatures]
    usable = [m for m, k in zip(messages, keep, strict=True) if k]
    left_out = [int(m.metadata.src_node_id) for m, k in zip(messages, keep, strict=True) if not k]
    total = sum(_weight(m, weight_key) for m in usable)
    if not usable or total <= 0:
        return MetricRecord(), left_out
    return aggregate([m.content for m in usable], weight_key), left_out


def fedlib_metrics(report: RoundReport, metrics_left_out: list[int]) -> dict:
    """fedlib's bookkeeping of a round, as MetricRecord values (counts, and lists of node IDs)."""
    out: dict = {
        "fedlib-received": report.received,
        "fedlib-replies": len(report.node_ids),
        "fedlib-f": report.f,
        "fedlib-set-aside": len(report.set_aside),
    }
    for reason in REASONS:
        nodes = [s.node_id for s in report.set_aside if s.reason == reason]
        if nodes:
            out[f"fedlib-set-aside-{reason}"] = nodes
    if report.converted:
        out["fedlib-converted"] = sorted({node for node, _ in report.converted})
    if report.selected is not None:
        out["fedlib-selected"] = len(report.selected)
    if metrics_left_out:
        out["fedlib-metrics-left-out"] = metrics_left_out
    return out
