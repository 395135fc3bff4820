"""What the pre-aggregation meta-rules (``nnm``, ``bucketing``) share: choosing and running the base rule."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from .._checks import check_choice
from ..errors import InputTypeError
from ._base import Aggregate, get, names, needs


def base_options_of(base_options: object) -> dict:
    """The base rule's options as a fresh dict (None: no options)."""
    if base_options is None:
        return {}
    if not isinstance(base_options, Mapping):
        raise InputTypeError(
            f"base_options must be a mapping of the base rule's options; found {type(base_options).__name__}."
        )
    return dict(base_options)


def check_base(rule: str, base: object) -> str:
    """The base rule's name: any registered rule but the meta-rule itself."""
    return check_choice(base, [name for name in names() if name != rule], f"{rule} base rule")


def run_base(
    rule: str,
    rows: torch.Tensor,
    f: int,
    variant: str,
    base: str,
    base_options: dict,
    generator: object = None,
) -> Aggregate:
    """Aggregate the transformed ``rows`` with ``base`` (checked by :func:`check_base`).

    A ``generator`` given to the meta-rule reaches a base rule that needs one (e.g. DnC), unless
    ``base_options`` already holds one.
    """
    if generator is not None and "generator" in needs(base):
        base_options = {"generator": generator, **base_options}
    return get(base)(rows, f, variant=variant, **base_options)
