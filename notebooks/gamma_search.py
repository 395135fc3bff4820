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
# # How the attacks find γ
#
# Every optimisation-based attack of the paper sends $m$ copies of one malicious update
#
# $$\nabla^m = \nabla^b + \gamma\,\nabla^p ,$$
#
# where $\nabla^b$ is the mean of the benign updates the adversary knows, $\nabla^p$ a fixed perturbation
# direction (here the *inverse standard deviation*, $-\sigma$) and $\gamma \ge 0$ a scale. A larger
# $\gamma$ moves the aggregate further from the benign mean, until the rule notices. The whole attack is
# the choice of $\gamma$:
#
# - **AGR-agnostic** attacks keep $\nabla^m$ inside the benign "clique". *Min-Max*:
#   $\max_i \lVert\nabla^m - g_i\rVert^2 \le \max_{i,j}\lVert g_i - g_j\rVert^2$.
#   *Min-Sum*: $\sum_i \lVert\nabla^m - g_i\rVert^2 \le \min_j \sum_i \lVert g_j - g_i\rVert^2$.
# - **AGR-tailored** attacks simulate the rule: for Krum-type rules, $\gamma$ is acceptable while the rule
#   still selects the malicious copies; for Trimmed-mean and Median they maximise the deviation
#   $\lVert \mathrm{AGR}(\text{malicious} \cup \text{benign}) - \nabla^b\rVert_2$ directly.
#
# The paper finds $\gamma$ with a halving search (its Algorithm 1); fedlib also has an *exact* search. This
# chapter draws both on a small synthetic round: 20 benign updates in 50 dimensions and 5 attackers
# (20 % of 25 clients), with full knowledge.

# %% tags=["parameters"]
profile = "quick"  # no federated runs here: every profile draws the same small synthetic round
device = "auto"
seeds = [0]
results_dir = None

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from fedbook.toy import agnostic_curves, agnostic_success, gaussian_updates, halving_trace, tailored_curves

from fedlib.attacks import craft
from fedlib.report.labels import AGR_LABELS, ATTACK_LABELS
from fedlib.report.tables import page_table

sns.set_theme(style="whitegrid")
n_benign, n_malicious, dim = 20, 5, 50
benign = gaussian_updates(n_benign, dim, seed=seeds[0])
gammas = np.linspace(0, 3, 301)
print(f"synthetic round: {n_benign} benign updates in {dim} dimensions, {n_malicious} attackers, seed {seeds[0]}")

# %% [markdown]
# ## The agnostic constraints against γ
#
# Both constraints are quadratic in $\gamma$: $\lVert\nabla^b + \gamma\nabla^p - g_i\rVert^2 = a_i +
# 2\gamma b_i + \gamma^2 c$. The largest feasible $\gamma$ is where the curve crosses its threshold.

# %%
curves = agnostic_curves(benign, gammas)
found = {}
for attack in ("min_max", "min_sum"):
    for search in ("halving", "exact"):
        out = craft(attack, benign, n_malicious, search=search)
        found[(attack, search)] = out
page_table(pd.DataFrame(
    [{"attack": ATTACK_LABELS[a], "search": s, "γ": o.gamma, "probes": o.info["n_probes"]}
     for (a, s), o in found.items()]
), precision=7)

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
for ax, attack in zip(axes, ("min_max", "min_sum"), strict=True):
    c = curves[curves.attack == attack]
    ax.plot(c.gamma, c.value, color="tab:blue", label="malicious update (left side)")
    ax.axhline(c.threshold.iloc[0], color="tab:grey", ls="--", label="benign threshold (right side)")
    ax.axvline(found[(attack, "exact")].gamma, color="tab:red", label=f"exact γ = {found[(attack, 'exact')].gamma:.4f}")
    ax.axvline(found[(attack, "halving")].gamma, color="tab:orange", ls=":", lw=2,
               label=f"halving γ = {found[(attack, 'halving')].gamma:.4f}")
    ax.set_title(f"{ATTACK_LABELS[attack]} constraint against γ")
    ax.set_xlabel("γ (scale of the perturbation, multiples of σ)")
    ax.set_ylabel("squared distance (update units²)")
    ax.legend(fontsize=8)
fig.suptitle(f"AGR-agnostic attacks: the largest γ inside the benign clique (synthetic round, seed {seeds[0]})")
fig.tight_layout()
plt.show()

# %% [markdown]
# **Figure.** Left side of each constraint (blue) and its threshold (grey) as $\gamma$ grows, on the
# synthetic round. The exact search solves the quadratic inequality in closed form (red); the paper's
# halving search (orange, dotted) lands just below it. Min-Sum's constraint is stricter, so its
# $\gamma$ is smaller.

# %% [markdown]
# ## The halving search, probe by probe
#
# Algorithm 1 starts at $\gamma_{\text{init}}$ and moves by half of the previous step: up after a success,
# down after a failure, until the probe lies within $\tau = 10^{-5}$ of the last accepted $\gamma$. It can only
# reach $(0, 2\gamma_{\text{init}})$, and it answers $\gamma = 0$ when no probe succeeds. Each probe
# recomputes distances on the full $d$-dimensional updates, which is what makes it expensive for
# $d$ in the millions. The exact search reads the updates once (mean, perturbation and distances, as every
# search must) and then probes nothing: the table's 0.

# %%
trace = halving_trace(agnostic_success(benign, "min_max"), gamma_init=10.0)
shown = trace.head(12).assign(success=trace.success.map({True: "accepted", False: "rejected"}))
page_table(shown.rename(columns={"gamma": "probed γ", "success": "test", "best": "best γ so far"}), precision=6)

# %%
capped = halving_trace(agnostic_success(benign, "min_max"), gamma_init=0.5)
fig, ax = plt.subplots(figsize=(8, 4))
for label, t, color in (("γ_init = 10 (released constant)", trace, "tab:blue"),
                        ("γ_init = 0.5 (reach below the optimum)", capped, "tab:purple")):
    ax.plot(t.probe, t.gamma, marker="o", ms=4, color=color, label=label)
    ax.scatter(t.probe[t.success], t.gamma[t.success], s=60, facecolor="none", edgecolor="green")
ax.axhline(found[("min_max", "exact")].gamma, color="tab:red", ls="--", label="exact γ (largest feasible)")
ax.set_yscale("log")
ax.set_title("Halving search for the Min-Max γ: probes (green rings = accepted)")
ax.set_xlabel("probe number")
ax.set_ylabel("probed γ (log scale, multiples of σ)")
ax.legend(fontsize=8)
plt.show()
print(f"answer with γ_init=10: {trace.best.iloc[-1]:.6f}; with γ_init=0.5: {capped.best.iloc[-1]:.6f} "
      f"(reach < 2·0.5 = 1); exact: {found[('min_max', 'exact')].gamma:.6f}")

# %% [markdown]
# **Figure.** The probes of Algorithm 1 for Min-Max on the synthetic round. From the released
# $\gamma_{\text{init}} = 10$ the search fails three times, then closes in on the exact optimum from
# below. Started at $\gamma_{\text{init}} = 0.5$ it can never probe above 1, so it stops just below 1:
# the halving search's answer depends on its starting point, the exact search's does not.

# %% [markdown]
# ## AGR-tailored: what the attacker simulates
#
# A tailored attacker stacks its copies with the benign updates it knows and runs the server's rule. For
# Krum and Multi-krum the deviation grows with $\gamma$ only while the copies are selected; one step
# further the rule drops them and the aggregate snaps back to a benign update. Trimmed-mean and Median
# never "reject" anything, so the attacker maximises the deviation itself.

# %%
tail = tailored_curves(benign, n_malicious, gammas)
tail["rule"] = tail["rule"].map(AGR_LABELS)
tailored_found = {r: craft("tailored", benign, n_malicious, aggregator=r).gamma
                  for r in ("krum", "multi_krum", "trimmed_mean", "median")}
fig, ax = plt.subplots(figsize=(8, 4.5))
sns.lineplot(data=tail, x="gamma", y="deviation", hue="rule", ax=ax)
# strict=False: the default palette has more colours than there are rules; each rule takes the next one.
for gamma, color in zip(tailored_found.values(), sns.color_palette(), strict=False):
    ax.axvline(gamma, color=color, ls=":", lw=1.5)
ax.set_title("AGR-tailored objective: deviation of the aggregate from the benign mean")
ax.set_xlabel("γ (scale of the perturbation, multiples of σ)")
ax.set_ylabel("‖AGR(all) − benign mean‖₂ (update units)")
ax.legend(title="server rule")
plt.show()
# The default (textbook) search differs by rule: Algorithm 1's halving for the Krum family, a grid plus
# golden-section maximisation of the deviation for Trimmed-mean and Median (they accept every γ).
search_used = {"krum": "halving", "multi_krum": "halving", "trimmed_mean": "grid + golden section",
               "median": "grid + golden section"}
page_table(pd.DataFrame({"rule": [AGR_LABELS[r] for r in tailored_found],
                         "search": [search_used[r] for r in tailored_found],
                         "tailored γ": list(tailored_found.values())}), precision=4)

# %% [markdown]
# **Figure.** The tailored attacker's objective against $\gamma$ for four rules (solid) and the $\gamma$
# its search returns (dotted, same colour). For Krum and Multi-krum the search is the halving search. Krum's
# curve collapses once the copies stop being selected, and the search stops at the edge of that cliff;
# Multi-krum's curve is a sawtooth, and halving stops at the edge it reaches first, which need not be the
# highest tooth. For Median and Trimmed-mean there is nothing to accept or reject, so the textbook attack does
# not halve: it evaluates the deviation on a grid of γ up to the saturation point and refines the best
# grid point by golden-section search. The deviation saturates once every copy coordinate leaves the
# benign range (the rule then uses benign values only), and the search returns a point of the plateau.
# (The released code's hill-climb for these two rules is a halving search; see *Paper code against
# textbook*.)
#
# **Take-aways.** (1) The attacks differ only in *which* $\gamma$ they accept. (2) Halving and exact agree
# to about $10^{-5}$ when the optimum is reachable from $\gamma_{\text{init}}$, and halving never exceeds
# the exact Min-Max/Min-Sum optimum. (3) With a badly chosen $\gamma_{\text{init}}$ the released search
# silently returns a weaker attack.

# %% [markdown]
# ## Exercises
#
# Each exercise has a cell for your answer, holding a runnable but wrong start, a check cell that runs your
# answer against fedlib, and a hidden solution with its own check. On this page the check cells run on the
# starting answers, so they show what does not pass yet and a hint. Write your answer, then run its check
# cell; do not run the solution cells (they would replace your answer with ours).

# %%
import torch
from fedbook.exercises import check_exact_min_max_gamma, check_halving_search, check_min_max_test

# %% [markdown]
# ```{exercise} The Min-Max acceptance test
# :label: gamma_search-min-max-test
#
# Write `min_max_accepts(benign, gamma)` that returns `True` when the malicious update
# $\nabla^m = \nabla^b + \gamma\nabla^p$, with $\nabla^b$ the mean of the rows of `benign` and
# $\nabla^p = -\sigma$ (minus the coordinate-wise *unbiased* standard deviation, `benign.std(dim=0)`),
# satisfies the Min-Max constraint $\max_i \lVert\nabla^m - g_i\rVert^2 \le \max_{i,j}\lVert g_i - g_j\rVert^2$,
# and `False` otherwise.
#
# *The check* probes 40 values of $\gamma$ on each of 4 seeded rounds and requires `True` below fedlib's
# exact Min-Max $\gamma^*$ (`craft("min_max", ..., search="exact")`) and `False` above it.
# ```

# %%
def min_max_accepts(benign: torch.Tensor, gamma: float) -> bool:
    malicious = benign.mean(dim=0) - gamma * benign.std(dim=0)
    to_malicious = ((benign - malicious) ** 2).sum(dim=1)  # squared distance to each benign row
    # Start: accepts everything. Compare with the largest squared distance between two benign rows.
    return bool(to_malicious.max() >= 0)


# %%
check_min_max_test(min_max_accepts)


# %% [markdown]
# ```{solution-start} gamma_search-min-max-test
# :class: dropdown
# ```

# %%
def min_max_accepts(benign: torch.Tensor, gamma: float) -> bool:
    malicious = benign.mean(dim=0) - gamma * benign.std(dim=0)
    to_malicious = ((benign - malicious) ** 2).sum(dim=1)
    between_benign = torch.cdist(benign, benign) ** 2
    return bool(to_malicious.max() <= between_benign.max())


# %%
check_min_max_test(min_max_accepts, strict=True)  # strict: stops the notebook if wrong


# %% [markdown]
# ```{solution-end}
# ```

# %% [markdown]
# ```{exercise} Algorithm 1, the halving search
# :label: gamma_search-halving
#
# Write `halving_search(success, gamma_init, tau)` following the paper's Algorithm 1 as described above:
# start with $\gamma = \gamma_{\text{init}}$, step $= \gamma_{\text{init}}$ and $\gamma_{\text{succ}} = 0$;
# while $|\gamma_{\text{succ}} - \gamma| > \tau$, probe `success(gamma)`: on success record
# $\gamma_{\text{succ}} = \gamma$ and move up by half the step, otherwise move down by half the step; then
# halve the step. Return $\gamma_{\text{succ}}$.
#
# *The check* runs your search and `fedlib.attacks.halving_search` on five acceptance tests (two optima
# inside the reach, one of them with a coarser $\tau$; one above $2\gamma_{\text{init}}$; one that nothing
# passes; a band) and requires the
# same probes in the same order and the same answer.
# ```

# %%
def halving_search(success, gamma_init: float, tau: float = 1e-5) -> float:
    # Start: a single probe. Write the loop of Algorithm 1.
    return gamma_init if success(gamma_init) else 0.0


# %%
check_halving_search(halving_search)


# %% [markdown]
# ```{solution-start} gamma_search-halving
# :class: dropdown
# ```

# %%
def halving_search(success, gamma_init: float, tau: float = 1e-5) -> float:
    gamma, step, gamma_succ = gamma_init, gamma_init, 0.0
    while abs(gamma_succ - gamma) > tau:
        if success(gamma):
            gamma_succ = gamma
            gamma += step / 2
        else:
            gamma -= step / 2
        step /= 2
    return gamma_succ


# %%
check_halving_search(halving_search, strict=True)  # strict: stops the notebook if wrong


# %% [markdown]
# ```{solution-end}
# ```

# %% [markdown]
# ```{exercise} The exact Min-Max γ in closed form
# :label: gamma_search-exact
#
# The halving search needs a probe per step; the constraint itself is quadratic in $\gamma$. With
# $a_i = \lVert\nabla^b - g_i\rVert^2$, $b_i = (\nabla^b - g_i)\cdot\nabla^p$ and $c = \lVert\nabla^p\rVert^2$,
# each benign row gives $a_i + 2\gamma b_i + \gamma^2 c \le T$, $T = \max_{i,j}\lVert g_i - g_j\rVert^2$.
# Write `exact_min_max_gamma(benign)` that returns the largest $\gamma$ satisfying all of them at once
# ($\nabla^p = -\sigma$ as before), without any search.
#
# *The check* compares your value with fedlib's `craft("min_max", benign, m, search="exact").gamma` on 4
# seeded rounds, to a relative $10^{-8}$ (the halving answer, accurate to $\tau = 10^{-5}$, fails).
# ```

# %%
def exact_min_max_gamma(benign: torch.Tensor) -> float:
    # Start: the halving search's answer, accurate only to τ. Solve the quadratic instead.
    return craft("min_max", benign, 1, search="halving").gamma


# %%
check_exact_min_max_gamma(exact_min_max_gamma)


# %% [markdown]
# ```{solution-start} gamma_search-exact
# :class: dropdown
# ```
#
# Every $a_i \le T$ (the mean lies inside the benign rows' hull), so each quadratic is negative at
# $\gamma = 0$ and holds up to its larger root $\gamma_i = (-b_i + \sqrt{b_i^2 - c\,(a_i - T)})/c$; all hold
# up to the smallest of these roots.

# %%
def exact_min_max_gamma(benign: torch.Tensor) -> float:
    mean, direction = benign.mean(dim=0), -benign.std(dim=0)
    offset = mean - benign
    a, b, c = (offset**2).sum(dim=1), offset @ direction, direction @ direction
    threshold = (torch.cdist(benign, benign) ** 2).max()
    larger_roots = (-b + torch.sqrt(b**2 - c * (a - threshold))) / c
    return float(larger_roots.min())


print(f"synthetic round: exact γ = {exact_min_max_gamma(benign):.7f}; "
      f"fedlib: {found[('min_max', 'exact')].gamma:.7f}")

# %%
check_exact_min_max_gamma(exact_min_max_gamma, strict=True)  # strict: stops the notebook if wrong


# %% [markdown]
# ```{solution-end}
# ```
