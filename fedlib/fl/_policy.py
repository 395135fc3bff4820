"""What the server's rule assumes each round (the ``server_f`` policy) and the static feasibility check.

A cross-device round draws a varying number m_t of attackers; the rule then runs on the round's rows with the
f of the policy. :func:`check_feasible` enumerates every m_t a round can draw and asks
:func:`fedlib.aggregators.min_inputs` whether the rule accepts the rows it will see, so an impossible setting
is refused before round 1 instead of failing at round 900.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from .. import aggregators
from ..errors import ConfigError
from ..vocabulary import F_POLICIES, KRUM_FAMILY, LEGACY_F_POLICIES
from ._inputs import HasSetting, Setting, setting_of


@lru_cache(maxsize=4096)
def _largest_f(rule: str, n_rows: int, variant: str, options_json: str) -> int:
    options = json.loads(options_json)
    for f in range(n_rows, -1, -1):
        if aggregators.min_inputs(rule, f, variant=variant, **options) <= n_rows:
            return f
    return -1


def largest_f(rule: str, n_rows: int, *, variant: str = "textbook", options: Mapping | None = None) -> int:
    """The largest f for which ``rule`` accepts ``n_rows`` rows (``min_inputs(rule, f) <= n_rows``); -1 if none.

    Example:
        >>> from fedlib.fl import largest_f
        >>> largest_f("bulyan", 60), largest_f("krum", 60), largest_f("median", 60)
        (14, 28, 59)
    """
    return _largest_f(rule, int(n_rows), variant, json.dumps(dict(options or {}), sort_keys=True))


def round_f(
    policy,
    aggregator: str,
    m_t: int,
    n_rows: int | None = None,
    *,
    variant: str = "textbook",
    options: Mapping | None = None,
) -> tuple[int, int]:
    """(f the AGR assumes, number of crafted rows injected) for a round with ``m_t`` attackers drawn.

    * ``"actual"`` (legacy spelling ``"true"``): (m_t, m_t), the number of attackers in the round.
    * an int F: (F, m_t).
    * ``"capped"``: (min(m_t, F_max), m_t), F_max = :func:`largest_f` of the rule on ``n_rows`` rows: f is the
      number of attackers, but never more than the rule can handle (rare cross-device draws).
    * ``"ndss21_femnist"`` (the released FEMNIST code): Krum / Multi-krum f = max(2, m_t), Bulyan
      f = min(14, max(2, m_t)), with f crafted copies injected (surplus attackers stay honest); other rules
      (m_t, m_t). f is capped at F_max as in ``"capped"`` (for Bulyan on 60 rows F_max is the released code's 14;
      the released code has no cap for the other rules and would fail on the rare draws that exceed it).

    ``n_rows`` (the clients of the round) is needed by the capped policies.

    Example:
        >>> from fedlib.fl import round_f
        >>> round_f("actual", "krum", 3), round_f(1, "krum", 3)
        ((3, 3), (1, 3))
        >>> round_f("ndss21_femnist", "bulyan", 20, 60), round_f("ndss21_femnist", "krum", 1, 60)
        ((14, 14), (2, 2))
        >>> round_f("capped", "median", 12, 12)
        (11, 12)
    """
    policy = LEGACY_F_POLICIES.get(policy, policy) if isinstance(policy, str) else policy
    if policy == "actual":
        return m_t, m_t
    if isinstance(policy, int) and not isinstance(policy, bool):
        return policy, m_t
    if policy not in F_POLICIES:
        raise ConfigError(f"server_f: expected one of {list(F_POLICIES)} or an int; found {policy!r}.")
    if n_rows is None:
        raise ConfigError(f"server_f={policy!r} needs the round's number of rows (n_rows).")
    cap = largest_f(aggregator, n_rows, variant=variant, options=options)
    if policy == "capped" or aggregator not in KRUM_FAMILY:
        return max(0, min(m_t, cap)), m_t
    f = max(0, min(cap, 14 if aggregator == "bulyan" else n_rows, max(2, m_t)))
    return f, (f if m_t > 0 else 0)


def attacker_counts(source: Setting | HasSetting, n_total: int) -> Iterable[int]:
    """Every number of attackers m_t a round of the setting can draw from ``n_total`` clients.

    Cross-silo: n_malicious. With replacement: 0..k (one attacker can be drawn k times). Without replacement:
    max(0, k - honest)..min(k, n_malicious).
    """
    setting = setting_of(source)
    m, sampling = setting.threat.n_malicious, setting.training.sampling
    if sampling == "all":
        return [m]
    k = round_clients(setting, n_total)
    if m == 0:
        return [0]
    if sampling == "with_replacement":
        return range(0, k + 1)
    return range(max(0, k - (n_total - m)), min(k, m) + 1)


def round_clients(source: Setting | HasSetting, n_total: int) -> int:
    """k, the clients a round draws: all ``n_total`` cross-silo, else ``clients_per_round``."""
    training = setting_of(source).training
    if training.sampling == "all":
        return n_total
    if training.clients_per_round is None:  # Experiment rejects this; a Setting built by hand may not
        raise ConfigError(f"sampling={training.sampling!r} needs clients_per_round (an int >= 1); found None.")
    return training.clients_per_round


def rows_in_round(source: Setting | HasSetting, n_total: int, m_t: int) -> tuple[int, int, int]:
    """(f, inject, rows the server aggregates) for a round of the setting with ``m_t`` attackers drawn.

    The rows are the round's k clients, plus the extra crafted copies a policy injects beyond m_t. When the
    attack is skipped in a round (:class:`~fedlib.errors.AttackInfeasible`) the server sees exactly k rows.
    """
    setting = setting_of(source)
    defense = setting.defense
    k = round_clients(setting, n_total)
    f, inject = round_f(
        defense.server_f,
        defense.aggregator,
        m_t,
        k,
        variant=setting.options.variant,
        options=defense.aggregator_options,
    )
    attacking = setting.threat.attack != "none" and inject > 0
    return f, inject, (k + max(0, inject - m_t) if attacking else k)


def describe_cell(source: Setting | HasSetting) -> str:
    """A one-line name of the cell (for error messages and the dry run)."""
    setting = setting_of(source)
    data, training, defense, threat = setting.data, setting.training, setting.defense, setting.threat
    sampling = (
        "all clients" if training.sampling == "all" else f"{training.clients_per_round} per round {training.sampling}"
    )
    return (
        f"{data.dataset}/{training.model} {defense.aggregator} vs {threat.attack} ({threat.knowledge} knowledge), "
        f"{threat.n_malicious} malicious of {data.n_clients} clients, {sampling}, server_f={defense.server_f!r}"
    )


def rule_says(
    rule: str, n_rows: int, f: int, *, variant: str = "textbook", options: Mapping[str, Any] | None = None
) -> str:
    """The rule's own error message for ``n_rows`` rows and ``f`` (it states its size formula), or "" if it runs."""
    import torch

    from ..errors import FedlibError

    supplied: dict[str, Any] = {"generator": torch.Generator(), "score_fn": lambda vector: (0.0, 0.0)}
    extra = {k: v for k, v in supplied.items() if k in aggregators.needs(rule)}
    try:
        aggregators.aggregate(rule, torch.zeros(max(1, n_rows), 1), f, variant=variant, **dict(options or {}), **extra)
    except FedlibError as exc:
        return str(exc)
    return ""


def check_feasible(source: Setting | HasSetting, n_total: int | None = None) -> None:
    """Raise ConfigError naming the cell and the condition if the server's rule cannot run in some round.

    Every m_t of :func:`attacker_counts` is checked with ``min_inputs(rule, f, variant, **aggregator_options)``
    on the k rows the server is sure to see that round (k: the round's clients).

    ``source`` is a :class:`~fedlib.fl.Setting` or an object that offers one (an Experiment).

    Example:
        >>> from dataclasses import replace
        >>> from fedlib.fl import DataSetup, Defense, Setting, ThreatModel, TrainingSetup, check_feasible
        >>> s = Setting(DataSetup(n_clients=100), TrainingSetup(sampling="without_replacement", clients_per_round=20),
        ...             Defense(aggregator="median"), ThreatModel(n_malicious=20))
        >>> check_feasible(s)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        fedlib.errors.ConfigError: infeasible cell mnist5k/mnist_fc median vs none ... needs >= 21 rows ...
        >>> check_feasible(replace(s, defense=Defense(aggregator="median", server_f="capped")))
    """
    setting = setting_of(source)
    n_total = setting.data.n_clients if n_total is None else n_total
    if n_total is None:
        raise ConfigError("check_feasible needs the number of clients (n_clients is None: pass n_total).")
    rule, options, variant = setting.defense.aggregator, setting.defense.aggregator_options, setting.options.variant
    k = round_clients(setting, n_total)
    for m_t in attacker_counts(setting, n_total):
        f, _, _ = rows_in_round(setting, n_total, m_t)
        need = aggregators.min_inputs(rule, f, variant=variant, **options)
        if need > k:
            says = rule_says(rule, k, f, variant=variant, options=options)
            raise ConfigError(
                f"infeasible cell {describe_cell(setting)}: a round can draw m_t={m_t} attackers; {rule} with "
                f"f={f} needs >= {need} rows (fedlib.aggregators.min_inputs) and the server aggregates {k}"
                + (f" (the rule says: {says})" if says else "")
                + ". "
                + (
                    "Use server_f='capped' (f never above what the rule accepts) or fewer malicious clients."
                    if setting.training.sampling != "all"
                    else "Use fewer malicious clients or more clients."
                )
            )
