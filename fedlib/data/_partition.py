"""Client partitions: iid contiguous blocks (the paper's), Dirichlet label skew, and by writer (FEMNIST)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .._checks import check_int
from ..errors import ConfigError

PARTITIONS = ("iid", "dirichlet", "writer")


def iid_partition(n_samples: int, n_clients: int, samples_per_client: int | None = None) -> tuple[torch.Tensor, ...]:
    """Client i gets the contiguous block ``[i·s, (i+1)·s)`` of an (already seeded-permuted) training pool.

    ``s = samples_per_client`` (default ``n_samples // n_clients``); the pool is permuted by the loader with
    ``split_seed``, so contiguous blocks are iid (the released CIFAR10 code: 50 clients × 1,000).

    Example:
        >>> from fedlib.data import iid_partition
        >>> [b.tolist() for b in iid_partition(7, 3, 2)]
        [[0, 1], [2, 3], [4, 5]]
    """
    n_clients = check_int(n_clients, "n_clients", minimum=1)
    s = (
        n_samples // n_clients
        if samples_per_client is None
        else check_int(samples_per_client, "samples_per_client", minimum=1)
    )
    if s < 1 or n_clients * s > n_samples:
        raise ConfigError(
            f"iid partition needs n_clients × samples_per_client <= {n_samples} training samples; "
            f"found {n_clients} × {s} = {n_clients * s}."
        )
    return tuple(torch.arange(i * s, (i + 1) * s) for i in range(n_clients))


def dirichlet_partition(
    labels: torch.Tensor, n_clients: int, alpha: float, *, seed: int, max_tries: int = 100
) -> tuple[torch.Tensor, ...]:
    r"""Label-skewed non-iid split: for each class c, :math:`p_c \sim \mathrm{Dir}(\alpha \mathbf 1_{n})` and the
    class's samples are cut among the clients in proportions :math:`p_c`.

    Small ``alpha`` (e.g. 0.1) gives nearly single-class clients; large alpha approaches iid. Draws are
    repeated (up to ``max_tries``) until every client has at least one sample. Randomness comes only from
    ``seed`` (a numpy Generator; torch has no seeded Dirichlet sampler).

    Example:
        >>> import torch
        >>> from fedlib.data import dirichlet_partition
        >>> parts = dirichlet_partition(torch.arange(100) % 10, 4, 0.5, seed=0)
        >>> sum(len(p) for p in parts)
        100
    """
    n_clients = check_int(n_clients, "n_clients", minimum=1)
    if not (isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and alpha > 0):
        raise ConfigError(f"partition_alpha must be a positive number for partition='dirichlet'; found {alpha!r}.")
    if labels.numel() < n_clients:
        raise ConfigError(f"dirichlet partition needs >= n_clients={n_clients} samples; found {labels.numel()}.")
    rng = np.random.default_rng(seed)
    y = labels.cpu().numpy()
    classes = np.unique(y)
    for _ in range(max_tries):
        owners: list[list[np.ndarray]] = [[] for _ in range(n_clients)]
        for c in classes:
            idx = np.flatnonzero(y == c)
            cuts = (np.cumsum(rng.dirichlet(np.full(n_clients, float(alpha)))) * idx.size).astype(np.int64)[:-1]
            for client, block in enumerate(np.split(idx, cuts)):
                owners[client].append(block)
        parts = [np.sort(np.concatenate(o)) for o in owners]
        if min(p.size for p in parts) > 0:
            return tuple(torch.from_numpy(p) for p in parts)
    raise ConfigError(
        f"dirichlet partition with alpha={alpha} left a client empty in {max_tries} draws "
        f"({labels.numel()} samples, {n_clients} clients); use a larger alpha or fewer clients."
    )


def writer_partition(sizes: Sequence[int], n_clients: int | None = None) -> tuple[torch.Tensor, ...]:
    """One client per writer (FEMNIST, as the released code): writer i owns its own contiguous rows of the training
    pool.

    ``n_clients`` keeps the first writers only (default: all).
    """
    if n_clients is not None:
        n_clients = check_int(n_clients, "n_clients", minimum=1)
        if n_clients > len(sizes):
            raise ConfigError(f"writer partition: n_clients={n_clients} but the data has {len(sizes)} writers.")
        sizes = sizes[:n_clients]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    return tuple(torch.arange(int(a), int(a) + int(s)) for a, s in zip(starts, sizes, strict=True))
