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
# in a round varies. The paper's cross-device experiment is FEMNIST; its introduction states that its attacks
# are 2×–3× stronger than Fang and LIE on Trimmed-mean and 4×–18× on Median there. First at full size on a
# Fashion-MNIST analogue, then in the quick profile, small enough for a laptop CPU.
#
# ## Full size, on a stand-in: a Fashion-MNIST analogue of FEMNIST (scale profile)

# %% tags=["parameters", "remove-cell"]
profile = "quick"
device = "auto"
seeds = None  # None: the profile's default (quick 0, 1, 2; full 0, 1, 2)
results_dir = None
run_missing = None

# %% tags=["hide-input"]
import pandas as pd
from fedbook import judge, paper, summary
from fedbook.captions import Captions
from fedbook.context import Context
from fedbook.scale import scale_block
from fedbook.setup import stand_in
from IPython.display import Markdown, display

from fedlib.experiments import describe_experiment, describe_profile, grids, seeds_text
from fedlib.report import tables

page = Captions()  # this page's table and figure numbers, in the order it shows them

scale = scale_block("cross_device", device=device)
display(page.table("Cross-device impacts (pp), **full knowledge**. " + scale.caption()))
display(tables.page_table(scale.table(knowledge="full")))
display(*map(Markdown, scale.notes()))  # runs not yet committed; twin cells, said before a reader suspects a copy
scale_ev = summary.Evidence.from_runs("the cross-device analogue", scale.runs, scale.wanted)
rows, scale_verdicts = [], {}
for number in paper.numbers(kind="ratio", dataset="femnist"):
    verdict = scale_verdicts[number.aggregator] = summary.judge_claim(number, scale_ev)
    rows.append({"claim": f"{paper.AGR_LABELS[number.aggregator]}: {number.quantity}", "paper (FEMNIST)": number.shown,
                 "full size, this analogue": verdict.shown})
display(page.table("The paper's FEMNIST ratios judged on this analogue, full knowledge (the Summary page's rule: our "
                   "strongest attack against the stronger of Fang and LIE, seed by seed; the ratio of their means "
                   "against the paper's range). " + scale.short_caption()))
display(tables.page_table(pd.DataFrame(rows)))
display(Markdown(judge.legend(v.outcome for v in scale_verdicts.values())))
display(*scale.late_section(["aggregator", "attack", "knowledge"], captions=page))

# %% tags=["hide-input"]
display(Markdown(
    f"The scale block (`fedlib.experiments.grids.scale_grid(\"cross_device\")`, {seeds_text(scale.seeds)}; "
    f"{scale.seeds_per_cell()}) is {stand_in('cross_device')}. For each class, the images are cut among the clients "
    "in Dirichlet proportions, so most clients hold a few classes; each drawn client's whole local data is its "
    "batch, as in the released FEMNIST code. The server's f is the number of attackers drawn, capped at what the "
    "rule accepts on the round's rows. The five existing rules × every attack; this page never computes a run, it "
    "reads what the campaign committed under `results/scale/`."))

# %% [markdown]
# ## Quick profile (small enough for a laptop CPU)

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
        display(page.table(f"Cross-device impacts (pp), **{know} knowledge**. "
                           + tables.caption(profile, runs.dataset.unique(), ctx.seeds,
                                            f"Setting: {describe_experiment(cells[0].experiment)}.")))
        display(tables.page_table(table))
display(Markdown(f"*{len(runs)} runs ({ctx.describe()}); diverged: {int(runs.diverged.sum())}.*"))

# %% tags=["hide-input"]
display(Markdown(
    f"**Grid.** Full profile: {describe_profile('full', 'femnist')} (as the released code) × Trimmed-mean and "
    f"Median × every attack × both knowledge settings, {seeds_text([0, 1, 2])}. Quick profile: FEMNIST-style "
    f"sampling on {describe_experiment(cells[0].experiment)}; the server's f is the number of attackers drawn; full "
    f"knowledge, {seeds_text(ctx.seeds)}."))

# %% [markdown]
# ## The paper's ratios beside ours, quick profile
#
# The judgement of the paper's FEMNIST ratios above, on the quick grid: an analogue on a small problem, never a
# verdict on the paper.

# %% tags=["hide-input"]
quick_ev = summary.Evidence.from_runs(f"the {profile} profile", runs)
rows, quick_verdicts = [], {}
for number in paper.numbers(kind="ratio", dataset="femnist"):
    verdict = quick_verdicts[number.aggregator] = summary.judge_claim(number, quick_ev)
    same = profile == "full" and set(runs.dataset) == {"femnist"} and ctx.paper_setting
    rows.append({"rule": paper.AGR_LABELS[number.aggregator], "paper (FEMNIST)": number.shown,
                 f"ours, {profile} profile": verdict.shown,
                 "same setting as the paper": "yes" if same else "no (analogue only)"})
display(page.table("Our attacks' impact against the stronger of Fang's and LIE's, full knowledge (the quick grid "
                   "runs no other). " + tables.caption(profile, runs.dataset.unique(), ctx.seeds, over_seeds="mean")))
display(tables.page_table(pd.DataFrame(rows)))
disagree = summary.profiles_disagree(scale_verdicts, quick_verdicts, paper.AGR_LABELS) if profile == "quick" else ""
display(Markdown(f"{judge.legend(v.outcome for v in quick_verdicts.values())} {disagree}".strip()))
