"""Timing, machine description, atomic JSON output and table printing shared by every benchmark part."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels so that wall-clock time covers the work (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def load1() -> float:
    """The 1-minute load average now (other processes on the machine make timings noisy)."""
    return round(os.getloadavg()[0], 2)


@dataclass
class Timing:
    """Wall-clock samples of one benchmark cell; ``median_s`` is what tables report."""

    samples: list[float]
    warmup_discarded: bool
    load1_before: float
    load1_after: float

    @property
    def median_s(self) -> float:
        return statistics.median(self.samples)

    def as_dict(self) -> dict[str, object]:
        return {
            "median_s": self.median_s,
            "min_s": min(self.samples),
            "max_s": max(self.samples),
            "samples_s": self.samples,
            "repeats": len(self.samples),
            "warmup_discarded": self.warmup_discarded,
            "load1_before": self.load1_before,
            "load1_after": self.load1_after,
        }


def time_call(
    fn: Callable[[], object],
    *,
    device: torch.device,
    repeats: int,
    budget_s: float,
    warmup_below_s: float = 2.0,
) -> Timing:
    """Median-of-repeats wall time of ``fn()``.

    The first call is a warm-up (allocator, thread pool, lazy imports). If it took less than
    ``warmup_below_s`` it is discarded and ``repeats`` further calls are timed; a slower first call is
    kept as a sample (start-up effects are negligible beside it). Repeats stop early once the time spent
    on timed calls passes ``budget_s``, but there is always at least one sample.
    """
    before = load1()
    samples: list[float] = []
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    first = time.perf_counter() - start
    discarded = first < warmup_below_s
    if not discarded:
        samples.append(first)
    while len(samples) < repeats and (not samples or sum(samples) + statistics.median(samples) <= budget_s):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        samples.append(time.perf_counter() - start)
    return Timing(samples, discarded, before, load1())


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_total_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def package_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, object]:
    """Everything needed to judge a timing: hardware, threads, versions, load."""
    info: dict[str, object] = {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch_threads": torch.get_num_threads(),
        "memory_total_gib": _memory_total_gib(),
        "torch": torch.__version__,
        "numpy": package_version("numpy"),
        "byzfl": package_version("byzfl"),
        "fedlib": package_version("fedlib-ndss21"),
        "git_commit": _git_commit(),
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "loadavg_start": [round(v, 2) for v in os.getloadavg()],
        "env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ},
    }
    return info


def atomic_write_json(path: Path, payload: dict[str, object]) -> None:
    """Write JSON to a temporary file in the same folder, fsync, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(payload, fh, indent=1, sort_keys=False, allow_nan=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def format_table(rows: Sequence[dict[str, object]], columns: Sequence[str], title: str = "") -> str:
    """Plain fixed-width table of ``rows`` (dicts) restricted to ``columns``; floats get 4 significant digits."""

    def cell(value: object) -> str:
        if value is None:
            return "-"
        if isinstance(value, bool):
            return "yes" if value else "NO"
        if isinstance(value, float):
            return f"{value:.4g}"
        return str(value)

    text = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(t[i]) for t in text]) for i, c in enumerate(columns)]
    lines = []
    if title:
        lines.append(title)
    lines.append("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(t, widths, strict=True)) for t in text]
    return "\n".join(lines)


def profile_call(fn: Callable[[], object], *, device: torch.device, row_limit: int = 8) -> dict[str, object]:
    """One call of ``fn`` under torch.profiler: the top operators by self time (what bounds the call)."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        fn()
        synchronize(device)
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    events = sorted(prof.key_averages(), key=lambda e: getattr(e, key, 0.0), reverse=True)
    total = sum(getattr(e, key, 0.0) for e in events) or 1.0
    top = [
        {
            "op": e.key,
            "self_ms": round(getattr(e, key, 0.0) / 1e3, 3),
            "share": round(getattr(e, key, 0.0) / total, 3),
            "calls": e.count,
        }
        for e in events[:row_limit]
    ]
    return {"total_self_ms": round(total / 1e3, 3), "top_ops": top}
