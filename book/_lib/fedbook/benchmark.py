"""The *Robustness benchmark* chapter's tables, figure and sentences, computed from the committed benchmark block.

The block (``fedlib.experiments.grids.benchmark_grid``) is read through :func:`fedbook.scale.scale_block`, never
computed here; :func:`board` turns whatever part of it is committed into the page's leaderboard (worst case,
rank, honest cost per rule and partition: :mod:`fedlib.report.benchmark`), its heat maps, and sentences whose
every number comes from those tables.

Example:
    >>> import pandas as pd
    >>> from types import SimpleNamespace
    >>> runs = pd.DataFrame({"aggregator": ["median"] * 4 + ["mean"] * 4, "partition": "iid",
    ...                      "attack": ["none", "lie"] * 4, "seed": [0, 0, 1, 1] * 2,
    ...                      "test_accuracy": [80.0, 75.0, 82.0, 76.0, 85.0, 40.0, 86.0, 30.0], "seconds": 60.0})
    >>> view = board(SimpleNamespace(runs=runs, cells=[], seeds=[0, 1]), rules=("median", "mean"), attacks=("lie",),
    ...              partitions=("iid",))
    >>> view.leaderboard().iloc[0][[("", "rule"), ("iid", "worst case (pp)"), ("iid", "by")]].tolist()
    ['Median', '5.5 ± 0.7', 'LIE']
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from fedlib.experiments import describe_profile, experiment_for, grids, seeds_text, setting_words
from fedlib.report import benchmark as bench
from fedlib.report.labels import AGR_LABELS, ATTACK_LABELS

#: How the page names each partition.
PARTITION_LABELS = {"iid": "iid", "dirichlet": "non-iid (Dirichlet α = 0.5)"}
#: The leaderboard's *by* column, narrower than the attack's full label (its caption says so): two partitions
#: of four columns must fit a laptop's text column.
SHORT_ATTACK = {"tailored": "tailored"}
#: The rules whose AGR-tailored attack is the generic black-box search (no dedicated form in the paper).
GENERIC_TAILORED = ("mean", *grids.NEWER_RULES)


def setting_text(block) -> str:
    """What the block runs, generated from the grid's constants and the scale profile's own settings
    (:func:`fedlib.experiments.describe_profile`): nothing here is typed by hand."""
    iid = experiment_for("scale")
    skew = grids.BENCHMARK_PARTITIONS["dirichlet"]
    non_iid = setting_words(experiment_for("scale", **skew))["clients"].split(", ")[1]
    return (
        f"**What ran.** Profile `scale` ({describe_profile('scale')}): the paper's MNIST client layout on the full "
        f"Fashion-MNIST with a smaller network; {seeds_text(block.seeds)}; every attack with **full knowledge** of "
        f"the benign updates. {len(grids.BENCHMARK_RULES)} rules × (no attack + {len(grids.BENCHMARK_ATTACKS)} "
        f"attacks) × {len(grids.BENCHMARK_PARTITIONS)} partitions of the same {iid.n_clients} clients: **iid** "
        f"({iid.samples_per_client} samples each, as in the paper) and **non-iid**, a {non_iid} over the whole "
        f"training pool (client sizes vary; most clients hold a few classes). Fang's attack, designed for the Krum "
        f"family and Trimmed-mean / Median, is aimed at Trimmed-mean against the other rules. {block.status()}."
    )


def _rule(name: str) -> str:
    return AGR_LABELS.get(name, name)


def _ranked(worst: pd.Series | None) -> bool:
    """Whether a rule's worst-case row in one partition carries a rank (the leaderboard shows "–" otherwise)."""
    return worst is not None and math.isfinite(worst["rank"])


def _attack(name: str) -> str:
    return ATTACK_LABELS.get(name, name)


def _alone_unranked(worst: pd.DataFrame) -> pd.DataFrame:
    """``worst`` with the rank of a partition's only ranked rule removed: first of one is no ranking."""
    if worst.empty:
        return worst
    ranked = worst[worst["rank"].notna()].groupby("partition").aggregator.transform("size")
    alone = ranked[ranked < 2].index
    return worst.assign(rank=worst["rank"].where(~worst.index.isin(alone)))


def _span(w: pd.Series) -> str:
    return f"{w.low:.1f}–{w.high:.1f}"


def _names(rules) -> str:
    names = [_rule(r) for r in rules]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


@dataclass
class Board:
    """The chapter's numbers for the committed part of the block (see :func:`board`)."""

    runs: pd.DataFrame
    rules: Sequence[str]
    attacks: Sequence[str]
    partitions: Sequence[str]
    seeds: Sequence[int]

    @property
    def n_seeds(self) -> int:
        return len(self.seeds)

    def __post_init__(self) -> None:
        have = self.runs[self.runs.partition.isin(self.partitions)] if len(self.runs) else self.runs
        self.worst = _alone_unranked(bench.ranks(bench.worst_cases(have))) if len(have) else pd.DataFrame()
        self.costs = bench.honest_costs(have) if len(have) else pd.DataFrame()

    def _row(self, frame: pd.DataFrame, partition: str, rule: str) -> pd.Series | None:
        if frame.empty:
            return None
        hit = frame[(frame.partition == partition) & (frame.aggregator == rule)]
        return None if hit.empty else hit.iloc[0]

    def _flags(self, w: pd.Series) -> str:
        """Footnote marks of a worst case resting on fewer attacks (*) or seeds (†) than the block has."""
        return ("*" if w.attacks < len(self.attacks) else "") + ("†" if w.seeds < self.n_seeds else "")

    def order(self) -> list[str]:
        """The rules in the order of the first partition's ranks, unranked rules last (the leaderboard's rows, and
        the heat maps' rows, so that both read top to bottom alike)."""
        first = self.partitions[0]
        ranked = [] if self.worst.empty else self.worst[self.worst.partition == first].aggregator.tolist()
        return ranked + [r for r in self.rules if r not in ranked]

    def seed_coverage(self, partition: str) -> str:
        """How many seeds stand under the partition's heat-map cells (rule × attack), e.g. "seeds 0, 1, 2 in every
        cell" or "seed 0 in 96 cells, seeds 0, 1 in 7, none yet in 1"; a cell counts a seed when that seed's attacked
        run and its no-attack run are both committed."""
        total = len(self.rules) * len(self.attacks)
        imp = bench.benchmark_impacts(self.runs[self.runs.partition == partition]) if len(self.runs) else None
        counts = pd.Series(dtype="int64")
        if imp is not None and not imp.empty:
            imp = imp[imp.aggregator.isin(self.rules) & imp.attack.isin(self.attacks)]
            counts = imp.groupby(["aggregator", "attack"]).seed.apply(lambda s: tuple(sorted(s))).value_counts()
        if len(counts) == 1 and counts.iloc[0] == total:
            return f"{seeds_text(list(counts.index[0]))} in every cell"
        parts = [f"{seeds_text(list(seeds))} in {n}" for seeds, n in counts.items()]
        if total > counts.sum():
            parts.append(f"none yet in {total - counts.sum()}")
        return ", ".join(parts) + f" of the {total} cells"

    def leaderboard(self) -> pd.DataFrame:
        """One row per rule; for each partition (a column group) its rank, worst case (pp) and the attack behind
        it. Rows in the order of the first partition's ranks (unranked rules last)."""
        def cells(part: str, rule: str) -> dict[str, str]:
            w = self._row(self.worst, part, rule)
            return {"rank": str(int(w["rank"])) if _ranked(w) else "–",
                    "worst case (pp)": "–" if w is None else w.text + self._flags(w),
                    "by": "–" if w is None else SHORT_ATTACK.get(w.attack, _attack(w.attack))}  # fmt: skip

        return self._per_rule(cells)

    def cost_table(self) -> pd.DataFrame:
        """One row per rule, in the leaderboard's order; for each partition the rule's no-attack accuracy (%) and
        its honest cost against the plain mean (pp), mean ± sd over the paired seeds."""
        def cells(part: str, rule: str) -> dict[str, str]:
            c = self._row(self.costs, part, rule)
            return {"no-attack accuracy (%)": "–" if c is None else c.accuracy_text,
                    "honest cost (pp)": "–" if c is None or not math.isfinite(c.cost) else c.cost_text}  # fmt: skip

        return self._per_rule(cells)

    def _per_rule(self, cells) -> pd.DataFrame:
        """One row per rule in the leaderboard's order, a column group per partition: ``cells(partition, rule)``
        gives the group's columns."""
        rows = []
        for rule in self.order():
            row: dict[tuple[str, str], object] = {("", "rule"): _rule(rule)}
            for part in self.partitions:
                row |= {(PARTITION_LABELS[part], name): value for name, value in cells(part, rule).items()}
            rows.append(row)
        table = pd.DataFrame(rows)
        table.columns = pd.MultiIndex.from_tuples(table.columns)
        return table

    def cost_caption(self) -> str:
        return (
            "What each rule gives up when nobody attacks: its no-attack accuracy, and the honest cost, the plain "
            "mean's (FedSGD averaging) no-attack accuracy minus the rule's, same seed (mean ± sd over the seeds "
            f"with both runs; negative: the rule does better than the mean). Profile `scale`, Fashion-MNIST, "
            f"{seeds_text(self.seeds)}; rows in the leaderboard's order; \"–\": no run committed yet."
        )

    def leaderboard_caption(self) -> str:
        """The leaderboard's caption; it explains only the marks the table shows ("–", \\*, †)."""
        parts = " and ".join(f"**{PARTITION_LABELS[p]}**" for p in self.partitions)
        rows = [self._row(self.worst, p, r) for p in self.partitions for r in self.rules]
        flags = "".join(self._flags(w) for w in rows if w is not None)  # the marks the table's cells carry
        marks = []
        if not all(_ranked(w) for w in rows):
            marks.append(f"\"–\": not ranked (fewer than {bench.MIN_SEEDS} seeds, or the only rule of its partition "
                         "with them) or no paired run committed yet")
        if "*" in flags:
            marks.append(f"\\* the worst case of fewer than the {len(self.attacks)} attacks (the others are not "
                         "committed yet)")
        if "†" in flags:
            marks.append(f"† fewer than {self.n_seeds} seeds: such a worst case can differ from its heat-map cell "
                         "below, which averages all of that cell's seeds")
        return (
            f"Each rule's worst case over the {len(self.attacks)} attacks, {parts} side by side "
            f"(impact in pp, mean ± sd over the seeds committed for every attack of the rule, so that no attack wins "
            f"by having fewer seeds; *by*: the attack behind it, *tailored* for AGR-tailored). Rows in the order of "
            f"the {PARTITION_LABELS[self.partitions[0]]} ranks. Profile `scale`, Fashion-MNIST, seeds "
            f"{', '.join(map(str, self.seeds))}." + "".join(f" {m}." for m in marks)
        )

    def findings(self) -> str:
        """Sentences computed from the leaderboard: per partition, the rules ranked first and last, and how often the
        AGR-tailored attack is a rule's worst case."""
        if self.worst.empty:
            return "*No benchmark run is committed yet.*"
        lines = []
        for part in self.partitions:
            listed = self.worst[self.worst.partition == part]
            w = listed[listed["rank"].notna()]
            if w.empty:
                alone = listed[listed.seeds >= bench.MIN_SEEDS]
                who = "no rule has" if alone.empty else f"only {_names(alone.aggregator)} has"
                lines.append(f"- **{PARTITION_LABELS[part]}**: {who} {bench.MIN_SEEDS} seeds under every attack so "
                             "far; nothing is ranked yet (a rank needs two rules with them).")
                continue
            best = w[w["rank"] == w["rank"].min()]
            worst = w[w["rank"] == w["rank"].max()]
            tailored = int((w.attack == "tailored").sum())
            names = ", ".join(f"{_rule(r.aggregator)} ({r.text} pp, {_attack(r.attack)})" for r in best.itertuples())
            last = ", ".join(f"{_rule(r.aggregator)} ({r.text} pp, {_attack(r.attack)})" for r in worst.itertuples())
            so_far = "" if len(w) == len(listed) else f" so far, of the {len(listed)} listed: ranks among them only"
            lines.append(
                f"- **{PARTITION_LABELS[part]}** ({len(w)} rules ranked{so_far}): rank 1 — {names}; last — {last}. "
                f"The AGR-tailored attack is the worst case of {tailored} of these {len(w)} rules."
            )
        return "\n".join(lines)

    def rank_example(self, partition: str) -> str:
        """One worked reading of the rank rule on the partition's own numbers: a rule that shares the top rank
        although its mean is larger (its per-seed interval overlaps the leader's), and the first rule ranked below
        them (its smallest per-seed worst case lies above every seed of the rules counted against it). Empty when
        the board has no such pair."""
        if self.worst.empty:
            return ""
        w = self.worst[(self.worst.partition == partition) & self.worst["rank"].notna()]
        top = w[w["rank"] == 1]
        below = w[w["rank"] > 1]
        if len(top) < 2 or below.empty:
            return ""
        leader, tied, nxt = top.iloc[0], top.iloc[1], below.iloc[0]
        above = w[w.high < nxt.low]
        return (
            f"**Reading a rank, {PARTITION_LABELS[partition]}.** {_rule(tied.aggregator)} shares rank 1 with "
            f"{_rule(leader.aggregator)} although its mean worst case is larger ({tied.text} against {leader.text} "
            f"pp): its per-seed worst cases ({_span(tied)} pp) overlap {_rule(leader.aggregator)}'s ({_span(leader)} "
            f"pp), so the seeds do not separate them. {_rule(nxt.aggregator)} ({nxt.text} pp) ranks "
            f"{int(nxt['rank'])}: its smallest per-seed worst case ({nxt.low:.1f} pp) is larger than every "
            f"per-seed worst case of {_names(above.aggregator)}."
        )

    def figure(self):
        matrices = {
            PARTITION_LABELS[p]: bench.impact_matrix(self.runs, p, self.order(), self.attacks) for p in self.partitions
        }
        return bench.heatmaps(matrices, title="Mean impact of each attack on each rule (pp)",
                              labels=(AGR_LABELS, ATTACK_LABELS))  # fmt: skip

    def figure_caption(self) -> str:
        return (
            "Mean impact (pp) over the seeds committed, rules × attacks, one panel per partition, one "
            "colour scale for both (0 = no harm); rules in the leaderboard's order. Profile `scale`, Fashion-MNIST, "
            "full knowledge; a cell is the mean over its committed seeds: "
            + "; ".join(f"{PARTITION_LABELS[p]}, {self.seed_coverage(p)}" for p in self.partitions) + "."
        )

    def cost_text(self) -> str:
        """What putting one new rule on the board costs, from the committed runs' own clocks."""
        runs = self.runs
        if runs.empty or "seconds" not in runs:
            return "*No committed run to price a new rule from yet.*"
        per: dict[str, float] = {}
        if "diverged" in runs:  # a run stopped early by a destroyed model says nothing about a run's cost
            runs = runs[~runs.diverged.astype(bool)]
        for attack in ("none", *self.attacks):
            pool = runs[runs.attack == attack]
            if attack == "tailored":  # a new rule gets the generic search: price it from the generic cells
                pool = pool[pool.aggregator.isin(GENERIC_TAILORED)]
            if len(pool):
                per[attack] = float(pool.seconds.median())
        if len(per) < 1 + len(self.attacks):
            return "*Not every attack has a committed run yet: the cost of a new rule cannot be priced.*"
        cells = len(self.partitions) * self.n_seeds
        hours = sum(per.values()) * cells / 3600
        return (
            f"**Cost, stated up front.** One rule on the whole board is {(1 + len(self.attacks)) * cells} training "
            f"runs of {experiment_for('scale').rounds} rounds ({len(self.partitions)} partitions × {self.n_seeds} "
            f"seeds × (no attack + {len(self.attacks)} attacks)). Priced at the median run time of each attack in the "
            f"committed block (one CPU thread; the AGR-tailored attack at its generic search's runs; runs that "
            f"diverged and stopped early left out): about "
            f"**{hours:.1f} CPU-hours**, of which the generic AGR-tailored attack takes "
            f"{per['tailored'] * cells / 3600:.1f}. "
            f"A single partition and seed is {1 + len(self.attacks)} runs, about "
            f"{sum(per.values()) / 60:.0f} minutes."
        )


def board(block, *, rules: Sequence[str] = grids.BENCHMARK_RULES, attacks: Sequence[str] = grids.BENCHMARK_ATTACKS,
          partitions: Sequence[str] = tuple(grids.BENCHMARK_PARTITIONS)) -> Board:  # fmt: skip
    """The :class:`Board` of a benchmark block (a :class:`fedbook.scale.ScaleBlock` or anything with ``runs``,
    ``cells`` and ``seeds``)."""
    return Board(block.runs, tuple(rules), tuple(attacks), tuple(partitions), tuple(block.seeds))
