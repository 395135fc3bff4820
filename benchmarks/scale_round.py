"""One attacked round against one honest round at the ``scale`` size (issue: attacked rounds at most ~1.5×).

The ``scale`` profile: full Fashion-MNIST, 100 clients (20 malicious, f = 20), mnist_fc 784-100-10
(d = 79,510), cross-silo, std perturbation, the paper's halving search, full knowledge. Each case runs the
real engine (``fedlib.experiments.run``) for ``--rounds`` rounds and reads its clock: seconds per round in
client gradients, the attack and the aggregation. The honest round of a rule is the same run with
``attack="none"``; the ratio of a case is (gradients + attack + aggregation per round) attacked / honest,
against the honest round of the same rule and against the honest Median round (the brief's reference).

The script only uses the public API that fedlib had at commit acfa636, so the same file measures the code
before and after a change::

    FEDLIB_DATA=/path/with/fashion_mnist NUMBA_THREADING_LAYER=workqueue PYTHONPATH=$PWD \
        python benchmarks/scale_round.py
    PYTHONPATH=/tmp/fedlib-acfa636 python benchmarks/scale_round.py --json before.json   # older checkout

Run it with ``NUMBA_THREADING_LAYER=workqueue``: with numba's default OpenMP layer, the first parallel numba
kernel (the CPU Median / Trimmed-mean / Bulyan rules) resets torch's OpenMP thread count and leaves spinning
threads behind, which made every later torch call in the process up to ~1000x slower on a busy 2-core machine
(measured: ``torch.isfinite`` on 79,510 floats 0.3 ms -> 360 ms after one Median aggregation).

Rounds are interleaved (honest and attacked runs alternate within each repeat) so that a machine whose
load changes during the run affects both sides alike; ``--repeats`` takes the median per case.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import torch

ATTACKED: list[tuple[str, str]] = [  # (attack, server rule)
    ("tailored", "krum"), ("tailored", "multi_krum"), ("tailored", "bulyan"), ("tailored", "trimmed_mean"),
    ("tailored", "median"), ("min_max", "median"), ("min_sum", "median"), ("lie", "median"),
    ("fang", "median"), ("fang", "krum"),
]


def per_round(exp, dataset) -> dict[str, float]:
    """Seconds per round in gradients / attack / aggregation for one engine run of ``exp``."""
    from fedlib.experiments import run

    result = run(exp, results_dir=None, dataset=dataset)
    timings = result.timings
    rounds = timings["rounds_run"]
    return {part: timings[f"{part}_s"] / rounds for part in ("gradients", "attack", "aggregate")}


def measure(rounds: int, repeats: int, variant: str, cases, log, warmup: int = 0) -> dict[str, object]:
    import fedlib
    from fedlib.data import load
    from fedlib.experiments import experiment_for

    base = experiment_for("scale", "fashion_mnist", rounds=rounds, eval_every=10**6, variant=variant)
    dataset = load(base.dataset, base.data_root, split_seed=base.split_seed, n_clients=base.n_clients,
                   samples_per_client=base.samples_per_client, partition=base.partition,
                   alpha=base.partition_alpha, **base.dataset_options)
    rules = sorted({rule for _, rule in cases} | {"median"})
    samples: dict[str, list[dict[str, float]]] = {}
    for rule, attack in [(rule, "none") for rule in rules] + [(rule, attack) for attack, rule in cases][:warmup]:
        # not measured: loads every compiled kernel (numba's cache) and the data before the first timed round
        per_round(experiment_for("scale", "fashion_mnist", rounds=1, eval_every=10**6, variant=variant,
                                 aggregator=rule, attack=attack), dataset)  # fmt: skip
    for rep in range(repeats):
        for rule in rules:
            honest = experiment_for("scale", "fashion_mnist", rounds=rounds, eval_every=10**6, variant=variant,
                                    aggregator=rule, attack="none")
            samples.setdefault(f"none/{rule}", []).append(per_round(honest, dataset))
            for attack, target in cases:
                if target != rule:
                    continue
                exp = experiment_for("scale", "fashion_mnist", rounds=rounds, eval_every=10**6, variant=variant,
                                     aggregator=rule, attack=attack)
                t0 = time.perf_counter()
                samples.setdefault(f"{attack}/{rule}", []).append(per_round(exp, dataset))
                log(f"repeat {rep}: {attack}/{rule} {time.perf_counter() - t0:.1f} s")
    table = {}
    for key, rows in samples.items():
        table[key] = {part: statistics.median(r[part] for r in rows) for part in ("gradients", "attack", "aggregate")}
        table[key]["round"] = sum(table[key][p] for p in ("gradients", "attack", "aggregate"))
    for key, row in table.items():
        rule = key.split("/")[1]
        row["ratio_same_rule"] = row["round"] / table[f"none/{rule}"]["round"]
        row["ratio_median_honest"] = row["round"] / table["none/median"]["round"]
    return {"fedlib": fedlib.__file__, "rounds": rounds, "repeats": repeats, "variant": variant,
            "threads": torch.get_num_threads(), "warmup": warmup, "table": table}


def print_table(result: dict[str, object]) -> None:
    print(f"\nscale profile, {result['rounds']} rounds × {result['repeats']} repeats, variant={result['variant']}, "
          f"{result['threads']} thread(s); ms per round (medians)")
    print(f"{'attack/rule':<24}{'gradients':>10}{'attack':>10}{'aggregate':>10}{'round':>10}{'/honest':>9}"
          f"{'/median':>9}")
    for key, row in result["table"].items():
        print(f"{key:<24}{1e3 * row['gradients']:>10.1f}{1e3 * row['attack']:>10.1f}{1e3 * row['aggregate']:>10.1f}"
              f"{1e3 * row['round']:>10.1f}{row['ratio_same_rule']:>9.2f}{row['ratio_median_honest']:>9.2f}")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            return next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), "")
    except OSError:
        return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--variant", default="textbook")
    parser.add_argument("--cases", default=None, help="comma-separated attack/rule pairs (default: all)")
    parser.add_argument("--json", default=None, help="also write the table to this file")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the brief's measurement: 1)")
    parser.add_argument("--warmup", type=int, default=0, metavar="N",
                        help="first run one untimed round of every rule's honest case and of the first N attacked "
                             "cases (else the first case of the run carries the loading of the compiled kernels)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cases = ATTACKED if args.cases is None else [tuple(c.split("/")) for c in args.cases.split(",")]
    load_before = os.getloadavg()
    result = measure(args.rounds, args.repeats, args.variant, cases, lambda s: print(s, file=sys.stderr), args.warmup)
    result["load_average_1_5_15"] = {"before": load_before, "after": os.getloadavg()}
    result["cpu"] = platform.processor() or _cpu_model()
    print_table(result)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
