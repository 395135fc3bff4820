"""FedlibStrategy's options under Flower's names: FedAvg's keyword arguments, ``num_malicious_nodes``, ``beta``
(FedTrimmedAvg's trimmed fraction) and ``num_nodes_to_select`` (MultiKrum's count)."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from ..._checks import check_int
from ...errors import ConfigError

#: ``f`` as a number, or a policy ``f(n)`` for the number n of valid replies a round aggregates.
FPolicy = int | Callable[[int], int]


@dataclass(frozen=True)
class TrimFraction:
    """The f policy of Flower's ``beta``: trim ``int(beta * n)`` replies from each end (FedTrimmedAvg's cut).

    Example:
        >>> from fedlib.integrations.flower._options import TrimFraction
        >>> TrimFraction(0.2)(10), TrimFraction(0.2)(9)
        (2, 1)
    """

    beta: float

    def __call__(self, n: int) -> int:
        return int(self.beta * n)

    def __str__(self) -> str:
        return f"int({self.beta} n)"


def flower_options_in(
    options: dict[str, Any], flower_options: dict[str, Any] | None, names: Collection[str]
) -> dict[str, Any]:
    """Move the keyword arguments that are Flower FedAvg's (``names``) out of ``options``, merged with
    ``flower_options``; the same name in both is an error."""
    direct = {name: options.pop(name) for name in list(options) if name in names}
    given = dict(flower_options or {})
    both = sorted(set(direct) & set(given))
    if both:
        raise ConfigError(f"{both} given both as keyword arguments and in flower_options; give each once.")
    return {**given, **direct}


def resolve_f(aggregator: str, f: FPolicy | None, num_malicious_nodes: int | None, beta: float | None) -> FPolicy:
    """The f policy from exactly one of fedlib's ``f`` and Flower's ``num_malicious_nodes`` / ``beta``."""
    given = [
        name
        for name, value in (("f", f), ("num_malicious_nodes", num_malicious_nodes), ("beta", beta))
        if value is not None
    ]
    if len(given) != 1:
        raise ConfigError(
            f"give exactly one of f, num_malicious_nodes (Flower's name for f) and beta (trimmed mean only); "
            f"found {given or 'none'}."
        )
    if num_malicious_nodes is not None:
        return check_int(num_malicious_nodes, "num_malicious_nodes", minimum=0)
    if beta is not None:
        if aggregator != "trimmed_mean":
            raise ConfigError(
                f"beta (Flower FedTrimmedAvg's trimmed fraction) applies to trimmed_mean, not {aggregator!r}."
            )
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0.0 <= beta < 0.5:
            raise ConfigError(f"beta must be a fraction in [0, 0.5), as in Flower's FedTrimmedAvg; found {beta!r}.")
        return TrimFraction(float(beta))
    if isinstance(f, bool) or not (callable(f) or isinstance(f, int)):
        raise ConfigError(f"f must be an int or a callable f(n) -> int; found {f!r}.")
    return f if callable(f) else check_int(f, "f", minimum=0)


def rule_options_for(aggregator: str, options: dict[str, Any], num_nodes_to_select: int | None) -> dict[str, Any]:
    """The rule's options, with Flower's ``num_nodes_to_select`` as Multi-krum's ``n_select`` (Krum: 1)."""
    options = dict(options)
    if num_nodes_to_select is None:
        return options
    count = check_int(num_nodes_to_select, "num_nodes_to_select", minimum=1)
    if aggregator == "krum":
        if count != 1:
            raise ConfigError(f"Krum selects one reply; num_nodes_to_select={count} is Multi-krum (multi_krum).")
        return options
    if aggregator != "multi_krum":
        raise ConfigError(f"num_nodes_to_select (Flower's MultiKrum count) applies to multi_krum, not {aggregator!r}.")
    if "n_select" in options:
        raise ConfigError("give num_nodes_to_select or n_select, not both (the same count).")
    return {**options, "n_select": count}
