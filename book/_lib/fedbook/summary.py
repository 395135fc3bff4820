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

**A second, separate judgement** (:func:`ordering`, :data:`ORDERING_RULE`): whether each claim holds *as an
ordering* at full size on Fashion-MNIST, from the committed scale campaign (our attacks' largest impact ÷
the larger of Fang's and LIE's inside 1.5×–60×; DnC's worst case at least 2× below the most robust
existing rule's; an attack's rank among the attacks). Where a case it needs is not committed yet, it says
"not yet computed", never a verdict.

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

from .paper import AGR_LABELS, ATTACK_LABELS, EXISTING_AGRS, NUMBERS, PaperNumber, numbers

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


# --------------------------------------------------------------------------- orderings at full size
#: The ordering rule of the summary's second column (the claims as orderings on the committed scale
#: campaign: full Fashion-MNIST in the paper's MNIST setting).
ORDER_RANGE = (1.5, 60.0)
DNC_FACTOR = 2.0
NOT_YET = "not yet computed"
ORDERING_RULE = (
    f"Holds as an ordering at full size = on the committed scale results (full Fashion-MNIST in the paper's MNIST "
    f"setting; mean over the seeds committed per case): a claim that our attacks beat Fang and LIE holds when, "
    f"for every rule and knowledge setting the claim covers, our attacks' largest impact ÷ the larger of Fang's "
    f"and LIE's lies in {ORDER_RANGE[0]:g}×–{ORDER_RANGE[1]:g}× (the abstract's range; settings where Fang and "
    f"LIE do no harm have no ratio and are counted as excluded); FEMNIST's claims are judged on the "
    f"cross-device block (1,000 Dirichlet clients, 60 per round); a claim about DnC holds when the most robust "
    f"existing rule's largest impact (over attack × knowledge) is at least {DNC_FACTOR:g}× DnC's largest "
    f"(the paper's smallest stated ratio is 4.4 ÷ 1.9 = 2.3×, on MNIST); an impact of one attack holds when the "
    f"attack's rank among Fang, LIE, AGR-agnostic and AGR-tailored (each its largest impact over the five rules, "
    f"same knowledge setting) is the paper's. A claim whose cases are not all committed (at least one seed "
    f"each, with its no-attack run) reads '{NOT_YET}', never a verdict; 'provisional' marks a judgement on "
    f"fewer seeds than the block asks for. This column never decides the 'reproduced' verdict.")

ORDERING_COLUMN = "ordering at full size (Fashion-MNIST, scale)"
_CASE = ["aggregator", "attack", "knowledge"]


def _only(frame: pd.DataFrame, aggregators=None, attacks=None, knowledge=None) -> pd.DataFrame:
    out = frame[frame.attack != "none"] if len(frame) else frame
    for column, values in (("aggregator", aggregators), ("attack", attacks), ("knowledge", knowledge)):
        if values is not None and len(out):
            out = out[out[column].isin(values)]
    return out


def _evidence(block, **select) -> tuple[pd.DataFrame | None, str]:
    """Per-seed impacts of the cases ``select`` names in a scale block (an object with ``wanted`` and
    ``runs`` frames), or (None, why not) when a case has no committed seed yet."""
    from fedlib.report.tables import paired_impacts

    if block is None:
        return None, "block not read"
    need = _only(block.wanted, **select)[_CASE].drop_duplicates()
    imp = _only(paired_impacts(block.runs, ["dataset", "model", "aggregator"]), **select)
    have = imp[_CASE].drop_duplicates() if len(imp) else need.iloc[0:0]
    lacking = len(need.merge(have, on=_CASE, how="left", indicator=True).query("_merge == 'left_only'"))
    if need.empty or lacking:
        return None, f"{lacking} of {len(need)} cases missing"
    asked = block.wanted.seed.nunique()
    fewest = int(imp.groupby(_CASE).seed.nunique().min())
    seeds = (f"; provisional: {fewest} of {asked} seeds in some case" if fewest < asked
             else f"; {asked} seed{'s' if asked > 1 else ''}")
    return imp, seeds


def _ordering_ratio(number: PaperNumber, blocks) -> tuple[str, str]:
    block = blocks.get("cross_device" if number.dataset == "femnist" else "main")
    ours = OURS if number.attack is None else (("min_max", "min_sum") if number.attack == "agnostic"
                                               else (number.attack,))
    aggregators = None if number.aggregator is None else (number.aggregator,)
    imp, seeds = _evidence(block, aggregators=aggregators, attacks=tuple(ours) + PRIOR)
    if imp is None:
        return NOT_YET, seeds
    ratios, settings = _per_setting_ratios(imp, ours)
    result = _ratio_result(ratios, settings, "Fang's and LIE's largest impact")
    ok = verdict_for_ratio(*ORDER_RANGE, result["ratios"])
    return ("holds" if ok else "does not hold"), f"{result['text']}{seeds}"


def _coverage(why: str) -> str:
    """``_evidence``'s note as a status of its own: "every case, 3 seeds" or "8 of 10 cases missing"."""
    return f"every case, {why[2:]}" if why.startswith("; ") else why


def _ordering_dnc(blocks) -> tuple[str, str]:
    existing, why = _evidence(blocks.get("main"), aggregators=EXISTING_AGRS)
    dnc, why_dnc = _evidence(blocks.get("dnc"))
    if existing is None or dnc is None:
        return NOT_YET, f"existing rules: {_coverage(why)}; DnC: {_coverage(why_dnc)}"
    robust = most_robust(existing)
    worst = largest_impacts(dnc, ["aggregator"]).iloc[0]
    ok = robust.max_impact > 0 and robust.max_impact >= DNC_FACTOR * max(float(worst.max_impact), 0.0)
    ratio = impact_ratio(float(robust.max_impact), float(worst.max_impact))
    dnc_attack = "adaptive" if worst.worst_attack == "tailored" else worst.worst_attack
    text = (f"{AGR_LABELS[robust.aggregator]} {robust.max_impact:.1f} ({ATTACK_LABELS[robust.worst_attack]}, "
            f"{robust.worst_knowledge}) → DnC {worst.max_impact:.1f} ({ATTACK_LABELS[dnc_attack]}, "
            f"{worst.worst_knowledge})" + ("" if math.isnan(ratio) else f": {ratio:.1f}×"))
    return ("holds" if ok else "does not hold"), text + (why if why == why_dnc else f"{why} (existing){why_dnc} (DnC)")


def _ordering_rank(number: PaperNumber, blocks) -> tuple[str, str]:
    knowledge = (number.knowledge,) if number.knowledge else None
    imp, seeds = _evidence(blocks.get("main"), aggregators=EXISTING_AGRS, knowledge=knowledge)
    if imp is None:
        return NOT_YET, seeds
    family = {"fang": ("fang",), "lie": ("lie",), "tailored": ("tailored",), "agnostic": ("min_max", "min_sum")}
    paper_values = {p.attack: p.value for p in numbers(kind="impact", dataset=number.dataset, model=number.model,
                                                        knowledge=number.knowledge)}
    means = imp.groupby(["aggregator", "attack"]).impact.mean()
    ours = {a: float(means[means.index.get_level_values("attack").isin(family[a])].max()) for a in paper_values}
    order = sorted(ours, key=ours.get)
    paper_order = sorted(paper_values, key=paper_values.get)
    ok = order.index(number.attack) == paper_order.index(number.attack)
    text = " < ".join(f"{ATTACK_LABELS[a]} {ours[a]:.1f}" for a in order)
    return ("holds" if ok else "does not hold"), (
        f"{text}: rank {order.index(number.attack) + 1} of {len(order)} (paper: "
        f"{paper_order.index(number.attack) + 1}){seeds}")


def ordering(number: PaperNumber, blocks) -> dict[str, str]:
    """Whether ``number``'s claim holds as an ordering on the committed scale results (:data:`ORDERING_RULE`).

    ``blocks`` maps scale block names (``main``, ``dnc``, ``cross_device``) to objects with a ``wanted``
    frame (the block grid's labels, one row per cell and seed) and a ``runs`` frame (the committed runs),
    e.g. :class:`fedbook.scale.ScaleBlock`. Returns ``{"verdict": "holds" | "does not hold" |
    "not yet computed", "text": the numbers behind it}``.
    """
    if number.kind == "ratio" and number.key != "abstract_dnc_ratio":
        verdict, text = _ordering_ratio(number, blocks)
    elif number.kind == "max_impact" or number.key == "abstract_dnc_ratio":
        verdict, text = _ordering_dnc(blocks)
    elif number.kind == "impact":
        verdict, text = _ordering_rank(number, blocks)
    else:
        raise ValueError(f"no ordering rule for {number.key!r} ({number.kind})")
    return {"verdict": verdict, "text": text}


def ordering_column(table: pd.DataFrame, blocks, numbers_: Iterable[PaperNumber] = NUMBERS) -> pd.DataFrame:
    """``table`` (:func:`summary_table`) with the columns :data:`ORDERING_COLUMN` (the verdict of the ordering
    rule with its numbers) and ``ordering`` (the verdict alone)."""
    by_key = {p.key: ordering(p, blocks) for p in numbers_}
    out = table.copy()
    out["ordering"] = [by_key[k]["verdict"] for k in out["paper number"]]
    out[ORDERING_COLUMN] = [
        f"{by_key[k]['verdict']} ({by_key[k]['text']})" if by_key[k]["verdict"] == NOT_YET
        else f"{by_key[k]['verdict']}: {by_key[k]['text']}" for k in out["paper number"]]
    return out
