"""Slow, obviously-correct numpy float64 oracles for the aggregation rules (loops, no vectorization tricks).

Every function takes a 2-D numpy array (n, d) (converted to float64) and follows the textual definition
in fedlib's docstrings / spec §3 step by step. Ties are broken like the product: the lowest index
(selection-order position for Bulyan's coordinate step) wins.
"""

from __future__ import annotations

import math

import numpy as np


def _f64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def sq_dist(a, b) -> float:
    total = 0.0
    for u, v in zip(a, b, strict=True):
        total += (float(u) - float(v)) ** 2
    return total


def distance_matrix(x) -> np.ndarray:
    x = _f64(x)
    n = len(x)
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            out[i, j] = sq_dist(x[i], x[j]) if i != j else 0.0
    return out


def krum_scores(x, f: int, variant: str, dist=None) -> list[float]:
    """Textbook: sum of squared distances to the k = clamp(n-f-2, 1, n-1) nearest *other* rows.
    ndss21: sort the row including the self-distance 0, sum the first n-f-2 entries."""
    dist = distance_matrix(x) if dist is None else dist
    n = len(dist)
    scores = []
    for i in range(n):
        if variant == "ndss21":
            row = sorted(dist[i][j] for j in range(n))
            scores.append(sum(row[: max(n - f - 2, 0)]))
        else:
            others = sorted(dist[i][j] for j in range(n) if j != i)
            k = min(max(n - f - 2, 1), n - 1)
            scores.append(sum(others[:k]))
    return scores


def argmin_lowest(values) -> int:
    best = 0
    for i, v in enumerate(values):
        if v < values[best]:
            best = i
    return best


def krum_selection(x, f: int, n_select: int, variant: str) -> list[int]:
    full = distance_matrix(x)
    remaining = list(range(len(full)))
    chosen = []
    while len(chosen) < n_select:
        if variant == "ndss21" and len(remaining) - f - 2 <= 0:
            break
        sub = full[np.ix_(remaining, remaining)]
        winner = argmin_lowest(krum_scores(None, f, variant, dist=sub))
        chosen.append(remaining.pop(winner))
    return chosen


def replay_selection(x, f: int, selected, variant: str, *, rtol: float, atol: float) -> None:
    """Assert that every pick in ``selected`` has (within tolerance) the minimal oracle score on the set that
    remained at that step; also checks the ndss21 stopping point. Used for random (tie-prone in float32)
    inputs where an index comparison would test rounding rather than the algorithm."""
    full = distance_matrix(x)
    remaining = list(range(len(full)))
    for step, pick in enumerate(selected):
        pick = int(pick)
        assert pick in remaining, f"step {step}: row {pick} picked twice or unknown"
        scores = krum_scores(None, f, variant, dist=full[np.ix_(remaining, remaining)])
        best = min(scores)
        got = scores[remaining.index(pick)]
        assert got <= best + rtol * abs(best) + atol, f"step {step}: picked score {got} > best {best}"
        remaining.remove(pick)


def mean(x) -> np.ndarray:
    x = _f64(x)
    return np.array([sum(x[i][j] for i in range(len(x))) / len(x) for j in range(x.shape[1])])


def middle(values: list[float], variant: str) -> float:
    s = sorted(values)
    m = len(s)
    if variant == "ndss21" or m % 2 == 1:
        return s[(m - 1) // 2]
    return (s[m // 2 - 1] + s[m // 2]) / 2.0


def median(x, variant: str) -> np.ndarray:
    x = _f64(x)
    return np.array([middle([x[i][j] for i in range(len(x))], variant) for j in range(x.shape[1])])


def trimmed_mean(x, f: int) -> np.ndarray:
    x = _f64(x)
    n = len(x)
    out = []
    for j in range(x.shape[1]):
        kept = sorted(x[i][j] for i in range(n))[f : n - f]
        out.append(sum(kept) / len(kept) if kept else math.nan)
    return np.array(out)


def multi_krum(x, f: int, variant: str, n_select=None):
    n = len(x)
    n_select = n - 2 * f - 2 if n_select is None else n_select
    chosen = krum_selection(x, f, n_select, variant)
    return mean(_f64(x)[chosen]), chosen


def bulyan_coordinate_step(rows, beta: int, variant: str) -> np.ndarray:
    rows = _f64(rows)
    out = []
    for j in range(rows.shape[1]):
        col = [rows[i][j] for i in range(len(rows))]
        med = middle(col, variant)
        order = sorted(range(len(col)), key=lambda i: abs(col[i] - med))  # Python's sort is stable
        out.append(sum(col[i] for i in order[:beta]) / beta)
    return np.array(out)


def bulyan(x, f: int, variant: str):
    chosen = krum_selection(x, f, len(x) - 2 * f, variant)
    beta = len(chosen) - 2 * f
    return bulyan_coordinate_step(_f64(x)[chosen], beta, variant), chosen


def krum(x, f: int, variant: str):
    chosen = krum_selection(x, f, 1, variant)
    return _f64(x)[chosen[0]].copy(), chosen


def afa(x, xi: float = 2.0, xi_step: float = 0.5, weights=None):
    """Muñoz-González et al. Algorithm 1 (no reputation): returns (vector, survivors ascending, margin), where
    margin is the smallest gap between a similarity and its threshold (or between mean and median)."""
    x = _f64(x)
    n, d = x.shape
    w = [1.0] * n if weights is None else [float(v) for v in weights]
    good = list(range(n))

    def wmean(rows):
        total = sum(w[i] for i in rows)
        return [sum(w[i] * x[i][j] for i in rows) / total for j in range(d)]

    slack = xi
    margin = math.inf
    while len(good) > 1:
        ref = wmean(good)
        ref_norm = math.sqrt(sum(v * v for v in ref))
        sims = []
        for i in good:
            dot = sum(x[i][j] * ref[j] for j in range(d))
            norm = math.sqrt(sum(v * v for v in x[i])) * ref_norm
            sims.append(dot / max(norm, np.finfo(np.float64).tiny))
        mu = sum(sims) / len(sims)
        med = sorted(sims)[(len(sims) - 1) // 2]
        sigma = math.sqrt(sum((s - mu) ** 2 for s in sims) / (len(sims) - 1))
        if mu < med:
            bad = [i for i, s in zip(good, sims, strict=True) if s < med - slack * sigma]
        else:
            bad = [i for i, s in zip(good, sims, strict=True) if s > med + slack * sigma]
        threshold = med - slack * sigma if mu < med else med + slack * sigma
        margin = min([margin, abs(mu - med)] + [abs(s - threshold) for s in sims])
        slack += xi_step
        if not bad:
            break
        good = [i for i in good if i not in bad]
    return np.array(wmean(good)), good, margin


def dnc(x, f: int, coordinate_sets, filter_frac: float = 1.0, combine: str = "intersection"):
    """DnC on given coordinate subsets (one list per iteration), numpy SVD for the top direction. Returns
    (vector, survivors ascending, smallest score gap at the removal cut-off)."""
    x = _f64(x)
    n = len(x)
    n_remove = math.floor(filter_frac * f)
    keep = set(range(n)) if combine == "intersection" else set()
    gaps = []
    for coords in coordinate_sets:
        sub = x[:, list(coords)]
        mu = [sum(sub[i][j] for i in range(n)) / n for j in range(sub.shape[1])]
        centred = np.array([[sub[i][j] - mu[j] for j in range(sub.shape[1])] for i in range(n)])
        v = np.linalg.svd(centred, full_matrices=False)[2][0]
        scores = [sum(centred[i][j] * v[j] for j in range(len(v))) ** 2 for i in range(n)]
        order = sorted(range(n), key=lambda i: -scores[i])  # stable: lowest index first on ties
        if 0 < n_remove < n:
            gaps.append(scores[order[n_remove - 1]] - scores[order[n_remove]])
        good = set(order[n_remove:])
        keep = keep & good if combine == "intersection" else keep | good
    chosen = sorted(keep)
    vector = mean(x[chosen]) if chosen else None  # nothing survived: the product must raise
    return vector, chosen, min(gaps, default=math.inf)


def fang(x, f: int, score_fn, base_fn, rule: str):
    """Leave-one-out loss/error reductions with ``base_fn(rows, f) -> vector``; returns (vector, survivors,
    gap between the f-th and (f+1)-th largest reduction)."""
    x = _f64(x)
    n = len(x)
    loss_all, err_all = score_fn(base_fn(x, f))
    lrr, err = [], []
    for i in range(n):
        rows = np.array([x[k] for k in range(n) if k != i])
        loss_i, err_i = score_fn(base_fn(rows, f))
        lrr.append(loss_all - loss_i)
        err.append(err_all - err_i)
    def cut_gap(values):
        ordered = sorted(values, reverse=True)
        return ordered[f - 1] - ordered[f] if 0 < f < n else math.inf

    gap = min(cut_gap(lrr), cut_gap(err))
    removed = set()
    if rule in ("lrr", "union"):
        removed |= set(sorted(range(n), key=lambda i: -lrr[i])[:f])
    if rule in ("err", "union"):
        removed |= set(sorted(range(n), key=lambda i: -err[i])[:f])
    survivors = [i for i in range(n) if i not in removed]
    return base_fn(x[survivors], f), survivors, gap
