r"""The paper's AGR-tailored attacks (its §IV-B): n_malicious copies of ∇m = μ + γ·∇p with γ chosen
against the server's rule ``aggregator``.

Dedicated forms exist for the rules of :data:`TARGETS` (below; ``fedlib.attacks.targets("tailored")``). Any
other registered rule — a newer one, or a user's rule registered at run time or through the
``fedlib.aggregators`` entry-point group — is attacked by the generic form of :mod:`._tailored_generic`:
the rule is a black box and γ maximises J(γ) = ‖AGR(copies ∪ benign) − μ‖₂ (a search that never finds less
deviation than Min-Max or Min-Sum on the same rows; ``info["form"]`` says which form ran).

What "γ is accepted" means per target (the success test of the search):

* ``krum``: textbook — Krum's selected row is a malicious copy. ``variant="ndss21"`` uses the released
  test instead (the book's *Paper code against textbook* chapter, "AGR-tailored attack on Krum: which test?"):
  Multi-krum (ndss21) selects *all* copies.
* ``multi_krum``, ``bulyan``: every copy is in the rule's selection (Multi-krum's n − 2f − 2 picks, or
  ``aggregator_options["n_select"]``; Bulyan's θ = n − 2f Krum picks). ``variant="ndss21"`` on Bulyan tests
  Multi-krum's n − 2f − 2 selection, as the released code does.
* ``afa``, ``fang_defense``, ``dnc``: every copy survives the rule's filter (``Aggregate.selected``). For ``dnc``
  this is the adaptive attack: the adversary simulates DnC with its own randomness — one seed drawn
  from ``generator``, re-used for every probe so that the test is a deterministic function of γ.
* ``trimmed_mean``, ``median``: no constraint; γ maximises J(γ) = ‖AGR(copies ∪ benign) − μ‖₂.
  Textbook: J is evaluated on a grid of ``objective_grid`` + 1 points over [0, γ_sat] and refined by
  golden section (``objective_iters`` steps) around the best grid point, γ_sat being the γ beyond which
  every copy coordinate lies outside the benign range (J is constant beyond it when the rule trims all
  copies). ``variant="ndss21"``: the released hill-climb (the paper-code chapter, "AGR-tailored attack on
  Trimmed-mean") — Algorithm 1 where a probe succeeds when J is strictly larger than at the previous probe.

Searches for the Krum family (``search=``):

* ``"halving"``: the paper's Algorithm 1; each probe decides as the rule on the (n, d) matrix would (below).
* ``"exact"``: every distance involving the copies is a_i + 2γb_i + γ²c (:mod:`._utils.quadratic`; copy-copy
  distances are 0), so the rule's selection is evaluated on the (n, n) matrix only, built for any γ from
  numbers precomputed in one pass. *Definition*: the result is the largest γ found by
  :func:`._utils.search.largest_feasible` — Γ = twice the largest feasible probe among 2γ_init·2^j
  (j = 0, 1, …, stopping after 6 consecutive failures), a scan of ``exact_grid`` equally spaced points
  on (0, Γ) from the top, and bisection of the top feasible→infeasible cell to a relative width of 1e-9.
  It is feasible and γ·(1 + 1e-9) is not; the feasible set need not be an interval, and islands above
  it narrower than Γ/``exact_grid`` are not seen.
  ``"exact"`` is not available for the other targets (they have no quadratic structure to exploit).

Knowledge (paper §III): ``"full"`` simulates n_malicious copies with the server's f (default n_malicious);
``"partial"`` simulates m' fake attackers with f = m' on the adversary's own rows: ``partial_rule=
"square"`` (m' = max(1, ⌊m²/n_total⌋), the CIFAR Krum-family and FEMNIST rule; needs ``n_total``) or
``"table"`` ({4:1, 5:1, 8:2, 10:3, 12:4}, the CIFAR trimmed-mean/median rule); the default is the released
choice for the target (``"table"`` for trimmed_mean/median, ``"square"`` otherwise). Where the table has no
entry for m (FEMNIST's varying m_t, MNIST's 20, Purchase's 16) the square rule is used;
``info["partial_rule"]`` records the rule that ran. When m' copies plus the own rows are fewer than the
simulated rule accepts (``fedlib.aggregators.min_inputs(rule, m')``: Krum's 2f + 3, Bulyan's 4f + 3, ...),
the adversary adds simulated copies up to that minimum (``info["padded_copies"]``); f stays m'.

Probes (halving, hill-climb, grid + golden section) take exactly the decisions of the rule run on the (n, d)
matrix, at a fraction of the cost: the Krum family on the (n, n) distance model with near ties sent to the
matrix (:mod:`._utils.krum_probe`, ``info["matrix_probes"]``), Trimmed-mean / Median objectives bit-identical
from the benign columns sorted once (:mod:`._utils.coordinate_probe`), DnC's iterations from a float64 Gram
matrix with a rounding bound, the SVD only where the bound cannot decide (:mod:`._utils.dnc_probe`,
``info["exact_iterations"]``), AFA's filter up to the round that removes a copy and Fang's defense up to its
survivors, neither with its final aggregation (:mod:`._tailored_survival`). A simulated DnC that filters out every
row raises :class:`~fedlib.errors.AttackInfeasible` (the round cannot be attacked this way).

γ_init defaults to the released CIFAR10 constants: 3.0 for the Krum family, 10.0 for
trimmed_mean/median, and (our choice, nothing released) 10.0 for afa/fang_defense/dnc.
"""

from __future__ import annotations

import torch

from .._checks import check_int
from ..errors import ConfigError
from ..vocabulary import COORDINATE_WISE, KRUM_FAMILY
from ._base import SHARED_SETTINGS, Crafted, register
from ._perturbation import perturbation as make_perturbation
from ._tailored_generic import GAMMA_INIT as GENERIC_GAMMA_INIT
from ._tailored_generic import generic_gamma
from ._tailored_survival import copies_selected, survival_gamma
from ._utils.common import (
    check_positive,
    check_search,
    gamma_init_for,
    malicious_vector,
    partial_simulation,
    repeat_rows,
    require_aggregator,
    server_f,
    with_copies,
)
from ._utils.coordinate_probe import coordinate_objective
from ._utils.krum_probe import KrumFamilyProbe
from ._utils.quadratic import QuadraticDistances
from ._utils.search import halving, hill_climb, largest_feasible, maximize

OBJECTIVE = COORDINATE_WISE  # the targets whose γ maximises the deviation (no selection to pass)
SURVIVAL = ("afa", "fang_defense", "dnc")
TARGETS = KRUM_FAMILY + OBJECTIVE + SURVIVAL


def rule_tested(target: str, variant: str) -> str:
    """The rule the success test simulates: ndss21 Krum and Bulyan test Multi-krum's n − 2f − 2 selection, as
    the released code does (the paper-code chapter, "AGR-tailored attack on Krum: which test?"); otherwise the
    target itself."""
    return "multi_krum" if (target in ("krum", "bulyan") and variant == "ndss21") else target


class _Setting:
    """Everything the success tests share: rows, direction, simulated counts, the rule to run."""

    def __init__(self, benign, mean, direction, target, variant, n_copies, f_sim, agg_opts):
        self.benign, self.mean, self.direction = benign, mean, direction
        self.target, self.variant = target, variant
        self.n_copies, self.f_sim, self.agg_opts = n_copies, f_sim, agg_opts
        self.rule = rule_tested(target, variant)
        self.first_only = target == "krum" and variant == "textbook"
        self._rows: torch.Tensor | None = None

    def stacked(self, gamma: float, vector: torch.Tensor | None = None) -> torch.Tensor:
        """The (n, d) rows at γ (``vector``: the copy at γ, when computed already). For AFA (only whether the
        copies survive is read, before the next probe; it does not write its input) one matrix is refilled:
        writing the copies costs a fifth of stacking n rows anew."""
        if vector is None:
            vector = malicious_vector(self.mean, gamma, self.direction)
        if self.target != "afa":
            return with_copies(vector, self.n_copies, self.benign)
        if self._rows is None:
            self._rows = with_copies(vector, self.n_copies, self.benign)
        else:
            self._rows[: self.n_copies] = vector
        return self._rows

    def run_rule(self, gamma: float, **extra):
        from ..aggregators import aggregate

        return aggregate(self.rule, self.stacked(gamma), self.f_sim, variant=self.variant, **self.agg_opts, **extra)


def _check_krum_family_size(setting: _Setting) -> None:
    from ..aggregators import min_inputs

    n, f = setting.n_copies + setting.benign.shape[0], setting.f_sim
    need = min_inputs(setting.rule, f, variant=setting.variant)
    if n < need:
        raise ConfigError(
            f"tailored attack on {setting.target!r} simulates {setting.rule} on n={n} rows with f={f}; "
            f"{setting.rule} needs n >= {need}."
        )


def _n_select(setting: _Setting, n: int) -> int:
    if setting.first_only:
        return 1
    if setting.rule == "bulyan":
        return n - 2 * setting.f_sim
    count = setting.agg_opts.get("n_select", n - 2 * setting.f_sim - 2)  # Multi-krum's default count
    return check_int(count, "n_select", minimum=1, maximum=n)


def _krum_family_probe(setting: _Setting) -> KrumFamilyProbe:
    """The halving test of the Krum family decided on the (n, n) model, with the rule on the (n, d) matrix
    only for near ties (:mod:`._utils.krum_probe`). Options and sizes are checked first by running the rule
    once on the first column (the same errors as the first probe on the whole matrix raised before)."""
    from ..aggregators import aggregate

    _check_krum_family_size(setting)
    tiny = with_copies(setting.mean[:1], setting.n_copies, setting.benign[:, :1])
    aggregate(setting.rule, tiny, setting.f_sim, variant=setting.variant, **setting.agg_opts)
    model = QuadraticDistances.around(setting.benign, setting.mean, setting.direction)
    n = setting.n_copies + setting.benign.shape[0]

    def on_matrix(gamma: float) -> bool:
        chosen = setting.run_rule(gamma).selected
        return copies_selected(chosen, setting.n_copies, setting.first_only)

    return KrumFamilyProbe(
        model,
        f=setting.f_sim,
        n_select=_n_select(setting, n),
        variant=setting.variant,
        n_copies=setting.n_copies,
        first_only=setting.first_only,
        on_matrix=on_matrix,
    )


def _exact_krum_family(setting: _Setting, gamma_init: float, grid: int, model: QuadraticDistances):
    from ..aggregators import krum_selection

    _check_krum_family_size(setting)
    n = setting.n_copies + setting.benign.shape[0]
    n_select = _n_select(setting, n)
    if n_select < setting.n_copies and not setting.first_only:
        return 0.0, {"n_tests": 0, "bounded": True, "impossible": True}

    def test(gamma: float) -> bool:
        dist = model.matrix(gamma, setting.n_copies)
        chosen = krum_selection(dist, setting.f_sim, n_select, variant=setting.variant)
        return copies_selected(chosen, setting.n_copies, setting.first_only)

    return largest_feasible(test, 2.0 * gamma_init, grid=grid)


def _saturation_gamma(benign, mean, direction) -> float:
    """Smallest γ beyond which μ_j + γp_j lies outside the benign range of every coordinate with p_j ≠ 0."""
    moving = direction != 0
    if not bool(moving.any()):
        return 0.0
    # (g − μ_j)/p_j is monotone in g and so is its float rounding: the largest ratio of a column comes from its
    # max (p_j > 0) or min (p_j < 0); one pass instead of a (k, d) quotient, the same float.
    low, high = benign.amin(dim=0), benign.amax(dim=0)  # the same floats as aminmax, ~3x faster here
    if not bool(moving.all()):  # (the std direction is non-zero wherever the benign values differ)
        low, high, mean, direction = low[moving], high[moving], mean[moving], direction[moving]
    ratio = torch.where(direction > 0, (high - mean) / direction, (low - mean) / direction)
    return max(float(ratio.max()), 0.0)


def _checked_settings(
    target: str, search: str, gamma_init: float | None, tau: float, sizes: dict, aggregator_options: dict | None
) -> tuple[float, dict]:
    """Validate the search settings before any work (``sizes``: the grid and iteration counts); return γ_init
    and the simulated rule's options."""
    check_search(search)
    if search == "exact" and target not in KRUM_FAMILY:
        raise ConfigError(
            f"search='exact' is available for tailored attacks on {list(KRUM_FAMILY)} (and for min_max, "
            f"min_sum); found aggregator={target!r}. Use search='halving'."
        )
    for name, value in sizes.items():
        check_int(value, name, minimum=0 if name.endswith("_iters") else 2)
    check_positive(tau, "tau")
    agg_opts = dict(aggregator_options or {})
    clash = sorted(set(agg_opts) & {"updates", "f", "variant", "name"})
    if clash:
        raise ConfigError(f"aggregator_options must not set {clash}: the attack passes them itself.")
    if target not in TARGETS:  # the generic form: the agnostic attacks' released γ_init
        return (GENERIC_GAMMA_INIT if gamma_init is None else check_positive(gamma_init, "gamma_init")), agg_opts
    return gamma_init_for("tailored", target, gamma_init), agg_opts


def _objective_gamma(setting: _Setting, g0: float, tau: float, grid: int, iters: int, info: dict) -> float:
    """Trimmed-mean / Median: γ maximising J(γ) = ‖AGR(copies ∪ benign) − μ‖ (hill-climb under ndss21)."""
    benign, mean = setting.benign, setting.mean

    def on_matrix(g: float) -> float:
        return float(torch.linalg.vector_norm(setting.run_rule(g).vector - mean))

    objective = (
        coordinate_objective(
            benign,
            mean,
            setting.direction,
            target=setting.target,
            variant=setting.variant,
            n_copies=setting.n_copies,
            f=setting.f_sim,
            on_matrix=on_matrix,
        )
        or on_matrix
    )
    if setting.variant == "ndss21":
        result = hill_climb(objective, g0, tau)
        info["n_probes"] = result.n_probes
        return result.gamma
    upper = _saturation_gamma(benign, mean, setting.direction)
    gamma, evals = (0.0, 0) if upper == 0.0 else maximize(objective, upper, grid=grid, iters=iters)
    info.update(n_probes=evals, gamma_saturation=upper)
    return gamma


def _simulated_counts(target, n_malicious, n_known, *, f, knowledge, variant, partial_rule, n_total, agg_opts):
    """(copies, f, info) the adversary simulates: the server's under full knowledge, m' under partial."""
    if knowledge != "partial":
        return n_malicious, server_f(f, n_malicious), {}
    return partial_simulation(
        n_malicious,
        n_known,
        rule=rule_tested(target, variant),
        variant=variant,
        partial_rule=partial_rule,
        default_rule="table" if target in OBJECTIVE else "square",
        n_total=n_total,
        attack="tailored",
        rule_options={k: v for k, v in agg_opts.items() if k not in ("generator", "score_fn")},
    )


def _gamma(setting: _Setting, model, g0: float, tau: float, generator, knowledge: str, settings: dict, info: dict):
    """Dispatch to the target's search: a dedicated form (module docstring) or the generic one."""
    target = setting.target
    if model is not None:
        gamma, details = _exact_krum_family(setting, g0, settings["exact_grid"], model)
        info.update(details, n_probes=0)
        return gamma
    if target in KRUM_FAMILY:
        probe = _krum_family_probe(setting)
        result = halving(probe, g0, tau)
        info.update(n_probes=result.n_probes, matrix_probes=probe.matrix_probes)
        return result.gamma
    if target in OBJECTIVE:
        return _objective_gamma(setting, g0, tau, settings["objective_grid"], settings["objective_iters"], info)
    if target in SURVIVAL:
        return survival_gamma(setting, g0, tau, generator, knowledge, info)
    grid, iters = settings["generic_grid"], settings["generic_iters"]
    return generic_gamma(setting, g0, tau, generator, grid, iters, settings["generic_models"], info)


@register(
    "tailored",
    needs=("n_total", "aggregator_options"),
    targets=TARGETS,
    generic_form=True,
    settings=SHARED_SETTINGS,
    options=("partial_rule", "exact_grid", "objective_grid", "objective_iters", "generic_grid", "generic_iters"),
)
def tailored(
    benign: torch.Tensor,
    n_malicious: int,
    *,
    aggregator: str | None = None,
    f: int | None = None,
    perturbation: str = "std",
    search: str = "halving",
    gamma_init: float | None = None,
    tau: float = 1e-5,
    knowledge: str = "full",
    generator: torch.Generator | None = None,
    variant: str = "textbook",
    partial_rule: str | None = None,
    n_total: int | None = None,
    aggregator_options: dict | None = None,
    exact_grid: int = 200,
    objective_grid: int = 32,
    objective_iters: int = 30,
    generic_grid: int = 13,
    generic_iters: int = 8,
) -> Crafted:
    """AGR-tailored attack on ``aggregator`` (module docstring for the tests, searches and knowledge): a
    dedicated form for the rules of :data:`TARGETS`, the generic black-box form (:mod:`._tailored_generic`)
    for any other registered rule.

    Options: ``partial_rule``, ``n_total`` (partial knowledge), ``aggregator_options`` (extra keyword
    options of the simulated rule, e.g. DnC's ``n_iters``/``subsample_dim``), ``exact_grid``,
    ``objective_grid``, ``objective_iters``, ``generic_grid``, ``generic_iters`` (the generic search).

    Example:
        >>> import torch
        >>> from fedlib.attacks import craft
        >>> x = torch.randn(16, 8, generator=torch.Generator().manual_seed(0))
        >>> out = craft("tailored", x, 4, aggregator="multi_krum", search="exact")
        >>> out.updates.shape, out.gamma > 0
        (torch.Size([4, 8]), True)
        >>> craft("tailored", x, 4, aggregator="geometric_median").info["best_source"] in ("grid", "golden")
        True
    """
    from ..aggregators import names as rule_names

    target = require_aggregator(aggregator, "tailored", rule_names())
    sizes = dict(
        exact_grid=exact_grid,
        objective_grid=objective_grid,
        objective_iters=objective_iters,
        generic_grid=generic_grid,
        generic_iters=generic_iters,
    )
    g0, agg_opts = _checked_settings(target, search, gamma_init, tau, sizes, aggregator_options)
    n_copies, f_sim, partial_info = _simulated_counts(
        target, n_malicious, benign.shape[0], f=f, knowledge=knowledge, variant=variant,
        partial_rule=partial_rule, n_total=n_total, agg_opts=agg_opts,
    )  # fmt: skip
    model = None  # built only for the exact Krum-family search
    generic_models = None  # the generic textbook search's pass: Min-Max's and Min-Sum's models
    if target in KRUM_FAMILY and search == "exact":  # mean, direction and distance model in one pass
        mean, direction, model = QuadraticDistances.one_pass(benign, perturbation)
    elif target not in TARGETS and variant == "textbook":
        mean, direction, *generic_models = QuadraticDistances.one_pass_both(benign, perturbation)
    else:
        mean, direction = benign.mean(dim=0), make_perturbation(perturbation, benign)
    setting = _Setting(benign, mean, direction, target, variant, n_copies, f_sim, agg_opts)
    info = {
        "perturbation": perturbation,
        "search": search,
        "gamma_init": g0,
        "target": target,
        "form": "dedicated" if target in TARGETS else "generic",
        "rule_tested": setting.rule,
        "f_simulated": f_sim,
        "copies_simulated": n_copies,
        **partial_info,
    }
    gamma = _gamma(setting, model, g0, tau, generator, knowledge, {**sizes, "generic_models": generic_models}, info)
    vector = malicious_vector(mean, gamma, direction)
    return Crafted(repeat_rows(vector, n_malicious), gamma, info)
