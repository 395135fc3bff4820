"""Where the book's repository is: found, never assumed from where this package was installed.

fedbook is installed (``pip install -e ".[book]"``, ``make test``, ``make book``), so that plain papermill and
JupyterLab import it; an installed copy may live anywhere (a virtual environment's site-packages). The book's
sources are a folder holding ``_toc.yml`` and ``notebooks/``: the repository root, where ``results/`` and
``executed/`` are too. :func:`find_root` takes, in order:

1. ``$FEDBOOK_ROOT``, when set (an explicit choice: it must hold the book's sources);
2. the current folder or the nearest of its parents that holds them (papermill and JupyterLab run a notebook in
   ``notebooks/`` or at the repository root; ``make`` runs at the root);
3. the clone this package is imported from (``book/_lib/fedbook`` inside it: an editable install, or
   ``PYTHONPATH=book/_lib``);

and otherwise raises :class:`~fedlib.errors.ConfigError` naming what it looked for and where.

Example:
    >>> from fedbook.repository import find_root, is_book
    >>> root = find_root()
    >>> is_book(root) and (root / "notebooks" / "fl_setup.py").is_file()
    True
"""

from __future__ import annotations

import os
from pathlib import Path

from fedlib.errors import ConfigError

#: The environment variable that names the book's repository explicitly.
ROOT_VARIABLE = "FEDBOOK_ROOT"


def is_book(folder: Path) -> bool:
    """Whether ``folder`` holds the book's sources (``_toc.yml`` and ``notebooks/``)."""
    return (folder / "_toc.yml").is_file() and (folder / "notebooks").is_dir()


def find_root(start: os.PathLike | str | None = None) -> Path:
    """The book's repository root (module docstring for the order); ``start`` replaces the current folder."""
    explicit = os.environ.get(ROOT_VARIABLE)
    if explicit:
        folder = Path(explicit).expanduser().resolve()
        if not is_book(folder):
            raise ConfigError(f"${ROOT_VARIABLE}={explicit}: expected the book's repository (a folder with _toc.yml "
                              f"and notebooks/); found {'no such folder' if not folder.is_dir() else 'neither'}.")
        return folder
    here = Path(start if start is not None else Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if is_book(folder):
            return folder
    own = Path(__file__).resolve().parents[3]  # this file is <clone>/book/_lib/fedbook/repository.py
    if is_book(own):
        return own
    raise ConfigError(
        f"fedbook: no book repository (a folder with _toc.yml and notebooks/) at {here} or above it, nor around "
        f"this package ({Path(__file__).resolve().parent}); run from a clone of the repository or set "
        f"${ROOT_VARIABLE} to one."
    )
