"""Bridges from fedlib to other federated-learning frameworks.

Each integration lives in its own subpackage and needs that framework installed (an optional dependency
group of the ``fedlib-ndss21`` distribution); ``import fedlib`` never imports them.

- :mod:`fedlib.integrations.flower`: every fedlib aggregation rule as a Flower strategy, the paper's
  attacks in a Flower simulation, and an in-process Flower grid (``pip install 'fedlib-ndss21[flower]'``).
"""
