"""Small two-dimensional examples for the teaching chapters (tiny, seeded, CPU-only)."""

from __future__ import annotations

from typing import Sequence

import pandas as pd
import torch

from .. import aggregators


def point_cloud(
    n_benign: int = 16,
    n_malicious: int = 4,
    *,
    shift: Sequence[float] = (6.0, 6.0),
    spread: float = 0.5,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """A 2-D cloud: ``n_malicious`` rows first, placed around ``shift``, then Gaussian benign rows.

    The benign rows are N((1, 1), I); the malicious rows are N(shift, spread²·I), so the attackers form
    a tight cluster that pulls the mean away from the honest points.

    Example:
        >>> x = point_cloud(8, 2, seed=1)
        >>> tuple(x.shape)
        (10, 2)
    """
    g = torch.Generator().manual_seed(seed)
    benign = torch.randn(n_benign, 2, generator=g, dtype=dtype) + 1.0
    centre = torch.tensor(shift, dtype=dtype)
    malicious = centre + spread * torch.randn(n_malicious, 2, generator=g, dtype=dtype)
    return torch.cat([malicious, benign])


def aggregate_all(
    points: torch.Tensor, f: int, rules: Sequence[str] | None = None, *, variant: str = "textbook", seed: int = 0
) -> pd.DataFrame:
    """Run every rule on ``points`` (rows = clients) and tabulate each output and what it selected.

    Rules that need a model to score updates (``fang``) are skipped by default because a point cloud has
    no model; pass ``rules`` explicitly to choose.
    """
    rules = [r for r in aggregators.names() if r != "fang"] if rules is None else list(rules)
    rows = []
    for name in rules:
        options = {"generator": torch.Generator().manual_seed(seed)} if name == "dnc" else {}
        out = aggregators.aggregate(name, points, f, variant=variant, **options)
        selected = [] if out.selected is None else out.selected.tolist()
        rows.append(
            {
                "rule": name,
                "x": float(out.vector[0]),
                "y": float(out.vector[1]),
                "n_selected": len(selected) if out.selected is not None else None,
                "malicious_selected": sum(i < f for i in selected) if out.selected is not None else None,
            }
        )
    return pd.DataFrame(rows)
