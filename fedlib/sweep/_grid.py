"""Grid files: a ``base`` experiment and the lists whose Cartesian product makes the sweep.

A grid is a mapping (usually read from YAML) with exactly these top-level keys:

``base``
    A mapping of :class:`~fedlib.experiments.Experiment` settings shared by every run: ``profile`` (default
    ``"quick"``), ``dataset`` and any Experiment field as an override of the profile's defaults, plus ``seed``
    (sets the four seeds at once).
``grid``
    A mapping from the same keys to non-empty lists; the sweep is their Cartesian product, the first key
    varying slowest (the order of the file). It may also be a list of such mappings: the sweep is then the
    concatenation of their products, in order (e.g. a no-attack block and an attack block).

Example (YAML)::

    base: {profile: quick, rounds: 3, n_malicious: 4}
    grid:
      aggregator: [mean, median]
      attack: [lie, min_max]
      seed: [0, 1]

gives 2 × 2 × 2 = 8 experiments. Nothing is guessed: an unknown key anywhere raises
:class:`~fedlib.errors.ConfigError` naming it and the allowed keys; a grid value that is not a non-empty list
raises too.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Union

from .._checks import did_you_mean
from ..errors import ConfigError, InputTypeError

TOP_LEVEL = ("base", "grid")
# Keys a grid accepts besides the Experiment fields: `seed` sets split/init/sample/attack seeds together.
EXTRA_KEYS = ("seed",)
DEFAULT_PROFILE = "quick"
from ..experiments._config import SEED_FIELDS  # noqa: E402  (the one list of the four seeds)

GridLike = Union[Mapping[str, Any], str, "os.PathLike[str]"]


def allowed_keys() -> list[str]:
    """Keys accepted in ``base`` and ``grid``: every Experiment field (``profile`` included) and ``seed``."""
    from ..experiments import Experiment  # late: keeps `import fedlib.sweep` cheap

    return [f.name for f in dataclasses.fields(Experiment)] + list(EXTRA_KEYS)


def load_grid(path: str | os.PathLike[str]) -> dict:
    """Read a grid file (YAML; JSON is YAML too) and return its mapping, unexpanded.

    Raises :class:`~fedlib.errors.ConfigError` if the file is missing, is not valid YAML, or is not a mapping.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"grid file {str(path)!r}: expected an existing YAML file; found none.")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"grid file {str(path)!r}: expected valid YAML; found a syntax error: {err}") from None
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"grid file {str(path)!r}: expected a mapping with keys {list(TOP_LEVEL)}; found {type(data).__name__}."
        )
    return dict(data)


def _check_keys(mapping: Mapping[str, Any], where: str, allowed: Sequence[str]) -> None:
    for key in mapping:
        if key not in allowed:
            hint = did_you_mean(key, allowed)
            raise ConfigError(f"{where}: unknown key {key!r}; allowed keys: {list(allowed)}.{hint}")


def _axes(block: Any, where: str, allowed: Sequence[str]) -> list[tuple]:
    """Validate one ``grid`` mapping and return its (key, values) pairs in file order."""
    if not isinstance(block, Mapping):
        raise ConfigError(f"{where}: expected a mapping from setting names to lists; found {type(block).__name__}.")
    _check_keys(block, where, allowed)
    axes = []
    for key, values in block.items():
        if not isinstance(values, (list, tuple)) or len(values) == 0:
            raise ConfigError(
                f"{where}.{key}: expected a non-empty list of values to sweep over; found {values!r}. "
                f"(Put single values in `base`.)"
            )
        axes.append((key, list(values)))
    return axes


def _points(grid: Any, allowed: Sequence[str]) -> Iterable[dict]:
    blocks = grid if isinstance(grid, list) else [grid]
    if isinstance(grid, list) and not grid:
        raise ConfigError("grid: expected a mapping of lists or a non-empty list of such mappings; found [].")
    for i, block in enumerate(blocks):
        where = "grid" if not isinstance(grid, list) else f"grid[{i}]"
        axes = _axes(block, where, allowed)
        keys = [k for k, _ in axes]
        for combo in itertools.product(*(v for _, v in axes)):
            yield dict(zip(keys, combo, strict=True))


def expand(grid: GridLike) -> list:
    """Expand a grid (mapping, or path to a YAML file) into the list of Experiments it describes.

    Each point of the product is merged over ``base`` (grid values win), then built with
    :func:`fedlib.experiments.experiment_for` (``profile`` and ``dataset`` pick the defaults, every other key
    overrides one field; ``seed`` then sets the four seeds). Order: ``grid`` blocks in order, within a block
    the first key varies slowest. Duplicates are kept (a sweep runs each distinct config once).

    Example:
        >>> from fedlib.sweep import expand
        >>> exps = expand({"base": {"profile": "quick", "rounds": 2},
        ...                "grid": {"aggregator": ["mean", "median"], "seed": [0, 1]}})
        >>> [(e.aggregator, e.init_seed) for e in exps]
        [('mean', 0), ('mean', 1), ('median', 0), ('median', 1)]
    """
    if isinstance(grid, (str, os.PathLike)):
        grid = load_grid(grid)
    if not isinstance(grid, Mapping):
        raise InputTypeError(f"grid: expected a mapping or a path to a YAML file; found {type(grid).__name__}.")
    _check_keys(grid, "grid file", TOP_LEVEL)
    if "grid" not in grid:
        raise ConfigError(f"grid file: missing key 'grid' (the lists to sweep over); found keys {list(grid)}.")
    allowed = allowed_keys()
    base = grid.get("base") or {}
    if not isinstance(base, Mapping):
        raise ConfigError(f"base: expected a mapping of Experiment settings; found {type(base).__name__}.")
    _check_keys(base, "base", allowed)
    return [_build({**base, **point}) for point in _points(grid["grid"], allowed)]


def _build(settings: Mapping[str, Any]):
    from ..experiments import experiment_for

    settings = dict(settings)
    profile = settings.pop("profile", DEFAULT_PROFILE)
    dataset = settings.pop("dataset", None)
    seed = settings.pop("seed", None)
    clash = sorted(k for k in SEED_FIELDS if k in settings)
    if seed is not None and clash:
        raise ConfigError(
            f"grid point {dict(settings, seed=seed)}: `seed` sets {list(SEED_FIELDS)} together; found it with "
            f"{clash} as well. Use either `seed` or the individual seeds."
        )
    experiment = experiment_for(profile, dataset, **settings)
    if seed is not None:
        experiment = experiment.with_seed(seed)
    return experiment
