"""The book's seaborn figures (thin wrappers; every figure gets a title, labelled axes with units and a legend)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from .labels import AGR_LABELS, ATTACK_LABELS, DATASET_LABELS


def malicious_fraction_figure(imp: pd.DataFrame, *, profile: str, seeds: Sequence[int], attacks: Sequence[str]):
    """Impact against the percentage of malicious clients: one panel per (dataset, rule), one line per
    attack, a band of ± one standard deviation over seeds (none with a single seed).

    ``imp`` holds per-seed impacts with columns dataset, aggregator, attack, percent, seed, impact.
    Returns the matplotlib Figure.
    """
    data = imp.copy()
    data["attack"] = data["attack"].map(lambda a: ATTACK_LABELS.get(a, a))
    data["panel"] = [
        f"{DATASET_LABELS.get(d, d).split(' (')[0]}, {AGR_LABELS.get(a, a)}"
        for d, a in zip(data.dataset, data.aggregator, strict=True)
    ]
    panels = list(dict.fromkeys(data.panel))
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.5), squeeze=False)
    hue_order = [ATTACK_LABELS[a] for a in attacks]
    for ax, panel in zip(axes[0], panels, strict=True):
        sns.lineplot(
            data=data[data.panel == panel],
            x="percent",
            y="impact",
            hue="attack",
            hue_order=hue_order,
            style="attack",
            style_order=hue_order,
            markers=True,
            dashes=False,
            errorbar=("sd", 1) if len(seeds) > 1 else None,
            ax=ax,
        )
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_title(panel)
        ax.set_xlabel("malicious clients (% of the clients in a round)")
        ax.set_ylabel("attack impact (accuracy drop, percentage points)")
        ax.legend(title="attack", fontsize=8)
    band = "line: mean, band: ± 1 std over seeds" if len(seeds) > 1 else "one seed: no band"
    fig.suptitle(f"Impact against the share of malicious clients ({profile} profile, seeds {list(seeds)}; {band})")
    fig.tight_layout()
    return fig


#: What a report-card figure can show: the column of :func:`fedlib.evaluate`'s table and its axis label.
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
    seeds = int(card.seeds.iloc[0])
    ax.set_title(f"{rule}: {card.profile.iloc[0]} profile, {card.rounds.iloc[0]} rounds, {seeds} seed(s)")
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
    sns.heatmap(table.astype(float), annot=True, fmt=fmt, cmap="Reds", ax=ax, cbar_kws={"label": label})
    ax.set_xlabel("attack")
    ax.set_ylabel("aggregation rule")
    first = frame.iloc[0]
    ax.set_title(f"{label}\n({first.profile} profile, {first.rounds} rounds, {int(first.seeds)} seed(s))", fontsize=10)
    return ax
