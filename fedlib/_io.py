"""Atomic file writes: the one writer every result, failure record and CLI output goes through."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def atomic_write(
    path: str | os.PathLike, write: Callable[[IO[bytes]], None], *, validate: Callable[[Path], None] | None = None
) -> None:
    """Call ``write(fh)`` on a temporary binary file in ``path``'s folder, fsync it, optionally ``validate(tmp_path)``
    it, then ``os.replace`` it onto ``path``: readers see the old file or the complete new one, never a partial file.
    On any error (a failed validation included) the temporary file is removed and ``path`` is untouched.

    Example:
        >>> import tempfile, pathlib
        >>> from fedlib._io import atomic_write
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.bin"
        >>> atomic_write(target, lambda fh: fh.write(b"\\x00\\x01"))
        >>> target.read_bytes()
        b'\\x00\\x01'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if validate is not None:
            validate(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str, *, validate: Callable[[Path], None] | None = None) -> None:
    """:func:`atomic_write` of ``text`` (UTF-8).

    Example:
        >>> import tempfile, pathlib
        >>> from fedlib._io import atomic_write_text
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.json"
        >>> atomic_write_text(target, '{"ok": true}')
        >>> target.read_text()
        '{"ok": true}'
    """
    data = text.encode("utf-8")

    def write(fh: IO[bytes]) -> None:
        fh.write(data)

    atomic_write(path, write, validate=validate)


def json_text(payload: Any) -> str:
    """``payload`` as fedlib writes JSON: indent 1, sorted keys; NaN/Inf rejected, never written."""
    return json.dumps(payload, indent=1, sort_keys=True, allow_nan=False)


def atomic_write_json(path: str | os.PathLike, payload: Any) -> None:
    """:func:`atomic_write_text` of ``payload`` as :func:`json_text`."""
    atomic_write_text(path, json_text(payload))
