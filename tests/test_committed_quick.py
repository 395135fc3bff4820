"""The committed quick-profile results (results/quick, read by the book's notebooks instead of re-training
in every build) still come out of today's code: a sample of them is recomputed and compared.

Exact equality holds on the CPU that computed them (same config + seed ⇒ same result on one device); another
CPU's BLAS may round differently, and a few hundred SGD steps amplify that to a few tenths of a point, so the
comparison allows ``TOLERANCE_PP`` per evaluation. A change of the code that alters results (a step size, a
rule, an attack, the data split) moves them by far more and fails here: recompute the folder (see
results/README.md) in the same commit.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fedlib import aggregators
from fedlib.experiments import Experiment, load_result, run

QUICK = Path(__file__).resolve().parents[1] / "results" / "quick"
TOLERANCE_PP = 1.0
#: One cheap cell per mechanism the quick grids exercise: no attack, an agnostic attack on a distance rule,
#: a coordinate-wise rule with Fang's attack, the paper's tailored attack on Multi-krum.
SAMPLE = [("median", "none", None), ("multi_krum", "min_max", "full"), ("trimmed_mean", "fang", "full"),
          ("multi_krum", "tailored", "partial")]


def _committed():
    """Every committed quick result, except those of rules registered only by a book chapter (its student's
    ``clipped_mean``), which load once that chapter has registered them."""
    paths = sorted(QUICK.glob("*.json"))
    known = [p for p in paths if json.loads(p.read_text())["config"]["aggregator"] in aggregators.names()]
    assert len(paths) - len(known) <= 30, "most committed quick results must be of the library's own rules"
    return [load_result(p) for p in known]


def _pick(results, aggregator, attack, knowledge):
    for r in results:
        c = r.config
        if (c["aggregator"], c["attack"]) == (aggregator, attack) and knowledge in (None, c["knowledge"]) \
                and c["rounds"] == 100 and c["n_malicious"] == 4 and c["clients_per_round"] is None:
            return r
    pytest.fail(f"no committed quick result for {aggregator} / {attack} / {knowledge} (100 rounds, 4 malicious)")


def test_the_committed_quick_results_load_and_are_quick_runs():
    results = _committed()
    assert len(results) >= 100
    assert {r.config["profile"] for r in results} == {"quick"}
    assert {r.config["dataset"] for r in results} == {"mnist5k"}


@pytest.mark.parametrize("aggregator, attack, knowledge", SAMPLE, ids=["-".join(filter(None, s)) for s in SAMPLE])
def test_a_committed_quick_result_is_what_the_code_computes_today(tmp_path, aggregator, attack, knowledge):
    committed = _pick(_committed(), aggregator, attack, knowledge)
    fresh = run(Experiment.from_dict(committed.config), tmp_path)
    old = {e["round"]: e["val_acc"] for e in committed.history["evals"]}
    new = {e["round"]: e["val_acc"] for e in fresh.history["evals"]}
    assert old.keys() == new.keys()
    worst = max(abs(old[k] - new[k]) for k in old)
    assert worst <= TOLERANCE_PP, (f"{committed.config_hash[:12]}: validation accuracy differs by up to {worst:.2f} pp "
                                   f"from the committed result; recompute results/quick")
