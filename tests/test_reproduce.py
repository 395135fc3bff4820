"""``python -m fedlib reproduce``: the reproduction's cells and manifest, the plan, one Dask worker per GPU, the
book step's commands, and the whole path from ``data fetch`` on a loopback mirror to the built book.

Nothing here touches the internet: the end-to-end test serves fixture MNIST files on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers.fetch_fixtures import LoopbackServer, fixture_registry, idx_gz

from fedlib import cli
from fedlib.errors import ConfigError
from fedlib.experiments import grids, load_result
from fedlib.experiments import reproduce as _reproduce
from fedlib.experiments.reproduce import (
    MANIFEST,
    Reproduction,
    book_commands,
    find_book,
    format_plan,
    gpu_worker_env,
    gpu_workers,
    make_plan,
    run_sweep,
)

ROOT = Path(__file__).resolve().parents[1]
CHECK = {"grids": ("main",), "datasets": ("mnist",), "seeds": (0,), "rounds": 2, "stand_in_model": True}


# ------------------------------------------------------------------------------------- the reproduction
def test_a_pipeline_check_changes_rounds_and_network_and_keeps_the_grid_and_labels():
    rep = Reproduction(**CHECK)
    cells = grids.full_grid("main", [0], datasets=["mnist"])
    adapted = rep.adapt(cells)
    assert [c.labels for c in adapted] == [c.labels for c in cells]
    assert {c.experiment.rounds for c in adapted} == {2} and {c.experiment.eval_every for c in adapted} == {2}
    assert {c.experiment.model for c in adapted} == {"mnist_fc"}
    assert {json.dumps(c.experiment.model_options) for c in adapted} == {'{"hidden": [16]}'}
    assert {c.experiment.profile for c in adapted} == {"full"}
    # Only the rounds and the network change: the attack, rule, clients and seeds stay the profile's.
    for before, after in zip(cells, adapted, strict=True):
        changed = ("rounds", "eval_every", "model_options")
        kept = {k: v for k, v in before.experiment.to_dict().items() if k not in changed}
        assert kept == {k: after.experiment.to_dict()[k] for k in kept}
    assert not rep.paper_setting and "not the paper's setting" in rep.describe()
    assert "2 round(s) instead of the profile's (mnist 500)" in rep.describe()


def test_the_paper_setting_keeps_every_cell_and_filters_datasets_only():
    rep = Reproduction(datasets=("mnist", "purchase100"), seeds=(0,))
    cells = grids.full_grid("main", [0])
    kept = rep.adapt(cells)
    assert {c.experiment.dataset for c in kept} == {"mnist", "purchase100"}
    assert [c.experiment for c in kept] == [c.experiment for c in cells if c.experiment.dataset in rep.datasets]
    assert rep.paper_setting and "not the paper" not in rep.describe()


def test_experiments_are_the_distinct_cells_of_the_chosen_grids():
    rep = Reproduction(grids=("main", "dnc"), datasets=("mnist",), seeds=(0, 1))
    exps = rep.experiments()
    cells = [c for g in ("main", "dnc") for c in grids.full_grid(g, [0, 1], datasets=["mnist"])]
    expected = {c.experiment.config_hash for c in cells}
    assert len(exps) == len(expected) and {e.config_hash for e in exps} == expected


def test_notebooks_are_those_whose_every_grid_is_run():
    assert Reproduction(**CHECK).notebooks() == ["main_table"]
    both = Reproduction(grids=("main", "dnc"), datasets=("mnist",))
    assert both.notebooks() == ["main_table", "dnc_table", "paper_vs_ours"]
    # The verdicts page never judges a pipeline check against the paper.
    assert Reproduction(grids=("main", "dnc"), datasets=("mnist",), rounds=3).notebooks() == ["main_table", "dnc_table"]
    assert Reproduction(grids=("cross_device",), datasets=("mnist",)).notebooks() == []  # FEMNIST only
    assert Reproduction(grids=("cross_device",), datasets=("femnist",)).notebooks() == ["cross_device"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"profile": "quick"}, "expected profile 'full'; found 'quick'"),
        ({"grids": ("main", "tables")}, r"expected some of .*found \['main', 'tables'\]"),
        ({"datasets": ("mnist5k",)}, r"datasets: expected some of .*found \['mnist5k'\]"),
        ({"seeds": ()}, "non-empty list"),
        ({"rounds": 0}, "rounds: expected an int >= 1"),
        ({"stand_in_model": True}, r"none takes the inputs of \['cifar10'\]"),
        ({"stand_in_model": True, "datasets": ("cifar10", "mnist")}, r"\['cifar10'\]"),
    ],
)
def test_impossible_reproductions_are_refused_before_anything_runs(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        Reproduction(**kwargs)


def test_the_manifest_round_trips_and_a_bad_one_is_named(tmp_path):
    assert Reproduction.load(tmp_path) is None
    rep = Reproduction(**CHECK)
    assert rep.save(tmp_path) == tmp_path / MANIFEST
    assert Reproduction.load(tmp_path) == rep
    (tmp_path / MANIFEST).write_text('{"profile": "full", "grids": ["main"], "colour": 1}')
    with pytest.raises(ConfigError, match="reproduction manifest"):
        Reproduction.load(tmp_path)


# ------------------------------------------------------------------------------------------------ the plan
def test_the_plan_counts_cells_per_grid_and_each_new_cell_once():
    rep = Reproduction(grids=("main", "dnc", "afa_fang"), datasets=("mnist",), seeds=(0, 1))
    plan = make_plan(rep, "cpu", measure=False)
    rows = {r["grid"]: r for r in plan.rows}
    for grid in rep.grids:
        assert rows[grid]["cells"] == len(grids.full_grid(grid, [0, 1], datasets=["mnist"]))
    assert sum(r["new"] for r in plan.rows) == len(rep.experiments())
    assert rows["main"]["notebooks"] == ["main_table", "dnc_table", "paper_vs_ours"]
    assert rows["main"]["rounds"] == [500] and plan.hours == 0.0 and not plan.costs
    text = format_plan(plan, rep)
    assert text.splitlines()[3].split() == "grid cells new rounds est. hours notebooks run on it".split()
    assert rows["afa_fang"]["notebooks"] == ["afa_fang_defense"]
    check = make_plan(Reproduction(**CHECK), "cpu", measure=False)
    assert check.rows[0]["notebooks"] == ["main_table"]  # no DnC grid, and a check never reaches the verdicts
    assert "(no per-round cost measured)" in text


def test_the_estimate_is_cells_times_rounds_times_the_measured_cost():
    rep = Reproduction(**CHECK)
    plan = make_plan(rep, "cpu", measure_rounds=1)
    costs = {c.kind: c for c in plan.costs}
    assert set(costs) == {"no attack", "attacked"}
    assert costs["no attack"].cell == "median vs none" and costs["attacked"].cell == "multi_krum vs min_max (full)"
    assert all(c.seconds > 0 and c.data.startswith("generated data") for c in plan.costs)  # no mnist files here
    exps = rep.experiments()
    n_none = sum(e.attack == "none" for e in exps)
    expected = 2 * (n_none * costs["no attack"].seconds + (len(exps) - n_none) * costs["attacked"].seconds) / 3600
    assert plan.hours == pytest.approx(expected) and plan.hours_per_dataset() == {"mnist": pytest.approx(expected)}


# ------------------------------------------------------------------------------------- one worker per GPU
def test_one_local_worker_per_gpu_only_when_there_are_several(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert gpu_workers("cuda", None) == 4 and gpu_workers("auto", None) == 4
    assert gpu_workers("cuda", "tcp://10.0.0.1:8786") == 0  # the cluster's own workers
    assert gpu_workers("cpu", None) == 0 and gpu_workers("cuda:1", None) == 0
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert gpu_workers("cuda", None) == 0
    assert [e["CUDA_VISIBLE_DEVICES"] for e in gpu_worker_env(3)] == ["0", "1", "2"]


def test_run_sweep_sends_the_runs_to_a_cluster_of_one_worker_per_gpu(tmp_path, monkeypatch):
    import contextlib

    import torch

    import fedlib.sweep

    calls = {}

    @contextlib.contextmanager
    def fake_cluster(n):
        calls["gpus"] = n
        yield "tcp://127.0.0.1:1"

    def fake_run(experiments, results_dir, **kwargs):
        calls.update(kwargs, n=len(experiments), devices={e.device for e in experiments})
        return "report"

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    monkeypatch.setattr(_reproduce, "gpu_cluster", fake_cluster)
    monkeypatch.setattr(fedlib.sweep, "run_experiments", fake_run)
    rep = Reproduction(**CHECK)
    assert run_sweep(rep, tmp_path, device="cuda", progress=False) == "report"
    assert calls["gpus"] == 3 and calls["scheduler"] == "tcp://127.0.0.1:1" and calls["devices"] == {"cuda"}
    assert calls["n"] == len(rep.experiments()) and Reproduction.load(tmp_path) == rep
    calls.clear()
    run_sweep(rep, tmp_path, device="cuda", workers=0, progress=False)  # an explicit worker count wins
    assert "gpus" not in calls and calls["n_workers"] == 0 and calls["scheduler"] is None


def test_each_gpu_worker_sees_only_its_own_gpu():
    pytest.importorskip("distributed")
    from distributed import Client

    with _reproduce.gpu_cluster(2) as address, Client(address) as client:
        seen = client.run(lambda: os.environ.get("CUDA_VISIBLE_DEVICES"))
    assert sorted(seen.values()) == ["0", "1"]


# ------------------------------------------------------------------------------------------- the book step
def test_book_commands_execute_the_reproductions_notebooks_against_its_results(tmp_path):
    rep = Reproduction(grids=("main", "dnc"), datasets=("mnist",), seeds=(0, 1))
    commands = book_commands(ROOT, rep, tmp_path, "cuda")
    first, rest, build = commands
    ours = first[first.index("--only") + 1 : first.index("--")]
    assert [Path(p).stem for p in ours] == ["dnc_table", "main_table", "paper_vs_ours"]
    params = first[first.index("--") + 1 :]
    assert params == ["-p", "results_dir", str(tmp_path.resolve()), "-p", "run_missing", "false",
                      "-p", "device", "cuda", "-p", "seeds", "[0, 1]"]  # fmt: skip
    assert first[:5] == [sys.executable, "-m", "fedbook.notebooks", "execute", "--profile"]
    assert "--skip-fresh" in rest and not set(ours) & set(rest)
    assert build[-1] == "build"


def test_find_book_needs_the_books_sources(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="expected the book's sources"):
        find_book(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert find_book() is None
    assert find_book(ROOT) == ROOT
    monkeypatch.chdir(ROOT)
    assert find_book() == ROOT


def test_cli_plan_only_prints_the_plan(capsys):
    argv = ["reproduce", "--datasets", "mnist", "--only", "dnc", "--seeds", "0", "--no-measure", "--plan-only"]
    code = cli.main(argv)
    out = capsys.readouterr().out
    assert code == 0 and re.search(r"^dnc\s+\d+\s+\d+\s+500\s", out, re.M) and "datasets ['mnist']" in out


def test_cli_dry_run_runs_the_full_profile_dry_run_instead_of_the_sweep(tmp_path, capsys, monkeypatch):
    import fedlib.experiments.dry_run as dry

    calls = {}

    def fake_dry_run(**kwargs):
        calls.update(kwargs)
        return [dry.Outcome("dnc", "a cell", "ok")]

    monkeypatch.setattr(dry, "dry_run", fake_dry_run)
    monkeypatch.setenv("FEDLIB_RESULTS_DIR", str(tmp_path))
    argv = ["reproduce", "--datasets", "mnist", "--only", "dnc", "--seeds", "0", "--no-measure", "--dry-run",
            "--rounds", "3", "--stand-in-model", "--device", "cpu"]  # fmt: skip
    assert cli.main(argv) == 0
    assert calls == {"only": ("dnc",), "datasets": ("mnist",), "rounds": 3, "device": "cpu", "stand_in_model": True}
    assert "dnc                1 ok, 0 refused, 0 failed" in capsys.readouterr().out
    assert not list(tmp_path.iterdir())  # the dry run stores nothing


def test_a_missing_gpu_is_refused_before_anything_runs_unless_a_cluster_runs_the_cells(tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("FEDLIB_RESULTS_DIR", str(tmp_path))
    argv = ["reproduce", "--datasets", "mnist", "--only", "dnc", "--seeds", "0", "--device", "cuda"]
    assert cli.main(argv) == 2 and "expected a CUDA device on this machine" in capsys.readouterr().err
    assert cli.main([*argv, "--scheduler", "tcp://127.0.0.1:1", "--plan-only"]) == 0
    out = capsys.readouterr().out
    assert "this machine has no 'cuda'" in out and "(no per-round cost measured)" in out
    assert not list(tmp_path.iterdir())


def test_cli_refuses_a_stand_in_for_cifar10(capsys):
    code = cli.main(["reproduce", "--datasets", "cifar10", "--stand-in-model", "--plan-only"])
    assert code == 2 and "cifar10" in capsys.readouterr().err


def test_a_notebooks_context_applies_the_manifest_of_its_profile_and_labels_a_check(tmp_path):
    sys.path.insert(0, str(ROOT / "book" / "_lib"))  # fedbook is the book's code, not installed
    from fedbook.context import Context

    plain = Context("full", results_dir=tmp_path)
    assert plain.reproduction is None and plain.paper_setting and plain.setting == "full profile"
    Reproduction(**CHECK).save(tmp_path)
    ctx = Context("full", results_dir=tmp_path, seeds=[0])
    assert ctx.reproduction == Reproduction(**CHECK) and not ctx.paper_setting
    assert ctx.setting == "full-profile pipeline check"
    assert "(results of the sweep only); fedlib reproduce: profile 'full', datasets ['mnist']" in ctx.describe()
    assert "not the paper's setting" in ctx.describe()
    assert Context("quick", results_dir=tmp_path).reproduction is None  # another profile's manifest is ignored
    Reproduction(datasets=("mnist",), seeds=(0,)).save(tmp_path)
    full = Context("full", results_dir=tmp_path, seeds=[0])
    assert full.paper_setting and full.setting == "full profile" and "not the paper" not in full.describe()


# --------------------------------------------------------------------------------------------- end to end
def _mnist_like_files() -> dict[str, bytes]:
    """MNIST's four IDX files at the real size (60,000 + 10,000 images: the full setting's 100 clients × 600),
    with learnable, well-compressed images: a class-dependent bar plus sparse noise."""
    rng = np.random.default_rng(0)
    out = {}
    for images, labels, n in (("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 60000),
                              ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 10000)):  # fmt: skip
        y = rng.integers(0, 10, n)
        x = np.zeros((n, 28, 28), dtype=np.uint8)
        x[np.arange(n), 2 + 2 * y, :] = 255
        x[rng.random((n, 28, 28)) < 0.02] = 128
        out[images], out[labels] = idx_gz(x), idx_gz(y)
    return out


def _book_copy(folder: Path) -> Path:
    """The repository's book machinery with one chapter, the main table: what `make book` builds, smaller."""
    folder.mkdir()
    shutil.copy(ROOT / "_config.yml", folder / "_config.yml")
    shutil.copytree(ROOT / "book" / "_lib" / "fedbook", folder / "book" / "_lib" / "fedbook",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    (folder / "notebooks").mkdir()
    shutil.copy(ROOT / "notebooks" / "main_table.py", folder / "notebooks" / "main_table.py")
    (folder / "book" / "intro.md").write_text("# Reproduction check\n\nOne chapter: the main table.\n")
    (folder / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nparts:\n  - caption: Results\n    chapters:\n"
        "      - file: executed/main_table\n"
    )
    return folder


def _page_text(notebook: Path) -> str:
    parts = []
    for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
        for out in cell.get("outputs", []):
            parts.append("".join(out.get("text", "")))
            for mime, value in out.get("data", {}).items():
                if mime.startswith("text/"):
                    parts.append("".join(value) if isinstance(value, list) else str(value))
    return "\n".join(parts)


@pytest.mark.notebook  # about 75 s on one core: part of make test, the end-to-end evidence
def test_data_fetch_then_reproduce_builds_a_book_that_shows_the_labelled_results(tmp_path, monkeypatch, capsys):
    files = _mnist_like_files()
    data, results, book = tmp_path / "data", tmp_path / "results", _book_copy(tmp_path / "book")
    with LoopbackServer({f"/mnist/{f}": b for f, b in files.items()}, lifetime=120) as server:
        registry = fixture_registry(server.url, {"mnist": files}, mnist={"train": 60000, "test": 10000})
        monkeypatch.setattr("fedlib.data._fetch.SOURCES", registry)  # the fixtures' own checksums
        assert cli.main(["data", "fetch", "mnist", "--root", str(data), "--no-progress"]) == 0
        assert len(server.log) == 4
    argv = ["reproduce", "--profile", "full", "--datasets", "mnist", "--only", "main", "--seeds", "0", "--rounds", "2",
            "--stand-in-model", "--device", "cpu", "--measure-rounds", "1", "--results-dir", str(results),
            "--root", str(data), "--book", str(book), "--no-progress"]  # fmt: skip
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert re.search(r"^main\s+55\s+55\s+2\s", out, re.M) and out.count("(median vs none; real data)") == 1

    # The sweep stored every cell of the main grid, with the check's rounds and network, trained on the fetched files.
    rep = Reproduction.load(results)
    stored = sorted(results.glob("*.json"))
    assert rep == Reproduction(**CHECK) and len(stored) == 56  # 55 results and the manifest
    by_labels = {}
    for cell in rep.cells("main"):
        result = load_result(results / f"{cell.experiment.config_hash}.json")
        assert result.config["rounds"] == 2 and result.config["model_options"] == {"hidden": [16]}
        assert result.config["data_root"] == str(data / "mnist")
        by_labels[(cell.labels["aggregator"], cell.labels["attack"], cell.labels["knowledge"])] = result
    assert by_labels[("median", "none", "-")].best_val_accuracy > 10.0  # the fixture's bars are learnable

    # The executed notebook reads those results (run_missing is false: a missing one would fail it) and says
    # what they are; the built book shows the same page.
    page = _page_text(book / "executed" / "main_table.ipynb")
    html = (book / "_build" / "html" / "executed" / "main_table.html").read_text(encoding="utf-8")
    for text in (page, html):
        text = re.sub("&#39;|[‘’]", "'", text)  # Sphinx's smart quotes
        assert "Pipeline check, not the paper's numbers" in text
        assert "2 round(s) instead of the profile's (mnist 500)" in text and "stand-in network" in text
        assert "55 runs (profile 'full', seeds [0]" in text and "a pipeline check, not the paper's setting" in text
    assert "ours, full-profile pipeline check (pp)" in page  # the paper's numbers sit beside a labelled check
    median_clean = f"{by_labels[('median', 'none', '-')].test_accuracy_at_best:.1f}"
    assert re.search(r">Median</td>\s*<td[^>]*>" + re.escape(median_clean) + "<", page)
    assert sorted(results.glob("*.json")) == stored  # the book step computed nothing
