"""Which attack settings cannot be crafted in a given round (``AttackInfeasible``), decided without crafting.

*Round-level infeasible* (craft raises :class:`~fedlib.errors.AttackInfeasible`; the engine lets the attackers
behave honestly that round): the round's sample leaves the adversary too few known rows —

* a coordinate-wise standard deviation from fewer than 2 known rows: LIE (any knowledge), Fang's attack on
  Trimmed-mean / Median under partial knowledge, and the ``std`` perturbation of tailored, Min-Max and Min-Sum;
* Fang's λ₀ on the Krum family from k < f + 2 known rows (f the simulated or server f; no ``lambda0`` given);
* the tailored attack on DnC when the simulated DnC filters out every simulated row (data-dependent: only
  craft can see it, :func:`feasible` cannot).

Everything else that craft rejects (unknown options, a target the attack does not support, missing ``n_total``)
is a configuration error (:class:`~fedlib.errors.ConfigError`), wrong in every round.
"""

from __future__ import annotations

from ...vocabulary import COORDINATE_WISE, KRUM_FAMILY

STD_ATTACKS = ("tailored", "min_max", "min_sum")


def _fang_f(n_malicious, n_known, aggregator, f, knowledge, variant, n_total, partial_rule) -> int:
    from .common import partial_simulation, server_f

    if knowledge == "partial":
        return partial_simulation(
            n_malicious,
            n_known,
            rule="krum",
            variant=variant,
            partial_rule=partial_rule,
            default_rule="square",
            n_total=n_total,
            attack="fang",
        )[1]
    return server_f(f, n_malicious)


def feasible(
    name: str,
    n_known: int,
    n_malicious: int,
    *,
    aggregator: str | None = None,
    f: int | None = None,
    knowledge: str = "full",
    variant: str = "textbook",
    n_total: int | None = None,
    perturbation: str = "std",
    **options,
) -> str | None:
    """None if :func:`~fedlib.attacks.craft` can craft ``name`` from ``n_known`` known rows for ``n_malicious``
    attackers this round, else the reason (the message of the AttackInfeasible craft would raise).

    Static: it needs counts, not updates, so the engine can check every possible m_t before round 1. The one
    data-dependent case (the simulated DnC filtering out every row) is only seen by craft.

    Example:
        >>> from fedlib.attacks import feasible
        >>> feasible("lie", 1, 1, knowledge="partial", n_total=20) is not None
        True
        >>> feasible("lie", 4, 4, knowledge="partial", n_total=20) is None
        True
    """
    where = f"attack {name!r} (knowledge={knowledge!r})"
    one_row = f"{where} needs at least 2 known rows for a coordinate-wise standard deviation; found {n_known}"
    if name == "lie" and n_known < 2:
        return one_row + " (a round with a single attacker under partial knowledge)."
    if name in STD_ATTACKS and perturbation == "std" and n_known < 2:
        return one_row + " (perturbation='std')."
    if name == "fang" and aggregator in COORDINATE_WISE and knowledge == "partial" and n_known < 2:
        return one_row + f" (Fang's partial attack on {aggregator})."
    if name == "fang" and aggregator in KRUM_FAMILY and options.get("lambda0") is None:
        f_sim = _fang_f(
            n_malicious, n_known, aggregator, f, knowledge, variant, n_total, options.get("partial_rule", "square")
        )
        if n_known - f_sim - 2 < 0:
            return f"{where} on {aggregator}: Fang's λ₀ needs k >= f + 2 known rows; found k={n_known}, f={f_sim}."
    return None
