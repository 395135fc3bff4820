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
# # Test your own rule
#
# The paper's lesson is that a robust aggregation rule (AGR) must be judged against an adversary who
# *knows the rule*. This chapter turns that into a workflow: write a rule in ten lines, register it,
# and ask fedlib for its **report card** — one row per attack (no attack, Fang, LIE, AGR-tailored, Min-Max,
# Min-Sum, and the newer IPM and Mimic) with
#
# - the **deviation** each attack causes, $\lVert \mathrm{AGR}(\text{crafted} \cup \text{benign}) - \mu
#   \rVert$ relative to $\lVert\mu\rVert$, measured on benign gradients captured from real training rounds
#   (seconds, no training), and
# - the **FL impact**: no-attack accuracy minus attacked accuracy after federated training with the rule.
#
# The AGR-tailored attack needs no code for a new rule: for a rule without a dedicated form, fedlib runs the
# paper's framework with the rule as a black box — copies of $\mu + \gamma\nabla_p$ with the $\gamma$ that
# maximises the deviation on the adversary's simulation of the rule (a geometric grid, golden-section
# refinement, and the $\gamma$ of Min-Max and Min-Sum as candidates, so it never finds less than they do).

# %% tags=["parameters", "remove-cell"]
profile = "quick"
device = "auto"
seeds = None  # None: quick [0] in this chapter (one seed per report card); scale [0]; full [0, 1, 2]
results_dir = None
run_missing = None

# %%
import matplotlib.pyplot as plt
import pandas as pd
from fedbook.context import Context
from IPython.display import Markdown, display

import fedlib
from fedlib.experiments import grids, seeds_text
from fedlib.report import tables
from fedlib.report.figures import report_card, report_cards
from fedlib.report.labels import AGR_LABELS, ATTACK_LABELS

quick = profile == "quick"
ctx = Context(profile, device=device, seeds=[0] if seeds is None and quick else seeds, results_dir=results_dir,
              run_missing=run_missing, notebook="notebooks/your_own_rule.py")
# Quick profile (the book's CI build, about 3 minutes on one core): 12 FL rounds instead of the profile's 100,
# one seed, gradients captured at rounds 0, 6 and 12, and a coarser generic tailored search (9 grid points
# and 4 golden-section steps instead of 13 and 8). Other profiles use their own rounds and the default search,
# and train only with run_missing=True.
ROUNDS = 12 if quick else None
TRAIN = quick or bool(ctx.run_missing)
SETTINGS = dict(profile=profile, seeds=ctx.seeds, rounds=ROUNDS, results_dir=ctx.folder, device=device,
                capture_rounds=(0, 6, 12) if quick else (0, 10, 20),
                attack_options={"tailored": {"generic_grid": 9, "generic_iters": 4}} if quick else None)
display(Markdown(f"*Setting: {ctx.describe()}; {f'{ROUNDS} FL rounds' if ROUNDS else 'the profile’s FL rounds'}; "
                 + ("the report cards train the model (impact) and measure the deviation.*" if TRAIN else
                    "deviation only, no training.*")))

# %% [markdown]
# ## A ten-line rule
#
# A **norm-clipped mean**: every update longer than the median update norm is scaled down to that norm,
# then all are averaged. Long malicious updates lose their leverage; short ones pass unchanged.
#
# A rule is a plain PyTorch function `rule(updates, f=0, **kw)`: `updates` is the round's $(n, d)$ tensor, one
# row per client, `f` the number of malicious rows the server assumes, and it returns the aggregate, a tensor
# of shape $(d,)$. `register` makes it a name that every part of fedlib accepts (the FL engine, the attacks,
# `evaluate`, the Flower strategy). It first calls the rule once on a small made-up input: a result of the
# wrong shape, dtype or device, non-finite values, or a rule without `f`, is an error that names the rule,
# before anything trains. A rule that also reports which rows it kept returns
# `fedlib.aggregators.Aggregate(vector, selected)` instead of the bare tensor.

# %%
import torch

from fedlib.aggregators import Aggregate, names, register


def clipped_mean(updates, f=0, **kw):
    """Scale every row down to the median row norm, then average."""
    norms = torch.linalg.vector_norm(updates, dim=1, keepdim=True)
    radius = norms.median()
    return (updates * (radius / norms).clamp(max=1.0)).mean(dim=0)


if "clipped_mean" not in names():  # registering twice is an error (re-running this cell)
    register("clipped_mean")(clipped_mean)

# %% [markdown]
# ## Its report card

# %%
card = fedlib.evaluate("clipped_mean", train=TRAIN, **SETTINGS)
shown = pd.DataFrame({"attack": [ATTACK_LABELS.get(a, a) for a in card.attack],
                      "aimed at": [AGR_LABELS.get(t, t) or "–" for t in card.target], "deviation": card.deviation,
                      "relative deviation": card.relative_deviation, "γ": card.gamma,
                      "accuracy (%)": card.accuracy, "impact (pp)": card.impact})
# one format call for every number column: a second Styler.format resets the columns it does not name
display(tables.page_table(shown).format({"deviation": "{:.3f}", "relative deviation": "{:.3f}", "γ": "{:.4g}",
                                         "accuracy (%)": "{:.1f}", "impact (pp)": "{:.1f}"}, na_rep="–"))
undefined = [f"{ATTACK_LABELS.get(r.attack, r.attack)} ({r.reason.split(':')[0]})"
             for r in card.itertuples() if r.reason]
display(Markdown("–: no γ for attacks that do not search one; no impact for the run without attack"
                 + (f"; no numbers at all for {', '.join(undefined)}." if undefined else ".")))

# %% [markdown]
# **Table.** The report card of the clipped mean. *Deviation* and *relative deviation* are averaged over
# the captured rounds; $\gamma$ is the attack's mean $\gamma$; *accuracy* is the test accuracy of the
# best-validation round (%); *impact* = no-attack accuracy − attacked accuracy (percentage points). Fang's
# attack has forms for the Krum family, Trimmed-mean and Median only: against any other rule it is aimed at
# Trimmed-mean (the *aimed at* column, the card's `target`), as on the robustness benchmark; "–" in that column:
# the attack has no per-rule form.

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 4.2))
report_card(card, axes[0], value="relative_deviation")
if TRAIN:
    report_card(card, axes[1], value="impact")
else:
    axes[1].set_axis_off()
fig.tight_layout()
plt.show()
by = card.set_index("attack")
worst = by.drop(index="none").relative_deviation.idxmax()
display(Markdown(
    f"**Figure.** Left: relative deviation per attack; right: FL impact ({ctx.describe()}). "
    f"Against this rule the largest deviation comes from **{ATTACK_LABELS.get(worst, worst)}** "
    f"({by.loc[worst, 'relative_deviation']:.3f} of ‖μ‖, versus {by.loc['none', 'relative_deviation']:.3f} "
    f"without attack: clipping biases the aggregate even with no attacker). The generic tailored attack moves "
    f"the aggregate {by.loc['tailored', 'deviation'] / by.loc['min_max', 'deviation']:.2f}× as far as Min-Max "
    "(the table's deviation column)."
    + (f" In training, the tailored attack costs {by.loc['tailored', 'impact']:.1f} pp "
       f"(Min-Max {by.loc['min_max', 'impact']:.1f} pp)." if TRAIN else "")))

# %% [markdown]
# **Why attacks move a clipped mean so far.** Clipping bounds each update's *length*, not its *direction*:
# a clipped copy still contributes a full median-length vector in the adversary's direction, $m$ times. The
# tailored attack's copies point along $-\sigma$ (the negative coordinate-wise standard deviation), and its
# search keeps increasing $\gamma$ while the clipped copies pull harder. The attack maximises the deviation of *one
# round* on its simulation of the rule; the accuracy drop after training compounds many rounds, so the
# attack with the largest deviation is not always the one with the largest impact — the numbers above say
# which was worse here.

# %% [markdown]
# ## Side by side with the paper's rules and the newer ones
#
# Deviation report cards for the paper's five robust rules and the four newer defenses in fedlib
# (centered clipping, geometric median, nearest-neighbour mixing and bucketing, each with its default
# base rule and options). Deviation cards cost seconds: no training.

# %%
PAPER = ("krum", "multi_krum", "bulyan", "trimmed_mean", "median")
NEWER = grids.NEWER_RULES  # centered clipping, geometric median, nearest-neighbour mixing, bucketing
deviation_cards = [fedlib.evaluate(rule, train=False, **SETTINGS) for rule in PAPER + NEWER]
fig, ax = plt.subplots(figsize=(10, 5.5))
report_cards([card, *deviation_cards], ax, value="relative_deviation")
plt.show()
blank = any(c.relative_deviation.isna().any() for c in [card, *deviation_cards])
display(Markdown(f"**Figure.** Relative deviation ‖AGR − μ‖/‖μ‖ per rule and attack on the same captured "
                 f"benign gradients ({ctx.describe()}); Fang's attack is aimed at Trimmed-mean on the rules it has "
                 f"no form for" + ("; blank: the attack could not be crafted for the rule." if blank else ".")))

# %% [markdown]
# ## Which newer defense survives best?
#
# Deviation is a proxy; what matters is the model. The FL report cards of the newer defenses against the
# paper's attacks that are built for any rule (LIE, AGR-tailored, Min-Max, Min-Sum; Fang's attack has no form
# for them, and the robustness benchmark aims it at Trimmed-mean), trained in the same setting as the clipped
# mean above. On this page's quick setting that run only tests the workflow; the answer at full size on the
# stand-in is the table after it, and the *Robustness benchmark* chapter ranks the rules.

# %%
if TRAIN:
    PAPER_ATTACKS = ["lie", "tailored", "min_max", "min_sum"]
    fl_cards = [card[card.attack.isin(["none", *PAPER_ATTACKS])]]
    fl_cards += [fedlib.evaluate(rule, attacks=PAPER_ATTACKS, **SETTINGS) for rule in NEWER]
    fig, ax = plt.subplots(figsize=(10, 3.8))
    report_cards(fl_cards, ax, value="impact")
    plt.show()
    stacked = pd.concat(fl_cards, ignore_index=True)
    imp = stacked[stacked.attack != "none"].dropna(subset=["impact"]).rename(columns={"rule": "aggregator"})
    newer = imp[imp.aggregator.isin(NEWER)]
    worst_per_rule = tables.largest_impacts(newer, ["aggregator"])
    display(Markdown(
        f"**Figure.** FL impact (pp) per rule and attack ({ctx.describe()}). Worst attack per newer rule"
        + (f" (quick profile, {seeds_text(ctx.seeds)}, {ROUNDS} rounds: a smoke test of the workflow, not a ranking "
           "of the rules): " if quick else ": ")
        + "; ".join(f"{AGR_LABELS[r.aggregator]}: {ATTACK_LABELS[r.worst_attack]} {r.max_impact:.1f} pp"
                    for r in worst_per_rule.itertuples())
        + "."))
else:
    display(Markdown("Training is off in this profile (run with `run_missing=True` to train): no FL finding."))

# %% [markdown]
# **At full size, on the stand-in (scale profile).** The newer defenses under the main table's attacks (no attack,
# Fang aimed at Trimmed-mean, LIE,
# AGR-tailored in its generic form, Min-Max, Min-Sum; full knowledge), read from the scale campaign's committed
# runs (`grids.scale_grid("newer_rules")`; the robustness benchmark's iid cells of these rules are the same runs):

# %%
from fedbook.scale import scale_block

if profile == "scale" and ctx.run_missing:  # computes the block's missing runs first
    ctx.collect(grids.scale_grid("newer_rules", device=device))
newer = scale_block("newer_rules", device=device)  # the committed runs: this cell never trains


def beyond_the_table(worst: pd.DataFrame) -> str:
    """Where the robustness benchmark's iid runs (IPM and Mimic added) find a worse attack than the table's."""
    bench = scale_block("benchmark", device=device).runs
    bench = bench[(bench.partition == "iid") & bench.aggregator.isin(NEWER)] if len(bench) else bench
    if not len(bench):
        return ""
    everything = tables.largest_impacts(tables.impacts(bench, ["aggregator"]), ["aggregator"]).set_index("aggregator")
    worse = [f"{AGR_LABELS[r.aggregator]}: {ATTACK_LABELS[everything.worst_attack[r.aggregator]]} "
             f"{everything.max_impact[r.aggregator]:.1f} pp" for r in worst.itertuples()
             if r.aggregator in everything.index and everything.max_impact[r.aggregator] > r.max_impact]
    head = " The *Robustness benchmark* chapter adds IPM and Mimic (iid, same seeds); "
    return head + ("a worse attack than the table's for " + "; ".join(worse) + "." if worse else
                   "neither is worse than the table's worst attack for any of these rules.")
display(Markdown("**Table.** Impact (pp) of each attack on the newer defenses, full knowledge. " + newer.caption()))
display(tables.page_table(newer.table(knowledge="full")))
display(*map(Markdown, newer.notes(twins=False)))
if len(newer.runs):
    worst = tables.largest_impacts(tables.impacts(newer.runs, ["aggregator"]), ["aggregator"])
    display(Markdown(
        f"The worst of the table's five attacks per rule in the scale profile ({newer.seeds_per_cell()}"
        + ("; fewer than three seeds in some cells: a difference of a few points between two rules is not a "
           "ranking" if "every cell" not in newer.seeds_per_cell() else "") + "): "
        + "; ".join(f"{AGR_LABELS[r.aggregator]}: {ATTACK_LABELS[r.worst_attack]} {r.max_impact:.1f} pp"
                    for r in worst.itertuples())
        + "." + beyond_the_table(worst)))

# %% [markdown]
# ## Exercises
#
# Each exercise has a cell for your answer, a check cell that runs your answer against fedlib
# (`fedbook.own_rule_exercises`) and a hidden solution with its own check. On this page the check cells run
# on the starting answers, so they show what does not pass yet and a hint. Write your answer, then run its
# check cell; do not run the solution cells (they would replace your answer with ours).

# %%
from fedbook import own_rule_exercises as ex

# %% [markdown]
# ```{exercise} A clip that trusts n − f clients
# :label: your_own_rule-quantile
#
# The median radius clips half of the honest updates too. Write
# `quantile_clipped_mean(updates, f, *, variant="textbook")` that scales every row down to the norm of
# rank $n - f$ in ascending order (so at most $f$ rows are clipped), then averages, and returns a
# `fedlib.aggregators.Aggregate`.
#
# *The check* registers your rule for a moment, runs it through fedlib on float32 and float64 inputs, and
# compares its aggregate with the expected one on three clouds with $f$ = 1, 3 and 5 long rows.
# ```

# %%
def quantile_clipped_mean(updates, f, *, variant="textbook"):
    norms = torch.linalg.vector_norm(updates, dim=1, keepdim=True)
    # Start: the chapter's median radius, which clips half of the rows. Use the norm of rank n − f instead.
    radius = norms.median()
    return Aggregate((updates * (radius / norms).clamp(max=1.0)).mean(dim=0))


# %%
ex.check_quantile_clip(quantile_clipped_mean)

# %% [markdown]
# ```{solution-start} your_own_rule-quantile
# :class: dropdown
# ```
#
# Sort the norms; the one at 0-based position $n - f - 1$ is the radius, so only the $f$ longer rows exceed it.

# %%
def quantile_clipped_mean(updates, f, *, variant="textbook"):
    norms = torch.linalg.vector_norm(updates, dim=1, keepdim=True)
    radius = norms.flatten().sort().values[updates.shape[0] - f - 1]
    return Aggregate((updates * (radius / norms).clamp(max=1.0)).mean(dim=0))


# %%
ex.check_quantile_clip(quantile_clipped_mean, strict=True)  # strict: stops the notebook if wrong

# %% [markdown]
# ```{solution-end}
# ```

# %% [markdown]
# ```{exercise} Measure a deviation yourself
# :label: your_own_rule-deviation
#
# On `benign = ex.cloud(0)` (16 updates), craft Min-Max with 4 attackers
# (`fedlib.attacks.craft("min_max", benign, 4)`), stack the copies *first* and the benign rows after,
# aggregate with `"clipped_mean"` and f = 4, and store $\lVert \mathrm{AGR} - \mu \rVert$ in `dev`
# ($\mu$ is the mean of the benign rows).
#
# *The check* recomputes the deviation with fedlib and compares it with `dev` to a relative $10^{-9}$.
# ```

# %%
from fedlib.aggregators import aggregate
from fedlib.attacks import craft

benign = ex.cloud(0)
rows = torch.cat([craft("min_max", benign, 4).updates, benign])
# Start: the length of the aggregate itself. Measure how far it lies from the benign mean.
dev = float(torch.linalg.vector_norm(aggregate("clipped_mean", rows, 4).vector))

# %%
ex.check_min_max_deviation(dev, "clipped_mean")

# %% [markdown]
# ```{solution-start} your_own_rule-deviation
# :class: dropdown
# ```

# %%
dev = float(torch.linalg.vector_norm(aggregate("clipped_mean", rows, 4).vector - benign.mean(dim=0)))

# %%
ex.check_min_max_deviation(dev, "clipped_mean", strict=True)  # strict: stops the notebook if wrong

# %% [markdown]
# ```{solution-end}
# ```

# %% [markdown]
# ```{exercise} Attack your fix
# :label: your_own_rule-tailored
#
# Register your `quantile_clipped_mean` under the name in `name`, so that every part of fedlib accepts it.
# Then craft the AGR-tailored attack against it on `ex.cloud(0)` with 4 attackers
# (`craft("tailored", ex.cloud(0), 4, aggregator=name)`) and read from its `info` which form fedlib ran
# (`info["form"]`, into `form`) and how many values of $\gamma$ its search tried on your rule
# (`info["n_probes"]`, into `probes`).
#
# *The check* verifies the registration, your `form` and `probes`, and that on three clouds the tailored attack
# moves your rule at least as far as Min-Max.
# ```

# %%
name = "quantile_clipped_mean"
form, probes = "dedicated", 0  # Start: guesses, and the rule is not registered yet. Register it, then read both.

# %%
ex.check_tailored_form(name, form, probes)

# %% [markdown]
# ```{solution-start} your_own_rule-tailored
# :class: dropdown
# ```
#
# fedlib has a dedicated tailored attack for the paper's rules only; for any other rule it runs the generic
# black-box search described at the top of this chapter.

# %%
if name not in names():  # registering a name twice is an error (re-running this cell)
    register(name)(quantile_clipped_mean)
crafted = craft("tailored", ex.cloud(0), 4, aggregator=name)
form, probes = crafted.info["form"], crafted.info["n_probes"]

# %%
ex.check_tailored_form(name, form, probes, strict=True)  # strict: stops the notebook if wrong

# %% [markdown]
# ```{solution-end}
# ```

# %% [markdown]
# ```{exercise} Read the comparison
# :label: your_own_rule-least-hurt
#
# Among the paper's five rules (`PAPER`), which one has the smallest *worst-case* relative deviation over
# the attacks in the side-by-side deviation cards above (`deviation_cards`, one frame per rule)? Store its
# registry name in `least_hurt`.
#
# *The check* recomputes each rule's largest relative deviation over the attacks from the same cards.
# ```

# %%
least_hurt = None  # Start: no rule named yet. Store a registry name such as "krum".

# %%
ex.check_least_hurt(least_hurt, pd.concat(deviation_cards), PAPER)

# %% [markdown]
# ```{solution-start} your_own_rule-least-hurt
# :class: dropdown
# ```

# %%
paper_cards = pd.concat(deviation_cards)
attacked = paper_cards[(paper_cards.attack != "none") & paper_cards.rule.isin(PAPER)]
least_hurt = attacked.groupby("rule").relative_deviation.max().idxmin()

# %%
ex.check_least_hurt(least_hurt, pd.concat(deviation_cards), PAPER, strict=True)  # strict: stops the notebook if wrong

# %% [markdown]
# ```{solution-end}
# ```

# %% [markdown]
# ## What was run
#
# `fedlib.evaluate(rule, profile=..., rounds=..., seeds=...)` (also `python -m fedlib evaluate RULE`, where
# RULE is a registered name or `module:function`):
#
# - **Captured gradients**: honest FedSGD with the mean in the profile's setting, every client's gradient at
#   rounds 0, 6 and 12 (quick; else 0, 10 and 20), cached with the results. The attackers are the first
#   $m$ clients (quick: 4 of 20); the deviation uses the round's other clients as the benign rows and $f = m$.
# - **Attacks**: full knowledge, std perturbation, the paper's halving search (textbook variants), as in the
#   Results part. The tailored attack uses its dedicated form for the paper's rules and the generic
#   black-box form for the clipped mean and the newer defenses (`info["form"]`); the generic search explores
#   $\gamma$ on ~2,048 of the rows' columns (or, for the rules it can reduce exactly, on far fewer numbers) and
#   runs the rule itself on the whole rows at most three times per round.
# - **FL impact**: one run per attack and seed, through the results cache, compared with the no-attack run
#   of the same seed (`fedlib.report.tables.impacts`).
