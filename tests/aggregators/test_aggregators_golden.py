"""Parity with the authors' released AGR functions (golden vectors in tests/data/golden/ndss21, see its README).

``variant="ndss21"`` must reproduce every case: selected indices exactly modulo ``row_group`` (identical
rows are interchangeable), vectors to float32 tolerance (rtol 1e-5, atol 1e-6, NaN == NaN). The files are
float32 and are run in float32, the dtype that produced them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import fedlib.aggregators as agg

FAMILIES = {
    "agr_krum": "krum",
    "agr_mkrum": "multi_krum",
    "agr_bulyan": "bulyan",
    "agr_trmean": "trimmed_mean",
    "agr_median": "median",
}


GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden" / "ndss21"


def _cases():
    for family, rule in FAMILIES.items():
        meta = json.loads((GOLDEN / f"{family}.json").read_text())
        for case in meta["cases"]:
            yield pytest.param(family, rule, case["case_id"], id=f"{family}-{case['case_id']}")


@pytest.mark.parametrize("family, rule, case_id", list(_cases()))
def test_ndss21_parity(family, rule, case_id, golden_dir, device):
    arrays = np.load(golden_dir / f"{family}.npz")
    updates = torch.from_numpy(arrays[f"{case_id}__G"]).to(device)
    assert updates.dtype == torch.float32
    f = int(arrays[f"{case_id}__f"]) if f"{case_id}__f" in arrays else 0
    result = agg.aggregate(rule, updates, f, variant="ndss21")
    np.testing.assert_allclose(result.vector.cpu().numpy(), arrays[f"{case_id}__out"], rtol=1e-5, atol=1e-6,
                               equal_nan=True)
    if f"{case_id}__idx" in arrays:
        groups = arrays[f"{case_id}__row_group"]
        expected = groups[arrays[f"{case_id}__idx"]].tolist()
        assert groups[result.selected.cpu().numpy()].tolist() == expected


def test_textbook_differs_from_ndss21_somewhere(golden_dir):
    """The two Krum variants are not accidentally the same rule: some golden case separates them."""
    arrays = np.load(golden_dir / "agr_mkrum.npz")
    ids = sorted({key.split("__")[0] for key in arrays.files})
    differ = 0
    for case_id in ids:
        updates = torch.from_numpy(arrays[f"{case_id}__G"])
        f = int(arrays[f"{case_id}__f"])
        a = agg.multi_krum(updates, f, variant="ndss21").selected.tolist()
        b = agg.multi_krum(updates, f, variant="textbook").selected.tolist()
        differ += a != b
    assert differ > 0
