"""Argument handling shared by the attacks: the released γ_init constants, the simulated attacker count of
partial knowledge (the released code's), number checks and the stacking of malicious copies."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from ..._checks import check_choice, check_int
from ...errors import ConfigError
from ...vocabulary import SEARCHES

PARTIAL_RULES = ("square", "table")

# Released γ_init per attack/target, CIFAR10 notebooks. afa, fang and dnc have no released
# tailored attack; we use the agnostic value 10.0 for them (our choice).
GAMMA_INIT_CIFAR = {
    ("tailored", "krum"): 3.0,
    ("tailored", "multi_krum"): 3.0,
    ("tailored", "bulyan"): 3.0,
    ("tailored", "trimmed_mean"): 10.0,
    ("tailored", "median"): 10.0,
    ("tailored", "afa"): 10.0,
    ("tailored", "fang_defense"): 10.0,
    ("tailored", "dnc"): 10.0,
    ("min_max", None): 10.0,
    ("min_sum", None): 10.0,
}

# Released partial-knowledge map m -> m' of the CIFAR trimmed-mean / median notebooks.
PARTIAL_TABLE = {4: 1, 5: 1, 8: 2, 10: 3, 12: 4}


def gamma_init_for(attack: str, target: str | None, gamma_init: float | None) -> float:
    """The γ_init to use: the caller's value, else the released CIFAR10 constant (:data:`GAMMA_INIT_CIFAR`)."""
    if gamma_init is None:
        return GAMMA_INIT_CIFAR[(attack, target)]
    return check_positive(gamma_init, "gamma_init")


def check_positive(value: object, what: str) -> float:
    """A finite float > 0 (ints accepted)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{what} must be a positive number; found {type(value).__name__} {value!r}.")
    value = float(value)
    if not (value > 0 and math.isfinite(value)):
        raise ConfigError(f"{what} must be a finite number > 0; found {value}.")
    return value


def check_search(search: str) -> str:
    return check_choice(search, SEARCHES, "search")


def require_aggregator(aggregator: str | None, attack: str, targets) -> str:
    """The target AGR of an AGR-aware attack; raise if missing or not one the attack can target."""
    if aggregator is None:
        raise ConfigError(f"attack {attack!r} needs aggregator=<name of the server's rule>; one of {list(targets)}.")
    if not isinstance(aggregator, str) or aggregator not in targets:
        raise ConfigError(f"attack {attack!r} cannot target aggregator {aggregator!r}; it targets {list(targets)}.")
    return aggregator


def server_f(f: int | None, n_malicious: int) -> int:
    """The server's assumed number of malicious inputs: ``f``, or ``n_malicious`` when None."""
    return n_malicious if f is None else check_int(f, "f", minimum=0)


def simulated_attackers(n_malicious: int, rule: str, n_total: int | None, attack: str) -> int:
    """m', the number of fake attackers of the released code's partial-knowledge simulation (paper §III: partial
    knowledge).

    ``"square"``: m' = max(1, ⌊m²/n⌋) with n = ``n_total`` (CIFAR Krum/Multi-krum/Bulyan and all FEMNIST
    runs); ``"table"``: the hard-coded CIFAR trimmed-mean/median map {4:1, 5:1, 8:2, 10:3, 12:4}.
    """
    check_choice(rule, PARTIAL_RULES, "partial_rule")
    if rule == "table":
        if n_malicious not in PARTIAL_TABLE:
            raise ConfigError(
                f"attack {attack!r}: partial_rule='table' knows m in {sorted(PARTIAL_TABLE)}; found "
                f"n_malicious={n_malicious}. Use partial_rule='square' with n_total=..."
            )
        return PARTIAL_TABLE[n_malicious]
    if n_total is None:
        raise ConfigError(
            f"attack {attack!r} with knowledge='partial' and partial_rule='square' needs the option "
            "n_total (total number of clients in the round)."
        )
    n_total = check_int(n_total, "n_total", minimum=n_malicious)
    return max(1, n_malicious * n_malicious // n_total)


def partial_simulation(
    n_malicious: int,
    n_known: int,
    *,
    rule: str,
    variant: str,
    partial_rule: str | None,
    default_rule: str,
    n_total: int | None,
    attack: str,
    rule_options: Mapping[str, object] | None = None,
) -> tuple[int, int, dict]:
    """(copies, f, info) of the partial-knowledge simulation of ``rule`` on the adversary's ``n_known`` rows.

    m' = :func:`simulated_attackers` with ``partial_rule`` (default ``default_rule``); where the released
    table has no entry for m, the square rule is used instead (``info["partial_rule"]`` says which rule ran).
    The simulation assumes f = m'. When m' copies plus the own rows are fewer than the rule accepts
    (``fedlib.aggregators.min_inputs(rule, m')``, e.g. Krum's 2f + 3 with a single own row), the adversary adds
    simulated copies up to that minimum: ``info["padded_copies"]`` of them (0 when none were needed).
    """
    from ...aggregators import min_inputs

    chosen = partial_rule or default_rule
    if chosen == "table" and n_malicious not in PARTIAL_TABLE:
        chosen = "square"  # the released table only knows m in {4, 5, 8, 10, 12}
    f_sim = simulated_attackers(n_malicious, chosen, n_total, attack)
    need = min_inputs(rule, f_sim, variant=variant, **dict(rule_options or {}))
    copies = max(f_sim, need - n_known)
    return copies, f_sim, {"partial_rule": chosen, "padded_copies": copies - f_sim}


def malicious_vector(mean: torch.Tensor, gamma: float, direction: torch.Tensor) -> torch.Tensor:
    """∇b + γ·∇p in the dtype of ``mean``."""
    if gamma == 0.0:
        return mean.clone()
    return mean + gamma * direction


def with_copies(vector: torch.Tensor, n_copies: int, benign: torch.Tensor) -> torch.Tensor:
    """The (n_copies + k, d) matrix the server sees: the identical malicious copies first, then ``benign``."""
    return torch.cat([vector.unsqueeze(0).expand(n_copies, -1), benign], dim=0)


def repeat_rows(vector: torch.Tensor, n: int) -> torch.Tensor:
    """``n`` identical rows (a fresh tensor, not a view)."""
    return vector.unsqueeze(0).expand(n, -1).clone()


def need_generator(generator: torch.Generator | None, attack: str) -> torch.Generator:
    """Attacks that draw random numbers require an explicit generator (no global RNG state)."""
    if generator is None:
        raise ConfigError(
            f"attack {attack!r} draws random numbers; pass generator=torch.Generator().manual_seed(SEED)."
        )
    if not isinstance(generator, torch.Generator):
        raise ConfigError(f"generator must be a torch.Generator; found {type(generator).__name__}.")
    return generator
