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
# # Impact against the percentage of malicious clients
#
# The paper's default is 20 % malicious clients; its figure varies the share. The server is told the true
# number of attackers ($f = m$), as in the released code, so every percentage has its own no-attack run.
# First at full size on a stand-in, then in the quick profile, small enough for a laptop CPU.
#
# ## Full size, on a stand-in: Fashion-MNIST (scale profile)

# %% tags=["parameters", "remove-cell"]
profile = "quick"
device = "auto"
seeds = None  # None: the profile's default (quick 0, 1, 2; full 0, 1, 2)
results_dir = None
run_missing = None

# %% tags=["hide-input"]
# %% tags=["hide-input"]
import matplotlib.pyplot as plt
from fedbook import paper
from fedbook.captions import Captions
from fedbook.context import Context
from fedbook.scale import scale_block
from fedbook.setup import stand_in
from IPython.display import Markdown, display

from fedlib.experiments import describe_profile, experiment_for, grids, seeds_text
from fedlib.report import tables
from fedlib.report.figures import malicious_fraction_figure

page = Captions()  # this page's table and figure numbers, in the order it shows them

BY = ["dataset", "model", "aggregator", "percent"]


def percent_columns(table):
    return table.rename(columns=lambda c: f"{float(c):g} %" if str(c)[:1].isdigit() else c)


scale = scale_block("malicious_fraction", device=device)
scale_imp = tables.order(tables.paired_impacts(scale.runs, BY), "aggregator", grids.SCALE_FRACTION["aggregators"])
if len(scale_imp):
    fig = malicious_fraction_figure(scale_imp, profile="scale", seeds=scale.seeds_present, attacks=paper.ATTACKS)
    display(fig)
    plt.close(fig)
    display(page.figure("Attack impact against the share of malicious clients, one panel per rule, one line "
                        "per attack (mean over the committed seeds of each point; a band of ± 1 std where a point has "
                        f"several: {scale.seeds_per_cell()}). "
                        + scale.caption("Full knowledge; f = number of attackers.")))
else:
    display(Markdown("*No run of this block is committed yet: no figure.*"))
table = scale.table(index=("aggregator", "attack"), column="percent", by=BY, clean_accuracy=False)
display(page.table("The figure's numbers (impact, pp), every cell of the block. " + scale.short_caption()))
display(tables.page_table(percent_columns(table)))
display(*map(Markdown, scale.notes()))  # runs not yet committed; twin cells, said before a reader suspects a copy
display(*scale.late_section(["aggregator", "attack", "percent"], captions=page, by=BY))

# %% tags=["hide-input"]
fraction = grids.SCALE_FRACTION
display(Markdown(
    f"The `scale` profile is {stand_in('malicious_fraction')}. This block "
    "(`fedlib.experiments.grids.scale_grid(\"malicious_fraction\")`) runs "
    + ", ".join(paper.AGR_LABELS[a] for a in fraction["aggregators"]) + " × every attack at "
    + ", ".join(f"{p:g}" for p in fraction["percents"]) + f" % malicious clients, full knowledge, "
    f"{seeds_text(scale.seeds)}; its runs are committed under `results/scale/` as the campaign computes them (the "
    "20 % cells are the main table's), and this page never computes one."))

# %% [markdown]
# ## Quick profile (small enough for a laptop CPU)

# %% tags=["hide-input"]
ctx = Context(profile, device=device, seeds=seeds, results_dir=results_dir, run_missing=run_missing,
              notebook="notebooks/malicious_fraction.py")
QUICK_PERCENTS = (10, 20, 30)


def grid_for(profile, seeds):
    if profile == "scale":
        return grids.scale_grid("malicious_fraction", seeds, device=device)
    if profile == "quick":
        return grids.malicious_fraction_grid(profile, seeds, percents=QUICK_PERCENTS, device=device)
    return grids.malicious_fraction_grid(profile, seeds, device=device, **grids.FULL_FRACTION)


runs = ctx.collect(grid_for(profile, ctx.seeds))
imp = tables.impacts(runs, by=BY)
fig = malicious_fraction_figure(imp, profile=profile, seeds=ctx.seeds, attacks=paper.ATTACKS)
display(fig)
plt.close(fig)
display(page.figure("Attack impact (no-attack accuracy − attacked accuracy, percentage points) "
                    "against the share of malicious clients, one line per attack (mean over seeds), band ± 1 "
                    "standard deviation over seeds. " + tables.caption(
                        profile, runs.dataset.unique(), ctx.seeds, "Full knowledge; f = number of attackers.")))
display(Markdown(f"*{len(runs)} runs ({ctx.describe()}); diverged: {int(runs.diverged.sum())}.*"))

# %% [markdown]
# More attackers move the benign mean less but give the malicious update more weight and the robust
# rules a larger $f$ to assume (the released CIFAR10 code has constants for 3–12 attackers of 50
# clients, about 6 %–24 %).

# %% tags=["hide-input"]
full_rules = ", ".join(paper.AGR_LABELS[a] for a in grids.FULL_FRACTION["aggregators"])
quick_setting = experiment_for("quick")
beyond = [p for p in grids.SCALE_FRACTION["percents"] if p > max(grids.FULL_FRACTION["percents"])]
display(Markdown(
    f"**Grid.** Full profile: every dataset, {full_rules}, every attack, "
    + ", ".join(f"{p:g}" for p in grids.FULL_FRACTION["percents"]) + f" %, {seeds_text([0, 1, 2])}. "
    "Quick profile: Multi-krum only, " + ", ".join(f"{p:g}" for p in QUICK_PERCENTS) + " % malicious clients, "
    f"{seeds_text(ctx.seeds)} (for the band), full knowledge, on {describe_profile('quick')}: the profile's "
    f"{quick_setting.n_malicious} malicious of {quick_setting.n_clients} are its "
    f"{100 * quick_setting.n_malicious / quick_setting.n_clients:g} % point. Scale profile: the figure at the top ("
    + ", ".join(f"{p:g}" for p in grids.SCALE_FRACTION["percents"]) + " %" + (
        f"; beyond the full profile's range: {', '.join(f'{p:g}' for p in beyond)} %" if beyond else "") + ")."))

# %% tags=["hide-input"]
display(page.table("The quick figure's numbers (mean ± std over seeds, pp). "
                   + tables.caption(profile, runs.dataset.unique(), ctx.seeds)))
numbers = tables.summarise(tables.label(imp), ["dataset", "aggregator", "attack"], ["percent"], "impact")
numbers.columns = [f"{p:g} %" for p in numbers.columns]
tables.page_table(numbers.reset_index().rename(columns={"aggregator": "AGR"}).drop(columns="dataset"))
