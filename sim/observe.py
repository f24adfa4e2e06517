"""What the model records while it runs: a row per day and periodic agent snapshots.

The columns are documented in ``docs/outputs.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from sim import bookkeeping
from sim.issues import Event, Status

if TYPE_CHECKING:
    from sim.model import GridModel


# the open statuses (plain ints: faster indices than the enum) and their columns
OPEN_KEYS = [(int(st), f"open_{st.name.lower()}") for st in Status if st < Status.CLOSED]
AVERAGE_KEYS = [(int(st), f"avg_{st.name.lower()}") for st in Status if st < Status.CLOSED]


def daily_row(m: GridModel, day: int, counts: np.ndarray) -> dict[str, float]:
    """Flows during ``day`` and stocks at its end (time ``day + 1``); ``counts``: the issues in
    each status at the end of the day."""
    ev = m.event_counts.tolist()          # Python ints: cheaper to look up than the array
    res = m.residents
    row: dict[str, float] = {
        "day": day,
        "arisen": ev[Event.ARISE],
        "discovered": m.flow["discovered"],
        "reported_to_platform": m.flow["reported"],
        "dispatched": ev[Event.DISPATCH] + ev[Event.RULE],
        "rejections": ev[Event.PASS_BACK] + ev[Event.PUSH_DOWN],
        "pushed_down": ev[Event.PUSH_DOWN],
        "handed_down": ev[Event.HAND_DOWN],
        "rulings": ev[Event.RULE],
        "escalations": ev[Event.ESCALATE],
        "closed": ev[Event.CLOSE],
        "reopened": ev[Event.REOPEN],
        "lapsed": ev[Event.LAPSE],
        "petitions": ev[Event.PETITION],
        "incidents": ev[Event.INCIDENT],
        "campaign": int(m.campaign_on(day)),
        "surge": int(m.surge_on(day)),
    }
    open_counts = counts.tolist()
    for st, key in OPEN_KEYS:
        row[key] = open_counts[st]
    row["open_total"] = sum(open_counts[: Status.CLOSED])
    row["open_overdue"] = _overdue(m, day)
    # day-average stocks: start-of-day stock plus the time-weighted entries less exits
    avg = (m.stock_start + m.area_in - m.area_out).tolist()
    for st, key in AVERAGE_KEYS:
        row[key] = avg[st]
    gl = m.grid_leaders
    row["leader_hours_mean"] = _mean(gl.l3.worked)
    row["leader_demand_hours_mean"] = _mean(gl.demand())
    row["leader_overload_share"] = _mean(gl.overloaded())
    row["patrol_hours_mean"] = _mean(gl.l3.patrol)
    row["admin_hours_mean"] = _mean(gl.admin)
    row["service_hours_mean"] = _mean(gl.service)
    row["leader_stress_mean"] = _mean(gl.stress)
    row["leader_skill_mean"] = _mean(gl.skill)
    row["leader_turnover"] = gl.quits_today
    ad = m.units.adaptation
    row["unit_effort_mean"] = _mean(ad.effort)
    row["unit_readiness_mean"] = _mean(ad.readiness)
    row["unit_superficial_mean"] = _mean(ad.superficial)
    # a pairwise sum, not BLAS's dot product, whose result depends on the processor
    row["trust_mean"] = float(np.add.reduce(res.trust * res.weight)) / m.scenario_spec.population
    return row


def _mean(x: np.ndarray) -> float:
    """``x.mean()`` without its Python overhead: the same sum, the same division."""
    return float(np.add.reduce(x, dtype=np.float64) / x.size)


def _overdue(m: GridModel, day: int) -> int:
    """Open issues at platforms or units whose deadline (working days from their report to a
    platform) has passed; issues a utility handles outside the grid are not tracked."""
    iss = m.issues
    at = bookkeeping.selection().reported_open_rows(iss.status, iss.reported,
                                                    int(Status.PLATFORM), int(Status.CLOSED))
    if not len(at):
        return 0
    cal = m.office_calendar
    end = cal.to_work(np.array([day + 1.0]))[0]       # the day's end on the working clock
    elapsed = (end - cal.to_work(iss.reported[at])) / cal.hours
    return int(np.count_nonzero(elapsed > iss.deadline[at]))


def snapshot_rows(m: GridModel, day: int) -> list[dict[str, Any]]:
    """State of grid leaders, units, work teams and platforms at the end of ``day``: a dict of
    columns per agent type, made into a table at the end (:func:`sim.tables.agents_frame`),
    which adds units' and platforms' utilisation from the pools' busy time.
    """
    iss = m.issues
    status, leader = iss.status, iss.leader
    towns = m.scenario_spec.n_townships
    gl = m.grid_leaders
    frames = []
    for level, lq, st in ((3, gl.l3, Status.GRID_L3), (2, gl.l2, Status.GRID_L2)):
        frame = {
            "day": day, "agent_type": f"grid_leader_l{level}", "index": np.arange(lq.n),
            "township": np.arange(lq.n) // (lq.n // towns), "capacity_hours": lq.hours,
            "worked_hours": lq.worked, "demand_hours": lq.demand, "patrol_hours": lq.patrol,
            "held": np.bincount(leader[status == st], minlength=lq.n),
            "overloaded": lq.demand > lq.hours}
        if level == 3:
            frame["demand_hours"] = gl.demand()
            frame["overloaded"] = gl.overloaded()
            frame["admin_hours"] = gl.admin
            frame["stress"] = gl.stress
            frame["skill"] = gl.skill
            frame["trained"] = gl.trained
        frames.append(frame)
    unit = iss.unit
    units = m.units.agents
    frames.append({
        "day": day, "agent_type": [f"unit_{a.kind}" for a in units],
        "index": [a.index for a in units], "name": [a.name for a in units],
        "staff": [a.staff for a in units],
        "screening": np.bincount(unit[status == Status.SCREENING], minlength=m.n_units),
        "queued": np.bincount(unit[status == Status.QUEUED], minlength=m.n_units),
        "in_service": np.bincount(unit[status == Status.IN_SERVICE], minlength=m.n_units)})
    wt = m.work_teams
    frames.append({
        "day": day, "agent_type": "work_team", "index": np.arange(towns),
        "township": np.arange(towns), "staff": wt.members.sum(axis=1),
        "worked_hours": wt.hours_today, "settling_hours": wt.hours_settling})
    plat = iss.platform
    n_plat = len(m.platforms.agents)
    frames.append({
        "day": day, "agent_type": "platform", "index": np.arange(n_plat),
        "name": [p.name for p in m.platforms.agents],
        "staff": [p.operators for p in m.platforms.agents],
        "held": np.bincount(plat[status == Status.PLATFORM], minlength=n_plat),
        "ruling": np.bincount(plat[status == Status.RULING], minlength=n_plat)})
    # copies: the agents' arrays change in place after today
    return [{k: v.copy() if isinstance(v, np.ndarray) else v for k, v in f.items()}
            for f in frames]
