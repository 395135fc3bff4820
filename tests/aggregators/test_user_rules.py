"""A user's rule in the form a PyTorch user writes first, a function that returns a tensor (d,), is accepted
wherever a rule is (registration, evaluate and its CLI, the engine, Flower), wrapped once; any other output is a
ConfigError naming the rule, what was expected and what came back, raised at registration, before training."""

from __future__ import annotations

import math
import textwrap

import pytest
import torch

import fedlib
import fedlib.aggregators as agg
from fedlib.aggregators._user_rule import UserRule
from fedlib.cli import main
from fedlib.errors import ConfigError


def trimmed_rows_mean(updates, f=0, **kw):
    """The natural form: drop the f rows farthest from the coordinate-wise median, average the rest."""
    distance = torch.linalg.vector_norm(updates - updates.median(dim=0).values, dim=1)
    keep = distance.argsort()[: updates.shape[0] - f]
    return updates[keep].mean(dim=0)


def _expected(updates, f):
    distance = torch.linalg.vector_norm(updates - updates.median(dim=0).values, dim=1)
    return updates[distance.argsort()[: updates.shape[0] - f]].mean(dim=0)


def _rows(n=8, d=6, seed=0, dtype=torch.float32):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.fixture
def natural_module(tmp_path, monkeypatch):
    (tmp_path / "fedlib_natural_rule.py").write_text(textwrap.dedent(
        """
        import torch

        def my_rule(updates, f=0, **kw):
            keep = torch.linalg.vector_norm(updates, dim=1).argsort()[: updates.shape[0] - f]
            return updates[keep].mean(dim=0)

        def float64_rule(updates, f=0, **kw):
            return updates.double().mean(dim=0)
        """))  # fmt: skip
    monkeypatch.syspath_prepend(str(tmp_path))
    return "fedlib_natural_rule"


# ------------------------------------------------------------------------------------------ accepted
def test_a_rule_returning_a_tensor_is_registered_wrapped_once_and_aggregates():
    with agg.registered("test_natural", trimmed_rows_mean) as name:
        rule = agg.get(name)
        assert isinstance(rule, UserRule) and rule.fn is trimmed_rows_mean
        for dtype in (torch.float32, torch.float64):
            x = _rows(dtype=dtype)
            out = agg.aggregate(name, x, f=2)
            assert isinstance(out, agg.Aggregate) and out.selected is None
            torch.testing.assert_close(out.vector, _expected(x, 2), rtol=0, atol=0)
        x = _rows()
        x[3] = float("nan")
        dropped = agg.aggregate(name, x, f=1, nonfinite="drop")
        assert dropped.dropped.tolist() == [3]
        torch.testing.assert_close(dropped.vector, _expected(x[[0, 1, 2, 4, 5, 6, 7]], 1), rtol=0, atol=0)
    assert name not in agg.names()


def test_register_returns_the_function_and_the_aggregate_form_still_works(monkeypatch):
    from fedlib.aggregators import _base

    for table in ("_REGISTRY", "_CHECKS_FINITE", "_NEEDS", "_MIN_INPUTS"):  # restored after the test
        monkeypatch.setattr(_base, table, dict(getattr(_base, table)))
    assert agg.register("test_natural_deco")(trimmed_rows_mean) is trimmed_rows_mean

    @agg.register("test_aggregate_form", needs=("generator",))
    def first_row(updates, f, *, variant="textbook", generator=None):
        return agg.Aggregate(updates[0].clone(), selected=torch.tensor([0]))

    out = agg.aggregate("test_aggregate_form", _rows(), 1, generator=torch.Generator())
    assert out.selected.tolist() == [0] and torch.equal(out.vector, _rows()[0])
    assert _base.registered_name(trimmed_rows_mean) == "test_natural_deco"


def test_a_rule_without_variant_is_the_textbook_form_only():
    def plain(updates, f):
        return updates.mean(dim=0)

    with agg.registered("test_plain", plain) as name:
        torch.testing.assert_close(agg.aggregate(name, _rows(), 1).vector, _rows().mean(dim=0))
        with pytest.raises(ConfigError, match=r"'test_plain'.*takes no `variant`.*variant='ndss21'"):
            agg.aggregate(name, _rows(), 1, variant="ndss21")


def test_evaluate_and_the_engine_take_the_natural_form(tmp_path):
    card = fedlib.evaluate(trimmed_rows_mean, attacks=["lie", "min_max"], rounds=2, capture_rounds=(0, 1),
                           seeds=[0], results_dir=tmp_path)  # fmt: skip
    assert card.rule.iloc[0].startswith("trimmed_rows_mean_") and list(card.attack) == ["none", "lie", "min_max"]
    assert (card.reason == "").all() and card.relative_deviation.notna().all()
    assert card.accuracy.between(0, 100).all() and math.isnan(card.impact.iloc[0]) and card.impact[1:].notna().all()


def test_cli_evaluates_module_colon_function_in_the_natural_form(natural_module, capsys):
    code = main(["evaluate", f"{natural_module}:my_rule", "--attacks", "lie", "--capture-rounds", "0",
                 "--no-train", "--no-cache"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and "report card of my_rule_" in out and "lie" in out


def test_the_flower_strategy_takes_the_natural_form():
    np = pytest.importorskip("numpy")
    pytest.importorskip("flwr")
    from flwr.app import ArrayRecord, ConfigRecord

    from fedlib.integrations.flower import FedlibStrategy, InProcessGrid, echo_client_app

    with agg.registered("test_natural_flower", trimmed_rows_mean) as name:
        grid = InProcessGrid(echo_client_app(), num_nodes=5)
        strategy = FedlibStrategy(name, f=1, flower_options={"min_train_nodes": 5})
        w = ArrayRecord([np.zeros(3, np.float32)])
        replies = grid.send_and_receive(strategy.configure_train(1, w, ConfigRecord(), grid))
        arrays, metrics = strategy.aggregate_train(1, replies)
    assert arrays["0"].numpy().shape == (3,) and metrics["fedlib-replies"] == 5


# ------------------------------------------------------------------------------------------ refused
def _wrong_shape(updates, f=0, **kw):
    return updates[:2].mean(dim=1)


def _wrong_dtype(updates, f=0, **kw):
    return updates.double().mean(dim=0)


def _wrong_device(updates, f=0, **kw):
    return updates.mean(dim=0).to("meta")


def _non_finite(updates, f=0, **kw):
    return updates.mean(dim=0) / 0.0 * 0.0


def _not_a_tensor(updates, f=0, **kw):
    return updates.mean(dim=0).tolist()


def _no_f(updates, **kw):
    return updates.mean(dim=0)


def _raises(updates, f=0, **kw):
    return updates[updates.shape[0] + 5]


REFUSED = [
    (_wrong_shape, r"expected a tensor of shape \(5,\) .*; found shape \(2,\)"),
    (_wrong_dtype, r"expected a tensor of shape \(5,\) with dtype torch.float32 .*; found dtype torch.float64"),
    (_wrong_device, r"on device cpu .*; found device meta"),
    (_non_finite, r"expected finite values on the probe input \(9×5 float32 rows on the CPU, f=1\).*found \[nan"),
    (_not_a_tensor, r"expected a tensor of shape \(5,\) .*; found list: \["),
    (_no_f, r"failed on the probe input .*TypeError: _no_f\(\) takes 1 positional argument but 2 were given "
            r"\(expected a function called as fn\(updates, f, \*\*options\)"),
    (_raises, r"failed on the probe input \(9×5 float32 rows on the CPU, f=1\): IndexError"),
]


@pytest.mark.parametrize(("rule", "message"), REFUSED, ids=[r.__name__.strip("_") for r, _ in REFUSED])
def test_a_rule_that_breaks_the_contract_is_refused_at_registration(rule, message):
    with pytest.raises(ConfigError, match=f"aggregation rule 'test_bad' \\(test_user_rules.{rule.__name__}\\)"):
        agg.register("test_bad")(rule)
    with pytest.raises(ConfigError, match=message):
        agg.register("test_bad")(rule)
    assert "test_bad" not in agg.names()


@pytest.mark.parametrize(("rule", "message"), REFUSED[:3], ids=["shape", "dtype", "device"])
def test_evaluate_refuses_it_before_any_training(rule, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        fedlib.evaluate(rule, attacks=["lie"], rounds=2, capture_rounds=(0,), seeds=[0], results_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing captured, nothing trained
    assert not any(n.startswith(rule.__name__) for n in agg.names())


def test_cli_says_what_is_wrong_and_exits_2(natural_module, capsys):
    code = main(["evaluate", f"{natural_module}:float64_rule", "--no-train", "--no-cache"])
    err = capsys.readouterr().err
    assert code == 2 and "float64_rule" in err and "found dtype torch.float64" in err and "Traceback" not in err


def test_every_call_is_checked_not_only_the_probe():
    def float32_always(updates, f=0, **kw):  # right on the float32 probe, wrong on float64 rows
        return updates.float().mean(dim=0)

    with agg.registered("test_float32_always", float32_always) as name:
        with pytest.raises(ConfigError, match=r"'test_float32_always'.*dtype torch.float64.*found dtype torch.float32"):
            agg.aggregate(name, _rows(dtype=torch.float64), 1)


def test_a_rule_whose_option_has_no_default_is_refused_with_the_call_form():
    def scaled_mean(updates, f, *, scale):
        return updates.mean(dim=0) * scale

    with pytest.raises(ConfigError, match=r"missing 1 required keyword-only argument: 'scale' \(expected a function "
                                          r"called as fn\(updates, f, \*\*options\).*every option with a default"):
        agg.register("test_scaled")(scaled_mean)
    with agg.registered("test_scaled", lambda updates, f, *, scale=1.0: updates.mean(dim=0) * scale) as name:
        torch.testing.assert_close(agg.aggregate(name, _rows(), 1, scale=2.0).vector, 2 * _rows().mean(dim=0))
