"""`fetch()`: download the full datasets, check them against pinned checksums, install them atomically.

``fetch(["cifar10", "femnist"], root=None, mirror=None)`` puts each dataset in ``<root>/<name>`` in exactly the
layout :func:`fedlib.data.load` reads, so ``load(name, <root>/<name>, ...)`` works right after:

====================  ==========================================  =================================================
dataset               downloaded (see ``_sources.py``)              installed as ``<root>/<name>/...``
====================  ==========================================  =================================================
``mnist``             the four IDX ``*-ubyte.gz`` files             the same four ``.gz`` files
``fashion_mnist``     the four IDX ``*-ubyte.gz`` files             the same four ``.gz`` files
``cifar10``           ``cifar-10-python.tar.gz``                  ``cifar-10-batches-py/{data_batch_1..5,test_batch}``
``purchase100``       ``dataset_purchase.tgz``                    ``dataset_purchase`` (git blob id pinned)
``femnist``           TFF's ``fed_emnist.tar.bz2`` (HDF5)          LEAF JSON shards ``{train,test}/all_data_<k>_...``
====================  ==========================================  =================================================

How it works, per dataset:

1. Each file is looked for in ``<root>/downloads/`` (a file put there by hand with the right checksum is used
   as it is), else downloaded there from its sources in order — the canonical host, then mirrors that serve
   the same bytes (``_sources.py``) — or from ``<mirror>/<file name>`` when a mirror is given (``mirror=`` /
   ``--mirror`` / ``$FEDLIB_MIRROR``); the pinned checksum is checked either way. A source that refuses, stalls
   (nothing for ``timeout`` seconds), answers an HTTP error or serves other bytes is reported on stderr and the
   next one is tried; a host that stalled for one file is tried last for the next. Interrupted downloads
   resume (``<root>/downloads/<file>.part``, HTTP Range requests), from the same source or the next.
2. The files are unpacked into a hidden staging folder in ``<root>``, checked (the loader's reader or the
   published record counts), and the staging folder is renamed to ``<root>/<name>`` in one step, with a
   ``.fedlib-fetch.json`` note of the sources and checksums. A second call finds the note and does nothing.
3. Downloads this call made are deleted once installed. When every source serves other bytes than the pin, or
   a check fails, nothing is left in ``<root>``; when every source fails and one of them for a network reason,
   the error lists each source and why, the URLs to download by hand and the exact path to put each file at,
   and the completed and partial downloads stay for the next run.

Default root: ``$FEDLIB_DATA`` if set, else the user data folder of platformdirs (e.g.
``~/.local/share/fedlib`` on Linux).

Example (network-free: an unknown name is refused before anything is downloaded):
    >>> from fedlib.data import fetch
    >>> fetch(["cifar100"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    fedlib.errors.UnknownNameError: unknown dataset to fetch 'cifar100'; expected one of ['mnist', ...
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from ..errors import ConfigError, InputError, UnknownNameError
from . import _formats
from ._download import DEFAULT_TIMEOUT, ChecksumError, DownloadError, matches, retrieve
from ._load import default_data_root
from ._sources import SOURCES, DatasetSource, RemoteFile
from ._tff_femnist import tff_to_leaf

MARKER = ".fedlib-fetch.json"
DOWNLOADS = "downloads"


def _say(progress: bool, text: str) -> None:
    if progress:
        print(text, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------- installers
def _extract(archive: Path, dest: Path, rename: Callable[[str], str | None]) -> list[Path]:
    """Copy the regular files of a tar archive for which ``rename(member_name)`` gives a relative path.

    Only regular files are written, at paths this code chooses, so links and ``..`` in member names cannot
    write outside ``dest`` (pooch's Untar applies tarfile's safety filter only on Python >= 3.12).
    """
    written = []
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:
            relative = rename(member.name) if member.isfile() else None
            if relative is None:
                continue
            out = dest / relative
            out.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(member) as src, open(out, "wb") as dst:  # type: ignore[union-attr]
                shutil.copyfileobj(src, dst, 1 << 20)
            written.append(out)
    return written


def _check_count(source: DatasetSource, what: str, found: int) -> None:
    expected = source.expect.get(what)
    if expected is not None and expected != found:
        raise InputError(f"{source.name}: expected {expected:,} {what} (published); found {found:,}.")


def _install_idx(files: dict[str, Path], dest: Path, source: DatasetSource) -> str:
    dest.mkdir(parents=True, exist_ok=True)
    for name, path in files.items():
        shutil.copyfile(path, dest / name)
    train_x, _, test_x, _ = _formats.read_mnist_like(source.name, dest, "raw")
    _check_count(source, "train", len(train_x))
    _check_count(source, "test", len(test_x))
    return f"{len(train_x):,} train + {len(test_x):,} test images"


def _install_cifar(files: dict[str, Path], dest: Path, source: DatasetSource) -> str:
    folder = "cifar-10-batches-py"
    wanted = set(_formats.CIFAR_FILES) | {"batches.meta", "readme.html"}

    def rename(member: str) -> str | None:
        parts = Path(member).parts
        return f"{folder}/{parts[-1]}" if len(parts) >= 2 and parts[-2] == folder and parts[-1] in wanted else None

    for archive in files.values():
        _extract(archive, dest, rename)
    images, _ = _formats.read_cifar10(dest)
    _check_count(source, "images", len(images))
    return f"{len(images):,} images"


_PURCHASE_LABELS = frozenset(str(k) for k in range(1, 101)) | frozenset(f"{k}.0" for k in range(1, 101))


def _install_purchase(files: dict[str, Path], dest: Path, source: DatasetSource) -> str:
    for archive in files.values():
        _extract(archive, dest, lambda m: "dataset_purchase" if Path(m).name == "dataset_purchase" else None)
    table = dest / "dataset_purchase"
    if not table.is_file():
        raise InputError(f"{source.name}: the archive holds no 'dataset_purchase' file.")
    records = 0
    with open(table) as fh:
        for records, line in enumerate(fh, start=1):
            fields = line.rstrip("\n").split(",")
            if len(fields) != 601 or fields[0].strip() not in _PURCHASE_LABELS:
                raise InputError(
                    f"{table} line {records}: expected a label in 1..100 and 600 features "
                    f"(601 fields); found {len(fields)} fields starting {fields[0]!r}."
                )
    _check_count(source, "records", records)
    return f"{records:,} records × 600 features"


def _install_femnist(files: dict[str, Path], dest: Path, source: DatasetSource) -> str:
    scratch = dest.parent / (dest.name + ".h5")
    names = {"fed_emnist_train.h5", "fed_emnist_test.h5"}
    for archive in files.values():
        _extract(archive, scratch, lambda m: Path(m).name if Path(m).name in names else None)
    missing = sorted(n for n in names if not (scratch / n).is_file())
    if missing:
        raise InputError(f"{source.name}: the archive lacks {missing}.")
    counts = tff_to_leaf(
        scratch / "fed_emnist_train.h5",
        scratch / "fed_emnist_test.h5",
        dest,
        int(source.options.get("writers_per_shard", 100)),
    )
    shutil.rmtree(scratch)
    for what in ("writers", "train", "test"):
        _check_count(source, what, counts[what])
    return (
        f"{counts['writers']:,} writers in {counts['shards']} shards, {counts['train']:,} train + "
        f"{counts['test']:,} test examples"
    )


INSTALLERS: dict[str, Callable[[dict[str, Path], Path, DatasetSource], str]] = {
    "idx_gz": _install_idx,
    "cifar_tar": _install_cifar,
    "purchase_tar": _install_purchase,
    "tff_femnist": _install_femnist,
}


# ------------------------------------------------------------------------------------------- messages
def _urls(file: RemoteFile, mirror: str | None) -> list[str]:
    return [mirror.rstrip("/") + "/" + file.name] if mirror else list(file.urls)


def _by_hand(source: DatasetSource, data_root: Path, mirror: str | None, cause: str) -> str:
    """The offline message: what to download, where to put it, what to run."""
    downloads = data_root / DOWNLOADS
    lines = [
        f"could not download dataset {source.name!r}: {cause}",
        "To install it without this machine's network, download on a machine with internet access:",
    ]
    for file in source.files:
        if (downloads / file.name).is_file() and matches(downloads / file.name, file.known_hash):
            continue
        pin = file.known_hash or "no published checksum"
        lines.append(f"  {' or '.join(_urls(file, mirror))}  ({pin})\n    and put it at {downloads / file.name}")
    partial = [f.name + ".part" for f in source.files if (downloads / (f.name + ".part")).is_file()]
    lines.append(
        f"then run `python -m fedlib data fetch {source.name} --root {data_root}` again: it checks the "
        "checksums and installs the files without the network."
    )
    if partial:
        lines.append(f"Partial downloads kept in {downloads} ({', '.join(partial)}) resume on the next run.")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------- fetch
def _prepare_target(target: Path, force: bool) -> bool:
    """True when ``target`` already holds a fetched copy (and force is off)."""
    if (target / MARKER).is_file() and not force:
        return True
    if target.exists() and any(target.iterdir()) and not force:
        raise ConfigError(
            f"{target} already exists and was not installed by fetch (no {MARKER}); move it "
            "away, or pass force=True / --force to replace it."
        )
    return False


def _download_all(
    source: DatasetSource, data_root: Path, mirror: str | None, progress: bool, downloaded: list[Path], timeout: float
) -> dict[str, Path]:
    import pooch

    files = {}
    failed_hosts: set[str] = set()  # a host that stalled for one file is tried last for the next ones
    for file in source.files:
        try:
            path, new = retrieve(
                file,
                data_root / DOWNLOADS,
                _urls(file, mirror),
                progress=progress,
                timeout=timeout,
                failed_hosts=failed_hosts,
                say=lambda text: _say(progress, f"{source.name}: {text}"),
            )
        except DownloadError as exc:
            raise DownloadError(_by_hand(source, data_root, mirror, str(exc))) from None
        if new:
            downloaded.append(path)
        if file.known_hash is None:
            _say(
                progress,
                f"{source.name}: {file.name} has no published checksum to check against (sha256 "
                f"{pooch.file_hash(str(path))}); its content is checked after unpacking",
            )
        files[file.name] = path
    return files


def _replace_dir(staged: Path, target: Path, scratch: Path) -> None:
    """Move ``staged`` to ``target`` with renames (one step when ``target`` is absent or empty)."""
    if target.exists() and any(target.iterdir()):
        target.rename(scratch / "replaced")
    elif target.exists():
        target.rmdir()
    staged.rename(target)


def _note(source: DatasetSource, files: dict[str, Path], summary: str, mirror: str | None) -> dict:
    import pooch

    return {
        "dataset": source.name,
        "installed": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "checked": summary,
        "mirror": mirror,
        "files": [
            {
                "name": f.name,
                "urls": list(f.urls),
                "pinned": f.known_hash,
                "sha256": pooch.file_hash(str(files[f.name])),
            }
            for f in source.files
        ],
    }


def _fetch_one(
    source: DatasetSource, data_root: Path, mirror: str | None, progress: bool, force: bool, timeout: float
) -> Path:
    target = data_root / source.name
    if _prepare_target(target, force):
        _say(progress, f"{source.name}: already installed in {target}")
        return target
    created_root = not data_root.exists()
    data_root.mkdir(parents=True, exist_ok=True)
    downloaded: list[Path] = []
    scratch = Path(tempfile.mkdtemp(prefix=f".fetch-{source.name}-", dir=data_root))
    offline = False
    try:
        files = _download_all(source, data_root, mirror, progress, downloaded, timeout)
        _say(progress, f"{source.name}: downloads match their pinned checksums; installing")
        staged = scratch / source.name
        summary = INSTALLERS[source.install](files, staged, source)
        note = _note(source, files, summary, mirror)
        (staged / MARKER).write_text(json.dumps(note, indent=1) + "\n")
        _replace_dir(staged, target, scratch)
    except (DownloadError, KeyboardInterrupt):
        offline = True  # completed and partial downloads stay in <root>/downloads for the next run
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        # installed, or failed for good: what this call downloaded goes; offline, it stays for the next run
        _remove([] if offline else downloaded, data_root, created_root)
    _say(progress, f"{source.name}: {summary} in {target}")
    return target


def _remove(paths: Iterable[Path], data_root: Path, created_root: bool) -> None:
    """Delete ``paths``, then ``<root>/downloads`` and (if this call made it) ``<root>`` when left empty."""
    for path in paths:
        path.unlink(missing_ok=True)
    for folder in (data_root / DOWNLOADS, data_root) if created_root else (data_root / DOWNLOADS,):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def fetch(
    names: str | Sequence[str],
    root: str | os.PathLike | None = None,
    mirror: str | None = None,
    progress: bool = True,
    *,
    registry: Mapping[str, DatasetSource] | None = None,
    force: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> dict[str, Path]:
    """Download, verify and install datasets; returns ``{name: folder}`` to pass as ``load(name, folder)``.

    Args:
        names: one or more of ``mnist``, ``fashion_mnist``, ``cifar10``, ``purchase100``, ``femnist``.
        root: data root (default :func:`default_data_root`); each dataset lands in ``<root>/<name>``.
        mirror: base URL; each file is then fetched as ``<mirror>/<file name>`` (default ``$FEDLIB_MIRROR``).
            The pinned checksums still apply.
        progress: progress bars and status lines on stderr.
        registry: replaces entries of the built-in source list (:data:`fedlib.data._sources.SOURCES`) by
            name, e.g. to point at a local server with other files and their checksums (the tests do this).
        force: replace an existing ``<root>/<name>``.
        timeout: seconds a source may take to connect or to send its next bytes; a source that stalls longer
            (or refuses, or answers an error, or serves other bytes) is reported and the next one is tried.

    Raises:
        UnknownNameError: a name has no source.
        ChecksumError: a download differs from its pinned checksum (nothing is kept).
        DownloadError: the network failed; the message lists the URLs and where to put each file.
        InputError: the unpacked files fail their check (nothing is kept).
        ConfigError: ``<root>/<name>`` holds files fetch did not install (and force is off).
    """
    import pooch

    sources = dict(SOURCES, **dict(registry or {}))
    wanted = [names] if isinstance(names, str) else list(names)
    for name in wanted:
        if name not in sources:
            raise UnknownNameError(f"unknown dataset to fetch {name!r}; expected one of {list(sources)}.")
    data_root = Path(root).expanduser() if root is not None else default_data_root()
    mirror = mirror if mirror is not None else (os.environ.get("FEDLIB_MIRROR") or None)
    logger, level = pooch.get_logger(), pooch.get_logger().level
    logger.setLevel("WARNING")  # our own status lines replace pooch's
    try:
        return {name: _fetch_one(sources[name], data_root, mirror, progress, force, timeout) for name in wanted}
    finally:
        logger.setLevel(level)


__all__ = ["fetch", "default_data_root", "ChecksumError", "DownloadError", "SOURCES", "DatasetSource", "RemoteFile"]
