r"""Checkers for the exercises of the Learn chapters: each runs a student's answer and compares it with fedlib.

A checker ``check_<what>(answer, ...)`` calls the answer on seeded random inputs (or inspects the input the
student built) and compares the result with what fedlib computes. A passing answer prints one line starting
with ``✓``. A wrong one prints one line starting with ``✗ Not passed yet:`` that says on which input the answer
went wrong, what fedlib expected and what the answer gave, and always ends with a hint (a specific one when
the mistake is a known one, e.g. the lower middle value where the textbook median averages the two middle
values). In a notebook the hint sits behind a click (an HTML ``<details>`` element), like the solutions, so
that a page whose check runs on the starting answer shows what does not pass yet without giving the answer
away; elsewhere (a terminal, a test) it stays on the line. With ``strict=True`` a wrong answer raises
:class:`ExerciseFailed` (an ``AssertionError``) with that message instead, which is how the solutions and the
tests call the checkers. Checkers never compare with a
stored number: the reference is always a fedlib call made at check time, so they check the same thing the
library tests.

Layout of an exercise in a book notebook (Jupytext py:percent; the chapter *Test your own rule* follows it too):

1. A markdown cell holding a MyST ``exercise`` directive: a title, ``:label: <chapter-stem>-<slug>`` (labels
   are unique across the book), the task stated precisely (the name and signature to define, what it returns)
   and what the check verifies.
2. A code cell where the student writes the answer. As committed it holds a runnable but wrong starting point
   (e.g. the mean where the median is asked for).
3. A code cell calling the checker on that answer, as the student will: on the page it shows that the start
   does not pass yet, and the hint.
4. A markdown cell opening the ``solution-start`` directive for the label, with ``:class: dropdown``
   (sphinx-exercise's gated syntax: the solution is hidden behind a toggle by sphinx-togglebutton), the
   solution code cell, which redefines the same name, a code cell calling the checker with ``strict=True``
   (its ``✓`` line is the only success the page shows, inside the toggle; a wrong solution stops the
   notebook), and a markdown cell closing it (``solution-end``). No heading may fall between
   ``solution-start`` and ``solution-end``, and no label is reused.

Checkers take plain callables or tensors, draw inputs from an explicit ``torch.Generator``, work in float64
and are fast (well under a second each). ``tests/book/test_exercises.py`` proves that each one rejects the
notebook's starting answer and known wrong answers, with a hint, and accepts the solution.

Example:
    >>> from fedbook.exercises import check_coordinate_median
    >>> import torch
    >>> check_coordinate_median(lambda x: x.quantile(0.5, dim=0))
    ✓ your coordinate-wise median equals fedlib.aggregate("median", ...) on 24 random inputs (odd and even n)
    >>> check_coordinate_median(lambda x: x.mean(dim=0))  # doctest: +ELLIPSIS
    ✗ Not passed yet: on an input of 5 rows × 1 coordinate... Hint: that is the mean; ...
    >>> check_coordinate_median(lambda x: x.mean(dim=0), strict=True)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    fedbook.exercises.ExerciseFailed: ...
"""

from __future__ import annotations

import functools
import html
import math
import numbers
from collections.abc import Callable, Iterator
from typing import Any

import torch

from fedlib import aggregators, attacks

from .text import number_text, values_text, vector_text

DTYPE = torch.float64


class ExerciseFailed(AssertionError):
    """The answer to an exercise is wrong; the message says on which input and how, and gives a hint."""


def checker(hint: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Turn a check that raises :class:`ExerciseFailed` into the form the notebooks call.

    The decorated check takes ``strict`` (keyword, default False): on a wrong answer it prints
    ``✗ Not passed yet: <what went wrong> Hint: <hint>`` and returns, or with ``strict=True`` raises
    :class:`ExerciseFailed` with that message. ``hint`` is added to every failure whose message carries no
    specific hint of its own. A passing check prints its own ``✓`` line.
    """

    def decorate(check: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(check)
        def run(*args: Any, strict: bool = False, **kwargs: Any) -> None:
            try:
                check(*args, **kwargs)
            except ExerciseFailed as exc:
                message = str(exc) if "Hint:" in str(exc) else f"{exc} Hint: {hint}"
                if strict:
                    raise ExerciseFailed(message) from None
                show_failure(message)

        return run

    return decorate


def show_failure(message: str) -> None:
    """Print ``✗ Not passed yet: <message>``; in a notebook the part from ``Hint:`` on is shown behind a click.

    Example:
        >>> from fedbook.exercises import show_failure
        >>> show_failure("yours is 3. Hint: sort first.")
        ✗ Not passed yet: yours is 3. Hint: sort first.
    """
    found, _, hint = message.partition(" Hint: ")
    if not hint or not _in_notebook():
        print(f"✗ Not passed yet: {message}")
        return
    from IPython.display import HTML, display

    print(f"✗ Not passed yet: {found}")
    display(HTML(f'<details class="exercise-hint"><summary>Hint:</summary><p>{html.escape(hint)}</p></details>'))


def _in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel, whose front ends (and the book) render HTML outputs."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return getattr(get_ipython(), "kernel", None) is not None


def _matrix_text(x: torch.Tensor) -> str:
    return "; ".join(values_text(row) for row in x.tolist())


def require(condition: bool, message: str) -> None:
    """Raise :class:`ExerciseFailed` with ``message`` unless ``condition`` holds."""
    # An explicit raise rather than `assert`: checks must not vanish under `python -O`.
    if not condition:
        raise ExerciseFailed(message)


def _kind(value: Any) -> str:
    """What a wrong-typed answer is, for a message: its type, and its shape when it has one."""
    shape = getattr(value, "shape", None)
    return f"{type(value).__name__} of shape {tuple(shape)}" if shape is not None else type(value).__name__


def _call(answer: Callable[..., Any], *args: Any) -> Any:
    """Call the student's function, turning a placeholder or a crash into a readable failure."""
    require(callable(answer), f"expected a function; found a {_kind(answer)}.")
    try:
        result = answer(*args)
    except Exception as exc:  # the student's code may raise anything: report it as the exercise's failure
        raise ExerciseFailed(f"your function raised {type(exc).__name__}: {exc}.") from exc
    require(result is not NotImplemented and result is not None,
             "your function returned nothing yet: write your answer in the cell above the check.")
    return result


def _as_vector(value: Any, d: int, what: str) -> torch.Tensor:
    require(isinstance(value, torch.Tensor), f"{what}: expected a torch.Tensor; found a {_kind(value)}.")
    require(tuple(value.shape) == (d,), f"{what}: expected shape ({d},); found {tuple(value.shape)}.")
    return value.to(DTYPE)


def _as_number(value: Any, what: str) -> float:
    one = isinstance(value, numbers.Real) or (isinstance(value, torch.Tensor) and value.numel() == 1)
    require(one, f"expected one number {what}; found a {_kind(value)}.")
    return float(value)


def _close(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-9) -> bool:
    return bool(torch.allclose(a.to(DTYPE), b.to(DTYPE), rtol=0.0, atol=atol))


def _random_inputs(shapes: list[tuple[int, int]], seed: int, *, integers: bool = False) -> Iterator[torch.Tensor]:
    """Seeded (n, d) inputs; ``integers`` draws small integers, whose ties the answers must handle too."""
    g = torch.Generator().manual_seed(seed)
    for n, d in shapes:
        if integers:
            yield torch.randint(-5, 6, (n, d), generator=g).to(DTYPE)
        else:
            yield torch.randn(n, d, generator=g, dtype=DTYPE) * 3.0 + 1.0


def _grid_inputs(seed: int) -> list[torch.Tensor]:
    shapes = [(n, d) for n in (5, 6, 7, 10, 11, 20) for d in (1, 4)]
    return [*_random_inputs(shapes, seed), *_random_inputs(shapes, seed + 1, integers=True)]


# ---------------------------------------------------------------------------------------------------------
# Robust aggregation at a glance

MEDIAN_HINT = ("sort each column (torch.sort along dimension 0) and take the middle value; for an even number of "
               "rows, the mean of the two middle values.")


def _check_median_variant(answer: Callable[[torch.Tensor], Any], variant: str, seed: int) -> int:
    other = "ndss21" if variant == "textbook" else "textbook"
    inputs = _grid_inputs(seed)
    for x in inputs:
        expected = aggregators.aggregate("median", x, 0, variant=variant).vector
        got = _as_vector(_call(answer, x.clone()), x.shape[1], "your median")
        if _close(got, expected):
            continue
        hint = ""
        if _close(got, aggregators.aggregate("median", x, 0, variant=other).vector):
            hint = (" Hint: for an even number of rows the textbook median averages the two middle values."
                    if variant == "textbook" else
                    " Hint: the released code returns the lower of the two middle values (torch.median).")
        elif _close(got, x.mean(dim=0)):
            hint = " Hint: that is the mean; " + MEDIAN_HINT
        rows = "coordinate" if x.shape[1] == 1 else "coordinates"
        raise ExerciseFailed(f"on an input of {x.shape[0]} rows × {x.shape[1]} {rows} (rows: {_matrix_text(x)}) "
                             f"fedlib ({variant}) gives {vector_text(expected)}, yours {vector_text(got)}.{hint}")
    return len(inputs)


@checker(MEDIAN_HINT)
def check_coordinate_median(answer: Callable[[torch.Tensor], Any], *, seed: int = 0) -> None:
    """``answer(updates) -> (d,)`` must equal ``fedlib.aggregate("median", updates, f)`` (textbook variant).

    Inputs: 24 seeded (n, d) matrices with n odd and even (n ∈ {5, 6, 7, 10, 11, 20}), Gaussian and small
    integers (ties).
    """
    count = _check_median_variant(answer, "textbook", seed)
    print(f'✓ your coordinate-wise median equals fedlib.aggregate("median", ...) on {count} random inputs '
          "(odd and even n)")


@checker("score each row by the sum of its squared distances to its n − f − 2 nearest other rows "
         "(torch.cdist, then sort each row) and return the row with the smallest score.")
def check_krum_index(answer: Callable[[torch.Tensor, int], Any], *, seed: int = 0) -> None:
    """``answer(updates, f) -> int`` must be the row textbook Krum selects, ``aggregate("krum", ...).selected``.

    Inputs: seeded Gaussian clouds with n from 2f + 3 to 25 and f from 1 to 5, half of them with f rows moved
    to a tight far cluster (attackers), as in the chapter's figure.
    """
    g = torch.Generator().manual_seed(seed)
    cases = 0
    for f in range(1, 6):
        for n in (2 * f + 3, 2 * f + 6, 25):
            for clustered in (False, True):
                x = torch.randn(n, 3, generator=g, dtype=DTYPE)
                if clustered:
                    x[:f] = 6.0 + 0.3 * torch.randn(f, 3, generator=g, dtype=DTYPE)
                expected = int(aggregators.aggregate("krum", x, f).selected[0])
                got = _call(answer, x.clone(), f)
                require(isinstance(got, numbers.Integral | torch.Tensor) and torch.as_tensor(got).numel() == 1,
                         f"expected one row index (an int); found a {_kind(got)}.")
                got = int(got)
                if got != expected:
                    released = int(aggregators.aggregate("krum", x, f, variant="ndss21").selected[0])
                    hint = (" Hint: score each row by its n − f − 2 nearest *other* rows; the zero distance of a "
                            "row to itself is not a neighbour." if got == released else "")
                    raise ExerciseFailed(f"n = {n}, f = {f}: Krum selects row {expected}, yours row {got}.{hint}")
                cases += 1
    print(f'✓ your Krum selects the same row as fedlib.aggregate("krum", ...) on {cases} random inputs')


@checker("place the f malicious rows as identical copies next to the honest cloud, then move them outwards "
         "while fedlib's Krum still selects one of them.")
def check_fools_krum(malicious: torch.Tensor, honest: torch.Tensor, *, min_shift: float = 1.0) -> None:
    """Krum, run on ``malicious`` (first, f rows) stacked on ``honest`` with f = len(malicious), must select
    a malicious row, and its output must lie at least ``min_shift`` away from the honest mean (update units)."""
    require(isinstance(malicious, torch.Tensor) and malicious.dim() == 2,
             f"expected an (f, d) tensor of malicious rows; found a {_kind(malicious)}.")
    require(malicious.shape[1] == honest.shape[1],
             f"malicious rows need {honest.shape[1]} coordinates; found {malicious.shape[1]}.")
    require(bool(torch.isfinite(malicious).all()), "malicious rows must be finite.")
    f = malicious.shape[0]
    stacked = torch.cat([malicious.to(DTYPE), honest.to(DTYPE)])
    out = aggregators.aggregate("krum", stacked, f)
    picked = int(out.selected[0])
    shift = float(torch.linalg.vector_norm(out.vector - honest.to(DTYPE).mean(dim=0)))
    require(picked < f, f"Krum selected honest row {picked - f} (stacked row {picked}); it must select one of "
                         f"your {f} malicious rows.")
    require(shift >= min_shift, f"Krum selected malicious row {picked}, but it lies only {shift:.3f} from the "
                                 f"honest mean; move it at least {min_shift}.")
    print(f"✓ Krum selects your malicious row {picked}, {shift:.3f} away from the honest mean (≥ {min_shift})")


# ---------------------------------------------------------------------------------------------------------
# How the attacks find γ


def _synthetic_rounds(seed: int) -> Iterator[torch.Tensor]:
    """Benign rounds like the chapter's (rows N(0.5, I)) in several sizes."""
    g = torch.Generator().manual_seed(seed)
    for n, d in ((20, 50), (8, 5), (30, 200), (5, 2)):
        yield 0.5 + torch.randn(n, d, generator=g, dtype=DTYPE)


def _exact_gamma(attack: str, benign: torch.Tensor) -> float:
    return float(attacks.craft(attack, benign, 1, search="exact").gamma)


@checker("accept γ exactly when the largest squared distance from the malicious update to a benign row is at "
         "most the largest squared distance between two benign rows (torch.cdist(benign, benign) ** 2).")
def check_min_max_test(answer: Callable[[torch.Tensor, float], Any], *, seed: int = 0) -> None:
    r"""``answer(benign, gamma) -> bool`` must be the Min-Max acceptance test of ∇m = μ − γσ (σ the unbiased
    coordinate-wise std): True exactly when max_i ‖∇m − g_i‖² ≤ max_{i,j} ‖g_i − g_j‖².

    Reference: fedlib's exact Min-Max γ* (``craft("min_max", ..., search="exact")``); the answer must accept
    every probed γ ≤ γ*(1 − 10⁻⁶) and reject every γ ≥ γ*(1 + 10⁻⁶), on 4 seeded rounds × 40 values of γ.
    """
    probes = 0
    for benign in _synthetic_rounds(seed):
        star = _exact_gamma("min_max", benign)
        for gamma in [*torch.linspace(0.0, 3.0 * star, 38).tolist(), star * (1 - 1e-6), star * (1 + 1e-6)]:
            if abs(gamma - star) < 1e-7 * star:
                continue
            got = _call(answer, benign.clone(), float(gamma))
            require(isinstance(got, bool | torch.Tensor) and torch.as_tensor(got).numel() == 1,
                     f"expected True or False; found a {_kind(got)}.")
            expected = gamma <= star
            if bool(got) != expected:
                word = "accept" if expected else "reject"
                # Min-Sum's constraint is the stricter one: rejecting between its γ and γ* points at it.
                hint = (" Hint: this looks like Min-Sum's test (sums of distances); Min-Max compares maxima."
                        if expected and gamma > _exact_gamma("min_sum", benign) else "")
                raise ExerciseFailed(f"on a round of {benign.shape[0]} benign rows in {benign.shape[1]} "
                                     f"dimensions, Min-Max must {word} γ = {gamma:.6g} (largest feasible "
                                     f"γ* = {star:.6g}); yours says {bool(got)}.{hint}")
            probes += 1
    print(f"✓ your Min-Max test agrees with fedlib's exact γ* on {probes} probes over 4 random rounds")


def _threshold_test(limit: float) -> Callable[[float], bool]:
    return lambda gamma: gamma <= limit


def _probes_text(probes: list[float]) -> str:
    shown = values_text(probes[:8]) + (", …" if len(probes) > 8 else "")
    return f"{shown} ({len(probes)} probe{'s' if len(probes) != 1 else ''})"


@checker("loop while |γ_succ − γ| > τ: probe γ, record it as γ_succ and move up by half the step on success, "
         "move down by half the step otherwise, then halve the step.")
def check_halving_search(answer: Callable[[Callable[[float], bool], float, float], Any]) -> None:
    """``answer(success, gamma_init, tau) -> float`` must be the paper's Algorithm 1: it must probe the same
    values of γ, in the same order, as :func:`fedlib.attacks.halving_search`, and return the same γ.

    Tests: "γ ≤ c" for c inside the reach (0, 2γ_init), above it (the search tops out below 2γ_init) and
    below every probe (the search returns 0), and a test that accepts only a band of γ (non-monotone).
    """
    cases = [(10.0, 1e-5, _threshold_test(4.0)), (10.0, 1e-5, _threshold_test(37.0)),
             (1.0, 1e-5, _threshold_test(-1.0)), (0.5, 1e-3, _threshold_test(0.7)),
             (10.0, 1e-5, lambda gamma: 2.0 <= gamma <= 3.0)]
    for gamma_init, tau, test in cases:
        mine: list[float] = []
        theirs: list[float] = []

        def recorded(log: list[float], test: Callable[[float], bool] = test) -> Callable[[float], bool]:
            def success(gamma: float) -> bool:
                require(len(log) < 10_000, "your search probed 10,000 values of γ without stopping.")
                log.append(float(gamma))
                return bool(test(float(gamma)))
            return success

        expected = attacks.halving_search(recorded(theirs), gamma_init, tau).gamma
        got = _call(answer, recorded(mine), gamma_init, tau)
        require(isinstance(got, int | float), f"expected a float γ; found a {_kind(got)}.")
        first_diff = next((i for i, (a, b) in enumerate(zip(mine, theirs, strict=False)) if a != b), None)
        case = f"γ_init = {number_text(gamma_init)}, τ = {number_text(tau)}"
        require(first_diff is None and len(mine) == len(theirs),
                f"{case}: Algorithm 1 probes {_probes_text(theirs)}; yours {_probes_text(mine)}.")
        require(float(got) == expected,
                f"{case}: same probes, but Algorithm 1 returns {number_text(expected, 10)} (the last *successful* γ, "
                f"0 if none) and yours {number_text(got, 10)}.")
    print(f"✓ your halving search probes and returns exactly what fedlib.attacks.halving_search does "
          f"({len(cases)} tests)")


@checker("write each constraint as a quadratic a_i + 2γ b_i + γ² c ≤ T and take the smallest of the larger roots.")
def check_exact_min_max_gamma(answer: Callable[[torch.Tensor], Any], *, seed: int = 0, rtol: float = 1e-8) -> None:
    """``answer(benign) -> float`` must be the largest γ Min-Max accepts, as fedlib's closed form
    (``craft("min_max", benign, m, search="exact").gamma``), to a relative tolerance ``rtol``, on 4 rounds."""
    count = 0
    for benign in _synthetic_rounds(seed + 100):
        expected = _exact_gamma("min_max", benign)
        got = _as_number(_call(answer, benign.clone()), "γ")
        if not math.isclose(got, expected, rel_tol=rtol):
            halving = float(attacks.craft("min_max", benign, 1, search="halving").gamma)
            hint = (" Hint: that is the halving search's answer, accurate only to τ; solve the quadratic instead."
                    if math.isclose(got, halving, rel_tol=1e-12) else "")
            raise ExerciseFailed(f"on a round of {benign.shape[0]} benign rows in {benign.shape[1]} dimensions "
                                 f"the exact Min-Max γ is {expected:.10g}; yours {got:.10g}.{hint}")
        count += 1
    print(f"✓ your closed-form γ equals fedlib's exact Min-Max γ (relative tolerance {rtol:g}) on {count} rounds")


# ---------------------------------------------------------------------------------------------------------
# Paper code against textbook


@checker("torch.median returns the lower of the two middle values, which is what the released code calls.")
def check_released_median(answer: Callable[[torch.Tensor], Any], *, seed: int = 0) -> None:
    """``answer(updates) -> (d,)`` must equal ``aggregate("median", updates, f, variant="ndss21")``: the lower
    middle value for even n (same 24 inputs as :func:`check_coordinate_median`)."""
    count = _check_median_variant(answer, "ndss21", seed)
    print(f'✓ your median equals fedlib.aggregate("median", ..., variant="ndss21") on {count} random inputs')


@checker("s = ⌊n/2 + 1⌋ − m and z = Φ⁻¹((n − s)/n), with Φ⁻¹ = statistics.NormalDist().inv_cdf.")
def check_lie_z(answer: Callable[[int, int], Any]) -> None:
    r"""``answer(n_total, n_malicious) -> float`` must equal Baruch et al.'s z, :func:`fedlib.attacks.lie_z`
    (s = ⌊n/2 + 1⌋ − m, z = Φ⁻¹((n − s)/n)), to 10⁻⁹, for n from 10 to 100 and every m it is defined for."""
    count = 0
    for n in (10, 25, 50, 51, 100):
        for m in range(1, n // 2 + 1):
            expected = attacks.lie_z(n, m)
            got = _as_number(_call(answer, n, m), "z")
            table = attacks.Z_TABLE_NDSS21.get(m)
            hint = (" Hint: that is the released table's value, which ignores n."
                    if table is not None and math.isclose(got, table, abs_tol=1e-9) else "")
            require(math.isclose(got, expected, abs_tol=1e-9),
                     f"n = {n}, m = {m}: z = {expected:.6f}; yours {got:.6f}.{hint}")
            count += 1
    print(f"✓ your z equals fedlib.attacks.lie_z on {count} (n, m) pairs")


@checker("sort each row of the squared distances: textbook Krum sums columns 1 to n − f − 2 (skipping the zero "
         "self-distance in column 0), the released code columns 0 to n − f − 3.")
def check_krum_scores(answer: Callable[[torch.Tensor, int], Any], *, seed: int = 0) -> None:
    """``answer(updates, f) -> (textbook, ndss21)``: both Krum score vectors (n,), equal to
    ``krum_scores(pairwise_sq_distances(updates), f, variant=...)`` to 10⁻⁸ (relative), for n ≥ 2f + 3."""
    g = torch.Generator().manual_seed(seed)
    count = 0
    for f in (1, 2, 4):
        for n in (2 * f + 3, 2 * f + 5, 20):
            x = torch.randn(n, 5, generator=g, dtype=DTYPE)
            dist = aggregators.pairwise_sq_distances(x)
            got = _call(answer, x.clone(), f)
            require(isinstance(got, tuple | list) and len(got) == 2,
                     f"expected a pair (textbook scores, ndss21 scores); found a {_kind(got)}.")
            for variant, scores in zip(("textbook", "ndss21"), got, strict=True):
                expected = aggregators.krum_scores(dist, f, variant=variant)
                scores = _as_vector(scores, n, f"your {variant} scores")
                require(bool(torch.allclose(scores, expected, rtol=1e-8, atol=1e-10)),
                         f"n = {n}, f = {f}: the {variant} Krum scores are {vector_text(expected)}; yours "
                         f"{vector_text(scores)}.")
            count += 1
    print(f"✓ your textbook and ndss21 Krum scores equal fedlib.aggregators.krum_scores on {count} random inputs")


@checker("put a few identical values at one end and a tight group of four at the other: with one neighbour "
         "fewer, the released score no longer has to reach across to the identical values.")
def check_krum_variants_differ(updates: torch.Tensor, f: int, *, n: int = 7, max_abs: int = 20) -> None:
    """``updates`` must be an (n, 1) column of integers in [−max_abs, max_abs] on which textbook and ndss21
    Krum (f malicious rows assumed) select *different* rows."""
    require(isinstance(updates, torch.Tensor) and tuple(updates.shape) == (n, 1),
             f"expected an ({n}, 1) tensor; found a {_kind(updates)}.")
    x = updates.to(DTYPE)
    require(bool((x == x.round()).all()) and float(x.abs().max()) <= max_abs,
             f"use integers between −{max_abs} and {max_abs}; found {values_text(x.flatten())}.")
    picks = {v: int(aggregators.aggregate("krum", x, f, variant=v).selected[0]) for v in ("textbook", "ndss21")}
    require(picks["textbook"] != picks["ndss21"],
             f"both variants select row {picks['textbook']} (value {number_text(x[picks['textbook'], 0])}) of "
             f"{values_text(x.flatten())}.")
    print(f"✓ on the values {values_text(x.flatten())} (f = {f}) textbook Krum selects row {picks['textbook']} "
          f"and the released code row {picks['ndss21']}")
