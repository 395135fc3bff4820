"""Generated stand-ins for the paper's datasets, with their exact input shapes, classes and client counts.

They exist for dry runs (``python -m fedlib dry-run``): every cell of a grid can be executed for a few rounds
without the real files, to find settings that cannot run. Their accuracies mean nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .._checks import check_choice, check_int
from ..errors import ConfigError
from ._load import Dataset

#: input shape and number of classes of each dataset (the real ones).
LIKE = {
    "mnist5k": ((1, 28, 28), 10),
    "mnist": ((1, 28, 28), 10),
    "fashion_mnist": ((1, 28, 28), 10),
    "cifar10": ((3, 32, 32), 10),
    "femnist": ((1, 28, 28), 62),
    "purchase100": ((600,), 100),
}


def _samples(n: int, shape, centres: torch.Tensor, gen: torch.Generator, dtype) -> tuple:
    labels = torch.randint(centres.shape[0], (n,), generator=gen)
    x = centres[labels] + torch.randn(n, *shape, generator=gen, dtype=dtype)
    return x, labels


def synthetic(
    like: str,
    *,
    n_clients: int,
    samples_per_client: int = 8,
    client_sizes: Sequence[int] | None = None,
    n_eval: int = 200,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> Dataset:
    """A generated :class:`Dataset` shaped like ``like`` (for dry runs only).

    Inputs of class c are a fixed random centre μ_c (one N(0, 1) draw per class) plus N(0, 1) noise, so a model can
    learn a little; labels are uniform. Client i holds ``client_sizes[i]`` samples (default
    ``samples_per_client`` each, in contiguous blocks of the pool, as the iid split); validation and test sets
    hold ``n_eval`` samples each. Everything is drawn from one CPU generator seeded with ``seed``.

    Example:
        >>> from fedlib.data import synthetic
        >>> ds = synthetic("femnist", n_clients=3400, client_sizes=[4, 6] * 1700)
        >>> ds.n_clients, ds.input_shape, ds.n_classes, ds.train_x.shape
        (3400, (1, 28, 28), 62, torch.Size([17000, 1, 28, 28]))
    """
    check_choice(like, LIKE, "dataset to imitate")
    n_clients = check_int(n_clients, "n_clients", minimum=1)
    sizes = [check_int(samples_per_client, "samples_per_client", minimum=1)] * n_clients
    if client_sizes is not None:
        sizes = [check_int(s, "client size", minimum=1) for s in client_sizes]
        if len(sizes) != n_clients:
            raise ConfigError(f"client_sizes has {len(sizes)} entries; n_clients is {n_clients}.")
    shape, n_classes = LIKE[like]
    gen = torch.Generator().manual_seed(check_int(seed, "seed", minimum=0))
    centres = torch.randn(n_classes, *shape, generator=gen, dtype=dtype)
    train_x, train_y = _samples(sum(sizes), shape, centres, gen, dtype)
    val_x, val_y = _samples(n_eval, shape, centres, gen, dtype)
    test_x, test_y = _samples(n_eval, shape, centres, gen, dtype)
    ends = torch.tensor(sizes).cumsum(0).tolist()
    clients = tuple(torch.arange(end - size, end) for size, end in zip(sizes, ends, strict=True))
    return Dataset(
        name=like,
        train_x=train_x,
        train_y=train_y,
        val_x=val_x,
        val_y=val_y,
        test_x=test_x,
        test_y=test_y,
        clients=clients,
        n_classes=n_classes,
        input_shape=shape,
        info={"source": "synthetic (generated for dry runs)", "seed": seed, "split": [sum(sizes), n_eval, n_eval]},
    )
