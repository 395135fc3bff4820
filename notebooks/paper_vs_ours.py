# %% [markdown]
# # Summary: every paper number beside ours
#
# Every number the available paper text states (its abstract and introduction; the results sections were not
# available to us), each judged on its own comparison at three levels: in the paper's own setting, at full size
# on a stand-in, and in the quick profile. The rule and what each level ran are below the tables; the sentence
# just below says what was tested where.

# %% tags=["parameters", "remove-cell"]
profile = "quick"  # the profile whose own grid is computed if missing; committed scale/full results are always read
device = "auto"
seeds = None  # None: the profile's default (quick 0, 1, 2; full 0, 1, 2)
results_dir = None
run_missing = None

# %% tags=["hide-input"]
import pandas as pd
from fedbook import judge, summary
from fedbook.captions import Captions
from fedbook.context import Context, committed
from fedbook.scale import scale_block
from fedbook.setup import profile_line, stand_in
from IPython.display import Markdown, display

from fedlib.experiments import describe_experiment, grids, seeds_text
from fedlib.report import tables

page = Captions()  # this page's table and figure numbers, in the order it shows them

ctx = Context(profile, device=device, seeds=seeds, results_dir=results_dir, run_missing=run_missing,
              notebook="notebooks/paper_vs_ours.py")


def evidence(label, *blocks):
    """Evidence from scale blocks (their committed runs and the cells their grids ask for)."""
    return summary.Evidence.from_runs(label, pd.concat([b.runs for b in blocks], ignore_index=True),
                                      pd.concat([b.wanted for b in blocks], ignore_index=True))


# The committed scale campaign, whatever part of it is committed: read, never computed here.
blocks = {name: scale_block(name, device=device) for name in ("main", "dnc", "cross_device")}
scale = {"iid": evidence("the cross-silo stand-in", blocks["main"], blocks["dnc"]),
         "cross_device": evidence("the cross-device analogue", blocks["cross_device"])}
# The quick profile: the same analogues on the embedded MNIST subset.
quick = {}
if profile == "quick":
    iid = ctx.collect(grids.attack_grid("quick", ctx.seeds, device=device, aggregators=(*grids.EXISTING_AGRS, "dnc")))
    cross = ctx.collect(grids.attack_grid("quick", ctx.seeds, device=device, aggregators=("trimmed_mean", "median"),
                                          knowledge=("full",), **grids.cross_device_overrides("quick", "mnist5k")))
    quick = {"iid": summary.Evidence.from_runs("the quick profile", iid),
             "cross_device": summary.Evidence.from_runs("the quick cross-device grid", cross)}
# The paper's own settings (the full profile): read only if every run of a grid is committed.
full, notes = {}, []
full_runs, note = committed("full", lambda s: grids.attack_grid("full", s, device=device,
                                                                aggregators=(*grids.EXISTING_AGRS, "dnc")),
                            notebook="notebooks/main_table.py")
if full_runs is None:
    notes.append(note)
else:
    for (dataset, model), runs in full_runs.groupby(["dataset", "model"], sort=False):
        full[(dataset, model)] = summary.Evidence.from_runs(f"the full profile ({dataset})", runs)
table = summary.summary_table(full, scale, quick)
display(Markdown(summary.what_was_tested(table)))

# %% [markdown]
# ## The claims

# %% tags=["hide-input"]
display(page.table(f"Every paper number we know, judged on its own comparison. *{summary.PAPER_SETTING}* (the "
                   f"full profile): {summary.counts(table, summary.PAPER_SETTING)}. *{summary.STAND_IN}*: "
                   f"{summary.counts(table, summary.STAND_IN)}. Stand-ins, seeds and the rule: below the table."))
columns = ["claim", "paper", summary.PAPER_SETTING, summary.STAND_IN]
LEFT = {"text-align": "left", "vertical-align": "top"}
display(tables.page_table(table[columns]).set_properties(**LEFT))
if quick:
    cross_setting = describe_experiment(grids.attack_grid("quick", [0], aggregators=("median",), knowledge=("full",),
                                                          **grids.cross_device_overrides("quick", "mnist5k"))[0]
                                        .experiment)
    display(page.table(f"The same claims in the quick profile ({profile_line('quick')}; the FEMNIST rows on its "
                       f"cross-device grid: {cross_setting}; {seeds_text(ctx.seeds)}): "
                       f"{summary.counts(table, summary.QUICK)}. " + tables.quick_note(profile)))
    display(tables.page_table(table[["claim", "paper", summary.QUICK]]).set_properties(**LEFT))

# %% [markdown]
# ## The stand-ins, the rule and the sources

# %% tags=["hide-input"]
display(Markdown(
    "**The stand-ins.** The *cross-silo stand-in* (scale profile, blocks main and DnC) is "
    f"{stand_in('main')}; it judges the claims about MNIST and the abstract's claims about every dataset. "
    f"The *cross-device analogue* (scale profile, block cross-device) is {stand_in('cross_device')}; it judges "
    "the FEMNIST claims. No stand-in mirrors the paper's CIFAR10 or Purchase settings: their claims read "
    f"*{summary.NO_ANALOGUE}*. Seeds committed per cell: "
    + "; ".join(f"{name} block, {b.seeds_per_cell()}" for name, b in blocks.items()) + "."))
display(Markdown(f"**The rule.** {judge.RULE} What each claim compares: {summary.COMPARED}"))
display(Markdown(f"**The paper's own setting** (the full profile: {profile_line('full')}). "
                 + " ".join(f"*{n}*" for n in notes)))
display(Markdown("**Sources.** " + "; ".join(sorted(set(table.source))) + "."))

# %% [markdown]
# **What would change a judgement.** Every *not tested here* needs the paper's dataset on disk and a
# full-profile run (see *Reproducing*); once `results/full/` holds the main and DnC grids, this page judges
# them in their own setting with the same rule. A claim that *waits for seeds* is judged as soon as the scale
# campaign commits the missing seeds.
