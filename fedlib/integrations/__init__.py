"""Bridges from fedlib to other federated-learning frameworks.

Each integration lives in its own subpackage and needs that framework installed (an optional dependency
group of the ``fedlib-ndss21`` distribution); ``import fedlib`` never imports them.

- :mod:`fedlib.integrations.flower`: every fedlib aggregation rule as a Flower strategy that no malformed
  reply stops, the paper's attacks in a Flower run, an in-process Flower grid, and a ready Flower App for
  Flower's simulation and deployment engines (``pip install 'fedlib-ndss21[flower]'``).
"""
