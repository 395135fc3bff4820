"""Peak extra memory of aggregation calls, measured in a process of its own.

Run by ``run.py`` as ``python -m benchmarks.memprobe --impl fedlib --rules krum --d 9225610``; prints one
JSON object per rule on stdout. On CPU the peak is the kernel's resident-set high-water mark (VmHWM),
reset before each call through ``/proc/self/clear_refs`` (Linux ≥ 4.0), so

    extra = VmHWM after the call − VmRSS just before it

counts every page the call touched beyond the input, whoever allocated it (torch, numpy, Python). On CUDA
it is ``torch.cuda.max_memory_allocated`` above the allocation before the call. ``run.py`` starts one
fresh process per call (``--rules`` with one name) so that nothing cached by an earlier call hides a peak.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.agr import F_ASSUMED, N_CLIENTS, byzfl_call, fedlib_call, make_updates, naive_call  # noqa: E402


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field} line (this probe needs Linux)")


def _reset_high_water() -> None:
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def measure(impl: str, rule: str, x: torch.Tensor, *, seed: int) -> dict[str, object]:
    maker = {"fedlib": lambda m: fedlib_call(rule, m, F_ASSUMED, seed=seed),
             "byzfl": lambda m: byzfl_call(rule, m, F_ASSUMED),
             "naive": lambda m: naive_call(rule, m, F_ASSUMED)}[impl]
    fn = maker(x)
    if fn is None:
        return {"impl": impl, "rule": rule, "error": "no such implementation"}
    input_bytes = x.numel() * x.element_size()
    # Warm-up on a tiny matrix: lazy imports, thread pools and allocator set-up are not the rule's memory.
    small = x[:, : min(x.shape[1], 4096)].contiguous()
    maker(small)()
    del small
    gc.collect()
    if x.is_cuda:
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        out = fn()
        torch.cuda.synchronize()
        extra = torch.cuda.max_memory_allocated() - before
        method = "torch.cuda.max_memory_allocated"
    else:
        _reset_high_water()
        before = _status_kib("VmRSS")
        out = fn()
        # The kernel batches per-thread RSS counters (~64 pages), so tiny calls can read a few hundred KiB
        # below zero: clamp; the resolution is far below the 100 MB-GB peaks this probe is for.
        extra = max(0, (_status_kib("VmHWM") - before) * 1024)
        method = "VmHWM-VmRSS (clear_refs reset)"
    del out
    return {
        "impl": impl,
        "rule": rule,
        "input_bytes": input_bytes,
        "peak_extra_bytes": int(extra),
        "extra_over_input": extra / input_bytes,
        "method": method,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--impl", choices=("fedlib", "byzfl", "naive"), required=True)
    parser.add_argument("--rules", required=True, help="comma-separated rule names")
    parser.add_argument("--d", type=int, required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    x = make_updates(N_CLIENTS, args.d, seed=args.seed, device=torch.device(args.device))
    for rule in args.rules.split(","):
        try:
            result = measure(args.impl, rule, x, seed=args.seed)
        except Exception as exc:  # reported to the parent, which records it
            result = {"impl": args.impl, "rule": rule, "error": f"{type(exc).__name__}: {exc}"}
        result.update(d=args.d, device=args.device)
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
