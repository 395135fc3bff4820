"""An in-process Flower Grid: runs ClientApps in this Python process, without Ray or a SuperLink."""

from __future__ import annotations

import copy
import random
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping
from logging import WARNING

from flwr.app import Context, Error, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.common.constant import SUPERLINK_NODE_ID, ErrorCode
from flwr.common.logger import log
from flwr.serverapp import Grid, ServerApp
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity

from ..._checks import check_int
from ...errors import ConfigError

ClientHandler = Callable[[Message, Context], Message]


class InProcessGrid(Grid):
    """A Flower ``Grid`` that delivers each message to a ClientApp called in this process.

    Flower 1.42's simulation engine (``flwr run`` on a SuperLink started with ``--simulation``; see
    :mod:`fedlib.integrations.flower.local`) runs ClientApps through Ray in other processes. This grid is the
    light alternative for tests, notebooks and attack simulations: ``num_nodes`` virtual SuperNodes, each
    with its own persistent :class:`flwr.app.Context` whose ``node_config`` holds ``partition-id`` and
    ``num-partitions`` as in a Flower simulation. Messages are delivered one after another, as deep copies
    (a ClientApp can never change what the server or another node holds); a ClientApp that raises produces
    an error reply, as in Flower's runtime. Node IDs are distinct random integers drawn from ``seed``
    (Flower's are random too); :meth:`node_id` maps a partition to its node.

    Creating the grid makes this process the run's ServerApp (Flower's ``TaskIdentity``), so that
    strategies can create messages, exactly as Flower's runtime does when it starts a ServerApp.

    Example:
        >>> from fedlib.integrations.flower import InProcessGrid, echo_client_app
        >>> grid = InProcessGrid(echo_client_app(), num_nodes=3, seed=0)
        >>> [grid.partition_id(n) for n in sorted(grid.get_node_ids(), key=grid.partition_id)]
        [0, 1, 2]
    """

    def __init__(
        self,
        client_app: ClientHandler,
        num_nodes: int,
        *,
        run_config: Mapping[str, float | int | str] | None = None,
        seed: int = 0,
        run_id: int = 1,
    ) -> None:
        if not callable(client_app):
            raise ConfigError(f"client_app must be a flwr ClientApp (or a callable); found {client_app!r}.")
        num_nodes = check_int(num_nodes, "num_nodes", minimum=1)
        self.client_app = client_app
        self._run = Run.create_empty(check_int(run_id, "run_id", minimum=1))
        draws = random.Random(check_int(seed, "seed", minimum=0)).sample(range(2, 2**31), num_nodes)
        self.contexts: dict[int, Context] = {
            node: Context(
                run_id=run_id,
                node_id=node,
                node_config={"partition-id": p, "num-partitions": num_nodes},
                state=RecordDict(),
                run_config=dict(run_config or {}),
            )
            for p, node in enumerate(draws)
        }
        self._replies: dict[str, Message] = {}
        TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = run_id, SUPERLINK_NODE_ID, 1

    # -- mapping between nodes and data partitions
    def partition_id(self, node_id: int) -> int:
        """The data partition of node ``node_id``."""
        return int(self.contexts[node_id].node_config["partition-id"])

    def node_id(self, partition_id: int) -> int:
        """The node that holds data partition ``partition_id``."""
        for node, context in self.contexts.items():
            if context.node_config["partition-id"] == partition_id:
                return node
        raise ConfigError(f"no node holds partition {partition_id}; partitions are 0..{len(self.contexts) - 1}.")

    # -- Flower's Grid interface
    def set_run(self, run: Run) -> None:
        self._run = run

    @property
    def run(self) -> Run:
        return self._run

    def create_message(self, content, message_type, dst_node_id, group_id, ttl=None) -> Message:
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        return list(self.contexts)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        """Deliver every message now; its reply waits under the returned ID for :meth:`pull_messages`."""
        ids = []
        for message in messages:
            reply_id = str(uuid.uuid4())
            self._replies[reply_id] = self._deliver(message)
            ids.append(reply_id)
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return [self._replies.pop(i) for i in list(message_ids) if i in self._replies]

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> list[Message]:
        """Every reply (ClientApps run synchronously, so ``timeout`` never cuts a round short)."""
        return list(self.pull_messages(self.push_messages(messages)))

    def _deliver(self, message: Message) -> Message:
        node = message.metadata.dst_node_id
        if node not in self.contexts:
            raise ConfigError(f"message addressed to unknown node {node}; nodes are {sorted(self.contexts)}.")
        delivered = copy.deepcopy(message)
        try:
            return self.client_app(delivered, self.contexts[node])
        except Exception as exc:  # a failing client is a reply with an error, as in Flower's runtime
            log(WARNING, "ClientApp of node %d raised:\n%s", node, traceback.format_exc())
            reason = f"{type(exc).__name__}: {exc}"
            return Message(Error(code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason=reason), reply_to=delivered)


def simulate(
    server_app: ServerApp,
    client_app: ClientApp,
    num_nodes: int,
    *,
    run_config: Mapping[str, float | int | str] | None = None,
    seed: int = 0,
) -> InProcessGrid:
    """Run a Flower ``ServerApp`` against ``num_nodes`` in-process ClientApps (see :class:`InProcessGrid`).

    The in-process counterpart of ``flwr run`` on the simulation engine (which replaces the deprecated
    ``flwr.simulation.run_simulation``): the ServerApp's ``main(grid, context)``
    runs in this process with ``run_config`` in its context. Returns the grid (its contexts hold the
    nodes' state after the run).

    Example:
        >>> from flwr.serverapp import ServerApp
        >>> from fedlib.integrations.flower import echo_client_app, simulate
        >>> app, seen = ServerApp(), []
        >>> @app.main()
        ... def main(grid, context):
        ...     seen.append((len(list(grid.get_node_ids())), context.run_config["rounds"]))
        >>> _ = simulate(app, echo_client_app(), num_nodes=4, run_config={"rounds": 3})
        >>> seen
        [(4, 3)]
    """
    grid = InProcessGrid(client_app, num_nodes, run_config=run_config, seed=seed)
    context = Context(
        run_id=grid.run.run_id,
        node_id=SUPERLINK_NODE_ID,
        node_config={},
        state=RecordDict(),
        run_config=dict(run_config or {}),
    )
    server_app(grid, context)
    return grid
