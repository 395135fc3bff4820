"""Every number the paper states, beside ours: one comparison per claim, judged by :mod:`fedbook.judge`'s rule.

Each claim is judged at three levels, each on its own evidence, never on a comparison made for another claim:

- **the paper's own setting** (the ``full`` profile: the claim's dataset and model). No such run exists here
  (the paper's datasets and a GPU were not available), so every claim reads :data:`NOT_TESTED` with what it
  needs;
- **full size, on a stand-in** (the ``scale`` profile): the paper's MNIST client layout on Fashion-MNIST
  with a smaller network (the cross-silo stand-in, ``"iid"``), and a Fashion-MNIST Dirichlet analogue of the
  paper's FEMNIST experiment (``"cross_device"``). A claim about MNIST, or about every dataset (the abstract), is
  judged on the cross-silo stand-in; a FEMNIST claim on the cross-device analogue; a claim about CIFAR10 or
  Purchase has :data:`NO_ANALOGUE` (no stand-in mirrors those settings);
- **the quick profile** (the embedded MNIST subset, 100 rounds): the same analogues on a small problem.

What each claim compares (:func:`comparisons_for`):

- a ratio of our attacks to Fang's and LIE's: per rule and knowledge setting the claim covers, our strongest
  attack (largest mean impact) against the stronger of Fang and LIE, seed by seed;
- a DnC claim (the introduction's maxima, the abstract's 2.5×–12×): the most robust existing rule's worst case
  (largest mean impact over attack × knowledge) against DnC's worst case, seed by seed, as the ratio it states;
- the most robust existing rule's largest impact, or one attack's impact: that impact against zero (harm in every
  seed), its size against the paper's number.

Example:
    >>> from fedbook.summary import analogue_of
    >>> from fedbook.paper import get
    >>> [analogue_of(get(k)) for k in ("dnc_mnist_dnc", "femnist_median_ratio", "dnc_purchase_dnc")]
    ['iid', 'cross_device', None]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from fedlib.report.tables import largest_impacts, most_robust, paired_impacts

from .judge import MIN_SEEDS, OUTCOMES, WAITS, Comparison, Judgement, Target, judge
from .paper import AGR_LABELS, ATTACK_LABELS, DATASET_LABELS, EXISTING_AGRS, MODEL_LABELS, NUMBERS, PaperNumber, numbers

OURS = ("tailored", "min_max", "min_sum")
PRIOR = ("fang", "lie")
AGNOSTIC = ("min_max", "min_sum")
CASE = ["aggregator", "attack", "knowledge"]

NOT_TESTED = "not tested here"
NO_ANALOGUE = "no full-size analogue"
NO_QUICK_ANALOGUE = "no quick analogue"
#: The Summary's columns are the claim, the paper's number and one judgement per level (in the paper's setting, on
#: a stand-in at full size, in the quick profile), named by these three labels.
PAPER_SETTING = "in the paper's setting"
STAND_IN = "full size, stand-in (scale)"
QUICK = "quick profile (small problem)"
#: The stand-ins' names, as the Summary calls them.
ANALOGUES = {"iid": "cross-silo stand-in", "cross_device": "cross-device analogue"}


def analogue_of(number: PaperNumber) -> str | None:
    """Which stand-in judges ``number``: ``"iid"`` (the paper's MNIST client layout on Fashion-MNIST) for a claim
    about MNIST or every dataset, ``"cross_device"`` for FEMNIST, None for CIFAR10 and Purchase."""
    if number.dataset in (None, "mnist"):
        return "iid"
    if number.dataset == "femnist":
        return "cross_device"
    return None


@dataclass
class Evidence:
    """Paired per-seed impacts of one kind of setting, and the attacked cells its grids ask for.

    ``imp``: columns dataset, model, aggregator, attack, knowledge, seed, impact (:func:`paired_impacts`);
    ``wanted``: the grids' attacked cells, one row per cell and seed (same label columns).
    """

    label: str
    imp: pd.DataFrame
    wanted: pd.DataFrame

    @classmethod
    def from_runs(cls, label: str, runs: pd.DataFrame, wanted: pd.DataFrame | None = None) -> Evidence:
        """From a results frame (one row per run; no-attack rows give the baselines) and the grid's labels
        (default: the runs' own)."""
        wanted = runs if wanted is None else wanted
        labels = ["dataset", "model", *CASE, "seed"]
        imp = (paired_impacts(runs, ["dataset", "model", "aggregator"]) if len(runs) else
               pd.DataFrame(columns=[*labels, "impact"]).astype({"seed": int, "impact": float}))
        wanted = wanted[wanted.attack != "none"] if len(wanted) else pd.DataFrame(columns=labels)
        return cls(label, imp, wanted.reset_index(drop=True))

    def select(self, aggregators=None, attacks=None, knowledge=None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(impacts, wanted cells) restricted to the given rules, attacks and knowledge settings."""
        out = []
        for frame in (self.imp, self.wanted):
            for column, values in (("aggregator", aggregators), ("attack", attacks), ("knowledge", knowledge)):
                if values is not None and len(frame):
                    frame = frame[frame[column].isin(values)]
            out.append(frame)
        return out[0], out[1]

    def fewest_seeds(self, **select) -> int:
        """The fewest seeds with an impact among the selected cells the grids ask for (0: one has none)."""
        imp, wanted = self.select(**select)
        keys = ["dataset", "model", *CASE]
        cases = wanted[keys].drop_duplicates()
        if cases.empty:
            return 0
        counts = imp.groupby(keys).seed.nunique().rename("n").reset_index() if len(imp) else None
        if counts is None:
            return 0
        return int(cases.merge(counts, on=keys, how="left").n.fillna(0).min())


# --------------------------------------------------------------------------- the comparisons of one claim
def _seeds(frame: pd.DataFrame) -> pd.Series:
    return frame.groupby("seed").impact.mean()


def _setting_name(dataset: str, model: str, several: bool, *rest: str) -> str:
    parts = [f"{DATASET_LABELS.get(dataset, dataset)} ({MODEL_LABELS.get(model, model)})"] if several else []
    return ", ".join(parts + [r for r in rest if r])


def attack_comparisons(ev: Evidence, ours: Sequence[str], aggregators=None) -> list[Comparison]:
    """Per (dataset, rule, knowledge): our strongest attack (largest mean impact) against the stronger of Fang
    and LIE, seed by seed."""
    imp, wanted = ev.select(aggregators=aggregators, attacks=tuple(ours) + PRIOR)
    several = wanted.dataset.nunique() > 1
    out = []
    for (ds, model, agr, know), _ in wanted.groupby(["dataset", "model", "aggregator", "knowledge"], sort=False):
        g = imp[(imp.dataset == ds) & (imp.model == model) & (imp.aggregator == agr) & (imp.knowledge == know)]
        means = g.groupby("attack").impact.mean()
        mine, prior = means.reindex(list(ours)).dropna(), means.reindex(list(PRIOR)).dropna()
        if mine.empty or prior.empty:
            continue
        a, b = mine.idxmax(), prior.idxmax()
        name = _setting_name(ds, model, several, AGR_LABELS.get(agr, agr), f"{know} knowledge")
        out.append(Comparison(name, ATTACK_LABELS[a], ATTACK_LABELS[b], _seeds(g[g.attack == a]),
                              _seeds(g[g.attack == b])))
    return out


def _worst(imp: pd.DataFrame, aggregator: str, attack: str, knowledge: str) -> pd.Series:
    return _seeds(imp[(imp.aggregator == aggregator) & (imp.attack == attack) & (imp.knowledge == knowledge)])


def _case_name(row: pd.Series) -> str:
    """``"Multi-krum under Min-Max (partial knowledge)"``; DnC's tailored attack is the adaptive attack."""
    attack = ("the adaptive attack" if row.aggregator == "dnc" and row.worst_attack == "tailored"
              else ATTACK_LABELS[row.worst_attack])
    return f"{AGR_LABELS.get(row.aggregator, row.aggregator)} under {attack} ({row.worst_knowledge} knowledge)"


def dnc_comparisons(ev: Evidence) -> list[Comparison]:
    """Per (dataset, model): the most robust existing rule's worst case against DnC's worst case, seed by seed."""
    out = []
    several = ev.wanted.dataset.nunique() > 1
    for (ds, model), g in ev.imp.groupby(["dataset", "model"], sort=False):
        robust = most_robust(g[g.aggregator.isin(EXISTING_AGRS)])
        dnc = g[g.aggregator == "dnc"]
        if robust is None or dnc.empty:
            continue
        worst = largest_impacts(dnc, ["aggregator"]).iloc[0]
        out.append(Comparison(_setting_name(ds, model, several),
                              _case_name(robust), _case_name(worst),
                              _worst(g, robust.aggregator, robust.worst_attack, robust.worst_knowledge),
                              _worst(g, "dnc", worst.worst_attack, worst.worst_knowledge)))
    return out


def robust_comparisons(ev: Evidence) -> list[Comparison]:
    """Per (dataset, model): the most robust existing rule's worst case, seed by seed (against zero)."""
    out = []
    several = ev.wanted.dataset.nunique() > 1
    for (ds, model), g in ev.imp.groupby(["dataset", "model"], sort=False):
        robust = most_robust(g[g.aggregator.isin(EXISTING_AGRS)])
        if robust is not None:
            out.append(Comparison(_setting_name(ds, model, several), _case_name(robust),
                                  "", _worst(g, robust.aggregator, robust.worst_attack, robust.worst_knowledge)))
    return out


#: How a per-setting table names a comparison's direction (:meth:`fedbook.judge.Comparison.direction`).
DIRECTION_WORDS = {"up": "ours above in every seed", "down": "ours below in every seed",
                   "mixed": "the seeds disagree", "waits": f"fewer than {MIN_SEEDS} seeds"}


def comparison_table(comparisons: Sequence[Comparison]) -> pd.DataFrame:
    """One row per comparison: the setting, the two attacks (mean ± std over the paired seeds), in how many seeds
    ours is above, the ratio of the means ('–' when the compared attacks did no harm) and the direction."""
    from fedlib.report.tables import mean_sd

    rows = []
    for c in comparisons:
        pairs = pd.DataFrame({"a": c.a, "b": c.b}).dropna()
        rows.append({"setting": c.setting, "strongest of ours": f"{c.a_name} {mean_sd(pairs.a)}",
                     "stronger of Fang / LIE": f"{c.b_name} {mean_sd(pairs.b)}",
                     "seeds with ours above": f"{c.above} of {len(pairs)}",
                     "ratio": "–" if pd.isna(c.ratio) else f"{c.ratio:.1f}×",
                     "direction": DIRECTION_WORDS[c.direction()]})
    return pd.DataFrame(rows)


def family(attack: str | None) -> tuple[str, ...]:
    """The attacks a claim names: ``"agnostic"`` is Min-Max and Min-Sum; None is all of ours."""
    return OURS if attack is None else AGNOSTIC if attack == "agnostic" else (attack,)


def impact_comparisons(ev: Evidence, number: PaperNumber) -> list[Comparison]:
    """One attack's impact (the sentence names no rule: its largest mean impact over the five rules), seed by seed."""
    imp, _ = ev.select(aggregators=EXISTING_AGRS, attacks=family(number.attack), knowledge=[number.knowledge])
    if imp.empty:
        return []
    means = imp.groupby(["aggregator", "attack"]).impact.mean()
    agr, attack = means.idxmax()
    name = f"{ATTACK_LABELS[attack]} on {AGR_LABELS.get(agr, agr)} ({number.knowledge})"
    return [Comparison(name, name, "", _seeds(imp[(imp.aggregator == agr) & (imp.attack == attack)]))]


def paper_ratio(number: PaperNumber) -> tuple[float, str] | None:
    """The ratio a DnC maximum states (the existing rule's maximum ÷ DnC's) and how to show it; None otherwise."""
    if number.kind != "max_impact" or number.aggregator != "dnc":
        return None
    partner = numbers(kind="max_impact", dataset=number.dataset, model=number.model, aggregator=None)[0]
    ratio = partner.value / number.value
    return ratio, f"{partner.value:g} ÷ {number.value:g} = {ratio:.1f}×"


def comparisons_for(number: PaperNumber, ev: Evidence) -> tuple[list[Comparison], Target, dict]:
    """The comparisons that judge ``number`` on ``ev``, its target, and the cells they need (for the seed count)."""
    if number.key == "abstract_dnc_ratio":
        return dnc_comparisons(ev), Target.ratio(number.value, number.high), {}
    if number.kind == "ratio":
        aggregators = EXISTING_AGRS if number.aggregator is None else (number.aggregator,)
        ours = family(number.attack)
        return (attack_comparisons(ev, ours, aggregators), Target.ratio(number.value, number.high, number.shown),
                {"aggregators": aggregators, "attacks": tuple(ours) + PRIOR})
    stated = paper_ratio(number)
    if stated is not None:
        return dnc_comparisons(ev), Target.ratio(stated[0], shown=stated[1]), {}
    if number.kind == "max_impact":
        return robust_comparisons(ev), Target.impact(number.value), {"aggregators": EXISTING_AGRS}
    if number.kind == "impact":
        return (impact_comparisons(ev, number), Target.impact(number.value),
                {"aggregators": EXISTING_AGRS, "attacks": family(number.attack), "knowledge": [number.knowledge]})
    raise ValueError(f"no comparison for paper number {number.key!r} (kind {number.kind!r})")


def judge_claim(number: PaperNumber, ev: Evidence, *, min_seeds: int = MIN_SEEDS) -> Judgement:
    """``number`` judged on ``ev``: waits while any cell it needs has fewer than ``min_seeds`` seeds."""
    comparisons, target, select = comparisons_for(number, ev)
    if number.kind in ("max_impact", "ratio") and not select:  # DnC claims need DnC's cells too
        select = {"aggregators": (*EXISTING_AGRS, "dnc")}
    if "dnc" in select.get("aggregators", ()) and not (ev.wanted.aggregator == "dnc").any():
        return Judgement(NOT_TESTED, f"{ev.label} has no DnC run")
    return judge(comparisons, target, min_seeds=min_seeds, fewest=ev.fewest_seeds(**select))


# --------------------------------------------------------------------------- the Summary's table
def needs(number: PaperNumber) -> str:
    """What a test in the paper's own setting needs."""
    if number.dataset is None:
        return "the paper's five settings in the full profile (GPU)"
    model = f" with {MODEL_LABELS[number.model]}" if number.model and number.dataset == "cifar10" else ""
    return f"{DATASET_LABELS[number.dataset]}{model} in the full profile (GPU)"


def _no_analogue(number: PaperNumber, level: str) -> Judgement:
    if level == QUICK:
        return Judgement(NO_QUICK_ANALOGUE, f"the quick grids mirror MNIST and FEMNIST, not "
                                            f"{DATASET_LABELS[number.dataset]}")
    return Judgement(NO_ANALOGUE, f"the stand-ins mirror MNIST and FEMNIST, not {DATASET_LABELS[number.dataset]}")


def _paper_setting(number: PaperNumber, full: Mapping[tuple[str, str], Evidence]) -> Judgement:
    own = [ev for (ds, model), ev in full.items()
           if number.dataset is None or (ds == number.dataset and number.model in (None, model))]
    if not own:
        return Judgement(NOT_TESTED, f"needs {needs(number)}")
    if len(own) == 1:
        return judge_claim(number, own[0])
    merged = Evidence(own[0].label, pd.concat([e.imp for e in own]), pd.concat([e.wanted for e in own]))
    return judge_claim(number, merged)


def _analogue(number: PaperNumber, evidence: Mapping[str, Evidence], level: str) -> Judgement:
    key = analogue_of(number)
    if key is None:
        return _no_analogue(number, level)
    if key not in evidence:
        return Judgement(WAITS, f"no run of the {ANALOGUES[key]} was read")
    return judge_claim(number, evidence[key])


def summary_table(full: Mapping[tuple[str, str], Evidence], scale: Mapping[str, Evidence],
                  quick: Mapping[str, Evidence], numbers_: Iterable[PaperNumber] = NUMBERS) -> pd.DataFrame:
    """One row per paper number: the claim, the paper's number, and its judgement in the paper's setting
    (``full``: evidence per (dataset, model)), at full size on the stand-ins (``scale``: evidence per analogue,
    :func:`analogue_of`) and in the quick profile (``quick``, likewise). The ``outcome: …`` columns hold the
    outcome alone (for counting)."""
    rows = []
    for p in numbers_:
        levels = {PAPER_SETTING: _paper_setting(p, full), STAND_IN: _analogue(p, scale, STAND_IN),
                  QUICK: _analogue(p, quick, QUICK)}
        row = {"paper number": p.key, "claim": f"{p.setting}: {p.quantity}", "paper": shown(p),
               "source": p.source}
        for column, judgement in levels.items():
            row[column] = judgement.shown
            row[f"outcome: {column}"] = judgement.outcome
        rows.append(row)
    return pd.DataFrame(rows)


def shown(number: PaperNumber) -> str:
    """The paper's number as the Summary shows it (a DnC maximum with the ratio it states)."""
    stated = paper_ratio(number)
    return number.shown if stated is None else f"{number.shown} ({stated[1]})"


def counts(table: pd.DataFrame, column: str, skip: Sequence[str] = ()) -> str:
    """``"2 holds, 1 direction only, …"``: how many claims have each outcome in ``column`` (none left out but
    those in ``skip``)."""
    found = table[f"outcome: {column}"].value_counts()
    order = [o for o in (*OUTCOMES, NO_ANALOGUE, NO_QUICK_ANALOGUE, NOT_TESTED) if o not in skip]
    return ", ".join(f"{int(found[o])} {o}" for o in order if o in found)


def what_was_tested(table: pd.DataFrame) -> str:
    """One sentence, from :func:`summary_table`'s outcomes: what was tested in the paper's own setting (and with
    what result), at full size on the stand-ins, and in the quick profile."""
    n = len(table)
    own = table[f"outcome: {PAPER_SETTING}"] != NOT_TESTED
    first = (f"Reproduced in the paper's own setting: nothing yet — none of the {n} claims has a run in that setting "
             f"(the paper's datasets and a GPU were not available here)" if not own.any() else
             f"In the paper's own setting, {int(own.sum())} of the {n} claims were tested "
             f"({counts(table, PAPER_SETTING, skip=(NOT_TESTED,))})")
    stand = table[f"outcome: {STAND_IN}"] != NO_ANALOGUE
    second = (f"at full size on a stand-in (Fashion-MNIST, scale profile), {int(stand.sum())} were tested "
              f"({counts(table, STAND_IN, skip=(NO_ANALOGUE,))}) and {int((~stand).sum())} have no full-size analogue")
    text = f"{first}; {second}"
    if f"outcome: {QUICK}" in table and (table[f"outcome: {QUICK}"] != WAITS).any():
        quick = table[f"outcome: {QUICK}"] != NO_QUICK_ANALOGUE
        text += (f"; in the quick profile (a small problem: orderings, not sizes), the same {int(quick.sum())} claims "
                 f"come out as {counts(table, QUICK, skip=(NO_QUICK_ANALOGUE,))}")
    return text + "."


#: What each kind of claim compares (the Summary page says it under the rule).
COMPARED = (
    "a ratio of our attacks to Fang's and LIE's compares, per rule and knowledge setting the claim covers, our "
    "strongest attack (largest mean impact) with the stronger of Fang and LIE, seed by seed; a DnC claim compares "
    "the most robust existing rule's worst case (largest mean impact over attack × knowledge) with DnC's worst case, "
    "seed by seed, as the ratio it states; the most robust existing rule's largest impact, or one attack's impact, "
    "is compared with zero (harm in every seed) and its size with the paper's number.")


def profiles_disagree(scale: Mapping[str, Judgement], quick: Mapping[str, Judgement],
                      labels: Mapping[str, str]) -> str:
    """A sentence for each claim whose outcome differs between the stand-in (``scale``) and the quick profile
    (both keyed alike, e.g. by rule), or ``""``: a reader comparing two tables must not find the difference alone.

    Example:
        >>> from fedbook.judge import Judgement
        >>> from fedbook.summary import profiles_disagree
        >>> a, b = Judgement("direction only", ""), Judgement("holds", "")
        >>> profiles_disagree({"median": a}, {"median": b}, {"median": "Median"})[:61]
        'The two profiles disagree on Median: *direction only* at full'
    """
    differ = [key for key in scale if key in quick and scale[key].outcome != quick[key].outcome]
    if not differ:
        return ""
    said = "; ".join(f"{labels.get(k, k)}: *{scale[k].outcome}* at full size on the stand-in, *{quick[k].outcome}* "
                     f"in the quick profile" for k in differ)
    return (f"The two profiles disagree on {said}. The quick profile is a small problem (orderings, not sizes), "
            "so the stand-in's judgement is this page's.")
