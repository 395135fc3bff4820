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

The Gram matrix of a probe is assembled from float64 inner products of each iteration's benign sample,
computed once per round (:class:`_IterationGram`): the exactly centred rows, whose distance to the rule's float
rows (the copy's rounding, the column mean's, the subtraction's) is added to δ. A probe then costs five n×n
eigen-decompositions, and cuts and centres the rule's sample only for an iteration it settles with the SVD —
the iteration likeliest to drop a copy first, since one drop ends the probe.

Measured at the ``scale`` size (80 benign Fashion-MNIST gradients of 3 rounds, d = 79,510, b = 10,000, 30
samples at γ from 0 to 10): the rule's float32 projections differed from :math:`p_i` by at most 2.2e-6·‖x_i‖,
while :math:`\delta_i` ≥ 3.8e-3·‖x_i‖ (largest deviation / δ: 5.6e-4). On three captured rounds of the tailored
attack the search ran 17–20 of its 100 iterations' SVDs (21–26 when the unsure iterations were settled in
index order, each probe centring all five samples) and took 1.3–1.8 s of CPU instead of 2.8–3.4 s, with the same γ;
the SVDs are now most of its cost.
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
        >>> from fedlib.attacks._utils.dnc_probe import certified_projections
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
    norms = torch.linalg.vector_norm(rows, dim=1)
    return _certify(gram, norms, b, torch.finfo(centred.dtype).eps, float(gram.trace()))


def _certify(
    gram: torch.Tensor, norms: torch.Tensor, b: int, eps: float, trace: float, spread: tuple | None = None
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(p, δ) from the float64 Gram matrix of the centred rows (``norms``: their norms; ``trace``: bounds the
    size of the Gram entries' float64 rounding). ``spread`` = (‖E‖_F, (‖E_i‖)_i) when the rows of ``gram`` are
    not the rule's float rows but within E of them (:class:`_IterationGram`); None: they are."""
    n = gram.shape[0]
    eigenvalues, eigenvectors = torch.linalg.eigh(gram)
    top, second = float(eigenvalues[-1]), max(float(eigenvalues[-2]), 0.0)
    if not top > second:
        return None
    sigma1, sigma2 = math.sqrt(top), math.sqrt(second)
    frobenius, row_spread = (0.0, torch.zeros_like(norms)) if spread is None else spread
    gap = sigma1 - sigma2 - 2 * frobenius  # Weyl: the rule's σ1 − σ2 is at least this
    if not gap > 0:
        return None
    high = sigma1 + frobenius
    theta_svd = SVD_SAFETY * max(n, b) * eps * high / gap
    theta_64 = 4 * (b + n) * EPS64 * trace / (top - second)
    # the rule's |x_i·v̂| is within ‖x_i‖(2θ_svd + 1.01bε) of |x_i·v1|; our σ1|u1,i| within σ1(2θ_64 + ...);
    # rows within E of the rule's: a row moves by ‖E_i‖, v1 by at most 2‖E‖/gap (Wedin)
    delta = (norms + row_spread) * (2 * theta_svd + 1.01 * b * eps) + high * (2 * theta_64 + 4 * n * EPS64)
    if spread is not None:
        delta = delta + row_spread + norms * (2 * frobenius / gap)
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


class _IterationGram:
    r"""One iteration's centred Gram matrix at any γ, from float64 numbers of its benign sample computed once.

    With the benign sample's float64 mean m̄, shifted rows b̃_i = g_i − m̄, the copy c = μ + γ∇p shifted to
    c̃ = c − m̄ and α = n_copies / n, the exactly centred rows are (1 − α)c̃ (copies) and b̃_i − αc̃, so

    .. math::
        G = \begin{pmatrix} (1-\alpha)^2 \lVert\tilde c\rVert^2 & (1-\alpha)(h - \alpha\lVert\tilde c\rVert^2)^\top \\
            \cdot & \tilde B\tilde B^\top - \alpha(h\mathbf 1^\top + \mathbf 1 h^\top)
            + \alpha^2\lVert\tilde c\rVert^2 \end{pmatrix},\qquad h = \tilde B\tilde c,

    where h and ‖c̃‖² are affine and quadratic in γ: O(n²) per probe instead of an (n, b) product. These are
    the exact rows; the rule's float32 centred rows differ from them by E — the copy's rounding
    (‖Δc‖ ≤ 1.01ε(‖μ‖ + 2|γ|‖∇p‖), γ and γ∇p rounded), the column mean's rounding in any summation order
    (‖Δm‖ ≤ ε(n + 1)/n·Σ_i‖row_i‖) and the subtraction's (ε‖x_i‖) — which :func:`_certify` adds to δ.
    """

    def __init__(self, sample: torch.Tensor, mean: torch.Tensor, direction: torch.Tensor, n_copies: int):
        x = sample.double()
        centre = x.mean(dim=0)
        shifted = x - centre
        offset, step = mean.double() - centre, direction.double()
        self.gram, self.h0, self.h1 = shifted @ shifted.T, shifted @ offset, shifted @ step
        self.c00, self.c01, self.c11 = float(offset @ offset), float(offset @ step), float(step @ step)
        self.row_norms = float(torch.linalg.vector_norm(x, dim=1).sum())  # uncentred: the mean's rounding
        self.mean_norm, self.step_norm = float(torch.linalg.vector_norm(mean.double())), math.sqrt(self.c11)
        self.n_copies, self.b, self.eps = n_copies, sample.shape[1], torch.finfo(sample.dtype).eps

    def certified(self, gamma: float) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(p, δ) of :func:`certified_projections` for the rule's centred sample at γ, without forming it."""
        c, k = self.n_copies, self.gram.shape[0]
        n, alpha = c + k, self.n_copies / (self.n_copies + k)
        h = self.h0 + gamma * self.h1
        cc = self.c00 + 2.0 * gamma * self.c01 + gamma * gamma * self.c11
        gram = torch.empty(n, n, dtype=torch.float64, device=self.gram.device)
        gram[:c, :c] = (1.0 - alpha) ** 2 * cc
        cross = (1.0 - alpha) * (h - alpha * cc)
        gram[:c, c:], gram[c:, :c] = cross, cross.unsqueeze(1)
        gram[c:, c:] = self.gram - alpha * (h.unsqueeze(0) + h.unsqueeze(1)) + alpha * alpha * cc
        norms = gram.diagonal().clamp_min(0.0).sqrt()
        copy_error = 1.01 * self.eps * (self.mean_norm + 2.0 * abs(gamma) * self.step_norm)
        copy_norm = self.mean_norm + abs(gamma) * self.step_norm + copy_error
        mean_error = self.eps * (n + 1) / n * (c * copy_norm + self.row_norms)
        row_spread = 2.0 * copy_error + mean_error + 1.01 * self.eps * norms
        frobenius = math.sqrt(c) * copy_error + math.sqrt(n) * mean_error + 1.01 * self.eps * float(norms.norm())
        trace = 2.0 * (float(self.gram.trace()) + n * cc)  # bounds the float64 entries' size
        return _certify(gram, norms, self.b, self.eps, trace, (frobenius, row_spread))


class DncSurvivalProbe:
    """``γ ↦ every copy survives the simulated DnC`` (intersection of the kept sets, exact SVD scores), for the
    identical copies ``μ + γ·direction`` stacked before ``benign``; ``on_matrix(γ)`` runs the rule itself.

    The coordinates of every iteration are drawn once, from a generator seeded with ``seed`` on ``device`` in
    the rule's order, the benign part of every sample is cut once and its float64 inner products are computed
    once (:class:`_IterationGram`): a probe decides each iteration from an n×n matrix, and cuts and centres
    the rule's float sample only for the iterations whose SVD it needs, the likeliest to drop a copy first.
    Counts ``exact_iterations`` (SVDs run) and ``matrix_probes`` (probes handed to the rule).
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
        self.grams = [
            _IterationGram(sample, mean if c is None else mean[c], direction if c is None else direction[c], n_copies)
            for sample, c in zip(self.benign_samples, self.coords, strict=True)
        ]
        # values below this cannot overflow the rule's centring (a mean and a difference of two of them)
        self.safe = torch.finfo(benign.dtype).max / 4
        self.benign_max = float(benign.abs().max()) if benign.numel() else 0.0
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
        if max(float(vector.abs().max()), self.benign_max) >= self.safe:
            try:  # the rule's centring may overflow: it raises then
                for t in range(len(self.coords)):
                    self._centred(vector, t)
            except InputError:
                return self._on_matrix(gamma)
        return self._decide(gamma, vector)

    def _decide(self, gamma: float, vector: torch.Tensor) -> bool:
        verdicts, kept, lean = [], [], []
        for model in self.grams:
            bounds = model.certified(gamma)
            n = model.gram.shape[0] + self.n_copies
            if bounds is None:
                verdicts.append(UNSURE)
                kept.append(torch.zeros(n, dtype=torch.bool))
                lean.append(0.0)
                continue
            verdicts.append(iteration_verdict(*bounds, self.n_copies, self.n_remove))
            kept.append(surely_kept(*bounds, self.n_remove).cpu())
            lean.append(_drop_lean(*bounds, self.n_copies, self.n_remove))
        if DROPPED not in verdicts:  # every copy must survive every iteration: settle the unsure ones
            for t in sorted((t for t, v in enumerate(verdicts) if v == UNSURE), key=lambda t: -lean[t]):
                kept[t] = self._exact_kept(self._centred(vector, t))
                verdicts[t] = KEPT if bool(kept[t][: self.n_copies].all()) else DROPPED
                if verdicts[t] == DROPPED:
                    break
            if DROPPED not in verdicts:
                return True
        if self._surely_not_empty(kept):
            return False
        for t, verdict in enumerate(verdicts):  # could the rule have filtered out every row? settle them all
            if verdict == UNSURE:
                kept[t], verdicts[t] = self._exact_kept(self._centred(vector, t)), KEPT
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


def _drop_lean(p: torch.Tensor, delta: torch.Tensor, n_copies: int, n_remove: int) -> float:
    """How far (in bound widths) the copies' projection lies above the n_remove-th largest benign one: the
    order in which a probe settles its unsure iterations (an iteration that drops a copy ends the probe)."""
    benign = p[n_copies:]
    if n_remove < 1 or n_remove > benign.numel():
        return 0.0
    rank = int(torch.topk(benign, n_remove).indices[-1]) + n_copies
    return float((p[0] - p[rank]) / (delta[0] + delta[rank]).clamp_min(1e-300))
