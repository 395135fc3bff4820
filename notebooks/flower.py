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
# # fedlib in Flower
#
# [Flower](https://flower.ai) is a widely used framework for running federated learning. It ships a few
# robust strategies (Krum, Multi-Krum, Bulyan, FedMedian, FedTrimmedAvg), but not DnC, AFA, Fang's
# defense, the authors' released-code variants, or any of the paper's attacks. The module
# `fedlib.integrations.flower` (install it with `pip install 'fedlib-ndss21[flower]'`) adds them to
# Flower's current Message API:
#
# - `FedlibStrategy(aggregator, f=..., variant=..., **rule_options)` is a Flower strategy (a subclass of
#   Flower's `FedAvg`, with the same client sampling) that aggregates the clients' updates with any fedlib
#   rule. Each reply's floating arrays are flattened in the global model's key order, turned into an
#   update relative to the global model, aggregated by `fedlib.aggregators.aggregate` and added back to
#   the global model. Failed replies are dropped; replies whose arrays do not match the global model
#   raise an error.
# - `AttackSimulation(strategy, attack, malicious=..., knowledge=...)` wraps **any** Flower strategy.
#   It is a simulation tool: before the wrapped strategy aggregates, it replaces the replies of the
#   malicious nodes by updates crafted with `fedlib.attacks.craft`. With full knowledge the adversary
#   sees every benign update of the round; with partial knowledge it sees only its own nodes' honest
#   updates.
# - `InProcessGrid` runs ClientApps inside the Python process. Flower 1.42's own simulation engine needs
#   Ray, a heavy extra dependency; this grid does not.
#
# In a real deployment the strategy goes into a `ServerApp` like any Flower strategy:
#
# ```python
# from fedlib.integrations.flower import FedlibStrategy
#
# @app.main()
# def main(grid, context):
#     strategy = FedlibStrategy("dnc", f=2, flower_options={"fraction_train": 0.5})
#     result = strategy.start(grid=grid, initial_arrays=ArrayRecord(model.state_dict()), num_rounds=100)
# ```
#
# This chapter runs a small Flower federation on the embedded MNIST subset. There are 10 clients of
# 400 images each and the `mnist_fc` network. Each client takes one SGD step per round (learning
# rate 0.2, 32 images), which makes this FedSGD. Three of the ten nodes are malicious. They run Fang's
# attack with partial knowledge, crafted for the trimmed mean, as in the unit test of this integration.

# %% tags=["parameters"]
profile = "quick"  # this chapter is a usage example: every profile runs the same small federation
device = "auto"
seeds = [0]
results_dir = None

# %%
import logging

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from flwr.app import ArrayRecord
from flwr.serverapp.strategy import FedAvg

from fedlib.data import load
from fedlib.integrations.flower import (
    AttackSimulation,
    FedlibStrategy,
    InProcessGrid,
    server_evaluate_fn,
    sgd_client_app,
)
from fedlib.models import build

logging.getLogger("flwr").setLevel(logging.ERROR)  # Flower logs every round (and our settings) otherwise
sns.set_theme(style="whitegrid")

n_clients, n_malicious, rounds = 10, 3, 10
data = load("mnist5k", split_seed=seeds[0], n_clients=n_clients)


def model_fn():
    return build("mnist_fc", seed=seeds[0])


client_app = sgd_client_app(data, model_fn, lr=0.2, batch_size=32, seed=seeds[0])
evaluate = server_evaluate_fn(model_fn, data.test_x, data.test_y)
flower_options = {"min_train_nodes": n_clients, "fraction_evaluate": 0.0}  # every node trains; no client eval


def run(label, strategy_fn, attack):
    """One Flower run: a fresh grid, the strategy (wrapped by the attack or not), server-side test accuracy."""
    grid = InProcessGrid(client_app, num_nodes=n_clients, seed=seeds[0])
    strategy = strategy_fn()
    if attack:
        malicious = [grid.node_id(p) for p in range(n_malicious)]  # the nodes holding partitions 0, 1, 2
        strategy = AttackSimulation(strategy, "fang", malicious=malicious, knowledge="partial",
                                    target="trimmed_mean", seed=seeds[0])
    result = strategy.start(grid=grid, initial_arrays=ArrayRecord(model_fn().state_dict()),
                            num_rounds=rounds, evaluate_fn=evaluate)
    rows = [{"run": label, "round": r, "test accuracy (%)": 100 * m["accuracy"]}
            for r, m in sorted(result.evaluate_metrics_serverapp.items())]
    return pd.DataFrame(rows), result


runs = {
    "Flower FedAvg, no attack": (lambda: FedAvg(**flower_options), False),
    "Flower FedAvg, Fang attack": (lambda: FedAvg(**flower_options), True),
    "fedlib trimmed mean, Fang attack": (
        lambda: FedlibStrategy("trimmed_mean", f=n_malicious, flower_options=flower_options), True),
    "fedlib DnC, Fang attack": (
        lambda: FedlibStrategy("dnc", f=n_malicious, seed=seeds[0], flower_options=flower_options), True),
}
curves, results = [], {}
for label, (strategy_fn, attack) in runs.items():
    frame, results[label] = run(label, strategy_fn, attack)
    curves.append(frame)
curves = pd.concat(curves, ignore_index=True)
final = curves[curves["round"] == rounds].set_index("run")["test accuracy (%)"]
final.round(1).to_frame()

# %% [markdown]
# The table gives the test accuracy of the global model after the last round (500 held-out images,
# split seed 0). Flower's own `FedAvg` is wrapped by `AttackSimulation` exactly as fedlib's strategies
# are. The attack needs no change to the strategy under attack.

# %%
fig, ax = plt.subplots(figsize=(7, 4.5))
sns.lineplot(data=curves, x="round", y="test accuracy (%)", hue="run", marker="o", ax=ax)
ax.set_title(f"Flower run on mnist5k: {n_clients} clients, {n_malicious} malicious (Fang attack, partial knowledge)")
ax.set_xlabel("round (server steps)")
ax.set_ylabel("test accuracy of the global model (%)")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# **Figure.** Test accuracy of the global model against the round, for four runs with split seed 0:
# Flower's FedAvg without attack, FedAvg under Fang's attack, and fedlib's trimmed mean and DnC under the
# same attack. Round 0 is the initial model. FedAvg averages the crafted updates in with weight 3/10,
# and they point away from the benign direction. The trimmed mean drops the $f$ largest and $f$ smallest
# values of each coordinate, which removes most of what the attack adds.
#
# ## What the strategies report
#
# `FedlibStrategy` returns its bookkeeping in the round's MetricRecord: `fedlib-replies` (updates
# aggregated), `fedlib-f`, `fedlib-failed` (replies dropped for an error) and, for rules that select
# updates, `fedlib-selected`. `AttackSimulation` adds `attack-malicious` (replies it replaced) and, when
# the wrapped rule selects, `attack-selected`: how many of the crafted updates the rule kept.
# `strategy.last_round` holds the same information with node IDs.

# %%
dnc = results["fedlib DnC, Fang attack"].train_metrics_clientapp
table = pd.DataFrame([{"round": r, **{k: m[k] for k in ("fedlib-replies", "fedlib-f", "fedlib-selected",
                                                       "attack-malicious", "attack-selected")}}
                      for r, m in sorted(dnc.items())]).set_index("round")
table

# %%
kept = int(table["attack-selected"].sum())
print(f"DnC kept {kept} of the {n_malicious * rounds} crafted updates over {rounds} rounds; final test accuracy "
      f"{final['fedlib DnC, Fang attack']:.1f} % (FedAvg without attack: {final['Flower FedAvg, no attack']:.1f} %)")

# %% [markdown]
# DnC keeps at most $n - f = 7$ of the 10 updates each round. It drops the $f$ updates that stick out most
# along the top principal direction of random coordinate subsets. Fang's partial-knowledge updates all lie
# several standard deviations out on the same side, so they stand out along that direction.
#
# To reproduce a paper-scale study, use fedlib's own FedSGD engine (the other chapters). The engine
# vectorises the client gradients. This Flower path serialises every model through Flower's messages. It
# is for using the rules and attacks inside an existing Flower project.
