"""Faulty and Byzantine-garbage clients for robustness tests: a ClientApp wrapper whose chosen partitions crash or
reply with malformed content (wrong shapes, dtypes, missing arrays, NaN, ...)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from ..._checks import check_choice, check_int
from ...errors import ConfigError

#: What a faulty client does instead of replying honestly (applied to its honest reply).
FAULTS: dict[str, str] = {
    "crash": "the ClientApp raises (Flower turns it into an error reply)",
    "wrong-shape": "every array flattened, with one extra entry",
    "empty": "zero-length arrays",
    "missing-array": "the last array left out",
    "extra-array": "an extra array",
    "no-arrays": "no ArrayRecord at all",
    "two-records": "two ArrayRecords under other names than the strategy's",
    "float64": "arrays computed in float64 (values that float32 cannot hold exactly)",
    "float64-exact": "float32 values sent as float64 arrays (convertible exactly)",
    "int": "every array rounded to int64",
    "complex": "complex64 arrays",
    "unreadable": "array bytes that are not a numpy array",
    "nan": "NaN in the first array",
    "inf": "+Inf in the first array",
    "huge": "every floating entry 3e38 (finite: a valid, if absurd, update)",
    "no-metrics": "no MetricRecord",
    "bad-metrics": "a negative num-examples and a NaN train-loss",
}


def _map_arrays(record: ArrayRecord, fn: Callable[[str, np.ndarray], np.ndarray | None]) -> ArrayRecord:
    out = {}
    for key in record.keys():
        values = fn(key, record[key].numpy())
        if values is not None:
            out[key] = Array(values)
    return ArrayRecord(out)


def _floating(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[str, np.ndarray], np.ndarray]:
    return lambda key, a: fn(a) if a.dtype.kind == "f" else a


_ARRAY_FAULTS: dict[str, Callable[[str, np.ndarray], np.ndarray | None]] = {
    "wrong-shape": lambda key, a: np.append(a.reshape(-1), a.reshape(-1)[:1]),
    "empty": lambda key, a: np.zeros(0, a.dtype),
    "float64": _floating(lambda a: a.astype(np.float64) + 1e-12),
    "float64-exact": _floating(lambda a: a.astype(np.float64)),
    "int": lambda key, a: np.rint(a).astype(np.int64),
    "complex": _floating(lambda a: a.astype(np.complex64)),
    "huge": _floating(lambda a: np.full_like(a, 3e38) if a.dtype.itemsize >= 4 else a),
}


def malformed_content(content: RecordDict, fault: str, arrayrecord_key: str = "arrays") -> RecordDict:
    """A copy of an honest reply's ``content`` made malformed as :data:`FAULTS` ``[fault]`` says.

    Example:
        >>> import numpy as np
        >>> from flwr.app import ArrayRecord, MetricRecord, RecordDict
        >>> from fedlib.integrations.flower import malformed_content
        >>> honest = RecordDict({"arrays": ArrayRecord([np.ones(3, np.float32)]),
        ...                      "metrics": MetricRecord({"num-examples": 1})})
        >>> malformed_content(honest, "wrong-shape")["arrays"]["0"].shape
        (4,)
    """
    check_choice(fault, [f for f in FAULTS if f != "crash"], "fault")
    items = dict(content.items())
    record = content.array_records.get(arrayrecord_key)
    if record is None:
        raise ConfigError(f"the honest reply has no ArrayRecord {arrayrecord_key!r} to make malformed.")
    if fault in _ARRAY_FAULTS:
        items[arrayrecord_key] = _map_arrays(record, _ARRAY_FAULTS[fault])
    elif fault in ("nan", "inf"):
        first = next(k for k in record.keys() if np.dtype(record[k].dtype).kind == "f")
        values = record[first].numpy().copy()
        values.reshape(-1)[0] = float(fault)
        items[arrayrecord_key] = ArrayRecord({**dict(record.items()), first: Array(values)})
    elif fault == "missing-array":
        items[arrayrecord_key] = ArrayRecord({k: record[k] for k in list(record.keys())[:-1]})
    elif fault == "extra-array":
        items[arrayrecord_key] = ArrayRecord({**dict(record.items()), "fedlib-extra": Array(np.zeros(3, np.float32))})
    elif fault == "unreadable":
        first = next(iter(record.keys()))
        forged = Array(record[first].dtype, tuple(record[first].shape), record[first].stype, b"not a numpy array")
        items[arrayrecord_key] = ArrayRecord({**dict(record.items()), first: forged})
    elif fault in ("no-arrays", "two-records"):
        del items[arrayrecord_key]
        if fault == "two-records":
            items.update({"fedlib-a": record, "fedlib-b": record})
    elif fault == "no-metrics":
        items = {k: v for k, v in items.items() if not isinstance(v, MetricRecord)}
    elif fault == "bad-metrics":
        items.update(
            {
                k: MetricRecord({"num-examples": -5, "train-loss": float("nan")})
                for k, v in items.items()
                if isinstance(v, MetricRecord)
            }
        )
    return RecordDict(items)


def parse_faults(text: str) -> dict[int, str]:
    """``"4:wrong-shape 5:crash"`` -> ``{4: "wrong-shape", 5: "crash"}`` (partition: fault; a Flower run config
    holds strings, not mappings).

    Example:
        >>> from fedlib.integrations.flower import parse_faults
        >>> parse_faults("4:wrong-shape 5:crash")
        {4: 'wrong-shape', 5: 'crash'}
    """
    faults: dict[int, str] = {}
    for item in str(text).split():
        partition, sep, fault = item.partition(":")
        if not sep or not partition.isdigit():
            raise ConfigError(f"faults: expected 'PARTITION:FAULT' items separated by spaces; found {item!r}.")
        faults[int(partition)] = check_choice(fault, list(FAULTS), "fault")
    return faults


def faulty_client_app(
    client_app: ClientApp, faults: Mapping[int, str], *, arrayrecord_key: str = "arrays"
) -> ClientApp:
    """A ClientApp that runs ``client_app`` and, on the nodes whose ``partition-id`` is a key of ``faults``,
    crashes or makes the training reply malformed (:data:`FAULTS`). Evaluation replies are left alone.

    Example:
        >>> import numpy as np
        >>> from flwr.app import ArrayRecord, ConfigRecord
        >>> from fedlib.integrations.flower import FedlibStrategy, InProcessGrid, echo_client_app, faulty_client_app
        >>> app = faulty_client_app(echo_client_app(), {3: "nan", 4: "crash"})
        >>> strategy = FedlibStrategy("median", f=1, min_train_nodes=5)
        >>> grid = InProcessGrid(app, num_nodes=5)
        >>> w = ArrayRecord([np.zeros(2, np.float32)])
        >>> replies = grid.send_and_receive(strategy.configure_train(1, w, ConfigRecord(), grid))
        >>> _, metrics = strategy.aggregate_train(1, replies)
        >>> metrics["fedlib-replies"], metrics["fedlib-set-aside"]
        (3, 2)
        >>> [grid.partition_id(n) for n in metrics["fedlib-set-aside-nonfinite"]]
        [3]
    """
    chosen = {
        check_int(p, "faulty partition", minimum=0): check_choice(k, list(FAULTS), "fault") for p, k in faults.items()
    }
    app = ClientApp()

    @app.train()
    def train(message: Message, context: Context) -> Message:
        fault = chosen.get(int(context.node_config["partition-id"]))
        if fault == "crash":
            raise RuntimeError(f"simulated crash of the ClientApp of partition {context.node_config['partition-id']}")
        reply = client_app(message, context)
        if fault is None or reply.has_error():
            return reply
        return Message(malformed_content(reply.content, fault, arrayrecord_key), reply_to=message)

    @app.evaluate()
    def evaluate(message: Message, context: Context) -> Message:
        return client_app(message, context)

    return app
