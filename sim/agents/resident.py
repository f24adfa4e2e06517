"""Residents (群众): buildings or micro-grids of households, with or without an organiser.

Each :class:`Resident` agent stands for a building (town) or a micro-grid of households
(village) and carries its weight, the people it represents. Issues arise among them; they
report them through their organiser (楼栋长 / 联户代表) to the grid, or straight to the 12345
hotline, with a propensity that rises with their trust; organised residents settle a share of
minor issues themselves (自治); they rate closures, and their trust moves with the ratings.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from mesa import Agent

from sim import bookkeeping, libm
from sim.compiled import compile_kernel, per_issue
from sim.issues import Channel, FoundBy, SettledBy, Status

if TYPE_CHECKING:
    from sim.model import GridModel


def guide_table(cum: np.ndarray) -> np.ndarray:
    """For :func:`search_right`: where the values k·total/len(cum) fall in ``cum``."""
    if len(cum) == 0 or not cum[-1] > 0:
        return np.empty(0, dtype=np.int64)
    guide = np.searchsorted(cum, np.arange(len(cum) + 1) * (cum[-1] / len(cum)), side="right")
    guide[-1] = len(cum)            # the last bound, whatever the rounding of n · (total / n)
    return guide


def search_right(cum: np.ndarray, guide: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``np.searchsorted(cum, x, side="right")`` for 0 <= x < cum[-1], through a guide table.

    A city has ~720,000 cells: a plain binary search misses the cache at most of its 20 steps.
    The guide narrows each search to a few cells around x's equal-width bucket (widened by a
    bucket on each side against rounding), then a binary search finishes it: per value in a
    loop compiled with numba (:func:`_search_right_loop`), or vectorised in numpy
    (:func:`_search_right_numpy`) without numba. Either gives searchsorted's result.
    """
    if len(guide) == 0 or len(x) == 0:
        return np.searchsorted(cum, x, side="right")
    if _search_compiled is not None:
        return _search_compiled(cum, guide, x)
    return _search_right_numpy(cum, guide, x)


def _search_right_numpy(cum: np.ndarray, guide: np.ndarray, x: np.ndarray) -> np.ndarray:
    n = len(cum)
    j = np.minimum((x * (n / cum[-1])).astype(np.int64), n - 1)
    lo, hi = guide[np.maximum(j - 1, 0)], guide[np.minimum(j + 2, n)]
    while True:                               # the first index in [lo, hi) with cum > x
        active = lo < hi
        if not active.any():
            return lo
        mid = (lo + hi) >> 1
        up = cum[np.minimum(mid, n - 1)] <= x
        lo = np.where(active & up, mid + 1, lo)
        hi = np.where(active & ~up, mid, hi)


def _search_right_loop(cum: np.ndarray, guide: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The same search, value by value."""
    n = len(cum)
    scale = n / cum[-1]
    out = np.empty(len(x), dtype=np.int64)
    for i in range(len(x)):
        j = min(int(x[i] * scale), n - 1)
        lo, hi = guide[max(j - 1, 0)], guide[min(j + 2, n)]
        while lo < hi:
            mid = (lo + hi) >> 1
            if cum[mid] <= x[i]:
                lo = mid + 1
            else:
                hi = mid
        out[i] = lo
    return out


_search_compiled = compile_kernel(_search_right_loop)


# the issue columns :func:`_attributes` writes, in order
ATTRIBUTES = ("category", "severity", "resident", "grid_l3", "grid_l2", "grid_l1", "hours",
              "deadline", "responsible", "lead_department", "co_department", "ambiguous",
              "collective")


def _attributes(cell: np.ndarray, n_cat: int, u_sev: np.ndarray, u_terr: np.ndarray,
                u_amb: np.ndarray, u_col: np.ndarray, factor: np.ndarray, minor: np.ndarray,
                major: np.ndarray, cat_hours: np.ndarray, severity_hours: np.ndarray,
                max_work_factor: float, territorial: np.ndarray, outside: np.ndarray,
                lead_dep: np.ndarray, co_dep: np.ndarray, ambiguous: np.ndarray,
                collective: np.ndarray, deadline: np.ndarray, place: np.ndarray,
                townships_per_district: int,
                line_unit: np.ndarray, n_departments: int, first: int, out_cat: np.ndarray,
                out_sev: np.ndarray, who: np.ndarray, g3: np.ndarray, g2: np.ndarray,
                town: np.ndarray, hours: np.ndarray, dl: np.ndarray, resp: np.ndarray,
                lead: np.ndarray, co: np.ndarray, amb: np.ndarray, col: np.ndarray) -> None:
    """New issues' attributes (the columns :data:`ATTRIBUTES`, from ``out_cat`` on) from their
    (resident, category) cells and their draws, issue by issue, written straight into the
    issue table's columns from row ``first``: the operations of
    :meth:`Residents._attributes_numpy`, whose results they equal (tests/test_hazards.py)."""
    last = n_cat * len(place) - 1
    for i in range(len(cell)):
        r = first + i
        k = min(cell[i], last)
        w, c = k // n_cat, k % n_cat
        sev = 0 if u_sev[i] < minor[c] else (1 if u_sev[i] < 1.0 - major[c] else 2)
        mean = cat_hours[c] * severity_hours[sev]
        hours[r] = min(mean * factor[i], max_work_factor * mean)
        t, g3[r], g2[r] = place[w, 0], place[w, 1], place[w, 2]
        d = t // townships_per_district
        lead[r] = line_unit[d, lead_dep[c]]
        co[r] = line_unit[d, co_dep[c]] if co_dep[c] >= 0 else -1
        terr = u_terr[i] < territorial[c] and not outside[c]
        resp[r] = n_departments + t if terr else lead[r]
        out_cat[r], out_sev[r], who[r], town[r] = c, sev, w, t
        dl[r] = deadline[c]
        amb[r], col[r] = u_amb[i] < ambiguous[c], u_col[i] < collective[c]


_attributes_compiled = compile_kernel(_attributes)


def _closed_loop(rows: np.ndarray, t: np.ndarray, u_res: np.ndarray, u_ver: np.ndarray,
                 noise: np.ndarray, quality: np.ndarray, took: np.ndarray, rated: np.ndarray,
                 deadline: np.ndarray, lateness_penalty: float, unresolved: float,
                 verify_share: float, resolved: np.ndarray, closed: np.ndarray,
                 satisfaction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:meth:`Residents.see_closed`, issue by issue (``took``, ``noise``: for the rated ones,
    in order). Returns the ratings and each closure's fate."""
    sat = np.empty(len(took))
    fate = np.zeros(len(rows), dtype=np.int8)
    j = 0
    for i in range(len(rows)):
        r = rows[i]
        ok = u_res[i] < quality[i]
        resolved[r] = 1 if ok else 0
        closed[r] = t[i]
        if rated[i]:
            if ok:
                late = took[j] / deadline[r] - 1.0
                late = 0.0 if late < 0.0 else (1.0 if late > 1.0 else late)   # nan stays nan
                x = 1.0 - lateness_penalty * late
            else:
                x = unresolved
            x = x + noise[j]
            sat[j] = 0.0 if x < 0.0 else (1.0 if x > 1.0 else x)
            satisfaction[r] = sat[j]
            j += 1
        if not ok:
            fate[i] = REOPEN if u_ver[i] < verify_share else LEFT
    return sat, fate


def _routes_loop(rows: np.ndarray, u1: np.ndarray, u2: np.ndarray, resident: np.ndarray,
                 severity: np.ndarray, organised: np.ndarray, self_settle_share: float,
                 hotline_organised: float, hotline: float, found_by: np.ndarray,
                 channel: np.ndarray) -> np.ndarray:
    """:meth:`Residents.route_reports`, which also marks who found each issue and its channel."""
    route = np.empty(len(rows), dtype=np.int8)
    for i in range(len(rows)):
        r = rows[i]
        org = organised[resident[r]]
        if org and severity[r] == 0 and u1[i] < self_settle_share:
            route[i] = 0
        elif u2[i] < (hotline_organised if org else hotline):
            route[i] = 1
        else:
            route[i] = 2
        found_by[r] = ORGANISER if org else RESIDENT
        channel[r] = HOTLINE if route[i] == 1 else GRID
    return route


ORGANISER, RESIDENT = int(FoundBy.ORGANISER), int(FoundBy.RESIDENT)    # ints for compiled code
HOTLINE, GRID = int(Channel.HOTLINE), int(Channel.GRID)
def _learn_loop(who: np.ndarray, sat: np.ndarray, k: np.ndarray, keep: np.ndarray,
                trust: np.ndarray) -> None:
    """:meth:`Residents.update_trust` for the ``k`` ratings ``sat`` of each resident ``who``
    (summed in order, as ``np.bincount`` does); ``keep[j]``: the weight of old trust after
    j ratings."""
    total = np.zeros(len(trust))
    for i in range(len(who)):
        total[who[i]] += sat[i]
    for r in range(len(trust)):
        if k[r] > 0:
            w = keep[k[r]]
            trust[r] = w * trust[r] + (1 - w) * total[r] / k[r]


_learn = per_issue(_learn_loop)
_routes = per_issue(_routes_loop)
REOPEN, LEFT = 1, 2          # the fates of an unresolved closure (:meth:`Residents.see_closed`)
_closed = per_issue(_closed_loop, error_model="numpy")     # x / 0: inf or nan, as numpy


class Resident(Agent):
    """One building or micro-grid. State lives in :class:`Residents` arrays at ``index``."""

    def __init__(self, model: GridModel, index: int):
        super().__init__(model)
        self.index = index

    @property
    def trust(self) -> float:
        return float(self.model.residents.trust[self.index])

    @property
    def weight(self) -> float:
        return float(self.model.residents.weight[self.index])

    @property
    def organised(self) -> bool:
        return bool(self.model.residents.organised[self.index])


class Residents:
    """All residents as arrays, and their vectorised behaviour."""

    def __init__(self, model: GridModel):
        sc = model.scenario_spec
        d, r = sc.district, sc.residents
        rng = model.streams["population"]
        self.model = model
        n = sc.n_grids * d.resident_agents_per_grid
        self.grid = np.arange(n) // d.resident_agents_per_grid
        self.village = sc.village_of_grid()[self.grid]
        self.township = self.village // d.villages_per_township
        # the first townships of every district are its urban ones
        urban_towns = np.arange(sc.n_townships) % d.townships < round(d.urban_share * d.townships)
        self.urban = urban_towns[self.township]
        # the three looked up together for each new issue: one row each (one cache line)
        self.place = np.stack([self.township, self.grid, self.village], axis=1)
        w = rng.lognormal(0.0, d.building_size_sd, n)     # buildings differ in size
        self.weight = w / w.sum() * sc.population
        coverage = np.where(self.urban, r.organiser_coverage_urban, r.organiser_coverage_rural)
        self.organised = rng.random(n) < coverage
        self.trust = np.full(n, r.initial_trust)
        self._ratings: list[tuple[np.ndarray, np.ndarray]] = []
        cats = sc.categories
        self.cat_rate = np.array([c.rate for c in cats]) / 1000.0 / 365.0
        self._cum_rates: dict[bool, tuple[np.ndarray, np.ndarray]] = {}
        self.satisfaction_today = np.nan
        self.agents = Resident.create_agents(model, n, index=list(range(n)))

    # --- issues arise ------------------------------------------------------------------------
    def raise_issues(self, day: int) -> None:
        """Issues arise (Poisson, per-capita rate by category) and start hidden; during a surge
        extra issues arise from a stream of their own, so the usual arrivals stay the same."""
        surge = self.model.scenario_spec.residents
        self._arise(day, self.model.streams["arrivals"], 1.0)
        if self.model.surge_on(day):
            self._arise(day, self.model.streams["surge"], surge.surge_factor - 1.0)

    def _arise(self, day: int, rng: np.random.Generator, scale: float) -> None:
        m, sc = self.model, self.model.scenario_spec
        # A Poisson total split over (resident, category) cells by their rates is the same as
        # independent Poisson counts per cell, and costs in proportion to the issues.
        cum_rate, guide = self._cum_rate(day)
        total_rate = float(cum_rate[-1]) if len(cum_rate) else 0.0
        n = rng.poisson(total_rate * scale)
        # Six uniforms per issue, as six arrays in turn (one call: the same numbers): its cell,
        # its time, severity, territoriality, ambiguity and collectiveness. Attribute draws
        # are the same whatever the policy: common random numbers.
        u_cell, u_t, u_sev, u_terr, u_amb, u_col = rng.random((6, n))
        cell = search_right(cum_rate, guide, u_cell * total_rate)
        t = day + u_t
        z, e = rng.standard_normal(n), rng.standard_exponential(n)
        if n == 0:
            return
        u = sc.units
        if u.service == "exponential":
            factor = e                          # work content: the category's mean × factor
        else:
            s2 = math.log1p(u.service_cv**2)
            factor = libm.exp(np.sqrt(s2) * z - s2 / 2)
        if _attributes_compiled is not None:
            c = m.category_arrays
            rows = m.issues.add(n, created=t, entered=t)
            _attributes_compiled(
                cell, len(self.cat_rate), u_sev, u_terr, u_amb, u_col, factor, c["minor"],
                c["major"], c["hours"], np.asarray(u.severity_hours, dtype=float),
                u.max_work_factor, c["territorial"], c["outside"], c["lead"], c["co"],
                c["ambiguous"], c["collective"], c["deadline"], self.place,
                m.layout.townships_per_district, m.layout.line_unit,
                m.n_departments, int(rows[0]), *(m.issues.cols[k] for k in ATTRIBUTES))
        else:
            rows = self._attributes_numpy(cell, u_sev, u_terr, u_amb, u_col, factor, t)
        m.arrive(rows, t)

    def _attributes_numpy(self, cell: np.ndarray, u_sev: np.ndarray, u_terr: np.ndarray,
                          u_amb: np.ndarray, u_col: np.ndarray, factor: np.ndarray,
                          t: np.ndarray) -> np.ndarray:
        """New issues' attributes from their cells and draws, added to the table: numpy's
        version of :func:`_attributes` (without numba)."""
        m, u = self.model, self.model.scenario_spec.units
        cell = np.minimum(cell, len(self.cat_rate) * len(self.weight) - 1)
        who, cat = np.divmod(cell, len(self.cat_rate))
        c = m.category_arrays
        severity = np.where(u_sev < c["minor"][cat], 0,
                            np.where(u_sev < 1.0 - c["major"][cat], 1, 2)).astype(np.int8)
        mean = c["hours"][cat] * np.asarray(u.severity_hours)[severity]
        hours = np.minimum(mean * factor, u.max_work_factor * mean)
        # a utility outside the grid answers for its own issues; otherwise 属地 applies
        territorial = (u_terr < c["territorial"][cat]) & ~c["outside"][cat]
        town = self.township[who]
        district = m.layout.district_of(town)            # whose departments handle it
        lead = m.layout.line_unit[district, c["lead"][cat]]
        co_dep = c["co"][cat]
        co = np.where(co_dep >= 0, m.layout.line_unit[district, np.maximum(co_dep, 0)], -1)
        responsible = np.where(territorial, m.n_departments + town, lead)
        return m.issues.add(
            len(cell), category=cat, severity=severity, resident=who, grid_l3=self.grid[who],
            grid_l2=self.village[who], grid_l1=town, hours=hours,
            deadline=c["deadline"][cat], responsible=responsible, lead_department=lead,
            co_department=co, ambiguous=u_amb < c["ambiguous"][cat],
            collective=u_col < c["collective"][cat], created=t, entered=t)

    def _cum_rate(self, day: int) -> tuple[np.ndarray, np.ndarray]:
        """Cumulative daily rates over (resident, category) cells, in or out of heating season,
        and their guide table (:func:`search_right`)."""
        sc = self.model.scenario_spec
        ps = sc.public_services
        doy = (sc.run.start_day_of_year - 1 + day) % 365 + 1
        season = (doy >= ps.heating_start or doy <= ps.heating_end) \
            if ps.heating_start > ps.heating_end else ps.heating_start <= doy <= ps.heating_end
        if season not in self._cum_rates:
            factor = np.where(self.model.category_arrays["heating"] & season,
                              ps.heating_factor, 1.0)
            cells = self.weight[:, None] * (self.cat_rate * factor)[None, :]
            cum = np.cumsum(cells.ravel())
            self._cum_rates[season] = cum, guide_table(cum)
        return self._cum_rates[season]

    # --- grievances ------------------------------------------------------------------------
    def escalate(self, day: int) -> tuple[np.ndarray, np.ndarray]:
        """Unresolved grievances escalate: residents petition (信访); collective ones may turn
        into collective incidents. Returns the rows newly petitioned and newly in an incident.
        """
        m = self.model
        g = m.scenario_spec.grievances
        iss = m.issues
        rows = bookkeeping.selection().aged_rows(iss.status, iss.severity, iss.created,
                                                 float(day - g.grievance_days),
                                                 int(Status.CLOSED))
        rng = m.streams["grievance"]
        u_pet, u_inc = rng.random(len(rows)), rng.random(len(rows))
        if len(rows) == 0:
            return rows, rows
        calm = 1.0 - g.petition_trust_effect * self.trust[iss.resident[rows]]
        pet = np.isnan(iss.petitioned[rows]) & (u_pet < 1.0 - libm.exp(-g.petition_rate * calm))
        inc = iss.collective[rows] & np.isnan(iss.incident[rows]) & \
            (u_inc < 1.0 - libm.exp(-g.incident_rate * calm))
        return rows[pet], rows[inc]

    def petition_after_closure(self, rows: np.ndarray) -> np.ndarray:
        """Which unresolved, unreopened closures lead residents to petition (mask)."""
        m = self.model
        g = m.scenario_spec.grievances
        calm = 1.0 - g.petition_trust_effect * self.trust[m.issues.resident[rows]]
        u = m.streams["grievance"].random(len(rows))
        return u < g.petition_after_bad_closure * calm

    # --- reporting -------------------------------------------------------------------------
    def volunteer_hazard(self) -> float:
        """Daily hazard that a volunteer reports a hidden issue in the grid."""
        r = self.model.scenario_spec.residents
        return r.volunteers_per_grid * r.volunteer_find_rate

    def report_hazards(self) -> np.ndarray:
        """Daily hazard that each resident reports a hidden issue of theirs; rises with trust."""
        r = self.model.scenario_spec.residents
        factor = r.report_trust_floor + (1 - r.report_trust_floor) * self.trust
        return np.where(factor > 0, r.report_rate * factor, 0.0)

    def route_reports(self, rows: np.ndarray) -> np.ndarray:
        """Route residents' reports: organisers settle a share of minor issues themselves (0),
        the rest go to the hotline (1) or to the grid (2), with the hotline share of organised
        or unorganised residents. Returns the route of each of ``rows``."""
        m, r = self.model, self.model.scenario_spec.residents
        iss = m.issues
        rng = m.streams["triage"]
        u1, u2 = rng.random(len(rows)), rng.random(len(rows))
        return _routes(rows, u1, u2, iss.resident, iss.severity, self.organised,
                       r.self_settle_share, r.hotline_share_organised, r.hotline_share,
                       iss.found_by, iss.channel)

    # --- rating ----------------------------------------------------------------------------
    def see_closed(self, rows: np.ndarray, t: np.ndarray, quality: np.ndarray,
                   took: np.ndarray | None) -> np.ndarray:
        """What residents see of closures at ``t``: whether each truly resolved the issue (with
        chance ``quality``); their rating of those the system closed (not their own), from
        ``took`` working days after the report (counted here when None); and which unresolved
        ones they check and have reopened (``REOPEN``) or leave (``LEFT``): returned, 0 for
        the resolved. Their trust moves at the end of the day.

        A resolved issue rates 1, less ``lateness_penalty`` times its lateness (working days
        past its deadline, as a share of the deadline, at most 1); an unresolved one
        ``unresolved_satisfaction``; plus noise, within [0, 1].
        """
        m, r = self.model, self.model.scenario_spec.residents
        iss = m.issues
        rng = m.streams["rating"]
        u_res, u_ver = rng.random(len(rows)), rng.random(len(rows))
        rated = iss.settled_by[rows] != SettledBy.RESIDENTS
        took = m.working_days(rows[rated], t[rated]) if took is None else took[rated]
        noise = rng.normal(0.0, 1.0, len(took)) * r.rating_noise
        sat, fate = _closed(rows, t, u_res, u_ver, noise, quality, took, rated, iss.deadline,
                            r.lateness_penalty, r.unresolved_satisfaction, r.verify_share,
                            iss.resolved, iss.closed, iss.satisfaction)
        self._ratings.append((iss.resident[rows[rated]], sat))
        return fate

    def _gain_trust(self, gain: float, hours: np.ndarray, where: np.ndarray) -> None:
        """Time spent for residents closes ``gain`` × hours of their gap to full trust;
        ``hours`` by grid or township, ``where`` each resident's (every one has residents)."""
        if gain > 0 and hours.any():
            self.trust += (1.0 - self.trust) * np.minimum(gain * hours[where], 1.0)

    def update_trust(self) -> None:
        """Trust moves towards the day's ratings: k ratings weigh 1 - (1 - rate)^k."""
        m = self.model
        # services by grid leaders (办实事) and work teams' help for the needy (帮扶)
        self._gain_trust(m.scenario_spec.grid_leaders.service_trust_gain,
                         m.grid_leaders.service, self.grid)
        self._gain_trust(m.scenario_spec.work_teams.help_trust_gain,
                         m.work_teams.help_per_grid(), self.township)
        self.satisfaction_today = np.nan      # mean rating of the day's closures (dashboard)
        if not self._ratings:
            return
        lr = self.model.scenario_spec.residents.trust_learning_rate
        who = np.concatenate([w for w, _ in self._ratings])
        sat = np.concatenate([x for _, x in self._ratings])
        self._ratings.clear()
        if not len(sat):
            return
        self.satisfaction_today = float(sat.mean())
        k = np.bincount(who, minlength=len(self.trust))
        keep = libm.powers(1.0 - lr, k.max() + 1)        # a few powers, looked up
        _learn(who, sat, k, keep, self.trust)
