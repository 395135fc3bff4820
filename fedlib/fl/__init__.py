"""The FedSGD engine (spec §1, §2, §5): per-client gradients, attack, AGR, server optimiser, evaluation.

Most users call :func:`fedlib.experiments.run`; :func:`train` is the round loop it uses (:class:`FedSGD` holds
its state and its named steps).
"""

from ..vocabulary import F_POLICIES as POLICIES  # the name fedlib.fl has always exported
from ._batches import ClientBatches
from ._engine import Draw, FedSGD, Seeds, TrainLog, build_model, load_dataset, resolve_device, train
from ._grads import GRAD_METHODS, FlatModel
from ._optim import OPTIMISERS, ServerOptimiser
from ._policy import attacker_counts, check_feasible, describe_cell, largest_f, round_f, rows_in_round

__all__ = [
    "train",
    "FedSGD",
    "Draw",
    "Seeds",
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
    "GRAD_METHODS",
    "OPTIMISERS",
]
