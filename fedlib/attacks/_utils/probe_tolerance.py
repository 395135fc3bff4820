r"""When a probe decided from a float64 model can be trusted to agree with the float32 evaluation on the
(n, d) matrix that the searches used before (fedlib ≤ acfa636), and what happens when it cannot.

The halving searches decide each probe from numbers built once per round in float64 (the quadratic distance
model of :mod:`fedlib.attacks._utils.quadratic`); the old probes evaluated the same quantity from the (n, d) float32
matrix (float32 products summed per column block, accumulated in float64, Krum's distances cast back to
float32). The two differ by rounding only. A probe is decided from the model when its margin — the gap between
the compared quantities (Krum scores of the winner and the runner-up; Min-Max's largest distance and the
threshold) — exceeds :data:`PROBE_RTOL` times their size; otherwise the probe is evaluated on the (n, d) matrix
exactly as before (``info["matrix_probes"]`` counts these), so the decision is the old one by construction.

:data:`PROBE_RTOL` = 2e-6 ≈ 34 float32 ulps. Measured at the ``scale`` size (80 benign Fashion-MNIST gradients,
d = 79,510, tailored Krum halving, 57 probes over 3 rounds), the float32 evaluation's relative margin differed
from the float64 value by at most 3.1e-7; the bound leaves a factor ≈ 6 for larger d, other data and BLAS
libraries. Only the last one or two probes of a halving search (those within ~1e-6 of the boundary) come
this close.
"""

PROBE_RTOL = 2e-6


def clear(value: float, reference: float) -> bool:
    """Whether ``value`` and ``reference`` differ by more than the rounding of the float32 evaluation."""
    return abs(value - reference) > PROBE_RTOL * max(abs(value), abs(reference))
