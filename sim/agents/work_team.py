"""Work teams (群众工作队): civil servants sent down (下沉) from departments to townships.

Each township has one team whose members come from the functional departments, posted either by
function (职能对口: in proportion to what the township's issues need) or at random. Members spend
some hours a week in the area, find hidden issues, and settle on the spot the ones that fall in
their home department's function.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from mesa import Agent

from sim import libm

if TYPE_CHECKING:
    from sim.model import GridModel


class WorkTeam(Agent):
    """The work team posted to township ``township``."""

    def __init__(self, model: GridModel, township: int):
        super().__init__(model)
        self.township = township

    @property
    def members(self) -> dict[str, int]:
        """Members by home department."""
        counts = self.model.work_teams.members[self.township]
        return {d.name: int(k) for d, k in zip(self.model.scenario_spec.departments, counts,
                                                strict=True) if k}


class WorkTeams:
    """All townships' teams as a (township × department) matrix of members."""

    def __init__(self, model: GridModel):
        sc = model.scenario_spec
        w, n_towns = sc.work_teams, sc.n_townships
        rng = model.streams["population"]
        self.model = model
        n_dep = len(sc.departments)
        # what the township's issues need, by lead department (rate-weighted)
        need = np.zeros(n_dep)
        np.add.at(need, model.category_arrays["lead"], model.category_arrays["rate"])
        need = need / need.sum() if need.sum() > 0 else np.full(n_dep, 1.0 / n_dep)
        u_align = rng.random((n_towns, w.members_per_township))
        u_dep = rng.random((n_towns, w.members_per_township))
        aligned_dep = np.searchsorted(np.cumsum(need), u_dep * need.sum(), side="right")
        random_dep = np.minimum((u_dep * n_dep).astype(int), n_dep - 1)
        dep = np.where(u_align < w.aligned, np.minimum(aligned_dep, n_dep - 1), random_dep)
        self.members = np.zeros((n_towns, n_dep), dtype=int)       # (township, department)
        for t in range(n_towns):
            self.members[t] = np.bincount(dep[t], minlength=n_dep)
        self.grids_per_township = sc.n_grids // n_towns
        # days each township's team has been posted: a year at the start (posted in 2012);
        # with rotation, teams are staggered so that they do not all change at once
        self.tenure0 = (np.full(n_towns, 365.0) if w.rotation_days == 0 else
                        np.arange(n_towns) * w.rotation_days / n_towns)
        self.effectiveness = np.ones(n_towns)
        self.hours_today = np.zeros(n_towns)
        self.help_today = np.zeros(n_towns)
        self.hours_settling = np.zeros(n_towns)
        self.agents = WorkTeam.create_agents(model, n_towns, list(range(n_towns)))

    def plan_day(self, day: int) -> None:
        """Members spend their weekly hours in the area on working days, as engaged as they
        are (人下 vs 心下) and as effective as their local knowledge allows."""
        w = self.model.scenario_spec.work_teams
        cal = self.model.office_calendar
        tenure = self.tenure0 + day
        if w.rotation_days:
            tenure = tenure % w.rotation_days
        knows = 1.0 - libm.exp(-tenure / w.knowledge_days)
        self.effectiveness = w.engagement * (w.newcomer_knowledge
                                             + (1.0 - w.newcomer_knowledge) * knows)
        per_day = w.hours_per_week / cal.workdays if cal.is_workday[day] else 0.0
        hours = self.members.sum(axis=1) * per_day
        self.help_today = hours * w.help_share            # 帮扶: helping the needy
        self.hours_today = hours - self.help_today        # the rest goes to finding issues
        self.hours_settling[:] = 0.0

    def help_per_grid(self) -> np.ndarray:
        """Help-the-needy hours today per level-3 grid, by township."""
        return self.help_today / self.grids_per_township

    def find_hazards(self) -> np.ndarray:
        """Daily hazard that each township's team finds a hidden issue there."""
        w = self.model.scenario_spec.work_teams
        hours = self.hours_today * self.effectiveness / self.grids_per_township
        return np.where(hours > 0, w.find_rate * hours, 0.0)

    def settle_on_spot(self, rows: np.ndarray) -> np.ndarray:
        """Which found issues a member of the issue's lead department settles on the spot."""
        m = self.model
        iss = m.issues
        town, lead = iss.grid_l1[rows], m.layout.unit_department[iss.lead_department[rows]]
        total = np.maximum(self.members.sum(axis=1)[town], 1)
        share = self.members[town, lead] / total      # chance the finder is from that department
        u, u_pow = m.streams["triage"].random(len(rows)), m.streams["triage"].random(len(rows))
        w = m.scenario_spec.work_teams
        allowed = (iss.severity[rows] == 0) | ((iss.severity[rows] == 1) & (u_pow < w.powers))
        ok = (u < share) & allowed
        hrs = iss.hours[rows[ok]]
        np.add.at(self.hours_settling, town[ok], hrs)
        return ok
