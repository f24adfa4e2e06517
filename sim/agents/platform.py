"""Information platforms (社会公共管理信息平台) at city, district and township level.

Operators, few and with limited speed, take reports in and dispatch them: to the responsible
unit with probability ``dispatch_accuracy``, otherwise to a wrong one. They track and re-dispatch
what comes back, and rule on responsibility (裁决): for flagged ambiguous issues at intake
when the ruling threshold is 0 (the seed's 立即处置的说法), otherwise after max(k, 1)
pass-backs. A ruling binds only units within the platform's authority (依据管理权限): a township
platform rules on its own township's office, a district platform on its district's units, the
city platform on any; anything else goes up a level. Numbering: :mod:`sim.layout`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from mesa import Agent

from sim.queueing import ServerPools

if TYPE_CHECKING:
    from sim.model import GridModel

class Platform(Agent):
    """A platform: a district's (with its 12345 desk), a township's or the city's."""

    def __init__(self, model: GridModel, index: int, name: str, operators: int):
        super().__init__(model)
        self.index, self.name, self.operators = index, name, operators


class Platforms:
    """The district platforms, one per township and, above several districts, the city's."""

    def __init__(self, model: GridModel):
        sc = model.scenario_spec
        p, lay = sc.platform, model.layout
        self.model, self.layout = model, lay
        k = lay.districts
        self.agents = [Platform(model, d, lay.district_name(d), p.district_operators)
                       for d in range(k)] + [
            Platform(model, k + t, f"township_{t:02d}", p.township_operators)
            for t in range(lay.n_townships)]
        self.district_units = lay.district_units
        top = [p.district_operators] * k
        if lay.city_platform >= 0:
            self.agents.append(Platform(model, lay.city_platform, "city", sc.city.operators))
            top.append(sc.city.operators)
        # district (and city) desks answer the 12345 hotline round the clock; townships keep
        # their own hours
        self.district_pool = ServerPools(top, model.hotline_calendar)
        self.township_pools = ServerPools([p.township_operators] * lay.n_townships,
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
        d = self._top_pool(plat)
        top = d >= 0
        start[top], done[top] = self.district_pool.join(d[top], t[top], hours[top])
        town = plat[~top] - self.layout.districts
        start[~top], done[~top] = self.township_pools.join(town, t[~top], hours[~top])
        return start, done

    def _top_pool(self, plat: np.ndarray) -> np.ndarray:
        """The district/city pool of each platform; -1 for a township's."""
        k = self.layout.districts
        return np.where(plat < k, plat, np.where(plat == self.layout.city_platform, k, -1))

    def pool_of(self, k: int) -> tuple[ServerPools, int]:
        """The server pools of platform ``k`` and its index among them."""
        d = int(self._top_pool(np.array([k]))[0])
        if d >= 0:
            return self.district_pool, d
        return self.township_pools, k - self.layout.districts

    def utilisation(self, k: int, first_day: int, days: int) -> float:
        """Share of platform ``k``'s operator hours spent taking issues in."""
        pools, j = self.pool_of(k)
        return pools.utilisation(j, first_day, days)

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
        lay = self.layout
        plat, resp = iss.platform[rows], iss.responsible[rows]
        own_office = resp == m.n_departments + plat - lay.districts
        township_ok = m.scenario_spec.platform.township_rules_own & own_office
        district_ok = (plat < lay.districts) & (lay.unit_district[resp] == plat)
        return (plat == lay.city_platform) | district_ok | township_ok

    def above(self, rows: np.ndarray) -> np.ndarray:
        """The platform one level up: the district's above a township's, the city's above a
        district's."""
        lay, iss = self.layout, self.model.issues
        return np.where(iss.platform[rows] < lay.districts, lay.city_platform,
                        lay.district_of(iss.grid_l1[rows]))

    def choose_unit(self, rows: np.ndarray) -> np.ndarray:
        """Dispatch targets: the responsible unit, or by mistake a random other one."""
        m = self.model
        iss = m.issues
        p = m.scenario_spec.platform
        rng = m.streams["dispatch"]
        units = self.district_units         # a platform dispatches within the issue's district
        n = units.shape[1]
        u, other = rng.random(len(rows)), rng.integers(0, max(n - 1, 1), len(rows))
        acc = np.where(iss.dispatches[rows] == 0, p.dispatch_accuracy, p.redispatch_accuracy)
        acc = 1.0 - (1.0 - acc) * self.error_factor()
        resp = iss.responsible[rows]
        other = other + (other >= self.layout.position(resp))   # any unit but the responsible
        wrong = units[self.layout.district_of(iss.grid_l1[rows]), np.minimum(other, n - 1)]
        ok = (u < acc) | (n == 1)
        return np.where(ok | iss.bound[rows], resp, wrong).astype(np.int16)
