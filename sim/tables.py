"""The model's output tables as DataFrames (columns documented in ``docs/outputs.md``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sim.issues import Channel, FoundBy, SettledBy, Status

if TYPE_CHECKING:
    from sim.model import GridModel

SEVERITIES = ["minor", "ordinary", "major"]
KINDS = ["line", "territory"]                 # of units


def _names(enum: type) -> list[str]:
    return [e.name.lower() for e in enum]


def _cat(codes: np.ndarray, names: list[str]) -> pd.Categorical:
    return pd.Categorical.from_codes(codes.astype(int), names)


def _maybe(codes: np.ndarray, names: list[str]) -> pd.Categorical:
    """Categorical with code -1 as missing."""
    return pd.Categorical.from_codes(codes.astype(int), names)


def issues_frame(m: GridModel) -> pd.DataFrame:
    """A row per issue that arose, open or finished."""
    c = m.issues.all_rows()
    sc = m.scenario_spec
    units = [a.name for a in m.units.agents]
    # each unit's kind as a code, -1 (missing) for no unit; codes, not 4 million strings
    kinds = np.array([KINDS.index(a.kind) for a in m.units.agents] + [-1])
    deps = list(m.layout.line_names)
    resolved = pd.arrays.BooleanArray(c["resolved"] == 1, c["resolved"] < 0)    # -1: unknown
    return pd.DataFrame({
        "issue_id": c["issue_id"],
        "category": _cat(c["category"], [x.name for x in sc.categories]),
        "severity": _cat(c["severity"], SEVERITIES),
        "resident": c["resident"],
        "grid_l1": c["grid_l1"].astype(np.int32),
        "grid_l2": c["grid_l2"],
        "grid_l3": c["grid_l3"],
        "urban": m.residents.urban[np.maximum(c["resident"], 0)],
        "created_day": c["created"],
        "discovered_day": c["discovered"],
        "reported_day": c["reported"],
        "first_dispatch_day": c["first_dispatch"],
        "accepted_day": c["accepted"],
        "started_day": c["started"],
        "closed_day": c["closed"],
        "found_by": _cat(c["found_by"], _names(FoundBy)),
        "channel": _cat(c["channel"], _names(Channel)),
        "settled_by": _cat(c["settled_by"], _names(SettledBy)),
        "lead_department": _maybe(c["lead_department"], deps),
        "co_department": _maybe(c["co_department"], deps),
        "responsible": _maybe(c["responsible"], units),
        "department": _maybe(c["unit"], units),
        "first_unit": _maybe(c["first_unit"], units),
        "first_unit_kind": _maybe(kinds[c["first_unit"]], KINDS),
        "first_dispatch_correct": np.where(c["first_unit"] >= 0,
                                           c["first_unit"] == c["responsible"], False),
        "ambiguous": c["ambiguous"],
        "collective": c["collective"],
        "petitioned_day": c["petitioned"],
        "incident_day": c["incident"],
        "work_hours": c["hours"],
        "deadline_days": c["deadline"],
        "dispatches": c["dispatches"].astype(np.int32),
        "rejections": c["total_rejections"].astype(np.int32),
        "ruled": c["ruled"],
        "resolved": resolved,
        "superficial": c["superficial"],
        "reopens": c["reopens"].astype(np.int32),
        "satisfaction": c["satisfaction"].astype(float),
        "status": _cat(c["status"], _names(Status)),
    }, copy=False)        # the columns are fresh: no second copy of a large table


def nodes_frame(m: GridModel) -> pd.DataFrame:
    """A row per day and node (grid level, platform, unit): its day-average and end stock."""
    days, n = len(m.node_daily), len(m.nodes)
    if days == 0:
        return pd.DataFrame({"day": [], "node": [], "stock_avg": [], "stock_end": []})
    avg = np.array([a for a, _ in m.node_daily])
    end = np.array([e for _, e in m.node_daily])
    return pd.DataFrame({
        "day": np.repeat(np.arange(days), n),
        "node": pd.Categorical.from_codes(np.tile(np.arange(n), days), m.nodes),
        "stock_avg": avg.ravel(),
        "stock_end": end.ravel().astype(np.int64),
    })


SHARE_RESIDUE = 1e-9      # far above summed hours' rounding residue, far below any real share


def share(part: np.ndarray | float, whole: np.ndarray | float) -> np.ndarray:
    """``part / whole`` for a share in [0, 1] (NaN where ``whole`` is 0), with the rounding
    residue of summed hours removed: busy hours summed in another order than open hours can
    come out 1e-14 above them, and a share of 1.0000000000000253 fails any range check. A
    share further out is left as it is, to show. For the tables only: the units' own
    decisions (sim/evaluation.py) use the plain ratio, as they always have."""
    part, whole = np.asarray(part, dtype=float), np.asarray(whole, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(whole > 0, part / np.where(whole > 0, whole, 1.0), np.nan)
    out = np.where(np.abs(out) < SHARE_RESIDUE, 0.0, out)
    return np.where(np.abs(out - 1.0) < SHARE_RESIDUE, 1.0, out)


def timeseries_frame(m: GridModel) -> pd.DataFrame:
    """A row per day, with the utilisation of each kind of unit added."""
    ts = pd.DataFrame(m.daily)
    days = len(ts)
    if days == 0:
        return ts
    for col in ts.columns:
        if col != "day" and ts[col].dtype.kind in "iu":
            ts[col] = ts[col].astype(np.int64)
    u, p = m.units, m.platforms
    groups = (("line", u.pools, range(u.n_line)), ("territory", u.pools, range(u.n_line, u.n)),
              ("platform_district", p.district_pool, range(len(p.district_pool.servers))),
              ("platform_township", p.township_pools, range(len(p.township_pools.servers))))
    for name, pools, ks in groups:
        busy = sum((pools.busy_by_day(k, days) for k in ks), np.zeros(days))
        avail = sum((pools.available_by_day(k, days) for k in ks), np.zeros(days))
        ts[f"utilisation_{name}"] = share(busy, avail)
    return ts


def agents_frame(m: GridModel) -> pd.DataFrame:
    """Periodic snapshots of grid leaders, units, work teams and platforms.

    Units and platforms get their utilisation over the period since the previous snapshot.
    """
    if not m.snapshots:
        return pd.DataFrame()
    df = pd.concat([pd.DataFrame(columns) for columns in m.snapshots], ignore_index=True)
    days = m.day
    snap_days = np.sort(df["day"].unique())
    lo = np.r_[0, snap_days[:-1] + 1]
    util = np.full(len(df), np.nan)

    def fill(kind_mask: np.ndarray, index: int, busy: np.ndarray, avail: np.ndarray) -> None:
        rows = np.flatnonzero(kind_mask)
        rows = rows[df["index"].to_numpy()[rows] == index]
        row_day = df["day"].to_numpy()[rows]
        cb, ca = np.r_[0.0, np.cumsum(busy)], np.r_[0.0, np.cumsum(avail)]
        for a, d in zip(lo, snap_days, strict=True):
            hours = ca[d + 1] - ca[a]
            util[rows[row_day == d]] = share(cb[d + 1] - cb[a], hours)

    units = df["agent_type"].astype(str).str.startswith("unit_").to_numpy()
    for a in m.units.agents:
        fill(units, a.index, m.units.pools.busy_by_day(a.index, days),
             m.units.pools.available_by_day(a.index, days))
    plats = (df["agent_type"] == "platform").to_numpy()
    for k in range(len(m.platforms.agents)):
        pools, j = m.platforms.pool_of(k)
        fill(plats, k, pools.busy_by_day(j, days), pools.available_by_day(j, days))
    df["utilisation"] = util
    df["agent_type"] = df["agent_type"].astype("category")
    if "overloaded" in df:
        df["overloaded"] = df["overloaded"].astype("boolean")
    return df


def node_utilisation(m: GridModel, first_day: int) -> dict[str, float]:
    """Utilisation of every unit and platform over days first_day..end."""
    days = m.day
    out = {f"{a.kind}:{a.name}": m.units.pools.utilisation(a.index, first_day, days)
           for a in m.units.agents}
    for p in m.platforms.agents:
        out[f"platform:{p.name}"] = m.platforms.utilisation(p.index, first_day, days)
    return {name: float(share(u, 1.0)) for name, u in out.items()}


def paid_hours(m: GridModel, first_day: int) -> dict[str, float]:
    """Paid staff hours by kind of actor over days first_day..end (capacity, busy or not)."""
    sc = m.scenario_spec
    g, w, p = sc.grid_leaders, sc.work_teams, sc.platform
    days = np.arange(first_day, m.day)
    grid_days = float(m.grid_calendar.is_workday[days].sum())

    def open_hours(cal) -> float:
        return float(cal.to_work(np.array([float(m.day)]))[0]
                     - cal.to_work(np.array([float(first_day)]))[0])

    pools = m.units.pools
    unit_hours = sum(float(pools.available_by_day(a.index, m.day)[first_day:].sum())
                     for a in m.units.agents)       # campaigns' temporary staff included
    return {
        "grid_leaders": sc.n_grids * (g.level3_hours + g.assistant_hours) * grid_days,
        "village_staff": sc.n_villages * g.level2_hours * g.level2_per_village * grid_days,
        "work_teams": float(m.work_teams.members.sum()) * w.hours_per_week / 7 * len(days),
        "units": unit_hours,
        "platforms": (p.district_operators * sc.city.districts
                      + (sc.city.operators if sc.city.districts > 1 else 0))
        * open_hours(m.hotline_calendar)
        + p.township_operators * sc.n_townships * open_hours(m.platform_calendar),
    }


def costs(m: GridModel, first_day: int) -> dict[str, float]:
    """Paid hours and their cost (``costs`` section) over days first_day..end."""
    c = m.scenario_spec.costs
    hours = paid_hours(m, first_day)
    rate = {"grid_leaders": c.grid_hour, "village_staff": c.grid_hour,
            "work_teams": c.civil_servant_hour, "units": c.civil_servant_hour,
            "platforms": c.operator_hour}
    out = {f"hours_{k}": v for k, v in hours.items()}
    out["cost_total"] = sum(hours[k] * rate[k] for k in hours)
    return out
