"""Atomic file writes: the one writer every result, failure record and CLI output goes through."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def atomic_write_text(path: str | os.PathLike, text: str, *, validate: Callable[[Path], None] | None = None) -> None:
    """Write ``text`` to a temporary file in ``path``'s folder, fsync it, optionally ``validate(tmp_path)`` it, then
    ``os.replace`` it onto ``path``: readers see the old file or the complete new one, never a partial file. On any
    error (a failed validation included) the temporary file is removed and ``path`` is untouched.

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.json"
        >>> atomic_write_text(target, '{"ok": true}')
        >>> target.read_text()
        '{"ok": true}'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if validate is not None:
            validate(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | os.PathLike, payload: Any) -> None:
    """:func:`atomic_write_text` of ``payload`` as JSON (indent 1, sorted keys; NaN/Inf rejected, never written)."""
    atomic_write_text(path, json.dumps(payload, indent=1, sort_keys=True, allow_nan=False))
