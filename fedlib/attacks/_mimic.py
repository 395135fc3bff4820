"""Mimic (Karimireddy, He & Jaggi, ICLR 2022): every malicious client copies one honest client's update.

Under heterogeneous data, over-representing one honest client biases the aggregate towards that
client's data without ever sending an outlier. Karimireddy et al.'s released attack picks the client to
copy by a heuristic (the direction of largest variance over the first rounds, a stateful estimate);
this module implements the simple variant that ByzFL 0.0.11's ``Mimic(epsilon)`` implements: copy the
known benign row ``target`` (stateless; the caller chooses the client, e.g. the same one every round).
"""

from __future__ import annotations

import torch

from .._checks import check_int
from ._base import Crafted, register
from ._utils.common import repeat_rows


@register("mimic", options=("target",))
def mimic(benign: torch.Tensor, n_malicious: int, *, target: int = 0) -> Crafted:
    """Mimic: ``n_malicious`` copies of the known benign row ``target`` (0 <= target < k, default 0).

    ``target`` is ByzFL's ``epsilon``. With ``knowledge="partial"`` the known rows are the malicious
    clients' own honest updates, so the copy is one of theirs. It takes none of craft's shared settings.
    ``info``: ``target``.

    Example:
        >>> import torch
        >>> from fedlib.attacks import craft
        >>> x = torch.tensor([[1.0, 2.0], [3.0, 6.0]])
        >>> craft("mimic", x, 2, target=1).updates
        tensor([[3., 6.],
                [3., 6.]])
    """
    target = check_int(target, "mimic target (row of benign to copy)", minimum=0, maximum=benign.shape[0] - 1)
    return Crafted(repeat_rows(benign[target], n_malicious), None, {"target": target})
