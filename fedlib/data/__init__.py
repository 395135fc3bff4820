"""Datasets for the federated experiments: official on-disk formats, fixed splits, client partitions.

``load(name, root=None, *, split_seed, n_clients=..., partition="iid")`` returns a :class:`Dataset` with the
training pool, the server's validation and test sets and one index tensor per client. Nothing is ever
downloaded: a missing dataset raises :class:`~fedlib.errors.DatasetNotFoundError` saying where the files go.
:func:`synthetic` generates a stand-in with a dataset's exact shapes and client counts, for dry runs.

Example:
    >>> from fedlib.data import load
    >>> ds = load("mnist5k", split_seed=0, n_clients=20)
    >>> ds.n_classes, len(ds.clients)
    (10, 20)
"""

from ._fetch import fetch
from ._formats import read_idx
from ._load import Dataset, default_data_root, default_root, input_shape, load, names, partitions
from ._partition import dirichlet_partition, iid_partition, writer_partition
from ._synthetic import synthetic

__all__ = [
    "Dataset",
    "load",
    "names",
    "partitions",
    "input_shape",
    "default_root",
    "default_data_root",
    "fetch",
    "read_idx",
    "iid_partition",
    "dirichlet_partition",
    "writer_partition",
    "synthetic",
]
