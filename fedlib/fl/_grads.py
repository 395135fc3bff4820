"""Flat parameter vectors and per-client gradients (vmap of grad, or a plain loop)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad_and_value, vmap

from .._checks import check_choice
from ..errors import ConfigError
from ..vocabulary import GRAD_METHODS


class FlatModel:
    """A module whose parameters live in one flat vector θ of length d (``model.parameters()`` order, as the released
    code flattens it).

    ``unflatten(θ)`` gives name → view dicts for ``torch.func.functional_call``; gradients come back flattened
    in the same order, so the aggregate can be applied to θ directly.

    Example:
        >>> import torch
        >>> from fedlib.models import build
        >>> from fedlib.fl import FlatModel
        >>> fm = FlatModel(build("mnist_fc", seed=0))
        >>> fm.theta.shape
        torch.Size([79510])
    """

    def __init__(self, module: nn.Module, *, dtype: torch.dtype | None = None, device=None):
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        self.module = module
        self.names: list[str] = [n for n, _ in named]
        self.shapes: list[torch.Size] = [p.shape for _, p in named]
        self.numels: list[int] = [p.numel() for _, p in named]
        theta = torch.cat([p.detach().reshape(-1) for _, p in named])
        self.theta = theta.to(dtype=dtype or theta.dtype, device=device or theta.device).clone()
        module.to(dtype=self.theta.dtype, device=self.theta.device)
        # Buffers (none in our nets) travel with functional_call unchanged.
        self.buffers = {n: b for n, b in module.named_buffers()}
        self.has_conv = any(isinstance(m, nn.modules.conv._ConvNd) for m in module.modules())

    def auto_method(self) -> str:
        """What ``method="auto"`` runs for stacked batches: ``loop`` for convolutional nets on CPU, ``vmap``
        otherwise. Measured on a quiet 2-core CPU (benchmarks/, part fedsgd): vmap is 1.4–4× faster than
        the loop for the fully connected nets (MNIST 100 × 100, Purchase100 80 × 16; at Purchase100's
        batch 500 the two are within 10 %), but 1.4–2× slower for the CNNs (FEMNIST 60 × 50 and 60 × 200,
        Alexnet 50 × 50 and 50 × 250), whose batched per-client convolution weight gradients cost more than
        one backward pass per client. Both give the same gradients up to rounding (tested)."""
        return "loop" if (self.has_conv and self.theta.device.type == "cpu") else "vmap"

    @property
    def d(self) -> int:
        return int(self.theta.numel())

    def unflatten(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        return {n: t.view(s) for n, t, s in zip(self.names, torch.split(theta, self.numels), self.shapes, strict=True)}

    def forward(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.module, (self.unflatten(theta), self.buffers), (x,))

    def _loss(self, params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(functional_call(self.module, (params, self.buffers), (x,)), y)

    def _flatten_grads(self, grads: dict[str, torch.Tensor], leading: tuple[int, ...]) -> torch.Tensor:
        return torch.cat([grads[n].reshape(*leading, -1) for n in self.names], dim=-1)

    def client_gradients(
        self,
        theta: torch.Tensor,
        batches: Sequence[tuple[torch.Tensor, torch.Tensor]] | tuple[torch.Tensor, torch.Tensor],
        *,
        method: str = "auto",
    ) -> tuple[torch.Tensor, torch.Tensor]:
        r"""One gradient of the mean cross-entropy per client: :math:`g_i = \nabla_\theta \ell(\theta; B_i)`.

        Args:
            theta: flat parameters (d,).
            batches: either a pair of stacked tensors ``(X (k, B, ...), Y (k, B))`` (equal batch sizes) or a
                list of k ``(x_i, y_i)`` pairs (any sizes).
            method: ``vmap`` (``torch.func.vmap`` of ``grad`` over the client axis; needs stacked batches),
                ``loop`` (one ``grad`` call per client), ``auto`` (for stacked batches
                :meth:`auto_method`: the loop for CNNs on CPU, vmap otherwise; the loop for lists).

        Returns:
            gradients (k, d) in θ's dtype and device, and the k client losses.
        """
        check_choice(method, GRAD_METHODS, "gradient method")
        params = self.unflatten(theta.detach())
        stacked = isinstance(batches, tuple) and len(batches) == 2 and isinstance(batches[0], torch.Tensor)
        if method == "vmap" and not stacked:
            raise ConfigError("method='vmap' needs equal batch sizes stacked as (X (k, B, ...), Y (k, B)).")
        grad_fn = grad_and_value(self._loss)
        if method == "auto" and stacked:
            method = self.auto_method()
        if stacked and method == "vmap":
            xs, ys = cast(tuple[torch.Tensor, torch.Tensor], batches)
            grads, losses = vmap(grad_fn, in_dims=(None, 0, 0))(params, xs, ys)
            return self._flatten_grads(grads, (xs.shape[0],)), losses
        pairs = list(zip(*batches, strict=True)) if stacked else batches
        rows, losses = [], []
        for x, y in pairs:
            g, loss = grad_fn(params, x, y)
            rows.append(self._flatten_grads(g, ()))
            losses.append(loss)
        return torch.stack(rows), torch.stack(losses)

    @torch.no_grad()
    def evaluate(
        self, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 2000
    ) -> tuple[float, float]:
        """(mean cross-entropy, accuracy in %) of θ on (x, y), in batches of ``batch_size``."""
        total_loss, correct = 0.0, 0
        for start in range(0, len(y), batch_size):
            logits = self.forward(theta, x[start : start + batch_size])
            target = y[start : start + batch_size]
            total_loss += float(F.cross_entropy(logits, target, reduction="sum"))
            correct += int((logits.argmax(dim=1) == target).sum())
        return total_loss / len(y), 100.0 * correct / len(y)
