"""Turn a results frame (one row per run, from :func:`fedlib.report.results.collect`) into the book's tables.

Impact (the paper's attack impact): for each seed, accuracy of the no-attack run with the same rule and setting minus
the accuracy with the attack (percentage points, test accuracy of the best-validation round); reported as the mean over
seeds, ± the standard deviation when there are several seeds.

Example:
    >>> import pandas as pd
    >>> from fedlib.report.tables import impacts
    >>> runs = pd.DataFrame({"aggregator": ["median"] * 4, "attack": ["none", "lie"] * 2,
    ...                      "seed": [0, 0, 1, 1], "test_accuracy": [90.0, 85.0, 92.0, 86.0]})
    >>> impacts(runs, by=["aggregator"]).impact.tolist()
    [5.0, 6.0]
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from ..vocabulary import KNOWLEDGE
from .labels import AGR_LABELS, ATTACK_LABELS, DATASET_LABELS, MODEL_LABELS

METRIC = "test_accuracy"


def impacts(runs: pd.DataFrame, by: Sequence[str], metric: str = METRIC) -> pd.DataFrame:
    """Per-seed impacts: each attacked run joined with the no-attack run of the same ``by`` keys and seed.

    ``by`` are the columns that must match between the two runs (e.g. dataset, aggregator); columns that
    only the attacked runs have (attack, knowledge, perturbation) are kept. Raises ValueError if an
    attacked run has no matching no-attack run.
    """
    keys = list(by) + ["seed"]
    clean = runs[runs.attack == "none"][keys + [metric]].rename(columns={metric: "no_attack"})
    if clean.duplicated(keys).any():
        raise ValueError(f"several no-attack runs share the keys {keys}; add the distinguishing column to `by`")
    attacked = runs[runs.attack != "none"]
    out = attacked.merge(clean, on=keys, how="left", validate="many_to_one")
    if out.no_attack.isna().any():
        lost = out[out.no_attack.isna()][keys + ["attack"]].drop_duplicates().to_dict("records")
        raise ValueError(f"attacked runs without a no-attack run of the same setting: {lost[:5]}")
    out["impact"] = out.no_attack - out[metric]
    return out


def mean_and_sd(values: pd.Series) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for one value) of the non-NaN values; (NaN, NaN) if none."""
    values = pd.Series(values, dtype="float64").dropna()
    if values.empty:
        return float("nan"), float("nan")
    return float(values.mean()), (float(values.std(ddof=1)) if len(values) > 1 else 0.0)


def _one_decimal(value: float) -> str:
    """``value`` to one decimal; a mean that rounds to zero reads ``0.0``, never ``-0.0``."""
    text = f"{value:.1f}"
    return "0.0" if text == "-0.0" else text


def mean_sd(values: pd.Series) -> str:
    """``"12.3"`` for one value, ``"12.3 ± 1.0"`` (sample std) for several; NaN → ``"–"``."""
    values = pd.Series(values, dtype="float64").dropna()
    mean, sd = mean_and_sd(values)
    if values.empty:
        return "–"
    if len(values) == 1:
        return _one_decimal(mean)
    return f"{_one_decimal(mean)} ± {sd:.1f}"


def summarise(frame: pd.DataFrame, index: Sequence[str], columns: Sequence[str], value: str) -> pd.DataFrame:
    """Pivot ``value`` into index × columns cells formatted by :func:`mean_sd` (mean ± std over seeds)."""
    grouped = frame.groupby(list(index) + list(columns), sort=False)[value].apply(mean_sd)
    table = grouped.unstack(list(columns)) if columns else grouped.to_frame(value)
    return table


def label(frame: pd.DataFrame) -> pd.DataFrame:
    """Human-readable names for the dataset, model, aggregator and attack columns."""
    out = frame.copy()
    for col, names in (
        ("aggregator", AGR_LABELS),
        ("attack", ATTACK_LABELS),
        ("dataset", DATASET_LABELS),
        ("model", MODEL_LABELS),
    ):
        if col in out:
            out[col] = out[col].map(lambda v, n=names: n.get(v, v))
    return out


def order(frame: pd.DataFrame, column: str, values: Iterable[str]) -> pd.DataFrame:
    """Sort rows so that ``column`` follows the order of ``values`` (others last)."""
    rank = {v: i for i, v in enumerate(values)}
    return frame.sort_values(column, key=lambda s: s.map(lambda v: rank.get(v, len(rank))), kind="stable")


def main_table(runs: pd.DataFrame, attacks: Sequence[str], aggregators: Sequence[str]) -> pd.DataFrame:
    """The paper's main-table layout: rows dataset × AGR; columns no-attack accuracy, then impacts per
    knowledge setting (full, partial) × attack. Cells are mean ± std over seeds (pp)."""
    imp = impacts(runs, by=["dataset", "model", "aggregator"])
    clean = runs[runs.attack == "none"]
    rows = []
    for (dataset, model, agr), group in imp.groupby(["dataset", "model", "aggregator"], sort=False):
        row: dict[str | tuple[str, str], object] = {
            ("", "dataset"): f"{DATASET_LABELS.get(dataset, dataset)} ({MODEL_LABELS.get(model, model)})",
            ("", "AGR"): AGR_LABELS.get(agr, agr),
        }
        acc = clean[(clean.dataset == dataset) & (clean.model == model) & (clean.aggregator == agr)]
        row[("", "no-attack acc. (%)")] = mean_sd(acc[METRIC])
        for know in KNOWLEDGE:
            for attack in attacks:
                cell = group[(group.knowledge == know) & (group.attack == attack)]
                if len(cell):
                    row[(f"{know} knowledge: impact (pp)", ATTACK_LABELS[attack])] = mean_sd(cell.impact)
        row["_order"] = list(aggregators).index(agr) if agr in aggregators else len(aggregators)
        rows.append(row)
    table = pd.DataFrame(rows).sort_values("_order", kind="stable").drop(columns="_order")
    table.columns = pd.MultiIndex.from_tuples(table.columns)
    return table.reset_index(drop=True).fillna("n/a")  # n/a: a run that does not exist in this grid


def knowledge_table(
    runs: pd.DataFrame, attacks: Sequence[str], aggregators: Sequence[str], knowledge: str
) -> pd.DataFrame | None:
    """One knowledge setting of :func:`main_table` as a flat table that fits a page: AGR, no-attack
    accuracy, one impact column per attack (a dataset column only when there are several datasets).
    None when no run has this knowledge setting.

    Example:
        >>> import pandas as pd
        >>> from fedlib.report.tables import knowledge_table
        >>> runs = pd.DataFrame({"dataset": "mnist5k", "model": "mnist_fc", "aggregator": "median",
        ...                      "attack": ["none", "lie"], "knowledge": ["-", "full"], "seed": 0,
        ...                      "test_accuracy": [90.0, 85.0]})
        >>> knowledge_table(runs, ["lie"], ["median"], "full").columns.tolist()
        ['AGR', 'no-attack acc. (%)', 'LIE']
        >>> knowledge_table(runs, ["lie"], ["median"], "partial") is None
        True
    """
    full = main_table(runs, attacks, aggregators)
    group = f"{knowledge} knowledge: impact (pp)"
    cols = [c for c in full.columns if c[0] == group]
    if not cols:
        return None
    out = full[[c for c in full.columns if c[0] == ""] + cols]
    out.columns = [c[1] for c in out.columns]
    return out.drop(columns="dataset") if out["dataset"].nunique() == 1 else out


def page_table(frame: pd.DataFrame, precision: int = 1):
    """``frame`` as a book page shows it: no index column, numbers with ``precision`` decimals, a missing
    value as "–", cells with words aligned left, and every cell without words (a number, "2.1 ± 1.0",
    "2.2×", "5.0 (n=2)") aligned right and kept on one line, so that a narrow screen scrolls the table
    sideways instead of breaking a number over lines (a pandas Styler; its HTML is what the page renders).

    Example:
        >>> import pandas as pd
        >>> from fedlib.report.tables import page_table
        >>> html = page_table(pd.DataFrame({"rule": ["Krum"], "impact": ["2.1 ± 1.0"]})).to_html()
        >>> html.count("white-space: nowrap"), html.count("text-align: left")
        (1, 1)
    """

    def cell_style(value: object) -> str:
        numeric = isinstance(value, int | float | np.number)  # 1e-17 is a number, not the word "e"
        words = "" if numeric else re.sub(r"\(n ?= ?\d+\)|\bpp\b|\bnan\b|<NA>", "", str(value))
        return "text-align: left" if re.search(r"[A-Za-z]", words) else "white-space: nowrap; text-align: right"

    return frame.style.hide(axis="index").format(precision=precision, na_rep="–").map(cell_style)


def caption(
    profile: str, datasets: Iterable[str], seeds: Sequence[int], extra: str = "", *, over_seeds: str = "mean ± std"
) -> str:
    """The provenance line every table and figure carries: profile, dataset(s), seeds, metric.

    ``over_seeds`` says what the cells show of several seeds (``"mean ± std"``, ``"mean"``; ``""``: the
    caption says nothing of it, for cells that are not a statistic over seeds).

    Example:
        >>> from fedlib.report.tables import caption
        >>> caption("quick", ["mnist5k"], [0, 1], over_seeds="mean").split(". ")[0]
        'Profile `quick`, dataset mnist5k (the embedded 5,000-image MNIST subset), seeds 0, 1 (mean over seeds)'
    """
    from ..experiments import seeds_text

    datasets = list(datasets)
    names = ", ".join(dict.fromkeys(DATASET_LABELS.get(d, d) for d in datasets))
    if "mnist5k" in datasets:
        names += " (the embedded 5,000-image MNIST subset)"
    quick = (
        " Quick profile: a small, fast stand-in for the paper's setting; compare orderings, not sizes."
        if profile == "quick"
        else ""
    )
    scale = (
        " Scale profile: the paper's MNIST client layout on the full Fashion-MNIST, with a smaller network."
        if profile == "scale"
        else ""
    )
    several = f" ({over_seeds} over seeds)" if len(seeds) > 1 and over_seeds else ""
    return (
        f"Profile `{profile}`, dataset {names}, {seeds_text(seeds)}{several}. Accuracy = test accuracy of the "
        f"best-validation round; impact = no-attack accuracy − attacked accuracy, in percentage points.{quick}{scale} "
        f"{extra}"
    ).strip()


def largest_impacts(imp: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """For each group of ``by``: the largest mean impact (mean over seeds) over every attack × knowledge
    setting, with the attack (``worst_attack``) and knowledge setting (``worst_knowledge``, when ``imp``
    has a knowledge column) that cause it. Knowledge settings are never pooled: each (attack, knowledge)
    pair is one case, as in the paper's "largest impact over all attacks".

    Example:
        >>> import pandas as pd
        >>> from fedlib.report.tables import largest_impacts
        >>> imp = pd.DataFrame({"aggregator": ["krum"] * 2, "attack": ["lie"] * 2,
        ...                     "knowledge": ["full", "partial"], "seed": [0, 0], "impact": [7.0, 1.0]})
        >>> row = largest_impacts(imp, ["aggregator"]).iloc[0]
        >>> row.worst_knowledge, float(row.max_impact)
        ('full', 7.0)
    """
    cases = ["attack"] + (["knowledge"] if "knowledge" in imp.columns else [])
    means = imp.groupby(list(by) + cases, sort=False).impact.mean().dropna().reset_index()
    idx = means.groupby(list(by), sort=False).impact.idxmax()
    out = means.loc[idx].rename(
        columns={"impact": "max_impact", "attack": "worst_attack", "knowledge": "worst_knowledge"}
    )
    return out.reset_index(drop=True)


def most_robust(imp: pd.DataFrame) -> pd.Series | None:
    """The rule whose largest impact (:func:`largest_impacts` per aggregator) is smallest, as one row:
    ``aggregator``, ``worst_attack``, ``worst_knowledge``, ``max_impact``. The rule's name and its number
    come from this one row. None when ``imp`` holds no impact.

    Example:
        >>> import pandas as pd
        >>> from fedlib.report.tables import most_robust
        >>> imp = pd.DataFrame({"aggregator": ["krum", "krum", "median", "median"],
        ...                     "attack": ["lie", "lie", "fang", "fang"],
        ...                     "knowledge": ["full", "partial"] * 2, "seed": [0] * 4,
        ...                     "impact": [7.0, 1.0, 5.0, 5.0]})
        >>> best = most_robust(imp)
        >>> best.aggregator, float(best.max_impact)
        ('median', 5.0)
    """
    worst = largest_impacts(imp, ["aggregator"])
    if worst.empty:
        return None
    return worst.loc[worst.max_impact.idxmin()]


def impact_ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, or NaN when either is not finite or the denominator is <= 0 (a ratio
    to an attack that did no harm says nothing)."""
    if not (np.isfinite(numerator) and np.isfinite(denominator)) or denominator <= 0:
        return float("nan")
    return float(numerator / denominator)


def quick_note(profile: str) -> str | None:
    if profile == "quick":
        return (
            "Quick-profile output: computed on the embedded 5,000-image MNIST subset with a small "
            "fully-connected network; not comparable in size to the paper's numbers."
        )
    return None


# --------------------------------------------------------------------------- partly computed grids
#: What a table cell of a partly computed grid shows when none of its runs is there yet (never a number).
NOT_YET = "not yet computed"


def paired_impacts(runs: pd.DataFrame, by: Sequence[str], metric: str = METRIC) -> pd.DataFrame:
    """:func:`impacts` of the attacked runs whose no-attack run (same ``by`` keys and seed) is present;
    the others are left out (in a partly computed grid their baseline may not be computed yet).

    Example:
        >>> import pandas as pd
        >>> from fedlib.report.tables import paired_impacts
        >>> runs = pd.DataFrame({"aggregator": "median", "attack": ["none", "lie", "lie"], "seed": [0, 0, 1],
        ...                      "test_accuracy": [90.0, 85.0, 80.0]})
        >>> paired_impacts(runs, ["aggregator"])[["seed", "impact"]].values.tolist()
        [[0.0, 5.0]]
    """
    if runs.empty:  # no run yet: an empty frame with the columns a caller groups by
        return pd.DataFrame(columns=[*by, "attack", "seed", "impact"]).astype({"impact": "float64"})
    keys = list(by) + ["seed"]
    clean = runs[runs.attack == "none"][keys].drop_duplicates()
    has_baseline = runs.merge(clean, on=keys, how="left", indicator=True)["_merge"].eq("both").to_numpy()
    return impacts(runs[has_baseline], by, metric)


def _cell_text(values: pd.Series, n_seeds: int) -> str:
    """mean ± sd of one table cell; ``(n=k)`` when fewer seeds than the grid's ``n_seeds`` are in."""
    values = values.dropna()
    if values.empty:
        return NOT_YET
    return mean_sd(values) + (f" (n={len(values)})" if len(values) < n_seeds else "")


def progress_table(
    runs: pd.DataFrame,
    wanted: pd.DataFrame,
    *,
    by: Sequence[str],
    index: Sequence[str],
    column: str,
    n_seeds: int,
    clean_accuracy: bool = True,
) -> pd.DataFrame:
    """A table of a partly computed grid: one row per ``index`` value and one column per ``column`` value
    of the grid's attacked cells (``wanted``: the grid's labels, one row per cell and seed), each cell the
    mean ± std over the seeds whose attacked and no-attack runs are both in ``runs`` (with ``(n=k)`` when
    fewer than ``n_seeds``), or :data:`NOT_YET`. ``clean_accuracy`` adds the no-attack accuracy (needs
    ``index`` to hold no attack-only label). Rows and columns follow ``wanted``'s order.

    Example:
        >>> import pandas as pd
        >>> from fedlib.report.tables import progress_table
        >>> wanted = pd.DataFrame({"aggregator": "median", "attack": ["none", "lie", "fang"] * 2,
        ...                        "seed": [0, 0, 0, 1, 1, 1]})
        >>> runs = wanted.iloc[:2].assign(test_accuracy=[90.0, 85.0])
        >>> progress_table(runs, wanted, by=["aggregator"], index=["aggregator"], column="attack",
        ...                n_seeds=2).values.tolist()
        [['Median', '90.0 (n=1)', '5.0 (n=1)', 'not yet computed']]
    """
    index = list(index)
    imp = paired_impacts(runs, by)
    attacked = wanted[wanted.attack != "none"]
    rows = []
    for key, group in attacked.groupby(index, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        row: dict[str, object] = dict(zip(index, key, strict=True))
        mine = imp.loc[(imp[index] == pd.Series(row)).all(axis=1)] if len(imp) else imp
        if clean_accuracy:
            clean = runs[runs.attack == "none"] if len(runs) else runs
            match = clean.loc[(clean[index] == pd.Series(row)).all(axis=1), METRIC] if len(clean) else pd.Series()
            row["no-attack acc. (%)"] = _cell_text(match, n_seeds)
        for value in dict.fromkeys(group[column]):
            cell = mine.loc[mine[column] == value, "impact"] if len(mine) else pd.Series(dtype="float64")
            row[str(value)] = _cell_text(cell, n_seeds)
        rows.append(row)
    table = label(pd.DataFrame(rows))
    names = {"aggregator": "AGR", "attack": "attack", "percent": "% malicious"}
    table = table.rename(columns={**names, **{a: ATTACK_LABELS.get(a, a) for a in table.columns if a in ATTACK_LABELS}})
    return table.fillna(NOT_YET)


_OMITTED = ("dataset", "model", "n_malicious", "attack", "seed")


def case_name(labels: dict) -> str:
    """How a page names one case of a grid from its labels (dataset, model, attack and seed left out).

    Example:
        >>> from fedlib.report.tables import case_name
        >>> case_name({"aggregator": "median", "attack": "lie", "knowledge": "full", "percent": 10.0})
        'Median, full knowledge, 10 % malicious'
    """
    bits = []
    for key, value in labels.items():
        if key in _OMITTED or value == "-":
            continue
        if key == "aggregator":
            bits.append(AGR_LABELS.get(value, value))
        elif key == "knowledge":
            bits.append(f"{value} knowledge")
        elif key == "percent":
            bits.append(f"{value:g} % malicious")
        elif key == "perturbation":
            bits.append(f"{value} direction")
        elif key == "partition":
            bits.append("iid clients" if value == "iid" else f"non-iid ({value.capitalize()}) clients")
        else:
            bits.append(f"{key} {value}")
    return ", ".join(bits)


def describe_missing(missing: Iterable[dict]) -> list[str]:
    """What a partly computed grid lacks, in its own terms and compactly: one line per group of cells that
    share every label but the attack (and the seed), the attacks that miss the same seeds named together.
    ``missing`` holds each missing cell's labels plus its ``seed``.

    Example:
        >>> from fedlib.report.tables import describe_missing
        >>> describe_missing([{"aggregator": "krum", "attack": "none", "knowledge": "-", "seed": 1},
        ...                   {"aggregator": "krum", "attack": "lie", "knowledge": "full", "seed": 1},
        ...                   {"aggregator": "krum", "attack": "fang", "knowledge": "full", "seed": 1},
        ...                   {"aggregator": "krum", "attack": "fang", "knowledge": "full", "seed": 2}])
        ['Krum: no attack (seed 1)', 'Krum, full knowledge: LIE (seed 1); Fang (seeds 1, 2)']
    """
    from ..experiments import seeds_text

    groups: dict[str, dict[str, list[int]]] = {}
    for labels in missing:
        name = case_name(labels)
        attack = labels.get("attack", "none")
        groups.setdefault(name, {}).setdefault(attack, []).append(int(labels["seed"]))
    lines = []
    for name, attacks in groups.items():
        by_seeds: dict[tuple[int, ...], list[str]] = {}
        for attack, seeds in attacks.items():
            by_seeds.setdefault(tuple(sorted(set(seeds))), []).append(ATTACK_LABELS.get(attack, attack))
        parts = [f"{', '.join(names)} ({seeds_text(seeds)})" for seeds, names in by_seeds.items()]
        lines.append(f"{name}: {'; '.join(parts)}")
    return lines


# --------------------------------------------------------------------------- best round and last round
#: A run "collapses late" when its last-round test accuracy is this many points below its best-validation round's.
LATE_DROP_PP = 10.0


def late_collapses(runs: pd.DataFrame, threshold: float = LATE_DROP_PP) -> pd.DataFrame:
    """The attacked runs whose last-round test accuracy ends more than ``threshold`` pp below the test accuracy of
    their best-validation round (the paper's metric hides such a collapse), with their ``late_drop`` (pp).

    Example:
        >>> import pandas as pd
        >>> from fedlib.report.tables import late_collapses
        >>> runs = pd.DataFrame({"attack": ["none", "lie", "lie"], "test_accuracy": [90.0, 80.0, 85.0],
        ...                      "final_accuracy": [89.0, 60.0, 84.0]})
        >>> late_collapses(runs).late_drop.tolist()
        [20.0]
    """
    attacked = runs[runs.attack != "none"]
    drop = attacked[METRIC] - attacked["final_accuracy"]
    return attacked.assign(late_drop=drop)[drop > threshold]


def best_and_final(
    runs: pd.DataFrame, by: Sequence[str], cases: Sequence[str], threshold: float = LATE_DROP_PP
) -> pd.DataFrame:
    """Per attacked cell (``cases``, e.g. aggregator, attack, knowledge): the impact by the paper's metric, the
    impact at the last round (no-attack − attacked last-round accuracy, same seed), and how many of the cell's runs
    collapse late (:func:`late_collapses`), for the cells with at least one such run. ``by``: the columns an
    attacked run shares with its no-attack run (:func:`paired_impacts`).

    Example:
        >>> import pandas as pd
        >>> from fedlib.report.tables import best_and_final
        >>> runs = pd.DataFrame({"aggregator": "median", "attack": ["none", "lie"], "seed": 0,
        ...                      "test_accuracy": [90.0, 80.0], "final_accuracy": [89.0, 60.0]})
        >>> best_and_final(runs, ["aggregator"], ["aggregator", "attack"]).iloc[0].tolist()
        ['median', 'lie', '10.0', '29.0', '1 of 1']
    """
    best = paired_impacts(runs, by)
    final = paired_impacts(runs, by, metric="final_accuracy")
    late = late_collapses(best.drop(columns=["impact", "no_attack"]), threshold)
    rows = []
    for key, cell in best.groupby(list(cases), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        mask = (late[list(cases)] == pd.Series(dict(zip(cases, key, strict=True)))).all(axis=1)
        if not mask.any():
            continue
        at_end = final.loc[(final[list(cases)] == pd.Series(dict(zip(cases, key, strict=True)))).all(axis=1), "impact"]
        rows.append({**dict(zip(cases, key, strict=True)), "impact (paper's metric)": mean_sd(cell.impact),
                     "impact at the last round": mean_sd(at_end), "runs that collapse late": f"{int(mask.sum())} of "
                     f"{len(cell)}"})  # fmt: skip
    columns = [*cases, "impact (paper's metric)", "impact at the last round", "runs that collapse late"]
    return pd.DataFrame(rows, columns=columns)


def most_harmful(imp: pd.DataFrame, cases: Sequence[str], choice: str) -> pd.DataFrame:
    """Per case (e.g. aggregator, attack), over the seeds that have a run of every value of ``choice`` (e.g. every
    perturbation): the value with the largest mean impact, in how many of those seeds it is also that seed's most
    harmful (``"k of n"``), and the spread of the means (largest − smallest, pp). A case without such a seed is
    left out.

    Example:
        >>> import pandas as pd
        >>> from fedlib.report.tables import most_harmful
        >>> imp = pd.DataFrame({"attack": "lie", "perturbation": ["std", "sign"] * 2 + ["std"], "seed": [0, 0, 1, 1, 2],
        ...                     "impact": [5.0, 3.0, 6.0, 7.0, 90.0]})
        >>> row = most_harmful(imp, ["attack"], "perturbation").iloc[0]
        >>> row["most harmful"], row["seeds where it is"], float(row["spread (pp)"])
        ('std', '1 of 2', 0.5)
    """
    rows = []
    for key, g in imp.groupby(list(cases), sort=False) if len(imp) else []:
        key = key if isinstance(key, tuple) else (key,)
        per_seed = g.pivot_table(index="seed", columns=choice, values="impact", sort=False).dropna()
        if per_seed.empty:
            continue
        means = per_seed.mean()
        best = means.idxmax()
        rows.append({**dict(zip(cases, key, strict=True)), "most harmful": best,
                     "seeds where it is": f"{int((per_seed.idxmax(axis=1) == best).sum())} of {len(per_seed)}",
                     "spread (pp)": float(means.max() - means.min())})  # fmt: skip
    return pd.DataFrame(rows, columns=[*cases, "most harmful", "seeds where it is", "spread (pp)"])
