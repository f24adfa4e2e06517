"""GridModel: a district's or a city's grid governance (网格化管理), one day per step.

Where the model comes from: Wang Zhang's March 2013 speech on Zhengzhou's "坚持依靠群众推进工作
落实" long-term mechanism (the seed), read with the published figures and queueing theory in
``docs/ODD.md``. Residents, three levels of grid leaders, work teams, departments and platforms are
Mesa agents (``sim/agents/``); issues are rows of columnar arrays (``sim/issues.py``). A city
is several districts under a city platform (``sim/layout.py``).

A day follows an issue's path: issues arise among residents; grid leaders settle what they hold
and patrol; hidden issues are reported, found or lapse; the grid settles or passes up; platforms
take in, dispatch, re-dispatch and rule; units screen, accept or pass back, and serve; closures
are rated and may be reopened. Every transition carries its continuous time stamp.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from mesa import Model
from mesa.datacollection import DataCollector

from sim import bookkeeping
from sim.agents import GridLeaders, Platforms, Residents, Units, WorkTeams
from sim.agents.resident import LEFT, REOPEN
from sim.calendar import WorkingCalendar
from sim.hazards import DiscoveryHazards, discovery_events
from sim.issues import Channel, Event, EventLog, FoundBy, IssueTable, SettledBy, Status
from sim.layout import Layout
from sim.scenario import GridScenario, ScenarioError, resolve
from sim.streams import Streams


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while the agents are made. A city makes
    ~92,000 Mesa agents, and every 700 new objects would start a collection, the
    later ones over every object made so far: 0.25–0.5 s of a city's construction, with
    nothing to free. Collections resume afterwards as before."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def transition(method: Callable[..., None]) -> Callable[..., None]:
    """A transition of ``rows``: with no rows it does nothing (and draws no random numbers),
    so the many empty subsets of a day cost one check instead of a dozen numpy calls."""
    @functools.wraps(method)
    def skipping_empty(self: GridModel, rows: np.ndarray, *args: Any) -> None:
        if len(rows):
            method(self, rows, *args)
    return skipping_empty


PLATFORM = int(Status.PLATFORM)      # for compiled code: an int, not an enum

MESA_REPORTERS = ("open_total", "open_hidden", "closed", "rejections", "rulings",
                  "leader_overload_share", "trust_mean")


class GridModel(Model):
    """Grid governance of a district (or a city of districts), one day per step.

    Args:
        scenario: a :class:`~sim.scenario.GridScenario`, a scenario name or a TOML path
            (default: ``baseline``).
        seed: root seed (default: the scenario's ``run.seed``, so that a model built twice
            runs the same: give replications their own seeds). ``rng=`` (Mesa's name) takes
            the same integer.
        record_events: keep the per-transition event log (needed for ``events.parquet``).
        **overrides: flat parameter overrides, ``section__key=value`` (Mesa's batch tools) or
            ``{"section.key": value}``; validated like the scenario file.

    Step it (``model.step()``, ``model.run()``), then :func:`sim.api.collect` makes its
    tables and summary, as ``gridsim run`` writes them.
    """

    def __init__(self, scenario: GridScenario | str | None = None, *, seed: int | None = None,
                 rng: int | None = None, record_events: bool = True, **overrides: Any):
        if rng is not None and seed is not None and rng != seed:
            raise ScenarioError("GridModel", "rng", "give seed or rng, not both")
        seed = seed if seed is not None else rng
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)
                                 or seed < 0):
            raise ScenarioError("GridModel", "seed", f"must be a non-negative integer (the "
                                f"root of the model's SeedSequence), got {seed!r}")
        spec = resolve(scenario or "baseline", overrides)
        if seed is not None:                      # the seed is part of the scenario it runs
            spec = spec.model_copy(update={"run": spec.run.model_copy(update={"seed": int(seed)})})
        self.scenario_spec = spec
        self.seed_value = spec.run.seed
        self.streams = Streams(self.seed_value)
        super().__init__(rng=self.streams["mesa"])
        self.day = 0
        self.issues = IssueTable()
        self.events = EventLog(enabled=record_events)
        self.event_counts = np.zeros(len(Event), dtype=np.int64)
        self.flow = {"discovered": 0, "reported": 0}
        # for day-average stocks: sum over today's entries/exits of (end of day - time)
        self.area_in = np.zeros(len(Status))
        self.area_out = np.zeros(len(Status))
        self.stock_start = np.zeros(len(Status), dtype=np.int64)
        horizon = spec.run.days + 30
        self.office_calendar = WorkingCalendar(spec.office_calendar, spec.run.start_weekday,
                                               horizon)
        self.grid_calendar = WorkingCalendar(spec.grid_calendar, spec.run.start_weekday, horizon)
        self.platform_calendar = WorkingCalendar(spec.platform_calendar, spec.run.start_weekday,
                                                 horizon)
        self.hotline_calendar = WorkingCalendar(spec.hotline_calendar, spec.run.start_weekday,
                                                horizon)
        self._category_arrays(spec)
        names = [c.name for c in spec.categories]
        chosen = spec.campaign.categories or names
        self.campaign_targets = np.isin(names, chosen)
        leads = self.layout.line_unit[:, self.category_arrays["lead"][self.campaign_targets]]
        self.campaign_units = sorted({int(u) for u in leads.ravel()}
                                     | set(range(self.n_departments, self.n_units)))
        self.actor_residents = self.events.actor("residents")
        self.actor_review = self.events.actor("joint_review")
        self.actor_campaign = self.events.actor("campaign")
        self.actor_grid = {3: self.events.actor("grid_leader:level3"),
                           2: self.events.actor("grid_leader:level2")}
        with collector_paused():
            self.residents = Residents(self)
            self.grid_leaders = GridLeaders(self)
            self.work_teams = WorkTeams(self)
            self.actor_team = np.array([self.events.actor(f"work_team:township_{t:02d}")
                                        for t in range(spec.n_townships)], dtype=np.int32)
            self.units = Units(self)
            self.platforms = Platforms(self)
        # nodes: where an issue can be, for stocks and Little's law per platform, unit and level
        self.nodes = (["hidden", "settling", "grid_l3", "grid_l2"]
                      + [f"platform:{p.name}" for p in self.platforms.agents]
                      + [f"{a.kind}:{a.name}" for a in self.units.agents])
        self.first_platform_node = 4
        self.first_unit_node = 4 + len(self.platforms.agents)
        self.node_area = np.zeros(len(self.nodes))        # today's (in - out) time-weighted
        self._no_rows, self._no_times = np.empty(0, dtype=np.int16), np.empty(0)
        self._no_status = np.empty(0, dtype=np.int8)
        self.node_stock_start = np.zeros(len(self.nodes), dtype=np.int64)
        self.node_daily: list[tuple[np.ndarray, np.ndarray]] = []   # (day-average, end) stocks
        self.daily: list[dict[str, float]] = []
        self.snapshots: list[dict[str, Any]] = []   # columns, one per agent type and snapshot
        # For Mesa's own tools (batch_run, SolaraViz): a few of the daily figures.
        self.datacollector = DataCollector(model_reporters={
            key: (lambda m, k=key: m.daily[-1][k] if m.daily else 0.0)
            for key in MESA_REPORTERS})

    def _category_arrays(self, spec: GridScenario) -> None:
        dep = {d.name: i for i, d in enumerate(spec.departments)}
        cats = spec.categories
        self.layout = Layout.of(spec)
        self.n_departments = self.layout.n_line      # line units: departments of all districts
        self.n_units = self.layout.n_units
        self.category_arrays = {
            "rate": np.array([c.rate for c in cats]),
            "minor": np.array([c.minor_share for c in cats]),
            "major": np.array([c.major_share for c in cats]),
            "hours": np.array([c.hours for c in cats]),
            "deadline": np.array([c.deadline_days for c in cats]),
            "lead": np.array([dep[c.lead] for c in cats], dtype=np.int16),
            "co": np.array([dep[c.co] if c.co else -1 for c in cats], dtype=np.int16),
            "territorial": np.array([c.territorial_share for c in cats]),
            "ambiguous": np.minimum(np.array([c.ambiguous_share for c in cats])
                                    * spec.duties.ambiguity_factor, 1.0),
            "collective": np.array([c.collective_share for c in cats]),
            "heating": np.array([c.heating for c in cats]),
            # outside the grid: utilities' issues are not the grid's to find or dispatch
            "outside": np.array([c.utility and not spec.public_services.in_grid for c in cats]),
        }

    # =========================================================================================
    # The day
    def step(self) -> None:
        """One day in the life of the district's issues."""
        day = self.day
        self.escalate(day)                    # old grievances: petitions, collective incidents
        self.joint_review(day)                # departments and townships settle disputes
        self.campaign(day)                    # a concentrated campaign may start today
        self.residents.raise_issues(day)      # issues arise among residents, hidden at first
        self.grid_leaders.plan_day(day)       # leaders settle what they hold, then patrol
        self.work_teams.plan_day(day)         # work-team members spend their hours in the area
        self.discover(day)                    # hidden issues are reported, found or lapse
        self.advance(day + 1.0)               # platforms, units and closures, in time order
        self.residents.update_trust()         # the day's ratings move residents' trust
        self.units.evaluate(day)              # 考核: units adapt to how they are evaluated
        self.record(day)
        self.events.flush(day + 1.0)          # when streaming: transitions to disk
        self.datacollector.collect(self)
        self.issues.compact(0.5, 4096)        # finished issues leave the working arrays
        self.day += 1

    def run(self, days: int | None = None, progress: Any = None) -> None:
        """Run ``days`` steps (default: the scenario's ``run.days``)."""
        for _ in range(days if days is not None else self.scenario_spec.run.days):
            self.step()
            if progress is not None:
                progress.update(1)

    # =========================================================================================
    # Discovery: competing hazards on the hidden stock
    def discover(self, day: int) -> None:
        """Hidden issues are reported by residents, found on patrol or by a work team, or lapse."""
        iss = self.issues
        rows = np.flatnonzero(iss.status == Status.HIDDEN)
        if len(rows) == 0:
            return
        # competing hazards, in this order: report by residents, patrol, work team, volunteer,
        # campaign sweep, lapse; each as its agents see it today, by resident, grid, township
        # or category (the grid does not look at issues outside it)
        hazards = DiscoveryHazards(
            self.residents.report_hazards(), self.grid_leaders.find_hazards(),
            self.work_teams.find_hazards(), self.residents.volunteer_hazard(),
            self.sweep_hazards(day), self.scenario_spec.residents.lapse_rate,
            ~self.category_arrays["outside"])
        rng = self.streams["discovery"]
        e, u = rng.standard_exponential(len(rows)), rng.random(len(rows))
        hit, t, cause = discovery_events(hazards, rows, iss.created, iss.resident, iss.grid_l3,
                                         iss.grid_l1, iss.category, e, u, day)
        rows = rows[hit]

        lapse = cause == 5
        if lapse.any():
            self.move(rows[lapse], t[lapse], Event.LAPSE, Status.LAPSED, self.actor_residents)
        known, tk, ck = rows[~lapse], t[~lapse], cause[~lapse]
        iss.discovered[known] = tk
        self.flow["discovered"] += len(known)
        # by cause, in this order; most days most causes find nothing
        found = np.bincount(ck, minlength=5)
        for k, handler in enumerate((self.residents_report, self.patrol_finds,
                                     self.work_team_finds, self.volunteer_reports,
                                     self.campaign_finds)):
            if found[k]:
                by = ck == k
                handler(known[by], tk[by])

    def patrol_finds(self, rows: np.ndarray, t: np.ndarray) -> None:
        """A level-3 leader finds issues on patrol (巡查) and takes them."""
        self.issues.found_by[rows] = FoundBy.GRID_LEADER
        self.log(rows, t, Event.DISCOVER, Status.HIDDEN, self.actor_grid[3])
        self.level3_takes(rows, t)

    def volunteer_reports(self, rows: np.ndarray, t: np.ndarray) -> None:
        """A volunteer reports issues to the level-3 leader."""
        self.issues.found_by[rows] = FoundBy.VOLUNTEER
        self.log(rows, t, Event.REPORT, Status.HIDDEN, self.actor_residents)
        self.level3_takes(rows, t)

    def campaign_finds(self, rows: np.ndarray, t: np.ndarray) -> None:
        """A campaign's sweep finds issues and takes them to the township platform."""
        iss = self.issues
        iss.found_by[rows] = FoundBy.CAMPAIGN
        iss.channel[rows] = Channel.GRID
        self.to_platform(rows, t, self.township_platform(rows), Event.DISCOVER,
                         self.actor_campaign)

    def escalate(self, day: int) -> None:
        """Petitions and collective incidents about old grievances, at the start of the day.

        A grievance nobody had reported comes to light and goes to the district platform.
        """
        iss = self.issues
        pet, inc = self.residents.escalate(day)
        if not len(pet) and not len(inc):
            return
        t0 = float(day)
        iss.petitioned[pet] = t0
        iss.incident[inc] = t0
        self.log(pet, np.full(len(pet), t0), Event.PETITION, iss.status[pet],
                 self.actor_residents)
        self.log(inc, np.full(len(inc), t0), Event.INCIDENT, iss.status[inc],
                 self.actor_residents)
        both = np.union1d(pet, inc)
        hidden = both[iss.status[both] == Status.HIDDEN]
        iss.discovered[hidden] = t0
        iss.found_by[hidden] = FoundBy.PETITION
        iss.channel[hidden] = Channel.PETITION
        self.flow["discovered"] += len(hidden)
        self.to_platform(hidden, np.full(len(hidden), t0), self.district_platform(hidden),
                         Event.REPORT, self.actor_residents)

    def joint_review(self, day: int) -> None:
        """Every N days departments and townships meet (定期研判、会商) and settle who handles
        disputed issues (passed back at least once) and stuck ones (open too long)."""
        p = self.scenario_spec.platform
        if p.joint_review_days == 0 or day % p.joint_review_days or day == 0:
            return
        iss = self.issues
        at = (iss.status >= Status.PLATFORM) & (iss.status <= Status.SCREENING) & ~iss.bound
        stuck = day - iss.reported > p.stuck_days
        rows = np.flatnonzero(at & ((iss.rejections >= 1) | stuck))
        iss.bound[rows] = True
        iss.ruled[rows] = True
        self.log(rows, np.full(len(rows), float(day)), Event.RULE, iss.status[rows],
                 self.actor_review)

    def surge_on(self, day: int) -> bool:
        """Whether a demand surge (``residents.surge_days``) runs on ``day``."""
        r = self.scenario_spec.residents
        return r.surge_start_day <= day < r.surge_start_day + r.surge_days

    def campaign_on(self, day: int) -> bool:
        """Whether a concentrated campaign (集中整治) runs on ``day``."""
        c = self.scenario_spec.campaign
        if c.days == 0 or day < c.start_day:
            return False
        since = day - c.start_day
        return (since % c.every if c.every else since) < c.days

    def campaign(self, day: int) -> None:
        """On a campaign's first day, extra staff join the target units for its length."""
        c = self.scenario_spec.campaign
        since = day - c.start_day
        if c.days == 0 or since < 0 or (since % c.every if c.every else since) != 0:
            return
        if c.extra_staff:
            for k in self.campaign_units:
                self.units.pools.add_temporary(k, c.extra_staff, float(day), float(day + c.days))

    def sweep_hazards(self, day: int) -> np.ndarray:
        """Daily hazard, by category, that a campaign's sweep finds a hidden issue."""
        if not self.campaign_on(day):
            return np.zeros(len(self.campaign_targets))
        return np.where(self.campaign_targets, self.scenario_spec.campaign.sweep_find_rate, 0.0)

    @transition
    def residents_report(self, rows: np.ndarray, t: np.ndarray) -> None:
        """Residents report: organisers settle minor ones (自治); the rest go to grid or hotline."""
        iss = self.issues
        direct = self.category_arrays["outside"][iss.category[rows]]
        if direct.any():
            self.call_utility(rows[direct], t[direct])
            rows, t = rows[~direct], t[~direct]
        route = self.residents.route_reports(rows)
        hotline = route == 1
        if not hotline.all():
            self.log(rows[~hotline], t[~hotline], Event.REPORT, Status.HIDDEN,
                     self.actor_residents)
        settle = route == 0
        if settle.any():
            self.self_settle(rows[settle], t[settle])
        self.to_platform(rows[hotline], t[hotline], self.district_platform(rows[hotline]),
                         Event.REPORT, self.actor_residents)
        grid = route == 2
        if grid.any():
            self.level3_takes(rows[grid], t[grid])

    def self_settle(self, rows: np.ndarray, t: np.ndarray) -> None:
        """Organised residents settle a minor issue themselves (自治), in a few days."""
        days = self.scenario_spec.residents.self_settle_days
        done = t + self.streams["triage"].standard_exponential(len(rows)) * days
        self.issues.settled_by[rows] = SettledBy.RESIDENTS
        self.move(rows, t, Event.SELF_SETTLE, Status.SETTLING, self.actor_residents, done)

    @transition
    def call_utility(self, rows: np.ndarray, t: np.ndarray) -> None:
        """Outside the grid, residents call the utility itself, which screens the issue; what it
        passes back, residents take to the 12345 hotline (the district platform)."""
        iss = self.issues
        organised = self.residents.organised[iss.resident[rows]]
        iss.found_by[rows] = np.where(organised, FoundBy.ORGANISER, FoundBy.RESIDENT)
        iss.channel[rows] = Channel.UTILITY
        iss.platform[rows] = self.district_platform(rows)
        iss.unit[rows] = iss.lead_department[rows]      # a dispatch, but not a platform's
        iss.dispatches[rows] += 1
        self.move(rows, t, Event.REPORT, Status.SCREENING, self.actor_residents,
                  self.units.screened_at(rows, t))

    @transition
    def work_team_finds(self, rows: np.ndarray, t: np.ndarray) -> None:
        """A member settles issues of his own department's function on the spot; reports others."""
        iss = self.issues
        iss.found_by[rows] = FoundBy.WORK_TEAM
        iss.channel[rows] = Channel.GRID
        actor = self.actor_team[iss.grid_l1[rows]]
        self.log(rows, t, Event.DISCOVER, Status.HIDDEN, actor)
        spot = self.work_teams.settle_on_spot(rows)
        r = rows[spot]
        iss.settled_by[r] = SettledBy.WORK_TEAM
        done = self.office_calendar.add_work(t[spot], iss.hours[r])
        self.move(r, t[spot], Event.SETTLE, Status.SETTLING, actor[spot], done)
        self.to_platform(rows[~spot], t[~spot], self.township_platform(rows[~spot]),
                         Event.PASS_UP, actor[~spot])

    @transition
    def level3_takes(self, rows: np.ndarray, t: np.ndarray) -> None:
        """A level-3 leader settles minor issues himself or passes them up to the village."""
        iss = self.issues
        iss.channel[rows] = Channel.GRID
        level = self.grid_leaders.triage(rows)
        own = level == 3
        self.move(rows[own], t[own], Event.SETTLE, Status.GRID_L3, self.actor_grid[3])
        village = level == 2
        self.move(rows[village], t[village], Event.PASS_UP, Status.GRID_L2, self.actor_grid[3])
        up = level == 1
        self.to_platform(rows[up], t[up], self.township_platform(rows[up]), Event.PASS_UP,
                         self.actor_grid[2])

    # =========================================================================================
    # Scheduled transitions, in time order, up to the end of the day
    def advance(self, until: float) -> None:
        """Process every transition due before ``until``, one time slice after another.

        Slices with nothing due are skipped: each starts at the slice holding the next
        transition.
        """
        day = float(self.day)
        step = self.scenario_spec.run.slice_hours / 24.0
        iss = self.issues
        select = bookkeeping.selection()
        # the rows today's transitions can move: looked for among these, not the whole table
        active = select.active_rows(iss.status, iss.next_time, iss.entered, until, PLATFORM)
        if step >= until - day:
            self.advance_slice(until, active)
            return
        while True:
            nxt = select.next_event_among(active, iss.status, iss.next_time, iss.entered,
                                          PLATFORM)
            if nxt >= until:
                return
            end = day + (np.floor((nxt - day) / step) + 1.0) * step
            self.advance_slice(min(max(end, np.nextafter(nxt, np.inf)), until),  # nxt inside
                               active)

    def advance_slice(self, until: float, active: np.ndarray) -> None:
        """Process every transition due before ``until``, stage by stage, until none is left
        (``active``: the rows that can move, :func:`sim.bookkeeping.active_rows`).

        Each pass walks the stages in the order of an issue's path, so an issue can go through
        several stages in one pass; passes repeat while pass-backs and reopenings bring issues
        back to a platform within the slice. (Rows are selected by compiled loops when numba is
        there, by numpy otherwise: ``sim/bookkeeping.py``. The same rows either way.)
        """
        iss = self.issues
        select = bookkeeping.selection()
        while True:
            waiting = select.waiting_among(active, iss.status, iss.next_time, iss.entered,
                                           until, PLATFORM)
            if len(waiting):
                self.take_in(waiting)
            due = select.due_among(active, iss.next_time, until)
            if not len(due):
                return
            # only issues due at the start of a pass can move in it (returns wait for the next);
            # the stages in order, each that has due rows once they reach it
            stage = 0
            while True:
                stage, rows = select.next_stage(due, iss.status, iss.next_time, self._stage_of,
                                                stage, until)
                if stage < 0:
                    break
                self._handlers[stage][1](self, rows, iss.next_time[rows].copy())
                stage += 1

    @transition
    def take_in(self, rows: np.ndarray) -> None:
        iss = self.issues
        start, done = self.platforms.take_in(rows, iss.entered[rows])
        self.log(rows, start, Event.TAKE_IN, Status.PLATFORM, self.platforms.actor[
            iss.platform[rows]])
        iss.next_time[rows] = done

    def platform_decides(self, rows: np.ndarray, t: np.ndarray) -> None:
        """After intake: rule on responsibility, escalate beyond authority, or dispatch."""
        iss = self.issues
        code, above = self.platforms.decide(rows)
        if code.any():                      # most days every issue is simply dispatched
            esc = code == 2
            if esc.any():
                self.to_platform(rows[esc], t[esc], above[esc], Event.ESCALATE,
                                 self.platforms.actor[iss.platform[rows[esc]]])
            rule = code == 1
            self.start_ruling(rows[rule], t[rule])
            go = code == 0
            rows, t = rows[go], t[go]
        self.dispatch(rows, t, Event.DISPATCH)

    @transition
    def start_ruling(self, rows: np.ndarray, t: np.ndarray) -> None:
        """The platform rules on who is responsible (裁决), for ``ruling_days`` working days."""
        iss = self.issues
        days = self.scenario_spec.platform.ruling_days
        done = self.office_calendar.add_work(t, np.full(len(rows),
                                                        days * self.office_calendar.hours))
        iss.ruled[rows] = True
        self.move(rows, t, Event.RULING, Status.RULING, self.platforms.actor[iss.platform[rows]],
                  done)

    def ruling_done(self, rows: np.ndarray, t: np.ndarray) -> None:
        self.issues.bound[rows] = True
        self.dispatch(rows, t, Event.RULE)

    @transition
    def dispatch(self, rows: np.ndarray, t: np.ndarray, event: Event) -> None:
        iss = self.issues
        self.platforms.dispatch(rows, t)
        self.move(rows, t, event, Status.SCREENING, self.platforms.actor[iss.platform[rows]],
                  self.units.screened_at(rows, t))

    def screening_done(self, rows: np.ndarray, t: np.ndarray) -> None:
        """The unit accepts the issue into its queue or passes it back (推诿)."""
        iss = self.issues
        back = self.units.passes_back(rows)
        a, ta = rows, t
        if back.any():
            b, tb = rows[back], t[back]
            down = self.units.pushes_down(b)
            if down.any():
                self.push_down(b[down], tb[down])
                b, tb = b[~down], tb[~down]
            self.to_platform(b, tb, iss.platform[b], Event.PASS_BACK,
                             self.units.actor[iss.unit[b]])
            a, ta = rows[~back], t[~back]
        down = self.units.hands_down(a)
        if down.any():
            self.hand_down(a[down], ta[down])
            a, ta = a[~down], ta[~down]
        iss.accepted[a] = ta
        start, finish = self.units.serve(a, ta)
        iss.service_end[a] = finish
        self.move(a, ta, Event.ACCEPT, Status.QUEUED, self.units.actor[iss.unit[a]], start)

    @transition
    def push_down(self, rows: np.ndarray, t: np.ndarray) -> None:
        """A line department hands the issue to its township's office, which screens it anew."""
        iss = self.issues
        actor = self.units.actor[iss.unit[rows]]
        iss.unit[rows] = self.n_departments + iss.grid_l1[rows]
        iss.dispatches[rows] += 1
        self.move(rows, t, Event.PUSH_DOWN, Status.SCREENING, actor,
                  self.units.screened_at(rows, t))

    @transition
    def hand_down(self, rows: np.ndarray, t: np.ndarray) -> None:
        """A township office hands an accepted order down to the grid's level-3 leader."""
        iss = self.issues
        iss.leader[rows] = iss.grid_l3[rows]
        self.move(rows, t, Event.HAND_DOWN, Status.GRID_L3, self.units.actor[iss.unit[rows]])

    def service_starts(self, rows: np.ndarray, t: np.ndarray) -> None:
        iss = self.issues
        iss.started[rows] = t
        self.move(rows, t, Event.START, Status.IN_SERVICE, self.units.actor[iss.unit[rows]],
                  iss.service_end[rows])

    def service_ends(self, rows: np.ndarray, t: np.ndarray) -> None:
        """The unit finishes (办结) and closes; its evaluation books the closure and then the
        residents' rating of it."""
        took = self.working_days(rows, t)       # for the evaluation and for the ratings
        quality = self.units.record_closures(rows, took)
        self.close(rows, t, quality, self.units.actor[self.issues.unit[rows]], took)
        self.units.record_ratings(rows)

    def grid_settles(self, rows: np.ndarray, t: np.ndarray) -> None:
        quality, actor = self.grid_leaders.settle(rows, self.actor_grid[3], self.actor_grid[2])
        self.close(rows, t, quality, actor)

    def settling_done(self, rows: np.ndarray, t: np.ndarray) -> None:
        iss = self.issues
        by_team = iss.settled_by[rows] == SettledBy.WORK_TEAM
        quality = np.where(by_team, self.scenario_spec.work_teams.quality, 1.0)
        actor = np.where(by_team, self.actor_team[iss.grid_l1[rows]], self.actor_residents)
        self.close(rows, t, quality, actor)

    @transition
    def close(self, rows: np.ndarray, t: np.ndarray, quality: np.ndarray,
              actor: int | np.ndarray, took: np.ndarray | None = None) -> None:
        """Close; residents rate what the system closed (``took``: working days from the
        report, when the caller has them); unresolved closures may be reopened."""
        iss = self.issues
        fate = self.residents.see_closed(rows, t, quality, took)
        self.move(rows, t, Event.CLOSE, Status.CLOSED, actor)
        if fate.any():
            # residents have a share of what was closed unresolved reopened; of the rest, some
            # petition
            bad = rows[fate == LEFT]
            pet = bad[self.residents.petition_after_closure(bad) & np.isnan(iss.petitioned[bad])]
            iss.petitioned[pet] = iss.closed[pet]
            self.log(pet, iss.closed[pet], Event.PETITION, Status.CLOSED, self.actor_residents)
            again = fate == REOPEN
            self.reopen(rows[again], t[again])

    @transition
    def reopen(self, rows: np.ndarray, t: np.ndarray) -> None:
        """An unresolved closure goes back to the district platform (返工), as a new visit."""
        iss = self.issues
        bookkeeping.new_visit(rows, iss.reopens, iss.rejections, iss.bound, iss.closed,
                              iss.superficial, iss.accepted, iss.started, iss.settled_by,
                              int(SettledBy.NONE))
        self.to_platform(rows, t, self.district_platform(rows), Event.REOPEN,
                         self.actor_residents)

    # (status, handler); plain ints, which compiled code takes without typing an enum
    _handlers = (
        (int(Status.SETTLING), settling_done),
        (int(Status.GRID_L3), grid_settles),
        (int(Status.GRID_L2), grid_settles),
        (int(Status.PLATFORM), platform_decides),
        (int(Status.RULING), ruling_done),
        (int(Status.SCREENING), screening_done),
        (int(Status.QUEUED), service_starts),
        (int(Status.IN_SERVICE), service_ends),
    )
    _stage_of = np.full(len(Status), -1, dtype=np.int64)     # each status's stage, or none
    _stage_of[[st for st, _ in _handlers]] = np.arange(len(_handlers))

    # =========================================================================================
    # Book-keeping
    @transition
    def to_platform(self, rows: np.ndarray, t: np.ndarray, platform: np.ndarray, event: Event,
                    actor: int | np.ndarray) -> None:
        """An issue arrives at a platform and waits for intake."""
        iss = self.issues
        self.flow["reported"] += bookkeeping.at_platform(rows, t, platform, iss.platform,
                                                         iss.reported)
        self.move(rows, t, event, Status.PLATFORM, actor)

    def working_days(self, rows: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Working days (office calendar) from each issue's report, or discovery if nobody
        reported it, to ``t``."""
        iss, cal = self.issues, self.office_calendar
        since = np.where(np.isnan(iss.reported[rows]), iss.discovered[rows], iss.reported[rows])
        return (cal.to_work(t) - cal.to_work(since)) / cal.hours

    def district_platform(self, rows: np.ndarray) -> np.ndarray:
        """The platform of each issue's district (with its 12345 desk)."""
        return self.layout.district_of(self.issues.grid_l1[rows])

    def township_platform(self, rows: np.ndarray) -> np.ndarray:
        return self.layout.township_platform(self.issues.grid_l1[rows])

    def arrive(self, rows: np.ndarray, t: np.ndarray) -> None:
        """New issues enter the hidden stock."""
        self.log(rows, t, Event.ARISE, Status.HIDDEN, self.actor_residents)
        area = float(np.sum(self.day + 1.0 - t))
        self.area_in[Status.HIDDEN] += area
        self.node_area[0] += area

    def log(self, rows: np.ndarray, t: np.ndarray, event: Event, to: Status,
            actor: int | np.ndarray) -> None:
        """Log a transition without changing state (e.g. ARISE, DISCOVER, TAKE_IN)."""
        self.event_counts[event] += len(rows)
        if self.events.enabled:
            iss = self.issues
            self.events.log(iss.issue_id[rows], t, event, iss.status[rows], to, actor,
                            iss.node[rows])

    def node_source(self, status: Status) -> tuple[int, np.ndarray | None]:
        """Where issues in ``status`` are held: node ``base + column[row]`` for a platform's or
        unit's statuses (the column says whose), else node ``base`` (-1: finished, none)."""
        if Status.PLATFORM <= status <= Status.RULING:
            return self.first_platform_node, self.issues.platform
        if Status.SCREENING <= status <= Status.IN_SERVICE:
            return self.first_unit_node, self.issues.unit
        return (int(status) if status < Status.CLOSED else -1), None

    def node_of(self, rows: np.ndarray, status: Status) -> np.ndarray | int:
        """The node that holds issues in ``status`` (platform and unit statuses: their own)."""
        base, column = self.node_source(status)
        return base if column is None else base + column[rows]

    def move(self, rows: np.ndarray, t: np.ndarray, event: Event, to: Status,
             actor: int | np.ndarray, next_time: float | np.ndarray = np.inf) -> None:
        """Log a transition and put the issues in status ``to`` from ``t`` until ``next_time``."""
        k = len(rows)
        if k == 0:
            return
        iss = self.issues
        self.event_counts[event] += k
        logged = self.events.enabled
        kernel = bookkeeping.compiled_move_rows
        if kernel is None:
            if logged:
                node = self.node_of(rows, to)
                nodes = np.full(k, node, dtype=np.int16) if np.ndim(node) == 0 else node
                self.events.log(iss.issue_id[rows], t, event, iss.status[rows], to, actor,
                                nodes.astype(np.int16))
            self._move_numpy(rows, t, to, next_time)
            return
        base, column = self.node_source(to)
        per_row = isinstance(next_time, np.ndarray)
        # the kernel hands the event log each row's status before the move and its new node
        src, nodes = ((np.empty(k, dtype=np.int8), np.empty(k, dtype=np.int16)) if logged
                      else (self._no_status, self._no_rows))
        kernel(rows, t, int(to), base, self._no_rows if column is None else column,
               self.day + 1.0, np.inf if per_row else float(next_time),
               next_time if per_row else self._no_times, iss.status, iss.node, iss.entered,
               iss.next_time, self.area_in, self.area_out, self.node_area, src, nodes)
        if logged:
            self.events.log(iss.issue_id[rows], t, event, src, to, actor, nodes)

    def _move_numpy(self, rows: np.ndarray, t: np.ndarray, to: Status,
                    next_time: float | np.ndarray) -> None:
        """:meth:`move`'s book-keeping in numpy (without numba; the kernel's reference)."""
        iss = self.issues
        node = self.node_of(rows, to)
        # one node per row (np.full: numpy's broadcast_to costs ~30 us a call)
        nodes = np.full(len(rows), node, dtype=np.int16) if np.ndim(node) == 0 else node
        status = iss.status[rows]
        left = self.day + 1.0 - t                  # t is an array aligned with rows
        self.area_out += np.bincount(status, weights=left, minlength=len(Status))
        self.area_in[to] += float(left.sum())
        n = len(self.nodes)
        # leaving the old node (a reopened issue comes from none, -1: dropped as bin 0)
        self.node_area -= np.bincount(iss.node[rows] + 1, weights=left, minlength=n + 1)[1:]
        if to < Status.CLOSED:
            self.node_area += np.bincount(nodes, weights=left, minlength=n)
        iss.status[rows] = to
        iss.node[rows] = node
        iss.entered[rows] = t
        iss.next_time[rows] = next_time

    def record(self, day: int) -> None:
        """One row of the daily time series, taken at the end of the day."""
        from sim.observe import daily_row, snapshot_rows
        counts = self.issues.count_by_status()
        self.daily.append(daily_row(self, day, counts))
        self.stock_start = counts
        self.area_in[:] = 0.0
        self.area_out[:] = 0.0
        iss = self.issues
        average = self.node_stock_start + self.node_area
        # open issues by node (a finished issue's node is -1)
        self.node_stock_start = np.bincount(iss.node + 1, minlength=len(self.nodes) + 1)[1:]
        self.node_daily.append((average, self.node_stock_start))
        self.node_area[:] = 0.0
        self.event_counts[:] = 0
        self.flow = dict.fromkeys(self.flow, 0)
        every = self.scenario_spec.run.snapshot_every
        if (day + 1) % every == 0 or day + 1 == self.scenario_spec.run.days:
            self.snapshots.extend(snapshot_rows(self, day))
