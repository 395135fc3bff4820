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

from ..._blocks import column_blocks, distances_from_gram
from ..._checks import check_choice
from ...errors import InputError
from .._perturbation import KINDS


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
    benign_sq: torch.Tensor | None  # (k, k), zero diagonal; None when built with pairwise=False
    gram: torch.Tensor | None = None  # (k, k) ⟨u_i, u_j⟩ behind benign_sq (float64); None when not pairwise

    @classmethod
    def one_pass(
        cls, benign: torch.Tensor, kind: str, *, pairwise: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor, QuadraticDistances]:
        """The benign mean μ, the perturbation ∇p of ``kind`` and the model, from a single blocked pass.

        Same values as ``benign.mean(0)``, :func:`~fedlib.attacks.perturbation` and the definitions of a, b,
        c above (up to rounding), but each column block is read from memory once and then mean, centring, the
        std direction and the Gram products run on it in cache (one pass over the (k, d) matrix, not three).
        ``unit_vec``'s global norm is applied after the pass: b and c are rescaled by 1/‖μ‖ and 1/‖μ‖².
        ``pairwise=False`` skips the (k, k) Gram product (the pass's largest cost) and leaves
        ``benign_sq`` as None, for callers that need only a, b, c and :meth:`sums_to_benign`.
        """
        mean, direction, gram, norms, cross, c = _one_pass(benign, kind, pairwise=pairwise, norms=not pairwise)
        if gram is None:
            assert norms is not None  # computed when not pairwise
            return mean, direction, cls(norms, -cross, c, None)
        return mean, direction, cls(gram.diagonal().clone(), -cross, c, distances_from_gram(gram), gram)

    @classmethod
    def one_pass_both(
        cls, benign: torch.Tensor, kind: str
    ) -> tuple[torch.Tensor, torch.Tensor, QuadraticDistances, QuadraticDistances]:
        """μ, ∇p and both models of :meth:`one_pass` (``pairwise=True``, then ``pairwise=False``) from one pass:
        the same floats as the two calls, for a caller that needs Min-Max's and Min-Sum's γ on the same rows.

        Example:
            >>> import torch
            >>> from fedlib.attacks._utils.quadratic import QuadraticDistances
            >>> x = torch.randn(6, 40, generator=torch.Generator().manual_seed(0))
            >>> mean, direction, pairwise, sums = QuadraticDistances.one_pass_both(x, "std")
            >>> torch.equal(pairwise.b, QuadraticDistances.one_pass(x, "std")[2].b)
            True
            >>> torch.equal(sums.a, QuadraticDistances.one_pass(x, "std", pairwise=False)[2].a)
            True
        """
        mean, direction, gram, norms, cross, c = _one_pass(benign, kind, pairwise=True, norms=True)
        assert gram is not None and norms is not None  # both asked for
        pairwise = cls(gram.diagonal().clone(), -cross, c, distances_from_gram(gram), gram)
        return mean, direction, pairwise, cls(norms, -cross, c, None)

    @classmethod
    def around(
        cls, benign: torch.Tensor, mean: torch.Tensor, direction: torch.Tensor, *, pairwise: bool = True
    ) -> QuadraticDistances:
        """The model for a given mean μ and direction ∇p (e.g. the exact tensors a search already uses), in one
        blocked pass: u_i = g_i − μ per block, then the Gram products (``pairwise``) or the row norms, ⟨u_i, ∇p⟩
        and ‖∇p‖², all accumulated in float64."""
        k, d = benign.shape
        gram = torch.zeros(k, k, dtype=torch.float64, device=benign.device)
        norms = torch.zeros(k, dtype=torch.float64, device=benign.device)
        cross = torch.zeros(k, dtype=torch.float64, device=benign.device)
        c = torch.zeros((), dtype=torch.float64, device=benign.device)
        for cols in column_blocks(d):
            centred = benign[:, cols] - mean[cols]
            step = direction[cols]
            if pairwise:
                gram += (centred @ centred.T).to(torch.float64)
            else:
                norms += (centred * centred).sum(dim=1).to(torch.float64)
            cross += (centred @ step).to(torch.float64)
            c += (step @ step).to(torch.float64)
        if not pairwise:
            return cls(norms, -cross, float(c), None)
        return cls(gram.diagonal().clone(), -cross, float(c), distances_from_gram(gram), gram)

    @property
    def k(self) -> int:
        return self.a.shape[0]

    def sums_to_benign(self) -> torch.Tensor:
        r"""(k,) sums :math:`\sum_j \lVert g_i - g_j\rVert^2` over the benign rows, without the pairwise
        matrix: with :math:`u_i = g_i - \mu` and :math:`\sum_j u_j = 0` they equal
        :math:`k\,a_i + \sum_j a_j`."""
        return self.k * self.a + self.a.sum()

    def to_malicious(self, gamma: float) -> torch.Tensor:
        """(k,) squared distances from μ + γ∇p to every benign row."""
        return (self.a + 2.0 * gamma * self.b + gamma * gamma * self.c).clamp_min(0.0)

    def matrix(self, gamma: float, n_copies: int) -> torch.Tensor:
        """(n_copies + k)² squared distances of [n_copies identical malicious copies; benign rows]."""
        if self.benign_sq is None:
            raise InputError("matrix() needs the benign distances: build the model with pairwise=True.")
        q = self.to_malicious(gamma)
        n = n_copies + self.k
        out = torch.zeros(n, n, dtype=torch.float64, device=self.a.device)
        out[n_copies:, n_copies:] = self.benign_sq
        out[:n_copies, n_copies:] = q
        out[n_copies:, :n_copies] = q[:, None]
        return out


def _one_pass(benign: torch.Tensor, kind: str, *, pairwise: bool, norms: bool):
    """:meth:`QuadraticDistances.one_pass`'s blocked pass: (μ, ∇p, the centred Gram or None, the centred rows'
    squared norms or None, ⟨u_i, ∇p⟩, ‖∇p‖²), all sums accumulated in float64."""
    check_choice(kind, KINDS, "perturbation")
    k, d = benign.shape
    if kind == "std" and k < 2:
        raise InputError(f"perturbation 'std' needs at least 2 benign rows for an unbiased std; found {k}.")
    mean = torch.empty(d, dtype=benign.dtype, device=benign.device)
    direction = torch.empty(d, dtype=benign.dtype, device=benign.device)
    gram = torch.zeros(k, k, dtype=torch.float64, device=benign.device) if pairwise else None
    sq_norms = torch.zeros(k, dtype=torch.float64, device=benign.device) if norms else None
    cross = torch.zeros(k, dtype=torch.float64, device=benign.device)
    c = torch.zeros((), dtype=torch.float64, device=benign.device)
    for cols in column_blocks(d):
        block = benign[:, cols]
        mu = block.mean(dim=0)
        centred = block - mu
        squares = centred * centred if (kind == "std" or norms) else None
        if kind == "std":  # the same operations as column_std: −σ, unbiased
            assert squares is not None  # computed above for kind == "std"
            step = -(squares.sum(dim=0) / (k - 1)).sqrt()
        elif kind == "sign":
            step = -torch.sign(mu)
        else:  # unit_vec: −μ for now, divided by ‖μ‖ once the whole mean is known
            step = -mu
        mean[cols], direction[cols] = mu, step
        if gram is not None:
            gram += (centred @ centred.T).to(torch.float64)
        if sq_norms is not None:
            assert squares is not None  # computed above when norms are wanted
            sq_norms += squares.sum(dim=1).to(torch.float64)
        cross += (centred @ step).to(torch.float64)
        c += (step @ step).to(torch.float64)
    if kind == "unit_vec":
        norm = torch.linalg.vector_norm(mean)
        if not norm > 0:
            raise InputError("perturbation 'unit_vec' is undefined: the benign mean is the zero vector.")
        direction /= norm
        cross /= norm.double()
        c /= norm.double() ** 2
    return mean, direction, gram, sq_norms, cross, float(c)


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
