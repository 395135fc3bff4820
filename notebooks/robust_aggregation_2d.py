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

from fedlib.report.toy import aggregate_all, point_cloud

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
for (i, row), color in zip(table.iterrows(), palette):
    ax.scatter(row.x, row.y, s=140, marker=markers[i % len(markers)], facecolor="none",
               edgecolor=color, linewidth=2, label=f"{row.rule}")
ax.set_title("Aggregates of 16 honest and 4 malicious 2-D updates (f = 4)")
ax.set_xlabel("coordinate 1 (update units)")
ax.set_ylabel("coordinate 2 (update units)")
ax.legend(loc="upper left", fontsize=8, ncol=2)
plt.show()

# %% [markdown]
# **Figure.** Honest updates (blue dots), malicious updates (red crosses) and the output of each
# aggregation rule (open markers). The mean is pulled a fifth of the way towards the attackers; every
# robust rule stays with the honest cloud here because the attackers are obvious outliers. The later
# chapters show how the paper's attacks place malicious updates *inside* the region a rule accepts.
