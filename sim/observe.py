"""What the model records while it runs: a row per day and periodic agent snapshots.

The columns are documented in ``docs/outputs.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from sim.issues import Event, Status

if TYPE_CHECKING:
    from sim.model import GridModel


def daily_row(m: GridModel, day: int) -> dict[str, float]:
    """Flows during ``day`` and stocks at its end (time ``day + 1``)."""
    counts = m.issues.count_by_status()
    ev = m.event_counts
    res = m.residents
    row: dict[str, float] = {
        "day": day,
        "arisen": ev[Event.ARISE],
        "discovered": m.flow["discovered"],
        "reported_to_platform": m.flow["reported"],
        "dispatched": ev[Event.DISPATCH] + ev[Event.RULE],
        "rejections": ev[Event.PASS_BACK],
        "rulings": ev[Event.RULE],
        "escalations": ev[Event.ESCALATE],
        "closed": ev[Event.CLOSE],
        "reopened": ev[Event.REOPEN],
        "lapsed": ev[Event.LAPSE],
    }
    for st in Status:
        if st < Status.CLOSED:
            row[f"open_{st.name.lower()}"] = counts[st]
    row["open_total"] = counts[: Status.CLOSED].sum()
    # day-average stocks: start-of-day stock plus the time-weighted entries less exits
    avg = m.stock_start + m.area_in - m.area_out
    for st in Status:
        if st < Status.CLOSED:
            row[f"avg_{st.name.lower()}"] = float(avg[st])
    gl = m.grid_leaders
    row["leader_hours_mean"] = float(gl.l3.worked.mean())
    row["leader_demand_hours_mean"] = float(gl.l3.demand.mean())
    row["leader_overload_share"] = float(gl.overloaded().mean())
    row["patrol_hours_mean"] = float(gl.l3.patrol.mean())
    row["trust_mean"] = float(np.average(res.trust, weights=res.weight))
    return row


def snapshot_rows(m: GridModel, day: int) -> list[dict[str, Any]]:
    """State of grid leaders, units, work teams and platforms at the end of ``day``."""
    iss = m.issues
    status, leader = iss.status, iss.leader
    rows: list[dict[str, Any]] = []
    gl = m.grid_leaders
    for level, lq, st in ((3, gl.l3, Status.GRID_L3), (2, gl.l2, Status.GRID_L2)):
        held = np.bincount(leader[status == st], minlength=lq.n)
        over = (lq.demand + (m.scenario_spec.grid_leaders.level3_patrol_hours if level == 3
                             else 0.0)) > lq.hours
        for i in range(lq.n):
            rows.append({"day": day, "agent_type": f"grid_leader_l{level}", "index": i,
                         "township": i // (lq.n // m.scenario_spec.district.townships),
                         "capacity_hours": lq.hours, "worked_hours": lq.worked[i],
                         "demand_hours": lq.demand[i], "patrol_hours": lq.patrol[i],
                         "held": int(held[i]), "overloaded": bool(over[i])})
    unit = iss.unit
    q = np.bincount(unit[status == Status.QUEUED], minlength=m.n_units)
    s = np.bincount(unit[status == Status.IN_SERVICE], minlength=m.n_units)
    sc = np.bincount(unit[status == Status.SCREENING], minlength=m.n_units)
    for a in m.units.agents:
        rows.append({"day": day, "agent_type": f"unit_{a.kind}", "index": a.index,
                     "name": a.name, "staff": a.staff, "screening": int(sc[a.index]),
                     "queued": int(q[a.index]), "in_service": int(s[a.index]),
                     "utilisation": m.units.pools.utilisation(a.index, 0, day + 1)})
    wt = m.work_teams
    for t, team in enumerate(wt.agents):
        rows.append({"day": day, "agent_type": "work_team", "index": t, "township": t,
                     "staff": int(wt.members[t].sum()), "worked_hours": wt.hours_today[t],
                     "settling_hours": wt.hours_settling[t], "name": team.__class__.__name__})
    plat = iss.platform
    waiting = np.bincount(plat[status == Status.PLATFORM], minlength=len(m.platforms.agents))
    ruling = np.bincount(plat[status == Status.RULING], minlength=len(m.platforms.agents))
    for p in m.platforms.agents:
        rows.append({"day": day, "agent_type": "platform", "index": p.index, "name": p.name,
                     "staff": p.operators, "held": int(waiting[p.index]),
                     "ruling": int(ruling[p.index]),
                     "utilisation": m.platforms.utilisation(p.index, 0, day + 1)})
    return rows
