"""Judging a claim of the paper on paired per-seed runs: the outcomes, the rule, and the numbers behind each.

**Paired comparison.** A claim is checked through one or more :class:`Comparison` s, each two per-seed
series ``a`` and ``b`` computed from runs of the *same seed* (the seed fixes the data split, the initial model,
the client sampling and the attack's randomness), e.g. on Median with full knowledge: our strongest attack's
impact and the stronger of Fang's and LIE's. A claim about one impact compares ``a`` with zero (``b`` is None).

**The rule** (:data:`RULE`).

- *Direction*, per comparison: ``a > b`` in every seed (up), ``a < b`` in every seed (down), else mixed. It needs
  :data:`MIN_SEEDS` paired seeds; with fewer the claim *waits* and the page says what the committed seeds show.
- *Size*: the ratio of the means ``mean(a) / mean(b)`` (defined when ``mean(b) > 0``), or for an impact claim
  ``mean(a)``, against the paper's value: a range ``[low, high]`` as stated; one ratio within ±20 %; one impact
  within ``max(1 pp, 20 %)``.
- *Outcome*: any comparison short of seeds → :data:`WAITS`; any down → :data:`FAILS`; any mixed →
  :data:`SPREAD`; every size inside the paper's value → :data:`HOLDS`; else :data:`DIRECTION`.

Example:
    >>> import pandas as pd
    >>> c = Comparison("Median", "Min-Max", "LIE", pd.Series([9.0, 8.0, 10.0]), pd.Series([3.0, 4.0, 5.0]))
    >>> c.direction(), round(c.ratio, 2)
    ('up', 2.25)
    >>> j = judge([c], Target.ratio(1.5, 60))
    >>> j.outcome, j.text
    ('holds', 'ours 2.2× (Min-Max 9.0 ÷ LIE 4.0), paper 1.5×–60×; above in every seed (3 of 3)')
    >>> judge([c], Target.ratio(15)).outcome
    'direction only'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

#: Paired seeds a direction needs: the ordering must hold in every one of three seeds.
MIN_SEEDS = 3
#: Tolerance of a single stated value: ±20 % (impacts: at least ±1 pp).
RELATIVE_TOLERANCE = 0.20
IMPACT_FLOOR_PP = 1.0

HOLDS = "holds"
DIRECTION = "direction only"
FAILS = "does not hold"
SPREAD = "not supported by the spread"
WAITS = "waits for seeds"
#: Every outcome a judgement can have, in the order a page counts them.
OUTCOMES = (HOLDS, DIRECTION, FAILS, SPREAD, WAITS)

_WITHIN = (f"the paper's value (its stated range, or ±{RELATIVE_TOLERANCE:.0%} of a single number; impacts at least "
           f"±{IMPACT_FLOOR_PP:g} pp)")
#: What each outcome says, in one clause (the pages that show verdicts print it as a legend).
MEANINGS = {
    HOLDS: f"the direction holds in every seed and the size lies inside {_WITHIN}",
    DIRECTION: f"the direction holds in every seed, but the size lies outside {_WITHIN}: larger or smaller, the "
               "verdict says which and shows both numbers",
    FAILS: "ours is below in every seed in some setting the claim covers",
    SPREAD: "the seeds disagree on the direction in some setting",
    WAITS: f"fewer than {MIN_SEEDS} paired seeds are committed in some case the claim needs",
}


def legend(outcomes) -> str:
    """Markdown: the meaning of each outcome in ``outcomes`` that has one, in :data:`OUTCOMES` order.

    Example:
        >>> legend(["holds"])  # doctest: +NORMALIZE_WHITESPACE
        "*holds*: the direction holds in every seed and the size lies inside the paper's value (its stated range,
        or ±20% of a single number; impacts at least ±1 pp)."
    """
    found = set(outcomes)  # any iterable, a generator included
    shown = [o for o in OUTCOMES if o in found]
    return "; ".join(f"*{o}*: {MEANINGS[o]}" for o in shown) + ("." if shown else "")


RULE = (
    f"Each claim is checked on paired runs (same seed: same data split, initial model, client sampling and attack "
    f"randomness). Direction: our number above the one it is compared with in every one of {MIN_SEEDS} seeds "
    f"(fewer committed seeds: the claim *{WAITS}* and says what the committed ones show). Size: the ratio of the "
    f"means (or the mean impact) against the paper's value: a stated range as stated, one stated number within "
    f"±{RELATIVE_TOLERANCE:.0%} (impacts: at least ±{IMPACT_FLOOR_PP:g} pp). Outcome: *{FAILS}* when ours is below in "
    f"every seed in some setting the claim covers; *{SPREAD}* when the seeds disagree in some setting; *{HOLDS}* "
    f"when the direction holds everywhere and every size is inside the paper's value; else *{DIRECTION}* (both "
    f"numbers shown).")


@dataclass(frozen=True)
class Target:
    """The paper's stated value of a claim: a ratio range, one ratio, or one impact (pp)."""

    kind: str  # "ratio" or "impact"
    low: float
    high: float
    shown: str

    @classmethod
    def ratio(cls, low: float, high: float | None = None, shown: str | None = None) -> Target:
        """A ratio range ``[low, high]``, or one ratio ``low`` (±20 %); ``shown``: how the paper states it."""
        if high is None or high == low:
            stated = f"{low:.1f}".rstrip("0").rstrip(".")
            return cls("ratio", low * (1 - RELATIVE_TOLERANCE), low * (1 + RELATIVE_TOLERANCE), shown or f"{stated}×")
        return cls("ratio", low, high, shown or f"{low:g}×–{high:g}×")

    @classmethod
    def impact(cls, value: float) -> Target:
        """One impact in pp, within ``max(1 pp, 20 %)``."""
        tol = max(IMPACT_FLOOR_PP, RELATIVE_TOLERANCE * abs(value))
        return cls("impact", value - tol, value + tol, f"{value:.1f} pp")

    def within(self, value: float) -> bool:
        return math.isfinite(value) and self.low <= value <= self.high


@dataclass(frozen=True)
class Comparison:
    """Two per-seed series (indexed by seed) of one setting; ``b`` None compares ``a`` with zero."""

    setting: str
    a_name: str
    b_name: str
    a: pd.Series
    b: pd.Series | None = None

    def _pairs(self) -> pd.DataFrame:
        b = pd.Series(0.0, index=self.a.index) if self.b is None else self.b
        pairs = pd.DataFrame({"a": self.a, "b": b}).astype("float64").dropna()
        return pairs.sort_index()

    @property
    def seeds(self) -> list[int]:
        return [int(s) for s in self._pairs().index]

    @property
    def above(self) -> int:
        """How many paired seeds have ``a > b``."""
        pairs = self._pairs()
        return int((pairs.a > pairs.b).sum())

    def direction(self, min_seeds: int = MIN_SEEDS) -> str:
        """``"up"``, ``"down"``, ``"mixed"``, or ``"waits"`` (fewer than ``min_seeds`` paired seeds)."""
        pairs = self._pairs()
        if len(pairs) < min_seeds:
            return "waits"
        if (pairs.a > pairs.b).all():
            return "up"
        if (pairs.a < pairs.b).all():
            return "down"
        return "mixed"

    @property
    def mean_a(self) -> float:
        pairs = self._pairs()
        return float(pairs.a.mean()) if len(pairs) else math.nan

    @property
    def mean_b(self) -> float:
        pairs = self._pairs()
        return float(pairs.b.mean()) if len(pairs) else math.nan

    @property
    def ratio(self) -> float:
        """``mean(a) / mean(b)``; NaN when ``mean(b) <= 0`` (a ratio to an attack that did no harm says nothing)."""
        a, b = self.mean_a, self.mean_b
        return a / b if math.isfinite(a) and math.isfinite(b) and b > 0 else math.nan

    def size(self, kind: str) -> float:
        return self.ratio if kind == "ratio" else self.mean_a

    def numbers(self) -> str:
        """``"Median: Min-Max 9.0 vs LIE 4.0"`` (means over the paired seeds; no prefix when ``setting`` is empty)."""
        head = f"{self.setting}: " if self.setting else ""
        if self.b is None:
            return f"{head}{self.a_name} {self.mean_a:.1f}"
        return f"{head}{self.a_name} {self.mean_a:.1f} vs {self.b_name} {self.mean_b:.1f}"


@dataclass(frozen=True)
class Judgement:
    """The outcome of a claim on its comparisons, and the numbers that decide it."""

    outcome: str
    text: str
    comparisons: tuple[Comparison, ...] = ()

    @property
    def shown(self) -> str:
        return f"{self.outcome}: {self.text}" if self.text else self.outcome


def _span(values: Sequence[float], kind: str) -> str:
    unit = "×" if kind == "ratio" else " pp"
    lo, hi = min(values), max(values)
    fmt = ".1f"
    return f"{lo:{fmt}}{unit}" if f"{lo:{fmt}}" == f"{hi:{fmt}}" else f"{lo:{fmt}}{unit}–{hi:{fmt}}{unit}"


def _size_text(comparisons: Sequence[Comparison], target: Target) -> str:
    sizes = [c.size(target.kind) for c in comparisons]
    kept = [s for s in sizes if math.isfinite(s)]
    text = "ours " + (_span(kept, target.kind) if kept else "no ratio")
    if len(comparisons) > 1:
        text += f" in {len(kept)} of {len(comparisons)} settings"
    if len(kept) < len(sizes):
        text += f" ({len(sizes) - len(kept)} without a ratio: the compared attacks did no harm)"
    if len(comparisons) == 1 and comparisons[0].b is not None and target.kind == "ratio":
        c = comparisons[0]
        text += f" ({c.a_name} {c.mean_a:.1f} ÷ {c.b_name} {c.mean_b:.1f})"
    return text + f", paper {target.shown}"


def judge(comparisons: Sequence[Comparison], target: Target, *, min_seeds: int = MIN_SEEDS,
          fewest: int | None = None) -> Judgement:
    """The outcome of the rule (module docstring) for a claim checked through ``comparisons``. ``fewest``: the
    fewest committed seeds among every case the claim needs (default: among the compared series); below
    ``min_seeds`` the claim waits."""
    comparisons = tuple(comparisons)
    if not comparisons:
        return Judgement(WAITS, "no committed run of the cases it needs")
    directions = [c.direction(min_seeds) for c in comparisons]
    size = _size_text(comparisons, target)
    fewest = min([len(c.seeds) for c in comparisons] + ([] if fewest is None else [fewest]))
    if fewest < min_seeds:
        seeds = sorted({s for c in comparisons for s in c.seeds})
        where = ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(map(str, seeds))
        return Judgement(WAITS, f"{fewest} of {min_seeds} seeds committed in some case it needs; so far, on {where}: "
                         f"{size}", comparisons)
    against = "zero" if comparisons[0].b is None else "it"
    down = [c for c, d in zip(comparisons, directions, strict=True) if d == "down"]
    if down:
        what = "no harm in any seed" if against == "zero" else "ours below in every seed"
        return Judgement(FAILS, f"{what} in " + "; ".join(c.numbers() for c in down) + f"; {size}", comparisons)
    mixed = [c for c, d in zip(comparisons, directions, strict=True) if d == "mixed"]
    if mixed:
        return Judgement(SPREAD, "the seeds disagree: " + "; ".join(
            f"{c.numbers()} (above in {c.above} of {len(c.seeds)} seeds)" for c in mixed) + f"; {size}", comparisons)
    n = min(len(c.seeds) for c in comparisons)
    seeds = f"above in every seed ({n} of {n})" if against == "it" else f"harm in every seed ({n} of {n})"
    sizes = [c.size(target.kind) for c in comparisons]
    kept = [s for s in sizes if math.isfinite(s)]
    ok = bool(kept) and all(target.within(s) for s in kept)
    if ok:
        return Judgement(HOLDS, f"{size}; {seeds}", comparisons)
    return Judgement(DIRECTION, f"{size} ({_outside(kept, target)}); {seeds}", comparisons)


def _outside(sizes: Sequence[float], target: Target) -> str:
    """On which side of the paper's value the sizes outside it lie."""
    larger = any(s > target.high for s in sizes)
    smaller = any(s < target.low for s in sizes) or not sizes
    if larger and smaller:
        return "some larger, some smaller than the paper's"
    return "larger than the paper's" if larger else "smaller than the paper's"
