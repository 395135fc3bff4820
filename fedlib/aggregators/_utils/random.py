"""The rules' one source of randomness: an explicit ``torch.Generator``, drawn on its own device."""

from __future__ import annotations

import torch

from ..._checks import check_int
from ...errors import InputTypeError


def as_generator(generator: torch.Generator | int | None, default_seed: int | None = None) -> torch.Generator:
    """The ``torch.Generator`` given (any device: draws then happen on that device), or a new CPU generator
    seeded with the given int (or with ``default_seed`` for None; None without a default raises).

    Example:
        >>> import torch
        >>> from fedlib.aggregators._utils.random import as_generator
        >>> as_generator(5).device, as_generator(None, default_seed=0).initial_seed()
        (device(type='cpu'), 0)
    """
    if isinstance(generator, torch.Generator):
        return generator
    if generator is None:
        if default_seed is None:
            raise InputTypeError("expected a torch.Generator or an int seed; found None.")
        generator = default_seed
    seed = check_int(generator, "generator (seed)", minimum=0)
    return torch.Generator().manual_seed(seed)


def draw_permutation(n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """``torch.randperm(n)`` drawn on the generator's device (so a CUDA generator works and the same seed
    gives the same draw on that device), then moved to ``device``."""
    return torch.randperm(n, generator=generator, device=generator.device).to(device)
