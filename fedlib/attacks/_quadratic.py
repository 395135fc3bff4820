r"""Distances to the malicious vector as exact quadratics in γ, from one pass over the benign rows.

With μ the benign mean, ∇p the perturbation and u_i = g_i − μ,

.. math::
    \lVert \mu + \gamma\nabla_p - g_i \rVert^2 = a_i + 2\gamma b_i + \gamma^2 c,\qquad
    a_i = \lVert u_i\rVert^2,\; b_i = -\langle u_i, \nabla_p\rangle,\; c = \lVert\nabla_p\rVert^2,

and ‖g_i − g_j‖² = a_i + a_j − 2⟨u_i, u_j⟩. One pass over the (k, d) data (in column blocks, so the
extra memory is O(k·block)) gives every number the exact γ searches need; they never read d-dimensional
data again. Centering on μ before the Gram products avoids the cancellation of ‖g‖² − 2⟨g, g'⟩ + ‖g'‖²
when the rows sit far from the origin. Block products run in the input dtype and are accumulated in
float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._blocks import blocked_gram, column_blocks, distances_from_gram

def sq_distances_to(rows: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
    """(k,) float64 squared distances ‖r_i − vector‖², differences in the input dtype, summed per column
    block and accumulated in float64."""
    out = torch.zeros(rows.shape[0], dtype=torch.float64, device=rows.device)
    for cols in column_blocks(rows.shape[1]):
        diff = rows[:, cols] - vector[cols]
        out += (diff * diff).sum(dim=1).to(torch.float64)
    return out


@dataclass(frozen=True)
class QuadraticDistances:
    """The numbers a_i, b_i, c and the benign-benign squared distances (all float64, CPU-or-input device)."""

    a: torch.Tensor  # (k,)
    b: torch.Tensor  # (k,)
    c: float
    benign_sq: torch.Tensor  # (k, k), zero diagonal

    @classmethod
    def from_rows(
        cls, benign: torch.Tensor, mean: torch.Tensor, direction: torch.Tensor
    ) -> "QuadraticDistances":
        """One pass over ``benign``: per column block, the Gram matrix of [u_1; …; u_k; ∇p] (one matrix
        product in the input dtype), accumulated in float64."""
        k, d = benign.shape

        def stacked(cols: slice) -> torch.Tensor:
            return torch.cat([benign[:, cols] - mean[cols], direction[cols].unsqueeze(0)], dim=0)

        gram = blocked_gram(k + 1, d, stacked, device=benign.device)
        a = gram.diagonal()[:k].clone()
        b = -gram[:k, k].clone()
        c = float(gram[k, k])
        sq = distances_from_gram(gram[:k, :k].clone())
        return cls(a, b, c, sq)

    @property
    def k(self) -> int:
        return self.a.shape[0]

    def to_malicious(self, gamma: float) -> torch.Tensor:
        """(k,) squared distances from μ + γ∇p to every benign row."""
        return (self.a + 2.0 * gamma * self.b + gamma * gamma * self.c).clamp_min(0.0)

    def matrix(self, gamma: float, n_copies: int) -> torch.Tensor:
        """(n_copies + k)² squared distances of [n_copies identical malicious copies; benign rows]."""
        q = self.to_malicious(gamma)
        n = n_copies + self.k
        out = torch.zeros(n, n, dtype=torch.float64, device=self.a.device)
        out[n_copies:, n_copies:] = self.benign_sq
        out[:n_copies, n_copies:] = q
        out[n_copies:, :n_copies] = q[:, None]
        return out


def largest_root(a: torch.Tensor, b: torch.Tensor, c: float, threshold: torch.Tensor) -> torch.Tensor:
    r"""The larger root of :math:`c\gamma^2 + 2b\gamma + (a - t) = 0`, elementwise, in a stable form.

    For c > 0 and a ≤ t this is the largest γ with a + 2bγ + cγ² ≤ t (it is ≥ 0). Rounding can make
    a slightly exceed t; the root is then clamped to 0.
    """
    slack = (threshold - a).clamp_min(0.0)
    disc = (b * b + c * slack).sqrt()
    # b ≥ 0: (−b + √disc)/c cancels; the equivalent slack/(b + √disc) does not.
    denom = b + disc
    pos = torch.where(denom > 0, slack / denom.clamp_min(torch.finfo(denom.dtype).tiny), torch.zeros_like(b))
    neg = (disc - b) / c
    return torch.where(b >= 0, pos, neg)
