"""Each client's fixed cyclic minibatches (as the released code draws them)."""

from __future__ import annotations

import torch

from .. import data as _data


class ClientBatches:
    """Fixed cyclic minibatches per client (the released code's): each client's samples are shuffled once (one
    permutation shared by all clients when they have equal sizes, as the released code), then client i uses minibatch
    ``t mod ⌊n_i/B⌋`` at round t. ``batch_size=None`` uses the whole local dataset (the released FEMNIST code).

    The permutations are drawn from ``generator`` (the CPU sample generator); the index tensors then move to
    the run's device.
    """

    def __init__(self, ds: _data.Dataset, batch_size: int | None, generator: torch.Generator, device, dtype):
        self.x = ds.train_x.to(device=device, dtype=dtype)
        self.y = ds.train_y.to(device=device)
        sizes = ds.client_sizes()
        self.equal = len(set(sizes)) == 1
        self.index: torch.Tensor | list[torch.Tensor]  # (N, S) when every client holds S samples, else per client
        if self.equal:
            shared = torch.randperm(sizes[0], generator=generator)
            self.index = torch.stack(list(ds.clients))[:, shared].to(device)  # (N, S)
        else:
            self.index = [c[torch.randperm(c.numel(), generator=generator)].to(device) for c in ds.clients]
        self.batch = [s if batch_size is None else min(batch_size, s) for s in sizes]
        self.n_batches = [max(1, s // b) for s, b in zip(sizes, self.batch, strict=True)]

    def get(self, ids: torch.Tensor, round_: int):
        """Stacked ``(X (k, B, ...), Y (k, B))`` when all chosen clients share one batch size and count, else a
        list of (x_i, y_i)."""
        ids_list = ids.tolist()
        if isinstance(self.index, torch.Tensor):  # self.equal: one (N, S) permutation table
            b, nb = self.batch[0], self.n_batches[0]
            pos = (round_ % nb) * b
            rows = self.index[ids.to(self.index.device), pos : pos + b]
            return self.x[rows], self.y[rows]
        out = []
        for i in ids_list:
            pos = (round_ % self.n_batches[i]) * self.batch[i]
            rows = self.index[i][pos : pos + self.batch[i]]
            out.append((self.x[rows], self.y[rows]))
        return out


def subset(batches, start: int, stop: int | None = None):
    """Clients ``start:stop`` of a round's batches (stacked pair or list)."""
    if isinstance(batches, tuple):
        return batches[0][start:stop], batches[1][start:stop]
    return batches[start:stop]


def count(batches) -> int:
    """Number of clients in a round's batches."""
    return batches[0].shape[0] if isinstance(batches, tuple) else len(batches)
