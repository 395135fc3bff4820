"""The book's seaborn figures (thin wrappers; every figure gets a title, labelled axes with units and a legend)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from .labels import AGR_LABELS, ATTACK_LABELS, DATASET_LABELS


def malicious_fraction_figure(imp: pd.DataFrame, *, profile: str, seeds: Sequence[int], attacks: Sequence[str]):
    """Impact against the percentage of malicious clients: one panel per (dataset, rule), stacked so that each panel
    spans the page's width, all on one y-range; one line per attack (mean over seeds), a band of ± one standard
    deviation where a point has several seeds, and one legend for the figure.

    ``imp`` holds per-seed impacts with columns dataset, aggregator, attack, percent, seed, impact.
    Returns the matplotlib Figure.
    """
    data = imp.copy()
    data["attack"] = data["attack"].map(lambda a: ATTACK_LABELS.get(a, a))
    several = data.dataset.nunique() > 1
    data["panel"] = [
        f"{DATASET_LABELS.get(d, d)}, {AGR_LABELS.get(a, a)}" if several else AGR_LABELS.get(a, a)
        for d, a in zip(data.dataset, data.aggregator, strict=True)
    ]
    panels = list(dict.fromkeys(data.panel))
    hue_order = [ATTACK_LABELS[a] for a in attacks if ATTACK_LABELS[a] in set(data.attack)]
    with plt.rc_context({"font.size": 12, "axes.titlesize": 13, "axes.labelsize": 12, "legend.fontsize": 11}):
        fig, axes = plt.subplots(len(panels), 1, figsize=(8.0, 2.9 * len(panels) + 1.2), squeeze=False,
                                 sharex=True, sharey=True, layout="constrained")  # fmt: skip
        for ax, panel in zip(axes[:, 0], panels, strict=True):
            sns.lineplot(data=data[data.panel == panel], x="percent", y="impact", hue="attack", hue_order=hue_order,
                         style="attack", style_order=hue_order, markers=True, dashes=False, markersize=8,
                         errorbar=("sd", 1) if len(seeds) > 1 else None, ax=ax, legend=ax is axes[0, 0])  # fmt: skip
            ax.axhline(0, color="grey", lw=0.8)
            ax.set_title(panel)
            ax.set_xlabel("malicious clients (% of all clients)")
            ax.set_ylabel("impact (pp)")
            ax.set_xticks(sorted(data.percent.unique()))
        handles, names = axes[0, 0].get_legend_handles_labels()
        axes[0, 0].get_legend().remove()
        band = "band: ± 1 std over seeds" if len(seeds) > 1 else "one seed: no band"
        fig.legend(handles, names, loc="outside upper center", ncols=min(len(names), 5),
                   title=f"attack ({profile} profile; {band})")  # fmt: skip
    return fig


def impact_heatmaps(panels: dict[str, pd.DataFrame], *, title: str, label: str = "impact (pp)"):
    """Grids of impacts (rows: rules, columns: attacks) side by side on **one** colour scale with one colour bar;
    a missing cell (NaN: a run that does not exist) is hatched and labelled "n/a". Returns the Figure.

    Example:
        >>> import matplotlib.pyplot as plt
        >>> import pandas as pd
        >>> from fedlib.report.figures import impact_heatmaps
        >>> grid = pd.DataFrame({"LIE": [1.0, float("nan")]}, index=["Krum", "Median"])
        >>> fig = impact_heatmaps({"full": grid, "partial": grid * 2}, title="t")
        >>> [t.get_text() for t in fig.axes[0].texts]
        ['1.0', 'n/a']
        >>> plt.close(fig)
    """
    import numpy as np
    from matplotlib.patches import Rectangle

    values = np.concatenate([g.to_numpy(dtype=float).ravel() for g in panels.values()])
    vmin, vmax = min(0.0, float(np.nanmin(values))), float(np.nanmax(values))
    first = next(iter(panels.values()))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.6 * len(panels) + 1.2, 0.6 * len(first) + 2.2),
                             sharey=True, squeeze=False, layout="constrained")  # fmt: skip
    for ax, (name, grid) in zip(axes[0], panels.items(), strict=True):
        sns.heatmap(grid.astype(float), annot=True, fmt=".1f", cmap="rocket_r", vmin=vmin, vmax=vmax, cbar=False,
                    ax=ax, annot_kws={"fontsize": 11})  # fmt: skip
        for i, j in zip(*np.where(grid.isna().to_numpy()), strict=True):
            ax.add_patch(Rectangle((j, i), 1, 1, fill=False, hatch="//", edgecolor="#bbbbbb", lw=0))
            ax.text(j + 0.5, i + 0.5, "n/a", ha="center", va="center", fontsize=11, color="#555555")
        ax.set_title(name)
        ax.set_xlabel("attack")
        ax.set_ylabel("aggregation rule" if ax is axes[0, 0] else "")
        ax.tick_params(axis="y", rotation=0)
    fig.colorbar(axes[0, 0].collections[0], ax=list(axes[0]), label=label, shrink=0.9)
    fig.suptitle(title)
    return fig


#: What a report-card figure can show, the column of :func:`fedlib.evaluate`'s table and its axis label.
CARD_VALUES = {
    "impact": "FL impact (accuracy drop, percentage points)",
    "relative_deviation": "deviation ‖AGR − μ‖ / ‖μ‖ on captured benign gradients",
    "deviation": "deviation ‖AGR − μ‖ on captured benign gradients",
    "accuracy": "test accuracy (%)",
}


def _card_value(value: str) -> str:
    if value not in CARD_VALUES:
        raise ValueError(f"value: expected one of {list(CARD_VALUES)}; found {value!r}")
    return CARD_VALUES[value]


def report_card(card: pd.DataFrame, ax=None, *, value: str = "impact"):
    """One rule's report card (a :func:`fedlib.evaluate` table) as horizontal bars, one per attack, with
    ± one standard deviation over seeds for the impact and accuracy; attacks that did not run are labelled
    with "not run" instead of a bar. Returns the matplotlib Axes."""
    label = _card_value(value)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 0.45 * len(card) + 1.2))
    rows = card if value in ("deviation", "relative_deviation", "accuracy") else card[card.attack != "none"]
    names = [ATTACK_LABELS.get(a, a) for a in rows.attack]
    values = rows[value].astype(float)
    sd_column = {"impact": "impact_sd", "accuracy": "accuracy_sd"}.get(value)
    errors = rows[sd_column].astype(float).fillna(0.0) if sd_column and int(card.seeds.max()) > 1 else None
    positions = range(len(rows))
    ax.barh(list(positions), values.fillna(0.0), xerr=errors, color="tab:red" if value == "impact" else "tab:blue")
    for y, (v, reason) in enumerate(zip(values, rows.reason, strict=True)):
        if pd.isna(v):
            ax.text(0, y, " not run" if reason else " –", va="center", fontsize=8, color="grey")
    ax.set_yticks(list(positions), names)
    ax.invert_yaxis()
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_xlabel(label)
    ax.set_ylabel("attack")
    rule = AGR_LABELS.get(card.rule.iloc[0], card.rule.iloc[0])
    ax.set_title(f"{rule}: {card.profile.iloc[0]} profile, {card.rounds.iloc[0]} rounds, {_seeds(card.seeds.iloc[0])}")
    return ax


def report_cards(cards: Sequence[pd.DataFrame] | pd.DataFrame, ax=None, *, value: str = "impact"):
    """Several rules' report cards side by side: a heatmap of ``value`` with one row per rule and one column
    per attack, each cell annotated (blank: the attack did not run against that rule). Returns the Axes."""
    label = _card_value(value)
    frame = pd.concat(list(cards), ignore_index=True) if not isinstance(cards, pd.DataFrame) else cards
    if value == "impact":
        frame = frame[frame.attack != "none"]
    table = frame.pivot_table(index="rule", columns="attack", values=value, aggfunc="first", sort=False, dropna=False)
    table = table.reindex(index=list(dict.fromkeys(frame.rule)), columns=list(dict.fromkeys(frame.attack)))
    table.index = [AGR_LABELS.get(r, r) for r in table.index]
    table.columns = [ATTACK_LABELS.get(a, a) for a in table.columns]
    if ax is None:
        _, ax = plt.subplots(figsize=(1.1 * table.shape[1] + 3.0, 0.5 * table.shape[0] + 1.5))
    fmt = ".2f" if "deviation" in value else ".1f"
    norm = _outlier_norm(table.to_numpy(dtype=float)) if "deviation" in value else None
    colour = f"{label} (log colour scale)" if norm is not None else label
    sns.heatmap(table.astype(float), annot=True, fmt=fmt, cmap="Reds", ax=ax, norm=norm, cbar_kws={"label": colour})
    ax.set_xlabel("attack")
    ax.set_ylabel("aggregation rule")
    first = frame.iloc[0]
    ax.set_title(f"{colour}\n({first.profile} profile, {first.rounds} rounds, {_seeds(first.seeds)})", fontsize=10)
    return ax


def _seeds(n) -> str:
    return f"{int(n)} seed" + ("" if int(n) == 1 else "s")


#: A deviation heat map switches to a log colour scale when its largest cell exceeds this many times its median:
#: on a linear scale one outlier would paint every other cell the same pale colour.
OUTLIER_SPAN = 20.0


def _outlier_norm(values):
    """A LogNorm over the positive cells when one cell dwarfs the rest (see :data:`OUTLIER_SPAN`), else None."""
    import numpy as np
    from matplotlib.colors import LogNorm

    positive = values[np.isfinite(values) & (values > 0)]
    if positive.size < 2 or positive.max() <= OUTLIER_SPAN * np.median(positive):
        return None
    return LogNorm(vmin=float(positive.min()), vmax=float(positive.max()))
