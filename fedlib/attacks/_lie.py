r"""LIE, "A Little Is Enough" (Baruch et al., NeurIPS 2019), as used in the NDSS'21 paper (a baseline of its §VI).

Every malicious client sends μ + z·σ (``lie_sign=+1``, the released sign) or μ − z·σ (``lie_sign=-1``,
the sign of several third-party ports), with μ, σ the coordinate mean and unbiased std of the known
benign rows.

z:

* ``variant="textbook"``: Baruch et al.'s formula with n = ``n_total`` (required option, total clients
  of the round) and m = ``n_malicious``: s = ⌊n/2 + 1⌋ − m, z = Φ⁻¹((n − s)/n) (n = 50, m = 10 → 0.4677).
* ``variant="ndss21"``: the released notebooks' table keyed by m,
  {3: 0.69847, 5: 0.7054, 8: 0.71904, 10: 0.72575, 12: 0.73891} (the book's *Paper code against textbook* chapter,
  "LIE's z: formula or table"); other m raise.
* ``z=<float>`` overrides both.
"""

from __future__ import annotations

import math

import torch

from .._checks import check_int
from ..errors import ConfigError
from ._base import Crafted, register
from ._perturbation import column_std
from ._utils.common import repeat_rows

Z_TABLE_NDSS21 = {3: 0.69847, 5: 0.7054, 8: 0.71904, 10: 0.72575, 12: 0.73891}


def lie_z(n_total: int, n_malicious: int) -> float:
    r"""Baruch et al.'s z: s = ⌊n/2 + 1⌋ − m, z = Φ⁻¹((n − s)/n) (torch.special.ndtri, float64).

    Example:
        >>> from fedlib.attacks import lie_z
        >>> round(lie_z(50, 10), 4)
        0.4677
    """
    n_total = check_int(n_total, "n_total", minimum=1)
    n_malicious = check_int(n_malicious, "n_malicious", minimum=1)
    s = math.floor(n_total / 2 + 1) - n_malicious
    if s <= 0 or s > n_total:
        raise ConfigError(
            f"LIE's z is undefined for n_total={n_total}, n_malicious={n_malicious}: s = ⌊n/2+1⌋ − m = {s} "
            "must be in [1, n]."
        )
    return float(torch.special.ndtri(torch.tensor((n_total - s) / n_total, dtype=torch.float64)))


@register("lie", needs=("n_total",), settings=("variant",), options=("z", "lie_sign"))
def lie(
    benign: torch.Tensor,
    n_malicious: int,
    *,
    variant: str = "textbook",
    n_total: int | None = None,
    z: float | None = None,
    lie_sign: int = 1,
) -> Crafted:
    """LIE: n_malicious copies of μ ± z·σ (module docstring for z). Of craft's shared settings it takes only
    ``variant``: the γ search and the rule do not apply to LIE.

    Example:
        >>> import torch
        >>> from fedlib.attacks import craft
        >>> x = torch.tensor([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
        >>> craft("lie", x, 1, variant="ndss21", z=1.0).updates
        tensor([[4., 5.]])
    """
    if lie_sign not in (1, -1):
        raise ConfigError(f"lie_sign must be +1 or -1; found {lie_sign!r}.")
    if benign.shape[0] < 2:
        raise ConfigError(f"LIE needs at least 2 benign rows for an unbiased std; found {benign.shape[0]}.")
    if z is not None:
        z_value, source = float(z), "given"
    elif variant == "ndss21":
        if n_malicious not in Z_TABLE_NDSS21:
            raise ConfigError(
                f"LIE variant='ndss21' uses the released z table, which has m in {sorted(Z_TABLE_NDSS21)}; "
                f"found n_malicious={n_malicious}. Pass z=... or use variant='textbook' with n_total=..."
            )
        z_value, source = Z_TABLE_NDSS21[n_malicious], "ndss21 table"
    else:
        if n_total is None:
            raise ConfigError("LIE variant='textbook' needs the option n_total (total clients of the round).")
        z_value, source = lie_z(n_total, n_malicious), "Baruch et al. formula"
    mean = benign.mean(dim=0)
    std = column_std(benign)
    vector = mean + (lie_sign * z_value) * std
    info = {"z": z_value, "z_source": source, "sign": lie_sign}
    return Crafted(repeat_rows(vector, n_malicious), None, info)
