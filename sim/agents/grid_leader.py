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

from sim import bookkeeping, libm
from sim.compiled import per_issue
from sim.issues import SettledBy, Status
from sim.sorting import argsort_floats, argsort_small_ints

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
        rows = bookkeeping.selection().unscheduled_rows(iss.status, iss.next_time,
                                                        int(self.status))
        cal = model.grid_calendar
        day_start = float(cal.to_work(np.array([float(day)]))[0])
        self.demand, last, done, clock = _settle(rows, iss.leader, iss.hours, iss.entered,
                                                 factor, self.carry, hours_today, day_start,
                                                 float(self.staff))
        if hours_today <= 0:
            self.handling = np.zeros(self.n)
            return
        iss.next_time[done] = cal.from_work(clock)
        self.handling = np.minimum(last, hours_today)
        self.carry = np.maximum(last - hours_today, 0.0)


def _settle_loop(rows: np.ndarray, leader_of: np.ndarray, hours: np.ndarray,
                 entered: np.ndarray, factor: float, carry: np.ndarray, hours_today: float,
                 day_start: float, staff: float
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:meth:`LevelQueues.settle_today` for the held ``rows``: each leader's demand (carry plus
    the work held), the hour into the day each leader is done (``last``), and the rows started
    today with their finishing time on the grid's working clock (``day_start``: the day's
    start on it).

    Each leader works through his list in order of arrival: the sorted lists, one after
    another, as one running sum of work, restarted at each leader's first issue.
    """
    n, k = len(carry), len(rows)
    held = np.zeros(n)
    for i in range(k):                      # summed in row order, as np.bincount does
        held[leader_of[rows[i]]] += hours[rows[i]] * factor
    demand = carry + held
    last = carry.copy()
    done = np.empty(k, dtype=np.int64)
    clock = np.empty(k)
    if hours_today <= 0 or k == 0:
        return demand, last, done[:0], clock[:0]
    # by leader, then arrival, ties in row order (np.lexsort): two stable sorts
    by_arrival = argsort_floats(entered[rows])
    lead = leader_of[rows][by_arrival]
    order = by_arrival[argsort_small_ints(lead, n)]
    cum, base, m = 0.0, 0.0, 0
    previous = -1
    for i in range(k):
        r = rows[order[i]]
        who = leader_of[r]
        work = hours[r] * factor
        cum = work if i == 0 else cum + work
        if who != previous:                 # the leader's first: the running sum restarts
            base = max(base, cum - work)
            previous = who
        end = carry[who] + cum - base       # hours into the day when he finishes this one
        if end - work < hours_today:        # started within today's hours
            last[who] = max(last[who], end)
            done[m], clock[m] = r, day_start + end / staff
            m += 1
    return demand, last, done[:m], clock[:m]


_settle = per_issue(_settle_loop)


def _settle_at_level3_loop(rows: np.ndarray, u: np.ndarray, severity: np.ndarray,
                           grid_l3: np.ndarray, share_minor: float, share_ordinary: float,
                           effect: np.ndarray, leader: np.ndarray, level: np.ndarray) -> int:
    """:meth:`GridLeaders.triage` at level 3: marks 3 and holds those the leader settles;
    returns how many go up."""
    up = 0
    for i in range(len(rows)):
        r = rows[i]
        share = share_minor if severity[r] == 0 else (share_ordinary if severity[r] == 1
                                                       else 0.0)
        if u[i] < share * effect[grid_l3[r]]:
            level[i] = 3
            leader[r] = grid_l3[r]
        else:
            up += 1
    return up


def _settle_at_level2_loop(rows: np.ndarray, u: np.ndarray, severity: np.ndarray,
                           grid_l2: np.ndarray, share: float, leader: np.ndarray,
                           level: np.ndarray) -> None:
    """:meth:`GridLeaders.triage` at level 2, for those not settled at level 3 (``u``: a draw
    each, in order)."""
    j = 0
    for i in range(len(rows)):
        if level[i] == 3:
            continue
        r = rows[i]
        if u[j] < share and severity[r] < 2:
            level[i] = 2
            leader[r] = grid_l2[r]
        j += 1


def _grid_settle_loop(rows: np.ndarray, status: np.ndarray, grid_l3: np.ndarray,
                     effect: np.ndarray, quality: float, sensitivity: float, actor3: int,
                     actor2: int, settled_by: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:meth:`GridLeaders.settle`."""
    q, actor = np.empty(len(rows)), np.empty(len(rows), dtype=np.int64)
    for i in range(len(rows)):
        r = rows[i]
        if status[r] == AT_LEVEL3:
            settled_by[r], actor[i] = BY_LEVEL3, actor3
            q[i] = quality * (1.0 - sensitivity * (1.0 - effect[grid_l3[r]]))
        else:
            settled_by[r], actor[i], q[i] = BY_LEVEL2, actor2, quality
    return q, actor


AT_LEVEL3 = int(Status.GRID_L3)                                       # for the loops
BY_LEVEL3, BY_LEVEL2 = int(SettledBy.GRID_L3), int(SettledBy.GRID_L2)
_grid_settle = per_issue(_grid_settle_loop)
_settle_at_level3 = per_issue(_settle_at_level3_loop)
_settle_at_level2 = per_issue(_settle_at_level2_loop)


def _hours_of_day_loop(hours: float, admin: np.ndarray, handling: np.ndarray,
                       service_hours: float, patrol_hours: float, stress_effect: float,
                       stress: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each level-3 leader's working day after pushed-down tasks and settling: services, then
    patrol (its target cut by stress), within the hours left; and the hours worked."""
    n = len(admin)
    service, patrol, worked = np.empty(n), np.empty(n), np.empty(n)
    for j in range(n):
        left = max(hours - admin[j] - handling[j], 0.0)
        service[j] = min(service_hours, left)
        left = left - service[j]
        target = patrol_hours * (1.0 - stress_effect * min(stress[j], 1.0))
        patrol[j] = min(target, left)
        worked[j] = admin[j] + handling[j] + service[j] + patrol[j]
    return service, patrol, worked


def _strain_and_learn_loop(demand: np.ndarray, hours: float, u_quit: np.ndarray,
                           u_train: np.ndarray, recovery: float, stress_gain: float,
                           quit_stress: float, quit_rate: float, coverage: float,
                           newcomer_skill: float, skill_gain: float, learn: np.ndarray,
                           stress_effect: float, stress: np.ndarray, trained: np.ndarray,
                           skill: np.ndarray, effect: np.ndarray) -> int:
    """:meth:`GridLeaders._strain_and_learn`, leader by leader; ``learn``: a day's step
    towards full skill, untrained and trained. Returns how many quit."""
    quits = 0
    for j in range(len(stress)):
        over = max(demand[j] / hours - 1.0, 0.0)
        stress[j] = stress[j] * (1.0 - recovery) + stress_gain * over
        if stress[j] > quit_stress and u_quit[j] < quit_rate:
            quits += 1
            trained[j] = u_train[j] < coverage
            skill[j] = newcomer_skill + (skill_gain if trained[j] else 0.0) * (
                1 - newcomer_skill)
            stress[j] = 0.0
        skill[j] += (1.0 - skill[j]) * learn[1 if trained[j] else 0]
        effect[j] = skill[j] * (1.0 - stress_effect * min(stress[j], 1.0))
    return quits


_hours_of_day = per_issue(_hours_of_day_loop)
_strain_and_learn = per_issue(_strain_and_learn_loop, error_model="numpy")


class GridLeaders:
    """Grid leaders on all three levels and their vectorised work.

    Level-3 leaders carry stress, skill and a training flag. Work pushed down to them
    (administrative hours, handed-down issues) comes first; overload (demand above capacity)
    builds stress, which cuts patrol time and effectiveness; past a threshold they may quit, and
    a newcomer starts with low skill that grows with experience (Oliva & Sterman 2001; Homer
    1985). Extra hands per grid (``assistant_hours``) add capacity.
    """

    def __init__(self, model: GridModel):
        sc = model.scenario_spec
        g, tr = sc.grid_leaders, sc.training
        self.model = model
        self.l3 = LevelQueues(sc.n_grids, g.level3_hours + g.assistant_hours, Status.GRID_L3)
        self.l2 = LevelQueues(sc.n_villages, g.level2_hours, Status.GRID_L2,
                              staff=g.level2_per_village)
        n = sc.n_grids
        rng = model.streams["staff"]
        self.stress = np.zeros(n)
        self.trained = rng.random(n) < tr.leader_coverage
        self.skill = np.ones(n)
        self._effect = self._effectiveness()
        self.admin = np.zeros(n)
        self.service = np.zeros(n)
        self.quits_today = 0
        self.agents = [
            *GridLeader.create_agents(model, sc.n_townships, 1, list(range(sc.n_townships))),
            *GridLeader.create_agents(model, sc.n_villages, 2, list(range(sc.n_villages))),
            *GridLeader.create_agents(model, sc.n_grids, 3, list(range(sc.n_grids))),
        ]

    def plan_day(self, day: int) -> None:
        """Pushed-down tasks first, then settle what they hold, then patrol with what is left."""
        m, sc = self.model, self.model.scenario_spec
        g = sc.grid_leaders
        open_today = bool(m.grid_calendar.is_workday[day])
        l3 = self.l3
        self.admin = np.full(l3.n, sc.offloading.admin_hours if open_today else 0.0)
        l3.settle_today(m, day, max(l3.hours - sc.offloading.admin_hours, 0.0) if open_today
                        else 0.0, g.handling_hours_factor)
        self.l2.settle_today(m, day, self.l2.hours if open_today else 0.0,
                             g.handling_hours_factor)
        self.l2.worked = self.l2.handling
        if not open_today:
            self.service, l3.patrol = np.zeros(l3.n), np.zeros(l3.n)
            l3.worked = self.admin + l3.handling + self.service + l3.patrol
            return
        # services (办实事) from the hours left, then patrol, cut by stress
        self.service, l3.patrol, l3.worked = _hours_of_day(
            l3.hours, self.admin, l3.handling, g.service_hours, g.level3_patrol_hours,
            g.stress_effect, self.stress)
        self._strain_and_learn()

    def demand(self) -> np.ndarray:
        """Level-3 leaders' hours asked of them today: pushed-down tasks, held work, services
        and patrol."""
        g = self.model.scenario_spec.grid_leaders
        return self.admin + self.l3.demand + g.service_hours + g.level3_patrol_hours

    def overloaded(self) -> np.ndarray:
        """Level-3 leaders asked for more hours than they have."""
        return self.demand() > self.l3.hours

    def _strain_and_learn(self) -> None:
        """Overload builds stress; stressed leaders may quit, and a newcomer (trained or not)
        takes over; skill grows with experience, faster for the trained."""
        g, tr = self.model.scenario_spec.grid_leaders, self.model.scenario_spec.training
        rng = self.model.streams["staff"]
        u_quit, u_train = rng.random(self.l3.n), rng.random(self.l3.n)
        gain = tr.leader_skill_gain * tr.quality
        # a day's step towards full skill, untrained and trained (the C library's exp: libm)
        learn = 1.0 - libm.exp(-((1.0 / g.learning_days) * np.array([1.0, 1.0 + gain])))
        self.quits_today = _strain_and_learn(
            self.demand(), self.l3.hours, u_quit, u_train, g.stress_recovery, g.stress_gain,
            g.quit_stress, g.quit_rate, tr.leader_coverage, g.newcomer_skill, gain, learn,
            g.stress_effect, self.stress, self.trained, self.skill, self._effect)

    def _effectiveness(self) -> np.ndarray:
        """Skill × (1 − stress effect) of each level-3 leader, in [0, 1]: kept as ``_effect``
        and updated once a day (:meth:`_strain_and_learn`), when skill and stress change, for
        the rules that look it up per issue (triage, settlements, patrol)."""
        g = self.model.scenario_spec.grid_leaders
        return self.skill * (1.0 - g.stress_effect * np.minimum(self.stress, 1.0))

    def settle(self, rows: np.ndarray, actor3: int, actor2: int
               ) -> tuple[np.ndarray, np.ndarray]:
        """Level-3 leaders and villages settle ``rows`` (held at level 3 or 2): each issue is
        marked settled by its level; returns the probability each settlement truly resolves
        the issue (a level-3 leader's falls with his effectiveness) and who settled it."""
        m, g = self.model, self.model.scenario_spec.grid_leaders
        iss = m.issues
        return _grid_settle(rows, iss.status, iss.grid_l3, self._effect, g.quality,
                            g.quality_sensitivity, actor3, actor2, iss.settled_by)

    def find_hazards(self) -> np.ndarray:
        """Daily hazard that the patrol of each level-3 grid finds a hidden issue there:
        patrol hours × effectiveness."""
        g = self.model.scenario_spec.grid_leaders
        hours = self.l3.patrol
        return np.where(hours > 0, g.patrol_find_rate * hours * self._effect, 0.0)

    def triage(self, rows: np.ndarray) -> np.ndarray:
        """Who settles the issues arriving at level 3 (each then held by that leader): the
        level-3 leader (3), minor ones and a share of ordinary ones as far as he is effective;
        else the village (2), a share of those not major; else neither, up to the township
        platform (1)."""
        m, g = self.model, self.model.scenario_spec.grid_leaders
        iss = m.issues
        rng = m.streams["triage"]
        level = np.ones(len(rows), dtype=np.int8)
        up = _settle_at_level3(rows, rng.random(len(rows)), iss.severity, iss.grid_l3,
                               g.level3_settle_share, g.level3_settle_share_ordinary,
                               self._effect, iss.leader, level)
        _settle_at_level2(rows, rng.random(up), iss.severity, iss.grid_l2,
                          g.level2_settle_share, iss.leader, level)
        return level
