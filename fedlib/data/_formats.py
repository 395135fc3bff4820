"""Readers for the official on-disk formats: IDX (MNIST family), CIFAR10 python pickles, LEAF JSON, Purchase100.

Each reader returns numpy arrays and never downloads anything; a missing file raises
:class:`~fedlib.errors.DatasetNotFoundError` saying where the files go and how to get them.
"""

from __future__ import annotations

import gzip
import json
import pickle
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import DTypeLike

from ..errors import DatasetNotFoundError, InputError

HOW_TO_GET = {
    "mnist": "on a machine with internet run `torchvision.datasets.MNIST(ROOT, download=True)` (files land in "
    "ROOT/MNIST/raw), then copy ROOT here or pass root=ROOT / --data-root ROOT",
    "fashion_mnist": "install the Debian/Ubuntu package `dataset-fashion-mnist` (it puts the four *-ubyte.gz "
    "files in /usr/share/datasets/fashion-mnist), or run `torchvision.datasets.FashionMNIST(ROOT, "
    "download=True)` on a machine with internet and pass root=ROOT / --data-root ROOT",
    "cifar10": "on a machine with internet run `torchvision.datasets.CIFAR10(ROOT, download=True)` (files land "
    "in ROOT/cifar-10-batches-py), then pass root=ROOT / --data-root ROOT",
    "femnist": "run `python -m fedlib data fetch femnist`, or build LEAF's FEMNIST (github.com/TalwalkarLab/leaf, "
    "data/femnist: `./preprocess.sh -s niid --sf 1.0 -k 0 -t sample`, with Pillow < 10: LEAF uses Image.ANTIALIAS, "
    "which Pillow 10 removed), then pass root=leaf/data/femnist/data (the folder holding train/ and test/)",
    "purchase100": "get Shokri et al.'s `dataset_purchase` (comma-separated: label 1..100, then 600 binary "
    "features; e.g. github.com/privacytrustlab/datasets) or a `purchase100.npz` with arrays `features` "
    "(N, 600) and `labels` (N,), and put it in ROOT (root=ROOT / --data-root ROOT)",
}


def missing(name: str, looked_in: Sequence[Path], files: Sequence[str]) -> DatasetNotFoundError:
    where = ", ".join(str(p) for p in looked_in)
    return DatasetNotFoundError(
        f"dataset {name!r}: expected {', '.join(files)} in one of [{where}]; not found. "
        f"Nothing is downloaded automatically. To get it: {HOW_TO_GET[name]}."
    )


# --------------------------------------------------------------------------------------------- IDX files
_IDX_DTYPES: dict[int, DTypeLike] = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (LeCun's MNIST format, optionally gzipped): magic 0x0000TTDD, DD big-endian dims."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise InputError(f"{path}: not an IDX file (bad magic number {raw[:4].hex() or 'empty'}).")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - header != expected:
        raise InputError(f"{path}: IDX header promises {dims} ({expected} bytes); found {len(raw) - header}.")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)


def _find(dirs: Sequence[Path], stem: str) -> Path | None:
    for d in dirs:
        for candidate in (d / stem, d / f"{stem}.gz"):
            if candidate.is_file():
                return candidate
    return None


def read_mnist_like(name: str, root: Path, subdir: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train/test images (uint8, N×28×28) and labels of MNIST or Fashion-MNIST from torchvision's raw files.

    Looks in ``root`` itself (the Debian package's flat layout) and in ``root/<subdir>/raw`` (torchvision's).
    """
    dirs = [root, root / subdir / "raw"]
    stems = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    paths = [_find(dirs, s) for s in stems]
    if any(p is None for p in paths):
        absent = [s + "[.gz]" for s, p in zip(stems, paths, strict=True) if p is None]
        raise missing(name, dirs, absent)
    arrays = [read_idx(p) for p in paths]  # type: ignore[arg-type]
    for images, labels, what in ((arrays[0], arrays[1], "train"), (arrays[2], arrays[3], "t10k")):
        if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise InputError(
                f"{name} {what}: images must be (N, H, W) and labels (N,); found {images.shape} and {labels.shape}."
            )
    return arrays[0], arrays[1].astype(np.int64), arrays[2], arrays[3].astype(np.int64)


# ------------------------------------------------------------------------------------------ CIFAR10 pickles
CIFAR_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def read_cifar10(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """All 60,000 CIFAR10 images (uint8, N×3×32×32) and labels: data_batch_1..5 then test_batch.

    Reads torchvision's python-pickle files (``cifar-10-batches-py``). Unpickling runs code from the file:
    only point this at files you trust.
    """
    dirs = [root, root / "cifar-10-batches-py"]
    for d in dirs:
        if all((d / f).is_file() for f in CIFAR_FILES):
            break
    else:
        raise missing("cifar10", dirs, CIFAR_FILES)
    images, labels = [], []
    for f in CIFAR_FILES:
        with open(d / f, "rb") as fh:
            batch = pickle.load(fh, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != 3072:
            raise InputError(f"{d / f}: b'data' must be (N, 3072) uint8; found {data.shape}.")
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(np.asarray(batch[b"labels"], dtype=np.int64))
    return np.concatenate(images), np.concatenate(labels)


# ---------------------------------------------------------------------------------------------- LEAF JSON
_SHARD = re.compile(r"_(\d+)_")


def _shard_files(folder: Path) -> dict[int, Path]:
    files = {}
    for path in folder.glob("*.json"):
        found = _SHARD.search(path.name)
        if found is None:
            raise InputError(f"{path}: cannot read the shard number from the name (LEAF: all_data_<k>_...).")
        files[int(found.group(1))] = path
    return files


def read_leaf(
    root: Path, shards: int | None = None
) -> tuple[list[str], list[np.ndarray], list[np.ndarray], np.ndarray, np.ndarray]:
    """LEAF FEMNIST: per-writer train arrays and the concatenated test pool (spec §5.2).

    ``root`` holds ``train/`` and ``test/`` with ``all_data_<k>_niid_0_keep_0_{train,test}_9.json`` shards
    (``{"users": [...], "num_samples": [...], "user_data": {user: {"x": [[784 floats]], "y": [int]}}}``).
    Shards are read in ascending k (only the first ``shards`` of them when given; the released code uses 34),
    writers in each file's ``users`` order.

    Returns: writer ids, list of (n_i, 784) float32 train inputs, list of (n_i,) labels, test inputs, test labels.
    """
    train_dir, test_dir = root / "train", root / "test"
    train_files, test_files = (_shard_files(d) if d.is_dir() else {} for d in (train_dir, test_dir))
    if not train_files or not test_files:
        raise missing("femnist", [train_dir, test_dir], ["all_data_<k>_niid_0_keep_0_{train,test}_9.json"])
    keys = sorted(train_files)
    if keys != sorted(test_files):
        raise InputError(f"femnist: train shards {keys} and test shards {sorted(test_files)} differ.")
    if shards is not None:
        if shards > len(keys):
            raise InputError(f"femnist: asked for {shards} shards; found {len(keys)} in {train_dir}.")
        keys = keys[:shards]
    writers, xs, ys, test_x, test_y = [], [], [], [], []
    for k in keys:
        with open(train_files[k]) as fh:
            train = json.load(fh)
        with open(test_files[k]) as fh:
            test = json.load(fh)
        for user in train["users"]:
            x = np.asarray(train["user_data"][user]["x"], dtype=np.float32).reshape(-1, 784)
            y = np.asarray(train["user_data"][user]["y"], dtype=np.int64)
            if x.shape[0] != y.shape[0] or x.shape[0] == 0:
                raise InputError(f"{train_files[k]}: writer {user!r} has {x.shape[0]} inputs and {y.shape[0]} labels.")
            writers.append(user)
            xs.append(x)
            ys.append(y)
        for user in test["users"]:
            test_x.append(np.asarray(test["user_data"][user]["x"], dtype=np.float32).reshape(-1, 784))
            test_y.append(np.asarray(test["user_data"][user]["y"], dtype=np.int64))
    return writers, xs, ys, np.concatenate(test_x), np.concatenate(test_y)


# --------------------------------------------------------------------------------------------- Purchase100
def read_purchase100(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """Purchase100 features (N, 600) in {0, 1} and labels 0..99.

    Reads ``dataset_purchase`` (text, one record per line: label in 1..100, then 600 comma-separated binary
    features; labels are shifted to 0..99) or ``purchase100.npz`` (arrays ``features`` and ``labels``, labels
    0..99).
    """
    text, npz = root / "dataset_purchase", root / "purchase100.npz"
    if text.is_file():
        table = np.loadtxt(text, delimiter=",", dtype=np.float32, ndmin=2)
        features, labels = table[:, 1:], table[:, 0].astype(np.int64) - 1
    elif npz.is_file():
        with np.load(npz) as archive:
            features = np.asarray(archive["features"], dtype=np.float32)
            labels = np.asarray(archive["labels"]).astype(np.int64).reshape(-1)
    else:
        raise missing("purchase100", [root], ["dataset_purchase", "purchase100.npz"])
    if features.ndim != 2 or features.shape[1] != 600 or features.shape[0] != labels.shape[0]:
        raise InputError(
            f"purchase100: expected (N, 600) features and N labels; found {features.shape}, {labels.shape}."
        )
    if labels.min() < 0 or labels.max() > 99:
        raise InputError(f"purchase100: labels must be 0..99 after loading; found {labels.min()}..{labels.max()}.")
    return features, labels
