"""Part 4: wall time of the quick-profile book build (``make book``: execute every notebook, then build HTML).

It is long, so ``run.py`` measures it only with ``--book-build``; the measurement is also written to
``results/book_build.json`` and later runs without the flag report that file (with its date) instead.
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

from ._harness import ROOT, atomic_write_json, load1

TIMING_FILE = "book_build.json"


def measure_book_build(results_dir: Path, *, profile: str = "quick") -> dict[str, object]:
    """Run ``make notebooks`` and ``make html`` with the given profile; time each; save and return the record."""
    record: dict[str, object] = {"profile": profile, "load1_before": load1(),
                                 "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    total = 0.0
    for target in ("notebooks", "html"):
        start = time.perf_counter()
        proc = subprocess.run(["make", target, f"PROFILE={profile}"], cwd=ROOT, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        total += elapsed
        record[f"{target}_s"] = elapsed
        record[f"{target}_returncode"] = proc.returncode
        if proc.returncode != 0:
            record[f"{target}_stderr_tail"] = proc.stderr[-2000:]
    record["total_s"] = total
    record["load1_after"] = load1()
    record["ok"] = all(record[f"{t}_returncode"] == 0 for t in ("notebooks", "html"))
    atomic_write_json(results_dir / TIMING_FILE, record)
    return record


def read_book_build(results_dir: Path) -> dict[str, object] | None:
    path = results_dir / TIMING_FILE
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    record["source"] = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
    return record
