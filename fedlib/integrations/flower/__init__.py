"""fedlib in Flower: every fedlib aggregation rule as a Flower strategy, and the paper's attacks in Flower runs.

Needs Flower (``pip install 'fedlib-ndss21[flower]'``: ``flwr[simulation]>=1.42``, the Message API with
``flwr.serverapp.strategy``, and Ray for Flower's simulation engine). Flower itself ships Krum, Multi-Krum,
Bulyan, FedMedian and FedTrimmedAvg; this module adds DnC, AFA, Fang's defense, the authors' released-code variants
(``variant="ndss21"``) and the NDSS'21 attacks.

- :class:`FedlibStrategy`: ``FedlibStrategy("dnc", num_malicious_nodes=2)`` is a Flower strategy (a ``FedAvg``
  subclass: same sampling and metric handling, Flower's option names) that aggregates the clients' updates
  with a fedlib rule. No single client stops it: a malformed reply is set aside, with its node ID and reason
  (:data:`REASONS`) in the round's metrics and Flower's log.
- :class:`AttackSimulation`: wraps any Flower strategy and replaces the replies of chosen clients (named by
  data partition, so one seed attacks the same data on every engine) by updates crafted with
  :func:`fedlib.attacks.craft` (full or partial knowledge), for robustness studies.
- :func:`faulty_client_app`: clients that crash or reply garbage (:data:`FAULTS`), to test a strategy.
- :class:`InProcessGrid` and :func:`simulate`: run ClientApps in this process (no Ray, no SuperLink).
- :mod:`fedlib.integrations.flower.app`: a ready Flower App (ServerApp and ClientApp set by the run config);
  :mod:`fedlib.integrations.flower.local` runs it on Flower's own engines (simulation, or a SuperLink and
  SuperNodes on 127.0.0.1) through ``flwr run``.
- :func:`sgd_client_app`, :func:`server_evaluate_fn`, :func:`fang_score_fn`: fedlib's datasets and
  PyTorch models as a ClientApp and server-side evaluation; :func:`echo_client_app` for tests.
- :class:`ArrayLayout`: ArrayRecord ⇄ flat vector, with the shape/dtype checks the strategy relies on.

Example (the median of five clients' updates, one of them an outlier):
    >>> import numpy as np
    >>> from flwr.app import ArrayRecord
    >>> from fedlib.integrations.flower import FedlibStrategy, InProcessGrid, echo_client_app
    >>> grid = InProcessGrid(echo_client_app(shift=lambda p: [0.0, 1.0, 2.0, 3.0, 100.0][p]), num_nodes=5)
    >>> strategy = FedlibStrategy("median", f=1, min_train_nodes=5, fraction_evaluate=0.0)
    >>> result = strategy.start(grid=grid, initial_arrays=ArrayRecord([np.zeros(2, np.float32)]), num_rounds=2)
    >>> result.arrays["0"].numpy().tolist()
    [4.0, 4.0]
"""

try:
    import flwr  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the optional dependency
    raise ImportError(
        "fedlib.integrations.flower needs Flower: pip install 'fedlib-ndss21[flower]' (flwr>=1.42)."
    ) from exc

from ._apps import echo_client_app, evaluate_model, fang_score_fn, server_evaluate_fn, sgd_client_app
from ._attack import AttackSimulation
from ._faults import FAULTS, faulty_client_app, malformed_content, parse_faults
from ._grid import InProcessGrid, simulate
from ._layout import ArrayLayout
from ._nodes import NODE_RECORD, node_record
from ._replies import REASONS, MalformedReplyError, SetAside, TooFewRepliesError
from ._strategy import FedlibStrategy, RoundReport

__all__ = [
    "FAULTS",
    "NODE_RECORD",
    "REASONS",
    "ArrayLayout",
    "AttackSimulation",
    "FedlibStrategy",
    "InProcessGrid",
    "MalformedReplyError",
    "RoundReport",
    "SetAside",
    "TooFewRepliesError",
    "echo_client_app",
    "evaluate_model",
    "fang_score_fn",
    "faulty_client_app",
    "malformed_content",
    "node_record",
    "parse_faults",
    "server_evaluate_fn",
    "sgd_client_app",
    "simulate",
]
