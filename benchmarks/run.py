#!/usr/bin/env python
"""fedlib benchmarks: one command, one JSON file, one printed table.

    .venv/bin/python benchmarks/run.py            # full run (issue 8), about 35-50 min on a quiet 2-core CPU
    .venv/bin/python benchmarks/run.py --quick    # smoke run at small sizes, well under 1 min

Parts (``--parts``, default all but ``book``; ``--book-build`` adds the long book build):

1. ``agr``     every aggregation rule, n = 50, d in {100,000; 2,472,266; 9,225,610}, float32, on CPU (and
               CUDA when present): fedlib vs ByzFL vs a naive per-row loop vs the memory floor (column sum)
               and one GEMM (X Xᵀ);
   ``memory``  peak extra memory of every rule at d = 9,225,610, one fresh process per call;
2. ``attacks`` every attack per round (40 benign, 10 malicious, d = 2,472,266), halving vs exact γ search;
3. ``fedsgd``  one FedSGD round at CIFAR10-Alexnet (50 × 250), FEMNIST-CNN (60 × 200), MNIST-FC (100 × 100)
               and Purchase100-FC (80 × 500) size, loop vs vmap (and which one ``method="auto"`` picks);
4. ``book``    the quick-profile book build: measured with ``--book-build``, else read from
               ``results/book_build.json`` if an earlier run measured it.

Writes ``benchmarks/results/<name>.json`` atomically (default name: ``full`` or ``quick``) with every timing
(median of repeats, all samples, the 1-minute load average before and after each cell), the machine, the
issue's targets as ratios measured in this run, and a torch.profiler breakdown wherever a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from benchmarks import agr as agr_part  # noqa: E402
from benchmarks import attacks as attack_part  # noqa: E402
from benchmarks import book as book_part  # noqa: E402
from benchmarks import fedsgd as fedsgd_part  # noqa: E402
from benchmarks._harness import atomic_write_json, format_table, machine_info  # noqa: E402

SCHEMA = 1
PARTS = ("agr", "memory", "attacks", "fedsgd", "book")
FULL = {"dims": [100_000, 2_472_266, 9_225_610], "memory_d": agr_part.MEMORY_D, "attack_d": attack_part.TARGET_D,
        "repeats": 5, "budget_s": 30.0, "max_call_s": 300.0, "max_profiles": None, "fedsgd_quick": False,
        "warmup_below_s": 2.0}
QUICK = {"dims": [2_000], "memory_d": 2_000, "attack_d": 1_000, "repeats": 1, "budget_s": 0.5, "max_call_s": 10.0,
         "max_profiles": 1, "fedsgd_quick": True,
         "warmup_below_s": 0.0}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes, 2 repeats: a smoke test (< 1 min)")
    p.add_argument("--parts", default="agr,memory,attacks,fedsgd,book",
                   help=f"comma-separated subset of {','.join(PARTS)} (book only reads the timing file "
                        "unless --book-build)")
    p.add_argument("--book-build", action="store_true", help="measure `make notebooks` + `make html` (long)")
    p.add_argument("--name", default=None, help="result name: results/<name>.json (default: full or quick)")
    p.add_argument("--results-dir", type=Path, default=ROOT / "benchmarks" / "results")
    p.add_argument("--dims", default=None, help="comma-separated d values for the agr part")
    p.add_argument("--rules", default=None, help="comma-separated rules (default: every fedlib rule)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats per cell (median reported)")
    p.add_argument("--budget", type=float, default=None, help="seconds of timed calls per cell before stopping")
    p.add_argument("--naive-max-d", type=int, default=None, help="skip naive baselines above this d")
    p.add_argument("--max-call-s", type=float, default=None,
                   help="skip an AGR cell whose call is predicted (from the previous d) to take longer (full: 300)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="auto: CPU, plus CUDA when present")
    p.add_argument("--no-profile", action="store_true", help="do not profile missed targets")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def pick_devices(choice: str) -> list[torch.device]:
    if choice == "cpu":
        return [torch.device("cpu")]
    if choice == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: no CUDA device is visible to torch")
        return [torch.device("cuda")]
    return [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])


# ---------------------------------------------------------------------------------------------- memory


def too_slow(agr_rows: list[dict], d: int, device: str, max_call_s: float) -> dict[tuple, str]:
    """(impl, rule) pairs whose call at ``d`` the agr part predicts above ``max_call_s``: not re-run for memory."""
    largest: dict[tuple, dict] = {}
    for r in agr_rows:
        if r["device"] == device and r["d"] <= d and ("median_s" in r or "estimated_s" in r):
            key = (r["impl"], r["rule"])
            if key not in largest or r["d"] > largest[key]["d"]:
                largest[key] = r
    slow = {}
    for key, r in largest.items():
        estimate = r.get("median_s", r.get("estimated_s")) * d / r["d"]
        if estimate > max_call_s:
            slow[key] = (f"estimated {estimate:.0f} s per call at d={d} (from d={r['d']}), "
                         f"above max_call_s={max_call_s:g}")
    return slow


# Rule calls one AGR-probing search makes (halving: ~25 probes; the textbook trimmed-mean/median objective
# search: a grid plus golden-section steps), for predicting a search's time from one call's.
PROBES_PER_SEARCH = 40


def slow_attack_targets(agr_rows: list[dict], d: int, max_call_s: float) -> dict[str, str]:
    """Rules too slow to be probed by a search at this d: PROBES_PER_SEARCH fedlib calls predicted above
    ``max_call_s``."""
    slow = too_slow(agr_rows, d, "cpu", max_call_s / PROBES_PER_SEARCH)
    return {rule: f"halving would probe {reason}" for (impl, rule), reason in slow.items() if impl == "fedlib"}


def run_memory(*, d: int, rules: list[str], devices: list[torch.device], quick: bool, seed: int,
               agr_rows: list[dict], max_call_s: float) -> list[dict]:
    """Peak extra memory per call: one fresh process per (impl, rule) (quick: one process per impl).

    Calls the agr part found too slow at this d are recorded as skipped instead of run.
    """
    impls = ["fedlib"] if quick else ["fedlib"] + (["byzfl"] if agr_part.byzfl_available() is None else [])
    rows: list[dict] = []
    for device in devices:
        slow = too_slow(agr_rows, d, device.type, max_call_s)
        for impl in impls:
            impl_rules = rules if impl == "fedlib" else [r for r in rules if r in agr_part.BYZFL_CLASSES]
            for r in [r for r in impl_rules if (impl, r) in slow]:
                rows.append({"part": "memory", "impl": impl, "rule": r, "d": d, "device": device.type,
                             "skipped": slow[(impl, r)]})
                log(f"memory {impl:<7} {r:<13} skipped ({slow[(impl, r)]})")
            impl_rules = [r for r in impl_rules if (impl, r) not in slow]
            batches = [impl_rules] if quick else [[r] for r in impl_rules]
            for batch in [b for b in batches if b]:
                cmd = [sys.executable, "-m", "benchmarks.memprobe", "--impl", impl, "--rules", ",".join(batch),
                       "--d", str(d), "--device", device.type, "--seed", str(seed)]
                proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
                lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
                if proc.returncode != 0 or len(lines) != len(batch):
                    tail = proc.stderr.strip().splitlines()[-3:]
                    lines += [{"impl": impl, "rule": r, "d": d, "device": device.type,
                               "error": f"probe exited {proc.returncode}: {' | '.join(tail)}"}
                              for r in batch[len(lines):]]
                for row in lines:
                    row["part"] = "memory"
                    row["fresh_process_per_call"] = not quick
                    rows.append(row)
                    if "error" in row:
                        log(f"memory {impl:<7} {row['rule']:<13} ERROR {row['error']}")
                    else:
                        log(f"memory {impl:<7} {row['rule']:<13} extra {row['peak_extra_bytes'] / 2**20:9.1f} MiB "
                            f"= {row['extra_over_input']:.2f} x input")
    return rows


# ---------------------------------------------------------------------------------------------- summaries


def summarize_agr(rows: list[dict]) -> list[dict]:
    """One row per (device, d, rule): fedlib, ByzFL and naive medians, floor and GEMM, and the ratios."""
    rows = [r for r in rows if r["part"] == "agr"]
    cell = {(r["device"], r["d"], r["rule"], r["impl"]): r for r in rows if "median_s" in r}
    errors = {(r["device"], r["d"], r["rule"], r["impl"]): r["error"] for r in rows if "error" in r}
    skipped = {(r["device"], r["d"], r["rule"], r["impl"]): r["skipped"] for r in rows if "skipped" in r}
    out = []
    for (device, d, rule, impl), r in sorted(cell.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        if impl != "fedlib":
            continue
        get = lambda i, rl=rule, dv=device, dd=d: cell.get((dv, dd, rl, i), {}).get("median_s")  # noqa: E731
        fed, byz, naive = r["median_s"], get("byzfl"), get("naive")
        floor, gemm = get("floor", "floor"), get("gemm", "gemm")
        out.append({
            "device": device, "d": d, "rule": rule, "fedlib_s": fed, "byzfl_s": byz, "naive_s": naive,
            "floor_s": floor, "gemm_s": gemm,
            "byzfl_over_fedlib": None if byz is None else byz / fed,
            "naive_over_fedlib": None if naive is None else naive / fed,
            "fedlib_over_floor": None if floor is None else fed / floor,
            "fedlib_over_gemm": None if gemm is None else fed / gemm,
            "naive_agrees": cell.get((device, d, rule, "naive"), {}).get("agrees_with_fedlib"),
            "load1": r["load1_before"],
        })
    for (device, d, rule, impl), err in list(errors.items()) + list(skipped.items()):
        if impl == "fedlib":
            out.append({"device": device, "d": d, "rule": rule, "error": err})
    for s in out:  # name what was not measured so that a missing ratio is never mistaken for a missing rule
        if "error" not in s:
            notes = [f"{i}: {skipped[(s['device'], s['d'], s['rule'], i)]}" for i in ("byzfl", "naive")
                     if (s["device"], s["d"], s["rule"], i) in skipped]
            if notes:
                s["note"] = "; ".join(notes)
    out.sort(key=lambda s: (s["device"], s["d"]))
    return out


def summarize_attacks(rows: list[dict]) -> list[dict]:
    by_key: dict[tuple, dict[str, dict]] = {}
    for r in rows:
        if "attack" in r:
            by_key.setdefault((r["device"], r["attack"], r.get("aggregator")), {})[r["search"]] = r
    out = []
    for (device, attack, target), runs in by_key.items():
        h, e, na = runs.get("halving", {}), runs.get("exact", {}), runs.get("n/a", {})
        row = {"device": device, "attack": attack, "aggregator": target,
               "halving_s": h.get("median_s", na.get("median_s")), "exact_s": e.get("median_s"),
               "gamma_halving": h.get("gamma"), "gamma_exact": e.get("gamma"),
               "error": h.get("error") or e.get("error") or na.get("error"),
               "skipped": h.get("skipped")}
        if row["halving_s"] is not None and row["exact_s"] is not None:
            row["halving_over_exact"] = row["halving_s"] / row["exact_s"]
        out.append(row)
    return out


def summarize_fedsgd(rows: list[dict]) -> list[dict]:
    out = []
    for case in dict.fromkeys(r["case"] for r in rows):
        for device in dict.fromkeys(r["device"] for r in rows):
            runs = {r["method"]: r for r in rows if r["case"] == case and r["device"] == device}
            loop, vmap = runs.get("loop", {}).get("median_s"), runs.get("vmap", {}).get("median_s")
            any_row = next(iter(runs.values()), {})
            out.append({"case": case, "device": device, "clients": any_row.get("clients"),
                        "batch": any_row.get("batch"), "d": any_row.get("d"), "loop_s": loop, "vmap_s": vmap,
                        "loop_over_vmap": None if not (loop and vmap) else loop / vmap,
                        "vmap_agrees": runs.get("vmap", {}).get("agrees_with_loop"),
                        "auto_picks": any_row.get("auto_method"),
                        "error": runs.get("loop", {}).get("error") or runs.get("vmap", {}).get("error")})
    return out


# ---------------------------------------------------------------------------------------------- targets


def _target(tid: str, text: str, value: float | None, threshold: float, op: str, **where) -> dict:
    met = None if value is None else (value >= threshold if op == ">=" else value <= threshold)
    return {"id": tid, "target": text, "value": value, "threshold": threshold, "op": op, "met": met, **where}


def evaluate_targets(result: dict, *, target_d: int) -> list[dict]:
    """The issue's targets as ratios measured in this run (CPU rows; ``d`` says at which size)."""
    targets = []
    for s in result.get("agr_summary", []):
        if s["device"] != "cpu" or s["d"] != target_d or "error" in s:
            continue
        if s["rule"] in agr_part.BYZFL_CLASSES:
            targets.append(_target(f"byzfl/{s['rule']}", "at least 3x faster than ByzFL", s["byzfl_over_fedlib"],
                                   3.0, ">=", rule=s["rule"], d=s["d"], device="cpu"))
        if s["rule"] in agr_part.SELECTION_RULES:
            targets.append(_target(f"gemm/{s['rule']}", "within 3x of one GEMM (X X^T)", s["fedlib_over_gemm"],
                                   3.0, "<=", rule=s["rule"], d=s["d"], device="cpu"))
    for s in result.get("attack_summary", []):
        if s["device"] == "cpu" and (s["attack"], s["aggregator"]) in attack_part.EXACT_TARGETS:
            targets.append(_target(f"exact/{s['attack']}/{s['aggregator']}", "exact gamma at least 10x faster "
                                   "than halving", s.get("halving_over_exact"), 10.0, ">=", attack=s["attack"],
                                   aggregator=s["aggregator"], d=result["config"]["attack_d"], device="cpu"))
    for s in result.get("fedsgd_summary", []):
        if s["device"] == "cpu":
            targets.append(_target(f"vmap/{s['case']}", "vmap round at least 2x faster than loop on CPU",
                                   s["loop_over_vmap"], 2.0, ">=", case=s["case"], device="cpu"))
    for m in result.get("memory", []):
        if m.get("impl") == "fedlib":
            targets.append(_target(f"memory/{m['rule']}", "peak extra memory at most 3x the input",
                                   m.get("extra_over_input"), 3.0, "<=", rule=m["rule"], d=m["d"],
                                   device=m["device"]))
    return targets


def profile_missed(targets: list[dict], *, quick: bool, seed: int, max_profiles: int | None) -> dict[str, dict]:
    """Profile (torch.profiler, top operators by self time) every missed speed target, at most
    ``max_profiles`` distinct calls (None: all); each target names its profile in ``target["profile"]``."""
    cpu = torch.device("cpu")
    done: dict[str, dict] = {}
    for t in targets:
        if t["met"] is not False or t["id"].startswith("memory/"):
            continue
        if max_profiles is not None and len(done) >= max_profiles:
            break
        try:
            if t["id"].startswith(("byzfl/", "gemm/")):
                key = f"agr/{t['rule']}/{t['d']}"
                if key not in done:
                    done[key] = agr_part.profile_rule(t["rule"], t["d"], cpu, seed=seed)
            elif t["id"].startswith("exact/"):
                key = f"attack/{t['attack']}/{t['aggregator']}"
                if key not in done:
                    done[key] = {s: attack_part.profile_attack(t["attack"], t["aggregator"], s, t["d"], cpu, seed=seed)
                                 for s in ("halving", "exact")}
            elif t["id"].startswith("vmap/"):
                key = f"fedsgd/{t['case']}"
                if key not in done:
                    done[key] = {m: fedsgd_part.profile_round(t["case"], m, cpu, quick=quick, seed=seed)
                                 for m in ("loop", "vmap")}
            else:
                continue
        except Exception as exc:  # the profile is a diagnosis; its failure is recorded, not fatal
            done[key] = {"error": f"{type(exc).__name__}: {exc}"}
        t["profile"] = key
    return done


# ---------------------------------------------------------------------------------------------- printing


def print_report(result: dict) -> None:
    def show(rows, cols, title):
        if rows:
            print(format_table(rows, cols, title) + "\n")

    show(result.get("agr_summary"), ["device", "d", "rule", "fedlib_s", "byzfl_s", "naive_s", "floor_s", "gemm_s",
                                     "byzfl_over_fedlib", "naive_over_fedlib", "fedlib_over_floor",
                                     "fedlib_over_gemm", "naive_agrees", "load1", "note", "error"],
         "AGR, n=50, float32: median seconds per call (ratios > 1 in *_over_fedlib = fedlib faster)")
    show([m for m in result.get("memory", [])], ["device", "d", "impl", "rule", "peak_extra_bytes",
                                                  "extra_over_input", "error", "skipped"],
         "Peak extra memory per AGR call (bytes above the input; ratio to the input matrix)")
    show(result.get("attack_summary"), ["device", "attack", "aggregator", "halving_s", "exact_s",
                                        "halving_over_exact", "gamma_halving", "gamma_exact", "error", "skipped"],
         f"Attacks per round, 40 benign + 10 malicious, d={result['config']['attack_d']}: median seconds")
    show(result.get("fedsgd_summary"), ["case", "device", "clients", "batch", "d", "auto_picks", "loop_s", "vmap_s",
                                        "loop_over_vmap", "vmap_agrees", "error"],
         "One FedSGD round (client gradients + mean + server step): median seconds")
    book = result.get("book")
    if book:
        print(f"Book build ({book.get('profile')} profile): {book.get('total_s', float('nan')):.1f} s "
              f"(notebooks {book.get('notebooks_s', float('nan')):.1f} s, "
              f"html {book.get('html_s', float('nan')):.1f} s,"
              f" ok={book.get('ok')}, measured {book.get('measured_at')})\n")
    show(result.get("targets"), ["id", "target", "value", "op", "threshold", "met", "profile"],
         "Issue 8 targets (measured ratios in this run)")


# ---------------------------------------------------------------------------------------------- main


def checkpoint(out_path: Path, result: dict) -> None:
    """Save what is measured so far (``"complete": false``), so that a crash late in a long run loses nothing."""
    atomic_write_json(out_path, {**result, "complete": False})


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    preset = dict(QUICK if args.quick else FULL)
    if args.dims:
        preset["dims"] = [int(v) for v in args.dims.split(",")]
    if args.repeats is not None:
        preset["repeats"] = args.repeats
    if args.budget is not None:
        preset["budget_s"] = args.budget
    if args.max_call_s is not None:
        preset["max_call_s"] = args.max_call_s
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise SystemExit(f"--parts: unknown part(s) {unknown}; choose from {list(PARTS)}")
    devices = pick_devices(args.device)
    name = args.name or ("quick" if args.quick else "full")
    out_path = args.results_dir / f"{name}.json"

    import fedlib.aggregators as aggregators

    rules = args.rules.split(",") if args.rules else aggregators.names()
    target_d = agr_part.TARGET_D if agr_part.TARGET_D in preset["dims"] else max(
        [d for d in preset["dims"] if d <= agr_part.TARGET_D] or preset["dims"])
    started = time.perf_counter()
    result: dict = {
        "schema": SCHEMA,
        "name": name,
        "mode": "quick" if args.quick else "full",
        "command": " ".join([Path(sys.executable).name, "benchmarks/run.py"]
                            + (argv if argv is not None else sys.argv[1:])),
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "config": {**preset, "parts": parts, "devices": [d.type for d in devices], "rules": rules, "seed": args.seed,
                   "n": agr_part.N_CLIENTS, "f": agr_part.F_ASSUMED, "target_d": target_d,
                   "naive_max_d": args.naive_max_d, "byzfl_unavailable": agr_part.byzfl_available()},
    }
    log(f"benchmarks: {name} ({result['mode']}), parts {parts}, devices {[d.type for d in devices]}, "
        f"load {result['machine']['loadavg_start']}")
    if "agr" in parts:
        result["agr"] = agr_part.run_agr(dims=preset["dims"], devices=devices, rules=rules, repeats=preset["repeats"],
                                         budget_s=preset["budget_s"], seed=args.seed,
                                         naive_max_d=args.naive_max_d or max(preset["dims"]),
                                         max_call_s=preset["max_call_s"], warmup_below_s=preset["warmup_below_s"],
                                         log=log)
        result["agr_summary"] = summarize_agr(result["agr"])
    checkpoint(out_path, result)
    if "memory" in parts:
        result["memory"] = run_memory(d=preset["memory_d"], rules=rules, devices=devices, quick=args.quick,
                                      seed=args.seed, agr_rows=result.get("agr", []),
                                      max_call_s=preset["max_call_s"])
    checkpoint(out_path, result)
    if "attacks" in parts:
        result["attacks"] = attack_part.run_attacks(d=preset["attack_d"], devices=devices, repeats=preset["repeats"],
                                                    budget_s=preset["budget_s"], seed=args.seed, quick=args.quick,
                                                    warmup_below_s=preset["warmup_below_s"], log=log,
                                                    slow_targets=slow_attack_targets(result.get("agr", []),
                                                                                     preset["attack_d"],
                                                                                     preset["max_call_s"]))
        result["attack_summary"] = summarize_attacks(result["attacks"])
    checkpoint(out_path, result)
    if "fedsgd" in parts:
        result["fedsgd"] = fedsgd_part.run_fedsgd(quick=preset["fedsgd_quick"], devices=devices,
                                                  repeats=min(preset["repeats"], 3),
                                                  budget_s=preset["budget_s"], seed=args.seed,
                                                  warmup_below_s=preset["warmup_below_s"], log=log)
        result["fedsgd_summary"] = summarize_fedsgd(result["fedsgd"])
    if "book" in parts:
        result["book"] = (book_part.measure_book_build(args.results_dir) if args.book_build
                          else book_part.read_book_build(args.results_dir))
    checkpoint(out_path, result)
    result["targets"] = evaluate_targets(result, target_d=target_d)
    if not args.no_profile:
        result["profiles"] = profile_missed(result["targets"], quick=preset["fedsgd_quick"], seed=args.seed,
                                            max_profiles=preset["max_profiles"])
    result["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    result["wall_s"] = time.perf_counter() - started
    result["complete"] = True
    atomic_write_json(out_path, result)
    print_report(result)
    print(f"wrote {out_path} ({result['wall_s']:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
