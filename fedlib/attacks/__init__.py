"""Model-poisoning attacks of the NDSS'21 paper: Fang, LIE, AGR-tailored, Min-Max and Min-Sum."""

from ._base import Crafted, craft, get, names, register
from . import _none  # noqa: F401  (registers "none")

__all__ = ["Crafted", "craft", "get", "names", "register"]
