"""Bucketing (Karimireddy, He & Jaggi, ICLR 2022), a randomized pre-aggregation for any rule."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Union

import torch

from .._checks import check_int, check_matrix, reject_options
from ..errors import InputTypeError
from ._base import Aggregate, min_inputs, register
from ._pre import base_options_of, check_base, run_base
from ._utils.common import prepare

GeneratorLike = Union[torch.Generator, int, None]  # noqa: UP007 (a runtime alias: no `|` on Python 3.10 types)


def as_generator(generator: GeneratorLike) -> torch.Generator:
    """The ``torch.Generator`` given, a CPU one seeded with the given int, or one seeded with 0 for None
    (the convention of ``dnc``: a training loop must pass its own generator)."""
    if isinstance(generator, torch.Generator):
        return generator
    if generator is None:
        generator = 0
    if isinstance(generator, bool) or not isinstance(generator, int):
        raise InputTypeError(
            f"generator must be a torch.Generator or an int seed; found {type(generator).__name__} {generator!r}."
        )
    return torch.Generator().manual_seed(check_int(generator, "generator (seed)", minimum=0))


def bucket_of_rows(n: int, s: int, generator: GeneratorLike) -> torch.Tensor:
    """Bucket index of every row: a random permutation π (drawn on the generator's device) cut into
    consecutive groups of s, the last one smaller when s does not divide n. LongTensor (n,) on that device."""
    generator = as_generator(generator)
    order = torch.randperm(n, generator=generator, device=generator.device)
    buckets = torch.empty_like(order)
    buckets[order] = torch.arange(n, device=order.device) // s
    return buckets


def bucket(updates: torch.Tensor, s: int, generator: GeneratorLike = None) -> torch.Tensor:
    r"""The ⌈n/s⌉ bucket means of Karimireddy et al.'s bucketing, shape (⌈n/s⌉, d).

    .. math::

        y_b = \frac{1}{|B_b|} \sum_{i \in B_b} x_{i}, \qquad
        B_b = \{\pi(bs+1), \dots, \pi(\min((b+1)s, n))\}, \quad b = 0, \dots, \lceil n/s \rceil - 1,

    with π a uniformly random permutation drawn from ``generator`` (a ``torch.Generator``, drawn on its
    device; an int seed; None = seed 0). The same generator state gives the permutation of
    ``torch.randperm(n)`` under the same seed, which is what ByzFL 0.0.11's ``Bucketing`` draws from
    torch's global generator. One (⌈n/s⌉, n)·(n, d) product; no copy of the rows.

    Example:
        >>> import torch
        >>> from fedlib.aggregators import bucket
        >>> x = torch.tensor([[0.0], [1.0], [2.0], [3.0], [4.0]])
        >>> torch.randperm(5, generator=torch.Generator().manual_seed(2))  # π: buckets {3, 4}, {1, 0}, {2}
        tensor([3, 4, 1, 0, 2])
        >>> bucket(x, 2, torch.Generator().manual_seed(2)).flatten()
        tensor([3.5000, 0.5000, 2.0000])
    """
    updates = check_matrix(updates)
    n = updates.shape[0]
    s = check_int(s, "s (bucket size)", minimum=1)
    return _bucket_means(updates, bucket_of_rows(n, s, generator))


def _bucket_means(updates: torch.Tensor, buckets: torch.Tensor) -> torch.Tensor:
    buckets = buckets.to(updates.device)
    n_buckets = int(buckets.max()) + 1
    members = torch.zeros(n_buckets, updates.shape[0], dtype=updates.dtype, device=updates.device)
    members[buckets, torch.arange(updates.shape[0], device=updates.device)] = 1.0
    return (members / members.sum(dim=1, keepdim=True)) @ updates


def bucketing_min_n(f: int, variant: str = "textbook", options: Mapping[str, object] | None = None) -> int:
    """⌈n/s⌉ buckets must satisfy the base rule's minimum for ``base_f`` (default f): n >= s·(m - 1) + 1."""
    options = dict(options or {})
    base = check_base("bucketing", options.get("base", "trimmed_mean"))
    s = options.get("s", 2)
    base_f = options.get("base_f")
    base_f = f if base_f is None else check_int(base_f, "base_f", minimum=0)
    need = min_inputs(base, base_f, variant=variant, **base_options_of(options.get("base_options")))
    return max(f + 1, check_int(s, "s (bucket size)", minimum=1) * (need - 1) + 1)


@register("bucketing", checks_finite=True, needs=("generator",), min_inputs=bucketing_min_n)
def bucketing(
    updates: torch.Tensor,
    f: int,
    *,
    variant: str = "textbook",
    s: int = 2,
    base: str = "trimmed_mean",
    base_options: Mapping[str, object] | None = None,
    base_f: int | None = None,
    generator: GeneratorLike = None,
    **options,
) -> Aggregate:
    r"""Bucketing then ``base``: aggregate the :func:`bucket` means of random groups of s rows.

    The base rule sees ⌈n/s⌉ bucket means. Each malicious row lands in exactly one bucket, so at most f
    buckets are contaminated: the base rule gets ``base_f`` = f by default (a fraction f·s/n of the
    buckets, Karimireddy et al.'s δ·s), with the same ``variant`` and ``base_options``. The smallest n
    follows: ⌈n/s⌉ >= ``min_inputs(base, base_f)`` (see ``min_inputs("bucketing", f, s=..., base=...)``).
    Default ``s=2`` (the paper's experiments) and ``base="trimmed_mean"`` (our choice).

    Randomness: the permutation comes only from ``generator`` (a ``torch.Generator``, drawn on its
    device, or an int seed); None means seed 0, the same buckets every call, as in ``dnc``: a training
    loop must pass its own. The same generator continues into a base rule that draws (DnC) unless
    ``base_options`` brings its own. ``selected``: the input rows of the buckets the base rule selected
    (ascending), None if it selects none; ``info``: ``buckets`` (bucket of every row), ``base_selected``
    and ``base_info``.

    Example:
        >>> import torch
        >>> from fedlib.aggregators import aggregate
        >>> x = torch.tensor([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0], [90.0]])
        >>> aggregate("bucketing", x, 1, s=2, base="median", generator=torch.Generator().manual_seed(0)).vector
        tensor([3.])
    """
    reject_options(options, "bucketing")
    s = check_int(s, "s (bucket size)", minimum=1)
    base_f = None if base_f is None else check_int(base_f, "base_f", minimum=0)
    base_options = base_options_of(base_options)
    check_base("bucketing", base)
    # The registered minimum with these options: prepare() checks it (one source for rule and config).
    settings = {"base": base, "base_options": base_options, "s": s, "base_f": base_f}
    updates, f = prepare(
        updates, f, variant, "bucketing", options=settings, formula=f"s*(min_inputs({base!r}, base_f) - 1) + 1"
    )
    base_f = f if base_f is None else base_f
    generator = as_generator(generator)
    buckets = bucket_of_rows(updates.shape[0], s, generator).to(updates.device)
    means = _bucket_means(updates, buckets)
    result = run_base("bucketing", means, base_f, variant, base, base_options, generator)
    selected = None
    if result.selected is not None:
        chosen = torch.zeros(means.shape[0], dtype=torch.bool, device=updates.device)
        chosen[result.selected] = True
        selected = torch.nonzero(chosen[buckets]).flatten()
    info: dict[str, object] = {"buckets": buckets, "base_selected": result.selected, "base_info": result.info}
    return Aggregate(result.vector, selected, info=info)
