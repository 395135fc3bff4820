"""The compiled core of iterative Krum, shared by the rule (:func:`fedlib.aggregators.krum_selection`) and the
tailored attacks' certified probes (:mod:`fedlib.attacks._utils.krum_probe`), so both take the same decisions.

Rows of the (n, n) distance matrix are sorted once (:func:`sorted_rows`); a selection step then walks each
remaining row's sorted list and skips removed columns, so no step sorts or copies the matrix (the tailored
attacks' searches run hundreds of steps per round). Scores are summed in float64 in ascending distance order;
ties go to the lowest index.
"""

from __future__ import annotations

import numpy as np
import torch

from ._compiled import numba


def sorted_rows(dist: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """``(values, order)``: each row of ``dist`` (float64, on the host) in ascending order, and its columns."""
    host = dist.detach().to("cpu", torch.float64).numpy()  # (n, n): tiny, whatever the device
    order = np.argsort(host, axis=1, kind="stable")
    return np.take_along_axis(host, order, axis=1), order


@numba.njit(cache=True)
def neighbours_summed(n_remaining, f, ndss21):
    """How many sorted entries other than the self-distance a Krum score sums over ``n_remaining`` rows, or -1
    when the released code stops (``ndss21``: n - f - 2 <= 0). Textbook: the k = n - f - 2 nearest others
    (at least 1, at most n - 1); ndss21: the first n - f - 2 entries *including* the zero self-distance."""
    if ndss21:
        if n_remaining - f - 2 <= 0:
            return -1
        return n_remaining - f - 3
    return min(max(n_remaining - f - 2, 1), n_remaining - 1)


@numba.njit(cache=True)
def krum_step(values, order, removed, need, scores):
    """One selection step: write every remaining row's score into ``scores`` and return the winner (lowest
    score, ties to the lowest index)."""
    n = values.shape[0]
    best = -1
    best_score = np.inf
    for i in range(n):
        if removed[i]:
            continue
        left = need
        score = 0.0
        for p in range(n):
            if left == 0:
                break
            j = order[i, p]
            if removed[j] or j == i:
                continue
            score += values[i, p]
            left -= 1
        scores[i] = score
        if score < best_score or best < 0:
            best = i
            best_score = score
    return best
