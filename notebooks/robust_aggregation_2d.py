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
