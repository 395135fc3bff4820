"""Which data partition a reply comes from: the ClientApp reports its ``node_config`` in the reply.

Flower's server sees node IDs only, and they differ between runs and engines (random in the simulation engine,
assigned by the SuperLink in a deployment). The data a node holds is named by its ``node_config``
(``partition-id``, ``num-partitions``), the same in simulation and deployment; a ClientApp that adds
:func:`node_record` to its reply lets the server (e.g. :class:`AttackSimulation`) name clients by partition.
"""

from __future__ import annotations

from flwr.app import ConfigRecord, Context, Message

from ..._checks import check_int
from ...errors import ConfigError

#: The ConfigRecord of a reply that carries the node's partition (``partition-id``, ``num-partitions``).
NODE_RECORD = "fedlib-node"


def node_record(context: Context) -> ConfigRecord:
    """``ConfigRecord({"partition-id": p, "num-partitions": P})`` from the node's ``node_config``; put it in a
    reply under :data:`NODE_RECORD`.

    Example:
        >>> from flwr.app import Context, RecordDict
        >>> from fedlib.integrations.flower import node_record
        >>> context = Context(1, 7, {"partition-id": 2, "num-partitions": 6}, RecordDict(), {})
        >>> dict(node_record(context))
        {'partition-id': 2, 'num-partitions': 6}
    """
    config = context.node_config
    if "partition-id" not in config or "num-partitions" not in config:
        raise ConfigError(
            f"node {context.node_id}: node_config must hold partition-id and num-partitions (Flower's simulation "
            f"sets them; a SuperNode gets them from --node-config); found {sorted(config)}."
        )
    return ConfigRecord(
        {
            "partition-id": check_int(config["partition-id"], "partition-id", minimum=0),
            "num-partitions": check_int(config["num-partitions"], "num-partitions", minimum=1),
        }
    )


def reported_partition(message: Message) -> tuple[int, int] | None:
    """``(partition-id, num-partitions)`` a reply reports under :data:`NODE_RECORD`, or None."""
    record = message.content.config_records.get(NODE_RECORD)
    if record is None:
        return None
    partition, total = record.get("partition-id"), record.get("num-partitions")
    if isinstance(partition, bool) or isinstance(total, bool):
        return None
    if not isinstance(partition, int) or not isinstance(total, int) or not 0 <= partition < total:
        return None
    return partition, total
