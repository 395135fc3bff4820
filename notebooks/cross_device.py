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
# In *cross-device* FL the server draws a few clients per round out of many, so the number of attackers
# in a round varies (the paper: FEMNIST, 60 of 3,400 writers; its attacks 2×–3× stronger than Fang and
# LIE on Trimmed-mean, 4×–18× on Median). First at full size, then the quick version CI re-executes.
#
# ## Full size: Fashion-MNIST, 1,000 clients (scale profile)

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
from fedbook.scale import scale_block
from IPython.display import Markdown, display

from fedlib.experiments import grids
from fedlib.report import tables

SAMPLING = ("n_clients", "clients_per_round", "sampling", "n_malicious", "batch_size", "partition",
            "partition_alpha", "server_f")


def sampling_of(cells) -> str:
    setting = cells[0].experiment.to_dict()
    return ", ".join(f"{k} = {setting[k]}" for k in SAMPLING)


scale = scale_block("cross_device", device=device)
setting = grids.SCALE_CROSS_DEVICE
display(Markdown(
    f"**Table 1.** Cross-device impacts (pp), {setting['n_clients']:,} Dirichlet clients (α = "
    f"{setting['partition_alpha']:g}), {setting['clients_per_round']} per round with replacement, "
    f"{setting['n_malicious']} malicious, **full knowledge**. "
    + scale.caption()))
display(tables.page_table(scale.table(knowledge="full")))
claims = [(number, summary.ordering(number, {"cross_device": scale}))
          for number in paper.numbers(kind="ratio", dataset="femnist")]
display(Markdown("**The paper's FEMNIST ratios as orderings at full size** (our attacks' largest impact ÷ the larger "
                 f"of Fang's and LIE's inside {summary.ORDER_RANGE[0]:g}×–{summary.ORDER_RANGE[1]:g}×, the rule "
                 "of the summary page): " + "; ".join(
                     f"{paper.AGR_LABELS[n.aggregator]} (paper {n.shown}): {o['verdict']} ({o['text']})"
                     for n, o in claims) + "."))
display(Markdown(scale.missing_note()))

# %% [markdown]
# The scale block (`fedlib.experiments.grids.scale_grid("cross_device")`, seed 0) is the cross-device
# counterpart of the paper's FEMNIST runs on data available offline: Fashion-MNIST's 60,000 training
# images are split non-iid among 1,000 clients (for each class, the images are cut among the clients in
# Dir(α = 0.5) proportions, so most clients hold a few classes; 13–192 images per client), 60 clients are
# drawn per round with replacement, and each drawn client's whole local data is its batch, as in the
# released FEMNIST code. The server's f is the number of attackers drawn, capped at what the rule accepts
# on 60 rows (`server_f = "capped"`). The five existing rules × every attack; this page never computes a
# run, it reads what the campaign committed under `results/scale/`.
#
# ## Quick profile (what CI re-executes)

# %% tags=["hide-input"]
ctx = Context(profile, device=device, seeds=seeds, results_dir=results_dir, run_missing=run_missing,
              notebook="notebooks/cross_device.py")
rules = ("trimmed_mean", "median")
datasets = [("femnist", "femnist_cnn")] if profile == "full" else grids.datasets_for(profile)
cells = grids.scale_grid("cross_device", ctx.seeds, device=device) if profile == "scale" else []
for dataset, model in datasets if profile != "scale" else []:
    overrides = grids.cross_device_overrides(profile, dataset)
    cells += grids.attack_grid(profile, ctx.seeds, datasets=[(dataset, model)], device=device, aggregators=rules,
                               knowledge=("full",) if profile == "quick" else grids.KNOWLEDGE, **overrides)
runs = ctx.collect(cells)
for know in grids.KNOWLEDGE:
    table = tables.knowledge_table(runs, paper.ATTACKS, rules, know)
    if table is not None:
        display(Markdown(f"**Table {2 if know == 'full' else 3}.** Cross-device impacts (pp), **{know} knowledge**. "
                         + tables.caption(profile, runs.dataset.unique(), ctx.seeds,
                                          "Clients are sampled every round (see below).")))
        display(tables.page_table(table))
display(Markdown(f"*{len(runs)} runs ({ctx.describe()}); diverged: {int(runs.diverged.sum())}; sampling: "
                 + sampling_of(cells) + ".*"))

# %% [markdown]
# **Grid.** Full profile: FEMNIST (60 of 3,400 per round, with replacement, whole local data as the
# batch, as the released code) × Trimmed-mean and Median × every attack × both knowledge settings, 3 seeds.
# Quick profile: FEMNIST-style sampling on the embedded MNIST subset — 100 clients of 40 images, 20 drawn
# per round without replacement, whole local data as the batch, 20 malicious clients (the server's f is
# the number of attackers drawn) — full knowledge, seeds 0–2, 100 rounds.

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
display(Markdown("**Table 4.** Our attacks' impact ÷ the stronger of Fang's and LIE's. "
                 + tables.caption(profile, runs.dataset.unique(), ctx.seeds)))
tables.page_table(pd.DataFrame(rows))
