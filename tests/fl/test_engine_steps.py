"""The FedSGD engine's named steps, the server_f policies, the static feasibility check, and the regression
against the engine before it was split into steps (commit acfa636)."""

from __future__ import annotations

import math

import pytest
import torch

import fedlib.attacks as attacks
from fedlib.errors import AttackInfeasible, ConfigError
from fedlib.experiments import Experiment
from fedlib.fl import FedSGD, attacker_counts, check_feasible, largest_f, train

BASE = dict(dataset="mnist5k", model="mnist_fc", model_options={"hidden": 16}, n_clients=10, n_malicious=2,
            samples_per_client=40, batch_size=20, rounds=4, eval_every=2, device="cpu")
CASES = {
    "mean_none": dict(aggregator="mean"),
    "median_min_max_full": dict(aggregator="median", attack="min_max"),
    "krum_lie_partial": dict(aggregator="krum", attack="lie", knowledge="partial"),
    "fang_fang_full": dict(aggregator="fang_defense", attack="fang", attack_target="trimmed_mean"),
    "dnc_min_sum_full": dict(aggregator="dnc", attack="min_sum", sample_seed=3, attack_seed=5),
    # acfa636 ran this with server_f="true" (now "actual"); the static check refuses "actual" here (a round could
    # draw 8 attackers of 8), and "capped" is the same policy on these draws (m_t = 2, 1, 4, 1 < the cap 7).
    "median_min_max_adam_xdevice": dict(aggregator="median", attack="min_max", optimiser="adam", lr=1e-3,
                                        n_clients=12, n_malicious=2, clients_per_round=8, sampling="with_replacement",
                                        batch_size=None, samples_per_client=10, split_seed=1, init_seed=2,
                                        server_f="capped"),
}
# Produced once by running train(Experiment(**{**BASE, **CASES[name]})) at commit acfa636 (the engine before the
# split into steps, hand-written server optimiser) on this CPU and dumping, per evaluation,
# [round, val_acc, val_loss, test_acc, test_loss] and, per round, [n_malicious, f, n_rows, gamma, malicious_selected].
EXPECTED = {'mean_none': {'evals': [[0, 9.4, 2.377287109375, 12.2, 2.361998779296875],
                         [2, 22.0, 2.277234130859375, 24.8, 2.12454150390625],
                         [4, 21.6, 2.0033250732421877, 25.6, 1.9217945556640625]],
               'rounds': [[2, 2, 10, None, None],
                          [2, 2, 10, None, None],
                          [2, 2, 10, None, None],
                          [2, 2, 10, None, None]]},
 'median_min_max_full': {'evals': [[0, 9.4, 2.377287109375, 12.2, 2.361998779296875],
                                   [2, 21.8, 3.79007763671875, 24.8, 3.452346435546875],
                                   [4, 12.2, 3.368314208984375, 12.0, 3.428666748046875]],
                         'rounds': [[2, 2, 10, 1.0899734497070312, None],
                                    [2, 2, 10, 1.3729095458984375, None],
                                    [2, 2, 10, 1.129913330078125, None],
                                    [2, 2, 10, 1.2237930297851562, None]]},
 'krum_lie_partial': {'evals': [[0, 9.4, 2.377287109375, 12.2, 2.361998779296875],
                                [2, 18.2, 2.947947265625, 18.4, 2.88672802734375],
                                [4, 12.4, 2.176976806640625, 12.2, 2.1401376953125]],
                      'rounds': [[2, 2, 10, None, 1],
                                 [2, 2, 10, None, 1],
                                 [2, 2, 10, None, 1],
                                 [2, 2, 10, None, 1]]},
 'fang_fang_full': {'evals': [[0, 9.4, 2.377287109375, 12.2, 2.361998779296875],
                              [2, 24.4, 2.237369384765625, 21.0, 2.29060009765625],
                              [4, 37.4, 2.0237711181640625, 34.0, 2.0266297607421877]],
                    'rounds': [[2, 2, 10, None, 2], [2, 2, 10, None, 1], [2, 2, 10, None, 2], [2, 2, 10, None, 1]]},
 'dnc_min_sum_full': {'evals': [[0, 9.4, 2.377287109375, 12.2, 2.361998779296875],
                                [2, 20.2, 2.36456640625, 26.0, 2.224200927734375],
                                [4, 16.8, 4.092099609375, 17.0, 3.96269140625]],
                      'rounds': [[2, 2, 10, 0.741119384765625, 2],
                                 [2, 2, 10, 0.7839775085449219, 2],
                                 [2, 2, 10, 0.6438446044921875, 2],
                                 [2, 2, 10, 0.6350898742675781, 2]]},
 'median_min_max_adam_xdevice': {'evals': [[0, 9.6, 2.341412109375, 10.0, 2.33118212890625],
                                           [2, 16.2, 2.266002685546875, 16.4, 2.26048095703125],
                                           [4, 20.0, 2.214486328125, 22.0, 2.209777587890625]],
                                 'rounds': [[2, 2, 8, 1.1081695556640625, None],
                                            [1, 1, 8, 1.1276054382324219, None],
                                            [4, 4, 8, 1.0854530334472656, None],
                                            [1, 1, 8, 1.3791465759277344, None]]}}


@pytest.mark.parametrize("name", list(CASES))
def test_same_history_as_the_engine_before_the_split(name):
    """Bit-identical on the CPU that recorded EXPECTED (a 2-core AMD EPYC); another CPU's kernels round the
    evaluation's reductions differently (an Intel Sapphire Rapids: losses apart by up to 1.5e-7, relative,
    every accuracy, count and γ equal), and torch.optim.Adam rounds its bias corrections in another order than
    the old hand-written Adam (θ agrees to ~2 ulps, tests/fl/test_fl.py). So: counts and accuracies exactly, γ and
    losses to ``rel_tol`` 1e-6 — a change of a rule, an attack or a step moves them by orders of magnitude more."""
    log = train(Experiment(**{**BASE, **CASES[name]}))
    rounds = [[r["n_malicious"], r["f"], r["n_rows"], r["gamma"], r["malicious_selected"]] for r in log.rounds]
    evals = [[e["round"], e["val_acc"], e["val_loss"], e["test_acc"], e["test_loss"]] for e in log.evals]
    for got, want in zip(rounds, EXPECTED[name]["rounds"], strict=True):
        assert got[:3] + got[4:] == want[:3] + want[4:]
        assert got[3] == want[3] if want[3] is None else math.isclose(got[3], want[3], rel_tol=1e-6)
    for got, want in zip(evals, EXPECTED[name]["evals"], strict=True):
        assert (got[0], got[1], got[3]) == (want[0], want[1], want[3])
        assert math.isclose(got[2], want[2], rel_tol=1e-6) and math.isclose(got[4], want[4], rel_tol=1e-6)


def tiny(**changes) -> Experiment:
    return Experiment(**{**BASE, **changes})


# ------------------------------------------------------------------ steps
def test_sample_clients_puts_attackers_first_and_applies_the_policy():
    engine = FedSGD(tiny(n_clients=12, n_malicious=4, clients_per_round=6, sampling="without_replacement",
                         aggregator="median", attack="lie", server_f="capped"))
    for t in range(5):
        draw = engine.sample_clients(t)
        is_mal = (draw.ids < 4).tolist()
        assert is_mal == sorted(is_mal, reverse=True) and sum(is_mal) == draw.m_t
        assert (draw.f, draw.inject, draw.acting) == (draw.m_t, draw.m_t, draw.m_t)
        assert len(set(draw.ids.tolist())) == 6


def test_what_rules_need_comes_from_the_registry():
    assert set(FedSGD(tiny(aggregator="dnc")).rule_options) == {"generator"}
    assert set(FedSGD(tiny(aggregator="median")).rule_options) == set()
    assert "score_fn" in FedSGD(tiny(aggregator="fang_defense")).rule_options


def test_infeasible_attack_round_sends_honest_gradients_and_says_so(monkeypatch):
    def refuse(*args, **kwargs):
        raise AttackInfeasible("test: no attack this round")

    monkeypatch.setattr(attacks, "craft", refuse)
    seen = []
    real = FedSGD.aggregate
    monkeypatch.setattr(
        FedSGD, "aggregate", lambda self, draw, rows: seen.append(rows.clone()) or real(self, draw, rows)
    )
    log = train(tiny(aggregator="median", attack="min_max", rounds=1))
    assert log.rounds[0]["attack_skipped"] == "test: no attack this round" and log.rounds[0]["gamma"] is None
    honest = train(tiny(aggregator="median", rounds=1))  # everyone honest, same draws
    assert log.evals == honest.evals and seen[0].shape[0] == 10
    assert not torch.equal(seen[0][0], seen[0][1])  # the attackers' own honest rows, computed after the refusal


@pytest.mark.parametrize("optimiser,lr", [("sgd", 0.5), ("adam", 1e-3)])
def test_fang_scores_the_model_the_server_would_produce(optimiser, lr):
    engine = FedSGD(tiny(aggregator="fang_defense", optimiser=optimiser, lr=lr))
    for _ in range(2):  # the second step has Adam state
        v = torch.randn(engine.net.d, generator=torch.Generator().manual_seed(3)) * 0.01
        predicted = engine.score_fn(v)
        engine.server_step(v)
        loss, acc = engine.net.evaluate(engine.theta, *engine.score_set)
        assert predicted == (loss, 1.0 - acc / 100.0)


def test_a_users_own_network_trains():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    log = train(tiny(aggregator="median", attack="lie", rounds=2), model=net)
    assert log.n_parameters == 7850 and len(log.rounds) == 2


# ------------------------------------------------------------------ feasibility
def test_attacker_counts_cover_every_draw():
    e = tiny(n_clients=12, n_malicious=4, clients_per_round=6, sampling="without_replacement", server_f="capped")
    assert list(attacker_counts(e, 12)) == [0, 1, 2, 3, 4]
    e = tiny(n_clients=12, n_malicious=9, clients_per_round=6, sampling="without_replacement", server_f="capped")
    assert list(attacker_counts(e, 12)) == [3, 4, 5, 6]  # only 3 honest clients
    e = tiny(n_clients=12, n_malicious=1, clients_per_round=6, sampling="with_replacement", server_f="capped")
    assert list(attacker_counts(e, 12)) == list(range(7))  # one attacker can be drawn six times
    assert list(attacker_counts(tiny(), 10)) == [2]


def test_infeasible_cross_device_cell_is_refused_before_round_one(monkeypatch):
    called = []
    monkeypatch.setattr(FedSGD, "run_round", lambda self, t: called.append(t))
    e = tiny(n_clients=12, n_malicious=4, clients_per_round=6, sampling="without_replacement", aggregator="bulyan",
             attack="lie")
    expected = r"infeasible cell mnist5k/mnist_fc bulyan vs lie .*m_t=1 attackers; bulyan with f=1 needs >= 7 rows"
    with pytest.raises(ConfigError, match=expected):
        train(e)
    e = e.replace(aggregator="krum")
    with pytest.raises(ConfigError, match=r"krum vs lie .*m_t=2 attackers; krum with f=2 needs >= 7 rows"):
        check_feasible(e)
    assert called == []
    check_feasible(e.replace(server_f="capped"))  # capped: f never above largest_f("krum", 6) = 1
    assert largest_f("krum", 6) == 1


def test_ndss21_femnist_policy_is_feasible_for_every_rule_on_femnist_draws():
    from fedlib import aggregators

    for rule in aggregators.names():
        e = Experiment(dataset="femnist", model="femnist_cnn", partition="writer", n_clients=3400, n_malicious=680,
                       clients_per_round=60, sampling="with_replacement", server_f="ndss21_femnist",
                       aggregator=rule, attack="lie", batch_size=None, optimiser="adam", lr=1e-3)
        check_feasible(e)  # every m_t in 0..60
        with pytest.raises(ConfigError, match="m_t="):
            check_feasible(e.replace(server_f="actual"))


def test_old_server_f_spelling_loads_with_the_same_hash():
    import glob
    import json
    import pathlib

    old = tiny(server_f="true")
    assert old.server_f == "actual" and old == tiny(server_f="actual")
    assert '"server_f":"true"' in old.canonical_json()
    from fedlib.experiments import load_result

    files = glob.glob(str(pathlib.Path(__file__).parents[2] / "results" / "scale" / "*.json"))
    spelled = {path: json.loads(pathlib.Path(path).read_text())["config"]["server_f"] for path in files}
    # The cross-silo runs carry server_f = "true" or "actual"; the cross-device block's "capped" is another value.
    old_or_new = [path for path, value in spelled.items() if value in ("true", "actual")]
    assert set(spelled.values()) <= {"true", "actual", "capped"} and old_or_new
    for path in old_or_new:  # results written with server_f="true" (or "actual") keep their names
        result = load_result(path)
        assert pathlib.Path(path).stem == result.experiment.config_hash
