"""The exercises of the Learn chapters: each checker accepts a right answer and rejects known wrong ones, and each
Learn notebook holds at least three exercises laid out as fedbook.exercises documents (hidden solution, check)."""

from __future__ import annotations

import doctest
import math
import re
from pathlib import Path

import pytest
import torch
from fedbook import exercises as ex
from fedbook.toy import point_cloud

from fedlib.attacks import Z_TABLE_NDSS21, craft

ROOT = Path(__file__).resolve().parents[2]


def test_docstring_examples_run():
    result = doctest.testmod(ex, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def rejects(check, *args, match: str | None = None, **kwargs) -> None:
    with pytest.raises(ex.ExerciseFailed, match=match):
        check(*args, **kwargs)


# Right answers, written independently of the notebooks' solutions where there is a second way.


def median_by_quantile(x):
    return x.quantile(0.5, dim=0)


def krum_by_loops(x, f):
    n = x.shape[0]
    scores = []
    for i in range(n):
        others = sorted(float(((x[i] - x[j]) ** 2).sum()) for j in range(n) if j != i)
        scores.append(sum(others[: n - f - 2]))
    return min(range(n), key=scores.__getitem__)


def halving_reference(success, gamma_init, tau):
    gamma, step, best = gamma_init, gamma_init, 0.0
    while abs(best - gamma) > tau:
        if success(gamma):
            best, gamma = gamma, gamma + step / 2
        else:
            gamma -= step / 2
        step /= 2
    return best


def min_max_accepts(benign, gamma):
    malicious = benign.mean(dim=0) - gamma * benign.std(dim=0)
    return bool(((benign - malicious) ** 2).sum(dim=1).max() <= (torch.cdist(benign, benign) ** 2).max())


def min_sum_accepts(benign, gamma):
    malicious = benign.mean(dim=0) - gamma * benign.std(dim=0)
    return bool(((benign - malicious) ** 2).sum() <= (torch.cdist(benign, benign) ** 2).sum(dim=1).min())


def exact_gamma_by_bisection(benign):
    lo, hi = 0.0, 100.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if min_max_accepts(benign, mid) else (lo, mid)
    return lo


def lie_z_formula(n, m):
    s = math.floor(n / 2 + 1) - m
    return float(torch.special.ndtri(torch.tensor((n - s) / n, dtype=torch.float64)))


def krum_scores_pair(x, f, *, released_like_textbook=False):
    n = x.shape[0]
    ordered = (torch.cdist(x, x) ** 2).sort(dim=1).values
    textbook = ordered[:, 1 : n - f - 1].sum(dim=1)
    return textbook, textbook if released_like_textbook else ordered[:, : n - f - 2].sum(dim=1)


def test_median_checkers_accept_the_right_variant_and_reject_the_other():
    ex.check_coordinate_median(median_by_quantile)
    ex.check_released_median(lambda x: x.median(dim=0).values)
    rejects(ex.check_coordinate_median, lambda x: x.mean(dim=0))
    rejects(ex.check_coordinate_median, lambda x: x.median(dim=0).values, match="two middle values")
    rejects(ex.check_released_median, median_by_quantile, match="lower of the two middle values")
    rejects(ex.check_coordinate_median, lambda x: x.median(dim=1).values, match="shape")  # wrong axis
    rejects(ex.check_coordinate_median, lambda x: NotImplemented, match="returned nothing")
    rejects(ex.check_coordinate_median, lambda x: 1 / 0, match="ZeroDivisionError")


def test_krum_index_checker():
    ex.check_krum_index(krum_by_loops)
    closest_to_mean = lambda x, f: int(torch.linalg.vector_norm(x - x.mean(dim=0), dim=1).argmin())  # noqa: E731
    rejects(ex.check_krum_index, closest_to_mean)

    def counts_self(x, f):  # the released score: n - f - 2 entries including the zero self-distance
        n = x.shape[0]
        return int((torch.cdist(x, x) ** 2).sort(dim=1).values[:, : n - f - 2].sum(dim=1).argmin())

    rejects(ex.check_krum_index, counts_self, match="nearest \\*other\\* rows")


def test_fools_krum_checker():
    points = point_cloud(16, 4, seed=0)
    honest = points[4:]
    rejects(ex.check_fools_krum, points[:4], honest, match="selected honest row")  # the far cluster
    at_mean = honest.mean(dim=0).expand(4, -1).clone()
    rejects(ex.check_fools_krum, at_mean, honest, match="lies only")  # selected, but it moves nothing
    ex.check_fools_krum(at_mean, honest, min_shift=0.0)
    rejects(ex.check_fools_krum, at_mean[:, :1], honest, match="coordinates")
    # Copies one honest standard deviation from the mean, on the side where Krum still picks them (seed 0).
    direction = torch.tensor([math.cos(math.radians(140)), math.sin(math.radians(140))], dtype=honest.dtype)
    ex.check_fools_krum((honest.mean(dim=0) + 1.05 * direction).expand(4, -1).clone(), honest)


def test_min_max_test_checker():
    ex.check_min_max_test(min_max_accepts)
    rejects(ex.check_min_max_test, lambda benign, gamma: True, match="must reject")
    rejects(ex.check_min_max_test, min_sum_accepts, match="Min-Sum")
    biased = lambda b, g: min_max_accepts(b, g * b.std(dim=0, unbiased=False).norm() / b.std(dim=0).norm())  # noqa: E731
    rejects(ex.check_min_max_test, biased)  # the biased std moves the boundary


def test_halving_checker():
    ex.check_halving_search(halving_reference)
    rejects(ex.check_halving_search, lambda s, g0, tau: g0 if s(g0) else 0.0, match="probes")

    def returns_last_probe(success, gamma_init, tau):
        gamma, step, best = gamma_init, gamma_init, 0.0
        while abs(best - gamma) > tau:
            if success(gamma):
                best, gamma = gamma, gamma + step / 2
            else:
                gamma -= step / 2
            step /= 2
        return gamma

    rejects(ex.check_halving_search, returns_last_probe, match="returns")

    def bisection(success, gamma_init, tau):  # a textbook bisection on [0, 2 γ_init]: other probes
        lo, hi = 0.0, 2 * gamma_init
        while hi - lo > tau:
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if success(mid) else (lo, mid)
        return lo

    rejects(ex.check_halving_search, bisection)


def test_exact_gamma_checker():
    ex.check_exact_min_max_gamma(exact_gamma_by_bisection)
    rejects(ex.check_exact_min_max_gamma, lambda b: craft("min_max", b, 1).gamma, match="halving")
    rejects(ex.check_exact_min_max_gamma, lambda b: craft("min_sum", b, 1, search="exact").gamma)


def test_lie_z_checker():
    ex.check_lie_z(lie_z_formula)
    rejects(ex.check_lie_z, lambda n, m: Z_TABLE_NDSS21.get(m, 0.0))
    rejects(ex.check_lie_z, lambda n, m: Z_TABLE_NDSS21.get(m, lie_z_formula(n, m)), match="released table")


def test_krum_scores_checker():
    ex.check_krum_scores(krum_scores_pair)
    rejects(ex.check_krum_scores, lambda x, f: krum_scores_pair(x, f, released_like_textbook=True), match="ndss21")
    rejects(ex.check_krum_scores, lambda x, f: krum_scores_pair(x, f)[0], match="pair")


def test_krum_variants_differ_checker():
    ex.check_krum_variants_differ(torch.tensor([[0.0], [0.0], [0.0], [5.0], [6.0], [7.0], [8.0]]), 1)
    # The notebook's starting point, on which both variants select the 0.
    same = torch.tensor([[-3.0], [-1.0], [0.0], [1.0], [2.0], [4.0], [9.0]])
    rejects(ex.check_krum_variants_differ, same, 1, match="both variants select row 2")
    rejects(ex.check_krum_variants_differ, torch.tensor([[0.0], [0.0], [0.0], [5.0], [6.0], [7.0], [8.5]]), 1,
            match="integers")
    rejects(ex.check_krum_variants_differ, torch.zeros(6, 1), 1, match="tensor")


# --- the notebooks ----------------------------------------------------------------------------------------


def learn_chapters() -> list[Path]:
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    learn = next(p for p in toc["parts"] if p["caption"] == "Learn")
    return [ROOT / "notebooks" / f"{Path(c['file']).name}.py" for c in learn["chapters"]]


LEARN = learn_chapters()
EXERCISE = re.compile(r"```\{exercise\}[^\n]*\n:label: (\S+)")
SOLUTION_START = re.compile(r"```\{solution-start\} (\S+)\n:class: dropdown\n```")


def exercise_layout(source: Path) -> dict[str, list[str]]:
    """For each exercise label, the kinds of the cells from the exercise to the first code cell after its
    solution: e.g. ["exercise", "code", "solution-start", "code", "solution-end", "code"]."""
    import jupytext

    cells = jupytext.read(source, fmt="py:percent").cells
    layout: dict[str, list[str]] = {}
    current = None
    for cell in cells:
        text = cell.source
        if cell.cell_type == "markdown" and (found := EXERCISE.search(text)):
            current = found.group(1)
            assert current not in layout, f"{source.name}: label {current} used twice"
            layout[current] = ["exercise"]
        elif current is None:
            continue
        elif cell.cell_type == "markdown" and (found := SOLUTION_START.search(text)):
            assert found.group(1) == current, f"{source.name}: solution-start {found.group(1)} inside {current}"
            layout[current].append("solution-start")
        elif cell.cell_type == "markdown" and "```{solution-end}" in text:
            layout[current].append("solution-end")
        elif cell.cell_type == "code":
            layout[current].append("check" if re.search(r"^check_\w+\(", text, re.M) else "code")
            if layout[current][-1] == "check":
                current = None
    return layout


@pytest.mark.parametrize("source", LEARN, ids=[p.stem for p in LEARN])
def test_learn_chapter_has_three_exercises_with_hidden_solution_and_check(source):
    layout = exercise_layout(source)
    assert len(layout) >= 3, f"{source.name}: {len(layout)} exercise(s); the Learn chapters need at least 3"
    for label, kinds in layout.items():
        assert label.startswith(f"{source.stem}-"), f"{source.name}: label {label} must start with the chapter stem"
        start, end = kinds.index("solution-start"), kinds.index("solution-end")  # ValueError: missing
        assert "code" in kinds[1:start], f"{source.name} {label}: no answer cell before the solution"
        assert "code" in kinds[start:end], f"{source.name} {label}: no code inside the hidden solution"
        assert kinds[-1] == "check" and kinds.index("check") > end, f"{source.name} {label}: no check after it"


def test_exercise_labels_are_unique_across_the_learn_chapters():
    labels = [label for source in LEARN for label in exercise_layout(source)]
    assert len(labels) == len(set(labels))


@pytest.mark.notebook
@pytest.mark.parametrize("source", LEARN, ids=[p.stem for p in LEARN])
def test_answer_cells_as_committed_fail_their_check_and_the_solutions_pass(source, capsys):
    """Runs the notebook's code in order, in this process; at each check cell, first with the answer cell as
    committed (the check must reject it), then with the hidden solution (the check must pass)."""
    import os

    import jupytext
    import matplotlib

    if os.environ.get("FEDLIB_SKIP_NOTEBOOKS") == "1":
        pytest.skip("FEDLIB_SKIP_NOTEBOOKS=1")
    matplotlib.use("Agg")  # plt.show() draws nothing here
    namespace: dict = {"__name__": "__notebook__"}
    solution: list[str] | None = None
    pending: list[str] = []
    checked = 0
    for cell in jupytext.read(source, fmt="py:percent").cells:
        if cell.cell_type == "markdown":
            if SOLUTION_START.search(cell.source):
                solution = pending = []
            elif "```{solution-end}" in cell.source:
                solution = None
            continue
        if solution is not None:
            solution.append(cell.source)  # held back until the committed answer has been checked
        elif re.search(r"^check_\w+\(", cell.source, re.M):
            with pytest.raises(ex.ExerciseFailed):
                exec(cell.source, namespace)
            for code in pending:
                exec(code, namespace)
            exec(cell.source, namespace)
            pending, checked = [], checked + 1
        else:
            exec(cell.source, namespace)
    assert checked >= 3 and capsys.readouterr().out.count("✓") == checked
