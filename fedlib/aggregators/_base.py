"""The rule registry and the shared dispatch of `aggregate` (the result type, :class:`Aggregate`, is
:mod:`._aggregate`'s)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import torch

from .._checks import check_choice, check_finite, check_int, check_matrix, nonfinite_rows
from ..errors import ConfigError
from ..vocabulary import NONFINITE_POLICIES, VARIANTS
from ._aggregate import Aggregate

RuleFn = Callable[..., Aggregate]
#: ``min_inputs(f, variant, options) -> n``: the smallest number of input rows the rule accepts.
MinInputsFn = Callable[[int, str, Mapping[str, object]], int]
#: What a rule may ask its caller (e.g. the FL engine) to supply as keyword options.
RULE_NEEDS = ("generator", "score_fn")
_REGISTRY: dict[str, RuleFn] = {}
_CHECKS_FINITE: dict[str, bool] = {}
_NEEDS: dict[str, frozenset[str]] = {}
_MIN_INPUTS: dict[str, MinInputsFn] = {}
#: The entry-point group third-party packages declare their rules in (``[project.entry-points."fedlib.aggregators"]``).
ENTRY_POINT_GROUP = "fedlib.aggregators"
_PLUGINS_LOADED: set[str] = set()  # entry-point names already registered
_PLUGINS_SCANNED = False  # every entry point of the group loaded once (names() scans only then)
#: True while ``fedlib.aggregators`` registers its own rules (each returns an Aggregate by construction, tested
#: against the contract); its ``__init__`` sets it to False, and every rule registered after that is wrapped once
#: in a :class:`~fedlib.aggregators._user_rule.UserRule` (a tensor (d,) or an Aggregate, checked).
_REGISTERING_BUILT_INS = True


def more_than_f(f: int, variant: str, options: Mapping[str, object]) -> int:
    """The default minimum: any rule needs f < n, i.e. n >= f + 1."""
    return f + 1


def register(
    name: str,
    *,
    checks_finite: bool = False,
    needs: tuple[str, ...] = (),
    min_inputs: MinInputsFn | None = None,
) -> Callable[[RuleFn], RuleFn]:
    """Register ``fn(updates, f, *, variant, **options) -> Aggregate`` under ``name``; a function that returns
    the aggregate as a tensor (d,), e.g. ``def my_rule(updates, f=0, **kw): return updates.mean(dim=0)``, is
    accepted too. A rule from outside fedlib is wrapped once here and probed on a small synthetic input before
    anything trains (:mod:`fedlib.aggregators._user_rule`): a wrong signature, output shape, dtype or device, or
    non-finite output is a ConfigError naming the rule, what was expected and what came back. The decorator
    returns ``fn`` unchanged.

    ``checks_finite=True`` declares that ``fn`` itself rejects NaN/Inf input with NonFiniteError (every
    built-in rule does, through ``prepare``), so :func:`aggregate` skips its own pass over the matrix;
    for other rules :func:`aggregate` checks before calling them.

    ``needs`` names what the caller must supply as keyword options (from :data:`RULE_NEEDS`:
    ``"generator"``, a ``torch.Generator`` for the rule's random draws; ``"score_fn"``, a validation
    scorer); the FL engine reads it instead of inspecting signatures. ``min_inputs(f, variant, options)``
    is the smallest n the rule accepts (default n >= f + 1); config validation, the attacks' simulations,
    grids and the dry run all read it through :func:`min_inputs`.
    """
    unknown = sorted(set(needs) - set(RULE_NEEDS))
    if unknown:
        raise ValueError(f"register({name!r}): unknown needs {unknown}; allowed: {list(RULE_NEEDS)}")

    def deco(fn: RuleFn) -> RuleFn:
        if name in _REGISTRY:
            raise RuntimeError(f"aggregation rule {name!r} registered twice")
        _REGISTRY[name] = fn if _REGISTERING_BUILT_INS else _wrap(name, fn, frozenset(needs), min_inputs or more_than_f)
        _CHECKS_FINITE[name] = checks_finite
        _NEEDS[name] = frozenset(needs)
        _MIN_INPUTS[name] = min_inputs or more_than_f
        return fn

    return deco


def _wrap(name: str, fn: Callable, needs: frozenset[str], min_inputs: MinInputsFn) -> RuleFn:
    """A user's rule as one checked callable returning an Aggregate, probed before it is registered."""
    from ._user_rule import UserRule, unwrap

    rule = UserRule(name, unwrap(fn))
    rule.probe(needs, min_inputs)
    return rule


def registered_name(fn: Callable) -> str | None:
    """The name ``fn`` (a rule function as its author wrote it, or the registry's own callable) is registered
    under, or None."""
    from ._user_rule import unwrap

    return next((name for name, rule in _REGISTRY.items() if rule is fn or unwrap(rule) is fn), None)


def _unregister(name: str) -> None:
    for table in (_REGISTRY, _CHECKS_FINITE, _NEEDS, _MIN_INPUTS):
        table.pop(name, None)


@contextmanager
def registered(
    name: str,
    fn: RuleFn,
    *,
    checks_finite: bool = False,
    needs: tuple[str, ...] = (),
    min_inputs: MinInputsFn | None = None,
) -> Iterator[str]:
    """Register ``fn`` under ``name`` (as :func:`register`: an Aggregate or a tensor (d,) back) for the ``with``
    block only; it is gone after it, even when the block raises.

    Example:
        >>> import torch, fedlib.aggregators as agg
        >>> def first_row(updates, f, *, variant="textbook"):
        ...     return agg.Aggregate(updates[0].clone())
        >>> with agg.registered("first_row", first_row):
        ...     agg.aggregate("first_row", torch.eye(3), 1).vector
        tensor([1., 0., 0.])
        >>> "first_row" in agg.names()
        False
    """
    register(name, checks_finite=checks_finite, needs=needs, min_inputs=min_inputs)(fn)
    try:
        yield name
    finally:
        _unregister(name)


def _entry_points():
    from importlib.metadata import entry_points

    return entry_points(group=ENTRY_POINT_GROUP)


def _load_plugin(entry) -> None:
    """Register the rule of one entry point. Its module may register the rule itself (with :func:`register`,
    to declare ``needs`` / ``min_inputs``); otherwise the loaded callable is registered under the entry
    point's name with the defaults."""
    where = f"aggregation-rule plugin {entry.name!r} (entry point {entry.value!r} in group {ENTRY_POINT_GROUP!r})"
    before = _REGISTRY.get(entry.name)
    try:
        fn = entry.load()
    except Exception as exc:  # any failure inside a third-party import: name the plugin
        raise ConfigError(f"{where} failed to load: {type(exc).__name__}: {exc}") from exc
    if entry.name in _REGISTRY:
        from ._user_rule import unwrap

        if unwrap(_REGISTRY[entry.name]) is not fn:
            what = "a built-in or already registered rule" if before is not None else "another rule"
            raise ConfigError(f"{where}: the name {entry.name!r} is taken by {what}; rename the entry point.")
    elif not callable(fn):
        raise ConfigError(
            f"{where}: expected a rule fn(updates, f, *, variant, **options) -> Aggregate; found {type(fn).__name__}."
        )
    else:
        register(entry.name)(fn)
    _PLUGINS_LOADED.add(entry.name)


def load_plugins(name: str | None = None, *, refresh: bool = False) -> None:
    """Register the rules declared in the ``fedlib.aggregators`` entry-point group (all of them, or only the
    entry points called ``name``). The registry calls this itself, lazily: :func:`names` loads every plugin
    once, :func:`get` (and so :func:`aggregate`, :func:`needs`, :func:`min_inputs`) a missing name's plugin.
    ``refresh=True`` scans again (e.g. after installing a plugin in a running session). A plugin that fails
    to import, is not callable or takes a registered name raises :class:`~fedlib.errors.ConfigError` naming
    its entry point.
    """
    global _PLUGINS_SCANNED
    if name is None and _PLUGINS_SCANNED and not refresh:
        return
    for entry in _entry_points():
        if entry.name not in _PLUGINS_LOADED and (name is None or entry.name == name):
            _load_plugin(entry)
    if name is None:
        _PLUGINS_SCANNED = True


def needs(name: str) -> frozenset[str]:
    """What rule ``name`` needs from its caller (subset of :data:`RULE_NEEDS`), as declared at registration.

    Example:
        >>> import fedlib.aggregators as agg
        >>> sorted(agg.needs("dnc")), sorted(agg.needs("median"))
        (['generator'], [])
    """
    get(name)
    return _NEEDS[name]


def min_inputs(name: str, f: int, *, variant: str = "textbook", **options: object) -> int:
    """The smallest number of input rows rule ``name`` accepts when it assumes ``f`` malicious rows.

    ``options`` are the rule's own options where they change the answer (Fang's defense: ``base``,
    ``rule``, ``final_f``).

    Example:
        >>> import fedlib.aggregators as agg
        >>> agg.min_inputs("krum", 5), agg.min_inputs("bulyan", 5), agg.min_inputs("median", 5)
        (13, 23, 6)
    """
    get(name)
    check_choice(variant, VARIANTS, "variant")
    f = check_int(f, "f", minimum=0)
    return int(_MIN_INPUTS[name](f, variant, options))


def names() -> list[str]:
    """Names accepted by :func:`aggregate`: the built-in rules in the paper's order, then the rules registered
    at run time and those of installed plugins (:func:`load_plugins`)."""
    load_plugins()
    return list(_REGISTRY)


def get(name: str) -> RuleFn:
    """The rule function registered under ``name`` (a plugin's is loaded on first use; raises UnknownNameError
    otherwise)."""
    if isinstance(name, str) and name not in _REGISTRY:
        load_plugins(name)
    check_choice(name, _REGISTRY, "aggregation rule")
    return _REGISTRY[name]


def aggregate(
    name: str,
    updates: torch.Tensor,
    f: int,
    *,
    variant: str = "textbook",
    nonfinite: str = "raise",
    **options,
) -> Aggregate:
    """Aggregate the rows of ``updates`` with the rule ``name``, assuming ``f`` malicious rows.

    Args:
        name: a registered rule, one of :func:`names` (e.g. ``"median"``, ``"krum"``, ``"dnc"``; plugins add theirs).
        updates: floating tensor (n, d) on any device; one row per client.
        f: number of malicious inputs the server assumes.
        variant: ``"textbook"`` (original definitions) or ``"ndss21"`` (the authors' released code).
        nonfinite: ``"raise"`` (default) rejects NaN/Inf rows; ``"drop"`` removes them first and reports
            them in ``Aggregate.dropped`` (indices always refer to the caller's rows).
        **options: rule-specific keyword options; unknown ones raise.

    Example:
        >>> import torch, fedlib.aggregators as agg
        >>> x = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [100.0, 100.0]])
        >>> agg.aggregate("median", x, f=1).vector
        tensor([1.5000, 1.5000])
    """
    rule = get(name)
    check_choice(variant, VARIANTS, "variant")
    check_choice(nonfinite, NONFINITE_POLICIES, "nonfinite policy")
    updates = check_matrix(updates)
    f = check_int(f, "f", minimum=0)
    if nonfinite == "raise":
        if not _CHECKS_FINITE[name]:  # built-in rules check inside (one pass over the matrix, not two)
            check_finite(updates)
        return rule(updates, f, variant=variant, **options)
    bad = nonfinite_rows(updates)
    if bad.numel() == 0:
        return rule(updates, f, variant=variant, **options)
    keep = torch.ones(updates.shape[0], dtype=torch.bool, device=updates.device)
    keep[bad] = False
    kept_rows = torch.nonzero(keep).flatten()
    if kept_rows.numel() == 0:
        check_finite(updates)  # every row is bad: nothing to aggregate, raise the usual error
    result = rule(updates[kept_rows], f, variant=variant, **options)
    selected = None if result.selected is None else kept_rows[result.selected]
    return Aggregate(result.vector, selected, bad, dict(result.info))
