r"""The robustness benchmark's numbers: each rule's worst case over the attacks, its honest cost, and ranks.

Input: one row per run (columns ``aggregator``, ``attack``, ``partition``, ``seed`` and the metric, test accuracy at
the best-validation round), e.g. :func:`fedlib.report.results.collect` of
:func:`fedlib.experiments.grids.benchmark_grid`'s cells. Every number is paired by seed: the impact of an attack on a
rule in seed s is

.. math:: I_{r,a,s} = \mathrm{acc}(r, \text{no attack}, s) - \mathrm{acc}(r, a, s)

(percentage points; the same seed means the same data split, initial model and client draws).

* **Worst case** of rule r (:func:`worst_cases`): the attack a* with the largest mean impact over the seeds,
  :math:`a^* = \arg\max_a \overline{I}_{r,a}`; reported as the mean ± sample sd of :math:`I_{r,a^*,s}` over the
  seeds, with a* named. The means are taken over the seeds S_r that every attack of r has, so that no attack wins
  by being averaged over fewer seeds (while a block is being computed). The per-seed interval of the rule is
  :math:`[\min_{s \in S_r} I_{r,a^*,s}, \max_{s \in S_r} I_{r,a^*,s}]`.
* **Rank** (:func:`ranks`): rule r's rank is 1 + the number of rules whose per-seed interval lies entirely below
  r's (their largest per-seed worst case is smaller than r's smallest). Rules whose intervals overlap are not
  ordered against each other, so they can share a rank: the rank states only the separations the seeds support.
* **Honest cost** (:func:`honest_costs`): :math:`\mathrm{acc}(\text{mean}, \text{no attack}, s) -
  \mathrm{acc}(r, \text{no attack}, s)`, the accuracy a rule gives up against the plain mean when nobody attacks.

Example:
    >>> import pandas as pd
    >>> from fedlib.report.benchmark import ranks, worst_cases
    >>> runs = pd.DataFrame({
    ...     "aggregator": ["median"] * 4 + ["mean"] * 4, "partition": "iid",
    ...     "attack": ["none", "lie"] * 4, "seed": [0, 0, 1, 1] * 2,
    ...     "test_accuracy": [80.0, 75.0, 82.0, 76.0, 85.0, 40.0, 86.0, 30.0]})
    >>> worst = worst_cases(runs)
    >>> worst[["aggregator", "attack", "impact", "low", "high"]].values.tolist()
    [['median', 'lie', 5.5, 5.0, 6.0], ['mean', 'lie', 50.5, 45.0, 56.0]]
    >>> ranks(worst).set_index("aggregator")["rank"].to_dict()
    {'median': 1, 'mean': 2}
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from .tables import METRIC, _one_decimal, mean_sd, paired_impacts

#: The runs a benchmark cell is paired on: the same rule and partition (and seed).
BY = ("aggregator", "partition")
#: The reference rule of the honest cost: plain federated averaging.
REFERENCE = "mean"


def benchmark_impacts(runs: pd.DataFrame, metric: str = METRIC) -> pd.DataFrame:
    """Per-seed impacts of every attacked run whose no-attack run (same rule, partition, seed) is present."""
    return paired_impacts(runs, list(BY), metric)


def worst_cases(runs: pd.DataFrame, metric: str = METRIC) -> pd.DataFrame:
    """One row per (partition, rule): the attack with the largest mean impact and its per-seed impacts.

    Columns: ``partition``, ``aggregator``, ``attack`` (a*), ``impact`` (mean over seeds), ``sd`` (sample sd; 0 for
    one seed), ``low`` / ``high`` (smallest / largest per-seed impact of a*), ``seeds`` (how many), ``text``
    (``"mean ± sd"``), ``attacks`` (how many attacks have a paired impact for the rule). The attacks are compared
    on the seeds they all have (when they share none, each on its own). Ties in the mean go to the attack named
    first in the runs. Rules are kept in the order they first appear.
    """
    imp = benchmark_impacts(runs, metric)
    rows = []
    for (partition, rule), group in imp.groupby(["partition", "aggregator"], sort=False):
        shared = set.intersection(*(set(s) for _, s in group.groupby("attack", sort=False).seed))
        if shared:  # an attack averaged over fewer seeds must not win (or lose) by it
            group = group[group.seed.isin(shared)]
        means = group.groupby("attack", sort=False).impact.mean()
        attack = means.idxmax()
        values = group.loc[group.attack == attack, "impact"].astype("float64")
        rows.append(
            {
                "partition": partition,
                "aggregator": rule,
                "attack": attack,
                "impact": float(values.mean()),
                "sd": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                "low": float(values.min()),
                "high": float(values.max()),
                "seeds": int(values.size),
                "text": mean_sd(values),
                "attacks": int(means.size),
            }
        )
    return pd.DataFrame(rows, columns=["partition", "aggregator", "attack", "impact", "sd", "low", "high", "seeds",
                                       "text", "attacks"])  # fmt: skip


#: A rule is ranked only with at least this many seeds under its worst case: one seed has no spread, and an
#: interval of one point would separate rules that a second seed might not.
MIN_SEEDS = 2


def ranks(worst: pd.DataFrame, min_seeds: int = MIN_SEEDS) -> pd.DataFrame:
    """``worst`` (one partition, or several: ranked within each) with ``rank`` and ``tied_with``, sorted by rank,
    then mean worst case; rules with fewer than ``min_seeds`` seeds come last, unranked (rank NaN).

    Rank = 1 + the number of ranked rules whose per-seed interval [low, high] lies entirely below this rule's
    (``high`` < this ``low``); ``tied_with`` lists the ranked rules whose intervals overlap this one's.
    """
    out = []
    for _, everything in worst.groupby("partition", sort=False):
        unranked = everything[everything.seeds < min_seeds].assign(rank=math.nan)
        unranked["tied_with"] = [[] for _ in range(len(unranked))]
        group = everything[everything.seeds >= min_seeds].copy()
        lows, highs, names = group.low.to_numpy(), group.high.to_numpy(), group.aggregator.to_list()
        group["rank"] = [1 + int((highs < low).sum()) for low in lows]
        group["tied_with"] = [
            [n for n, lo, hi in zip(names, lows, highs, strict=True) if n != name and lo <= high and low <= hi]
            for name, low, high in zip(names, lows, highs, strict=True)
        ]
        out += [group.sort_values(["rank", "impact"], kind="stable"), unranked.sort_values("impact", kind="stable")]
    out = [frame for frame in out if len(frame)]
    return pd.concat(out, ignore_index=True) if out else worst.assign(rank=[], tied_with=[])


def honest_costs(runs: pd.DataFrame, reference: str = REFERENCE, metric: str = METRIC) -> pd.DataFrame:
    """Per (partition, rule): the no-attack accuracy (mean ± sd over seeds) and what it costs against
    ``reference`` (the plain mean), paired by seed: columns ``accuracy``, ``accuracy_text``, ``cost``, ``cost_sd``,
    ``cost_text``, ``seeds``. A rule whose seeds have no reference run gets NaN costs."""
    clean = runs[runs.attack == "none"]
    ref = clean[clean.aggregator == reference][["partition", "seed", metric]].rename(columns={metric: "reference"})
    paired = clean.merge(ref, on=["partition", "seed"], how="left")
    paired["cost"] = paired.reference - paired[metric]
    rows = []
    for (partition, rule), group in paired.groupby(["partition", "aggregator"], sort=False):
        cost = group.cost.dropna()
        rows.append(
            {
                "partition": partition,
                "aggregator": rule,
                "accuracy": float(group[metric].mean()),
                "accuracy_text": mean_sd(group[metric]),
                "cost": float(cost.mean()) if len(cost) else math.nan,
                "cost_sd": float(cost.std(ddof=1)) if len(cost) > 1 else (0.0 if len(cost) else math.nan),
                "cost_text": mean_sd(cost),
                "seeds": int(group[metric].notna().sum()),
            }
        )
    return pd.DataFrame(rows)


def impact_matrix(runs: pd.DataFrame, partition: str, rules: Sequence[str], attacks: Sequence[str],
                  metric: str = METRIC) -> pd.DataFrame:  # fmt: skip
    """Mean impact over seeds, rules × attacks, for one partition (NaN where no paired run exists yet)."""
    imp = benchmark_impacts(runs[runs.partition == partition], metric)
    means = imp.groupby(["aggregator", "attack"]).impact.mean() if len(imp) else pd.Series(dtype="float64")
    return pd.DataFrame(
        [[means.get((r, a), math.nan) for a in attacks] for r in rules], index=list(rules), columns=list(attacks)
    )


def heatmaps(matrices: dict[str, pd.DataFrame], *, title: str, labels: tuple[dict, dict] = ({}, {})):
    """One heat map per partition (rules × attacks, mean impact in pp), side by side, with ONE colour scale for
    every panel (0 to the largest impact shown) and each cell's value written in it; a cell without a paired run
    is grey and reads "n/a". ``labels``: display names of the rules and of the attacks. Returns the Figure."""
    import matplotlib.pyplot as plt
    import numpy as np

    rule_names, attack_names = labels
    values = [m.to_numpy(dtype="float64") for m in matrices.values()]
    top = max([float(np.nanmax(v)) for v in values if np.isfinite(v).any()] or [1.0])
    cmap = plt.get_cmap("viridis_r").with_extremes(bad="#dddddd")
    first = next(iter(matrices.values()))
    fig, axes = plt.subplots(1, len(matrices), figsize=(5.2 * len(matrices) + 1.2, 0.42 * len(first) + 2.2),
                             sharey=True, squeeze=False)  # fmt: skip
    images = []
    for ax, (name, matrix), grid in zip(axes[0], matrices.items(), values, strict=True):
        images.append(ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0.0, vmax=top, aspect="auto"))
        for (i, j), value in np.ndenumerate(grid):
            text = "n/a" if not math.isfinite(value) else _one_decimal(value)
            dark = math.isfinite(value) and value > 0.6 * top
            ax.text(j, i, text, ha="center", va="center", fontsize=8.5, color="white" if dark else "black")
        ax.set_xticks(range(matrix.shape[1]), [attack_names.get(a, a) for a in matrix.columns], rotation=35,
                      ha="right", fontsize=9)  # fmt: skip
        ax.set_yticks(range(matrix.shape[0]), [rule_names.get(r, r) for r in matrix.index], fontsize=9)
        ax.set_title(name, fontsize=11)
    fig.colorbar(images[0], ax=axes[0].tolist(), label="impact (accuracy drop, percentage points)", shrink=0.85)
    fig.suptitle(title, fontsize=11)
    return fig


__all__ = [
    "benchmark_impacts",
    "worst_cases",
    "ranks",
    "honest_costs",
    "impact_matrix",
    "heatmaps",
    "BY",
    "REFERENCE",
    "MIN_SEEDS",
]
