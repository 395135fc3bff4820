"""fedlib.fl: per-client gradients (vmap == loop), server optimisers, the round loop's threat-model plumbing."""

from __future__ import annotations

import math

import pytest
import torch

import fedlib.aggregators as aggregators
import fedlib.attacks as attacks
from fedlib.attacks import Crafted
from fedlib.errors import ConfigError, NonFiniteError
from fedlib.experiments import Experiment
from fedlib.fl import FlatModel, ServerOptimiser, round_f, train
from fedlib.models import build


def tiny(**changes) -> Experiment:
    base = dict(dataset="mnist5k", model="mnist_fc", model_options={"hidden": 16}, n_clients=10, n_malicious=2,
                samples_per_client=40, batch_size=20, rounds=4, eval_every=2, device="cpu")
    return Experiment(**{**base, **changes})


# ------------------------------------------------------------------ gradients
@pytest.mark.parametrize("model,shape,classes", [("mnist_fc", (1, 28, 28), 10), ("femnist_cnn", (1, 28, 28), 62)])
def test_vmap_gradients_equal_loop_gradients(model, shape, classes):
    gen = torch.Generator().manual_seed(0)
    net = FlatModel(build(model, seed=0, n_classes=classes), dtype=torch.float64)
    xs = torch.randn(5, 8, *shape, generator=gen, dtype=torch.float64)
    ys = torch.randint(0, classes, (5, 8), generator=gen)
    g_vmap, l_vmap = net.client_gradients(net.theta, (xs, ys), method="vmap")
    g_loop, l_loop = net.client_gradients(net.theta, (xs, ys), method="loop")
    g_list, _ = net.client_gradients(net.theta, [(xs[i], ys[i]) for i in range(5)], method="auto")
    assert g_vmap.shape == (5, net.d) and g_vmap.dtype == torch.float64
    torch.testing.assert_close(g_vmap, g_loop, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(g_list, g_loop, rtol=0, atol=0)
    torch.testing.assert_close(l_vmap, l_loop)
    # and both equal autograd on the module itself (flattening order = model.parameters())
    module = build(model, seed=0, n_classes=classes).double()
    loss = torch.nn.functional.cross_entropy(module(xs[3]), ys[3])
    expect = torch.cat([g.flatten() for g in torch.autograd.grad(loss, list(module.parameters()))])
    torch.testing.assert_close(g_vmap[3], expect, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("model,method", [("mnist_fc", "vmap"), ("purchase_fc", "vmap"), ("femnist_cnn", "loop"),
                                          ("alexnet_cifar", "loop")])
def test_auto_method_is_the_loop_for_cnns_on_cpu(model, method, monkeypatch):
    # benchmarks/ part fedsgd: vmap wins for the fully connected nets, the loop for the CNNs on CPU.
    net = FlatModel(build(model, seed=0))
    assert net.auto_method() == method
    calls = []
    monkeypatch.setattr("fedlib.fl._grads.vmap", lambda *a, **k: calls.append(1) or (lambda *b: 1 / 0))
    if method == "loop":  # auto must not go through vmap at all
        shape = (1, 28, 28) if model == "femnist_cnn" else (3, 32, 32)
        xs, ys = torch.randn(2, 3, *shape), torch.randint(0, 10, (2, 3))
        grads, _ = net.client_gradients(net.theta, (xs, ys), method="auto")
        assert grads.shape == (2, net.d) and not calls


def test_vmap_needs_stacked_batches():
    net = FlatModel(build("mnist_fc", seed=0, hidden=4))
    with pytest.raises(ConfigError, match="vmap"):
        net.client_gradients(net.theta, [(torch.zeros(2, 784), torch.zeros(2, dtype=torch.long))], method="vmap")


# ------------------------------------------------------------------ optimisers
def test_sgd_step_decay():
    opt = ServerOptimiser("sgd", torch.ones(3), lr=0.5, decay_rounds=[2, 4], decay_factor=0.5)
    lrs = []
    for _ in range(6):
        lrs.append(opt.lr)
        opt.step(torch.zeros(3))
    assert lrs == [0.5, 0.5, 0.25, 0.25, 0.125, 0.125]
    assert torch.equal(opt.step(torch.full((3,), 2.0)), torch.full((3,), 0.75))  # 1 - 0.125 * 2


def _reference_server_optimiser(name, lr, decay_rounds=(), decay_factor=1.0):
    """The hand-written server optimiser of commit acfa636 (before torch.optim), kept as the reference."""
    state = {"m": None, "v": None, "steps": 0}

    def step(theta, direction, t):
        lr_t = lr * decay_factor ** sum(1 for r in decay_rounds if r <= t)
        if name == "sgd":
            return theta - lr_t * direction
        if state["m"] is None:
            state["m"], state["v"] = torch.zeros_like(theta), torch.zeros_like(theta)
        state["steps"] += 1
        state["m"].mul_(0.9).add_(direction, alpha=0.1)
        state["v"].mul_(0.999).addcmul_(direction, direction, value=0.001)
        denom = (state["v"] / (1 - 0.999 ** state["steps"])).sqrt_().add_(1e-8)
        return theta - (lr_t / (1 - 0.9 ** state["steps"])) * state["m"] / denom

    return step


@pytest.mark.parametrize("name,lr,dtype", [("sgd", 0.5, torch.float32), ("adam", 1e-2, torch.float64),
                                           ("adam", 1e-3, torch.float32)])
def test_torch_optim_server_equals_the_previous_server_optimiser(name, lr, dtype):
    # SGD: bit-identical. Adam: torch.optim orders the bias corrections differently (lerp for the first moment,
    # sqrt(v)/sqrt(1-b2^t) instead of sqrt(v/(1-b2^t))), so θ agrees to a few ulps of its magnitude.
    gen = torch.Generator().manual_seed(0)
    theta0 = torch.randn(500, generator=gen, dtype=dtype)
    ours = ServerOptimiser(name, theta0, lr=lr, decay_rounds=[3], decay_factor=0.5)
    ref, theta = _reference_server_optimiser(name, lr, [3], 0.5), theta0.clone()
    for t in range(8):
        g = torch.randn(500, generator=gen, dtype=dtype)
        theta = ref(theta, g, t)
        new = ours.step(g)
        if name == "sgd":
            assert torch.equal(new, theta)
        else:
            tol = 8 * torch.finfo(dtype).eps
            torch.testing.assert_close(new, theta, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_candidate_step_is_the_next_step_and_changes_nothing(name):
    gen = torch.Generator().manual_seed(1)
    opt = ServerOptimiser(name, torch.randn(40, generator=gen), lr=0.1, decay_rounds=[1], decay_factor=0.5)
    for _ in range(3):
        g = torch.randn(40, generator=gen)
        before = opt.theta.clone()
        state = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in opt.optimizer.state.get(opt.param, {}).items()}
        preview = opt.candidate(torch.randn(40, generator=gen))  # another aggregate: must not leave a trace
        assert torch.equal(opt.theta, before) and not torch.equal(preview, before)
        for k, v in state.items():
            assert torch.equal(torch.as_tensor(opt.optimizer.state[opt.param][k]), torch.as_tensor(v))
        expect = opt.candidate(g)
        assert torch.equal(opt.step(g), expect)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_candidate_is_bit_for_bit_a_step_of_a_freshly_built_twin(name, dtype):
    # candidate() reuses one twin optimiser across calls (Fang's defense scores hundreds a round); every value
    # must be the float a twin built afresh for the call gives (the earlier implementation), and a returned θ
    # must not change when the next candidate is computed.
    def fresh_twin(opt, aggregate, theta=None):
        copy = torch.nn.Parameter(opt.theta.clone() if theta is None else theta.clone())
        twin = opt._make([copy], opt.lr)
        state = opt.optimizer.state.get(opt.param)
        if state:
            twin.state[copy] = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in state.items()}
        copy.grad = aggregate.to(copy.dtype)
        twin.step()
        return copy.detach()

    gen = torch.Generator().manual_seed(7)
    opt = ServerOptimiser(name, torch.randn(1000, generator=gen, dtype=dtype), lr=0.5, decay_rounds=[2],
                          decay_factor=0.5)
    for _ in range(4):
        held = []
        for scale in (1e-3, 1.0, 1e3):
            aggregate = scale * torch.randn(1000, generator=gen, dtype=dtype)
            got = opt.candidate(aggregate)
            assert got.dtype == dtype and torch.equal(got, fresh_twin(opt, aggregate))
            held.append((got, got.clone()))
        other = torch.randn(1000, generator=gen, dtype=dtype)
        assert torch.equal(opt.candidate(aggregate, theta=other), fresh_twin(opt, aggregate, theta=other))
        if name == "sgd":  # another dtype gets a twin of its own (Adam's state has θ's dtype: none other fits)
            wider = torch.randn(1000, generator=gen, dtype=torch.float64)
            assert torch.equal(opt.candidate(aggregate, theta=wider), fresh_twin(opt, aggregate, theta=wider))
        assert all(torch.equal(a, b) for a, b in held)
        opt.step(torch.randn(1000, generator=gen, dtype=dtype))


# ------------------------------------------------------------------ f policies
def test_round_f_policies():
    assert round_f("actual", "median", 3) == round_f("true", "median", 3) == (3, 3)
    assert round_f(5, "median", 3) == (5, 3)
    assert round_f("ndss21_femnist", "krum", 1, 60) == (2, 2)
    assert round_f("ndss21_femnist", "multi_krum", 7, 60) == (7, 7)
    assert round_f("ndss21_femnist", "bulyan", 20, 60) == (14, 14)
    assert round_f("ndss21_femnist", "bulyan", 0, 60) == (2, 0)
    assert round_f("ndss21_femnist", "trimmed_mean", 4, 60) == (4, 4)
    # capped at what the rule accepts on the round's rows (aggregators.min_inputs)
    assert round_f("ndss21_femnist", "krum", 40, 60) == (28, 28)
    assert round_f("ndss21_femnist", "trimmed_mean", 45, 60) == (29, 45)
    assert round_f("capped", "median", 7, 10) == (7, 7) and round_f("capped", "median", 10, 10) == (9, 10)
    with pytest.raises(ConfigError, match="n_rows"):
        round_f("capped", "median", 3)


# ------------------------------------------------------------------ the round loop
class Spy:
    """Records what the engine hands to craft() and aggregate()."""

    def __init__(self, monkeypatch):
        self.crafts, self.aggs = [], []
        real_craft, real_agg = attacks.craft, aggregators.aggregate

        def craft(name, benign, n_malicious, **kw):
            self.crafts.append((benign.clone(), n_malicious, kw))
            return real_craft(name, benign, n_malicious, **kw)

        def aggregate(name, updates, f, **kw):
            self.aggs.append((updates.clone(), f, kw))
            return real_agg(name, updates, f, **kw)

        monkeypatch.setattr(attacks, "craft", craft)
        monkeypatch.setattr(aggregators, "aggregate", aggregate)


def _honest_gradients(exp: Experiment, round_: int = 0):
    """All clients' honest round-0 gradients, recomputed independently of the engine."""
    from fedlib.data import load

    ds = load(
        exp.dataset, split_seed=exp.split_seed, n_clients=exp.n_clients, samples_per_client=exp.samples_per_client
    )
    net = FlatModel(build(exp.model, seed=exp.init_seed, in_features=784, **exp.model_options))
    perm = torch.randperm(exp.samples_per_client, generator=torch.Generator().manual_seed(exp.sample_seed))
    rows = torch.stack(list(ds.clients))[:, perm][:, :exp.batch_size]
    return net.client_gradients(net.theta, (ds.train_x[rows], ds.train_y[rows]))[0]


def test_no_attack_everyone_honest_and_f_is_n_malicious(monkeypatch):
    spy = Spy(monkeypatch)
    exp = tiny(aggregator="median", rounds=1)
    train(exp)
    assert spy.crafts == []
    rows, f, kw = spy.aggs[0]
    assert rows.shape[0] == 10 and f == 2 and kw["nonfinite"] == "raise"
    torch.testing.assert_close(rows, _honest_gradients(exp))


def test_full_knowledge_adversary_sees_benign_rows_and_goes_first(monkeypatch):
    spy = Spy(monkeypatch)
    exp = tiny(aggregator="median", attack="min_max", rounds=1)
    log = train(exp)
    honest = _honest_gradients(exp)
    benign, m, kw = spy.crafts[0]
    assert m == 2 and kw["knowledge"] == "full" and kw["aggregator"] == "median" and kw["f"] == 2
    torch.testing.assert_close(benign, honest[2:])  # the 8 benign clients; attackers compute nothing
    rows, f, _ = spy.aggs[0]
    assert rows.shape[0] == 10 and f == 2
    assert torch.equal(rows[0], rows[1]) and not torch.allclose(rows[0], honest[0])  # crafted copies first
    torch.testing.assert_close(rows[2:], honest[2:])
    assert log.rounds[0]["gamma"] is not None and log.rounds[0]["n_malicious"] == 2


def test_partial_knowledge_adversary_knows_only_its_own_gradients(monkeypatch):
    spy = Spy(monkeypatch)
    exp = tiny(aggregator="trimmed_mean", attack="lie", knowledge="partial", rounds=1)
    train(exp)
    honest = _honest_gradients(exp)
    known, m, kw = spy.crafts[0]
    assert kw["knowledge"] == "partial" and kw["n_total"] == 10
    torch.testing.assert_close(known, honest[:2])
    rows, _, _ = spy.aggs[0]
    torch.testing.assert_close(rows[2:], honest[2:])
    assert not torch.allclose(rows[:2], honest[:2])


def test_cross_device_sampling_records_attackers_and_f(monkeypatch):
    spy = Spy(monkeypatch)
    exp = tiny(n_clients=10, n_malicious=3, clients_per_round=5, sampling="with_replacement", aggregator="mean",
               attack="min_sum", rounds=6, eval_every=6, server_f="capped")
    log = train(exp)
    for record, (rows, f, _) in zip(log.rounds, spy.aggs, strict=True):
        assert record["f"] == f == min(4, record["n_malicious"]) and rows.shape[0] == 5 == record["n_rows"]
    assert len({r["n_malicious"] for r in log.rounds}) > 1  # m_t varies
    fixed = tiny(n_clients=10, n_malicious=3, clients_per_round=5, sampling="without_replacement", server_f=1, rounds=3)
    assert all(r["f"] == 1 for r in train(fixed).rounds)


def test_femnist_f_policy_injects_f_copies(monkeypatch):
    spy = Spy(monkeypatch)
    exp = tiny(n_clients=10, n_malicious=1, clients_per_round=8, sampling="with_replacement", aggregator="multi_krum",
               attack="min_max", server_f="ndss21_femnist", rounds=6, eval_every=6, sample_seed=1)
    log = train(exp)
    attacked = [(r, a) for r, a in zip(log.rounds, spy.aggs, strict=True) if r["n_malicious"] > 0]
    assert attacked, "seed should draw the attacker at least once"
    for record, (rows, f, _) in attacked:
        assert f == 2 and rows.shape[0] == 8 - record["n_malicious"] + 2


def test_nonfinite_malicious_rows_raise_or_drop(monkeypatch):
    def nan_attack(name, benign, n_malicious, **kw):
        return Crafted(torch.full((n_malicious, benign.shape[1]), float("nan"), dtype=benign.dtype))

    monkeypatch.setattr(attacks, "craft", nan_attack)
    with pytest.raises(NonFiniteError):
        train(tiny(aggregator="median", attack="lie", rounds=1))
    log = train(tiny(aggregator="median", attack="lie", rounds=2, nonfinite="drop"))
    assert [r["dropped"] for r in log.rounds] == [2, 2] and not log.diverged


def test_divergence_is_recorded_not_hidden():
    log = train(tiny(lr=1e30, rounds=6, eval_every=1))
    assert log.diverged and log.diverged_round is not None and log.diverged_round < 6
    assert log.diverged_reason
    assert log.evals and log.evals[0]["round"] == 0  # the best-so-far output stays available
    assert len(log.rounds) <= 6


def test_equal_and_unequal_client_sizes_train():
    log = train(tiny(partition="dirichlet", partition_alpha=0.5, samples_per_client=None, rounds=2))
    assert len(log.rounds) == 2 and not log.diverged
    assert math.isfinite(log.best()["val_acc"])


def test_same_seeds_same_run_and_seeds_matter():
    a, b = train(tiny(attack="min_max", aggregator="median")), train(tiny(attack="min_max", aggregator="median"))
    assert a.evals == b.evals and a.rounds == b.rounds
    c = train(tiny(attack="min_max", aggregator="median", sample_seed=1))
    assert c.evals != a.evals


def test_vmap_and_loop_runs_agree():
    a = train(tiny(grad_method="vmap", dtype="float64"))
    b = train(tiny(grad_method="loop", dtype="float64"))
    for x, y in zip(a.evals, b.evals, strict=True):
        assert x["round"] == y["round"] and abs(x["val_loss"] - y["val_loss"]) < 1e-9


# ------------------------------------------------------------------ every registered AGR and attack runs in the loop
@pytest.mark.parametrize("agg", aggregators.names())
def test_every_aggregator_runs_in_the_engine(agg):
    log = train(tiny(aggregator=agg, attack="min_max", rounds=2, eval_every=2, n_clients=12))
    assert len(log.rounds) == 2 and not log.diverged
    assert all(r["n_rows"] == 12 for r in log.rounds)


@pytest.mark.parametrize("attack", [a for a in attacks.names() if a != "none"])
@pytest.mark.parametrize("knowledge", ["full", "partial"])
def test_every_attack_runs_in_the_engine(attack, knowledge):
    exp = tiny(aggregator="multi_krum", attack=attack, knowledge=knowledge, rounds=1, eval_every=1, n_clients=20,
               n_malicious=4, samples_per_client=20, batch_size=10)
    log = train(exp)
    assert len(log.rounds) == 1 and log.rounds[0]["malicious_selected"] is not None


def test_attack_target_and_fang_score_fn(monkeypatch):
    spy = Spy(monkeypatch)
    train(tiny(aggregator="fang_defense", attack="tailored", rounds=1, eval_every=1, n_clients=12))
    _, _, kw = spy.crafts[0]
    assert kw["aggregator"] == "fang_defense" and callable(kw["aggregator_options"]["score_fn"])
    assert callable(spy.aggs[0][2]["score_fn"])
    spy.crafts.clear()
    train(tiny(aggregator="dnc", attack="fang", attack_target="trimmed_mean", rounds=1, eval_every=1))
    assert spy.crafts[0][2]["aggregator"] == "trimmed_mean" and "generator" in spy.aggs[-1][2]


# ------------------------------------------------------------------ the engine's inputs (fedlib.fl.Setting)
def test_every_experiment_field_but_the_profile_is_in_one_part_of_its_setting():
    import dataclasses

    from fedlib.fl import Setting

    parts = {name: [f.name for f in dataclasses.fields(getattr(Setting(), name))] for name in
             [f.name for f in dataclasses.fields(Setting)]}  # fmt: skip
    owned = [field + ("_seed" if part == "seeds" else "") for part, names in parts.items() for field in names]
    assert len(owned) == len(set(owned))  # no field in two parts
    assert set(owned) == {f.name for f in dataclasses.fields(Experiment)} - {"profile"}
    exp = tiny(aggregator="dnc", attack="tailored", knowledge="partial", variant="ndss21", sample_seed=3, lr=0.25)
    setting = exp.setting
    threat = setting.threat
    assert (setting.defense.aggregator, threat.attack, threat.knowledge) == ("dnc", "tailored", "partial")
    assert (setting.options.variant, setting.seeds.sample, setting.training.lr) == ("ndss21", 3, 0.25)


def test_an_experiments_defaults_are_its_settings_defaults():
    from fedlib.fl import Setting

    assert Experiment().setting == Setting()  # the two places a default is written agree


def test_a_setting_runs_as_its_experiment_does():
    exp = tiny(aggregator="median", attack="min_max", rounds=2)
    by_experiment, by_setting = train(exp), train(exp.setting)
    assert by_experiment.evals == by_setting.evals and by_experiment.rounds == by_setting.rounds


def test_the_settings_parts_check_their_names():
    from fedlib.errors import UnknownNameError
    from fedlib.fl import Defense, RunOptions, ThreatModel, TrainingSetup

    for make in (lambda: ThreatModel(knowledge="ful"), lambda: RunOptions(variant="ndss"),
                 lambda: TrainingSetup(optimiser="adagrad"), lambda: Defense(nonfinite="ignore")):  # fmt: skip
        with pytest.raises(UnknownNameError, match="expected one of"):
            make()
    with pytest.raises(ConfigError, match="server_f"):
        Defense(server_f="some")
    with pytest.raises(ConfigError, match="fedlib.fl.Setting"):
        train({"aggregator": "median"})


def test_the_engine_runs_without_the_experiment_layer():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from fedlib.fl import DataSetup, Defense, RunOptions, Setting, ThreatModel, TrainingSetup, train\n"
        "s = Setting(DataSetup(n_clients=10, samples_per_client=20), TrainingSetup(batch_size=10, rounds=1),\n"
        "            Defense(aggregator='median'), ThreatModel(n_malicious=2, attack='lie'),\n"
        "            RunOptions(device='cpu'))\n"
        "assert len(train(s).rounds) == 1\n"
        "assert not [m for m in sys.modules if m.startswith(('fedlib.experiments', 'fedlib.report', 'fedlib.sweep'))]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


@pytest.mark.parametrize("optimiser,lr", [("sgd", 0.5), ("adam", 1e-3)])
def test_the_servers_scoring_replays_from_a_snapshot(optimiser, lr):
    from fedlib.fl import FedSGD, ServerScore

    engine = FedSGD(tiny(aggregator="fang_defense", optimiser=optimiser, lr=lr, lr_decay_rounds=[1],
                         lr_decay_factor=0.5))  # fmt: skip
    v = torch.randn(engine.net.d, generator=torch.Generator().manual_seed(3)) * 0.01
    for _ in range(2):  # after two steps: a decayed learning rate and (Adam) moments
        engine.server_step(v)
    replayed = ServerScore.replay(engine.setting, engine.dataset, engine.optimiser.snapshot())
    w = torch.randn(engine.net.d, generator=torch.Generator().manual_seed(4)) * 0.01
    assert replayed(w) == engine.score_fn(w)
