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
# What was run: below the figure.

# %% tags=["parameters", "remove-cell"]
profile = "quick"
device = "auto"
seeds = None  # None: quick [0, 1] here (a band needs two); scale [0]; full [0, 1, 2]
results_dir = None
run_missing = None

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
from fedbook import paper
from fedbook.context import Context, committed
from IPython.display import Markdown, display

from fedlib.experiments import grids
from fedlib.report import tables
from fedlib.report.figures import malicious_fraction_figure

if seeds is None and profile == "quick":
    seeds = [0, 1]
ctx = Context(profile, device=device, seeds=seeds, results_dir=results_dir, run_missing=run_missing,
              notebook="notebooks/malicious_fraction.py")


def grid_for(profile, seeds):
    if profile == "scale":  # the committed reduced grid: Median, four attacks (grids.SCALE_FRACTION)
        return grids.scale_fraction_grid(seeds, device=device)
    if profile == "quick":
        return grids.malicious_fraction_grid(profile, seeds, percents=(10, 20, 30), device=device)
    return grids.malicious_fraction_grid(profile, seeds, percents=(5, 10, 15, 20, 25), device=device,
                                         aggregators=("multi_krum", "trimmed_mean", "median"))


runs = ctx.collect(grid_for(profile, ctx.seeds))
imp = tables.impacts(runs, by=["dataset", "model", "aggregator", "percent"])
fig = malicious_fraction_figure(imp, profile=profile, seeds=ctx.seeds, attacks=paper.ATTACKS)
display(fig)
plt.close(fig)
display(Markdown("**Figure.** Attack impact (no-attack accuracy − attacked accuracy, percentage points) "
                 "against the share of malicious clients, one line per attack (mean over seeds), band ± 1 "
                 "standard deviation over seeds. " + tables.caption(
                     profile, runs.dataset.unique(), ctx.seeds, "Full knowledge; f = number of attackers.")))
display(Markdown(f"*{len(runs)} runs ({ctx.describe()}); diverged: {int(runs.diverged.sum())}.*"))

# %% [markdown]
# More attackers move the benign mean less but give the malicious update more weight and the robust
# rules a larger $f$ to assume (the released CIFAR10 code has constants for 3–12 attackers of 50
# clients, about 6 %–24 %).
#
# **Grid.** Full profile: every dataset, Multi-krum, Trimmed-mean and Median, every attack, 5 %–25 %,
# 3 seeds. Quick profile: **Multi-krum only, 10 %, 20 % and 30 %** (2, 4, 6 of 20 clients), **two seeds**
# (for the band), 50 rounds, full knowledge. Scale profile: the committed reduced grid below.

# %% tags=["hide-input"]
display(Markdown("**Table.** The figure's numbers (mean ± std over seeds, pp). "
                 + tables.caption(profile, runs.dataset.unique(), ctx.seeds)))
numbers = tables.summarise(tables.label(imp), ["dataset", "aggregator", "attack"], ["percent"], "impact")
numbers.columns = [f"{p:g} %" for p in numbers.columns]
tables.page_table(numbers.reset_index().rename(columns={"aggregator": "AGR"}))

# %% [markdown]
# ## Full-size runs: the scale profile
#
# The same figure from the committed `scale` results (full Fashion-MNIST in the paper's MNIST setting,
# 100 clients, 300 rounds; **the paper used MNIST**). The committed grid is what a 2-core CPU computes in
# well under an hour: Median at 10, 20 and 30 % malicious clients, seed 0, the Fang, LIE, Min-Max and
# Min-Sum attacks (`fedlib.experiments.grids.SCALE_FRACTION`); with one seed the lines have no band.

# %% tags=["hide-input"]
if profile == "quick":
    scale_runs, note = committed("scale", lambda s: grid_for("scale", s), notebook="notebooks/malicious_fraction.py")
    if scale_runs is None:
        display(Markdown(f"*{note}*"))
    else:
        scale_imp = tables.impacts(scale_runs, by=["dataset", "model", "aggregator", "percent"])
        scale_seeds = sorted(int(s) for s in scale_runs.seed.unique())
        fig = malicious_fraction_figure(scale_imp, profile="scale", seeds=scale_seeds,
                                        attacks=grids.SCALE_FRACTION["attacks"])
        display(fig)
        plt.close(fig)
        display(Markdown("**Figure.** As above, from the committed scale-profile results. " + tables.caption(
            "scale", scale_runs.dataset.unique(), scale_seeds, "Full knowledge; f = number of attackers.")))
else:
    display(Markdown(f"*This notebook ran in the `{profile}` profile: the figure above is the {profile} figure.*"))
