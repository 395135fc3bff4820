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
from pathlib import Path

from ..errors import DatasetNotFoundError, FedlibError


class ChecksumError(FedlibError, ValueError):
    """A downloaded file's checksum differs from the pinned one (corrupt or truncated download)."""


class DownloadError(DatasetNotFoundError):
    """A file could not be downloaded (no connection, HTTP error); the message says how to get it by hand."""


_RETRYABLE_NAMES = ("ConnectionError", "ChunkedEncodingError", "Timeout", "ContentDecodingError")


def _content_range_start(header: str | None) -> int | None:
    """Start offset of a ``Content-Range: bytes START-END/TOTAL`` header (None if absent or malformed).

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
        timeout: float = 60.0,
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


def retrieve(file, downloads: Path, urls: list[str], *, progress: bool) -> tuple[Path, bool]:
    """Put ``file`` (a :class:`~fedlib.data._sources.RemoteFile`) in ``downloads``, checked against its pin.

    A file already in ``downloads`` with the right checksum is used as it is (that is how files downloaded by
    hand are picked up). Otherwise each URL is tried in turn.

    Returns: (path, downloaded): ``downloaded`` is False when the file was already there.

    Raises:
        ChecksumError: the download's checksum differs from the pinned one (nothing is kept).
        DownloadError: every URL failed; ``.failures`` lists (url, reason).
    """
    import pooch
    import requests

    target = downloads / file.name
    if target.is_file() and matches(target, file.known_hash):
        return target, False
    partial = downloads / (file.name + ".part")
    failures: list[tuple[str, str]] = []
    for url in urls:
        algorithm = _split_hash(file.known_hash)[0] if file.known_hash else None
        downloader = ResumableHTTPDownloader(partial, progress=progress, algorithm=algorithm)
        try:
            pooch.retrieve(url, known_hash=file.known_hash, fname=file.name, path=downloads, downloader=downloader)
            return target, True
        except requests.HTTPError as exc:
            answer = exc.response  # set by raise_for_status, the only place pooch's HTTPErrors come from
            reason = _reason(exc) if answer is None else f"the server answered {answer.status_code} {answer.reason}"
            failures.append((url, reason))
        except requests.RequestException as exc:  # before ValueError: requests' URL errors are ValueErrors too
            failures.append((url, _reason(exc)))
        except ValueError as exc:  # pooch's hash mismatch; its temporary file (our .part) is already gone
            if file.known_hash is None or "hash" not in str(exc):
                raise
            raise ChecksumError(_mismatch_message(file, url, downloader.digest)) from None
    error = DownloadError("; ".join(f"{u}: {why}" for u, why in failures))
    error.failures = failures  # type: ignore[attr-defined]
    raise error


def _split_hash(known_hash: str) -> tuple[str, str]:
    """``"md5:ab12"`` → ("md5", "ab12"); a bare digest is SHA-256 (pooch's convention).

    >>> _split_hash("md5:AB12"), _split_hash("ab12")
    (('md5', 'ab12'), ('sha256', 'ab12'))
    """
    algorithm, _, digest = known_hash.rpartition(":")
    return (algorithm or "sha256").lower(), digest.lower()


def matches(path: Path, known_hash: str | None) -> bool:
    """Whether ``path`` has the checksum ``known_hash`` (always True when nothing is pinned)."""
    import pooch

    if known_hash is None:
        return True
    algorithm, digest = _split_hash(known_hash)
    return pooch.file_hash(str(path), alg=algorithm) == digest


def _reason(exc: BaseException) -> str:
    text = str(exc)
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


def _mismatch_message(file, url: str, found: str | None) -> str:
    """Name the algorithm, the expected and the found checksum."""
    algorithm, expected = _split_hash(file.known_hash)
    return (
        f"{file.name} from {url}: {algorithm} checksum mismatch: expected {expected}, found {found}. "
        "The download is corrupt or truncated (or the "
        "file changed upstream); it was deleted, nothing was kept. Run the command again; if it persists, "
        "the source serves a different file."
    )
