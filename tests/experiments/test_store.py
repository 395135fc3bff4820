"""fedlib.experiments.store: the one results store (path, get, put, quarantine, missing, failures, tensors).

The committed results load through it under their config hashes, and writing one back gives the same bytes (the
file format is unchanged). Corrupt files: readers (the report layer) get an error and nothing moves; writers move
them aside and compute again.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from fedlib import aggregators
from fedlib.errors import ResultFileError
from fedlib.experiments import Experiment, ResultsStore, experiment_for, load_result, run
from fedlib.report.results import Cell, collect

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A store holding two tiny results (computed once for the module)."""
    folder = tmp_path_factory.mktemp("store")
    exps = [experiment_for("quick", rounds=2, eval_every=1, aggregator=a) for a in ("mean", "median")]
    return folder, exps, [run(e, folder) for e in exps]


def copy_store(stored, tmp_path) -> tuple[ResultsStore, list[Experiment]]:
    folder, exps, _ = stored
    for exp in exps:
        (tmp_path / f"{exp.config_hash}.json").write_bytes((folder / f"{exp.config_hash}.json").read_bytes())
    return ResultsStore(tmp_path), exps


def test_committed_results_are_served_under_their_hashes_and_written_back_byte_for_byte(tmp_path):
    """Every 10th committed file of results/quick and results/scale (a custom rule's file included)."""
    sample = [p for folder in ("quick", "scale") for p in sorted((ROOT / "results" / folder).glob("*.json"))[::10]]
    sample += [p for p in sorted((ROOT / "results" / "quick").glob("*.json")) if '"clipped_mean"' in p.read_text()][:1]
    assert len(sample) > 50 and '"clipped_mean"' in sample[-1].read_text()
    out = ResultsStore(tmp_path)
    with aggregators.registered("clipped_mean", lambda updates, f: updates.mean(dim=0)):  # your_own_rule.py
        for path in sample:
            text = path.read_text()
            exp = Experiment.from_dict(json.loads(text)["config"])
            result = ResultsStore(path.parent).get(exp)
            assert result is not None and result.path == str(path) and result.config_hash == path.stem
            assert out.put(result).to_dict() == result.to_dict()
            assert out.path(exp).read_text() == text, path.name  # the format is unchanged
            assert out.missing([exp]) == []


def test_path_missing_get_put(stored, tmp_path):
    folder, exps, results = stored
    store = ResultsStore(tmp_path)
    assert store.path(exps[0]) == tmp_path / f"{exps[0].config_hash}.json"
    assert store.missing(exps) == exps and store.get(exps[0]) is None
    back = store.put(results[0])
    assert back.path == str(store.path(exps[0])) and back == results[0]
    assert store.missing(exps) == [exps[1]]
    assert store.get(exps[0]) == results[0]
    assert [p.name for p in tmp_path.iterdir()] == [f"{exps[0].config_hash}.json"]  # no temporary file left


def test_put_validates_before_it_replaces_anything(stored, tmp_path):
    store, exps = copy_store(stored, tmp_path)
    before = store.path(exps[0]).read_bytes()
    good = store.get(exps[0]).to_dict()
    for damage in ({"best_val_accuracy": None}, {"config_hash": exps[1].config_hash}, {"schema_version": 2}):
        with pytest.raises(ResultFileError):
            store.put({**good, **damage})
        assert store.path(exps[0]).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{e.config_hash}.json" for e in exps)


@pytest.mark.parametrize("damage", ["truncate", "other_config", "other_schema"])
def test_corrupt_files_raise_for_readers_and_move_aside_for_writers(stored, tmp_path, damage):
    store, exps = copy_store(stored, tmp_path)
    path, text = store.path(exps[0]), store.path(exps[0]).read_text()
    if damage == "truncate":
        path.write_text(text[:200])
    elif damage == "other_config":
        path.write_text(store.path(exps[1]).read_text())
    else:
        path.write_text(text.replace('"schema_version": 1', '"schema_version": 0'))
    damaged = path.read_text()
    with pytest.raises(ResultFileError):
        store.get(exps[0])  # the report layer's read: an error, nothing moved
    with pytest.raises(ResultFileError):
        collect([Cell({"aggregator": "mean"}, exps[0])], profile="quick", results_dir=tmp_path)
    assert path.read_text() == damaged and store.quarantined == []
    assert store.get(exps[0], on_corrupt="quarantine") is None
    assert not path.exists() and (tmp_path / (path.name + ".corrupt")).read_text() == damaged
    assert len(store.quarantined) == 1 and str(path) in store.quarantined[0]
    # a second corrupt copy is numbered, never overwrites the first
    path.write_text(damaged)
    assert store.get(exps[0], on_corrupt="quarantine") is None
    assert (tmp_path / (path.name + ".corrupt1")).read_text() == damaged


def test_run_repairs_a_corrupt_file_only_when_asked(stored, tmp_path):
    store, exps = copy_store(stored, tmp_path)
    good = store.get(exps[0])
    store.path(exps[0]).write_text("{")
    with pytest.raises(ResultFileError, match="repair=True"):
        run(exps[0], tmp_path)
    again = run(exps[0], tmp_path, repair=True)
    assert again.history == good.history and load_result(store.path(exps[0])).history == good.history
    assert (tmp_path / (store.path(exps[0]).name + ".corrupt")).read_text() == "{"


def test_put_text_keeps_a_valid_result_and_validates_new_ones(stored, tmp_path):
    store, exps = copy_store(stored, tmp_path)
    text = store.path(exps[0]).read_text()
    other = ResultsStore(tmp_path / "client")
    assert other.put_text(exps[0], text).to_dict() == store.get(exps[0]).to_dict()
    replacement = json.loads(text)
    replacement["timings"]["wall_s"] = -1.0
    assert other.put_text(exps[0], json.dumps(replacement)).timings == store.get(exps[0]).timings  # kept
    with pytest.raises(ResultFileError):
        other.put_text(exps[1], text)  # the text of another config
    assert other.missing(exps) == [exps[1]]


def test_failure_records(stored, tmp_path):
    store = ResultsStore(tmp_path)
    exp = stored[1][0]
    path = store.record_failure(exp, error="RuntimeError: x", traceback="tb", attempts=3)
    assert path == tmp_path / "failed" / f"{exp.config_hash}.json"
    record = json.loads(path.read_text())
    assert record["config"] == exp.to_dict() and record["attempts"] == 3 and record["error"] == "RuntimeError: x"
    store.clear_failure(exp)
    store.clear_failure(exp)  # twice: nothing to remove, no error
    assert not path.exists()


def test_tensors_round_trip_and_an_unreadable_file_is_moved_aside(tmp_path):
    store = ResultsStore(tmp_path)
    value = [{"round": 0, "grads": torch.arange(6.0).reshape(2, 3), "m": 1}]
    assert store.get_tensors("captures", "a") is None
    path = store.put_tensors("captures", "a", value)
    assert path == tmp_path / "captures" / "a.pt"
    back = store.get_tensors("captures", "a")
    assert back[0]["m"] == 1 and torch.equal(back[0]["grads"], value[0]["grads"])
    for junk in (path.read_bytes()[:50], b"not a torch file"):
        path.write_bytes(junk)
        assert store.get_tensors("captures", "a") is None
        assert not path.exists()
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.pt.corrupt", "a.pt.corrupt1"]
    assert len(store.quarantined) == 2
