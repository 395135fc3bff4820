"""Fang et al.'s defenses (USENIX Security 2020): reject the updates that hurt a validation loss/error most."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch

from .._blocks import row_checksums, same_bits
from .._checks import check_choice, check_int, reject_options
from ..errors import ConfigError, InputError
from ._base import Aggregate, get, min_inputs, names, needs, register
from ._utils.common import prepare
from ._utils.leave_one_out import LeaveOneOut, leave_one_out
from ._utils.random import as_generator, draw_permutation

ScoreFn = Callable[[torch.Tensor], tuple[float, float]]
REJECTION_RULES = ("union", "lrr", "err")
#: Registry name; the attack of the same paper is ``fedlib.attacks`` "fang".
NAME = "fang_defense"


def _evaluate(score_fn: ScoreFn, vector: torch.Tensor) -> tuple[float, float]:
    result = score_fn(vector)
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        raise InputError(f"score_fn must return a (loss, error) pair; found {result!r}.")
    loss, error = float(result[0]), float(result[1])
    if math.isnan(loss) or math.isnan(error):
        raise InputError(f"score_fn returned NaN (loss={loss}, error={error}); scores cannot be ranked.")
    return loss, error


def _largest(values: torch.Tensor, count: int, tie_rank: torch.Tensor) -> torch.Tensor:
    """Indices of the ``count`` largest values; equal values in increasing ``tie_rank`` (a permutation of
    0..n-1 that does not depend on row positions), never by index."""
    in_tie_order = torch.argsort(tie_rank)
    order = torch.sort(values[in_tie_order], descending=True, stable=True).indices
    return in_tie_order[order[:count]]


def tie_ranks(updates: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """A rank per row (CPU LongTensor, a permutation of 0..n-1) that orders rows with equal scores.

    With a ``generator``: a uniformly random permutation drawn on the generator's device (one draw of n
    per call, whatever the scores). Without: ranks by a mixed checksum of each row's bits, so a row's rank
    depends on its content, not on its position (equal rows keep index order, which cannot change the
    aggregate); deterministic, hence predictable by an attacker who knows the rows: training passes a
    generator.
    """
    n = updates.shape[0]
    if generator is not None:
        return torch.argsort(draw_permutation(n, generator, torch.device("cpu")))
    keys = [_mix(int(c) & 0xFFFFFFFF) for c in row_checksums(updates).tolist()]
    order = sorted(range(n), key=lambda i: keys[i])  # stable: equal rows keep index order
    ranks = torch.empty(n, dtype=torch.long)
    ranks[torch.tensor(order, dtype=torch.long)] = torch.arange(n)
    return ranks


def _mix(value: int) -> int:
    """splitmix64's finaliser: spreads a 32-bit checksum over 64 bits so that ranks look unrelated to the
    values (nearby checksums do not get nearby ranks)."""
    value = (value + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return value ^ (value >> 31)


def fang_min_n(f: int, variant: str = "textbook", options=None) -> int:
    """Rows Fang's defense needs: n > f, and the base rule must accept n - 1 rows with f (each leave-one-out
    aggregate) and the survivors with ``final_f`` after the worst-case removals: f (``rule="lrr"`` /
    ``"err"``) or 2f (``"union"``, when the two criteria pick disjoint rows).

    The base's minimum is its textbook one where the ndss21 variant accepts fewer rows (the released
    trimmed mean at n = 2f returns NaN, which cannot be scored on a validation batch).
    """
    options = dict(options or {})
    base = options.get("base", "trimmed_mean")
    base_options = dict(options.get("base_options") or {})
    final_f = options.get("final_f")
    final_f = f if final_f is None else final_f
    removed = 2 * f if options.get("rule", "union") == "union" else f

    def base_min(assumed: int) -> int:
        return max(min_inputs(base, assumed, variant=v, **base_options) for v in {variant, "textbook"})

    return max(f + 1, base_min(f) + 1, base_min(final_f) + removed)


class _Scorer:
    """LRR_i and ERR_i of row i on demand: the score of A(all rows) minus the score of A(all rows but i)."""

    def __init__(self, updates, f, score_fn: ScoreFn, base: str, variant: str, base_options: dict, shortcut=None):
        self.updates, self.f, self.score_fn = updates, f, score_fn
        self.variant, self.base_options = variant, base_options
        self.base_fn = get(base)
        # Coordinate-wise bases: every leave-one-out aggregate from one sorted pass (see _utils.leave_one_out).
        self.shortcut = leave_one_out(updates, f, base, variant, base_options) if shortcut is None else shortcut
        whole = None if self.shortcut is None else self.shortcut.whole
        if whole is None:
            whole = self.base_fn(updates, f, variant=variant, **base_options).vector
        self.loss_all, self.err_all = _evaluate(score_fn, whole)
        self.rows = torch.arange(updates.shape[0], device=updates.device)

    def __call__(self, i: int) -> tuple[float, float]:
        if self.shortcut is not None:
            vector_i = self.shortcut(i)
        else:
            without_i = self.updates.index_select(0, self.rows[self.rows != i])
            vector_i = self.base_fn(without_i, self.f, variant=self.variant, **self.base_options).vector
        loss_i, err_i = _evaluate(self.score_fn, vector_i)
        return self.loss_all - loss_i, self.err_all - err_i


def _removal_scores(
    updates: torch.Tensor, f: int, score_fn: ScoreFn, base: str, variant: str, base_options: dict
) -> tuple[torch.Tensor, torch.Tensor]:
    """LRR_i and ERR_i for every row i: the score of A(all rows) minus the score of A(all rows but i).

    Removing either of two adjacent identical rows leaves the same matrix, so with a base that draws no random
    numbers a row identical (bit for bit) to the one before it gets that row's scores without another
    evaluation: the attacks' copies come as one such run, and ``score_fn`` is a pure function of the vector."""
    scorer = _Scorer(updates, f, score_fn, base, variant, base_options)
    n = updates.shape[0]
    lrr = torch.empty(n, dtype=torch.float64)
    err = torch.empty(n, dtype=torch.float64)
    deterministic = "generator" not in needs(base)  # a random base draws anew at every call: no re-use
    for i in range(n):  # n leave-one-out aggregates: inherent to the defense
        if deterministic and i > 0 and same_bits(updates[i], updates[i - 1]):
            lrr[i], err[i] = lrr[i - 1], err[i - 1]
            continue
        lrr[i], err[i] = scorer(i)
    return lrr, err


def _check_options(score_fn, rule: str, base: str, options: Mapping[str, object]) -> None:
    reject_options(options, NAME)
    if score_fn is None or not callable(score_fn):
        raise ConfigError(f"{NAME} needs score_fn(vector) -> (loss, error) evaluating a validation batch.")
    check_choice(rule, REJECTION_RULES, "Fang rejection rule")
    check_choice(base, [name for name in names() if name != NAME], "Fang base rule")


def _checked(
    updates, f, variant, score_fn, base, rule, base_options, final_f, generator, options
) -> tuple[torch.Tensor, int, dict, int | None, torch.Generator | None]:
    """The defense's checks, the same errors for every entry point: (updates, f, base_options, final_f or None,
    the generator or None)."""
    _check_options(score_fn, rule, base, options)
    base_options = dict(base_options or {})
    final_f = None if final_f is None else check_int(final_f, "final_f", minimum=0)
    generator = None if generator is None else as_generator(generator)
    checked = {"base": base, "rule": rule, "base_options": base_options, "final_f": final_f}
    updates, f = prepare(updates, f, variant, NAME, options=checked)
    return updates, f, base_options, final_f, generator


class _Filter:
    """The defense up to its survivors: options checked, scores computed, rows removed (``selected``)."""

    def __init__(self, updates, f, variant, score_fn, base, rule, base_options, final_f, generator, options):
        updates, f, self.base_options, final_f, generator = _checked(
            updates, f, variant, score_fn, base, rule, base_options, final_f, generator, options
        )
        self.final_f = f if final_f is None else final_f
        self.tie_rank = tie_ranks(updates, generator)
        self.lrr, self.err = _removal_scores(updates, f, score_fn, base, variant, self.base_options)
        self.removed = torch.zeros(updates.shape[0], dtype=torch.bool)
        if rule in ("lrr", "union"):
            self.removed[_largest(self.lrr, f, self.tie_rank)] = True
        if rule in ("err", "union"):
            self.removed[_largest(self.err, f, self.tie_rank)] = True
        self.selected = torch.nonzero(~self.removed).flatten().to(updates.device)


def fang_survivors(
    updates: torch.Tensor,
    f: int,
    *,
    variant: str = "textbook",
    score_fn: ScoreFn | None = None,
    base: str = "trimmed_mean",
    rule: str = "union",
    base_options: Mapping[str, object] | None = None,
    final_f: int | None = None,
    generator: torch.Generator | int | None = None,
    **options,
) -> torch.Tensor:
    """``fang_defense(...).selected`` (the survivors, ascending) without the final aggregation of the
    survivors: what an attack that only asks "does row i survive?" needs. The same checks and errors.

    Example:
        >>> import torch
        >>> from fedlib.aggregators import fang_survivors
        >>> x = torch.tensor([[1.0], [1.1], [0.9], [1.0], [1.05], [9.0]])
        >>> loss = lambda v: (float((v - 1.0).abs()), float((v - 1.0).abs() > 0.5))
        >>> fang_survivors(x, f=1, score_fn=loss, base="mean", rule="lrr")
        tensor([0, 1, 2, 3, 4])
    """
    step = _Filter(updates, f, variant, score_fn, base, rule, base_options, final_f, generator, options)
    return step.selected


def fang_keeps(
    updates: torch.Tensor,
    f: int,
    first: int,
    *,
    guess: torch.Tensor | None = None,
    shortcut: LeaveOneOut | None = None,
    variant: str = "textbook",
    score_fn: ScoreFn | None = None,
    base: str = "trimmed_mean",
    rule: str = "union",
    base_options: Mapping[str, object] | None = None,
    final_f: int | None = None,
    generator: torch.Generator | int | None = None,
    **options,
) -> tuple[bool, dict[int, tuple[float, float]]]:
    """Whether Fang's defense keeps every one of the rows 0 .. first-1 (the answer of :func:`fang_survivors`, with
    its checks and errors), and the (LRR, ERR) of the rows it scored: what an attack asks of its simulation.

    When those rows are identical (the attack's copies) and the base draws no random numbers, the other rows are
    scored one at a time and scoring stops once the answer is known: the copies survive a criterion once f
    other rows are ranked above them (a larger score, or an equal one and a smaller tie rank), and fall once more
    than n − first − f are not. ``guess`` (float64 (n,), NaN where unknown: e.g. the LRR of the previous probe)
    orders the scoring: the rows likely above the copies first when at least f guesses are, else those likely
    below. The scores are the rule's floats (``score_fn`` is a pure function of the vector); only a NaN score the
    defense would meet in a row left unscored is not raised. Otherwise every row is scored, as the defense does.
    ``shortcut``: the leave-one-out aggregates of ``updates`` when the caller has them bit for bit as
    :func:`~fedlib.aggregators._utils.leave_one_out.leave_one_out` gives them (an attack keeps its benign columns
    sorted), instead of the sorted pass.

    Example:
        >>> import torch
        >>> from fedlib.aggregators._fang_defense import fang_keeps
        >>> x = torch.tensor([[9.0], [9.0], [1.0], [1.1], [0.9], [1.0], [1.05], [0.95], [1.02]])
        >>> loss = lambda v: (float((v - 1.0).abs()), float((v - 1.0).abs() > 0.5))
        >>> fang_keeps(x, 2, 2, score_fn=loss, base="mean")[0]
        False
    """
    updates, f, base_options, _, generator = _checked(
        updates, f, variant, score_fn, base, rule, base_options, final_f, generator, options
    )
    n = updates.shape[0]
    first = check_int(first, "first", minimum=1, maximum=n)
    assert score_fn is not None  # checked
    copies = all(same_bits(updates[i], updates[0]) for i in range(1, first))
    if not copies or "generator" in needs(base):
        step = _Filter(updates, f, variant, score_fn, base, rule, base_options, final_f, generator, {})
        scored = {i: (float(step.lrr[i]), float(step.err[i])) for i in range(n)}
        return bool(torch.isin(torch.arange(first, device=step.selected.device), step.selected).all()), scored
    tie_rank = tie_ranks(updates, generator)
    scorer = _Scorer(updates, f, score_fn, base, variant, base_options, shortcut)
    copy, copy_rank = scorer(0), int(tie_rank[:first].min())
    scored = {0: copy}
    criteria = [c for c, name in enumerate(("lrr", "err")) if rule in (name, "union")]
    above, below = [0, 0], [0, 0]
    for j in _scoring_order(first, n, guess, copy[0], f):
        if all(above[c] >= f for c in criteria) or any(below[c] > n - first - f for c in criteria):
            break
        scored[j] = scorer(j)
        for c in criteria:
            value = scored[j][c]
            ahead = value > copy[c] or (value == copy[c] and int(tie_rank[j]) < copy_rank)
            above[c], below[c] = above[c] + ahead, below[c] + (not ahead)
    return all(above[c] >= f for c in criteria), scored


def _scoring_order(first: int, n: int, guess: torch.Tensor | None, copy_lrr: float, f: int) -> list[int]:
    """The rows first .. n-1 in the order :func:`fang_keeps` scores them (its docstring)."""
    rows = list(range(first, n))
    if guess is None:
        return rows
    values = guess.tolist()
    known = [j for j in rows if not math.isnan(values[j])]
    likely_kept = sum(values[j] > copy_lrr for j in known) >= f
    known.sort(key=lambda j: values[j], reverse=likely_kept)
    return known + [j for j in rows if math.isnan(values[j])]


@register(NAME, checks_finite=True, needs=("score_fn", "generator"), min_inputs=fang_min_n)
def fang_defense(
    updates: torch.Tensor,
    f: int,
    *,
    variant: str = "textbook",
    score_fn: ScoreFn | None = None,
    base: str = "trimmed_mean",
    rule: str = "union",
    base_options: Mapping[str, object] | None = None,
    final_f: int | None = None,
    generator: torch.Generator | int | None = None,
    **options,
) -> Aggregate:
    r"""Fang's defense around a base rule A: drop the f updates whose removal helps a validation model most.

    Registered as ``"fang_defense"`` (the attack of the same paper is ``fedlib.attacks`` ``"fang"``). For
    every row i, with :math:`A` = ``base`` applied to all rows and :math:`A_{-i}` to all rows but i:

    - LRR (Fang's loss-function-based rejection, "LFR"): :math:`\mathrm{LRR}_i = L(A) - L(A_{-i})`,
    - ERR (error-rate-based rejection): :math:`\mathrm{ERR}_i = E(A) - E(A_{-i})`,

    where :math:`(L(v), E(v))` = ``score_fn(v)``. ``rule="lrr"`` / ``"err"`` removes the f rows with the
    largest reduction, ``rule="union"`` removes the union of both sets (up to 2f rows). The survivors
    are aggregated by the base rule with ``final_f`` (default ``f``). ``selected`` = survivors ascending;
    ``info`` holds ``lrr``, ``err``, ``removed`` and ``tie_rank``.

    Ties (frequent: ERR moves in steps of 1/validation-samples) are never broken by row position, because
    the engine puts malicious rows first: rows with equal scores are removed in increasing
    ``info["tie_rank"]``, a uniformly random permutation drawn from ``generator`` (a ``torch.Generator``,
    drawn on its device, or an int seed). Without a generator the ranks come from a mixed checksum of each
    row's bits: deterministic and position-free, but predictable by an attacker; training passes the
    server's generator.

    ``score_fn(vector: Tensor (d,)) -> (loss: float, error: float)`` (supplied by the FL engine) applies
    ``vector`` as the aggregate update to a *copy* of the current global model and returns its loss and
    error rate on a server-held validation batch; it must be a pure function of ``vector`` (no state change,
    the same result for the same vector). It is called n + 1 times, minus one for each row identical to the
    row before it when the base draws no random numbers (identical copies share one leave-one-out aggregate).

    ``base``: any registered rule except this one (default ``"trimmed_mean"``, paper: Fang-TrMean), run
    with the same ``variant`` and ``base_options``; its own input-size checks apply to n - 1 rows and to
    the survivors. Not in the authors' code: the variant only reaches the base rule. With a trimmed-mean
    or median base on CPU the n leave-one-out aggregates come from one sorted pass.

    Example:
        >>> import torch
        >>> from fedlib.aggregators import fang_defense
        >>> x = torch.tensor([[1.0], [1.1], [0.9], [1.0], [1.05], [9.0]])
        >>> loss = lambda v: (float((v - 1.0).abs()), float((v - 1.0).abs() > 0.5))
        >>> fang_defense(x, f=1, score_fn=loss, base="mean", rule="lrr").selected
        tensor([0, 1, 2, 3, 4])
    """
    step = _Filter(updates, f, variant, score_fn, base, rule, base_options, final_f, generator, options)
    final = get(base)(updates.index_select(0, step.selected), step.final_f, variant=variant, **step.base_options)
    info: dict[str, object] = {
        "lrr": step.lrr,
        "err": step.err,
        "removed": torch.nonzero(step.removed).flatten(),
        "tie_rank": step.tie_rank,
        "base_selected": final.selected,
    }
    return Aggregate(final.vector, step.selected, info=info)
