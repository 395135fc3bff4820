"""A results notebook's parameters, resolved once, and where its results live in this repository.

This module, not the installed fedlib, knows the repository's layout (the repository is found by
:func:`fedbook.repository.find_root`):

- every profile reads the committed ``results/<profile>/`` folder. ``quick``: results of every quick grid
  cell (100 rounds, the seeds of :data:`DEFAULT_SEEDS`) are committed, so the notebook tests and ``make book``
  only read them; a cell missing from the folder is computed (``run_missing`` defaults to True) and written
  there — the notebook tests fail when that happens, so the committed folder always covers the quick grids;
- ``scale`` and ``full``: read and never recomputed unless a notebook is run with ``run_missing=True``.

A results folder written by ``python -m fedlib reproduce`` holds its manifest
(:class:`fedlib.experiments.reproduce.Reproduction`): a notebook of that profile then keeps only the
manifest's datasets, applies its changes (rounds, stand-in network) to every cell, so that it reads exactly
the results the sweep stored, and says so on the page; a pipeline check is labelled as not the paper's setting.

Example:
    >>> from fedbook.context import ROOT, Context, results_dir_for
    >>> results_dir_for("scale").relative_to(ROOT).as_posix()
    'results/scale'
    >>> Context("quick").describe()
    'profile `quick`, seeds 0, 1, 2, results read from results/quick'
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fedlib.errors import ConfigError
from fedlib.experiments import seeds_text
from fedlib.experiments.reproduce import Reproduction
from fedlib.report import results as _results
from fedlib.report.results import Cell, check_profile, default_run_missing
from fedlib.sweep import run_missing

from .repository import find_root

#: The book's repository root (:func:`fedbook.repository.find_root`: found, not assumed from where fedbook is).
ROOT = find_root()

#: Seeds a notebook uses when its ``seeds`` parameter is None, the three seeds whose results are committed for
#: every quick grid and every block of the scale campaign (so a page run with ``profile="scale"`` reads them
#: all), and that the full profile runs. (The Results pages read the committed scale campaign with each block's
#: own seeds, ``grids.SCALE_SEEDS``, through :mod:`fedbook.scale`.)
DEFAULT_SEEDS = {"quick": [0, 1, 2], "scale": [0, 1, 2], "full": [0, 1, 2]}


def results_dir_for(profile: str, results_dir: os.PathLike | str | None = None) -> Path:
    """The folder a notebook reads and writes results in (see the module docstring)."""
    check_profile(profile)
    if results_dir is not None:
        return Path(results_dir)
    return ROOT / "results" / profile


def shown(folder: Path) -> str:
    """How a page names a results folder: relative to the repository, never a machine's absolute path."""
    folder = Path(folder).resolve()
    if folder.is_relative_to(ROOT):
        return folder.relative_to(ROOT).as_posix()
    return f"the folder passed as results_dir ({folder.name})"


@dataclass
class Context:
    """What a results notebook needs from its ``parameters`` cell, resolved once.

    Example:
        >>> from fedbook.context import Context
        >>> ctx = Context("quick", seeds=None)
        >>> ctx.seeds, ctx.run_missing
        ([0, 1, 2], True)
    """

    profile: str
    device: str = "auto"
    seeds: Sequence[int] | None = None
    results_dir: os.PathLike | str | None = None
    run_missing: bool | None = None
    notebook: str | None = None

    def __post_init__(self) -> None:
        check_profile(self.profile)
        self.seeds = list(DEFAULT_SEEDS[self.profile] if self.seeds is None else self.seeds)
        if not self.seeds or not all(isinstance(s, int) and s >= 0 for s in self.seeds):
            raise ConfigError(f"seeds: expected a non-empty list of ints >= 0 (or None); found {self.seeds!r}.")
        self.run_missing = default_run_missing(self.profile) if self.run_missing is None else bool(self.run_missing)
        self.folder = results_dir_for(self.profile, self.results_dir)
        manifest = Reproduction.load(self.folder)
        self.reproduction = manifest if manifest is not None and manifest.profile == self.profile else None
        self._announced = False

    def collect(self, cells: Sequence[Cell]) -> pd.DataFrame:
        """The results of ``cells``, computing the missing ones when ``run_missing``. Every cell must belong
        to this context's profile: a quick-profile notebook (which computes what is missing) handed scale or
        full cells would recompute full-size runs into the quick cache; committed results are read through
        :func:`committed` or :func:`fedbook.scale.scale_block` instead."""
        foreign = sorted({c.experiment.profile for c in cells} - {self.profile})
        if foreign:
            raise ConfigError(f"Context({self.profile!r}).collect: expected cells of the {self.profile!r} "
                              f"profile; found cells of {foreign} (read committed results with "
                              f"fedbook.scale.scale_block or fedbook.context.committed, which never run).")
        if self.reproduction is not None:
            cells = self.reproduction.adapt(cells)
            self._announce()
        if self.run_missing:
            run_missing([c.experiment for c in cells], self.folder, device=self.device)
        return _results.collect(cells, profile=self.profile, results_dir=self.folder,
                                how=compute_with(self.profile, self.notebook), where=shown(self.folder))

    @property
    def paper_setting(self) -> bool:
        """False when these results are a pipeline check of ``fedlib reproduce`` (fewer rounds, stand-in net)."""
        return self.reproduction is None or self.reproduction.paper_setting

    @property
    def setting(self) -> str:
        """How a column of our numbers names where they come from, ``"full profile"`` or, for a pipeline
        check, ``"full-profile pipeline check"``."""
        return f"{self.profile} profile" if self.paper_setting else f"{self.profile}-profile pipeline check"

    def _announce(self) -> None:
        """Say once, above the first table, that these results come from a reproduction (and which)."""
        if self._announced or self.reproduction is None:
            return
        from IPython.display import Markdown, display

        rep = self.reproduction
        head = ("**Results of `fedlib reproduce`:**" if rep.paper_setting else
                "**Pipeline check, not the paper's numbers.** These results come from `fedlib reproduce` with")
        display(Markdown(f"{head} {rep.describe()}."))
        self._announced = True

    def describe(self) -> str:
        """Where a page's runs come from, as a reader reads it: profile, seeds, device (when chosen) and folder."""
        device = "" if self.device == "auto" else f", device {self.device}"
        return (f"profile `{self.profile}`, {seeds_text(self.seeds)}{device}, results read from {shown(self.folder)}"
                + (f" (results of the sweep only); fedlib reproduce: {self.reproduction.describe()}"
                   if self.reproduction is not None else ""))


def compute_with(profile: str, notebook: str | None) -> str:
    """The command that computes a notebook's missing results of ``profile`` (the book's ``make notebook``).

    Example:
        >>> from fedbook.context import compute_with
        >>> compute_with("scale", "notebooks/main_table.py")
        'make notebook NB=notebooks/main_table.py PARAMS="-p profile scale -p run_missing true -p device cuda"'
    """
    nb = notebook or "notebooks/<this notebook>.py"
    return f'make notebook NB={nb} PARAMS="-p profile {profile} -p run_missing true -p device cuda"'


def committed(profile: str, cells_for: Callable[[list[int]], Sequence[Cell]], *, notebook: str | None = None,
              results_dir: os.PathLike | str | None = None):
    """Committed results of ``profile`` (``scale`` or ``full``) for the grid ``cells_for(seeds)`` with the
    profile's default seeds, if every one is present; else ``(None, note)``. Nothing is ever run."""
    folder = results_dir_for(profile, results_dir)
    return _results.committed(profile, lambda: cells_for(DEFAULT_SEEDS[profile]), results_dir=folder,
                              how=compute_with(profile, notebook), where=shown(folder))
