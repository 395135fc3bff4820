"""The book's own code: what only the Jupyter Book of this repository needs, kept out of the installed fedlib.

Modules: :mod:`fedbook.paper` (the paper's known numbers, as data), :mod:`fedbook.judge` (the rule that judges
a claim on paired per-seed runs), :mod:`fedbook.summary` (each paper number on its own comparison),
:mod:`fedbook.context` (a notebook's parameters and where its results live in this repository), :mod:`fedbook.scale`
(the committed scale campaign, block by block), :mod:`fedbook.setup` (the FL-setup table and every sentence that
describes a profile), :mod:`fedbook.toy` (tiny examples for the teaching chapters), :mod:`fedbook.exercises`
(checkers of the Learn chapters' exercises, and how an exercise is laid out in a notebook), :mod:`fedbook.text`
(numbers and lists as a reader reads them), :mod:`fedbook.captions` (a page's table and figure numbers),
:mod:`fedbook.benchmarks` (the Performance page's tables),
:mod:`fedbook.notebooks` (papermill execution and the book build) and :mod:`fedbook.repository` (where the book's
repository is).

General helpers (results → impact tables and figures) are fedlib's: :mod:`fedlib.report`.
This package is installed with the project (``pip install -e ".[book]"``, ``make test``, ``make book``: the
distribution ``fedlib-ndss21`` maps it to ``book/_lib/fedbook``), so notebooks import it under plain
``papermill``, in JupyterLab and under the book's runner alike, with no ``PYTHONPATH``. It finds the book's
``notebooks/`` and ``results/`` in the repository it runs in (:func:`fedbook.repository.find_root`).
"""
