# %% [markdown]
# # Summary: every paper number beside ours
#
# Every number the available paper text states (abstract and introduction; the results sections were not
# available to us), ours beside it, and two separate judgements, each by the rule stated below the table:
# the **verdict** (reproduced or not, reserved for full-profile runs in the paper's own setting) and,
# in its own column, whether the claim **holds as an ordering at full size** on Fashion-MNIST (the
# committed scale campaign).

# %% tags=["parameters", "remove-cell"]
profile = "quick"  # the profile whose own grid is computed if missing; committed scale/full results are always read
device = "auto"
seeds = None  # None: the profile's default (quick [0]; scale [0]; full [0, 1, 2])
results_dir = None
run_missing = None

# %% tags=["hide-input"]
from fedbook import summary
from fedbook.context import Context, committed
from fedbook.scale import scale_block
from IPython.display import Markdown, display

from fedlib.experiments import grids
from fedlib.report import tables

ctx = Context(profile, device=device, seeds=seeds, results_dir=results_dir, run_missing=run_missing,
              notebook="notebooks/paper_vs_ours.py")


def impacts_by_setting(runs, dnc_runs, profile, into):
    for (dataset, model), group in runs.groupby(["dataset", "model"], sort=False):
        imp = tables.impacts(group, by=["dataset", "model", "aggregator"])
        d = dnc_runs[(dnc_runs.dataset == dataset) & (dnc_runs.model == model)]
        dnc_imp = tables.impacts(d, by=["dataset", "model", "aggregator"]) if len(d) else None
        into[(profile, dataset, model)] = (imp, dnc_imp)


results, notes = {}, []
if profile != "scale":  # the scale profile's own grids are the campaign's blocks, read below
    runs = ctx.collect(grids.attack_grid(profile, ctx.seeds, device=device))
    dnc_runs = ctx.collect(grids.attack_grid(profile, ctx.seeds, device=device, aggregators=("dnc",)))
    impacts_by_setting(runs, dnc_runs, profile, results)
# The committed scale campaign, whatever part of it is committed: read, never computed here.
blocks = {name: scale_block(name, device=device) for name in ("main", "dnc", "cross_device")}
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
table = summary.ordering_column(summary.summary_table(results), blocks)
counts = table.verdict.value_counts()
holds = table.ordering.value_counts()
display(Markdown(
    f"**Table 1.** Every paper number we know, beside ours in the paper's setting, with the verdict "
    f"({counts.get('reproduced', 0)} reproduced, {counts.get('not reproduced', 0)} not reproduced) and, in the "
    f"separate last column, the claim as an ordering at full size on Fashion-MNIST "
    f"({holds.get('holds', 0)} hold, {holds.get('does not hold', 0)} do not hold, "
    f"{holds.get(summary.NOT_YET, 0)} not yet computed; the scale campaign's committed runs: "
    + ", ".join(f"{name} {len(b.runs)} of {len(b.cells)}" for name, b in blocks.items())
    + "). Last column: profile `scale`, dataset Fashion-MNIST (the full dataset; the paper used MNIST), "
    "seeds committed: "
    + "; ".join(f"{name} {', '.join(map(str, b.seeds_present)) or 'none yet'} (of {', '.join(map(str, b.seeds))})"
                for name, b in blocks.items())
    + "; impacts are means over the seeds committed per case."))
shown = table.assign(claim=table.setting + ": " + table.quantity,
                     verdict=table.verdict + " (" + table.reason + ")")
columns = ["claim", "paper", "ours (paper's setting)", "verdict", summary.ORDERING_COLUMN]
display(tables.page_table(shown[columns]).set_properties(
    subset=[summary.ORDERING_COLUMN], **{"border-left": "3px solid #888", "background-color": "#f4f6fa"}))
display(Markdown(f"**Verdict rule.** {summary.RULE}"))
display(Markdown(f"**Ordering rule (last column, never a verdict).** {summary.ORDERING_RULE}"))
analogues = [k for k in results if k[0] != "full"]
if analogues:
    display(Markdown(
        "**Table 2.** The same quantities measured on other data (analogues, not verdicts): "
        + "; ".join(f"`{p}` profile on {d} (seeds {sorted(results[(p, d, m)][0].seed.unique().tolist())})"
                    for p, d, m in analogues)
        + ". " + (tables.quick_note(profile) or "")))
    display(tables.page_table(table[["setting", "quantity", "paper", "analogue (other data, not a verdict)"]]))
display(Markdown("**Results read.** " + ", ".join(f"{p}/{d}/{m}" for p, d, m in results)
                 + f"; scale campaign blocks {', '.join(blocks)} (committed part). "
                 + " ".join(f"*{n}*" for n in notes)))
display(Markdown("**Sources.** " + "; ".join(sorted(set(table.source)))))

# %% [markdown]
# **What would change a verdict.** Every "not reproduced" with the reason *no full-profile result* needs the
# paper's dataset on disk and a full-profile run (see *Reproducing*); running
# `make notebook NB=notebooks/main_table.py PARAMS="-p profile full -p run_missing true -p device cuda"` and
# `notebooks/dnc_table.py` likewise, then committing `results/full/`, makes this page compare them
# automatically.
