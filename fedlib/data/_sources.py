"""Where :func:`fedlib.data.fetch` downloads each dataset from, with the checksums it pins.

Every pin below was published by a third party; none was computed here. Each file has its canonical URL first,
then mirrors that publish the same file (the same checksum, or for Paddle's copies the same MD5 that torchvision
publishes for the canonical file); fetch tries them in order and checks the pin whichever answers.

Sources of the pinned checksums:

* MNIST, Fashion-MNIST, CIFAR10: the SHA-256 values in torchvision's dataset definitions
  (``torchvision/prototype/datasets/_builtin/mnist.py`` and ``cifar.py`` in github.com/pytorch/vision); the
  stable torchvision classes publish the MD5s of the same files (quoted in comments). Keras publishes the same
  four Fashion-MNIST SHA-256 values for its copy (``keras/src/datasets/fashion_mnist.py``, ``FILE_HASHES``).
* FEMNIST: TensorFlow Federated's ``fed_emnist.tar.bz2`` (3,400 writers, 62 classes), SHA-256 from
  ``tensorflow_federated/python/simulation/datasets/emnist/load_data.py`` (TFF 0.x, which downloaded this file
  with ``tf.keras.utils.get_file(..., file_hash=..., hash_algorithm='sha256')``).
* Purchase100: Shokri et al.'s ``dataset_purchase.tgz`` has no published checksum. The pin is the git object
  id of the copy in the authors' lab repository, github.com/privacytrustlab/datasets, at commit
  ``169de9de00de049dd2e571cf7279e64698ac046a`` (its only commit): git's SHA-1 of the file's size and bytes
  (``git ls-tree`` prints it; ``git hash-object dataset_purchase.tgz`` recomputes it), so it fixes both. fetch
  downloads that commit's copy first; the authors' university host is accepted only when it serves the same
  bytes. The install step also checks the content against the published facts: 197,324 records, each a label
  in 1..100 and 600 binary features (Shokri et al., "Membership Inference Attacks Against Machine Learning
  Models", IEEE S&P 2017).

Mirrors (each verified to publish the pinned file, never computed here): for Fashion-MNIST, the dataset
authors' own repository (github.com/zalandoresearch/fashion-mnist, ``data/fashion/``, at a fixed commit), the
Keras datasets bucket (SHA-256 above) and PaddlePaddle's bucket (``paddle/vision/datasets/mnist.py``, the
torchvision MD5s); for MNIST and CIFAR10, PaddlePaddle's bucket (``mnist.py``, ``cifar.py``: the torchvision
MD5s ``f68b3c2d…`` and ``c58f3010…``).

A registry entry is plain data; tests pass their own entries (``fetch(..., registry={...})``) to point at a
local server and at fixture checksums.

Example:
    >>> from fedlib.data._sources import SOURCES
    >>> sorted(SOURCES)
    ['cifar10', 'fashion_mnist', 'femnist', 'mnist', 'purchase100']
    >>> SOURCES["cifar10"].files[0].known_hash
    'sha256:6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce'
    >>> [url.split("/")[2] for url in SOURCES["cifar10"].files[0].urls]  # the canonical host, then a mirror
    ['www.cs.toronto.edu', 'dataset.bj.bcebos.com']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RemoteFile:
    """One file to download.

    Attributes:
        name: the canonical file name; with a mirror the file is fetched as ``<mirror>/<name>``.
        urls: the canonical URL, then mirrors of the same file, tried in that order.
        known_hash: ``"sha256:<hex>"`` (or ``"md5:<hex>"``, pooch's format) as published, or
            ``"git-blob-sha1:<hex>"``, git's object id of the file in a public repository; ``None`` where
            nothing is pinned (the install step then checks the content only).
    """

    name: str
    urls: tuple[str, ...]
    known_hash: str | None


@dataclass(frozen=True)
class DatasetSource:
    """How to get one dataset into the layout :func:`fedlib.data.load` reads.

    Attributes:
        name: dataset name (the folder under the data root).
        files: the files to download.
        install: the install step (a key of ``fedlib.data._fetch.INSTALLERS``).
        expect: published counts the install step checks (e.g. ``records`` for Purchase100).
        options: install-step settings (e.g. ``writers_per_shard`` for FEMNIST).
    """

    name: str
    files: tuple[RemoteFile, ...]
    install: str
    expect: Mapping[str, int] = field(default_factory=dict)
    options: Mapping[str, int] = field(default_factory=dict)


def _idx_files(bases: tuple[str, ...], sha256: dict[str, str]) -> tuple[RemoteFile, ...]:
    return tuple(
        RemoteFile(name, tuple(base + name for base in bases), "sha256:" + digest) for name, digest in sha256.items()
    )


#: PaddlePaddle's dataset bucket (``paddle/vision/datasets``: the same files, with torchvision's MD5s).
_PADDLE = "https://dataset.bj.bcebos.com/"
_MNIST_BASES = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
    _PADDLE + "mnist/",
)
# torchvision MD5s of the same files: f68b3c2d…, d53e105e…, 9fb629c4…, ec29112d…
_MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
_FASHION_BASES = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",  # the canonical host (the authors' README)
    # the authors' repository, at a fixed commit: data/fashion/ holds the same four files
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/b2617bb6d3ffa2e429640350f613e3291e10b141/"
    "data/fashion/",
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",  # Keras pins the same SHA-256
    _PADDLE + "fashion_mnist/",
)
# torchvision MD5s: 8d4fb7e6…, 25c81989…, bef4ecab…, bb300cfd…
_FASHION_SHA256 = {
    "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}

SOURCES: dict[str, DatasetSource] = {
    "mnist": DatasetSource("mnist", _idx_files(_MNIST_BASES, _MNIST_SHA256), "idx_gz"),
    "fashion_mnist": DatasetSource("fashion_mnist", _idx_files(_FASHION_BASES, _FASHION_SHA256), "idx_gz"),
    "cifar10": DatasetSource(
        "cifar10",
        (
            RemoteFile(
                "cifar-10-python.tar.gz",
                ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", _PADDLE + "cifar/cifar-10-python.tar.gz"),
                # torchvision MD5: c58f30108f718f92721af3b95e74349a
                "sha256:6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
            ),
        ),
        "cifar_tar",
    ),
    "purchase100": DatasetSource(
        "purchase100",
        (
            RemoteFile(
                "dataset_purchase.tgz",
                (
                    "https://raw.githubusercontent.com/privacytrustlab/datasets/"
                    "169de9de00de049dd2e571cf7279e64698ac046a/dataset_purchase.tgz",
                    "https://www.comp.nus.edu.sg/~reza/files/dataset_purchase.tgz",
                ),
                # git's object id of the file at that commit (no checksum is published); the install step
                # also checks 197,324 records × 601 fields
                "git-blob-sha1:3efa7476ad5ed7ac3e558d28585a186b38fc5f19",
            ),
        ),
        "purchase_tar",
        expect={"records": 197_324},
    ),
    "femnist": DatasetSource(
        "femnist",
        (
            RemoteFile(
                "fed_emnist.tar.bz2",
                ("https://storage.googleapis.com/tff-datasets-public/fed_emnist.tar.bz2",),
                "sha256:fe1ed5a502cea3a952eb105920bff8cffb32836b5173cb18a57a32c3606f3ea0",
            ),
        ),
        "tff_femnist",
        # sizes published in TFF's load_data docstring (only_digits=False)
        expect={"writers": 3_400, "train": 671_585, "test": 77_483},
        options={"writers_per_shard": 100},
    ),
}
