"""DnC, "Divide-and-Conquer" (Shejwalkar & Houmansadr, NDSS 2021): SVD-based outlier filtering on random coordinates."""

from __future__ import annotations

import math

import torch

from .._checks import all_finite, check_choice, check_int, reject_options
from ..errors import ConfigError, InputError, InputTypeError
from ._base import Aggregate, register
from ._utils.common import mean_of_rows, prepare
from ._utils.random import as_generator, draw_permutation

SVD_METHODS = ("exact", "fast")
COMBINE_RULES = ("intersection", "union")
N_ITERS = 5  # the paper's niters
SUBSAMPLE_DIM = 10000  # the paper's b


def centred_rows(sub: torch.Tensor) -> torch.Tensor:
    """``sub`` minus its row mean (the matrix DnC scores); raises InputError when centring overflows."""
    centred = sub - sub.mean(dim=0, keepdim=True)
    if not all_finite(centred):
        raise InputError(
            f"dnc: centring the sampled coordinates overflowed {sub.dtype} (max |value| "
            f"{float(sub.abs().max()):.3g}); rescale the updates."
        )
    return centred


def dnc_outlier_scores(sub: torch.Tensor, *, svd: str = "exact") -> torch.Tensor:
    r"""DnC outlier scores :math:`s_i = ((x_i - \mu)\cdot v)^2` of the rows of ``sub`` (n, b).

    :math:`\mu` is the row mean and :math:`v` the top right singular vector of the centred matrix
    :math:`X_c`. ``svd="exact"`` takes :math:`v` from ``torch.linalg.svd`` of :math:`X_c`; ``svd="fast"``
    uses the n×n Gram matrix instead: with :math:`X_c X_c^\top = \sum_k \lambda_k u_k u_k^\top`,
    :math:`X_c v = \sqrt{\lambda_1} u_1`, so :math:`s_i = \lambda_1 u_{1,i}^2` (one (n, b) product and an n×n
    ``eigh``; no (b, b) work). Both are deterministic and agree whenever the top singular value is simple.
    """
    check_choice(svd, SVD_METHODS, "DnC svd method")
    return _scores_of_centred(centred_rows(sub), svd)


def _scores_of_centred(centred: torch.Tensor, svd: str) -> torch.Tensor:
    if svd == "exact":
        top = torch.linalg.svd(centred, full_matrices=False).Vh[0]
        return (centred @ top) ** 2
    eigenvalues, eigenvectors = torch.linalg.eigh(centred @ centred.T)
    return eigenvalues[-1].clamp_min(0) * eigenvectors[:, -1] ** 2


def sampled_coordinates(
    d: int, subsample_dim: int, generator: torch.Generator, device: torch.device
) -> torch.Tensor | None:
    """The coordinates one DnC iteration scores (ascending), drawn from ``generator`` on its device; None
    (all coordinates, no draw) when d <= subsample_dim."""
    if d <= subsample_dim:
        return None
    return draw_permutation(d, generator, device)[:subsample_dim].sort().values


def kept_after_scoring(centred: torch.Tensor, n_remove: int, svd: str = "exact") -> torch.Tensor:
    """Rows kept by one DnC iteration on its centred sample (ascending): all but the ``n_remove`` highest
    scores, ties dropping the lowest index first (stable sort)."""
    scores = _scores_of_centred(centred, svd)
    order = torch.sort(scores, descending=True, stable=True).indices
    return order[n_remove:].sort().values


def dnc_iteration(
    updates: torch.Tensor,
    n_remove: int,
    *,
    subsample_dim: int = SUBSAMPLE_DIM,
    svd: str = "exact",
    generator: torch.Generator | int | None = None,
) -> torch.Tensor:
    """One DnC filtering step: sample coordinates, score the rows, drop the ``n_remove`` highest scores.

    Draws ``subsample_dim`` coordinates uniformly without replacement from ``generator`` (a
    ``torch.Generator`` of any device, drawn on that device; an int seed; None means seed 0), all
    coordinates and no draw when d <= subsample_dim. Ties in the score drop the lowest index first (stable sort).
    An attacker can call this with its own generator to simulate the server.

    Returns:
        LongTensor of the kept row indices, ascending.
    """
    check_choice(svd, SVD_METHODS, "DnC svd method")
    coords = None
    if updates.shape[1] > subsample_dim:
        coords = sampled_coordinates(updates.shape[1], subsample_dim, as_generator(generator, 0), updates.device)
    sub = updates if coords is None else updates.index_select(1, coords)
    return kept_after_scoring(centred_rows(sub), n_remove, svd)


def dnc_min_n(f: int, variant: str = "textbook", options=None) -> int:
    """n > f, and more rows than the floor(filter_frac * f) that each iteration removes. With
    ``combine="intersection"`` the iterations may still filter out every row on some data (only
    n > n_iters·floor(filter_frac·f) would rule that out, which the paper's n = 50, f = 10 does not meet)."""
    filter_frac = (options or {}).get("filter_frac", 1.0)
    removed = math.floor(filter_frac * f) if isinstance(filter_frac, (int, float)) else 0
    return max(f + 1, removed + 1)


@register("dnc", needs=("generator",), checks_finite=True, min_inputs=dnc_min_n)
def dnc(
    updates: torch.Tensor,
    f: int,
    *,
    variant: str = "textbook",
    n_iters: int = N_ITERS,
    subsample_dim: int = SUBSAMPLE_DIM,
    filter_frac: float = 1.0,
    combine: str = "intersection",
    svd: str = "exact",
    generator: torch.Generator | int | None = None,
    **options,
) -> Aggregate:
    r"""DnC: remove rows that stick out along the top principal direction of random coordinate subsets.

    Repeated ``n_iters`` times (the paper's §VII): draw ``subsample_dim`` = b coordinates without replacement
    (all of them when d <= b), centre the (n, b) submatrix, take its top right singular vector v, score
    :math:`s_i = ((x_i-\mu)\cdot v)^2`, keep the :math:`n - \lfloor c f\rfloor` lowest scores
    (c = ``filter_frac``). The kept sets are combined by ``combine="intersection"`` (default: a row
    survives only if never filtered; the paper's pseudocode read with :math:`I_{good}` initialised to all
    rows) or ``"union"`` (as the Blades library's DnC combines them). Defaults: ``n_iters`` = 5 and
    ``subsample_dim`` = 10,000, the paper's niters and b. Output: mean of the surviving rows (full dimension);
    ``selected`` = survivors, ascending.

    Randomness comes only from ``generator`` (a ``torch.Generator`` or int seed); the draws happen on the
    generator's device (a CUDA generator for CUDA updates, as the engine passes; the same seed gives the
    same coordinates on the same device). ``None`` means seed 0, so the same coordinates every call: a
    training loop must pass its own generator. The authors never
    released DnC, so ``variant`` is checked but both variants run this algorithm.

    Raises ConfigError if :math:`\lfloor c f\rfloor \ge n` (the rule's minimum input count,
    ``fedlib.aggregators.min_inputs("dnc", f)``) or if the
    intersection leaves no row (data-dependent: each iteration may filter different rows).

    Example:
        >>> import torch
        >>> from fedlib.aggregators import dnc
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.randn(10, 50, generator=g)
        >>> x[:2] += 8.0 * torch.nn.functional.normalize(torch.randn(50, generator=g), dim=0)
        >>> dnc(x, f=2, generator=1).selected
        tensor([2, 3, 4, 5, 6, 7, 8, 9])
    """
    reject_options(options, "dnc")
    check_choice(combine, COMBINE_RULES, "DnC combine rule")
    check_choice(svd, SVD_METHODS, "DnC svd method")
    n_iters = check_int(n_iters, "n_iters", minimum=1)
    subsample_dim = check_int(subsample_dim, "subsample_dim", minimum=1)
    if isinstance(filter_frac, bool) or not isinstance(filter_frac, (int, float)):
        raise InputTypeError(f"filter_frac must be a number; found {type(filter_frac).__name__}.")
    if not (math.isfinite(filter_frac) and filter_frac >= 0):
        raise ConfigError(f"filter_frac must be a finite number >= 0; found {filter_frac}.")
    # min_inputs: n > f and more rows than the floor(filter_frac*f) each iteration removes
    updates, f = prepare(
        updates, f, variant, "dnc", options={"filter_frac": filter_frac}, formula="max(f, floor(filter_frac*f))+1"
    )
    n = updates.shape[0]
    n_remove = math.floor(filter_frac * f)
    generator = as_generator(generator, default_seed=0)
    keep = torch.ones(n, dtype=torch.bool) if combine == "intersection" else torch.zeros(n, dtype=torch.bool)
    for _ in range(n_iters):
        good = torch.zeros(n, dtype=torch.bool)
        good[dnc_iteration(updates, n_remove, subsample_dim=subsample_dim, svd=svd, generator=generator).cpu()] = True
        keep = keep & good if combine == "intersection" else keep | good
    selected = torch.nonzero(keep).flatten().to(updates.device)
    if selected.numel() == 0:
        raise ConfigError(
            f"dnc filtered out every row (n={n}, {n_remove} per iteration, {n_iters} iterations, "
            "intersection); use fewer iterations, a smaller filter_frac or combine='union'."
        )
    return Aggregate(mean_of_rows(updates, selected), selected, info={"n_remove": n_remove})
