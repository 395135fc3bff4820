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
# This chapter runs every rule of the paper on a two-dimensional point cloud: 16 honest points around
# $(1, 1)$ and 4 malicious points clustered far away. Each rule sees the same 20 rows and is told
# $f = 4$. Two dimensions are enough to see *what* each rule keeps; the paper's point is that in
# millions of dimensions a carefully placed attacker can hide inside what every rule keeps.

# %% tags=["parameters"]
profile = "quick"  # this chapter has no federated runs: every profile draws the same tiny example
device = "auto"
seeds = [0]
results_dir = None

# %%
import matplotlib.pyplot as plt
import seaborn as sns
from fedbook.toy import aggregate_all, point_cloud

n_benign, n_malicious = 16, 4
points = point_cloud(n_benign, n_malicious, shift=(6.0, 6.0), seed=seeds[0])
table = aggregate_all(points, f=n_malicious, seed=seeds[0])
table.round(3)

# %% [markdown]
# `n_selected` is how many inputs a selection rule kept and `malicious_selected` how many of them were
# malicious (the malicious rows are the first four). Coordinate-wise rules (median, trimmed mean) select
# no rows; they combine each coordinate separately.

# %%
sns.set_theme(style="whitegrid")
fig, ax = plt.subplots(figsize=(7, 5.5))
xy = points.numpy()
ax.scatter(xy[n_malicious:, 0], xy[n_malicious:, 1], c="tab:blue", s=30, label="honest updates")
ax.scatter(xy[:n_malicious, 0], xy[:n_malicious, 1], c="tab:red", marker="x", s=50, label="malicious updates")
palette = sns.color_palette("tab10", len(table))
markers = ["o", "s", "D", "^", "v", "P", "*", "X", "h"]
for (i, row), color in zip(table.iterrows(), palette, strict=True):
    ax.scatter(row.x, row.y, s=140, marker=markers[i % len(markers)], facecolor="none",
               edgecolor=color, linewidth=2, label=f"{row.rule}")
ax.set_title("Aggregates of 16 honest and 4 malicious 2-D updates (f = 4)")
ax.set_xlabel("coordinate 1 (update units)")
ax.set_ylabel("coordinate 2 (update units)")
ax.legend(loc="upper left", fontsize=8, ncol=2)
plt.show()

# %% [markdown]
# **Figure.** Honest updates (blue dots), malicious updates (red crosses) and the output of each
# aggregation rule (open markers), for seed 0. The mean is pulled a fifth of the way towards the
# attackers. The distance- and rank-based rules stay with the honest cloud because the attackers are
# obvious outliers. **AFA does not**: it filters by *direction* (cosine similarity to the mean), and the
# far cluster points the same way as the honest mean, so AFA keeps all four attackers and drops honest
# points instead. The later chapters show how the paper's attacks place malicious updates *inside* the
# region a rule accepts.

# ## What each rule keeps, and why
#
# | rule | what it does with the 20 points | why the far cluster loses (seed 0) |
# |---|---|---|
# | Mean | averages everything | nothing is removed: each attacker pulls with weight 1/20 |
# | Krum | picks the single point whose $n-f-2$ nearest neighbours are closest | the attackers' neighbourhood is tight, but includes the far honest points; an honest point in the middle of the cloud scores best |
# | Multi-krum | repeats Krum's choice on the remaining points and averages the picks | the attackers score badly once the honest core is picked first |
# | Bulyan | selects like Multi-krum, then per coordinate averages the values closest to the median | two filters: an attacker that slips through the selection is trimmed coordinate-wise |
# | Trimmed-mean | per coordinate, drops the $f$ largest and $f$ smallest values | the four attackers are the four largest in both coordinates |
# | Median | per coordinate, the middle value | outliers move a median by at most a rank |
# | AFA | drops updates whose cosine similarity to the weighted mean is an outlier | it does **not** lose: the cluster points the same way as the honest mean, so a filter on directions cannot see an attack on magnitude |
# | DnC | drops the updates with the largest projection on the top principal direction | the attackers *are* the top principal direction of this cloud |
#
# ## Attackers that hide inside
#
# The paper's attacks do not place the malicious updates far away. Min-Max puts them at
# $\nabla^b + \gamma\nabla^p$ with the largest $\gamma$ that keeps them no further from any honest update
# than the honest updates are from each other. Below, the four attackers send the Min-Max update computed
# from the 16 honest points (perturbation: inverse standard deviation, exact $\gamma$).

# %%
import torch

from fedlib.attacks import craft

honest = points[n_malicious:]
crafted = craft("min_max", honest, n_malicious, search="exact")
hidden = torch.cat([crafted.updates, honest])
hidden_table = aggregate_all(hidden, f=n_malicious, seed=seeds[0])
print(f"Min-Max γ = {crafted.gamma:.3f}; malicious update = {crafted.updates[0].numpy().round(3)}")
hidden_table.round(3)

# %%
fig, ax = plt.subplots(figsize=(7, 5.5))
xy = hidden.numpy()
ax.scatter(xy[n_malicious:, 0], xy[n_malicious:, 1], c="tab:blue", s=30, label="honest updates")
ax.scatter(xy[:n_malicious, 0], xy[:n_malicious, 1], c="tab:red", marker="x", s=80,
           label=f"{n_malicious} malicious copies (Min-Max)")
ax.scatter(*honest.mean(0).numpy(), c="black", marker="+", s=120, label="honest mean")
for (i, row), color in zip(hidden_table.iterrows(), palette, strict=True):
    ax.scatter(row.x, row.y, s=140, marker=markers[i % len(markers)], facecolor="none",
               edgecolor=color, linewidth=2, label=f"{row.rule}")
ax.set_title("Aggregates when the attackers hide inside the honest spread (f = 4)")
ax.set_xlabel("coordinate 1 (update units)")
ax.set_ylabel("coordinate 2 (update units)")
ax.legend(loc="upper left", fontsize=8, ncol=2)
plt.show()

# %% [markdown]
# **Figure.** The same honest updates with the four attackers at the Min-Max point (red crosses, all
# on top of each other) and the honest mean (black plus). Now the selection rules pick malicious copies
# (`malicious_selected` in the table: for seed 0 Multi-krum keeps 2, Bulyan 3 and DnC all 4), and most
# outputs move from the honest mean towards the attackers. In two dimensions the shift is small because the
# honest spread is small; in a model with millions of coordinates the same construction moves the
# aggregate by the honest spread in *every* coordinate at once, which is what the paper exploits.

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
print(f"copies at {malicious[0].numpy().round(3)}")

# %%
check_fools_krum(malicious, honest, strict=True)  # strict: stops the notebook if wrong


# %% [markdown]
# ```{solution-end}
# ```
