"""Generate the ByzFL 0.0.11 golden vectors in this folder (never run by the test suite).

The tests (tests/aggregators/test_newer_rules.py, tests/attacks/test_newer_attacks.py) compare fedlib's rules and
attacks with these recorded outputs, so they need no ByzFL installed. To regenerate, in a separate environment:

    python3 -m venv /tmp/byzfl-venv && /tmp/byzfl-venv/bin/pip install byzfl==0.0.11
    /tmp/byzfl-venv/bin/python tests/data/byzfl/make_golden.py

Inputs are seeded numpy float64 matrices (ByzFL keeps numpy float64 input in float64), a few rows of
them pushed far out like Byzantine updates. Bucketing is the exception: ByzFL draws its permutation from
torch's global generator only on its torch path, which casts to float32; those inputs are float32 values
(stored exactly as float64) and the outputs float32 results.

Each file holds {"byzfl_version", "note", "cases": [{"id", "options", "input", "expected", ...}]}; the
options are ByzFL's constructor arguments, the tests translate them to fedlib's names.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import byzfl
import numpy as np
import torch

HERE = Path(__file__).resolve().parent


def rows(seed: int, n: int, d: int, n_out: int = 0, scale: float = 1.0) -> np.ndarray:
    """Gaussian rows around a common offset; the first ``n_out`` rows far out (Byzantine-like)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * scale + rng.normal(size=d)
    x[:n_out] = rng.normal(size=(n_out, d)) * 20.0 * scale + 15.0 * scale
    return x


def dump(name: str, note: str, cases: list) -> None:
    payload = {"byzfl_version": metadata.version("byzfl"),
               "generated_by": "tests/data/byzfl/make_golden.py", "note": note, "cases": cases}
    (HERE / f"{name}.json").write_text(json.dumps(payload) + "\n")  # floats as repr: exact float64 round trip


def as_list(a) -> list:
    return np.asarray(a, dtype=np.float64).tolist()


def centered_clipping() -> None:
    cases = []
    settings = [(0, 8, 4, 1, 100.0, 1), (1, 12, 6, 2, 2.0, 1), (2, 15, 10, 3, 0.5, 3), (3, 20, 20, 4, 5.0, 5),
                (4, 30, 50, 6, 10.0, 2), (5, 6, 3, 0, 0.1, 10)]
    for seed, n, d, n_out, tau, iters in settings:
        first, second = rows(seed, n, d, n_out), rows(seed + 100, n, d, n_out)
        rule = byzfl.CenteredClipping(tau=tau, L=iters)  # fresh instance: center 0
        out1 = rule(first)
        out2 = rule(second)  # ByzFL's instance keeps out1 as the next center
        cases.append({"id": f"cc_s{seed}_n{n}_d{d}_tau{tau}_L{iters}", "options": {"tau": tau, "L": iters},
                      "input": as_list(first), "expected": as_list(out1),
                      "second_input": as_list(second), "second_expected": as_list(out2)})
    dump("centered_clipping", "CenteredClipping(tau, L): first call starts at 0, the second at the first output.",
         cases)


def geometric_median() -> None:
    cases = []
    settings = [(0, 7, 3, 1, 0.1, 3), (1, 10, 5, 2, 0.1, 1), (2, 15, 8, 3, 1e-3, 10), (3, 20, 20, 5, 1e-6, 50),
                (4, 30, 50, 8, 0.1, 3), (5, 9, 4, 0, 1e-6, 200)]
    for seed, n, d, n_out, nu, iters in settings:
        x = rows(seed, n, d, n_out)
        cases.append({"id": f"gm_s{seed}_n{n}_d{d}_nu{nu}_T{iters}", "options": {"nu": nu, "T": iters},
                      "input": as_list(x), "expected": as_list(byzfl.GeometricMedian(nu=nu, T=iters)(x))})
    dump("geometric_median", "GeometricMedian(nu, T): smoothed Weiszfeld from 0, exactly T steps.", cases)


def nnm() -> None:
    cases = []
    for seed, n, d, f in [(0, 5, 2, 1), (1, 10, 5, 0), (2, 12, 6, 3), (3, 20, 10, 7), (4, 30, 50, 9), (5, 8, 3, 7)]:
        x = rows(seed, n, d, f)
        cases.append({"id": f"nnm_s{seed}_n{n}_d{d}_f{f}", "options": {"f": f},
                      "input": as_list(x), "expected": as_list(byzfl.NNM(f=f)(x))})
    dump("nnm", "NNM(f): every row replaced by the mean of its n - f nearest rows (itself included).", cases)


def bucketing() -> None:
    cases = []
    for seed, n, d, s in [(0, 7, 3, 2), (1, 10, 4, 3), (2, 12, 5, 4), (3, 20, 8, 1), (4, 25, 10, 5), (5, 9, 2, 9)]:
        x = torch.tensor(rows(seed, n, d, 2), dtype=torch.float32)
        torch.manual_seed(seed)  # ByzFL draws torch.randperm(n) from the global generator
        out = byzfl.Bucketing(s=s)(x)
        cases.append({"id": f"bucket_s{seed}_n{n}_d{d}_s{s}", "options": {"s": s}, "seed": seed,
                      "input": as_list(x.double()), "expected": as_list(out.double())})
    dump("bucketing", "Bucketing(s) on float32 torch input after torch.manual_seed(seed): the same permutation as "
         "torch.randperm(n, generator=torch.Generator().manual_seed(seed)).", cases)


def attacks() -> None:
    ipm_cases, mimic_cases = [], []
    for seed, n, d, tau in [(0, 5, 3, 2.0), (1, 10, 8, 0.1), (2, 20, 20, 5.0), (3, 30, 50, 1.0)]:
        x = rows(seed, n, d)
        ipm_cases.append({"id": f"ipm_s{seed}_n{n}_d{d}_tau{tau}", "options": {"tau": tau}, "input": as_list(x),
                          "expected": as_list(byzfl.InnerProductManipulation(tau=tau)(x))})
    for seed, n, d, eps in [(0, 5, 3, 0), (1, 10, 8, 9), (2, 20, 20, 7)]:
        x = rows(seed, n, d)
        mimic_cases.append({"id": f"mimic_s{seed}_n{n}_d{d}_eps{eps}", "options": {"epsilon": eps},
                            "input": as_list(x), "expected": as_list(byzfl.Mimic(epsilon=eps)(x))})
    dump("ipm", "InnerProductManipulation(tau): -tau times the mean of the honest rows.", ipm_cases)
    dump("mimic", "Mimic(epsilon): a copy of honest row epsilon.", mimic_cases)


if __name__ == "__main__":
    centered_clipping()
    geometric_median()
    nnm()
    bucketing()
    attacks()
