"""``python -m fedlib reproduce``: the reproduction's cells and manifest, the plan, one Dask worker per GPU; and the
book's ``python -m fedbook.reproduce``: which notebooks read which grid, the book step's commands, and the whole
path from ``data fetch`` on a loopback mirror to the built book.

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
from fedbook import reproduce as book
from fedbook.reproduce import SCALE_NOTEBOOK_BLOCKS, book_commands, find_book, notebooks, readers
from helpers.fetch_fixtures import LoopbackServer, fixture_registry, idx_gz

import fedlib.sweep
from fedlib import cli
from fedlib.errors import ConfigError
from fedlib.experiments import grids, load_result
from fedlib.experiments.reproduce import MANIFEST, Reproduction, format_plan, make_plan
from fedlib.sweep import gpu_worker_env, gpu_workers, run_sweep

ROOT = Path(__file__).resolve().parents[2]
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
    assert "2 round(s) instead of the profile's (MNIST 500)" in rep.describe()


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
    assert notebooks(Reproduction(**CHECK)) == ["main_table"]
    both = Reproduction(grids=("main", "dnc"), datasets=("mnist",))
    assert notebooks(both) == ["main_table", "dnc_table", "paper_vs_ours"]
    # The verdicts page never judges a pipeline check against the paper.
    assert notebooks(Reproduction(grids=("main", "dnc"), datasets=("mnist",), rounds=3)) == ["main_table", "dnc_table"]
    assert notebooks(Reproduction(grids=("cross_device",), datasets=("mnist",))) == []  # FEMNIST only
    assert notebooks(Reproduction(grids=("cross_device",), datasets=("femnist",))) == ["cross_device"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"profile": "quick"}, r"expected profile in \['full', 'scale'\]; found 'quick'"),
        ({"profile": "scale", "grids": ("main", "tables")}, r"expected some of \['main', .*'benchmark'\]"),
        ({"grids": ("newer_rules",)}, r"expected some of .*found \['newer_rules'\]"),  # a scale block only
        ({"profile": "scale", "datasets": ("mnist",)}, r"expected some of \['fashion_mnist'\]; found \['mnist'\]"),
        ({"profile": "scale", "rounds": 3}, "committed full-size evidence.*rounds=3"),
        ({"profile": "scale", "stand_in_model": True}, "committed full-size evidence.*stand_in_model=True"),
        ({"profile": "scale", "seeds": ()}, "non-empty list"),
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


def test_a_scale_reproduction_is_the_campaigns_blocks_with_their_own_seeds():
    everything = Reproduction(profile="scale")
    assert everything.grids == grids.SCALE_BLOCKS and everything.seeds is None
    expected = {c.experiment.config_hash for b in grids.SCALE_BLOCKS for c in grids.scale_grid(b)}
    assert {e.config_hash for e in everything.experiments()} == expected
    assert {e.profile for e in everything.experiments()} == {"scale"}
    assert notebooks(everything) == list(SCALE_NOTEBOOK_BLOCKS)
    dnc = Reproduction(profile="scale", grids=("dnc",))
    assert len(dnc.experiments()) == 33 and notebooks(dnc) == ["dnc_table", "paper_vs_ours"]
    assert readers(dnc, "dnc") == ["dnc_table", "paper_vs_ours"]
    one_seed = Reproduction(profile="scale", grids=("dnc", "cross_device"), seeds=(1,))
    assert {c.experiment.attack_seed for g in one_seed.grids for c in one_seed.cells(g)} == {1}
    assert "seed 1," in one_seed.describe() and "each block's own" in dnc.describe()
    assert Reproduction().seeds == (0, 1, 2) and Reproduction().grids == grids.FULL_GRIDS


def test_every_page_that_reads_a_scale_block_is_listed_with_its_blocks():
    """SCALE_NOTEBOOK_BLOCKS must name exactly the blocks each notebook reads (else a scale reproduction would
    leave a page showing stale results): the scale_block / scale_grid calls in the notebooks' sources."""
    found: dict[str, set[str]] = {}
    for source in sorted((ROOT / "notebooks").glob("*.py")):
        names = set(re.findall(r'scale_(?:block|grid)\(\s*"([a-z_]+)"', source.read_text(encoding="utf-8")))
        names |= {b for b in grids.SCALE_BLOCKS if re.search(rf'for name in \(.*"{b}".*\)', source.read_text())}
        if names:
            found[source.stem] = names
    assert {nb: set(blocks) for nb, blocks in SCALE_NOTEBOOK_BLOCKS.items()} == found


# ------------------------------------------------------------------------------------------------ the plan
def test_the_plan_counts_cells_per_grid_and_each_new_cell_once():
    rep = Reproduction(grids=("main", "dnc", "afa_fang"), datasets=("mnist",), seeds=(0, 1))
    plan = make_plan(rep, "cpu", measure=False)
    rows = {r["grid"]: r for r in plan.rows}
    for grid in rep.grids:
        assert rows[grid]["cells"] == len(grids.full_grid(grid, [0, 1], datasets=["mnist"]))
    assert sum(r["new"] for r in plan.rows) == len(rep.experiments())
    assert rows["main"]["rounds"] == [500] and plan.hours == 0.0 and not plan.costs
    text = format_plan(plan, rep)
    assert text.splitlines()[3].split() == "grid cells new done rounds est. hours".split()  # the library's plan
    assert "(no per-round cost measured)" in text and "notebook" not in text
    # The book's command adds the pages that read each grid.
    by_book = format_plan(plan, rep, lambda grid: readers(rep, grid)).splitlines()
    assert by_book[3].split() == "grid cells new done rounds est. hours read by".split()
    assert by_book[4].endswith("main_table, dnc_table, paper_vs_ours") and by_book[6].endswith("afa_fang_defense")
    check = Reproduction(**CHECK)  # no DnC grid, and a check never reaches the verdicts
    assert format_plan(make_plan(check, "cpu", measure=False), check, lambda g: readers(check, g)).splitlines()[
        4].endswith("main_table")  # fmt: skip


def test_runs_already_present_are_counted_done_and_price_the_same_kind_of_run(tmp_path):
    """The committed DnC runs of seed 0 (a complete seed of the scale campaign) price the seed-1 runs: each at
    the seconds per round its seed-0 twin took; nothing is measured and nothing of seed 0 is counted again."""
    import shutil

    from fedlib.experiments import result_path

    rep = Reproduction(profile="scale", grids=("dnc",), seeds=(0, 1))
    seed0 = {c.experiment.config_hash: c.experiment for c in grids.scale_grid("dnc", [0])}
    twins = {}
    for exp in seed0.values():
        shutil.copy(result_path(exp, ROOT / "results" / "scale"), tmp_path)
        timings = load_result(result_path(exp, tmp_path)).timings
        twins[(exp.aggregator, exp.attack, exp.knowledge)] = timings["total_s"] / timings["rounds_run"]
    plan = make_plan(rep, "cpu", results_dir=tmp_path)  # measure=True: still nothing to measure
    (row,) = plan.rows
    seed1 = [c.experiment for c in grids.scale_grid("dnc", [1])]
    assert (row["cells"], row["new"], row["done"], row["priced"]) == (22, 22, 11, 11) and not plan.costs
    expected = sum(e.rounds * twins[(e.aggregator, e.attack, e.knowledge)] for e in seed1) / 3600
    assert plan.hours == pytest.approx(expected, rel=1e-12) and plan.hours > 0
    text = format_plan(plan, rep)
    assert re.search(r"^dnc\s+22\s+22\s+11\s+300\s", text, re.M)
    assert "11 of them priced at the seconds per round of the runs already there" in text
    # A corrupt file is not a result (the sweep runs it again): counted to do, left where it is.
    damaged = result_path(seed0[next(iter(seed0))], tmp_path)
    damaged.write_text(damaged.read_text()[:-40])
    assert make_plan(rep, "cpu", results_dir=tmp_path, measure=False).rows[0]["done"] == 10 and damaged.exists()
    shutil.copy(result_path(seed0[next(iter(seed0))], ROOT / "results" / "scale"), tmp_path)
    complete = make_plan(Reproduction(profile="scale", grids=("dnc",), seeds=(0,)), "cpu", results_dir=tmp_path)
    assert complete.rows[0]["done"] == 11 and complete.hours == 0.0
    assert format_plan(complete, rep).endswith("(nothing to run)")


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

    calls = {}

    @contextlib.contextmanager
    def fake_cluster(n):
        calls["gpus"] = n
        yield "tcp://127.0.0.1:1"

    def fake_run(experiments, results_dir, **kwargs):
        calls.update(kwargs, n=len(experiments), devices={e.device for e in experiments})
        return "report"

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    monkeypatch.setattr(fedlib.sweep._gpus, "gpu_cluster", fake_cluster)
    monkeypatch.setattr(fedlib.sweep._run, "run_experiments", fake_run)
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

    with fedlib.sweep.gpu_cluster(2) as address, Client(address) as client:
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


def test_cli_plan_only_prints_the_plan(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("FEDLIB_RESULTS_DIR", str(tmp_path))
    argv = ["reproduce", "--datasets", "mnist", "--only", "dnc", "--seeds", "0", "--no-measure", "--plan-only"]
    code = cli.main(argv)
    out = capsys.readouterr().out
    assert code == 0 and re.search(r"^dnc\s+\d+\s+\d+\s+0\s+500\s", out, re.M)
    assert "profile `full`, MNIST, seed 0" in out


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


def test_book_commands_of_a_scale_reproduction_re_execute_the_pages_of_its_blocks():
    rep = Reproduction(profile="scale", grids=("dnc",))
    first, rest, build = book_commands(ROOT, rep, ROOT / "results" / "scale", "cpu")
    assert [Path(p).stem for p in first[first.index("--only") + 1 :]] == ["dnc_table", "paper_vs_ours"]
    assert "-p" not in first and "--profile" not in first  # the quick pages, reading the book's results/scale
    assert "--skip-fresh" in rest and build[-1] == "build"


def _fake_book(folder: Path) -> Path:
    (folder / "notebooks").mkdir(parents=True)
    (folder / "book" / "_lib" / "fedbook").mkdir(parents=True)
    (folder / "_toc.yml").write_text("root: intro\n")
    for name in ("dnc_table", "main_table", "paper_vs_ours"):
        (folder / "notebooks" / f"{name}.py").write_text("# %%\n")
    return folder


class _Sweep:
    def __init__(self, calls):
        self.calls = calls

    def __call__(self, rep, results_dir, **kwargs):
        self.calls.append(("sweep", rep, Path(results_dir)))
        return type("Report", (), {"failures": [], "summary": lambda self: "0 run, 33 loaded"})()


def test_a_scale_reproduction_rebuilds_the_pages_only_from_the_books_results_scale(tmp_path, monkeypatch, capsys):
    clone = _fake_book(tmp_path / "clone")
    calls: list = []
    monkeypatch.setattr(fedlib.sweep, "run_sweep", _Sweep(calls))
    monkeypatch.setattr(book, "run_book", lambda folder, commands: calls.append(("book", folder, commands)) or 0)
    monkeypatch.chdir(clone)
    monkeypatch.setenv("FEDLIB_RESULTS_DIR", str(tmp_path / "cache"))
    argv = ["--profile", "scale", "--only", "dnc", "--no-measure", "--results-dir", "results/scale"]
    assert book.main(argv) == 0
    (_, rep, results_dir), (_, folder, commands) = calls
    assert rep.profile == "scale" and rep.grids == ("dnc",) and results_dir == Path("results/scale")
    assert folder == clone and commands == book_commands(clone, rep, results_dir, "auto")
    # By default the results go to the cache, never into the committed folder, and the book's pages (which
    # read results/scale) are not rebuilt from results they do not read.
    calls.clear()
    assert book.main(argv[:-2]) == 0
    assert [c[0] for c in calls] == ["sweep"] and calls[0][2] == tmp_path / "cache"
    assert "No book built: its pages read the scale campaign from" in capsys.readouterr().out
    assert not (tmp_path / "cache" / MANIFEST).exists() and not (clone / "results").exists()
    # The library's own command runs the same sweep, builds nothing and names the book's command.
    calls.clear()
    assert cli.main(["reproduce", *argv]) == 0
    assert [c[0] for c in calls] == ["sweep"] and "python -m fedbook.reproduce" in capsys.readouterr().out


def test_cli_plans_a_scale_block_and_refuses_its_dry_run(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("FEDLIB_RESULTS_DIR", str(tmp_path))
    code = book.main(["--profile", "scale", "--only", "dnc", "--no-measure", "--plan-only"])
    out = capsys.readouterr().out
    assert code == 0 and re.search(r"^dnc\s+33\s+33\s+0\s+300\s", out, re.M) and "profile `scale`" in out
    assert "dnc_table, paper_vs_ours" in out
    assert cli.main(["reproduce", "--profile", "scale", "--dry-run", "--no-measure"]) == 2
    assert "--dry-run runs the full profile's grids" in capsys.readouterr().err


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
    assert "(results of the sweep only); fedlib reproduce: profile `full`, MNIST" in ctx.describe()
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
    data, results, clone = tmp_path / "data", tmp_path / "results", _book_copy(tmp_path / "book")
    with LoopbackServer({f"/mnist/{f}": b for f, b in files.items()}, lifetime=120) as server:
        registry = fixture_registry(server.url, {"mnist": files}, mnist={"train": 60000, "test": 10000})
        monkeypatch.setattr("fedlib.data._fetch.SOURCES", registry)  # the fixtures' own checksums
        assert cli.main(["data", "fetch", "mnist", "--root", str(data), "--no-progress"]) == 0
        assert len(server.log) == 4
    argv = ["--profile", "full", "--datasets", "mnist", "--only", "main", "--seeds", "0", "--rounds", "2",
            "--stand-in-model", "--device", "cpu", "--measure-rounds", "1", "--results-dir", str(results),
            "--root", str(data), "--book", str(clone), "--no-progress"]  # fmt: skip
    assert book.main(argv) == 0
    out = capsys.readouterr().out
    assert re.search(r"^main\s+55\s+55\s+0\s+2\s", out, re.M) and out.count("(median vs none; real data)") == 1

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
    page = _page_text(clone / "executed" / "main_table.ipynb")
    html = (clone / "_build" / "html" / "executed" / "main_table.html").read_text(encoding="utf-8")
    for text in (page, html):
        text = re.sub("&#39;|[‘’]", "'", text)  # Sphinx's smart quotes
        assert "Pipeline check, not the paper's numbers" in text
        assert "2 round(s) instead of the profile's (MNIST 500)" in text and "stand-in network" in text
        assert "55 runs (profile" in text and re.search(r"seed 0(, device \w+)?, results read from", text)
        assert "a pipeline check, not the paper's setting" in text
    # A pipeline check is not the paper's setting: the paper's numbers read "not tested here", never a verdict.
    assert "not tested here: needs CIFAR10 with Alexnet in the full profile" in page
    median_clean = f"{by_labels[('median', 'none', '-')].test_accuracy_at_best:.1f}"
    assert re.search(r">Median</td>\s*<td[^>]*>" + re.escape(median_clean) + "<", page)
    assert sorted(results.glob("*.json")) == stored  # the book step computed nothing
