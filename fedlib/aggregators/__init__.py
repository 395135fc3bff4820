"""Robust aggregation rules (AGRs) of the NDSS'21 paper, vectorized over an (n, d) tensor.

Every rule is a function ``rule(updates, f, *, variant="textbook", **options) -> Aggregate`` and is
also reachable by name through :func:`aggregate`. ``variant="ndss21"`` reproduces the authors' released
code where it differs from the textbook definition; each rule's docstring lists the differences.
"""

from ._base import Aggregate, aggregate, get, names, register
from ._mean import mean

__all__ = ["Aggregate", "aggregate", "get", "names", "register", "mean"]
