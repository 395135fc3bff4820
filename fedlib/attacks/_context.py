"""An attack's inputs in one round, assembled in one place.

The FedSGD engine (:class:`fedlib.fl.FedSGD`), the report card (:func:`fedlib.evaluate`) and the Flower attack
simulation (:class:`fedlib.integrations.flower.AttackSimulation`) each know a round in their own terms: its rows,
the server's rule and options, its scoring function, a generator. :meth:`AttackContext.of` turns that into what
:func:`~fedlib.attacks.craft` takes, by one set of rules:

* the rows the attack crafts from: every benign row the server aggregates (``knowledge="full"``) or the acting
  attackers' own honest rows (``"partial"``);
* ``n_total``, for the attacks that need it (:func:`~fedlib.attacks.needs`): the rows the server aggregates this
  round, the crafted ones and the benign ones;
* ``aggregator_options``, for the attacks that simulate the rule: the server's rule options when the attack aims
  at the server's rule (the adversary knows the rule it simulates), plus the server's scoring function when the
  simulated rule needs one (Fang's defense scores candidate models);
* the attack's own options, which win over anything supplied.

Example:
    >>> import torch
    >>> from fedlib.attacks import AttackContext
    >>> benign = torch.randn(8, 5, generator=torch.Generator().manual_seed(0))
    >>> ctx = AttackContext.of("lie", benign=benign, n_crafted=2, target="median", f=2, variant="textbook")
    >>> ctx.options, ctx.known.shape[0]
    ({'n_total': 10}, 8)
    >>> ctx.craft().updates.shape
    torch.Size([2, 5])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import AttackInfeasible, ConfigError
from ._base import Crafted, needs

#: A server's scoring function (Fang's defense): the (loss, error rate in [0, 1]) of the model an aggregate makes.
ScoreFn = Callable[[torch.Tensor], tuple[float, float]]


@dataclass(frozen=True)
class AttackContext:
    """What :func:`~fedlib.attacks.craft` is given in one round: ``attack`` crafts ``n_crafted`` rows from
    ``known``, aimed at rule ``target`` with ``f``, in ``knowledge`` and ``variant``, with the γ-search settings,
    the ``generator`` of its random draws and its ``options`` (its own, plus what it needs from the server).

    Build it with :meth:`of`; :meth:`craft` crafts.
    """

    attack: str
    known: torch.Tensor
    n_crafted: int
    target: str | None
    f: int | None
    knowledge: str = "full"
    variant: str = "textbook"
    perturbation: str = "std"
    search: str = "halving"
    gamma_init: float | None = None
    generator: torch.Generator | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        attack: str,
        *,
        benign: torch.Tensor,
        n_crafted: int,
        target: str | None,
        f: int | None,
        variant: str,
        own: torch.Tensor | None = None,
        knowledge: str = "full",
        perturbation: str = "std",
        search: str = "halving",
        gamma_init: float | None = None,
        generator: torch.Generator | None = None,
        attack_options: Mapping[str, Any] | None = None,
        server_rule: str | None = None,
        rule_options: Mapping[str, Any] | None = None,
        score_fn: ScoreFn | None = None,
    ) -> AttackContext:
        """The context of one round (module docstring for the rules).

        Args:
            attack: the attack's registered name.
            benign: the benign rows the server aggregates beside the crafted ones.
            n_crafted: how many malicious rows to craft.
            target: the rule the attack aims at (None: an attack that does not depend on it).
            f: the f the attack assumes (None: ``n_crafted``).
            variant: ``"textbook"`` or ``"ndss21"``.
            own: the acting attackers' own honest rows (needed with ``knowledge="partial"``).
            knowledge, perturbation, search, gamma_init, generator: as :func:`~fedlib.attacks.craft` takes them.
            attack_options: the attack's own options.
            server_rule, rule_options: the server's rule and its options (None: unknown to the adversary).
            score_fn: the server's scoring function, given to a simulated rule that needs one.
        """
        if knowledge == "partial" and own is None:
            raise ConfigError(f"attack {attack!r} with knowledge='partial' needs the attackers' own rows (own=...).")
        known = benign if knowledge == "full" or own is None else own
        options = dict(attack_options or {})
        wanted = needs(attack)
        if "n_total" in wanted and "n_total" not in options:
            options["n_total"] = n_crafted + benign.shape[0]  # the rows the server aggregates this round
        if "aggregator_options" in wanted and "aggregator_options" not in options:
            simulated = _simulated_rule_options(target, server_rule, rule_options, score_fn)
            if simulated:
                options["aggregator_options"] = simulated
        return cls(attack, known, n_crafted, target, f, knowledge, variant, perturbation, search, gamma_init,
                   generator, options)  # fmt: skip

    def craft(self) -> Crafted:
        """:func:`fedlib.attacks.craft` on this context; :class:`~fedlib.errors.AttackInfeasible` when there is no
        known row to craft from."""
        from .. import attacks  # the package's craft, looked up at call time (so that it can be wrapped)

        if self.known.shape[0] == 0:
            raise AttackInfeasible("no benign gradient in the round to craft from (every client is malicious)")
        return attacks.craft(
            self.attack,
            self.known,
            self.n_crafted,
            aggregator=self.target,
            f=self.f,
            perturbation=self.perturbation,
            search=self.search,
            gamma_init=self.gamma_init,
            knowledge=self.knowledge,
            generator=self.generator,
            variant=self.variant,
            **self.options,
        )


def _simulated_rule_options(
    target: str | None, server_rule: str | None, rule_options: Mapping[str, Any] | None, score_fn: ScoreFn | None
) -> dict[str, Any]:
    """What the adversary passes the rule it simulates: the server's options when it is the server's rule, and
    the server's scoring function when the rule needs one."""
    from .. import aggregators

    simulated = dict(rule_options or {}) if target is not None and target == server_rule else {}
    if target is not None and score_fn is not None and "score_fn" in aggregators.needs(target):
        simulated["score_fn"] = score_fn
    return simulated
