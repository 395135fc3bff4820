"""The exercises of the Learn chapters: each checker accepts a right answer and rejects known wrong ones with a hint,
and each Learn notebook holds at least three exercises laid out as fedbook.exercises documents: the check shown under
the starting answer rejects it (with a hint), and the hidden solution passes its own check."""

from __future__ import annotations

import contextlib
import doctest
import io
import math
from pathlib import Path

import pytest
import torch
from fedbook import exercises as ex
from fedbook.toy import point_cloud
from helpers import exercise_cells as cells_of

from fedlib.attacks import Z_TABLE_NDSS21, craft

ROOT = Path(__file__).resolve().parents[2]


def test_docstring_examples_run():
    result = doctest.testmod(ex, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def rejects(check, *args, match: str | None = None, **kwargs) -> None:
    with pytest.raises(ex.ExerciseFailed, match=match) as failure:
        check(*args, strict=True, **kwargs)
    assert "Hint:" in str(failure.value), f"no hint in: {failure.value}"


def accepts(check, *args, **kwargs) -> None:
    """The check passes (strict: a failure raises) and says so with its ✓ line."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        check(*args, strict=True, **kwargs)
    assert out.getvalue().startswith("✓"), out.getvalue()


def test_a_failing_check_prints_not_passed_with_a_hint_and_raises_only_when_strict(capsys):
    ex.check_coordinate_median(lambda x: x.mean(dim=0))
    out = capsys.readouterr().out
    assert out.startswith("✗ Not passed yet:") and "Hint: that is the mean" in out and "✓" not in out
    rejects(ex.check_coordinate_median, lambda x: x.mean(dim=0), match="that is the mean")
    rejects(ex.check_lie_z, lambda n, m: 0.0, match="Φ⁻¹")  # no known mistake: the checker's default hint


def test_in_a_notebook_the_hint_sits_behind_a_click_and_the_failure_stays_on_its_line(monkeypatch, capsys):
    import IPython.display

    shown = []
    monkeypatch.setattr(ex, "_in_notebook", lambda: True)
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    ex.check_coordinate_median(lambda x: x.mean(dim=0))
    out = capsys.readouterr().out
    assert out.startswith("✗ Not passed yet: on an input of") and "Hint" not in out
    [hint] = shown
    assert hint.data.startswith('<details class="exercise-hint"><summary>Hint:</summary><p>that is the mean')
    assert " open" not in hint.data.split(">")[0]  # closed until the reader opens it
    ex.show_failure("no hint here.")  # a failure without a hint is one line, as in a terminal
    assert capsys.readouterr().out == "✗ Not passed yet: no hint here.\n" and len(shown) == 1


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
    accepts(ex.check_coordinate_median, median_by_quantile)
    accepts(ex.check_released_median, lambda x: x.median(dim=0).values)
    rejects(ex.check_coordinate_median, lambda x: x.mean(dim=0))
    rejects(ex.check_coordinate_median, lambda x: x.median(dim=0).values, match="two middle values")
    rejects(ex.check_released_median, median_by_quantile, match="lower of the two middle values")
    rejects(ex.check_coordinate_median, lambda x: x.median(dim=1).values, match="shape")  # wrong axis
    rejects(ex.check_coordinate_median, lambda x: NotImplemented, match="returned nothing")
    rejects(ex.check_coordinate_median, lambda x: 1 / 0, match="ZeroDivisionError")


def test_krum_index_checker():
    accepts(ex.check_krum_index, krum_by_loops)
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
    accepts(ex.check_fools_krum, at_mean, honest, min_shift=0.0)
    rejects(ex.check_fools_krum, at_mean[:, :1], honest, match="coordinates")
    # Copies one honest standard deviation from the mean, on the side where Krum still picks them (seed 0).
    direction = torch.tensor([math.cos(math.radians(140)), math.sin(math.radians(140))], dtype=honest.dtype)
    accepts(ex.check_fools_krum, (honest.mean(dim=0) + 1.05 * direction).expand(4, -1).clone(), honest)


def test_min_max_test_checker():
    accepts(ex.check_min_max_test, min_max_accepts)
    rejects(ex.check_min_max_test, lambda benign, gamma: True, match="must reject")
    rejects(ex.check_min_max_test, min_sum_accepts, match="Min-Sum")
    biased = lambda b, g: min_max_accepts(b, g * b.std(dim=0, unbiased=False).norm() / b.std(dim=0).norm())  # noqa: E731
    rejects(ex.check_min_max_test, biased)  # the biased std moves the boundary


def test_halving_checker():
    accepts(ex.check_halving_search, halving_reference)
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
    accepts(ex.check_exact_min_max_gamma, exact_gamma_by_bisection)
    rejects(ex.check_exact_min_max_gamma, lambda b: craft("min_max", b, 1).gamma, match="halving")
    rejects(ex.check_exact_min_max_gamma, lambda b: craft("min_sum", b, 1, search="exact").gamma)


def test_lie_z_checker():
    accepts(ex.check_lie_z, lie_z_formula)
    rejects(ex.check_lie_z, lambda n, m: Z_TABLE_NDSS21.get(m, 0.0))
    rejects(ex.check_lie_z, lambda n, m: Z_TABLE_NDSS21.get(m, lie_z_formula(n, m)), match="released table")


def test_krum_scores_checker():
    accepts(ex.check_krum_scores, krum_scores_pair)
    rejects(ex.check_krum_scores, lambda x, f: krum_scores_pair(x, f, released_like_textbook=True), match="ndss21")
    rejects(ex.check_krum_scores, lambda x, f: krum_scores_pair(x, f)[0], match="pair")


def test_krum_variants_differ_checker():
    accepts(ex.check_krum_variants_differ, torch.tensor([[0.0], [0.0], [0.0], [5.0], [6.0], [7.0], [8.0]]), 1)
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
#: Every notebook with exercises: the Learn chapters and "Test your own rule".
WITH_EXERCISES = [*LEARN, ROOT / "notebooks" / "your_own_rule.py"]


@pytest.mark.parametrize("source", WITH_EXERCISES, ids=[p.stem for p in WITH_EXERCISES])
def test_exercises_show_the_check_of_the_starting_answer_and_hide_the_solution_with_its_check(source):
    found = cells_of.exercises(source)
    assert len(found) >= 3, f"{source.name}: {len(found)} exercise(s); a chapter with exercises needs at least 3"
    for label, exercise in found.items():
        assert label.startswith(f"{source.stem}-"), f"{source.name}: label {label} must start with the chapter stem"
        kinds = " ".join(exercise.kinds)
        assert cells_of.LAYOUT.fullmatch(kinds), (
            f"{source.name} {label}: cells are [{kinds}]; expected the exercise, the starting answer, its check, "
            "then solution-start, the solution, its check, solution-end")
        assert "strict=True" in exercise.solution_check, f"{source.name} {label}: the solution's check is not strict"
        assert "strict" not in exercise.check, f"{source.name} {label}: the shown check must not be strict"


def test_exercise_labels_are_unique_across_the_book():
    labels = [label for source in WITH_EXERCISES for label in cells_of.exercises(source)]
    assert len(labels) == len(set(labels))


def run_cell(code: str, namespace: dict) -> str:
    """Execute one cell's code in ``namespace``; return what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(code, namespace)
    return out.getvalue()


def assert_check_outputs(label: str, shown: str, solution: str) -> None:
    """The check under the starting answer says it does not pass yet, with a hint, and shows no success; the
    solution's check passes."""
    assert shown.startswith("✗ Not passed yet:") and "Hint:" in shown, f"{label}: the starting answer {shown!r}"
    assert "✓" not in shown, f"{label}: the check of the starting answer shows a success: {shown!r}"
    assert solution.startswith("✓") and "✗" not in solution, f"{label}: the solution's check printed {solution!r}"


@pytest.mark.notebook
@pytest.mark.parametrize("source", LEARN, ids=[p.stem for p in LEARN])
def test_starting_answers_fail_their_check_and_the_solutions_pass(source):
    """Runs the chapter's code in order, in this process, as the book does: the check under each starting answer
    must reject it with a hint, and the check inside the hidden solution must pass."""
    import os

    import matplotlib

    if os.environ.get("FEDLIB_SKIP_NOTEBOOKS") == "1":
        pytest.skip("FEDLIB_SKIP_NOTEBOOKS=1")
    matplotlib.use("Agg")  # plt.show() draws nothing here
    found = cells_of.exercises(source)
    checks = {ex_.check: label for label, ex_ in found.items()}
    solution_checks = {ex_.solution_check: label for label, ex_ in found.items()}
    namespace: dict = {"__name__": "__notebook__"}
    shown: dict[str, str] = {}
    passed: dict[str, str] = {}
    for cell in cells_of.cells(source):
        if cell.cell_type != "code":
            continue
        printed = run_cell(cell.source, namespace)
        if cell.source in checks:
            shown[checks[cell.source]] = printed
        elif cell.source in solution_checks:
            passed[solution_checks[cell.source]] = printed
    assert set(shown) == set(passed) == set(found)
    for label in found:
        assert_check_outputs(label, shown[label], passed[label])
