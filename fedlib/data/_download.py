"""Downloading one file: pooch (pinned hash, temporary file, atomic move) with a downloader that resumes.

pooch streams every download into a fresh temporary file and has no resumption: an interrupted transfer
starts again from byte 0. :class:`ResumableHTTPDownloader` is a pooch downloader that keeps the bytes in
``<downloads>/<name>.part`` and, when that file exists, asks the server for the rest with an HTTP
``Range: bytes=<size>-`` request (a server that ignores Range answers 200 and the download starts over).
A transfer that breaks mid-way is resumed a few times within one call; a ``.part`` left by an earlier,
interrupted run is resumed on the next one. Once complete, the ``.part`` file becomes pooch's temporary
file, so pooch's hash check decides whether it is kept: on a mismatch nothing is left behind.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from ..errors import DatasetNotFoundError, FedlibError


class ChecksumError(FedlibError, ValueError):
    """A downloaded file's checksum differs from the pinned one (corrupt or truncated download)."""


class DownloadError(DatasetNotFoundError):
    """A file could not be downloaded (no connection, HTTP error); the message says how to get it by hand."""


_RETRYABLE_NAMES = ("ConnectionError", "ChunkedEncodingError", "Timeout", "ContentDecodingError")


def _content_range_start(header: str | None) -> int | None:
    """Start offset of a ``Content-Range: bytes START-END/TOTAL`` header (None if absent or malformed).

    >>> from fedlib.data._download import _content_range_start
    >>> _content_range_start("bytes 100-199/200"), _content_range_start(None)
    (100, None)
    """
    found = re.match(r"bytes (\d+)-", header or "")
    return int(found.group(1)) if found else None


class ResumableHTTPDownloader:
    """A pooch downloader (``downloader(url, output_file, pooch)``) that resumes through ``partial``.

    Args:
        partial: where the bytes accumulate (``<downloads>/<name>.part``); kept when a transfer fails so
            that the next call resumes from its size.
        progress: show a tqdm progress bar.
        attempts: transfers per call; a new attempt is made only after one that received bytes.
        timeout: seconds to wait for the server (connect and between reads).
        algorithm: hash of the complete file to record in ``.digest`` (for error messages), e.g. ``"sha256"``.
    """

    def __init__(
        self,
        partial: Path,
        *,
        progress: bool = True,
        attempts: int = 3,
        timeout: float = 30.0,
        algorithm: str | None = None,
    ):
        self.partial, self.progress, self.attempts, self.timeout = Path(partial), progress, attempts, timeout
        self.algorithm, self.digest = algorithm, None

    def __call__(self, url: str, output_file: str, pooch=None, check_only: bool = False) -> None:
        import requests

        if check_only:  # pooch's availability check
            with requests.head(url, allow_redirects=True, timeout=self.timeout) as response:
                return response.status_code == 200  # type: ignore[return-value]
        self.partial.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, self.attempts + 1):
            before = self._size()
            try:
                self._transfer(url)
                break
            except requests.RequestException as exc:
                retry = type(exc).__name__ in _RETRYABLE_NAMES and self._size() > before
                if attempt == self.attempts or not retry:
                    if self.partial.exists() and self._size() == 0:
                        self.partial.unlink()
                    raise
        if self.algorithm:
            from pooch import file_hash  # (the parameter `pooch` shadows the module name here)

            self.digest = file_hash(str(self.partial), alg=self.algorithm)
        os.replace(self.partial, output_file)  # pooch checks the hash, then moves it into place or deletes it

    def _size(self) -> int:
        return self.partial.stat().st_size if self.partial.exists() else 0

    def _transfer(self, url: str) -> None:
        import requests

        offset = self._size()
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        with requests.get(url, headers=headers, stream=True, timeout=self.timeout) as response:
            if offset and response.status_code == 416:  # nothing after `offset`: the partial file is whole
                return
            response.raise_for_status()
            resumed = (
                offset > 0
                and response.status_code == 206
                and _content_range_start(response.headers.get("Content-Range")) == offset
            )
            wrong_range = offset > 0 and response.status_code == 206 and not resumed
            if not wrong_range:
                self._write(response, offset if resumed else 0)  # 200 to a Range request: the whole file
        if wrong_range:  # a range we did not ask for: start over without Range
            self.partial.unlink()
            self._transfer(url)

    def _write(self, response, offset: int) -> None:
        from tqdm.auto import tqdm

        length = response.headers.get("Content-Length")
        total = offset + int(length) if length and length.isdigit() else None
        with (
            open(self.partial, "ab" if offset else "wb") as fh,
            tqdm(
                total=total,
                initial=offset,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                leave=True,
                desc=self.partial.name[: -len(".part")],
                disable=not self.progress,
            ) as bar,
        ):
            for chunk in response.iter_content(chunk_size=1 << 16):
                fh.write(chunk)
                bar.update(len(chunk))


#: Seconds to wait for a server to connect or to send the next bytes before trying the next source.
DEFAULT_TIMEOUT = 30.0


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc


def retrieve(
    file,
    downloads: Path,
    urls: list[str],
    *,
    progress: bool,
    timeout: float = DEFAULT_TIMEOUT,
    failed_hosts: set[str] | None = None,
    say: Callable[[str], None] | None = None,
) -> tuple[Path, bool]:
    """Put ``file`` (a :class:`~fedlib.data._sources.RemoteFile`) in ``downloads``, checked against its pin.

    A file already in ``downloads`` with the right checksum is used as it is (that is how files downloaded by
    hand are picked up). Otherwise each URL is tried in turn: a source that refuses, stalls for ``timeout``
    seconds, answers an HTTP error or serves bytes other than the pinned ones is reported through ``say`` and
    the next one is tried. Hosts in ``failed_hosts`` (those that failed for an earlier file of the same fetch)
    are tried last; a host that fails for a network reason is added to it.

    Returns: (path, downloaded): ``downloaded`` is False when the file was already there.

    Raises:
        ChecksumError: every source served other bytes than the pinned ones (nothing is kept).
        DownloadError: every source failed, some for a network reason; ``.failures`` lists (url, reason).
    """
    target = downloads / file.name
    if target.is_file() and matches(target, file.known_hash):
        return target, False
    failed_hosts = set() if failed_hosts is None else failed_hosts
    ordered = sorted(urls, key=lambda url: _host(url) in failed_hosts)  # stable: the given order otherwise
    failures: list[tuple[str, str]] = []
    mismatches = 0
    for number, url in enumerate(ordered, start=1):
        reason, mismatch = _try_source(file, downloads, url, progress=progress, timeout=timeout)
        if reason is None:
            return target, True
        failures.append((url, reason))
        mismatches += mismatch
        if not mismatch and not reason.startswith("the server answered"):
            failed_hosts.add(_host(url))
        if say is not None:
            following = f"; trying {ordered[number]}" if number < len(ordered) else ""
            say(f"{file.name}: source {number} of {len(ordered)} failed, {url}: {reason}{following}")
    listing = "\n".join(f"  {url}: {why}" for url, why in failures)
    if mismatches == len(failures):
        raise ChecksumError(f"{file.name}: every source served other bytes than the pinned checksum:\n{listing}")
    error = DownloadError(f"every source of {file.name} failed:\n{listing}")
    error.failures = failures  # type: ignore[attr-defined]
    raise error


def _try_source(file, downloads: Path, url: str, *, progress: bool, timeout: float) -> tuple[str | None, bool]:
    """Download ``file`` from ``url`` into ``downloads``: (None, False) when it arrived with the pinned checksum,
    else (why not, whether it was a checksum mismatch). A mismatching download is deleted."""
    import pooch
    import requests

    partial = downloads / (file.name + ".part")
    checked_by_pooch = file.known_hash is not None and _split_hash(file.known_hash)[0] in POOCH_ALGORITHMS
    algorithm = _split_hash(file.known_hash)[0] if checked_by_pooch else None
    downloader = ResumableHTTPDownloader(partial, progress=progress, algorithm=algorithm, timeout=timeout)
    pin = file.known_hash if checked_by_pooch else None
    try:
        pooch.retrieve(url, known_hash=pin, fname=file.name, path=downloads, downloader=downloader)
    except requests.HTTPError as exc:
        answer = exc.response  # set by raise_for_status, the only place pooch's HTTPErrors come from
        return (_reason(exc, timeout) if answer is None else f"the server answered {answer.status_code} "
                f"{answer.reason}"), False  # fmt: skip
    except requests.RequestException as exc:  # before ValueError: requests' URL errors are ValueErrors too
        return _reason(exc, timeout), False
    except ValueError as exc:  # pooch's hash mismatch; its temporary file (our .part) is already gone
        if pin is None or "hash" not in str(exc):
            raise
        return _mismatch_message(file, downloader.digest), True
    target = downloads / file.name
    if file.known_hash is not None and not checked_by_pooch and not matches(target, file.known_hash):
        found = file_digest(target, _split_hash(file.known_hash)[0])
        target.unlink()
        return _mismatch_message(file, found), True
    return None, False


def _split_hash(known_hash: str) -> tuple[str, str]:
    """``"md5:ab12"`` → ("md5", "ab12"); a bare digest is SHA-256 (pooch's convention).

    >>> from fedlib.data._download import _split_hash
    >>> _split_hash("md5:AB12"), _split_hash("ab12")
    (('md5', 'ab12'), ('sha256', 'ab12'))
    """
    algorithm, _, digest = known_hash.rpartition(":")
    return (algorithm or "sha256").lower(), digest.lower()


#: Pins pooch checks itself (hashlib names); ``git-blob-sha1`` (git's object id of a file in a public repository:
#: the SHA-1 of ``b"blob <size>\0"`` followed by the content) is checked here after the download.
POOCH_ALGORITHMS = ("md5", "sha1", "sha256", "sha512")
GIT_BLOB = "git-blob-sha1"


def file_digest(path: Path, algorithm: str) -> str:
    """The ``algorithm`` digest of ``path`` (a hashlib name, or ``git-blob-sha1``).

    >>> import tempfile, pathlib
    >>> from fedlib.data._download import file_digest
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "hello"
    >>> _ = path.write_bytes(b"hello\\n")
    >>> file_digest(path, "git-blob-sha1")  # `git hash-object hello` says the same
    'ce013625030ba8dba906f756967f9e9ca394464a'
    """
    import hashlib

    digest = hashlib.new("sha1" if algorithm == GIT_BLOB else algorithm)
    if algorithm == GIT_BLOB:
        digest.update(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def matches(path: Path, known_hash: str | None) -> bool:
    """Whether ``path`` has the checksum ``known_hash`` (always True when nothing is pinned)."""
    if known_hash is None:
        return True
    algorithm, digest = _split_hash(known_hash)
    return file_digest(path, algorithm) == digest


def _reason(exc: BaseException, timeout: float) -> str:
    import requests

    text = str(exc)
    if isinstance(exc, requests.ConnectTimeout):
        return f"no connection within {timeout:g} s (connect timeout)"
    if isinstance(exc, requests.ReadTimeout) or "Read timed out" in text:  # a stall mid-body is a ConnectionError
        return f"the server sent nothing for {timeout:g} s (read timeout: it stalled)"
    for needle, reason in (
        ("Connection refused", "connection refused"),
        ("Name or service not known", "the host name does not resolve (no DNS / offline)"),
        ("Temporary failure in name resolution", "the host name does not resolve (offline)"),
        ("Failed to resolve", "the host name does not resolve (offline)"),
        ("timed out", "the connection timed out"),
    ):
        if needle in text:
            return reason
    return f"{type(exc).__name__}: {text[:200]}"


def _mismatch_message(file, found: str | None) -> str:
    """Name the algorithm, the expected and the found checksum."""
    algorithm, expected = _split_hash(file.known_hash)
    return (
        f"{algorithm} checksum mismatch: expected {expected}, found {found}; the download is corrupt or "
        "truncated, or this source serves a different file (deleted, nothing kept)"
    )
