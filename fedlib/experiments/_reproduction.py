"""What ``python -m fedlib reproduce`` runs: a :class:`Reproduction` (its manifest).

A reproduction names the paper's full-profile grids (:data:`fedlib.experiments.grids.FULL_GRIDS`), optionally only
some datasets and seeds, and, for a check that the pipeline runs end to end, fewer rounds (``rounds``) and a small
stand-in network (``stand_in_model``); or, with ``profile="scale"``, blocks of the scale campaign
(:data:`fedlib.experiments.grids.SCALE_BLOCKS`: full Fashion-MNIST in the paper's MNIST setting, each block with its
own seeds unless ``seeds`` says otherwise). A full reproduction leaves its manifest in its results folder
(:data:`MANIFEST`), so that whoever reads the results (the book's pages) can adapt its cells to the same changes and
say whether they are the paper's setting.

Example:
    >>> from fedlib.experiments.reproduce import Reproduction
    >>> rep = Reproduction(grids=("main",), datasets=("mnist",), seeds=(0,), rounds=2, stand_in_model=True)
    >>> len(rep.experiments()), rep.paper_setting
    (55, False)
    >>> rep.experiments()[0].rounds, rep.experiments()[0].model_options
    (2, {'hidden': [16]})
    >>> len(Reproduction(profile="scale", grids=("dnc",)).experiments())
    33
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from . import grids as _grids
from ._config import Experiment

#: The manifest a reproduction leaves in its results folder (read back by whoever reads the results).
MANIFEST = "reproduction.json"
#: The grids of each profile ``reproduce`` runs, the paper's settings or the scale campaign (default: all of them).
PROFILE_GRIDS = {"full": _grids.FULL_GRIDS, "scale": _grids.SCALE_BLOCKS}
#: What ``reproduce`` runs: the paper's settings, or the scale campaign.
PROFILES = tuple(PROFILE_GRIDS)
#: The full profile's default seeds, the paper's three (a scale block's default is its own, grids.SCALE_SEEDS).
FULL_SEEDS = (0, 1, 2)
#: The stand-in network: the fully-connected net of the dataset's input with one hidden layer of this width.
STAND_IN_HIDDEN = 16
#: The fully-connected family that takes each dataset's inputs (CIFAR10's 3×32×32 images have none).
STAND_IN_MODELS = {
    "mnist": "mnist_fc",
    "fashion_mnist": "mnist_fc",
    "femnist": "mnist_fc",
    "purchase100": "purchase_fc",
}
FULL_DATASETS = tuple(dict.fromkeys(d for d, _ in _grids.DATASETS["full"]))
#: The scale profile's dataset.
SCALE_DATASETS = tuple(dict.fromkeys(d for d, _ in _grids.DATASETS["scale"]))


@dataclass(frozen=True)
class Reproduction:
    """What ``fedlib reproduce`` runs: the full grids ``grids`` (None: all of them) for ``datasets`` (None: all
    five settings) and ``seeds`` (None: the paper's three), with the profile's rounds and networks unless
    ``rounds`` / ``stand_in_model`` say otherwise.

    ``rounds`` replaces every cell's number of rounds (evaluating at least at the last one) and
    ``stand_in_model`` its network by :data:`STAND_IN_MODELS` with one hidden layer of :data:`STAND_IN_HIDDEN`
    units; either makes the results a check that the pipeline runs, never the paper's numbers
    (:attr:`paper_setting` is then False).

    ``profile="scale"``: ``grids`` are blocks of the scale campaign (:data:`fedlib.experiments.grids.SCALE_BLOCKS`),
    on its one dataset (Fashion-MNIST), each with its own seeds (``grids.SCALE_SEEDS``) unless ``seeds`` is
    given. Its results are the book's committed full-size evidence, so a pipeline check (``rounds``,
    ``stand_in_model``) is refused there: check the pipeline with the full profile.
    """

    profile: str = "full"
    grids: tuple[str, ...] | None = None
    datasets: tuple[str, ...] | None = None
    seeds: tuple[int, ...] | None = None
    rounds: int | None = None
    stand_in_model: bool = False

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ConfigError(f"reproduce runs the paper's settings or the scale campaign: expected profile in "
                              f"{list(PROFILES)}; found {self.profile!r}.")  # fmt: skip
        known = PROFILE_GRIDS[self.profile]
        names = tuple(known if self.grids is None else self.grids)
        object.__setattr__(self, "grids", names)
        unknown = sorted(set(names) - set(known))
        if unknown or not names:
            raise ConfigError(f"grids: expected some of {list(known)}; found {list(names)}.")
        if self.datasets is not None:
            object.__setattr__(self, "datasets", tuple(self.datasets))
            bad = sorted(set(self.datasets) - set(self.known_datasets))
            if bad or not self.datasets:
                raise ConfigError(
                    f"datasets: expected some of {list(self.known_datasets)}; found {list(self.datasets)}."
                )
        seeds = FULL_SEEDS if self.seeds is None and self.profile == "full" else self.seeds
        object.__setattr__(self, "seeds", None if seeds is None else tuple(seeds))
        if self.seeds is not None and (
            not self.seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in self.seeds)
        ):
            raise ConfigError(f"seeds: expected a non-empty list of ints >= 0; found {list(self.seeds)}.")
        if self.rounds is not None and not (isinstance(self.rounds, int) and self.rounds >= 1):
            raise ConfigError(f"rounds: expected an int >= 1 or None (the profile's); found {self.rounds!r}.")
        self._check_pipeline_check()

    def _check_pipeline_check(self) -> None:
        if self.profile == "scale" and not self.paper_setting:
            raise ConfigError(
                "the scale profile's results are the book's committed full-size evidence: expected its own rounds "
                f"and network; found rounds={self.rounds!r}, stand_in_model={self.stand_in_model!r} (check the "
                "pipeline with --profile full --rounds N --stand-in-model)."
            )
        no_stand_in = sorted(set(self.datasets or FULL_DATASETS) - set(STAND_IN_MODELS))
        if self.stand_in_model and no_stand_in:
            raise ConfigError(
                f"stand_in_model: the stand-in is a fully-connected net and none takes the inputs of "
                f"{no_stand_in} (3×32×32 images); choose datasets among {sorted(STAND_IN_MODELS)}."
            )

    @property
    def known_datasets(self) -> tuple[str, ...]:
        """The datasets of this reproduction's profile."""
        return SCALE_DATASETS if self.profile == "scale" else FULL_DATASETS

    @property
    def paper_setting(self) -> bool:
        """True when every cell keeps the profile's rounds and network."""
        return self.rounds is None and not self.stand_in_model

    def keeps(self, dataset: str) -> bool:
        return self.datasets is None or dataset in self.datasets

    def adapt_experiment(self, exp: Experiment) -> Experiment:
        """``exp`` with this reproduction's rounds and network."""
        changes: dict[str, Any] = {}
        if self.rounds is not None:
            changes.update(rounds=self.rounds, eval_every=min(exp.eval_every, self.rounds))
        if self.stand_in_model:
            changes.update(model=STAND_IN_MODELS[exp.dataset], model_options={"hidden": [STAND_IN_HIDDEN]})
        return exp.replace(**changes) if changes else exp

    def adapt(self, cells: Sequence) -> list:
        """The cells (:class:`fedlib.experiments.grids.Cell`) of this reproduction's datasets, adapted; labels kept."""
        return [
            dataclasses.replace(c, experiment=self.adapt_experiment(c.experiment))
            for c in cells
            if self.keeps(c.experiment.dataset)
        ]

    def cells(self, grid: str) -> list:
        """The adapted cells of one grid (a scale block: its cells, each block with its own seeds by default)."""
        if self.profile == "scale":
            return self.adapt(_grids.scale_grid(grid, None if self.seeds is None else list(self.seeds)))
        return self.adapt(_grids.full_grid(grid, list(self.seeds or FULL_SEEDS), datasets=self.datasets))

    def experiments(self) -> list[Experiment]:
        """Every distinct experiment of the chosen grids, in grid order."""
        seen: dict[str, Experiment] = {}
        for grid in self.grids or ():
            for cell in self.cells(grid):
                seen.setdefault(cell.experiment.config_hash, cell.experiment)
        return list(seen.values())

    def describe(self) -> str:
        """One line for a page or the plan: what was run and whether it is the paper's setting."""
        from ..vocabulary import DATASET_LABELS
        from ._profiles import profile_table, seeds_text

        datasets = list(self.datasets or self.known_datasets)
        names = ", ".join(DATASET_LABELS.get(d, d) for d in datasets)
        seeds = "each block's own seeds" if self.seeds is None else seeds_text(self.seeds)
        what = f"profile `{self.profile}`, {names}, {seeds}"
        if self.paper_setting:
            return f"{what}, the profile's rounds and networks"
        changes = []
        if self.rounds is not None:
            table = profile_table()[self.profile]
            usual = ", ".join(f"{DATASET_LABELS.get(d, d)} {table[d]['rounds']}" for d in datasets)
            changes.append(f"{self.rounds} round(s) instead of the profile's ({usual})")
        if self.stand_in_model:
            changes.append(f"a stand-in network (fully connected, one hidden layer of {STAND_IN_HIDDEN} units)")
        return f"{what}, {' and '.join(changes)}: a pipeline check, not the paper's setting"

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    def save(self, results_dir: os.PathLike | str) -> Path:
        """Write the manifest into ``results_dir`` (atomically)."""
        from .._io import atomic_write_json

        path = Path(results_dir) / MANIFEST
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, self.to_dict())
        return path

    @classmethod
    def load(cls, results_dir: os.PathLike | str) -> Reproduction | None:
        """The manifest in ``results_dir``, or None when there is none."""
        path = Path(results_dir) / MANIFEST
        if not path.is_file():
            return None
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{path}: expected a reproduction manifest written by fedlib reproduce ({exc}).") from exc


def with_data_root(exp: Experiment, data_root: os.PathLike | str | None) -> Experiment:
    """``exp`` reading its dataset from ``<data_root>/<dataset>``, where ``fedlib data fetch --root`` installs it
    (``None``: the default folder, ``$FEDLIB_DATA/<dataset>`` or the user data folder)."""
    return exp if data_root is None else exp.replace(data_root=str(Path(data_root) / exp.dataset))
