"""numba, configured once for every compiled kernel of the package.

numba's default OpenMP threading layer shares the OpenMP runtime with torch: its first parallel kernel resets
torch's thread count and leaves OpenMP threads spinning, after which small torch calls slow down by orders of
magnitude (measured on a 2-core machine: ``torch.isfinite`` on 79,510 floats 0.37 ms before a parallel median,
39 ms after, and torch's threads 1 -> 2). The ``workqueue`` layer is numba's own thread pool and touches
neither. A user who sets ``NUMBA_THREADING_LAYER`` keeps their choice.
"""

from __future__ import annotations

import os

try:  # numba is a declared dependency; the import error names it instead of failing deep inside a rule
    import numba
except ImportError as exc:  # pragma: no cover - exercised only on a broken install
    raise ImportError(
        "fedlib's compiled CPU kernels (median, trimmed_mean, bulyan, Krum selection) need numba; "
        "install the project's dependencies (pip install -e .)"
    ) from exc

if "NUMBA_THREADING_LAYER" not in os.environ:
    # numba.config sets its attributes at import time from the environment; its stubs do not list them
    numba.config.THREADING_LAYER = "workqueue"  # type: ignore[attr-defined]

__all__ = ["numba"]
