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
# # Cross-device federated learning
#
# In *cross-silo* FL every client takes part in every round; in *cross-device* FL the server draws a few
# clients per round out of many (the paper's FEMNIST runs draw 60 of 3,400 writers each round), so the
# number of malicious clients in a round varies and every client has little data. The paper reports, for
# FEMNIST, that its attacks reduce accuracy 2×–3× more than Fang and LIE on Trimmed-mean and 4×–18× more
# on Median. What was run: below the table.

# %% tags=["parameters", "remove-cell"]
profile = "quick"
device = "auto"
seeds = None  # None: the profile's default (quick [0]; scale [0]; full [0, 1, 2])
results_dir = None
run_missing = None

# %% tags=["hide-input"]
import pandas as pd
from fedbook import paper, summary
from fedbook.context import Context
from IPython.display import Markdown, display

from fedlib.experiments import grids
from fedlib.report import tables

ctx = Context(profile, device=device, seeds=seeds, results_dir=results_dir, run_missing=run_missing,
              notebook="notebooks/cross_device.py")
rules = ("trimmed_mean", "median")
datasets = [("femnist", "femnist_cnn")] if profile == "full" else grids.datasets_for(profile)
cells = []
for dataset, model in datasets:
    overrides = grids.cross_device_overrides(profile, dataset)
    cells += grids.attack_grid(profile, ctx.seeds, datasets=[(dataset, model)], device=device, aggregators=rules,
                               knowledge=("full",) if profile == "quick" else grids.KNOWLEDGE, **overrides)
sampling = {k: v for k, v in cells[0].experiment.to_dict().items()
            if k in ("n_clients", "clients_per_round", "sampling", "n_malicious", "batch_size")}
runs = ctx.collect(cells)
for know in grids.KNOWLEDGE:
    table = tables.knowledge_table(runs, paper.ATTACKS, rules, know)
    if table is not None:
        display(Markdown(f"**Table.** Cross-device impacts (pp), **{know} knowledge**. " + tables.caption(
            profile, runs.dataset.unique(), ctx.seeds, "Clients are sampled every round (see below).")))
        display(tables.page_table(table))
display(Markdown(f"*{len(runs)} runs ({ctx.describe()}); diverged: {int(runs.diverged.sum())}; sampling: "
                 + ", ".join(f"{k} = {v}" for k, v in sampling.items()) + ".*"))

# %% [markdown]
# **Grid.** Full profile: FEMNIST (60 of 3,400 per round, with replacement, whole local data as the
# batch, as the released code) × Trimmed-mean and Median × every attack × both knowledge settings, 3 seeds.
# Quick profile: FEMNIST-style sampling on the embedded MNIST subset — 100 clients of 40 images, 20 drawn
# per round without replacement, whole local data as the batch, 20 malicious clients (the server's f is
# the number of attackers drawn) — full knowledge, one seed, 50 rounds.

# %% [markdown]
# ## The paper's ratios beside ours
#
# The paper states the ratio of its attacks' impact to Fang's and LIE's for FEMNIST. Ours is the largest
# impact among tailored, Min-Max and Min-Sum divided by the larger of Fang's and LIE's, per rule and
# knowledge setting.

# %% tags=["hide-input"]
imp = tables.impacts(runs, by=["dataset", "model", "aggregator"])
rows = []
for number in paper.numbers(kind="ratio", dataset="femnist"):
    sub = imp[imp.aggregator == number.aggregator]
    measured = summary.measure(number, sub)
    same = profile == "full" and set(runs.dataset) == {"femnist"} and ctx.paper_setting
    rows.append({"rule": paper.AGR_LABELS[number.aggregator], "paper (FEMNIST)": number.shown,
                 f"ours ({profile}, {', '.join(runs.dataset.unique())})": measured["text"],
                 "same setting as the paper": "yes" if same else "no (analogue only)"})
display(Markdown("**Table.** Our attacks' impact ÷ the stronger of Fang's and LIE's. "
                 + tables.caption(profile, runs.dataset.unique(), ctx.seeds)))
tables.page_table(pd.DataFrame(rows))
