"""fedlib.data.fetch, offline: a loopback server serves tiny archives in each official format.

Nothing here touches the internet: every URL is 127.0.0.1 (a live LoopbackServer or a port with nothing
listening); the fixture checksums replace the pinned ones through ``fetch(..., registry=...)``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import time
from dataclasses import replace

import numpy as np
import pytest
from helpers.fetch_fixtures import (
    LoopbackServer,
    cifar_archive,
    closed_port,
    femnist_archive,
    fixture_registry,
    git_blob_sha1,
    mnist_files,
    purchase_archive,
    sha256,
)

from fedlib.cli.data import add_data_parser
from fedlib.data import _formats, default_data_root, fetch, load
from fedlib.data._download import ChecksumError, DownloadError
from fedlib.data._fetch import MARKER
from fedlib.data._sources import SOURCES, DatasetSource, RemoteFile
from fedlib.errors import ConfigError, DatasetNotFoundError, InputError, UnknownNameError

CIFAR = "cifar-10-python.tar.gz"


CHUNK = 1 << 16  # the downloader's read size: a cut mid-chunk loses that chunk, so cuts fall on its multiples


@pytest.fixture(scope="module")
def cifar():
    return cifar_archive(per_batch=16)  # ~300 KB: room for a few cuts


def _files_in(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def _served(dataset_files):
    return {f"/{name}/{f}": b for name, files in dataset_files.items() for f, b in files.items()}


def _cli(argv):
    parser = argparse.ArgumentParser()
    add_data_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


# ------------------------------------------------------------------------------------------ happy path
def test_fetch_installs_every_dataset_where_load_reads_it(tmp_path, cifar):
    mnist, mnist_arrays = mnist_files(seed=1)
    fashion, _ = mnist_files(seed=2)
    purchase, table = purchase_archive()
    femnist, pixels = femnist_archive(tmp_path / "h5")
    files = {"mnist": mnist, "fashion_mnist": fashion, "cifar10": {CIFAR: cifar[0]},
             "purchase100": {"dataset_purchase.tgz": purchase}, "femnist": {"fed_emnist.tar.bz2": femnist}}
    root = tmp_path / "data"
    with LoopbackServer(_served(files)) as server:
        registry = fixture_registry(server.url, files, mnist={"train": 12, "test": 8}, cifar10={"images": 96},
                                    purchase100={"records": 20}, femnist={"writers": 3, "train": 7, "test": 3})
        folders = fetch(list(files), root=root, progress=False, registry=registry)
        assert len(server.log) == 11 and all(rng is None for _, rng in server.log)
        assert fetch(list(files), root=root, progress=False, registry=registry) == folders  # installed: no-op
        assert len(server.log) == 11
    assert sorted(p.name for p in root.iterdir()) == sorted(files)  # no downloads/ or staging left
    for name, folder in folders.items():
        assert folder == root / name and (folder / MARKER).is_file()
        kwargs = {"partition": "writer"} if name == "femnist" else {"n_clients": 2}
        ds = load(name, folder, split_seed=0, **kwargs)
        assert ds.train_x.shape[0] > 0 and ds.test_x.shape[0] > 0
    train_x, train_y, _, _ = _formats.read_mnist_like("mnist", folders["mnist"], "raw")
    np.testing.assert_array_equal(train_x, mnist_arrays["train-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(_formats.read_cifar10(folders["cifar10"])[0], cifar[1])
    features, labels = _formats.read_purchase100(folders["purchase100"])
    np.testing.assert_array_equal(labels, table[:, 0] - 1)
    np.testing.assert_array_equal(features, table[:, 1:])
    writers, xs, _, _, _ = _formats.read_leaf(folders["femnist"])
    assert writers == sorted(pixels["train"])
    np.testing.assert_array_equal(xs[1], pixels["train"][writers[1]].reshape(-1, 784))  # exact float32 values
    note = json.loads((folders["cifar10"] / MARKER).read_text())
    assert note["files"][0]["sha256"] == sha256(cifar[0])


def test_femnist_writers_are_cut_into_leaf_shards_in_sorted_order(tmp_path):
    archive, pixels = femnist_archive(tmp_path / "h5", writers=5)
    files = {"femnist": {"fed_emnist.tar.bz2": archive}}
    with LoopbackServer(_served(files)) as server:
        registry = fixture_registry(server.url, files)
        registry["femnist"] = replace(registry["femnist"], options={"writers_per_shard": 2})
        folder = fetch("femnist", root=tmp_path / "d", progress=False, registry=registry)["femnist"]
    shards = sorted(p.name for p in (folder / "train").iterdir())
    assert shards == [f"all_data_{k}_niid_0_keep_0_train_9.json" for k in range(3)]
    first = json.loads((folder / "test" / "all_data_0_niid_0_keep_0_test_9.json").read_text())
    assert first["users"] == sorted(pixels["test"])[:2] and first["num_samples"] == [1, 1]
    assert len(load("femnist", folder, split_seed=0, partition="writer", shards=2).clients) == 4


def test_mirror_replaces_the_canonical_urls_and_keeps_the_pinned_checksum(tmp_path, cifar, monkeypatch):
    dead = f"http://127.0.0.1:{closed_port()}/{CIFAR}"
    source = DatasetSource("cifar10", (RemoteFile(CIFAR, (dead,), "sha256:" + sha256(cifar[0])),), "cifar_tar")
    with LoopbackServer({f"/mirror/{CIFAR}": cifar[0]}) as server:
        monkeypatch.setenv("FEDLIB_MIRROR", server.url + "/mirror/")
        fetch("cifar10", root=tmp_path / "a", progress=False, registry={"cifar10": source})
        assert server.log == [(f"/mirror/{CIFAR}", None)]
        monkeypatch.delenv("FEDLIB_MIRROR")
        fetch("cifar10", root=tmp_path / "b", mirror=server.url + "/mirror", progress=False,
              registry={"cifar10": source})
        assert len(server.log) == 2
        wrong_hash = "sha256:" + "0" * 64
        with pytest.raises(ChecksumError, match=sha256(cifar[0])):  # a mirror serving other bytes is refused
            fetch("cifar10", root=tmp_path / "c", mirror=server.url + "/mirror", progress=False,
                  registry={"cifar10": replace(source, files=(replace(source.files[0], known_hash=wrong_hash),))})
    assert not (tmp_path / "c").exists()


def test_default_root_is_fedlib_data(tmp_path, cifar, monkeypatch):
    monkeypatch.setenv("FEDLIB_DATA", str(tmp_path / "env-root"))
    assert default_data_root() == tmp_path / "env-root"
    with LoopbackServer({f"/cifar10/{CIFAR}": cifar[0]}) as server:
        registry = fixture_registry(server.url, {"cifar10": {CIFAR: cifar[0]}})
        assert fetch("cifar10", progress=False, registry=registry) == {"cifar10": tmp_path / "env-root" / "cifar10"}


# ------------------------------------------------------------------------------------------- resumption
def test_a_transfer_cut_short_resumes_with_a_range_request(tmp_path, cifar):
    files = {"cifar10": {CIFAR: cifar[0]}}
    path = f"/cifar10/{CIFAR}"
    with LoopbackServer(_served(files), cuts={path: [CHUNK, 2 * CHUNK]}) as server:
        fetch("cifar10", root=tmp_path, progress=False, registry=fixture_registry(server.url, files))
        assert server.log == [(path, None), (path, f"bytes={CHUNK}-"), (path, f"bytes={3 * CHUNK}-")]
    np.testing.assert_array_equal(_formats.read_cifar10(tmp_path / "cifar10")[0], cifar[1])


def test_an_interrupted_download_resumes_on_the_next_run(tmp_path, cifar):
    files = {"cifar10": {CIFAR: cifar[0]}}
    path = f"/cifar10/{CIFAR}"
    with LoopbackServer(_served(files), cuts={path: [CHUNK, CHUNK, CHUNK]}) as server:
        registry = fixture_registry(server.url, files)
        with pytest.raises(DownloadError, match="resume on the next run"):
            fetch("cifar10", root=tmp_path, progress=False, registry=registry)
        partial = tmp_path / "downloads" / (CIFAR + ".part")
        assert partial.stat().st_size == 3 * CHUNK and not (tmp_path / "cifar10").exists()
        fetch("cifar10", root=tmp_path, progress=False, registry=registry)
        assert server.log[-1] == (path, f"bytes={3 * CHUNK}-")
    assert _files_in(tmp_path)[0] == "cifar10" and not partial.exists() and not (tmp_path / "downloads").exists()


def test_a_server_that_ignores_range_makes_the_download_start_over(tmp_path, cifar):
    files = {"cifar10": {CIFAR: cifar[0]}}
    path = f"/cifar10/{CIFAR}"
    with LoopbackServer(_served(files), cuts={path: [CHUNK]}, ignore_range=True) as server:
        fetch("cifar10", root=tmp_path, progress=False, registry=fixture_registry(server.url, files))
        assert server.log == [(path, None), (path, f"bytes={CHUNK}-")]  # asked for the rest, got the whole file
    np.testing.assert_array_equal(_formats.read_cifar10(tmp_path / "cifar10")[0], cifar[1])


# ---------------------------------------------------------------------------------------------- failures
def test_a_wrong_checksum_names_expected_and_found_and_leaves_nothing(tmp_path, cifar):
    other = cifar_archive(seed=1)[0]
    with LoopbackServer({f"/cifar10/{CIFAR}": other}) as server:
        registry = fixture_registry(server.url, {"cifar10": {CIFAR: cifar[0]}})  # pins the seed-0 archive
        with pytest.raises(ChecksumError) as info:
            fetch("cifar10", root=tmp_path / "root", progress=False, registry=registry)
    message = str(info.value)
    assert f"expected {sha256(cifar[0])}" in message and f"found {sha256(other)}" in message
    assert not (tmp_path / "root").exists()


def test_a_truncated_file_is_a_checksum_error_and_leaves_nothing(tmp_path, cifar):
    truncated = cifar[0][: len(cifar[0]) // 2]  # the server itself holds half the file
    (tmp_path / "root").mkdir()
    with LoopbackServer({f"/cifar10/{CIFAR}": truncated}) as server:
        registry = fixture_registry(server.url, {"cifar10": {CIFAR: cifar[0]}})
        with pytest.raises(ChecksumError, match=f"expected {sha256(cifar[0])}, found {sha256(truncated)}"):
            fetch("cifar10", root=tmp_path / "root", progress=False, registry=registry)
    assert _files_in(tmp_path / "root") == []


def test_a_missing_file_404_says_what_to_download_and_where(tmp_path, cifar):
    with LoopbackServer({}) as server:
        registry = fixture_registry(server.url, {"cifar10": {CIFAR: cifar[0]}})
        with pytest.raises(DownloadError) as info:
            fetch("cifar10", root=tmp_path / "root", progress=False, registry=registry)
    message = str(info.value)
    assert "404" in message and f"{server.url}/cifar10/{CIFAR}" in message
    assert str(tmp_path / "root" / "downloads" / CIFAR) in message
    assert isinstance(info.value, DatasetNotFoundError) and not (tmp_path / "root").exists()


def test_offline_lists_every_url_and_path_and_a_file_put_there_by_hand_installs(tmp_path):
    files, _ = mnist_files()
    port = closed_port()
    remote = tuple(RemoteFile(f, (f"http://127.0.0.1:{port}/{f}",), "sha256:" + sha256(b)) for f, b in files.items())
    registry = {"mnist": replace(SOURCES["mnist"], files=remote)}
    root = tmp_path / "root"
    with pytest.raises(DownloadError) as info:
        fetch("mnist", root=root, progress=False, registry=registry)
    message = str(info.value)
    assert "connection refused" in message
    for f in files:
        assert f"http://127.0.0.1:{port}/{f}" in message and f"put it at {root / 'downloads' / f}" in message
    assert f"fedlib data fetch mnist --root {root}" in message
    (root / "downloads").mkdir(parents=True, exist_ok=True)
    for f, b in files.items():
        (root / "downloads" / f).write_bytes(b)
    folder = fetch("mnist", root=root, progress=False, registry=registry)["mnist"]
    assert load("mnist", folder, split_seed=0, n_clients=2).train_x.shape == (12, 1, 28, 28)


def test_purchase100_is_pinned_by_its_git_object_id_and_its_record_count_is_checked(tmp_path):
    pinned = SOURCES["purchase100"].files[0]
    assert pinned.known_hash == "git-blob-sha1:3efa7476ad5ed7ac3e558d28585a186b38fc5f19"
    assert pinned.urls[0].endswith("/privacytrustlab/datasets/169de9de00de049dd2e571cf7279e64698ac046a/"
                                   "dataset_purchase.tgz") and SOURCES["purchase100"].expect["records"] == 197_324
    archive, _ = purchase_archive(records=20)
    pin = "git-blob-sha1:" + git_blob_sha1(archive)
    source = replace(SOURCES["purchase100"], files=(RemoteFile("dataset_purchase.tgz", ("",), pin),))
    other = archive + b"\0"  # one byte more: another size, another id
    with LoopbackServer({"/dataset_purchase.tgz": archive, "/other/dataset_purchase.tgz": other}) as server:
        with pytest.raises(InputError, match="expected 197,324 records"):
            fetch("purchase100", root=tmp_path / "a", mirror=server.url, progress=False,
                  registry={"purchase100": source})
        assert not (tmp_path / "a").exists()
        with pytest.raises(ChecksumError, match=f"git-blob-sha1 checksum mismatch: expected {git_blob_sha1(archive)}, "
                                                f"found {git_blob_sha1(other)}"):
            fetch("purchase100", root=tmp_path / "c", mirror=server.url + "/other", progress=False,
                  registry={"purchase100": source})
        assert not (tmp_path / "c").exists()
        folder = fetch("purchase100", root=tmp_path / "b", mirror=server.url, progress=False,
                       registry={"purchase100": replace(source, expect={"records": 20})})["purchase100"]
    assert json.loads((folder / MARKER).read_text())["files"][0] == {
        "name": "dataset_purchase.tgz", "urls": [""], "pinned": pin, "sha256": sha256(archive)}


def test_git_object_ids_are_the_ones_git_computes(tmp_path):
    from fedlib.data._download import file_digest

    git = shutil.which("git")
    for data in (b"", b"hello\n", purchase_archive(records=3)[0]):
        path = tmp_path / "file"
        path.write_bytes(data)
        assert file_digest(path, "git-blob-sha1") == git_blob_sha1(data)
        if git:  # git itself, where installed, is the reference
            out = subprocess.run([git, "hash-object", str(path)], capture_output=True, text=True, check=True)
            assert out.stdout.strip() == git_blob_sha1(data)


def test_an_existing_folder_not_made_by_fetch_is_kept_unless_forced(tmp_path, cifar):
    (tmp_path / "cifar10").mkdir()
    (tmp_path / "cifar10" / "mine.txt").write_text("user data")
    with LoopbackServer({f"/cifar10/{CIFAR}": cifar[0]}) as server:
        registry = fixture_registry(server.url, {"cifar10": {CIFAR: cifar[0]}})
        with pytest.raises(ConfigError, match="not installed by fetch"):
            fetch("cifar10", root=tmp_path, progress=False, registry=registry)
        assert server.log == []
        fetch("cifar10", root=tmp_path, progress=False, registry=registry, force=True)
    assert _files_in(tmp_path / "cifar10")[0] == MARKER and not (tmp_path / "cifar10" / "mine.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cifar10"]


def test_unknown_names_are_refused_before_any_download(tmp_path):
    with pytest.raises(UnknownNameError, match="mnist5k"):
        fetch(["cifar10", "mnist5k"], root=tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------------- CLI
def test_cli_fetch_uses_the_pinned_checksums_with_a_mirror(tmp_path, cifar, capsys):
    with LoopbackServer({f"/{CIFAR}": cifar[0]}) as server:  # fixture bytes, not the real archive
        with pytest.raises(ChecksumError, match=SOURCES["cifar10"].files[0].known_hash.split(":")[1]):
            _cli(["data", "fetch", "cifar10", "--root", str(tmp_path), "--mirror", server.url, "--no-progress"])
    assert list(tmp_path.iterdir()) == []


def test_cli_fetch_installs_and_prints_the_folder(tmp_path, cifar, capsys, monkeypatch):
    source = DatasetSource("cifar10", (RemoteFile(CIFAR, ("",), "sha256:" + sha256(cifar[0])),), "cifar_tar")
    monkeypatch.setitem(SOURCES, "cifar10", source)
    with LoopbackServer({f"/{CIFAR}": cifar[0]}) as server:
        assert _cli(["data", "fetch", "cifar10", "--root", str(tmp_path), "--mirror", server.url]) == 0
    out = capsys.readouterr()
    assert f"cifar10: {tmp_path / 'cifar10'}" in out.out and "installing" in out.err


def test_cli_offline_message(tmp_path):
    mirror = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(DownloadError) as info:
        _cli(["data", "fetch", "fashion_mnist", "--root", str(tmp_path), "--mirror", mirror, "--no-progress"])
    for f in ("train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        assert f"{mirror}/{f}" in str(info.value) and str(tmp_path / "downloads" / f) in str(info.value)


def test_pixels_json_writes_the_text_json_writes_on_and_off_the_k_over_255_grid():
    from fedlib.data._tff_femnist import pixels_json

    rng = np.random.default_rng(0)
    on_grid = (rng.integers(0, 256, (5, 784)) / 255).astype(np.float32)
    off_grid = on_grid.copy()
    off_grid[2, 7] = np.float32(0.3)
    for x in (on_grid, off_grid, on_grid[:0]):
        text = pixels_json(x)
        assert text == json.dumps(x.tolist(), separators=(",", ":"))
        np.testing.assert_array_equal(np.asarray(json.loads(text), dtype=np.float32).reshape(x.shape), x)


def test_a_partial_file_that_is_already_whole_is_used_when_the_server_answers_416(tmp_path, cifar):
    files = {"cifar10": {CIFAR: cifar[0]}}
    (tmp_path / "downloads").mkdir()
    (tmp_path / "downloads" / (CIFAR + ".part")).write_bytes(cifar[0])  # e.g. a crash right after the last byte
    with LoopbackServer(_served(files)) as server:
        fetch("cifar10", root=tmp_path, progress=False, registry=fixture_registry(server.url, files))
        assert server.log == [(f"/cifar10/{CIFAR}", f"bytes={len(cifar[0])}-")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cifar10"]


# ------------------------------------------------------------------------------------ fallback sources
FAST = 0.5  # seconds a loopback source may stay silent in these tests before the next one is tried


def _sources_for(dataset, files, *bases):
    """``dataset``'s real install step with ``files`` fetched from each of ``bases`` in turn, pinned to the bytes."""
    remote = tuple(RemoteFile(f, tuple(f"{base}/{f}" for base in bases), "sha256:" + sha256(b))
                   for f, b in files.items())
    return {dataset: replace(SOURCES[dataset], files=remote, expect={})}


def test_the_built_in_sources_have_mirrors_with_the_published_pins():
    fashion, cifar = SOURCES["fashion_mnist"].files, SOURCES["cifar10"].files[0]
    assert [f.known_hash for f in fashion] == [  # torchvision's and Keras' published SHA-256, unchanged
        "sha256:3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "sha256:a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "sha256:346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "sha256:67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"]
    assert cifar.known_hash == "sha256:6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
    for file in (*fashion, cifar, *SOURCES["mnist"].files, *SOURCES["purchase100"].files):
        hosts = [url.split("/")[2] for url in file.urls]
        assert len(hosts) >= 2 and len(set(hosts)) == len(hosts), (file.name, hosts)
        assert all(url.endswith("/" + file.name) for url in file.urls), file.urls
    assert "raw.githubusercontent.com/zalandoresearch/fashion-mnist/" in fashion[0].urls[1]
    assert fashion[0].urls[2].startswith("https://storage.googleapis.com/tensorflow/tf-keras-datasets/")


def test_a_refused_first_host_falls_back_to_the_mirror_and_says_so(tmp_path, cifar, capsys):
    dead = f"http://127.0.0.1:{closed_port()}"
    with LoopbackServer({f"/m/{CIFAR}": cifar[0]}) as mirror:
        registry = _sources_for("cifar10", {CIFAR: cifar[0]}, dead, mirror.url + "/m")
        folder = fetch("cifar10", root=tmp_path, registry=registry, timeout=FAST)["cifar10"]
        assert mirror.log == [(f"/m/{CIFAR}", None)]
    np.testing.assert_array_equal(_formats.read_cifar10(folder)[0], cifar[1])
    err = capsys.readouterr().err
    assert (f"cifar10: {CIFAR}: source 1 of 2 failed, {dead}/{CIFAR}: connection refused; trying "
            f"{mirror.url}/m/{CIFAR}") in err


def test_a_host_that_stalls_is_abandoned_after_the_timeout_and_tried_last_for_the_next_files(tmp_path):
    files, arrays = mnist_files(seed=3)
    stalled = {f"/s/{f}": 0 for f in files}  # accepts the connection, never answers
    with LoopbackServer({}, stalls=stalled) as slow, LoopbackServer({f"/m/{f}": b for f, b in files.items()}) as good:
        registry = _sources_for("mnist", files, slow.url + "/s", good.url + "/m")
        start = time.perf_counter()
        folder = fetch("mnist", root=tmp_path, progress=False, registry=registry, timeout=FAST)["mnist"]
        elapsed = time.perf_counter() - start
        assert [path for path, _ in slow.log] == ["/s/train-images-idx3-ubyte.gz"]  # once, not once per file
        assert sorted(path for path, _ in good.log) == sorted(f"/m/{f}" for f in files)
    assert elapsed < 10 * FAST, f"a stalled host cost {elapsed:.1f} s"
    train_x, _, _, _ = _formats.read_mnist_like("mnist", folder, "raw")
    np.testing.assert_array_equal(train_x, arrays["train-images-idx3-ubyte.gz"])


def test_a_transfer_that_stalls_midway_resumes_from_the_mirror(tmp_path, cifar):
    path = f"/{CIFAR}"
    with LoopbackServer({path: cifar[0]}, stalls={path: CHUNK}) as slow, LoopbackServer({path: cifar[0]}) as good:
        registry = _sources_for("cifar10", {CIFAR: cifar[0]}, slow.url, good.url)
        fetch("cifar10", root=tmp_path, progress=False, registry=registry, timeout=FAST)
        # the stalling host is asked three times (each gave bytes), then the mirror for the rest only
        assert slow.log == [(path, None), (path, f"bytes={CHUNK}-"), (path, f"bytes={2 * CHUNK}-")]
        assert good.log == [(path, f"bytes={3 * CHUNK}-")]
    np.testing.assert_array_equal(_formats.read_cifar10(tmp_path / "cifar10")[0], cifar[1])


def test_a_mirror_serving_other_bytes_is_skipped(tmp_path, cifar, capsys):
    other = cifar_archive(seed=5)[0]
    with LoopbackServer({f"/bad/{CIFAR}": other, f"/good/{CIFAR}": cifar[0]}) as server:
        registry = _sources_for("cifar10", {CIFAR: cifar[0]}, server.url + "/bad", server.url + "/good")
        fetch("cifar10", root=tmp_path, registry=registry, timeout=FAST)
    err = capsys.readouterr().err
    assert f"source 1 of 2 failed, {server.url}/bad/{CIFAR}: sha256 checksum mismatch: expected {sha256(cifar[0])}, "\
           f"found {sha256(other)}" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cifar10"]


def test_every_source_failing_is_one_error_naming_each_source_and_why(tmp_path, cifar):
    dead = f"http://127.0.0.1:{closed_port()}"
    with LoopbackServer({}, stalls={f"/s/{CIFAR}": 0}) as slow, LoopbackServer({}) as empty:
        registry = _sources_for("cifar10", {CIFAR: cifar[0]}, dead, slow.url + "/s", empty.url + "/e")
        start = time.perf_counter()
        with pytest.raises(DownloadError) as info:
            fetch("cifar10", root=tmp_path / "root", progress=False, registry=registry, timeout=FAST)
        assert time.perf_counter() - start < 10 * FAST
    lines = str(info.value).splitlines()
    assert lines[:4] == [
        f"could not download dataset 'cifar10': every source of {CIFAR} failed:",
        f"  {dead}/{CIFAR}: connection refused",
        f"  {slow.url}/s/{CIFAR}: the server sent nothing for {FAST:g} s (read timeout: it stalled)",
        f"  {empty.url}/e/{CIFAR}: the server answered 404 Not Found",
    ]
    assert f"put it at {tmp_path / 'root' / 'downloads' / CIFAR}" in str(info.value)


def test_every_source_serving_other_bytes_is_a_checksum_error_listing_each(tmp_path, cifar):
    one, two = cifar_archive(seed=6)[0], cifar_archive(seed=7)[0]
    with LoopbackServer({f"/a/{CIFAR}": one, f"/b/{CIFAR}": two}) as server:
        registry = _sources_for("cifar10", {CIFAR: cifar[0]}, server.url + "/a", server.url + "/b")
        with pytest.raises(ChecksumError) as info:
            fetch("cifar10", root=tmp_path / "root", progress=False, registry=registry, timeout=FAST)
    message = str(info.value)
    assert f"{server.url}/a/{CIFAR}: sha256 checksum mismatch: expected {sha256(cifar[0])}, found {sha256(one)}" \
        in message and f"{server.url}/b/{CIFAR}" in message and sha256(two) in message
    assert not (tmp_path / "root").exists()


def test_cli_timeout_must_be_positive(tmp_path):
    with pytest.raises(ConfigError, match="--timeout: expected a number of seconds > 0; found 0"):
        _cli(["data", "fetch", "cifar10", "--root", str(tmp_path), "--timeout", "0"])
