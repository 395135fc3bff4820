"""Building blocks shared by the rules (not rules themselves): argument checks and column-block reductions
(:mod:`.common`), pairwise distances (:mod:`.distances`), compiled order statistics (:mod:`.order`) and
leave-one-out aggregates for Fang's defense (:mod:`.leave_one_out`).

Private to :mod:`fedlib.aggregators`: other packages import the public names it re-exports.
"""
