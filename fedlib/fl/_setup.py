"""What a :class:`~fedlib.fl.Setting` makes before round 1: the device, the dataset split, the network, and the
check that the split fits the setting."""

from __future__ import annotations

import math

import torch

from .. import data as _data
from .. import models as _models
from ..errors import ConfigError
from ._inputs import HasSetting, Setting, setting_of
from ._policy import round_clients


def resolve_device(name: str) -> torch.device:
    """``auto`` → ``cuda`` when available, else ``cpu``; anything else as given (and checked to exist)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} was asked for but CUDA is not available here; use 'cpu' or 'auto'.")
    return device


def load_dataset(source: Setting | HasSetting) -> _data.Dataset:
    """The setting's dataset split (from disk or the embedded mnist5k), split with the ``split`` seed."""
    setting = setting_of(source)
    data = setting.data
    return _data.load(
        data.dataset,
        data.data_root,
        split_seed=setting.seeds.split,
        n_clients=data.n_clients,
        samples_per_client=data.samples_per_client,
        partition=data.partition,
        alpha=data.partition_alpha,
        **data.dataset_options,
    )


def build_model(source: Setting | HasSetting, dataset: _data.Dataset) -> torch.nn.Module:
    """The setting's registered network, sized for ``dataset``, initialised from the ``init`` seed."""
    setting = setting_of(source)
    training = setting.training
    options = dict(training.model_options)
    if _models.sized_by_data(training.model):
        options["in_features"] = math.prod(dataset.input_shape)
    return _models.build(training.model, n_classes=dataset.n_classes, seed=setting.seeds.init, **options)


def check_dataset(setting: Setting, dataset: _data.Dataset) -> None:
    """The split must have the clients the setting describes and room for its attackers and draws."""
    n_total, n_clients, n_malicious = dataset.n_clients, setting.data.n_clients, setting.threat.n_malicious
    if n_clients is not None and n_clients != n_total:
        raise ConfigError(f"the dataset has {n_total} clients; the setting says n_clients={n_clients}.")
    if n_malicious >= n_total:
        raise ConfigError(f"n_malicious={n_malicious} must be < the {n_total} clients of the dataset split.")
    training = setting.training
    if training.sampling == "without_replacement" and round_clients(setting, n_total) > n_total:
        raise ConfigError(f"clients_per_round={training.clients_per_round} > {n_total} clients without replacement.")
