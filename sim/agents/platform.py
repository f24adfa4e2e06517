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

from sim.compiled import per_issue
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
        # each platform's pool: among the district (and city) desks, or among the townships'
        index = np.arange(len(self.agents))
        self.on_hotline = (index < k) | (index == lay.city_platform)
        self.pool_index = np.where(index < k, index, np.where(self.on_hotline, k, index - k))
        self.position = lay.position(np.arange(lay.n_units))     # in its district's row

    def error_factor(self) -> float:
        """Share of the dispatch errors left after operator training and grid alignment."""
        sc = self.model.scenario_spec
        tr, du = sc.training, sc.duties
        return ((1.0 - tr.operator_coverage * tr.quality * tr.operator_accuracy_gain)
                * (1.0 - du.alignment * du.alignment_accuracy_gain))

    def take_in(self, rows: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Operators take issues in, FIFO per platform; returns (start, done) times. At an
        issue's first intake they flag a share of the ambiguous ones."""
        m = self.model
        iss = m.issues
        p, tr = m.scenario_spec.platform, m.scenario_spec.training
        minutes = p.intake_minutes * (1.0 - tr.operator_coverage * tr.quality
                                      * tr.operator_speed_gain)
        rng = m.streams["dispatch"]
        u, e = rng.random(len(rows)), rng.standard_exponential(len(rows))
        pool, hours, top = _intake(rows, u, e, minutes, iss.dispatches, iss.reopens,
                                   iss.ambiguous, p.flag_ambiguous, iss.flagged, iss.platform,
                                   self.pool_index, self.on_hotline)
        if top.all():                       # the usual day: one set of pools or the other
            return self.district_pool.join(pool, t, hours)
        if not top.any():
            return self.township_pools.join(pool, t, hours)
        start, done = np.empty(len(rows)), np.empty(len(rows))
        start[top], done[top] = self.district_pool.join(pool[top], t[top], hours[top])
        town = ~top
        start[town], done[town] = self.township_pools.join(pool[town], t[town], hours[town])
        return start, done

    def pool_of(self, k: int) -> tuple[ServerPools, int]:
        """The server pools of platform ``k`` and its index among them."""
        pools = self.district_pool if self.on_hotline[k] else self.township_pools
        return pools, int(self.pool_index[k])

    def utilisation(self, k: int, first_day: int, days: int) -> float:
        """Share of platform ``k``'s operator hours spent taking issues in."""
        pools, j = self.pool_of(k)
        return pools.utilisation(j, first_day, days)

    def dispatch(self, rows: np.ndarray, t: np.ndarray) -> None:
        """Dispatch (派遣) at times ``t``: to the responsible unit, or by mistake a random other
        one; each issue keeps its unit, its first unit and time, and its count of dispatches."""
        m = self.model
        iss = m.issues
        p = m.scenario_spec.platform
        rng = m.streams["dispatch"]
        units = self.district_units         # a platform dispatches within the issue's district
        others = units.shape[1] - 1
        u = rng.random(len(rows))
        # which other unit, if wrong (with one other or none, numpy draws nothing: skipped)
        other = (rng.integers(0, others, len(rows)) if others > 1
                 else np.zeros(len(rows), dtype=np.int64))
        lay = self.layout
        _dispatch(rows, t, u, other, iss.dispatches, iss.responsible, iss.bound, iss.grid_l1,
                  units, self.position, lay.townships_per_district, p.dispatch_accuracy,
                  p.redispatch_accuracy, self.error_factor(), iss.unit, iss.first_unit,
                  iss.first_dispatch)

    def decide(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """After intake, for each issue: dispatch (0), rule here (1) or escalate (2); and the
        platform one level up (the district's above a township's, the city's above a
        district's).

        A platform rules at intake on flagged issues when the threshold k is 0, otherwise after
        max(k, 1) pass-backs, unless a ruling already binds. It may bind the responsible unit
        if it is the city's platform, the unit's district's, or (``township_rules_own``) the
        township's whose own office it is; otherwise the issue goes up a level.
        """
        m, lay = self.model, self.layout
        iss = m.issues
        return _decide(rows, iss.flagged, iss.rejections, iss.bound, iss.platform,
                       iss.responsible, iss.grid_l1, m.scenario_spec.ruling_k, lay.districts,
                       lay.city_platform, m.n_departments,
                       m.scenario_spec.platform.township_rules_own, lay.unit_district,
                       lay.townships_per_district)


# The rules above, issue by issue: one loop each instead of a dozen numpy passes
# (sim/compiled.py). Each gives what the vectorised rule gives, issue by issue.
def _dispatch_loop(rows: np.ndarray, t: np.ndarray, u: np.ndarray, other: np.ndarray,
                   dispatches: np.ndarray, responsible: np.ndarray, bound: np.ndarray,
                   grid_l1: np.ndarray, units: np.ndarray, position: np.ndarray,
                   townships_per_district: int, first_accuracy: float, again_accuracy: float,
                   error_factor: float, unit: np.ndarray, first_unit: np.ndarray,
                   first_dispatch: np.ndarray) -> None:
    """:meth:`Platforms.dispatch` from its draws ``u`` and ``other`` (``position``: each
    unit's place in its district's row of ``units``)."""
    n = units.shape[1]
    for i in range(len(rows)):
        r = rows[i]
        resp = responsible[r]
        acc = first_accuracy if dispatches[r] == 0 else again_accuracy
        acc = 1.0 - (1.0 - acc) * error_factor
        if u[i] < acc or n == 1 or bound[r]:
            unit[r] = resp
        else:
            # any unit of the district but the responsible one (its position skipped)
            o = other[i] + 1 if other[i] >= position[resp] else other[i]
            unit[r] = units[grid_l1[r] // townships_per_district, min(o, n - 1)]
        if np.isnan(first_dispatch[r]):        # a platform's first dispatch
            first_unit[r], first_dispatch[r] = unit[r], t[i]
        elif t[i] < first_dispatch[r]:
            first_dispatch[r] = t[i]
        dispatches[r] += 1


def _decide_loop(rows: np.ndarray, flagged: np.ndarray, rejections: np.ndarray,
                 bound: np.ndarray, platform: np.ndarray, responsible: np.ndarray,
                 grid_l1: np.ndarray, k: float, districts: int, city_platform: int,
                 n_departments: int, township_rules_own: bool, unit_district: np.ndarray,
                 townships_per_district: int) -> tuple[np.ndarray, np.ndarray]:
    """:meth:`Platforms.decide`."""
    code = np.zeros(len(rows), dtype=np.int8)
    above = np.empty(len(rows), dtype=np.int64)
    threshold = max(k, 1.0)
    for i in range(len(rows)):
        r = rows[i]
        plat = platform[r]
        above[i] = city_platform if plat < districts else grid_l1[r] // townships_per_district
        rule = (flagged[r] and k == 0) or rejections[r] >= threshold
        if not rule or bound[r]:
            continue
        resp = responsible[r]
        township_ok = township_rules_own and resp == n_departments + plat - districts
        district_ok = plat < districts and unit_district[resp] == plat
        code[i] = 1 if plat == city_platform or district_ok or township_ok else 2
    return code, above


def _intake_loop(rows: np.ndarray, u: np.ndarray, e: np.ndarray, minutes: float,
                 dispatches: np.ndarray, reopens: np.ndarray, ambiguous: np.ndarray,
                 share: float, flagged: np.ndarray, platform: np.ndarray,
                 pool_index: np.ndarray, on_hotline: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:meth:`Platforms.take_in` up to the queues: flags, and each issue's pool, hours of
    intake and whether its desk is on the hotline."""
    n = len(rows)
    pool, hours, top = np.empty(n, dtype=np.int64), np.empty(n), np.empty(n, dtype=np.bool_)
    for i in range(n):
        r = rows[i]
        if dispatches[r] == 0 and reopens[r] == 0 and ambiguous[r] and u[i] < share:
            flagged[r] = True
        hours[i] = e[i] * minutes / 60.0
        pool[i], top[i] = pool_index[platform[r]], on_hotline[platform[r]]
    return pool, hours, top


_intake = per_issue(_intake_loop)
_dispatch = per_issue(_dispatch_loop)
_decide = per_issue(_decide_loop)
