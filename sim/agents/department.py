"""Departments (职能部门, 条) and township offices (乡镇办, 块): the units that handle issues.

A unit has c staff; each works one issue at a time, in continuous working time, within the
office calendar (:class:`~sim.queueing.ServerPools`). A dispatched issue is first screened,
which takes time, and then accepted or passed back (推诿): more likely when responsibility is
ambiguous or the issue was dispatched to the wrong unit, never when a ruling binds the unit.
Line departments are lead (主办) or co-handler (协办) for categories; township offices take the
territorial orders (属地管理), and can pass them back too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from mesa import Agent

from sim.compiled import per_issue
from sim.evaluation import Adaptation
from sim.issues import SettledBy
from sim.queueing import ServerPools

if TYPE_CHECKING:
    from sim.model import GridModel


class Department(Agent):
    """A unit: a line department (``kind='line'``) or a township office (``'territory'``)."""

    def __init__(self, model: GridModel, index: int, name: str, kind: str, staff: int):
        super().__init__(model)
        self.index, self.name, self.kind, self.staff = index, name, kind, staff

    @property
    def utilisation(self) -> float:
        """Share of staff hours worked so far."""
        return self.model.units.pools.utilisation(self.index, 0, max(self.model.day, 1))


class Units:
    """All units: the line departments of every district, then the township offices
    (numbering: :mod:`sim.layout`)."""

    def __init__(self, model: GridModel):
        sc = model.scenario_spec
        self.model = model
        lay = model.layout
        line = [(name, "line", sc.departments[j].staff)
                for name, j in zip(lay.line_names, lay.unit_department.tolist(), strict=True)]
        terr = [(f"township_{t:02d}", "territory", sc.units.township_staff)
                for t in range(sc.n_townships)]
        self.agents: list[Department] = [
            Department(model, i, name, kind, staff)
            for i, (name, kind, staff) in enumerate(line + terr)
        ]
        self.pools = ServerPools([a.staff for a in self.agents], model.office_calendar)
        self.n = len(self.agents)
        self.n_line = len(line)
        self.actor = np.array([model.events.actor(f"{a.kind}:{a.name}") for a in self.agents],
                              dtype=np.int32)
        self.adaptation = Adaptation(model, np.array([a.kind == "territory"
                                                      for a in self.agents], dtype=int))

    def screened_at(self, rows: np.ndarray, t: np.ndarray) -> np.ndarray:
        """When screening of freshly dispatched issues ends (working hours of the unit)."""
        u = self.model.scenario_spec.units
        hours = self.model.streams["screening"].standard_exponential(len(rows)) * \
            u.screening_hours
        return self.model.office_calendar.add_work(t, hours)

    def passes_back(self, rows: np.ndarray) -> np.ndarray:
        """Which screened issues the unit passes back (boolean mask).

        The chance is ``pass_back`` for the right unit (``pass_back_ambiguous`` when duties are
        ambiguous, less as they are aligned), ``pass_back_misdispatched`` for a wrong one. A
        line department whose own people work in the township passes back less (不推诿); the
        right unit's readiness is as it has adapted it to its evaluation (考核); a ruling binds
        the right unit (never passed back). Counts the issues' pass-backs.
        """
        m, sc = self.model, self.model.scenario_spec
        u, w = sc.units, sc.work_teams
        iss = m.issues
        ambiguous = u.pass_back_ambiguous * (1.0 - sc.duties.alignment
                                             * sc.duties.alignment_pass_back_cut)
        draws = m.streams["screening"].random(len(rows))
        led = self.adaptation.ledger
        return _passes_back(rows, draws, iss.unit, iss.responsible, iss.ambiguous, iss.bound,
                            iss.grid_l1, self.n_line, m.layout.unit_department,
                            m.work_teams.members, u.pass_back, ambiguous,
                            u.pass_back_misdispatched, 1.0 - w.pass_back_cut * w.engagement,
                            self.adaptation.readiness, led.received, led.passed_back,
                            iss.rejections, iss.total_rejections)

    def pushes_down(self, rows: np.ndarray) -> np.ndarray:
        """Which passed-back issues a line department pushes down to the township (mask)."""
        m = self.model
        du = m.scenario_spec.duties
        line = m.issues.unit[rows] < self.n_line
        u = m.streams["screening"].random(len(rows))
        share = m.scenario_spec.units.push_down * (1.0 - du.alignment * du.alignment_pass_back_cut)
        return line & (u < share)

    def hands_down(self, rows: np.ndarray) -> np.ndarray:
        """Which accepted territorial orders the township office hands down to the grid (mask)."""
        m = self.model
        share = m.scenario_spec.offloading.issue_share
        territory = m.issues.unit[rows] >= self.n_line
        return territory & (m.streams["screening"].random(len(rows)) < share)

    def serve(self, rows: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Accepted issues join their unit's staff queue; returns (start, finish) times.

        A unit closes a share of what it accepts superficially, with a fraction of the work,
        and works at the effort it has adapted (考核). The lead department coordinates with its
        co-handler (协办).
        """
        m = self.model
        iss, sc = m.issues, m.scenario_spec
        ad = self.adaptation
        draws = m.streams["screening"].random(len(rows))
        hours = _work_hours(rows, draws, iss.unit, iss.lead_department, iss.co_department,
                            iss.hours, iss.superficial, ad.superficial, ad.effort,
                            sc.units.coordination_hours, sc.evaluation.superficial_work)
        return self.pools.join(iss.unit[rows], t, hours)

    def record_closures(self, rows: np.ndarray, took: np.ndarray) -> np.ndarray:
        """Units close ``rows``, ``took`` working days after their report: each issue is settled
        by its department or township office, and its unit's ledger books the closure and
        whether it was on time (for the evaluation). Returns the chance each closure truly
        resolves the issue (none when it is superficial)."""
        m = self.model
        iss = m.issues
        led = self.adaptation.ledger
        return _book_closures(rows, took, iss.unit, iss.deadline,
                              iss.superficial, self.n_line, m.scenario_spec.units.quality,
                              iss.settled_by, led.closed, led.on_time)

    def record_ratings(self, rows: np.ndarray) -> None:
        """Book residents' ratings of the units' closures ``rows`` (those rated)."""
        iss = self.model.issues
        led = self.adaptation.ledger
        _book_ratings(rows, iss.unit, iss.satisfaction, led.sat_sum, led.sat_n)

    def evaluate(self, day: int) -> None:
        """At the end of each evaluation period, units adapt to their design (考核)."""
        ev = self.model.scenario_spec.evaluation
        if not ev.adapt or (day + 1) % ev.period_days:
            return
        first = max(day + 1 - ev.period_days, 0)
        busy = [self.pools.utilisation(k, first, day + 1) for k in range(self.n)]
        self.adaptation.adapt(np.nan_to_num(np.array(busy)))


# The rules above, issue by issue: one loop each instead of a dozen numpy passes
# (sim/compiled.py).
def _passes_back_loop(rows: np.ndarray, draws: np.ndarray, unit: np.ndarray,
                      responsible: np.ndarray, ambiguous: np.ndarray, bound: np.ndarray,
                      township: np.ndarray, n_line: int, unit_department: np.ndarray,
                      members: np.ndarray, p_right: float, p_ambiguous: float, p_wrong: float,
                      posted_factor: float, readiness: np.ndarray, received: np.ndarray,
                      passed_back: np.ndarray, rejections: np.ndarray,
                      total_rejections: np.ndarray) -> np.ndarray:
    """:meth:`Units.passes_back` from its draws; books what each unit received and passed
    back in its ledger, and each issue's pass-backs."""
    back = np.empty(len(rows), dtype=np.bool_)
    for i in range(len(rows)):
        r = rows[i]
        k = unit[r]
        right = k == responsible[r]
        p = (p_ambiguous if ambiguous[r] else p_right) if right else p_wrong
        if k < n_line and members[township[r], unit_department[k]] > 0:
            p = p * posted_factor
        if right:
            p = 0.0 if bound[r] else min(p * readiness[k], 1.0)
        back[i] = draws[i] < p
        received[k] += 1.0
        if back[i]:
            passed_back[k] += 1.0
            rejections[r] += 1
            total_rejections[r] += 1
    return back


def _work_hours_loop(rows: np.ndarray, draws: np.ndarray, unit: np.ndarray,
                     lead_department: np.ndarray, co_department: np.ndarray, hours: np.ndarray,
                     superficial: np.ndarray, superficial_share: np.ndarray,
                     effort: np.ndarray, coordination_hours: float,
                     superficial_work: float) -> np.ndarray:
    """:meth:`Units.serve`'s hours of work, from its draws; marks superficial closures."""
    out = np.empty(len(rows))
    for i in range(len(rows)):
        r = rows[i]
        k = unit[r]
        superficial[r] = draws[i] < superficial_share[k]
        h = hours[r]
        if k == lead_department[r] and co_department[r] >= 0:
            h = h + coordination_hours
        if superficial[r]:
            h = h * superficial_work
        out[i] = h / effort[k]
    return out


def _book_closures_loop(rows: np.ndarray, took: np.ndarray, unit: np.ndarray,
                        deadline: np.ndarray, superficial: np.ndarray, n_line: int,
                        quality: float, settled_by: np.ndarray, closed: np.ndarray,
                        on_time: np.ndarray) -> np.ndarray:
    """:meth:`Units.record_closures` (``took``: working days from report to closure)."""
    resolves = np.empty(len(rows))
    for i in range(len(rows)):
        r = rows[i]
        k = unit[r]
        settled_by[r] = BY_DEPARTMENT if k < n_line else BY_TOWNSHIP
        closed[k] += 1.0
        if took[i] <= deadline[r]:
            on_time[k] += 1.0
        resolves[i] = 0.0 if superficial[r] else quality
    return resolves


def _book_ratings_loop(rows: np.ndarray, unit: np.ndarray, satisfaction: np.ndarray,
                       sat_sum: np.ndarray, sat_n: np.ndarray) -> None:
    """:meth:`Units.record_ratings`: this call's sums first, in row order, then added to the
    ledger's (as ``np.bincount`` and ``+=`` do)."""
    sums = np.zeros(len(sat_sum))
    for i in range(len(rows)):
        s = satisfaction[rows[i]]
        if not np.isnan(s):
            sums[unit[rows[i]]] += s
            sat_n[unit[rows[i]]] += 1.0
    for k in range(len(sat_sum)):
        sat_sum[k] += sums[k]


BY_DEPARTMENT, BY_TOWNSHIP = int(SettledBy.DEPARTMENT), int(SettledBy.TOWNSHIP)  # for loops
_passes_back = per_issue(_passes_back_loop)
_book_closures = per_issue(_book_closures_loop)
_book_ratings = per_issue(_book_ratings_loop)
_work_hours = per_issue(_work_hours_loop)
