"""Moved to :mod:`fedlib.experiments.grids` (the paper's experiment grids are library content).

This alias keeps ``from fedlib.report import grids`` working: it is the same module object.
"""

import sys

from ..experiments import grids as _grids

sys.modules[__name__] = _grids
