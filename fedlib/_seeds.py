"""The one formula that derives a random stream's seed from a run's seed.

Example:
    >>> from fedlib._seeds import derived_seed
    >>> derived_seed(0, 17), derived_seed(2, 5)
    (17, 2000011)
"""

from __future__ import annotations

#: The stride between the streams of consecutive seeds: ``seed * SEED_STRIDE + stream``. A prime far above any
#: round count, so that stream t of seed s never meets a stream of seed s + 1.
SEED_STRIDE = 1_000_003


def derived_seed(seed: int, stream: int) -> int:
    """The seed of stream ``stream`` of a run seeded ``seed``: ``seed * SEED_STRIDE + stream``.

    Streams in use: the FedSGD server's own draws (stream 17 of the sample seed, :class:`fedlib.fl.Seeds`); round
    t of a Flower run (stream t of the strategy's or the attack simulation's seed).
    """
    return seed * SEED_STRIDE + stream
