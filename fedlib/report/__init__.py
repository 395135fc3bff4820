"""Helpers that turn results into the book's tables and figures, and run the book's notebooks.

Modules: :mod:`~fedlib.report.paper` (the paper's known numbers, as data), :mod:`~fedlib.report.grids`
(the experiment grid behind each table, per profile), :mod:`~fedlib.report.results` (load or run a grid
through the results cache), :mod:`~fedlib.report.tables` (impacts and table layouts),
:mod:`~fedlib.report.summary` (paper-versus-ours verdicts), :mod:`~fedlib.report.setup` (the FL-setup
table), :mod:`~fedlib.report.figures`, :mod:`~fedlib.report.toy` (tiny examples for the teaching
chapters) and :mod:`~fedlib.report.notebooks` (papermill execution and the book build).
"""
