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

import os
from dataclasses import dataclass, field

import pandas as pd

from fedlib.experiments import grids
from fedlib.report import results as _results
from fedlib.report import tables
from fedlib.report.results import Cell

from .context import results_dir_for, shown

#: The columns an attacked run shares with its no-attack run (plus the seed).
BY = ("dataset", "model", "aggregator")


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

    def status(self) -> str:
        return f"{len(self.runs)} of the {len(self.cells)} runs of this block are committed"

    def caption(self, extra: str = "") -> str:
        """The provenance line of a scale table or figure: profile, dataset, the seeds committed of those the
        block asks for, the metric, and how much of the block is committed."""
        committed = ", ".join(map(str, self.seeds_present)) or "none yet"
        several = len(self.seeds) > 1
        return (f"Profile `scale`, dataset Fashion-MNIST (full; the paper used MNIST), seed(s) {committed} committed "
                f"of {', '.join(map(str, self.seeds))}; " + ("mean ± std over a cell's committed seeds, (n=k) where "
                                                             "fewer; " if several else "")
                + f"impact = no-attack − attacked test accuracy (best-validation round), pp; '{tables.NOT_YET}': "
                f"no run yet. {self.status()} ({self.where}). {extra}").strip()

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

    def missing_note(self) -> str:
        """Markdown: every missing run, grouped by rule (and knowledge, percentage, direction), or that none is."""
        if not self.missing:
            return f"*Every one of the {len(self.cells)} runs of this block is committed in {self.where}.*"
        lines = tables.describe_missing({**c.labels, "seed": c.seed} for c in self.missing)
        head = (f"**Not yet computed** ({len(self.missing)} of {len(self.cells)} runs of this block; the scale "
                f"campaign commits them to {self.where} as they finish):")
        return head + "\n\n" + "\n".join(f"- {line}" for line in lines)


def scale_block(name: str, *, results_dir: os.PathLike | str | None = None, device: str = "auto") -> ScaleBlock:
    """The committed part of scale block ``name`` (``grids.SCALE_BLOCKS``); reads, never runs."""
    folder = results_dir_for("scale", results_dir)
    cells = grids.scale_grid(name, device=device)
    missing = _results.absent(cells, folder)
    absent = {c.experiment.config_hash for c in missing}
    present = [c for c in cells if c.experiment.config_hash not in absent]
    runs = _results.collect(present, profile="scale", results_dir=folder)
    return ScaleBlock(name, cells, runs, missing, where=shown(folder))
