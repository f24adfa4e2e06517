"""Grid leaders (网格长) on three levels.

Level 3 (block, 三级网格) leaders patrol and find issues, limited by the hours they have left after
settling what they hold; they settle minor issues themselves or pass them up. Level 2
(village/community) staff settle a share of what comes up and report the rest to the township
platform. Level 1 is the township (乡镇办): its platform and office are
:mod:`sim.agents.platform` and :mod:`sim.agents.department`; its leader is an agent here.
Every hour of grid work is accounted against a daily capacity.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from mesa import Agent

from sim.issues import Status

if TYPE_CHECKING:
    from sim.model import GridModel


class GridLeader(Agent):
    """A grid leader of ``level`` 1, 2 or 3 for grid ``index`` of that level."""

    def __init__(self, model: GridModel, level: int, index: int):
        super().__init__(model)
        self.level, self.index = level, index

    @property
    def hours_worked_today(self) -> float:
        """Hours of grid work today (level 1 leaders' work is their platform's and office's)."""
        gl = self.model.grid_leaders
        level = {3: gl.l3, 2: gl.l2}.get(self.level)
        return float(level.worked[self.index]) if level is not None else 0.0


class LevelQueues:
    """One level's leaders as arrays: each settles the issues it holds, FIFO, in its hours.

    An issue started within the day's hours is finished even if that runs over; the overrun is
    carried into the next working day, so every hour is charged once against a capacity.
    """

    def __init__(self, n: int, hours_per_day: float, status: Status, staff: int = 1):
        # ``staff`` people share each leader's list, so the clock runs ``staff`` times slower
        self.n, self.hours, self.status, self.staff = n, hours_per_day * staff, status, staff
        self.worked = np.zeros(n)        # hours worked today (handling + patrol)
        self.handling = np.zeros(n)      # hours settling issues today
        self.demand = np.zeros(n)        # hours of work held at the start of today
        self.patrol = np.zeros(n)
        self.carry = np.zeros(n)         # overrun from the last working day

    def settle_today(self, model: GridModel, day: int, hours_today: float,
                     factor: float) -> None:
        """Schedule today's settlements: FIFO per leader, each started within today's hours."""
        iss = model.issues
        rows = np.flatnonzero((iss.status == self.status) & np.isinf(iss.next_time))
        leader, work = iss.leader[rows], iss.hours[rows] * factor
        self.demand = self.carry + np.bincount(leader, weights=work, minlength=self.n)
        if hours_today <= 0:
            self.handling = np.zeros(self.n)
            return
        order = np.lexsort((iss.entered[rows], leader))
        rows, leader, work = rows[order], leader[order], work[order]
        cum = np.cumsum(work)
        first = np.r_[True, leader[1:] != leader[:-1]]
        base = np.maximum.accumulate(np.where(first, cum - work, 0.0))
        end = self.carry[leader] + cum - base   # hours into the day when each finishes
        today = end - work < hours_today        # started within today's hours
        last = self.carry.copy()
        np.maximum.at(last, leader[today], end[today])
        self.handling = np.minimum(last, hours_today)
        self.carry = np.maximum(last - hours_today, 0.0)
        cal = model.grid_calendar
        done = rows[today]
        iss.next_time[done] = cal.from_work(cal.to_work(np.full(len(done), float(day)))
                                            + end[today] / self.staff)


class GridLeaders:
    """Grid leaders on all three levels and their vectorised work."""

    def __init__(self, model: GridModel):
        sc = model.scenario_spec
        g = sc.grid_leaders
        self.model = model
        self.l3 = LevelQueues(sc.n_grids, g.level3_hours, Status.GRID_L3)
        self.l2 = LevelQueues(sc.n_villages, g.level2_hours, Status.GRID_L2,
                              staff=g.level2_per_village)
        self.agents = [
            *GridLeader.create_agents(model, sc.district.townships, 1,
                                      list(range(sc.district.townships))),
            *GridLeader.create_agents(model, sc.n_villages, 2, list(range(sc.n_villages))),
            *GridLeader.create_agents(model, sc.n_grids, 3, list(range(sc.n_grids))),
        ]

    def plan_day(self, day: int) -> None:
        """Settle what they hold first, then patrol with the hours left (level 3)."""
        m, g = self.model, self.model.scenario_spec.grid_leaders
        open_today = bool(m.grid_calendar.is_workday[day])
        for level in (self.l3, self.l2):
            level.settle_today(m, day, level.hours if open_today else 0.0,
                               g.handling_hours_factor)
        left = np.maximum(self.l3.hours - self.l3.handling, 0.0)
        self.l3.patrol = np.minimum(g.level3_patrol_hours, left) if open_today \
            else np.zeros(self.l3.n)
        self.l3.worked = self.l3.handling + self.l3.patrol
        self.l2.worked = self.l2.handling

    def overloaded(self) -> np.ndarray:
        """Level-3 leaders whose held work plus patrol exceeds their daily hours."""
        g = self.model.scenario_spec.grid_leaders
        return self.l3.demand + g.level3_patrol_hours > self.l3.hours

    def find_hazard(self, rows: np.ndarray) -> np.ndarray:
        """Daily hazard that a patrol finds each hidden issue: proportional to patrol hours."""
        g = self.model.scenario_spec.grid_leaders
        hours = self.l3.patrol[self.model.issues.grid_l3[rows]]
        return np.where(hours > 0, g.patrol_find_rate * hours, 0.0)

    def triage_level3(self, rows: np.ndarray) -> np.ndarray:
        """Which issues arriving at level 3 the leader settles himself (boolean mask)."""
        m, g = self.model, self.model.scenario_spec.grid_leaders
        u = m.streams["triage"].random(len(rows))
        sev = m.issues.severity[rows]
        share = np.where(sev == 0, g.level3_settle_share,
                         np.where(sev == 1, g.level3_settle_share_ordinary, 0.0))
        return u < share

    def triage_level2(self, rows: np.ndarray) -> np.ndarray:
        """Which issues passed up to level 2 the village settles itself (boolean mask)."""
        m, g = self.model, self.model.scenario_spec.grid_leaders
        u = m.streams["triage"].random(len(rows))
        return (u < g.level2_settle_share) & (m.issues.severity[rows] < 2)
