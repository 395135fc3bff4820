"""Slow, obviously-correct references for the attack tests (float64, Python loops over rows/coordinates
are fine here), and the golden-vector loader of the atk_* families."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch


def golden_cases(golden_dir: Path, family: str):
    """[(case_meta, {array name: np.ndarray})] of one atk_* family, in file order."""
    meta = json.loads((golden_dir / f"{family}.json").read_text())
    arrays = np.load(golden_dir / f"{family}.npz")
    out = []
    for case in meta["cases"]:
        prefix = case["case_id"] + "__"
        out.append((case, {k[len(prefix):]: arrays[k] for k in arrays.files if k.startswith(prefix)}))
    return out


def golden_ids(golden_dir: Path, family: str) -> list[str]:
    meta = json.loads((golden_dir / f"{family}.json").read_text())
    return [c["case_id"] for c in meta["cases"]]


def gamma_search_out_atol(deviation: np.ndarray) -> float:
    """README tolerance for `out` of the γ-search families: 1e-4·max|deviation| + 1e-6."""
    return 1e-4 * float(np.abs(deviation).max()) + 1e-6


def sq_dists_to(rows: torch.Tensor, x: torch.Tensor) -> list[float]:
    """‖x − r‖² for every row, one row at a time, in float64."""
    x = x.to(torch.float64)
    return [float(((r.to(torch.float64) - x) ** 2).sum()) for r in rows]


def pairwise_sq(rows: torch.Tensor) -> list[list[float]]:
    return [sq_dists_to(rows, r) for r in rows]


def min_max_margin(benign: torch.Tensor, x: torch.Tensor) -> tuple[float, float]:
    """(max_i ‖x − g_i‖², max_{i,j} ‖g_i − g_j‖²)."""
    return max(sq_dists_to(benign, x)), max(max(row) for row in pairwise_sq(benign))


def min_sum_margin(benign: torch.Tensor, x: torch.Tensor, reference: str = "min") -> tuple[float, float]:
    """(Σ_i ‖x − g_i‖², min_j (or max_j) Σ_i ‖g_j − g_i‖²)."""
    sums = [sum(row) for row in pairwise_sq(benign)]
    return sum(sq_dists_to(benign, x)), (min(sums) if reference == "min" else max(sums))


def fang_trmean_intervals(benign: torch.Tensor, knowledge: str) -> list[tuple[float, float]]:
    """Per coordinate, the textbook interval Fang's trimmed-mean attack draws from (spec §4.6)."""
    b = 2.0
    x = benign.to(torch.float64)
    out = []
    for j in range(x.shape[1]):
        col = x[:, j]
        mean = float(col.mean())
        if knowledge == "partial":
            std = float(col.std(unbiased=True))
            out.append((mean - 4 * std, mean - 3 * std) if mean > 0 else (mean + 3 * std, mean + 4 * std))
            continue
        gmax, gmin = float(col.max()), float(col.min())
        if mean > 0:
            out.append((b * gmin, gmin) if gmin < 0 else (gmin / b, gmin))
        else:
            out.append((gmax, b * gmax) if gmax > 0 else (gmax / b, gmax))
    return out


def gaussian_cloud(seed: int, k: int, d: int, dtype=torch.float64, offset: float = 0.5) -> torch.Tensor:
    """k benign rows ~ N(offset, 1) in d dimensions from a seeded generator."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(k, d, generator=g, dtype=torch.float64).add_(offset).to(dtype)
