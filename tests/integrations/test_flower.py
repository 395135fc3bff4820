"""fedlib.integrations.flower: fedlib's rules as a Flower strategy, the paper's attacks in a Flower run."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

flwr = pytest.importorskip("flwr", reason="the flower extra is not installed (pip install -e '.[flower]')")

from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict  # noqa: E402
from flwr.clientapp import ClientApp  # noqa: E402

import fedlib.aggregators as agg  # noqa: E402
import fedlib.attacks as atk  # noqa: E402
from fedlib.errors import ConfigError, InputError, NonFiniteError  # noqa: E402
from fedlib.integrations.flower import (  # noqa: E402
    ArrayLayout,
    AttackSimulation,
    FedlibStrategy,
    InProcessGrid,
    TooFewRepliesError,
    echo_client_app,
)

logging.getLogger("flwr").setLevel(logging.WARNING)

SHIFTS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 50.0]  # partition 6 is an outlier


def _global(value: float = 1.0) -> ArrayRecord:
    """A small model with float32, float64 and float16 arrays and an integer counter."""
    return ArrayRecord({
        "w": Array(np.full((2, 3), value, np.float32)),
        "b": Array(np.full(4, value, np.float64)),
        "h": Array(np.full(5, value, np.float16)),
        "steps": Array(np.array([7], np.int64)),
    })


def _run_round(strategy, grid, arrays=None, server_round=1):
    arrays = _global() if arrays is None else arrays
    replies = grid.send_and_receive(strategy.configure_train(server_round, arrays, ConfigRecord(), grid))
    return strategy.aggregate_train(server_round, replies)


def _options(n):
    return {"min_train_nodes": n, "fraction_evaluate": 0.0}


def _app(handler) -> ClientApp:
    app = ClientApp()
    app.train()(handler)
    return app


# -- ArrayRecord <-> flat vector


def test_layout_round_trip_is_exact_and_keeps_every_dtype():
    rec = ArrayRecord({
        "w": Array(np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)),
        "b": Array(np.random.default_rng(1).standard_normal(4)),
        "h": Array(np.random.default_rng(2).standard_normal(5).astype(np.float16)),
        "steps": Array(np.array([7], np.int64)),
    })
    layout = ArrayLayout.of(rec)
    flat = layout.flatten(rec)
    assert flat.dtype == torch.float64 and layout.d == 6 + 4 + 5
    back = layout.unflatten(flat, like=rec)
    assert list(back.keys()) == list(rec.keys())
    for key in rec.keys():
        assert back[key].dtype == rec[key].dtype and tuple(back[key].shape) == tuple(rec[key].shape)
        assert back[key].numpy().tobytes() == rec[key].numpy().tobytes(), key


def test_layout_is_float32_without_float64_arrays_and_orders_by_the_global_keys():
    rec = ArrayRecord({"a": Array(np.array([1.0, 2.0], np.float32)), "b": Array(np.array([3.0], np.float32))})
    reordered = ArrayRecord({"b": Array(np.array([30.0], np.float32)), "a": Array(np.array([10.0, 20.0], np.float32))})
    layout = ArrayLayout.of(rec)
    assert layout.dtype == torch.float32
    assert layout.flatten(reordered).tolist() == [10.0, 20.0, 30.0]


@pytest.mark.parametrize("change, message", [
    (lambda r: r.pop("b"), "missing \\['b'\\]"),
    (lambda r: r.__setitem__("extra", Array(np.zeros(1, np.float32))), "unexpected \\['extra'\\]"),
    (lambda r: r.__setitem__("w", Array(np.zeros((3, 2), np.float32))), "shape \\(2, 3\\)"),
    (lambda r: r.__setitem__("w", Array(np.zeros((2, 3), np.float64))), "dtype float32"),
])
def test_layout_rejects_replies_that_do_not_match_the_global_model(change, message):
    layout = ArrayLayout.of(_global())
    bad = _global()
    change(bad)
    with pytest.raises(InputError, match=message):
        layout.flatten(bad)


# -- FedlibStrategy on constructed messages


def test_updates_are_relative_to_the_global_model_and_non_floating_arrays_are_kept():
    grid = InProcessGrid(echo_client_app(shift=lambda p: SHIFTS[p]), num_nodes=7)
    strategy = FedlibStrategy("median", f=2, flower_options=_options(7))
    arrays, metrics = _run_round(strategy, grid, _global(5.0))
    assert arrays["w"].dtype == "float32" and np.allclose(arrays["w"].numpy(), 5.3)
    assert np.allclose(arrays["b"].numpy(), 5.3) and arrays["b"].dtype == "float64"
    assert arrays["h"].dtype == "float16" and np.allclose(arrays["h"].numpy(), 5.3, atol=1e-2)
    assert arrays["steps"].numpy().tolist() == [7]
    assert metrics["fedlib-replies"] == 7 and metrics["fedlib-f"] == 2 and "fedlib-selected" not in metrics


def test_krum_selects_an_honest_node_and_writes_back_its_update():
    grid = InProcessGrid(echo_client_app(shift=lambda p: SHIFTS[p]), num_nodes=7)
    strategy = FedlibStrategy("krum", f=1, flower_options=_options(7))
    arrays, metrics = _run_round(strategy, grid)
    report = strategy.last_round
    assert metrics["fedlib-selected"] == 1 and len(report.selected) == 1
    chosen = grid.partition_id(report.selected[0])
    assert chosen != 6
    assert np.allclose(arrays["b"].numpy(), 1.0 + SHIFTS[chosen])
    assert list(report.node_ids) == sorted(report.node_ids)  # rows in ascending node-ID order


def test_multi_krum_keeps_n_minus_2f_minus_2_replies_and_drops_the_outlier():
    grid = InProcessGrid(echo_client_app(shift=lambda p: SHIFTS[p]), num_nodes=7)
    strategy = FedlibStrategy("multi_krum", f=1, flower_options=_options(7))
    _, metrics = _run_round(strategy, grid)
    assert metrics["fedlib-selected"] == 7 - 2 * 1 - 2
    assert grid.node_id(6) not in strategy.last_round.selected


def test_failed_replies_are_dropped_and_reported():
    echo = echo_client_app(shift=lambda p: SHIFTS[p])

    def train(message: Message, context: Context) -> Message:
        if context.node_config["partition-id"] == 3:
            raise RuntimeError("client crashed")
        return echo(message, context)

    grid = InProcessGrid(_app(train), num_nodes=7)
    strategy = FedlibStrategy("median", f=1, flower_options=_options(7))
    arrays, metrics = _run_round(strategy, grid)
    assert metrics["fedlib-set-aside-failed"] == [grid.node_id(3)] and metrics["fedlib-set-aside"] == 1
    assert metrics["fedlib-replies"] == 6 and metrics["fedlib-received"] == 7
    assert strategy.last_round.failed == (grid.node_id(3),)
    assert np.allclose(arrays["b"].numpy(), 1.0 + np.median([s for i, s in enumerate(SHIFTS) if i != 3]))


def test_too_few_replies_for_the_rule_fail_loudly_before_and_after_the_round():
    grid = InProcessGrid(echo_client_app(), num_nodes=4)
    with pytest.raises(ConfigError, match="needs at least 5"):
        _run_round(FedlibStrategy("trimmed_mean", f=2, flower_options=_options(4)), grid)

    def train(message: Message, context: Context) -> Message:
        if context.node_config["partition-id"] == 0:
            raise RuntimeError("client crashed")
        return echo_client_app()(message, context)

    grid = InProcessGrid(_app(train), num_nodes=5)
    with pytest.raises(TooFewRepliesError) as error:
        _run_round(FedlibStrategy("trimmed_mean", f=2, flower_options=_options(5)), grid)
    assert (f"5 replies arrived, 1 set aside (node {grid.node_id(0)}: failed (error code 2: RuntimeError: client "
            "crashed)), 4 valid; 'trimmed_mean' with f=2 needs at least 5 valid replies") in str(error.value)


def test_an_f_policy_follows_the_number_of_replies():
    def train(message: Message, context: Context) -> Message:
        if context.node_config["partition-id"] == 0:
            raise RuntimeError("client crashed")
        return echo_client_app()(message, context)

    grid = InProcessGrid(_app(train), num_nodes=9)
    strategy = FedlibStrategy("krum", f=lambda n: (n - 3) // 2, flower_options=_options(9))
    _, metrics = _run_round(strategy, grid)
    assert metrics["fedlib-replies"] == 8 and metrics["fedlib-f"] == 2


def test_inconsistent_replies_are_set_aside_and_fail_loudly_when_strict():
    def train(message: Message, context: Context) -> Message:
        arrays = message.content["arrays"]
        if context.node_config["partition-id"] == 2:
            arrays = ArrayRecord({k: v for k, v in arrays.items() if k != "b"})
        return Message(RecordDict({"arrays": arrays, "metrics": MetricRecord({"num-examples": 1})}),
                       reply_to=message)

    grid = InProcessGrid(_app(train), num_nodes=5)
    _, metrics = _run_round(FedlibStrategy("median", f=1, flower_options=_options(5)), grid)
    assert metrics["fedlib-set-aside-arrays"] == [grid.node_id(2)] and metrics["fedlib-replies"] == 4
    with pytest.raises(InputError, match=f"node {grid.node_id(2)} is malformed \\(arrays\\).*missing \\['b'\\]"):
        _run_round(FedlibStrategy("median", f=1, strict=True, flower_options=_options(5)), grid)


def test_dnc_is_reproducible_from_the_seed():
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(8, generator=g).tolist()
    grid = InProcessGrid(echo_client_app(shift=lambda p: noise[p] + (30.0 if p < 2 else 0.0)), num_nodes=8)
    runs = []
    for _ in range(2):
        strategy = FedlibStrategy("dnc", f=2, seed=3, subsample_dim=5, flower_options=_options(8))
        arrays, _ = _run_round(strategy, grid, server_round=4)
        runs.append((strategy.last_round.selected, arrays["b"].numpy().tobytes()))
    assert runs[0] == runs[1]
    assert not {grid.node_id(0), grid.node_id(1)} & set(runs[0][0])


def test_fang_defense_scores_candidate_models_with_the_server_score_fn():
    grid = InProcessGrid(echo_client_app(shift=lambda p: SHIFTS[p]), num_nodes=7)
    calls = []

    def score(arrays: ArrayRecord):
        calls.append(arrays)
        loss = float(abs(arrays["b"].numpy()[0] - 1.2))  # the server's "validation": near 1.2 is good
        return loss, min(1.0, loss)

    strategy = FedlibStrategy("fang_defense", f=1, score_fn=score, base="mean", rule="lrr", flower_options=_options(7))
    arrays, metrics = _run_round(strategy, grid)
    assert len(calls) == 7 + 1 and isinstance(calls[0], ArrayRecord)
    assert grid.node_id(6) not in strategy.last_round.selected and metrics["fedlib-selected"] == 6
    assert np.allclose(arrays["b"].numpy(), 1.0 + np.mean(SHIFTS[:6]))


def test_settings_are_checked_when_the_strategy_is_built():
    with pytest.raises(ConfigError, match="score_fn is required"):
        FedlibStrategy("fang_defense", f=1)
    with pytest.raises(ConfigError, match="score_fn is not used"):
        FedlibStrategy("median", f=1, score_fn=lambda a: (0.0, 0.0))
    with pytest.raises(ConfigError, match="supplies \\['generator'\\]"):
        FedlibStrategy("dnc", f=1, generator=torch.Generator())
    with pytest.raises(ConfigError, match="unknown aggregation rule"):
        FedlibStrategy("krumm", f=1)
    with pytest.raises(ConfigError, match="variant"):
        FedlibStrategy("krum", f=1, variant="paper")


def test_nonfinite_replies_are_set_aside_by_default_and_raise_with_the_node_id_when_strict():
    grid = InProcessGrid(echo_client_app(shift=lambda p: float("nan") if p == 4 else SHIFTS[p]), num_nodes=7)
    expected = f"round 1: the reply of node {grid.node_id(4)} is malformed \\(nonfinite\\)"
    with pytest.raises(NonFiniteError, match=expected):
        _run_round(FedlibStrategy("median", f=1, strict=True, flower_options=_options(7)), grid)
    strategy = FedlibStrategy("median", f=1, flower_options=_options(7))
    arrays, metrics = _run_round(strategy, grid)
    assert metrics["fedlib-set-aside-nonfinite"] == [grid.node_id(4)]
    assert strategy.last_round.nonfinite == (grid.node_id(4),)
    assert np.allclose(arrays["b"].numpy(), 1.0 + np.median([s for i, s in enumerate(SHIFTS) if i != 4]))


@pytest.mark.cuda
@pytest.mark.parametrize("rule", ["median", "dnc"])
def test_aggregation_on_cuda_writes_back_the_same_arrays_as_on_cpu(rule):
    grid = InProcessGrid(echo_client_app(shift=lambda p: SHIFTS[p]), num_nodes=7)
    results = []
    for device in ("cpu", "cuda"):
        strategy = FedlibStrategy(rule, f=1, device=device, flower_options=_options(7))
        arrays, _ = _run_round(strategy, grid)
        results.append(ArrayLayout.of(arrays).flatten(arrays))
    if rule == "median":  # DnC draws its coordinates on the device's generator: only the run is compared
        assert torch.equal(results[0], results[1])
    assert results[1].device.type == "cpu" and torch.isfinite(results[1]).all()


def test_a_misspelt_rule_option_fails_before_any_client_trains():
    calls = []

    def train(message: Message, context: Context) -> Message:
        calls.append(context.node_id)
        return echo_client_app()(message, context)

    grid = InProcessGrid(_app(train), num_nodes=5)
    strategy = FedlibStrategy("dnc", f=1, n_iter=3, flower_options=_options(5))  # the option is n_iters
    with pytest.raises(ConfigError, match="n_iter"):
        grid.send_and_receive(strategy.configure_train(1, _global(), ConfigRecord(), grid))
    assert calls == []


# -- AttackSimulation


def _updates(grid, partitions):
    """The echo clients' honest updates (shift per coordinate) for ``partitions``, in node-ID order."""
    ordered = sorted(partitions, key=grid.node_id)
    return torch.tensor([[SHIFTS[p]] * 15 for p in ordered], dtype=torch.float64)


@pytest.mark.parametrize("knowledge", ["full", "partial"])
def test_malicious_replies_are_replaced_by_fedlib_crafted_updates(knowledge):
    grid = InProcessGrid(echo_client_app(shift=lambda p: SHIFTS[p]), num_nodes=7)
    bad = [grid.node_id(0), grid.node_id(1), grid.node_id(2)]
    inner = FedlibStrategy("mean", f=3, flower_options=_options(7))
    strategy = AttackSimulation(inner, "lie", malicious=[0, 1, 2], knowledge=knowledge, z=2.0)
    arrays, metrics = _run_round(strategy, grid)

    known = _updates(grid, [3, 4, 5, 6] if knowledge == "full" else [0, 1, 2])
    crafted = atk.craft("lie", known, 3, knowledge=knowledge, z=2.0, n_total=7).updates
    benign = _updates(grid, [3, 4, 5, 6])
    expected = 1.0 + agg.aggregate("mean", torch.cat([crafted, benign]), 3).vector
    got = ArrayLayout.of(arrays).flatten(arrays)
    # LIE and the mean are coordinate-wise: the float64 array "b" (coordinates 6..9) is exact; the float32
    # and float16 arrays only carry their dtype's rounding.
    assert torch.allclose(got[6:10], expected[6:10], rtol=1e-12, atol=0)
    assert torch.allclose(got, expected, rtol=2e-3, atol=0)
    assert metrics["attack-malicious"] == 3 and strategy.malicious_nodes == tuple(sorted(bad))


def test_agr_tailored_attack_targets_the_wrapped_rule_and_reports_what_it_kept():
    grid = InProcessGrid(echo_client_app(shift=lambda p: SHIFTS[p] if p < 6 else 0.25), num_nodes=7)
    inner = FedlibStrategy("multi_krum", f=2, flower_options=_options(7))
    strategy = AttackSimulation(inner, "min_max", malicious=2, seed=1)
    _, metrics = _run_round(strategy, grid)
    assert strategy.target == "multi_krum" and len(strategy.malicious_nodes) == 2
    assert metrics["attack-malicious"] == 2 and "attack-gamma" in metrics
    kept = {n for n in inner.last_round.selected if n in strategy.malicious_nodes}
    assert metrics["attack-selected"] == len(kept)


def test_attack_settings_are_checked():
    grid = InProcessGrid(echo_client_app(), num_nodes=4)
    inner = FedlibStrategy("mean", f=1, flower_options=_options(4))
    with pytest.raises(ConfigError, match="malicious partitions \\[4\\] are not partitions 0..3"):
        _run_round(AttackSimulation(inner, "lie", malicious=[1, 4]), grid)
    with pytest.raises(ConfigError, match="must be < the 4 partitions"):
        _run_round(AttackSimulation(inner, "lie", malicious=4), grid)
    with pytest.raises(ConfigError, match="unknown attack"):
        AttackSimulation(inner, "lie2", malicious=1)
    with pytest.raises(ConfigError, match="unknown knowledge"):
        AttackSimulation(inner, "lie", malicious=1, knowledge="some")
    with pytest.raises(ConfigError, match="attack 'fang' targets .*found target 'mean'"):
        AttackSimulation(inner, "fang", malicious=1)  # fails at once, not after the first round's training
    from flwr.serverapp.strategy import FedAvg

    with pytest.raises(ConfigError, match="found target None"):
        AttackSimulation(FedAvg(), "tailored", malicious=1)
    assert AttackSimulation(inner, "fang", malicious=1, target="trimmed_mean").target == "trimmed_mean"


# -- end to end: a Flower run on mnist5k, in process


def test_flower_simulation_on_mnist5k_attack_hurts_the_mean_and_a_robust_rule_runs_through():
    """10 clients × 400 mnist5k images, mnist_fc, FedSGD-like clients (one SGD step of lr 0.2 on 32 samples),
    10 rounds; nodes of partitions 0-2 run Fang's attack with partial knowledge (crafted for trimmed mean).
    Measured (split seeds 0 / 1): clean mean 0.754 / 0.704 test accuracy, attacked mean 0.374 / 0.380,
    attacked trimmed mean 0.636 / 0.648. The test asks for half the measured drop."""
    from fedlib.data import load
    from fedlib.integrations.flower import server_evaluate_fn, sgd_client_app
    from fedlib.models import build

    data = load("mnist5k", split_seed=0, n_clients=10)
    model_fn = lambda: build("mnist_fc", seed=0)  # noqa: E731
    evaluate = server_evaluate_fn(model_fn, data.test_x, data.test_y)

    def run(rule, attack):
        grid = InProcessGrid(sgd_client_app(data, model_fn, lr=0.2, batch_size=32), num_nodes=10)
        strategy = FedlibStrategy(rule, f=3, flower_options=_options(10))
        if attack:
            strategy = AttackSimulation(strategy, "fang", malicious=[0, 1, 2], knowledge="partial",
                                        target="trimmed_mean")
        result = strategy.start(grid=grid, initial_arrays=ArrayRecord(model_fn().state_dict()), num_rounds=10,
                                evaluate_fn=evaluate)
        return result, result.evaluate_metrics_serverapp[10]["accuracy"]

    _, clean = run("mean", attack=False)
    _, attacked = run("mean", attack=True)
    assert clean > 0.6, clean  # the clean run learns
    assert attacked < clean - 0.15, (clean, attacked)

    result, robust = run("trimmed_mean", attack=True)
    assert sorted(result.train_metrics_clientapp) == list(range(1, 11))
    for metrics in result.train_metrics_clientapp.values():
        assert metrics["attack-malicious"] == 3 and metrics["fedlib-replies"] == 10 and metrics["fedlib-f"] == 3
    assert np.isfinite(robust) and result.arrays is not None
