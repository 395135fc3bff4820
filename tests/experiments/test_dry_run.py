"""The full-profile dry run: the FEMNIST cross-device slice runs without failures, infeasible cells are refused
before round 1 with a message naming the cell, and the CLI's exit code says whether anything failed."""

from __future__ import annotations

import pytest

from fedlib.cli import main
from fedlib.errors import ConfigError
from fedlib.experiments import grids
from fedlib.experiments.dry_run import dry_run, run_cell, summary
from fedlib.fl import FedSGD


def femnist_slice(percent: int) -> list:
    m = round(percent * 3400 / 100)
    cells = grids.attack_grid("full", [0], datasets=[("femnist", "femnist_cnn")], aggregators=grids.CROSS_DEVICE_RULES,
                              n_malicious=m, **grids.cross_device_overrides("full", "femnist"))
    return [("cross_device", c.experiment) for c in cells]


@pytest.mark.parametrize("percent", [20, 5])
def test_femnist_cross_device_slice_runs_without_failures(percent):
    outcomes = dry_run(todo=femnist_slice(percent), rounds=2, stand_in_model=True, echo=None)
    assert len(outcomes) == 22
    assert [o for o in outcomes if o.status != "ok"] == [], summary(outcomes)


def test_known_infeasible_cell_is_refused_before_round_one(monkeypatch):
    rounds = []
    monkeypatch.setattr(FedSGD, "run_round", lambda self, t: rounds.append(t))
    exp = grids.base_experiment("full", "femnist", aggregator="bulyan", attack="lie", server_f="actual",
                                rounds=2, device="cpu")
    from fedlib.data import synthetic

    status, detail = run_cell(exp, synthetic("femnist", n_clients=3400, samples_per_client=2), stand_in=True)
    assert status == "refused" and rounds == []
    assert "infeasible cell femnist/femnist_cnn bulyan vs lie" in detail and "m_t=15 attackers" in detail
    assert "needs >= 63 rows" in detail and "aggregates 60" in detail


def test_cli_exit_code_says_whether_a_cell_failed(monkeypatch, capsys):
    argv = ["dry-run", "--only", "cross_device", "--limit", "1", "--rounds", "1", "--stand-in-model"]
    assert main(argv) == 0
    assert "1 ok, 0 refused, 0 failed of 1 cells" in capsys.readouterr().out

    def broken(self, *args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(FedSGD, "run", broken)
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "failed" in out and "RuntimeError: boom" in out


def test_every_full_grid_is_listed_and_unknown_grids_raise():
    assert grids.FULL_GRIDS == ("main", "dnc", "afa_fang", "malicious_fraction", "perturbations", "cross_device")
    with pytest.raises(ConfigError, match="unknown grid"):
        dry_run(only=["nope"], echo=None)
