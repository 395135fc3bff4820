"""Small two-dimensional examples for the teaching chapters (tiny, seeded, CPU-only)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd
import torch

from fedlib import aggregators
from fedlib.experiments import grids
from fedlib.report.labels import AGR_LABELS

from .text import vector_text


def point_cloud(
    n_benign: int = 16,
    n_malicious: int = 4,
    *,
    shift: Sequence[float] = (6.0, 6.0),
    spread: float = 0.5,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """A 2-D cloud: ``n_malicious`` rows first, placed around ``shift``, then Gaussian benign rows.

    The benign rows are N((1, 1), I); the malicious rows are N(shift, spread²·I), so the attackers form
    a tight cluster that pulls the mean away from the honest points.

    Example:
        >>> from fedbook.toy import point_cloud
        >>> x = point_cloud(8, 2, seed=1)
        >>> tuple(x.shape)
        (10, 2)
    """
    g = torch.Generator().manual_seed(seed)
    benign = torch.randn(n_benign, 2, generator=g, dtype=dtype) + 1.0
    centre = torch.tensor(shift, dtype=dtype)
    malicious = centre + spread * torch.randn(n_malicious, 2, generator=g, dtype=dtype)
    return torch.cat([malicious, benign])


#: The server's validation points are drawn from their own stream, never the clients' (seed + this offset).
VALIDATION_SEED_OFFSET = 10_000


def validation_points(k: int = 20, *, seed: int = 0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``k`` points from the honest distribution N((1, 1), I) that the server holds for Fang's defense (drawn
    from the stream ``seed + VALIDATION_SEED_OFFSET``, independent of :func:`point_cloud`'s draws).

    Example:
        >>> from fedbook.toy import validation_points
        >>> tuple(validation_points(5).shape)
        (5, 2)
    """
    g = torch.Generator().manual_seed(seed + VALIDATION_SEED_OFFSET)
    return torch.randn(k, 2, generator=g, dtype=dtype) + 1.0


def validation_score(validation: torch.Tensor, radius: float = 1.5) -> Callable[[torch.Tensor], tuple[float, float]]:
    """Fang's defense scores a candidate aggregate by the loss and error rate of the model it would give on the
    server's validation data. A point cloud has no model, so here the candidate point plays the model: its
    loss is the mean squared distance to the validation points, its error rate the fraction of them farther
    than ``radius`` from it.

    Example:
        >>> import torch
        >>> from fedbook.toy import validation_score
        >>> score = validation_score(torch.tensor([[0.0, 0.0], [2.0, 0.0]], dtype=torch.float64), radius=1.5)
        >>> score(torch.tensor([0.0, 0.0], dtype=torch.float64))
        (2.0, 0.5)
    """

    def score(vector: torch.Tensor) -> tuple[float, float]:
        sq = ((validation - vector) ** 2).sum(dim=1)
        return float(sq.mean()), float((sq.sqrt() > radius).to(validation.dtype).mean())

    return score


def rule_family(rule: str) -> str:
    """"in the paper" for the rules the NDSS'21 paper evaluates or proposes, "after the paper" for the defenses
    fedlib adds that were published later (:data:`fedlib.experiments.grids.NEWER_RULES`)."""
    return "after the paper" if rule in grids.NEWER_RULES else "in the paper"


def aggregate_all(
    points: torch.Tensor, f: int, rules: Sequence[str] | None = None, *, variant: str = "textbook", seed: int = 0,
    validation: torch.Tensor | None = None,
) -> pd.DataFrame:
    """Run every rule on ``points`` (rows = clients, malicious first) and tabulate each output and what it kept.

    Randomised rules (DnC, bucketing, Fang's defense) draw from a generator seeded with ``seed``; Fang's defense
    scores candidates with :func:`validation_score` on ``validation`` (default: :func:`validation_points` with
    ``seed``). Columns: ``rule``, ``family`` (:func:`rule_family`), ``x``, ``y``, ``distance`` (from the
    mean of the honest rows, those from ``f`` on), and for the rules that select rows ``n_selected`` and
    ``malicious_selected`` (rows below ``f``); missing (NA) for the others.

    Example:
        >>> from fedbook.toy import aggregate_all, point_cloud
        >>> table = aggregate_all(point_cloud(8, 2, seed=1), f=2, rules=["mean", "krum"])
        >>> table.rule.tolist(), table.n_selected.tolist()
        (['mean', 'krum'], [<NA>, 1])
    """
    rules = aggregators.names() if rules is None else list(rules)
    validation = validation_points(seed=seed, dtype=points.dtype) if validation is None else validation
    honest_mean = points[f:].mean(dim=0)
    rows = []
    for name in rules:
        options: dict = {}
        if "generator" in aggregators.needs(name):
            options["generator"] = torch.Generator().manual_seed(seed)
        if "score_fn" in aggregators.needs(name):
            options["score_fn"] = validation_score(validation)
        out = aggregators.aggregate(name, points, f, variant=variant, **options)
        selected = None if out.selected is None else out.selected.tolist()
        rows.append({"rule": name, "family": rule_family(name), "x": float(out.vector[0]), "y": float(out.vector[1]),
                     "distance": float(torch.linalg.vector_norm(out.vector - honest_mean)),
                     "n_selected": None if selected is None else len(selected),
                     "malicious_selected": None if selected is None else sum(i < f for i in selected)})
    table = pd.DataFrame(rows)
    return table.astype({"n_selected": "Int64", "malicious_selected": "Int64"})


def rules_table(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`aggregate_all`'s table as a page shows it: the rules' names, the aggregate's coordinates, and the
    rows kept by the rules that select rows ("–" for the coordinate-wise ones, which select none)."""
    return pd.DataFrame({
        "rule": [AGR_LABELS.get(r, r) for r in table.rule],
        "source": table.family.map({"in the paper": "paper", "after the paper": "later"}),
        "x": table.x, "y": table.y, "distance from the honest mean": table["distance"],
        "rows kept": table.n_selected,
        "malicious rows kept": table.malicious_selected,
    })


def coinciding_text(table: pd.DataFrame, decimals: int = 3) -> str:
    """A sentence naming the rules of :func:`aggregate_all`'s ``table`` whose outputs are the same point (to
    ``decimals`` places), whose markers the figure draws on top of each other; ``""`` when no two coincide.

    Example:
        >>> import pandas as pd
        >>> from fedbook.toy import coinciding_text
        >>> table = pd.DataFrame({"rule": ["krum", "geometric_median", "mean"], "x": [0.98, 0.98, 1.5],
        ...                       "y": [1.21, 1.21, 2.0]})
        >>> coinciding_text(table)
        'Krum and Geometric median give the same point (0.980, 1.210): their markers overlap.'
    """
    keyed = table.assign(point=[(round(float(x), decimals), round(float(y), decimals))
                                for x, y in zip(table.x, table.y, strict=True)])
    groups = [g for _, g in keyed.groupby("point", sort=False) if len(g) > 1]
    if not groups:
        return ""
    def names(rules) -> str:
        labels = [AGR_LABELS.get(r, r) for r in rules]
        return ", ".join(labels[:-1]) + " and " + labels[-1]

    said = "; ".join(f"{names(g.rule)} give the same point ({g.point.iloc[0][0]:.{decimals}f}, "
                     f"{g.point.iloc[0][1]:.{decimals}f})" for g in groups)
    return f"{said[0].upper()}{said[1:]}: their markers overlap."


#: One marker and one colour per rule, none shared (the paper's rules open, the later ones filled).
RULE_STYLES = {
    "mean": ("o", "#1f77b4"), "krum": ("s", "#ff7f0e"), "multi_krum": ("D", "#2ca02c"),
    "bulyan": ("^", "#d62728"), "trimmed_mean": ("v", "#9467bd"), "median": ("<", "#8c564b"),
    "afa": (">", "#e377c2"), "fang_defense": ("p", "#bcbd22"), "dnc": ("h", "#17becf"),
    "centered_clipping": ("P", "#000075"), "geometric_median": ("X", "#e6ab02"), "nnm": ("*", "#1b9e77"),
    "bucketing": ("d", "#800000"),
}


def plot_aggregates(ax, points: torch.Tensor, table: pd.DataFrame, f: int) -> None:
    """Draw the honest rows (grey dots), their mean (black plus), the ``f`` malicious rows (black crosses) and
    each rule's aggregate of :func:`aggregate_all`'s ``table`` with its :data:`RULE_STYLES` marker: large and
    open for the rules in the paper, small and filled for the later ones (so that two rules with the same
    output both stay visible)."""
    xy = points.detach().cpu().numpy()
    ax.scatter(xy[f:, 0], xy[f:, 1], c="#b0b0b0", s=25, label="honest updates", zorder=1)
    ax.scatter(xy[:f, 0], xy[:f, 1], c="black", marker="x", s=45, label="malicious updates", zorder=2)
    ax.scatter(*xy[f:].mean(axis=0), c="black", marker="+", s=220, linewidth=1.5, label="honest mean", zorder=4)
    for row in table.itertuples():
        marker, color = RULE_STYLES[row.rule]
        later = row.family == "after the paper"
        ax.scatter(row.x, row.y, s=45 if later else 150, marker=marker, linewidth=2, zorder=5 if later else 3,
                   facecolor=color if later else "none", edgecolor=color,
                   label=AGR_LABELS.get(row.rule, row.rule) + ("" if later else " (paper)"))
    ax.set_xlabel("coordinate 1 (update units)")
    ax.set_ylabel("coordinate 2 (update units)")


def aggregates_figure(points: torch.Tensor, table: pd.DataFrame, f: int, title: str, *, zoom: float = 1.2):
    """Two panels of :func:`plot_aggregates`: every update, and a zoom of ± ``zoom`` around the honest mean;
    one legend below both. Returns the Matplotlib figure."""
    import matplotlib.pyplot as plt

    fig, (whole, near) = plt.subplots(1, 2, figsize=(11, 5.6))
    for ax in (whole, near):
        plot_aggregates(ax, points, table, f)
    centre = points[f:].mean(dim=0)
    low, high = centre - zoom, centre + zoom
    # malicious updates just outside the window are widened into it (a cross cut in half reads as nothing);
    # far ones stay out: the left panel shows them
    bad = points[:f]
    close = bad[(bad - centre).abs().amax(dim=1) <= 3 * zoom] if f else bad
    if len(close):
        margin = 0.08 * zoom
        low, high = torch.minimum(low, close.amin(dim=0) - margin), torch.maximum(high, close.amax(dim=0) + margin)
    near.set_xlim(float(low[0]), float(high[0]))
    near.set_ylim(float(low[1]), float(high[1]))
    whole.set_title("every update")
    widened = bool(((low < centre - zoom) | (high > centre + zoom)).any())
    near.set_title("zoom: the honest mean and the malicious updates near it" if widened else
                   f"zoom: ±{zoom:g} around the honest mean")
    handles, labels = near.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=11, frameon=False)
    fig.suptitle(title, fontsize=13)
    fig.tight_layout(rect=(0, 0.24, 1, 1))
    return fig


# ---------------------------------------------------------------------------------------------------------
# How the attacks find γ (teaching chapter "How the attacks find γ")


def gaussian_updates(n: int = 20, d: int = 50, *, seed: int = 0, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``n`` benign "gradients" in ``d`` dimensions: a shared mean direction plus independent noise.

    Rows are N(μ, I) with μ = (1, …, 1)·0.5, a crude stand-in for a round of honest gradients (they agree
    on a direction and disagree by noise).

    Example:
        >>> from fedbook.toy import gaussian_updates
        >>> tuple(gaussian_updates(5, 3).shape)
        (5, 3)
    """
    g = torch.Generator().manual_seed(seed)
    return 0.5 + torch.randn(n, d, generator=g, dtype=dtype)


def _sq_dist(rows: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
    return ((rows - vector) ** 2).sum(dim=1)


def agnostic_curves(benign: torch.Tensor, gammas: Sequence[float], *, perturbation: str = "std") -> pd.DataFrame:
    r"""The Min-Max and Min-Sum constraints of ∇m = μ + γ∇p, evaluated on a grid of γ.

    Columns: ``gamma``, ``attack``, ``value`` (Min-Max: max_i ‖∇m − g_i‖²; Min-Sum: Σ_i ‖∇m − g_i‖²) and
    ``threshold`` (Min-Max: max_{i,j} ‖g_i − g_j‖²; Min-Sum: min_j Σ_i ‖g_j − g_i‖²). The attack's γ is
    the largest γ with value ≤ threshold (the paper's AGR-agnostic attacks, its §IV-C).
    """
    from fedlib.attacks import perturbation as make_perturbation

    mu = benign.mean(dim=0)
    direction = make_perturbation(perturbation, benign)
    pair = torch.cdist(benign, benign) ** 2
    thresholds = {"min_max": float(pair.max()), "min_sum": float(pair.sum(dim=1).min())}
    rows = []
    for gamma in gammas:
        dist = _sq_dist(benign, mu + float(gamma) * direction)
        rows.append({"gamma": float(gamma), "attack": "min_max", "value": float(dist.max()),
                     "threshold": thresholds["min_max"]})
        rows.append({"gamma": float(gamma), "attack": "min_sum", "value": float(dist.sum()),
                     "threshold": thresholds["min_sum"]})
    return pd.DataFrame(rows)


def tailored_curves(
    benign: torch.Tensor,
    n_malicious: int,
    gammas: Sequence[float],
    *,
    rules: Sequence[str] = ("krum", "multi_krum", "trimmed_mean", "median"),
    perturbation: str = "std",
    variant: str = "textbook",
) -> pd.DataFrame:
    r"""What an AGR-tailored attacker looks at for each γ: the objective ‖AGR(malicious ∪ benign) − μ‖₂ and,
    for selection rules, how many malicious copies the rule selects.

    The malicious copies ∇m = μ + γ∇p come first (rows 0 … m−1); the server assumes f = m.
    """
    from fedlib.attacks import perturbation as make_perturbation

    mu = benign.mean(dim=0)
    direction = make_perturbation(perturbation, benign)
    rows = []
    for gamma in gammas:
        mal = (mu + float(gamma) * direction).expand(n_malicious, -1)
        stacked = torch.cat([mal, benign])
        for rule in rules:
            out = aggregators.aggregate(rule, stacked, n_malicious, variant=variant)
            selected = None if out.selected is None else int((out.selected < n_malicious).sum())
            rows.append({"gamma": float(gamma), "rule": rule,
                         "deviation": float(torch.linalg.vector_norm(out.vector - mu)),
                         "malicious_selected": selected,
                         "n_selected": None if out.selected is None else int(out.selected.numel())})
    return pd.DataFrame(rows)


def halving_trace(success, gamma_init: float, tau: float = 1e-5) -> pd.DataFrame:
    """Every probe of the paper's halving search (Algorithm 1, :func:`fedlib.attacks.halving_search`).

    ``success(γ) -> bool`` is the attack's acceptance test. Returns one row per probe: ``probe``, ``gamma``,
    ``success`` and ``best`` (the largest successful γ so far, the search's answer when it stops).
    """
    from fedlib.attacks import halving_search as halving  # the search itself, traced probe by probe

    probes: list[dict] = []
    best = [0.0]

    def recorded(gamma: float) -> bool:
        ok = bool(success(gamma))
        if ok:
            best[0] = gamma
        probes.append({"probe": len(probes) + 1, "gamma": gamma, "success": ok, "best": best[0]})
        return ok

    result = halving(recorded, gamma_init, tau)
    if probes and probes[-1]["best"] != result.gamma:
        raise RuntimeError("halving_trace lost track of the search's answer")  # guards the wrapper itself
    return pd.DataFrame(probes)


def agnostic_success(benign: torch.Tensor, attack: str, *, perturbation: str = "std"):
    """The acceptance test of Min-Max / Min-Sum as a function of γ (for :func:`halving_trace`)."""
    curves_at = lambda g: agnostic_curves(benign, [g], perturbation=perturbation)  # noqa: E731

    def success(gamma: float) -> bool:
        row = curves_at(gamma).set_index("attack").loc[attack]
        return bool(row.value <= row.threshold)

    return success


# ---------------------------------------------------------------------------------------------------------
# Paper code against textbook (teaching chapter)


def small_integer_updates(n: int, d: int, *, seed: int, low: int = -5, high: int = 5) -> torch.Tensor:
    """An (n, d) float64 matrix of small integers (readable in a table), seeded."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(low, high + 1, (n, d), generator=g).to(torch.float64)


def _same(a: torch.Tensor | None, b: torch.Tensor | None, atol: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and bool(torch.allclose(a.to(torch.float64), b.to(torch.float64), atol=atol, rtol=0))


def rule_variant_difference(
    rule: str, *, n: int, f: int, d: int = 2, seeds: Sequence[int] = range(1000), atol: float = 1e-9, **options
) -> dict:
    """The first seeded small-integer input on which ``rule``'s textbook and ndss21 variants disagree.

    Returns a dict with ``seed``, ``updates`` and, per variant, the output ``vector`` and ``selected`` rows.
    Raises ValueError if no seed in ``seeds`` shows a difference (then the variants agree on such inputs).
    """
    for seed in seeds:
        x = small_integer_updates(n, d, seed=seed)
        out = {v: aggregators.aggregate(rule, x, f, variant=v, **options) for v in ("textbook", "ndss21")}
        t, c = out["textbook"], out["ndss21"]
        if not (_same(t.vector, c.vector, atol) and _same(t.selected, c.selected, 0)):
            return {"rule": rule, "seed": seed, "f": f, "updates": x,
                    "textbook": t, "ndss21": c}
    raise ValueError(f"{rule}: textbook and ndss21 agree on every input tried (n={n}, f={f}, d={d}, "
                     f"{len(seeds)} seeds)")


#: How the pages name the two variants.
VARIANT_LABELS = {"textbook": "textbook", "ndss21": "released code (ndss21)"}


def updates_table(updates: torch.Tensor, n_malicious: int = 0) -> pd.DataFrame:
    """An (n, d) input as a page shows it: one row per update, labelled ``row i`` (and "malicious" for the
    first ``n_malicious``), one column per coordinate.

    Example:
        >>> import torch
        >>> from fedbook.toy import updates_table
        >>> updates_table(torch.tensor([[1.0, -2.0], [0.5, 3.0]]), n_malicious=1).values.tolist()
        [['row 0 (malicious)', 1.0, -2.0], ['row 1', 0.5, 3.0]]
    """
    frame = pd.DataFrame(updates.detach().cpu().numpy(), columns=[f"coordinate {j + 1}" for j in
                                                                   range(updates.shape[1])])
    frame.insert(0, "update", [f"row {i}" + (" (malicious)" if i < n_malicious else "") for i in range(len(frame))])
    return frame


def _rows_text(selected: torch.Tensor | None) -> str | None:
    return None if selected is None else ", ".join(str(int(i)) for i in selected)


def variant_table(example: dict) -> pd.DataFrame:
    """Both variants' outputs of a :func:`rule_variant_difference` example, one row per variant: the output
    vector and, for rules that select rows, the rows selected (in selection order)."""
    rows = [{"variant": VARIANT_LABELS[v], "output": vector_text(example[v].vector),
             "rows selected": _rows_text(example[v].selected)} for v in ("textbook", "ndss21")]
    table = pd.DataFrame(rows)
    return table.drop(columns="rows selected") if table["rows selected"].isna().all() else table


def attack_variant_table(name: str, benign: torch.Tensor, n_malicious: int, *, seed: int = 0, shown: int = 4,
                         **kwargs) -> pd.DataFrame:
    """Craft ``name`` under both variants (same inputs, same seed) and show the first malicious update (its
    first ``shown`` coordinates) and, for attacks that search one, γ."""
    from fedlib import attacks

    d = benign.shape[1]
    header = "first malicious update" + (f" (first {shown} of {d} coordinates)" if d > shown else "")
    rows = []
    for v in ("textbook", "ndss21"):
        out = attacks.craft(name, benign, n_malicious, variant=v,
                            generator=torch.Generator().manual_seed(seed), **kwargs)
        update = vector_text(out.updates[0][:shown])
        rows.append({"variant": VARIANT_LABELS[v], header: update[:-1] + ", …)" if d > shown else update,
                     "γ": None if out.gamma is None else float(out.gamma)})
    table = pd.DataFrame(rows)
    return table.drop(columns="γ") if table["γ"].isna().all() else table
