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

from sim.evaluation import Adaptation
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
        """Which screened issues the unit passes back (boolean mask)."""
        m, sc = self.model, self.model.scenario_spec
        u = sc.units
        iss = m.issues
        unit = iss.unit[rows]
        right = unit == iss.responsible[rows]
        ambiguous = u.pass_back_ambiguous * (1.0 - sc.duties.alignment
                                             * sc.duties.alignment_pass_back_cut)
        p = np.where(~right, u.pass_back_misdispatched,
                     np.where(iss.ambiguous[rows], ambiguous, u.pass_back))
        # a department whose own people work in the township passes back less (不推诿)
        line = unit < self.n_line
        dept = m.layout.unit_department[np.where(line, unit, 0)]
        p = np.where(line, p * m.work_teams.pass_back_factor(iss.grid_l1[rows], dept), p)
        # readiness to pass back, as the unit has adapted it to its evaluation (考核)
        p = np.where(right, np.minimum(p * self.adaptation.readiness[unit], 1.0), p)
        p = np.where(iss.bound[rows] & right, 0.0, p)      # a ruling binds the right unit
        back = m.streams["screening"].random(len(rows)) < p
        self.adaptation.ledger.add("received", unit)
        self.adaptation.ledger.add("passed_back", unit[back])
        return back

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
        and works at the effort it has adapted (考核).
        """
        m = self.model
        iss, u = m.issues, m.scenario_spec.units
        unit = iss.unit[rows]
        ad = self.adaptation
        iss.superficial[rows] = m.streams["screening"].random(len(rows)) < ad.superficial[unit]
        # the lead department coordinates with its co-handler (协办)
        lead = unit == iss.lead_department[rows]
        hours = iss.hours[rows] + np.where(lead & (iss.co_department[rows] >= 0),
                                           u.coordination_hours, 0.0)
        hours = hours * np.where(iss.superficial[rows],
                                 m.scenario_spec.evaluation.superficial_work, 1.0)
        return self.pools.join(unit, t, hours / ad.effort[unit])

    def record_closures(self, rows: np.ndarray, t: np.ndarray) -> None:
        """Book the units' closures (and whether on time) for their evaluation."""
        m = self.model
        iss = m.issues
        cal = m.office_calendar
        since = np.where(np.isnan(iss.reported[rows]), iss.discovered[rows], iss.reported[rows])
        took = (cal.to_work(t) - cal.to_work(since)) / cal.hours
        led = self.adaptation.ledger
        led.add("closed", iss.unit[rows])
        led.add("on_time", iss.unit[rows], (took <= iss.deadline[rows]).astype(float))

    def evaluate(self, day: int) -> None:
        """At the end of each evaluation period, units adapt to their design (考核)."""
        ev = self.model.scenario_spec.evaluation
        if not ev.adapt or (day + 1) % ev.period_days:
            return
        first = max(day + 1 - ev.period_days, 0)
        busy = [self.pools.utilisation(k, first, day + 1) for k in range(self.n)]
        self.adaptation.adapt(np.nan_to_num(np.array(busy)))
