"""The Performance chapter's tables, read from a benchmark JSON (``benchmarks/run.py`` writes it).

Each function turns one part of the JSON into the table a page shows: readable names and units, and no
missing value printed as NaN or None. A cell without a number is "–", and :func:`missing_note` says why
(a reference without that rule, a search that does not exist for that attack, a cell the harness skipped).

Example:
    >>> from fedbook.benchmarks import targets_table
    >>> bench = {"targets": [{"target": "at least 3x faster than ByzFL", "rule": "krum", "d": 2472266,
    ...                       "value": 4.2, "op": ">=", "threshold": 3.0, "met": True}]}
    >>> targets_table(bench).values.tolist()
    [['at least 3× faster than ByzFL', 'Krum, d = 2,472,266', '4.2×', '≥ 3×', 'yes']]
"""

from __future__ import annotations

import pandas as pd

from fedlib.report.labels import AGR_LABELS, ATTACK_LABELS

IMPLEMENTATIONS = {"fedlib_s": "fedlib (s)", "byzfl_s": "ByzFL (s)", "naive_s": "naive loop (s)"}
CASES = {"cifar10_alexnet": "CIFAR10, Alexnet", "femnist_cnn": "FEMNIST, CNN", "mnist_fc": "MNIST, FC",
         "purchase100_fc": "Purchase100, FC"}
RULE_LABELS = {**AGR_LABELS, "fang": "Fang's defense"}  # the benchmark names Fang's defense "fang"
OPS = {">=": "≥", "<=": "≤"}


def _rule(name: object) -> str:
    return RULE_LABELS.get(str(name), str(name)) if pd.notna(name) else "–"


def _size(device: str, d: int) -> str:
    return f"{device}, d = {int(d):,}"


def machine_table(bench: dict) -> pd.DataFrame:
    """Where and how the benchmark ran: one row per fact, with the whole CPU name and the load averages."""
    machine = bench["machine"]
    load = "; ".join(", ".join(f"{v:.2f}" for v in values) for values in (machine["loadavg_start"],
                                                                          bench.get("loadavg_end") or []) if values)
    facts = {
        "run": f"{bench['name']} ({bench['mode']}), started {bench['started_at']}",
        "command": bench["command"],
        "CPU": f"{machine['cpu_model']}, {machine['cpu_count']} logical CPUs, {machine['torch_threads']} torch threads",
        "GPU": machine["cuda_device"] or "none",
        "versions": f"torch {machine['torch']}, ByzFL {machine['byzfl']}, fedlib {machine['fedlib']}",
        "load average (1, 5, 15 min) at start; at end": load,
        "wall time of the whole benchmark": (f"{bench['wall_s'] / 60:.1f} min" if bench.get("complete")
                                             else "incomplete run: only the parts below were measured"),
    }
    return pd.DataFrame({"": list(facts), "value": list(facts.values())})


def agr_table(bench: dict) -> pd.DataFrame:
    """Median seconds per call of every rule, per size, for fedlib and each reference ("–" where none)."""
    agr = pd.DataFrame(bench.get("agr_summary", []))
    if "error" in agr:
        agr = agr[agr["error"].isna()]
    table = pd.DataFrame({"size": [_size(r.device, r.d) for r in agr.itertuples()], "rule": agr["rule"].map(_rule)})
    for column, name in IMPLEMENTATIONS.items():
        table[name] = agr.get(column)
    return table.reset_index(drop=True)


def floors_table(bench: dict) -> pd.DataFrame:
    """The hardware floor per size: one read of the matrix (its column sum) and one GEMM X Xᵀ, in seconds."""
    agr = pd.DataFrame(bench.get("agr_summary", []))
    floors = agr.groupby(["device", "d"], sort=False)[["floor_s", "gemm_s"]].first().reset_index()
    return pd.DataFrame({"size": [_size(r.device, r.d) for r in floors.itertuples()],
                         "one read (s)": floors["floor_s"], "one GEMM (s)": floors["gemm_s"]})


def missing_note(table: pd.DataFrame, columns: dict[str, str], key: str = "rule") -> str:
    """For each column of ``table`` named in ``columns`` (column -> what its "–" means), the values of ``key``
    whose cell is empty: "ByzFL (s): no Bulyan, AFA, Fang's defense or DnC in that library"."""
    parts = []
    for column, meaning in columns.items():
        missing = list(dict.fromkeys(table.loc[table[column].isna(), key]))
        if missing:
            names = ", ".join(missing[:-1]) + (" or " if len(missing) > 1 else "") + missing[-1]
            parts.append(f"{column}: {meaning.format(names=names)}")
    return "; ".join(parts)


def memory_table(bench: dict) -> pd.DataFrame:
    """Peak extra resident memory of one call above its input (GiB, and as a multiple of the input)."""
    memory = pd.DataFrame(bench.get("memory", []))
    if memory.empty:
        return memory
    return pd.DataFrame({
        "implementation": memory["impl"].map({"fedlib": "fedlib", "byzfl": "ByzFL"}).fillna(memory["impl"]),
        "rule": memory["rule"].map(_rule),
        "input (GiB)": memory["input_bytes"] / 2**30,
        "extra (GiB)": memory["peak_extra_bytes"] / 2**30,
        "extra / input": memory["extra_over_input"],
    })


def attack_table(bench: dict) -> pd.DataFrame:
    """Seconds per call of each attack with the halving search and the exact one, their ratio and the γ
    each finds ("–" where the attack has no such search, or no γ)."""
    attacks = pd.DataFrame(bench.get("attack_summary", []))
    if attacks.empty:
        return attacks
    return pd.DataFrame({
        "attack": attacks["attack"].map(lambda a: ATTACK_LABELS.get(a, a)),
        "server rule": attacks["aggregator"].map(_rule),
        "halving (s)": attacks["halving_s"],
        "exact (s)": attacks["exact_s"],
        "halving / exact": attacks.get("halving_over_exact"),
        "γ, halving": attacks["gamma_halving"],
        "γ, exact": attacks["gamma_exact"],
    })


def _names(items: list[str]) -> str:
    return ", ".join(items[:-1]) + (" and " if len(items) > 1 else "") + items[-1]


def attack_missing_note(table: pd.DataFrame) -> str:
    """Why cells of :func:`attack_table` are "–", attack by attack (an attack missing a value on every rule it
    was run against is named alone)."""
    parts = ["*server rule*: " + _names(list(table.loc[table["server rule"] == "–", "attack"]))
             + " craft the same update whatever the server's rule"]
    for column, meaning in (("exact (s)", "no exact search for"), ("γ, halving", "no γ to search for")):
        groups = []
        for attack, rows in table.groupby("attack", sort=False):
            missing = rows.loc[rows[column].isna(), "server rule"]
            if len(missing) == len(rows):
                groups.append(attack)
            elif len(missing):
                groups.append(f"{attack} on {_names(list(missing))}")
        if groups:
            parts.append(f"*{column}*: {meaning} {'; '.join(groups)}")
    return "; ".join(parts) + "; *halving / exact* and *γ, exact*: only where both searches exist."


def fedsgd_table(bench: dict) -> pd.DataFrame:
    """One FedSGD round per model: per-client gradients by a loop and by ``torch.func.vmap``."""
    fedsgd = pd.DataFrame(bench.get("fedsgd_summary", []))
    if fedsgd.empty:
        return fedsgd
    return pd.DataFrame({
        "model": [f"{CASES.get(r.case, r.case)}, d = {r.d:,}, {r.clients} clients × {r.batch} examples"
                  for r in fedsgd.itertuples()],
        "loop (s)": fedsgd["loop_s"], "vmap (s)": fedsgd["vmap_s"], "loop / vmap": fedsgd["loop_over_vmap"],
        "same gradients": fedsgd["vmap_agrees"].map({True: "yes", False: "no"}),
        "auto runs": fedsgd["auto_picks"],
    })


def auto_choice_text(bench: dict) -> str:
    """Whether ``method="auto"`` ran the faster method in each FedSGD measurement, and by how much it did not
    where it did not, from the benchmark file.

    Example:
        >>> from fedbook.benchmarks import auto_choice_text
        >>> print(auto_choice_text({"fedsgd_summary": [{"case": "purchase100_fc", "d": 1, "clients": 80,
        ...     "batch": 500, "loop_s": 0.754, "vmap_s": 0.823, "auto_picks": "vmap"}]}))
        That is the faster of the two in these measurements except for Purchase100, FC at batch 500, where vmap
        takes 9 % longer than the loop.
    """
    rows = bench.get("fedsgd_summary", [])
    if not rows:
        return ""
    slower = []
    for r in rows:
        chosen, other = (r["vmap_s"], r["loop_s"]) if r["auto_picks"] == "vmap" else (r["loop_s"], r["vmap_s"])
        if chosen > other:
            name = "vmap" if r["auto_picks"] == "vmap" else "the loop"
            rest = "the loop" if r["auto_picks"] == "vmap" else "vmap"
            slower.append(f"{CASES.get(r['case'], r['case'])} at batch {r['batch']}, where {name} takes "
                          f"{100 * (chosen / other - 1):.0f} % longer than {rest}")
    if not slower:
        return f"That is the faster of the two in every one of these {len(rows)} measurements."
    return "That is the faster of the two in these measurements except for " + "; ".join(slower) + "."


def _case(target: dict) -> str:
    what = []
    if target.get("attack"):
        what.append(ATTACK_LABELS.get(target["attack"], target["attack"]))
    if target.get("aggregator"):
        what.append(f"on {_rule(target['aggregator'])}")
    if target.get("rule"):
        what.append(_rule(target["rule"]))
    if target.get("case"):
        what.append(CASES.get(target["case"], target["case"]))
    size = f", d = {int(target['d']):,}" if target.get("d") else ""
    return " ".join(what) + size


def _target_text(target: str) -> str:
    for plain, symbol in (("3x", "3×"), ("10x", "10×"), ("2x", "2×"), ("X X^T", "X Xᵀ"), ("gamma", "γ")):
        target = target.replace(plain, symbol)
    return target


def targets_table(bench: dict) -> pd.DataFrame:
    """fedlib's performance targets as the benchmark JSON states them, one row each, grouped by target (named
    on its group's first row only, groups in order of first appearance): what was measured, the ratio found,
    the ratio required and whether it was met ("yes"/"no")."""
    targets = bench.get("targets", [])
    order = list(dict.fromkeys(t["target"] for t in targets))
    rows = []
    for t in sorted(targets, key=lambda t: order.index(t["target"])):  # stable: the JSON's order within a target
        first = not rows or rows[-1]["_target"] != t["target"]
        rows.append({"_target": t["target"], "target": _target_text(t["target"]) if first else "",
                     "case": _case(t), "measured": f"{t['value']:.2g}×",
                     "required": f"{OPS.get(t['op'], t['op'])} {t['threshold']:g}×",
                     "met": "yes" if t["met"] else "no"})
    columns = ["_target", "target", "case", "measured", "required", "met"]
    return pd.DataFrame(rows, columns=columns).drop(columns="_target")
