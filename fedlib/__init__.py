"""fedlib: robust aggregation, model-poisoning attacks and a FedSGD engine reproducing
"Manipulating the Byzantine" (Shejwalkar & Houmansadr, NDSS 2021)."""

__version__ = "0.1.0"

from . import errors  # noqa: F401  (always available, no heavy imports)
