"""What one FedSGD run needs, in small explicit parts, defined here below the experiment layer.

A :class:`Setting` is six parts: :class:`DataSetup` (the dataset and its split into clients),
:class:`TrainingSetup` (the network and the FedSGD protocol), :class:`Defense` (the server's rule),
:class:`ThreatModel` (the adversary), :class:`RunOptions` (how the run computes) and :class:`Seeds`. The engine
(:class:`~fedlib.fl.FedSGD`, :func:`~fedlib.fl.train`, :func:`~fedlib.fl.check_feasible`) takes a Setting, or
any object that offers one as its ``setting`` attribute: :class:`fedlib.experiments.Experiment` composes its
parts from its fields (and adds validation across them, a config hash and a profile), so the engine never
needs to know what an experiment is.

Example:
    >>> from fedlib.fl import DataSetup, Defense, Setting, ThreatModel, TrainingSetup
    >>> setting = Setting(data=DataSetup(n_clients=10), training=TrainingSetup(rounds=2),
    ...                   defense=Defense(aggregator="median"), threat=ThreatModel(n_malicious=2, attack="lie"))
    >>> setting.threat.knowledge, setting.options.dtype, setting.seeds
    ('full', 'float32', Seeds(split=0, init=0, sample=0, attack=0))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from .._checks import check_choice
from .._seeds import derived_seed
from ..errors import ConfigError
from ..vocabulary import (
    DTYPES,
    F_POLICIES,
    GRAD_METHODS,
    KNOWLEDGE,
    NONFINITE_POLICIES,
    OPTIMISERS,
    PERTURBATIONS,
    SAMPLING,
    SEARCHES,
    VARIANTS,
)

#: The stream of the sample seed that seeds the server rule's own draws (:func:`fedlib._seeds.derived_seed`).
SERVER_STREAM = 17


def _check(part: object, choices: Mapping[str, tuple[str, ...]]) -> None:
    for name, allowed in choices.items():
        check_choice(getattr(part, name), allowed, f"{type(part).__name__}.{name}")


@dataclass(frozen=True)
class DataSetup:
    """The data the clients hold: the dataset (and its options), the folder it is read from (None: the default
    place), how it is split (``partition``, Dirichlet ``partition_alpha``), into ``n_clients`` clients of
    ``samples_per_client`` samples (None: the dataset's own split)."""

    dataset: str = "mnist5k"
    dataset_options: Mapping[str, Any] = field(default_factory=dict)
    data_root: str | None = None
    partition: str = "iid"
    partition_alpha: float | None = None
    n_clients: int | None = 20
    samples_per_client: int | None = None


@dataclass(frozen=True)
class TrainingSetup:
    """The network and the FedSGD protocol: the registered ``model`` (and its options); who takes part in a
    round (``sampling``: every client, or ``clients_per_round`` drawn with or without replacement); one
    minibatch of ``batch_size`` per client and round (None: the client's whole data); the server optimiser
    with learning rate ``lr``, multiplied by ``lr_decay_factor`` at each of ``lr_decay_rounds``; ``rounds``
    rounds, evaluated every ``eval_every`` (and at the start and the end)."""

    model: str = "mnist_fc"
    model_options: Mapping[str, Any] = field(default_factory=dict)
    sampling: str = "all"
    clients_per_round: int | None = None
    rounds: int = 120
    batch_size: int | None = 50
    optimiser: str = "sgd"
    lr: float = 0.5
    lr_decay_rounds: tuple[int, ...] = ()
    lr_decay_factor: float = 1.0
    eval_every: int = 10

    def __post_init__(self) -> None:
        _check(self, {"sampling": SAMPLING, "optimiser": OPTIMISERS})


@dataclass(frozen=True)
class Defense:
    """The server's robust aggregation rule: its registered name and options, the f it assumes each round
    (``server_f``: a policy of :data:`fedlib.vocabulary.F_POLICIES` or an int, see :func:`fedlib.fl.round_f`),
    what it does with NaN/Inf rows (``nonfinite``), and how many validation samples Fang's defense scores a
    candidate model on (``fang_val_samples``)."""

    aggregator: str = "mean"
    aggregator_options: Mapping[str, Any] = field(default_factory=dict)
    server_f: str | int = "actual"
    nonfinite: str = "raise"
    fang_val_samples: int = 500

    def __post_init__(self) -> None:
        _check(self, {"nonfinite": NONFINITE_POLICIES})
        if isinstance(self.server_f, str) and self.server_f not in F_POLICIES:
            raise ConfigError(
                f"Defense.server_f: expected one of {list(F_POLICIES)} or an int; found {self.server_f!r}."
            )


@dataclass(frozen=True)
class ThreatModel:
    """The adversary (the paper's threat model, §III): it controls clients ``0..n_malicious-1`` and sends the
    rows of ``attack`` (with its ``attack_options``), aimed at ``attack_target`` (None: the server's own rule),
    knowing the benign updates (``knowledge="full"``) or only its own clients' honest ones (``"partial"``);
    the γ-search attacks use ``perturbation``, ``search`` and ``gamma_init`` (None: the attack's default)."""

    n_malicious: int = 4
    attack: str = "none"
    attack_options: Mapping[str, Any] = field(default_factory=dict)
    attack_target: str | None = None
    knowledge: str = "full"
    perturbation: str = "std"
    search: str = "halving"
    gamma_init: float | None = None

    def __post_init__(self) -> None:
        _check(self, {"knowledge": KNOWLEDGE, "perturbation": PERTURBATIONS, "search": SEARCHES})


@dataclass(frozen=True)
class RunOptions:
    """How the run computes: the code ``variant`` the rule and the attack follow (``textbook`` or the authors'
    released ``ndss21``), the floating ``dtype``, the ``device`` (``auto``: CUDA when available) and the
    per-client gradient method."""

    variant: str = "textbook"
    dtype: str = "float32"
    device: str = "auto"
    grad_method: str = "auto"

    def __post_init__(self) -> None:
        _check(self, {"variant": VARIANTS, "dtype": DTYPES, "grad_method": GRAD_METHODS})

    @property
    def torch_dtype(self) -> torch.dtype:
        """The ``torch.dtype`` of :attr:`dtype`."""
        return getattr(torch, self.dtype)


@dataclass(frozen=True)
class Seeds:
    """The four random streams of a run, fanned out from the seeds in one place.

    ``sample`` (CPU generator: client draws and minibatch permutations are CPU draws whose results move to the
    device), ``attack`` and ``server`` (the rule's own draws, e.g. DnC's coordinates and Fang's tie-breaks;
    stream :data:`SERVER_STREAM` of ``sample``) live on the run's device. ``split`` and ``init`` seed the
    dataset split and the model.
    """

    split: int = 0
    init: int = 0
    sample: int = 0
    attack: int = 0

    @classmethod
    def of(cls, source: Setting | HasSetting) -> Seeds:
        return setting_of(source).seeds

    def generators(self, device: torch.device) -> tuple[torch.Generator, torch.Generator, torch.Generator]:
        """(sample on CPU, attack on ``device``, server on ``device``)."""
        sample = torch.Generator().manual_seed(self.sample)
        attack = torch.Generator(device=device).manual_seed(self.attack)
        server = torch.Generator(device=device).manual_seed(derived_seed(self.sample, SERVER_STREAM))
        return sample, attack, server


@dataclass(frozen=True)
class Setting:
    """Everything one FedSGD run needs (see the module docstring); every part has its defaults."""

    data: DataSetup = field(default_factory=DataSetup)
    training: TrainingSetup = field(default_factory=TrainingSetup)
    defense: Defense = field(default_factory=Defense)
    threat: ThreatModel = field(default_factory=ThreatModel)
    options: RunOptions = field(default_factory=RunOptions)
    seeds: Seeds = field(default_factory=Seeds)

    @property
    def target(self) -> str:
        """The rule the attack aims at, ``threat.attack_target`` or else the server's own."""
        return self.threat.attack_target or self.defense.aggregator


#: The parts of a :class:`Setting`, by attribute, with their classes (for building a Setting from flat fields).
PARTS: dict[str, type] = {
    "data": DataSetup,
    "training": TrainingSetup,
    "defense": Defense,
    "threat": ThreatModel,
    "options": RunOptions,
    "seeds": Seeds,
}


class HasSetting(Protocol):
    """Anything that offers its :class:`Setting` (e.g. :class:`fedlib.experiments.Experiment`)."""

    @property
    def setting(self) -> Setting: ...


def setting_of(source: Setting | HasSetting) -> Setting:
    """``source`` itself when it is a :class:`Setting`, else its ``setting`` attribute.

    Example:
        >>> from fedlib.fl import Setting, setting_of
        >>> setting_of(Setting()).training.rounds
        120
    """
    if isinstance(source, Setting):
        return source
    setting = getattr(source, "setting", None)
    if not isinstance(setting, Setting):
        raise ConfigError(
            "the FedSGD engine takes a fedlib.fl.Setting, or an object whose .setting is one (e.g. a "
            f"fedlib.experiments.Experiment); found {type(source).__name__}."
        )
    return setting
