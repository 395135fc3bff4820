"""Share of malicious rows among the rows Fang's defense removes, with statistically identical attackers and
tied scores (every leave-one-out score equal, as ERR under a tiny step), malicious rows first vs last.
n = 20 rows, m = 5 malicious (base rate 0.25), f = 5, rule = "lrr", base = "mean", 400 trials, d = 8.

Run: python benchmarks/fang_tie_share.py (on any commit: it detects whether fang takes a generator)."""

import inspect

import torch

import fedlib.aggregators as agg

n, m, f, trials = 20, 5, 5, 400


def tied(vector):
    return (1.0, 0.5)  # every row's LRR and ERR are 0: a full tie


takes_generator = "generator" in inspect.signature(agg.fang_defense).parameters
data_gen = torch.Generator().manual_seed(2024)
server = torch.Generator().manual_seed(7)
for label, generator in [("generator", server), ("no generator (fallback)", None)]:
    if generator is None and not takes_generator:
        continue
    for placement in ("first", "last"):
        hits = 0
        for _ in range(trials):
            x = torch.randn(n, 8, generator=data_gen, dtype=torch.float64)  # attackers ~ benign
            malicious = set(range(m)) if placement == "first" else set(range(n - m, n))
            extra = {"generator": generator} if takes_generator and generator is not None else {}
            removed = agg.fang_defense(x, f, score_fn=tied, base="mean", rule="lrr", **extra).info["removed"].tolist()
            hits += len(malicious & set(removed))
        print(
            f"{label if takes_generator else 'before (lowest-index ties)'}: malicious {placement}: "
            f"{hits}/{trials * f} removed rows malicious = {hits / (trials * f):.3f} (base rate {m / n:.3f})"
        )
