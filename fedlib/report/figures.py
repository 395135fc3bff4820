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
