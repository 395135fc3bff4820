"""The engine on every rule × attack × knowledge for 2 rounds: on CUDA (marked ``cuda``, skipped without a GPU)
and the same matrix on CPU (always collected), with a tiny stand-in model and generated data.

The generators follow the run's device: the attack and server generators live on it (every draw of an attack or
a rule happens on its generator's device); the sample generator stays on the CPU (client draws and minibatch
permutations are CPU draws whose indices then move to the device).
"""

from __future__ import annotations

import pytest
import torch

from fedlib import aggregators, attacks
from fedlib.data import Dataset
from fedlib.experiments import Experiment
from fedlib.experiments.grids import attack_changes
from fedlib.fl import FedSGD

# 8 of 40: every rule runs (Bulyan needs 4f+3 = 35 rows), and the partial-knowledge tailored attack can simulate
# every rule (8 own rows + 1 copy); 8 is in the released code's partial table for Trimmed-mean/Median.
N_CLIENTS, N_MALICIOUS, SHAPE, CLASSES = 40, 8, (16,), 3
#: Every rule × attack × knowledge the attacks can target (the tailored attack only the rules it has a form for,
#: ``attacks.targets``; Fang's attack targets Trimmed-mean against the rules it has no variant for, as the grids do).
MATRIX = [(rule, "none", "full") for rule in aggregators.names()] + [
    (rule, attack, knowledge)
    for rule in aggregators.names()
    for attack in attacks.names()
    if attack != "none" and not (attack == "tailored" and rule not in attacks.targets("tailored"))
    for knowledge in ("full", "partial")
]


def tiny_dataset(seed: int = 0) -> Dataset:
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(CLASSES, *SHAPE, generator=gen) * 2

    def draw(n):
        y = torch.randint(CLASSES, (n,), generator=gen)
        return centres[y] + torch.randn(n, *SHAPE, generator=gen), y

    (x, y), (vx, vy), (tx, ty) = draw(N_CLIENTS * 4), draw(40), draw(40)
    clients = tuple(torch.arange(4 * i, 4 * i + 4) for i in range(N_CLIENTS))
    return Dataset("mnist5k", x, y, vx, vy, tx, ty, clients, CLASSES, SHAPE, {"source": "generated"})


def run_matrix_cell(rule: str, attack: str, knowledge: str, device: str):
    exp = Experiment(n_clients=N_CLIENTS, n_malicious=N_MALICIOUS, samples_per_client=4, batch_size=4, rounds=2,
                     eval_every=2, knowledge=knowledge, device=device, **attack_changes(rule, attack),
                     aggregator_options={"subsample_dim": 20} if rule == "dnc" else {})
    model = torch.nn.Linear(SHAPE[0], CLASSES)
    engine = FedSGD(exp, dataset=tiny_dataset(), model=model)
    assert engine.attack_gen.device.type == engine.server_gen.device.type == torch.device(device).type
    assert engine.sample_gen.device.type == "cpu"
    log = engine.run()
    assert len(log.rounds) == 2 and not log.diverged, (log.diverged_reason, log.rounds)
    assert engine.theta.device.type == torch.device(device).type
    return log


@pytest.mark.parametrize("rule,attack,knowledge", MATRIX)
def test_engine_matrix_on_cpu(rule, attack, knowledge):
    run_matrix_cell(rule, attack, knowledge, "cpu")


@pytest.mark.cuda
@pytest.mark.parametrize("rule,attack,knowledge", MATRIX)
def test_engine_matrix_on_cuda(rule, attack, knowledge):
    run_matrix_cell(rule, attack, knowledge, "cuda")


@pytest.mark.cuda
def test_same_seed_same_run_on_cuda():
    a = run_matrix_cell("dnc", "min_max", "full", "cuda")
    b = run_matrix_cell("dnc", "min_max", "full", "cuda")
    assert a.evals == b.evals and a.rounds == b.rounds
