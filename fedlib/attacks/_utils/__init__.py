"""Helpers of the attacks that are not attacks themselves: the probe models behind the γ searches."""
