"""Random streams: one root SeedSequence, one child stream per mechanism.

Each mechanism draws only from its own stream, so two scenarios that differ in a policy still
see the same arrivals (common random numbers). Children are addressed by a fixed index per
name, so adding a mechanism later does not shift the others.
"""

from __future__ import annotations

import numpy as np

MECHANISMS = (
    "population",  # the district at set-up: building sizes, organisers, work-team postings
    "arrivals",    # issues arising and their attributes, work content included
    "discovery",   # reporting, patrol, work-team finding, lapse
    "triage",      # who settles what at the grid
    "dispatch",    # platform intake, routing, flags, rulings
    "screening",   # units' screening and pass-back decisions
    "rating",      # resolution, verification, satisfaction
    "adaptation",  # reserved for behavioural adaptation
    "mesa",        # Mesa's own generators (unused by the model's mechanisms)
    "staff",       # turnover and training of grid leaders
    "grievance",   # petitions and collective incidents
    "surge",       # the extra issues of a demand surge
)


class Streams:
    """Named ``numpy.random.Generator``s spawned from one root ``SeedSequence``."""

    def __init__(self, seed: int):
        self.root = np.random.SeedSequence(seed)
        self._gens = {
            name: np.random.default_rng(
                np.random.SeedSequence(self.root.entropy, spawn_key=(i,)))
            for i, name in enumerate(MECHANISMS)
        }

    def __getitem__(self, name: str) -> np.random.Generator:
        return self._gens[name]
