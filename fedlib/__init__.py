"""fedlib: robust aggregation, model-poisoning attacks and a FedSGD engine reproducing
"Manipulating the Byzantine" (Shejwalkar & Houmansadr, NDSS 2021).

Subpackages (imported on first use, so ``import fedlib`` stays light):
``aggregators`` (the AGRs), ``attacks``, ``data``, ``models``, ``fl`` (the FedSGD loop),
``experiments`` (configs, profiles, results cache), ``sweep`` (Dask grids), ``report`` (book helpers).
:func:`evaluate` gives a rule's report card against the paper's attacks and newer ones.
"""

import importlib

__version__ = "0.1.0"

from . import errors  # noqa: F401,E402  (always available, no heavy imports)

_SUBPACKAGES = ("aggregators", "attacks", "data", "models", "fl", "experiments", "sweep", "report")


def __getattr__(name):
    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    if name == "evaluate":  # the function (its module, fedlib._evaluate, loads the heavy parts on first use)
        return importlib.import_module("._evaluate", __name__).evaluate
    raise AttributeError(f"module 'fedlib' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBPACKAGES) + ["evaluate"])
