"""General helpers that turn results into tables and figures; they never assume a repository's layout.

Modules: :mod:`~fedlib.report.results` (read results from a folder the caller names; running the missing cells
of a grid is :func:`fedlib.sweep.collect`'s job), :mod:`~fedlib.report.tables` (impacts, mean ± sd, the most
robust rule, attack ratios, table layouts), :mod:`~fedlib.report.labels` (display names and the paper's table
order) and :mod:`~fedlib.report.figures`. The experiment grid behind each table, per profile, is
:mod:`fedlib.experiments.grids`. The book's own code (the paper's numbers, the verdicts, the notebook runner)
is the ``fedbook`` package in the repository's ``book/_lib`` folder, not part of fedlib.
"""
