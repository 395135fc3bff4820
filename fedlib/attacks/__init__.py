"""Model-poisoning attacks of the NDSS'21 paper: Fang, LIE, AGR-tailored, Min-Max and Min-Sum.

Every attack is reached through :func:`craft`::

    craft(name, benign, n_malicious, *, aggregator=None, f=None, perturbation="std", search="halving",
          gamma_init=None, tau=1e-5, knowledge="full", generator=None, variant="textbook", **options)

and returns :class:`Crafted` (``updates`` (n_malicious, d) in the dtype/device of ``benign``, ``gamma``,
``info``). ``benign`` is what the adversary knows: all benign updates of the round
(``knowledge="full"``) or its own clients' honest updates (``knowledge="partial"``).

Names (:func:`names`): ``none``, ``lie``, ``fang``, ``tailored``, ``min_max``, ``min_sum``, then attacks
published since the paper: ``ipm`` (inner-product manipulation) and ``mimic``.
γ-search attacks send ∇b + γ·∇p with ∇p from :func:`perturbation`; ``search="halving"`` is the paper's
Algorithm 1 (also public as :func:`halving_search`), ``search="exact"`` the closed-form / n×n search (Min-Max,
Min-Sum, tailored Krum family). A round whose sample leaves the adversary too little to craft from raises
:class:`~fedlib.errors.AttackInfeasible`; :func:`feasible` tells it in advance from the counts alone.

What an attack is given in a round (its known rows, ``n_total``, the simulated rule's options and the server's
scoring) is assembled in one place, :class:`AttackContext` (the FL engine, :func:`fedlib.evaluate` and the Flower
attack simulation all build it there).

Which rules an AGR-aware attack can be aimed at: :func:`targets` (its dedicated forms) and :func:`can_target`
(the tailored attack also has a generic, black-box form for every other registered rule, a user's included).

Modules: one per attack (``_lie``, ``_fang``, ``_tailored`` with its generic form ``_tailored_generic``,
``_agnostic`` (Min-Max and Min-Sum), ``_ipm``, ``_mimic``, ``_none``), the
perturbations (``_perturbation``); helpers that are not attacks live in ``_utils`` (argument handling, the
quadratic distance model, the γ searches, the probe models and the feasibility rules).

Example:
    >>> import torch
    >>> import fedlib.attacks as atk
    >>> benign = torch.randn(40, 100, generator=torch.Generator().manual_seed(0))
    >>> out = atk.craft("min_max", benign, 10, search="exact")
    >>> out.updates.shape
    torch.Size([10, 100])
"""

# Import order is registration order: names() lists the rules/attacks in the paper's order.
# isort: off
from ._base import ATTACK_NEEDS, Crafted, can_target, craft, generic_form, get, names, needs, register, targets
from ._context import AttackContext
from . import _none  # noqa: F401  (registers "none")
from ._lie import Z_TABLE_NDSS21, lie, lie_z
from ._fang import fang, fang_lambda0
from ._tailored import tailored
from ._agnostic import min_max, min_sum
from ._ipm import ipm
from ._mimic import mimic
from ._perturbation import KINDS as PERTURBATIONS, perturbation, pick_perturbation
from ._utils.feasibility import feasible
from ._utils.search import halving as halving_search
# isort: on

__all__ = [
    "Crafted",
    "craft",
    "AttackContext",
    "get",
    "names",
    "needs",
    "targets",
    "can_target",
    "generic_form",
    "ATTACK_NEEDS",
    "register",
    "feasible",
    "halving_search",
    "perturbation",
    "pick_perturbation",
    "PERTURBATIONS",
    "lie",
    "lie_z",
    "Z_TABLE_NDSS21",
    "fang",
    "fang_lambda0",
    "tailored",
    "min_max",
    "min_sum",
    "ipm",
    "mimic",
]
