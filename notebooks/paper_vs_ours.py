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
# # Summary: every paper number beside ours
#
# Every number the available paper text states (abstract and introduction; the results sections were not
# available to us), ours beside it, and a verdict by the rule stated below the tables. Quick and scale
# results are *analogues*: the same quantity on other data; they never decide a verdict.

# %% tags=["parameters", "remove-cell"]
profile = "quick"  # the profile whose own grid is computed if missing; committed scale/full results are always read
device = "auto"
seeds = None  # None: the profile's default (quick [0]; scale [0]; full [0, 1, 2])
results_dir = None
run_missing = None

# %% tags=["hide-input"]
from fedbook import summary
from fedbook.context import Context, committed, results_dir_for
from IPython.display import Markdown, display

from fedlib.experiments import grids
from fedlib.report import tables
from fedlib.report.results import absent_labels

ctx = Context(profile, device=device, seeds=seeds, results_dir=results_dir, run_missing=run_missing,
              notebook="notebooks/paper_vs_ours.py")


def impacts_by_setting(runs, dnc_runs, profile, into):
    for (dataset, model), group in runs.groupby(["dataset", "model"], sort=False):
        imp = tables.impacts(group, by=["dataset", "model", "aggregator"])
        d = dnc_runs[(dnc_runs.dataset == dataset) & (dnc_runs.model == model)]
        dnc_imp = tables.impacts(d, by=["dataset", "model", "aggregator"]) if len(d) else None
        into[(profile, dataset, model)] = (imp, dnc_imp)


results, notes = {}, []
runs = ctx.collect(grids.attack_grid(profile, ctx.seeds, device=device))
dnc_runs = ctx.collect(grids.attack_grid(profile, ctx.seeds, device=device, aggregators=("dnc",)))
impacts_by_setting(runs, dnc_runs, profile, results)
# The scale profile: what is committed under results/scale (the reduced grid of grids.SCALE_TABLE), and
# what the full scale grid would add; committed results are read, never recomputed here.
if profile != "scale":
    scale_runs, note = committed("scale", lambda s: grids.scale_table_grid(s, device=device),
                                 notebook="notebooks/main_table.py")
    if scale_runs is None:
        notes.append(f"scale: {note}")
    else:
        impacts_by_setting(scale_runs, scale_runs.iloc[0:0], "scale", results)
        wanted = (grids.attack_grid("scale", grids.SCALE_SEEDS, device=device)
                  + grids.attack_grid("scale", grids.SCALE_SEEDS, device=device, aggregators=("dnc",)))
        absent = absent_labels(wanted, results_dir_for("scale"))
        notes.append(
            f"scale: {len(scale_runs)} of the {len(wanted)} runs of the scale grid (existing rules and DnC, "
            f"seed 0) are committed: the reduced grid `grids.SCALE_TABLE` "
            f"({', '.join(grids.SCALE_TABLE['aggregators'])}, {', '.join(grids.SCALE_TABLE['knowledge'])} "
            f"knowledge, attacks {', '.join(grids.SCALE_TABLE['attacks'])}). Not committed, so not compared: "
            + "; ".join(f"{k} {', '.join(map(str, v))}" for k, v in absent.items())
            + ". Quantities that need them (DnC's ratios, the AGR-tailored attack) have no scale analogue.")
# The full profile: the paper's own settings (their datasets are not available here).
if profile != "full":
    full_runs, note = committed("full", lambda s: grids.attack_grid("full", s, device=device),
                                notebook="notebooks/main_table.py")
    full_dnc, note_dnc = committed("full", lambda s: grids.attack_grid("full", s, device=device,
                                                                       aggregators=("dnc",)),
                                   notebook="notebooks/dnc_table.py")
    if full_runs is None:
        notes.append(f"full: {note}")
    else:
        if full_dnc is None:
            notes.append(f"full (DnC): {note_dnc}")
        impacts_by_setting(full_runs, full_dnc if full_dnc is not None else full_runs.iloc[0:0], "full", results)
table = summary.summary_table(results)
counts = table.verdict.value_counts()
display(Markdown(
    f"**Table 1.** Every paper number we know, beside ours in the paper's setting, with the verdict: "
    f"{counts.get('reproduced', 0)} reproduced, {counts.get('not reproduced', 0)} not reproduced."))
display(tables.page_table(table[["setting", "quantity", "paper", "ours (paper's setting)", "verdict", "reason"]]))
display(Markdown(
    "**Table 2.** The same quantities measured on other data (analogues, not verdicts): "
    + "; ".join(f"`{p}` profile on {d} (seeds {sorted(results[(p, d, m)][0].seed.unique().tolist())})"
                for p, d, m in results if p != "full")
    + ". " + (tables.quick_note(profile) or "")))
display(tables.page_table(table[["setting", "quantity", "paper", "analogue (other data, not a verdict)"]]))
display(Markdown(f"**Verdict rule.** {summary.RULE}"))
display(Markdown("**Results read.** " + ", ".join(f"{p}/{d}/{m}" for p, d, m in results) + ". "
                 + " ".join(f"*{n}*" for n in notes)))
display(Markdown("**Sources.** " + "; ".join(sorted(set(table.source)))))

# %% [markdown]
# **What would change a verdict.** Every "not reproduced" with the reason *no full-profile result* needs the
# paper's dataset on disk and a full-profile run (see *Reproducing*); running
# `make notebook NB=notebooks/main_table.py PARAMS="-p profile full -p run_missing true -p device cuda"` and
# `notebooks/dnc_table.py` likewise, then committing `results/full/`, makes this page compare them
# automatically.
