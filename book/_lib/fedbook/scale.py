"""The committed scale campaign, block by block, as the Results pages show it: whatever part is committed.

The campaign (``fedlib.experiments.grids.scale_grid``: six blocks on full Fashion-MNIST) is computed over
many sessions and committed under ``results/scale/`` as it goes. A page never waits for a block to be
complete and never computes one: :func:`scale_block` reads the committed runs of a block (``run_missing``
is never set, so nothing is run) and lists the runs still missing, in the grid's own terms.

Example:
    >>> block = scale_block("main", results_dir="/nonexistent")
    >>> len(block.cells), len(block.runs), len(block.missing)
    (165, 0, 165)
    >>> block.status()
    '0 of the 165 runs of this block are committed'
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from fedlib.experiments import grids, seeds_text
from fedlib.report import results as _results
from fedlib.report import tables
from fedlib.report.labels import AGR_LABELS, ATTACK_LABELS
from fedlib.report.results import Cell

from .context import results_dir_for, shown
from .setup import stand_in

if TYPE_CHECKING:
    from .captions import Captions

#: The columns an attacked run shares with its no-attack run (plus the seed).
BY = ("dataset", "model", "aggregator")
_CASE_NAMES = {"aggregator": "AGR", "percent": "% malicious"}


def _first_number(text: str) -> float:
    """The mean of a ``mean_sd`` cell (``"12.3 ± 1.0"`` → 12.3)."""
    return float(str(text).split(" ")[0])


@dataclass
class ScaleBlock:
    """One block of the scale campaign: its cells, the committed runs among them, and the missing ones."""

    name: str
    cells: list[Cell]
    runs: pd.DataFrame
    missing: list[Cell]
    where: str = "results/scale"
    wanted: pd.DataFrame = field(init=False)

    def __post_init__(self) -> None:
        self.wanted = pd.DataFrame([{**c.labels, "seed": c.seed} for c in self.cells])

    @property
    def seeds(self) -> list[int]:
        """The seeds the block's grid asks for."""
        return sorted({c.seed for c in self.cells})

    @property
    def seeds_present(self) -> list[int]:
        """The seeds of which at least one run is committed."""
        return sorted(int(s) for s in self.runs.seed.unique()) if len(self.runs) else []

    def seeds_line(self) -> str:
        """The seeds behind the block's tables: ``"seeds 0, 1, 2"`` when each has a committed run, else
        ``"seeds 0, 1 committed of 0, 1, 2"``."""
        if self.seeds_present == self.seeds:
            return seeds_text(self.seeds)
        return f"{seeds_text(self.seeds_present)} committed of {', '.join(map(str, self.seeds))}"

    def status(self) -> str:
        return f"{len(self.runs)} of the {len(self.cells)} runs of this block are committed"

    def caption(self, extra: str = "") -> str:
        """The provenance line of a scale table or figure: profile and what it stands in for, the seeds committed
        of those the block asks for, the metric, and how much of the block is committed."""
        several = len(self.seeds) > 1
        spread = "; mean ± std over a cell's committed seeds, (n=k): a cell with only k of them" if several else ""
        return (f"Profile `scale`: {stand_in(self.name, short=True)}; {self.seeds_line()}{spread}"
                + f". Impact = no-attack − attacked test accuracy at the best-validation round (the paper's metric), "
                f"pp; '{tables.NOT_YET}': no run yet. {self.status()} ({self.where}). {extra}").strip()

    def short_caption(self, extra: str = "", *, metric: str = "impact in pp at the best-validation round") -> str:
        """The provenance line of a page's later scale tables: profile, dataset, seeds, metric, in one short line
        (the page's first caption, :meth:`caption`, says the rest)."""
        dataset = "Fashion-MNIST (Dirichlet clients)" if self.name == "cross_device" else "Fashion-MNIST"
        return (f"Profile `scale`, dataset {dataset}, {self.seeds_line()}; {metric} (the page's first caption says "
                f"more). {extra}").strip()

    def seeds_per_cell(self) -> str:
        """How many seeds the block's cells (no-attack cells included) have committed: ``"every cell has seeds 0,
        1, 2"`` or ``"3 seeds in 8 of 20 cells, 1 seed in 12"``."""
        keys = [k for k in self.wanted.columns if k != "seed"]
        have = (self.runs.groupby(keys).seed.nunique() if len(self.runs) else pd.Series(dtype=int))
        cells = self.wanted[keys].drop_duplicates()
        counts = cells.merge(have.rename("n").reset_index(), on=keys, how="left").n.fillna(0).astype(int) \
            if len(have) else pd.Series(0, index=cells.index)
        found = counts.value_counts().sort_index(ascending=False)
        if len(found) == 1 and int(found.index[0]) == len(self.seeds):
            return f"every cell has {seeds_text(self.seeds)}"
        parts = [f"{int(k)} seed{'s' if k != 1 else ''} in {int(v)}" for k, v in found.items()]
        return f"{parts[0]} of {len(cells)} cells" + "".join(f", {p}" for p in parts[1:])

    def table(self, *, index=("aggregator",), column: str = "attack", by=BY, clean_accuracy: bool = True,
              **where) -> pd.DataFrame:
        """:func:`fedlib.report.tables.progress_table` of this block, restricted to the cells whose labels
        equal ``where`` (the no-attack cells, labelled ``"-"``, are kept)."""
        runs, wanted = self.runs, self.wanted
        for key, value in where.items():
            wanted = wanted[wanted[key].isin([value, "-"])]
            runs = runs[runs[key].isin([value, "-"])] if len(runs) else runs
        return tables.progress_table(runs, wanted, by=by, index=index, column=column, n_seeds=len(self.seeds),
                                     clean_accuracy=clean_accuracy)

    def late_note(self, cases: Sequence[str], by: Sequence[str] = BY) -> tuple[str, pd.DataFrame]:
        """What the paper's metric (test accuracy at the best-validation round) hides in this block: a sentence
        counting the committed attacked runs that end more than :data:`~fedlib.report.tables.LATE_DROP_PP` pp below
        their best round, and the cells that have such runs (:func:`fedlib.report.tables.best_and_final`, labelled)."""
        attacked = int((self.runs.attack != "none").sum()) if len(self.runs) else 0
        late = len(tables.late_collapses(self.runs)) if attacked else 0
        cells = tables.best_and_final(self.runs, by, cases) if attacked else pd.DataFrame()
        if not late:
            return (f"None of the {attacked} committed attacked runs of this block ends more than "
                    f"{tables.LATE_DROP_PP:g} pp below its best-validation round: the paper's metric hides no late "
                    f"collapse here.", cells)
        head = (f"The paper's metric reads each run at its best-validation round. {late} of the {attacked} committed "
                f"attacked runs of this block end more than {tables.LATE_DROP_PP:g} pp below that round: they collapse "
                f"later, which the metric hides. In these {len(cells)} cells the impact at the last round (the "
                f"no-attack run's round-{self.rounds} test accuracy minus the attacked run's, same seed) is ")
        larger = sum(_first_number(r["impact at the last round"]) > _first_number(r["impact (paper's metric)"])
                     for _, r in cells.iterrows())
        if "percent" in cells:  # 10.0 → "10", as the block's own tables write a percentage
            cells = cells.assign(percent=[f"{v:g}" for v in cells.percent])
        return head + (f"larger in all {len(cells)}." if larger == len(cells) else
                       f"larger in {larger} of them."), tables.label(cells).rename(columns=_CASE_NAMES)

    def late_section(self, cases: Sequence[str], *, captions: Captions, by: Sequence[str] = BY) -> list:
        """The outputs of a Results page's "best and final" part, in order: :meth:`late_note`'s sentence, and
        where some run collapses late, the table of those cells with the page's next caption (none is taken
        when nothing collapses, so the page's numbering has no hole).

        Example:
            >>> from fedbook.captions import Captions
            >>> block = scale_block("dnc", results_dir="/nonexistent")
            >>> [type(part).__name__ for part in block.late_section(["aggregator", "attack"], captions=Captions())]
            ['Markdown']
        """
        from IPython.display import Markdown

        text, cells = self.late_note(cases, by=by)
        if not len(cells):
            return [Markdown(text)]
        caption = captions.table(
            f"Cells with a run that ends more than {tables.LATE_DROP_PP:g} pp below its best-validation round. "
            + self.short_caption(
                metric="impact in pp at the best-validation round (the paper's metric) and at the last round"))
        return [Markdown(text), caption, tables.page_table(cells)]

    def twin_cells(self) -> list[str]:
        """Markdown, one item per pair of attacks that gave the same test accuracy at the same best-validation
        round in every committed seed (at least two) of one case: two table cells a reader would take for a copy
        error. Each item says what differs (the last-round accuracies) and, on a coordinate-wise rule, why the two
        runs agree. Empty when no pair does."""
        runs = self.runs[self.runs.attack != "none"] if len(self.runs) else self.runs
        if not len(runs):
            return []
        case = [k for k in runs.columns if k in self.wanted.columns and k not in ("attack", "seed")]
        items = []
        for key, group in runs.groupby(case, sort=False):
            by_attack = {a: g.set_index("seed").sort_index() for a, g in group.groupby("attack", sort=False)}
            for a, b in itertools.combinations(by_attack, 2):
                x, y = by_attack[a], by_attack[b]
                seeds = x.index.intersection(y.index)
                same = ["test_accuracy", "best_round"]
                if len(seeds) < 2 or not (x.loc[seeds, same] == y.loc[seeds, same]).all().all():
                    continue
                items.append(_twin_text(dict(zip(case, key, strict=True)), (a, x.loc[seeds]), (b, y.loc[seeds])))
        return items

    @property
    def rounds(self) -> int:
        return int(self.cells[0].experiment.rounds)

    def notes(self, *, twins: bool = True) -> list[str]:
        """Markdown to show under a block's first table: the runs not yet committed (none once the block is complete:
        its caption already says so) and, with ``twins``, the :meth:`twin_cells` and :func:`knowledge_twins`."""
        twin_items = self.twin_cells() + knowledge_twins(self.runs) if twins else []
        return ([self.missing_note()] if self.missing else []) + twin_items

    def missing_note(self) -> str:
        """Markdown: every missing run, grouped by rule (and knowledge, percentage, direction), or that none is."""
        if not self.missing:
            return f"*Every one of the {len(self.cells)} runs of this block is committed in {self.where}.*"
        lines = tables.describe_missing({**c.labels, "seed": c.seed} for c in self.missing)
        head = (f"**Not yet computed** ({len(self.missing)} of {len(self.cells)} runs of this block; the scale "
                f"campaign commits them to {self.where} as they finish):")
        return head + "\n\n" + "\n".join(f"- {line}" for line in lines)


#: Rules that aggregate each coordinate from its middle order statistics alone.
COORDINATE_WISE = ("median", "trimmed_mean")
#: Attacks that send the benign mean moved along the run's one perturbation by a searched γ.
GAMMA_SEARCHES = ("tailored", "min_max", "min_sum")


def _twin_text(case: dict, first: tuple[str, pd.DataFrame], second: tuple[str, pd.DataFrame]) -> str:
    (a, x), (b, y) = first, second
    rule = case.get("aggregator", "")
    where = tables.case_name(case)
    text = (f"**Twin cells — {where}: {ATTACK_LABELS.get(a, a)} and {ATTACK_LABELS.get(b, b)}** reach the same test "
            f"accuracy at the same best-validation round in each of {seeds_text(list(x.index))} "
            f"({_percents(x.test_accuracy)}; round {_listed(x.best_round)}). "
            + (f"Not a copy: their last rounds differ ({_percents(x.final_accuracy)} against "
               f"{_percents(y.final_accuracy)})." if (x.final_accuracy != y.final_accuracy).any() else
               f"Their last rounds agree as well ({_percents(x.final_accuracy)})."))
    if rule in COORDINATE_WISE and {a, b} <= set(GAMMA_SEARCHES) and (x.best_round > 0).all():
        text += (f" Both attacks send copies of the benign mean moved along one perturbation, by different γ; "
                 f"{AGR_LABELS.get(rule, rule)} reads only the middle values of each coordinate, and while every copy "
                 f"lies beyond them on the same side, how far it lies does not change the aggregate, so the two "
                 f"attacks train the same model until some copy falls inside that middle.")
    return text


def knowledge_twins(runs: pd.DataFrame) -> list[str]:
    """Markdown, one item per attacked case (rule, attack, …) whose full- and partial-knowledge runs agree at every
    evaluation in every paired seed (at least two): two cells a reader would take for a copy. Each item says so,
    and, when the rule recorded it, in how many rounds it kept a crafted update. Empty when no case does.

    Example:
        >>> runs = pd.DataFrame({"aggregator": "dnc", "attack": "fang", "knowledge": ["full", "partial"] * 2,
        ...                      "seed": [0, 0, 1, 1], "test_accuracy": [93.2, 93.2, 92.8, 92.8], "best_round": 90,
        ...                      "final_accuracy": 93.0, "evaluations": ["a", "a", "b", "b"],
        ...                      "malicious_kept_rounds": 0.0})
        >>> print(knowledge_twins(runs)[0])  # doctest: +ELLIPSIS
        **Twin cells — DnC under Fang: full and partial knowledge** ... (93.2, 92.8 %): separate runs, not a copy. ...
    """
    needed = {"knowledge", "evaluations", "attack", "seed"}
    if not len(runs) or not needed <= set(runs.columns):
        return []
    attacked = runs[(runs.attack != "none") & runs.knowledge.isin(["full", "partial"])]
    case = [k for k in ("dataset", "model", "aggregator", "attack") if k in attacked.columns]
    items = []
    for key, group in attacked.groupby(case, sort=False):
        full, partial = (group[group.knowledge == k].set_index("seed").sort_index() for k in ("full", "partial"))
        seeds = full.index.intersection(partial.index)
        if len(seeds) < 2 or not (full.loc[seeds, "evaluations"] == partial.loc[seeds, "evaluations"]).all():
            continue
        labels = dict(zip(case, key if isinstance(key, tuple) else (key,), strict=True))
        rule = tables.case_name(labels)  # the rule, as every twin note names its case
        attack = ATTACK_LABELS.get(labels["attack"], labels["attack"])
        text = (f"**Twin cells — {rule} under {attack}: full and partial knowledge** give runs that agree at every "
                f"evaluation in each of {seeds_text(list(seeds))} ({_percents(full.loc[seeds, 'test_accuracy'])}): "
                "separate runs, not a copy.")
        kept = pd.concat([full.loc[seeds], partial.loc[seeds]]).malicious_kept_rounds
        if kept.notna().all() and (kept == 0).all():
            text += (f" In every round of all of them {rule} kept none of the crafted updates, so the model saw only "
                     "benign updates, and the identical evaluations show they were the same ones in both settings.")
        items.append(text)
    return items


def _percents(values: pd.Series) -> str:
    return ", ".join(f"{float(v):.1f}" for v in values) + " %"


def _listed(values: pd.Series) -> str:
    unique = sorted({int(v) for v in values})
    return f"{unique[0]} in all" if len(unique) == 1 else ", ".join(str(int(v)) for v in values)


def scale_block(name: str, *, results_dir: os.PathLike | str | None = None, device: str = "auto") -> ScaleBlock:
    """The committed part of scale block ``name`` (``grids.SCALE_BLOCKS``); reads, never runs."""
    folder = results_dir_for("scale", results_dir)
    cells = grids.scale_grid(name, device=device)
    missing = _results.absent(cells, folder)
    absent = {c.experiment.config_hash for c in missing}
    present = [c for c in cells if c.experiment.config_hash not in absent]
    runs = _results.collect(present, profile="scale", results_dir=folder)
    return ScaleBlock(name, cells, runs, missing, where=shown(folder))
