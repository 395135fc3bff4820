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
# # AFA and Fang's defense
#
# Besides the five classic rules, the paper attacks two defenses that *filter* updates: **AFA** (adaptive
# federated averaging) and **Fang's defense** (validation-based rejection). Cells are impacts (no-attack
# accuracy minus attacked accuracy, percentage points): first at full size on a stand-in, then in the
# quick profile, small enough for a laptop CPU. How the two rules work: below the tables.
#
# ## Full size, on a stand-in: Fashion-MNIST (scale profile)

# %% tags=["parameters", "remove-cell"]
profile = "quick"
device = "auto"
seeds = None  # None: the profile's default (quick 0, 1, 2; full 0, 1, 2)
results_dir = None
run_missing = None

# %% tags=["hide-input"]
import pandas as pd
from fedbook import paper
from fedbook.captions import Captions
from fedbook.context import Context
from fedbook.judge import Comparison
from fedbook.scale import scale_block
from fedbook.setup import stand_in
from IPython.display import Markdown, display

from fedlib.experiments import describe_profile, grids, seeds_text
from fedlib.report import tables

page = Captions()  # this page's table and figure numbers, in the order it shows them

RULES = ("afa", "fang_defense")
scale = scale_block("afa_fang", device=device)
display(page.table("Impacts (pp) on AFA and Fang's defense (Fang-TrMean), **full knowledge**; Fang's "
                   "attack uses its Trimmed-mean variant. " + scale.caption()))
display(tables.page_table(scale.table(knowledge="full")))
display(*map(Markdown, scale.notes()))  # runs not yet committed; twin cells, said before a reader suspects a copy


def reading(imp: pd.DataFrame, rules=RULES) -> str:
    """Which attack does the damage on each filter, from per-seed impacts: the strongest attack (by mean), the
    agnostic attacks' impacts, AGR-tailored against the stronger agnostic attack seed by seed, and the conclusion
    those comparisons support."""
    parts, tailored_wins, untested = [], [], []
    for rule in rules:
        g = imp[(imp.aggregator == rule) & (imp.knowledge == "full")]
        if g.empty:
            continue
        means = g.groupby("attack").impact.mean()
        best = means.idxmax()
        agnostic = means.reindex(["min_max", "min_sum"]).dropna()
        text = (f"on {paper.AGR_LABELS[rule]} the strongest attack is {paper.ATTACK_LABELS[best]} "
                f"({tables.mean_sd(g[g.attack == best].impact)} pp); the AGR-agnostic attacks move it by "
                + " and ".join(f"{paper.ATTACK_LABELS[a]} {tables.mean_sd(g[g.attack == a].impact)} pp"
                               for a in agnostic.index))
        if "tailored" in means and len(agnostic):
            rival = agnostic.idxmax()
            c = Comparison(paper.AGR_LABELS[rule], "AGR-tailored", paper.ATTACK_LABELS[rival],
                           g[g.attack == "tailored"].groupby("seed").impact.mean(),
                           g[g.attack == rival].groupby("seed").impact.mean())
            text += (f"; AGR-tailored is above {paper.ATTACK_LABELS[rival]} in {c.above} of {len(c.seeds)} "
                     "paired seeds")
            tailored_wins.append(c.direction() == "up")
        else:
            untested.append(paper.AGR_LABELS[rule])
        parts.append(text)
    if tailored_wins and all(tailored_wins) and len(tailored_wins) == len(rules):
        conclusion = (" On both filters the attack that simulates the filter (AGR-tailored) does the most damage: "
                      "it is above the stronger agnostic attack in every seed.")
    elif untested:
        conclusion = (f" No AGR-tailored run on {' or '.join(untested)} here, so whether the attack that simulates "
                      "the filter beats the agnostic ones is not tested on " + ("it" if len(untested) == 1 else
                                                                                 "them") + ".")
    else:
        conclusion = (" The seeds do not show that the tailored attack beats the agnostic ones on every filter "
                      "here (it needs three paired seeds per filter, above in each).")
    return "; ".join(parts) + "." + conclusion


scale_imp = tables.paired_impacts(scale.runs, ["dataset", "model", "aggregator"])
main = scale_block("main", device=device)
main_imp = tables.paired_impacts(main.runs, ["dataset", "model", "aggregator"])
if len(scale_imp) and len(main_imp):
    side = pd.concat([scale_imp, main_imp[(main_imp.aggregator == "trimmed_mean") & (main_imp.knowledge == "full")]])
    side_table = tables.summarise(tables.label(side), ["aggregator"], ["attack"], "impact")
    display(page.table("The same attacks on AFA, Fang's defense and plain Trimmed-mean (the base rule of "
                       "Fang's defense here; the *Main table* chapter's runs), full knowledge, impact (pp). "
                       + scale.short_caption()))
    display(tables.page_table(side_table.reindex(columns=[paper.ATTACK_LABELS[a] for a in paper.ATTACKS])
                              .reset_index().rename(columns={"aggregator": "AGR"})))
    display(Markdown(f"**Reading** (scale profile, {seeds_text(scale.seeds_present)}): " + reading(scale_imp)))
else:
    display(Markdown("*No reading in the scale profile yet: the blocks it needs have no committed run.*"))
display(*scale.late_section(["aggregator", "attack", "knowledge"], captions=page))

# %% tags=["hide-input"]
display(Markdown(
    f"The `scale` profile is {stand_in('afa_fang')}. The block (`fedlib.experiments.grids.scale_grid(\"afa_fang\")`: "
    f"both rules × every attack, full knowledge, {seeds_text(scale.seeds)}; {scale.seeds_per_cell()}) is committed "
    "under `results/scale/` as the scale campaign computes it; this page never computes one."))

# %% [markdown]
# ## Quick profile (small enough for a laptop CPU)

# %% tags=["hide-input"]
ctx = Context(profile, device=device, seeds=seeds, results_dir=results_dir, run_missing=run_missing,
              notebook="notebooks/afa_fang_defense.py")
quick = profile == "quick"
cells = (grids.scale_grid("afa_fang", ctx.seeds, device=device) if profile == "scale" else
         grids.attack_grid(profile, ctx.seeds, device=device, aggregators=RULES,
                           knowledge=("full",) if quick else grids.KNOWLEDGE,
                           skip=[("fang_defense", "tailored")] if quick else []))
runs = ctx.collect(cells)
for know in grids.KNOWLEDGE:
    table = tables.knowledge_table(runs, paper.ATTACKS, RULES, know)
    if table is None:
        continue
    note = "Fang's attack uses its Trimmed-mean variant here." + (
        " Quick profile: full knowledge only; n/a: no tailored attack on Fang's defense (too slow for CI)."
        if quick else "")
    display(page.table(f"Impacts (pp) on AFA and Fang's defense "
                       f"(Fang-TrMean), **{know} knowledge**. "
                       + tables.caption(profile, runs.dataset.unique(), ctx.seeds, note)))
    display(tables.page_table(table))
display(Markdown(f"*{len(runs)} runs ({ctx.describe()}); diverged: {int(runs.diverged.sum())}.*"))
display(Markdown(f"Quick profile ({seeds_text(ctx.seeds)}; a small problem: orderings, not sizes): "
                 + reading(tables.impacts(runs, ["dataset", "model", "aggregator"]))))

# %% [markdown]
# **The two rules.**
#
# - **AFA** (adaptive federated averaging, Muñoz-González et al.): repeatedly drops updates whose cosine
#   similarity to the mean is an outlier, then averages the rest. The original AFA also keeps a
#   **reputation**: a Beta-distributed "good" probability per client, learned over rounds, that weights
#   each update and blocks a client for good once it is likely bad. `fedlib.aggregators.afa` accepts one
#   (`reputation=`), but the runs on this page use AFA **without reputation**: every round starts afresh
#   with equal weights, so a malicious client is filtered round by round and never blocked.
# - **Fang's defense** (Fang et al.): scores each update by how much removing it improves the loss
#   (LFR) and the error rate (ERR) of the updated model on a server-held validation set. fedlib's default
#   is the union of the two: each score drops its $f$ worst updates, so up to $2f$ are removed; ties
#   between equal scores are broken by a seeded random order, never by row position (malicious rows come
#   first). The rest are aggregated with a base rule (here Trimmed-mean, *Fang-TrMean*).
#
# The tailored attack
# on AFA keeps every malicious copy among AFA's survivors; on Fang's defense it must simulate the
# validation-based scoring for every probe of the γ search. Fang's own attacks were designed for the
# Krum family and Trimmed-mean/Median, not for a filter; against these filters we send its Trimmed-mean
# attack (our choice).

# %% tags=["hide-input"]
display(Markdown(
    f"**Grid.** Full profile: both rules × every attack × both knowledge settings, {seeds_text([0, 1, 2])}, every "
    f"dataset. Scale profile: the table at the top. Quick profile: {describe_profile('quick')}, full knowledge "
    f"only, {seeds_text(ctx.seeds)}, and no tailored attack on Fang's defense (it simulates the defense, with its "
    "validation evaluations, at every probe of the γ search: minutes per run even on the small problem). The "
    "book shows only the numbers of the paper's abstract and introduction (the Summary page says why), which state "
    "none for these rules, so no paper column appears."))
