r"""Halving probes of the tailored Krum / Multi-krum / Bulyan attacks decided on the (n, n) distance model.

A probe asks whether the rule selects the malicious copies (Krum textbook: the first pick is a copy; Multi-krum,
Bulyan and the ndss21 Krum test: every copy is among the picks). Every distance involving the copies is
a_i + 2γb_i + γ²c and copy-copy distances are 0 (:class:`~fedlib.attacks._utils.quadratic.QuadraticDistances`), so the
selection is run on the (n, n) float64 matrix built for each γ, never on the (n, d) rows.

Certification (:mod:`.probe_tolerance`): at every step of the iterative selection that the decision depends on,
the winner's Krum score must beat every competing score by more than ``PROBE_RTOL`` relative; identical copies
tie exactly in both computations and are not competitors of each other. Textbook Krum's single pick only
compares copies with benign rows. When a step is too close to call, :class:`KrumFamilyProbe` evaluates the probe
on the (n, d) matrix as before (``matrix_probes``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..._checks import check_choice
from ..._compiled import numba
from ..._krum_kernel import krum_step, neighbours_summed, sorted_rows
from ...vocabulary import VARIANTS
from .probe_tolerance import PROBE_RTOL

ACCEPT, REJECT, UNSURE = 1, 0, -1


@numba.njit(cache=True)
def _certified_selection(values, order, f, n_select, ndss21, n_copies, first_only, rtol):
    """Iterative Krum as ``fedlib.aggregators.krum_selection`` (the same compiled steps, :mod:`fedlib._krum_kernel`)
    on rows pre-sorted once; returns ACCEPT / REJECT, or UNSURE when a deciding step is a near tie."""
    n = values.shape[0]
    removed = np.zeros(n, dtype=np.bool_)
    scores = np.empty(n)
    picked = 0
    count = 0
    for _ in range(n_select):
        need = neighbours_summed(n - count, f, ndss21)
        if need < 0:
            break
        best = krum_step(values, order, removed, need, scores)
        best_score = scores[best]
        best_is_copy = best < n_copies
        for i in range(n):
            if removed[i] or i == best:
                continue
            if best_is_copy and i < n_copies:
                continue  # identical copies: an exact tie in every computation, lowest index wins
            if first_only and not best_is_copy and i >= n_copies:
                continue  # Krum's single pick: which benign row wins does not change the decision
            if scores[i] - best_score <= rtol * max(abs(scores[i]), abs(best_score)):
                return -1
        if first_only:
            return 1 if best_is_copy else 0
        removed[best] = True
        count += 1
        if best_is_copy:
            picked += 1
            if picked == n_copies:
                return 1
        if n_select - count < n_copies - picked:
            return 0
    return 1 if picked == n_copies else 0


def certified_selection(
    dist: torch.Tensor, f: int, n_select: int, *, variant: str, n_copies: int, first_only: bool
) -> int:
    """ACCEPT (1), REJECT (0) or UNSURE (-1) for the copies [0, n_copies) of the (n, n) matrix ``dist``.

    Example:
        >>> import torch
        >>> from fedlib.aggregators import pairwise_sq_distances
        >>> from fedlib.aggregators import krum_selection
        >>> from fedlib.attacks._utils.krum_probe import certified_selection
        >>> x = torch.tensor([[0.5], [0.5], [0.1], [1.3], [1.9], [2.9], [40.0]], dtype=torch.float64)
        >>> krum_selection(pairwise_sq_distances(x), 1, 3)  # both copies (rows 0, 1) among 3 picks
        tensor([0, 3, 1])
        >>> certified_selection(pairwise_sq_distances(x), 1, 3, variant="textbook", n_copies=2, first_only=False)
        1
        >>> certified_selection(pairwise_sq_distances(x), 1, 2, variant="textbook", n_copies=2, first_only=False)
        0
    """
    check_choice(variant, VARIANTS, "variant")
    values, order = sorted_rows(dist)
    return int(_certified_selection(values, order, f, n_select, variant == "ndss21", n_copies, first_only, PROBE_RTOL))


class KrumFamilyProbe:
    """The halving test ``γ ↦ copies selected`` of one round, from the model; the (n, d) evaluation
    ``on_matrix(γ)`` (the pre-model probe) only for steps too close to call. Counts both kinds of probe."""

    def __init__(
        self,
        model,
        *,
        f: int,
        n_select: int,
        variant: str,
        n_copies: int,
        first_only: bool,
        on_matrix: Callable[[float], bool],
    ):
        self.model, self.f, self.n_select, self.variant = model, f, n_select, variant
        self.n_copies, self.first_only, self.on_matrix = n_copies, first_only, on_matrix
        self.model_probes = 0
        self.matrix_probes = 0

    def __call__(self, gamma: float) -> bool:
        verdict = certified_selection(
            self.model.matrix(gamma, self.n_copies),
            self.f,
            self.n_select,
            variant=self.variant,
            n_copies=self.n_copies,
            first_only=self.first_only,
        )
        if verdict == UNSURE:
            self.matrix_probes += 1
            return bool(self.on_matrix(gamma))
        self.model_probes += 1
        return verdict == ACCEPT
