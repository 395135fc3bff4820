"""Experiments: the :class:`Experiment` config, profiles (quick / scale / full), and the results store
(:class:`ResultsStore`: one folder of ``<config hash>.json`` files, the only code that reads or writes them).

Example:
    >>> from fedlib.experiments import experiment_for, run
    >>> exp = experiment_for("quick", aggregator="median", attack="min_max", rounds=20)  # doctest: +SKIP
    >>> result = run(exp, results_dir="results")  # doctest: +SKIP
"""

from ._config import Experiment
from ._profiles import (
    PROFILE_NAMES,
    describe_experiment,
    describe_profile,
    experiment_for,
    profile_table,
    seeds_text,
    setting_words,
)
from ._results import run, versions
from .store import Result, ResultsStore, default_results_dir, load_result, result_path

__all__ = [
    "Experiment",
    "describe_experiment",
    "describe_profile",
    "experiment_for",
    "profile_table",
    "PROFILE_NAMES",
    "Result",
    "ResultsStore",
    "default_results_dir",
    "load_result",
    "result_path",
    "run",
    "seeds_text",
    "setting_words",
    "versions",
]
