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
# # Robustness benchmark
#
# *Which aggregation rule survives the strongest attacks — including an attack optimised against that very rule —
# when clients are not identically distributed?* This chapter goes beyond the paper: every rule of the library
# against every attack of the library, at full size on the Fashion-MNIST stand-in (the scale profile), on two
# client partitions, three seeds each. The AGR-tailored
# attack is the paper's dedicated form where the paper has one (Krum, Multi-krum, Bulyan, Trimmed-mean, Median,
# AFA, Fang's defense, DnC) and fedlib's generic black-box search of the same objective for every other rule.

# %% tags=["parameters", "remove-cell"]
profile = "quick"  # this page only reads the committed scale campaign, whatever the profile
device = "auto"

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
from fedbook.benchmark import board, setting_text
from fedbook.captions import Captions
from fedbook.scale import scale_block
from IPython.display import Markdown, display

from fedlib.report import tables

page = Captions()  # this page's table and figure numbers, in the order it shows them

block = scale_block("benchmark", device=device)
view = board(block)
display(page.table(view.leaderboard_caption()))
display(tables.page_table(view.leaderboard()))
display(Markdown(view.findings()))
display(Markdown(setting_text(block)))

# %% [markdown]
# ## How the leaderboard is read
#
# For each rule, its **worst case**: the attack with the largest mean impact over the seeds (impact = no-attack
# accuracy − attacked accuracy, same seed, percentage points; test accuracy at the best-validation round, the
# paper's metric), as mean ± standard deviation over the seeds that every attack of the rule has, and which
# attack it is. **Rank** = 1 + the number of rules whose per-seed worst cases all lie below this rule's
# smallest: rules whose per-seed intervals overlap are not separated by the seeds, and may share a rank. A rule
# with fewer than two such seeds is listed but not ranked.

# %% tags=["hide-input"]
display(*(Markdown(text) for part in view.partitions if (text := view.rank_example(part))))

# %% [markdown]
# ## What a rule costs when nobody attacks
#
# A robust rule discards or reweights honest updates too. Its **honest cost** is the plain mean's no-attack
# accuracy minus the rule's, seed by seed: what the rule gives up when nobody attacks.

# %% tags=["hide-input"]
display(page.table(view.cost_caption()))
display(tables.page_table(view.cost_table()))

# %% [markdown]
# ## Every rule against every attack
#
# The mean impact of each attack on each rule, for each partition, on one colour scale (grey "n/a": not yet
# computed). Read a row to see which attacks a rule resists; read a column to see which rules an attack breaks.

# %% tags=["hide-input"]
fig = view.figure()
display(page.figure(view.figure_caption()))
display(fig)
plt.close(fig)

# %% tags=["hide-input"]
display(Markdown(block.missing_note()))

# %% [markdown]
# ## Putting your own rule on the board

# %% tags=["hide-input"]
display(Markdown(view.cost_text()))

# %% [markdown]
# `fedlib.evaluate` runs exactly the benchmark's cells for any rule — a registered name, `"module:function"`, or a
# plain function `rule(updates, f, **options)` that returns the aggregated vector — and returns one row per attack
# (its impact as mean ± sd over the seeds, plus the deviation it causes on captured gradients):
#
# ```python
# import fedlib
#
# def my_rule(updates, f=0, **options):
#     keep = updates.norm(dim=1).argsort()[: updates.shape[0] - f]   # drop the f longest updates
#     return updates[keep].mean(dim=0)
#
# iid = fedlib.evaluate(my_rule, profile="scale", partition="iid", seeds=[0, 1, 2])
# skewed = fedlib.evaluate(my_rule, profile="scale", partition="dirichlet", seeds=[0, 1, 2])
# ```
#
# The same from a shell: `python -m fedlib evaluate mymodule:my_rule --profile scale --partition iid --seeds 0 1 2`.
# The card's `target` column says which rule a rule-specific attack was aimed at (Fang's attack, which has forms
# for the Krum family and Trimmed-mean / Median only, is aimed at Trimmed-mean, as on the board). With a
# registered rule's name the same call reads the committed cells instead of training (pass
# `results_dir="results/scale"` in a clone of this repository).
