"""General helpers that turn results into tables and figures; they never assume a repository's layout.

Modules: :mod:`~fedlib.report.results` (the results of a grid, from a folder the caller names),
:mod:`~fedlib.report.tables` (impacts, mean ± sd, the most
robust rule, attack ratios, table layouts), :mod:`~fedlib.report.labels` (display names and the paper's table
order) and :mod:`~fedlib.report.figures`. The experiment grid behind each table, per profile, is
:mod:`fedlib.experiments.grids`.
"""
