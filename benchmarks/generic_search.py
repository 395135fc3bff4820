"""The generic tailored attack's search before and after a change, on real scale gradients: the deviation each
search's γ causes on the rule itself, and what each search costs.

``--capture``: runs the ``scale`` engine (Fashion-MNIST, 100 clients, 20 malicious, mnist_fc, full knowledge) with
the generic tailored attack against each of the newer rules for ``--rounds`` rounds and keeps what the attack was
given each round (the 80 benign gradients, its options and its generator's state) in a file outside the
repository (~25 MB a round). ``--search``: crafts from every captured input with the fedlib on ``PYTHONPATH``
(the code before or after) and writes each γ, its copy vector, its CPU time and probes. ``--compare``: evaluates
both searches' copies on the rule itself (this checkout's rules, the adversary's seed for bucketing) and writes
the ratio of the deviations ‖AGR(copies ∪ benign) − mean(benign)‖, per rule::

    git worktree add /tmp/fedlib-3a6d94b 3a6d94b
    export OMP_NUM_THREADS=1 NUMBA_THREADING_LAYER=workqueue
    PYTHONPATH=$PWD python benchmarks/generic_search.py --capture /tmp/generic.pt --rounds 4
    PYTHONPATH=/tmp/fedlib-3a6d94b python benchmarks/generic_search.py --search /tmp/generic.pt --out /tmp/before.pt
    PYTHONPATH=$PWD python benchmarks/generic_search.py --search /tmp/generic.pt --out /tmp/after.pt
    PYTHONPATH=$PWD python benchmarks/generic_search.py --compare /tmp/generic.pt /tmp/before.pt /tmp/after.pt \\
        --json benchmarks/results/generic_search.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

RULES = ("centered_clipping", "geometric_median", "nnm", "bucketing")


def capture(path: str, rounds: int) -> None:
    import fedlib.attacks as attacks
    from fedlib.experiments import experiment_for, run

    real, kept = attacks.craft, []

    def keep(name, benign, n_malicious, **kwargs):
        gen = kwargs.get("generator")
        options = {k: v for k, v in kwargs.items() if k != "generator"}
        kept.append({"rule": options["aggregator"], "benign": benign.clone(), "n_malicious": n_malicious,
                     "options": options, "generator": None if gen is None else gen.get_state().clone()})
        return real(name, benign, n_malicious, **kwargs)

    attacks.craft = keep  # the engine looks the attack up on the module at every round
    try:
        for rule in RULES:
            run(experiment_for("scale", "fashion_mnist", rounds=rounds, eval_every=10**6, aggregator=rule,
                               attack="tailored"), results_dir=None)  # fmt: skip
    finally:
        attacks.craft = real
    torch.save(kept, path)


def search(path: str, out: str) -> None:
    import fedlib
    from fedlib.attacks import craft

    found = []
    for case in torch.load(path, weights_only=False):
        gen = torch.Generator()
        if case["generator"] is not None:
            gen.set_state(case["generator"])
        t0 = time.process_time()
        crafted = craft("tailored", case["benign"], case["n_malicious"], generator=gen, **case["options"])
        seconds = time.process_time() - t0
        info = {k: v for k, v in crafted.info.items() if isinstance(v, (int, float, str, bool, type(None)))}
        found.append({"gamma": crafted.gamma, "vector": crafted.updates[0].clone(), "cpu_s": seconds, "info": info})
        print(f"{case['rule']:18s} γ={crafted.gamma:.5g} {1e3 * seconds:7.0f} ms cpu", flush=True)
    torch.save({"fedlib": fedlib.__file__, "found": found}, out)


def _deviation(case: dict, vector: torch.Tensor, seed: int | None) -> float:
    from fedlib.aggregators import aggregate

    benign = case["benign"]
    rows = torch.cat([vector.unsqueeze(0).expand(case["n_malicious"], -1), benign])
    extra = {} if seed is None else {"generator": torch.Generator().manual_seed(seed)}
    out = aggregate(case["rule"], rows, case["options"]["f"], **extra).vector
    return float(torch.linalg.vector_norm(out - benign.mean(dim=0)))


def compare(path: str, before_path: str, after_path: str) -> dict:
    cases = torch.load(path, weights_only=False)
    before, after = (torch.load(p, weights_only=False) for p in (before_path, after_path))
    rows: dict[str, list[dict]] = {}
    for case, old, new in zip(cases, before["found"], after["found"], strict=True):
        seed = new["info"].get("rule_seed")
        deviations = [_deviation(case, result["vector"], seed) for result in (old, new)]
        rows.setdefault(case["rule"], []).append({
            "gamma_before": old["gamma"], "gamma_after": new["gamma"], "deviation_before": deviations[0],
            "deviation_after": deviations[1], "ratio": deviations[1] / deviations[0],
            "cpu_s_before": old["cpu_s"], "cpu_s_after": new["cpu_s"], "probes_before": old["info"].get("n_probes"),
            "probes_after": new["info"].get("n_probes"), "evaluator": new["info"].get("evaluator"),
        })  # fmt: skip
    summary = {
        rule: {
            "rounds": len(r),
            "ratio_min": min(x["ratio"] for x in r),
            "ratio_median": statistics.median(x["ratio"] for x in r),
            "ratio_max": max(x["ratio"] for x in r),
            "cpu_s_before_median": statistics.median(x["cpu_s_before"] for x in r),
            "cpu_s_after_median": statistics.median(x["cpu_s_after"] for x in r),
        }
        for rule, r in rows.items()
    }
    for rule, s in summary.items():
        print(f"{rule:18s} deviation after/before: min {s['ratio_min']:.4f} median {s['ratio_median']:.4f} "
              f"max {s['ratio_max']:.4f}; attack CPU {1e3 * s['cpu_s_before_median']:.0f} → "
              f"{1e3 * s['cpu_s_after_median']:.0f} ms")  # fmt: skip
    return {"before": before["fedlib"], "after": after["fedlib"], "summary": summary, "rounds": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capture", metavar="FILE")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--search", metavar="CAPTURE")
    parser.add_argument("--out", metavar="FILE")
    parser.add_argument("--compare", nargs=3, metavar=("CAPTURE", "BEFORE", "AFTER"))
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.capture:
        capture(args.capture, args.rounds)
    if args.search:
        search(args.search, args.out)
    if args.compare:
        result = compare(*args.compare)
        if args.json:
            with open(args.json, "w") as fh:
                json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
