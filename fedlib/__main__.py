"""``python -m fedlib``: see :mod:`fedlib.cli`."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m fedlib"))
