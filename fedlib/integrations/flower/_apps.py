"""Ready-made ClientApps and server-side evaluation for fedlib's datasets and PyTorch models in Flower."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from torch import nn

from ..._checks import check_int
from ...data import Dataset
from ...errors import ConfigError
from ._nodes import NODE_RECORD, node_record

ModelFn = Callable[[], nn.Module]


def echo_client_app(shift: Callable[[int], float] | None = None, *, arrayrecord_key: str = "arrays") -> ClientApp:
    """A ClientApp that trains nothing: it sends back the arrays it received, every floating array plus
    ``shift(partition_id)`` (default 0), with ``num-examples`` = 1 and its partition (:func:`node_record`).
    For tests and examples.

    Example:
        >>> from fedlib.integrations.flower import InProcessGrid, echo_client_app
        >>> import numpy as np
        >>> from flwr.app import ArrayRecord, Message, MessageType, RecordDict
        >>> grid = InProcessGrid(echo_client_app(shift=lambda p: 10.0 * p), num_nodes=2)
        >>> node = grid.node_id(1)
        >>> out = grid.send_and_receive([Message(RecordDict({"arrays": ArrayRecord([np.zeros(2, np.float32)])}),
        ...                                      node, MessageType.TRAIN)])
        >>> out[0].content["arrays"]["0"].numpy().tolist()
        [10.0, 10.0]
    """
    app = ClientApp()

    @app.train()
    def train(message: Message, context: Context) -> Message:
        delta = 0.0 if shift is None else float(shift(int(context.node_config["partition-id"])))
        received = message.content.array_records[arrayrecord_key]
        arrays = ArrayRecord(
            {
                key: Array(
                    a.numpy() + np.asarray(delta, a.numpy().dtype) if np.dtype(a.dtype).kind == "f" else a.numpy()
                )
                for key, a in received.items()
            }
        )
        content = RecordDict(
            {arrayrecord_key: arrays, "metrics": MetricRecord({"num-examples": 1}), NODE_RECORD: node_record(context)}
        )
        return Message(content, reply_to=message)

    return app


def evaluate_model(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> tuple[float, float]:
    """(mean cross-entropy loss, accuracy in [0, 1]) of ``model`` on ``(x, y)``, without gradients."""
    model.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(y), batch_size):
            logits = model(x[start : start + batch_size])
            target = y[start : start + batch_size]
            loss += float(F.cross_entropy(logits, target, reduction="sum"))
            correct += int((logits.argmax(dim=1) == target).sum())
    return loss / len(y), correct / len(y)


def _load(model_fn: ModelFn, arrays: ArrayRecord) -> nn.Module:
    model = model_fn()
    model.load_state_dict(arrays.to_torch_state_dict())
    return model


def server_evaluate_fn(model_fn: ModelFn, x: torch.Tensor, y: torch.Tensor):
    """Flower's centralised ``evaluate_fn(server_round, arrays) -> MetricRecord`` (``loss``, ``accuracy``
    in [0, 1]) for the model ``model_fn()`` loaded with ``arrays``, on the server-held ``(x, y)``."""

    def evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        loss, accuracy = evaluate_model(_load(model_fn, arrays), x, y)
        return MetricRecord({"loss": loss, "accuracy": accuracy})

    return evaluate


def fang_score_fn(model_fn: ModelFn, x: torch.Tensor, y: torch.Tensor):
    """``score_fn(arrays) -> (loss, error rate)`` for Fang's defense in :class:`FedlibStrategy`: the candidate
    global model ``model_fn()`` loaded with ``arrays``, scored on the server's validation ``(x, y)``."""

    def score(arrays: ArrayRecord) -> tuple[float, float]:
        loss, accuracy = evaluate_model(_load(model_fn, arrays), x, y)
        return loss, 1.0 - accuracy

    return score


def _local_sgd(model, x, y, draws: torch.Generator, *, lr: float, batch_size: int, local_steps: int):
    """``local_steps`` plain SGD steps on minibatches drawn without replacement; the last loss."""
    params = [p for p in model.parameters() if p.requires_grad]
    model.train()
    for _ in range(local_steps):
        batch = torch.randperm(len(y), generator=draws)[:batch_size]
        loss = F.cross_entropy(model(x[batch]), y[batch])
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():  # plain SGD by hand: torch.optim's first use imports torch._dynamo (seconds)
            for p, g in zip(params, grads, strict=True):
                p.sub_(lr * g)
    return loss


def sgd_client_app(
    dataset: Dataset,
    model_fn: ModelFn,
    *,
    lr: float,
    batch_size: int,
    local_steps: int = 1,
    seed: int = 0,
    arrayrecord_key: str = "arrays",
) -> ClientApp:
    r"""A ClientApp that trains ``model_fn()`` with plain SGD on client ``partition-id`` of a fedlib dataset.

    ``train``: loads the received arrays, takes ``local_steps`` SGD steps of learning rate ``lr`` on
    minibatches of ``batch_size`` drawn without replacement from its client's samples
    (``dataset.clients[partition-id]``; the draw is seeded by ``seed``, the partition and the round, so a
    run is reproducible), and replies with the new arrays, ``train-loss`` / ``num-examples`` and its partition
    (:func:`node_record`, so that :class:`AttackSimulation` can name clients by partition). With one
    local step this is FedSGD: the update is :math:`-\eta \nabla \ell`. ``evaluate``: loss and accuracy
    on the client's own samples.

    Example (4 clients of a toy dataset, Fang's defense scored on the server's validation set):
        >>> import torch
        >>> from flwr.app import ArrayRecord
        >>> from fedlib.data import Dataset
        >>> from fedlib.integrations.flower import (FedlibStrategy, InProcessGrid, fang_score_fn,
        ...                                         server_evaluate_fn, sgd_client_app)
        >>> x = torch.randn(48, 4, generator=torch.Generator().manual_seed(0))
        >>> y = (x[:, 0] > 0).long()
        >>> toy = Dataset("toy", x[:32], y[:32], x[32:40], y[32:40], x[40:], y[40:],
        ...               tuple(torch.arange(32).chunk(4)), 2, (4,))
        >>> from fedlib.models import build
        >>> model_fn = lambda: build("mnist_fc", seed=0, in_features=4, hidden=8, n_classes=2)
        >>> grid = InProcessGrid(sgd_client_app(toy, model_fn, lr=0.5, batch_size=8), num_nodes=4)
        >>> score = fang_score_fn(model_fn, toy.val_x, toy.val_y)
        >>> strategy = FedlibStrategy("fang_defense", f=1, base="mean", score_fn=score,
        ...                           flower_options={"min_train_nodes": 4, "fraction_evaluate": 0.0})
        >>> result = strategy.start(grid=grid, initial_arrays=ArrayRecord(model_fn().state_dict()), num_rounds=3,
        ...                         evaluate_fn=server_evaluate_fn(model_fn, toy.test_x, toy.test_y))
        >>> sorted(result.evaluate_metrics_serverapp), sorted(result.evaluate_metrics_serverapp[3])
        ([0, 1, 2, 3], ['accuracy', 'loss'])
        >>> 2 <= result.train_metrics_clientapp[3]["fedlib-selected"] <= 4
        True
    """
    lr, local_steps = float(lr), check_int(local_steps, "local_steps", minimum=1)
    batch_size, seed = check_int(batch_size, "batch_size", minimum=1), check_int(seed, "seed", minimum=0)
    if not lr > 0:
        raise ConfigError(f"lr must be > 0; found {lr}.")
    app = ClientApp()

    def client_data(context: Context):
        rows = dataset.clients[int(context.node_config["partition-id"])]
        return dataset.train_x[rows], dataset.train_y[rows]

    @app.train()
    def train(message: Message, context: Context) -> Message:
        model = _load(model_fn, message.content.array_records[arrayrecord_key])
        x, y = client_data(context)
        # the strategy writes "server-round" as an int; ConfigRecord values are typed as any record value
        server_round = int(cast(int, message.content.config_records["config"].get("server-round", 0)))
        partition = int(context.node_config["partition-id"])
        draws = torch.Generator().manual_seed((seed * 100_003 + partition) * 100_003 + server_round)
        loss = _local_sgd(model, x, y, draws, lr=lr, batch_size=batch_size, local_steps=local_steps)
        metrics = MetricRecord({"train-loss": loss.item(), "num-examples": int(min(batch_size, len(y)))})
        content = RecordDict(
            {arrayrecord_key: ArrayRecord(model.state_dict()), "metrics": metrics, NODE_RECORD: node_record(context)}
        )
        return Message(content, reply_to=message)

    @app.evaluate()
    def evaluate(message: Message, context: Context) -> Message:
        x, y = client_data(context)
        loss, accuracy = evaluate_model(_load(model_fn, message.content.array_records[arrayrecord_key]), x, y)
        metrics = MetricRecord({"eval-loss": loss, "eval-accuracy": accuracy, "num-examples": len(y)})
        return Message(RecordDict({"metrics": metrics}), reply_to=message)

    return app
