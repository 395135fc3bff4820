"""Every known paper number beside ours, with a reproduced / not-reproduced verdict by a stated rule.

**The rule.** A paper number is *reproduced* when we have a result in the paper's own setting (the
``full`` profile, same dataset and model) and

- an impact (pp) is within ``max(5 pp, 2 × the std over seeds)`` of the paper's;
- a ratio stated as a range (e.g. 1.5×–60×) has every one of our ratios inside the range, and a ratio
  stated as one number is matched within ±25 %.

Anything else is *not reproduced*, with the reason (most often: the paper's dataset is not available,
so the setting was not run). Results of the ``quick`` and ``scale`` profiles are shown as an
*analogue* — the same quantity on a different, smaller problem — with whether the analogue satisfies
the same rule; an analogue never makes a verdict.

Example:
    >>> verdict_for_impact(45.6, 44.0, 1.0)
    True
"""

from __future__ import annotations

import math
from typing import Dict, Iterable, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from .paper import EXISTING_AGRS, NUMBERS, PaperNumber

IMPACT_TOLERANCE_PP = 5.0
RATIO_TOLERANCE = 0.25
OURS = ("tailored", "min_max", "min_sum")
PRIOR = ("fang", "lie")
RULE = (f"Reproduced = a result in the paper's own setting (full profile, same dataset and model) that "
        f"matches: impacts within max({IMPACT_TOLERANCE_PP:g} pp, 2 × std over seeds); ratios stated as a range "
        f"inside that range; single ratios within ±{RATIO_TOLERANCE:.0%}. Otherwise not reproduced. Quick/scale "
        f"results are analogues on other data and never decide a verdict.")


def verdict_for_impact(paper: float, ours: float, sd: float = 0.0) -> bool:
    """The impact rule: ``abs(ours - paper) <= max(5 pp, 2·sd)``."""
    if ours is None or not math.isfinite(ours):
        return False
    sd = 0.0 if sd is None or not math.isfinite(sd) else sd
    return abs(ours - paper) <= max(IMPACT_TOLERANCE_PP, 2.0 * sd)


def verdict_for_ratio(low: float, high: float, ours: Sequence[float]) -> bool:
    """The ratio rule: every ratio in [low, high] (a range) or within ±25 % of a single stated value."""
    ours = [r for r in ours if r is not None and math.isfinite(r)]
    if not ours:
        return False
    if high == low:
        low, high = low * (1 - RATIO_TOLERANCE), high * (1 + RATIO_TOLERANCE)
    return all(low <= r <= high for r in ours)


def _mean_sd(values: pd.Series) -> Tuple[float, float]:
    values = values.dropna()
    if values.empty:
        return math.nan, math.nan
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def _attack_impacts(imp: pd.DataFrame, attack: str) -> pd.DataFrame:
    if attack == "agnostic":
        return imp[imp.attack.isin(["min_max", "min_sum"])]
    return imp[imp.attack == attack]


def _per_setting_ratios(imp: pd.DataFrame, ours: Sequence[str], prior: Sequence[str] = PRIOR) -> list[float]:
    """Largest mean impact of ``ours`` ÷ largest of ``prior``, per (dataset, model, aggregator, knowledge)."""
    ratios = []
    for _, g in imp.groupby(["dataset", "model", "aggregator", "knowledge"]):
        means = g.groupby("attack").impact.mean()
        top_ours = means.reindex(list(ours)).max()  # skipna: attacks without a run are ignored
        top_prior = means.reindex(list(prior)).max()
        if np.isfinite(top_ours) and np.isfinite(top_prior) and top_prior > 0:
            ratios.append(float(top_ours / top_prior))
    return ratios


def measure(number: PaperNumber, imp: pd.DataFrame, dnc_imp: Optional[pd.DataFrame] = None) -> Dict[str, object]:
    """Our value of the quantity ``number`` measures, from per-seed impacts ``imp`` of one dataset/model
    (columns aggregator, attack, knowledge, seed, impact) and, for DnC numbers, DnC's impacts ``dnc_imp``.

    Returns ``{"value": float, "sd": float, "ratios": list, "text": str}`` (NaN when not measurable).
    """
    nan = {"value": math.nan, "sd": math.nan, "ratios": [], "text": "–"}
    if imp is None or imp.empty:
        return nan
    if number.kind == "impact":
        sub = _attack_impacts(imp, number.attack)
        if number.knowledge:
            sub = sub[sub.knowledge == number.knowledge]
        if number.aggregator:
            sub = sub[sub.aggregator == number.aggregator]
        if sub.empty:
            return nan
        # The sentence does not name the rule: the largest mean impact over the rules (and, for
        # "agnostic", over Min-Max and Min-Sum).
        means = sub.groupby(["aggregator", "attack"]).impact.agg(["mean", "std"]).reset_index()
        best = means.loc[means["mean"].idxmax()]
        sd = 0.0 if not np.isfinite(best["std"]) else float(best["std"])
        return {"value": float(best["mean"]), "sd": sd, "ratios": [],
                "text": f"{best['mean']:.1f} ({best['aggregator']}, {best['attack']})"}
    if number.kind == "ratio":
        sub = imp if number.aggregator is None else imp[imp.aggregator == number.aggregator]
        if number.key == "abstract_dnc_ratio":  # one ratio per (dataset, model)
            ratios = []
            for (ds, model), group in imp.groupby(["dataset", "model"]):
                d = None if dnc_imp is None else dnc_imp[(dnc_imp.dataset == ds) & (dnc_imp.model == model)]
                existing, dnc = _max_impacts(group, d)
                if np.isfinite(existing) and np.isfinite(dnc) and dnc > 0:
                    ratios.append(existing / dnc)
            if not ratios:
                return nan
            lo, hi = min(ratios), max(ratios)
            text = f"{lo:.1f}×" if math.isclose(lo, hi) else f"{lo:.1f}×–{hi:.1f}×"
            return {"value": hi, "sd": 0.0, "ratios": ratios, "text": text}
        ours = OURS if number.attack is None else (("min_max", "min_sum") if number.attack == "agnostic"
                                                   else (number.attack,))
        ratios = _per_setting_ratios(sub, ours)
        if not ratios:
            return nan
        lo, hi = min(ratios), max(ratios)
        text = f"{lo:.1f}×" if math.isclose(lo, hi) else f"{lo:.1f}×–{hi:.1f}×"
        return {"value": hi, "sd": 0.0, "ratios": ratios, "text": text}
    if number.kind == "max_impact":
        existing, dnc = _max_impacts(imp, dnc_imp)
        value = dnc if number.aggregator == "dnc" else existing
        if not np.isfinite(value):
            return nan
        return {"value": value, "sd": 0.0, "ratios": [], "text": f"{value:.1f}"}
    raise ValueError(f"unknown kind {number.kind!r}")


def _max_impacts(imp: pd.DataFrame, dnc_imp: Optional[pd.DataFrame]) -> Tuple[float, float]:
    """(most robust existing rule's largest mean impact over attacks, DnC's largest mean impact)."""
    existing = imp[imp.aggregator.isin(EXISTING_AGRS)]
    if existing.empty:
        worst_existing = math.nan
    else:
        per_rule = existing.groupby(["aggregator", "attack", "knowledge"]).impact.mean().groupby("aggregator").max()
        worst_existing = float(per_rule.min())
    if dnc_imp is None or dnc_imp.empty:
        return worst_existing, math.nan
    worst_dnc = float(dnc_imp.groupby(["attack", "knowledge"]).impact.mean().max())
    return worst_existing, worst_dnc


def judge(number: PaperNumber, measured: Dict[str, object]) -> bool:
    if number.kind == "ratio":
        return verdict_for_ratio(number.value, number.high, measured["ratios"])
    return verdict_for_impact(number.value, measured["value"], measured["sd"])


def summary_table(
    results: Dict[Tuple[str, str, str], Tuple[pd.DataFrame, Optional[pd.DataFrame]]],
    numbers: Iterable[PaperNumber] = NUMBERS,
) -> pd.DataFrame:
    """One row per paper number: the paper's value, ours in its setting (full profile) if we have it, the
    verdict and its reason, and the analogue from quick/scale results.

    ``results`` maps (profile, dataset, model) to (per-seed impacts of the existing rules, per-seed impacts
    on DnC or None).
    """
    rows = []
    for p in numbers:
        row = {"paper number": p.key, "setting": p.setting, "quantity": p.quantity, "paper": p.shown,
               "source": p.source}
        own = [(k, v) for k, v in results.items() if k[0] == "full" and _matches(p, k[1], k[2])]
        if own:
            # A claim about every setting (dataset None) is measured on all full-profile settings together.
            imp = pd.concat([v[0] for _, v in own])
            dncs = [v[1] for _, v in own if v[1] is not None]
            dnc = pd.concat(dncs) if dncs else None
            measured = measure(p, imp, dnc)
            ok = judge(p, measured)
            row.update({"ours (paper's setting)": measured["text"],
                        "verdict": "reproduced" if ok else "not reproduced",
                        "reason": "matches by the rule" if ok else (
                            "measured, outside the tolerance" if measured["text"] != "–" else
                            "no result for this quantity in the full-profile results")})
        else:
            needs = p.dataset or "every dataset of the paper"
            row.update({"ours (paper's setting)": "not run", "verdict": "not reproduced",
                        "reason": f"no full-profile result ({needs} not available here)"})
        analogues = []
        for (profile, ds, model), (imp, dnc) in results.items():
            if profile == "full":
                continue
            measured = measure(p, imp, dnc)
            if measured["text"] == "–":
                continue
            agrees = "meets the rule" if judge(p, measured) else "does not meet the rule"
            analogues.append(f"{profile}/{ds}: {measured['text']} ({agrees})")
        row["analogue (other data, not a verdict)"] = "; ".join(analogues) or "–"
        rows.append(row)
    return pd.DataFrame(rows)


def _matches(p: PaperNumber, dataset: str, model: str) -> bool:
    if p.dataset is None:
        return True
    return p.dataset == dataset and (p.model is None or p.model == model)
