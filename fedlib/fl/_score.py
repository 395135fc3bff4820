"""The server's scoring of a candidate aggregate (the ``score_fn`` Fang's defense needs), live or replayed."""

from __future__ import annotations

import copy
from typing import Any

import torch

from .. import data as _data
from ._grads import FlatModel
from ._inputs import HasSetting, Setting, setting_of
from ._optim import ServerOptimiser
from ._setup import build_model


class ServerScore:
    """``score(v) -> (loss, error rate in [0, 1])`` of the model the server would produce with aggregate ``v``: the
    candidate step of its optimiser (SGD: θ − η_t·v; Adam: the Adam step of that aggregate, computed on copies
    without touching the optimiser's state), scored on the first ``fang_val_samples`` validation samples.

    The engine scores with its live optimiser (:attr:`fedlib.fl.FedSGD.score_fn`); :meth:`replay` rebuilds the
    scoring of a past round from a :meth:`~fedlib.fl.ServerOptimiser.snapshot` (what :func:`fedlib.evaluate`
    does on captured rounds).
    """

    def __init__(self, net: FlatModel, optimiser: ServerOptimiser, x: torch.Tensor, y: torch.Tensor):
        self.net, self.optimiser, self.x, self.y = net, optimiser, x, y

    def __call__(self, vector: torch.Tensor) -> tuple[float, float]:
        loss, acc = self.net.evaluate(self.optimiser.candidate(vector), self.x, self.y)
        return loss, 1.0 - acc / 100.0

    @classmethod
    def replay(
        cls,
        source: Setting | HasSetting,
        dataset: _data.Dataset,
        snapshot: dict[str, Any],
        *,
        device: torch.device | str = "cpu",
    ) -> ServerScore:
        """The server's scoring at the round whose optimiser ``snapshot`` was taken, for the setting's network
        (built from its ``init`` seed and then given the snapshot's θ) and the dataset's validation samples."""
        setting = setting_of(source)
        dtype, training = setting.options.torch_dtype, setting.training
        net = FlatModel(build_model(setting, dataset), dtype=dtype, device=device)
        theta = snapshot["theta"].to(device=device, dtype=dtype)
        optimiser = ServerOptimiser(
            training.optimiser,
            theta,
            lr=training.lr,
            decay_rounds=training.lr_decay_rounds,
            decay_factor=training.lr_decay_factor,
        )
        optimiser.optimizer.load_state_dict(copy.deepcopy(snapshot["optimiser"]))
        n = setting.defense.fang_val_samples
        x = dataset.val_x[:n].to(device=device, dtype=dtype)
        return cls(net, optimiser, x, dataset.val_y[:n].to(device))
