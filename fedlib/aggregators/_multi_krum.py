"""Multi-krum: average of the rows picked by iterative Krum."""

from __future__ import annotations

import torch

from .._checks import check_int, reject_options
from ._base import Aggregate, register
from ._krum import krum_min_n, krum_selection
from ._utils.common import mean_of_rows, prepare
from ._utils.distances import pairwise_sq_distances


def default_n_select(n: int, f: int) -> int:
    """Rows Multi-krum averages by default: n - 2f - 2 (both variants)."""
    return n - 2 * f - 2


@register("multi_krum", checks_finite=True, min_inputs=lambda f, variant, options: krum_min_n(f))
def multi_krum(
    updates: torch.Tensor,
    f: int,
    *,
    variant: str = "textbook",
    n_select: int | None = None,
    **options,
) -> Aggregate:
    r"""Multi-krum: pick rows one at a time by Krum on the remaining set, output the mean of the picks.

    :math:`S = \text{krum\_selection}(D, f, c)`, output :math:`\frac1c\sum_{i\in S} g_i`, ``selected`` = S in
    selection order. Needs :math:`n \ge 2f + 3`.

    Number selected ``n_select`` (c): default :math:`n - 2f - 2` for both variants, the count the released
    code selects (it loops while :math:`|R| > 2f + 2`; paper §II-C2 and the book's paper-code chapter, "Multi-krum: how
    many"), and the largest c for which every pick is made by Krum on a set of at least :math:`2f+3` rows. The paper's
    wording ":math:`n - c > 2m + 2`" would give one fewer; pass ``n_select`` to choose any count: 1 <= c <= n (textbook)
    or 1 <= c <= n - f - 2 (ndss21, beyond which the released score is an empty sum).

    Variants: the Krum score of :func:`krum_scores` (``"textbook"``: n−f−2 nearest others;
    ``"ndss21"``: sorted row including the zero self-distance). The selection is the recursive one of the
    NDSS'21 paper (Blanchard et al.'s original Multi-Krum takes the c best scores of one Krum pass instead).

    Example:
        >>> import torch
        >>> from fedlib.aggregators import multi_krum
        >>> x = torch.tensor([[0.0], [1.0], [2.0], [3.0], [4.0], [50.0], [60.0]])
        >>> out = multi_krum(x, f=2)
        >>> out.selected, out.vector
        (tensor([1]), tensor([1.]))
        >>> multi_krum(x, f=1).selected  # ties go to the lowest index: 1 before 3
        tensor([2, 1, 3])
    """
    reject_options(options, "multi_krum")
    updates, f = prepare(updates, f, variant, "multi_krum", formula="2f+3")
    n = updates.shape[0]
    if n_select is None:
        n_select = default_n_select(n, f)
    # ndss21's score sums n_rem - f - 2 sorted entries: past n - f - 2 picks it is an empty sum
    n_select = check_int(n_select, "n_select", minimum=1, maximum=n - f - 2 if variant == "ndss21" else n)
    dist = pairwise_sq_distances(updates)
    selected = krum_selection(dist, f, n_select, variant=variant)
    return Aggregate(mean_of_rows(updates, selected), selected)
