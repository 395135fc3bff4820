r"""Halving probes of the adaptive tailored attack on DnC, decided without most of DnC's SVDs.

A probe asks whether every malicious copy survives the adversary's simulation of DnC (``fedlib.aggregators.dnc``
with the adversary's seed, the same at every probe): in each of the ``n_iters`` iterations the rows with the
``n_remove`` largest scores :math:`s_i = ((x_i-\mu)\cdot \hat v)^2` are dropped, :math:`\hat v` being the top
right singular vector that ``torch.linalg.svd`` returns for the centred (n, b) sample. That SVD (~70 ms at
n = 100, b = 10,000 on one CPU thread) is nearly all of a probe's cost.

Here each iteration is first decided from the n×n Gram matrix :math:`G = X_c X_c^\top` in float64:
:math:`p_i = \sqrt{\lambda_1}\,|u_{1,i}| = |x_i \cdot v_1|` (exact singular vector :math:`v_1`; ~10 ms),
with a bound :math:`\delta_i` on how far the rule's float32 projection :math:`|\mathrm{fl}(x_i\cdot\hat v)|` can
be from :math:`p_i`:

.. math::
    \delta_i = \|x_i\|\,\big(2\theta_{svd} + 1.01\, b\,\varepsilon\big)
        + \sigma_1\big(2\theta_{64} + 4n\varepsilon_{64}\big),\qquad
    \theta_{svd} = K\varepsilon\,\frac{\sigma_1}{\sigma_1-\sigma_2},\qquad
    \theta_{64} = 4(b+n)\,\varepsilon_{64}\,\frac{\|X_c\|_F^2}{\lambda_1-\lambda_2}

* :math:`b\varepsilon\|x_i\|` bounds the rounding of the dot product in any summation order (ε of the input
  dtype); squaring keeps the order of values that differ by more than it;
* :math:`\theta_{svd}` bounds the angle between :math:`\hat v` and :math:`v_1`: LAPACK's error bound for a
  computed singular vector is :math:`p(m,n)\,\varepsilon\|X_c\|/\mathrm{gap}`, with p "a modestly growing
  function" (its own estimates take p = 1); we take :math:`K` = :data:`SVD_SAFETY` · max(n, b);
* :math:`\theta_{64}` does the same for the float64 Gram matrix and its eigenvector.

Row j is then *surely above* row i when :math:`p_j - \delta_j > p_i + \delta_i`. An iteration surely keeps
every copy when at least ``n_remove`` benign rows are surely above the copies, and surely drops one when fewer
than ``n_remove`` benign rows can be above them (the identical copies have one p; their order among themselves
never matters). An iteration that is neither is decided by the rule's own step on the same centred floats
(``kept_after_scoring`` in ``fedlib.aggregators._dnc``), and a probe whose copy vector is not finite, or whose
surviving set might be empty, is handed to the rule itself (which raises as before). So every decision is the
one the rule takes; the probes close to a halving boundary need the SVD of the iterations that decide them.

Measured at the ``scale`` size (80 benign Fashion-MNIST gradients of 3 rounds, d = 79,510, b = 10,000, 30
samples at γ from 0 to 10): the rule's float32 projections differed from :math:`p_i` by at most 2.2e-6·‖x_i‖,
while :math:`\delta_i` ≥ 3.8e-3·‖x_i‖ (largest deviation / δ: 5.6e-4). A round of the tailored attack ran
21–26 of its 100 SVDs (full knowledge) and its γ search took 3.4 s instead of 9.3 s, with the same γ.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..._checks import all_finite
from ...aggregators._dnc import centred_rows, kept_after_scoring, sampled_coordinates
from ...errors import InputError
from .common import malicious_vector

SVD_SAFETY = 1.0  # K = SVD_SAFETY · max(n, b): LAPACK's p(m, n) taken as large as the matrix's longer side
KEPT, DROPPED, UNSURE = 1, 0, -1
EPS64 = torch.finfo(torch.float64).eps


def certified_projections(centred: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    r"""(p, δ): the float64 projections :math:`p_i = |x_i\cdot v_1|` of the rows of ``centred`` (n, b) on its
    top right singular vector and the bound δ on the rule's float rounding (module docstring); None when the
    top singular value is not simple (no bound).

    Example:
        >>> import torch
        >>> x = torch.tensor([[3.0, 0.0], [-3.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
        >>> p, delta = certified_projections(x)
        >>> [round(v, 6) for v in p.tolist()], bool((delta < 1e-3).all())
        ([3.0, 3.0, 0.0, 0.0], True)
    """
    n, b = centred.shape
    if n < 2:
        return None
    rows = centred.double()
    gram = rows @ rows.T
    eigenvalues, eigenvectors = torch.linalg.eigh(gram)
    top, second = float(eigenvalues[-1]), max(float(eigenvalues[-2]), 0.0)
    if not top > second:
        return None
    sigma1, sigma2 = math.sqrt(top), math.sqrt(second)
    eps = torch.finfo(centred.dtype).eps
    theta_svd = SVD_SAFETY * max(n, b) * eps * sigma1 / (sigma1 - sigma2)
    theta_64 = 4 * (b + n) * EPS64 * float(gram.trace()) / (top - second)
    norms = torch.linalg.vector_norm(rows, dim=1)
    # the rule's |x_i·v̂| is within ‖x_i‖(2θ_svd + 1.01bε) of |x_i·v1|; our σ1|u1,i| within σ1(2θ_64 + ...)
    delta = norms * (2 * theta_svd + 1.01 * b * eps) + sigma1 * (2 * theta_64 + 4 * n * EPS64)
    return sigma1 * eigenvectors[:, -1].abs(), delta


def iteration_verdict(p: torch.Tensor, delta: torch.Tensor, n_copies: int, n_remove: int) -> int:
    """KEPT when this iteration surely keeps every copy (rows [0, n_copies)), DROPPED when it surely drops one,
    UNSURE otherwise; p and δ from :func:`certified_projections`."""
    low, high = p - delta, p + delta
    # the copies share one exact projection; their float64 estimates may differ in the last bits
    copy_low, copy_high = float(low[:n_copies].min()), float(high[:n_copies].max())
    benign_low, benign_high = low[n_copies:], high[n_copies:]
    if int((benign_low > copy_high).sum()) >= n_remove:
        return KEPT
    if int((benign_high >= copy_low).sum()) < n_remove:
        return DROPPED
    return UNSURE


def surely_kept(p: torch.Tensor, delta: torch.Tensor, n_remove: int) -> torch.Tensor:
    """Rows that this iteration keeps whatever the rounding: at least ``n_remove`` rows surely above them."""
    above = (p - delta).unsqueeze(1) > (p + delta).unsqueeze(0)  # above[j, i]: row j surely above row i
    return above.sum(dim=0) >= n_remove


class DncSurvivalProbe:
    """``γ ↦ every copy survives the simulated DnC`` (intersection of the kept sets, exact SVD scores), for the
    identical copies ``μ + γ·direction`` stacked before ``benign``; ``on_matrix(γ)`` runs the rule itself.

    The coordinates of every iteration are drawn once, from a generator seeded with ``seed`` on ``device`` in
    the rule's order, and the benign part of every sample is cut once. Counts ``exact_iterations`` (SVDs run)
    and ``matrix_probes`` (probes handed to the rule).
    """

    def __init__(
        self,
        benign: torch.Tensor,
        mean: torch.Tensor,
        direction: torch.Tensor,
        *,
        n_copies: int,
        n_remove: int,
        n_iters: int,
        subsample_dim: int,
        seed: int,
        device: torch.device,
        on_matrix: Callable[[float], bool],
    ):
        self.mean, self.direction, self.n_copies, self.n_remove = mean, direction, n_copies, n_remove
        self.on_matrix = on_matrix
        generator = torch.Generator(device=device).manual_seed(seed)
        d = benign.shape[1]
        self.coords = [sampled_coordinates(d, subsample_dim, generator, benign.device) for _ in range(n_iters)]
        self.benign_samples = [benign if c is None else benign.index_select(1, c) for c in self.coords]
        self.exact_iterations = 0
        self.matrix_probes = 0

    def _centred(self, vector: torch.Tensor, t: int) -> torch.Tensor:
        coords = self.coords[t]
        copies = vector if coords is None else vector.index_select(0, coords)
        sub = torch.cat([copies.unsqueeze(0).expand(self.n_copies, -1), self.benign_samples[t]], dim=0)
        return centred_rows(sub)  # the floats the rule centres (index_select of the stacked rows)

    def __call__(self, gamma: float) -> bool:
        vector = malicious_vector(self.mean, gamma, self.direction)
        if not all_finite(vector):
            return self._on_matrix(gamma)  # the rule raises its own error
        try:
            centred = [self._centred(vector, t) for t in range(len(self.coords))]
        except InputError:  # centring overflowed: the rule raises it
            return self._on_matrix(gamma)
        return self._decide(gamma, centred)

    def _decide(self, gamma: float, centred: list[torch.Tensor]) -> bool:
        verdicts, kept = [], []
        for sample in centred:
            bounds = certified_projections(sample)
            if bounds is None:
                verdicts.append(UNSURE)
                kept.append(torch.zeros(sample.shape[0], dtype=torch.bool))
                continue
            verdicts.append(iteration_verdict(*bounds, self.n_copies, self.n_remove))
            kept.append(surely_kept(*bounds, self.n_remove).cpu())
        if DROPPED not in verdicts:  # every copy must survive every iteration: settle the unsure ones
            for t, verdict in enumerate(verdicts):
                if verdict == UNSURE:
                    kept[t] = self._exact_kept(centred[t])
                    verdicts[t] = KEPT if bool(kept[t][: self.n_copies].all()) else DROPPED
                    if verdicts[t] == DROPPED:
                        break
            if DROPPED not in verdicts:
                return True
        if self._surely_not_empty(kept):
            return False
        for t, verdict in enumerate(verdicts):  # could the rule have filtered out every row? settle them all
            if verdict == UNSURE:
                kept[t], verdicts[t] = self._exact_kept(centred[t]), KEPT
        return False if self._surely_not_empty(kept) else self._on_matrix(gamma)

    def _exact_kept(self, sample: torch.Tensor) -> torch.Tensor:
        self.exact_iterations += 1
        mask = torch.zeros(sample.shape[0], dtype=torch.bool)
        mask[kept_after_scoring(sample, self.n_remove).cpu()] = True
        return mask

    @staticmethod
    def _surely_not_empty(kept: list[torch.Tensor]) -> bool:
        return bool(torch.stack(kept).all(dim=0).any())  # some row in every iteration's kept set

    def _on_matrix(self, gamma: float) -> bool:
        self.matrix_probes += 1
        return bool(self.on_matrix(gamma))
