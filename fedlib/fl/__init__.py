"""The FedSGD engine (the paper's FL setting, §II-A, and threat model, §III): per-client gradients, attack, AGR, server
optimiser, evaluation.

The engine takes a :class:`Setting`, six small parts defined here (:class:`DataSetup`, :class:`TrainingSetup`,
:class:`Defense`, :class:`ThreatModel`, :class:`RunOptions`, :class:`Seeds`), or anything that offers one as
``.setting``. Most users call :func:`fedlib.experiments.run` with an :class:`~fedlib.experiments.Experiment`,
which composes a Setting from its fields; :func:`train` is the round loop it uses (:class:`FedSGD` holds its
state and its named steps).
"""

from ..vocabulary import F_POLICIES as POLICIES  # the name fedlib.fl has always exported
from ._batches import ClientBatches
from ._engine import Draw, FedSGD, TrainLog, train
from ._grads import GRAD_METHODS, FlatModel
from ._inputs import (
    DataSetup,
    Defense,
    HasSetting,
    RunOptions,
    Seeds,
    Setting,
    ThreatModel,
    TrainingSetup,
    setting_of,
)
from ._optim import OPTIMISERS, ServerOptimiser
from ._policy import attacker_counts, check_feasible, describe_cell, largest_f, round_f, rows_in_round
from ._score import ServerScore
from ._setup import build_model, load_dataset, resolve_device

__all__ = [
    "train",
    "FedSGD",
    "Setting",
    "DataSetup",
    "TrainingSetup",
    "Defense",
    "ThreatModel",
    "RunOptions",
    "Seeds",
    "HasSetting",
    "setting_of",
    "Draw",
    "TrainLog",
    "ClientBatches",
    "resolve_device",
    "load_dataset",
    "build_model",
    "round_f",
    "largest_f",
    "attacker_counts",
    "rows_in_round",
    "check_feasible",
    "describe_cell",
    "POLICIES",
    "FlatModel",
    "ServerOptimiser",
    "ServerScore",
    "GRAD_METHODS",
    "OPTIMISERS",
]
