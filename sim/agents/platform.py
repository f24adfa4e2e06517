"""Information platforms (社会公共管理信息平台) at district and township level.

Operators, few and with limited speed, take reports in and dispatch them: to the responsible
unit with probability ``dispatch_accuracy``, otherwise to a wrong one. They track and re-dispatch
what comes back, and rule on responsibility (裁决): for flagged ambiguous issues at intake
when the ruling threshold is 0 (the seed's 立即处置的说法), otherwise after max(k, 1)
pass-backs. A ruling binds only units within the platform's authority: a township platform
rules on its own township's office; anything else goes up to the district platform.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from mesa import Agent

from sim.queueing import ServerPools

if TYPE_CHECKING:
    from sim.model import GridModel

DISTRICT = 0


class Platform(Agent):
    """Platform ``index``: 0 is the district's (with the 12345 desk), 1+t township t's."""

    def __init__(self, model: GridModel, index: int, operators: int):
        super().__init__(model)
        self.index, self.operators = index, operators
        self.name = "district" if index == DISTRICT else f"township_{index - 1:02d}"


class Platforms:
    """The district platform and one per township."""

    def __init__(self, model: GridModel):
        sc = model.scenario_spec
        p = sc.platform
        self.model = model
        self.agents = [Platform(model, 0, p.district_operators)] + [
            Platform(model, 1 + t, p.township_operators) for t in range(sc.district.townships)
        ]
        # the district desk answers the 12345 hotline round the clock; townships keep their own
        self.district_pool = ServerPools([p.district_operators], model.hotline_calendar)
        self.township_pools = ServerPools([p.township_operators] * sc.district.townships,
                                          model.platform_calendar)
        self.actor = np.array([model.events.actor(f"platform:{a.name}") for a in self.agents],
                              dtype=np.int32)

    def error_factor(self) -> float:
        """Share of the dispatch errors left after operator training and grid alignment."""
        sc = self.model.scenario_spec
        tr, du = sc.training, sc.duties
        return ((1.0 - tr.operator_coverage * tr.quality * tr.operator_accuracy_gain)
                * (1.0 - du.alignment * du.alignment_accuracy_gain))

    def take_in(self, rows: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Operators take issues in, FIFO per platform; returns (start, done) times."""
        m = self.model
        tr = m.scenario_spec.training
        minutes = m.scenario_spec.platform.intake_minutes * (
            1.0 - tr.operator_coverage * tr.quality * tr.operator_speed_gain)
        hours = m.streams["dispatch"].standard_exponential(len(rows)) * minutes / 60.0
        start, done = np.empty(len(rows)), np.empty(len(rows))
        plat = m.issues.platform[rows]
        d = plat == DISTRICT
        start[d], done[d] = self.district_pool.join(np.zeros(d.sum(), int), t[d], hours[d])
        start[~d], done[~d] = self.township_pools.join(plat[~d] - 1, t[~d], hours[~d])
        return start, done

    def utilisation(self, k: int, first_day: int, days: int) -> float:
        """Share of platform ``k``'s operator hours spent taking issues in."""
        if k == DISTRICT:
            return self.district_pool.utilisation(0, first_day, days)
        return self.township_pools.utilisation(k - 1, first_day, days)

    def flag(self, rows: np.ndarray) -> np.ndarray:
        """At an issue's first intake, operators flag a share of the ambiguous ones."""
        m = self.model
        iss = m.issues
        u = m.streams["dispatch"].random(len(rows))
        first = (iss.dispatches[rows] == 0) & (iss.reopens[rows] == 0)
        return first & iss.ambiguous[rows] & (u < m.scenario_spec.platform.flag_ambiguous)

    def wants_ruling(self, rows: np.ndarray) -> np.ndarray:
        """Rule at intake on flagged issues (k = 0), otherwise after max(k, 1) pass-backs."""
        k = self.model.scenario_spec.ruling_k
        rej = self.model.issues.rejections[rows]
        return np.where(self.model.issues.flagged[rows] & (k == 0), True, rej >= max(k, 1))

    def has_authority(self, rows: np.ndarray) -> np.ndarray:
        """Whether the holding platform may bind the responsible unit."""
        m = self.model
        iss = m.issues
        plat, resp = iss.platform[rows], iss.responsible[rows]
        own_office = resp == m.n_departments + plat - 1
        township_ok = m.scenario_spec.platform.township_rules_own & own_office
        return (plat == DISTRICT) | township_ok

    def choose_unit(self, rows: np.ndarray) -> np.ndarray:
        """Dispatch targets: the responsible unit, or by mistake a random other one."""
        m = self.model
        iss = m.issues
        p = m.scenario_spec.platform
        rng = m.streams["dispatch"]
        u, other = rng.random(len(rows)), rng.integers(0, max(m.n_units - 1, 1), len(rows))
        acc = np.where(iss.dispatches[rows] == 0, p.dispatch_accuracy, p.redispatch_accuracy)
        acc = 1.0 - (1.0 - acc) * self.error_factor()
        resp = iss.responsible[rows]
        wrong = other + (other >= resp)                     # any unit but the responsible one
        ok = (u < acc) | (m.n_units == 1)
        return np.where(ok | iss.bound[rows], resp, wrong).astype(np.int16)
