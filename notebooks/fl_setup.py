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
# # The federated-learning setup
#
# The paper's dataset table lists, per dataset, the clients, their data, the model and the server's
# optimiser. The table below is **generated from fedlib's profiles** (`fedlib.experiments.experiment_for`)
# and the models' parameter counts (`fedlib.models.count_parameters`), so it always says what the code
# runs. The profiles are described below the tables.

# %% tags=["parameters", "remove-cell"]
profile = "quick"  # this table describes every profile; nothing is trained
device = "auto"
seeds = [0]
results_dir = None

# %% tags=["hide-input"]
from fedbook.captions import Captions
from fedbook.setup import PROFILE_ORDER, released_setup_table, setup_table
from IPython.display import Markdown, display

from fedlib.experiments import profile_table
from fedlib.report.tables import page_table

page = Captions()  # this page's table and figure numbers, in the order it shows them

setup = setup_table()
display(page.table("Clients and data of the three profiles, generated from `fedlib.experiments`."))
display(page_table(setup[["profile", "dataset", "model", "clients", "malicious", "samples per client", "partition"]]))
display(page.table("Model and training of the three profiles (parameter counts from the models "
                   "themselves)."))
display(page_table(setup[["profile", "dataset", "model", "parameters", "batch", "server optimiser", "rounds"]]))

# %% tags=["hide-input"]
from fedbook.setup import profile_line, stand_in

from fedlib.experiments import experiment_for, grids
from fedlib.report.labels import DATASET_LABELS

changed = ", ".join(f"{k} to {v}" for k, v in grids.QUICK_OVERRIDES.items())
quick_changes = f"; the book's quick grids change {changed}" if changed else ", as it is: its grids change none of it"
beyond_paper = [d for d in profile_table()["full"] if d not in {d for d, _ in grids.DATASETS["full"]}]
shares = sorted({round(100 * e.n_malicious / e.n_clients) for e in
                 [experiment_for(p, d) for p in PROFILE_ORDER for d in profile_table()[p]]})
display(Markdown(
    "Every run is FedSGD: each selected client sends one minibatch gradient per round; "
    + " or ".join(f"{s} %" for s in shares) + " of the clients are malicious; the FL output model is the round "
    "with the best validation accuracy (the paper's metric; the Results pages also show where a run collapses "
    "after that round).\n\n"
    f"- `quick`: {profile_line('quick')}; what the book is built with{quick_changes}.\n"
    f"- `scale`: {stand_in('main')}. Its cross-device block is {stand_in('cross_device')}.\n"
    "- `full`: the paper's settings, one line per dataset and model in the tables above. CIFAR10 and FEMNIST follow "
    "the authors' released code; MNIST and Purchase follow our reading of the paper, whose setup section was not "
    "available to us." + (f" The profile also has {', '.join(DATASET_LABELS[d] for d in beyond_paper)} (not in the "
                          "paper) at the paper's MNIST settings: the full-size counterpart of the scale profile's data."
                          if beyond_paper else "")))

# %% [markdown]
# For comparison, the setting of the authors' **released notebooks** (read from their code; this is
# *not* the paper's table, which was not available to us). The `full` profile matches it for CIFAR10 and
# FEMNIST.

# %% tags=["hide-input"]
display(page.table("FL setting of the authors' released code (read from their notebooks)."))
page_table(released_setup_table())
