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
# # Which perturbation direction?
#
# The optimisation attacks send $\nabla^b + \gamma\nabla^p$; the paper compares three directions
# $\nabla^p$ (its §VI-C): inverse unit vector, inverse standard deviation and inverse sign. Cells are
# impacts (percentage points): first at full size, then the quick version that CI re-executes, whose last
# column names the most harmful direction. The directions: below the tables.
#
# ## Full size: Fashion-MNIST (scale profile)

# %% tags=["parameters", "remove-cell"]
profile = "quick"
device = "auto"
seeds = None  # None: the profile's default (quick [0]; scale [0]; full [0, 1, 2])
results_dir = None
run_missing = None

# %% tags=["hide-input"]
from fedbook import paper
from fedbook.context import Context
from fedbook.scale import scale_block
from IPython.display import Markdown, display

from fedlib.experiments import grids
from fedlib.report import tables

DIRECTIONS = {"unit_vec": "inverse unit vector", "std": "inverse std", "sign": "inverse sign"}


scale = scale_block("perturbations", device=device)
display(Markdown("**Table 1.** Impact (pp) of each attack with each perturbation direction on the full "
                 "Fashion-MNIST, full knowledge. " + scale.caption()))
display(tables.page_table(scale.table(index=("aggregator", "attack"), column="perturbation",
                                      clean_accuracy=False).rename(columns=DIRECTIONS)))
display(Markdown(scale.missing_note()))

# %% [markdown]
# The `scale` profile is the paper's MNIST setting (100 clients, 20 malicious, 300 rounds) on the full
# Fashion-MNIST (**the paper used MNIST**). The block (`fedlib.experiments.grids.scale_grid("perturbations")`:
# Multi-krum and Median × tailored, Min-Max, Min-Sum × the three directions, seed 0; the `std` cells are
# the main table's) is committed under `results/scale/` as the scale campaign computes it; this page never
# computes one.
#
# ## Quick profile (what CI re-executes)

# %% tags=["hide-input"]
ctx = Context(profile, device=device, seeds=seeds, results_dir=results_dir, run_missing=run_missing,
              notebook="notebooks/perturbations.py")
rules = {"quick": ("multi_krum",), "scale": grids.SCALE_PERTURBATION_RULES}.get(profile, paper.EXISTING_AGRS)
runs = ctx.collect(grids.perturbation_grid(profile, ctx.seeds, device=device, aggregators=rules))
imp = tables.impacts(runs, by=["dataset", "model", "aggregator"])
labelled = tables.label(imp)
labelled["perturbation"] = labelled["perturbation"].map(DIRECTIONS)
table = tables.summarise(labelled, ["dataset", "aggregator", "attack"], ["perturbation"], "impact")
table = table[["inverse unit vector", "inverse std", "inverse sign"]]
best = labelled.groupby(["dataset", "aggregator", "attack", "perturbation"]).impact.mean().reset_index()
best = best.loc[best.groupby(["dataset", "aggregator", "attack"]).impact.idxmax()]
table["most harmful"] = best.set_index(["dataset", "aggregator", "attack"]).perturbation.reindex(table.index)
table = table.reset_index().rename(columns={"aggregator": "AGR"})
if table.dataset.nunique() == 1:
    table = table.drop(columns="dataset")
display(Markdown("**Table 2.** Impact (pp) of each attack with each perturbation direction, full knowledge. "
                 + tables.caption(profile, runs.dataset.unique(), ctx.seeds,
                                  "Quick profile: Multi-krum only." if profile == "quick" else "")))
display(tables.page_table(table))
display(Markdown(f"*{len(runs)} runs ({ctx.describe()}); diverged: {int(runs.diverged.sum())}.*"))

# %% [markdown]
# **The directions**, computed from the benign updates the adversary knows (mean $\mu$, coordinate
# standard deviation $\sigma$):
#
# - **inverse unit vector** `unit_vec`: $-\mu/\lVert\mu\rVert_2$ — straight against the benign direction;
# - **inverse standard deviation** `std`: $-\sigma$ — large where the benign updates disagree anyway,
#   so the malicious update hides in the noise (the released CIFAR10 runs use it);
# - **inverse sign** `sign`: $-\mathrm{sign}(\mu)$ — every coordinate moved by the same amount against
#   the benign sign (the released FEMNIST runs use it).
#
# **Grid.** Full profile: every dataset × 5 rules × (tailored, Min-Max, Min-Sum) × 3 directions, full
# knowledge, 3 seeds. Scale profile: the table at the top. Quick profile: **Multi-krum only**, seeds 0–2,
# 100 rounds (the `std` column re-uses the main table's runs); the tailored attack on Median and
# Trimmed-mean costs too much CPU for the book's CI budget.
#
# **Reading.** The paper reports that the best direction depends on the dataset and rule, and selects it
# per setting (its exact heuristic is not in the text available to us; fedlib's `pick_perturbation`
# crafts with each direction on the round's data and keeps the one that moves the aggregate furthest).
# The paper's per-cell numbers are not available, so there is no paper column.
