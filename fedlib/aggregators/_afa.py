"""AFA, Adaptive Federated Averaging (Muñoz-González, Co & Lupu, 2019)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .._checks import all_finite, check_matrix, reject_options
from ..errors import ConfigError, InputError
from ._base import Aggregate, register
from ._utils.common import prepare


def _beta_cdf_half(alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    r""":math:`P(p < 1/2)` for :math:`p \sim \mathrm{Beta}(\alpha, \beta)` with integer α, β >= 1.

    Uses :math:`I_{1/2}(a, b) = P(\mathrm{Binomial}(a+b-1, 1/2) \ge a)`, vectorized over clients.
    """
    trials = alpha + beta - 1
    j = torch.arange(int(trials.max()) + 1, dtype=torch.float64)
    log_pmf = (
        torch.lgamma(trials[:, None] + 1)
        - torch.lgamma(j + 1)
        - torch.lgamma(trials[:, None] - j + 1)
        - trials[:, None] * math.log(2.0)
    )
    in_tail = (j[None, :] >= alpha[:, None]) & (j[None, :] <= trials[:, None])
    return torch.where(in_tail, log_pmf.exp(), torch.zeros(())).sum(dim=1)


@dataclass(frozen=True)
class AFAReputation:
    r"""AFA's per-client Beta(α, β) reputation, passed in and returned explicitly (AFA keeps no hidden state).

    Entry k describes row k of the ``updates`` given to :func:`afa`: a training loop keeps one state per
    client and gathers/scatters the rows of the clients sampled in a round. A client's "good" probability
    is :math:`\alpha_k / (\alpha_k + \beta_k)`; after each round α grows by 1 for accepted updates and β by
    1 for rejected ones; a client is blocked for good once :math:`P(p_k < 1/2) \ge \delta` under
    :math:`\mathrm{Beta}(\alpha_k, \beta_k)`.

    Attributes:
        alpha, beta: float64 CPU tensors (n,) of positive integers (prior α0 = β0 = 3).
        blocked: bool tensor (n,).
    """

    alpha: torch.Tensor
    beta: torch.Tensor
    blocked: torch.Tensor

    @staticmethod
    def initial(n_clients: int, prior: int = 3) -> AFAReputation:
        """Fresh state for ``n_clients`` with Beta(prior, prior) and nobody blocked."""
        ones = torch.ones(n_clients, dtype=torch.float64)
        return AFAReputation(ones * prior, ones * prior, torch.zeros(n_clients, dtype=torch.bool))

    def good_probability(self) -> torch.Tensor:
        return self.alpha / (self.alpha + self.beta)

    def updated(self, accepted: torch.Tensor, delta: float) -> AFAReputation:
        """The state after a round in which the rows where ``accepted`` is True were kept."""
        active = ~self.blocked
        alpha = self.alpha + (accepted & active).double()
        beta = self.beta + (~accepted & active).double()
        blocked = self.blocked | (_beta_cdf_half(alpha, beta) >= delta)
        return AFAReputation(alpha, beta, blocked)


def _check_reputation(state: object, n: int) -> AFAReputation:
    if not isinstance(state, AFAReputation):
        raise InputError(f"reputation must be an AFAReputation; found {type(state).__name__}.")
    for name in ("alpha", "beta", "blocked"):
        value = getattr(state, name)
        if value.shape != (n,):
            raise InputError(f"reputation.{name} must have shape ({n},) like the rows; found {tuple(value.shape)}.")
    if bool((state.alpha < 1).any() | (state.beta < 1).any()) or bool(
        (state.alpha != state.alpha.round()).any() | (state.beta != state.beta.round()).any()
    ):
        raise InputError("reputation.alpha and reputation.beta must hold integers >= 1.")
    return state


@register("afa", checks_finite=True)
def afa(
    updates: torch.Tensor,
    f: int = 0,
    *,
    variant: str = "textbook",
    xi: float = 2.0,
    xi_step: float = 0.5,
    client_weights: torch.Tensor | None = None,
    reputation: AFAReputation | None = None,
    delta: float = 0.95,
    **options,
) -> Aggregate:
    r"""AFA: iteratively drop updates whose cosine similarity to the weighted mean is an outlier.

    With the good set :math:`G` (initially all rows not blocked) and weights :math:`p_k`, repeat:

    1. :math:`\bar g = \sum_{k\in G} p_k g_k / \sum_{k\in G} p_k`; :math:`s_k = \cos(g_k, \bar g)`, k in G.
    2. :math:`\mu, m, \sigma` = mean, median (lower middle value) and unbiased std of :math:`\{s_k\}`.
    3. If :math:`\mu < m` remove every k with :math:`s_k < m - \xi\sigma`, else every k with
       :math:`s_k > m + \xi\sigma`; then :math:`\xi \leftarrow \xi + \Delta\xi`.

    until nothing is removed (or one row is left). Output the weighted mean of :math:`G`; ``selected`` =
    G, ascending. ξ starts at ``xi`` = 2.0 and grows by ``xi_step`` = 0.5 (Muñoz-González et al.'s AFA; paper §II-C6).
    The direction test follows Muñoz-González et al.'s Algorithm 1 (a mean below the median means a low-similarity
    tail); a summary from memory can state the two cases the other way round.

    Weights: :math:`p_k` = ``client_weights`` (e.g. data sizes; default 1) times, when a ``reputation``
    (:class:`AFAReputation`) is given, the good probability :math:`\alpha_k/(\alpha_k+\beta_k)`; blocked
    rows are excluded up front. The updated reputation (threshold ``delta``) is returned in
    ``info["reputation"]``; nothing is stored between calls. ``f`` is accepted for the common signature and
    not used. AFA is not in the authors' code: both variants run the same algorithm.

    Example:
        >>> import torch
        >>> from fedlib.aggregators import afa
        >>> x = torch.tensor([[1.0, 0.1], [1.0, -0.1], [1.0, 0.0], [0.9, 0.05], [1.1, 0.0],
        ...                   [1.0, 0.02], [1.0, -0.05], [-1.0, 0.0]])
        >>> afa(x, f=1).selected
        tensor([0, 1, 2, 3, 4, 5, 6])
    """
    updates, w, weights, good = _checked(updates, f, variant, xi, xi_step, client_weights, reputation, delta, options)
    good, rounds = _filter_outliers(updates, w, good, float(xi), xi_step)
    if not bool((weights[good] > 0).any()):
        raise ConfigError("afa kept only rows of zero weight; nothing to average.")
    selected = torch.nonzero(good).flatten().to(updates.device)
    kept_w = w * good.to(device=updates.device, dtype=updates.dtype)
    vector = (kept_w @ updates) / kept_w.sum()
    info: dict[str, object] = {"rounds": rounds}
    if reputation is not None:
        info["reputation"] = reputation.updated(good, delta)
    return Aggregate(vector, selected, info=info)


def _checked(updates, f, variant, xi, xi_step, client_weights, reputation, delta, options, check_values=True):
    """AFA's checks (the same errors for :func:`afa` and :func:`afa_keeps`): (updates, p_k in the rows' dtype,
    p_k float64, the initial good set)."""
    reject_options(options, "afa")
    updates, f = prepare(updates, f, variant, "afa", check_values=check_values)
    for name, value in (("xi", xi), ("xi_step", xi_step), ("delta", delta)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ConfigError(f"{name} must be a finite number >= 0; found {value!r}.")
    weights, good = _initial_weights(updates.shape[0], client_weights, reputation)
    return updates, weights.to(device=updates.device, dtype=updates.dtype), weights, good


def afa_keeps(
    updates: torch.Tensor,
    f: int,
    first: int,
    *,
    variant: str = "textbook",
    xi: float = 2.0,
    xi_step: float = 0.5,
    client_weights: torch.Tensor | None = None,
    reputation: AFAReputation | None = None,
    delta: float = 0.95,
    check_values: bool = True,
    **options,
) -> bool:
    """Whether AFA keeps every one of the rows ``0 .. first-1`` (all of them in ``afa(...).selected``), with the
    same checks and errors as :func:`afa`: what an attack asks of its simulation.

    The same floats and the same decisions as :func:`afa`, with less work: the filter stops at the first
    round that removes one of those rows (AFA never takes a row back), and the final weighted mean is not
    computed. When some row has weight 0 the filter runs to its end, so that the error :func:`afa` raises when
    only zero-weight rows are left is raised here too. ``check_values=False`` skips the finiteness pass over
    ``updates`` (for a caller that has checked every row itself).

    Example:
        >>> import torch
        >>> from fedlib.aggregators._afa import afa_keeps
        >>> x = torch.tensor([[1.0, 0.1], [1.0, -0.1], [1.0, 0.0], [0.9, 0.05], [1.1, 0.0],
        ...                   [1.0, 0.02], [1.0, -0.05], [-1.0, 0.0]])
        >>> afa_keeps(x, 1, 7), afa_keeps(x, 1, 8)
        (True, False)
    """
    updates, w, weights, good = _checked(
        updates, f, variant, xi, xi_step, client_weights, reputation, delta, options, check_values
    )
    positive = bool((weights[good] > 0).all())
    good, _ = _filter_outliers(updates, w, good, float(xi), xi_step, watch=first if positive else 0)
    if not bool((weights[good] > 0).any()):
        raise ConfigError("afa kept only rows of zero weight; nothing to average.")
    return bool(good[:first].all())


def _initial_weights(
    n: int, client_weights: torch.Tensor | None, reputation: AFAReputation | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """p_k (float64, CPU) and the initial good set: client weights × good probability, blocked rows out."""
    weights = torch.ones(n, dtype=torch.float64)
    if client_weights is not None:
        client_weights = check_matrix(client_weights.reshape(1, -1), "client_weights").reshape(-1)
        if client_weights.numel() != n or bool((client_weights < 0).any()) or not all_finite(client_weights):
            raise InputError(f"client_weights must be {n} finite values >= 0; found {client_weights.tolist()}.")
        weights = client_weights.detach().double().cpu()
    good = torch.ones(n, dtype=torch.bool)
    if reputation is not None:
        reputation = _check_reputation(reputation, n)
        weights = weights * reputation.good_probability()
        good &= ~reputation.blocked
    if not bool((weights[good] > 0).any()):
        raise ConfigError("afa has no row with positive weight to average (all blocked or zero weight).")
    return weights, good


def _filter_outliers(
    updates: torch.Tensor, w: torch.Tensor, good: torch.Tensor, slack: float, xi_step: float, watch: int = 0
) -> tuple[torch.Tensor, int]:
    """AFA's loop (steps 1-3 of :func:`afa`): the final good set and the number of rounds it took; with
    ``watch`` > 0 it stops after the first round that removes one of the rows 0 .. watch-1."""
    rounds = 0
    # Each round reads the (n, d) matrix twice (weighted mean, dot products), never copies rows out:
    # excluded rows get weight 0 and their similarities are ignored; row norms are computed once.
    row_norms = torch.linalg.vector_norm(updates, dim=1)
    eps = torch.finfo(updates.dtype).tiny
    while int(good.sum()) > 1:
        rounds += 1
        rows = torch.nonzero(good).flatten()
        kept_w = w * good.to(device=updates.device, dtype=updates.dtype)
        reference = (kept_w @ updates) / kept_w.sum()
        norms = (row_norms * torch.linalg.vector_norm(reference)).clamp_min(eps)
        sims = ((updates @ reference) / norms).double().cpu()[rows]
        med, mu, sigma = sims.median(), sims.mean(), sims.std()
        bad = sims < med - slack * sigma if mu < med else sims > med + slack * sigma
        slack += xi_step
        if not bool(bad.any()):
            break
        good[rows[bad]] = False
        if watch and not bool(good[:watch].all()):
            break
    return good, rounds
