"""``python -m fedlib.sweep GRID.yaml``: the same as ``python -m fedlib sweep GRID.yaml``."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
