"""BASELINES ONLY: naive per-row-loop versions of the aggregation rules, for speed comparison.

These are *not* part of fedlib and are never used by it. They are the straightforward code one writes
first (and the shape of the authors' released notebooks): pairwise distances from a Python loop over rows,
``torch.norm(x - x[i], dim=1) ** 2`` (an (n, d) temporary per row), Krum scores and selections with Python
loops, and coordinate-wise rules through a full sort of the whole (n, d) matrix. They compute the same
aggregate as fedlib's ``variant="textbook"`` rules (``run.py`` checks that on every benchmark input and
records it as ``agrees_with_fedlib``), so the timings compare equal work done two ways.

Every function has the signature ``naive_<rule>(x, f, **options) -> vector (d,)``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def loop_sq_distances(x: torch.Tensor) -> torch.Tensor:
    """(n, n) squared distances, one row at a time: n passes over the whole (n, d) matrix."""
    rows = [torch.norm(x - x[i], dim=1) ** 2 for i in range(x.shape[0])]
    return torch.stack(rows)


def loop_krum_scores(dist: torch.Tensor, f: int, remaining: list[int]) -> list[float]:
    """Textbook Krum score of each remaining row: sum of its n-f-2 smallest distances to other remaining rows."""
    n = len(remaining)
    k = min(max(n - f - 2, 1), n - 1)
    scores = []
    for i in remaining:
        others = sorted(float(dist[i, j]) for j in remaining if j != i)
        scores.append(sum(others[:k]))
    return scores


def loop_krum_selection(dist: torch.Tensor, f: int, n_select: int) -> list[int]:
    remaining = list(range(dist.shape[0]))
    chosen: list[int] = []
    for _ in range(n_select):
        scores = loop_krum_scores(dist, f, remaining)
        best = min(range(len(remaining)), key=lambda t: (scores[t], remaining[t]))  # ties: lowest index
        chosen.append(remaining.pop(best))
    return chosen


def naive_mean(x: torch.Tensor, f: int = 0) -> torch.Tensor:
    total = torch.zeros_like(x[0])
    for row in x:
        total += row
    return total / x.shape[0]


def naive_krum(x: torch.Tensor, f: int) -> torch.Tensor:
    dist = loop_sq_distances(x)
    return x[loop_krum_selection(dist, f, 1)[0]].clone()


def naive_multi_krum(x: torch.Tensor, f: int, n_select: int | None = None) -> torch.Tensor:
    n_select = x.shape[0] - 2 * f - 2 if n_select is None else n_select
    chosen = loop_krum_selection(loop_sq_distances(x), f, n_select)
    return x[chosen].mean(dim=0)


def _sorted_median(sorted_x: torch.Tensor) -> torch.Tensor:
    m = sorted_x.shape[0]
    if m % 2:
        return sorted_x[m // 2]
    return 0.5 * sorted_x[m // 2 - 1] + 0.5 * sorted_x[m // 2]


def naive_bulyan(x: torch.Tensor, f: int) -> torch.Tensor:
    chosen = loop_krum_selection(loop_sq_distances(x), f, x.shape[0] - 2 * f)
    picked = x[chosen]
    beta = len(chosen) - 2 * f
    med = _sorted_median(torch.sort(picked, dim=0).values)
    order = torch.sort((picked - med).abs(), dim=0, stable=True).indices[:beta]
    return torch.gather(picked, 0, order).mean(dim=0)


def naive_trimmed_mean(x: torch.Tensor, f: int) -> torch.Tensor:
    sorted_x = torch.sort(x, dim=0).values
    return sorted_x[f : x.shape[0] - f].mean(dim=0)


def naive_median(x: torch.Tensor, f: int = 0) -> torch.Tensor:
    return _sorted_median(torch.sort(x, dim=0).values)


BASELINES: dict[str, Callable[..., torch.Tensor]] = {
    "mean": naive_mean,
    "krum": naive_krum,
    "multi_krum": naive_multi_krum,
    "bulyan": naive_bulyan,
    "trimmed_mean": naive_trimmed_mean,
    "median": naive_median,
}
