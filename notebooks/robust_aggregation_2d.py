# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Robust aggregation at a glance
#
# A federated server receives one update per client and must combine them into one. The plain mean
# (FedSGD) follows every update, so a few malicious clients can drag it anywhere. Robust aggregation
# rules (AGRs) assume that at most $f$ of the $n$ inputs are malicious and try to ignore them.
#
# This chapter runs every rule in fedlib on a two-dimensional point cloud: 16 honest points around
# $(1, 1)$ and 4 malicious points clustered far away. Each rule sees the same 20 rows and is told
# $f = 4$. The rules are the nine of the paper (the mean, Krum, Multi-krum, Bulyan, Trimmed-mean, Median,
# AFA and Fang's defense, which it attacks, and DnC, which it proposes) and four defenses published after it
# (centered clipping, the geometric median, nearest-neighbour mixing and bucketing). Two dimensions are
# enough to see *what* each rule keeps; the paper's point is that in millions of dimensions a carefully
# placed attacker can hide inside what every rule keeps.

# %% tags=["parameters"]
profile = "quick"  # this chapter has no federated runs: every profile draws the same tiny example
device = "auto"
seeds = [0]
results_dir = None

# %%
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch
from fedbook.text import vector_text
from fedbook.toy import aggregate_all, aggregates_figure, coinciding_text, point_cloud, rules_table
from IPython.display import Markdown, display

from fedlib.report.labels import AGR_LABELS
from fedlib.report.tables import page_table

n_benign, n_malicious = 16, 4
points = point_cloud(n_benign, n_malicious, shift=(6.0, 6.0), seed=seeds[0])
table = aggregate_all(points, f=n_malicious, seed=seeds[0])
page_table(rules_table(table), precision=3)

# %% [markdown]
# **Table.** Each rule's aggregate $(x, y)$ of the 20 updates, for seed 0. *Rows kept* is how many inputs a
# rule that selects rows kept, and *malicious rows kept* how many of them were malicious (the malicious rows
# are the first four). "–": the rule selects no rows; it combines each coordinate separately (Median,
# Trimmed-mean), averages every row with weights (mean, centered clipping, geometric median) or aggregates
# mixed or bucketed rows (NNM, bucketing). *paper*: evaluated or proposed in the paper; *later*: published
# after it. Fang's defense scores each candidate aggregate on the server's own validation data; a point
# cloud has no model, so here a candidate's loss is its mean squared distance to 20 validation points drawn
# from the honest distribution, and its error rate the fraction of them farther than 1.5.

# %%
def farthest_text(rows, count: int = 3) -> str:
    """The ``count`` rules whose aggregate lies farthest from the honest mean, with the distance."""
    rows = rows.sort_values("distance", ascending=False).head(count)
    return ", ".join(f"{AGR_LABELS[r.rule]} ({r.distance:.2f})" for r in rows.itertuples())


def kept_text(rows) -> str:
    """The rules that kept malicious rows, and how many."""
    kept = rows[rows.malicious_selected.fillna(0) > 0]
    return "; ".join(f"{AGR_LABELS[r.rule]} {r.malicious_selected} of {n_malicious}" for r in kept.itertuples())


sns.set_theme(style="whitegrid")
aggregates_figure(points, table, n_malicious, f"Aggregates of {n_benign} honest and {n_malicious} malicious 2-D "
                                              f"updates (f = {n_malicious}, seed {seeds[0]})")
plt.show()
display(Markdown(
    "**Figure.** Honest updates (grey dots), their mean (black plus), malicious updates (black crosses) and "
    "the output of each rule (large open markers: the paper's rules; small filled markers: later ones); the "
    f"right panel zooms on the honest mean. Farthest from the honest mean: {farthest_text(table)}. Rules that "
    f"kept malicious rows: {kept_text(table) or 'none'}. {coinciding_text(table)}".strip()))

# %% [markdown]
# ## What each rule keeps, and why
#
# The second column says what each rule does with the 20 points; the third what it did here (computed above).

# %%
WHAT_IT_DOES = {
    "mean": "averages everything: each attacker pulls with weight 1/n",
    "krum": "picks the single point whose n − f − 2 nearest neighbours are closest",
    "multi_krum": "repeats Krum's choice on the remaining points and averages the picks",
    "bulyan": "selects like Multi-krum, then per coordinate averages the values closest to the median",
    "trimmed_mean": "per coordinate, drops the f largest and f smallest values and averages the rest",
    "median": "per coordinate, the middle value",
    "afa": "drops updates whose cosine similarity to the weighted mean is an outlier (a filter on directions)",
    "fang_defense": "drops the updates whose removal most lowers the loss or error rate on validation data, "
                    "then applies its base rule (Trimmed-mean)",
    "dnc": "drops the updates with the largest projection on the top principal direction",
    "centered_clipping": "moves from a centre (the median) by the mean of the deviations, each clipped to norm τ",
    "geometric_median": "the point with the smallest sum of distances to all updates",
    "nnm": "replaces each update by the mean of its n − f nearest neighbours, then applies Trimmed-mean",
    "bucketing": "averages random buckets of 2 updates, then applies Trimmed-mean to the bucket means",
}


def outcome(row) -> str:
    moved = f"output {row.distance:.2f} from the honest mean"
    if pd.notna(row.malicious_selected):
        return f"kept {row.malicious_selected} of the {n_malicious} attackers; {moved}"
    return moved


page_table(pd.DataFrame({"rule": [AGR_LABELS[r] for r in table.rule],
                         "what it does": [WHAT_IT_DOES[r] for r in table.rule],
                         "here (seed " + str(seeds[0]) + ")": [outcome(r) for r in table.itertuples()]}))

# %% [markdown]
# Filters on *directions* (AFA) cannot see an attack on magnitude when the far cluster points the same way as
# the honest mean; filters on *validation loss* (Fang's defense) see only what changes the base rule's output,
# and a Trimmed-mean base already ignores far outliers. Centered clipping's τ must be chosen relative to the
# updates' norms: with fedlib's default (ByzFL's) it may clip nothing at this scale, and then it returns the mean.
#
# ## Attackers that hide inside
#
# The paper's attacks do not place the malicious updates far away. Min-Max puts them at
# $\nabla^b + \gamma\nabla^p$ with the largest $\gamma$ that keeps them no further from any honest update
# than the honest updates are from each other. Below, the four attackers send the Min-Max update computed
# from the 16 honest points (perturbation: inverse standard deviation, exact $\gamma$).

# %%
from fedlib.attacks import craft

honest = points[n_malicious:]
crafted = craft("min_max", honest, n_malicious, search="exact")
hidden = torch.cat([crafted.updates, honest])
hidden_table = aggregate_all(hidden, f=n_malicious, seed=seeds[0])
display(Markdown(f"Min-Max γ = {crafted.gamma:.3f}; malicious update = {vector_text(crafted.updates[0], 3)}."))
page_table(rules_table(hidden_table), precision=3)

# %%
aggregates_figure(hidden, hidden_table, n_malicious, "Aggregates when the attackers hide inside the honest spread "
                                                     f"(f = {n_malicious}, seed {seeds[0]})")
plt.show()
display(Markdown(
    "**Figure.** The same honest updates with the four attackers at the Min-Max point (black crosses, all on top "
    f"of each other). Rules that now keep malicious copies: {kept_text(hidden_table) or 'none'}. Farthest from "
    f"the honest mean: {farthest_text(hidden_table)}. In two dimensions the shift is small because the honest "
    "spread is small; in a model with millions of coordinates the same construction moves the aggregate by the "
    f"honest spread in *every* coordinate at once, which is what the paper exploits. {coinciding_text(hidden_table)}"
    .strip()))

# %% [markdown]
# ## Exercises
#
# Each exercise has a cell for your answer, holding a runnable but wrong start, a check cell that runs your
# answer against fedlib, and a hidden solution with its own check. On this page the check cells run on the
# starting answers, so they show what does not pass yet and a hint. Write your answer, then run its check
# cell; do not run the solution cells (they would replace your answer with ours).

# %%
from fedbook.exercises import check_coordinate_median, check_fools_krum, check_krum_index

# %% [markdown]
# ```{exercise} The coordinate-wise median
# :label: robust_aggregation_2d-median
#
# Write `coordinate_median(updates)` that takes an $(n, d)$ tensor of updates (one row per client) and
# returns the $(d,)$ vector whose coordinate $j$ is the median of column $j$. For an even $n$ the textbook
# median is the mean of the two middle values. Use whole-tensor operations (`torch.sort` along dimension 0),
# no Python loop over coordinates.
#
# *The check* compares your function with `fedlib.aggregators.aggregate("median", updates, f)` on 24 seeded
# inputs with odd and even $n$, some with ties.
# ```

# %%
def coordinate_median(updates: torch.Tensor) -> torch.Tensor:
    # Start: this is the mean, which one attacker can drag anywhere. Change it into the median.
    return updates.mean(dim=0)


# %%
check_coordinate_median(coordinate_median)


# %% [markdown]
# ```{solution-start} robust_aggregation_2d-median
# :class: dropdown
# ```
#
# Sort each column; the middle values are at positions $\lfloor (n-1)/2 \rfloor$ and $\lfloor n/2 \rfloor$
# (the same position when $n$ is odd).

# %%
def coordinate_median(updates: torch.Tensor) -> torch.Tensor:
    ordered = updates.sort(dim=0).values
    n = updates.shape[0]
    return (ordered[(n - 1) // 2] + ordered[n // 2]) / 2


# %%
check_coordinate_median(coordinate_median, strict=True)  # strict: stops the notebook if wrong


# %% [markdown]
# ```{solution-end}
# ```

# %% [markdown]
# ```{exercise} Krum's choice
# :label: robust_aggregation_2d-krum
#
# Write `krum_index(updates, f)` that returns the index of the row Krum selects: the row $i$ with the
# smallest score $s_i = \sum_{j \in N_i} \lVert g_i - g_j\rVert^2$, where $N_i$ holds the $n - f - 2$
# rows nearest to row $i$ (other than $i$ itself). `torch.cdist` gives all pairwise distances at once.
#
# *The check* compares your index with `fedlib.aggregators.aggregate("krum", updates, f).selected` on 30
# seeded inputs ($1 \le f \le 5$, $2f + 3 \le n \le 25$), half of them with $f$ rows in a far cluster like
# the attackers of the figure above.
# ```

# %%
def krum_index(updates: torch.Tensor, f: int) -> int:
    # Start: the row closest to the mean of all rows. Replace it with Krum's score.
    return int(torch.linalg.vector_norm(updates - updates.mean(dim=0), dim=1).argmin())


# %%
check_krum_index(krum_index)


# %% [markdown]
# ```{solution-start} robust_aggregation_2d-krum
# :class: dropdown
# ```
#
# Sort each row of the squared-distance matrix: column 0 is the zero distance of the row to itself, so the
# $n - f - 2$ nearest *other* rows are columns $1, \dots, n - f - 2$.

# %%
def krum_index(updates: torch.Tensor, f: int) -> int:
    n = updates.shape[0]
    sq_dist = torch.cdist(updates, updates) ** 2
    nearest = sq_dist.sort(dim=1).values[:, 1 : n - f - 1]
    return int(nearest.sum(dim=1).argmin())


# %%
check_krum_index(krum_index, strict=True)  # strict: stops the notebook if wrong


# %% [markdown]
# ```{solution-end}
# ```

# %% [markdown]
# ```{exercise} Hide an attacker from Krum
# :label: robust_aggregation_2d-fool-krum
#
# The figure's attackers sit far away, and Krum ignores them. Place the four malicious updates instead:
# build `malicious`, a $(4, 2)$ tensor, such that Krum, run on `malicious` stacked on top of the 16 honest
# updates `honest` (those of the first figure with seed 0) with $f = 4$, **selects one of your rows**, and
# that row lies **at least 1.0 away from the honest mean** (one honest standard deviation). Hint: four identical copies help each other, since
# each counts the other three as neighbours at distance 0; search for a good place by running fedlib's
# Krum, as the paper's AGR-tailored attacker does.
#
# *The check* runs `fedlib.aggregators.aggregate("krum", ...)` on the stacked rows and verifies both
# conditions.
# ```

# %%
cloud = point_cloud(n_benign, n_malicious, shift=(6.0, 6.0), seed=0)  # the first figure's, for seed 0
honest = cloud[n_malicious:]
# Start: the far cluster of the figure. Krum never selects it.
malicious = cloud[:n_malicious].clone()


# %%
check_fools_krum(malicious, honest)


# %% [markdown]
# ```{solution-start} robust_aggregation_2d-fool-krum
# :class: dropdown
# ```
#
# Put four copies at distance $t$ from the honest mean in each of 36 directions, and keep the farthest place
# where fedlib's Krum still selects a copy (scanning $t$ downwards from 2.5 stops at the first success).

# %%
import math

from fedlib.aggregators import aggregate


def farthest_selected_copies(honest: torch.Tensor, f: int, *, directions: int = 36) -> torch.Tensor:
    centre = honest.mean(dim=0)
    best_t, best = -1.0, centre.expand(f, -1)
    for k in range(directions):
        angle = 2 * math.pi * k / directions
        unit = torch.tensor([math.cos(angle), math.sin(angle)], dtype=honest.dtype)
        for t in torch.arange(2.5, best_t, -0.05).tolist():
            copies = (centre + t * unit).expand(f, -1)
            if int(aggregate("krum", torch.cat([copies, honest]), f).selected[0]) < f:
                best_t, best = t, copies
                break
    return best.clone()


malicious = farthest_selected_copies(honest, n_malicious)
print(f"copies at {vector_text(malicious[0], 3)}")

# %%
check_fools_krum(malicious, honest, strict=True)  # strict: stops the notebook if wrong


# %% [markdown]
# ```{solution-end}
# ```
