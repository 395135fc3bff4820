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
# - `FedlibStrategy(aggregator, num_malicious_nodes=..., **options)` is a Flower strategy (a subclass of
#   Flower's `FedAvg`, with the same client sampling and Flower's option names: `num_malicious_nodes`, `beta`
#   for the trimmed mean, `num_nodes_to_select` for Multi-krum, `min_train_nodes`, ...) that aggregates the
#   clients' updates with any fedlib rule. Each reply's arrays are flattened in the global model's key order,
#   turned into an update relative to the global model, aggregated by `fedlib.aggregators.aggregate` and added
#   back to the global model.
# - **No client can stop it.** A reply that cannot be an update of the model (another shape, a dtype that does
#   not convert exactly, missing or extra arrays, NaN, an unreadable array, ...) is set aside like a failed
#   reply: the round's metrics list it by node ID and reason (`fedlib-set-aside-shape`, ...), Flower's log
#   says why, and the round goes on with the valid replies. Only too few valid replies for the rule stop the
#   run, with an error that says what arrived, what was set aside and why, and what the rule needs.
#   `strict=True` raises on the first malformed reply instead.
# - `AttackSimulation(strategy, attack, malicious=..., knowledge=...)` wraps **any** Flower strategy.
#   It is a simulation tool: before the wrapped strategy aggregates, it replaces the replies of the
#   malicious clients by updates crafted with `fedlib.attacks.craft`. It names clients by data partition
#   (`partition-id` in each node's `node_config`), so one seed attacks the same data in Flower's simulation
#   and deployment engines. With full knowledge the adversary sees every benign update of the round; with
#   partial knowledge it sees only its own clients' honest updates.
# - `InProcessGrid` runs ClientApps inside the Python process, without Ray or a SuperLink; this page uses
#   it. The same runs go through Flower's own engines (below).
#
# **Weighting.** Flower's `FedAvg` weights each reply by the `num-examples` the client reports. fedlib's rules
# do not: a Byzantine client can claim any number of examples and would then own the average, so every robust
# rule counts each reply once. `num-examples` only weights the averaged training metrics. When clients hold
# very different amounts of data, make their updates comparable instead (the same number of local steps on
# mean losses, as `sgd_client_app` does), or use a rule built for heterogeneous clients (`bucketing`, `nnm`).
#
# In a real deployment the strategy goes into a `ServerApp` like any Flower strategy:
#
# ```python
# from fedlib.integrations.flower import FedlibStrategy
#
# @app.main()
# def main(grid, context):
#     strategy = FedlibStrategy("dnc", num_malicious_nodes=2, fraction_train=0.5)
#     result = strategy.start(grid=grid, initial_arrays=ArrayRecord(model.state_dict()), num_rounds=100)
# ```
#
# This chapter runs a small Flower federation on the embedded MNIST subset. There are 10 clients of
# 400 images each and the `mnist_fc` network. Each client takes one SGD step per round (learning
# rate 0.2, 32 images), which makes this FedSGD. Three of the ten clients (partitions 0, 1 and 2) are
# malicious. They run Fang's attack with partial knowledge, crafted for the trimmed mean, as in the unit
# test of this integration.

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
    faulty_client_app,
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


def run(label, strategy_fn, attack, app=client_app):
    """One Flower run: a fresh grid, the strategy (wrapped by the attack or not), server-side test accuracy."""
    grid = InProcessGrid(app, num_nodes=n_clients, seed=seeds[0])
    strategy = strategy_fn()
    if attack:  # the clients holding partitions 0, 1, 2
        strategy = AttackSimulation(strategy, "fang", malicious=list(range(n_malicious)), knowledge="partial",
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
        lambda: FedlibStrategy("trimmed_mean", num_malicious_nodes=n_malicious, **flower_options), True),
    "fedlib DnC, Fang attack": (
        lambda: FedlibStrategy("dnc", num_malicious_nodes=n_malicious, seed=seeds[0], **flower_options), True),
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
# `FedlibStrategy` returns its bookkeeping in the round's MetricRecord: `fedlib-received`, `fedlib-replies`
# (updates aggregated), `fedlib-f`, `fedlib-set-aside` with the node IDs under `fedlib-set-aside-<reason>`
# and, for rules that select updates, `fedlib-selected`; the clients' `train-loss` is averaged over the
# replies the rule selected, as Flower's Krum does. `AttackSimulation` adds `attack-malicious` (replies it
# replaced) and, when the wrapped rule selects, `attack-selected`: how many of the crafted updates the rule
# kept. `strategy.last_round` holds the same information with node IDs.

# %%
dnc = results["fedlib DnC, Fang attack"].train_metrics_clientapp
table = pd.DataFrame([{"round": r, **{k: m[k] for k in ("fedlib-replies", "fedlib-f", "fedlib-selected",
                                                       "attack-malicious", "attack-selected")}}
                      for r, m in sorted(dnc.items())]).set_index("round")
table

# %%
kept = int(table["attack-selected"].sum())
print(f"DnC kept {kept} of the {n_malicious * rounds} crafted updates over {rounds} rounds.\n"
      f"Final test accuracy {final['fedlib DnC, Fang attack']:.1f} % "
      f"(FedAvg without attack: {final['Flower FedAvg, no attack']:.1f} %).")

# %% [markdown]
# DnC keeps at most $n - f = 7$ of the 10 updates each round. It drops the $f$ updates that stick out most
# along the top principal direction of random coordinate subsets. Fang's partial-knowledge updates all lie
# several standard deviations out on the same side, so they stand out along that direction.
#
# ## A client that replies garbage, and one that crashes
#
# In a Byzantine setting a malformed reply is exactly what an attacker sends. `faulty_client_app` wraps the
# ClientApp so that chosen partitions crash or reply garbage. Here, on top of the three attackers, the client
# of partition 7 replies NaN and the client of partition 8 raises in every round, against the trimmed mean.

# %%
faults = {7: "nan", 8: "crash"}
frame, garbage = run("fedlib trimmed mean, Fang attack, garbage + crash",
                     lambda: FedlibStrategy("trimmed_mean", num_malicious_nodes=n_malicious, **flower_options),
                     True, app=faulty_client_app(client_app, faults))
partition_of = InProcessGrid(client_app, num_nodes=n_clients, seed=seeds[0]).partition_id  # same node IDs
aside = pd.DataFrame([
    {"round": r, "replies aggregated": m["fedlib-replies"],
     "set aside": ", ".join(f"partition {partition_of(node)} ({reason})" for reason in ("nonfinite", "failed")
                            for node in m.get(f"fedlib-set-aside-{reason}", []))}
    for r, m in sorted(garbage.train_metrics_clientapp.items())]).set_index("round")
aside

# %%
same_every_round = aside["set aside"].nunique() == 1 and len(aside) == rounds
robust_garbage = frame.set_index("round").loc[rounds, "test accuracy (%)"]
print(f"The run finished all {len(aside)} rounds.\n"
      f"Set aside in {'every round' if same_every_round else 'some rounds only'}: {aside['set aside'].iloc[0]}.\n"
      f"Final test accuracy {robust_garbage:.1f} % (without the two clients: "
      f"{final['fedlib trimmed mean, Fang attack']:.1f} %).")
replies = int(aside["replies aggregated"].min())
lower = robust_garbage < final["fedlib trimmed mean, Fang attack"]
print(f"{'Lower' if lower else 'Not lower'}, {'as' if lower else 'although'} the {n_malicious} attackers are now "
      f"{n_malicious} of the {replies} replies aggregated instead of {n_malicious} of {n_clients}, and the trimmed "
      f"mean still trims {n_malicious} values from each side: it averages {replies - 2 * n_malicious} values per "
      f"coordinate instead of {n_clients - 2 * n_malicious}.")

# %% [markdown]
# ## On Flower's own engines
#
# The same strategy and attack run unchanged on Flower's simulation engine (Ray) and on a deployment. The
# module `fedlib.integrations.flower.app` is a ready Flower App (its ServerApp and ClientApp read the rule,
# the attack, the faulty clients and the training settings from the run config), and `write_app` writes its
# `pyproject.toml`. A deployment on one machine, one terminal per process:
#
# ```bash
# python -m fedlib.integrations.flower.local --write-app fedlib-app   # the app's pyproject.toml
# flower-superlink --insecure --disable-runtime-dependency-installation  # on 127.0.0.1:8000
# # one SuperNode per data partition (on one machine, one port each: 9094 to 9099)
# flower-supernode --insecure --superlink 127.0.0.1:8000 --port 9094 \
#     --node-config "partition-id=0 num-partitions=6"
# # ... partition-id=1 to 5
# mkdir -p ~/.flwr && printf '[superlink.local-deployment]\naddress = "127.0.0.1:8000"\ninsecure = true\n' \
#     >> ~/.flwr/config.toml                # names the SuperLink for flwr
# flwr run fedlib-app local-deployment --stream --run-config \
#     "rule='trimmed_mean' f=1 attack='fang' malicious=2 faults='0:wrong-shape 1:crash'"
# ```
#
# `malicious=2` draws two of the six partitions with the run's seed, so the attackers may include a faulty
# client; name them (`malicious='2 3'`) to keep attackers and faulty clients apart.
#
# The simulation engine needs Ray (`pip install 'flwr[simulation]'`, part of fedlib's `flower` extra): start
# the SuperLink with `--simulation` and add `--federation-config "num-supernodes=6"` to `flwr run`. The
# command `python -m fedlib.integrations.flower.local --engine deployment --run-config "..."` (or `--engine
# simulation`) does all of this on 127.0.0.1 with bounded waits and stops every process it started; the test
# suite runs both engines with an attacker, a garbage client and a crashing client, and checks that they give
# exactly the numbers of the in-process run, since the attack names its clients by data partition.
#
# To reproduce a paper-scale study, use fedlib's own FedSGD engine (the other chapters). The engine
# vectorises the client gradients. This Flower path serialises every model through Flower's messages. It
# is for using the rules and attacks inside an existing Flower project.
