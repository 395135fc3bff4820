"""A ready Flower App: fedlib's rules and attacks on a fedlib dataset, on Flower's own engines.

``server_app`` and ``client_app`` are the components of a Flower App (its ``pyproject.toml`` says
``serverapp = "fedlib.integrations.flower.app:server_app"`` and
``clientapp = "fedlib.integrations.flower.app:client_app"``; :func:`fedlib.integrations.flower.local.write_app`
writes one). Run it with ``flwr run`` on the simulation engine
or on a deployment (a SuperLink and SuperNodes); :mod:`fedlib.integrations.flower.local` starts either on
127.0.0.1. Everything is set by the run config (``flwr run ... --run-config "rule='median' faults='4:nan'"``),
with the defaults of :data:`RUN_CONFIG`:

- ``num-server-rounds``, ``num-nodes`` (the server waits for that many nodes and samples all of them);
- ``dataset``, ``model``, ``seed`` (the split, the model's initialisation, the clients' minibatches, the attack);
- ``rule``, ``f``: the :class:`FedlibStrategy`; ``attack``, ``malicious`` (a count of partitions drawn with
  ``seed``, or partition IDs ``"0 3"``), ``knowledge``, ``attack-target`` (the rule the attack simulates; empty:
  ``rule``): the :class:`AttackSimulation` (``attack = "none"``: none);
- ``lr``, ``batch-size``, ``local-steps``: the clients' SGD (:func:`sgd_client_app`);
- ``faults``: clients that crash or reply garbage, by partition (``"4:wrong-shape 5:crash"``, :data:`FAULTS`);
- ``round-timeout``: seconds a round waits for replies; ``result-file``: where the ServerApp writes its result as
  JSON (the test accuracy after every round and each round's training metrics, set-aside replies included).

Each node's data is partition ``partition-id`` of ``num-partitions`` (its ``node_config``: Flower's simulation sets
it; a SuperNode takes ``--node-config "partition-id=0 num-partitions=6"``).
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
from logging import INFO
from pathlib import Path
from typing import Any

from flwr.app import ArrayRecord, Context, Message
from flwr.clientapp import ClientApp
from flwr.common.logger import log
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import Result, Strategy

from ...data import load
from ...errors import ConfigError
from ...models import build
from ._apps import server_evaluate_fn, sgd_client_app
from ._attack import AttackSimulation
from ._faults import faulty_client_app, parse_faults
from ._strategy import FedlibStrategy

#: The run config the app reads, with its defaults (Flower run-config values are numbers and strings).
RUN_CONFIG: dict[str, Any] = {
    "num-server-rounds": 5,
    "num-nodes": 6,
    "dataset": "mnist5k",
    "model": "mnist_fc",
    "seed": 0,
    "rule": "trimmed_mean",
    "f": 1,
    "attack": "none",
    "malicious": "1",
    "knowledge": "partial",
    "attack-target": "",
    "lr": 0.2,
    "batch-size": 32,
    "local-steps": 1,
    "faults": "",
    "round-timeout": 300,
    "result-file": "",
}


def settings(run_config: dict[str, Any]) -> dict[str, Any]:
    """The run config over :data:`RUN_CONFIG`'s defaults; an unknown key is an error (a misspelt setting would
    otherwise be ignored).

    Example:
        >>> from fedlib.integrations.flower.app import settings
        >>> settings({"rule": "median"})["rule"], settings({})["num-nodes"]
        ('median', 6)
    """
    unknown = sorted(set(run_config) - set(RUN_CONFIG))
    if unknown:
        raise ConfigError(f"unknown run-config key(s) {unknown}; the app reads {sorted(RUN_CONFIG)}.")
    return {**RUN_CONFIG, **run_config}


def _malicious(text: object) -> int | list[int]:
    items = str(text).split()
    if not all(item.isdigit() for item in items):
        raise ConfigError(f"malicious: a count or partition IDs separated by spaces; found {text!r}.")
    return int(items[0]) if len(items) == 1 else [int(i) for i in items]


@functools.lru_cache(maxsize=4)
def _dataset(name: str, seed: int, n_clients: int):
    return load(name, split_seed=seed, n_clients=n_clients)


def _model_fn(cfg: dict[str, Any]):
    return functools.partial(build, str(cfg["model"]), seed=int(cfg["seed"]))


def strategy_for(cfg: dict[str, Any]) -> Strategy:
    """The FedlibStrategy (wrapped by an AttackSimulation when ``attack`` is not ``none``) of a run config."""
    nodes = int(cfg["num-nodes"])
    strategy: Strategy = FedlibStrategy(
        str(cfg["rule"]),
        f=int(cfg["f"]),
        seed=int(cfg["seed"]),
        min_train_nodes=nodes,
        min_available_nodes=nodes,
        fraction_evaluate=0.0,
    )
    if cfg["attack"] != "none":
        strategy = AttackSimulation(
            strategy,
            str(cfg["attack"]),
            malicious=_malicious(cfg["malicious"]),
            knowledge=str(cfg["knowledge"]),
            target=str(cfg["attack-target"]) or None,
            seed=int(cfg["seed"]),
        )
    return strategy


def result_json(cfg: dict[str, Any], result: Result) -> dict[str, Any]:
    """The run's result as JSON values: the settings, the test accuracy and loss after each round (round 0: the
    initial model) and each round's training metrics."""
    return {
        "run_config": cfg,
        "accuracy": {str(r): m["accuracy"] for r, m in sorted(result.evaluate_metrics_serverapp.items())},
        "loss": {str(r): m["loss"] for r, m in sorted(result.evaluate_metrics_serverapp.items())},
        "train": {str(r): dict(m) for r, m in sorted(result.train_metrics_clientapp.items())},
    }


def write_json(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` atomically (a temporary file in the same folder, then a rename)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=target.parent, suffix=".tmp", delete=False) as tmp:
        json.dump(payload, tmp, indent=1)
    os.replace(tmp.name, target)


server_app = ServerApp()


@server_app.main()
def _server_main(grid: Grid, context: Context) -> None:
    cfg = settings(dict(context.run_config))
    data = _dataset(str(cfg["dataset"]), int(cfg["seed"]), int(cfg["num-nodes"]))
    model_fn = _model_fn(cfg)
    result = strategy_for(cfg).start(
        grid=grid,
        initial_arrays=ArrayRecord(model_fn().state_dict()),
        num_rounds=int(cfg["num-server-rounds"]),
        timeout=float(cfg["round-timeout"]),
        evaluate_fn=server_evaluate_fn(model_fn, data.test_x, data.test_y),
    )
    payload = result_json(cfg, result)
    last = max(result.evaluate_metrics_serverapp)
    log(INFO, "fedlib app: test accuracy %.4f after round %d (%s)", payload["accuracy"][str(last)], last, cfg["rule"])
    if cfg["result-file"]:
        write_json(str(cfg["result-file"]), payload)


@functools.lru_cache(maxsize=4)
def _client(items: tuple[tuple[str, Any], ...], n_partitions: int) -> ClientApp:
    cfg = dict(items)
    data = _dataset(str(cfg["dataset"]), int(cfg["seed"]), n_partitions)
    honest = sgd_client_app(
        data,
        _model_fn(cfg),
        lr=float(cfg["lr"]),
        batch_size=int(cfg["batch-size"]),
        local_steps=int(cfg["local-steps"]),
        seed=int(cfg["seed"]),
    )
    return faulty_client_app(honest, parse_faults(str(cfg["faults"])))


def _client_for(context: Context) -> ClientApp:
    cfg = settings(dict(context.run_config))
    return _client(tuple(sorted(cfg.items())), int(context.node_config["num-partitions"]))


client_app = ClientApp()


@client_app.train()
def _client_train(message: Message, context: Context) -> Message:
    return _client_for(context)(message, context)


@client_app.evaluate()
def _client_evaluate(message: Message, context: Context) -> Message:
    return _client_for(context)(message, context)
