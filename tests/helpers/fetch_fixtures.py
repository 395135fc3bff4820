"""Offline fixtures for fedlib.data.fetch: a loopback HTTP server and tiny archives in each official format.

``LoopbackServer`` serves in-memory files on 127.0.0.1 (a thread; it stops when the ``with`` block ends and,
as a safety net, by itself after ``lifetime`` seconds). It honours ``Range: bytes=N-`` (206) unless told not
to, can cut responses short (``cuts[path]``: byte caps for successive responses, sent with the full
Content-Length, then the connection closes), can stall (``stalls[path] = k``: send nothing at all for k = 0,
else the headers and k bytes, then nothing more until the block ends: a host that hangs) and logs every
request as (path, Range header).

The archive writers produce the files the real sources serve, shrunk to a few records:
IDX ``*-ubyte.gz`` (MNIST, Fashion-MNIST), ``cifar-10-python.tar.gz`` (python pickles with bytes keys),
``dataset_purchase.tgz`` (label 1..100 + 600 binary features per line) and TFF's ``fed_emnist.tar.bz2``
(HDF5 ``examples/<writer>/{pixels,label}``). ``fixture_registry`` turns them into fetch sources whose
checksums are the fixtures' own SHA-256 and whose expected counts are the fixtures' counts.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import socket
import tarfile
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from fedlib.data._sources import SOURCES, DatasetSource, RemoteFile


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def git_blob_sha1(data: bytes) -> str:
    """git's object id of a file with these bytes (what `git hash-object FILE` prints)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def closed_port() -> int:
    """A loopback port with nothing listening (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep the test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        server = self.server
        range_header = self.headers.get("Range")
        server.log.append((self.path, range_header))  # type: ignore[attr-defined]
        data = server.files.get(self.path)  # type: ignore[attr-defined]
        stall = server.stalls.get(self.path)  # type: ignore[attr-defined]
        if stall == 0:  # accept the connection, read the request, never answer
            server.release.wait(server.lifetime)  # type: ignore[attr-defined]
            return
        if data is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        if range_header and not server.ignore_range:  # type: ignore[attr-defined]
            start = int(range_header.split("=", 1)[1].split("-", 1)[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        body = data[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if stall:  # the headers and the first bytes, then silence
            self.wfile.write(body[:stall])
            self.wfile.flush()
            server.release.wait(server.lifetime)  # type: ignore[attr-defined]
            self.close_connection = True
            return
        caps = server.cuts.get(self.path)  # type: ignore[attr-defined]
        if caps:
            self.wfile.write(body[: caps.pop(0)])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)


class LoopbackServer:
    """``with LoopbackServer({"/a.bin": b"..."}) as srv: srv.url + "/a.bin"``."""

    def __init__(self, files: dict[str, bytes], *, cuts: dict[str, list[int]] | None = None,
                 ignore_range: bool = False, lifetime: float = 60.0, stalls: dict[str, int] | None = None):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.files, self.httpd.cuts = dict(files), dict(cuts or {})  # type: ignore[attr-defined]
        self.httpd.stalls, self.httpd.lifetime = dict(stalls or {}), lifetime  # type: ignore[attr-defined]
        self.httpd.release = threading.Event()  # type: ignore[attr-defined]
        self.httpd.ignore_range, self.httpd.log = ignore_range, []  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._timer = threading.Timer(lifetime, self.httpd.shutdown)
        self._timer.daemon = True

    @property
    def log(self) -> list[tuple[str, str | None]]:
        return self.httpd.log  # type: ignore[attr-defined]

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.release.set()  # type: ignore[attr-defined]  # stalled handlers end
        self._timer.cancel()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)


# ------------------------------------------------------------------------------- official-format writers
def idx_gz(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0)


def mnist_files(n_train: int = 12, n_test: int = 8, seed: int = 0) -> tuple[dict[str, bytes], dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte.gz": np.arange(n_train) % 10,
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": np.arange(n_test) % 10,
    }
    return {name: idx_gz(a) for name, a in arrays.items()}, arrays


def _tar(members: dict[str, bytes], mode: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def cifar_archive(per_batch: int = 4, seed: int = 0) -> tuple[bytes, np.ndarray]:
    """``cifar-10-python.tar.gz`` with 6 batches of ``per_batch`` images; returns (archive, all images)."""
    rng = np.random.default_rng(seed)
    members, images = {}, []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (per_batch, 3072)).astype(np.uint8)
        images.append(data)
        batch = {b"data": data, b"labels": rng.integers(0, 10, per_batch).tolist(), b"batch_label": name.encode()}
        members["cifar-10-batches-py/" + name] = pickle.dumps(batch, protocol=2)
    members["cifar-10-batches-py/batches.meta"] = pickle.dumps({b"label_names": [b"x"] * 10}, protocol=2)
    return _tar(members, "w:gz"), np.concatenate(images).reshape(-1, 3, 32, 32)


def purchase_archive(records: int = 20, seed: int = 0) -> tuple[bytes, np.ndarray]:
    """``dataset_purchase.tgz``: lines ``label(1..100),f1,...,f600``; returns (archive, table)."""
    rng = np.random.default_rng(seed)
    table = np.concatenate([rng.integers(1, 101, (records, 1)), rng.integers(0, 2, (records, 600))], axis=1)
    text = "\n".join(",".join(str(v) for v in row) for row in table) + "\n"
    return _tar({"dataset_purchase": text.encode()}, "w:gz"), table


def femnist_archive(folder: Path, writers: int = 3, seed: int = 0) -> tuple[bytes, dict[str, dict[str, np.ndarray]]]:
    """TFF's ``fed_emnist.tar.bz2`` with ``writers`` writers (2-3 train, 1 test example each)."""
    import h5py

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    content: dict[str, dict[str, np.ndarray]] = {}
    for split, sizes in (("train", [2 + w % 2 for w in range(writers)]), ("test", [1] * writers)):
        path = folder / f"fed_emnist_{split}.h5"
        with h5py.File(path, "w") as f:
            for w, n in enumerate(sizes):
                pixels = (rng.integers(0, 256, (n, 28, 28)) / 255.0).astype(np.float32)
                labels = rng.integers(0, 62, n).astype(np.int32)
                f.create_dataset(f"examples/f{w:04d}_00/pixels", data=pixels)
                f.create_dataset(f"examples/f{w:04d}_00/label", data=labels)
                content.setdefault(split, {})[f"f{w:04d}_00"] = pixels
    archive = _tar({p.name: p.read_bytes() for p in sorted(folder.glob("*.h5"))}, "w:bz2")
    return archive, content


# ---------------------------------------------------------------------------------------------- registry
def fixture_registry(base_url: str, files: dict[str, dict[str, bytes]], **expect) -> dict[str, DatasetSource]:
    """Fetch sources for ``files`` ({dataset: {file name: bytes}}) served at ``base_url/<dataset>/<file>``.

    Pins each file's own SHA-256; the install steps and options are the real ones; ``expect`` overrides the
    published counts per dataset (``expect={"cifar10": {"images": 24}}``-style keywords).
    """
    registry = {}
    for name, contents in files.items():
        remote = tuple(RemoteFile(f, (f"{base_url}/{name}/{f}",), "sha256:" + sha256(b)) for f, b in contents.items())
        registry[name] = replace(SOURCES[name], files=remote, expect=expect.get(name, {}))
    return registry
