"""The book's own code: what only the Jupyter Book of this repository needs, kept out of the installed fedlib.

Modules: :mod:`fedbook.paper` (the paper's known numbers, as data), :mod:`fedbook.judge` (the rule that judges
a claim on paired per-seed runs), :mod:`fedbook.summary` (each paper number on its own comparison),
:mod:`fedbook.context` (a notebook's parameters and where its results live in this repository), :mod:`fedbook.scale`
(the committed scale campaign, block by block), :mod:`fedbook.setup` (the FL-setup table and every sentence that
describes a profile), :mod:`fedbook.toy` (tiny examples for the teaching chapters), :mod:`fedbook.exercises`
(checkers of the Learn chapters' exercises, and how an exercise is laid out in a notebook) and
:mod:`fedbook.notebooks` (papermill execution and the book build).

General helpers (results → impact tables and figures) are fedlib's: :mod:`fedlib.report`.
Notebooks find this package because the runner puts ``book/_lib`` on the kernel's ``PYTHONPATH``
(``make notebook``, ``make book``, the notebook tests); elsewhere, add that folder yourself.
"""
