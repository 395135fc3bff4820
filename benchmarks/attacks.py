"""Part 2: every attack per round, ``search="halving"`` (the paper's Algorithm 1) against ``search="exact"``.

The adversary knows 40 benign updates (full knowledge, the paper's CIFAR10 setting: 50 clients, 10 of them
malicious, the server assumes f = 10) and crafts 10 malicious updates. Attacks that need a target rule are
run against every rule they accept (found by a tiny trial call, so new targets appear automatically).
Attacks without a γ search (none, LIE, Fang) have one timing, listed under ``search = "n/a"``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ._harness import profile_call, time_call

N_BENIGN = 40
N_MALICIOUS = 10
F_ASSUMED = 10
TARGET_D = 2_472_266
SEARCHED = ("tailored", "min_max", "min_sum")  # attacks whose γ comes from `search`
EXACT_TARGETS = {("min_max", None), ("min_sum", None), ("tailored", "krum"), ("tailored", "multi_krum"),
                 ("tailored", "bulyan")}  # issue 8: exact at least 10x faster than halving


def attack_options(attack: str, aggregator: str | None, benign: torch.Tensor) -> dict[str, object]:
    """Options an attack needs in this setting (total clients for LIE's z; the Fang defense's callback)."""
    options: dict[str, object] = {}
    if attack == "lie":
        options["n_total"] = N_BENIGN + N_MALICIOUS
    if attack == "tailored" and aggregator == "fang_defense":
        from .agr import SyntheticScore

        options["aggregator_options"] = {"score_fn": SyntheticScore(benign.mean(dim=0))}
    return options


def make_benign(d: int, *, seed: int, device: torch.device) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(N_BENIGN, d, generator=gen, dtype=torch.float32)
    x += 0.5 * torch.randn(1, d, generator=gen, dtype=torch.float32)
    return x.to(device)


def _craft_call(attack: str, aggregator: str | None, benign: torch.Tensor, search: str, *, seed: int):
    from fedlib.attacks import craft

    def call():
        return craft(attack, benign, N_MALICIOUS, aggregator=aggregator, f=F_ASSUMED, search=search,
                     generator=torch.Generator(device=benign.device).manual_seed(seed),
                     **attack_options(attack, aggregator, benign))

    return call


def attack_cases(
    device: torch.device, *, seed: int, first_only: bool = False
) -> tuple[list[tuple[str, str | None]], list[dict[str, object]]]:
    """(attack, target) pairs that run, found by trial on a tiny input; and the pairs that failed otherwise.

    ``first_only`` (the quick smoke run) keeps one pair per attack: the first target it accepts.
    """
    from fedlib import aggregators, attacks
    from fedlib.errors import ConfigError

    tiny = make_benign(64, seed=seed, device=device)
    cases: list[tuple[str, str | None]] = []
    failures: list[dict[str, object]] = []
    for attack in attacks.names():
        for target in [None] + aggregators.names():
            try:
                _craft_call(attack, target, tiny, "halving", seed=seed)()
            except ConfigError as exc:
                text = str(exc)
                if "needs aggregator" in text or "cannot target" in text:
                    continue  # not a combination this attack supports
                failures.append({"attack": attack, "aggregator": target, "error": f"ConfigError: {text}"})
                continue
            except Exception as exc:
                failures.append({"attack": attack, "aggregator": target, "error": f"{type(exc).__name__}: {exc}"})
                continue
            if target is not None and (attack, None) in cases:
                continue  # target ignored by an attack that also runs without one (e.g. LIE, Min-Max)
            cases.append((attack, target))
            if first_only:
                break
    return cases, failures


def run_attacks(
    *,
    d: int,
    devices: list[torch.device],
    repeats: int,
    budget_s: float,
    seed: int,
    quick: bool,
    warmup_below_s: float,
    log: Callable[[str], None],
    slow_targets: dict[str, str] | None = None,
) -> list[dict[str, object]]:
    """Time every (attack, target, search) cell. ``slow_targets`` maps a rule to the reason its
    AGR-probing attacks are not run (its own call is too slow at this d to probe it dozens of times)."""
    slow_targets = slow_targets or {}
    rows: list[dict[str, object]] = []
    for device in devices:
        cases, failures = attack_cases(device, seed=seed, first_only=quick)
        for fail in failures:
            rows.append({"part": "attacks", "d": d, "device": device.type, "search": "n/a", **fail})
            log(f"attack {fail['attack']}/{fail['aggregator']}: ERROR {fail['error']}")
        benign = make_benign(d, seed=seed, device=device)
        for attack, target in cases:
            # exact exists for Min-Max, Min-Sum and the tailored Krum family; other targets have halving only
            exact = attack in SEARCHED and (attack != "tailored" or (attack, target) in EXACT_TARGETS)
            for search in (("halving", "exact") if exact else ("halving",)):
                base = {"part": "attacks", "n_benign": N_BENIGN, "n_malicious": N_MALICIOUS, "f": F_ASSUMED,
                        "d": d, "device": device.type, "attack": attack, "aggregator": target,
                        "search": search if attack in SEARCHED else "n/a"}
                if target in slow_targets and attack == "tailored" and search == "halving":
                    rows.append({**base, "skipped": slow_targets[target]})
                    log(f"attack {attack:<9} {str(target):<13} {search:<8} skipped ({slow_targets[target]})")
                    continue
                result: dict[str, object] = {}
                fn = _craft_call(attack, target, benign, search, seed=seed)

                def keep(fn=fn, result=result):
                    result["out"] = fn()

                try:
                    t = time_call(keep, device=device, repeats=repeats, budget_s=budget_s,
                                  warmup_below_s=warmup_below_s)
                except Exception as exc:
                    rows.append({**base, "error": f"{type(exc).__name__}: {exc}"})
                    log(f"attack {attack:<9} {str(target):<13} {search:<8} ERROR {type(exc).__name__}: {exc}")
                    continue
                gamma = getattr(result.get("out"), "gamma", None)
                rows.append({**base, **t.as_dict(), "gamma": None if gamma is None else float(gamma)})
                log(f"attack {attack:<9} {str(target):<13} {base['search']:<8} {t.median_s:9.4f} s  gamma={gamma}")
        del benign
    return rows


def profile_attack(attack: str, target: str | None, search: str, d: int, device: torch.device, *, seed: int):
    benign = make_benign(d, seed=seed, device=device)
    fn = _craft_call(attack, target, benign, search, seed=seed)
    fn()
    return profile_call(fn, device=device)
