"""Part 1: every aggregation rule at n = 50 against ByzFL, a naive per-row loop and the hardware floor.

For each d and device, on one float32 matrix ``x`` (n, d) drawn once from a seeded generator, we time:

- ``fedlib``: ``fedlib.aggregators.aggregate(rule, x, f)`` (textbook variant);
- ``byzfl``: the ByzFL 0.0.11 class of the same name, called on the *same* tensor (Average, Krum,
  MultiKrum, TrMean, Median; ByzFL's Krum averages n−f−1 neighbour distances and its MultiKrum averages
  the n−f best scores of one pass, so the work is comparable, the outputs differ);
- ``naive``: the per-row-loop baselines of :mod:`benchmarks.naive` (same output as fedlib, checked);
- ``floor``: one read of the matrix, ``x.sum(dim=0)`` — no rule can be faster than that;
- ``gemm``: one Gram matrix ``x @ x.T`` — the unavoidable cost of any pairwise-distance rule.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch

from ._harness import profile_call, time_call
from .naive import BASELINES

N_CLIENTS = 50
F_ASSUMED = 10  # 20 % of 50, the paper's CIFAR10 setting
TARGET_D = 2_472_266
MEMORY_D = 9_225_610
CALIBRATION_DS = (10_000, 40_000)  # one call at each, kept out of the tables, predicts each cell's cost
BYZFL_CLASSES = {  # fedlib rule -> ByzFL class name and whether it takes f
    "mean": ("Average", False),
    "krum": ("Krum", True),
    "multi_krum": ("MultiKrum", True),
    "trimmed_mean": ("TrMean", True),
    "median": ("Median", False),
}
SELECTION_RULES = ("krum", "multi_krum", "bulyan")


def make_updates(n: int, d: int, *, seed: int, device: torch.device) -> torch.Tensor:
    """Benchmark input: a common mean direction plus unit Gaussian noise per row, float32."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen, dtype=torch.float32)
    x += 0.5 * torch.randn(1, d, generator=gen, dtype=torch.float32)
    return x.to(device)


class SyntheticScore:
    """A cheap, deterministic ``score_fn`` for the Fang defense in benchmarks: O(d) per call.

    loss(v) = ‖v − r‖² / d and error(v) = share of coordinates where sign(v) ≠ sign(r), for a fixed reference
    r. A real run evaluates the model on a validation batch instead; here we time the rule's own work.
    """

    def __init__(self, reference: torch.Tensor):
        self.reference = reference
        self.reference_sq = float(reference.dot(reference))
        self.reference_sign = torch.sign(reference)

    def __call__(self, vector: torch.Tensor):
        # Dot products only (no (d,) difference vector): the score must stay cheap next to the rule.
        sq_distance = float(vector.dot(vector)) - 2.0 * float(vector.dot(self.reference)) + self.reference_sq
        loss = sq_distance / vector.numel()
        error = float((torch.sign(vector) != self.reference_sign).sum()) / vector.numel()
        return loss, error


def rule_options(rule: str, x: torch.Tensor, *, seed: int) -> dict[str, object]:
    """Options a rule needs to run at all (callbacks, generators), passed only if its signature names them."""
    from fedlib.aggregators import get

    params = inspect.signature(get(rule)).parameters
    options: dict[str, object] = {}
    if "score_fn" in params:
        options["score_fn"] = SyntheticScore(x.mean(dim=0))
    if "generator" in params:
        options["generator"] = torch.Generator(device=x.device).manual_seed(seed)
    return options


def fedlib_call(rule: str, x: torch.Tensor, f: int, *, seed: int) -> Callable[[], torch.Tensor]:
    from fedlib.aggregators import aggregate

    def call() -> torch.Tensor:
        # Fresh options per call: a generator must start from the same state every repeat.
        return aggregate(rule, x, f, **rule_options(rule, x, seed=seed)).vector

    return call


def byzfl_call(rule: str, x: torch.Tensor, f: int) -> Callable[[], object] | None:
    if rule not in BYZFL_CLASSES:
        return None
    try:
        import byzfl
    except Exception:  # not installed, or its torchvision import fails: reported as missing
        return None
    cls_name, takes_f = BYZFL_CLASSES[rule]
    agg = getattr(byzfl, cls_name)(f=f) if takes_f else getattr(byzfl, cls_name)()
    return lambda: agg(x)


def naive_call(rule: str, x: torch.Tensor, f: int) -> Callable[[], torch.Tensor] | None:
    fn = BASELINES.get(rule)
    return None if fn is None else (lambda: fn(x, f))


def _agrees(a: torch.Tensor, b: torch.Tensor) -> bool:
    scale = float(b.abs().max()) or 1.0
    return bool(torch.allclose(a, b, rtol=1e-4, atol=1e-5 * scale))


def byzfl_available() -> str | None:
    """None when ByzFL imports, else the reason it does not."""
    try:
        import byzfl  # noqa: F401
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def run_agr(
    *,
    dims: list[int],
    devices: list[torch.device],
    rules: list[str],
    repeats: int,
    budget_s: float,
    seed: int,
    naive_max_d: int,
    max_call_s: float,
    warmup_below_s: float,
    log: Callable[[str], None],
) -> list[dict[str, object]]:
    """Time every (d, device, rule, implementation) cell; return one dict per cell.

    Sizes run in increasing order. A cell whose call is predicted to take longer than ``max_call_s``
    (:func:`predict`: a line a + b·d through the same rule and implementation at the two previous sizes,
    calibration sizes included) is not run; its row says so and gives the estimate, so that one slow rule
    cannot stall the whole benchmark.
    """
    rows: list[dict[str, object]] = []
    last: dict[tuple, list[tuple]] = {}  # (device, rule, impl) -> [(d, median seconds), ...] by increasing d
    for device in devices:
        if min(dims) > max(CALIBRATION_DS):
            last.update(_calibrate(device, rules, seed=seed, rows=rows))
        for d in sorted(dims):
            x = make_updates(N_CLIENTS, d, seed=seed, device=device)
            base = {"part": "agr", "n": N_CLIENTS, "d": d, "f": F_ASSUMED, "device": device.type, "dtype": "float32"}
            for impl, fn in (("floor", lambda x=x: x.sum(dim=0)), ("gemm", lambda x=x: x @ x.T)):
                t = time_call(fn, device=device, repeats=repeats, budget_s=budget_s, warmup_below_s=warmup_below_s)
                rows.append({**base, "rule": impl, "impl": impl, **t.as_dict()})
                log(f"agr d={d:>9} {device.type} {impl:<13} {'':<7} {t.median_s:9.4f} s")
            for rule in rules:
                outputs: dict[str, torch.Tensor] = {}
                candidates = [("fedlib", fedlib_call(rule, x, F_ASSUMED, seed=seed)),
                              ("byzfl", byzfl_call(rule, x, F_ASSUMED))]
                if d <= naive_max_d:
                    candidates.append(("naive", naive_call(rule, x, F_ASSUMED)))
                for impl, fn in candidates:
                    if fn is None:
                        continue
                    points = last.get((device.type, rule, impl), [])
                    estimate = predict(points, d)
                    if estimate is not None and estimate > max_call_s:
                        sizes = ", ".join(f"{t:.3g} s at d={pd}" for pd, t in points[-2:])
                        rows.append({**base, "rule": rule, "impl": impl, "skipped": (
                            f"estimated {estimate:.0f} s per call (a + b*d through {sizes}), "
                            f"above max_call_s={max_call_s:g}"), "estimated_s": estimate})
                        log(f"agr d={d:>9} {device.type} {rule:<13} {impl:<7} skipped (estimated {estimate:.0f} s)")
                        continue

                    def keep(fn=fn, impl=impl, outputs=outputs):
                        outputs[impl] = fn()

                    try:
                        t = time_call(keep, device=device, repeats=repeats, budget_s=budget_s,
                                      warmup_below_s=warmup_below_s)
                    except Exception as exc:  # recorded, never hidden: the table shows the error
                        rows.append({**base, "rule": rule, "impl": impl, "error": f"{type(exc).__name__}: {exc}"})
                        log(f"agr d={d:>9} {device.type} {rule:<13} {impl:<7} ERROR {type(exc).__name__}: {exc}")
                        continue
                    row = {**base, "rule": rule, "impl": impl, **t.as_dict()}
                    last.setdefault((device.type, rule, impl), []).append((d, t.median_s))
                    if impl == "naive" and "fedlib" in outputs:
                        row["agrees_with_fedlib"] = _agrees(outputs["fedlib"], torch.as_tensor(outputs["naive"]))
                    rows.append(row)
                    log(f"agr d={d:>9} {device.type} {rule:<13} {impl:<7} {t.median_s:9.4f} s")
                outputs.clear()
            del x
    return rows


def _calibrate(
    device: torch.device, rules: list[str], *, seed: int, rows: list[dict[str, object]]
) -> dict[tuple, tuple]:
    """One call per (rule, implementation) at two small d, only to predict the cost at the first real size.

    Recorded with ``part = "agr_calibration"`` (kept out of the summaries).
    """
    seen: dict[tuple, list[tuple]] = {}
    for cal_d in CALIBRATION_DS:
        _calibrate_at(cal_d, device, rules, seed=seed, rows=rows, seen=seen)
    return seen


def _calibrate_at(cal_d, device, rules, *, seed, rows, seen) -> None:
    x = make_updates(N_CLIENTS, cal_d, seed=seed, device=device)
    for rule in rules:
        for impl, fn in (("fedlib", fedlib_call(rule, x, F_ASSUMED, seed=seed)),
                         ("byzfl", byzfl_call(rule, x, F_ASSUMED)),
                         ("naive", naive_call(rule, x, F_ASSUMED))):
            if fn is None:
                continue
            try:
                t = time_call(fn, device=device, repeats=1, budget_s=0.0, warmup_below_s=0.0)
            except Exception:
                continue  # the real cells record the error
            seen.setdefault((device.type, rule, impl), []).append((cal_d, t.median_s))
            rows.append({"part": "agr_calibration", "d": cal_d, "device": device.type, "rule": rule,
                         "impl": impl, **t.as_dict()})


def predict(points: list[tuple], d: int) -> float | None:
    """Predicted seconds per call at ``d`` from earlier (d, seconds) points: the line a + b·d through the last
    two (a fixed cost such as DnC's SVD on b sampled coordinates does not grow with d), never below the
    last measured time; proportional to d with a single point; None without points."""
    if not points:
        return None
    d2, t2 = points[-1]
    if len(points) == 1:
        return t2 * d / d2
    d1, t1 = points[-2]
    slope = max(0.0, (t2 - t1) / (d2 - d1))
    return t2 + slope * (d - d2)


def profile_rule(rule: str, d: int, device: torch.device, *, seed: int) -> dict[str, object]:
    """torch.profiler top operators of one fedlib call (used where a target is missed)."""
    x = make_updates(N_CLIENTS, d, seed=seed, device=device)
    fn = fedlib_call(rule, x, F_ASSUMED, seed=seed)
    fn()  # warm-up
    return profile_call(fn, device=device)
