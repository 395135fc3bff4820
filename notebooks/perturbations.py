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
# The optimisation attacks send $\nabla^b + \gamma\nabla^p$: the benign reference plus a scaled perturbation
# direction $\nabla^p$. fedlib has three directions — inverse unit vector, inverse standard deviation and
# inverse sign (defined below the tables) — and this page compares the optimisation attacks under each of them
# on Multi-krum and Median. Cells are impacts (percentage points): first at full size on a stand-in, then in the
# quick profile (Multi-krum only), small enough for a laptop CPU.
#
# ## Full size, on a stand-in: Fashion-MNIST (scale profile)

# %% tags=["parameters", "remove-cell"]
profile = "quick"
device = "auto"
seeds = None  # None: the profile's default (quick 0, 1, 2; full 0, 1, 2)
results_dir = None
run_missing = None

# %% tags=["hide-input"]
from fedbook import paper
from fedbook.captions import Captions
from fedbook.context import Context
from fedbook.judge import MIN_SEEDS
from fedbook.scale import scale_block
from fedbook.setup import stand_in
from IPython.display import Markdown, display

from fedlib.experiments import describe_profile, grids, seeds_text
from fedlib.report import tables

page = Captions()  # this page's table and figure numbers, in the order it shows them

DIRECTIONS = {"unit_vec": "inverse unit vector", "std": "inverse std", "sign": "inverse sign"}
BY = ["dataset", "model", "aggregator"]


def harm_table(imp):
    """Per rule and attack: the most harmful direction (largest mean impact), in how many seeds it is also that
    seed's most harmful, and the spread between the directions' means."""
    out = tables.most_harmful(tables.label(imp), ["aggregator", "attack"], "perturbation")
    out["most harmful"] = out["most harmful"].map(DIRECTIONS)
    return out.rename(columns={"aggregator": "AGR"})


def reading(table) -> str:
    """What the table supports, computed: the most harmful direction per cell, over the seeds with every direction,
    and whether each cell has the MIN_SEEDS paired seeds a finding needs."""
    n = len(table)
    if not n:
        return "no cell has a run with every direction yet."
    counts = table["seeds where it is"].str.split(" of ", expand=True).astype(int)
    stable = int(((counts[0] == counts[1]) & (counts[1] >= MIN_SEEDS)).sum())
    short = int((counts[1] < MIN_SEEDS).sum())
    favourite = table["most harmful"].value_counts()
    fewest = int(counts[1].min())
    text = (f"over the {fewest}–{int(counts[1].max())} seeds per cell with every direction" if counts[1].nunique()
            > 1 else f"over the {fewest} seed{'s' if fewest > 1 else ''} per cell with every direction")
    spread = table["spread (pp)"]
    text += (f", the most harmful direction is {favourite.index[0]} in {int(favourite.iloc[0])} of {n} cells "
             f"(the directions' means differ by {spread.min():.1f}–{spread.max():.1f} pp). ")
    if short:
        return text + (f"{short} of {n} cells have fewer than {MIN_SEEDS} such seeds: a provisional reading, not yet a "
                       "finding.")
    return text + f"In {stable} of {n} cells the same direction is the most harmful in every one of those seeds."


scale = scale_block("perturbations", device=device)
display(page.table("Impact (pp) of each attack with each perturbation direction, full knowledge, on "
                   + " and ".join(paper.AGR_LABELS[a] for a in grids.SCALE_PERTURBATION_RULES) + ". "
                   + scale.caption()))
display(tables.page_table(scale.table(index=("aggregator", "attack"), column="perturbation",
                                      clean_accuracy=False).rename(columns=DIRECTIONS)))
display(*map(Markdown, scale.notes()))  # runs not yet committed; twin cells, said before a reader suspects a copy
scale_imp = tables.paired_impacts(scale.runs, BY)
scale_harm = harm_table(scale_imp)
display(page.table("The most harmful direction per rule and attack on the stand-in, over the seeds that have "
                   "a run of every direction. " + scale.short_caption()))
display(tables.page_table(scale_harm))
display(Markdown(f"**Reading** (scale profile, {scale.seeds_per_cell()}): " + reading(scale_harm)))

# %% tags=["hide-input"]
display(Markdown(
    f"The `scale` profile is {stand_in('perturbations')}. The block (`fedlib.experiments.grids.scale_grid("
    "\"perturbations\")`: Multi-krum and Median × tailored, Min-Max, Min-Sum × the three directions, full knowledge, "
    f"{seeds_text(scale.seeds)}; the inverse-std cells are the main table's runs) is committed under `results/scale/` "
    "as the scale campaign computes it; this page never computes one."))

# %% [markdown]
# ## Quick profile (small enough for a laptop CPU)

# %% tags=["hide-input"]
ctx = Context(profile, device=device, seeds=seeds, results_dir=results_dir, run_missing=run_missing,
              notebook="notebooks/perturbations.py")
rules = {"quick": ("multi_krum",), "scale": grids.SCALE_PERTURBATION_RULES}.get(profile, paper.EXISTING_AGRS)
runs = ctx.collect(grids.perturbation_grid(profile, ctx.seeds, device=device, aggregators=rules))
imp = tables.impacts(runs, by=BY)
labelled = tables.label(imp)
labelled["perturbation"] = labelled["perturbation"].map(DIRECTIONS)
table = tables.summarise(labelled, ["dataset", "aggregator", "attack"], ["perturbation"], "impact")
table = table[list(DIRECTIONS.values())].reset_index().rename(columns={"aggregator": "AGR"})
if table.dataset.nunique() == 1:
    table = table.drop(columns="dataset")
display(page.table("Impact (pp) of each attack with each perturbation direction, full knowledge. "
                   + tables.caption(profile, runs.dataset.unique(), ctx.seeds,
                                    "Multi-krum only." if profile == "quick" else "")))
display(tables.page_table(table))
quick_harm = harm_table(imp)
display(page.table("The most harmful direction in the quick profile, over the seeds that have a run of "
                   "every direction. "
                   + tables.caption(profile, runs.dataset.unique(), ctx.seeds, over_seeds="")))
display(tables.page_table(quick_harm))
display(Markdown(f"*{len(runs)} runs ({ctx.describe()}); diverged: {int(runs.diverged.sum())}.*"))
small = "; a small problem: orderings, not sizes" if profile == "quick" else ""
display(Markdown(f"**Reading** ({profile} profile, {seeds_text(ctx.seeds)}{small}): " + reading(quick_harm)))

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
# **What the paper says.** Its introduction states that selecting the appropriate malicious perturbation
# can significantly boost the impact of model poisoning, and that the paper proposes a simple way to select
# the most effective perturbation for a given FL setting (its §VI-C). The book shows only the numbers of the
# paper's abstract and introduction (the Summary page says why), which state none for this page: no paper
# column. fedlib's `pick_perturbation` crafts with each direction on the round's data and keeps the one that
# moves the aggregate furthest; the tables above fix one direction per run.

# %% tags=["hide-input"]
display(Markdown(
    f"**Grid.** Full profile: every dataset × {len(paper.EXISTING_AGRS)} rules × (tailored, Min-Max, Min-Sum) × 3 "
    f"directions, full knowledge, {seeds_text([0, 1, 2])}. Scale profile: the tables at the top. Quick profile: "
    f"Multi-krum only, on {describe_profile('quick')}, {seeds_text(ctx.seeds)} (the inverse-std column re-uses "
    "the main table's runs). The quick grid leaves out the coordinate-wise rules (Median, Trimmed-mean), on which "
    "the tailored attack costs minutes per run even on the small problem."))
