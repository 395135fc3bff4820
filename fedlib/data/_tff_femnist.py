"""FEMNIST from TensorFlow Federated's HDF5 files, written as LEAF JSON shards (the layout the loader reads).

TFF's ``fed_emnist.tar.bz2`` holds ``fed_emnist_train.h5`` and ``fed_emnist_test.h5``: a group ``examples``
with one subgroup per writer (3,400 writers) holding ``pixels`` (n, 28, 28) float32 and ``label`` (n,) ints;
each writer's examples are split between the two files. TFF derived these files from LEAF's preprocessing of
EMNIST, so the pixel convention is LEAF's: gray / 255 with 1.0 for the background.

The mapping to LEAF's layout: writers in sorted id order (TFF's own order), cut into shards of
``writers_per_shard`` (100: 3,400 writers → 34 shards, the shard count the released code reads), shard k
written to ``train/all_data_<k>_niid_0_keep_0_train_9.json`` and ``test/..._test_9.json`` as
``{"users": [...], "num_samples": [...], "user_data": {writer: {"x": [[784 floats]], "y": [labels]}}}``,
with ``x`` the row-major flattened 28×28 pixels. The values are TFF's float32 numbers written exactly, so the
loader reads back the same float32 arrays. These are not the very writers of the authors' LEAF run (LEAF's
sampling and TFF's filtering of writers with < 2 examples differ), which the book states where it matters.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError

SHARD_NAME = "all_data_{k}_niid_0_keep_0_{split}_9.json"

# LEAF's pixel values are gray/255. When a writer's float32 pixels are all float32(k/255), each value is
# written from this table of its shortest repr, the very text json.dumps(pixels.tolist()) writes, about 6
# times faster than formatting 784 floats per image one by one.
_GRID = (np.arange(256, dtype=np.float64) / 255).astype(np.float32)
_TOKENS = np.array([repr(float(v)) for v in _GRID], dtype=object)


def pixels_json(x: np.ndarray) -> str:
    """``json.dumps(x.tolist(), separators=(",", ":"))`` for a float32 (n, 784) array, fast on the k/255 grid.

    >>> import json
    >>> import numpy as np
    >>> from fedlib.data._tff_femnist import pixels_json
    >>> x = np.array([[1.0, 0.5, 2 / 255]], dtype=np.float32)
    >>> pixels_json(x) == json.dumps(x.tolist(), separators=(",", ":"))
    True
    """
    k = np.rint(x.astype(np.float64) * 255)
    if x.size and k.min() >= 0 and k.max() <= 255 and np.array_equal(_GRID[k.astype(np.int64)], x):
        tokens = _TOKENS[k.astype(np.int64)]
        return "[" + ",".join("[" + ",".join(row) + "]" for row in tokens) + "]"
    return json.dumps(x.tolist(), separators=(",", ":"))


def _writer_arrays(group, writer: str, path: Path):
    pixels = np.asarray(group[writer]["pixels"], dtype=np.float32)
    labels = np.asarray(group[writer]["label"]).astype(np.int64).reshape(-1)
    if pixels.shape[1:] != (28, 28) or pixels.shape[0] != labels.shape[0] or labels.shape[0] == 0:
        raise InputError(
            f"{path}: writer {writer!r} has pixels {pixels.shape} and labels {labels.shape}; "
            "expected (n, 28, 28) and (n,) with n >= 1."
        )
    return pixels.reshape(-1, 784), labels


def write_shard(path: Path, group, writers: Sequence[str], source: Path) -> int:
    """Write one LEAF JSON shard for ``writers`` of the HDF5 group; returns the number of examples.

    Streams writer by writer so that memory holds one writer's data at a time.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    sizes = [int(group[w]["label"].shape[0]) for w in writers]
    with open(path, "w") as fh:
        fh.write(
            '{"users": ' + json.dumps(list(writers)) + ', "num_samples": ' + json.dumps(sizes) + ', "user_data": {'
        )
        for i, writer in enumerate(writers):
            x, y = _writer_arrays(group, writer, source)
            fh.write(
                ("," if i else "")
                + json.dumps(writer)
                + ': {"x":'
                + pixels_json(x)
                + ',"y":'
                + json.dumps(y.tolist()).replace(" ", "")
                + "}"
            )
        fh.write("}}")
    return sum(sizes)


def tff_to_leaf(train_h5: Path, test_h5: Path, dest: Path, writers_per_shard: int) -> dict[str, int]:
    """Convert TFF's train/test HDF5 pair into LEAF shards under ``dest/train`` and ``dest/test``.

    Returns: counts ``writers``, ``train``, ``test`` and ``shards`` (for the caller to check).

    Example (a one-writer file pair):
        >>> import tempfile, h5py, numpy as np
        >>> from pathlib import Path
        >>> from fedlib.data._tff_femnist import tff_to_leaf
        >>> tmp = Path(tempfile.mkdtemp())
        >>> for split, n in (("train", 3), ("test", 1)):
        ...     with h5py.File(tmp / f"{split}.h5", "w") as f:
        ...         _ = f.create_dataset("examples/w0/pixels", data=np.ones((n, 28, 28), np.float32))
        ...         _ = f.create_dataset("examples/w0/label", data=np.arange(n, dtype=np.int32))
        >>> tff_to_leaf(tmp / "train.h5", tmp / "test.h5", tmp / "out", writers_per_shard=100)
        {'writers': 1, 'train': 3, 'test': 1, 'shards': 1}
        >>> sorted(p.name for p in (tmp / "out" / "train").iterdir())
        ['all_data_0_niid_0_keep_0_train_9.json']
        >>> import shutil; shutil.rmtree(tmp)
    """
    import h5py

    counts = {"writers": 0, "train": 0, "test": 0, "shards": 0}
    with h5py.File(train_h5, "r") as train, h5py.File(test_h5, "r") as test:
        groups = {"train": train["examples"], "test": test["examples"]}
        writers: list[str] = sorted(groups["train"].keys())
        if sorted(groups["test"].keys()) != writers:
            raise InputError(
                f"{train_h5.name} and {test_h5.name} list different writers "
                f"({len(writers)} and {len(groups['test'].keys())})."
            )
        for k, start in enumerate(range(0, len(writers), writers_per_shard)):
            chunk = writers[start : start + writers_per_shard]
            for split, source in (("train", train_h5), ("test", test_h5)):
                path = dest / split / SHARD_NAME.format(k=k, split=split)
                counts[split] += write_shard(path, groups[split], chunk, source)
            counts["shards"] += 1
        counts["writers"] = len(writers)
    return counts
