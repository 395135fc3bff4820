"""``python -m fedlib data fetch NAME... [--root DIR] [--mirror URL]``: the command line of
:func:`fedlib.data.fetch`.

:func:`add_data_parser` registers the ``data`` command (with its ``fetch`` subcommand) on the subparsers of
``fedlib.cli``; the handler returns the exit code and lets fedlib errors reach ``fedlib.cli.main``, which
prints them and exits with 2.

Example:
    >>> import argparse
    >>> from fedlib.cli.data import add_data_parser
    >>> parser = argparse.ArgumentParser(prog="fedlib")
    >>> _ = add_data_parser(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["data", "fetch", "cifar10", "mnist", "--root", "/tmp/d", "--no-progress"])
    >>> args.names, args.root, args.mirror, args.progress
    (['cifar10', 'mnist'], '/tmp/d', None, False)
"""

from __future__ import annotations

import argparse


def add_data_parser(subparsers) -> argparse.ArgumentParser:
    """``data``: dataset tools; ``data fetch NAME...`` downloads, verifies and installs datasets."""
    from ..data._download import DEFAULT_TIMEOUT
    from ..data._sources import SOURCES

    data = subparsers.add_parser("data", help="dataset tools (fetch)", description="Dataset tools.")
    commands = data.add_subparsers(dest="data_command", required=True, metavar="{fetch}")
    fetch = commands.add_parser(
        "fetch",
        help="download, verify (pinned checksums) and install datasets",
        description="Download datasets from their canonical sources, check the pinned checksums, resume "
        "interrupted downloads and install each into ROOT/NAME in the layout `fedlib.data.load` reads. "
        "Offline, the error lists the URLs to download by hand and where to put the files.",
    )
    fetch.add_argument("names", nargs="+", metavar="NAME", help=f"dataset(s): {', '.join(SOURCES)}")
    fetch.add_argument(
        "--root",
        default=None,
        help="data root (default: $FEDLIB_DATA, else the user data folder, e.g. ~/.local/share/fedlib)",
    )
    fetch.add_argument(
        "--mirror",
        default=None,
        help="fetch each file as MIRROR/<file name> instead (default: $FEDLIB_MIRROR); "
        "the pinned checksums still apply",
    )
    fetch.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help="seconds a source may take to connect or send its next bytes before the next source is tried "
        f"(default {DEFAULT_TIMEOUT:g})",
    )
    fetch.add_argument("--force", action="store_true", help="replace ROOT/NAME if it exists")
    fetch.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    fetch.set_defaults(func=run_fetch)
    return data


def run_fetch(args: argparse.Namespace) -> int:
    """Handler of ``data fetch``: fetch, then print where each dataset is and how to load it."""
    from ..data._fetch import fetch
    from ..errors import ConfigError

    if not args.timeout > 0:
        raise ConfigError(f"--timeout: expected a number of seconds > 0; found {args.timeout:g}.")
    folders = fetch(
        args.names, root=args.root, mirror=args.mirror, progress=args.progress, force=args.force, timeout=args.timeout
    )
    for name, folder in folders.items():
        print(
            f"{name}: {folder}  (fedlib.data.load({name!r}, {str(folder)!r}, ...) or "
            f"`python -m fedlib run --dataset {name} --data-root {folder} ...`)"
        )
    return 0


__all__ = ["add_data_parser", "run_fetch"]
