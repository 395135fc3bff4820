"""Every known paper number beside ours, with a reproduced / not-reproduced verdict by a stated rule.

**The rule.** A paper number is *reproduced* when we have a result in the paper's own setting (the
``full`` profile, same dataset and model) and

- an impact (pp) is within ±20 % of the paper's number, and at least ±1 pp (:func:`impact_tolerance`:
  a tolerance that scales with the claim, so that a small number such as DnC's 1.9 pp is not matched by
  any small result);
- the DnC maxima ("the largest impact falls from 4.4 on the most robust existing rule to 1.9 on DnC") are
  judged as the ratio they state, existing ÷ DnC, within ±20 % of the paper's ratio: an implementation in
  which DnC protects nothing has a ratio near 1 however small both impacts are;
- a ratio stated as a range (e.g. 1.5×–60×) has every one of our per-setting ratios inside the range,
  and a ratio stated as one number is matched within ±20 %. A setting whose denominator (the prior
  attacks', or DnC's, largest impact) is <= 0 has no ratio; the table says how many settings each ratio
  verdict excluded for that reason.

Anything else is *not reproduced*, with the reason (most often: the paper's dataset is not available,
so the setting was not run). Results of the ``quick`` and ``scale`` profiles are shown as an
*analogue* — the same quantity on a different, smaller problem — with whether the analogue satisfies
the same rule; an analogue never makes a verdict.

Example:
    >>> verdict_for_impact(45.6, 40.0)
    True
    >>> verdict_for_impact(1.9, 4.4)  # DnC's 1.9 is not matched by an impact of 4.4
    False
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import pandas as pd

from fedlib.report.tables import attack_ratio, impact_ratio, largest_impacts, mean_sd, most_robust

from .paper import EXISTING_AGRS, NUMBERS, PaperNumber, numbers

RELATIVE_TOLERANCE = 0.20
IMPACT_FLOOR_PP = 1.0
OURS = ("tailored", "min_max", "min_sum")
PRIOR = ("fang", "lie")
RULE = (f"Reproduced = a result in the paper's own setting (full profile, same dataset and model) that "
        f"matches: impacts within ±{RELATIVE_TOLERANCE:.0%} of the paper's number (at least ±{IMPACT_FLOOR_PP:g} "
        f"pp); the DnC maxima as the ratio they state (most robust existing rule ÷ DnC) within "
        f"±{RELATIVE_TOLERANCE:.0%}; ratios stated as a range: every per-setting ratio inside it; single ratios "
        f"within ±{RELATIVE_TOLERANCE:.0%}. Settings whose denominator impact is <= 0 have no ratio and are "
        f"counted as excluded. Otherwise not reproduced. Quick/scale results are analogues on other data and "
        f"never decide a verdict.")


def impact_tolerance(paper: float) -> float:
    """How far (pp) an impact may be from the paper's: ``max(1 pp, 20 % of |paper|)``."""
    return max(IMPACT_FLOOR_PP, RELATIVE_TOLERANCE * abs(paper))


def verdict_for_impact(paper: float, ours: float | None) -> bool:
    """The impact rule: ``|ours - paper| <= impact_tolerance(paper)``."""
    if ours is None or not math.isfinite(ours):
        return False
    return abs(ours - paper) <= impact_tolerance(paper)


def verdict_for_ratio(low: float, high: float, ours: Sequence[float]) -> bool:
    """The ratio rule: every ratio in [low, high] (a range) or within ±20 % of a single stated value
    (``low == high``). No ratio at all is not a match."""
    ours = [r for r in ours if r is not None and math.isfinite(r)]
    if not ours:
        return False
    if high == low:
        low, high = low * (1 - RELATIVE_TOLERANCE), high * (1 + RELATIVE_TOLERANCE)
    return all(low <= r <= high for r in ours)


def dnc_partner(number: PaperNumber) -> PaperNumber | None:
    """For a DnC maximum (kind ``max_impact``, aggregator ``dnc``): the paper's maximum on the most robust
    existing rule in the same setting, the numerator of the ratio the claim states. None otherwise."""
    if number.kind != "max_impact" or number.aggregator != "dnc":
        return None
    found = numbers(kind="max_impact", dataset=number.dataset, model=number.model, aggregator=None)
    return found[0] if found else None


def paper_ratio(number: PaperNumber) -> float | None:
    """The ratio a DnC maximum states (e.g. 4.4 ÷ 1.9 for MNIST); None for other numbers."""
    partner = dnc_partner(number)
    return None if partner is None else partner.value / number.value


def shown(number: PaperNumber) -> str:
    """The paper's number as the summary shows it (DnC maxima with the ratio they state)."""
    partner = dnc_partner(number)
    if partner is None:
        return number.shown
    return f"{number.shown} ({partner.value:g} ÷ {number.value:g} = {paper_ratio(number):.1f}×)"


def _attack_impacts(imp: pd.DataFrame, attack: str) -> pd.DataFrame:
    if attack == "agnostic":
        return imp[imp.attack.isin(["min_max", "min_sum"])]
    return imp[imp.attack == attack]


def _ratio_text(ratios: list[float], settings: int, excluded: int, why: str) -> str:
    if ratios:
        lo, hi = min(ratios), max(ratios)
        text = f"{lo:.1f}×" if math.isclose(lo, hi) else f"{lo:.1f}×–{hi:.1f}×"
    else:
        text = "no ratio"
    text += f" ({len(ratios)} of {settings} setting{'s' if settings != 1 else ''}"
    return text + (f"; {excluded} excluded: {why} <= 0)" if excluded else ")")


def _ratio_result(ratios: list[float], settings: int, why: str) -> dict[str, object]:
    kept = [r for r in ratios if math.isfinite(r)]
    excluded = settings - len(kept)
    return {"value": max(kept) if kept else math.nan, "ratios": kept, "excluded": excluded,
            "text": _ratio_text(kept, settings, excluded, why)}


def _per_setting_ratios(imp: pd.DataFrame, ours: Sequence[str]) -> tuple[list[float], int]:
    """:func:`fedlib.report.tables.attack_ratio` per (dataset, model, aggregator, knowledge) setting
    that has a run of ``ours``; returns (the ratios, NaN where undefined; the number of settings)."""
    ratios = []
    for _, g in imp.groupby(["dataset", "model", "aggregator", "knowledge"]):
        if g.attack.isin(ours).any():
            ratios.append(attack_ratio(g, ours, PRIOR))
    return ratios, len(ratios)


def max_impacts(imp: pd.DataFrame, dnc_imp: pd.DataFrame | None) -> tuple[float, float]:
    """(the most robust existing rule's largest mean impact over attack × knowledge, DnC's largest);
    both from :func:`~fedlib.report.tables.most_robust` / :func:`~fedlib.report.tables.largest_impacts`."""
    robust = most_robust(imp[imp.aggregator.isin(EXISTING_AGRS)])
    existing = math.nan if robust is None else float(robust.max_impact)
    if dnc_imp is None or dnc_imp.empty:
        return existing, math.nan
    return existing, float(largest_impacts(dnc_imp, ["aggregator"]).max_impact.max())


NAN = {"value": math.nan, "ratios": [], "excluded": 0, "text": "–"}


def _measure_impact(number: PaperNumber, imp: pd.DataFrame) -> dict[str, object]:
    sub = _attack_impacts(imp, number.attack)
    if number.knowledge:
        sub = sub[sub.knowledge == number.knowledge]
    if number.aggregator:
        sub = sub[sub.aggregator == number.aggregator]
    if sub.empty:
        return NAN
    # The sentence does not name the rule: the largest mean impact over the rules (and, for
    # "agnostic", over Min-Max and Min-Sum).
    means = sub.groupby(["aggregator", "attack"]).impact.mean().dropna()
    if means.empty:
        return NAN
    agr, attack = means.idxmax()
    cell = sub[(sub.aggregator == agr) & (sub.attack == attack)].impact
    return {"value": float(means.max()), "ratios": [], "excluded": 0,
            "text": f"{mean_sd(cell)} ({agr}, {attack})"}


def _measure_dnc_ratios(imp: pd.DataFrame, dnc_imp: pd.DataFrame | None) -> tuple[list[float], list[str]]:
    """Per (dataset, model): existing ÷ DnC maximum, and the text 'existing → DnC' of each."""
    ratios, texts = [], []
    for (ds, model), group in imp.groupby(["dataset", "model"]):
        d = None if dnc_imp is None else dnc_imp[(dnc_imp.dataset == ds) & (dnc_imp.model == model)]
        existing, dnc = max_impacts(group, d)
        if not math.isfinite(existing) or not math.isfinite(dnc):
            continue  # no DnC runs for this setting: nothing to compare
        ratios.append(impact_ratio(existing, dnc))
        texts.append(f"{existing:.1f} → {dnc:.1f}")
    return ratios, texts


def measure(number: PaperNumber, imp: pd.DataFrame, dnc_imp: pd.DataFrame | None = None) -> dict[str, object]:
    """Our value of the quantity ``number`` measures, from per-seed impacts ``imp`` of one or more
    settings (columns dataset, model, aggregator, attack, knowledge, seed, impact) and, for DnC numbers,
    DnC's impacts ``dnc_imp``.

    Returns ``{"value", "ratios", "excluded", "text"}``: ``ratios`` are the per-setting ratios a ratio
    verdict judges (NaN-free), ``excluded`` the settings left out because a denominator impact is <= 0.
    """
    if imp is None or imp.empty:
        return NAN
    if number.kind == "impact":
        return _measure_impact(number, imp)
    if number.kind == "ratio" and number.key == "abstract_dnc_ratio":  # one ratio per (dataset, model)
        ratios, _ = _measure_dnc_ratios(imp, dnc_imp)
        return NAN if not ratios else _ratio_result(ratios, len(ratios), "DnC's largest impact")
    if number.kind == "ratio":
        sub = imp if number.aggregator is None else imp[imp.aggregator == number.aggregator]
        ours = OURS if number.attack is None else (("min_max", "min_sum") if number.attack == "agnostic"
                                                   else (number.attack,))
        ratios, settings = _per_setting_ratios(sub, ours)
        return NAN if not settings else _ratio_result(ratios, settings, "Fang's and LIE's largest impact")
    if number.kind == "max_impact" and number.aggregator == "dnc":  # judged as the ratio it states
        ratios, texts = _measure_dnc_ratios(imp, dnc_imp)
        if not ratios:
            return NAN
        result = _ratio_result(ratios, len(ratios), "DnC's largest impact")
        result["text"] = f"{'; '.join(texts)}: {result['text']}"
        return result
    if number.kind == "max_impact":
        existing, _ = max_impacts(imp, None)
        if not math.isfinite(existing):
            return NAN
        return {"value": existing, "ratios": [], "excluded": 0, "text": f"{existing:.1f}"}
    raise ValueError(f"unknown kind {number.kind!r}")


def judge(number: PaperNumber, measured: dict[str, object]) -> bool:
    """The verdict of the rule (module docstring) for ``number`` given :func:`measure`'s result."""
    if number.kind == "ratio":
        return verdict_for_ratio(number.value, number.high, measured["ratios"])
    if paper_ratio(number) is not None:
        return verdict_for_ratio(paper_ratio(number), paper_ratio(number), measured["ratios"])
    return verdict_for_impact(number.value, measured["value"])


def summary_table(
    results: dict[tuple[str, str, str], tuple[pd.DataFrame, pd.DataFrame | None]],
    numbers: Iterable[PaperNumber] = NUMBERS,
) -> pd.DataFrame:
    """One row per paper number: the paper's value, ours in its setting (full profile) if we have it, the
    verdict and its reason, and the analogue from quick/scale results.

    ``results`` maps (profile, dataset, model) to (per-seed impacts of the existing rules, per-seed impacts
    on DnC or None).
    """
    rows = []
    for p in numbers:
        row = {"paper number": p.key, "setting": p.setting, "quantity": p.quantity, "paper": shown(p),
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
        for (profile, ds, _model), (imp, dnc) in results.items():
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
