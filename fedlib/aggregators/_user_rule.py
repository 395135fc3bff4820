r"""A rule from outside fedlib, in the form its author wrote it, wrapped once when it is registered.

The form a PyTorch user writes first returns a tensor::

    def my_rule(updates, f=0, **kw):          # updates: (n, d); f: malicious rows the server assumes
        keep = ...                            # e.g. the rows closest to the median
        return updates[keep].mean(dim=0)      # the aggregate, shape (d,)

and the library's own form returns an :class:`~fedlib.aggregators.Aggregate`
(``fn(updates, f, *, variant="textbook", **options) -> Aggregate(vector, selected)``). Both are accepted
wherever a rule is (:func:`~fedlib.aggregators.register`, :func:`~fedlib.aggregators.registered`, the
``fedlib.aggregators`` entry points, :func:`fedlib.evaluate` and ``python -m fedlib evaluate module:function``,
the FL engine, the Flower strategy), because the registry stores every such rule as one :class:`UserRule`:

1. **call form**: ``fn(updates, f, **options)``, every option with a default; ``variant`` is passed only when it
   is not ``"textbook"`` (a rule written without variants is the textbook form only);
2. **probe** (at registration, before any training): one call on a synthetic input, :math:`n \times d` float32
   rows on the CPU from a fixed seed, with ``f = 1``, :math:`n = \max(9, \text{min\_inputs}(1))`, :math:`d = 5`
   (with a seeded generator and a constant scorer when the rule needs them). The result must be a tensor of
   shape :math:`(d,)`, or an Aggregate whose ``vector`` is one, with the input's dtype and device and finite
   values; a call that fails (e.g. a rule without ``f``: a TypeError) is reported with the call form;
3. **every call**: the same shape, dtype and device checks (they cost nothing next to the rule). A non-finite
   aggregate mid-training is left to the engine, which records it as divergence, as for a built-in rule.

Any failure is a :class:`~fedlib.errors.ConfigError` naming the rule, what was expected and what came back.

Example:
    >>> import torch, fedlib.aggregators as agg
    >>> def middle_rows_mean(updates, f=0, **kw):
    ...     order = updates.norm(dim=1).argsort()
    ...     return updates[order[f : len(order) - f]].mean(dim=0)
    >>> with agg.registered("middle_rows_mean", middle_rows_mean):
    ...     agg.aggregate("middle_rows_mean", torch.tensor([[0.0], [1.0], [2.0], [90.0]]), f=1).vector
    tensor([1.5000])
    >>> def float64_mean(updates, f=0, **kw):
    ...     return updates.double().mean(dim=0)
    >>> agg.register("float64_mean")(float64_mean)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    fedlib.errors.ConfigError: aggregation rule 'float64_mean' (...): expected a tensor ... found dtype torch.float64.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from .._checks import all_finite
from ..errors import ConfigError
from ._aggregate import Aggregate

#: The probe's input: rows, columns and the f it passes (rows grow to the rule's ``min_inputs`` if it needs more).
PROBE_ROWS, PROBE_COLUMNS, PROBE_F = 9, 5, 1
PROBE_SEED = 0
#: What a TypeError of the probe call most likely means.
CALL_FORM = (
    " (expected a function called as fn(updates, f, **options): updates the (n, d) tensor, f the number of "
    "malicious rows the server assumes, every option with a default)"
)


def _describe(fn: Callable) -> str:
    module = getattr(fn, "__module__", None) or "?"
    return f"{module}.{getattr(fn, '__qualname__', type(fn).__name__)}"


class UserRule:
    """A registered rule from outside fedlib: calls ``fn`` and returns an :class:`Aggregate` (module docstring).

    Attributes:
        name: the registry name. fn: the function as its author wrote it.
    """

    def __init__(self, name: str, fn: Callable[..., Any]):
        self.name, self.fn = name, fn
        self.where = f"aggregation rule {name!r} ({_describe(fn)})"
        self.__doc__ = getattr(fn, "__doc__", None)

    def __repr__(self) -> str:
        return f"UserRule({self.name!r}, {_describe(self.fn)})"

    def __call__(self, updates: torch.Tensor, f: int, *, variant: str = "textbook", **options: Any) -> Aggregate:
        if variant == "textbook":  # the default: a rule written without variants is called without one
            return self.as_aggregate(self.fn(updates, f, **options), updates)
        try:
            out = self.fn(updates, f, variant=variant, **options)
        except TypeError as exc:
            if "'variant'" not in str(exc):
                raise
            raise ConfigError(f"{self.where} takes no `variant` argument, so it has the textbook form only; "
                              f"found variant={variant!r}.") from exc  # fmt: skip
        return self.as_aggregate(out, updates)

    def as_aggregate(self, out: object, updates: torch.Tensor) -> Aggregate:
        """``out`` as an Aggregate, after checking that its vector has the shape, dtype and device it must have."""
        vector = out.vector if isinstance(out, Aggregate) else out
        expected = (f"a tensor of shape ({updates.shape[1]},) with dtype {updates.dtype} on device "
                    f"{updates.device} (one value per column of the {tuple(updates.shape)} input), or an Aggregate "
                    "whose vector is one")  # fmt: skip
        if not isinstance(vector, torch.Tensor):
            raise ConfigError(f"{self.where}: expected {expected}; found {type(out).__name__}: {str(out)[:80]}.")
        wrong = [
            f"{what} {found}"
            for what, found, right in (
                ("shape", tuple(vector.shape), (updates.shape[1],)),
                ("dtype", vector.dtype, updates.dtype),
                ("device", vector.device, updates.device),
            )
            if found != right
        ]
        if wrong:
            raise ConfigError(f"{self.where}: expected {expected}; found {', '.join(wrong)}.")
        return out if isinstance(out, Aggregate) else Aggregate(vector)

    def probe(self, needs: frozenset[str], min_inputs: Callable[[int, str, Mapping[str, object]], int]) -> None:
        """Call the rule once on a small synthetic input (module docstring); raise ConfigError if it fails."""
        n = max(PROBE_ROWS, int(min_inputs(PROBE_F, "textbook", {})))
        generator = torch.Generator().manual_seed(PROBE_SEED)
        updates = torch.randn(n, PROBE_COLUMNS, generator=generator)
        supplied: dict[str, Any] = {"generator": generator, "score_fn": lambda vector: (0.0, 0.0)}
        extra = {key: value for key, value in supplied.items() if key in needs}
        what = f"the probe input ({n}×{PROBE_COLUMNS} float32 rows on the CPU, f={PROBE_F})"
        try:
            result = self(updates, PROBE_F, **extra)
        except ConfigError:
            raise
        except Exception as exc:  # any failure of third-party code: name the rule and the input
            hint = CALL_FORM if isinstance(exc, TypeError) else ""
            raise ConfigError(f"{self.where} failed on {what}: {type(exc).__name__}: {exc}{hint}") from exc
        if not all_finite(result.vector):
            raise ConfigError(
                f"{self.where}: expected finite values on {what}, whose rows are all finite; "
                f"found {result.vector.tolist()}."
            )


def unwrap(rule: Callable) -> Callable:
    """The function as its author wrote it: ``rule.fn`` for a :class:`UserRule`, else ``rule`` itself."""
    return rule.fn if isinstance(rule, UserRule) else rule
