"""FedlibStrategy against Byzantine garbage: every malformed reply is set aside with its node ID and reason, the
round goes on with the valid replies, and only too few valid replies stop it (with a message that says why)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

pytest.importorskip("flwr", reason="the flower extra is not installed (pip install -e '.[flower]')")

from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict  # noqa: E402
from flwr.clientapp import ClientApp  # noqa: E402
from flwr.serverapp.strategy import FedAvg  # noqa: E402

import fedlib.aggregators as agg  # noqa: E402
from fedlib.errors import ConfigError, InputError, NonFiniteError  # noqa: E402
from fedlib.integrations.flower import (  # noqa: E402
    FAULTS,
    REASONS,
    AttackSimulation,
    FedlibStrategy,
    InProcessGrid,
    TooFewRepliesError,
    echo_client_app,
    faulty_client_app,
    malformed_content,
    parse_faults,
)
from fedlib.integrations.flower._options import TrimFraction  # noqa: E402
from fedlib.integrations.flower._replies import exactly_convertible, overflow_limit  # noqa: E402
from fedlib.integrations.flower._strategy import FEDAVG_OPTIONS  # noqa: E402

SHIFTS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
BAD = 4  # the partition whose client misbehaves

#: What the strategy does with each fault: the reason it is set aside for, or "converted" / "aggregated".
OUTCOMES = {
    "crash": "failed",
    "wrong-shape": "shape",
    "empty": "shape",
    "missing-array": "arrays",
    "extra-array": "arrays",
    "no-arrays": "records",
    "two-records": "records",
    "float64": "dtype",
    "float64-exact": "converted",
    "int": "converted",
    "complex": "dtype",
    "unreadable": "unreadable",
    "nan": "nonfinite",
    "inf": "nonfinite",
    "huge": "aggregated",
    "no-metrics": "aggregated",
    "bad-metrics": "aggregated",
}


def _global(value: float = 1.0) -> ArrayRecord:
    return ArrayRecord({
        "w": Array(np.full((2, 3), value, np.float32)),
        "b": Array(np.full(4, value, np.float64)),
        "steps": Array(np.array([7], np.int64)),
    })


def _loss_app(shift=lambda p: SHIFTS[p]) -> ClientApp:
    """echo_client_app with a train-loss metric equal to the partition ID (to see whose metrics are averaged)."""
    echo = echo_client_app(shift=shift)
    app = ClientApp()

    @app.train()
    def train(message: Message, context: Context) -> Message:
        reply = echo(message, context)
        loss = float(context.node_config["partition-id"])
        reply.content["metrics"] = MetricRecord({"num-examples": 1, "train-loss": loss})
        return reply

    return app


def _round(strategy, grid, arrays=None, server_round=1):
    arrays = _global() if arrays is None else arrays
    replies = grid.send_and_receive(strategy.configure_train(server_round, arrays, ConfigRecord(), grid))
    return strategy.aggregate_train(server_round, replies)


def test_every_fault_has_an_expected_outcome_and_every_reason_is_documented():
    assert set(OUTCOMES) == set(FAULTS)
    assert set(OUTCOMES.values()) - {"converted", "aggregated"} <= set(REASONS)


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_garbage_reply_never_stops_the_round_and_is_reported_with_its_node_and_reason(fault, caplog):
    grid = InProcessGrid(faulty_client_app(_loss_app(), {BAD: fault}), num_nodes=7)
    strategy = FedlibStrategy("median", f=1, min_train_nodes=7, fraction_evaluate=0.0)
    with caplog.at_level(logging.INFO, logger="flwr"):
        arrays, metrics = _round(strategy, grid)
    node, outcome = grid.node_id(BAD), OUTCOMES[fault]
    assert metrics["fedlib-received"] == 7
    if outcome in REASONS:
        assert metrics["fedlib-set-aside"] == 1 and metrics[f"fedlib-set-aside-{outcome}"] == [node]
        assert metrics["fedlib-replies"] == 6 and node not in strategy.last_round.node_ids
        honest = [s for p, s in enumerate(SHIFTS) if p != BAD]
        assert np.allclose(arrays["b"].numpy(), 1.0 + np.median(honest))  # the median of the valid replies
        warning = f"round 1: set aside the reply of node {node} ({outcome}: {REASONS[outcome]})"
        assert any(warning in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records), caplog.text
    else:
        assert metrics["fedlib-set-aside"] == 0 and metrics["fedlib-replies"] == 7
        assert ("fedlib-converted" in metrics) == (outcome == "converted")
        if outcome == "converted":
            assert metrics["fedlib-converted"] == [node]
            assert any(f"round 1: node {node}: converted array 'w'" in r.getMessage() for r in caplog.records)
        bad_update = {"huge": 3e38 - 1.0, "int": 0.0}.get(fault, SHIFTS[BAD])  # int: rint(1.4) - 1
        updates = [bad_update if p == BAD else s for p, s in enumerate(SHIFTS)]
        assert np.allclose(arrays["b"].numpy(), 1.0 + np.median(updates)) and np.isfinite(arrays["w"].numpy()).all()
    summary = [r.getMessage() for r in caplog.records if r.getMessage().startswith("round 1: median (f=1) aggregated")]
    assert len(summary) == 1 and summary[0].endswith("none" if outcome not in REASONS else f"node {node} ({outcome})")
    metric_faults = {"no-metrics", "bad-metrics"}
    assert ("fedlib-metrics-left-out" in metrics) == (fault in metric_faults)
    averaged = [grid.partition_id(n) for n in strategy.last_round.node_ids]  # median selects none: all of them
    expected_loss = np.mean([p for p in averaged if not (p == BAD and fault in metric_faults)])
    assert metrics["train-loss"] == pytest.approx(expected_loss)


@pytest.mark.parametrize("fault", sorted(f for f, o in OUTCOMES.items() if o in REASONS and o != "failed"))
def test_strict_mode_raises_on_the_first_malformed_reply_naming_the_node(fault):
    grid = InProcessGrid(faulty_client_app(echo_client_app(), {BAD: fault}), num_nodes=7)
    strategy = FedlibStrategy("median", f=1, strict=True, min_train_nodes=7, fraction_evaluate=0.0)
    kind = NonFiniteError if OUTCOMES[fault] == "nonfinite" else InputError
    expected = f"round 1: the reply of node {grid.node_id(BAD)} is malformed \\({OUTCOMES[fault]}\\)"
    with pytest.raises(kind, match=expected):
        _round(strategy, grid)


def test_strict_mode_still_sets_a_failed_reply_aside():
    grid = InProcessGrid(faulty_client_app(echo_client_app(), {BAD: "crash"}), num_nodes=7)
    strategy = FedlibStrategy("median", f=1, strict=True, min_train_nodes=7, fraction_evaluate=0.0)
    _, metrics = _round(strategy, grid)
    assert metrics["fedlib-set-aside-failed"] == [grid.node_id(BAD)]


def test_too_few_valid_replies_say_what_arrived_what_was_set_aside_and_why_and_what_the_rule_needs():
    faults = {0: "crash", 1: "nan", 2: "wrong-shape"}
    grid = InProcessGrid(faulty_client_app(echo_client_app(), faults), num_nodes=7)
    strategy = FedlibStrategy("trimmed_mean", f=2, min_train_nodes=7, fraction_evaluate=0.0)
    with pytest.raises(TooFewRepliesError) as error:
        _round(strategy, grid)
    message = str(error.value)
    assert message.startswith("round 1: 7 replies arrived, 3 set aside (")
    assert "4 valid; 'trimmed_mean' with f=2 needs at least 5 valid replies" in message
    for partition, reason in ((0, "failed"), (1, "nonfinite"), (2, "shape")):
        assert f"node {grid.node_id(partition)}: {reason} (" in message
    assert agg.min_inputs("trimmed_mean", 2) == 5  # the number quoted is the rule's own


def test_an_f_policy_shrinks_with_the_replies_left_after_setting_aside():
    grid = InProcessGrid(faulty_client_app(echo_client_app(), {0: "crash", 1: "nan", 2: "empty"}), num_nodes=9)
    strategy = FedlibStrategy("krum", f=lambda n: (n - 3) // 2, min_train_nodes=9, fraction_evaluate=0.0)
    _, metrics = _round(strategy, grid)
    assert metrics["fedlib-replies"] == 6 and metrics["fedlib-f"] == 1 and metrics["fedlib-set-aside"] == 3


def test_a_duplicate_reply_of_one_node_is_set_aside():
    grid = InProcessGrid(echo_client_app(shift=lambda p: SHIFTS[p]), num_nodes=7)
    strategy = FedlibStrategy("median", f=1, min_train_nodes=7, fraction_evaluate=0.0)
    replies = grid.send_and_receive(strategy.configure_train(1, _global(), ConfigRecord(), grid))
    _, metrics = strategy.aggregate_train(1, replies + [replies[2]])
    assert metrics["fedlib-set-aside-duplicate"] == [replies[2].metadata.src_node_id]
    assert metrics["fedlib-replies"] == 7 and metrics["fedlib-received"] == 8


@pytest.mark.parametrize("rule", ["mean", "krum", "multi_krum", "trimmed_mean", "median", "dnc", "centered_clipping",
                                  "geometric_median", "bucketing"])
def test_huge_float32_values_stay_finite_and_robust_rules_ignore_them(rule):
    """float32 values near 3.4e38 would overflow float32 squared distances (multi-krum then picks them, the
    geometric median turns NaN); aggregating in float64 keeps every rule finite."""
    grid = InProcessGrid(faulty_client_app(echo_client_app(shift=lambda p: SHIFTS[p]), {BAD: "huge"}), num_nodes=7)
    options = {"base": "median"} if rule == "bucketing" else {}
    strategy = FedlibStrategy(rule, f=1, min_train_nodes=7, fraction_evaluate=0.0, **options)
    arrays, _ = _round(strategy, grid, ArrayRecord({"w": Array(np.zeros(6, np.float32))}))
    values = arrays["w"].numpy()
    assert np.isfinite(values).all()
    if rule not in ("mean", "centered_clipping"):  # centered clipping bounds the outlier's pull by its radius
        assert np.abs(values).max() < 1.0, (rule, values)
    if strategy.last_round.selected is not None:
        assert grid.node_id(BAD) not in strategy.last_round.selected


def test_values_that_overflow_float64_distances_are_set_aside():
    grid = InProcessGrid(echo_client_app(shift=lambda p: 1e200 if p == BAD else SHIFTS[p]), num_nodes=7)
    strategy = FedlibStrategy("multi_krum", f=1, min_train_nodes=7, fraction_evaluate=0.0)
    arrays, metrics = _round(strategy, grid, ArrayRecord({"b": Array(np.zeros(4, np.float64))}))
    assert metrics["fedlib-set-aside-overflow"] == [grid.node_id(BAD)] and np.abs(arrays["b"].numpy()).max() < 1
    assert overflow_limit(10**6, 100) == pytest.approx(6.7e149, rel=0.01)


def test_a_global_model_pushed_out_of_its_dtype_fails_loudly():
    """A convex combination of the replies stays in their dtype's range; a rule that extrapolates need not."""

    def amplify(updates, f, *, variant="textbook"):
        return agg.Aggregate(updates.mean(dim=0) * 1e10)

    grid = InProcessGrid(echo_client_app(shift=lambda p: 1e30), num_nodes=3)
    with agg.registered("amplify", amplify):
        strategy = FedlibStrategy("amplify", f=0, min_train_nodes=3, fraction_evaluate=0.0)
        with pytest.raises(NonFiniteError, match="round 1: the aggregate moved array 'w' of the global model out of"):
            _round(strategy, grid, ArrayRecord({"w": Array(np.zeros(2, np.float32))}))


def test_exact_conversions_are_the_lossless_ones():
    assert exactly_convertible(np.array([0.1, 2.0], np.float32), np.dtype(np.float64))
    assert exactly_convertible(np.array([0.5, 2.0], np.float64), np.dtype(np.float32))
    assert not exactly_convertible(np.array([0.1], np.float64), np.dtype(np.float32))
    assert not exactly_convertible(np.array([1e300], np.float64), np.dtype(np.float32))
    assert exactly_convertible(np.array([3, -7]), np.dtype(np.float32))
    assert not exactly_convertible(np.array([2**40 + 1]), np.dtype(np.float32))
    assert not exactly_convertible(np.array([1 + 0j]), np.dtype(np.float32))
    assert exactly_convertible(np.array([np.nan], np.float64), np.dtype(np.float32))  # NaN is caught later


def test_training_metrics_average_the_replies_the_rule_selected_as_flowers_krum_does():
    grid = InProcessGrid(_loss_app(shift=lambda p: [0.0, 0.1, 0.2, 0.3, 0.4, 6.0, 9.0][p]), num_nodes=7)
    strategy = FedlibStrategy("multi_krum", f=2, num_nodes_to_select=3, min_train_nodes=7, fraction_evaluate=0.0)
    _, metrics = _round(strategy, grid)
    picked = [grid.partition_id(n) for n in strategy.last_round.selected]
    assert len(picked) == 3 and max(picked) <= 4
    assert metrics["train-loss"] == pytest.approx(np.mean(picked)) and metrics["fedlib-selected"] == 3


def test_flowers_option_names_are_accepted():
    assert set(FEDAVG_OPTIONS) == set(FedAvg.__init__.__code__.co_varnames[1 : FedAvg.__init__.__code__.co_argcount])
    s = FedlibStrategy("krum", num_malicious_nodes=2, min_train_nodes=9, fraction_evaluate=0.0, weighted_by_key="n")
    assert (s.f, s.min_train_nodes, s.fraction_evaluate, s.weighted_by_key) == (2, 9, 0.0, "n")
    s = FedlibStrategy("trimmed_mean", beta=0.2)
    assert isinstance(s.f, TrimFraction) and s.f_for(10) == 2 and s.f_for(9) == 1
    assert FedlibStrategy("multi_krum", f=1, num_nodes_to_select=3).rule_options == {"n_select": 3}
    assert FedlibStrategy("multi_krum", f=1, num_nodes_to_select=3).needed(4) == (1, 5)
    for kwargs, message in (
        ({"f": 1, "num_malicious_nodes": 1}, "exactly one of f, num_malicious_nodes"),
        ({}, "exactly one of f"),
        ({"beta": 0.2}, "beta .* applies to trimmed_mean, not 'median'"),
        ({"f": 1, "num_nodes_to_select": 2}, "applies to multi_krum, not 'median'"),
        ({"f": 1, "min_train_nodes": 3, "flower_options": {"min_train_nodes": 4}}, "given both"),
    ):
        with pytest.raises(ConfigError, match=message):
            FedlibStrategy("median", **kwargs)
    with pytest.raises(ConfigError, match="fraction in \\[0, 0.5\\)"):
        FedlibStrategy("trimmed_mean", beta=0.5)
    with pytest.raises(ConfigError, match="Krum selects one reply"):
        FedlibStrategy("krum", f=1, num_nodes_to_select=2)


def test_the_strategy_summary_goes_to_flowers_log(caplog):
    with caplog.at_level(logging.INFO, logger="flwr"):
        FedlibStrategy("dnc", num_malicious_nodes=2, subsample_dim=5).summary()
    text = "\n".join(r.getMessage() for r in caplog.records if r.name == "flwr")
    assert "Rule: dnc (textbook variant), f = 2" in text and "'subsample_dim': 5" in text
    assert "Malformed replies: set aside" in text


def test_malformed_content_and_parse_faults_check_their_inputs():
    honest = RecordDict({"arrays": _global(), "metrics": MetricRecord({"num-examples": 1})})
    assert list(malformed_content(honest, "missing-array")["arrays"].keys()) == ["w", "b"]
    assert "metrics" not in malformed_content(honest, "no-metrics")
    with pytest.raises(ConfigError, match="unknown fault"):
        malformed_content(honest, "explode")
    assert parse_faults("") == {} and parse_faults("1:nan  3:crash") == {1: "nan", 3: "crash"}
    with pytest.raises(ConfigError, match="PARTITION:FAULT"):
        parse_faults("nan")


# -- AttackSimulation: partitions, and garbage among the replies


def test_the_same_seed_attacks_the_same_partitions_whatever_the_node_ids():
    results = []
    for grid_seed in (0, 1):
        grid = InProcessGrid(echo_client_app(shift=lambda p: SHIFTS[p]), num_nodes=7, seed=grid_seed)
        inner = FedlibStrategy("trimmed_mean", f=2, min_train_nodes=7, fraction_evaluate=0.0)
        strategy = AttackSimulation(inner, "lie", malicious=2, seed=5)
        arrays, _ = _round(strategy, grid)
        partitions = sorted(grid.partition_id(n) for n in strategy.malicious_nodes)
        results.append((strategy.malicious_partitions, partitions, arrays["b"].numpy().tolist()))
    assert results[0] == results[1]
    assert results[0][0] == tuple(sorted(torch.randperm(7, generator=torch.Generator().manual_seed(5))[:2].tolist()))


def test_partitions_come_from_the_replies_when_the_grid_does_not_know_them():
    grid = InProcessGrid(echo_client_app(shift=lambda p: SHIFTS[p]), num_nodes=7)
    inner = FedlibStrategy("mean", f=2, min_train_nodes=7, fraction_evaluate=0.0)
    strategy = AttackSimulation(inner, "lie", malicious=[1, 5])
    replies = grid.send_and_receive(strategy.configure_train(1, _global(), ConfigRecord(), grid))
    strategy._grid_partitions = {}  # as on Flower's own grids: only the replies say which partition they hold
    _, metrics = strategy.aggregate_train(1, replies)
    assert strategy.malicious_nodes == tuple(sorted([grid.node_id(1), grid.node_id(5)]))
    assert metrics["attack-malicious"] == 2
    for reply in replies:
        del reply.content["fedlib-node"]
    with pytest.raises(ConfigError, match="does not report its partition"):
        strategy.aggregate_train(1, replies)


@pytest.mark.parametrize("bad_partition", [0, 4])  # a malicious client's own reply, and a benign one
def test_an_attack_simulation_passes_garbage_on_to_be_set_aside(bad_partition):
    app = faulty_client_app(echo_client_app(shift=lambda p: SHIFTS[p]), {bad_partition: "wrong-shape", 6: "crash"})
    grid = InProcessGrid(app, num_nodes=7)
    inner = FedlibStrategy("trimmed_mean", f=2, min_train_nodes=7, fraction_evaluate=0.0)
    strategy = AttackSimulation(inner, "fang", malicious=[0, 1], knowledge="full", target="trimmed_mean")
    arrays, metrics = _round(strategy, grid)
    assert metrics["fedlib-set-aside-shape"] == [grid.node_id(bad_partition)]
    assert metrics["fedlib-set-aside-failed"] == [grid.node_id(6)]
    assert metrics["attack-malicious"] == (1 if bad_partition == 0 else 2) and metrics["fedlib-replies"] == 5
    assert np.isfinite(arrays["w"].numpy()).all()


def test_garbage_evaluation_replies_never_stop_the_round():
    """FedAvg's aggregate_evaluate raises when one reply's MetricRecord differs; the strategy leaves it out."""
    app = ClientApp()

    @app.evaluate()
    def evaluate(message: Message, context: Context) -> Message:
        partition = int(context.node_config["partition-id"])
        if partition == 0:
            raise RuntimeError("crashed during evaluation")
        metrics = {"num-examples": 10, "eval-accuracy": 0.1 * partition}
        if partition == 1:
            metrics = {"num-examples": 10, "eval-accuracy": float("nan")}
        if partition == 2:
            metrics = {"num-examples": 10**9, "something-else": 3.0}
        return Message(RecordDict({"metrics": MetricRecord(metrics)}), reply_to=message)

    grid = InProcessGrid(app, num_nodes=6)
    strategy = FedlibStrategy("median", f=1, min_evaluate_nodes=6)
    replies = grid.send_and_receive(strategy.configure_evaluate(1, _global(), ConfigRecord(), grid))
    metrics = strategy.aggregate_evaluate(1, replies)
    assert metrics["eval-accuracy"] == pytest.approx(np.mean([0.3, 0.4, 0.5]))
    assert metrics["fedlib-set-aside-failed"] == [grid.node_id(0)]
    assert sorted(metrics["fedlib-metrics-left-out"]) == sorted([grid.node_id(1), grid.node_id(2)])
    assert (metrics["fedlib-received"], metrics["fedlib-evaluated"]) == (6, 3)
    with pytest.raises(Exception, match="MetricRecord"):  # what Flower's FedAvg does with the same replies
        FedAvg(min_evaluate_nodes=6).aggregate_evaluate(1, replies)


def test_forged_array_metadata_and_foreign_byte_order():
    """An Array whose metadata claims the model's shape while its bytes hold another is judged by its bytes; a
    big-endian copy of an honest reply converts exactly."""
    echo = echo_client_app(shift=lambda p: SHIFTS[p])
    app = ClientApp()

    @app.train()
    def train(message: Message, context: Context) -> Message:
        reply = echo(message, context)
        arrays, partition = reply.content["arrays"], int(context.node_config["partition-id"])
        if partition == 1:
            arrays = ArrayRecord({k: Array(arrays[k].numpy().astype(arrays[k].numpy().dtype.newbyteorder(">")))
                                  for k in arrays.keys()})
        if partition == 2:
            honest = arrays["w"]
            forged = Array(np.zeros(6, np.float32))  # the right bytes count, the wrong shape inside
            arrays = ArrayRecord({**dict(arrays.items()), "w": Array(honest.dtype, honest.shape, forged.stype,
                                                                       forged.data)})
        reply.content["arrays"] = arrays
        return reply

    grid = InProcessGrid(app, num_nodes=7)
    strategy = FedlibStrategy("median", f=1, min_train_nodes=7, fraction_evaluate=0.0)
    arrays, metrics = _round(strategy, grid)
    assert metrics["fedlib-converted"] == [grid.node_id(1)]
    assert metrics["fedlib-set-aside-shape"] == [grid.node_id(2)]
    assert np.allclose(arrays["b"].numpy(), 1.0 + np.median([s for p, s in enumerate(SHIFTS) if p != 2]))


@pytest.mark.parametrize("knowledge, faults", [
    ("partial", {1: "crash"}),  # partial knowledge left with one own row: no standard deviation
    ("full", {2: "nan", 3: "crash", 4: "wrong-shape"}),  # full knowledge left with no valid benign reply
])
def test_a_round_whose_attack_is_infeasible_lets_the_malicious_replies_through(knowledge, faults, caplog):
    grid = InProcessGrid(faulty_client_app(echo_client_app(shift=lambda p: SHIFTS[p]), faults), num_nodes=5)
    inner = FedlibStrategy("median", f=1, min_train_nodes=5, fraction_evaluate=0.0)
    strategy = AttackSimulation(inner, "fang", malicious=[0, 1], knowledge=knowledge)
    with caplog.at_level(logging.WARNING, logger="flwr"):
        arrays, metrics = _round(strategy, grid)
    assert metrics["attack-skipped"] == 1 and metrics["attack-malicious"] == 0
    valid = [p for p in range(5) if p not in faults]
    assert np.allclose(arrays["b"].numpy(), 1.0 + np.median([SHIFTS[p] for p in valid]))  # honest replies only
    assert any("attack skipped, the malicious replies go through" in r.getMessage() for r in caplog.records)
