"""fedlib.sweep on Dask: a worker process killed mid-sweep, and an existing scheduler given by address."""

from __future__ import annotations

import os
import signal
import threading
import time

import psutil
import pytest
import torch

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
    """`scheduler="tcp://..."`: workers write to their own scratch folder; the client validates and stores."""
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


def test_unreachable_scheduler_fails_loudly(tmp_path, monkeypatch):
    import fedlib.sweep._run as sweep_run

    monkeypatch.setattr(sweep_run, "CONNECT_TIMEOUT", "1s")
    with pytest.raises(OSError, match="could not reach the Dask scheduler at 'tcp://127.0.0.1:9'"):
        run_experiments(grid8()[:1], tmp_path, scheduler="tcp://127.0.0.1:9", progress=False)
