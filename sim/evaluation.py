"""Evaluation designs (考核) and the one rule by which units adapt to them.

A design is data (``[evaluation]`` in a scenario): weights over score components and a rule for
using the score. Every period each unit (department or township office) gets its components
from what it did, a score, and a utility: the score as the rule uses it, less the cost of effort
and of work. Units then adapt by one rule whatever the design: keep moving their behaviour in
the direction of the last move if utility did not fall, otherwise step back and try another
direction (hill climbing). The behaviour is three numbers per unit: effort (speed of work),
readiness to pass issues back, and the share of closures that are superficial (closed but not
resolved). Nothing here is specific to one design.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sim.model import GridModel

COMPONENTS = ("closure", "on_time", "rejections", "grid_rating", "satisfaction")
# behaviour: effort, readiness to pass back, superficial share; and their bounds
LOW = np.array([0.5, 0.0, 0.0])
HIGH = np.array([1.5, 3.0, 0.8])


class Ledger:
    """What each unit did this period."""

    FIELDS = ("received", "passed_back", "closed", "on_time", "sat_sum", "sat_n")

    def __init__(self, n: int):
        self.n = n
        self.reset()

    def reset(self) -> None:
        for f in self.FIELDS:
            setattr(self, f, np.zeros(self.n))

    def add(self, field: str, units: np.ndarray, weights: np.ndarray | None = None) -> None:
        getattr(self, field)[:] += np.bincount(units, weights=weights, minlength=self.n)

    def components(self) -> dict[str, np.ndarray]:
        """Each unit's score components for the period (0 when it saw nothing)."""
        rec = np.maximum(self.received, 1)
        closed = np.maximum(self.closed, 1)
        rejections = self.passed_back / rec
        on_time = np.where(self.closed > 0, self.on_time / closed, 0.0)
        return {
            "closure": np.minimum(self.closed / rec, 1.0),
            "on_time": on_time,
            "rejections": rejections,
            "grid_rating": (1.0 - rejections) * on_time,
            "satisfaction": np.where(self.sat_n > 0, self.sat_sum / np.maximum(self.sat_n, 1),
                                     0.0),
        }


class Adaptation:
    """Units' behaviour and the hill-climbing rule that moves it."""

    def __init__(self, model: GridModel, kinds: np.ndarray):
        self.model = model
        self.kinds = kinds                      # 0 line department, 1 township office
        n = len(kinds)
        self.ledger = Ledger(n)
        ev = model.scenario_spec.evaluation
        start = [ev.initial_effort, ev.initial_readiness, ev.initial_superficial]
        self.behaviour = np.tile(np.array(start, dtype=float), (n, 1))
        self.accepted = self.behaviour.copy()   # last behaviour whose utility held up
        self.move = np.zeros((n, 3))
        self.best = np.full(n, -np.inf)
        self.last_utility = np.full(n, np.nan)

    @property
    def effort(self) -> np.ndarray:
        return self.behaviour[:, 0]

    @property
    def readiness(self) -> np.ndarray:
        return self.behaviour[:, 1]

    @property
    def superficial(self) -> np.ndarray:
        return self.behaviour[:, 2]

    def utility(self, utilisation: np.ndarray) -> np.ndarray:
        """The period's utility of each unit under the scenario's design."""
        ev = self.model.scenario_spec.evaluation
        comp = self.ledger.components()
        w = ev.weights
        score = (w.closure * comp["closure"] + w.on_time * comp["on_time"]
                 - w.rejections * comp["rejections"] + w.grid_rating * comp["grid_rating"]
                 + w.satisfaction * comp["satisfaction"])
        if ev.rule == "none":
            score = np.zeros_like(score)
        elif ev.rule == "ranking":                   # league table within each kind of unit
            ranked = np.zeros_like(score)
            for k in np.unique(self.kinds):
                sel = self.kinds == k
                order = score[sel].argsort(kind="stable").argsort(kind="stable")
                ranked[sel] = order / max(sel.sum() - 1, 1)
            score = ranked
        elif ev.rule == "penalty":                   # 追究: overdue and passed-back issues cost
            rec = np.maximum(self.ledger.received, 1)
            overdue = (self.ledger.closed - self.ledger.on_time) / rec
            score = score - ev.penalty_overdue * overdue \
                - ev.penalty_rejection * self.ledger.passed_back / rec
        effort = self.effort
        return score - ev.effort_cost * (effort - 1.0) - ev.work_cost * utilisation * effort

    def adapt(self, utilisation: np.ndarray) -> None:
        """Keep going where utility held up; otherwise step back and try another direction."""
        ev = self.model.scenario_spec.evaluation
        u = self.utility(utilisation)
        rng = self.model.streams["adaptation"]
        worse = u < self.best
        self.accepted = np.where(worse[:, None], self.accepted, self.behaviour)
        self.best = np.where(worse, self.best, u)
        fresh = rng.choice([-1.0, 0.0, 1.0], size=self.move.shape) * ev.step * (HIGH - LOW) / 2
        self.move = np.where(worse[:, None] | (self.move == 0).all(axis=1)[:, None], fresh,
                             self.move)
        self.behaviour = np.clip(self.accepted + self.move, LOW, HIGH)
        self.last_utility = u
        self.ledger.reset()
