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
# # Main table: attack impacts on the existing robust rules
#
# The paper's central table compares the earlier attacks (Fang, LIE) with its own (AGR-tailored, Min-Max,
# Min-Sum) against five Byzantine-robust aggregation rules, with 20 % malicious clients. Each cell is an
# **impact**: the accuracy without attack minus with the attack, in percentage points (higher = stronger
# attack). First at full size, then the quick version that CI re-executes.
#
# ## Full size: Fashion-MNIST (scale profile)

# %% tags=["parameters", "remove-cell"]
profile = "quick"
device = "auto"
seeds = None  # None: the profile's default (quick [0]; scale [0]; full [0, 1, 2])
results_dir = None  # None: the committed results/<profile>/
run_missing = None  # None: compute missing results only in the quick profile

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from fedbook import paper, summary
from fedbook.context import Context
from fedbook.scale import scale_block
from IPython.display import Markdown, display

from fedlib.experiments import grids
from fedlib.report import tables

sns.set_theme(style="whitegrid")


scale = scale_block("main", device=device)
for number, know in enumerate(("full", "partial"), start=1):
    display(Markdown(f"**Table {number}.** Impact (pp) of each attack on the full Fashion-MNIST, **{know} "
                     f"knowledge**. " + scale.caption()))
    display(tables.page_table(scale.table(knowledge=know)))
display(Markdown(scale.missing_note()))

# %% [markdown]
# The `scale` profile runs the paper's MNIST setting (100 clients × 600 samples, 20 malicious, 300 rounds,
# a 784-100-10 network) on the full Fashion-MNIST: **the paper used MNIST**; Fashion-MNIST is the
# full-size dataset available offline here, and a harder task. Its runs take minutes each, so they are
# computed once by the scale campaign (`fedlib.experiments.grids.scale_grid("main")`: every rule × every
# attack × both knowledge settings × seeds 0–2) and committed under `results/scale/`; this page reads
# whatever part is committed and never computes one.
#
# ## Quick profile (what CI re-executes)

# %% tags=["hide-input"]
ctx = Context(profile, device=device, seeds=seeds, results_dir=results_dir, run_missing=run_missing,
              notebook="notebooks/main_table.py")
runs = ctx.collect(grids.attack_grid(profile, ctx.seeds, device=device))
for number, know in enumerate(("full", "partial"), start=3):
    display(Markdown(f"**Table {number}.** Impact (pp) of each attack, **{know} knowledge** "
                     + ("(the adversary knows every benign gradient of the round)" if know == "full" else
                        "(the adversary knows only its own clients' honest gradients)") + ". "
                     + tables.caption(profile, runs.dataset.unique(), ctx.seeds,
                                      "n/a: a run that cannot exist in this profile (see below).")))
    display(tables.page_table(tables.knowledge_table(runs, paper.ATTACKS, paper.EXISTING_AGRS, know)))
display(Markdown(f"*{len(runs)} runs ({ctx.describe()}); diverged: {int(runs.diverged.sum())}.*"))

# %% [markdown]
# **Grid.** Full profile: the paper's five settings (CIFAR10 with Alexnet and VGG11, Purchase, MNIST,
# FEMNIST) × 5 rules × 5 attacks × 2 knowledge settings, 3 seeds. Quick profile (what the book is built
# with): the same 5 × 5 × 2 grid on the embedded MNIST subset, **seeds 0–2, 100 rounds**, computed
# once and committed under `results/quick/` (the book build reads them). Scale profile: the table at the top.
#
# *n/a* in the quick profile: with partial knowledge the tailored attacker simulates the rule on its own
# $m = 4$ honest gradients plus $m' = \max(1, \lfloor m^2/n\rfloor) = 1$ copy (the released rule, spec §2);
# Bulyan needs at least $4f + 3 = 7$ rows, so the adversary cannot simulate it and the run does not exist.
# In the scale and full profiles ($m = 20$ of 100, $m = 10$ of 50) the simulation is possible.
#
# ## The paper's numbers beside ours
#
# The only cells of this table that the available paper text states are the CIFAR10-Alexnet impacts
# under partial knowledge (the sentence does not name the rule; we compare with our largest impact over
# the five rules). They can only be compared with a `full`-profile run on CIFAR10.

# %% tags=["hide-input"]
imp = tables.impacts(runs, by=["dataset", "model", "aggregator"])
rows = []
for number in paper.numbers(kind="impact"):
    sub = imp[(imp.dataset == number.dataset) & (imp.model == number.model)]
    measured = summary.measure(number, sub)
    rows.append({"setting": number.setting, "attack": paper.ATTACK_LABELS[number.attack],
                 "paper (pp)": number.shown,
                 f"ours, {ctx.setting} (pp)": measured["text"] if len(sub) else
                 f"not run (the {profile} profile has no {paper.DATASET_LABELS[number.dataset]} runs)"})
tables.page_table(pd.DataFrame(rows))

# %% [markdown]
# ## Does the paper's ordering hold here?
#
# The paper's claim is about orderings: its attacks reduce accuracy 1.5× to 60× more than Fang and LIE.
# The ratio below is the largest impact of our attacks (tailored, Min-Max, Min-Sum) divided by the larger
# of Fang's and LIE's, per rule and knowledge setting (– when Fang and LIE have no positive impact).

# %% tags=["hide-input"]
ratio_rows = []
for (agr, know), g in imp.groupby(["aggregator", "knowledge"], sort=False):
    means = g.groupby("attack").impact.mean()
    best_ours = means.reindex(summary.OURS).idxmax()  # skips attacks that have no run here
    best_prior = means.reindex(summary.PRIOR).idxmax()
    ratio = tables.attack_ratio(g, summary.OURS)
    ratio_rows.append({"AGR": paper.AGR_LABELS[agr], "knowledge": know,
                       "strongest of ours": f"{paper.ATTACK_LABELS[best_ours]} ({means[best_ours]:.1f})",
                       "stronger of Fang/LIE": f"{paper.ATTACK_LABELS[best_prior]} ({means[best_prior]:.1f})",
                       "ratio": "–" if pd.isna(ratio) else f"{ratio:.1f}×"})
ratios = pd.DataFrame(ratio_rows)
caption = tables.caption(profile, runs.dataset.unique(), ctx.seeds)
display(Markdown("**Table.** Strongest attack of each family per rule. " + caption))
tables.page_table(ratios)

# %% tags=["hide-input"]
heat = tables.label(imp).groupby(["knowledge", "aggregator", "attack"], sort=False).impact.mean().reset_index()
fig, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
for ax, know in zip(axes, ("full", "partial"), strict=True):
    grid = heat[heat.knowledge == know].pivot(index="aggregator", columns="attack", values="impact")
    grid = grid.reindex(index=[paper.AGR_LABELS[a] for a in paper.EXISTING_AGRS],
                        columns=[paper.ATTACK_LABELS[a] for a in paper.ATTACKS])
    sns.heatmap(grid, annot=True, fmt=".1f", cmap="rocket_r", ax=ax, cbar_kws={"label": "impact (pp)"})
    ax.set_title(f"{know} knowledge")
    ax.set_xlabel("attack")
    ax.set_ylabel("aggregation rule")
fig.suptitle(f"Attack impact (accuracy drop, percentage points), {profile} profile, "
             f"{', '.join(paper.DATASET_LABELS[d] for d in runs.dataset.unique())}")
fig.tight_layout()
plt.show()
display(Markdown("**Figure.** The main table's impacts as a heat map (darker = larger accuracy drop). "
                 + tables.caption(profile, runs.dataset.unique(), ctx.seeds)))

# %% [markdown]
# **Reading.** Each impact is one FL training per seed, and differences of one or two points between
# single runs are within run-to-run noise on this small problem. Where the paper's ordering (our attacks
# above Fang and LIE) fails to appear in the quick profile, that is a finding about the small problem,
# not a verdict on the paper: see the summary page for the verdict rule.
