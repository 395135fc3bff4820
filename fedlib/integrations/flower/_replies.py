"""Screening a round's replies: the valid ones become rows of updates, the others are set aside with a reason.

In a Byzantine setting a malformed reply is exactly what an attacker sends, so a reply that cannot be an update
of the global model is treated like a failed reply: set aside, with its node ID and the reason, and the round
goes on with the valid replies.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from flwr.app import ArrayRecord, Message

from ...errors import InputError, NonFiniteError
from ._layout import ArrayLayout

#: Why a reply was set aside (the suffix of the ``fedlib-set-aside-<reason>`` metrics), in checking order.
REASONS: dict[str, str] = {
    "failed": "the reply carries an error (the ClientApp raised, timed out or was lost)",
    "duplicate": "a second reply from a node that already replied this round",
    "records": "not exactly one ArrayRecord (or none under the strategy's arrayrecord_key)",
    "arrays": "other array names than the global model's (missing or extra arrays)",
    "unreadable": "an array whose bytes cannot be read as a numpy array",
    "shape": "an array of another shape than the global model's (zero-length arrays included)",
    "dtype": "an array of another dtype that cannot be converted exactly",
    "nonfinite": "NaN or Inf entries",
    "overflow": "entries so large that squared distances between updates overflow float64",
}

#: The server aggregates in float64: float16/float32/float64 values are all exact in it, and squared distances
#: between float32 values cannot overflow it.
ROW_DTYPE = torch.float64


class MalformedReplyError(InputError):
    """A reply that cannot be an update of the global model; :attr:`reason` is a key of :data:`REASONS`."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


class TooFewRepliesError(InputError):
    """Too few valid replies remain in a round for the aggregation rule."""


@dataclass(frozen=True)
class SetAside:
    """A reply left out of a round's aggregation: its source node, why (a key of :data:`REASONS`), and details."""

    node_id: int
    reason: str
    detail: str

    def __str__(self) -> str:
        return f"node {self.node_id}: {self.reason} ({self.detail})"


@dataclass(frozen=True)
class Screened:
    """A round's replies after screening: valid ones (ascending node ID) with their update rows, set-aside ones,
    and the exact dtype conversions made (``(node ID, what was converted)``)."""

    valid: list[Message]
    rows: torch.Tensor
    set_aside: tuple[SetAside, ...]
    converted: tuple[tuple[int, str], ...]
    received: int

    @property
    def node_ids(self) -> tuple[int, ...]:
        return tuple(int(m.metadata.src_node_id) for m in self.valid)

    def describe(self) -> str:
        """One line: how many replies arrived, were set aside and why, and remain valid."""
        line = f"{self.received} replies arrived, {len(self.set_aside)} set aside"
        if self.set_aside:
            line += " (" + "; ".join(str(s) for s in self.set_aside) + ")"
        return line + f", {len(self.valid)} valid"


def exactly_convertible(values: np.ndarray, dtype: np.dtype) -> bool:
    """True when every entry of ``values`` keeps its value as ``dtype`` (e.g. float32 -> float64 always; float64 ->
    float32 only when each value is a float32 value). Only booleans, integers and floats qualify."""
    if values.dtype.kind not in "biuf" or dtype.kind not in "biuf":
        return False
    if np.can_cast(values.dtype, dtype, casting="safe"):
        return True
    with np.errstate(all="ignore"):
        back = values.astype(dtype).astype(values.dtype)
    return bool(np.array_equal(back, values, equal_nan=values.dtype.kind == "f"))


def reply_record(message: Message, key: str | None) -> ArrayRecord:
    """The ArrayRecord of a reply: ``content[key]`` when present, else its only ArrayRecord."""
    records = message.content.array_records
    if key is not None and key in records:
        return records[key]
    if len(records) != 1:
        wanted = f"one named {key!r} or exactly one" if key is not None else "exactly one"
        raise MalformedReplyError("records", f"carries {len(records)} ArrayRecords {list(records)}; expected {wanted}")
    return next(iter(records.values()))


def _read_array(record: ArrayRecord, key: str, shape: tuple[int, ...], dtype: str, notes: list[str]) -> np.ndarray:
    """The reply's array ``key`` as ``dtype``, after checking its real (deserialised) shape and dtype."""
    try:
        values = record[key].numpy()
    except Exception as exc:  # a forged Array's bytes: any deserialisation error means the same
        raise MalformedReplyError("unreadable", f"array {key!r} cannot be read: {type(exc).__name__}: {exc}") from exc
    if tuple(values.shape) != shape:
        raise MalformedReplyError(
            "shape", f"array {key!r} must have shape {shape} like the global model; found {tuple(values.shape)}"
        )
    expected = np.dtype(dtype)
    if values.dtype != expected:
        if not exactly_convertible(values, expected):
            raise MalformedReplyError(
                "dtype",
                f"array {key!r} must have dtype {dtype} like the global model; found {values.dtype}, "
                "whose values do not all convert exactly",
            )
        notes.append(f"array {key!r} {values.dtype} -> {dtype}")
        values = values.astype(expected)
    return values


def reply_vector(layout: ArrayLayout, record: ArrayRecord) -> tuple[torch.Tensor, list[str]]:
    """The reply's floating arrays as one float64 vector in the layout's key order, and the exact dtype
    conversions made; raises :class:`MalformedReplyError` for anything that is not an update of the model."""
    missing = [k for k in layout.keys if k not in record]
    extra = [k for k in record.keys() if k not in set(layout.keys)]
    if missing or extra:
        raise MalformedReplyError(
            "arrays", f"other arrays than the global model: missing {missing}, unexpected {extra}"
        )
    notes: list[str] = []
    parts = []
    for key, shape, dtype, floating in zip(layout.keys, layout.shapes, layout.dtypes, layout.floating, strict=True):
        values = _read_array(record, key, shape, dtype, notes)
        if floating:
            parts.append(torch.from_numpy(np.ascontiguousarray(values)).reshape(-1).to(ROW_DTYPE))
    return torch.cat(parts), notes


def _check_finite(layout: ArrayLayout, vector: torch.Tensor) -> None:
    values = vector.numpy()  # a CPU float64 vector: numpy's test is ~10x cheaper than torch's here
    if np.isfinite(values).all():
        return
    counts = [int((~np.isfinite(part)).sum()) for part in np.split(values, np.cumsum(layout.numels)[:-1])]
    names = [k for k, fl in zip(layout.keys, layout.floating, strict=True) if fl]
    where = ", ".join(f"{n} of array {k!r}" for k, n in zip(names, counts, strict=True) if n)
    raise MalformedReplyError("nonfinite", f"NaN/Inf entries: {where}")


def overflow_limit(d: int, n: int) -> float:
    """The largest entry magnitude for which every squared distance between n updates of length d, and a sum of
    n of them, stays finite in float64: sqrt(max / (4 d n)); about 1e149 for d = 1e6, n = 100, far beyond any
    float32 value (3.4e38)."""
    return math.sqrt(float(torch.finfo(ROW_DTYPE).max) / (4.0 * max(d, 1) * max(n, 1)))


def screen(replies: Iterable[Message], layout: ArrayLayout, global_vector: torch.Tensor, key: str | None) -> Screened:
    """Split a round's replies into valid ones (update rows ``reply - global``, float64, ascending node ID) and
    set-aside ones, with reasons (:data:`REASONS`). Never raises for a reply's content."""
    replies = sorted(replies, key=lambda m: int(m.metadata.src_node_id))
    limit = overflow_limit(layout.d, len(replies))
    valid: list[Message] = []
    rows: list[torch.Tensor] = []
    aside: list[SetAside] = []
    converted: list[tuple[int, str]] = []
    seen: set[int] = set()
    for message in replies:
        node = int(message.metadata.src_node_id)
        repeated = node in seen
        seen.add(node)
        try:
            if message.has_error():
                raise MalformedReplyError("failed", f"error code {message.error.code}: {message.error.reason}")
            if repeated:
                raise MalformedReplyError("duplicate", "the node already replied this round")
            vector, notes = reply_vector(layout, reply_record(message, key))
            _check_finite(layout, vector)
            update = vector - global_vector.to(device="cpu", dtype=ROW_DTYPE)
            peak = float(np.abs(update.numpy()).max()) if update.numel() else 0.0
            if peak > limit:
                raise MalformedReplyError("overflow", f"update entries up to {peak:.3g} exceed {limit:.3g}")
        except MalformedReplyError as exc:
            aside.append(SetAside(node, exc.reason, exc.detail))
            continue
        valid.append(message)
        rows.append(update)
        converted.extend((node, note) for note in notes)
    matrix = torch.stack(rows) if rows else torch.zeros(0, layout.d, dtype=ROW_DTYPE)
    return Screened(valid, matrix.to(global_vector.device), tuple(aside), tuple(converted), len(replies))


def strict_error(server_round: int, item: SetAside) -> InputError:
    """The error ``strict=True`` raises for a malformed reply (NonFiniteError for NaN/Inf), naming the node."""
    kind = NonFiniteError if item.reason == "nonfinite" else InputError
    return kind(
        f"round {server_round}: the reply of node {item.node_id} is malformed ({item.reason}): {item.detail}. "
        "strict=True raises; by default such a reply is set aside and the round goes on."
    )
