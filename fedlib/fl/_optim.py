"""Server optimisers: ``torch.optim`` on one flat parameter θ, the aggregate written into ``θ.grad`` (paper §II-A)."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch

from .._checks import check_choice
from ..errors import ConfigError
from ..vocabulary import OPTIMISERS


class ServerOptimiser:
    r"""Plain SGD or Adam (``torch.optim``) with step decay (``MultiStepLR``) on a flat parameter vector θ.

    * ``sgd``: :math:`\theta \leftarrow \theta - \eta_t\, a_t` with :math:`\eta_t = \eta \cdot
      \text{factor}^{|\{r \in \text{decay\_rounds}: r \le t\}|}` (no momentum, no weight decay; CIFAR10: lr 0.5,
      ×0.5 at round 1000, the released CIFAR10 code).
    * ``adam``: :math:`m \leftarrow \beta_1 m + (1-\beta_1) a`, :math:`v \leftarrow \beta_2 v + (1-\beta_2) a^2`,
      :math:`\theta \leftarrow \theta - \eta_t \hat m / (\sqrt{\hat v} + \epsilon)` with bias corrections
      (``torch.optim.Adam`` without weight decay; FEMNIST: lr 1e-3, the released FEMNIST code).

    θ lives in :attr:`param` (a ``torch.nn.Parameter``); :meth:`step` writes the aggregate into ``param.grad``
    and steps the optimiser and the scheduler (one scheduler step per round). :meth:`candidate` returns the θ
    the next :meth:`step` would produce for a given aggregate without changing any state (Fang's defense scores
    that model).

    Example:
        >>> import torch
        >>> from fedlib.fl import ServerOptimiser
        >>> opt = ServerOptimiser("sgd", torch.zeros(2), lr=0.5, decay_rounds=[2], decay_factor=0.5)
        >>> for t in range(3):
        ...     theta = opt.step(torch.ones(2))
        >>> theta
        tensor([-1.2500, -1.2500])
    """

    def __init__(
        self,
        name: str,
        theta: torch.Tensor,
        *,
        lr: float,
        decay_rounds: Sequence[int] = (),
        decay_factor: float = 1.0,
        betas: tuple = (0.9, 0.999),
        eps: float = 1e-8,
    ):
        self.name = check_choice(name, OPTIMISERS, "optimiser")
        if not lr > 0:
            raise ConfigError(f"lr must be > 0; found {lr}.")
        if not decay_factor > 0:
            raise ConfigError(f"lr_decay_factor must be > 0; found {decay_factor}.")
        self.param = torch.nn.Parameter(theta.detach().clone())
        self._twin: tuple[torch.optim.Optimizer, torch.nn.Parameter] | None = None  # see candidate()
        self.betas, self.eps = tuple(betas), float(eps)
        self.optimizer = self._make([self.param], float(lr))
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(
            self.optimizer, milestones=list(decay_rounds), gamma=float(decay_factor)
        )

    def _make(self, params, lr: float) -> torch.optim.Optimizer:
        if self.name == "sgd":
            return torch.optim.SGD(params, lr=lr)
        return torch.optim.Adam(params, lr=lr, betas=self.betas, eps=self.eps)

    @property
    def theta(self) -> torch.Tensor:
        """The current θ (a view of the parameter, no gradient)."""
        return self.param.detach()

    @property
    def lr(self) -> float:
        """The learning rate η_t of the next step."""
        return float(self.optimizer.param_groups[0]["lr"])

    def step(self, aggregate: torch.Tensor) -> torch.Tensor:
        """One server step along ``aggregate`` (used as the gradient of θ); returns the new θ."""
        self.param.grad = aggregate.detach().to(self.param.dtype)
        self.optimizer.step()
        self.param.grad = None
        self.scheduler.step()
        return self.theta

    def snapshot(self) -> dict[str, object]:
        """θ and the optimiser's state (learning rate, Adam moments) as CPU copies: enough to rebuild the
        :meth:`candidate` of this round later (:meth:`fedlib.fl.ServerScore.replay`)."""

        def to_cpu(value):
            return value.detach().to("cpu", copy=True) if torch.is_tensor(value) else copy.deepcopy(value)

        state = self.optimizer.state_dict()
        return {
            "theta": to_cpu(self.theta),
            "optimiser": {
                "state": {k: {n: to_cpu(v) for n, v in s.items()} for k, s in state["state"].items()},
                "param_groups": copy.deepcopy(state["param_groups"]),
            },
        }

    @torch.no_grad()
    def candidate(self, aggregate: torch.Tensor, theta: torch.Tensor | None = None) -> torch.Tensor:
        """θ after a step along ``aggregate``, computed on copies: the optimiser's state is not changed.

        The step is the optimiser's own (``torch.optim``'s step on a twin parameter, so the floats are the next
        :meth:`step`'s). Fang's defense scores hundreds of candidates a round: the twin optimiser is built once
        and reset (θ, learning rate, a fresh copy of the state) at each call instead of being rebuilt."""
        start = self.theta if theta is None else theta
        twin, copy = self._twin_for(start)
        copy.copy_(start)
        twin.param_groups[0]["lr"] = self.lr
        twin.state.clear()
        state = self.optimizer.state.get(self.param)
        if state:
            twin.state[copy] = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in state.items()}
        copy.grad = aggregate.detach().to(copy.dtype)
        twin.step()
        copy.grad = None
        return copy.detach().clone()  # the twin's parameter is reused by the next call

    def _twin_for(self, theta: torch.Tensor) -> tuple[torch.optim.Optimizer, torch.nn.Parameter]:
        """The twin optimiser and its parameter, shaped like ``theta`` (built again only when that changes)."""
        twin = self._twin
        if twin is None or (twin[1].shape, twin[1].dtype, twin[1].device) != (theta.shape, theta.dtype, theta.device):
            copy = torch.nn.Parameter(theta.detach().clone())
            twin = self._twin = (self._make([copy], self.lr), copy)
        return twin
