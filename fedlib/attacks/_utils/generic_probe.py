r"""What the generic AGR-tailored search evaluates: the deviation J(γ) = ‖AGR(copies(γ) ∪ benign) − μ‖₂ that c
identical copies of μ + γ·∇p cause on the simulated rule, exactly and on a cheap *sketch*.

Three evaluators; :func:`evaluator_for` picks the cheapest one that applies:

* :class:`Reduced` — for a rule whose aggregate moves with its rows under every rotation, reflection and
  translation of the space (:func:`equivariant`: the mean, geometric median from the mean, centered clipping
  around the mean, NNM and bucketing around such a base). All rows lie in μ + span{g_1 − μ, …, g_k − μ, ∇p},
  a space of at most k + 1 dimensions: the rule runs on the rows' coordinates in an orthonormal basis of it
  (from the eigen-decomposition of the float64 Gram matrix of the centred rows and ∇p, which the Min-Max pass
  computes anyway), the same algorithm on (n, k + 1) instead of (n, d) values. Exact up to rounding: sketch and
  exact value are the same number.
* :class:`Mixing` — NNM around any other base: the mixing weights come from the squared distances
  ‖μ + γ∇p − g_i‖² = a_i + 2γb_i + γ²c (:class:`~fedlib.attacks._utils.quadratic.QuadraticDistances`, no pass
  over the rows), the mixed rows from one (k + 1, k)·(k, d) product, then the base rule runs on them as NNM
  runs it. Exact up to rounding; the sketch mixes and aggregates the sketch's columns only.
* :class:`OnRows` — any other rule (a user's rule, centered clipping around the median, bucketing around the
  trimmed mean, ...): the rule itself on the (n, d) rows. When d ≥ :data:`SKETCH_FACTOR` ·
  :data:`SKETCH_COLUMNS`, the sketch is the rule on every ⌈d / SKETCH_COLUMNS⌉-th column of every row (about
  :data:`SKETCH_COLUMNS` of them), scaled by √(d/columns) so that distances and norms keep their size (a sum of
  squares over the columns, scaled, estimates the whole sum): coordinate-wise rules then give exactly the sketch's
  coordinates of their aggregate, distance-based rules nearly the same selections. Measured at the ``scale`` size
  (d = 79,510, 2,039 columns, 100 rows; centered clipping and bucketing on two captured rounds, 23 γ from s/16 to
  128·s): the sketch's J was 0.88–1.00 times J and peaked at the same γ.

The search (:mod:`fedlib.attacks._tailored_generic`) explores γ on the sketch and decides between its best
point and Min-Max's and Min-Sum's γ on the exact value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch

from .common import malicious_vector, with_copies
from .quadratic import QuadraticDistances

#: Columns of the sketch, and how much wider the rows must be for a sketch to be used.
SKETCH_COLUMNS = 2048
SKETCH_FACTOR = 8
#: Eigenvalues of the reduced Gram matrix below this fraction of the largest are rounding: their directions
#: are dropped (the float32 products behind the Gram matrix carry ~1e-7 relative error).
RANK_RTOL = 1e-10


def sketch_columns(d: int) -> torch.Tensor | None:
    """Every ⌈d / SKETCH_COLUMNS⌉-th column (deterministic: no draw), or None when d is too small to sketch.

    Example:
        >>> from fedlib.attacks._utils.generic_probe import sketch_columns
        >>> sketch_columns(79_510).numel(), sketch_columns(79_510)[:3].tolist(), sketch_columns(10_000)
        (2039, [0, 39, 78], None)
    """
    if d < SKETCH_FACTOR * SKETCH_COLUMNS:
        return None
    return torch.arange(0, d, -(-d // SKETCH_COLUMNS))


def equivariant(rule: str, options: Mapping[str, object]) -> bool:
    """Whether ``rule`` with ``options`` gives R(Qx_1 + t, …, Qx_n + t) = Q·R(x_1, …, x_n) + t for every
    orthogonal Q and translation t: the rules that only use distances, inner products of differences and
    weighted means of the rows, starting from a point that moves with them.

    Example:
        >>> from fedlib.attacks._utils.generic_probe import equivariant
        >>> equivariant("geometric_median", {}), equivariant("centered_clipping", {}), equivariant("nnm", {})
        (True, False, False)
        >>> equivariant("nnm", {"base": "geometric_median"})
        True
    """
    base_options = dict(options.get("base_options") or {})  # type: ignore[call-overload]
    checks: dict[str, Callable[[], bool]] = {
        "mean": lambda: True,
        "geometric_median": lambda: options.get("init", "mean") == "mean",
        "centered_clipping": lambda: options.get("center", "median") == "mean",
        "nnm": lambda: equivariant(str(options.get("base", "trimmed_mean")), base_options),
        "bucketing": lambda: equivariant(str(options.get("base", "trimmed_mean")), base_options),
    }
    return rule in checks and checks[rule]()


def holds_tensors(options: Mapping[str, object]) -> bool:
    """Whether an option (or a base rule's option) is a tensor: a vector of the rows' space (a given center)
    that neither a sketch nor the reduced coordinates would carry along."""
    base_options = options.get("base_options") or {}
    values = [*options.values(), *(base_options.values() if isinstance(base_options, Mapping) else ())]
    return any(isinstance(v, torch.Tensor) for v in values)


class OnRows:
    """The rule itself on the (n, d) rows (one matrix, its copy rows refilled at each γ), and on a column sketch
    when the rows are wide and ``sketchable``."""

    kind = "rule"

    def __init__(self, call: Callable[[torch.Tensor], torch.Tensor], benign, mean, direction, n_copies, sketchable):
        self.call, self.mean, self.direction, self.n_copies = call, mean, direction, n_copies
        self.rows = with_copies(mean, n_copies, benign)
        columns = sketch_columns(benign.shape[1]) if sketchable else None
        self.columns = None if columns is None else int(columns.numel())
        self.sketched = columns is not None
        if columns is not None:
            scale = math.sqrt(benign.shape[1] / columns.numel())
            self.small = (mean[columns] * scale, direction[columns] * scale)
            self.small_rows = with_copies(self.small[0], n_copies, benign[:, columns] * scale)

    def _deviation(self, rows: torch.Tensor, mean: torch.Tensor, direction: torch.Tensor, gamma: float) -> float:
        rows[: self.n_copies] = malicious_vector(mean, gamma, direction)
        return float(torch.linalg.vector_norm(self.call(rows) - mean))

    def exact(self, gamma: float) -> float:
        return self._deviation(self.rows, self.mean, self.direction, gamma)

    def sketch(self, gamma: float) -> float:
        if not self.sketched:
            return self.exact(gamma)
        return self._deviation(self.small_rows, *self.small, gamma)


class Reduced:
    """An :func:`equivariant` rule on the coordinates of the rows in their span (module docstring), float64."""

    kind = "reduced"
    sketched = False
    columns = None

    def __init__(self, call: Callable[[torch.Tensor], torch.Tensor], model: QuadraticDistances, n_copies: int):
        assert model.gram is not None  # the pairwise model: ⟨u_i, u_j⟩, ⟨u_i, ∇p⟩ = −b_i, ‖∇p‖² = c
        k = model.k
        gram = torch.empty(k + 1, k + 1, dtype=torch.float64)
        gram[:k, :k], gram[:k, k], gram[k, :k], gram[k, k] = model.gram.cpu(), -model.b.cpu(), -model.b.cpu(), model.c
        values, vectors = torch.linalg.eigh(gram)
        keep = values > RANK_RTOL * values[-1].clamp_min(0.0)
        coords = vectors[:, keep] * values[keep].sqrt()  # row l: coordinates of u_l (l < k) and of ∇p (l = k)
        self.call, self.n_copies = call, n_copies
        self.benign, self.direction = coords[:k], coords[k]
        self.dimensions = int(keep.sum())

    def exact(self, gamma: float) -> float:
        rows = with_copies(gamma * self.direction, self.n_copies, self.benign)  # centred: μ is the origin
        return float(torch.linalg.vector_norm(self.call(rows)))

    sketch = exact


class Mixing:
    """NNM around a base rule that is not :func:`equivariant`: mixing weights from the quadratic distances,
    the mixed rows from one product, the base on them (on the sketch's columns for the sketch)."""

    kind = "mixing"

    def __init__(self, base: Callable[[torch.Tensor], torch.Tensor], model: QuadraticDistances, benign, mean,
                 direction, n_copies: int, f: int):  # fmt: skip
        self.base, self.model, self.n_copies = base, model, n_copies
        self.keep = benign.shape[0] + n_copies - f  # the n − f neighbours each row mixes
        self.full = self._buffers(benign, mean, direction)
        columns = sketch_columns(benign.shape[1])
        self.sketched, self.columns = columns is not None, None if columns is None else int(columns.numel())
        if columns is not None:
            scale = math.sqrt(benign.shape[1] / columns.numel())
            self.small = self._buffers(benign[:, columns] * scale, mean[columns] * scale, direction[columns] * scale)

    def _buffers(self, benign, mean, direction) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(the k benign rows and a copy row below them, the n mixed rows, μ, ∇p), refilled at every γ."""
        stack = torch.cat([benign, mean.unsqueeze(0)])
        return stack, benign.new_empty(self.n_copies + benign.shape[0], benign.shape[1]), mean, direction

    def _deviation(self, stack, rows, mean, direction, gamma: float) -> float:
        from ...aggregators._nnm import neighbour_weights

        c = self.n_copies
        stack[-1] = malicious_vector(mean, gamma, direction)
        weights = neighbour_weights(self.model.matrix(gamma, c), self.keep)
        distinct = torch.cat([weights[:1], weights[c:]])  # the copies' rows are identical
        coefficients = torch.cat([distinct[:, c:], distinct[:, :c].sum(dim=1, keepdim=True)], dim=1) / self.keep
        torch.mm(coefficients.to(stack.dtype), stack, out=rows[c - 1 :])  # the copies' row, then the benign ones
        rows[: c - 1] = rows[c - 1]
        return float(torch.linalg.vector_norm(self.base(rows) - mean))

    def exact(self, gamma: float) -> float:
        return self._deviation(*self.full, gamma)

    def sketch(self, gamma: float) -> float:
        return self._deviation(*(self.small if self.sketched else self.full), gamma)


def evaluator_for(rule: str, call, base_call, model: QuadraticDistances, benign, mean, direction, *, n_copies: int,
                  f: int, options: Mapping[str, object], needs: frozenset[str]):  # fmt: skip
    """The cheapest evaluator of the module docstring that applies to ``rule`` with ``options``: ``call(rows)``
    runs the simulated rule, ``base_call(rows)`` NNM's base as NNM runs it."""
    tensors = holds_tensors(options)
    if not tensors and equivariant(rule, options):
        reduced = Reduced(call, model, n_copies)
        if reduced.dimensions > 0:  # else every row is μ and ∇p = 0: nothing to reduce
            return reduced
    sketchable = not tensors and "score_fn" not in needs
    if rule == "nnm" and sketchable:
        return Mixing(base_call, model, benign, mean, direction, n_copies, f)
    return OnRows(call, benign, mean, direction, n_copies, sketchable)
