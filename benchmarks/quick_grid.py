"""Quick-profile grid: no-attack accuracy and attack impact per AGR (mnist5k, 20 % malicious, full knowledge).

For every seed, AGR (mean, median, trimmed_mean, multi_krum, bulyan, dnc) and attack (none, fang, lie, tailored,
min_max, min_sum) it runs ``fedlib.experiments.run`` on the quick profile (results cached in --results-dir, so
an interrupted grid resumes), then prints and writes (--out, JSON) the table:

    no-attack test accuracy at the best-validation round (mean ± std over seeds), and the impact of each attack
    = no-attack − attacked accuracy of the same AGR and seed (mean ± std over seeds, percentage points).

Attacks that need a target rule: Fang and the tailored attack aim at the server's AGR; against the mean (no
tailored form) and DnC (no Fang form) they aim at trimmed_mean (Fang-TrMean, the generic Fang attack); the
tailored attack on DnC is the paper's adaptive attack on DnC.

Cells run cheapest first (no attack, LIE, Min-Max, Min-Sum, Fang, then the tailored attacks seed by seed), and the
JSON is rewritten after every cell, so a partial grid still reports what finished.

Usage: python benchmarks/quick_grid.py [--seeds 0 1 2] [--jobs 2] [--out benchmarks/results/quick_grid.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

AGRS = ["mean", "median", "trimmed_mean", "multi_krum", "bulyan", "dnc"]
ATTACKS = ["fang", "lie", "tailored", "min_max", "min_sum"]
OBJECTIVE_TARGETS = {"trimmed_mean", "median"}


def cell_experiment(agr: str, attack: str, seed: int, fast_tailored: bool, rounds=None):
    from fedlib.experiments import experiment_for

    target = None
    if attack in ("fang", "tailored") and agr == "mean":
        target = "trimmed_mean"
    if attack == "fang" and agr == "dnc":
        target = "trimmed_mean"
    options = {}
    if attack == "tailored" and fast_tailored and (target or agr) in OBJECTIVE_TARGETS:
        # a coarser 1-D maximisation of ||AGR(γ) − mean|| over γ (default grid 32 + 30 refinements)
        options = {"objective_grid": 8, "objective_iters": 8}
    extra = {} if rounds is None else {"rounds": rounds}
    exp = experiment_for("quick", aggregator=agr, attack=attack, knowledge="full", attack_target=target,
                         attack_options=options, device="cpu", **extra)
    return exp.with_seed(seed)


def _run_cell(args):
    agr, attack, seed, fast, results_dir, rounds = args
    import torch

    torch.set_num_threads(1)
    from fedlib.experiments import run

    exp = cell_experiment(agr, attack, seed, fast, rounds)
    start = time.perf_counter()
    result = run(exp, results_dir)
    return {
        "aggregator": agr, "attack": attack, "seed": seed, "attack_target": exp.attack_target,
        "attack_options": exp.attack_options, "test_acc": result.test_accuracy_at_best,
        "best_val": result.best_val_accuracy, "best_round": result.best_round, "diverged": result.diverged,
        "run_s": result.timings["wall_s"], "cell_s": time.perf_counter() - start, "config_hash": result.config_hash,
    }


def summarise(cells):
    table = {}
    by_key = {(c["aggregator"], c["attack"], c["seed"]): c for c in cells}
    for agr in AGRS:
        base = {s: c["test_acc"] for (a, k, s), c in by_key.items() if a == agr and k == "none"}
        row = {"no_attack": _stats(list(base.values())), "n_seeds": len(base)}
        for attack in ATTACKS:
            impacts = [
                base[s] - c["test_acc"] for (a, k, s), c in by_key.items() if a == agr and k == attack and s in base
            ]
            row[attack] = _stats(impacts)
        table[agr] = row
    return table


def _stats(values):
    if not values:
        return None
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "n": len(values)}


def _fmt(stat):
    if stat is None:
        return "      —     "
    return f"{stat['mean']:5.1f} ± {stat['std']:3.1f}" + ("" if stat["n"] >= 3 else f"({stat['n']})")


def print_table(table):
    print(f"{'AGR':13s} {'no attack':>13s} " + " ".join(f"{a:>13s}" for a in ATTACKS))
    for agr, row in table.items():
        print(f"{agr:13s} {_fmt(row['no_attack']):>13s} " + " ".join(f"{_fmt(row[a]):>13s}" for a in ATTACKS))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--results-dir", default="results/quick_grid")
    p.add_argument("--out", default="benchmarks/results/quick_grid.json")
    p.add_argument("--aggregators", nargs="+", default=AGRS)
    p.add_argument("--attacks", nargs="+", default=["none"] + ATTACKS)
    p.add_argument("--rounds", type=int, default=None, help="override the profile's rounds (smoke tests)")
    p.add_argument("--exact-tailored", action="store_true",
                   help="tailored attacks on trimmed_mean/median with the attack's default (slower) γ maximisation")
    args = p.parse_args(argv)

    order = ["none", "lie", "min_max", "min_sum", "fang"]
    cheap = [(a, k, s) for k in order if k in args.attacks for s in args.seeds for a in args.aggregators]
    tailored = [(a, "tailored", s) for s in args.seeds for a in args.aggregators] if "tailored" in args.attacks else []
    todo = [(a, k, s, not args.exact_tailored, args.results_dir, args.rounds) for a, k, s in cheap + tailored]

    cells, start = [], time.perf_counter()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def save():
        payload = {"setting": "quick profile (mnist5k, mnist_fc, 20 clients x 200, 4 malicious, batch 50, SGD 0.5), "
                              "full knowledge; accuracy = test accuracy at the best-validation round (%)",
                   "seeds": args.seeds, "wall_s": time.perf_counter() - start, "cells": cells,
                   "table": summarise(cells)}
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, indent=1))
        os.replace(tmp, out)

    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(_run_cell, item): item for item in todo}
        for fut in as_completed(futures):
            cell = fut.result()
            cells.append(cell)
            print(f"[{time.perf_counter() - start:7.1f}s] {cell['aggregator']:13s} {cell['attack']:9s} "
                  f"seed {cell['seed']}: test {cell['test_acc']:5.1f}  ({cell['cell_s']:.1f}s)", flush=True)
            save()
    save()
    print(f"\nwall time {time.perf_counter() - start:.0f}s for {len(cells)} runs")
    print_table(summarise(cells))


if __name__ == "__main__":
    main()
