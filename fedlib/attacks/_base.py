"""The Crafted result type, the attack registry and the shared dispatch of `craft`."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .._checks import all_finite, check_choice, check_finite, check_int, check_matrix, reject_options
from ..errors import AttackInfeasible, ConfigError, NonFiniteError
from ..vocabulary import KNOWLEDGE, PERTURBATIONS, SEARCHES, VARIANTS


@dataclass(frozen=True)
class Crafted:
    """What an attack returns.

    Attributes:
        updates: the malicious updates, shape (n_malicious, d), same dtype and device as ``benign``.
        gamma: the scale γ found by the search (∇b + γ·∇p), or None for attacks without one.
        info: attack-specific diagnostics (perturbation used, number of probes, λ, z, ...).
    """

    updates: torch.Tensor
    gamma: float | None = None
    info: dict[str, object] = field(default_factory=dict)


AttackFn = Callable[..., Crafted]
#: What an attack may ask its caller (the FL engine) to supply as options: ``n_total``, the number of rows
#: the server aggregates this round; ``aggregator_options``, the options of the rule it simulates (with the
#: server's ``score_fn`` when that rule is Fang's defense).
ATTACK_NEEDS = ("n_total", "aggregator_options")
#: The settings :func:`craft` takes for every attack (and checks for every attack); an attack is passed only those
#: it declares at registration.
SHARED_SETTINGS = (
    "aggregator",
    "f",
    "perturbation",
    "search",
    "gamma_init",
    "tau",
    "knowledge",
    "generator",
    "variant",
)
_REGISTRY: dict[str, AttackFn] = {}
_SETTINGS: dict[str, tuple[str, ...]] = {}
_OPTIONS: dict[str, frozenset[str]] = {}
_NONFINITE_ALLOWED: set = set()
_NEEDS: dict[str, frozenset[str]] = {}
_TARGETS: dict[str, tuple[str, ...] | None] = {}
_GENERIC: set[str] = set()


def register(
    name: str,
    *,
    finite_output: bool = True,
    needs: tuple[str, ...] = (),
    targets: tuple[str, ...] | None = None,
    generic_form: bool = False,
    settings: tuple[str, ...] = (),
    options: tuple[str, ...] = (),
) -> Callable[[AttackFn], AttackFn]:
    """Register ``fn(benign, n_malicious, **kwargs) -> Crafted`` under ``name``.

    ``settings`` (from :data:`SHARED_SETTINGS`) names the shared settings of :func:`craft` the attack uses: craft
    passes it those as keyword arguments, and no other (it still checks every one, for every attack). ``options``
    names the attack's own keyword options: craft refuses any other option (except what ``needs`` supplies).

    ``craft`` rejects NaN/Inf in an attack's output (a sign of overflow) unless the attack is registered
    with ``finite_output=False``: a Byzantine client that sends NaN on purpose, e.g. to test the server's
    ``nonfinite`` policy. ``needs`` (from :data:`ATTACK_NEEDS`) declares what the caller supplies; the FL
    engine reads it instead of inspecting signatures. ``targets`` lists the aggregation rules the attack has a
    dedicated form for (it is given ``aggregator=`` one of them); None means it does not depend on the rule.
    ``generic_form=True`` (with ``targets``): the attack also has a form for every other registered rule, which
    it treats as a black box (the tailored attack); :func:`can_target` answers for a given rule.
    """
    unknown = sorted(set(needs) - set(ATTACK_NEEDS))
    if unknown:
        raise ValueError(f"register({name!r}): unknown needs {unknown}; allowed: {list(ATTACK_NEEDS)}")
    unknown = sorted(set(settings) - set(SHARED_SETTINGS))
    if unknown:
        raise ValueError(f"register({name!r}): unknown settings {unknown}; allowed: {list(SHARED_SETTINGS)}")

    def deco(fn: AttackFn) -> AttackFn:
        if name in _REGISTRY:
            raise RuntimeError(f"attack {name!r} registered twice")
        _REGISTRY[name] = fn
        _NEEDS[name] = frozenset(needs)
        _SETTINGS[name] = tuple(settings)
        _OPTIONS[name] = frozenset(options)
        _TARGETS[name] = None if targets is None else tuple(targets)
        if generic_form:
            if targets is None:
                raise ValueError(f"register({name!r}): generic_form=True needs the dedicated targets")
            _GENERIC.add(name)
        if not finite_output:
            _NONFINITE_ALLOWED.add(name)
        return fn

    return deco


def targets(name: str) -> tuple[str, ...] | None:
    """The aggregation rules attack ``name`` has a dedicated form for, or None when it does not depend on the
    rule. An attack with a generic form (:func:`generic_form`) also accepts every other registered rule.

    Example:
        >>> import fedlib.attacks as atk
        >>> atk.targets("fang"), atk.targets("lie")
        (('krum', 'multi_krum', 'bulyan', 'trimmed_mean', 'median'), None)
    """
    get(name)
    return _TARGETS[name]


def generic_form(name: str) -> bool:
    """Whether attack ``name`` has a black-box form for the rules outside :func:`targets` (the tailored attack).

    Example:
        >>> import fedlib.attacks as atk
        >>> atk.generic_form("tailored"), atk.generic_form("fang")
        (True, False)
    """
    get(name)
    return name in _GENERIC


def can_target(name: str, aggregator: str) -> bool:
    """Whether attack ``name`` can be aimed at the registered rule ``aggregator``: always for an attack that does
    not depend on the rule, for a rule of :func:`targets`, and for any registered rule with a generic form.

    Example:
        >>> import fedlib.attacks as atk
        >>> atk.can_target("fang", "nnm"), atk.can_target("tailored", "nnm"), atk.can_target("lie", "nnm")
        (False, True, True)
    """
    from .. import aggregators

    forms = targets(name)
    if forms is None or aggregator in forms:
        return True
    return name in _GENERIC and aggregator in aggregators.names()


def needs(name: str) -> frozenset[str]:
    """What attack ``name`` needs from its caller (subset of :data:`ATTACK_NEEDS`).

    Example:
        >>> import fedlib.attacks as atk
        >>> sorted(atk.needs("tailored"))
        ['aggregator_options', 'n_total']
    """
    get(name)
    return _NEEDS[name]


def names() -> list[str]:
    """Names accepted by :func:`craft`."""
    return list(_REGISTRY)


def get(name: str) -> AttackFn:
    check_choice(name, _REGISTRY, "attack")
    return _REGISTRY[name]


def craft(
    name: str,
    benign: torch.Tensor,
    n_malicious: int,
    *,
    aggregator: str | None = None,
    f: int | None = None,
    perturbation: str = "std",
    search: str = "halving",
    gamma_init: float | None = None,
    tau: float = 1e-5,
    knowledge: str = "full",
    generator: torch.Generator | None = None,
    variant: str = "textbook",
    **options,
) -> Crafted:
    """Craft ``n_malicious`` malicious updates with the attack ``name`` from what the adversary knows.

    ``benign`` holds every benign update of the round (``knowledge="full"``) or the malicious clients'
    own honest updates (``knowledge="partial"``); the caller decides which rows to pass.

    Every setting is checked for every attack (a misspelt one is never accepted silently); the attack itself is
    passed only the settings it declared at :func:`register`, and ``options`` only if it declared them.

    Raises :class:`~fedlib.errors.AttackInfeasible` when this round's rows do not allow the attack (e.g. one
    own row where a standard deviation needs two); :func:`feasible` gives the same verdict without crafting.
    """
    fn = get(name)
    check_choice(knowledge, KNOWLEDGE, "knowledge")
    check_choice(variant, VARIANTS, "variant")
    benign = check_matrix(benign, "benign")
    check_finite(benign, "benign")
    n_malicious = check_int(n_malicious, "n_malicious", minimum=1)
    _check_common_settings(aggregator, f, perturbation, search, tau)
    reject_options(options, f"attack {name!r}", _OPTIONS[name] | _NEEDS[name])
    from ._utils.feasibility import feasible

    reason = feasible(
        name,
        benign.shape[0],
        n_malicious,
        aggregator=aggregator,
        f=f,
        knowledge=knowledge,
        variant=variant,
        perturbation=perturbation,
        **options,
    )
    if reason is not None:
        raise AttackInfeasible(reason)
    shared = dict(
        aggregator=aggregator,
        f=f,
        perturbation=perturbation,
        search=search,
        gamma_init=gamma_init,
        tau=tau,
        knowledge=knowledge,
        generator=generator,
        variant=variant,
    )
    crafted = fn(benign, n_malicious, **{k: shared[k] for k in _SETTINGS[name]}, **options)
    if name not in _NONFINITE_ALLOWED:
        _check_output(name, crafted, benign)
    return crafted


def _check_common_settings(aggregator, f, perturbation, search, tau) -> None:
    """Validate the shared keyword settings once, for every attack, even those that do not use them:
    a misspelt setting must never be accepted silently."""
    from .. import aggregators  # deferred: attacks import aggregators, not the reverse

    if aggregator is not None:
        check_choice(aggregator, aggregators.names(), "aggregator")
    if f is not None:
        check_int(f, "f", minimum=0)
    check_choice(perturbation, PERTURBATIONS, "perturbation")
    check_choice(search, SEARCHES, "search")
    if isinstance(tau, bool) or not isinstance(tau, (int, float)) or not math.isfinite(tau) or tau <= 0:
        raise ConfigError(f"tau must be a finite number > 0; found {tau!r}.")


def _check_output(name: str, crafted: Crafted, benign: torch.Tensor) -> None:
    """Finite benign rows can still overflow inside an attack (squared distances of values near the
    dtype's maximum); never hand such NaN/Inf updates or γ to the caller."""
    gamma_ok = crafted.gamma is None or math.isfinite(crafted.gamma)
    if not gamma_ok or not all_finite(crafted.updates.sum(dim=1)):
        if gamma_ok and all_finite(crafted.updates):
            return  # only the row sums overflowed; every entry is finite
        raise NonFiniteError(
            f"attack {name!r} produced non-finite output (gamma={crafted.gamma}) from finite benign "
            f"updates of dtype {benign.dtype} with max |value| {float(benign.abs().max()):.3g}: "
            "intermediate squared distances overflowed; rescale the updates or use float64."
        )
