"""Robust aggregation rules (AGRs) of the NDSS'21 paper, vectorized over an (n, d) tensor.

Every rule is a function ``rule(updates, f, *, variant="textbook", **options) -> Aggregate`` and is
also reachable by name through :func:`aggregate`. ``variant="ndss21"`` reproduces the authors' released
code where it differs from the textbook definition; each rule's docstring lists the differences.

Registry order (:func:`names`): mean, krum, multi_krum, bulyan, trimmed_mean, median, afa, fang_defense, dnc,
then rules published since the paper: centered_clipping, geometric_median, and the pre-aggregations
nnm and bucketing (meta-rules around a ``base`` rule; :func:`nearest_neighbor_mixing` and :func:`bucket`
return the transformed matrix).

Example:
    >>> import torch, fedlib.aggregators as agg
    >>> x = torch.tensor([[0.0], [1.0], [2.0], [3.0], [10.0], [10.5]])
    >>> agg.aggregate("krum", x, f=1).selected
    tensor([1])
    >>> agg.aggregate("trimmed_mean", x, f=1).vector
    tensor([4.])

Shared building blocks (used by the attacks to simulate the rules on n×n matrices):
:func:`pairwise_sq_distances`, :func:`krum_scores`, :func:`krum_selection`, :func:`dnc_iteration`,
:func:`dnc_outlier_scores`, :func:`fang_survivors` (Fang's defense up to its survivors),
:func:`mean_nearest_median` (Bulyan's coordinate-wise step; formerly ``closest_to_median_mean``, which still
works). Helper modules that are not rules live in ``_utils``.

Your own rule: :func:`register` it (or use :func:`registered` for a ``with`` block), or declare it in the
``fedlib.aggregators`` entry-point group of your package (:func:`load_plugins`); the tailored attack and
:func:`fedlib.evaluate` accept it like a built-in rule. It may return the aggregate as a plain tensor (d,)
(``def my_rule(updates, f=0, **kw): return updates[keep].mean(dim=0)``) or as an :class:`Aggregate`; it is
wrapped once and probed at registration (:mod:`fedlib.aggregators._user_rule`).

What a rule needs: :func:`needs` (``"generator"``: a ``torch.Generator``, drawn on its device;
``"score_fn"``: a validation scorer) and :func:`min_inputs` (the smallest n it accepts, the one source
of every rule's own size check).
"""

# Import order is registration order: names() lists the rules/attacks in the paper's order.
# isort: off
from ._base import (
    ENTRY_POINT_GROUP,
    RULE_NEEDS,
    Aggregate,
    aggregate,
    get,
    load_plugins,
    min_inputs,
    names,
    needs,
    register,
    registered,
)
from ._mean import mean
from ._krum import krum, krum_scores, krum_selection
from ._multi_krum import multi_krum
from ._bulyan import bulyan, mean_nearest_median
from ._trimmed_mean import trimmed_mean
from ._median import median
from ._afa import AFAReputation, afa
from ._fang_defense import fang_defense, fang_survivors
from ._dnc import dnc, dnc_iteration, dnc_outlier_scores
from ._utils.distances import pairwise_sq_distances
from ._centered_clipping import centered_clipping
from ._geometric_median import geometric_median
from ._nnm import nearest_neighbor_mixing, nnm
from ._bucketing import bucket, bucketing

# isort: on
from . import _base

_base._REGISTERING_BUILT_INS = False  # every rule registered from here on is a user's: wrapped and probed once

closest_to_median_mean = mean_nearest_median  # the former name, kept working for existing callers

__all__ = [
    "Aggregate",
    "aggregate",
    "get",
    "min_inputs",
    "names",
    "needs",
    "RULE_NEEDS",
    "register",
    "registered",
    "load_plugins",
    "ENTRY_POINT_GROUP",
    "mean",
    "krum",
    "multi_krum",
    "bulyan",
    "trimmed_mean",
    "median",
    "afa",
    "fang_defense",
    "fang_survivors",
    "dnc",
    "centered_clipping",
    "geometric_median",
    "nnm",
    "bucketing",
    "bucket",
    "nearest_neighbor_mixing",
    "AFAReputation",
    "mean_nearest_median",
    "closest_to_median_mean",
    "dnc_iteration",
    "dnc_outlier_scores",
    "krum_scores",
    "krum_selection",
    "pairwise_sq_distances",
]
