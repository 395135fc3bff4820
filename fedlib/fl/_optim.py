"""Server optimisers applied to the aggregate as the gradient of the flat parameters θ (spec §1, §5)."""

from __future__ import annotations

from typing import Sequence

import torch

from .._checks import check_choice
from ..errors import ConfigError

OPTIMISERS = ("sgd", "adam")


class ServerOptimiser:
    r"""Plain SGD with step decay, or Adam, on a flat parameter vector.

    * ``sgd``: :math:`\theta \leftarrow \theta - \eta_t\, a_t` with :math:`\eta_t = \eta \cdot
      \text{factor}^{|\{r \in \text{decay\_rounds}: r \le t\}|}` (no momentum, no weight decay; CIFAR10: lr 0.5,
      ×0.5 at round 1000, spec §5.1).
    * ``adam``: :math:`m \leftarrow \beta_1 m + (1-\beta_1) a`, :math:`v \leftarrow \beta_2 v + (1-\beta_2) a^2`,
      :math:`\theta \leftarrow \theta - \eta_t \hat m / (\sqrt{\hat v} + \epsilon)` with bias corrections
      (``torch.optim.Adam`` without weight decay; FEMNIST: lr 1e-3, spec §5.2).

    Example:
        >>> import torch
        >>> opt = ServerOptimiser("sgd", lr=0.5, decay_rounds=[2], decay_factor=0.5)
        >>> theta = torch.zeros(2)
        >>> for t in range(3):
        ...     theta = opt.step(theta, torch.ones(2), t)
        >>> theta
        tensor([-1.2500, -1.2500])
    """

    def __init__(
        self,
        name: str,
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
        self.lr, self.decay_rounds, self.decay_factor = float(lr), sorted(decay_rounds), float(decay_factor)
        self.betas, self.eps = betas, eps
        self._m = self._v = None
        self._steps = 0

    def lr_at(self, round_: int) -> float:
        return self.lr * self.decay_factor ** sum(1 for r in self.decay_rounds if r <= round_)

    def step(self, theta: torch.Tensor, direction: torch.Tensor, round_: int) -> torch.Tensor:
        """Return the new θ after one step along the aggregate ``direction`` at round ``round_``."""
        lr = self.lr_at(round_)
        if self.name == "sgd":
            return theta - lr * direction
        b1, b2 = self.betas
        if self._m is None:
            self._m, self._v = torch.zeros_like(theta), torch.zeros_like(theta)
        self._steps += 1
        self._m.mul_(b1).add_(direction, alpha=1 - b1)
        self._v.mul_(b2).addcmul_(direction, direction, value=1 - b2)
        denom = (self._v / (1 - b2 ** self._steps)).sqrt_().add_(self.eps)
        return theta - (lr / (1 - b1 ** self._steps)) * self._m / denom
