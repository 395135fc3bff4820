"""The FedSGD engine (spec §1, §2, §5): per-client gradients, attack, AGR, server optimiser, evaluation.

Most users call :func:`fedlib.experiments.run`; :func:`train` is the round loop it uses.
"""

from ._engine import TrainLog, resolve_device, round_f, train
from ._grads import GRAD_METHODS, FlatModel
from ._optim import OPTIMISERS, ServerOptimiser

__all__ = ["train", "TrainLog", "resolve_device", "round_f", "FlatModel", "ServerOptimiser", "GRAD_METHODS", "OPTIMISERS"]
