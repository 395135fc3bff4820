"""The book's own code: what only the Jupyter Book of this repository needs, kept out of the installed fedlib.

Modules: :mod:`fedbook.paper` (the paper's known numbers, as data), :mod:`fedbook.summary`
(paper-versus-ours verdicts), :mod:`fedbook.context` (a notebook's parameters and where its results live in
this repository), :mod:`fedbook.setup` (the FL-setup table), :mod:`fedbook.toy` (tiny examples for the
teaching chapters), :mod:`fedbook.exercises` (checkers of the Learn chapters' exercises, and how an exercise is laid
out in a notebook) and :mod:`fedbook.notebooks` (papermill execution and the book build).

General helpers (results → impact tables and figures) are fedlib's: :mod:`fedlib.report`.
Notebooks find this package because the runner puts ``book/_lib`` on the kernel's ``PYTHONPATH``
(``make notebook``, ``make book``, the notebook tests); elsewhere, add that folder yourself.
"""
