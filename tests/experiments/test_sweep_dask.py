"""fedlib.sweep on Dask: a worker process killed mid-sweep, an existing scheduler given by address, and clusters
that cannot run a sweep (real `dask scheduler` / `dask worker` processes on 127.0.0.1, each stopped by its PID)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import torch
from helpers import dask_procs

import fedlib.sweep._dask as dask_path
from fedlib.errors import ClusterError, ConfigError
from fedlib.experiments import experiment_for, load_result, result_path
from fedlib.sweep import run_experiments

pytest.importorskip("distributed")


def grid8():
    """Eight tiny, distinct quick-profile runs (about half a second each)."""
    return [experiment_for("quick", aggregator=agg, attack=attack, rounds=3, eval_every=1).with_seed(seed)
            for agg in ("mean", "median") for attack in ("none", "lie") for seed in (0, 1)]


def same_run(a, b) -> bool:
    return (a.config_hash == b.config_hash and a.history == b.history and a.best_val_accuracy == b.best_val_accuracy
            and a.test_accuracy_at_best == b.test_accuracy_at_best and a.diverged == b.diverged)


def worker_pids() -> list[int]:
    """PIDs of the local cluster's worker processes: children of this process started by multiprocessing."""
    pids = []
    for child in psutil.Process().children(recursive=True):
        try:
            cmd = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "spawn_main" in cmd and "resource_tracker" not in cmd:
            pids.append(child.pid)
    return pids


def test_worker_killed_mid_sweep_loses_nothing(tmp_path):
    """One worker is SIGKILLed (by PID) while the sweep runs; every result is still there, equal to serial."""
    exps = grid8()
    serial = run_experiments(exps, tmp_path / "serial", n_workers=0, threads_per_worker=1, progress=False)
    assert serial.ok

    out = tmp_path / "dask"
    killed = []

    def kill_one_worker_after_first_result():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if out.exists() and any(p.suffix == ".json" for p in out.iterdir()):
                pids = worker_pids()
                if pids:
                    os.kill(pids[0], signal.SIGKILL)
                    killed.append(pids[0])
                    return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_worker_after_first_result, daemon=True)
    killer.start()
    report = run_experiments(exps, out, n_workers=2, threads_per_worker=1, retries=2, progress=False)
    killer.join(timeout=5)

    assert killed, "no worker process was found to kill"
    assert not psutil.pid_exists(killed[0]) or psutil.Process(killed[0]).status() == psutil.STATUS_ZOMBIE
    assert report.ok, [f.error for f in report.failures]
    # the kill hit a task in flight: it came back as KilledWorker and was submitted again
    assert max(report.attempts.values()) >= 2, report.attempts
    assert report.n_ran == 8 and report.dashboard and report.dashboard.startswith("http")
    for e, mine, ref in zip(exps, report.results, serial.results, strict=True):
        assert same_run(mine, ref)
        assert same_run(load_result(result_path(e, out)), ref)
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{e.config_hash}.json" for e in exps)


def test_existing_scheduler_by_address_without_shared_results_dir(tmp_path):
    """`scheduler=` an in-process cluster's address: the worker sends the text back; the client validates, stores."""
    from distributed import LocalCluster

    exps = grid8()[:2]
    serial = run_experiments(exps, tmp_path / "serial", n_workers=0, progress=False)
    before = torch.get_num_threads()
    try:
        with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
            report = run_experiments(exps, tmp_path / "remote", scheduler=cluster.scheduler_address, progress=False)
    finally:
        torch.set_num_threads(before)  # the in-process worker set this process's torch threads
    assert report.ok and report.n_ran == 2
    for e, mine, ref in zip(exps, report.results, serial.results, strict=True):
        assert same_run(mine, ref) and same_run(load_result(result_path(e, tmp_path / "remote")), ref)


def test_scheduler_addresses_of_the_wrong_form_are_option_errors(tmp_path, capsys):
    from fedlib.cli import main

    for bad, why in [("127.0.0.1", "no port"), ("tcp://127.0.0.1", "no port"), ("http://127.0.0.1:8787/status",
                     "http:// URL"), ("127.0.0.1:http", "the port 'http'"), ("tcp://127.0.0.1:0", "the port '0'")]:
        with pytest.raises(ConfigError, match=why):
            run_experiments(grid8()[:1], tmp_path, scheduler=bad, progress=False)
        for command in (["sweep", "grid.yaml"], ["reproduce", "--plan-only"]):
            with pytest.raises(SystemExit) as info:
                main([*command, "--scheduler", bad])
            assert info.value.code == 2 and why in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_nothing_listening_is_a_cluster_error(tmp_path, monkeypatch):
    monkeypatch.setattr(dask_path, "CONNECT_TIMEOUT", 1.0)
    with socket.socket() as sock:  # a port nothing listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{sock.getsockname()[1]}"
        with pytest.raises(ClusterError, match=f"could not reach a Dask scheduler at {address} within 1 s: "
                                               "nothing answers there .*ConnectionRefused"):
            run_experiments(grid8()[:1], tmp_path, scheduler=address, progress=False)


def test_an_http_port_is_named_within_seconds(tmp_path):
    """The dashboard's port (an HTTP server) never sends Dask's handshake: named at once, not after the timeout."""
    with dask_procs.http_server() as port:
        start = time.monotonic()
        with pytest.raises(ClusterError, match=r"expected a Dask scheduler there; found an HTTP server \(HTTP/1"):
            run_experiments(grid8()[:1], tmp_path, scheduler=f"127.0.0.1:{port}", progress=False)
        assert time.monotonic() - start < dask_path.CONNECT_TIMEOUT / 2  # not after the timeout
        # the command line: one error line, exit status 3, within a minute
        grid = tmp_path / "grid.yaml"
        grid.write_text("base: {profile: quick, rounds: 2}\ngrid: {seed: [0]}\n")
        start = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "fedlib", "sweep", str(grid), "--scheduler",
                               f"tcp://127.0.0.1:{port}", "--results-dir", str(tmp_path / "r")],
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    assert time.monotonic() - start < 60
    (line,) = [x for x in done.stderr.splitlines() if "error" in x]
    assert line.startswith("fedlib sweep: error: --scheduler tcp://127.0.0.1:") and "HTTP server" in line


def test_a_cluster_that_cannot_run_fedlib_is_refused_before_anything_runs(tmp_path, monkeypatch):
    """No worker at all; a worker without fedlib; a worker with other fedlib sources: each named, nothing run."""
    import shutil

    import fedlib

    monkeypatch.setattr(dask_path, "WORKER_WAIT", 1.0)
    other = tmp_path / "other"  # the same fedlib version with one source line more: other code
    shutil.copytree(Path(fedlib.__file__).parent, other / "fedlib", ignore=shutil.ignore_patterns("__pycache__"))
    with open(other / "fedlib" / "_io.py", "a") as fh:
        fh.write("# an edit\n")
    out = tmp_path / "results"
    with dask_procs.cluster(tmp_path) as procs:
        address = procs.start_scheduler()
        with pytest.raises(ClusterError, match=f"the Dask scheduler at {address} has no worker"):
            run_experiments(grid8()[:2], out, scheduler=address, progress=False)
        hidden = procs.start_worker("without-fedlib", pythonpath=dask_procs.python_path_without_fedlib(tmp_path / "h"))
        edited = procs.start_worker("other-sources", pythonpath=str(other))
        procs.wait_for_workers(2)
        start = time.monotonic()
        with pytest.raises(ClusterError) as info:
            run_experiments(grid8()[:2], out, scheduler=address, progress=False)
        assert time.monotonic() - start < 60  # "stops within a minute" (seconds on an idle machine)
        assert hidden.poll() is None and edited.poll() is None  # the check did not bring them down
    message = str(info.value)
    assert "2 worker(s) that cannot run this sweep" in message
    assert re.search(r"tcp://127\.0\.0\.1:\d+ \(without-fedlib\): cannot import fedlib \(ModuleNotFoundError", message)
    assert re.search(r"\(other-sources\): runs other fedlib code: fedlib 0\.1\.0 at .*other/fedlib", message)
    assert not out.exists() or not any(out.glob("*.json"))


def test_a_real_cluster_gives_the_serial_results_names_a_lost_worker_and_keeps_no_cache(tmp_path):
    exps = grid8()  # eight runs: after the first result, runs are still pending when the worker is killed
    serial = run_experiments(exps, tmp_path / "serial", n_workers=0, progress=False)
    out = tmp_path / "remote"
    with dask_procs.cluster(tmp_path) as procs:
        address = procs.start_scheduler()
        workers = [procs.start_worker(f"w{i}") for i in range(2)]
        procs.wait_for_workers(2)
        killed = []

        def kill_a_worker_after_the_first_result():
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not any(out.glob("*.json")):
                time.sleep(0.05)
            workers[1].kill()
            killed.append(workers[1].pid)

        killer = threading.Thread(target=kill_a_worker_after_the_first_result, daemon=True)
        killer.start()
        report = run_experiments(exps, out, scheduler=address, progress=False)
        killer.join(timeout=5)
    assert killed and report.ok, [f.error for f in report.failures]
    assert any(re.fullmatch(r"dask worker tcp://127\.0\.0\.1:\d+ \(w1\) left the cluster", n) for n in report.notes)
    for e, mine, ref in zip(exps, report.results, serial.results, strict=True):
        assert same_run(mine, ref) and same_run(load_result(result_path(e, out)), ref)
    # no results anywhere but the store the caller named: not in the workers' folders nor their temporary ones
    assert (tmp_path / "w0" / "tmp").is_dir()
    assert [p for p in tmp_path.rglob("*.json") if p.parent not in (out, tmp_path / "serial")
            and p.name != "scheduler.json"] == []


def test_a_lost_scheduler_ends_the_command_with_exit_3_and_the_hint(tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text("base: {profile: quick, rounds: 3, eval_every: 1}\n"
                    "grid: {aggregator: [mean, median], attack: [none, lie], seed: [0, 1, 2]}\n")
    out = tmp_path / "results"
    with dask_procs.cluster(tmp_path) as procs:
        address = procs.start_scheduler()
        procs.start_worker("w0")
        procs.wait_for_workers(1)
        sweep = subprocess.Popen([sys.executable, "-m", "fedlib", "sweep", str(grid), "--scheduler", address,
                                  "--results-dir", str(out), "--quiet"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not any(out.glob("*.json")) and sweep.poll() is None:
                time.sleep(0.05)
            procs.scheduler.kill()
            killed = time.monotonic()
            _, err = sweep.communicate(timeout=60)
        finally:
            dask_procs.stop(sweep)
    assert sweep.returncode == 3, err
    assert time.monotonic() - killed < 60  # within a minute (seconds on an idle machine)
    lines = [x for x in err.splitlines() if "error" in x.lower()]
    assert len(lines) == 1, err
    (line,) = lines
    assert line.startswith(f"fedlib sweep: error: lost the Dask scheduler at {address} mid-sweep (")
    assert line.endswith("finished results are saved: run the same command again to continue.")
    saved = sorted(out.glob("*.json"))
    assert 1 <= len(saved) < 12 and all(load_result(p).config_hash == p.stem for p in saved)


def test_cluster_errors_end_both_commands_with_exit_status_3_in_one_line(tmp_path, monkeypatch, capsys):
    import fedlib.sweep as sweep
    import fedlib.sweep._run as sweep_run
    from fedlib.cli import main
    from fedlib.cli.sweep import EXIT_CLUSTER

    lost = ClusterError(f"lost the Dask scheduler at tcp://127.0.0.1:1 mid-sweep (1 of 2 runs finished); "
                        f"{dask_path.RUN_AGAIN}.")

    def fail(*args, **kwargs):
        raise lost

    monkeypatch.setattr(sweep_run, "run_experiments", fail)
    monkeypatch.setattr(sweep, "run_sweep", fail)
    grid = tmp_path / "grid.yaml"
    grid.write_text("base: {profile: quick, rounds: 2}\ngrid: {seed: [0]}\n")
    assert main(["sweep", str(grid), "--scheduler", "tcp://127.0.0.1:1"]) == EXIT_CLUSTER == 3
    assert capsys.readouterr().err == f"fedlib sweep: error: {lost}\n"
    code = main(["reproduce", "--profile", "scale", "--only", "dnc", "--scheduler", "tcp://127.0.0.1:1",
                 "--no-measure", "--results-dir", str(tmp_path / "r"), "--no-progress"])
    assert code == 3 and capsys.readouterr().err == f"error: {lost}\n"
    # the Sweeps page documents the same status and the same hint
    page = (Path(__file__).resolve().parents[2] / "book" / "sweeps.md").read_text()
    assert "3 the Dask cluster cannot run the sweep or was lost during it" in page
    assert f"mid-sweep (5 of 12 runs finished); {dask_path.RUN_AGAIN}." in page


def test_a_task_refuses_to_run_on_other_fedlib_sources(tmp_path):
    with pytest.raises(ClusterError, match="this worker runs other fedlib sources"):
        dask_path.run_on_worker(grid8()[0].to_dict(), str(tmp_path), 1, "0" * 16)
    assert list(tmp_path.iterdir()) == []
